//! The Linux bridge (cni0): ports, the FDB with learning and ageing, and the forwarding
//! decision of `br_handle_frame_finish()` and `br_dev_xmit()` (linux-semantics.md R8).

use super::DevId;
use crate::time::{Duration, Instant};
use crate::wire::ethernet::is_multicast;

/// `BR_DEFAULT_AGEING_TIME`: learned entries expire 300 s after the last frame from the MAC.
pub const AGEING_TIME: Duration = Duration::from_secs(300);

/// A bridge port (`struct net_bridge_port`) and its flags.
#[derive(Clone, Debug)]
pub struct BridgePort {
    pub dev: DevId,
    /// Assigned 1, 2, ... in attach order (`find_portno`).
    pub port_no: u16,
    /// Flannel's CNI sets `hairpinMode: true`: frames may leave by the port they came in.
    pub hairpin: bool,
    pub learning: bool,
    pub flood: bool,
}

/// An FDB entry (`struct net_bridge_fdb_entry`).
#[derive(Clone, Debug)]
pub struct FdbEntry {
    pub mac: [u8; 6],
    /// None: the bridge device itself.
    pub port: Option<DevId>,
    /// BR_FDB_LOCAL: frames to this MAC go up the stack on the bridge.
    pub local: bool,
    /// BR_FDB_STATIC: never ages (local entries are static too).
    pub is_static: bool,
    pub updated: Instant,
}

impl FdbEntry {
    /// Still in the table at `now` (`has_expired` is false): static, or refreshed within the
    /// ageing time.
    pub fn is_live(&self, now: Instant, ageing_time: Duration) -> bool {
        self.is_static || now.since(self.updated) < ageing_time
    }
}

/// Where a frame goes after the bridge has looked at it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Verdict {
    /// Ports that get a copy.
    pub ports: Vec<DevId>,
    /// A copy goes up the stack on the bridge device.
    pub local: bool,
    /// Not for us, but the bridge is promiscuous (tcpdump on it): a copy is passed up, seen
    /// by the capture, and then dropped by `ip_rcv` as OTHERHOST.
    pub promisc: bool,
}

/// A bridge's state.
#[derive(Clone, Debug)]
pub struct Bridge {
    /// Ports in attach order.
    pub ports: Vec<BridgePort>,
    /// Newest first, as the kernel's `fdb_list` (hlist_add_head) dumps them.
    pub fdb: Vec<FdbEntry>,
    pub ageing_time: Duration,
    /// The MAC was set explicitly (NET_ADDR_SET): it no longer follows the lowest port MAC.
    pub mac_set: bool,
    /// The MTU was set explicitly: it no longer follows the smallest port MTU.
    pub mtu_set: bool,
    /// Promiscuous (as tcpdump on the bridge makes it): every frame is also passed up.
    pub promisc: bool,
}

impl Bridge {
    pub fn new(mac_set: bool, mtu_set: bool) -> Self {
        Bridge {
            ports: Vec::new(),
            fdb: Vec::new(),
            ageing_time: AGEING_TIME,
            mac_set,
            mtu_set,
            promisc: false,
        }
    }

    pub fn port(&self, dev: DevId) -> Option<&BridgePort> {
        self.ports.iter().find(|p| p.dev == dev)
    }

    /// Attaches a port (`br_add_if`): the next free port number and a local permanent entry
    /// for the port's own MAC.
    pub fn add_port(&mut self, dev: DevId, mac: [u8; 6], now: Instant) -> u16 {
        let port_no = (1..)
            .find(|n| self.ports.iter().all(|p| p.port_no != *n))
            .unwrap_or(u16::MAX);
        self.ports.push(BridgePort {
            dev,
            port_no,
            hairpin: false,
            learning: true,
            flood: true,
        });
        self.insert_local(mac, Some(dev), now);
        port_no
    }

    /// Adds a local permanent entry unless one exists for the MAC (`fdb_add_local`).
    pub fn insert_local(&mut self, mac: [u8; 6], port: Option<DevId>, now: Instant) {
        if let Some(e) = self.fdb.iter_mut().find(|e| e.mac == mac) {
            if e.local {
                return;
            }
            // A learned entry for our own address is taken over (`fdb_add_local`).
            e.port = port;
            e.local = true;
            e.is_static = true;
            e.updated = now;
            return;
        }
        self.fdb.insert(
            0,
            FdbEntry {
                mac,
                port,
                local: true,
                is_static: true,
                updated: now,
            },
        );
    }

    /// The bridge device's MAC changed (`br_fdb_change_mac_address`): its port-less local
    /// entry follows.
    pub fn change_mac(&mut self, old: [u8; 6], new: [u8; 6], now: Instant) {
        self.fdb.retain(|e| !(e.port.is_none() && e.mac == old));
        self.insert_local(new, None, now);
    }

    /// Drops learned entries whose time has come (`br_fdb_cleanup`, which reschedules itself
    /// to the earliest expiry, so expiry is exact).
    pub fn age(&mut self, now: Instant) {
        let hold = self.ageing_time;
        self.fdb.retain(|e| e.is_live(now, hold));
    }

    /// Learning (`br_fdb_update`): creates the entry or moves it to `port` and refreshes it.
    /// Frames carrying one of our local MACs as source never move a local entry.
    fn learn(&mut self, src: [u8; 6], port: DevId, now: Instant) {
        if let Some(e) = self.fdb.iter_mut().find(|e| e.mac == src) {
            if e.local {
                return;
            }
            e.port = Some(port);
            e.updated = now;
            return;
        }
        self.fdb.insert(
            0,
            FdbEntry {
                mac: src,
                port: Some(port),
                local: false,
                is_static: false,
                updated: now,
            },
        );
    }

    /// Whether the FDB has an entry for `mac` (for the journal: a hit, not a flood).
    pub fn knows(&self, mac: &[u8; 6]) -> bool {
        self.find(mac).is_some()
    }

    fn find(&self, mac: &[u8; 6]) -> Option<&FdbEntry> {
        self.fdb.iter().find(|e| &e.mac == mac)
    }

    /// Ports a flood reaches (`br_flood`): every port with flooding on except the one the
    /// frame came in by, unless that port is in hairpin mode (`should_deliver`).
    fn flood(&self, ingress: Option<DevId>, up: &[DevId]) -> Vec<DevId> {
        self.ports
            .iter()
            .filter(|p| p.flood && up.contains(&p.dev))
            .filter(|p| Some(p.dev) != ingress || p.hairpin)
            .map(|p| p.dev)
            .collect()
    }

    /// A frame received on port `ingress` (`br_handle_frame` + `br_handle_frame_finish`).
    /// `up` lists the ports that can transmit (forwarding state follows the link).
    pub fn ingress(
        &mut self,
        now: Instant,
        ingress: DevId,
        src: [u8; 6],
        dst: [u8; 6],
        up: &[DevId],
    ) -> Verdict {
        self.age(now);
        if self.port(ingress).is_some_and(|p| p.learning) {
            self.learn(src, ingress, now);
        }
        let promisc = self.promisc;
        if is_multicast(&dst) {
            // Broadcast, and multicast with no querier (snooping floods): all ports and up.
            return Verdict {
                ports: self.flood(Some(ingress), up),
                local: true,
                promisc: false,
            };
        }
        let known = self.find(&dst).map(|e| (e.local, e.port));
        match known {
            Some((true, _)) => Verdict {
                ports: Vec::new(),
                local: true,
                promisc: false,
            },
            Some((false, Some(port))) => {
                let hairpin = self.port(port).is_some_and(|p| p.hairpin);
                let ports = if (port != ingress || hairpin) && up.contains(&port) {
                    vec![port]
                } else {
                    Vec::new()
                };
                Verdict {
                    ports,
                    local: false,
                    promisc,
                }
            }
            _ => Verdict {
                ports: self.flood(Some(ingress), up),
                local: false,
                promisc,
            },
        }
    }

    /// A frame the bridge device itself sends (`br_dev_xmit`): nothing is learned; a known
    /// destination goes to its port, anything else is flooded.
    pub fn xmit(&mut self, now: Instant, dst: [u8; 6], up: &[DevId]) -> Vec<DevId> {
        self.age(now);
        if !is_multicast(&dst) {
            if let Some(e) = self.find(&dst) {
                // A port-less local entry is the bridge itself: `br_forward(NULL)` frees it.
                return e.port.filter(|p| up.contains(p)).into_iter().collect();
            }
        }
        self.flood(None, up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0x0a, 0x58, 0, 0, 0, 2];
    const B: [u8; 6] = [0x0a, 0x58, 0, 0, 0, 3];
    const BR: [u8; 6] = [0x0a, 0x58, 0, 0, 0, 1];

    fn bridge() -> Bridge {
        let mut b = Bridge::new(true, false);
        b.insert_local(BR, None, Instant::ZERO);
        b.add_port(10, [0x86, 0, 0, 0, 0, 1], Instant::ZERO);
        b.add_port(11, [0x86, 0, 0, 0, 0, 2], Instant::ZERO);
        b
    }

    #[test]
    fn floods_unknown_then_forwards_learned() {
        let mut b = bridge();
        let up = [10, 11];
        let t = Instant::ZERO;
        let v = b.ingress(t, 10, A, [0xff; 6], &up);
        assert_eq!(v.ports, vec![11]);
        assert!(v.local);
        let v = b.ingress(t, 11, B, A, &up);
        assert_eq!(v.ports, vec![10]);
        assert!(!v.local);
        let v = b.ingress(t, 10, A, BR, &up);
        assert!(v.ports.is_empty());
        assert!(v.local);
    }

    #[test]
    fn hairpin_reflects_floods_to_the_ingress_port() {
        let mut b = bridge();
        b.ports[0].hairpin = true;
        let v = b.ingress(Instant::ZERO, 10, A, [0xff; 6], &[10, 11]);
        assert_eq!(v.ports, vec![10, 11]);
    }

    #[test]
    fn learned_entries_age_out_after_300_s() {
        let mut b = bridge();
        b.ingress(Instant::ZERO, 10, A, B, &[10, 11]);
        assert!(b.fdb.iter().any(|e| e.mac == A));
        b.age(Instant::ZERO + Duration::from_secs(299));
        assert!(b.fdb.iter().any(|e| e.mac == A));
        b.age(Instant::ZERO + Duration::from_secs(300));
        assert!(!b.fdb.iter().any(|e| e.mac == A));
        // Local entries never age.
        assert!(b.fdb.iter().any(|e| e.mac == BR));
    }

    #[test]
    fn a_frame_from_our_own_mac_does_not_move_the_local_entry() {
        let mut b = bridge();
        b.ingress(Instant::ZERO, 10, BR, A, &[10, 11]);
        let e = b.fdb.iter().find(|e| e.mac == BR).unwrap();
        assert_eq!(e.port, None);
    }
}
