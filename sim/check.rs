//! `sim check`: a scenario's reachability matrix. Each chosen source netns pings each chosen
//! address once, every pair in its own fork of one built world, so that no pair's ARP,
//! neighbour, FDB or conntrack state can hide another pair's problem. Also the what-if
//! comparison (`--set`), and the table and JSON renderings. Prints nothing: `main` does.

use crate::app::ping::PingSpec;
use crate::dev::NsId;
use crate::error::Error;
use crate::iproute::{parse_command, sysctl_device, Command};
use crate::netns::fib::RT_SCOPE_UNIVERSE;
use crate::scenario::{self, Outcome, Scenario};
use crate::time::{Duration, Instant};
use crate::world::{LogLine, World};
use rand::Rng;
use serde::Serialize;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The world every pair forks from: the scenario built without its traffic, run up to `at`
/// so that the changes due by then are applied.
pub struct Base {
    pub name: String,
    pub world: World,
    pub at: Instant,
    /// The changes applied on the way to `at` (with an error text when the kernel refused one).
    pub log: Vec<LogLine>,
}

/// Builds the base world at `at_ms`, by default the time of the scenario's last change (its
/// final configuration). Changes due later are left out, so none fires during a ping.
pub fn base(file: &str, text: &str, s: &Scenario, at_ms: Option<u64>) -> Result<Base, Error> {
    let at_ms =
        at_ms.unwrap_or_else(|| s.changes.iter().map(|c| c.at_ms).max().unwrap_or_default());
    let mut s = s.clone();
    s.traffic.clear();
    s.changes.retain(|c| c.at_ms <= at_ms);
    s.duration_ms = None;
    let mut b = scenario::build(file, text, &s)?;
    b.world.trace.packets_off = true;
    let at = Instant::ZERO + Duration::from_ms(at_ms);
    b.world.run(Some(at)).map_err(Error::Budget)?;
    let log = std::mem::take(&mut b.world.trace.log);
    b.world.share();
    Ok(Base {
        name: b.name,
        world: b.world,
        at,
        log,
    })
}

/// Runs the scenario's own traffic as `sim run` does (without recording packets) and checks
/// its expectations.
pub fn expectations(file: &str, text: &str, s: &Scenario) -> Result<Vec<Outcome>, Error> {
    let mut b = scenario::build(file, text, s)?;
    b.world.trace.packets_off = true;
    Ok(crate::run::run_built(b)?.outcomes)
}

/// A row: the netns a ping runs in.
#[derive(Clone, Debug)]
pub struct Source {
    pub netns: String,
    pub ns: NsId,
}

/// A column: an address, and the netns holding it (none for an address outside the scenario).
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// `netns` when the netns has one global address, `netns/ADDR` otherwise, or `ADDR`.
    pub label: String,
    pub netns: Option<String>,
    pub addr: Ipv4Addr,
}

/// A netns's global (scope universe) IPv4 addresses: device order, then address order.
pub fn global_addrs(w: &World, ns: NsId) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = Vec::new();
    for &d in &w.ns[ns].devs {
        for a in &w.devs[d].addrs {
            if a.scope == RT_SCOPE_UNIVERSE && !v.contains(&a.addr) {
                v.push(a.addr);
            }
        }
    }
    v
}

fn target(w: &World, ns: NsId, addr: Ipv4Addr) -> Target {
    let name = &w.ns[ns].name;
    let label = if global_addrs(w, ns).len() == 1 {
        name.clone()
    } else {
        format!("{name}/{addr}")
    };
    Target {
        label,
        netns: Some(name.clone()),
        addr,
    }
}

/// The netns holding `addr` as a global address.
fn owner(w: &World, addr: Ipv4Addr) -> Option<NsId> {
    (0..w.ns.len()).find(|&ns| global_addrs(w, ns).contains(&addr))
}

/// Shell-style wildcard match: `*` is any run of characters, `?` any one.
pub fn glob(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    // Where the last `*` was, and how much of `s` it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The netns a name or glob selects, in world order.
fn select_netns(w: &World, pat: &str) -> Vec<NsId> {
    (0..w.ns.len())
        .filter(|&ns| glob(pat, &w.ns[ns].name))
        .collect()
}

/// The rows and columns. By default every netns with a global address is a row, and each of
/// its global addresses a column. `from` items are netns names, globs or addresses (their
/// netns); `to` items are netns names or globs (all their global addresses) or addresses.
/// Selections keep the order they are given in, without repeats.
pub fn endpoints(
    w: &World,
    from: &[String],
    to: &[String],
) -> Result<(Vec<Source>, Vec<Target>), Error> {
    let arg = |opt: &str, item: &str, msg: String| Error::Arg {
        arg: format!("{opt} {item:?}"),
        msg,
    };
    let mut rows: Vec<NsId> = Vec::new();
    if from.is_empty() {
        rows = (0..w.ns.len())
            .filter(|&ns| !global_addrs(w, ns).is_empty())
            .collect();
    }
    for item in from {
        let found = match item.parse::<Ipv4Addr>() {
            Ok(a) => owner(w, a).into_iter().collect(),
            Err(_) => select_netns(w, item),
        };
        if found.is_empty() {
            return Err(arg("--from", item, "matches no netns".into()));
        }
        for ns in found {
            if !rows.contains(&ns) {
                rows.push(ns);
            }
        }
    }
    let mut cols: Vec<Target> = Vec::new();
    let mut push = |t: Target| {
        if !cols.iter().any(|c| c.addr == t.addr) {
            cols.push(t);
        }
    };
    if to.is_empty() {
        for ns in 0..w.ns.len() {
            for a in global_addrs(w, ns) {
                push(target(w, ns, a));
            }
        }
    }
    for item in to {
        if let Ok(a) = item.parse::<Ipv4Addr>() {
            push(match owner(w, a) {
                Some(ns) => target(w, ns, a),
                None => Target {
                    label: a.to_string(),
                    netns: None,
                    addr: a,
                },
            });
            continue;
        }
        let found: Vec<Target> = select_netns(w, item)
            .into_iter()
            .flat_map(|ns| global_addrs(w, ns).into_iter().map(move |a| (ns, a)))
            .map(|(ns, a)| target(w, ns, a))
            .collect();
        if found.is_empty() {
            return Err(arg(
                "--to",
                item,
                "matches no netns with a global address".into(),
            ));
        }
        found.into_iter().for_each(&mut push);
    }
    if rows.is_empty() || cols.is_empty() {
        return Err(Error::Arg {
            arg: "sim check".into(),
            msg: "the scenario has no netns with a global IPv4 address to ping".into(),
        });
    }
    let rows = rows
        .into_iter()
        .map(|ns| Source {
            netns: w.ns[ns].name.clone(),
            ns,
        })
        .collect();
    Ok((rows, cols))
}

/// One `--set`: a command and the netns it runs in.
#[derive(Clone, Debug)]
pub struct SetCmd {
    /// As given on the command line.
    pub text: String,
    pub cmd: Command,
    /// The netns named by its `NETNS:` prefix (a glob), or every netns for a bare sysctl.
    pub targets: Vec<NsId>,
    /// A bare sysctl (no `NETNS:`): netns without the device it names are skipped.
    pub everywhere: bool,
}

/// Parses `--set` values: `[NETNS:]key=value`, `[NETNS:]sysctl -w key=value`, or
/// `NETNS:COMMAND` for any command a scenario's `changes` accept. `NETNS` may be a glob.
pub fn parse_sets(w: &World, sets: &[String]) -> Result<Vec<SetCmd>, Error> {
    let mut out = Vec::new();
    for text in sets {
        let err = |msg: String| Error::Arg {
            arg: format!("--set {text:?}"),
            msg,
        };
        // A prefix is a netns name or glob: one word before the first `:`, with no `=` (a
        // MAC in an `ip neigh` line also has colons, but after spaces).
        let (prefix, body) = match text.split_once(':') {
            Some((p, b))
                if !p.is_empty() && !p.contains(char::is_whitespace) && !p.contains('=') =>
            {
                (Some(p), b.trim())
            }
            _ => (None, text.trim()),
        };
        if body.is_empty() {
            return Err(err("empty command".into()));
        }
        let line = if !body.contains(char::is_whitespace) && body.contains('=') {
            format!("sysctl -w {body}")
        } else {
            body.to_string()
        };
        let cmd = parse_command(&line).map_err(|e| err(e.msg))?;
        let sysctl = matches!(cmd, Command::Sysctl { .. });
        let (targets, everywhere) = match prefix {
            Some(p) => {
                let t = select_netns(w, p);
                if t.is_empty() {
                    return Err(err(format!("no netns matches {p:?}")));
                }
                (t, false)
            }
            None if sysctl => ((0..w.ns.len()).collect(), true),
            None => {
                return Err(err(format!(
                    "a command other than a sysctl needs the netns it runs in: write NETNS:{body}"
                )))
            }
        };
        out.push(SetCmd {
            text: text.clone(),
            cmd,
            targets,
            everywhere,
        });
    }
    Ok(out)
}

/// Applies `--set` commands in order, as a change at the check's time would.
pub fn apply_sets(w: &mut World, sets: &[SetCmd]) -> Result<(), Error> {
    for s in sets {
        let err = |msg: String| Error::Arg {
            arg: format!("--set {:?}", s.text),
            msg,
        };
        let mut applied = 0;
        for &ns in &s.targets {
            if let (true, Command::Sysctl { key, .. }) = (s.everywhere, &s.cmd) {
                if sysctl_device(key).is_some_and(|d| w.dev_by_name(ns, d).is_none()) {
                    continue;
                }
            }
            w.apply_command(ns, &s.cmd)
                .map_err(|e| err(format!("in netns {:?}: {e}", w.ns[ns].name)))?;
            applied += 1;
        }
        if applied == 0 {
            return Err(err("no netns has the device this sysctl names".into()));
        }
    }
    Ok(())
}

/// What became of a pair's ping.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// An echo reply came back.
    Reply,
    /// The request or its reply was dropped, and ping heard nothing.
    Drop,
    /// Ping printed an ICMP error, or could not send at all (`connect: ...`).
    Error,
    /// The request arrived, but the answer was never sent: its netns had no route back
    /// (`IpOutNoRoutes`). Linux drops no packet then (`icmp_reply` builds none), so there is
    /// no drop reason.
    Noroute,
    /// Nothing came back and no drop was recorded: a bug in sim.
    Timeout,
}

/// One cell of the matrix.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Cell {
    pub result: Verdict,
    /// The reply's TTL.
    pub ttl: Option<u8>,
    /// The first drop of the ping's packets: its kernel drop reason and `netns/dev`. An
    /// `error` cell has one when the packet that caused the error was dropped; a `noroute`
    /// cell has the netns that had no route back as its place.
    pub reason: Option<String>,
    pub place: Option<String>,
    /// What ping printed for an `error` (`Destination Host Unreachable from 10.0.0.1`,
    /// `connect: Network is unreachable`).
    pub error: Option<String>,
    /// The cell as the table shows it.
    pub text: String,
}

/// The matrix: `cells[row * targets.len() + col]`.
pub struct Matrix {
    pub sources: Vec<Source>,
    pub targets: Vec<Target>,
    pub cells: Vec<Cell>,
}

impl Matrix {
    /// The cell of source `row` and target `col`.
    pub fn cell(&self, row: usize, col: usize) -> &Cell {
        &self.cells[row * self.targets.len() + col]
    }
}

/// How `sim run` pings for a matrix cell: one request, 56 data bytes. With no answer ping
/// lingers 10 s, longer than ARP takes to fail (3 s), so every failure has shown by then.
fn ping_pair(base: &World, at: Instant, ns: NsId, dst: Ipv4Addr) -> Result<Cell, Error> {
    let mut w = base.clone();
    let id = w.engine.rng.gen();
    let app = w.add_ping(PingSpec {
        ns,
        dst,
        count: 1,
        interval: Duration::from_secs(1),
        start: at,
        size: 56,
        id,
    });
    w.run_while(None, |w| !w.pings[app].finished)
        .map_err(Error::Budget)?;
    Ok(classify(base, &w, app))
}

fn classify(base: &World, w: &World, app: usize) -> Cell {
    let p = &w.pings[app];
    let mut cell = Cell {
        result: Verdict::Timeout,
        ttl: None,
        reason: None,
        place: None,
        error: None,
        text: "timeout".into(),
    };
    let drop = w
        .trace
        .drops
        .iter()
        .find(|(_, tag)| tag.is_some_and(|t| t.app as usize == app));
    if drop.is_none() {
        // Nothing came back and nothing was dropped: did a netns fail to route the answer?
        // The fork started from `base`, so any increase is this pair's doing.
        let key = crate::netns::nstat::Nstat::IpOutNoRoutes;
        if let Some(ns) = (0..w.ns.len()).find(|&i| w.ns[i].nstat(key) > base.ns[i].nstat(key)) {
            let name = &w.ns[ns].name;
            cell.result = Verdict::Noroute;
            cell.place = Some(name.clone());
            cell.text = format!("no route back @ {name} ({})", key.name());
        }
    }
    if let Some((d, _)) = drop {
        cell.result = Verdict::Drop;
        cell.reason = Some(d.reason.kernel_name().to_string());
        cell.place = Some(d.place.to_string());
        cell.text = format!("{} @ {}", d.reason.kernel_name(), d.place);
    }
    if let Some(e) = p.errors.first() {
        // ping's line is `From A icmp_seq=N TEXT`; the cell reads `TEXT from A`.
        let head = format!("From {} icmp_seq={} ", e.from, e.seq);
        let text = p
            .lines
            .iter()
            .find_map(|l| l.strip_prefix(&head))
            .unwrap_or("ICMP error");
        cell.result = Verdict::Error;
        cell.error = Some(format!("{text} from {}", e.from));
    }
    if let Some(e) = p.stderr.first() {
        cell.result = Verdict::Error;
        cell.error = Some(e.strip_prefix("ping: ").unwrap_or(e).to_string());
    }
    if let Some(r) = p.replies.first() {
        cell = Cell {
            result: Verdict::Reply,
            ttl: Some(r.ttl),
            reason: None,
            place: None,
            error: None,
            text: format!("ttl={}", r.ttl),
        };
    }
    if let Some(e) = &cell.error {
        cell.text = e.clone();
    }
    cell
}

/// Pings every (source, target) pair, each in a fork of `base`, on `jobs` threads. `tick` is
/// called once per finished pair (for a progress bar). The result does not depend on `jobs`.
pub fn matrix(
    base: &World,
    at: Instant,
    sources: &[Source],
    targets: &[Target],
    jobs: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<Matrix, Error> {
    let n = sources.len() * targets.len();
    let next = AtomicUsize::new(0);
    let work = || -> Result<Vec<(usize, Cell)>, Error> {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return Ok(done);
            }
            let (s, t) = (&sources[i / targets.len()], &targets[i % targets.len()]);
            let cell = ping_pair(base, at, s.ns, t.addr).map_err(|e| Error::Arg {
                arg: format!("ping from {} to {}", s.netns, t.addr),
                msg: e.to_string(),
            })?;
            done.push((i, cell));
            tick();
        }
    };
    let jobs = jobs.clamp(1, n.max(1));
    let parts: Vec<Result<Vec<(usize, Cell)>, Error>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..jobs).map(|_| sc.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut cells: Vec<Option<Cell>> = vec![None; n];
    for part in parts {
        for (i, c) in part? {
            cells[i] = Some(c);
        }
    }
    Ok(Matrix {
        sources: sources.to_vec(),
        targets: targets.to_vec(),
        cells: cells
            .into_iter()
            .map(|c| c.expect("invariant: every pair was simulated"))
            .collect(),
    })
}

/// How many pairs, and how many cells of each verdict.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, Serialize)]
pub struct Summary {
    pub pairs: usize,
    pub reply: usize,
    pub drop: usize,
    pub error: usize,
    pub noroute: usize,
    pub timeout: usize,
}

/// Counts the verdicts of a matrix.
pub fn summary(m: &Matrix) -> Summary {
    let mut s = Summary {
        pairs: m.cells.len(),
        ..Summary::default()
    };
    for c in &m.cells {
        match c.result {
            Verdict::Reply => s.reply += 1,
            Verdict::Drop => s.drop += 1,
            Verdict::Error => s.error += 1,
            Verdict::Noroute => s.noroute += 1,
            Verdict::Timeout => s.timeout += 1,
        }
    }
    s
}

fn fmt_at(at: Instant) -> String {
    let ms = at.as_ns() / 1_000_000;
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{}.{:03} s", ms / 1000, ms % 1000)
    }
}

/// Columns padded to their widest cell, two spaces apart, no trailing blanks.
fn render_columns(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, s) in r.iter().enumerate() {
            let _ = write!(line, "{s:<w$}  ", w = width[c]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn header(b: &Base) -> String {
    let mut out = String::new();
    let changes = match b.log.len() {
        0 => String::new(),
        1 => ", after 1 change".into(),
        n => format!(", after {n} changes"),
    };
    let _ = writeln!(
        out,
        "== {} (seed {}): reachability at t={}{changes}, one ping per pair ==",
        b.name,
        b.world.engine.seed,
        fmt_at(b.at)
    );
    for l in &b.log {
        let _ = writeln!(out, "  [{}] {}$ {}", l.ts, l.ns, l.text);
    }
    out
}

const TIMEOUT_NOTE: &str = "timeout: the request or its reply vanished without a recorded drop. \
sim records every drop, so this is a bug in sim: please report it with the scenario.";

/// The matrix as a table: rows are sources, columns targets.
pub fn render_table(b: &Base, m: &Matrix) -> String {
    let mut out = header(b);
    out.push('\n');
    let mut rows = vec![std::iter::once("from\\to".to_string())
        .chain(m.targets.iter().map(|t| t.label.clone()))
        .collect::<Vec<_>>()];
    for (r, s) in m.sources.iter().enumerate() {
        let mut row = vec![s.netns.clone()];
        row.extend((0..m.targets.len()).map(|c| m.cell(r, c).text.clone()));
        rows.push(row);
    }
    out += &render_columns(&rows);
    let s = summary(m);
    let _ = writeln!(
        out,
        "\npairs: {} ({} reply, {} drop, {} error, {} noroute, {} timeout)",
        s.pairs, s.reply, s.drop, s.error, s.noroute, s.timeout
    );
    if s.timeout > 0 {
        let _ = writeln!(out, "{TIMEOUT_NOTE}");
    }
    out
}

/// A cell that differs between the scenario and its what-if.
#[derive(Clone, Debug, Serialize)]
pub struct Changed {
    pub from: String,
    pub to: String,
    pub addr: Ipv4Addr,
    pub before: Cell,
    pub after: Cell,
}

/// The cells of `after` that differ from `before` (same rows and columns), in matrix order.
pub fn diff(before: &Matrix, after: &Matrix) -> Vec<Changed> {
    let mut out = Vec::new();
    for (r, s) in before.sources.iter().enumerate() {
        for (c, t) in before.targets.iter().enumerate() {
            let (a, b) = (before.cell(r, c), after.cell(r, c));
            if a != b {
                out.push(Changed {
                    from: s.netns.clone(),
                    to: t.label.clone(),
                    addr: t.addr,
                    before: a.clone(),
                    after: b.clone(),
                });
            }
        }
    }
    out
}

/// The what-if as a table: one line per changed cell, `before -> after`.
pub fn render_diff_table(b: &Base, sets: &[SetCmd], pairs: usize, changed: &[Changed]) -> String {
    let mut out = header(b);
    for s in sets {
        let _ = writeln!(out, "  what if: {}", s.text);
    }
    out.push('\n');
    if changed.is_empty() {
        let _ = writeln!(out, "no cell changed ({pairs} pairs)");
        return out;
    }
    let mut rows = vec![vec![
        "from".to_string(),
        "to".into(),
        "before".into(),
        String::new(),
        "after".into(),
    ]];
    for c in changed {
        rows.push(vec![
            c.from.clone(),
            c.to.clone(),
            c.before.text.clone(),
            "->".into(),
            c.after.text.clone(),
        ]);
    }
    out += &render_columns(&rows);
    let _ = writeln!(out, "\n{} of {pairs} cells changed", changed.len());
    if changed.iter().any(|c| c.after.result == Verdict::Timeout) {
        let _ = writeln!(out, "{TIMEOUT_NOTE}");
    }
    out
}

/// An expectation in JSON.
#[derive(Serialize)]
struct ExpectJson<'a> {
    ok: bool,
    what: &'a str,
    detail: &'a str,
}

fn expect_json(outcomes: &[Outcome]) -> Vec<ExpectJson<'_>> {
    outcomes
        .iter()
        .map(|o| ExpectJson {
            ok: o.ok,
            what: &o.what,
            detail: &o.detail,
        })
        .collect()
}

#[derive(Serialize)]
struct CellJson<'a> {
    from: &'a str,
    to: &'a str,
    addr: Ipv4Addr,
    #[serde(flatten)]
    cell: &'a Cell,
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    at_ms: u64,
    netns: &'a str,
    cmd: &'a str,
}

#[derive(Serialize)]
struct MatrixJson<'a> {
    scenario: &'a str,
    seed: u64,
    at_ms: u64,
    changes: Vec<ChangeJson<'a>>,
    sources: Vec<&'a str>,
    endpoints: &'a [Target],
    cells: Vec<CellJson<'a>>,
    summary: Summary,
    expectations: Vec<ExpectJson<'a>>,
}

#[derive(Serialize)]
struct DiffJson<'a> {
    scenario: &'a str,
    seed: u64,
    at_ms: u64,
    changes: Vec<ChangeJson<'a>>,
    set: Vec<&'a str>,
    sources: Vec<&'a str>,
    endpoints: &'a [Target],
    pairs: usize,
    changed: &'a [Changed],
    expectations: Vec<ExpectJson<'a>>,
}

fn changes_json(b: &Base) -> Vec<ChangeJson<'_>> {
    b.log
        .iter()
        .map(|l| ChangeJson {
            at_ms: l.ts.as_ns() / 1_000_000,
            netns: &l.ns,
            cmd: &l.text,
        })
        .collect()
}

fn to_json(v: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("invariant: plain data serializes");
    s.push('\n');
    s
}

/// The matrix as JSON (schema in README, "sim check").
pub fn render_json(b: &Base, m: &Matrix, outcomes: &[Outcome]) -> String {
    let mut cells = Vec::with_capacity(m.cells.len());
    for (r, s) in m.sources.iter().enumerate() {
        for (c, t) in m.targets.iter().enumerate() {
            cells.push(CellJson {
                from: &s.netns,
                to: &t.label,
                addr: t.addr,
                cell: m.cell(r, c),
            });
        }
    }
    to_json(&MatrixJson {
        scenario: &b.name,
        seed: b.world.engine.seed,
        at_ms: b.at.as_ns() / 1_000_000,
        changes: changes_json(b),
        sources: m.sources.iter().map(|s| s.netns.as_str()).collect(),
        endpoints: &m.targets,
        cells,
        summary: summary(m),
        expectations: expect_json(outcomes),
    })
}

/// The what-if as JSON (schema in README, "sim check").
pub fn render_diff_json(
    b: &Base,
    sets: &[SetCmd],
    m: &Matrix,
    changed: &[Changed],
    outcomes: &[Outcome],
) -> String {
    to_json(&DiffJson {
        scenario: &b.name,
        seed: b.world.engine.seed,
        at_ms: b.at.as_ns() / 1_000_000,
        changes: changes_json(b),
        set: sets.iter().map(|s| s.text.as_str()).collect(),
        sources: m.sources.iter().map(|s| s.netns.as_str()).collect(),
        endpoints: &m.targets,
        pairs: m.cells.len(),
        changed,
        expectations: expect_json(outcomes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_the_shell() {
        assert!(glob("pod*", "pod11"));
        assert!(glob("pod*", "pod"));
        assert!(glob("*-pod-?", "node1-pod-3"));
        assert!(!glob("*-pod-?", "node1-pod-10"));
        assert!(glob("n*e*1", "node1"));
        assert!(!glob("pod1", "pod11"));
        assert!(glob("*", ""));
    }
}
