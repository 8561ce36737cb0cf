//! The 8-byte VXLAN header (RFC 7348, linux-semantics.md R10.1).

pub const HEADER_LEN: usize = 8;
/// The I flag: the VNI is valid.
pub const FLAG_VNI: u8 = 0x08;

/// Why a VXLAN header was refused by `vxlan_rcv()`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VxlanError {
    Truncated,
    /// No I flag, or a reserved bit set (Linux is stricter than the RFC: `VXLAN_INVALID_HDR`).
    InvalidHeader,
}

/// Parses the header; returns the VNI.
pub fn parse(h: &[u8]) -> Result<u32, VxlanError> {
    if h.len() < HEADER_LEN {
        return Err(VxlanError::Truncated);
    }
    if h[0] != FLAG_VNI || h[1..4] != [0, 0, 0] || h[7] != 0 {
        return Err(VxlanError::InvalidHeader);
    }
    Ok(u32::from_be_bytes([0, h[4], h[5], h[6]]))
}

/// The header for `vni` (24 bits).
pub fn header(vni: u32) -> [u8; HEADER_LEN] {
    let v = vni.to_be_bytes();
    [FLAG_VNI, 0, 0, 0, v[1], v[2], v[3], 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vni_4096_bytes_as_verified() {
        assert_eq!(header(4096), [0x08, 0, 0, 0, 0x00, 0x10, 0x00, 0]);
        assert_eq!(header(1), [0x08, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(parse(&header(4096)), Ok(4096));
        assert_eq!(
            parse(&[0, 0, 0, 0, 0, 0, 1, 0]),
            Err(VxlanError::InvalidHeader)
        );
        assert_eq!(
            parse(&[0x0c, 0, 0, 0, 0, 0, 1, 0]),
            Err(VxlanError::InvalidHeader)
        );
    }
}
