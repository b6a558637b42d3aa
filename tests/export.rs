//! End-to-end tests: the real `botevents` binary against the real simulator over loopback, with
//! every file read back by the `parquet` crate's reader.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int16Type, Int64Type, TimestampMicrosecondType};
use botevents_simulator::{Fault, SimBot, SimConfig, Simulator, detail_events};
use chrono::{Days, NaiveDate};

mod common;
use common::*;

fn s(a: &dyn Array, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    if let Some(d) = a.as_dictionary_opt::<Int16Type>() {
        let k = d.keys().value(i) as usize;
        return Some(d.values().as_string::<i32>().value(k).to_string());
    }
    if let Some(d) = a.as_dictionary_opt::<Int8Type>() {
        let k = d.keys().value(i) as usize;
        return Some(d.values().as_string::<i32>().value(k).to_string());
    }
    Some(a.as_string::<i32>().value(i).to_string())
}

type DetailRow = (String, String, Option<String>, Option<String>, i64, String, Option<String>);

/// Detail rows of one file: (event_name, platform, details, user_text, time µs, conversation, title).
fn detail_rows(path: &Path, account: &str, bot: &str) -> Vec<DetailRow> {
    let mut out = Vec::new();
    for b in read(path) {
        assert_eq!(b.schema().as_ref(), botevents::schema::Table::Detail.schema().as_ref(), "{path:?}");
        let c = |n: &str| b.column_by_name(n).unwrap().clone();
        let times = c("event_time");
        let times = times.as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            assert_eq!(s(c("account_id").as_ref(), i).unwrap(), account);
            assert_eq!(s(c("bot_id").as_ref(), i).unwrap(), bot);
            out.push((
                s(c("event_name").as_ref(), i).unwrap(),
                s(c("platform").as_ref(), i).unwrap(),
                s(c("event_details").as_ref(), i),
                s(c("user_text").as_ref(), i),
                times.value(i),
                s(c("conversation_id").as_ref(), i).unwrap(),
                s(c("matched_title").as_ref(), i),
            ));
        }
    }
    out
}

fn non_empty(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

fn truth(cfg: &SimConfig, bot: &str, d: NaiveDate) -> Vec<DetailRow> {
    detail_events(cfg, bot, d)
        .into_iter()
        .map(|e| {
            (
                e.event_name,
                e.platform,
                non_empty(&e.event_details),
                non_empty(&e.user_text),
                e.event_time.timestamp_micros(),
                e.conversation_id,
                non_empty(&e.matched_title),
            )
        })
        .collect()
}

fn detail_path(dest: &Path, d: NaiveDate, account: &str, bot: &str) -> PathBuf {
    dest.join(format!("custom_event_detail/event_date={d}/{account}@{bot}.parquet"))
}

fn total_path(dest: &Path, d: NaiveDate, account: &str, bot: &str) -> PathBuf {
    dest.join(format!("custom_event_total/event_date={d}/{account}@{bot}.parquet"))
}

/// (event_name, platform) → count, from a totals file.
fn total_counts(path: &Path) -> HashMap<(String, String), i64> {
    let mut out = HashMap::new();
    for b in read(path) {
        assert_eq!(b.schema().as_ref(), botevents::schema::Table::Total.schema().as_ref());
        let c = |n: &str| b.column_by_name(n).unwrap().clone();
        let counts = c("event_count");
        let counts = counts.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            assert_eq!(s(c("interval").as_ref(), i).as_deref(), Some("daily"));
            assert!(counts.value(i) > 0, "the long form holds no zero counts");
            let key = (s(c("event_name").as_ref(), i).unwrap(), s(c("platform").as_ref(), i).unwrap());
            *out.entry(key).or_default() += counts.value(i);
        }
    }
    out
}

/// The headline test: several bots over 14 days yield exactly the rows the API serves (duplicates
/// kept, boundary rows once), the totals agree, no request is throttled at the default rate, and
/// a second run leaves every byte as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_matches_the_api_row_for_row_and_is_idempotent() {
    let h = Harness::new(vec![
        SimBot::new("bot-support", 800),
        SimBot::new("bot-sales", 150),
        SimBot::new("bot-busy", 16_000),
    ])
    .await;
    let (start, end) = (day("2026-11-10"), day("2026-11-24"));
    let summary = h.dest().join("summary.json");
    let out =
        h.export(&["--start", "2026-11-10", "--end", "2026-11-24", "--summary-json", summary.to_str().unwrap()]).await;
    assert_ok(&out);
    let cfg = h.sim.config().clone();
    let account = cfg.account.clone();
    let mut rows = 0;
    let mut quiet_days = 0;
    let mut duplicates = 0;
    let mut midnight = 0;
    for bot in &cfg.bots {
        let mut d = start;
        while d < end {
            let want = {
                let mut v = truth(&cfg, &bot.id, d);
                v.sort();
                v
            };
            let path = detail_path(h.dest(), d, &account, &bot.id);
            if want.is_empty() {
                quiet_days += 1;
                assert!(!path.exists(), "a quiet day has no file: {path:?}");
            } else {
                let mut got = detail_rows(&path, &account, &bot.id);
                got.sort();
                assert_eq!(got.len(), want.len(), "{} {d}", bot.id);
                assert!(got == want, "rows of {} {d} differ from the API's", bot.id);
                duplicates += got.windows(2).filter(|w| w[0] == w[1]).count();
                midnight += got.iter().filter(|r| r.4 % 86_400_000_000 == 0).count();
                rows += got.len();
                // Totals agree with the details, per event and platform.
                let mut expect: HashMap<(String, String), i64> = HashMap::new();
                for r in &want {
                    *expect.entry((r.0.clone(), r.1.clone())).or_default() += 1;
                }
                assert_eq!(total_counts(&total_path(h.dest(), d, &account, &bot.id)), expect, "{} {d}", bot.id);
            }
            d = d + Days::new(1);
        }
    }
    assert!(rows > 200_000, "the busy bot alone has more than the row cap per week: {rows}");
    assert!(
        quiet_days > 0 && duplicates > 0 && midnight > 0,
        "quiet {quiet_days} dup {duplicates} midnight {midnight}"
    );
    let stats = h.sim.stats();
    assert_eq!(stats.rejected_429, 0, "no request may be throttled at the default rate");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["tables"]["custom_event_detail"]["rows"].as_u64(), Some(rows as u64));
    assert_eq!(json["throttled_429"].as_u64(), Some(0));
    assert!(json["splits"].as_u64().unwrap() >= 2, "the busy bot's windows were split: {json}");
    assert_eq!(json["cursors"]["bot-busy"]["detail"], "2026-11-24");

    // Same range again: same bytes, every file.
    let before = files(h.dest());
    let out = h.export(&["--start", "2026-11-10", "--end", "2026-11-24"]).await;
    assert_ok(&out);
    let after = files(h.dest());
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    for (p, b) in &before {
        assert!(after[p] == *b, "{p:?} changed on re-export");
    }
    assert_eq!(h.sim.stats().rejected_429, 0);
}

/// Without the totals to warn it, a detail download that comes back holding exactly the row cap
/// is fetched again day by day, and no row is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_download_is_split_and_complete() {
    let h = Harness::new(vec![SimBot::new("bot-busy", 16_000)]).await;
    let summary = h.dest().join("s.json");
    let out =
        h.export(&["--start", "2026-11-17", "--streams", "detail", "--summary-json", summary.to_str().unwrap()]).await;
    assert_ok(&out);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["splits"].as_u64(), Some(1), "{json}");
    assert_eq!(json["data_requests"].as_u64(), Some(8), "one capped request, then one per day: {json}");
    let cfg = h.sim.config().clone();
    let mut d = day("2026-11-17");
    while d < day("2026-11-24") {
        let mut want = truth(&cfg, "bot-busy", d);
        want.sort();
        let mut got = detail_rows(&detail_path(h.dest(), d, &cfg.account, "bot-busy"), &cfg.account, "bot-busy");
        got.sort();
        assert!(got == want, "bot-busy {d}: {} rows, want {}", got.len(), want.len());
        d = d + Days::new(1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_runs_continue_from_the_cursor() {
    let h = Harness::new(vec![SimBot::new("bot-a", 50)]).await;
    assert_ok(&h.export(&["--start", "2026-11-20"]).await);
    let after_first = h.sim.stats().data_requests;
    assert_eq!(after_first, 2, "one window, detail and total");
    // Up to date: no data request, exit 0.
    assert_ok(&h.export(&[]).await);
    assert_eq!(h.sim.stats().data_requests, after_first);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.dest().join("_botevents/state/12345678/bot-a.json")).unwrap()).unwrap();
    assert_eq!(state["cursors"]["detail"], "2026-11-24");
    // A day later (the same API, one day on), exactly the new day is fetched.
    let later = Simulator::start(
        SimConfig { now: Some(now() + Days::new(1)), ..h.sim.config().clone() },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let url = later.base_url().to_string();
    let out = bare_export(&later, h.dest(), "bot-a")
        .args(["--api-url", &url, "--login-url", &url, "--now", "2026-11-25T12:00:00Z"])
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    assert_eq!(later.stats().data_requests, 2);
    assert!(detail_path(h.dest(), day("2026-11-24"), &later.config().account, "bot-a").exists());
}

/// Backfilling an older range adds its days and leaves the cursor and every newer file alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_never_moves_the_cursor_back_or_wipes_anything() {
    // Busy enough to have events every day (quieter bots have empty days, and no file for them).
    let h = Harness::new(vec![SimBot::new("bot-a", 600)]).await;
    assert_ok(&h.export(&["--start", "2026-11-20"]).await);
    let recent = files(h.dest());
    assert_eq!(recent.len(), 8, "4 days × detail and total");
    let state_path = h.dest().join("_botevents/state/12345678/bot-a.json");
    let cursors = |p: &Path| -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap()["cursors"].clone()
    };
    let before = cursors(&state_path);
    assert_ok(&h.export(&["--start", "2026-11-10", "--end", "2026-11-13"]).await);
    assert_eq!(cursors(&state_path), before, "the cursor stays where it was");
    let all = files(h.dest());
    assert_eq!(all.len(), 8 + 6, "three older days added");
    for (p, bytes) in &recent {
        assert!(all[p] == *bytes, "{p:?} changed");
    }
    assert!(detail_path(h.dest(), day("2026-11-10"), "12345678", "bot-a").exists());
    // The next incremental run continues from the cursor, not from the backfill's end.
    let sent = h.sim.stats().data_requests;
    assert_ok(&h.export(&[]).await);
    assert_eq!(h.sim.stats().data_requests, sent, "up to date");
}

/// Exporting a range that starts after the cursor leaves the cursor where it is: the days between
/// were never exported, and the next incremental run exports them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_range_never_moves_the_cursor_over_days_not_exported() {
    let h = Harness::new(vec![SimBot::new("bot-a", 600)]).await;
    let state_path = h.dest().join("_botevents/state/12345678/bot-a.json");
    let cursor = || -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&state_path).unwrap()).unwrap()["cursors"]["detail"]
            .clone()
    };
    assert_ok(&h.export(&["--start", "2026-11-10", "--end", "2026-11-13"]).await);
    assert_eq!(cursor(), "2026-11-13");
    assert_ok(&h.export(&["--start", "2026-11-20", "--end", "2026-11-22"]).await);
    assert_eq!(cursor(), "2026-11-13", "the days from 2026-11-13 to 2026-11-19 were not exported");
    assert!(!detail_path(h.dest(), day("2026-11-15"), "12345678", "bot-a").exists());
    // The next incremental run exports the gap and moves on to the horizon.
    assert_ok(&h.export(&[]).await);
    assert_eq!(cursor(), "2026-11-24");
    for d in ["2026-11-13", "2026-11-15", "2026-11-19", "2026-11-23"] {
        assert!(detail_path(h.dest(), day(d), "12345678", "bot-a").exists(), "{d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_change_nothing() {
    let clean = Harness::new(vec![SimBot::new("bot-a", 300)]).await;
    assert_ok(&clean.export(&["--start", "2026-11-17"]).await);
    let faulty = Harness::new(vec![SimBot::new("bot-a", 300)]).await;
    faulty.sim.inject(Fault::Status(500), 1);
    faulty.sim.inject(Fault::Truncate { after_bytes: 5000 }, 1);
    faulty.sim.inject(Fault::Status(503), 1);
    faulty.sim.inject(Fault::Truncate { after_bytes: 10 }, 1);
    let summary = faulty.dest().join("s.json");
    assert_ok(&faulty.export(&["--start", "2026-11-17", "--summary-json", summary.to_str().unwrap()]).await);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["retries"].as_u64(), Some(4), "{json}");
    assert_eq!(files(clean.dest()), files(faulty.dest()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_errors_name_endpoint_window_status_and_correlation_id() {
    let h = Harness::new(vec![SimBot::new("bot-a", 30)]).await;
    h.sim.inject(Fault::Status(500), 10);
    let out = h.export(&["--start", "2026-11-20", "--max-retries", "1"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for needle in [
        "customEventTotal",
        "bot bot-a",
        "window 2026-11-20T00:00:00Z..2026-11-24T00:00:00Z",
        "HTTP 500",
        "correlationId ",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_keeps_committed_files_and_the_next_run_resumes() {
    let h = Harness::new(vec![SimBot::new("bot-a", 100)]).await;
    // Block one file of the second window: a folder where the file should go.
    let blocked = detail_path(h.dest(), day("2026-11-20"), "12345678", "bot-a");
    std::fs::create_dir_all(&blocked).unwrap();
    let out = h.export(&["--start", "2026-11-10"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("event_date=2026-11-20"), "{}", stderr(&out));
    // The first window is committed, whole, and recorded.
    let first = files(h.dest());
    assert!(first.keys().any(|p| p.to_str().unwrap().contains("event_date=2026-11-16")));
    assert!(!first.keys().any(|p| p.to_str().unwrap().contains("event_date=2026-11-17")));
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.dest().join("_botevents/state/12345678/bot-a.json")).unwrap()).unwrap();
    assert_eq!(state["cursors"]["detail"], "2026-11-17");
    // Unblock; the next run resumes from the cursor: one window, two requests.
    std::fs::remove_dir(&blocked).unwrap();
    let before = h.sim.stats().data_requests;
    assert_ok(&h.export(&[]).await);
    assert_eq!(h.sim.stats().data_requests - before, 2);
    let all = files(h.dest());
    for (p, b) in &first {
        assert!(all[p] == *b, "{p:?} changed");
    }
    assert!(blocked.is_file());
}

/// With only `--api-url` pointing at a loopback stand-in, the login host is discovered there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_api_url_alone_is_enough() {
    let h = Harness::new(vec![SimBot::new("bot-a", 20)]).await;
    let out = bare_export(&h.sim, h.dest(), "bot-a")
        .args(["--api-url", h.sim.base_url().as_str(), "--now", NOW, "--start", "2026-11-22"])
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    assert_eq!(h.sim.stats().by_endpoint.get("baseURI").copied(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_auth_errors_have_their_exit_codes() {
    let h = Harness::new(vec![SimBot::new("bot-a", 10)]).await;
    let out = h.export(&["--start", "2026-10-01"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("oldest retrievable day 2026-10-26"), "{}", stderr(&out));

    let out = h.export(&["--bot", "../etc"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid bot id \"../etc\""), "{}", stderr(&out));

    let out = h.export_env(&["--start", "2026-11-20"], &[("BOTEVENTS_PASSWORD", "wrong-password")]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("login") && err.contains("HTTP 401") && err.contains("correlationId "), "{err}");
    assert!(!err.contains("wrong-password"), "secrets are never printed");

    let out = h.export(&["--api-url", "http://example.com/"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("refusing plain http://"), "{}", stderr(&out));
}

/// `--max-duration` stops starting windows, commits what is done and exits 75; the next run
/// resumes without fetching anything twice, and the result equals an uninterrupted export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_stops_resumably() {
    let clean = Harness::new(vec![SimBot::new("bot-a", 40)]).await;
    assert_ok(&clean.export(&[]).await);
    // 5 windows × 2 streams, less a window whose totals hold no event (no detail request).
    let all = clean.sim.stats().data_requests;
    let h = Harness::new(vec![SimBot::new("bot-a", 40)]).await;
    let out = h.export(&["--max-duration", "1s"]).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-duration 1s reached"), "{}", stderr(&out));
    let first = h.sim.stats().data_requests;
    assert!((2..all).contains(&first), "some windows, not all: {first} of {all}");
    assert_ok(&h.export(&[]).await);
    assert_eq!(h.sim.stats().data_requests, all, "none fetched twice");
    assert_eq!(files(h.dest()), files(clean.dest()));
}

/// A bot's windows overlap: the next window's totals go out while this window's details still
/// wait for this window's totals, and the windows commit in order. (One bot, two windows, answers
/// that take a second: sequential windows would send totals, details, totals, details.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bots_next_window_is_asked_for_while_this_one_is_in_flight() {
    let h = Harness::with_config(SimConfig {
        now: Some(now()),
        bots: vec![SimBot::new("bot-a", 100)],
        latency: std::time::Duration::from_secs(1),
        ..SimConfig::default()
    })
    .await;
    assert_ok(&h.export(&["--start", "2026-11-10"]).await);
    let seen = h.sim.requests_seen();
    let at = |what: &str| -> Vec<usize> { (0..seen.len()).filter(|&i| seen[i].contains(what)).collect() };
    let (totals, details) = (at("/download/customEventTotal?"), at("/download/customEventDetail?"));
    assert_eq!((totals.len(), details.len()), (2, 2), "{seen:#?}");
    assert!(totals[1] < details[0], "both windows' totals first: {seen:#?}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.dest().join("_botevents/state/12345678/bot-a.json")).unwrap()).unwrap();
    assert_eq!(state["cursors"]["detail"], "2026-11-24", "{state}");
    let clean = Harness::new(vec![SimBot::new("bot-a", 100)]).await;
    assert_ok(&clean.export(&["--start", "2026-11-10"]).await);
    assert_eq!(files(h.dest()), files(clean.dest()), "the same files as a run with fast answers");
}

/// SIGTERM finishes the windows in flight and exits 75, with every committed file whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_window_in_flight_and_exits_75() {
    let h = Harness::new(vec![SimBot::new("bot-a", 40)]).await;
    let url = h.sim.base_url().to_string();
    let child = bare_export(&h.sim, h.dest(), "bot-a")
        .args(["--api-url", &url, "--login-url", &url, "--now", NOW])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let state = h.dest().join("_botevents/state/12345678/bot-a.json");
    // Generous: a loaded machine may take a while for the first window.
    for _ in 0..1500 {
        if state.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(state.exists(), "the first window was committed");
    let pid = child.id().unwrap().to_string();
    assert!(tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    for (p, bytes) in files(h.dest()) {
        let rows: usize = read(&h.dest().join(&p)).iter().map(|b| b.num_rows()).sum();
        assert!(rows > 0 && !bytes.is_empty(), "{p:?} is whole");
    }
    assert_ok(&h.export(&[]).await);
}

/// With a small download cap, a busy day is fetched hour by hour and arrives whole; when even one
/// hour holds the cap, the run refuses to write an incomplete day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_slices_below_the_cap_and_refusal_above_it() {
    let base = SimConfig { now: Some(now()), bots: vec![SimBot::new("bot-a", 2400)], ..SimConfig::default() };
    let h = Harness::with_config(SimConfig { row_cap: 500, ..base.clone() }).await;
    let summary = h.dest().join("s.json");
    assert_ok(
        &h.export(&["--start", "2026-11-22", "--row-cap", "500", "--summary-json", summary.to_str().unwrap()]).await,
    );
    let cfg = h.sim.config().clone();
    for d in [day("2026-11-22"), day("2026-11-23")] {
        let mut want = truth(&cfg, "bot-a", d);
        want.sort();
        let mut got = detail_rows(&detail_path(h.dest(), d, &cfg.account, "bot-a"), &cfg.account, "bot-a");
        got.sort();
        assert!(got == want, "{d}: {} rows, want {}", got.len(), want.len());
    }
    // Each day is over the budget of one request (90 % of 500 rows): its hourly totals (one
    // request) plan hour slices packed up to the budget, not 24 requests a day.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let packing = &json["packing"];
    assert_eq!(packing["hourly_totals_requests"], 1, "one for the window's two busy days: {json}");
    let detail = packing["detail_requests"].as_u64().unwrap();
    assert!((2 * 2400u64).div_ceil(450) <= detail && detail < 48, "{packing}");
    assert_eq!(packing["unpacked_detail_requests"], 48, "{packing}");
    assert_eq!(json["requests_by_stream"]["detail"], detail, "no response was capped: {json}");

    let tight = Harness::with_config(SimConfig { row_cap: 50, ..base }).await;
    let out = tight.export(&["--start", "2026-11-23", "--row-cap", "50"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("one hour holds 50 rows"), "{}", stderr(&out));
    assert!(files(tight.dest()).keys().all(|p| !p.to_str().unwrap().contains("custom_event_detail")));
}

/// A window whose totals hold no event costs no detail request: the summary counts it skipped,
/// and the export is the same as ever (no detail file, cursors moved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_without_events_sends_no_detail_request() {
    let h = Harness::new(vec![SimBot::new("bot-silent", 0)]).await;
    let summary = h.dest().join("_botevents/s.json");
    assert_ok(&h.export(&["--start", "2026-11-10", "--summary-json", summary.to_str().unwrap()]).await);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["windows"], 2, "{json}");
    assert_eq!(json["packing"]["empty_windows_skipped"], 2, "{json}");
    assert_eq!(json["packing"]["detail_requests"], 0, "{json}");
    assert_eq!(json["requests_by_stream"]["total"], 2, "{json}");
    assert!(json["requests_by_stream"].get("detail").is_none(), "{json}");
    assert_eq!(h.sim.stats().data_requests, 2, "the two totals requests only");
    assert_eq!(json["cursors"]["bot-silent"]["detail"], "2026-11-24", "{json}");
    assert!(files(h.dest()).keys().all(|p| !p.to_string_lossy().contains("custom_event_detail")));
}
