//! Helpers shared by the integration tests: a simulator with a destination folder, the binary's
//! command lines, and reading back what it wrote.
#![allow(dead_code)] // each test crate uses its own subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use arrow_array::RecordBatch;
use botevents::write::ObjectFileReader;
use botevents_simulator::{SimBot, SimConfig, Simulator};
use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;

pub const NOW: &str = "2026-11-24T12:00:00Z";

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW).unwrap().with_timezone(&Utc)
}

pub fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub struct Harness {
    pub sim: Simulator,
    pub dest: tempfile::TempDir,
}

impl Harness {
    pub async fn new(bots: Vec<SimBot>) -> Harness {
        Harness::with_config(SimConfig { bots, now: Some(now()), ..SimConfig::default() }).await
    }

    pub async fn with_config(cfg: SimConfig) -> Harness {
        let sim = Simulator::start(cfg, ([127, 0, 0, 1], 0).into()).await.unwrap();
        Harness { sim, dest: tempfile::tempdir().unwrap() }
    }

    pub fn dest(&self) -> &Path {
        self.dest.path()
    }

    /// Runs `botevents export` against the simulator with its credentials in the environment.
    pub async fn export(&self, extra: &[&str]) -> Output {
        self.export_env(extra, &[]).await
    }

    pub async fn export_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_to_end(cmd).await
    }

    /// The `botevents export` command line of [`export`](Self::export), to run as the caller likes.
    pub fn command(&self, extra: &[&str]) -> tokio::process::Command {
        self.botevents("export", &[], extra)
    }
}

impl Harness {
    /// `botevents SUB` (`plan`, `check`, `export`) against the simulator (unless `extra` gives
    /// `--api-url`), its credentials in an otherwise empty environment, for `bots` (every
    /// simulated bot when empty), at [`NOW`] unless `extra` gives `--now`.
    pub fn botevents(&self, sub: &str, bots: &[&str], extra: &[&str]) -> tokio::process::Command {
        let c = self.sim.config();
        let url = self.sim.base_url().to_string();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"));
        cmd.arg(sub);
        if !extra.contains(&"--api-url") {
            cmd.args(["--api-url", &url, "--login-url", &url, "--discovery-url", &url]);
        }
        cmd.args(["--account", &c.account, "--dest", self.dest().to_str().unwrap()])
            .args(if extra.contains(&"--now") { &[][..] } else { &["--now", NOW][..] })
            .args(extra)
            .env_clear()
            .env("BOTEVENTS_API_KEY", &c.api_key)
            .env("BOTEVENTS_USERNAME", &c.username)
            .env("BOTEVENTS_PASSWORD", &c.password)
            .env("BOTEVENTS_LOG", "warn");
        let all: Vec<&str> = c.bots.iter().map(|b| b.id.as_str()).collect();
        for b in if bots.is_empty() { &all[..] } else { bots } {
            cmd.args(["--bot", b]);
        }
        cmd
    }

    /// `botevents state ACTION` for the simulator's account at the destination (at [`NOW`]
    /// unless `extra` gives `--now`).
    pub fn state(&self, action: &str, extra: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"));
        cmd.args(["state", action, "--account", &self.sim.config().account, "--dest", self.dest().to_str().unwrap()])
            .args(if extra.contains(&"--now") { &[][..] } else { &["--now", NOW][..] })
            .args(extra)
            .env_clear()
            .env("BOTEVENTS_LOG", "warn");
        cmd
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `botevents export` for one bot against `sim`, its credentials in an otherwise empty environment;
/// the caller adds the URLs it wants to give.
pub fn bare_export(sim: &Simulator, dest: &Path, bot: &str) -> tokio::process::Command {
    let c = sim.config();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"));
    cmd.args(["export", "--account", &c.account, "--bot", bot, "--dest", dest.to_str().unwrap()])
        .env_clear()
        .env("BOTEVENTS_API_KEY", &c.api_key)
        .env("BOTEVENTS_USERNAME", &c.username)
        .env("BOTEVENTS_PASSWORD", &c.password);
    cmd
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}\n{}", o.status.code(), stderr(o));
}

/// Every `.parquet` file under `dir`, with its bytes.
pub fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    all_files(dir).into_iter().filter(|(p, _)| p.extension().is_some_and(|x| x == "parquet")).collect()
}

/// Reads a Parquet file the way every read in the project goes: through `object_store`, with
/// the file size known (see `ObjectFileReader`).
pub fn read(path: &Path) -> Vec<RecordBatch> {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(read_parquet(path)))
}

/// [`read`] for async callers and their own runtimes.
pub async fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
    let location = object_store::path::Path::from_filesystem_path(path).unwrap();
    let meta = store.head(&location).await.unwrap();
    let reader = ObjectFileReader::new(store, &meta);
    let stream = ParquetRecordBatchStreamBuilder::new(reader).await.unwrap().build().unwrap();
    stream.try_collect().await.unwrap()
}

/// Every file under `dir` (data, state, rejects, anything else), with its bytes.
pub fn all_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Runs `cmd` to its end with its output captured and no input, as `Command::output` does, on a
/// blocking thread with the standard library's process handling (blocking reads of the pipes,
/// then `waitpid`) instead of tokio's: the SIGKILL test, which starts and kills many processes at
/// once, was seen twice idle with its last export a zombie, its exit never noticed.
pub async fn run_to_end(cmd: tokio::process::Command) -> Output {
    let mut cmd = cmd.into_std();
    cmd.stdin(std::process::Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}
