//! The scalp-syncd HTTP server (feature `server`): three routes, insert-only.
//!
//! - `POST /api/optimization/results`, `POST /api/portfolio/results`: header `X-API-Key`,
//!   JSON body → 201 `{"status":"created"}` / 200 `{"status":"already_exists"}`; 401 (missing
//!   key, wrong key, server without key), 415 (content type), 413 (body limit), 400 (malformed
//!   JSON), 422 (fields), 503 (database).
//! - `GET /health`: `{"ok", "db", "rows": {...}, "version", "sync_enabled"}`.
//! - Any other method on these paths: 405; any other path: 404.
//!
//! SQLite is blocking, so one dedicated thread owns the connection ([`DbHandle`]). It drains
//! the queue into group commits: one `BEGIN IMMEDIATE` per batch, one `SAVEPOINT` per request
//! (the safe insert of [`crate::db::apply_result`]), one `COMMIT`, then the answers. A request's
//! rows are all-or-nothing; if the commit fails, every request of the batch gets a 503.

use crate::db::{self, InsertOutcome, Schema, Source};
use crate::payload::{FieldError, OptimizationResult, PayloadError, PortfolioBacktest};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use rusqlite::{Connection, TransactionBehavior};
use scalp_core::secrets::Secret;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, oneshot};

/// Most requests grouped in one commit.
pub const MAX_BATCH: usize = 256;

/// The message of a 401 when the server itself has no key.
pub const NO_SERVER_KEY: &str = "sync is disabled on this server: SCALP_SYNC_API_KEY is empty";

type Reply<T> = oneshot::Sender<Result<T, DbError>>;

/// Why the database thread did not do what was asked (the answer of a [`DbHandle`] call).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// The thread has ended (the daemon is stopping).
    #[error("database thread stopped")]
    Stopped,
    /// The group commit could not start (`BEGIN IMMEDIATE`): every write of the batch fails.
    #[error("database busy or unavailable: {0}")]
    Unavailable(Arc<rusqlite::Error>),
    /// The group commit failed: every write of the batch fails.
    #[error("database commit failed: {0}")]
    Commit(Arc<rusqlite::Error>),
    /// This one write or query failed (the others of its batch are unaffected).
    #[error("database error: {0}")]
    Query(Arc<rusqlite::Error>),
    /// The thread did not answer in time (a self-check).
    #[error("database thread did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

enum Job {
    Result(Box<OptimizationResult>, Reply<InsertOutcome>),
    Portfolio(Box<PortfolioBacktest>, Reply<InsertOutcome>),
    Counts(Reply<(i64, i64)>),
    Ping(Reply<()>),
}

/// Why [`DbHandle::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Reading which tables and columns the database has (`db::Schema::detect`).
    #[error(transparent)]
    Schema(rusqlite::Error),
    /// The OS refused the database thread.
    #[error(transparent)]
    Spawn(std::io::Error),
}

/// Handle to the database thread. Cloning is cheap; the thread ends when every handle is dropped.
#[derive(Clone)]
pub struct DbHandle {
    tx: mpsc::Sender<Job>,
}

impl DbHandle {
    /// Starts the database thread on an open connection (schema already migrated).
    pub fn start(conn: Connection) -> Result<(DbHandle, std::thread::JoinHandle<()>), StartError> {
        let schema = Schema::detect(&conn).map_err(StartError::Schema)?;
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let t = std::thread::Builder::new()
            .name("syncd-db".into())
            .spawn(move || db_thread(conn, schema, rx))
            .map_err(StartError::Spawn)?;
        Ok((DbHandle { tx }, t))
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, DbError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| DbError::Stopped)?;
        rx.await.map_err(|_| DbError::Stopped)?
    }

    pub async fn insert_result(&self, r: OptimizationResult) -> Result<InsertOutcome, DbError> {
        self.call(|tx| Job::Result(Box::new(r), tx)).await
    }

    pub async fn insert_portfolio(&self, p: PortfolioBacktest) -> Result<InsertOutcome, DbError> {
        self.call(|tx| Job::Portfolio(Box::new(p), tx)).await
    }

    /// `(optimization_results, portfolio_backtests)` row counts; also proves the thread answers.
    pub async fn counts(&self) -> Result<(i64, i64), DbError> {
        self.call(Job::Counts).await
    }

    /// `true` if the database thread answers a trivial query (`SELECT 1`) within `timeout`
    /// (the watchdog self-check: cheap whatever the table sizes).
    pub async fn ping(&self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.call(Job::Ping)).await,
            Ok(Ok(()))
        )
    }
}

/// A write waiting for the next group commit.
enum Write {
    Result(Box<OptimizationResult>),
    Portfolio(Box<PortfolioBacktest>),
}

fn db_thread(mut conn: Connection, schema: Schema, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut writes: Vec<(Write, Reply<InsertOutcome>)> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        for job in batch.drain(..) {
            match job {
                Job::Counts(reply) => {
                    let _ = reply.send(db::counts(&conn).map_err(|e| DbError::Query(Arc::new(e))));
                }
                Job::Ping(reply) => {
                    let r = conn.query_row("SELECT 1", [], |_| Ok(()));
                    let _ = reply.send(r.map_err(|e| DbError::Query(Arc::new(e))));
                }
                Job::Result(r, reply) => writes.push((Write::Result(r), reply)),
                Job::Portfolio(p, reply) => writes.push((Write::Portfolio(p), reply)),
            }
        }
        if !writes.is_empty() {
            write_batch(&mut conn, schema, &mut writes);
        }
    }
}

/// One group commit: `BEGIN IMMEDIATE`, a savepoint per write, `COMMIT`, then the answers.
fn write_batch(
    conn: &mut Connection,
    schema: Schema,
    jobs: &mut Vec<(Write, Reply<InsertOutcome>)>,
) {
    let fail_all = |jobs: &mut Vec<(Write, Reply<InsertOutcome>)>, e: DbError| {
        for (_, reply) in jobs.drain(..) {
            let _ = reply.send(Err(e.clone()));
        }
    };
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(t) => t,
        Err(e) => return fail_all(jobs, DbError::Unavailable(Arc::new(e))),
    };
    let mut outcomes: Vec<Result<InsertOutcome, DbError>> = Vec::with_capacity(jobs.len());
    for (w, _) in jobs.iter() {
        let one = (|| -> rusqlite::Result<InsertOutcome> {
            let sp = tx.savepoint_with_name("item")?;
            let out = match w {
                Write::Result(r) => db::apply_result(&sp, schema, r, Source::Server)?,
                Write::Portfolio(p) => db::apply_portfolio(&sp, schema, p, Source::Server)?,
            };
            sp.commit()?;
            Ok(out)
        })();
        outcomes.push(one.map_err(|e| DbError::Query(Arc::new(e))));
    }
    if let Err(e) = tx.commit() {
        return fail_all(jobs, DbError::Commit(Arc::new(e)));
    }
    for ((_, reply), out) in jobs.drain(..).zip(outcomes) {
        let _ = reply.send(out);
    }
}

/// Shared state of the handlers.
pub struct App {
    key_hash: Option<[u8; 32]>,
    max_body_bytes: usize,
    db: DbHandle,
}

impl App {
    /// `key`: the server's `SCALP_SYNC_API_KEY` (`None` = every POST is refused with
    /// [`NO_SERVER_KEY`]). Only its SHA-256 is kept.
    pub fn new(key: Option<&Secret>, max_body_bytes: usize, db: DbHandle) -> Arc<App> {
        Arc::new(App {
            key_hash: key
                .filter(|k| !k.is_empty())
                .map(|k| sha256(k.expose().as_bytes())),
            max_body_bytes,
            db,
        })
    }

    pub fn db(&self) -> &DbHandle {
        &self.db
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// The router (needs `ConnectInfo<SocketAddr>`: serve it with [`serve`]).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/optimization/results", post(post_result))
        .route("/api/portfolio/results", post(post_portfolio))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(app)
}

/// Serves `router(app)` on `listener` until `shutdown` resolves, then finishes in-flight
/// requests (graceful shutdown).
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

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    reply(status, json!({"status": "error", "error": msg.into()}))
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no route {method} {}", uri.path()),
    )
}

/// Auth, content type, size, then the body bytes.
async fn precheck(
    app: &App,
    peer: SocketAddr,
    route: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, Response> {
    let Some(expected) = &app.key_hash else {
        tracing::warn!(%peer, route, reason = "server has no key", "auth ko");
        return Err(error(StatusCode::UNAUTHORIZED, NO_SERVER_KEY));
    };
    let given = match headers.get("x-api-key") {
        None => {
            tracing::warn!(%peer, route, reason = "missing X-API-Key", "auth ko");
            return Err(error(StatusCode::UNAUTHORIZED, "missing X-API-Key header"));
        }
        Some(v) => v.as_bytes(),
    };
    if !bool::from(sha256(given).ct_eq(expected)) {
        tracing::warn!(%peer, route, reason = "wrong key", "auth ko");
        return Err(error(StatusCode::UNAUTHORIZED, "wrong API key"));
    }
    tracing::debug!(%peer, route, "auth ok");

    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json")))
    {
        let shown = if ct.is_empty() {
            "none".to_string()
        } else {
            format!("`{}`", ct.chars().take(80).collect::<String>())
        };
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json (got {shown})"),
        ));
    }
    let too_big = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body larger than the server limit of {} bytes ([syncd].max_body_bytes)",
                app.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body_bytes as u64) {
        return Err(too_big());
    }
    match http_body_util::Limited::new(body, app.max_body_bytes)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_big())
        }
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        )),
    }
}

fn payload_error(e: PayloadError) -> Response {
    match e {
        PayloadError::Malformed(m) => {
            error(StatusCode::BAD_REQUEST, format!("malformed JSON: {m}"))
        }
        PayloadError::Invalid(errs) => invalid(errs),
    }
}

fn invalid(errs: Vec<FieldError>) -> Response {
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"status": "invalid", "error": crate::payload::summarize(&errs), "fields": errs}),
    )
}

fn stored(out: Result<InsertOutcome, DbError>, what: &str) -> Response {
    match out {
        Ok(InsertOutcome::Created { id, latest }) => {
            tracing::info!(id, latest, result = what, "RESULT CREATED");
            reply(StatusCode::CREATED, json!({"status": "created"}))
        }
        Ok(InsertOutcome::AlreadyExists) => {
            tracing::debug!(result = what, "result already exists");
            reply(StatusCode::OK, json!({"status": "already_exists"}))
        }
        Err(e) => {
            tracing::error!(result = what, "cannot store: {e}");
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
}

async fn post_result(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match precheck(&app, peer, "results", &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let r = match OptimizationResult::from_body(&bytes) {
        Ok(r) => r,
        Err(e) => return payload_error(e),
    };
    let what = r.label();
    stored(app.db.insert_result(r).await, &what)
}

async fn post_portfolio(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match precheck(&app, peer, "portfolio", &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let p = match PortfolioBacktest::from_body(&bytes) {
        Ok(p) => p,
        Err(e) => return payload_error(e),
    };
    let what = p.label();
    stored(app.db.insert_portfolio(p).await, &what)
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let counts = tokio::time::timeout(Duration::from_secs(5), app.db.counts()).await;
    let version = env!("CARGO_PKG_VERSION");
    let enabled = app.key_hash.is_some();
    match counts {
        Ok(Ok((r, p))) => reply(
            StatusCode::OK,
            json!({"ok": true, "db": true, "version": version, "sync_enabled": enabled,
                   "rows": {"optimization_results": r, "portfolio_backtests": p}}),
        ),
        Ok(Err(e)) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ok": false, "db": false, "version": version, "sync_enabled": enabled, "error": e.to_string()}),
        ),
        Err(_) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ok": false, "db": false, "version": version, "sync_enabled": enabled,
                   "error": DbError::Timeout(Duration::from_secs(5)).to_string()}),
        ),
    }
}
