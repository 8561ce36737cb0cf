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
/// and forking a world (`sim check`) copies only the buckets a netns has used.
#[derive(Clone, Debug)]
pub struct IpIdent {
    key: u64,
    seed: u64,
    /// bucket -> (counter, jiffies of its last use).
    used: rustc_hash::FxHashMap<usize, (u32, u64)>,
}

impl IpIdent {
    pub fn new(key: u64, seed: u64) -> Self {
        IpIdent {
            key,
            seed,
            used: Default::default(),
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
        let (ident, old) = self
            .used
            .get(&bucket)
            .copied()
            .unwrap_or_else(|| (self.initial(bucket), 0));
        let mut delta = 0u32;
        if old != now_j {
            let span = (now_j - old).min(u64::from(u32::MAX)) as u32;
            delta = rng.gen_range(0..span.max(1));
        }
        let id = ident.wrapping_add(delta);
        self.used.insert(bucket, (id.wrapping_add(1), now_j));
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
