//! A one-row sparkline of a history series, newest on the right, drawn with block
//! characters (no widget state, so any series can be drawn in any width).

use crate::monitor::Series;

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` points of `series` scaled to `max` (the series' own maximum when
/// `None`); a gap in the series is a space.
pub fn sparkline(series: &Series, width: usize, max: Option<f64>) -> String {
    let max = max
        .or_else(|| series.max())
        .unwrap_or(1.0)
        .max(f64::EPSILON);
    let skip = series.len().saturating_sub(width);
    let mut out: String = " ".repeat(width.saturating_sub(series.len()));
    for v in series.iter().skip(skip) {
        out.push(match v {
            None => ' ',
            Some(v) => {
                let i = ((v / max).clamp(0.0, 1.0) * 7.0).round() as usize;
                BLOCKS[i.min(7)]
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_points_on_the_right_with_gaps() {
        let mut s = Series::new(10);
        for v in [Some(0.0), Some(50.0), None, Some(100.0)] {
            s.push(v);
        }
        assert_eq!(sparkline(&s, 6, Some(100.0)), "  ▁▅ █");
        assert_eq!(sparkline(&s, 2, Some(100.0)), " █");
    }
}
