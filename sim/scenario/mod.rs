//! Scenarios in RON: the serde types users write, their validation, and the builder that turns
//! them into a world (the ns-3 "helper"). The only user of `ron`.

mod build;
pub mod cluster;
mod commands;
pub mod emit;
mod expect;
pub mod export;
pub mod gen;

pub use build::{build, expand, resolve_dev, Built};
pub use cluster::ClusterSpec;
pub use expect::{check, check_mesh, Outcome};

use serde::Deserialize;

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// Seeds everything Linux draws at random (MACs, IP IDs, ARP timers).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Cap on events; a run that exceeds it stops with an error.
    #[serde(default)]
    pub events_max: Option<u64>,
    /// Underlay L2 segments (learning switches) joining NICs.
    #[serde(default)]
    pub segments: Vec<SegmentSpec>,
    /// Hand-built netns; a `cluster` section adds its own.
    #[serde(default)]
    pub netns: Vec<NetnsSpec>,
    #[serde(default)]
    pub traffic: Vec<Traffic>,
    #[serde(default)]
    pub changes: Vec<ChangeSpec>,
    /// Interfaces to capture (`netns/dev`); all but lo when absent.
    #[serde(default)]
    pub capture: Option<Vec<String>>,
    /// Stop the run at this virtual time (ms); otherwise when no event is left.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// A cluster preset (Calico or Flannel), expanded into more netns (`sim expand`).
    #[serde(default)]
    pub cluster: Option<ClusterSpec>,
    /// The set-up as by-hand lab commands (`ip netns add ...`, one a line), turned into more
    /// netns and segments when the file is loaded (see `commands.rs`).
    #[serde(default)]
    pub setup: Option<String>,
    /// The netns that `setup` commands without `ip netns exec NS` / `ip -n NS` run in (the
    /// lab's host); created by the setup.
    #[serde(default)]
    pub setup_netns: Option<String>,
}

fn default_seed() -> u64 {
    1
}

/// An underlay segment.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    pub name: String,
    /// One-way delay across the segment, microseconds (50 by default).
    #[serde(default)]
    pub delay_us: Option<u64>,
}

/// A network namespace: a host's root netns, a router, or a pod.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetnsSpec {
    pub name: String,
    /// The node a pod netns lives on (informational; pods and hosts behave alike).
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub devices: Vec<DeviceSpec>,
    /// `key=value` as `sysctl -w` takes them, applied in order. Keys naming a device are applied
    /// after the devices exist; the others (all, default, ip_forward) before, as at boot.
    #[serde(default)]
    pub sysctls: Vec<String>,
    /// `ip route add` arguments, in order.
    #[serde(default)]
    pub routes: Vec<String>,
    /// `ip neigh add` arguments.
    #[serde(default)]
    pub neigh: Vec<String>,
    /// `bridge fdb append` arguments (`MAC dev DEV dst IP self permanent`), after the neighbours.
    #[serde(default)]
    pub fdb: Vec<String>,
    /// `ipset` arguments (`create cali40masq-ipam-pools hash:net`, `add NAME 10.42.0.0/16`),
    /// after the fdb entries and before `iptables`.
    #[serde(default)]
    pub ipsets: Vec<String>,
    /// `iptables` arguments (`-t nat -A POSTROUTING -s 10.42.0.0/16 ! -d 10.42.0.0/16 -j
    /// MASQUERADE`), last. The first one creates the nat table, which turns conntrack on.
    #[serde(default)]
    pub iptables: Vec<String>,
}

impl NetnsSpec {
    /// A netns with nothing in it.
    pub fn new(name: &str) -> Self {
        NetnsSpec {
            name: name.to_string(),
            host: None,
            devices: Vec::new(),
            sysctls: Vec::new(),
            routes: Vec::new(),
            neigh: Vec::new(),
            fdb: Vec::new(),
            ipsets: Vec::new(),
            iptables: Vec::new(),
        }
    }
}

/// A device in a netns.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    pub name: String,
    pub kind: DeviceKind,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// `ip addr add` prefixes (`10.42.1.11/32`).
    #[serde(default)]
    pub addrs: Vec<String>,
    #[serde(default = "yes")]
    pub up: bool,
    /// Veth only: one-way delay to the peer, microseconds (2 by default). A NIC's delay is
    /// its segment's.
    #[serde(default)]
    pub delay_us: Option<u64>,
    /// The bridge (in the same netns) this device is a port of: `ip link set DEV master BR`.
    /// Ports are attached in file order, which numbers them 1, 2, ...
    #[serde(default)]
    pub master: Option<String>,
    /// Bridge ports only: `bridge link set dev DEV hairpin on` (flannel's `hairpinMode`).
    #[serde(default)]
    pub hairpin: bool,
}

fn yes() -> bool {
    true
}

impl DeviceSpec {
    /// A device with every optional setting at its default (up, no address).
    pub fn new(name: &str, kind: DeviceKind) -> Self {
        DeviceSpec {
            name: name.to_string(),
            kind,
            mac: None,
            mtu: None,
            addrs: Vec::new(),
            up: true,
            delay_us: None,
            master: None,
            hairpin: false,
        }
    }
}

/// Device kinds.
#[derive(Clone, Debug, Deserialize)]
pub enum DeviceKind {
    /// A veth end; `peer` is `netns/dev`, and the peer must name this end back.
    Veth { peer: String },
    /// A NIC on an underlay segment.
    Nic { segment: String },
    /// The ipip fallback device (tunl0).
    Ipip,
    /// A Linux bridge (`ip link add NAME type bridge`).
    Bridge,
    /// A VXLAN device (`ip link add NAME type vxlan id VNI ...`).
    Vxlan(VxlanSpec),
}

/// `ip link add NAME type vxlan id ID [dstport P] [local A] [dev D] [nolearning] [srcport MIN MAX]
/// [ttl T] [noudpcsum]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VxlanSpec {
    pub id: u32,
    /// 8472 (Linux's default, flannel) unless given; Calico uses 4789.
    #[serde(default)]
    pub dstport: Option<u16>,
    #[serde(default)]
    pub local: Option<String>,
    /// The underlay device, in the same netns.
    #[serde(default)]
    pub dev: Option<String>,
    #[serde(default = "yes")]
    pub learning: bool,
    #[serde(default)]
    pub srcport: Option<(u16, u16)>,
    /// 0 or absent: `ttl auto`.
    #[serde(default)]
    pub ttl: Option<u8>,
    /// false: `noudpcsum` (checksum 0, as kernels before 4.6 sent).
    #[serde(default = "yes")]
    pub udpcsum: bool,
}

/// Traffic to run.
#[derive(Clone, Debug, Deserialize)]
pub enum Traffic {
    Ping(PingTraffic),
    /// A UDP echo server (it sends every datagram back to its sender).
    UdpEchoServer(UdpEchoServerTraffic),
    /// A UDP client sending `count` requests to `to`'s port (an echo server answers them).
    UdpEcho(UdpEchoTraffic),
    /// Every pod sends UDP echo requests to every other pod, the all-pairs workload of the
    /// ns-3 comparison (`bench/ns3/WORKLOAD.md`); every pod runs an echo server.
    PodsEcho(PodsEchoTraffic),
    /// The first pod of every node pings the first pod of every other node once (a ping
    /// mesh: the whole cluster's node-pair reachability).
    NodesPing(NodesPingTraffic),
}

/// With N nodes that have pods, ping `q` of node `s`'s first pod leaves at `(q * N + s) *
/// gap_ns` for node `(s + 1 + q) mod N`'s first pod (0 <= q < N - 1).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesPingTraffic {
    #[serde(default = "default_gap_ns")]
    pub gap_ns: u64,
    #[serde(default = "fifty_six")]
    pub size: usize,
    /// Every ping must be answered with this TTL.
    #[serde(default)]
    pub expect_ttl: Option<u8>,
}

/// `UdpEchoServer(netns: "pod2", port: 9)`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpEchoServerTraffic {
    pub netns: String,
    #[serde(default = "echo_port")]
    pub port: u16,
}

/// A client with one unconnected socket on an ephemeral port, in netns `from`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdpEchoTraffic {
    pub from: String,
    /// An address, or a netns (its primary address).
    pub to: String,
    #[serde(default = "echo_port")]
    pub port: u16,
    #[serde(default = "one")]
    pub count: u16,
    #[serde(default = "thousand")]
    pub interval_ms: u64,
    #[serde(default)]
    pub start_ms: u64,
    /// Payload bytes.
    #[serde(default = "fifty_six")]
    pub size: usize,
}

/// The all-pairs schedule: with M pods (netns that belong to another host, in host order),
/// request `q` of pod `s` leaves at `(q * M + s) * gap_ns` for pod `(s + 1 + q mod (M - 1))
/// mod M`, `k` rounds: every ordered pair gets `k` requests.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodsEchoTraffic {
    #[serde(default = "one_u32")]
    pub k: u32,
    #[serde(default = "default_gap_ns")]
    pub gap_ns: u64,
    #[serde(default = "fifty_six")]
    pub size: usize,
    #[serde(default = "echo_port")]
    pub port: u16,
}

fn echo_port() -> u16 {
    9
}
fn one_u32() -> u32 {
    1
}
fn default_gap_ns() -> u64 {
    20_000
}

/// `ping -c COUNT -i INTERVAL -s SIZE TO`, run in netns `from`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingTraffic {
    pub from: String,
    pub to: String,
    #[serde(default = "one")]
    pub count: u16,
    #[serde(default = "thousand")]
    pub interval_ms: u64,
    #[serde(default)]
    pub start_ms: u64,
    #[serde(default = "fifty_six")]
    pub size: usize,
    /// Echo identifier; drawn from the seed when absent (iputils uses the pid).
    #[serde(default)]
    pub id: Option<u16>,
    #[serde(default)]
    pub expect: Option<Expect>,
}

fn one() -> u16 {
    1
}
fn thousand() -> u64 {
    1000
}
fn fifty_six() -> usize {
    56
}

/// What a ping must show.
#[derive(Clone, Debug, Deserialize)]
pub enum Expect {
    /// Every request is answered, with this TTL.
    Reply { ttl: u8 },
    /// No request is answered: each one is dropped at `at` (`netns/dev`) for `reason`
    /// (a kernel drop reason such as `IP_RPFILTER`).
    Drop { reason: String, at: String },
    /// Each request gets an ICMP error from `from` that ping prints as `text`
    /// (e.g. `Destination Host Unreachable`).
    Error { from: String, text: String },
}

/// A command run in a netns at a virtual time.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeSpec {
    pub at_ms: u64,
    pub netns: String,
    /// An iproute2 or sysctl command line (`ip route replace ...`, `sysctl -w ...`).
    pub cmd: String,
}

/// Parses RON text; errors carry `file:line:col`.
pub fn parse(file: &str, text: &str) -> Result<Scenario, crate::error::Error> {
    let opts = ron::Options::default().with_default_extension(
        ron::extensions::Extensions::IMPLICIT_SOME
            | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES,
    );
    let mut s = opts
        .from_str::<Scenario>(text)
        .map_err(|e| crate::error::Error::Syntax {
            file: file.to_string(),
            line: e.position.line,
            col: e.position.col,
            msg: e.code.to_string(),
        })?;
    commands::apply(file, text, &mut s)?;
    Ok(s)
}

/// Loads a scenario file.
pub fn load(path: &std::path::Path) -> Result<(Scenario, String), crate::error::Error> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| crate::error::Error::Io {
        path: file.clone(),
        source,
    })?;
    let mut s = parse(&file, &text)?;
    if s.name.is_none() {
        s.name = path.file_stem().map(|n| n.to_string_lossy().into_owned());
    }
    Ok((s, text))
}
