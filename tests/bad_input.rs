//! Bad scenarios give an error naming the file, line and column and what was wrong; never a panic.

fn build_err(text: &str) -> String {
    let r = sim::scenario::parse("bad.ron", text)
        .and_then(|s| sim::scenario::build("bad.ron", text, &s).map(|_| ()));
    match r {
        Ok(()) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

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
