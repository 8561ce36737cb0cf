//! ARP (`arp_rcv`/`arp_process`, proxy ARP) and the neighbour layer (`neigh_resolve_output`,
//! `__neigh_event_send`, `neigh_update`, `neigh_timer_handler`), R5 and R6.

use crate::dev::DevId;
use crate::drop::DropReason;
use crate::netns::fib::{Flow, RouteType, RT_SCOPE_LINK};
use crate::netns::neigh::{NeighEntry, NudState, MCAST_SOLICIT, UCAST_SOLICIT, UNRES_QLEN};
use crate::packet::Pkt;
use crate::time::Duration;
use crate::trace::journal::{Cause, Step, StepKind};
use crate::wire::arp::{ArpError, ArpRepr, OP_REPLY, OP_REQUEST};
use crate::wire::ethernet::{EthRepr, BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use crate::wire::icmp;
use crate::world::{Event, PktType, World};
use rand::Rng;
use std::net::Ipv4Addr;

const RETRANS_TIME: Duration = Duration::from_secs(1);
const DELAY_FIRST_PROBE_TIME: Duration = Duration::from_secs(5);
/// `locktime`: within it a different MAC does not override (the first reply wins).
const LOCKTIME: Duration = Duration::from_secs(1);

impl World {
    /// Sends an IP packet to `nexthop` on an Ethernet device, resolving its MAC first.
    pub fn neigh_output(&mut self, dev: DevId, nexthop: Ipv4Addr, pkt: Pkt) {
        let ns = self.devs[dev].ns;
        let key = (dev, nexthop);
        // Whether the nexthop is a broadcast address depends on the local table alone: an
        // entry found unicast under the table's current version needs no lookup.
        let local_v = self.ns[ns].local.version();
        let known = (self.ns[ns].neigh.entries.get(&key)).is_some_and(|e| e.unicast_at == local_v);
        if !known {
            if nexthop.is_broadcast() || self.addr_type_cached(ns, nexthop) == RouteType::Broadcast
            {
                return self.eth_xmit(dev, BROADCAST, pkt);
            }
            if nexthop.is_multicast() {
                let o = nexthop.octets();
                return self.eth_xmit(dev, [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]], pkt);
            }
        }
        let now = self.now();
        let entry = self.ns[ns]
            .neigh
            .entries
            .entry(key)
            .or_insert_with(|| NeighEntry::new(NudState::None, None, now));
        entry.unicast_at = local_v;
        // The journal is pushed to directly: `entry` borrows the netns, not the trace.
        if let Some(j) = self.trace.journal.as_mut() {
            let (state, lladdr) = (entry.state, entry.lladdr);
            j.steps.push(Step {
                ts: now,
                pkt: pkt.id,
                dev,
                kind: StepKind::Neigh {
                    nexthop,
                    state,
                    lladdr,
                },
            });
        }
        match entry.state {
            NudState::Permanent
            | NudState::Noarp
            | NudState::Reachable
            | NudState::Delay
            | NudState::Probe => {
                let mac = entry.lladdr.unwrap_or(BROADCAST);
                self.eth_xmit(dev, mac, pkt)
            }
            NudState::Stale => {
                // First use of a STALE entry: DELAY, and a probe in 5 s unless confirmed.
                entry.state = NudState::Delay;
                entry.gen += 1;
                let gen = entry.gen;
                let mac = entry.lladdr.unwrap_or(BROADCAST);
                self.engine.schedule_in(
                    DELAY_FIRST_PROBE_TIME,
                    Event::NeighTimer {
                        dev,
                        ip: nexthop,
                        gen,
                    },
                );
                self.eth_xmit(dev, mac, pkt)
            }
            NudState::Incomplete => self.neigh_enqueue(dev, nexthop, pkt),
            NudState::None | NudState::Failed => {
                entry.state = NudState::Incomplete;
                entry.probes = UCAST_SOLICIT;
                entry.updated = now;
                entry.gen += 1;
                let gen = entry.gen;
                self.engine.schedule_in(
                    RETRANS_TIME,
                    Event::NeighTimer {
                        dev,
                        ip: nexthop,
                        gen,
                    },
                );
                self.neigh_enqueue(dev, nexthop, pkt);
                self.neigh_probe(dev, nexthop);
            }
        }
    }

    fn neigh_enqueue(&mut self, dev: DevId, ip: Ipv4Addr, pkt: Pkt) {
        let ns = self.devs[dev].ns;
        let Some(e) = self.ns[ns].neigh.entries.get_mut(&(dev, ip)) else {
            return self.drop_pkt(dev, pkt, DropReason::NotSpecified);
        };
        e.queue.push_back(pkt);
        if e.queue.len() > UNRES_QLEN {
            if let Some(old) = e.queue.pop_front() {
                self.drop_pkt(dev, old, DropReason::NeighQueuefull);
            }
        }
    }

    /// Adds the Ethernet header and transmits.
    #[inline]
    fn eth_xmit(&mut self, dev: DevId, dst: [u8; 6], pkt: Pkt) {
        let src = self.devs[dev].mac;
        let mut pkt = pkt;
        EthRepr {
            dst,
            src,
            ethertype: ETHERTYPE_IPV4,
        }
        .push_header(&mut pkt.data);
        self.dev_xmit(dev, pkt)
    }

    /// `neigh_probe()` + `arp_solicit()`: one ARP request, broadcast while resolving, unicast to
    /// the cached MAC while probing a known entry.
    fn neigh_probe(&mut self, dev: DevId, target: Ipv4Addr) {
        let ns = self.devs[dev].ns;
        let Some(e) = self.ns[ns].neigh.entries.get_mut(&(dev, target)) else {
            return;
        };
        // `arp_solicit` reads the count before `neigh_probe` increments it.
        let unicast = e.probes < UCAST_SOLICIT;
        e.probes += 1;
        let dst_hw = if unicast { e.lladdr } else { None };
        let last_src = e
            .queue
            .back()
            .and_then(|p| crate::wire::ipv4::Ipv4Repr::peek(&p.data))
            .map(|(s, _, _)| s);
        let waiting = e.queue.back().map(|p| p.id);
        // Sender IP (arp_announce=0): the queued packet's source if it is ours, else by scope link.
        let sip = match last_src {
            Some(s) if self.is_local_addr(ns, s) => Some(s),
            _ => None,
        }
        .or_else(|| self.select_addr(ns, dev, target, RT_SCOPE_LINK))
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mac = self.devs[dev].mac;
        let req = ArpRepr {
            op: OP_REQUEST,
            sha: mac,
            spa: sip,
            tha: [0; 6],
            tpa: target,
        };
        let cause = waiting.map(|w| (w, Cause::ArpRequest));
        self.arp_send(dev, dst_hw.unwrap_or(BROADCAST), req, cause);
    }

    /// Transmits one ARP packet (`arp_send_dst`) in a frame to `eth_dst`; `cause` is the
    /// packet it is sent for, for the journal.
    fn arp_send(
        &mut self,
        dev: DevId,
        eth_dst: [u8; 6],
        arp: ArpRepr,
        cause: Option<(u64, Cause)>,
    ) {
        let frame = self.arp_frame(dev, eth_dst, arp);
        let pkt = self.new_pkt(None, frame);
        if let Some((parent, why)) = cause {
            self.note_caused(parent, dev, pkt.id, why);
        }
        self.dev_xmit(dev, pkt)
    }

    fn arp_frame(&self, dev: DevId, eth_dst: [u8; 6], arp: ArpRepr) -> Vec<u8> {
        EthRepr {
            dst: eth_dst,
            src: self.devs[dev].mac,
            ethertype: ETHERTYPE_ARP,
        }
        .frame(&arp.emit())
    }

    /// `neigh_timer_handler()`.
    pub fn neigh_timer(&mut self, dev: DevId, ip: Ipv4Addr, gen: u64) {
        let ns = self.devs[dev].ns;
        let now = self.now();
        let reachable = self.devs[dev].reachable_time;
        let Some(e) = self.ns[ns].neigh.entries.get_mut(&(dev, ip)) else {
            return;
        };
        if e.gen != gen {
            return;
        }
        e.gen += 1;
        let gen = e.gen;
        match e.state {
            NudState::Reachable => {
                // No upper-layer confirmation (ping gives none): REACHABLE ages to STALE.
                if now < e.confirmed + reachable {
                    let at = e.confirmed + reachable;
                    self.engine
                        .schedule_at(at, Event::NeighTimer { dev, ip, gen });
                } else {
                    e.state = NudState::Stale;
                }
            }
            NudState::Delay => {
                if now <= e.confirmed + DELAY_FIRST_PROBE_TIME {
                    e.state = NudState::Reachable;
                    let at = e.confirmed + reachable;
                    self.engine
                        .schedule_at(at, Event::NeighTimer { dev, ip, gen });
                } else {
                    e.state = NudState::Probe;
                    e.probes = 0;
                    self.engine
                        .schedule_in(RETRANS_TIME, Event::NeighTimer { dev, ip, gen });
                    self.neigh_probe(dev, ip);
                }
            }
            NudState::Incomplete | NudState::Probe => {
                let max = if e.state == NudState::Incomplete {
                    UCAST_SOLICIT + MCAST_SOLICIT
                } else {
                    UCAST_SOLICIT
                };
                if e.probes >= max {
                    e.state = NudState::Failed;
                    e.updated = now;
                    let queued: Vec<Pkt> = e.queue.drain(..).collect();
                    self.neigh_invalidate(dev, queued);
                } else {
                    self.engine
                        .schedule_in(RETRANS_TIME, Event::NeighTimer { dev, ip, gen });
                    self.neigh_probe(dev, ip);
                }
            }
            _ => {}
        }
    }

    /// `neigh_invalidate()` -> `arp_error_report()`: every queued packet gets an ICMP host
    /// unreachable back to its source and is dropped (R5.3).
    fn neigh_invalidate(&mut self, dev: DevId, queued: Vec<Pkt>) {
        for pkt in queued {
            self.icmp_send(
                dev,
                PktType::Host,
                &pkt,
                icmp::DEST_UNREACH,
                icmp::HOST_UNREACH,
                [0; 4],
            );
            self.drop_pkt(dev, pkt, DropReason::NeighFailed);
        }
    }

    /// `neigh_update()` as ARP input calls it.
    fn neigh_update(
        &mut self,
        dev: DevId,
        ip: Ipv4Addr,
        lladdr: [u8; 6],
        new: NudState,
        override_: bool,
    ) {
        let ns = self.devs[dev].ns;
        let now = self.now();
        let reachable = self.devs[dev].reachable_time;
        let Some(e) = self.ns[ns].neigh.entries.get_mut(&(dev, ip)) else {
            return;
        };
        let old = e.state;
        if matches!(old, NudState::Permanent | NudState::Noarp) {
            return;
        }
        let mut new = new;
        let same = e.lladdr == Some(lladdr);
        if new == NudState::Reachable {
            e.confirmed = now;
        }
        if e.is_valid() {
            if !same && !override_ {
                return;
            }
            if same && new == NudState::Stale {
                new = old;
            }
        }
        if new != old || !same {
            e.updated = now;
        }
        e.lladdr = Some(lladdr);
        if new == old {
            return;
        }
        e.state = new;
        e.gen += 1;
        if new == NudState::Reachable {
            let gen = e.gen;
            self.engine
                .schedule_in(reachable, Event::NeighTimer { dev, ip, gen });
        }
        if matches!(
            old,
            NudState::Incomplete | NudState::Failed | NudState::None
        ) {
            let queued: Vec<Pkt> = e.queue.drain(..).collect();
            for pkt in queued {
                let kind = StepKind::NeighResolved {
                    nexthop: ip,
                    lladdr,
                };
                self.note(pkt.id, dev, kind);
                self.eth_xmit(dev, lladdr, pkt);
            }
        }
    }

    /// `neigh_event_ns()`: create or refresh the sender's entry as STALE.
    fn neigh_event_ns(&mut self, dev: DevId, ip: Ipv4Addr, lladdr: [u8; 6]) {
        let ns = self.devs[dev].ns;
        let now = self.now();
        self.ns[ns]
            .neigh
            .entries
            .entry((dev, ip))
            .or_insert_with(|| NeighEntry::new(NudState::None, None, now));
        self.neigh_update(dev, ip, lladdr, NudState::Stale, true);
    }

    /// `arp_rcv()` + `arp_process()`.
    pub fn arp_rcv(&mut self, dev: DevId, pkt_type: PktType, pkt: Pkt) {
        let ns = self.devs[dev].ns;
        if self.devs[dev].is_noarp() || pkt_type == PktType::Otherhost {
            // Consumed, not dropped (`consume_skb`): ARP for someone else on a shared segment.
            return self.deliver(pkt);
        }
        let arp = match ArpRepr::parse(&pkt.data[crate::wire::ethernet::HEADER_LEN..]) {
            Ok(a) => a,
            Err(ArpError::Truncated) => return self.drop_pkt(dev, pkt, DropReason::PktTooSmall),
            Err(ArpError::Unsupported) => return self.drop_pkt(dev, pkt, DropReason::NotSpecified),
        };
        let (sip, tip) = (arp.spa, arp.tpa);
        if tip.is_multicast() || (tip.is_loopback() && !self.devs[dev].conf.route_localnet) {
            return self.drop_pkt(dev, pkt, DropReason::NotSpecified);
        }
        let mac = self.devs[dev].mac;
        if arp.op == OP_REQUEST && sip.is_unspecified() {
            // Duplicate address detection: answer only for our own addresses.
            if self.is_local_addr(ns, tip) {
                let cause = Some((pkt.id, Cause::ArpReply));
                self.arp_send(dev, arp.sha, arp.reply(mac), cause);
            }
            return self.deliver(pkt);
        }
        if arp.op == OP_REQUEST {
            match self.arp_route_input(dev, tip, sip) {
                Some(RouteType::Local) => {
                    self.neigh_event_ns(dev, sip, arp.sha);
                    let answer = StepKind::ArpAnswer {
                        target: tip,
                        proxy: false,
                        delay_ns: 0,
                    };
                    self.note(pkt.id, dev, answer);
                    let cause = Some((pkt.id, Cause::ArpReply));
                    self.arp_send(dev, arp.sha, arp.reply(mac), cause);
                    return self.deliver(pkt);
                }
                Some(RouteType::Unicast)
                    if self.devs[dev].conf.proxy_arp || self.ns[ns].conf_all.proxy_arp =>
                {
                    self.neigh_event_ns(dev, sip, arp.sha);
                    let frame = self.arp_frame(dev, arp.sha, arp.reply(mac));
                    let delay = self.devs[dev].conf.proxy_delay;
                    let reply = self.new_pkt(None, frame);
                    let reply_id = reply.id;
                    if pkt_type == PktType::Host || delay == Duration::ZERO {
                        let answer = StepKind::ArpAnswer {
                            target: tip,
                            proxy: true,
                            delay_ns: 0,
                        };
                        self.note(pkt.id, dev, answer);
                        self.dev_xmit(dev, reply);
                    } else {
                        // `pneigh_enqueue`: answered after a random delay in [0, proxy_delay).
                        let d = self.engine.rng.gen_range(0..delay.as_ns());
                        let answer = StepKind::ArpAnswer {
                            target: tip,
                            proxy: true,
                            delay_ns: d,
                        };
                        self.note(pkt.id, dev, answer);
                        self.engine.schedule_in(
                            Duration::from_ns(d),
                            Event::ProxyReply { dev, pkt: reply },
                        );
                    }
                    self.note_caused(pkt.id, dev, reply_id, Cause::ProxyArpReply);
                    return self.deliver(pkt);
                }
                Some(_) if self.devs[dev].conf.forwarding => return self.deliver(pkt),
                _ => {}
            }
        }
        // Update our ARP tables: an existing entry only (arp_accept=0).
        let now = self.now();
        if let Some(e) = self.ns[ns].neigh.entries.get(&(dev, sip)) {
            let is_garp = arp.op == OP_REQUEST && tip == sip;
            let override_ = now > e.updated + LOCKTIME || is_garp;
            let state = if arp.op == OP_REPLY && pkt_type == PktType::Host {
                NudState::Reachable
            } else {
                NudState::Stale
            };
            self.neigh_update(dev, sip, arp.sha, state, override_);
        }
        self.deliver(pkt)
    }

    /// `ip_route_input_noref(skb, tip, sip, 0, dev)` for an ARP request: the route type it
    /// yields, or None where that route input fails or would refuse a proxy reply.
    fn arp_route_input(&mut self, dev: DevId, tip: Ipv4Addr, sip: Ipv4Addr) -> Option<RouteType> {
        let ns = self.devs[dev].ns;
        let flow = Flow {
            daddr: tip,
            ..Flow::default()
        };
        let r = self.fib_lookup(ns, &flow)?;
        match r.rtype {
            RouteType::Local => {
                self.validate_source(ns, sip, dev, None).ok()?;
                Some(RouteType::Local)
            }
            RouteType::Unicast => {
                if !self.devs[dev].conf.forwarding {
                    return None;
                }
                let out = r.dev.and_then(|i| self.dev_of(ns, i))?;
                // `__mkroute_input`: for non-IP skbs the route may not lead back out `dev`.
                if out == dev {
                    return None;
                }
                self.validate_source(ns, sip, dev, Some(out)).ok()?;
                Some(RouteType::Unicast)
            }
            t => Some(t),
        }
    }
}
