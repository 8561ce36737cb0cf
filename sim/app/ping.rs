//! iputils `ping` (20221126): echo requests with its packet layout, its output lines, its exit
//! timing and statistics (R11.3, R11.5), on the virtual clock.

use crate::dev::NsId;
use crate::netns::nstat::Nstat;
use crate::packet::{FlowTag, Pkt};
use crate::stack::icmp::PingInput;
use crate::stack::ipv4::LocalSend;
use crate::time::{Duration, Instant};
use crate::wire::icmp;
use crate::wire::ipv4::PROTO_ICMP;
use crate::world::{Event, World};
use std::net::Ipv4Addr;

/// `MAXWAIT`: how long ping lingers after its last request when nothing came back.
const LINGER: Duration = Duration::from_secs(10);

/// What a ping run is asked to do.
#[derive(Clone, Debug)]
pub struct PingSpec {
    pub ns: NsId,
    pub dst: Ipv4Addr,
    pub count: u16,
    pub interval: Duration,
    pub start: Instant,
    /// Data bytes (`-s`), 56 by default.
    pub size: usize,
    pub id: u16,
}

/// One echo reply received.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PingReply {
    pub seq: u16,
    pub from: Ipv4Addr,
    pub ttl: u8,
    pub rtt: Duration,
}

/// One ICMP error received about a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PingError {
    pub seq: u16,
    pub from: Ipv4Addr,
    pub icmp_type: u8,
    pub code: u8,
}

/// A running ping and everything it printed.
#[derive(Clone, Debug)]
pub struct Ping {
    pub spec: PingSpec,
    pub sent: Vec<(u16, Instant)>,
    pub replies: Vec<PingReply>,
    pub errors: Vec<PingError>,
    /// stdout lines, as ping prints them.
    pub lines: Vec<String>,
    /// stderr lines (local send errors).
    pub stderr: Vec<String>,
    pub finished: bool,
    first_send: Option<Instant>,
    last_activity: Instant,
    pipesize: usize,
}

impl Ping {
    pub fn new(spec: PingSpec) -> Self {
        Ping {
            spec,
            sent: Vec::new(),
            replies: Vec::new(),
            errors: Vec::new(),
            lines: Vec::new(),
            stderr: Vec::new(),
            finished: false,
            first_send: None,
            last_activity: Instant::ZERO,
            pipesize: 1,
        }
    }

    /// iputils' data: a `struct timeval` (16 bytes, little-endian), then bytes 0x10, 0x11, ...
    fn rtt_text(rtt: Duration) -> String {
        // ping_common.c: precision shrinks as the time grows; times are in microseconds.
        let us = rtt.as_ns() / 1000;
        if us >= 100_000 - 50 {
            format!("{}", (us + 500) / 1000)
        } else if us >= 10_000 - 5 {
            format!("{}.{:01}", (us + 50) / 1000, ((us + 50) % 1000) / 100)
        } else if us >= 1_000 {
            format!("{}.{:02}", (us + 5) / 1000, ((us + 5) % 1000) / 10)
        } else {
            format!("{}.{:03}", us / 1000, us % 1000)
        }
    }

    /// The summary block ping prints at exit.
    fn summary(&self) -> Vec<String> {
        let tx = self.sent.len();
        let rx = {
            let mut seqs: Vec<u16> = self.replies.iter().map(|r| r.seq).collect();
            seqs.sort_unstable();
            seqs.dedup();
            seqs.len()
        };
        let errs = self.errors.len();
        let start = self.first_send.unwrap_or(self.spec.start);
        let time_ms = self.last_activity.since(start).as_ns() / 1_000_000;
        let mut out = vec![
            String::new(),
            format!("--- {} ping statistics ---", self.spec.dst),
        ];
        let mut l = format!("{tx} packets transmitted, {rx} received");
        if errs > 0 {
            l += &format!(", +{errs} errors");
        }
        if tx > 0 {
            l += &format!(
                ", {}% packet loss",
                fmt_g((tx - rx) as f64 * 100.0 / tx as f64)
            );
        }
        l += &format!(", time {time_ms}ms");
        out.push(l);
        let mut tail = Vec::new();
        if !self.replies.is_empty() {
            let us: Vec<u64> = self.replies.iter().map(|r| r.rtt.as_ns() / 1000).collect();
            let n = us.len() as u64;
            let sum: u64 = us.iter().sum();
            let sum2: u128 = us.iter().map(|&u| u128::from(u) * u128::from(u)).sum();
            let avg = sum / n;
            let min = us.iter().copied().min().unwrap_or(0);
            let max = us.iter().copied().max().unwrap_or(0);
            let var = (sum2 / u128::from(n)).saturating_sub(u128::from(avg) * u128::from(avg));
            let mdev = (var as f64).sqrt() as u64;
            let f = |v: u64| format!("{}.{:03}", v / 1000, v % 1000);
            tail.push(format!(
                "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
                f(min),
                f(avg),
                f(max),
                f(mdev)
            ));
        }
        if self.pipesize > 1 {
            tail.push(format!("pipe {}", self.pipesize));
        }
        if !tail.is_empty() {
            out.push(tail.join(", "));
        }
        out
    }
}

/// iputils' echo data of `size` bytes sent at `now`: a `struct timeval` (16 bytes,
/// little-endian), then bytes 0x10, 0x11, ...
pub fn echo_data(now: Instant, size: usize) -> Vec<u8> {
    let mut d = Vec::with_capacity(size);
    let (sec, usec) = (
        now.as_ns() / 1_000_000_000,
        (now.as_ns() % 1_000_000_000) / 1000,
    );
    if size >= 16 {
        d.extend_from_slice(&sec.to_le_bytes());
        d.extend_from_slice(&usec.to_le_bytes());
    }
    while d.len() < size {
        d.push(d.len() as u8);
    }
    d
}

/// printf's `%g` for a percentage (six significant digits, no trailing zeros).
fn fmt_g(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e6 {
        return format!("{}", v as i64);
    }
    let digits = 6 - (v.abs().log10().floor() as i32 + 1);
    let s = format!("{:.*}", digits.max(0) as usize, v);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl World {
    /// Starts a ping: schedules its first request.
    pub fn add_ping(&mut self, spec: PingSpec) -> usize {
        let start = spec.start;
        self.engine.add_lane(spec.interval);
        self.pings.push(Ping::new(spec));
        let app = self.pings.len() - 1;
        self.engine.schedule_at(start, Event::PingSend { app });
        app
    }

    /// One iputils echo request of `size` data bytes from `ns` (`ping4_send_probe`), counted as
    /// the raw socket's message once it is routed (`__ip_make_skb` -> `icmp_out_count`).
    pub(crate) fn send_echo_request(
        &mut self,
        ns: NsId,
        dst: Ipv4Addr,
        id: u16,
        seq: u16,
        size: usize,
        tag: Option<FlowTag>,
    ) -> Result<(), crate::stack::route::OutError> {
        let data = echo_data(self.now(), size);
        let send = LocalSend {
            proto: PROTO_ICMP,
            tos: 0,
            src: None,
            df_if_fits: true,
            payload: icmp::emit_echo(icmp::ECHO_REQUEST, id, seq, &data),
        };
        self.ip_send_local(ns, dst, send, tag)?;
        self.ns[ns].count(Nstat::IcmpOutMsgs);
        self.ns[ns].count(Nstat::IcmpOutEchos);
        Ok(())
    }

    /// Sends the next echo request.
    pub fn ping_send(&mut self, app: usize) {
        let now = self.now();
        let p = &mut self.pings[app];
        if p.finished {
            return;
        }
        let seq = p.sent.len() as u16 + 1;
        if p.first_send.is_none() {
            p.first_send = Some(now);
            p.lines.push(format!(
                "PING {dst} ({dst}) {}({}) bytes of data.",
                p.spec.size,
                p.spec.size + 28,
                dst = p.spec.dst
            ));
        }
        let (ns, dst, id, size) = (p.spec.ns, p.spec.dst, p.spec.id, p.spec.size);
        p.sent.push((seq, now));
        p.last_activity = now;
        let tag = Some(FlowTag {
            app: app as u32,
            seq,
        });
        if let Err(e) = self.send_echo_request(ns, dst, id, seq, size, tag) {
            let p = &mut self.pings[app];
            if seq == 1 {
                // iputils connects a probe socket first and exits on failure.
                p.stderr.push(format!("ping: connect: {}", e.strerror()));
                p.sent.clear();
                p.lines.clear();
                p.finished = true;
                return;
            }
            p.stderr.push(format!("ping: sendmsg: {}", e.strerror()));
        }
        let p = &self.pings[app];
        if p.sent.len() < usize::from(p.spec.count) {
            let interval = p.spec.interval;
            self.engine.schedule_in(interval, Event::PingSend { app });
        } else {
            // `schedule_exit`: linger 2*tmax (at least an interval) if anything came back,
            // else 10 s; an answer to every request ends it sooner.
            let wait = if p.replies.is_empty() {
                LINGER
            } else {
                let tmax = p.replies.iter().map(|r| r.rtt).max().unwrap_or_default();
                let twice = Duration::from_ns(tmax.as_ns() * 2);
                if twice > p.spec.interval {
                    twice
                } else {
                    p.spec.interval
                }
            };
            self.engine.schedule_in(wait, Event::PingFinish { app });
        }
    }

    /// An echo reply or ICMP error reached a netns: the ping it belongs to takes it.
    pub fn ping_input(&mut self, ns: NsId, input: PingInput, pkt: Pkt) {
        let now = self.now();
        let id = match input {
            PingInput::Reply { id, .. } | PingInput::Error { id, .. } => id,
        };
        if let Some(&mesh) = self.ns[ns].ping_ids.get(&id) {
            self.deliver(pkt);
            return self.ping_mesh_input(mesh, input);
        }
        let Some(app) = self
            .pings
            .iter()
            .position(|p| p.spec.ns == ns && p.spec.id == id && !p.finished)
        else {
            // Nobody listens: the kernel's ICMP handler consumes it.
            return self.deliver(pkt);
        };
        self.deliver(pkt);
        let p = &mut self.pings[app];
        p.last_activity = now;
        match input {
            PingInput::Reply {
                from,
                seq,
                ttl,
                len,
                ..
            } => {
                let Some(&(_, sent_at)) = p.sent.iter().find(|(s, _)| *s == seq) else {
                    return;
                };
                let rtt = now.since(sent_at);
                let dup = p.replies.iter().any(|r| r.seq == seq);
                p.pipesize = p.pipesize.max(p.sent.len() + 1 - usize::from(seq));
                p.replies.push(PingReply {
                    seq,
                    from,
                    ttl,
                    rtt,
                });
                let mut line = format!(
                    "{len} bytes from {from}: icmp_seq={seq} ttl={ttl} time={} ms",
                    Ping::rtt_text(rtt)
                );
                if dup {
                    line += " (DUP!)";
                }
                p.lines.push(line);
            }
            PingInput::Error {
                from,
                seq,
                icmp_type,
                code,
                rest,
                ..
            } => {
                if !p.sent.iter().any(|(s, _)| *s == seq) {
                    return;
                }
                p.pipesize = p.pipesize.max(p.sent.len() + 1 - usize::from(seq));
                p.errors.push(PingError {
                    seq,
                    from,
                    icmp_type,
                    code,
                });
                p.lines.push(format!(
                    "From {from} icmp_seq={seq} {}",
                    error_text(icmp_type, code, rest)
                ));
            }
        }
        // Every request answered (reply or error) after the last one was sent: exit now.
        let p = &self.pings[app];
        let answered = p.replies.len() + p.errors.len();
        if p.sent.len() == usize::from(p.spec.count) && answered >= usize::from(p.spec.count) {
            self.ping_finish(app);
        }
    }

    /// Prints the statistics and stops the ping.
    pub fn ping_finish(&mut self, app: usize) {
        let p = &mut self.pings[app];
        if p.finished {
            return;
        }
        p.finished = true;
        let s = p.summary();
        p.lines.extend(s);
    }
}

/// iputils' text for an ICMP error (`pr_icmph`).
fn error_text(t: u8, code: u8, rest: [u8; 4]) -> String {
    match (t, code) {
        (icmp::DEST_UNREACH, icmp::NET_UNREACH) => "Destination Net Unreachable".into(),
        (icmp::DEST_UNREACH, icmp::HOST_UNREACH) => "Destination Host Unreachable".into(),
        (icmp::DEST_UNREACH, icmp::PROT_UNREACH) => "Destination Protocol Unreachable".into(),
        (icmp::DEST_UNREACH, icmp::PORT_UNREACH) => "Destination Port Unreachable".into(),
        (icmp::DEST_UNREACH, icmp::FRAG_NEEDED) => {
            format!(
                "Frag needed and DF set (mtu = {})",
                u16::from_be_bytes([rest[2], rest[3]])
            )
        }
        (icmp::DEST_UNREACH, icmp::PKT_FILTERED) => "Packet filtered".into(),
        (icmp::DEST_UNREACH, c) => format!("Dest Unreachable, Bad Code: {c}"),
        (icmp::TIME_EXCEEDED, 0) => "Time to live exceeded".into(),
        (icmp::TIME_EXCEEDED, _) => "Frag reassembly time exceeded".into(),
        (t, c) => format!("Bad ICMP type: {t} code {c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_precision_follows_iputils() {
        assert_eq!(Ping::rtt_text(Duration::from_us(54)), "0.054");
        assert_eq!(Ping::rtt_text(Duration::from_us(1620)), "1.62");
        assert_eq!(Ping::rtt_text(Duration::from_us(48_700)), "48.7");
        assert_eq!(Ping::rtt_text(Duration::from_us(123_400)), "123");
    }

    #[test]
    fn loss_percent_prints_like_printf_g() {
        assert_eq!(fmt_g(0.0), "0");
        assert_eq!(fmt_g(100.0), "100");
        assert_eq!(fmt_g(100.0 / 3.0), "33.3333");
        assert_eq!(fmt_g(200.0 / 3.0), "66.6667");
    }
}
