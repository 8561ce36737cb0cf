//! UDP: sockets, the echo applications, port unreachable, the ns-3 workload generator and the
//! node-pair ping mesh of the scale run. The echo exchange is compared byte for byte with one
//! captured from Linux 6.18 (`tests/fixtures/kernel/udp_echo/`).

mod common;
use common::*;
use sim::scenario::gen::{ClusterWorkload, Encap, PodsWorkload};

/// The kernel lab of `tests/fixtures/kernel/udp_echo/README.md`: two netns on a veth pair,
/// a UDP echo server on b:9, one datagram of 56 zero bytes to it and one to the closed port 7.
const TWO_NETNS: &str = r#"Scenario(
    netns: [
        (name: "a", devices: [(name: "va", kind: Veth(peer: "b/vb"), mac: "02:00:00:00:00:01", addrs: ["10.99.0.1/24"])]),
        (name: "b", devices: [(name: "vb", kind: Veth(peer: "a/va"), mac: "02:00:00:00:00:02", addrs: ["10.99.0.2/24"])]),
    ],
    traffic: [
        UdpEchoServer(netns: "b", port: 9),
        UdpEcho(from: "a", to: "10.99.0.2", port: 9, count: 1, start_ms: 0),
        UdpEcho(from: "a", to: "10.99.0.2", port: 7, count: 1, start_ms: 1),
    ],
)"#;

fn kernel_frames() -> Vec<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kernel/udp_echo/a_va.pcap");
    let f = std::fs::File::open(&path).unwrap();
    let mut r = pcap_file::pcap::PcapReader::new(f).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

/// Zeroes what Linux draws at random or derives from it, in an Ethernet frame carrying IPv4:
/// the IP ID and so the header checksum, the UDP source port of the client's ephemeral socket
/// (and so the UDP checksum), the same in an ICMP error's quoted packet and the ICMP checksum.
/// Every checksum is verified before it is zeroed.
fn mask(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    if f[12..14] != [0x08, 0x00] {
        return f;
    }
    check_ethernet("frame", frame);
    let ip = 14;
    let mask_ip = |f: &mut Vec<u8>, ip: usize| {
        f[ip + 4..ip + 6].fill(0);
        f[ip + 10..ip + 12].fill(0);
    };
    mask_ip(&mut f, ip);
    let l4 = ip + usize::from(f[ip] & 0x0f) * 4;
    match f[ip + 9] {
        17 => {
            let sport = u16::from_be_bytes([f[l4], f[l4 + 1]]);
            let dport = u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]);
            // The ephemeral side: the client's port, whichever direction.
            if sport != 9 {
                f[l4..l4 + 2].fill(0);
            }
            if dport != 9 && dport != 7 {
                f[l4 + 2..l4 + 4].fill(0);
            }
            f[l4 + 6..l4 + 8].fill(0);
        }
        1 => {
            f[l4 + 2..l4 + 4].fill(0);
            let q = l4 + 8;
            mask_ip(&mut f, q);
            let ql4 = q + usize::from(f[q] & 0x0f) * 4;
            f[ql4..ql4 + 2].fill(0);
            f[ql4 + 6..ql4 + 8].fill(0);
        }
        _ => {}
    }
    f
}

#[test]
fn udp_echo_and_port_unreachable_are_the_kernels_frames() {
    let r = run_text("udp_two_netns", TWO_NETNS);
    // The kernel capture ran about 1.5 s: the unicast ARP probes at 5 s (STALE -> DELAY ->
    // PROBE) are after it.
    let sim: Vec<Vec<u8>> = captured(&r, "a/va", 0, 2_000_000_000)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let kernel = kernel_frames();
    assert_eq!(sim.len(), kernel.len(), "frames on a/va");
    for (i, (s, k)) in sim.iter().zip(&kernel).enumerate() {
        assert_eq!(mask(s), mask(k), "frame {i} on a/va differs from Linux's");
    }
    let t = r.built.world.udp_totals();
    assert_eq!((t.requests, t.echoed, t.replies), (2, 1, 1));
    assert_eq!(counter(&r, "b", "UdpNoPorts"), 1);
    assert_eq!(counter(&r, "b", "UdpInDatagrams"), 1);
    let drops: Vec<String> = r
        .built
        .world
        .trace
        .drops
        .iter()
        .map(|(d, _)| format!("{} {}", d.place, d.reason))
        .collect();
    assert_eq!(drops, ["b/vb NO_SOCKET"]);
}

#[test]
fn the_client_ids_follow_the_hash_bucket_generator_and_df_is_set() {
    // Linux 6.18 gives an unconnected socket's DF datagrams IDs from `__ip_select_ident`:
    // consecutive within a jiffy for one (daddr, saddr, proto) (5348, 5349 in the fixture).
    let r = run_text("udp_two_netns", TWO_NETNS);
    let frames = captured(&r, "a/va", 0, u64::MAX);
    let ids: Vec<(u16, bool)> = frames
        .iter()
        .filter(|(_, d)| d[12..14] == [0x08, 0x00] && d[23] == 17 && d[34..36] != [0, 9])
        .map(|(_, d)| (u16::from_be_bytes([d[18], d[19]]), d[20] & 0x40 != 0))
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|&(_, df)| df), "{ids:?}");
    assert_eq!(ids[1].0, ids[0].0.wrapping_add(1), "{ids:?}");
}

#[test]
fn the_shipped_udp_scenario_delivers_2r_and_reports_port_unreachable() {
    let r = run("udp_echo_pods");
    let t = r.built.world.udp_totals();
    assert_eq!(t.delivered(), 48);
    assert_eq!(t.requests, 24 + 2);
    check_all_frames("udp_echo_pods", &r);
    let report = sim::run::report(&r);
    assert!(
        report.contains(
            "4 echo servers read 24, clients read 24 replies: 48 datagrams delivered to sockets"
        ),
        "{report}"
    );
    assert!(
        report
            .contains("node1-pod0/eth0 NO_SOCKET: IP 10.0.0.1.49582 > 10.0.1.1.7: UDP, length 56"),
        "{report}"
    );
    assert_eq!(counter(&r, "node1-pod0", "UdpNoPorts"), 2);
}

/// Whether the IPv4 frame `d` was sent by netns `pod` (its source is the pod's address).
fn captured_from(r: &sim::run::RunResult, pod: &str, d: &[u8]) -> bool {
    let w = &r.built.world;
    let ns = w.ns_by_name(pod).unwrap();
    let src = std::net::Ipv4Addr::new(d[26], d[27], d[28], d[29]);
    w.ns[ns]
        .devs
        .iter()
        .any(|&dev| w.devs[dev].addrs.iter().any(|a| a.addr == src))
}

fn pods(nodes: u32, pods: u32, k: u32, encap: Encap) -> PodsWorkload {
    PodsWorkload {
        nodes,
        pods,
        k,
        payload: 56,
        gap_ns: 20_000,
        encap,
        seed: 1,
    }
}

#[test]
fn the_ns3_workload_delivers_exactly_2r_with_and_without_encapsulation() {
    for encap in [Encap::None, Encap::Ipip, Encap::Vxlan] {
        let w = pods(3, 3, 2, encap);
        let text = w.to_ron();
        let r = run_text("pods", &text);
        let t = r.built.world.udp_totals();
        // M = 9: R = 2 * 9 * 8 = 144.
        assert_eq!(w.requests(), 144);
        assert_eq!((t.requests, t.delivered()), (144, 288), "{encap:?}");
        assert_eq!(r.built.world.trace.dropped, 0, "{encap:?}");
        check_all_frames("pods", &r);
    }
}

#[test]
fn the_workload_schedule_is_the_ns3_programs() {
    // WORKLOAD.md §3: request q of pod s leaves at (q * M + s) * gap for pod (s + 1 + q mod
    // (M - 1)) mod M. With M = 4 and gap 20 µs: pod 0's requests go to pods 1, 2, 3 at 0, 80,
    // 160 µs; pod 3's first goes to pod 0 at 60 µs. A pod's first datagram waits for its ARP
    // exchange with 169.254.1.1 (proxy ARP over the 2 µs veth: 4 µs), which ns-3's
    // point-to-point links do not have.
    let r = run_text(
        "pods",
        &pods(2, 2, 1, Encap::None)
            .to_ron()
            .replace("    capture: [],\n", ""),
    );
    let sent = |pod: &str| -> Vec<(u64, String)> {
        captured(&r, &format!("{pod}/eth0"), 0, u64::MAX)
            .into_iter()
            .filter(|(_, d)| d[12..14] == [0x08, 0x00] && d[23] == 17 && d[36..38] == [0, 9])
            .filter(|(_, d)| captured_from(&r, pod, d))
            .map(|(t, d)| (t / 1000, format!("{}.{}.{}.{}", d[30], d[31], d[32], d[33])))
            .collect()
    };
    assert_eq!(
        sent("node0-pod0"),
        [
            (4, "10.0.0.2".to_string()),
            (80, "10.0.1.1".to_string()),
            (160, "10.0.1.2".to_string())
        ]
    );
    assert_eq!(sent("node1-pod1")[0], (60, "10.0.0.1".to_string()));
    assert_eq!(sent("node1-pod1")[1], (140, "10.0.0.2".to_string()));
}

#[test]
fn the_same_workload_and_seed_give_the_same_bytes() {
    let text = pods(2, 3, 1, Encap::Vxlan)
        .to_ron()
        .replace("    capture: [],\n", "");
    let a = run_text("pods", &text);
    let b = run_text("pods", &text);
    assert_eq!(a.built.world.trace.packets, b.built.world.trace.packets);
    assert!(!a.built.world.trace.packets.is_empty());
}

#[test]
fn every_node_pair_of_a_racked_cluster_pings_with_ttl_62() {
    for encap in [Encap::Ipip, Encap::Vxlan, Encap::None] {
        let w = ClusterWorkload {
            nodes: 5,
            pods: 2,
            rack_size: 2,
            encap,
            gap_ns: 1000,
            seed: 3,
        };
        let r = run_text("cluster", &w.to_ron());
        let meshes = &r.built.world.ping_meshes;
        assert_eq!(meshes.iter().map(|m| m.results.len()).sum::<usize>(), 20);
        if encap != Encap::None {
            assert!(r.all_ok(), "{encap:?}: {}", sim::run::report(&r));
            continue;
        }
        // Calico BGP mode across racks is lab L3: bird's routes send the pods' packets to the
        // router, which has no route to the pod blocks. Pairs within a rack work.
        for (s, m) in meshes.iter().enumerate() {
            for (q, got) in m.results.iter().enumerate() {
                let d = (s + 1 + q) % 5;
                let want = if s / 2 == d / 2 {
                    sim::app::ping_mesh::MeshResult::Reply { ttl: 62 }
                } else {
                    sim::app::ping_mesh::MeshResult::Pending
                };
                assert_eq!(*got, want, "node{s} -> node{d}");
            }
        }
        let report = sim::run::report(&r);
        assert!(report.contains("router/eth0 IP_INNOROUTES"), "{report}");
        assert!(!r.all_ok());
    }
}

#[test]
fn bad_udp_traffic_is_refused_with_its_position() {
    let e = build_err(&TWO_NETNS.replace(
        "UdpEcho(from: \"a\", to: \"10.99.0.2\", port: 9",
        "UdpEcho(from: \"nowhere\", to: \"10.99.0.2\", port: 9",
    ));
    assert!(
        e.starts_with("bad.ron:") && e.contains("unknown netns \"nowhere\""),
        "{e}"
    );
    let e = build_err(&TWO_NETNS.replace(
        "UdpEchoServer(netns: \"b\", port: 9),",
        "UdpEchoServer(netns: \"b\", port: 9), UdpEchoServer(netns: \"b\", port: 9),",
    ));
    assert!(e.contains("port 9 of b is in use"), "{e}");
    let e = build_err(&TWO_NETNS.replace(
        "count: 1, start_ms: 0",
        "count: 1, start_ms: 0, size: 70000",
    ));
    assert!(e.contains("does not fit a datagram"), "{e}");
    let e = build_err("Scenario(traffic: [PodsEcho(k: 1)])");
    assert!(e.contains("PodsEcho: needs at least two pods"), "{e}");
}
