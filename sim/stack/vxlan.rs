//! The VXLAN datapath (R10): `vxlan_xmit()` (FDB lookup by inner destination MAC, then one
//! UDP-encapsulated copy per remote VTEP) and the UDP receive path into `vxlan_rcv()`.

use crate::dev::vxlan::flow_hash;
use crate::dev::{DevId, DevKind, NsId};
use crate::drop::DropReason;
use crate::netns::fib::RouteType;
use crate::packet::Pkt;
use crate::trace::journal::{StepKind, Tunnel};
use crate::trace::Direction;
use crate::wire::ethernet::{self, EthRepr};
use crate::wire::ipv4::{self, Ipv4Build, Ipv4Repr};
use crate::wire::udp;
use crate::wire::vxlan::{self, VxlanError};
use crate::world::World;
use std::net::Ipv4Addr;

/// Outer IPv4 + UDP + VXLAN + inner Ethernet (`VXLAN_HEADROOM`).
pub const VXLAN_HEADROOM: u32 = 50;

impl World {
    fn vxlan_idx(&self, dev: DevId) -> Option<usize> {
        match self.devs[dev].kind {
            DevKind::Vxlan { idx } => Some(idx),
            _ => None,
        }
    }

    /// `vxlan_xmit()`: the inner frame (already seen by the capture on the device) goes to
    /// every remote of its FDB entry; with none, it is dropped without any ICMP (R10.5).
    pub fn vxlan_xmit(&mut self, dev: DevId, pkt: Pkt) {
        let Some(idx) = self.vxlan_idx(dev) else {
            return self.drop_pkt(dev, pkt, DropReason::NotSpecified);
        };
        let Some(eth) = EthRepr::parse(&pkt.data) else {
            return self.drop_pkt(dev, pkt, DropReason::PktTooSmall);
        };
        let now = self.now();
        let remotes = self.vxlans[idx].lookup(now, &eth.dst);
        if remotes.is_empty() {
            self.devs[dev].stats.tx_dropped += 1;
            return self.drop_pkt(dev, pkt, DropReason::NoTxTarget);
        }
        let copies = self.fan_out(pkt, remotes.len());
        for (remote, c) in remotes.into_iter().zip(copies) {
            self.vxlan_xmit_one(dev, idx, remote, c);
        }
    }

    /// `vxlan_xmit_one()`: route to the remote, then the outer headers as the kernel sets
    /// them: TTL `auto` (ip_default_ttl), DF clear, TOS 0 with the inner ECN, an IP ID from
    /// the generator, the flow-hashed source port, and the UDP checksum unless `noudpcsum`.
    fn vxlan_xmit_one(&mut self, dev: DevId, idx: usize, remote: Ipv4Addr, pkt: Pkt) {
        let ns = self.devs[dev].ns;
        let cfg = &self.vxlans[idx];
        let (local, vni, dst_port, ttl_cfg, tos_cfg, csum) = (
            cfg.local,
            cfg.vni,
            cfg.dst_port,
            cfg.ttl,
            cfg.tos,
            cfg.udp_csum,
        );
        let Ok(rt) = self.route_output(ns, remote, local, None) else {
            self.devs[dev].stats.tx_dropped += 1;
            return self.drop_pkt(dev, pkt, DropReason::IpOutnoroutes);
        };
        if rt.dev == dev {
            // "circular route": the outer packet would re-enter this device.
            return self.drop_pkt(dev, pkt, DropReason::TunnelLoop);
        }
        if rt.rtype == RouteType::Local {
            // `vxlan_encap_bypass`: the remote is this netns; no outer headers at all.
            return self.vxlan_encap_bypass(ns, vni, dst_port, pkt);
        }
        let src = local.unwrap_or(rt.src);
        let inner_ecn = match EthRepr::parse(&pkt.data) {
            Some(e) if e.ethertype == ethernet::ETHERTYPE_IPV4 => {
                pkt.data.get(ethernet::HEADER_LEN + 1).map_or(0, |t| t & 3)
            }
            _ => 0,
        };
        // `ip_tunnel_ecn_encap` (INET_ECN_encapsulate): CE inside becomes ECT(0) outside.
        let tos = (tos_cfg & !3) | if inner_ecn == 3 { 2 } else { inner_ecn };
        let seed = self.ns[ns].flow_hash_seed;
        let sport = self.vxlans[idx].src_port(flow_hash(seed, &pkt.data));
        let mut payload = Vec::with_capacity(vxlan::HEADER_LEN + pkt.data.len());
        payload.extend_from_slice(&vxlan::header(vni));
        payload.extend_from_slice(&pkt.data);
        let dgram = udp::datagram(src, remote, sport, dst_port, &payload, !csum);
        let ttl = match ttl_cfg {
            0 => self.ns[ns].ip_default_ttl,
            t => t,
        };
        let now = self.now();
        let id = self.ns[ns]
            .ident
            .select(now, remote, src, ipv4::PROTO_UDP, &mut self.engine.rng);
        let mut pkt = pkt;
        pkt.data = Ipv4Build {
            tos,
            id,
            df: false,
            ttl,
            proto: ipv4::PROTO_UDP,
            src,
            dst: remote,
        }
        .packet(&dgram);
        let encap = StepKind::Encap {
            tunnel: Tunnel::Vxlan { vni },
            outer_src: src,
            outer_dst: remote,
        };
        self.note(pkt.id, dev, encap);
        // `udp_tunnel_xmit_skb` goes straight to `iptunnel_xmit`: no UDP MIB counter moves
        // (the kernel's UdpOutDatagrams stays 0; checked against it by the oracle).
        self.ip_local_out(ns, rt.dev, rt.nexthop, pkt, None)
    }

    /// `vxlan_encap_bypass()`: deliver straight to the local device with the same VNI.
    fn vxlan_encap_bypass(&mut self, ns: NsId, vni: u32, port: u16, pkt: Pkt) {
        match self.vxlan_dev_by_vni(ns, vni, port) {
            Some(dst) => self.vxlan_deliver(dst, None, pkt),
            None => {
                let dev = self.ns[ns].devs[0];
                self.drop_pkt(dev, pkt, DropReason::VxlanVniNotFound)
            }
        }
    }

    fn vxlan_dev_by_vni(&self, ns: NsId, vni: u32, port: u16) -> Option<DevId> {
        self.ns[ns].devs.iter().copied().find(|&d| {
            self.devs[d].admin_up
                && matches!(self.devs[d].kind, DevKind::Vxlan { idx }
                    if self.vxlans[idx].vni == vni && self.vxlans[idx].dst_port == port)
        })
    }

    /// `vxlan_rcv()`: header checks, the device by VNI, and the inner frame received on it.
    pub(super) fn vxlan_rcv(&mut self, dev: DevId, ns: NsId, outer: Ipv4Repr, port: u16, pkt: Pkt) {
        let vni = match vxlan::parse(&pkt.data) {
            Ok(v) => v,
            Err(VxlanError::Truncated) => return self.drop_pkt(dev, pkt, DropReason::PktTooSmall),
            Err(VxlanError::InvalidHeader) => {
                return self.drop_pkt(dev, pkt, DropReason::VxlanInvalidHdr)
            }
        };
        let Some(vx) = self.vxlan_dev_by_vni(ns, vni, port) else {
            return self.drop_pkt(dev, pkt, DropReason::VxlanVniNotFound);
        };
        let decap = StepKind::Decap {
            tunnel: Tunnel::Vxlan { vni },
            outer_src: outer.src,
            outer_dst: outer.dst,
            into: vx,
        };
        self.note(pkt.id, dev, decap);
        let mut pkt = pkt;
        pkt.data.drain(..vxlan::HEADER_LEN);
        if pkt.data.len() < ethernet::HEADER_LEN {
            return self.drop_pkt(vx, pkt, DropReason::PktTooSmall);
        }
        // `IP_ECN_decapsulate`: CE outside marks an ECN-capable inner packet CE.
        if outer.tos & 3 == 3 && pkt.data[12..14] == [0x08, 0x00] {
            let ip = &mut pkt.data[ethernet::HEADER_LEN..];
            if ip.len() >= ipv4::HEADER_LEN && ip[1] & 3 != 0 {
                ip[1] |= 3;
                ipv4::refresh_checksum(ip);
            }
        }
        self.vxlan_deliver(vx, Some(outer.src), pkt)
    }

    /// The inner frame arrives on the VXLAN device (`vxlan_set_mac`, `vxlan_snoop`, then
    /// `gro_cells_receive`): rp_filter and everything else now apply to this device.
    fn vxlan_deliver(&mut self, vx: DevId, outer_src: Option<Ipv4Addr>, pkt: Pkt) {
        let Some(eth) = EthRepr::parse(&pkt.data) else {
            return self.drop_pkt(vx, pkt, DropReason::PktTooSmall);
        };
        if ethernet::is_multicast(&eth.src) || eth.src == [0; 6] {
            return self.drop_pkt(vx, pkt, DropReason::MacInvalidSource);
        }
        // Loop guard: our own frames coming back.
        if eth.src == self.devs[vx].mac {
            return self.drop_pkt(vx, pkt, DropReason::LocalMac);
        }
        if let (Some(idx), Some(src)) = (self.vxlan_idx(vx), outer_src) {
            let now = self.now();
            if self.vxlans[idx].learning {
                if let Err(reason) = self.vxlans[idx].snoop(now, eth.src, src) {
                    return self.drop_pkt(vx, pkt, reason);
                }
            }
        }
        self.devs[vx].stats.rx_packets += 1;
        self.capture(vx, Direction::In, &pkt);
        self.netif_receive(vx, None, pkt)
    }
}
