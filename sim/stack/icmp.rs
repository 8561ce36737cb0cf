//! ICMP: answering echo requests (`icmp_echo`), delivering replies and errors to pings, and
//! sending errors (`__icmp_send`) under Linux's rate limits (R3.3-R3.6).

use crate::dev::{DevId, DevKind, NsId};
use crate::drop::DropReason;
use crate::netns::fib::RouteType;
use crate::netns::nstat::Nstat;
use crate::netns::PeerBucket;
use crate::packet::Pkt;
use crate::time::Instant;
use crate::trace::journal::Cause;
use crate::wire::icmp::{self, IcmpRepr};
use crate::wire::ipv4::{self, Ipv4Build, Ipv4Repr};
use crate::world::{PktType, World};
use rand::Rng;
use std::net::Ipv4Addr;

const SEC_NS: u64 = 1_000_000_000;
/// `ip_rt_error_cost` and `ip_rt_error_burst` (HZ and 5*HZ).
const RT_ERROR_COST_NS: u64 = SEC_NS;
const RT_ERROR_BURST_NS: u64 = 5 * SEC_NS;
/// XRLIM_BURST_FACTOR.
const XRLIM_BURST_FACTOR: u64 = 6;
/// Where an error goes when no source could be chosen (RFC 7600's dummy address).
const ICMP_DUMMY_SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 8);
/// One jiffy at HZ=250: the kernel counts these buckets in jiffies, so sub-jiffy differences
/// in arrival time never cost a token.
const JIFFY_NS: u64 = 4_000_000;

fn jiffies(now: Instant) -> Instant {
    Instant::from_ns(now.as_ns() / JIFFY_NS * JIFFY_NS)
}

/// What a ping learns from a received ICMP message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PingInput {
    Reply {
        from: Ipv4Addr,
        id: u16,
        seq: u16,
        ttl: u8,
        len: usize,
    },
    Error {
        from: Ipv4Addr,
        id: u16,
        seq: u16,
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
    },
}

impl World {
    /// `icmp_rcv()`.
    pub fn icmp_rcv(
        &mut self,
        dev: DevId,
        _pkt_type: PktType,
        ip: Ipv4Repr,
        pkt: Pkt,
        bcast: bool,
    ) {
        let ns = self.devs[dev].ns;
        let body = &pkt.data[ip.header_len..];
        let Some(m) = IcmpRepr::parse(body) else {
            self.ns[ns].count(Nstat::IcmpInCsumErrors);
            return self.drop_pkt(dev, pkt, DropReason::IcmpCsum);
        };
        self.ns[ns].count(Nstat::IcmpInMsgs);
        match m.icmp_type {
            icmp::ECHO_REQUEST => {
                self.ns[ns].count(Nstat::IcmpInEchos);
                if bcast {
                    // icmp_echo_ignore_broadcasts=1: consumed without an answer.
                    return self.deliver(pkt);
                }
                let reply = icmp::emit(icmp::ECHO_REPLY, 0, m.rest, m.body);
                let (tag, req) = (pkt.tag, pkt.id);
                self.deliver(pkt);
                self.icmp_reply(ns, ip, reply, tag, (req, dev));
            }
            icmp::ECHO_REPLY => {
                let (id, seq) = m.echo_id_seq();
                let input = PingInput::Reply {
                    from: ip.src,
                    id,
                    seq,
                    ttl: ip.ttl,
                    len: body.len(),
                };
                self.ping_input(ns, input, pkt);
            }
            t if icmp::is_error_type(t) => {
                // The quoted packet: an echo request of ours names the ping it belongs to.
                let quoted = m.body;
                if t == icmp::DEST_UNREACH && m.code == icmp::FRAG_NEEDED {
                    // `icmp_unreach` -> `ipv4_update_pmtu`: the route to the quoted
                    // destination learns the next-hop MTU.
                    if let Some((_, qdst, _)) = Ipv4Repr::peek(quoted) {
                        let mtu = u32::from(u16::from_be_bytes([m.rest[2], m.rest[3]]));
                        if let Ok(rt) = self.route_output(ns, qdst, None, None) {
                            let (now, dev_mtu) = (self.now(), self.devs[rt.dev].mtu);
                            self.ns[ns].update_pmtu(now, qdst, mtu, dev_mtu);
                        }
                    }
                }
                let echo = Ipv4Repr::peek(quoted).and_then(|(_, _, proto)| {
                    let ihl = usize::from(quoted[0] & 0x0f) * 4;
                    let q = quoted.get(ihl..ihl + 8)?;
                    (proto == ipv4::PROTO_ICMP && q[0] == icmp::ECHO_REQUEST).then(|| {
                        (
                            u16::from_be_bytes([q[4], q[5]]),
                            u16::from_be_bytes([q[6], q[7]]),
                        )
                    })
                });
                if let Some((id, seq)) = echo {
                    let input = PingInput::Error {
                        from: ip.src,
                        id,
                        seq,
                        icmp_type: t,
                        code: m.code,
                        rest: m.rest,
                    };
                    self.ping_input(ns, input, pkt);
                } else {
                    // Errors about tunnels or other traffic: handled (ipip_err) or ignored.
                    self.deliver(pkt);
                }
            }
            _ => self.deliver(pkt),
        }
    }

    /// `icmp_reply()`: an echo reply from the address the request was sent to.
    fn icmp_reply(
        &mut self,
        ns: NsId,
        req: Ipv4Repr,
        icmp_bytes: Vec<u8>,
        tag: Option<crate::packet::FlowTag>,
        (req_id, req_dev): (u64, DevId),
    ) {
        let Ok(rt) = self.route_output(ns, req.src, Some(req.dst), None) else {
            self.ns[ns].count(Nstat::IpOutNoRoutes);
            return;
        };
        let now = self.now();
        let id = self.ns[ns].ident.select(
            now,
            req.src,
            req.dst,
            ipv4::PROTO_ICMP,
            &mut self.engine.rng,
        );
        let data = Ipv4Build {
            tos: req.tos,
            id,
            df: false,
            ttl: self.ns[ns].ip_default_ttl,
            proto: ipv4::PROTO_ICMP,
            src: req.dst,
            dst: req.src,
        }
        .packet(&icmp_bytes);
        // `__ip_make_skb` -> `icmp_out_count`: every ICMP message built locally.
        self.ns[ns].count(Nstat::IcmpOutMsgs);
        self.ns[ns].count(Nstat::IcmpOutEchoReps);
        let pkt = self.new_pkt(tag, data);
        self.note_caused(req_id, req_dev, pkt.id, Cause::EchoReply);
        self.note_route_out(pkt.id, &rt, req.src);
        self.ip_local_out(ns, rt.dev, rt.nexthop, pkt, None);
    }

    /// The `ip_error()` token bucket on the destination's inet_peer (cost 1 s, burst 5 s).
    pub fn ip_error_allow(&mut self, ns: NsId, dst: Ipv4Addr) -> bool {
        let now = jiffies(self.now());
        let p = peer(&mut self.ns[ns].peers, dst, now);
        p.rate_tokens_ns =
            (p.rate_tokens_ns + now.since(p.rate_last).as_ns()).min(RT_ERROR_BURST_NS);
        p.rate_last = now;
        if p.rate_tokens_ns >= RT_ERROR_COST_NS {
            p.rate_tokens_ns -= RT_ERROR_COST_NS;
            true
        } else {
            false
        }
    }

    /// Destination unreachable with `code` about `orig`.
    pub fn icmp_unreach(&mut self, in_dev: DevId, pkt_type: PktType, orig: &Pkt, code: u8) {
        self.icmp_send(in_dev, pkt_type, orig, icmp::DEST_UNREACH, code, [0; 4]);
    }

    /// "Fragmentation needed and DF set" about `orig`, carrying the next-hop `mtu`.
    pub fn icmp_frag_needed(&mut self, in_dev: DevId, orig: &Pkt, mtu: u32) {
        let m = (mtu.min(u32::from(u16::MAX)) as u16).to_be_bytes();
        let rest = [0, 0, m[0], m[1]];
        self.icmp_send(
            in_dev,
            PktType::Host,
            orig,
            icmp::DEST_UNREACH,
            icmp::FRAG_NEEDED,
            rest,
        );
    }

    /// `__icmp_send()`: an ICMP error about `orig` (an IP packet as it is now) received on
    /// `in_dev`, back to its source.
    pub fn icmp_send(
        &mut self,
        in_dev: DevId,
        pkt_type: PktType,
        orig: &Pkt,
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
    ) {
        let ns = self.devs[in_dev].ns;
        let Ok(ip) = Ipv4Repr::parse(&orig.data) else {
            return;
        };
        // R3.3: never about L2 broadcast, IP broadcast/multicast, later fragments, or errors.
        if pkt_type != PktType::Host
            || ip.dst.is_broadcast()
            || ip.dst.is_multicast()
            || ip.frag_off != 0
        {
            return;
        }
        if self.addr_type(ns, ip.dst) == RouteType::Broadcast {
            return;
        }
        if ip.proto == ipv4::PROTO_ICMP {
            match orig.data.get(ip.header_len) {
                Some(&t) if icmp::is_error_type(t) || t > 18 => return,
                None => return,
                _ => {}
            }
        }
        let limited = self.icmp_mask_limited(ns, icmp_type, code);
        if limited && !self.icmp_global_allow(ns) {
            self.ns[ns].count(Nstat::IcmpOutRateLimitGlobal);
            return;
        }
        let saddr = if self.is_local_addr(ns, ip.dst) {
            Some(ip.dst)
        } else if self.ns[ns].icmp_errors_use_inbound_ifaddr {
            self.devs[in_dev].primary_addrs().next().map(|a| a.addr)
        } else {
            None
        };
        let Ok(rt) = self.route_output(ns, ip.src, saddr, None) else {
            return;
        };
        if limited
            && !matches!(self.devs[rt.dev].kind, DevKind::Loopback)
            && !self.icmp_xrlim_allow(ns, ip.src)
        {
            self.ns[ns].count(Nstat::IcmpOutRateLimitHost);
            return;
        }
        let src = if rt.src.is_unspecified() {
            ICMP_DUMMY_SRC
        } else {
            rt.src
        };
        // Quote as much of the original as fits a 576-byte error (R3.4).
        let room = (self.devs[rt.dev].mtu.min(576) as usize).saturating_sub(28);
        let quoted = &orig.data[..orig.data.len().min(room)];
        let msg = icmp::emit(icmp_type, code, rest, quoted);
        let now = self.now();
        let id = self.ns[ns]
            .ident
            .select(now, ip.src, src, ipv4::PROTO_ICMP, &mut self.engine.rng);
        let data = Ipv4Build {
            tos: (ip.tos & 0x1e) | 0xc0,
            id,
            df: false,
            ttl: self.ns[ns].ip_default_ttl,
            proto: ipv4::PROTO_ICMP,
            src,
            dst: ip.src,
        }
        .packet(&msg);
        self.ns[ns].count(Nstat::IcmpOutMsgs);
        match icmp_type {
            icmp::DEST_UNREACH => self.ns[ns].count(Nstat::IcmpOutDestUnreachs),
            icmp::TIME_EXCEEDED => self.ns[ns].count(Nstat::IcmpOutTimeExcds),
            _ => {}
        }
        let pkt = self.new_pkt(orig.tag, data);
        self.note_caused(
            orig.id,
            in_dev,
            pkt.id,
            Cause::IcmpError { icmp_type, code },
        );
        self.note_route_out(pkt.id, &rt, ip.src);
        self.ip_local_out(ns, rt.dev, rt.nexthop, pkt, None);
    }

    /// `icmpv4_mask_allow()` inverted: is this type subject to the limits?
    fn icmp_mask_limited(&self, ns: NsId, icmp_type: u8, code: u8) -> bool {
        if icmp_type > 18 || (icmp_type == icmp::DEST_UNREACH && code == icmp::FRAG_NEEDED) {
            return false;
        }
        self.ns[ns].icmp_ratemask & (1 << icmp_type) != 0
    }

    /// `icmp_global_allow()`: 1000 msgs/s, burst 50, a random 0-2 credit per message.
    fn icmp_global_allow(&mut self, ns: NsId) -> bool {
        let now = self.now();
        let n = &mut self.ns[ns];
        let delta_ms = now.since(n.icmp_global_stamp).as_ns().min(SEC_NS) / 1_000_000;
        if n.icmp_global_credit == 0 && delta_ms < 20 {
            return false;
        }
        let mut incr = 0;
        if delta_ms >= 20 {
            incr = delta_ms; // 1000 msgs/s = one per ms
            n.icmp_global_stamp = now;
        }
        let mut credit = (n.icmp_global_credit + incr).min(crate::netns::ICMP_MSGS_BURST);
        let ok = credit > 0;
        if ok {
            credit = credit.saturating_sub(self.engine.rng.gen_range(0..3));
        }
        self.ns[ns].icmp_global_credit = credit;
        ok
    }

    /// `inet_peer_xrlim_allow(peer, icmp_ratelimit)`.
    fn icmp_xrlim_allow(&mut self, ns: NsId, dst: Ipv4Addr) -> bool {
        let now = jiffies(self.now());
        let timeout = self.ns[ns].icmp_ratelimit_ms * 1_000_000;
        let p = peer(&mut self.ns[ns].peers, dst, now);
        let mut token = p.rate_tokens_ns + now.since(p.rate_last).as_ns();
        p.rate_last = now;
        token = token.min(XRLIM_BURST_FACTOR * timeout);
        let ok = token >= timeout;
        if ok {
            token -= timeout;
        }
        p.rate_tokens_ns = token;
        ok
    }
}

/// The inet_peer for `dst`. The kernel creates it with no tokens and a last use 60 s ago; 60 s
/// of tokens used now is the same once the caps apply, and needs no time before zero.
fn peer(
    peers: &mut std::collections::BTreeMap<Ipv4Addr, PeerBucket>,
    dst: Ipv4Addr,
    now: Instant,
) -> &mut PeerBucket {
    peers.entry(dst).or_insert(PeerBucket {
        rate_tokens_ns: 60 * SEC_NS,
        rate_last: now,
    })
}
