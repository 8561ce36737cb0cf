//! The neighbour table: ARP entries, their NUD state machine and the packets waiting on them.

/// NUD states (`include/uapi/linux/neighbour.h`), R5.2.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum NudState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
    Noarp,
    Permanent,
    None,
}

impl NudState {
    /// The upper-case word `ip neigh` prints.
    pub fn name(self) -> &'static str {
        match self {
            NudState::Incomplete => "INCOMPLETE",
            NudState::Reachable => "REACHABLE",
            NudState::Stale => "STALE",
            NudState::Delay => "DELAY",
            NudState::Probe => "PROBE",
            NudState::Failed => "FAILED",
            NudState::Noarp => "NOARP",
            NudState::Permanent => "PERMANENT",
            NudState::None => "NONE",
        }
    }
}

use crate::dev::DevId;
use crate::packet::Pkt;
use crate::time::Instant;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// `unres_qlen_bytes` (212992) divided by a small skb's truesize: about 101 packets (R5.3).
pub const UNRES_QLEN: usize = 101;
/// `ucast_solicit` and `mcast_solicit`.
pub const UCAST_SOLICIT: u32 = 3;
pub const MCAST_SOLICIT: u32 = 3;

/// One neighbour entry.
#[derive(Clone, Debug)]
pub struct NeighEntry {
    pub lladdr: Option<[u8; 6]>,
    pub state: NudState,
    /// Bumped on every state change; a timer event carrying an older value is stale.
    pub gen: u64,
    /// Solicitations sent in the current resolution or probe cycle.
    pub probes: u32,
    /// Packets waiting for resolution (IP packets; the L2 header is added on resolution).
    pub queue: VecDeque<Pkt>,
    pub updated: Instant,
    pub confirmed: Instant,
    /// The local table's version when the neighbour layer last found this address neither
    /// broadcast nor multicast (`u64::MAX`, no version: not yet): a stream of packets asks
    /// the table once.
    pub unicast_at: u64,
}

impl NeighEntry {
    pub fn new(state: NudState, lladdr: Option<[u8; 6]>, now: Instant) -> Self {
        NeighEntry {
            lladdr,
            state,
            gen: 0,
            probes: 0,
            queue: VecDeque::new(),
            updated: now,
            confirmed: now,
            unicast_at: u64::MAX,
        }
    }

    /// States in which the cached address may be used to send (NUD_VALID).
    pub fn is_valid(&self) -> bool {
        matches!(
            self.state,
            NudState::Reachable
                | NudState::Stale
                | NudState::Delay
                | NudState::Probe
                | NudState::Permanent
                | NudState::Noarp
        )
    }
}

/// The ARP table of one netns, keyed by (device, address): a hash, looked up on every
/// output; whoever lists it sorts by the key.
#[derive(Clone, Debug, Default)]
pub struct NeighTable {
    pub entries: rustc_hash::FxHashMap<(DevId, Ipv4Addr), NeighEntry>,
}
