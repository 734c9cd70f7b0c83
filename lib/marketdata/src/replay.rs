//! The replay source: real bundled candles emitted as closed candles through the same pipeline
//! as the live exchanges, stored under exchange `replay` (see `docs/COLLECTOR.md`).

use crate::pipeline::{Event, Origin, StatusChange};
use crate::{Error, Series, Stop};
use scalp_core::config::{Config, ConfigError};
use scalp_core::{Candle, Exchange};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// Candles per message when replaying as fast as possible.
const CHUNK: usize = 1_000;

/// Replay source built from `[replay]`.
#[derive(Debug, Clone)]
pub struct ReplaySource {
    pub series: Series,
    pub file: PathBuf,
    candles: Vec<Candle>,
    candles_per_second: f64,
    repeat: bool,
}

/// Resolves `[replay].file`: absolute stays; relative is joined to `[paths].bundled_data_dir`,
/// which itself, when relative, is taken from the directory of the main config file (so the
/// demo config `config/demo/scalp.toml` with `bundled_data_dir = "../../data"` reads the
/// checkout's `data/`). No other location is searched.
pub fn replay_file(cfg: &Config) -> PathBuf {
    let f = &cfg.main.replay.file;
    if f.is_absolute() {
        f.clone()
    } else {
        cfg.resolve(&cfg.main.paths.bundled_data_dir).join(f)
    }
}

impl ReplaySource {
    /// Loads and validates the whole CSV. A missing or malformed file is an error naming
    /// `replay.file` in the config, and the CSV's own file:line:field.
    pub fn load(cfg: &Config) -> Result<Self, Error> {
        let file = replay_file(cfg);
        let text = std::fs::read_to_string(&cfg.path).ok();
        let cfg_file = cfg.path.display().to_string();
        if !file.is_file() {
            return Err(ConfigError::invalid(
                &cfg_file,
                text.as_deref(),
                "replay.file",
                format!(
                    "{} does not exist (relative files are taken from paths.bundled_data_dir = {})",
                    file.display(),
                    cfg.resolve(&cfg.main.paths.bundled_data_dir).display()
                ),
            )
            .into());
        }
        let candles =
            scalp_core::csvdata::read_candles_csv(&file).map_err(|source| Error::ReplayFile {
                config: cfg_file.clone(),
                source,
            })?;
        let r = &cfg.main.replay;
        let tf = r.timeframe;
        // The shared rules: the file's spacing and alignment must be `replay.timeframe`
        // (scalp_core::series), and the data-quality pass is logged (scalp_core::quality).
        let name = file.display().to_string();
        if let Err(e) = scalp_core::series::verify_timeframe(&name, &candles, tf) {
            return Err(ConfigError::invalid(
                &cfg_file,
                text.as_deref(),
                "replay.timeframe",
                format!("{e}: wrong timeframe for this file?"),
            )
            .into());
        }
        for w in scalp_core::quality::check(&candles, tf).warnings(&name) {
            tracing::warn!("replay data: {w}");
        }
        if r.symbol.trim().is_empty() {
            return Err(ConfigError::invalid(
                &cfg_file,
                text.as_deref(),
                "replay.symbol",
                "must not be empty",
            )
            .into());
        }
        Ok(ReplaySource {
            series: Series::new(Exchange::Replay, r.symbol.clone(), tf),
            file,
            candles,
            candles_per_second: r.candles_per_second,
            repeat: r.repeat,
        })
    }

    pub fn len(&self) -> usize {
        self.candles.len()
    }
    pub fn is_empty(&self) -> bool {
        self.candles.is_empty()
    }
    pub fn candles(&self) -> &[Candle] {
        &self.candles
    }

    /// Length of one pass in ms: with `repeat`, pass `k` shifts open times by `k * span`.
    fn span(&self) -> i64 {
        let first = self.candles[0].open_time;
        let last = self.candles[self.candles.len() - 1].open_time;
        last - first + self.series.timeframe.ms()
    }

    /// Where to resume given the last stored open time: `(pass, index)` of the first candle
    /// after it. `None` = everything was replayed (no `repeat`).
    pub fn resume_at(&self, last_stored: Option<i64>) -> Option<(i64, usize)> {
        let Some(last) = last_stored else {
            return Some((0, 0));
        };
        let first = self.candles[0].open_time;
        let (pass, offset) = if self.repeat && last >= first {
            let span = self.span();
            (
                (last - first).div_euclid(span),
                (last - first).rem_euclid(span) + first,
            )
        } else {
            (0, last)
        };
        let idx = self.candles.partition_point(|c| c.open_time <= offset);
        if idx < self.candles.len() {
            Some((pass, idx))
        } else if self.repeat {
            Some((pass + 1, 0))
        } else {
            None
        }
    }

    /// Emits the candles from `start` (see [`resume_at`](Self::resume_at)) at
    /// `candles_per_second` (0 = as fast as the pipeline takes them). Returns when done (no
    /// `repeat`), when `stop` is raised or when the pipeline is gone.
    pub async fn run(self, start: Option<(i64, usize)>, tx: mpsc::Sender<Event>, stop: Stop) {
        let series = self.series.clone();
        let status = |change| Event::Status {
            series: series.clone(),
            change,
        };
        if tx.send(status(StatusChange::Connected)).await.is_err() {
            return;
        }
        let Some((mut pass, mut idx)) = start else {
            let _ = tx.send(status(StatusChange::Finished)).await;
            return;
        };
        tracing::info!(
            "REPLAY START file={} symbol={} tf={} candles={} from_index={idx} pass={pass} rate={}/s",
            self.file.display(),
            series.symbol,
            series.timeframe,
            self.candles.len(),
            if self.candles_per_second > 0.0 {
                self.candles_per_second.to_string()
            } else {
                "max".into()
            }
        );
        let span = self.span();
        let cps = self.candles_per_second;
        let t0 = tokio::time::Instant::now();
        let mut emitted: u64 = 0;
        loop {
            // How many candles may go now.
            let budget = if cps > 0.0 {
                let due = (t0.elapsed().as_secs_f64() * cps).floor() as u64 + 1;
                if due <= emitted {
                    let next = t0 + Duration::from_secs_f64(emitted as f64 / cps);
                    tokio::select! {
                        _ = tokio::time::sleep_until(next) => continue,
                        _ = stop.wait() => return,
                    }
                }
                ((due - emitted) as usize).min(CHUNK)
            } else {
                CHUNK
            };
            let end = (idx + budget).min(self.candles.len());
            let shift = pass * span;
            let batch: Vec<Candle> = self.candles[idx..end]
                .iter()
                .map(|c| Candle {
                    open_time: c.open_time + shift,
                    ..*c
                })
                .collect();
            emitted += batch.len() as u64;
            let ev = Event::Closed {
                series: series.clone(),
                candles: batch,
                origin: Origin::Replay,
            };
            tokio::select! {
                r = tx.send(ev) => if r.is_err() { return },
                _ = stop.wait() => return,
            }
            idx = end;
            if idx >= self.candles.len() {
                if self.repeat {
                    pass += 1;
                    idx = 0;
                    tracing::info!(
                        "REPLAY PASS {pass}: starting again, open times shifted by {} ms",
                        pass * span
                    );
                } else {
                    tracing::info!(
                        "REPLAY FINISHED symbol={} candles_emitted={emitted}",
                        series.symbol
                    );
                    let _ = tx.send(status(StatusChange::Finished)).await;
                    return;
                }
            }
            if stop.is_triggered() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scalp_core::Timeframe;

    fn src(n: usize, repeat: bool) -> ReplaySource {
        let tf = Timeframe::H1;
        ReplaySource {
            series: Series::new(Exchange::Replay, "BTCUSDT", tf),
            file: "x.csv".into(),
            candles: (0..n as i64)
                .map(|i| Candle {
                    open_time: 1_000 * tf.ms() + i * tf.ms(),
                    open: 1.0,
                    high: 2.0,
                    low: 0.5,
                    close: 1.5,
                    volume: 1.0,
                })
                .collect(),
            candles_per_second: 0.0,
            repeat,
        }
    }

    /// The replay reader verifies the file against `replay.timeframe` by the shared rule
    /// (it used to check only the alignment: hourly candles passed as `1m`).
    #[test]
    fn replay_timeframe_is_verified_against_the_file() {
        use scalp_core::config::{Config, defaults};
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let main = defaults::SCALP_TOML
            .replace(
                "file = \"coinbase_btcusd_1h.csv\"",
                &format!(
                    "file = {:?}",
                    data.join("coinbase_btcusd_1h.csv").display().to_string()
                ),
            )
            .replace(
                "timeframe = \"1h\"\ncandles_per_second",
                "timeframe = \"1m\"\ncandles_per_second",
            );
        assert!(main.contains("timeframe = \"1m\"\ncandles_per_second"));
        let cfg = Config::from_texts(
            std::path::Path::new("/nonexistent"),
            &main,
            defaults::ASSETS_TOML,
            defaults::STRATEGIES_TOML,
            defaults::PARAM_GRIDS_TOML,
        )
        .unwrap();
        let e = format!("{:#}", ReplaySource::load(&cfg).err().unwrap());
        assert!(
            e.contains("replay.timeframe")
                && e.contains("the candles are 1h apart")
                && e.contains("asked is 1m"),
            "{e}"
        );
    }

    #[test]
    fn resume_positions() {
        let s = src(10, false);
        let h = Timeframe::H1.ms();
        assert_eq!(s.resume_at(None), Some((0, 0)));
        assert_eq!(s.resume_at(Some(1_000 * h)), Some((0, 1)));
        assert_eq!(s.resume_at(Some(1_004 * h)), Some((0, 5)));
        assert_eq!(s.resume_at(Some(1_009 * h)), None);
        assert_eq!(
            s.resume_at(Some(5)),
            Some((0, 0)),
            "older data than the file: start at 0"
        );
        let r = src(10, true);
        assert_eq!(r.resume_at(Some(1_009 * h)), Some((1, 0)));
        assert_eq!(r.resume_at(Some(1_013 * h)), Some((1, 4)));
        assert_eq!(r.resume_at(Some(1_029 * h)), Some((3, 0)));
    }

    #[tokio::test]
    async fn emits_everything_once_then_finishes() {
        let s = src(2_500, false);
        let all = s.candles.clone();
        let (tx, mut rx) = mpsc::channel(4);
        let stop = Stop::new();
        let h = tokio::spawn(s.run(Some((0, 0)), tx, stop));
        let mut got = Vec::new();
        let mut finished = false;
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Closed {
                    candles, origin, ..
                } => {
                    assert_eq!(origin, Origin::Replay);
                    got.extend(candles)
                }
                Event::Status {
                    change: StatusChange::Finished,
                    ..
                } => finished = true,
                _ => {}
            }
        }
        h.await.unwrap();
        assert!(finished);
        assert_eq!(got, all);
    }

    #[tokio::test]
    async fn paced_replay_stops_on_request() {
        let mut s = src(100, true);
        s.candles_per_second = 5.0;
        let (tx, mut rx) = mpsc::channel(4);
        let stop = Stop::new();
        let h = tokio::spawn(s.run(Some((0, 0)), tx, stop.clone()));
        let mut n = 0;
        while n < 2 {
            if let Some(Event::Closed { candles, .. }) = rx.recv().await {
                n += candles.len();
            }
        }
        stop.trigger();
        h.await.unwrap();
        assert!(n < 100, "paced, so far fewer than all candles");
    }
}
