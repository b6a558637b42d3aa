//! Nothing lost: exports under seeded fault mixes, exports killed at random points, and every
//! byte the program writes searched for secrets. Each test prints one `figure:` line, which
//! `scripts/reliability.sh` collects for the README.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use botevents_simulator::{Chaos, Fault, SimBot, SimConfig};

mod common;
use common::*;

/// A small cap, so that a week of the busy bot is split by day, as a real busy account's is.
const ROW_CAP: usize = 20_000;

fn config() -> SimConfig {
    SimConfig {
        now: Some(now()),
        row_cap: ROW_CAP,
        bots: vec![SimBot::new("bot-busy", 4_000), SimBot::new("bot-quiet", 120)],
        ..SimConfig::default()
    }
}

/// Two windows per bot: 2026-11-14..21 and 2026-11-21..24.
const ARGS: &[&str] = &["--start", "2026-11-14", "--row-cap", "20000"];

/// The state files' cursors, per bot (their timestamps and run ids differ between runs).
fn cursors(dest: &Path) -> BTreeMap<String, serde_json::Value> {
    let dir = dest.join("_botevents/state/12345678");
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        out.insert(p.file_name().unwrap().to_string_lossy().into_owned(), v["cursors"].clone());
    }
    out
}

/// Every file a reader could see: the layout's folders (everything outside `_botevents/`).
fn layout(dest: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    all_files(dest).into_iter().filter(|(p, _)| !p.starts_with("_botevents")).collect()
}

/// A fault mix: its faults, the share of requests they hit, whether login and SSO are hit too,
/// and the lifetime of an access token in data calls.
struct Mix {
    name: &'static str,
    faults: Vec<Fault>,
    percent: u32,
    auth: bool,
    token_calls: Option<u32>,
}

/// The same export with faults on and off: the same rows, byte-identical files, the same cursors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_under_fault_mixes_equal_a_clean_export() {
    let clean = Harness::with_config(config()).await;
    assert_ok(&clean.export(ARGS).await);
    let want = layout(clean.dest());
    assert!(want.len() > 15, "{} files", want.len());

    let statuses = vec![Fault::Status(500), Fault::Status(502), Fault::Status(503), Fault::Status(429)];
    let connections = vec![
        Fault::Drop,
        Fault::Hang,
        Fault::Truncate { after_bytes: 3_000 },
        Fault::ShortBody { after_bytes: 3_000 },
        Fault::Stall { after_bytes: 3_000 },
    ];
    let bursts = vec![Fault::Status(429), Fault::RateLimited { retry_after_secs: None }, Fault::Status(503)];
    let mixes = [
        Mix { name: "5xx and 429, login too", faults: statuses, percent: 35, auth: true, token_calls: None },
        Mix {
            name: "dropped, hanging, truncated, short and stalled",
            faults: connections,
            percent: 45,
            auth: false,
            token_calls: None,
        },
        Mix {
            name: "429 bursts with and without Retry-After",
            faults: bursts,
            percent: 40,
            auth: true,
            token_calls: None,
        },
        Mix {
            name: "every fault, tokens expiring every 3 calls",
            faults: Fault::all(),
            percent: 30,
            auth: true,
            token_calls: Some(3),
        },
    ];
    let seeds = [11_u64, 12];
    let runs = mixes.iter().flat_map(|mix| seeds.iter().map(move |seed| (mix, *seed)));
    let results = futures::future::join_all(runs.map(|(mix, seed)| {
        let want = &want;
        async move {
            let Mix { name, faults, percent, auth, token_calls } = mix;
            let chaos = Chaos { seed, percent: *percent, mix: faults.clone(), auth: *auth };
            let h = Harness::with_config(SimConfig { chaos: Some(chaos), token_calls: *token_calls, ..config() }).await;
            let started = Instant::now();
            let out = h.command(ARGS).args(["--read-timeout", "1s", "--max-retries", "30"]).output().await.unwrap();
            let took = started.elapsed();
            assert_ok(&out);
            let got = layout(h.dest());
            assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{name} seed {seed}");
            for (path, bytes) in want {
                assert!(got[path] == *bytes, "{name} seed {seed}: {path:?} differs from the clean export");
            }
            let stats = h.sim.stats();
            let served: u64 = stats.faults.values().sum();
            assert!(served >= 3, "{name} seed {seed}: only {served} faults served: {:?}", stats.faults);
            if token_calls.is_some() {
                assert!(stats.expired_tokens > 0, "{name}: tokens expired and were renewed");
            }
            println!(
                "chaos: {name}, seed {seed}: {served} faults {:?}, {} expired tokens, {} requests, {:.1}s: identical",
                stats.faults,
                stats.expired_tokens,
                stats.requests,
                took.as_secs_f64()
            );
            (served, stats.requests)
        }
    }))
    .await;
    let faults: u64 = results.iter().map(|r| r.0).sum();
    let requests: u64 = results.iter().map(|r| r.1).sum();
    println!(
        "figure: chaos: {} runs ({} mixes x {} seeds), {faults} faults in {requests} requests, every file byte-identical to the clean export",
        results.len(),
        mixes.len(),
        seeds.len()
    );
}

fn summary_of(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Two busy bots, each over the cap in a week: their windows take several detail requests.
fn busy_pair() -> SimConfig {
    SimConfig {
        bots: vec![SimBot::new("bot-busy", 4_000), SimBot::new("bot-busy2", 7_000), SimBot::new("bot-quiet", 120)],
        ..config()
    }
}

/// The slice is the unit of retry: when every request's first body breaks off, each is fetched
/// again on its own, once, and the files are those of a clean export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_slice_breaking_once_costs_one_retry_each() {
    let clean = Harness::with_config(busy_pair()).await;
    assert_ok(&clean.export(ARGS).await);
    let want = layout(clean.dest());
    let distinct = clean.sim.stats().data_requests;

    let h = Harness::with_config(busy_pair()).await;
    h.sim.fault_once_each(Fault::Truncate { after_bytes: 100 });
    let summary = h.dest().join("_botevents/s.json");
    assert_ok(&h.export(&[ARGS, &["--summary-json", summary.to_str().unwrap()]].concat()).await);
    let json = summary_of(&summary);
    let packing = &json["packing"];
    assert!(packing["detail_requests"].as_u64().unwrap() > 4, "windows of several detail requests: {packing}");
    assert_eq!(json["retries"], distinct, "one retry per request: {json}");
    assert_eq!(json["retries_by_cause"]["broken_body"], distinct, "{json}");
    assert_eq!(json["data_requests"], 2 * distinct, "each request twice, no window started over: {json}");
    let sent: u64 = json["requests_by_stream"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(sent, 2 * distinct, "{json}");
    assert_eq!(h.sim.stats().faults.values().sum::<u64>(), distinct);
    let got = layout(h.dest());
    let differ: Vec<_> = want.keys().filter(|k| got.get(*k) != want.get(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(differ.is_empty() && extra.is_empty(), "the files differ from a clean export's: {differ:?} {extra:?}");
}

/// A stream's first request that goes silent is retried on its own while the requests after it,
/// read ahead, arrive whole and wait for it: four busy bots whose first windows take four detail
/// requests each, with quick answers (the in-flight gate at its minimum), each first detail body
/// stalling once for `--read-timeout`. Each costs one retry (cause "hang"), the export neither
/// stalls nor starts a window over, and its files are those of a clean export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_request_that_goes_silent_is_retried_alone_while_later_ones_wait() {
    let bots = ["bot-busy", "bot-busy2", "bot-busy3", "bot-busy4"];
    let busy = || SimConfig { bots: bots.iter().map(|&b| SimBot::new(b, 7_000)).collect(), ..config() };
    let clean = Harness::with_config(busy()).await;
    assert_ok(&clean.export(ARGS).await);
    let want = layout(clean.dest());

    let h = Harness::with_config(busy()).await;
    let stalled = Fault::Stall { after_bytes: 100 };
    h.sim.fault_once_each_matching(stalled, "customEventDetail?startDate=2026-11-14T00:00:00Z");
    let summary = h.dest().join("_botevents/s.json");
    let args = [ARGS, &["--read-timeout", "1500ms", "--summary-json", summary.to_str().unwrap()]].concat();
    let run = h.export(&args);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run).await.expect("the export stalled");
    assert_ok(&out);
    let json = summary_of(&summary);
    assert_eq!(json["retries_by_cause"]["hang"], 4, "one retry per bot's first detail request: {json}");
    assert!(json["packing"]["detail_requests"].as_u64().unwrap() >= 16, "{json}");
    assert_eq!(layout(h.dest()), want, "the files are those of a clean export");
}

/// A bot's next window is under way while the window before it is fetched, and is dropped when
/// that window fails: a folder stands where a file of the first window goes, so the first
/// window's commit fails while the second's requests are out; the run fails with no file of the
/// second window, no cursor moved, and nothing left staged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_after_a_failed_one_is_never_committed() {
    let h = Harness::with_config(SimConfig { bots: vec![SimBot::new("bot-busy", 4_000)], ..config() }).await;
    let blocked = h.dest().join("custom_event_detail/event_date=2026-11-15/12345678@bot-busy.parquet");
    std::fs::create_dir_all(blocked.join("in-the-way")).unwrap();
    let out = h.export(ARGS).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("event_date=2026-11-15"), "{}", stderr(&out));
    let seen = h.sim.requests_seen();
    let second_totals = seen.iter().position(|q| q.contains("customEventTotal?startDate=2026-11-21"));
    let first_details = seen.iter().position(|q| q.contains("customEventDetail?startDate=2026-11-1"));
    let (Some(second_totals), Some(first_details)) = (second_totals, first_details) else {
        panic!("both windows were under way: {seen:#?}")
    };
    assert!(second_totals < first_details, "the second window's totals went out first: {seen:#?}");
    let second: Vec<_> = layout(h.dest())
        .into_keys()
        .filter(|p| ["21", "22", "23"].iter().any(|d| p.to_string_lossy().contains(&format!("2026-11-{d}"))))
        .collect();
    assert!(second.is_empty(), "no file of the second window: {second:?}");
    let state = h.dest().join("_botevents/state/12345678/bot-busy.json");
    assert!(!state.exists(), "no cursor moved: {:?}", std::fs::read_to_string(&state));
    let staged: Vec<_> = all_files(h.dest()).into_keys().filter(|p| p.starts_with("_botevents/tmp")).collect();
    assert!(staged.is_empty(), "nothing left staged: {staged:?}");
}

/// A request that breaks more often than its budget fails its window, naming the request, the
/// attempts and every attempt's correlationId, and leaves no file of the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_over_its_budget_fails_the_window_and_names_it() {
    let h = Harness::with_config(SimConfig { bots: vec![SimBot::new("bot-busy", 4_000)], ..config() }).await;
    h.sim.inject(Fault::Truncate { after_bytes: 100 }, 3);
    // One window, so that its totals are the only request in flight when the faults come.
    let out = h.export(&[ARGS, &["--end", "2026-11-21", "--max-retries", "2"]].concat()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let line = err.lines().find(|l| l.contains("fetching failed after 3 attempts")).unwrap_or_else(|| panic!("{err}"));
    let ids = line.split("correlationIds: ").nth(1).and_then(|r| r.split(')').next()).unwrap();
    assert_eq!(ids.split(", ").filter(|id| !id.is_empty() && *id != "none").count(), 3, "{line}");
    for needle in [
        "customEventTotal",
        "bot bot-busy",
        "window 2026-11-14T00:00:00Z..2026-11-21T00:00:00Z",
        "response body broken",
    ] {
        assert!(line.contains(needle), "{needle:?} missing from {line}");
    }
    assert!(layout(h.dest()).is_empty(), "no file of the failed window: {:?}", layout(h.dest()).keys());
}

/// The chaos mix — a quarter of all bodies broken off, plus as many 5xx and 429 — on an account with two
/// bots over the cap: two runs in a row both exit 0, with files identical to a clean export's,
/// and the retries are about one per fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_with_bots_over_the_cap_twice_in_a_row() {
    let clean = Harness::with_config(busy_pair()).await;
    assert_ok(&clean.export(ARGS).await);
    let want = layout(clean.dest());
    let mix = vec![
        Fault::Truncate { after_bytes: 3_000 },
        Fault::ShortBody { after_bytes: 3_000 },
        Fault::Truncate { after_bytes: 40_000 },
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(429),
    ];
    // Half of the requests fail: a quarter of all bodies break off, a quarter get 5xx or 429.
    let chaos = Chaos { seed: 21, percent: 50, mix, auth: false };
    let h = Harness::with_config(SimConfig { chaos: Some(chaos), ..busy_pair() }).await;
    for run in 1..=2 {
        let summary = h.dest().join(format!("_botevents/s{run}.json"));
        let args = ["--summary-json", summary.to_str().unwrap(), "--max-retries", "20"];
        let out = h.export(&[ARGS, &args].concat()).await;
        assert_ok(&out);
        assert!(layout(h.dest()) == want, "run {run}: the files differ from a clean export's");
        let json = summary_of(&summary);
        println!(
            "figure: chaos over the cap, run {run}: {} data requests, {} retries {}, {} faults served so far",
            json["data_requests"],
            json["retries"],
            json["retries_by_cause"],
            h.sim.stats().faults.values().sum::<u64>()
        );
    }
    let faults: u64 = h.sim.stats().faults.values().sum();
    assert!(faults >= 10, "{faults} faults served");
}

/// What a reader may see at any instant: only whole files, each exactly as a clean export
/// writes it, and nothing else in the layout's folders.
fn assert_no_torn_or_stray_files(dest: &Path, want: &BTreeMap<PathBuf, Vec<u8>>, when: &str) -> usize {
    let got = layout(dest);
    for (path, bytes) in &got {
        let name = path.to_string_lossy();
        assert!(name.ends_with(".parquet") && !name.contains('#'), "{when}: stray file {name} in the layout");
        let Some(expected) = want.get(path) else { panic!("{when}: unexpected file {name}") };
        assert!(bytes == expected, "{when}: {name} is not the file a clean export writes (torn?)");
        // And a reader opens it.
        assert!(!read(&dest.join(path)).is_empty(), "{when}: {name} has no rows");
    }
    got.len()
}

/// SIGKILL at random instants — during login, fetch, encode, upload, between a window's files and
/// its state commit — then a re-run: each trial ends identical to a clean export, no torn file is
/// ever visible, and no temporary file is left anywhere once a run completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_then_resume() {
    // A run of this test takes about 10 s; a stall anywhere fails it with where each trial was,
    // rather than holding the suite until its outer time limit.
    let limit = Duration::from_secs(300);
    if tokio::time::timeout(limit, sigkill_trials()).await.is_err() {
        panic!("the SIGKILL trials did not end within {limit:?}; each trial's last step is printed above");
    }
}

async fn sigkill_trials() {
    let clean = Harness::with_config(config()).await;
    let started = Instant::now();
    assert_ok(&clean.export(ARGS).await);
    let clean_run = started.elapsed();
    let want = layout(clean.dest());
    let want_cursors = cursors(clean.dest());

    const TRIALS: u64 = 8;
    const KILLS_PER_TRIAL: usize = 3;
    let mut rng = fastrand::Rng::with_seed(2026);
    let delays: Vec<Vec<Duration>> = (0..TRIALS)
        .map(|_| {
            (0..KILLS_PER_TRIAL).map(|_| clean_run.mul_f64(rng.f64() * 0.9).max(Duration::from_millis(5))).collect()
        })
        .collect();
    let results = futures::future::join_all(delays.into_iter().enumerate().map(|(trial, delays)| {
        let want = &want;
        let want_cursors = &want_cursors;
        async move {
            let h = Harness::with_config(config()).await;
            let mut visible_checked = 0;
            let mut killed_mid_run = 0;
            for (k, delay) in delays.iter().enumerate() {
                eprintln!("trial {trial}: export {k} starts, to be killed after {delay:?}");
                let mut child = h.command(ARGS).stderr(std::process::Stdio::null()).kill_on_drop(true).spawn().unwrap();
                tokio::time::sleep(*delay).await;
                if child.try_wait().unwrap().is_none() {
                    killed_mid_run += 1;
                }
                child.start_kill().unwrap();
                let status = reap(&mut child).await;
                eprintln!("trial {trial}: export {k} killed and reaped ({status})");
                let when = format!("trial {trial} after kill {k} at {delay:?} ({status})");
                visible_checked += assert_no_torn_or_stray_files(h.dest(), want, &when);
            }
            eprintln!("trial {trial}: the final export starts");
            let out = h.export(ARGS).await;
            eprintln!("trial {trial}: the final export ended");
            assert_ok(&out);
            let when = format!("trial {trial} after the final run");
            assert_no_torn_or_stray_files(h.dest(), want, &when);
            assert_eq!(layout(h.dest()).len(), want.len(), "{when}: every file is there");
            assert_eq!(&cursors(h.dest()), want_cursors, "{when}");
            let leftovers: Vec<PathBuf> = all_files(h.dest())
                .into_keys()
                .filter(|p| {
                    let name = p.to_string_lossy();
                    name.contains('#') || p.starts_with("_botevents/tmp")
                })
                .collect();
            assert!(leftovers.is_empty(), "{when}: temporary files left: {leftovers:?}");
            (killed_mid_run, visible_checked)
        }
    }))
    .await;
    let kills: usize = results.iter().map(|r| r.0).sum();
    let checked: usize = results.iter().map(|r| r.1).sum();
    assert!(kills >= (TRIALS as usize * KILLS_PER_TRIAL) / 2, "most kills land mid-run: {kills}");
    println!(
        "figure: crash: {TRIALS} trials, {kills} SIGKILLs mid-run, {checked} visible files checked whole after the kills, \
         every trial resumed to a byte-identical export with no temporary file left"
    );
}

/// Waits for a killed child by polling `waitpid`: `Child::wait` waits for a SIGCHLD, which a
/// test process running several runtimes at once can miss, leaving the test hung on a zombie.
async fn reap(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "a killed botevents did not exit within 60 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Known secret values never appear in anything the program writes: stdout, stderr (text and
/// JSON logs, at the most verbose level), the summary, state, rejects and data files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_any_output() {
    let api_key = "sk-live-Q7x9SECRETAPIKEY2f4";
    let password = "pw-Hunter2SECRETPASSWORD!";
    let h = Harness::with_config(SimConfig {
        api_key: api_key.into(),
        password: password.into(),
        token_calls: Some(2),
        chaos: Some(Chaos { seed: 5, percent: 20, mix: vec![Fault::Status(503), Fault::Drop], auth: true }),
        ..config()
    })
    .await;
    let summary = h.dest().join("summary.json");
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, extra, log) in [
        ("text logs", vec!["--summary-json", summary.to_str().unwrap()], "trace"),
        ("json logs", vec!["--log-format", "json", "--summary-json", "-", "--lookback-days", "2"], "trace"),
    ] {
        let out = h.export_env(&[ARGS, &extra, &["--max-retries", "30"]].concat(), &[("BOTEVENTS_LOG", log)]).await;
        assert_ok(&out);
        outputs.push((format!("{name}: stdout"), out.stdout));
        outputs.push((format!("{name}: stderr"), out.stderr));
    }
    // A failing login prints its error.
    let out = h.export_env(ARGS, &[("BOTEVENTS_PASSWORD", "pw-WrongSECRET-xyz")]).await;
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    outputs.push(("failed login: stderr".into(), [out.stdout, out.stderr].concat()));
    for (path, bytes) in all_files(h.dest()) {
        outputs.push((path.to_string_lossy().into_owned(), bytes));
    }
    let mut secrets = vec![api_key.to_string(), password.to_string(), "pw-WrongSECRET-xyz".to_string()];
    let tokens = h.sim.issued_tokens();
    assert!(tokens.len() >= 4, "logins and token renewals happened: {}", tokens.len());
    secrets.extend(tokens);
    let bytes: usize = outputs.iter().map(|o| o.1.len()).sum();
    let mut hits = Vec::new();
    for (name, data) in &outputs {
        for secret in &secrets {
            if data.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                hits.push(format!("{name} contains {secret}"));
            }
        }
    }
    assert!(hits.is_empty(), "secrets leaked: {hits:#?}");
    assert!(bytes > 100_000, "the outputs were searched: {bytes} bytes");
    println!(
        "figure: secrets: {} secret values (API key, passwords, {} issued tokens) searched in {} outputs ({bytes} bytes, trace-level logs): 0 hits",
        secrets.len(),
        secrets.len() - 3,
        outputs.len()
    );
}

/// Ids that could leave the layout, or hide in it, are refused before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_could_escape_the_layout_are_refused() {
    let h = Harness::with_config(config()).await;
    for (flag, id) in [
        ("--bot", "../etc"),
        ("--bot", "a/b"),
        ("--bot", ".hidden"),
        ("--bot", "bot\nname"),
        ("--bot", "bot\u{7}"),
        ("--account", "../12345678"),
        ("--account", "1234/5678"),
    ] {
        let (account, bot) = if flag == "--bot" { ("12345678", id) } else { (id, "bot-busy") };
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"))
            .args(["export", "--account", account, "--bot", bot, "--dest", h.dest().to_str().unwrap()])
            .args(["--api-url", h.sim.base_url().as_str(), "--now", NOW])
            .env_clear()
            .envs([("BOTEVENTS_API_KEY", "k"), ("BOTEVENTS_USERNAME", "u"), ("BOTEVENTS_PASSWORD", "p")])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {id:?}: {}", stderr(&out));
        let what = flag.trim_start_matches("--");
        assert!(stderr(&out).contains(&format!("invalid {what} id {id:?}")), "{flag} {id:?}: {}", stderr(&out));
    }
    assert!(all_files(h.dest()).is_empty(), "nothing written");
    assert_eq!(h.sim.stats().requests, 0, "nothing sent");
}

/// The fault flags of `export --simulate` (the same as `botevents simulate`'s): a chaotic export
/// equals a clean one, and a simulator that fails every request fails the run, naming the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_flags_of_the_built_in_simulator() {
    let run = |dest: &Path, extra: &[&str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"))
            .args(["export", "--simulate", "--now", NOW, "--last", "3d", "--bot", "bot-sales", "--dest"])
            .arg(dest)
            .args(extra)
            .env_clear()
            .env("BOTEVENTS_LOG", "warn")
            .output()
    };
    let (clean, chaos, broken) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_ok(&run(clean.path(), &[]).await.unwrap());
    let flags = ["--fault-rate", "50", "--fault-mix", "503,drop,short:500,hang", "--fault-seed", "9", "--fault-auth"];
    let out = run(
        chaos.path(),
        &[&flags[..], &["--token-calls", "2", "--read-timeout", "1s", "--max-retries", "30"]].concat(),
    )
    .await
    .unwrap();
    assert_ok(&out);
    assert_eq!(layout(clean.path()), layout(chaos.path()));
    let out = run(broken.path(), &["--fault-rate", "100", "--fault-mix", "502", "--max-retries", "1"]).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 502"), "{}", stderr(&out));
    let out = run(broken.path(), &["--fault-rate", "10", "--fault-mix", "teapot"]).await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown fault 'teapot'"), "{}", stderr(&out));
}
