//! IPv4 receive (`ip_rcv`), input routing (`ip_route_input_slow`), forwarding (`ip_forward`),
//! local delivery and output (`ip_finish_output2` up to the neighbour layer).

use super::route::SourceError;
use crate::dev::{DevId, DevKind, NsId};
use crate::drop::DropReason;
use crate::netns::fib::{Flow, RouteType};
use crate::netns::nstat::Nstat;
use crate::packet::Pkt;
use crate::trace::journal::{Cause, StepKind};
use crate::wire::icmp;
use crate::wire::ipv4::{self, Ipv4Error, Ipv4Repr};
use crate::world::{PktType, World};
use std::net::Ipv4Addr;

impl World {
    /// `ip_rcv()` on `dev`; `pkt.data` is the IP packet (link header removed).
    pub fn ip_rcv(&mut self, dev: DevId, pkt_type: PktType, mut pkt: Pkt) {
        let ns = self.devs[dev].ns;
        if pkt_type == PktType::Otherhost {
            return self.drop_pkt(dev, pkt, DropReason::Otherhost);
        }
        self.ns[ns].count(Nstat::IpInReceives);
        let ip = match Ipv4Repr::parse(&pkt.data) {
            Ok(ip) => ip,
            Err(e) => {
                let reason = match e {
                    Ipv4Error::Truncated => DropReason::PktTooSmall,
                    Ipv4Error::BadHeader => {
                        self.ns[ns].count(Nstat::IpInHdrErrors);
                        DropReason::IpInhdr
                    }
                    Ipv4Error::BadChecksum => {
                        self.ns[ns].count(Nstat::IpInCsumErrors);
                        DropReason::IpCsum
                    }
                };
                return self.drop_pkt(dev, pkt, reason);
            }
        };
        // Trailing bytes beyond tot_len (Ethernet padding) are trimmed (`pskb_trim_rcsum`).
        pkt.data.truncate(usize::from(ip.total_len));
        // A packet from a wire or a tunnel had its conntrack reset (`skb_scrub_packet`); one
        // looped back keeps it.
        if !matches!(self.devs[dev].kind, DevKind::Loopback) {
            pkt.ct = None;
            pkt.frag_max_size = 0;
        }
        if !self.ns[ns].nf.tracking() {
            return self.ip_route_input(dev, pkt_type, ip, pkt);
        }
        let Some(pkt) = self.nf_pre_routing(dev, pkt) else {
            return;
        };
        // NAT may have rewritten the destination: route what is there now.
        let Ok(ip) = Ipv4Repr::parse(&pkt.data) else {
            return self.drop_pkt(dev, pkt, DropReason::IpInhdr);
        };
        self.ip_route_input(dev, pkt_type, ip, pkt);
    }

    /// `ip_route_input_slow()` and what follows it.
    #[inline]
    fn ip_route_input(&mut self, dev: DevId, pkt_type: PktType, ip: Ipv4Repr, pkt: Pkt) {
        let ns = self.devs[dev].ns;
        let is_lo = matches!(self.devs[dev].kind, DevKind::Loopback);
        // Martian sources: multicast, limited broadcast, or 0 (`ip_route_input_slow`).
        if ip.src.is_multicast()
            || ip.src.is_broadcast()
            || ip.src.is_unspecified() && !ip.dst.is_broadcast()
        {
            return self.drop_pkt(dev, pkt, DropReason::IpInvalidSource);
        }
        if ip.dst.is_broadcast() {
            return self.ip_local_deliver(dev, pkt_type, ip, pkt, true);
        }
        let flow = Flow {
            daddr: ip.dst,
            tos: ip.tos,
            ..Flow::default()
        };
        let res = self.fib_lookup(ns, &flow);
        if self.journal_on() {
            let route = res;
            self.note(pkt.id, dev, StepKind::RouteIn { dst: ip.dst, route });
        }
        let forwarding = self.devs[dev].conf.forwarding;
        match res {
            Some(r) if r.rtype == RouteType::Local || r.rtype == RouteType::Broadcast => {
                if !is_lo {
                    let v = self.validate_source(ns, ip.src, dev, None);
                    if self.journal_on() {
                        self.note_rp_filter(pkt.id, ns, ip.src, dev, v);
                    }
                    if let Err(e) = v {
                        return self.source_rejected(dev, e, pkt);
                    }
                }
                let bcast = r.rtype == RouteType::Broadcast;
                self.ip_local_deliver(dev, pkt_type, ip, pkt, bcast)
            }
            _ if !forwarding => {
                // R1.5: not for us and forwarding off on the input device: silent drop.
                self.ns[ns].count(Nstat::IpInAddrErrors);
                self.drop_pkt(dev, pkt, DropReason::IpInaddrerrors)
            }
            None => self.route_error(dev, pkt_type, ip, pkt, RouteType::Throw),
            // Error routes fail `fib_lookup` itself, so no reverse-path check runs for them.
            Some(r) if r.is_error_type() => self.route_error(dev, pkt_type, ip, pkt, r.rtype),
            Some(r) => {
                let Some(out) = r.dev.and_then(|i| self.dev_of(ns, i)) else {
                    return self.route_error(dev, pkt_type, ip, pkt, RouteType::Throw);
                };
                let v = self.validate_source(ns, ip.src, dev, Some(out));
                if self.journal_on() {
                    self.note_rp_filter(pkt.id, ns, ip.src, dev, v);
                }
                if let Err(e) = v {
                    return self.source_rejected(dev, e, pkt);
                }
                if pkt_type != PktType::Host {
                    // `ip_forward`: only frames L2-addressed to us are forwarded.
                    return self.drop_pkt(dev, pkt, DropReason::Otherhost);
                }
                let nexthop = r.gateway.unwrap_or(ip.dst);
                self.ip_forward(dev, ip, pkt, out, nexthop)
            }
        }
    }

    fn source_rejected(&mut self, dev: DevId, e: SourceError, pkt: Pkt) {
        let ns = self.devs[dev].ns;
        match e {
            SourceError::Rpfilter => {
                self.ns[ns].count(Nstat::TcpExtIPReversePathFilter);
                self.drop_pkt(dev, pkt, DropReason::IpRpfilter)
            }
            SourceError::Martian => self.drop_pkt(dev, pkt, DropReason::IpInvalidSource),
        }
    }

    /// `ip_error()`: no route or an error route while forwarding (R1.2 table, R1.6).
    fn route_error(
        &mut self,
        dev: DevId,
        pkt_type: PktType,
        ip: Ipv4Repr,
        pkt: Pkt,
        rtype: RouteType,
    ) {
        let ns = self.devs[dev].ns;
        // `ip_error()` names only the no-route case; the others are NOT_SPECIFIED there.
        let (code, reason) = match rtype {
            RouteType::Blackhole => (None, DropReason::NotSpecified),
            RouteType::Unreachable => (Some(icmp::HOST_UNREACH), DropReason::NotSpecified),
            RouteType::Prohibit => (Some(icmp::PKT_FILTERED), DropReason::NotSpecified),
            _ => {
                self.ns[ns].count(Nstat::IpExtInNoRoutes);
                (Some(icmp::NET_UNREACH), DropReason::IpInnoroutes)
            }
        };
        if let Some(code) = code {
            if self.ip_error_allow(ns, ip.src) {
                self.icmp_unreach(dev, pkt_type, &pkt, code);
            }
        }
        self.drop_pkt(dev, pkt, reason)
    }

    /// `ip_forward()` (R3.1).
    #[inline]
    fn ip_forward(
        &mut self,
        dev: DevId,
        ip: Ipv4Repr,
        mut pkt: Pkt,
        out: DevId,
        nexthop: Ipv4Addr,
    ) {
        let ns = self.devs[dev].ns;
        if ip.ttl <= 1 {
            self.note(pkt.id, dev, StepKind::Ttl { ttl: 0 });
            self.ns[ns].count(Nstat::IpInHdrErrors);
            self.icmp_send(dev, PktType::Host, &pkt, icmp::TIME_EXCEEDED, 0, [0; 4]);
            return self.drop_pkt(dev, pkt, DropReason::IpInhdr);
        }
        let mtu = self.devs[out].mtu;
        if ip.df && u32::from(ip.total_len) > mtu {
            self.ns[ns].count(Nstat::IpFragFails);
            self.icmp_frag_needed(dev, &pkt, mtu);
            return self.drop_pkt(dev, pkt, DropReason::PktTooBig);
        }
        ipv4::decrease_ttl(&mut pkt.data);
        self.note(pkt.id, dev, StepKind::Ttl { ttl: ip.ttl - 1 });
        self.ns[ns].count(Nstat::IpForwDatagrams);
        let mtu = self.devs[out].mtu;
        self.ip_output_mtu(ns, Some(dev), out, nexthop, pkt, mtu)
    }

    /// `ip_local_deliver()`: hand the packet to its protocol.
    fn ip_local_deliver(
        &mut self,
        dev: DevId,
        pkt_type: PktType,
        ip: Ipv4Repr,
        pkt: Pkt,
        bcast: bool,
    ) {
        let ns = self.devs[dev].ns;
        let (ip, pkt) = if ip.mf || ip.frag_off != 0 {
            match self.ip_defrag(dev, pkt) {
                Some(whole) => whole,
                None => return,
            }
        } else {
            (ip, pkt)
        };
        let (ip, pkt) = if self.ns[ns].nf.tracking() {
            let Some(pkt) = self.nf_local_in(dev, pkt) else {
                return;
            };
            // The INPUT hook may have rewritten the source (SNAT, or a reply's de-NAT).
            match Ipv4Repr::parse(&pkt.data) {
                Ok(i) => (i, pkt),
                Err(_) => return self.drop_pkt(dev, pkt, DropReason::IpInhdr),
            }
        } else {
            (ip, pkt)
        };
        self.ns[ns].count(Nstat::IpInDelivers);
        match ip.proto {
            ipv4::PROTO_ICMP => self.icmp_rcv(dev, pkt_type, ip, pkt, bcast),
            ipv4::PROTO_IPIP if !bcast => self.ipip_rcv(dev, pkt_type, ip, pkt),
            ipv4::PROTO_UDP => self.udp_rcv(dev, pkt_type, ip, pkt, bcast),
            _ => {
                if !bcast {
                    self.icmp_unreach(dev, pkt_type, &pkt, icmp::PROT_UNREACH);
                }
                self.drop_pkt(dev, pkt, DropReason::IpNoproto)
            }
        }
    }

    /// `ip_defrag()`: queues a fragment; returns the whole datagram when this one completed it.
    fn ip_defrag(&mut self, dev: DevId, pkt: Pkt) -> Option<(Ipv4Repr, Pkt)> {
        let ns = self.devs[dev].ns;
        let now = self.now();
        let d = self.ns[ns].frag.add(now, dev, pkt);
        for c in d.counters {
            self.ns[ns].count(c);
        }
        if let Some((key, at)) = d.timer {
            self.engine
                .schedule_at(at, crate::world::Event::FragTimer { ns, key });
        }
        for p in d.consumed {
            self.deliver(p);
        }
        for (p, reason) in d.dropped {
            self.drop_pkt(dev, p, reason);
        }
        let whole = d.complete?;
        match Ipv4Repr::parse(&whole.data) {
            Ok(ip) => Some((ip, whole)),
            Err(_) => {
                self.drop_pkt(dev, whole, DropReason::IpInhdr);
                None
            }
        }
    }

    /// `ip_expire()`: a reassembly queue timed out. If its first fragment came, the sender
    /// hears ICMP time exceeded (fragment reassembly time exceeded); every fragment is dropped.
    pub fn ip_expire(&mut self, ns: NsId, key: crate::netns::frag::FragKey) {
        let now = self.now();
        let Some(e) = self.ns[ns].frag.expire(now, key) else {
            return;
        };
        for c in e.counters {
            self.ns[ns].count(c);
        }
        let dev = e.iif.unwrap_or(self.ns[ns].devs[0]);
        if let Some(head) = e.head {
            self.icmp_send(dev, PktType::Host, &head, icmp::TIME_EXCEEDED, 1, [0; 4]);
            self.drop_pkt(dev, head, DropReason::FragReasmTimeout);
        }
        for p in e.rest {
            self.drop_pkt(dev, p, DropReason::FragReasmTimeout);
        }
    }

    /// `ip_local_out()` for a locally generated packet routed out of `out` toward `nexthop`:
    /// the OUTPUT hook (which re-routes it, `ip_route_me_harder`, if NAT changed its
    /// destination), then output with `mtu` (the device's when None).
    pub fn ip_local_out(
        &mut self,
        ns: NsId,
        out: DevId,
        nexthop: Ipv4Addr,
        mut pkt: Pkt,
        mtu: Option<u32>,
    ) {
        // A tunnel's outer packet starts with a clean IPCB (`iptunnel_xmit`).
        pkt.frag_max_size = 0;
        // `__ip_local_out` counts locally generated packets only (Linux 6.18; forwarded ones
        // are IpForwDatagrams), once before any fragmentation. Found by the oracle.
        self.ns[ns].count(Nstat::IpOutRequests);
        let (mut out, mut nexthop, mut mtu) = (out, nexthop, mtu);
        if !self.ns[ns].nf.tracking() {
            // All the OUTPUT hook does without conntrack; only NAT can change the destination.
            pkt.ct = None;
        } else {
            let before = Ipv4Repr::peek(&pkt.data).map(|(_, d, _)| d);
            let Some(p) = self.nf_local_out(ns, out, pkt) else {
                return;
            };
            pkt = p;
            if let Some((src, dst, _)) = Ipv4Repr::peek(&pkt.data).filter(|p| Some(p.1) != before) {
                match self.route_output(ns, dst, Some(src), None) {
                    Ok(rt) => (out, nexthop, mtu) = (rt.dev, rt.nexthop, None),
                    Err(_) => return self.drop_pkt(out, pkt, DropReason::NetfilterDrop),
                }
            }
        }
        let mtu = mtu.unwrap_or(self.devs[out].mtu);
        self.ip_output_mtu(ns, None, out, nexthop, pkt, mtu)
    }

    /// `ip_output()` with the route's MTU (a learnt path MTU for local senders): the
    /// POSTROUTING hook (source NAT), then fragmentation to the MTU if the packet does not fit
    /// (`ip_finish_output` -> `ip_fragment`), then tunnels encapsulate, lo loops back,
    /// Ethernet devices go through the neighbour layer. `in_dev` is the input device of a
    /// forwarded packet.
    fn ip_output_mtu(
        &mut self,
        ns: NsId,
        in_dev: Option<DevId>,
        out: DevId,
        nexthop: Ipv4Addr,
        pkt: Pkt,
        mtu: u32,
    ) {
        let Some(pkt) = self.nf_post_routing(ns, in_dev, out, nexthop, pkt) else {
            return;
        };
        // A datagram conntrack reassembled leaves as fragments no larger than its largest
        // (`ip_do_fragment` with `frag_max_size`), even when it would fit whole.
        let frag_mtu = match pkt.frag_max_size {
            0 => mtu,
            m => mtu.min(m),
        };
        if pkt.data.len() > frag_mtu as usize && !matches!(self.devs[out].kind, DevKind::Loopback) {
            match ipv4::fragment(&pkt.data, frag_mtu) {
                Ok(frags) => {
                    self.ns[ns].count(Nstat::IpFragOKs);
                    // The first fragment is the original packet; the others are new skbs
                    // carrying the same flow tag.
                    let tag = pkt.tag;
                    let first_id = pkt.id;
                    let mut pkt = Some(pkt);
                    for f in frags {
                        self.ns[ns].count(Nstat::IpFragCreates);
                        let p = match pkt.take() {
                            Some(mut p) => {
                                p.data = f;
                                p
                            }
                            None => {
                                let frag = self.new_pkt(tag, f);
                                self.note_caused(first_id, out, frag.id, Cause::Fragment);
                                frag
                            }
                        };
                        self.ip_finish_output(out, nexthop, p);
                    }
                    return;
                }
                Err(ipv4::FragError::DontFragment) => {
                    // `ip_fragment`: DF and too big for the device: the sender is told.
                    self.ns[ns].count(Nstat::IpFragFails);
                    self.icmp_frag_needed(out, &pkt, mtu);
                    return self.drop_pkt(out, pkt, DropReason::PktTooBig);
                }
                Err(_) => {
                    self.ns[ns].count(Nstat::IpFragFails);
                    return self.drop_pkt(out, pkt, DropReason::PktTooBig);
                }
            }
        }
        self.ip_finish_output(out, nexthop, pkt)
    }

    #[inline]
    fn ip_finish_output(&mut self, out: DevId, nexthop: Ipv4Addr, pkt: Pkt) {
        match self.devs[out].kind {
            DevKind::Ipip => self.ipip_xmit(out, nexthop, pkt),
            DevKind::Loopback => {
                self.capture(out, crate::trace::Direction::Out, &pkt);
                // Packets looped back keep their dst: no rp_filter, delivered as PACKET_HOST.
                self.ip_rcv(out, PktType::Host, pkt)
            }
            _ => self.neigh_output(out, nexthop, pkt),
        }
    }

    /// Sends a locally generated packet: route, pick the source, build the header, output.
    /// Returns the route error when there is no route (the caller reports it as errno).
    pub fn ip_send_local(
        &mut self,
        ns: NsId,
        daddr: Ipv4Addr,
        build: LocalSend,
        tag: Option<crate::packet::FlowTag>,
    ) -> Result<(), super::route::OutError> {
        let rt = self
            .route_output(ns, daddr, build.src, None)
            .inspect_err(|_| {
                self.ns[ns].count(Nstat::IpOutNoRoutes);
            })?;
        let now = self.now();
        let src = rt.src;
        let total = 20 + build.payload.len();
        // PMTUDISC_WANT sockets set DF only when the packet fits the route MTU (R11.2), which
        // a "fragmentation needed" may have lowered; then they fragment to it instead.
        let mtu = self.ns[ns].path_mtu(now, daddr, self.devs[rt.dev].mtu);
        let df = build.df_if_fits && (total as u32) <= mtu;
        let id = {
            let n = &mut self.ns[ns];
            n.ident
                .select(now, daddr, src, build.proto, &mut self.engine.rng)
        };
        let ttl = self.ns[ns].ip_default_ttl;
        let mut build = build;
        if build.proto == ipv4::PROTO_UDP {
            // `udp_send_skb`: the checksum covers the source the route just chose.
            crate::wire::udp::fill_checksum(&mut build.payload, src, daddr);
        }
        let data = ipv4::Ipv4Build {
            tos: build.tos,
            id,
            df,
            ttl,
            proto: build.proto,
            src,
            dst: daddr,
        }
        .packet_in(build.payload);
        let pkt = self.new_pkt(tag, data);
        self.note_route_out(pkt.id, &rt, daddr);
        self.ip_local_out(ns, rt.dev, rt.nexthop, pkt, Some(mtu));
        Ok(())
    }
}

/// What a local sender asks of the IP layer.
pub struct LocalSend {
    pub proto: u8,
    pub tos: u8,
    pub src: Option<Ipv4Addr>,
    /// DF when the packet fits the route MTU (IP_PMTUDISC_WANT); false: never DF.
    pub df_if_fits: bool,
    pub payload: Vec<u8>,
}
