use scalp_core::Exchange;

/// Errors of the REST clients. Every variant names the exchange and the endpoint; parse errors
/// name the field and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{exchange} {endpoint}: HTTP {status}: {body}")]
    Http {
        exchange: Exchange,
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{exchange} {endpoint}: API error code {code}: {msg}")]
    Api {
        exchange: Exchange,
        endpoint: String,
        code: String,
        msg: String,
    },
    #[error("{exchange} {endpoint}: field `{field}`: cannot parse `{value}`: {why}")]
    Parse {
        exchange: Exchange,
        endpoint: String,
        field: String,
        value: String,
        why: String,
    },
    #[error("{exchange} {endpoint}: invalid candle at open time {open_time}: {msg}")]
    InvalidCandle {
        exchange: Exchange,
        endpoint: String,
        open_time: i64,
        msg: String,
    },
    #[error(
        "{exchange}: requests paused until {until} (HTTP {status} Retry-After), longer than the {max_wait_s} s this call may wait"
    )]
    Paused {
        exchange: Exchange,
        status: u16,
        until: String,
        max_wait_s: u64,
    },
    #[error("{exchange} {endpoint}: gave up after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        exchange: Exchange,
        endpoint: String,
        attempts: u32,
        last: String,
    },
    /// The host could not be reached at all (DNS lookup or TCP/TLS connect failed): retried once
    /// only, since a machine offline stays offline for longer than any backoff.
    #[error(
        "{exchange} {endpoint}: cannot reach {host}: {what} ({detail}); gave up after {attempts} attempts: check the network"
    )]
    Unreachable {
        exchange: Exchange,
        endpoint: String,
        host: String,
        /// `DNS lookup failed` or `connection failed`.
        what: &'static str,
        detail: String,
        attempts: u32,
    },
    #[error("{exchange}: invalid request: {msg}")]
    InvalidRequest { exchange: Exchange, msg: String },
    #[error("{exchange}: cannot build the HTTP client: {msg}")]
    Client { exchange: Exchange, msg: String },
}

impl ExchangeError {
    pub(crate) fn parse(
        exchange: Exchange,
        endpoint: &str,
        field: impl Into<String>,
        value: impl std::fmt::Display,
        why: impl Into<String>,
    ) -> Self {
        ExchangeError::Parse {
            exchange,
            endpoint: endpoint.to_string(),
            field: field.into(),
            value: crate::truncate(&value.to_string(), 120),
            why: why.into(),
        }
    }
}
