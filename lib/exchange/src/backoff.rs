//! Exponential backoff with full jitter, bounded below and above.

use rand::Rng;
use std::time::Duration;

/// Delay before retry number `attempt` (0-based): a uniformly random value in
/// `[min_ms, min(max_ms, min_ms * 2^attempt)]` ("full jitter" over the exponential ceiling, but
/// never below `min_ms`, so a flapping server is never hammered).
pub fn full_jitter(attempt: u32, min_ms: u64, max_ms: u64) -> Duration {
    let min_ms = min_ms.max(1);
    let max_ms = max_ms.max(min_ms);
    let ceiling = min_ms.saturating_mul(1u64 << attempt.min(30)).min(max_ms);
    let ms = if ceiling <= min_ms {
        min_ms
    } else {
        rand::rng().random_range(min_ms..=ceiling)
    };
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_growing() {
        for attempt in 0..40 {
            for _ in 0..50 {
                let d = full_jitter(attempt, 100, 5_000).as_millis() as u64;
                assert!((100..=5_000).contains(&d), "attempt {attempt}: {d}");
                let ceiling = (100u64 << attempt.min(30)).min(5_000);
                assert!(d <= ceiling, "attempt {attempt}: {d} > {ceiling}");
            }
        }
        assert_eq!(full_jitter(0, 100, 5_000).as_millis(), 100);
        // degenerate bounds do not panic
        assert_eq!(full_jitter(3, 0, 0).as_millis(), 1);
        assert_eq!(full_jitter(3, 500, 10).as_millis(), 500);
    }
}
