//! End-to-end tests of `--shard K/N`: N workers, each exporting its shard at the same time into
//! the same destination, write exactly what one unsharded export writes, with the same requests.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use botevents::plan::Shard;
use botevents_simulator::{SimBot, SimConfig};
use serde_json::Value;

mod common;
use common::*;

const BOTS: [(&str, u32); 7] = [
    ("bot-support", 300),
    ("bot-sales", 60),
    ("bot-busy", 400),
    ("bot-quiet", 20),
    ("bot-faq", 120),
    ("bot-billing", 90),
    ("bot-returns", 45),
];

/// A simulator without its rate limit: the shards run as separate processes at once, and would
/// otherwise meet 429s (and retry) that make the request counts differ.
async fn unlimited() -> Harness {
    let bots = BOTS.iter().map(|(id, n)| SimBot::new(*id, *n)).collect();
    Harness::with_config(SimConfig { bots, now: Some(now()), max_rps: 0, ..SimConfig::default() }).await
}

fn summary(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn summarised_bots(s: &Value) -> BTreeSet<String> {
    s["cursors"].as_object().unwrap().keys().cloned().collect()
}

fn state_files(h: &Harness) -> BTreeSet<std::path::PathBuf> {
    all_files(h.dest()).into_keys().filter(|p| p.starts_with("_botevents/state")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_together_equal_one_unsharded_export() {
    let range = ["--start", "2026-11-10", "--end", "2026-11-24"];
    let sums = tempfile::tempdir().unwrap();
    let whole_summary = sums.path().join("whole.json");

    let whole = unlimited().await;
    let out = whole
        .botevents("export", &[], &[&range[..], &["--summary-json", whole_summary.to_str().unwrap()]].concat())
        .output()
        .await
        .unwrap();
    assert_ok(&out);

    // Three workers at once, into one destination, as three mapped tasks of a scheduler would.
    let parts = unlimited().await;
    let paths: Vec<_> = (1..=3).map(|k| sums.path().join(format!("shard-{k}.json"))).collect();
    let runs = (1..=3).map(|k| {
        let shard = format!("{k}/3");
        let summary = paths[k - 1].to_str().unwrap();
        let mut cmd =
            parts.botevents("export", &[], &[&range[..], &["--shard", &shard, "--summary-json", summary]].concat());
        async move { cmd.output().await.unwrap() }
    });
    for out in futures::future::join_all(runs).await {
        assert_ok(&out);
    }

    // Each shard exported exactly the bots that hash to it; together, every bot once.
    let account = &parts.sim.config().account;
    let mut seen = BTreeSet::new();
    let mut shard_data_requests = 0;
    for (k, path) in (1..=3).zip(&paths) {
        let s = summary(path);
        assert_eq!(s["shard"], format!("{k}/3"));
        let want: BTreeSet<String> = BOTS
            .iter()
            .map(|(b, _)| b.to_string())
            .filter(|b| Shard::new(k, 3).unwrap().contains(account, b))
            .collect();
        assert!(!want.is_empty(), "the bot ids are chosen so that every shard has some");
        assert_eq!(summarised_bots(&s), want, "shard {k}/3");
        assert!(seen.is_disjoint(&want), "shard {k}/3 shares bots with an earlier one");
        seen.extend(want);
        shard_data_requests += s["data_requests"].as_u64().unwrap();
    }
    let w = summary(&whole_summary);
    assert!(w.get("shard").is_none(), "no shard, no field: {w}");
    assert_eq!(seen, summarised_bots(&w), "the shards together are every bot");

    // Byte-identical files, the same states, the same data requests.
    let (a, b) = (files(whole.dest()), files(parts.dest()));
    assert!(a.len() > 2 * BOTS.len(), "{} files", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "the same files");
    for (path, bytes) in &a {
        assert!(bytes == &b[path], "{} differs", path.display());
    }
    assert_eq!(state_files(&whole), state_files(&parts));
    assert_eq!(state_files(&parts).len(), BOTS.len());
    assert_eq!(shard_data_requests, w["data_requests"].as_u64().unwrap(), "the summaries' data requests add up");
    assert_eq!(parts.sim.stats().data_requests, whole.sim.stats().data_requests, "the simulator's count agrees");
}

/// More shards than bots: an empty shard is no error, sends no data request, and says so;
/// `plan` takes `--shard` too and lists only the shard's bots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_shard_exits_0_and_plan_lists_the_shard_bots() {
    let h = unlimited().await;
    let account = h.sim.config().account.clone();
    let count = NonZeroU32::new(20).unwrap();
    let used: BTreeSet<u32> = BOTS.iter().map(|(b, _)| Shard::of(&account, b, count)).collect();
    let empty = (1..=20).find(|k| !used.contains(k)).unwrap();
    let full = *used.iter().next().unwrap();

    let out = h.botevents("export", &[], &["--shard", &format!("{empty}/20"), "--last", "3d"]).output().await.unwrap();
    assert_ok(&out);
    assert!(
        stderr(&out).contains(&format!("shard {empty}/20: no bot of the account is in this shard, nothing to export")),
        "{}",
        stderr(&out)
    );
    assert_eq!(h.sim.stats().data_requests, 0);
    assert!(files(h.dest()).is_empty());

    assert!(planned_bots(&h, empty).await.is_empty());
    let want: Vec<String> =
        BOTS.iter().map(|(b, _)| b.to_string()).filter(|b| Shard::of(&account, b, count) == full).collect();
    assert_eq!(planned_bots(&h, full).await, want);
    assert_eq!(h.sim.stats().requests, 0, "plan sends nothing");
}

/// The bots `plan --shard K/20 --json` lists.
async fn planned_bots(h: &Harness, k: u32) -> Vec<String> {
    let out =
        h.botevents("plan", &[], &["--shard", &format!("{k}/20"), "--json", "--last", "3d"]).output().await.unwrap();
    assert_ok(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["bots"].as_array().unwrap().iter().map(|b| b["bot"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_shard_is_a_usage_error() {
    let h = unlimited().await;
    for (bad, why) in [
        ("0/3", "between 1 and N"),
        ("4/3", "between 1 and N"),
        ("1/0", "N must be at least 1"),
        ("two/3", "not a whole number"),
        ("3", "no '/'"),
    ] {
        for sub in ["export", "plan"] {
            let out = h.botevents(sub, &[], &["--shard", bad]).output().await.unwrap();
            assert_eq!(out.status.code(), Some(2), "{sub} --shard {bad}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains("--shard") && err.contains(&format!("{bad:?}")) && err.contains(why), "{err}");
        }
    }
    assert_eq!(h.sim.stats().requests, 0);
}
