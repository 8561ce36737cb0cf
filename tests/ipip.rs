//! Lab L2 and L3 (Calico IPIP): the seed's reachability matrix, TTLs, and where pings die.

mod common;
use common::*;

fn ttls(p: &sim::app::ping::Ping) -> Vec<u8> {
    p.replies.iter().map(|r| r.ttl).collect()
}

#[test]
fn pod_to_remote_pod_crosses_two_forwarding_hops() {
    // Both nodes forward (64 -> 63 -> 62); encapsulation and decapsulation do not decrement.
    let r = run("pod_to_remote_eth");
    assert_eq!(ttls(ping(&r, "pod11", "10.42.2.11", 0)), [62, 62]);
}

#[test]
fn pod_to_own_node_is_delivered_locally_with_ttl_64() {
    let r = run("pod_to_remote_eth");
    assert_eq!(ttls(ping(&r, "pod11", "10.211.55.5", 5000)), [64, 64]);
}

#[test]
fn pod_to_pod_on_one_node_is_one_hop() {
    let r = run("pod_to_remote_eth");
    assert_eq!(ttls(ping(&r, "pod11", "10.42.1.12", 10000)), [63, 63]);
}

#[test]
fn remote_node_reaches_pod_with_ttl_63_from_its_tunl0_address() {
    // R2.3/R12.4: the source of node2's ping is tunl0's /32, so rp_filter on node1's tunl0 passes.
    let r = run("pod_to_remote_eth");
    assert_eq!(ttls(ping(&r, "node2", "10.42.1.11", 15000)), [63, 63]);
    assert_eq!(ttls(ping(&r, "node1", "10.42.2.11", 20000)), [63, 63]);
    let w = &r.built.world;
    let node2 = w.ns_by_name("node2").unwrap();
    let rt = w
        .route_output_uncached(node2, "10.42.1.11".parse().unwrap(), None)
        .unwrap();
    assert_eq!(rt.src.to_string(), "10.42.2.0");
}

#[test]
fn rp_filter_strict_drops_pod_to_remote_node_eth_at_eth0() {
    // R12.5: the request leaves node1 natively; node2's reverse route to the pod is via tunl0,
    // so strict mode rejects it on eth0 and counts TcpExtIPReversePathFilter once per ping.
    let r = run("pod_to_remote_eth");
    let p = ping(&r, "pod11", "10.211.55.6", 25000);
    assert!(p.replies.is_empty());
    assert_eq!(p.sent.len(), 3);
    let drops = drops_of(&r, p);
    assert_eq!(
        drops,
        vec![("node2/eth0".to_string(), "IP_RPFILTER".to_string()); 3]
    );
    assert_eq!(counter(&r, "node2", "TcpExtIPReversePathFilter"), 3);
    assert_eq!(counter(&r, "node1", "TcpExtIPReversePathFilter"), 0);
}

#[test]
fn rp_filter_loose_lets_the_asymmetric_path_work() {
    // After all.rp_filter=2 on both nodes: request native, reply through the tunnel, ttl=63.
    let r = run("pod_to_remote_eth");
    let p = ping(&r, "pod11", "10.211.55.6", 41000);
    assert_eq!(ttls(p), [63, 63, 63]);
    let w = &r.built.world;
    // The reply crossed node2's tunl0 outbound (it was encapsulated) ...
    let tunl0 = w
        .trace
        .ifaces
        .iter()
        .position(|i| i.name == "node2/tunl0")
        .unwrap();
    let out_replies = w
        .trace
        .packets
        .iter()
        .filter(|c| {
            c.iface == tunl0
                && c.dir == sim::trace::Direction::Out
                && c.ts.as_ns() >= 41_000_000_000
        })
        .count();
    assert_eq!(out_replies, 3);
    assert!(r.all_ok(), "{}", sim::run::report(&r));
}

#[test]
fn pod_learns_its_gateway_by_proxy_arp_from_the_cali_device() {
    // R6.4: who-has 169.254.1.1 tell <pod>, answered with ee:ee:ee:ee:ee:ee.
    let r = run("pod_to_remote_eth");
    let w = &r.built.world;
    let iface = w
        .trace
        .ifaces
        .iter()
        .position(|i| i.name == "pod11/eth0")
        .unwrap();
    let frames: Vec<&Vec<u8>> = w
        .trace
        .packets
        .iter()
        .filter(|c| c.iface == iface)
        .map(|c| &c.data)
        .collect();
    let req = frames[0];
    assert_eq!(req.len(), 42, "ARP is not padded on veth (R5.1)");
    assert_eq!(&req[0..6], &[0xff; 6]);
    assert_eq!(&req[38..42], &[169, 254, 1, 1]);
    let rep = frames[1];
    assert_eq!(&rep[6..12], &[0xee; 6]);
    assert_eq!(&rep[20..22], &[0, 2]);
    assert_eq!(&rep[22..28], &[0xee; 6]);
}

#[test]
fn bgp_mode_dies_at_the_underlay_router_which_cannot_answer() {
    // L3: the router has no route for the pod block (IP_INNOROUTES) and none back to the pod,
    // so no ICMP error reaches the sender.
    let r = run("ipip_cross_subnet");
    let p = ping(&r, "pod-a", "192.168.169.196", 0);
    assert!(p.replies.is_empty() && p.errors.is_empty());
    assert_eq!(
        drops_of(&r, p),
        vec![("router/eth0".to_string(), "IP_INNOROUTES".to_string()); 3]
    );
    assert_eq!(counter(&r, "router", "IpExtInNoRoutes"), 3);
}

#[test]
fn ipip_mode_works_across_subnets_with_ttl_62() {
    let r = run("ipip_cross_subnet");
    let p = ping(&r, "pod-a", "192.168.169.196", 11000);
    assert_eq!(ttls(p), [62, 62, 62]);
    assert!(r.all_ok(), "{}", sim::run::report(&r));
}

#[test]
fn ipip_outer_header_is_the_kernels() {
    // R9.3: outer src by route to the gateway, dst the gateway, proto 4, TTL inherited from the
    // already-decremented inner (63), DF copied; Ethernet 118 bytes for a 56-byte ping.
    let r = run("ipip_cross_subnet");
    let w = &r.built.world;
    let iface = w
        .trace
        .ifaces
        .iter()
        .position(|i| i.name == "nodeA/eth0")
        .unwrap();
    let f = w
        .trace
        .packets
        .iter()
        .find(|c| {
            c.iface == iface
                && c.dir == sim::trace::Direction::Out
                && c.data.len() > 23
                && c.data[23] == 4
        })
        .expect("an IPIP frame on nodeA/eth0");
    let d = &f.data;
    assert_eq!(d.len(), 118);
    let outer = &d[14..34];
    assert_eq!(outer[8], 63, "outer TTL inherits the inner TTL");
    assert_eq!(outer[6] & 0x40, 0x40, "DF copied from the inner header");
    assert_eq!(&outer[12..16], &[10, 39, 0, 110]);
    assert_eq!(&outer[16..20], &[10, 39, 3, 75]);
    let inner = &d[34..54];
    assert_eq!(inner[8], 63);
    assert_eq!(&inner[12..16], &[192, 168, 70, 42]);
    assert_eq!(&inner[16..20], &[192, 168, 169, 196]);
    // tcpdump on tunl0 sees raw IP (LINKTYPE_RAW): the inner packet only.
    let tunl = w
        .trace
        .ifaces
        .iter()
        .find(|i| i.name == "nodeA/tunl0")
        .unwrap();
    assert_eq!(tunl.link_type, sim::trace::LinkType::Raw);
}

#[test]
fn every_packet_is_delivered_dropped_or_still_in_flight() {
    for name in shipped() {
        let r = run(&name);
        let t = &r.built.world.trace;
        assert_eq!(
            t.created,
            t.delivered + t.dropped + r.built.world.in_flight(),
            "{name}"
        );
    }
}

/// Runs an `ip` command in a netns of a built world, as a scheduled change would.
fn ip(w: &mut sim::world::World, ns: usize, cmd: &str) {
    let c = sim::iproute::parse_command(cmd).unwrap();
    w.apply_command(ns, &c).unwrap();
}

#[test]
fn a_route_change_reaches_lookups_made_before_it() {
    // The FIB cache: a lookup cached before `ip route replace` must not answer after it.
    let mut r = run("pod_to_remote_eth");
    let w = &mut r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    let dst = "10.42.2.11".parse().unwrap();
    // Enough routes that lookups go through the cache (small tables are scanned).
    for i in 1..=10 {
        ip(w, node1, &format!("ip route add 192.0.2.{i} dev eth0"));
    }
    let before = w.route_output(node1, dst, None, None).unwrap();
    assert_eq!(before.nexthop.to_string(), "10.211.55.6");
    ip(w, node1, "ip route replace 10.42.2.0/26 dev eth0");
    let after = w.route_output(node1, dst, None, None).unwrap();
    assert_eq!(after, w.route_output_uncached(node1, dst, None).unwrap());
    assert_eq!(after.nexthop, dst, "the new route is on-link");
    ip(w, node1, "ip route del 10.42.2.0/26 dev eth0");
    assert_eq!(w.route_output(node1, dst, None, None).unwrap(), before);
}

#[test]
fn the_martian_check_sees_addresses_added_and_removed() {
    let mut r = run("pod_to_remote_eth");
    let w = &mut r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    let a = "198.51.100.7".parse().unwrap();
    assert!(!w.has_ifaddr(node1, a));
    for (cmd, has) in [
        ("ip addr add 198.51.100.7/24 dev eth0", true),
        ("ip addr add 198.51.100.7/32 dev tunl0", true),
        ("ip addr del 198.51.100.7/24 dev eth0", true),
        ("ip addr del 198.51.100.7/32 dev tunl0", false),
    ] {
        ip(w, node1, cmd);
        assert_eq!(w.has_ifaddr(node1, a), has, "after {cmd}");
    }
}

#[test]
fn the_neighbour_layer_sees_a_nexthop_turn_broadcast() {
    // The neighbour layer remembers, per entry, the local table version under which the
    // nexthop was last found unicast: a change to the table must reach the next packet.
    let mut r = run("pod_to_remote_eth");
    let w = &mut r.built.world;
    let node1 = w.ns_by_name("node1").unwrap();
    let eth0 = w.dev_by_name(node1, "eth0").unwrap();
    let nexthop: std::net::Ipv4Addr = "10.211.55.6".parse().unwrap();
    w.enable_capture(eth0);
    let dst_mac = |w: &mut sim::world::World| {
        let pkt = w.new_pkt(None, vec![0x45; 20]);
        w.neigh_output(eth0, nexthop, pkt);
        let f = w.trace.packets.last().expect("a frame left eth0");
        <[u8; 6]>::try_from(&f.data[..6]).unwrap()
    };
    let unicast = dst_mac(w);
    assert_ne!(unicast, [0xff; 6], "node2 was resolved during the run");
    assert_eq!(dst_mac(w), unicast);
    let cmd = "ip route add broadcast 10.211.55.6 dev eth0 table local proto kernel scope link";
    ip(w, node1, cmd);
    assert_eq!(dst_mac(w), [0xff; 6]);
    ip(
        w,
        node1,
        "ip route del broadcast 10.211.55.6 dev eth0 table local",
    );
    assert_eq!(dst_mac(w), unicast);
}
