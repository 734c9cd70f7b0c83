//! The Telegram Bot API stand-in: `POST|GET /bot<token>/sendMessage` and `/bot<token>/getUpdates`
//! in the exact Bot API bodies (exchanges-private.md §4), with fault injection.
//!
//! ```no_run
//! use scalp_e2e::standin::telegram::{Outage, TelegramStandIn, TgConfig, TgFault};
//! let tg = TelegramStandIn::start(TgConfig::default());
//! let base_url = tg.url();                       // http://127.0.0.1:<port>
//! tg.inject(TgFault::RateLimit { retry_after_s: 2, count: 1 });
//! tg.inject(TgFault::Outage(Outage::Refused));   // the port stops listening
//! tg.inject(TgFault::Restore);                   // listening again, same port
//! tg.push_update(123456789, "/status");          // an incoming message for getUpdates
//! let sent = tg.messages();                      // every accepted sendMessage
//! ```
//!
//! Behaviour, as the real server (§4.1, §4.2):
//! - Request parameters from the query string, a JSON body or a form body; the method name is
//!   case-insensitive.
//! - A token without `:` → 404 `Not Found`; another wrong token → 401 `Unauthorized`; an
//!   unknown method → 404 `Not Found: method not found`.
//! - `sendMessage`: `parse_mode` `HTML` is parsed (tags `b strong i em u ins s strike del a code
//!   pre blockquote tg-spoiler span`, entities `&lt; &gt; &amp; &quot; &#N; &#xN;`), an
//!   unsupported or unbalanced tag gives 400 `can't parse entities: …`; the text after entity
//!   parsing must be 1–4096 UTF-16 code units (400 `message text is empty` /
//!   `message is too long`); the reply carries the plain text and its `entities` (UTF-16
//!   offsets). Chats in `TgConfig::known_chats` only (empty = any) else 400 `chat not found`.
//! - `getUpdates`: a queue of injected updates; a call confirms (deletes) every update with
//!   `update_id < offset`, returns up to `limit` of the rest, or holds the request up to
//!   `timeout` seconds (capped at 50) for one to arrive; a second concurrent poller gets 409.
//!
//! The JSON object keys come out sorted (serde_json without `preserve_order`), not in
//! `JsonMessage::store`'s order; clients must not depend on key order anyway.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode, Uri};
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Stand-in settings.
#[derive(Debug, Clone)]
pub struct TgConfig {
    /// The one valid token.
    pub token: String,
    pub bot_id: i64,
    pub bot_username: String,
    /// Chats `sendMessage` accepts (empty = any).
    pub known_chats: Vec<i64>,
}

impl Default for TgConfig {
    fn default() -> Self {
        TgConfig {
            token: "7000000001:AAH-standin-token-0123456789abcdefghij".into(),
            bot_id: 7000000001,
            bot_username: "scalp_radar_bot".into(),
            known_chats: Vec::new(),
        }
    }
}

/// How the server is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Nothing listens on the port (connections refused), open connections are cut.
    Refused,
    /// Every request gets 502 with nginx's HTML page (Telegram's front end).
    BadGateway,
}

/// A fault to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TgFault {
    /// The next `count` requests get 429 `Too Many Requests: retry after N` with
    /// `parameters.retry_after`.
    RateLimit { retry_after_s: u64, count: u32 },
    /// Down until [`TgFault::Restore`].
    Outage(Outage),
    /// Ends an outage (re-listens on the same port).
    Restore,
    /// Every request is answered only after `ms` (0 = back to normal).
    Slow { ms: u64 },
    /// The next `count` requests get `status` with a Bot API error body (e.g. 500).
    Http { status: u16, count: u32 },
    /// The next `count` requests get HTTP 200 with a body that is not JSON.
    Malformed { count: u32 },
}

/// One accepted `sendMessage`.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub message_id: i64,
    /// As sent (`123` or `"@channel"`).
    pub chat_id: Value,
    /// The `text` parameter as received (HTML).
    pub text: String,
    /// The text after entity parsing (what the user sees).
    pub plain: String,
    pub parse_mode: Option<String>,
    /// `link_preview_options.is_disabled` or `disable_web_page_preview`.
    pub preview_disabled: bool,
    pub at: Instant,
}

/// One request, whatever its outcome (refused connections are not seen, of course).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TgRequest {
    /// Lower-cased method (`sendmessage`, `getupdates`), or the raw path when unparsable.
    pub method: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
struct Faults {
    rate_limit: Option<(u64, u32)>,
    outage: Option<Outage>,
    slow_ms: u64,
    http: Option<(u16, u32)>,
    malformed: u32,
}

struct Shared {
    cfg: TgConfig,
    faults: Mutex<Faults>,
    sent: Mutex<Vec<SentMessage>>,
    log: Mutex<Vec<TgRequest>>,
    updates: Mutex<VecDeque<Value>>,
    arrived: Notify,
    polling: AtomicBool,
    next_update: AtomicI64,
    next_message: AtomicI64,
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// The running stand-in. Dropping it stops the server.
pub struct TelegramStandIn {
    shared: Arc<Shared>,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
}

impl Drop for TelegramStandIn {
    fn drop(&mut self) {
        self.stop_server();
    }
}

impl TelegramStandIn {
    /// Starts on a random 127.0.0.1 port, on its own thread and tokio runtime (works from
    /// plain `#[test]`s and from inside a test's runtime).
    pub fn start(cfg: TgConfig) -> TelegramStandIn {
        let shared = Arc::new(Shared {
            cfg,
            faults: Mutex::new(Faults::default()),
            sent: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            updates: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            polling: AtomicBool::new(false),
            next_update: AtomicI64::new(815_000_123),
            next_message: AtomicI64::new(42),
        });
        let (addr, running) =
            serve(shared.clone(), 0).unwrap_or_else(|e| panic!("telegram stand-in: {e}"));
        TelegramStandIn {
            shared,
            addr,
            running: Mutex::new(Some(running)),
        }
    }

    /// `http://127.0.0.1:<port>` (the `base_url` of a client).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn token(&self) -> &str {
        &self.shared.cfg.token
    }

    pub fn config(&self) -> &TgConfig {
        &self.shared.cfg
    }

    fn stop_server(&self) {
        if let Some(r) = self.running.lock().unwrap().take() {
            let _ = r.stop.send(());
            let _ = r.thread.join();
        }
    }

    pub fn inject(&self, fault: TgFault) {
        match fault {
            TgFault::Outage(Outage::Refused) => {
                self.shared.faults.lock().unwrap().outage = Some(Outage::Refused);
                self.stop_server();
            }
            TgFault::Outage(Outage::BadGateway) => {
                self.shared.faults.lock().unwrap().outage = Some(Outage::BadGateway);
            }
            TgFault::Restore => {
                let was = self.shared.faults.lock().unwrap().outage.take();
                if was == Some(Outage::Refused) || self.running.lock().unwrap().is_none() {
                    let (_, running) = serve(self.shared.clone(), self.addr.port())
                        .unwrap_or_else(|e| panic!("telegram stand-in re-listen: {e}"));
                    *self.running.lock().unwrap() = Some(running);
                }
            }
            TgFault::RateLimit {
                retry_after_s,
                count,
            } => self.shared.faults.lock().unwrap().rate_limit = Some((retry_after_s, count)),
            TgFault::Slow { ms } => self.shared.faults.lock().unwrap().slow_ms = ms,
            TgFault::Http { status, count } => {
                self.shared.faults.lock().unwrap().http = Some((status, count))
            }
            TgFault::Malformed { count } => self.shared.faults.lock().unwrap().malformed += count,
        }
    }

    /// Every accepted `sendMessage`, in order.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.shared.sent.lock().unwrap().clone()
    }

    /// The plain texts of the accepted messages, in order.
    pub fn texts(&self) -> Vec<String> {
        self.messages().into_iter().map(|m| m.plain).collect()
    }

    /// Every request seen, in arrival order.
    pub fn requests(&self) -> Vec<TgRequest> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Queues an incoming text message from `chat_id` (a private chat for ids > 0, a group
    /// otherwise); returns its `update_id`.
    pub fn push_update(&self, chat_id: i64, text: &str) -> i64 {
        let id = self.shared.next_update.fetch_add(1, Ordering::SeqCst);
        let mid = self.shared.next_message.fetch_add(1, Ordering::SeqCst);
        let chat = if chat_id > 0 {
            json!({"id": chat_id, "first_name": "Op", "username": "op", "type": "private"})
        } else {
            json!({"id": chat_id, "title": "Ops", "type": if chat_id < -1_000_000_000_000 {"supergroup"} else {"group"}})
        };
        let mut msg = json!({
            "message_id": mid,
            "from": {"id": chat_id.abs(), "is_bot": false, "first_name": "Op", "username": "op", "language_code": "en"},
            "chat": chat,
            "date": scalp_core::types::now_ms() / 1000,
            "text": text,
        });
        if text.starts_with('/') {
            let cmd_len: usize = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .encode_utf16()
                .count();
            msg["entities"] = json!([{"offset": 0, "length": cmd_len, "type": "bot_command"}]);
        }
        self.shared
            .updates
            .lock()
            .unwrap()
            .push_back(json!({"update_id": id, "message": msg}));
        self.shared.arrived.notify_waiters();
        id
    }

    /// Updates not yet confirmed by an `offset`.
    pub fn pending_updates(&self) -> usize {
        self.shared.updates.lock().unwrap().len()
    }
}

fn serve(shared: Arc<Shared>, port: u16) -> std::io::Result<(SocketAddr, Running)> {
    let router = Router::new().fallback(handle).with_state(shared);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<std::io::Result<SocketAddr>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("standin-telegram".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = addr_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                let _ = addr_tx.send(listener.local_addr());
                tokio::select! {
                    _ = axum::serve(listener, router) => {}
                    _ = stop_rx => {}
                }
            });
            // dropping the runtime ends every open connection
        })?;
    let addr = addr_rx
        .recv()
        .map_err(|_| std::io::Error::other("stand-in thread ended before binding"))??;
    Ok((
        addr,
        Running {
            stop: stop_tx,
            thread,
        },
    ))
}

fn reply(status: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn error_body(code: u16, description: &str) -> String {
    json!({"ok": false, "error_code": code, "description": description}).to_string()
}

fn ok_body(result: Value) -> String {
    json!({"ok": true, "result": result}).to_string()
}

const BAD_GATEWAY: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query string, form body or JSON body → one parameter map (JSON values; form values that
/// are JSON, like `allowed_updates`, are parsed).
fn params(uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Map<String, Value> {
    let mut m = Map::new();
    let mut form = |s: &str| {
        for pair in s.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            let val = match k {
                "text" | "parse_mode" => Value::String(v),
                _ => serde_json::from_str(&v).unwrap_or(Value::String(v)),
            };
            m.insert(percent_decode(k), val);
        }
    };
    if let Some(q) = uri.query() {
        form(q);
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
            m.extend(o);
        }
    } else if !body.is_empty() {
        form(&String::from_utf8_lossy(body));
    }
    m
}

async fn handle(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let path = uri.path().to_string();
    let (token, method) = match path.strip_prefix("/bot").and_then(|r| r.split_once('/')) {
        Some((t, m)) if !m.contains('/') => (t.to_string(), m.to_ascii_lowercase()),
        _ => {
            return record(&s, &path, 404, error_body(404, "Not Found"));
        }
    };
    let slow = s.faults.lock().unwrap().slow_ms;
    if slow > 0 {
        tokio::time::sleep(Duration::from_millis(slow)).await;
    }
    // faults, in order: outage, rate limit, HTTP status, malformed body
    {
        let mut f = s.faults.lock().unwrap();
        if f.outage == Some(Outage::BadGateway) {
            drop(f);
            let r = Response::builder()
                .status(502)
                .header("content-type", "text/html")
                .body(Body::from(BAD_GATEWAY))
                .unwrap();
            log(&s, &method, 502);
            return r;
        }
        if let Some((ra, n)) = f.rate_limit {
            f.rate_limit = (n > 1).then(|| (ra, n - 1));
            drop(f);
            let body = json!({"ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {ra}"),
                "parameters": {"retry_after": ra}})
            .to_string();
            return record(&s, &method, 429, body);
        }
        if let Some((st, n)) = f.http {
            f.http = (n > 1).then(|| (st, n - 1));
            drop(f);
            let desc = match st {
                500 => "Internal Server Error",
                502 => "Bad Gateway",
                503 => "Service Unavailable",
                504 => "Gateway Timeout",
                _ => "Error",
            };
            return record(&s, &method, st, error_body(st, desc));
        }
        if f.malformed > 0 {
            f.malformed -= 1;
            drop(f);
            return record(&s, &method, 200, "{\"ok\":tru".into());
        }
    }
    if !token.contains(':') {
        return record(&s, &method, 404, error_body(404, "Not Found"));
    }
    if token != s.cfg.token {
        return record(&s, &method, 401, error_body(401, "Unauthorized"));
    }
    let p = params(&uri, &headers, &body);
    match method.as_str() {
        "sendmessage" => send_message(&s, &method, p),
        "getupdates" => get_updates(&s, &method, p).await,
        _ => record(
            &s,
            &method,
            404,
            error_body(404, "Not Found: method not found"),
        ),
    }
}

fn log(s: &Shared, method: &str, status: u16) {
    s.log.lock().unwrap().push(TgRequest {
        method: method.to_string(),
        status,
        at: Instant::now(),
    });
}

fn record(s: &Shared, method: &str, status: u16, body: String) -> Response<Body> {
    log(s, method, status);
    reply(status, body)
}

fn send_message(s: &Shared, method: &str, p: Map<String, Value>) -> Response<Body> {
    let bad = |d: &str| {
        record(
            s,
            method,
            400,
            error_body(400, &format!("Bad Request: {d}")),
        )
    };
    let chat_id = match p.get("chat_id") {
        Some(Value::Number(n)) => Value::Number(n.clone()),
        Some(Value::String(t)) if !t.is_empty() => match t.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => Value::String(t.clone()),
        },
        _ => return bad("chat_id is empty"),
    };
    if let Some(id) = chat_id.as_i64()
        && !s.cfg.known_chats.is_empty()
        && !s.cfg.known_chats.contains(&id)
    {
        return bad("chat not found");
    }
    let text = p
        .get("text")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let parse_mode = p
        .get("parse_mode")
        .and_then(|v| v.as_str())
        .map(String::from);
    let (plain, entities) = match parse_mode
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") => (text.clone(), Vec::new()),
        Some("html") => match parse_html(&text) {
            Ok(x) => x,
            Err(e) => return bad(&format!("can't parse entities: {e}")),
        },
        Some("markdown") | Some("markdownv2") => (text.clone(), Vec::new()),
        Some(_) => return bad("unsupported parse_mode"),
    };
    if plain.trim().is_empty() {
        return bad("message text is empty");
    }
    if plain.encode_utf16().count() > 4096 {
        return bad("message is too long");
    }
    let preview_disabled = p
        .get("link_preview_options")
        .and_then(|v| match v {
            Value::String(t) => serde_json::from_str::<Value>(t).ok(),
            v => Some(v.clone()),
        })
        .and_then(|v| v.get("is_disabled").and_then(|b| b.as_bool()))
        .or_else(|| p.get("disable_web_page_preview").and_then(|b| b.as_bool()))
        .unwrap_or(false);
    let message_id = s.next_message.fetch_add(1, Ordering::SeqCst);
    let chat = match chat_id.as_i64() {
        Some(id) if id > 0 => {
            json!({"id": id, "first_name": "Op", "username": "op", "type": "private"})
        }
        Some(id) => json!({"id": id, "title": "Ops", "type": "supergroup"}),
        None => json!({"id": -1001000000001i64, "title": "Channel", "type": "channel",
            "username": chat_id.as_str().unwrap_or("").trim_start_matches('@')}),
    };
    let mut result = json!({
        "message_id": message_id,
        "from": {"id": s.cfg.bot_id, "is_bot": true, "first_name": "ScalpRadar", "username": s.cfg.bot_username},
        "chat": chat,
        "date": scalp_core::types::now_ms() / 1000,
        "text": plain,
    });
    if !entities.is_empty() {
        result["entities"] = Value::Array(entities);
    }
    if preview_disabled {
        result["link_preview_options"] = json!({"is_disabled": true});
    }
    s.sent.lock().unwrap().push(SentMessage {
        message_id,
        chat_id,
        text,
        plain,
        parse_mode,
        preview_disabled,
        at: Instant::now(),
    });
    record(s, method, 200, ok_body(result))
}

struct PollGuard<'a>(&'a AtomicBool);
impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

async fn get_updates(s: &Shared, method: &str, p: Map<String, Value>) -> Response<Body> {
    let num = |k: &str| {
        p.get(k).and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(t) => t.parse().ok(),
            _ => None,
        })
    };
    let offset = num("offset").unwrap_or(0);
    let limit = num("limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = num("timeout").unwrap_or(0).clamp(0, 50) as u64;
    if s.polling.swap(true, Ordering::SeqCst) {
        return record(
            s,
            method,
            409,
            error_body(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            ),
        );
    }
    let _guard = PollGuard(&s.polling);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let arrived = s.arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let batch: Vec<Value> = {
            let mut q = s.updates.lock().unwrap();
            if offset > 0 {
                q.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            }
            if offset < 0 {
                let keep = offset.unsigned_abs() as usize;
                let skip = q.len().saturating_sub(keep);
                q.iter().skip(skip).take(limit).cloned().collect()
            } else {
                q.iter().take(limit).cloned().collect()
            }
        };
        if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
            return record(s, method, 200, ok_body(Value::Array(batch)));
        }
        let _ = tokio::time::timeout_at(deadline, arrived).await;
    }
}

/// Telegram's HTML entity parsing, as far as the bot uses it: the plain text and its entities
/// (UTF-16 offsets), or the error description after "can't parse entities: ".
pub fn parse_html(text: &str) -> Result<(String, Vec<Value>), String> {
    const TAGS: &[(&str, &str)] = &[
        ("b", "bold"),
        ("strong", "bold"),
        ("i", "italic"),
        ("em", "italic"),
        ("u", "underline"),
        ("ins", "underline"),
        ("s", "strikethrough"),
        ("strike", "strikethrough"),
        ("del", "strikethrough"),
        ("a", "text_link"),
        ("code", "code"),
        ("pre", "pre"),
        ("blockquote", "blockquote"),
        ("tg-spoiler", "spoiler"),
        ("span", "spoiler"),
    ];
    let mut plain = String::new();
    let mut units = 0usize;
    let mut stack: Vec<(String, usize, Option<String>)> = Vec::new();
    let mut entities = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i..].chars().next().unwrap();
        if c == '<' {
            let Some(end) = text[i..].find('>') else {
                return Err(format!("Unclosed start tag at byte offset {i}"));
            };
            let inner = &text[i + 1..i + end];
            if let Some(name) = inner.strip_prefix('/') {
                let name = name.trim().to_ascii_lowercase();
                match stack.pop() {
                    None => return Err(format!("Unexpected end tag at byte offset {i}")),
                    Some((open, start, href)) if open == name => {
                        let kind = TAGS.iter().find(|(t, _)| *t == name).unwrap().1;
                        if units > start {
                            let mut e =
                                json!({"offset": start, "length": units - start, "type": kind});
                            if let Some(h) = href {
                                e["url"] = json!(h);
                            }
                            entities.push(e);
                        }
                    }
                    Some((open, _, _)) => {
                        return Err(format!(
                            "Unmatched end tag at byte offset {i}, expected \"</{open}>\", found \"</{name}>\""
                        ));
                    }
                }
            } else {
                let name_end = inner
                    .find(|ch: char| ch.is_whitespace())
                    .unwrap_or(inner.len());
                let name = inner[..name_end].to_ascii_lowercase();
                if !TAGS.iter().any(|(t, _)| *t == name) {
                    return Err(format!(
                        "Unsupported start tag \"{name}\" at byte offset {i}"
                    ));
                }
                let href = (name == "a").then(|| {
                    inner[name_end..]
                        .trim()
                        .trim_start_matches("href=")
                        .trim_matches('"')
                        .to_string()
                });
                stack.push((name, units, href));
            }
            i += end + 1;
            continue;
        }
        if c == '&'
            && let Some(semi) = text[i..].find(';').filter(|&n| n > 1 && n <= 12)
        {
            let ent = &text[i + 1..i + semi];
            let decoded = match ent {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                _ => ent
                    .strip_prefix("#x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            if let Some(d) = decoded {
                plain.push(d);
                units += d.len_utf16();
                i += semi + 1;
                continue;
            }
        }
        plain.push(c);
        units += c.len_utf16();
        i += c.len_utf8();
    }
    if let Some((open, _, _)) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    entities.sort_by_key(|e| e["offset"].as_u64());
    Ok((plain, entities))
}
