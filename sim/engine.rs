//! The event loop's clock and queue: events ordered by (time, insertion sequence), one seeded
//! RNG, and an event budget. No protocol logic.

use crate::time::{Duration, Instant};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Default cap on events one run may execute.
pub const EVENTS_MAX_DEFAULT: u64 = 10_000_000;

/// Delays that get a lane of their own at most (the link delays and application intervals
/// of a run are a handful; others go through the heap).
const LANES_MAX: usize = 8;

/// A deterministic discrete-event queue. Cloning it forks the run: same clock, queue and RNG
/// state, so both copies go on identically until they diverge.
#[derive(Clone)]
pub struct Engine<E> {
    /// (time, sequence, slot): small keys, so that the heap moves 24 bytes, not events.
    queue: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    /// FIFO lanes for fixed delays (a veth's, a segment's, a client's interval): the clock
    /// only moves forward, so events scheduled with one delay are due in the order they were
    /// scheduled, and a lane's front is its earliest. Popping the least (time, sequence) of
    /// the lanes' fronts and the heap's top gives exactly the order of a single heap, at the
    /// cost of a push and a pop at the ends of a deque. Lane 0 is the zero delay.
    lanes: Vec<Lane<E>>,
    /// Events by slot; freed slots are reused (no allocation per event once warm).
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
    now: Instant,
    events_run: u64,
    pub events_max: u64,
    pub seed: u64,
    /// The only source of randomness in a run (what Linux draws at random is drawn here).
    pub rng: ChaCha8Rng,
}

#[derive(Clone)]
struct Lane<E> {
    delay: Duration,
    queue: VecDeque<(Instant, u64, E)>,
}

/// Where the next event is.
enum Next {
    Heap,
    Lane(usize),
}

impl<E> Engine<E> {
    pub fn new(seed: u64) -> Self {
        Engine {
            queue: BinaryHeap::new(),
            lanes: vec![Lane {
                delay: Duration::ZERO,
                queue: VecDeque::new(),
            }],
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            now: Instant::ZERO,
            events_run: 0,
            events_max: EVENTS_MAX_DEFAULT,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Gives events scheduled `delay` ahead a lane of their own (speed only: the order of
    /// events is the same with or without lanes). Beyond `LANES_MAX` delays, does nothing.
    pub fn add_lane(&mut self, delay: Duration) {
        if self.lanes.len() < LANES_MAX && self.lanes.iter().all(|l| l.delay != delay) {
            self.lanes.push(Lane {
                delay,
                queue: VecDeque::new(),
            });
        }
    }

    /// Schedules `ev` at `at` (never earlier than now); ties run in insertion order.
    #[inline]
    pub fn schedule_at(&mut self, at: Instant, ev: E) {
        let at = at.max(self.now);
        let delay = at.since(self.now);
        let seq = self.seq;
        self.seq += 1;
        if let Some(l) = self.lanes.iter_mut().find(|l| l.delay == delay) {
            l.queue.push_back((at, seq, ev));
            return;
        }
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(ev);
                s
            }
            None => {
                self.slots.push(Some(ev));
                (self.slots.len() - 1) as u32
            }
        };
        self.queue.push(Reverse((at, seq, slot)));
    }

    #[inline]
    pub fn schedule_in(&mut self, d: Duration, ev: E) {
        self.schedule_at(self.now + d, ev);
    }

    /// The (time, sequence) of the next event and where it is.
    #[inline]
    fn next(&self) -> Option<((Instant, u64), Next)> {
        let mut best = self
            .queue
            .peek()
            .map(|&Reverse((t, s, _))| ((t, s), Next::Heap));
        for (i, l) in self.lanes.iter().enumerate() {
            if let Some(&(t, s, _)) = l.queue.front() {
                if best.as_ref().is_none_or(|(k, _)| (t, s) < *k) {
                    best = Some(((t, s), Next::Lane(i)));
                }
            }
        }
        best
    }

    /// Time of the next event, if any.
    pub fn peek_time(&self) -> Option<Instant> {
        self.next().map(|((t, _), _)| t)
    }

    /// Pops the next event and advances the clock; Err when the budget is spent.
    pub fn pop(&mut self) -> Result<Option<E>, BudgetExhausted> {
        let Some(((at, _), from)) = self.next() else {
            return Ok(None);
        };
        if self.events_run >= self.events_max {
            return Err(self.exhausted(at));
        }
        let ev = match from {
            Next::Lane(i) => self.lanes[i].queue.pop_front().map(|(_, _, ev)| ev),
            Next::Heap => {
                let Some(Reverse((_, _, slot))) = self.queue.pop() else {
                    return Ok(None);
                };
                self.free.push(slot);
                self.slots[slot as usize].take()
            }
        };
        self.events_run += 1;
        self.now = at;
        Ok(ev)
    }

    fn exhausted(&self, at: Instant) -> BudgetExhausted {
        BudgetExhausted {
            events_max: self.events_max,
            seed: self.seed,
            at,
        }
    }

    pub fn events_run(&self) -> u64 {
        self.events_run
    }

    /// Events still queued (for conservation accounting at the end of a run).
    pub fn pending(&self) -> impl Iterator<Item = &E> {
        self.slots.iter().flatten().chain(
            self.lanes
                .iter()
                .flat_map(|l| l.queue.iter().map(|(_, _, e)| e)),
        )
    }

    /// How many events are queued.
    pub fn pending_len(&self) -> usize {
        self.queue.len() + self.lanes.iter().map(|l| l.queue.len()).sum::<usize>()
    }
}

/// The run hit `events_max` (a runaway: a loop without TTL, a storm).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BudgetExhausted {
    pub events_max: u64,
    pub seed: u64,
    pub at: Instant,
}

impl std::fmt::Display for BudgetExhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event budget exhausted: {} events run by t={}s (seed {}); raise `events_max` if this run is meant to be that long",
            self.events_max, self.at, self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_run_in_insertion_order() {
        let mut e = Engine::new(1);
        e.schedule_at(Instant::from_ns(5), "b");
        e.schedule_at(Instant::from_ns(1), "a");
        e.schedule_at(Instant::from_ns(5), "c");
        let mut got = vec![];
        while let Some(ev) = e.pop().unwrap() {
            got.push((e.now().as_ns(), ev));
        }
        assert_eq!(got, [(1, "a"), (5, "b"), (5, "c")]);
    }

    #[test]
    fn events_for_now_run_after_those_scheduled_before_them() {
        let mut e = Engine::new(1);
        e.schedule_at(Instant::from_ns(5), "a");
        e.schedule_at(Instant::from_ns(5), "c");
        e.schedule_at(Instant::from_ns(9), "e");
        assert_eq!(e.pop().unwrap(), Some("a"));
        // Scheduled at the current instant: after "c", which was queued first.
        e.schedule_in(Duration::ZERO, "d");
        assert_eq!(e.pending_len(), 3);
        assert_eq!(e.peek_time(), Some(Instant::from_ns(5)));
        assert_eq!(e.pop().unwrap(), Some("c"));
        e.schedule_at(Instant::from_ns(2), "d2");
        let mut got = vec![];
        while let Some(ev) = e.pop().unwrap() {
            got.push((e.now().as_ns(), ev));
        }
        assert_eq!(got, [(5, "d"), (5, "d2"), (9, "e")]);
        assert_eq!(e.events_run(), 5);
    }

    proptest::proptest! {
        /// Lanes change nothing: any mix of schedules (lane delays and others) and pops comes
        /// out in exactly the (time, insertion) order of one sorted queue.
        #[test]
        fn lanes_keep_the_order_of_one_queue(
            ops in proptest::collection::vec((0u8..4, 0u64..20), 1..200),
        ) {
            let mut e = Engine::new(1);
            e.add_lane(Duration::from_ns(5));
            e.add_lane(Duration::from_ns(7));
            let mut reference = std::collections::BTreeMap::new();
            let (mut ref_now, mut seq, mut id) = (0u64, 0u64, 0u32);
            for (op, d) in ops {
                if op == 0 {
                    let want = reference.pop_first().map(|((t, _), v)| (t, v));
                    if let Some((t, _)) = want {
                        ref_now = t;
                    }
                    let got = e.pop().unwrap().map(|v| (e.now().as_ns(), v));
                    proptest::prop_assert_eq!(got, want);
                } else {
                    let d = match op { 1 => 5, 2 => 7, _ => d };
                    e.schedule_in(Duration::from_ns(d), id);
                    reference.insert((ref_now + d, seq), id);
                    seq += 1;
                    id += 1;
                }
            }
            while let Some(((t, _), v)) = reference.pop_first() {
                proptest::prop_assert_eq!(e.pop().unwrap(), Some(v));
                proptest::prop_assert_eq!(e.now().as_ns(), t);
            }
            proptest::prop_assert_eq!(e.pop().unwrap(), None);
        }
    }

    #[test]
    fn budget_ends_a_runaway() {
        let mut e = Engine::new(7);
        e.events_max = 3;
        for i in 0..10 {
            e.schedule_at(Instant::from_ns(i), i);
        }
        for _ in 0..3 {
            assert!(e.pop().unwrap().is_some());
        }
        let err = e.pop().unwrap_err();
        assert_eq!(err.seed, 7);
        assert!(err.to_string().contains("seed 7"));
    }
}
