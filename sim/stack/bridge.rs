//! The bridge datapath (R8): frames received on a port (`br_handle_frame`), forwarded to ports
//! (`br_forward`), passed up on the bridge device (`br_pass_frame_up`), and sent by the bridge
//! device itself (`br_dev_xmit`).

use crate::dev::{DevId, DevKind};
use crate::drop::DropReason;
use crate::packet::Pkt;
use crate::trace::journal::StepKind;
use crate::trace::Direction;
use crate::wire::ethernet::{self, EthRepr};
use crate::world::{pkt_type_for, PktType, World};

impl World {
    fn bridge_idx(&self, br: DevId) -> Option<usize> {
        match self.devs[br].kind {
            DevKind::Bridge { idx } => Some(idx),
            _ => None,
        }
    }

    /// The ports that can transmit: STP is off, so a port forwards while it has carrier.
    fn bridge_ports_up(&self, idx: usize) -> Vec<DevId> {
        self.bridges[idx]
            .ports
            .iter()
            .map(|p| p.dev)
            .filter(|&d| self.carrier(d))
            .collect()
    }

    /// `br_handle_frame()` + `br_handle_frame_finish()` for a frame received on `port`.
    pub fn br_handle_frame(&mut self, br: DevId, port: DevId, pkt: Pkt) {
        let Some(idx) = self.bridge_idx(br) else {
            return self.drop_pkt(port, pkt, DropReason::NotSpecified);
        };
        let Some(eth) = EthRepr::parse(&pkt.data) else {
            return self.drop_pkt(port, pkt, DropReason::PktTooSmall);
        };
        // A port of a bridge that is down is disabled (STP state DISABLED): `goto drop`.
        if !self.devs[br].admin_up {
            return self.drop_pkt(port, pkt, DropReason::NotSpecified);
        }
        // MAC_INVALID_SOURCE since Linux 6.x names this drop; older kernels used NOT_SPECIFIED.
        if ethernet::is_multicast(&eth.src) || eth.src == [0; 6] {
            return self.drop_pkt(port, pkt, DropReason::MacInvalidSource);
        }
        // 01:80:c2:00:00:0X is link-local. With STP off the Bridge Group Address (.00) is
        // forwarded like any multicast; the others are not bridged but handed to the port's
        // own stack (RX_HANDLER_PASS, group_fwd_mask 0).
        if eth.dst[..5] == [0x01, 0x80, 0xc2, 0, 0] && eth.dst[5] & 0xf0 == 0 && eth.dst[5] != 0 {
            return self.netif_receive(port, None, pkt);
        }
        let (now, up) = (self.now(), self.bridge_ports_up(idx));
        let v = self.bridges[idx].ingress(now, port, eth.src, eth.dst, &up);
        if v.promisc {
            // The clone promiscuous mode passes up: tcpdump on the bridge sees it, then
            // `ip_rcv` frees it as OTHERHOST. Only the capture is kept.
            self.capture(br, Direction::In, &pkt);
        }
        if self.journal_on() {
            // A hit is a unicast destination the FDB knows; anything else was flooded.
            let hit = !ethernet::is_multicast(&eth.dst) && self.bridges[idx].knows(&eth.dst);
            let fdb = StepKind::Fdb {
                dst: eth.dst,
                port: if hit { v.ports.first().copied() } else { None },
                flooded: if hit { 0 } else { v.ports.len() as u16 },
                local: v.local,
            };
            self.note(pkt.id, br, fdb);
        }
        let n = v.ports.len() + usize::from(v.local);
        if n == 0 {
            return self.drop_pkt(port, pkt, DropReason::NotSpecified);
        }
        let mut copies = self.fan_out(pkt, n).into_iter();
        for out in v.ports {
            if let Some(c) = copies.next() {
                self.br_forward(out, c);
            }
        }
        if v.local {
            if let Some(c) = copies.next() {
                self.br_pass_frame_up(br, port, eth, c);
            }
        }
    }

    /// `br_pass_frame_up()`: the frame is received again, on the bridge device.
    fn br_pass_frame_up(&mut self, br: DevId, port: DevId, eth: EthRepr, pkt: Pkt) {
        self.capture(br, Direction::In, &pkt);
        self.devs[br].stats.rx_packets += 1;
        // `eth_type_trans` ran on the port (its MAC is HOST); `br_handle_frame` then marks
        // frames to the bridge's own MAC as PACKET_HOST too.
        let pkt_type = match pkt_type_for(&eth.dst, &self.devs[port].mac) {
            PktType::Otherhost => pkt_type_for(&eth.dst, &self.devs[br].mac),
            t => t,
        };
        self.netif_receive(br, Some(pkt_type), pkt)
    }

    /// `br_forward()` -> `br_dev_queue_push_xmit()`: out of a port, if it fits the port's MTU
    /// (`is_skb_forwardable`: MTU + Ethernet header + VLAN header).
    fn br_forward(&mut self, out: DevId, pkt: Pkt) {
        let max = self.devs[out].mtu as usize + ethernet::HEADER_LEN + 4;
        if pkt.data.len() > max {
            self.devs[out].stats.tx_dropped += 1;
            return self.drop_pkt(out, pkt, DropReason::PktTooBig);
        }
        self.dev_xmit(out, pkt)
    }

    /// `br_dev_xmit()`: the bridge device sends a frame (the stack's output on cni0). The
    /// capture on the bridge already saw it in `dev_xmit`.
    pub fn br_dev_xmit(&mut self, br: DevId, pkt: Pkt) {
        let Some(idx) = self.bridge_idx(br) else {
            return self.drop_pkt(br, pkt, DropReason::NotSpecified);
        };
        let Some(eth) = EthRepr::parse(&pkt.data) else {
            return self.drop_pkt(br, pkt, DropReason::PktTooSmall);
        };
        let (now, up) = (self.now(), self.bridge_ports_up(idx));
        let outs = self.bridges[idx].xmit(now, eth.dst, &up);
        if outs.is_empty() {
            self.devs[br].stats.tx_dropped += 1;
            return self.drop_pkt(br, pkt, DropReason::NotSpecified);
        }
        let copies = self.fan_out(pkt, outs.len());
        for (out, c) in outs.into_iter().zip(copies) {
            self.br_forward(out, c);
        }
    }
}
