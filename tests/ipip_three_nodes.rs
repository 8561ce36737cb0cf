//! Lab L4 (seeds/004, with seeds/003's ens192 line): Calico IPIP on three nodes of one /24.
//! The same echo request seen at every hop, as the seed's four tcpdumps show it, TTLs, and
//! node1's `route -n`.

mod common;
use common::*;
use sim::trace::{Direction, LinkType};

const SCENARIO: &str = "ipip_three_nodes";
const EE: [u8; 6] = [0xee; 6];
const POD1_MAC: [u8; 6] = [0x9a, 0xf7, 0xa3, 0xbb, 0xea, 0x2b];
const POD2_MAC: [u8; 6] = [0x36, 0x1c, 0x52, 0x0e, 0x6d, 0xb2];
const NODE1_MAC: [u8; 6] = [0x00, 0x50, 0x56, 0x87, 0x78, 0x0b];
const NODE2_MAC: [u8; 6] = [0x00, 0x50, 0x56, 0x87, 0x78, 0x0c];
const POD1: [u8; 4] = [10, 233, 107, 250];
const POD2: [u8; 4] = [10, 233, 109, 178];

fn ttls(p: &sim::app::ping::Ping) -> Vec<u8> {
    p.replies.iter().map(|r| r.ttl).collect()
}

/// One captured copy of an ICMP echo packet, decoded with etherparse.
#[derive(Debug)]
struct Seen {
    ts: u64,
    dir: Direction,
    /// (dst, src) MACs, for Ethernet captures.
    eth: Option<([u8; 6], [u8; 6])>,
    /// The outer header of an IPIP packet: (src, dst, ttl, df).
    outer: Option<([u8; 4], [u8; 4], u8, bool)>,
    /// The innermost IPv4 header: (src, dst, ttl) and its bytes to the end.
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    ip: Vec<u8>,
    len: usize,
}

/// Echo packets of type `icmp_type` with this id and seq captured on `name`.
fn seen(r: &sim::run::RunResult, name: &str, icmp_type: u8, id: u16, seq: u16) -> Vec<Seen> {
    let w = &r.built.world;
    let i = w
        .trace
        .ifaces
        .iter()
        .position(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} is not captured"));
    let lt = w.trace.ifaces[i].link_type;
    let mut out = Vec::new();
    for c in w.trace.packets.iter().filter(|c| c.iface == i) {
        let sliced = match lt {
            LinkType::Ethernet => etherparse::SlicedPacket::from_ethernet(&c.data),
            LinkType::Raw => etherparse::SlicedPacket::from_ip(&c.data),
        }
        .unwrap();
        let eth = match &sliced.link {
            Some(etherparse::LinkSlice::Ethernet2(e)) => Some((e.destination(), e.source())),
            _ => None,
        };
        let Some(etherparse::NetSlice::Ipv4(mut ip)) = sliced.net else {
            continue; // ARP
        };
        let mut outer = None;
        if ip.payload().ip_number.0 == 4 {
            let h = ip.header();
            outer = Some((h.source(), h.destination(), h.ttl(), h.dont_fragment()));
            ip = etherparse::Ipv4Slice::from_slice(ip.payload().payload).unwrap();
        }
        if ip.payload().ip_number.0 != 1 {
            continue;
        }
        let icmp = ip.payload().payload;
        if icmp[0] != icmp_type
            || u16::from_be_bytes([icmp[4], icmp[5]]) != id
            || u16::from_be_bytes([icmp[6], icmp[7]]) != seq
        {
            continue;
        }
        let h = ip.header();
        out.push(Seen {
            ts: c.ts.as_ns(),
            dir: c.dir,
            eth,
            outer,
            src: h.source(),
            dst: h.destination(),
            ttl: h.ttl(),
            ip: h.slice().iter().chain(icmp).copied().collect(),
            len: c.data.len(),
        });
    }
    out
}

/// Exactly one copy on `name`.
fn one(r: &sim::run::RunResult, name: &str, icmp_type: u8, id: u16, seq: u16) -> Seen {
    let mut v = seen(r, name, icmp_type, id, seq);
    assert_eq!(v.len(), 1, "{name}: {v:?}");
    v.remove(0)
}

#[test]
fn pods_on_different_nodes_reach_each_other_with_ttl_62() {
    // Two forwarding hops (the two nodes); encapsulation and decapsulation do not count.
    let r = run(SCENARIO);
    assert_eq!(
        ttls(ping(&r, "sleep-curl-1", "10.233.109.178", 0)),
        [62, 62, 62]
    );
    assert_eq!(
        ttls(ping(&r, "sleep-curl-1", "10.233.88.225", 5000)),
        [62, 62]
    );
    assert_eq!(
        ttls(ping(&r, "sleep-curl-2", "10.233.88.225", 10000)),
        [62, 62]
    );
    // A node to a remote pod: one hop; the inner source is node1's tunl0 address (R2.3).
    let p = ping(&r, "node1", "10.233.109.178", 15000);
    assert_eq!(ttls(p), [63, 63]);
    let t = one(&r, "node2/tunl0", 8, p.spec.id, 1);
    assert_eq!(t.src, [10, 233, 107, 0]);
    assert!(r.built.world.trace.drops.is_empty());
    assert!(r.all_ok(), "{}", sim::run::report(&r));
}

#[test]
fn the_same_echo_request_is_seen_at_every_hop() {
    // The seed's captures on node1: pod eth0 and cali (Ethernet), tunl0 (raw IP), ens192 (IPIP
    // in Ethernet); then the same on node2 in reverse order.
    let r = run(SCENARIO);
    let (id, seq) = (24, 1);

    let pod = one(&r, "sleep-curl-1/eth0", 8, id, seq);
    assert_eq!(pod.dir, Direction::Out);
    assert_eq!(pod.eth, Some((EE, POD1_MAC)));
    assert_eq!(
        (pod.src, pod.dst, pod.ttl, pod.outer),
        (POD1, POD2, 64, None)
    );
    assert_eq!(pod.len, 98);

    // veth: the same frame, byte for byte, on the other end (R7.1).
    let cali = one(&r, "node1/cali747350e5fc9", 8, id, seq);
    assert_eq!(cali.dir, Direction::In);
    assert_eq!((cali.eth, cali.ttl, cali.len), (pod.eth, 64, 98));
    assert_eq!(cali.ip, pod.ip);

    // tunl0: raw IP (no link-layer header), after node1's forwarding decrement (R9.2).
    let tunl = one(&r, "node1/tunl0", 8, id, seq);
    assert_eq!(tunl.dir, Direction::Out);
    assert_eq!((tunl.eth, tunl.outer), (None, None));
    assert_eq!(
        (tunl.src, tunl.dst, tunl.ttl, tunl.len),
        (POD1, POD2, 63, 84)
    );

    // ens192: IP 10.7.120.11 > 10.7.120.12: IP 10.233.107.250 > 10.233.109.178 (R9.3): outer
    // TTL inherited from the inner (63), DF copied, 14 + 20 + 84 = 118 bytes.
    let ens = one(&r, "node1/ens192", 8, id, seq);
    assert_eq!(ens.dir, Direction::Out);
    assert_eq!(ens.eth, Some((NODE2_MAC, NODE1_MAC)));
    assert_eq!(
        ens.outer,
        Some(([10, 7, 120, 11], [10, 7, 120, 12], 63, true))
    );
    assert_eq!((ens.ttl, ens.len), (63, 118));
    assert_eq!(ens.ip, tunl.ip, "the inner packet is what tunl0 saw");

    // node2: the switch delivers the frame unchanged; tunl0 sees the decapsulated inner packet.
    let ens2 = one(&r, "node2/ens192", 8, id, seq);
    assert_eq!(ens2.dir, Direction::In);
    assert_eq!((ens2.eth, ens2.outer, ens2.len), (ens.eth, ens.outer, 118));
    assert_eq!(ens2.ip, ens.ip);
    let tunl2 = one(&r, "node2/tunl0", 8, id, seq);
    assert_eq!(tunl2.dir, Direction::In);
    assert_eq!((tunl2.eth, tunl2.outer, tunl2.ttl), (None, None, 63));
    assert_eq!(tunl2.ip, tunl.ip);
    let cali2 = one(&r, "node2/cali8e6ddf62423", 8, id, seq);
    assert_eq!(cali2.dir, Direction::Out);
    assert_eq!(cali2.eth, Some((POD2_MAC, EE)));
    assert_eq!((cali2.src, cali2.dst, cali2.ttl), (POD1, POD2, 62));
    let pod2 = one(&r, "sleep-curl-2/eth0", 8, id, seq);
    assert_eq!(pod2.dir, Direction::In);
    assert_eq!((pod2.eth, pod2.ttl), (cali2.eth, 62));
    assert_eq!(pod2.ip, cali2.ip);

    // In time order along the path.
    let path = [&pod, &cali, &tunl, &ens, &ens2, &tunl2, &cali2, &pod2];
    assert!(path.windows(2).all(|w| w[0].ts <= w[1].ts), "{path:?}");
    // The underlay crossing takes the segment's 50 µs.
    assert_eq!(ens2.ts - ens.ts, 50_000);

    // node3 is not on this path: the learning switch sent nothing of it there.
    for name in ["node3/ens192", "node3/tunl0", "sleep-curl-3/eth0"] {
        assert!(seen(&r, name, 8, id, seq).is_empty(), "{name}");
        assert!(seen(&r, name, 0, id, seq).is_empty(), "{name}");
    }
}

#[test]
fn the_echo_reply_comes_back_the_same_way() {
    let r = run(SCENARIO);
    let (id, seq) = (24, 1);
    let ens2 = one(&r, "node2/ens192", 0, id, seq);
    assert_eq!(ens2.dir, Direction::Out);
    assert_eq!(
        ens2.outer.map(|o| (o.0, o.1, o.2)),
        Some(([10, 7, 120, 12], [10, 7, 120, 11], 63))
    );
    assert_eq!((ens2.src, ens2.dst, ens2.ttl), (POD2, POD1, 63));
    let tunl = one(&r, "node1/tunl0", 0, id, seq);
    assert_eq!((tunl.dir, tunl.ttl), (Direction::In, 63));
    let pod = one(&r, "sleep-curl-1/eth0", 0, id, seq);
    assert_eq!(
        (pod.dir, pod.eth, pod.ttl),
        (Direction::In, Some((POD1_MAC, EE)), 62)
    );
}

#[test]
fn captures_are_the_seeds_interfaces_with_their_link_types() {
    let r = run(SCENARIO);
    let ifaces: &[sim::trace::CaptureIface] = &r.built.world.trace.ifaces;
    let mut names: Vec<&str> = ifaces.iter().map(|i| i.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "node1/cali747350e5fc9",
            "node1/ens192",
            "node1/tunl0",
            "node2/cali8e6ddf62423",
            "node2/ens192",
            "node2/tunl0",
            "node3/calie004be16fc5",
            "node3/ens192",
            "node3/tunl0",
            "sleep-curl-1/eth0",
            "sleep-curl-2/eth0",
            "sleep-curl-3/eth0",
        ]
    );
    for i in ifaces {
        let want = if i.name.ends_with("/tunl0") {
            LinkType::Raw
        } else {
            LinkType::Ethernet
        };
        assert_eq!(i.link_type, want, "{}", i.name);
    }
}

#[test]
fn tcpdump_reads_the_captures_as_the_seed_shows_them() {
    // The seed's lines (busybox ping: ids 21-24, seq from 0; here one iputils ping, id 24,
    // seq from 1). tcpdump >= 4.99 no longer appends " (ipip-proto-4)" (R9.5). Needs tcpdump;
    // CI installs it with tshark.
    if !tool_available("tcpdump") {
        return;
    }
    let r = run(SCENARIO);
    let dir = std::env::temp_dir().join(format!("sim-l4-tcpdump-{}", std::process::id()));
    sim::run::write_outputs(&r, &dir).unwrap();
    let req = "IP 10.233.107.250 > 10.233.109.178: ICMP echo request, id 24, seq 1, length 64";
    let rep = "IP 10.233.109.178 > 10.233.107.250: ICMP echo reply, id 24, seq 1, length 64";
    let cases = [
        (
            "sleep-curl-1-eth0",
            "EN10MB (Ethernet)",
            req.to_string(),
            rep.to_string(),
        ),
        (
            "node1-cali747350e5fc9",
            "EN10MB (Ethernet)",
            req.to_string(),
            rep.to_string(),
        ),
        (
            "node1-tunl0",
            "RAW (Raw IP)",
            req.to_string(),
            rep.to_string(),
        ),
        (
            "node1-ens192",
            "EN10MB (Ethernet)",
            format!("IP 10.7.120.11 > 10.7.120.12: {req}"),
            format!("IP 10.7.120.12 > 10.7.120.11: {rep}"),
        ),
    ];
    for (file, link, want_req, want_rep) in cases {
        let out = std::process::Command::new("tcpdump")
            .args(["-nn", "-r"])
            .arg(dir.join(format!("{file}.pcap")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("link-type {link}")), "{file}: {err}");
        let text = String::from_utf8_lossy(&out.stdout);
        // Drop the timestamp: "00:00:00.000006 IP ..." -> "IP ...".
        let lines: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(' ').map(|x| x.1))
            .collect();
        assert_eq!(
            lines.iter().filter(|l| **l == want_req).count(),
            1,
            "{file}:\n{text}"
        );
        assert_eq!(
            lines.iter().filter(|l| **l == want_rep).count(),
            1,
            "{file}:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn route_n_on_node1_has_the_seeds_rows() {
    // The seed's rows, with the host route for node1's own pod (the seed prints sleep-curl-3's
    // 10.233.88.225 there, which lives on node3).
    let r = run(SCENARIO);
    let w = &r.built.world;
    let text = w.route_n(w.ns_by_name("node1").unwrap());
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "Kernel IP routing table");
    assert_eq!(
        rows[1],
        "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface"
    );
    for want in [
        "0.0.0.0         10.7.0.1        0.0.0.0         UG    100    0        0 ens192",
        "10.233.107.250  0.0.0.0         255.255.255.255 UH    0      0        0 cali747350e5fc9",
        "10.233.109.0    10.7.120.12     255.255.255.0   UG    0      0        0 tunl0",
        "10.233.88.0     10.7.120.13     255.255.255.0   UG    0      0        0 tunl0",
    ] {
        assert!(rows.contains(&want), "no row {want:?} in\n{text}");
    }
}

#[test]
fn node_and_pod_views_read_as_in_the_seed() {
    let r = run(SCENARIO);
    let w = &r.built.world;
    let lines = |ns: &str| -> Vec<String> {
        w.ip_addr(w.ns_by_name(ns).unwrap())
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    };
    // The seed's `ip a` in sleep-curl-1:
    //   4: eth0@if115: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1480 qdisc noqueue state UP group default
    //       link/ether 9a:f7:a3:bb:ea:2b brd ff:ff:ff:ff:ff:ff link-netnsid 0
    //       inet 10.233.107.250/32 scope global eth0
    let a = lines("sleep-curl-1");
    let i = a.iter().position(|l| l.contains(": eth0@if")).unwrap();
    assert!(
        a[i].contains(
            ": <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1480 qdisc noqueue state UP group default"
        ),
        "{}",
        a[i]
    );
    assert!(a[i + 1].starts_with("    link/ether 9a:f7:a3:bb:ea:2b brd ff:ff:ff:ff:ff:ff"));
    assert_eq!(a[i + 2], "    inet 10.233.107.250/32 scope global eth0");
    // The seed's `ip link show cali747350e5fc9` on node1:
    //   114: cali747350e5fc9@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1480 qdisc noqueue state UP ...
    //       link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff link-netns cni-9d817ca4-...
    let n = lines("node1");
    let i = n
        .iter()
        .position(|l| l.contains(": cali747350e5fc9@if"))
        .unwrap();
    assert!(
        n[i].contains(": <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1480 qdisc noqueue state UP"),
        "{}",
        n[i]
    );
    assert_eq!(
        n[i + 1],
        "    link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff link-netns sleep-curl-1"
    );
    // tunl0 as Calico leaves it (R9.1): up, MTU 1480, the block's /32.
    let i = n.iter().position(|l| l.contains(": tunl0@NONE:")).unwrap();
    assert!(n[i].contains(": <NOARP,UP,LOWER_UP> mtu 1480 "), "{}", n[i]);
    assert_eq!(n[i + 1], "    link/ipip 0.0.0.0 brd 0.0.0.0");
    assert_eq!(n[i + 2], "    inet 10.233.107.0/32 scope global tunl0");
    // The pod's routes are Calico's.
    let rt = w.ip_route(w.ns_by_name("sleep-curl-1").unwrap());
    let rt: Vec<&str> = rt.lines().map(str::trim_end).collect();
    assert_eq!(
        rt,
        [
            "default via 169.254.1.1 dev eth0",
            "169.254.1.1 dev eth0 scope link"
        ]
    );
}
