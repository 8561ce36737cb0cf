//! A packet in flight: its bytes plus the identity the simulator tracks it by.

/// Which ping (application index) and echo sequence a packet belongs to, carried from the
/// request to the reply and to any ICMP error it causes, so drops can be attributed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FlowTag {
    pub app: u32,
    pub seq: u16,
}

/// Bytes in flight. `data` is a whole frame on Ethernet wires, an IP packet elsewhere.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pkt {
    /// Journey id: unique per packet; kept across encapsulation, new for copies (flooding).
    pub id: u64,
    pub tag: Option<FlowTag>,
    pub data: Vec<u8>,
    /// `skb->_nfct`: its tracked connection while inside one netns (None when untracked, and
    /// always once it leaves the netns, as `skb_scrub_packet` resets it).
    pub ct: Option<crate::netns::nat::SkbCt>,
    /// `IPCB(skb)->frag_max_size`: for a datagram conntrack reassembled, its largest fragment,
    /// to which it is fragmented again on output (0: none).
    pub frag_max_size: u32,
}
