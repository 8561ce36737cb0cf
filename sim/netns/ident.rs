//! IPv4 ID selection for packets without a socket counter (`__ip_select_ident`, R11.1):
//! a keyed hash of (daddr, saddr, proto) picks one of 2048 counters, which advance by one per
//! packet plus a random jump for the jiffies elapsed since the bucket was last used.

use crate::time::Instant;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::net::Ipv4Addr;

const BUCKETS: usize = 2048;
/// Jiffies at HZ=250, the kernel the reference ran on.
const JIFFY_NS: u64 = 4_000_000;

/// The per-netns generator state (`ip_idents`, `ip_tstamps`): 2048 counters that start random
/// and the buckets used since. A bucket's starting value is derived from the seed when first
/// used rather than stored, so an idle netns costs no table (a cluster has tens of thousands)
/// and forking a world (`sim check`) copies only the buckets a netns has used. A netns that
/// talks to many peers (a pod of the all-pairs workload) switches to the whole table, which is
/// one memory access per packet instead of a hash probe.
#[derive(Clone, Debug)]
pub struct IpIdent {
    key: u64,
    seed: u64,
    /// bucket -> (counter, jiffies of its last use; 0 for never).
    used: Buckets,
}

#[derive(Clone, Debug)]
enum Buckets {
    Sparse(rustc_hash::FxHashMap<usize, (u32, u64)>),
    Dense(Box<[(u32, u64)]>),
}

/// Buckets in use beyond which the whole table is cheaper than the hash.
const SPARSE_MAX: usize = 64;

impl IpIdent {
    pub fn new(key: u64, seed: u64) -> Self {
        IpIdent {
            key,
            seed,
            used: Buckets::Sparse(Default::default()),
        }
    }

    fn get(&self, b: usize) -> (u32, u64) {
        match &self.used {
            Buckets::Sparse(m) => m.get(&b).copied().unwrap_or_else(|| (self.initial(b), 0)),
            Buckets::Dense(v) => v[b],
        }
    }

    fn set(&mut self, b: usize, v: (u32, u64)) {
        if let Buckets::Sparse(m) = &self.used {
            if m.len() >= SPARSE_MAX && !m.contains_key(&b) {
                let mut dense: Vec<(u32, u64)> =
                    (0..BUCKETS).map(|i| (self.initial(i), 0)).collect();
                for (&i, &e) in m {
                    dense[i] = e;
                }
                self.used = Buckets::Dense(dense.into_boxed_slice());
            }
        }
        match &mut self.used {
            Buckets::Sparse(m) => {
                m.insert(b, v);
            }
            Buckets::Dense(d) => d[b] = v,
        }
    }

    /// Bucket `b`'s starting counter (`get_random_bytes(ip_idents)`; seeded so runs repeat).
    fn initial(&self, b: usize) -> u32 {
        splitmix(self.seed ^ splitmix(b as u64)) as u32
    }

    /// The ID for one packet (`ip_idents_reserve(hash, 1)`).
    pub fn select(
        &mut self,
        now: Instant,
        daddr: Ipv4Addr,
        saddr: Ipv4Addr,
        proto: u8,
        rng: &mut ChaCha8Rng,
    ) -> u16 {
        let h = splitmix(
            self.key
                ^ (u64::from(u32::from(daddr)) << 32 | u64::from(u32::from(saddr)))
                ^ u64::from(proto) << 56,
        );
        let bucket = (h as usize) % BUCKETS;
        // Jiffies start one above zero so the first use of a bucket always draws a jump.
        let now_j = now.as_ns() / JIFFY_NS + 1;
        let (ident, old) = self.get(bucket);
        let mut delta = 0u32;
        if old != now_j {
            let span = (now_j - old).min(u64::from(u32::MAX)) as u32;
            delta = rng.gen_range(0..span.max(1));
        }
        let id = ident.wrapping_add(delta);
        self.set(bucket, (id.wrapping_add(1), now_j));
        id as u16
    }
}

/// SplitMix64 finaliser: a cheap, well-mixed keyed hash (stand-in for siphash).
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_whole_table_gives_the_same_ids_as_the_hash() {
        // Past SPARSE_MAX buckets the table turns dense; the IDs must not notice.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut rng2 = ChaCha8Rng::seed_from_u64(5);
        let mut g = IpIdent::new(3, 4);
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let mut got = Vec::new();
        for i in 0..400u32 {
            let d = Ipv4Addr::from(0x0a01_0000 + i % 150);
            got.push(g.select(
                Instant::from_ns(u64::from(i) * 3_000_000),
                d,
                s,
                17,
                &mut rng,
            ));
        }
        assert!(matches!(g.used, Buckets::Dense(_)));
        // The same draws against a reference that never switches.
        let mut reference: std::collections::HashMap<usize, (u32, u64)> = Default::default();
        let r = IpIdent::new(3, 4);
        for (i, want) in got.iter().enumerate() {
            let d = Ipv4Addr::from(0x0a01_0000 + i as u32 % 150);
            let now = Instant::from_ns(i as u64 * 3_000_000);
            let h = splitmix(
                r.key ^ (u64::from(u32::from(d)) << 32 | u64::from(u32::from(s))) ^ 17u64 << 56,
            );
            let b = (h as usize) % BUCKETS;
            let now_j = now.as_ns() / JIFFY_NS + 1;
            let (ident, old) = reference.get(&b).copied().unwrap_or((r.initial(b), 0));
            let delta = if old != now_j {
                let span = (now_j - old).min(u64::from(u32::MAX)) as u32;
                rng2.gen_range(0..span.max(1))
            } else {
                0
            };
            let id = ident.wrapping_add(delta);
            reference.insert(b, (id.wrapping_add(1), now_j));
            assert_eq!(*want, id as u16, "packet {i}");
        }
    }

    #[test]
    fn back_to_back_ids_increase_by_one() {
        // R11.1: IDs to one (dst, src, proto) go up by 1 for packets in the same jiffy.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut g = IpIdent::new(7, 9);
        let (d, s) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        let t = Instant::from_ns(1_000_000_000);
        let a = g.select(t, d, s, 1, &mut rng);
        let b = g.select(t, d, s, 1, &mut rng);
        assert_eq!(b, a.wrapping_add(1));
    }
}
