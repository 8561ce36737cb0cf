//! Scenario generators (`sim gen`): the ns-3 comparison workload of `bench/ns3/WORKLOAD.md` as
//! a Calico cluster scenario, so that both simulators run the same topology and schedule.

use std::fmt::Write as _;

/// Node `i` on a one-segment underlay: 192.168.0.0 + (i + 1) in a /16.
fn node_ip(i: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from_be_bytes([192, 168, 0, 0]) + i + 1)
}

/// How cross-node pod traffic travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    /// Native routing via the node addresses (Calico BGP mode): the ns-3 workload exactly.
    None,
    /// Calico `ipipMode: Always` (tunl0).
    Ipip,
    /// Calico `vxlanMode: Always` (vxlan.calico).
    Vxlan,
}

impl Encap {
    /// As `--encap` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Encap::None => "none",
            Encap::Ipip => "ipip",
            Encap::Vxlan => "vxlan",
        }
    }

    /// The IPPool field that turns it on, after a comma (none for BGP routing).
    fn calico_mode(self) -> &'static str {
        match self {
            Encap::None => "",
            Encap::Ipip => ", ipipMode: Always",
            Encap::Vxlan => ", vxlanMode: Always",
        }
    }
}

/// The workload's parameters (WORKLOAD.md §1).
#[derive(Clone, Copy, Debug)]
pub struct PodsWorkload {
    /// N: nodes on the shared segment.
    pub nodes: u32,
    /// P: pods per node.
    pub pods: u32,
    /// K: echo requests per ordered pod pair.
    pub k: u32,
    pub payload: usize,
    pub gap_ns: u64,
    pub encap: Encap,
    pub seed: u64,
}

impl PodsWorkload {
    /// The comment and the first fields of the scenario, up to its segments.
    fn preamble(&self, encap: &str) -> String {
        let (n, p) = (self.nodes, self.pods);
        // Every request and reply is about eight events; ARP and timers add a little.
        let events_max = self.requests() * 24 + 1_000_000;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// `sim gen pods --nodes {n} --pods {p} --k {} --encap {encap}`: the all-pairs UDP echo\n\
             // workload of bench/ns3/WORKLOAD.md. M = {} pods, R = {} requests, 2R = {} datagrams\n\
             // delivered to sockets.",
            self.k,
            self.pods_total(),
            self.requests(),
            2 * self.requests()
        );
        let _ = writeln!(s, "Scenario(");
        let _ = writeln!(s, "    name: \"pods_n{n}_p{p}_k{}_{encap}\",", self.k);
        let _ = writeln!(s, "    seed: {},", self.seed);
        let _ = writeln!(s, "    events_max: {events_max},");
        s
    }

    /// WORKLOAD.md §2 as low-level netns.
    fn plain_ron(&self) -> String {
        let (n, p) = (self.nodes, self.pods);
        let mut s = self.preamble("none");
        let _ = writeln!(s, "    segments: [(name: \"underlay\", delay_us: 1)],");
        let _ = writeln!(s, "    netns: [");
        for i in 0..n {
            let (hi, lo) = (i >> 8, i & 255);
            let _ = writeln!(s, "        (name: \"node{i}\", devices: [");
            let _ = writeln!(
                s,
                "            (name: \"eth0\", kind: Nic(segment: \"underlay\"), addrs: [\"{}/16\"]),",
                node_ip(i)
            );
            for j in 0..p {
                let _ = writeln!(
                    s,
                    "            (name: \"cali{j}\", kind: Veth(peer: \"node{i}-pod{j}/eth0\"), mac: \"ee:ee:ee:ee:ee:ee\"),"
                );
            }
            let _ = writeln!(s, "        ], sysctls: [\"net.ipv4.ip_forward=1\"");
            for j in 0..p {
                let _ = writeln!(
                    s,
                    "            , \"net.ipv4.conf.cali{j}.proxy_arp=1\", \"net.ipv4.neigh.cali{j}.proxy_delay=0\""
                );
            }
            let _ = writeln!(
                s,
                "        ], routes: [\"default via 192.168.255.254 dev eth0\""
            );
            for j in 0..p {
                let _ = writeln!(
                    s,
                    "            , \"10.{hi}.{lo}.{} dev cali{j} scope link\"",
                    j + 1
                );
            }
            for k in (0..n).filter(|&k| k != i) {
                let _ = writeln!(
                    s,
                    "            , \"10.{}.{}.0/24 via {} dev eth0\"",
                    k >> 8,
                    k & 255,
                    node_ip(k)
                );
            }
            let _ = writeln!(s, "        ]),");
            for j in 0..p {
                let _ = writeln!(
                    s,
                    "        (name: \"node{i}-pod{j}\", host: \"node{i}\", devices: [(name: \"eth0\", kind: Veth(peer: \"node{i}/cali{j}\"), addrs: [\"10.{hi}.{lo}.{}/32\"])],\n\
                     \x20        routes: [\"169.254.1.1 dev eth0 scope link\", \"default via 169.254.1.1 dev eth0\"]),",
                    j + 1
                );
            }
        }
        let _ = writeln!(s, "    ],");
        let _ = writeln!(s, "    capture: [],");
        let _ = writeln!(
            s,
            "    traffic: [PodsEcho(k: {}, gap_ns: {}, size: {}, port: 9)],",
            self.k, self.gap_ns, self.payload
        );
        let _ = writeln!(s, ")");
        s
    }

    /// M = N * P.
    pub fn pods_total(&self) -> u64 {
        u64::from(self.nodes) * u64::from(self.pods)
    }

    /// R = K * M * (M - 1): requests; 2R datagrams are delivered to sockets.
    pub fn requests(&self) -> u64 {
        let m = self.pods_total();
        u64::from(self.k) * m * m.saturating_sub(1)
    }

    /// The largest N and P the addressing plan holds: node i is 192.168.0.0 + (i + 1) in a
    /// /16 (192.168.255.254 is the default gateway) and its pods are 10.(i >> 8).(i & 255).(j
    /// + 1), so N <= 65000 and P < 255.
    pub fn check(&self) -> Result<(), String> {
        if self.nodes == 0 || self.nodes > 65_000 {
            return Err(format!("--nodes {}: must be 1 to 65000", self.nodes));
        }
        if self.pods == 0 || self.pods > 254 {
            return Err(format!("--pods {}: must be 1 to 254", self.pods));
        }
        if self.pods_total() < 2 {
            return Err("the workload needs at least two pods".into());
        }
        if self.k == 0 {
            return Err("--k must be at least 1".into());
        }
        if self.gap_ns == 0 {
            return Err("--gap-ns must be at least 1".into());
        }
        if self.payload > 65_507 {
            return Err(format!("--payload {}: at most 65507", self.payload));
        }
        Ok(())
    }

    /// The scenario as RON text: one segment with 1 µs delay as the ns-3 bus has, no captures,
    /// the all-pairs `PodsEcho` traffic, and Calico-style pods (`169.254.1.1` as gateway
    /// through proxy ARP on their `cali` veths). Without encapsulation it is WORKLOAD.md §2
    /// exactly: netns, veths, addresses and routes written out, no iptables (so no
    /// conntrack), as felix-less Calico BGP routing. With IPIP or VXLAN it is a Calico cluster
    /// preset, with felix's nat table and so conntrack on every node: a heavier workload.
    /// The nodes' default route (to a gateway that never answers, as no traffic leaves the
    /// cluster) is what lets proxy ARP answer the pods, as on every real node.
    pub fn to_ron(&self) -> String {
        if self.encap == Encap::None {
            return self.plain_ron();
        }
        let (n, p) = (self.nodes, self.pods);
        let mode = self.encap.calico_mode();
        let mut s = self.preamble(self.encap.name());
        let _ = writeln!(s, "    segments: [(name: \"underlay\", delay_us: 1)],");
        let _ = writeln!(s, "    cluster: (");
        let _ = writeln!(
            s,
            "        cni: Calico(cidr: \"10.0.0.0/8\", blockSize: 24{mode}),"
        );
        let _ = writeln!(s, "        nodes: [");
        for i in 0..n {
            let node_ip = node_ip(i);
            let (hi, lo) = (i >> 8, i & 255);
            let _ = write!(
                s,
                "            (name: \"node{i}\", ip: \"{node_ip}/16\", gateway: \"192.168.255.254\", pod_cidr: \"10.{hi}.{lo}.0/24\", pods: ["
            );
            for j in 0..p {
                let _ = write!(
                    s,
                    "{}(name: \"node{i}-pod{j}\", ip: \"10.{hi}.{lo}.{}\")",
                    if j == 0 { "" } else { ", " },
                    j + 1
                );
            }
            let _ = writeln!(s, "]),");
        }
        let _ = writeln!(s, "        ],");
        let _ = writeln!(s, "    ),");
        let _ = writeln!(s, "    capture: [],");
        let _ = writeln!(
            s,
            "    traffic: [PodsEcho(k: {}, gap_ns: {}, size: {}, port: 9)],",
            self.k, self.gap_ns, self.payload
        );
        let _ = writeln!(s, ")");
        s
    }
}

/// The scale workload: a Calico cluster of N nodes with P pods each, and one ping from the
/// first pod of every node to the first pod of every other node (`NodesPing`).
#[derive(Clone, Copy, Debug)]
pub struct ClusterWorkload {
    pub nodes: u32,
    pub pods: u32,
    /// Nodes per rack: each rack is a segment (a /24) behind one router. 0: every node on
    /// one segment (one broadcast domain: every ARP request reaches every node).
    pub rack_size: u32,
    pub encap: Encap,
    pub gap_ns: u64,
    pub seed: u64,
}

impl ClusterWorkload {
    /// Pings: N * (N - 1).
    pub fn pings(&self) -> u64 {
        let n = u64::from(self.nodes);
        n * n.saturating_sub(1)
    }

    pub fn check(&self) -> Result<(), String> {
        if self.nodes < 2 || self.nodes > 65_000 {
            return Err(format!("--nodes {}: must be 2 to 65000", self.nodes));
        }
        if self.pods == 0 || self.pods > 60 {
            return Err(format!(
                "--pods {}: must be 1 to 60 (a /26 block per node)",
                self.pods
            ));
        }
        if u64::from(self.nodes) * u64::from(self.pods) > super::cluster::PODS_MAX {
            return Err(format!(
                "{} pods: at most {} in one scenario",
                u64::from(self.nodes) * u64::from(self.pods),
                super::cluster::PODS_MAX
            ));
        }
        if self.gap_ns == 0 {
            return Err("--gap-ns must be at least 1".into());
        }
        if self.rack_size > 250 {
            return Err(format!(
                "--rack-size {}: at most 250 (a /24 per rack)",
                self.rack_size
            ));
        }
        if self.rack_size > 0 && self.racks() > 4096 {
            return Err(format!("{} racks: at most 4096", self.racks()));
        }
        Ok(())
    }

    fn racks(&self) -> u32 {
        self.nodes.div_ceil(self.rack_size.max(1))
    }

    /// Rack `r`'s /24: 172.16.0.0/12, in order.
    fn rack_net(r: u32) -> [u8; 3] {
        let n = u32::from_be_bytes([172, 16, 0, 0]) + (r << 8);
        let o = n.to_be_bytes();
        [o[0], o[1], o[2]]
    }

    /// The scenario as RON: Calico with its default /26 blocks from 10.0.0.0/14 (IPAM picks
    /// them), `pods_per_node` pods, and the node-pair ping mesh expecting ttl 62 (two
    /// forwarding hops; the underlay router is inside the tunnel). With racks, node k of
    /// rack r is .(k + 1) of the rack's /24 and `router` (.254 on every rack) joins them;
    /// otherwise node i is 192.168.0.0 + (i + 1) in one /16.
    pub fn to_ron(&self) -> String {
        let n = self.nodes;
        let (mode, encap) = (self.encap.calico_mode(), self.encap.name());
        let events_max = self.pings() * 40 + 10_000_000;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// `sim gen cluster --nodes {n} --pods {} --encap {encap}`: {} pods, and one ping from\n\
             // the first pod of every node to the first pod of every other node ({} pings).",
            self.pods,
            u64::from(n) * u64::from(self.pods),
            self.pings()
        );
        let _ = writeln!(s, "Scenario(");
        let _ = writeln!(s, "    name: \"cluster_n{n}_p{}_{encap}\",", self.pods);
        let _ = writeln!(s, "    seed: {},", self.seed);
        let _ = writeln!(s, "    events_max: {events_max},");
        if self.rack_size == 0 {
            let _ = writeln!(s, "    segments: [(name: \"underlay\", delay_us: 1)],");
        } else {
            let _ = writeln!(s, "    segments: [");
            for r in 0..self.racks() {
                let _ = writeln!(s, "        (name: \"rack{r}\", delay_us: 1),");
            }
            let _ = writeln!(s, "    ],");
            let _ = writeln!(s, "    netns: [(");
            let _ = writeln!(s, "        name: \"router\",");
            let _ = writeln!(s, "        sysctls: [\"net.ipv4.ip_forward=1\"],");
            let _ = writeln!(s, "        devices: [");
            for r in 0..self.racks() {
                let [a, b, c] = Self::rack_net(r);
                let _ = writeln!(
                    s,
                    "            (name: \"eth{r}\", kind: Nic(segment: \"rack{r}\"), addrs: [\"{a}.{b}.{c}.254/24\"]),"
                );
            }
            let _ = writeln!(s, "        ],");
            let _ = writeln!(s, "    )],");
        }
        let _ = writeln!(s, "    cluster: (");
        let _ = writeln!(s, "        cni: Calico(cidr: \"10.0.0.0/14\"{mode}),");
        let _ = writeln!(s, "        pods_per_node: {},", self.pods);
        let _ = writeln!(s, "        nodes: [");
        for i in 0..n {
            if let Some(r) = i.checked_div(self.rack_size) {
                let k = i % self.rack_size;
                let [a, b, c] = Self::rack_net(r);
                let _ = writeln!(
                    s,
                    "            (name: \"node{i}\", ip: \"{a}.{b}.{c}.{}/24\", gateway: \"{a}.{b}.{c}.254\", segment: \"rack{r}\"),",
                    k + 1
                );
            } else {
                let ip = node_ip(i);
                let _ = writeln!(
                    s,
                    "            (name: \"node{i}\", ip: \"{ip}/16\", gateway: \"192.168.255.254\"),"
                );
            }
        }
        let _ = writeln!(s, "        ],");
        let _ = writeln!(s, "    ),");
        let _ = writeln!(s, "    capture: [],");
        let _ = writeln!(
            s,
            "    traffic: [NodesPing(gap_ns: {}, expect_ttl: 62)],",
            self.gap_ns
        );
        let _ = writeln!(s, ")");
        s
    }
}
