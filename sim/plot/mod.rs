//! Pictures of a run with plotters: a ladder (sequence) diagram per ping, a timeline of the
//! scenario, and its topology (with `sim check`'s reachability coloured on it). Drawn as SVG;
//! PNG is the same SVG rasterised with resvg. Reads the world and the journal; never mutates.

mod ladder;
mod timeline;
mod topology;

pub use ladder::ladder;
pub use timeline::timeline;
pub use topology::{topology, Reach};

use crate::error::Error;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// The file format of a picture.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Svg,
    Png,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "svg" => Ok(Format::Svg),
            "png" => Ok(Format::Png),
            _ => Err(format!("unknown picture format {s:?} (svg or png)")),
        }
    }
}

/// One picture: its file stem and its SVG text.
#[derive(Clone, Debug)]
pub struct Picture {
    /// The file name without its extension (`ladder-1-pod11-10.42.2.11`).
    pub stem: String,
    /// The picture, as SVG text.
    pub svg: String,
}

/// What drawing can fail with (plotters' error, as text).
pub type DrawResult<T> = Result<T, String>;

fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing failed: {e:?}")
}

/// Renders `draw` onto a white `w` x `h` SVG canvas.
fn svg(
    w: u32,
    h: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult<()>,
) -> DrawResult<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}

/// Text at a pixel position, anchored by `h` horizontally and centred vertically.
fn label<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    text: &str,
    at: (i32, i32),
    size: u32,
    color: RGBColor,
    h: HPos,
) -> DrawResult<()> {
    let style = TextStyle::from(("sans-serif", px(size)).into_font())
        .color(&color)
        .pos(Pos::new(h, VPos::Center));
    area.draw(&Text::new(text.to_string(), at, style))
        .map_err(draw_err)
}

/// Bold text, as `label`.
fn bold<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    text: &str,
    at: (i32, i32),
    size: u32,
    color: RGBColor,
    h: HPos,
) -> DrawResult<()> {
    let style = TextStyle::from(("sans-serif", px(size)).into_font().style(FontStyle::Bold))
        .color(&color)
        .pos(Pos::new(h, VPos::Center));
    area.draw(&Text::new(text.to_string(), at, style))
        .map_err(draw_err)
}

/// The plotters font size that renders as `size` pixels: its SVG backend writes
/// `font-size` as the size divided by 1.24.
fn px(size: u32) -> f64 {
    f64::from(size) * 1.24
}

/// At most `n` characters of `s`, with an ellipsis when cut.
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Approximate width in pixels of `s` at font `size` (sans-serif averages ~0.6 em).
fn text_w(s: &str, size: u32) -> i32 {
    (s.chars().count() as f64 * f64::from(size) * 0.6).ceil() as i32
}

/// The colour of a drop reason, the same in every picture.
pub fn reason_color(reason: &str) -> RGBColor {
    match reason {
        "IP_RPFILTER" => RGBColor(214, 39, 40),
        "IP_INNOROUTES" => RGBColor(255, 127, 14),
        "NEIGH_FAILED" => RGBColor(148, 103, 189),
        "OTHERHOST" => RGBColor(127, 127, 127),
        _ => RGBColor(140, 86, 75),
    }
}

/// Every picture of a finished run: the topology, the timeline, and one ladder per ping (its
/// first echo request and what it caused). Needs the journal for the ladders.
pub fn run_pictures(r: &crate::run::RunResult) -> DrawResult<Vec<Picture>> {
    let w = &r.built.world;
    let mut pics = vec![
        Picture {
            stem: "topology".into(),
            svg: topology(w, &r.built.name, None)?,
        },
        Picture {
            stem: "timeline".into(),
            svg: timeline(w, &r.built.name)?,
        },
    ];
    if let Ok(j) = crate::explain::Journeys::new(w) {
        for (k, p) in w.pings.iter().enumerate() {
            let Some(&(_, at)) = p.sent.first() else {
                continue;
            };
            let Some(id) = j.find_sent(p.spec.ns, p.spec.dst, at) else {
                continue;
            };
            let title = format!(
                "{} -> {}: ping {} icmp_seq=1 (journey {id})",
                w.ns[p.spec.ns].name,
                p.spec.dst,
                k + 1
            );
            pics.push(Picture {
                stem: format!("ladder-{}-{}-{}", k + 1, w.ns[p.spec.ns].name, p.spec.dst),
                svg: ladder(&j, id, &title)?,
            });
        }
    }
    Ok(pics)
}

/// Writes pictures into `dir` as `<stem>.svg` or `<stem>.png`.
pub fn write_pictures(pics: &[Picture], dir: &Path, format: Format) -> Result<Vec<PathBuf>, Error> {
    let io = |path: &Path, source: std::io::Error| Error::Io {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut fonts = None;
    let mut out = Vec::new();
    for p in pics {
        let (path, bytes) = match format {
            Format::Svg => (
                dir.join(format!("{}.svg", p.stem)),
                p.svg.clone().into_bytes(),
            ),
            Format::Png => {
                let path = dir.join(format!("{}.png", p.stem));
                let db = fonts.get_or_insert_with(system_fonts);
                let png =
                    svg_to_png(&p.svg, db).map_err(|m| io(&path, std::io::Error::other(m)))?;
                (path, png)
            }
        };
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
        out.push(path);
    }
    Ok(out)
}

fn system_fonts() -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    let mut db = resvg::usvg::fontdb::Database::new();
    db.load_system_fonts();
    db.set_sans_serif_family("DejaVu Sans");
    std::sync::Arc::new(db)
}

/// Rasterises an SVG (text in the machine's fonts; without any, text is left out).
fn svg_to_png(
    svg: &str,
    fonts: &std::sync::Arc<resvg::usvg::fontdb::Database>,
) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let opt = usvg::Options {
        fontdb: fonts.clone(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| "empty picture".to_string())?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}
