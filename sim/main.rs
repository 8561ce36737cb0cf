//! The `sim` command line: load a scenario, run it, print what happened, write traces.
//! The only place that prints or exits.

use clap::{Parser, Subcommand, ValueEnum};

/// `print!` that does not panic when stdout is a closed pipe (`sim ... | head`).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// `println!` without the panic on a closed pipe.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
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
        /// Also draw pictures beside the traces: topology, timeline, a ladder per ping
        /// (svg by default, or png).
        #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "svg")]
        plot: Option<PlotFormat>,
    },
    /// Ping between every ordered pair of endpoints, each pair in a fresh copy of the world,
    /// and print the reachability matrix (or, with --set, the cells a change would alter).
    Check {
        file: PathBuf,
        /// Source netns: names, globs (`pod*`) or addresses, comma-separated (default: every
        /// netns with a global address).
        #[arg(long, value_delimiter = ',')]
        from: Vec<String>,
        /// Targets: netns names or globs (each of their global addresses) or addresses,
        /// comma-separated (default: every global address).
        #[arg(long, value_delimiter = ',')]
        to: Vec<String>,
        /// Ping at this virtual time (ms), with the changes due by then applied (default: the
        /// time of the last change).
        #[arg(long)]
        at_ms: Option<u64>,
        /// What if: `[NETNS:]key=value` (a sysctl; every netns without NETNS:) or
        /// `NETNS:COMMAND` (any command `changes` accept). Repeatable; prints changed cells.
        #[arg(long = "set", value_name = "[NETNS:]CMD")]
        set: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Threads (default: the machine's cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Also draw the topology with the reachability coloured on it, as
        /// `reachability.svg` (or png) in --out (svg by default).
        #[arg(long, value_name = "FORMAT", num_args = 0..=1, default_missing_value = "svg")]
        plot: Option<PlotFormat>,
        /// Directory for --plot (default: traces/<scenario>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a scenario and explain one packet's journey hop by hop, with the replies and ICMP
    /// errors it caused; without --packet or --flow, list the packets local senders sent.
    Explain {
        file: PathBuf,
        /// The journey id (as the pcapng comments show it).
        #[arg(long, conflicts_with = "flow")]
        packet: Option<u64>,
        /// The first packet from SRC (a netns or an address) to DST: 'pod-a -> 10.211.55.6'.
        #[arg(long)]
        flow: Option<String>,
    },
    /// Generate a scenario: `sim gen pods` prints the all-pairs UDP echo workload of the ns-3
    /// comparison (bench/ns3/WORKLOAD.md) as RON.
    Gen {
        #[command(subcommand)]
        what: GenCmd,
    },
    /// Measure the ns-3 comparison workload: `sim bench pods` prints one RESULT line (set-up
    /// and event-loop seconds, delivered datagrams, peak RSS) and fails unless exactly 2R
    /// datagrams were delivered.
    Bench {
        #[command(subcommand)]
        what: GenCmd,
    },
    /// Print the low-level scenario a `cluster` preset expands to (hosts, pods, devices,
    /// addresses, routes, neighbours, FDB, sysctls, NAT rules), as RON that `sim run` loads.
    Expand { file: PathBuf },
    /// Print a scenario as the iproute2/sysctl commands of a by-hand lab (one netns per host
    /// and pod), a shell script to run as root; `setup` loads it back.
    Export {
        file: PathBuf,
        /// Put this before every netns name.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Build the scenario in real network namespaces of this machine (root only), run the same
    /// pings, capture with tcpdump and compare frames, tables, pings and counters with sim.
    Oracle {
        file: PathBuf,
        /// Leave the namespaces and captures behind (in --work-dir) for a look.
        #[arg(long)]
        keep: bool,
        /// Netns name prefix (default: unique per run).
        #[arg(long)]
        prefix: Option<String>,
        /// Where the captures go (default: a directory under the system's temp dir).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
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

/// `--plot`'s picture format.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlotFormat {
    Svg,
    Png,
}

/// `sim run --plot`: the run's pictures beside its traces.
#[cfg(feature = "plot")]
fn plot_run(
    r: &sim::run::RunResult,
    dir: &std::path::Path,
    f: PlotFormat,
) -> Result<Vec<PathBuf>, sim::error::Error> {
    let pics = sim::plot::run_pictures(r).map_err(|msg| sim::error::Error::Arg {
        arg: "--plot".into(),
        msg,
    })?;
    sim::plot::write_pictures(&pics, dir, plot_format(f))
}

/// `sim check --plot`: the topology with the matrix's reachability on it.
#[cfg(feature = "plot")]
fn plot_check(
    w: &sim::world::World,
    name: &str,
    m: &sim::check::Matrix,
    dir: &std::path::Path,
    f: PlotFormat,
) -> Result<Vec<PathBuf>, sim::error::Error> {
    let reach = sim::plot::Reach::from_matrix(m);
    let svg = sim::plot::topology(w, name, Some(&reach)).map_err(|msg| sim::error::Error::Arg {
        arg: "--plot".into(),
        msg,
    })?;
    let pic = sim::plot::Picture {
        stem: "reachability".into(),
        svg,
    };
    sim::plot::write_pictures(&[pic], dir, plot_format(f))
}

#[cfg(feature = "plot")]
fn plot_format(f: PlotFormat) -> sim::plot::Format {
    match f {
        PlotFormat::Svg => sim::plot::Format::Svg,
        PlotFormat::Png => sim::plot::Format::Png,
    }
}

#[cfg(not(feature = "plot"))]
fn no_plot() -> sim::error::Error {
    sim::error::Error::Arg {
        arg: "--plot".into(),
        msg: "this sim was built without the `plot` feature".into(),
    }
}

#[cfg(not(feature = "plot"))]
fn plot_run(
    _: &sim::run::RunResult,
    _: &std::path::Path,
    _: PlotFormat,
) -> Result<Vec<PathBuf>, sim::error::Error> {
    Err(no_plot())
}

#[cfg(not(feature = "plot"))]
fn plot_check(
    _: &sim::world::World,
    _: &str,
    _: &sim::check::Matrix,
    _: &std::path::Path,
    _: PlotFormat,
) -> Result<Vec<PathBuf>, sim::error::Error> {
    Err(no_plot())
}

#[derive(Subcommand)]
enum GenCmd {
    /// N nodes on one segment, P Calico pods each, K UDP echo requests per ordered pod pair.
    Pods(PodsArgs),
    /// A Calico cluster of N nodes x P pods and one ping between the first pods of every
    /// ordered pair of nodes.
    Cluster(ClusterArgs),
}

#[derive(clap::Args)]
struct ClusterArgs {
    #[arg(long, default_value_t = 1000)]
    nodes: u32,
    #[arg(long, default_value_t = 30)]
    pods: u32,
    #[arg(long, value_enum, default_value_t = EncapArg::Ipip)]
    encap: EncapArg,
    /// Nodes per rack (a segment and /24 each, joined by one router); 0: one segment.
    #[arg(long, default_value_t = 50)]
    rack_size: u32,
    /// Virtual time between two consecutive pings of the global schedule.
    #[arg(long, default_value_t = 1_000)]
    gap_ns: u64,
    /// `sim bench cluster`: build the world and stop (no pings).
    #[arg(long)]
    build_only: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl ClusterArgs {
    fn workload(&self) -> Result<sim::scenario::gen::ClusterWorkload, String> {
        let w = sim::scenario::gen::ClusterWorkload {
            nodes: self.nodes,
            pods: self.pods,
            rack_size: self.rack_size,
            encap: self.encap.into(),
            gap_ns: self.gap_ns,
            seed: self.seed,
        };
        w.check()?;
        Ok(w)
    }
}

impl From<EncapArg> for sim::scenario::gen::Encap {
    fn from(e: EncapArg) -> Self {
        use sim::scenario::gen::Encap;
        match e {
            EncapArg::None => Encap::None,
            EncapArg::Ipip => Encap::Ipip,
            EncapArg::Vxlan => Encap::Vxlan,
        }
    }
}

#[derive(clap::Args)]
struct PodsArgs {
    /// N: nodes.
    #[arg(long, default_value_t = 4)]
    nodes: u32,
    /// P: pods per node.
    #[arg(long, default_value_t = 8)]
    pods: u32,
    /// K: requests per ordered pod pair.
    #[arg(long, default_value_t = 10)]
    k: u32,
    /// UDP payload bytes.
    #[arg(long, default_value_t = 56)]
    payload: usize,
    /// Virtual time between two consecutive requests of the global schedule.
    #[arg(long, default_value_t = 20_000)]
    gap_ns: u64,
    /// Cross-node encapsulation: none (the ns-3 workload), ipip or vxlan (heavier variants).
    #[arg(long, value_enum, default_value_t = EncapArg::None)]
    encap: EncapArg,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EncapArg {
    None,
    Ipip,
    Vxlan,
}

impl PodsArgs {
    fn workload(&self) -> Result<sim::scenario::gen::PodsWorkload, String> {
        use sim::scenario::gen::PodsWorkload;
        let w = PodsWorkload {
            nodes: self.nodes,
            pods: self.pods,
            k: self.k,
            payload: self.payload,
            gap_ns: self.gap_ns,
            encap: self.encap.into(),
            seed: self.seed,
        };
        w.check()?;
        Ok(w)
    }
}

/// `sim check --format`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Gen {
            what: GenCmd::Pods(a),
        } => match a.workload() {
            Ok(w) => {
                out!("{}", w.to_ron());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sim: gen pods: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Gen {
            what: GenCmd::Cluster(a),
        } => match a.workload() {
            Ok(w) => {
                out!("{}", w.to_ron());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sim: gen cluster: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Bench {
            what: GenCmd::Cluster(a),
        } => {
            let w = match a.workload() {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("sim: bench cluster: {e}");
                    return ExitCode::from(2);
                }
            };
            match sim::bench::run_cluster(&w, a.build_only) {
                Ok(r) => {
                    outln!("{}", r.line());
                    if a.build_only || r.replied == w.pings() {
                        ExitCode::SUCCESS
                    } else {
                        eprintln!(
                            "sim: bench cluster: {} of {} pings answered",
                            r.replied,
                            w.pings()
                        );
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("sim: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Bench {
            what: GenCmd::Pods(a),
        } => {
            let w = match a.workload() {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("sim: bench pods: {e}");
                    return ExitCode::from(2);
                }
            };
            match sim::bench::run_pods(&w, started) {
                Ok(r) => {
                    outln!("{}", r.line());
                    if r.delivered == 2 * w.requests() {
                        ExitCode::SUCCESS
                    } else {
                        eprintln!(
                            "sim: bench pods: {} datagrams delivered, expected exactly {}",
                            r.delivered,
                            2 * w.requests()
                        );
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("sim: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Check {
            file,
            from,
            to,
            at_ms,
            set,
            format,
            jobs,
            plot,
            out,
        } => match check(&file, &from, &to, at_ms, &set, format, jobs, plot, out) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("sim: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Run {
            file,
            out,
            tables,
            plot,
        } => {
            let r = match sim::run::run_file(&file) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("sim: {e}");
                    return ExitCode::from(2);
                }
            };
            out!("{}", sim::run::report(&r));
            if tables {
                for ns in 0..r.built.world.ns.len() {
                    outln!("\n{}", r.built.world.tables(ns));
                }
            }
            let dir = out.unwrap_or_else(|| PathBuf::from("traces").join(&r.built.name));
            match sim::run::write_outputs(&r, &dir) {
                Ok(files) => outln!("\ntraces: {} files in {}", files.len(), dir.display()),
                Err(e) => {
                    eprintln!("sim: {e}");
                    return ExitCode::from(2);
                }
            }
            if let Some(format) = plot {
                match plot_run(&r, &dir, format) {
                    Ok(files) => outln!("plots: {} files in {}", files.len(), dir.display()),
                    Err(e) => {
                        eprintln!("sim: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            if r.all_ok() {
                ExitCode::SUCCESS
            } else {
                eprintln!("sim: expectations failed");
                ExitCode::from(1)
            }
        }
        Cmd::Explain { file, packet, flow } => match explain(&file, packet, flow.as_deref()) {
            Ok(text) => {
                out!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sim: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Expand { file } => {
            let expanded = sim::scenario::load(&file).and_then(|(s, text)| {
                sim::scenario::expand(&file.display().to_string(), &text, &s)
            });
            match expanded {
                Ok(s) => {
                    out!("{}", sim::scenario::emit::to_ron(&s));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sim: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Export { file, prefix } => {
            let out = sim::scenario::load(&file).and_then(|(s, text)| {
                let path = file.display().to_string();
                let s = sim::scenario::expand(&path, &text, &s)?;
                let built = sim::scenario::build(&path, &text, &s)?;
                sim::scenario::export::export(&s, &built.world, &prefix)
            });
            match out {
                Ok(ex) => {
                    print!("{}", ex.script());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sim: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Oracle {
            file,
            keep,
            prefix,
            work_dir,
        } => {
            let mut opts = sim::oracle::Options::unique("cli");
            if let Some(p) = prefix {
                opts.prefix = p;
            }
            if let Some(d) = work_dir {
                opts.work_dir = d;
            }
            opts.keep = keep;
            match sim::oracle::run(&file, &opts) {
                Ok(sim::oracle::Outcome::Skipped { name, reason }) => {
                    println!(
                        "== oracle: {name} ==
skipped: {reason}"
                    );
                    ExitCode::from(3)
                }
                Ok(sim::oracle::Outcome::Compared(r)) => {
                    print!("{}", r.render());
                    if keep {
                        println!(
                            "kept: namespaces {}*, captures in {}",
                            opts.prefix,
                            opts.work_dir.display()
                        );
                    }
                    if r.diffs.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
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
                    outln!(
                        "# ip netns exec {} route -n\n{}",
                        w.ns[ns].name,
                        w.route_n(ns)
                    );
                } else {
                    outln!("{}", w.tables(ns));
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

/// `sim explain`: the journey of one packet, or the list of sent packets.
fn explain(
    file: &std::path::Path,
    packet: Option<u64>,
    flow: Option<&str>,
) -> Result<String, Box<dyn std::error::Error>> {
    use sim::explain::{FlowSpec, Journeys};
    let flow: Option<FlowSpec> = flow.map(str::parse).transpose()?;
    let r = sim::run::run_file(file)?;
    let j = Journeys::new(&r.built.world)?;
    let id = match (packet, flow) {
        (Some(id), _) => id,
        (None, Some(f)) => j
            .find_flow(&f)
            .ok_or_else(|| sim::explain::ExplainError::NoFlow(format!("{} -> {}", f.from, f.to)))?,
        (None, None) => return Ok(j.list_sent()),
    };
    Ok(j.explain(id)?)
}

/// `sim check`: 0 when the matrix was computed and the scenario's expectations hold, 1 when
/// one fails; errors are bad input (2).
#[allow(clippy::too_many_arguments)]
fn check(
    file: &std::path::Path,
    from: &[String],
    to: &[String],
    at_ms: Option<u64>,
    set: &[String],
    format: Format,
    jobs: Option<usize>,
    plot: Option<PlotFormat>,
    out: Option<PathBuf>,
) -> Result<ExitCode, sim::error::Error> {
    use sim::check;
    let (s, text) = sim::scenario::load(file)?;
    let path = file.display().to_string();
    let base = check::base(&path, &text, &s, at_ms)?;
    let (sources, targets) = check::endpoints(&base.world, from, to)?;
    let sets = check::parse_sets(&base.world, set)?;
    let mut what_if = None;
    if !sets.is_empty() {
        let mut w = base.world.clone();
        check::apply_sets(&mut w, &sets)?;
        what_if = Some(w);
    }
    let outcomes = check::expectations(&path, &text, &s)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pairs = sources.len() * targets.len();
    let total = pairs * if what_if.is_some() { 2 } else { 1 };
    let bar = progress(total as u64);
    let tick = || bar.tick_pair();
    let m = check::matrix(&base.world, base.at, &sources, &targets, jobs, &tick)?;
    let after = match &what_if {
        Some(w) => Some(check::matrix(w, base.at, &sources, &targets, jobs, &tick)?),
        None => None,
    };
    bar.done();
    let text = match (&after, format) {
        (None, Format::Table) => check::render_table(&base, &m),
        (None, Format::Json) => check::render_json(&base, &m, &outcomes),
        (Some(a), f) => {
            let changed = check::diff(&m, a);
            if f == Format::Table {
                check::render_diff_table(&base, &sets, pairs, &changed)
            } else {
                check::render_diff_json(&base, &sets, &m, &changed, &outcomes)
            }
        }
    };
    out!("{text}");
    if let Some(pf) = plot {
        // The matrix shown is the what-if one when --set was given.
        let (w, m) = match (&what_if, &after) {
            (Some(w), Some(a)) => (w, a),
            _ => (&base.world, &m),
        };
        let dir = out.unwrap_or_else(|| PathBuf::from("traces").join(&base.name));
        for f in plot_check(w, &base.name, m, &dir, pf)? {
            eprintln!("plot: {}", f.display());
        }
    }
    if format == Format::Table && !outcomes.is_empty() {
        outln!("\nexpectations (the scenario's own traffic, as sim run runs it):");
        for o in &outcomes {
            if o.ok {
                outln!("  ok    {}", o.what);
            } else {
                outln!("  FAIL  {}\n        {}", o.what, o.detail);
            }
        }
    }
    if outcomes.iter().all(|o| o.ok) {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("sim: expectations failed");
        Ok(ExitCode::from(1))
    }
}

/// A progress bar on stderr that appears once a check has taken a second (indicatif draws
/// nothing when stderr is not a terminal).
struct Progress {
    bar: indicatif::ProgressBar,
    shown: std::sync::atomic::AtomicBool,
}

fn progress(total: u64) -> Progress {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::hidden(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} pairs, {elapsed} elapsed, {eta} left",
    ) {
        bar.set_style(style);
    }
    Progress {
        bar,
        shown: std::sync::atomic::AtomicBool::new(false),
    }
}

impl Progress {
    fn tick_pair(&self) {
        use std::sync::atomic::Ordering;
        self.bar.inc(1);
        // The bar keeps its own clock; sim's sources never read the host's.
        if self.bar.elapsed() >= std::time::Duration::from_secs(1)
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}
