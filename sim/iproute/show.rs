//! Tables printed byte for byte as the tools print them: `ip route show` (iproute2 6.1
//! `print_route()`), `route -n` (net-tools `rprint_fib()` over `/proc/net/route`), `ip neigh`
//! (`print_neigh()`) and `ip addr` (`print_linkinfo()` + `print_addrinfo()`). Pure formatting of
//! views the netns hands in; nothing here filters by table or decides what exists.

use super::parse::{RT_PROTOS, RT_SCOPES, RT_TABLES};
use super::{AddrView, LinkKind, LinkView, NeighView};
use crate::netns::fib::{Ipv4Net, Route, RouteType, RTPROT_BOOT, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::netns::neigh::NudState;
use std::fmt::Write as _;

/// `rtnl_rtprot_n2a()`: the rt_protos name, else the number (`proto 80`).
fn proto_name(p: u8) -> String {
    RT_PROTOS
        .iter()
        .find(|(v, _)| *v == p)
        .map_or_else(|| p.to_string(), |(_, n)| (*n).to_string())
}

/// `rtnl_rtscope_n2a()`: global/site/link/host/nowhere, else the number.
fn scope_name(s: u8) -> String {
    RT_SCOPES
        .iter()
        .find(|(v, _)| *v == s)
        .map_or_else(|| s.to_string(), |(_, n)| (*n).to_string())
}

/// `rtnl_rttable_n2a()`: local/main/default/unspec, else the number.
fn table_name(t: u32) -> String {
    RT_TABLES
        .iter()
        .find(|(v, _)| *v == t)
        .map_or_else(|| t.to_string(), |(_, n)| (*n).to_string())
}

/// `aa:bb:cc:dd:ee:ff`, lower case, as `ll_addr_n2a()` prints an Ethernet address.
fn mac_str(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// `default`, `A.B.C.D` for a /32, else `A.B.C.D/len`.
fn dst_str(d: &Ipv4Net) -> String {
    match d.len {
        0 => "default".to_string(),
        32 => d.addr.to_string(),
        l => format!("{}/{l}", d.addr),
    }
}

/// One `ip route show` line in R1.15's token order, each token followed by one space (so the
/// line ends with a space), without the newline. The type word appears only when not unicast;
/// `proto` is omitted for boot, `scope` for global, `metric` for 0; error-type routes
/// (blackhole, unreachable, prohibit, throw) have neither `via` nor `dev`. `table T` is printed
/// for tables other than main and local (what `ip route show table all` would show for them).
pub fn format_route(r: &Route, dev_name: &dyn Fn(u32) -> String) -> String {
    route_line(r, dev_name, false)
}

/// [`format_route`] with the `linkdown` flag (RTNH_F_LINKDOWN: the nexthop device has no
/// carrier, R1.12), which the [`Route`] itself does not carry.
fn route_line(r: &Route, dev_name: &dyn Fn(u32) -> String, linkdown: bool) -> String {
    let mut s = String::new();
    if r.rtype != RouteType::Unicast {
        s.push_str(r.rtype.name());
        s.push(' ');
    }
    s.push_str(&dst_str(&r.dst));
    s.push(' ');
    if r.tos != 0 {
        // rtnl_dsfield_n2a(): unnamed values print as 0x%02x.
        let _ = write!(s, "tos 0x{:02x} ", r.tos);
    }
    if !r.is_error_type() {
        if let Some(gw) = r.gateway {
            let _ = write!(s, "via {gw} ");
        }
        if let Some(dev) = r.dev {
            let _ = write!(s, "dev {} ", dev_name(dev));
        }
    }
    if r.table != RT_TABLE_MAIN && r.table != RT_TABLE_LOCAL {
        let _ = write!(s, "table {} ", table_name(r.table));
    }
    if r.proto != RTPROT_BOOT {
        let _ = write!(s, "proto {} ", proto_name(r.proto));
    }
    if r.scope != 0 {
        let _ = write!(s, "scope {} ", scope_name(r.scope));
    }
    if let Some(src) = r.prefsrc {
        let _ = write!(s, "src {src} ");
    }
    if r.metric != 0 {
        let _ = write!(s, "metric {} ", r.metric);
    }
    if r.onlink {
        s.push_str("onlink ");
    }
    if linkdown {
        s.push_str("linkdown ");
    }
    s
}

/// The `route -n` header (net-tools).
const ROUTE_N_HEADER: &str = "Kernel IP routing table\n\
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface\n";

/// `route -n` (R1.18) over main-table routes in `/proc/net/route` order: the two header lines,
/// then one row per route in net-tools' `"%-15s %-15s %-15s %-5s %-6d %-3d %6d %s\n"`. Flags:
/// `U`, `G` with a gateway, `H` for /32; unreachable and prohibit are reject routes (`!`,
/// dashes for gateway, ref and iface). Blackhole and throw are plain `U` rows with iface `*`.
/// Broadcast routes are skipped, as `fib_route_seq_show()` skips them.
pub fn format_route_n(routes: &[&Route], dev_name: &dyn Fn(u32) -> String) -> String {
    let mut out = String::from(ROUTE_N_HEADER);
    for r in routes {
        if r.rtype == RouteType::Broadcast {
            continue;
        }
        let dst = r.dst.addr.to_string();
        let genmask = r.dst.netmask().to_string();
        // /proc/net/route prints fib_priority with %d and net-tools reads it back as an int.
        let metric = r.metric as i32;
        let reject = matches!(r.rtype, RouteType::Unreachable | RouteType::Prohibit);
        let gateway = r.gateway.filter(|_| !r.is_error_type());
        // fib_flag_trans() then net-tools: U, G, and `!` replacing both; H appended.
        let mut flags = String::from(if reject { "!" } else { "U" });
        if gateway.is_some() && !reject {
            flags.push('G');
        }
        if r.dst.len == 32 {
            flags.push('H');
        }
        if reject {
            let _ = writeln!(
                out,
                "{dst:<15} -               {genmask:<15} {flags:<5} {metric:<6} -  {:>7} -",
                0
            );
            continue;
        }
        let gw = gateway
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED)
            .to_string();
        let iface = match r.dev {
            Some(d) if !r.is_error_type() => dev_name(d),
            _ => "*".to_string(),
        };
        let _ = writeln!(
            out,
            "{dst:<15} {gw:<15} {genmask:<15} {flags:<5} {metric:<6} {:<3} {:>6} {iface}",
            0, 0
        );
    }
    out
}

/// `ip neigh` (R5.7): `IP dev DEV lladdr MAC STATE ` plus a newline per entry, in the given
/// order. NOARP and NONE entries are hidden, as the default `nud` filter hides them; the
/// lladdr is shown only for NUD_VALID states (the kernel omits NDA_LLADDR otherwise), so
/// INCOMPLETE and FAILED print none.
pub fn format_neigh(entries: &[NeighView]) -> String {
    let mut out = String::new();
    for e in entries {
        if matches!(e.state, NudState::Noarp | NudState::None) {
            continue;
        }
        let _ = write!(out, "{} dev {} ", e.ip, e.dev);
        let valid = matches!(
            e.state,
            NudState::Permanent
                | NudState::Reachable
                | NudState::Probe
                | NudState::Stale
                | NudState::Delay
        );
        if let Some(mac) = e.lladdr.filter(|_| valid) {
            let _ = write!(out, "lladdr {} ", mac_str(&mac));
        }
        let _ = writeln!(out, "{} ", e.state.name());
    }
    out
}

/// `ip addr` as iproute2 6.1 prints it, for the links in the given (ifindex) order:
///
/// ```text
/// 2: eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
///     link/ether 0a:58:0a:2a:01:0b brd ff:ff:ff:ff:ff:ff link-netns node1
///     inet 10.42.1.11/32 scope global eth0
///        valid_lft forever preferred_lft forever
/// ```
///
/// Flags: `NO-CARRIER` (up without carrier), the kind's (`LOOPBACK`, `BROADCAST,MULTICAST`,
/// `NOARP`), `UP`, `LOWER_UP` (up with carrier). qdisc `noqueue` when up, `noop` when down.
/// State: `DOWN` when down; lo, tunl0 and a peerless Ethernet device (vxlan) are `UNKNOWN`; a
/// veth is `UP` or, without carrier, `LOWERLAYERDOWN`. Every device has `qlen 1000`. A veth
/// prints `@ifN` plus `link-netns NAME` when its peer is in another netns, `@PEERNAME` when the
/// peer is a device in `links`; tunl0 prints `@NONE`. An address with the same prefix as an
/// earlier one on the device is `secondary` (`__inet_insert_ifa()`). No inet6 lines.
pub fn format_addr(links: &[LinkView]) -> String {
    let mut out = String::new();
    for l in links {
        write_link(&mut out, l, links);
    }
    out
}

fn write_link(out: &mut String, l: &LinkView, all: &[LinkView]) {
    // dev_get_flags(): RUNNING and LOWER_UP only while the device is up.
    let running = l.admin_up && l.carrier;
    let mut flags: Vec<&str> = Vec::new();
    if l.admin_up && !running {
        flags.push("NO-CARRIER");
    }
    match l.kind {
        LinkKind::Loopback => flags.push("LOOPBACK"),
        LinkKind::Ether | LinkKind::Nic | LinkKind::Bridge | LinkKind::Vxlan => {
            flags.extend(["BROADCAST", "MULTICAST"])
        }
        LinkKind::Ipip => flags.push("NOARP"),
    }
    if l.admin_up {
        flags.push("UP");
    }
    if running {
        flags.push("LOWER_UP");
    }

    // IFLA_LINK: `@NONE` for iflink 0, `@ifN` across netns, `@name` within one.
    let at = match (l.kind, l.peer_ifindex) {
        (LinkKind::Ipip, _) => "@NONE".to_string(),
        (_, Some(p)) if l.link_netns.is_some() => format!("@if{p}"),
        (_, Some(p)) => all
            .iter()
            .find(|o| o.ifindex == p)
            .map_or_else(|| format!("@if{p}"), |o| format!("@{}", o.name)),
        (_, None) => String::new(),
    };
    let state = if !l.admin_up {
        "DOWN"
    } else {
        match (l.kind, l.peer_ifindex) {
            (LinkKind::Ether, Some(_)) if l.carrier => "UP",
            (LinkKind::Ether, Some(_)) => "LOWERLAYERDOWN",
            (LinkKind::Nic | LinkKind::Bridge, _) if l.carrier => "UP",
            (LinkKind::Nic | LinkKind::Bridge, _) => "DOWN",
            _ => "UNKNOWN",
        }
    };
    // A physical NIC gets the distribution's default qdisc (fq_codel, as seed 000 shows);
    // virtual devices have none.
    let qdisc = match (l.admin_up, l.kind) {
        (false, _) => "noop",
        (true, LinkKind::Nic) => "fq_codel",
        (true, _) => "noqueue",
    };
    let master = l
        .master
        .as_ref()
        .map_or_else(String::new, |m| format!("master {m} "));
    let _ = writeln!(
        out,
        "{}: {}{}: <{}> mtu {} qdisc {} {}state {} group default qlen 1000",
        l.ifindex,
        l.name,
        at,
        flags.join(","),
        l.mtu,
        qdisc,
        master,
        state
    );

    match l.kind {
        LinkKind::Loopback => {
            let _ = writeln!(
                out,
                "    link/loopback {} brd 00:00:00:00:00:00",
                mac_str(&l.mac)
            );
        }
        LinkKind::Ether | LinkKind::Nic | LinkKind::Bridge | LinkKind::Vxlan => {
            let _ = write!(
                out,
                "    link/ether {} brd ff:ff:ff:ff:ff:ff",
                mac_str(&l.mac)
            );
            if let Some(ns) = &l.link_netns {
                let _ = write!(out, " link-netns {ns}");
            }
            out.push('\n');
        }
        // The fallback device's dev_addr and broadcast are its (zero) tunnel endpoints.
        LinkKind::Ipip => out.push_str("    link/ipip 0.0.0.0 brd 0.0.0.0\n"),
    }

    for (i, a) in l.addrs.iter().enumerate() {
        let secondary = l.addrs[..i].iter().any(|p| same_subnet(p, a));
        let _ = write!(out, "    inet {}/{} ", a.addr, a.len);
        if let Some(b) = a.brd {
            let _ = write!(out, "brd {b} ");
        }
        let _ = write!(out, "scope {} ", scope_name(a.scope));
        if secondary {
            out.push_str("secondary ");
        }
        let _ = writeln!(out, "{}", l.name);
        out.push_str("       valid_lft forever preferred_lft forever\n");
    }
}

/// Same mask and same network: the kernel then marks the later address IFA_F_SECONDARY.
fn same_subnet(a: &AddrView, b: &AddrView) -> bool {
    a.len == b.len && Ipv4Net::new(a.addr, a.len).contains(b.addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iproute::{parse_route, RouteSpec};
    use crate::netns::fib::{RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE};
    use std::net::Ipv4Addr;

    const DEVS: &[(u32, &str)] = &[
        (1, "lo"),
        (2, "d0"),
        (3, "d1"),
        (4, "eth0"),
        (5, "tunl0"),
        (6, "cali1"),
        (7, "vxlan.calico"),
        (8, "flannel.1"),
        (9, "ens192"),
    ];

    fn names(i: u32) -> String {
        DEVS.iter()
            .find(|(x, _)| *x == i)
            .map_or("?".to_string(), |(_, n)| n.to_string())
    }

    /// What the netns does with a spec (R1.7's iproute2 defaults), enough for printing.
    fn route_of(s: &RouteSpec) -> Route {
        let scope = s.scope.unwrap_or(match s.rtype {
            RouteType::Local => RT_SCOPE_HOST,
            RouteType::Broadcast => RT_SCOPE_LINK,
            RouteType::Unicast if s.gateway.is_none() => RT_SCOPE_LINK,
            _ => RT_SCOPE_UNIVERSE,
        });
        let table = s.table.unwrap_or(match s.rtype {
            RouteType::Local | RouteType::Broadcast => RT_TABLE_LOCAL,
            _ => RT_TABLE_MAIN,
        });
        Route {
            table,
            dst: s.dst,
            rtype: s.rtype,
            tos: s.tos,
            gateway: s.gateway,
            dev: s
                .dev
                .as_ref()
                .map(|d| DEVS.iter().find(|(_, n)| n == d).unwrap().0),
            proto: s.proto.unwrap_or(RTPROT_BOOT),
            scope,
            prefsrc: s.prefsrc,
            metric: s.metric.unwrap_or(0),
            onlink: s.onlink,
            nh_scope: if s.gateway.is_some() {
                RT_SCOPE_LINK
            } else {
                RT_SCOPE_HOST
            },
        }
    }

    /// `ip route add ARGS` then `ip route show`.
    fn add_then_show(args: &str) -> String {
        format_route(&route_of(&parse_route(args).unwrap()), &names)
    }

    #[test]
    fn verified_main_table_lines_round_trip() {
        // (what was typed after `ip route add`, what `ip route show` printed), §1.7.
        for (cmd, shown) in [
            (
                "default via 192.0.2.1 dev d0",
                "default via 192.0.2.1 dev d0 ",
            ),
            (
                "10.1.0.0/16 via 192.0.2.3 dev d0 metric 50",
                "10.1.0.0/16 via 192.0.2.3 dev d0 metric 50 ",
            ),
            (
                "10.1.0.0/16 via 192.0.2.2 dev d0 metric 100",
                "10.1.0.0/16 via 192.0.2.2 dev d0 metric 100 ",
            ),
            (
                "10.2.0.0/16 via 10.99.99.1 dev d0 proto bird onlink",
                "10.2.0.0/16 via 10.99.99.1 dev d0 proto bird onlink ",
            ),
            (
                "10.3.0.0/16 dev d0 proto static",
                "10.3.0.0/16 dev d0 proto static scope link ",
            ),
            (
                "10.4.0.5 dev d0 proto dhcp",
                "10.4.0.5 dev d0 proto dhcp scope link ",
            ),
            ("blackhole 10.6.0.0/16", "blackhole 10.6.0.0/16 "),
            ("unreachable 10.7.0.0/16", "unreachable 10.7.0.0/16 "),
            ("prohibit 10.8.0.0/16", "prohibit 10.8.0.0/16 "),
            ("throw 10.9.0.0/16", "throw 10.9.0.0/16 "),
            (
                "10.11.0.0/16 dev d0 src 198.51.100.7",
                "10.11.0.0/16 dev d0 scope link src 198.51.100.7 ",
            ),
            (
                "10.15.0.0/24 dev d0 proto 80 metric 5",
                "10.15.0.0/24 dev d0 proto 80 scope link metric 5 ",
            ),
            (
                "blackhole 10.42.1.0/24 proto bird",
                "blackhole 10.42.1.0/24 proto bird ",
            ),
            (
                "10.42.1.11 dev cali1 scope link",
                "10.42.1.11 dev cali1 scope link ",
            ),
            ("10.42.1.11 dev cali1", "10.42.1.11 dev cali1 scope link "),
            (
                "10.42.2.0/24 via 10.211.55.6 dev tunl0 proto bird onlink",
                "10.42.2.0/24 via 10.211.55.6 dev tunl0 proto bird onlink ",
            ),
            (
                "10.42.2.0/24 via 10.42.2.0 dev vxlan.calico proto 80 onlink",
                "10.42.2.0/24 via 10.42.2.0 dev vxlan.calico proto 80 onlink ",
            ),
            (
                "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
                "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink ",
            ),
            // R1.7: an explicit `scope global` on a dev route prints no scope.
            ("10.13.0.0/16 dev d0 scope global", "10.13.0.0/16 dev d0 "),
            // The kernel's connected routes (R1.13), written out by hand.
            (
                "192.0.2.0/24 dev d0 proto kernel scope link src 192.0.2.10",
                "192.0.2.0/24 dev d0 proto kernel scope link src 192.0.2.10 ",
            ),
        ] {
            assert_eq!(add_then_show(cmd), shown, "ip route add {cmd}");
        }
    }

    #[test]
    fn linkdown_lines() {
        // R1.12: a nexthop device without carrier; not a Route field, hence route_line().
        let r = route_of(&parse_route("10.10.0.0/16 via 203.0.113.1 dev d1").unwrap());
        assert_eq!(
            route_line(&r, &names, true),
            "10.10.0.0/16 via 203.0.113.1 dev d1 linkdown "
        );
        let r = route_of(
            &parse_route("203.0.113.0/24 dev d1 proto kernel scope link src 203.0.113.5").unwrap(),
        );
        assert_eq!(
            route_line(&r, &names, true),
            "203.0.113.0/24 dev d1 proto kernel scope link src 203.0.113.5 linkdown "
        );
    }

    #[test]
    fn verified_local_table_lines() {
        // `ip route show table local` never prints `table local`.
        for (cmd, shown) in [
            (
                "local 10.42.1.0 dev vxlan.calico proto kernel src 10.42.1.0",
                "local 10.42.1.0 dev vxlan.calico proto kernel scope host src 10.42.1.0 ",
            ),
            (
                "local 10.211.55.5 dev eth0 proto kernel src 10.211.55.5",
                "local 10.211.55.5 dev eth0 proto kernel scope host src 10.211.55.5 ",
            ),
            (
                "broadcast 10.211.55.255 dev eth0 proto kernel src 10.211.55.5",
                "broadcast 10.211.55.255 dev eth0 proto kernel scope link src 10.211.55.5 ",
            ),
            (
                "local 127.0.0.0/8 dev lo proto kernel src 127.0.0.1",
                "local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1 ",
            ),
            (
                "local 127.0.0.1 dev lo proto kernel src 127.0.0.1",
                "local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 ",
            ),
            (
                "broadcast 127.255.255.255 dev lo proto kernel src 127.0.0.1",
                "broadcast 127.255.255.255 dev lo proto kernel scope link src 127.0.0.1 ",
            ),
        ] {
            let r = route_of(&parse_route(cmd).unwrap());
            assert_eq!(r.table, RT_TABLE_LOCAL);
            assert_eq!(format_route(&r, &names), shown, "ip route add {cmd}");
        }
    }

    #[test]
    fn other_tokens() {
        assert_eq!(
            add_then_show("10/8 dev d0 table 100"),
            "10.0.0.0/8 dev d0 table 100 scope link "
        );
        assert_eq!(
            add_then_show("10/8 dev d0 table default"),
            "10.0.0.0/8 dev d0 table default scope link "
        );
        assert_eq!(
            add_then_show("10/8 via 192.0.2.1 tos 0x10"),
            "10.0.0.0/8 tos 0x10 via 192.0.2.1 "
        );
        assert_eq!(
            add_then_show("10/8 dev d0 scope 7 proto 0"),
            "10.0.0.0/8 dev d0 proto unspec scope 7 "
        );
        assert_eq!(
            add_then_show("10/8 dev d0 scope site proto 250"),
            "10.0.0.0/8 dev d0 proto 250 scope site "
        );
        assert_eq!(
            add_then_show("unicast 10/8 dev d0 scope host"),
            "10.0.0.0/8 dev d0 scope host "
        );
        assert_eq!(
            add_then_show("0.0.0.0/32 dev d0"),
            "0.0.0.0 dev d0 scope link "
        );
        // Error types print no nexthop even if one slipped into the Route.
        let mut r = route_of(&parse_route("unreachable 10.7.0.0/16").unwrap());
        r.dev = Some(2);
        r.gateway = Some(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(format_route(&r, &names), "unreachable 10.7.0.0/16 ");
    }

    #[test]
    fn verified_route_n_rows() {
        let cmds = [
            "default via 10.211.55.1 dev eth0",
            "blackhole 10.42.1.0/24 proto bird",
            "10.42.1.11 dev cali1 scope link",
            "10.42.2.0/24 via 10.211.55.6 dev tunl0 proto bird onlink",
            "10.42.2.0/24 via 10.42.2.0 dev vxlan.calico proto 80 onlink",
            "unreachable 10.7.0.0/16",
            "169.254.1.1 dev eth0",
            // seed 004: a DHCP default with a metric.
            "default via 10.7.0.1 dev ens192 proto dhcp metric 100",
            "throw 10.9.0.0/16",
            "prohibit 10.8.0.5",
        ];
        let routes: Vec<Route> = cmds
            .iter()
            .map(|c| route_of(&parse_route(c).unwrap()))
            .collect();
        let refs: Vec<&Route> = routes.iter().collect();
        let expected = "Kernel IP routing table\n\
Destination     Gateway         Genmask         Flags Metric Ref    Use Iface\n\
0.0.0.0         10.211.55.1     0.0.0.0         UG    0      0        0 eth0\n\
10.42.1.0       0.0.0.0         255.255.255.0   U     0      0        0 *\n\
10.42.1.11      0.0.0.0         255.255.255.255 UH    0      0        0 cali1\n\
10.42.2.0       10.211.55.6     255.255.255.0   UG    0      0        0 tunl0\n\
10.42.2.0       10.42.2.0       255.255.255.0   UG    0      0        0 vxlan.calico\n\
10.7.0.0        -               255.255.0.0     !     0      -        0 -\n\
169.254.1.1     0.0.0.0         255.255.255.255 UH    0      0        0 eth0\n\
0.0.0.0         10.7.0.1        0.0.0.0         UG    100    0        0 ens192\n\
10.9.0.0        0.0.0.0         255.255.0.0     U     0      0        0 *\n\
10.8.0.5        -               255.255.255.255 !H    0      -        0 -\n";
        assert_eq!(format_route_n(&refs, &names), expected);
        // Empty table: just the header; broadcast routes never appear.
        let b = route_of(&parse_route("broadcast 10.0.0.255 dev d0").unwrap());
        assert_eq!(format_route_n(&[&b], &names), ROUTE_N_HEADER);
    }

    fn nv(ip: &str, dev: &str, mac: Option<[u8; 6]>, state: NudState) -> NeighView {
        NeighView {
            ip: ip.parse().unwrap(),
            dev: dev.into(),
            lladdr: mac,
            state,
        }
    }

    #[test]
    fn verified_neigh_lines() {
        let entries = [
            nv(
                "10.42.2.0",
                "vxlan.calico",
                Some([0x66, 0, 0, 0, 0, 2]),
                NudState::Permanent,
            ),
            nv(
                "10.244.1.3",
                "eth0",
                Some([0xe2, 0x69, 0x35, 0xa0, 0x67, 0x76]),
                NudState::Reachable,
            ),
            nv(
                "192.0.2.1",
                "eth0",
                Some([0xe2, 0x3a, 0x37, 0xce, 0x59, 0x8a]),
                NudState::Stale,
            ),
            nv("192.0.2.77", "eth0", None, NudState::Incomplete),
            nv("198.51.100.99", "r1", None, NudState::Failed),
            // Hidden by the default filter.
            nv("10.42.2.11", "tunl0", None, NudState::Noarp),
            nv("10.0.0.9", "eth0", None, NudState::None),
            // A FAILED entry keeps its old MAC in the kernel but does not dump it.
            nv("10.0.0.10", "eth0", Some([1; 6]), NudState::Failed),
            nv("10.0.0.11", "eth0", Some([0xee; 6]), NudState::Delay),
            nv("10.0.0.12", "eth0", Some([0xee; 6]), NudState::Probe),
        ];
        assert_eq!(
            format_neigh(&entries),
            "10.42.2.0 dev vxlan.calico lladdr 66:00:00:00:00:02 PERMANENT \n\
10.244.1.3 dev eth0 lladdr e2:69:35:a0:67:76 REACHABLE \n\
192.0.2.1 dev eth0 lladdr e2:3a:37:ce:59:8a STALE \n\
192.0.2.77 dev eth0 INCOMPLETE \n\
198.51.100.99 dev r1 FAILED \n\
10.0.0.10 dev eth0 FAILED \n\
10.0.0.11 dev eth0 lladdr ee:ee:ee:ee:ee:ee DELAY \n\
10.0.0.12 dev eth0 lladdr ee:ee:ee:ee:ee:ee PROBE \n"
        );
        assert_eq!(format_neigh(&[]), "");
    }

    fn av(a: &str, len: u8, scope: u8) -> AddrView {
        AddrView {
            addr: a.parse().unwrap(),
            len,
            scope,
            brd: None,
        }
    }

    fn lo() -> LinkView {
        LinkView {
            ifindex: 1,
            name: "lo".into(),
            kind: LinkKind::Loopback,
            peer_ifindex: None,
            link_netns: None,
            master: None,
            admin_up: true,
            carrier: true,
            mtu: 65536,
            mac: [0; 6],
            addrs: vec![av("127.0.0.1", 8, RT_SCOPE_HOST)],
        }
    }

    fn pod_eth0() -> LinkView {
        LinkView {
            ifindex: 2,
            name: "eth0".into(),
            kind: LinkKind::Ether,
            peer_ifindex: Some(3),
            link_netns: Some("node1".into()),
            master: None,
            admin_up: true,
            carrier: true,
            mtu: 1500,
            mac: [0x0a, 0x58, 0x0a, 0x2a, 0x01, 0x0b],
            addrs: vec![av("10.42.1.11", 32, RT_SCOPE_UNIVERSE)],
        }
    }

    fn tunl0() -> LinkView {
        LinkView {
            ifindex: 3,
            name: "tunl0".into(),
            kind: LinkKind::Ipip,
            peer_ifindex: None,
            link_netns: None,
            master: None,
            admin_up: true,
            carrier: true,
            mtu: 1480,
            mac: [0; 6],
            addrs: vec![av("10.42.1.0", 32, RT_SCOPE_UNIVERSE)],
        }
    }

    #[test]
    fn addr_example_from_the_brief() {
        assert_eq!(
            format_addr(&[lo(), pod_eth0(), tunl0()]),
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
2: eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    link/ether 0a:58:0a:2a:01:0b brd ff:ff:ff:ff:ff:ff link-netns node1
    inet 10.42.1.11/32 scope global eth0
       valid_lft forever preferred_lft forever
3: tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1480 qdisc noqueue state UNKNOWN group default qlen 1000
    link/ipip 0.0.0.0 brd 0.0.0.0
    inet 10.42.1.0/32 scope global tunl0
       valid_lft forever preferred_lft forever
"
        );
    }

    #[test]
    fn addr_down_and_carrierless_devices() {
        // A fresh netns: lo and tunl0 down, no addresses (seed 000, R9.1).
        let mut l = lo();
        l.admin_up = false;
        l.addrs.clear();
        let mut t = tunl0();
        t.admin_up = false;
        t.addrs.clear();
        t.ifindex = 2;
        assert_eq!(
            format_addr(&[l, t]),
            "1: lo: <LOOPBACK> mtu 65536 qdisc noop state DOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: tunl0@NONE: <NOARP> mtu 1480 qdisc noop state DOWN group default qlen 1000
    link/ipip 0.0.0.0 brd 0.0.0.0
"
        );
        // A veth whose peer is down: up, no carrier.
        let mut e = pod_eth0();
        e.carrier = false;
        let out = format_addr(&[e.clone()]);
        assert_eq!(
            out.lines().next().unwrap(),
            "2: eth0@if3: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default qlen 1000"
        );
        // Set down itself: no UP, noop, DOWN; the address is still listed.
        e.admin_up = false;
        assert_eq!(
            format_addr(&[e]),
            "2: eth0@if3: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default qlen 1000
    link/ether 0a:58:0a:2a:01:0b brd ff:ff:ff:ff:ff:ff link-netns node1
    inet 10.42.1.11/32 scope global eth0
       valid_lft forever preferred_lft forever
"
        );
    }

    #[test]
    fn addr_brd_secondary_and_same_netns_peer() {
        let mut eth = pod_eth0();
        eth.ifindex = 4;
        eth.peer_ifindex = Some(5);
        eth.link_netns = None;
        eth.mac = [0x52, 0x54, 0, 0, 0x55, 0x05];
        eth.addrs = vec![
            AddrView {
                brd: Some(Ipv4Addr::new(10, 211, 55, 255)),
                ..av("10.211.55.5", 24, RT_SCOPE_UNIVERSE)
            },
            av("10.211.55.9", 24, RT_SCOPE_UNIVERSE),
            av("10.211.56.1", 24, RT_SCOPE_UNIVERSE),
            av("169.254.0.1", 16, RT_SCOPE_LINK),
        ];
        let mut peer = pod_eth0();
        peer.ifindex = 5;
        peer.name = "veth-peer".into();
        peer.peer_ifindex = Some(4);
        peer.link_netns = None;
        peer.addrs.clear();
        assert_eq!(
            format_addr(&[eth, peer]),
            "4: eth0@veth-peer: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    link/ether 52:54:00:00:55:05 brd ff:ff:ff:ff:ff:ff
    inet 10.211.55.5/24 brd 10.211.55.255 scope global eth0
       valid_lft forever preferred_lft forever
    inet 10.211.55.9/24 scope global secondary eth0
       valid_lft forever preferred_lft forever
    inet 10.211.56.1/24 scope global eth0
       valid_lft forever preferred_lft forever
    inet 169.254.0.1/16 scope link eth0
       valid_lft forever preferred_lft forever
5: veth-peer@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    link/ether 0a:58:0a:2a:01:0b brd ff:ff:ff:ff:ff:ff
"
        );
    }

    #[test]
    fn addr_peerless_ether_is_unknown_like_vxlan() {
        // seed 002: `vxlan.calico: <BROADCAST,MULTICAST,UP,LOWER_UP> ... state UNKNOWN`.
        let mut v = pod_eth0();
        v.ifindex = 7;
        v.name = "vxlan.calico".into();
        v.peer_ifindex = None;
        v.link_netns = None;
        v.mtu = 1450;
        v.addrs.clear();
        assert_eq!(
            format_addr(&[v]).lines().next().unwrap(),
            "7: vxlan.calico: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN group default qlen 1000"
        );
    }
}
