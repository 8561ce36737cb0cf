//! ICMPv4 messages: echo request/reply and errors, checksums always computed (as the kernel does).

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACH: u8 = 3;
pub const SOURCE_QUENCH: u8 = 4;
pub const REDIRECT: u8 = 5;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
pub const PARAMETER_PROBLEM: u8 = 12;

pub const NET_UNREACH: u8 = 0;
pub const HOST_UNREACH: u8 = 1;
pub const PROT_UNREACH: u8 = 2;
pub const PORT_UNREACH: u8 = 3;
pub const FRAG_NEEDED: u8 = 4;
pub const PKT_FILTERED: u8 = 13;

/// A parsed ICMP message: type, code, the 4 "rest of header" bytes and the body.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IcmpRepr<'a> {
    pub icmp_type: u8,
    pub code: u8,
    pub rest: [u8; 4],
    pub body: &'a [u8],
}

impl<'a> IcmpRepr<'a> {
    /// Parses and verifies the checksum; None if truncated or the checksum is bad.
    pub fn parse(b: &'a [u8]) -> Option<IcmpRepr<'a>> {
        if b.len() < 8 || super::checksum(b) != 0 {
            return None;
        }
        Some(IcmpRepr {
            icmp_type: b[0],
            code: b[1],
            rest: [b[4], b[5], b[6], b[7]],
            body: &b[8..],
        })
    }

    /// Echo identifier and sequence (for echo request/reply).
    pub fn echo_id_seq(&self) -> (u16, u16) {
        (
            u16::from_be_bytes([self.rest[0], self.rest[1]]),
            u16::from_be_bytes([self.rest[2], self.rest[3]]),
        )
    }

    /// True for the error classes `icmp_pointers[].error` marks (never answered with an error).
    pub fn is_error(&self) -> bool {
        is_error_type(self.icmp_type)
    }
}

/// ICMP types that are errors (`icmp.c: icmp_pointers[].error`).
pub fn is_error_type(t: u8) -> bool {
    matches!(
        t,
        DEST_UNREACH | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAMETER_PROBLEM
    )
}

/// ICMP query types, whose bytes 4..6 are an identifier (`invmap` of the ICMP conntrack).
pub fn is_query_type(t: u8) -> bool {
    matches!(t, ECHO_REPLY | ECHO_REQUEST | 13..=18)
}

/// `icmp_manip_pkt()`: a query message's identifier becomes `id`, its checksum follows
/// incrementally (`inet_proto_csum_replace2`); other types are left alone. `msg` may be only
/// the 8-byte header (as quoted in an error). None if shorter than that.
pub fn nat_set_id(msg: &mut [u8], id: u16) -> Option<()> {
    let h = msg.get_mut(..8)?;
    if !is_query_type(h[0]) {
        return Some(());
    }
    let check = u16::from_be_bytes([h[2], h[3]]);
    let check = super::csum_replace(check, &h[4..6], &id.to_be_bytes());
    h[2..4].copy_from_slice(&check.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    Some(())
}

/// Recomputes the checksum of a whole ICMP message in place.
pub fn refresh_checksum(msg: &mut [u8]) {
    if msg.len() < 4 {
        return;
    }
    msg[2] = 0;
    msg[3] = 0;
    let c = super::checksum(msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
}

/// The bytes of an ICMP message with its checksum filled in.
pub fn emit(icmp_type: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&[icmp_type, code, 0, 0]);
    v.extend_from_slice(&rest);
    v.extend_from_slice(body);
    let c = super::checksum(&v);
    v[2..4].copy_from_slice(&c.to_be_bytes());
    v
}

/// An echo request or reply.
pub fn emit_echo(icmp_type: u8, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let i = id.to_be_bytes();
    let s = seq.to_be_bytes();
    emit(icmp_type, 0, [i[0], i[1], s[0], s[1]], data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_matches_iputils_header_bytes() {
        // R11.3: type 8, code 0, checksum, id 0x6fae, seq 1.
        let data: Vec<u8> = (0u8..56).collect();
        let m = emit_echo(ECHO_REQUEST, 0x6fae, 1, &data);
        assert_eq!(&m[0..2], &[8, 0]);
        assert_eq!(&m[4..8], &[0x6f, 0xae, 0x00, 0x01]);
        let r = IcmpRepr::parse(&m).unwrap();
        assert_eq!(r.echo_id_seq(), (0x6fae, 1));
        assert_eq!(r.body.len(), 56);
        let mut bad = m.clone();
        bad[20] ^= 0xff;
        assert!(IcmpRepr::parse(&bad).is_none());
    }
}
