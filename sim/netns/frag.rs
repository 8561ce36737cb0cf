//! IPv4 reassembly as `ip_defrag()` does it (net/ipv4/ip_fragment.c, net/ipv4/inet_fragment.c):
//! one queue per (saddr, daddr, id, protocol), the kernel's rules for duplicates, overlaps and bad
//! lengths, `ipfrag_max_dist`, and the `ipfrag_time` timer. Pure data: the caller schedules the
//! timer, bumps the counters, sends the ICMP and accounts for every packet handed back.

use crate::dev::DevId;
use crate::drop::DropReason;
use crate::netns::nstat::Nstat;
use crate::packet::Pkt;
use crate::time::{Duration, Instant};
use crate::wire::ipv4::{self, Ipv4Error, Ipv4Repr, IP_DF};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `IP_FRAG_TIME` (include/net/ip.h, 30 * HZ): the default of `net.ipv4.ipfrag_time`.
pub const IPFRAG_TIME: Duration = Duration::from_secs(30);

/// The default of `net.ipv4.ipfrag_max_dist` (`ipv4_frags_init_net`).
pub const IPFRAG_MAX_DIST: u32 = 64;

/// Largest datagram `ip_frag_reasm` builds; larger ones fail with -E2BIG.
const IP_MAX_LEN: u32 = 65535;

/// `ip_frag_ecn_table` (net/ipv4/inet_fragment.c), indexed by the OR of `1 << (tos & 3)` over
/// all fragments: the ECN bits to OR into the datagram, or 0xff to refuse it (RFC 3168 5.3).
const IP_FRAG_ECN_TABLE: [u8; 16] = [
    0, 0, 0, 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 3, 0xff, 3, 0xff, 3, 0xff,
];

/// `frag_v4_compare_key` without `user` (always `IP_DEFRAG_LOCAL_DELIVER` here) and `vif`
/// (no l3mdev/VRF).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FragKey {
    pub saddr: Ipv4Addr,
    pub daddr: Ipv4Addr,
    pub id: u16,
    pub protocol: u8,
}

/// What one `add` did. Every packet it was given or released comes back in exactly one of
/// `complete`, `consumed` and `dropped`, unless it stays queued.
#[derive(Debug, Default)]
pub struct Defrag {
    /// The reassembled datagram, when this fragment completed one. The kernel makes the
    /// fragment that arrived last the head, so this is that `Pkt` (id, tag) with its data
    /// replaced by the whole datagram.
    pub complete: Option<Pkt>,
    /// The other fragments of `complete`; their bytes live on in it (`consume_skb`).
    pub consumed: Vec<Pkt>,
    /// Packets freed by this call, with the reason to count them under (see `add`).
    pub dropped: Vec<(Pkt, DropReason)>,
    /// A queue was created or restarted: call `expire` for this key at this instant.
    pub timer: Option<(FragKey, Instant)>,
    /// SNMP counters to bump, as `nstat` names them.
    pub counters: Vec<Nstat>,
    /// With `complete`: its largest fragment, header included (`IPCB(skb)->frag_max_size`).
    pub frag_max_size: u32,
}

/// A queue that `ip_expire` killed. Drop every packet in `head` and `rest` with
/// `FRAG_REASM_TIMEOUT`, and bump `counters`.
#[derive(Debug)]
pub struct Expired {
    pub key: FragKey,
    /// The offset-0 fragment, if it arrived (`INET_FRAG_FIRST_IN`). `ip_expire` routes it again
    /// as if received on `iif` and, if that succeeds, sends ICMP time exceeded, code
    /// `ICMP_EXC_FRAGTIME`, about it, before dropping it.
    pub head: Option<Pkt>,
    /// The other fragments, in offset order.
    pub rest: Vec<Pkt>,
    /// Device the latest queued fragment came in on (`qp->iif`).
    pub iif: Option<DevId>,
    pub counters: [Nstat; 2],
}

/// A queued fragment: `pkt.data` is the packet as received (the kernel trims it to
/// `end - offset` data bytes; keeping it whole keeps it parseable for drop records and ICMP).
/// Its data, after the `ihl`-byte header, is bytes `offset..end` of the datagram's.
#[derive(Clone, Debug)]
struct Frag {
    offset: u32,
    end: u32,
    ihl: usize,
    pkt: Pkt,
}

/// A run of fragments that arrived back to back at the tail (`frag_run_len`). A fragment inside
/// one run is a duplicate; one crossing a run boundary is an overlap (`inet_frag_queue_insert`).
#[derive(Clone, Debug)]
struct Run {
    len: u32,
    frags: Vec<Frag>,
}

/// `struct ipq`.
#[derive(Clone, Debug)]
struct Ipq {
    /// The rb-tree of runs, keyed by their first offset.
    runs: BTreeMap<u32, Run>,
    first_in: bool,
    last_in: bool,
    /// Datagram data length: known once the last fragment arrived, else the furthest end seen.
    len: u32,
    /// Data bytes queued.
    meat: u32,
    iif: Option<DevId>,
    ecn: u8,
    /// Largest fragment (header included), and largest with DF set.
    max_size: u32,
    max_df_size: u32,
    /// The source's `peer->rid` when this queue last took a fragment.
    rid: u32,
    expires: Instant,
}

impl Ipq {
    fn new(expires: Instant) -> Self {
        Ipq {
            runs: BTreeMap::new(),
            first_in: false,
            last_in: false,
            len: 0,
            meat: 0,
            iif: None,
            ecn: 0,
            max_size: 0,
            max_df_size: 0,
            rid: 0,
            expires,
        }
    }

    /// All fragments in offset order, emptying the queue.
    fn take_frags(&mut self) -> Vec<Frag> {
        std::mem::take(&mut self.runs)
            .into_values()
            .flat_map(|r| r.frags)
            .collect()
    }

    /// `inet_frag_queue_insert`. The last run ends furthest: the tail only grows.
    fn insert(&mut self, f: Frag) -> Result<(), (Insert, Frag)> {
        let (offset, end) = (f.offset, f.end);
        let Some((&tail_start, tail)) = self.runs.last_key_value() else {
            self.runs.insert(offset, Run::of(f));
            return Ok(());
        };
        let tail_end = tail_start + tail.len;
        if tail_end < end {
            if offset < tail_end {
                return Err((Insert::Overlap, f));
            }
            if offset == tail_end {
                if let Some(mut last) = self.runs.last_entry() {
                    let run = last.get_mut();
                    run.len += end - offset;
                    run.frags.push(f);
                }
            } else {
                self.runs.insert(offset, Run::of(f));
            }
            return Ok(());
        }
        // Runs are disjoint, so only the last one starting before `end` can hold or cross it;
        // the kernel's tree walk reaches the same verdict.
        if let Some((&start, run)) = self.runs.range(..end).next_back() {
            if offset < start + run.len {
                let dup = offset >= start && end <= start + run.len;
                return Err((if dup { Insert::Dup } else { Insert::Overlap }, f));
            }
        }
        self.runs.insert(offset, Run::of(f));
        Ok(())
    }
}

impl Run {
    fn of(f: Frag) -> Self {
        Run {
            len: f.end - f.offset,
            frags: vec![f],
        }
    }
}

/// Why `inet_frag_queue_insert` refused a fragment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Insert {
    /// `IPFRAG_DUP`: only this fragment is dropped.
    Dup,
    /// `IPFRAG_OVERLAP`: the whole queue dies (RFC 5722).
    Overlap,
}

/// A netns's reassembly queues (`net->ipv4.fqdir`) and the per-source fragment counters of its
/// inet_peers (`peer->rid`). Not modelled: the `ipfrag_high_thresh` memory limit (skb truesize).
#[derive(Clone, Debug)]
pub struct FragQueues {
    /// `net.ipv4.ipfrag_time`.
    pub ipfrag_time: Duration,
    /// `net.ipv4.ipfrag_max_dist`; 0 turns the check off.
    pub ipfrag_max_dist: u32,
    queues: BTreeMap<FragKey, Ipq>,
    /// Only the difference between two fragments of one queue matters, so a source's counter
    /// is forgotten with its last queue.
    peer_rid: BTreeMap<Ipv4Addr, u32>,
}

impl Default for FragQueues {
    fn default() -> Self {
        FragQueues {
            ipfrag_time: IPFRAG_TIME,
            ipfrag_max_dist: IPFRAG_MAX_DIST,
            queues: BTreeMap::new(),
            peer_rid: BTreeMap::new(),
        }
    }
}

impl FragQueues {
    /// `ip_defrag(net, skb, IP_DEFRAG_LOCAL_DELIVER)` for a fragment that arrived on `dev`.
    /// `pkt.data` is the IP packet, already through `ip_rcv_core` (callers pass only
    /// `ip_is_fragment()` packets; one that is not would be "reassembled" alone, as in Linux).
    ///
    /// Drop reasons: a duplicate is `DUP_FRAG` and the queue lives on. An overlap, a length that
    /// contradicts the queue, or an empty fragment kills the queue: the offending fragment is
    /// `NOT_SPECIFIED` (the kernel's `kfree_skb_reason` default). When a queue dies without
    /// completing (those cases, a datagram over 65535 bytes, mixed ECN) the kernel frees the
    /// fragments already queued with `SKB_CONSUMED`, which is no drop reason: they come back as
    /// `NOT_SPECIFIED`. Fragments flushed by `ipfrag_max_dist` are `FRAG_TOO_FAR`.
    pub fn add(&mut self, now: Instant, dev: DevId, pkt: Pkt) -> Defrag {
        let mut d = Defrag::default();
        let ip = match Ipv4Repr::parse(&pkt.data) {
            Ok(ip) => ip,
            Err(e) => {
                let reason = match e {
                    Ipv4Error::Truncated => DropReason::PktTooSmall,
                    Ipv4Error::BadHeader => DropReason::IpInhdr,
                    Ipv4Error::BadChecksum => DropReason::IpCsum,
                };
                d.dropped.push((pkt, reason));
                return d;
            }
        };
        d.counters.push(Nstat::IpReasmReqds);
        let key = FragKey {
            saddr: ip.src,
            daddr: ip.dst,
            id: ip.id,
            protocol: ip.proto,
        };
        let timeout = self.ipfrag_time;
        let q = self.queues.entry(key).or_insert_with(|| {
            d.timer = Some((key, now + timeout));
            Ipq::new(now + timeout)
        });

        // `ip_frag_too_far`: count this fragment against its source; if more than max_dist
        // arrived since this queue's last one, `ip_frag_reinit` starts the queue afresh (its
        // timer is always pending here: expired queues are gone).
        if self.ipfrag_max_dist != 0 {
            let rid = self.peer_rid.entry(key.saddr).or_insert(0);
            *rid = rid.wrapping_add(1);
            let start = std::mem::replace(&mut q.rid, *rid);
            if !q.runs.is_empty() && rid.wrapping_sub(start) > self.ipfrag_max_dist {
                d.counters.push(Nstat::IpReasmFails);
                for f in q.take_frags() {
                    d.dropped.push((f.pkt, DropReason::FragTooFar));
                }
                q.expires = now + timeout;
                d.timer = Some((key, q.expires));
                q.first_in = false;
                q.last_in = false;
                q.len = 0;
                q.meat = 0;
                q.iif = None;
                q.ecn = 0;
            }
        }

        // `ip_frag_queue`: where this fragment's data lies in the datagram.
        let ihl = ip.header_len as u32;
        let offset = u32::from(ip.frag_off) << 3;
        let mut end = offset + u32::from(ip.total_len) - ihl;
        let fits = if !ip.mf {
            // The last fragment: nothing may lie beyond it, and it may not move.
            let ok = end >= q.len && (!q.last_in || end == q.len);
            if ok {
                q.last_in = true;
                q.len = end;
            }
            ok
        } else {
            // Others are cut to a multiple of 8 and must not pass a known last fragment.
            end &= !7;
            let ok = end <= q.len || !q.last_in;
            if ok && end > q.len {
                q.len = end;
            }
            ok
        };
        if !fits || end == offset {
            return self.discard_qp(key, pkt, d);
        }
        let frag = Frag {
            offset,
            end,
            ihl: ip.header_len,
            pkt,
        };
        if let Err((why, frag)) = q.insert(frag) {
            return match why {
                Insert::Dup => {
                    d.dropped.push((frag.pkt, DropReason::DupFrag));
                    d
                }
                Insert::Overlap => {
                    d.counters.push(Nstat::IpExtReasmOverlaps);
                    self.discard_qp(key, frag.pkt, d)
                }
            };
        }
        q.iif = Some(dev);
        q.meat += end - offset;
        q.ecn |= 1 << (ip.tos & 3);
        if offset == 0 {
            q.first_in = true;
        }
        let fragsize = end - offset + ihl;
        q.max_size = q.max_size.max(fragsize);
        if ip.df {
            q.max_df_size = q.max_df_size.max(fragsize);
        }
        if q.first_in && q.last_in && q.meat == q.len {
            return self.frag_reasm(key, offset, d);
        }
        d
    }

    /// `discard_qp`: kill the queue, drop `pkt` and everything queued.
    fn discard_qp(&mut self, key: FragKey, pkt: Pkt, mut d: Defrag) -> Defrag {
        d.counters.push(Nstat::IpReasmFails);
        d.dropped.push((pkt, DropReason::NotSpecified));
        for f in self.kill(key, &mut d) {
            d.dropped.push((f.pkt, DropReason::NotSpecified));
        }
        d
    }

    /// `ipq_kill`: unhash the queue (its timer goes with it) and hand back its fragments.
    fn kill(&mut self, key: FragKey, d: &mut Defrag) -> Vec<Frag> {
        let frags = self
            .queues
            .remove(&key)
            .map(|mut q| q.take_frags())
            .unwrap_or_default();
        if !self.queues.keys().any(|k| k.saddr == key.saddr) {
            self.peer_rid.remove(&key.saddr);
        }
        if d.timer.is_some_and(|(k, _)| k == key) {
            d.timer = None;
        }
        frags
    }

    /// `ip_frag_reasm`: glue the queue into one datagram, carried by the fragment at `last_offset`
    /// (the one that just arrived). The head fragment's header (options included) becomes the
    /// datagram's, with the total length, ECN, DF and checksum redone.
    fn frag_reasm(&mut self, key: FragKey, last_offset: u32, mut d: Defrag) -> Defrag {
        let Some(q) = self.queues.get(&key) else {
            return d;
        };
        let ecn = IP_FRAG_ECN_TABLE[usize::from(q.ecn & 0x0f)];
        let df = q.max_df_size == q.max_size;
        let frag_max_size = q.max_df_size.max(q.max_size);
        let data_len = q.len;
        let frags = self.kill(key, &mut d);
        // The offset-0 fragment sorts first; its header becomes the datagram's.
        let head_ihl = frags.first().map_or(0, |f| f.ihl);
        let total = head_ihl as u32 + data_len;
        if ecn == 0xff || total > IP_MAX_LEN || frags.is_empty() {
            d.counters.push(Nstat::IpReasmFails);
            for f in frags {
                d.dropped.push((f.pkt, DropReason::NotSpecified));
            }
            return d;
        }
        let mut data = Vec::with_capacity(total as usize);
        if let Some(head) = frags.first() {
            data.extend_from_slice(&head.pkt.data[..head_ihl]);
        }
        let mut carrier = None;
        for f in frags {
            let len = (f.end - f.offset) as usize;
            data.extend_from_slice(&f.pkt.data[f.ihl..f.ihl + len]);
            if f.offset == last_offset && carrier.is_none() {
                carrier = Some(f.pkt);
            } else {
                d.consumed.push(f.pkt);
            }
        }
        data[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        data[1] |= ecn;
        let frag_off = if df { IP_DF } else { 0 };
        data[6..8].copy_from_slice(&frag_off.to_be_bytes());
        ipv4::refresh_checksum(&mut data);
        d.counters.push(Nstat::IpReasmOKs);
        d.frag_max_size = frag_max_size;
        d.complete = carrier.map(|p| Pkt { data, ..p });
        d
    }

    /// `ip_expire` for `key`'s timer firing at `now`. None if the queue is gone (completed or
    /// killed) or was restarted with a later deadline since the timer was armed.
    pub fn expire(&mut self, now: Instant, key: FragKey) -> Option<Expired> {
        let q = self.queues.get(&key)?;
        if q.expires > now {
            return None;
        }
        let first_in = q.first_in;
        let iif = q.iif;
        let mut frags = self.kill(key, &mut Defrag::default()).into_iter();
        let head = if first_in {
            frags.next().map(|f| f.pkt)
        } else {
            None
        };
        Some(Expired {
            key,
            head,
            rest: frags.map(|f| f.pkt).collect(),
            iif,
            counters: [Nstat::IpReasmFails, Nstat::IpReasmTimeout],
        })
    }

    /// Fragments held in all queues (packets neither delivered nor dropped yet).
    pub fn held(&self) -> usize {
        self.queues
            .values()
            .flat_map(|q| q.runs.values())
            .map(|r| r.frags.len())
            .sum()
    }

    /// The live queues and when each expires.
    pub fn deadlines(&self) -> impl Iterator<Item = (FragKey, Instant)> + '_ {
        self.queues.iter().map(|(k, q)| (*k, q.expires))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{fragment, Ipv4Build, IP_MF, PROTO_ICMP};
    use std::collections::BTreeSet;

    // The kernel behaviours below were also checked on Linux 6.18: raw fragments sent from one
    // netns to another over a veth, the outcome read from the echo reply (or its absence) and
    // `nstat` (IpReasmOKs, IpReasmFails, IpExtReasmOverlaps, IpReasmTimeout).

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    const T0: Instant = Instant::ZERO;
    const DEV: DevId = 3;

    /// The 72-byte message the fragments carry.
    fn msg() -> Vec<u8> {
        (0..72u8).collect()
    }

    /// Fragment `pkt_id` of datagram `ipid`: `data` at byte `offset`, MF as given.
    fn frag_tos(pkt_id: u64, ipid: u16, offset: u16, mf: bool, tos: u8, data: &[u8]) -> Pkt {
        let mut p = Ipv4Build {
            tos,
            id: ipid,
            df: false,
            ttl: 64,
            proto: PROTO_ICMP,
            src: SRC,
            dst: DST,
        }
        .packet(data);
        let fo = (offset >> 3) | if mf { IP_MF } else { 0 };
        p[6..8].copy_from_slice(&fo.to_be_bytes());
        ipv4::refresh_checksum(&mut p);
        Pkt {
            id: pkt_id,
            tag: None,
            data: p,
            ct: None,
            frag_max_size: 0,
        }
    }

    fn frag(pkt_id: u64, ipid: u16, offset: u16, mf: bool, data: &[u8]) -> Pkt {
        frag_tos(pkt_id, ipid, offset, mf, 0, data)
    }

    fn key(ipid: u16) -> FragKey {
        FragKey {
            saddr: SRC,
            daddr: DST,
            id: ipid,
            protocol: PROTO_ICMP,
        }
    }

    fn ids(pkts: &[Pkt]) -> Vec<u64> {
        pkts.iter().map(|p| p.id).collect()
    }

    fn drops(d: &Defrag) -> Vec<(u64, DropReason)> {
        d.dropped.iter().map(|(p, r)| (p.id, *r)).collect()
    }

    fn queued(d: &Defrag) -> bool {
        d.complete.is_none() && d.consumed.is_empty() && d.dropped.is_empty()
    }

    #[test]
    fn in_order_fragments_reassemble_into_the_datagram() {
        // `ip_frag_reasm`: the datagram is the first fragment's header with MF and offset
        // cleared, total length and checksum redone, then every fragment's data in order. The
        // fragment that completed it carries it; the others are consumed.
        let mut fq = FragQueues::default();
        let m = msg();
        let d = fq.add(T0, DEV, frag(1, 7, 0, true, &m[..32]));
        assert!(queued(&d));
        assert_eq!(d.timer, Some((key(7), T0 + IPFRAG_TIME)));
        assert_eq!(d.counters, [Nstat::IpReasmReqds]);
        assert_eq!(fq.held(), 1);
        let d = fq.add(T0, DEV, frag(2, 7, 32, false, &m[32..]));
        let whole = d.complete.expect("complete");
        assert_eq!(whole.id, 2);
        assert_eq!(ids(&d.consumed), [1]);
        assert!(d.dropped.is_empty() && d.timer.is_none());
        assert_eq!(d.counters, [Nstat::IpReasmReqds, Nstat::IpReasmOKs]);
        let mut want = frag(0, 7, 0, false, &m).data;
        want[6..8].copy_from_slice(&[0, 0]);
        ipv4::refresh_checksum(&mut want);
        assert_eq!(whole.data, want);
        assert_eq!(fq.held(), 0);
        assert_eq!(fq.deadlines().count(), 0);
    }

    #[test]
    fn reverse_order_takes_the_header_of_the_offset_0_fragment() {
        // The last fragment arrives first; the datagram still gets the first fragment's header
        // (here its TTL 64, not the last fragment's 9), carried by the packet that came last.
        let mut fq = FragQueues::default();
        let m = msg();
        let mut last = frag(1, 7, 32, false, &m[32..]);
        last.data[8] = 9;
        ipv4::refresh_checksum(&mut last.data);
        assert!(queued(&fq.add(T0, DEV, last)));
        let d = fq.add(T0, DEV, frag(2, 7, 0, true, &m[..32]));
        let whole = d.complete.expect("complete");
        assert_eq!((whole.id, ids(&d.consumed)), (2, vec![1]));
        let r = Ipv4Repr::parse(&whole.data).unwrap();
        assert_eq!((r.ttl, r.total_len, r.mf, r.frag_off), (64, 92, false, 0));
        assert_eq!(&whole.data[20..], &m[..]);
    }

    #[test]
    fn fragments_of_ping_3028_reassemble_to_the_original_in_any_order() {
        // What `fragment` cuts, `add` glues back byte for byte, whatever the arrival order.
        let payload: Vec<u8> = (0..3008u32).map(|i| i as u8).collect();
        let orig = Ipv4Build {
            tos: 0,
            id: 0x7367,
            df: false,
            ttl: 64,
            proto: PROTO_ICMP,
            src: SRC,
            dst: DST,
        }
        .packet(&payload);
        let frags = fragment(&orig, 1500).unwrap();
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let mut fq = FragQueues::default();
            let mut out = None;
            for i in order {
                let d = fq.add(
                    T0,
                    DEV,
                    Pkt {
                        id: i as u64,
                        tag: None,
                        data: frags[i].clone(),
                        ct: None,
                        frag_max_size: 0,
                    },
                );
                out = out.or(d.complete);
            }
            let out = out.expect("complete");
            assert_eq!(out.data, orig, "order {order:?}");
            assert_eq!(out.id, order[2] as u64);
        }
    }

    #[test]
    fn duplicate_fragment_is_dropped_and_the_queue_lives_on() {
        // IPFRAG_DUP: the copy is dropped with DUP_FRAG; the datagram still completes.
        let mut fq = FragQueues::default();
        let m = msg();
        fq.add(T0, DEV, frag(1, 7, 0, true, &m[..32]));
        let d = fq.add(T0, DEV, frag(2, 7, 0, true, &m[..32]));
        assert_eq!(drops(&d), [(2, DropReason::DupFrag)]);
        assert_eq!(d.counters, [Nstat::IpReasmReqds]);
        let d = fq.add(T0, DEV, frag(3, 7, 32, false, &m[32..]));
        assert_eq!(d.complete.map(|p| p.id), Some(3));
        assert_eq!(ids(&d.consumed), [1]);
    }

    #[test]
    fn fragment_inside_a_run_of_adjacent_fragments_is_a_duplicate() {
        // [0,16) and [16,32) arrive back to back and form one run; [8,24) lies inside it.
        let mut fq = FragQueues::default();
        let m = msg();
        fq.add(T0, DEV, frag(1, 7, 0, true, &m[..16]));
        fq.add(T0, DEV, frag(2, 7, 16, true, &m[16..32]));
        let d = fq.add(T0, DEV, frag(3, 7, 8, true, &m[8..24]));
        assert_eq!(drops(&d), [(3, DropReason::DupFrag)]);
        let d = fq.add(T0, DEV, frag(4, 7, 32, false, &m[32..]));
        assert_eq!(ids(&d.consumed), [1, 2]);
        assert_eq!(d.complete.map(|p| p.data[20..].to_vec()), Some(m));
    }

    #[test]
    fn fragment_across_two_runs_is_an_overlap_even_if_its_data_is_queued() {
        // [16,32) fills a gap after [32,48) arrived, so it is a run of its own; [8,24) crosses
        // from run [0,16) into it: IPFRAG_OVERLAP, although every byte was already queued.
        let mut fq = FragQueues::default();
        let m = msg();
        fq.add(T0, DEV, frag(1, 7, 0, true, &m[..16]));
        fq.add(T0, DEV, frag(2, 7, 32, true, &m[32..48]));
        fq.add(T0, DEV, frag(3, 7, 16, true, &m[16..32]));
        let d = fq.add(T0, DEV, frag(4, 7, 8, true, &m[8..24]));
        assert_eq!(
            d.counters,
            [
                Nstat::IpReasmReqds,
                Nstat::IpExtReasmOverlaps,
                Nstat::IpReasmFails
            ]
        );
        let mut got = drops(&d);
        got.sort();
        assert_eq!(
            got,
            (1..=4)
                .map(|i| (i, DropReason::NotSpecified))
                .collect::<Vec<_>>()
        );
        // ...whereas [16,24), inside the run [16,32), is a mere duplicate.
        fq.add(T0, DEV, frag(5, 8, 0, true, &m[..16]));
        fq.add(T0, DEV, frag(6, 8, 32, true, &m[32..48]));
        fq.add(T0, DEV, frag(7, 8, 16, true, &m[16..32]));
        let d = fq.add(T0, DEV, frag(8, 8, 16, true, &m[16..24]));
        assert_eq!(drops(&d), [(8, DropReason::DupFrag)]);
        let d = fq.add(T0, DEV, frag(9, 8, 48, false, &m[48..]));
        assert_eq!(d.complete.map(|p| p.data[20..].to_vec()), Some(m));
    }

    #[test]
    fn overlap_kills_the_queue_and_a_resend_starts_a_new_one() {
        // RFC 5722 as Linux applies it to IPv4: [24,48) overlaps [0,32); the queue and both
        // fragments go; the next fragment of the same datagram opens a fresh queue.
        let mut fq = FragQueues::default();
        let m = msg();
        fq.add(T0, DEV, frag(1, 7, 0, true, &m[..32]));
        let d = fq.add(T0, DEV, frag(2, 7, 24, true, &m[24..48]));
        assert_eq!(
            drops(&d),
            [(2, DropReason::NotSpecified), (1, DropReason::NotSpecified)]
        );
        assert_eq!(fq.held(), 0);
        let t1 = T0 + Duration::from_secs(1);
        let d = fq.add(t1, DEV, frag(3, 7, 0, true, &m[..32]));
        assert_eq!(d.timer, Some((key(7), t1 + IPFRAG_TIME)));
        let d = fq.add(t1, DEV, frag(4, 7, 32, false, &m[32..]));
        assert_eq!(d.complete.map(|p| p.id), Some(4));
    }

    #[test]
    fn non_last_fragment_is_cut_to_a_multiple_of_8() {
        // A 36-byte MF fragment counts as [0,32); its last 4 bytes are discarded, so [32,72)
        // completes the datagram.
        let mut fq = FragQueues::default();
        let m = msg();
        fq.add(T0, DEV, frag(1, 7, 0, true, &m[..36]));
        let d = fq.add(T0, DEV, frag(2, 7, 32, false, &m[32..]));
        let whole = d.complete.expect("complete");
        assert_eq!(whole.data.len(), 92);
        assert_eq!(&whole.data[20..], &m[..]);
    }

    #[test]
    fn bad_lengths_kill_the_queue() {
        // Each of these contradicts the queue (`discard_qp`): a fragment left empty by the
        // cut to 8 bytes; a last fragment ending before queued data; data past the known end;
        // a second last fragment with another end.
        let m = msg();
        let cases: [(Pkt, Pkt); 4] = [
            (
                frag(1, 7, 0, true, &m[..32]),
                frag(2, 7, 32, true, &m[32..36]),
            ),
            (
                frag(1, 7, 32, true, &m[32..64]),
                frag(2, 7, 8, false, &m[8..32]),
            ),
            (
                frag(1, 7, 32, false, &m[32..]),
                frag(2, 7, 72, true, &m[..8]),
            ),
            (
                frag(1, 7, 32, false, &m[32..]),
                frag(2, 7, 40, false, &m[40..64]),
            ),
        ];
        for (i, (a, b)) in cases.into_iter().enumerate() {
            let mut fq = FragQueues::default();
            assert!(queued(&fq.add(T0, DEV, a)), "case {i}");
            let d = fq.add(T0, DEV, b);
            assert_eq!(
                drops(&d),
                [(2, DropReason::NotSpecified), (1, DropReason::NotSpecified)],
                "case {i}"
            );
            assert_eq!(
                d.counters,
                [Nstat::IpReasmReqds, Nstat::IpReasmFails],
                "case {i}"
            );
            assert_eq!((fq.held(), d.timer), (0, None), "case {i}");
        }
    }

    #[test]
    fn datagram_over_65535_bytes_fails() {
        // Offsets reach 65528 + data: the queue completes but `ip_frag_reasm` refuses to build
        // 20 + 65544 bytes (-E2BIG); all three fragments are lost.
        let mut fq = FragQueues::default();
        let big = vec![0u8; 32768];
        fq.add(T0, DEV, frag(1, 7, 0, true, &big));
        fq.add(T0, DEV, frag(2, 7, 32768, true, &big[..32760]));
        let d = fq.add(T0, DEV, frag(3, 7, 65528, false, &big[..16]));
        assert!(d.complete.is_none());
        assert_eq!(d.dropped.len(), 3);
        assert_eq!(d.counters, [Nstat::IpReasmReqds, Nstat::IpReasmFails]);
    }

    #[test]
    fn ecn_of_fragments_is_merged_per_rfc3168() {
        // `ip_frag_ecn_table`: CE with ECT(0) marks the datagram CE; Not-ECT mixed with CE
        // is refused.
        let m = msg();
        let mut fq = FragQueues::default();
        fq.add(T0, DEV, frag_tos(1, 7, 0, true, 0x02, &m[..32]));
        let d = fq.add(T0, DEV, frag_tos(2, 7, 32, false, 0x03, &m[32..]));
        assert_eq!(d.complete.map(|p| p.data[1]), Some(0x03));
        let mut fq = FragQueues::default();
        fq.add(T0, DEV, frag_tos(1, 7, 0, true, 0x00, &m[..32]));
        let d = fq.add(T0, DEV, frag_tos(2, 7, 32, false, 0x03, &m[32..]));
        assert!(d.complete.is_none());
        assert_eq!(d.dropped.len(), 2);
        assert_eq!(d.counters, [Nstat::IpReasmReqds, Nstat::IpReasmFails]);
    }

    #[test]
    fn datagram_keeps_df_when_the_largest_fragment_had_it() {
        // IPSKB_FRAG_PMTU: DF on the largest fragment puts DF on the datagram.
        let m = msg();
        for (df_first, want) in [(true, ipv4::IP_DF), (false, 0)] {
            let mut fq = FragQueues::default();
            let mut first = frag(1, 7, 0, true, &m[..40]);
            if df_first {
                first.data[6] |= 0x40;
                ipv4::refresh_checksum(&mut first.data);
            }
            fq.add(T0, DEV, first);
            let d = fq.add(T0, DEV, frag(2, 7, 40, false, &m[40..]));
            let whole = d.complete.expect("complete");
            assert_eq!(u16::from_be_bytes([whole.data[6], whole.data[7]]), want);
            assert_eq!(crate::wire::checksum(&whole.data[..20]), 0);
        }
    }

    #[test]
    fn expire_returns_the_head_for_icmp_only_if_offset_0_arrived() {
        // `ip_expire` after ipfrag_time: every fragment is dropped; with the first fragment in,
        // it is the one ICMP time exceeded (fragment reassembly) quotes.
        let m = msg();
        let mut fq = FragQueues::default();
        fq.add(T0, DEV, frag(1, 7, 32, true, &m[32..48]));
        fq.add(T0, 5, frag(2, 7, 0, true, &m[..16]));
        fq.add(T0, DEV, frag(3, 8, 32, false, &m[32..]));
        let early = Instant::from_ns(IPFRAG_TIME.as_ns() - 1);
        assert!(fq.expire(early, key(7)).is_none(), "not yet due");
        let e = fq.expire(T0 + IPFRAG_TIME, key(7)).expect("expired");
        assert_eq!(e.head.map(|p| p.id), Some(2));
        assert_eq!(ids(&e.rest), [1]);
        assert_eq!(
            (e.iif, e.counters),
            (Some(5), [Nstat::IpReasmFails, Nstat::IpReasmTimeout])
        );
        let e = fq.expire(T0 + IPFRAG_TIME, key(8)).expect("expired");
        assert!(e.head.is_none());
        assert_eq!(ids(&e.rest), [3]);
        assert!(
            fq.expire(T0 + IPFRAG_TIME, key(7)).is_none(),
            "already gone"
        );
        assert_eq!(fq.held(), 0);
    }

    #[test]
    fn stale_timer_after_completion_and_requeue_is_ignored() {
        // The timer of a completed queue must not kill a later queue with the same key early.
        let m = msg();
        let mut fq = FragQueues::default();
        fq.add(T0, DEV, frag(1, 7, 0, true, &m[..32]));
        fq.add(T0, DEV, frag(2, 7, 32, false, &m[32..]));
        let t1 = T0 + Duration::from_secs(10);
        let d = fq.add(t1, DEV, frag(3, 7, 0, true, &m[..32]));
        assert_eq!(d.timer, Some((key(7), t1 + IPFRAG_TIME)));
        assert!(fq.expire(T0 + IPFRAG_TIME, key(7)).is_none());
        assert!(fq.expire(t1 + IPFRAG_TIME, key(7)).is_some());
    }

    #[test]
    fn fragments_too_far_apart_restart_the_queue() {
        // ipfrag_max_dist 64: with 64 fragments of other datagrams from the same source in
        // between, the queued fragment is flushed (FRAG_TOO_FAR) and the queue restarts with the
        // newcomer and a new timer; with 63 the datagram still completes.
        let m = msg();
        for (others, too_far) in [(63u16, false), (64, true)] {
            let mut fq = FragQueues::default();
            fq.add(T0, DEV, frag(1, 7, 0, true, &m[..32]));
            for i in 0..others {
                fq.add(
                    T0,
                    DEV,
                    frag(100 + u64::from(i), 1000 + i, 0, true, &m[..32]),
                );
            }
            let t1 = T0 + Duration::from_secs(1);
            let d = fq.add(t1, DEV, frag(2, 7, 32, false, &m[32..]));
            if too_far {
                assert_eq!(drops(&d), [(1, DropReason::FragTooFar)]);
                assert_eq!(d.timer, Some((key(7), t1 + IPFRAG_TIME)));
                assert_eq!(d.counters, [Nstat::IpReasmReqds, Nstat::IpReasmFails]);
                assert!(d.complete.is_none());
                let e = fq
                    .expire(t1 + IPFRAG_TIME, key(7))
                    .expect("restarted queue");
                assert_eq!((e.head.is_none(), ids(&e.rest)), (true, vec![2]));
            } else {
                assert_eq!(d.complete.map(|p| p.id), Some(2));
            }
        }
        // Fragments from another source do not count.
        let mut fq = FragQueues::default();
        fq.add(T0, DEV, frag(1, 7, 0, true, &m[..32]));
        for i in 0..100u16 {
            let mut p = frag(100 + u64::from(i), i, 0, true, &m[..32]);
            p.data[15] = 9;
            ipv4::refresh_checksum(&mut p.data);
            fq.add(T0, DEV, p);
        }
        assert!(fq
            .add(T0, DEV, frag(2, 7, 32, false, &m[32..]))
            .complete
            .is_some());
    }

    #[test]
    fn malformed_input_is_dropped_with_the_receive_reason() {
        let mut fq = FragQueues::default();
        let mut p = frag(1, 7, 0, true, &msg()[..32]);
        p.data[10] ^= 1;
        assert_eq!(
            drops(&fq.add(T0, DEV, p.clone())),
            [(1, DropReason::IpCsum)]
        );
        p.data[10] ^= 1;
        p.data.truncate(30);
        assert_eq!(drops(&fq.add(T0, DEV, p)), [(1, DropReason::PktTooSmall)]);
        assert_eq!(fq.held(), 0);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn every_fragment_comes_back_exactly_once(
                frags in proptest::collection::vec(
                    (0u16..2, 0u16..10, 0usize..40, any::<bool>(), 0u8..4, 0u64..3),
                    1..16,
                ),
            ) {
                // Whatever arrives (overlaps, duplicates, junk lengths, mixed ECN, timers firing
                // in between), each packet ends complete, consumed, dropped or expired, once.
                let data: Vec<u8> = (0..=255u8).collect();
                let mut fq = FragQueues::default();
                let mut seen = Vec::new();
                let mut timers = Vec::new();
                let mut now = T0;
                for (i, &(ipid, off8, len, mf, ecn, gap_s)) in frags.iter().enumerate() {
                    now = now + Duration::from_secs(gap_s * 15);
                    for (k, at) in std::mem::take(&mut timers) {
                        if at <= now {
                            if let Some(e) = fq.expire(at, k) {
                                seen.extend(e.head.into_iter().chain(e.rest).map(|p| p.id));
                            }
                        } else {
                            timers.push((k, at));
                        }
                    }
                    let p = frag_tos(i as u64, ipid, off8 * 8, mf, ecn, &data[..len]);
                    let d = fq.add(now, DEV, p);
                    if let Some(c) = &d.complete {
                        let r = Ipv4Repr::parse(&c.data).unwrap();
                        prop_assert_eq!(usize::from(r.total_len), c.data.len());
                        prop_assert!(!r.mf && r.frag_off == 0);
                    }
                    seen.extend(d.complete.into_iter().chain(d.consumed).map(|p| p.id));
                    seen.extend(d.dropped.into_iter().map(|(p, _)| p.id));
                    timers.extend(d.timer);
                }
                let later = now + IPFRAG_TIME + IPFRAG_TIME;
                for (k, _) in fq.deadlines().collect::<Vec<_>>() {
                    let e = fq.expire(later, k).unwrap();
                    seen.extend(e.head.into_iter().chain(e.rest).map(|p| p.id));
                }
                prop_assert_eq!(fq.held(), 0);
                let unique: BTreeSet<u64> = seen.iter().copied().collect();
                prop_assert_eq!(unique.len(), seen.len());
                prop_assert_eq!(unique, (0..frags.len() as u64).collect::<BTreeSet<_>>());
            }
        }
    }
}
