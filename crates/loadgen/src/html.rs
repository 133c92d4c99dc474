//! The `--html` report: one self-contained HTML file (inline CSS and SVG,
//! no script, nothing loaded from anywhere) with the run's parameters, the
//! latency percentile curves (HdrHistogram style), throughput, p99 and CPU
//! over time, errors and the cleanup, for one run or several compared
//! (several `--url`s, or the runs of a `--sweep`).
//!
//! Renders text only; the caller writes the file. Everything that comes
//! from a run or a server is escaped ([`esc`]).

use std::fmt::Write as _;

use crate::chart::{
    self, esc, linear_axis, log_axis, ms_label, percentile_ticks, percentile_x, Chart, Series,
    YScale,
};
use crate::hgrm::TICKS_PER_HALF_DISTANCE;
use crate::Report;

/// Chart sizes, pixels: a full-width chart and one of a two-column grid.
const FULL: (f64, f64) = (1100.0, 380.0);
const HALF: (f64, f64) = (520.0, 300.0);

/// The stylesheet (inline: the file must stand alone).
const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;background:#f6f7f9;margin:0}
main{max-width:1120px;margin:0 auto;padding:20px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 12px}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:4px 10px;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}thead th{background:#eef1f5}
th.l,td.l{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:16px}
figure.chart{margin:0 0 8px;background:#fff;border:1px solid #ddd;border-radius:4px;padding:6px}
svg text{font:12px system-ui,sans-serif;fill:#444}
svg text.title{font-size:14px;font-weight:600;fill:#222}
svg text.ytick{text-anchor:end}svg text.xtick,svg text.xlabel,svg text.ylabel{text-anchor:middle}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;padding:4px 8px 2px;font-size:12px;color:#333}
.legend i{display:inline-block;width:22px;margin:0 6px 3px 0;vertical-align:middle}
.warn{color:#b00020;font-weight:600}.note{color:#666;font-size:12px}
";

/// The HTML report of `reports` (one run, or several to compare).
pub fn html_report(reports: &[&Report]) -> String {
    let labels = run_labels(reports);
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let title = match reports.first() {
        Some(r) => format!("partybus loadgen: {} mode, {}", r.mode.name(), r.started_at),
        None => "partybus loadgen".to_string(),
    };
    let _ = writeln!(
        o,
        "<title>{}</title><style>{CSS}</style></head><body><main>",
        esc(&title)
    );
    let _ = writeln!(o, "<h1>partybus loadgen</h1>");
    if let Some(r) = reports.first() {
        let _ = writeln!(
            o,
            "<p class=\"sub\">{} mode, {} scenario, {} client{}, {} run{}, started {}</p>",
            esc(r.mode.name()),
            esc(r.scenario.name()),
            r.concurrency,
            if r.concurrency == 1 { "" } else { "s" },
            reports.len(),
            if reports.len() == 1 { "" } else { "s" },
            esc(&r.started_at)
        );
    }
    parameters(&mut o, reports, &labels);
    latency_curves(&mut o, reports, &labels);
    step_tables(&mut o, reports, &labels);
    over_time(&mut o, reports, &labels);
    errors(&mut o, reports, &labels);
    o.push_str(
        "<p class=\"note\">Latencies from HdrHistogram (microsecond resolution, 3 significant \
         digits); per-interval figures from 2-digit histograms. Open-loop latencies are timed \
         from each unit's scheduled start.</p>\n</main></body></html>\n",
    );
    o
}

/// A name per run: the URL when the runs are of different servers,
/// otherwise the load (closed loop, or the open-loop rate).
pub(crate) fn run_labels(reports: &[&Report]) -> Vec<String> {
    let same_url = reports.windows(2).all(|w| w[0].url == w[1].url);
    reports
        .iter()
        .map(|r| {
            let load = match &r.open_loop {
                None => "closed loop".to_string(),
                Some(ol) => match ol.percent_of_max {
                    Some(p) => format!("{} % of max ({:.0}/s)", chart::trim(p), ol.requested_per_s),
                    None => format!("open loop {:.1}/s", ol.requested_per_s),
                },
            };
            if reports.len() > 1 && same_url {
                load
            } else if reports.len() > 1 {
                r.url.clone()
            } else {
                format!("{} ({load})", r.url)
            }
        })
        .collect()
}

fn parameters(o: &mut String, reports: &[&Report], labels: &[String]) {
    o.push_str("<h2>Run</h2>\n<table><thead><tr><th></th>");
    for l in labels {
        let _ = write!(o, "<th>{}</th>", esc(l));
    }
    o.push_str("</tr></thead><tbody>\n");
    let row = |o: &mut String, name: &str, cell: &dyn Fn(&Report) -> String| {
        let _ = write!(o, "<tr><th>{}</th>", esc(name));
        for r in reports {
            let _ = write!(o, "<td class=\"l\">{}</td>", esc(&cell(r)));
        }
        o.push_str("</tr>\n");
    };
    let opt = |v: Option<f64>, unit: &str| v.map_or("n/a".to_string(), |v| format!("{v:.2}{unit}"));
    row(o, "started", &|r| r.started_at.clone());
    row(o, "servers", &|r| r.urls.join(", "));
    row(o, "partybus version", &|r| {
        r.server_version
            .clone()
            .unwrap_or_else(|| "not reported".into())
    });
    row(o, "mode", &|r| r.mode.name().into());
    row(o, "scenario", &|r| r.scenario.name().into());
    row(o, "token mode", &|r| r.token_mode.name().into());
    row(o, "clients", &|r| r.concurrency.to_string());
    row(o, "duration", &|r| {
        let early = if r.interrupted {
            " (interrupted: stopped before its end)"
        } else {
            ""
        };
        format!("{:.2} s{early}", r.elapsed_s)
    });
    row(o, "load", &|r| match &r.open_loop {
        None => "closed loop".into(),
        Some(ol) => format!(
            "open loop: requested {:.1}/s, achieved {:.1}/s, {} of {} units started{}",
            ol.requested_per_s,
            ol.achieved_per_s,
            ol.started,
            ol.scheduled,
            if ol.kept_up { "" } else { " (NOT KEPT UP)" }
        ),
    });
    row(o, "parties", &|r| {
        format!("{} ({:.1}/s)", r.parties, r.parties_per_s)
    });
    row(o, "requests", &|r| {
        format!("{} ({:.1}/s)", r.requests, r.requests_per_s)
    });
    row(o, "errors", &|r| r.error_count.to_string());
    row(o, "server CPU", &|r| {
        if r.cpu.server_pids == 0 {
            "not measured (no --server-pid)".into()
        } else {
            opt(r.cpu.server_cores, " cores")
        }
    });
    row(o, "loadgen CPU", &|r| opt(r.cpu.loadgen_cores, " cores"));
    row(o, "machine", &|r| {
        let load = r.machine.load_before.map_or("n/a".to_string(), |l| {
            format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
        });
        format!("{} cores, load before {load}", r.machine.nproc)
    });
    row(o, "cleanup", &|r| r.cleanup.summary());
    o.push_str("</tbody></table>\n");
}

/// The percentile curve of a histogram: (axis x, latency ms) per
/// HdrHistogram percentile step, the 100 % point at `1 - 1/count`.
fn curve(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    if h.is_empty() {
        return points;
    }
    let top = percentile_x(1.0 - 1.0 / h.len().max(2) as f64);
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        let q = v.quantile_iterated_to();
        let x = if q >= 1.0 {
            top.max(points.last().map_or(0.0, |p: &(f64, f64)| p.0))
        } else {
            percentile_x(q)
        };
        points.push((x, v.value_iterated_to() as f64 / 1000.0));
    }
    points
}

/// A latency-by-percentile chart of `series`.
fn percentile_chart(title: String, series: Vec<Series>, size: (f64, f64)) -> Chart {
    let pts = || series.iter().flat_map(|s| s.points.iter());
    let max_x = pts().map(|p| p.0).fold(0.0, f64::max);
    let lo = pts()
        .map(|p| p.1)
        .filter(|y| *y > 0.0)
        .fold(f64::INFINITY, f64::min);
    let hi = pts().map(|p| p.1).fold(0.0, f64::max);
    let (lo, hi, ticks) = log_axis(lo, hi);
    let x_ticks = percentile_ticks(max_x);
    let x_max = x_ticks.last().map_or(2.0, |t| t.0);
    Chart {
        title,
        x_label: "percentile".into(),
        y_label: "latency".into(),
        x_min: 0.0,
        x_max,
        x_ticks,
        y: YScale::Log { lo, hi },
        y_ticks: ticks.into_iter().map(|v| (v, ms_label(v))).collect(),
        series,
        width: size.0,
        height: size.1,
    }
}

fn latency_curves(o: &mut String, reports: &[&Report], labels: &[String]) {
    o.push_str("<h2>Latency by percentile</h2>\n");
    if let [r] = reports {
        let series: Vec<Series> = r
            .detail
            .histograms
            .iter()
            .enumerate()
            .map(|(i, (step, h))| Series {
                name: format!("{step} ({} samples)", h.len()),
                points: curve(h),
                dashed: false,
                colour: i,
            })
            .collect();
        if series.is_empty() {
            o.push_str("<p>No step completed: nothing to draw.</p>\n");
            return;
        }
        o.push_str(&percentile_chart("every step".into(), series, FULL).render());
        return;
    }
    // Several runs: one chart per step, one line per run.
    let mut steps: Vec<&'static str> = Vec::new();
    for r in reports {
        for (s, _) in &r.detail.histograms {
            if !steps.contains(s) {
                steps.push(s);
            }
        }
    }
    let size = if steps.len() == 1 { FULL } else { HALF };
    o.push_str("<div class=\"grid\">");
    for step in steps {
        let series = reports
            .iter()
            .zip(labels)
            .enumerate()
            .filter_map(|(i, (r, label))| {
                let h = r.detail.histogram(step)?;
                Some(Series {
                    name: label.clone(),
                    points: curve(h),
                    dashed: false,
                    colour: i,
                })
            })
            .collect();
        o.push_str(&percentile_chart(step.to_string(), series, size).render());
    }
    o.push_str("</div>\n");
}

fn step_tables(o: &mut String, reports: &[&Report], labels: &[String]) {
    o.push_str("<h2>Latency per step (ms)</h2>\n");
    if reports.iter().all(|r| r.steps.is_empty()) {
        o.push_str("<p>No step completed.</p>\n");
        return;
    }
    o.push_str("<table><thead><tr>");
    if reports.len() > 1 {
        o.push_str("<th>run</th>");
    }
    o.push_str("<th class=\"l\">step</th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead><tbody>\n");
    for (r, label) in reports.iter().zip(labels) {
        for (step, s) in r.ordered_steps() {
            o.push_str("<tr>");
            if reports.len() > 1 {
                let _ = write!(o, "<td>{}</td>", esc(label));
            }
            let _ = writeln!(
                o,
                "<td class=\"l\">{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
                esc(step),
                s.count,
                s.mean_ms,
                s.p50_ms,
                s.p90_ms,
                s.p95_ms,
                s.p99_ms,
                s.p999_ms,
                s.max_ms
            );
        }
    }
    o.push_str("</tbody></table>\n");
}

/// One interval of a run, as the charts over time draw it.
struct Point {
    /// The middle of the interval, seconds from the run's start.
    t: f64,
    /// Units completed per second.
    units: f64,
    /// Units failed per second.
    errors: f64,
    /// The key step's (p50, p99), ms, when it was recorded in the interval.
    latency: Option<(f64, f64)>,
}

/// The per-interval points of a run. The last interval counts over the
/// part of it the run covered; a sliver of under a quarter of an interval
/// (units in flight at the deadline) is left out, as its rate would
/// mislead.
fn interval_points(r: &Report) -> Vec<Point> {
    let Some(t) = &r.detail.timeline else {
        return Vec::new();
    };
    let w = t.width_s();
    let n = t.intervals().len();
    t.intervals()
        .iter()
        .enumerate()
        .filter_map(|(i, iv)| {
            let from = i as f64 * w;
            let covered = (r.elapsed_s - from).clamp(0.0, w);
            if covered < 0.25 * w && n > 1 {
                return None;
            }
            let covered = covered.max(1e-3);
            let lat = (!iv.latency.is_empty()).then(|| {
                (
                    iv.latency.value_at_quantile(0.5) as f64 / 1000.0,
                    iv.latency.value_at_quantile(0.99) as f64 / 1000.0,
                )
            });
            Some(Point {
                t: from + covered / 2.0,
                units: iv.units as f64 / covered,
                errors: iv.errors as f64 / covered,
                latency: lat,
            })
        })
        .collect()
}

fn over_time(o: &mut String, reports: &[&Report], labels: &[String]) {
    let Some(first) = reports.first() else { return };
    let width = first.detail.timeline.as_ref().map_or(1.0, |t| t.width_s());
    let _ = writeln!(
        o,
        "<h2>Over time</h2>\n<p class=\"note\">Per {}-second interval, from each run's start.</p>",
        chart::trim(width)
    );
    let points: Vec<_> = reports.iter().map(|r| interval_points(r)).collect();
    let max_t = reports.iter().map(|r| r.elapsed_s).fold(1.0, f64::max);
    let (x_max, x_ticks) = linear_axis(max_t);
    let x_ticks: Vec<(f64, String)> = x_ticks
        .into_iter()
        .map(|v| (v, format!("{} s", chart::trim(v))))
        .collect();
    let units = first.mode.units_name();
    // One run: short legend names; several: each named by its run.
    let name = |label: &str, what: &str| {
        if reports.len() == 1 {
            what.to_string()
        } else {
            format!("{label}: {what}")
        }
    };
    // Throughput and errors.
    let mut series = Vec::new();
    let mut top: f64 = 0.0;
    let mut any_errors = false;
    for (i, (p, label)) in points.iter().zip(labels).enumerate() {
        top = p.iter().map(|q| q.units.max(q.errors)).fold(top, f64::max);
        series.push(Series {
            name: name(label, &format!("{units} completed / s")),
            points: p.iter().map(|q| (q.t, q.units)).collect(),
            dashed: false,
            colour: i,
        });
        if p.iter().any(|q| q.errors > 0.0) {
            any_errors = true;
            series.push(Series {
                name: name(label, &format!("{units} failed / s")),
                points: p.iter().map(|q| (q.t, q.errors)).collect(),
                dashed: true,
                colour: i,
            });
        }
    }
    let (y_max, y_ticks) = linear_axis(top);
    let title = if any_errors {
        format!("throughput ({units} per second) and errors")
    } else {
        format!("throughput ({units} per second)")
    };
    o.push_str("<div class=\"grid\">");
    o.push_str(
        &Chart {
            title,
            x_label: "time".into(),
            y_label: format!("{units} / s"),
            x_min: 0.0,
            x_max,
            x_ticks: x_ticks.clone(),
            y: YScale::Linear { max: y_max },
            y_ticks: y_ticks.into_iter().map(|v| (v, chart::trim(v))).collect(),
            series,
            width: HALF.0,
            height: HALF.1,
        }
        .render(),
    );
    // p99 (and p50 dashed) of the key step.
    let mut series = Vec::new();
    for (i, (p, label)) in points.iter().zip(labels).enumerate() {
        let lat: Vec<(f64, (f64, f64))> = p
            .iter()
            .filter_map(|q| q.latency.map(|l| (q.t, l)))
            .collect();
        series.push(Series {
            name: name(label, "p99"),
            points: lat.iter().map(|(t, l)| (*t, l.1)).collect(),
            dashed: false,
            colour: i,
        });
        series.push(Series {
            name: name(label, "p50"),
            points: lat.iter().map(|(t, l)| (*t, l.0)).collect(),
            dashed: true,
            colour: i,
        });
    }
    let ys = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi, ticks) = log_axis(ys().fold(f64::INFINITY, f64::min), ys().fold(0.0, f64::max));
    if ys().next().is_some() {
        o.push_str(
            &Chart {
                title: format!("{} latency, p99 and p50", first.detail.key_step),
                x_label: "time".into(),
                y_label: "latency".into(),
                x_min: 0.0,
                x_max,
                x_ticks: x_ticks.clone(),
                y: YScale::Log { lo, hi },
                y_ticks: ticks.into_iter().map(|v| (v, ms_label(v))).collect(),
                series,
                width: HALF.0,
                height: HALF.1,
            }
            .render(),
        );
    }
    // CPU, when a server pid was given.
    if reports.iter().any(|r| r.cpu.server_pids > 0) {
        let mut series = Vec::new();
        let mut top: f64 = 0.0;
        for (i, (r, label)) in reports.iter().zip(labels).enumerate() {
            let server: Vec<(f64, f64)> = r
                .detail
                .cpu
                .iter()
                .filter_map(|s| Some((s.at_s, s.server_cores?)))
                .collect();
            let own: Vec<(f64, f64)> = r
                .detail
                .cpu
                .iter()
                .filter_map(|s| Some((s.at_s, s.loadgen_cores?)))
                .collect();
            top = server.iter().chain(&own).map(|p| p.1).fold(top, f64::max);
            series.push(Series {
                name: name(label, "server"),
                points: server,
                dashed: false,
                colour: i,
            });
            series.push(Series {
                name: name(label, "loadgen"),
                points: own,
                dashed: true,
                colour: i,
            });
        }
        let (y_max, y_ticks) = linear_axis(top);
        o.push_str(
            &Chart {
                title: "CPU (cores)".into(),
                x_label: "time".into(),
                y_label: "cores".into(),
                x_min: 0.0,
                x_max,
                x_ticks,
                y: YScale::Linear { max: y_max },
                y_ticks: y_ticks.into_iter().map(|v| (v, chart::trim(v))).collect(),
                series,
                width: HALF.0,
                height: HALF.1,
            }
            .render(),
        );
    }
    o.push_str("</div>\n");
}

fn errors(o: &mut String, reports: &[&Report], labels: &[String]) {
    o.push_str("<h2>Errors</h2>\n");
    let mut kinds: Vec<&String> = reports.iter().flat_map(|r| r.errors.keys()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        o.push_str("<p>No errors.</p>\n");
        return;
    }
    o.push_str("<table><thead><tr><th>kind</th>");
    for l in labels {
        let _ = write!(o, "<th>{}</th>", esc(l));
    }
    o.push_str("</tr></thead><tbody>\n");
    for k in kinds {
        let _ = write!(o, "<tr><td>{}</td>", esc(k));
        for r in reports {
            let _ = write!(o, "<td>{}</td>", r.errors.get(k).copied().unwrap_or(0));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n<p class=\"note\">Each failed unit counts once, under its first error.</p>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Timeline;
    use crate::{CleanupReport, CpuReport, Detail, MachineReport, Mode, Scenario, TokenMode};
    use hdrhistogram::Histogram;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// A report as `run` would make it, with a hostile error kind (a
    /// server's `code` is its own text).
    fn report(url: &str, errors: &[(&str, u64)]) -> Report {
        let mut h = Histogram::<u64>::new_with_max(60_000_000, 3).expect("bounds");
        for us in [800u64, 1200, 5000, 90_000] {
            h.record(us).expect("in range");
        }
        let steps = BTreeMap::from([("create", crate::stats::summarise(&h).expect("samples"))]);
        Report {
            url: url.into(),
            urls: vec![url.into()],
            mode: Mode::Create,
            scenario: Scenario::Jungle,
            token_mode: TokenMode::Auto,
            concurrency: 2,
            elapsed_s: 1.0,
            parties: 4,
            parties_per_s: 4.0,
            requests: 4,
            requests_per_s: 4.0,
            units: 4,
            units_per_s: 4.0,
            open_loop: None,
            ws_messages: 0,
            error_count: errors.iter().map(|e| e.1).sum(),
            errors: errors.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            steps,
            cpu: CpuReport {
                loadgen_s: None,
                loadgen_cores: None,
                server_s: None,
                server_pids: 0,
                server_cores: None,
            },
            machine: MachineReport {
                nproc: 2,
                load_before: None,
                load_after: None,
            },
            started_at: "2026-12-03T13:00:00Z".into(),
            server_version: Some("<b>1.0</b>".into()),
            interrupted: false,
            cleanup: CleanupReport::kept(4),
            detail: Arc::new(Detail {
                histograms: vec![("create", h)],
                timeline: Some(Timeline::new(Instant::now(), Duration::from_secs(1))),
                cpu: Vec::new(),
                key_step: "create",
            }),
        }
    }

    #[test]
    fn everything_from_a_run_or_a_server_is_escaped() {
        let r = report(
            "http://127.0.0.1:1",
            &[("http_500_<script>alert(1)</script>", 3)],
        );
        let html = html_report(&[&r]);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("http_500_&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;1.0&lt;/b&gt;"));
        assert!(html.contains("<svg") && html.contains(">create<"));
        assert!(html.contains("kept the 4 parties created (--keep)"));
    }

    #[test]
    fn runs_are_named_by_server_or_by_load() {
        let a = report("http://127.0.0.1:1", &[]);
        let b = report("http://127.0.0.1:2", &[]);
        assert_eq!(
            run_labels(&[&a, &b]),
            ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        );
        assert_eq!(run_labels(&[&a]), ["http://127.0.0.1:1 (closed loop)"]);
        assert_eq!(run_labels(&[&a, &a]), ["closed loop", "closed loop"]);
        // Two servers: one chart per step, a line (and a legend entry) each.
        let html = html_report(&[&a, &b]);
        assert_eq!(html.matches("<path d=").count(), 2, "{html}");
        assert!(html.contains(
            "<span><i style=\"border-top:3px solid #4e79a7\"></i>http://127.0.0.1:1</span>"
        ));
    }
}
