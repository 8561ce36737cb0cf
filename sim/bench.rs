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
