//! UDP (`__udp4_lib_rcv`, `udp_sendmsg`): the receive checks, the socket lookup by port (a
//! VXLAN device's socket or an application's), port unreachable for closed ports, and sending
//! a datagram from a socket.

use crate::dev::{DevId, DevKind, NsId};
use crate::drop::DropReason;
use crate::netns::nstat::Nstat;
use crate::packet::Pkt;
use crate::stack::ipv4::LocalSend;
use crate::stack::route::OutError;
use crate::trace::journal::Cause;
use crate::wire::icmp;
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::udp::{self, UdpError, UdpRepr};
use crate::world::{PktType, World};
use std::net::Ipv4Addr;

/// An empty buffer for a datagram of `payload` bytes, with room for every header a frame
/// puts in front of it.
pub fn udp_buf(payload: usize) -> Vec<u8> {
    Vec::with_capacity(
        crate::wire::ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN + payload,
    )
}

/// `ip_local_port_range`'s default: where an unbound socket's port is drawn from.
pub const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 32768..=60999;

impl World {
    /// `__udp4_lib_rcv()` for a datagram delivered locally: checksum and length checks, then
    /// the socket bound to the destination port on the wildcard address: a VXLAN device's
    /// (while it is up) or an application's; with none, port unreachable.
    pub fn udp_rcv(&mut self, dev: DevId, pkt_type: PktType, ip: Ipv4Repr, pkt: Pkt, bcast: bool) {
        let ns = self.devs[dev].ns;
        let body = pkt.data.get(ip.header_len..).unwrap_or_default();
        let u = match UdpRepr::parse(ip.src, ip.dst, body) {
            Ok(u) => u,
            Err(e) => {
                self.ns[ns].count(Nstat::UdpInErrors);
                let reason = match e {
                    UdpError::Truncated => DropReason::PktTooSmall,
                    UdpError::BadChecksum => {
                        self.ns[ns].count(Nstat::UdpInCsumErrors);
                        DropReason::UdpCsum
                    }
                };
                return self.drop_pkt(dev, pkt, reason);
            }
        };
        // One socket per port (`udp_bind` refuses a VXLAN device's): the application's, found
        // by hash, else a VXLAN device's.
        let app = self.ns[ns].udp_socks.get(&u.dst_port).copied();
        let vxlan = app.is_none()
            && self.ns[ns].devs.iter().any(|&d| {
                self.devs[d].admin_up
                    && matches!(self.devs[d].kind, DevKind::Vxlan { idx }
                        if self.vxlans[idx].dst_port == u.dst_port)
            });
        if !vxlan && app.is_none() {
            // Broadcasts get no ICMP (`__udp4_lib_mcast_deliver` finds no socket either).
            self.ns[ns].count(Nstat::UdpNoPorts);
            if !bcast {
                self.icmp_unreach(dev, pkt_type, &pkt, icmp::PORT_UNREACH);
            }
            return self.drop_pkt(dev, pkt, DropReason::NoSocket);
        }
        self.ns[ns].count(Nstat::UdpInDatagrams);
        let start = ip.header_len + udp::HEADER_LEN;
        let end = ip.header_len + usize::from(u.len);
        if let Some(app) = app {
            let from = (ip.src, u.src_port);
            if pkt.data.len() < end {
                return self.drop_pkt(dev, pkt, DropReason::PktTooSmall);
            }
            // The application reads the datagram at once: its journey ends in the socket.
            let echo = self.udp_app_recv(app);
            let req = pkt.id;
            let mut pkt = pkt;
            let mut data = std::mem::take(&mut pkt.data);
            self.deliver(pkt);
            if echo {
                // The reply is built in the request's buffer: its payload stays where it is,
                // behind the room for the UDP header.
                data.truncate(end);
                data.drain(..start - udp::HEADER_LEN);
                let before = self.last_pkt_id();
                self.udp_app_echo(app, from, data);
                // The journal links the echo to the datagram it answers (its first packet).
                if self.journal_on() && self.last_pkt_id() > before {
                    self.note_caused(req, dev, before + 1, Cause::EchoReply);
                }
            }
            return;
        }
        let mut pkt = pkt;
        pkt.data.truncate(end);
        pkt.data.drain(..start);
        self.vxlan_rcv(dev, ns, ip, u.dst_port, pkt)
    }

    /// `udp_sendmsg()` on an unconnected socket bound to `sport` on the wildcard address:
    /// the route picks the source, the checksum is computed over it (`udp_send_skb`), DF as
    /// IP_PMTUDISC_WANT sets it. `d` holds room for the UDP header (filled here), then the
    /// payload; a buffer from `udp_buf`, with room for the IP and Ethernet headers in front,
    /// goes out without another allocation.
    pub fn udp_sendmsg(
        &mut self,
        ns: NsId,
        sport: u16,
        dst: (Ipv4Addr, u16),
        mut d: Vec<u8>,
    ) -> Result<(), OutError> {
        let len = (d.len() as u16).to_be_bytes();
        let Some(h) = d.get_mut(..udp::HEADER_LEN) else {
            return Err(OutError::Invalid);
        };
        h[0..2].copy_from_slice(&sport.to_be_bytes());
        h[2..4].copy_from_slice(&dst.1.to_be_bytes());
        h[4..6].copy_from_slice(&len);
        h[6..8].copy_from_slice(&[0, 0]);
        let send = LocalSend {
            proto: ipv4::PROTO_UDP,
            tos: 0,
            src: None,
            df_if_fits: true,
            payload: d,
        };
        self.ip_send_local(ns, dst.0, send, None)?;
        // `udp_send_skb`: counted once IP took it (a route error is counted as IpOutNoRoutes).
        self.ns[ns].count(Nstat::UdpOutDatagrams);
        Ok(())
    }

    /// Binds `port` in `ns` for application `app`; None when the port is taken (EADDRINUSE).
    /// Port 0 takes an ephemeral port: `udp_lib_get_port` draws a random start in
    /// `EPHEMERAL_PORTS` and takes it when free. When it is not, the kernel steps by an odd
    /// multiple of its hash size and sim by one: the ports differ only after a collision.
    pub fn udp_bind(&mut self, ns: NsId, port: u16, app: usize) -> Option<u16> {
        use rand::Rng;
        let taken = |w: &World, p: u16| {
            w.ns[ns].udp_socks.contains_key(&p)
                || w.ns[ns].devs.iter().any(|&d| {
                    matches!(w.devs[d].kind, DevKind::Vxlan { idx } if w.vxlans[idx].dst_port == p)
                })
        };
        let port = if port == 0 {
            let (lo, hi) = (*EPHEMERAL_PORTS.start(), *EPHEMERAL_PORTS.end());
            let first = self.engine.rng.gen_range(lo..=hi);
            (first..=hi).chain(lo..first).find(|&p| !taken(self, p))?
        } else if taken(self, port) {
            return None;
        } else {
            port
        };
        self.ns[ns].udp_socks.insert(port, app);
        Some(port)
    }
}
