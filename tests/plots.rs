//! The pictures of `sim run --plot` and `sim check --plot`: each SVG parses as XML and holds
//! the lanes, arrows and drop marks expected; no two labels on one line overlap.
#![cfg(feature = "plot")]

mod common;
use common::*;
use sim::explain::Journeys;
use sim::plot::{self, Picture};

/// The kernel-reason colour of IP_RPFILTER (`plot::reason_color`), as SVG writes it.
const RPFILTER_RED: &str = "#D62728";
/// Encapsulated hops.
const ENCAP_ORANGE: &str = "#E67800";

/// A text element: position, anchor, size, content.
#[derive(Debug)]
struct Label {
    x: f64,
    y: f64,
    anchor: String,
    size: f64,
    text: String,
}

fn labels(svg: &str) -> Vec<Label> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| Label {
            x: n.attribute("x").unwrap().parse().unwrap(),
            y: n.attribute("y").unwrap().parse().unwrap(),
            anchor: n.attribute("text-anchor").unwrap_or("start").to_string(),
            size: n.attribute("font-size").unwrap().parse().unwrap(),
            text: n.text().unwrap_or_default().trim().to_string(),
        })
        .collect()
}

/// Elements with `stroke` colour `color` and at least `width` stroke width.
fn stroked(svg: &str, color: &str, width: f64) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.attribute("stroke") == Some(color))
        .filter(|n| {
            n.attribute("stroke-width")
                .and_then(|w| w.parse::<f64>().ok())
                .is_some_and(|w| w >= width)
        })
        .count()
}

/// No two labels on one baseline overlap, by a generous width estimate (0.55 em a character).
fn assert_no_overlap(what: &str, svg: &str) {
    let mut ls = labels(svg);
    ls.sort_by(|a, b| (a.y, a.x).partial_cmp(&(b.y, b.x)).unwrap());
    let extent = |l: &Label| {
        let w = l.text.chars().count() as f64 * l.size * 0.55;
        match l.anchor.as_str() {
            "middle" => (l.x - w / 2.0, l.x + w / 2.0),
            "end" => (l.x - w, l.x),
            _ => (l.x, l.x + w),
        }
    };
    for (i, a) in ls.iter().enumerate() {
        for b in &ls[i + 1..] {
            if (a.y - b.y).abs() >= a.size.max(b.size) * 0.8
                || a.text.is_empty()
                || b.text.is_empty()
            {
                continue;
            }
            let ((a0, a1), (b0, b1)) = (extent(a), extent(b));
            assert!(
                a1 <= b0 || b1 <= a0,
                "{what}: labels overlap: {:?} at ({}, {}) and {:?} at ({}, {})",
                a.text,
                a.x,
                a.y,
                b.text,
                b.x,
                b.y
            );
        }
    }
}

fn ladder_of(name: &str, flow: &str) -> String {
    let r = run(name);
    let j = Journeys::new(&r.built.world).unwrap();
    let id = j.find_flow(&flow.parse().unwrap()).unwrap();
    plot::ladder(&j, id, flow).unwrap()
}

/// The lane headers, left to right: (netns, dev).
fn lanes(svg: &str) -> Vec<(String, String)> {
    let ls = labels(svg);
    let mut ns: Vec<&Label> = ls.iter().filter(|l| (l.y - 48.0).abs() < 1.0).collect();
    let mut dev: Vec<&Label> = ls.iter().filter(|l| (l.y - 66.0).abs() < 1.0).collect();
    ns.sort_by(|a, b| a.x.partial_cmp(&b.x).unwrap());
    dev.sort_by(|a, b| a.x.partial_cmp(&b.x).unwrap());
    ns.iter()
        .zip(dev)
        .map(|(a, b)| (a.text.clone(), b.text.clone()))
        .collect()
}

/// L2's failing ping: the lanes are the interfaces the request crossed, in order, and the
/// drop is a red cross on node2/eth0 with its reason.
#[test]
fn ladder_of_the_rp_filter_drop_has_its_lanes_and_a_drop_mark() {
    let svg = ladder_of("pod_to_remote_eth", "pod11 -> 10.211.55.6");
    let want: Vec<(String, String)> = [
        ("pod11", "eth0"),
        ("node1", "cali11"),
        ("node1", "eth0"),
        ("node2", "eth0"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(lanes(&svg), want);
    let texts: Vec<String> = labels(&svg).into_iter().map(|l| l.text).collect();
    assert!(
        texts
            .iter()
            .any(|t| t == "DROPPED IP_RPFILTER at node2/eth0"),
        "{texts:?}"
    );
    // The cross: two strokes in the reason's colour (and nothing else is that red).
    assert_eq!(stroked(&svg, RPFILTER_RED, 3.0), 2);
    assert_eq!(
        stroked(&svg, ENCAP_ORANGE, 5.0),
        1,
        "only the legend's sample: the request is not tunnelled"
    );
    assert_no_overlap("ladder", &svg);
}

/// Pod to remote pod: eight lanes out and back, the two wire hops between the nodes'
/// underlay NICs drawn as encapsulated and labelled IPIP; no drop.
#[test]
fn ladder_of_pod_to_pod_marks_the_ipip_hops() {
    let svg = ladder_of("pod_to_remote_eth", "pod11 -> 10.42.2.11");
    let l = lanes(&svg);
    assert_eq!(l.len(), 8, "{l:?}");
    assert_eq!(l[0], ("pod11".into(), "eth0".into()));
    assert_eq!(l[2], ("node1".into(), "tunl0".into()));
    assert_eq!(l[7], ("pod21".into(), "eth0".into()));
    let texts: Vec<String> = labels(&svg).into_iter().map(|l| l.text).collect();
    assert_eq!(
        texts.iter().filter(|t| *t == "IPIP").count(),
        2,
        "request and reply"
    );
    // Two thick hops plus the legend's sample.
    assert_eq!(stroked(&svg, ENCAP_ORANGE, 5.0), 3);
    assert_eq!(stroked(&svg, RPFILTER_RED, 3.0), 0);
    assert!(texts.iter().any(|t| t == "delivered in pod11"), "{texts:?}");
}

/// The timeline has a row per captured interface, three IP_RPFILTER crosses (one per
/// request) plus the legend's, and the legend names the reason with its count.
#[test]
fn timeline_rows_and_drops() {
    let r = run("pod_to_remote_eth");
    let svg = plot::timeline(&r.built.world, "pod_to_remote_eth").unwrap();
    let texts: Vec<String> = labels(&svg).into_iter().map(|l| l.text).collect();
    for iface in r.built.world.trace.ifaces.iter() {
        assert!(texts.contains(&iface.name), "no row for {}", iface.name);
    }
    assert!(texts.iter().any(|t| t == "IP_RPFILTER (3)"), "{texts:?}");
    assert_eq!(stroked(&svg, RPFILTER_RED, 3.0), 2 * (3 + 1));
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("6: pod11 -> 10.211.55.6 (0/3")),
        "{texts:?}"
    );
}

/// The reachability picture colours netns and lists the failing pairs `sim check` found.
#[test]
fn reachability_topology_lists_failing_pairs() {
    let text = std::fs::read_to_string(scenario_path("calico_ipip_preset")).unwrap();
    let path = scenario_path("calico_ipip_preset").display().to_string();
    let s = sim::scenario::parse(&path, &text).unwrap();
    let base = sim::check::base(&path, &text, &s, None).unwrap();
    let (src, dst) = sim::check::endpoints(&base.world, &[], &[]).unwrap();
    let m = sim::check::matrix(&base.world, base.at, &src, &dst, 1, &|| {}).unwrap();
    let reach = plot::Reach::from_matrix(&m);
    assert!(!reach.failures.is_empty());
    let svg = plot::topology(&base.world, &base.name, Some(&reach)).unwrap();
    let texts: Vec<String> = labels(&svg).into_iter().map(|l| l.text).collect();
    for n in base.world.ns.iter() {
        assert!(texts.contains(&n.name), "no box for {}", n.name);
    }
    let head = format!("failing pairs ({}):", reach.failures.len());
    assert!(texts.contains(&head), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("IP_RPFILTER @")),
        "{texts:?}"
    );
    assert_no_overlap("reachability", &svg);
}

/// Every shipped scenario's pictures parse and have no overlapping labels; `--plot png`
/// writes PNG files.
#[test]
fn every_shipped_scenario_draws_legibly() {
    for name in shipped() {
        let r = run(&name);
        let pics: Vec<Picture> = plot::run_pictures(&r).unwrap();
        assert!(
            pics.len() >= 2 + usize::from(!r.built.world.pings.is_empty()),
            "{name}"
        );
        for p in &pics {
            assert!(p.svg.starts_with("<svg"), "{name}/{}", p.stem);
            if p.stem != "timeline" {
                assert_no_overlap(&format!("{name}/{}", p.stem), &p.svg);
            } else {
                labels(&p.svg);
            }
        }
    }
    let r = run("calico_pod_host");
    let pics = plot::run_pictures(&r).unwrap();
    let dir = std::env::temp_dir().join(format!("sim-plots-{}", std::process::id()));
    let files = plot::write_pictures(&pics[..1], &dir, plot::Format::Png).unwrap();
    let bytes = std::fs::read(&files[0]).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sim run --plot` writes the pictures beside the traces.
#[test]
fn sim_run_plot_writes_svgs_beside_the_traces() {
    let dir = std::env::temp_dir().join(format!("sim-run-plot-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .arg("run")
        .arg(scenario_path("ipip_cross_subnet"))
        .arg("--out")
        .arg(&dir)
        .arg("--plot")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "topology.svg",
        "timeline.svg",
        "ladder-1-pod-a-192.168.169.196.svg",
        "ladder-2-pod-a-192.168.169.196.svg",
        "ipip_cross_subnet.pcapng",
    ] {
        assert!(dir.join(f).is_file(), "no {f}");
    }
    let svg = std::fs::read_to_string(dir.join("ladder-1-pod-a-192.168.169.196.svg")).unwrap();
    let texts: Vec<String> = labels(&svg).into_iter().map(|l| l.text).collect();
    assert!(
        texts
            .iter()
            .any(|t| t == "DROPPED IP_INNOROUTES at router/eth0"),
        "{texts:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// L1's pod without a route to 169.254.1.1 on its node: the request never leaves the pod; the
/// ladder shows its unanswered ARP broadcasts reaching the node's tap3 and the NEIGH_FAILED
/// drop in the pod, as tcpdump on the two interfaces would.
#[test]
fn ladder_of_an_unanswered_arp_shows_the_requests_and_the_drop() {
    let svg = ladder_of("calico_pod_host", "pod23 -> 10.211.55.6");
    assert_eq!(
        lanes(&svg),
        vec![
            ("pod23".to_string(), "eth0".to_string()),
            ("node2".to_string(), "tap3".to_string())
        ]
    );
    let texts: Vec<String> = labels(&svg).into_iter().map(|l| l.text).collect();
    let arp = "out ARP, Request who-has 169.254.1.1 tell 10.42.2.13, length 28";
    assert!(texts.iter().filter(|t| *t == arp).count() >= 2, "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains("ARP, Reply")), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t == "DROPPED NEIGH_FAILED at pod23/eth0"),
        "{texts:?}"
    );
    assert_no_overlap("ladder", &svg);
}
