//! A scenario as the commands of a by-hand lab (`sim export`): `ip netns add`, `ip link add`,
//! `ip addr add`, `ip route add`, `sysctl -w`, `bridge fdb append`, ... one netns per host and
//! pod, runnable as root on a real kernel. The oracle runs exactly these commands (with a name
//! prefix). `setup` (commands.rs) loads them back into the same world.
//!
//! How sim's objects map onto a real kernel:
//! * A NIC on a segment of two NICs is one veth pair joining the two netns. A segment of any
//!   other size is a netns of its own holding a bridge with one veth port per NIC. The
//!   `# sim: segment NAME` comments say so to `setup`; the shell ignores them.
//! * `tunl0` exists in every netns once the ipip module is loaded, so it is configured, not
//!   created.
//! * Every netns first gets sim's assumptions: IPv6 off (sim models no IPv6; off before any
//!   device exists, so no MLD or router solicitation is sent) and the IPv4 `conf/all` and
//!   `conf/default` values sim starts from, since a new netns copies those from the root netns
//!   (`devconf_inherit_init_net=0`), which a distribution may have changed (`rp_filter=2`).
//! * TX checksum offload is turned off on veths (`ethtool -K DEV tx off`) so that captured frames
//!   carry complete checksums, as sim writes them.
//! * MACs sim drew from the seed are set explicitly; a bridge without a configured MAC is left
//!   to follow its ports, as sim models it.

use super::{DeviceKind, Scenario, Traffic};
use crate::dev::DevKind;
use crate::error::Error;
use crate::iproute::split_words;
use crate::wire::fmt_mac;
use crate::world::World;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The sysctls sim assumes in a fresh netns that a new netns may instead copy from the root
/// netns (`conf/all`, `conf/default`); the kernel's defaults.
const CONF_DEFAULTS: &[&str] = &[
    "net.ipv4.ip_forward=0",
    "net.ipv4.conf.all.forwarding=0",
    "net.ipv4.conf.default.forwarding=0",
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
    "net.ipv4.conf.all.proxy_arp=0",
    "net.ipv4.conf.default.proxy_arp=0",
    "net.ipv4.conf.all.accept_local=0",
    "net.ipv4.conf.default.accept_local=0",
    "net.ipv4.conf.all.send_redirects=1",
    "net.ipv4.conf.default.send_redirects=1",
    "net.ipv4.conf.all.route_localnet=0",
    "net.ipv4.conf.default.route_localnet=0",
];

/// IPv6 off in a netns, before any device but `lo` exists.
pub const IPV6_OFF: &[&str] = &[
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
    "net.ipv6.conf.lo.disable_ipv6=1",
];

/// One exported command.
#[derive(Clone, Debug)]
pub struct Line {
    /// The command's words, as executed (no shell).
    pub argv: Vec<String>,
    /// A comment printed after it (`# sim: segment underlay`), or none.
    pub comment: Option<String>,
}

impl Line {
    fn new(argv: Vec<String>) -> Self {
        Line {
            argv,
            comment: None,
        }
    }

    /// The command as a shell line.
    pub fn text(&self) -> String {
        let words: Vec<String> = self.argv.iter().map(|w| shell_quote(w)).collect();
        let mut t = words.join(" ");
        if let Some(c) = &self.comment {
            let _ = write!(t, "  # {c}");
        }
        t
    }
}

/// Quotes a word for sh when it needs it.
pub(crate) fn shell_quote(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+^".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// The exported lab: commands in order, plus what the oracle needs to know about names.
#[derive(Clone, Debug)]
pub struct Export {
    /// Scenario name.
    pub name: String,
    pub lines: Vec<Line>,
    /// Every netns created (prefixed), segment netns included.
    pub netns: Vec<String>,
    /// sim netns name -> kernel netns name.
    pub ns_map: BTreeMap<String, String>,
    /// The traffic and changes, as comments for a reader.
    pub notes: Vec<String>,
}

impl Export {
    /// The commands as a shell script.
    pub fn script(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "#!/bin/sh");
        let _ = writeln!(
            o,
            "# sim export: {} as iproute2 commands, one netns per host and pod. Run as root.",
            self.name
        );
        let _ = writeln!(o, "set -e");
        for l in &self.lines {
            let _ = writeln!(o, "{}", l.text());
        }
        if !self.notes.is_empty() {
            let _ = writeln!(
                o,
                "# traffic and changes (virtual time from the end of set-up):"
            );
            for n in &self.notes {
                let _ = writeln!(o, "#   {n}");
            }
        }
        o
    }
}

fn words(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Exports a scenario whose `cluster` is expanded (`s`) with the world built from it (`w`, for
/// the MACs and ping ids sim drew). `prefix` goes before every netns name.
pub fn export(s: &Scenario, w: &World, prefix: &str) -> Result<Export, Error> {
    let name = s.name.clone().unwrap_or_else(|| "scenario".into());
    let kname = |n: &str| format!("{prefix}{n}");
    let mut lines: Vec<Line> = Vec::new();
    let mut ns_map = BTreeMap::new();
    let mut all_ns = Vec::new();
    // Segments: which NICs are on each, in file order.
    let mut seg_ports: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for n in &s.netns {
        for d in &n.devices {
            if let DeviceKind::Nic { segment } = &d.kind {
                seg_ports
                    .entry(segment.as_str())
                    .or_default()
                    .push((n.name.as_str(), d.name.as_str()));
            }
        }
    }
    let seg_delay: BTreeMap<&str, Option<u64>> = s
        .segments
        .iter()
        .map(|g| (g.name.as_str(), g.delay_us))
        .collect();
    let seg_tag = |seg: &str| match seg_delay.get(seg).copied().flatten() {
        Some(us) => format!("sim: segment {seg} delay_us {us}"),
        None => format!("sim: segment {seg}"),
    };
    let bridged: Vec<&str> = s
        .segments
        .iter()
        .map(|g| g.name.as_str())
        .filter(|g| seg_ports.get(g).map_or(0, Vec::len) != 2)
        .collect();
    for n in &s.netns {
        if bridged.contains(&n.name.as_str()) {
            return Err(Error::Arg {
                arg: n.name.clone(),
                msg: "a segment of other than two NICs is exported as a netns of that name, \
                      and a netns already has it"
                    .into(),
            });
        }
        ns_map.insert(n.name.clone(), kname(&n.name));
    }
    let ip = |ns: &str, rest: &[&str]| {
        let mut v = words(&["ip", "-n", ns]);
        v.extend(words(rest));
        Line::new(v)
    };
    let exec = |ns: &str, rest: Vec<String>| {
        let mut v = words(&["ip", "netns", "exec", ns]);
        v.extend(rest);
        Line::new(v)
    };
    let sysctl = |ns: &str, kv: &str| exec(ns, words(&["sysctl", "-w", kv]));
    // Namespaces, each with sim's starting assumptions.
    let mut ns_order: Vec<(String, bool)> =
        s.netns.iter().map(|n| (kname(&n.name), false)).collect();
    ns_order.extend(bridged.iter().map(|g| (kname(g), true)));
    for (ns, is_seg) in &ns_order {
        let mut l = Line::new(words(&["ip", "netns", "add", ns]));
        if *is_seg {
            l.comment = Some("sim: segment".into());
        }
        lines.push(l);
        all_ns.push(ns.clone());
    }
    for (ns, _) in &ns_order {
        let mut v = words(&["sysctl", "-qw"]);
        v.extend(words(IPV6_OFF));
        v.extend(words(CONF_DEFAULTS));
        let mut l = exec(ns, v);
        l.comment = Some("sim: no IPv6; the kernel's conf/all and conf/default".into());
        lines.push(l);
        lines.push(ip(ns, &["link", "set", "lo", "up"]));
    }
    // Segment bridges.
    for g in &bridged {
        let ns = kname(g);
        let mut l = ip(&ns, &["link", "add", "name", "br0", "type", "bridge"]);
        l.comment = Some("sim: segment".into());
        lines.push(l);
    }
    // Boot-time sysctls (no device named), before the devices as sim applies them.
    for n in &s.netns {
        for kv in n
            .sysctls
            .iter()
            .filter(|kv| crate::iproute::sysctl_device(kv).is_none())
        {
            lines.push(sysctl(&kname(&n.name), kv));
        }
    }
    // Devices.
    let mut created: Vec<(String, String)> = Vec::new();
    for n in &s.netns {
        let ns = kname(&n.name);
        for d in &n.devices {
            if created.contains(&(n.name.clone(), d.name.clone())) {
                continue;
            }
            match &d.kind {
                DeviceKind::Veth { peer } => {
                    let (pns, pdev) = peer.split_once('/').unwrap_or((peer.as_str(), ""));
                    lines.push(ip(
                        &ns,
                        &[
                            "link",
                            "add",
                            "name",
                            &d.name,
                            "type",
                            "veth",
                            "peer",
                            "name",
                            pdev,
                            "netns",
                            &kname(pns),
                        ],
                    ));
                    created.push((pns.to_string(), pdev.to_string()));
                }
                DeviceKind::Nic { segment } => {
                    let ports = seg_ports.get(segment.as_str()).cloned().unwrap_or_default();
                    let mut l = if ports.len() == 2 {
                        let other = ports
                            .iter()
                            .find(|p| *p != &(n.name.as_str(), d.name.as_str()))
                            .copied()
                            .unwrap_or(("", ""));
                        created.push((other.0.to_string(), other.1.to_string()));
                        ip(
                            &ns,
                            &[
                                "link",
                                "add",
                                "name",
                                &d.name,
                                "type",
                                "veth",
                                "peer",
                                "name",
                                other.1,
                                "netns",
                                &kname(other.0),
                            ],
                        )
                    } else {
                        // The bridge port in the segment's netns is named after this netns
                        // (and device, when the netns has several NICs there).
                        let port = seg_port_name(&ports, &n.name, &d.name);
                        ip(
                            &ns,
                            &[
                                "link",
                                "add",
                                "name",
                                &d.name,
                                "type",
                                "veth",
                                "peer",
                                "name",
                                &port,
                                "netns",
                                &kname(segment),
                            ],
                        )
                    };
                    l.comment = Some(seg_tag(segment));
                    lines.push(l);
                }
                DeviceKind::Bridge => {
                    lines.push(ip(&ns, &["link", "add", "name", &d.name, "type", "bridge"]));
                }
                DeviceKind::Vxlan(v) => {
                    let mut a = words(&["link", "add", "name", &d.name, "type", "vxlan"]);
                    a.extend(words(&["id", &v.id.to_string()]));
                    a.extend(words(&[
                        "dstport",
                        &v.dstport
                            .unwrap_or(crate::dev::vxlan::PORT_LINUX)
                            .to_string(),
                    ]));
                    if let Some(l) = &v.local {
                        a.extend(words(&["local", l]));
                    }
                    if let Some(dev) = &v.dev {
                        a.extend(words(&["dev", dev]));
                    }
                    if !v.learning {
                        a.push("nolearning".into());
                    }
                    if let Some((lo, hi)) = v.srcport {
                        a.extend(words(&["srcport", &lo.to_string(), &hi.to_string()]));
                    }
                    if let Some(t) = v.ttl.filter(|t| *t != 0) {
                        a.extend(words(&["ttl", &t.to_string()]));
                    }
                    a.push(if v.udpcsum { "udpcsum" } else { "noudpcsum" }.into());
                    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
                    lines.push(ip(&ns, &refs));
                }
                // tunl0 appears in every netns when the ipip module is loaded: not created,
                // only named here (so that `setup` gives it this place among the devices).
                DeviceKind::Ipip => {
                    let mut l = ip(&ns, &["link", "set", "dev", &d.name, "down"]);
                    l.comment = Some("tunl0 comes with the ipip module (modprobe ipip)".into());
                    lines.push(l);
                }
            }
            created.push((n.name.clone(), d.name.clone()));
        }
    }
    // Segment bridge ports: up and enslaved.
    for g in &bridged {
        let ns = kname(g);
        let ports = seg_ports.get(g).cloned().unwrap_or_default();
        for (pns, pdev) in &ports {
            let port = seg_port_name(&ports, pns, pdev);
            let mut l = ip(&ns, &["link", "set", "dev", &port, "master", "br0", "up"]);
            l.comment = Some("sim: segment".into());
            lines.push(l);
        }
        let mut l = ip(&ns, &["link", "set", "dev", "br0", "up"]);
        l.comment = Some("sim: segment".into());
        lines.push(l);
    }
    // Addresses (MAC), MTU and checksum offload.
    for n in &s.netns {
        let ns = kname(&n.name);
        let Some(wns) = w.ns_by_name(&n.name) else {
            continue;
        };
        for d in &n.devices {
            let Some(id) = w.dev_by_name(wns, &d.name) else {
                continue;
            };
            let dev = &w.devs[id];
            let set_mac = match dev.kind {
                DevKind::Bridge { .. } => d.mac.is_some(),
                DevKind::Ipip | DevKind::Loopback => false,
                _ => true,
            };
            if set_mac {
                lines.push(ip(
                    &ns,
                    &["link", "set", "dev", &d.name, "address", &fmt_mac(&dev.mac)],
                ));
            }
            if let Some(m) = d.mtu {
                lines.push(ip(
                    &ns,
                    &["link", "set", "dev", &d.name, "mtu", &m.to_string()],
                ));
            }
            if matches!(dev.kind, DevKind::Veth { .. } | DevKind::Nic { .. }) {
                let mut l = exec(&ns, words(&["ethtool", "-K", &d.name, "tx", "off"]));
                l.comment = Some("full checksums in captures, as sim writes them".into());
                lines.push(l);
            }
        }
    }
    // Bridge ports in file order, hairpin.
    for n in &s.netns {
        let ns = kname(&n.name);
        for d in &n.devices {
            if let Some(m) = &d.master {
                lines.push(ip(&ns, &["link", "set", "dev", &d.name, "master", m]));
                if d.hairpin {
                    lines.push(exec(
                        &ns,
                        words(&["bridge", "link", "set", "dev", &d.name, "hairpin", "on"]),
                    ));
                }
            }
        }
    }
    // Up and addresses, then the sysctls that name a device.
    for n in &s.netns {
        let ns = kname(&n.name);
        for d in &n.devices {
            if d.up {
                lines.push(ip(&ns, &["link", "set", "dev", &d.name, "up"]));
            }
            for a in &d.addrs {
                lines.push(ip(&ns, &["addr", "add", a, "dev", &d.name]));
            }
        }
        for kv in n
            .sysctls
            .iter()
            .filter(|kv| crate::iproute::sysctl_device(kv).is_some())
        {
            lines.push(sysctl(&ns, &kernel_sysctl(kv)));
        }
    }
    // Routes, neighbours, FDB, ipsets, iptables: as the builder adds them.
    for n in &s.netns {
        let ns = kname(&n.name);
        let split = |l: &str| -> Result<Vec<String>, Error> {
            split_words(l).map_err(|e| Error::Arg {
                arg: l.to_string(),
                msg: e.to_string(),
            })
        };
        for (what, list) in [("route", &n.routes), ("neigh", &n.neigh)] {
            for r in list {
                let mut v = words(&["ip", "-n", &ns, what, "add"]);
                v.extend(split(r)?);
                lines.push(Line::new(v));
            }
        }
        for f in &n.fdb {
            let mut v = words(&["bridge", "fdb", "append"]);
            v.extend(split(f)?);
            lines.push(exec(&ns, v));
        }
        for (prog, list) in [("ipset", &n.ipsets), ("iptables", &n.iptables)] {
            for l in list {
                let mut v = vec![prog.to_string()];
                v.extend(split(l)?);
                lines.push(exec(&ns, v));
            }
        }
    }
    let mut notes = Vec::new();
    for c in &s.changes {
        notes.push(format!(
            "at {} ms in {}: {}",
            c.at_ms,
            kname(&c.netns),
            c.cmd
        ));
    }
    let mut ping_idx = 0;
    for t in &s.traffic {
        let p = match t {
            Traffic::Ping(p) => p,
            Traffic::UdpEchoServer(u) => {
                notes.push(format!(
                    "a UDP echo server on port {} in {} (sim's application)",
                    u.port,
                    kname(&u.netns)
                ));
                continue;
            }
            Traffic::UdpEcho(u) => {
                notes.push(format!(
                    "at {} ms: {} UDP datagrams of {} bytes from {} to {} port {}, every {} ms (sim's application)",
                    u.start_ms, u.count, u.size, kname(&u.from), u.to, u.port, u.interval_ms
                ));
                continue;
            }
            Traffic::PodsEcho(e) => {
                notes.push(format!(
                    "every pod: a UDP echo server on port {} and the all-pairs schedule of bench/ns3/WORKLOAD.md, k={} gap={} ns (sim's application)",
                    e.port, e.k, e.gap_ns
                ));
                continue;
            }
            Traffic::NodesPing(n) => {
                notes.push(format!(
                    "the first pod of every node pings the first pod of every other node once, {} ns apart (sim's ping mesh)",
                    n.gap_ns
                ));
                continue;
            }
        };
        let i = ping_idx;
        ping_idx += 1;
        let id = w.pings.get(i).map(|a| a.spec.id);
        let dst = w
            .pings
            .get(i)
            .map_or(p.to.clone(), |a| a.spec.dst.to_string());
        notes.push(format!(
            "at {} ms: ip netns exec {} ping -c {} -i {} -s {}{} {dst}",
            p.start_ms,
            kname(&p.from),
            p.count,
            crate::run::fmt_secs(p.interval_ms.saturating_mul(1_000_000)),
            p.size,
            id.map(|i| format!(" -e {i}")).unwrap_or_default()
        ));
    }
    Ok(Export {
        name,
        lines,
        netns: all_ns,
        ns_map,
        notes,
    })
}

/// The veth end in a segment's netns for NIC `dev` of netns `ns`.
fn seg_port_name(ports: &[(&str, &str)], ns: &str, dev: &str) -> String {
    let several = ports.iter().filter(|(n, _)| *n == ns).count() > 1;
    let mut p = if several {
        format!("{ns}-{dev}")
    } else {
        ns.to_string()
    };
    // IFNAMSIZ: 15 characters; fall back to the port's position.
    if p.len() > 15 {
        let i = ports
            .iter()
            .position(|x| *x == (ns, dev))
            .unwrap_or_default();
        p = format!("port{i}");
    }
    p
}

/// `key=value` as sysctl(8) takes it: sysctl reads dots as separators, so a key naming a
/// device with a dot (`net.ipv4.conf.vxlan.calico.rp_filter`) needs the slash form.
pub fn kernel_sysctl(kv: &str) -> String {
    let (key, val) = kv.split_once('=').unwrap_or((kv, ""));
    match crate::iproute::sysctl_device(key) {
        Some(dev) if dev.contains('.') => {
            let (head, knob) = key.rsplit_once('.').unwrap_or((key, ""));
            let prefix = head.strip_suffix(dev).unwrap_or(head).replace('.', "/");
            format!("{prefix}{dev}/{knob}={val}")
        }
        _ => kv.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dotted_device_sysctl_takes_the_slash_form_sysctl_reads() {
        assert_eq!(
            kernel_sysctl("net.ipv4.conf.vxlan.calico.rp_filter=1"),
            "net/ipv4/conf/vxlan.calico/rp_filter=1"
        );
        assert_eq!(
            kernel_sysctl("net.ipv4.neigh.flannel.1.proxy_delay=0"),
            "net/ipv4/neigh/flannel.1/proxy_delay=0"
        );
        assert_eq!(
            kernel_sysctl("net.ipv4.conf.eth0.rp_filter=1"),
            "net.ipv4.conf.eth0.rp_filter=1"
        );
        assert_eq!(
            kernel_sysctl("net.ipv4.ip_forward=1"),
            "net.ipv4.ip_forward=1"
        );
    }

    #[test]
    fn words_are_quoted_for_sh_only_when_they_need_it() {
        assert_eq!(shell_quote("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(shell_quote("!"), "'!'");
        assert_eq!(shell_quote("cali:a b"), "'cali:a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
