// Test fixture: a real Scalp Radar data directory filled by the real product binaries, and the
// real scalp-api serving web/dist on it.
//
// - scalp-collector replays the bundled BTC 1h candles (data/coinbase_btcusd_1h.csv) into SQLite;
// - scalp-simulator paper-trades sma_cross, grid_atr, envelope_dca and grid_multi_tf on them
//   (the same plan as tests/tests/simulator_paper.rs) and keeps running (control acks, /ws/live);
// - `optimize backtest` stores backtest_runs rows, `optimize run` optimization runs/windows/results
//   ([optimize].db points at the same scalp.db, so the API sees them);
// - scalp-api listens on a free 127.0.0.1 port with SCALP_API_KEY set.
//
// Binaries: SCALP_BIN_DIR (collector, simulator, optimize; default <repo>/target/debug) and
// SCALP_API_BIN (default <repo>/target/debug/scalp-api).
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
export const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(WEB, '..');
export const BIN_DIR = path.resolve(process.env.SCALP_BIN_DIR ?? path.join(REPO, 'target/debug'));
export const API_BIN = path.resolve(WEB, process.env.SCALP_API_BIN ?? '../target/debug/scalp-api');
export const CSV = path.join(REPO, 'data/coinbase_btcusd_1h.csv');
export const STRATEGIES = ['sma_cross', 'grid_atr', 'envelope_dca', 'grid_multi_tf'];
export const API_KEY = 'web-test-key-0123456789abcdef';

function bin(name) {
  const p = path.join(BIN_DIR, name);
  if (!fs.existsSync(p)) throw new Error(`${p} not found: build it (cargo build --bins) or set SCALP_BIN_DIR`);
  return p;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The shipped strategies.toml with exactly STRATEGIES enabled on BTC. */
function strategiesToml() {
  const text = fs.readFileSync(path.join(REPO, 'config/strategies.toml'), 'utf8');
  let section = '';
  const out = [];
  for (const l of text.split('\n')) {
    const m = /^\[([^\]]+)\]$/.exec(l);
    if (m) section = m[1];
    if (l.startsWith('enabled')) {
      const on = STRATEGIES.includes(section);
      out.push(`enabled = ${on}`);
      if (on) out.push('assets = ["BTC"]');
      continue;
    }
    if (l.startsWith('assets')) continue;
    out.push(l);
  }
  return out.join('\n');
}

function lastOpenTime() {
  const lines = fs.readFileSync(CSV, 'utf8').trim().split('\n');
  const last = lines[lines.length - 1].split(',')[0];
  const n = Number(last);
  return Number.isFinite(n) ? (n < 1e11 ? n * 1000 : n) : Date.parse(last);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Fixture {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scalp-web-'));
    this.procs = [];
  }

  get dataDir() {
    return path.join(this.dir, 'data');
  }

  log(name) {
    return path.join(this.dir, name);
  }

  writeConfig(port, webDir) {
    const body = [
      '[paths]',
      'data_dir = "data"',
      `bundled_data_dir = ${JSON.stringify(path.join(REPO, 'data'))}`,
      '',
      '[collector]',
      'sources = ["replay"]',
      'state_interval_s = 1',
      '',
      '[replay]',
      'file = "coinbase_btcusd_1h.csv"',
      'symbol = "BTCUSDT"',
      'timeframe = "1h"',
      'candles_per_second = 0.0',
      '',
      '[simulator]',
      'capital = 4000.0',
      'start = "first_candle"',
      'state_interval_ms = 200',
      'poll_interval_ms = 200',
      '',
      '[optimize]',
      'db = "data/scalp.db"',
      'reports_dir = "reports"',
      // 4 permuted histories for the null test (the default 99 re-runs each walk-forward 99 times)
      'null_permutations = 4',
      '',
    ];
    // The daemons other than scalp-api may not know [api]: it goes into the API's own copy.
    fs.writeFileSync(path.join(this.dir, 'scalp.toml'), body.join('\n'));
    fs.writeFileSync(
      path.join(this.dir, 'api.toml'),
      [...body, '[api]', `listen = "127.0.0.1:${port}"`, `web_dir = ${JSON.stringify(webDir)}`, ''].join('\n'),
    );
    fs.writeFileSync(path.join(this.dir, 'assets.toml'), 'quote = "USDT"\nassets = ["BTC"]\ntimeframes = ["1h"]\n');
    fs.writeFileSync(path.join(this.dir, 'strategies.toml'), strategiesToml());
    fs.copyFileSync(path.join(REPO, 'config/param_grids.toml'), path.join(this.dir, 'param_grids.toml'));
  }

  start(exe, args, logName, env = {}) {
    const fd = fs.openSync(this.log(logName), 'a');
    const e = { ...process.env, RUST_LOG: 'info', ...env };
    for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'JOURNAL_STREAM']) delete e[k];
    const p = spawn(exe, args, { stdio: ['ignore', 'ignore', fd], env: e });
    fs.closeSync(fd);
    this.procs.push(p);
    return p;
  }

  simState() {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dataDir, 'state/simulator.json'), 'utf8'));
    } catch {
      return null;
    }
  }

  async optimize(args) {
    const { stdout } = await execFileP(bin('optimize'), ['--config', path.join(this.dir, 'scalp.toml'), ...args], {
      env: { ...process.env, SCALP_OPTIMIZE_QUIET: '1' },
      maxBuffer: 64 << 20,
    }).catch((e) => {
      throw new Error(`optimize ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
    });
    return stdout;
  }

  /** Collector replay → simulator on every candle; backtests; one optimization run. */
  async fill({ timeoutMs = 240_000 } = {}) {
    const cfg = ['--config', path.join(this.dir, 'scalp.toml')];
    this.sim = this.start(bin('scalp-simulator'), cfg, 'sim.log');
    const col = this.start(bin('scalp-collector'), cfg, 'collector.log');
    const last = lastOpenTime();
    const t0 = Date.now();
    for (;;) {
      const s = this.simState();
      const rs = s?.runners ?? [];
      if (rs.length === STRATEGIES.length && rs.every((r) => r.last_open_time === last)) break;
      if (Date.now() - t0 > timeoutMs) {
        throw new Error(
          `runners did not reach the last candle ${last} in ${timeoutMs} ms: ${JSON.stringify(rs.map((r) => [r.id, r.last_open_time]))}\n` +
            fs.readFileSync(this.log('sim.log'), 'utf8').slice(-3000) +
            fs.readFileSync(this.log('collector.log'), 'utf8').slice(-3000),
        );
      }
      await sleep(200);
    }
    col.kill('SIGTERM');
    // What the binaries printed: the figures the page must show (independent of the API).
    this.backtests = {};
    for (const s of ['sma_cross', 'grid_atr']) {
      const out = await this.optimize(['backtest', '--strategy', s, '--symbol', 'BTC', '--data', CSV]);
      this.backtests[s] = { finalEquity: Number(/final equity\s+(-?[\d.]+)/.exec(out)[1]), out };
    }
    this.grades = {};
    const run = async (strategy, asset, csv, extra = []) => {
      const out = await this.optimize(['run', '--strategy', strategy, '--symbol', asset, '--data', csv, ...extra]);
      const m = /(\S+) (\S+) (\S+): grade ([A-F]) \(score ([\d.]+)\)/.exec(out);
      if (!m) throw new Error(`no grade line in: ${out}`);
      const report = /report: (\S+)/.exec(out)[1];
      this.grades[`${strategy}|${asset}`] = {
        grade: m[4],
        score: Number(m[5]),
        timeframe: m[3].replace(':', ''),
        report: JSON.parse(fs.readFileSync(path.resolve(this.dir, report), 'utf8')),
      };
    };
    await run('sma_cross', 'BTC', CSV);
    await run('grid_atr', 'BTC', CSV);
    await run('sma_cross', 'ETH', path.join(REPO, 'data/bitstamp_ethusd_1d.csv'), ['--force-timeframe', '1d']);
    await run('sma_cross', 'LTC', path.join(REPO, 'data/bitstamp_ltcusd_1d.csv'), ['--force-timeframe', '1d']);
  }

  /** An `optimize run` in the background (the sidebar's live progress); resolves when it exits. */
  optimizeInBackground(args) {
    const p = this.start(bin('optimize'), ['--config', path.join(this.dir, 'scalp.toml'), ...args], 'optimize-bg.log', {
      SCALP_OPTIMIZE_QUIET: '1',
    });
    return new Promise((resolve) => p.once('exit', (code) => resolve(code)));
  }

  /** Picks the API's port and writes the configuration (before fill and startApi). */
  async prepare(webDir) {
    this.port = await freePort();
    this.writeConfig(this.port, webDir);
  }

  async startApi() {
    if (!fs.existsSync(API_BIN)) throw new Error(`${API_BIN} not found: build scalp-api or set SCALP_API_BIN`);
    const port = this.port;
    this.api = this.start(API_BIN, ['--config', path.join(this.dir, 'api.toml')], 'api.log', { SCALP_API_KEY: API_KEY });
    this.base = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    for (;;) {
      try {
        const r = await fetch(`${this.base}/health`);
        if (r.ok) return this.base;
      } catch {
        /* not listening yet */
      }
      if (this.api.exitCode !== null || Date.now() - t0 > 30_000) {
        throw new Error(`scalp-api did not answer /health: ${fs.readFileSync(this.log('api.log'), 'utf8').slice(-3000)}`);
      }
      await sleep(100);
    }
  }

  async get(p) {
    const r = await fetch(`${this.base}${p}`, { headers: { 'X-API-Key': API_KEY } });
    if (!r.ok) throw new Error(`${p}: ${r.status} ${await r.text()}`);
    return r.json();
  }

  async stop() {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        await Promise.race([new Promise((r) => p.once('exit', r)), sleep(5000)]);
        if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      }
    }
    if (!process.env.SCALP_WEB_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
