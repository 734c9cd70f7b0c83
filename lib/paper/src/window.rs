//! The rolling high a kill switch measures its drawdown from: a monotonic deque of
//! `(time, value)`, oldest first, each value higher than every later one. Used by the
//! simulator's global rule and by the executor's session and global rules.

use std::collections::VecDeque;

/// Pushes `(t, v)` (`t` not before the last push), drops what left the window `(t − window, t]`
/// or is not above `v`, and returns the window's high (`v` included).
pub fn window_high(highs: &mut VecDeque<(i64, f64)>, t: i64, window: i64, v: f64) -> f64 {
    while highs.back().is_some_and(|(_, x)| *x <= v) {
        highs.pop_back();
    }
    highs.push_back((t, v));
    while highs.front().is_some_and(|(s, _)| *s < t - window) {
        highs.pop_front();
    }
    highs.front().map_or(v, |(_, x)| *x)
}

/// How far `v` is below `high`, in percent (0 when `high` is not positive).
pub fn drawdown_pct(high: f64, v: f64) -> f64 {
    if high > 0.0 {
        (1.0 - v / high) * 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_highest_of_the_window_only() {
        let mut h = VecDeque::new();
        assert_eq!(window_high(&mut h, 0, 60, 100.0), 100.0);
        assert_eq!(window_high(&mut h, 10, 60, 90.0), 100.0);
        assert_eq!(window_high(&mut h, 30, 60, 95.0), 100.0);
        // t 61: the high of t 0 left the window, 95 (t 30) is the high
        assert_eq!(window_high(&mut h, 61, 60, 80.0), 95.0);
        assert_eq!(window_high(&mut h, 62, 60, 120.0), 120.0);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn drawdown_in_percent_of_the_high() {
        assert!((drawdown_pct(200.0, 150.0) - 25.0).abs() < 1e-12);
        assert_eq!(drawdown_pct(0.0, 10.0), 0.0);
        assert!(drawdown_pct(100.0, 120.0) < 0.0);
    }
}
