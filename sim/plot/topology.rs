//! The topology of a scenario (from `topo::Topology`, a petgraph graph): one column per host
//! with its pods on top (each above the veth it is wired to), the host's devices in three rows
//! (pod-facing, tunnels and bridges, NICs), the underlay segments as bars below. With a
//! `sim check` matrix, each netns is filled by how reachable it was and the failing pairs are
//! listed.

use super::{bold, draw_err, fit, label, svg, text_w, DrawResult};
use crate::check::{Matrix, Verdict};
use crate::dev::{DevId, DevKind, NsId};
use crate::topo::Topology;
use crate::world::World;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;
use std::collections::BTreeMap;

const DEV_W: i32 = 136;
const DEV_H: i32 = 40;
const GAP: i32 = 16;
const ROW_GAP: i32 = 18;
const TOP: i32 = 70;
const FAILURES_MAX: usize = 30;
const EDGE: RGBColor = RGBColor(90, 90, 90);
const OK_FILL: RGBColor = RGBColor(205, 235, 205);
const SOME_FILL: RGBColor = RGBColor(255, 226, 180);
const NONE_FILL: RGBColor = RGBColor(250, 200, 200);
const PLAIN_FILL: RGBColor = RGBColor(245, 245, 245);

/// Reachability as `sim check` found it: per netns, replies out of the pairs it was in (as
/// source or target), and each failing pair in words.
#[derive(Clone, Debug, Default)]
pub struct Reach {
    pub status: BTreeMap<String, (usize, usize)>,
    pub failures: Vec<String>,
}

impl Reach {
    /// What a `sim check` matrix says about each netns, and its failing cells in words.
    pub fn from_matrix(m: &Matrix) -> Reach {
        let mut r = Reach::default();
        for (row, s) in m.sources.iter().enumerate() {
            for (col, t) in m.targets.iter().enumerate() {
                let cell = m.cell(row, col);
                let ok = cell.result == Verdict::Reply;
                for ns in std::iter::once(&s.netns).chain(t.netns.as_ref()) {
                    let e = r.status.entry(ns.clone()).or_default();
                    e.0 += usize::from(ok);
                    e.1 += 1;
                }
                if !ok {
                    r.failures
                        .push(format!("{} -> {}: {}", s.netns, t.label, cell.text));
                }
            }
        }
        r
    }

    fn fill(&self, ns: &str) -> RGBColor {
        match self.status.get(ns) {
            Some(&(ok, total)) if ok == total => OK_FILL,
            Some(&(0, _)) => NONE_FILL,
            Some(_) => SOME_FILL,
            None => PLAIN_FILL,
        }
    }
}

/// A host's column: its root netns, its pods, its devices by row.
struct Column {
    root: NsId,
    pods: Vec<NsId>,
    rows: [Vec<DevId>; 3],
    x: i32,
    w: i32,
}

/// The topology of `w` as SVG, coloured by `reach` when given.
pub fn topology(w: &World, name: &str, reach: Option<&Reach>) -> DrawResult<String> {
    let topo = Topology::of(w);
    let mut cols = columns(w, &topo);
    let visible = |d: DevId| !matches!(w.devs[d].kind, DevKind::Loopback);
    let pod_devs = |ns: NsId| -> Vec<DevId> {
        w.ns[ns]
            .devs
            .iter()
            .copied()
            .filter(|&d| visible(d))
            .collect()
    };
    let pod_h_max = cols
        .iter()
        .flat_map(|c| c.pods.iter())
        .map(|&p| 30 + pod_devs(p).len() as i32 * (DEV_H + 6))
        .max()
        .unwrap_or(0);
    let mut x = 20;
    for c in &mut cols {
        let n = c
            .rows
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(1)
            .max(c.pods.len())
            .max(1) as i32;
        let title_w = text_w(&w.ns[c.root].name, 15) + 2 * GAP;
        c.w = (n * (DEV_W + GAP) + GAP).max(title_w).max(DEV_W + 2 * GAP);
        c.x = x;
        x += c.w + 40;
    }
    let rows_used: Vec<usize> = (0..3)
        .filter(|&r| cols.iter().any(|c| !c.rows[r].is_empty()))
        .collect();
    let host_top = TOP + if pod_h_max > 0 { pod_h_max + 56 } else { 0 };
    let host_h = 32 + rows_used.len().max(1) as i32 * (DEV_H + ROW_GAP);
    let host_bottom = host_top + host_h;
    let segs_y: Vec<i32> = (0..w.segments.len())
        .map(|s| host_bottom + 50 + s as i32 * 44)
        .collect();
    let seg_bottom = segs_y.last().copied().unwrap_or(host_bottom) + 30;
    let failures = reach.map_or(0, |r| r.failures.len().min(FAILURES_MAX + 1));
    let legend_h = if reach.is_some() {
        70 + failures as i32 * 20
    } else {
        0
    };
    let width = (x - 20).max(640) + 20;
    let height = seg_bottom + legend_h + 20;

    // Where each device box is: (centre x, top y).
    let mut at: BTreeMap<DevId, (i32, i32)> = BTreeMap::new();
    let mut pod_at: Vec<(NsId, i32, i32)> = Vec::new();
    for c in &cols {
        for (ri, &r) in rows_used.iter().enumerate() {
            for (k, &d) in c.rows[r].iter().enumerate() {
                let cx = c.x + GAP + k as i32 * (DEV_W + GAP) + DEV_W / 2;
                at.insert(d, (cx, host_top + 32 + ri as i32 * (DEV_H + ROW_GAP)));
            }
        }
        let mut free = 0;
        for &p in &c.pods {
            // Above the host device its veth leads to, else in the next free slot.
            let peer_x = pod_devs(p)
                .iter()
                .find_map(|&d| topo.veth_peer(d).and_then(|q| at.get(&q)).map(|a| a.0));
            let cx = peer_x.unwrap_or_else(|| {
                free += 1;
                c.x + GAP + (free - 1) * (DEV_W + GAP) + DEV_W / 2
            });
            pod_at.push((p, cx, TOP));
            for (k, d) in pod_devs(p).into_iter().enumerate() {
                at.insert(d, (cx, TOP + 26 + k as i32 * (DEV_H + 6)));
            }
        }
    }
    let fill = |ns: NsId| reach.map_or(PLAIN_FILL, |r| r.fill(&w.ns[ns].name));

    svg(width as u32, height as u32, |root| {
        let title = match reach {
            Some(_) => format!("{name}: topology and reachability (sim check)"),
            None => format!("{name}: topology"),
        };
        bold(root, &title, (20, 24), 18, BLACK, HPos::Left)?;
        for c in &cols {
            let f = fill(c.root);
            root.draw(&Rectangle::new(
                [(c.x, host_top), (c.x + c.w, host_top + host_h)],
                f.filled(),
            ))
            .map_err(draw_err)?;
            root.draw(&Rectangle::new(
                [(c.x, host_top), (c.x + c.w, host_top + host_h)],
                BLACK.stroke_width(2),
            ))
            .map_err(draw_err)?;
            bold(
                root,
                &w.ns[c.root].name,
                (c.x + 10, host_top + 15),
                15,
                BLACK,
                HPos::Left,
            )?;
        }
        // Links over the host boxes, under the device boxes (which hide their ends).
        for (&d, &(cx, top)) in &at {
            if let Some(p) = topo.veth_peer(d).filter(|&p| p > d) {
                if let Some(&(px, ptop)) = at.get(&p) {
                    let (a, b) = if top < ptop {
                        ((cx, top + DEV_H), (px, ptop))
                    } else {
                        ((px, ptop + DEV_H), (cx, top))
                    };
                    root.draw(&PathElement::new(vec![a, b], EDGE.stroke_width(2)))
                        .map_err(draw_err)?;
                }
            }
            if let Some(&(bx, btop)) = w.devs[d].master.and_then(|b| at.get(&b)) {
                root.draw(&PathElement::new(
                    vec![(cx, top + DEV_H), (bx, btop)],
                    EDGE.stroke_width(2),
                ))
                .map_err(draw_err)?;
            }
            if let Some(s) = topo.segment_of(d) {
                let y = segs_y[s];
                root.draw(&PathElement::new(
                    vec![(cx, top + DEV_H), (cx, y)],
                    EDGE.stroke_width(2),
                ))
                .map_err(draw_err)?;
            }
        }
        for (s, seg) in w.segments.iter().enumerate() {
            let xs: Vec<i32> = at
                .iter()
                .filter(|(&d, _)| topo.segment_of(d) == Some(s))
                .map(|(_, &(cx, _))| cx)
                .collect();
            let (Some(&x0), Some(&x1)) = (xs.iter().min(), xs.iter().max()) else {
                continue;
            };
            let y = segs_y[s];
            root.draw(&Rectangle::new(
                [(x0 - DEV_W / 2, y - 4), (x1 + DEV_W / 2, y + 4)],
                RGBColor(60, 60, 60).filled(),
            ))
            .map_err(draw_err)?;
            label(
                root,
                &format!("segment {}", seg.name),
                (x0 - DEV_W / 2, y + 16),
                12,
                BLACK,
                HPos::Left,
            )?;
        }
        for &(p, cx, top) in &pod_at {
            let h = 30 + pod_devs(p).len() as i32 * (DEV_H + 6) - 4;
            let (x0, x1) = (cx - DEV_W / 2 - 5, cx + DEV_W / 2 + 5);
            root.draw(&Rectangle::new(
                [(x0, top - 4), (x1, top + h)],
                fill(p).filled(),
            ))
            .map_err(draw_err)?;
            root.draw(&Rectangle::new(
                [(x0, top - 4), (x1, top + h)],
                BLACK.stroke_width(2),
            ))
            .map_err(draw_err)?;
            bold(
                root,
                &fit(&w.ns[p].name, 18),
                (cx, top + 10),
                14,
                BLACK,
                HPos::Center,
            )?;
        }
        for (&d, &(cx, top)) in &at {
            let dev = &w.devs[d];
            let kind = match dev.kind {
                DevKind::Ipip => RGBColor(230, 120, 0),
                DevKind::Vxlan { .. } => RGBColor(230, 120, 0),
                DevKind::Bridge { .. } => RGBColor(44, 120, 44),
                DevKind::Nic { .. } => RGBColor(60, 60, 60),
                _ => RGBColor(31, 119, 180),
            };
            let (x0, x1) = (cx - DEV_W / 2, cx + DEV_W / 2);
            root.draw(&Rectangle::new(
                [(x0, top), (x1, top + DEV_H)],
                WHITE.filled(),
            ))
            .map_err(draw_err)?;
            root.draw(&Rectangle::new(
                [(x0, top), (x1, top + DEV_H)],
                kind.stroke_width(2),
            ))
            .map_err(draw_err)?;
            bold(
                root,
                &fit(&dev.name, 18),
                (cx, top + 12),
                12,
                BLACK,
                HPos::Center,
            )?;
            let addr = dev
                .addrs
                .first()
                .map_or_else(String::new, |a| format!("{}/{}", a.addr, a.len));
            label(
                root,
                &fit(&addr, 20),
                (cx, top + 29),
                11,
                EDGE,
                HPos::Center,
            )?;
        }
        if let Some(r) = reach {
            let mut y = seg_bottom + 20;
            let mut lx = 20;
            for (f, t) in [
                (OK_FILL, "every ping replied"),
                (SOME_FILL, "some failed"),
                (NONE_FILL, "none replied"),
            ] {
                root.draw(&Rectangle::new([(lx, y - 8), (lx + 18, y + 8)], f.filled()))
                    .map_err(draw_err)?;
                root.draw(&Rectangle::new(
                    [(lx, y - 8), (lx + 18, y + 8)],
                    BLACK.stroke_width(1),
                ))
                .map_err(draw_err)?;
                label(root, t, (lx + 26, y), 13, BLACK, HPos::Left)?;
                lx += 60 + text_w(t, 13);
            }
            y += 28;
            let head = if r.failures.is_empty() {
                "every pair replied".to_string()
            } else {
                format!("failing pairs ({}):", r.failures.len())
            };
            bold(root, &head, (20, y), 13, BLACK, HPos::Left)?;
            let chars = ((width - 60) as f64 / (13.0 * 0.6)) as usize;
            for f in r.failures.iter().take(FAILURES_MAX) {
                y += 20;
                label(root, &fit(f, chars), (36, y), 13, BLACK, HPos::Left)?;
            }
            if r.failures.len() > FAILURES_MAX {
                y += 20;
                let more = format!("... and {} more", r.failures.len() - FAILURES_MAX);
                label(root, &more, (36, y), 13, BLACK, HPos::Left)?;
            }
        }
        Ok(())
    })
}

/// Groups netns into host columns (`Netns::host`), the host's own netns as the column's root,
/// and sorts the root's devices into rows: pod-facing veths, then tunnels, bridges and other
/// devices, then NICs.
fn columns(w: &World, topo: &Topology) -> Vec<Column> {
    let mut by_host: Vec<(String, Vec<NsId>)> = Vec::new();
    for ns in 0..w.ns.len() {
        let host = w.ns[ns].host.clone();
        match by_host.iter_mut().find(|(h, _)| *h == host) {
            Some((_, v)) => v.push(ns),
            None => by_host.push((host, vec![ns])),
        }
    }
    by_host
        .into_iter()
        .map(|(host, members)| {
            let root = members
                .iter()
                .copied()
                .find(|&n| w.ns[n].name == host)
                .unwrap_or(members[0]);
            let pods: Vec<NsId> = members.into_iter().filter(|&n| n != root).collect();
            let mut rows: [Vec<DevId>; 3] = Default::default();
            // Pod-facing devices in the order of their pods, so each pod sits above its own.
            for &p in &pods {
                for &d in &w.ns[p].devs {
                    if let Some(q) = topo.veth_peer(d).filter(|&q| w.devs[q].ns == root) {
                        if !rows[0].contains(&q) {
                            rows[0].push(q);
                        }
                    }
                }
            }
            for &d in &w.ns[root].devs {
                let dev = &w.devs[d];
                if rows[0].contains(&d) || matches!(dev.kind, DevKind::Loopback) {
                    continue;
                }
                let r = if matches!(dev.kind, DevKind::Nic { .. }) {
                    2
                } else {
                    1
                };
                rows[r].push(d);
            }
            Column {
                root,
                pods,
                rows,
                x: 0,
                w: 0,
            }
        })
        .collect()
}
