//! A VXLAN device's configuration and forwarding database (`drivers/net/vxlan/vxlan_core.c`,
//! linux-semantics.md R10): which remote VTEPs an inner destination MAC goes to, learning,
//! and the UDP source port drawn from the inner flow.

use crate::drop::DropReason;
use crate::time::{Duration, Instant};
use std::net::Ipv4Addr;

/// IANA's port; Calico uses it.
pub const PORT_IANA: u16 = 4789;
/// The kernel's default when no dstport is given (and flannel's).
pub const PORT_LINUX: u16 = 8472;
/// `ip_local_port_range` default, used when the device's srcport range is `0 0`.
pub const SRCPORT_RANGE: (u16, u16) = (32768, 60999);

/// How an FDB entry came to be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FdbState {
    /// `bridge fdb add|append ... permanent`: never ages.
    Permanent,
    /// Added without `permanent` (NUD_REACHABLE): ages like a learned one, unless `static`.
    Static,
    /// Learned from a received frame's outer source (`vxlan_snoop`).
    Learned,
}

/// An FDB entry (`struct vxlan_fdb`): one MAC, one or more remote VTEPs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VxlanFdb {
    pub mac: [u8; 6],
    pub remotes: Vec<Ipv4Addr>,
    pub state: FdbState,
    pub updated: Instant,
}

impl VxlanFdb {
    /// Still in the table at `now`: permanent, or refreshed within the ageing time.
    pub fn is_live(&self, now: Instant, ageing_time: Duration) -> bool {
        self.state == FdbState::Permanent || now.since(self.updated) < ageing_time
    }
}

/// A VXLAN device (`ip link add NAME type vxlan id VNI ...`).
#[derive(Clone, Debug)]
pub struct Vxlan {
    pub vni: u32,
    pub dst_port: u16,
    /// `local`: the outer source address.
    pub local: Option<Ipv4Addr>,
    /// `dev`: the underlay device (ifindex in the same netns).
    pub link: Option<u32>,
    pub learning: bool,
    /// `srcport MIN MAX`; (0, 0) means `ip_local_port_range`.
    pub src_port_range: (u16, u16),
    /// `ttl`; 0 is `ttl auto` (ip_default_ttl).
    pub ttl: u8,
    pub tos: u8,
    /// `udpcsum` (default since Linux 4.6); false sends checksum 0 (`noudpcsum`).
    pub udp_csum: bool,
    pub ageing_time: Duration,
    /// In insertion order.
    pub fdb: Vec<VxlanFdb>,
}

impl Vxlan {
    pub fn new(vni: u32, dst_port: u16) -> Self {
        Vxlan {
            vni,
            dst_port,
            local: None,
            link: None,
            learning: true,
            src_port_range: (0, 0),
            ttl: 0,
            tos: 0,
            udp_csum: true,
            ageing_time: Duration::from_secs(300),
            fdb: Vec::new(),
        }
    }

    /// Removes aged dynamic entries (`vxlan_cleanup`).
    pub fn age(&mut self, now: Instant) {
        let hold = self.ageing_time;
        self.fdb.retain(|e| e.is_live(now, hold));
    }

    /// The remotes for an inner destination MAC: its entry, else the all-zeros default
    /// entry (present only with `remote`/`group` or an explicit 00:00:00:00:00:00 entry).
    pub fn lookup(&mut self, now: Instant, dst: &[u8; 6]) -> Vec<Ipv4Addr> {
        self.age(now);
        let find = |m: &[u8; 6]| self.fdb.iter().find(|e| &e.mac == m);
        find(dst)
            .or_else(|| find(&[0; 6]))
            .map(|e| e.remotes.clone())
            .unwrap_or_default()
    }

    /// `bridge fdb add|append|replace MAC dev D dst IP`: `append` adds a remote to an existing
    /// entry, `add` fails if the MAC exists, `replace` overwrites it.
    pub fn fdb_modify(
        &mut self,
        now: Instant,
        mac: [u8; 6],
        remote: Ipv4Addr,
        state: FdbState,
        op: FdbOp,
    ) -> Result<(), String> {
        match (self.fdb.iter_mut().find(|e| e.mac == mac), op) {
            (Some(_), FdbOp::Add) => Err("RTNETLINK answers: File exists".into()),
            (Some(e), FdbOp::Append) => {
                if e.remotes.contains(&remote) {
                    return Err("RTNETLINK answers: File exists".into());
                }
                e.remotes.push(remote);
                e.state = state;
                e.updated = now;
                Ok(())
            }
            (Some(e), FdbOp::Replace) => {
                e.remotes = vec![remote];
                e.state = state;
                e.updated = now;
                Ok(())
            }
            (None, _) => {
                self.fdb.push(VxlanFdb {
                    mac,
                    remotes: vec![remote],
                    state,
                    updated: now,
                });
                Ok(())
            }
        }
    }

    /// `bridge fdb del MAC dev D [dst IP]`.
    pub fn fdb_del(&mut self, mac: [u8; 6], remote: Option<Ipv4Addr>) -> Result<(), String> {
        let Some(i) = self.fdb.iter().position(|e| e.mac == mac) else {
            return Err("RTNETLINK answers: No such file or directory".into());
        };
        match remote {
            Some(r) => {
                let e = &mut self.fdb[i];
                let before = e.remotes.len();
                e.remotes.retain(|x| *x != r);
                if e.remotes.len() == before {
                    return Err("RTNETLINK answers: No such file or directory".into());
                }
                if e.remotes.is_empty() {
                    self.fdb.remove(i);
                }
            }
            None => {
                self.fdb.remove(i);
            }
        }
        Ok(())
    }

    /// `vxlan_snoop`: learns (or moves) the inner source MAC to the outer source address.
    /// A permanent entry is never moved: a frame claiming its MAC from another VTEP is bogus
    /// (`VXLAN_ENTRY_EXISTS`).
    pub fn snoop(
        &mut self,
        now: Instant,
        src_mac: [u8; 6],
        remote: Ipv4Addr,
    ) -> Result<(), DropReason> {
        self.age(now);
        match self.fdb.iter_mut().find(|e| e.mac == src_mac) {
            Some(e) if e.remotes.first() == Some(&remote) => {
                if e.state != FdbState::Permanent {
                    e.updated = now;
                }
            }
            Some(e) if e.state == FdbState::Permanent => return Err(DropReason::VxlanEntryExists),
            Some(e) => {
                e.remotes = vec![remote];
                e.updated = now;
            }
            None => self.fdb.push(VxlanFdb {
                mac: src_mac,
                remotes: vec![remote],
                state: FdbState::Learned,
                updated: now,
            }),
        }
        Ok(())
    }

    /// `udp_flow_src_port()`: the flow hash scaled into the source port range.
    pub fn src_port(&self, hash: u32) -> u16 {
        let (min, max) = match self.src_port_range {
            (a, b) if a < b => (u32::from(a), u32::from(b)),
            _ => (u32::from(SRCPORT_RANGE.0), u32::from(SRCPORT_RANGE.1)),
        };
        let h = hash ^ (hash << 16);
        ((u64::from(h) * u64::from(max - min)) >> 32) as u16 + min as u16
    }
}

/// How `bridge fdb` changes an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FdbOp {
    Add,
    Append,
    Replace,
}

/// A symmetric flow hash of an inner frame (`skb_get_hash`): addresses and ports are sorted
/// before hashing, so both directions of a flow agree, and ICMP contributes no ports (R10.3).
/// Linux seeds it per boot; here `seed` comes from the scenario's seed. Non-IP frames hash
/// their MAC addresses, as `udp_flow_src_port` falls back to.
pub fn flow_hash(seed: u64, inner_frame: &[u8]) -> u32 {
    let ip = inner_frame.get(14..).unwrap_or_default();
    let is_ipv4 = inner_frame.get(12..14) == Some(&[0x08, 0x00]) && ip.len() >= 20;
    let mut words: Vec<u64> = Vec::new();
    if is_ipv4 {
        let a = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
        let b = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
        let proto = ip[9];
        words.push(u64::from(a.min(b)) << 32 | u64::from(a.max(b)));
        words.push(u64::from(proto));
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let first_fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff == 0;
        // TCP, UDP, UDP-Lite, DCCP and SCTP carry ports in their first 4 bytes.
        if first_fragment && matches!(proto, 6 | 17 | 33 | 132 | 136) {
            if let Some(p) = ip.get(ihl..ihl + 4) {
                let s = u16::from_be_bytes([p[0], p[1]]);
                let d = u16::from_be_bytes([p[2], p[3]]);
                words.push(u64::from(s.min(d)) << 16 | u64::from(s.max(d)));
            }
        }
    } else {
        for m in inner_frame.get(..12).unwrap_or_default().chunks(6) {
            words.push(m.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)));
        }
    }
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    for w in words {
        h = splitmix(h ^ w);
    }
    (h >> 32) as u32
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(src: [u8; 4], dst: [u8; 4], proto: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 28];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = proto;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f
    }

    #[test]
    fn both_directions_of_a_ping_get_the_same_port_in_range() {
        let v = Vxlan::new(4096, PORT_IANA);
        let a = flow_hash(7, &frame([10, 42, 1, 11], [10, 42, 2, 11], 1));
        let b = flow_hash(7, &frame([10, 42, 2, 11], [10, 42, 1, 11], 1));
        assert_eq!(a, b);
        let p = v.src_port(a);
        assert!((32768..60999).contains(&p));
        // Another pair of addresses hashes elsewhere; another seed (boot) too.
        assert_ne!(a, flow_hash(7, &frame([10, 42, 2, 0], [10, 42, 1, 11], 1)));
        assert_ne!(a, flow_hash(8, &frame([10, 42, 1, 11], [10, 42, 2, 11], 1)));
    }

    #[test]
    fn port_formula_is_udp_flow_src_port() {
        let v = Vxlan::new(1, PORT_LINUX);
        assert_eq!(v.src_port(0), 32768);
        // hash ^ hash<<16 = 0xffffffff -> the top of the range.
        assert_eq!(
            v.src_port(0xffff),
            32768 + ((0xffff_ffffu64 * 28231) >> 32) as u16
        );
        let mut w = Vxlan::new(1, PORT_LINUX);
        w.src_port_range = (1000, 1002);
        assert!((1000..1002).contains(&w.src_port(0x1234_5678)));
    }

    #[test]
    fn fdb_append_add_del_and_default_entry() {
        let mut v = Vxlan::new(1, PORT_LINUX);
        let m = [0x8e, 0, 0, 0, 0, 2];
        let (r1, r2) = (
            Ipv4Addr::new(192, 168, 0, 82),
            Ipv4Addr::new(192, 168, 0, 83),
        );
        let t = Instant::ZERO;
        v.fdb_modify(t, m, r1, FdbState::Permanent, FdbOp::Append)
            .unwrap();
        v.fdb_modify(t, m, r2, FdbState::Permanent, FdbOp::Append)
            .unwrap();
        assert!(v
            .fdb_modify(t, m, r2, FdbState::Permanent, FdbOp::Add)
            .is_err());
        assert_eq!(v.lookup(t, &m), vec![r1, r2]);
        assert_eq!(v.lookup(t, &[0xff; 6]), Vec::<Ipv4Addr>::new());
        v.fdb_modify(t, [0; 6], r2, FdbState::Permanent, FdbOp::Append)
            .unwrap();
        assert_eq!(v.lookup(t, &[0xff; 6]), vec![r2]);
        v.fdb_del(m, Some(r1)).unwrap();
        assert_eq!(v.lookup(t, &m), vec![r2]);
        assert!(v.fdb_del(m, Some(r1)).is_err());
    }

    #[test]
    fn learning_moves_dynamic_entries_but_not_permanent_ones() {
        let mut v = Vxlan::new(1, PORT_LINUX);
        let (a, b) = (Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2));
        let t = Instant::ZERO;
        v.snoop(t, [2, 0, 0, 0, 0, 1], a).unwrap();
        v.snoop(t, [2, 0, 0, 0, 0, 1], b).unwrap();
        assert_eq!(v.lookup(t, &[2, 0, 0, 0, 0, 1]), vec![b]);
        v.fdb_modify(t, [2, 0, 0, 0, 0, 2], a, FdbState::Permanent, FdbOp::Add)
            .unwrap();
        assert!(v.snoop(t, [2, 0, 0, 0, 0, 2], b).is_err());
        v.snoop(t, [2, 0, 0, 0, 0, 2], a).unwrap();
        assert_eq!(v.lookup(t, &[2, 0, 0, 0, 0, 2]), vec![a]);
        // Learned entries age out after 300 s.
        assert!(v
            .lookup(t + Duration::from_secs(300), &[2, 0, 0, 0, 0, 1])
            .is_empty());
    }
}
