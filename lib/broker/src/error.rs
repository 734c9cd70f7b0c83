//! The broker's errors. Every variant names the endpoint; none ever carries a header, the
//! secret or the passphrase (the exchange's `msg` is kept, it never echoes them).

/// Errors of the Bitget private client.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("bitget credentials: {0}")]
    Credentials(String),
    /// 40001–40018, 40037, 30005, …: key, signature, passphrase, permission or IP refused.
    #[error(
        "bitget {endpoint}: authentication refused (code {code}: {msg}): check the API key, secret, passphrase, its trade permission and IP whitelist"
    )]
    Auth {
        endpoint: String,
        code: String,
        msg: String,
    },
    /// 43012, 40762, 25202, 25203.
    #[error("bitget {endpoint}: insufficient balance or margin (code {code}: {msg})")]
    InsufficientBalance {
        endpoint: String,
        code: String,
        msg: String,
    },
    /// 40786, 25212, or a message naming the clientOid as duplicate.
    #[error("bitget {endpoint}: duplicate clientOid (code {code}: {msg})")]
    DuplicateClientOid {
        endpoint: String,
        code: String,
        msg: String,
    },
    /// 40008 again right after re-syncing the clock.
    #[error(
        "bitget {endpoint}: request timestamp expired (code {code}) even after re-syncing the clock from the server time: is the local clock jumping?"
    )]
    TimestampExpired { endpoint: String, code: String },
    /// HTTP 429 (or 25004/30006) on every attempt.
    #[error("bitget {endpoint}: rate limited (HTTP 429) on all {attempts} attempts")]
    RateLimited { endpoint: String, attempts: u32 },
    /// 43001, 40768, 40109, 25204, 43025, 43020.
    #[error("bitget {endpoint}: order not found (code {code}: {msg})")]
    OrderNotFound {
        endpoint: String,
        code: String,
        msg: String,
    },
    /// 22002, 25227, 40891, 25601.
    #[error("bitget {endpoint}: no position (code {code}: {msg})")]
    NoPosition {
        endpoint: String,
        code: String,
        msg: String,
    },
    /// 40084, 40085, 25245: the key belongs to the other account mode.
    #[error("bitget {endpoint}: wrong account mode (code {code}: {msg})")]
    WrongAccountMode {
        endpoint: String,
        code: String,
        msg: String,
    },
    /// 40774, 40773, 40920, 25236, 25237: one-way/hedge mismatch or a mode switch refused.
    #[error("bitget {endpoint}: position mode conflict (code {code}: {msg})")]
    PositionMode {
        endpoint: String,
        code: String,
        msg: String,
    },
    /// Any other business error (precision, minimums, parameters, leverage, …).
    #[error("bitget {endpoint}: rejected (code {code}: {msg})")]
    Rejected {
        endpoint: String,
        code: String,
        msg: String,
    },
    /// 5xx, timeouts, dropped connections, transient codes: `maybe_landed` when the request
    /// may have been applied (a POST whose answer was lost).
    #[error("bitget {endpoint}: no usable answer after {attempts} attempt(s): {last}")]
    Unavailable {
        endpoint: String,
        attempts: u32,
        last: String,
        maybe_landed: bool,
    },
    #[error("bitget {endpoint}: field `{field}`: cannot parse `{value}`: {why}")]
    Parse {
        endpoint: String,
        field: String,
        value: String,
        why: String,
    },
    /// Refused before sending: rounding, minimum size or notional, bad input.
    #[error("order for {symbol}: {why}")]
    InvalidOrder { symbol: String, why: String },
    #[error(
        "{symbol}: refusing to change leverage from {current}x to {wanted}x while a position of {size} is open: close the position first or keep {current}x"
    )]
    LeverageUnderOpenPosition {
        symbol: String,
        current: String,
        wanted: u32,
        size: String,
    },
    #[error("bitget: cannot tell the account mode: {0}")]
    AccountMode(String),
    #[error("bitget private WebSocket: {0}")]
    Ws(String),
    #[error("bitget: {0}")]
    Client(String),
}

impl BrokerError {
    /// Whether the request may have been applied although no answer arrived.
    pub fn maybe_landed(&self) -> bool {
        matches!(
            self,
            BrokerError::Unavailable {
                maybe_landed: true,
                ..
            }
        )
    }

    /// The Bitget error code, when the exchange gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            BrokerError::Auth { code, .. }
            | BrokerError::InsufficientBalance { code, .. }
            | BrokerError::DuplicateClientOid { code, .. }
            | BrokerError::TimestampExpired { code, .. }
            | BrokerError::OrderNotFound { code, .. }
            | BrokerError::NoPosition { code, .. }
            | BrokerError::WrongAccountMode { code, .. }
            | BrokerError::PositionMode { code, .. }
            | BrokerError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Maps an exchange error body (`code`, `msg`) to a variant (exchanges-private.md §1.8, §6.8).
    pub fn from_code(endpoint: &str, code: &str, msg: &str) -> BrokerError {
        let (endpoint, c, m) = (endpoint.to_string(), code.to_string(), msg.to_string());
        match code {
            "40001" | "40002" | "40003" | "40005" | "40006" | "40009" | "40011" | "40012"
            | "40014" | "40018" | "40037" | "30005" | "30011" | "30012" | "30013" | "30015" => {
                BrokerError::Auth {
                    endpoint,
                    code: c,
                    msg: m,
                }
            }
            "43012" | "40762" | "25202" | "25203" => BrokerError::InsufficientBalance {
                endpoint,
                code: c,
                msg: m,
            },
            "40786" | "25212" => BrokerError::DuplicateClientOid {
                endpoint,
                code: c,
                msg: m,
            },
            "40008" | "30014" => BrokerError::TimestampExpired { endpoint, code: c },
            "43001" | "40768" | "40109" | "25204" | "43025" | "43020" => {
                BrokerError::OrderNotFound {
                    endpoint,
                    code: c,
                    msg: m,
                }
            }
            "22002" | "25227" | "40891" | "25601" => BrokerError::NoPosition {
                endpoint,
                code: c,
                msg: m,
            },
            "40084" | "40085" | "25245" => BrokerError::WrongAccountMode {
                endpoint,
                code: c,
                msg: m,
            },
            "40774" | "40773" | "40920" | "25236" | "25237" => BrokerError::PositionMode {
                endpoint,
                code: c,
                msg: m,
            },
            _ if msg.to_ascii_lowercase().contains("duplicate")
                && msg.to_ascii_lowercase().contains("clientoid") =>
            {
                BrokerError::DuplicateClientOid {
                    endpoint,
                    code: c,
                    msg: m,
                }
            }
            _ => BrokerError::Rejected {
                endpoint,
                code: c,
                msg: m,
            },
        }
    }
}

/// Codes Bitget documents as transient ("users can retry"), handled like a 5xx.
pub(crate) fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "40010" | "40725" | "45001" | "40015" | "25000" | "25001" | "25003"
    )
}

/// Codes that mean "slow down" although the HTTP status may be 400.
pub(crate) fn is_rate_code(code: &str) -> bool {
    matches!(code, "429" | "25004")
}
