//! UDP headers over IPv4: parse with the length and checksum checks of `__udp4_lib_rcv()`, and
//! build with the checksum the kernel computes (or 0, "no checksum", when asked).

use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 8;

/// A parsed UDP header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// UDP length (header + payload).
    pub len: u16,
    pub checksum: u16,
}

/// Why a UDP datagram was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UdpError {
    /// Shorter than its header or than its length field says (`PKT_TOO_SMALL`).
    Truncated,
    /// The checksum is non-zero and wrong (`UDP_CSUM`).
    BadChecksum,
}

/// The checksum over the IPv4 pseudo-header and the datagram (`csum_tcpudp_magic`).
fn pseudo_checksum(src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> u16 {
    let (s, d) = (src.octets(), dst.octets());
    let len = (datagram.len() as u16).to_be_bytes();
    let pseudo = [
        s[0],
        s[1],
        s[2],
        s[3],
        d[0],
        d[1],
        d[2],
        d[3],
        0,
        super::ipv4::PROTO_UDP,
        len[0],
        len[1],
    ];
    // The 12-byte pseudo-header is even, so the datagram's words keep their alignment.
    !super::fold_sum(super::sum_words(&pseudo) + super::sum_words(datagram))
}

impl UdpRepr {
    /// Parses the datagram that follows an IPv4 header from `src` to `dst`.
    pub fn parse(src: Ipv4Addr, dst: Ipv4Addr, d: &[u8]) -> Result<UdpRepr, UdpError> {
        if d.len() < HEADER_LEN {
            return Err(UdpError::Truncated);
        }
        let len = u16::from_be_bytes([d[4], d[5]]);
        if usize::from(len) < HEADER_LEN || usize::from(len) > d.len() {
            return Err(UdpError::Truncated);
        }
        let checksum = u16::from_be_bytes([d[6], d[7]]);
        // 0 means the sender computed none (RFC 768); otherwise the sum must come out 0.
        if checksum != 0 && pseudo_checksum(src, dst, &d[..usize::from(len)]) != 0 {
            return Err(UdpError::BadChecksum);
        }
        Ok(UdpRepr {
            src_port: u16::from_be_bytes([d[0], d[1]]),
            dst_port: u16::from_be_bytes([d[2], d[3]]),
            len,
            checksum,
        })
    }
}

/// `udp_manip_pkt()` / `tcp_manip_pkt()`: the source (`src`) or destination port becomes
/// `port`, and the checksum, when there is one, follows incrementally: first the pseudo-header
/// address `old_addr` -> `new_addr`, then the port. `d` is the transport header onwards, maybe
/// only its first 8 bytes (quoted in an ICMP error). UDP: a checksum of 0 means none and stays
/// 0, a result of 0 is sent as 0xffff (`CSUM_MANGLED_0`). TCP: the checksum (at 16) is only
/// updated when the whole 20-byte header is there. None if `d` is shorter than 8 bytes.
pub fn nat_set_port(
    d: &mut [u8],
    proto: u8,
    src: bool,
    port: u16,
    old_addr: Ipv4Addr,
    new_addr: Ipv4Addr,
) -> Option<()> {
    if d.len() < HEADER_LEN {
        return None;
    }
    let at = if src { 0 } else { 2 };
    let old_port = [d[at], d[at + 1]];
    let csum_at = match proto {
        super::ipv4::PROTO_UDP if d[6..8] != [0, 0] => Some(6),
        super::ipv4::PROTO_TCP if d.len() >= TCP_HEADER_LEN => Some(16),
        _ => None,
    };
    if let Some(c) = csum_at {
        let check = u16::from_be_bytes([d[c], d[c + 1]]);
        let check = super::csum_replace(check, &old_addr.octets(), &new_addr.octets());
        let mut check = super::csum_replace(check, &old_port, &port.to_be_bytes());
        if proto == super::ipv4::PROTO_UDP && check == 0 {
            check = 0xffff;
        }
        d[c..c + 2].copy_from_slice(&check.to_be_bytes());
    }
    d[at..at + 2].copy_from_slice(&port.to_be_bytes());
    Some(())
}

/// TCP's minimal header length (the simulator sends no TCP; NAT still rewrites it as the
/// kernel would).
const TCP_HEADER_LEN: usize = 20;

/// A datagram: header then `payload`, checksummed unless `no_checksum` (`udp_set_csum`: a
/// computed 0 is sent as 0xffff).
pub fn datagram(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
    no_checksum: bool,
) -> Vec<u8> {
    let len = (HEADER_LEN + payload.len()) as u16;
    let mut d = Vec::with_capacity(usize::from(len));
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&len.to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    if !no_checksum {
        let c = match pseudo_checksum(src, dst, &d) {
            0 => 0xffff,
            c => c,
        };
        d[6..8].copy_from_slice(&c.to_be_bytes());
    }
    d
}

/// Fills in the checksum of `d`, a whole datagram from `src` to `dst` whose checksum field
/// is still 0 (`udp4_hwcsum` done in software; 0 goes out as 0xffff).
pub fn fill_checksum(d: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) {
    if d.len() < HEADER_LEN {
        return;
    }
    let c = match pseudo_checksum(src, dst, d) {
        0 => 0xffff,
        c => c,
    };
    d[6..8].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_etherparse_and_verifies() {
        let (s, d) = (Ipv4Addr::new(10, 211, 55, 5), Ipv4Addr::new(10, 211, 55, 6));
        let payload = [1u8, 2, 3, 4, 5];
        let dg = datagram(s, d, 35840, 4789, &payload, false);
        let h = etherparse::UdpHeader::with_ipv4_checksum(
            35840,
            4789,
            &etherparse::Ipv4Header::new(13, 64, etherparse::IpNumber::UDP, s.octets(), d.octets())
                .unwrap(),
            &payload,
        )
        .unwrap();
        assert_eq!(&dg[..8], &h.to_bytes());
        let r = UdpRepr::parse(s, d, &dg).unwrap();
        assert_eq!((r.src_port, r.dst_port, r.len), (35840, 4789, 13));
        let mut bad = dg.clone();
        bad[9] ^= 1;
        assert_eq!(UdpRepr::parse(s, d, &bad), Err(UdpError::BadChecksum));
        let zero = datagram(s, d, 1, 2, &payload, true);
        assert_eq!(&zero[6..8], &[0, 0]);
        assert!(UdpRepr::parse(s, d, &zero).is_ok());
    }

    #[test]
    fn nat_port_and_address_update_matches_a_fresh_checksum() {
        // SNAT 10.42.1.11:40000 -> 10.211.55.5:1234: the incremental update must give what
        // computing the checksum afresh for the new addresses and port gives.
        let (s, d) = (Ipv4Addr::new(10, 42, 1, 11), Ipv4Addr::new(10, 211, 55, 6));
        let n = Ipv4Addr::new(10, 211, 55, 5);
        let payload = [9u8, 8, 7, 6, 5, 4, 3];
        let mut dg = datagram(s, d, 40000, 53, &payload, false);
        nat_set_port(&mut dg, super::super::ipv4::PROTO_UDP, true, 1234, s, n).unwrap();
        assert_eq!(dg, datagram(n, d, 1234, 53, &payload, false));
        // No checksum stays no checksum.
        let mut z = datagram(s, d, 40000, 53, &payload, true);
        nat_set_port(&mut z, super::super::ipv4::PROTO_UDP, true, 1234, s, n).unwrap();
        assert_eq!(&z[6..8], &[0, 0]);
        assert_eq!(&z[0..2], &1234u16.to_be_bytes());
    }
}
