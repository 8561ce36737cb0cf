//! Netfilter state of one netns: the iptables `nat` table as iptables-nft holds it (built-in
//! chains, user chains, rules in order), ipsets of type hash:net, and the connection tracking
//! table with each connection's NAT binding (`struct nf_conn`). Pure data and the kernel's pure
//! algorithms on it (tuple inversion, `get_unique_tuple`, timeouts, the table commands). The
//! hooks that run packets through it live in `crate::stack::nat`; nothing here touches packet
//! bytes, devices or another netns.

use crate::dev::NsId;
use crate::netns::fib::Ipv4Net;
use crate::time::{Duration, Instant};
use rand::Rng;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

// ---------------------------------------------------------------------------------------------
// Hooks.

/// The netfilter hooks the nat table is attached to (`enum nf_inet_hooks`, less FORWARD).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hook {
    PreRouting,
    LocalIn,
    LocalOut,
    PostRouting,
}

/// Which address (and port) a NAT binding rewrites (`enum nf_nat_manip_type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Manip {
    Src,
    Dst,
}

impl Manip {
    pub fn other(self) -> Manip {
        match self {
            Manip::Src => Manip::Dst,
            Manip::Dst => Manip::Src,
        }
    }
}

impl Hook {
    /// `HOOK2MANIP()`: destination NAT before routing, source NAT after it.
    pub fn manip(self) -> Manip {
        match self {
            Hook::PreRouting | Hook::LocalOut => Manip::Dst,
            Hook::LocalIn | Hook::PostRouting => Manip::Src,
        }
    }

    /// The nat table's built-in chain run at this hook.
    pub fn chain(self) -> &'static str {
        match self {
            Hook::PreRouting => "PREROUTING",
            Hook::LocalIn => "INPUT",
            Hook::LocalOut => "OUTPUT",
            Hook::PostRouting => "POSTROUTING",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Hook::PreRouting => 1,
            Hook::LocalIn => 2,
            Hook::LocalOut => 4,
            Hook::PostRouting => 8,
        }
    }

    const ALL: [Hook; 4] = [
        Hook::PreRouting,
        Hook::LocalIn,
        Hook::LocalOut,
        Hook::PostRouting,
    ];
}

// ---------------------------------------------------------------------------------------------
// The nat table.

/// The nat table's built-in chains, in the order `iptables -S` lists them.
pub const BUILTIN_CHAINS: [&str; 4] = ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"];

/// `-s`/`-d [!] NET`: the address masked by the prefix (iptables clears host bits).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AddrMatch {
    pub net: Ipv4Net,
    pub invert: bool,
}

/// `-i`/`-o [!] NAME`; a trailing `+` matches every name with that prefix.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IfaceMatch {
    pub name: String,
    pub invert: bool,
}

impl IfaceMatch {
    /// `ifname_compare_aligned()` with iptables' `+` mask; `dev` is "" when there is none.
    pub fn matches(&self, dev: &str) -> bool {
        let hit = match self.name.strip_suffix('+') {
            Some(prefix) => dev.starts_with(prefix),
            None => dev == self.name,
        };
        hit != self.invert
    }
}

/// `-p [!] PROTO`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProtoMatch {
    pub proto: u8,
    pub invert: bool,
}

/// `-m addrtype` types, as bits `1 << RTN_*` (`XT_ADDRTYPE_*`).
pub const ADDRTYPE_NAMES: [&str; 12] = [
    "UNSPEC",
    "UNICAST",
    "LOCAL",
    "BROADCAST",
    "ANYCAST",
    "MULTICAST",
    "BLACKHOLE",
    "UNREACHABLE",
    "PROHIBIT",
    "THROW",
    "NAT",
    "XRESOLVE",
];
/// `RTN_UNICAST`, `RTN_LOCAL`, `RTN_BROADCAST`, `RTN_MULTICAST` (the types
/// `inet_dev_addr_type` returns here).
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_BROADCAST: u8 = 3;
pub const RTN_MULTICAST: u8 = 5;

/// A `-m` match module.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Match {
    /// `-m comment --comment TEXT`: matches everything, kept for printing.
    Comment(String),
    /// `-m set [!] --match-set NAME src|dst`.
    Set {
        name: String,
        src: bool,
        invert: bool,
    },
    /// `-m addrtype [[!] --src-type T,..] [[!] --dst-type T,..] [--limit-iface-in|out]`
    /// (revision 1); types as `ADDRTYPE_NAMES` bits.
    AddrType {
        src: Option<(u16, bool)>,
        dst: Option<(u16, bool)>,
        limit_iface_in: bool,
        limit_iface_out: bool,
    },
    /// `-m mark [!] --mark VALUE[/MASK]`. Nothing in the simulator sets a mark, so every
    /// packet's is 0 (kube-proxy's 0x4000/0x4000 never matches).
    Mark { value: u32, mask: u32, invert: bool },
}

/// What a matching rule does.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Target {
    Accept,
    Return,
    /// `-j MASQUERADE [--random-fully]`: source NAT to the out device's address.
    Masquerade {
        random_fully: bool,
    },
    /// `-j SNAT --to-source ADDR [--random-fully]`.
    Snat {
        to: Ipv4Addr,
        random_fully: bool,
    },
    /// `-j CHAIN`: a user chain.
    Jump(String),
}

impl Target {
    /// The hooks the target may be used from (`xt_target.hooks`): MASQUERADE only at
    /// POSTROUTING, SNAT at POSTROUTING and INPUT; the others anywhere.
    fn hooks(&self) -> u8 {
        match self {
            Target::Masquerade { .. } => Hook::PostRouting.bit(),
            Target::Snat { .. } => Hook::PostRouting.bit() | Hook::LocalIn.bit(),
            _ => 0x0f,
        }
    }
}

/// One rule, fields in the order `iptables -S` prints them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rule {
    pub src: Option<AddrMatch>,
    pub dst: Option<AddrMatch>,
    pub in_iface: Option<IfaceMatch>,
    pub out_iface: Option<IfaceMatch>,
    pub proto: Option<ProtoMatch>,
    /// `-m` matches in the order given.
    pub matches: Vec<Match>,
    /// None: no `-j` (the rule only counts).
    pub target: Option<Target>,
}

/// A chain and its rules.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Chain {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// An `iptables -t nat` command, as parsed (names unresolved).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum IptablesCmd {
    /// `-A CHAIN RULE`
    Append { chain: String, rule: Rule },
    /// `-I CHAIN [NUM] RULE` (NUM from 1; 1 when absent).
    Insert {
        chain: String,
        num: usize,
        rule: Rule,
    },
    /// `-D CHAIN RULE`
    Delete { chain: String, rule: Rule },
    /// `-D CHAIN NUM`
    DeleteNum { chain: String, num: usize },
    /// `-N CHAIN`
    NewChain(String),
    /// `-F [CHAIN]`
    Flush(Option<String>),
    /// `-X [CHAIN]`
    DeleteChain(Option<String>),
}

/// An `ipset` command.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum IpsetCmd {
    /// `ipset create NAME hash:net [family inet] [hashsize N] [maxelem N]` (`-exist`: no error
    /// if it exists).
    Create {
        name: String,
        maxelem: usize,
        exist: bool,
    },
    /// `ipset add NAME CIDR` (`-exist`: no error if it is already there).
    Add {
        name: String,
        net: Ipv4Net,
        exist: bool,
    },
    /// `ipset del NAME CIDR`
    Del {
        name: String,
        net: Ipv4Net,
        exist: bool,
    },
}

/// An ipset of type hash:net.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IpSet {
    /// Members in the order added.
    pub nets: Vec<Ipv4Net>,
    pub maxelem: usize,
}

impl IpSet {
    /// `hash_net4_test`: some member prefix holds `ip`.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }
}

/// The nat table: built-in chains first (`BUILTIN_CHAINS` order), then user chains.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NatTable {
    pub chains: Vec<Chain>,
}

impl Default for NatTable {
    fn default() -> Self {
        NatTable {
            chains: BUILTIN_CHAINS
                .iter()
                .map(|n| Chain {
                    name: n.to_string(),
                    rules: Vec::new(),
                })
                .collect(),
        }
    }
}

/// Nested jumps allowed (`NFT_JUMP_STACK_SIZE`).
pub const JUMP_STACK_MAX: usize = 16;

impl NatTable {
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chains.iter_mut().find(|c| c.name == name)
    }

    pub fn is_builtin(name: &str) -> bool {
        BUILTIN_CHAINS.contains(&name)
    }

    /// Hooks from which `chain` is reached (itself a built-in, or jumped to from one).
    fn reached_from(&self, chain: &str) -> u8 {
        let mut hooks = 0;
        for h in Hook::ALL {
            if self.reaches(h.chain(), chain, 0) {
                hooks |= h.bit();
            }
        }
        hooks
    }

    fn reaches(&self, from: &str, to: &str, depth: usize) -> bool {
        if from == to {
            return true;
        }
        if depth > JUMP_STACK_MAX {
            return false;
        }
        self.chain(from).is_some_and(|c| {
            c.rules.iter().any(|r| match &r.target {
                Some(Target::Jump(j)) => self.reaches(j, to, depth + 1),
                _ => false,
            })
        })
    }

    /// Hooks `rule` may run at: its target's (and for a jump, every rule's below it), less
    /// what its matches refuse (`addrtype_mt_checkentry`: no input interface at POSTROUTING
    /// and OUTPUT, no output interface at PREROUTING and INPUT).
    fn allowed_hooks(&self, rule: &Rule, depth: usize) -> u8 {
        let mut m = 0x0f;
        for mt in &rule.matches {
            if let Match::AddrType {
                limit_iface_in,
                limit_iface_out,
                ..
            } = mt
            {
                if *limit_iface_in {
                    m &= Hook::PreRouting.bit() | Hook::LocalIn.bit();
                }
                if *limit_iface_out {
                    m &= Hook::PostRouting.bit() | Hook::LocalOut.bit();
                }
            }
        }
        match &rule.target {
            Some(Target::Jump(j)) if depth <= JUMP_STACK_MAX => {
                if let Some(c) = self.chain(j) {
                    for r in &c.rules {
                        m &= self.allowed_hooks(r, depth + 1);
                    }
                }
            }
            Some(t) => m &= t.hooks(),
            None => {}
        }
        m
    }

    /// Checks a rule about to go into `chain` as the kernel and iptables would, and returns
    /// iptables' error text when it is refused.
    fn check_rule(
        &self,
        chain: &str,
        rule: &Rule,
        sets: &BTreeMap<String, IpSet>,
        what: &str,
    ) -> Result<(), String> {
        for m in &rule.matches {
            if let Match::Set { name, .. } = m {
                if !sets.contains_key(name) {
                    return Err(format!(
                        "iptables v1.8.9 (nf_tables): Set {name} doesn't exist."
                    ));
                }
            }
        }
        if let Some(Target::Jump(j)) = &rule.target {
            if self.chain(j).is_none() || Self::is_builtin(j) {
                return Err(format!(
                    "iptables v1.8.9 (nf_tables): Chain '{j}' does not exist"
                ));
            }
            // A loop would never end; nf_tables refuses it at commit (ELOOP).
            if self.reaches(j, chain, 0) {
                return Err(format!(
                    "iptables v1.8.9 (nf_tables):  {what} failed (Too many levels of symbolic \
                     links): rule in chain {chain}"
                ));
            }
        }
        let reached = self.reached_from(chain);
        if reached & !self.allowed_hooks(rule, 0) != 0 {
            // `xt_check_target`: e.g. MASQUERADE "used from hooks PREROUTING, but only
            // usable from POSTROUTING".
            return Err(format!(
                "iptables v1.8.9 (nf_tables):  {what} failed (Invalid argument): rule in chain \
                 {chain}"
            ));
        }
        Ok(())
    }

    /// Runs one `iptables -t nat` command. Errors read as iptables-nft 1.8.9 prints them.
    pub fn apply(
        &mut self,
        cmd: &IptablesCmd,
        sets: &BTreeMap<String, IpSet>,
    ) -> Result<(), String> {
        const NO_CHAIN: &str = "iptables: No chain/target/match by that name.";
        match cmd {
            IptablesCmd::Append { chain, rule } => {
                if self.chain(chain).is_none() {
                    return Err(NO_CHAIN.into());
                }
                self.check_rule(chain, rule, sets, "RULE_APPEND")?;
                if let Some(c) = self.chain_mut(chain) {
                    c.rules.push(rule.clone());
                }
                Ok(())
            }
            IptablesCmd::Insert { chain, num, rule } => {
                let Some(c) = self.chain(chain) else {
                    return Err(NO_CHAIN.into());
                };
                if *num == 0 || *num > c.rules.len() + 1 {
                    return Err("iptables: Index of insertion too big.".into());
                }
                self.check_rule(chain, rule, sets, "RULE_INSERT")?;
                if let Some(c) = self.chain_mut(chain) {
                    c.rules.insert(num - 1, rule.clone());
                }
                Ok(())
            }
            IptablesCmd::Delete { chain, rule } => {
                let Some(c) = self.chain_mut(chain) else {
                    return Err(NO_CHAIN.into());
                };
                match c.rules.iter().position(|r| r == rule) {
                    Some(i) => {
                        c.rules.remove(i);
                        Ok(())
                    }
                    None => Err(
                        "iptables: Bad rule (does a matching rule exist in that chain?).".into(),
                    ),
                }
            }
            IptablesCmd::DeleteNum { chain, num } => {
                let Some(c) = self.chain_mut(chain) else {
                    return Err(NO_CHAIN.into());
                };
                if *num == 0 || *num > c.rules.len() {
                    return Err("iptables: Index of deletion too big.".into());
                }
                c.rules.remove(num - 1);
                Ok(())
            }
            IptablesCmd::NewChain(name) => {
                if self.chain(name).is_some() {
                    return Err("iptables: Chain already exists.".into());
                }
                self.chains.push(Chain {
                    name: name.clone(),
                    rules: Vec::new(),
                });
                Ok(())
            }
            IptablesCmd::Flush(None) => {
                for c in &mut self.chains {
                    c.rules.clear();
                }
                Ok(())
            }
            IptablesCmd::Flush(Some(name)) => match self.chain_mut(name) {
                Some(c) => {
                    c.rules.clear();
                    Ok(())
                }
                None => Err(NO_CHAIN.into()),
            },
            IptablesCmd::DeleteChain(which) => {
                let names: Vec<String> = match which {
                    Some(n) => {
                        if Self::is_builtin(n) {
                            return Err(
                                "iptables v1.8.9 (nf_tables): Cannot delete built-in chain"
                                    .to_string(),
                            );
                        }
                        if self.chain(n).is_none() {
                            return Err(NO_CHAIN.into());
                        }
                        vec![n.clone()]
                    }
                    None => self
                        .chains
                        .iter()
                        .filter(|c| !Self::is_builtin(&c.name))
                        .map(|c| c.name.clone())
                        .collect(),
                };
                for n in &names {
                    let referenced = self.chains.iter().any(|c| {
                        c.rules
                            .iter()
                            .any(|r| matches!(&r.target, Some(Target::Jump(j)) if j == n))
                    });
                    if referenced {
                        return Err("iptables v1.8.9 (nf_tables): CHAIN_USER_DEL failed (Device or resource busy): chain ".to_string() + n);
                    }
                    if self.chain(n).is_some_and(|c| !c.rules.is_empty()) {
                        return Err("iptables v1.8.9 (nf_tables): CHAIN_USER_DEL failed (Device or resource busy): chain ".to_string() + n);
                    }
                }
                self.chains.retain(|c| !names.contains(&c.name));
                Ok(())
            }
        }
    }

    /// True if any rule refers to the set `name` (`References:` of `ipset list`).
    pub fn uses_set(&self, name: &str) -> bool {
        self.chains.iter().flat_map(|c| &c.rules).any(|r| {
            r.matches
                .iter()
                .any(|m| matches!(m, Match::Set { name: n, .. } if n == name))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Connection tracking.

/// Protocol numbers conntrack treats specially.
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// A conntrack tuple (`struct nf_conntrack_tuple`). ICMP: `src_u` is the echo id, `dst_u`
/// holds type << 8 | code. UDP/TCP: the ports. Other protocols (the generic tracker): 0, 0.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Tuple {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub src_u: u16,
    pub dst_u: u16,
}

impl Tuple {
    pub fn icmp_type(&self) -> u8 {
        (self.dst_u >> 8) as u8
    }

    /// `nf_ct_invert_tuple()`. ICMP: only the query types have an inverse (`invmap`).
    pub fn invert(&self) -> Option<Tuple> {
        let (src_u, dst_u) = match self.proto {
            PROTO_ICMP => {
                let inv: u8 = match self.icmp_type() {
                    8 => 0,
                    0 => 8,
                    13 => 14,
                    14 => 13,
                    15 => 16,
                    16 => 15,
                    17 => 18,
                    18 => 17,
                    _ => return None,
                };
                (self.src_u, u16::from(inv) << 8 | (self.dst_u & 0xff))
            }
            _ => (self.dst_u, self.src_u),
        };
        Some(Tuple {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
            src_u,
            dst_u,
        })
    }
}

/// Direction of a packet within its connection.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Dir {
    Original,
    Reply,
}

impl Dir {
    pub fn idx(self) -> usize {
        match self {
            Dir::Original => 0,
            Dir::Reply => 1,
        }
    }
    pub fn other(self) -> Dir {
        match self {
            Dir::Original => Dir::Reply,
            Dir::Reply => Dir::Original,
        }
    }
}

/// `enum ip_conntrack_info`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CtInfo {
    Established,
    Related,
    New,
    EstablishedReply,
    RelatedReply,
}

impl CtInfo {
    /// `CTINFO2DIR()`.
    pub fn dir(self) -> Dir {
        match self {
            CtInfo::EstablishedReply | CtInfo::RelatedReply => Dir::Reply,
            _ => Dir::Original,
        }
    }
    pub fn is_related(self) -> bool {
        matches!(self, CtInfo::Related | CtInfo::RelatedReply)
    }
}

/// `ct->status` bits (include/uapi/linux/netfilter/nf_conntrack_common.h).
pub const IPS_SEEN_REPLY: u32 = 1 << 1;
pub const IPS_ASSURED: u32 = 1 << 2;
pub const IPS_SRC_NAT: u32 = 1 << 4;
pub const IPS_DST_NAT: u32 = 1 << 5;
pub const IPS_NAT_MASK: u32 = IPS_SRC_NAT | IPS_DST_NAT;
pub const IPS_SRC_NAT_DONE: u32 = 1 << 7;
pub const IPS_DST_NAT_DONE: u32 = 1 << 8;
pub const IPS_NAT_DONE_MASK: u32 = IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE;

/// `nf_conntrack_icmp_timeout`.
pub const ICMP_TIMEOUT: Duration = Duration::from_secs(30);
/// `nf_conntrack_udp_timeout` (unreplied) and `nf_conntrack_udp_timeout_stream`.
pub const UDP_TIMEOUT: Duration = Duration::from_secs(30);
pub const UDP_TIMEOUT_STREAM: Duration = Duration::from_secs(120);
/// `nf_conntrack_generic_timeout` (also used for TCP here: the simulator sends no TCP).
pub const GENERIC_TIMEOUT: Duration = Duration::from_secs(600);
/// A UDP flow still active this long after its first packet is a stream (`stream_ts`).
const UDP_STREAM_AFTER: Duration = Duration::from_secs(2);
/// Cap on tracked connections (`nf_conntrack_max`); a new flow beyond it is dropped.
pub const CONNTRACK_MAX: usize = 65536;

/// One tracked connection (`struct nf_conn`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Conn {
    /// `tuplehash[IP_CT_DIR_ORIGINAL]` and `[IP_CT_DIR_REPLY]`.
    pub tuple: [Tuple; 2],
    pub status: u32,
    /// When it expires unless a packet refreshes it.
    pub timeout: Instant,
    /// `nf_conn_nat.masq_index`: the out device's ifindex of a MASQUERADE binding (0: none).
    pub masq_index: u32,
    /// `ct->proto.udp.stream_ts`.
    pub udp_stream_ts: Instant,
}

impl Conn {
    /// `init_conntrack()`: a new connection from its first packet's tuple, or None when the
    /// tuple has no inverse (an ICMP type that cannot start a connection).
    pub fn new(orig: Tuple, now: Instant) -> Option<Conn> {
        Some(Conn {
            tuple: [orig, orig.invert()?],
            status: 0,
            timeout: now,
            masq_index: 0,
            udp_stream_ts: now + UDP_STREAM_AFTER,
        })
    }

    pub fn orig(&self) -> &Tuple {
        &self.tuple[0]
    }
    pub fn reply(&self) -> &Tuple {
        &self.tuple[1]
    }

    /// `nf_nat_initialized()`.
    pub fn nat_initialized(&self, m: Manip) -> bool {
        self.status
            & match m {
                Manip::Src => IPS_SRC_NAT_DONE,
                Manip::Dst => IPS_DST_NAT_DONE,
            }
            != 0
    }

    /// The status bit `nf_nat_packet()` tests for a packet of `dir` at a hook doing `m`.
    pub fn nat_applies(&self, m: Manip, dir: Dir) -> bool {
        let mut bit = match m {
            Manip::Src => IPS_SRC_NAT,
            Manip::Dst => IPS_DST_NAT,
        };
        if dir == Dir::Reply {
            bit ^= IPS_NAT_MASK;
        }
        self.status & bit != 0
    }

    /// The l4 trackers' `packet()` refresh: ICMP 30 s; UDP 30 s until it has seen a reply and
    /// lived 2 s, then 120 s (`nf_conntrack_udp_packet`); the rest 600 s. `SEEN_REPLY` is
    /// set after this, as `nf_conntrack_in` does, so the first reply still gets 30 s.
    pub fn refresh(&mut self, now: Instant, dir: Dir) {
        let t = match self.tuple[0].proto {
            PROTO_ICMP => ICMP_TIMEOUT,
            PROTO_UDP if self.status & IPS_SEEN_REPLY != 0 => {
                if now > self.udp_stream_ts {
                    self.status |= IPS_ASSURED;
                    UDP_TIMEOUT_STREAM
                } else {
                    UDP_TIMEOUT
                }
            }
            PROTO_UDP => UDP_TIMEOUT,
            _ => GENERIC_TIMEOUT,
        };
        self.timeout = now + t;
        if dir == Dir::Reply {
            self.status |= IPS_SEEN_REPLY;
        }
    }
}

/// `skb->_nfct`: the connection a packet belongs to while it is inside one netns. A new
/// connection travels with its first packet, unconfirmed, until POSTROUTING or INPUT confirms
/// it into the table (`__nf_conntrack_confirm`); if the packet dies first, so does it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SkbCt {
    pub ns: NsId,
    pub conn: SkbConn,
    pub info: CtInfo,
}

/// A confirmed connection (by id) or an unconfirmed one (owned by its packet).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SkbConn {
    Confirmed(u64),
    Unconfirmed(Box<Conn>),
}

/// A NAT range as a target hands it to `nf_nat_setup_info` (`struct nf_nat_range2`), for the
/// one-address ranges MASQUERADE, SNAT --to-source ADDR and null bindings use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NatRange {
    pub addr: Ipv4Addr,
    /// `NF_NAT_RANGE_PROTO_RANDOM_FULLY`.
    pub random_fully: bool,
}

/// The conntrack table of a netns (`net->ct`), with NAT's `bysource` view.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Conntrack {
    pub conns: BTreeMap<u64, Conn>,
    /// Both tuples of every confirmed connection (a hash, as `nf_conntrack_hash`: looked up
    /// per packet, never iterated), to the connection's id (ids stay below 2^32).
    hash: rustc_hash::FxHashMap<Tuple, (u32, Dir)>,
    /// No connection expires before this (a lower bound; None with no connection): gc scans
    /// only when it has passed, so every lookup still finds no expired connection. A bound
    /// rather than an index keeps a connection at its table entries alone (a whole cluster's
    /// nodes hold millions).
    next_expiry: Option<Instant>,
    next_id: u64,
}

impl Conntrack {
    /// Drops expired connections (the gc worker, and lookups skipping expired entries).
    pub fn gc(&mut self, now: Instant) {
        if self.next_expiry.is_none_or(|t| t > now) {
            return;
        }
        let dead: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.timeout <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in dead {
            self.kill(id);
        }
        self.next_expiry = self.conns.values().map(|c| c.timeout).min();
    }

    fn expires_at(&mut self, t: Instant) {
        self.next_expiry = Some(self.next_expiry.map_or(t, |e| e.min(t)));
    }

    /// A confirmed connection saw a packet (`nf_ct_refresh_acct`).
    pub fn refresh(&mut self, id: u64, now: Instant, dir: Dir) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.refresh(now, dir);
        let t = c.timeout;
        self.expires_at(t);
    }

    /// `nf_ct_kill()`.
    pub fn kill(&mut self, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            for t in &c.tuple {
                if self.hash.get(t).is_some_and(|&(i, _)| u64::from(i) == id) {
                    self.hash.remove(t);
                }
            }
        }
    }

    /// `masq_device_event(NETDEV_DOWN)` (`addr` None) and `masq_inet_event` (an address
    /// removed): forget the connections MASQUERADE bound to the device (and that address).
    pub fn masq_flush(&mut self, ifindex: u32, addr: Option<Ipv4Addr>) {
        let dead: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.masq_index == ifindex && addr.is_none_or(|a| c.reply().dst == a))
            .map(|(&id, _)| id)
            .collect();
        for id in dead {
            self.kill(id);
        }
    }

    /// `nf_conntrack_find_get()`.
    pub fn find(&self, t: &Tuple) -> Option<(u64, Dir)> {
        self.hash.get(t).map(|&(id, dir)| (u64::from(id), dir))
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// `__nf_conntrack_confirm()`: the connection enters the table. Fails when one of its
    /// tuples is already there (a clash; the packet is then dropped), or the table is full.
    pub fn confirm(&mut self, c: Conn) -> Option<u64> {
        if c.tuple.iter().any(|t| self.hash.contains_key(t)) || self.conns.len() >= CONNTRACK_MAX {
            return None;
        }
        let id = self.next_id;
        let id32 = u32::try_from(id).ok()?;
        self.next_id += 1;
        self.hash.insert(c.tuple[0], (id32, Dir::Original));
        self.hash.insert(c.tuple[1], (id32, Dir::Reply));
        self.expires_at(c.timeout);
        self.conns.insert(id, c);
        Some(id)
    }

    /// `nf_conntrack_tuple_taken()`: another confirmed connection already uses `t` in either
    /// direction (one with the same original tuple is the same flow and does not count).
    fn tuple_taken(&self, t: &Tuple, ignored: &Conn) -> bool {
        match self.hash.get(t) {
            Some(&(id, _)) => self
                .conns
                .get(&u64::from(id))
                .is_some_and(|c| c.tuple[0] != ignored.tuple[0]),
            None => false,
        }
    }

    /// `nf_nat_used_tuple()`: would a connection whose original direction looks like `t` clash
    /// with one already in the table? (Its reply, the inverse, is what would be looked up.)
    fn used_tuple(&self, t: &Tuple, ct: &Conn) -> bool {
        t.invert().is_some_and(|r| self.tuple_taken(&r, ct))
    }

    /// `find_appropriate_src()`: a connection from the same source (address, port or id) that
    /// already has a source mapping in range; its mapping, for this destination. The
    /// `bysource` chain lists the newest connection first, as ids do backwards.
    fn find_appropriate_src(&self, t: &Tuple, range: &NatRange) -> Option<Tuple> {
        self.conns
            .values()
            .rev()
            .filter(|c| c.status & IPS_SRC_NAT_DONE != 0)
            .filter(|c| {
                let o = c.orig();
                o.proto == t.proto && o.src == t.src && o.src_u == t.src_u
            })
            .find_map(|c| {
                let mut r = c.reply().invert()?;
                r.dst = t.dst;
                r.dst_u = t.dst_u;
                (r.src == range.addr).then_some(r)
            })
    }

    /// `get_unique_tuple()` for a one-address range: a tuple for the connection's original
    /// direction with `m`'s address in the range, unique in the table.
    fn get_unique_tuple(
        &self,
        orig: &Tuple,
        range: &NatRange,
        ct: &Conn,
        m: Manip,
        rng: &mut impl Rng,
    ) -> Tuple {
        // 1) Keep the source mapping as it is, or as this source already has it.
        if m == Manip::Src && !range.random_fully {
            if orig.src == range.addr {
                if !self.used_tuple(orig, ct) {
                    return *orig;
                }
            } else if let Some(t) = self.find_appropriate_src(orig, range) {
                if !self.used_tuple(&t, ct) {
                    return t;
                }
            }
        }
        // 2) The address (`find_best_ips_proto`: one choice here).
        let mut t = *orig;
        match m {
            Manip::Src => t.src = range.addr,
            Manip::Dst => t.dst = range.addr,
        }
        // 3) The port or id, only if the tuple is not unique as it is.
        if !range.random_fully && !self.used_tuple(&t, ct) {
            return t;
        }
        self.l4proto_unique_tuple(&mut t, m, ct, rng);
        t
    }

    /// `nf_nat_l4proto_unique_tuple()` without a port range: ICMP ids over all of 0..=65535;
    /// source ports in the class of the original one (1-511, 600-1023, 1024-65535); a
    /// destination port is never changed. Starts at a random offset and tries up to 128
    /// values, then fewer from new random offsets, as the kernel does.
    fn l4proto_unique_tuple(&self, t: &mut Tuple, m: Manip, ct: &Conn, rng: &mut impl Rng) {
        let (min, range_size): (u32, u32) = match t.proto {
            PROTO_ICMP => (0, 65536),
            PROTO_UDP | PROTO_TCP => {
                if m == Manip::Dst {
                    return;
                }
                match t.src_u {
                    p if p < 512 => (1, 511),
                    p if p < 1024 => (600, 1023 - 600 + 1),
                    _ => (1024, 65535 - 1024 + 1),
                }
            }
            _ => return,
        };
        let mut off: u16 = rng.gen();
        let mut attempts = range_size.min(128);
        loop {
            for _ in 0..attempts {
                t.src_u = (min + u32::from(off) % range_size) as u16;
                if !self.used_tuple(t, ct) {
                    return;
                }
                off = off.wrapping_add(1);
            }
            if attempts >= range_size || attempts < 16 {
                return;
            }
            attempts /= 2;
            off = rng.gen();
        }
    }

    /// `nf_nat_setup_info()` on an unconfirmed connection: choose the unique tuple, make the
    /// reply tuple its inverse, and mark the manip done (and NATed if anything changed).
    pub fn nat_setup_info(&self, ct: &mut Conn, range: &NatRange, m: Manip, rng: &mut impl Rng) {
        let Some(curr) = ct.reply().invert() else {
            return;
        };
        let new = self.get_unique_tuple(&curr, range, ct, m, rng);
        if new != curr {
            if let Some(reply) = new.invert() {
                ct.tuple[1] = reply;
                ct.status |= match m {
                    Manip::Src => IPS_SRC_NAT,
                    Manip::Dst => IPS_DST_NAT,
                };
            }
        }
        ct.status |= match m {
            Manip::Src => IPS_SRC_NAT_DONE,
            Manip::Dst => IPS_DST_NAT_DONE,
        };
    }

    /// `nf_nat_alloc_null_binding()`: "NAT" to the address the connection already has, so its
    /// tuples still get made unique.
    pub fn null_binding(&self, ct: &mut Conn, m: Manip, rng: &mut impl Rng) {
        let addr = match m {
            Manip::Src => ct.reply().dst,
            Manip::Dst => ct.reply().src,
        };
        let range = NatRange {
            addr,
            random_fully: false,
        };
        self.nat_setup_info(ct, &range, m, rng);
    }
}

/// Netfilter state of a netns.
#[derive(Clone, Default, Debug)]
pub struct Netfilter {
    /// The nat table once an `iptables -t nat` command created it. Its hooks also turn on
    /// connection tracking in the netns (`nf_ct_netns_get`), as with iptables-nft.
    pub nat: Option<NatTable>,
    /// ipsets by name (`ipset list` order is creation order; names sort the same here).
    pub sets: BTreeMap<String, IpSet>,
    pub ct: Conntrack,
    /// Conntrack's own reassembly queues (`nf_defrag_ipv4`, user `IP_DEFRAG_CONNTRACK_IN`),
    /// apart from local delivery's.
    pub frag: crate::netns::frag::FragQueues,
}

impl Netfilter {
    /// True when conntrack runs in this netns.
    pub fn tracking(&self) -> bool {
        self.nat.is_some()
    }

    /// Runs an `ipset` command; errors as ipset 7.17 prints them.
    pub fn ipset(&mut self, cmd: &IpsetCmd) -> Result<(), String> {
        const NO_SET: &str = "ipset v7.17: The set with the given name does not exist";
        match cmd {
            IpsetCmd::Create {
                name,
                maxelem,
                exist,
            } => {
                if self.sets.contains_key(name) {
                    return if *exist {
                        Ok(())
                    } else {
                        Err("ipset v7.17: Set cannot be created: set with the same name already exists".into())
                    };
                }
                self.sets.insert(
                    name.clone(),
                    IpSet {
                        nets: Vec::new(),
                        maxelem: *maxelem,
                    },
                );
                Ok(())
            }
            IpsetCmd::Add { name, net, exist } => {
                let Some(s) = self.sets.get_mut(name) else {
                    return Err(NO_SET.into());
                };
                if s.nets.contains(net) {
                    return if *exist {
                        Ok(())
                    } else {
                        Err(
                            "ipset v7.17: Element cannot be added to the set: it's already added"
                                .into(),
                        )
                    };
                }
                if s.nets.len() >= s.maxelem {
                    return Err("ipset v7.17: Hash is full, cannot add more elements".into());
                }
                s.nets.push(*net);
                Ok(())
            }
            IpsetCmd::Del { name, net, exist } => {
                let Some(s) = self.sets.get_mut(name) else {
                    return Err(NO_SET.into());
                };
                match s.nets.iter().position(|n| n == net) {
                    Some(i) => {
                        s.nets.remove(i);
                        Ok(())
                    }
                    None if *exist => Ok(()),
                    None => Err(
                        "ipset v7.17: Element cannot be deleted from the set: it's not added"
                            .into(),
                    ),
                }
            }
        }
    }

    /// Runs an `iptables -t nat` command, creating the table (and so conntrack) first. The
    /// table comes in the command's nf_tables transaction: if the command fails, a table it
    /// created goes too.
    pub fn iptables(&mut self, cmd: &IptablesCmd) -> Result<(), String> {
        let created = self.nat.is_none();
        let sets = &self.sets;
        let r = self
            .nat
            .get_or_insert_with(NatTable::default)
            .apply(cmd, sets);
        if r.is_err() && created {
            self.nat = None;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn echo(src: &str, dst: &str, id: u16) -> Tuple {
        Tuple {
            src: ip(src),
            dst: ip(dst),
            proto: PROTO_ICMP,
            src_u: id,
            dst_u: 8 << 8,
        }
    }

    #[test]
    fn icmp_echo_inverts_to_reply_with_the_same_id() {
        let t = echo("10.42.1.11", "10.211.55.6", 7);
        let r = t.invert().unwrap();
        assert_eq!((r.src, r.dst, r.src_u, r.icmp_type()), (t.dst, t.src, 7, 0));
        // Errors and unknown types cannot start a connection.
        let mut e = t;
        e.dst_u = 3 << 8 | 1;
        assert!(e.invert().is_none());
    }

    #[test]
    fn masquerade_keeps_the_id_unless_it_clashes() {
        // Two pods ping the same host with the same id through one MASQUERADE address: the
        // first keeps its id, the second's reply tuple would be the first's, so it moves.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut ct = Conntrack::default();
        let range = NatRange {
            addr: ip("10.211.55.5"),
            random_fully: false,
        };
        let now = Instant::ZERO;
        let mut a = Conn::new(echo("10.42.1.11", "10.211.55.6", 7), now).unwrap();
        ct.nat_setup_info(&mut a, &range, Manip::Src, &mut rng);
        assert_eq!(
            a.reply(),
            &echo("10.211.55.5", "10.211.55.6", 7).invert().unwrap()
        );
        assert!(a.status & IPS_SRC_NAT != 0);
        ct.confirm(a).unwrap();
        let mut b = Conn::new(echo("10.42.1.12", "10.211.55.6", 7), now).unwrap();
        ct.nat_setup_info(&mut b, &range, Manip::Src, &mut rng);
        assert_ne!(b.reply().src_u, 7);
        assert_eq!(b.reply().dst, ip("10.211.55.5"));
        ct.confirm(b).unwrap();
        // A null binding for the host's own ping with that id moves it too.
        let mut c = Conn::new(echo("10.211.55.5", "10.211.55.6", 7), now).unwrap();
        ct.null_binding(&mut c, Manip::Src, &mut rng);
        assert_ne!(c.reply().src_u, 7);
    }

    #[test]
    fn random_fully_draws_the_id_even_without_a_clash() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let ct = Conntrack::default();
        let range = NatRange {
            addr: ip("10.211.55.5"),
            random_fully: true,
        };
        let mut a = Conn::new(echo("10.42.1.11", "10.211.55.6", 7), Instant::ZERO).unwrap();
        ct.nat_setup_info(&mut a, &range, Manip::Src, &mut rng);
        assert_ne!(a.reply().src_u, 7);
    }

    #[test]
    fn udp_source_ports_stay_in_their_class() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let ct = Conntrack::default();
        for (sport, lo, hi) in [
            (53u16, 1u16, 511u16),
            (700, 600, 1023),
            (40000, 1024, 65535),
        ] {
            let t = Tuple {
                src: ip("10.42.1.11"),
                dst: ip("8.8.8.8"),
                proto: PROTO_UDP,
                src_u: sport,
                dst_u: 53,
            };
            let range = NatRange {
                addr: ip("10.211.55.5"),
                random_fully: true,
            };
            let mut c = Conn::new(t, Instant::ZERO).unwrap();
            ct.nat_setup_info(&mut c, &range, Manip::Src, &mut rng);
            let p = c.reply().dst_u;
            assert!((lo..=hi).contains(&p), "{sport} -> {p}");
        }
    }

    #[test]
    fn udp_timeout_grows_after_a_reply_and_two_seconds() {
        let t = Tuple {
            src: ip("10.42.1.11"),
            dst: ip("8.8.8.8"),
            proto: PROTO_UDP,
            src_u: 4000,
            dst_u: 53,
        };
        let t0 = Instant::ZERO;
        let mut c = Conn::new(t, t0).unwrap();
        c.refresh(t0, Dir::Original);
        assert_eq!(c.timeout, t0 + UDP_TIMEOUT);
        c.refresh(t0 + Duration::from_secs(1), Dir::Reply);
        assert_eq!(c.timeout, t0 + Duration::from_secs(31));
        c.refresh(t0 + Duration::from_secs(3), Dir::Original);
        assert_eq!(c.timeout, t0 + Duration::from_secs(123));
    }
}
