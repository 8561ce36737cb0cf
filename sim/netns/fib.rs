//! The FIB: local and main routing tables, longest-prefix match, route types and scopes.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Versions of table contents: every change to any table takes a new one, so equal versions
/// mean equal contents (in any world, fork or thread) and a cached lookup stays valid exactly
/// while the versions it was made with do.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

/// Table ids as in `include/uapi/linux/rtnetlink.h`.
pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;

/// Route scopes (`rtm_scope`).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_SITE: u8 = 200;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
pub const RT_SCOPE_NOWHERE: u8 = 255;

/// Route protocols (`rtm_protocol`).
pub const RTPROT_KERNEL: u8 = 2;
pub const RTPROT_BOOT: u8 = 3;
pub const RTPROT_STATIC: u8 = 4;
pub const RTPROT_BIRD: u8 = 12;

/// An IPv4 prefix, always stored with its host bits cleared.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Ipv4Net {
    /// A prefix; host bits are cleared, as the kernel does for `ip route add 10.1.2.3/24`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Self {
        let len = len.min(32);
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask(len)),
            len,
        }
    }
    pub fn host(addr: Ipv4Addr) -> Self {
        Ipv4Net { addr, len: 32 }
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.len) == u32::from(self.addr)
    }
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(mask(self.len))
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.len))
    }
}

/// The netmask for a prefix length.
pub fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len.min(32))
    }
}

/// Route types (`rtm_type`) that change what happens to a packet (R1 table in §1.2).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum RouteType {
    Unicast,
    Local,
    Broadcast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

impl RouteType {
    /// The word iproute2 prints and parses.
    pub fn name(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Local => "local",
            RouteType::Broadcast => "broadcast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
            RouteType::Throw => "throw",
        }
    }
}

/// Index of a device within its netns (the ifindex).
pub type Ifindex = u32;

/// One route (one fib alias).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Route {
    pub table: u32,
    pub dst: Ipv4Net,
    pub rtype: RouteType,
    pub tos: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dev: Option<Ifindex>,
    pub proto: u8,
    pub scope: u8,
    pub prefsrc: Option<Ipv4Addr>,
    /// `priority`; absent prints nothing, like the kernel's 0.
    pub metric: u32,
    pub onlink: bool,
    /// Internal nexthop scope (R1.8): host for `dev` routes, link for onlink/connected gateways.
    pub nh_scope: u8,
}

impl Route {
    /// True if the route resolves lookups (the others fail them with an error).
    pub fn is_error_type(&self) -> bool {
        matches!(
            self.rtype,
            RouteType::Blackhole | RouteType::Unreachable | RouteType::Prohibit | RouteType::Throw
        )
    }
}

/// What a lookup wants (the `flowi4` fields that matter here).
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    pub daddr: Ipv4Addr,
    pub tos: u8,
    /// Required output device (`ping -I`, reverse-path checks with an oif).
    pub oif: Option<Ifindex>,
    /// Minimum route scope (`flowi4_scope`): gateway validation asks for link or narrower.
    pub scope: u8,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            daddr: Ipv4Addr::UNSPECIFIED,
            tos: 0,
            oif: None,
            scope: RT_SCOPE_UNIVERSE,
        }
    }
}

impl Default for Ipv4Net {
    fn default() -> Self {
        Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0)
    }
}

/// A routing table: prefixes in a map keyed by (len desc, addr) so LPM walks longest first.
/// Cloning shares the routes until one copy changes them (`sim check` forks a world per pair,
/// and packets never change routes).
#[derive(Clone, Debug, Default)]
pub struct Table {
    inner: Arc<TableInner>,
}

#[derive(Clone, Debug, Default)]
struct TableInner {
    /// Aliases per prefix, kept sorted by (TOS desc, metric asc), then insertion order.
    /// Most prefixes have one route: kept inline, no allocation of its own.
    routes: rustc_hash::FxHashMap<(u8, u32), smallvec::SmallVec<[Route; 1]>>,
    /// Prefix lengths present, longest first, so lookups probe only those.
    lens: Vec<u8>,
    /// Which contents these are (0: empty, never changed).
    version: u64,
    /// A small table's prefixes, longest first: a lookup scans them instead of probing the
    /// map once per prefix length (a pod's tables hold a handful of routes). Empty when the
    /// table has more than `SMALL_MAX` prefixes.
    small: Vec<SmallPrefix>,
}

/// A prefix of a small table: its mask, and its key in the map.
#[derive(Clone, Copy, Debug)]
struct SmallPrefix {
    mask: u32,
    key: (u8, u32),
}

/// Prefixes up to which a table is scanned rather than probed.
const SMALL_MAX: usize = 8;

impl Table {
    fn key(net: Ipv4Net) -> (u8, u32) {
        (net.len, u32::from(net.addr))
    }

    /// Inserts an alias. `append` puts it after equal (tos, metric) aliases; otherwise it goes first
    /// among them (what `ip route add` and the kernel's `fib_table_insert` do with NLM_F_CREATE).
    pub fn insert(&mut self, r: Route, append: bool) {
        let t = Arc::make_mut(&mut self.inner);
        t.bump();
        let v = t.routes.entry(Self::key(r.dst)).or_default();
        let pos = v
            .iter()
            .position(|o| {
                (o.tos, std::cmp::Reverse(o.metric)) < (r.tos, std::cmp::Reverse(r.metric))
                    || (!append && o.tos == r.tos && o.metric == r.metric)
            })
            .unwrap_or(v.len());
        let len = r.dst.len;
        v.insert(pos, r);
        // A node holds a route per other node: keep inserts O(1) in the table's size.
        if !t.lens.contains(&len) {
            t.lens.push(len);
            t.lens.sort_unstable_by(|a, b| b.cmp(a));
        }
        t.index_small();
    }
}

impl TableInner {
    fn bump(&mut self) {
        self.version = NEXT_VERSION.fetch_add(1, Ordering::Relaxed);
    }

    fn index_small(&mut self) {
        self.small.clear();
        if self.routes.len() <= SMALL_MAX {
            let mut keys: Vec<(u8, u32)> = self.routes.keys().copied().collect();
            keys.sort_unstable_by(|a, b| b.cmp(a));
            self.small.extend(keys.into_iter().map(|key| SmallPrefix {
                mask: mask(key.0),
                key,
            }));
        }
    }

    fn reindex(&mut self) {
        self.bump();
        self.index_small();
        let mut lens: Vec<u8> = self.routes.keys().map(|(l, _)| *l).collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        lens.dedup();
        self.lens = lens;
    }
}

impl Table {
    /// The first alias at exactly this prefix with this tos and metric (for `add`'s EEXIST
    /// and for `replace`/`del`).
    pub fn find_exact(&self, dst: Ipv4Net, tos: u8, metric: u32) -> Option<&Route> {
        self.inner
            .routes
            .get(&Self::key(dst))
            .and_then(|v| v.iter().find(|r| r.tos == tos && r.metric == metric))
    }

    /// Removes the first alias matching the predicate at `dst`; returns it.
    pub fn remove_first(&mut self, dst: Ipv4Net, pred: impl Fn(&Route) -> bool) -> Option<Route> {
        let key = Self::key(dst);
        let i = self.inner.routes.get(&key)?.iter().position(pred)?;
        let t = Arc::make_mut(&mut self.inner);
        let v = t.routes.get_mut(&key)?;
        let r = v.remove(i);
        if v.is_empty() {
            t.routes.remove(&key);
        }
        t.reindex();
        Some(r)
    }

    /// Removes every route matching the predicate (device down, address removed).
    pub fn retain(&mut self, keep: impl Fn(&Route) -> bool) {
        if self.inner.routes.values().flatten().all(&keep) {
            return;
        }
        let t = Arc::make_mut(&mut self.inner);
        for v in t.routes.values_mut() {
            v.retain(|r| keep(r));
        }
        t.routes.retain(|_, v| !v.is_empty());
        t.reindex();
    }

    /// Longest-prefix match with backtracking (R1.2): the first alias at the longest prefix
    /// that passes the TOS and oif checks wins; error types (blackhole, ...) win too and fail
    /// the lookup in the caller.
    pub fn lookup(&self, flow: &Flow) -> Option<&Route> {
        let d = u32::from(flow.daddr);
        let t = &*self.inner;
        if self.is_small() {
            return t
                .small
                .iter()
                .filter(|p| d & p.mask == p.key.1)
                .find_map(|p| Self::first_match(t.routes.get(&p.key)?, flow));
        }
        t.lens
            .iter()
            .find_map(|&len| Self::first_match(t.routes.get(&(len, d & mask(len)))?, flow))
    }

    /// The first alias at one prefix that passes the TOS, scope and oif checks.
    fn first_match<'a>(v: &'a [Route], flow: &Flow) -> Option<&'a Route> {
        v.iter().find(|r| {
            let tos_ok = r.tos == 0 || r.tos == flow.tos;
            let oif_ok = flow
                .oif
                .is_none_or(|oif| r.is_error_type() || r.dev == Some(oif));
            tos_ok && r.scope >= flow.scope && oif_ok
        })
    }

    /// True when lookups scan the table (few prefixes): as cheap as a cache probe.
    pub fn is_small(&self) -> bool {
        self.inner.routes.len() <= SMALL_MAX
    }

    /// Every route in trie order, as `ip route show` lists them: by destination address; for
    /// one address (one trie leaf) the longer prefix first, since `fib_insert_alias` keeps a
    /// leaf's aliases by ascending suffix length (`10.244.0.0/24` before `10.244.0.0/16`, as
    /// the oracle found); then alias order.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        let mut keys: Vec<&(u8, u32)> = self.inner.routes.keys().collect();
        keys.sort_by_key(|(len, addr)| (*addr, std::cmp::Reverse(*len)));
        keys.into_iter()
            .flat_map(move |k| self.inner.routes[k].iter())
    }

    pub fn is_empty(&self) -> bool {
        self.inner.routes.is_empty()
    }

    /// The version of these contents (see `NEXT_VERSION`).
    pub fn version(&self) -> u64 {
        self.inner.version
    }
}

/// Remembered `fib_lookup` results, so that a packet stream toward one destination costs one
/// probe per hop instead of one per prefix length in two tables. An entry holds the versions
/// of the local and main tables it was computed from and is used only while both are current:
/// a hit gives exactly what the lookup would. (The kernel's dst cache does the same job for
/// connected sockets; sim caches every lookup, which changes speed only.)
#[derive(Clone, Debug, Default)]
pub struct FibCache {
    entries: rustc_hash::FxHashMap<FibKey, (u64, u64, Option<Route>)>,
}

/// A cache key: the netns, every `Flow` field a lookup reads, and whether the lookup is of
/// the local table alone (`inet_addr_type`) or of both (`fib_lookup`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FibKey {
    ns_daddr: u64,
    tos_scope_oif: u64,
}

/// Entries at which the cache starts over (a bound on memory, not on correctness): what 2^17
/// buckets hold at hashbrown's 7/8 load, about 12 MB; S4's nodes need about 66,000.
const FIB_CACHE_MAX: usize = (1 << 17) / 8 * 7;

impl FibKey {
    pub fn new(ns: usize, flow: &Flow, local_only: bool) -> Self {
        FibKey {
            ns_daddr: (ns as u64) << 32 | u64::from(u32::from(flow.daddr)),
            tos_scope_oif: u64::from(flow.tos)
                | u64::from(flow.scope) << 8
                | u64::from(local_only) << 16
                | flow.oif.map_or(0, |i| 1 << 17 | u64::from(i) << 18),
        }
    }
}

impl FibCache {
    /// The cached result for `key`, if computed from tables at these versions.
    #[inline]
    pub fn get(&self, key: &FibKey, local: u64, main: u64) -> Option<Option<Route>> {
        match self.entries.get(key) {
            Some(&(l, m, r)) if l == local && m == main => Some(r),
            _ => None,
        }
    }

    pub fn insert(&mut self, key: FibKey, local: u64, main: u64, r: Option<Route>) {
        if self.entries.len() >= FIB_CACHE_MAX {
            self.entries.clear();
        }
        self.entries.insert(key, (local, main, r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(dst: &str, len: u8, metric: u32, gw: Option<&str>) -> Route {
        Route {
            table: RT_TABLE_MAIN,
            dst: Ipv4Net::new(dst.parse().unwrap(), len),
            rtype: RouteType::Unicast,
            tos: 0,
            gateway: gw.map(|g| g.parse().unwrap()),
            dev: Some(2),
            proto: RTPROT_BOOT,
            scope: RT_SCOPE_UNIVERSE,
            prefsrc: None,
            metric,
            onlink: false,
            nh_scope: RT_SCOPE_LINK,
        }
    }

    #[test]
    fn longest_prefix_then_lowest_metric_wins() {
        // R1.2: `10.1.0.0/16 via .2 metric 100` and `via .3 metric 50` -> via .3.
        let mut t = Table::default();
        t.insert(r("0.0.0.0", 0, 0, Some("192.0.2.1")), false);
        t.insert(r("10.1.0.0", 16, 100, Some("192.0.2.2")), false);
        t.insert(r("10.1.0.0", 16, 50, Some("192.0.2.3")), false);
        let flow = Flow {
            daddr: "10.1.2.3".parse().unwrap(),
            ..Flow::default()
        };
        assert_eq!(
            t.lookup(&flow).unwrap().gateway,
            Some("192.0.2.3".parse().unwrap())
        );
        let flow = Flow {
            daddr: "10.2.0.1".parse().unwrap(),
            ..Flow::default()
        };
        assert_eq!(
            t.lookup(&flow).unwrap().gateway,
            Some("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn oif_restricted_lookup_backtracks_to_shorter_prefix() {
        let mut t = Table::default();
        let mut a = r("10.0.0.0", 8, 0, None);
        a.dev = Some(3);
        t.insert(a, false);
        t.insert(r("0.0.0.0", 0, 0, Some("192.0.2.1")), false);
        let flow = Flow {
            daddr: "10.9.9.9".parse().unwrap(),
            oif: Some(2),
            ..Flow::default()
        };
        assert_eq!(t.lookup(&flow).unwrap().dst.len, 0);
    }

    proptest::proptest! {
        /// Small tables (scanned) and large ones (probed per prefix length) answer as a brute
        /// force over every route does: the longest prefix with an alias passing the checks,
        /// its first such alias.
        #[test]
        fn lookup_is_the_longest_passing_prefix(
            routes in proptest::collection::vec(
                (0u32..16, proptest::sample::select(vec![0u8, 8, 24, 28, 29, 30, 32]),
                 0u8..2, 2u32..4, 0u32..3, proptest::bool::ANY, proptest::bool::ANY),
                0..24),
            flows in proptest::collection::vec((0u32..16, 0u8..2, 0u32..4), 1..16),
        ) {
            let mut t = Table::default();
            for (a, len, tos, dev, metric, append, link) in routes {
                let mut x = r(&Ipv4Addr::from(0x0a00_0000 + a).to_string(), len, metric, None);
                (x.tos, x.dev) = (tos * 4, Some(dev));
                if link {
                    x.scope = RT_SCOPE_LINK;
                }
                t.insert(x, append);
            }
            for (a, tos, oif) in flows {
                let flow = Flow {
                    daddr: Ipv4Addr::from(0x0a00_0000 + a),
                    tos: tos * 4,
                    oif: (oif > 1).then_some(oif),
                    scope: RT_SCOPE_UNIVERSE,
                };
                let passing = t.iter().filter(|r| {
                    r.dst.contains(flow.daddr)
                        && (r.tos == 0 || r.tos == flow.tos)
                        && flow.oif.is_none_or(|o| r.dev == Some(o))
                });
                let mut want: Option<&Route> = None;
                for r in passing {
                    if want.is_none_or(|w| r.dst.len > w.dst.len) {
                        want = Some(r);
                    }
                }
                proptest::prop_assert_eq!(t.lookup(&flow), want);
            }
        }
    }

    #[test]
    fn every_change_takes_a_new_version() {
        let mut t = Table::default();
        assert_eq!(t.version(), 0);
        t.insert(r("10.0.0.0", 8, 0, None), false);
        let v1 = t.version();
        assert_ne!(v1, 0);
        let copy = t.clone();
        assert_eq!(copy.version(), v1);
        t.retain(|_| true);
        assert_eq!(t.version(), v1, "nothing removed, nothing changed");
        t.insert(r("10.1.0.0", 16, 0, None), false);
        let v2 = t.version();
        assert!(v2 != v1 && copy.version() == v1);
        t.remove_first(Ipv4Net::new("10.1.0.0".parse().unwrap(), 16), |_| true);
        assert!(t.version() != v2 && t.version() != v1);
    }

    #[test]
    fn iter_is_in_address_order() {
        let mut t = Table::default();
        t.insert(r("10.42.2.0", 24, 0, None), false);
        t.insert(r("0.0.0.0", 0, 0, None), false);
        t.insert(r("10.42.1.11", 32, 0, None), false);
        let order: Vec<String> = t.iter().map(|r| r.dst.addr.to_string()).collect();
        assert_eq!(order, ["0.0.0.0", "10.42.1.11", "10.42.2.0"]);
    }
}
