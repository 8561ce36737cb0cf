//! The real kernel as oracle, on every shipped scenario: `sim::oracle::run` builds each one in
//! network namespaces of this machine (the commands `sim export` prints), runs the same pings,
//! captures with tcpdump and compares frames, tables, ping results and nstat counters with sim.
//! A difference is a bug in sim (or a normalisation to document in README, "The kernel as
//! oracle"). Scenarios with a device this kernel lacks (ipip) are skipped, with the reason.
//!
//! Needs root and iproute2, tcpdump, iputils ping, ethtool, nstat (and iptables, ipset for the
//! presets that program them). Without them the test prints why and passes, unless `CI=true`
//! or `SIM_REQUIRE_ORACLE=1`, where that is a failure. The scenarios run concurrently (they
//! sleep in real time; the longest, calico_vxlan, takes about 45 s).

mod common;
use common::*;
use sim::oracle::{self, Outcome};

/// The labs the kernel can build; they must be compared, never skipped.
const KERNEL_LABS: &[&str] = &[
    "calico_pod_host",   // L1
    "flannel_same_node", // L5
    "calico_vxlan",      // L6
    "flannel_vxlan",     // L7
    "calico_vxlan_l2",   // L2 with VXLAN
    "router_icmp",       // TTL exceeded and unreachable from routers
    "calico_vxlan_preset",
    "flannel_vxlan_preset",
    "flannel_host_gw",
];

/// Whether the oracle can run here; `Err` says why not.
fn oracle_available() -> Result<(), String> {
    oracle::require_root().map_err(|e| e.to_string())?;
    let missing = oracle::missing_tools(&["iptables", "ipset"]);
    if !missing.is_empty() {
        return Err(format!("missing tools: {}", missing.join(", ")));
    }
    Ok(())
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SIM_REQUIRE_ORACLE").is_ok_and(|v| v == "1")
}

#[test]
fn every_shipped_scenario_the_kernel_can_build_matches_the_kernel() {
    if let Err(why) = oracle_available() {
        assert!(
            !required(),
            "the kernel oracle cannot run ({why}); CI=true / SIM_REQUIRE_ORACLE=1 require it"
        );
        eprintln!("SKIPPED: the kernel oracle needs root and its tools: {why}");
        return;
    }
    let names = shipped();
    for lab in KERNEL_LABS {
        assert!(names.iter().any(|n| n == lab), "{lab} is not shipped");
    }
    // Every scenario at once: each sleeps through its real-time ping schedule.
    let handles: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let name = name.clone();
            std::thread::spawn(move || {
                let opts = oracle::Options::unique(&format!("t{i}"));
                let out = oracle::run(&scenario_path(&name), &opts);
                (name, out)
            })
        })
        .collect();
    let mut failures = String::new();
    let mut compared = 0;
    for h in handles {
        let (name, out) = h.join().expect("oracle thread panicked");
        match out {
            Ok(Outcome::Compared(r)) => {
                compared += 1;
                eprintln!(
                    "{name}: {} frames at {} capture points, {} netns, {} pings: {} differences",
                    r.frames_kernel,
                    r.captures,
                    r.netns,
                    r.pings,
                    r.diffs.len()
                );
                if let Some(why) = &r.repeated {
                    eprintln!("{name}: run twice: {why}");
                }
                if !r.diffs.is_empty() {
                    failures.push_str(&r.render());
                    failures.push('\n');
                }
            }
            Ok(Outcome::Skipped { name, reason }) => {
                eprintln!("{name}: skipped: {reason}");
                if KERNEL_LABS.contains(&name.as_str()) {
                    failures.push_str(&format!("{name} was skipped: {reason}\n"));
                } else if !reason.contains("ipip") {
                    failures.push_str(&format!(
                        "{name}: skipped for another reason than ipip: {reason}\n"
                    ));
                }
            }
            Err(e) => failures.push_str(&format!("{name}: the oracle failed: {e}\n")),
        }
    }
    assert!(
        compared >= KERNEL_LABS.len(),
        "only {compared} scenarios compared"
    );
    assert!(
        failures.is_empty(),
        "sim differs from the kernel:\n{failures}"
    );
}

#[test]
fn oracle_reports_ipip_as_skipped_with_the_reason() {
    if oracle_available().is_err() {
        return;
    }
    if std::path::Path::new("/sys/module/ipip").exists() {
        eprintln!("this kernel has ipip: nothing is skipped");
        return;
    }
    let opts = oracle::Options::unique("ipip");
    match oracle::run(&scenario_path("ipip_cross_subnet"), &opts) {
        Ok(Outcome::Skipped { reason, .. }) => assert!(reason.contains("ipip"), "{reason}"),
        Ok(Outcome::Compared(r)) => panic!("compared without ipip?\n{}", r.render()),
        Err(e) => panic!("{e}"),
    }
}
