//! `sim check`: the reachability matrix of the L2 lab (hand-built and as a Calico preset), the
//! rp_filter what-if, JSON against the table, exit codes, bad `--set` values, determinism and
//! the independence of pairs.

mod common;
use common::*;
use sim::check::{self, Base, Matrix, Verdict};
use std::process::Command;

fn base(name: &str, at_ms: Option<u64>) -> Base {
    let path = scenario_path(name);
    let (s, text) = sim::scenario::load(&path).unwrap();
    check::base(&path.display().to_string(), &text, &s, at_ms).unwrap()
}

/// The full matrix of a shipped scenario at `at_ms`, after `sets`.
fn matrix(name: &str, at_ms: Option<u64>, sets: &[&str], jobs: usize) -> (Base, Matrix) {
    let mut b = base(name, at_ms);
    let (rows, cols) = check::endpoints(&b.world, &[], &[]).unwrap();
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let sets = check::parse_sets(&b.world, &sets).unwrap();
    check::apply_sets(&mut b.world, &sets).unwrap();
    let m = check::matrix(&b.world, b.at, &rows, &cols, jobs, &|| {}).unwrap();
    (b, m)
}

/// The text of the cell from netns `from` to column `to`.
fn cell<'a>(m: &'a Matrix, from: &str, to: &str) -> &'a str {
    let r = m.sources.iter().position(|s| s.netns == from).unwrap();
    let c = m.targets.iter().position(|t| t.label == to).unwrap();
    &m.cell(r, c).text
}

fn sim_bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn l2_matrix_drops_pod_to_remote_node_at_its_eth0_by_rp_filter() {
    // Lab L2 before its changes: the request leaves node1 natively; node2's route back to the
    // pod is via tunl0, so strict rp_filter drops it at node2/eth0. Pod to pod crosses two
    // forwarding nodes (ttl=62), pod to a pod on its node one (63), the own node none (64).
    for (name, at_ms) in [("pod_to_remote_eth", Some(0)), ("calico_ipip_preset", None)] {
        let (_, m) = matrix(name, at_ms, &[], 2);
        let c = |from, to| cell(&m, from, to).to_string();
        assert_eq!(c("pod11", "node2/10.211.55.6"), "IP_RPFILTER @ node2/eth0");
        assert_eq!(c("pod21", "node1/10.211.55.5"), "IP_RPFILTER @ node1/eth0");
        assert_eq!(c("pod11", "pod21"), "ttl=62", "{name}");
        assert_eq!(c("pod11", "pod12"), "ttl=63", "{name}");
        assert_eq!(c("pod11", "node1/10.211.55.5"), "ttl=64", "{name}");
        assert_eq!(c("node2", "pod11"), "ttl=63", "{name}");
        assert_eq!(c("node1", "pod21"), "ttl=63", "{name}");
        // Through the tunnel the reverse route matches: node2's tunl0 address answers.
        assert_eq!(c("pod11", "node2/10.42.2.0"), "ttl=63", "{name}");
        // A netns pings its own address over lo.
        assert_eq!(c("pod11", "pod11"), "ttl=64", "{name}");
        let drops: Vec<_> = m
            .cells
            .iter()
            .filter(|c| c.result != Verdict::Reply)
            .collect();
        assert_eq!(drops.len(), 4, "{name}: only pod -> remote node eth0 fails");
        assert!(drops
            .iter()
            .all(|c| c.reason.as_deref() == Some("IP_RPFILTER")));
    }
}

#[test]
fn default_time_is_after_the_last_change() {
    // pod_to_remote_eth ends (t=60 s) with strict rp_filter and node1 masquerading pod
    // traffic: the request reaches node2 from 10.211.55.5, which rp_filter accepts.
    let (b, m) = matrix("pod_to_remote_eth", None, &[], 2);
    assert_eq!(b.at.as_ns(), 60_000_000_000);
    assert_eq!(b.log.len(), 5, "every change is applied");
    assert_eq!(cell(&m, "pod11", "node2/10.211.55.6"), "ttl=63");
    // At 45 s only the first two changes (rp_filter=2) are due: loose mode, no NAT.
    let (b, m) = matrix("pod_to_remote_eth", Some(45_000), &[], 2);
    assert_eq!(b.log.len(), 2);
    assert_eq!(cell(&m, "pod11", "node2/10.211.55.6"), "ttl=63");
}

#[test]
fn loose_rp_filter_fixes_exactly_the_pod_to_remote_eth0_cells() {
    // rp_filter=2 accepts a source reachable through any interface (fib_validate_source with
    // no oif check); only the asymmetric pod -> remote node eth0 paths were rejected, so
    // exactly those cells change, each to the asymmetric path's ttl=63.
    for (name, at_ms) in [("pod_to_remote_eth", Some(0)), ("calico_ipip_preset", None)] {
        let (_, before) = matrix(name, at_ms, &[], 2);
        let (_, after) = matrix(name, at_ms, &["net.ipv4.conf.all.rp_filter=2"], 2);
        let changed: Vec<(String, String, String, String)> = check::diff(&before, &after)
            .into_iter()
            .map(|c| (c.from, c.to, c.before.text, c.after.text))
            .collect();
        let want = |from: &str, to: &str, node: &str| {
            (
                from.to_string(),
                to.to_string(),
                format!("IP_RPFILTER @ {node}/eth0"),
                "ttl=63".to_string(),
            )
        };
        assert_eq!(
            changed,
            [
                want("pod11", "node2/10.211.55.6", "node2"),
                want("pod12", "node2/10.211.55.6", "node2"),
                want("pod21", "node1/10.211.55.5", "node1"),
                want("pod22", "node1/10.211.55.5", "node1"),
            ],
            "{name}"
        );
    }
}

#[test]
fn set_in_one_netns_changes_only_what_goes_through_it() {
    // Loose rp_filter on node2 alone fixes the pods' pings to node2's eth0, not node1's.
    let (_, before) = matrix("calico_ipip_preset", None, &[], 2);
    let (_, after) = matrix(
        "calico_ipip_preset",
        None,
        &["node2:sysctl -w net.ipv4.conf.all.rp_filter=2"],
        2,
    );
    let changed: Vec<(String, String)> = check::diff(&before, &after)
        .into_iter()
        .map(|c| (c.from, c.to))
        .collect();
    assert_eq!(
        changed,
        [
            ("pod11".to_string(), "node2/10.211.55.6".to_string()),
            ("pod12".to_string(), "node2/10.211.55.6".to_string()),
        ]
    );
    // A route change: node1 loses its route to node2's block, so node1's pods cannot reach
    // node2's pods any more (node1 has a default route: out eth0 to the gateway, which is
    // not there).
    let (_, after) = matrix(
        "calico_ipip_preset",
        None,
        &["node1:ip route del 10.42.2.0/24"],
        2,
    );
    assert_ne!(cell(&after, "pod11", "pod21"), "ttl=62");
    assert_eq!(cell(&after, "pod11", "pod12"), "ttl=63");
}

#[test]
fn an_answer_without_a_route_back_is_noroute_not_a_timeout() {
    // In the L3 lab the router knows no pod routes: a pod's ping reaches the router, whose
    // echo reply has no route (icmp_reply builds no skb: IpOutNoRoutes, no drop reason).
    let (_, m) = matrix("ipip_cross_subnet", Some(0), &[], 2);
    let r = m.sources.iter().position(|s| s.netns == "pod-a").unwrap();
    let c = m
        .targets
        .iter()
        .position(|t| t.label == "router/10.39.0.1")
        .unwrap();
    let c = m.cell(r, c);
    assert_eq!(c.result, Verdict::Noroute);
    assert_eq!(c.text, "no route back @ router (IpOutNoRoutes)");
    // No shipped scenario leaves a pair without an explanation.
    for name in shipped() {
        let (_, m) = matrix(&name, Some(0), &[], 2);
        assert_eq!(check::summary(&m).timeout, 0, "{name}");
    }
}

#[test]
fn icmp_errors_and_connect_failures_read_as_ping_prints_them() {
    // L1: node2 has no default route before t=20 s, so it answers no proxy ARP for
    // 169.254.1.1: pod23's ARP fails and ping prints Destination Host Unreachable from its own
    // address; node2 itself has no route to node1's pods.
    let (_, m) = matrix("calico_pod_host", Some(0), &[], 2);
    assert_eq!(
        cell(&m, "pod23", "node1"),
        "Destination Host Unreachable from 10.42.2.13"
    );
    assert_eq!(
        cell(&m, "node2", "pod13"),
        "connect: Network is unreachable"
    );
}

#[test]
fn pairs_are_independent_and_the_result_does_not_depend_on_threads() {
    // Each pair runs in its own fork: a cell computed alone equals the same cell in the full
    // matrix (no ARP or FDB state from earlier pairs), whatever the thread count.
    let (_, one) = matrix("calico_pod_host", Some(0), &[], 1);
    let (_, two) = matrix("calico_pod_host", Some(0), &[], 2);
    assert_eq!(one.cells, two.cells);
    let b = base("calico_pod_host", Some(0));
    for (r, s) in one.sources.iter().enumerate() {
        for (c, t) in one.targets.iter().enumerate() {
            let alone = check::matrix(
                &b.world,
                b.at,
                std::slice::from_ref(s),
                std::slice::from_ref(t),
                1,
                &|| {},
            )
            .unwrap();
            assert_eq!(
                &alone.cells[0],
                one.cell(r, c),
                "{} -> {}",
                s.netns,
                t.label
            );
        }
    }
}

#[test]
fn from_and_to_select_by_name_glob_and_address() {
    let b = base("pod_to_remote_eth", Some(0));
    let sel = |from: &[&str], to: &[&str]| {
        let f: Vec<String> = from.iter().map(|s| s.to_string()).collect();
        let t: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        let (r, c) = check::endpoints(&b.world, &f, &t).unwrap();
        (
            r.into_iter().map(|s| s.netns).collect::<Vec<_>>(),
            c.into_iter().map(|t| t.label).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        sel(&["pod1*"], &["node2"]),
        (
            vec!["pod11".to_string(), "pod12".into()],
            vec!["node2/10.211.55.6".to_string(), "node2/10.42.2.0".into()]
        )
    );
    // An address selects its netns as a source, and itself as a target; an address outside
    // the scenario is a column of its own.
    assert_eq!(
        sel(&["10.42.2.11"], &["10.211.55.6", "10.211.55.1"]),
        (
            vec!["pod21".to_string()],
            vec!["node2/10.211.55.6".to_string(), "10.211.55.1".into()]
        )
    );
    let err = |from: &[&str], to: &[&str]| {
        let f: Vec<String> = from.iter().map(|s| s.to_string()).collect();
        let t: Vec<String> = to.iter().map(|s| s.to_string()).collect();
        check::endpoints(&b.world, &f, &t)
            .err()
            .unwrap()
            .to_string()
    };
    assert_eq!(err(&["nope*"], &[]), "--from \"nope*\": matches no netns");
    assert_eq!(
        err(&[], &["pod9"]),
        "--to \"pod9\": matches no netns with a global address"
    );
}

#[test]
fn bad_set_values_are_clear_errors() {
    let b = base("pod_to_remote_eth", Some(0));
    let err = |v: &str| {
        let sets = vec![v.to_string()];
        match check::parse_sets(&b.world, &sets) {
            Err(e) => e.to_string(),
            Ok(s) => {
                let mut w = b.world.clone();
                check::apply_sets(&mut w, &s).err().unwrap().to_string()
            }
        }
    };
    assert_eq!(
        err("net.ipv4.conf.all.rp_filtr=2"),
        "--set \"net.ipv4.conf.all.rp_filtr=2\": in netns \"node1\": sysctl: cannot stat \
         /proc/sys/net/ipv4/conf/all/rp_filtr: No such file or directory"
    );
    assert_eq!(
        err("ip route del default"),
        "--set \"ip route del default\": a command other than a sysctl needs the netns it \
         runs in: write NETNS:ip route del default"
    );
    assert_eq!(
        err("node9:ip route del default"),
        "--set \"node9:ip route del default\": no netns matches \"node9\""
    );
    assert_eq!(
        err("node1:ip route add 10.211.55.0/24 dev eth0"),
        "--set \"node1:ip route add 10.211.55.0/24 dev eth0\": in netns \"node1\": RTNETLINK \
         answers: File exists"
    );
    assert_eq!(
        err("net.ipv4.conf.eth7.rp_filter=2"),
        "--set \"net.ipv4.conf.eth7.rp_filter=2\": no netns has the device this sysctl names"
    );
    assert!(err("node1:ip rule add from all").contains("ip rule"));
}

/// The table's cells, by (row, column label), read back from the text: columns are two or
/// more spaces apart, and no label or cell holds two spaces.
fn parse_table(out: &str) -> Vec<(String, String, String)> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("from\\to"));
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut cells = Vec::new();
    for l in lines.take_while(|l| !l.is_empty()) {
        let row: Vec<&str> = l
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        assert_eq!(row.len(), header.len(), "{l}");
        for (c, v) in row.iter().enumerate().skip(1) {
            cells.push((row[0].to_string(), header[c].to_string(), v.to_string()));
        }
    }
    cells
}

#[test]
fn json_parses_and_matches_the_table() {
    let f = "scenarios/pod_to_remote_eth.ron";
    let table = sim_bin(&["check", f, "--at-ms", "0"]);
    let json = sim_bin(&["check", f, "--at-ms", "0", "--format", "json"]);
    assert!(table.status.success() && json.status.success());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["scenario"], "pod_to_remote_eth");
    assert_eq!(v["at_ms"], 0);
    let endpoints = v["endpoints"].as_array().unwrap();
    let sources = v["sources"].as_array().unwrap();
    assert_eq!(endpoints.len(), 8);
    assert_eq!(endpoints[0]["label"], "node1/10.211.55.5");
    assert_eq!(endpoints[0]["netns"], "node1");
    assert_eq!(endpoints[0]["addr"], "10.211.55.5");
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), sources.len() * endpoints.len());
    let from_json: Vec<(String, String, String)> = cells
        .iter()
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_string(),
                c["to"].as_str().unwrap().to_string(),
                c["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let text = String::from_utf8(table.stdout).unwrap();
    assert_eq!(from_json, parse_table(&text));
    let rp = cells
        .iter()
        .find(|c| c["from"] == "pod11" && c["to"] == "node2/10.211.55.6")
        .unwrap();
    assert_eq!(rp["result"], "drop");
    assert_eq!(rp["reason"], "IP_RPFILTER");
    assert_eq!(rp["place"], "node2/eth0");
    assert_eq!(rp["ttl"], serde_json::Value::Null);
    let ok = cells
        .iter()
        .find(|c| c["from"] == "pod11" && c["to"] == "pod21")
        .unwrap();
    assert_eq!(
        (ok["result"].as_str(), ok["ttl"].as_u64()),
        (Some("reply"), Some(62))
    );
    assert_eq!(v["summary"]["pairs"], 48);
    assert_eq!(v["summary"]["drop"], 4);
    assert!(v["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["ok"] == true));
}

#[test]
fn what_if_json_lists_the_changed_cells() {
    let out = sim_bin(&[
        "check",
        "scenarios/calico_ipip_preset.ron",
        "--set",
        "net.ipv4.conf.all.rp_filter=2",
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["set"][0], "net.ipv4.conf.all.rp_filter=2");
    assert_eq!(v["pairs"], 48);
    let changed = v["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 4);
    assert_eq!(changed[0]["from"], "pod11");
    assert_eq!(changed[0]["to"], "node2/10.211.55.6");
    assert_eq!(changed[0]["before"]["reason"], "IP_RPFILTER");
    assert_eq!(changed[0]["after"]["result"], "reply");
    assert_eq!(changed[0]["after"]["ttl"], 63);
    let table = sim_bin(&[
        "check",
        "scenarios/calico_ipip_preset.ron",
        "--set",
        "net.ipv4.conf.all.rp_filter=2",
    ]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("pod11  node2/10.211.55.6  IP_RPFILTER @ node2/eth0  ->  ttl=63"));
    assert!(text.contains("4 of 48 cells changed"));
}

#[test]
fn exit_codes() {
    // 0: matrix computed, the scenario's expectations hold (even with failing cells).
    let ok = sim_bin(&["check", "scenarios/pod_to_remote_eth.ron"]);
    assert_eq!(ok.status.code(), Some(0));
    // 1: an expectation of the scenario's own traffic fails; the matrix is still printed.
    let dir = std::env::temp_dir().join(format!("sim-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("wrong_ttl.ron");
    std::fs::write(
        &bad,
        r#"Scenario(
    netns: [
        (name: "a", devices: [(name: "veth0", kind: Veth(peer: "b/veth0"), addrs: ["10.0.0.1/24"])]),
        (name: "b", devices: [(name: "veth0", kind: Veth(peer: "a/veth0"), addrs: ["10.0.0.2/24"])]),
    ],
    traffic: [Ping(from: "a", to: "10.0.0.2", expect: Reply(ttl: 63))],
)"#,
    )
    .unwrap();
    let out = sim_bin(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("FAIL  ping a -> 10.0.0.2"), "{text}");
    assert!(text.contains("from\\to  a       b"), "{text}");
    // 2: bad input: a bad --set, a missing file, a selection that matches nothing.
    for args in [
        vec!["check", "scenarios/pod_to_remote_eth.ron", "--set", "foo=1"],
        vec!["check", "scenarios/nope.ron"],
        vec!["check", "scenarios/pod_to_remote_eth.ron", "--to", "x*"],
        vec![
            "check",
            "scenarios/pod_to_remote_eth.ron",
            "--format",
            "xml",
        ],
    ] {
        let out = sim_bin(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = sim_bin(&["check", "scenarios/pod_to_remote_eth.ron", "--set", "foo=1"]);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "sim: --set \"foo=1\": in netns \"node1\": sysctl: cannot stat /proc/sys/foo: No such \
         file or directory\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_runs_print_the_same() {
    let args = ["check", "scenarios/calico_pod_host.ron", "--format", "json"];
    let (a, b) = (sim_bin(&args), sim_bin(&args));
    assert_eq!(a.stdout, b.stdout);
    let one = sim_bin(&["check", "scenarios/calico_pod_host.ron", "-j", "1"]);
    let two = sim_bin(&["check", "scenarios/calico_pod_host.ron", "-j", "2"]);
    assert_eq!(one.stdout, two.stdout);
}

#[test]
fn matrix_tables() {
    for (name, at_ms) in [("pod_to_remote_eth", Some(0)), ("calico_pod_host", Some(0))] {
        let (b, m) = matrix(name, at_ms, &[], 2);
        insta::assert_snapshot!(format!("{name}__check"), check::render_table(&b, &m));
    }
}
