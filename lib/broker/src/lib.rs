//! Bitget USDT-M futures private trading: the foundation of the live executor (issue 16).
//!
//! * [`Credentials`] from `SCALP_BITGET_API_KEY_<STRATEGY>` (falling back to the unsuffixed
//!   variables), never printed; [`sign`] per Bitget's signature rule.
//! * [`Broker`]: one async trait, two dialects: [`ClassicV2`] (`/api/v2/mix/*`) and [`UtaV3`]
//!   (`/api/v3/*`); [`connect`] syncs the clock and probes which one the key's account speaks.
//! * Exactly once: deterministic clientOids ([`client_oid`]); a duplicate clientOid or a lost
//!   answer is resolved by fetching the order, never by placing it again.
//! * [`ContractSpec::round_order`]: exact rounding to lot step and tick ([`Dec`]), minimum size
//!   and notional refused before sending.
//! * Per-endpoint rate budgets, 429/5xx/timeouts retried with bounded backoff and jitter,
//!   `40008` (timestamp expired) → clock re-sync and one retry.
//! * [`ws::PrivateStream`]: login, ping, subscribe, resubscribe after reconnect, typed events.
//!
//! Wire details and the rules: docs/BROKER.md.

mod broker;
pub mod creds;
mod decimal;
mod error;
pub mod model;
pub mod oid;
mod rest;
pub mod sign;
mod spec;
mod v2;
mod v3;
pub mod ws;

pub use broker::{Bitget, Broker, ClassicV2, UtaV3, connect};
pub use creds::{CredentialSource, Credentials};
pub use decimal::Dec;
pub use error::BrokerError;
pub use model::*;
pub use oid::{OrderRole, client_oid};
pub use rest::{BrokerConfig, ENDPOINT_LIMITS, encode_query};
pub use spec::{ContractSpec, PriceRounding, Rounded};
