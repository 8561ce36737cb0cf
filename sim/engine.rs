//! The event loop's clock and queue: events ordered by (time, insertion sequence), one seeded
//! RNG, and an event budget. No protocol logic.

use crate::time::{Duration, Instant};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Default cap on events one run may execute.
pub const EVENTS_MAX_DEFAULT: u64 = 10_000_000;

/// A deterministic discrete-event queue. Cloning it forks the run: same clock, queue and RNG
/// state, so both copies go on identically until they diverge.
#[derive(Clone)]
pub struct Engine<E> {
    /// (time, sequence, slot): small keys, so that the heap moves 24 bytes, not events.
    queue: BinaryHeap<Reverse<(Instant, u64, u32)>>,
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

impl<E> Engine<E> {
    pub fn new(seed: u64) -> Self {
        Engine {
            queue: BinaryHeap::new(),
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

    /// Schedules `ev` at `at` (never earlier than now); ties run in insertion order.
    pub fn schedule_at(&mut self, at: Instant, ev: E) {
        let at = at.max(self.now);
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
        self.queue.push(Reverse((at, self.seq, slot)));
        self.seq += 1;
    }

    pub fn schedule_in(&mut self, d: Duration, ev: E) {
        self.schedule_at(self.now + d, ev);
    }

    /// Time of the next event, if any.
    pub fn peek_time(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Pops the next event and advances the clock; Err when the budget is spent.
    pub fn pop(&mut self) -> Result<Option<E>, BudgetExhausted> {
        let Some(&Reverse((at, _, slot))) = self.queue.peek() else {
            return Ok(None);
        };
        if self.events_run >= self.events_max {
            return Err(BudgetExhausted {
                events_max: self.events_max,
                seed: self.seed,
                at,
            });
        }
        self.queue.pop();
        let ev = self.slots[slot as usize].take();
        self.free.push(slot);
        self.events_run += 1;
        self.now = at;
        Ok(ev)
    }

    pub fn events_run(&self) -> u64 {
        self.events_run
    }

    /// Events still queued (for conservation accounting at the end of a run).
    pub fn pending(&self) -> impl Iterator<Item = &E> {
        self.slots.iter().flatten()
    }

    /// How many events are queued.
    pub fn pending_len(&self) -> usize {
        self.queue.len()
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
