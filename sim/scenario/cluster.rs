//! Cluster presets: the `cluster` section of a scenario (nodes, pods, and Calico or Flannel as
//! users configure them) and its expansion into the netns, devices, addresses, routes,
//! neighbours, FDB entries, sysctls and NAT rules that calico-node/felix/bird, or flanneld and
//! the CNI plugins, would program. The result is an ordinary low-level scenario (`sim expand`).

use super::build::Ctx;
use super::{DeviceKind, DeviceSpec, NetnsSpec, Scenario, SegmentSpec, VxlanSpec};
use crate::error::Error;
use crate::netns::fib::Ipv4Net;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The most pods a cluster may have, listed and generated: each is a netns of its own, so
/// this bounds what a scenario can make the builder allocate (sim-only; Kubernetes documents
/// 150000 pods as the largest tested cluster).
pub const PODS_MAX: u64 = 50_000;

/// A Kubernetes cluster: its nodes, their pods, and the CNI.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub cni: Cni,
    pub nodes: Vec<NodeSpec>,
    /// Pods generated on every node besides those listed, named `<node>-pod-<i>` (from 1).
    #[serde(default)]
    pub pods_per_node: u32,
    /// The pods' Kubernetes namespace (Calico names host-side veths after it).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// `net.ipv4.conf.{all,default}.rp_filter` on every node: the node OS's choice (1 on
    /// CentOS/RHEL, 2 on Ubuntu); left at the kernel default 0 when absent.
    #[serde(default)]
    pub rp_filter: Option<u8>,
    /// MTU of the nodes' NICs.
    #[serde(default = "default_mtu")]
    pub mtu: u32,
}

fn default_namespace() -> String {
    "default".into()
}
fn default_mtu() -> u32 {
    1500
}

/// A node: its NIC on an underlay segment, and its pods.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub name: String,
    /// The NIC's address with its subnet, `10.211.55.5/24`.
    pub ip: String,
    /// Adds `default via GATEWAY dev NIC`.
    #[serde(default)]
    pub gateway: Option<String>,
    /// The underlay segment (created if the scenario does not list it); `underlay` by default.
    #[serde(default)]
    pub segment: Option<String>,
    /// The NIC's name; `eth0` by default.
    #[serde(default)]
    pub nic: Option<String>,
    /// The NIC's MAC; drawn from the seed when absent.
    #[serde(default)]
    pub mac: Option<String>,
    /// Calico: the node's first block; Flannel: the node's subnet (`node.spec.podCIDR`).
    /// Allocated as the real controllers do when absent.
    #[serde(default)]
    pub pod_cidr: Option<String>,
    #[serde(default)]
    pub pods: Vec<PodSpec>,
    /// More `ip route add` lines of the node's own OS (not the CNI's).
    #[serde(default)]
    pub routes: Vec<String>,
    /// More sysctls of the node's own OS.
    #[serde(default)]
    pub sysctls: Vec<String>,
    /// This node's rp_filter, overriding the cluster's.
    #[serde(default)]
    pub rp_filter: Option<u8>,
}

/// A pod; its address comes from the CNI's IPAM unless given.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    pub name: String,
    #[serde(default)]
    pub ip: Option<String>,
}

/// The CNI and its configuration.
#[derive(Clone, Debug, Deserialize)]
pub enum Cni {
    Calico(CalicoSpec),
    Flannel(FlannelSpec),
}

/// A Calico IPPool (`projectcalico.org/v3`) with the resource's defaults.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CalicoSpec {
    pub cidr: String,
    #[serde(default = "default_block_size")]
    pub block_size: u8,
    #[serde(default)]
    pub ipip_mode: EncapMode,
    #[serde(default)]
    pub vxlan_mode: EncapMode,
    #[serde(default)]
    pub nat_outgoing: bool,
    /// `veth_mtu` of calico-config; the NIC MTU minus the encapsulation overhead when absent.
    #[serde(default)]
    pub mtu: Option<u32>,
}

fn default_block_size() -> u8 {
    26
}

/// `ipipMode` / `vxlanMode`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum EncapMode {
    #[default]
    Never,
    Always,
    CrossSubnet,
}

/// flanneld's `net-conf.json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FlannelSpec {
    /// `Network`, the cluster CIDR.
    pub network: String,
    #[serde(default = "default_subnet_len")]
    pub subnet_len: u8,
    #[serde(default)]
    pub backend: FlannelBackend,
    /// VXLAN backend: `VNI` (1) and `Port` (0: the kernel's 8472).
    #[serde(default)]
    pub vni: Option<u32>,
    #[serde(default)]
    pub port: Option<u16>,
    /// VXLAN backend: route same-subnet peers natively (`DirectRouting`).
    #[serde(default)]
    pub direct_routing: bool,
    /// flanneld `--ip-masq` (kube-flannel.yml passes it).
    #[serde(default = "yes")]
    pub ip_masq: bool,
}

fn default_subnet_len() -> u8 {
    24
}
fn yes() -> bool {
    true
}

/// flannel's `Backend.Type`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum FlannelBackend {
    #[default]
    Vxlan,
    HostGw,
}

/// A node as parsed: what every CNI needs of it.
struct Node<'a> {
    spec: &'a NodeSpec,
    ip: Ipv4Addr,
    subnet: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    nic: String,
    mac: String,
    segment: String,
    rp_filter: Option<u8>,
    pods: Vec<PodSpec>,
}

fn cidr(n: Ipv4Net) -> String {
    format!("{}/{}", n.addr, n.len)
}

fn nth(n: Ipv4Net, i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(n.addr).wrapping_add(i))
}

/// A random generator for one named draw: the same scenario seed and label always give the
/// same value, and adding a pod or node moves no other draw.
fn rng_for(seed: u64, label: &str) -> ChaCha8Rng {
    let h = label.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    ChaCha8Rng::seed_from_u64(h)
}

fn fmt_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// `eth_random_addr()`: locally administered unicast, as the kernel gives a new veth or vxlan.
fn random_mac(seed: u64, label: &str) -> String {
    let mut m: [u8; 6] = rng_for(seed, label).gen();
    m[0] = (m[0] & 0xfe) | 0x02;
    fmt_mac(m)
}

/// Calico's host-side veth name (`VethNameForWorkload`): `cali` and the first 11 hex digits
/// of SHA-1 over `namespace.pod`.
pub fn calico_veth_name(namespace: &str, pod: &str) -> String {
    let digest = sha1_smol::Sha1::from(format!("{namespace}.{pod}"))
        .digest()
        .to_string();
    format!("cali{}", &digest[..11])
}

/// Felix's VTEP MAC for a node (`vxlan_resolver.go`): 0x66 (`'f'`) and the first five bytes of
/// SHA-1 over the node name.
fn calico_vtep_mac(node: &str) -> String {
    let d = sha1_smol::Sha1::from(node).digest().bytes();
    fmt_mac([b'f', d[0], d[1], d[2], d[3], d[4]])
}

/// The host-side veth name the CNI bridge plugin draws (`ip.RandomVethName`: `veth` and 4
/// random bytes in hex).
fn bridge_veth_name(seed: u64, node: &str, pod: &str) -> String {
    let b: [u8; 4] = rng_for(seed, &format!("veth/{node}/{pod}")).gen();
    format!("veth{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
}

fn parse_net(s: &str) -> Option<Ipv4Net> {
    let (a, l) = s.split_once('/')?;
    let addr: Ipv4Addr = a.parse().ok()?;
    let len: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    Some(Ipv4Net { addr, len })
}

/// A prefix whose host bits must be clear, as `calicoctl` and flanneld require.
fn parse_network(cx: &Ctx, key: &str, s: &str, what: &str) -> Result<Ipv4Net, Error> {
    let n = parse_net(s).ok_or_else(|| {
        cx.err_kv(
            key,
            s,
            format!("{what} \"{s}\" is not an IPv4 prefix (expected A.B.C.D/LEN)"),
        )
    })?;
    if Ipv4Net::new(n.addr, n.len) != n {
        return Err(cx.err_kv(
            key,
            s,
            format!(
                "{what} \"{s}\" has host bits set (did you mean {}?)",
                cidr(Ipv4Net::new(n.addr, n.len))
            ),
        ));
    }
    Ok(n)
}

fn parse_ip(cx: &Ctx, key: &str, s: &str, what: &str) -> Result<Ipv4Addr, Error> {
    s.parse()
        .map_err(|_| cx.err_kv(key, s, format!("{what} \"{s}\" is not an IPv4 address")))
}

/// A node's `pod_cidr`, if given: a /`len` of `within` that no other node has.
fn pinned_pod_cidr(
    cx: &Ctx,
    n: &Node,
    within: Ipv4Net,
    len: u8,
    taken: &[Ipv4Net],
) -> Result<Option<Ipv4Net>, Error> {
    let Some(p) = &n.spec.pod_cidr else {
        return Ok(None);
    };
    let what = format!("node \"{}\": pod_cidr", n.spec.name);
    let net = parse_network(cx, "pod_cidr", p, &what)?;
    if net.len != len || !within.contains(net.addr) {
        let msg = format!("{what} \"{p}\" is not a /{len} of {}", cidr(within));
        return Err(cx.err_kv("pod_cidr", p, msg));
    }
    if taken.contains(&net) {
        let msg = format!("{what} \"{p}\" is another node's");
        return Err(cx.err_kv("pod_cidr", p, msg));
    }
    Ok(Some(net))
}

/// Expands the scenario's `cluster` section, if any, into netns; returns the scenario unchanged
/// otherwise.
pub(super) fn expand(cx: &Ctx, s: &Scenario) -> Result<Scenario, Error> {
    let Some(c) = &s.cluster else {
        return Ok(s.clone());
    };
    let mut out = s.clone();
    out.cluster = None;
    if c.nodes.is_empty() {
        return Err(cx.err("cluster", "cluster: at least one node is needed".into()));
    }
    let mut nodes = Vec::new();
    let mut names = BTreeSet::new();
    let mut pods_total: u64 = 0;
    for n in &c.nodes {
        let (addr, len) = n
            .ip
            .split_once('/')
            .and_then(|(a, l)| Some((a.parse::<Ipv4Addr>().ok()?, l.parse::<u8>().ok()?)))
            .filter(|(_, l)| (1..=32).contains(l))
            .ok_or_else(|| {
                cx.err_kv(
                    "ip",
                    &n.ip,
                    format!(
                        "node \"{}\": ip \"{}\" is not an address with its prefix (expected A.B.C.D/LEN)",
                        n.name, n.ip
                    ),
                )
            })?;
        let gateway = match &n.gateway {
            Some(g) => Some(parse_ip(
                cx,
                "gateway",
                g,
                &format!("node \"{}\": gateway", n.name),
            )?),
            None => None,
        };
        if let (Some(g), Some(text)) = (gateway, &n.gateway) {
            if !Ipv4Net::new(addr, len).contains(g) {
                return Err(cx.err_kv(
                    "gateway",
                    text,
                    format!(
                        "node \"{}\": gateway {g} is not on the NIC's subnet {}/{len} (give the route with onlink in `routes` instead)",
                        n.name,
                        Ipv4Net::new(addr, len).addr
                    ),
                ));
            }
        }
        pods_total += n.pods.len() as u64 + u64::from(c.pods_per_node);
        if pods_total > PODS_MAX {
            return Err(cx.err(
                "pods_per_node",
                format!("cluster: more than {PODS_MAX} pods (sim's limit on a cluster's size)"),
            ));
        }
        let mut pods = n.pods.clone();
        for i in 1..=c.pods_per_node {
            pods.push(PodSpec {
                name: format!("{}-pod-{i}", n.name),
                ip: None,
            });
        }
        for name in std::iter::once(&n.name).chain(pods.iter().map(|p| &p.name)) {
            if !names.insert(name.clone()) || s.netns.iter().any(|m| &m.name == name) {
                return Err(cx.err(
                    name,
                    format!("cluster: the name \"{name}\" is used twice (nodes, pods and netns share one namespace of names)"),
                ));
            }
        }
        for r in [n.rp_filter, c.rp_filter].into_iter().flatten() {
            if r > 2 {
                return Err(cx.err("rp_filter", format!("rp_filter {r} is not 0, 1 or 2")));
            }
        }
        if let Some(m) = &n.mac {
            crate::iproute::parse_mac(m)
                .map_err(|e| cx.err_kv("mac", m, format!("node \"{}\": {e}", n.name)))?;
        }
        nodes.push(Node {
            spec: n,
            ip: addr,
            subnet: Ipv4Net::new(addr, len),
            gateway,
            nic: n.nic.clone().unwrap_or_else(|| "eth0".into()),
            mac: n.mac.clone().unwrap_or_else(|| {
                // A VM's NIC, as in the labs: QEMU's OUI and three drawn bytes.
                let b: [u8; 3] = rng_for(s.seed, &format!("nic/{}", n.name)).gen();
                fmt_mac([0x52, 0x54, 0x00, b[0], b[1], b[2]])
            }),
            segment: n.segment.clone().unwrap_or_else(|| "underlay".into()),
            rp_filter: n.rp_filter.or(c.rp_filter),
            pods,
        });
    }
    if c.mtu < 576 || c.mtu > 65535 {
        return Err(cx.err(
            "mtu",
            format!("cluster: mtu {} is out of range (576-65535)", c.mtu),
        ));
    }
    for n in &nodes {
        if !out.segments.iter().any(|g| g.name == n.segment) {
            out.segments.push(SegmentSpec {
                name: n.segment.clone(),
                delay_us: None,
            });
        }
    }
    let netns = match &c.cni {
        Cni::Calico(cal) => calico(cx, s.seed, c, cal, &nodes)?,
        Cni::Flannel(fl) => flannel(cx, s.seed, c, fl, &nodes)?,
    };
    out.netns.extend(netns);
    Ok(out)
}

/// The node's NIC and the sysctls every Kubernetes node has.
fn node_base(c: &ClusterSpec, n: &Node) -> NetnsSpec {
    let mut sysctls = vec!["net.ipv4.ip_forward=1".to_string()];
    if let Some(r) = n.rp_filter {
        sysctls.push(format!("net.ipv4.conf.all.rp_filter={r}"));
        sysctls.push(format!("net.ipv4.conf.default.rp_filter={r}"));
    }
    sysctls.extend(n.spec.sysctls.iter().cloned());
    let mut routes = Vec::new();
    if let Some(g) = n.gateway {
        routes.push(format!("default via {g} dev {}", n.nic));
    }
    routes.extend(n.spec.routes.iter().cloned());
    NetnsSpec {
        name: n.spec.name.clone(),
        host: None,
        devices: vec![DeviceSpec {
            name: n.nic.clone(),
            kind: DeviceKind::Nic {
                segment: n.segment.clone(),
            },
            mac: Some(n.mac.clone()),
            mtu: (c.mtu != 1500).then_some(c.mtu),
            addrs: vec![format!("{}/{}", n.ip, n.subnet.len)],
            ..DeviceSpec::new("", DeviceKind::Ipip)
        }],
        sysctls,
        routes,
        ..NetnsSpec::new("")
    }
}

fn pod_netns(pod: &str, node: &str, eth0: DeviceSpec, routes: Vec<String>) -> NetnsSpec {
    NetnsSpec {
        name: pod.to_string(),
        host: Some(node.to_string()),
        devices: vec![eth0],
        routes,
        ..NetnsSpec::new("")
    }
}

/// Calico's IPAM for one pool: blocks claimed per node, addresses handed out in order.
struct Ipam {
    pool: Ipv4Net,
    block_len: u8,
    /// Claimed blocks, with the index of the node holding each.
    claimed: Vec<(Ipv4Net, usize)>,
    used: BTreeSet<Ipv4Addr>,
}

impl Ipam {
    fn blocks_of(&self, node: usize) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.claimed
            .iter()
            .filter(move |(_, n)| *n == node)
            .map(|(b, _)| *b)
    }

    /// `randomBlockGenerator`: blocks in pool order from a starting block drawn per host name
    /// (libcalico-go seeds it with the host name; we seed it with the scenario seed and it).
    fn claim(&mut self, seed: u64, node: usize, host: &str) -> Option<Ipv4Net> {
        let count = 1u64 << (self.block_len - self.pool.len);
        let start = rng_for(seed, &format!("ipam/{host}")).gen_range(0..count);
        let size = 1u64 << (32 - self.block_len);
        (0..count)
            .map(|i| (start + i) % count)
            .map(|i| Ipv4Net {
                addr: Ipv4Addr::from((u64::from(u32::from(self.pool.addr)) + i * size) as u32),
                len: self.block_len,
            })
            .find(|b| !self.claimed.iter().any(|(c, _)| c == b))
            .inspect(|b| self.claimed.push((*b, node)))
    }

    /// The next free address of the node's blocks, in ordinal order, claiming a block when
    /// they are full (`autoAssign`).
    fn assign(&mut self, seed: u64, node: usize, host: &str) -> Option<Ipv4Addr> {
        loop {
            let free = self.blocks_of(node).find_map(|b| {
                (0..1u32 << (32 - b.len))
                    .map(|i| nth(b, i))
                    .find(|a| !self.used.contains(a))
            });
            if let Some(a) = free {
                self.used.insert(a);
                return Some(a);
            }
            self.claim(seed, node, host)?;
        }
    }
}

/// Where remote blocks are routed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encap {
    None,
    Ipip { cross_subnet: bool },
    Vxlan { cross_subnet: bool },
}

const CALICO_VXLAN_DEV: &str = "vxlan.calico";
/// Felix's defaults (`VXLANVNI`, `VXLANPort`).
const CALICO_VXLAN_VNI: u32 = 4096;
const CALICO_VXLAN_PORT: u16 = 4789;

fn calico(
    cx: &Ctx,
    seed: u64,
    c: &ClusterSpec,
    cal: &CalicoSpec,
    nodes: &[Node],
) -> Result<Vec<NetnsSpec>, Error> {
    let pool = parse_network(cx, "cidr", &cal.cidr, "IPPool cidr")?;
    if !(20..=32).contains(&cal.block_size) || cal.block_size < pool.len {
        return Err(cx.err(
            "blockSize",
            format!(
                "IPPool blockSize {} must be between 20 and 32 and not shorter than the pool's /{}",
                cal.block_size, pool.len
            ),
        ));
    }
    let encap = match (cal.ipip_mode, cal.vxlan_mode) {
        (EncapMode::Never, EncapMode::Never) => Encap::None,
        (m, EncapMode::Never) => Encap::Ipip {
            cross_subnet: m == EncapMode::CrossSubnet,
        },
        (EncapMode::Never, m) => Encap::Vxlan {
            cross_subnet: m == EncapMode::CrossSubnet,
        },
        _ => {
            return Err(cx.err(
                "vxlanMode",
                "IPPool: ipipMode and vxlanMode cannot both be enabled (calicoctl refuses it)"
                    .into(),
            ))
        }
    };
    let overhead = match encap {
        Encap::None => 0,
        Encap::Ipip { .. } => 20,
        Encap::Vxlan { .. } => 50,
    };
    let mtu = cal.mtu.unwrap_or(c.mtu - overhead);
    // Felix writes routes with proto bird in BIRD mode; in VXLAN mode it owns them, proto 80.
    let proto = match encap {
        Encap::Vxlan { .. } => "80",
        _ => "bird",
    };
    let mut ipam = Ipam {
        pool,
        block_len: cal.block_size,
        claimed: Vec::new(),
        used: BTreeSet::new(),
    };
    // Nodes start in file order; each claims its block when it allocates its tunnel address
    // (or its first pod).
    let mut tunnel = Vec::new();
    let mut pod_ips: Vec<Vec<Ipv4Addr>> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let taken: Vec<Ipv4Net> = ipam.claimed.iter().map(|(b, _)| *b).collect();
        if let Some(block) = pinned_pod_cidr(cx, n, pool, cal.block_size, &taken)? {
            ipam.claimed.push((block, i));
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        let host = &n.spec.name;
        let exhausted = || {
            cx.err_kv(
                "cidr",
                &cal.cidr,
                format!(
                    "IPPool {}: no free address left for node \"{host}\"",
                    cidr(pool)
                ),
            )
        };
        tunnel.push(match encap {
            Encap::None => None,
            _ => Some(ipam.assign(seed, i, host).ok_or_else(exhausted)?),
        });
        // Pods with a requested address (`cni.projectcalico.org/ipAddrs`) first, then the rest.
        let mut ips = vec![Ipv4Addr::UNSPECIFIED; n.pods.len()];
        for (p, pod) in n.pods.iter().enumerate() {
            let Some(ip) = &pod.ip else { continue };
            let a = parse_ip(cx, "ip", ip, &format!("pod \"{}\": ip", pod.name))?;
            if ipam.blocks_of(i).next().is_none() {
                ipam.claim(seed, i, host).ok_or_else(exhausted)?;
            }
            if !ipam.blocks_of(i).any(|b| b.contains(a)) {
                let blocks: Vec<String> = ipam.blocks_of(i).map(cidr).collect();
                return Err(cx.err_kv(
                    "ip",
                    ip,
                    format!(
                        "pod \"{}\": {ip} is not in a block of node \"{host}\" ({})",
                        pod.name,
                        blocks.join(", ")
                    ),
                ));
            }
            if !ipam.used.insert(a) {
                return Err(cx.err_kv(
                    "ip",
                    ip,
                    format!("pod \"{}\": {ip} is already assigned", pod.name),
                ));
            }
            ips[p] = a;
        }
        for (p, pod) in n.pods.iter().enumerate() {
            if pod.ip.is_none() {
                ips[p] = ipam.assign(seed, i, host).ok_or_else(exhausted)?;
            }
        }
        pod_ips.push(ips);
    }
    let vtep_mac: Vec<String> = nodes
        .iter()
        .map(|n| calico_vtep_mac(&n.spec.name))
        .collect();
    // Every node routes to every other node's blocks: look them up once, not per pair.
    let blocks: Vec<Vec<Ipv4Net>> = (0..nodes.len())
        .map(|i| ipam.blocks_of(i).collect())
        .collect();
    // A tunnel route to node j's blocks reads the same on every node: written once, copied.
    let mut tunnel_routes: Vec<Option<Vec<String>>> = vec![None; nodes.len()];

    let mut out = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut node = node_base(c, n);
        let mut pods = Vec::new();
        // The CNI and felix set each cali device's rp_filter to what conf/default held when
        // felix started (`configureProcSysForInterface`).
        let rp_default = n.rp_filter.unwrap_or(0);
        if let Some(t) = tunnel[i] {
            match encap {
                Encap::Ipip { .. } => node.devices.push(DeviceSpec {
                    mtu: Some(mtu),
                    addrs: vec![format!("{t}/32")],
                    ..DeviceSpec::new("tunl0", DeviceKind::Ipip)
                }),
                Encap::Vxlan { .. } => node.devices.push(DeviceSpec {
                    mac: Some(vtep_mac[i].clone()),
                    mtu: Some(mtu),
                    addrs: vec![format!("{t}/32")],
                    ..DeviceSpec::new(
                        CALICO_VXLAN_DEV,
                        DeviceKind::Vxlan(VxlanSpec {
                            id: CALICO_VXLAN_VNI,
                            dstport: Some(CALICO_VXLAN_PORT),
                            local: Some(n.ip.to_string()),
                            dev: Some(n.nic.clone()),
                            learning: false,
                            srcport: None,
                            ttl: None,
                            udpcsum: true,
                        }),
                    )
                }),
                Encap::None => {}
            }
        }
        for &b in &blocks[i] {
            node.routes
                .push(format!("blackhole {} proto {proto}", cidr(b)));
        }
        for (pod, ip) in n.pods.iter().zip(&pod_ips[i]) {
            let veth = calico_veth_name(&c.namespace, &pod.name);
            node.devices.push(DeviceSpec {
                mac: Some("ee:ee:ee:ee:ee:ee".into()),
                mtu: Some(mtu),
                ..DeviceSpec::new(
                    &veth,
                    DeviceKind::Veth {
                        peer: format!("{}/eth0", pod.name),
                    },
                )
            });
            node.sysctls.extend([
                format!("net.ipv4.conf.{veth}.rp_filter={rp_default}"),
                format!("net.ipv4.conf.{veth}.route_localnet=1"),
                format!("net.ipv4.conf.{veth}.proxy_arp=1"),
                format!("net.ipv4.neigh.{veth}.proxy_delay=0"),
                format!("net.ipv4.conf.{veth}.forwarding=1"),
            ]);
            node.routes.push(format!("{ip} dev {veth} scope link"));
            pods.push(pod_netns(
                &pod.name,
                &n.spec.name,
                DeviceSpec {
                    mac: Some(random_mac(seed, &format!("pod/{}", pod.name))),
                    mtu: Some(mtu),
                    addrs: vec![format!("{ip}/32")],
                    ..DeviceSpec::new(
                        "eth0",
                        DeviceKind::Veth {
                            peer: format!("{}/{veth}", n.spec.name),
                        },
                    )
                },
                vec![
                    "169.254.1.1 dev eth0 scope link".into(),
                    "default via 169.254.1.1 dev eth0".into(),
                ],
            ));
        }
        for (j, m) in nodes.iter().enumerate() {
            if j == i {
                continue;
            }
            let same_subnet = n.subnet.contains(m.ip);
            let tunnelled = match encap {
                Encap::Ipip { cross_subnet } | Encap::Vxlan { cross_subnet } => {
                    !(cross_subnet && same_subnet)
                }
                Encap::None => false,
            };
            if let Some(v) = tunnel_routes[j].as_ref().filter(|_| tunnelled) {
                node.routes.extend(v.iter().cloned());
            } else {
                let first = node.routes.len();
                for &b in &blocks[j] {
                    let b = cidr(b);
                    let route = match encap {
                        Encap::Ipip { cross_subnet } if !(cross_subnet && same_subnet) => {
                            format!("{b} via {} dev tunl0 proto bird onlink", m.ip)
                        }
                        // Felix's VXLAN routes carry no protocol (so RTPROT_BOOT, which `ip route`
                        // does not print); its no-encap routes are proto 80 and onlink
                        // (`vxlan_mgr.go`, `route_mgr.go`).
                        Encap::Vxlan { cross_subnet } if !(cross_subnet && same_subnet) => {
                            match tunnel[j] {
                                Some(t) => format!("{b} via {t} dev {CALICO_VXLAN_DEV} onlink"),
                                None => continue,
                            }
                        }
                        Encap::Vxlan { .. } => {
                            format!("{b} via {} dev {} proto 80 onlink", m.ip, n.nic)
                        }
                        _ if same_subnet => format!("{b} via {} dev {} proto bird", m.ip, n.nic),
                        // BGP to a peer off-subnet: bird resolves the next hop recursively,
                        // through the node's gateway; without one it installs nothing.
                        _ => match n.gateway {
                            Some(g) => format!("{b} via {g} dev {} proto {proto}", n.nic),
                            None => continue,
                        },
                    };
                    node.routes.push(route);
                }
                if tunnelled {
                    tunnel_routes[j] = Some(node.routes[first..].to_vec());
                }
            }
            if let (Encap::Vxlan { .. }, Some(t)) = (encap, tunnel[j]) {
                node.neigh.push(format!(
                    "{t} lladdr {} dev {CALICO_VXLAN_DEV} nud permanent",
                    vtep_mac[j]
                ));
                node.fdb.push(format!(
                    "{} dev {CALICO_VXLAN_DEV} dst {} self permanent",
                    vtep_mac[j], m.ip
                ));
            }
        }
        calico_nat(&mut node, cal, pool, encap);
        out.push(node);
        out.extend(pods);
    }
    Ok(out)
}

/// Felix's nat table (`felix/rules/nat.go`, `static.go`; comments are felix's rule hashes,
/// the same on every cluster) and the IPAM pool ipsets (`masq_mgr.go`): every pool is in
/// `all-ipam-pools`, natOutgoing pools also in `masq-ipam-pools`.
fn calico_nat(node: &mut NetnsSpec, cal: &CalicoSpec, pool: Ipv4Net, encap: Encap) {
    let pool = cidr(pool);
    node.ipsets.extend([
        "create cali40all-ipam-pools hash:net".to_string(),
        format!("add cali40all-ipam-pools {pool}"),
        "create cali40masq-ipam-pools hash:net".to_string(),
    ]);
    if cal.nat_outgoing {
        node.ipsets
            .push(format!("add cali40masq-ipam-pools {pool}"));
    }
    node.iptables.extend([
        "-t nat -N cali-POSTROUTING".to_string(),
        "-t nat -N cali-fip-snat".to_string(),
        "-t nat -N cali-nat-outgoing".to_string(),
        "-t nat -A POSTROUTING -m comment --comment \"cali:O3lYWMrLQYEMJtB5\" -j cali-POSTROUTING".to_string(),
        "-t nat -A cali-POSTROUTING -m comment --comment \"cali:Z-c7XtVd2Bq7s_hA\" -j cali-fip-snat".to_string(),
        "-t nat -A cali-POSTROUTING -m comment --comment \"cali:nYKhEzDlr11Jccal\" -j cali-nat-outgoing".to_string(),
    ]);
    // Host traffic leaving the tunnel with a local source other than the tunnel's own.
    let tunnel = match encap {
        Encap::Ipip { .. } => Some(("tunl0", "cali:SXWvdsbh4Mw7wOln")),
        Encap::Vxlan { .. } => Some((CALICO_VXLAN_DEV, "cali:e9dnSgSVNmIcpVhP")),
        Encap::None => None,
    };
    if let Some((dev, hash)) = tunnel {
        node.iptables.push(format!("-t nat -A cali-POSTROUTING -o {dev} -m comment --comment \"{hash}\" -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully"));
    }
    if cal.nat_outgoing {
        node.iptables.push("-t nat -A cali-nat-outgoing -m comment --comment \"cali:flqWnvo8yq4ULQLa\" -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully".to_string());
    }
}

fn flannel(
    cx: &Ctx,
    seed: u64,
    c: &ClusterSpec,
    fl: &FlannelSpec,
    nodes: &[Node],
) -> Result<Vec<NetnsSpec>, Error> {
    let network = parse_network(cx, "network", &fl.network, "flannel network")?;
    if fl.subnet_len < network.len || fl.subnet_len > 30 {
        return Err(cx.err(
            "subnetLen",
            format!(
                "flannel subnetLen {} must be between the network's /{} and 30",
                fl.subnet_len, network.len
            ),
        ));
    }
    let vxlan = fl.backend == FlannelBackend::Vxlan;
    let vni = fl.vni.unwrap_or(1);
    if vni >= 1 << 24 {
        return Err(cx.err(
            "vni",
            format!("flannel VNI {vni} is out of range (0-16777215)"),
        ));
    }
    let mtu = if vxlan { c.mtu - 50 } else { c.mtu };
    // Node subnets: those given, then the next free ones in order, as the node IPAM
    // controller's cidrset hands them out in registration order.
    let count = 1u64 << (fl.subnet_len - network.len);
    let size = 1u64 << (32 - fl.subnet_len);
    let subnet_at = |i: u64| Ipv4Net {
        addr: Ipv4Addr::from((u64::from(u32::from(network.addr)) + i * size) as u32),
        len: fl.subnet_len,
    };
    let mut subnets: Vec<Option<Ipv4Net>> = Vec::new();
    for n in nodes {
        let taken: Vec<Ipv4Net> = subnets.iter().flatten().copied().collect();
        subnets.push(pinned_pod_cidr(cx, n, network, fl.subnet_len, &taken)?);
    }
    let mut next = 0;
    for (i, n) in nodes.iter().enumerate() {
        if subnets[i].is_none() {
            while next < count && subnets.contains(&Some(subnet_at(next))) {
                next += 1;
            }
            if next == count {
                return Err(cx.err_kv(
                    "network",
                    &fl.network,
                    format!(
                        "flannel network {}: no subnet left for node \"{}\"",
                        cidr(network),
                        n.spec.name
                    ),
                ));
            }
            subnets[i] = Some(subnet_at(next));
            next += 1;
        }
    }
    let subnets: Vec<Ipv4Net> = subnets.into_iter().flatten().collect();
    let vtep_mac: Vec<String> = nodes
        .iter()
        .map(|n| random_mac(seed, &format!("vtep/{}", n.spec.name)))
        .collect();
    let mut out = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let subnet = subnets[i];
        let gw = nth(subnet, 1);
        let mut node = node_base(c, n);
        if vxlan {
            node.devices.push(DeviceSpec {
                mac: Some(vtep_mac[i].clone()),
                mtu: Some(mtu),
                addrs: vec![format!("{}/32", subnet.addr)],
                ..DeviceSpec::new(
                    &format!("flannel.{vni}"),
                    DeviceKind::Vxlan(VxlanSpec {
                        id: vni,
                        dstport: fl.port.filter(|&p| p != 0),
                        local: Some(n.ip.to_string()),
                        dev: Some(n.nic.clone()),
                        learning: false,
                        srcport: None,
                        ttl: None,
                        udpcsum: true,
                    }),
                )
            });
        }
        // The bridge plugin pins cni0's kernel-drawn MAC (`LinkSetHardwareAddr(br,
        // br.Attrs().HardwareAddr)`), so it does not follow the ports.
        node.devices.push(DeviceSpec {
            mac: Some(random_mac(seed, &format!("cni0/{}", n.spec.name))),
            mtu: Some(mtu),
            addrs: vec![format!("{gw}/{}", subnet.len)],
            ..DeviceSpec::new("cni0", DeviceKind::Bridge)
        });
        // host-local hands out addresses from .2 (.1 is the gateway), in order.
        let mut used: BTreeSet<Ipv4Addr> = [subnet.addr, gw, subnet.broadcast()].into();
        let mut ips = vec![Ipv4Addr::UNSPECIFIED; n.pods.len()];
        for (p, pod) in n.pods.iter().enumerate() {
            let Some(ip) = &pod.ip else { continue };
            let a = parse_ip(cx, "ip", ip, &format!("pod \"{}\": ip", pod.name))?;
            if !subnet.contains(a) || !used.insert(a) {
                return Err(cx.err_kv(
                    "ip",
                    ip,
                    format!(
                        "pod \"{}\": {ip} is not a free address of node \"{}\"'s subnet {}",
                        pod.name,
                        n.spec.name,
                        cidr(subnet)
                    ),
                ));
            }
            ips[p] = a;
        }
        for (p, pod) in n.pods.iter().enumerate() {
            if pod.ip.is_none() {
                let a = (2..(1u32 << (32 - subnet.len)) - 1)
                    .map(|k| nth(subnet, k))
                    .find(|a| !used.contains(a))
                    .ok_or_else(|| {
                        cx.err(
                            &pod.name,
                            format!(
                                "pod \"{}\": node \"{}\"'s subnet {} is full",
                                pod.name,
                                n.spec.name,
                                cidr(subnet)
                            ),
                        )
                    })?;
                used.insert(a);
                ips[p] = a;
            }
        }
        let mut pods = Vec::new();
        for (pod, ip) in n.pods.iter().zip(&ips) {
            let veth = bridge_veth_name(seed, &n.spec.name, &pod.name);
            node.devices.push(DeviceSpec {
                mac: Some(random_mac(seed, &format!("veth/{}", pod.name))),
                mtu: Some(mtu),
                master: Some("cni0".into()),
                hairpin: true,
                ..DeviceSpec::new(
                    &veth,
                    DeviceKind::Veth {
                        peer: format!("{}/eth0", pod.name),
                    },
                )
            });
            pods.push(pod_netns(
                &pod.name,
                &n.spec.name,
                DeviceSpec {
                    mac: Some(random_mac(seed, &format!("pod/{}", pod.name))),
                    mtu: Some(mtu),
                    addrs: vec![format!("{ip}/{}", subnet.len)],
                    ..DeviceSpec::new(
                        "eth0",
                        DeviceKind::Veth {
                            peer: format!("{}/{veth}", n.spec.name),
                        },
                    )
                },
                vec![
                    format!("default via {gw} dev eth0"),
                    format!("{} via {gw} dev eth0", cidr(network)),
                ],
            ));
        }
        for (j, m) in nodes.iter().enumerate() {
            if j == i {
                continue;
            }
            let same_subnet = n.subnet.contains(m.ip);
            let s = cidr(subnets[j]);
            if !vxlan || fl.direct_routing && same_subnet {
                if !same_subnet {
                    return Err(cx.err(
                        "HostGw",
                        format!("flannel host-gw: node \"{}\" ({}) is not on node \"{}\"'s subnet {}; host-gw needs every node on one L2 network", m.spec.name, m.ip, n.spec.name, cidr(n.subnet)),
                    ));
                }
                node.routes.push(format!("{s} via {} dev {}", m.ip, n.nic));
                continue;
            }
            let vtep = subnets[j].addr;
            let dev = format!("flannel.{vni}");
            node.routes.push(format!("{s} via {vtep} dev {dev} onlink"));
            node.neigh.push(format!(
                "{vtep} lladdr {} dev {dev} nud permanent",
                vtep_mac[j]
            ));
            node.fdb.push(format!(
                "{} dev {dev} dst {} self permanent",
                vtep_mac[j], m.ip
            ));
        }
        if fl.ip_masq {
            flannel_masq(&mut node, network, subnet);
        }
        out.push(node);
        out.extend(pods);
    }
    Ok(out)
}

/// flanneld's `FLANNEL-POSTRTG` chain (`pkg/trafficmngr/iptables/iptables.go: masqRules`).
fn flannel_masq(node: &mut NetnsSpec, network: Ipv4Net, subnet: Ipv4Net) {
    let (net, sub) = (cidr(network), cidr(subnet));
    let c = "-m comment --comment \"flanneld masq\"";
    node.iptables.extend([
        "-t nat -N FLANNEL-POSTRTG".to_string(),
        format!("-t nat -A POSTROUTING {c} -j FLANNEL-POSTRTG"),
        // kube-proxy's masquerade mark: never set here, so never matches.
        format!("-t nat -A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 {c} -j RETURN"),
        format!("-t nat -A FLANNEL-POSTRTG -s {sub} -d {net} {c} -j RETURN"),
        format!("-t nat -A FLANNEL-POSTRTG -s {net} -d {sub} {c} -j RETURN"),
        format!("-t nat -A FLANNEL-POSTRTG ! -s {net} -d {sub} {c} -j RETURN"),
        format!(
            "-t nat -A FLANNEL-POSTRTG -s {net} ! -d 224.0.0.0/4 {c} -j MASQUERADE --random-fully"
        ),
        format!("-t nat -A FLANNEL-POSTRTG ! -s {net} -d {net} {c} -j MASQUERADE --random-fully"),
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calico_veth_name_is_sha1_of_namespace_and_pod() {
        // `printf default.nginx | sha1sum` = c440f455693b69cd...; Calico keeps 11 hex digits.
        assert_eq!(calico_veth_name("default", "nginx"), "calic440f455693");
    }
}
