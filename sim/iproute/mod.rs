//! iproute2's text, both ways: command lines users paste (`ip route add ...`, `ip neigh add ...`,
//! `sysctl -w ...`, and `iptables -t nat ...`/`ipset ...`) parsed into typed commands, and
//! tables printed exactly as `ip route`, `ip addr`, `ip neigh`, `route -n` and
//! `iptables -t nat -S` print them. No state: the netns applies commands.

mod iptables;
mod parse;
mod show;

pub use iptables::{format_nat_rules, format_rule};
pub use parse::{
    parse_command, parse_fdb, parse_mac, parse_neigh, parse_route, split_words, ParseError,
};
pub use show::{format_addr, format_neigh, format_route, format_route_n};

use crate::netns::fib::{Ipv4Net, RouteType};
use crate::netns::neigh::NudState;
use std::net::Ipv4Addr;

/// The device a sysctl key names (`cali1` in `net.ipv4.conf.cali1.proxy_arp`), if it names
/// one rather than `all` or `default`. Device names may contain dots (`vxlan.calico`): the
/// knob is the last part.
pub fn sysctl_device(key: &str) -> Option<&str> {
    let rest = key
        .strip_prefix("net.ipv4.conf.")
        .or_else(|| key.strip_prefix("net.ipv4.neigh."))?;
    let (target, _knob) = rest.rsplit_once('.')?;
    (target != "all" && target != "default").then_some(target)
}

/// A route as written on an `ip route add|replace|del` line, before it is checked against the
/// netns (device names unresolved; unset fields take iproute2's or the kernel's default).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RouteSpec {
    pub rtype: RouteType,
    pub dst: Ipv4Net,
    pub tos: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dev: Option<String>,
    /// None: iproute2's default, `boot` (3).
    pub proto: Option<u8>,
    /// None: iproute2 picks it (R1.7): link for gatewayless unicast, host for local, ...
    pub scope: Option<u8>,
    pub prefsrc: Option<Ipv4Addr>,
    pub metric: Option<u32>,
    pub onlink: bool,
    /// None: main (local for `local`/`broadcast` types, as iproute2 does).
    pub table: Option<u32>,
}

/// An `ip neigh add|replace|del` line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NeighSpec {
    pub ip: Ipv4Addr,
    pub dev: String,
    pub lladdr: Option<[u8; 6]>,
    /// `nud STATE`; iproute2 defaults to PERMANENT.
    pub state: NudState,
}

/// One configuration command, as a by-hand lab would type it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Command {
    RouteAdd(RouteSpec),
    RouteAppend(RouteSpec),
    RouteReplace(RouteSpec),
    RouteDel(RouteSpec),
    NeighAdd(NeighSpec),
    NeighReplace(NeighSpec),
    NeighDel {
        ip: Ipv4Addr,
        dev: String,
    },
    /// `ip addr add A/len dev D`
    AddrAdd {
        dev: String,
        addr: Ipv4Addr,
        len: u8,
    },
    AddrDel {
        dev: String,
        addr: Ipv4Addr,
        len: u8,
    },
    /// `ip link set DEV [up|down] [mtu N] [address MAC]`
    LinkSet {
        dev: String,
        up: Option<bool>,
        mtu: Option<u32>,
        address: Option<[u8; 6]>,
    },
    /// `bridge fdb add|append|replace|del MAC dev DEV [dst IP] [self|master]
    /// [permanent|static|dynamic]`
    Fdb {
        op: FdbCmd,
        mac: [u8; 6],
        dev: String,
        dst: Option<Ipv4Addr>,
        /// `master`: the bridge's FDB; otherwise `self`, the device's own (a VXLAN's).
        master: bool,
        /// `permanent` (iproute2's default) or `static`/`dynamic` (NUD_REACHABLE).
        permanent: bool,
    },
    /// `bridge link set dev DEV [hairpin on|off] [learning on|off] [flood on|off]`
    BridgeLink {
        dev: String,
        hairpin: Option<bool>,
        learning: Option<bool>,
        flood: Option<bool>,
    },
    /// `sysctl -w net.ipv4.conf.all.rp_filter=2`, `sysctl net.ipv4.ip_forward=1`, or
    /// `echo 1 > /proc/sys/net/ipv4/conf/tap1/proxy_arp`; key in dotted form.
    Sysctl {
        key: String,
        value: String,
    },
    /// `iptables -t nat -A|-I|-D|-N|-F|-X ...` (iptables-nft 1.8.9 syntax).
    Iptables(crate::netns::nat::IptablesCmd),
    /// `ipset create NAME hash:net ...`, `ipset add|del NAME CIDR`.
    Ipset(crate::netns::nat::IpsetCmd),
}

/// What `bridge fdb` does to an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FdbCmd {
    Add,
    Append,
    Replace,
    Del,
}

/// Link kinds as `ip addr` distinguishes them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkKind {
    Loopback,
    /// A virtual Ethernet device (veth; vxlan when it has no peer).
    Ether,
    /// A physical NIC (`qdisc fq_codel`, `state UP` with carrier).
    Nic,
    /// ipip fallback device (`link/ipip 0.0.0.0 brd 0.0.0.0`).
    Ipip,
    /// A Linux bridge (`state UP` while a port has carrier, else NO-CARRIER and DOWN).
    Bridge,
    /// A VXLAN device (`state UNKNOWN`: no carrier of its own to report).
    Vxlan,
}

/// An address as `ip addr` prints it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AddrView {
    pub addr: Ipv4Addr,
    pub len: u8,
    pub scope: u8,
    /// Explicit `brd`, only when it was given (`ip addr add` without `brd` shows none).
    pub brd: Option<Ipv4Addr>,
}

/// A device as `ip addr` prints it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LinkView {
    pub ifindex: u32,
    pub name: String,
    pub kind: LinkKind,
    /// veth: the peer's ifindex (`eth0@if5`); ipip: prints `@NONE`.
    pub peer_ifindex: Option<u32>,
    /// veth: the peer's netns name when it is another netns (`link-netns pod1`).
    pub link_netns: Option<String>,
    /// The bridge this device is a port of (`master cni0`).
    pub master: Option<String>,
    pub admin_up: bool,
    /// Carrier (LOWER_UP).
    pub carrier: bool,
    pub mtu: u32,
    pub mac: [u8; 6],
    pub addrs: Vec<AddrView>,
}

/// A neighbour entry as `ip neigh` prints it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NeighView {
    pub ip: Ipv4Addr,
    pub dev: String,
    pub lladdr: Option<[u8; 6]>,
    pub state: NudState,
}
