//! UDP echo: a server that sends every datagram back to where it came from (the echo service,
//! port 9 as ns-3's `UdpEchoServer` uses it), and a client with one unconnected socket that
//! sends requests on a schedule to a rotation of destinations and counts the replies.

use crate::dev::NsId;
use crate::time::{Duration, Instant};
use crate::world::{Event, World};
use std::net::Ipv4Addr;

/// A client's schedule: request `q` (0 <= q < rounds * dsts.len()) leaves at
/// `start + q * interval` for `dsts[q % dsts.len()]`.
#[derive(Clone, Debug)]
pub struct UdpClientSpec {
    pub ns: NsId,
    pub dsts: Vec<Ipv4Addr>,
    pub port: u16,
    pub rounds: u32,
    pub start: Instant,
    pub interval: Duration,
    /// Payload bytes of each request.
    pub size: usize,
}

/// A UDP application and its socket.
#[derive(Clone, Debug)]
pub enum UdpApp {
    EchoServer(UdpEchoServer),
    Client(UdpClient),
}

#[derive(Clone, Debug)]
pub struct UdpEchoServer {
    pub ns: NsId,
    pub port: u16,
    /// Datagrams read from the socket.
    pub received: u64,
    /// Echoes the kernel refused to send (no route): `sendto` errors.
    pub send_errors: u64,
}

#[derive(Clone, Debug)]
pub struct UdpClient {
    pub spec: UdpClientSpec,
    /// The socket's (ephemeral) port.
    pub sport: u16,
    pub sent: u64,
    pub replies: u64,
    pub send_errors: u64,
}

impl UdpClient {
    /// Requests it will send in all.
    pub fn total(&self) -> u64 {
        u64::from(self.spec.rounds) * self.spec.dsts.len() as u64
    }
}

/// What the UDP applications of a run did, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpTotals {
    pub requests: u64,
    pub echoed: u64,
    pub replies: u64,
    pub send_errors: u64,
}

impl UdpTotals {
    /// Datagrams handed to a receiving application socket (requests read by servers plus
    /// replies read by clients).
    pub fn delivered(&self) -> u64 {
        self.echoed + self.replies
    }
}

impl World {
    /// Starts an echo server on `port` of `ns`; None if the port is taken.
    pub fn add_udp_echo_server(&mut self, ns: NsId, port: u16) -> Option<usize> {
        let app = self.udp_apps.len();
        self.udp_bind(ns, port, app)?;
        self.udp_apps.push(UdpApp::EchoServer(UdpEchoServer {
            ns,
            port,
            received: 0,
            send_errors: 0,
        }));
        Some(app)
    }

    /// Starts a client (socket bound to an ephemeral port) and schedules its first request.
    /// None if no ephemeral port is free.
    pub fn add_udp_client(&mut self, spec: UdpClientSpec) -> Option<usize> {
        let app = self.udp_apps.len();
        let sport = self.udp_bind(spec.ns, 0, app)?;
        let (start, interval) = (spec.start, spec.interval);
        let idle = spec.dsts.is_empty() || spec.rounds == 0;
        self.udp_apps.push(UdpApp::Client(UdpClient {
            spec,
            sport,
            sent: 0,
            replies: 0,
            send_errors: 0,
        }));
        if !idle {
            self.engine.add_lane(interval);
            self.engine.schedule_at(start, Event::UdpSend { app });
        }
        Some(app)
    }

    /// A client sends its next request and schedules the one after.
    pub fn udp_client_send(&mut self, app: usize) {
        let UdpApp::Client(c) = &mut self.udp_apps[app] else {
            return;
        };
        let q = c.sent;
        if q >= c.total() {
            return;
        }
        c.sent += 1;
        let (ns, sport) = (c.spec.ns, c.sport);
        let dst = (
            c.spec.dsts[(q % c.spec.dsts.len() as u64) as usize],
            c.spec.port,
        );
        let (more, interval, size) = (c.sent < c.total(), c.spec.interval, c.spec.size);
        if more {
            self.engine.schedule_in(interval, Event::UdpSend { app });
        }
        let mut d = crate::stack::udp::udp_buf(size);
        d.resize(crate::wire::udp::HEADER_LEN + size, 0);
        if self.udp_sendmsg(ns, sport, dst, d).is_err() {
            if let UdpApp::Client(c) = &mut self.udp_apps[app] {
                c.send_errors += 1;
            }
        }
    }

    /// A datagram read by application `app`; true when it is a server that echoes it.
    pub(crate) fn udp_app_recv(&mut self, app: usize) -> bool {
        match &mut self.udp_apps[app] {
            UdpApp::EchoServer(s) => {
                s.received += 1;
                true
            }
            UdpApp::Client(c) => {
                c.replies += 1;
                false
            }
        }
    }

    /// A server sends a datagram back to `to` (`sendto` on its wildcard-bound socket): `d`
    /// holds room for the UDP header, then the payload it read.
    pub(crate) fn udp_app_echo(&mut self, app: usize, to: (Ipv4Addr, u16), d: Vec<u8>) {
        let UdpApp::EchoServer(s) = &self.udp_apps[app] else {
            return;
        };
        let (ns, port) = (s.ns, s.port);
        if self.udp_sendmsg(ns, port, to, d).is_err() {
            if let UdpApp::EchoServer(s) = &mut self.udp_apps[app] {
                s.send_errors += 1;
            }
        }
    }

    /// The UDP applications' counts, summed.
    pub fn udp_totals(&self) -> UdpTotals {
        let mut t = UdpTotals::default();
        for a in &self.udp_apps {
            match a {
                UdpApp::EchoServer(s) => {
                    t.echoed += s.received;
                    t.send_errors += s.send_errors;
                }
                UdpApp::Client(c) => {
                    t.requests += c.sent;
                    t.replies += c.replies;
                    t.send_errors += c.send_errors;
                }
            }
        }
        t
    }
}
