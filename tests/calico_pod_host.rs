//! Lab L1 (seeds/000, "calico pod-host通信手动模拟"): a Calico pod wired to its node by hand.
//! Node <-> pod reachability, the pod's gateway 169.254.1.1 resolved by proxy ARP (with and
//! without proxy_delay), the unanswered ARP on a node without a covering route (R5.3, R6.1),
//! and the pod's `ip a` / `ip r` / `ip neigh` as the seed shows them.

mod common;
use common::*;
use sim::trace::Direction;

const SCENARIO: &str = "calico_pod_host";
const EE: [u8; 6] = [0xee; 6];
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

fn ttls(p: &sim::app::ping::Ping) -> Vec<u8> {
    p.replies.iter().map(|r| r.ttl).collect()
}

/// The scenario, stopped at `ms` of virtual time (as `sim routes --at-ms`).
fn run_until(ms: u64) -> sim::run::RunResult {
    let path = scenario_path(SCENARIO);
    let (mut s, text) = sim::scenario::load(&path).unwrap();
    s.duration_ms = Some(ms);
    let b = sim::scenario::build(&path.display().to_string(), &text, &s).unwrap();
    sim::run::run_built(b).unwrap()
}

/// One ARP packet on the wire, decoded by bytes (R5.1 layout).
#[derive(Debug, PartialEq)]
struct Arp {
    ts: u64,
    dir: Direction,
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    op: u16,
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
}

fn parse_arp(ts: u64, dir: Direction, d: &[u8]) -> Option<Arp> {
    if d.len() < 42 || d[12..14] != [0x08, 0x06] {
        return None;
    }
    assert_eq!(d.len(), 42, "ARP on a veth is not padded (R5.1)");
    assert_eq!(&d[14..20], &[0, 1, 8, 0, 6, 4], "Ethernet/IPv4 ARP");
    Some(Arp {
        ts,
        dir,
        eth_dst: d[0..6].try_into().unwrap(),
        eth_src: d[6..12].try_into().unwrap(),
        op: u16::from_be_bytes([d[20], d[21]]),
        sha: d[22..28].try_into().unwrap(),
        spa: d[28..32].try_into().unwrap(),
        tha: d[32..38].try_into().unwrap(),
        tpa: d[38..42].try_into().unwrap(),
    })
}

fn iface(r: &sim::run::RunResult, name: &str) -> usize {
    r.built
        .world
        .trace
        .ifaces
        .iter()
        .position(|i| i.name == name)
        .unwrap_or_else(|| panic!("{name} is not captured"))
}

/// Every frame captured on `name` within [from, to) ns.
fn frames(
    r: &sim::run::RunResult,
    name: &str,
    from: u64,
    to: u64,
) -> Vec<(u64, Direction, Vec<u8>)> {
    let i = iface(r, name);
    r.built
        .world
        .trace
        .packets
        .iter()
        .filter(|c| c.iface == i && (from..to).contains(&c.ts.as_ns()))
        .map(|c| (c.ts.as_ns(), c.dir, c.data.clone()))
        .collect()
}

fn arps(r: &sim::run::RunResult, name: &str, from: u64, to: u64) -> Vec<Arp> {
    frames(r, name, from, to)
        .iter()
        .filter_map(|(ts, dir, d)| parse_arp(*ts, *dir, d))
        .collect()
}

fn mac_of(r: &sim::run::RunResult, ns: &str, dev: &str) -> [u8; 6] {
    let w = &r.built.world;
    let d = w.dev_by_name(w.ns_by_name(ns).unwrap(), dev).unwrap();
    w.devs[d].mac
}

/// The text with each line's trailing spaces removed (iproute2 ends most lines with one).
fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end().to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn node_and_pod_ping_each_other_with_ttl_64() {
    // The seed: `ping 10.42.1.13` from the host and `ping <host eth>` from ns3, both ttl=64:
    // the node routes to the pod through tap3 and delivers the pod's requests locally.
    let r = run(SCENARIO);
    assert_eq!(ttls(ping(&r, "node1", "10.42.1.13", 0)), [64, 64]);
    assert_eq!(ttls(ping(&r, "pod13", "10.211.55.5", 5000)), [64, 64]);
    assert_eq!(counter(&r, "node1", "IpForwDatagrams"), 0);
    assert!(r.all_ok(), "{}", sim::run::report(&r));
}

#[test]
fn node_arps_for_the_pod_on_tap3_with_its_eth0_address() {
    // tap3 has no address: the ARP sender IP is inet_select_addr's pick, eth0's (R5.3).
    let r = run(SCENARIO);
    let a = arps(&r, "node1/tap3", 0, S);
    assert_eq!(a.len(), 2, "{a:?}");
    let (req, rep) = (&a[0], &a[1]);
    assert_eq!((req.dir, req.op), (Direction::Out, 1));
    assert_eq!(req.eth_dst, [0xff; 6]);
    assert_eq!(req.sha, EE);
    assert_eq!((req.spa, req.tpa), ([10, 211, 55, 5], [10, 42, 1, 13]));
    assert_eq!((rep.dir, rep.op), (Direction::In, 2));
    assert_eq!(rep.sha, [0x12, 0xca, 0x8c, 0x21, 0x5a, 0xc4]);
    assert_eq!(rep.eth_dst, EE);
}

#[test]
fn the_static_neigh_entry_means_the_pod_never_arps_for_its_gateway() {
    let r = run(SCENARIO);
    let pod13 = mac_of(&r, "pod13", "eth0");
    let out: Vec<_> = frames(&r, "pod13/eth0", 0, u64::MAX)
        .into_iter()
        .filter(|(_, dir, _)| *dir == Direction::Out)
        .collect();
    assert!(out
        .iter()
        .all(|(_, _, d)| parse_arp(0, Direction::Out, d).is_none_or(|a| a.op == 2)));
    // Its first echo request (t=5 s) goes straight to ee:ee:ee:ee:ee:ee.
    let (ts, _, first) = out
        .iter()
        .find(|(_, _, d)| d[12..14] == [8, 0] && d[34] == 8)
        .unwrap();
    assert_eq!(*ts, 5 * S);
    assert_eq!(&first[0..6], &EE);
    assert_eq!(&first[6..12], &pod13);
}

#[test]
fn pod_without_static_neigh_gets_a_proxy_reply_after_a_random_proxy_delay() {
    // R6.3: tap4 keeps the kernel's proxy_delay (80 = 0.8 s), as the seed never changes it, so
    // the broadcast request is answered after a uniform random delay in [0, 0.8 s).
    let r = run(SCENARIO);
    let pod14 = mac_of(&r, "pod14", "eth0");
    let a = arps(&r, "pod14/eth0", 10 * S, 11 * S);
    assert_eq!(
        a.len(),
        2,
        "one request (answered before the 1 s retransmit), one reply: {a:?}"
    );
    let (req, rep) = (&a[0], &a[1]);
    assert_eq!(
        (req.ts, req.dir, req.op, req.eth_dst, req.eth_src),
        (10 * S, Direction::Out, 1, [0xff; 6], pod14)
    );
    assert_eq!(
        (req.sha, req.spa, req.tha, req.tpa),
        (pod14, [10, 42, 1, 14], [0; 6], [169, 254, 1, 1])
    );
    // The reply: unicast to the pod, from and about tap4's own MAC, for the address asked (R6.2).
    assert_eq!(
        (rep.dir, rep.op, rep.eth_dst, rep.eth_src),
        (Direction::In, 2, pod14, EE)
    );
    assert_eq!(
        (rep.sha, rep.spa, rep.tha, rep.tpa),
        (EE, [169, 254, 1, 1], pod14, [10, 42, 1, 14])
    );
    // Two veth crossings take 4 µs; the rest is the proxy delay.
    let delay = rep.ts - req.ts - 4_000;
    assert!(delay > 0 && delay < 800 * MS, "proxy delay {delay} ns");
    // tap4 sends it `delay` after it got the request.
    let t = arps(&r, "node1/tap4", 10 * S, 11 * S);
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].dir, t[1].dir), (Direction::In, Direction::Out));
    assert_eq!(t[1].ts - t[0].ts, delay);
    // The queued echo request leaves when the reply arrives; its RTT includes the delay.
    let p = ping(&r, "pod14", "10.211.55.5", 10000);
    assert_eq!(ttls(p), [64, 64]);
    assert!(p.replies[0].rtt.as_ns() > delay);
    assert!(p.replies[1].rtt.as_ns() < 10_000);
}

#[test]
fn with_proxy_delay_0_as_felix_sets_the_proxy_reply_is_immediate() {
    let r = run(SCENARIO);
    let pod15 = mac_of(&r, "pod15", "eth0");
    let a = arps(&r, "pod15/eth0", 10 * S, 11 * S);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        (a[0].op, a[0].tpa, a[0].spa),
        (1, [169, 254, 1, 1], [10, 42, 1, 15])
    );
    assert_eq!((a[1].op, a[1].sha, a[1].eth_dst), (2, EE, pod15));
    assert_eq!(a[1].ts - a[0].ts, 4_000, "only the two veth crossings");
    assert_eq!(ttls(ping(&r, "pod15", "10.211.55.5", 10000)), [64, 64]);
}

#[test]
fn without_a_covering_route_the_gateway_arp_goes_unanswered() {
    // R6.1: node2 has no route for 169.254.1.1, so tap3 does not proxy. R5.3: 3 broadcast
    // requests at 0, 1, 2 s, FAILED at 3 s, host unreachable from the pod's own address.
    let r = run(SCENARIO);
    let pod23 = mac_of(&r, "pod23", "eth0");
    let a = arps(&r, "pod23/eth0", 0, 20 * S);
    let want: Vec<Arp> = [0, S, 2 * S]
        .iter()
        .map(|&ts| Arp {
            ts,
            dir: Direction::Out,
            eth_dst: [0xff; 6],
            eth_src: pod23,
            op: 1,
            sha: pod23,
            spa: [10, 42, 2, 13],
            tha: [0; 6],
            tpa: [169, 254, 1, 1],
        })
        .collect();
    assert_eq!(a, want);
    // Nothing else crosses the veth before node2 gets its default route: no reply, no IP.
    assert_eq!(frames(&r, "pod23/eth0", 0, 20 * S).len(), 3);
    let on_tap: Vec<_> = frames(&r, "node2/tap3", 0, 20 * S);
    assert_eq!(on_tap.len(), 3);
    assert!(on_tap.iter().all(|(_, dir, _)| *dir == Direction::In));

    let p = ping(&r, "pod23", "10.211.55.6", 0);
    assert!(p.replies.is_empty());
    let errs: Vec<(u16, String, u8, u8)> = p
        .errors
        .iter()
        .map(|e| (e.seq, e.from.to_string(), e.icmp_type, e.code))
        .collect();
    assert_eq!(
        errs,
        (1..=3)
            .map(|s| (s, "10.42.2.13".to_string(), 3, 1))
            .collect::<Vec<_>>()
    );
    for seq in 1..=3 {
        let l = format!("From 10.42.2.13 icmp_seq={seq} Destination Host Unreachable");
        assert!(p.lines.contains(&l), "{:?}", p.lines);
    }
    assert!(
        p.lines.iter().any(
            |l| l.starts_with("3 packets transmitted, 0 received, +3 errors, 100% packet loss")
        ),
        "{:?}",
        p.lines
    );
    // The requests die in the pod's neighbour queue, all at 3 s.
    assert_eq!(
        drops_of(&r, p),
        vec![("pod23/eth0".to_string(), "NEIGH_FAILED".to_string()); 3]
    );
    let w = &r.built.world;
    assert!(w
        .trace
        .drops
        .iter()
        .filter(|(d, _)| d.place.to_string() == "pod23/eth0")
        .all(|(d, _)| d.ts.as_ns() == 3 * S));
}

#[test]
fn the_unanswered_gateway_entry_ends_failed_and_node2_learns_nothing() {
    // At 5 s: the pod's entry is FAILED (R5.3, R5.9: it stays listed); node2 has no entry for
    // the pod (arp_accept=0, and without a route the request is not a proxy candidate).
    let r = run_until(5000);
    let w = &r.built.world;
    let pod23 = w.ns_by_name("pod23").unwrap();
    let node2 = w.ns_by_name("node2").unwrap();
    assert_eq!(lines(&w.ip_neigh(pod23)), ["169.254.1.1 dev eth0 FAILED"]);
    assert_eq!(w.ip_neigh(node2).trim(), "");
    // At 2.5 s it is still INCOMPLETE.
    let r = run_until(2500);
    let w = &r.built.world;
    assert_eq!(
        lines(&w.ip_neigh(pod23)),
        ["169.254.1.1 dev eth0 INCOMPLETE"]
    );
}

#[test]
fn a_default_route_on_node2_makes_proxy_arp_answer() {
    // R6.1 (verified): adding `default via 10.211.55.1 dev eth0` made proxy ARP answer at once.
    let r = run(SCENARIO);
    let a = arps(&r, "pod23/eth0", 21 * S, 22 * S);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!((a[0].ts, a[0].op, a[0].tpa), (21 * S, 1, [169, 254, 1, 1]));
    assert_eq!((a[1].ts, a[1].op, a[1].sha), (21 * S + 4_000, 2, EE));
    assert_eq!(ttls(ping(&r, "pod23", "10.211.55.6", 21000)), [64, 64]);
}

#[test]
fn the_pod_view_reads_as_in_the_seed() {
    // The seed's pod (busybox `ip`, its addresses here adapted to pod13/node1):
    //   3: eth0@if17: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 qdisc noqueue
    //   link/ether 12:ca:8c:21:5a:c4 brd ff:ff:ff:ff:ff:ff
    //   inet 10.10.50.16/32 scope global eth0
    //   valid_lft forever preferred_lft forever
    let r = run(SCENARIO);
    let w = &r.built.world;
    let pod13 = w.ns_by_name("pod13").unwrap();
    let node1 = w.ns_by_name("node1").unwrap();
    let tap3 = w.devs[w.dev_by_name(node1, "tap3").unwrap()].ifindex;
    let a = lines(&w.ip_addr(pod13));
    let head = a.iter().find(|l| l.contains(": eth0@")).unwrap();
    assert!(
        head.starts_with(&format!(
            "2: eth0@if{tap3}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP"
        )),
        "{head}"
    );
    let i = a.iter().position(|l| l == head).unwrap();
    assert!(a[i + 1].starts_with("    link/ether 12:ca:8c:21:5a:c4 brd ff:ff:ff:ff:ff:ff"));
    assert_eq!(a[i + 2], "    inet 10.42.1.13/32 scope global eth0");
    assert_eq!(a[i + 3], "       valid_lft forever preferred_lft forever");
    assert_eq!(a.len(), i + 4, "no other address: {a:?}");

    // `ip r`, exactly the seed's two lines, in every pod.
    for pod in ["pod13", "pod14", "pod15", "pod23"] {
        let ns = w.ns_by_name(pod).unwrap();
        assert_eq!(
            lines(&w.ip_route(ns)),
            [
                "default via 169.254.1.1 dev eth0",
                "169.254.1.1 dev eth0 scope link"
            ],
            "{pod}"
        );
    }

    // `ip neigh`: the seed's pod learned its gateway by proxy ARP and the node's address when
    // the node ARPed it (both STALE, lladdr ee:ee:ee:ee:ee:ee):
    //   169.254.1.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee used 0/0/0 probes 1 STALE
    //   178.104.227.4 dev eth0 lladdr ee:ee:ee:ee:ee:ee used 0/0/0 probes 0 STALE
    // pod14 is that pod; pod13's gateway entry is the static one (`ip neigh add`: PERMANENT).
    let pod14 = w.ns_by_name("pod14").unwrap();
    assert_eq!(
        sorted(lines(&w.ip_neigh(pod14))),
        [
            "10.211.55.5 dev eth0 lladdr ee:ee:ee:ee:ee:ee STALE",
            "169.254.1.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee STALE",
        ]
    );
    assert_eq!(
        sorted(lines(&w.ip_neigh(pod13))),
        [
            "10.211.55.5 dev eth0 lladdr ee:ee:ee:ee:ee:ee STALE",
            "169.254.1.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee PERMANENT",
        ]
    );
}

#[test]
fn the_host_side_is_the_seeds_tap3() {
    // `ip link set address ee:ee:ee:ee:ee:ee dev tap3`, no address on it, `ip r a 10.42.1.13
    // dev tap3` (scope link), and the route proxy ARP needs.
    let r = run(SCENARIO);
    let w = &r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    let a = lines(&w.ip_addr(node1));
    let i = a
        .iter()
        .position(|l| l.starts_with("3: tap3@if2: "))
        .unwrap();
    assert!(a[i + 1].starts_with("    link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff"));
    assert!(
        a[i + 2].starts_with("4: tap4@"),
        "tap3 has no address: {a:?}"
    );
    let rt = lines(&w.ip_route(node1));
    assert!(
        rt.contains(&"10.42.1.13 dev tap3 scope link".to_string()),
        "{rt:?}"
    );
    assert!(
        rt.contains(&"default via 10.211.55.1 dev eth0".to_string()),
        "{rt:?}"
    );
    let node2 = w.ns_by_name("node2").unwrap();
    let tap3 = w.dev_by_name(node2, "tap3").unwrap();
    assert!(w.devs[tap3].conf.proxy_arp);
    let tap4 = w.dev_by_name(node1, "tap4").unwrap();
    assert_eq!(
        w.devs[tap4].conf.proxy_delay.as_ns(),
        800 * MS,
        "kernel default"
    );
}
