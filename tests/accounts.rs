//! End-to-end tests of a config file with several accounts — each with its own API key,
//! credentials and simulator — exported, planned and checked by one command, and of the progress
//! an export reports.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::{Array, StringArray};
use botevents::config::{ConfigFile, Env, ExportOptions};
use botevents::export::{Progress, ProgressSnapshot, RunContext};
use botevents_simulator::{SimBot, SimConfig};
use serde_json::Value;

mod common;
use common::*;

/// A simulator that knows one account, with its own key and credentials.
async fn account(id: &str, key: &str, password: &str, bots: &[&str]) -> Harness {
    Harness::with_config(SimConfig {
        account: id.into(),
        api_key: key.into(),
        username: format!("user-{id}"),
        password: password.into(),
        bots: bots.iter().map(|b| SimBot::new(*b, 800)).collect(),
        now: Some(now()),
        ..SimConfig::default()
    })
    .await
}

/// The `[[accounts]]` entry of `h`: its URLs and bots, its key as given by `key_line`.
fn entry(h: &Harness, key_line: &str, password_line: &str) -> String {
    let c = h.sim.config();
    let url = h.sim.base_url().to_string();
    let bots: Vec<String> = c.bots.iter().map(|b| format!("{:?}", b.id)).collect();
    format!(
        "[[accounts]]\naccount = {:?}\nbots = [{}]\napi_url = {url:?}\nlogin_url = {url:?}\ndiscovery_url = {url:?}\n\
         {key_line}\nusername = {:?}\n{password_line}\n",
        c.account,
        bots.join(", "),
        c.username
    )
}

/// Two accounts, two simulators, one destination: account A's key and password come from
/// variables the file names, account B's are in the file (`b_password` as given).
fn config_file(dir: &Path, a: &Harness, b: &Harness, b_password: &str) -> PathBuf {
    let path = dir.join("botevents.toml");
    let text = format!(
        "dest = {:?}\nmax_rps = 5\n\n{}\n{}",
        dir.join("lake").to_str().unwrap(),
        entry(a, "api_key_env = \"ACME_API_KEY\"", "password_env = \"ACME_PASSWORD\""),
        entry(b, &format!("api_key = {:?}", b.sim.config().api_key), &format!("password = {b_password:?}")),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `botevents SUB --config FILE …` with account A's secrets in an otherwise empty environment.
fn botevents(sub: &str, config: &Path, a: &Harness, extra: &[&str]) -> tokio::process::Command {
    let c = a.sim.config();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"));
    cmd.args([sub, "--config", config.to_str().unwrap(), "--now", NOW])
        .args(extra)
        .env_clear()
        .env("ACME_API_KEY", &c.api_key)
        .env("ACME_PASSWORD", &c.password)
        .env("BOTEVENTS_LOG", "warn");
    cmd
}

/// The names of the detail files (`account@bot.parquet`) of every day, each once.
fn detail_files(lake: &Path) -> Vec<String> {
    let mut names: Vec<String> = files(&lake.join("custom_event_detail"))
        .keys()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The distinct `account_id`s of a Parquet file.
fn account_ids(path: &Path) -> Vec<String> {
    let mut ids: Vec<String> = read(path)
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name("account_id").unwrap();
            let col = col.as_any().downcast_ref::<StringArray>().unwrap();
            (0..col.len()).map(|i| col.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn summary_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// One config file, two accounts with different keys: one command exports both into one
/// destination, each through its own simulator, with one combined summary; secrets never show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_config_file_exports_every_account() {
    let a = account("11111111", "key-of-a", "secret-a", &["bot-a1", "bot-a2"]).await;
    let b = account("22222222", "key-of-b", "secret-b", &["bot-b1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &a, &b, "secret-b");
    let lake = dir.path().join("lake");
    let summary = dir.path().join("summary.json");
    let out = botevents("export", &config, &a, &["--start", "2026-11-17", "--summary-json", summary.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    assert_eq!(detail_files(&lake), ["11111111@bot-a1.parquet", "11111111@bot-a2.parquet", "22222222@bot-b1.parquet"]);
    assert_eq!(
        account_ids(&lake.join("custom_event_detail/event_date=2026-11-20/22222222@bot-b1.parquet")),
        ["22222222"]
    );
    assert_eq!(
        account_ids(&lake.join("custom_event_total/event_date=2026-11-20/11111111@bot-a2.parquet")),
        ["11111111"]
    );
    assert!(lake.join("_botevents/state/11111111/bot-a1.json").is_file());
    assert!(lake.join("_botevents/state/22222222/bot-b1.json").is_file());
    // Each simulator saw only its own account's requests, each within its own key's budget.
    assert!(a.sim.stats().data_requests >= 4 && b.sim.stats().data_requests >= 2);
    assert_eq!(a.sim.stats().rejected_429 + b.sim.stats().rejected_429, 0);
    let json = summary_json(&summary);
    assert_eq!((json["status"].as_str(), json["exit_code"].as_i64()), (Some("ok"), Some(0)), "{json}");
    let accounts = json["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0]["account"], "11111111");
    assert_eq!(accounts[1]["account"], "22222222");
    assert_eq!(accounts[0]["windows"].as_u64(), Some(2), "2 bots × one 7-day window");
    assert_eq!(accounts[1]["windows"].as_u64(), Some(1));
    let rows: u64 = accounts.iter().map(|a| a["tables"]["custom_event_detail"]["rows"].as_u64().unwrap()).sum();
    assert!(rows > 0 && json["rows"].as_u64().unwrap() >= rows, "{json}");
    let err = stderr(&out);
    assert!(err.contains("account 11111111 → ") && err.contains("account 22222222 → "), "{err}");
    assert!(err.contains("2 accounts (2 ok, 0 failed, 0 stopped)"), "{err}");
    assert!(!err.contains("\x1b["), "no bar or colour when stderr is not a terminal: {err:?}");
    for secret in ["key-of-a", "key-of-b", "secret-a", "secret-b"] {
        assert!(!err.contains(secret) && !stdout(&out).contains(secret), "{secret} printed");
    }

    // `plan` and `state show` cover both accounts too; `--account` picks one, with the usual shape.
    let out = botevents("plan", &config, &a, &["--json"]).output().await.unwrap();
    assert_ok(&out);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = plan["accounts"].as_array().unwrap().iter().map(|p| p["account"].as_str().unwrap()).collect();
    assert_eq!(ids, ["11111111", "22222222"]);
    assert_eq!(plan["requests"].as_u64(), Some(0), "both up to date: {plan}");
    let out = botevents("plan", &config, &a, &["--json", "--account", "22222222"]).output().await.unwrap();
    assert_ok(&out);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["account"], "22222222");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"))
        .args(["state", "show", "--config", config.to_str().unwrap(), "--now", NOW])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    assert!(text.contains("state of account 11111111") && text.contains("bot bot-b1: detail 2026-11-24"), "{text}");
}

/// A wrong password for one account fails that account with exit 3; the other is exported
/// all the same, and the combined summary says which failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_account_does_not_stop_the_other() {
    let a = account("11111111", "key-of-a", "secret-a", &["bot-a1"]).await;
    let b = account("22222222", "key-of-b", "secret-b", &["bot-b1"]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &a, &b, "not-the-password");
    let lake = dir.path().join("lake");
    let summary = dir.path().join("summary.json");
    let out = botevents("export", &config, &a, &["--last", "3d", "--summary-json", summary.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(detail_files(&lake), ["11111111@bot-a1.parquet"]);
    assert!(!lake.join("_botevents/state/22222222/bot-b1.json").exists());
    let json = summary_json(&summary);
    assert_eq!((json["status"].as_str(), json["exit_code"].as_i64()), (Some("failed"), Some(3)), "{json}");
    assert_eq!(json["accounts"][0]["status"], "ok");
    assert_eq!(json["accounts"][1]["status"], "failed");
    assert_eq!(json["accounts"][1]["exit_code"].as_i64(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("botevents: account 22222222: authentication failed"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");

    // `check` checks both and exits with the failure's status.
    let out = botevents("check", &config, &a, &[]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("check of account 11111111") && text.contains("all steps passed"), "{text}");
    assert!(text.contains("check of account 22222222") && text.contains("FAILED"), "{text}");
}

/// Records every snapshot it is given.
#[derive(Default)]
struct Recorder(Mutex<Vec<ProgressSnapshot>>);

impl Progress for Recorder {
    fn update(&self, snapshot: &ProgressSnapshot) {
        self.0.lock().unwrap().push(snapshot.clone());
    }
}

/// The progress sink learns the number of windows before the first is done, then every window,
/// row, byte and request, ending on the summary's own counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reports_windows_rows_and_bytes() {
    let h = account("33333333", "key-c", "secret-c", &["bot-c1", "bot-c2"]).await;
    let opts = ExportOptions {
        account: Some("33333333".into()),
        bots: vec!["bot-c1".into(), "bot-c2".into()],
        api_url: Some(h.sim.base_url()),
        dest: Some(h.dest().to_str().unwrap().to_string()),
        start: Some("2026-11-10".parse().unwrap()),
        now: Some(now()),
        ..ExportOptions::default()
    };
    let env = Env::new(
        [("BOTEVENTS_API_KEY", "key-c"), ("BOTEVENTS_USERNAME", "user-33333333"), ("BOTEVENTS_PASSWORD", "secret-c")]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        Vec::new(),
    );
    let cfgs = botevents::config::exports(&opts, &env, ConfigFile::default(), None, now()).unwrap();
    let cfg = botevents::config::one_account(cfgs).unwrap();
    let recorder = Arc::new(Recorder::default());
    let ctx = RunContext { progress: Some(recorder.clone()), limiter: None };
    let (summary, result) = botevents::export::run_with(cfg, ctx, std::future::pending()).await;
    result.unwrap();
    let seen = recorder.0.lock().unwrap().clone();
    let first = seen.first().expect("a snapshot");
    assert_eq!((first.windows_total, first.windows_done), (4, 0), "2 bots × 2 windows, known first: {first:?}");
    assert!(seen.iter().all(|s| s.account == "33333333" && s.windows_total == 4));
    for w in seen.windows(2) {
        assert!(w[1].windows_done >= w[0].windows_done && w[1].rows >= w[0].rows, "{w:?}");
        assert!(w[1].bytes_received >= w[0].bytes_received && w[1].data_requests >= w[0].data_requests);
    }
    let done: Vec<u64> = seen.iter().map(|s| s.windows_done).collect();
    assert!((1..=4).all(|n| done.contains(&n)), "each window reported: {done:?}");
    let last = seen.last().unwrap();
    assert_eq!(last.windows_done, summary.windows);
    assert_eq!(last.rows, summary.rows());
    assert!(last.rows > 0);
    assert_eq!(last.bytes_received, summary.bytes_received);
    assert_eq!(last.data_requests, summary.data_requests);
}
