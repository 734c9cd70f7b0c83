//! `optimize dashboard`: the same API and dashboard served from the workstation's optimize.db
//! (Linux, Windows, wine). Backtest and optimization runs are read as on the server, and an
//! `optimize run` in another terminal shows its live progress in the sidebar (`/ws/live`). There
//! is no simulator here: the paper routes answer from whatever state files the config's state
//! directory holds (normally none). No state file is written (`write_state_file: false`).

use crate::app::{App, Settings, serve};
use scalp_core::config::Config;
use scalp_core::secrets::{self, Secret};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the dashboard's files are: `--web-dir`, else `[api].web_dir` if it holds an
/// index.html, else `web/` beside the executable (the Windows zip), else `web/dist` of a
/// checkout two levels above the executable (`target/<profile>/optimize`).
pub fn find_web_dir(cfg: &Config, explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let configured = cfg.resolve(Path::new(&cfg.main.api.web_dir));
    let mut candidates = vec![configured.clone()];
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join("web"));
        candidates.push(dir.join("../../web/dist"));
    }
    candidates
        .into_iter()
        .find(|d| d.join("index.html").is_file())
        .unwrap_or(configured)
}

/// A fresh random key (32 hex digits) for a local session, from the OS-seeded CSPRNG.
fn random_key() -> String {
    let b: [u8; 16] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Serves until Ctrl-C. `key`: `SCALP_API_KEY` if set, else a random one printed once.
pub fn serve_workstation(
    cfg: &Config,
    db_path: PathBuf,
    listen: SocketAddr,
    web_dir: PathBuf,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (key, generated) = match secrets::from_env(secrets::API_KEY) {
        Some(k) => (k, false),
        None => (Secret::new(random_key()), true),
    };
    let settings = Settings {
        db_path: db_path.clone(),
        state_dir: cfg.state_dir(),
        control_dir: cfg.control_dir(),
        web_dir: web_dir.clone(),
        strategies: cfg.strategies.strategies.keys().cloned().collect(),
        quote: cfg.assets.quote.clone(),
        cors_origins: cfg.main.api.cors_origins.clone(),
        write_state_file: false,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (--listen): {e}"))?;
        let local = listener.local_addr()?;
        let app = App::start(settings, &key, local)?;
        writeln!(out, "dashboard: http://{local}/")?;
        if generated {
            writeln!(
                out,
                "API key for this session: {} (set {} to choose one)",
                key.expose(),
                secrets::API_KEY
            )?;
        } else {
            writeln!(out, "API key: the value of {}", secrets::API_KEY)?;
        }
        writeln!(out, "database: {}", db_path.display())?;
        if web_dir.join("index.html").is_file() {
            writeln!(out, "dashboard files: {}", web_dir.display())?;
        } else {
            writeln!(
                out,
                "dashboard files not found in {} (--web-dir): the API works, / answers 404",
                web_dir.display()
            )?;
        }
        writeln!(out, "Ctrl-C stops it.")?;
        out.flush()?;
        serve(listener, app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}
