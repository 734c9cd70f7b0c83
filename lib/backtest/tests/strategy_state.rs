//! Strategy state survives a restart bit-exactly, and bounded history changes nothing.
//!
//! Every registered strategy, on the bundled hourly data on the real engine
//! (`strategy_driver`: its fills keep a real position, so the strategies' in-position branches
//! run) and synthetic funding/OI: a run interrupted at candles k₁ < k₂ < … (`save_state` → fresh
//! instance from the same params → `load_state` → continue; the engine runs on, as a paper runner
//! whose strategy is restored) gives the same intents as the uninterrupted run, bit for bit
//! (compared as CBOR bytes, so NaN and −0.0 count); so does a run whose `Context::candles` (and
//! higher slices) hold only `history_needed()` (`higher_history_needed()`) trailing candles.
//! `load_state` refuses snapshots of another strategy, of other params or timeframe, truncated,
//! flipped or random bytes.

use crate::strategy_driver::{Driver, H1, Market, Recorder, Run, data};
use proptest::prelude::*;
use scalp_backtest::BacktestConfig;
use scalp_core::resample::resample;
use scalp_core::{Candle, Timeframe};
use scalp_strategy::registry::{SPECS, StrategySpec};
use scalp_strategy::state::to_cbor;
use scalp_strategy::{Params, StateError, Strategy};

/// The engine's defaults without regime labels: the strategy sees nothing of them, and without
/// them a `Bar` needs no more history than the strategy's `history_needed()` (the regime window
/// would otherwise put 101 candles in every bounded context).
fn cfg() -> BacktestConfig {
    let mut c = BacktestConfig::default();
    c.regime.enabled = false;
    c
}

/// The intents of a run, as bytes: f64 compared by their bits.
fn bytes_of(r: &Run) -> Vec<u8> {
    let v: Vec<_> = r
        .steps
        .iter()
        .map(|s| (s.i, s.position, &s.intents))
        .collect();
    to_cbor(&v).unwrap()
}

/// Where two runs first differ, for messages.
fn first_diff(a: &Run, b: &Run) -> String {
    for (x, y) in a.steps.iter().zip(&b.steps) {
        let (bx, by) = (
            to_cbor(&(x.i, x.position, &x.intents)).unwrap(),
            to_cbor(&(y.i, y.position, &y.intents)).unwrap(),
        );
        if bx != by {
            return format!(
                "first difference at candle {} vs {}:\n{x:?}\n{y:?}",
                x.i, y.i
            );
        }
    }
    format!("{} vs {} steps", a.steps.len(), b.steps.len())
}

/// What a restart does to the strategy between two candles.
#[derive(Clone, Copy, PartialEq)]
enum Restart {
    /// save_state → fresh instance → load_state.
    Restore,
    /// A fresh instance without the state (to show the comparison has teeth).
    Forget,
}

/// Drives `spec` built with `p` over `cs`, restarting before each candle in `at`; the run
/// and the states after the candles in [`PROBES`] and after the last one.
fn drive_state(
    spec: &StrategySpec,
    p: &Params,
    cs: &[Candle],
    highers: Option<Vec<(Timeframe, Vec<Candle>)>>,
    at: &[usize],
    how: Restart,
    bounded: bool,
) -> (Run, Vec<Vec<u8>>) {
    let mut states = vec![];
    let market = Market::synthetic(cs);
    let mut s = Recorder::new((spec.build)(p, H1));
    let mut d = match highers {
        Some(h) => Driver::with_highers(&cfg(), &s, cs, h, &market),
        None => Driver::new(&cfg(), &s, cs, &market),
    };
    if bounded {
        assert!(s.history_needed() >= 1, "{}", spec.name);
        d.keep = Some((s.history_needed(), s.higher_history_needed()));
    }
    for i in 0..cs.len() {
        if at.contains(&i) {
            let mut fresh = (spec.build)(p, H1);
            if how == Restart::Restore {
                let bytes = s.save_state().unwrap();
                fresh.load_state(&bytes).unwrap();
                // the restored instance is the saved one: it snapshots to the same bytes
                assert_eq!(fresh.save_state().unwrap(), bytes, "{}", spec.name);
            }
            s.inner = fresh;
        }
        d.step(&mut s, i);
        if PROBES.contains(&i) || i + 1 == cs.len() {
            states.push(s.save_state().unwrap());
        }
    }
    (d.finish(&mut s), states)
}

/// Candles after which the states of two runs are compared (the same state, not only the same
/// intents so far: then every later intent agrees too; early, before differences could fade
/// out of Wilder averages).
const PROBES: [usize; 7] = [0, 1, 2, 10, 100, 500, 1000];

fn drive(
    spec: &StrategySpec,
    p: &Params,
    cs: &[Candle],
    highers: Option<Vec<(Timeframe, Vec<Candle>)>>,
    at: &[usize],
    how: Restart,
    bounded: bool,
) -> Run {
    drive_state(spec, p, cs, highers, at, how, bounded).0
}

fn check_restarts(spec: &StrategySpec, p: &Params, cs: &[Candle], at: &[usize]) {
    let (full, full_state) = drive_state(spec, p, cs, None, &[], Restart::Restore, false);
    let (restarted, restarted_state) = drive_state(spec, p, cs, None, at, Restart::Restore, false);
    assert!(
        full_state == restarted_state,
        "{} {p:?}: final states differ",
        spec.name
    );
    assert!(
        bytes_of(&full) == bytes_of(&restarted),
        "{} {p:?} restarted at {at:?}: {}",
        spec.name,
        first_diff(&full, &restarted)
    );
    let (bounded, bounded_state) = drive_state(spec, p, cs, None, &[], Restart::Restore, true);
    assert!(
        full_state == bounded_state,
        "{} {p:?}: bounded state differs",
        spec.name
    );
    assert!(
        bytes_of(&full) == bytes_of(&bounded),
        "{} {p:?} with bounded history: {}",
        spec.name,
        first_diff(&full, &bounded)
    );
    let both = drive(spec, p, cs, None, at, Restart::Restore, true);
    assert!(
        bytes_of(&full) == bytes_of(&both),
        "{} {p:?} bounded and restarted at {at:?}: {}",
        spec.name,
        first_diff(&full, &both)
    );
}

#[test]
fn every_strategy_with_defaults_survives_restarts_over_all_the_data() {
    let cs = data();
    let n = cs.len();
    let at = [1, 2, 57, n / 7, n / 3, n / 2 + 1, n - 100, n - 1];
    let mut forgetful_same = vec![];
    for spec in SPECS {
        let p = Params::defaults(spec.params);
        check_restarts(spec, &p, cs, &at);
        let full = drive(spec, &p, cs, None, &[], Restart::Restore, false);
        assert!(full.entries >= 5, "{}: {} entries", spec.name, full.entries);
        let forgot = drive(spec, &p, cs, None, &at, Restart::Forget, false);
        if bytes_of(&full) == bytes_of(&forgot) {
            forgetful_same.push(spec.name);
        }
    }
    // losing the state changes the intents of (nearly) every strategy, so the comparison above
    // can fail (liquidation re-warms within `vol_period` candles and happens to have no signal
    // near these restart points)
    assert!(forgetful_same.len() <= 1, "{forgetful_same:?}");
}

#[test]
fn higher_history_before_the_first_candle_can_be_cut() {
    // the higher timeframes hold candles from long before the first primary candle (stored
    // higher data): a slice cut to `higher_history_needed()` gives the same intents
    let all = data();
    let start = 5_000;
    let cs = &all[start..start + 4_000];
    for spec in SPECS {
        let mut cases = vec![Params::defaults(spec.params)];
        if spec.name == "grid_multi_tf" {
            for (htf, st) in [(0.0, 3.0), (2.0, 30.0), (4.0, 7.0)] {
                let kv = [("htf".to_string(), htf), ("st_period".to_string(), st)];
                cases.push(
                    cases[0]
                        .with_overrides(spec.name, spec.params, &kv)
                        .unwrap(),
                );
            }
        }
        for p in cases {
            let s = (spec.build)(&p, H1);
            let highers: Vec<_> = s
                .timeframes()
                .into_iter()
                .skip(1)
                .map(|h| (h, resample(&all[..start + 4_000], H1, h)))
                .collect();
            if let Some((h, v)) = highers.first() {
                let before =
                    v.partition_point(|x| x.open_time + h.ms() <= cs[0].open_time + H1.ms());
                assert!(before > s.higher_history_needed(), "the cut cuts something");
            }
            let h = Some(highers.clone());
            let (full, full_state) = drive_state(spec, &p, cs, h, &[], Restart::Restore, false);
            let h = Some(highers.clone());
            let (bounded, bounded_state) =
                drive_state(spec, &p, cs, h, &[], Restart::Restore, true);
            assert!(
                full_state == bounded_state,
                "{} {p:?}: states differ",
                spec.name
            );
            assert!(
                bytes_of(&full) == bytes_of(&bounded),
                "{} {p:?}: {}",
                spec.name,
                first_diff(&full, &bounded)
            );
            let both = drive(
                spec,
                &p,
                cs,
                Some(highers),
                &[3, 700, 2_001],
                Restart::Restore,
                true,
            );
            assert!(bytes_of(&full) == bytes_of(&both), "{}", spec.name);
            assert!(!full.steps.is_empty(), "{}: no intent", spec.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_params_and_restart_points(
        idx in 0..SPECS.len(),
        u in prop::collection::vec(0.0f64..1.0, 16),
        start in 0usize..16_000,
        cuts in prop::collection::vec(0.0f64..1.0, 1..5),
        defaults in any::<bool>(),
    ) {
        let all = data();
        let cs = &all[start..start + 3_000];
        let spec = &SPECS[idx];
        let p = if defaults { Params::defaults(spec.params) } else { spec.sample_params(&u, 300.0) };
        let at: Vec<usize> = cuts.iter().map(|c| (c * cs.len() as f64) as usize).collect();
        check_restarts(spec, &p, cs, &at);
    }
}

/// A snapshot of `spec` with defaults after the candles `cs` (mid-run, usually in a position).
fn snapshot(spec: &StrategySpec, p: &Params, cs: &[Candle]) -> (Box<dyn Strategy>, Vec<u8>) {
    let market = Market::synthetic(cs);
    let mut s = Recorder::new((spec.build)(p, H1));
    let mut d = Driver::new(&cfg(), &s, cs, &market);
    for i in 0..cs.len() {
        d.step(&mut s, i);
    }
    let b = s.save_state().unwrap();
    (s.inner, b)
}

/// SplitMix64: a small deterministic RNG.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn load_state_refuses_what_is_not_its_own() {
    let all = data();
    let cs = &all[..1_500];
    let mut rng = Rng(42);
    for (k, spec) in SPECS.iter().enumerate() {
        let p = Params::defaults(spec.params);
        let (_, bytes) = snapshot(spec, &p, cs);
        let mut target = (spec.build)(&p, H1);
        let pristine = target.save_state().unwrap();
        let untouched = |t: &dyn Strategy| assert_eq!(t.save_state().unwrap(), pristine);

        // another strategy's snapshot
        let other = &SPECS[(k + 1) % SPECS.len()];
        let (_, theirs) = snapshot(other, &Params::defaults(other.params), cs);
        match target.load_state(&theirs) {
            Err(StateError::WrongStrategy { found, expected }) => {
                assert_eq!((found.as_str(), expected.as_str()), (other.name, spec.name));
            }
            r => panic!("{}: snapshot of {} gave {r:?}", spec.name, other.name),
        }
        untouched(target.as_ref());

        // the same strategy with other params (each param moved), or another timeframe
        for ps in spec.params {
            let v = if p.get(ps.name) < ps.max {
                (p.get(ps.name) + 1.0).min(ps.max)
            } else {
                ps.min
            };
            let q = p
                .with_overrides(spec.name, spec.params, &[(ps.name.to_string(), v)])
                .unwrap();
            let mut t = (spec.build)(&q, H1);
            let e = t.load_state(&bytes).unwrap_err();
            assert!(
                matches!(e, StateError::ParamsMismatch { .. }),
                "{} {}={v}: {e}",
                spec.name,
                ps.name
            );
        }
        let mut t4 = (spec.build)(&p, Timeframe::M15);
        assert!(matches!(
            t4.load_state(&bytes),
            Err(StateError::ParamsMismatch { .. })
        ));

        // truncated: every prefix
        for n in 0..bytes.len() {
            let e = target.load_state(&bytes[..n]);
            assert!(
                e.is_err(),
                "{}: prefix of {n}/{} accepted",
                spec.name,
                bytes.len()
            );
        }
        // trailing garbage
        let mut long = bytes.clone();
        long.extend_from_slice(&[0, 1]);
        assert!(target.load_state(&long).is_err());
        // one flipped bit anywhere
        for _ in 0..300 {
            let mut b = bytes.clone();
            let at = (rng.next() % b.len() as u64) as usize;
            b[at] ^= 1 << (rng.next() % 8);
            assert!(
                target.load_state(&b).is_err(),
                "{}: flip at {at} accepted",
                spec.name
            );
        }
        // random bytes, and random bytes after a valid header prefix
        for _ in 0..300 {
            let len = (rng.next() % 300) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            assert!(target.load_state(&b).is_err());
            let keep = (rng.next() % bytes.len() as u64) as usize;
            b.splice(0..0, bytes[..keep].iter().copied());
            assert!(target.load_state(&b).is_err());
        }
        untouched(target.as_ref());
        // and its own snapshot is accepted
        target.load_state(&bytes).unwrap();
        assert_eq!(target.save_state().unwrap(), bytes);
    }
}
