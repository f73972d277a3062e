//! The page's charts as inline SVG, drawn by plotters' SVG backend into a string (no fonts, no
//! bitmaps, nothing fetched: the browser draws the text). plotters escapes the text and
//! attribute values it writes (`<`, `>`, `&`, quotes; tested below), and the labels passed here
//! are numbers, times and fixed words, never a host name.

use plotters::prelude::*;

use super::traffic::{Direction, SLOTS, SLOT_US};
use crate::error::{Error, Result};
use crate::units::human;

/// The series colours: incoming, outgoing, internal, transit (readable on white, apart for the
/// common colour blindnesses: blue, orange, grey, purple).
pub const COLOURS: [RGBColor; 4] =
    [RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xe6, 0x6c, 0x00), RGBColor(0x70, 0x70, 0x70), RGBColor(0x94, 0x67, 0xbd)];

fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::Usage(format!("cannot draw the chart: {e}"))
}

/// Bytes as the port report prints them (K/M/G, base 1024), for the axis.
fn bytes_label(v: f64) -> String {
    human(v.max(0.0) as u64, 5)
}

/// Bytes per 5 minutes over the day. With `split`, one line per direction that has traffic
/// (incoming, outgoing, internal, transit); otherwise one line, every flow.
pub fn traffic_svg(slots: &[[u64; 4]], split: bool, size: (u32, u32)) -> Result<String> {
    let series: Vec<(Direction, &str)> = if split {
        vec![
            (Direction::In, "incoming"),
            (Direction::Out, "outgoing"),
            (Direction::Internal, "internal"),
            (Direction::Transit, "transit"),
        ]
    } else {
        vec![(Direction::Internal, "all flows")]
    };
    let series: Vec<(Direction, &str)> = series
        .into_iter()
        .filter(|(d, _)| {
            !split || matches!(d, Direction::In | Direction::Out) || slots.iter().any(|s| s[*d as usize] > 0)
        })
        .collect();
    let max = slots.iter().flat_map(|s| series.iter().map(|(d, _)| s[*d as usize])).max().unwrap_or(0).max(1024);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..24f64, 0f64..(max as f64 * 1.05))
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_labels(9)
            .x_label_formatter(&|h| format!("{:02}:00", *h as u32))
            .y_labels(5)
            .y_label_formatter(&|v| bytes_label(*v))
            .max_light_lines(0)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(draw_err)?;
        let hours = |i: usize| i as f64 * SLOT_US as f64 / 3.6e9;
        for (d, label) in &series {
            let colour = COLOURS[*d as usize];
            let points = (0..SLOTS).map(|i| (hours(i), slots.get(i).map_or(0, |s| s[*d as usize]) as f64));
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(draw_err)?
                .label(*label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 12))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(responsive(svg, "bytes per 5 minutes over the day"))
}

/// A small line of `values` (oldest first), the last point marked: the trend of a total.
pub fn sparkline_svg(values: &[u64], size: (u32, u32)) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
        let n = values.len().max(2) as f64 - 1.0;
        let mut chart = ChartBuilder::on(&root)
            .margin(3)
            .build_cartesian_2d(0f64..n.max(1.0), 0f64..max * 1.1)
            .map_err(draw_err)?;
        let points: Vec<(f64, f64)> = values.iter().enumerate().map(|(i, v)| (i as f64, *v as f64)).collect();
        chart.draw_series(LineSeries::new(points.iter().copied(), COLOURS[0].stroke_width(2))).map_err(draw_err)?;
        if let Some(&last) = points.last() {
            chart.draw_series(std::iter::once(Circle::new(last, 3, COLOURS[1].filled()))).map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(responsive(svg, "trend over the last days"))
}

/// The SVG scaled to its container's width (a phone's too), with a title for screen readers.
fn responsive(svg: String, title: &str) -> String {
    // plotters writes `<svg width="W" height="H" viewBox="0 0 W H" …>`: keep the viewBox, let CSS
    // size it.
    let Some(end) = svg.find('>') else { return svg };
    let head = &svg[..end];
    let mut out = String::with_capacity(svg.len() + 64);
    let mut rest = head;
    for attr in ["width=\"", "height=\""] {
        if let Some(i) = rest.find(attr) {
            if let Some(j) = rest[i + attr.len()..].find('"') {
                out.push_str(&rest[..i]);
                rest = &rest[i + attr.len() + j + 1..];
            }
        }
    }
    out.push_str(rest);
    out.push_str(" role=\"img\" preserveAspectRatio=\"xMidYMid meet\">");
    // The title is one of this module's fixed strings.
    out.push_str(&format!("<title>{title}</title>"));
    out.push_str(&svg[end + 1..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_chart_is_svg_scaled_to_its_box() {
        let mut slots = vec![[0u64; 4]; SLOTS];
        slots[100] = [5 << 20, 1 << 20, 0, 0];
        let svg = traffic_svg(&slots, true, (800, 260)).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("viewBox=\"0 0 800 260\""));
        assert!(!svg[..svg.find('>').unwrap()].contains("width=\""), "{}", &svg[..200]);
        assert!(svg.contains("\nincoming\n") && svg.contains("\noutgoing\n"));
        assert!(!svg.contains("\ntransit\n"), "a series without traffic has no line");
        assert!(svg.contains("K\n</text>") || svg.contains("M\n</text>"), "axis labels in K/M/G");
        // Empty day: still a chart.
        let empty = traffic_svg(&vec![[0; 4]; SLOTS], false, (800, 260)).unwrap();
        assert!(empty.contains("\nall flows\n"));
    }

    /// The chart crate escapes what it writes: a label with markup stays text.
    #[test]
    fn plotters_escapes_text() {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (200, 50)).into_drawing_area();
            root.draw(&Text::new("<img src=x onerror=alert(1)>\"&'", (5, 5), ("sans-serif", 10))).unwrap();
            root.present().unwrap();
        }
        assert!(!svg.contains("<img"), "{svg}");
        assert!(svg.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&amp;&apos;"), "{svg}");
    }

    #[test]
    fn sparkline() {
        let svg = sparkline_svg(&[1, 5, 3], (120, 28)).unwrap();
        assert!(svg.contains("<circle") && svg.contains("<polyline"), "{svg}");
        assert!(sparkline_svg(&[], (120, 28)).unwrap().starts_with("<svg"));
    }
}
