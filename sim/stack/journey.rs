//! Journal hooks that need the stack's state (a reverse route, the rp_filter values): called
//! only when `World::journal_on()`, so the datapath pays one branch when recording is off.

use super::route::{OutRoute, SourceError};
use crate::dev::{DevId, NsId};
use crate::netns::fib::Flow;
use crate::trace::journal::{RpVerdict, StepKind};
use crate::world::World;
use std::net::Ipv4Addr;

impl World {
    /// Records a locally generated packet's output route.
    #[inline]
    pub fn note_route_out(&mut self, pkt: u64, rt: &OutRoute, dst: Ipv4Addr) {
        if self.journal_on() {
            let kind = StepKind::RouteOut {
                dst,
                src: rt.src,
                route: rt.route,
            };
            self.note(pkt, rt.dev, kind);
        }
    }

    /// Records what NAT rewrote in `pkt`, whose addresses were `src > dst` before.
    pub fn note_nat(&mut self, pkt: &crate::packet::Pkt, dev: DevId, src: Ipv4Addr, dst: Ipv4Addr) {
        let Some((s1, d1, _)) = crate::wire::ipv4::Ipv4Repr::peek(&pkt.data) else {
            return;
        };
        for (is_src, before, after) in [(true, src, s1), (false, dst, d1)] {
            if before != after {
                let kind = StepKind::Nat {
                    src: is_src,
                    before,
                    after,
                };
                self.note(pkt.id, dev, kind);
            }
        }
    }

    /// Records the reverse-path check of packet `pkt` from `src` received on `dev`, with the
    /// reverse route `fib_validate_source` found (looked up again here, off the fast path).
    pub fn note_rp_filter(
        &mut self,
        pkt: u64,
        ns: NsId,
        src: Ipv4Addr,
        dev: DevId,
        res: Result<bool, SourceError>,
    ) {
        if !self.journal_on() {
            return;
        }
        let flow = Flow {
            daddr: src,
            ..Flow::default()
        };
        let reverse = self.ns[ns].fib_lookup(&flow);
        let verdict = match res {
            Ok(_) => RpVerdict::Ok,
            Err(SourceError::Rpfilter) => RpVerdict::Rpfilter,
            Err(SourceError::Martian) => RpVerdict::Martian,
        };
        let kind = StepKind::RpFilter {
            src,
            all: self.ns[ns].conf_all.rp_filter,
            dev_conf: self.devs[dev].conf.rp_filter,
            reverse,
            verdict,
        };
        self.note(pkt, dev, kind);
    }
}
