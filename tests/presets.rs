//! Cluster presets: what `sim expand` prints for each shipped preset, that the presets program
//! the same routes as the hand-built labs they model, that the expansion is a scenario of its
//! own, and reachability of each Calico and flannel mode under each rp_filter value, with and
//! without natOutgoing.

mod common;
use common::*;
use sim::run::RunResult;
use std::collections::BTreeSet;

/// The shipped scenarios that use a `cluster` section.
fn presets() -> Vec<String> {
    shipped()
        .into_iter()
        .filter(|n| {
            let text = std::fs::read_to_string(scenario_path(n)).unwrap();
            text.contains("cluster: (")
        })
        .collect()
}

fn expand_text(path: &str, text: &str) -> Result<String, String> {
    let s = sim::scenario::parse(path, text).map_err(|e| e.to_string())?;
    let e = sim::scenario::expand(path, text, &s).map_err(|e| e.to_string())?;
    Ok(sim::scenario::emit::to_ron(&e))
}

#[test]
fn expansion_of_each_preset() {
    let names = presets();
    assert!(names.len() >= 7, "presets found: {names:?}");
    for name in names {
        let path = scenario_path(&name);
        let text = std::fs::read_to_string(&path).unwrap();
        let out = expand_text(&path.display().to_string(), &text).unwrap();
        insta::assert_snapshot!(format!("{name}__expand"), out);
    }
}

#[test]
fn expansion_runs_as_its_own_scenario_with_identical_traces() {
    // `sim expand` output is a low-level scenario: run it and the preset; every captured frame
    // and the report must be the same.
    for name in presets() {
        let path = scenario_path(&name);
        let text = std::fs::read_to_string(&path).unwrap();
        let expanded = expand_text(&path.display().to_string(), &text).unwrap();
        assert!(
            !expanded.contains("cluster"),
            "{name}: expansion keeps a cluster section"
        );
        let a = run(&name);
        let b = run_text(&name, &expanded);
        assert_eq!(
            sim::run::report(&a),
            sim::run::report(&b),
            "{name}: reports differ"
        );
        let frames = |r: &RunResult| {
            r.built
                .world
                .trace
                .packets
                .iter()
                .map(|p| (p.iface, p.ts.as_ns(), p.data.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(frames(&a), frames(&b), "{name}: traces differ");
        assert!(a.all_ok(), "{name}: expectations fail");
    }
}

/// `ip route` of a netns with the CNI's generated interface names replaced, since the hand
/// labs name their veths by hand.
fn routes(r: &RunResult, ns: &str) -> String {
    let w = &r.built.world;
    let i = w.ns_by_name(ns).unwrap_or_else(|| panic!("no netns {ns}"));
    w.ip_route(i)
        .split_whitespace()
        .map(|t| {
            if t.starts_with("cali") && t.len() > 4 {
                "caliX"
            } else if t.starts_with("veth") && t.len() == 12 {
                "vethX"
            } else {
                t
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn presets_program_the_routes_of_the_hand_built_labs() {
    // (preset, hand-built lab): every netns of the lab that the preset also has must show the
    // same `ip route` at the end of the run (after the lab's own changes).
    let pairs = [
        ("calico_ipip_preset", "pod_to_remote_eth"),
        ("calico_ipip_cross_subnet_preset", "ipip_cross_subnet"),
        ("calico_ipip_three_nodes_preset", "ipip_three_nodes"),
        ("calico_vxlan_preset", "calico_vxlan"),
        ("flannel_vxlan_preset", "flannel_vxlan"),
    ];
    for (preset, lab) in pairs {
        let p = run(preset);
        let l = run(lab);
        let names = |r: &RunResult| -> BTreeSet<String> {
            r.built.world.ns.iter().map(|n| n.name.clone()).collect()
        };
        let common: Vec<String> = names(&p).intersection(&names(&l)).cloned().collect();
        assert!(
            common.len() >= 4,
            "{preset} vs {lab}: netns in common: {common:?}"
        );
        for ns in common {
            assert_eq!(routes(&p, &ns), routes(&l, &ns), "{preset} vs {lab}: {ns}");
        }
    }
}

/// Calico on two nodes of one subnet, pods pod1 (node1) and pod2 (node2).
fn calico_pair(pool: &str, rp: u8, nat: bool) -> String {
    format!(
        r#"Scenario(
    seed: 9,
    cluster: (
        cni: Calico(cidr: "10.42.0.0/16", {pool}natOutgoing: {nat}),
        rp_filter: {rp},
        nodes: [
            (name: "node1", ip: "10.211.55.5/24", gateway: "10.211.55.1", pods: [(name: "pod1")]),
            (name: "node2", ip: "10.211.55.6/24", gateway: "10.211.55.1", pods: [(name: "pod2")]),
        ],
    ),
    traffic: [
        Ping(from: "pod1", to: "pod2", count: 2, start_ms: 0),
        Ping(from: "pod1", to: "node1", count: 1, start_ms: 3000),
        Ping(from: "node2", to: "pod1", count: 1, start_ms: 4000),
        Ping(from: "node1", to: "pod2", count: 1, start_ms: 5000),
        Ping(from: "pod1", to: "node2", count: 2, start_ms: 6000),
    ],
)"#
    )
}

/// flannel on two nodes of one subnet, pods pod1 (node1) and pod2 (node2).
fn flannel_pair(backend: &str, rp: u8, masq: bool) -> String {
    format!(
        r#"Scenario(
    seed: 9,
    cluster: (
        cni: Flannel(network: "10.244.0.0/16", backend: {backend}, ipMasq: {masq}),
        rp_filter: {rp},
        nodes: [
            (name: "node1", ip: "192.168.0.81/24", pods: [(name: "pod1")]),
            (name: "node2", ip: "192.168.0.82/24", pods: [(name: "pod2")]),
        ],
    ),
    traffic: [
        Ping(from: "pod1", to: "pod2", count: 2, start_ms: 0),
        Ping(from: "pod1", to: "node1", count: 1, start_ms: 3000),
        Ping(from: "node2", to: "pod1", count: 1, start_ms: 4000),
        Ping(from: "node1", to: "pod2", count: 1, start_ms: 5000),
        Ping(from: "pod1", to: "node2", count: 2, start_ms: 6000),
    ],
)"#
    )
}

/// Each ping's outcome: `ttl=N` if every request was answered with that TTL, else the first
/// drop as `place REASON`.
fn outcomes(r: &RunResult) -> Vec<String> {
    let w = &r.built.world;
    w.pings
        .iter()
        .map(|p| {
            let ttls: BTreeSet<u8> = p.replies.iter().map(|x| x.ttl).collect();
            if p.replies.len() == usize::from(p.spec.count) && ttls.len() == 1 {
                format!("ttl={}", ttls.iter().next().unwrap())
            } else {
                match drops_of(r, p).first() {
                    Some((at, why)) => format!("{at} {why}"),
                    None => format!("{} of {} answered", p.replies.len(), p.spec.count),
                }
            }
        })
        .collect()
}

#[test]
fn reachability_of_each_mode_under_each_rp_filter_with_and_without_nat() {
    // The seed's matrix (linux-semantics.md §12.6), per mode: pod->pod 62, pod->own node 64,
    // node->remote pod 63 both ways. Pod -> remote node eth fails only where the reply's
    // reverse route is through the tunnel and rp_filter is strict, and MASQUERADE (natOutgoing,
    // flannel's ip-masq) fixes it under every rp_filter. Without a tunnel (BGP, CrossSubnet on
    // one subnet, host-gw, DirectRouting) there is no asymmetry.
    let modes: [(&str, String, bool); 5] = [
        ("IPIP", "ipipMode: Always, ".into(), true),
        ("IPIP CrossSubnet", "ipipMode: CrossSubnet, ".into(), false),
        ("VXLAN", "vxlanMode: Always, ".into(), true),
        (
            "VXLAN CrossSubnet",
            "vxlanMode: CrossSubnet, ".into(),
            false,
        ),
        ("BGP", String::new(), false),
    ];
    for (mode, pool, tunnelled) in &modes {
        for rp in 0..=2 {
            for nat in [false, true] {
                let r = run_text("calico_pair", &calico_pair(pool, rp, nat));
                let fails = *tunnelled && rp == 1 && !nat;
                let last = if fails {
                    "node2/eth0 IP_RPFILTER"
                } else {
                    "ttl=63"
                };
                assert_eq!(
                    outcomes(&r),
                    ["ttl=62", "ttl=64", "ttl=63", "ttl=63", last],
                    "Calico {mode}, rp_filter={rp}, natOutgoing={nat}"
                );
            }
        }
    }
    let flannel: [(&str, &str, bool); 2] = [("vxlan", "Vxlan", true), ("host-gw", "HostGw", false)];
    for (mode, backend, tunnelled) in flannel {
        for rp in 0..=2 {
            for masq in [false, true] {
                let r = run_text("flannel_pair", &flannel_pair(backend, rp, masq));
                let fails = tunnelled && rp == 1 && !masq;
                let last = if fails {
                    "node2/eth0 IP_RPFILTER"
                } else {
                    "ttl=63"
                };
                assert_eq!(
                    outcomes(&r),
                    ["ttl=62", "ttl=64", "ttl=63", "ttl=63", last],
                    "flannel {mode}, rp_filter={rp}, ipMasq={masq}"
                );
            }
        }
    }
}

#[test]
fn crosssubnet_encapsulates_only_across_subnets() {
    // calico_ipip_crosssubnet: on nodeA1's eth0, podA1 -> podA2 is plain ICMP, podA1 -> podB is
    // IP-in-IP (protocol 4) to nodeB.
    let r = run("calico_ipip_crosssubnet");
    let proto_of = |from_ms: u64, to_ms: u64| -> BTreeSet<(u8, [u8; 4])> {
        captured(&r, "nodeA1/eth0", from_ms * 1_000_000, to_ms * 1_000_000)
            .iter()
            .filter(|(_, f)| f[12..14] == [0x08, 0x00])
            .map(|(_, f)| (f[14 + 9], [f[30], f[31], f[32], f[33]]))
            .collect()
    };
    let native = proto_of(0, 5000);
    assert!(native.iter().all(|(p, _)| *p == 1), "{native:?}");
    let tunnelled = proto_of(5000, 10000);
    assert!(tunnelled.contains(&(4, [10, 39, 3, 75])), "{tunnelled:?}");
    assert!(tunnelled.iter().all(|(p, _)| *p == 4), "{tunnelled:?}");
}

#[test]
fn ipam_is_deterministic_from_the_seed_and_hands_out_addresses_in_order() {
    let text = |seed: u64| {
        format!(
            r#"Scenario(seed: {seed}, cluster: (cni: Calico(cidr: "10.42.0.0/16", ipipMode: Always), pods_per_node: 3,
                nodes: [(name: "a", ip: "10.0.0.1/24"), (name: "b", ip: "10.0.0.2/24")]))"#
        )
    };
    let a1 = expand_text("x.ron", &text(1)).unwrap();
    assert_eq!(a1, expand_text("x.ron", &text(1)).unwrap());
    assert_ne!(a1, expand_text("x.ron", &text(2)).unwrap());
    // Calico: the tunnel takes the block's ordinal 0, pods 1, 2, 3.
    let s = sim::scenario::parse("x.ron", &text(1)).unwrap();
    let e = sim::scenario::expand("x.ron", &text(1), &s).unwrap();
    let addr = |ns: &str, dev: &str| -> String {
        let n = e.netns.iter().find(|n| n.name == ns).unwrap();
        n.devices.iter().find(|d| d.name == dev).unwrap().addrs[0].clone()
    };
    let tunl = addr("a", "tunl0");
    let base: std::net::Ipv4Addr = tunl.trim_end_matches("/32").parse().unwrap();
    assert_eq!(
        u32::from(base) % 64,
        0,
        "tunnel address {tunl} is not a /26 block's first"
    );
    for i in 1..=3u32 {
        let want = std::net::Ipv4Addr::from(u32::from(base) + i);
        assert_eq!(addr(&format!("a-pod-{i}"), "eth0"), format!("{want}/32"));
    }
}

#[test]
fn bad_cluster_input_names_file_line_and_column() {
    let cases: [(&str, &str, &str); 8] = [
        (
            r#"Scenario(cluster: (cni: Calico(cidr: "10.42.0.0/16"), nodes: [(name: "a", ip: "10.0.0.1/24", gateway: "10.0.1.1")]))"#,
            "x.ron:1:",
            "is not on the NIC's subnet",
        ),
        (
            r#"Scenario(cluster: (cni: Calico(cidr: "10.42.0.0/16", blockSize: 33), nodes: [(name: "a", ip: "10.0.0.1/24")]))"#,
            "x.ron:1:54:",
            "blockSize 33",
        ),
        (
            r#"Scenario(cluster: (cni: Calico(cidr: "10.42.0.0/16", ipipMode: Always, vxlanMode: Always), nodes: [(name: "a", ip: "10.0.0.1/24")]))"#,
            "x.ron:1:",
            "cannot both be enabled",
        ),
        (
            r#"Scenario(cluster: (cni: Calico(cidr: "10.42.0.1/16"), nodes: [(name: "a", ip: "10.0.0.1/24")]))"#,
            "x.ron:1:32:",
            "host bits set",
        ),
        (
            r#"Scenario(cluster: (cni: Calico(cidr: "10.42.0.0/16", blockSize: 24), nodes: [(name: "a", ip: "10.0.0.1/24", pod_cidr: "10.42.1.0/24", pods: [(name: "p", ip: "10.42.2.5")])]))"#,
            "x.ron:1:",
            "is not in a block of node \"a\"",
        ),
        (
            r#"Scenario(cluster: (cni: Calico(cidr: "10.42.0.0/16"), nodes: [(name: "a", ip: "10.0.0.1"), (name: "b", ip: "10.0.0.2/24")]))"#,
            "x.ron:1:",
            "is not an address with its prefix",
        ),
        (
            r#"Scenario(cluster: (cni: Flannel(network: "10.244.0.0/16", backend: HostGw), nodes: [(name: "a", ip: "10.0.0.1/24"), (name: "b", ip: "10.0.1.2/24")]))"#,
            "x.ron:1:",
            "host-gw needs every node on one L2 network",
        ),
        (
            r#"Scenario(cluster: (cni: Flannel(network: "10.244.0.0/16"), nodes: [(name: "a", ip: "10.0.0.1/24", pods: [(name: "a")])]))"#,
            "x.ron:1:",
            "used twice",
        ),
    ];
    for (text, at, what) in cases {
        let e = expand_text("x.ron", text).unwrap_err();
        assert!(e.starts_with(at) && e.contains(what), "{text}\n -> {e}");
    }
    // Unknown fields are refused by the parser, with their position.
    let e = expand_text(
        "x.ron",
        "Scenario(cluster: (cni: Calico(cidr: \"10.42.0.0/16\", ipip: Always), nodes: []))",
    )
    .unwrap_err();
    assert!(e.starts_with("x.ron:1:") && e.contains("ipip"), "{e}");
}

#[test]
fn natoutgoing_masquerades_pod_traffic_leaving_the_pool_only() {
    // calico_natoutgoing: pod11 -> pod21 crosses node2/eth0 inside IPIP with the pod's own
    // address; pod11 -> node2 arrives as node1's address with a --random-fully echo id, and
    // pod11 sees its own id come back.
    let r = run("calico_natoutgoing");
    let icmp = |iface: &str, from_ms: u64, to_ms: u64| -> BTreeSet<([u8; 4], [u8; 4], u16)> {
        captured(&r, iface, from_ms * 1_000_000, to_ms * 1_000_000)
            .iter()
            .filter_map(|(_, f)| {
                let mut ip = &f[14..];
                if ip[9] == 4 {
                    ip = &ip[usize::from(ip[0] & 0x0f) * 4..];
                }
                let l4 = &ip[usize::from(ip[0] & 0x0f) * 4..];
                (ip[9] == 1 && l4[0] == 8).then(|| {
                    (
                        [ip[12], ip[13], ip[14], ip[15]],
                        [ip[16], ip[17], ip[18], ip[19]],
                        u16::from_be_bytes([l4[4], l4[5]]),
                    )
                })
            })
            .collect()
    };
    let pod_to_pod = icmp("node2/eth0", 0, 5000);
    assert_eq!(
        pod_to_pod,
        [([10, 42, 1, 11], [10, 42, 2, 11], 4242)].into(),
        "pod to pod is not translated"
    );
    let natted = icmp("node2/eth0", 5000, 10000);
    assert_eq!(natted.len(), 1, "{natted:?}");
    let (src, dst, id) = *natted.iter().next().unwrap();
    assert_eq!((src, dst), ([10, 211, 55, 5], [10, 211, 55, 6]));
    assert_ne!(id, 4243, "--random-fully draws a new echo id");
    let at_pod = icmp("pod11/eth0", 5000, 10000);
    assert_eq!(at_pod, [([10, 42, 1, 11], [10, 211, 55, 6], 4243)].into());
    let p = ping(&r, "pod11", "10.211.55.6", 5000);
    assert_eq!(p.replies.len(), 3);
    assert_eq!(counter(&r, "node2", "TcpExtIPReversePathFilter"), 0);
}
