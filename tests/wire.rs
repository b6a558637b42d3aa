//! What goes over the wire: sessions (one login per run, token renewals through SSO, the Login
//! Service's limit) and compressed bodies. Each test runs the real binary against the simulator
//! with the knob it is about, and compares the files with those of a run without it.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use botevents_simulator::{Fault, Scope, SimBot, SimConfig, VENDOR_LOGIN_INTERVAL};
use common::*;

/// Bots of several sizes: the detail stream of bot-busy splits at the row cap given below.
fn bots() -> Vec<SimBot> {
    vec![
        SimBot::new("bot-a", 900),
        SimBot::new("bot-b", 300),
        SimBot::new("bot-c", 40),
        SimBot::new("bot-d", 1_500),
        SimBot::new("bot-e", 700),
        SimBot::new("bot-busy", 4_000),
    ]
}

/// No rate limit in the simulator (the client paces itself at 5/s), the given knobs on top.
fn config(knobs: impl FnOnce(SimConfig) -> SimConfig) -> SimConfig {
    knobs(SimConfig { bots: bots(), now: Some(now()), max_rps: 0, ..SimConfig::default() })
}

/// Ten days of detail and totals, with a row cap that splits bot-busy's weeks; the summary on
/// stdout.
const ARGS: &[&str] = &["--last", "10d", "--row-cap", "25000", "--summary-json", "-"];

fn summary(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn n(s: &serde_json::Value, key: &str) -> u64 {
    s[key].as_u64().unwrap_or_else(|| panic!("no {key} in {s}"))
}

/// The data files of a clean export (no expiry, no gzip, no fault) of the same account.
async fn clean_files() -> BTreeMap<PathBuf, Vec<u8>> {
    let h = Harness::with_config(config(|c| SimConfig { gzip: false, ..c })).await;
    let out = h.export(ARGS).await;
    assert_ok(&out);
    let f = files(h.dest());
    assert!(f.len() > 20, "{} files", f.len());
    f
}

fn assert_same_files(h: &Harness, want: &BTreeMap<PathBuf, Vec<u8>>, what: &str) {
    let got = files(h.dest());
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}");
    for (path, bytes) in want {
        assert!(got[path] == *bytes, "{what}: {path:?} differs from the clean export");
    }
}

/// Access tokens that live one second, many requests in flight, slow answers, and the Login
/// Service's limit on: the run logs in once, every renewal is one SSO call, no login is refused,
/// the 401s are not retries, and every row arrives exactly once (the files are byte for byte
/// those of a run whose tokens never expire).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_login_per_run_however_often_the_token_expires() {
    let want = clean_files().await;
    let h = Harness::with_config(config(|c| SimConfig {
        token_ttl: Some(Duration::from_secs(1)),
        login_interval: Some(VENDOR_LOGIN_INTERVAL),
        latency: Duration::from_millis(300),
        ..c
    }))
    .await;
    let out = h.export(ARGS).await;
    assert_ok(&out);
    assert_same_files(&h, &want, "tokens expiring every second");
    let s = summary(&out);
    let stats = h.sim.stats();
    // At 5 requests/s, the run's data requests take several seconds: tokens did expire.
    assert!(n(&s, "data_requests") >= 20, "{s}");
    assert!(stats.expired_tokens >= 2, "{stats:?}");
    assert_eq!((n(&s, "logins"), stats.by_endpoint["login"]), (1, 1), "one login: {s}");
    assert_eq!((n(&s, "logins_refused_429"), stats.logins_refused), (0, 0), "no login refused: {s}");
    assert!(n(&s, "token_renewals") >= 2, "{s}");
    assert_eq!(stats.by_endpoint["sso"], 1 + n(&s, "token_renewals"), "each renewal is one SSO call: {s}");
    assert_eq!(n(&s, "reauthentications"), n(&s, "token_renewals"), "{s}");
    // Every 401 the API sent was for an expired token, each was counted, none was a retry.
    assert_eq!(n(&s, "unauthorized_401"), stats.rejected_401, "{s} {stats:?}");
    assert_eq!(stats.rejected_401, stats.expired_tokens, "{stats:?}");
    assert!(n(&s, "unauthorized_401") >= n(&s, "token_renewals"), "{s}");
    assert_eq!(n(&s, "retries"), 0, "{s}");
    println!(
        "figure: token ttl 1s, 300 ms answers: {} data requests, {} logins, {} SSO renewals, {} × 401 (sso calls {}, login calls {})",
        n(&s, "data_requests"),
        n(&s, "logins"),
        n(&s, "token_renewals"),
        n(&s, "unauthorized_401"),
        stats.by_endpoint["sso"],
        stats.by_endpoint["login"]
    );
}

/// SSO stops accepting the login's bearer after a while: each refusal costs exactly one new
/// login (then SSO with the new bearer), never one per 401; the files are those of a clean run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_refusing_the_bearer_costs_one_login() {
    let want = clean_files().await;
    let h = Harness::with_config(config(|c| SimConfig {
        token_ttl: Some(Duration::from_millis(700)),
        bearer_ttl: Some(Duration::from_millis(1_600)),
        ..c
    }))
    .await;
    let out = h.export(ARGS).await;
    assert_ok(&out);
    assert_same_files(&h, &want, "bearers expiring");
    let s = summary(&out);
    let stats = h.sim.stats();
    assert!(stats.sso_refused >= 1, "the run outlived a bearer: {stats:?}");
    assert_eq!(n(&s, "logins"), 1 + stats.sso_refused, "one login per refused bearer: {s} {stats:?}");
    assert_eq!(stats.by_endpoint["login"], n(&s, "logins"), "{stats:?}");
    // Every SSO call: the first, one per renewal, one after each new login, and the refusals.
    assert_eq!(
        stats.by_endpoint["sso"],
        n(&s, "token_renewals") + n(&s, "logins") + stats.sso_refused,
        "{s} {stats:?}"
    );
    assert_eq!(n(&s, "reauthentications"), n(&s, "token_renewals") + stats.sso_refused, "{s}");
    assert_eq!(n(&s, "retries"), 0, "{s}");
}

/// A 401 that no renewal cures (the API refuses every token for this account's data) fails the
/// window after three renewals, with exit 3 and the endpoint, window and correlationId named;
/// it does not renew for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_that_renewals_do_not_cure_fails_after_three_renewals() {
    let h = Harness::with_config(config(|c| c)).await;
    h.sim.inject(Fault::Status(401), 1_000);
    let out = h.botevents("export", &["bot-c"], &["--last", "1d", "--summary-json", "-"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("authentication refused (HTTP 401)") && err.contains("bot bot-c window 2026-"), "{err}");
    assert!(err.contains("correlationId "), "{err}");
    let s = summary(&out);
    assert_eq!(n(&s, "token_renewals"), 3, "{s}");
    // Four sends (the first and one after each renewal), each with the raw token and then as
    // `Bearer <token>`: no call has succeeded, so the header's form is not settled.
    assert_eq!((n(&s, "data_requests"), n(&s, "unauthorized_401")), (8, 8), "{s}");
}

/// The API refuses one bot's detail requests with 401 while it accepts the same tokens for the
/// rest: the first 401 looks like an expiry (the bot's totals were accepted with that token just
/// before) and is renewed without counting against the request; the renewed tokens never work
/// for it, so three more renewals end it. That bot fails with exit 3; the other is exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_for_one_bot_while_others_work_is_bounded() {
    let h = Harness::with_config(config(|c| c)).await;
    h.sim.fault_always_matching(Fault::Status(401), "/chatbots/bot-c/download/customEventDetail");
    let out =
        h.botevents("export", &["bot-a", "bot-c"], &["--last", "3d", "--summary-json", "-"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("authentication refused (HTTP 401)") && err.contains("bot bot-c window 2026-"), "{err}");
    let s = summary(&out);
    assert!((4..=10).contains(&n(&s, "token_renewals")), "{s}");
    assert_eq!(n(&s, "unauthorized_401"), n(&s, "token_renewals") + 1, "the last 401 renews nothing: {s}");
    assert_eq!(n(&s, "logins"), 1, "{s}");
    let detail: Vec<_> = files(h.dest()).into_keys().filter(|p| p.starts_with("custom_event_detail")).collect();
    assert_eq!(detail.len(), 3, "bot-a's three days: {detail:?}");
    assert!(detail.iter().all(|p| p.ends_with("12345678@bot-a.parquet")), "{detail:?}");
}

/// The Login Service refuses a login that comes too soon after the last one (429 with
/// Retry-After): the run waits as told and logs in once; a 429 without Retry-After waits the
/// vendor's 5 seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_waits_and_is_sent_again() {
    // `--last` is an explicit range: a second run exports the day again.
    let one_day = ["--last", "1d", "--summary-json", "-"];
    let limited = async {
        let h = Harness::with_config(config(|c| SimConfig { login_interval: Some(Duration::from_secs(3)), ..c })).await;
        let first = h.botevents("export", &["bot-c"], &one_day).output().await.unwrap();
        assert_ok(&first);
        // At once again: the login comes within 3 s of the last.
        let second = h.botevents("export", &["bot-c"], &one_day).output().await.unwrap();
        assert_ok(&second);
        let s = summary(&second);
        let stats = h.sim.stats();
        // One refusal only: the client waited the whole Retry-After before sending again.
        assert_eq!((n(&s, "logins_refused_429"), n(&s, "logins")), (1, 1), "{s}");
        assert_eq!((stats.logins_refused, stats.by_endpoint["login"]), (1, 3), "{stats:?}");
    };
    let bare = async {
        let h = Harness::with_config(config(|c| c)).await;
        h.sim.inject_into(Scope::Auth, Fault::RateLimited { retry_after_secs: None }, 1);
        let started = Instant::now();
        let out = h.botevents("export", &["bot-c"], &one_day).output().await.unwrap();
        let took = started.elapsed();
        assert_ok(&out);
        let s = summary(&out);
        assert_eq!((n(&s, "logins_refused_429"), n(&s, "logins"), n(&s, "throttled_429")), (1, 1, 1), "{s}");
        assert_eq!(h.sim.stats().by_endpoint["login"], 2);
        assert!(took >= Duration::from_secs(5), "a bare 429 waits the vendor's 5 s: {took:?}");
    };
    tokio::join!(limited, bare);
}

/// The same export with and without gzip gives byte-identical files; compressed, fewer bytes
/// come over the wire than the CSV and JSON they carry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_are_identical_with_and_without_gzip() {
    let plain = Harness::with_config(config(|c| SimConfig { gzip: false, ..c })).await;
    let zipped = Harness::with_config(config(|c| c)).await;
    let (out_plain, out_zipped) = tokio::join!(plain.export(ARGS), zipped.export(ARGS));
    assert_ok(&out_plain);
    assert_ok(&out_zipped);
    let want = files(plain.dest());
    assert_same_files(&zipped, &want, "gzip bodies");
    let (p, z) = (summary(&out_plain), summary(&out_zipped));
    assert_eq!(n(&p, "wire_bytes"), n(&p, "bytes_received"), "plain bodies: wire = body: {p}");
    assert_eq!(n(&z, "bytes_received"), n(&p, "bytes_received"), "the same CSV and JSON either way");
    assert!(n(&z, "wire_bytes") < n(&z, "bytes_received"), "{z}");
    assert_eq!(plain.sim.stats().gzip_bodies, 0);
    assert_eq!(zipped.sim.stats().gzip_bodies, n(&z, "data_requests"), "every data answer was compressed");
    println!(
        "figure: gzip: {} bytes of CSV/JSON in {} bytes on the wire ({:.2}), {} data requests",
        n(&z, "bytes_received"),
        n(&z, "wire_bytes"),
        n(&z, "wire_bytes") as f64 / n(&z, "bytes_received") as f64,
        n(&z, "data_requests")
    );
}

/// Gzip bodies broken off midway (connection broken, short of their Content-Length, gone
/// silent) are retried like any broken body, and the run ends with the clean run's files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_body_broken_off_midway_is_retried() {
    let want = clean_files().await;
    let h = Harness::with_config(config(|c| c)).await;
    for fault in
        [Fault::Truncate { after_bytes: 100 }, Fault::ShortBody { after_bytes: 100 }, Fault::Stall { after_bytes: 100 }]
    {
        h.sim.inject(fault, 1);
    }
    let out = h.command(ARGS).args(["--read-timeout", "1s"]).output().await.unwrap();
    assert_ok(&out);
    assert_same_files(&h, &want, "gzip bodies broken off");
    let s = summary(&out);
    let stats = h.sim.stats();
    for kind in ["truncate", "short", "stall"] {
        assert_eq!(stats.faults.get(kind), Some(&1), "{:?}", stats.faults);
    }
    assert!(n(&s, "retries") >= 3, "{s}");
    assert!(stats.gzip_bodies > 0 && n(&s, "wire_bytes") < n(&s, "bytes_received"), "{s}");
}
