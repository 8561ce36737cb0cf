//! ICMP errors where Linux sends them, with Linux's rate limits (R1.6, R3.6, R5.3).

mod common;

fn run_text(text: &str) -> sim::run::RunResult {
    common::run_text("t", text)
}

const LAB: &str = r#"Scenario(
    netns: [
        (name: "h", devices: [(name: "eth0", kind: Veth(peer: "r/eth0"), addrs: ["10.0.0.2/24"])],
         routes: ["default via 10.0.0.1 dev eth0"]),
        (name: "r", devices: [(name: "eth0", kind: Veth(peer: "h/eth0"), addrs: ["10.0.0.1/24"])],
         sysctls: ["net.ipv4.ip_forward=1"], routes: ["unreachable 10.7.0.0/16"]),
    ],
    traffic: [TRAFFIC],
)"#;

#[test]
fn unreachable_route_errors_are_rate_limited_to_the_first_four_of_ten() {
    // R1.6 (verified on 6.18): ip_error's bucket (cost 1 s, burst 5 s) and the ICMP limiter
    // (cost 1 s, burst 6 s) share the peer's tokens; at 1 ping/s only pings 1-4 get an error.
    let r = run_text(&LAB.replace("TRAFFIC", r#"Ping(from: "h", to: "10.7.0.1", count: 10)"#));
    let p = &r.built.world.pings[0];
    let seqs: Vec<u16> = p.errors.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert!(p
        .lines
        .contains(&"From 10.0.0.1 icmp_seq=1 Destination Host Unreachable".to_string()));
    let rlimited = r.built.world.ns[1].counter("IcmpOutRateLimitHost");
    assert_eq!(rlimited, 6);
}

#[test]
fn unreachable_route_errors_at_five_per_second_reach_only_the_first_two() {
    // R3.6: "At 5/s, only the first 2 got errors."
    let r = run_text(&LAB.replace(
        "TRAFFIC",
        r#"Ping(from: "h", to: "10.7.0.1", count: 10, interval_ms: 200)"#,
    ));
    let seqs: Vec<u16> = r.built.world.pings[0]
        .errors
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [1, 2]);
}

#[test]
fn failed_arp_sends_three_broadcasts_then_host_unreachable_from_own_address() {
    // R5.3: requests at 0, 1, 2 s; FAILED at 3 s; the queued packet gets ICMP host unreachable,
    // which the host sends to itself, so ping prints its own address.
    let r = run_text(&LAB.replace("TRAFFIC", r#"Ping(from: "h", to: "10.0.0.9", count: 1)"#));
    let w = &r.built.world;
    let p = &w.pings[0];
    assert_eq!(
        p.lines[1],
        "From 10.0.0.2 icmp_seq=1 Destination Host Unreachable"
    );
    let iface = w
        .trace
        .ifaces
        .iter()
        .position(|i| i.name == "h/eth0")
        .unwrap();
    let arp_times: Vec<u64> = w
        .trace
        .packets
        .iter()
        .filter(|c| {
            c.iface == iface
                && c.dir == sim::trace::Direction::Out
                && c.data[12..14] == [0x08, 0x06]
        })
        .map(|c| c.ts.as_ns() / 1_000_000)
        .collect();
    assert_eq!(arp_times, [0, 1000, 2000]);
    let drop = w
        .trace
        .drops
        .iter()
        .find(|(d, _)| d.reason == sim::drop::DropReason::NeighFailed)
        .unwrap();
    assert_eq!(drop.0.place.to_string(), "h/eth0");
    assert_eq!(drop.0.ts.as_ns(), 3_000_000_000);
    assert!(
        w.ip_neigh(0).contains("10.0.0.9 dev eth0 FAILED"),
        "{}",
        w.ip_neigh(0)
    );
}

#[test]
fn ttl_expiry_in_transit_gets_time_exceeded_from_the_router() {
    // R3.1: a packet to be forwarded that arrives with TTL 1 is answered with ICMP 11/0 from
    // the address facing the sender; the router counts IpInHdrErrors. (Routing comes first: to
    // an `unreachable` prefix the answer would be host unreachable instead.)
    let text = LAB
        .replace("TRAFFIC", r#"Ping(from: "h", to: "10.8.0.1", count: 1)"#)
        .replace(
            r#"routes: ["unreachable 10.7.0.0/16"]"#,
            r#"routes: ["unreachable 10.7.0.0/16", "10.8.0.0/16 via 10.0.0.2 dev eth0"]"#,
        );
    let text = text.replace(
        r#"routes: ["default via 10.0.0.1 dev eth0"]),"#,
        r#"routes: ["default via 10.0.0.1 dev eth0"], sysctls: ["net.ipv4.ip_default_ttl=1"]),"#,
    );
    let r = run_text(&text);
    let p = &r.built.world.pings[0];
    assert_eq!(p.lines[1], "From 10.0.0.1 icmp_seq=1 Time to live exceeded");
    assert_eq!(r.built.world.ns[1].counter("IpInHdrErrors"), 1);
}
