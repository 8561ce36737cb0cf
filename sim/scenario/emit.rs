//! Writes a scenario back as RON, in the layout of the shipped scenarios (one device, route or
//! traffic item a line), so that `sim expand` prints a file `sim run` loads unchanged.

use super::{ChangeSpec, DeviceKind, DeviceSpec, Expect, NetnsSpec, Scenario, Traffic};
use std::fmt::Write;

/// A RON string literal.
fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", v.join(", "))
}

fn device(d: &DeviceSpec) -> String {
    let kind = match &d.kind {
        DeviceKind::Veth { peer } => format!("Veth(peer: {})", q(peer)),
        DeviceKind::Nic { segment } => format!("Nic(segment: {})", q(segment)),
        DeviceKind::Ipip => "Ipip".into(),
        DeviceKind::Bridge => "Bridge".into(),
        DeviceKind::Vxlan(v) => {
            let mut f = vec![format!("id: {}", v.id)];
            if let Some(p) = v.dstport {
                f.push(format!("dstport: {p}"));
            }
            if let Some(l) = &v.local {
                f.push(format!("local: {}", q(l)));
            }
            if let Some(d) = &v.dev {
                f.push(format!("dev: {}", q(d)));
            }
            if !v.learning {
                f.push("learning: false".into());
            }
            if let Some((lo, hi)) = v.srcport {
                f.push(format!("srcport: ({lo}, {hi})"));
            }
            if let Some(t) = v.ttl {
                f.push(format!("ttl: {t}"));
            }
            if !v.udpcsum {
                f.push("udpcsum: false".into());
            }
            format!("Vxlan({})", f.join(", "))
        }
    };
    let mut f = vec![format!("name: {}", q(&d.name)), format!("kind: {kind}")];
    if let Some(m) = &d.mac {
        f.push(format!("mac: {}", q(m)));
    }
    if let Some(m) = d.mtu {
        f.push(format!("mtu: {m}"));
    }
    if !d.addrs.is_empty() {
        f.push(format!("addrs: {}", list(&d.addrs)));
    }
    if !d.up {
        f.push("up: false".into());
    }
    if let Some(us) = d.delay_us {
        f.push(format!("delay_us: {us}"));
    }
    if let Some(m) = &d.master {
        f.push(format!("master: {}", q(m)));
    }
    if d.hairpin {
        f.push("hairpin: true".into());
    }
    format!("({})", f.join(", "))
}

/// A list field, one item a line.
fn lines(o: &mut String, indent: &str, key: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(o, "{indent}{key}: [");
    for i in items {
        let _ = writeln!(o, "{indent}    {i},");
    }
    let _ = writeln!(o, "{indent}],");
}

fn netns(o: &mut String, n: &NetnsSpec) {
    let i = "            ";
    let _ = writeln!(o, "        (");
    let _ = writeln!(o, "{i}name: {},", q(&n.name));
    if let Some(h) = &n.host {
        let _ = writeln!(o, "{i}host: {},", q(h));
    }
    let devs: Vec<String> = n.devices.iter().map(device).collect();
    lines(o, i, "devices", &devs);
    let quoted = |v: &[String]| v.iter().map(|s| q(s)).collect::<Vec<_>>();
    lines(o, i, "sysctls", &quoted(&n.sysctls));
    lines(o, i, "routes", &quoted(&n.routes));
    lines(o, i, "neigh", &quoted(&n.neigh));
    lines(o, i, "fdb", &quoted(&n.fdb));
    lines(o, i, "ipsets", &quoted(&n.ipsets));
    lines(o, i, "iptables", &quoted(&n.iptables));
    let _ = writeln!(o, "        ),");
}

fn expect(e: &Expect) -> String {
    match e {
        Expect::Reply { ttl } => format!("Reply(ttl: {ttl})"),
        Expect::Drop { reason, at } => format!("Drop(reason: {}, at: {})", q(reason), q(at)),
        Expect::Error { from, text } => format!("Error(from: {}, text: {})", q(from), q(text)),
    }
}

fn traffic(t: &Traffic) -> String {
    let p = match t {
        Traffic::Ping(p) => p,
        Traffic::UdpEchoServer(u) => {
            return format!("UdpEchoServer(netns: {}, port: {})", q(&u.netns), u.port)
        }
        Traffic::UdpEcho(u) => {
            return format!(
                "UdpEcho(from: {}, to: {}, port: {}, count: {}, interval_ms: {}, start_ms: {}, size: {})",
                q(&u.from),
                q(&u.to),
                u.port,
                u.count,
                u.interval_ms,
                u.start_ms,
                u.size
            )
        }
        Traffic::NodesPing(n) => {
            let mut f = vec![format!("gap_ns: {}", n.gap_ns), format!("size: {}", n.size)];
            if let Some(t) = n.expect_ttl {
                f.push(format!("expect_ttl: {t}"));
            }
            return format!("NodesPing({})", f.join(", "));
        }
        Traffic::PodsEcho(e) => {
            return format!(
                "PodsEcho(k: {}, gap_ns: {}, size: {}, port: {})",
                e.k, e.gap_ns, e.size, e.port
            )
        }
    };
    let mut f = vec![format!("from: {}", q(&p.from)), format!("to: {}", q(&p.to))];
    f.push(format!("count: {}", p.count));
    if p.interval_ms != 1000 {
        f.push(format!("interval_ms: {}", p.interval_ms));
    }
    f.push(format!("start_ms: {}", p.start_ms));
    if p.size != 56 {
        f.push(format!("size: {}", p.size));
    }
    if let Some(id) = p.id {
        f.push(format!("id: {id}"));
    }
    if let Some(e) = &p.expect {
        f.push(format!("expect: {}", expect(e)));
    }
    format!("Ping({})", f.join(", "))
}

fn change(c: &ChangeSpec) -> String {
    format!(
        "(at_ms: {}, netns: {}, cmd: {})",
        c.at_ms,
        q(&c.netns),
        q(&c.cmd)
    )
}

/// The scenario as RON. A `cluster` section is not written: expand it first.
pub fn to_ron(s: &Scenario) -> String {
    let mut o = String::from("Scenario(\n");
    let i = "    ";
    if let Some(n) = &s.name {
        let _ = writeln!(o, "{i}name: {},", q(n));
    }
    let _ = writeln!(o, "{i}seed: {},", s.seed);
    if let Some(m) = s.events_max {
        let _ = writeln!(o, "{i}events_max: {m},");
    }
    if let Some(d) = s.duration_ms {
        let _ = writeln!(o, "{i}duration_ms: {d},");
    }
    let segs: Vec<String> = s
        .segments
        .iter()
        .map(|g| match g.delay_us {
            Some(us) => format!("(name: {}, delay_us: {us})", q(&g.name)),
            None => format!("(name: {})", q(&g.name)),
        })
        .collect();
    lines(&mut o, i, "segments", &segs);
    let _ = writeln!(o, "{i}netns: [");
    for n in &s.netns {
        netns(&mut o, n);
    }
    let _ = writeln!(o, "{i}],");
    match &s.capture {
        Some(c) if c.is_empty() => {
            let _ = writeln!(o, "{i}capture: [],");
        }
        Some(c) => {
            let v: Vec<String> = c.iter().map(|s| q(s)).collect();
            lines(&mut o, i, "capture", &v);
        }
        None => {}
    }
    let ch: Vec<String> = s.changes.iter().map(change).collect();
    lines(&mut o, i, "changes", &ch);
    let tr: Vec<String> = s.traffic.iter().map(traffic).collect();
    lines(&mut o, i, "traffic", &tr);
    o.push_str(")\n");
    o
}
