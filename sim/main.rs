//! The `sim` command line: load a scenario, run it, print what happened, write traces.
//! The only place that prints or exits.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "Packet-level simulator of Linux container networking"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario: print ping output, drops and expectations; write traces.
    Run {
        file: PathBuf,
        /// Output directory (default: traces/<scenario>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also print every netns's tables after the run.
        #[arg(long)]
        tables: bool,
    },
    /// Print the low-level scenario a `cluster` preset expands to (hosts, pods, devices,
    /// addresses, routes, neighbours, FDB, sysctls, NAT rules), as RON that `sim run` loads.
    Expand { file: PathBuf },
    /// Run a scenario and print every netns's `ip addr`, `ip route`, `ip neigh` after it.
    Routes {
        file: PathBuf,
        /// Only this netns.
        #[arg(long)]
        netns: Option<String>,
        /// Stop at this virtual time (ms) instead of the end.
        #[arg(long)]
        at_ms: Option<u64>,
        /// Print `route -n` (net-tools) instead of iproute2's tables.
        #[arg(long)]
        route_n: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { file, out, tables } => {
            let r = match sim::run::run_file(&file) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("sim: {e}");
                    return ExitCode::from(2);
                }
            };
            print!("{}", sim::run::report(&r));
            if tables {
                for ns in 0..r.built.world.ns.len() {
                    println!("\n{}", r.built.world.tables(ns));
                }
            }
            let dir = out.unwrap_or_else(|| PathBuf::from("traces").join(&r.built.name));
            match sim::run::write_outputs(&r, &dir) {
                Ok(files) => println!("\ntraces: {} files in {}", files.len(), dir.display()),
                Err(e) => {
                    eprintln!("sim: {e}");
                    return ExitCode::from(2);
                }
            }
            if r.all_ok() {
                ExitCode::SUCCESS
            } else {
                eprintln!("sim: expectations failed");
                ExitCode::from(1)
            }
        }
        Cmd::Expand { file } => {
            let expanded = sim::scenario::load(&file).and_then(|(s, text)| {
                sim::scenario::expand(&file.display().to_string(), &text, &s)
            });
            match expanded {
                Ok(s) => {
                    print!("{}", sim::scenario::emit::to_ron(&s));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sim: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Routes {
            file,
            netns,
            at_ms,
            route_n,
        } => {
            let built = match sim::scenario::load(&file).and_then(|(s, text)| {
                let mut s = s;
                if let Some(ms) = at_ms {
                    s.duration_ms = Some(ms);
                }
                sim::scenario::build(&file.display().to_string(), &text, &s)
            }) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("sim: {e}");
                    return ExitCode::from(2);
                }
            };
            let r = match sim::run::run_built(built) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("sim: {e}");
                    return ExitCode::from(2);
                }
            };
            let w = &r.built.world;
            let mut found = false;
            for ns in 0..w.ns.len() {
                if netns.as_deref().is_some_and(|n| n != w.ns[ns].name) {
                    continue;
                }
                found = true;
                if route_n {
                    println!(
                        "# ip netns exec {} route -n\n{}",
                        w.ns[ns].name,
                        w.route_n(ns)
                    );
                } else {
                    println!("{}", w.tables(ns));
                }
            }
            if !found {
                eprintln!("sim: no netns named {:?}", netns.unwrap_or_default());
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
    }
}
