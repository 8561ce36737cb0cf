//! `sim explain`, the journal behind it, and the packet comments of the merged pcapng.

mod common;
use common::*;
use sim::explain::{FlowSpec, Journeys};

fn explain_flow(name: &str, flow: &str) -> String {
    let r = run(name);
    let j = Journeys::new(&r.built.world).unwrap();
    let id = j.find_flow(&flow.parse::<FlowSpec>().unwrap()).unwrap();
    j.explain(id).unwrap()
}

/// L2 (linux-semantics.md §12.5): the pod's request leaves node1 natively, node2's reverse
/// route to the pod goes via tunl0, and strict rp_filter drops it at node2/eth0. The
/// explanation must name each link of that chain: the forward route, the reverse route line,
/// the interface mismatch, the mode and where it comes from, the reason and the counter.
#[test]
fn pod_to_remote_eth_explains_the_rp_filter_drop_as_12_5_does() {
    let text = explain_flow("pod_to_remote_eth", "pod11 -> 10.211.55.6");
    for want in [
        "node1 sent it natively, not through a tunnel: its route was `10.211.55.0/24 dev eth0 proto kernel scope link src 10.211.55.5`",
        "fib_validate_source(src=10.42.1.11, dev=eth0)",
        "The reverse lookup for 10.42.1.11 matched `10.42.1.0/24 via 10.211.55.5 dev tunl0 proto bird onlink`",
        "whose device is tunl0, not eth0 where the packet came in",
        "rp_filter for eth0 is 1 (strict): the max of net.ipv4.conf.all.rp_filter=1 and net.ipv4.conf.eth0.rp_filter=1",
        "before any local delivery or ICMP processing: drop reason IP_RPFILTER",
        "TcpExtIPReversePathFilter",
        "No ICMP error goes back, so the sender just times out.",
        "end: dropped at node2/eth0 with IP_RPFILTER",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    insta::assert_snapshot!("pod_to_remote_eth__explain_flow", text);
}

/// L6: the same asymmetry through vxlan.calico: the reverse route is the VXLAN one.
#[test]
fn calico_vxlan_pod_to_remote_eth_names_the_vxlan_reverse_route() {
    let text = explain_flow("calico_vxlan", "pod1 -> 10.211.55.6");
    assert!(
        text.contains("matched `10.42.1.0/24 via 10.42.1.0 dev vxlan.calico onlink`"),
        "{text}"
    );
    assert!(
        text.contains("end: dropped at node2/eth0 with IP_RPFILTER"),
        "{text}"
    );
    insta::assert_snapshot!("calico_vxlan__explain_flow", text);
}

/// A working journey through the tunnel: route lines, proxy ARP, encapsulation with the outer
/// addresses, decapsulation onto tunl0, the TTL at each forward, and the reply it caused,
/// followed to its delivery in the pod.
#[test]
fn pod_to_pod_over_ipip_follows_the_request_and_its_reply() {
    let text = explain_flow("pod_to_remote_eth", "pod11 -> 10.42.2.11");
    for want in [
        "route: 10.42.2.11 matches `10.42.2.0/24 via 10.211.55.6 dev tunl0 proto bird onlink`: forward out of tunl0",
        "proxy ARP on node1/cali11 answered",
        "encapsulated (IPIP): outer 10.211.55.5 > 10.211.55.6",
        "decapsulated (IPIP, outer 10.211.55.5 > 10.211.55.6): the inner packet is received on tunl0",
        "forward: TTL 64 -> 63",
        "forward: TTL 63 -> 62",
        "echo reply of journey",
        "end: delivered in pod21",
        "end: delivered in pod11",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("why:"), "nothing was dropped:\n{text}");
}

/// L3 in BGP mode: the router has no route to the pod block; the explanation says so and why
/// no ICMP error reaches the pod.
#[test]
fn ipip_cross_subnet_bgp_mode_dies_at_the_router_without_a_route() {
    let text = explain_flow("ipip_cross_subnet", "pod-a -> 192.168.169.196");
    assert!(
        text.contains("route: no route to 192.168.169.196 in any table"),
        "{text}"
    );
    assert!(
        text.contains("end: dropped at router/eth0 with IP_INNOROUTES"),
        "{text}"
    );
    assert!(
        text.contains("router has no route back to 192.168.70.42"),
        "{text}"
    );
}

/// L5: a bridged journey shows the FDB decision; the ARP broadcast is a flood.
#[test]
fn flannel_same_node_shows_the_bridge_fdb() {
    let text = explain_flow("flannel_same_node", "pod1 -> 10.244.1.3");
    assert!(
        text.contains("bridge FDB: 0a:58:0a:f4:01:03 is on port"),
        "{text}"
    );
    let r = run("flannel_same_node");
    let j = Journeys::new(&r.built.world).unwrap();
    let all: String = j.ids().map(|i| j.explain(i).unwrap()).collect();
    assert!(
        all.contains("bridge FDB: no entry for ff:ff:ff:ff:ff:ff: flooded"),
        "{all}"
    );
}

/// `--flow` takes a source address as well as a netns; unknown journeys and bad flows are
/// errors, not panics.
#[test]
fn flows_by_address_and_errors() {
    let r = run("pod_to_remote_eth");
    let j = Journeys::new(&r.built.world).unwrap();
    let by_ns = j.find_flow(&"pod11 -> 10.211.55.6".parse().unwrap());
    let by_addr = j.find_flow(&"10.42.1.11 -> 10.211.55.6".parse().unwrap());
    assert!(by_ns.is_some());
    assert_eq!(by_ns, by_addr);
    assert_eq!(j.find_flow(&"pod11 -> 192.0.2.1".parse().unwrap()), None);
    assert!(j.explain(u64::MAX).is_err());
    assert!("pod11 10.211.55.6".parse::<FlowSpec>().is_err());
    assert!("pod11 -> nowhere".parse::<FlowSpec>().is_err());
}

/// Recording is off unless asked: a world built by the library records no journal, and its
/// merged pcapng carries no comments; `sim run` (run_file) records one.
#[test]
fn journal_is_off_by_default_and_on_for_sim_run() {
    let text = std::fs::read_to_string(scenario_path("pod_to_remote_eth")).unwrap();
    let off = run_text("pod_to_remote_eth", &text);
    assert!(off.built.world.trace.journal.is_none());
    assert!(Journeys::new(&off.built.world).is_err());
    let on = run("pod_to_remote_eth");
    assert!(on.built.world.trace.journal.is_some());
    // The journal observes only: the same packets are captured either way.
    assert_eq!(off.built.world.trace.packets, on.built.world.trace.packets);

    let dir = std::env::temp_dir().join(format!("sim-explain-off-{}", std::process::id()));
    sim::run::write_outputs(&off, &dir).unwrap();
    let bytes = std::fs::read(dir.join("pod_to_remote_eth.pcapng")).unwrap();
    assert!(!bytes.windows(8).any(|w| w == b"journey "));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every packet of the merged pcapng has a comment `journey N in|out...` whose direction
/// agrees with epb_flags; the request dropped at node2/eth0 carries the rp_filter decision
/// and the drop reason; read back with tshark as Wireshark shows it (`frame.comment`).
#[test]
fn pcapng_comments_read_back_with_tshark() {
    if !tool_available("tshark") {
        return;
    }
    let r = run("pod_to_remote_eth");
    let dir = std::env::temp_dir().join(format!("sim-explain-tshark-{}", std::process::id()));
    sim::run::write_outputs(&r, &dir).unwrap();
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(dir.join("pod_to_remote_eth.pcapng"))
        .args([
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.packet_flags_direction",
            "-e",
            "frame.comment",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), r.built.world.trace.packets.len());
    for l in &lines {
        let f: Vec<&str> = l.splitn(3, '|').collect();
        assert_eq!(f.len(), 3, "{l}");
        let dir = match f[1] {
            "1" | "0x00000001" => "in",
            "2" | "0x00000002" => "out",
            d => panic!("direction {d:?} in {l}"),
        };
        let words: Vec<&str> = f[2].split(' ').collect();
        assert_eq!(words[0], "journey", "{l}");
        assert!(words[1].parse::<u64>().is_ok(), "{l}");
        assert_eq!(words[2].trim_end_matches(':'), dir, "{l}");
    }
    let rp: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("dropped: IP_RPFILTER"))
        .collect();
    assert_eq!(
        rp.len(),
        3,
        "one per echo request of the failing ping:\n{text}"
    );
    for l in rp {
        assert!(l.starts_with("node2/eth0|"), "{l}");
        assert!(
            l.contains(
                "rp_filter=1 fails: reverse route 10.42.1.0/24 via 10.211.55.5 dev tunl0 proto bird onlink not via eth0"
            ),
            "{l}"
        );
    }
    // Encapsulation is named where it happens, with the outer addresses.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("node1/eth0|")
                && l.contains("IPIP encap 10.211.55.5 > 10.211.55.6")),
        "{text}"
    );
}

/// The command line: `sim explain FILE --flow` prints the journey; a bad flow exits 2.
#[test]
fn sim_explain_command_line() {
    let exe = env!("CARGO_BIN_EXE_sim");
    let file = scenario_path("pod_to_remote_eth");
    let out = std::process::Command::new(exe)
        .arg("explain")
        .arg(&file)
        .args(["--flow", "pod11 -> 10.211.55.6"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("IP_RPFILTER"), "{text}");
    let id: u64 = text
        .strip_prefix("journey ")
        .and_then(|t| t.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let by_id = std::process::Command::new(exe)
        .arg("explain")
        .arg(&file)
        .args(["--packet", &id.to_string()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(by_id.stdout).unwrap(), text);
    let list = std::process::Command::new(exe)
        .arg("explain")
        .arg(&file)
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains("dropped at node2/eth0 (IP_RPFILTER)"),
        "{list}"
    );
    let bad = std::process::Command::new(exe)
        .arg("explain")
        .arg(&file)
        .args(["--flow", "pod11 10.211.55.6"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// The journal agrees with the ledger in every shipped scenario: one Deliver or Drop step per
/// delivered or dropped packet, one Capture step per captured packet (so every packet of the
/// merged pcapng gets a comment), and every drop's journey can be explained.
#[test]
fn journal_matches_the_ledger_in_every_shipped_scenario() {
    use sim::trace::journal::StepKind;
    for name in shipped() {
        let r = run(&name);
        let t = &r.built.world.trace;
        let j = t.journal.as_ref().unwrap();
        let count = |f: &dyn Fn(&StepKind) -> bool| j.steps.iter().filter(|s| f(&s.kind)).count();
        assert_eq!(
            count(&|k| matches!(k, StepKind::Deliver)) as u64,
            t.delivered,
            "{name}"
        );
        assert_eq!(
            count(&|k| matches!(k, StepKind::Drop { .. })) as u64,
            t.dropped,
            "{name}"
        );
        assert_eq!(
            count(&|k| matches!(k, StepKind::Capture { idx: Some(_), .. })),
            t.packets.len(),
            "{name}"
        );
        let js = Journeys::new(&r.built.world).unwrap();
        assert!(js.capture_comments().iter().all(Option::is_some), "{name}");
        for s in &j.steps {
            if let StepKind::Drop { reason } = s.kind {
                let text = js.explain(s.pkt).unwrap();
                assert!(text.contains(&format!("with {reason}")), "{name}:\n{text}");
            }
        }
    }
}

/// A UDP echo: the server's answer is linked to the datagram it echoes, so the journey of a
/// request goes on into its reply.
#[test]
fn udp_echo_reply_is_caused_by_the_request() {
    let text = explain_flow("udp_echo_pods", "node0-pod0 -> 10.0.0.2");
    assert!(text.contains("echo reply of journey"), "{text}");
    assert!(text.contains("end: delivered in node0-pod1"), "{text}");
    assert!(text.contains("end: delivered in node0-pod0"), "{text}");
}
