//! Packet bytes: typed views and builders for Ethernet II, ARP, IPv4, ICMP, UDP and VXLAN.
//! No state, time, RNG or I/O. Ethernet headers go through etherparse; IPv4 headers are parsed
//! and built here (tested against etherparse's bytes); ARP has its own view.

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod udp;
pub mod vxlan;

/// The Internet checksum (RFC 1071) over `data`, as the kernel's `ip_compute_csum`.
pub fn checksum(data: &[u8]) -> u16 {
    !fold_sum(sum_words(data))
}

/// The sum of `data` as big-endian 16-bit words (an odd last byte padded with 0), unfolded.
pub(crate) fn sum_words(data: &[u8]) -> u64 {
    // Four bytes at a time: a 32-bit word a*2^16 + b is congruent to a + b modulo 0xffff,
    // so the folded sum is the same as of 16-bit words (as the kernel's `do_csum` does it).
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        sum += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    match *chunks.remainder() {
        [a, b, c] => sum += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        [a, b] => sum += u64::from(u16::from_be_bytes([a, b])),
        [a] => sum += u64::from(a) << 8,
        _ => {}
    }
    sum
}

/// One's complement folding of a word sum to 16 bits.
pub(crate) fn fold_sum(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum `check` after the bytes `from` of the data it covers became `to` (equal
/// lengths, even, at an even offset): `csum_replace4()`/`inet_proto_csum_replace2()` on an skb
/// whose checksum is not offloaded, i.e. RFC 1624 eqn. 3 in one's complement arithmetic.
pub fn csum_replace(check: u16, from: &[u8], to: &[u8]) -> u16 {
    let words = |b: &[u8]| -> u64 {
        b.chunks(2)
            .map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum()
    };
    // ~check + ~from + to, each ~x of a 16-bit word being 0xffff - x. The kernel's
    // `~csum_unfold(check)` is 32 bits wide and so also adds a 0xffff (a "negative zero"):
    // the sum is never 0, and a result of 0 comes out as 0x0000, never 0xffff.
    let n_from = from.len().div_ceil(2) as u64;
    let mut sum = 0xffff + u64::from(!check) + n_from * 0xffff - words(from) + words(to);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `aa:bb:cc:dd:ee:ff`, as iproute2 and tcpdump print MACs.
pub fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[cfg(test)]
mod tests {
    /// The 16-bit word sum, as RFC 1071 defines it.
    fn reference(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        for c in data.chunks(2) {
            sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        !super::fold_sum(sum)
    }

    #[test]
    fn checksum_by_words_of_four_edges() {
        for n in 0..12 {
            for b in [0x00, 0xff, 0x80] {
                let data = vec![b; n];
                assert_eq!(super::checksum(&data), reference(&data), "{n} x {b:#x}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn checksum_by_words_of_four_equals_rfc1071(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            proptest::prop_assert_eq!(super::checksum(&data), reference(&data));
        }
    }

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3 example: sum 0xddf2, checksum is its complement.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(super::checksum(&d), !0xddf2);
    }

    #[test]
    fn incremental_update_equals_a_full_recompute() {
        // A header-like block: change bytes 4..8 and compare with recomputing from scratch.
        let mut d: Vec<u8> = (0u8..20).map(|i| i.wrapping_mul(37)).collect();
        d[10] = 0;
        d[11] = 0;
        let c = super::checksum(&d);
        for to in [
            [0u8, 0, 0, 0],
            [10, 211, 55, 5],
            [0xff, 0xff, 0xff, 0xff],
            [1, 2, 3, 4],
        ] {
            let mut e = d.clone();
            e[4..8].copy_from_slice(&to);
            let want = super::checksum(&e);
            assert_eq!(super::csum_replace(c, &d[4..8], &to), want, "{to:?}");
        }
    }
}
