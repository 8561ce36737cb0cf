//! One-line packet summaries in tcpdump's words, for drop records and logs.

use crate::wire::arp::{ArpRepr, OP_REPLY, OP_REQUEST};
use crate::wire::ethernet::{EthRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4, HEADER_LEN};
use crate::wire::icmp;
use crate::wire::ipv4::{self, Ipv4Repr};

/// Summarises a frame (with an Ethernet header) or a raw IP packet.
pub fn summarize(data: &[u8], ethernet: bool) -> String {
    if !ethernet {
        return ip_summary(data);
    }
    let Some(eth) = EthRepr::parse(data) else {
        return format!("truncated frame, length {}", data.len());
    };
    let payload = &data[HEADER_LEN..];
    match eth.ethertype {
        ETHERTYPE_IPV4 => ip_summary(payload),
        ETHERTYPE_ARP => match ArpRepr::parse(payload) {
            Ok(a) if a.op == OP_REQUEST => {
                format!("ARP, Request who-has {} tell {}, length 28", a.tpa, a.spa)
            }
            Ok(a) if a.op == OP_REPLY => format!(
                "ARP, Reply {} is-at {}, length 28",
                a.spa,
                crate::wire::fmt_mac(&a.sha)
            ),
            _ => format!("ARP, length {}", payload.len()),
        },
        t => format!("ethertype 0x{t:04x}, length {}", data.len()),
    }
}

fn ip_summary(p: &[u8]) -> String {
    let Some((src, dst, proto)) = Ipv4Repr::peek(p) else {
        return format!("truncated IP, length {}", p.len());
    };
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let body = p.get(ihl..).unwrap_or(&[]);
    let rest = match proto {
        ipv4::PROTO_IPIP => ip_summary(body),
        ipv4::PROTO_ICMP if body.len() >= 8 => {
            let (t, c) = (body[0], body[1]);
            let id = u16::from_be_bytes([body[4], body[5]]);
            let seq = u16::from_be_bytes([body[6], body[7]]);
            let len = body.len();
            match (t, c) {
                (icmp::ECHO_REQUEST, _) => {
                    format!("ICMP echo request, id {id}, seq {seq}, length {len}")
                }
                (icmp::ECHO_REPLY, _) => {
                    format!("ICMP echo reply, id {id}, seq {seq}, length {len}")
                }
                (icmp::TIME_EXCEEDED, _) => format!("ICMP time exceeded in-transit, length {len}"),
                (icmp::DEST_UNREACH, code) => {
                    let what = match code {
                        icmp::NET_UNREACH => "net unreachable".to_string(),
                        icmp::HOST_UNREACH => "host unreachable".to_string(),
                        icmp::PROT_UNREACH => "protocol unreachable".to_string(),
                        icmp::PORT_UNREACH => "port unreachable".to_string(),
                        icmp::FRAG_NEEDED => "need to frag".to_string(),
                        icmp::PKT_FILTERED => "unreachable - admin prohibited filter".to_string(),
                        c => format!("unreachable code {c}"),
                    };
                    format!("ICMP {what}, length {len}")
                }
                _ => format!("ICMP type {t}, length {len}"),
            }
        }
        ipv4::PROTO_UDP => format!("UDP, length {}", body.len().saturating_sub(8)),
        _ => format!("ip-proto-{proto} {}", body.len()),
    };
    format!("IP {src} > {dst}: {rest}")
}
