//! `sim explain`: a packet's journey hop by hop, and what it caused, in words; and the packet
//! comments of the merged pcapng. Reads the journal (`trace::journal`) of a finished run;
//! formats only, never mutates the world.

use crate::dev::{DevId, NsId};
use crate::drop::DropReason;
use crate::iproute::format_route;
use crate::netns::fib::{Route, RouteType};
use crate::netns::neigh::NudState;
use crate::trace::journal::{Cause, Journal, RpVerdict, Step, StepKind};
use crate::trace::Direction;
use crate::wire::fmt_mac;
use crate::wire::icmp;
use crate::world::World;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// How deep `explain` follows caused packets (reply of a reply, error about a reply).
const CAUSED_DEPTH_MAX: usize = 4;

/// Why `explain` has nothing to say.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ExplainError {
    /// The world recorded no journal (`World::enable_journal` was not called).
    NoJournal,
    /// No packet has this journey id.
    NoPacket(u64),
    /// No packet matches the flow.
    NoFlow(String),
    /// A `--flow` that is not `SRC -> DST`.
    BadFlow(String),
}

impl std::fmt::Display for ExplainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExplainError::NoJournal => write!(f, "no journal was recorded"),
            ExplainError::NoPacket(n) => write!(f, "no packet has journey id {n}"),
            ExplainError::NoFlow(s) => write!(f, "no packet matches the flow {s:?}"),
            ExplainError::BadFlow(s) => write!(
                f,
                "bad flow {s:?}: expected 'SRC -> DST' (SRC a netns or an address, DST an address)"
            ),
        }
    }
}

impl std::error::Error for ExplainError {}

/// A parsed `--flow 'SRC -> DST'`: SRC is a netns name or an address.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FlowSpec {
    /// A netns name, or a source address.
    pub from: String,
    /// The destination address.
    pub to: Ipv4Addr,
}

impl std::str::FromStr for FlowSpec {
    type Err = ExplainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ExplainError::BadFlow(s.to_string());
        let (a, b) = s.split_once("->").ok_or_else(bad)?;
        let (from, to) = (a.trim(), b.trim());
        if from.is_empty() {
            return Err(bad());
        }
        let to = to.parse().map_err(|_| bad())?;
        Ok(FlowSpec {
            from: from.to_string(),
            to,
        })
    }
}

/// The journal steps of a finished run, indexed by journey id.
pub struct Journeys<'a> {
    w: &'a World,
    j: &'a Journal,
    by_pkt: BTreeMap<u64, Vec<usize>>,
    /// child journey -> (parent journey, why).
    parents: BTreeMap<u64, (u64, Cause)>,
}

impl<'a> Journeys<'a> {
    /// The journeys of a finished run; an error when it recorded no journal.
    pub fn new(w: &'a World) -> Result<Self, ExplainError> {
        let j = w.trace.journal.as_ref().ok_or(ExplainError::NoJournal)?;
        let parents = j
            .steps
            .iter()
            .filter_map(|s| match s.kind {
                StepKind::Caused { child, cause } => Some((child, (s.pkt, cause))),
                _ => None,
            })
            .collect();
        Ok(Journeys {
            w,
            j,
            by_pkt: j.by_packet(),
            parents,
        })
    }

    /// The steps of journey `id`, in order.
    pub fn steps(&self, id: u64) -> impl Iterator<Item = &'a Step> + '_ {
        self.by_pkt
            .get(&id)
            .into_iter()
            .flatten()
            .map(|&i| &self.j.steps[i])
    }

    /// The steps of all journeys `ids`, merged in the order they happened.
    pub fn steps_of_all(&self, ids: impl Iterator<Item = u64>) -> Vec<&'a Step> {
        let mut idx: Vec<usize> = ids
            .flat_map(|id| self.by_pkt.get(&id).into_iter().flatten().copied())
            .collect();
        idx.sort_unstable();
        idx.into_iter().map(|i| &self.j.steps[i]).collect()
    }

    /// The first packet a local sender in netns `ns` sent to `dst` at or after `at` (a ping's
    /// first echo request).
    pub fn find_sent(&self, ns: NsId, dst: Ipv4Addr, at: crate::time::Instant) -> Option<u64> {
        self.j.steps.iter().find_map(|s| match s.kind {
            StepKind::RouteOut { dst: d, .. }
                if d == dst && s.ts >= at && self.ns_of(s.dev) == ns =>
            {
                Some(s.pkt)
            }
            _ => None,
        })
    }

    /// A device's netns and name.
    pub fn netns_dev(&self, dev: DevId) -> (String, String) {
        let d = &self.w.devs[dev];
        (self.w.ns[d.ns].name.clone(), d.name.clone())
    }

    /// What tcpdump printed for captured packet `idx` (an index into `Trace::packets`).
    pub fn capture_text(&self, idx: usize) -> Option<String> {
        self.capture_summary(idx)
    }

    /// Every journey id with at least one step.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_pkt.keys().copied()
    }

    /// The first packet a local sender in `from` (a netns name, or a source address) sent to
    /// `to`.
    pub fn find_flow(&self, flow: &FlowSpec) -> Option<u64> {
        let from_addr: Option<Ipv4Addr> = flow.from.parse().ok();
        self.j.steps.iter().find_map(|s| match s.kind {
            StepKind::RouteOut { dst, src, .. } if dst == flow.to => {
                let ns = &self.w.ns[self.w.devs[s.dev].ns].name;
                let matches = match from_addr {
                    Some(a) => a == src,
                    None => *ns == flow.from,
                };
                matches.then_some(s.pkt)
            }
            _ => None,
        })
    }

    fn ns_of(&self, dev: DevId) -> NsId {
        self.w.devs[dev].ns
    }

    fn place(&self, dev: DevId) -> String {
        let d = &self.w.devs[dev];
        format!("{}/{}", self.w.ns[d.ns].name, d.name)
    }

    fn dev_name(&self, dev: DevId) -> &str {
        &self.w.devs[dev].name
    }

    /// A route as `ip route` prints it in netns `ns` (device names from the end of the run).
    fn route_line(&self, ns: NsId, r: &Route) -> String {
        let name = |i: u32| {
            self.w
                .dev_of(ns, i)
                .map_or_else(|| format!("if{i}"), |d| self.w.devs[d].name.clone())
        };
        let mut line = format_route(r, &name).trim_end().to_string();
        if r.table == crate::netns::fib::RT_TABLE_LOCAL && !line.contains("table") {
            line.push_str(" table local");
        }
        line
    }

    /// The device a route leaves by, by name.
    fn route_dev(&self, ns: NsId, r: &Route) -> Option<String> {
        let d = r.dev.and_then(|i| self.w.dev_of(ns, i))?;
        Some(self.w.devs[d].name.clone())
    }

    /// What tcpdump printed for capture `idx`.
    fn capture_summary(&self, idx: usize) -> Option<String> {
        let p = self.w.trace.packets.get(idx)?;
        let iface = self.w.trace.ifaces.get(p.iface)?;
        let eth = iface.link_type == crate::trace::LinkType::Ethernet;
        Some(crate::stack::summary::summarize(&p.data, eth))
    }

    /// The tcpdump line of the journey's first capture; for a packet no capture saw, its
    /// addresses from the sender's route lookup.
    fn first_summary(&self, id: u64) -> Option<String> {
        self.steps(id)
            .find_map(|s| match s.kind {
                StepKind::Capture { idx: Some(i), .. } => self.capture_summary(i),
                _ => None,
            })
            .or_else(|| {
                self.steps(id).find_map(|s| match s.kind {
                    StepKind::RouteOut { dst, src, .. } => {
                        Some(format!("IP {src} > {dst} (no capture saw it)"))
                    }
                    _ => None,
                })
            })
    }

    /// How journey `id` ended: delivered, dropped (where, why), or neither yet.
    pub fn end(&self, id: u64) -> Option<(&'a Step, Option<DropReason>)> {
        self.steps(id).find_map(|s| match s.kind {
            StepKind::Deliver => Some((s, None)),
            StepKind::Drop { reason } => Some((s, Some(reason))),
            _ => None,
        })
    }

    /// One step in words, for `explain`.
    fn describe(&self, s: &Step) -> String {
        let ns = self.ns_of(s.dev);
        match &s.kind {
            StepKind::Capture { dir, idx } => {
                let what = idx.and_then(|i| self.capture_summary(i)).unwrap_or_default();
                let d = match dir {
                    Direction::In => "in ",
                    Direction::Out => "out",
                };
                format!("tcpdump {d}  {what}")
            }
            StepKind::RouteOut { dst, src, route } => format!(
                "route: {dst} matches `{}`, source {src}",
                self.route_line(ns, route)
            ),
            StepKind::RouteIn { dst, route } => match route {
                None => format!("route: no route to {dst} in any table"),
                Some(r) if r.rtype == RouteType::Local => format!(
                    "route: {dst} is local (`{}`): deliver here",
                    self.route_line(ns, r)
                ),
                Some(r) if r.is_error_type() => format!(
                    "route: {dst} matches `{}`, a {} route",
                    self.route_line(ns, r),
                    r.rtype.name()
                ),
                Some(r) => {
                    let out = self.route_dev(ns, r).unwrap_or_default();
                    format!(
                        "route: {dst} matches `{}`: forward out of {out}",
                        self.route_line(ns, r)
                    )
                }
            },
            StepKind::RpFilter {
                src,
                all,
                dev_conf,
                reverse,
                verdict,
            } => {
                let mode = (*all).max(*dev_conf);
                let rev = match reverse {
                    Some(r) => format!("`{}`", self.route_line(ns, r)),
                    None => "no route".to_string(),
                };
                match verdict {
                    RpVerdict::Ok if mode == 0 => {
                        format!("rp_filter 0 (off) on {}: source {src} accepted", self.dev_name(s.dev))
                    }
                    RpVerdict::Ok => format!(
                        "rp_filter {mode} ({}): reverse route for {src} is {rev}: accepted",
                        rp_mode_name(mode)
                    ),
                    RpVerdict::Rpfilter => format!(
                        "rp_filter {mode} ({}): reverse route for {src} is {rev}, not via {}: REJECTED (-EXDEV)",
                        rp_mode_name(mode),
                        self.dev_name(s.dev)
                    ),
                    RpVerdict::Martian => {
                        format!("source {src} is martian (reverse route {rev}): REJECTED (-EINVAL)")
                    }
                }
            }
            StepKind::Ttl { ttl: 0 } => {
                "forward: TTL 1 would reach 0: time exceeded".to_string()
            }
            StepKind::Ttl { ttl } => format!("forward: TTL {} -> {ttl}", u16::from(*ttl) + 1),
            StepKind::Neigh {
                nexthop,
                state,
                lladdr,
            } => {
                let dev = self.dev_name(s.dev);
                match state {
                    NudState::None | NudState::Failed => format!(
                        "neighbour {nexthop} dev {dev}: {}: queued, ARP request broadcast",
                        if *state == NudState::None { "no entry" } else { "FAILED" }
                    ),
                    NudState::Incomplete => format!(
                        "neighbour {nexthop} dev {dev}: INCOMPLETE: queued until ARP answers"
                    ),
                    st => format!(
                        "neighbour {nexthop} dev {dev} lladdr {} {}: sent",
                        lladdr.map_or_else(|| "?".to_string(), |m| fmt_mac(&m)),
                        st.name()
                    ),
                }
            }
            StepKind::NeighResolved { nexthop, lladdr } => format!(
                "neighbour {nexthop} resolved to {}: the queued packet leaves",
                fmt_mac(lladdr)
            ),
            StepKind::ArpAnswer {
                target,
                proxy: true,
                delay_ns,
            } => {
                let when = if *delay_ns == 0 {
                    "at once".to_string()
                } else {
                    format!("after {} (proxy_delay)", crate::time::Instant::from_ns(*delay_ns))
                };
                format!(
                    "proxy ARP: {} answers for {target} with its own MAC {} {when} (proxy_arp=1 and the route to {target} leaves by another device)",
                    self.dev_name(s.dev),
                    fmt_mac(&self.w.devs[s.dev].mac)
                )
            }
            StepKind::ArpAnswer { target, .. } => format!(
                "ARP: {target} is ours: reply {target} is-at {}",
                fmt_mac(&self.w.devs[s.dev].mac)
            ),
            StepKind::Encap {
                tunnel,
                outer_src,
                outer_dst,
            } => format!(
                "encapsulated ({}{}): outer {outer_src} > {outer_dst}",
                tunnel.name(),
                vni_text(tunnel)
            ),
            StepKind::Decap {
                tunnel,
                outer_src,
                outer_dst,
                into,
            } => format!(
                "decapsulated ({}{}, outer {outer_src} > {outer_dst}): the inner packet is received on {}",
                tunnel.name(),
                vni_text(tunnel),
                self.dev_name(*into)
            ),
            StepKind::Fdb {
                dst,
                port,
                flooded,
                local,
            } => {
                let up = if *local { ", and up to the bridge itself" } else { "" };
                match port {
                    Some(p) => format!(
                        "bridge FDB: {} is on port {}: forwarded there{up}",
                        fmt_mac(dst),
                        self.dev_name(*p)
                    ),
                    None if *flooded == 0 && *local => {
                        format!("bridge FDB: {} is the bridge's own: passed up", fmt_mac(dst))
                    }
                    None => format!(
                        "bridge FDB: no entry for {}: flooded to {flooded} port(s){up}",
                        fmt_mac(dst)
                    ),
                }
            }
            StepKind::Nat { src, before, after } => format!(
                "NAT (conntrack): {} {before} rewritten to {after}",
                if *src { "source" } else { "destination" }
            ),
            StepKind::Deliver => "delivered".to_string(),
            StepKind::Drop { reason } => format!("DROPPED: {reason}"),
            StepKind::Caused { child, cause } => {
                format!("-> journey {child}: {}", cause_text(*cause))
            }
        }
    }

    /// One step in a few words, for a pcapng comment (None: not worth a comment).
    fn brief(&self, s: &Step) -> Option<String> {
        let ns = self.ns_of(s.dev);
        Some(match &s.kind {
            StepKind::Capture { .. } => return None,
            StepKind::Caused {
                cause: Cause::Copy, ..
            } => return None,
            StepKind::RouteOut { route, src, .. } => {
                format!("route {} (src {src})", self.route_line(ns, route))
            }
            StepKind::RouteIn { dst, route: None } => format!("no route to {dst}"),
            StepKind::RouteIn { route: Some(r), .. } if r.rtype == RouteType::Local => {
                "local".to_string()
            }
            StepKind::RouteIn { route: Some(r), .. } => format!("route {}", self.route_line(ns, r)),
            StepKind::RpFilter {
                all,
                dev_conf,
                reverse,
                verdict,
                ..
            } => {
                let mode = (*all).max(*dev_conf);
                match (verdict, reverse) {
                    (RpVerdict::Ok, _) => format!("rp_filter={mode} ok"),
                    (_, Some(r)) => format!(
                        "rp_filter={mode} fails: reverse route {} not via {}",
                        self.route_line(ns, r),
                        self.dev_name(s.dev)
                    ),
                    (_, None) => format!("rp_filter={mode} fails: no reverse route"),
                }
            }
            StepKind::Ttl { ttl: 0 } => "ttl expired".to_string(),
            StepKind::Ttl { ttl } => format!("ttl {} -> {ttl}", u16::from(*ttl) + 1),
            StepKind::Neigh { nexthop, state, .. } => match state {
                NudState::None | NudState::Failed | NudState::Incomplete => {
                    format!("neigh {nexthop} unresolved: queued for ARP")
                }
                st => format!("neigh {nexthop} {}", st.name()),
            },
            StepKind::NeighResolved { nexthop, .. } => format!("neigh {nexthop} resolved"),
            StepKind::ArpAnswer {
                target,
                proxy: true,
                ..
            } => format!("proxy ARP answers for {target}"),
            StepKind::ArpAnswer { target, .. } => format!("ARP answers for {target}"),
            StepKind::Encap {
                tunnel,
                outer_src,
                outer_dst,
            } => format!("{} encap {outer_src} > {outer_dst}", tunnel.name()),
            StepKind::Decap { tunnel, into, .. } => {
                format!("{} decap onto {}", tunnel.name(), self.dev_name(*into))
            }
            StepKind::Fdb { port: Some(p), .. } => format!("fdb hit: port {}", self.dev_name(*p)),
            StepKind::Fdb { flooded, .. } => format!("fdb flood to {flooded} port(s)"),
            StepKind::Nat { src, before, after } => {
                format!(
                    "nat {} {before} -> {after}",
                    if *src { "src" } else { "dst" }
                )
            }
            StepKind::Deliver => "delivered".to_string(),
            StepKind::Drop { reason } => format!("dropped: {reason}"),
            StepKind::Caused { child, cause } => format!("caused {child} ({})", cause_text(*cause)),
        })
    }

    /// The comment of every captured packet, indexed like `Trace::packets`: its journey id,
    /// direction, the decisions taken at that capture point (after an inbound capture, up to the
    /// next capture; before an outbound one, since the previous), and for the last capture of a
    /// dropped packet, where and why it was dropped.
    pub fn capture_comments(&self) -> Vec<Option<String>> {
        let mut out = vec![None; self.w.trace.packets.len()];
        for (&id, idxs) in &self.by_pkt {
            let steps: Vec<&Step> = idxs.iter().map(|&i| &self.j.steps[i]).collect();
            let caps: Vec<usize> = (0..steps.len())
                .filter(|&k| matches!(steps[k].kind, StepKind::Capture { .. }))
                .collect();
            let drop = steps.iter().enumerate().find_map(|(k, s)| match s.kind {
                StepKind::Drop { reason } => Some((k, s.dev, reason)),
                _ => None,
            });
            for (n, &k) in caps.iter().enumerate() {
                let StepKind::Capture {
                    dir,
                    idx: Some(idx),
                } = steps[k].kind
                else {
                    continue;
                };
                let range = match dir {
                    Direction::In => k + 1..caps.get(n + 1).copied().unwrap_or(steps.len()),
                    Direction::Out => n.checked_sub(1).map_or(0, |p| caps[p] + 1)..k,
                };
                let mut words: Vec<String> = steps[range.clone()]
                    .iter()
                    .filter_map(|s| self.brief(s))
                    .collect();
                if let (Some((dk, ddev, reason)), true) = (drop, n + 1 == caps.len()) {
                    if !range.contains(&dk) {
                        words.push(format!("then dropped at {}: {reason}", self.place(ddev)));
                    }
                }
                let d = if dir == Direction::In { "in" } else { "out" };
                let mut c = format!("journey {id} {d}");
                if let Some((parent, cause)) = self.parents.get(&id).copied() {
                    let _ = write!(c, " ({} of journey {parent})", cause_text(cause));
                }
                if !words.is_empty() {
                    c.push_str(": ");
                    c.push_str(&words.join("; "));
                }
                if let Some(slot) = out.get_mut(idx) {
                    *slot = Some(c);
                }
            }
        }
        out
    }

    /// Every packet a local sender sent (pings, replies, ICMP errors; not ARP), one line each:
    /// journey id, time, netns, what tcpdump printed first, how it ended.
    pub fn list_sent(&self) -> String {
        let mut out = String::from("journey  time            netns            packet -> end\n");
        for s in &self.j.steps {
            if let StepKind::RouteOut { .. } = s.kind {
                let what = self.first_summary(s.pkt).unwrap_or_default();
                let end = match self.end(s.pkt) {
                    Some((e, None)) => {
                        format!("delivered in {}", self.w.ns[self.ns_of(e.dev)].name)
                    }
                    Some((e, Some(r))) => format!("dropped at {} ({r})", self.place(e.dev)),
                    None => "in flight".to_string(),
                };
                let _ = writeln!(
                    out,
                    "{:<8} {:<15} {:<16} {what} -> {end}",
                    s.pkt,
                    s.ts.to_string(),
                    self.w.ns[self.ns_of(s.dev)].name
                );
            }
        }
        out
    }

    /// `sim explain`: journey `id` step by step, then each reply and ICMP error it caused (and
    /// theirs), then why it ended as it did.
    pub fn explain(&self, id: u64) -> Result<String, ExplainError> {
        if !self.by_pkt.contains_key(&id) {
            return Err(ExplainError::NoPacket(id));
        }
        let mut out = String::new();
        let mut why = String::new();
        self.explain_one(id, 0, &mut out, &mut why);
        if !why.is_empty() {
            out.push_str("\nwhy:\n");
            out.push_str(&why);
        }
        Ok(out)
    }

    fn explain_one(&self, id: u64, depth: usize, out: &mut String, why: &mut String) {
        let head = self
            .first_summary(id)
            .unwrap_or_else(|| "(never captured)".to_string());
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "journey {id}: {head}");
        if let Some((parent, cause)) = self.parents.get(&id).copied() {
            let _ = writeln!(out, "  {} of journey {parent}", cause_text(cause));
        }
        let mut children = Vec::new();
        let mut last_place = String::new();
        for s in self.steps(id) {
            let place = self.place(s.dev);
            let shown = if place == last_place { "" } else { &place };
            let _ = writeln!(
                out,
                "  {:>14}  {:<20} {}",
                s.ts.to_string(),
                shown,
                self.describe(s)
            );
            last_place = place;
            if let StepKind::Caused { child, cause } = s.kind {
                children.push((child, cause));
            }
        }
        match self.end(id) {
            Some((s, None)) => {
                let _ = writeln!(
                    out,
                    "  end: delivered in {}",
                    self.w.ns[self.ns_of(s.dev)].name
                );
            }
            Some((s, Some(reason))) => {
                let _ = writeln!(out, "  end: dropped at {} with {reason}", self.place(s.dev));
                self.why_dropped(id, s, reason, why);
            }
            None => {
                let _ = writeln!(out, "  end: still in flight when the run stopped");
            }
        }
        // ARP exchanges and copies are summed up in one line; replies and errors in full.
        for (child, cause) in children {
            match cause {
                Cause::EchoReply | Cause::IcmpError { .. } if depth < CAUSED_DEPTH_MAX => {
                    self.explain_one(child, depth + 1, out, why)
                }
                _ => {
                    let mut what = self.first_summary(child).unwrap_or_default();
                    if cause == Cause::ArpRequest {
                        what.push_str(&self.arp_outcome(child));
                    }
                    let end = match self.end(child) {
                        Some((s, None)) => {
                            format!("delivered in {}", self.w.ns[self.ns_of(s.dev)].name)
                        }
                        Some((s, Some(r))) => format!("dropped at {} ({r})", self.place(s.dev)),
                        None => "in flight".to_string(),
                    };
                    let _ = writeln!(
                        out,
                        "  journey {child} ({}): {what}: {end}",
                        cause_text(cause)
                    );
                }
            }
        }
    }

    /// Who answered ARP request `id`, in a few words: ", proxy ARP on node1/cali11 answered
    /// (journey 3)", or ", unanswered".
    fn arp_outcome(&self, id: u64) -> String {
        // The request itself, or the flood copies of it, carry the answer.
        let mut ids = vec![id];
        ids.extend(self.steps(id).filter_map(|s| match s.kind {
            StepKind::Caused {
                child,
                cause: Cause::Copy,
            } => Some(child),
            _ => None,
        }));
        for i in ids {
            let mut answer = None;
            let mut reply = None;
            for s in self.steps(i) {
                match s.kind {
                    StepKind::ArpAnswer { proxy, .. } => answer = Some((s.dev, proxy)),
                    StepKind::Caused {
                        child,
                        cause: Cause::ArpReply | Cause::ProxyArpReply,
                    } => reply = Some(child),
                    _ => {}
                }
            }
            if let Some((dev, proxy)) = answer {
                let who = if proxy { "proxy ARP on " } else { "" };
                let r = reply.map_or_else(String::new, |r| format!(" (journey {r})"));
                return format!(", {who}{} answered{r}", self.place(dev));
            }
        }
        ", unanswered".to_string()
    }

    /// The reason a journey ended in a drop, in plain words (linux-semantics.md §12.5 for
    /// rp_filter).
    fn why_dropped(&self, id: u64, drop: &Step, reason: DropReason, why: &mut String) {
        let ns = self.ns_of(drop.dev);
        let (node, dev) = (&self.w.ns[ns].name, self.dev_name(drop.dev));
        let steps: Vec<&Step> = self.steps(id).collect();
        let caused_error = steps.iter().find_map(|s| match s.kind {
            StepKind::Caused {
                child,
                cause: Cause::IcmpError { icmp_type, code },
            } => Some((child, icmp_type, code)),
            _ => None,
        });
        let _ = writeln!(why, "  journey {id} died on {node} at {dev} ({reason}).");
        match reason {
            DropReason::IpRpfilter => self.why_rpfilter(&steps, drop, why),
            DropReason::IpInnoroutes => {
                let dst = steps.iter().rev().find_map(|s| match s.kind {
                    StepKind::RouteIn { dst, route: None } => Some(dst),
                    _ => None,
                });
                let _ = writeln!(
                    why,
                    "  {node} forwards, but no route in its tables matches {}: ip_route_input_slow() fails with -ENETUNREACH, IpExtInNoRoutes counts it, and ip_error() drops it with IP_INNOROUTES.",
                    dst.map_or_else(|| "the destination".to_string(), |d| d.to_string())
                );
            }
            DropReason::NeighFailed => {
                let _ = writeln!(
                    why,
                    "  the packet waited for its next hop's MAC, and nobody answered the broadcast ARP requests (mcast_solicit = 3): the entry went FAILED and the queued packet was dropped."
                );
            }
            DropReason::IpInhdr
                if steps
                    .iter()
                    .any(|s| matches!(s.kind, StepKind::Ttl { ttl: 0 })) =>
            {
                let _ = writeln!(
                    why,
                    "  it arrived with TTL 1 and {node} had to forward it: ip_forward() drops it and answers ICMP time exceeded (a routing loop ends this way)."
                );
            }
            _ => {}
        }
        match caused_error {
            Some((child, t, code)) => {
                let _ = writeln!(
                    why,
                    "  {node} sent {} back to the source (journey {child}).",
                    icmp_name(t, code)
                );
            }
            None if reason == DropReason::IpInnoroutes => {
                let src = steps.iter().find_map(|s| match s.kind {
                    StepKind::RouteOut { src, .. } => Some(src),
                    _ => None,
                });
                let no_way_back =
                    src.is_some_and(|a| self.w.route_output_uncached(ns, a, None).is_err());
                let _ = writeln!(
                    why,
                    "  No ICMP error goes back{}, so the sender just times out.",
                    match (no_way_back, src) {
                        (true, Some(a)) => format!(
                            ": ip_error() would answer net unreachable, but {node} has no route back to {a} either"
                        ),
                        _ => String::new(),
                    }
                );
            }
            None if reason != DropReason::NeighFailed => {
                let _ = writeln!(
                    why,
                    "  No ICMP error goes back, so the sender just times out."
                );
            }
            None => {}
        }
    }

    /// §12.5 in the journal's terms: where the packet came from, the reverse route, the mode.
    fn why_rpfilter(&self, steps: &[&Step], drop: &Step, why: &mut String) {
        let ns = self.ns_of(drop.dev);
        let node = &self.w.ns[ns].name;
        let dev = self.dev_name(drop.dev);
        let Some(StepKind::RpFilter {
            src,
            all,
            dev_conf,
            reverse,
            ..
        }) = steps
            .iter()
            .rev()
            .find(|s| matches!(s.kind, StepKind::RpFilter { .. }))
            .map(|s| &s.kind)
        else {
            return;
        };
        let mode = (*all).max(*dev_conf);
        // The hop before: the last route another netns chose for this packet.
        let prev = steps.iter().rev().find_map(|s| match &s.kind {
            StepKind::RouteIn { route: Some(r), .. } | StepKind::RouteOut { route: r, .. }
                if self.ns_of(s.dev) != ns =>
            {
                Some((self.ns_of(s.dev), *r))
            }
            _ => None,
        });
        let tunnelled = steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::Encap { .. }));
        if let Some((pns, r)) = prev {
            let how = if tunnelled {
                "through a tunnel"
            } else {
                "natively, not through a tunnel"
            };
            let _ = writeln!(
                why,
                "  {} sent it {how}: its route was `{}`, so it arrived on {node}'s {dev} with source {src}.",
                self.w.ns[pns].name,
                self.route_line(pns, &r)
            );
        }
        let local = steps.iter().rev().any(|s| {
            self.ns_of(s.dev) == ns
                && matches!(&s.kind, StepKind::RouteIn { route: Some(r), .. } if r.rtype == RouteType::Local)
        });
        let _ = writeln!(
            why,
            "  {}, so ip_route_input_slow() called fib_validate_source(src={src}, dev={dev}).",
            if local {
                "Its destination is local"
            } else {
                "It was to be forwarded"
            }
        );
        match reverse {
            Some(r) => {
                let rdev = self.route_dev(ns, r).unwrap_or_else(|| "none".to_string());
                let _ = writeln!(
                    why,
                    "  The reverse lookup for {src} matched `{}`: a {} route whose device is {rdev}, not {dev} where the packet came in. {node}'s way back to {src} is not the way the packet came: the path is asymmetric.",
                    self.route_line(ns, r),
                    r.rtype.name()
                );
            }
            None => {
                let _ = writeln!(why, "  The reverse lookup for {src} found no route at all.");
            }
        }
        let _ = writeln!(
            why,
            "  rp_filter for {dev} is {mode} ({}): the max of net.ipv4.conf.all.rp_filter={all} and net.ipv4.conf.{dev}.rp_filter={dev_conf}. {}",
            rp_mode_name(mode),
            if mode == 1 {
                "In strict mode the reverse route must leave by the input device, so the check fails with -EXDEV."
            } else {
                "In loose mode any reverse route will do, and there is none, so the check fails with -EXDEV."
            }
        );
        let _ = writeln!(
            why,
            "  The packet dies at the input of {dev}, before any local delivery or ICMP processing: drop reason IP_RPFILTER, and {node}'s TcpExtIPReversePathFilter counts it ({} by the end of the run).",
            self.w.ns[ns]
                .nstat(crate::netns::nstat::Nstat::TcpExtIPReversePathFilter)
        );
        // `ip_handle_martian_source()` logs only with log_martians (all or the device).
        let dst = steps.iter().rev().find_map(|s| match s.kind {
            StepKind::RouteIn { dst, .. } if self.ns_of(s.dev) == ns => Some(dst),
            _ => None,
        });
        if let Some(dst) = dst {
            let on = self.w.ns[ns].conf_all.log_martians || self.w.devs[drop.dev].conf.log_martians;
            let _ = writeln!(
                why,
                "  With log_martians=1 the kernel logs `IPv4: martian source {dst} from {src}, on dev {dev}`{}.",
                if on { " (it is on here)" } else { " (it is off here)" }
            );
        }
        if reverse.is_some_and(|r| r.rtype == RouteType::Unicast) && mode == 1 {
            let masq = prev.and_then(|(pns, r)| {
                let d = r.dev.and_then(|i| self.w.dev_of(pns, i))?;
                let a = self.w.devs[d].primary_addrs().next()?.addr;
                Some((self.w.ns[pns].name.clone(), a))
            });
            let _ = write!(
                why,
                "  It would pass with rp_filter=2 (loose: any unicast reverse route will do) on {node}"
            );
            match masq {
                Some((pnode, a)) if a != *src => {
                    let _ = writeln!(
                        why,
                        ", or if {pnode} masqueraded the source to its address {a} (Calico natOutgoing), whose reverse route on {node} is on {dev}."
                    );
                }
                _ => why.push_str(".\n"),
            }
        }
    }
}

fn rp_mode_name(mode: u8) -> &'static str {
    match mode {
        0 => "off",
        1 => "strict",
        _ => "loose",
    }
}

fn vni_text(t: &crate::trace::journal::Tunnel) -> String {
    match t {
        crate::trace::journal::Tunnel::Vxlan { vni } => format!(" vni {vni}"),
        crate::trace::journal::Tunnel::Ipip => String::new(),
    }
}

fn icmp_name(t: u8, code: u8) -> String {
    match (t, code) {
        (icmp::DEST_UNREACH, icmp::NET_UNREACH) => "ICMP net unreachable".to_string(),
        (icmp::DEST_UNREACH, icmp::HOST_UNREACH) => "ICMP host unreachable".to_string(),
        (icmp::DEST_UNREACH, icmp::PORT_UNREACH) => "ICMP port unreachable".to_string(),
        (icmp::DEST_UNREACH, icmp::FRAG_NEEDED) => "ICMP fragmentation needed".to_string(),
        (icmp::DEST_UNREACH, c) => format!("ICMP destination unreachable (code {c})"),
        (icmp::TIME_EXCEEDED, _) => "ICMP time exceeded".to_string(),
        (t, c) => format!("ICMP type {t} code {c}"),
    }
}

fn cause_text(c: Cause) -> String {
    match c {
        Cause::EchoReply => "echo reply".to_string(),
        Cause::IcmpError { icmp_type, code } => icmp_name(icmp_type, code),
        Cause::ArpRequest => "ARP request".to_string(),
        Cause::ArpReply => "ARP reply".to_string(),
        Cause::ProxyArpReply => "proxy ARP reply".to_string(),
        Cause::Copy => "copy".to_string(),
        Cause::Fragment => "fragment".to_string(),
    }
}
