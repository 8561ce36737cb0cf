//! Capture file writers: pcapng (all interfaces, one section) and classic pcap (one interface).
//!
//! Block encoders are written by hand rather than with `pcap-file` 2.0: its EPB stores a
//! `Duration`'s nanoseconds as raw ticks whatever the interface's `if_tsresol` says, and it
//! rejects packets longer than snaplen instead of truncating them. The formats are small and
//! fixed, so owning the bytes keeps them exact. Everything is little-endian, never host-endian,
//! so the same scenario yields the same file on every machine.

use std::io::{self, Write};

use super::{CaptureIface, CapturedPacket, Direction};

/// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const EPB_TYPE: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_ENDOFOPT: u16 = 0;
/// opt_comment: UTF-8 text; on an EPB Wireshark shows it as `frame.comment`.
const OPT_COMMENT: u16 = 1;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
/// if_tsresol value: 10^-9 s, so EPB timestamps are the simulator's nanoseconds unchanged.
const TSRESOL_NS: u8 = 9;
/// epb_flags bits 0-1: 01 = inbound, 10 = outbound.
const FLAG_INBOUND: u32 = 1;
const FLAG_OUTBOUND: u32 = 2;

/// Classic pcap magic for nanosecond timestamps; libpcap reads ts_frac as ns when it sees it.
const PCAP_MAGIC_NS: u32 = 0xA1B2_3C4D;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The bytes a capture keeps: at most `snaplen` of them (0 means no limit, as in pcapng).
fn captured(data: &[u8], snaplen: u32) -> &[u8] {
    if snaplen == 0 {
        data
    } else {
        &data[..data.len().min(snaplen as usize)]
    }
}

fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| invalid(format!("length {len} does not fit a capture file")))
}

fn pad4(buf: &mut Vec<u8>) {
    let pad = (4 - buf.len() % 4) % 4;
    buf.extend_from_slice(&[0u8; 3][..pad]);
}

/// One pcapng option: code, length, value padded to 4 bytes.
fn put_opt(body: &mut Vec<u8>, code: u16, value: &[u8]) -> io::Result<()> {
    let len = u16::try_from(value.len())
        .map_err(|_| invalid(format!("pcapng option {code} of {} bytes", value.len())))?;
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(value);
    pad4(body);
    Ok(())
}

fn end_opts(body: &mut Vec<u8>) {
    body.extend_from_slice(&OPT_ENDOFOPT.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
}

/// One pcapng block: type, total length, body (already 4-aligned), total length again.
fn write_block<W: Write>(w: &mut W, block_type: u32, body: &[u8]) -> io::Result<()> {
    debug_assert_eq!(body.len() % 4, 0);
    let total = len_u32(body.len() + 12)?;
    w.write_all(&block_type.to_le_bytes())?;
    w.write_all(&total.to_le_bytes())?;
    w.write_all(body)?;
    w.write_all(&total.to_le_bytes())
}

/// One pcapng section: SHB, one IDB per interface (if_name, if_tsresol = ns, snaplen,
/// linktype), then one EPB per packet, in the order given, with epb_flags direction bits and
/// the timestamp in nanoseconds since scenario start.
pub fn write_pcapng<W: Write>(
    w: W,
    ifaces: &[CaptureIface],
    packets: &[CapturedPacket],
) -> io::Result<()> {
    write_pcapng_annotated(w, ifaces, packets, &[])
}

/// [`write_pcapng`] with a packet comment (opt_comment) on the EPB of each packet whose
/// entry in `comments` (indexed like `packets`) is Some; a shorter slice comments fewer.
pub fn write_pcapng_annotated<W: Write>(
    mut w: W,
    ifaces: &[CaptureIface],
    packets: &[CapturedPacket],
    comments: &[Option<String>],
) -> io::Result<()> {
    let mut body = Vec::with_capacity(256);

    // SHB: byte-order magic, version 1.0, section length unknown (-1), no options.
    body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    write_block(&mut w, SHB_TYPE, &body)?;

    for iface in ifaces {
        body.clear();
        body.extend_from_slice(&iface.link_type.linktype_code().to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes()); // reserved
        body.extend_from_slice(&iface.snaplen.to_le_bytes());
        put_opt(&mut body, IF_NAME, iface.name.as_bytes())?;
        put_opt(&mut body, IF_TSRESOL, &[TSRESOL_NS])?;
        end_opts(&mut body);
        write_block(&mut w, IDB_TYPE, &body)?;
    }

    for (i, p) in packets.iter().enumerate() {
        let iface = ifaces.get(p.iface).ok_or_else(|| {
            invalid(format!(
                "packet on interface {} of {}",
                p.iface,
                ifaces.len()
            ))
        })?;
        let data = captured(&p.data, iface.snaplen);
        let ts = p.ts.as_ns();
        let flags = match p.dir {
            Direction::In => FLAG_INBOUND,
            Direction::Out => FLAG_OUTBOUND,
        };
        body.clear();
        body.extend_from_slice(&len_u32(p.iface)?.to_le_bytes());
        // The 64-bit timestamp is stored high word first, each word in section byte order.
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&len_u32(data.len())?.to_le_bytes());
        body.extend_from_slice(&len_u32(p.data.len())?.to_le_bytes());
        body.extend_from_slice(data);
        pad4(&mut body);
        put_opt(&mut body, EPB_FLAGS, &flags.to_le_bytes())?;
        if let Some(Some(c)) = comments.get(i) {
            // An option holds at most 65535 bytes; a longer comment is cut at a char boundary.
            let mut end = c.len().min(usize::from(u16::MAX));
            while !c.is_char_boundary(end) {
                end -= 1;
            }
            put_opt(&mut body, OPT_COMMENT, &c.as_bytes()[..end])?;
        }
        end_opts(&mut body);
        write_block(&mut w, EPB_TYPE, &body)?;
    }
    w.flush()
}

/// A classic pcap file for one interface: nanosecond magic, little-endian, version 2.4,
/// the interface's snaplen and linktype; records in the order given (direction is lost:
/// classic pcap has nowhere to put it).
pub fn write_pcap<'a, W: Write>(
    mut w: W,
    iface: &CaptureIface,
    packets: impl IntoIterator<Item = &'a CapturedPacket>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
    buf.extend_from_slice(&2u16.to_le_bytes());
    buf.extend_from_slice(&4u16.to_le_bytes());
    buf.extend_from_slice(&0i32.to_le_bytes()); // thiszone: timestamps are UTC
    buf.extend_from_slice(&0u32.to_le_bytes()); // sigfigs: always 0 in practice
    buf.extend_from_slice(&iface.snaplen.to_le_bytes());
    buf.extend_from_slice(&u32::from(iface.link_type.linktype_code()).to_le_bytes());
    w.write_all(&buf)?;

    for p in packets {
        let ns = p.ts.as_ns();
        let secs = u32::try_from(ns / 1_000_000_000)
            .map_err(|_| invalid(format!("timestamp {ns} ns overflows pcap's 32-bit seconds")))?;
        let data = captured(&p.data, iface.snaplen);
        buf.clear();
        buf.extend_from_slice(&secs.to_le_bytes());
        buf.extend_from_slice(&((ns % 1_000_000_000) as u32).to_le_bytes());
        buf.extend_from_slice(&len_u32(data.len())?.to_le_bytes());
        buf.extend_from_slice(&len_u32(p.data.len())?.to_le_bytes());
        buf.extend_from_slice(data);
        w.write_all(&buf)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;
    use crate::trace::LinkType;
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    use pcap_file::pcapng::{Block, PcapNgReader};
    use pcap_file::DataLink;

    fn inet_checksum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// An 84-byte IPv4 ICMP echo (20 IP + 8 ICMP + 56 payload, as `ping` sends); type 8 is a
    /// request, 0 a reply.
    fn ipv4_icmp_echo(src: [u8; 4], dst: [u8; 4], icmp_type: u8, seq: u16) -> Vec<u8> {
        let mut icmp = vec![icmp_type, 0, 0, 0];
        icmp.extend_from_slice(&0x77u16.to_be_bytes());
        icmp.extend_from_slice(&seq.to_be_bytes());
        icmp.extend((0..56u8).map(|i| i.wrapping_add(0x10)));
        let c = inet_checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());

        let total = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, 1, 0, 0]); // id, DF, ttl, ICMP
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let c = inet_checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&icmp);
        assert_eq!(ip.len(), 84);
        ip
    }

    /// A 98-byte Ethernet frame carrying `ipv4_icmp_echo`.
    fn eth_icmp_echo(src: [u8; 4], dst: [u8; 4], icmp_type: u8, seq: u16) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
        f.extend(ipv4_icmp_echo(src, dst, icmp_type, seq));
        assert_eq!(f.len(), 98);
        f
    }

    fn sample() -> (Vec<CaptureIface>, Vec<CapturedPacket>) {
        let ifaces = vec![
            CaptureIface {
                name: "pod-a/eth0".into(),
                link_type: LinkType::Ethernet,
                snaplen: 262144,
            },
            CaptureIface {
                name: "node1/tunl0".into(),
                link_type: LinkType::Raw,
                snaplen: 262144,
            },
        ];
        let (a, b) = ([10, 244, 1, 5], [10, 244, 2, 7]);
        let packets = vec![
            CapturedPacket {
                iface: 0,
                ts: Instant::from_ns(1_000_000_123),
                dir: Direction::Out,
                data: eth_icmp_echo(a, b, 8, 1),
            },
            CapturedPacket {
                iface: 1,
                ts: Instant::from_ns(1_000_250_456),
                dir: Direction::Out,
                data: ipv4_icmp_echo(a, b, 8, 1),
            },
            CapturedPacket {
                iface: 1,
                ts: Instant::from_ns(5_000_000_000_000_000_789),
                dir: Direction::In,
                data: ipv4_icmp_echo(b, a, 0, 1),
            },
            CapturedPacket {
                iface: 0,
                ts: Instant::from_ns(2_000_000_001),
                dir: Direction::In,
                data: eth_icmp_echo(b, a, 0, 1),
            },
        ];
        (ifaces, packets)
    }

    #[test]
    fn pcap_bytes_exact() {
        let iface = CaptureIface {
            name: "x".into(),
            link_type: LinkType::Raw,
            snaplen: 4,
        };
        let pkt = CapturedPacket {
            iface: 0,
            ts: Instant::from_ns(3_000_000_042),
            dir: Direction::In,
            data: vec![0x45, 0, 0, 20, 0xaa, 0xbb],
        };
        let mut out = Vec::new();
        write_pcap(&mut out, &iface, [&pkt]).unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x4d, 0x3c, 0xb2, 0xa1, // magic, ns
            0x02, 0x00, 0x04, 0x00, // version 2.4
            0, 0, 0, 0,             // thiszone
            0, 0, 0, 0,             // sigfigs
            4, 0, 0, 0,             // snaplen
            101, 0, 0, 0,           // LINKTYPE_RAW
            3, 0, 0, 0,             // ts_sec
            42, 0, 0, 0,            // ts_nsec
            4, 0, 0, 0,             // incl_len: truncated to snaplen
            6, 0, 0, 0,             // orig_len
            0x45, 0, 0, 20,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn pcapng_bytes_exact_epb() {
        let ifaces = [CaptureIface {
            name: "n/e".into(),
            link_type: LinkType::Ethernet,
            snaplen: 0,
        }];
        let pkts = [CapturedPacket {
            iface: 0,
            ts: Instant::from_ns(0x1_0000_0002),
            dir: Direction::Out,
            data: vec![0xee],
        }];
        let mut out = Vec::new();
        write_pcapng(&mut out, &ifaces, &pkts).unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            // SHB
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0,
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            28, 0, 0, 0,
            // IDB
            1, 0, 0, 0, 40, 0, 0, 0,
            1, 0, 0, 0, 0, 0, 0, 0,        // linktype, reserved, snaplen
            2, 0, 3, 0, b'n', b'/', b'e', 0, // if_name
            9, 0, 1, 0, 9, 0, 0, 0,        // if_tsresol = 9
            0, 0, 0, 0,                    // opt_endofopt
            40, 0, 0, 0,
            // EPB
            6, 0, 0, 0, 48, 0, 0, 0,
            0, 0, 0, 0,                    // interface 0
            1, 0, 0, 0, 2, 0, 0, 0,        // ts high, ts low
            1, 0, 0, 0, 1, 0, 0, 0,        // captured, original
            0xee, 0, 0, 0,
            2, 0, 4, 0, 2, 0, 0, 0,        // epb_flags = outbound
            0, 0, 0, 0,
            48, 0, 0, 0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn pcapng_reads_back() {
        let (ifaces, packets) = sample();
        let mut out = Vec::new();
        write_pcapng(&mut out, &ifaces, &packets).unwrap();

        let mut r = PcapNgReader::new(&out[..]).unwrap();
        assert_eq!(r.section().endianness, pcap_file::Endianness::Little);
        let mut idbs = Vec::new();
        let mut epbs = Vec::new();
        while let Some(block) = r.next_block() {
            match block.unwrap() {
                Block::InterfaceDescription(idb) => {
                    let name = idb.options.iter().find_map(|o| match o {
                        InterfaceDescriptionOption::IfName(n) => Some(n.to_string()),
                        _ => None,
                    });
                    let tsresol = idb.options.iter().find_map(|o| match o {
                        InterfaceDescriptionOption::IfTsResol(t) => Some(*t),
                        _ => None,
                    });
                    idbs.push((idb.linktype, idb.snaplen, name.unwrap(), tsresol));
                }
                Block::EnhancedPacket(epb) => {
                    let flags = epb.options.iter().find_map(|o| match o {
                        EnhancedPacketOption::Flags(f) => Some(*f),
                        _ => None,
                    });
                    epbs.push((
                        epb.interface_id,
                        epb.timestamp.as_nanos() as u64,
                        flags,
                        epb.original_len,
                        epb.data.into_owned(),
                    ));
                }
                other => panic!("unexpected block {other:?}"),
            }
        }
        assert_eq!(
            idbs,
            vec![
                (DataLink::ETHERNET, 262144, "pod-a/eth0".into(), Some(9)),
                (DataLink::RAW, 262144, "node1/tunl0".into(), Some(9)),
            ]
        );
        let want: Vec<_> = packets
            .iter()
            .map(|p| {
                let flags = match p.dir {
                    Direction::In => 1,
                    Direction::Out => 2,
                };
                (
                    p.iface as u32,
                    p.ts.as_ns(),
                    Some(flags),
                    p.data.len() as u32,
                    p.data.clone(),
                )
            })
            .collect();
        assert_eq!(epbs, want);
    }

    #[test]
    fn pcapng_packet_comments_are_opt_comment() {
        let (ifaces, packets) = sample();
        let comments = vec![Some("journey 7 out: route x".to_string()), None];
        let mut out = Vec::new();
        write_pcapng_annotated(&mut out, &ifaces, &packets, &comments).unwrap();
        let mut r = PcapNgReader::new(&out[..]).unwrap();
        let mut got = Vec::new();
        while let Some(block) = r.next_block() {
            if let Block::EnhancedPacket(epb) = block.unwrap() {
                let c = epb.options.iter().find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                });
                let flags = epb
                    .options
                    .iter()
                    .any(|o| matches!(o, EnhancedPacketOption::Flags(_)));
                assert!(flags, "the direction stays");
                got.push(c);
            }
        }
        // Only the first packet has a comment; the slice may be shorter than the packets.
        assert_eq!(
            got,
            vec![Some("journey 7 out: route x".to_string()), None, None, None]
        );
        // Without comments the bytes are those of write_pcapng.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_pcapng(&mut a, &ifaces, &packets).unwrap();
        write_pcapng_annotated(&mut b, &ifaces, &packets, &[None, None]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn snaplen_truncates_and_keeps_orig_len() {
        let (mut ifaces, packets) = sample();
        ifaces[0].snaplen = 60;
        let mut out = Vec::new();
        write_pcapng(&mut out, &ifaces, &packets[..1]).unwrap();
        let mut r = PcapNgReader::new(&out[..]).unwrap();
        let mut seen = 0;
        while let Some(block) = r.next_block() {
            if let Block::EnhancedPacket(epb) = block.unwrap() {
                assert_eq!(epb.data.len(), 60);
                assert_eq!(epb.original_len, 98);
                assert_eq!(&epb.data[..], &packets[0].data[..60]);
                seen += 1;
            }
        }
        assert_eq!(seen, 1);

        let mut out = Vec::new();
        write_pcap(&mut out, &ifaces[0], &packets[..1]).unwrap();
        assert_eq!(&out[32..40], &[60, 0, 0, 0, 98, 0, 0, 0]);
        assert_eq!(out.len(), 24 + 16 + 60);
    }

    #[test]
    fn errors_instead_of_bad_files() {
        let (ifaces, mut packets) = sample();
        packets[0].iface = 2;
        let err = write_pcapng(Vec::new(), &ifaces, &packets).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

        // Packet 2's timestamp is past 2106: classic pcap cannot hold it.
        let err = write_pcap(Vec::new(), &ifaces[1], &packets[1..3]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
