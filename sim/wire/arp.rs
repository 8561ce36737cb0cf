//! ARP for IPv4 over Ethernet (RFC 826), 28 bytes. etherparse has no ARP type, so this is the view.

use std::net::Ipv4Addr;

pub const LEN: usize = 28;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// Why an ARP packet was not parsed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArpError {
    Truncated,
    /// htype/ptype/hlen/plen other than Ethernet/IPv4 (`arp_process` drops these).
    Unsupported,
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ArpRepr {
    pub op: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

fn mac_at(b: &[u8], at: usize) -> [u8; 6] {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    m
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

impl ArpRepr {
    /// Parses the ARP payload of an Ethernet frame.
    pub fn parse(b: &[u8]) -> Result<ArpRepr, ArpError> {
        if b.len() < LEN {
            return Err(ArpError::Truncated);
        }
        let be16 = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
        if be16(field::HTYPE) != 1
            || be16(field::PTYPE) != 0x0800
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(ArpError::Unsupported);
        }
        Ok(ArpRepr {
            op: be16(field::OPER),
            sha: mac_at(b, field::SHA),
            spa: ip_at(b, field::SPA),
            tha: mac_at(b, field::THA),
            tpa: ip_at(b, field::TPA),
        })
    }

    /// The reply to this request from `mac`, claiming the asked-for address (R5.1, R6.2: a proxy
    /// reply looks the same, with the receiving interface's MAC).
    pub fn reply(&self, mac: [u8; 6]) -> ArpRepr {
        ArpRepr {
            op: OP_REPLY,
            sha: mac,
            spa: self.tpa,
            tha: self.sha,
            tpa: self.spa,
        }
    }

    /// The 28 bytes, as `arp_create()` lays them out.
    pub fn emit(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[field::HTYPE..field::HTYPE + 2].copy_from_slice(&1u16.to_be_bytes());
        b[field::PTYPE..field::PTYPE + 2].copy_from_slice(&0x0800u16.to_be_bytes());
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        b[field::OPER..field::OPER + 2].copy_from_slice(&self.op.to_be_bytes());
        b[field::SHA..field::SHA + 6].copy_from_slice(&self.sha);
        b[field::SPA..field::SPA + 4].copy_from_slice(&self.spa.octets());
        b[field::THA..field::THA + 6].copy_from_slice(&self.tha);
        b[field::TPA..field::TPA + 4].copy_from_slice(&self.tpa.octets());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_match_linux() {
        // R5.1, `Request who-has 10.244.1.3 tell 10.244.1.2` from be:e6:26:4a:2a:d8.
        let r = ArpRepr {
            op: OP_REQUEST,
            sha: [0xbe, 0xe6, 0x26, 0x4a, 0x2a, 0xd8],
            spa: Ipv4Addr::new(10, 244, 1, 2),
            tha: [0; 6],
            tpa: Ipv4Addr::new(10, 244, 1, 3),
        };
        let b = r.emit();
        let expected = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0xbe, 0xe6, 0x26, 0x4a, 0x2a, 0xd8, 10,
            244, 1, 2, 0, 0, 0, 0, 0, 0, 10, 244, 1, 3,
        ];
        assert_eq!(b, expected);
        assert_eq!(ArpRepr::parse(&b), Ok(r));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let b = ArpRepr {
            op: OP_REPLY,
            sha: [1; 6],
            spa: Ipv4Addr::new(1, 2, 3, 4),
            tha: [2; 6],
            tpa: Ipv4Addr::new(5, 6, 7, 8),
        }
        .emit();
        for n in 0..LEN {
            assert_eq!(ArpRepr::parse(&b[..n]), Err(ArpError::Truncated));
        }
        let mut bad = b;
        bad[1] = 6; // htype 6 (IEEE 802)
        assert_eq!(ArpRepr::parse(&bad), Err(ArpError::Unsupported));
    }
}
