//! The IPv4 stack of every netns, as `impl World` blocks: receive, route, forward, deliver,
//! output, ARP and neighbours, ICMP, IPIP, and configuration commands.

pub mod arp;
pub mod config;
pub mod icmp;
pub mod ipip;
pub mod ipv4;
pub mod route;
pub mod summary;
