//! Property tests: invariants over random Calico clusters, and robustness against random input.
//!
//! A random cluster has 1-8 nodes on 1-3 subnets joined by a hand-written `router` netns (one
//! NIC per subnet, ip_forward=1, rp_filter 0/1/2; every node's `gateway` is the router's
//! address on its subnet), 1-6 pods per node, a Calico IPPool in one of the five routing modes
//! (BGP, IPIP, VXLAN, IPIP CrossSubnet, VXLAN CrossSubnet) with random block size and
//! natOutgoing, rp_filter 0/1/2 or unset for the cluster, each node, and each node's eth0 and
//! tunnel device, and pings between random pairs at random times; some properties also change
//! links, rp_filter and routes during the run. `Cluster::kernel` says what Linux does with
//! each ping. Then come a routing loop, frames injected into shipped scenarios, and mutated
//! scenario files. Each invariant is its own property. A failure prints the scenario as RON:
//! save it as `FILE.ron` and replay it with `sim run FILE.ron`. `PROPTEST_CASES=N` gives every
//! property N cases (README, "Property tests").

mod common;
use common::{check_all_frames, drops_of};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use sim::run::{run_built, RunResult};
use std::fmt::Write as _;

/// `cases` unless PROPTEST_CASES says otherwise; failures persist next to this file.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Parses, builds and runs a scenario; Err carries the error text.
fn run_text(text: &str) -> Result<RunResult, String> {
    let s = sim::scenario::parse("prop.ron", text).map_err(|e| e.to_string())?;
    let b = sim::scenario::build("prop.ron", text, &s).map_err(|e| e.to_string())?;
    run_built(b).map_err(|e| e.to_string())
}

/// The message of a caught panic.
fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// What a failing property prints: the complaint, then the scenario to replay.
fn replay(what: &str, ron: &str) -> String {
    format!("{what}\n--- the scenario (save it as FILE.ron and run `sim run FILE.ron`) ---\n{ron}")
}

// ---------------------------------------------------------------------------------------------
// Random clusters and the kernel's answer for each ping
// ---------------------------------------------------------------------------------------------

/// How Calico routes to remote blocks (the IPPool's `ipipMode` / `vxlanMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Bgp,
    Ipip,
    Vxlan,
    IpipCrossSubnet,
    VxlanCrossSubnet,
}

impl Mode {
    fn pool_fields(self) -> &'static str {
        match self {
            Mode::Bgp => "",
            Mode::Ipip => "ipipMode: Always, ",
            Mode::Vxlan => "vxlanMode: Always, ",
            Mode::IpipCrossSubnet => "ipipMode: CrossSubnet, ",
            Mode::VxlanCrossSubnet => "vxlanMode: CrossSubnet, ",
        }
    }

    /// The device a node decapsulates onto.
    fn tunnel_dev(self) -> &'static str {
        match self {
            Mode::Vxlan | Mode::VxlanCrossSubnet => "vxlan.calico",
            _ => "tunl0",
        }
    }
}

/// A ping endpoint: node `i` (its NIC address) or pod `k` of node `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ep {
    Node(usize),
    Pod(usize, usize),
}

impl Ep {
    fn node(self) -> usize {
        match self {
            Ep::Node(i) | Ep::Pod(i, _) => i,
        }
    }
    fn is_pod(self) -> bool {
        matches!(self, Ep::Pod(..))
    }
    fn name(self) -> String {
        match self {
            Ep::Node(i) => format!("n{i}"),
            Ep::Pod(i, k) => format!("n{i}p{k}"),
        }
    }
}

#[derive(Clone, Debug)]
struct NodeGen {
    subnet: usize,
    /// The node's `rp_filter` field (`conf/all` and `conf/default`); None: the cluster's.
    rp_filter: Option<u8>,
    /// `net.ipv4.conf.eth0.rp_filter` set by the node's OS after boot; None: the default's.
    eth0_rp_filter: Option<u8>,
    /// The same for the tunnel device (tunl0 or vxlan.calico), in the modes that have one.
    tunnel_rp_filter: Option<u8>,
    pods: usize,
}

/// A command run on a node during the run (`changes`), for the properties that must hold
/// whatever happens: links going down and up, rp_filter flipping, the default route going.
#[derive(Clone, Debug)]
struct ChangeGen {
    at_ms: u64,
    node: Index,
    what: Churn,
}

#[derive(Clone, Debug)]
enum Churn {
    NicDown,
    NicUp,
    TunnelDown,
    TunnelUp,
    /// `ip link set caliX down` for a pod of the node.
    PodLinkDown(Index),
    RpFilter(u8),
    NoDefaultRoute,
}

#[derive(Clone, Debug)]
struct PingGen {
    from: Ep,
    to: Ep,
    start_ms: u64,
    count: u16,
    size: usize,
}

/// A random Calico cluster with its traffic.
#[derive(Clone, Debug)]
struct Cluster {
    seed: u64,
    mode: Mode,
    nat: bool,
    block_size: u8,
    subnets: usize,
    /// The cluster's `rp_filter` (nodes without their own take it).
    rp_filter: Option<u8>,
    /// The router's `conf/all/rp_filter`.
    router_rp_filter: u8,
    nodes: Vec<NodeGen>,
    pings: Vec<PingGen>,
    changes: Vec<ChangeGen>,
}

/// Which pairs the pings join.
#[derive(Clone, Copy, Debug)]
enum Pairs {
    /// Any two endpoints (a netns may ping itself).
    Any,
    PodToPod,
    /// A pod and a node other than its own.
    PodToRemoteNode,
}

/// What the kernel does with a ping: every request answered with `ttl`, or each one lost at
/// `dies.0` (`netns/dev`) with reason `dies.1` (then `ttl` means nothing). With `frag_needed`
/// (`mtu`, `from`), a request may instead get "Frag needed and DF set (mtu = `mtu`)" from
/// `from`, until the sender has learnt that path MTU.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Kernel {
    ttl: u8,
    dies: Option<(String, &'static str)>,
    frag_needed: Option<(u32, String)>,
}

impl Cluster {
    fn same_subnet(&self, i: usize, j: usize) -> bool {
        self.nodes[i].subnet == self.nodes[j].subnet
    }

    /// `conf/all/rp_filter` (and `conf/default`) of node `i`.
    fn rp_filter_all(&self, i: usize) -> u8 {
        self.nodes[i].rp_filter.or(self.rp_filter).unwrap_or(0)
    }

    /// The rp_filter mode for packets received on node `i`'s eth0 or tunnel device:
    /// max(conf/all, conf/DEV) (`IN_DEV_RPFILTER`, R4.1); a device without its own setting
    /// copied conf/default when it was created, and the node boots with default = all.
    fn rp_filter_eth0(&self, i: usize) -> u8 {
        let all = self.rp_filter_all(i);
        all.max(self.nodes[i].eth0_rp_filter.unwrap_or(all))
    }

    fn rp_filter_tunnel(&self, i: usize) -> u8 {
        let all = self.rp_filter_all(i);
        all.max(self.nodes[i].tunnel_rp_filter.unwrap_or(all))
    }

    /// Whether node `i` sends traffic for node `j`'s blocks through the tunnel.
    fn encap(&self, i: usize, j: usize) -> bool {
        match self.mode {
            Mode::Bgp => false,
            Mode::Ipip | Mode::Vxlan => true,
            Mode::IpipCrossSubnet | Mode::VxlanCrossSubnet => !self.same_subnet(i, j),
        }
    }

    /// Node `i`'s NIC address.
    fn node_ip(&self, i: usize) -> String {
        format!("10.{}.0.{}", 10 + self.nodes[i].subnet, 10 + i)
    }

    /// Calico's `veth_mtu` (and the pods' MTU): the NIC's 1500 less the encapsulation's
    /// overhead, in every mode that may encapsulate.
    fn pod_mtu(&self) -> u32 {
        match self.mode {
            Mode::Bgp => 1500,
            Mode::Ipip | Mode::IpipCrossSubnet => 1480,
            Mode::Vxlan | Mode::VxlanCrossSubnet => 1450,
        }
    }

    fn router_nic(&self, i: usize) -> String {
        format!("router/eth{}", self.nodes[i].subnet)
    }

    /// The kernel's answer to a ping from `a` to `b` (linux-semantics.md §3, §4, §12).
    ///
    /// TTL: a reply leaves its sender with 64 and loses one per netns that forwards it. A pod's
    /// node forwards what leaves or reaches the pod; the router forwards what crosses subnets
    /// natively, but only the outer header of a tunnelled packet, so the inner TTL is kept.
    /// Replies to a node's or pod's address from another node go through the tunnel exactly
    /// when the requests' addresses are pool addresses and the mode tunnels between the two.
    ///
    /// MTU: a datagram (`size` + 28 bytes) from a node to a pod on another node, sent natively
    /// through the 1500-byte NIC with DF, is too big for the pod's veth when it is over the
    /// pod MTU: that node answers "fragmentation needed" (R3.1 step 3) and the sender, having
    /// learnt the path MTU, fragments the next requests. Everything else fits, or is too big
    /// at its sender's own device and so is sent without DF and fragmented there.
    fn kernel(&self, a: Ep, b: Ep, size: usize) -> Kernel {
        let ok = |ttl| Kernel {
            ttl,
            dies: None,
            frag_needed: None,
        };
        let (i, j) = (a.node(), b.node());
        if a == b {
            return ok(64); // over lo
        }
        if i == j {
            // One node: it answers itself, or forwards once between two of its pods.
            return ok(if a.is_pod() && b.is_pod() { 63 } else { 64 });
        }
        let same = self.same_subnet(i, j);
        // BGP across subnets: bird routes remote blocks via the gateway, and the router knows
        // no pod routes: whatever is addressed to a pod dies there (`ip_error`; the lookup
        // fails before any rp_filter check).
        let router_drops = |at: String| Kernel {
            ttl: 0,
            dies: Some((at, "IP_INNOROUTES")),
            frag_needed: None,
        };
        let bgp_split = self.mode == Mode::Bgp && !same;
        match (a, b) {
            (Ep::Node(_), Ep::Node(_)) => ok(if same { 64 } else { 63 }),
            (Ep::Pod(..), Ep::Pod(..)) if bgp_split => router_drops(self.router_nic(i)),
            // Both nodes forward; tunnelled or on one subnet, the router adds no hop.
            (Ep::Pod(..), Ep::Pod(..)) => ok(62),
            (Ep::Node(_), Ep::Pod(..)) if bgp_split => router_drops(self.router_nic(i)),
            // The node's source is its tunnel address when it tunnels (R2.3), so the reply
            // is tunnelled back; on one subnet it is native. Only b's node forwards it.
            (Ep::Node(_), Ep::Pod(..)) => {
                let len = size as u32 + 28;
                let too_big = !self.encap(i, j) && len > self.pod_mtu() && len <= 1500;
                Kernel {
                    ttl: 63,
                    dies: None,
                    frag_needed: too_big.then(|| (self.pod_mtu(), self.node_ip(j))),
                }
            }
            // natOutgoing: felix's MASQUERADE gives the request node i's address; the reply
            // comes back natively to it (through the router across subnets), node i's
            // conntrack de-NATs it, and rp_filter sees node j's address on eth0: allowed.
            (Ep::Pod(..), Ep::Node(_)) if self.nat => ok(if same { 63 } else { 62 }),
            // Across subnets the request crosses the router natively in every mode, with the
            // pod's address, and the router has no route back to a pod: rp_filter on (loose
            // fails too: no route at all, R4.3 step 1) drops it there.
            (Ep::Pod(..), Ep::Node(_)) if !same && self.router_rp_filter != 0 => Kernel {
                ttl: 0,
                dies: Some((self.router_nic(i), "IP_RPFILTER")),
                frag_needed: None,
            },
            // Without, it reaches node j, but in BGP mode the reply to the pod dies at the
            // router.
            (Ep::Pod(..), Ep::Node(_)) if bgp_split => router_drops(self.router_nic(j)),
            (Ep::Pod(..), Ep::Node(_)) if self.encap(i, j) => {
                // The request comes natively to node j's eth0, but node j's route back to the
                // pod's block is through the tunnel: strict rp_filter (effective
                // max(all, eth0) = 1; all = 1 with eth0 = 2 is loose) drops it there (R4.3
                // step 5). Loose or off accepts, and the reply goes through the tunnel; node i
                // decapsulates it onto tunl0 / vxlan.calico with source node j's eth0 address,
                // whose route is via eth0: strict rp_filter there drops it (R12.5 "mixed
                // configurations"); loose accepts since the tunnel device has an address
                // (R4.3 step 4 does not apply). Felix's tunnel MASQUERADE does not touch the
                // reply: nat rules see only a connection's first packet, and the request was.
                let dies = if self.rp_filter_eth0(j) == 1 {
                    Some((format!("n{j}/eth0"), "IP_RPFILTER"))
                } else if self.rp_filter_tunnel(i) == 1 {
                    Some((format!("n{i}/{}", self.mode.tunnel_dev()), "IP_RPFILTER"))
                } else {
                    None
                };
                Kernel {
                    ttl: 63,
                    dies,
                    frag_needed: None,
                }
            }
            // Native on one subnet: node j's route back to the pod is via eth0.
            (Ep::Pod(..), Ep::Node(_)) => ok(63),
        }
    }

    /// The scenario as RON, with a `cluster` section and the router.
    fn ron(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "// A random cluster from tests/properties.rs.");
        let _ = writeln!(
            o,
            "Scenario(\n    name: \"prop\",\n    seed: {},",
            self.seed
        );
        let segs: Vec<String> = (0..self.subnets)
            .map(|k| format!("(name: \"lan{k}\")"))
            .collect();
        let _ = writeln!(o, "    segments: [{}],", segs.join(", "));
        let nics: Vec<String> = (0..self.subnets)
            .map(|k| {
                format!(
                    "(name: \"eth{k}\", kind: Nic(segment: \"lan{k}\"), addrs: [\"10.{}.0.1/24\"])",
                    10 + k
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "    netns: [\n        (name: \"router\", sysctls: [\"net.ipv4.ip_forward=1\", \"net.ipv4.conf.all.rp_filter={}\"], devices: [\n            {},\n        ]),\n    ],",
            self.router_rp_filter,
            nics.join(",\n            ")
        );
        let rp = self
            .rp_filter
            .map(|r| format!("\n        rp_filter: {r},"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "    cluster: (\n        cni: Calico(cidr: \"10.42.0.0/16\", blockSize: {}, {}natOutgoing: {}),{rp}\n        nodes: [",
            self.block_size,
            self.mode.pool_fields(),
            self.nat
        );
        for (i, n) in self.nodes.iter().enumerate() {
            let net = 10 + n.subnet;
            let mut rp = n
                .rp_filter
                .map(|r| format!(", rp_filter: {r}"))
                .unwrap_or_default();
            let mut sysctls = Vec::new();
            if let Some(r) = n.eth0_rp_filter {
                sysctls.push(format!("\"net.ipv4.conf.eth0.rp_filter={r}\""));
            }
            if let (Some(r), true) = (n.tunnel_rp_filter, self.mode != Mode::Bgp) {
                let dev = self.mode.tunnel_dev();
                sysctls.push(format!("\"net.ipv4.conf.{dev}.rp_filter={r}\""));
            }
            if !sysctls.is_empty() {
                rp += &format!(", sysctls: [{}]", sysctls.join(", "));
            }
            let pods: Vec<String> = (0..n.pods)
                .map(|k| format!("(name: \"n{i}p{k}\")"))
                .collect();
            let _ = writeln!(
                o,
                "            (name: \"n{i}\", ip: \"10.{net}.0.{}/24\", gateway: \"10.{net}.0.1\", segment: \"lan{}\"{rp},\n             pods: [{}]),",
                10 + i,
                n.subnet,
                pods.join(", ")
            );
        }
        let _ = writeln!(o, "        ],\n    ),\n    traffic: [");
        for (k, p) in self.pings.iter().enumerate() {
            let size = if p.size == 56 {
                String::new()
            } else {
                format!(", size: {}", p.size)
            };
            let _ = writeln!(
                o,
                "        Ping(from: \"{}\", to: \"{}\", count: {}, start_ms: {}, id: {}{size}),",
                p.from.name(),
                p.to.name(),
                p.count,
                p.start_ms,
                1000 + k
            );
        }
        let _ = writeln!(o, "    ],");
        if !self.changes.is_empty() {
            let _ = writeln!(o, "    changes: [");
            for c in &self.changes {
                let i = c.node.index(self.nodes.len());
                let tunnel = self.mode.tunnel_dev();
                let cmd = match &c.what {
                    Churn::NicDown => "ip link set eth0 down".to_string(),
                    Churn::NicUp => "ip link set eth0 up".to_string(),
                    Churn::TunnelDown => format!("ip link set {tunnel} down"),
                    Churn::TunnelUp => format!("ip link set {tunnel} up"),
                    Churn::PodLinkDown(k) => {
                        let k = k.index(self.nodes[i].pods);
                        let cali = sim::scenario::cluster::calico_veth_name(
                            "default",
                            &format!("n{i}p{k}"),
                        );
                        format!("ip link set {cali} down")
                    }
                    Churn::RpFilter(r) => format!("sysctl -w net.ipv4.conf.all.rp_filter={r}"),
                    Churn::NoDefaultRoute => "ip route del default".to_string(),
                };
                let _ = writeln!(
                    o,
                    "        (at_ms: {}, netns: \"n{i}\", cmd: \"{cmd}\"),",
                    c.at_ms
                );
            }
            let _ = writeln!(o, "    ],");
        }
        let _ = writeln!(o, ")");
        o
    }

    fn run(&self) -> (String, Result<RunResult, String>) {
        let ron = self.ron();
        let r = run_text(&ron);
        (ron, r)
    }
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Bgp),
        Just(Mode::Ipip),
        Just(Mode::Vxlan),
        Just(Mode::IpipCrossSubnet),
        Just(Mode::VxlanCrossSubnet),
    ]
}

/// Ping sizes: mostly the default 56, sometimes anything up to 3000 bytes (fragmented), or
/// near the MTUs (datagrams of 1408 to 1508 bytes).
fn ping_size(big: bool) -> BoxedStrategy<usize> {
    if big {
        prop_oneof![3 => Just(56usize), 1 => 0..3000usize, 1 => 1380..1480usize].boxed()
    } else {
        Just(56usize).boxed()
    }
}

fn rp_filter() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![Just(None), (0..=2u8).prop_map(Some)]
}

fn churn() -> impl Strategy<Value = ChangeGen> {
    let what = prop_oneof![
        Just(Churn::NicDown),
        Just(Churn::NicUp),
        Just(Churn::TunnelDown),
        Just(Churn::TunnelUp),
        any::<Index>().prop_map(Churn::PodLinkDown),
        (0..=2u8).prop_map(Churn::RpFilter),
        Just(Churn::NoDefaultRoute),
    ];
    (0..6000u64, any::<Index>(), what).prop_map(|(at_ms, node, what)| ChangeGen {
        at_ms,
        node,
        what,
    })
}

/// A random cluster of at least `nodes_min` nodes whose pings join `pairs`; `big` allows
/// ping sizes other than 56; up to `churn_max` changes happen during the run.
fn cluster(
    pairs: Pairs,
    nodes_min: usize,
    big: bool,
    churn_max: usize,
) -> impl Strategy<Value = Cluster> {
    let node = (0..3usize, rp_filter(), rp_filter(), rp_filter(), 1..=6usize);
    let ping = (
        any::<Index>(),
        any::<Index>(),
        0..120_000u64,
        1..=4u16,
        ping_size(big),
    );
    (
        (any::<u64>(), mode(), any::<bool>()),
        prop::sample::select(vec![24u8, 26, 28, 30]),
        (1..=3usize, rp_filter(), 0..=2u8),
        prop::collection::vec(node, nodes_min..=8),
        prop::collection::vec(ping, 1..=16),
        prop::collection::vec(churn(), 0..=churn_max),
    )
        .prop_map(
            move |(
                (seed, mode, nat),
                block_size,
                (subnets, rp_filter, router_rp_filter),
                nodes,
                pings,
                changes,
            )| {
                let nodes: Vec<NodeGen> = nodes
                    .into_iter()
                    .map(|(subnet, rp, eth0_rp, tunnel_rp, pods)| NodeGen {
                        subnet: subnet % subnets,
                        rp_filter: rp,
                        eth0_rp_filter: eth0_rp,
                        tunnel_rp_filter: tunnel_rp,
                        pods,
                    })
                    .collect();
                let pods: Vec<Ep> = nodes
                    .iter()
                    .enumerate()
                    .flat_map(|(i, n)| (0..n.pods).map(move |k| Ep::Pod(i, k)))
                    .collect();
                let all: Vec<Ep> = (0..nodes.len())
                    .map(Ep::Node)
                    .chain(pods.iter().copied())
                    .collect();
                let pings = pings
                    .into_iter()
                    .map(|(a, b, start_ms, count, size)| {
                        let (from, to) = match pairs {
                            Pairs::Any => (*a.get(&all), *b.get(&all)),
                            Pairs::PodToPod => (*a.get(&pods), *b.get(&pods)),
                            Pairs::PodToRemoteNode => {
                                let from = *a.get(&pods);
                                let others: Vec<Ep> = (0..nodes.len())
                                    .filter(|&j| j != from.node())
                                    .map(Ep::Node)
                                    .collect();
                                (from, *b.get(&others))
                            }
                        };
                        PingGen {
                            from,
                            to,
                            start_ms,
                            count,
                            size,
                        }
                    })
                    .collect();
                Cluster {
                    seed,
                    mode,
                    nat,
                    block_size,
                    subnets,
                    rp_filter,
                    router_rp_filter,
                    nodes,
                    pings,
                    changes,
                }
            },
        )
}

/// Runs the cluster, or fails the property with the error and the scenario.
macro_rules! run_or_fail {
    ($c:expr) => {{
        let (ron, r) = $c.run();
        match r {
            Ok(r) => (ron, r),
            Err(e) => {
                return Err(TestCaseError::fail(replay(
                    &format!("the run failed: {e}"),
                    &ron,
                )))
            }
        }
    }};
}

/// Each ping's result against the kernel's answer; `check` picks the pings that matter.
fn check_reachability(
    c: &Cluster,
    ron: &str,
    r: &RunResult,
    check: impl Fn(&PingGen) -> bool,
) -> Result<(), TestCaseError> {
    let w = &r.built.world;
    // When each sender learnt a path MTU: the first "fragmentation needed" for a destination
    // comes back within milliseconds of its request; any request a second later must fit.
    let mut learnt: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for (g, p) in c.pings.iter().zip(&w.pings) {
        for e in p.errors.iter().filter(|e| (e.icmp_type, e.code) == (3, 4)) {
            if let Some(&(_, at)) = p.sent.iter().find(|(s, _)| *s == e.seq) {
                let t = learnt
                    .entry((g.from.name(), g.to.name()))
                    .or_insert(u64::MAX);
                *t = (*t).min(at.as_ns());
            }
        }
    }
    for (g, p) in c.pings.iter().zip(&w.pings) {
        if !check(g) {
            continue;
        }
        let k = c.kernel(g.from, g.to, g.size);
        let what = format!(
            "ping {} -> {} ({} at {} ms)",
            g.from.name(),
            g.to.name(),
            p.spec.dst,
            g.start_ms
        );
        let seen = format!("{}\n  drops: {:?}", p.lines.join("\n  "), drops_of(r, p));
        match &k.dies {
            None => {
                let learnt_at = learnt
                    .get(&(g.from.name(), g.to.name()))
                    .copied()
                    .unwrap_or(u64::MAX);
                for &(seq, sent) in &p.sent {
                    if p.replies.iter().any(|x| x.seq == seq) {
                        continue;
                    }
                    let frag_needed = k.frag_needed.as_ref().is_some_and(|(mtu, from)| {
                        let line = format!(
                            "From {from} icmp_seq={seq} Frag needed and DF set (mtu = {mtu})"
                        );
                        p.lines.contains(&line)
                            && sent.as_ns() < learnt_at.saturating_add(1_000_000_000)
                    });
                    prop_assert!(
                        frag_needed,
                        "{}",
                        replay(
                            &format!(
                                "{what}: the kernel answers request {seq}{}; sim:\n  {seen}",
                                match &k.frag_needed {
                                    Some((mtu, from)) => format!(
                                        " (or, until the path MTU is learnt, {from} says frag needed, mtu {mtu})"
                                    ),
                                    None => String::new(),
                                }
                            ),
                            ron
                        )
                    );
                }
            }
            Some((at, why)) => {
                prop_assert!(
                    p.replies.is_empty(),
                    "{}",
                    replay(
                        &format!("{what}: the kernel drops it at {at} ({why}); sim:\n  {seen}"),
                        ron
                    )
                );
                let drops = drops_of(r, p);
                prop_assert!(
                    drops
                        .iter()
                        .any(|(place, reason)| place == at && reason == why),
                    "{}",
                    replay(
                        &format!("{what}: the kernel drops it at {at} ({why}); sim:\n  {seen}"),
                        ron
                    )
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]
    /// Pod to pod: always in IPIP and VXLAN modes (Always or CrossSubnet), whatever the
    /// rp_filter and natOutgoing (pod traffic inside the pool is not masqueraded); in BGP mode
    /// exactly when both nodes share a subnet.
    #[test]
    fn pod_to_pod_reachable_with_tunnels_and_in_bgp_only_within_a_subnet(
        c in cluster(Pairs::PodToPod, 1, true, 0)
    ) {
        let (ron, r) = run_or_fail!(c);
        for g in &c.pings {
            let (i, j) = (g.from.node(), g.to.node());
            let expected = c.mode != Mode::Bgp || c.same_subnet(i, j);
            prop_assert_eq!(c.kernel(g.from, g.to, g.size).dies.is_none(), expected);
        }
        check_reachability(&c, &ron, &r, |_| true)?;
    }
}

proptest! {
    #![proptest_config(config(128))]
    /// Pod to another node's address: the request leaves natively, so it works exactly when
    /// rp_filter allows the asymmetric path: with a tunnel between the nodes, strict
    /// rp_filter on the target node (its eth0) or on the pod's node (its tunnel device, where
    /// the reply arrives) breaks it, unless natOutgoing masquerades the request. In BGP mode
    /// across subnets the reply dies at the router unless natOutgoing.
    #[test]
    fn pod_to_remote_node_obeys_rp_filter_on_the_asymmetric_path(
        c in cluster(Pairs::PodToRemoteNode, 2, true, 0)
    ) {
        let (ron, r) = run_or_fail!(c);
        check_reachability(&c, &ron, &r, |_| true)?;
    }
}

proptest! {
    #![proptest_config(config(96))]
    /// Every other pair (node to pod, node to node, pod to its own node, to itself) behaves as
    /// the kernel model says.
    #[test]
    fn every_pair_reachable_as_the_kernel_routes_it(c in cluster(Pairs::Any, 1, true, 0)) {
        let (ron, r) = run_or_fail!(c);
        check_reachability(&c, &ron, &r, |_| true)?;
    }
}

proptest! {
    #![proptest_config(config(128))]
    /// Every reply's TTL is 64 minus the netns that forwarded it: the pods' nodes, and the
    /// router only for native traffic across subnets (it forwards the outer header of a
    /// tunnelled packet; encapsulation and decapsulation do not decrement the inner TTL).
    #[test]
    fn reply_ttl_is_64_minus_forwarding_hops(c in cluster(Pairs::Any, 1, true, 0)) {
        let (ron, r) = run_or_fail!(c);
        for (g, p) in c.pings.iter().zip(&r.built.world.pings) {
            let k = c.kernel(g.from, g.to, g.size);
            if k.dies.is_some() {
                continue; // no reply to weigh (the reachability properties check there is none)
            }
            let want = k.ttl;
            for reply in &p.replies {
                prop_assert_eq!(
                    reply.ttl, want,
                    "{}",
                    replay(&format!("ping {} -> {} seq {}: ttl", g.from.name(), g.to.name(), reply.seq), &ron)
                );
            }
        }
    }
}

/// Conservation: every packet created was delivered or dropped with a reason exactly once,
/// nothing is left in flight once the run is over.
fn check_conservation(r: &RunResult) -> Result<(), String> {
    let w = &r.built.world;
    let t = &w.trace;
    let mut bad = Vec::new();
    if w.in_flight() != 0 {
        bad.push(format!("{} packets still in flight", w.in_flight()));
    }
    if t.created != t.delivered + t.dropped {
        bad.push(format!(
            "{} created, {} delivered + {} dropped",
            t.created, t.delivered, t.dropped
        ));
    }
    if !t.live.is_empty() {
        let ids: Vec<u64> = t.live.iter().take(10).collect();
        bad.push(format!("packets that never ended: {ids:?}"));
    }
    if !t.ended_twice.is_empty() {
        bad.push(format!("packets that ended twice: {:?}", t.ended_twice));
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("; "))
    }
}

proptest! {
    #![proptest_config(config(128))]
    /// Every packet sent (by a ping, ARP, ICMP, a flooded copy, a fragment) is delivered or
    /// dropped with a reason, exactly once; none is in flight at the end of the run.
    #[test]
    fn every_packet_is_delivered_or_dropped_exactly_once(c in cluster(Pairs::Any, 1, true, 6)) {
        let (ron, r) = run_or_fail!(c);
        if let Err(e) = check_conservation(&r) {
            return Err(TestCaseError::fail(replay(&e, &ron)));
        }
    }
}

proptest! {
    #![proptest_config(config(64))]
    /// Every frame captured on every interface parses with etherparse and has valid IPv4,
    /// ICMP and UDP checksums, inside IPIP and VXLAN too.
    #[test]
    fn every_captured_frame_parses_with_valid_checksums(c in cluster(Pairs::Any, 1, true, 6)) {
        let (ron, r) = run_or_fail!(c);
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_all_frames("prop", &r)
        }));
        if let Err(e) = checked {
            return Err(TestCaseError::fail(replay(&panic_text(&e), &ron)));
        }
    }
}

proptest! {
    #![proptest_config(config(48))]
    /// The same scenario and seed give the same captures, byte for byte, and the same report.
    #[test]
    fn same_seed_gives_byte_identical_traces(c in cluster(Pairs::Any, 1, true, 6)) {
        let (ron, a) = run_or_fail!(c);
        let (_, b) = run_or_fail!(c);
        let (ta, tb) = (&a.built.world.trace, &b.built.world.trace);
        prop_assert_eq!(&ta.ifaces, &tb.ifaces, "{}", replay("capture interfaces differ", &ron));
        prop_assert_eq!(ta.packets.len(), tb.packets.len(), "{}", replay("frame counts differ", &ron));
        for (x, y) in ta.packets.iter().zip(&tb.packets) {
            prop_assert_eq!(x, y, "{}", replay("a captured frame differs", &ron));
        }
        prop_assert_eq!(sim::run::report(&a), sim::run::report(&b), "{}", replay("reports differ", &ron));
    }
}

// ---------------------------------------------------------------------------------------------
// A routing loop ends in TTL exceeded
// ---------------------------------------------------------------------------------------------

/// Host `h` behind a chain of routers r1..rN (veth links); r1..rN-1 route 10.99.0.0/16 east,
/// rN routes it back west to rN-1: a loop between the last two. `h` sends with `ttl`.
#[derive(Clone, Debug)]
struct Loop {
    seed: u64,
    routers: usize,
    ttl: u8,
    count: u16,
}

impl Loop {
    fn ron(&self) -> String {
        let n = self.routers;
        let mut o = format!(
            "// A routing loop from tests/properties.rs.\nScenario(\n    name: \"loop\",\n    seed: {},\n    events_max: 200000,\n    netns: [\n",
            self.seed
        );
        let _ = writeln!(
            o,
            "        (name: \"h\", sysctls: [\"net.ipv4.ip_default_ttl={}\"], routes: [\"default via 10.0.0.1\"],\n         devices: [(name: \"eth0\", kind: Veth(peer: \"r1/w\"), addrs: [\"10.0.0.2/24\"])]),",
            self.ttl
        );
        for k in 1..=n {
            let west = if k == 1 {
                "(name: \"w\", kind: Veth(peer: \"h/eth0\"), addrs: [\"10.0.0.1/24\"])".to_string()
            } else {
                format!(
                    "(name: \"w\", kind: Veth(peer: \"r{}/e\"), addrs: [\"10.0.{}.2/24\"])",
                    k - 1,
                    k - 1
                )
            };
            let mut devices = vec![west];
            let mut routes = Vec::new();
            if k < n {
                devices.push(format!(
                    "(name: \"e\", kind: Veth(peer: \"r{}/w\"), addrs: [\"10.0.{k}.1/24\"])",
                    k + 1
                ));
                routes.push(format!("\"10.99.0.0/16 via 10.0.{k}.2\""));
            } else {
                routes.push(format!("\"10.99.0.0/16 via 10.0.{}.1\"", k - 1));
            }
            if k > 1 {
                routes.push(format!("\"10.0.0.0/24 via 10.0.{}.1\"", k - 1));
            }
            let _ = writeln!(
                o,
                "        (name: \"r{k}\", sysctls: [\"net.ipv4.ip_forward=1\"], routes: [{}],\n         devices: [{}]),",
                routes.join(", "),
                devices.join(", ")
            );
        }
        let _ = writeln!(
            o,
            "    ],\n    traffic: [Ping(from: \"h\", to: \"10.99.1.1\", count: {})],\n)",
            self.count
        );
        o
    }

    /// The router where the TTL runs out and the device the packet arrived on: the packet
    /// meets routers r1, r2, ..., rN, rN-1, rN, rN-1, ... and the k-th (from 0) receives it
    /// with TTL `ttl - k`; `ip_forward` refuses TTL <= 1 (R3.1).
    fn expires_at(&self) -> (usize, &'static str) {
        let (n, m) = (self.routers, usize::from(self.ttl) - 1);
        if m < n {
            return (m + 1, "w");
        }
        if (m - (n - 1)) % 2 == 0 {
            (n, "w")
        } else {
            (n - 1, "e")
        }
    }
}

proptest! {
    #![proptest_config(config(64))]
    /// Two routers pointing a prefix at each other: every request ends in ICMP time exceeded
    /// from the router where its TTL ran out (source: its address toward the sender, R3.4),
    /// dropped there with IP_INHDR, and the run ends well within its event budget.
    #[test]
    fn routing_loop_ends_in_ttl_exceeded_not_a_runaway(
        seed in any::<u64>(), routers in 2..=4usize, ttl in 1..=255u8, count in 1..=3u16,
    ) {
        let l = Loop { seed, routers, ttl, count };
        let ron = l.ron();
        let r = match run_text(&ron) {
            Ok(r) => r,
            Err(e) => return Err(TestCaseError::fail(replay(&format!("the run failed: {e}"), &ron))),
        };
        let (k, dev) = l.expires_at();
        let from = if k == 1 { "10.0.0.1".to_string() } else { format!("10.0.{}.2", k - 1) };
        let p = &r.built.world.pings[0];
        let errors: Vec<(u16, String, u8, u8)> = p
            .errors
            .iter()
            .map(|e| (e.seq, e.from.to_string(), e.icmp_type, e.code))
            .collect();
        let want: Vec<(u16, String, u8, u8)> = (1..=count).map(|s| (s, from.clone(), 11, 0)).collect();
        prop_assert_eq!(&errors, &want, "{}", replay("ICMP time exceeded", &ron));
        prop_assert!(p.replies.is_empty());
        let drops = drops_of(&r, p);
        let at = format!("r{k}/{dev}");
        prop_assert_eq!(
            drops.iter().filter(|(place, why)| *place == at && why == "IP_INHDR").count(),
            usize::from(count),
            "{}", replay(&format!("drops at {at}: {drops:?}"), &ron)
        );
        if let Err(e) = check_conservation(&r) {
            return Err(TestCaseError::fail(replay(&e, &ron)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Robustness: random and mutated frames injected into running scenarios
// ---------------------------------------------------------------------------------------------

/// A shipped scenario (any of them: Calico IPIP and VXLAN, routers, natOutgoing, proxy ARP,
/// flannel's bridge and VXLAN) with its text and the frames it receives, each with the device it was
/// captured on and whether that device has no link-layer header (tunl0).
struct Sample {
    name: String,
    text: String,
    frames: Vec<(usize, bool, Vec<u8>)>,
}

fn samples() -> &'static [Sample] {
    static SAMPLES: std::sync::OnceLock<Vec<Sample>> = std::sync::OnceLock::new();
    SAMPLES.get_or_init(|| {
        common::shipped()
            .into_iter()
            .map(|name| {
                let text = std::fs::read_to_string(common::scenario_path(&name)).unwrap();
                let r = common::run(&name);
                let w = &r.built.world;
                // Frames as received (captured inbound), so that the device they were
                // captured on is one that takes them.
                let frames = w
                    .trace
                    .packets
                    .iter()
                    .filter(|p| p.dir == sim::trace::Direction::In)
                    .map(|p| {
                        let iface = &w.trace.ifaces[p.iface];
                        let dev = sim::scenario::resolve_dev(w, &iface.name).unwrap();
                        (dev, !w.devs[dev].has_ethernet_header(), p.data.clone())
                    })
                    .collect();
                Sample { name, text, frames }
            })
            .collect()
    })
}

/// One change to a captured frame.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flip one bit.
    FlipBit(Index, u8),
    /// Overwrite one byte.
    SetByte(Index, u8),
    /// Keep only a prefix.
    Truncate(Index),
    /// Append bytes.
    Extend(Vec<u8>),
    /// A random ethertype (Ethernet frames).
    Ethertype(u16),
    /// A random byte in the first 20 of the IPv4 header (version, IHL, lengths, flags, TTL,
    /// protocol, addresses).
    IpHeader(u8, u8),
    /// A random byte in the first 16 past the IPv4 header: ICMP type, code, id; UDP ports,
    /// length; the VXLAN header.
    L4Header(u8, u8),
    /// Random bytes over the inner packet of IPIP or the inner frame of VXLAN.
    Inner(Index, Vec<u8>),
}

/// What to inject: a captured frame with mutations (and, if `fix`, checksums made valid
/// again so that the packet gets past them), or random bytes.
#[derive(Clone, Debug)]
enum Payload {
    Captured {
        /// Among the IPIP and VXLAN frames (if the scenario has any), or among all.
        tunnelled: bool,
        frame: Index,
        mutations: Vec<Mutation>,
        fix: bool,
    },
    Random(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Injection {
    /// On the device the frame was captured on, or on any device.
    own_dev: bool,
    dev: Index,
    at_ms: u64,
    payload: Payload,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::SetByte(i, v)),
        any::<Index>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        prop_oneof![
            Just(0x0800u16),
            Just(0x0806),
            Just(0x86dd),
            Just(0x8100),
            any::<u16>()
        ]
        .prop_map(Mutation::Ethertype),
        (0..20u8, any::<u8>()).prop_map(|(i, v)| Mutation::IpHeader(i, v)),
        (0..16u8, any::<u8>()).prop_map(|(i, v)| Mutation::L4Header(i, v)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..48))
            .prop_map(|(i, b)| Mutation::Inner(i, b)),
    ]
}

fn injection() -> impl Strategy<Value = Injection> {
    let payload = prop_oneof![
        4 => (any::<bool>(), any::<Index>(), prop::collection::vec(mutation(), 0..4), any::<bool>())
            .prop_map(|(tunnelled, frame, mutations, fix)| Payload::Captured {
                tunnelled,
                frame,
                mutations,
                fix,
            }),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Payload::Random),
    ];
    (any::<bool>(), any::<Index>(), 0..20_000u64, payload).prop_map(
        |(own_dev, dev, at_ms, payload)| Injection {
            own_dev,
            dev,
            at_ms,
            payload,
        },
    )
}

/// Where the IPv4 header of a frame starts, if it is IPv4.
fn ip_offset(raw: bool, f: &[u8]) -> Option<usize> {
    if raw {
        return Some(0);
    }
    (f.get(12..14) == Some(&[0x08, 0x00][..])).then_some(14)
}

/// Where the inner packet (IPIP) or inner frame (VXLAN) of a frame starts.
fn inner_offset(raw: bool, f: &[u8]) -> Option<usize> {
    let off = ip_offset(raw, f)?;
    let ihl = usize::from(f.get(off)? & 0x0f) * 4;
    match f.get(off + 9)? {
        4 => Some(off + ihl),
        17 => {
            let port = u16::from_be_bytes([*f.get(off + ihl + 2)?, *f.get(off + ihl + 3)?]);
            matches!(port, 4789 | 8472).then_some(off + ihl + 16)
        }
        _ => None,
    }
}

fn apply(raw: bool, frame: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::FlipBit(i, b) if !frame.is_empty() => {
            let i = i.index(frame.len());
            frame[i] ^= 1 << b;
        }
        Mutation::SetByte(i, v) if !frame.is_empty() => {
            let i = i.index(frame.len());
            frame[i] = *v;
        }
        Mutation::Truncate(i) => {
            let n = i.index(frame.len() + 1);
            frame.truncate(n);
        }
        Mutation::Extend(b) => frame.extend_from_slice(b),
        Mutation::Ethertype(t) if !raw && frame.len() >= 14 => {
            frame[12..14].copy_from_slice(&t.to_be_bytes());
        }
        Mutation::IpHeader(i, v) => {
            if let Some(off) = ip_offset(raw, frame) {
                if let Some(b) = frame.get_mut(off + usize::from(*i)) {
                    *b = *v;
                }
            }
        }
        Mutation::L4Header(i, v) => {
            if let Some(off) = ip_offset(raw, frame) {
                let ihl = usize::from(frame.get(off).map_or(5, |b| b & 0x0f)) * 4;
                if let Some(b) = frame.get_mut(off + ihl + usize::from(*i)) {
                    *b = *v;
                }
            }
        }
        Mutation::Inner(i, bytes) => {
            if let Some(start) = inner_offset(raw, frame).filter(|&s| s < frame.len()) {
                let at = start + i.index(frame.len() - start);
                for (k, b) in bytes.iter().enumerate() {
                    if let Some(x) = frame.get_mut(at + k) {
                        *x = *b;
                    }
                }
            }
        }
        _ => {}
    }
}

/// Makes the checksums of an IPv4 packet valid again where its headers can be read: inner
/// layers first (IPIP, VXLAN's inner frame), then ICMP, UDP and the IPv4 header.
fn fix_ipv4(p: &mut [u8]) {
    let Some(&vihl) = p.first() else { return };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl {
        return;
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(ihl, p.len());
    let fragment = u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0;
    let (src, dst) = ([p[12], p[13], p[14], p[15]], [p[16], p[17], p[18], p[19]]);
    let proto = p[9];
    let l4 = &mut p[ihl..total];
    if !fragment {
        match proto {
            1 if l4.len() >= 4 => {
                l4[2..4].copy_from_slice(&[0, 0]);
                let c = sim::wire::checksum(l4);
                l4[2..4].copy_from_slice(&c.to_be_bytes());
            }
            4 => fix_ipv4(l4),
            17 if l4.len() >= 8 => {
                let port = u16::from_be_bytes([l4[2], l4[3]]);
                if matches!(port, 4789 | 8472) && l4.len() >= 30 {
                    fix_ethernet(&mut l4[16..]);
                }
                // The UDP checksum over the pseudo-header, the header and the data.
                l4[6..8].copy_from_slice(&[0, 0]);
                let mut pseudo = Vec::with_capacity(12 + l4.len());
                pseudo.extend_from_slice(&src);
                pseudo.extend_from_slice(&dst);
                pseudo.extend_from_slice(&[0, 17]);
                pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                pseudo.extend_from_slice(l4);
                let c = match sim::wire::checksum(&pseudo) {
                    0 => 0xffff,
                    c => c,
                };
                l4[6..8].copy_from_slice(&c.to_be_bytes());
            }
            _ => {}
        }
    }
    p[10..12].copy_from_slice(&[0, 0]);
    let c = sim::wire::checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn fix_ethernet(f: &mut [u8]) {
    if f.len() > 14 && f[12..14] == [0x08, 0x00] {
        fix_ipv4(&mut f[14..]);
    }
}

/// The injections' bytes and devices in a fresh world of `sample`; returns what was injected.
fn inject(
    sample: &Sample,
    w: &mut sim::world::World,
    injections: &[Injection],
) -> Vec<(usize, Vec<u8>)> {
    let mut done = Vec::new();
    for inj in injections {
        let (dev, bytes) = match &inj.payload {
            Payload::Random(b) => (inj.dev.index(w.devs.len()), b.clone()),
            Payload::Captured {
                tunnelled,
                frame,
                mutations,
                fix,
            } => {
                let tunnels: Vec<&(usize, bool, Vec<u8>)> = sample
                    .frames
                    .iter()
                    .filter(|(_, raw, f)| inner_offset(*raw, f).is_some())
                    .collect();
                let (dev, raw, f) = if *tunnelled && !tunnels.is_empty() {
                    *frame.get(&tunnels)
                } else {
                    frame.get(&sample.frames)
                };
                let mut f = f.clone();
                for m in mutations {
                    apply(*raw, &mut f, m);
                }
                if *fix {
                    match raw {
                        true => fix_ipv4(&mut f),
                        false => fix_ethernet(&mut f),
                    }
                }
                let dev = if inj.own_dev {
                    *dev
                } else {
                    inj.dev.index(w.devs.len())
                };
                (dev, f)
            }
        };
        let at = sim::time::Instant::ZERO + sim::time::Duration::from_ms(inj.at_ms);
        w.inject_rx(dev, bytes.clone(), at).unwrap();
        done.push((dev, bytes));
    }
    done
}

/// ICMP echo from `src` to `dst` with `id`, TTL `ttl`, as an IPv4 packet.
fn echo_request(src: [u8; 4], dst: [u8; 4], id: u16, ttl: u8) -> Vec<u8> {
    let icmp = sim::wire::icmp::emit_echo(sim::wire::icmp::ECHO_REQUEST, id, 1, &[0x42; 56]);
    sim::wire::ipv4::Ipv4Build {
        tos: 0,
        id: 1,
        df: true,
        ttl,
        proto: sim::wire::ipv4::PROTO_ICMP,
        src: src.into(),
        dst: dst.into(),
    }
    .packet(&icmp)
}

/// The frames `netns/dev` captured after `from_s` seconds, as (direction, bytes).
fn captured_after(
    r: &RunResult,
    iface: &str,
    from_s: u64,
) -> Vec<(sim::trace::Direction, Vec<u8>)> {
    let w = &r.built.world;
    let i = w.trace.ifaces.iter().position(|c| c.name == iface).unwrap();
    w.trace
        .packets
        .iter()
        .filter(|p| p.iface == i && p.ts.as_ns() >= from_s * 1_000_000_000)
        .map(|p| (p.dir, p.data.clone()))
        .collect()
}

#[test]
fn a_frame_injected_on_a_nic_is_received_from_its_wire() {
    // L2: node2's echo request to node1, written onto node1/eth0 at t=30 s as if node2 had
    // sent it: node1 captures it inbound and answers it out of eth0.
    let text = std::fs::read_to_string(common::scenario_path("pod_to_remote_eth")).unwrap();
    let s = sim::scenario::parse("x.ron", &text).unwrap();
    let mut b = sim::scenario::build("x.ron", &text, &s).unwrap();
    let eth0 = sim::scenario::resolve_dev(&b.world, "node1/eth0").unwrap();
    let frame = sim::wire::ethernet::EthRepr {
        dst: [0x52, 0x54, 0, 0, 0x55, 0x05],
        src: [0x52, 0x54, 0, 0, 0x55, 0x06],
        ethertype: sim::wire::ethernet::ETHERTYPE_IPV4,
    }
    .frame(&echo_request([10, 211, 55, 6], [10, 211, 55, 5], 777, 64));
    let at = sim::time::Instant::ZERO + sim::time::Duration::from_secs(30);
    b.world.inject_rx(eth0, frame.clone(), at).unwrap();
    let r = run_built(b).unwrap();
    let seen = captured_after(&r, "node1/eth0", 30);
    assert_eq!(seen.first(), Some(&(sim::trace::Direction::In, frame)));
    let reply = seen
        .iter()
        .find(|(d, f)| *d == sim::trace::Direction::Out && f.len() > 42 && f[34] == 0)
        .expect("an echo reply out of node1/eth0");
    assert_eq!(&reply.1[30..34], &[10, 211, 55, 6]);
    assert_eq!(u16::from_be_bytes([reply.1[38], reply.1[39]]), 777);
    assert!(check_conservation(&r).is_ok());
}

#[test]
fn an_ip_packet_injected_on_tunl0_is_received_as_if_decapsulated() {
    // L2: pod21's echo request to pod11 put on node1's tunl0 (no link-layer header): node1
    // forwards it to pod11 (ttl 64 -> 63), whose reply goes back through the tunnel.
    let text = std::fs::read_to_string(common::scenario_path("pod_to_remote_eth")).unwrap();
    let s = sim::scenario::parse("x.ron", &text).unwrap();
    let mut b = sim::scenario::build("x.ron", &text, &s).unwrap();
    let tunl0 = sim::scenario::resolve_dev(&b.world, "node1/tunl0").unwrap();
    let packet = echo_request([10, 42, 2, 11], [10, 42, 1, 11], 778, 64);
    let at = sim::time::Instant::ZERO + sim::time::Duration::from_secs(30);
    b.world.inject_rx(tunl0, packet.clone(), at).unwrap();
    let r = run_built(b).unwrap();
    assert_eq!(
        captured_after(&r, "node1/tunl0", 30).first(),
        Some(&(sim::trace::Direction::In, packet))
    );
    let at_pod = captured_after(&r, "pod11/eth0", 30);
    let request = at_pod
        .iter()
        .find(|(d, f)| *d == sim::trace::Direction::In && f.len() > 42 && f[34] == 8)
        .expect("the request reaches pod11");
    assert_eq!(request.1[22], 63, "node1 forwarded it");
    let replies_tunnelled = captured_after(&r, "node1/tunl0", 30)
        .iter()
        .filter(|(d, f)| *d == sim::trace::Direction::Out && f.len() > 20 && f[20] == 0)
        .count();
    assert_eq!(replies_tunnelled, 1);
    assert!(check_conservation(&r).is_ok());
}

proptest! {
    #![proptest_config(config(256))]
    /// Random bytes and mutated captured frames (bit flips, truncation, extension, random
    /// ethertypes and IP header fields, random IPIP/VXLAN inner bytes, with or without valid
    /// checksums) injected into any device of a running shipped scenario never panic the
    /// simulator, and every packet, injected or caused by one, ends delivered or dropped.
    #[test]
    fn injected_frames_end_delivered_or_dropped_without_a_panic(
        which in any::<Index>(),
        injections in prop::collection::vec(injection(), 1..=8),
    ) {
        let sample = which.get(samples());
        let s = sim::scenario::parse("x.ron", &sample.text).unwrap();
        let mut b = sim::scenario::build("x.ron", &sample.text, &s).unwrap();
        let injected = inject(sample, &mut b.world, &injections);
        let describe = |w: &sim::world::World| -> String {
            let mut o = format!("scenario {}; injected:", sample.name);
            for (dev, bytes) in &injected {
                let d = &w.devs[*dev];
                let _ = write!(o, "\n  {}/{}: {:02x?}", w.ns[d.ns].name, d.name, bytes);
            }
            o
        };
        let what = describe(&b.world);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let r = run_built(b)?;
            // What `sim run` prints afterwards reads the state the frames left behind.
            let _ = sim::run::report(&r);
            for ns in 0..r.built.world.ns.len() {
                let _ = r.built.world.tables(ns);
            }
            Ok::<_, sim::error::Error>(r)
        }));
        let r = match ran {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(TestCaseError::fail(format!("{what}\nrun: {e}"))),
            Err(p) => return Err(TestCaseError::fail(format!("{what}\npanicked: {}", panic_text(&p)))),
        };
        if let Err(e) = check_conservation(&r) {
            return Err(TestCaseError::fail(format!("{what}\n{e}")));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Robustness: random and mutated scenario files
// ---------------------------------------------------------------------------------------------

/// Every shipped scenario's name and text.
fn shipped_texts() -> &'static [(String, String)] {
    static TEXTS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    TEXTS.get_or_init(|| {
        common::shipped()
            .into_iter()
            .map(|n| {
                let t = std::fs::read_to_string(common::scenario_path(&n)).unwrap();
                (n, t)
            })
            .collect()
    })
}

/// Values a mutation may put in a string literal: names, addresses, prefixes, MACs, commands.
const STRINGS: [&str; 32] = [
    "",
    "x",
    "a/b",
    "/",
    "node1/eth0",
    "lo",
    "tunl0",
    "0.0.0.0",
    "0.0.0.0/0",
    "255.255.255.255",
    "255.255.255.255/32",
    "10.0.0.1/33",
    "127.0.0.1",
    "224.0.0.1",
    "10.42.0.0/16",
    "ff:ff:ff:ff:ff:ff",
    "00:00:00:00:00:00",
    "01:00:5e:00:00:01",
    "IP_RPFILTER",
    "default via 10.0.0.1",
    "blackhole 0.0.0.0/0",
    "10.0.0.0/8 via 10.0.0.1 dev eth0 onlink",
    "ip link set eth0 down",
    "ip link set eth0 mtu 68",
    "ip link set eth0 mtu 65535",
    "ip route flush",
    "sysctl -w net.ipv4.ip_forward=0",
    "sysctl -w net.ipv4.conf.all.rp_filter=1",
    "sysctl -w net.ipv4.ip_default_ttl=1",
    "bridge fdb add 00:00:00:00:00:01 dev eth0 dst 10.0.0.1",
    "-t nat -A POSTROUTING -j MASQUERADE",
    "create x hash:net",
];

/// Values a mutation may put in place of a number.
const NUMBERS: [&str; 18] = [
    "0",
    "1",
    "2",
    "3",
    "7",
    "20",
    "32",
    "33",
    "68",
    "255",
    "256",
    "1500",
    "65535",
    "65536",
    "4294967295",
    "18446744073709551615",
    "99999999999999999999999",
    "-1",
];

/// Words of the commands a scenario carries (routes, neighbours, fdb entries, sysctls,
/// iptables, ipset and changes), for strings made of random words.
const WORDS: [&str; 64] = [
    "ip",
    "route",
    "r",
    "add",
    "a",
    "del",
    "replace",
    "change",
    "append",
    "link",
    "set",
    "neigh",
    "addr",
    "dev",
    "via",
    "onlink",
    "proto",
    "bird",
    "scope",
    "link",
    "src",
    "metric",
    "table",
    "blackhole",
    "unreachable",
    "prohibit",
    "throw",
    "local",
    "broadcast",
    "default",
    "up",
    "down",
    "mtu",
    "address",
    "lladdr",
    "nud",
    "permanent",
    "bridge",
    "fdb",
    "self",
    "master",
    "dst",
    "sysctl",
    "-w",
    "net.ipv4.conf.all.rp_filter=2",
    "echo",
    ">",
    "-t",
    "nat",
    "-A",
    "-N",
    "POSTROUTING",
    "-j",
    "MASQUERADE",
    "-s",
    "!",
    "-m",
    "set",
    "--match-set",
    "create",
    "hash:net",
    "eth0",
    "10.0.0.1",
    "10.0.0.0/8",
];

/// One edit of a scenario file.
#[derive(Clone, Debug)]
enum Edit {
    /// Replace the content of the n-th string literal with words of commands.
    Words(Index, Vec<Index>),
    FlipByte(Index, u8),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Truncate(Index),
    /// Replace the content of the n-th string literal.
    String(Index, Index),
    /// Replace the n-th number.
    Number(Index, Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::FlipByte(i, b)),
        1 => (any::<Index>(), 1..32usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, v)| Edit::String(i, v)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, v)| Edit::Number(i, v)),
        2 => (any::<Index>(), prop::collection::vec(any::<Index>(), 0..12))
            .prop_map(|(i, w)| Edit::Words(i, w)),
    ]
}

/// Byte ranges of the string literals' contents, or of the numbers, in `t`.
fn spans(t: &[u8], strings: bool) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < t.len() && t[j] != b'"' {
                j += if t[j] == b'\\' { 2 } else { 1 };
            }
            if strings {
                v.push((start, j.min(t.len())));
            }
            i = j + 1;
        } else if t[i].is_ascii_digit() {
            let start = i;
            while i < t.len() && t[i].is_ascii_digit() {
                i += 1;
            }
            if !strings {
                v.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    v
}

fn apply_edit(t: &mut Vec<u8>, e: &Edit) {
    let len = t.len();
    match e {
        Edit::FlipByte(i, b) if len > 0 => {
            let i = i.index(len);
            t[i] ^= b.max(&1);
        }
        Edit::Delete(i, n) if len > 0 => {
            let i = i.index(len);
            t.drain(i..(i + n).min(len));
        }
        Edit::Duplicate(i, n) if len > 0 => {
            let i = i.index(len);
            let piece = t[i..(i + n).min(len)].to_vec();
            t.splice(i..i, piece);
        }
        Edit::Truncate(i) => t.truncate(i.index(len + 1)),
        Edit::Words(i, words) => {
            let s = spans(t, true);
            if s.is_empty() {
                return;
            }
            let (a, b) = *i.get(&s);
            let with: Vec<&str> = words.iter().map(|w| *w.get(&WORDS)).collect();
            t.splice(a..b, with.join(" ").bytes());
        }
        Edit::String(i, v) | Edit::Number(i, v) => {
            let strings = matches!(e, Edit::String(..));
            let s = spans(t, strings);
            if s.is_empty() {
                return;
            }
            let (a, b) = *i.get(&s);
            let with = if strings {
                *v.get(&STRINGS)
            } else {
                *v.get(&NUMBERS)
            };
            t.splice(a..b, with.bytes());
        }
        _ => {}
    }
}

/// Loads, expands, builds and runs a scenario text as `sim run` and `sim expand` would, with
/// the event budget cut to `events_max`; errors are fine, panics are what the caller looks for.
fn load_build_run(text: &str, events_max: u64) -> Result<(), String> {
    let mut s = sim::scenario::parse("fuzz.ron", text).map_err(|e| e.to_string())?;
    s.events_max = Some(s.events_max.unwrap_or(events_max).min(events_max));
    if s.cluster.is_some() {
        // `sim expand` prints it; what it prints must load again.
        let e = sim::scenario::expand("fuzz.ron", text, &s).map_err(|e| e.to_string())?;
        let ron = sim::scenario::emit::to_ron(&e);
        if let Err(err) = sim::scenario::parse("expanded.ron", &ron) {
            panic!("sim expand printed a scenario that does not load: {err}\n{ron}");
        }
    }
    let b = sim::scenario::build("fuzz.ron", text, &s).map_err(|e| e.to_string())?;
    let r = run_built(b).map_err(|e| e.to_string())?;
    let _ = sim::run::report(&r);
    for ns in 0..r.built.world.ns.len() {
        let _ = r.built.world.tables(ns);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]
    /// Shipped scenarios with bytes flipped, deleted or duplicated, truncated, or a string or
    /// number replaced never panic the loader, the cluster expansion, the builder or a short
    /// run: bad input is an error that names its place.
    #[test]
    fn mutated_scenario_files_error_or_run_but_never_panic(
        which in any::<Index>(),
        edits in prop::collection::vec(edit(), 1..=4),
    ) {
        let (name, text) = which.get(shipped_texts());
        let mut t = text.clone().into_bytes();
        for e in &edits {
            apply_edit(&mut t, e);
        }
        let text = String::from_utf8_lossy(&t).into_owned();
        let ran = std::panic::catch_unwind(|| load_build_run(&text, 20_000));
        if let Err(p) = ran {
            return Err(TestCaseError::fail(replay(
                &format!("{name} mutated: panicked: {}", panic_text(&p)),
                &text,
            )));
        }
    }
}
