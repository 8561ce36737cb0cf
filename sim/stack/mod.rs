//! The IPv4 stack of every netns, as `impl World` blocks: receive, route, forward, deliver,
//! output, ARP and neighbours, ICMP, IPIP, the bridge and VXLAN datapaths, netfilter's
//! conntrack and nat hooks, and configuration commands.

pub mod arp;
pub mod bridge;
pub mod config;
pub mod icmp;
pub mod ipip;
pub mod ipv4;
pub mod journey;
pub mod nat;
pub mod route;
pub mod summary;
pub mod udp;
pub mod vxlan;
