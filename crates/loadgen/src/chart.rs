//! Line charts as inline SVG for the HTML report, and the axis maths
//! behind them: HdrHistogram's percentile axis (`1/(1-p)` on a log scale:
//! 0 %, 90 %, 99 %, 99.9 % … equally spaced), log latency axes with
//! labelled decades, and "nice" linear axes.
//!
//! Produces markup only (no I/O, no script); every text it writes is
//! escaped with [`esc`].

use std::fmt::Write as _;

/// Series colours, in order (Tableau 10: distinct, and readable in print).
pub(crate) const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// The colour of series `i`.
pub(crate) fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Escapes text for HTML and SVG, in element content and quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Where percentile `q` (0 ≤ q < 1) sits on the percentile axis:
/// `log10(1/(1-q))`, so 0 % is at 0, 90 % at 1, 99 % at 2, 99.9 % at 3.
/// `q` at or above 1 is clamped just below it (the axis has no end).
pub(crate) fn percentile_x(q: f64) -> f64 {
    let q = q.clamp(0.0, 1.0 - 1e-12);
    -(1.0 - q).log10()
}

/// The labelled ticks of a percentile axis reaching `max_x`: one per
/// decade of `1/(1-p)` ("0%", "90%", "99%", "99.9%", …), at least up to
/// 99 %.
pub(crate) fn percentile_ticks(max_x: f64) -> Vec<(f64, String)> {
    let last = (max_x.ceil() as u32).clamp(2, 12);
    (0..=last)
        .map(|k| {
            let label = match k {
                0 => "0%".to_string(),
                1 => "90%".to_string(),
                k => format!("99.{}%", "9".repeat(k as usize - 2)).replace("99.%", "99%"),
            };
            (f64::from(k), label)
        })
        .collect()
}

/// A log axis covering `lo..=hi` (both > 0): its bounds (whole decades)
/// and ticks, at every decade, plus at 2 and 5 when it spans at most two
/// decades.
pub(crate) fn log_axis(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let lo = if lo.is_finite() && lo > 0.0 { lo } else { 1e-3 };
    let hi = if hi.is_finite() && hi > lo {
        hi
    } else {
        lo * 10.0
    };
    let (a, mut b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    if b <= a {
        b = a + 1;
    }
    let steps: &[f64] = if b - a <= 2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    let mut ticks = Vec::new();
    for e in a..=b {
        for m in steps {
            let v = m * 10f64.powi(e);
            if v <= 10f64.powi(b) * 1.0001 {
                ticks.push(v);
            }
        }
    }
    (10f64.powi(a), 10f64.powi(b), ticks)
}

/// A linear axis from 0 covering `max`: its top (a "nice" number) and
/// ticks at steps of 1, 2 or 5 × 10ⁿ, about five of them.
pub(crate) fn linear_axis(max: f64) -> (f64, Vec<f64>) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (max / step).ceil().max(1.0) as u32;
    let ticks = (0..=n).map(|i| f64::from(i) * step).collect();
    (f64::from(n) * step, ticks)
}

/// A latency in milliseconds as a short axis label ("0.5 ms", "20 ms", "2 s").
pub(crate) fn ms_label(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", trim(ms / 1000.0))
    } else {
        format!("{} ms", trim(ms))
    }
}

/// A number without trailing zeros ("0.5", "20", "1.25").
pub(crate) fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// One line of a chart.
pub(crate) struct Series {
    /// The legend's text.
    pub name: String,
    /// Points in data units (x, y), in x order.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (a secondary figure such as p50 beside p99).
    pub dashed: bool,
    /// Index into [`PALETTE`].
    pub colour: usize,
}

/// How the y axis maps values.
pub(crate) enum YScale {
    /// From 0 to `max`.
    Linear { max: f64 },
    /// From `lo` to `hi`, both > 0, logarithmic.
    Log { lo: f64, hi: f64 },
}

/// A line chart with labelled axes.
pub(crate) struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_min: f64,
    pub x_max: f64,
    pub x_ticks: Vec<(f64, String)>,
    pub y: YScale,
    pub y_ticks: Vec<(f64, String)>,
    pub series: Vec<Series>,
    /// Pixel size of the whole SVG.
    pub width: f64,
    pub height: f64,
}

/// Plot-area margins: left (y labels), right, top (title), bottom (x labels).
const MARGIN: (f64, f64, f64, f64) = (76.0, 16.0, 30.0, 44.0);

impl Chart {
    /// The chart as an `<svg>` element with a legend of its series below
    /// the plot (an HTML list, so long names wrap).
    pub(crate) fn render(&self) -> String {
        let (ml, mr, mt, mb) = MARGIN;
        let (pw, ph) = (self.width - ml - mr, self.height - mt - mb);
        let sx = |x: f64| {
            let span = (self.x_max - self.x_min).max(1e-12);
            ml + (x - self.x_min) / span * pw
        };
        let sy = |y: f64| {
            let f = match self.y {
                YScale::Linear { max } => y / max.max(1e-12),
                YScale::Log { lo, hi } => {
                    (y.max(lo * 1e-3).log10() - lo.log10()) / (hi.log10() - lo.log10()).max(1e-12)
                }
            };
            mt + ph * (1.0 - f.clamp(-0.02, 1.02))
        };
        let mut o = String::new();
        let _ = write!(
            o,
            r#"<figure class="chart" style="width:{w}px"><svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{t}">"#,
            w = self.width,
            h = self.height,
            t = esc(&self.title)
        );
        let _ = write!(
            o,
            r#"<text x="{ml}" y="18" class="title">{}</text>"#,
            esc(&self.title)
        );
        let _ = write!(
            o,
            r##"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>"##
        );
        for (v, label) in &self.y_ticks {
            let y = sy(*v);
            let _ = write!(
                o,
                r##"<line x1="{ml}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e6e6e6"/><text x="{}" y="{:.1}" class="ytick">{}</text>"##,
                ml + pw,
                ml - 6.0,
                y + 4.0,
                esc(label)
            );
        }
        for (v, label) in &self.x_ticks {
            let x = sx(*v);
            let _ = write!(
                o,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{mt}" y2="{}" stroke="#e6e6e6"/><text x="{x:.1}" y="{}" class="xtick">{}</text>"##,
                mt + ph,
                mt + ph + 16.0,
                esc(label)
            );
        }
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" class="xlabel">{}</text>"#,
            ml + pw / 2.0,
            self.height - 6.0,
            esc(&self.x_label)
        );
        let _ = write!(
            o,
            r#"<text transform="translate(12 {}) rotate(-90)" class="ylabel">{}</text>"#,
            mt + ph / 2.0,
            esc(&self.y_label)
        );
        for s in &self.series {
            if s.points.is_empty() {
                continue;
            }
            let mut d = String::new();
            for (i, (x, y)) in s.points.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1} {:.1}",
                    if i == 0 { "M" } else { " L" },
                    sx(*x),
                    sy(*y)
                );
            }
            let dash = if s.dashed {
                r#" stroke-dasharray="5 4""#
            } else {
                ""
            };
            let _ = write!(
                o,
                r#"<path d="{d}" fill="none" stroke="{}" stroke-width="2"{dash}><title>{}</title></path>"#,
                colour(s.colour),
                esc(&s.name)
            );
            if s.points.len() == 1 {
                let (x, y) = s.points[0];
                let _ = write!(
                    o,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#,
                    sx(x),
                    sy(y),
                    colour(s.colour)
                );
            }
        }
        o.push_str("</svg><figcaption class=\"legend\">");
        for s in &self.series {
            let style = if s.dashed { "dashed" } else { "solid" };
            let _ = write!(
                o,
                r#"<span><i style="border-top:3px {style} {}"></i>{}</span>"#,
                colour(s.colour),
                esc(&s.name)
            );
        }
        o.push_str("</figcaption></figure>\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_axis_is_log_of_one_over_one_minus_p() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(percentile_x(0.0), 0.0));
        assert!(close(percentile_x(0.9), 1.0));
        assert!(close(percentile_x(0.99), 2.0));
        assert!(close(percentile_x(0.999), 3.0));
        assert!(close(percentile_x(0.5), 2f64.log10()));
        // 100 % is clamped, not infinite.
        assert!(percentile_x(1.0).is_finite() && percentile_x(1.0) > 11.0);
        assert!(percentile_x(-1.0) == 0.0);
        let ticks = percentile_ticks(3.4);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
        assert_eq!(ticks[4].0, 4.0);
        // At least up to 99 %, even for a handful of samples.
        assert_eq!(percentile_ticks(0.3).len(), 3);
    }

    #[test]
    fn log_axes_cover_whole_decades_with_labelled_ticks() {
        let (lo, hi, ticks) = log_axis(0.35, 42.0);
        assert_eq!((lo, hi), (0.1, 100.0));
        assert_eq!(ticks.len(), 4, "{ticks:?}");
        let (lo, hi, ticks) = log_axis(1.5, 7.0);
        assert_eq!((lo, hi), (1.0, 10.0));
        assert_eq!(ticks, [1.0, 2.0, 5.0, 10.0]);
        // Degenerate input still gives a usable axis.
        let (lo, hi, _) = log_axis(0.0, f64::NAN);
        assert!(lo > 0.0 && hi > lo);
        assert_eq!(ms_label(0.5), "0.5 ms");
        assert_eq!(ms_label(20.0), "20 ms");
        assert_eq!(ms_label(2000.0), "2 s");
    }

    #[test]
    fn linear_axes_end_on_a_nice_number() {
        let (top, ticks) = linear_axis(937.0);
        assert_eq!(top, 1000.0);
        assert_eq!(ticks.first(), Some(&0.0));
        assert_eq!(ticks.last(), Some(&1000.0));
        let (top, _) = linear_axis(0.0);
        assert!(top > 0.0);
        let (top, ticks) = linear_axis(1.3);
        assert!(top >= 1.3 && ticks.len() <= 8, "{top} {ticks:?}");
    }

    #[test]
    fn everything_written_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let c = Chart {
            title: "<script>".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_min: 0.0,
            x_max: 1.0,
            x_ticks: vec![(0.0, "0".into())],
            y: YScale::Linear { max: 1.0 },
            y_ticks: vec![(0.5, "½".into())],
            series: vec![Series {
                name: "a<b".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                dashed: false,
                colour: 0,
            }],
            width: 300.0,
            height: 200.0,
        };
        let svg = c.render();
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains("a&lt;b"));
        assert!(svg.contains("<path d=\"M76.0 "), "{svg}");
    }
}
