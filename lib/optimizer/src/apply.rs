//! `optimize run --apply`: writes the per-asset parameters of the latest A/B results into
//! strategies.toml with toml_edit (comments, order and layout of everything else preserved),
//! behind three guards: the assets must be assets of assets.toml, each result must pass the live
//! gate (or `--accept-weak`, which says what it lets through), and the assets must agree on the
//! timeframe. The exact TOML diff is printed first; `--dry-run` prints it and writes nothing.

use crate::db;
use crate::grade;
use crate::{Error, error};
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
    /// Also change a strategy whose `live_eligible = true` in strategies.toml (a human approved
    /// its parameters for live; without this flag `--apply` never touches it).
    pub apply_live: bool,
}

/// Family-wise ceiling of `--apply`: the Holm-adjusted null-test p over every latest result.
pub const FAMILY_P_MAX: f64 = 0.05;

/// The family correction (docs/OPTIMIZER.md "Family"): every latest result in the database —
/// each strategy × asset × timeframe that was walked forward — is one hypothesis, its null-test
/// p the evidence (1 when it was not tested). Holm's step-down adjustment bounds the chance that
/// any result of the family reaches live on a no-edge history at 5 %, however many strategies
/// and assets were tried. Returns result id → (adjusted p, family size).
pub fn family_adjusted(
    conn: &rusqlite::Connection,
) -> Result<std::collections::HashMap<i64, (f64, usize)>, Error> {
    let rows = db::latest(conn, None).map_err(Error::sqlite(READ_LATEST))?;
    let ps: Vec<f64> = rows
        .iter()
        .map(|r| r.grade_inputs().null_p.unwrap_or(1.0))
        .collect();
    let adj = crate::stats::holm(&ps);
    Ok(rows
        .iter()
        .zip(adj)
        .map(|(r, a)| (r.id, (a, rows.len())))
        .collect())
}

/// What [`Error::Sqlite`] says when the latest results cannot be read.
const READ_LATEST: &str = "read the latest results of optimization_results";

/// A TOML value as written, without its comments and surrounding whitespace.
fn shown(v: &toml_edit::Value) -> String {
    let mut v = v.clone();
    v.decor_mut().clear();
    v.to_string()
}

/// Applies the latest A/B results of `strategy`. Refuses results for assets that are not in
/// assets.toml, leaves out results that fail the live gate unless `accept_weak`, and refuses when
/// the remaining assets disagree on the timeframe (unless `ignore_tf_conflicts`), naming the
/// outliers and the three ways out. Returns the number of assets written (or that would be).
/// Errors: [`Error::UnknownAssets`], [`Error::TimeframeConflict`], strategies.toml unreadable,
/// not editable or not loadable once edited, [`Error::Output`] (writing to `out`).
pub fn apply(
    cfg: &Config,
    conn: &rusqlite::Connection,
    strategy: &str,
    o: &ApplyOptions,
    out: &mut dyn Write,
) -> Result<usize, Error> {
    let exclude = &o.exclude;
    let ignore_tf_conflicts = o.ignore_tf_conflicts;
    let candidates: Vec<db::LatestRow> = db::latest(conn, Some(strategy))
        .map_err(Error::sqlite(READ_LATEST))?
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
        return Err(Error::UnknownAssets {
            strategy: strategy.to_string(),
            count: unknown.len(),
            assets: unknown.iter().map(|a| a.to_string()).collect(),
        });
    }
    let family = family_adjusted(conn)?;
    let mut rows = Vec::new();
    for r in candidates {
        let gi = r.grade_inputs();
        let mut failed = grade::live_gate_failures(&gi, &r.grade);
        if let Some(&(adj, k)) = family.get(&r.id)
            && !(adj <= FAMILY_P_MAX)
        {
            failed.push(format!(
                "family: Holm-adjusted null p {adj:.3} > {FAMILY_P_MAX} over the {k} latest results tested (strategies × assets × timeframes)"
            ));
        }
        // The null-test verdict of this strategy × asset × timeframe, when one was run
        // (docs/OPTIMIZER.md "Null test"): a result indistinguishable from no-edge histories
        // does not go live.
        match crate::nulltest::load_verdict(cfg, strategy, &r.asset, &r.timeframe) {
            Ok(Some(v)) => {
                if let Some(f) = v.gate_failure() {
                    failed.push(f);
                }
            }
            Ok(None) => {}
            Err(e) => failed.push(format!(
                "null-test verdict unreadable: {}",
                error::chain(&e)
            )),
        }
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
    // A strategy a human approved for live is never changed silently.
    let live = cfg
        .strategies
        .strategies
        .get(strategy)
        .is_some_and(|e| e.live_eligible);
    if live && !o.apply_live {
        for r in &rows {
            writeln!(
                out,
                "--apply: {strategy}.per_asset.{} not written: [{strategy}] has live_eligible = true in strategies.toml (its parameters were approved for live); pass --apply-live to change them",
                r.asset
            )?;
        }
        return Ok(0);
    }
    if live {
        for r in &rows {
            writeln!(
                out,
                "--apply: [{strategy}] has live_eligible = true: {strategy}.per_asset.{} changed because of --apply-live",
                r.asset
            )?;
        }
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
        return Err(Error::TimeframeConflict {
            strategy: strategy.to_string(),
            outliers: outliers.len(),
        });
    }
    let path = cfg.strategies_path();
    let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadFile {
        path: path.clone(),
        source,
    })?;
    let mut doc: DocumentMut = text.parse().map_err(|e| Error::ParseStrategies {
        path: path.clone(),
        source: Box::new(e),
    })?;
    let spec = scalp_strategy::spec(strategy).ok_or_else(|| Error::UnknownStrategy {
        name: strategy.to_string(),
    })?;
    let st = doc
        .get_mut(strategy)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| Error::NoStrategyTable {
            path: path.clone(),
            strategy: strategy.to_string(),
        })?;
    // The strategy-wide values: what an asset without its own key runs today.
    let strategy_params: std::collections::BTreeMap<String, String> = st
        .get("params")
        .and_then(Item::as_table_like)
        .map(|t| {
            t.iter()
                .filter_map(|(k, v)| v.as_value().map(|v| (k.to_string(), shown(v))))
                .collect()
        })
        .unwrap_or_default();
    if !st.contains_key("per_asset") {
        let mut t = Table::new();
        t.set_implicit(true);
        st.insert("per_asset", Item::Table(t));
    }
    let pa = st["per_asset"]
        .as_table_mut()
        .ok_or_else(|| Error::NotATable {
            path: path.clone(),
            key: format!("{strategy}.per_asset"),
        })?;
    let mut n = 0;
    for r in &rows {
        let best = r.best_params_json();
        let obj = best.as_object().ok_or_else(|| Error::BestParams {
            strategy: r.strategy_name.clone(),
            asset: r.asset.clone(),
        })?;
        if !pa.contains_key(&r.asset) {
            pa.insert(&r.asset, Item::Table(Table::new()));
        }
        let t = pa[&r.asset]
            .as_table_mut()
            .ok_or_else(|| Error::NotATable {
                path: path.clone(),
                key: format!("{strategy}.per_asset.{}", r.asset),
            })?;
        let mut changes: Vec<String> = Vec::new();
        for p in spec.params {
            let Some(v) = obj.get(p.name) else { continue };
            let item = match v {
                serde_json::Value::Bool(b) => value(*b),
                serde_json::Value::String(s) => value(s.as_str()),
                serde_json::Value::Number(x) if x.is_i64() => value(x.as_i64().expect("i64")),
                serde_json::Value::Number(x) => value(x.as_f64().unwrap_or(0.0)),
                _ => continue,
            };
            let new_shown = shown(item.as_value().expect("value"));
            // Keep an existing entry's decoration (comments) when replacing its value.
            match t.get_mut(p.name).and_then(Item::as_value_mut) {
                Some(old) => {
                    let old_shown = shown(old);
                    changes.push(if old_shown == new_shown {
                        format!("    {}: {old_shown} (unchanged)", p.name)
                    } else {
                        format!("    {}: {old_shown} -> {new_shown}", p.name)
                    });
                    let decor = old.decor().clone();
                    *old = item.into_value().expect("value");
                    *old.decor_mut() = decor;
                }
                None => {
                    changes.push(match strategy_params.get(p.name) {
                        Some(o) if *o == new_shown => {
                            format!("    {}: {o} (from [{strategy}.params]) (unchanged)", p.name)
                        }
                        Some(o) => {
                            format!(
                                "    {}: {o} (from [{strategy}.params]) -> {new_shown}",
                                p.name
                            )
                        }
                        None => format!("    {}: (strategy default) -> {new_shown}", p.name),
                    });
                    t.insert(p.name, item);
                }
            }
        }
        // The timeframe the asset runs on today (its own key, else the strategy's).
        let old_tf = t
            .get("timeframe")
            .and_then(Item::as_str)
            .map(str::to_string)
            .or_else(|| default_tf.clone())
            .unwrap_or_default();
        if Some(&r.timeframe) != default_tf.as_ref() {
            t.insert("timeframe", value(r.timeframe.as_str()));
        } else {
            t.remove("timeframe");
        }
        if old_tf != r.timeframe {
            changes.push(format!("    timeframe: {old_tf} -> {}", r.timeframe));
        }
        writeln!(
            out,
            "--apply: {strategy}.per_asset.{} <- grade {} (old -> new per key):",
            r.asset, r.grade
        )?;
        for c in &changes {
            writeln!(out, "{c}")?;
        }
        n += 1;
    }
    let new_text = doc.to_string();
    // Validate before writing: the result must still load.
    let _: scalp_core::config::StrategiesConfig =
        scalp_core::config::parse_toml(&new_text, &path.display().to_string())?;
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
    std::fs::write(&tmp, &new_text).map_err(|source| Error::WriteFile {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| Error::ReplaceFile {
        path: path.clone(),
        source,
    })?;
    writeln!(out, "--apply: {n} asset(s) written to {}", path.display())?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// A copy of the shipped config (real files) in a temp dir; `[sma_cross]` gets a per-asset
    /// table with a comment and `live_eligible` as given.
    fn setup(live: bool) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        for f in [
            "scalp.toml",
            "assets.toml",
            "strategies.toml",
            "param_grids.toml",
        ] {
            std::fs::copy(src.join(f), d.path().join(f)).unwrap();
        }
        let st = d.path().join("strategies.toml");
        let text = std::fs::read_to_string(&st).unwrap();
        let text = text.replacen(
            "[sma_cross]\nenabled = false\nlive_eligible = false\n",
            &format!("[sma_cross]\nenabled = false\nlive_eligible = {live}\n"),
            1,
        );
        let text = text.replacen(
            "[sma_cross.params]\nfast = 10\nslow = 30\n",
            "[sma_cross.params]\nfast = 10\nslow = 30\n\n[sma_cross.per_asset.ETH]\nfast = 8 # hand-tuned in June\n",
            1,
        );
        assert!(text.contains("fast = 8 # hand-tuned"), "fixture drifted");
        std::fs::write(&st, text).unwrap();
        (d, st)
    }

    fn cfg(d: &tempfile::TempDir) -> Config {
        Config::load(&d.path().join("scalp.toml")).unwrap()
    }

    /// Stores a result that passes every term of the live gate.
    fn store_strong(d: &tempfile::TempDir, asset: &str, fast: i64) -> rusqlite::Connection {
        let mut conn = scalp_store::open(&d.path().join("optimize.db")).unwrap();
        let p = serde_json::json!({
            "strategy_name": "sma_cross", "asset": asset, "timeframe": "1h", "created_at": format!("2026-01-01T00:00:{fast:02}Z"),
            "grade": "A", "total_score": 85.0, "n_windows": 10, "oos_sharpe": 1.5, "dsr": 0.99,
            "monte_carlo_pvalue": 0.01, "mc_underpowered": false,
            "validation_summary": {"transfer_ratio": 0.8}, "monte_carlo_summary": {"n_trades": 60, "null_p": 0.005, "null_permutations": 199},
            "best_params": {"fast": fast, "slow": 30, "margin_frac": 1.0},
        });
        let r = scalp_sync::OptimizationResult::from_payload(&p).unwrap();
        scalp_sync::db::insert_result(&mut conn, &r, scalp_sync::Source::Local).unwrap();
        conn
    }

    fn run(c: &Config, conn: &rusqlite::Connection, o: &ApplyOptions) -> (usize, String) {
        let mut out = Vec::new();
        let n = apply(c, conn, "sma_cross", o, &mut out).unwrap();
        (n, String::from_utf8(out).unwrap())
    }

    fn keeps_every_line(before: &str, after: &str) {
        let mut it = after.lines();
        for l in before.lines().filter(|l| !l.starts_with("fast = 8")) {
            assert!(it.any(|a| a == l), "line lost: {l}\n{after}");
        }
    }

    #[test]
    fn a_live_strategy_is_never_changed_without_apply_live_and_each_key_shows_old_and_new() {
        let (d, st) = setup(true);
        let c = cfg(&d);
        let conn = store_strong(&d, "ETH", 12);
        let before = std::fs::read_to_string(&st).unwrap();
        let (n, out) = run(&c, &conn, &ApplyOptions::default());
        assert_eq!(n, 0, "{out}");
        assert!(
            out.contains("sma_cross.per_asset.ETH not written")
                && out.contains("live_eligible = true")
                && out.contains("--apply-live"),
            "{out}"
        );
        assert_eq!(std::fs::read_to_string(&st).unwrap(), before, "changed");

        let (n, out) = run(
            &c,
            &conn,
            &ApplyOptions {
                apply_live: true,
                ..Default::default()
            },
        );
        assert_eq!(n, 1, "{out}");
        assert!(out.contains("changed because of --apply-live"), "{out}");
        // old -> new per key: the asset's own key, then one inherited from [sma_cross.params]
        assert!(out.contains("    fast: 8 -> 12"), "{out}");
        assert!(
            out.contains("    slow: 30 (from [sma_cross.params]) (unchanged)"),
            "{out}"
        );
        let after = std::fs::read_to_string(&st).unwrap();
        assert!(after.contains("fast = 12 # hand-tuned in June"), "{after}");
        keeps_every_line(&before, &after);
    }

    #[test]
    fn a_strategy_not_live_is_applied_with_old_and_new_values() {
        let (d, st) = setup(false);
        let c = cfg(&d);
        let conn = store_strong(&d, "BTC", 14);
        let before = std::fs::read_to_string(&st).unwrap();
        let (n, out) = run(&c, &conn, &ApplyOptions::default());
        assert_eq!(n, 1, "{out}");
        assert!(!out.contains("--apply-live"), "{out}");
        assert!(
            out.contains("    fast: 10 (from [sma_cross.params]) -> 14"),
            "{out}"
        );
        let after = std::fs::read_to_string(&st).unwrap();
        assert!(
            after.contains("[sma_cross.per_asset.BTC]\nfast = 14"),
            "{after}"
        );
        keeps_every_line(&before, &after);
    }

    #[test]
    fn a_failed_null_test_keeps_a_result_out_and_a_passed_one_lets_it_in() {
        let (d, st) = setup(false);
        let c = cfg(&d);
        let conn = store_strong(&d, "BTC", 14);
        let before = std::fs::read_to_string(&st).unwrap();
        let pt = crate::nulltest::Point {
            grade: "A".into(),
            score_grade: "A".into(),
            total_score: 85.0,
            live_eligible: true,
            live_terms_ok: true,
            p: 1.0,
            stitched_oos_sharpe: 1.0,
            stitched_return_pct: 10.0,
            oos_trades: 60,
        };
        let write = |real: f64| {
            let null: Vec<_> = (0..19)
                .map(|k| crate::nulltest::Point {
                    total_score: k as f64 * 5.0,
                    ..pt.clone()
                })
                .collect();
            let v = crate::nulltest::verdict(
                "sma_cross",
                "BTC",
                scalp_core::Timeframe::H1,
                "test",
                &[],
                1,
                crate::nulltest::Point {
                    total_score: real,
                    ..pt.clone()
                },
                null,
            );
            let p = crate::nulltest::verdict_path(&c, "sma_cross", "BTC", "1h");
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
            v
        };
        // 10 of 19 null scores ≥ 45: p = 11/20
        let v = write(45.0);
        assert!(!v.pass && (v.p_score - 0.55).abs() < 1e-12);
        let (n, out) = run(&c, &conn, &ApplyOptions::default());
        assert_eq!(n, 0, "{out}");
        assert!(
            out.contains("not live-eligible: null test p 0.550 > 0.05 (19 permutations"),
            "{out}"
        );
        assert_eq!(std::fs::read_to_string(&st).unwrap(), before);
        // above every null score: p = 1/20 = 0.05, which passes
        let v = write(95.0);
        assert!(v.pass, "{}", v.p_score);
        let (n, out) = run(&c, &conn, &ApplyOptions::default());
        assert_eq!(n, 1, "{out}");
        // an unreadable verdict is a gate failure, never a pass
        std::fs::write(
            crate::nulltest::verdict_path(&c, "sma_cross", "BTC", "1h"),
            "{",
        )
        .unwrap();
        let (n, out) = run(&c, &conn, &ApplyOptions::default());
        assert_eq!(n, 0, "{out}");
        assert!(out.contains("null-test verdict unreadable"), "{out}");
    }
}
