//! The application: shared state, the router (auth, request metrics, CORS), the handlers.

use crate::control::{self, ControlRecord, Controller, SIMULATOR_FILE};
use crate::db::{self, Db};
use crate::error::{ApiError, ApiResult};
use crate::files;
use crate::live;
use crate::metrics::{self, Requests, StateSample};
use crate::query::Params;
use crate::state::{ApiState, STATE_FILE, STATE_VERSION};
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{MatchedPath, Path as UrlPath, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use scalp_core::secrets::Secret;
use scalp_paper::control::Action;
use scalp_paper::state::{STATE_FILE as SIM_FILE, STATE_VERSION as SIM_VERSION, SimulatorState};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

/// 401 messages (distinct, so a client knows which mistake it made).
pub const MISSING_KEY: &str = "missing API key: send X-API-Key or Authorization: Bearer";
pub const WRONG_KEY: &str = "wrong API key";

/// What the API serves from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub db_path: PathBuf,
    pub state_dir: PathBuf,
    pub control_dir: PathBuf,
    pub web_dir: PathBuf,
    /// Strategy names of strategies.toml (control routes accept only these).
    pub strategies: Vec<String>,
    /// assets.toml `quote`: a runner's series symbol is `<asset><quote>`.
    pub quote: String,
    pub cors_origins: Vec<String>,
    /// Write `state/api.json` (the daemon does; a workstation server need not).
    pub write_state_file: bool,
}

/// Why the database self-check failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DbCheckError {
    /// It answered with an error (e.g. the file does not exist yet).
    #[error("{0}")]
    Failed(String),
    /// It did not answer within the time given (the database thread hangs).
    #[error("database did not answer within {} s", .0.as_secs())]
    Hung(Duration),
}

pub struct App {
    pub settings: Settings,
    key_hash: [u8; 32],
    pub db: Arc<Db>,
    sim: live::SimRx,
    live: watch::Receiver<Arc<String>>,
    pub control: Controller,
    pub requests: Requests,
    state: Mutex<Option<StateFile>>,
    /// `/api/simulator/status`' serialized payload for (`seq`, `written_at`).
    status_cache: Mutex<Option<(u64, String, Arc<String>)>>,
}

struct StateFile {
    writer: scalp_statefile::StateWriter<ApiState>,
    state: ApiState,
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// The previous run's control history from `state/api.json` (empty if none).
pub fn previous_history(state_dir: &std::path::Path) -> Vec<ControlRecord> {
    scalp_statefile::try_read::<ApiState>(&state_dir.join(STATE_FILE), STATE_VERSION)
        .ok()
        .map(|e| e.payload.control_requests)
        .unwrap_or_default()
}

impl App {
    /// Needs a tokio runtime (starts the state-file watcher and the `/ws/live` builder).
    /// `key` must not be empty. `listen`: the bound address, for `state/api.json`.
    pub fn start(settings: Settings, key: &Secret, listen: SocketAddr) -> anyhow::Result<Arc<App>> {
        if key.is_empty() {
            anyhow::bail!("the API key is empty");
        }
        let db = Db::new(&settings.db_path);
        let sim = scalp_statefile::watch::<SimulatorState>(
            settings.state_dir.join(SIM_FILE),
            SIM_VERSION,
            Duration::from_millis(500),
        );
        let live = live::spawn(
            db.clone(),
            sim.clone(),
            settings.state_dir.clone(),
            settings.quote.clone(),
        );
        let history = previous_history(&settings.state_dir);
        let control = Controller::new(&settings.control_dir, &settings.state_dir, history.clone());
        let state = if settings.write_state_file {
            let path = settings.state_dir.join(STATE_FILE);
            std::fs::create_dir_all(&settings.state_dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", settings.state_dir.display()))?;
            let writer = scalp_statefile::StateWriter::new(&path, STATE_VERSION)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Some(StateFile {
                writer,
                state: ApiState {
                    pid: std::process::id(),
                    started_at: scalp_core::types::fmt_ms(scalp_core::types::now_ms()),
                    listen: listen.to_string(),
                    web_dir: settings.web_dir.display().to_string(),
                    web_dir_ok: settings.web_dir.join("index.html").is_file(),
                    healthy: false,
                    last_error: None,
                    requests_total: 0,
                    control_requests: history,
                    stopped: false,
                    rss_kb: scalp_core::types::rss_kb(),
                },
            })
        } else {
            None
        };
        Ok(Arc::new(App {
            key_hash: sha256(key.expose().as_bytes()),
            db,
            sim,
            live,
            control,
            requests: Requests::default(),
            state: Mutex::new(state),
            status_cache: Mutex::new(None),
            settings,
        }))
    }

    /// Database self-check (`SELECT 1` within `timeout`), telling a database that answers with
    /// an error (or does not exist yet) from one that does not answer at all.
    pub async fn check_db(&self, timeout: Duration) -> Result<(), DbCheckError> {
        match tokio::time::timeout(timeout, self.db.run(db::ping)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DbCheckError::Failed(e.message)),
            Err(_) => Err(DbCheckError::Hung(timeout)),
        }
    }

    /// [`App::check_db`] with its error as text (state file, `/health`).
    pub async fn self_check(&self, timeout: Duration) -> Result<(), String> {
        self.check_db(timeout).await.map_err(|e| e.to_string())
    }

    /// Writes `state/api.json` (no-op without a state file). `health`: the last self-check,
    /// `None` keeps the previous one.
    pub async fn write_state(&self, health: Option<Result<(), String>>, stopped: bool) {
        let history = self.control.history().await;
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sf) = g.as_mut() else { return };
        if let Some(h) = health {
            sf.state.healthy = h.is_ok();
            sf.state.last_error = h.err();
        }
        sf.state.web_dir_ok = self.settings.web_dir.join("index.html").is_file();
        sf.state.requests_total = self.requests.total();
        sf.state.control_requests = history;
        sf.state.stopped = stopped;
        sf.state.rss_kb = scalp_core::types::rss_kb();
        if let Err(e) = sf.writer.write(&sf.state) {
            tracing::warn!("cannot write {}: {e}", sf.writer.path().display());
        }
    }

    fn sim_state(&self) -> ApiResult<scalp_statefile::Envelope<SimulatorState>> {
        self.sim.borrow().clone().ok_or_else(|| {
            let p = self.settings.state_dir.join(SIM_FILE);
            let why = match files::read_json(&p) {
                Err(w) => w,
                Ok(_) => "not readable as the simulator schema".into(),
            };
            ApiError::unavailable(format!(
                "{}: {why} (is scalp-simulator running?)",
                p.display()
            ))
        })
    }

    fn check_strategy(&self, name: &str, param: &str) -> ApiResult<()> {
        if self.settings.strategies.iter().any(|s| s == name) {
            Ok(())
        } else {
            Err(ApiError::unprocessable(format!(
                "{param} `{}`: unknown strategy (strategies.toml has {})",
                name.chars().take(60).collect::<String>(),
                self.settings.strategies.join(", ")
            )))
        }
    }
}

// ------------------------------------------------------------------ router

/// The whole router.
pub fn router(app: Arc<App>) -> Router {
    let protected = Router::new()
        .route("/api/simulator/status", get(sim_status))
        .route("/api/simulator/trades", get(sim_trades))
        .route("/api/simulator/grid-state", get(grid_state))
        .route("/api/simulator/conditions", get(conditions))
        .route("/api/simulator/ranking", get(ranking))
        .route("/api/simulator/kill-switch/reset", post(sim_kill_reset))
        .route("/api/simulator/strategies/{name}/stop", post(sim_stop))
        .route("/api/simulator/strategies/{name}/start", post(sim_start))
        .route("/api/simulator/reset", post(sim_reset))
        .route("/api/executor/status", get(executor_status))
        .route("/api/executor/kill-switch/reset", post(executor_kill_reset))
        .route("/api/control/{request_id}", get(control_status))
        .route("/api/candles", get(candles))
        .route("/api/backtest/runs", get(backtest_runs))
        .route("/api/backtest/runs/{run_id}", get(backtest_run))
        .route("/api/optimization/runs", get(optimization_runs))
        .route("/api/optimization/runs/{run_id}", get(optimization_run))
        .route(
            "/api/optimization/runs/{run_id}/windows",
            get(optimization_windows),
        )
        .route("/api/optimization/results", get(optimization_results))
        .route("/metrics", get(metrics_text))
        .route("/ws/live", get(ws_live))
        .route_layer(middleware::from_fn_with_state(app.clone(), auth));
    let mut r = Router::new()
        .route("/health", get(health))
        .merge(protected)
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(app.clone(), record))
        .with_state(app.clone());
    if !app.settings.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = app
            .settings
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        r = r.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::HeaderName::from_static("x-api-key"),
                ]),
        );
    }
    r
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The key from `X-API-Key`, `Authorization: Bearer`, or (WebSocket) `?token=`.
fn given_key(headers: &HeaderMap, query: Option<&str>, ws: bool) -> Option<Vec<u8>> {
    if let Some(v) = headers.get("x-api-key") {
        return Some(v.as_bytes().to_vec());
    }
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let b = v.as_bytes();
        let rest = b
            .strip_prefix(b"Bearer ")
            .or_else(|| b.strip_prefix(b"bearer "))
            .unwrap_or(b"");
        return Some(rest.trim_ascii().to_vec());
    }
    if ws {
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if k == "token" {
                return Some(v.as_bytes().to_vec());
            }
        }
    }
    None
}

async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let ws = req.uri().path() == "/ws/live";
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    match given_key(req.headers(), req.uri().query(), ws) {
        None => {
            tracing::warn!(%peer, path = req.uri().path(), reason = "missing", "auth refused");
            ApiError::new(StatusCode::UNAUTHORIZED, MISSING_KEY).into_response()
        }
        Some(k) if !bool::from(sha256(&k).ct_eq(&app.key_hash)) => {
            tracing::warn!(%peer, path = req.uri().path(), reason = "wrong", "auth refused");
            ApiError::new(StatusCode::UNAUTHORIZED, WRONG_KEY).into_response()
        }
        Some(_) => next.run(req).await,
    }
}

async fn record(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "static".to_string());
    let t = Instant::now();
    let r = next.run(req).await;
    app.requests
        .record(&route, r.status().as_u16(), t.elapsed().as_secs_f64());
    r
}

async fn fallback(State(app): State<Arc<App>>, method: Method, uri: axum::http::Uri) -> Response {
    let p = uri.path();
    if p.starts_with("/api/") || p == "/api" || p.starts_with("/ws/") || p == "/metrics" {
        return ApiError::not_found(format!("no route {method} {p}")).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} not allowed on {p}"),
        )
        .into_response();
    }
    crate::web::serve(&app.settings.web_dir, p).await
}

type JsonResult = ApiResult<axum::Json<Value>>;
type BodyResult = ApiResult<Response>;

/// A serialized JSON answer (the database routes' cached bodies, the status route).
fn json_body(b: impl Into<axum::body::Body>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        b.into(),
    )
        .into_response()
}

fn ok(v: Value) -> JsonResult {
    Ok(axum::Json(v))
}

fn parse_id(raw: &str, name: &str) -> ApiResult<i64> {
    raw.parse::<i64>().map_err(|_| {
        ApiError::unprocessable(format!(
            "path parameter `{name}`: must be an integer (got `{}`)",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

// ------------------------------------------------------------------ health

async fn health(State(app): State<Arc<App>>) -> Response {
    let now = scalp_core::types::now_ms();
    let dbr = app.self_check(Duration::from_secs(5)).await;
    let sd = app.settings.state_dir.clone();
    let data_dir = app
        .settings
        .db_path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    let (daemons, collector, watchdog, disk) = tokio::task::spawn_blocking(move || {
        let mut daemons = Vec::new();
        let mut collector = Value::Null;
        let mut watchdog = Value::Null;
        for p in files::state_files(&sd) {
            let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
            let file = p.file_name().and_then(|s| s.to_str()).unwrap_or("").to_string();
            match files::read_json(&p) {
                Ok(m) => {
                    let age = m.get("written_at").and_then(Value::as_str).and_then(|w| files::age_s(w, now));
                    daemons.push(json!({"name": name, "file": file, "age_s": age,
                        "pid": m.get("pid"), "healthy": m.get("healthy")}));
                    if name == "collector" {
                        let streams = m.get("streams").and_then(Value::as_array);
                        let max_lag = streams
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.get("lag_ms").and_then(Value::as_i64))
                            .max();
                        collector = json!({"state_age_s": age, "healthy": m.get("healthy"),
                            "streams": streams.map_or(0, |s| s.len()), "max_lag_ms": max_lag});
                    }
                    if name == "watchdog" {
                        let anomalies = match m.get("anomalies") {
                            Some(Value::Object(o)) => o
                                .get("current")
                                .map(|c| match c {
                                    Value::Object(x) => x.len(),
                                    Value::Array(x) => x.len(),
                                    _ => 0,
                                })
                                .unwrap_or(0),
                            Some(Value::Array(a)) => a.len(),
                            _ => 0,
                        };
                        watchdog = json!({"age_s": age, "anomalies": anomalies, "telegram": m.get("telegram")});
                    }
                }
                Err(why) => daemons.push(json!({"name": name, "file": file, "age_s": null,
                    "pid": null, "healthy": null, "error": why})),
            }
        }
        let disk = files::disk_free(&data_dir)
            .map(|(pct, bytes)| json!({"free_pct": pct, "free_bytes": bytes}))
            .unwrap_or(Value::Null);
        (daemons, collector, watchdog, disk)
    })
    .await
    .unwrap_or_default();
    let body = json!({
        "ok": dbr.is_ok(),
        "version": env!("CARGO_PKG_VERSION"),
        "database": {"ok": dbr.is_ok(), "path": app.settings.db_path.display().to_string(), "error": dbr.err()},
        "collector": collector,
        "daemons": daemons,
        "disk": disk,
        "watchdog": watchdog,
    });
    axum::Json(body).into_response()
}

// ------------------------------------------------------------------ simulator

/// The envelope's fields (`version`, `seq`, `written_at`, `age_s`), then the payload's; the
/// payload is serialized once per new state file (`seq`, `written_at`), only `age_s` is made
/// per request.
async fn sim_status(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> BodyResult {
    Params::parse(q.as_deref(), &[])?;
    let made = {
        let g = app.sim.borrow();
        g.as_ref().map(|env| {
            let mut c = app.status_cache.lock().unwrap_or_else(|e| e.into_inner());
            let payload = match &*c {
                Some((seq, w, p)) if *seq == env.seq && *w == env.written_at => Ok(p.clone()),
                _ => serde_json::to_string(&env.payload).map(|p| {
                    let p = Arc::new(p);
                    *c = Some((env.seq, env.written_at.clone(), p.clone()));
                    p
                }),
            };
            let head = format!(
                "{{\"version\":{},\"seq\":{},\"written_at\":{},\"age_s\":{}",
                env.version,
                env.seq,
                json!(env.written_at),
                json!(files::age_s(&env.written_at, scalp_core::types::now_ms())),
            );
            payload.map(|p| (head, p))
        })
    };
    let (head, payload) = match made {
        None => {
            return Err(app
                .sim_state()
                .err()
                .unwrap_or_else(|| ApiError::unavailable("simulator state changed")));
        }
        Some(Err(e)) => {
            return Err(ApiError::internal(format!(
                "simulator state does not serialize: {e}"
            )));
        }
        Some(Ok(x)) => x,
    };
    let rest = payload.strip_prefix('{').unwrap_or("}");
    let sep = if rest.starts_with('}') { "" } else { "," };
    Ok(json_body(format!("{head}{sep}{rest}")))
}

async fn sim_trades(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> BodyResult {
    let p = Params::parse(q.as_deref(), &["limit", "strategy", "asset"])?;
    let limit = p.int("limit", Some(100), 1, 5000)?.unwrap_or(100);
    let strategy = p.str("strategy")?;
    let asset = p.str("asset")?;
    let key = format!("sim_trades|{limit}|{strategy:?}|{asset:?}");
    let body = app
        .db
        .cached(key, move |c| {
            let trades = db::sim_trades(c, limit, strategy.as_deref(), asset.as_deref())?;
            Ok(json!({ "trades": trades }))
        })
        .await?;
    Ok(json_body(body))
}

async fn grid_state(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> JsonResult {
    Params::parse(q.as_deref(), &[])?;
    let env = app.sim_state()?;
    let runners = env.payload.runners.clone();
    let r2 = runners.clone();
    let quote = app.settings.quote.clone();
    let closes = app
        .db
        .run(move |c| {
            let mut out = Vec::new();
            for r in &r2 {
                let sym = format!("{}{quote}", r.asset);
                let close = match (
                    db::series_key(&r.exchange, &sym, &r.timeframe),
                    r.last_open_time,
                ) {
                    (Some(k), Some(t)) => db::candles_tail(c, &k, t + 1, 1)?
                        .pop()
                        .filter(|x| x.open_time == t)
                        .map(|x| x.close),
                    _ => None,
                };
                out.push(close);
            }
            Ok(out)
        })
        .await?;
    let list: Vec<Value> = runners
        .iter()
        .zip(closes)
        .map(|(r, close)| {
            json!({"id": r.id, "strategy": r.strategy, "asset": r.asset, "timeframe": r.timeframe,
                   "last_close": close, "position": r.position, "levels": r.levels,
                   "halted": r.halted, "kill_switch": r.kill_switch})
        })
        .collect();
    ok(json!({"written_at": env.written_at, "runners": list}))
}

/// Candles of history behind `/api/simulator/conditions`' indicators: Wilder-smoothed RSI/ADX/ATR
/// settle well within 300 candles (TA-Lib's unstable period), and the regime window is 100.
const CONDITIONS_HISTORY: usize = 300;

/// The indicators the strategies read, at the newest stored candle (docs/API.md "conditions"):
/// RSI(14), ATR(14) and its % of close, ADX(14) with ±DI, SMA(20) and SMA(50) with the close's
/// distance to them in %, Bollinger(20, 2) %B and width %, z-score(20), and the regime label the
/// backtest gives a trade entered now (`scalp_backtest::regime::classify`, default thresholds).
/// A value without enough history is null.
fn indicators(candles: &[scalp_core::Candle]) -> Value {
    use scalp_indicators as ti;
    let Some(last) = candles.last() else {
        return Value::Null;
    };
    let close: Vec<f64> = candles.iter().map(|c| c.close).collect();
    let at = |v: &[f64]| v.last().copied().filter(|x| x.is_finite());
    let pct = |a: Option<f64>, b: f64| a.filter(|_| b != 0.0).map(|a| a / b * 100.0);
    let dist = |ma: Option<f64>| {
        ma.filter(|m| *m != 0.0)
            .map(|m| (last.close / m - 1.0) * 100.0)
    };
    let atr = at(&ti::volatility::atr(candles, 14));
    let dmi = ti::trend::adx(candles, 14);
    let sma20 = at(&ti::ma::sma(&close, 20));
    let sma50 = at(&ti::ma::sma(&close, 50));
    let bb = ti::volatility::bollinger(&close, 20, 2.0);
    let (up, low, mid) = (at(&bb.up), at(&bb.low), at(&bb.mid));
    let pct_b = match (up, low) {
        (Some(u), Some(l)) if u > l => Some((last.close - l) / (u - l)),
        _ => None,
    };
    let width = match (up, low, mid) {
        (Some(u), Some(l), Some(m)) if m != 0.0 => Some((u - l) / m * 100.0),
        _ => None,
    };
    let regime =
        scalp_backtest::regime::classify(candles, &scalp_backtest::config::RegimeConfig::default());
    json!({
        "open_time": last.open_time,
        "close": last.close,
        "rsi_14": at(&ti::oscillators::rsi(&close, 14)),
        "atr_14": atr,
        "atr_14_pct": pct(atr, last.close),
        "adx_14": at(&dmi.adx),
        "plus_di_14": at(&dmi.plus_di),
        "minus_di_14": at(&dmi.minus_di),
        "sma_20": sma20,
        "sma_50": sma50,
        "close_vs_sma_20_pct": dist(sma20),
        "close_vs_sma_50_pct": dist(sma50),
        "bb_20_2_pct_b": pct_b,
        "bb_20_2_width_pct": width,
        "zscore_20": at(&ti::volatility::zscore(&close, 20)),
        "regime": regime.as_str(),
        "candles": candles.len(),
    })
}

async fn conditions(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> JsonResult {
    Params::parse(q.as_deref(), &[])?;
    let env = app.sim_state()?;
    let runners = env.payload.runners.clone();
    let series = live::asset_series(&runners, &app.settings.quote);
    let data = app
        .db
        .run(move |c| {
            let mut out = Vec::new();
            for (asset, (ex, sym, tf)) in series {
                let Some(key) = db::series_key(&ex, &sym, &tf) else {
                    out.push((asset, ex, sym, tf, Vec::new(), None, Value::Null));
                    continue;
                };
                let tail = db::candles_tail(c, &key, i64::MAX, CONDITIONS_HISTORY)?;
                let spark = tail[tail.len().saturating_sub(48)..].to_vec();
                let ind = indicators(&tail);
                let day_ago = match spark.last() {
                    Some(l) => db::candles_tail(c, &key, l.open_time - 86_400_000 + 1, 1)?
                        .pop()
                        .map(|x| x.close),
                    None => None,
                };
                out.push((asset, ex, sym, tf, spark, day_ago, ind));
            }
            Ok(out)
        })
        .await?;
    let assets: Vec<Value> = data
        .into_iter()
        .map(|(asset, ex, sym, tf, spark, day_ago, ind)| {
            let last = spark.last().cloned();
            let last_close = last.as_ref().map(|c| c.close);
            let change = match (last_close, day_ago) {
                (Some(l), Some(d)) if d != 0.0 => Some((l / d - 1.0) * 100.0),
                _ => None,
            };
            let mine: Vec<&scalp_paper::state::RunnerState> =
                runners.iter().filter(|r| r.asset == asset).collect();
            let nearest = last_close.and_then(|lc| {
                mine.iter()
                    .flat_map(|r| r.levels.iter().map(move |l| (r, l)))
                    .min_by(|a, b| (a.1.price - lc).abs().total_cmp(&(b.1.price - lc).abs()))
                    .map(|(r, l)| {
                        json!({"runner_id": r.id, "side": l.side, "price": l.price,
                               "distance_pct": (l.price - lc) / lc * 100.0})
                    })
            });
            json!({
                "asset": asset, "exchange": ex, "symbol": sym, "timeframe": tf,
                "last_open_time": last.as_ref().map(|c| c.open_time),
                "last_close": last_close,
                "change_24h_pct": change,
                "sparkline": spark.iter().map(|c| c.close).collect::<Vec<_>>(),
                "nearest_level": nearest,
                "regime": ind.get("regime").cloned().unwrap_or(Value::Null),
                "indicators": ind,
                "positions": mine.iter().filter(|r| r.position.is_some()).count(),
                "runners": mine.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    ok(json!({ "assets": assets }))
}

async fn ranking(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> JsonResult {
    Params::parse(q.as_deref(), &[])?;
    let env = app.sim_state()?;
    ok(json!({"written_at": env.written_at, "ranking": env.payload.ranking}))
}

// ------------------------------------------------------------------ control

async fn submit(app: &Arc<App>, file: &str, action: Action) -> ApiResult<Value> {
    let s = app
        .control
        .submit(file, action)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    app.write_state(None, false).await;
    serde_json::to_value(&s).map_err(|e| ApiError::internal(e.to_string()))
}

fn accepted(v: Value) -> Response {
    (StatusCode::ACCEPTED, axum::Json(v)).into_response()
}

async fn sim_kill_reset(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = Params::parse(q.as_deref(), &["strategy"])?;
    let strategy = p.str("strategy")?;
    if let Some(s) = &strategy {
        app.check_strategy(s, "query parameter `strategy`")?;
    }
    Ok(accepted(
        submit(&app, SIMULATOR_FILE, Action::ResetKillSwitch { strategy }).await?,
    ))
}

async fn sim_stop(
    State(app): State<Arc<App>>,
    UrlPath(name): UrlPath<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    Params::parse(q.as_deref(), &[])?;
    app.check_strategy(&name, "path parameter `name`")?;
    Ok(accepted(
        submit(&app, SIMULATOR_FILE, Action::Stop { strategy: name }).await?,
    ))
}

async fn sim_start(
    State(app): State<Arc<App>>,
    UrlPath(name): UrlPath<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    Params::parse(q.as_deref(), &[])?;
    app.check_strategy(&name, "path parameter `name`")?;
    Ok(accepted(
        submit(&app, SIMULATOR_FILE, Action::Start { strategy: name }).await?,
    ))
}

async fn sim_reset(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let p = Params::parse(q.as_deref(), &["strategy", "force"])?;
    let strategy = p.str("strategy")?;
    let force = p.bool("force", false)?;
    if let Some(s) = &strategy {
        app.check_strategy(s, "query parameter `strategy`")?;
    }
    Ok(accepted(
        submit(&app, SIMULATOR_FILE, Action::Reset { strategy, force }).await?,
    ))
}

async fn executor_kill_reset(
    State(app): State<Arc<App>>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let p = Params::parse(q.as_deref(), &["strategy"])?;
    match p.str("strategy")? {
        Some(s) => {
            app.check_strategy(&s, "query parameter `strategy`")?;
            let file = control::executor_file(&s);
            Ok(accepted(
                submit(&app, &file, Action::ResetKillSwitch { strategy: Some(s) }).await?,
            ))
        }
        None => {
            let execs = files::executor_files(&app.settings.state_dir);
            if execs.is_empty() {
                return Err(ApiError::not_found(
                    "no executor state file (state/executor-*.json): no executor is running",
                ));
            }
            let mut out = Vec::new();
            for (s, _) in execs {
                let file = control::executor_file(&s);
                out.push(submit(&app, &file, Action::ResetKillSwitch { strategy: Some(s) }).await?);
            }
            Ok(accepted(json!({ "requests": out })))
        }
    }
}

async fn control_status(State(app): State<Arc<App>>, UrlPath(id): UrlPath<String>) -> JsonResult {
    match app.control.status(&id).await {
        Some(v) => ok(v),
        None => Err(ApiError::not_found(format!(
            "no control request `{}` (this API did not write it, or it is older than the last {})",
            id.chars().take(60).collect::<String>(),
            control::HISTORY
        ))),
    }
}

async fn executor_status(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> JsonResult {
    let p = Params::parse(q.as_deref(), &["strategy"])?;
    let only = p.str("strategy")?;
    let sd = app.settings.state_dir.clone();
    let list = tokio::task::spawn_blocking(move || {
        files::executors(&sd, only.as_deref(), scalp_core::types::now_ms())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    ok(json!({ "executors": list }))
}

// ------------------------------------------------------------------ candles

pub const MAX_CANDLES: i64 = 100_000;

async fn candles(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> BodyResult {
    let p = Params::parse(
        q.as_deref(),
        &["exchange", "symbol", "tf", "limit", "from", "to"],
    )?;
    let exchange = p.required("exchange")?;
    let symbol = p.required("symbol")?;
    let tf = p.required("tf")?;
    if exchange.parse::<scalp_core::Exchange>().is_err() {
        return Err(ApiError::param(
            "exchange",
            format!(
                "unknown exchange `{}` (binance, bitget, replay)",
                exchange.chars().take(40).collect::<String>()
            ),
        ));
    }
    if tf.parse::<scalp_core::Timeframe>().is_err() {
        return Err(ApiError::param(
            "tf",
            format!(
                "unknown timeframe `{}` (1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d)",
                tf.chars().take(40).collect::<String>()
            ),
        ));
    }
    let ranged = p.has("from") || p.has("to");
    if ranged && p.has("limit") {
        return Err(ApiError::param(
            "limit",
            "give either limit or from/to, not both",
        ));
    }
    let from = p.int("from", None, 0, i64::MAX)?;
    let to = p.int("to", None, 0, i64::MAX)?;
    if ranged && from.is_none() {
        return Err(ApiError::param("from", "required with `to`"));
    }
    let limit = p.int("limit", Some(500), 1, MAX_CANDLES)?.unwrap_or(500);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::param("to", "must be greater than `from`"));
    }
    let cache_key = format!("candles|{exchange}|{symbol}|{tf}|{from:?}|{to:?}|{limit}");
    let body = app
        .db
        .cached(cache_key, move |c| {
            let key = db::series_key(&exchange, &symbol, &tf).expect("checked above");
            let v = match from {
                Some(f) => {
                    db::candles_range(c, &key, f, to.unwrap_or(i64::MAX), MAX_CANDLES as usize)?
                }
                None => db::candles_tail(c, &key, i64::MAX, limit as usize)?,
            };
            let rows = v.iter().map(db::candle_row).collect::<Vec<_>>();
            Ok(json!({"exchange": exchange, "symbol": symbol, "timeframe": tf, "candles": rows}))
        })
        .await?;
    Ok(json_body(body))
}

// ------------------------------------------------------------------ backtests

async fn backtest_runs(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> BodyResult {
    let p = Params::parse(q.as_deref(), &["strategy", "symbol", "limit", "offset"])?;
    let strategy = p.str("strategy")?;
    let symbol = p.str("symbol")?;
    let limit = p.int("limit", Some(50), 1, 500)?.unwrap_or(50);
    let offset = p.int("offset", Some(0), 0, i64::MAX)?.unwrap_or(0);
    let key = format!("backtest_runs|{strategy:?}|{symbol:?}|{limit}|{offset}");
    let body = app
        .db
        .cached(key, move |c| {
            let (total, runs) =
                db::backtest_runs(c, strategy.as_deref(), symbol.as_deref(), limit, offset)?;
            Ok(json!({"total": total, "limit": limit, "offset": offset, "runs": runs}))
        })
        .await?;
    Ok(json_body(body))
}

async fn backtest_run(State(app): State<Arc<App>>, UrlPath(raw): UrlPath<String>) -> BodyResult {
    let id = parse_id(&raw, "run_id")?;
    let body = app
        .db
        .cached(format!("backtest_run|{id}"), move |c| {
            db::backtest_run(c, id)?
                .ok_or_else(|| ApiError::not_found(format!("no backtest run {id}")))
        })
        .await?;
    Ok(json_body(body))
}

// ------------------------------------------------------------------ optimization

async fn optimization_runs(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> BodyResult {
    let p = Params::parse(
        q.as_deref(),
        &["strategy", "symbol", "status", "limit", "offset"],
    )?;
    let strategy = p.str("strategy")?;
    let symbol = p.str("symbol")?;
    let status = p.str("status")?;
    if let Some(s) = &status
        && !["running", "completed", "failed"].contains(&s.as_str())
    {
        return Err(ApiError::param(
            "status",
            format!(
                "must be running, completed or failed (got `{}`)",
                s.chars().take(40).collect::<String>()
            ),
        ));
    }
    let limit = p.int("limit", Some(50), 1, 500)?.unwrap_or(50);
    let offset = p.int("offset", Some(0), 0, i64::MAX)?.unwrap_or(0);
    let key = format!("optimization_runs|{strategy:?}|{symbol:?}|{status:?}|{limit}|{offset}");
    let body = app
        .db
        .cached(key, move |c| {
            let (total, runs) = db::optimization_runs(
                c,
                strategy.as_deref(),
                symbol.as_deref(),
                status.as_deref(),
                limit,
                offset,
            )?;
            Ok(json!({"total": total, "limit": limit, "offset": offset, "runs": runs}))
        })
        .await?;
    Ok(json_body(body))
}

async fn optimization_run(
    State(app): State<Arc<App>>,
    UrlPath(raw): UrlPath<String>,
) -> BodyResult {
    let id = parse_id(&raw, "run_id")?;
    let body = app
        .db
        .cached(format!("optimization_run|{id}"), move |c| {
            db::optimization_run(c, id)?
                .ok_or_else(|| ApiError::not_found(format!("no optimization run {id}")))
        })
        .await?;
    Ok(json_body(body))
}

async fn optimization_windows(
    State(app): State<Arc<App>>,
    UrlPath(raw): UrlPath<String>,
) -> BodyResult {
    let id = parse_id(&raw, "run_id")?;
    let body = app
        .db
        .cached(format!("optimization_windows|{id}"), move |c| {
            if !db::run_exists(c, id)? {
                return Err(ApiError::not_found(format!("no optimization run {id}")));
            }
            let w = db::optimization_windows(c, id)?;
            Ok(json!({"run_id": id, "windows": w}))
        })
        .await?;
    Ok(json_body(body))
}

async fn optimization_results(State(app): State<Arc<App>>, RawQuery(q): RawQuery) -> BodyResult {
    let p = Params::parse(q.as_deref(), &["latest", "strategy", "symbol", "limit"])?;
    let latest = p.bool("latest", true)?;
    let strategy = p.str("strategy")?;
    let symbol = p.str("symbol")?;
    let limit = p.int("limit", Some(500), 1, 5000)?.unwrap_or(500);
    let key = format!("optimization_results|{latest}|{strategy:?}|{symbol:?}|{limit}");
    let body = app
        .db
        .cached(key, move |c| {
            let rows =
                db::optimization_results(c, latest, strategy.as_deref(), symbol.as_deref(), limit)?;
            Ok(json!({ "results": rows }))
        })
        .await?;
    Ok(json_body(body))
}

// ------------------------------------------------------------------ metrics, ws

async fn metrics_text(State(app): State<Arc<App>>) -> ApiResult<Response> {
    let sd = app.settings.state_dir.clone();
    let samples = tokio::task::spawn_blocking(move || {
        let now = scalp_core::types::now_ms();
        files::state_files(&sd)
            .into_iter()
            .map(|p| {
                let daemon = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("")
                    .to_string();
                let payload = files::read_json(&p).ok();
                let age_s = payload
                    .as_ref()
                    .and_then(|m| m.get("written_at"))
                    .and_then(Value::as_str)
                    .and_then(|w| files::age_s(w, now));
                StateSample {
                    daemon,
                    age_s,
                    payload,
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let body = metrics::render(&app.requests, &samples);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

async fn ws_live(
    State(app): State<Arc<App>>,
    RawQuery(q): RawQuery,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    Params::parse(q.as_deref(), &["token"])?;
    let rx = app.live.clone();
    Ok(ws.on_upgrade(move |socket| live_socket(socket, rx)))
}

async fn live_socket(mut socket: WebSocket, mut rx: watch::Receiver<Arc<String>>) {
    // The first message: the current one (or, just after start, the first build).
    loop {
        let cur = rx.borrow_and_update().clone();
        if !cur.is_empty() {
            if socket
                .send(Message::Text(cur.as_str().into()))
                .await
                .is_err()
            {
                return;
            }
            break;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                let msg = rx.borrow_and_update().clone();
                if socket.send(Message::Text(msg.as_str().into())).await.is_err() {
                    return;
                }
            }
            m = socket.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
