//! The simulator against the REAL Linux kernel: `tests/fixtures/kernel/` holds pcaps and table
//! dumps taken from Linux 6.18 in network namespaces by `make_fixtures.sh` (see its README).
//! The sim replays the same labs; here its frames are compared with the kernel's byte for byte
//! at every capture point the fixture has, and its `bridge fdb show`, `route -n`, `ip route` and
//! `brctl showmacs` output with the kernel's text. The normalisation is the live oracle's
//! (`sim::oracle::frames`, `sim oracle`), which also builds these labs afresh on every CI run.
//!
//! Fields Linux draws at random, which are set to zero in BOTH frames before comparing (and
//! nothing else is):
//!   * IPv4 identification, outer and inner (ping's requests, the echo replies, the outer VXLAN
//!     header), and so the IPv4 header checksum. Each frame's own header checksum is verified
//!     separately, and the ID is checked to stay the same for one packet at every hop.
//!   * ICMP echo request/reply: the identifier (ping's socket), the first 16 bytes of the echo
//!     data (iputils' `struct timeval`) and so the ICMP checksum, which is verified separately.
//!     The rest of the echo data (0x10, 0x11, ... 0x37) must match. An ICMP error's checksum
//!     (verified) and, in the packet it quotes, the same fields as above. In a fragmented echo
//!     the first fragment's checksum, identifier and timeval.
//!   * The VXLAN outer UDP source port (a flow hash with a per-boot seed) and so the UDP
//!     checksum, which is verified separately over the IPv4 pseudo-header (and must be present:
//!     kernel 6.18 VXLAN has `udpcsum` on). The port must be in [32768, 60999). In the
//!     kernel captures it is also the same in both directions (all namespaces share one
//!     kernel, so one hash seed); the sim's node1 and node2 are separate machines with seeds
//!     of their own, so there the two directions differ (see `check_vxlan_consistency`).
//!
//! Everything else (MACs, ARP bytes, TTLs, DF, lengths, TOS, VXLAN header, the other ports,
//! padding, the inner frames) must be identical.
//!
//! The kernel captures ran about 1 s around one ping; they are compared, in order, with the
//! sim's frames of the same interface in the same ping's window (t < 1 s for the pings at
//! t = 0; 20 s <= t < 22 s for calico's pod1 -> 10.211.55.6 run).
//!
//! `calico_vxlan_masq/` is L6 with Calico's natOutgoing (MASQUERADE on node1), each run on
//! fresh namespaces: the sim replays each from t = 0, and also its `iptables -t nat -S` and
//! `conntrack -L` (ids and seconds left masked) are compared.

mod common;
use common::*;
use sim::oracle::frames::{self, describe, frame_diff, VXLAN_PORTS};
use sim::run::RunResult;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SEC: u64 = 1_000_000_000;

fn fixture_dir(lab: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kernel")
        .join(lab)
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Classic pcap reader (tcpdump on x86: magic a1b2c3d4 stored little-endian, microseconds).
// ---------------------------------------------------------------------------------------------

/// One pcap record: timestamp in microseconds and the frame.
struct Record {
    ts_us: u64,
    data: Vec<u8>,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_pcap(path: &Path) -> Vec<Record> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let p = path.display();
    assert!(b.len() >= 24, "{p}: shorter than the pcap global header");
    assert_eq!(le32(&b, 0), 0xa1b2_c3d4, "{p}: not a little-endian µs pcap");
    assert_eq!(
        (
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]])
        ),
        (2, 4),
        "{p}: pcap version"
    );
    assert_eq!(le32(&b, 20), 1, "{p}: link type is not LINKTYPE_ETHERNET");
    let snaplen = le32(&b, 16) as usize;
    let mut out = Vec::new();
    let mut at = 24;
    while at < b.len() {
        assert!(at + 16 <= b.len(), "{p}: truncated record header at {at}");
        let (sec, usec) = (u64::from(le32(&b, at)), u64::from(le32(&b, at + 4)));
        let (incl, orig) = (le32(&b, at + 8) as usize, le32(&b, at + 12) as usize);
        assert!(usec < 1_000_000, "{p}: bad microseconds at {at}");
        assert!(
            incl <= snaplen,
            "{p}: record longer than the snaplen at {at}"
        );
        assert_eq!(
            incl, orig,
            "{p}: record at {at} was truncated by the snaplen"
        );
        assert!(at + 16 + incl <= b.len(), "{p}: truncated record at {at}");
        out.push(Record {
            ts_us: sec * 1_000_000 + usec,
            data: b[at + 16..at + 16 + incl].to_vec(),
        });
        at += 16 + incl;
    }
    out
}

/// The fixture's captures: sim interface name (`<netns>/<dev>`) -> records. File
/// `<netns>_<dev>.pcap`; netns names have no `_`, device names may have a `.`.
fn fixture_captures(dir: &Path) -> BTreeMap<String, Vec<Record>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "pcap") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let (ns, dev) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("{}: not <netns>_<dev>.pcap", path.display()));
            m.insert(format!("{ns}/{dev}"), read_pcap(&path));
        }
    }
    assert!(!m.is_empty(), "{}: no pcap files", dir.display());
    m
}

// ---------------------------------------------------------------------------------------------
// Checksums, masking, field names.
// ---------------------------------------------------------------------------------------------

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The library's normalisation (`sim::oracle::frames`), with the echo identifier masked: the
/// fixtures' pings chose their own.
fn normalise(frame: &[u8]) -> (Vec<u8>, Vec<String>) {
    frames::normalise(frame, frames::Mask { echo_id: true })
}

// ---------------------------------------------------------------------------------------------
// Frame comparison per lab.
// ---------------------------------------------------------------------------------------------

/// Compares every capture point of a fixture directory with the sim's frames in a window.
/// Returns the number of frames compared; panics with every difference found.
fn compare_lab(r: &RunResult, lab: &str, from_ns: u64, to_ns: u64) -> usize {
    let fixture = fixture_captures(&fixture_dir(lab));
    let w = &r.built.world;
    let sim_ifaces: Vec<&str> = w.trace.ifaces.iter().map(|c| c.name.as_str()).collect();
    let fixture_ifaces: Vec<&str> = fixture.keys().map(String::as_str).collect();
    let mut sorted = sim_ifaces.clone();
    sorted.sort();
    assert_eq!(
        sorted, fixture_ifaces,
        "{lab}: the sim captures other interfaces than the kernel fixture"
    );
    let mut report = String::new();
    let mut compared = 0;
    for (iface, recs) in &fixture {
        let sim = captured(r, iface, from_ns, to_ns);
        let mut here = String::new();
        for (n, rec) in recs.iter().enumerate() {
            let (kn, kp) = normalise(&rec.data);
            for p in kp {
                let _ = writeln!(here, "  kernel frame #{n}: {p}: {}", describe(&rec.data));
            }
            let Some((ts, sd)) = sim.get(n) else {
                continue;
            };
            let (sn, sp) = normalise(sd);
            for p in sp {
                let _ = writeln!(here, "  sim frame #{n} (t={ts} ns): {p}: {}", describe(sd));
            }
            compared += 1;
            if let Some(d) = frame_diff(&rec.data, sd, &kn, &sn) {
                let _ = writeln!(
                    here,
                    "  frame #{n} (kernel +{} µs, sim t={ts} ns) differs:\n{d}",
                    rec.ts_us - recs[0].ts_us
                );
            }
        }
        if recs.len() != sim.len() {
            let _ = writeln!(
                here,
                "  frame count: kernel {} sim {} (sim window {from_ns}..{to_ns} ns)",
                recs.len(),
                sim.len()
            );
            for (n, rec) in recs.iter().enumerate() {
                let _ = writeln!(here, "    kernel #{n}: {}", describe(&rec.data));
            }
            for (n, (ts, d)) in sim.iter().enumerate() {
                let _ = writeln!(here, "    sim    #{n} t={ts} ns: {}", describe(d));
            }
        }
        if !here.is_empty() {
            let _ = writeln!(report, "{lab} {iface}:\n{here}");
        }
    }
    assert!(
        report.is_empty(),
        "sim frames differ from the kernel's:\n{report}"
    );
    compared
}

/// The VXLAN frames of a list, in order: (outer UDP source port, inner frame).
fn vxlan_of(frames: &[Vec<u8>]) -> Vec<(u16, Vec<u8>)> {
    frames
        .iter()
        .filter(|f| f.len() >= 14 + 20 + 16 && be16(f, 12) == 0x0800 && f[14 + 9] == 17)
        .filter_map(|f| {
            let p = 14 + usize::from(f[14] & 0xf) * 4;
            VXLAN_PORTS
                .contains(&be16(f, p + 2))
                .then(|| (be16(f, p), f[p + 16..].to_vec()))
        })
        .collect()
}

/// Checks one side's captures of a VXLAN lab (kernel or sim): the underlay carries the frame
/// each vxlan device sent or received, unchanged, both nodes' eth0 see the same frames, and the
/// outer source port is in the ephemeral range.
///
/// `same_seed_both_ways`: the flow hash is symmetric, so the request (sent by node1) and the
/// reply (sent by node2) get the same source port when both senders share one hash seed. In
/// the fixture they do: all the namespaces run on one kernel, whose `hashrnd` is per boot. The
/// sim models node1 and node2 as separate machines, each with its own seed (derived from the
/// host name, `World::add_netns`), so there the two directions legitimately differ.
fn check_vxlan_consistency(
    who: &str,
    caps: &BTreeMap<String, Vec<Vec<u8>>>,
    vxdev: &str,
    same_seed_both_ways: bool,
) {
    let get = |n: &str| {
        caps.get(n)
            .unwrap_or_else(|| panic!("{who}: no capture {n}"))
    };
    assert_eq!(
        get("node1/eth0"),
        get("node2/eth0"),
        "{who}: node1/eth0 and node2/eth0 (one wire) saw different frames"
    );
    for node in ["node1", "node2"] {
        let outer = vxlan_of(get(&format!("{node}/eth0")));
        let inner: Vec<Vec<u8>> = outer.iter().map(|(_, f)| f.clone()).collect();
        let dev = get(&format!("{node}/{vxdev}"));
        assert_eq!(
            &inner,
            dev,
            "{who}: the inner frames on {node}/eth0 are not the frames on {node}/{vxdev}:\n\
             eth0 inner: {:#?}\n{vxdev}: {:#?}",
            inner.iter().map(|f| describe(f)).collect::<Vec<_>>(),
            dev.iter().map(|f| describe(f)).collect::<Vec<_>>()
        );
        assert_eq!(outer.len(), 2, "{who}: {node}/eth0: one request, one reply");
        for (port, f) in &outer {
            assert!(
                (32768..60999).contains(port),
                "{who}: outer UDP source port {port} outside [32768, 60999) for {}",
                describe(f)
            );
        }
        if same_seed_both_ways {
            assert_eq!(
                outer[0].0, outer[1].0,
                "{who}: {node}/eth0: one kernel, one hash seed: one source port both ways"
            );
        }
    }
}

/// Each copy of an echo (by type and sequence), wherever captured and however encapsulated,
/// has the same IPv4 ID and ICMP bytes: forwarding keeps the ID, and nothing rewrites ICMP.
fn check_echo_copies_agree(who: &str, caps: &BTreeMap<String, Vec<Vec<u8>>>) {
    // (icmp type, seq) -> (first place, ip id, icmp bytes)
    let mut seen: BTreeMap<(u8, u16), (String, u16, Vec<u8>)> = BTreeMap::new();
    let mut found = 0;
    for (iface, frames) in caps {
        for f in frames {
            let mut off = 0;
            // Descend through VXLAN to the innermost IPv4 packet.
            while f.len() >= off + 34 && be16(f, off + 12) == 0x0800 {
                let ip = off + 14;
                let p = ip + usize::from(f[ip] & 0xf) * 4;
                let end = ip + usize::from(be16(f, ip + 2));
                match f[ip + 9] {
                    17 if VXLAN_PORTS.contains(&be16(f, p + 2)) => off = p + 16,
                    1 if matches!(f[p], 0 | 8) => {
                        found += 1;
                        let key = (f[p], be16(f, p + 6));
                        let val = (iface.clone(), be16(f, ip + 4), f[p..end].to_vec());
                        let first = seen.entry(key).or_insert_with(|| val.clone());
                        assert_eq!(
                            (first.1, &first.2),
                            (val.1, &val.2),
                            "{who}: echo type {} seq {}: IP ID / ICMP bytes at {} differ from \
                             those at {}",
                            key.0,
                            key.1,
                            val.0,
                            first.0
                        );
                        break;
                    }
                    _ => break,
                }
            }
        }
    }
    assert!(found > 0, "{who}: no echo found");
}

fn kernel_caps(lab: &str) -> BTreeMap<String, Vec<Vec<u8>>> {
    fixture_captures(&fixture_dir(lab))
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().map(|r| r.data).collect()))
        .collect()
}

fn sim_caps(r: &RunResult, from_ns: u64, to_ns: u64) -> BTreeMap<String, Vec<Vec<u8>>> {
    r.built
        .world
        .trace
        .ifaces
        .iter()
        .map(|c| {
            let v = captured(r, &c.name, from_ns, to_ns);
            (c.name.clone(), v.into_iter().map(|(_, d)| d).collect())
        })
        .collect()
}

#[test]
fn flannel_same_node_frames_are_the_kernels() {
    let r = run("flannel_same_node");
    let n = compare_lab(&r, "flannel_same_node", 0, SEC);
    assert_eq!(n, 5 + 5 + 4 + 4 + 4, "frames compared");
    check_echo_copies_agree("kernel", &kernel_caps("flannel_same_node"));
    check_echo_copies_agree("sim", &sim_caps(&r, 0, SEC));
}

#[test]
fn flannel_vxlan_frames_are_the_kernels() {
    let r = run("flannel_vxlan");
    let n = compare_lab(&r, "flannel_vxlan", 0, SEC);
    assert_eq!(n, 5 + 4 + 2 + 4 + 4 + 2 + 4 + 4, "frames compared");
}

#[test]
fn flannel_vxlan_tunnel_is_consistent_in_the_kernel_and_the_sim() {
    let r = run("flannel_vxlan");
    let (k, s) = (kernel_caps("flannel_vxlan"), sim_caps(&r, 0, SEC));
    check_vxlan_consistency("kernel", &k, "flannel.1", true);
    check_vxlan_consistency("sim", &s, "flannel.1", false);
    check_echo_copies_agree("kernel", &k);
    check_echo_copies_agree("sim", &s);
}

#[test]
fn calico_vxlan_pod_to_pod_frames_are_the_kernels() {
    let r = run("calico_vxlan");
    let n = compare_lab(&r, "calico_vxlan/pod_to_pod", 0, SEC);
    assert_eq!(n, 4 + 4 + 2 + 4 + 4 + 2 + 6 + 6, "frames compared");
}

#[test]
fn calico_vxlan_tunnel_is_consistent_in_the_kernel_and_the_sim() {
    let r = run("calico_vxlan");
    let (k, s) = (kernel_caps("calico_vxlan/pod_to_pod"), sim_caps(&r, 0, SEC));
    check_vxlan_consistency("kernel", &k, "vxlan.calico", true);
    check_vxlan_consistency("sim", &s, "vxlan.calico", false);
    check_echo_copies_agree("kernel", &k);
    check_echo_copies_agree("sim", &s);
}

/// The run against node2's eth0 address, 20 s in (the kernel's was after its neighbours had
/// settled), with strict rp_filter: two requests, dropped at node2/eth0, nothing else.
#[test]
fn calico_vxlan_pod_to_node2_eth_frames_are_the_kernels() {
    let r = run("calico_vxlan");
    let (from, to) = (20 * SEC, 22 * SEC);
    let n = compare_lab(&r, "calico_vxlan/pod_to_node2_eth", from, to);
    assert_eq!(n, 2 + 2 + 2 + 2, "frames compared");
    check_echo_copies_agree("kernel", &kernel_caps("calico_vxlan/pod_to_node2_eth"));
    check_echo_copies_agree("sim", &sim_caps(&r, from, to));
}

// ---------------------------------------------------------------------------------------------
// Text outputs.
// ---------------------------------------------------------------------------------------------

fn ns_of(r: &RunResult, name: &str) -> usize {
    r.built
        .world
        .ns_by_name(name)
        .unwrap_or_else(|| panic!("no netns {name}"))
}

fn assert_text(what: &str, kernel: &str, sim: &str) {
    assert!(
        kernel == sim,
        "{what} differs from the kernel's\n--- kernel\n{kernel}--- sim\n{sim}---\n{}",
        line_diff(kernel, sim)
    );
}

fn line_diff(k: &str, s: &str) -> String {
    let (kl, sl): (Vec<&str>, Vec<&str>) = (k.lines().collect(), s.lines().collect());
    let mut out = String::new();
    for i in 0..kl.len().max(sl.len()) {
        let (a, b) = (kl.get(i), sl.get(i));
        if a != b {
            let _ = writeln!(out, "line {}:\n  kernel {a:?}\n  sim    {b:?}", i + 1);
        }
    }
    out
}

#[test]
fn bridge_fdb_show_is_the_kernels() {
    let cases = [
        ("flannel_same_node", "flannel_same_node", "node1"),
        ("flannel_vxlan", "flannel_vxlan", "node1"),
        ("flannel_vxlan", "flannel_vxlan", "node2"),
        ("calico_vxlan", "calico_vxlan/pod_to_pod", "node1"),
        ("calico_vxlan", "calico_vxlan/pod_to_pod", "node2"),
        // Before any traffic; calico's fdb holds only permanent entries, so the same.
        ("calico_vxlan", "calico_vxlan", "node1"),
        ("calico_vxlan", "calico_vxlan", "node2"),
    ];
    for (scenario, lab, node) in cases {
        let r = run(scenario);
        let sim = r.built.world.bridge_fdb_show(ns_of(&r, node));
        let kernel = read_text(&fixture_dir(lab).join(format!("{node}_bridge_fdb.txt")));
        assert_text(&format!("{lab} {node} bridge fdb show"), &kernel, &sim);
    }
}

/// `route -n` and `ip route` of every netns the fixture dumped. Traffic does not change the
/// main tables, and calico's later rp_filter change neither.
#[test]
fn routes_are_the_kernels() {
    let mut checked = 0;
    for (scenario, lab) in [
        ("flannel_same_node", "flannel_same_node"),
        ("flannel_vxlan", "flannel_vxlan"),
        ("calico_vxlan", "calico_vxlan"),
    ] {
        let r = run(scenario);
        let w = &r.built.world;
        let dir = fixture_dir(lab);
        for n in &w.ns {
            let ns = ns_of(&r, &n.name);
            for (file, sim) in [("route_n", w.route_n(ns)), ("ip_route", w.ip_route(ns))] {
                let path = dir.join(format!("{}_{file}.txt", n.name));
                if path.exists() {
                    assert_text(&format!("{lab} {} {file}", n.name), &read_text(&path), &sim);
                    checked += 1;
                }
            }
        }
    }
    // route -n: 1 + 2 + 2 nodes; ip route: 3 + 4 + 4 netns.
    assert_eq!(checked, 5 + 11, "text files compared");
}

/// `brctl showmacs cni0`: every column, except the ageing timer of learned (non-local)
/// entries, which depends on when the command ran (the kernel's ~1 s after the ping, the sim's
/// at the end of its run); that one must still be a valid timer below the 300 s ageing time,
/// printed in the same width.
#[test]
fn brctl_showmacs_is_the_kernels() {
    for (scenario, node) in [
        ("flannel_same_node", "node1"),
        ("flannel_vxlan", "node1"),
        ("flannel_vxlan", "node2"),
    ] {
        let r = run(scenario);
        let w = &r.built.world;
        let ns = ns_of(&r, node);
        let br = w.dev_by_name(ns, "cni0").expect("cni0");
        let sim = w.brctl_showmacs(br);
        let kernel = read_text(&fixture_dir(scenario).join(format!("{node}_brctl_showmacs.txt")));
        let what = format!("{scenario} {node} brctl showmacs cni0");
        let (kl, sl): (Vec<&str>, Vec<&str>) = (kernel.lines().collect(), sim.lines().collect());
        let ctx = format!("--- kernel\n{kernel}--- sim\n{sim}---");
        assert!(
            kernel.ends_with('\n') && sim.ends_with('\n'),
            "{what}\n{ctx}"
        );
        assert_eq!(kl.len(), sl.len(), "{what}: row count\n{ctx}");
        assert_eq!(kl[0], sl[0], "{what}: header\n{ctx}");
        for (k, s) in kl[1..].iter().zip(&sl[1..]) {
            let (kc, sc): (Vec<&str>, Vec<&str>) =
                (k.split('\t').collect(), s.split('\t').collect());
            assert_eq!(kc.len(), 5, "{what}: kernel row {k:?}");
            assert_eq!(
                sc.len(),
                kc.len(),
                "{what}: columns of {s:?} vs {k:?}\n{ctx}"
            );
            assert_eq!(kc[..4], sc[..4], "{what}: row {s:?} vs {k:?}\n{ctx}");
            if kc[2] == "yes" {
                assert_eq!(kc[4], sc[4], "{what}: local entry timer\n{ctx}");
            } else {
                assert_eq!(kc[4].len(), sc[4].len(), "{what}: timer width {s:?}\n{ctx}");
                let t: f64 = sc[4]
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{what}: timer {:?}\n{ctx}", sc[4]));
                assert!(
                    (0.0..300.0).contains(&t)
                        && sc[4].trim().split('.').nth(1).map(str::len) == Some(2),
                    "{what}: timer {:?}\n{ctx}",
                    sc[4]
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// calico_vxlan_masq: natOutgoing.
// ---------------------------------------------------------------------------------------------

const MASQ_RULE: &str = "-t nat -A POSTROUTING -s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE";

/// calico_vxlan, fresh, with `rule` on node1 and `extra` text edits, running only `traffic`,
/// stopped at `until_ms` (so that conntrack can be listed while its entries live).
fn run_masq(rule: &str, extra: &[(&str, &str)], traffic: &str, until_ms: u64) -> RunResult {
    let mut text = std::fs::read_to_string(scenario_path("calico_vxlan")).unwrap();
    let fdb1 = r#"fdb: ["66:00:00:00:00:02 dev vxlan.calico dst 10.211.55.6 self permanent"],"#;
    assert!(text.contains(fdb1));
    text = text.replacen(
        fdb1,
        &format!("{fdb1}\n            iptables: [\"{rule}\"],"),
        1,
    );
    for (from, to) in extra {
        assert!(text.contains(from), "no {from:?} in calico_vxlan.ron");
        text = text.replacen(from, to, 1);
    }
    let cut = text.find("    changes: [").expect("changes");
    text.truncate(cut);
    text.push_str(&format!("    traffic: [{traffic}],\n)\n"));
    let s = sim::scenario::parse("calico_vxlan_masq.ron", &text).unwrap();
    let mut b = sim::scenario::build("calico_vxlan_masq.ron", &text, &s).unwrap();
    b.until = Some(sim::time::Instant::from_ns(until_ms * 1_000_000));
    sim::run::run_built(b).unwrap()
}

/// `conntrack -L` lines with the parts that differ between runs masked: the seconds left and
/// the echo ids.
fn mask_conntrack(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.is_empty())
                .enumerate()
                .map(|(i, w)| {
                    if i == 2 {
                        "T".to_string()
                    } else if w.starts_with("id=") {
                        "id=N".to_string()
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
                + "\n"
        })
        .collect()
}

fn check_masq_tables(r: &RunResult, lab: &str) {
    let w = &r.built.world;
    let (n1, n2) = (ns_of(r, "node1"), ns_of(r, "node2"));
    let dir = fixture_dir(lab);
    assert_text(
        &format!("{lab} node1 iptables -t nat -S"),
        &read_text(&dir.join("node1_iptables_nat.txt")),
        &w.iptables_nat_save(n1).unwrap_or_default(),
    );
    for (n, ns) in [("node1", n1), ("node2", n2)] {
        assert_text(
            &format!("{lab} {n} conntrack -L (seconds and ids masked)"),
            &mask_conntrack(&read_text(&dir.join(format!("{n}_conntrack.txt")))),
            &mask_conntrack(&w.conntrack_list(ns)),
        );
    }
}

/// The echo id of the first echo request on `iface` (0 if none).
fn first_echo_id(caps: &BTreeMap<String, Vec<Vec<u8>>>, iface: &str) -> u16 {
    caps[iface]
        .iter()
        .find(|f| f.len() >= 42 && be16(f, 12) == 0x0800 && f[23] == 1 && f[34] == 8)
        .map_or(0, |f| be16(f, 38))
}

#[test]
fn calico_vxlan_masq_pod_to_node2_eth_frames_are_the_kernels() {
    // Linux 6.18 with natOutgoing: pod1 reaches node2's eth0 address under strict rp_filter;
    // node2 sees node1's address, replies natively, node1 gives the reply back to pod1.
    let traffic =
        r#"Ping(from: "pod1", to: "10.211.55.6", count: 2, start_ms: 0, expect: Reply(ttl: 63))"#;
    let r = run_masq(MASQ_RULE, &[], traffic, 2000);
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    let lab = "calico_vxlan_masq/pod_to_node2_eth";
    let n = compare_lab(&r, lab, 0, 2 * SEC);
    assert_eq!(n, 6 + 6 + 6 + 6, "frames compared");
    check_echo_copies_agree("sim", &sim_caps(&r, 0, 2 * SEC));
    check_masq_tables(&r, lab);
    // Without --random-fully the id is kept: the same on pod1/eth0 and on the underlay.
    for caps in [kernel_caps(lab), sim_caps(&r, 0, 2 * SEC)] {
        assert_eq!(
            first_echo_id(&caps, "pod1/eth0"),
            first_echo_id(&caps, "node2/eth0")
        );
    }
}

#[test]
fn calico_vxlan_masq_random_fully_frames_are_the_kernels() {
    let rule = format!("{MASQ_RULE} --random-fully");
    let traffic = r#"Ping(from: "pod1", to: "10.211.55.6", count: 2, start_ms: 0, id: 27542, expect: Reply(ttl: 63))"#;
    let r = run_masq(&rule, &[], traffic, 2000);
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    let lab = "calico_vxlan_masq/random_fully";
    let n = compare_lab(&r, lab, 0, 2 * SEC);
    assert_eq!(n, 6 + 6 + 6 + 6, "frames compared");
    check_masq_tables(&r, lab);
    // --random-fully draws the id on the underlay (the kernel's and the sim's differ, both
    // differ from the pod's), and pod1 gets its own id back.
    for (who, caps) in [
        ("kernel", kernel_caps(lab)),
        ("sim", sim_caps(&r, 0, 2 * SEC)),
    ] {
        let (pod, wire) = (
            first_echo_id(&caps, "pod1/eth0"),
            first_echo_id(&caps, "node2/eth0"),
        );
        assert_ne!(pod, wire, "{who}: the id on the underlay was not redrawn");
    }
}

#[test]
fn calico_vxlan_masq_remote_unreachable_frames_are_the_kernels() {
    // node2 answers for 192.0.2.1 with host unreachable to node1's address; node1's conntrack
    // finds the masqueraded ping in the quoted packet and translates the error back to pod1.
    let extra = [
        (
            r#""blackhole 10.42.1.0/24 proto 80","#,
            r#""blackhole 10.42.1.0/24 proto 80", "192.0.2.0/24 via 10.211.55.6 dev eth0","#,
        ),
        (
            r#""blackhole 10.42.2.0/24 proto 80","#,
            r#""blackhole 10.42.2.0/24 proto 80", "unreachable 192.0.2.0/24","#,
        ),
    ];
    let traffic = r#"Ping(from: "pod1", to: "192.0.2.1", count: 1, start_ms: 0, expect: Error(from: "10.211.55.6", text: "Destination Host Unreachable"))"#;
    let r = run_masq(MASQ_RULE, &extra, traffic, 1000);
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    let lab = "calico_vxlan_masq/remote_unreachable";
    let n = compare_lab(&r, lab, 0, SEC);
    assert_eq!(n, 4 + 4 + 4 + 4, "frames compared");
    check_masq_tables(&r, lab);
}

#[test]
fn calico_vxlan_masq_neigh_failed_frames_are_the_kernels() {
    // node1 itself reports host unreachable about the masqueraded packet (ARP for .99 fails):
    // the error is addressed to node1's own address, and conntrack turns it, at OUTPUT, back
    // into an error to pod1 quoting pod1's packet.
    let traffic = r#"Ping(from: "pod1", to: "10.211.55.99", count: 1, start_ms: 0, expect: Error(from: "10.211.55.5", text: "Destination Host Unreachable"))"#;
    let r = run_masq(MASQ_RULE, &[], traffic, 4000);
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    let lab = "calico_vxlan_masq/neigh_failed";
    let n = compare_lab(&r, lab, 0, 4 * SEC);
    assert_eq!(n, 4 + 4 + 3 + 3, "frames compared");
    check_masq_tables(&r, lab);
}

#[test]
fn calico_vxlan_masq_fragmented_frames_are_the_kernels() {
    // A 2028-byte echo over MTU 1500, both ways in two fragments. With a nat table node1's
    // conntrack reassembles each datagram at PREROUTING, NATs it whole and fragments it again
    // to its largest fragment; node2 (no nat table) reassembles only to deliver.
    let traffic = r#"Ping(from: "pod1", to: "10.211.55.6", count: 1, size: 2000, start_ms: 0, expect: Reply(ttl: 63))"#;
    let r = run_masq(MASQ_RULE, &[], traffic, 1000);
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    let lab = "calico_vxlan_masq/fragmented";
    let n = compare_lab(&r, lab, 0, SEC);
    assert_eq!(n, 6 + 6 + 6 + 6, "frames compared");
    check_masq_tables(&r, lab);
    // `nstat -asz` of the reassembly and fragmentation counters, as absolute values.
    for node in ["node1", "node2"] {
        let text = read_text(&fixture_dir(lab).join(format!("{node}_nstat.txt")));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut w = line.split_whitespace();
            let (Some(name), Some(v)) = (w.next(), w.next()) else {
                continue;
            };
            assert_eq!(
                counter(&r, node, name),
                v.parse::<u64>().unwrap(),
                "{lab} {node} {name}"
            );
        }
    }
}
