//! Ethernet II frames: the 14-byte header, no padding and no FCS (as captured on veth).

pub const HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// A parsed Ethernet header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EthRepr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: u16,
}

impl EthRepr {
    /// Parses the header; None if the frame is shorter than 14 bytes.
    pub fn parse(frame: &[u8]) -> Option<EthRepr> {
        let h = etherparse::Ethernet2HeaderSlice::from_slice(frame).ok()?;
        Some(EthRepr {
            dst: h.destination(),
            src: h.source(),
            ethertype: h.ether_type().0,
        })
    }

    /// The 14 header bytes.
    pub fn bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0; HEADER_LEN];
        h[0..6].copy_from_slice(&self.dst);
        h[6..12].copy_from_slice(&self.src);
        h[12..14].copy_from_slice(&self.ethertype.to_be_bytes());
        h
    }

    /// Puts this header in front of the packet in `buf`, in place: a buffer that lost its
    /// header on receive still has the room (no allocation per forwarding hop).
    pub fn push_header(&self, buf: &mut Vec<u8>) {
        let n = buf.len();
        buf.resize(n + HEADER_LEN, 0);
        buf.copy_within(0..n, HEADER_LEN);
        buf[..HEADER_LEN].copy_from_slice(&self.bytes());
    }

    /// A frame: this header followed by `payload`.
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER_LEN + payload.len());
        v.extend_from_slice(&self.bytes());
        v.extend_from_slice(payload);
        v
    }
}

/// True for group addresses (broadcast included): the I/G bit.
pub fn is_multicast(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = EthRepr {
            dst: BROADCAST,
            src: [0x0a, 0x58, 0x0a, 0x2a, 0x01, 0x0b],
            ethertype: ETHERTYPE_ARP,
        };
        let f = e.frame(&[1, 2, 3]);
        assert_eq!(
            &f[..14],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x58, 0x0a, 0x2a, 0x01, 0x0b, 0x08, 0x06]
        );
        assert_eq!(EthRepr::parse(&f), Some(e));
        let theirs = etherparse::Ethernet2Header {
            source: e.src,
            destination: e.dst,
            ether_type: etherparse::EtherType(e.ethertype),
        };
        assert_eq!(e.bytes(), theirs.to_bytes());
        assert_eq!(EthRepr::parse(&f[..13]), None);
        let mut b = vec![1, 2, 3];
        e.push_header(&mut b);
        assert_eq!(b, f);
    }
}
