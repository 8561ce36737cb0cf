//! IPv4 headers: parse with the receive-path checks of `ip_rcv_core()`, build, the in-place
//! edits routers make (TTL decrement with the kernel's incremental checksum), and fragmentation
//! as `ip_do_fragment()` does it.

use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 20;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// Flag and offset bits of the `frag_off` word (include/net/ip.h).
pub const IP_DF: u16 = 0x4000;
pub const IP_MF: u16 = 0x2000;
pub const IP_OFFSET: u16 = 0x1fff;

/// Option type bits and the one-byte options (include/uapi/linux/ip.h).
const IPOPT_COPY: u8 = 0x80;
const IPOPT_END: u8 = 0;
const IPOPT_NOOP: u8 = 1;

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
        let mut v = Vec::with_capacity(HEADER_LEN + payload.len() + 14);
        v.extend_from_slice(payload);
        self.packet_in(v)
    }

    /// The same packet built in `payload`'s own buffer: the header goes in front, in place
    /// (no allocation when the buffer has room for it).
    pub fn packet_in(&self, mut payload: Vec<u8>) -> Vec<u8> {
        let total = HEADER_LEN + payload.len();
        let n = payload.len();
        payload.resize(total, 0);
        payload.copy_within(0..n, HEADER_LEN);
        payload[..HEADER_LEN].copy_from_slice(&self.header(total));
        payload
    }

    /// The 20-byte header of a packet of `total` bytes, checksum filled.
    pub fn header(&self, total: usize) -> [u8; HEADER_LEN] {
        let total = u16::try_from(total).unwrap_or(u16::MAX).to_be_bytes();
        let id = self.id.to_be_bytes();
        let flags = if self.df { IP_DF.to_be_bytes() } else { [0, 0] };
        let (s, d) = (self.src.octets(), self.dst.octets());
        let mut h = [
            0x45, self.tos, total[0], total[1], id[0], id[1], flags[0], flags[1], self.ttl,
            self.proto, 0, 0, s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3],
        ];
        let check = super::checksum(&h).to_be_bytes();
        h[10..12].copy_from_slice(&check);
        h
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

/// The address part of `nf_nat_ipv4_manip_pkt()`: the source (`src`) or destination address
/// becomes `new`, the header checksum follows incrementally (`csum_replace4`). Returns the old
/// address; None if `p` is shorter than a header.
pub fn nat_set_addr(p: &mut [u8], src: bool, new: Ipv4Addr) -> Option<Ipv4Addr> {
    let at = if src { 12 } else { 16 };
    let h = p.get_mut(..HEADER_LEN)?;
    let old = Ipv4Addr::new(h[at], h[at + 1], h[at + 2], h[at + 3]);
    let check = u16::from_be_bytes([h[10], h[11]]);
    let check = super::csum_replace(check, &old.octets(), &new.octets());
    h[10..12].copy_from_slice(&check.to_be_bytes());
    h[at..at + 4].copy_from_slice(&new.octets());
    Some(old)
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

/// Why `fragment` refused a packet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FragError {
    /// The packet fails the receive checks of `ip_rcv_core()`.
    Malformed(Ipv4Error),
    /// Too big and DF is set: `ip_fragment()` sends ICMP "fragmentation needed" and drops it
    /// (`PKT_TOO_BIG`) instead.
    DontFragment,
    /// `mtu` leaves room for fewer than 8 payload bytes after the header. Linux never gets here
    /// (an IPv4 device's MTU is at least 68, its header at most 60).
    MtuTooSmall,
}

/// Splits `packet` into fragments of at most `mtu` bytes, byte for byte as Linux's
/// `ip_fragment()` -> `ip_do_fragment()` slow path (`ip_frag_init`, `ip_frag_next`,
/// net/ipv4/ip_output.c) sends them:
/// - every fragment but the last carries the largest multiple of 8 payload bytes that fits;
/// - the header (options included) is copied; offsets add to the packet's own offset; MF is set
///   on all but the last, and on the last too if `packet` was itself a non-last fragment;
/// - the flags word is rewritten, so DF and the reserved bit end up clear;
/// - after the first fragment of a datagram (offset 0), options without the copied flag are
///   overwritten with NOOPs (`ip_options_fragment`), so later fragments keep only copied
///   options, at the same header length;
/// - total length and header checksum are recomputed.
///
/// The frag_list fast path that locally built datagrams take yields the same bytes (its pieces
/// are cut to the same sizes by `__ip_append_data`). A packet that fits in `mtu` comes back as
/// its only fragment, unchanged: `__ip_finish_output` does not fragment it at all. Trailing
/// bytes beyond the total length (link padding) are ignored. Not modelled: `ignore_df` (local
/// sockets with PMTU discovery off fragment despite DF) and `IPSKB_FRAG_PMTU` (DF kept on
/// refragmented reassembled datagrams, `frag_max_size`).
pub fn fragment(packet: &[u8], mtu: u32) -> Result<Vec<Vec<u8>>, FragError> {
    let ip = Ipv4Repr::parse(packet).map_err(FragError::Malformed)?;
    let total = usize::from(ip.total_len);
    let mtu = usize::try_from(mtu).unwrap_or(usize::MAX);
    if total <= mtu {
        return Ok(vec![packet[..total].to_vec()]);
    }
    if ip.df {
        return Err(FragError::DontFragment);
    }
    let hlen = ip.header_len;
    if mtu < hlen + 8 {
        return Err(FragError::MtuTooSmall);
    }
    // `ip_frag_init`: data space per fragment, where to copy from, the offset to continue at.
    let space = mtu - hlen;
    let mut left = total - hlen;
    let mut ptr = hlen;
    let mut offset = usize::from(ip.frag_off) << 3;
    let not_last_frag = ip.mf;
    // Later fragments copy this header, which the first fragment's options fix-up edits.
    let mut header = packet[..hlen].to_vec();
    let mut frags = Vec::with_capacity(left.div_ceil(space & !7) + 1);
    while left > 0 {
        let first_frag = offset == 0;
        // `ip_frag_next`.
        let mut len = left.min(space);
        if len < left {
            len &= !7;
        }
        let mut f = Vec::with_capacity(hlen + len);
        f.extend_from_slice(&header);
        f.extend_from_slice(&packet[ptr..ptr + len]);
        left -= len;
        // `htons(state->offset >> 3)`: an offset past 13 bits spills into the flags, as in Linux.
        let mut frag_off = (offset >> 3) as u16;
        if left > 0 || not_last_frag {
            frag_off |= IP_MF;
        }
        f[6..8].copy_from_slice(&frag_off.to_be_bytes());
        f[2..4].copy_from_slice(&((len + hlen) as u16).to_be_bytes());
        refresh_checksum(&mut f);
        ptr += len;
        offset += len;
        frags.push(f);
        // `ip_frag_ipcb`: only the datagram's first fragment keeps the non-copied options.
        if first_frag {
            options_fragment(&mut header);
        }
    }
    Ok(frags)
}

/// `ip_options_fragment()` (net/ipv4/ip_options.c): overwrites options whose copied flag is
/// clear with NOOPs; stops at END or at a malformed length, as the kernel does.
fn options_fragment(header: &mut [u8]) {
    let Some(opts) = header.get_mut(HEADER_LEN..) else {
        return;
    };
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            IPOPT_END => return,
            IPOPT_NOOP => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let optlen = opts.get(i + 1).map_or(0, |&l| usize::from(l));
        if optlen < 2 || optlen > opts.len() - i {
            return;
        }
        if opts[i] & IPOPT_COPY == 0 {
            opts[i..i + optlen].fill(IPOPT_NOOP);
        }
        i += optlen;
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The hand-built header is etherparse's (the builder sim used before).
        #[test]
        fn header_equals_etherparse(
            tos in 0u8.., id in 0u16.., df in proptest::bool::ANY, ttl in 0u8..,
            proto in 0u8.., src in 0u32.., dst in 0u32.., len in 0usize..70000,
        ) {
            let b = super::Ipv4Build {
                tos, id, df, ttl, proto,
                src: src.into(),
                dst: dst.into(),
            };
            let mut h = etherparse::Ipv4Header {
                dscp: etherparse::Ipv4Dscp::try_new(tos >> 2).unwrap_or_default(),
                ecn: etherparse::Ipv4Ecn::try_new(tos & 3).unwrap_or_default(),
                total_len: u16::try_from(len).unwrap_or(u16::MAX),
                identification: id,
                dont_fragment: df,
                more_fragments: false,
                fragment_offset: etherparse::IpFragOffset::ZERO,
                time_to_live: ttl,
                protocol: etherparse::IpNumber(proto),
                header_checksum: 0,
                source: b.src.octets(),
                destination: b.dst.octets(),
                options: Default::default(),
            };
            h.header_checksum = h.calc_header_checksum();
            proptest::prop_assert_eq!(&b.header(len)[..], &h.to_bytes()[..]);
        }
    }

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

    // Fragmentation fixtures come from a capture on this kind of topology (Linux 6.18):
    //   ns a (10.99.0.1) --veth mtu 1500-- ns r (10.99.0.2 | 10.99.1.1) --veth mtu 1000-- ns b
    //   a$ ping -M dont -s 3000 -c 1 10.99.0.2        (id 29543: 1500, 1500, 68)
    //   a$ ping -M dont -s 3000 -c 1 10.99.1.2        (id 4425: r refragments to 1000)
    //   a$ ping -R -M dont -s 3000 -c 1 10.99.1.2     (id 4429 with RR; b's reply id 41375)
    //   tcpdump -w on a's and b's veth. Headers are copied from the capture; payloads are ping's
    //   (ICMP header, 16-byte timestamp, then byte i of the data is i & 0xff), which matched it.

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The 3008-byte ICMP message of `ping -s 3000` whose first 24 bytes are `icmp24`.
    fn ping_payload(icmp24: &str) -> Vec<u8> {
        let mut p = hex(icmp24);
        p.extend((24..3008usize).map(|k| (k - 8) as u8));
        p
    }

    /// `hdr` (a captured header) with `tot_len` and `frag_off` replaced, followed by `payload`.
    fn packet(hdr: &str, frag_off: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = hex(hdr);
        let tot = (p.len() + payload.len()) as u16;
        p[2..4].copy_from_slice(&tot.to_be_bytes());
        p[6..8].copy_from_slice(&frag_off.to_be_bytes());
        refresh_checksum(&mut p);
        p.extend_from_slice(payload);
        p
    }

    /// What the capture shows: each header followed by its slice of the datagram's payload.
    fn expected(hdrs: &[&str], payload: &[u8]) -> Vec<Vec<u8>> {
        hdrs.iter()
            .map(|h| {
                let mut f = hex(h);
                let off = usize::from(u16::from_be_bytes([f[6], f[7]]) & IP_OFFSET) * 8;
                let len = usize::from(u16::from_be_bytes([f[2], f[3]])) - f.len();
                f.extend_from_slice(&payload[off..off + len]);
                f
            })
            .collect()
    }

    #[test]
    fn fragment_ping_3028_at_1500_matches_capture() {
        // 3028 bytes at MTU 1500: 1480 + 1480 + 48 payload bytes, offsets 0, 185, 370 (x8),
        // MF on the first two, every checksum recomputed; the capture has exactly these bytes.
        let payload = ping_payload("080045ae090f0001f280026b00000000d3a7010000000000");
        let orig = packet("450005dc736720004001ccf10a6300010a630002", 0, &payload);
        assert_eq!(orig.len(), 3028);
        let frags = fragment(&orig, 1500).unwrap();
        let lens: Vec<usize> = frags.iter().map(Vec::len).collect();
        assert_eq!(lens, [1500, 1500, 68]);
        let r: Vec<Ipv4Repr> = frags.iter().map(|f| Ipv4Repr::parse(f).unwrap()).collect();
        let offs: Vec<(u16, bool, bool)> = r.iter().map(|r| (r.frag_off, r.mf, r.df)).collect();
        assert_eq!(
            offs,
            [(0, true, false), (185, true, false), (370, false, false)]
        );
        for f in &frags {
            assert_eq!(crate::wire::checksum(&f[..20]), 0);
        }
        let want = expected(
            &[
                "450005dc736720004001ccf10a6300010a630002",
                "450005dc736720b94001cc380a6300010a630002",
                "45000044736701724001f1170a6300010a630002",
            ],
            &payload,
        );
        assert_eq!(frags, want);
    }

    #[test]
    fn router_refragments_fragments_keeping_mf_and_offsets() {
        // r forwards a's 1500-byte fragments onto MTU 1000: each non-last fragment splits into
        // 976 + 504 payload bytes, both MF (the input had MF), offsets continuing from the
        // input's; the 68-byte last fragment fits and passes unchanged.
        let payload = ping_payload("0800308309100001f280026b00000000e8d1010000000000");
        let inputs = [
            (
                "450005dc1149200040012e100a6300010a630102",
                0x2000u16,
                0..1480,
            ),
            (
                "450005dc114920b940012d570a6300010a630102",
                0x20b9,
                1480..2960,
            ),
            (
                "4500004411490172400152360a6300010a630102",
                0x0172,
                2960..3008,
            ),
        ];
        let mut out = Vec::new();
        for (hdr, fo, range) in inputs {
            let mut p = packet(hdr, fo, &payload[range]);
            assert_eq!(&p[..20], &hex(hdr)[..], "the rebuilt input is a's fragment");
            decrease_ttl(&mut p);
            out.extend(fragment(&p, 1000).unwrap());
        }
        let want = expected(
            &[
                "450003e4114920003f0131080a6300010a630102",
                "4500020c1149207a3f0132660a6300010a630102",
                "450003e4114920b93f01304f0a6300010a630102",
                "4500020c114921333f0131ad0a6300010a630102",
                "45000044114901723f0153360a6300010a630102",
            ],
            &payload,
        );
        assert_eq!(out, want);
    }

    const NOOPS_40: &str =
        "01010101010101010101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn later_fragments_replace_non_copied_options_with_noop() {
        // Record route (type 7) has the copied flag clear: the first fragment keeps it, the
        // others carry 40 NOOPs in a header of unchanged length (60 bytes, 1440 data bytes).
        let payload = ping_payload("0800b64a09110001f280026b000000006209020000000000");
        let first = "4f0005dc114d20004001f1980a6300010a630102\
                     010727080a6300010000000000000000000000000000000000000000000000000000000000000000";
        let orig = packet(first, 0, &payload);
        let frags = fragment(&orig, 1500).unwrap();
        let want = expected(
            &[
                first,
                &format!("4f0005dc114d20b440010f440a6300010a630102{NOOPS_40}"),
                &format!("4f0000bc114d0168400133b00a6300010a630102{NOOPS_40}"),
            ],
            &payload,
        );
        assert_eq!(frags, want);
    }

    #[test]
    fn option_fixup_stops_at_end_of_options() {
        // b's echo reply: RR (39 bytes) then END. The RR becomes 39 NOOPs; END stays.
        let payload = ping_payload("0000be4a09110001f280026b000000006209020000000000");
        let first = "4f0003e4a19f20004001e85d0a6301020a630001\
                     0727140a6300010a6301010a6301020a630102000000000000000000000000000000000000000000";
        let rest = &NOOPS_40[..78];
        let frags = fragment(&packet(first, 0, &payload), 1000).unwrap();
        let want = expected(
            &[
                first,
                &format!("4f0003e4a19f2075400181290a6301020a630001{rest}00"),
                &format!("4f0003e4a19f20ea400180b40a6301020a630001{rest}00"),
                &format!("4f000104a19f015f4001a31f0a6301020a630001{rest}00"),
            ],
            &payload,
        );
        assert_eq!(frags, want);
    }

    #[test]
    fn router_refragmenting_first_fragment_fixes_options_once() {
        // r forwards a's first RR fragment (after recording 10.99.1.1) onto MTU 1000: the
        // offset-0 piece keeps RR, the second gets NOOPs; the already-fixed second fragment
        // of a is split with its NOOPs copied.
        let payload = ping_payload("0800b64a09110001f280026b000000006209020000000000");
        let fwd_first = "4f0003e4114d20003f01e9280a6300010a630102\
                         0107270c0a6300010a63010100000000000000000000000000000000000000000000000000000000";
        let mut second = packet(
            &format!("4f0005dc114d20b440010f440a6300010a630102{NOOPS_40}"),
            0x20b4,
            &payload[1440..2880],
        );
        decrease_ttl(&mut second);
        let mut out = fragment(&packet(fwd_first, 0x2000, &payload[..1440]), 1000).unwrap();
        out.extend(fragment(&second, 1000).unwrap());
        let want = expected(
            &[
                fwd_first,
                &format!("4f000234114d20753f01142b0a6300010a630102{NOOPS_40}"),
                &format!("4f0003e4114d20b43f01123c0a6300010a630102{NOOPS_40}"),
                &format!("4f000234114d21293f0113770a6300010a630102{NOOPS_40}"),
            ],
            &payload,
        );
        assert_eq!(out, want);
    }

    #[test]
    fn fragment_refusals_and_packets_that_fit() {
        // A packet that fits is sent as is, DF or not; too big with DF is refused, as is an MTU
        // without room for 8 data bytes; a corrupt header is reported, never a panic.
        let mut p = sample();
        assert_eq!(fragment(&p, 1500).unwrap(), vec![p.clone()]);
        assert_eq!(fragment(&p, 83), Err(FragError::DontFragment));
        p[6] = 0;
        refresh_checksum(&mut p);
        assert_eq!(fragment(&p, 27), Err(FragError::MtuTooSmall));
        assert_eq!(fragment(&p, 28).unwrap().len(), 8);
        let mut padded = p.clone();
        padded.extend_from_slice(&[0xee; 6]);
        assert_eq!(fragment(&padded, 1500).unwrap(), vec![p.clone()]);
        assert_eq!(
            fragment(&p[..50], 40),
            Err(FragError::Malformed(Ipv4Error::Truncated))
        );
        for n in 0..p.len() {
            let _ = fragment(&p[..n], 28);
        }
    }

    #[test]
    fn fragments_reassemble_to_the_original_payload() {
        // Every MTU from the smallest upward: payloads tile the original, all but the last are
        // multiples of 8 and as large as fit.
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let orig = Ipv4Build {
            tos: 0,
            id: 7,
            df: false,
            ttl: 64,
            proto: PROTO_UDP,
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
        }
        .packet(&payload);
        for mtu in 28..=1021u32 {
            let frags = fragment(&orig, mtu).unwrap();
            let mut data = Vec::new();
            for (i, f) in frags.iter().enumerate() {
                let r = Ipv4Repr::parse(f).unwrap();
                assert!(f.len() <= mtu as usize);
                assert_eq!(usize::from(r.frag_off) * 8, data.len());
                let last = i + 1 == frags.len();
                assert_eq!(r.mf, !last);
                if !last {
                    assert_eq!(f.len() - 20, (mtu as usize - 20) & !7);
                }
                data.extend_from_slice(&f[20..]);
            }
            assert_eq!(data, payload, "mtu {mtu}");
        }
    }
}
