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
        ipv4::PROTO_UDP if body.len() >= 8 => return udp_summary(src, dst, body),
        ipv4::PROTO_UDP => "UDP, bad length".to_string(),
        _ => format!("ip-proto-{proto} {}", body.len()),
    };
    format!("IP {src} > {dst}: {rest}")
}

/// tcpdump 4.99's line for a UDP datagram: ports on the addresses; VXLAN on 4789, OTV (its
/// reading of 8472) with the instance, each followed by the inner frame.
fn udp_summary(src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr, d: &[u8]) -> String {
    let sport = u16::from_be_bytes([d[0], d[1]]);
    let dport = u16::from_be_bytes([d[2], d[3]]);
    let payload = &d[8..];
    let head = format!("IP {src}.{sport} > {dst}.{dport}");
    let vni = crate::wire::vxlan::parse(payload).ok();
    match (dport, vni) {
        (4789, Some(v)) => format!(
            "{head}: VXLAN, flags [I] (0x08), vni {v}: {}",
            summarize(&payload[8..], true)
        ),
        (8472, Some(v)) => format!(
            "{head}: OTV, flags [I] (0x08), overlay 0, instance {v}: {}",
            summarize(&payload[8..], true)
        ),
        _ => format!("{head}: UDP, length {}", payload.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Build;
    use std::net::Ipv4Addr;

    #[test]
    fn vxlan_reads_as_tcpdump_prints_it() {
        let inner_ip = Ipv4Build {
            tos: 0,
            id: 1,
            df: true,
            ttl: 63,
            proto: ipv4::PROTO_ICMP,
            src: Ipv4Addr::new(10, 42, 1, 11),
            dst: Ipv4Addr::new(10, 42, 2, 11),
        }
        .packet(&crate::wire::icmp::emit_echo(
            icmp::ECHO_REQUEST,
            7,
            1,
            &[0; 56],
        ));
        let inner = crate::wire::ethernet::EthRepr {
            dst: [0x66, 0, 0, 0, 0, 2],
            src: [0x66, 0, 0, 0, 0, 1],
            ethertype: ETHERTYPE_IPV4,
        }
        .frame(&inner_ip);
        let (a, b) = (Ipv4Addr::new(10, 211, 55, 5), Ipv4Addr::new(10, 211, 55, 6));
        let outer = |port: u16, vni: u32| {
            let mut payload = crate::wire::vxlan::header(vni).to_vec();
            payload.extend_from_slice(&inner);
            let udp = crate::wire::udp::datagram(a, b, 35840, port, &payload, false);
            Ipv4Build {
                tos: 0,
                id: 2,
                df: false,
                ttl: 64,
                proto: ipv4::PROTO_UDP,
                src: a,
                dst: b,
            }
            .packet(&udp)
        };
        assert_eq!(
            summarize(&outer(4789, 4096), false),
            "IP 10.211.55.5.35840 > 10.211.55.6.4789: VXLAN, flags [I] (0x08), vni 4096: \
             IP 10.42.1.11 > 10.42.2.11: ICMP echo request, id 7, seq 1, length 64"
        );
        assert!(summarize(&outer(8472, 1), false)
            .starts_with("IP 10.211.55.5.35840 > 10.211.55.6.8472: OTV, flags [I] (0x08), overlay 0, instance 1: IP "));
    }
}
