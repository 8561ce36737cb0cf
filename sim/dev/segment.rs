//! The underlay L2 segment joining hosts' NICs: a learning switch with flooding.

use super::DevId;
use crate::time::Duration;
use crate::wire::ethernet::is_multicast;
use smallvec::SmallVec;

/// A learning switch. Learned entries never age within a run (hardware switches age in
/// minutes, longer than the labs run).
#[derive(Clone, Debug)]
pub struct Segment {
    pub name: String,
    pub ports: Vec<DevId>,
    pub fdb: rustc_hash::FxHashMap<[u8; 6], DevId>,
    /// One-way delay from one NIC to another across the switch.
    pub delay: Duration,
}

impl Segment {
    pub fn new(name: String, delay: Duration) -> Self {
        Segment {
            name,
            ports: Vec::new(),
            fdb: Default::default(),
            delay,
        }
    }

    /// Learns the source and returns the ports the frame goes out of: the learned port for a
    /// known unicast destination, every other port otherwise.
    pub fn forward(&mut self, from: DevId, src: [u8; 6], dst: [u8; 6]) -> SmallVec<[DevId; 1]> {
        if !is_multicast(&src) && self.fdb.get(&src) != Some(&from) {
            self.fdb.insert(src, from);
        }
        if !is_multicast(&dst) {
            if let Some(&port) = self.fdb.get(&dst) {
                return if port == from {
                    SmallVec::new()
                } else {
                    smallvec::smallvec![port]
                };
            }
        }
        self.ports.iter().copied().filter(|&p| p != from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floods_unknown_then_forwards_learned() {
        let mut s = Segment::new("lan".into(), Duration::ZERO);
        s.ports = vec![1, 2, 3];
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        assert_eq!(s.forward(1, a, [0xff; 6]).as_slice(), [2, 3]);
        assert_eq!(s.forward(2, b, a).as_slice(), [1]);
        assert_eq!(s.forward(1, a, b).as_slice(), [2]);
    }
}
