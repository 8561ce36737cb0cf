//! Bad scenarios give an error naming the file, line and column and what was wrong; never a panic.

mod common;
use common::build_err;

const BASE: &str = r#"Scenario(
    netns: [
        (
            name: "a",
            devices: [(name: "eth0", kind: Veth(peer: "b/eth0"), addrs: ["10.0.0.1/24"])],
            routes: [ROUTES],
        ),
        (name: "b", devices: [(name: "eth0", kind: Veth(peer: "a/eth0"), addrs: ["10.0.0.2/24"])]),
    ],
    traffic: [TRAFFIC],
)"#;

fn with_routes(r: &str) -> String {
    BASE.replace("ROUTES", r).replace("TRAFFIC", "")
}

fn with_traffic(t: &str) -> String {
    BASE.replace("ROUTES", "").replace("TRAFFIC", t)
}

#[test]
fn the_base_scenario_is_valid() {
    let t = with_routes("");
    let s = sim::scenario::parse("ok.ron", &t).unwrap();
    assert!(sim::scenario::build("ok.ron", &t, &s).is_ok());
}

#[test]
fn syntax_error_names_line_and_column() {
    let t = with_routes("").replace("name: \"b\",", "name: \"b\"");
    let e = build_err(&t);
    assert!(e.starts_with("bad.ron:8:"), "{e}");
}

#[test]
fn unknown_field_is_named() {
    let t = with_routes("").replace("addrs: [\"10.0.0.2/24\"]", "adrs: [\"10.0.0.2/24\"]");
    let e = build_err(&t);
    assert!(e.starts_with("bad.ron:8:") && e.contains("adrs"), "{e}");
}

#[test]
fn route_via_an_unknown_device_is_named() {
    let e = build_err(&with_routes("\"10.9.0.0/16 via 10.0.0.2 dev tunl9\""));
    assert!(
        e.starts_with("bad.ron:6:22:") && e.contains("Cannot find device \"tunl9\""),
        "{e}"
    );
}

#[test]
fn bad_cidr_is_named() {
    let e = build_err(&with_routes("\"10.0.0.300/24 dev eth0\""));
    assert!(
        e.starts_with("bad.ron:6:") && e.contains("10.0.0.300/24"),
        "{e}"
    );
    let t = with_routes("").replace("10.0.0.1/24", "10.0.0.1/33");
    let e = build_err(&t);
    assert!(
        e.contains("10.0.0.1/33") && e.contains("not an IPv4 prefix"),
        "{e}"
    );
}

#[test]
fn gateway_outside_every_subnet_is_refused_as_the_kernel_does() {
    let e = build_err(&with_routes("\"10.9.0.0/16 via 192.0.2.1 dev eth0\""));
    assert!(e.contains("Error: Nexthop has invalid gateway."), "{e}");
}

#[test]
fn unknown_veth_peer_and_unknown_netns_are_named() {
    let t = with_routes("").replace("peer: \"b/eth0\"", "peer: \"c/eth0\"");
    assert!(build_err(&t).contains("unknown peer \"c/eth0\""));
    let t = with_traffic("Ping(from: \"zz\", to: \"10.0.0.2\")");
    assert!(
        build_err(&t).contains("unknown netns \"zz\""),
        "{}",
        build_err(&t)
    );
}

#[test]
fn unknown_drop_reason_and_bad_sysctl_are_named() {
    let t = with_traffic(
        "Ping(from: \"a\", to: \"10.0.0.2\", expect: Drop(reason: \"IP_NOPE\", at: \"b/eth0\"))",
    );
    assert!(build_err(&t).contains("unknown drop reason \"IP_NOPE\""));
    let t = with_routes("").replace(
        "routes: [],",
        "routes: [], sysctls: [\"net.ipv4.conf.eth9.rp_filter=1\"],",
    );
    assert!(
        build_err(&t).contains("net.ipv4.conf.eth9.rp_filter"),
        "{}",
        build_err(&t)
    );
}

#[test]
fn random_bytes_never_panic_the_loader() {
    // A cheap fuzz: every prefix of a valid file, and a few byte flips, parse to Ok or Err.
    let t = with_routes("\"default via 10.0.0.2 dev eth0\"");
    for n in 0..t.len() {
        if !t.is_char_boundary(n) {
            continue;
        }
        let cut = &t[..n];
        if let Ok(s) = sim::scenario::parse("cut.ron", cut) {
            let _ = sim::scenario::build("cut.ron", cut, &s);
        }
    }
}

#[test]
fn routes_in_tables_nothing_looks_up_are_refused() {
    // Without `ip rule`, a route in table 100 would never be used; saying so beats ignoring it.
    let e = build_err(&with_routes("\"10.9.0.0/16 via 10.0.0.2 table 100\""));
    assert!(
        e.contains("table 100") && e.contains("only the main and local tables"),
        "{e}"
    );
}

/// A node with a bridge, a VXLAN device and a port, with `EXTRA` spliced into its netns.
fn l2(devices: &str, extra: &str) -> String {
    format!(
        r#"Scenario(
    netns: [
        (
            name: "n",
            devices: [
{devices}
            ],
            {extra}
        ),
        (name: "p", devices: [(name: "eth0", kind: Veth(peer: "n/veth1"))]),
    ],
)"#
    )
}

const L2_DEVICES: &str = r#"                (name: "eth0", kind: Veth(peer: "n/eth1")),
                (name: "eth1", kind: Veth(peer: "n/eth0")),
                (name: "cni0", kind: Bridge),
                (name: "vx", kind: Vxlan(id: 1, dev: "eth0")),
                (name: "veth1", kind: Veth(peer: "p/eth0"), master: "cni0", hairpin: true),"#;

#[test]
fn a_valid_bridge_and_vxlan_node_builds() {
    let t = l2(
        L2_DEVICES,
        r#"fdb: ["02:00:00:00:00:01 dev vx dst 10.0.0.2"],"#,
    );
    let s = sim::scenario::parse("ok.ron", &t).unwrap();
    let b = sim::scenario::build("ok.ron", &t, &s).unwrap();
    let w = &b.world;
    let n = w.ns_by_name("n").unwrap();
    let vx = w.dev_by_name(n, "vx").unwrap();
    assert_eq!(w.devs[vx].mtu, 1450, "the underlay's 1500 less 50");
    assert!(w
        .bridge_fdb_show(n)
        .contains("02:00:00:00:00:01 dev vx dst 10.0.0.2 self permanent"));
}

#[test]
fn master_that_is_not_a_bridge_is_refused_where_it_is_written() {
    let t = l2(
        &L2_DEVICES.replace(r#"master: "cni0""#, r#"master: "eth1""#),
        "",
    );
    let e = build_err(&t);
    assert!(e.starts_with("bad.ron:10:"), "{e}");
    assert!(e.contains("master \"eth1\" is not a bridge"), "{e}");
}

#[test]
fn hairpin_without_master_is_refused() {
    let t = l2(&L2_DEVICES.replace(r#"master: "cni0", "#, ""), "");
    let e = build_err(&t);
    assert!(e.contains("hairpin is for bridge ports"), "{e}");
}

#[test]
fn vxlan_dev_must_exist_before_it() {
    let t = l2(&L2_DEVICES.replace(r#"dev: "eth0""#, r#"dev: "eth9""#), "");
    let e = build_err(&t);
    assert!(e.starts_with("bad.ron:9:49:"), "{e}");
    assert!(e.contains("dev \"eth9\""), "{e}");
}

#[test]
fn bad_fdb_lines_say_what_iproute2_says() {
    let e = build_err(&l2(L2_DEVICES, r#"fdb: ["zz:00 dev vx dst 10.0.0.2"],"#));
    assert!(e.contains("Invalid mac address zz:00"), "{e}");
    assert!(e.starts_with("bad.ron:12:"), "{e}");
    let e = build_err(&l2(L2_DEVICES, r#"fdb: ["02:00:00:00:00:01 dev vx"],"#));
    assert!(e.contains("RTNETLINK answers: Invalid argument"), "{e}");
    let e = build_err(&l2(
        L2_DEVICES,
        r#"fdb: ["02:00:00:00:00:01 dev eth0 dst 10.0.0.2"],"#,
    ));
    assert!(e.contains("Operation not supported"), "{e}");
}

#[test]
fn vni_out_of_range_is_refused() {
    let e = build_err(&l2(&L2_DEVICES.replace("id: 1,", "id: 16777216,"), ""));
    assert!(e.contains("out of range"), "{e}");
}

#[test]
fn ping_larger_than_an_ip_datagram_is_refused_as_iputils_does() {
    // Found by the scenario mutation property: `size: 4294967295` made the ping build a 4 GB
    // payload. iputils refuses anything over 65535 - 20 - 8.
    let e = build_err(&with_traffic(
        "Ping(from: \"a\", to: \"10.0.0.2\", size: 65508)",
    ));
    assert!(
        e.starts_with("bad.ron:10:47:")
            && e.contains("packet size 65508 is too large. Maximum is 65507"),
        "{e}"
    );
    let t = with_traffic("Ping(from: \"a\", to: \"10.0.0.2\", size: 65507)");
    let s = sim::scenario::parse("ok.ron", &t).unwrap();
    assert!(sim::scenario::build("ok.ron", &t, &s).is_ok());
}

#[test]
fn huge_times_saturate_instead_of_overflowing() {
    // `start_ms`, `interval_ms` and `delay_us` near u64::MAX overflowed their conversion to
    // nanoseconds: a panic in a debug build, a wrapped (wrong) time in a release build.
    let t = with_traffic("Ping(from: \"a\", to: \"10.0.0.2\", start_ms: 18446744073709551615, interval_ms: 18446744073709551615, count: 2)")
        .replace("kind: Veth(peer: \"b/eth0\"),", "kind: Veth(peer: \"b/eth0\"), delay_us: 18446744073709551615,");
    let s = sim::scenario::parse("ok.ron", &t).unwrap();
    let b = sim::scenario::build("ok.ron", &t, &s).unwrap();
    assert!(sim::run::run_built(b).is_ok());
}

#[test]
fn a_cluster_of_more_pods_than_sim_allows_is_refused_before_it_is_built() {
    // Found by the scenario mutation property: `pods_per_node: 4294967295` made the expansion
    // allocate four billion pods before any IPAM check.
    let t = r#"Scenario(cluster: (cni: Flannel(network: "10.244.0.0/16"), pods_per_node: 4294967295,
        nodes: [(name: "a", ip: "10.0.0.1/24")]))"#;
    let e = build_err(t);
    assert!(
        e.starts_with("bad.ron:1:") && e.contains("more than 50000 pods"),
        "{e}"
    );
}
