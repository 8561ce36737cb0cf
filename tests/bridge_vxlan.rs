//! Labs L5, L6 and L7: the cni0 bridge, Flannel and Calico VXLAN, their failure modes, and
//! fragmentation over the overlay's smaller MTU.

mod common;
use common::*;
use sim::run::RunResult;

/// Every frame captured on `netns/dev`, as (time ns, bytes).
fn frames(r: &RunResult, iface: &str) -> Vec<(u64, Vec<u8>)> {
    captured(r, iface, 0, u64::MAX)
}

fn is_arp_request_for(f: &[u8], target: [u8; 4]) -> bool {
    f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[21] == 1 && f[38..42] == target
}

fn ttls(p: &sim::app::ping::Ping) -> Vec<u8> {
    p.replies.iter().map(|r| r.ttl).collect()
}

#[test]
fn flannel_same_node_pods_talk_through_the_bridge_at_l2() {
    let r = run("flannel_same_node");
    assert_eq!(ttls(ping(&r, "pod1", "10.244.1.3", 0)), [64]);
    // Bridged, not routed: node1 forwarded nothing and delivered nothing.
    assert_eq!(counter(&r, "node1", "IpForwDatagrams"), 0);
    assert_eq!(counter(&r, "node1", "IpInDelivers"), 0);
    // pod1 ARPs for pod2 itself (a connected /24); pod2 answers with its own MAC.
    let p1 = frames(&r, "pod1/eth0");
    assert!(is_arp_request_for(&p1[0].1, [10, 244, 1, 3]));
    assert_eq!(p1[0].1[0..6], [0xff; 6]);
    let reply = p1
        .iter()
        .find(|(_, f)| f[12..14] == [8, 6] && f[21] == 2)
        .unwrap();
    assert_eq!(reply.1[6..12], [0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x03]);
    // Hairpin: the broadcast comes back to pod1's port, so pod1/eth0 sees it twice (out and
    // reflected in), pod2 once; cni0 (promiscuous under tcpdump) sees every frame once.
    let reqs = |iface: &str| {
        frames(&r, iface)
            .iter()
            .filter(|(_, f)| is_arp_request_for(f, [10, 244, 1, 3]))
            .count()
    };
    assert_eq!(reqs("pod1/eth0"), 2);
    assert_eq!(reqs("node1/veth0a0b0c01"), 2);
    assert_eq!(reqs("pod2/eth0"), 1);
    assert_eq!(reqs("node1/cni0"), 1);
    let on_cni0: Vec<_> = frames(&r, "node1/cni0")
        .into_iter()
        .filter(|(t, _)| *t < 1_000_000_000)
        .collect();
    assert_eq!(
        on_cni0.len(),
        4,
        "ARP request, reply, echo request, echo reply"
    );
    // The bridge learned both pods on their ports; brctl numbers ports in attach order.
    let w = &r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    let fdb = w.bridge_fdb_show(node1);
    assert!(
        fdb.contains("0a:58:0a:f4:01:02 dev veth0a0b0c01 master cni0 \n"),
        "{fdb}"
    );
    assert!(
        fdb.contains("0a:58:0a:f4:01:03 dev veth0a0b0c02 master cni0 \n"),
        "{fdb}"
    );
    let cni0 = w.dev_by_name(node1, "cni0").unwrap();
    let macs = w.brctl_showmacs(cni0);
    assert!(macs.contains("  1\t0a:58:0a:f4:01:02\tno\t\t"), "{macs}");
    assert!(macs.contains("  2\t0a:58:0a:f4:01:03\tno\t\t"), "{macs}");
    assert!(
        macs.contains("  2\t86:55:25:41:3d:02\tyes\t\t   0.00"),
        "{macs}"
    );
}

#[test]
fn without_hairpin_the_broadcast_is_not_reflected() {
    let r = run_variant(
        "flannel_same_node",
        &[(r#"master: "cni0", hairpin: true"#, r#"master: "cni0""#)],
    );
    let reqs = frames(&r, "pod1/eth0")
        .iter()
        .filter(|(_, f)| is_arp_request_for(f, [10, 244, 1, 3]))
        .count();
    assert_eq!(reqs, 1);
    assert_eq!(ttls(ping(&r, "pod1", "10.244.1.3", 0)), [64]);
}

#[test]
fn learned_fdb_entries_age_out_after_300_s() {
    // A no-op change at 400 s moves the clock past the ageing time of both learned entries
    // (their last frames were ARP probes around t = 5 s).
    let r = run_variant(
        "flannel_same_node",
        &[(
            "traffic: [",
            r#"changes: [(at_ms: 400000, netns: "node1", cmd: "sysctl -w net.ipv4.ip_forward=1")],
    traffic: ["#,
        )],
    );
    let w = &r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    let fdb = w.bridge_fdb_show(node1);
    assert!(!fdb.contains("0a:58:0a:f4:01:02"), "{fdb}");
    assert!(fdb.contains("86:55:25:41:3d:01 dev veth0a0b0c01 master cni0 permanent"));
}

/// The outer headers of the first VXLAN datagram captured on `iface`.
fn first_vxlan(r: &RunResult, iface: &str) -> Vec<u8> {
    frames(r, iface)
        .into_iter()
        .map(|(_, f)| f)
        .find(|f| f.len() > 42 && f[12..14] == [8, 0] && f[23] == 17)
        .unwrap_or_else(|| panic!("no UDP on {iface}"))
}

#[test]
fn flannel_vxlan_pod_to_remote_pod_over_8472() {
    let r = run("flannel_vxlan");
    assert_eq!(ttls(ping(&r, "pod1", "10.244.2.2", 0)), [62]);
    let f = first_vxlan(&r, "node1/eth0");
    // 14 + 20 + 8 + 8 + 98 bytes (R10.2).
    assert_eq!(f.len(), 148);
    let ip = &f[14..34];
    assert_eq!(ip[6] & 0x40, 0, "outer DF clear");
    assert_eq!(ip[8], 64, "outer TTL auto = ip_default_ttl");
    assert_eq!(ip[1], 0, "outer TOS");
    let udp = &f[34..42];
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    assert!((32768..60999).contains(&sport));
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 8472);
    assert_eq!(u16::from_be_bytes([udp[4], udp[5]]), 114);
    assert_ne!(
        u16::from_be_bytes([udp[6], udp[7]]),
        0,
        "udpcsum is the default"
    );
    assert_eq!(f[42..50], [0x08, 0, 0, 0, 0, 0, 1, 0], "VNI 1");
    // The inner frame is what flannel.1 transmitted: VTEP MACs, inner TTL 63.
    let inner = &f[50..];
    let on_flannel = &frames(&r, "node1/flannel.1")[0].1;
    assert_eq!(inner, &on_flannel[..]);
    assert_eq!(inner[0..6], [0x8e, 0, 0, 0, 0, 2]);
    assert_eq!(inner[6..12], [0x8e, 0, 0, 0, 0, 1]);
    assert_eq!(inner[14 + 8], 63);
    // Permanent neighbours: no ARP ever crosses the overlay.
    for iface in ["node1/flannel.1", "node2/flannel.1"] {
        assert!(frames(&r, iface).iter().all(|(_, f)| f[12..14] == [8, 0]));
    }
}

#[test]
fn calico_vxlan_matrix_and_the_rp_filter_asymmetry() {
    let r = run("calico_vxlan");
    assert_eq!(ttls(ping(&r, "pod1", "10.42.2.11", 0)), [62]);
    let f = first_vxlan(&r, "node1/eth0");
    assert_eq!(u16::from_be_bytes([f[36], f[37]]), 4789);
    assert_eq!(
        f[42..50],
        [0x08, 0, 0, 0, 0x00, 0x10, 0x00, 0],
        "VNI 4096 (R10.1)"
    );
    // node2 -> pod1 leaves from node2's vxlan.calico address.
    assert_eq!(ttls(ping(&r, "node2", "10.42.1.11", 10000)), [63, 63]);
    let w = &r.built.world;
    let node2 = w.ns_by_name("node2").unwrap();
    let rt = w
        .route_output_uncached(node2, "10.42.1.11".parse().unwrap(), None)
        .unwrap();
    assert_eq!(rt.src.to_string(), "10.42.2.0");
    // Pod -> remote node eth: native out, tunnelled back; strict rp_filter drops it at eth0.
    let p = ping(&r, "pod1", "10.211.55.6", 20000);
    assert!(p.replies.is_empty());
    assert_eq!(
        drops_of(&r, p),
        vec![("node2/eth0".to_string(), "IP_RPFILTER".to_string()); 2]
    );
    assert_eq!(counter(&r, "node2", "TcpExtIPReversePathFilter"), 2);
    assert_eq!(counter(&r, "node1", "TcpExtIPReversePathFilter"), 0);
    // Loose mode from 40 s: works, ttl=63, and the reply came back through the tunnel.
    assert_eq!(ttls(ping(&r, "pod1", "10.211.55.6", 41000)), [63, 63]);
}

#[test]
fn strict_rp_filter_on_vxlan_calico_drops_the_tunnelled_reply_instead() {
    // linux-semantics.md §12.7 table: all=0 on both nodes, node1 vxlan.calico=1: node1 drops
    // the tunnelled replies (inner source 10.211.55.6) on vxlan.calico.
    let r = run_variant(
        "calico_vxlan",
        &[
            (
                r#""net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1", "net.ipv4.conf.cali1.proxy_arp=1""#,
                r#""net.ipv4.conf.cali1.proxy_arp=1", "net.ipv4.conf.vxlan.calico.rp_filter=1""#,
            ),
            (
                r#""net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.default.rp_filter=1", "net.ipv4.conf.cali2.proxy_arp=1""#,
                r#""net.ipv4.conf.cali2.proxy_arp=1""#,
            ),
        ],
    );
    let p = ping(&r, "pod1", "10.211.55.6", 20000);
    assert!(p.replies.is_empty());
    // The requests reach node2 and are answered; the replies die on node1's vxlan.calico.
    assert_eq!(
        drops_of(&r, p),
        vec![("node1/vxlan.calico".to_string(), "IP_RPFILTER".to_string()); 2]
    );
    assert_eq!(counter(&r, "node1", "TcpExtIPReversePathFilter"), 2);
    assert_eq!(counter(&r, "node2", "TcpExtIPReversePathFilter"), 0);
}

#[test]
fn vxlan_without_fdb_entry_drops_silently_with_no_tx_target() {
    let r = run_variant(
        "calico_vxlan",
        &[(
            r#"fdb: ["66:00:00:00:00:02 dev vxlan.calico dst 10.211.55.6 self permanent"],"#,
            "",
        )],
    );
    let p = ping(&r, "pod1", "10.42.2.11", 0);
    assert!(p.replies.is_empty() && p.errors.is_empty(), "{:?}", p.lines);
    assert_eq!(
        drops_of(&r, p),
        [("node1/vxlan.calico".to_string(), "NO_TX_TARGET".to_string())]
    );
    let w = &r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    let vx = w.dev_by_name(node1, "vxlan.calico").unwrap();
    // pod1's request, then node1's replies to node2's two pings at 10 s.
    assert_eq!(w.devs[vx].stats.tx_dropped, 3);
    assert!(ping(&r, "node2", "10.42.1.11", 10000).replies.is_empty());
    // The frame was seen leaving vxlan.calico before the FDB lookup failed.
    let early: Vec<_> = frames(&r, "node1/vxlan.calico")
        .into_iter()
        .filter(|(t, _)| *t < 1_000_000_000)
        .collect();
    assert_eq!(early.len(), 1);
}

#[test]
fn vxlan_without_neighbour_arps_into_the_void_then_host_unreachable() {
    // R10.6: the ARP request on vxlan.calico has no FDB entry (no broadcast, no default) and is
    // dropped; after 3 s the entry is FAILED and the pod hears host unreachable from node1.
    let r = run_variant(
        "calico_vxlan",
        &[(
            r#"neigh: ["10.42.2.0 lladdr 66:00:00:00:00:02 dev vxlan.calico nud permanent"],"#,
            "",
        )],
    );
    let p = ping(&r, "pod1", "10.42.2.11", 0);
    assert!(p.replies.is_empty());
    assert_eq!(p.errors.len(), 1);
    assert!(
        p.lines
            .iter()
            .any(|l| l == "From 10.211.55.5 icmp_seq=1 Destination Host Unreachable"),
        "{:?}",
        p.lines
    );
    let arps: Vec<u64> = frames(&r, "node1/vxlan.calico")
        .iter()
        .filter(|(t, f)| *t < 5_000_000_000 && is_arp_request_for(f, [10, 42, 2, 0]))
        .map(|(t, _)| t / 1_000_000_000)
        .collect();
    assert_eq!(arps, [0, 1, 2], "three broadcasts, 1 s apart");
    let w = &r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    assert!(w
        .ip_neigh(node1)
        .contains("10.42.2.0 dev vxlan.calico FAILED"));
    let no_target = w
        .trace
        .drops
        .iter()
        .filter(|(d, _)| d.reason.kernel_name() == "NO_TX_TARGET" && d.ts.as_ns() < 5_000_000_000)
        .count();
    assert_eq!(no_target, 3, "each ARP request dies at the FDB lookup");
}

#[test]
fn big_pings_are_fragmented_to_the_overlay_mtu_and_reassembled() {
    // ping -s 3000 from a pod with MTU 1450: iputils does not set DF on a packet that does not
    // fit, so pod1 fragments (1444 + 1444 + 180 bytes of IP), every fragment crosses the
    // overlay on its own, pod2 reassembles and its reply is fragmented the same way.
    let r = run_variant(
        "flannel_vxlan",
        &[(
            "to: \"10.244.2.2\", count: 1,",
            "to: \"10.244.2.2\", count: 1, size: 3000,",
        )],
    );
    assert_eq!(ttls(ping(&r, "pod1", "10.244.2.2", 0)), [62]);
    let lens: Vec<usize> = frames(&r, "pod1/eth0")
        .iter()
        .filter(|(_, f)| f[12..14] == [8, 0] && f[26..30] == [10, 244, 1, 2])
        .map(|(_, f)| f.len() - 14)
        .collect();
    assert_eq!(lens, [1444, 1444, 180]);
    let offs: Vec<u16> = frames(&r, "pod1/eth0")
        .iter()
        .filter(|(_, f)| f[12..14] == [8, 0] && f[26..30] == [10, 244, 1, 2])
        .map(|(_, f)| u16::from_be_bytes([f[20], f[21]]))
        .collect();
    // MF + offset in 8-byte units: 0, 1424/8 = 178, 356.
    assert_eq!(offs, [0x2000, 0x2000 | 178, 356]);
    assert_eq!(counter(&r, "pod1", "IpFragCreates"), 3);
    assert_eq!(counter(&r, "pod2", "IpReasmOKs"), 1);
    assert_eq!(counter(&r, "pod2", "IpFragCreates"), 3);
    assert_eq!(counter(&r, "pod1", "IpReasmOKs"), 1);
}

#[test]
fn mtu_black_hole_frag_needed_then_the_pod_learns_the_path_mtu() {
    // Calico's cali veths left at 1500 while vxlan.calico is 1450: a full-size DF ping is
    // refused by node1 with "fragmentation needed" carrying the next-hop MTU; the pod's route
    // learns it and the next request goes out fragmented, and works.
    let r = run_variant(
        "calico_vxlan",
        &[(
            "to: \"10.42.2.11\", count: 1,",
            "to: \"10.42.2.11\", count: 3, size: 1472,",
        )],
    );
    let p = ping(&r, "pod1", "10.42.2.11", 0);
    assert_eq!(
        p.lines[1],
        "From 10.211.55.5 icmp_seq=1 Frag needed and DF set (mtu = 1450)"
    );
    assert_eq!(ttls(p), [62, 62]);
    assert_eq!(counter(&r, "node1", "IpFragFails"), 1);
    let drops = drops_of(&r, p);
    assert_eq!(
        drops,
        [("node1/cali1".to_string(), "PKT_TOO_BIG".to_string())]
    );
}

#[test]
fn a_port_going_down_flushes_what_the_bridge_learned_on_it() {
    let r = run_variant(
        "flannel_same_node",
        &[(
            "traffic: [",
            r#"changes: [(at_ms: 10000, netns: "node1", cmd: "ip link set veth0a0b0c01 down")],
    traffic: ["#,
        )],
    );
    let w = &r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    let fdb = w.bridge_fdb_show(node1);
    assert!(!fdb.contains("0a:58:0a:f4:01:02"), "{fdb}");
    assert!(
        fdb.contains("0a:58:0a:f4:01:03 dev veth0a0b0c02 master cni0 \n"),
        "{fdb}"
    );
    assert!(fdb.contains("86:55:25:41:3d:01 dev veth0a0b0c01 master cni0 permanent"));
    // And a port that is down no longer has 224.0.0.1's MAC in its list.
    assert!(!fdb.contains("01:00:5e:00:00:01 dev veth0a0b0c01 self permanent"));
}
