//! The sync payloads: parsing (strict JSON), validation (every problem reported at once) and
//! the normalised rows ([`OptimizationResult`], [`PortfolioBacktest`]) stored on both sides.
//!
//! Rules (docs/SYNC.md):
//! - The body is parsed strictly: malformed JSON, bare `NaN`/`Infinity` tokens and duplicate
//!   keys (at any depth) are a [`PayloadError::Malformed`] (HTTP 400) naming line and column.
//! - A well-formed body is validated field by field; every missing required field and every
//!   wrongly typed field is reported in one [`PayloadError::Invalid`] (HTTP 422).
//! - Optional numeric fields accept the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (also
//!   `"inf"`, `"-inf"`, any case) and store NULL. Required numbers must be finite.
//! - JSON fields (`best_params`, `wfo_windows`, ...) accept an object/array/scalar or a string.
//!   A string that itself parses as JSON is stored as that JSON; any other string is stored as a
//!   JSON string literal. Everything is stored as compact JSON text.
//! - Unknown fields are ignored (forward compatibility); `id`, `source` and `is_latest` in a
//!   payload are ignored: the receiver assigns them.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value, json};
use std::fmt;

/// Longest accepted identifier (`strategy_name`, `asset`, `timeframe`, `grade`, `created_at`).
pub const MAX_NAME_LEN: usize = 128;

/// Required fields of an optimization result, in the order reported.
pub const RESULT_REQUIRED: [&str; 8] = [
    "strategy_name",
    "asset",
    "timeframe",
    "created_at",
    "grade",
    "total_score",
    "n_windows",
    "best_params",
];

/// Required fields of a portfolio backtest.
pub const PORTFOLIO_REQUIRED: [&str; 7] = [
    "strategy_name",
    "assets",
    "timeframe",
    "created_at",
    "initial_capital",
    "total_return",
    "n_trades",
];

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub error: String,
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadError {
    /// Not parseable JSON (HTTP 400). The message carries serde_json's line and column.
    Malformed(String),
    /// Well-formed JSON with missing or wrongly typed fields (HTTP 422).
    Invalid(Vec<FieldError>),
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Malformed(m) => write!(f, "malformed JSON: {m}"),
            PayloadError::Invalid(errs) => f.write_str(&summarize(errs)),
        }
    }
}

impl std::error::Error for PayloadError {}

/// One-line summary of field errors: `missing required field(s): a, b; total_score: expected ...`.
pub fn summarize(errs: &[FieldError]) -> String {
    let missing: Vec<&str> = errs
        .iter()
        .filter(|e| e.error == MISSING)
        .map(|e| e.field.as_str())
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing required field(s): {}", missing.join(", ")));
    }
    for e in errs.iter().filter(|e| e.error != MISSING) {
        parts.push(format!("{}: {}", e.field, e.error));
    }
    format!("invalid payload: {}", parts.join("; "))
}

const MISSING: &str = "missing";
const CREATED_AT_EXPECTED: &str =
    "expected an ISO-8601 date-time (2026-11-21T20:06:15Z, 2026-11-21T20:06:15.123456)";

// ---------------------------------------------------------------------------------------------
// Strict JSON

/// Parses JSON like `serde_json::from_slice::<Value>` but refuses duplicate object keys at any
/// depth (an ambiguous document). Keeps serde_json's recursion limit (128) and its bare-NaN
/// refusal; errors carry line and column.
pub fn parse_json_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictSeed.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        StrictSeed.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{}`",
                    truncate(&k, 64)
                )));
            }
            let v = map.next_value_seed(StrictSeed)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

use scalp_core::types::truncate;

// ---------------------------------------------------------------------------------------------
// created_at

/// Parses an ISO-8601 date-time as sent by `optimize` (or the original Python tool) and returns
/// nanoseconds since the Unix epoch, used to order runs (never stored).
///
/// Accepted: RFC 3339 with an offset (`2026-11-21T20:06:15Z`, `...15.123456+01:00`) and the naive
/// form without offset (`2026-11-21T20:06:15`, `...15.123456`), which is taken as UTC; a space
/// may replace the `T`.
pub fn parse_created_at(s: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let mut owned = s.to_string();
    if owned.len() > 10 && owned.as_bytes()[10] == b' ' {
        owned.replace_range(10..11, "T");
    }
    if let Ok(t) = time::OffsetDateTime::parse(&owned, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let naive = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(&owned, naive)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp_nanos())
}

/// The one spelling of a `created_at` that is stored: UTC, nanoseconds, `Z` —
/// `2026-11-21T20:06:15.000000000Z`. Fixed width, so that SQL's text ordering of the column
/// (`ORDER BY created_at`, the unique key) agrees with the instants [`parse_created_at`] reads;
/// lossless for every accepted input. `None` when `s` is not an accepted date-time.
pub fn canonical_created_at(s: &str) -> Option<String> {
    parse_created_at(s).map(format_created_at)
}

/// [`canonical_created_at`] of an instant in nanoseconds since the Unix epoch.
pub fn format_created_at(ns: i128) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ns)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    );
    t.format(&f).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Field reader

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_nonfinite_word(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "nan" | "-nan" | "+nan" | "infinity" | "-infinity" | "+infinity" | "inf" | "-inf" | "+inf"
    )
}

/// Expected shape of a JSON field.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Any,
    Object,
    Array,
}

struct Reader<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    fn err(&mut self, field: &str, msg: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            error: msg.into(),
        });
    }

    /// The value, `None` when absent or null.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn name(&mut self, name: &str, required: bool) -> Option<String> {
        match self.get(name) {
            None => {
                if required {
                    self.err(name, MISSING);
                }
                None
            }
            Some(Value::String(s)) => {
                if s.trim().is_empty() {
                    if required {
                        self.err(name, "must not be empty");
                    }
                    return None;
                }
                if let Some(e) = name_problem(s) {
                    self.err(name, e);
                    return None;
                }
                Some(s.clone())
            }
            Some(v) => {
                self.err(name, format!("expected a string, got {}", type_name(v)));
                None
            }
        }
    }

    fn req_name(&mut self, name: &str) -> String {
        self.name(name, true).unwrap_or_default()
    }

    fn created_at(&mut self) -> String {
        let Some(s) = self.name("created_at", true) else {
            return String::new();
        };
        match canonical_created_at(&s) {
            Some(c) => c,
            None => {
                self.err("created_at", CREATED_AT_EXPECTED);
                s
            }
        }
    }

    fn number(&mut self, name: &str, required: bool) -> Option<f64> {
        match self.get(name) {
            None => {
                if required {
                    self.err(name, MISSING);
                }
                None
            }
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if f.is_finite() => Some(f),
                _ => {
                    self.err(name, "number out of range");
                    None
                }
            },
            Some(Value::String(s)) if is_nonfinite_word(s) => {
                if required {
                    self.err(
                        name,
                        format!("must be a finite number (got \"{}\")", truncate(s, 16)),
                    );
                }
                None
            }
            Some(v) => {
                self.err(name, format!("expected a number, got {}", type_name(v)));
                None
            }
        }
    }

    fn req_number(&mut self, name: &str) -> f64 {
        self.number(name, true).unwrap_or(0.0)
    }

    fn count(&mut self, name: &str, required: bool) -> Option<i64> {
        match self.get(name) {
            None => {
                if required {
                    self.err(name, MISSING);
                }
                None
            }
            Some(Value::Number(n)) => {
                let i = n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                });
                match i {
                    Some(i) if i >= 0 => Some(i),
                    Some(_) => {
                        self.err(name, "must be >= 0");
                        None
                    }
                    None => {
                        self.err(name, "expected an integer, got a fractional or huge number");
                        None
                    }
                }
            }
            Some(v) => {
                self.err(name, format!("expected an integer, got {}", type_name(v)));
                None
            }
        }
    }

    fn req_count(&mut self, name: &str) -> i64 {
        self.count(name, true).unwrap_or(0)
    }

    fn flag(&mut self, name: &str) -> bool {
        match self.get(name) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) if n.as_u64() == Some(0) => false,
            Some(Value::Number(n)) if n.as_u64() == Some(1) => true,
            Some(v) => {
                self.err(
                    name,
                    format!("expected a boolean (or 0/1), got {}", type_name(v)),
                );
                false
            }
        }
    }

    fn json(&mut self, name: &str, required: bool, shape: Shape) -> Option<String> {
        let v = match self.get(name) {
            None => {
                if required {
                    self.err(name, MISSING);
                }
                return None;
            }
            Some(v) => v,
        };
        let inner;
        let value: &Value = match v {
            Value::String(s) => match parse_json_strict(s.as_bytes()) {
                Ok(parsed) => {
                    inner = parsed;
                    &inner
                }
                Err(e) if shape != Shape::Any => {
                    self.err(name, format!("string is not valid JSON: {e}"));
                    return None;
                }
                // A plain-text string: stored as a JSON string literal.
                Err(_) => v,
            },
            other => other,
        };
        let ok = match shape {
            Shape::Any => true,
            Shape::Object => value.is_object(),
            Shape::Array => value.is_array(),
        };
        if !ok {
            let want = if shape == Shape::Object {
                "a JSON object"
            } else {
                "a JSON array"
            };
            self.err(
                name,
                format!(
                    "expected {want} (or a string containing one), got {}",
                    type_name(value)
                ),
            );
            return None;
        }
        Some(value.to_string())
    }
}

fn object(v: &Value) -> Result<&Map<String, Value>, PayloadError> {
    v.as_object().ok_or_else(|| {
        PayloadError::Invalid(vec![FieldError {
            field: "(body)".into(),
            error: format!("expected a JSON object, got {}", type_name(v)),
        }])
    })
}

fn grade(r: &mut Reader) -> String {
    let g = r.req_name("grade");
    if !g.is_empty() && !is_grade(&g) {
        r.err("grade", GRADE_EXPECTED);
    }
    g
}

const GRADE_EXPECTED: &str = "expected one of A, B, C, D, E, F";

fn is_grade(g: &str) -> bool {
    matches!(g, "A" | "B" | "C" | "D" | "E" | "F")
}

/// What is wrong with a non-empty name field, if anything.
fn name_problem(s: &str) -> Option<String> {
    if s.chars().count() > MAX_NAME_LEN {
        return Some(format!("too long (max {MAX_NAME_LEN} characters)"));
    }
    if s.chars().any(char::is_control) {
        return Some("must not contain control characters".into());
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Optimization result

/// One row of `optimization_results`, validated and normalised (JSON fields as compact text).
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizationResult {
    pub strategy_name: String,
    pub asset: String,
    pub timeframe: String,
    /// The stored spelling ([`canonical_created_at`]: UTC, nanoseconds, `Z`) of the ISO-8601
    /// date-time sent; ordered by [`parse_created_at`].
    pub created_at: String,
    pub duration_seconds: Option<f64>,
    pub grade: String,
    pub total_score: f64,
    pub oos_sharpe: Option<f64>,
    pub consistency: Option<f64>,
    pub oos_is_ratio: Option<f64>,
    pub dsr: Option<f64>,
    pub param_stability: Option<f64>,
    pub monte_carlo_pvalue: Option<f64>,
    pub mc_underpowered: bool,
    pub n_windows: i64,
    pub n_distinct_combos: Option<i64>,
    /// JSON object text.
    pub best_params: String,
    pub wfo_windows: Option<String>,
    pub monte_carlo_summary: Option<String>,
    pub validation_summary: Option<String>,
    pub warnings: Option<String>,
    pub regime_analysis: Option<String>,
}

impl OptimizationResult {
    /// Parses and validates a raw HTTP body.
    pub fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let v = parse_json_strict(body).map_err(|e| PayloadError::Malformed(e.to_string()))?;
        Self::from_payload(&v)
    }

    /// Validates a payload; every problem is reported.
    pub fn from_payload(v: &Value) -> Result<Self, PayloadError> {
        let mut r = Reader {
            obj: object(v)?,
            errors: Vec::new(),
        };
        let out = OptimizationResult {
            strategy_name: r.req_name("strategy_name"),
            asset: r.req_name("asset"),
            timeframe: r.req_name("timeframe"),
            created_at: r.created_at(),
            duration_seconds: r.number("duration_seconds", false),
            grade: grade(&mut r),
            total_score: r.req_number("total_score"),
            oos_sharpe: r.number("oos_sharpe", false),
            consistency: r.number("consistency", false),
            oos_is_ratio: r.number("oos_is_ratio", false),
            dsr: r.number("dsr", false),
            param_stability: r.number("param_stability", false),
            monte_carlo_pvalue: r.number("monte_carlo_pvalue", false),
            mc_underpowered: r.flag("mc_underpowered"),
            n_windows: r.req_count("n_windows"),
            n_distinct_combos: r.count("n_distinct_combos", false),
            best_params: r
                .json("best_params", true, Shape::Object)
                .unwrap_or_default(),
            wfo_windows: r.json("wfo_windows", false, Shape::Any),
            monte_carlo_summary: r.json("monte_carlo_summary", false, Shape::Any),
            validation_summary: r.json("validation_summary", false, Shape::Any),
            warnings: r.json("warnings", false, Shape::Any),
            regime_analysis: r.json("regime_analysis", false, Shape::Any),
        };
        if r.errors.is_empty() {
            Ok(out)
        } else {
            Err(PayloadError::Invalid(sort_errors(
                r.errors,
                &RESULT_REQUIRED,
            )))
        }
    }

    /// Checks a row built in code (`optimize run` builds the struct, not a JSON map) by the
    /// rules [`from_payload`](Self::from_payload) applies to a pushed body: names, the stored
    /// `created_at` spelling ([`canonical_created_at`]), the grade letter, finite numbers,
    /// counts ≥ 0, JSON text columns that parse (`best_params` an object). Every problem is
    /// reported.
    pub fn validate(&self) -> Result<(), PayloadError> {
        let mut errors = Vec::new();
        let mut err = |field: &str, e: String| {
            errors.push(FieldError {
                field: field.to_string(),
                error: e,
            })
        };
        for (field, v) in [
            ("strategy_name", &self.strategy_name),
            ("asset", &self.asset),
            ("timeframe", &self.timeframe),
            ("grade", &self.grade),
        ] {
            if v.trim().is_empty() {
                err(field, MISSING.into());
            } else if let Some(e) = name_problem(v) {
                err(field, e);
            }
        }
        if !self.grade.is_empty() && !is_grade(&self.grade) {
            err("grade", GRADE_EXPECTED.into());
        }
        match canonical_created_at(&self.created_at) {
            None => err("created_at", CREATED_AT_EXPECTED.into()),
            Some(c) if c != self.created_at => err(
                "created_at",
                format!("not in the stored spelling (expected {c})"),
            ),
            Some(_) => {}
        }
        for (field, v) in [
            ("total_score", Some(self.total_score)),
            ("duration_seconds", self.duration_seconds),
            ("oos_sharpe", self.oos_sharpe),
            ("consistency", self.consistency),
            ("oos_is_ratio", self.oos_is_ratio),
            ("dsr", self.dsr),
            ("param_stability", self.param_stability),
            ("monte_carlo_pvalue", self.monte_carlo_pvalue),
        ] {
            if v.is_some_and(|x| !x.is_finite()) {
                err(field, "number out of range".into());
            }
        }
        for (field, v) in [
            ("n_windows", Some(self.n_windows)),
            ("n_distinct_combos", self.n_distinct_combos),
        ] {
            if v.is_some_and(|x| x < 0) {
                err(field, "must be >= 0".into());
            }
        }
        match parse_json_strict(self.best_params.as_bytes()) {
            Ok(v) if v.is_object() => {}
            Ok(v) => err(
                "best_params",
                format!("expected a JSON object, got {}", type_name(&v)),
            ),
            Err(e) => err("best_params", format!("string is not valid JSON: {e}")),
        }
        for (field, v) in [
            ("wfo_windows", &self.wfo_windows),
            ("monte_carlo_summary", &self.monte_carlo_summary),
            ("validation_summary", &self.validation_summary),
            ("warnings", &self.warnings),
            ("regime_analysis", &self.regime_analysis),
        ] {
            if let Some(Err(e)) = v.as_deref().map(|t| parse_json_strict(t.as_bytes())) {
                err(field, format!("string is not valid JSON: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PayloadError::Invalid(sort_errors(errors, &RESULT_REQUIRED)))
        }
    }

    /// The JSON payload `optimize` sends (JSON text columns embedded as JSON values).
    pub fn to_payload(&self) -> Value {
        json!({
            "strategy_name": self.strategy_name,
            "asset": self.asset,
            "timeframe": self.timeframe,
            "created_at": self.created_at,
            "duration_seconds": num(self.duration_seconds),
            "grade": self.grade,
            "total_score": num(Some(self.total_score)),
            "oos_sharpe": num(self.oos_sharpe),
            "consistency": num(self.consistency),
            "oos_is_ratio": num(self.oos_is_ratio),
            "dsr": num(self.dsr),
            "param_stability": num(self.param_stability),
            "monte_carlo_pvalue": num(self.monte_carlo_pvalue),
            "mc_underpowered": self.mc_underpowered,
            "n_windows": self.n_windows,
            "n_distinct_combos": self.n_distinct_combos,
            "best_params": embed(Some(&self.best_params)),
            "wfo_windows": embed(self.wfo_windows.as_deref()),
            "monte_carlo_summary": embed(self.monte_carlo_summary.as_deref()),
            "validation_summary": embed(self.validation_summary.as_deref()),
            "warnings": embed(self.warnings.as_deref()),
            "regime_analysis": embed(self.regime_analysis.as_deref()),
        })
    }

    /// Short human label: `sma_cross BTCUSDT 1h 2026-11-21T20:06:15Z`.
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {}",
            self.strategy_name, self.asset, self.timeframe, self.created_at
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Portfolio backtest

/// One row of `portfolio_backtests` (`POST /api/portfolio/results`).
#[derive(Debug, Clone, PartialEq)]
pub struct PortfolioBacktest {
    pub strategy_name: String,
    /// JSON array text of the symbols.
    pub assets: String,
    pub timeframe: String,
    pub created_at: String,
    pub duration_seconds: Option<f64>,
    pub period_start: Option<String>,
    pub period_end: Option<String>,
    pub initial_capital: f64,
    pub final_equity: Option<f64>,
    /// Fraction (0.12 = +12 %).
    pub total_return: f64,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    /// Fraction of peak equity, positive (0.2 = a 20 % drawdown).
    pub max_drawdown: Option<f64>,
    pub win_rate: Option<f64>,
    pub profit_factor: Option<f64>,
    pub n_trades: i64,
    pub params: Option<String>,
    pub per_asset: Option<String>,
    pub equity_curve: Option<String>,
    pub warnings: Option<String>,
}

impl PortfolioBacktest {
    pub fn from_body(body: &[u8]) -> Result<Self, PayloadError> {
        let v = parse_json_strict(body).map_err(|e| PayloadError::Malformed(e.to_string()))?;
        Self::from_payload(&v)
    }

    pub fn from_payload(v: &Value) -> Result<Self, PayloadError> {
        let mut r = Reader {
            obj: object(v)?,
            errors: Vec::new(),
        };
        let out = PortfolioBacktest {
            strategy_name: r.req_name("strategy_name"),
            assets: r.json("assets", true, Shape::Array).unwrap_or_default(),
            timeframe: r.req_name("timeframe"),
            created_at: r.created_at(),
            duration_seconds: r.number("duration_seconds", false),
            period_start: r.name("period_start", false),
            period_end: r.name("period_end", false),
            initial_capital: r.req_number("initial_capital"),
            final_equity: r.number("final_equity", false),
            total_return: r.req_number("total_return"),
            sharpe: r.number("sharpe", false),
            sortino: r.number("sortino", false),
            max_drawdown: r.number("max_drawdown", false),
            win_rate: r.number("win_rate", false),
            profit_factor: r.number("profit_factor", false),
            n_trades: r.req_count("n_trades"),
            params: r.json("params", false, Shape::Any),
            per_asset: r.json("per_asset", false, Shape::Any),
            equity_curve: r.json("equity_curve", false, Shape::Any),
            warnings: r.json("warnings", false, Shape::Any),
        };
        if r.errors.is_empty() {
            Ok(out)
        } else {
            Err(PayloadError::Invalid(sort_errors(
                r.errors,
                &PORTFOLIO_REQUIRED,
            )))
        }
    }

    pub fn to_payload(&self) -> Value {
        json!({
            "strategy_name": self.strategy_name,
            "assets": embed(Some(&self.assets)),
            "timeframe": self.timeframe,
            "created_at": self.created_at,
            "duration_seconds": num(self.duration_seconds),
            "period_start": self.period_start,
            "period_end": self.period_end,
            "initial_capital": num(Some(self.initial_capital)),
            "final_equity": num(self.final_equity),
            "total_return": num(Some(self.total_return)),
            "sharpe": num(self.sharpe),
            "sortino": num(self.sortino),
            "max_drawdown": num(self.max_drawdown),
            "win_rate": num(self.win_rate),
            "profit_factor": num(self.profit_factor),
            "n_trades": self.n_trades,
            "params": embed(self.params.as_deref()),
            "per_asset": embed(self.per_asset.as_deref()),
            "equity_curve": embed(self.equity_curve.as_deref()),
            "warnings": embed(self.warnings.as_deref()),
        })
    }

    pub fn label(&self) -> String {
        format!(
            "portfolio {} {} {}",
            self.strategy_name, self.timeframe, self.created_at
        )
    }
}

/// Missing required fields first (in the documented order), then the other errors.
fn sort_errors(mut errs: Vec<FieldError>, required: &[&str]) -> Vec<FieldError> {
    errs.sort_by_key(|e| {
        let missing = e.error == MISSING;
        let pos = required
            .iter()
            .position(|r| *r == e.field)
            .unwrap_or(usize::MAX);
        (!missing, pos)
    });
    errs
}

/// A finite number or null (a stored Infinity goes out as null, never as a bare token).
fn num(v: Option<f64>) -> Value {
    v.and_then(Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Stored JSON text back into a JSON value (plain text that is not JSON goes out as a string).
fn embed(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> Value {
        json!({
            "strategy_name": "sma_cross", "asset": "BTCUSDT", "timeframe": "1h",
            "created_at": "2026-11-21T20:06:15Z", "grade": "B", "total_score": 71.5,
            "n_windows": 20, "best_params": {"fast": 10, "slow": 50},
        })
    }

    #[test]
    fn minimal_ok() {
        let r = OptimizationResult::from_payload(&sample()).unwrap();
        assert_eq!(r.best_params, r#"{"fast":10,"slow":50}"#);
        assert!(!r.mc_underpowered);
        let back = OptimizationResult::from_payload(&r.to_payload()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn every_missing_and_wrong_field_is_reported() {
        let v = json!({"asset": 3, "total_score": "high", "dsr": [1], "mc_underpowered": "yes"});
        let PayloadError::Invalid(errs) = OptimizationResult::from_payload(&v).unwrap_err() else {
            panic!()
        };
        let fields: Vec<(&str, &str)> = errs
            .iter()
            .map(|e| (e.field.as_str(), e.error.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("strategy_name", "missing"),
                ("timeframe", "missing"),
                ("created_at", "missing"),
                ("grade", "missing"),
                ("n_windows", "missing"),
                ("best_params", "missing"),
                ("asset", "expected a string, got a number"),
                ("total_score", "expected a number, got a string"),
                ("dsr", "expected a number, got an array"),
                (
                    "mc_underpowered",
                    "expected a boolean (or 0/1), got a string"
                ),
            ]
        );
    }

    #[test]
    fn json_fields_as_string_or_value_store_the_same_text() {
        let mut a = sample();
        a["wfo_windows"] = json!([{"is": 1.5}]);
        a["warnings"] = json!("low volume");
        let mut b = sample();
        b["best_params"] = json!("{\"slow\": 50, \"fast\": 10}");
        b["wfo_windows"] = json!("[{\"is\": 1.5}]");
        b["warnings"] = json!("low volume");
        let ra = OptimizationResult::from_payload(&a).unwrap();
        let rb = OptimizationResult::from_payload(&b).unwrap();
        assert_eq!(ra, rb);
        assert_eq!(ra.warnings.as_deref(), Some("\"low volume\""));
        b["best_params"] = json!("[1,2]");
        assert!(OptimizationResult::from_payload(&b).is_err());
        b["best_params"] = json!("{\"fast\": NaN}");
        let e = OptimizationResult::from_payload(&b)
            .unwrap_err()
            .to_string();
        assert!(e.contains("best_params: string is not valid JSON"), "{e}");
    }

    #[test]
    fn nan_strings_become_null_but_not_for_required() {
        let mut v = sample();
        v["oos_sharpe"] = json!("NaN");
        v["dsr"] = json!("-Infinity");
        let r = OptimizationResult::from_payload(&v).unwrap();
        assert_eq!((r.oos_sharpe, r.dsr), (None, None));
        v["total_score"] = json!("Infinity");
        let e = OptimizationResult::from_payload(&v)
            .unwrap_err()
            .to_string();
        assert!(e.contains("total_score: must be a finite number"), "{e}");
        v["total_score"] = json!("12");
        assert!(OptimizationResult::from_payload(&v).is_err());
    }

    #[test]
    fn strict_parser() {
        assert!(
            parse_json_strict(br#"{"a":1,"a":2}"#)
                .unwrap_err()
                .to_string()
                .contains("duplicate key `a`")
        );
        assert!(parse_json_strict(br#"{"a":{"b":1,"b":1}}"#).is_err());
        let e = parse_json_strict(b"{\"a\": NaN}").unwrap_err();
        assert_eq!((e.line(), e.column()), (1, 7));
        assert!(parse_json_strict(b"").is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(
            parse_json_strict(deep.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("recursion limit")
        );
        assert!(parse_json_strict(b"{} x").is_err());
        assert_eq!(
            parse_json_strict(br#"{"a":[1,2.5,"x",null,true]}"#).unwrap(),
            json!({"a":[1,2.5,"x",null,true]})
        );
    }

    #[test]
    fn created_at_forms() {
        let z = parse_created_at("2026-11-21T20:06:15Z").unwrap();
        assert_eq!(parse_created_at("2026-11-21T20:06:15"), Some(z));
        assert_eq!(parse_created_at("2026-11-21 20:06:15+00:00"), Some(z));
        assert_eq!(parse_created_at("2026-11-21T21:06:15+01:00"), Some(z));
        assert_eq!(
            parse_created_at("2026-11-21T20:06:15.000001"),
            Some(z + 1000)
        );
        assert!(parse_created_at("2026-11-21").is_none());
        assert!(parse_created_at("yesterday").is_none());
        assert!(parse_created_at("2026-13-01T00:00:00Z").is_none());
    }

    #[test]
    fn counts_and_grade() {
        let mut v = sample();
        v["n_windows"] = json!(20.0);
        v["mc_underpowered"] = json!(1);
        let r = OptimizationResult::from_payload(&v).unwrap();
        assert_eq!(r.n_windows, 20);
        assert!(r.mc_underpowered);
        v["n_windows"] = json!(-1);
        v["grade"] = json!("Z");
        let e = OptimizationResult::from_payload(&v)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("n_windows: must be >= 0") && e.contains("grade: expected one of"),
            "{e}"
        );
    }

    #[test]
    fn portfolio_roundtrip() {
        let v = json!({
            "strategy_name": "grid_atr", "assets": "[\"BTCUSDT\",\"ETHUSDT\"]", "timeframe": "1h",
            "created_at": "2026-11-21T20:06:15Z", "initial_capital": 1000, "total_return": 0.12,
            "n_trades": 42, "max_drawdown": "NaN", "per_asset": {"BTCUSDT": {"ret": 0.1}},
        });
        let p = PortfolioBacktest::from_payload(&v).unwrap();
        assert_eq!(p.assets, r#"["BTCUSDT","ETHUSDT"]"#);
        assert_eq!(p.max_drawdown, None);
        assert_eq!(PortfolioBacktest::from_payload(&p.to_payload()).unwrap(), p);
        let e = PortfolioBacktest::from_payload(&json!({}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("strategy_name, assets, timeframe, created_at, initial_capital, total_return, n_trades"), "{e}");
    }
}
