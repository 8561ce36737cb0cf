//! A scenario's `setup`: the commands of a by-hand lab (`ip netns add`, `ip link add ... type
//! veth|bridge|vxlan|ipip`, `ip link set`, `ip addr add`, `ip route add|replace|del`, `ip neigh
//! add|replace`, `bridge fdb add|append`, `bridge link set`, `sysctl -w`, `echo N >
//! /proc/sys/...`, `iptables`, `ipset`), turned into the netns and segments the RON form
//! describes. Owns only that translation: the builder checks the result as for any scenario.
//!
//! Each command runs in the netns named by `ip netns exec NS ...` or `ip -n NS ...`, else in
//! the scenario's `setup_netns` (the lab's "host"). The commands are applied in the builder's
//! order, not line by line: boot sysctls, devices, ports, up and addresses, device sysctls,
//! routes, neighbours, FDB, ipsets, iptables. `ethtool -K`, `modprobe` and `disable_ipv6`
//! sysctls are accepted and change nothing (sim has no offloads, modules or IPv6). Anything else
//! is an error naming the command, at its line and column in the file.

use super::{DeviceKind, DeviceSpec, NetnsSpec, Scenario, SegmentSpec, VxlanSpec};
use crate::error::Error;
use crate::iproute::{parse_mac, parse_neigh, parse_route, split_words};

/// What setup accepts, for error messages.
const SUPPORTED: &str = "ip netns add, ip link add (veth, bridge, vxlan, ipip), ip link set, \
     ip addr add, ip route add|replace|del, ip neigh add|replace, bridge fdb add|append, \
     bridge link set, sysctl -w, echo N > /proc/sys/net/ipv4/..., iptables, ipset, ethtool -K, \
     modprobe";

/// One command line of the setup text with its place in the file.
struct Src<'a> {
    file: &'a str,
    line: usize,
    col: usize,
    text: String,
}

impl Src<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Invalid {
            file: self.file.to_string(),
            line: self.line,
            col: self.col,
            msg: format!("setup: \"{}\": {msg}", self.text),
        }
    }
}

/// Where the setup string's content starts in the file: (byte offset, 1-based line, column).
/// The field is `setup:` followed by a string (`r#"`, `r"` or `"`), not a mention in a comment.
fn content_start(text: &str) -> Option<(usize, usize, usize)> {
    let at = text.match_indices("setup:").find_map(|(key, _)| {
        let rest = text[key + 6..].trim_start();
        let lit = rest.trim_start_matches('r').trim_start_matches('#');
        let skipped = rest.len() - lit.len();
        (lit.starts_with('"') && skipped <= 3).then(|| text.len() - lit.len() + 1)
    })?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    Some((at, line, col))
}

/// `word` is a non-empty prefix of `keyword` (iproute2's `matches()`).
fn is(word: &str, keyword: &str) -> bool {
    !word.is_empty() && keyword.starts_with(word)
}

/// State while reading the commands.
struct Setup {
    segments: Vec<SegmentSpec>,
    /// Netns that stand for a segment (their own commands are skipped).
    seg_netns: Vec<String>,
    netns: Vec<NetnsSpec>,
}

impl Setup {
    fn ns(&mut self, name: &str) -> Option<&mut NetnsSpec> {
        self.netns.iter_mut().find(|n| n.name == name)
    }

    fn dev(&mut self, ns: &str, dev: &str) -> Option<&mut DeviceSpec> {
        self.ns(ns)?.devices.iter_mut().find(|d| d.name == dev)
    }

    fn add_segment(&mut self, name: &str, delay_us: Option<u64>) {
        if !self.segments.iter().any(|g| g.name == name) {
            self.segments.push(SegmentSpec {
                name: name.to_string(),
                delay_us,
            });
        }
    }
}

/// Applies the scenario's `setup` text (if any): appends its segments and netns.
pub fn apply(file: &str, text: &str, s: &mut Scenario) -> Result<(), Error> {
    let Some(setup) = s.setup.take() else {
        return Ok(());
    };
    let (_, line0, col0) = content_start(text).unwrap_or((0, 1, 1));
    let mut st = Setup {
        segments: Vec::new(),
        seg_netns: Vec::new(),
        netns: Vec::new(),
    };
    let default_ns = s.setup_netns.clone();
    if let Some(d) = &default_ns {
        st.netns.push(NetnsSpec::new(d));
    }
    // Joined continuation lines keep the position of their first line.
    let mut pending: Option<(usize, usize, String)> = None;
    for (i, raw) in setup.lines().enumerate() {
        let line = line0 + i;
        let base_col = if i == 0 { col0 } else { 1 };
        let col = base_col + raw.len() - raw.trim_start().len();
        let (l, c, mut acc) = pending.take().unwrap_or((line, col, String::new()));
        if let Some(head) = raw.trim_end().strip_suffix('\\') {
            acc.push_str(head);
            acc.push(' ');
            pending = Some((l, c, acc));
            continue;
        }
        acc.push_str(raw);
        let src = Src {
            file,
            line: l,
            col: c,
            text: acc.trim().to_string(),
        };
        command(&mut st, &src, default_ns.as_deref())?;
    }
    if let Some((l, c, acc)) = pending {
        let src = Src {
            file,
            line: l,
            col: c,
            text: acc.trim().to_string(),
        };
        command(&mut st, &src, default_ns.as_deref())?;
    }
    for g in st.segments {
        if s.segments.iter().any(|x| x.name == g.name) {
            continue;
        }
        s.segments.push(g);
    }
    for n in st.netns {
        if s.netns.iter().any(|x| x.name == n.name) {
            return Err(Error::Invalid {
                file: file.to_string(),
                line: line0,
                col: col0,
                msg: format!("setup: netns \"{}\" is also defined in `netns`", n.name),
            });
        }
        s.netns.push(n);
    }
    Ok(())
}

/// One command line.
fn command(st: &mut Setup, src: &Src, default_ns: Option<&str>) -> Result<(), Error> {
    // `# sim: ...` says what sim object a kernel object stands for.
    let (body, tag) = match src.text.find("# sim:") {
        Some(p) => (&src.text[..p], Some(src.text[p + 6..].trim())),
        None => (src.text.as_str(), None),
    };
    let mut w = split_words(body).map_err(|e| src.err(e))?;
    if w.first().map(String::as_str) == Some("sudo") {
        w.remove(0);
    }
    if w.is_empty() {
        return Ok(());
    }
    // The netns the command runs in.
    let mut ns: Option<String> = None;
    if w.len() >= 4 && w[0] == "ip" && is(&w[1], "netns") && w[2] == "exec" {
        ns = Some(w[3].clone());
        w.drain(..4);
    } else if w.len() >= 3
        && (w[0] == "ip" || w[0] == "bridge")
        && matches!(w[1].as_str(), "-n" | "-netns" | "--netns")
    {
        ns = Some(w[2].clone());
        w.drain(1..3);
    }
    if w.is_empty() {
        return Err(src.err("no command after the netns"));
    }
    let word = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
    // A script's `set -e`: the shell's, nothing to build.
    if w.len() == 2 && word(0) == "set" && word(1) == "-e" {
        return Ok(());
    }
    // ip netns add: before a netns is needed.
    if word(0) == "ip" && is(word(1), "netns") {
        if word(2) != "add" && word(2) != "a" || w.len() != 4 {
            return Err(src.err(format!("unsupported command; setup supports {SUPPORTED}")));
        }
        let name = w[3].clone();
        if st.netns.iter().any(|n| n.name == name) || st.seg_netns.contains(&name) {
            return Err(src.err(format!(
                "Cannot create namespace file \"/run/netns/{name}\": File exists"
            )));
        }
        if tag == Some("segment") {
            st.add_segment(&name, None);
            st.seg_netns.push(name);
        } else {
            st.netns.push(NetnsSpec::new(&name));
        }
        return Ok(());
    }
    let Some(ns) = ns.or_else(|| default_ns.map(str::to_string)) else {
        return Err(
            src.err("no netns: use `ip netns exec NS ...` or `ip -n NS ...`, or set `setup_netns`")
        );
    };
    if st.seg_netns.contains(&ns) {
        // The segment's own bridge and ports: sim's segment stands for them.
        return Ok(());
    }
    if st.ns(&ns).is_none() {
        return Err(src.err(format!(
            "Cannot open network namespace \"{ns}\": No such file or directory"
        )));
    }
    match word(0) {
        "ip" if is(word(1), "link") && is(word(2), "add") => link_add(st, src, &ns, &w[3..], tag),
        "ip" if is(word(1), "link") && is(word(2), "set") => link_set(st, src, &ns, &w[3..]),
        "ip" if is(word(1), "address") && is(word(2), "add") => addr_add(st, src, &ns, &w[3..]),
        "ip" if is(word(1), "route") => route(st, src, &ns, word(2), &w[3..]),
        "ip" if is(word(1), "neighbour") || is(word(1), "neighbor") => {
            let op = word(2);
            if !(is(op, "add") || is(op, "replace")) {
                return Err(src.err(format!("unsupported command; setup supports {SUPPORTED}")));
            }
            let args = join(&w[3..]);
            let spec = parse_neigh(&args).map_err(|e| src.err(e))?;
            let n = st.ns(&ns).ok_or_else(|| src.err("no netns"))?;
            // replace: one entry per (address, device).
            n.neigh.retain(|x| {
                parse_neigh(x).map_or(true, |o| (o.ip, o.dev) != (spec.ip, spec.dev.clone()))
            });
            n.neigh.push(args);
            Ok(())
        }
        "bridge" if word(1) == "fdb" && matches!(word(2), "add" | "append" | "replace") => {
            let args = join(&w[3..]);
            crate::iproute::parse_fdb(crate::iproute::FdbCmd::Append, &args)
                .map_err(|e| src.err(e))?;
            st.ns(&ns)
                .ok_or_else(|| src.err("no netns"))?
                .fdb
                .push(args);
            Ok(())
        }
        "bridge" if word(1) == "link" && word(2) == "set" => {
            // bridge link set dev DEV hairpin on|off
            let (mut dev, mut hairpin) = (None, None);
            let mut i = 3;
            while i < w.len() {
                match w[i].as_str() {
                    "dev" => dev = w.get(i + 1).cloned(),
                    "hairpin" => hairpin = w.get(i + 1).map(|v| v == "on"),
                    other => {
                        return Err(src.err(format!(
                            "\"{other}\" is not supported by setup (bridge link set dev DEV hairpin on|off)"
                        )))
                    }
                }
                i += 2;
            }
            let (Some(dev), Some(h)) = (dev, hairpin) else {
                return Err(src.err("expected `bridge link set dev DEV hairpin on|off`"));
            };
            let d = st
                .dev(&ns, &dev)
                .ok_or_else(|| src.err(format!("Cannot find device \"{dev}\"")))?;
            d.hairpin = h;
            Ok(())
        }
        "sysctl" => {
            let mut kvs = Vec::new();
            for a in &w[1..] {
                match a.as_str() {
                    "-w" | "-q" | "-qw" | "-wq" => {}
                    kv if kv.contains('=') => kvs.push(kv.replace('/', ".")),
                    other => return Err(src.err(format!("expected key=value, got \"{other}\""))),
                }
            }
            if kvs.is_empty() {
                return Err(src.err("expected `sysctl -w key=value`"));
            }
            for kv in kvs {
                sysctl(st, src, &ns, &kv)?;
            }
            Ok(())
        }
        "echo" if w.len() == 4 && w[2] == ">" => {
            let Some(key) = w[3].strip_prefix("/proc/sys/") else {
                return Err(src.err("expected `echo N > /proc/sys/...`"));
            };
            let kv = format!("{}={}", key.replace('/', "."), w[1]);
            sysctl(st, src, &ns, &kv)
        }
        "ethtool" | "modprobe" => Ok(()),
        prog @ ("iptables" | "ipset") => {
            let args = join(&w[1..]);
            crate::iproute::parse_command(&format!("{prog} {args}")).map_err(|e| src.err(e))?;
            let n = st.ns(&ns).ok_or_else(|| src.err("no netns"))?;
            if prog == "iptables" {
                n.iptables.push(args);
            } else {
                n.ipsets.push(args);
            }
            Ok(())
        }
        _ => Err(src.err(format!("unsupported command; setup supports {SUPPORTED}"))),
    }
}

/// Words back into one line, quoted for `split_words`.
fn join(w: &[String]) -> String {
    w.iter()
        .map(|x| super::export::shell_quote(x))
        .collect::<Vec<_>>()
        .join(" ")
}

fn sysctl(st: &mut Setup, src: &Src, ns: &str, kv: &str) -> Result<(), Error> {
    let key = kv.split_once('=').map_or(kv, |(k, _)| k);
    if key.starts_with("net.ipv6.") && key.ends_with(".disable_ipv6") {
        // sim models no IPv6: turning it off changes nothing.
        return Ok(());
    }
    crate::iproute::parse_command(&format!("sysctl -w {kv}")).map_err(|e| src.err(e))?;
    st.ns(ns)
        .ok_or_else(|| src.err("no netns"))?
        .sysctls
        .push(kv.to_string());
    Ok(())
}

/// `ip link add [name] NAME [address MAC] [mtu N] type KIND ...`.
fn link_add(
    st: &mut Setup,
    src: &Src,
    ns: &str,
    a: &[String],
    tag: Option<&str>,
) -> Result<(), Error> {
    let mut i = 0;
    let mut name = None;
    let (mut mac, mut mtu) = (None, None);
    let val = |i: usize| -> Result<&String, Error> {
        a.get(i + 1)
            .ok_or_else(|| src.err("Command line is not complete."))
    };
    while i < a.len() && a[i] != "type" {
        match a[i].as_str() {
            "name" => name = Some(val(i)?.clone()),
            "address" => mac = Some(val(i)?.clone()),
            "mtu" => mtu = Some(val(i)?.clone()),
            w if name.is_none() => {
                name = Some(w.to_string());
                i += 1;
                continue;
            }
            other => {
                return Err(src.err(format!(
                    "\"{other}\" is not supported by setup in ip link add"
                )))
            }
        }
        i += 2;
    }
    let Some(name) = name else {
        return Err(src.err("ip link add: no device name"));
    };
    let kind = a.get(i + 1).map(String::as_str).unwrap_or("");
    let rest = a.get(i + 2..).unwrap_or(&[]);
    let mtu = match mtu {
        Some(m) => Some(m.parse::<u32>().map_err(|_| {
            src.err(format!(
                "Error: argument \"{m}\" is wrong: Invalid \"mtu\" value"
            ))
        })?),
        None => None,
    };
    if let Some(m) = &mac {
        parse_mac(m).map_err(|e| src.err(e))?;
    }
    if st.dev(ns, &name).is_some() {
        return Err(src.err("RTNETLINK answers: File exists"));
    }
    let spec = |k: DeviceKind| {
        let mut d = DeviceSpec::new(&name, k);
        d.mac = mac.clone();
        d.mtu = mtu;
        d.up = false;
        d
    };
    let segment = tag.and_then(|t| t.strip_prefix("segment ")).map(|t| {
        let mut it = t.split_whitespace();
        let seg = it.next().unwrap_or("").to_string();
        let delay = match (it.next(), it.next()) {
            (Some("delay_us"), Some(v)) => v.parse().ok(),
            _ => None,
        };
        (seg, delay)
    });
    match kind {
        "veth" => {
            // peer [name] PEER [address MAC] [mtu N] [netns NS]
            let mut j = 0;
            if rest.first().map(String::as_str) == Some("peer") {
                j = 1;
            }
            let (mut pname, mut pmac, mut pmtu, mut pns) = (None, None, None, None);
            while j < rest.len() {
                let v = rest.get(j + 1).cloned();
                match rest[j].as_str() {
                    "name" => pname = v,
                    "address" => pmac = v,
                    "mtu" => pmtu = v.and_then(|m| m.parse::<u32>().ok()),
                    "netns" => pns = v,
                    w if pname.is_none() => {
                        pname = Some(w.to_string());
                        j += 1;
                        continue;
                    }
                    other => {
                        return Err(src.err(format!(
                            "\"{other}\" is not supported by setup in a veth peer"
                        )))
                    }
                }
                j += 2;
            }
            let pname = pname.unwrap_or_else(|| format!("veth{}", st.netns.len()));
            let pns = pns.unwrap_or_else(|| ns.to_string());
            let peer_is_seg = st.seg_netns.contains(&pns);
            if !peer_is_seg && st.ns(&pns).is_none() {
                return Err(src.err(format!(
                    "Cannot open network namespace \"{pns}\": No such file or directory"
                )));
            }
            if !peer_is_seg && st.dev(&pns, &pname).is_some() {
                return Err(src.err("RTNETLINK answers: File exists"));
            }
            let (me, them) = match &segment {
                Some((seg, delay)) => {
                    st.add_segment(seg, *delay);
                    (
                        DeviceKind::Nic {
                            segment: seg.clone(),
                        },
                        (!peer_is_seg).then(|| DeviceKind::Nic {
                            segment: seg.clone(),
                        }),
                    )
                }
                None if peer_is_seg => {
                    return Err(src.err(format!(
                        "the peer is in segment netns \"{pns}\": tag the line `# sim: segment NAME`"
                    )))
                }
                None => (
                    DeviceKind::Veth {
                        peer: format!("{pns}/{pname}"),
                    },
                    Some(DeviceKind::Veth {
                        peer: format!("{ns}/{name}"),
                    }),
                ),
            };
            let d = spec(me);
            st.ns(ns)
                .ok_or_else(|| src.err("no netns"))?
                .devices
                .push(d);
            if let Some(k) = them {
                let mut p = DeviceSpec::new(&pname, k);
                p.mac = pmac;
                p.mtu = pmtu;
                p.up = false;
                st.ns(&pns)
                    .ok_or_else(|| src.err("no netns"))?
                    .devices
                    .push(p);
            }
            Ok(())
        }
        "bridge" => {
            if let Some(x) = rest.first() {
                return Err(src.err(format!("bridge option \"{x}\" is not supported by setup")));
            }
            let d = spec(DeviceKind::Bridge);
            st.ns(ns)
                .ok_or_else(|| src.err("no netns"))?
                .devices
                .push(d);
            Ok(())
        }
        "ipip" => {
            let d = spec(DeviceKind::Ipip);
            st.ns(ns)
                .ok_or_else(|| src.err("no netns"))?
                .devices
                .push(d);
            Ok(())
        }
        "vxlan" => {
            let v = vxlan_args(src, rest)?;
            let d = spec(DeviceKind::Vxlan(v));
            st.ns(ns)
                .ok_or_else(|| src.err("no netns"))?
                .devices
                .push(d);
            Ok(())
        }
        "" => Err(src.err("ip link add: no `type`")),
        other => Err(src.err(format!(
            "device type \"{other}\" is not supported (setup creates veth, bridge, vxlan, ipip)"
        ))),
    }
}

/// `id N [dstport P] [local A] [dev D] [[no]learning] [srcport MIN MAX] [ttl T|auto]
/// [[no]udpcsum]`.
fn vxlan_args(src: &Src, a: &[String]) -> Result<VxlanSpec, Error> {
    let mut v = VxlanSpec {
        id: u32::MAX,
        dstport: None,
        local: None,
        dev: None,
        learning: true,
        srcport: None,
        ttl: None,
        udpcsum: true,
    };
    let num = |i: usize| -> Result<u64, Error> {
        let s = a
            .get(i)
            .ok_or_else(|| src.err("Command line is not complete."))?;
        s.parse::<u64>()
            .map_err(|_| src.err(format!("Error: argument \"{s}\" is wrong")))
    };
    let mut i = 0;
    while i < a.len() {
        match a[i].as_str() {
            "id" | "vni" => {
                v.id = u32::try_from(num(i + 1)?).unwrap_or(u32::MAX);
                i += 2;
            }
            "dstport" => {
                v.dstport = Some(u16::try_from(num(i + 1)?).unwrap_or(u16::MAX));
                i += 2;
            }
            "local" => {
                v.local = a.get(i + 1).cloned();
                i += 2;
            }
            "dev" => {
                v.dev = a.get(i + 1).cloned();
                i += 2;
            }
            "learning" => {
                v.learning = true;
                i += 1;
            }
            "nolearning" => {
                v.learning = false;
                i += 1;
            }
            "udpcsum" => {
                v.udpcsum = true;
                i += 1;
            }
            "noudpcsum" => {
                v.udpcsum = false;
                i += 1;
            }
            "ttl" | "hoplimit" => {
                v.ttl = match a.get(i + 1).map(String::as_str) {
                    Some("auto") | Some("inherit") => None,
                    _ => Some(u8::try_from(num(i + 1)?).unwrap_or(u8::MAX)),
                };
                i += 2;
            }
            "srcport" => {
                let lo = u16::try_from(num(i + 1)?).unwrap_or(u16::MAX);
                let hi = u16::try_from(num(i + 2)?).unwrap_or(u16::MAX);
                v.srcport = Some((lo, hi));
                i += 3;
            }
            other => {
                return Err(src.err(format!(
                    "vxlan option \"{other}\" is not supported by setup"
                )))
            }
        }
    }
    if v.id == u32::MAX {
        return Err(src.err("vxlan: missing `id`"));
    }
    Ok(v)
}

/// `ip link set [dev] DEV {up|down|mtu N|address MAC|master BR|nomaster|netns NS}...`.
fn link_set(st: &mut Setup, src: &Src, ns: &str, a: &[String]) -> Result<(), Error> {
    let mut dev: Option<String> = None;
    let mut ops: Vec<(&str, Option<String>)> = Vec::new();
    let mut i = 0;
    while i < a.len() {
        let next = a.get(i + 1).cloned();
        match a[i].as_str() {
            "up" | "down" | "nomaster" => {
                ops.push((a[i].as_str(), None));
                i += 1;
                continue;
            }
            "dev" => dev = next,
            "mtu" | "address" | "master" | "netns" => {
                if next.is_none() {
                    return Err(src.err("Command line is not complete."));
                }
                ops.push((a[i].as_str(), next));
            }
            w if dev.is_none() => {
                dev = Some(w.to_string());
                i += 1;
                continue;
            }
            other => {
                return Err(src.err(format!(
                    "\"{other}\" is not supported by setup in ip link set"
                )))
            }
        }
        i += 2;
    }
    let Some(dev) = dev else {
        return Err(src.err("ip link set: no device"));
    };
    if dev == "lo" {
        // sim's lo exists and is up in every netns.
        if ops.iter().all(|(op, _)| *op == "up") {
            return Ok(());
        }
        return Err(src.err("setup only brings lo up"));
    }
    if st.dev(ns, &dev).is_none() {
        if dev == "tunl0" {
            // The ipip module creates tunl0 in every netns.
            let mut d = DeviceSpec::new("tunl0", DeviceKind::Ipip);
            d.up = false;
            st.ns(ns)
                .ok_or_else(|| src.err("no netns"))?
                .devices
                .push(d);
        } else {
            return Err(src.err(format!("Cannot find device \"{dev}\"")));
        }
    }
    for (op, v) in ops {
        let v = v.unwrap_or_default();
        if op == "netns" {
            move_dev(st, src, ns, &dev, &v)?;
            continue;
        }
        if op == "mtu" && v.parse::<u32>().is_err() {
            return Err(src.err(format!(
                "Error: argument \"{v}\" is wrong: Invalid \"mtu\" value"
            )));
        }
        if op == "address" {
            parse_mac(&v).map_err(|e| src.err(e))?;
        }
        let d = st
            .dev(ns, &dev)
            .ok_or_else(|| src.err(format!("Cannot find device \"{dev}\"")))?;
        match op {
            "up" => d.up = true,
            "down" => d.up = false,
            "nomaster" => d.master = None,
            "mtu" => d.mtu = v.parse().ok(),
            "address" => d.mac = Some(v),
            _ => d.master = Some(v),
        }
    }
    Ok(())
}

/// `ip link set DEV netns TO`: the device moves; its veth peer's reference follows.
fn move_dev(st: &mut Setup, src: &Src, ns: &str, dev: &str, to: &str) -> Result<(), Error> {
    if st.ns(to).is_none() {
        return Err(src.err(format!(
            "Cannot open network namespace \"{to}\": No such file or directory"
        )));
    }
    if st.dev(to, dev).is_some() {
        return Err(src.err("RTNETLINK answers: File exists"));
    }
    let n = st.ns(ns).ok_or_else(|| src.err("no netns"))?;
    let Some(pos) = n.devices.iter().position(|d| d.name == dev) else {
        return Err(src.err(format!("Cannot find device \"{dev}\"")));
    };
    let d = n.devices.remove(pos);
    // The kernel takes a moved device down and flushes its addresses (`dev_change_net_namespace`).
    let old = format!("{ns}/{dev}");
    let new = format!("{to}/{dev}");
    if let DeviceKind::Veth { peer } = &d.kind {
        if let Some((pns, pdev)) = peer.split_once('/') {
            let (pns, pdev) = (pns.to_string(), pdev.to_string());
            if let Some(p) = st.dev(&pns, &pdev) {
                if let DeviceKind::Veth { peer } = &mut p.kind {
                    if *peer == old {
                        *peer = new;
                    }
                }
            }
        }
    }
    let mut d = d;
    d.addrs.clear();
    d.up = false;
    st.ns(to)
        .ok_or_else(|| src.err("no netns"))?
        .devices
        .push(d);
    Ok(())
}

/// `ip addr add A/LEN dev DEV`.
fn addr_add(st: &mut Setup, src: &Src, ns: &str, a: &[String]) -> Result<(), Error> {
    let (mut pfx, mut dev) = (None, None);
    let mut i = 0;
    while i < a.len() {
        match a[i].as_str() {
            "dev" => {
                dev = a.get(i + 1).cloned();
                i += 2;
            }
            "local" => {
                pfx = a.get(i + 1).cloned();
                i += 2;
            }
            w if pfx.is_none() => {
                pfx = Some(w.to_string());
                i += 1;
            }
            other => {
                return Err(src.err(format!(
                    "\"{other}\" is not supported by setup in ip addr add"
                )))
            }
        }
    }
    let (Some(p), Some(dev)) = (pfx, dev) else {
        return Err(src.err("expected `ip addr add A.B.C.D/LEN dev DEV`"));
    };
    let p = if p.contains('/') {
        p
    } else {
        format!("{p}/32")
    };
    let d = st
        .dev(ns, &dev)
        .ok_or_else(|| src.err(format!("Cannot find device \"{dev}\"")))?;
    d.addrs.push(p);
    Ok(())
}

/// `ip route add|append|replace|del ARGS`.
fn route(st: &mut Setup, src: &Src, ns: &str, op: &str, a: &[String]) -> Result<(), Error> {
    let args = join(a);
    let spec = parse_route(&args).map_err(|e| src.err(e))?;
    let n = st.ns(ns).ok_or_else(|| src.err("no netns"))?;
    let same = |r: &String| {
        parse_route(r).is_ok_and(|o| (o.dst, o.tos, o.metric) == (spec.dst, spec.tos, spec.metric))
    };
    if is(op, "add") || is(op, "append") {
        n.routes.push(args);
    } else if is(op, "replace") {
        match n.routes.iter().position(same) {
            Some(p) => n.routes[p] = args,
            None => n.routes.push(args),
        }
    } else if is(op, "delete") {
        let Some(p) = n.routes.iter().position(same) else {
            return Err(src.err("RTNETLINK answers: No such process"));
        };
        n.routes.remove(p);
    } else {
        return Err(src.err(format!("unsupported command; setup supports {SUPPORTED}")));
    }
    Ok(())
}
