mod common;
use common::*;
#[test]
fn scan() {
    let path = scenario_path("calico_vxlan");
    let file = path.display().to_string();
    let (mut s, text) = sim::scenario::load(&path).unwrap();
    s.duration_ms = Some(43000);
    for r in (15..45).map(|x| x * 1000) {
        let mut b = sim::scenario::build(&file, &text, &s).unwrap();
        let w = &mut b.world;
        let pod1 = w.ns_by_name("pod1").unwrap();
        let d = w.dev_by_name(pod1, "eth0").unwrap();
        w.devs[d].reachable_time = sim::time::Duration::from_ms(r);
        let res = sim::run::run_built(b).unwrap();
        let w = &res.built.world;
        let i = w.trace.ifaces.iter().position(|c| c.name == "pod1/eth0").unwrap();
        let arps: Vec<String> = w.trace.packets.iter().filter(|p| p.iface == i && p.data[12..14] == [8, 6]).map(|p| format!("{}:{}", p.ts, sim::oracle::frames::describe(&p.data))).collect();
        println!("R={r}: {arps:?}");
    }
}
