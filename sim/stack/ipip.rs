//! IPIP through the fallback device tunl0 (R9): encapsulation toward the route's gateway with
//! the kernel's outer header, and decapsulation of IPIP from any source.

use crate::dev::{DevId, DevKind};
use crate::drop::DropReason;
use crate::packet::Pkt;
use crate::trace::journal::{StepKind, Tunnel};
use crate::trace::Direction;
use crate::wire::icmp;
use crate::wire::ipv4::{self, Ipv4Build, Ipv4Repr};
use crate::world::{PktType, World};
use std::net::Ipv4Addr;

impl World {
    /// `ipip_tunnel_xmit()` -> `ip_tunnel_xmit()`: `nexthop` is the route's gateway (or the inner
    /// destination for a gateway-less route), which becomes the outer destination.
    pub fn ipip_xmit(&mut self, tun: DevId, nexthop: Ipv4Addr, pkt: Pkt) {
        let ns = self.devs[tun].ns;
        if !self.devs[tun].admin_up {
            return self.drop_pkt(tun, pkt, DropReason::DevReady);
        }
        // tcpdump on tunl0 sees the inner packet, before encapsulation.
        self.capture(tun, Direction::Out, &pkt);
        let Ok(inner) = Ipv4Repr::parse(&pkt.data) else {
            return self.drop_pkt(tun, pkt, DropReason::NotSpecified);
        };
        // Outer route: saddr = tunnel local (any), no oif (the fallback has no link).
        let Ok(rt) = self.route_output(ns, nexthop, None, None) else {
            self.devs[tun].stats.tx_dropped += 1;
            return self.drop_pkt(tun, pkt, DropReason::IpOutnoroutes);
        };
        if rt.dev == tun {
            // The outer packet would re-enter the tunnel: `collisions`, drop.
            return self.drop_pkt(tun, pkt, DropReason::TunnelLoop);
        }
        // `tnl_update_pmtu`: with DF, the inner packet must fit the underlay MTU less 20.
        let pmtu = self.devs[rt.dev]
            .mtu
            .saturating_sub(ipv4::HEADER_LEN as u32);
        if inner.df && u32::from(inner.total_len) > pmtu {
            self.icmp_frag_needed(tun, &pkt, pmtu);
            return self.drop_pkt(tun, pkt, DropReason::PktTooBig);
        }
        self.devs[tun].stats.tx_packets += 1;
        let now = self.now();
        let id =
            self.ns[ns]
                .ident
                .select(now, nexthop, rt.src, ipv4::PROTO_IPIP, &mut self.engine.rng);
        let outer = Ipv4Build {
            // Tunnel tos 0, with the inner ECN bits copied (`ip_tunnel_ecn_encap`).
            tos: inner.tos & 0x03,
            id,
            // frag_off 0 (nopmtudisc) OR the inner DF: DF is copied.
            df: inner.df,
            // ttl 0 = inherit: the inner TTL, already decremented by forwarding.
            ttl: inner.ttl,
            proto: ipv4::PROTO_IPIP,
            src: rt.src,
            dst: nexthop,
        };
        let mut pkt = pkt;
        pkt.data = outer.packet(&pkt.data);
        let encap = StepKind::Encap {
            tunnel: Tunnel::Ipip,
            outer_src: rt.src,
            outer_dst: nexthop,
        };
        self.note(pkt.id, tun, encap);
        self.ip_local_out(ns, rt.dev, rt.nexthop, pkt, None)
    }

    /// `tunnel4_rcv()` -> `ipip_rcv()`: the outer packet was delivered locally; the fallback
    /// tunl0 takes it from any source if it is up, and the inner packet is received on tunl0.
    pub fn ipip_rcv(&mut self, dev: DevId, pkt_type: PktType, outer: Ipv4Repr, pkt: Pkt) {
        let ns = self.devs[dev].ns;
        let tun = self.ns[ns]
            .devs
            .iter()
            .copied()
            .find(|&d| matches!(self.devs[d].kind, DevKind::Ipip) && self.devs[d].admin_up);
        let Some(tun) = tun else {
            self.icmp_unreach(dev, pkt_type, &pkt, icmp::PORT_UNREACH);
            return self.drop_pkt(dev, pkt, DropReason::NotSpecified);
        };
        let mut pkt = pkt;
        pkt.data.drain(..outer.header_len);
        if pkt.data.len() >= ipv4::HEADER_LEN && outer.tos & 3 == 3 && pkt.data[1] & 3 != 0 {
            // `IP_ECN_decapsulate`: CE on the outer header marks the ECN-capable inner.
            pkt.data[1] |= 3;
            ipv4::refresh_checksum(&mut pkt.data);
        }
        self.devs[tun].stats.rx_packets += 1;
        let decap = StepKind::Decap {
            tunnel: Tunnel::Ipip,
            outer_src: outer.src,
            outer_dst: outer.dst,
            into: tun,
        };
        self.note(pkt.id, dev, decap);
        self.capture(tun, Direction::In, &pkt);
        self.ip_rcv(tun, PktType::Host, pkt)
    }
}
