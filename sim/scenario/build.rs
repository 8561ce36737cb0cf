//! Builds a world from a scenario, checking every name and address; an error names the file
//! position of the offending string.

use super::{DeviceKind, Expect, Scenario, Traffic, VxlanSpec};
use crate::app::ping::PingSpec;
use crate::app::ping_mesh::PingMeshSpec;
use crate::app::udp_echo::UdpClientSpec;
use crate::dev::segment::Segment;
use crate::dev::vxlan::{Vxlan, PORT_LINUX};
use crate::dev::{DevId, DevKind, NsId};
use crate::error::Error;
use crate::iproute::{
    parse_command, parse_fdb, parse_mac, parse_neigh, parse_route, Command, FdbCmd,
};
use crate::time::{Duration, Instant};
use crate::world::{Change, Event, World};
use rand::Rng;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The largest `ping -s` (65535 less the IPv4 and ICMP headers), as iputils checks it.
const PING_SIZE_MAX: usize = 65_507;

/// A built scenario: the world, ready to run.
pub struct Built {
    pub world: World,
    pub name: String,
    /// Stop time, if the scenario sets one.
    pub until: Option<Instant>,
    /// For each traffic item, its ping's index in `world.pings` and its expectation.
    pub expects: Vec<(usize, Option<Expect>)>,
    /// `NodesPing`'s expected reply TTL.
    pub mesh_expect: Option<u8>,
}

/// 1-based line and column of the first occurrence of `"needle"` in the text.
fn locate(text: &str, needle: &str) -> (usize, usize) {
    let quoted = format!("\"{needle}\"");
    let at = text.find(&quoted).or_else(|| text.find(needle));
    match at {
        Some(i) => {
            let before = &text[..i];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
            (line, col)
        }
        None => (1, 1),
    }
}

/// The file being built, for error positions.
pub(super) struct Ctx<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Ctx<'_> {
    /// An error at `key: "value"` when the file has it written so, else at `value`.
    pub fn err_kv(&self, key: &str, value: &str, msg: String) -> Error {
        let kv = format!("{key}: \"{value}\"");
        match self.text.find(&kv) {
            Some(_) => self.err(&kv, msg),
            None => self.err(value, msg),
        }
    }

    pub fn err(&self, needle: &str, msg: String) -> Error {
        let (line, col) = locate(self.text, needle);
        Error::Invalid {
            file: self.file.to_string(),
            line,
            col,
            msg,
        }
    }
}

fn parse_prefix(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/').unwrap_or((s, "32"));
    let addr: Ipv4Addr = a.parse().ok()?;
    let len: u8 = l.parse().ok().filter(|l| *l <= 32)?;
    Some((addr, len))
}

/// True for sysctl keys that name a specific device.
fn names_device(key: &str) -> bool {
    crate::iproute::sysctl_device(key).is_some()
}

/// Builds the world. `file` and `text` are for error positions.
pub fn build(file: &str, text: &str, s: &Scenario) -> Result<Built, Error> {
    let cx = Ctx { file, text };
    let expanded;
    let s = if s.cluster.is_some() {
        expanded = super::cluster::expand(&cx, s)?;
        &expanded
    } else {
        s
    };
    let mut w = World::new(s.seed);
    if let Some(m) = s.events_max {
        w.engine.events_max = m;
    }
    let mut seg_ids = BTreeMap::new();
    for seg in &s.segments {
        if seg_ids.contains_key(&seg.name) {
            return Err(cx.err(
                &seg.name,
                format!("segment \"{}\" is defined twice", seg.name),
            ));
        }
        let delay = Duration::from_us(seg.delay_us.unwrap_or(50));
        w.segments.push(Segment::new(seg.name.clone(), delay));
        seg_ids.insert(seg.name.clone(), w.segments.len() - 1);
    }
    // Namespaces and their devices.
    let mut ns_ids: Vec<NsId> = Vec::new();
    for n in &s.netns {
        if w.ns_by_name(&n.name).is_some() {
            return Err(cx.err(&n.name, format!("netns \"{}\" is defined twice", n.name)));
        }
        let host = n.host.clone().unwrap_or_else(|| n.name.clone());
        ns_ids.push(w.add_netns(&n.name, &host));
    }
    // Parsed as `sysctl -w KV`, so dotted and slash keys behave as in changes.
    let sysctl = |w: &mut World, ns: NsId, kv: &str| -> Result<(), Error> {
        let cmd = parse_command(&format!("sysctl -w {kv}"))
            .map_err(|e| cx.err(kv, format!("sysctl \"{kv}\": {e}")))?;
        w.apply_command(ns, &cmd)
            .map_err(|e| cx.err(kv, format!("sysctl \"{kv}\": {e}")))
    };
    for (n, &ns) in s.netns.iter().zip(&ns_ids) {
        // Boot-time sysctls (all, default, ip_forward) come before the devices, so new devices
        // inherit conf/default as they would on a real node.
        for kv in n.sysctls.iter().filter(|kv| !names_device(kv)) {
            sysctl(&mut w, ns, kv)?;
        }
        for d in &n.devices {
            if w.dev_by_name(ns, &d.name).is_some() {
                return Err(cx.err(
                    &d.name,
                    format!(
                        "netns \"{}\": device \"{}\" is defined twice",
                        n.name, d.name
                    ),
                ));
            }
            let mac = match &d.mac {
                Some(m) => Some(
                    parse_mac(m).map_err(|e| cx.err(m, format!("device \"{}\": {e}", d.name)))?,
                ),
                None => None,
            };
            let kind = match &d.kind {
                DeviceKind::Ipip => DevKind::Ipip,
                DeviceKind::Bridge => DevKind::Bridge { idx: usize::MAX },
                DeviceKind::Vxlan(_) => DevKind::Vxlan { idx: usize::MAX },
                DeviceKind::Nic { segment } => {
                    let Some(&seg) = seg_ids.get(segment) else {
                        return Err(cx.err(
                            segment,
                            format!(
                                "device \"{}/{}\": unknown segment \"{segment}\"",
                                n.name, d.name
                            ),
                        ));
                    };
                    DevKind::Nic { segment: seg }
                }
                // The peer is linked once every device exists.
                DeviceKind::Veth { .. } => DevKind::Veth { peer: usize::MAX },
            };
            if d.delay_us.is_some() && !matches!(kind, DevKind::Veth { .. }) {
                return Err(cx.err(&d.name, format!("device \"{}/{}\": delay_us is for veth devices; a NIC's delay is its segment's", n.name, d.name)));
            }
            let id = match &d.kind {
                DeviceKind::Bridge => w.add_bridge(ns, &d.name, mac, d.mtu),
                DeviceKind::Vxlan(v) => {
                    let cfg = vxlan_config(&cx, &w, ns, &n.name, &d.name, v)?;
                    w.add_vxlan(ns, &d.name, cfg, mac, d.mtu)
                }
                _ => w.add_device(ns, &d.name, kind, mac, d.mtu),
            };
            w.devs[id].delay = Duration::from_us(d.delay_us.unwrap_or(match kind {
                DevKind::Veth { .. } => 2,
                _ => 0,
            }));
            if let DevKind::Nic { segment } = kind {
                w.segments[segment].ports.push(id);
            }
        }
    }
    // Link veth peers, each side naming the other.
    let spec_by_name: rustc_hash::FxHashMap<&str, usize> = s
        .netns
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    for (n, &ns) in s.netns.iter().zip(&ns_ids) {
        for d in &n.devices {
            let DeviceKind::Veth { peer } = &d.kind else {
                continue;
            };
            let me = w.dev_by_name(ns, &d.name).unwrap_or(usize::MAX);
            let p = resolve_dev(&w, peer).ok_or_else(|| {
                cx.err(
                    peer,
                    format!(
                        "veth \"{}/{}\": unknown peer \"{peer}\" (expected netns/dev)",
                        n.name, d.name
                    ),
                )
            })?;
            if !matches!(w.devs[p].kind, DevKind::Veth { .. }) {
                return Err(cx.err(
                    peer,
                    format!(
                        "veth \"{}/{}\": peer \"{peer}\" is not a veth",
                        n.name, d.name
                    ),
                ));
            }
            let back = spec_by_name
                .get(w.ns[w.devs[p].ns].name.as_str())
                .map(|&i| &s.netns[i])
                .and_then(|m| m.devices.iter().find(|x| x.name == w.devs[p].name))
                .map(|x| match &x.kind {
                    DeviceKind::Veth { peer } => peer.clone(),
                    _ => String::new(),
                });
            let me_name = format!("{}/{}", n.name, d.name);
            if back.as_deref() != Some(me_name.as_str()) {
                return Err(cx.err(peer, format!("veth \"{me_name}\": its peer \"{peer}\" must name \"{me_name}\" as its peer")));
            }
            w.devs[me].kind = DevKind::Veth { peer: p };
        }
    }
    // Bridge ports, in file order (which numbers them).
    for (n, &ns) in s.netns.iter().zip(&ns_ids) {
        for d in &n.devices {
            let id = w.dev_by_name(ns, &d.name).unwrap_or(usize::MAX);
            let Some(m) = &d.master else {
                if d.hairpin {
                    return Err(cx.err(
                        &d.name,
                        format!(
                            "device \"{}/{}\": hairpin is for bridge ports (set master)",
                            n.name, d.name
                        ),
                    ));
                }
                continue;
            };
            let br = w
                .dev_by_name(ns, m)
                .filter(|&b| matches!(w.devs[b].kind, DevKind::Bridge { .. }))
                .ok_or_else(|| {
                    cx.err_kv(
                        "master",
                        m,
                        format!(
                            "device \"{}/{}\": master \"{m}\" is not a bridge in netns \"{}\"",
                            n.name, d.name, n.name
                        ),
                    )
                })?;
            w.bridge_add_port(br, id)
                .map_err(|e| cx.err(m, format!("ip link set {} master {m}: {e}", d.name)))?;
            if d.hairpin {
                w.apply_command(
                    ns,
                    &Command::BridgeLink {
                        dev: d.name.clone(),
                        hairpin: Some(true),
                        learning: None,
                        flood: None,
                    },
                )
                .map_err(|e| {
                    cx.err(
                        &d.name,
                        format!("bridge link set dev {} hairpin on: {e}", d.name),
                    )
                })?;
            }
        }
    }
    // Bring devices up and add addresses (in that order, so prefix routes are created).
    for (n, &ns) in s.netns.iter().zip(&ns_ids) {
        for d in &n.devices {
            let id = w.dev_by_name(ns, &d.name).unwrap_or(usize::MAX);
            if d.up {
                w.link_up(id);
            }
            for a in &d.addrs {
                let (addr, len) = parse_prefix(a).ok_or_else(|| cx.err(a, format!("device \"{}/{}\": \"{a}\" is not an IPv4 prefix (expected A.B.C.D/LEN)", n.name, d.name)))?;
                w.addr_add(id, addr, len)
                    .map_err(|e| cx.err(a, format!("ip addr add {a} dev {}: {e}", d.name)))?;
            }
        }
        for kv in n.sysctls.iter().filter(|kv| names_device(kv)) {
            sysctl(&mut w, ns, kv)?;
        }
    }
    // A cluster's nodes share most route lines (every node routes to every other node's
    // block the same way): each distinct line is parsed once.
    let mut parsed: rustc_hash::FxHashMap<&str, crate::iproute::RouteSpec> = Default::default();
    for (n, &ns) in s.netns.iter().zip(&ns_ids) {
        for r in &n.routes {
            let spec = match parsed.get(r.as_str()) {
                Some(spec) => spec.clone(),
                None => {
                    let spec = parse_route(r).map_err(|e| {
                        cx.err(r, format!("netns \"{}\": route \"{r}\": {e}", n.name))
                    })?;
                    parsed.insert(r, spec.clone());
                    spec
                }
            };
            w.apply_command(ns, &Command::RouteAdd(spec))
                .map_err(|e| cx.err(r, format!("netns \"{}\": ip route add {r}: {e}", n.name)))?;
        }
        for r in &n.neigh {
            let spec = parse_neigh(r)
                .map_err(|e| cx.err(r, format!("netns \"{}\": neigh \"{r}\": {e}", n.name)))?;
            w.apply_command(ns, &Command::NeighAdd(spec))
                .map_err(|e| cx.err(r, format!("netns \"{}\": ip neigh add {r}: {e}", n.name)))?;
        }
        for f in &n.fdb {
            let cmd = parse_fdb(FdbCmd::Append, f)
                .map_err(|e| cx.err(f, format!("netns \"{}\": fdb \"{f}\": {e}", n.name)))?;
            w.apply_command(ns, &cmd).map_err(|e| {
                cx.err(
                    f,
                    format!("netns \"{}\": bridge fdb append {f}: {e}", n.name),
                )
            })?;
        }
        // Netfilter last, as a CNI agent programs it once the node's devices and routes exist.
        for (prog, lines) in [("ipset", &n.ipsets), ("iptables", &n.iptables)] {
            for l in lines {
                let line = format!("{prog} {l}");
                let cmd = parse_command(&line)
                    .map_err(|e| cx.err(l, format!("netns \"{}\": {line}: {e}", n.name)))?;
                w.apply_command(ns, &cmd)
                    .map_err(|e| cx.err(l, format!("netns \"{}\": {line}: {e}", n.name)))?;
            }
        }
    }
    // Captures.
    match &s.capture {
        None => {
            for d in 0..w.devs.len() {
                if !matches!(w.devs[d].kind, DevKind::Loopback) {
                    w.enable_capture(d);
                }
            }
        }
        Some(list) => {
            for c in list {
                let d = resolve_dev(&w, c).ok_or_else(|| {
                    cx.err(
                        c,
                        format!("capture \"{c}\": no such device (expected netns/dev)"),
                    )
                })?;
                w.enable_capture(d);
            }
        }
    }
    // Changes.
    for c in &s.changes {
        let Some(ns) = w.ns_by_name(&c.netns) else {
            return Err(cx.err(
                &c.netns,
                format!("change at {} ms: unknown netns \"{}\"", c.at_ms, c.netns),
            ));
        };
        let cmd = parse_command(&c.cmd)
            .map_err(|e| cx.err(&c.cmd, format!("change \"{}\": {e}", c.cmd)))?;
        let at = Instant::ZERO + Duration::from_ms(c.at_ms);
        w.changes.push(Change {
            at,
            ns,
            cmd,
            text: c.cmd.clone(),
        });
        let idx = w.changes.len() - 1;
        w.engine.schedule_at(at, Event::Change { idx });
    }
    w.add_link_lanes();
    // Traffic.
    let mut expects = Vec::new();
    let mut mesh_expect = None;
    for t in &s.traffic {
        let p = match t {
            Traffic::Ping(p) => p,
            Traffic::UdpEchoServer(u) => {
                let Some(ns) = w.ns_by_name(&u.netns) else {
                    return Err(cx.err(
                        &u.netns,
                        format!("udp echo server: unknown netns \"{}\"", u.netns),
                    ));
                };
                if w.add_udp_echo_server(ns, u.port).is_none() {
                    return Err(cx.err(
                        &u.netns,
                        format!("udp echo server: port {} of {} is in use", u.port, u.netns),
                    ));
                }
                continue;
            }
            Traffic::UdpEcho(u) => {
                let Some(ns) = w.ns_by_name(&u.from) else {
                    return Err(cx.err(&u.from, format!("udp echo: unknown netns \"{}\"", u.from)));
                };
                let dst = target_addr(&cx, &w, &u.to, "udp echo")?;
                udp_client(
                    &cx,
                    &mut w,
                    &u.from,
                    UdpClientSpec {
                        ns,
                        dsts: vec![dst],
                        port: u.port,
                        rounds: u32::from(u.count),
                        start: Instant::ZERO + Duration::from_ms(u.start_ms),
                        interval: Duration::from_ms(u.interval_ms),
                        size: u.size,
                    },
                )?;
                continue;
            }
            Traffic::PodsEcho(e) => {
                pods_echo(&cx, &mut w, e)?;
                continue;
            }
            Traffic::NodesPing(n) => {
                nodes_ping(&cx, &mut w, n)?;
                if n.expect_ttl.is_some() {
                    mesh_expect = n.expect_ttl;
                }
                continue;
            }
        };
        let Some(ns) = w.ns_by_name(&p.from) else {
            return Err(cx.err(&p.from, format!("ping: unknown netns \"{}\"", p.from)));
        };
        let dst = target_addr(&cx, &w, &p.to, "ping")?;
        if p.count == 0 {
            return Err(cx.err(&p.from, "ping: count must be at least 1".to_string()));
        }
        if p.size > PING_SIZE_MAX {
            // iputils `ping4_run`: the datagram must fit 65535 bytes with its headers.
            return Err(cx.err(
                &format!("size: {}", p.size),
                format!(
                    "ping: packet size {} is too large. Maximum is {PING_SIZE_MAX}",
                    p.size
                ),
            ));
        }
        if let Some(Expect::Drop { reason, at }) = &p.expect {
            if crate::drop::DropReason::from_kernel_name(reason).is_none() {
                return Err(cx.err(reason, format!("expect: unknown drop reason \"{reason}\"")));
            }
            if resolve_dev(&w, at).is_none() {
                return Err(cx.err(
                    at,
                    format!("expect: no such device \"{at}\" (expected netns/dev)"),
                ));
            }
        }
        let id = match p.id {
            Some(id) => id,
            None => w.engine.rng.gen(),
        };
        let app = w.add_ping(PingSpec {
            ns,
            dst,
            count: p.count,
            interval: Duration::from_ms(p.interval_ms),
            start: Instant::ZERO + Duration::from_ms(p.start_ms),
            size: p.size,
            id,
        });
        expects.push((app, p.expect.clone()));
    }
    Ok(Built {
        world: w,
        name: s.name.clone().unwrap_or_else(|| "scenario".into()),
        until: s
            .duration_ms
            .map(|ms| Instant::ZERO + Duration::from_ms(ms)),
        expects,
        mesh_expect,
    })
}

/// The scenario with its `cluster` section expanded into netns (what `sim expand` prints).
pub fn expand(file: &str, text: &str, s: &Scenario) -> Result<Scenario, Error> {
    super::cluster::expand(&Ctx { file, text }, s)
}

/// A netns's primary address: the first address of its first addressed device, as a user
/// means by "ping the node" or "ping the pod".
fn primary_addr(w: &World, ns: NsId) -> Option<Ipv4Addr> {
    w.ns[ns]
        .devs
        .iter()
        .map(|&d| &w.devs[d])
        .filter(|d| !matches!(d.kind, DevKind::Loopback))
        .find_map(|d| d.addrs.first().map(|a| a.addr))
}

/// A traffic destination: an address, or the name of a netns (a pod or node) for its primary
/// address.
fn target_addr(cx: &Ctx, w: &World, to: &str, what: &str) -> Result<Ipv4Addr, Error> {
    match to.parse() {
        Ok(a) => Ok(a),
        Err(_) => w
            .ns_by_name(to)
            .and_then(|ns| primary_addr(w, ns))
            .ok_or_else(|| {
                cx.err(
                    to,
                    format!(
                        "{what}: \"{to}\" is neither an IPv4 address nor a netns with an address"
                    ),
                )
            }),
    }
}

fn udp_client(cx: &Ctx, w: &mut World, from: &str, spec: UdpClientSpec) -> Result<(), Error> {
    if spec.size > UDP_PAYLOAD_MAX {
        return Err(cx.err(
            from,
            format!(
                "udp echo: payload of {} bytes does not fit a datagram (at most {UDP_PAYLOAD_MAX})",
                spec.size
            ),
        ));
    }
    match w.add_udp_client(spec) {
        Some(_) => Ok(()),
        None => Err(cx.err(from, format!("udp echo: no free ephemeral port in {from}"))),
    }
}

/// The largest UDP payload over IPv4 (65535 - 20 - 8), which `udp_sendmsg` refuses beyond.
const UDP_PAYLOAD_MAX: usize = 65_507;

/// The pods (netns of another host) grouped by host in host order, and the hosts in order.
fn pods_by_host(w: &World) -> Vec<(usize, NsId)> {
    let mut host_idx: BTreeMap<&str, usize> = BTreeMap::new();
    for n in w.ns.iter().filter(|n| n.host == n.name) {
        let i = host_idx.len();
        host_idx.entry(n.name.as_str()).or_insert(i);
    }
    let mut pods: Vec<(usize, NsId)> =
        w.ns.iter()
            .enumerate()
            .filter(|(_, n)| n.host != n.name)
            .map(|(i, n)| {
                (
                    host_idx.get(n.host.as_str()).copied().unwrap_or(usize::MAX),
                    i,
                )
            })
            .collect();
    pods.sort();
    pods
}

/// The primary address of each pod, in order; a pod without one is an error of `what`.
fn pod_addrs(
    cx: &Ctx,
    w: &World,
    pods: impl Iterator<Item = NsId>,
    what: &str,
) -> Result<Vec<Ipv4Addr>, Error> {
    pods.map(|ns| {
        primary_addr(w, ns).ok_or_else(|| {
            let name = &w.ns[ns].name;
            cx.err(name, format!("{what}: pod {name} has no address"))
        })
    })
    .collect()
}

/// `NodesPing`: one ping mesh per node, from its first pod to every other node's first pod.
fn nodes_ping(cx: &Ctx, w: &mut World, n: &super::NodesPingTraffic) -> Result<(), Error> {
    let mut firsts: Vec<NsId> = Vec::new();
    let mut last_host = None;
    for (h, ns) in pods_by_host(w) {
        if last_host != Some(h) {
            firsts.push(ns);
            last_host = Some(h);
        }
    }
    let nodes = firsts.len() as u64;
    if nodes < 2 {
        return Err(cx.err(
            "NodesPing",
            "NodesPing: needs pods on at least two nodes".to_string(),
        ));
    }
    if n.gap_ns == 0 || n.size > PING_SIZE_MAX {
        return Err(cx.err(
            "NodesPing",
            format!("NodesPing: gap_ns must be at least 1 and size at most {PING_SIZE_MAX}"),
        ));
    }
    let addrs = pod_addrs(cx, w, firsts.iter().copied(), "NodesPing")?;
    for (s, &ns) in firsts.iter().enumerate() {
        let dsts = (0..nodes - 1)
            .map(|q| addrs[((s as u64 + 1 + q) % nodes) as usize])
            .collect();
        let id = w.engine.rng.gen();
        w.add_ping_mesh(PingMeshSpec {
            ns,
            id,
            dsts,
            start: Instant::ZERO + Duration::from_ns(s as u64 * n.gap_ns),
            interval: Duration::from_ns(nodes * n.gap_ns),
            size: n.size,
        });
    }
    Ok(())
}

/// `PodsEcho`: the pods are the netns of another host, grouped by host in host order; each
/// runs an echo server and one client with the all-pairs schedule.
fn pods_echo(cx: &Ctx, w: &mut World, e: &super::PodsEchoTraffic) -> Result<(), Error> {
    let pods = pods_by_host(w);
    let addrs = pod_addrs(cx, w, pods.iter().map(|&(_, ns)| ns), "PodsEcho")?;
    let m = pods.len() as u64;
    if m < 2 {
        return Err(cx.err(
            "PodsEcho",
            "PodsEcho: needs at least two pods (netns with a host other than themselves)"
                .to_string(),
        ));
    }
    if e.k == 0 || e.gap_ns == 0 {
        return Err(cx.err(
            "PodsEcho",
            "PodsEcho: k and gap_ns must be at least 1".to_string(),
        ));
    }
    for &(_, ns) in &pods {
        if w.add_udp_echo_server(ns, e.port).is_none() {
            let name = w.ns[ns].name.clone();
            return Err(cx.err(
                "PodsEcho",
                format!("PodsEcho: port {} of {name} is in use", e.port),
            ));
        }
    }
    for (s, &(_, ns)) in pods.iter().enumerate() {
        let dsts = (0..m - 1)
            .map(|r| addrs[((s as u64 + 1 + r) % m) as usize])
            .collect();
        let name = w.ns[ns].name.clone();
        udp_client(
            cx,
            w,
            &name,
            UdpClientSpec {
                ns,
                dsts,
                port: e.port,
                rounds: e.k,
                start: Instant::ZERO + Duration::from_ns(s as u64 * e.gap_ns),
                interval: Duration::from_ns(m * e.gap_ns),
                size: e.size,
            },
        )?;
    }
    Ok(())
}

/// `netns/dev` to a device.
pub fn resolve_dev(w: &World, path: &str) -> Option<DevId> {
    let (ns, dev) = path.split_once('/')?;
    let ns = w.ns_by_name(ns)?;
    w.dev_by_name(ns, dev)
}

/// A VXLAN device's configuration from its scenario spec; `dev` must already exist.
fn vxlan_config(
    cx: &Ctx,
    w: &World,
    ns: NsId,
    netns: &str,
    name: &str,
    v: &VxlanSpec,
) -> Result<Vxlan, Error> {
    if v.id >= 1 << 24 {
        return Err(cx.err(
            name,
            format!(
                "vxlan \"{netns}/{name}\": id {} is out of range (0-16777215)",
                v.id
            ),
        ));
    }
    let mut cfg = Vxlan::new(v.id, v.dstport.unwrap_or(PORT_LINUX));
    if let Some(l) = &v.local {
        cfg.local = Some(l.parse().map_err(|_| {
            cx.err(
                l,
                format!("vxlan \"{netns}/{name}\": local \"{l}\" is not an IPv4 address"),
            )
        })?);
    }
    if let Some(d) = &v.dev {
        let link = w.dev_by_name(ns, d).ok_or_else(|| {
            cx.err_kv(
                "dev",
                d,
                format!("vxlan \"{netns}/{name}\": dev \"{d}\" must be listed before it in netns \"{netns}\""),
            )
        })?;
        cfg.link = Some(w.devs[link].ifindex);
    }
    cfg.learning = v.learning;
    if let Some((lo, hi)) = v.srcport {
        if lo >= hi {
            return Err(cx.err(
                name,
                format!("vxlan \"{netns}/{name}\": srcport range {lo} {hi} is empty"),
            ));
        }
        cfg.src_port_range = (lo, hi);
    }
    cfg.ttl = v.ttl.unwrap_or(0);
    cfg.udp_csum = v.udpcsum;
    Ok(cfg)
}
