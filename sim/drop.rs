//! DropReason: the only place that says why a packet dies, in the kernel's words.

use std::fmt;

/// Why a packet was dropped. Variants are the suffixes of the kernel's `SKB_DROP_REASON_*`
/// (include/net/dropreason-core.h); the few the kernel has no name for are marked sim-only.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum DropReason {
    /// L2 destination is another host's MAC (`eth_type_trans` set PACKET_OTHERHOST).
    Otherhost,
    /// Truncated frame or header.
    PktTooSmall,
    /// IPv4 header checksum does not verify.
    IpCsum,
    /// Bad IPv4 header (version, ihl, length), or TTL expired while forwarding.
    IpInhdr,
    /// Reverse-path filter rejected the source (`fib_validate_source` returned -EXDEV).
    IpRpfilter,
    /// Martian source: one of our own addresses, or a non-unicast reverse route.
    IpInvalidSource,
    /// No route while forwarding (or a route type that refuses: unreachable, prohibit, blackhole).
    IpInnoroutes,
    /// Input device has forwarding=0 and the packet is not for us (IpInAddrErrors).
    IpInaddrerrors,
    /// No route for a locally generated packet.
    IpOutnoroutes,
    /// Locally delivered packet of a protocol nobody listens to.
    IpNoproto,
    /// Neighbour resolution failed (3 ARP probes unanswered).
    NeighFailed,
    /// Unresolved-neighbour queue overflowed; the oldest packet is dropped.
    NeighQueuefull,
    /// Packet larger than the path MTU with DF set.
    PktTooBig,
    /// IPv4 fragment lying wholly inside data already queued for reassembly (`IPFRAG_DUP`).
    DupFrag,
    /// Fragment freed when its reassembly queue timed out (`ip_expire`, `ipfrag_time`).
    FragReasmTimeout,
    /// Fragment flushed because more than `ipfrag_max_dist` fragments from its source arrived
    /// since the queue's previous one (`ip_frag_reinit`).
    FragTooFar,
    /// Ethertype the stack does not handle.
    UnhandledProto,
    /// Device is down or not ready (veth peer down, no carrier).
    DevReady,
    /// ICMP packet with a bad checksum.
    IcmpCsum,
    /// Socket not found for a delivered packet (e.g. echo reply nobody waits for).
    NoSocket,
    /// A UDP datagram's checksum is wrong.
    UdpCsum,
    /// A VXLAN header without the I flag or with reserved bits set.
    VxlanInvalidHdr,
    /// No VXLAN device for the VNI on the port.
    VxlanVniNotFound,
    /// A multicast or all-zero source MAC (bridge ingress, VXLAN decap).
    MacInvalidSource,
    /// VXLAN decap: the inner source MAC is the device's own (a loop).
    LocalMac,
    /// VXLAN learning: a frame from another VTEP claims a MAC with a permanent FDB entry.
    VxlanEntryExists,
    /// VXLAN transmit: no FDB entry (nor a default one) for the inner destination MAC
    /// (`NO_TX_TARGET`, called `VXLAN_NO_REMOTE` before Linux 6.14).
    NoTxTarget,
    /// A netfilter hook said NF_DROP: MASQUERADE found no address on the out device ("ate my
    /// IP address"), a masqueraded connection changed its out device, or conntrack could not
    /// take the connection (`nf_hook_slow`).
    NetfilterDrop,
    /// Tunnel transmit: the outer route loops back into the tunnel (`collisions`). sim-only name.
    TunnelLoop,
    /// Frame dropped by the underlay switch because no port leads there. sim-only.
    NoLink,
    /// Catch-all the kernel also uses (`SKB_DROP_REASON_NOT_SPECIFIED`).
    NotSpecified,
}

impl DropReason {
    /// The kernel's name, as `perf trace`/dropwatch print it (without the `SKB_DROP_REASON_` prefix).
    pub fn kernel_name(self) -> &'static str {
        use DropReason::*;
        match self {
            Otherhost => "OTHERHOST",
            PktTooSmall => "PKT_TOO_SMALL",
            IpCsum => "IP_CSUM",
            IpInhdr => "IP_INHDR",
            IpRpfilter => "IP_RPFILTER",
            IpInvalidSource => "IP_INVALID_SOURCE",
            IpInnoroutes => "IP_INNOROUTES",
            IpInaddrerrors => "IP_INADDRERRORS",
            IpOutnoroutes => "IP_OUTNOROUTES",
            IpNoproto => "IP_NOPROTO",
            NeighFailed => "NEIGH_FAILED",
            NeighQueuefull => "NEIGH_QUEUEFULL",
            PktTooBig => "PKT_TOO_BIG",
            DupFrag => "DUP_FRAG",
            FragReasmTimeout => "FRAG_REASM_TIMEOUT",
            FragTooFar => "FRAG_TOO_FAR",
            UnhandledProto => "UNHANDLED_PROTO",
            DevReady => "DEV_READY",
            IcmpCsum => "ICMP_CSUM",
            NoSocket => "NO_SOCKET",
            UdpCsum => "UDP_CSUM",
            VxlanInvalidHdr => "VXLAN_INVALID_HDR",
            VxlanVniNotFound => "VXLAN_VNI_NOT_FOUND",
            MacInvalidSource => "MAC_INVALID_SOURCE",
            LocalMac => "LOCAL_MAC",
            VxlanEntryExists => "VXLAN_ENTRY_EXISTS",
            NoTxTarget => "NO_TX_TARGET",
            NetfilterDrop => "NETFILTER_DROP",
            TunnelLoop => "TUNNEL_LOOP",
            NoLink => "NO_LINK",
            NotSpecified => "NOT_SPECIFIED",
        }
    }

    /// True for reasons the kernel has no name for.
    pub fn is_sim_only(self) -> bool {
        matches!(self, DropReason::TunnelLoop | DropReason::NoLink)
    }

    /// Parses a kernel name (`IP_RPFILTER`), as scenario expectations write it.
    pub fn from_kernel_name(s: &str) -> Option<DropReason> {
        ALL.iter().copied().find(|r| r.kernel_name() == s)
    }
}

/// Every reason, for parsing and listing.
pub const ALL: [DropReason; 31] = {
    use DropReason::*;
    [
        Otherhost,
        PktTooSmall,
        IpCsum,
        IpInhdr,
        IpRpfilter,
        IpInvalidSource,
        IpInnoroutes,
        IpInaddrerrors,
        IpOutnoroutes,
        IpNoproto,
        NeighFailed,
        NeighQueuefull,
        PktTooBig,
        DupFrag,
        FragReasmTimeout,
        FragTooFar,
        UnhandledProto,
        DevReady,
        IcmpCsum,
        NoSocket,
        UdpCsum,
        VxlanInvalidHdr,
        VxlanVniNotFound,
        MacInvalidSource,
        LocalMac,
        VxlanEntryExists,
        NoTxTarget,
        NetfilterDrop,
        TunnelLoop,
        NoLink,
        NotSpecified,
    ]
};

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())?;
        if self.is_sim_only() {
            f.write_str(" (sim-only)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_are_unique_and_parse_back() {
        // Scenario expectations name reasons as the kernel does; every name must map back.
        for r in ALL {
            assert_eq!(DropReason::from_kernel_name(r.kernel_name()), Some(r));
        }
        let names: std::collections::BTreeSet<_> = ALL.iter().map(|r| r.kernel_name()).collect();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(
            DropReason::from_kernel_name("FRAG_REASM_TIMEOUT"),
            Some(DropReason::FragReasmTimeout)
        );
    }
}
