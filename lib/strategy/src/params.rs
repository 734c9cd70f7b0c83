//! Typed strategy parameters from `strategies.toml` tables, with declared names, kinds and
//! ranges so that a typo or an out-of-range value is a clear error.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    Int,
    Float,
    Bool,
    /// One of a fixed set of strings (`choices`).
    Choice,
}

/// Declaration of one parameter: used for validation, docs, and the optimizer's grids.
#[derive(Debug, Clone, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    /// For `Choice`: allowed values; the numeric value is the index.
    pub choices: &'static [&'static str],
    pub doc: &'static str,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    #[error("strategy `{strategy}`: unknown parameter `{name}` (known: {known})")]
    Unknown {
        strategy: String,
        name: String,
        known: String,
    },
    #[error("strategy `{strategy}`: parameter `{name}`: {msg}")]
    Invalid {
        strategy: String,
        name: String,
        msg: String,
    },
    #[error("unknown strategy `{0}`")]
    UnknownStrategy(String),
}

/// Validated parameter values (numeric; `Bool` = 0/1, `Choice` = index). Every declared
/// parameter is present (defaults filled in).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Params(pub BTreeMap<String, f64>);

impl Params {
    pub fn get(&self, name: &str) -> f64 {
        *self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("parameter `{name}` was not declared"))
    }
    pub fn usize(&self, name: &str) -> usize {
        self.get(name) as usize
    }
    pub fn bool(&self, name: &str) -> bool {
        self.get(name) != 0.0
    }

    /// Validates `given` against `specs`, filling defaults.
    pub fn from_toml(
        strategy: &str,
        specs: &[ParamSpec],
        given: &toml::Table,
    ) -> Result<Params, ParamError> {
        let mut map: BTreeMap<String, f64> = specs
            .iter()
            .map(|s| (s.name.to_string(), s.default))
            .collect();
        for (k, v) in given {
            let spec = specs
                .iter()
                .find(|s| s.name == k)
                .ok_or_else(|| ParamError::Unknown {
                    strategy: strategy.into(),
                    name: k.clone(),
                    known: specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
                })?;
            let inv = |msg: String| ParamError::Invalid {
                strategy: strategy.into(),
                name: k.clone(),
                msg,
            };
            let x = match (spec.kind, v) {
                (ParamKind::Int, toml::Value::Integer(i)) => *i as f64,
                (ParamKind::Float, toml::Value::Float(f)) => *f,
                (ParamKind::Float, toml::Value::Integer(i)) => *i as f64,
                (ParamKind::Bool, toml::Value::Boolean(b)) => f64::from(u8::from(*b)),
                (ParamKind::Choice, toml::Value::String(s)) => {
                    spec.choices.iter().position(|c| c == s).ok_or_else(|| {
                        inv(format!("`{s}` is not one of {}", spec.choices.join(", ")))
                    })? as f64
                }
                (kind, other) => {
                    return Err(inv(format!(
                        "expected {kind:?}, found {}",
                        other.type_str()
                    )));
                }
            };
            Self::check_range(strategy, spec, x)?;
            map.insert(k.clone(), x);
        }
        Ok(Params(map))
    }

    /// Validates numeric `k=v` overrides (CLI `--params`, optimizer grids) on top of `self`.
    pub fn with_overrides(
        &self,
        strategy: &str,
        specs: &[ParamSpec],
        kv: &[(String, f64)],
    ) -> Result<Params, ParamError> {
        let mut p = self.clone();
        for (k, v) in kv {
            let spec = specs
                .iter()
                .find(|s| s.name == k)
                .ok_or_else(|| ParamError::Unknown {
                    strategy: strategy.into(),
                    name: k.clone(),
                    known: specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
                })?;
            Self::check_range(strategy, spec, *v)?;
            p.0.insert(k.clone(), *v);
        }
        Ok(p)
    }

    fn check_range(strategy: &str, spec: &ParamSpec, x: f64) -> Result<(), ParamError> {
        if !x.is_finite()
            || x < spec.min
            || x > spec.max
            || (spec.kind == ParamKind::Int && x.fract() != 0.0)
        {
            return Err(ParamError::Invalid {
                strategy: strategy.into(),
                name: spec.name.into(),
                msg: format!(
                    "{x} is outside {}..={} ({:?})",
                    spec.min, spec.max, spec.kind
                ),
            });
        }
        Ok(())
    }

    /// Defaults of all declared parameters.
    pub fn defaults(specs: &[ParamSpec]) -> Params {
        Params(
            specs
                .iter()
                .map(|s| (s.name.to_string(), s.default))
                .collect(),
        )
    }
}
