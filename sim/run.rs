//! Running a scenario end to end: build, run, check expectations, render the report, and write
//! traces and tables atomically (a failed write leaves no half-written trace behind).

use crate::error::Error;
use crate::netns::nstat::Nstat;
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
    let mut outcomes = scenario::check(&built.world, &built.expects);
    if let Some(ttl) = built.mesh_expect {
        outcomes.push(scenario::check_mesh(&built.world, ttl));
    }
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
    udp_report(w, &mut out);
    mesh_report(w, &mut out);
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
            Nstat::TcpExtIPReversePathFilter,
            Nstat::IpExtInNoRoutes,
            Nstat::IpOutNoRoutes,
            Nstat::IpInAddrErrors,
            Nstat::IpInHdrErrors,
            Nstat::IcmpOutRateLimitHost,
        ]
        .into_iter()
        .filter(|&c| w.ns[i].nstat(c) > 0)
        .map(|c| format!("{} {}", c.name(), w.ns[i].nstat(c)))
        .collect();
        let _ = writeln!(
            out,
            "  {:<12} IpInDelivers {} IpForwDatagrams {}{}{}",
            n.name,
            n.nstat(Nstat::IpInDelivers),
            n.nstat(Nstat::IpForwDatagrams),
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

/// Ping meshes: how many requests got which answer.
fn mesh_report(w: &crate::world::World, out: &mut String) {
    use crate::app::ping_mesh::MeshResult;
    use std::collections::BTreeMap;
    if w.ping_meshes.is_empty() {
        return;
    }
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    let mut sent = 0;
    for m in &w.ping_meshes {
        sent += m.sent;
        for r in &m.results[..m.sent] {
            let k = match r {
                MeshResult::Reply { ttl } => format!("reply ttl={ttl}"),
                MeshResult::Error { icmp_type, code } => {
                    format!("icmp error type {icmp_type} code {code}")
                }
                MeshResult::SendError => "send error".to_string(),
                MeshResult::Pending => "no answer".to_string(),
            };
            *by.entry(k).or_default() += 1;
        }
    }
    let _ = writeln!(
        out,
        "\nping mesh: {} sources sent {sent} echo requests: {}",
        w.ping_meshes.len(),
        by.iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// UDP applications: each client's counts when there are few, and the totals.
fn udp_report(w: &crate::world::World, out: &mut String) {
    use crate::app::udp_echo::UdpApp;
    if w.udp_apps.is_empty() {
        return;
    }
    let clients: Vec<_> = w
        .udp_apps
        .iter()
        .filter_map(|a| match a {
            UdpApp::Client(c) => Some(c),
            UdpApp::EchoServer(_) => None,
        })
        .collect();
    let servers = w.udp_apps.len() - clients.len();
    let _ = writeln!(out, "\nudp:");
    if clients.len() <= 16 {
        for c in &clients {
            let dst = match c.spec.dsts.as_slice() {
                [one] => one.to_string(),
                many => format!("{} destinations", many.len()),
            };
            let _ = writeln!(
                out,
                "  [{}] {}:{} -> {dst}:{}: {} sent, {} replies{}",
                c.spec.start,
                w.ns[c.spec.ns].name,
                c.sport,
                c.spec.port,
                c.sent,
                c.replies,
                match c.send_errors {
                    0 => String::new(),
                    n => format!(", {n} send errors"),
                }
            );
        }
    }
    let t = w.udp_totals();
    let _ = writeln!(
        out,
        "  {} clients sent {} requests, {} echo servers read {}, clients read {} replies: {} datagrams delivered to sockets{}",
        clients.len(),
        t.requests,
        servers,
        t.echoed,
        t.replies,
        t.delivered(),
        match t.send_errors {
            0 => String::new(),
            n => format!(", {n} send errors"),
        }
    );
}

/// Nanoseconds as `S.NNNNNNNNN` seconds.
pub fn fmt_secs(ns: u64) -> String {
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
