//! `sim export` and `setup`: every shipped scenario, exported as by-hand lab commands and
//! loaded back as a commands-scenario, builds the same world (the same `ip addr`, `ip route`,
//! `ip route show table local`, `ip neigh` and `bridge fdb show` in every netns); a command
//! setup does not support is an error naming it, at its line and column in the file.

mod common;
use common::*;
use sim::scenario;

/// The world's tables, every netns.
fn tables(s: &scenario::Scenario, file: &str, text: &str) -> Vec<(String, String)> {
    let b = scenario::build(file, text, s).unwrap_or_else(|e| panic!("{e}"));
    let w = &b.world;
    (0..w.ns.len())
        .map(|ns| {
            let mut t = format!(
                "{}\n{}\n{}\n{}",
                w.ip_addr(ns),
                w.ip_route(ns),
                w.ip_route_local(ns),
                w.ip_neigh(ns)
            );
            if w.has_fdb(ns) {
                t.push_str(&w.bridge_fdb_show(ns));
            }
            (w.ns[ns].name.clone(), t)
        })
        .collect()
}

#[test]
fn every_shipped_scenario_round_trips_through_export_and_setup() {
    for name in shipped() {
        let path = scenario_path(&name);
        let file = path.display().to_string();
        let (s, text) = scenario::load(&path).unwrap();
        let s = scenario::expand(&file, &text, &s).unwrap();
        let built = scenario::build(&file, &text, &s).unwrap();
        let ex = scenario::export::export(&s, &built.world, "").unwrap();
        let script = ex.script();
        assert!(script.contains("ip netns add"), "{name}: {script}");
        let ron = format!(
            "Scenario(\n    seed: {},\n    setup: r#\"\n{script}\"#,\n)\n",
            s.seed
        );
        let back = scenario::parse("export.ron", &ron)
            .unwrap_or_else(|e| panic!("{name}: the export does not load: {e}\n{script}"));
        let a = tables(&s, &file, &text);
        let b = tables(&back, "export.ron", &ron);
        let names = |t: &[(String, String)]| t.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&a),
            names(&b),
            "{name}: other netns after the round trip"
        );
        for ((n, x), (_, y)) in a.iter().zip(&b) {
            assert_eq!(
                x, y,
                "{name}: netns {n} differs after export and setup\n{script}"
            );
        }
    }
}

fn setup_err(body: &str) -> String {
    let ron = format!("Scenario(\n    setup: r#\"\n{body}\"#,\n)\n");
    match scenario::parse("lab.ron", &ron) {
        Ok(_) => panic!("accepted:\n{ron}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_unsupported_command_is_an_error_naming_it_at_its_line_and_column() {
    // Line 1 is `Scenario(`, 2 holds `setup: r#"`, so the body starts on line 3.
    let e = setup_err("ip netns add a\n  ip -n a rule add from 10.0.0.0/8 table 100\n");
    assert_eq!(e.split(": setup:").next().unwrap(), "lab.ron:4:3", "{e}");
    assert!(
        e.contains("\"ip -n a rule add from 10.0.0.0/8 table 100\""),
        "{e}"
    );
    assert!(e.contains("unsupported command"), "{e}");
    let e = setup_err("ip netns add a\nip -n a link add m0 type macvlan\n");
    assert!(e.starts_with("lab.ron:4:1: "), "{e}");
    assert!(
        e.contains("device type \"macvlan\" is not supported"),
        "{e}"
    );
    let e = setup_err("ip netns add a\nip -n a link add vx type vxlan id 1 group 239.1.1.1\n");
    assert!(e.contains("vxlan option \"group\" is not supported"), "{e}");
    let e = setup_err("ip link add a type bridge\n");
    assert!(e.contains("no netns"), "{e}");
    let e = setup_err("ip netns add a\nip -n a route add 10.0.0.0/8 nexthop via 10.0.0.1\n");
    assert!(e.starts_with("lab.ron:4:1: "), "{e}");
    assert!(e.contains("nexthop"), "{e}");
}

#[test]
fn seed_commands_paste_into_setup() {
    // The L1 seed's commands, as typed on the node (setup_netns), pods by `ip netns exec`.
    let ron = r##"Scenario(
    setup_netns: "node1",
    setup: r#"
ip netns add ns3
ip link add tap3 type veth peer name veth1 netns ns3
ip link set address ee:ee:ee:ee:ee:ee dev tap3
echo 1 > /proc/sys/net/ipv4/conf/tap3/proxy_arp
sysctl -w net.ipv4.ip_forward=1
ip link set tap3 up
ip r a 10.42.1.13 dev tap3
ip netns exec ns3 ip link set veth1 up
ip netns exec ns3 ip addr add 10.42.1.13/32 dev veth1
ip netns exec ns3 ip route add 169.254.1.1 dev veth1
ip netns exec ns3 ip route add default via 169.254.1.1 dev veth1
ip netns exec ns3 ip neigh add 169.254.1.1 dev veth1 lladdr ee:ee:ee:ee:ee:ee
"#,
)
"##;
    let s = scenario::parse("seed.ron", ron).unwrap_or_else(|e| panic!("{e}"));
    let b = scenario::build("seed.ron", ron, &s).unwrap_or_else(|e| panic!("{e}"));
    let w = &b.world;
    let (node1, ns3) = (w.ns_by_name("node1").unwrap(), w.ns_by_name("ns3").unwrap());
    assert!(w.ip_route(node1).contains("10.42.1.13 dev tap3 scope link"));
    assert!(w.ip_addr(node1).contains("link/ether ee:ee:ee:ee:ee:ee"));
    assert!(w
        .ip_neigh(ns3)
        .contains("169.254.1.1 dev veth1 lladdr ee:ee:ee:ee:ee:ee PERMANENT"));
    assert!(w
        .ip_addr(ns3)
        .contains("inet 10.42.1.13/32 scope global veth1"));
    assert!(w
        .ip_route(ns3)
        .contains("default via 169.254.1.1 dev veth1"));
}
