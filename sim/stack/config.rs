//! Configuration of a netns as iproute2 and sysctl would do it: devices, addresses (with the
//! routes `ip addr add` creates), routes with the kernel's validation, neighbours, link
//! up/down, and sysctls. Errors read as iproute2 prints them.

use crate::dev::bridge::{Bridge, FdbEntry};
use crate::dev::vxlan::{FdbOp, FdbState, Vxlan};
use crate::dev::{DevConf, DevId, DevKind, Device, IfAddr, NsId};
use crate::iproute::{Command, FdbCmd, NeighSpec, RouteSpec};
use crate::netns::fib::{
    Flow, Ipv4Net, Route, RouteType, RTPROT_BOOT, RTPROT_KERNEL, RT_SCOPE_HOST, RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE, RT_TABLE_LOCAL, RT_TABLE_MAIN,
};
use crate::netns::neigh::NeighEntry;
use crate::netns::Netns;
use crate::time::Duration;
use crate::world::World;
use rand::Rng;
use std::net::Ipv4Addr;

impl World {
    /// Creates a netns with its loopback device, up, holding 127.0.0.1/8.
    pub fn add_netns(&mut self, name: &str, host: &str) -> NsId {
        let key = self.engine.rng.gen();
        let seed = self.engine.rng.gen();
        self.ns
            .push(Netns::new(name.to_string(), host.to_string(), key, seed));
        let ns = self.ns.len() - 1;
        self.index_ns_name(name, ns);
        // Per host, derived from the scenario seed and the host's name rather than drawn, so
        // it moved no other random draw.
        let h = host
            .bytes()
            .fold(self.engine.seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        self.ns[ns].flow_hash_seed = h;
        let lo = self.add_device(ns, "lo", DevKind::Loopback, Some([0; 6]), Some(65536));
        self.devs[lo].admin_up = true;
        let _ = self.addr_add(lo, Ipv4Addr::new(127, 0, 0, 1), 8);
        ns
    }

    /// Creates a device, down, with conf copied from conf/default and a random MAC unless given
    /// (`eth_random_addr`: locally administered unicast).
    pub fn add_device(
        &mut self,
        ns: NsId,
        name: &str,
        kind: DevKind,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> DevId {
        let mac = mac.unwrap_or_else(|| {
            let mut m: [u8; 6] = self.engine.rng.gen();
            m[0] = (m[0] & 0xfe) | 0x02;
            m
        });
        let mtu = mtu.unwrap_or(match kind {
            DevKind::Loopback => 65536,
            DevKind::Ipip => 1480,
            // VXLAN_HEADROOM below its underlay's MTU (`vxlan_dev_configure`), 1500 without one.
            DevKind::Vxlan { idx } => self.vxlans[idx]
                .link
                .and_then(|i| self.dev_of(ns, i))
                .map_or(1500, |l| self.devs[l].mtu.saturating_sub(50)),
            _ => 1500,
        });
        // reachable_time = base (30 s) * uniform [0.5, 1.5) (`neigh_rand_reach_time`).
        let reachable =
            Duration::from_ns(self.engine.rng.gen_range(15_000_000_000..45_000_000_000));
        let n = &mut self.ns[ns];
        let ifindex = n.next_ifindex;
        n.next_ifindex += 1;
        self.devs.push(Device {
            ns,
            ifindex,
            name: name.to_string(),
            kind,
            mac,
            mtu,
            admin_up: false,
            addrs: Vec::new(),
            conf: n.conf_default,
            capture: None,
            reachable_time: reachable,
            stats: Default::default(),
            delay: Duration::ZERO,
            master: None,
        });
        let id = self.devs.len() - 1;
        self.ns[ns].devs.push(id);
        id
    }

    /// Runs one command in a netns.
    pub fn apply_command(&mut self, ns: NsId, cmd: &Command) -> Result<(), String> {
        match cmd {
            Command::RouteAdd(s) => self.route_modify(ns, s, Modify::Add),
            Command::RouteAppend(s) => self.route_modify(ns, s, Modify::Append),
            Command::RouteReplace(s) => self.route_modify(ns, s, Modify::Replace),
            Command::RouteDel(s) => self.route_del(ns, s),
            Command::NeighAdd(s) => self.neigh_add(ns, s, false),
            Command::NeighReplace(s) => self.neigh_add(ns, s, true),
            Command::NeighDel { ip, dev } => {
                let d = self.find_dev(ns, dev)?;
                match self.ns[ns].neigh.entries.remove(&(d, *ip)) {
                    Some(_) => Ok(()),
                    None => Err("RTNETLINK answers: No such file or directory".into()),
                }
            }
            Command::AddrAdd { dev, addr, len } => {
                let d = self.find_dev(ns, dev)?;
                self.addr_add(d, *addr, *len)
            }
            Command::AddrDel { dev, addr, len } => {
                let d = self.find_dev(ns, dev)?;
                self.addr_del(d, *addr, *len)
            }
            Command::LinkSet {
                dev,
                up,
                mtu,
                address,
            } => {
                let d = self.find_dev(ns, dev)?;
                if let Some(m) = mtu {
                    self.devs[d].mtu = *m;
                    if let DevKind::Bridge { idx } = self.devs[d].kind {
                        self.bridges[idx].mtu_set = true;
                    }
                }
                if let Some(a) = address {
                    let old = self.devs[d].mac;
                    self.devs[d].mac = *a;
                    let now = self.now();
                    if let DevKind::Bridge { idx } = self.devs[d].kind {
                        self.bridges[idx].mac_set = true;
                        self.bridges[idx].change_mac(old, *a, now);
                    }
                }
                if let Some(br) = self.devs[d].master {
                    if let (Some(a), DevKind::Bridge { idx }) = (address, self.devs[br].kind) {
                        // `br_fdb_changeaddr`: the port's local entry follows its MAC.
                        let now = self.now();
                        self.bridges[idx]
                            .fdb
                            .retain(|e| !(e.local && e.port == Some(d)));
                        self.bridges[idx].insert_local(*a, Some(d), now);
                    }
                    self.bridge_follow_ports(br);
                }
                match up {
                    Some(true) => self.link_up(d),
                    Some(false) => self.link_down(d),
                    None => {}
                }
                Ok(())
            }
            Command::Sysctl { key, value } => self.sysctl_set(ns, key, value),
            Command::Iptables(c) => self.ns[ns].nf.iptables(c),
            Command::Ipset(c) => self.ns[ns].nf.ipset(c),
            Command::Fdb {
                op,
                mac,
                dev,
                dst,
                master,
                permanent,
            } => {
                let d = self.find_dev(ns, dev)?;
                self.fdb_command(d, *op, *mac, *dst, *master, *permanent)
            }
            Command::BridgeLink {
                dev,
                hairpin,
                learning,
                flood,
            } => {
                let d = self.find_dev(ns, dev)?;
                let Some(br) = self.devs[d].master else {
                    return Err("RTNETLINK answers: Operation not supported".into());
                };
                let DevKind::Bridge { idx } = self.devs[br].kind else {
                    return Err("RTNETLINK answers: Operation not supported".into());
                };
                if let Some(p) = self.bridges[idx].ports.iter_mut().find(|p| p.dev == d) {
                    p.hairpin = hairpin.unwrap_or(p.hairpin);
                    p.learning = learning.unwrap_or(p.learning);
                    p.flood = flood.unwrap_or(p.flood);
                }
                Ok(())
            }
        }
    }

    /// `ip link add NAME type bridge`: a bridge with its own MAC as a local FDB entry.
    pub fn add_bridge(
        &mut self,
        ns: NsId,
        name: &str,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> DevId {
        let idx = self.bridges.len();
        self.bridges.push(Bridge::new(mac.is_some(), mtu.is_some()));
        let dev = self.add_device(ns, name, DevKind::Bridge { idx }, mac, mtu);
        let (m, now) = (self.devs[dev].mac, self.now());
        self.bridges[idx].insert_local(m, None, now);
        dev
    }

    /// `ip link add NAME type vxlan ...`: the MTU defaults to the underlay's less 50.
    pub fn add_vxlan(
        &mut self,
        ns: NsId,
        name: &str,
        cfg: Vxlan,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> DevId {
        let idx = self.vxlans.len();
        self.vxlans.push(cfg);
        self.add_device(ns, name, DevKind::Vxlan { idx }, mac, mtu)
    }

    /// `ip link set PORT master BR` (`br_add_if`): the port joins, forwarding at once (no
    /// STP); the bridge's MAC and MTU follow its ports unless they were set (R8.5).
    pub fn bridge_add_port(&mut self, br: DevId, port: DevId) -> Result<(), String> {
        let DevKind::Bridge { idx } = self.devs[br].kind else {
            return Err("RTNETLINK answers: Operation not supported".into());
        };
        if self.devs[port].ns != self.devs[br].ns
            || matches!(
                self.devs[port].kind,
                DevKind::Bridge { .. } | DevKind::Loopback | DevKind::Ipip
            )
        {
            return Err("RTNETLINK answers: Invalid argument".into());
        }
        if self.devs[port].master.is_some() {
            return Err("RTNETLINK answers: Device or resource busy".into());
        }
        let now = self.now();
        let pmac = self.devs[port].mac;
        self.devs[port].master = Some(br);
        self.bridges[idx].add_port(port, pmac, now);
        self.bridge_follow_ports(br);
        Ok(())
    }

    /// `br_stp_recalculate_bridge_id` and `br_mtu_auto_adjust`.
    fn bridge_follow_ports(&mut self, br: DevId) {
        let DevKind::Bridge { idx } = self.devs[br].kind else {
            return;
        };
        let ports: Vec<DevId> = self.bridges[idx].ports.iter().map(|p| p.dev).collect();
        if !self.bridges[idx].mac_set {
            if let Some(min) = ports.iter().map(|&p| self.devs[p].mac).min() {
                let old = self.devs[br].mac;
                if old != min {
                    let now = self.now();
                    self.devs[br].mac = min;
                    self.bridges[idx].change_mac(old, min, now);
                }
            }
        }
        if !self.bridges[idx].mtu_set {
            if let Some(min) = ports.iter().map(|&p| self.devs[p].mtu).min() {
                self.devs[br].mtu = min;
            }
        }
    }

    /// `bridge fdb add|append|replace|del`: `self` entries go to a VXLAN device's FDB,
    /// `master` entries to the bridge a port belongs to.
    fn fdb_command(
        &mut self,
        dev: DevId,
        op: FdbCmd,
        mac: [u8; 6],
        dst: Option<Ipv4Addr>,
        master: bool,
        permanent: bool,
    ) -> Result<(), String> {
        let now = self.now();
        let unsupported = || Err("RTNETLINK answers: Operation not supported".to_string());
        if master {
            let Some(br) = self.devs[dev].master else {
                return unsupported();
            };
            let DevKind::Bridge { idx } = self.devs[br].kind else {
                return unsupported();
            };
            let b = &mut self.bridges[idx];
            let exists = b.fdb.iter().position(|e| e.mac == mac);
            return match (op, exists) {
                (FdbCmd::Del, Some(i)) => {
                    b.fdb.remove(i);
                    Ok(())
                }
                (FdbCmd::Del, None) => Err("RTNETLINK answers: No such file or directory".into()),
                (FdbCmd::Add, Some(_)) => Err("RTNETLINK answers: File exists".into()),
                (_, _) => {
                    if let Some(i) = exists {
                        b.fdb.remove(i);
                    }
                    b.fdb.insert(
                        0,
                        FdbEntry {
                            mac,
                            port: Some(dev),
                            local: false,
                            is_static: true,
                            updated: now,
                        },
                    );
                    Ok(())
                }
            };
        }
        let DevKind::Vxlan { idx } = self.devs[dev].kind else {
            return unsupported();
        };
        let v = &mut self.vxlans[idx];
        if op == FdbCmd::Del {
            return v.fdb_del(mac, dst);
        }
        let Some(remote) = dst else {
            // A VXLAN entry needs a destination (`vxlan_fdb_parse`).
            return Err("RTNETLINK answers: Invalid argument".into());
        };
        let state = if permanent {
            FdbState::Permanent
        } else {
            FdbState::Static
        };
        let op = match op {
            FdbCmd::Add => FdbOp::Add,
            FdbCmd::Append => FdbOp::Append,
            _ => FdbOp::Replace,
        };
        v.fdb_modify(now, mac, remote, state, op)
    }

    fn find_dev(&self, ns: NsId, name: &str) -> Result<DevId, String> {
        self.dev_by_name(ns, name)
            .ok_or_else(|| format!("Cannot find device \"{name}\""))
    }

    /// `ip addr add A/len dev D` (R1.13).
    pub fn addr_add(&mut self, dev: DevId, addr: Ipv4Addr, len: u8) -> Result<(), String> {
        if self.devs[dev]
            .addrs
            .iter()
            .any(|a| a.addr == addr && a.len == len)
        {
            return Err("RTNETLINK answers: File exists".into());
        }
        let net = Ipv4Net::new(addr, len);
        let secondary = self.devs[dev]
            .addrs
            .iter()
            .any(|a| a.len == len && Ipv4Net::new(a.addr, a.len) == net);
        let scope = if addr.is_loopback() {
            RT_SCOPE_HOST
        } else {
            RT_SCOPE_UNIVERSE
        };
        self.devs[dev].addrs.push(IfAddr {
            addr,
            len,
            scope,
            brd: None,
            secondary,
        });
        let ns = self.devs[dev].ns;
        *self.ns[ns].ifaddrs.entry(addr).or_insert(0) += 1;
        self.fib_add_ifaddr(dev, self.devs[dev].addrs.len() - 1);
        Ok(())
    }

    fn addr_del(&mut self, dev: DevId, addr: Ipv4Addr, len: u8) -> Result<(), String> {
        let Some(i) = self.devs[dev]
            .addrs
            .iter()
            .position(|a| a.addr == addr && a.len == len)
        else {
            return Err("RTNETLINK answers: Cannot assign requested address".into());
        };
        self.devs[dev].addrs.remove(i);
        let ns = self.devs[dev].ns;
        if let Some(n) = self.ns[ns].ifaddrs.get_mut(&addr) {
            *n -= 1;
            if *n == 0 {
                self.ns[ns].ifaddrs.remove(&addr);
            }
        }
        let ifindex = self.devs[dev].ifindex;
        self.ns[ns].nf.ct.masq_flush(ifindex, Some(addr));
        if self.devs[dev].addrs.is_empty() {
            // Removing the last address flushes every route through the device (R1.12).
            self.ns[ns].main.retain(|r| r.dev != Some(ifindex));
            self.ns[ns].local.retain(|r| r.dev != Some(ifindex));
        } else {
            self.ns[ns].main.retain(|r| {
                !(r.dev == Some(ifindex) && r.prefsrc == Some(addr) && r.proto == RTPROT_KERNEL)
            });
            self.ns[ns]
                .local
                .retain(|r| !(r.dev == Some(ifindex) && r.prefsrc == Some(addr)));
        }
        Ok(())
    }

    /// `fib_add_ifaddr()`: the local route always; prefix and broadcast routes while up.
    fn fib_add_ifaddr(&mut self, dev: DevId, idx: usize) {
        let d = &self.devs[dev];
        let a = d.addrs[idx];
        let (ns, ifindex, up, is_lo) = (
            d.ns,
            d.ifindex,
            d.admin_up,
            matches!(d.kind, DevKind::Loopback),
        );
        let kernel = |rtype, dst: Ipv4Net, scope| Route {
            table: if rtype == RouteType::Unicast {
                RT_TABLE_MAIN
            } else {
                RT_TABLE_LOCAL
            },
            dst,
            rtype,
            tos: 0,
            gateway: None,
            dev: Some(ifindex),
            proto: RTPROT_KERNEL,
            scope,
            prefsrc: Some(a.addr),
            metric: 0,
            onlink: false,
            nh_scope: RT_SCOPE_HOST,
        };
        self.ns[ns].local.insert(
            kernel(RouteType::Local, Ipv4Net::host(a.addr), RT_SCOPE_HOST),
            true,
        );
        if !up {
            return;
        }
        let prefix = Ipv4Net::new(a.addr, a.len);
        if prefix.addr.is_unspecified() || a.secondary || (a.len == 32 && prefix.addr == a.addr) {
            return;
        }
        if is_lo {
            self.ns[ns]
                .local
                .insert(kernel(RouteType::Local, prefix, RT_SCOPE_HOST), true);
        } else {
            self.ns[ns]
                .main
                .insert(kernel(RouteType::Unicast, prefix, RT_SCOPE_LINK), true);
        }
        if a.len < 31 {
            self.ns[ns].local.insert(
                kernel(
                    RouteType::Broadcast,
                    Ipv4Net::host(prefix.broadcast()),
                    RT_SCOPE_LINK,
                ),
                true,
            );
        }
    }

    /// `ip link set D up`: connected routes come back; static routes do not (R1.12).
    pub fn link_up(&mut self, dev: DevId) {
        if self.devs[dev].admin_up {
            return;
        }
        self.devs[dev].admin_up = true;
        let ns = self.devs[dev].ns;
        let ifindex = self.devs[dev].ifindex;
        // Re-adding all address routes: drop the local ones first so they are not doubled.
        self.ns[ns]
            .local
            .retain(|r| !(r.dev == Some(ifindex) && r.proto == RTPROT_KERNEL));
        for i in 0..self.devs[dev].addrs.len() {
            self.fib_add_ifaddr(dev, i);
        }
    }

    /// `ip link set D down`: every route through D goes except the local ones, neighbours flushed.
    pub fn link_down(&mut self, dev: DevId) {
        if !self.devs[dev].admin_up {
            return;
        }
        self.devs[dev].admin_up = false;
        // A bridge port going down is disabled (`br_stp_disable_port`): its learned entries
        // are flushed (`br_fdb_delete_by_port`), static and local ones stay.
        if let Some(br) = self.devs[dev].master {
            if let DevKind::Bridge { idx } = self.devs[br].kind {
                self.bridges[idx]
                    .fdb
                    .retain(|e| e.port != Some(dev) || e.is_static);
            }
        }
        let ns = self.devs[dev].ns;
        let ifindex = self.devs[dev].ifindex;
        self.ns[ns].nf.ct.masq_flush(ifindex, None);
        self.ns[ns].main.retain(|r| r.dev != Some(ifindex));
        self.ns[ns]
            .local
            .retain(|r| r.dev != Some(ifindex) || r.rtype == RouteType::Local);
        let keys: Vec<_> = self.ns[ns]
            .neigh
            .entries
            .keys()
            .filter(|(d, _)| *d == dev)
            .copied()
            .collect();
        let mut keys = keys;
        keys.sort_unstable();
        for k in keys {
            if let Some(e) = self.ns[ns].neigh.entries.remove(&k) {
                for pkt in e.queue {
                    self.drop_pkt(dev, pkt, crate::drop::DropReason::NotSpecified);
                }
            }
        }
    }

    /// Turns a RouteSpec into a Route with iproute2's defaults and the kernel's checks.
    fn build_route(&self, ns: NsId, s: &RouteSpec) -> Result<Route, String> {
        let table = s.table.unwrap_or(match s.rtype {
            RouteType::Local | RouteType::Broadcast => RT_TABLE_LOCAL,
            _ => RT_TABLE_MAIN,
        });
        if table != RT_TABLE_MAIN && table != RT_TABLE_LOCAL {
            // Without `ip rule` support a route in another table would never be looked up.
            return Err(format!(
                "table {table}: only the main and local tables are modelled (no ip rule)"
            ));
        }
        let scope = s.scope.unwrap_or(match s.rtype {
            RouteType::Local => RT_SCOPE_HOST,
            RouteType::Broadcast => RT_SCOPE_LINK,
            RouteType::Unicast if s.gateway.is_none() => RT_SCOPE_LINK,
            _ => RT_SCOPE_UNIVERSE,
        });
        let mut route = Route {
            table,
            dst: s.dst,
            rtype: s.rtype,
            tos: s.tos,
            gateway: s.gateway,
            dev: None,
            proto: s.proto.unwrap_or(RTPROT_BOOT),
            scope,
            prefsrc: s.prefsrc,
            metric: s.metric.unwrap_or(0),
            onlink: s.onlink,
            nh_scope: RT_SCOPE_HOST,
        };
        let dev = match &s.dev {
            Some(name) => Some(self.find_dev(ns, name)?),
            None => None,
        };
        if let Some(src) = s.prefsrc {
            if !self.is_local_addr(ns, src) {
                return Err("Error: Invalid prefsrc address.".into());
            }
        }
        if matches!(
            s.rtype,
            RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit | RouteType::Throw
        ) {
            route.dev = None;
            route.gateway = None;
            return Ok(route);
        }
        match s.gateway {
            Some(gw) if s.onlink => {
                // R1.11: onlink skips reachability but needs an up device and a unicast gateway.
                let Some(d) = dev else {
                    return Err("Error: Nexthop device required for onlink.".into());
                };
                if scope >= RT_SCOPE_LINK {
                    return Err("Error: Nexthop has invalid scope.".into());
                }
                if !self.devs[d].admin_up {
                    return Err("Error: Nexthop device is not up.".into());
                }
                if self.addr_type(ns, gw) != RouteType::Unicast || gw.is_multicast() {
                    return Err("Error: Nexthop has invalid gateway.".into());
                }
                route.dev = Some(self.devs[d].ifindex);
                route.nh_scope = RT_SCOPE_LINK;
            }
            Some(gw) => {
                // R1.10: the gateway must resolve through a link-scope (or narrower) route.
                let flow = Flow {
                    daddr: gw,
                    oif: dev.map(|d| self.devs[d].ifindex),
                    scope: (scope.saturating_add(1)).max(RT_SCOPE_LINK),
                    ..Flow::default()
                };
                let res = self.ns[ns].fib_lookup(&flow);
                let Some(res) =
                    res.filter(|r| matches!(r.rtype, RouteType::Unicast | RouteType::Local))
                else {
                    return Err("Error: Nexthop has invalid gateway.".into());
                };
                let Some(rd) = res.dev.and_then(|i| self.dev_of(ns, i)) else {
                    return Err("Error: No egress device for nexthop gateway.".into());
                };
                if !self.devs[rd].admin_up {
                    return Err("RTNETLINK answers: Network is down".into());
                }
                route.dev = Some(self.devs[rd].ifindex);
                route.nh_scope = res.scope;
            }
            None => {
                let Some(d) = dev else {
                    return Err("RTNETLINK answers: No such device".into());
                };
                if !self.devs[d].admin_up {
                    return Err("Error: Nexthop device is not up.".into());
                }
                route.dev = Some(self.devs[d].ifindex);
            }
        }
        Ok(route)
    }

    fn route_modify(&mut self, ns: NsId, s: &RouteSpec, how: Modify) -> Result<(), String> {
        let route = self.build_route(ns, s)?;
        if route.table == RT_TABLE_LOCAL {
            self.ns[ns].custom_local_routes = true;
        }
        let t = self.ns[ns].table_mut(route.table);
        match how {
            Modify::Add => {
                if t.find_exact(route.dst, route.tos, route.metric).is_some() {
                    return Err("RTNETLINK answers: File exists".into());
                }
                t.insert(route, false);
            }
            Modify::Append => t.insert(route, true),
            Modify::Replace => {
                let (dst, tos, metric) = (route.dst, route.tos, route.metric);
                t.remove_first(dst, |r| r.tos == tos && r.metric == metric);
                t.insert(route, false);
            }
        }
        Ok(())
    }

    fn route_del(&mut self, ns: NsId, s: &RouteSpec) -> Result<(), String> {
        let table = s.table.unwrap_or(match s.rtype {
            RouteType::Local | RouteType::Broadcast => RT_TABLE_LOCAL,
            _ => RT_TABLE_MAIN,
        });
        let dev = match &s.dev {
            Some(name) => Some(self.devs[self.find_dev(ns, name)?].ifindex),
            None => None,
        };
        // `fib_table_delete`: unspecified attributes match anything.
        let removed = self.ns[ns].table_mut(table).remove_first(s.dst, |r| {
            s.metric.is_none_or(|m| m == r.metric)
                && (s.tos == 0 || s.tos == r.tos)
                && s.gateway.is_none_or(|g| r.gateway == Some(g))
                && dev.is_none_or(|d| r.dev == Some(d))
                && s.proto.is_none_or(|p| p == r.proto)
                && s.scope.is_none_or(|sc| sc == r.scope)
                && (s.rtype == RouteType::Unicast || s.rtype == r.rtype)
        });
        match removed {
            Some(_) => Ok(()),
            None => Err("RTNETLINK answers: No such process".into()),
        }
    }

    fn neigh_add(&mut self, ns: NsId, s: &NeighSpec, replace: bool) -> Result<(), String> {
        let d = self.find_dev(ns, &s.dev)?;
        let now = self.now();
        let key = (d, s.ip);
        if !replace && self.ns[ns].neigh.entries.contains_key(&key) {
            return Err("RTNETLINK answers: File exists".into());
        }
        let lladdr = if self.devs[d].is_noarp() {
            None
        } else {
            s.lladdr
        };
        let mut e = NeighEntry::new(s.state, lladdr, now);
        if let Some(old) = self.ns[ns].neigh.entries.remove(&key) {
            e.gen = old.gen + 1;
            // Packets waiting on the old entry go out now if the new one has an address.
            for pkt in old.queue {
                match lladdr {
                    Some(_) if e.is_valid() => e.queue.push_back(pkt),
                    _ => self.drop_pkt(d, pkt, crate::drop::DropReason::NeighFailed),
                }
            }
        }
        let queued: Vec<_> = e.queue.drain(..).collect();
        self.ns[ns].neigh.entries.insert(key, e);
        for pkt in queued {
            self.neigh_output(d, s.ip, pkt);
        }
        Ok(())
    }

    /// `sysctl -w KEY=VALUE` for the IPv4 keys that change behaviour here.
    pub fn sysctl_set(&mut self, ns: NsId, key: &str, value: &str) -> Result<(), String> {
        let bad = || format!("sysctl: setting key \"{key}\": Invalid argument");
        let num: i64 = value.trim().parse().map_err(|_| bad())?;
        let flag = num != 0;
        if key == "net.ipv4.ip_forward" {
            // `inet_forward_change`: all, default and every existing device.
            self.ns[ns].conf_all.forwarding = flag;
            self.ns[ns].conf_default.forwarding = flag;
            for i in 0..self.ns[ns].devs.len() {
                let d = self.ns[ns].devs[i];
                self.devs[d].conf.forwarding = flag;
            }
            return Ok(());
        }
        let u = |v: i64| u64::try_from(v).map_err(|_| bad());
        match key {
            "net.ipv4.icmp_ratelimit" => return u(num).map(|v| self.ns[ns].icmp_ratelimit_ms = v),
            "net.ipv4.icmp_ratemask" => {
                return u(num).map(|v| self.ns[ns].icmp_ratemask = v as u32)
            }
            "net.ipv4.icmp_errors_use_inbound_ifaddr" => {
                self.ns[ns].icmp_errors_use_inbound_ifaddr = flag;
                return Ok(());
            }
            "net.ipv4.ip_default_ttl" => {
                let ttl = u8::try_from(num).ok().filter(|t| *t > 0).ok_or_else(bad)?;
                self.ns[ns].ip_default_ttl = ttl;
                return Ok(());
            }
            _ => {}
        }
        let unknown = || {
            format!(
                "sysctl: cannot stat /proc/sys/{}: No such file or directory",
                key.replace('.', "/")
            )
        };
        let (section, rest) = if let Some(r) = key.strip_prefix("net.ipv4.conf.") {
            ("conf", r)
        } else if let Some(r) = key.strip_prefix("net.ipv4.neigh.") {
            ("neigh", r)
        } else {
            return Err(unknown());
        };
        // The device name may itself contain dots (vxlan.calico): the knob is the last part.
        let (target, knob) = rest.rsplit_once('.').ok_or_else(unknown)?;
        let apply = |c: &mut DevConf| -> Result<(), ()> {
            match (section, knob) {
                ("conf", "forwarding") => c.forwarding = flag,
                ("conf", "rp_filter") => c.rp_filter = u8::try_from(num.clamp(0, 2)).unwrap_or(0),
                ("conf", "proxy_arp") => c.proxy_arp = flag,
                ("conf", "accept_local") => c.accept_local = flag,
                ("conf", "send_redirects") => c.send_redirects = flag,
                ("conf", "route_localnet") => c.route_localnet = flag,
                ("conf", "log_martians") => c.log_martians = flag,
                // In USER_HZ (1/100 s).
                ("neigh", "proxy_delay") => {
                    c.proxy_delay = Duration::from_ms(num.max(0) as u64 * 10)
                }
                _ => return Err(()),
            }
            Ok(())
        };
        match target {
            "all" if section == "conf" => {
                apply(&mut self.ns[ns].conf_all).map_err(|_| unknown())?;
                if knob == "forwarding" {
                    return self.sysctl_set(ns, "net.ipv4.ip_forward", value);
                }
            }
            "default" => apply(&mut self.ns[ns].conf_default).map_err(|_| unknown())?,
            dev => {
                let d = self.dev_by_name(ns, dev).ok_or_else(unknown)?;
                apply(&mut self.devs[d].conf).map_err(|_| unknown())?;
            }
        }
        Ok(())
    }
}

enum Modify {
    Add,
    Append,
    Replace,
}
