//! The ladder (sequence) diagram of one flow: a lane per interface the packets crossed, in
//! the order they crossed them; time runs down, one row per capture; wire hops are arrows,
//! encapsulated ones thick and labelled IPIP/VXLAN; drops are red crosses with the reason.
//! What the seeds' tcpdumps on five interfaces showed, in one picture.

use super::{bold, draw_err, fit, label, reason_color, svg, text_w, DrawResult};
use crate::explain::Journeys;
use crate::trace::journal::{Cause, StepKind};
use crate::trace::Direction;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;
use std::collections::BTreeMap;

/// How deep replies and errors about replies are followed.
const DEPTH_MAX: usize = 4;
const ROW_H: i32 = 26;
const TOP: i32 = 96;
const LEFT: i32 = 110;
const LANE_MIN_W: i32 = 112;
const TEXT_SIZE: u32 = 13;
const RIGHT_CHARS: usize = 100;

/// One row of the ladder.
struct Event {
    pkt: u64,
    lane: usize,
    ts: crate::time::Instant,
    what: What,
}

enum What {
    Capture {
        dir: Direction,
        text: String,
        encap: Option<&'static str>,
    },
    Drop(String),
    Deliver,
}

/// Colours of the journeys: the request, what it caused, what that caused.
const JOURNEY_COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
];
/// The generation of ARP journeys, drawn in `ARP_COLOR`.
const ARP_GEN: usize = usize::MAX;
const ARP_COLOR: RGBColor = RGBColor(160, 160, 160);
const ENCAP: RGBColor = RGBColor(230, 120, 0);
const GRID: RGBColor = RGBColor(200, 200, 200);
const DIM: RGBColor = RGBColor(120, 120, 120);

/// The ladder of journey `root` and the replies and ICMP errors it caused, as SVG.
pub fn ladder(j: &Journeys, root: u64, title: &str) -> DrawResult<String> {
    // The journeys to draw, each with its generation (colour): replies and errors, and the
    // ARP exchanges a journey waited on (as tcpdump shows them), in grey.
    let mut gen: BTreeMap<u64, usize> = BTreeMap::new();
    let mut todo = vec![(root, 0usize)];
    while let Some((id, g)) = todo.pop() {
        if gen.insert(id, g).is_some() || (g >= DEPTH_MAX && g != ARP_GEN) {
            continue;
        }
        for s in j.steps(id) {
            let StepKind::Caused { child, cause } = s.kind else {
                continue;
            };
            match cause {
                Cause::EchoReply | Cause::IcmpError { .. } if g != ARP_GEN => {
                    todo.push((child, g + 1))
                }
                Cause::ArpRequest => todo.push((child, ARP_GEN)),
                Cause::ArpReply | Cause::ProxyArpReply | Cause::Copy if g == ARP_GEN => {
                    todo.push((child, ARP_GEN))
                }
                _ => {}
            }
        }
    }
    let steps = j.steps_of_all(gen.keys().copied());

    let mut lanes: Vec<crate::dev::DevId> = Vec::new();
    let mut lane_of = |dev| match lanes.iter().position(|&d| d == dev) {
        Some(i) => i,
        None => {
            lanes.push(dev);
            lanes.len() - 1
        }
    };
    let mut encap: BTreeMap<u64, &'static str> = BTreeMap::new();
    let mut last_lane: BTreeMap<u64, usize> = BTreeMap::new();
    let mut events = Vec::new();
    for s in steps {
        let what = match &s.kind {
            StepKind::Encap { tunnel, .. } => {
                encap.insert(s.pkt, tunnel.name());
                continue;
            }
            StepKind::Decap { .. } => {
                encap.remove(&s.pkt);
                continue;
            }
            StepKind::Capture { dir, idx } => What::Capture {
                dir: *dir,
                text: idx.and_then(|i| j.capture_text(i)).unwrap_or_default(),
                encap: encap.get(&s.pkt).copied(),
            },
            StepKind::Drop { reason } => What::Drop(reason.to_string()),
            // ARP frames are consumed wherever they arrive: their deliveries are not drawn.
            StepKind::Deliver if gen.get(&s.pkt) == Some(&ARP_GEN) => continue,
            StepKind::Deliver => What::Deliver,
            _ => continue,
        };
        let lane = match what {
            // A delivery is drawn on the packet's last lane (its device may be `lo`).
            What::Deliver => match last_lane.get(&s.pkt) {
                Some(&l) => l,
                None => continue,
            },
            _ => lane_of(s.dev),
        };
        last_lane.insert(s.pkt, lane);
        events.push(Event {
            pkt: s.pkt,
            lane,
            ts: s.ts,
            what,
        });
    }

    // Lane width: the widest of its two header lines.
    let heads: Vec<(String, String)> = lanes.iter().map(|&d| j.netns_dev(d)).collect();
    let lane_w = heads
        .iter()
        .map(|(a, b)| text_w(a, TEXT_SIZE).max(text_w(b, TEXT_SIZE)) + 16)
        .max()
        .unwrap_or(LANE_MIN_W)
        .max(LANE_MIN_W);
    let lanes_w = lane_w * lanes.len().max(1) as i32;
    let right_x = LEFT + lanes_w + 16;
    // The legend follows the title on its line, right of it and at least at the text column.
    let legend = [
        "request",
        "reply / error",
        "reply to that",
        "ARP",
        "encapsulated",
    ];
    let legend_x = right_x.max(16 + text_w(title, 16) + 40);
    let legend_w: i32 = legend.iter().map(|t| 56 + text_w(t, 12)).sum();
    let width = (right_x + text_w(&"x".repeat(RIGHT_CHARS), 12) + 24)
        .max(legend_x + legend_w + 16)
        .max(700);
    let height = TOP + ROW_H * (events.len() as i32 + 1) + 40;
    let x_of = |lane: usize| LEFT + lane_w * lane as i32 + lane_w / 2;
    let y_of = |row: usize| TOP + ROW_H * row as i32 + ROW_H / 2;

    svg(width as u32, height as u32, |root| {
        bold(root, title, (16, 20), 16, BLACK, HPos::Left)?;
        label(
            root,
            "time (s)",
            (LEFT - 12, TOP - 14),
            12,
            DIM,
            HPos::Right,
        )?;
        for (i, (ns, dev)) in heads.iter().enumerate() {
            let x = x_of(i);
            bold(root, ns, (x, 48), TEXT_SIZE, BLACK, HPos::Center)?;
            label(root, dev, (x, 66), TEXT_SIZE, BLACK, HPos::Center)?;
            root.draw(&PathElement::new(
                vec![(x, TOP - 6), (x, height - 30)],
                GRID.stroke_width(1),
            ))
            .map_err(draw_err)?;
        }
        // Legend under the title.
        let mut lx = legend_x;
        let samples = [
            JOURNEY_COLORS[0],
            JOURNEY_COLORS[1],
            JOURNEY_COLORS[2],
            ARP_COLOR,
        ];
        for (c, name) in samples.iter().zip(&legend[..4]) {
            root.draw(&PathElement::new(
                vec![(lx, 20), (lx + 24, 20)],
                c.stroke_width(2),
            ))
            .map_err(draw_err)?;
            label(root, name, (lx + 30, 20), 12, BLACK, HPos::Left)?;
            lx += 56 + super::text_w(name, 12);
        }
        root.draw(&PathElement::new(
            vec![(lx, 20), (lx + 24, 20)],
            ENCAP.stroke_width(5),
        ))
        .map_err(draw_err)?;
        label(root, legend[4], (lx + 30, 20), 12, BLACK, HPos::Left)?;

        let mut prev: BTreeMap<u64, (usize, usize, Direction)> = BTreeMap::new();
        for (row, e) in events.iter().enumerate() {
            let (x, y) = (x_of(e.lane), y_of(row));
            let color = match gen.get(&e.pkt).copied().unwrap_or(0) {
                ARP_GEN => ARP_COLOR,
                g => JOURNEY_COLORS[g.min(3)],
            };
            let ts = e.ts.to_string();
            // Seconds with microseconds: every event of a ping is microseconds apart.
            let ts = ts.get(..ts.len().saturating_sub(3)).unwrap_or(&ts);
            label(root, ts, (LEFT - 12, y), 12, DIM, HPos::Right)?;
            match &e.what {
                What::Capture { dir, text, encap } => {
                    if let Some(&(plane, prow, pdir)) = prev.get(&e.pkt) {
                        let (px, py) = (x_of(plane), y_of(prow));
                        if plane != e.lane {
                            // A wire hop (out, then in on the peer) or a hop inside a host.
                            let wire = pdir == Direction::Out && *dir == Direction::In;
                            let style = match (wire, encap) {
                                (true, Some(_)) => ENCAP.stroke_width(5),
                                (true, None) => color.stroke_width(2),
                                (false, _) => DIM.stroke_width(1),
                            };
                            arrow(root, (px, py), (x, y), style, wire)?;
                            if let (true, Some(t)) = (wire, encap) {
                                let (mx, my) = ((px + x) / 2, (py + y) / 2);
                                bold(root, t, (mx, my - 10), 12, ENCAP, HPos::Center)?;
                            }
                        }
                    }
                    root.draw(&Circle::new((x, y), 4, color.filled()))
                        .map_err(draw_err)?;
                    let d = if *dir == Direction::In { "in " } else { "out" };
                    let t = fit(&format!("{d} {text}"), RIGHT_CHARS);
                    label(root, &t, (right_x, y), 12, BLACK, HPos::Left)?;
                    prev.insert(e.pkt, (e.lane, row, *dir));
                }
                What::Drop(reason) => {
                    let c = reason_color(reason);
                    root.draw(&Cross::new((x, y), 8, c.stroke_width(3)))
                        .map_err(draw_err)?;
                    let place = {
                        let (ns, dev) = &heads[e.lane];
                        format!("{ns}/{dev}")
                    };
                    bold(
                        root,
                        &format!("DROPPED {reason} at {place}"),
                        (right_x, y),
                        12,
                        c,
                        HPos::Left,
                    )?;
                }
                What::Deliver => {
                    root.draw(&Circle::new((x, y), 7, color.stroke_width(2)))
                        .map_err(draw_err)?;
                    let (ns, _) = &heads[e.lane];
                    label(
                        root,
                        &format!("delivered in {ns}"),
                        (right_x, y),
                        12,
                        color,
                        HPos::Left,
                    )?;
                }
            }
        }
        Ok(())
    })
}

/// A line from `a` to `b`, with an arrow head at `b` for wire hops.
fn arrow<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    a: (i32, i32),
    b: (i32, i32),
    style: ShapeStyle,
    head: bool,
) -> DrawResult<()> {
    root.draw(&PathElement::new(vec![a, b], style))
        .map_err(draw_err)?;
    if !head {
        return Ok(());
    }
    let (dx, dy) = (f64::from(b.0 - a.0), f64::from(b.1 - a.1));
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    // Stop short of the dot, then a 10 px head.
    let tip = (f64::from(b.0) - ux * 5.0, f64::from(b.1) - uy * 5.0);
    let back = (tip.0 - ux * 11.0, tip.1 - uy * 11.0);
    let p = |x: f64, y: f64| (x.round() as i32, y.round() as i32);
    let head = vec![
        p(tip.0, tip.1),
        p(back.0 - uy * 5.0, back.1 + ux * 5.0),
        p(back.0 + uy * 5.0, back.1 - ux * 5.0),
    ];
    root.draw(&Polygon::new(head, style.color.filled()))
        .map_err(draw_err)
}
