//! Devices: loopback, veth, NICs on an underlay segment, the ipip fallback tunl0, Linux bridges
//! and VXLAN devices. Each device decides what happens to a frame it transmits and returns that
//! to the world as an action.

pub mod bridge;
pub mod segment;
pub mod vxlan;

use crate::drop::DropReason;
use crate::time::Duration;
use std::net::Ipv4Addr;

/// Index of a device in the world's device arena.
pub type DevId = usize;
/// Index of a network namespace.
pub type NsId = usize;

/// What a device is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DevKind {
    Loopback,
    /// One end of a veth pair; the peer may be in another netns.
    Veth {
        peer: DevId,
    },
    /// A NIC attached to an underlay L2 segment (a learning switch).
    Nic {
        segment: usize,
    },
    /// The ipip fallback device tunl0 (ARPHRD_TUNNEL, NOARP, no link-layer header).
    Ipip,
    /// A Linux bridge; its state is `World::bridges[idx]`.
    Bridge {
        idx: usize,
    },
    /// A VXLAN device; its state is `World::vxlans[idx]`.
    Vxlan {
        idx: usize,
    },
}

/// An IPv4 address on a device (`struct in_ifaddr`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IfAddr {
    pub addr: Ipv4Addr,
    pub len: u8,
    pub scope: u8,
    /// Explicit `brd` given at `ip addr add`.
    pub brd: Option<Ipv4Addr>,
    /// Another address of the same subnet was there first (IFA_F_SECONDARY).
    pub secondary: bool,
}

/// Per-device IPv4 sysctls (`/proc/sys/net/ipv4/conf/DEV/*`) and neighbour parameters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DevConf {
    pub forwarding: bool,
    pub rp_filter: u8,
    pub proxy_arp: bool,
    pub accept_local: bool,
    pub send_redirects: bool,
    pub route_localnet: bool,
    pub log_martians: bool,
    /// `neigh/DEV/proxy_delay`, 0.8 s by default; Calico sets 0.
    pub proxy_delay: Duration,
}

impl Default for DevConf {
    /// Kernel defaults in a fresh netns (linux-semantics.md §0).
    fn default() -> Self {
        DevConf {
            forwarding: false,
            rp_filter: 0,
            proxy_arp: false,
            accept_local: false,
            send_redirects: true,
            route_localnet: false,
            log_martians: false,
            proxy_delay: Duration::from_ms(800),
        }
    }
}

/// Interface counters as `ip -s link` reports them.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct DevStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// A network device.
#[derive(Clone, Debug)]
pub struct Device {
    pub ns: NsId,
    pub ifindex: u32,
    pub name: String,
    pub kind: DevKind,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub admin_up: bool,
    pub addrs: Vec<IfAddr>,
    pub conf: DevConf,
    /// Index of this device's capture interface, when captured.
    pub capture: Option<usize>,
    /// This device's neighbour reachable_time, drawn uniformly from [15 s, 45 s) (R5.5).
    pub reachable_time: Duration,
    pub stats: DevStats,
    /// One-way delay of the wire behind this device (veth: to the peer).
    pub delay: Duration,
    /// The bridge this device is a port of (`ip link set DEV master BR`).
    pub master: Option<DevId>,
}

impl Device {
    /// Devices that never resolve neighbours (IFF_NOARP).
    pub fn is_noarp(&self) -> bool {
        matches!(self.kind, DevKind::Ipip | DevKind::Loopback)
    }

    pub fn has_ethernet_header(&self) -> bool {
        !matches!(self.kind, DevKind::Ipip)
    }

    /// Primary addresses, in the order they were added.
    pub fn primary_addrs(&self) -> impl Iterator<Item = &IfAddr> {
        self.addrs.iter().filter(|a| !a.secondary)
    }
}

/// What a veth does with a frame its end transmits (`veth_xmit()`, R7.2).
pub fn veth_xmit(frame_len: usize, peer: &Device) -> Result<(), DropReason> {
    if !peer.admin_up {
        return Err(DropReason::DevReady);
    }
    // The receive side accepts MTU + Ethernet header + a 4-byte VLAN slack (`is_skb_forwardable`).
    if frame_len > peer.mtu as usize + 14 + 4 {
        return Err(DropReason::PktTooBig);
    }
    Ok(())
}
