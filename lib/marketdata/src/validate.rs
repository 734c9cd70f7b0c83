//! The closed-candle rules applied to every candle before it is stored (see
//! `docs/COLLECTOR.md`, "Closed-candle rules").

use scalp_core::{Candle, Exchange, Timeframe};

/// Tolerated clock difference between an exchange and us when deciding whether a candle that
/// the exchange calls closed has really ended: its end (`open_time + timeframe`) may be at
/// most this far in our future.
pub const CLOSE_SKEW_MS: i64 = 2_000;

/// Why a candle was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Reject {
    /// `open_time` is not a multiple of the timeframe.
    Misaligned,
    /// The candle has not ended yet by our clock: a forming candle is never stored as closed.
    Forming { ends_in_ms: i64 },
    /// Non-finite, non-positive or inconsistent OHLCV.
    Invalid(String),
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::Misaligned => f.write_str("open_time not aligned to the timeframe"),
            Reject::Forming { ends_in_ms } => write!(f, "forming candle (ends in {ends_in_ms} ms)"),
            Reject::Invalid(m) => write!(f, "invalid values: {m}"),
        }
    }
}

/// Checks one candle claimed closed by `exchange` at wall time `now_ms`.
///
/// Replay candles are historical and follow the replay clock, so the "has ended" rule applies
/// to live exchanges only; alignment and value checks apply to all.
pub fn check_closed(
    exchange: Exchange,
    tf: Timeframe,
    c: &Candle,
    now_ms: i64,
) -> Result<(), Reject> {
    if tf.align(c.open_time) != c.open_time {
        return Err(Reject::Misaligned);
    }
    if exchange != Exchange::Replay {
        let end = c.open_time + tf.ms();
        if end > now_ms + CLOSE_SKEW_MS {
            return Err(Reject::Forming {
                ends_in_ms: end - now_ms,
            });
        }
    }
    c.validate().map_err(Reject::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(t: i64) -> Candle {
        Candle {
            open_time: t,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: 3.0,
        }
    }

    #[test]
    fn forming_candles_are_refused_for_live_exchanges_only() {
        let tf = Timeframe::M1;
        let now = 1_700_000_030_000; // 30 s into a minute
        let open = tf.align(now);
        assert!(matches!(
            check_closed(Exchange::Binance, tf, &c(open), now),
            Err(Reject::Forming { .. })
        ));
        assert_eq!(
            check_closed(Exchange::Binance, tf, &c(open - 60_000), now),
            Ok(())
        );
        // Ends within the skew tolerance: accepted.
        assert_eq!(
            check_closed(Exchange::Bitget, tf, &c(open), open + 60_000 - 1_000),
            Ok(())
        );
        assert!(check_closed(Exchange::Bitget, tf, &c(open), open + 60_000 - 2_001).is_err());
        assert_eq!(check_closed(Exchange::Replay, tf, &c(open), now), Ok(()));
    }

    #[test]
    fn misaligned_and_invalid() {
        assert_eq!(
            check_closed(Exchange::Replay, Timeframe::H1, &c(1_000), 0),
            Err(Reject::Misaligned)
        );
        let mut bad = c(0);
        bad.high = 1.0;
        assert!(matches!(
            check_closed(Exchange::Replay, Timeframe::H1, &bad, 0),
            Err(Reject::Invalid(_))
        ));
    }
}
