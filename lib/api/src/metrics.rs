//! `/metrics` (Prometheus text format 0.0.4): the API's own request counters and latency
//! histogram, plus gauges read from the state files at scrape time (docs/API.md "/metrics").

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the latency histogram.
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A state file is "up" when written within this many seconds.
pub const UP_WITHIN_S: f64 = 60.0;

#[derive(Default)]
pub struct Requests {
    by_route: Mutex<BTreeMap<(String, u16), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Requests {
    pub fn record(&self, route: &str, status: u16, secs: f64) {
        {
            let mut m = self.by_route.lock().unwrap_or_else(|e| e.into_inner());
            match m.get_mut(&(route.to_string(), status)) {
                Some(n) => *n += 1,
                None => {
                    m.insert((route.to_string(), status), 1);
                }
            }
        }
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String) {
        out.push_str("# HELP scalp_api_requests_total HTTP requests answered, by route template and status\n");
        out.push_str("# TYPE scalp_api_requests_total counter\n");
        for ((route, status), n) in self
            .by_route
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "scalp_api_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                esc(route)
            );
        }
        out.push_str("# HELP scalp_api_request_duration_seconds HTTP request latency\n");
        out.push_str("# TYPE scalp_api_request_duration_seconds histogram\n");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "scalp_api_request_duration_seconds_bucket{{le=\"{le}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "scalp_api_request_duration_seconds_bucket{{le=\"+Inf\"}} {n}"
        );
        let _ = writeln!(
            out,
            "scalp_api_request_duration_seconds_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "scalp_api_request_duration_seconds_count {n}");
    }
}

/// Escapes a label value (backslash, quote, newline).
pub fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

/// One state file for the gauges: its daemon name (file stem), age, payload.
pub struct StateSample {
    pub daemon: String,
    pub age_s: Option<f64>,
    pub payload: Option<serde_json::Map<String, Value>>,
}

/// The whole scrape.
pub fn render(requests: &Requests, states: &[StateSample]) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("# HELP scalp_daemon_up 1 when the daemon's state file is fresh (and says healthy when it has the field)\n# TYPE scalp_daemon_up gauge\n");
    for s in states {
        let healthy = s
            .payload
            .as_ref()
            .and_then(|p| p.get("healthy"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let stopped = s
            .payload
            .as_ref()
            .and_then(|p| p.get("stopped"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let up = s.age_s.is_some_and(|a| a <= UP_WITHIN_S) && healthy && !stopped;
        let _ = writeln!(
            out,
            "scalp_daemon_up{{daemon=\"{}\"}} {}",
            esc(&s.daemon),
            up as u8
        );
    }
    out.push_str("# HELP scalp_state_age_seconds seconds since the daemon last wrote its state file\n# TYPE scalp_state_age_seconds gauge\n");
    for s in states {
        if let Some(a) = s.age_s {
            let _ = writeln!(
                out,
                "scalp_state_age_seconds{{daemon=\"{}\"}} {}",
                esc(&s.daemon),
                num(a)
            );
        }
    }
    out.push_str("# HELP scalp_candle_lag_seconds collector lag per stream (state/collector.json lag_ms)\n# TYPE scalp_candle_lag_seconds gauge\n");
    if let Some(c) = states
        .iter()
        .find(|s| s.daemon == "collector")
        .and_then(|s| s.payload.as_ref())
    {
        for st in c
            .get("streams")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(ex), Some(sym), Some(tf), Some(lag)) = (
                st.get("exchange").and_then(Value::as_str),
                st.get("symbol").and_then(Value::as_str),
                st.get("timeframe").and_then(Value::as_str),
                st.get("lag_ms").and_then(Value::as_i64),
            ) else {
                continue;
            };
            let _ = writeln!(
                out,
                "scalp_candle_lag_seconds{{exchange=\"{}\",symbol=\"{}\",timeframe=\"{}\"}} {}",
                esc(ex),
                esc(sym),
                esc(tf),
                num(lag as f64 / 1000.0)
            );
        }
    }
    let sim = states
        .iter()
        .find(|s| s.daemon == "simulator")
        .and_then(|s| s.payload.as_ref());
    out.push_str("# HELP scalp_runner_equity paper runner equity (quote currency)\n# TYPE scalp_runner_equity gauge\n");
    let runners: Vec<&Value> = sim
        .and_then(|p| p.get("runners"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let labels = |r: &Value| {
        let g = |k: &str| esc(r.get(k).and_then(Value::as_str).unwrap_or(""));
        format!(
            "runner=\"{}\",strategy=\"{}\",asset=\"{}\"",
            g("id"),
            g("strategy"),
            g("asset")
        )
    };
    for r in &runners {
        if let Some(e) = r.get("equity").and_then(Value::as_f64) {
            let _ = writeln!(out, "scalp_runner_equity{{{}}} {}", labels(r), num(e));
        }
    }
    out.push_str("# HELP scalp_runner_open_position 1 while the runner holds a position\n# TYPE scalp_runner_open_position gauge\n");
    for r in &runners {
        let open = r.get("position").is_some_and(|p| !p.is_null());
        let _ = writeln!(
            out,
            "scalp_runner_open_position{{{}}} {}",
            labels(r),
            open as u8
        );
    }
    if let Some(e) = sim.and_then(|p| p.get("equity")).and_then(Value::as_f64) {
        out.push_str("# HELP scalp_simulator_equity summed paper equity\n# TYPE scalp_simulator_equity gauge\n");
        let _ = writeln!(out, "scalp_simulator_equity {}", num(e));
    }
    requests.render(&mut out);
    out
}
