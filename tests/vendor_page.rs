//! The vendor's page to the letter: what botevents sends is what the page documents, and every
//! answer the page allows exports completely. Each test runs the real binary against the
//! simulator, strict by default, or answering in one of the page's other readings
//! (`SimDialect`), and reads back what was written.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use botevents_simulator::{
    DataAuth, DateForm, Discovery, EmptyAnswer, HourlyDate, IntervalSpelling, PlatformCase, SimBot, SimConfig,
    SimDialect, detail_events,
};
use common::*;

/// Every stream, at a request rate the loopback simulator (no rate limit) takes at once.
const ALL_STREAMS: &[&str] = &["--streams", "detail,total,catalog,histogram", "--max-rps", "200"];

fn bots() -> Vec<SimBot> {
    // bot-a is above 500 events a day, so it has no quiet day; bot-b has some.
    vec![SimBot::new("bot-a", 600), SimBot::new("bot-b", 40)]
}

async fn harness(dialect: SimDialect) -> Harness {
    Harness::with_config(SimConfig { bots: bots(), now: Some(now()), max_rps: 0, dialect, ..SimConfig::default() })
        .await
}

/// `extra` for a run of every stream (the last 2 days unless `extra` gives a range), its summary
/// on stdout.
fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--summary-json", "-"];
    if !extra.iter().any(|a| ["--last", "--start"].contains(a)) {
        v.extend(["--last", "2d"]);
    }
    v.extend_from_slice(ALL_STREAMS);
    v.extend_from_slice(extra);
    v
}

fn summary(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// The data files of a destination (state files name the run's time, so they are left out).
fn data_files(h: &Harness) -> BTreeMap<PathBuf, Vec<u8>> {
    files(h.dest())
}

/// Every data request the strict simulator saw is spelled as the page says: `interval=Daily`
/// (or `Hourly`), dates `…T00:00:00Z`, `eventName` with `%20`, never `+`; none was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strict_simulator_sees_the_page_spelling() {
    for interval in ["daily", "hourly"] {
        let h = harness(SimDialect::default()).await;
        let out = h.export(&args(&["--interval", interval])).await;
        assert_ok(&out);
        let s = summary(&out);
        assert_eq!(s["api_dialect"], serde_json::json!({"interval": "page", "dates": "zulu", "authorization": "raw"}));
        let seen = h.sim.requests_seen();
        let spelled = if interval == "daily" { "interval=Daily" } else { "interval=Hourly" };
        let mut histograms = 0;
        for q in &seen {
            let query = q.split_once('?').map(|(_, q)| q).unwrap_or_default();
            let date = regex_like_dates(query);
            assert!(date, "dates as yyyy-mm-ddTHH:MM:SSZ: {q}");
            assert!(!query.contains('+'), "no + in {q}");
            if q.contains("/download/customEventTotal?") || q.contains("/histogram?") {
                assert!(query.ends_with(spelled), "{q}");
            } else {
                assert!(!query.contains("interval="), "{q}");
            }
            if q.contains("/histogram?") {
                histograms += 1;
                assert!(query.contains("&eventName="), "{q}");
            }
        }
        assert!(histograms > 0 && seen.iter().any(|q| q.contains("%20")), "event names with spaces were asked for");
        let stats = h.sim.stats();
        assert_eq!(stats.rejected_400, 0, "{:?}", stats.bad_params);
        assert_eq!(
            stats.by_interval_spelling.keys().collect::<Vec<_>>(),
            [if interval == "daily" { "Daily" } else { "Hourly" }]
        );
        // What was asked for is what was written: the histograms count the details.
        assert!(s["tables"]["custom_event_histogram"]["rows"].as_u64().unwrap() > 0, "{s}");
    }
}

/// `startDate=YYYY-MM-DDTHH:MM:SSZ&endDate=…`, checked by hand.
fn regex_like_dates(query: &str) -> bool {
    let mut found = 0;
    for pair in query.split('&') {
        let Some((name, value)) = pair.split_once('=') else { return false };
        if name == "startDate" || name == "endDate" {
            let b = value.as_bytes();
            let shape = b.len() == 20
                && b.iter().enumerate().all(|(i, c)| match i {
                    4 | 7 => *c == b'-',
                    10 => *c == b'T',
                    13 | 16 => *c == b':',
                    19 => *c == b'Z',
                    _ => c.is_ascii_digit(),
                });
            if !shape {
                return false;
            }
            found += 1;
        }
    }
    found == 2
}

/// Every reading of the page that does not change the data gives the same files, byte for byte,
/// as the strict simulator; `check` passes exactly where the export does. Each of these failed
/// before botevents accepted the form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reading_of_the_page_exports_the_same_files() {
    let strict = harness(SimDialect::default()).await;
    let out = strict.export(&args(&[])).await;
    assert_ok(&out);
    let want = data_files(&strict);
    assert!(want.len() >= 8, "{:?}", want.keys());
    let base = SimDialect::default();
    let variants: Vec<(&str, SimDialect)> = vec![
        ("interval upper", SimDialect { interval: IntervalSpelling::Upper, ..base }),
        ("interval lower", SimDialect { interval: IntervalSpelling::Lower, ..base }),
        ("lenient", SimDialect::lenient()),
        ("dates with an offset only", SimDialect { dates: DateForm::Offset, ..base }),
        (
            "offset dates and lower interval",
            SimDialect { dates: DateForm::Offset, interval: IntervalSpelling::Lower, ..base },
        ),
        ("empty as [ ]", SimDialect { empty: EmptyAnswer::Spaced, ..base }),
        ("empty as no body", SimDialect { empty: EmptyAnswer::Empty, ..base }),
        ("empty as a header or empty object", SimDialect { empty: EmptyAnswer::Header, ..base }),
        ("empty as {}", SimDialect { empty: EmptyAnswer::Object, ..base }),
        ("empty as null", SimDialect { empty: EmptyAnswer::Null, ..base }),
        ("platforms in mixed case", SimDialect { platform_case: PlatformCase::Mixed, ..base }),
        ("platforms in lower case", SimDialect { platform_case: PlatformCase::Lower, ..base }),
        ("counts as strings", SimDialect { string_counts: true, ..base }),
        ("Bearer on data calls", SimDialect { data_auth: DataAuth::Bearer, ..base }),
    ];
    for (name, dialect) in variants {
        let h = harness(dialect).await;
        let check = h.botevents("check", &[], ALL_STREAMS).output().await.unwrap();
        let out = h.export(&args(&[])).await;
        assert_ok(&out);
        assert!(check.status.success(), "{name}: check failed where the export passed:\n{}", stdout(&check));
        assert_eq!(data_files(&h), want, "{name}: the files differ from the strict simulator's");
        let s = summary(&out);
        assert!(s["warnings"].as_array().unwrap().is_empty(), "{name}: {}", s["warnings"]);
        let dialect = &s["api_dialect"];
        match name {
            "interval upper" => assert_eq!(dialect["interval"], "upper"),
            "interval lower" | "offset dates and lower interval" => assert_eq!(dialect["interval"], "lower"),
            "Bearer on data calls" => assert_eq!(dialect["authorization"], "bearer"),
            _ => {}
        }
        if name.starts_with("dates with") || name.starts_with("offset dates") {
            assert_eq!(dialect["dates"], "offset", "{name}");
        }
        assert!(
            stdout(&check).contains(&format!(
                "dialect    ok       interval={}",
                match dialect["interval"].as_str() {
                    Some("upper") => "DAILY",
                    Some("lower") => "daily",
                    _ => "Daily",
                }
            )),
            "{name}: {}",
            stdout(&check)
        );
    }
}

/// The hourly `Date` in each common form gives the same files; a date without an hour would not
/// (it is a rejected row, never midnight: see the convert tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_of_the_hourly_date_exports_the_same_files() {
    let hourly = ["--interval", "hourly"];
    let strict = harness(SimDialect::default()).await;
    assert_ok(&strict.export(&args(&hourly)).await);
    let want = data_files(&strict);
    for form in HourlyDate::ALL.iter().copied() {
        let h = harness(SimDialect { hourly_date: form, ..SimDialect::default() }).await;
        let check = h.botevents("check", &[], &[ALL_STREAMS, &hourly[..]].concat()).output().await.unwrap();
        assert!(check.status.success(), "{form}: {}", stdout(&check));
        let out = h.export(&args(&hourly)).await;
        assert_ok(&out);
        assert_eq!(data_files(&h), want, "{form}");
        assert_eq!(summary(&out)["rows_rejected"], 0, "{form}");
    }
}

/// Discovery in the Domain API's collection form (another service listed first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_reads_the_collection_form() {
    let h = harness(SimDialect { discovery: Discovery::Collection, ..SimDialect::default() }).await;
    let url = h.sim.base_url().to_string();
    let only_discovery = ["--api-url", &url, "--discovery-url", &url, "--last", "1d"];
    let check = h.botevents("check", &[], &only_discovery).output().await.unwrap();
    assert!(check.status.success() && stdout(&check).contains("discovery  ok"), "{}", stdout(&check));
    assert_ok(&h.botevents("export", &[], &only_discovery).output().await.unwrap());
    assert_eq!(h.sim.stats().by_endpoint.get("baseURI").copied(), Some(2));
}

/// A server in UTC+2 whose daily buckets start at 22:00Z: every bucket that overlaps the window
/// is kept whole at its own start (the first in the day before the window), with a warning, and
/// the histogram's counts still add up to the totals'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_of_another_time_zone_are_kept_with_a_warning() {
    let h = Harness::with_config(SimConfig {
        bots: vec![SimBot::new("bot-a", 600)],
        now: Some(now()),
        max_rps: 0,
        dialect: SimDialect { bucket_offset_hours: 2, ..SimDialect::default() },
        ..SimConfig::default()
    })
    .await;
    let out = h.export(&args(&["--start", "2026-11-21", "--end", "2026-11-24"])).await;
    assert_ok(&out);
    let s = summary(&out);
    assert!(s["unaligned_buckets"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["buckets_outside_window"], 0, "{s}");
    let warnings = s["warnings"].to_string();
    assert!(warnings.contains("do not start on a UTC day"), "{warnings}");
    let total_days: Vec<String> = data_files(&h)
        .keys()
        .filter(|p| p.starts_with("custom_event_total"))
        .map(|p| p.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Buckets start 22:00Z on 11-20 (overlapping 11-21), 11-21, 11-22 and 11-23.
    assert_eq!(
        total_days,
        ["event_date=2026-11-20", "event_date=2026-11-21", "event_date=2026-11-22", "event_date=2026-11-23"]
    );
    assert_eq!(s["tables"]["custom_event_total"]["rows"].as_u64().map(|r| r > 0), Some(true), "{}", s["tables"]);
}

/// A bot with no events at all and one with rare events: the strict simulator answers `[]` for
/// every empty download; the export succeeds, writes no file for an empty day, and moves every
/// cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_without_events_export_with_empty_lists() {
    let cfg = SimConfig {
        bots: vec![SimBot::new("bot-none", 0), SimBot::new("bot-rare", 2)],
        now: Some(now()),
        max_rps: 0,
        ..SimConfig::default()
    };
    let h = Harness::with_config(cfg.clone()).await;
    let out = h.export(&args(&["--last", "7d"])).await;
    assert_ok(&out);
    let s = summary(&out);
    assert!(s["empty_answers"].as_u64().unwrap() > 0 && h.sim.stats().empty_answers > 0, "{s}");
    assert!(s["warnings"].as_array().unwrap().is_empty(), "{}", s["warnings"]);
    let files = data_files(&h);
    assert!(!files.keys().any(|p| p.to_string_lossy().contains("bot-none")), "{:?}", files.keys());
    // bot-rare: a detail file exactly for the days that have events.
    let mut want: Vec<String> = Vec::new();
    let mut quiet = 0;
    for day in (17..24).map(|d| common::day(&format!("2026-11-{d}"))) {
        if detail_events(&cfg, "bot-rare", day).is_empty() {
            quiet += 1;
        } else {
            want.push(format!("custom_event_detail/event_date={day}/12345678@bot-rare.parquet"));
        }
    }
    assert!(quiet > 0, "the rare bot has quiet days");
    let got: Vec<String> = files
        .keys()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p.starts_with("custom_event_detail"))
        .collect();
    assert_eq!(got, want);
    for bot in ["bot-none", "bot-rare"] {
        for stream in ["detail", "total", "catalog", "histogram"] {
            assert_eq!(s["cursors"][bot][stream], "2026-11-24", "{bot} {stream}: {}", s["cursors"]);
        }
    }
}

/// A bot's log lines carry its account and bot, and a window's its window, as the fields of
/// their spans; a warning is logged once, with its kind, and counted by kind in the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_name_their_bot_and_window_and_a_warning_its_kind() {
    let mut cfg =
        SimConfig { bots: vec![SimBot::new("bot-a", 600)], now: Some(now()), max_rps: 0, ..SimConfig::default() };
    let gone = detail_events(&cfg, "bot-a", common::day("2026-11-23"))[0].event_name.clone();
    cfg.missing_histograms = vec![gone.clone()];
    let h = Harness::with_config(cfg).await;
    let out = h.export_env(&args(&["--last", "1d"]), &[("BOTEVENTS_LOG", "warn,botevents=info")]).await;
    assert_ok(&out);
    let err = stderr(&out);
    let named = format!("no histogram for event {gone:?}, taken as empty");
    // The summary's own lines (`  warning: …`) are not log lines.
    let logged: Vec<&str> = err.lines().filter(|l| l.contains(&named) && !l.starts_with("  warning: ")).collect();
    assert_eq!(logged.len(), 1, "the warning is logged once:\n{err}");
    let line = logged[0];
    assert!(line.contains("bot{account=12345678 bot=bot-a}:window{window=2026-11-23..2026-11-24}:"), "{line}");
    assert!(line.contains(r#"kind="histogram_refused""#), "{line}");
    let s = summary(&out);
    assert_eq!(s["warnings_by_kind"], serde_json::json!({ "histogram_refused": 1 }), "{s}");
    assert_eq!(s["warnings"].as_array().map(Vec::len), Some(1), "{s}");
}

/// The catalog lists an event whose histogram the API does not have (404): that event has no
/// histogram, with a warning; every other stream and event is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_histogram_is_empty_with_a_warning() {
    // Above 500 events a day, a simulated bot has no quiet day.
    let mut cfg =
        SimConfig { bots: vec![SimBot::new("bot-a", 600)], now: Some(now()), max_rps: 0, ..SimConfig::default() };
    let gone = detail_events(&cfg, "bot-a", common::day("2026-11-23"))[0].event_name.clone();
    cfg.missing_histograms = vec![gone.clone()];
    let h = Harness::with_config(cfg).await;
    let out = h.export(&args(&["--last", "1d"])).await;
    assert_ok(&out);
    let s = summary(&out);
    let warnings: Vec<&str> = s["warnings"].as_array().unwrap().iter().filter_map(|w| w.as_str()).collect();
    let named = format!("no histogram for event {gone:?}, taken as empty");
    assert!(warnings.iter().any(|w| w.contains(&named) && w.contains("HTTP 404")), "{warnings:?}");
    for table in ["custom_event_detail", "custom_event_total", "custom_event_catalog", "custom_event_histogram"] {
        assert!(s["tables"][table]["rows"].as_u64().unwrap() > 0, "{table}: {}", s["tables"]);
    }
}

/// The access token expires every few calls while the API wants `Bearer`: each renewal keeps the
/// scheme learned once, and the export completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_keep_the_bearer_scheme() {
    let h = Harness::with_config(SimConfig {
        bots: bots(),
        now: Some(now()),
        max_rps: 0,
        token_calls: Some(4),
        dialect: SimDialect { data_auth: DataAuth::Bearer, ..SimDialect::default() },
        ..SimConfig::default()
    })
    .await;
    let out = h.export_env(&args(&[]), &[("BOTEVENTS_LOG", "warn,botevents=info")]).await;
    assert_ok(&out);
    let s = summary(&out);
    assert_eq!(s["api_dialect"]["authorization"], "bearer", "{s}");
    assert!(s["reauthentications"].as_u64().unwrap() > 2, "{s}");
    // One probe taught the scheme (requests in flight with the raw token meanwhile were refused
    // too, and sent again with `Bearer`); every other 401 was an expired token.
    let stats = h.sim.stats();
    assert!(stats.rejected_401 > stats.expired_tokens, "{stats:?}");
    assert_eq!(stderr(&out).matches("trying \"Bearer <token>\" once").count(), 1, "{}", stderr(&out));
}

/// Requests do not wait for the run's first answer. With a gateway whose refusals take as long
/// as its answers (300 ms), many requests are in flight in the page's spelling when the first
/// refusal comes: one request probes, the others wait for what it learns and are sent again in
/// it, each once, and the files are the strict simulator's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_at_a_refusal_are_sent_again_in_what_one_probe_learned() {
    let slow = |dialect| SimConfig {
        bots: (0..6).map(|i| SimBot::new(format!("bot-{i}"), 300)).collect(),
        now: Some(now()),
        max_rps: 0,
        latency: std::time::Duration::from_millis(300),
        slow_refusals: true,
        dialect,
        ..SimConfig::default()
    };
    let week = args(&["--last", "7d"]);
    let strict = Harness::with_config(slow(SimDialect::default())).await;
    let out = strict.export(&week).await;
    assert_ok(&out);
    let (want, distinct) = (data_files(&strict), summary(&out)["data_requests"].as_u64().unwrap());
    let base = SimDialect::default();
    for (name, dialect, learned) in [
        (
            "interval upper",
            SimDialect { interval: IntervalSpelling::Upper, ..base },
            "the API refused the page's spelling (400)",
        ),
        ("Bearer on data calls", SimDialect { data_auth: DataAuth::Bearer, ..base }, "trying \"Bearer <token>\" once"),
    ] {
        let h = Harness::with_config(slow(dialect)).await;
        let out = h.export_env(&week, &[("BOTEVENTS_LOG", "warn,botevents=info")]).await;
        assert_ok(&out);
        assert_eq!(data_files(&h), want, "{name}: the files differ from the strict simulator's");
        let (s, stats) = (summary(&out), h.sim.stats());
        let refused = stats.rejected_400 + stats.rejected_401 - stats.expired_tokens;
        // Six bots' totals at 200 requests/s, refused after 300 ms: the first refusal finds
        // several in flight.
        assert!(refused >= 3, "{name}: {stats:?}");
        assert_eq!(stderr(&out).matches(learned).count(), 1, "{name}: one probe\n{}", stderr(&out));
        // Each refused request was sent once more, and the probe's first other spelling succeeded.
        assert_eq!(s["data_requests"].as_u64().unwrap(), distinct + refused, "{name}: {s}");
    }
}

/// The simulator's dialect flags of `export --simulate`, end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dialect_flags_of_export_simulate() {
    let dest = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"));
    cmd.args(["export", "--simulate", "--now", NOW, "--last", "2d", "--bot", "bot-sales", "--summary-json", "-"])
        .args(["--sim-interval", "lower", "--sim-empty", "null", "--sim-platform-case", "mixed", "--max-rps", "100"])
        .arg("--dest")
        .arg(dest.path())
        .env_clear()
        .env("BOTEVENTS_LOG", "warn");
    let out = run_to_end(cmd).await;
    assert_ok(&out);
    let s = summary(&out);
    assert_eq!(s["api_dialect"]["interval"], "lower", "{s}");
    assert!(s["tables"]["custom_event_total"]["rows"].as_u64().unwrap() > 0, "{s}");
    let bad = run_to_end({
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"));
        c.args(["export", "--simulate", "--sim-empty", "nothing"]).env_clear();
        c
    })
    .await;
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}
