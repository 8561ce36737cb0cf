//! Running a scenario end to end: build, run, check expectations, render the report, and write
//! traces and tables atomically (a failed write leaves no half-written trace behind).

use crate::error::Error;
use crate::scenario::{self, Built, Outcome};
use crate::trace::pcap::{write_pcap, write_pcapng_annotated};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The result of a run.
pub struct RunResult {
    pub built: Built,
    pub outcomes: Vec<Outcome>,
}

impl RunResult {
    pub fn all_ok(&self) -> bool {
        self.outcomes.iter().all(|o| o.ok)
    }
}

/// Loads, builds and runs a scenario file, recording every packet's journey (for the
/// pcapng comments, `sim explain` and the plots). Library users who want speed instead
/// build the scenario and call [`run_built`], which records no journal unless asked
/// (`built.world.enable_journal()`).
pub fn run_file(path: &Path) -> Result<RunResult, Error> {
    let (s, text) = scenario::load(path)?;
    let mut built = scenario::build(&path.display().to_string(), &text, &s)?;
    built.world.enable_journal();
    run_built(built)
}

/// Runs a built scenario to its end.
pub fn run_built(mut built: Built) -> Result<RunResult, Error> {
    built.world.run(built.until).map_err(Error::Budget)?;
    // Pings still running at the stop time print their statistics then, as on Ctrl-C.
    for app in 0..built.world.pings.len() {
        built.world.ping_finish(app);
    }
    let outcomes = scenario::check(&built.world, &built.expects);
    Ok(RunResult { built, outcomes })
}

/// What `sim run` prints: each ping's output, changes, drops, counters, expectations.
pub fn report(r: &RunResult) -> String {
    let w = &r.built.world;
    let mut out = String::new();
    let _ = writeln!(out, "== {} (seed {}) ==", r.built.name, w.engine.seed);
    for p in &w.pings {
        let ns = &w.ns[p.spec.ns].name;
        let _ = writeln!(
            out,
            "\n[{}] {ns}$ ping -c {} -i {} -s {} {}",
            p.spec.start,
            p.spec.count,
            fmt_secs(p.spec.interval.as_ns()),
            p.spec.size,
            p.spec.dst
        );
        for l in p.stderr.iter().chain(&p.lines) {
            let _ = writeln!(out, "{l}");
        }
    }
    if !w.trace.log.is_empty() {
        let _ = writeln!(out, "\nchanges:");
        for l in &w.trace.log {
            let _ = writeln!(out, "  [{}] {}$ {}", l.ts, l.ns, l.text);
        }
    }
    let _ = writeln!(out, "\ndrops ({}):", w.trace.drops.len());
    for (d, _) in &w.trace.drops {
        let _ = writeln!(out, "  [{}] {} {}: {}", d.ts, d.place, d.reason, d.summary);
    }
    let _ = writeln!(
        out,
        "\npackets: {} created, {} delivered, {} dropped, {} in flight",
        w.trace.created,
        w.trace.delivered,
        w.trace.dropped,
        w.in_flight()
    );
    let _ = writeln!(out, "\ncounters:");
    for (i, n) in w.ns.iter().enumerate() {
        let interesting: Vec<String> = [
            "TcpExtIPReversePathFilter",
            "IpExtInNoRoutes",
            "IpOutNoRoutes",
            "IpInAddrErrors",
            "IpInHdrErrors",
            "IcmpOutRateLimitHost",
        ]
        .iter()
        .filter(|k| w.ns[i].counter(k) > 0)
        .map(|k| format!("{k} {}", w.ns[i].counter(k)))
        .collect();
        let _ = writeln!(
            out,
            "  {:<12} IpInDelivers {} IpForwDatagrams {}{}{}",
            n.name,
            n.counter("IpInDelivers"),
            n.counter("IpForwDatagrams"),
            if interesting.is_empty() { "" } else { " " },
            interesting.join(" ")
        );
    }
    if !r.outcomes.is_empty() {
        let _ = writeln!(out, "\nexpectations:");
        for o in &r.outcomes {
            if o.ok {
                let _ = writeln!(out, "  ok    {}", o.what);
            } else {
                let _ = writeln!(out, "  FAIL  {}\n        {}", o.what, o.detail);
            }
        }
    }
    out
}

fn fmt_secs(ns: u64) -> String {
    let s = format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Writes `<dir>/<name>.pcapng` (all interfaces), one `<netns>-<dev>.pcap` per interface, and
/// `<netns>.tables.txt` per netns. Files are written under temporary names and renamed.
pub fn write_outputs(r: &RunResult, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let w = &r.built.world;
    let io = |path: &Path, source: std::io::Error| Error::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut buf = Vec::new();
    // With a journal, each packet carries its journey id and decision as a comment.
    let comments = crate::explain::Journeys::new(w)
        .map(|j| j.capture_comments())
        .unwrap_or_default();
    write_pcapng_annotated(&mut buf, &w.trace.ifaces, &w.trace.packets, &comments)
        .map_err(|e| io(dir, e))?;
    files.push((dir.join(format!("{}.pcapng", r.built.name)), buf));
    for (i, iface) in w.trace.ifaces.iter().enumerate() {
        let mut buf = Vec::new();
        write_pcap(
            &mut buf,
            iface,
            w.trace.packets.iter().filter(|p| p.iface == i),
        )
        .map_err(|e| io(dir, e))?;
        files.push((
            dir.join(format!("{}.pcap", iface.name.replace('/', "-"))),
            buf,
        ));
    }
    for ns in 0..w.ns.len() {
        files.push((
            dir.join(format!("{}.tables.txt", w.ns[ns].name)),
            w.tables(ns).into_bytes(),
        ));
    }
    files.push((dir.join("report.txt"), report(r).into_bytes()));
    let mut written = Vec::new();
    for (path, bytes) in &files {
        let tmp = path.with_extension("partial");
        if let Err(e) = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(io(path, e));
        }
        written.push(path.clone());
    }
    Ok(written)
}
