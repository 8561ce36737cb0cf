//! The conservation ledger's set of live packet ids: a bitmap over the ids still in play.

use std::collections::VecDeque;

/// Packet ids are handed out in increasing order and most journeys end soon after they start,
/// so the live ones sit in a window that moves forward: a bitmap of that window (one bit per
/// id, whole words dropped from the front once every id in them has ended) costs a shift and
/// a mask per packet where a hash set costs a probe and a rehash now and then.
#[derive(Clone, Debug, Default)]
pub struct LiveSet {
    words: VecDeque<u64>,
    /// The id of bit 0 of `words[0]`, divided by 64.
    base: u64,
    len: usize,
}

impl LiveSet {
    /// Adds `id`; false if it was already there.
    pub fn insert(&mut self, id: u64) -> bool {
        let w = id / 64;
        if self.words.is_empty() {
            self.base = w;
        }
        if w < self.base {
            // Ids below the window only come from a caller that reuses old ids.
            let grow = (self.base - w) as usize;
            for _ in 0..grow {
                self.words.push_front(0);
            }
            self.base = w;
        }
        let i = (w - self.base) as usize;
        if i >= self.words.len() {
            self.words.resize(i + 1, 0);
        }
        let bit = 1u64 << (id % 64);
        let was = self.words[i] & bit != 0;
        self.words[i] |= bit;
        self.len += usize::from(!was);
        !was
    }

    /// Removes `id`; false if it was not there.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some(i) = (id / 64).checked_sub(self.base) else {
            return false;
        };
        let bit = 1u64 << (id % 64);
        let Some(word) = self.words.get_mut(i as usize) else {
            return false;
        };
        if *word & bit == 0 {
            return false;
        }
        *word &= !bit;
        self.len -= 1;
        // The last word stays, empty or not: the next ids fall in it, and a window that
        // emptied and refilled with every packet would reallocate each time.
        while self.words.len() > 1 && self.words.front() == Some(&0) {
            self.words.pop_front();
            self.base += 1;
        }
        true
    }

    pub fn contains(&self, id: u64) -> bool {
        (id / 64)
            .checked_sub(self.base)
            .and_then(|i| self.words.get(i as usize))
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The live ids in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(move |(i, &w)| {
            let base = (self.base + i as u64) * 64;
            (0..64)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| base + b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The bitmap answers as a hash set does, whatever the order of inserts and removes.
        #[test]
        fn behaves_as_a_set(ops in proptest::collection::vec((proptest::bool::ANY, 0u64..400), 0..300)) {
            let mut s = LiveSet::default();
            let mut reference = std::collections::BTreeSet::new();
            for (insert, id) in ops {
                if insert {
                    proptest::prop_assert_eq!(s.insert(id), reference.insert(id));
                } else {
                    proptest::prop_assert_eq!(s.remove(id), reference.remove(&id));
                }
                proptest::prop_assert_eq!(s.len(), reference.len());
                proptest::prop_assert_eq!(s.contains(id), reference.contains(&id));
            }
            let got: Vec<u64> = s.iter().collect();
            let want: Vec<u64> = reference.into_iter().collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn ended_words_are_dropped() {
        let mut s = LiveSet::default();
        for id in 1..10_000 {
            s.insert(id);
            s.remove(id);
        }
        assert!(s.is_empty());
        assert!(s.words.len() <= 1);
    }
}
