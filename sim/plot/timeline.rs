//! The timeline of a scenario: one row per captured interface with a tick per packet (out
//! above, in below the row's line), drops as crosses coloured by kernel reason on the row of
//! their place, and below, the RTT of every echo reply per ping (lost requests marked).

use super::{bold, draw_err, fit, label, reason_color, svg, text_w, DrawResult};
use crate::trace::Direction;
use crate::world::World;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;
use std::collections::BTreeMap;

const ROW_H: i32 = 26;
const LEGEND_W: i32 = 330;
const RTT_H: i32 = 300;
const OUT: RGBColor = RGBColor(31, 119, 180);
const IN: RGBColor = RGBColor(23, 190, 207);
const PING_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The timeline of a finished run, as SVG.
pub fn timeline(w: &World, name: &str) -> DrawResult<String> {
    // Rows, top to bottom: captured interfaces, then drop places no capture covers.
    let mut rows: Vec<String> = w.trace.ifaces.iter().map(|i| i.name.clone()).collect();
    for (d, _) in &w.trace.drops {
        let p = d.place.to_string();
        if !rows.contains(&p) {
            rows.push(p);
        }
    }
    let n = rows.len().max(1) as i32;
    let end_ns = w
        .trace
        .packets
        .iter()
        .map(|p| p.ts.as_ns())
        .chain(w.trace.drops.iter().map(|(d, _)| d.ts.as_ns()))
        .max()
        .unwrap_or(0);
    let end_s = (end_ns as f64 / 1e9).ceil().max(1.0) + 1.0;
    let label_w = rows.iter().map(|r| text_w(r, 13)).max().unwrap_or(60) + 24;
    let upper_h = ROW_H * n + 110;
    let width = 1400;
    let height = upper_h + RTT_H + 20;

    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (d, _) in &w.trace.drops {
        *reasons.entry(d.reason.to_string()).or_default() += 1;
    }

    svg(width as u32, height as u32, |root| {
        let (upper, lower) = root.split_vertically(upper_h);
        let (up_chart, up_legend) = upper.split_horizontally(width - LEGEND_W);
        let mut c = ChartBuilder::on(&up_chart)
            .caption(
                format!("{name}: packets per interface over virtual time"),
                ("sans-serif", super::px(18)),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(label_w)
            .build_cartesian_2d(0f64..end_s, -1i32..n)
            .map_err(draw_err)?;
        let names = rows.clone();
        c.configure_mesh()
            .disable_x_mesh()
            .y_labels((n + 1) as usize)
            .y_label_formatter(&|v| {
                // Row 0 (the first interface) at the top: y grows upward.
                usize::try_from(n - 1 - *v)
                    .ok()
                    .and_then(|i| names.get(i))
                    .cloned()
                    .unwrap_or_default()
            })
            .y_label_style(("sans-serif", super::px(13)))
            .x_label_style(("sans-serif", super::px(12)))
            .x_desc("virtual time (s)")
            .axis_desc_style(("sans-serif", super::px(13)))
            .light_line_style(WHITE)
            .draw()
            .map_err(draw_err)?;
        let row_of: BTreeMap<&str, i32> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.as_str(), n - 1 - i as i32))
            .collect();
        // Tick per packet: the plot's y grows upward; out packets rise above the row, in
        // packets hang below.
        let ticks = w.trace.packets.iter().filter_map(|p| {
            let row = *row_of.get(w.trace.ifaces.get(p.iface)?.name.as_str())?;
            let t = p.ts.as_ns() as f64 / 1e9;
            Some((t, row, p.dir))
        });
        for (t, row, dir) in ticks {
            let (color, dy) = match dir {
                Direction::Out => (OUT, -9),
                Direction::In => (IN, 9),
            };
            // Pixel coordinates on the whole canvas: a tick is a fixed 9 px, not a y range.
            let (px, py) = c.backend_coord(&(t, row));
            root.draw(&PathElement::new(
                vec![(px, py), (px, py + dy)],
                color.stroke_width(2),
            ))
            .map_err(draw_err)?;
        }
        for (d, _) in &w.trace.drops {
            let Some(&row) = row_of.get(d.place.to_string().as_str()) else {
                continue;
            };
            let t = d.ts.as_ns() as f64 / 1e9;
            let color = reason_color(d.reason.kernel_name());
            c.plotting_area()
                .draw(&Cross::new((t, row), 7, color.stroke_width(3)))
                .map_err(draw_err)?;
        }
        // Legend on the right.
        let mut y = 50;
        bold(&up_legend, "packets", (10, y), 14, BLACK, HPos::Left)?;
        y += 24;
        for (color, text) in [(OUT, "out (sent on the interface)"), (IN, "in (received)")] {
            up_legend
                .draw(&PathElement::new(
                    vec![(16, y - 7), (16, y + 7)],
                    color.stroke_width(3),
                ))
                .map_err(draw_err)?;
            label(&up_legend, text, (30, y), 13, BLACK, HPos::Left)?;
            y += 22;
        }
        y += 10;
        bold(
            &up_legend,
            "drops by reason",
            (10, y),
            14,
            BLACK,
            HPos::Left,
        )?;
        y += 24;
        if reasons.is_empty() {
            label(&up_legend, "none", (30, y), 13, BLACK, HPos::Left)?;
        }
        for (r, count) in &reasons {
            let color = reason_color(r);
            up_legend
                .draw(&Cross::new((16, y), 6, color.stroke_width(3)))
                .map_err(draw_err)?;
            label(
                &up_legend,
                &format!("{r} ({count})"),
                (30, y),
                13,
                BLACK,
                HPos::Left,
            )?;
            y += 22;
        }

        // RTTs.
        let (lo_chart, lo_legend) = lower.split_horizontally(width - LEGEND_W);
        let rtt_max = w
            .pings
            .iter()
            .flat_map(|p| p.replies.iter())
            .map(|r| r.rtt.as_ns() as f64 / 1e6)
            .fold(0.0f64, f64::max)
            .max(0.001)
            * 1.25;
        let mut c = ChartBuilder::on(&lo_chart)
            .caption(
                "RTT of each echo reply (lost requests at 0)",
                ("sans-serif", super::px(16)),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(label_w)
            .build_cartesian_2d(0f64..end_s, 0f64..rtt_max)
            .map_err(draw_err)?;
        c.configure_mesh()
            .x_desc("virtual time (s)")
            .y_desc("RTT (ms)")
            .axis_desc_style(("sans-serif", super::px(13)))
            .x_label_style(("sans-serif", super::px(12)))
            .y_label_style(("sans-serif", super::px(12)))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(draw_err)?;
        let mut y = 40;
        bold(&lo_legend, "pings", (10, y), 14, BLACK, HPos::Left)?;
        y += 22;
        if w.pings.is_empty() {
            label(
                &lo_legend,
                "none in this scenario",
                (30, y),
                13,
                BLACK,
                HPos::Left,
            )?;
        }
        for (k, p) in w.pings.iter().enumerate() {
            let color = PING_COLORS[k % PING_COLORS.len()];
            for r in &p.replies {
                let sent = p
                    .sent
                    .iter()
                    .find(|(s, _)| *s == r.seq)
                    .map_or(0.0, |(_, t)| t.as_ns() as f64 / 1e9);
                let ms = r.rtt.as_ns() as f64 / 1e6;
                c.plotting_area()
                    .draw(&Circle::new((sent, ms), 5, color.filled()))
                    .map_err(draw_err)?;
            }
            let answered: Vec<u16> = p.replies.iter().map(|r| r.seq).collect();
            let lost = p.sent.iter().filter(|(s, _)| !answered.contains(s));
            for (_, t) in lost {
                c.plotting_area()
                    .draw(&TriangleMarker::new(
                        (t.as_ns() as f64 / 1e9, 0.0),
                        7,
                        color.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
            }
            if y < RTT_H - 20 {
                lo_legend
                    .draw(&Circle::new((16, y), 5, color.filled()))
                    .map_err(draw_err)?;
                let text = format!(
                    "{}: {} -> {} ({}/{} replies)",
                    k + 1,
                    w.ns[p.spec.ns].name,
                    p.spec.dst,
                    p.replies.len(),
                    p.sent.len()
                );
                label(&lo_legend, &fit(&text, 44), (30, y), 12, BLACK, HPos::Left)?;
                y += 20;
            }
        }
        Ok(())
    })
}
