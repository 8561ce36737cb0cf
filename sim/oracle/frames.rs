//! Frames from the kernel and from sim side by side: the normalisation that zeroes what Linux
//! draws at random (IPv4 identification, ICMP echo timestamps, VXLAN source port, the checksums
//! covering them, each verified first), a classic pcap reader for tcpdump's files, and a
//! readable per-field diff with a tcpdump-like one-liner per frame. Shared by the live oracle
//! and `tests/kernel_fixtures.rs`. Pure functions over bytes: no I/O but `read_pcap`.

use crate::wire::fmt_mac;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// What `normalise` zeroes besides the always-random fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mask {
    /// Also zero the ICMP echo identifier (ping picked its own; the oracle passes sim's with
    /// `ping -e`, so it need not).
    pub echo_id: bool,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// RFC 1071 Internet checksum (independent of the sim's).
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// UDP ports decoded as VXLAN (IANA, Linux's default).
pub const VXLAN_PORTS: [u16; 2] = [4789, 8472];

/// Verifies a frame's own checksums (IPv4 header, ICMP, UDP over the pseudo-header, through
/// VXLAN) and returns a copy with the random fields zeroed, and what was wrong with it.
pub fn normalise(frame: &[u8], mask: Mask) -> (Vec<u8>, Vec<String>) {
    let mut b = frame.to_vec();
    let mut problems = Vec::new();
    norm_eth(&mut b, 0, "", mask, &mut problems);
    (b, problems)
}

fn norm_eth(b: &mut [u8], off: usize, pfx: &str, mask: Mask, problems: &mut Vec<String>) {
    if b.len() < off + 14 {
        problems.push(format!("{pfx}Ethernet frame truncated at {off}"));
        return;
    }
    if be16(b, off + 12) == 0x0800 {
        norm_ipv4(b, off + 14, pfx, mask, problems);
    }
}
fn norm_ipv4(b: &mut [u8], off: usize, pfx: &str, mask: Mask, problems: &mut Vec<String>) {
    if b.len() < off + 20 || b[off] >> 4 != 4 {
        problems.push(format!(
            "{pfx}IPv4 header truncated or not version 4 at {off}"
        ));
        return;
    }
    let ihl = usize::from(b[off] & 0xf) * 4;
    let end = off + usize::from(be16(b, off + 2));
    if ihl < 20 || end > b.len() || end < off + ihl {
        problems.push(format!("{pfx}IPv4 lengths inconsistent at {off}"));
        return;
    }
    if inet_checksum(&b[off..off + ihl]) != 0 {
        problems.push(format!(
            "{pfx}IPv4 header checksum {:#06x} is wrong (offset {})",
            be16(b, off + 10),
            off + 10
        ));
    }
    // Random: identification, and with it the header checksum.
    b[off + 4..off + 6].fill(0);
    b[off + 10..off + 12].fill(0);
    let p = off + ihl;
    if be16(b, off + 6) & 0x3fff != 0 {
        // A fragment. Only the first has the ICMP header, whose checksum covers the whole
        // datagram (checked where it is reassembled: the ping gets its reply): mask the random
        // fields it holds.
        let first = be16(b, off + 6) & 0x1fff == 0;
        if first && b[off + 9] == 1 && end >= p + 8 + 16 && matches!(b[p], 0 | 8) {
            b[p + 2..p + 4].fill(0);
            if mask.echo_id {
                b[p + 4..p + 6].fill(0);
            }
            b[p + 8..p + 8 + 16].fill(0);
        }
        return;
    }
    match b[off + 9] {
        1 => {
            if end < p + 8 {
                problems.push(format!("{pfx}ICMP truncated at {p}"));
                return;
            }
            if inet_checksum(&b[p..end]) != 0 {
                problems.push(format!(
                    "{pfx}ICMP checksum {:#06x} is wrong (offset {})",
                    be16(b, p + 2),
                    p + 2
                ));
            }
            if matches!(b[p], 0 | 8) {
                // Random: the timeval in the first 16 data bytes, and so the checksum; the
                // echo identifier unless the sender chose it.
                b[p + 2..p + 4].fill(0);
                if mask.echo_id {
                    b[p + 4..p + 6].fill(0);
                }
                let tv_end = (p + 8 + 16).min(end);
                b[p + 8..tv_end].fill(0);
            }
            if matches!(b[p], 3 | 11 | 12) {
                // An error quotes a packet with random fields of its own (which its checksum,
                // verified above, covers): the quoted packet is checked and masked the same way.
                b[p + 2..p + 4].fill(0);
                norm_ipv4(b, p + 8, &format!("{pfx}quoted "), mask, problems);
            }
        }
        17 => {
            if end < p + 8 {
                problems.push(format!("{pfx}UDP header truncated at {p}"));
                return;
            }
            let (src, dst) = (ipv4_at(b, off + 12), ipv4_at(b, off + 16));
            let (sport, dport, csum) = (be16(b, p), be16(b, p + 2), be16(b, p + 6));
            let vxlan = VXLAN_PORTS.contains(&dport);
            match crate::wire::udp::UdpRepr::parse(src, dst, &b[p..end]) {
                Err(e) => problems.push(format!(
                    "{pfx}UDP {src}.{sport} > {dst}.{dport}: {e:?} (checksum {csum:#06x} at \
                     offset {})",
                    p + 6
                )),
                Ok(u) if vxlan && u.checksum == 0 => problems.push(format!(
                    "{pfx}VXLAN UDP checksum is 0 (absent): kernel 6.18 VXLAN has udpcsum on"
                )),
                Ok(_) => {}
            }
            if vxlan {
                // Random: the source port (flow hash, per-boot seed), and so the checksum.
                b[p..p + 2].fill(0);
                b[p + 6..p + 8].fill(0);
                if end < p + 16 {
                    problems.push(format!("{pfx}VXLAN header truncated at {}", p + 8));
                    return;
                }
                norm_eth(b, p + 16, &format!("{pfx}inner "), mask, problems);
            }
        }
        _ => {}
    }
}

/// The name of the header field that holds byte `at` of `frame`.
pub fn field_name(frame: &[u8], at: usize) -> String {
    eth_field(frame, 0, at, "")
}

fn eth_field(b: &[u8], off: usize, at: usize, pfx: &str) -> String {
    let r = at - off;
    if r < 6 {
        return format!("{pfx}eth.dst[{r}]");
    }
    if r < 12 {
        return format!("{pfx}eth.src[{}]", r - 6);
    }
    if r < 14 || b.len() < off + 14 {
        return format!("{pfx}eth.type");
    }
    let l3 = off + 14;
    match be16(b, off + 12) {
        0x0800 => ipv4_field(b, l3, at, pfx),
        0x0806 => {
            let names = [
                (2, "htype"),
                (4, "ptype"),
                (5, "hlen"),
                (6, "plen"),
                (8, "oper"),
                (14, "sender MAC"),
                (18, "sender IP"),
                (24, "target MAC"),
                (28, "target IP"),
            ];
            let r = at - l3;
            names
                .iter()
                .find(|(e, _)| r < *e)
                .map(|(_, n)| format!("{pfx}arp.{n}"))
                .unwrap_or_else(|| format!("{pfx}padding after ARP [{}]", r - 28))
        }
        t => format!("{pfx}payload of ethertype {t:#06x} [{}]", at - l3),
    }
}

fn ipv4_field(b: &[u8], off: usize, at: usize, pfx: &str) -> String {
    let r = at - off;
    let ihl = b.get(off).map_or(20, |v| usize::from(v & 0xf) * 4);
    if r < ihl.max(20) {
        let n = match r {
            0 => "version/ihl",
            1 => "tos",
            2 | 3 => "total length",
            4 | 5 => "identification",
            6 | 7 => "flags/fragment offset",
            8 => "ttl",
            9 => "protocol",
            10 | 11 => "header checksum",
            12..=15 => "src",
            16..=19 => "dst",
            _ => "options",
        };
        return format!("{pfx}ip.{n}");
    }
    let end = if b.len() >= off + 4 {
        off + usize::from(be16(b, off + 2))
    } else {
        b.len()
    };
    if at >= end {
        return format!("{pfx}after the IPv4 packet [{}]", at - end);
    }
    let p = off + ihl;
    let r = at - p;
    match b[off + 9] {
        1 => match r {
            0 => format!("{pfx}icmp.type"),
            1 => format!("{pfx}icmp.code"),
            2 | 3 => format!("{pfx}icmp.checksum"),
            4 | 5 => format!("{pfx}icmp.identifier"),
            6 | 7 => format!("{pfx}icmp.sequence"),
            _ => format!("{pfx}icmp.data[{}]", r - 8),
        },
        17 => match r {
            0 | 1 => format!("{pfx}udp.src_port"),
            2 | 3 => format!("{pfx}udp.dst_port"),
            4 | 5 => format!("{pfx}udp.length"),
            6 | 7 => format!("{pfx}udp.checksum"),
            8 => format!("{pfx}vxlan.flags"),
            9..=11 => format!("{pfx}vxlan.reserved1"),
            12..=14 => format!("{pfx}vxlan.vni"),
            15 => format!("{pfx}vxlan.reserved2"),
            _ => eth_field(b, p + 16, at, &format!("{pfx}inner ")),
        },
        proto => format!("{pfx}payload of IP protocol {proto} [{r}]"),
    }
}

/// One line saying what a frame is, tcpdump style.
pub fn describe(b: &[u8]) -> String {
    describe_eth(b, 0)
}

fn describe_eth(b: &[u8], off: usize) -> String {
    if b.len() < off + 14 {
        return format!("truncated frame ({} bytes)", b.len() - off);
    }
    let mac = |at: usize| {
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[at..at + 6]);
        fmt_mac(&m)
    };
    let head = format!("{} > {}", mac(off + 6), mac(off));
    let l3 = off + 14;
    match be16(b, off + 12) {
        0x0806 if b.len() >= l3 + 28 => {
            let (op, spa, tpa) = (be16(b, l3 + 6), ipv4_at(b, l3 + 14), ipv4_at(b, l3 + 24));
            match op {
                1 => format!("{head} ARP who-has {tpa} tell {spa}"),
                2 => format!("{head} ARP reply {spa} is-at {}", mac(l3 + 8)),
                _ => format!("{head} ARP op {op}"),
            }
        }
        0x0800 if b.len() >= l3 + 20 => {
            let (src, dst) = (ipv4_at(b, l3 + 12), ipv4_at(b, l3 + 16));
            let (ttl, id) = (b[l3 + 8], be16(b, l3 + 4));
            let p = l3 + usize::from(b[l3] & 0xf) * 4;
            let what = match b[l3 + 9] {
                1 if b.len() >= p + 8 => match b[p] {
                    8 => format!("ICMP echo request seq {}", be16(b, p + 6)),
                    0 => format!("ICMP echo reply seq {}", be16(b, p + 6)),
                    t => format!("ICMP type {t} code {}", b[p + 1]),
                },
                17 if b.len() >= p + 8 => {
                    let (sp, dp) = (be16(b, p), be16(b, p + 2));
                    if VXLAN_PORTS.contains(&dp) && b.len() >= p + 16 + 14 {
                        format!("UDP {sp} > {dp} VXLAN [{}]", describe_eth(b, p + 16))
                    } else {
                        format!("UDP {sp} > {dp}")
                    }
                }
                proto => format!("proto {proto}"),
            };
            format!("{head} IPv4 {src} > {dst} ttl {ttl} id {id}: {what}")
        }
        t => format!("{head} ethertype {t:#06x}"),
    }
}

fn hex_rows(k: &[u8], s: &[u8]) -> String {
    let mut out = String::new();
    let n = k.len().max(s.len());
    let cell = |b: &[u8], i: usize| b.get(i).map_or("  ".to_string(), |v| format!("{v:02x}"));
    for row in (0..n).step_by(16) {
        let r = row..(row + 16).min(n);
        let ks: Vec<String> = r.clone().map(|i| cell(k, i)).collect();
        let ss: Vec<String> = r.clone().map(|i| cell(s, i)).collect();
        let mark: String = r
            .map(|i| if k.get(i) == s.get(i) { "   " } else { "^^ " })
            .collect();
        let _ = writeln!(out, "    {row:04x}  kernel {}", ks.join(" "));
        let _ = writeln!(out, "          sim    {}", ss.join(" "));
        if mark.contains('^') {
            let _ = writeln!(out, "                 {}", mark.trim_end());
        }
    }
    out
}

/// Compares two normalised frames; on a difference, the fields that differ and both hex dumps.
pub fn frame_diff(kernel_raw: &[u8], sim_raw: &[u8], k: &[u8], s: &[u8]) -> Option<String> {
    if k == s {
        return None;
    }
    let mut out = String::new();
    let n = k.len().max(s.len());
    let first = (0..n).find(|&i| k.get(i) != s.get(i)).unwrap_or(0);
    let _ = writeln!(
        out,
        "    first difference at offset {first} ({:#x}), {}; lengths kernel {} sim {}",
        first,
        if first < k.len() {
            field_name(k, first)
        } else {
            "beyond the end of the kernel frame".to_string()
        },
        k.len(),
        s.len()
    );
    // Every differing field once (runs of array bytes such as icmp.data[..] as one), with
    // both values; at most 16 of them.
    let mut fields: Vec<(String, Vec<usize>)> = Vec::new();
    for i in (0..n).filter(|&i| k.get(i) != s.get(i)) {
        let f = if i < k.len() {
            field_name(k, i)
        } else {
            "beyond the kernel frame".to_string()
        };
        let base = |f: &str| f.split('[').next().unwrap_or_default().to_string();
        match fields.last_mut() {
            Some((name, v)) if base(name) == base(&f) && v[v.len() - 1] + 1 == i => {
                if *name != f {
                    *name = base(&f) + "[..]";
                }
                v.push(i)
            }
            _ => fields.push((f, vec![i])),
        }
    }
    for (f, idx) in fields.iter().take(16) {
        let hex = |b: &[u8]| -> String {
            idx.iter()
                .map(|&i| b.get(i).map_or("--".into(), |v| format!("{v:02x}")))
                .collect()
        };
        let _ = writeln!(
            out,
            "      {f} at {}..={}: kernel {} sim {}",
            idx[0],
            idx[idx.len() - 1],
            hex(k),
            hex(s)
        );
    }
    if fields.len() > 16 {
        let _ = writeln!(out, "      ... and {} more fields", fields.len() - 16);
    }
    let _ = writeln!(out, "    kernel: {}", describe(kernel_raw));
    let _ = writeln!(out, "    sim:    {}", describe(sim_raw));
    let _ = writeln!(out, "    (random fields zeroed in both)");
    out.push_str(&hex_rows(k, s));
    Some(out)
}
