//! Route resolution: input and output lookups, source address selection (`inet_select_addr`)
//! and the reverse-path filter (`fib_validate_source`).

use crate::dev::{DevId, DevKind, NsId};
use crate::netns::fib::{FibKey, Flow, Route, RouteType, RT_SCOPE_HOST, RT_SCOPE_LINK};
use crate::world::World;
use std::net::Ipv4Addr;

/// Why a locally generated packet has no route (the errno the socket sees).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OutError {
    /// ENETUNREACH: no route, or a `throw` route.
    NetUnreach,
    /// EHOSTUNREACH: an `unreachable` route.
    HostUnreach,
    /// EINVAL: a `blackhole` route.
    Invalid,
    /// EACCES: a `prohibit` route.
    Access,
}

impl OutError {
    /// `strerror()` of the errno, as ping prints it after `ping: connect: `.
    pub fn strerror(self) -> &'static str {
        match self {
            OutError::NetUnreach => "Network is unreachable",
            OutError::HostUnreach => "No route to host",
            OutError::Invalid => "Invalid argument",
            OutError::Access => "Permission denied",
        }
    }

    fn of(rtype: RouteType) -> OutError {
        match rtype {
            RouteType::Unreachable => OutError::HostUnreach,
            RouteType::Blackhole => OutError::Invalid,
            RouteType::Prohibit => OutError::Access,
            _ => OutError::NetUnreach,
        }
    }
}

/// The result of an output route lookup.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct OutRoute {
    pub dev: DevId,
    /// Where the neighbour layer resolves: the gateway, else the destination.
    pub nexthop: Ipv4Addr,
    pub src: Ipv4Addr,
    pub rtype: RouteType,
    pub route: Route,
}

/// Why the reverse-path check refused a source.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SourceError {
    /// -EXDEV: rp_filter (counted as IPReversePathFilter).
    Rpfilter,
    /// -EINVAL: martian source (local address, or a non-unicast reverse route).
    Martian,
}

impl World {
    /// The device a route's ifindex names in a netns.
    pub fn dev_of(&self, ns: NsId, ifindex: u32) -> Option<DevId> {
        let devs = &self.ns[ns].devs;
        // Devices are numbered as they are created, so ifindex N is usually the Nth.
        let guess = (ifindex as usize)
            .checked_sub(1)
            .and_then(|i| devs.get(i))
            .copied()
            .filter(|&d| self.devs[d].ifindex == ifindex);
        guess.or_else(|| {
            devs.iter()
                .copied()
                .find(|&d| self.devs[d].ifindex == ifindex)
        })
    }

    pub fn lo(&self, ns: NsId) -> DevId {
        self.ns[ns].devs[0]
    }

    /// `inet_addr_type()`: the type of `ip` as the local table sees it.
    pub fn addr_type(&self, ns: NsId, ip: Ipv4Addr) -> RouteType {
        let flow = Flow {
            daddr: ip,
            ..Flow::default()
        };
        addr_type_of(self.ns[ns].local.lookup(&flow).copied())
    }

    pub fn is_local_addr(&self, ns: NsId, ip: Ipv4Addr) -> bool {
        self.addr_type(ns, ip) == RouteType::Local
    }

    /// `inet_lookup_ifaddr_rcu()`: is `ip` configured on any interface of the netns?
    pub fn has_ifaddr(&self, ns: NsId, ip: Ipv4Addr) -> bool {
        self.ns[ns].ifaddrs.contains_key(&ip)
    }

    /// `inet_select_addr(dev, dst, scope)` (R2.2).
    pub fn select_addr(&self, ns: NsId, dev: DevId, dst: Ipv4Addr, scope: u8) -> Option<Ipv4Addr> {
        let mut first = None;
        for a in self.devs[dev].primary_addrs() {
            if a.scope > scope {
                continue;
            }
            let net = crate::netns::fib::Ipv4Net::new(a.addr, a.len);
            if dst.is_unspecified() || net.contains(dst) {
                return Some(a.addr);
            }
            first = first.or(Some(a.addr));
        }
        if first.is_some() {
            return first;
        }
        for &d in &self.ns[ns].devs {
            for a in self.devs[d].primary_addrs() {
                if a.scope != RT_SCOPE_LINK && a.scope <= scope {
                    return Some(a.addr);
                }
            }
        }
        None
    }

    /// Source for a route (`fib_result_prefsrc` / `nhc_saddr`).
    fn route_src(&self, ns: NsId, r: &Route, dev: DevId) -> Ipv4Addr {
        if let Some(s) = r.prefsrc {
            return s;
        }
        self.select_addr(ns, dev, r.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED), r.scope)
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// `fib_lookup()` in netns `ns`, through the cache of earlier lookups.
    #[inline]
    pub fn fib_lookup(&mut self, ns: NsId, flow: &Flow) -> Option<Route> {
        self.fib_cached(ns, flow, false)
    }

    /// A lookup of both tables, or of the local table alone, through the cache.
    #[inline]
    fn fib_cached(&mut self, ns: NsId, flow: &Flow, local_only: bool) -> Option<Route> {
        let n = &self.ns[ns];
        let lookup = |n: &crate::netns::Netns| match local_only {
            true => n.local.lookup(flow).copied(),
            false => n.fib_lookup(flow),
        };
        if n.local.is_small() && (local_only || n.main.is_small()) {
            // A pod's tables: a scan of a few prefixes, and no cache entry per destination.
            return lookup(n);
        }
        let key = FibKey::new(ns, flow, local_only);
        let (local, main) = n.fib_versions();
        if let Some(r) = self.fib_cache.get(&key, local, main) {
            return r;
        }
        let r = lookup(&self.ns[ns]);
        self.fib_cache.insert(key, local, main, r);
        r
    }

    /// `addr_type` through the cache (the neighbour layer asks it for every packet).
    pub fn addr_type_cached(&mut self, ns: NsId, ip: Ipv4Addr) -> RouteType {
        let flow = Flow {
            daddr: ip,
            ..Flow::default()
        };
        addr_type_of(self.fib_cached(ns, &flow, true))
    }

    /// `ip_route_output_key()`: the route for a locally generated packet.
    pub fn route_output(
        &mut self,
        ns: NsId,
        daddr: Ipv4Addr,
        saddr: Option<Ipv4Addr>,
        oif: Option<DevId>,
    ) -> Result<OutRoute, OutError> {
        let flow = Flow {
            daddr,
            oif: oif.map(|d| self.devs[d].ifindex),
            ..Flow::default()
        };
        let r = self.fib_lookup(ns, &flow);
        self.output_route(ns, daddr, saddr, r)
    }

    /// `route_output` without the cache, for readers of a world (`sim explain`).
    pub fn route_output_uncached(
        &self,
        ns: NsId,
        daddr: Ipv4Addr,
        saddr: Option<Ipv4Addr>,
    ) -> Result<OutRoute, OutError> {
        let flow = Flow {
            daddr,
            ..Flow::default()
        };
        self.output_route(ns, daddr, saddr, self.ns[ns].fib_lookup(&flow))
    }

    /// The output route that lookup result `r` gives.
    fn output_route(
        &self,
        ns: NsId,
        daddr: Ipv4Addr,
        saddr: Option<Ipv4Addr>,
        r: Option<Route>,
    ) -> Result<OutRoute, OutError> {
        let Some(r) = r else {
            return Err(OutError::NetUnreach);
        };
        match r.rtype {
            RouteType::Local => {
                let lo = self.lo(ns);
                Ok(OutRoute {
                    dev: lo,
                    nexthop: daddr,
                    src: saddr.unwrap_or(r.prefsrc.unwrap_or(daddr)),
                    rtype: RouteType::Local,
                    route: r,
                })
            }
            RouteType::Unicast | RouteType::Broadcast => {
                let Some(dev) = r.dev.and_then(|i| self.dev_of(ns, i)) else {
                    return Err(OutError::NetUnreach);
                };
                let src = saddr.unwrap_or_else(|| self.route_src(ns, &r, dev));
                Ok(OutRoute {
                    dev,
                    nexthop: r.gateway.unwrap_or(daddr),
                    src,
                    rtype: r.rtype,
                    route: r,
                })
            }
            t => Err(OutError::of(t)),
        }
    }

    /// `fib_validate_source()` (R4.3) for a packet from `src` received on `dev`,
    /// which would leave by `oif` when forwarded. Ok(true) means the source is on-link.
    pub fn validate_source(
        &self,
        ns: NsId,
        src: Ipv4Addr,
        dev: DevId,
        oif: Option<DevId>,
    ) -> Result<bool, SourceError> {
        let n = &self.ns[ns];
        let d = &self.devs[dev];
        let r = n.conf_all.rp_filter.max(d.conf.rp_filter);
        let redirect_case =
            oif == Some(dev) && (n.conf_all.send_redirects || d.conf.send_redirects);
        if r == 0 && !redirect_case {
            if d.conf.accept_local || n.conf_all.accept_local {
                return Ok(false);
            }
            if !n.custom_local_routes {
                if self.has_ifaddr(ns, src) {
                    return Err(SourceError::Martian);
                }
                return Ok(false);
            }
        }
        // Full check: the reverse lookup.
        let no_addr = d.addrs.is_empty();
        let flow = Flow {
            daddr: src,
            ..Flow::default()
        };
        let res = n.fib_lookup(&flow).filter(|r| !r.is_error_type());
        let Some(res) = res else {
            return if r != 0 {
                Err(SourceError::Rpfilter)
            } else {
                Ok(false)
            };
        };
        let accept_local = d.conf.accept_local || n.conf_all.accept_local;
        if res.rtype != RouteType::Unicast && !(res.rtype == RouteType::Local && accept_local) {
            return Err(SourceError::Martian);
        }
        let dev_match = res.dev == Some(d.ifindex)
            || (res.rtype == RouteType::Local && matches!(d.kind, DevKind::Loopback));
        if dev_match {
            return Ok(res.nh_scope >= RT_SCOPE_HOST);
        }
        if no_addr {
            return if r != 0 {
                Err(SourceError::Rpfilter)
            } else {
                Ok(false)
            };
        }
        if r == 1 {
            return Err(SourceError::Rpfilter);
        }
        // Loose mode (or the redirect case): a second lookup restricted to dev, for the hint only.
        let flow = Flow {
            daddr: src,
            oif: Some(d.ifindex),
            ..Flow::default()
        };
        Ok(n.fib_lookup(&flow)
            .is_some_and(|r| r.rtype == RouteType::Unicast && r.nh_scope >= RT_SCOPE_HOST))
    }
}

/// `inet_addr_type()`'s answer from a local-table lookup: local, broadcast, else unicast.
fn addr_type_of(r: Option<Route>) -> RouteType {
    match r {
        Some(r) if matches!(r.rtype, RouteType::Local | RouteType::Broadcast) => r.rtype,
        _ => RouteType::Unicast,
    }
}
