//! Parameter grids: `fast=2..40:2,slow=50..430:20` on the command line, or TOML tables in
//! `config/param_grids.toml` (`grid = { fast = "2..40:2", slow = [50, 70, 90] }`).
//!
//! Axis syntax: `a..b:step` (inclusive of `b` when it falls on the step), `v1|v2|v3`, or a
//! single value. Every value is validated against the strategy's [`ParamSpec`]s.
//!
//! The schema of a `param_grids.toml` section ([`WfoSpec`]) lives here, next to the parameter
//! declarations, so that every `--check-config` (daemons, `scalpctl`, `optimize`) validates the
//! grids without depending on the optimizer, which runs them.

#![allow(clippy::neg_cmp_op_on_partial_ord)] // `!(x > 0.0)` also refuses NaN, on purpose

use crate::params::{ParamKind, ParamSpec};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Axis {
    pub name: String,
    pub values: Vec<f64>,
}

/// A cartesian grid of parameter values. Combo `k` is decoded in row-major order (last axis
/// varies fastest).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    pub axes: Vec<Axis>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("grid: {0}")]
pub struct GridError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, GridError> {
    Err(GridError(msg.into()))
}

/// Parses one axis value expression (`2..40:2`, `1|2|3`, `0.5`).
pub fn parse_axis_values(name: &str, expr: &str) -> Result<Vec<f64>, GridError> {
    let expr = expr.trim();
    let num = |s: &str| -> Result<f64, GridError> {
        s.trim()
            .parse::<f64>()
            .map_err(|_| GridError(format!("axis `{name}`: `{}` is not a number", s.trim())))
    };
    if let Some((range, step)) = expr.split_once(':') {
        let Some((a, b)) = range.split_once("..") else {
            return err(format!(
                "axis `{name}`: `{expr}`: expected `start..end:step`"
            ));
        };
        let (a, b, step) = (num(a)?, num(b)?, num(step)?);
        if !(step > 0.0) {
            return err(format!("axis `{name}`: step must be > 0, got {step}"));
        }
        if b < a {
            return err(format!("axis `{name}`: end {b} is below start {a}"));
        }
        let n = ((b - a) / step + 1e-9).floor() as usize + 1;
        if n > 100_000 {
            return err(format!("axis `{name}`: {n} values is too many"));
        }
        // Values computed as a + k*step, rounded to 1e-9 to avoid 0.30000000000000004.
        return Ok((0..n)
            .map(|k| ((a + k as f64 * step) * 1e9).round() / 1e9)
            .collect());
    }
    if expr.contains("..") {
        return err(format!(
            "axis `{name}`: `{expr}`: a range needs a step (`a..b:step`)"
        ));
    }
    let vals = expr.split('|').map(num).collect::<Result<Vec<_>, _>>()?;
    if vals.is_empty() {
        return err(format!("axis `{name}`: no values"));
    }
    Ok(vals)
}

impl Grid {
    /// `fast=2..40:2,slow=50..430:20` (axes separated by `,` or `;`).
    pub fn parse(s: &str) -> Result<Grid, GridError> {
        let mut axes = Vec::new();
        for part in s.split([',', ';']).map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, expr)) = part.split_once('=') else {
                return err(format!("`{part}`: expected `name=values`"));
            };
            axes.push(Axis {
                name: name.trim().to_string(),
                values: parse_axis_values(name.trim(), expr)?,
            });
        }
        Grid::new(axes)
    }

    pub fn new(axes: Vec<Axis>) -> Result<Grid, GridError> {
        if axes.is_empty() {
            return err("empty grid");
        }
        for (i, a) in axes.iter().enumerate() {
            if axes[..i].iter().any(|b| b.name == a.name) {
                return err(format!("axis `{}` given twice", a.name));
            }
        }
        Ok(Grid { axes })
    }

    /// From a TOML table `{ fast = "2..40:2", slow = [50, 70], flag = true }`.
    pub fn from_toml(t: &toml::Table) -> Result<Grid, GridError> {
        let mut axes = Vec::new();
        for (k, v) in t {
            let values = match v {
                toml::Value::String(s) => parse_axis_values(k, s)?,
                toml::Value::Integer(i) => vec![*i as f64],
                toml::Value::Float(f) => vec![*f],
                toml::Value::Boolean(b) => vec![f64::from(u8::from(*b))],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        toml::Value::Integer(i) => Ok(*i as f64),
                        toml::Value::Float(f) => Ok(*f),
                        toml::Value::Boolean(b) => Ok(f64::from(u8::from(*b))),
                        other => err(format!("axis `{k}`: {} is not a number", other.type_str())),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                other => {
                    return err(format!(
                        "axis `{k}`: {} is not a grid value",
                        other.type_str()
                    ));
                }
            };
            if values.is_empty() {
                return err(format!("axis `{k}`: no values"));
            }
            axes.push(Axis {
                name: k.clone(),
                values,
            });
        }
        Grid::new(axes)
    }

    /// Checks every axis against the strategy's parameter declarations (name, kind, range).
    pub fn validate(&self, strategy: &str, specs: &[ParamSpec]) -> Result<(), GridError> {
        for a in &self.axes {
            let Some(spec) = specs.iter().find(|s| s.name == a.name) else {
                let known: Vec<_> = specs.iter().map(|s| s.name).collect();
                return err(format!(
                    "strategy `{strategy}` has no parameter `{}` (known: {})",
                    a.name,
                    known.join(", ")
                ));
            };
            for &v in &a.values {
                let int_ok = !(matches!(
                    spec.kind,
                    ParamKind::Int | ParamKind::Choice | ParamKind::Bool
                ) && v.fract() != 0.0);
                if !v.is_finite() || v < spec.min || v > spec.max || !int_ok {
                    return err(format!(
                        "strategy `{strategy}`: parameter `{}` value {v} outside {}..={} ({:?})",
                        a.name, spec.min, spec.max, spec.kind
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn names(&self) -> Vec<&str> {
        self.axes.iter().map(|a| a.name.as_str()).collect()
    }
    pub fn axis(&self, name: &str) -> Option<&Axis> {
        self.axes.iter().find(|a| a.name == name)
    }

    /// Values of combo `k` written into `out` (one per axis, in axis order).
    pub fn combo_into(&self, mut k: usize, out: &mut [f64]) {
        for (i, a) in self.axes.iter().enumerate().rev() {
            let n = a.values.len();
            out[i] = a.values[k % n];
            k /= n;
        }
    }

    pub fn combo(&self, k: usize) -> Vec<f64> {
        let mut v = vec![0.0; self.axes.len()];
        self.combo_into(k, &mut v);
        v
    }

    /// `(name, value)` pairs of combo `k`.
    pub fn combo_kv(&self, k: usize) -> Vec<(String, f64)> {
        self.names()
            .into_iter()
            .map(String::from)
            .zip(self.combo(k))
            .collect()
    }

    /// A coarser grid: every `stride`-th value of each axis (always keeping the last).
    pub fn coarse(&self, max_combos: usize) -> Grid {
        let mut axes = self.axes.clone();
        while axes.iter().map(|a| a.values.len()).product::<usize>() > max_combos {
            // thin the longest axis
            let (i, _) = axes
                .iter()
                .enumerate()
                .max_by_key(|(_, a)| a.values.len())
                .expect("non-empty");
            if axes[i].values.len() <= 2 {
                break;
            }
            let v = &axes[i].values;
            let mut t: Vec<f64> = v.iter().step_by(2).copied().collect();
            if t.last() != v.last() {
                t.push(*v.last().expect("non-empty"));
            }
            axes[i].values = t;
        }
        Grid { axes }
    }

    /// A fine grid around `center` (one value per axis): the neighbours within `radius` steps
    /// of the center in the full axis.
    pub fn fine_around(&self, center: &[f64], radius: usize) -> Grid {
        let axes = self
            .axes
            .iter()
            .zip(center)
            .map(|(a, &c)| {
                let pos = a
                    .values
                    .iter()
                    .enumerate()
                    .min_by(|x, y| (x.1 - c).abs().total_cmp(&(y.1 - c).abs()))
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                let lo = pos.saturating_sub(radius);
                let hi = (pos + radius + 1).min(a.values.len());
                Axis {
                    name: a.name.clone(),
                    values: a.values[lo..hi].to_vec(),
                }
            })
            .collect();
        Grid { axes }
    }
}

/// Walk-forward settings of a strategy: one section `[<strategy>]` of `param_grids.toml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WfoSpec {
    pub is_days: f64,
    pub oos_days: f64,
    /// Shift between consecutive windows (default: `oos_days`).
    pub step_days: f64,
    /// Keep at most this many (most recent) windows.
    pub max_windows: usize,
    /// Max combinations of the coarse pass (the full grid is thinned to fit).
    pub coarse_max: usize,
    /// Fine pass: ± this many grid steps around the coarse best, per axis.
    pub fine_radius: usize,
    /// IS combos with fewer trades are ranked after every combo that has enough.
    pub min_trades: u32,
    pub grid: Grid,
}

/// An invalid `param_grids.toml` section: the dotted key at fault (`sma_cross.grid`,
/// `sma_cross.is_days`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("param_grids.toml: key `{key}`: {msg}")]
pub struct SectionError {
    pub key: String,
    pub msg: String,
}

/// Keys of a `param_grids.toml` section.
pub const SECTION_KEYS: &[&str] = &[
    "is_days",
    "oos_days",
    "step_days",
    "max_windows",
    "coarse_max",
    "fine_radius",
    "min_trades",
    "grid",
];

impl WfoSpec {
    /// Parses and validates the section `[strategy]` (`t`): known keys, numbers where numbers
    /// are expected, positive windows, and (for a registered strategy) every grid axis against
    /// the strategy's parameter declarations.
    pub fn from_table(strategy: &str, t: &toml::Table) -> Result<WfoSpec, SectionError> {
        let fail = |k: &str, msg: String| SectionError {
            key: format!("{strategy}.{k}"),
            msg,
        };
        if let Some(k) = t.keys().find(|k| !SECTION_KEYS.contains(&k.as_str())) {
            return Err(fail(
                k,
                format!("unknown key (known: {})", SECTION_KEYS.join(", ")),
            ));
        }
        let num = |k: &str, default: Option<f64>| -> Result<f64, SectionError> {
            match t.get(k) {
                Some(toml::Value::Integer(i)) => Ok(*i as f64),
                Some(toml::Value::Float(f)) => Ok(*f),
                Some(v) => Err(fail(
                    k,
                    format!("expected a number, found {}", v.type_str()),
                )),
                None => default.ok_or_else(|| fail(k, "is missing".into())),
            }
        };
        let whole = |k: &str, default: f64| -> Result<f64, SectionError> {
            let v = num(k, Some(default))?;
            if v < 0.0 || v.fract() != 0.0 {
                return Err(fail(k, format!("must be a whole number >= 0, got {v}")));
            }
            Ok(v)
        };
        let grid_t = t
            .get("grid")
            .and_then(|v| v.as_table())
            .ok_or_else(|| fail("grid", "missing or not a table".into()))?;
        let grid = Grid::from_toml(grid_t).map_err(|e| fail("grid", e.0))?;
        if let Some(spec) = crate::spec(strategy) {
            grid.validate(strategy, spec.params)
                .map_err(|e| fail("grid", e.0))?;
        }
        let is_days = num("is_days", None)?;
        let oos_days = num("oos_days", None)?;
        let s = WfoSpec {
            is_days,
            oos_days,
            step_days: num("step_days", Some(oos_days))?,
            max_windows: whole("max_windows", 20.0)? as usize,
            coarse_max: whole("coarse_max", 200.0)? as usize,
            fine_radius: whole("fine_radius", 1.0)? as usize,
            min_trades: whole("min_trades", 3.0)? as u32,
            grid,
        };
        for (k, v) in [
            ("is_days", s.is_days),
            ("oos_days", s.oos_days),
            ("step_days", s.step_days),
        ] {
            if !(v > 0.0) {
                return Err(fail(k, format!("must be > 0, got {v}")));
            }
        }
        if s.step_days < s.oos_days {
            return Err(fail(
                "step_days",
                format!(
                    "must be >= oos_days ({}), got {}: overlapping out-of-sample windows count the same days twice in the stitched record",
                    s.oos_days, s.step_days
                ),
            ));
        }
        if s.max_windows == 0 {
            return Err(fail("max_windows", "must be > 0".into()));
        }
        if s.coarse_max == 0 {
            return Err(fail("coarse_max", "must be > 0".into()));
        }
        Ok(s)
    }
}

/// Formats params as `fast=10,slow=30`.
pub fn fmt_kv(kv: &[(String, f64)]) -> String {
    kv.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bench_grid() {
        let g = Grid::parse("fast=2..40:2,slow=50..430:20").unwrap();
        assert_eq!(g.axes[0].values.len(), 20);
        assert_eq!(g.axes[1].values.len(), 20);
        assert_eq!(g.len(), 400);
        assert_eq!(g.combo(0), vec![2.0, 50.0]);
        assert_eq!(g.combo(1), vec![2.0, 70.0]);
        assert_eq!(g.combo(399), vec![40.0, 430.0]);
    }

    #[test]
    fn lists_floats_and_errors() {
        let g = Grid::parse("a=1|2|5; b=0.1..0.3:0.1").unwrap();
        assert_eq!(g.axes[0].values, vec![1.0, 2.0, 5.0]);
        assert_eq!(g.axes[1].values, vec![0.1, 0.2, 0.3]);
        assert!(
            Grid::parse("a=1..3")
                .unwrap_err()
                .0
                .contains("needs a step")
        );
        assert!(Grid::parse("a=x").unwrap_err().0.contains("not a number"));
        assert!(
            Grid::parse("a=3..1:1")
                .unwrap_err()
                .0
                .contains("below start")
        );
        assert!(Grid::parse("a=1,a=2").unwrap_err().0.contains("twice"));
        assert!(Grid::parse("a").unwrap_err().0.contains("name=values"));
    }

    #[test]
    fn validates_against_specs() {
        let spec = crate::spec("sma_cross").unwrap();
        assert!(
            Grid::parse("fast=2..4:1")
                .unwrap()
                .validate("sma_cross", spec.params)
                .is_ok()
        );
        let e = Grid::parse("fsat=2")
            .unwrap()
            .validate("sma_cross", spec.params)
            .unwrap_err();
        assert!(e.0.contains("no parameter `fsat`"), "{e}");
        let e = Grid::parse("fast=1.5")
            .unwrap()
            .validate("sma_cross", spec.params)
            .unwrap_err();
        assert!(e.0.contains("outside"), "{e}");
    }

    #[test]
    fn coarse_and_fine() {
        let g = Grid::parse("fast=2..40:2,slow=50..430:20").unwrap();
        let c = g.coarse(100);
        assert!(c.len() <= 100, "{}", c.len());
        assert_eq!(c.axes[0].values.last(), Some(&40.0));
        let f = g.fine_around(&[10.0, 130.0], 1);
        assert_eq!(f.axes[0].values, vec![8.0, 10.0, 12.0]);
        assert_eq!(f.axes[1].values, vec![110.0, 130.0, 150.0]);
    }

    #[test]
    fn from_toml_table() {
        let t: toml::Table = toml::from_str("fast = \"2..6:2\"\nslow = [50, 70]\n").unwrap();
        let g = Grid::from_toml(&t).unwrap();
        assert_eq!(g.len(), 6);
    }
}
