//! What a user would type in each netns after the run: `ip addr`, `ip route`,
//! `ip route show table local`, `ip neigh`, `route -n`, and `nstat` counters, from the world.

use crate::dev::{DevKind, NsId};
use crate::iproute::{
    format_addr, format_neigh, format_route, format_route_n, AddrView, LinkKind, LinkView,
    NeighView,
};
use crate::netns::fib::Route;
use crate::world::World;

impl World {
    fn dev_name_fn(&self, ns: NsId) -> impl Fn(u32) -> String + '_ {
        move |ifindex| {
            self.dev_of(ns, ifindex)
                .map(|d| self.devs[d].name.clone())
                .unwrap_or_else(|| format!("if{ifindex}"))
        }
    }

    /// `ip addr` in a netns.
    pub fn ip_addr(&self, ns: NsId) -> String {
        let links: Vec<LinkView> = self.ns[ns]
            .devs
            .iter()
            .map(|&d| {
                let dev = &self.devs[d];
                let (kind, peer_ifindex, link_netns) = match dev.kind {
                    DevKind::Loopback => (LinkKind::Loopback, None, None),
                    DevKind::Ipip => (LinkKind::Ipip, None, None),
                    DevKind::Nic { .. } => (LinkKind::Nic, None, None),
                    DevKind::Veth { peer } => {
                        let p = &self.devs[peer];
                        let other = (p.ns != dev.ns).then(|| self.ns[p.ns].name.clone());
                        (LinkKind::Ether, Some(p.ifindex), other)
                    }
                };
                LinkView {
                    ifindex: dev.ifindex,
                    name: dev.name.clone(),
                    kind,
                    peer_ifindex,
                    link_netns,
                    admin_up: dev.admin_up,
                    carrier: self.carrier(d),
                    mtu: dev.mtu,
                    mac: dev.mac,
                    addrs: dev
                        .addrs
                        .iter()
                        .map(|a| AddrView {
                            addr: a.addr,
                            len: a.len,
                            scope: a.scope,
                            brd: a.brd,
                        })
                        .collect(),
                }
            })
            .collect();
        format_addr(&links)
    }

    fn routes_text<'a>(&self, ns: NsId, routes: impl Iterator<Item = &'a Route>) -> String {
        let name = self.dev_name_fn(ns);
        routes.map(|r| format_route(r, &name) + "\n").collect()
    }

    /// `ip route` (the main table).
    pub fn ip_route(&self, ns: NsId) -> String {
        self.routes_text(ns, self.ns[ns].main.iter())
    }

    /// `ip route show table local`.
    pub fn ip_route_local(&self, ns: NsId) -> String {
        self.routes_text(ns, self.ns[ns].local.iter())
    }

    /// `route -n`.
    pub fn route_n(&self, ns: NsId) -> String {
        let routes: Vec<&Route> = self.ns[ns].main.iter().collect();
        format_route_n(&routes, &self.dev_name_fn(ns))
    }

    /// `ip neigh`.
    pub fn ip_neigh(&self, ns: NsId) -> String {
        let v: Vec<NeighView> = self.ns[ns]
            .neigh
            .entries
            .iter()
            .map(|((d, ip), e)| NeighView {
                ip: *ip,
                dev: self.devs[*d].name.clone(),
                lladdr: e.lladdr,
                state: e.state,
            })
            .collect();
        format_neigh(&v)
    }

    /// `nstat -az` for the counters that moved, one `Name value` per line.
    pub fn nstat(&self, ns: NsId) -> String {
        self.ns[ns]
            .counters
            .iter()
            .map(|(k, v)| format!("{k:<32}{v:>10}\n"))
            .collect()
    }

    /// Every table of a netns, as a lab notebook shows them.
    pub fn tables(&self, ns: NsId) -> String {
        let n = &self.ns[ns].name;
        format!(
            "# ip netns exec {n} ip addr\n{}\n# ip netns exec {n} ip route\n{}\n# ip netns exec {n} ip route show table local\n{}\n# ip netns exec {n} ip neigh\n{}\n# ip netns exec {n} nstat -az (non-zero)\n{}",
            self.ip_addr(ns),
            self.ip_route(ns),
            self.ip_route_local(ns),
            self.ip_neigh(ns),
            self.nstat(ns)
        )
    }
}
