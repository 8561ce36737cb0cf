//! Netfilter NAT as CNI natOutgoing uses it: Calico's MASQUERADE fixing lab L2's asymmetric
//! path, --random-fully ids, ICMP errors about masqueraded flows, Calico's and Flannel's rule
//! lists, per-connection NAT decisions, conntrack timeouts, and bad lines. Every frame of every
//! run here must parse with valid checksums.

mod common;
use common::*;
use sim::run::RunResult;

const SEC: u64 = 1_000_000_000;

/// Runs a shipped scenario with text replacements (each must apply), and checks its frames.
fn run_checked(name: &str, edits: &[(&str, &str)]) -> RunResult {
    let r = run_variant(name, edits);
    check_all_frames(name, &r);
    r
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn ip(b: &[u8], at: usize) -> String {
    format!("{}.{}.{}.{}", b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// ICMP messages in Ethernet frames on `iface` in a window: (type, src, dst, id or 0, bytes
/// from the ICMP header on).
fn icmp_on(
    r: &RunResult,
    iface: &str,
    from_ns: u64,
    to_ns: u64,
) -> Vec<(u8, String, String, u16, Vec<u8>)> {
    captured(r, iface, from_ns, to_ns)
        .into_iter()
        .filter(|(_, f)| f.len() >= 42 && be16(f, 12) == 0x0800 && f[23] == 1)
        .map(|(_, f)| {
            let p = 14 + usize::from(f[14] & 0xf) * 4;
            (
                f[p],
                ip(&f, 26),
                ip(&f, 30),
                be16(&f, p + 4),
                f[p..].to_vec(),
            )
        })
        .collect()
}

fn ttls(p: &sim::app::ping::Ping) -> Vec<u8> {
    p.replies.iter().map(|r| r.ttl).collect()
}

#[test]
fn masquerade_makes_pod_to_remote_eth_work_under_strict_rp_filter() {
    // §12.5: with node1 masquerading, node2 sees node1's address, whose route is the connected
    // eth0 one, so strict rp_filter passes; the reply goes back natively and node1's conntrack
    // restores 10.42.1.11 before its own rp_filter and routing. ttl=63, symmetric path.
    let r = run("pod_to_remote_eth");
    check_all_frames("pod_to_remote_eth", &r);
    let p = ping(&r, "pod11", "10.211.55.6", 61000);
    assert_eq!(ttls(p), [63, 63, 63]);
    assert!(drops_of(&r, p).is_empty(), "{:?}", drops_of(&r, p));
    // Only the 25 s ping (before NAT, 3 requests) ever tripped rp_filter.
    assert_eq!(counter(&r, "node2", "TcpExtIPReversePathFilter"), 3);
    assert_eq!(counter(&r, "node1", "TcpExtIPReversePathFilter"), 0);
    let (from, to) = (61 * SEC, 64 * SEC);
    let id = p.spec.id;
    let node2 = icmp_on(&r, "node2/eth0", from, to);
    let want = [
        (8, "10.211.55.5", "10.211.55.6"),
        (0, "10.211.55.6", "10.211.55.5"),
    ];
    assert_eq!(node2.len(), 6, "{node2:?}");
    for (i, (t, s, d, wire_id, _)) in node2.iter().enumerate() {
        assert_eq!((*t, s.as_str(), d.as_str()), want[i % 2]);
        // Without --random-fully the id is kept.
        assert_eq!(*wire_id, id);
    }
    let pod = icmp_on(&r, "pod11/eth0", from, to);
    assert!(pod
        .iter()
        .filter(|m| m.0 == 0)
        .all(|m| (m.1.as_str(), m.2.as_str(), m.3) == ("10.211.55.6", "10.42.1.11", id)));
    assert_eq!(pod.iter().filter(|m| m.0 == 0).count(), 3);
    // The reply no longer comes through the tunnel.
    assert!(captured(&r, "node1/tunl0", from, to).is_empty());
}

const RANDOM_FULLY: (&str, &str) = ("-j MASQUERADE\")", "-j MASQUERADE --random-fully\")");

#[test]
fn random_fully_draws_the_echo_id_from_the_seed_and_the_pod_gets_its_own_back() {
    let r = run_checked("pod_to_remote_eth", &[RANDOM_FULLY]);
    let p = ping(&r, "pod11", "10.211.55.6", 61000);
    assert_eq!(ttls(p), [63, 63, 63]);
    let node2 = icmp_on(&r, "node2/eth0", 61 * SEC, 64 * SEC);
    let wire: Vec<u16> = node2.iter().map(|m| m.3).collect();
    // One connection, one binding: every request and reply carries the same drawn id.
    assert_eq!(wire.len(), 6);
    assert!(
        wire.iter().all(|&w| w == wire[0]) && wire[0] != p.spec.id,
        "{wire:?}"
    );
    let pod = icmp_on(&r, "pod11/eth0", 61 * SEC, 64 * SEC);
    assert!(pod.iter().all(|m| m.3 == p.spec.id));
    // The draw comes from the scenario's seed: the same seed draws it again, another does not.
    let again = run_checked("pod_to_remote_eth", &[RANDOM_FULLY]);
    assert_eq!(
        icmp_on(&again, "node2/eth0", 61 * SEC, 64 * SEC)[0].3,
        wire[0]
    );
    let other = run_checked(
        "pod_to_remote_eth",
        &[RANDOM_FULLY, ("seed: 1,", "seed: 7,")],
    );
    assert_ne!(
        icmp_on(&other, "node2/eth0", 61 * SEC, 64 * SEC)[0].3,
        wire[0]
    );
}

/// A router at 10.211.55.1 (the nodes' default gateway) that knows no other network.
const ROUTER: (&str, &str) = (
    "        (\n            name: \"pod21\",",
    "        (\n            name: \"router\",\n            devices: [(name: \"eth0\", kind: Nic(segment: \"underlay\"), mac: \"52:54:00:00:55:01\", addrs: [\"10.211.55.1/24\"])],\n            sysctls: [\"net.ipv4.ip_forward=1\"],\n        ),\n        (\n            name: \"pod21\",",
);

#[test]
fn an_icmp_error_from_a_router_reaches_the_pod_translated() {
    // The router has no route for 8.8.8.8 and answers node1's masqueraded address with net
    // unreachable. node1 finds the connection from the quoted packet and rewrites the error
    // back: outer destination, quoted source, quoted id and both checksums.
    let ping_line = r#"        Ping(from: "pod11", to: "10.211.55.6", count: 3, start_ms: 61000, expect: Reply(ttl: 63)),"#;
    let r = run_checked(
        "pod_to_remote_eth",
        &[
            ROUTER,
            RANDOM_FULLY,
            (
                ping_line,
                r#"        Ping(from: "pod11", to: "8.8.8.8", count: 1, start_ms: 61000, expect: Error(from: "10.211.55.1", text: "Destination Net Unreachable")),"#,
            ),
        ],
    );
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    let p = ping(&r, "pod11", "8.8.8.8", 61000);
    assert_eq!(
        p.lines[1],
        "From 10.211.55.1 icmp_seq=1 Destination Net Unreachable"
    );
    let (from, to) = (61 * SEC, 62 * SEC);
    // On the underlay the error is about node1's address and the drawn id.
    let on_eth = icmp_on(&r, "node1/eth0", from, to);
    let err = on_eth
        .iter()
        .find(|m| m.0 == 3)
        .expect("error on node1/eth0");
    assert_eq!(
        (err.1.as_str(), err.2.as_str()),
        ("10.211.55.1", "10.211.55.5")
    );
    let quoted = &err.4[8..];
    assert_eq!(ip(quoted, 12), "10.211.55.5");
    let wire_id = be16(quoted, 20 + 4);
    assert_ne!(wire_id, p.spec.id);
    // At the pod, everything is as if there had been no NAT.
    let at_pod = icmp_on(&r, "pod11/eth0", from, to);
    let err = at_pod.iter().find(|m| m.0 == 3).expect("error at pod11");
    assert_eq!(
        (err.1.as_str(), err.2.as_str()),
        ("10.211.55.1", "10.42.1.11")
    );
    let quoted = &err.4[8..];
    assert_eq!(
        (ip(quoted, 12), ip(quoted, 16)),
        ("10.42.1.11".into(), "8.8.8.8".into())
    );
    assert_eq!(be16(quoted, 20 + 4), p.spec.id);
    assert_eq!(sim::wire::checksum(&err.4), 0);
    assert_eq!(sim::wire::checksum(&quoted[..20]), 0);
    assert_eq!(
        sim::wire::checksum(&quoted[20..]),
        0,
        "quoted echo checksum"
    );
}

/// Felix's natOutgoing chains with its IP pool sets (`felix/rules/nat.go`,
/// `StaticNATPostroutingChains`), as a node's `ipsets` and `iptables` fields.
const FELIX: &str = r#"ipsets: [
                "create cali40masq-ipam-pools hash:net family inet",
                "add cali40masq-ipam-pools 10.42.0.0/16",
                "create cali40all-ipam-pools hash:net family inet",
                "add cali40all-ipam-pools 10.42.0.0/16",
            ],
            iptables: [
                "-w -t nat -N cali-POSTROUTING",
                "-w -t nat -N cali-nat-outgoing",
                "-w -t nat -A POSTROUTING -m comment --comment \"cali:O3lYWMrLQYEMJtB5\" -j cali-POSTROUTING",
                "-w -t nat -A cali-POSTROUTING -m comment --comment \"cali:nYKhEzDlr11Jccal\" -j cali-nat-outgoing",
                "-w -t nat -A cali-POSTROUTING -o tunl0 -m comment --comment \"cali:SXWvdsbh4Mw7wOln\" -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully",
                "-w -t nat -A cali-nat-outgoing -m comment --comment \"cali:flqWnvo8yq4ULQLa\" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully",
            ],
            routes: [
                "default via 10.211.55.1 dev eth0",
                "blackhole 10.42.1.0/24 proto bird","#;

/// `iptables -t nat -S` after the FELIX lines, as iptables-nft 1.8.9 printed it on Linux 6.18.
const FELIX_SAVE: &str = r#"-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N cali-POSTROUTING
-N cali-nat-outgoing
-A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING
-A cali-POSTROUTING -m comment --comment "cali:nYKhEzDlr11Jccal" -j cali-nat-outgoing
-A cali-POSTROUTING -o tunl0 -m comment --comment "cali:SXWvdsbh4Mw7wOln" -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully
-A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully
"#;

fn with_felix() -> RunResult {
    run_checked(
        "pod_to_remote_eth",
        &[
            (
                "            routes: [\n                \"default via 10.211.55.1 dev eth0\",\n                \"blackhole 10.42.1.0/24 proto bird\",",
                FELIX,
            ),
            (
                r#"expect: Drop(reason: "IP_RPFILTER", at: "node2/eth0")),"#,
                "expect: Reply(ttl: 63)),",
            ),
            (
                r#"        (at_ms: 60000, netns: "node1", cmd: "iptables -t nat -A POSTROUTING -s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE"),"#,
                "",
            ),
        ],
    )
}

#[test]
fn calicos_rules_leave_pod_to_pod_and_tunnel_traffic_alone() {
    // cali-nat-outgoing masquerades only pool sources going outside every pool, and the tunl0
    // rule only host sources that are not tunl0's own address.
    let r = with_felix();
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    let w = &r.built.world;
    assert_eq!(
        w.iptables_nat_save(w.ns_by_name("node1").unwrap()).unwrap(),
        FELIX_SAVE
    );
    // pod11 -> pod21 through tunl0: pod21 sees pod11's own address, and the id.
    let p = ping(&r, "pod11", "10.42.2.11", 0);
    assert_eq!(ttls(p), [62, 62]);
    let at21 = icmp_on(&r, "pod21/eth0", 0, SEC);
    assert!(at21
        .iter()
        .any(|m| m.0 == 8 && m.1 == "10.42.1.11" && m.3 == p.spec.id));
    // node2 -> pod11: the reply leaves node1 by tunl0 from a pod address: not NATed.
    let at_node2 = icmp_on(&r, "pod11/eth0", 15 * SEC, 16 * SEC);
    assert!(at_node2.iter().any(|m| m.0 == 8 && m.1 == "10.42.2.0"));
    // pod11 -> node1's own eth0 address: delivered locally, no POSTROUTING, no NAT.
    assert_eq!(ttls(ping(&r, "pod11", "10.211.55.5", 5000)), [64, 64]);
    // pod11 -> node2's eth0 address now works already at 25 s, and its id was redrawn.
    let p = ping(&r, "pod11", "10.211.55.6", 25000);
    assert_eq!(ttls(p), [63, 63, 63]);
    let on_node2 = icmp_on(&r, "node2/eth0", 25 * SEC, 26 * SEC);
    let req = on_node2.iter().find(|m| m.0 == 8).unwrap();
    assert_eq!(req.1, "10.211.55.5");
    assert_ne!(req.3, p.spec.id);
    assert_eq!(counter(&r, "node2", "TcpExtIPReversePathFilter"), 0);
}

#[test]
fn a_flow_that_did_not_match_at_its_first_packet_is_never_natted() {
    // NAT is decided per connection, at its first packet: with conntrack running (a nat table
    // exists) but no MASQUERADE yet, the 25 s ping's connection gets a null binding, and the
    // rule added 2 s into it changes nothing for it: every request still leaves as 10.42.1.11
    // and dies at node2's rp_filter. A new connection after the old one timed out (30 s idle)
    // is masqueraded.
    let r = run_checked(
        "pod_to_remote_eth",
        &[
            (
                "            routes: [\n                \"default via 10.211.55.1 dev eth0\",\n                \"blackhole 10.42.1.0/24 proto bird\",",
                "            iptables: [\"-t nat -N KEEP\"],\n            routes: [\n                \"default via 10.211.55.1 dev eth0\",\n                \"blackhole 10.42.1.0/24 proto bird\",",
            ),
            (
                r#"count: 3, start_ms: 25000,"#,
                r#"count: 6, start_ms: 25000,"#,
            ),
            (
                r#"        (at_ms: 40000, netns: "node1","#,
                r#"        (at_ms: 27500, netns: "node1", cmd: "iptables -t nat -A POSTROUTING -s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE"),
        (at_ms: 40000, netns: "node1","#,
            ),
            (
                r#"        (at_ms: 60000, netns: "node1", cmd: "iptables -t nat -A POSTROUTING -s 10.42.0.0/16 ! -d 10.42.0.0/16 -j MASQUERADE"),"#,
                "",
            ),
        ],
    );
    let p = ping(&r, "pod11", "10.211.55.6", 25000);
    let drops = drops_of(&r, p);
    assert_eq!(drops.len(), 6, "{drops:?}");
    assert!(drops
        .iter()
        .all(|d| d == &("node2/eth0".to_string(), "IP_RPFILTER".to_string())));
    let on_node2 = icmp_on(&r, "node2/eth0", 25 * SEC, 31 * SEC);
    assert!(on_node2.iter().all(|m| m.1 == "10.42.1.11"), "{on_node2:?}");
    // Later pings are new connections (other ids) and are masqueraded.
    let late = icmp_on(&r, "node2/eth0", 61 * SEC, 62 * SEC);
    assert!(late.iter().any(|m| m.0 == 8 && m.1 == "10.211.55.5"));
}

#[test]
fn conntrack_entries_expire_after_30_s_of_icmp_silence() {
    // nf_conntrack_icmp_timeout: the connection of the 61 s ping is listed at 70 s, with the
    // seconds left counted from its last packet (63 s), and gone 30 s after that.
    let base = std::fs::read_to_string(scenario_path("pod_to_remote_eth")).unwrap();
    let list_at = |ms: u64| {
        // A no-op change moves the clock to `ms`, where the run stops and node1 is listed.
        let text = base.replacen(
            "    changes: [",
            &format!(
                "    changes: [\n        (at_ms: {ms}, netns: \"node1\", cmd: \"sysctl -w net.ipv4.ip_forward=1\"),"
            ),
            1,
        );
        let s = sim::scenario::parse("x.ron", &text).unwrap();
        let mut b = sim::scenario::build("x.ron", &text, &s).unwrap();
        b.until = Some(sim::time::Instant::from_ns(ms * 1_000_000));
        let r = sim::run::run_built(b).unwrap();
        let w = &r.built.world;
        assert_eq!(w.now().as_ns(), ms * 1_000_000);
        w.conntrack_list(w.ns_by_name("node1").unwrap())
    };
    let at70 = list_at(70_000);
    let id = {
        let r = run("pod_to_remote_eth");
        ping(&r, "pod11", "10.211.55.6", 61000).spec.id
    };
    assert_eq!(
        at70,
        format!(
            "icmp     1 23 src=10.42.1.11 dst=10.211.55.6 type=8 code=0 id={id} src=10.211.55.6 dst=10.211.55.5 type=0 code=0 id={id} mark=0 use=1\n"
        )
    );
    assert_eq!(list_at(93_500), "");
}

/// Flannel's chain for cluster 10.244.0.0/16 and node1's lease 10.244.1.0/24
/// (`pkg/trafficmngr/iptables/iptables.go`, `masqRules`).
const FLANNEL: &str = r#"iptables: [
                "-t nat -N FLANNEL-POSTRTG",
                "-t nat -A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG",
                "-t nat -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment \"flanneld masq\" -j RETURN",
                "-t nat -A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j RETURN",
                "-t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment \"flanneld masq\" -j RETURN",
                "-t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment \"flanneld masq\" -j RETURN",
                "-t nat -A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully",
                "-t nat -A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully",
            ],
            routes: ["10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"],"#;

/// `iptables -t nat -S` after the FLANNEL lines, as iptables-nft 1.8.9 printed it.
const FLANNEL_SAVE: &str = r#"-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N FLANNEL-POSTRTG
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
"#;

#[test]
fn flannels_rules_masquerade_only_traffic_leaving_the_cluster() {
    // R10.8: pod-to-pod RETURNs; pod to a node address is masqueraded (--random-fully); the
    // host's own traffic to a remote pod leaves from flannel.1's cluster address, unNATed.
    let r = run_checked(
        "flannel_vxlan",
        &[
            (
                r#"routes: ["10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"],"#,
                FLANNEL,
            ),
            (
                r#"        Ping(from: "pod1", to: "10.244.2.2", count: 1, expect: Reply(ttl: 62)),"#,
                r#"        Ping(from: "pod1", to: "10.244.2.2", count: 1, expect: Reply(ttl: 62)),
        Ping(from: "pod1", to: "192.168.0.82", count: 1, start_ms: 5000, expect: Reply(ttl: 63)),
        Ping(from: "node1", to: "10.244.2.2", count: 1, start_ms: 10000, expect: Reply(ttl: 63)),"#,
            ),
        ],
    );
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    let w = &r.built.world;
    assert_eq!(
        w.iptables_nat_save(w.ns_by_name("node1").unwrap()).unwrap(),
        FLANNEL_SAVE
    );
    let pod2 = icmp_on(&r, "pod2/eth0", 0, SEC);
    assert!(pod2.iter().any(|m| m.0 == 8 && m.1 == "10.244.1.2"));
    let p = ping(&r, "pod1", "192.168.0.82", 5000);
    let node2 = icmp_on(&r, "node2/eth0", 5 * SEC, 6 * SEC);
    let req = node2.iter().find(|m| m.0 == 8).unwrap();
    assert_eq!(req.1, "192.168.0.81");
    assert_ne!(req.3, p.spec.id);
    let pod2 = icmp_on(&r, "pod2/eth0", 10 * SEC, 11 * SEC);
    assert!(pod2.iter().any(|m| m.0 == 8 && m.1 == "10.244.1.0"));
}

#[test]
fn nat_rule_sets_print_as_iptables_save() {
    // Calico's and Flannel's rule sets as `iptables -t nat -S` prints them (the same texts the
    // tests above compare with iptables-nft 1.8.9's own output).
    for (name, edits) in [
        (
            "calico_felix",
            [(
                "            routes: [\n                \"default via 10.211.55.1 dev eth0\",\n                \"blackhole 10.42.1.0/24 proto bird\",",
                FELIX,
            )],
        ),
        (
            "flannel",
            [(
                r#"routes: ["10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"],"#,
                FLANNEL,
            )],
        ),
    ] {
        let base = if name == "flannel" { "flannel_vxlan" } else { "pod_to_remote_eth" };
        let mut text = std::fs::read_to_string(scenario_path(base)).unwrap();
        text = text.replacen(edits[0].0, edits[0].1, 1);
        let s = sim::scenario::parse("x.ron", &text).unwrap();
        let b = sim::scenario::build("x.ron", &text, &s).unwrap();
        let w = &b.world;
        insta::assert_snapshot!(
            format!("{name}_iptables_nat"),
            w.iptables_nat_save(w.ns_by_name("node1").unwrap()).unwrap()
        );
    }
}

#[test]
fn masquerading_vxlan_outer_packets_rewrites_the_udp_port_and_checksum() {
    // A MASQUERADE --random-fully for UDP on node1 catches the VXLAN outer packets: the source
    // address stays (it is eth0's), the source port is redrawn in 1024-65535 with the UDP
    // checksum updated, and node2's VXLAN socket, which ignores source ports, still decaps.
    let r = run_checked(
        "calico_vxlan",
        &[(
            r#"fdb: ["66:00:00:00:00:02 dev vxlan.calico dst 10.211.55.6 self permanent"],"#,
            r#"fdb: ["66:00:00:00:00:02 dev vxlan.calico dst 10.211.55.6 self permanent"],
            iptables: ["-t nat -A POSTROUTING -o eth0 -p udp -j MASQUERADE --random-fully"],"#,
        )],
    );
    let p = ping(&r, "pod1", "10.42.2.11", 0);
    assert_eq!(ttls(p), [62]);
    let inner = captured(&r, "node1/vxlan.calico", 0, SEC);
    let outer = captured(&r, "node1/eth0", 0, SEC);
    let vx: Vec<&Vec<u8>> = outer
        .iter()
        .map(|(_, f)| f)
        .filter(|f| f.len() > 42 && f[23] == 17 && be16(f, 36) == 4789)
        .collect();
    assert_eq!(vx.len(), 2, "request and reply");
    // The request's port is node1's NAT draw, not its flow hash: run without the rule.
    let plain = run("calico_vxlan");
    let plain_port = captured(&plain, "node1/eth0", 0, SEC)
        .into_iter()
        .find(|(_, f)| f.len() > 42 && f[23] == 17 && be16(f, 36) == 4789)
        .map(|(_, f)| be16(&f, 34))
        .unwrap();
    let natted = be16(vx[0], 34);
    assert_ne!(natted, plain_port);
    assert!(natted >= 1024);
    assert!(!inner.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Bad lines.

const BASE: &str = r#"Scenario(
    netns: [
        (
            name: "a",
            devices: [(name: "eth0", kind: Veth(peer: "b/eth0"), addrs: ["10.0.0.1/24"])],
            ipsets: [SETS],
            iptables: [RULES],
        ),
        (name: "b", devices: [(name: "eth0", kind: Veth(peer: "a/eth0"), addrs: ["10.0.0.2/24"])]),
    ],
    changes: [CHANGES],
)"#;

fn scenario(sets: &str, rules: &str, changes: &str) -> String {
    BASE.replace("SETS", sets)
        .replace("RULES", rules)
        .replace("CHANGES", changes)
}

#[test]
fn bad_iptables_and_ipset_lines_name_file_line_and_column() {
    let cases = [
        (
            scenario(
                "",
                r#""-t nat -A POSTROUTING -j DNAT --to-destination 10.0.0.9""#,
                "",
            ),
            "bad.ron:7:24:",
            "\"-j DNAT\" is not supported by the simulator",
        ),
        (
            scenario("", r#""-A FORWARD -j ACCEPT""#, ""),
            "bad.ron:7:24:",
            "only the nat table is modelled",
        ),
        (
            scenario(
                "",
                r#""-t nat -A POSTROUTING -m conntrack --ctstate NEW -j RETURN""#,
                "",
            ),
            "bad.ron:7:24:",
            "\"-m conntrack\" is not supported",
        ),
        (
            scenario("", r#""-t nat -A POSTROUTING -j NOSUCH""#, ""),
            "bad.ron:7:24:",
            "Chain 'NOSUCH' does not exist",
        ),
        (
            scenario("", r#""-t nat -A PREROUTING -j MASQUERADE""#, ""),
            "bad.ron:7:24:",
            "RULE_APPEND failed (Invalid argument): rule in chain PREROUTING",
        ),
        (
            scenario("", r#""-t nat -A POSTROUTING -i eth0 -j RETURN""#, ""),
            "bad.ron:7:24:",
            "Can't use -i with POSTROUTING",
        ),
        (
            scenario(
                "",
                r#""-t nat -A POSTROUTING -m set --match-set pools src -j RETURN""#,
                "",
            ),
            "bad.ron:7:24:",
            "Set pools doesn't exist.",
        ),
        (
            scenario(
                "",
                r#""-t nat -A POSTROUTING -s 10.0.0.0/33 -j RETURN""#,
                "",
            ),
            "bad.ron:7:24:",
            "invalid mask `33' specified",
        ),
        (
            scenario(
                "",
                r#""-t nat -A POSTROUTING -j SNAT --to-source 10.0.0.1-10.0.0.9""#,
                "",
            ),
            "bad.ron:7:24:",
            "only one address",
        ),
        (
            scenario(r#""create pools hash:ip""#, "", ""),
            "bad.ron:6:22:",
            "ipset type \"hash:ip\" is not supported",
        ),
        (
            scenario(r#""add pools 10.42.0.0/16""#, "", ""),
            "bad.ron:6:22:",
            "The set with the given name does not exist",
        ),
        (
            scenario(
                "",
                "",
                r#"(at_ms: 5, netns: "a", cmd: "iptables -t nat -A POSTROUTING -j MASQUERADE --to-ports 1024")"#,
            ),
            "bad.ron:11:",
            "\"--to-ports\" is not supported",
        ),
    ];
    for (text, at, msg) in cases {
        let e = build_err(&text);
        assert!(
            e.starts_with(at) && e.contains(msg),
            "want {at} {msg:?}, got: {e}"
        );
    }
}

#[test]
fn a_timed_iptables_change_that_fails_is_logged_with_iptables_text() {
    // Timed changes are parsed when the scenario is built, applied at their time; what only the
    // kernel can refuse (a chain that does not exist then) is reported in the run's log.
    let text = scenario(
        "",
        "",
        r#"(at_ms: 5, netns: "a", cmd: "iptables -t nat -A POSTROUTING -j LATER"),
        (at_ms: 6, netns: "a", cmd: "iptables -t nat -N LATER"),
        (at_ms: 7, netns: "a", cmd: "iptables -t nat -A POSTROUTING -j LATER")"#,
    );
    let s = sim::scenario::parse("t.ron", &text).unwrap();
    let b = sim::scenario::build("t.ron", &text, &s).unwrap();
    let r = sim::run::run_built(b).unwrap();
    let log: Vec<&str> = r
        .built
        .world
        .trace
        .log
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(
        log,
        [
            "iptables -t nat -A POSTROUTING -j LATER: iptables v1.8.9 (nf_tables): Chain 'LATER' does not exist",
            "iptables -t nat -N LATER",
            "iptables -t nat -A POSTROUTING -j LATER",
        ]
    );
}

#[test]
fn masquerade_out_of_tunl0_rewrites_the_inner_packet_and_not_the_outer() {
    // R13.10: POSTROUTING runs for the inner packet on tunl0 (MASQUERADE picks tunl0's
    // address for the gateway, 10.42.1.0), then again for the outer IPIP packet on eth0,
    // which this rule does not match. The reply comes back inside IPIP, is decapsulated onto
    // tunl0 and de-NATed there before routing sends it to pod11.
    let r = run_checked(
        "pod_to_remote_eth",
        &[(
            "            routes: [\n                \"default via 10.211.55.1 dev eth0\",\n                \"blackhole 10.42.1.0/24 proto bird\",",
            "            iptables: [\"-t nat -A POSTROUTING -o tunl0 -s 10.42.1.0/24 -j MASQUERADE\"],\n            routes: [\n                \"default via 10.211.55.1 dev eth0\",\n                \"blackhole 10.42.1.0/24 proto bird\",",
        )],
    );
    let p = ping(&r, "pod11", "10.42.2.11", 0);
    assert_eq!(ttls(p), [62, 62]);
    let at21 = icmp_on(&r, "pod21/eth0", 0, SEC);
    assert!(
        at21.iter().filter(|m| m.0 == 8).all(|m| m.1 == "10.42.1.0"),
        "{at21:?}"
    );
    // On the underlay: outer node1 -> node2, inner from tunl0's address.
    let outer = captured(&r, "node1/eth0", 0, SEC);
    let req = outer
        .iter()
        .map(|(_, f)| f)
        .find(|f| f.len() > 54 && f[23] == 4 && f[34 + 20] == 8)
        .expect("IPIP echo request on node1/eth0");
    assert_eq!(
        (ip(req, 26), ip(req, 30)),
        ("10.211.55.5".into(), "10.211.55.6".into())
    );
    assert_eq!(
        (ip(req, 34 + 12), ip(req, 34 + 16)),
        ("10.42.1.0".into(), "10.42.2.11".into())
    );
    // conntrack on node1 tracks both: the echo, NATed, and the IPIP outer flow (generic, 600 s).
    let w = &r.built.world;
    let list = w.conntrack_list(w.ns_by_name("node1").unwrap());
    assert!(
        list.lines().any(|l| l.starts_with("unknown  4 ")
            && l.contains("src=10.211.55.5 dst=10.211.55.6 src=10.211.55.6 dst=10.211.55.5")),
        "{list}"
    );
}

#[test]
fn masquerade_without_any_address_drops_the_packet() {
    // `nf_nat_masquerade_ipv4`: inet_select_addr finds no universe-scope address on the out
    // device nor anywhere else in the netns ("ate my IP address"): NF_DROP.
    let text = r#"Scenario(
    netns: [
        (name: "pod", devices: [(name: "eth0", kind: Veth(peer: "gw/in"), addrs: ["10.0.0.2/32"])],
         routes: ["default dev eth0"]),
        (
            name: "gw",
            devices: [
                (name: "in", kind: Veth(peer: "pod/eth0")),
                (name: "out", kind: Veth(peer: "far/eth0")),
            ],
            sysctls: ["net.ipv4.ip_forward=1", "net.ipv4.conf.in.proxy_arp=1", "net.ipv4.neigh.in.proxy_delay=0"],
            routes: ["10.0.0.2 dev in scope link", "default dev out"],
            iptables: ["-t nat -A POSTROUTING -o out -j MASQUERADE"],
        ),
        (name: "far", devices: [(name: "eth0", kind: Veth(peer: "gw/out"), addrs: ["192.0.2.1/24"])]),
    ],
    traffic: [Ping(from: "pod", to: "192.0.2.1", count: 2, expect: Drop(reason: "NETFILTER_DROP", at: "gw/out"))],
)"#;
    let s = sim::scenario::parse("x.ron", text).unwrap();
    let b = sim::scenario::build("x.ron", text, &s).unwrap();
    let r = sim::run::run_built(b).unwrap();
    assert!(r.all_ok(), "{}", sim::run::report(&r));
    // Nothing left gw: the drop happened before the neighbour layer.
    assert!(captured(&r, "gw/out", 0, u64::MAX).is_empty());
}
