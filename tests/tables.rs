//! Snapshots of every netns's `ip addr`, `ip route`, `ip route show table local`, `ip neigh`,
//! `route -n`, (with a bridge or VXLAN device) `bridge fdb show` and (with a nat table)
//! `iptables -t nat -S` after each shipped scenario, in the tools' exact text.

mod common;
use common::*;

#[test]
fn tables_after_each_shipped_scenario() {
    for name in shipped() {
        let r = run(&name);
        let w = &r.built.world;
        for ns in 0..w.ns.len() {
            let n = &w.ns[ns].name;
            insta::assert_snapshot!(format!("{name}__{n}__ip_addr"), w.ip_addr(ns));
            insta::assert_snapshot!(format!("{name}__{n}__ip_route"), w.ip_route(ns));
            insta::assert_snapshot!(format!("{name}__{n}__ip_route_local"), w.ip_route_local(ns));
            insta::assert_snapshot!(format!("{name}__{n}__ip_neigh"), w.ip_neigh(ns));
            insta::assert_snapshot!(format!("{name}__{n}__route_n"), w.route_n(ns));
            if w.has_fdb(ns) {
                insta::assert_snapshot!(format!("{name}__{n}__bridge_fdb"), w.bridge_fdb_show(ns));
            }
            if let Some(nat) = w.iptables_nat_save(ns) {
                insta::assert_snapshot!(format!("{name}__{n}__iptables_nat"), nat);
                insta::assert_snapshot!(format!("{name}__{n}__conntrack"), w.conntrack_list(ns));
            }
            if let Some(rules) = w.iptables_nat_save(ns) {
                insta::assert_snapshot!(format!("{name}__{n}__iptables_nat"), rules);
            }
        }
    }
}

#[test]
fn report_of_each_shipped_scenario() {
    // The whole `sim run` report: ping lines, drops with places and reasons, counters.
    for name in shipped() {
        let r = run(&name);
        insta::assert_snapshot!(format!("{name}__report"), sim::run::report(&r));
    }
}
