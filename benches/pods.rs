//! `cargo bench`: the ns-3 comparison workload (bench/ns3/WORKLOAD.md) at sizes S1-S4, each run
//! as a fresh `sim bench pods` process (so peak RSS is per size), and the 1,000 x 30 Calico IPIP
//! scale run (`sim bench cluster`). Prints one table; fails if a run does not deliver exactly
//! 2R datagrams or does not answer every ping. `SIM_BENCH_SIZES="4,8,10 16,16,2"` picks sizes;
//! `SIM_BENCH_SCALE=0` skips the scale run (about a minute and 1 GiB).

use std::collections::BTreeMap;
use std::process::Command;

const SIZES: &str = "4,8,10 16,16,2 64,4,1 64,16,1";

fn fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(args: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .map_err(|e| format!("sim {}: {e}", args.join(" ")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT")) else {
        return Err(format!(
            "sim {}: no RESULT line ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    };
    if !out.status.success() {
        return Err(format!(
            "sim {}: {}: {line}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(fields(line))
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let sizes = std::env::var("SIM_BENCH_SIZES").unwrap_or_else(|_| SIZES.to_string());
    let mut failed = false;
    println!(
        "{:<4} {:>4} {:>4} {:>3} {:>10} {:>11} {:>9} {:>9} {:>13} {:>10}",
        "size",
        "N",
        "P",
        "K",
        "delivered",
        "events",
        "setup_s",
        "run_s",
        "delivered/s",
        "maxrss_kb"
    );
    for (i, s) in sizes.split_whitespace().enumerate() {
        let v: Vec<&str> = s.split(',').collect();
        let [n, p, k] = v[..] else {
            eprintln!("SIM_BENCH_SIZES: {s}: expected N,P,K");
            std::process::exit(2);
        };
        let args = ["bench", "pods", "--nodes", n, "--pods", p, "--k", k];
        match run(&args) {
            Ok(f) => {
                let g = |k: &str| f.get(k).cloned().unwrap_or_default();
                println!(
                    "{:<4} {:>4} {:>4} {:>3} {:>10} {:>11} {:>9} {:>9} {:>13} {:>10}",
                    format!("S{}", i + 1),
                    n,
                    p,
                    k,
                    g("delivered"),
                    g("events"),
                    g("setup_s"),
                    g("run_s"),
                    g("delivered_per_s"),
                    g("maxrss_kb")
                );
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if std::env::var("SIM_BENCH_SCALE").as_deref() != Ok("0") {
        match run(&["bench", "cluster", "--nodes", "1000", "--pods", "30"]) {
            Ok(f) => {
                let g = |k: &str| f.get(k).cloned().unwrap_or_default();
                println!(
                    "\nscale: Calico IPIP, 1000 nodes x 30 pods ({} netns, {} routes per node): build {} s (parse {} s), {} of {} node-pair pings answered in {} s, {} events, RSS {} kB after build, {} kB peak",
                    g("netns"),
                    g("node_routes"),
                    g("build_s"),
                    g("parse_s"),
                    g("replied"),
                    g("pings"),
                    g("run_s"),
                    g("events"),
                    g("build_rss_kb"),
                    g("maxrss_kb")
                );
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
