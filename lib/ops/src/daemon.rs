//! `scalp-watchdog` under systemd (Type=notify, scalp-runtime). READY once the outbox, the
//! previous state and the Telegram client are loaded; WATCHDOG=1 after each completed round of
//! checks; on SIGTERM a shutdown message is queued, delivery is tried for a few seconds, the
//! state file is written, exit 0.
//!
//! One task owns the outbox: it runs the checks every `check_interval_s`, turns new
//! `sim_events` rows into messages, answers commands (received by a separate `getUpdates`
//! task) and delivers. Messages produced while a delivery is in flight wait in memory until it
//! returns, then are pushed (durably) before the event cursor is persisted.

use crate::anomaly::Transition;
use crate::checks::{Checker, Snapshot};
use crate::messages;
use crate::state::{
    BackupSeen, CheckpointResult, HeartbeatMark, PendingControl, STATE_FILE, STATE_VERSION,
    WatchdogState,
};
use scalp_core::config::Config;
use scalp_core::types::now_ms;
use scalp_runtime::{Ctx, Daemon, DaemonArgs, run_daemon};
use scalp_telegram::{
    Bot, BotConfig, ChatId, Command, Incoming, OutMessage, Outbox, OutboxConfig, RetryPolicy,
    TOKEN_ENV, Updates, UpdatesConfig,
};
use std::process::ExitCode;
use std::time::Duration;

/// Telegram, when both the token and the chat id are configured.
struct Telegram {
    bot: Bot,
    chat: ChatId,
}

pub struct Watchdog {
    tg: Option<Telegram>,
    outbox: Outbox,
    state: WatchdogState,
    writer: scalp_statefile::StateWriter<WatchdogState>,
    checker: Checker,
    updates: Option<Updates>,
}

fn bot_config(cfg: &Config) -> BotConfig {
    BotConfig {
        base_url: cfg.main.watchdog.telegram_url.trim().to_string(),
        // fail fast: the outbox keeps what was not delivered, the next round retries
        retry: RetryPolicy {
            max_attempts: 3,
            max_backoff: Duration::from_secs(5),
            ..RetryPolicy::default()
        },
        ..BotConfig::default()
    }
}

fn telegram(cfg: &Config) -> anyhow::Result<Option<Telegram>> {
    let chat = cfg.main.watchdog.telegram_chat_id.trim();
    let token = scalp_core::secrets::from_env(TOKEN_ENV);
    match (token, chat.is_empty()) {
        (Some(token), false) => {
            let chat = ChatId::parse(chat).ok_or_else(|| {
                anyhow::anyhow!("watchdog.telegram_chat_id: `{chat}` is not a chat id")
            })?;
            let bot = Bot::new(bot_config(cfg), token)?;
            Ok(Some(Telegram { bot, chat }))
        }
        _ => Ok(None),
    }
}

impl Daemon for Watchdog {
    const NAME: &'static str = "scalp-watchdog";

    fn preflight(cfg: &Config) -> anyhow::Result<()> {
        // a token that is set but unusable is a configuration error (exit 2), never printed
        telegram(cfg).map(|_| ())
    }

    async fn init(ctx: &Ctx) -> anyhow::Result<Self> {
        let cfg = ctx.config.clone();
        let dir = cfg.data_dir().join("watchdog");
        std::fs::create_dir_all(&dir)?;
        std::fs::create_dir_all(cfg.state_dir())?;
        let outbox = Outbox::open(dir.join("outbox"), OutboxConfig::default())?;
        let path = cfg.state_dir().join(STATE_FILE);
        let prev = match scalp_statefile::try_read::<WatchdogState>(&path, STATE_VERSION) {
            scalp_statefile::ReadOutcome::Ok(e) => Some(e.payload),
            scalp_statefile::ReadOutcome::Missing => None,
            scalp_statefile::ReadOutcome::Invalid(why) => {
                tracing::warn!("{why}: starting with a fresh watchdog state");
                None
            }
        };
        let writer = scalp_statefile::StateWriter::new(&path, STATE_VERSION)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let tg = telegram(&cfg)?;
        let mut state = prev.clone().unwrap_or_default();
        state.pid = std::process::id();
        state.started_at = scalp_statefile::now_rfc3339_ms();
        state.telegram = if tg.is_some() { "ok" } else { "disabled" }.into();
        let mut checker = Checker::new(
            cfg.clone(),
            state.seen_daemons.clone(),
            state.unit_restarts.clone(),
        );
        if prev.is_none() {
            // First start ever: alert only what happens from now on (not the whole history).
            if let Some(conn) = checker.conn() {
                state.last_event_id = messages::max_event_id(conn).unwrap_or(0);
            }
            tracing::info!(
                "WATCHDOG FIRST START: sim_events after id {} will be alerted",
                state.last_event_id
            );
        }
        if state.last_live_event_id.is_none() {
            // first start, or the first since live trading: from now on, not the history
            let id = checker.conn().map_or(0, messages::max_live_event_id);
            state.last_live_event_id = Some(id);
            tracing::info!("live_events after id {id} will be alerted");
        }
        let updates = match (&tg, &tg.as_ref().map(|t| t.chat.clone())) {
            (Some(_), Some(ChatId::Id(id))) => Some(Updates::open(UpdatesConfig {
                chat_id: *id,
                bot_username: None,
                poll_timeout_s: 25,
                offset_file: dir.join("telegram-offset.json"),
            })?),
            (Some(_), _) => {
                tracing::warn!("telegram_chat_id is a channel name: commands are not polled");
                None
            }
            _ => {
                tracing::info!(
                    "telegram disabled (needs {TOKEN_ENV} and [watchdog].telegram_chat_id): alerts are only logged"
                );
                None
            }
        };
        state.outbox_depth = outbox.len();
        ctx.heartbeat.beat();
        Ok(Watchdog {
            tg,
            outbox,
            state,
            writer,
            checker,
            updates,
        })
    }

    async fn run(self, ctx: Ctx) -> anyhow::Result<()> {
        work_loop(self, ctx).await
    }
}

/// What the loop collects between two pushes into the outbox.
#[derive(Default)]
struct Pending {
    msgs: Vec<(String, bool)>,
    /// The event cursor these messages reach (persisted once they are pushed).
    event_id: Option<i64>,
    /// The same for `live_events`.
    live_event_id: Option<i64>,
}

/// A control request's HTTP outcome, back from its task.
struct CtlDone {
    command: String,
    what: String,
    result: Result<String, String>,
}

struct Loop {
    ctl_tx: tokio::sync::mpsc::Sender<CtlDone>,
    cfg: std::sync::Arc<Config>,
    state: WatchdogState,
    checker: Checker,
    snap: Snapshot,
    read_event_id: i64,
    read_live_event_id: i64,
    next_checkpoint_ms: i64,
    ckpt: Option<std::thread::JoinHandle<CheckpointResult>>,
}

impl Loop {
    fn queue(&self, p: &mut Pending, html: String, high: bool) {
        tracing::info!("ALERT {}", plain(&html));
        p.msgs.push((html, high));
    }

    /// One round: checks, anomalies, events, heartbeat, checkpoint.
    fn round(&mut self, p: &mut Pending) {
        let now = now_ms();
        let wd = self.cfg.main.watchdog.clone();
        self.snap = self.checker.round(now);
        let observed = self.snap.observed.clone();
        for t in self
            .state
            .anomalies
            .update(now, observed, wd.cooldown_s as i64 * 1000)
        {
            match t {
                Transition::Raised { anomaly, detail } => {
                    tracing::warn!("ANOMALY {} {}: {detail}", anomaly.kind(), anomaly.subject());
                    self.queue(
                        p,
                        messages::raised_message(&anomaly, &detail),
                        anomaly.is_high(),
                    );
                }
                Transition::Resolved { anomaly, since_ms } => {
                    tracing::info!("ANOMALY RESOLVED {} {}", anomaly.kind(), anomaly.subject());
                    self.queue(
                        p,
                        messages::resolved_message(&anomaly, since_ms, now),
                        anomaly.is_high(),
                    );
                }
            }
        }
        for (name, before, after) in self.snap.restarts.clone() {
            tracing::warn!("RESTARTED {name} by systemd ({before} → {after} restarts)");
            self.queue(p, messages::restarted_message(name, before, after), true);
        }
        self.state.unit_restarts = self.checker.unit_restarts.clone();
        self.follow_controls(p, now);
        self.state.seen_daemons = self.checker.seen.iter().cloned().collect();
        self.state.disk_free_pct = self.snap.disk_free_pct;
        self.state.wal_bytes = self.snap.wal_bytes;
        self.state.db_bytes = self.snap.db_bytes;
        self.state.last_backup = self
            .snap
            .last_backup
            .as_ref()
            .map(|(name, age_s)| BackupSeen {
                name: name.clone(),
                age_s: *age_s,
            });
        // sim_events → messages
        let mut events = Vec::new();
        if let Some(conn) = self.checker.conn() {
            match messages::read_events(conn, self.read_event_id, 1000) {
                Ok(ev) => events = ev,
                Err(e) => tracing::debug!("sim_events: {e}"),
            }
        }
        for e in events {
            self.read_event_id = e.id;
            if let Some((html, high)) = messages::event_message(&e) {
                self.queue(p, html, high);
            }
        }
        p.event_id = Some(self.read_event_id);
        // live_events → messages (every executor's rows)
        let mut live = Vec::new();
        if let Some(conn) = self.checker.conn() {
            match messages::read_live_events(conn, self.read_live_event_id, 1000) {
                Ok(ev) => live = ev,
                Err(e) => tracing::debug!("live_events: {e}"),
            }
        }
        for e in live {
            self.read_live_event_id = e.id;
            if let Some((html, high)) = messages::live_event_message(&e) {
                self.queue(p, html, high);
            }
        }
        p.live_event_id = Some(self.read_live_event_id);
        // heartbeat
        if wd.heartbeat_interval_s > 0 {
            let due = self
                .state
                .last_heartbeat
                .as_ref()
                .is_none_or(|h| now - h.at_ms >= wd.heartbeat_interval_s as i64 * 1000);
            if due {
                let prev = self.state.last_heartbeat.clone();
                if prev.is_some() {
                    let text = messages::heartbeat_message(
                        &self.snap,
                        prev.as_ref(),
                        self.state.anomalies.active.len(),
                    );
                    self.queue(p, text, false);
                }
                // The first start only sets the mark: the start-up message has the status.
                let (equity, _, trades, _) = messages::paper_totals(&self.snap).unwrap_or_default();
                self.state.last_heartbeat = Some(HeartbeatMark {
                    at_ms: now,
                    equity,
                    trades,
                });
            }
        }
        // WAL checkpoint
        self.collect_checkpoint();
        if wd.checkpoint_interval_s > 0 && now >= self.next_checkpoint_ms {
            self.next_checkpoint_ms = now + wd.checkpoint_interval_s as i64 * 1000;
            self.checkpoint(now);
        }
        self.state.last_check_ms = Some(now);
        self.state.rss_kb = scalp_marketdata::state::rss_kb();
    }

    /// Starts a checkpoint on its own thread (it may wait up to the busy timeout for a writer,
    /// and must never stall the rounds); a checkpoint still running when the next is due is not
    /// doubled. Its result is collected by a later round.
    fn checkpoint(&mut self, now: i64) {
        if self.ckpt.as_ref().is_some_and(|h| !h.is_finished()) {
            tracing::info!("CHECKPOINT still running, not started again");
            return;
        }
        self.collect_checkpoint();
        let db = self.cfg.db_path();
        if !db.exists() {
            return;
        }
        let wal = self.snap.wal_bytes.unwrap_or(0);
        let h = std::thread::Builder::new()
            .name("watchdog-checkpoint".into())
            .spawn(move || {
                match scalp_store::open(&db).and_then(|c| scalp_store::checkpoint(&c)) {
                    Ok(s) => {
                        tracing::info!(
                            "CHECKPOINT wal_bytes_before={} wal_bytes_after={} busy={} frames={} checkpointed={}",
                            s.wal_bytes_before,
                            s.wal_bytes_after,
                            s.busy,
                            s.log_frames,
                            s.checkpointed_frames
                        );
                        CheckpointResult {
                            at_ms: now,
                            result: if s.busy { "busy" } else { "ok" }.into(),
                            wal_bytes_before: s.wal_bytes_before,
                            wal_bytes_after: s.wal_bytes_after,
                        }
                    }
                    Err(e) => {
                        tracing::warn!("CHECKPOINT FAILED: {e}");
                        CheckpointResult {
                            at_ms: now,
                            result: format!("error: {e}"),
                            wal_bytes_before: wal,
                            wal_bytes_after: wal,
                        }
                    }
                }
            });
        match h {
            Ok(h) => self.ckpt = Some(h),
            Err(e) => tracing::warn!("CHECKPOINT not started: {e}"),
        }
    }

    fn collect_checkpoint(&mut self) {
        if self.ckpt.as_ref().is_some_and(|h| h.is_finished())
            && let Some(h) = self.ckpt.take()
            && let Ok(r) = h.join()
        {
            self.state.last_checkpoint = Some(r);
        }
    }

    fn answer(&mut self, p: &mut Pending, inc: &Incoming) {
        let now = now_ms();
        tracing::info!("COMMAND {:?} from chat {}", inc.command, inc.chat_id);
        let text = match &inc.command {
            Command::Status => messages::status_message(&self.snap, &self.state),
            Command::Positions => messages::positions_message(&self.snap),
            Command::Profit { days } => messages::profit_message(self.checker.conn(), *days, now),
            Command::Daily => messages::daily_message(self.checker.conn(), now),
            Command::Health => messages::health_message(&self.snap, &self.state),
            Command::Help | Command::Unknown(_) => messages::HELP.to_string(),
            Command::Stop { .. } | Command::Start { .. } | Command::ResetKillswitch { .. } => {
                let Some((path, what)) = crate::control::route(&inc.command) else {
                    return;
                };
                let command = command_text(&inc.command);
                let api = self.cfg.main.watchdog.api_url.trim().to_string();
                let tx = self.ctl_tx.clone();
                tokio::spawn(async move {
                    let key = scalp_core::secrets::from_env(crate::control::API_KEY_ENV);
                    let result =
                        crate::control::send(&api, key.as_ref().map(|k| k.expose()), &path).await;
                    let _ = tx
                        .send(CtlDone {
                            command,
                            what,
                            result,
                        })
                        .await;
                });
                return;
            }
        };
        self.queue(p, text, false);
    }

    /// The API's answer to a control command: accepted (then followed until acknowledged) or
    /// refused.
    fn control_done(&mut self, p: &mut Pending, d: CtlDone) {
        let text = match d.result {
            Ok(id) => {
                tracing::info!("CONTROL {} requested through scalp-api: {id}", d.command);
                self.state.pending_controls.push(PendingControl {
                    request_id: id.clone(),
                    command: d.command.clone(),
                    sent_ms: now_ms(),
                });
                format!(
                    "⏳ <b>{}</b>: requested to {} (request <code>{}</code>); the answer follows when the simulator applies it",
                    scalp_telegram::escape_html(&d.command),
                    scalp_telegram::escape_html(&d.what),
                    scalp_telegram::escape_html(&id)
                )
            }
            Err(why) => {
                tracing::warn!("CONTROL {} not requested: {why}", d.command);
                format!(
                    "⛔ <b>{}</b> not done: {}",
                    scalp_telegram::escape_html(&d.command),
                    scalp_telegram::escape_html(&why)
                )
            }
        };
        self.queue(p, text, false);
    }

    /// Answers the control requests the simulator acknowledged since the last round (or that
    /// waited longer than 10 minutes).
    fn follow_controls(&mut self, p: &mut Pending, now: i64) {
        if self.state.pending_controls.is_empty() {
            return;
        }
        let acks: Vec<(String, String)> = self
            .snap
            .simulator
            .as_ref()
            .map(|s| {
                s.control_acks
                    .iter()
                    .filter(|a| a.file == "simulator-api.json")
                    .map(|a| (a.request_id.clone(), a.result.clone()))
                    .collect()
            })
            .unwrap_or_default();
        // A request the API carried into a newer one (it was not acknowledged yet when the next
        // came) is answered by that newer request's ack (docs/API.md "Control").
        let carried: std::collections::BTreeMap<String, String> =
            std::fs::read(self.cfg.state_dir().join("api.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["control_requests"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|r| {
                    Some((
                        r["request_id"].as_str()?.to_string(),
                        r["carried_by"].as_str()?.to_string(),
                    ))
                })
                .collect();
        let resolve = |id: &str| {
            let mut id = id.to_string();
            for _ in 0..200 {
                match carried.get(&id) {
                    Some(next) => id = next.clone(),
                    None => break,
                }
            }
            id
        };
        let pending = std::mem::take(&mut self.state.pending_controls);
        for c in pending {
            let id = resolve(&c.request_id);
            if let Some((_, result)) = acks.iter().find(|(a, _)| *a == id) {
                let icon = if result == "ok" { "✅" } else { "⛔" };
                let text = format!(
                    "{icon} <b>{}</b> applied by the simulator: {}",
                    scalp_telegram::escape_html(&c.command),
                    scalp_telegram::escape_html(result)
                );
                self.queue(p, text, false);
            } else if now - c.sent_ms > 600_000 {
                let text = format!(
                    "⚠️ <b>{}</b>: the simulator has not acknowledged request <code>{}</code> after 10 min (is it running?)",
                    scalp_telegram::escape_html(&c.command),
                    scalp_telegram::escape_html(&c.request_id)
                );
                self.queue(p, text, true);
            } else {
                self.state.pending_controls.push(c);
            }
        }
    }
}

/// The command as the user typed it (for the answers).
fn command_text(c: &Command) -> String {
    match c {
        Command::Stop { strategy } => format!("/stop {strategy}"),
        Command::Start { strategy } => format!("/start {strategy}"),
        Command::ResetKillswitch { strategy: None } => "/reset_killswitch".into(),
        Command::ResetKillswitch { strategy: Some(s) } => format!("/reset_killswitch {s}"),
        other => format!("{other:?}"),
    }
}

/// The text without tags and with the three entities decoded, for the log.
fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            '\n' if !in_tag => out.push_str(" | "),
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn push_all(
    outbox: &mut Outbox,
    chat: Option<&ChatId>,
    p: &mut Pending,
    state: &mut WatchdogState,
) {
    if let Some(chat) = chat {
        for (html, high) in p.msgs.drain(..) {
            let m = if high {
                OutMessage::high(chat.clone(), html)
            } else {
                OutMessage::low(chat.clone(), html)
            };
            if let Err(e) = outbox.push(m) {
                tracing::error!("telegram outbox: {e}");
            }
        }
    } else {
        p.msgs.clear();
    }
    if let Some(id) = p.event_id.take() {
        state.last_event_id = id;
    }
    if let Some(id) = p.live_event_id.take() {
        state.last_live_event_id = Some(id);
    }
    state.outbox_depth = outbox.len();
}

async fn work_loop(wd: Watchdog, ctx: Ctx) -> anyhow::Result<()> {
    let Watchdog {
        tg,
        mut outbox,
        state,
        mut writer,
        checker,
        updates,
    } = wd;
    let cfg = ctx.config.clone();
    let interval = Duration::from_secs(cfg.main.watchdog.check_interval_s.max(1));
    let chat = tg.as_ref().map(|t| t.chat.clone());
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::channel::<Incoming>(64);
    let poller = match (updates, &tg) {
        (Some(mut up), Some(t)) => {
            let bot = t.bot.clone();
            let sd = ctx.shutdown.clone();
            Some(tokio::spawn(async move {
                let mut failing = false;
                while !sd.is_triggered() {
                    match up.poll(&bot).await {
                        Ok(cmds) => {
                            failing = false;
                            for c in cmds {
                                if cmd_tx.send(c).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            if !failing {
                                tracing::warn!("telegram getUpdates: {e}");
                            }
                            failing = true;
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                    }
                }
            }))
        }
        _ => None,
    };
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::channel::<CtlDone>(16);
    let mut lp = Loop {
        ctl_tx,
        read_event_id: state.last_event_id,
        read_live_event_id: state.last_live_event_id.unwrap_or(0),
        next_checkpoint_ms: now_ms() + cfg.main.watchdog.checkpoint_interval_s as i64 * 1000,
        cfg: cfg.clone(),
        state,
        checker,
        snap: Snapshot::default(),
        ckpt: None,
    };
    let mut p = Pending::default();
    lp.round(&mut p);
    let start = format!(
        "🟢 <b>scalp-watchdog started</b> ({})\n{} anomalies active, {} messages queued",
        env!("CARGO_PKG_VERSION"),
        lp.state.anomalies.active.len(),
        outbox.len()
    );
    // the start-up message goes before what the first round found
    p.msgs.insert(0, (start.clone(), false));
    tracing::info!("ALERT {}", plain(&start));
    push_all(&mut outbox, chat.as_ref(), &mut p, &mut lp.state);
    write_state(&mut writer, &lp.state);
    ctx.heartbeat.beat();
    let mut next = tokio::time::Instant::now() + interval;
    let mut delivery_blocked = false;
    'main: loop {
        if let Some(t) = &tg
            && !outbox.is_empty()
            && !delivery_blocked
        {
            let res = {
                let fut = outbox.deliver(&t.bot);
                tokio::pin!(fut);
                loop {
                    tokio::select! {
                        r = &mut fut => break Some(r),
                        _ = tokio::time::sleep_until(next) => {
                            lp.round(&mut p);
                            write_state(&mut writer, &lp.state);
                            ctx.heartbeat.beat();
                            next = tokio::time::Instant::now() + interval;
                        }
                        Some(c) = cmd_rx.recv() => lp.answer(&mut p, &c),
                        Some(d) = ctl_rx.recv() => lp.control_done(&mut p, d),
                        _ = ctx.shutdown.wait() => break None,
                    }
                }
            };
            match res {
                Some(Ok(d)) => {
                    if lp.state.telegram != "ok" {
                        tracing::info!("TELEGRAM DELIVERING again: {} sent", d.sent);
                    }
                    lp.state.telegram = "ok".into();
                }
                Some(Err(e)) => {
                    let msg = e.to_string();
                    if lp.state.telegram != format!("error: {msg}") {
                        tracing::warn!("TELEGRAM UNDELIVERED ({} waiting): {msg}", outbox.len());
                    }
                    lp.state.telegram = format!("error: {msg}");
                    delivery_blocked = true;
                }
                None => {}
            }
            push_all(&mut outbox, chat.as_ref(), &mut p, &mut lp.state);
            write_state(&mut writer, &lp.state);
            if ctx.shutdown.is_triggered() {
                break 'main;
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                lp.round(&mut p);
                ctx.heartbeat.beat();
                next = tokio::time::Instant::now() + interval;
                delivery_blocked = false;
            }
            Some(c) = cmd_rx.recv() => lp.answer(&mut p, &c),
            Some(d) = ctl_rx.recv() => lp.control_done(&mut p, d),
            _ = ctx.shutdown.wait() => break 'main,
        }
        push_all(&mut outbox, chat.as_ref(), &mut p, &mut lp.state);
        write_state(&mut writer, &lp.state);
    }
    // shutdown: queue the message, try to deliver for a few seconds, save the state
    if let Some(h) = poller {
        h.abort();
    }
    let bye = "⚪ <b>scalp-watchdog stopping</b>".to_string();
    lp.queue(&mut p, bye, false);
    push_all(&mut outbox, chat.as_ref(), &mut p, &mut lp.state);
    if let Some(t) = &tg
        && !delivery_blocked
    {
        match tokio::time::timeout(Duration::from_secs(5), outbox.deliver(&t.bot)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!("TELEGRAM UNDELIVERED at stop ({} kept): {e}", outbox.len())
            }
            Err(_) => tracing::warn!("TELEGRAM delivery cut at stop ({} kept)", outbox.len()),
        }
    }
    lp.state.outbox_depth = outbox.len();
    write_state(&mut writer, &lp.state);
    tracing::info!(
        "WATCHDOG STOPPED anomalies={} queued={} last_event_id={}",
        lp.state.anomalies.active.len(),
        outbox.len(),
        lp.state.last_event_id
    );
    Ok(())
}

fn write_state(w: &mut scalp_statefile::StateWriter<WatchdogState>, s: &WatchdogState) {
    if let Err(e) = w.write(s) {
        tracing::warn!("{}: {e}", w.path().display());
    }
}

/// The whole daemon: `scalp-watchdog --config ... [--check-config]`.
pub fn main(args: &DaemonArgs) -> ExitCode {
    run_daemon::<Watchdog>(args)
}
