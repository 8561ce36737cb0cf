//! IPv4 headers: parse with the receive-path checks of `ip_rcv_core()`, build, and the in-place
//! edits routers make (TTL decrement with the kernel's incremental checksum).

use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 20;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_UDP: u8 = 17;

/// Why an IPv4 packet failed the receive checks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ipv4Error {
    /// Shorter than its header or its total length (`PKT_TOO_SMALL`).
    Truncated,
    /// Version not 4, IHL < 5, or total length below the header (`IP_INHDR`).
    BadHeader,
    /// Header checksum fails (`IP_CSUM`).
    BadChecksum,
}

/// The IPv4 header fields the simulator reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ipv4Repr {
    pub tos: u8,
    pub total_len: u16,
    pub id: u16,
    pub df: bool,
    pub mf: bool,
    /// Fragment offset in 8-byte units.
    pub frag_off: u16,
    pub ttl: u8,
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Header length in bytes (options included).
    pub header_len: usize,
}

impl Ipv4Repr {
    /// Parses and validates a header as `ip_rcv_core()` does.
    pub fn parse(p: &[u8]) -> Result<Ipv4Repr, Ipv4Error> {
        if p.len() < HEADER_LEN {
            return Err(Ipv4Error::Truncated);
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        if p[0] >> 4 != 4 || ihl < HEADER_LEN {
            return Err(Ipv4Error::BadHeader);
        }
        if p.len() < ihl {
            return Err(Ipv4Error::Truncated);
        }
        if super::checksum(&p[..ihl]) != 0 {
            return Err(Ipv4Error::BadChecksum);
        }
        let total_len = u16::from_be_bytes([p[2], p[3]]);
        if usize::from(total_len) > p.len() {
            return Err(Ipv4Error::Truncated);
        }
        if usize::from(total_len) < ihl {
            return Err(Ipv4Error::BadHeader);
        }
        let flags = u16::from_be_bytes([p[6], p[7]]);
        Ok(Ipv4Repr {
            tos: p[1],
            total_len,
            id: u16::from_be_bytes([p[4], p[5]]),
            df: flags & 0x4000 != 0,
            mf: flags & 0x2000 != 0,
            frag_off: flags & 0x1fff,
            ttl: p[8],
            proto: p[9],
            src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
            header_len: ihl,
        })
    }

    /// Reads the addresses and protocol without validating (for summaries of any bytes).
    pub fn peek(p: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8)> {
        if p.len() < HEADER_LEN || p[0] >> 4 != 4 {
            return None;
        }
        Some((
            Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            Ipv4Addr::new(p[16], p[17], p[18], p[19]),
            p[9],
        ))
    }
}

/// What a locally built header carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ipv4Build {
    pub tos: u8,
    pub id: u16,
    pub df: bool,
    pub ttl: u8,
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl Ipv4Build {
    /// A packet: a 20-byte header (checksum computed) followed by `payload`.
    pub fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let total = HEADER_LEN + payload.len();
        let mut h = etherparse::Ipv4Header {
            dscp: etherparse::Ipv4Dscp::try_new(self.tos >> 2).unwrap_or_default(),
            ecn: etherparse::Ipv4Ecn::try_new(self.tos & 3).unwrap_or_default(),
            total_len: u16::try_from(total).unwrap_or(u16::MAX),
            identification: self.id,
            dont_fragment: self.df,
            more_fragments: false,
            fragment_offset: etherparse::IpFragOffset::ZERO,
            time_to_live: self.ttl,
            protocol: etherparse::IpNumber(self.proto),
            header_checksum: 0,
            source: self.src.octets(),
            destination: self.dst.octets(),
            options: Default::default(),
        };
        h.header_checksum = h.calc_header_checksum();
        let mut v = Vec::with_capacity(total + 14);
        v.extend_from_slice(&h.to_bytes());
        v.extend_from_slice(payload);
        v
    }
}

/// `ip_decrease_ttl()`: TTL - 1 with the kernel's incremental checksum update (RFC 1141 style,
/// which can leave 0xffff where a full recomputation would give 0x0000; captures show the same).
pub fn decrease_ttl(p: &mut [u8]) -> u8 {
    let mut check = u32::from(u16::from_be_bytes([p[10], p[11]]));
    check += 0x0100;
    let check = (check + u32::from(check >= 0xffff)) as u16;
    p[10..12].copy_from_slice(&check.to_be_bytes());
    p[8] = p[8].wrapping_sub(1);
    p[8]
}

/// Rewrites the source or destination address and recomputes the header checksum.
pub fn set_addrs(p: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    refresh_checksum(p);
}

/// Recomputes the header checksum in place.
pub fn refresh_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    p[10] = 0;
    p[11] = 0;
    let c = super::checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        Ipv4Build {
            tos: 0,
            id: 0x1c46,
            df: true,
            ttl: 64,
            proto: PROTO_ICMP,
            src: Ipv4Addr::new(10, 42, 1, 11),
            dst: Ipv4Addr::new(10, 42, 2, 11),
        }
        .packet(&[0u8; 64])
    }

    #[test]
    fn build_parse_round_trip_with_valid_checksum() {
        let p = sample();
        assert_eq!(p.len(), 84);
        assert_eq!(crate::wire::checksum(&p[..20]), 0);
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(
            (r.ttl, r.df, r.id, r.total_len, r.proto),
            (64, true, 0x1c46, 84, 1)
        );
        // Flags/fragment word is 0x4000 for DF, as in captures.
        assert_eq!(&p[6..8], &[0x40, 0x00]);
    }

    #[test]
    fn decrease_ttl_keeps_checksum_valid() {
        let mut p = sample();
        for ttl in (1..64).rev() {
            assert_eq!(decrease_ttl(&mut p), ttl);
            assert_eq!(crate::wire::checksum(&p[..20]), 0, "ttl {ttl}");
        }
    }

    #[test]
    fn receive_checks() {
        let p = sample();
        for n in 0..20 {
            assert_eq!(Ipv4Repr::parse(&p[..n]), Err(Ipv4Error::Truncated));
        }
        assert_eq!(Ipv4Repr::parse(&p[..83]), Err(Ipv4Error::Truncated));
        let mut bad = p.clone();
        bad[10] ^= 1;
        assert_eq!(Ipv4Repr::parse(&bad), Err(Ipv4Error::BadChecksum));
        let mut v6 = p;
        v6[0] = 0x65;
        assert_eq!(Ipv4Repr::parse(&v6), Err(Ipv4Error::BadHeader));
    }
}
