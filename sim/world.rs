//! The simulated world: every netns, device, segment and application, the event queue, and
//! the dispatch of events to the stack. Devices' transmit decisions are applied here.

use crate::app::ping::Ping;
use crate::cow::CowVec;
use crate::dev::bridge::Bridge;
use crate::dev::segment::Segment;
use crate::dev::vxlan::Vxlan;
use crate::dev::{DevId, DevKind, Device, NsId};
use crate::drop::DropReason;
use crate::engine::{BudgetExhausted, Engine};
use crate::iproute::Command;
use crate::netns::Netns;
use crate::packet::{FlowTag, Pkt};
use crate::time::{Duration, Instant};
use crate::trace::journal::{Cause, Step, StepKind};
use crate::trace::{CaptureIface, CapturedPacket, Direction, DropRecord, LinkType, Place};
use crate::wire::ethernet::{EthRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use std::net::Ipv4Addr;

/// Something that happens at a virtual time.
#[derive(Clone, Debug)]
pub enum Event {
    /// A frame arrives on a device from its wire.
    Rx { dev: DevId, pkt: Pkt },
    /// A flooded frame's copies arrive on every other port of a segment at once, in port
    /// order: the same order as one `Rx` each, since the copies took consecutive places in
    /// the queue and nothing can come between them.
    RxFlood { frames: Vec<(DevId, Pkt)> },
    /// A neighbour entry's timer fires (ignored if `gen` is stale).
    NeighTimer { dev: DevId, ip: Ipv4Addr, gen: u64 },
    /// A delayed proxy ARP reply (`pneigh_enqueue`, R6.3) is sent.
    ProxyReply { dev: DevId, pkt: Pkt },
    /// A ping sends its next echo request.
    PingSend { app: usize },
    /// A ping mesh sends its next request.
    PingMeshSend { app: usize },
    /// A UDP client sends its next request.
    UdpSend { app: usize },
    /// A ping has waited long enough after its last request and prints its summary.
    PingFinish { app: usize },
    /// A scheduled configuration change is applied.
    Change { idx: usize },
    /// A reassembly queue's timer (`ip_expire`, 30 s after its first fragment).
    FragTimer {
        ns: NsId,
        key: crate::netns::frag::FragKey,
    },
    /// A conntrack reassembly queue's timer (`nf_defrag_ipv4`'s `ip_expire`).
    CtFragTimer {
        ns: NsId,
        key: crate::netns::frag::FragKey,
    },
}

/// A configuration change at a virtual time: a command run in a netns.
#[derive(Clone, Debug)]
pub struct Change {
    pub at: Instant,
    pub ns: NsId,
    pub cmd: Command,
    pub text: String,
}

/// Whether the L2 destination of a received frame was us (`skb->pkt_type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PktType {
    Host,
    Broadcast,
    Multicast,
    Otherhost,
}

/// `eth_type_trans()`: what a destination MAC is to a device with MAC `mac`.
pub fn pkt_type_for(dst: &[u8; 6], mac: &[u8; 6]) -> PktType {
    if dst == mac {
        PktType::Host
    } else if *dst == crate::wire::ethernet::BROADCAST {
        PktType::Broadcast
    } else if crate::wire::ethernet::is_multicast(dst) {
        PktType::Multicast
    } else {
        PktType::Otherhost
    }
}

/// A line of the run's log: configuration changes and errors applying them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LogLine {
    pub ts: Instant,
    pub ns: String,
    pub text: String,
}

/// What every interface captured and every packet's fate.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Shared by forks of a world (`sim check`): captures are set up at build time only.
    pub ifaces: std::sync::Arc<Vec<CaptureIface>>,
    pub packets: Vec<CapturedPacket>,
    pub drops: Vec<(DropRecord, Option<FlowTag>)>,
    pub log: Vec<LogLine>,
    pub created: u64,
    pub delivered: u64,
    pub dropped: u64,
    /// Record no captured packets (drops are still recorded): `sim check` needs no pcaps, and
    /// copying every frame of every pair would cost more than simulating it. Captured devices
    /// stay configured, so a bridge stays promiscuous as under tcpdump.
    pub packets_off: bool,
    /// Ids of the packets created and not yet delivered or dropped: the conservation ledger.
    pub live: crate::trace::ledger::LiveSet,
    /// Ids that were delivered or dropped while not live (a packet ending twice): always empty
    /// unless the simulator has a bug.
    pub ended_twice: Vec<u64>,
    /// Every packet's journey step by step (`sim explain`, pcapng comments, plots); None
    /// (the default) records nothing, and each hook costs one branch.
    pub journal: Option<crate::trace::journal::Journal>,
}

/// The whole simulation. A clone is an independent fork at the same virtual time (`sim check`
/// pings each pair in its own fork of one built world).
#[derive(Clone)]
pub struct World {
    pub engine: Engine<Event>,
    pub ns: CowVec<Netns>,
    pub devs: CowVec<Device>,
    pub segments: Vec<Segment>,
    pub bridges: Vec<Bridge>,
    pub vxlans: Vec<Vxlan>,
    pub pings: Vec<Ping>,
    pub udp_apps: Vec<crate::app::udp_echo::UdpApp>,
    pub ping_meshes: Vec<crate::app::ping_mesh::PingMesh>,
    pub changes: Vec<Change>,
    pub trace: Trace,
    /// Lookups already made, valid while the tables they read are unchanged.
    pub fib_cache: crate::netns::fib::FibCache,
    next_pkt_id: u64,
    /// netns by name (shared by forks: netns are only added while building).
    ns_names: std::sync::Arc<rustc_hash::FxHashMap<String, NsId>>,
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            engine: Engine::new(seed),
            ns: CowVec::new(),
            devs: CowVec::new(),
            segments: Vec::new(),
            bridges: Vec::new(),
            vxlans: Vec::new(),
            pings: Vec::new(),
            udp_apps: Vec::new(),
            ping_meshes: Vec::new(),
            changes: Vec::new(),
            trace: Trace::default(),
            fib_cache: Default::default(),
            next_pkt_id: 1,
            ns_names: Default::default(),
        }
    }

    pub fn now(&self) -> Instant {
        self.engine.now()
    }

    /// A new packet enters the world (sent by an application or the stack itself).
    pub fn new_pkt(&mut self, tag: Option<FlowTag>, data: Vec<u8>) -> Pkt {
        let id = self.next_pkt_id;
        self.next_pkt_id += 1;
        self.trace.created += 1;
        self.trace.live.insert(id);
        Pkt {
            id,
            tag,
            data,
            ct: None,
            frag_max_size: 0,
        }
    }

    /// The journey id of the newest packet (0 before any).
    pub fn last_pkt_id(&self) -> u64 {
        self.next_pkt_id - 1
    }

    /// Records every packet's journey from now on (see `trace::journal`).
    pub fn enable_journal(&mut self) {
        self.trace.journal.get_or_insert_with(Default::default);
    }

    /// True when journeys are recorded: callers that must compute something only for the
    /// journal (a reverse route, a route line) check this first.
    #[inline]
    pub fn journal_on(&self) -> bool {
        self.trace.journal.is_some()
    }

    /// Records a step of packet `pkt`'s journey at `dev`, when the journal is on.
    #[inline]
    pub fn note(&mut self, pkt: u64, dev: DevId, kind: StepKind) {
        if let Some(j) = self.trace.journal.as_mut() {
            j.last_dev.insert(pkt, dev);
            j.steps.push(Step {
                ts: self.engine.now(),
                pkt,
                dev,
                kind,
            });
        }
    }

    /// Records that `parent` caused `child` (at `dev`), when the journal is on.
    #[inline]
    pub fn note_caused(&mut self, parent: u64, dev: DevId, child: u64, cause: Cause) {
        self.note(parent, dev, StepKind::Caused { child, cause });
    }

    /// A packet's journey ends in delivery (to a socket or the stack's own handlers). The
    /// journal names no device for a delivery: the previous step of the packet says where.
    pub fn deliver(&mut self, pkt: Pkt) {
        if self.journal_on() {
            let dev = self.last_dev(pkt.id).unwrap_or(0);
            self.note(pkt.id, dev, StepKind::Deliver);
        }
        self.trace.delivered += 1;
        self.end(pkt.id);
    }

    /// Takes a packet off the ledger when its journey ends.
    fn end(&mut self, id: u64) {
        if let Some(j) = self.trace.journal.as_mut() {
            j.last_dev.remove(&id);
        }
        if !self.trace.live.remove(id) {
            self.trace.ended_twice.push(id);
        }
    }

    /// A packet's journey ends in a drop at `dev`, for `reason`.
    pub fn drop_pkt(&mut self, dev: DevId, pkt: Pkt, reason: DropReason) {
        let d = &self.devs[dev];
        let place = Place {
            netns: self.ns[d.ns].name.clone(),
            dev: d.name.clone(),
        };
        // Past the link layer, `data` is an IP packet; a valid IPv4 header tells them apart.
        let is_ip =
            !d.has_ethernet_header() || crate::wire::ipv4::Ipv4Repr::parse(&pkt.data).is_ok();
        let summary = crate::stack::summary::summarize(&pkt.data, !is_ip);
        self.trace.dropped += 1;
        self.note(pkt.id, dev, StepKind::Drop { reason });
        self.end(pkt.id);
        self.trace.drops.push((
            DropRecord {
                ts: self.now(),
                place,
                reason,
                summary,
            },
            pkt.tag,
        ));
    }

    /// Records what tcpdump on `dev` would see of `pkt` now.
    #[inline(always)]
    pub fn capture(&mut self, dev: DevId, dir: Direction, pkt: &Pkt) {
        // Only a captured device records anything, in the journal or the trace.
        if let Some(iface) = self.devs[dev].capture {
            self.capture_on(iface, dev, dir, pkt);
        }
    }

    fn capture_on(&mut self, iface: usize, dev: DevId, dir: Direction, pkt: &Pkt) {
        if self.journal_on() {
            let idx = (!self.trace.packets_off).then_some(self.trace.packets.len());
            self.note(pkt.id, dev, StepKind::Capture { dir, idx });
        }
        if self.trace.packets_off {
            return;
        }
        self.trace.packets.push(CapturedPacket {
            iface,
            ts: self.now(),
            dir,
            data: pkt.data.to_vec(),
        });
    }

    /// The device of packet `id`'s latest journal step.
    fn last_dev(&self, id: u64) -> Option<DevId> {
        self.trace.journal.as_ref()?.last_dev.get(&id).copied()
    }

    /// Turns on capture for a device.
    pub fn enable_capture(&mut self, dev: DevId) {
        if self.devs[dev].capture.is_some() {
            return;
        }
        let d = &self.devs[dev];
        let link_type = if d.has_ethernet_header() {
            LinkType::Ethernet
        } else {
            LinkType::Raw
        };
        std::sync::Arc::make_mut(&mut self.trace.ifaces).push(CaptureIface {
            name: format!("{}/{}", self.ns[d.ns].name, d.name),
            link_type,
            snaplen: 262_144,
        });
        self.devs[dev].capture = Some(self.trace.ifaces.len() - 1);
        // tcpdump puts the device in promiscuous mode; a promiscuous bridge passes every
        // frame up, which is why a capture on cni0 shows pod-to-pod traffic.
        if let DevKind::Bridge { idx } = self.devs[dev].kind {
            self.bridges[idx].promisc = true;
        }
    }

    /// Carrier (LOWER_UP): up, and for a veth, its peer up too; a bridge has carrier while
    /// one of its ports has (R8.5).
    pub fn carrier(&self, dev: DevId) -> bool {
        let d = &self.devs[dev];
        d.admin_up
            && match d.kind {
                DevKind::Veth { peer } => self.devs[peer].admin_up,
                DevKind::Bridge { idx } => {
                    self.bridges[idx].ports.iter().any(|p| self.carrier(p.dev))
                }
                _ => true,
            }
    }

    /// Copies of a packet for `n` (at least one) destinations: `n - 1` new packets, then the
    /// original (a flood clones the skb; each clone is a packet of its own).
    pub fn fan_out(&mut self, pkt: Pkt, n: usize) -> Vec<Pkt> {
        let mut v = Vec::with_capacity(n.max(1));
        for _ in 1..n {
            let (tag, data) = (pkt.tag, pkt.data.clone());
            let copy = self.new_pkt(tag, data);
            if self.journal_on() {
                let dev = self.last_dev(pkt.id).unwrap_or(0);
                self.note_caused(pkt.id, dev, copy.id, Cause::Copy);
            }
            v.push(copy);
        }
        v.push(pkt);
        v
    }

    /// Finds a device by name in a netns.
    pub fn dev_by_name(&self, ns: NsId, name: &str) -> Option<DevId> {
        self.ns[ns]
            .devs
            .iter()
            .copied()
            .find(|&d| self.devs[d].name == name)
    }

    /// Makes clones share netns and devices until written: call before forking a world many
    /// times (`sim check`); a single run is faster unshared.
    pub fn share(&mut self) {
        self.ns.share();
        self.devs.share();
    }

    pub fn ns_by_name(&self, name: &str) -> Option<NsId> {
        self.ns_names.get(name).copied()
    }

    /// Records a new netns's name (the first of a name wins, as a linear search would).
    pub(crate) fn index_ns_name(&mut self, name: &str, ns: NsId) {
        std::sync::Arc::make_mut(&mut self.ns_names)
            .entry(name.to_string())
            .or_insert(ns);
    }

    /// Gives every link delay (veths, segments) an event lane: frames are most of the events.
    pub fn add_link_lanes(&mut self) {
        let delays: Vec<Duration> = (self.devs.iter().map(|d| d.delay))
            .chain(self.segments.iter().map(|s| s.delay))
            .collect();
        for d in delays {
            self.engine.add_lane(d);
        }
    }

    /// Transmits a whole frame on `dev` onto its wire (`dev_queue_xmit` after the neighbour
    /// layer): the capture sees it, then the device decides where it goes.
    pub fn dev_xmit(&mut self, dev: DevId, pkt: Pkt) {
        if !self.devs[dev].admin_up {
            return self.drop_pkt(dev, pkt, DropReason::DevReady);
        }
        self.capture(dev, Direction::Out, &pkt);
        self.devs[dev].stats.tx_packets += 1;
        let delay = self.devs[dev].delay;
        match self.devs[dev].kind {
            DevKind::Veth { peer } => match crate::dev::veth_xmit(pkt.data.len(), &self.devs[peer])
            {
                Ok(()) => self.engine.schedule_in(delay, Event::Rx { dev: peer, pkt }),
                Err(reason) => {
                    self.devs[dev].stats.tx_dropped += 1;
                    self.devs[peer].stats.rx_dropped += 1;
                    self.drop_pkt(dev, pkt, reason)
                }
            },
            DevKind::Nic { segment } => {
                let Some(eth) = EthRepr::parse(&pkt.data) else {
                    return self.drop_pkt(dev, pkt, DropReason::PktTooSmall);
                };
                let seg = &mut self.segments[segment];
                let delay = seg.delay;
                let outs = seg.forward(dev, eth.src, eth.dst);
                if outs.is_empty() {
                    return self.drop_pkt(dev, pkt, DropReason::NoLink);
                }
                if let [port] = outs[..] {
                    self.engine.schedule_in(delay, Event::Rx { dev: port, pkt });
                    return;
                }
                let copies = self.fan_out(pkt, outs.len());
                let frames = outs.into_iter().zip(copies).collect();
                self.engine.schedule_in(delay, Event::RxFlood { frames });
            }
            DevKind::Bridge { .. } => self.br_dev_xmit(dev, pkt),
            DevKind::Vxlan { .. } => self.vxlan_xmit(dev, pkt),
            DevKind::Loopback => {
                self.engine
                    .schedule_in(Duration::ZERO, Event::Rx { dev, pkt });
            }
            DevKind::Ipip => {
                // tunl0 has no wire: the stack encapsulates before reaching here.
                self.drop_pkt(dev, pkt, DropReason::NotSpecified)
            }
        }
    }

    /// Schedules `data` to arrive on `dev` at `at` as if from its wire: a whole frame on an
    /// Ethernet device, an IP packet on tunl0 (as `ipip_rcv` hands it over). For tests and
    /// fuzzing; the packet is created now and ends delivered or dropped like any other.
    /// Returns its id, or None if there is no such device.
    pub fn inject_rx(&mut self, dev: DevId, data: Vec<u8>, at: Instant) -> Option<u64> {
        if dev >= self.devs.len() {
            return None;
        }
        let pkt = self.new_pkt(None, data);
        let id = pkt.id;
        self.engine.schedule_at(at, Event::Rx { dev, pkt });
        Some(id)
    }

    /// A frame arrives on `dev` from its wire: capture, count, then the bridge takes it if
    /// `dev` is a port (`br_handle_frame` as rx_handler), else the stack does.
    #[inline]
    fn dev_rx(&mut self, dev: DevId, pkt: Pkt) {
        if !self.devs[dev].admin_up {
            self.devs[dev].stats.rx_dropped += 1;
            return self.drop_pkt(dev, pkt, DropReason::DevReady);
        }
        if !matches!(self.devs[dev].kind, DevKind::Loopback) {
            self.capture(dev, Direction::In, &pkt);
        }
        self.devs[dev].stats.rx_packets += 1;
        if !self.devs[dev].has_ethernet_header() {
            // tunl0 has no link-layer header: what arrives on it is an IP packet.
            return self.ip_rcv(dev, PktType::Host, pkt);
        }
        if let Some(br) = self.devs[dev].master {
            return self.br_handle_frame(br, dev, pkt);
        }
        self.netif_receive(dev, None, pkt)
    }

    /// `__netif_receive_skb` past the taps: classify (`eth_type_trans`, unless the caller
    /// already did) and hand to ARP or IPv4.
    #[inline]
    pub fn netif_receive(&mut self, dev: DevId, pkt_type: Option<PktType>, pkt: Pkt) {
        let Some(eth) = EthRepr::parse(&pkt.data) else {
            return self.drop_pkt(dev, pkt, DropReason::PktTooSmall);
        };
        let pkt_type = pkt_type.unwrap_or_else(|| pkt_type_for(&eth.dst, &self.devs[dev].mac));
        match eth.ethertype {
            ETHERTYPE_ARP => self.arp_rcv(dev, pkt_type, pkt),
            ETHERTYPE_IPV4 => {
                let mut pkt = pkt;
                pkt.data.drain(..crate::wire::ethernet::HEADER_LEN);
                self.ip_rcv(dev, pkt_type, pkt)
            }
            _ => self.drop_pkt(dev, pkt, DropReason::UnhandledProto),
        }
    }

    /// Runs events until the queue is empty or `until` is passed.
    pub fn run(&mut self, until: Option<Instant>) -> Result<(), BudgetExhausted> {
        self.run_while(until, |_| true)
    }

    /// Runs events as `run` does, and also stops as soon as `go_on` says false after an
    /// event (`sim check` stops a pair's world once its ping has finished).
    pub fn run_while(
        &mut self,
        until: Option<Instant>,
        mut go_on: impl FnMut(&World) -> bool,
    ) -> Result<(), BudgetExhausted> {
        loop {
            if !go_on(self) {
                return Ok(());
            }
            if let (Some(u), Some(t)) = (until, self.engine.peek_time()) {
                if t > u {
                    return Ok(());
                }
            }
            let Some(ev) = self.engine.pop()? else {
                return Ok(());
            };
            self.handle(ev);
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Rx { dev, pkt } => self.dev_rx(dev, pkt),
            Event::RxFlood { frames } => {
                for (dev, pkt) in frames {
                    self.dev_rx(dev, pkt);
                }
            }
            Event::NeighTimer { dev, ip, gen } => self.neigh_timer(dev, ip, gen),
            Event::ProxyReply { dev, pkt } => self.dev_xmit(dev, pkt),
            Event::PingSend { app } => self.ping_send(app),
            Event::PingFinish { app } => self.ping_finish(app),
            Event::UdpSend { app } => self.udp_client_send(app),
            Event::PingMeshSend { app } => self.ping_mesh_send(app),
            Event::Change { idx } => self.apply_change(idx),
            Event::FragTimer { ns, key } => self.ip_expire(ns, key),
            Event::CtFragTimer { ns, key } => self.nf_defrag_expire(ns, key),
        }
    }

    fn apply_change(&mut self, idx: usize) {
        let Some(c) = self.changes.get(idx).cloned() else {
            return;
        };
        let result = self.apply_command(c.ns, &c.cmd);
        let text = match result {
            Ok(()) => c.text.clone(),
            Err(e) => format!("{}: {}", c.text, e),
        };
        self.trace.log.push(LogLine {
            ts: self.now(),
            ns: self.ns[c.ns].name.clone(),
            text,
        });
    }

    /// Packets still queued somewhere (neighbour queues, events) at the end of a run.
    pub fn in_flight(&self) -> u64 {
        let queued: usize = self
            .ns
            .iter()
            .flat_map(|n| n.neigh.entries.values())
            .map(|e| e.queue.len())
            .sum::<usize>()
            + self.ns.iter().map(|n| n.frag.held()).sum::<usize>()
            + self.ns.iter().map(|n| n.nf.frag.held()).sum::<usize>();
        let events: usize = self
            .engine
            .pending()
            .map(|e| match e {
                Event::Rx { .. } | Event::ProxyReply { .. } => 1,
                Event::RxFlood { frames } => frames.len(),
                _ => 0,
            })
            .sum();
        (queued + events) as u64
    }
}
