//! Deterministic clientOids (docs/BROKER.md "Exactly once").
//!
//! `sr-<12 hex of SHA-256(strategy NUL asset)>-<candle open time in s, base 36>-<role><n base 36>`,
//! at most 32 characters from `[a-z0-9-]`: valid for v2 (≤ 50 of `[0-9a-zA-Z-+_#]`) and v3
//! (`^[\.A-Z\:/a-z0-9_-]{1,32}$`). The same inputs always give the same id, so an order replayed
//! after a crash carries the id of the first attempt and the exchange (or our lookup) sees it is
//! the same order.

use sha2::{Digest, Sha256};

/// What an order is for, with its sequence number within the candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRole {
    /// A resting grid level (`L`).
    Level(u32),
    /// An entry (`E`) with its entry sequence number.
    Entry(u32),
    /// A closing order (`C`).
    Close(u32),
    /// The position stop-loss plan order (`S`).
    StopLoss(u32),
    /// The position take-profit plan order or reduce-only limit (`T`).
    TakeProfit(u32),
}

/// The longest clientOid Bitget accepts on both APIs (v3's limit).
pub const MAX_CLIENT_OID_LEN: usize = 32;

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}

/// The clientOid of one order. `candle_ms` is the open time of the candle that decided it.
pub fn client_oid(strategy: &str, asset: &str, role: OrderRole, candle_ms: i64) -> String {
    let mut h = Sha256::new();
    h.update(strategy.as_bytes());
    h.update([0u8]);
    h.update(asset.as_bytes());
    let digest = h.finalize();
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let (tag, n) = match role {
        OrderRole::Level(n) => ('l', n),
        OrderRole::Entry(n) => ('e', n),
        OrderRole::Close(n) => ('c', n),
        OrderRole::StopLoss(n) => ('s', n),
        OrderRole::TakeProfit(n) => ('t', n),
    };
    // seconds, at most 7 base-36 digits (until the year 4453)
    let t = base36(((candle_ms.max(0) / 1000) as u64).min(36u64.pow(7) - 1));
    let id = format!("sr-{hex}-{t}-{tag}{}", base36(n as u64));
    debug_assert!(is_valid_client_oid(&id), "{id}");
    id
}

/// Whether a clientOid fits both APIs: 1–32 characters of `[A-Za-z0-9._:/-]` (no `#`, no `+`).
pub fn is_valid_client_oid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_OID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_distinct_and_short() {
        let a = client_oid(
            "grid_atr",
            "BTCUSDT",
            OrderRole::Level(3),
            1_735_689_600_000,
        );
        assert_eq!(
            a,
            client_oid(
                "grid_atr",
                "BTCUSDT",
                OrderRole::Level(3),
                1_735_689_600_000
            )
        );
        let others = [
            client_oid(
                "grid_atr",
                "BTCUSDT",
                OrderRole::Level(4),
                1_735_689_600_000,
            ),
            client_oid(
                "grid_atr",
                "BTCUSDT",
                OrderRole::Entry(3),
                1_735_689_600_000,
            ),
            client_oid(
                "grid_atr",
                "ETHUSDT",
                OrderRole::Level(3),
                1_735_689_600_000,
            ),
            client_oid(
                "sma_cross",
                "BTCUSDT",
                OrderRole::Level(3),
                1_735_689_600_000,
            ),
            client_oid(
                "grid_atr",
                "BTCUSDT",
                OrderRole::Level(3),
                1_735_693_200_000,
            ),
        ];
        for o in &others {
            assert_ne!(&a, o);
        }
        // the worst case still fits: far-future candle, largest sequence number
        let w = client_oid(
            "a-very-long-strategy-name-indeed",
            "1000SHIBUSDT",
            OrderRole::TakeProfit(u32::MAX),
            i64::MAX,
        );
        assert!(
            w.len() <= 32 && is_valid_client_oid(&w),
            "{w} ({})",
            w.len()
        );
        assert!(is_valid_client_oid(&a) && !a.contains('#') && !a.contains('+'));
        assert!(!is_valid_client_oid("BITGET#1") && !is_valid_client_oid(&"x".repeat(33)));
    }
}
