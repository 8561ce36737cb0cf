//! Traces: every captured frame parses with valid checksums (through IPIP and VXLAN); runs are
//! byte-for-byte deterministic; tshark reads every trace without a malformed packet or a bad
//! checksum, and dissects VXLAN on 4789 and, told to, on 8472.

mod common;
use common::*;

fn write_traces(name: &str, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let r = run(name);
    let mut files = sim::run::write_outputs(&r, dir).unwrap();
    files.sort();
    files
}

#[test]
fn every_captured_frame_parses_with_valid_checksums() {
    for name in shipped() {
        check_all_frames(&name, &run(&name));
    }
}

#[test]
fn same_scenario_and_seed_give_byte_identical_traces() {
    let base = std::env::temp_dir().join(format!("sim-determinism-{}", std::process::id()));
    for name in shipped() {
        let (a, b) = (
            base.join(format!("{name}-a")),
            base.join(format!("{name}-b")),
        );
        let fa = write_traces(&name, &a);
        let fb = write_traces(&name, &b);
        assert_eq!(fa.len(), fb.len());
        for (x, y) in fa.iter().zip(&fb) {
            assert_eq!(x.file_name(), y.file_name());
            assert!(
                std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
                "{name}: {} differs",
                x.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn a_different_seed_changes_what_linux_draws_at_random() {
    // IP IDs come from the seed: the same scenario with another seed differs in bytes.
    let path = scenario_path("ipip_cross_subnet");
    let text = std::fs::read_to_string(&path).unwrap();
    let other = text.replacen("seed: 2,", "seed: 3,", 1);
    assert_ne!(text, other);
    let run_text = |t: &str| {
        let s = sim::scenario::parse("x.ron", t).unwrap();
        let b = sim::scenario::build("x.ron", t, &s).unwrap();
        sim::run::run_built(b).unwrap().built.world.trace.packets
    };
    let (a, b) = (run_text(&text), run_text(&other));
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(&b).any(|(x, y)| x.data != y.data));
}

#[test]
fn tshark_finds_no_malformed_packet_or_bad_checksum() {
    if !tool_available("tshark") {
        return;
    }
    let base = std::env::temp_dir().join(format!("sim-tshark-{}", std::process::id()));
    for name in shipped() {
        let dir = base.join(&name);
        let files = write_traces(&name, &dir);
        // tshark starts slowly, so it reads the merged pcapng (every interface's packets, each
        // with its own link type); the per-interface pcaps must hold the same packets.
        let mut per_iface = 0;
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "pcap"))
        {
            let file = std::fs::File::open(f).unwrap();
            let mut rd = pcap_file::pcap::PcapReader::new(file).unwrap();
            while let Some(p) = rd.next_packet() {
                p.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                per_iface += 1;
            }
        }
        let merged = files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "pcapng"))
            .unwrap_or_else(|| panic!("{name}: no pcapng written"));
        // Malformed packets and bad checksums are expert infos of error severity (0x00800000).
        // Warnings are not failures: Calico's cali devices all use ee:ee:ee:ee:ee:ee and ARP
        // with the node's address, which Wireshark rightly flags as a duplicate IP.
        let out = std::process::Command::new("tshark")
            .args(["-n", "-r"])
            .arg(merged)
            .args([
                "-d", "udp.port==8472,vxlan",
                "-o", "ip.check_checksum:TRUE",
                "-o", "udp.check_checksum:TRUE",
                "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message", "-e", "_ws.malformed",
                "-Y", "_ws.expert.severity >= 8388608 || _ws.malformed || ip.checksum.status == 0 || icmp.checksum.status == 0 || udp.checksum.status == 0",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tshark failed on {}: {}",
            merged.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.trim().is_empty(), "{}: {}", merged.display(), text);
        // And it read every packet, as many as the per-interface files hold.
        let count = std::process::Command::new("tshark")
            .args(["-n", "-r"])
            .arg(merged)
            .args(["-T", "fields", "-e", "frame.number"])
            .output()
            .unwrap();
        assert!(count.status.success());
        let read = String::from_utf8_lossy(&count.stdout).lines().count();
        assert_eq!(
            read, per_iface,
            "{name}: tshark read {read} packets of {per_iface}"
        );
    }
    let _ = std::fs::remove_dir_all(base);
}

/// tshark's view of one trace file: `-T fields` for `fields`, with `extra` args.
fn tshark_fields(f: &std::path::Path, extra: &[&str], fields: &[&str]) -> Option<String> {
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(f)
        .args(extra)
        .args(["-T", "fields"]);
    for x in fields {
        cmd.args(["-e", x]);
    }
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn tshark_dissects_vxlan_on_4789_and_on_8472_when_told() {
    if !tool_available("tshark") {
        return;
    }
    let base = std::env::temp_dir().join(format!("sim-tshark-vxlan-{}", std::process::id()));
    let fields = ["vxlan.vni", "ip.src", "ip.ttl", "icmp.type"];
    // Calico: 4789 is VXLAN's IANA port, dissected as such.
    write_traces("calico_vxlan", &base.join("c"));
    let t = tshark_fields(&base.join("c/node1-eth0.pcap"), &["-Y", "vxlan"], &fields).unwrap();
    let first = t.lines().next().unwrap_or_default();
    assert_eq!(first, "4096\t10.211.55.5,10.42.1.11\t64,63\t8", "{t}");
    // Flannel: 8472 needs `-d udp.port==8472,vxlan`; without it there is no VXLAN layer.
    write_traces("flannel_vxlan", &base.join("f"));
    let f = base.join("f/node1-eth0.pcap");
    let plain = tshark_fields(&f, &["-Y", "vxlan"], &fields).unwrap();
    assert!(plain.trim().is_empty(), "{plain}");
    let told = tshark_fields(&f, &["-d", "udp.port==8472,vxlan", "-Y", "vxlan"], &fields).unwrap();
    let lines: Vec<&str> = told.lines().collect();
    assert_eq!(
        lines,
        [
            "1\t192.168.0.81,10.244.1.2\t64,63\t8",
            "1\t192.168.0.82,10.244.2.2\t64,63\t0"
        ],
        "{told}"
    );
    let _ = std::fs::remove_dir_all(base);
}
