//! The harness of the strategy behaviour tests (`strategy_behaviour`, `strategy_state`): the
//! real engine ([`Engine`]) stepped bar by bar the way [`run_backtest`] steps it, with the
//! strategy wrapped in a [`Recorder`] that delegates every call and records, for each candle
//! whose `on_candle` returns intents, the candle index, the `PositionView` the strategy saw in
//! its context and the intents. The fills are the engine's own (docs/BACKTEST.md): there is no
//! second fill model here.

use scalp_backtest::{
    BacktestConfig, BacktestInput, Bar, Engine, EngineEvent, FundingPoint, OiPoint, Trade,
    check_timeframes, run_backtest,
};
use scalp_core::{Candle, Timeframe};
use scalp_strategy::registry::SPECS;
use scalp_strategy::{Context, FillView, Intent, MarketExtras, PositionView, StateError, Strategy};
use std::collections::BTreeMap;
use std::sync::LazyLock;

pub const H1: Timeframe = Timeframe::H1;
const ASSET: &str = "BTC";

static DATA: LazyLock<Vec<Candle>> = LazyLock::new(|| {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/coinbase_btcusd_1h.csv");
    scalp_core::csvdata::read_candles_csv(&p).expect("bundled data")
});

/// The bundled hourly candles (data/coinbase_btcusd_1h.csv).
pub fn data() -> &'static [Candle] {
    &DATA
}

/// Market extras in the form the engine takes them ([`BacktestInput::funding`] and
/// [`BacktestInput::open_interest`]): funding settlements (shown to the strategy and charged on
/// its positions) and open-interest observations.
#[derive(Debug, Clone, Default)]
pub struct Market {
    pub funding: Vec<FundingPoint>,
    pub open_interest: Vec<OiPoint>,
}

impl Market {
    /// No funding history and no open interest (the engine charges its assumed funding rate).
    pub fn none() -> Market {
        Market::default()
    }

    /// Synthetic, deterministic extras for `cs` (there is no funding/OI history in the bundled
    /// data): a funding settlement every 8 h at `0.0008·sin(k/7)` (k = the settlement time / 8 h)
    /// from the one at or before the first open to the last close; open interest
    /// `10 000·(1 + 0.3·sin(i/29))` observed at the close of candle i. Labelled synthetic: only
    /// used to exercise the strategies' logic.
    pub fn synthetic(cs: &[Candle]) -> Market {
        const P: i64 = 8 * 3_600_000;
        let first = cs[0].open_time.div_euclid(P);
        let last = (cs[cs.len() - 1].open_time + H1.ms()).div_euclid(P);
        Market {
            funding: (first..=last)
                .map(|k| FundingPoint {
                    time: k * P,
                    rate: 0.0008 * (k as f64 / 7.0).sin(),
                })
                .collect(),
            open_interest: cs
                .iter()
                .enumerate()
                .map(|(i, c)| OiPoint {
                    time: c.open_time + H1.ms(),
                    value: 10_000.0 * (1.0 + 0.3 * (i as f64 / 29.0).sin()),
                })
                .collect(),
        }
    }

    /// What the strategy is shown at the close of `c` (`MarketExtras`): the latest funding rate
    /// and open interest at or before that close.
    pub fn extras_at(&self, c: &Candle) -> MarketExtras {
        let close = c.open_time + H1.ms();
        let f = self.funding.partition_point(|x| x.time <= close);
        let o = self.open_interest.partition_point(|x| x.time <= close);
        MarketExtras {
            funding_rate: (f > 0).then(|| self.funding[f - 1].rate),
            open_interest: (o > 0).then(|| self.open_interest[o - 1].value),
        }
    }
}

/// One `on_candle` call that returned intents.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Index of the candle whose close produced the intents.
    pub i: usize,
    /// The position the strategy saw in its context.
    pub position: PositionView,
    pub intents: Vec<Intent>,
}

/// The recording decorator: a [`Strategy`] that delegates every call to `inner` and records
/// the [`Step`]s. `inner` may be replaced between two candles (a restart).
pub struct Recorder {
    pub inner: Box<dyn Strategy>,
    /// Index of the candle of the next `on_candle` (set by [`Driver::step`]).
    pub at: usize,
    pub steps: Vec<Step>,
}

impl Recorder {
    pub fn new(inner: Box<dyn Strategy>) -> Recorder {
        Recorder {
            inner,
            at: 0,
            steps: Vec::new(),
        }
    }
}

impl Strategy for Recorder {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn timeframes(&self) -> Vec<Timeframe> {
        self.inner.timeframes()
    }
    fn warmup(&self) -> usize {
        self.inner.warmup()
    }
    fn history_needed(&self) -> usize {
        self.inner.history_needed()
    }
    fn higher_history_needed(&self) -> usize {
        self.inner.higher_history_needed()
    }
    fn on_candle(&mut self, ctx: &Context<'_>, out: &mut Vec<Intent>) {
        let from = out.len();
        self.inner.on_candle(ctx, out);
        if out.len() > from {
            self.steps.push(Step {
                i: self.at,
                position: ctx.position,
                intents: out[from..].to_vec(),
            });
        }
    }
    fn on_fill(&mut self, fill: &FillView) {
        self.inner.on_fill(fill)
    }
    fn save_state(&self) -> Result<Vec<u8>, StateError> {
        self.inner.save_state()
    }
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.inner.load_state(bytes)
    }
}

/// What a run produced.
#[derive(Debug, Default)]
pub struct Run {
    pub steps: Vec<Step>,
    /// Entry fills (market entries and levels), from the engine's events.
    pub entries: usize,
    /// Closed trades by exit reason (`EndOfData` included).
    pub exits: BTreeMap<String, usize>,
    pub trades: Vec<Trade>,
}

impl Run {
    pub fn all_intents(&self) -> impl Iterator<Item = (usize, &Intent)> {
        self.steps
            .iter()
            .flat_map(|s| s.intents.iter().map(move |x| (s.i, x)))
    }

    /// Exits other than the end-of-data close.
    pub fn exits_before_the_end(&self) -> usize {
        self.exits
            .iter()
            .filter(|(k, _)| k.as_str() != "EndOfData")
            .map(|(_, n)| n)
            .sum()
    }
}

/// The engine over `cs` (primary timeframe H1), one [`Driver::step`] per candle, with the
/// higher-timeframe and extras rules of [`run_backtest`]: a higher candle is visible from the
/// first primary close at or after its own close; the extras are the latest at or before the
/// close; the whole funding history goes with every bar.
pub struct Driver<'a> {
    cs: &'a [Candle],
    highers: Vec<(Timeframe, Vec<Candle>)>,
    market: &'a Market,
    engine: Engine,
    entries: usize,
    /// `Some((primary, higher))`: `Bar::candles` (and so `Context::candles`) holds only the last
    /// `primary` candles and every higher slice only its last `higher` candles.
    pub keep: Option<(usize, usize)>,
}

impl<'a> Driver<'a> {
    /// The strategy's higher timeframes resampled from `cs` (`scalp_core::resample`, as
    /// [`BacktestInput::with_aggregated`]).
    pub fn new(
        cfg: &BacktestConfig,
        s: &dyn Strategy,
        cs: &'a [Candle],
        market: &'a Market,
    ) -> Driver<'a> {
        let highers = s
            .timeframes()
            .into_iter()
            .skip(1)
            .map(|h| (h, scalp_core::resample::resample(cs, H1, h)))
            .collect();
        Driver::with_highers(cfg, s, cs, highers, market)
    }

    /// With the given higher-timeframe candles (they may start before `cs`).
    pub fn with_highers(
        cfg: &BacktestConfig,
        s: &dyn Strategy,
        cs: &'a [Candle],
        highers: Vec<(Timeframe, Vec<Candle>)>,
        market: &'a Market,
    ) -> Driver<'a> {
        // the checks of run_backtest: primary timeframe, higher ones present and coarser
        let order: Vec<Timeframe> = check_timeframes(s, H1, &highers)
            .unwrap_or_else(|e| panic!("{}: {e}", s.name()))
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        let mut highers = highers;
        highers.retain(|(t, _)| order.contains(t));
        highers.sort_by_key(|(t, _)| order.iter().position(|o| o == t));
        let mut engine = Engine::new(cfg.clone(), H1, cs[0].open_time).expect("valid settings");
        engine.record_events(true);
        Driver {
            cs,
            highers,
            market,
            engine,
            entries: 0,
            keep: None,
        }
    }

    /// Candle `i`: one `Engine::step` (funding, pending market orders, the candle's path, mark,
    /// kill switch, then the strategy's intents).
    pub fn step(&mut self, rec: &mut Recorder, i: usize) {
        let c = &self.cs[i];
        let close = c.open_time + H1.ms();
        let (keep, keep_h) = self.keep.unwrap_or((usize::MAX, usize::MAX));
        let hs: Vec<(Timeframe, &[Candle])> = self
            .highers
            .iter()
            .map(|(h, v)| {
                let n = v.partition_point(|x| x.open_time + h.ms() <= close);
                (*h, &v[n.saturating_sub(keep_h)..n])
            })
            .collect();
        let bar = Bar {
            candles: &self.cs[(i + 1).saturating_sub(keep)..=i],
            higher: &hs,
            funding: &self.market.funding,
            extras: self.market.extras_at(c),
        };
        rec.at = i;
        if let Err(e) = self.engine.step(&bar, ASSET, rec, None) {
            panic!("{} at candle {i}: {e}", rec.name());
        }
        for ev in self.engine.take_events() {
            if matches!(ev, EngineEvent::Entry { .. }) {
                self.entries += 1;
            }
        }
    }

    /// End of data (the engine closes an open position at the last close), and the run.
    pub fn finish(mut self, rec: &mut Recorder) -> Run {
        self.engine.finish(&self.cs[self.cs.len() - 1], rec);
        let trades = self.engine.take_trades();
        let mut exits = BTreeMap::new();
        for t in &trades {
            *exits.entry(format!("{:?}", t.exit_reason)).or_default() += 1;
        }
        Run {
            steps: std::mem::take(&mut rec.steps),
            entries: self.entries,
            exits,
            trades,
        }
    }
}

/// Runs `s` over `cs` on the engine with `cfg`, every candle in order.
pub fn run(cfg: &BacktestConfig, s: Box<dyn Strategy>, cs: &[Candle], market: &Market) -> Run {
    let mut rec = Recorder::new(s);
    let mut d = Driver::new(cfg, &rec, cs, market);
    for i in 0..cs.len() {
        d.step(&mut rec, i);
    }
    d.finish(&mut rec)
}

#[test]
fn the_driver_steps_the_engine_as_run_backtest_does() {
    // same trades, same intents at the same candles as run_backtest on a BacktestInput carrying
    // the same candles, aggregated higher timeframes, funding and open interest
    let cs = &data()[2_000..6_000];
    let market = Market::synthetic(cs);
    let cfg = BacktestConfig {
        record_intents: true,
        ..BacktestConfig::default()
    };
    for spec in SPECS {
        let build = || {
            scalp_strategy::build(
                spec.name,
                &scalp_strategy::Params::defaults(spec.params),
                H1,
            )
            .unwrap()
        };
        let r = run(&cfg, build(), cs, &market);
        let mut s = build();
        let input = BacktestInput::new(ASSET, H1, cs)
            .with_aggregated(&s.timeframes())
            .with_funding(&market.funding)
            .with_open_interest(&market.open_interest);
        let want = run_backtest(&input, s.as_mut(), &cfg).unwrap();
        assert!(!want.trades.is_empty(), "{}", spec.name);
        assert_eq!(r.trades, want.trades, "{}: trades", spec.name);
        let intents: Vec<(usize, Intent)> = r.all_intents().map(|(i, x)| (i, x.clone())).collect();
        assert_eq!(intents, want.intents, "{}: intents", spec.name);
        assert_eq!(
            r.entries,
            want.trades
                .iter()
                .map(|t| t.entries as usize)
                .sum::<usize>(),
            "{}: entries",
            spec.name
        );
    }
}
