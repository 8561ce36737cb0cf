//! The SNMP counters a netns keeps, named as `nstat` prints them.

/// Declares the counters once: the enum, their names and the list of all of them.
macro_rules! nstat {
    ($($name:ident),* $(,)?) => {
        /// A counter, by its `nstat` name (`/proc/net/snmp` and `netstat` fields joined).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum Nstat {
            $($name),*
        }

        impl Nstat {
            /// Every counter, in declaration order.
            pub const ALL: &'static [Nstat] = &[$(Nstat::$name),*];

            /// The name `nstat` prints.
            pub fn name(self) -> &'static str {
                match self {
                    $(Nstat::$name => stringify!($name)),*
                }
            }
        }
    };
}

nstat! {
    IpInReceives,
    IpInHdrErrors,
    IpInAddrErrors,
    IpInCsumErrors,
    IpForwDatagrams,
    IpInDelivers,
    IpOutRequests,
    IpOutNoRoutes,
    IpReasmReqds,
    IpReasmOKs,
    IpReasmFails,
    IpReasmTimeout,
    IpFragOKs,
    IpFragFails,
    IpFragCreates,
    IpExtInNoRoutes,
    IpExtReasmOverlaps,
    IcmpInMsgs,
    IcmpInEchos,
    IcmpInCsumErrors,
    IcmpOutMsgs,
    IcmpOutEchos,
    IcmpOutEchoReps,
    IcmpOutDestUnreachs,
    IcmpOutTimeExcds,
    IcmpOutRateLimitGlobal,
    IcmpOutRateLimitHost,
    UdpInDatagrams,
    UdpNoPorts,
    UdpInErrors,
    UdpInCsumErrors,
    UdpOutDatagrams,
    TcpExtIPReversePathFilter,
}

impl Nstat {
    /// The counter `nstat` prints as `name`.
    pub fn from_name(name: &str) -> Option<Nstat> {
        Nstat::ALL.iter().copied().find(|c| c.name() == name)
    }
}

/// A netns's counters: one slot per `Nstat`, so a bump on the packet path is an increment.
#[derive(Clone, Debug)]
pub struct Counters([u64; Nstat::ALL.len()]);

impl Default for Counters {
    fn default() -> Self {
        Counters([0; Nstat::ALL.len()])
    }
}

impl Counters {
    #[inline]
    pub fn bump(&mut self, c: Nstat) {
        self.0[c as usize] += 1;
    }

    pub fn get(&self, c: Nstat) -> u64 {
        self.0[c as usize]
    }

    /// The counters that moved, by name, as `nstat` lists them.
    pub fn sorted(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<(&'static str, u64)> = (Nstat::ALL.iter())
            .map(|&c| (c.name(), self.get(c)))
            .filter(|&(_, n)| n > 0)
            .collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_moved_counters_are_listed() {
        for &c in Nstat::ALL {
            assert_eq!(Nstat::from_name(c.name()), Some(c));
        }
        assert_eq!(Nstat::from_name("IpInReceive"), None);
        let mut k = Counters::default();
        k.bump(Nstat::UdpNoPorts);
        k.bump(Nstat::IpInReceives);
        k.bump(Nstat::IpInReceives);
        assert_eq!(k.sorted(), [("IpInReceives", 2), ("UdpNoPorts", 1)]);
    }
}
