//! `optimize` data commands: `fetch-history`, `fetch-funding`, `fetch-oi`, `check-data`,
//! `import`. Same REST clients and store code as the collector (`scalp_marketdata`); they
//! write the optimize local database (`[optimize].db`, relative to the config directory).
//! Portable (Windows too).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use scalp_core::config::Config;
use scalp_core::types::{fmt_ms, now_ms};
use scalp_core::{Exchange, Timeframe};
use scalp_exchange::RestClient;
use scalp_marketdata::Series;
use scalp_marketdata::coverage::{check_file, coverage};
use std::io::Write;
use std::path::PathBuf;

const DAY_MS: i64 = 86_400_000;
/// Candles per REST call of `fetch-history` (the client paginates inside; this sets the
/// progress granularity).
const STEP_CANDLES: i64 = 1_500;

/// The data subcommands, flattened into `optimize`'s command enum.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum DataCmd {
    /// Download closed candles by REST into the local database (resumable: re-running only
    /// rewrites what changed).
    FetchHistory(FetchHistoryArgs),
    /// Download funding-rate history into the local database.
    FetchFunding(FetchRangeArgs),
    /// Record the current open interest of each symbol in the local database.
    FetchOi(FetchOiArgs),
    /// Coverage and gaps of the stored candles per exchange / symbol / timeframe.
    CheckData(CheckDataArgs),
    /// Load a candle CSV (`ts_ms,open,high,low,close,volume`) into the local database as one
    /// series, verified first: bad rows are named by line, the timeframe is checked against the
    /// timestamps.
    Import(ImportArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// Exchange the series is stored under (binance or bitget).
    #[arg(long, value_parser = parse_exchange)]
    pub exchange: Exchange,
    /// Symbol or asset (`BTC` or `BTCUSDT`).
    #[arg(long)]
    pub symbol: String,
    /// Timeframe of the candles in the file (checked against its timestamps).
    #[arg(long)]
    pub timeframe: Timeframe,
    /// Database to write (default: `[optimize].db`, relative to the config directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// The candle CSV.
    pub file: PathBuf,
}

fn parse_exchange(s: &str) -> Result<Exchange, String> {
    match s.parse::<Exchange>()? {
        Exchange::Replay => Err("`replay` has no REST API: use binance or bitget".into()),
        e => Ok(e),
    }
}

fn parse_date(s: &str) -> Result<i64, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, fmt).map_err(|e| format!("`{s}`: expected YYYY-MM-DD ({e})"))?;
    Ok(d.midnight().assume_utc().unix_timestamp() * 1_000)
}

/// Where and which symbols.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// binance or bitget.
    #[arg(long, value_parser = parse_exchange)]
    pub exchange: Exchange,
    /// Comma-separated symbols or assets (`BTC,ETH` or `BTCUSDT`); default: every asset of
    /// assets.toml.
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Database to write (default: `[optimize].db`, relative to the config directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Time range: `--days N` back from the exchange's now, or `--since YYYY-MM-DD` (UTC).
#[derive(clap::Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct Range {
    #[arg(long)]
    pub days: Option<u32>,
    #[arg(long, value_parser = parse_date, value_name = "YYYY-MM-DD")]
    pub since: Option<i64>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct FetchHistoryArgs {
    #[command(flatten)]
    pub target: Target,
    /// Timeframes, comma-separated (`1h` or `1m,5m,1h`).
    #[arg(long, value_delimiter = ',', default_value = "1h")]
    pub timeframe: Vec<Timeframe>,
    #[command(flatten)]
    pub range: Range,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct FetchRangeArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub range: Range,
}

#[derive(clap::Args, Debug, Clone)]
pub struct FetchOiArgs {
    #[command(flatten)]
    pub target: Target,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CheckDataArgs {
    /// Only this exchange.
    #[arg(long, value_parser = |s: &str| s.parse::<Exchange>())]
    pub exchange: Option<Exchange>,
    /// Database to read (default: `[optimize].db`).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// List at most this many gaps per series.
    #[arg(long, default_value_t = 10)]
    pub max_gaps: usize,
    /// Check a candle CSV instead of the database (timeframe inferred and verified, then the
    /// data-quality pass).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["exchange", "db"])]
    pub data: Option<PathBuf>,
    /// Exit with an error when the data-quality pass finds anything.
    #[arg(long)]
    pub strict: bool,
}

/// The optimize local database path.
pub fn optimize_db(cfg: &Config, over: Option<&PathBuf>) -> PathBuf {
    match over {
        Some(p) => p.clone(),
        None => cfg.resolve(std::path::Path::new(&cfg.main.optimize.db)),
    }
}

fn symbols(cfg: &Config, given: &[String]) -> Vec<String> {
    if given.is_empty() {
        return cfg.assets.symbols();
    }
    given
        .iter()
        .map(|s| {
            let s = s.trim().to_ascii_uppercase();
            if s.ends_with(&cfg.assets.quote) {
                s
            } else {
                cfg.assets.symbol(&s)
            }
        })
        .collect()
}

/// Runs a data command, printing its report to `out`.
pub fn run(cfg: &Config, cmd: &DataCmd, out: &mut dyn Write) -> anyhow::Result<()> {
    if let DataCmd::CheckData(a) = cmd {
        return check_data(cfg, a, out);
    }
    if let DataCmd::Import(a) = cmd {
        return import(cfg, a, out);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cmd {
            DataCmd::FetchHistory(a) => fetch_history(cfg, a, out).await,
            DataCmd::FetchFunding(a) => fetch_funding(cfg, a, out).await,
            DataCmd::FetchOi(a) => fetch_oi(cfg, a, out).await,
            DataCmd::CheckData(_) | DataCmd::Import(_) => unreachable!("handled above"),
        }
    })
}

async fn client_and_now(cfg: &Config, ex: Exchange) -> anyhow::Result<(RestClient, i64)> {
    let rest =
        RestClient::new(ex, &cfg.main.exchanges).with_context(|| format!("[exchanges.{ex}]"))?;
    let t0 = now_ms();
    let now = match rest.server_time().await {
        Ok(server) => server + (now_ms() - t0) / 2,
        Err(e) => {
            eprintln!("warning: {ex} server time unavailable ({e}); using the local clock");
            now_ms()
        }
    };
    Ok((rest, now))
}

fn start_of(range: &Range, now: i64) -> i64 {
    match (range.days, range.since) {
        (Some(d), _) => now - d as i64 * DAY_MS,
        (None, Some(s)) => s,
        (None, None) => now - 30 * DAY_MS,
    }
}

fn open_db(path: &std::path::Path) -> anyhow::Result<scalp_marketdata::db::Conn> {
    Ok(scalp_marketdata::db::open(path)?)
}

pub async fn fetch_history(
    cfg: &Config,
    a: &FetchHistoryArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (rest, now) = client_and_now(cfg, a.target.exchange).await?;
    let db_path = optimize_db(cfg, a.target.db.as_ref());
    let conn = open_db(&db_path)?;
    let from = start_of(&a.range, now);
    let syms = symbols(cfg, &a.target.symbols);
    let total: i64 = syms.len() as i64
        * a.timeframe
            .iter()
            .map(|tf| ((now - from) / tf.ms()).max(0))
            .sum::<i64>();
    let show = !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let pb = if show {
        ProgressBar::new(total as u64)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:24} [{bar:40}] {pos}/{len} candles ({per_sec}, eta {eta})",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    let t0 = std::time::Instant::now();
    let mut grand = 0usize;
    for sym in &syms {
        for tf in &a.timeframe {
            let s = Series::new(a.target.exchange, sym.clone(), *tf);
            pb.set_message(format!("{sym} {tf}"));
            let (mut got, mut written) = (0usize, 0usize);
            let (mut first, mut last) = (None, None);
            let mut t = tf.align(from);
            while t < now {
                let end = (t + STEP_CANDLES * tf.ms()).min(now);
                let candles = rest
                    .fetch_klines(sym, *tf, t, end)
                    .await
                    .with_context(|| format!("{} {sym} {tf} from {}", s.exchange, fmt_ms(t)))?;
                if let (Some(f), Some(l)) = (candles.first(), candles.last()) {
                    first.get_or_insert(f.open_time);
                    last = Some(l.open_time);
                }
                written += scalp_marketdata::db::upsert_candles(&conn, &s, &candles)?;
                got += candles.len();
                pb.inc(((end - t) / tf.ms()) as u64);
                t = end;
            }
            grand += got;
            pb.suspend(|| {
                let _ = writeln!(
                    out,
                    "{} {sym} {tf}: {got} closed candles ({} → {}), {written} new or changed",
                    s.exchange,
                    first.map(fmt_ms).unwrap_or_else(|| "-".into()),
                    last.map(fmt_ms).unwrap_or_else(|| "-".into()),
                );
            });
        }
    }
    pb.finish_and_clear();
    writeln!(
        out,
        "fetched {grand} candles in {:.1} s into {}",
        t0.elapsed().as_secs_f64(),
        db_path.display()
    )?;
    Ok(())
}

pub async fn fetch_funding(
    cfg: &Config,
    a: &FetchRangeArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (rest, now) = client_and_now(cfg, a.target.exchange).await?;
    let db_path = optimize_db(cfg, a.target.db.as_ref());
    let conn = open_db(&db_path)?;
    let from = start_of(&a.range, now);
    for sym in symbols(cfg, &a.target.symbols) {
        let rates = rest
            .fetch_funding(&sym, from, now)
            .await
            .with_context(|| format!("{} {sym} funding", a.target.exchange))?;
        let rows: Vec<scalp_store::FundingRate> = rates
            .iter()
            .map(|f| scalp_store::FundingRate {
                time: f.funding_time,
                rate: f.rate,
            })
            .collect();
        let n = scalp_marketdata::db::upsert_funding(&conn, a.target.exchange, &sym, &rows)?;
        writeln!(
            out,
            "{} {sym}: {} funding rates, {n} new or changed",
            a.target.exchange,
            rows.len()
        )?;
    }
    Ok(())
}

pub async fn fetch_oi(cfg: &Config, a: &FetchOiArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (rest, _) = client_and_now(cfg, a.target.exchange).await?;
    let conn = open_db(&optimize_db(cfg, a.target.db.as_ref()))?;
    for sym in symbols(cfg, &a.target.symbols) {
        let oi = rest
            .open_interest(&sym)
            .await
            .with_context(|| format!("{} {sym} open interest", a.target.exchange))?;
        let row = scalp_store::OpenInterest {
            time: oi.ts,
            oi: oi.open_interest,
        };
        scalp_marketdata::db::upsert_open_interest(&conn, a.target.exchange, &sym, &[row])?;
        writeln!(
            out,
            "{} {sym}: open interest {} at {}",
            a.target.exchange,
            oi.open_interest,
            fmt_ms(oi.ts)
        )?;
    }
    Ok(())
}

fn strict_result(strict: bool, n: usize) -> anyhow::Result<()> {
    if strict && n > 0 {
        anyhow::bail!("{n} data-quality warning(s) (--strict)");
    }
    Ok(())
}

/// `optimize import`: verifies the whole file, then upserts it as one series.
pub fn import(cfg: &Config, a: &ImportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let candles = scalp_core::csvdata::read_candles_csv(&a.file)?;
    let check = scalp_marketdata::import::check_timeframe(&a.file, &candles, a.timeframe)?;
    let symbol = symbols(cfg, std::slice::from_ref(&a.symbol))
        .pop()
        .expect("one symbol in, one out");
    let db_path = optimize_db(cfg, a.db.as_ref());
    let conn = open_db(&db_path)?;
    let s = Series::new(a.exchange, symbol.clone(), a.timeframe);
    let written = scalp_marketdata::db::upsert_candles(&conn, &s, &candles)?;
    writeln!(
        out,
        "{}: {} candles ({} → {}) imported into {} as {} {symbol} {}: {written} new or changed{}",
        a.file.display(),
        candles.len(),
        fmt_ms(candles[0].open_time),
        fmt_ms(candles[candles.len() - 1].open_time),
        db_path.display(),
        a.exchange,
        a.timeframe,
        if check.missing > 0 {
            format!(
                "; {} candle(s) missing inside the range (see `optimize check-data`)",
                check.missing
            )
        } else {
            String::new()
        }
    )?;
    Ok(())
}

pub fn check_data(cfg: &Config, a: &CheckDataArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(file) = &a.data {
        let r = check_file(file)?;
        if a.json {
            serde_json::to_writer_pretty(&mut *out, &r)?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "{}: {} candles, {}, {} → {}",
                r.file, r.count, r.timeframe, r.first, r.last
            )?;
            for w in &r.warnings {
                writeln!(out, "warning: {w}")?;
            }
            if r.warnings.is_empty() {
                writeln!(out, "no data-quality findings")?;
            }
        }
        return strict_result(a.strict, r.warnings.len());
    }
    let path = optimize_db(cfg, a.db.as_ref());
    if !path.exists() {
        anyhow::bail!(
            "{}: no such database (run `optimize fetch-history` first)",
            path.display()
        );
    }
    // Read-only: checking data never creates, migrates or writes the database.
    let conn = scalp_store::open_readonly(&path)?;
    let cov = coverage(&conn, a.exchange, a.max_gaps)?;
    let n_warnings: usize = cov.iter().map(|c| c.warnings.len()).sum();
    if a.json {
        serde_json::to_writer_pretty(&mut *out, &cov)?;
        writeln!(out)?;
        return strict_result(a.strict, n_warnings);
    }
    writeln!(out, "{}", path.display())?;
    writeln!(
        out,
        "{:<8} {:<12} {:<4} {:>9} {:>9} {:>8} {:>8}  {:<20} {:<20}",
        "exchange", "symbol", "tf", "candles", "expected", "missing", "cover%", "first", "last"
    )?;
    for c in &cov {
        writeln!(
            out,
            "{:<8} {:<12} {:<4} {:>9} {:>9} {:>8} {:>8.2}  {:<20} {:<20}",
            c.exchange.as_str(),
            c.symbol,
            c.timeframe.as_str(),
            c.count,
            c.expected,
            c.missing,
            c.coverage_pct,
            c.first.as_deref().unwrap_or("-"),
            c.last.as_deref().unwrap_or("-")
        )?;
        for g in &c.gaps {
            writeln!(out, "    gap {} → {} ({} candles)", g.from, g.to, g.candles)?;
        }
        if c.gap_count > c.gaps.len() {
            writeln!(out, "    … {} more gaps", c.gap_count - c.gaps.len())?;
        }
        for w in &c.warnings {
            writeln!(out, "    warning: {w}")?;
        }
    }
    if cov.is_empty() {
        writeln!(out, "(no candles stored)")?;
    }
    strict_result(a.strict, n_warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_data_takes_a_csv() {
        let cfg =
            scalp_core::config::Config::defaults(std::path::Path::new("/nonexistent")).unwrap();
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let args = |f: &str, json: bool, strict: bool| CheckDataArgs {
            exchange: None,
            db: None,
            json,
            max_gaps: 10,
            data: Some(data.join(f)),
            strict,
        };
        let mut out = Vec::new();
        check_data(
            &cfg,
            &args("coinbase_btcusd_1d.csv", false, false),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("1770 candles, 1d"), "{text}");
        assert!(
            text.contains("warning: ") && text.contains("1 outlier wick(s): 2017-04-15"),
            "{text}"
        );
        let mut out = Vec::new();
        check_data(&cfg, &args("coinbase_btcusd_1d.csv", true, false), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["warnings"].as_array().unwrap().len(), 2);
        assert_eq!(v["quality"]["outlier_wicks"], 1);
        let e = check_data(
            &cfg,
            &args("coinbase_btcusd_1d.csv", false, true),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "2 data-quality warning(s) (--strict)");
        check_data(
            &cfg,
            &args("coinbase_btcusd_1h.csv", false, true),
            &mut Vec::new(),
        )
        .unwrap();
    }

    #[test]
    fn dates_and_symbols() {
        assert_eq!(parse_date("2019-10-17").unwrap(), 1_571_270_400_000);
        assert!(parse_date("17/10/2019").is_err());
        assert!(parse_exchange("replay").is_err());
        let cfg = scalp_core::config::Config::defaults(std::path::Path::new("/x")).unwrap();
        assert_eq!(
            symbols(&cfg, &["btc".into(), "ETHUSDT".into()]),
            vec!["BTCUSDT", "ETHUSDT"]
        );
        assert_eq!(symbols(&cfg, &[]).len(), 21);
        assert_eq!(
            optimize_db(&cfg, None),
            std::path::Path::new("/x/optimize.db")
        );
    }
}
