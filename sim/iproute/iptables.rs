//! `iptables -t nat` and `ipset` command lines, both ways: parsed into [`IptablesCmd`] and
//! [`IpsetCmd`] the way iptables-nft 1.8.9 and ipset 7.17 parse them (options in any order, `!`
//! before the option it inverts, extension options going to the latest `-m`/`-j` that knows
//! them), and the nat table printed exactly as `iptables -t nat -S` prints it. What the
//! simulator does not model (other tables, DNAT, port ranges, most matches) is refused by name,
//! never ignored. Nothing here looks at a netns: chain and set names are checked when applied.

use super::parse::{strtoul_full, strtoul_prefix, ParseError};
use crate::netns::fib::Ipv4Net;
use crate::netns::nat::{
    AddrMatch, IfaceMatch, IpsetCmd, IptablesCmd, Match, NatTable, ProtoMatch, Rule, Target,
    ADDRTYPE_NAMES, BUILTIN_CHAINS,
};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

const IPT: &str = "iptables v1.8.9 (nf_tables)";
/// `ipset` 7.17's `maxelem` default.
pub const IPSET_MAXELEM_DEFAULT: usize = 65536;

fn ipt(msg: impl std::fmt::Display) -> ParseError {
    ParseError::new(format!("{IPT}: {msg}"))
}

fn unsupported(what: &str) -> ParseError {
    ParseError::new(format!(
        "Error: iptables \"{what}\" is not supported by the simulator (it models the nat table's \
         -A/-I/-D/-N/-F/-X with -s -d -i -o -p, -m comment|set|addrtype|mark and -j \
         MASQUERADE|SNAT|RETURN|ACCEPT|CHAIN)."
    ))
}

/// Targets iptables knows that the simulator does not model; any other `-j NAME` is a chain.
const UNMODELLED_TARGETS: &[&str] = &[
    "DROP", "REJECT", "DNAT", "REDIRECT", "NETMAP", "LOG", "NFLOG", "MARK", "CONNMARK", "CT",
    "NOTRACK", "TPROXY", "QUEUE", "NFQUEUE", "TRACE", "CLASSIFY", "TCPMSS", "TTL", "TOS", "DSCP",
    "ULOG", "AUDIT", "CHECKSUM", "SET",
];

/// Protocol names as iptables resolves and prints them (`xtables_chain_protos` and Debian's
/// /etc/protocols for the usual numbers).
const PROTOS: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (4, "ipencap"),
    (6, "tcp"),
    (17, "udp"),
    (41, "ipv6"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (132, "sctp"),
];

/// `__numeric_to_ipaddr()`: up to four dotted parts in any `strtoul` base; missing trailing
/// parts are 0 (`10.42` is 10.42.0.0).
fn numeric_to_ipaddr(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        o[i] = u8::try_from(strtoul_full(p, 0)?).ok()?;
    }
    Some(Ipv4Addr::from(o))
}

/// `-s`/`-d` argument: `ADDR[/LEN|/MASK]`, host bits cleared as iptables stores them.
fn parse_addr(arg: &str) -> Result<Ipv4Net, ParseError> {
    if arg.contains(',') {
        return Err(unsupported("-s/-d with a comma list"));
    }
    let (a, m) = match arg.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (arg, None),
    };
    let addr = numeric_to_ipaddr(a).ok_or_else(|| ipt(format!("host/network `{a}' not found")))?;
    let len = match m {
        None => 32,
        Some(m) => match strtoul_full(m, 10) {
            Some(l) if l <= 32 => l as u8,
            Some(_) => return Err(ipt(format!("invalid mask `{m}' specified"))),
            None => {
                let v = m
                    .split('.')
                    .count()
                    .eq(&4)
                    .then(|| numeric_to_ipaddr(m))
                    .flatten()
                    .ok_or_else(|| ipt(format!("invalid mask `{m}' specified")))?;
                let v = u32::from(v);
                if v.leading_ones() + v.trailing_zeros() != 32 {
                    return Err(unsupported("a non-contiguous netmask"));
                }
                v.leading_ones() as u8
            }
        },
    };
    Ok(Ipv4Net::new(addr, len))
}

/// `xtables_parse_interface()`.
fn parse_iface(arg: &str) -> Result<String, ParseError> {
    if arg.len() > 15 {
        return Err(ipt(format!(
            "interface name `{arg}' must be shorter than IFNAMSIZ (15)"
        )));
    }
    Ok(arg.to_string())
}

/// `xtables_parse_protocol()`.
fn parse_proto(arg: &str) -> Result<u8, ParseError> {
    let l = arg.to_ascii_lowercase();
    if l == "all" {
        return Ok(0);
    }
    if let Some(v) = strtoul_full(&l, 0) {
        return u8::try_from(v).map_err(|_| ipt(format!("unknown protocol \"{arg}\" specified")));
    }
    PROTOS
        .iter()
        .find(|(_, n)| *n == l)
        .map(|(p, _)| *p)
        .ok_or_else(|| ipt(format!("unknown protocol \"{arg}\" specified")))
}

/// A `-m` module being filled in.
#[derive(Debug)]
enum MatchB {
    Comment(Option<String>),
    Set(Option<(String, bool, bool)>),
    AddrType {
        src: Option<(u16, bool)>,
        dst: Option<(u16, bool)>,
        limit_in: bool,
        limit_out: bool,
    },
    Mark(Option<(u32, u32, bool)>),
}

impl MatchB {
    fn name(&self) -> &'static str {
        match self {
            MatchB::Comment(_) => "comment",
            MatchB::Set(_) => "set",
            MatchB::AddrType { .. } => "addrtype",
            MatchB::Mark(_) => "mark",
        }
    }

    fn knows(&self, opt: &str) -> bool {
        match self {
            MatchB::Comment(_) => opt == "--comment",
            MatchB::Set(_) => opt == "--match-set",
            MatchB::AddrType { .. } => matches!(
                opt,
                "--src-type" | "--dst-type" | "--limit-iface-in" | "--limit-iface-out"
            ),
            MatchB::Mark(_) => opt == "--mark",
        }
    }

    fn finish(self) -> Result<Match, ParseError> {
        let must = |m: &str, o: &str| ipt(format!("{m}: option \"{o}\" must be specified"));
        Ok(match self {
            MatchB::Comment(c) => Match::Comment(c.ok_or_else(|| must("comment", "--comment"))?),
            MatchB::Set(s) => {
                let (name, src, invert) =
                    s.ok_or_else(|| ipt("You must specify `--match-set' with proper arguments"))?;
                Match::Set { name, src, invert }
            }
            MatchB::AddrType {
                src,
                dst,
                limit_in,
                limit_out,
            } => {
                if src.is_none() && dst.is_none() {
                    return Err(ipt("addrtype: you must specify --src-type or --dst-type"));
                }
                if limit_in && limit_out {
                    return Err(ipt(
                        "addrtype: you can't specify both --limit-iface-in and --limit-iface-out",
                    ));
                }
                Match::AddrType {
                    src,
                    dst,
                    limit_iface_in: limit_in,
                    limit_iface_out: limit_out,
                }
            }
            MatchB::Mark(m) => {
                let (value, mask, invert) = m.ok_or_else(|| must("mark", "--mark"))?;
                Match::Mark {
                    value,
                    mask,
                    invert,
                }
            }
        })
    }
}

/// `-j` target being filled in.
#[derive(Debug)]
enum TargetB {
    Accept,
    Return,
    Masquerade {
        random_fully: bool,
    },
    Snat {
        to: Option<Ipv4Addr>,
        random_fully: bool,
    },
    Jump(String),
}

impl TargetB {
    fn knows(&self, opt: &str) -> bool {
        match self {
            TargetB::Masquerade { .. } => {
                matches!(opt, "--random-fully" | "--random" | "--to-ports")
            }
            TargetB::Snat { .. } => matches!(
                opt,
                "--to-source" | "--to" | "--random-fully" | "--random" | "--persistent"
            ),
            _ => false,
        }
    }

    fn finish(self) -> Result<Target, ParseError> {
        Ok(match self {
            TargetB::Accept => Target::Accept,
            TargetB::Return => Target::Return,
            TargetB::Masquerade { random_fully } => Target::Masquerade { random_fully },
            TargetB::Snat { to, random_fully } => Target::Snat {
                to: to.ok_or_else(|| ipt("SNAT: option \"--to-source\" must be specified"))?,
                random_fully,
            },
            TargetB::Jump(c) => Target::Jump(c),
        })
    }
}

/// The latest loaded extension an option may belong to.
#[derive(Clone, Copy)]
enum Ext {
    Match(usize),
    Target,
}

/// `addrtype` type list `T[,T...]` (case-insensitive) as `1 << RTN_*` bits.
fn parse_types(arg: &str) -> Result<u16, ParseError> {
    let mut bits = 0u16;
    for t in arg.split(',') {
        let i = ADDRTYPE_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(t))
            .ok_or_else(|| ipt(format!("addrtype: bad type \"{t}\"")))?;
        bits |= 1 << i;
    }
    Ok(bits)
}

/// `VALUE[/MASK]`, each as `strtoul(.., 0)`.
fn parse_mark(arg: &str) -> Result<(u32, u32), ParseError> {
    let bad = || ipt(format!("Bad mark value \"{arg}\""));
    let (v, rest) = strtoul_prefix(arg, 0).ok_or_else(bad)?;
    let v = u32::try_from(v).map_err(|_| bad())?;
    let m = match rest {
        "" => u32::MAX,
        r => {
            let m = r.strip_prefix('/').and_then(|m| strtoul_full(m, 0));
            u32::try_from(m.ok_or_else(bad)?).map_err(|_| bad())?
        }
    };
    Ok((v, m))
}

/// `iptables [-t nat] [-w [S]] COMMAND CHAIN [RULE]` (without the program name).
pub(super) fn parse_iptables(w: &[String]) -> Result<IptablesCmd, ParseError> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Append,
        Insert,
        Delete,
        New,
        Flush,
        DelChain,
    }
    let mut table = "filter".to_string();
    let mut cmd: Option<(Kind, char)> = None;
    let mut chain: Option<String> = None;
    let mut num: Option<usize> = None;
    let mut invert = false;
    let mut src: Option<AddrMatch> = None;
    let mut dst: Option<AddrMatch> = None;
    let mut in_iface: Option<IfaceMatch> = None;
    let mut out_iface: Option<IfaceMatch> = None;
    let mut proto: Option<ProtoMatch> = None;
    let mut matches: Vec<MatchB> = Vec::new();
    let mut target: Option<TargetB> = None;
    let mut exts: Vec<Ext> = Vec::new();
    let mut rule_opts: Vec<String> = Vec::new();
    let mut i = 0;
    let next = |i: &mut usize, opt: &str| -> Result<String, ParseError> {
        let v = w
            .get(*i)
            .ok_or_else(|| ipt(format!("option \"{opt}\" requires an argument")))?;
        *i += 1;
        Ok(v.clone())
    };
    let is_num = |s: Option<&String>| {
        s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    };
    while i < w.len() {
        let raw = w[i].clone();
        i += 1;
        if raw == "!" {
            if invert {
                return Err(ipt("multiple consecutive ! not allowed"));
            }
            invert = true;
            continue;
        }
        // Short options may carry their value: `-tnat`, `-APOSTROUTING`.
        let (opt, attached): (String, Option<String>) =
            if raw.len() > 2 && raw.starts_with('-') && !raw.starts_with("--") {
                (raw[..2].to_string(), Some(raw[2..].to_string()))
            } else {
                (raw.clone(), None)
            };
        let value = |i: &mut usize| -> Result<String, ParseError> {
            let v = match &attached {
                Some(v) => v.clone(),
                None => next(i, &opt)?,
            };
            // `-s ! ADDR` (negation after the option) is refused as iptables 1.8.9 does.
            if v == "!" {
                let after = w.get(*i).map_or("", String::as_str);
                return Err(ParseError::new(format!("Bad argument `{after}'")));
            }
            Ok(v)
        };
        let was_inverted = std::mem::take(&mut invert);
        let no_invert = |o: &str| -> Result<(), ParseError> {
            if was_inverted {
                Err(ipt(format!("unexpected ! flag before {o}")))
            } else {
                Ok(())
            }
        };
        let mut set_cmd = |k: Kind, c: char| -> Result<(), ParseError> {
            if let Some((_, old)) = cmd {
                return Err(ipt(format!("Cannot use -{c} with -{old}")));
            }
            cmd = Some((k, c));
            Ok(())
        };
        match opt.as_str() {
            "-t" | "--table" => {
                no_invert(&opt)?;
                table = value(&mut i)?;
            }
            "-w" | "--wait" => {
                no_invert(&opt)?;
                if attached.is_none() && is_num(w.get(i)) {
                    i += 1;
                }
            }
            "-W" | "--wait-interval" => {
                no_invert(&opt)?;
                value(&mut i)?;
            }
            "-4" | "--ipv4" => no_invert(&opt)?,
            "-A" | "--append" | "-I" | "--insert" | "-D" | "--delete" => {
                no_invert(&opt)?;
                let (k, c) = match opt.as_str() {
                    "-A" | "--append" => (Kind::Append, 'A'),
                    "-I" | "--insert" => (Kind::Insert, 'I'),
                    _ => (Kind::Delete, 'D'),
                };
                set_cmd(k, c)?;
                chain = Some(value(&mut i)?);
                if k != Kind::Append && is_num(w.get(i)) {
                    let n: usize = w[i].parse().unwrap_or(usize::MAX);
                    if n == 0 {
                        return Err(ipt(format!("Invalid rule number `{}'", w[i])));
                    }
                    num = Some(n);
                    i += 1;
                }
            }
            "-N" | "--new-chain" | "--new" | "-F" | "--flush" | "-X" | "--delete-chain" => {
                no_invert(&opt)?;
                let (k, c) = match opt.as_str() {
                    "-N" | "--new-chain" | "--new" => (Kind::New, 'N'),
                    "-F" | "--flush" => (Kind::Flush, 'F'),
                    _ => (Kind::DelChain, 'X'),
                };
                set_cmd(k, c)?;
                if k == Kind::New {
                    chain = Some(value(&mut i)?);
                } else if let Some(v) = attached.clone() {
                    chain = Some(v);
                } else if w.get(i).is_some_and(|s| !s.starts_with('-') && s != "!") {
                    chain = Some(w[i].clone());
                    i += 1;
                }
            }
            "-L" | "--list" | "-S" | "--list-rules" | "-P" | "--policy" | "-Z" | "--zero"
            | "-E" | "--rename-chain" | "-C" | "--check" | "-h" | "--help" => {
                return Err(unsupported(&opt))
            }
            "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                let net = parse_addr(&value(&mut i)?)?;
                let is_src = matches!(opt.as_str(), "-s" | "--source" | "--src");
                let slot = if is_src { &mut src } else { &mut dst };
                if slot.is_some() {
                    return Err(ipt(format!(
                        "multiple -{} flags not allowed",
                        if is_src { 's' } else { 'd' }
                    )));
                }
                if net.len == 0 && was_inverted {
                    return Err(unsupported("! -s/-d 0.0.0.0/0 (a rule that never matches)"));
                }
                // `-s 0/0` is no match at all, and prints nothing.
                if net.len > 0 || was_inverted {
                    *slot = Some(AddrMatch {
                        net,
                        invert: was_inverted,
                    });
                }
                rule_opts.push(opt.clone());
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let name = parse_iface(&value(&mut i)?)?;
                let is_in = matches!(opt.as_str(), "-i" | "--in-interface");
                let slot = if is_in { &mut in_iface } else { &mut out_iface };
                if slot.is_some() {
                    return Err(ipt(format!(
                        "multiple -{} flags not allowed",
                        if is_in { 'i' } else { 'o' }
                    )));
                }
                *slot = Some(IfaceMatch {
                    name,
                    invert: was_inverted,
                });
                rule_opts.push(opt.clone());
            }
            "-p" | "--protocol" => {
                let p = parse_proto(&value(&mut i)?)?;
                if proto.is_some() {
                    return Err(ipt("multiple -p flags not allowed"));
                }
                if p == 0 && was_inverted {
                    return Err(ipt("rule would never match protocol"));
                }
                if p != 0 {
                    proto = Some(ProtoMatch {
                        proto: p,
                        invert: was_inverted,
                    });
                }
                rule_opts.push(opt.clone());
            }
            "-m" | "--match" => {
                no_invert("--match")?;
                let name = value(&mut i)?;
                let m = match name.as_str() {
                    "comment" => MatchB::Comment(None),
                    "set" => MatchB::Set(None),
                    "addrtype" => MatchB::AddrType {
                        src: None,
                        dst: None,
                        limit_in: false,
                        limit_out: false,
                    },
                    "mark" => MatchB::Mark(None),
                    other => return Err(unsupported(&format!("-m {other}"))),
                };
                matches.push(m);
                exts.push(Ext::Match(matches.len() - 1));
                rule_opts.push(opt.clone());
            }
            "-j" | "--jump" => {
                no_invert(&opt)?;
                if target.is_some() {
                    return Err(ipt("multiple -j flags not allowed"));
                }
                let name = value(&mut i)?;
                target = Some(match name.as_str() {
                    "ACCEPT" => TargetB::Accept,
                    "RETURN" => TargetB::Return,
                    "MASQUERADE" => TargetB::Masquerade {
                        random_fully: false,
                    },
                    "SNAT" => TargetB::Snat {
                        to: None,
                        random_fully: false,
                    },
                    t if UNMODELLED_TARGETS.contains(&t) => {
                        return Err(unsupported(&format!("-j {t}")))
                    }
                    t => TargetB::Jump(t.to_string()),
                });
                exts.push(Ext::Target);
                rule_opts.push(opt.clone());
            }
            "-g" | "--goto" | "-f" | "--fragment" | "-6" | "--ipv6" | "-c" | "--set-counters" => {
                return Err(unsupported(&opt))
            }
            o if o.starts_with("--") => {
                // An extension option: the latest loaded extension that knows it takes it.
                let ext = exts.iter().rev().copied().find(|e| match e {
                    Ext::Match(m) => matches[*m].knows(o),
                    Ext::Target => target.as_ref().is_some_and(|t| t.knows(o)),
                });
                let Some(ext) = ext else {
                    return Err(ipt(format!("unknown option \"{o}\"")));
                };
                rule_opts.push(o.to_string());
                match ext {
                    Ext::Match(m) => {
                        let name = matches[m].name();
                        let cannot_invert =
                            || ipt(format!("{name}: option \"{o}\" cannot be inverted."));
                        match &mut matches[m] {
                            MatchB::Comment(c) => {
                                if was_inverted {
                                    return Err(cannot_invert());
                                }
                                let v = next(&mut i, o)?;
                                if v.len() > 255 {
                                    return Err(ipt("comment: option \"--comment\" must be at most 255 characters long"));
                                }
                                *c = Some(v);
                            }
                            MatchB::Set(s) => {
                                let (Some(name), Some(flags)) = (w.get(i), w.get(i + 1)) else {
                                    return Err(ipt("--match-set requires two args."));
                                };
                                i += 2;
                                let src = match flags.as_str() {
                                    "src" => true,
                                    "dst" => false,
                                    f => {
                                        return Err(unsupported(&format!(
                                            "--match-set {name} {f} (hash:net sets take one \
                                             flag, src or dst)"
                                        )))
                                    }
                                };
                                if name.len() > 31 {
                                    return Err(ipt(format!(
                                        "setname `{name}' too long, max 31 characters."
                                    )));
                                }
                                *s = Some((name.clone(), src, was_inverted));
                            }
                            MatchB::AddrType {
                                src,
                                dst,
                                limit_in,
                                limit_out,
                            } => match o {
                                "--src-type" => {
                                    *src = Some((parse_types(&next(&mut i, o)?)?, was_inverted))
                                }
                                "--dst-type" => {
                                    *dst = Some((parse_types(&next(&mut i, o)?)?, was_inverted))
                                }
                                _ => {
                                    if was_inverted {
                                        return Err(cannot_invert());
                                    }
                                    if o == "--limit-iface-in" {
                                        *limit_in = true;
                                    } else {
                                        *limit_out = true;
                                    }
                                }
                            },
                            MatchB::Mark(mk) => {
                                let (v, m) = parse_mark(&next(&mut i, o)?)?;
                                *mk = Some((v, m, was_inverted));
                            }
                        }
                    }
                    Ext::Target => {
                        if was_inverted {
                            return Err(ipt(format!("unexpected ! flag before {o}")));
                        }
                        match (target.as_mut(), o) {
                            (Some(TargetB::Masquerade { random_fully }), "--random-fully")
                            | (Some(TargetB::Snat { random_fully, .. }), "--random-fully") => {
                                *random_fully = true
                            }
                            (Some(TargetB::Snat { to, .. }), "--to-source" | "--to") => {
                                let v = next(&mut i, o)?;
                                if v.contains('-') || v.contains(':') {
                                    return Err(unsupported(&format!(
                                        "--to-source {v} (only one address, no port range)"
                                    )));
                                }
                                *to = Some(
                                    numeric_to_ipaddr(&v)
                                        .filter(|_| v.split('.').count() == 4)
                                        .ok_or_else(|| ipt(format!("Bad IP address \"{v}\"")))?,
                                );
                            }
                            _ => return Err(unsupported(o)),
                        }
                    }
                }
            }
            o if o.starts_with('-') && o.len() > 1 => {
                return Err(ipt(format!("Illegal option `{o}' with this command")))
            }
            other => return Err(ParseError::new(format!("Bad argument `{other}'"))),
        }
    }
    if invert {
        return Err(ipt("! without an option after it"));
    }
    let Some((kind, letter)) = cmd else {
        return Err(ipt("no command specified"));
    };
    if table != "nat" {
        return Err(ParseError::new(format!(
            "Error: iptables -t {table}: only the nat table is modelled by the simulator \
             (iptables -t nat ...)."
        )));
    }
    let takes_rule =
        matches!(kind, Kind::Append | Kind::Insert) || (kind == Kind::Delete && num.is_none());
    if !takes_rule {
        if let Some(o) = rule_opts.first() {
            return Err(ipt(format!("Illegal option `{o}' with this command")));
        }
    }
    let chain_name = |c: Option<String>| {
        c.ok_or_else(|| ipt(format!("option \"-{letter}\" requires an argument")))
    };
    Ok(match kind {
        Kind::New => {
            let c = chain_name(chain)?;
            if c.starts_with('-') {
                return Err(ipt("chain name not allowed to start with `-'"));
            }
            if c.len() > 28 {
                return Err(ipt(format!(
                    "chain name `{c}' too long (must be under 29 chars)"
                )));
            }
            if ["ACCEPT", "DROP", "QUEUE", "RETURN", "MASQUERADE", "SNAT"].contains(&c.as_str())
                || UNMODELLED_TARGETS.contains(&c.as_str())
            {
                return Err(ipt("chain name may not clash with target name"));
            }
            IptablesCmd::NewChain(c)
        }
        Kind::Flush => IptablesCmd::Flush(chain),
        Kind::DelChain => IptablesCmd::DeleteChain(chain),
        Kind::Delete if num.is_some() => IptablesCmd::DeleteNum {
            chain: chain_name(chain)?,
            num: num.unwrap_or(1),
        },
        _ => {
            let chain = chain_name(chain)?;
            if in_iface.is_some() && matches!(chain.as_str(), "POSTROUTING" | "OUTPUT") {
                return Err(ipt(format!("Can't use -i with {chain}")));
            }
            if out_iface.is_some() && matches!(chain.as_str(), "PREROUTING" | "INPUT") {
                return Err(ipt(format!("Can't use -o with {chain}")));
            }
            let rule = Rule {
                src,
                dst,
                in_iface,
                out_iface,
                proto,
                matches: matches
                    .into_iter()
                    .map(MatchB::finish)
                    .collect::<Result<_, _>>()?,
                target: target.map(TargetB::finish).transpose()?,
            };
            match kind {
                Kind::Append => IptablesCmd::Append { chain, rule },
                Kind::Insert => IptablesCmd::Insert {
                    chain,
                    num: num.unwrap_or(1),
                    rule,
                },
                _ => IptablesCmd::Delete { chain, rule },
            }
        }
    })
}

/// `ipset [-exist] create|add|del ...` (without the program name).
pub(super) fn parse_ipset(w: &[String]) -> Result<IpsetCmd, ParseError> {
    const IPSET: &str = "ipset v7.17";
    let err = |m: String| ParseError::new(format!("{IPSET}: {m}"));
    let mut exist = false;
    let mut args: Vec<&str> = Vec::new();
    for a in w {
        match a.as_str() {
            "-exist" | "-!" | "--exist" => exist = true,
            "-q" | "-quiet" | "--quiet" => {}
            _ => args.push(a),
        }
    }
    let Some((&verb, rest)) = args.split_first() else {
        return Err(err("No command specified.".into()));
    };
    let need = |i: usize, what: &str| -> Result<&str, ParseError> {
        rest.get(i)
            .copied()
            .ok_or_else(|| err(format!("Syntax error: {what} is missing")))
    };
    let cidr = |s: &str| -> Result<Ipv4Net, ParseError> {
        if s.contains('-') || s.contains(':') {
            return Err(ParseError::new(format!(
                "Error: ipset \"{s}\": only IPv4 CIDRs are modelled (no ranges, no IPv6)."
            )));
        }
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: Ipv4Addr = a.parse().map_err(|_| {
            err(format!(
                "Syntax error: cannot parse {a}: resolving to IPv4 address failed"
            ))
        })?;
        let len = match l {
            None => 32,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if (1..=32).contains(&n) => n,
                _ => {
                    return Err(err(
                        "The value of the CIDR parameter of the IP address is invalid".into(),
                    ))
                }
            },
        };
        Ok(Ipv4Net::new(addr, len))
    };
    match verb {
        "create" | "n" | "-N" => {
            let name = need(0, "set name")?;
            let ty = need(1, "set type")?;
            if ty != "hash:net" {
                return Err(ParseError::new(format!(
                    "Error: ipset type \"{ty}\" is not supported by the simulator (only hash:net)."
                )));
            }
            let mut maxelem = IPSET_MAXELEM_DEFAULT;
            let mut j = 2;
            while j < rest.len() {
                let v = rest.get(j + 1).copied();
                match (rest[j], v) {
                    ("family", Some("inet")) => {}
                    ("family", Some(f)) => {
                        return Err(ParseError::new(format!(
                            "Error: ipset family \"{f}\" is not supported by the simulator (only inet)."
                        )))
                    }
                    ("hashsize", Some(n)) if n.parse::<u32>().is_ok() => {}
                    ("maxelem", Some(n)) => {
                        maxelem = n
                            .parse()
                            .map_err(|_| err(format!("Syntax error: '{n}' is invalid as number")))?
                    }
                    (o, _) => {
                        return Err(ParseError::new(format!(
                            "Error: ipset create option \"{o}\" is not supported by the simulator."
                        )))
                    }
                }
                j += 2;
            }
            if name.len() > 31 {
                return Err(err(format!(
                    "Syntax error: setname '{name}' is longer than 31 characters"
                )));
            }
            Ok(IpsetCmd::Create {
                name: name.to_string(),
                maxelem,
                exist,
            })
        }
        "add" | "a" | "-A" | "del" | "-D" => {
            let name = need(0, "set name")?.to_string();
            let net = cidr(need(1, "element")?)?;
            if let Some(extra) = rest.get(2) {
                return Err(ParseError::new(format!(
                    "Error: ipset element option \"{extra}\" is not supported by the simulator."
                )));
            }
            Ok(if matches!(verb, "del" | "-D") {
                IpsetCmd::Del { name, net, exist }
            } else {
                IpsetCmd::Add { name, net, exist }
            })
        }
        other => Err(ParseError::new(format!(
            "Error: \"ipset {other}\" is not supported by the simulator (create, add, del)."
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// iptables -S

/// `xtables_save_string()`: bare when it is only `[_-0-9a-zA-Z]` (and not empty), else in
/// double quotes with `"`, `\` and `'` backslash-escaped.
fn save_string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn proto_name(p: u8) -> String {
    PROTOS
        .iter()
        .find(|(n, _)| *n == p)
        .map_or_else(|| p.to_string(), |(_, s)| s.to_string())
}

fn type_names(bits: u16) -> String {
    ADDRTYPE_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// One `-A CHAIN ...` line (without the newline), as `nft_ipv4_save_rule()` prints it.
pub fn format_rule(chain: &str, r: &Rule) -> String {
    let mut s = format!("-A {chain}");
    let bang = |inv: bool| if inv { " !" } else { "" };
    for (c, a) in [('s', &r.src), ('d', &r.dst)] {
        if let Some(a) = a {
            let _ = write!(s, "{} -{c} {}/{}", bang(a.invert), a.net.addr, a.net.len);
        }
    }
    for (c, i) in [('i', &r.in_iface), ('o', &r.out_iface)] {
        if let Some(i) = i {
            let _ = write!(s, "{} -{c} {}", bang(i.invert), i.name);
        }
    }
    if let Some(p) = &r.proto {
        let _ = write!(s, "{} -p {}", bang(p.invert), proto_name(p.proto));
    }
    for m in &r.matches {
        match m {
            Match::Comment(c) => {
                let _ = write!(s, " -m comment --comment {}", save_string(c));
            }
            Match::Set { name, src, invert } => {
                let dir = if *src { "src" } else { "dst" };
                let _ = write!(s, " -m set{} --match-set {name} {dir}", bang(*invert));
            }
            Match::AddrType {
                src,
                dst,
                limit_iface_in,
                limit_iface_out,
            } => {
                s.push_str(" -m addrtype");
                if let Some((t, inv)) = src {
                    let _ = write!(s, "{} --src-type {}", bang(*inv), type_names(*t));
                }
                if let Some((t, inv)) = dst {
                    let _ = write!(s, "{} --dst-type {}", bang(*inv), type_names(*t));
                }
                if *limit_iface_in {
                    s.push_str(" --limit-iface-in");
                }
                if *limit_iface_out {
                    s.push_str(" --limit-iface-out");
                }
            }
            Match::Mark {
                value,
                mask,
                invert,
            } => {
                let _ = write!(s, " -m mark{} --mark {value:#x}", bang(*invert));
                if *mask != u32::MAX {
                    let _ = write!(s, "/{mask:#x}");
                }
            }
        }
    }
    match &r.target {
        None => {}
        Some(Target::Accept) => s.push_str(" -j ACCEPT"),
        Some(Target::Return) => s.push_str(" -j RETURN"),
        Some(Target::Masquerade { random_fully }) => {
            s.push_str(" -j MASQUERADE");
            if *random_fully {
                s.push_str(" --random-fully");
            }
        }
        Some(Target::Snat { to, random_fully }) => {
            let _ = write!(s, " -j SNAT --to-source {to}");
            if *random_fully {
                s.push_str(" --random-fully");
            }
        }
        Some(Target::Jump(c)) => {
            let _ = write!(s, " -j {c}");
        }
    }
    s
}

/// `iptables -t nat -S`: the built-in chains' policies, the user chains by name, then every
/// rule, built-in chains first, then user chains by name.
pub fn format_nat_rules(t: &NatTable) -> String {
    let mut out = String::new();
    for b in BUILTIN_CHAINS {
        let _ = writeln!(out, "-P {b} ACCEPT");
    }
    let mut user: Vec<&str> = t
        .chains
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| !NatTable::is_builtin(n))
        .collect();
    user.sort_unstable();
    for u in &user {
        let _ = writeln!(out, "-N {u}");
    }
    for name in BUILTIN_CHAINS.iter().copied().chain(user.iter().copied()) {
        if let Some(c) = t.chain(name) {
            for r in &c.rules {
                let _ = writeln!(out, "{}", format_rule(name, r));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(l: &str) -> Vec<String> {
        super::super::parse::split_words(l).unwrap()
    }

    fn rule_line(l: &str) -> String {
        match parse_iptables(&words(l)).unwrap() {
            IptablesCmd::Append { chain, rule } => format_rule(&chain, &rule),
            c => panic!("{c:?}"),
        }
    }

    fn err(l: &str) -> String {
        parse_iptables(&words(l)).unwrap_err().msg
    }

    #[test]
    fn rules_print_back_as_iptables_nft_prints_them() {
        // Each input was run through iptables-nft 1.8.9 (Linux 6.18), and `iptables -t nat -S`
        // printed the expected line.
        for (input, printed) in [
            (
                "-t nat -A POSTROUTING ! -d 224.0.0.0/4 -s 10.244.0.0/16 -j MASQUERADE --random-fully",
                "-A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully",
            ),
            (
                "-w 5 -tnat -A POSTROUTING -s 10.42.1.5/16 -p ICMP -j SNAT --to 10.0.0.1 --random-fully",
                "-A POSTROUTING -s 10.42.0.0/16 -p icmp -j SNAT --to-source 10.0.0.1 --random-fully",
            ),
            (
                "-t nat -A POSTROUTING -s 10.42.1.5 -o eth+ -p udp -m comment --comment 'a b\"c' -j RETURN",
                "-A POSTROUTING -s 10.42.1.5/32 -o eth+ -p udp -m comment --comment \"a b\\\"c\" -j RETURN",
            ),
            (
                "-t nat -A POSTROUTING ! -o eth0 -m comment --comment '' -j ACCEPT",
                "-A POSTROUTING ! -o eth0 -m comment --comment \"\" -j ACCEPT",
            ),
            (
                "-t nat -A POSTROUTING -m comment --comment abc_-9 -j RETURN",
                "-A POSTROUTING -m comment --comment abc_-9 -j RETURN",
            ),
            (
                "-t nat -A POSTROUTING -m addrtype --src-type local --dst-type BROADCAST,LOCAL -j RETURN",
                "-A POSTROUTING -m addrtype --src-type LOCAL --dst-type LOCAL,BROADCAST -j RETURN",
            ),
            (
                "-t nat -A POSTROUTING -m mark ! --mark 16 -j RETURN",
                "-A POSTROUTING -m mark ! --mark 0x10 -j RETURN",
            ),
            ("-t nat -A POSTROUTING -s 10.42 -j RETURN", "-A POSTROUTING -s 10.42.0.0/32 -j RETURN"),
            ("-t nat -A POSTROUTING -s 0/0 -d 10.0.0.0/0 -p all -j RETURN", "-A POSTROUTING -j RETURN"),
            ("-t nat -A POSTROUTING -p 47", "-A POSTROUTING -p gre"),
            (
                "-t nat -A POSTROUTING ! -p icmp ! -s 10.0.0.0/255.0.0.0 -j RETURN",
                "-A POSTROUTING ! -s 10.0.0.0/8 ! -p icmp -j RETURN",
            ),
        ] {
            assert_eq!(rule_line(input), printed, "{input}");
        }
    }

    #[test]
    fn commands_and_their_numbers() {
        let p = |l: &str| parse_iptables(&words(l)).unwrap();
        assert!(matches!(
            p("-t nat -I POSTROUTING 2 -j RETURN"),
            IptablesCmd::Insert { num: 2, .. }
        ));
        assert!(matches!(
            p("-t nat -I POSTROUTING -j RETURN"),
            IptablesCmd::Insert { num: 1, .. }
        ));
        assert_eq!(
            p("-t nat -D POSTROUTING 3"),
            IptablesCmd::DeleteNum {
                chain: "POSTROUTING".into(),
                num: 3
            }
        );
        assert_eq!(p("-t nat -F"), IptablesCmd::Flush(None));
        assert_eq!(
            p("-t nat -X FOO"),
            IptablesCmd::DeleteChain(Some("FOO".into()))
        );
        assert_eq!(
            p("--table nat --new-chain FOO"),
            IptablesCmd::NewChain("FOO".into())
        );
    }

    #[test]
    fn refusals_read_like_iptables() {
        // iptables-nft 1.8.9's own messages for what it refuses.
        for (line, want) in [
            ("-t nat -A POSTROUTING -i eth0 -j RETURN", "iptables v1.8.9 (nf_tables): Can't use -i with POSTROUTING"),
            ("-t nat -A PREROUTING -o eth0 -j RETURN", "iptables v1.8.9 (nf_tables): Can't use -o with PREROUTING"),
            ("-t nat -A POSTROUTING -s ! 1.2.3.4 -j RETURN", "Bad argument `1.2.3.4'"),
            ("-t nat -A POSTROUTING ! -m comment --comment x", "iptables v1.8.9 (nf_tables): unexpected ! flag before --match"),
            ("-t nat -A POSTROUTING -m comment ! --comment x", "iptables v1.8.9 (nf_tables): comment: option \"--comment\" cannot be inverted."),
            ("-t nat -A POSTROUTING -s 1.1.1.1 -s 2.2.2.2", "iptables v1.8.9 (nf_tables): multiple -s flags not allowed"),
            ("-t nat -A POSTROUTING -m addrtype --src-type FOO", "iptables v1.8.9 (nf_tables): addrtype: bad type \"FOO\""),
            ("-t nat -A POSTROUTING -o verylongname12345", "iptables v1.8.9 (nf_tables): interface name `verylongname12345' must be shorter than IFNAMSIZ (15)"),
            ("-t nat -A POSTROUTING -p foo", "iptables v1.8.9 (nf_tables): unknown protocol \"foo\" specified"),
            ("-t nat -A POSTROUTING -s 10.0.0.0/33", "iptables v1.8.9 (nf_tables): invalid mask `33' specified"),
            ("-t nat", "iptables v1.8.9 (nf_tables): no command specified"),
            ("-t nat -A", "iptables v1.8.9 (nf_tables): option \"-A\" requires an argument"),
            ("-t nat -I POSTROUTING 0 -j RETURN", "iptables v1.8.9 (nf_tables): Invalid rule number `0'"),
            ("-t nat -A POSTROUTING -j SNAT", "iptables v1.8.9 (nf_tables): SNAT: option \"--to-source\" must be specified"),
            ("-t nat -A POSTROUTING -m set --match-set x", "iptables v1.8.9 (nf_tables): --match-set requires two args."),
            ("-t nat -A POSTROUTING bogus", "Bad argument `bogus'"),
            ("-t nat -A POSTROUTING -x", "iptables v1.8.9 (nf_tables): Illegal option `-x' with this command"),
            ("-t nat -N -foo", "iptables v1.8.9 (nf_tables): chain name not allowed to start with `-'"),
            ("-t nat -N ACCEPT", "iptables v1.8.9 (nf_tables): chain name may not clash with target name"),
            ("-t nat -N abcdefghijklmnopqrstuvwxyz0123", "iptables v1.8.9 (nf_tables): chain name `abcdefghijklmnopqrstuvwxyz0123' too long (must be under 29 chars)"),
        ] {
            assert_eq!(err(line), want, "{line}");
        }
        // What iptables accepts but the simulator does not model is named.
        for (line, what) in [
            (
                "-t nat -A PREROUTING -j DNAT --to-destination 1.1.1.1",
                "\"-j DNAT\"",
            ),
            (
                "-t nat -A POSTROUTING -j MASQUERADE --random",
                "\"--random\"",
            ),
            (
                "-t nat -A POSTROUTING -p udp -j MASQUERADE --to-ports 1024",
                "\"--to-ports\"",
            ),
            (
                "-t nat -A POSTROUTING -m conntrack --ctstate NEW",
                "\"-m conntrack\"",
            ),
            ("-t nat -S", "\"-S\""),
            ("-t nat -A POSTROUTING -g FOO", "\"-g\""),
            ("-A FORWARD -j ACCEPT", "only the nat table"),
        ] {
            let e = err(line);
            assert!(e.contains(what), "{line}: {e}");
        }
    }

    #[test]
    fn ipset_lines() {
        let p = |l: &str| parse_ipset(&words(l));
        assert_eq!(
            p("create cali40masq-ipam-pools hash:net family inet").unwrap(),
            IpsetCmd::Create {
                name: "cali40masq-ipam-pools".into(),
                maxelem: IPSET_MAXELEM_DEFAULT,
                exist: false
            }
        );
        assert_eq!(
            p("-exist add s 10.42.1.5/16").unwrap(),
            IpsetCmd::Add {
                name: "s".into(),
                net: Ipv4Net::new(Ipv4Addr::new(10, 42, 0, 0), 16),
                exist: true
            }
        );
        assert_eq!(
            p("add u 10.0.0.0/0").unwrap_err().msg,
            "ipset v7.17: The value of the CIDR parameter of the IP address is invalid"
        );
        assert!(p("create s hash:ip").unwrap_err().msg.contains("hash:ip"));
        assert!(p("create s hash:net family inet6")
            .unwrap_err()
            .msg
            .contains("inet6"));
        assert!(p("list").unwrap_err().msg.contains("ipset list"));
    }
}
