//! A network namespace: its FIB, neighbour table, sysctls, counters, and the per-netns state
//! Linux keeps for IP IDs and ICMP rate limits. Pure data; the stack in `crate::stack` drives it.

pub mod fib;
pub mod frag;
pub mod ident;
pub mod nat;
pub mod neigh;
pub mod nstat;

use crate::dev::{DevConf, DevId};
use crate::time::Instant;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// An inet_peer's token bucket (shared by `ip_error()` and the ICMP limiter, R3.6), in ns.
#[derive(Clone, Copy, Debug)]
pub struct PeerBucket {
    pub rate_tokens_ns: u64,
    pub rate_last: Instant,
}

/// A network namespace.
#[derive(Clone, Debug)]
pub struct Netns {
    pub name: String,
    /// The host (node) this netns belongs to: itself for a host's root netns.
    pub host: String,
    /// Devices in ifindex order; `devs[0]` is lo.
    pub devs: Vec<DevId>,
    pub local: fib::Table,
    pub main: fib::Table,
    /// A user added routes to the local table (forces rp_filter's full check, R4.3).
    pub custom_local_routes: bool,
    pub neigh: neigh::NeighTable,
    pub conf_all: DevConf,
    pub conf_default: DevConf,
    pub counters: nstat::Counters,
    pub ident: ident::IpIdent,
    pub peers: BTreeMap<Ipv4Addr, PeerBucket>,
    /// Global ICMP limiter (`icmp_global_allow`): tokens in ns of credit, refilled 1/ms.
    pub icmp_global_credit: u64,
    pub icmp_global_stamp: Instant,
    pub next_ifindex: u32,
    /// ICMP sysctls.
    pub icmp_ratelimit_ms: u64,
    pub icmp_ratemask: u32,
    pub icmp_errors_use_inbound_ifaddr: bool,
    pub ip_default_ttl: u8,
    /// Seed of the flow hash (`skb_get_hash`): Linux draws it once per boot, so every netns
    /// of one host shares it (see `World::add_netns`). It picks VXLAN source ports.
    pub flow_hash_seed: u64,
    /// IPv4 reassembly queues (`ip_defrag`).
    pub frag: frag::FragQueues,
    /// Path MTU exceptions learnt from ICMP "fragmentation needed" (`fib_nh_exception`):
    /// destination -> (MTU, expiry after `ip_rt_mtu_expires`, 600 s).
    pub pmtu: BTreeMap<Ipv4Addr, (u32, Instant)>,
    /// iptables nat table, ipsets and conntrack.
    pub nf: nat::Netfilter,
    /// UDP sockets of applications, bound on the wildcard address: port -> application
    /// (`World::udp_apps`). VXLAN devices' sockets are found through the devices.
    pub udp_socks: BTreeMap<u16, usize>,
    /// Echo ids of ping meshes in this netns -> `World::ping_meshes`.
    pub ping_ids: BTreeMap<u16, usize>,
    /// Every address configured on a device of this netns, with how many devices carry it
    /// (a Calico node has 169.254.1.1 on every cali): `inet_lookup_ifaddr_rcu`'s hash, for
    /// the martian-source check on every input. Kept by `addr_add` and `addr_del`.
    pub ifaddrs: rustc_hash::FxHashMap<Ipv4Addr, u32>,
}

/// `ip_rt_min_pmtu`: a smaller advertised MTU is raised to this (and DF is then not set).
pub const MIN_PMTU: u32 = 552;
/// `ip_rt_mtu_expires`: how long a learnt path MTU holds.
pub const MTU_EXPIRES: crate::time::Duration = crate::time::Duration::from_secs(600);

impl Netns {
    /// The path MTU toward `daddr` through a device of MTU `dev_mtu` (`ip_dst_mtu`).
    pub fn path_mtu(&self, now: Instant, daddr: Ipv4Addr, dev_mtu: u32) -> u32 {
        match self.pmtu.get(&daddr) {
            Some(&(m, expires)) if expires > now => m.min(dev_mtu),
            _ => dev_mtu,
        }
    }

    /// `__ip_rt_update_pmtu`: only ever lowers the path MTU, never below `MIN_PMTU`.
    pub fn update_pmtu(&mut self, now: Instant, daddr: Ipv4Addr, mtu: u32, dev_mtu: u32) {
        let mtu = mtu.max(MIN_PMTU);
        if mtu >= self.path_mtu(now, daddr, dev_mtu) {
            return;
        }
        self.pmtu.insert(daddr, (mtu, now + MTU_EXPIRES));
    }

    pub fn new(name: String, host: String, ident_key: u64, ident_seed: u64) -> Self {
        Netns {
            name,
            host,
            devs: Vec::new(),
            local: fib::Table::default(),
            main: fib::Table::default(),
            custom_local_routes: false,
            neigh: neigh::NeighTable::default(),
            conf_all: DevConf::default(),
            conf_default: DevConf::default(),
            counters: Default::default(),
            ident: ident::IpIdent::new(ident_key, ident_seed),
            flow_hash_seed: 0,
            frag: frag::FragQueues::default(),
            pmtu: BTreeMap::new(),
            nf: nat::Netfilter::default(),
            udp_socks: BTreeMap::new(),
            ping_ids: BTreeMap::new(),
            ifaddrs: Default::default(),
            peers: BTreeMap::new(),
            icmp_global_credit: ICMP_MSGS_BURST,
            icmp_global_stamp: Instant::ZERO,
            next_ifindex: 1,
            icmp_ratelimit_ms: 1000,
            icmp_ratemask: 0x1818,
            icmp_errors_use_inbound_ifaddr: false,
            ip_default_ttl: 64,
        }
    }

    #[inline]
    pub fn count(&mut self, c: nstat::Nstat) {
        self.counters.bump(c);
    }

    pub fn nstat(&self, c: nstat::Nstat) -> u64 {
        self.counters.get(c)
    }

    /// A counter by its `nstat` name (0 for a name sim does not keep).
    pub fn counter(&self, name: &str) -> u64 {
        nstat::Nstat::from_name(name).map_or(0, |c| self.counters.get(c))
    }

    pub fn table(&self, id: u32) -> &fib::Table {
        if id == fib::RT_TABLE_LOCAL {
            &self.local
        } else {
            &self.main
        }
    }

    pub fn table_mut(&mut self, id: u32) -> &mut fib::Table {
        if id == fib::RT_TABLE_LOCAL {
            &mut self.local
        } else {
            &mut self.main
        }
    }

    /// Versions of the local and main tables (the key of a cached lookup's validity).
    pub fn fib_versions(&self) -> (u64, u64) {
        (self.local.version(), self.main.version())
    }

    /// `fib_lookup()` with the default rules: local table, then main (the default table is empty).
    pub fn fib_lookup(&self, flow: &fib::Flow) -> Option<fib::Route> {
        self.local
            .lookup(flow)
            .or_else(|| self.main.lookup(flow))
            .copied()
    }
}

/// `icmp_msgs_burst` (50 messages), and one message of credit is 1 ms at 1000 msgs/s.
pub const ICMP_MSGS_BURST: u64 = 50;
