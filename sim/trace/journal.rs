//! The journey journal: each decision the stack took about each packet (route matched,
//! neighbour state, rp_filter, encapsulation, bridge FDB, TTL, delivery or drop) and which
//! packets a packet caused (replies, ICMP errors, ARP requests, copies). Recorded only when
//! turned on (`World::enable_journal`); off, each hook costs one branch. Stores structured data
//! only: `sim::explain` and the pcapng comments format it after the run.

use super::Direction;
use crate::dev::DevId;
use crate::drop::DropReason;
use crate::netns::fib::Route;
use crate::netns::neigh::NudState;
use crate::time::Instant;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// One step of one packet's journey.
#[derive(Clone, Debug)]
pub struct Step {
    pub ts: Instant,
    /// Journey id (`Pkt::id`).
    pub pkt: u64,
    /// The device where it happened (its netns is the device's).
    pub dev: DevId,
    pub kind: StepKind,
}

/// The tunnel that encapsulated or decapsulated a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tunnel {
    Ipip,
    Vxlan { vni: u32 },
}

impl Tunnel {
    /// How pictures and comments name it.
    pub fn name(self) -> &'static str {
        match self {
            Tunnel::Ipip => "IPIP",
            Tunnel::Vxlan { .. } => "VXLAN",
        }
    }
}

/// Why a packet caused another.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cause {
    /// `icmp_echo()` answered an echo request.
    EchoReply,
    /// `__icmp_send()` about this packet.
    IcmpError { icmp_type: u8, code: u8 },
    /// The packet waits on an unresolved neighbour, and this ARP request asks for it.
    ArpRequest,
    /// An ARP reply for one of our own addresses.
    ArpReply,
    /// An ARP reply proxy ARP sent for another host's address.
    ProxyArpReply,
    /// A copy for one more port (bridge or switch flood, VXLAN head-end replication).
    Copy,
    /// A fragment of it (`ip_fragment`).
    Fragment,
}

/// What the reverse-path check concluded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RpVerdict {
    /// The source is accepted.
    Ok,
    /// -EXDEV: dropped with IP_RPFILTER.
    Rpfilter,
    /// -EINVAL: a martian source.
    Martian,
}

/// What happened at a step.
#[derive(Clone, Debug)]
pub enum StepKind {
    /// The capture on `dev` saw the packet; `idx` indexes `Trace::packets` when recorded.
    Capture { dir: Direction, idx: Option<usize> },
    /// A locally generated packet's output route (`ip_route_output_key`).
    RouteOut {
        dst: Ipv4Addr,
        src: Ipv4Addr,
        route: Route,
    },
    /// A received packet's input route (`ip_route_input_slow`); None: no route.
    RouteIn { dst: Ipv4Addr, route: Option<Route> },
    /// `fib_validate_source()`: the reverse lookup for `src` and the rp_filter values.
    RpFilter {
        src: Ipv4Addr,
        /// conf/all/rp_filter and conf/<dev>/rp_filter; the mode is their max.
        all: u8,
        dev_conf: u8,
        reverse: Option<Route>,
        verdict: RpVerdict,
    },
    /// `ip_forward()` decremented the TTL to `ttl` (0: it was 1 and expired).
    Ttl { ttl: u8 },
    /// The neighbour layer found `nexthop` in `state` (before this packet changed it).
    Neigh {
        nexthop: Ipv4Addr,
        state: NudState,
        lladdr: Option<[u8; 6]>,
    },
    /// A queued packet leaves because its neighbour was just resolved.
    NeighResolved { nexthop: Ipv4Addr, lladdr: [u8; 6] },
    /// An ARP request (this packet) for `target` was answered: by proxy ARP after
    /// `delay_ns`, or for one of our own addresses.
    ArpAnswer {
        target: Ipv4Addr,
        proxy: bool,
        delay_ns: u64,
    },
    /// Encapsulated: the packet now has outer headers `outer_src > outer_dst`.
    Encap {
        tunnel: Tunnel,
        outer_src: Ipv4Addr,
        outer_dst: Ipv4Addr,
    },
    /// Decapsulated onto tunnel device `into`.
    Decap {
        tunnel: Tunnel,
        outer_src: Ipv4Addr,
        outer_dst: Ipv4Addr,
        into: DevId,
    },
    /// A bridge's forwarding decision: to one known port, flooded to `ports` ports, and/or up
    /// to the bridge device itself.
    Fdb {
        dst: [u8; 6],
        port: Option<DevId>,
        flooded: u16,
        local: bool,
    },
    /// NAT rewrote the source (`src`: SNAT, MASQUERADE, or a reply's reverse DNAT) or the
    /// destination (a reply's de-NAT by conntrack, DNAT).
    Nat {
        src: bool,
        before: Ipv4Addr,
        after: Ipv4Addr,
    },
    /// The journey ended in delivery (a socket or the stack's own handler).
    Deliver,
    /// The journey ended in a drop.
    Drop { reason: DropReason },
    /// This packet caused packet `child`.
    Caused { child: u64, cause: Cause },
}

/// The steps of every packet, in the order they happened.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    pub steps: Vec<Step>,
    /// The device of each live packet's latest step: a delivery or a copy is noted there
    /// without a scan of the steps.
    pub(crate) last_dev: rustc_hash::FxHashMap<u64, crate::dev::DevId>,
}

impl Journal {
    /// Step indexes per journey id.
    pub fn by_packet(&self) -> BTreeMap<u64, Vec<usize>> {
        let mut m: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            m.entry(s.pkt).or_default().push(i);
        }
        m
    }

    /// The packet that caused `child`, and why.
    pub fn parent(&self, child: u64) -> Option<(u64, Cause)> {
        self.steps.iter().find_map(|s| match s.kind {
            StepKind::Caused { child: c, cause } if c == child => Some((s.pkt, cause)),
            _ => None,
        })
    }
}
