//! HdrHistogram's percentile distribution text (`.hgrm`), as Java's
//! `Histogram.outputPercentileDistribution(out, 5, 1000.0)` prints it and
//! <https://hdrhistogram.github.io/HdrHistogram/plotFiles.html> reads it:
//! a `Value Percentile TotalCount 1/(1-Percentile)` header, one row per
//! percentile step (five per halving of the distance to 100 %), the 100 %
//! row without the last column, then the `#[Mean …]`, `#[Max …]` and
//! `#[Buckets …]` footer. Values are in milliseconds (the histograms hold
//! microseconds).
//!
//! Only formats text; writing files is the caller's.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Percentile rows per halving of the distance to 100 % (HdrHistogram's
/// default).
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// The histograms hold microseconds; the file holds milliseconds.
pub const MICROS_PER_OUTPUT_UNIT: f64 = 1000.0;

/// The percentile distribution of `h` in HdrHistogram's text format, values
/// divided by [`MICROS_PER_OUTPUT_UNIT`]. An empty histogram gives the
/// header and a footer with a count of 0.
pub fn percentile_distribution(h: &Histogram<u64>) -> String {
    let digits = usize::from(h.sigfig());
    let ratio = MICROS_PER_OUTPUT_UNIT;
    let mut o = String::new();
    let _ = write!(
        o,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if !h.is_empty() {
        let mut total = 0u64;
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / ratio;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    o,
                    "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(o, "{value:>12.digits$} {q:>2.12} {total:>10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / ratio, h.stdev() / ratio, h.max() as f64 / ratio)
    };
    let _ = writeln!(
        o,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {stdev:>12.digits$}]"
    );
    let _ = writeln!(
        o,
        "#[Max     = {max:>12.digits$}, Total count    = {:>12}]",
        h.len()
    );
    let _ = writeln!(
        o,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_buckets(h.sigfig())
    );
    o
}

/// HdrHistogram's sub-bucket count for `sigfig` significant digits: the
/// power of two at or above `2 * 10^sigfig` (the crate keeps it private;
/// the footer prints it).
fn sub_buckets(sigfig: u8) -> u32 {
    (2 * 10u32.pow(u32::from(sigfig))).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of the distribution: value, percentile, total count.
    fn rows(text: &str) -> Vec<(f64, f64, u64)> {
        text.lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (
                    f[0].parse().expect("value"),
                    f[1].parse().expect("percentile"),
                    f[2].parse().expect("count"),
                )
            })
            .collect()
    }

    #[test]
    fn writes_hdrhistograms_percentile_format_in_milliseconds() {
        // 1..=1000 ms, once each.
        let mut h = Histogram::<u64>::new_with_max(60_000_000, 3).expect("bounds");
        for ms in 1..=1000u64 {
            h.record(ms * 1000).expect("in range");
        }
        let text = percentile_distribution(&h);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        let first = lines.next().expect("first row");
        assert_eq!(
            first,
            "       1.000 0.000000000000          1           1.00"
        );
        let rows = rows(&text);
        assert!(rows.len() > 20, "{}", rows.len());
        for w in rows.windows(2) {
            assert!(w[0].1 <= w[1].1, "percentiles never go down: {w:?}");
            assert!(w[0].0 <= w[1].0 && w[0].2 <= w[1].2, "{w:?}");
        }
        let last = rows.last().expect("last row");
        assert_eq!((last.1, last.2), (1.0, 1000));
        assert!((last.0 - 1000.0).abs() < 1.0, "{last:?}");
        // The 100 % row has no 1/(1-p) column; every other row has four.
        let body: Vec<&str> = text.lines().filter(|l| l.starts_with(' ')).collect();
        assert_eq!(body.last().map(|l| l.split_whitespace().count()), Some(3));
        assert!(body[..body.len() - 1]
            .iter()
            .all(|l| l.split_whitespace().count() == 4));
        // The median row: 50 % at about 500 ms, 2.00 in the last column.
        assert!(text.contains(" 0.500000000000 "), "{text}");
        let footer: Vec<&str> = text.lines().filter(|l| l.starts_with("#[")).collect();
        assert_eq!(footer.len(), 3);
        let mean: f64 = footer[0]["#[Mean    =".len()..]
            .split(',')
            .next()
            .and_then(|m| m.trim().parse().ok())
            .expect("mean");
        assert!((mean - 500.5).abs() < 1.0, "{}", footer[0]);
        assert!(
            footer[0].contains(", StdDeviation   =      288."),
            "{}",
            footer[0]
        );
        assert!(
            footer[1].ends_with("Total count    =         1000]"),
            "{}",
            footer[1]
        );
        assert!(
            footer[1].starts_with("#[Max     =     1000.447"),
            "{}",
            footer[1]
        );
        assert_eq!(
            footer[2],
            format!(
                "#[Buckets = {:>12}, SubBuckets     =         2048]",
                h.buckets()
            )
        );
    }

    #[test]
    fn an_empty_histogram_has_a_header_and_a_zero_count() {
        let h = Histogram::<u64>::new_with_max(60_000_000, 3).expect("bounds");
        let text = percentile_distribution(&h);
        assert!(text.starts_with("       Value"));
        assert!(text.contains("Total count    =            0]"), "{text}");
        assert_eq!(sub_buckets(2), 256);
        assert_eq!(sub_buckets(3), 2048);
    }
}
