//! End-to-end tests of the operating commands — `plan`, `check`, `state show|reset` — and of the
//! retention risk in the run summary: the real binary against the real simulator over loopback.

use botevents_simulator::{Fault, Scope, SimBot, SimConfig};
use serde_json::Value;

mod common;
use common::*;

/// A simulator without its rate limit: these tests count requests across several processes,
/// and one that starts right after another may otherwise meet a 429 (and retry) on its first
/// request, which would count twice.
async fn unlimited(bots: Vec<SimBot>) -> Harness {
    Harness::with_config(SimConfig { bots, now: Some(now()), max_rps: 0, ..SimConfig::default() }).await
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

fn bot_plan<'a>(plan: &'a Value, bot: &str) -> &'a Value {
    plan["bots"].as_array().unwrap().iter().find(|b| b["bot"] == bot).unwrap_or_else(|| panic!("{bot} in {plan}"))
}

fn requests(bot: &Value) -> u64 {
    bot["requests"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum()
}

/// The plan sends nothing; its request count is what the export then sends for bots below the
/// row cap, and a minimum, flagged "may split", for a bot over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_predicts_the_requests_of_the_export() {
    let h =
        unlimited(vec![SimBot::new("bot-quiet", 50), SimBot::new("bot-support", 800), SimBot::new("bot-busy", 16_000)])
            .await;
    let range = ["--start", "2026-11-10"];
    let out = h.botevents("plan", &[], &[&range[..], &["--json"]].concat()).output().await.unwrap();
    assert_ok(&out);
    assert_eq!(h.sim.stats().requests, 0, "plan sends nothing");
    let plan = json(&out);
    assert_eq!(plan["horizon"], "2026-11-24");
    assert_eq!(plan["oldest_retrievable"], "2026-10-26");
    assert_eq!(plan["requests"].as_u64(), Some(12), "3 bots × 2 windows × 2 streams: {plan}");
    assert_eq!(plan["requests_are_minimum"], true);
    assert_eq!(plan["seconds"].as_f64(), Some(12.0 / 5.0));
    for bot in ["bot-quiet", "bot-support", "bot-busy"] {
        let p = bot_plan(&plan, bot);
        assert_eq!(p["range"]["start"], "2026-11-10");
        assert_eq!(p["range"]["end"], "2026-11-24");
        assert_eq!(p["windows"].as_array().unwrap().len(), 2, "{p}");
        assert_eq!(p["requests"]["detail"].as_u64(), Some(2));
        assert_eq!(p["requests"]["total"].as_u64(), Some(2));
        assert_eq!(p["may_split"], true);
        assert_eq!(p["cursors_after"]["detail"], "2026-11-24");
        let before = h.sim.stats().data_requests;
        assert_ok(&h.botevents("export", &[bot], &range).output().await.unwrap());
        let sent = h.sim.stats().data_requests - before;
        if bot == "bot-busy" {
            // Each week holds over 90,000 events: the totals pack the details into more requests.
            assert!(sent > requests(p), "{bot}: {sent} sent, plan said {} before the packing", requests(p));
        } else {
            assert_eq!(sent, requests(p), "{bot}: plan and export agree");
        }
    }
    // Up to date now: the plan has nothing to do, and says so.
    let sent_so_far = h.sim.stats().requests;
    let out = h.botevents("plan", &[], &["--json"]).output().await.unwrap();
    assert_ok(&out);
    let plan = json(&out);
    assert_eq!(plan["requests"].as_u64(), Some(0), "{plan}");
    for b in plan["bots"].as_array().unwrap() {
        assert!(b["range"].is_null() && b["windows"].as_array().unwrap().is_empty(), "{b}");
        assert_eq!(b["start_from"], "cursor");
        assert_eq!(b["cursors"]["detail"], "2026-11-24");
    }
    let text = stdout(&h.botevents("plan", &[], &[]).output().await.unwrap());
    assert!(text.contains("bot bot-busy: cursors detail 2026-11-24, total 2026-11-24"), "{text}");
    assert!(text.contains("up to date: nothing to export"), "{text}");
    assert_eq!(h.sim.stats().requests, sent_so_far, "plan sends nothing");
}

/// The plan's human form names windows, per-stream requests, the time at the rate limit and the
/// possible split; `--last` and `--max-rps` are the export's own options.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_prints_windows_requests_and_time() {
    let h = unlimited(vec![SimBot::new("bot-a", 50)]).await;
    let out =
        h.botevents("plan", &[], &["--last", "10d", "--max-rps", "2", "--streams", "total"]).output().await.unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "range 2026-11-14..2026-11-24 (10 days) from the --last, 2 windows",
        "window 2026-11-14..2026-11-21 (7 days)",
        "window 2026-11-21..2026-11-24 (3 days)",
        "requests: total 2",
        "total: 2 data requests at 2 requests/s: 1.0 s",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    assert!(!text.contains("may split"), "no detail stream, nothing can split:\n{text}");
    // An explicit start before retention is the export's usage error, named.
    let out = h.botevents("plan", &[], &["--start", "2026-10-01"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("oldest retrievable day 2026-10-26"), "{}", stderr(&out));
    assert_eq!(h.sim.stats().requests, 0);
}

/// Days after the cursor that the API is about to forget are listed with the days left, by the
/// plan, by `state show` and by the run summary; days already gone are listed as lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_at_risk_and_lost_are_reported() {
    let h = unlimited(vec![SimBot::new("bot-a", 50)]).await;
    let summary = h.dest().join("s.json");
    let out = h
        .botevents(
            "export",
            &[],
            &["--start", "2026-10-26", "--end", "2026-10-28", "--summary-json", summary.to_str().unwrap()],
        )
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    // The cursor is 2026-10-28; the oldest retrievable day is 2026-10-26 (today − 29).
    let s: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(
        s["days_at_risk"],
        serde_json::json!([
            {"bot": "bot-a", "day": "2026-10-28", "days_left": 2},
            {"bot": "bot-a", "day": "2026-10-29", "days_left": 3},
        ]),
        "{s}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("bot bot-a: 2 days not exported yet fall out of retention soon: 2026-10-28 (2 days left), 2026-10-29 (3 days left)"),
        "{err}"
    );
    // Three days later, 2026-10-28 is gone and 2026-10-29 is on its last day.
    let later = "2026-11-27T12:00:00Z";
    let out = h.botevents("plan", &[], &["--json", "--now", later]).output().await.unwrap();
    assert_ok(&out);
    let plan = json(&out);
    let p = bot_plan(&plan, "bot-a");
    assert_eq!(p["days_lost"], serde_json::json!({"start": "2026-10-28", "end": "2026-10-29", "days": 1}));
    // The lost day can never be exported: the cursor moves past it with the days after.
    assert_eq!(p["cursors_after"]["detail"], "2026-11-27", "{p}");
    let at_risk: Vec<(String, i64)> = p["days_at_risk"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["day"].as_str().unwrap().to_string(), d["days_left"].as_i64().unwrap()))
        .collect();
    let want: Vec<(String, i64)> =
        [("2026-10-29", 0), ("2026-10-30", 1), ("2026-10-31", 2), ("2026-11-01", 3)].map(|(d, n)| (d.into(), n)).into();
    assert_eq!(at_risk, want);
    let out = h.state("show", &["--now", later]).output().await.unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("days at risk (4 not exported yet, soon out of retention): 2026-10-29 (0 days left)"),
        "{text}"
    );
    assert!(text.contains("days lost (out of retention, never exported): 2026-10-28..2026-10-29 (1 day)"), "{text}");
    // A complete run leaves nothing at risk.
    let out = h.botevents("export", &[], &["--summary-json", "-"]).output().await.unwrap();
    assert_ok(&out);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["days_at_risk"], serde_json::json!([]), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_with_good_credentials() {
    let h = unlimited(vec![SimBot::new("bot-a", 500), SimBot::new("bot-b", 10)]).await;
    let out = h.botevents("check", &[], &[]).output().await.unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    for needle in [
        "login      ok",
        "sso        ok",
        "total      ok       customEventTotal bot bot-a 2026-11-23T00:00:00Z..2026-11-24T00:00:00Z: ",
        "detail     ok       customEventDetail bot bot-a 2026-11-23T00:00:00Z..2026-11-23T01:00:00Z: ",
        " rows decoded, ",
        "correlationId ",
        "dialect    ok       interval=Daily, dates …Z, authorization raw token",
        "all steps passed",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let stats = h.sim.stats();
    assert_eq!(stats.data_requests, 2, "one small call per stream");
    assert_eq!(stats.by_endpoint.get("customEventDetail").copied(), Some(1));
    assert_eq!(stats.by_endpoint.get("customEventTotal").copied(), Some(1));
    assert_eq!(stats.by_endpoint.get("login").copied(), Some(1));
    assert_eq!(stats.by_endpoint.get("sso").copied(), Some(1));
    assert!(!h.dest().join("_botevents").exists(), "check writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_login_step_and_exits_3_on_a_wrong_password() {
    let h = unlimited(vec![SimBot::new("bot-a", 50)]).await;
    let out = h.botevents("check", &[], &[]).env("BOTEVENTS_PASSWORD", "wrong").output().await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("login      FAILED") && text.contains("HTTP 401"), "{text}");
    assert!(text.contains("sso        skipped") && text.contains("detail     skipped"), "{text}");
    assert!(stderr(&out).contains("check failed at login: authentication failed: login"), "{}", stderr(&out));
    assert!(!text.contains("wrong") && !stderr(&out).contains("wrong"), "the password is never printed");
    assert_eq!(h.sim.stats().data_requests, 0);
    // A login that fails for another reason than the credentials is exit 1, not 3.
    h.sim.inject_into(Scope::Auth, Fault::Status(500), 1);
    let out = h.botevents("check", &[], &["--max-retries", "0"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("login      FAILED   fetching failed: login"), "{}", stdout(&out));
    assert!(stdout(&out).contains("HTTP 500"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_data_call_and_exits_1_when_it_fails() {
    let h = unlimited(vec![SimBot::new("bot-a", 50)]).await;
    h.sim.inject(Fault::Status(503), 1);
    let out = h.botevents("check", &[], &["--max-retries", "0"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("login      ok") && text.contains("sso        ok"), "{text}");
    assert!(text.contains("total      FAILED") && text.contains("detail     skipped"), "{text}");
    let err = stderr(&out);
    for needle in ["check failed at total", "customEventTotal", "bot bot-a", "HTTP 503", "correlationId "] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    // With retries, the same fault is ridden out.
    h.sim.inject(Fault::Status(503), 1);
    assert_ok(&h.botevents("check", &[], &[]).output().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_show_lists_cursors_after_an_export() {
    let h = unlimited(vec![SimBot::new("bot-a", 50), SimBot::new("bot-b", 50)]).await;
    let out = h.state("show", &["--json"]).output().await.unwrap();
    assert_ok(&out);
    assert_eq!(json(&out)["bots"], serde_json::json!([]), "no state yet");
    assert_ok(&h.botevents("export", &[], &["--start", "2026-11-20"]).output().await.unwrap());
    let out = h.state("show", &["--json"]).output().await.unwrap();
    assert_ok(&out);
    let v = json(&out);
    let bots = v["bots"].as_array().unwrap();
    assert_eq!(bots.len(), 2, "{v}");
    for (b, id) in bots.iter().zip(["bot-a", "bot-b"]) {
        assert_eq!(b["bot"], id);
        assert_eq!(b["cursors"], serde_json::json!({"detail": "2026-11-24", "total": "2026-11-24"}));
        // When the state was committed, on the run's clock: its start (NOW) plus the time since.
        let updated = chrono::DateTime::parse_from_rfc3339(b["updated_at"].as_str().unwrap()).unwrap();
        let since = updated.with_timezone(&chrono::Utc) - now();
        assert!(since >= chrono::Duration::zero() && since < chrono::Duration::minutes(5), "{b}");
        assert!(b["written_by"].as_str().unwrap().contains('#'), "{b}");
        assert_eq!(b["days_at_risk"], serde_json::json!([]));
    }
    let out = h.state("show", &["--bot", "bot-b", "--bot", "bot-new"]).output().await.unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("bot bot-b: detail 2026-11-24, total 2026-11-24 — updated 2026-11-24T12:0")
            && text.contains("Z by "),
        "{text}"
    );
    assert!(text.contains("bot bot-new: no state (the next run starts at the oldest retained day)"), "{text}");
    assert!(!text.contains("bot-a"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_reset_makes_the_next_export_fetch_the_range_again() {
    let h = unlimited(vec![SimBot::new("bot-a", 50)]).await;
    assert_ok(&h.botevents("export", &[], &["--start", "2026-11-17"]).output().await.unwrap());
    let before = h.sim.stats().data_requests;
    assert_ok(&h.botevents("export", &[], &[]).output().await.unwrap());
    assert_eq!(h.sim.stats().data_requests, before, "up to date: nothing fetched");
    // Forward is refused, and changes nothing.
    let out = h.state("reset", &["--bot", "bot-a", "--to", "2026-11-30"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--to 2026-11-30 is after the detail cursor 2026-11-24"), "{}", stderr(&out));
    // Back to 2026-11-20: the next export fetches 2026-11-20..2026-11-24 again, one window.
    let out = h.state("reset", &["--bot", "bot-a", "--to", "2026-11-20", "--json"]).output().await.unwrap();
    assert_ok(&out);
    let v = json(&out);
    assert_eq!(v["cursors"], serde_json::json!({"detail": "2026-11-20", "total": "2026-11-20"}), "{v}");
    assert_eq!(v["changes"][0], serde_json::json!({"stream": "detail", "from": "2026-11-24", "to": "2026-11-20"}));
    let show = json(&h.state("show", &["--json"]).output().await.unwrap());
    assert!(show["bots"][0]["written_by"].as_str().unwrap().starts_with("state-reset-"), "{show}");
    let plan = json(&h.botevents("plan", &[], &["--json"]).output().await.unwrap());
    assert_eq!(bot_plan(&plan, "bot-a")["range"]["start"], "2026-11-20");
    let before = h.sim.stats().data_requests;
    assert_ok(&h.botevents("export", &[], &[]).output().await.unwrap());
    assert_eq!(h.sim.stats().data_requests - before, 2, "one window, detail and total");
    let show = json(&h.state("show", &["--json"]).output().await.unwrap());
    assert_eq!(show["bots"][0]["cursors"]["detail"], "2026-11-24");
    // One stream only: the run starts from the stream furthest behind.
    let out = h.state("reset", &["--bot", "bot-a", "--stream", "total", "--to", "2026-11-22"]).output().await.unwrap();
    assert_ok(&out);
    assert!(stdout(&out).contains("bot bot-a: total cursor 2026-11-24 → 2026-11-22"), "{}", stdout(&out));
    let before = h.sim.stats().data_requests;
    assert_ok(&h.botevents("export", &[], &[]).output().await.unwrap());
    assert_eq!(h.sim.stats().data_requests - before, 2);
    // Without --to the cursors go: the next run starts at the oldest retained day (5 windows).
    let out = h.state("reset", &["--bot", "bot-a"]).output().await.unwrap();
    assert_ok(&out);
    assert!(stdout(&out).contains("detail cursor 2026-11-24 → removed"), "{}", stdout(&out));
    let plan = json(&h.botevents("plan", &[], &["--json"]).output().await.unwrap());
    let p = bot_plan(&plan, "bot-a");
    assert_eq!(p["start_from"], "oldest retained day");
    assert_eq!(p["range"]["start"], "2026-10-26");
    let before = h.sim.stats().data_requests;
    assert_ok(&h.botevents("export", &[], &[]).output().await.unwrap());
    // One detail request per window, less the windows whose totals hold no event.
    let sent = h.sim.stats().data_requests - before;
    assert!((requests(p) - 2..=requests(p)).contains(&sent), "{sent} sent, plan said {}", requests(p));
    assert_eq!(requests(p), 10);
    // A bot with no state has nothing to reset.
    let out = h.state("reset", &["--bot", "bot-none"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no state at"), "{}", stderr(&out));
}

/// `state show`, `state reset` and `plan` only read: a destination folder that does not exist
/// (a mistyped `--dest`) reads as empty, is said to be missing, and is not created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_commands_do_not_create_a_missing_destination() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo");
    let run = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_botevents"));
        cmd.args(args)
            .args(["--account", "12345678", "--dest", missing.to_str().unwrap(), "--now", NOW])
            .env_clear()
            .env("BOTEVENTS_LOG", "warn");
        cmd
    };
    let out = run(&["state", "show"]).output().await.unwrap();
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("no bot has a state yet") && text.contains("the destination folder does not exist"),
        "{text}"
    );
    let out = run(&["state", "reset", "--bot", "bot-a"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing to reset"), "{}", stderr(&out));
    let out = run(&["plan", "--simulate", "--bot", "bot-a"]).output().await.unwrap();
    assert_ok(&out);
    assert!(!missing.exists(), "{missing:?} was created");
}

/// The plan's windows and cursors are the export's, on the same state, across the edges of
/// retention (days already lost, a cursor at the oldest retained day) and freshness (the
/// horizon with a lookback, partial days, the 03:00 New York edge), and from no state at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_export_agree_at_the_edges() {
    // (name, the cursor to leave in the state first, the options of plan and export)
    let cases: [(&str, Option<&str>, &[&str]); 8] = [
        ("no state", None, &[]),
        ("days lost", Some("2026-10-24"), &[]),
        ("cursor at the oldest day", Some("2026-10-26"), &[]),
        ("cursor at the horizon, lookback", Some("2026-11-24"), &["--lookback-days", "3"]),
        ("partial days", Some("2026-11-20"), &["--allow-partial-days"]),
        ("a second before the freshness edge", Some("2026-11-20"), &["--now", "2026-11-24T07:59:59Z"]),
        ("at the freshness edge", Some("2026-11-20"), &["--now", "2026-11-24T08:00:00Z"]),
        ("--last beyond retention", Some("2026-11-20"), &["--last", "40d"]),
    ];
    for (name, cursor, args) in cases {
        let h = unlimited(vec![SimBot::new("bot-quiet", 20)]).await;
        if let Some(cursor) = cursor {
            // A state at the horizon, then moved back to the cursor (a reset only moves back).
            assert_ok(&h.export(&["--start", "2026-11-23"]).await);
            if cursor != "2026-11-24" {
                assert_ok(&h.state("reset", &["--bot", "bot-quiet", "--to", cursor]).output().await.unwrap());
            }
        }
        let plan = h.botevents("plan", &[], &[args, &["--json"][..]].concat()).output().await.unwrap();
        assert_ok(&plan);
        let plan = json(&plan);
        let bot = bot_plan(&plan, "bot-quiet");
        let out = h.export(&[args, &["--summary-json", "-"][..]].concat()).await;
        assert_ok(&out);
        let summary = json(&out);
        assert_eq!(bot["windows"].as_array().map(Vec::len), summary["windows"].as_u64().map(|n| n as usize), "{name}");
        assert_eq!(bot["cursors_after"], summary["cursors"]["bot-quiet"], "{name}: {plan}\n{summary}");
    }
}
