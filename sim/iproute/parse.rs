//! Command lines as users paste them (`ip route add ...`, `ip neigh add ...`, `ip addr add ...`,
//! `ip link set ...`, `sysctl -w ...`, `echo 1 > /proc/sys/...`) parsed into [`Command`]s the
//! way iproute2 6.1 (`ip/iproute.c`, `ip/ipneigh.c`, `ip/ipaddress.c`, `ip/iplink.c`,
//! `lib/utils.c`) parses them: same keyword abbreviations (`matches()`), same number syntax
//! (`strtoul(.., 0)`), same error text where iproute2 has one. Nothing here looks at a netns:
//! device names stay names and unset fields stay `None` for the netns to default (R1.7).

use super::{Command, FdbCmd, NeighSpec, RouteSpec};
use crate::netns::fib::{mask, Ipv4Net, RouteType, RT_TABLE_MAIN};
use crate::netns::neigh::NudState;
use std::fmt;
use std::net::Ipv4Addr;

/// A line that iproute2 (or the simulator) refuses; `msg` reads like the tool's own stderr.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ParseError {
    pub msg: String,
}

impl ParseError {
    pub(super) fn new(msg: impl Into<String>) -> Self {
        ParseError { msg: msg.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------------------------
// iproute2's error texts (lib/utils.c), without the trailing newline.

/// `invarg()`: a keyword's value is bad.
fn invarg(msg: &str, arg: &str) -> ParseError {
    ParseError::new(format!("Error: argument \"{arg}\" is wrong: {msg}"))
}

/// `duparg()`: a keyword given twice.
fn duparg(key: &str, arg: &str) -> ParseError {
    ParseError::new(format!(
        "Error: duplicate \"{key}\": \"{arg}\" is the second value."
    ))
}

/// `duparg2()`: a second positional value, i.e. an unknown word after the destination.
fn duparg2(key: &str, arg: &str) -> ParseError {
    ParseError::new(format!(
        "Error: either \"{key}\" is duplicate, or \"{arg}\" is a garbage."
    ))
}

/// `NEXT_ARG()` ran off the end of the line.
fn incomplete() -> ParseError {
    ParseError::new("Command line is not complete. Try option \"help\"")
}

/// A keyword iproute2 knows but the simulator does not model.
fn unsupported(ctx: &str, tok: &str) -> ParseError {
    ParseError::new(format!(
        "Error: \"{tok}\" is not supported by the simulator in \"{ctx}\"."
    ))
}

// ---------------------------------------------------------------------------------------------
// Words and numbers.

/// Splits a line into words like a POSIX shell: quotes and backslashes, `#` comments; an
/// unquoted `>` is a word of its own (for `echo 1 >/proc/...`). Pipes, lists and expansions
/// are refused: the simulator runs one command per line, not a shell.
pub fn split_words(line: &str) -> Result<Vec<String>, ParseError> {
    // Most lines (every route a cluster preset writes) have no shell syntax at all: plain
    // whitespace splitting gives the same words.
    let special = |c: char| {
        matches!(
            c,
            '\'' | '"' | '\\' | '#' | '>' | '|' | ';' | '&' | '<' | '(' | ')' | '$' | '`'
        )
    };
    if !line.contains(special) {
        return Ok(line.split_ascii_whitespace().map(str::to_string).collect());
    }
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(ParseError::new("Error: unterminated ' quote.")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&n) if matches!(n, '"' | '\\' | '$' | '`') => {
                                cur.push(n);
                                chars.next();
                            }
                            _ => cur.push('\\'),
                        },
                        Some('$') | Some('`') => {
                            return Err(ParseError::new(
                                "Error: shell expansions ($, `) are not supported.",
                            ))
                        }
                        Some(ch) => cur.push(ch),
                        None => return Err(ParseError::new("Error: unterminated \" quote.")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(ch) => cur.push(ch),
                }
            }
            '#' if !in_word => break,
            '>' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                words.push(">".to_string());
            }
            '|' | ';' | '&' | '<' | '(' | ')' => {
                return Err(ParseError::new(format!(
                    "Error: shell operator \"{c}\" is not supported; give one command per line."
                )))
            }
            '$' | '`' => {
                return Err(ParseError::new(
                    "Error: shell expansions ($, `) are not supported.",
                ))
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// iproute2's `matches(word, keyword) == 0`: `word` is a non-empty prefix of `keyword`.
fn matches(word: &str, keyword: &str) -> bool {
    !word.is_empty() && keyword.starts_with(word)
}

/// The leading unsigned number of `s`, as C `strtoul(s, &end, base)` reads it: base 0 takes
/// `0x` as hex and a leading `0` as octal; base 16 allows a `0x`. `None` when no digit was read;
/// saturates instead of wrapping. Returns the value and the unread rest.
pub(super) fn strtoul_prefix(s: &str, base: u32) -> Option<(u64, &str)> {
    let b = s.as_bytes();
    let hex_prefix =
        b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b[2].is_ascii_hexdigit();
    let (radix, start) = match base {
        0 if hex_prefix => (16, 2),
        0 if b.first() == Some(&b'0') => (8, 0),
        0 => (10, 0),
        16 if hex_prefix => (16, 2),
        r => (r, 0),
    };
    let rest = &s[start..];
    let n = rest.chars().take_while(|c| c.is_digit(radix)).count();
    if n == 0 {
        return None;
    }
    let mut v: u64 = 0;
    for c in rest[..n].chars() {
        let d = u64::from(c.to_digit(radix).unwrap_or(0));
        v = v.saturating_mul(u64::from(radix)).saturating_add(d);
    }
    Some((v, &rest[n..]))
}

/// `strtoul` over the whole word (`get_unsigned`/`get_u32` style: no trailing characters).
pub(super) fn strtoul_full(s: &str, base: u32) -> Option<u64> {
    match strtoul_prefix(s, base) {
        Some((v, "")) => Some(v),
        _ => None,
    }
}

/// `get_u32(.., 0)`.
fn get_u32(s: &str) -> Option<u32> {
    strtoul_full(s, 0).and_then(|v| u32::try_from(v).ok())
}

/// iproute2's `get_addr_ipv4()`: up to four dotted parts in any `strtoul` base, filled from the
/// left (`10.8` is 10.8.0.0, the "legacy choice" the source comments on).
fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut cp = s;
    for (i, o) in octets.iter_mut().enumerate() {
        let (n, end) = strtoul_prefix(cp, 0)?;
        *o = u8::try_from(n).ok()?;
        if end.is_empty() {
            return Some(Ipv4Addr::from(octets));
        }
        if i == 3 || !end.starts_with('.') {
            return None;
        }
        cp = &end[1..];
    }
    None
}

/// The address family iproute2 has settled on so far (`req.r.rtm_family`), which picks the
/// wording of its errors ("any valid" vs "inet").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    Unspec,
    Inet,
}

impl Family {
    /// `family_name_verbose()`.
    fn verbose(self) -> &'static str {
        match self {
            Family::Unspec => "any valid",
            Family::Inet => "inet",
        }
    }
}

/// A parsed `get_prefix()` argument.
#[derive(Clone, Copy, Debug)]
struct Prefix {
    addr: Ipv4Addr,
    len: u8,
    /// `default`/`any`/`all`: no family, so a later `via` still says "any valid".
    wildcard: bool,
}

fn ipv6_refused(arg: &str) -> ParseError {
    ParseError::new(format!(
        "Error: IPv6 is not modelled by the simulator: \"{arg}\"."
    ))
}

/// `get_prefix()`: `A.B.C.D[/LEN|/MASK]`, `default`, `any`, `all`. A bare address is /32.
/// Host bits are kept: the kernel, not iproute2, rejects them (see [`check_host_bits`]).
fn get_prefix(arg: &str, family: Family) -> Result<Prefix, ParseError> {
    let bad = || {
        ParseError::new(format!(
            "Error: {} prefix is expected rather than \"{arg}\".",
            family.verbose()
        ))
    };
    let (a, slash) = match arg.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (arg, None),
    };
    if matches!(a, "default" | "any" | "all") {
        if slash.is_some() {
            return Err(bad());
        }
        return Ok(Prefix {
            addr: Ipv4Addr::UNSPECIFIED,
            len: 0,
            wildcard: true,
        });
    }
    if a.contains(':') {
        return Err(if family == Family::Inet {
            bad()
        } else {
            ipv6_refused(arg)
        });
    }
    let addr = parse_ipv4(a).ok_or_else(bad)?;
    let len = match slash {
        None => 32,
        Some(l) => get_netmask(l).filter(|&l| l <= 32).ok_or_else(bad)?,
    };
    Ok(Prefix {
        addr,
        len: len as u8,
        wildcard: false,
    })
}

/// `get_netmask()`: a length in any `strtoul` base, or a dotted contiguous mask.
fn get_netmask(s: &str) -> Option<u32> {
    if let Some(v) = strtoul_full(s, 0) {
        return u32::try_from(v).ok();
    }
    let m = u32::from(parse_ipv4(s)?);
    (m.leading_ones() + m.trailing_zeros() == 32).then_some(m.leading_ones())
}

/// `get_addr()`: one IPv4 address (no wildcards: a gateway or source must be real).
fn get_addr(arg: &str, family: Family) -> Result<Ipv4Addr, ParseError> {
    if arg.contains(':') && family == Family::Unspec {
        return Err(ipv6_refused(arg));
    }
    parse_ipv4(arg).ok_or_else(|| {
        ParseError::new(format!(
            "Error: {} address is expected rather than \"{arg}\".",
            family.verbose()
        ))
    })
}

/// The kernel's `rtm_to_fib_config()` check (R1: `ip route add 10.1.2.3/24` is refused).
fn check_host_bits(p: &Prefix) -> Result<Ipv4Net, ParseError> {
    if u32::from(p.addr) & !mask(p.len) != 0 {
        return Err(ParseError::new(
            "Error: Invalid prefix for given prefix length.",
        ));
    }
    Ok(Ipv4Net::new(p.addr, p.len))
}

/// Walks a word list the way iproute2's `argc/argv` loops do.
struct Cursor<'a> {
    words: &'a [String],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(words: &'a [String]) -> Self {
        Cursor { words, pos: 0 }
    }
    fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some(w.as_str())
    }
    /// `NEXT_ARG()`: the keyword's value, or "Command line is not complete".
    fn value(&mut self) -> Result<&'a str, ParseError> {
        self.next().ok_or_else(incomplete)
    }
}

// ---------------------------------------------------------------------------------------------
// Name tables (lib/rt_names.c plus the /etc/iproute2 files of iproute2 6.1).

/// `/etc/iproute2/rt_protos`, as listed in the reference §1.6.
pub(crate) const RT_PROTOS: &[(u8, &str)] = &[
    (0, "unspec"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
    (18, "keepalived"),
    (42, "babel"),
    (99, "openr"),
    (186, "bgp"),
    (187, "isis"),
    (188, "ospf"),
    (189, "rip"),
    (192, "eigrp"),
];

/// `rtnl_rtscope_tab` (`/etc/iproute2/rt_scopes`).
pub(crate) const RT_SCOPES: &[(u8, &str)] = &[
    (0, "global"),
    (200, "site"),
    (253, "link"),
    (254, "host"),
    (255, "nowhere"),
];

/// `rtnl_rttable_tab` (`/etc/iproute2/rt_tables`).
pub(crate) const RT_TABLES: &[(u32, &str)] = &[
    (0, "unspec"),
    (253, "default"),
    (254, "main"),
    (255, "local"),
];

/// Names `tos`/`dsfield` accepts (the classic `/etc/iproute2/rt_dsfield` words).
const RT_DSFIELD: &[(u8, &str)] = &[
    (0x00, "default"),
    (0x10, "lowdelay"),
    (0x08, "throughput"),
    (0x04, "reliability"),
    (0x02, "mincost"),
    (0x20, "priority"),
    (0x40, "immediate"),
    (0x60, "flash"),
    (0x80, "flash-override"),
    (0xa0, "critical"),
    (0xc0, "internet"),
    (0xe0, "network"),
];

/// `rtnl_rtprot_a2n()`: a name from the table or a number 0..=255.
fn rtprot_a2n(s: &str) -> Option<u8> {
    RT_PROTOS
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(v, _)| *v)
        .or_else(|| strtoul_full(s, 0).and_then(|v| u8::try_from(v).ok()))
}

/// `rtnl_rtscope_a2n()`.
fn rtscope_a2n(s: &str) -> Option<u8> {
    RT_SCOPES
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(v, _)| *v)
        .or_else(|| strtoul_full(s, 0).and_then(|v| u8::try_from(v).ok()))
}

/// `rtnl_rttable_a2n()`: any u32 table id. Table 0 is main, as `fib_new_table()` makes it.
fn rttable_a2n(s: &str) -> Option<u32> {
    let id = RT_TABLES
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(v, _)| *v)
        .or_else(|| get_u32(s))?;
    Some(if id == 0 { RT_TABLE_MAIN } else { id })
}

/// `rtnl_dsfield_a2n()`: a name, or a number read in **hex** (`tos 10` is 0x10).
fn dsfield_a2n(s: &str) -> Option<u8> {
    RT_DSFIELD
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(v, _)| *v)
        .or_else(|| strtoul_full(s, 16).and_then(|v| u8::try_from(v).ok()))
}

/// What `rtnl_rtntype_a2n()` makes of a word, in its order (so `b` is broadcast, `bl`
/// blackhole, `u` unreachable, `uni` unicast).
enum TypeWord {
    Known(RouteType),
    Unmodelled(&'static str),
}

fn rtntype_a2n(s: &str) -> Option<TypeWord> {
    use TypeWord::*;
    Some(if s == "local" {
        Known(RouteType::Local)
    } else if s == "nat" {
        Unmodelled("nat")
    } else if matches(s, "broadcast") || s == "brd" {
        Known(RouteType::Broadcast)
    } else if matches(s, "anycast") {
        Unmodelled("anycast")
    } else if matches(s, "multicast") {
        Unmodelled("multicast")
    } else if matches(s, "prohibit") {
        Known(RouteType::Prohibit)
    } else if matches(s, "unreachable") {
        Known(RouteType::Unreachable)
    } else if matches(s, "blackhole") {
        Known(RouteType::Blackhole)
    } else if matches(s, "xresolve") {
        Unmodelled("xresolve")
    } else if matches(s, "unicast") {
        Known(RouteType::Unicast)
    } else if s == "throw" {
        Known(RouteType::Throw)
    } else {
        return None;
    })
}

// ---------------------------------------------------------------------------------------------
// ip route

/// Parses what follows `ip route add|append|replace|change|del`, as `iproute_modify()` does.
/// Examples: `10.42.2.0/24 via 10.211.55.6 dev tunl0 proto bird onlink`,
/// `blackhole 10.42.1.0/24 proto bird`, `default via 169.254.1.1 dev eth0`,
/// `10.1.0.0/16 via 192.0.2.2 dev d0 metric 100`. Unset fields stay `None`; host bits in the
/// prefix are refused as the kernel refuses them; `nexthop` (multipath) is not modelled.
pub fn parse_route(args: &str) -> Result<RouteSpec, ParseError> {
    parse_route_words(&split_words(args)?)
}

fn parse_route_words(words: &[String]) -> Result<RouteSpec, ParseError> {
    const CTX: &str = "ip route";
    let mut c = Cursor::new(words);
    let mut family = Family::Unspec;
    let mut spec = RouteSpec {
        rtype: RouteType::Unicast,
        dst: Ipv4Net::default(),
        tos: 0,
        gateway: None,
        dev: None,
        proto: None,
        scope: None,
        prefsrc: None,
        metric: None,
        onlink: false,
        table: None,
    };
    let mut dst: Option<Prefix> = None;
    // The keyword chain of iproute2 6.1 `iproute_modify()`, in its order: abbreviations
    // resolve to the first keyword they prefix.
    while let Some(t) = c.next() {
        if t == "src" {
            let v = c.value()?;
            spec.prefsrc = Some(get_addr(v, family)?);
            family = Family::Inet;
        } else if t == "via" {
            if spec.gateway.is_some() {
                return Err(invarg("use nexthop syntax to specify multiple via", t));
            }
            let mut v = c.value()?;
            let mut fam = family;
            match v {
                "inet" => {
                    v = c.value()?;
                    fam = Family::Inet;
                }
                "inet6" | "link" | "ipx" | "mpls" | "bridge" => {
                    return Err(unsupported(CTX, &format!("via {v}")))
                }
                _ => {}
            }
            spec.gateway = Some(get_addr(v, fam)?);
            family = Family::Inet;
        } else if t == "tos" || matches(t, "dsfield") {
            let v = c.value()?;
            spec.tos = dsfield_a2n(v).ok_or_else(|| invarg("\"tos\" value is invalid", v))?;
        } else if matches(t, "metric") || matches(t, "priority") || t == "preference" {
            let v = c.value()?;
            spec.metric = Some(get_u32(v).ok_or_else(|| invarg("\"metric\" value is invalid", v))?);
        } else if t == "scope" {
            let v = c.value()?;
            spec.scope = Some(rtscope_a2n(v).ok_or_else(|| invarg("invalid \"scope\" value", v))?);
        } else if t == "onlink" {
            spec.onlink = true;
        } else if t == "nexthop" {
            return Err(ParseError::new(
                "Error: multipath routes (\"nexthop\") are not supported by the simulator.",
            ));
        } else if matches(t, "protocol") {
            let v = c.value()?;
            spec.proto =
                Some(rtprot_a2n(v).ok_or_else(|| invarg("\"protocol\" value is invalid", v))?);
        } else if matches(t, "table") {
            let v = c.value()?;
            spec.table =
                Some(rttable_a2n(v).ok_or_else(|| invarg("\"table\" value is invalid", v))?);
        } else if t == "dev" || t == "oif" {
            spec.dev = Some(c.value()?.to_string());
        } else if is_unmodelled_route_keyword(t) {
            return Err(unsupported(CTX, t));
        } else {
            // The positional branch: [to] [TYPE] PREFIX.
            let mut w = t;
            if w == "to" {
                w = c.value()?;
            }
            if !w.starts_with(|ch: char| ch.is_ascii_digit()) {
                match rtntype_a2n(w) {
                    Some(TypeWord::Known(ty)) => {
                        spec.rtype = ty;
                        w = c.value()?;
                    }
                    Some(TypeWord::Unmodelled(name)) => {
                        return Err(ParseError::new(format!(
                            "Error: route type \"{name}\" is not supported by the simulator."
                        )))
                    }
                    None => {}
                }
            }
            if matches(w, "help") {
                return Err(unsupported(CTX, w));
            }
            if dst.is_some() {
                return Err(duparg2("to", w));
            }
            let p = get_prefix(w, family)?;
            if !p.wildcard {
                family = Family::Inet;
            }
            dst = Some(p);
        }
    }
    let Some(p) = dst else {
        return Err(ParseError::new(
            "Error: a destination is required: ip route add [TYPE] PREFIX [via GW] [dev DEV] ...",
        ));
    };
    spec.dst = check_host_bits(&p)?;
    Ok(spec)
}

/// Keywords `iproute_modify()` knows that the simulator does not model (route metrics,
/// policy routing, encapsulation, nexthop objects, ...), matched as iproute2 matches them.
fn is_unmodelled_route_keyword(t: &str) -> bool {
    const EXACT: &[&str] = &[
        "as",
        "from",
        "expires",
        "mtu",
        "hoplimit",
        "advmss",
        "rtt",
        "rto_min",
        "nhid",
        "encap",
        "ttl-propagate",
    ];
    const PREFIX: &[&str] = &[
        "reordering",
        "window",
        "cwnd",
        "initcwnd",
        "initrwnd",
        "features",
        "quickack",
        "congctl",
        "rttvar",
        "ssthresh",
        "realms",
        "vrf",
        "pref",
        "fastopen_no_cookie",
    ];
    EXACT.contains(&t) || PREFIX.iter().any(|k| matches(t, k))
}

// ---------------------------------------------------------------------------------------------
// ip neigh

/// Parses what follows `ip neigh add|replace|del`, as `ipneigh_modify()` does:
/// `169.254.1.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee [nud STATE]`, in any order, with an optional
/// `to` before the address. The state defaults to PERMANENT; `dev` is required; `lladdr null`
/// means no address.
pub fn parse_neigh(args: &str) -> Result<NeighSpec, ParseError> {
    parse_neigh_words(&split_words(args)?)
}

fn parse_neigh_words(words: &[String]) -> Result<NeighSpec, ParseError> {
    const CTX: &str = "ip neigh";
    let mut c = Cursor::new(words);
    let mut lladdr: Option<&str> = None;
    let mut state = NudState::Permanent;
    let mut dev: Option<&str> = None;
    let mut dst: Option<Ipv4Addr> = None;
    while let Some(t) = c.next() {
        if matches(t, "lladdr") {
            let v = c.value()?;
            if lladdr.is_some() {
                return Err(duparg("lladdr", v));
            }
            lladdr = Some(v);
        } else if t == "nud" {
            let v = c.value()?;
            state = nud_state_a2n(v).ok_or_else(|| invarg("nud state is bad", v))?;
        } else if matches(t, "proxy") || t == "router" || matches(t, "extern_learn") {
            return Err(unsupported(CTX, t));
        } else if t == "dev" {
            dev = Some(c.value()?);
        } else if matches(t, "protocol") {
            return Err(unsupported(CTX, t));
        } else {
            let mut w = t;
            if w == "to" {
                w = c.value()?;
            }
            if matches(w, "help") {
                return Err(unsupported(CTX, w));
            }
            if dst.is_some() {
                return Err(duparg2("to", w));
            }
            if matches!(w, "default" | "any" | "all") {
                // A family-less address: iproute2 ends up at the "required" message below.
                continue;
            }
            dst = Some(get_addr(w, Family::Unspec)?);
        }
    }
    let (Some(ip), Some(dev)) = (dst, dev) else {
        return Err(ParseError::new(
            "Device and destination are required arguments.",
        ));
    };
    let lladdr = match lladdr {
        None | Some("null") => None,
        Some(m) => Some(parse_mac(m)?),
    };
    Ok(NeighSpec {
        ip,
        dev: dev.to_string(),
        lladdr,
        state,
    })
}

/// `nud_state_a2n()` of `ip/ipneigh.c`: names (`perm`, `reach`, `f` abbreviate) or one NUD bit.
fn nud_state_a2n(s: &str) -> Option<NudState> {
    Some(if matches(s, "permanent") {
        NudState::Permanent
    } else if matches(s, "reachable") {
        NudState::Reachable
    } else if s == "noarp" {
        NudState::Noarp
    } else if s == "none" {
        NudState::None
    } else if s == "stale" {
        NudState::Stale
    } else if s == "incomplete" {
        NudState::Incomplete
    } else if s == "delay" {
        NudState::Delay
    } else if s == "probe" {
        NudState::Probe
    } else if matches(s, "failed") {
        NudState::Failed
    } else {
        match strtoul_full(s, 0)? {
            0x00 => NudState::None,
            0x01 => NudState::Incomplete,
            0x02 => NudState::Reachable,
            0x04 => NudState::Stale,
            0x08 => NudState::Delay,
            0x10 => NudState::Probe,
            0x20 => NudState::Failed,
            0x40 => NudState::Noarp,
            0x80 => NudState::Permanent,
            _ => return None,
        }
    })
}

/// A MAC as `ll_addr_a2n()` reads it: six `:`-separated hex bytes (`ee:ee:ee:ee:ee:ee`,
/// `0a:58:a:2a:1:b`). Errors read like iproute2's `"zz" is invalid lladdr.`
pub fn parse_mac(s: &str) -> Result<[u8; 6], ParseError> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(ParseError::new(format!(
            "\"{s}\" is invalid lladdr: an Ethernet address has 6 bytes."
        )));
    }
    let mut mac = [0u8; 6];
    for (m, part) in mac.iter_mut().zip(&parts) {
        let digits = part.trim_start_matches('0');
        let ok =
            !part.is_empty() && part.chars().all(|c| c.is_ascii_hexdigit()) && digits.len() <= 2;
        *m = match (ok, digits) {
            (true, "") => 0,
            // At most two hex digits: the fold cannot overflow.
            (true, d) => d
                .chars()
                .fold(0u8, |acc, c| acc * 16 + c.to_digit(16).unwrap_or(0) as u8),
            (false, _) => return Err(ParseError::new(format!("\"{part}\" is invalid lladdr."))),
        };
    }
    Ok(mac)
}

// ---------------------------------------------------------------------------------------------
// ip addr, ip link

/// `ip addr add|del A[/LEN] [brd B|+|-] dev D` (`ipaddr_modify()`); `brd` is accepted and
/// dropped. Returns (dev, addr, len).
fn parse_addr_words(words: &[String]) -> Result<(String, Ipv4Addr, u8), ParseError> {
    const CTX: &str = "ip address";
    let mut c = Cursor::new(words);
    let mut family = Family::Unspec;
    let mut dev: Option<&str> = None;
    let mut local: Option<Prefix> = None;
    let mut brd_seen = false;
    while let Some(t) = c.next() {
        if t == "peer" || t == "remote" || t == "anycast" || t == "scope" || t == "label" {
            return Err(unsupported(CTX, t));
        } else if matches(t, "broadcast") || t == "brd" {
            let v = c.value()?;
            if brd_seen {
                return Err(duparg("broadcast", v));
            }
            brd_seen = true;
            if v != "+" && v != "-" {
                get_addr(v, family)?;
            }
        } else if t == "dev" {
            dev = Some(c.value()?);
        } else if matches(t, "metric")
            || matches(t, "priority")
            || matches(t, "preference")
            || matches(t, "valid_lft")
            || matches(t, "preferred_lft")
            || matches!(
                t,
                "home" | "nodad" | "optimistic" | "mngtmpaddr" | "noprefixroute" | "autojoin"
            )
        {
            return Err(unsupported(CTX, t));
        } else {
            let mut w = t;
            if w == "local" {
                w = c.value()?;
            }
            if matches(w, "help") {
                return Err(unsupported(CTX, w));
            }
            if local.is_some() {
                return Err(duparg2("local", w));
            }
            let p = get_prefix(w, family)?;
            if p.wildcard {
                return Err(ParseError::new(format!(
                    "Error: any valid prefix is expected rather than \"{w}\"."
                )));
            }
            family = Family::Inet;
            local = Some(p);
        }
    }
    let Some(dev) = dev else {
        return Err(ParseError::new(
            "Not enough information: \"dev\" argument is required.",
        ));
    };
    let Some(p) = local else {
        return Err(ParseError::new(
            "Not enough information: an address (A.B.C.D/LEN) is required.",
        ));
    };
    Ok((dev.to_string(), p.addr, p.len))
}

/// `ip link set [dev] D [up|down] [mtu N] [address MAC]` (`iplink_parse()`).
fn parse_link_set_words(words: &[String]) -> Result<Command, ParseError> {
    const CTX: &str = "ip link set";
    const UNMODELLED: &[&str] = &[
        "name",
        "index",
        "netns",
        "multicast",
        "allmulticast",
        "promisc",
        "trailers",
        "arp",
        "carrier",
        "vf",
        "master",
        "vrf",
        "nomaster",
        "dynamic",
        "type",
        "alias",
        "group",
        "mode",
        "state",
        "numtxqueues",
        "numrxqueues",
        "addrgenmode",
        "protodown",
        "protodown_reason",
        "gso_max_size",
        "gso_max_segs",
        "gro_max_size",
        "xdp",
        "xdpgeneric",
        "xdpdrv",
        "xdpoffload",
        "altname",
    ];
    let mut c = Cursor::new(words);
    let mut dev: Option<&str> = None;
    let mut up = None;
    let mut mtu = None;
    let mut address = None;
    while let Some(t) = c.next() {
        if t == "up" {
            up = Some(true);
        } else if t == "down" {
            up = Some(false);
        } else if matches(t, "link") || UNMODELLED.contains(&t) {
            return Err(unsupported(CTX, t));
        } else if matches(t, "address") {
            address = Some(parse_mac(c.value()?)?);
        } else if matches(t, "broadcast")
            || t == "brd"
            || matches(t, "txqueuelen")
            || t == "qlen"
            || matches(t, "txqlen")
        {
            return Err(unsupported(CTX, t));
        } else if t == "mtu" {
            let v = c.value()?;
            if mtu.is_some() {
                return Err(duparg("mtu", v));
            }
            mtu = Some(get_u32(v).ok_or_else(|| invarg("Invalid \"mtu\" value", v))?);
        } else {
            let mut w = t;
            if matches(w, "help") {
                return Err(unsupported(CTX, w));
            }
            if w == "dev" {
                w = c.value()?;
            }
            if dev.is_some() {
                return Err(duparg2("dev", w));
            }
            if w.is_empty() || w.len() >= 16 || w.contains('/') {
                return Err(invarg("\"dev\" not a valid ifname", w));
            }
            dev = Some(w);
        }
    }
    let Some(dev) = dev else {
        return Err(ParseError::new(
            "Not enough information: \"dev\" argument is required.",
        ));
    };
    Ok(Command::LinkSet {
        dev: dev.to_string(),
        up,
        mtu,
        address,
    })
}

// ---------------------------------------------------------------------------------------------
// Whole lines

/// Parses one configuration line: `ip route add|append|replace|change|del ...` (and the
/// abbreviations iproute2 accepts: `ip r a`, `ip ro add`, `ip route delete`), `ip neigh
/// add|replace|del ...`, `ip addr add|del A/len dev D`, `ip link set D up|down|mtu N|address
/// MAC`, `sysctl [-q] [-w] key=value`, `echo N > /proc/sys/...`. A leading `sudo` is skipped.
/// Anything else (including `ip -n NS` and `ip netns exec NS`) is an error naming it.
pub fn parse_command(line: &str) -> Result<Command, ParseError> {
    let words = split_words(line)?;
    let mut w: &[String] = &words;
    if w.first().map(String::as_str) == Some("sudo") {
        w = &w[1..];
    }
    let Some(prog) = w.first() else {
        return Err(ParseError::new("Error: empty command line."));
    };
    match prog.rsplit('/').next().unwrap_or(prog) {
        "ip" => parse_ip(&w[1..]),
        "sysctl" => parse_sysctl(&w[1..]),
        "echo" => parse_echo(&w[1..]),
        "bridge" => parse_bridge(&w[1..]),
        "iptables" | "iptables-nft" => {
            super::iptables::parse_iptables(&w[1..]).map(Command::Iptables)
        }
        "ipset" => super::iptables::parse_ipset(&w[1..]).map(Command::Ipset),
        other => Err(ParseError::new(format!(
            "Error: unsupported command \"{other}\": the simulator accepts ip route|neigh|addr|link, \
             bridge fdb|link, sysctl, echo N > /proc/sys/..., iptables -t nat and ipset lines."
        ))),
    }
}

/// `ip` objects in `ip/ip.c`'s `cmds[]` order, which decides abbreviations (`r` is route,
/// `n` neighbor, `a` address, `l` link).
const IP_OBJECTS: &[&str] = &[
    "address",
    "addrlabel",
    "maddress",
    "route",
    "rule",
    "neighbor",
    "neighbour",
    "ntable",
    "ntbl",
    "link",
    "l2tp",
    "fou",
    "ila",
    "macsec",
    "tunnel",
    "tunl",
    "tuntap",
    "tap",
    "token",
    "tcpmetrics",
    "tcp_metrics",
    "monitor",
    "xfrm",
    "mroute",
    "mrule",
    "netns",
    "netconf",
    "vrf",
    "sr",
    "nexthop",
    "mptcp",
    "ioam",
    "help",
    "stats",
];

fn parse_ip(mut w: &[String]) -> Result<Command, ParseError> {
    // Global options: only `-4` changes nothing here; `-n NS` must be done by the caller.
    while let Some(opt) = w.first().filter(|o| o.starts_with('-')) {
        // iproute2 treats `--opt` as `-opt`.
        let o: &str = if opt.starts_with("--") {
            &opt[1..]
        } else {
            opt
        };
        if o == "-4" || (o == "-family" && w.get(1).map(String::as_str) == Some("inet")) {
            w = &w[if o == "-4" { 1 } else { 2 }..];
        } else if o == "-n" || matches(o, "-netns") {
            return Err(ParseError::new(format!(
                "Error: \"ip {o} NS\" is not supported here: run the command in that netns instead."
            )));
        } else {
            return Err(ParseError::new(format!(
                "Error: ip option \"{opt}\" is not supported by the simulator."
            )));
        }
    }
    let Some(obj) = w.first() else {
        return Err(ParseError::new(
            "Error: \"ip\" needs an object: route, neigh, addr or link.",
        ));
    };
    let Some(&object) = IP_OBJECTS.iter().find(|k| matches(obj, k)) else {
        return Err(ParseError::new(format!(
            "Object \"{obj}\" is unknown, try \"ip help\"."
        )));
    };
    let sub = w.get(1).map(String::as_str);
    let rest = w.get(2..).unwrap_or(&[]);
    let refuse = |what: &str| {
        ParseError::new(format!(
            "Error: \"ip {object} {what}\" is not supported by the simulator here; it accepts \
             ip route add|append|replace|change|del, ip neigh add|replace|del, \
             ip addr add|del and ip link set."
        ))
    };
    let unknown = |s: &str, help: &str| {
        ParseError::new(format!(
            "Command \"{s}\" is unknown, try \"ip {help} help\"."
        ))
    };
    match object {
        "route" => {
            let Some(s) = sub else {
                return Err(refuse("show"));
            };
            let spec = || parse_route_words(rest);
            if matches(s, "add") {
                Ok(Command::RouteAdd(spec()?))
            } else if matches(s, "change") || s == "chg" || matches(s, "replace") {
                Ok(Command::RouteReplace(spec()?))
            } else if matches(s, "prepend") || matches(s, "test") {
                Err(refuse(s))
            } else if matches(s, "append") {
                Ok(Command::RouteAppend(spec()?))
            } else if matches(s, "delete") {
                Ok(Command::RouteDel(spec()?))
            } else if [
                "list", "show", "lst", "get", "flush", "save", "restore", "showdump", "help",
            ]
            .iter()
            .any(|k| matches(s, k))
            {
                Err(refuse(s))
            } else {
                Err(unknown(s, "route"))
            }
        }
        "neighbor" | "neighbour" => {
            let Some(s) = sub else {
                return Err(refuse("show"));
            };
            if matches(s, "add") {
                Ok(Command::NeighAdd(parse_neigh_words(rest)?))
            } else if matches(s, "change") || s == "chg" || matches(s, "replace") {
                Ok(Command::NeighReplace(parse_neigh_words(rest)?))
            } else if matches(s, "delete") {
                let n = parse_neigh_words(rest)?;
                Ok(Command::NeighDel {
                    ip: n.ip,
                    dev: n.dev,
                })
            } else if ["get", "show", "lst", "list", "flush", "help"]
                .iter()
                .any(|k| matches(s, k))
            {
                Err(refuse(s))
            } else {
                Err(unknown(s, "neigh"))
            }
        }
        "address" => {
            let Some(s) = sub else {
                return Err(refuse("show"));
            };
            if matches(s, "add") {
                let (dev, addr, len) = parse_addr_words(rest)?;
                Ok(Command::AddrAdd { dev, addr, len })
            } else if matches(s, "change") || s == "chg" || matches(s, "replace") {
                Err(refuse(s))
            } else if matches(s, "delete") {
                let (dev, addr, len) = parse_addr_words(rest)?;
                Ok(Command::AddrDel { dev, addr, len })
            } else if [
                "list", "show", "lst", "flush", "save", "showdump", "restore", "help",
            ]
            .iter()
            .any(|k| matches(s, k))
            {
                Err(refuse(s))
            } else {
                Err(unknown(s, "address"))
            }
        }
        "link" => {
            let Some(s) = sub else {
                return Err(refuse("show"));
            };
            if matches(s, "add") {
                Err(refuse(s))
            } else if matches(s, "set") || matches(s, "change") {
                parse_link_set_words(rest)
            } else if [
                "replace", "delete", "show", "lst", "list", "xstats", "afstats", "property", "help",
            ]
            .iter()
            .any(|k| matches(s, k))
            {
                Err(refuse(s))
            } else {
                Err(unknown(s, "link"))
            }
        }
        "netns" => Err(ParseError::new(
            "Error: \"ip netns ...\" is not supported here: run the command in that netns instead.",
        )),
        other => Err(ParseError::new(format!(
            "Error: \"ip {other}\" is not supported by the simulator."
        ))),
    }
}

/// `sysctl [-q] [-e] [-w] key=value` (procps). A `/`-separated key becomes dotted; a dotted key
/// is kept exactly as written (a device such as `vxlan.calico` keeps its dot).
fn parse_sysctl(w: &[String]) -> Result<Command, ParseError> {
    let mut settings = Vec::new();
    for a in w {
        if let Some(long) = a.strip_prefix("--") {
            if !matches!(long, "write" | "quiet" | "ignore") {
                return Err(ParseError::new(format!(
                    "Error: sysctl option \"{a}\" is not supported by the simulator."
                )));
            }
        } else if let Some(short) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            if let Some(bad) = short.chars().find(|c| !matches!(c, 'w' | 'q' | 'e')) {
                return Err(ParseError::new(format!(
                    "Error: sysctl option \"-{bad}\" is not supported by the simulator."
                )));
            }
        } else {
            settings.push(a.as_str());
        }
    }
    let [setting] = settings[..] else {
        return Err(ParseError::new(
            "Error: sysctl takes exactly one key=value per line here.",
        ));
    };
    let Some((key, value)) = setting.split_once('=') else {
        return Err(ParseError::new(format!(
            "Error: sysctl \"{setting}\" reads a key; only key=value writes are supported."
        )));
    };
    let (key, value) = (key.trim(), value.trim());
    if key.is_empty() || value.is_empty() {
        return Err(ParseError::new(format!(
            "sysctl: malformed setting \"{setting}\""
        )));
    }
    Ok(Command::Sysctl {
        key: key.trim_start_matches('/').replace('/', "."),
        value: value.to_string(),
    })
}

/// `echo [-n] VALUE > /proc/sys/PATH` (also `>>`): a sysctl write with a `/` path, turned into
/// the dotted key (`net/ipv4/conf/tap1/proxy_arp` -> `net.ipv4.conf.tap1.proxy_arp`).
fn parse_echo(w: &[String]) -> Result<Command, ParseError> {
    let Some(gt) = w.iter().position(|x| x == ">") else {
        return Err(ParseError::new(
            "Error: echo is supported only as \"echo VALUE > /proc/sys/...\".",
        ));
    };
    let mut vals: &[String] = &w[..gt];
    if vals.first().map(String::as_str) == Some("-n") {
        vals = &vals[1..];
    }
    let mut after = &w[gt + 1..];
    if after.first().map(String::as_str) == Some(">") {
        after = &after[1..];
    }
    let [path] = after else {
        return Err(ParseError::new(
            "Error: echo needs exactly one target: echo VALUE > /proc/sys/...",
        ));
    };
    let Some(rel) = path.strip_prefix("/proc/sys/").filter(|r| !r.is_empty()) else {
        return Err(ParseError::new(format!(
            "Error: echo can only write sysctls under /proc/sys/, not \"{path}\"."
        )));
    };
    let value = vals
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    if value.is_empty() {
        return Err(ParseError::new(format!(
            "Error: echo writes nothing to \"{path}\"."
        )));
    }
    Ok(Command::Sysctl {
        key: rel.trim_end_matches('/').replace('/', "."),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::fib::{RTPROT_BIRD, RTPROT_KERNEL, RTPROT_STATIC, RT_SCOPE_LINK};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn net(a: &str, len: u8) -> Ipv4Net {
        Ipv4Net::new(ip(a), len)
    }

    fn err(r: Result<impl std::fmt::Debug, ParseError>) -> String {
        r.unwrap_err().msg
    }

    /// A spec with every field unset, for `..` updates.
    fn blank(dst: Ipv4Net) -> RouteSpec {
        RouteSpec {
            rtype: RouteType::Unicast,
            dst,
            tos: 0,
            gateway: None,
            dev: None,
            proto: None,
            scope: None,
            prefsrc: None,
            metric: None,
            onlink: false,
            table: None,
        }
    }

    #[test]
    fn calico_ipip_route_parses_every_field() {
        let r = parse_route("10.42.2.0/24 via 10.211.55.6 dev tunl0 proto bird onlink").unwrap();
        assert_eq!(
            r,
            RouteSpec {
                gateway: Some(ip("10.211.55.6")),
                dev: Some("tunl0".into()),
                proto: Some(RTPROT_BIRD),
                onlink: true,
                ..blank(net("10.42.2.0", 24))
            }
        );
    }

    #[test]
    fn route_types_are_leading_words() {
        let r = parse_route("blackhole 10.42.1.0/24 proto bird").unwrap();
        assert_eq!(
            (r.rtype, r.dst, r.proto),
            (RouteType::Blackhole, net("10.42.1.0", 24), Some(12))
        );
        for (word, ty) in [
            ("unreachable", RouteType::Unreachable),
            ("prohibit", RouteType::Prohibit),
            ("throw", RouteType::Throw),
            ("unicast", RouteType::Unicast),
            ("local", RouteType::Local),
            ("broadcast", RouteType::Broadcast),
            ("brd", RouteType::Broadcast),
            // rtnl_rtntype_a2n() abbreviations, first match wins.
            ("bl", RouteType::Blackhole),
            ("b", RouteType::Broadcast),
            ("u", RouteType::Unreachable),
            ("uni", RouteType::Unicast),
            // (`p` alone is `priority`: the keyword chain comes before the type words.)
            ("proh", RouteType::Prohibit),
        ] {
            let r = parse_route(&format!("{word} 10.7.0.0/16")).unwrap();
            assert_eq!((r.rtype, r.dst), (ty, net("10.7.0.0", 16)), "{word}");
        }
        // `to` may precede the type word too.
        assert_eq!(
            parse_route("to throw 10.9.0.0/16").unwrap().rtype,
            RouteType::Throw
        );
        // Defaults are the netns's business: the spec stays literal.
        let l = parse_route("local 10.16.0.1 dev lo").unwrap();
        assert_eq!((l.table, l.scope, l.proto), (None, None, None));
    }

    #[test]
    fn default_and_bare_addresses() {
        let r = parse_route("default via 169.254.1.1 dev eth0").unwrap();
        assert_eq!(r.dst, net("0.0.0.0", 0));
        assert_eq!(r.gateway, Some(ip("169.254.1.1")));
        assert_eq!(r.dev.as_deref(), Some("eth0"));
        // A bare address is a /32.
        let r = parse_route("10.42.1.11 dev cali1 scope link").unwrap();
        assert_eq!(
            (r.dst, r.scope),
            (net("10.42.1.11", 32), Some(RT_SCOPE_LINK))
        );
        // `to PREFIX`, iproute2's short forms, dotted masks, `any`/`all`.
        assert_eq!(
            parse_route("to 10.0.0.0/8 dev eth0").unwrap().dst,
            net("10.0.0.0", 8)
        );
        assert_eq!(
            parse_route("10/8 dev eth0").unwrap().dst,
            net("10.0.0.0", 8)
        );
        assert_eq!(
            parse_route("10.8/16 dev eth0").unwrap().dst,
            net("10.8.0.0", 16)
        );
        assert_eq!(
            parse_route("10.1.0.0/255.255.0.0 dev d0").unwrap().dst,
            net("10.1.0.0", 16)
        );
        // Each part is a C number: octal with a leading 0, hex with 0x.
        assert_eq!(
            parse_route("012.0.0.0/010 dev d0").unwrap().dst,
            net("10.0.0.0", 8)
        );
        assert_eq!(
            parse_route("0xa.0.0.0/0x8 dev d0").unwrap().dst,
            net("10.0.0.0", 8)
        );
        assert!(parse_route("0x0a000000/8 dev d0").is_err());
        assert_eq!(parse_route("all dev d0").unwrap().dst, net("0.0.0.0", 0));
        // ...but `any` is first the type word `anycast`, as in iproute2.
        assert!(parse_route("any dev d0").is_err());
    }

    #[test]
    fn metric_and_its_synonyms() {
        for kw in ["metric", "priority", "preference", "met", "m", "prio"] {
            let r = parse_route(&format!("10.1.0.0/16 via 192.0.2.2 dev d0 {kw} 100")).unwrap();
            assert_eq!(r.metric, Some(100), "{kw}");
        }
        assert_eq!(
            parse_route("10/8 dev d0 metric 0x10").unwrap().metric,
            Some(16)
        );
        assert_eq!(
            err(parse_route("10/8 dev d0 metric -1")),
            "Error: argument \"-1\" is wrong: \"metric\" value is invalid"
        );
    }

    #[test]
    fn src_table_tos_scope_proto() {
        let r = parse_route("10.11.0.0/16 dev d0 src 198.51.100.7").unwrap();
        assert_eq!(r.prefsrc, Some(ip("198.51.100.7")));
        for (t, id) in [
            ("main", 254),
            ("local", 255),
            ("default", 253),
            ("100", 100),
            ("0", 254),
            ("unspec", 254),
            ("4000000000", 4_000_000_000),
        ] {
            assert_eq!(
                parse_route(&format!("10/8 dev d0 table {t}"))
                    .unwrap()
                    .table,
                Some(id)
            );
        }
        assert_eq!(parse_route("10/8 dev d0 tab 7").unwrap().table, Some(7));
        // dsfield numbers are hex.
        assert_eq!(parse_route("10/8 dev d0 tos 10").unwrap().tos, 0x10);
        assert_eq!(parse_route("10/8 dev d0 tos 0x08").unwrap().tos, 0x08);
        assert_eq!(
            parse_route("10/8 dev d0 dsfield lowdelay").unwrap().tos,
            0x10
        );
        for (s, v) in [
            ("global", 0),
            ("site", 200),
            ("link", 253),
            ("host", 254),
            ("nowhere", 255),
            ("7", 7),
        ] {
            assert_eq!(
                parse_route(&format!("10/8 dev d0 scope {s}"))
                    .unwrap()
                    .scope,
                Some(v)
            );
        }
        for (p, v) in [
            ("kernel", RTPROT_KERNEL),
            ("boot", 3),
            ("static", RTPROT_STATIC),
            ("bird", 12),
            ("dhcp", 16),
            ("zebra", 11),
            ("babel", 42),
            ("bgp", 186),
            ("80", 80),
            ("0x50", 80),
        ] {
            assert_eq!(
                parse_route(&format!("10/8 dev d0 proto {p}"))
                    .unwrap()
                    .proto,
                Some(v),
                "{p}"
            );
        }
        assert_eq!(
            parse_route("10/8 dev d0 protocol static").unwrap().proto,
            Some(4)
        );
        assert_eq!(
            parse_route("10/8 oif d0").unwrap().dev.as_deref(),
            Some("d0")
        );
    }

    #[test]
    fn bad_prefixes_read_like_iproute2() {
        assert_eq!(
            err(parse_route("10.0.0.300/24 dev d0")),
            "Error: any valid prefix is expected rather than \"10.0.0.300/24\"."
        );
        assert_eq!(
            err(parse_route("10.0.0.0/33 dev d0")),
            "Error: any valid prefix is expected rather than \"10.0.0.0/33\"."
        );
        assert_eq!(
            err(parse_route("10.0.0.0/ dev d0")),
            "Error: any valid prefix is expected rather than \"10.0.0.0/\"."
        );
        assert_eq!(
            err(parse_route("default/0 dev d0")),
            "Error: any valid prefix is expected rather than \"default/0\"."
        );
        // The kernel refuses host bits (rtm_to_fib_config()).
        assert_eq!(
            err(parse_route("10.1.2.3/24 dev d0")),
            "Error: Invalid prefix for given prefix length."
        );
        assert!(err(parse_route("2001:db8::/32 dev d0")).contains("IPv6"));
    }

    #[test]
    fn unknown_words_are_named() {
        // After the destination, iproute2 takes any unknown word for a second destination.
        assert_eq!(
            err(parse_route("10.0.0.0/8 dev d0 xyz")),
            "Error: either \"to\" is duplicate, or \"xyz\" is a garbage."
        );
        // Before it, the unknown word is read as the destination.
        assert_eq!(
            err(parse_route("xyz 10.0.0.0/8")),
            "Error: any valid prefix is expected rather than \"xyz\"."
        );
        assert!(err(parse_route("10.0.0.0/8 nexthop via 192.0.2.1 dev d0")).contains("\"nexthop\""));
        assert!(err(parse_route("10.0.0.0/8 dev d0 mtu 1400")).contains("\"mtu\""));
        assert!(err(parse_route("10.0.0.0/8 dev d0 from 10.1.0.0/16")).contains("\"from\""));
        assert!(err(parse_route("10.0.0.0/8 dev d0 realm 3")).contains("\"realm\""));
        assert!(err(parse_route("nat 10.0.0.0/8")).contains("\"nat\""));
        assert!(err(parse_route("anycast 10.0.0.0/8")).contains("\"anycast\""));
        assert!(err(parse_route("10/8 via inet6 fe80::1 dev d0")).contains("via inet6"));
    }

    #[test]
    fn bad_values_and_missing_arguments() {
        assert_eq!(
            err(parse_route("10.0.0.0/8 via 1.2.3.400")),
            "Error: inet address is expected rather than \"1.2.3.400\"."
        );
        // After `default` the family is still unknown.
        assert_eq!(
            err(parse_route("default via gw1")),
            "Error: any valid address is expected rather than \"gw1\"."
        );
        assert_eq!(
            err(parse_route("10/8 via 192.0.2.1 via 192.0.2.2")),
            "Error: argument \"via\" is wrong: use nexthop syntax to specify multiple via"
        );
        assert_eq!(
            err(parse_route("10/8 dev")),
            "Command line is not complete. Try option \"help\""
        );
        // A type word takes the next word as the destination.
        assert_eq!(
            err(parse_route("10.0.0.0/8 blackhole")),
            "Command line is not complete. Try option \"help\""
        );
        assert_eq!(
            err(parse_route("10/8 dev d0 proto nope")),
            "Error: argument \"nope\" is wrong: \"protocol\" value is invalid"
        );
        assert_eq!(
            err(parse_route("10/8 dev d0 proto 256")),
            "Error: argument \"256\" is wrong: \"protocol\" value is invalid"
        );
        assert_eq!(
            err(parse_route("10/8 dev d0 scope galaxy")),
            "Error: argument \"galaxy\" is wrong: invalid \"scope\" value"
        );
        assert_eq!(
            err(parse_route("10/8 dev d0 table mine")),
            "Error: argument \"mine\" is wrong: \"table\" value is invalid"
        );
        assert_eq!(
            err(parse_route("10/8 dev d0 tos zz")),
            "Error: argument \"zz\" is wrong: \"tos\" value is invalid"
        );
        assert!(err(parse_route("dev d0")).contains("destination is required"));
        assert!(err(parse_route("")).contains("destination is required"));
    }

    #[test]
    fn neigh_lines() {
        let n = parse_neigh("169.254.1.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee").unwrap();
        assert_eq!(
            n,
            NeighSpec {
                ip: ip("169.254.1.1"),
                dev: "eth0".into(),
                lladdr: Some([0xee; 6]),
                state: NudState::Permanent,
            }
        );
        // Any order, `to`, abbreviations.
        let n =
            parse_neigh("lladdr 66:00:00:00:00:02 dev vxlan.calico to 10.42.2.0 nud perm").unwrap();
        assert_eq!(
            (n.ip, n.dev.as_str(), n.state),
            (ip("10.42.2.0"), "vxlan.calico", NudState::Permanent)
        );
        assert_eq!(n.lladdr, Some([0x66, 0, 0, 0, 0, 2]));
        for (w, s) in [
            ("permanent", NudState::Permanent),
            ("noarp", NudState::Noarp),
            ("reachable", NudState::Reachable),
            ("stale", NudState::Stale),
            ("delay", NudState::Delay),
            ("probe", NudState::Probe),
            ("failed", NudState::Failed),
            ("incomplete", NudState::Incomplete),
            ("none", NudState::None),
            ("0x02", NudState::Reachable),
            ("4", NudState::Stale),
        ] {
            let n = parse_neigh(&format!("10.0.0.1 dev eth0 lladdr 0:1:2:3:4:5 nud {w}")).unwrap();
            assert_eq!(n.state, s, "{w}");
        }
        assert_eq!(
            parse_neigh("10.0.0.1 dev eth0 lladdr null").unwrap().lladdr,
            None
        );
        assert_eq!(parse_neigh("10.0.0.1 dev eth0").unwrap().lladdr, None);
    }

    #[test]
    fn neigh_errors() {
        assert_eq!(
            err(parse_neigh(
                "10.0.0.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee nud bogus"
            )),
            "Error: argument \"bogus\" is wrong: nud state is bad"
        );
        assert_eq!(
            err(parse_neigh("10.0.0.1 dev eth0 nud 3")),
            "Error: argument \"3\" is wrong: nud state is bad"
        );
        assert_eq!(
            err(parse_neigh("169.254.1.1 lladdr ee:ee:ee:ee:ee:ee")),
            "Device and destination are required arguments."
        );
        assert_eq!(
            err(parse_neigh("dev eth0 lladdr ee:ee:ee:ee:ee:ee")),
            "Device and destination are required arguments."
        );
        assert_eq!(
            err(parse_neigh(
                "10.0.0.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee lladdr 00:00:00:00:00:01"
            )),
            "Error: duplicate \"lladdr\": \"00:00:00:00:00:01\" is the second value."
        );
        assert_eq!(
            err(parse_neigh("10.0.0.1 10.0.0.2 dev eth0")),
            "Error: either \"to\" is duplicate, or \"10.0.0.2\" is a garbage."
        );
        assert_eq!(
            err(parse_neigh("10.0.0.1 dev eth0 lladdr ee:ee:ee:ee:ee:zz")),
            "\"zz\" is invalid lladdr."
        );
        assert_eq!(
            err(parse_neigh("10.0.0.256 dev eth0")),
            "Error: any valid address is expected rather than \"10.0.0.256\"."
        );
        assert!(err(parse_neigh("proxy 10.0.0.1 dev eth0")).contains("\"proxy\""));
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("ee:ee:ee:ee:ee:ee").unwrap(), [0xee; 6]);
        assert_eq!(
            parse_mac("0A:58:0a:2A:01:0b").unwrap(),
            [0x0a, 0x58, 0x0a, 0x2a, 0x01, 0x0b]
        );
        assert_eq!(parse_mac("0:1:2:3:a:f").unwrap(), [0, 1, 2, 3, 0xa, 0xf]);
        assert_eq!(
            parse_mac("000:01:02:03:04:0ff").unwrap(),
            [0, 1, 2, 3, 4, 0xff]
        );
        assert_eq!(
            parse_mac("ee:ee:ee:ee:ee:gg").unwrap_err().msg,
            "\"gg\" is invalid lladdr."
        );
        assert_eq!(
            parse_mac("ee:ee::ee:ee:ee").unwrap_err().msg,
            "\"\" is invalid lladdr."
        );
        assert_eq!(
            parse_mac("ee:ee:ee:ee:ee:100").unwrap_err().msg,
            "\"100\" is invalid lladdr."
        );
        assert!(parse_mac("ee:ee:ee:ee:ee")
            .unwrap_err()
            .msg
            .contains("6 bytes"));
        assert!(parse_mac("ee:ee:ee:ee:ee:ee:ee")
            .unwrap_err()
            .msg
            .contains("6 bytes"));
        assert!(parse_mac("eeeeeeeeeeee").is_err());
        assert!(parse_mac("").is_err());
    }

    #[test]
    fn ip_route_verbs_and_abbreviations() {
        let spec = parse_route("10.42.1.13 dev tap3").unwrap();
        for line in [
            "ip route add 10.42.1.13 dev tap3",
            "ip r a 10.42.1.13 dev tap3",
            "ip ro add 10.42.1.13 dev tap3",
            "ip -4 route add 10.42.1.13 dev tap3",
            "sudo ip r a 10.42.1.13 dev tap3 # pin the pod",
            "/sbin/ip route add 10.42.1.13   dev tap3",
        ] {
            assert_eq!(
                parse_command(line).unwrap(),
                Command::RouteAdd(spec.clone()),
                "{line}"
            );
        }
        for line in [
            "ip route append 10.42.1.13 dev tap3",
            "ip r app 10.42.1.13 dev tap3",
        ] {
            assert_eq!(
                parse_command(line).unwrap(),
                Command::RouteAppend(spec.clone())
            );
        }
        for line in [
            "ip route replace 10.42.1.13 dev tap3",
            "ip route change 10.42.1.13 dev tap3",
            "ip r chg 10.42.1.13 dev tap3",
            "ip r r 10.42.1.13 dev tap3",
        ] {
            assert_eq!(
                parse_command(line).unwrap(),
                Command::RouteReplace(spec.clone()),
                "{line}"
            );
        }
        for line in [
            "ip route del 10.42.1.13 dev tap3",
            "ip route delete 10.42.1.13 dev tap3",
            "ip r d 10.42.1.13 dev tap3",
        ] {
            assert_eq!(
                parse_command(line).unwrap(),
                Command::RouteDel(spec.clone()),
                "{line}"
            );
        }
    }

    #[test]
    fn ip_neigh_addr_link_lines() {
        let n = parse_neigh("169.254.1.1 dev veth1 lladdr ee:ee:ee:ee:ee:ee").unwrap();
        for obj in ["neigh", "neighbor", "neighbour", "n", "nei"] {
            let line = format!("ip {obj} add 169.254.1.1 dev veth1 lladdr ee:ee:ee:ee:ee:ee");
            assert_eq!(
                parse_command(&line).unwrap(),
                Command::NeighAdd(n.clone()),
                "{line}"
            );
        }
        assert_eq!(
            parse_command("ip neigh replace 169.254.1.1 dev veth1 lladdr ee:ee:ee:ee:ee:ee")
                .unwrap(),
            Command::NeighReplace(n.clone())
        );
        assert_eq!(
            parse_command("ip neigh del 169.254.1.1 dev veth1").unwrap(),
            Command::NeighDel {
                ip: ip("169.254.1.1"),
                dev: "veth1".into()
            }
        );
        assert_eq!(
            parse_command("ip addr add 10.42.1.13/32 dev veth1").unwrap(),
            Command::AddrAdd {
                dev: "veth1".into(),
                addr: ip("10.42.1.13"),
                len: 32
            }
        );
        for line in [
            "ip a add 10.211.55.5/24 brd + dev eth0",
            "ip address add 10.211.55.5/24 dev eth0 broadcast 10.211.55.255",
            "ip addr add local 10.211.55.5/24 dev eth0",
        ] {
            assert_eq!(
                parse_command(line).unwrap(),
                Command::AddrAdd {
                    dev: "eth0".into(),
                    addr: ip("10.211.55.5"),
                    len: 24
                },
                "{line}"
            );
        }
        assert_eq!(
            parse_command("ip addr add 10.42.1.0 dev tunl0").unwrap(),
            Command::AddrAdd {
                dev: "tunl0".into(),
                addr: ip("10.42.1.0"),
                len: 32
            }
        );
        assert_eq!(
            parse_command("ip addr del 10.211.55.5/24 dev eth0").unwrap(),
            Command::AddrDel {
                dev: "eth0".into(),
                addr: ip("10.211.55.5"),
                len: 24
            }
        );
        assert_eq!(
            parse_command("ip link set veth1 up").unwrap(),
            Command::LinkSet {
                dev: "veth1".into(),
                up: Some(true),
                mtu: None,
                address: None
            }
        );
        assert_eq!(
            parse_command("ip link set address ee:ee:ee:ee:ee:ee dev tap3").unwrap(),
            Command::LinkSet {
                dev: "tap3".into(),
                up: None,
                mtu: None,
                address: Some([0xee; 6])
            }
        );
        assert_eq!(
            parse_command("ip l s dev tunl0 up mtu 1440 addr 02:00:00:00:00:01").unwrap(),
            Command::LinkSet {
                dev: "tunl0".into(),
                up: Some(true),
                mtu: Some(1440),
                address: Some([2, 0, 0, 0, 0, 1]),
            }
        );
        assert_eq!(
            parse_command("ip link set eth0 up down").unwrap(),
            Command::LinkSet {
                dev: "eth0".into(),
                up: Some(false),
                mtu: None,
                address: None
            }
        );
    }

    #[test]
    fn sysctl_and_echo_lines() {
        let sysctl = |k: &str, v: &str| Command::Sysctl {
            key: k.into(),
            value: v.into(),
        };
        for (line, k, v) in [
            (
                "sysctl -w net.ipv4.ip_forward=1",
                "net.ipv4.ip_forward",
                "1",
            ),
            (
                "sysctl net.ipv4.conf.all.rp_filter=2",
                "net.ipv4.conf.all.rp_filter",
                "2",
            ),
            (
                "sysctl -q -w net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.all.rp_filter",
                "0",
            ),
            (
                "sysctl -qw net.ipv4.ip_forward=1",
                "net.ipv4.ip_forward",
                "1",
            ),
            (
                "sysctl --write net.ipv4.ip_forward=1",
                "net.ipv4.ip_forward",
                "1",
            ),
            // A dotted key is kept exactly as written, device dots included.
            (
                "sysctl -w net.ipv4.conf.vxlan.calico.proxy_arp=1",
                "net.ipv4.conf.vxlan.calico.proxy_arp",
                "1",
            ),
            (
                "sysctl -w net/ipv4/conf/tap1/proxy_arp=1",
                "net.ipv4.conf.tap1.proxy_arp",
                "1",
            ),
            (
                "sysctl -w net.ipv4.ip_local_port_range=\"32768 60999\"",
                "net.ipv4.ip_local_port_range",
                "32768 60999",
            ),
            (
                "echo 1 > /proc/sys/net/ipv4/conf/tap3/proxy_arp",
                "net.ipv4.conf.tap3.proxy_arp",
                "1",
            ),
            (
                "echo 1 >/proc/sys/net/ipv4/ip_forward",
                "net.ipv4.ip_forward",
                "1",
            ),
            (
                "echo \"2\" >> /proc/sys/net/ipv4/conf/all/rp_filter",
                "net.ipv4.conf.all.rp_filter",
                "2",
            ),
            // In slash form a device's own dot stays a dot inside its component.
            (
                "echo 1 > /proc/sys/net/ipv4/conf/vxlan.calico/proxy_arp",
                "net.ipv4.conf.vxlan.calico.proxy_arp",
                "1",
            ),
        ] {
            assert_eq!(parse_command(line).unwrap(), sysctl(k, v), "{line}");
        }
    }

    #[test]
    fn unsupported_lines_name_the_culprit() {
        let e = |l: &str| parse_command(l).unwrap_err().msg;
        assert!(e("ip -n ns1 route add 10/8 dev d0").contains("\"ip -n NS\""));
        assert!(e("ip -netns ns1 route add 10/8 dev d0").contains("-netns"));
        assert!(e("ip netns exec ns3 ip addr add 10.42.1.13/32 dev veth1").contains("ip netns"));
        assert!(e("iptables -A FORWARD -j ACCEPT").contains("only the nat table"));
        assert!(e("nft add table ip nat").contains("\"nft\""));
        assert!(e("ip route show").contains("\"ip route show\""));
        assert!(e("ip route").contains("\"ip route show\""));
        assert!(e("ip route prepend 10/8 dev d0").contains("prepend"));
        assert!(e("ip rule add from 10.0.0.0/8 lookup 100").contains("\"ip rule\""));
        assert!(e("ip link add veth0 type veth peer name veth1").contains("\"ip link add\""));
        assert!(e("ip addr replace 10.0.0.1/24 dev eth0").contains("replace"));
        assert!(e("ip -s neigh").contains("\"-s\""));
        assert_eq!(e("ip foo"), "Object \"foo\" is unknown, try \"ip help\".");
        assert_eq!(
            e("ip route frob 10/8"),
            "Command \"frob\" is unknown, try \"ip route help\"."
        );
        assert_eq!(
            e("ip neigh frob"),
            "Command \"frob\" is unknown, try \"ip neigh help\"."
        );
        assert!(e("ip link set eth0 up | cat").contains("\"|\""));
        assert!(e("ip link set eth0 up; ip link set eth1 up").contains("\";\""));
        assert!(e("ip link set dev $DEV up").contains("expansions"));
        assert!(e("ip link set 'eth0 up").contains("unterminated"));
        assert_eq!(
            e("ip link set up"),
            "Not enough information: \"dev\" argument is required."
        );
        assert_eq!(
            e("ip link set eth0 eth1"),
            "Error: either \"dev\" is duplicate, or \"eth1\" is a garbage."
        );
        assert_eq!(
            e("ip link set eth0 mtu big"),
            "Error: argument \"big\" is wrong: Invalid \"mtu\" value"
        );
        assert!(e("ip link set eth0 promisc on").contains("\"promisc\""));
        assert!(e("ip link set eth0 address ee:ee").contains("6 bytes"));
        assert_eq!(
            e("ip addr add 10.0.0.1/24"),
            "Not enough information: \"dev\" argument is required."
        );
        assert_eq!(
            e("ip addr add 10.0.0.1/24 10.0.0.2/24 dev eth0"),
            "Error: either \"local\" is duplicate, or \"10.0.0.2/24\" is a garbage."
        );
        assert_eq!(
            e("ip addr add 10.0.0.1/40 dev eth0"),
            "Error: any valid prefix is expected rather than \"10.0.0.1/40\"."
        );
        assert!(e("ip addr add 10.0.0.1/24 dev eth0 label eth0:1").contains("\"label\""));
        assert!(e("ip addr add dev eth0").contains("address"));
        assert!(e("ip neigh add 10.0.0.1 lladdr ee:ee:ee:ee:ee:ee").contains("required"));
        assert!(e("sysctl net.ipv4.ip_forward").contains("reads a key"));
        assert!(e("sysctl -p").contains("\"-p\""));
        assert!(e("sysctl -w a=1 b=2").contains("exactly one"));
        assert!(e("echo 1 > /tmp/x").contains("/proc/sys/"));
        assert!(e("echo hello").contains("echo VALUE >"));
        assert!(e("").contains("empty"));
        assert!(e("   # just a comment").contains("empty"));
    }

    #[test]
    fn words_split_like_a_shell() {
        let w = |l: &str| split_words(l).unwrap();
        assert_eq!(w("a  'b c' \"d\\\"e\" f\\ g"), ["a", "b c", "d\"e", "f g"]);
        assert_eq!(w("echo 1>/x"), ["echo", "1", ">", "/x"]);
        assert_eq!(w("a#b # c"), ["a#b"]);
        assert_eq!(w("''"), [""]);
    }

    #[test]
    fn c_number_syntax() {
        assert_eq!(strtoul_full("10", 0), Some(10));
        assert_eq!(strtoul_full("0x1f", 0), Some(31));
        assert_eq!(strtoul_full("010", 0), Some(8));
        assert_eq!(strtoul_full("08", 0), None);
        assert_eq!(strtoul_full("1f", 16), Some(31));
        assert_eq!(strtoul_full("", 0), None);
        assert_eq!(parse_ipv4("10"), Some(ip("10.0.0.0")));
        assert_eq!(parse_ipv4("10.0.0.010"), Some(ip("10.0.0.8")));
        assert_eq!(parse_ipv4("10.0.0.1.2"), None);
        assert_eq!(parse_ipv4("10..1"), None);
        assert_eq!(parse_ipv4("10."), None);
        assert_eq!(get_netmask("255.255.255.0"), Some(24));
        assert_eq!(get_netmask("255.0.255.0"), None);
    }
}

/// `bridge OBJECT ...` (iproute2's `bridge/bridge.c`): `fdb` and `link` objects.
fn parse_bridge(w: &[String]) -> Result<Command, ParseError> {
    let Some(obj) = w.first() else {
        return Err(ParseError::new(
            "Usage: bridge [ OPTIONS ] OBJECT { COMMAND | help }",
        ));
    };
    let verb = w.get(1).map(String::as_str).unwrap_or("show");
    let rest = w.get(2..).unwrap_or_default();
    if matches(obj, "fdb") {
        let op = if matches(verb, "add") {
            FdbCmd::Add
        } else if matches(verb, "append") {
            FdbCmd::Append
        } else if matches(verb, "replace") {
            FdbCmd::Replace
        } else if matches(verb, "delete") {
            FdbCmd::Del
        } else {
            return Err(ParseError::new(format!(
                "Command \"{verb}\" is unknown, try \"bridge fdb help\"."
            )));
        };
        return parse_fdb_words(op, rest);
    }
    if matches(obj, "link") {
        if !matches(verb, "set") {
            return Err(unsupported("bridge link", verb));
        }
        return parse_bridge_link(rest);
    }
    Err(ParseError::new(format!(
        "Object \"{obj}\" is unknown, try \"bridge help\"."
    )))
}

/// The arguments of `bridge fdb add|append|replace|del` (`bridge/fdb.c: fdb_modify()`), as
/// scenario files list them.
pub fn parse_fdb(op: FdbCmd, args: &str) -> Result<Command, ParseError> {
    parse_fdb_words(op, &split_words(args)?)
}

fn parse_fdb_words(op: FdbCmd, words: &[String]) -> Result<Command, ParseError> {
    const CTX: &str = "bridge fdb";
    let mut c = Cursor::new(words);
    let mut dev: Option<&str> = None;
    let mut addr: Option<&str> = None;
    let mut dst: Option<Ipv4Addr> = None;
    let (mut selfflag, mut master, mut permanent, mut reachable) = (false, false, false, false);
    while let Some(t) = c.next() {
        if t == "dev" {
            dev = Some(c.value()?);
        } else if t == "dst" {
            let v = c.value()?;
            if dst.is_some() {
                return Err(duparg2("dst", v));
            }
            dst = Some(v.parse().map_err(|_| {
                ParseError::new(format!(
                    "Error: inet prefix is expected rather than \"{v}\"."
                ))
            })?);
        } else if t == "self" {
            selfflag = true;
        } else if matches(t, "master") {
            master = true;
        } else if matches(t, "local") || matches(t, "permanent") {
            permanent = true;
        } else if matches(t, "temp") || matches(t, "static") || matches(t, "dynamic") {
            reachable = true;
        } else if ["nhid", "port", "vni", "src_vni", "via"].contains(&t)
            || matches(t, "router")
            || matches(t, "vlan")
            || matches(t, "use")
            || matches(t, "extern_learn")
            || matches(t, "sticky")
        {
            return Err(unsupported(CTX, t));
        } else {
            let mut w = t;
            if w == "to" {
                w = c.value()?;
            }
            if addr.is_some() {
                return Err(duparg2("to", w));
            }
            addr = Some(w);
        }
    }
    let (Some(dev), Some(addr)) = (dev, addr) else {
        return Err(ParseError::new(
            "Device and address are required arguments.",
        ));
    };
    let mac =
        parse_mac(addr).map_err(|_| ParseError::new(format!("Invalid mac address {addr}")))?;
    // iproute2 assumes `self` without `self`/`master`, and `permanent` without a state.
    let master = master && !selfflag;
    Ok(Command::Fdb {
        op,
        mac,
        dev: dev.to_string(),
        dst,
        master,
        permanent: permanent || !reachable,
    })
}

/// `bridge link set dev DEV [hairpin|learning|flood on|off]` (`bridge/link.c`).
fn parse_bridge_link(words: &[String]) -> Result<Command, ParseError> {
    let mut c = Cursor::new(words);
    let mut dev: Option<&str> = None;
    let (mut hairpin, mut learning, mut flood) = (None, None, None);
    let on_off = |key: &str, v: &str| -> Result<bool, ParseError> {
        match v {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(ParseError::new(format!(
                "Error: argument of \"{key}\" must be \"on\" or \"off\", not \"{v}\""
            ))),
        }
    };
    while let Some(t) = c.next() {
        match t {
            "dev" => dev = Some(c.value()?),
            "hairpin" => hairpin = Some(on_off(t, c.value()?)?),
            "learning" => learning = Some(on_off(t, c.value()?)?),
            "flood" => flood = Some(on_off(t, c.value()?)?),
            other => return Err(unsupported("bridge link set", other)),
        }
    }
    let Some(dev) = dev else {
        return Err(ParseError::new("Device is a required argument."));
    };
    Ok(Command::BridgeLink {
        dev: dev.to_string(),
        hairpin,
        learning,
        flood,
    })
}

#[cfg(test)]
mod bridge_tests {
    use super::*;

    #[test]
    fn fdb_lines_as_flannel_and_calico_write_them() {
        let c = parse_command(
            "bridge fdb append 8e:00:00:00:00:02 dev flannel.1 dst 192.168.0.82 self permanent",
        )
        .unwrap();
        assert_eq!(
            c,
            Command::Fdb {
                op: FdbCmd::Append,
                mac: [0x8e, 0, 0, 0, 0, 2],
                dev: "flannel.1".into(),
                dst: Some(Ipv4Addr::new(192, 168, 0, 82)),
                master: false,
                permanent: true,
            }
        );
        let e = parse_command("bridge fdb add 66:00:00:00:00:02 dst 10.0.0.1").unwrap_err();
        assert_eq!(e.msg, "Device and address are required arguments.");
        let e = parse_command("bridge fdb add zz dev x").unwrap_err();
        assert_eq!(e.msg, "Invalid mac address zz");
        let c = parse_command("bridge link set dev veth1 hairpin on").unwrap();
        assert!(matches!(
            c,
            Command::BridgeLink {
                hairpin: Some(true),
                ..
            }
        ));
    }
}
