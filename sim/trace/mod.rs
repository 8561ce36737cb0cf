//! Observation: what every interface saw (for pcap/pcapng), and every drop and delivery.
//! Observes; never mutates the simulation.

pub mod journal;
pub mod ledger;
pub mod pcap;

use crate::drop::DropReason;
use crate::time::Instant;

/// The link type a capture on an interface has (libpcap's DLT for the device type).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET = 1: veth, NICs, bridges, vxlan.
    Ethernet,
    /// LINKTYPE_RAW = 101: tunl0 (ARPHRD_TUNNEL), raw IPv4 without a link-layer header.
    Raw,
}

impl LinkType {
    pub fn linktype_code(self) -> u16 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
        }
    }
}

/// Direction of a captured packet relative to the interface (pcapng epb_flags bits 0-1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    In,
    Out,
}

/// A captured interface: one pcapng interface block, one classic pcap file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CaptureIface {
    /// `<netns>/<iface>`, the name Wireshark shows.
    pub name: String,
    pub link_type: LinkType,
    /// Snapshot length; 262144 as tcpdump's default.
    pub snaplen: u32,
}

/// One packet as tcpdump would have captured it on an interface.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CapturedPacket {
    /// Index into the capture's interface list.
    pub iface: usize,
    pub ts: Instant,
    pub dir: Direction,
    pub data: Vec<u8>,
}

/// Where something happened: netns and interface names.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Place {
    pub netns: String,
    pub dev: String,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.netns, self.dev)
    }
}

/// A dropped packet: when, where, why, and a one-line summary of what it was.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DropRecord {
    pub ts: Instant,
    pub place: Place,
    pub reason: DropReason,
    pub summary: String,
}
