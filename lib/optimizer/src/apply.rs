//! `optimize run --apply`: writes the per-asset parameters of the latest A/B results into
//! strategies.toml with toml_edit (comments, order and layout of everything else preserved),
//! behind three guards: the assets must be assets of assets.toml, each result must pass the live
//! gate (or `--accept-weak`, which says what it lets through), and the assets must agree on the
//! timeframe. The exact TOML diff is printed first; `--dry-run` prints it and writes nothing.

use crate::db;
use crate::grade;
use anyhow::{Context as _, anyhow, bail};
use scalp_core::config::Config;
use std::io::Write;
use toml_edit::{DocumentMut, Item, Table, value};

/// How `--apply` behaves.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Assets left out.
    pub exclude: Vec<String>,
    /// Write even when assets disagree on the timeframe.
    pub ignore_tf_conflicts: bool,
    /// Also write A/B results that fail the live gate (each is named with the terms it fails).
    pub accept_weak: bool,
    /// Print the diff, write nothing.
    pub dry_run: bool,
}

/// Applies the latest A/B results of `strategy`. Refuses results for assets that are not in
/// assets.toml, leaves out results that fail the live gate unless `accept_weak`, and refuses when
/// the remaining assets disagree on the timeframe (unless `ignore_tf_conflicts`), naming the
/// outliers and the three ways out. Returns the number of assets written (or that would be).
pub fn apply(
    cfg: &Config,
    conn: &rusqlite::Connection,
    strategy: &str,
    o: &ApplyOptions,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let exclude = &o.exclude;
    let ignore_tf_conflicts = o.ignore_tf_conflicts;
    let candidates: Vec<db::LatestRow> = db::latest(conn, Some(strategy))?
        .into_iter()
        .filter(|r| matches!(r.grade.as_str(), "A" | "B"))
        .filter(|r| !exclude.iter().any(|x| x.eq_ignore_ascii_case(&r.asset)))
        .collect();
    if candidates.is_empty() {
        writeln!(
            out,
            "--apply: no A/B result for {strategy}; strategies.toml unchanged"
        )?;
        return Ok(0);
    }
    let unknown: Vec<&str> = candidates
        .iter()
        .filter(|r| !cfg.assets.assets.iter().any(|a| a == &r.asset))
        .map(|r| r.asset.as_str())
        .collect();
    if !unknown.is_empty() {
        writeln!(
            out,
            "--apply refused for {strategy}: result(s) for {} — not an asset of assets.toml ({}).",
            unknown.join(", "),
            cfg.assets.assets.join(", ")
        )?;
        writeln!(
            out,
            "A result from --data without --symbol is named after the file: re-run with --symbol ASSET, or leave it out with --exclude {}",
            unknown.join(",")
        )?;
        bail!(
            "--apply: {} result(s) of {strategy} for unknown assets",
            unknown.len()
        );
    }
    let mut rows = Vec::new();
    for r in candidates {
        let gi = r.grade_inputs();
        let failed = grade::live_gate_failures(&gi, &r.grade);
        if failed.is_empty() {
            rows.push(r);
        } else if o.accept_weak {
            writeln!(
                out,
                "--apply: {strategy}.per_asset.{} is weak ({}); written because of --accept-weak",
                r.asset,
                failed.join("; ")
            )?;
            rows.push(r);
        } else {
            writeln!(
                out,
                "--apply: {strategy}.per_asset.{} not written: grade {} but not live-eligible: {} (write it anyway with --accept-weak)",
                r.asset,
                r.grade,
                failed.join("; ")
            )?;
        }
    }
    if rows.is_empty() {
        writeln!(
            out,
            "--apply: no live-eligible result for {strategy}; strategies.toml unchanged"
        )?;
        return Ok(0);
    }
    let default_tf = cfg
        .strategies
        .strategies
        .get(strategy)
        .map(|e| e.timeframe.to_string());
    // Majority timeframe among the A/B assets (ties: the strategy's own timeframe, then the smallest).
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &rows {
        *counts.entry(r.timeframe.as_str()).or_default() += 1;
    }
    let majority = counts
        .iter()
        .max_by(|a, b| {
            a.1.cmp(b.1)
                .then(
                    (Some(a.0.to_string()) == default_tf)
                        .cmp(&(Some(b.0.to_string()) == default_tf)),
                )
                .then(b.0.cmp(a.0))
        })
        .map(|(k, _)| k.to_string())
        .expect("non-empty");
    let outliers: Vec<&db::LatestRow> = rows.iter().filter(|r| r.timeframe != majority).collect();
    if !outliers.is_empty() && !ignore_tf_conflicts {
        writeln!(
            out,
            "--apply refused for {strategy}: assets disagree on the timeframe (majority {majority}):"
        )?;
        for o in &outliers {
            writeln!(out, "  {} graded {} on {}", o.asset, o.grade, o.timeframe)?;
        }
        let names: Vec<&str> = outliers.iter().map(|o| o.asset.as_str()).collect();
        writeln!(out, "Ways out:")?;
        writeln!(
            out,
            "  1. re-run them on {majority}: optimize run --strategy {strategy} --symbols {} --force-timeframe {majority}",
            names.join(",")
        )?;
        writeln!(
            out,
            "  2. leave them out: --apply --exclude {}",
            names.join(",")
        )?;
        writeln!(
            out,
            "  3. keep per-asset timeframes anyway: --apply --ignore-tf-conflicts"
        )?;
        bail!(
            "timeframe conflict for {strategy} ({} outlier(s))",
            outliers.len()
        );
    }
    let path = cfg.strategies_path();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let spec =
        scalp_strategy::spec(strategy).ok_or_else(|| anyhow!("unknown strategy `{strategy}`"))?;
    let st = doc
        .get_mut(strategy)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| anyhow!("{}: no [{strategy}] table to apply to", path.display()))?;
    if !st.contains_key("per_asset") {
        let mut t = Table::new();
        t.set_implicit(true);
        st.insert("per_asset", Item::Table(t));
    }
    let pa = st["per_asset"].as_table_mut().ok_or_else(|| {
        anyhow!(
            "{}: key `{strategy}.per_asset` is not a table",
            path.display()
        )
    })?;
    let mut n = 0;
    for r in &rows {
        let obj = r.best_params.as_object().ok_or_else(|| {
            anyhow!(
                "result {} {}: best_params is not an object",
                r.strategy_name,
                r.asset
            )
        })?;
        if !pa.contains_key(&r.asset) {
            pa.insert(&r.asset, Item::Table(Table::new()));
        }
        let t = pa[&r.asset].as_table_mut().ok_or_else(|| {
            anyhow!(
                "{}: key `{strategy}.per_asset.{}` is not a table",
                path.display(),
                r.asset
            )
        })?;
        for p in spec.params {
            let Some(v) = obj.get(p.name) else { continue };
            let item = match v {
                serde_json::Value::Bool(b) => value(*b),
                serde_json::Value::String(s) => value(s.as_str()),
                serde_json::Value::Number(x) if x.is_i64() => value(x.as_i64().expect("i64")),
                serde_json::Value::Number(x) => value(x.as_f64().unwrap_or(0.0)),
                _ => continue,
            };
            // Keep an existing entry's decoration (comments) when replacing its value.
            match t.get_mut(p.name).and_then(Item::as_value_mut) {
                Some(old) => {
                    let decor = old.decor().clone();
                    *old = item.into_value().expect("value");
                    *old.decor_mut() = decor;
                }
                None => {
                    t.insert(p.name, item);
                }
            }
        }
        if Some(&r.timeframe) != default_tf.as_ref() {
            t.insert("timeframe", value(r.timeframe.as_str()));
        } else {
            t.remove("timeframe");
        }
        writeln!(
            out,
            "--apply: {strategy}.per_asset.{} <- grade {} params {}",
            r.asset, r.grade, r.best_params
        )?;
        n += 1;
    }
    let new_text = doc.to_string();
    // Validate before writing: the result must still load.
    let _: scalp_core::config::StrategiesConfig =
        scalp_core::config::parse_toml(&new_text, &path.display().to_string())
            .map_err(|e| anyhow!("{e}"))?;
    let shown = path.display().to_string();
    let diff = similar::TextDiff::from_lines(&text, &new_text)
        .unified_diff()
        .context_radius(2)
        .header(&shown, &shown)
        .to_string();
    if diff.is_empty() {
        writeln!(out, "--apply: {shown} already holds these parameters")?;
        return Ok(n);
    }
    writeln!(out, "--apply: the change to {shown}:")?;
    out.write_all(diff.as_bytes())?;
    if o.dry_run {
        writeln!(out, "--apply --dry-run: nothing written ({n} asset(s))")?;
        return Ok(n);
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, &new_text).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("{}: cannot replace", path.display()))?;
    writeln!(out, "--apply: {n} asset(s) written to {}", path.display())?;
    Ok(n)
}
