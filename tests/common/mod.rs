//! Shared helpers for the integration tests: run a shipped scenario, find its pings and drops.
#![allow(dead_code)]

use sim::run::{run_file, RunResult};
use std::path::{Path, PathBuf};

pub fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.ron"))
}

pub fn run(name: &str) -> RunResult {
    match run_file(&scenario_path(name)) {
        Ok(r) => r,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// Every shipped scenario's stem.
pub fn shipped() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "ron").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

/// The ping started from `from` to `to` at `start_ms`.
pub fn ping<'a>(r: &'a RunResult, from: &str, to: &str, start_ms: u64) -> &'a sim::app::ping::Ping {
    let w = &r.built.world;
    w.pings
        .iter()
        .find(|p| {
            w.ns[p.spec.ns].name == from
                && p.spec.dst.to_string() == to
                && p.spec.start.as_ns() == start_ms * 1_000_000
        })
        .unwrap_or_else(|| panic!("no ping {from} -> {to} at {start_ms} ms"))
}

/// Drops attributed to a ping's requests (by its flow tag), as (place, reason name).
pub fn drops_of(r: &RunResult, p: &sim::app::ping::Ping) -> Vec<(String, String)> {
    let w = &r.built.world;
    let app = w.pings.iter().position(|q| std::ptr::eq(q, p)).unwrap() as u32;
    w.trace
        .drops
        .iter()
        .filter(|(_, t)| t.is_some_and(|t| t.app == app))
        .map(|(d, _)| (d.place.to_string(), d.reason.kernel_name().to_string()))
        .collect()
}

pub fn counter(r: &RunResult, ns: &str, name: &str) -> u64 {
    let w = &r.built.world;
    let i = w.ns_by_name(ns).unwrap();
    w.ns[i].counter(name)
}

/// Frames captured on `netns/dev` with `from_ns <= ts < to_ns`, in capture order, as
/// (time in ns, bytes).
pub fn captured(r: &RunResult, iface: &str, from_ns: u64, to_ns: u64) -> Vec<(u64, Vec<u8>)> {
    let w = &r.built.world;
    let i = w
        .trace
        .ifaces
        .iter()
        .position(|c| c.name == iface)
        .unwrap_or_else(|| panic!("the sim captures no interface {iface}"));
    w.trace
        .packets
        .iter()
        .filter(|p| p.iface == i && (from_ns..to_ns).contains(&p.ts.as_ns()))
        .map(|p| (p.ts.as_ns(), p.data.clone()))
        .collect()
}

/// True if `tool --version` runs. When it does not, the caller skips its check, unless
/// SIM_REQUIRE_TSHARK=1 (as in CI, which installs tshark and tcpdump): then it fails.
pub fn tool_available(tool: &str) -> bool {
    let required = std::env::var("SIM_REQUIRE_TSHARK").is_ok_and(|v| v == "1");
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required,
            "{tool} is required (SIM_REQUIRE_TSHARK=1) but not installed"
        );
        eprintln!("skipped: {tool} is not installed (apt-get install {tool} to run this check)");
    }
    ok
}

/// Checks an IPv4 packet's header and ICMP/UDP checksums, descending into IPIP and VXLAN.
pub fn check_ipv4(what: &str, bytes: &[u8]) {
    let ip = etherparse::Ipv4Slice::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let h = ip.header().to_header();
    assert_eq!(
        h.header_checksum,
        h.calc_header_checksum(),
        "{what}: IP checksum"
    );
    let payload = ip.payload().payload;
    if ip.payload().fragmented {
        return;
    }
    match ip.payload().ip_number.0 {
        1 => {
            assert_eq!(sim::wire::checksum(payload), 0, "{what}: ICMP checksum");
            // An error quotes a packet: its header checksum must hold too (NAT rewrites it).
            if matches!(payload.first(), Some(3 | 11 | 12)) && payload.len() >= 28 {
                let q = &payload[8..];
                let ihl = usize::from(q[0] & 0x0f) * 4;
                if q.len() >= ihl {
                    assert_eq!(
                        sim::wire::checksum(&q[..ihl]),
                        0,
                        "{what}: quoted IPv4 header checksum"
                    );
                }
            }
        }
        4 => check_ipv4(what, payload),
        17 => {
            let (src, dst) = (h.source.into(), h.destination.into());
            let u = sim::wire::udp::UdpRepr::parse(src, dst, payload)
                .unwrap_or_else(|e| panic!("{what}: UDP {e:?}"));
            assert_ne!(
                u.checksum, 0,
                "{what}: VXLAN sends a UDP checksum by default"
            );
            if matches!(u.dst_port, 4789 | 8472) {
                let body = &payload[8..usize::from(u.len)];
                sim::wire::vxlan::parse(body).unwrap_or_else(|e| panic!("{what}: VXLAN {e:?}"));
                check_ethernet(what, &body[8..]);
            }
        }
        p => panic!("{what}: unexpected protocol {p}"),
    }
}

pub fn check_ethernet(what: &str, frame: &[u8]) {
    let eth = etherparse::Ethernet2Slice::from_slice_without_fcs(frame)
        .unwrap_or_else(|e| panic!("{what}: {e:?}"));
    match eth.ether_type().0 {
        0x0800 => check_ipv4(what, eth.payload_slice()),
        0x0806 => {}
        t => panic!("{what}: unexpected ethertype {t:#06x}"),
    }
}

/// Every frame a run captured parses, with valid checksums at every layer (through IPIP and
/// VXLAN, and the headers quoted in ICMP errors).
pub fn check_all_frames(name: &str, r: &RunResult) {
    let w = &r.built.world;
    for c in &w.trace.packets {
        let iface = &w.trace.ifaces[c.iface];
        let what = format!("{name} {}", iface.name);
        match iface.link_type {
            sim::trace::LinkType::Ethernet => check_ethernet(&what, &c.data),
            sim::trace::LinkType::Raw => check_ipv4(&what, &c.data),
        }
    }
}

/// Runs scenario text as if it were the file `NAME.ron`; panics with the error otherwise.
pub fn run_text(name: &str, text: &str) -> RunResult {
    let path = format!("{name}.ron");
    let mut s = sim::scenario::parse(&path, text).unwrap_or_else(|e| panic!("{e}"));
    s.name = Some(name.to_string());
    let b = sim::scenario::build(&path, text, &s).unwrap_or_else(|e| panic!("{e}"));
    sim::run::run_built(b).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a shipped scenario with text replacements (each must apply).
pub fn run_variant(name: &str, edits: &[(&str, &str)]) -> RunResult {
    let mut text = std::fs::read_to_string(scenario_path(name)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{name}: no {from:?} to replace");
        text = text.replacen(from, to, 1);
    }
    run_text("variant", &text)
}

/// The error that loading and building `bad.ron` with this text gives; panics if there is none.
pub fn build_err(text: &str) -> String {
    let r = sim::scenario::parse("bad.ron", text)
        .and_then(|s| sim::scenario::build("bad.ron", text, &s).map(|_| ()));
    match r {
        Ok(()) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}
