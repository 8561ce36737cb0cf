//! The netfilter hooks of the IPv4 path, as far as connection tracking and the nat table go
//! (`nf_conntrack_in`, `nf_nat_ipv4_fn`, `ipv4_confirm`): PREROUTING and OUTPUT track packets
//! and give replies to source-NATed connections their original destination back; POSTROUTING
//! and INPUT run the nat table for new connections (MASQUERADE, SNAT) and rewrite sources; ICMP
//! errors about NATed connections are translated (`nf_nat_icmp_reply_translation`). Rule
//! matching (`ipt_do_table`) lives here too, since it reads devices and routes. Only the netns
//! the packet is in is touched; in a netns without a nat table every hook is a no-op.

use crate::dev::{DevId, NsId};
use crate::drop::DropReason;
use crate::netns::fib::{Flow, RouteType, RT_SCOPE_UNIVERSE};
use crate::netns::nat::{
    Conn, CtInfo, Dir, Hook, Manip, Match, NatRange, Rule, SkbConn, SkbCt, Target, Tuple,
    CONNTRACK_MAX, IPS_NAT_DONE_MASK, IPS_NAT_MASK, IPS_SEEN_REPLY, JUMP_STACK_MAX, PROTO_ICMP,
    PROTO_TCP, PROTO_UDP, RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST, RTN_UNICAST,
};
use crate::packet::Pkt;
use crate::wire::icmp;
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::udp;
use crate::world::{PktType, World};
use std::net::Ipv4Addr;

/// What the nat table decided for a new connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    /// No NAT target matched (policy ACCEPT, or `-j ACCEPT`): a null binding follows.
    Accept,
    Masquerade {
        random_fully: bool,
    },
    Snat {
        to: Ipv4Addr,
        random_fully: bool,
    },
    /// Jumps nested deeper than the jump stack (`nft_do_chain`'s NF_DROP).
    Drop,
}

/// ICMP types that may start a connection (`valid_new` of the ICMP tracker).
fn icmp_valid_new(t: u8) -> bool {
    matches!(t, 8 | 13 | 15 | 17)
}

/// `nf_ct_get_tuple()` for an IPv4 header's addresses and protocol and the bytes after it:
/// None when the transport header is too short to read.
fn pkt_to_tuple(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Option<Tuple> {
    let (src_u, dst_u) = match proto {
        PROTO_ICMP => {
            let h = l4.get(..8)?;
            (
                u16::from_be_bytes([h[4], h[5]]),
                u16::from_be_bytes([h[0], h[1]]),
            )
        }
        PROTO_UDP | PROTO_TCP => {
            let h = l4.get(..4)?;
            (
                u16::from_be_bytes([h[0], h[1]]),
                u16::from_be_bytes([h[2], h[3]]),
            )
        }
        _ => (0, 0),
    };
    Some(Tuple {
        src,
        dst,
        proto,
        src_u,
        dst_u,
    })
}

/// `nf_nat_ipv4_manip_pkt()`: the IPv4 packet at `off` gets `target`'s source (`m` Src) or
/// destination address, and its transport header the matching port or ICMP id, every checksum
/// following incrementally. False when the headers are too short (NF_DROP).
fn manip_pkt(data: &mut [u8], off: usize, target: &Tuple, m: Manip) -> bool {
    let Some(&vihl) = data.get(off) else {
        return false;
    };
    let Some((src, dst, _)) = data.get(off..).and_then(Ipv4Repr::peek) else {
        return false;
    };
    let hdroff = off + usize::from(vihl & 0x0f) * 4;
    let (old, new) = match m {
        Manip::Src => (src, target.src),
        Manip::Dst => (dst, target.dst),
    };
    let l4 = data.get_mut(hdroff..).unwrap_or_default();
    let ok = match target.proto {
        PROTO_ICMP => icmp::nat_set_id(l4, target.src_u).is_some(),
        PROTO_UDP | PROTO_TCP => {
            let port = match m {
                Manip::Src => target.src_u,
                Manip::Dst => target.dst_u,
            };
            udp::nat_set_port(l4, target.proto, m == Manip::Src, port, old, new).is_some()
        }
        _ => true,
    };
    ok && ipv4::nat_set_addr(&mut data[off..], m == Manip::Src, new).is_some()
}

impl World {
    /// NF_INET_PRE_ROUTING on a packet received on `dev` (after `ip_rcv_core`): track it and
    /// undo source NAT on replies, so that rp_filter and routing see the original address.
    /// None if a hook dropped it.
    pub fn nf_pre_routing(&mut self, dev: DevId, mut pkt: Pkt) -> Option<Pkt> {
        let ns = self.devs[dev].ns;
        if !self.ns[ns].nf.tracking() {
            pkt.ct = None;
            return Some(pkt);
        }
        // A packet looped back keeps the connection it had ("previously seen").
        let looped = pkt.ct.as_ref().is_some_and(|c| c.ns == ns);
        let fragment = Ipv4Repr::parse(&pkt.data).is_ok_and(|ip| ip.mf || ip.frag_off != 0);
        if fragment && !looped {
            pkt = self.nf_defrag(dev, pkt)?;
        }
        let r = if looped {
            Ok(())
        } else {
            self.nf_conntrack_in(ns, Hook::PreRouting, &mut pkt)
        };
        let r = r.and_then(|()| self.nf_nat(ns, Hook::PreRouting, Some(dev), None, None, &mut pkt));
        match r {
            Ok(()) => Some(pkt),
            Err(reason) => {
                self.drop_pkt(dev, pkt, reason);
                None
            }
        }
    }

    /// NF_INET_LOCAL_IN on a packet about to be delivered on `dev`: source NAT by the INPUT
    /// chain for new connections, replies de-NATed, then the connection is confirmed.
    #[inline]
    pub fn nf_local_in(&mut self, dev: DevId, pkt: Pkt) -> Option<Pkt> {
        let ns = self.devs[dev].ns;
        if !self.ns[ns].nf.tracking() {
            return Some(pkt);
        }
        self.nf_local_in_tracked(ns, dev, pkt)
    }

    fn nf_local_in_tracked(&mut self, ns: NsId, dev: DevId, mut pkt: Pkt) -> Option<Pkt> {
        let r = self
            .nf_nat(ns, Hook::LocalIn, Some(dev), None, None, &mut pkt)
            .and_then(|()| self.nf_confirm(ns, &mut pkt));
        match r {
            Ok(()) => Some(pkt),
            Err(reason) => {
                self.drop_pkt(dev, pkt, reason);
                None
            }
        }
    }

    /// NF_INET_LOCAL_OUT on a locally generated packet routed out of `out`: a fresh conntrack
    /// lookup (tunnel outer headers, ICMP errors and replies included), then destination NAT
    /// (an ICMP error about a masqueraded connection is translated back to its source here).
    #[inline]
    pub fn nf_local_out(&mut self, ns: NsId, out: DevId, mut pkt: Pkt) -> Option<Pkt> {
        pkt.ct = None;
        if !self.ns[ns].nf.tracking() {
            return Some(pkt);
        }
        self.nf_local_out_tracked(ns, out, pkt)
    }

    fn nf_local_out_tracked(&mut self, ns: NsId, out: DevId, mut pkt: Pkt) -> Option<Pkt> {
        let r = self
            .nf_conntrack_in(ns, Hook::LocalOut, &mut pkt)
            .and_then(|()| self.nf_nat(ns, Hook::LocalOut, None, Some(out), None, &mut pkt));
        match r {
            Ok(()) => Some(pkt),
            Err(reason) => {
                self.drop_pkt(out, pkt, reason);
                None
            }
        }
    }

    /// NF_INET_POST_ROUTING on a packet leaving by `out` toward `nexthop` (forwarded ones came
    /// in on `in_dev`): the nat table decides new connections' source NAT (MASQUERADE uses
    /// `inet_select_addr(out, nexthop)`), the packet is rewritten, the connection confirmed.
    #[inline]
    pub fn nf_post_routing(
        &mut self,
        ns: NsId,
        in_dev: Option<DevId>,
        out: DevId,
        nexthop: Ipv4Addr,
        pkt: Pkt,
    ) -> Option<Pkt> {
        if !self.ns[ns].nf.tracking() {
            return Some(pkt);
        }
        self.nf_post_routing_tracked(ns, in_dev, out, nexthop, pkt)
    }

    fn nf_post_routing_tracked(
        &mut self,
        ns: NsId,
        in_dev: Option<DevId>,
        out: DevId,
        nexthop: Ipv4Addr,
        mut pkt: Pkt,
    ) -> Option<Pkt> {
        let r = self
            .nf_nat(
                ns,
                Hook::PostRouting,
                in_dev,
                Some(out),
                Some(nexthop),
                &mut pkt,
            )
            .and_then(|()| self.nf_confirm(ns, &mut pkt));
        match r {
            Ok(()) => Some(pkt),
            Err(reason) => {
                self.drop_pkt(out, pkt, reason);
                None
            }
        }
    }

    /// `ipv4_conntrack_defrag()` -> `ip_defrag(IP_DEFRAG_CONNTRACK_IN)`: conntrack needs whole
    /// datagrams, so fragments are queued (in queues apart from local delivery's) and the
    /// datagram goes on once complete, remembering its largest fragment, to which output
    /// fragments it again. None while it waits, or if the fragment was dropped.
    fn nf_defrag(&mut self, dev: DevId, pkt: Pkt) -> Option<Pkt> {
        let ns = self.devs[dev].ns;
        let now = self.now();
        let d = self.ns[ns].nf.frag.add(now, dev, pkt);
        for c in d.counters {
            self.ns[ns].count(c);
        }
        if let Some((key, at)) = d.timer {
            self.engine
                .schedule_at(at, crate::world::Event::CtFragTimer { ns, key });
        }
        for p in d.consumed {
            self.deliver(p);
        }
        for (p, reason) in d.dropped {
            self.drop_pkt(dev, p, reason);
        }
        let mut whole = d.complete?;
        whole.frag_max_size = d.frag_max_size;
        Some(whole)
    }

    /// `ip_expire()` on a conntrack reassembly queue: counted as any, and the ICMP time
    /// exceeded goes out only if the datagram was for this netns (`frag_expire_skip_icmp`:
    /// "only an end host needs to send" it).
    pub fn nf_defrag_expire(&mut self, ns: NsId, key: crate::netns::frag::FragKey) {
        let now = self.now();
        let Some(e) = self.ns[ns].nf.frag.expire(now, key) else {
            return;
        };
        for c in e.counters {
            self.ns[ns].count(c);
        }
        let dev = e.iif.unwrap_or(self.ns[ns].devs[0]);
        if let Some(head) = e.head {
            let local =
                Ipv4Repr::peek(&head.data).is_some_and(|(_, d, _)| self.is_local_addr(ns, d));
            if local {
                self.icmp_send(dev, PktType::Host, &head, icmp::TIME_EXCEEDED, 1, [0; 4]);
            }
            self.drop_pkt(dev, head, DropReason::FragReasmTimeout);
        }
        for p in e.rest {
            self.drop_pkt(dev, p, DropReason::FragReasmTimeout);
        }
    }

    /// `nf_conntrack_in()`: the packet's connection (found, or new and unconfirmed), or, for
    /// an ICMP error, the connection its quoted packet belongs to. Fragments, unknown ICMP
    /// types, short headers and replies without a connection stay untracked.
    fn nf_conntrack_in(&mut self, ns: NsId, hook: Hook, pkt: &mut Pkt) -> Result<(), DropReason> {
        let now = self.now();
        pkt.ct = None;
        let ct = &mut self.ns[ns].nf.ct;
        ct.gc(now);
        let Ok(ip) = Ipv4Repr::parse(&pkt.data) else {
            return Ok(());
        };
        if ip.mf || ip.frag_off != 0 {
            // PREROUTING reassembled them already; none reach OUTPUT here.
            return Ok(());
        }
        let l4 = pkt
            .data
            .get(ip.header_len..usize::from(ip.total_len))
            .unwrap_or_default();
        if ip.proto == PROTO_ICMP {
            // `nf_conntrack_icmpv4_error()`.
            let Some(&icmp_type) = l4.first() else {
                return Ok(());
            };
            if l4.len() < 8
                || (hook == Hook::PreRouting && crate::wire::checksum(l4) != 0)
                || icmp_type > 18
            {
                return Ok(());
            }
            if icmp::is_error_type(icmp_type) {
                if let Some((id, dir)) = Self::ct_related(ct, &l4[8..], ip.dst) {
                    let info = match dir {
                        Dir::Original => CtInfo::Related,
                        Dir::Reply => CtInfo::RelatedReply,
                    };
                    pkt.ct = Some(SkbCt {
                        ns,
                        conn: SkbConn::Confirmed(id),
                        info,
                    });
                }
                return Ok(());
            }
        }
        let Some(tuple) = pkt_to_tuple(ip.src, ip.dst, ip.proto, l4) else {
            return Ok(());
        };
        match ct.find(&tuple) {
            Some((id, dir)) => {
                let Some(c) = ct.conns.get(&id) else {
                    return Ok(());
                };
                let info = match dir {
                    Dir::Reply => CtInfo::EstablishedReply,
                    Dir::Original if c.status & IPS_SEEN_REPLY != 0 => CtInfo::Established,
                    Dir::Original => CtInfo::New,
                };
                ct.refresh(id, now, dir);
                pkt.ct = Some(SkbCt {
                    ns,
                    conn: SkbConn::Confirmed(id),
                    info,
                });
            }
            None => {
                // `init_conntrack()`; an ICMP type that cannot start a connection (an echo
                // reply nobody asked for) is invalid and left untracked.
                let Some(mut c) = Conn::new(tuple, now) else {
                    return Ok(());
                };
                if tuple.proto == PROTO_ICMP && !icmp_valid_new(tuple.icmp_type()) {
                    return Ok(());
                }
                if ct.len() >= CONNTRACK_MAX {
                    return Err(DropReason::NetfilterDrop);
                }
                c.refresh(now, Dir::Original);
                pkt.ct = Some(SkbCt {
                    ns,
                    conn: SkbConn::Unconfirmed(Box::new(c)),
                    info: CtInfo::New,
                });
            }
        }
        Ok(())
    }

    /// `nf_conntrack_inet_error()`: the connection the packet quoted in an ICMP error belongs
    /// to, looked up by the quoted tuple inverted; its direction's destination must be the
    /// error's destination.
    fn ct_related(
        ct: &crate::netns::nat::Conntrack,
        quoted: &[u8],
        outer_dst: Ipv4Addr,
    ) -> Option<(u64, Dir)> {
        let (src, dst, proto) = Ipv4Repr::peek(quoted)?;
        let ihl = usize::from(quoted[0] & 0x0f) * 4;
        let inner = pkt_to_tuple(src, dst, proto, quoted.get(ihl..)?)?;
        let (id, dir) = ct.find(&inner.invert()?)?;
        let c = ct.conns.get(&id)?;
        (c.tuple[dir.idx()].dst == outer_dst).then_some((id, dir))
    }

    /// `ipv4_confirm()` -> `__nf_conntrack_confirm()`: a new connection enters the table.
    fn nf_confirm(&mut self, ns: NsId, pkt: &mut Pkt) -> Result<(), DropReason> {
        let Some(skb) = pkt.ct.as_mut() else {
            return Ok(());
        };
        if let SkbConn::Unconfirmed(c) = &skb.conn {
            match self.ns[ns].nf.ct.confirm((**c).clone()) {
                Some(id) => skb.conn = SkbConn::Confirmed(id),
                None => return Err(DropReason::NetfilterDrop),
            }
        }
        Ok(())
    }

    /// `nf_nat_ipv4_fn()` at `hook`: ICMP errors get `nf_nat_icmp_reply_translation`, other
    /// packets `nf_nat_inet_fn` (the table for a new connection, then `nf_nat_packet`).
    fn nf_nat(
        &mut self,
        ns: NsId,
        hook: Hook,
        in_dev: Option<DevId>,
        out: Option<DevId>,
        nexthop: Option<Ipv4Addr>,
        pkt: &mut Pkt,
    ) -> Result<(), DropReason> {
        let Some(mut skb) = pkt.ct.take() else {
            return Ok(());
        };
        if skb.ns != ns {
            return Ok(());
        }
        let before = if self.journal_on() {
            ipv4::Ipv4Repr::peek(&pkt.data)
        } else {
            None
        };
        let r = self.nf_nat_skb(ns, hook, in_dev, out, nexthop, &mut skb, &mut pkt.data);
        pkt.ct = Some(skb);
        if let (Some((s0, d0, _)), Some(dev)) = (before, out.or(in_dev)) {
            self.note_nat(pkt, dev, s0, d0);
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn nf_nat_skb(
        &mut self,
        ns: NsId,
        hook: Hook,
        in_dev: Option<DevId>,
        out: Option<DevId>,
        nexthop: Option<Ipv4Addr>,
        skb: &mut SkbCt,
        data: &mut [u8],
    ) -> Result<(), DropReason> {
        let m = hook.manip();
        let dir = skb.info.dir();
        if skb.info.is_related() && data.get(9) == Some(&ipv4::PROTO_ICMP) {
            let Some(conn) = self.skb_conn(ns, skb).cloned() else {
                return Ok(());
            };
            return if icmp_reply_translation(&conn, skb.info, hook, data) {
                Ok(())
            } else {
                Err(DropReason::NetfilterDrop)
            };
        }
        match &mut skb.conn {
            SkbConn::Unconfirmed(c) if !c.nat_initialized(m) => {
                let verdict = self.ipt_do_table(ns, hook, data, in_dev, out);
                let (ct, rng) = (&self.ns[ns].nf.ct, &mut self.engine.rng);
                match verdict {
                    Verdict::Drop => return Err(DropReason::NetfilterDrop),
                    Verdict::Accept => ct.null_binding(c, m, rng),
                    Verdict::Snat { to, random_fully } => {
                        let range = NatRange {
                            addr: to,
                            random_fully,
                        };
                        ct.nat_setup_info(c, &range, Manip::Src, rng);
                    }
                    Verdict::Masquerade { random_fully } => {
                        // `nf_nat_masquerade_ipv4()`: 0.0.0.0 sources are left alone; the new
                        // source is the out device's address for the route's next hop.
                        let (Some(out), Some(nh)) = (out, nexthop) else {
                            return Err(DropReason::NetfilterDrop);
                        };
                        if c.orig().src.is_unspecified() {
                            ct.null_binding(c, m, rng);
                        } else {
                            let Some(addr) = self.select_addr(ns, out, nh, RT_SCOPE_UNIVERSE)
                            else {
                                // "%s ate my IP address".
                                return Err(DropReason::NetfilterDrop);
                            };
                            let ct = &self.ns[ns].nf.ct;
                            let rng = &mut self.engine.rng;
                            c.masq_index = self.devs[out].ifindex;
                            let range = NatRange { addr, random_fully };
                            ct.nat_setup_info(c, &range, Manip::Src, rng);
                        }
                    }
                }
            }
            _ => {
                // `nf_nat_oif_changed()`: a masqueraded connection now routed out of another
                // device is killed, and the packet dropped.
                let changed = self.skb_conn(ns, skb).is_some_and(|c| {
                    c.masq_index != 0
                        && hook == Hook::PostRouting
                        && dir == Dir::Original
                        && out.is_some_and(|o| self.devs[o].ifindex != c.masq_index)
                });
                if changed {
                    if let SkbConn::Confirmed(id) = skb.conn {
                        self.ns[ns].nf.ct.kill(id);
                    }
                    return Err(DropReason::NetfilterDrop);
                }
            }
        }
        // `nf_nat_packet()`.
        let Some(conn) = self.skb_conn(ns, skb) else {
            return Ok(());
        };
        if conn.nat_applies(m, dir) {
            let Some(target) = conn.tuple[dir.other().idx()].invert() else {
                return Ok(());
            };
            if !manip_pkt(data, 0, &target, m) {
                return Err(DropReason::NetfilterDrop);
            }
        }
        Ok(())
    }

    /// The connection an skb refers to, wherever it lives.
    fn skb_conn<'a>(&'a self, ns: NsId, skb: &'a SkbCt) -> Option<&'a Conn> {
        match &skb.conn {
            SkbConn::Confirmed(id) => self.ns[ns].nf.ct.conns.get(id),
            SkbConn::Unconfirmed(c) => Some(c),
        }
    }

    /// `ipt_do_table()` on the nat table's chain for `hook`: the first NAT target a matching
    /// rule reaches, following jumps and RETURNs; ACCEPT when none (the policy).
    fn ipt_do_table(
        &self,
        ns: NsId,
        hook: Hook,
        data: &[u8],
        in_dev: Option<DevId>,
        out: Option<DevId>,
    ) -> Verdict {
        let Some(table) = &self.ns[ns].nf.nat else {
            return Verdict::Accept;
        };
        let Some((src, dst, proto)) = Ipv4Repr::peek(data) else {
            return Verdict::Accept;
        };
        let Some(mut chain) = table.chain(hook.chain()) else {
            return Verdict::Accept;
        };
        let pkt = PktFields {
            src,
            dst,
            proto,
            in_dev,
            out,
        };
        let mut i = 0;
        let mut stack = Vec::new();
        loop {
            let Some(r) = chain.rules.get(i) else {
                // Off the end: a user chain returns, a built-in one applies its policy.
                match stack.pop() {
                    Some((c, j)) => {
                        (chain, i) = (c, j);
                        continue;
                    }
                    None => return Verdict::Accept,
                }
            };
            i += 1;
            if !self.rule_matches(ns, r, &pkt) {
                continue;
            }
            match &r.target {
                None => {}
                Some(Target::Accept) => return Verdict::Accept,
                Some(Target::Return) => match stack.pop() {
                    Some((c, j)) => (chain, i) = (c, j),
                    None => return Verdict::Accept,
                },
                Some(Target::Masquerade { random_fully }) => {
                    return Verdict::Masquerade {
                        random_fully: *random_fully,
                    }
                }
                Some(Target::Snat { to, random_fully }) => {
                    return Verdict::Snat {
                        to: *to,
                        random_fully: *random_fully,
                    }
                }
                Some(Target::Jump(name)) => {
                    if stack.len() >= JUMP_STACK_MAX {
                        return Verdict::Drop;
                    }
                    if let Some(c) = table.chain(name) {
                        stack.push((chain, i));
                        (chain, i) = (c, 0);
                    }
                }
            }
        }
    }

    /// `ip_packet_match()` and the rule's `-m` matches.
    fn rule_matches(&self, ns: NsId, r: &Rule, p: &PktFields) -> bool {
        let name = |d: Option<DevId>| d.map_or("", |d| self.devs[d].name.as_str());
        if r.src.is_some_and(|a| a.net.contains(p.src) == a.invert)
            || r.dst.is_some_and(|a| a.net.contains(p.dst) == a.invert)
            || r.in_iface
                .as_ref()
                .is_some_and(|i| !i.matches(name(p.in_dev)))
            || r.out_iface
                .as_ref()
                .is_some_and(|o| !o.matches(name(p.out)))
            || r.proto.is_some_and(|x| (x.proto == p.proto) == x.invert)
        {
            return false;
        }
        let nf = &self.ns[ns].nf;
        r.matches.iter().all(|m| match m {
            Match::Comment(_) => true,
            Match::Set { name, src, invert } => {
                let a = if *src { p.src } else { p.dst };
                nf.sets.get(name).is_some_and(|s| s.contains(a)) != *invert
            }
            Match::AddrType {
                src,
                dst,
                limit_iface_in,
                limit_iface_out,
            } => {
                let dev = if *limit_iface_in {
                    p.in_dev
                } else if *limit_iface_out {
                    p.out
                } else {
                    None
                };
                let hit = |addr: Ipv4Addr, (bits, inv): (u16, bool)| {
                    (bits & (1 << self.inet_dev_addr_type(ns, dev, addr)) != 0) != inv
                };
                src.is_none_or(|s| hit(p.src, s)) && dst.is_none_or(|d| hit(p.dst, d))
            }
            // Every packet's mark is 0 here (nothing sets one), so `mark & mask == value`
            // holds exactly when the value is 0.
            Match::Mark { value, invert, .. } => (*value == 0) != *invert,
        })
    }

    /// `inet_dev_addr_type()` (`RTN_*`): what the local table says `addr` is, restricted to
    /// routes through `dev` when given (anything else is then unicast).
    fn inet_dev_addr_type(&self, ns: NsId, dev: Option<DevId>, addr: Ipv4Addr) -> u8 {
        if addr.octets()[0] == 0 || addr.is_broadcast() {
            return RTN_BROADCAST;
        }
        if addr.is_multicast() {
            return RTN_MULTICAST;
        }
        let flow = Flow {
            daddr: addr,
            ..Flow::default()
        };
        let Some(r) = self.ns[ns].local.lookup(&flow) else {
            return RTN_UNICAST;
        };
        if dev.is_some_and(|d| r.dev != Some(self.devs[d].ifindex)) {
            return RTN_UNICAST;
        }
        match r.rtype {
            RouteType::Unicast => RTN_UNICAST,
            RouteType::Local => RTN_LOCAL,
            RouteType::Broadcast => RTN_BROADCAST,
            RouteType::Blackhole => 6,
            RouteType::Unreachable => 7,
            RouteType::Prohibit => 8,
            RouteType::Throw => 9,
        }
    }
}

/// What rule matching reads of a packet.
struct PktFields {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    in_dev: Option<DevId>,
    out: Option<DevId>,
}

/// `nf_nat_icmp_reply_translation()`: an ICMP error about a NATed connection. The quoted
/// packet is rewritten back (the opposite manip of this hook, since a locally generated error
/// may not pass the other hook), the ICMP checksum recomputed over the whole message, then the
/// outer header made to look like the reply to the original packet. False: drop it.
fn icmp_reply_translation(conn: &Conn, info: CtInfo, hook: Hook, data: &mut [u8]) -> bool {
    let Some(&vihl) = data.first() else {
        return false;
    };
    let hdrlen = usize::from(vihl & 0x0f) * 4;
    if data.len() < hdrlen + 8 + ipv4::HEADER_LEN {
        return false;
    }
    if crate::wire::checksum(&data[hdrlen..]) != 0 {
        return false;
    }
    if data[hdrlen] == icmp::REDIRECT
        && (conn.status & IPS_NAT_DONE_MASK != IPS_NAT_DONE_MASK || conn.status & IPS_NAT_MASK != 0)
    {
        return false;
    }
    let (m, dir) = (hook.manip(), info.dir());
    if !conn.nat_applies(m, dir) {
        return true;
    }
    let other = conn.tuple[dir.other().idx()];
    if !manip_pkt(data, hdrlen + 8, &other, m.other()) {
        return false;
    }
    icmp::refresh_checksum(&mut data[hdrlen..]);
    let Some(mut target) = other.invert() else {
        return false;
    };
    target.proto = PROTO_ICMP;
    manip_pkt(data, 0, &target, m)
}
