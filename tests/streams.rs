//! End-to-end tests of the opt-in streams `catalog` and `histogram`: the real binary against the
//! real simulator over loopback, every file read back with the `parquet` crate's reader and
//! checked against the simulator's ground truth and against the detail rows of the same export.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int16Type, Int64Type, TimestampMicrosecondType};
use botevents::schema::Table;
use botevents_simulator::{SimBot, SimConfig, detail_events, has_children};
use chrono::{Days, NaiveDate, NaiveTime};
use serde_json::Value;

mod common;
use common::*;

const ALL: &str = "detail,total,catalog,histogram";
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// Three bots (one so quiet that its catalog lists only some names), the simulator without its rate limit (the histogram sends many small requests; the
/// client's own limiter still paces them at `--max-rps`).
async fn harness() -> Harness {
    Harness::with_config(SimConfig {
        bots: vec![SimBot::new("bot-support", 800), SimBot::new("bot-sales", 150), SimBot::new("bot-quiet", 3)],
        now: Some(now()),
        max_rps: 0,
        ..SimConfig::default()
    })
    .await
}

fn s(a: &dyn Array, i: usize) -> String {
    if let Some(d) = a.as_dictionary_opt::<Int16Type>() {
        return d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string();
    }
    if let Some(d) = a.as_dictionary_opt::<Int8Type>() {
        return d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string();
    }
    a.as_string::<i32>().value(i).to_string()
}

fn path(dest: &Path, table: Table, d: NaiveDate, account: &str, bot: &str) -> std::path::PathBuf {
    dest.join(format!("{table}/event_date={d}/{account}@{bot}.parquet"))
}

fn micros(d: NaiveDate) -> i64 {
    d.and_time(NaiveTime::MIN).and_utc().timestamp_micros()
}

/// (event, platform, bucket µs) → rows, from the detail files of `days`, bucketed by `bucket` µs.
fn detail_counts(
    dest: &Path,
    account: &str,
    bot: &str,
    days: &[NaiveDate],
    bucket: i64,
) -> BTreeMap<(String, String, i64), i64> {
    let mut out = BTreeMap::new();
    for d in days {
        let p = path(dest, Table::Detail, *d, account, bot);
        if !p.exists() {
            continue;
        }
        for b in read(&p) {
            let times = b.column_by_name("event_time").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
            for i in 0..b.num_rows() {
                let t = times.value(i);
                let key = (
                    s(b.column_by_name("event_name").unwrap().as_ref(), i),
                    s(b.column_by_name("platform").unwrap().as_ref(), i),
                    t - t.rem_euclid(bucket),
                );
                *out.entry(key).or_default() += 1;
            }
        }
    }
    out
}

/// (event, platform, period µs) → count, from the histogram files of `days`; checks every row's
/// ids, interval and that it holds a non-zero count in the file of its period's day.
fn histogram_counts(
    dest: &Path,
    account: &str,
    bot: &str,
    days: &[NaiveDate],
    interval: &str,
) -> BTreeMap<(String, String, i64), i64> {
    let mut out = BTreeMap::new();
    for d in days {
        let p = path(dest, Table::Histogram, *d, account, bot);
        if !p.exists() {
            continue;
        }
        for b in read(&p) {
            assert_eq!(b.schema().as_ref(), Table::Histogram.schema().as_ref(), "{p:?}");
            let period = b.column_by_name("period_start").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
            let count = b.column_by_name("event_count").unwrap().as_primitive::<Int64Type>().clone();
            for i in 0..b.num_rows() {
                assert_eq!(s(b.column_by_name("account_id").unwrap().as_ref(), i), account);
                assert_eq!(s(b.column_by_name("bot_id").unwrap().as_ref(), i), bot);
                assert_eq!(s(b.column_by_name("interval").unwrap().as_ref(), i), interval);
                assert!(count.value(i) > 0, "only non-zero counts: {p:?}");
                let t = period.value(i);
                assert!(micros(*d) <= t && t < micros(*d + Days::new(1)), "{p:?}: a period of another day");
                let key = (
                    s(b.column_by_name("event_name").unwrap().as_ref(), i),
                    s(b.column_by_name("platform").unwrap().as_ref(), i),
                    t,
                );
                assert!(out.insert(key, count.value(i)).is_none(), "{p:?}: one row per (event, platform, period)");
            }
        }
    }
    out
}

/// Catalog rows of one file: (event, has_children, window_start µs, window_end µs).
fn catalog_rows(p: &Path, account: &str, bot: &str) -> Vec<(String, bool, i64, i64)> {
    let mut out = Vec::new();
    for b in read(p) {
        assert_eq!(b.schema().as_ref(), Table::Catalog.schema().as_ref(), "{p:?}");
        let start = b.column_by_name("window_start").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
        let end = b.column_by_name("window_end").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
        let children = b.column_by_name("has_children").unwrap().as_boolean().clone();
        for i in 0..b.num_rows() {
            assert_eq!(s(b.column_by_name("account_id").unwrap().as_ref(), i), account);
            assert_eq!(s(b.column_by_name("bot_id").unwrap().as_ref(), i), bot);
            out.push((
                s(b.column_by_name("event_name").unwrap().as_ref(), i),
                children.value(i),
                start.value(i),
                end.value(i),
            ));
        }
    }
    out
}

/// The event names the API lists for a window: events in `[start, end]` (its end is inclusive,
/// as the vendor's is) of the days it serves (those before `ready_before`).
fn catalog_truth(
    cfg: &SimConfig,
    bot: &str,
    start: NaiveDate,
    end: NaiveDate,
    ready_before: NaiveDate,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut d = start;
    while d < end {
        names.extend(detail_events(cfg, bot, d).into_iter().map(|e| e.event_name));
        d = d + Days::new(1);
    }
    if end < ready_before {
        let midnight = end.and_time(NaiveTime::MIN).and_utc();
        names.extend(
            detail_events(cfg, bot, end).into_iter().filter(|e| e.event_time == midnight).map(|e| e.event_name),
        );
    }
    names
}

/// The most names a catalog can list: every name the busiest bot's data holds over the range.
fn rows_max(cfg: &SimConfig) -> usize {
    catalog_truth(cfg, "bot-support", day("2026-11-12"), day("2026-11-24"), day("2026-11-24")).len()
}

fn days(start: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = start;
    while d < end {
        out.push(d);
        d = d + Days::new(1);
    }
    out
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// All four streams over two windows: the catalog lists exactly the names the API's data holds,
/// the histograms count exactly the exported detail rows per event, platform and day, the
/// histogram costs one catalog request plus one per event name per window, the plan says so,
/// and a second run leaves every byte as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_and_histogram_agree_with_the_details_and_are_idempotent() {
    let h = harness().await;
    let cfg = h.sim.config().clone();
    let account = cfg.account.clone();
    let (start, end) = (day("2026-11-12"), day("2026-11-24"));
    let windows = [(day("2026-11-12"), day("2026-11-19")), (day("2026-11-19"), day("2026-11-24"))];
    // (bot, window) pairs: each costs one request per stream, and the histogram one per name.
    let pairs = (cfg.bots.len() * windows.len()) as u64;
    let range = ["--start", "2026-11-12", "--end", "2026-11-24", "--streams", ALL, "--max-rps", "25"];

    // The plan: the catalog requests are known, the histograms add one per event name per window.
    let out = h.botevents("plan", &[], &[&range[..], &["--json"]].concat()).output().await.unwrap();
    assert_ok(&out);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["requests"].as_u64(), Some(pairs * 3), "(bot, window) pairs × (detail, total, catalog): {plan}");
    assert_eq!(plan["requests_per_event_name"].as_u64(), Some(pairs), "{plan}");
    assert_eq!(plan["requests_are_minimum"], true);
    for b in plan["bots"].as_array().unwrap() {
        assert_eq!(b["requests"]["histogram"].as_u64(), Some(0), "the catalog stream's requests serve it: {b}");
        assert_eq!(b["histogram"]["requests"], "1 catalog + 1 per event name, per window");
        assert_eq!(b["histogram"]["catalog_requests"].as_u64(), Some(windows.len() as u64));
        assert_eq!(b["histogram"]["catalog_shared"], true);
        assert_eq!(b["histogram"]["per_event_name"].as_u64(), Some(windows.len() as u64));
    }
    let text = stdout(&h.botevents("plan", &[], &range).output().await.unwrap());
    assert!(text.contains("histogram: 1 catalog + 1 per event name, per window"), "{text}");
    assert!(text.contains(&format!("plus up to {pairs} histogram requests per event name")), "{text}");
    assert_eq!(h.sim.stats().requests, 0, "plan sends nothing");

    let summary = h.dest().join("summary.json");
    let out = h.export(&[&range[..], &["--summary-json", summary.to_str().unwrap()]].concat()).await;
    assert_ok(&out);
    let stats = h.sim.stats();

    let mut catalog_rows_total = 0;
    let mut names_per_window = 0;
    let mut catalog_files = 0;
    let mut with_children = 0;
    let mut fewer_names = 0;
    let mut hist_rows = 0;
    let mut hist_events = 0;
    for bot in cfg.bots.iter().map(|b| b.id.as_str()) {
        // The catalog: one file per window, on its first day, listing the window's names.
        for (ws, we) in windows {
            let want = catalog_truth(&cfg, bot, ws, we, end);
            let file = path(h.dest(), Table::Catalog, ws, &account, bot);
            assert_eq!(file.exists(), !want.is_empty(), "{file:?}");
            let rows = if want.is_empty() { Vec::new() } else { catalog_rows(&file, &account, bot) };
            catalog_files += u64::from(!want.is_empty());
            let got: BTreeSet<String> = rows.iter().map(|r| r.0.clone()).collect();
            assert_eq!(got, want, "{bot} {ws}..{we}");
            assert_eq!(rows.len(), want.len(), "each name once");
            for (name, children, s, e) in &rows {
                assert_eq!(*children, has_children(name), "{name}");
                assert_eq!((*s, *e), (micros(ws), micros(we)));
            }
            with_children += rows.iter().filter(|r| r.1).count();
            fewer_names += usize::from(want.len() < rows_max(&cfg));
            catalog_rows_total += rows.len();
            names_per_window += want.len();
            for d in days(ws, we).into_iter().skip(1) {
                assert!(!path(h.dest(), Table::Catalog, d, &account, bot).exists(), "{bot} {d}: no catalog");
            }
        }
        // The histograms count exactly the detail rows, per event, platform and day.
        let all_days = days(start, end);
        let want = detail_counts(h.dest(), &account, bot, &all_days, 24 * MICROS_PER_HOUR);
        let got = histogram_counts(h.dest(), &account, bot, &all_days, "daily");
        assert!(!want.is_empty());
        assert_eq!(got, want, "{bot}");
        hist_rows += got.len();
        hist_events += got.values().sum::<i64>();
    }
    assert!(with_children > 0, "some events have children");
    assert!(fewer_names > 0, "the quiet bot's windows list only some names");
    // 1 catalog + 1 histogram per event name, per (bot, window).
    assert_eq!(stats.by_endpoint.get("customEvents").copied(), Some(pairs), "{:?}", stats.by_endpoint);
    assert_eq!(stats.by_endpoint.get("histogram").copied(), Some(names_per_window as u64), "{:?}", stats.by_endpoint);
    assert_eq!(stats.by_endpoint.get("customEventDetail").copied(), Some(pairs));
    assert_eq!(stats.by_endpoint.get("customEventTotal").copied(), Some(pairs));
    assert_eq!(stats.rejected_429, 0);
    let sum = json(&summary);
    assert_eq!(sum["data_requests"].as_u64(), Some(3 * pairs + names_per_window as u64), "{sum}");
    assert_eq!(sum["tables"]["custom_event_catalog"]["rows"].as_u64(), Some(catalog_rows_total as u64), "{sum}");
    assert_eq!(sum["tables"]["custom_event_catalog"]["files_written"].as_u64(), Some(catalog_files), "{sum}");
    assert_eq!(sum["tables"]["custom_event_histogram"]["rows"].as_u64(), Some(hist_rows as u64), "{sum}");
    // One histogram file per (bot, day) with events: exactly the days with detail files.
    let detail_files = sum["tables"]["custom_event_detail"]["files_written"].as_u64();
    assert_eq!(sum["tables"]["custom_event_histogram"]["files_written"].as_u64(), detail_files, "{sum}");
    assert_eq!(sum["cursors"]["bot-sales"]["histogram"], "2026-11-24");
    assert_eq!(sum["cursors"]["bot-sales"]["catalog"], "2026-11-24");
    assert!(sum["warnings"].as_array().unwrap().is_empty(), "{sum}");
    eprintln!(
        "streams: {} catalog rows, {names_per_window} histogram requests, {hist_rows} histogram rows counting {hist_events} events",
        catalog_rows_total
    );

    // Same range again: same bytes, every file; the same requests once more.
    let before = files(h.dest());
    assert_ok(&h.export(&range).await);
    let after = files(h.dest());
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>());
    for (p, b) in &before {
        assert!(after[p] == *b, "{p:?} changed on re-export");
    }
    let again = h.sim.stats();
    assert_eq!(again.by_endpoint["histogram"], 2 * stats.by_endpoint["histogram"]);
    assert_eq!(again.by_endpoint["customEvents"], 2 * pairs);

    // The histogram alone still asks the catalog for the names, and writes the same files.
    let alone = harness().await;
    let out = alone
        .export(&["--start", "2026-11-12", "--end", "2026-11-24", "--streams", "histogram", "--max-rps", "25"])
        .await;
    assert_ok(&out);
    let st = alone.sim.stats();
    assert_eq!(st.by_endpoint.get("customEvents").copied(), Some(pairs), "{:?}", st.by_endpoint);
    assert_eq!(st.by_endpoint.get("histogram").copied(), Some(names_per_window as u64));
    assert_eq!(st.data_requests, pairs + names_per_window as u64);
    let mine = files(alone.dest());
    assert!(mine.keys().all(|p| p.starts_with("custom_event_histogram")), "{:?}", mine.keys());
    let theirs: BTreeMap<_, _> = after.into_iter().filter(|(p, _)| p.starts_with("custom_event_histogram")).collect();
    assert_eq!(mine, theirs);
}

/// Hourly histograms land in the day files of their hours and count the detail rows per hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_histograms_count_the_details_per_hour() {
    let h = harness().await;
    let cfg = h.sim.config().clone();
    let out = h
        .export(&["--start", "2026-11-21", "--streams", "detail,histogram", "--interval", "hourly", "--max-rps", "25"])
        .await;
    assert_ok(&out);
    let d = days(day("2026-11-21"), day("2026-11-24"));
    for bot in ["bot-support", "bot-sales", "bot-quiet"] {
        let want = detail_counts(h.dest(), &cfg.account, bot, &d, MICROS_PER_HOUR);
        let got = histogram_counts(h.dest(), &cfg.account, bot, &d, "hourly");
        let hours = got.keys().map(|k| k.2).collect::<BTreeSet<_>>().len();
        assert!(bot == "bot-quiet" || hours > 24, "{bot}: many hours, {hours}");
        assert_eq!(got, want, "{bot}");
    }
    assert!(files(h.dest()).keys().all(|p| !p.starts_with("custom_event_catalog")));
    let state = json(&h.dest().join("_botevents/state/12345678/bot-sales.json"));
    assert_eq!(state["cursors"]["histogram"], "2026-11-24");
    assert!(state["cursors"].get("catalog").is_none(), "{state}");
}

/// A catalog is filed under the first day of its window: exporting another window that covers
/// that day leaves it alone, and exporting the same window again replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_of_another_window_is_left_alone() {
    let h = harness().await;
    let cfg = h.sim.config().clone();
    let file = |d: &str| path(h.dest(), Table::Catalog, day(d), &cfg.account, "bot-sales");
    let args = |start: &'static str, end: &'static str| {
        ["--bot", "bot-sales", "--streams", "catalog", "--start", start, "--end", end]
    };
    assert_ok(&h.export(&args("2026-11-20", "2026-11-24")).await);
    let first = std::fs::read(file("2026-11-20")).unwrap();
    assert_ok(&h.export(&args("2026-11-18", "2026-11-22")).await);
    assert!(file("2026-11-18").exists());
    assert!(std::fs::read(file("2026-11-20")).unwrap() == first, "the catalog of 2026-11-20..24 is kept");
    let rows = catalog_rows(&file("2026-11-20"), &cfg.account, "bot-sales");
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.2 == micros(day("2026-11-20")) && r.3 == micros(day("2026-11-24")))
    );
    assert_ok(&h.export(&args("2026-11-20", "2026-11-24")).await);
    assert!(std::fs::read(file("2026-11-20")).unwrap() == first, "the same window again: the same file");
}

/// A histogram body that breaks off restarts the stream's window and changes nothing; a histogram
/// request that fails for good fails the run with a message naming the endpoint, bot, window,
/// event name, status and correlation id, and commits nothing of the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histogram_faults_are_retried_or_named() {
    let one = || {
        Harness::with_config(SimConfig {
            bots: vec![SimBot::new("bot-quiet", 20)],
            now: Some(now()),
            max_rps: 0,
            ..SimConfig::default()
        })
    };
    let args = ["--start", "2026-11-20", "--streams", "catalog,histogram", "--max-rps", "25"];
    let clean = one().await;
    assert_ok(&clean.export(&args).await);
    assert!(!files(clean.dest()).is_empty());

    // The catalog passes (a pause of nothing), the first histogram body breaks after 20 bytes.
    let faulty = one().await;
    faulty.sim.inject(botevents_simulator::Fault::Slow { chunk_delay: std::time::Duration::ZERO }, 1);
    faulty.sim.inject(botevents_simulator::Fault::Truncate { after_bytes: 20 }, 1);
    let summary = faulty.dest().join("s.json");
    assert_ok(&faulty.export(&[&args[..], &["--summary-json", summary.to_str().unwrap()]].concat()).await);
    assert_eq!(json(&summary)["retries"].as_u64(), Some(1));
    assert_eq!(files(clean.dest()), files(faulty.dest()));

    // A 404 for one event (the catalog names an event whose histogram is gone): that event has
    // no histogram, with a warning that names it; the rest of the window lands.
    let missing = one().await;
    missing.sim.inject(botevents_simulator::Fault::Slow { chunk_delay: std::time::Duration::ZERO }, 1);
    missing.sim.inject(botevents_simulator::Fault::Status(404), 1);
    let out = missing.export(&args).await;
    assert_ok(&out);
    let err = stderr(&out);
    for needle in [
        "no histogram for event \"",
        "taken as empty: customEvents/histogram",
        "bot bot-quiet",
        "window 2026-11-20T00:00:00Z..2026-11-24T00:00:00Z",
        "HTTP 404",
        "correlationId ",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    assert!(!files(missing.dest()).is_empty());
    assert!(missing.dest().join("_botevents/state/12345678/bot-quiet.json").exists());

    // A status that outlasts the retries fails the window, naming the request.
    let failing = one().await;
    failing.sim.inject(botevents_simulator::Fault::Slow { chunk_delay: std::time::Duration::ZERO }, 1);
    failing.sim.inject(botevents_simulator::Fault::Status(503), 1);
    let out = failing.export(&[&args[..], &["--max-retries", "0"]].concat()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for needle in [
        "customEvents/histogram",
        "bot bot-quiet",
        "window 2026-11-20T00:00:00Z..2026-11-24T00:00:00Z",
        "event \"",
        "HTTP 503",
        "correlationId ",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    assert!(files(failing.dest()).is_empty(), "nothing of the window is committed, the catalog neither");
    assert!(!failing.dest().join("_botevents/state/12345678/bot-quiet.json").exists());
}
