//! Shared helpers for the integration tests: run a shipped scenario, find its pings and drops.
#![allow(dead_code)]

use sim::run::{run_file, RunResult};
use std::path::{Path, PathBuf};

pub fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.ron"))
}

pub fn run(name: &str) -> RunResult {
    match run_file(&scenario_path(name)) {
        Ok(r) => r,
        Err(e) => panic!("{name}: {e}"),
    }
}

/// Every shipped scenario's stem.
pub fn shipped() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "ron").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

/// The ping started from `from` to `to` at `start_ms`.
pub fn ping<'a>(r: &'a RunResult, from: &str, to: &str, start_ms: u64) -> &'a sim::app::ping::Ping {
    let w = &r.built.world;
    w.pings
        .iter()
        .find(|p| {
            w.ns[p.spec.ns].name == from
                && p.spec.dst.to_string() == to
                && p.spec.start.as_ns() == start_ms * 1_000_000
        })
        .unwrap_or_else(|| panic!("no ping {from} -> {to} at {start_ms} ms"))
}

/// Drops attributed to a ping's requests (by its flow tag), as (place, reason name).
pub fn drops_of(r: &RunResult, p: &sim::app::ping::Ping) -> Vec<(String, String)> {
    let w = &r.built.world;
    let app = w.pings.iter().position(|q| std::ptr::eq(q, p)).unwrap() as u32;
    w.trace
        .drops
        .iter()
        .filter(|(_, t)| t.is_some_and(|t| t.app == app))
        .map(|(d, _)| (d.place.to_string(), d.reason.kernel_name().to_string()))
        .collect()
}

pub fn counter(r: &RunResult, ns: &str, name: &str) -> u64 {
    let w = &r.built.world;
    let i = w.ns_by_name(ns).unwrap();
    w.ns[i].counter(name)
}

/// Frames captured on `netns/dev` with `from_ns <= ts < to_ns`, in capture order, as
/// (time in ns, bytes).
pub fn captured(r: &RunResult, iface: &str, from_ns: u64, to_ns: u64) -> Vec<(u64, Vec<u8>)> {
    let w = &r.built.world;
    let i = w
        .trace
        .ifaces
        .iter()
        .position(|c| c.name == iface)
        .unwrap_or_else(|| panic!("the sim captures no interface {iface}"));
    w.trace
        .packets
        .iter()
        .filter(|p| p.iface == i && (from_ns..to_ns).contains(&p.ts.as_ns()))
        .map(|p| (p.ts.as_ns(), p.data.clone()))
        .collect()
}

/// True if `tool --version` runs. When it does not, the caller skips its check, unless
/// SIM_REQUIRE_TSHARK=1 (as in CI, which installs tshark and tcpdump): then it fails.
pub fn tool_available(tool: &str) -> bool {
    let required = std::env::var("SIM_REQUIRE_TSHARK").is_ok_and(|v| v == "1");
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !required,
            "{tool} is required (SIM_REQUIRE_TSHARK=1) but not installed"
        );
        eprintln!("skipped: {tool} is not installed (apt-get install {tool} to run this check)");
    }
    ok
}
