//! What a user would type in each netns after the run: `ip addr`, `ip route`,
//! `ip route show table local`, `ip neigh`, `route -n`, `bridge fdb show`,
//! `iptables -t nat -S` and `nstat` counters, from the world.

use crate::dev::vxlan::FdbState;
use crate::dev::{DevId, DevKind, NsId};
use crate::iproute::{
    format_addr, format_nat_rules, format_neigh, format_route, format_route_n, AddrView, LinkKind,
    LinkView, NeighView,
};
use crate::netns::fib::Route;
use crate::wire::fmt_mac;
use crate::world::World;
use std::fmt::Write;

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
                    DevKind::Bridge { .. } => (LinkKind::Bridge, None, None),
                    DevKind::Vxlan { .. } => (LinkKind::Vxlan, None, None),
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
                    master: dev.master.map(|m| self.devs[m].name.clone()),
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
        let mut entries: Vec<_> = self.ns[ns].neigh.entries.iter().collect();
        entries.sort_unstable_by_key(|(k, _)| **k);
        let v: Vec<NeighView> = entries
            .into_iter()
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
            .sorted()
            .into_iter()
            .map(|(k, v)| format!("{k:<32}{v:>10}\n"))
            .collect()
    }

    /// The device's own multicast addresses (`ndo_dflt_fdb_dump` of its mc list), as a node
    /// with IPv6 disabled shows them: ff02::1's MAC is there from registration, 224.0.0.1's
    /// while up, and a bridge that is up also joins the multicast-router-discovery groups.
    fn self_fdb_lines(&self, d: DevId, out: &mut String) {
        let dev = &self.devs[d];
        let mut macs: Vec<&str> = vec!["33:33:00:00:00:01"];
        if dev.admin_up {
            if matches!(dev.kind, DevKind::Bridge { .. }) {
                macs.extend(["01:00:5e:00:00:6a", "33:33:00:00:00:6a"]);
            }
            macs.push("01:00:5e:00:00:01");
        }
        for m in macs {
            let _ = writeln!(out, "{m} dev {} self permanent", dev.name);
        }
    }

    /// `bridge fdb show` in a netns (iproute2 6.1, R8.6): devices in ifindex order; a bridge
    /// lists its own entries after its multicast list, a port its bridge entries (newest
    /// first) before its own list, a VXLAN device its remotes.
    pub fn bridge_fdb_show(&self, ns: NsId) -> String {
        let now = self.now();
        let mut out = String::new();
        for &d in &self.ns[ns].devs {
            let dev = &self.devs[d];
            match dev.kind {
                DevKind::Loopback | DevKind::Ipip => {}
                DevKind::Vxlan { idx } => {
                    let v = &self.vxlans[idx];
                    for e in &v.fdb {
                        let live =
                            e.state == FdbState::Permanent || now.since(e.updated) < v.ageing_time;
                        if !live {
                            continue;
                        }
                        let state = match e.state {
                            FdbState::Permanent => "permanent",
                            _ => "",
                        };
                        for r in &e.remotes {
                            let _ = writeln!(
                                out,
                                "{} dev {} dst {r} self {state}",
                                fmt_mac(&e.mac),
                                dev.name
                            );
                        }
                    }
                }
                DevKind::Bridge { idx } => {
                    self.self_fdb_lines(d, &mut out);
                    for e in self.bridges[idx].fdb.iter().filter(|e| e.port.is_none()) {
                        let _ = writeln!(
                            out,
                            "{} dev {} master {} permanent",
                            fmt_mac(&e.mac),
                            dev.name,
                            dev.name
                        );
                    }
                }
                _ => {
                    if let Some(br) = dev.master {
                        if let DevKind::Bridge { idx } = self.devs[br].kind {
                            let b = &self.bridges[idx];
                            for e in b.fdb.iter().filter(|e| e.port == Some(d)) {
                                if !e.is_live(now, b.ageing_time) {
                                    continue;
                                }
                                let state = match (e.local, e.is_static) {
                                    (true, _) => "permanent",
                                    (false, true) => "static",
                                    _ => "",
                                };
                                let _ = writeln!(
                                    out,
                                    "{} dev {} master {} {state}",
                                    fmt_mac(&e.mac),
                                    dev.name,
                                    self.devs[br].name
                                );
                            }
                        }
                    }
                    self.self_fdb_lines(d, &mut out);
                }
            }
        }
        out
    }

    /// `brctl showmacs BR` (bridge-utils, R8.7): sorted by MAC, without the port-less entry
    /// of the bridge itself; the timer is the time since the last frame from the MAC.
    pub fn brctl_showmacs(&self, br: DevId) -> String {
        let mut out = String::from("port no\tmac addr\t\tis local?\tageing timer\n");
        let DevKind::Bridge { idx } = self.devs[br].kind else {
            return out;
        };
        let b = &self.bridges[idx];
        let now = self.now();
        let mut rows: Vec<_> = b
            .fdb
            .iter()
            .filter(|e| e.is_live(now, b.ageing_time))
            .filter_map(|e| Some((e, b.port(e.port?)?.port_no)))
            .collect();
        rows.sort_by_key(|(e, _)| e.mac);
        for (e, port_no) in rows {
            let age_ns = if e.local {
                0
            } else {
                now.since(e.updated).as_ns()
            };
            let (secs, centis) = (age_ns / 1_000_000_000, age_ns % 1_000_000_000 / 10_000_000);
            let local = if e.local { "yes" } else { "no" };
            let _ = writeln!(
                out,
                "{port_no:3}\t{}\t{local}\t\t{secs:4}.{centis:02}",
                fmt_mac(&e.mac)
            );
        }
        out
    }

    /// `iptables -t nat -S` (iptables-nft 1.8.9), if the netns has a nat table.
    pub fn iptables_nat_save(&self, ns: NsId) -> Option<String> {
        self.ns[ns].nf.nat.as_ref().map(format_nat_rules)
    }

    /// `conntrack -L` (conntrack-tools 1.4.7): every live connection with its two tuples, the
    /// seconds it has left, `[UNREPLIED]` before a reply was seen and `[ASSURED]`.
    pub fn conntrack_list(&self, ns: NsId) -> String {
        use crate::netns::nat::{Tuple, IPS_ASSURED, IPS_SEEN_REPLY};
        let now = self.now();
        let fields = |t: &Tuple| match t.proto {
            1 => format!(
                "src={} dst={} type={} code={} id={}",
                t.src,
                t.dst,
                t.dst_u >> 8,
                t.dst_u & 0xff,
                t.src_u
            ),
            6 | 17 => format!(
                "src={} dst={} sport={} dport={}",
                t.src, t.dst, t.src_u, t.dst_u
            ),
            _ => format!("src={} dst={}", t.src, t.dst),
        };
        let mut out = String::new();
        for c in self.ns[ns].nf.ct.conns.values().filter(|c| c.timeout > now) {
            let o = c.orig();
            let name = match o.proto {
                1 => "icmp".to_string(),
                6 => "tcp".to_string(),
                17 => "udp".to_string(),
                _ => "unknown".to_string(),
            };
            let _ = write!(
                out,
                "{name:<8} {} {} {}",
                o.proto,
                c.timeout.since(now).as_ns() / 1_000_000_000,
                fields(o)
            );
            if c.status & IPS_SEEN_REPLY == 0 {
                out.push_str(" [UNREPLIED]");
            }
            let _ = write!(out, " {}", fields(c.reply()));
            if c.status & IPS_ASSURED != 0 {
                out.push_str(" [ASSURED]");
            }
            out.push_str(" mark=0 use=1\n");
        }
        out
    }

    /// True if the netns has a bridge or VXLAN device, i.e. `bridge fdb show` is worth showing.
    pub fn has_fdb(&self, ns: NsId) -> bool {
        self.ns[ns].devs.iter().any(|&d| {
            matches!(
                self.devs[d].kind,
                DevKind::Bridge { .. } | DevKind::Vxlan { .. }
            )
        })
    }

    /// Every table of a netns, as a lab notebook shows them.
    pub fn tables(&self, ns: NsId) -> String {
        let n = &self.ns[ns].name;
        let mut out = format!(
            "# ip netns exec {n} ip addr\n{}\n# ip netns exec {n} ip route\n{}\n# ip netns exec {n} ip route show table local\n{}\n# ip netns exec {n} ip neigh\n{}\n",
            self.ip_addr(ns),
            self.ip_route(ns),
            self.ip_route_local(ns),
            self.ip_neigh(ns),
        );
        if self.has_fdb(ns) {
            let _ = write!(
                out,
                "# ip netns exec {n} bridge fdb show\n{}\n",
                self.bridge_fdb_show(ns)
            );
            for &d in &self.ns[ns].devs {
                if matches!(self.devs[d].kind, DevKind::Bridge { .. }) {
                    let _ = write!(
                        out,
                        "# ip netns exec {n} brctl showmacs {}\n{}\n",
                        self.devs[d].name,
                        self.brctl_showmacs(d)
                    );
                }
            }
        }
        if let Some(rules) = self.iptables_nat_save(ns) {
            let _ = write!(
                out,
                "# ip netns exec {n} iptables -t nat -S\n{rules}\n# ip netns exec {n} conntrack -L\n{}\n",
                self.conntrack_list(ns)
            );
        }
        let _ = write!(
            out,
            "# ip netns exec {n} nstat -az (non-zero)\n{}",
            self.nstat(ns)
        );
        out
    }
}
