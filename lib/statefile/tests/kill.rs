//! Crash-safety test required by the foundation issue: a writer *process* is SIGKILLed at random
//! moments 1,000 times while a reader reads in a loop; no read may ever see a partial or corrupt
//! file, and `seq` never goes backwards (a restarted writer continues it).
//!
//! The writer is this test binary re-executed with `--exact child_writer --ignored` and the
//! environment variable below; `std::process::Child::kill` is SIGKILL on Unix.
#![cfg(unix)]

use rand::Rng;
use scalp_statefile::{ReadOutcome, StateWriter, try_read};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "SCALP_STATEFILE_KILL_CHILD";
const ITERATIONS: u32 = 1_000;
const VERSION: u32 = 7;
const ITEMS: usize = 3_000; // ≈ 50 KB pretty-printed: writes take long enough to be hit mid-way

/// Self-checking payload: a partial or mixed file cannot satisfy the checksum.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Big {
    writer_pid: u32,
    generation: u64,
    items: Vec<u64>,
    checksum: u64,
}

impl Big {
    fn new(generation: u64) -> Self {
        let items: Vec<u64> = (0..ITEMS as u64)
            .map(|i| {
                generation
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(i.wrapping_mul(1_442_695_040_888_963_407))
                    >> 11
            })
            .collect();
        let checksum = Self::sum(generation, &items);
        Big {
            writer_pid: std::process::id(),
            generation,
            items,
            checksum,
        }
    }

    fn sum(generation: u64, items: &[u64]) -> u64 {
        items
            .iter()
            .fold(generation ^ 0x9e37_79b9_7f4a_7c15, |acc, x| {
                acc.rotate_left(5)
                    .wrapping_add(*x)
                    .wrapping_mul(0x100_0000_01b3)
            })
    }

    fn verify(&self) -> Result<(), String> {
        if self.items.len() != ITEMS {
            return Err(format!("{} items, expected {ITEMS}", self.items.len()));
        }
        if Self::sum(self.generation, &self.items) != self.checksum {
            return Err("checksum mismatch".into());
        }
        Ok(())
    }
}

/// Child-process entry point (ignored in normal runs): writes in a tight loop until killed.
#[test]
#[ignore = "entry point of the writer child process of kill_writer_1000_times"]
fn child_writer() {
    let path = PathBuf::from(std::env::var_os(CHILD_ENV).expect("run by kill_writer_1000_times"));
    let mut w = StateWriter::<Big>::new(&path, VERSION).expect("writer");
    loop {
        let generation = w.seq() + 1;
        w.write(&Big::new(generation)).expect("write");
    }
}

fn seq_now(path: &Path) -> u64 {
    match try_read::<Big>(path, VERSION) {
        ReadOutcome::Ok(env) => env.seq,
        _ => 0,
    }
}

#[test]
fn kill_writer_1000_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    let tmp = dir.path().join(".big.json.tmp");
    let exe = std::env::current_exe().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let good_reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (path, stop, good_reads) = (path.clone(), stop.clone(), good_reads.clone());
        std::thread::spawn(move || -> Vec<String> {
            let mut failures = Vec::new();
            let mut last_seq = 0u64;
            let mut seen_file = false;
            while !stop.load(Ordering::Relaxed) {
                match try_read::<Big>(&path, VERSION) {
                    ReadOutcome::Ok(env) => {
                        seen_file = true;
                        if let Err(e) = env.payload.verify() {
                            failures.push(format!("seq {}: {e}", env.seq));
                        }
                        if env.payload.generation != env.seq {
                            failures.push(format!(
                                "seq {} carries generation {}",
                                env.seq, env.payload.generation
                            ));
                        }
                        if env.seq < last_seq {
                            failures.push(format!("seq went back from {last_seq} to {}", env.seq));
                        }
                        last_seq = env.seq;
                        good_reads.fetch_add(1, Ordering::Relaxed);
                    }
                    ReadOutcome::Missing if !seen_file => {}
                    ReadOutcome::Missing => failures.push("file vanished".into()),
                    ReadOutcome::Invalid(reason) => failures.push(reason),
                }
                if failures.len() > 20 {
                    break;
                }
            }
            failures
        })
    };

    let started = Instant::now();
    let mut rng = rand::rng();
    let mut killed_with_temp_present = 0u32;
    let mut total_delay = Duration::ZERO;
    for i in 0..ITERATIONS {
        let before = seq_now(&path);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill::child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer child");
        // Wait until this child has completed at least one write, so every iteration kills a
        // process that is writing, then kill it 0–3 ms later: at a random point of a write.
        let deadline = Instant::now() + Duration::from_secs(60);
        while seq_now(&path) <= before {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("iteration {i}: writer child exited on its own: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "iteration {i}: writer made no progress in 60 s"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let delay = Duration::from_micros(rng.random_range(0..3_000));
        total_delay += delay;
        std::thread::sleep(delay);
        child.kill().expect("SIGKILL writer");
        let status = child.wait().unwrap();
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(9),
                "iteration {i}: child not killed by SIGKILL: {status}"
            );
        }
        if tmp.exists() {
            killed_with_temp_present += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let failures = reader.join().unwrap();
    let final_seq = seq_now(&path);
    println!(
        "statefile kill test: {ITERATIONS} SIGKILLs, {} good reads, {} failures, final seq {final_seq}, \
         {killed_with_temp_present} kills left a temp file (killed mid-write), mean kill delay {:?}, {:?} total",
        good_reads.load(Ordering::Relaxed),
        failures.len(),
        total_delay / ITERATIONS,
        started.elapsed(),
    );
    assert!(failures.is_empty(), "reader saw bad files: {failures:#?}");
    assert!(
        final_seq >= u64::from(ITERATIONS),
        "each iteration wrote at least once: seq {final_seq}"
    );
    assert!(good_reads.load(Ordering::Relaxed) > u64::from(ITERATIONS));
    assert!(
        killed_with_temp_present > 0,
        "no kill landed inside a write: the test proves nothing"
    );
}
