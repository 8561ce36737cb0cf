//! Measurement of the ns-3 comparison workload (`sim bench pods`): set-up and event-loop wall
//! times, datagrams delivered to sockets, events and peak RSS, as `bench/ns3/WORKLOAD.md` §5
//! defines them. Measures; prints nothing.

use crate::error::Error;
use crate::scenario::gen::PodsWorkload;
use std::time::Instant as WallInstant;

/// One run's figures.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub workload: PodsWorkload,
    /// Datagrams handed to a receiving application socket (must be 2R).
    pub delivered: u64,
    /// Simulator events executed.
    pub events: u64,
    /// From `start` (the process's start of work) to just before the event loop: generating,
    /// parsing, expanding and building the scenario.
    pub setup_s: f64,
    /// The event loop alone.
    pub run_s: f64,
    /// Peak resident set (VmHWM), kB; None off Linux.
    pub maxrss_kb: Option<u64>,
    /// Packets dropped anywhere (0 for this workload).
    pub dropped: u64,
}

impl BenchResult {
    pub fn delivered_per_s(&self) -> f64 {
        self.delivered as f64 / self.run_s.max(1e-9)
    }

    /// The line `sim bench pods` prints, in the shape of ns-3's `RESULT` line.
    pub fn line(&self) -> String {
        let w = &self.workload;
        format!(
            "RESULT nodes={} pods={} k={} encap={:?} delivered={} expected={} events={} setup_s={:.4} run_s={:.4} delivered_per_s={:.0} maxrss_kb={} dropped={}",
            w.nodes,
            w.pods,
            w.k,
            w.encap,
            self.delivered,
            2 * w.requests(),
            self.events,
            self.setup_s,
            self.run_s,
            self.delivered_per_s(),
            self.maxrss_kb.map_or("-".to_string(), |k| k.to_string()),
            self.dropped,
        )
    }
}

/// Generates, builds and runs the workload; `start` is when the process began its work.
pub fn run_pods(w: &PodsWorkload, start: WallInstant) -> Result<BenchResult, Error> {
    let text = w.to_ron();
    let file = "<sim gen pods>";
    let s = crate::scenario::parse(file, &text)?;
    let mut built = crate::scenario::build(file, &text, &s)?;
    built.world.trace.packets_off = true;
    let setup_s = start.elapsed().as_secs_f64();
    let t = WallInstant::now();
    built.world.run(built.until).map_err(Error::Budget)?;
    let run_s = t.elapsed().as_secs_f64();
    Ok(BenchResult {
        workload: *w,
        delivered: built.world.udp_totals().delivered(),
        events: built.world.engine.events_run(),
        setup_s,
        run_s,
        maxrss_kb: peak_rss_kb(),
        dropped: built.world.trace.dropped,
    })
}

/// VmHWM from `/proc/self/status`.
pub fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One scale run's figures.
#[derive(Clone, Debug)]
pub struct ClusterBenchResult {
    pub workload: crate::scenario::gen::ClusterWorkload,
    pub netns: usize,
    pub routes_max: usize,
    /// Generating and parsing the RON text.
    pub parse_s: f64,
    /// Expanding the preset and building the world.
    pub build_s: f64,
    pub run_s: f64,
    pub pings: u64,
    pub replied: u64,
    pub events: u64,
    /// Peak RSS when the world was built, before any packet.
    pub build_rss_kb: Option<u64>,
    pub maxrss_kb: Option<u64>,
}

impl ClusterBenchResult {
    pub fn line(&self) -> String {
        let w = &self.workload;
        format!(
            "RESULT nodes={} pods={} encap={:?} netns={} node_routes={} parse_s={:.3} build_s={:.3} run_s={:.3} pings={} replied={} events={} build_rss_kb={} maxrss_kb={}",
            w.nodes,
            w.pods,
            w.encap,
            self.netns,
            self.routes_max,
            self.parse_s,
            self.build_s,
            self.run_s,
            self.pings,
            self.replied,
            self.events,
            self.build_rss_kb.map_or("-".to_string(), |k| k.to_string()),
            self.maxrss_kb.map_or("-".to_string(), |k| k.to_string()),
        )
    }
}

/// Generates, builds and runs the node-pair ping mesh over a whole cluster.
pub fn run_cluster(
    w: &crate::scenario::gen::ClusterWorkload,
    build_only: bool,
) -> Result<ClusterBenchResult, Error> {
    use crate::app::ping_mesh::MeshResult;
    let t = WallInstant::now();
    let text = w.to_ron();
    let file = "<sim gen cluster>";
    let s = crate::scenario::parse(file, &text)?;
    let parse_s = t.elapsed().as_secs_f64();
    let t = WallInstant::now();
    let mut built = crate::scenario::build(file, &text, &s)?;
    built.world.trace.packets_off = true;
    let build_s = t.elapsed().as_secs_f64();
    let build_rss_kb = peak_rss_kb();
    let t = WallInstant::now();
    if !build_only {
        built.world.run(built.until).map_err(Error::Budget)?;
    }
    let run_s = t.elapsed().as_secs_f64();
    let world = &built.world;
    let replied = world
        .ping_meshes
        .iter()
        .flat_map(|m| &m.results)
        .filter(|r| matches!(r, MeshResult::Reply { .. }))
        .count() as u64;
    Ok(ClusterBenchResult {
        workload: *w,
        netns: world.ns.len(),
        routes_max: world
            .ns
            .iter()
            .map(|n| n.main.iter().count())
            .max()
            .unwrap_or(0),
        parse_s,
        build_s,
        run_s,
        pings: world.ping_meshes.iter().map(|m| m.sent as u64).sum(),
        replied,
        events: world.engine.events_run(),
        build_rss_kb,
        maxrss_kb: peak_rss_kb(),
    })
}
