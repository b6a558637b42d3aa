//! The run summary: what a run did, for people (printed at the end) and for schedulers
//! (`--summary-json`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::warning::Warning;
use crate::exit::Exit;
use crate::write::StoreSettings;

/// Per-table totals.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableSummary {
    /// Rows written.
    pub rows: u64,
    /// Files written (new or replaced).
    pub files_written: u64,
    /// Files removed because their day has no rows any more.
    pub files_removed: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Days that can no longer be fetched.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DaysLost {
    /// The bot.
    pub bot: String,
    /// First lost day.
    pub start: NaiveDate,
    /// First day after the lost ones.
    pub end: NaiveDate,
    /// Number of days.
    pub days: i64,
}

/// A day not exported yet that the API is about to stop serving.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BotDayAtRisk {
    /// The bot.
    pub bot: String,
    /// The UTC day.
    pub day: NaiveDate,
    /// Days left before it falls out of retention (0: today is the last chance).
    pub days_left: i64,
}

/// How a run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Still running.
    #[default]
    Running,
    /// Every window done.
    Ok,
    /// Failed.
    Failed,
    /// Stopped early (signal or `--max-duration`), progress saved.
    Stopped,
}

impl RunStatus {
    /// The status as the summaries spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Retries counted by what made them necessary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetriesByCause {
    /// A retryable status: 429, 408 or 5xx.
    pub status: u64,
    /// No response: a connection refused, reset or dropped.
    pub connection: u64,
    /// A body that broke off before its end.
    pub broken_body: u64,
    /// Silence for the read timeout, before or inside a body.
    pub hang: u64,
}

impl RetriesByCause {
    /// Counts one retry of `cause`.
    pub fn add(&mut self, cause: crate::fetch::retry::RetryCause) {
        use crate::fetch::retry::RetryCause;
        match cause {
            RetryCause::Status => self.status += 1,
            RetryCause::Connection => self.connection += 1,
            RetryCause::BrokenBody => self.broken_body += 1,
            RetryCause::Hang => self.hang += 1,
        }
    }
}

/// The detail requests planned from the totals' per-day counts (consecutive days packed into
/// requests of at most 7 days and at most a share of the row cap, busy days in hour slices).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Packing {
    /// Detail requests the packing planned (before any retry or split).
    pub detail_requests: u64,
    /// Hourly totals requests sent to plan the hour slices of days over the share (one per
    /// window that has such days).
    pub hourly_totals_requests: u64,
    /// Windows whose totals hold no event: no detail request was sent for them.
    pub empty_windows_skipped: u64,
    /// Detail requests the plan without packing would have sent for the same windows: one per
    /// window under the cap, else one per day, and one per hour for a window with a day over it.
    pub unpacked_detail_requests: u64,
    /// `unpacked_detail_requests` − (`detail_requests` + `hourly_totals_requests`).
    pub requests_saved: i64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// `ok`, `failed` or `stopped`.
    pub status: RunStatus,
    /// The process exit status.
    pub exit_code: Exit,
    /// The error, if the run failed (its whole chain).
    pub error: Option<String>,
    /// Account id.
    pub account: String,
    /// Destination.
    pub destination: String,
    /// `--shard K/N`, when the run exported one shard of the account's bots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The destination's upload and retry settings.
    pub store: StoreSettings,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Per-table totals, by table name.
    pub tables: BTreeMap<String, TableSummary>,
    /// Windows completed (all their files durable).
    pub windows: u64,
    /// Windows re-fetched in smaller slices (row cap, totals mismatch, 400 on a long window).
    pub splits: u64,
    /// HTTP requests sent (authentication included).
    pub requests: u64,
    /// Data requests sent.
    pub data_requests: u64,
    /// Retries after transient errors (each request has its own `--max-retries`).
    pub retries: u64,
    /// The same retries, by cause.
    pub retries_by_cause: RetriesByCause,
    /// Data requests sent per stream (retries included; the hourly totals a busy day's details
    /// are planned from count under `total`).
    pub requests_by_stream: BTreeMap<String, u64>,
    /// How the detail requests were planned from the totals, and what that saved.
    pub packing: Packing,
    /// The most requests the run allowed in flight at once, as the response times it observed
    /// set the gate (before the first answer the gate allows its maximum, 16).
    pub requests_in_flight_max: u64,
    /// Average response time at the end of the run (sending to the body's end), milliseconds.
    pub response_ms: u64,
    /// Responses with status 429.
    pub throttled_429: u64,
    /// Renewals of the session after a 401: `token_renewals` plus the logins SSO's refusals
    /// called for. Requests that waited for another's renewal do not count.
    pub reauthentications: u64,
    /// Logins that gave a bearer token: one per run, however often the access token expires,
    /// unless SSO refused the bearer.
    pub logins: u64,
    /// Logins the Login Service refused for coming too often (429), each waited out (its
    /// `Retry-After`, or 5 s) and sent again; also counted in `throttled_429`.
    pub logins_refused_429: u64,
    /// Access tokens renewed through SSO with the session's bearer, without a login.
    pub token_renewals: u64,
    /// Data requests answered 401 (an expired access token, or the one probe of the `Bearer`
    /// scheme). Each was sent again with a renewed token, and is not counted in `retries`.
    pub unauthorized_401: u64,
    /// Bytes of CSV and JSON received: the bodies of data responses as the API wrote them,
    /// after decompression, counted once a body has been read and decoded to its end.
    pub bytes_received: u64,
    /// Bytes of data response bodies as they came over the connection: gzip-compressed when the
    /// API compressed them (then fewer than `bytes_received`), the same bytes when not. Counted
    /// for every body read to its end.
    pub wire_bytes: u64,
    /// Milliseconds of conversion work (decoding CSV, encoding files) on the CPU pool, summed over
    /// its tasks: compare with `duration_ms` times the cores to see how busy conversion kept them.
    pub conversion_ms: u64,
    /// Detail rows dropped because they lay outside their request's time range (the API's end
    /// date is inclusive: such a row belongs to the neighbouring request).
    pub rows_outside_window: u64,
    /// Aggregate buckets (totals rows, histogram periods) dropped because they did not overlap
    /// their request's range (or, hourly, started before it: the request before holds them).
    pub buckets_outside_window: u64,
    /// Aggregate rows kept whose bucket does not start on a UTC day or hour (a server in another
    /// time zone): see the warnings.
    pub unaligned_buckets: u64,
    /// Responses that said "no events" in one of the forms the page allows (an empty body, `[]`,
    /// `{}`, `null`, or a JSON answer without its list): read as no rows.
    pub empty_answers: u64,
    /// How the API took its parameters and token: the page's spelling unless it refused them
    /// (`interval`, dates, `authorization`).
    pub api_dialect: crate::fetch::Dialect,
    /// Rows rejected (see the rejects files).
    pub rows_rejected: u64,
    /// Rejects files written.
    pub rejects_files: Vec<String>,
    /// Totals rows whose `Event total` differs from the sum of their platform columns.
    pub total_mismatches: u64,
    /// Days lost to retention since the last run.
    pub days_lost: Vec<DaysLost>,
    /// Days after each bot's committed cursor that fall out of the API's retention within
    /// three days (most urgent first): export them soon or lose them.
    pub days_at_risk: Vec<BotDayAtRisk>,
    /// Per bot, per stream: the cursor after the run (first day not yet exported).
    pub cursors: BTreeMap<String, BTreeMap<String, NaiveDate>>,
    /// Warnings, each once.
    pub warnings: BTreeSet<String>,
    /// How many of `warnings` are of each kind (see [`Warning::kind`]).
    pub warnings_by_kind: BTreeMap<String, u64>,
}

impl RunSummary {
    /// Lists `w` among the warnings, once, and counts it under its kind.
    pub(crate) fn add_warning(&mut self, w: &Warning) {
        if self.warnings.insert(w.to_string()) {
            *self.warnings_by_kind.entry(w.kind().to_string()).or_default() += 1;
        }
    }

    /// Records how the run ended: duration, status, exit code and the error's whole chain.
    pub fn conclude(&mut self, started: std::time::Instant, result: &Result<(), crate::Error>) {
        self.duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(()) => {
                self.status = RunStatus::Ok;
                self.exit_code = Exit::Ok;
            }
            Err(e) => {
                self.status =
                    if matches!(e, crate::Error::Stopped { .. }) { RunStatus::Stopped } else { RunStatus::Failed };
                self.exit_code = e.exit();
                self.error = Some(crate::error::Report(e).to_string());
            }
        }
    }

    /// Total rows written over all tables.
    pub fn rows(&self) -> u64 {
        self.tables.values().map(|t| t.rows).sum()
    }

    /// A few lines for people.
    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let secs = self.duration_ms as f64 / 1000.0;
        // An export records every bot's cursors, even when it had nothing to fetch; a conversion
        // records none.
        let export = !self.cursors.is_empty();
        if export && self.status == RunStatus::Ok && self.windows == 0 && self.data_requests == 0 {
            let bots = self.cursors.len();
            let _ = writeln!(
                s,
                "botevents: {} in {secs:.1}s — up to date: {bots} bot(s), nothing new to fetch",
                self.status
            );
        } else if self.requests == 0 && self.windows == 0 && !export {
            let _ = writeln!(
                s,
                "botevents: {} in {:.1}s — {:.1} MB of CSV read",
                self.status,
                secs,
                self.bytes_received as f64 / 1e6
            );
        } else {
            let _ = writeln!(
                s,
                "botevents: {} in {:.1}s — {} windows, {} data requests ({} retries, {} × 429), {:.1} MB received ({:.1} MB on the wire)",
                self.status,
                secs,
                self.windows,
                self.data_requests,
                self.retries,
                self.throttled_429,
                self.bytes_received as f64 / 1e6,
                self.wire_bytes as f64 / 1e6
            );
        }
        if self.unauthorized_401 > 0 || self.logins > 1 || self.logins_refused_429 > 0 {
            let _ = writeln!(
                s,
                "  sessions: {} login(s) ({} refused as too frequent), {} token renewal(s) through SSO, {} × 401",
                self.logins, self.logins_refused_429, self.token_renewals, self.unauthorized_401
            );
        }
        if self.conversion_ms > 0 && self.duration_ms > 0 {
            let cores = rayon::current_num_threads();
            let _ = writeln!(
                s,
                "  conversion: {:.1}s of work on the CPU pool in {:.1}s ({:.0}% of {cores} cores)",
                self.conversion_ms as f64 / 1000.0,
                secs,
                100.0 * self.conversion_ms as f64 / (self.duration_ms as f64 * cores as f64)
            );
        }
        if let Some(shard) = &self.shard {
            match self.cursors.len() {
                0 if self.error.is_none() => {
                    let _ = writeln!(s, "  shard {shard}: no bot of the account is in this shard, nothing to export");
                }
                n => {
                    let _ = writeln!(s, "  shard {shard}: {n} bot(s) exported");
                }
            }
        }
        for (name, t) in &self.tables {
            let _ = writeln!(
                s,
                "  {name}: {} rows, {} files written, {} removed, {:.1} MB",
                t.rows,
                t.files_written,
                t.files_removed,
                t.bytes as f64 / 1e6
            );
        }
        if secs > 0.0 && self.rows() > 0 {
            let _ = writeln!(s, "  {:.0} rows/s", self.rows() as f64 / secs);
        }
        if self.rows_outside_window > 0 {
            let _ = writeln!(
                s,
                "  {} detail rows outside their request's time range dropped (the API's end date is inclusive; each belongs to the neighbouring request)",
                self.rows_outside_window
            );
        }
        if self.buckets_outside_window > 0 {
            let _ = writeln!(
                s,
                "  {} totals or histogram buckets dropped that do not overlap their request's range",
                self.buckets_outside_window
            );
        }
        if !self.api_dialect.is_page() {
            let _ = writeln!(s, "  the API refused the page's spelling; this run used {}", self.api_dialect);
        }
        if self.rows_rejected > 0 {
            let _ = writeln!(s, "  {} rows rejected: {}", self.rows_rejected, self.rejects_files.join(", "));
        }
        for lost in &self.days_lost {
            let _ =
                writeln!(s, "  bot {}: {} days lost to retention ({}..{})", lost.bot, lost.days, lost.start, lost.end);
        }
        let mut at_risk: BTreeMap<&str, Vec<&BotDayAtRisk>> = BTreeMap::new();
        for d in &self.days_at_risk {
            at_risk.entry(d.bot.as_str()).or_default().push(d);
        }
        for (bot, days) in at_risk {
            let list: Vec<String> = days.iter().map(|d| format!("{} ({} days left)", d.day, d.days_left)).collect();
            let _ = writeln!(
                s,
                "  bot {bot}: {} days not exported yet fall out of retention soon: {}",
                days.len(),
                list.join(", ")
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  error: {e}");
        }
        s
    }
}

/// What a run of several accounts did: each account's [`RunSummary`], and the outcome of the whole.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountsSummary {
    /// `ok` when every account succeeded; else `failed`, or `stopped` when the worst outcome is
    /// a stop.
    pub status: RunStatus,
    /// The process exit status: the most urgent of the accounts' ([`Exit::PRECEDENCE`]).
    pub exit_code: Exit,
    /// Wall time of the longest account, in milliseconds (the accounts run at the same time).
    pub duration_ms: u64,
    /// Rows written over every account and table.
    pub rows: u64,
    /// Windows completed over every account.
    pub windows: u64,
    /// Data requests sent over every account.
    pub data_requests: u64,
    /// Per account, in the order of the config file.
    pub accounts: Vec<RunSummary>,
}

impl AccountsSummary {
    /// Combines the summaries of the accounts of one run.
    pub fn new(accounts: Vec<RunSummary>) -> AccountsSummary {
        let exit_code = Exit::worst(accounts.iter().map(|s| s.exit_code));
        let status = match exit_code {
            Exit::Ok => RunStatus::Ok,
            Exit::Stopped => RunStatus::Stopped,
            _ => RunStatus::Failed,
        };
        AccountsSummary {
            status,
            exit_code,
            duration_ms: accounts.iter().map(|s| s.duration_ms).max().unwrap_or(0),
            rows: accounts.iter().map(RunSummary::rows).sum(),
            windows: accounts.iter().map(|s| s.windows).sum(),
            data_requests: accounts.iter().map(|s| s.data_requests).sum(),
            accounts,
        }
    }

    /// Each account's summary (headed by its id and destination), then one line for the whole.
    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for a in &self.accounts {
            let text = a.human();
            let text = text.strip_prefix("botevents: ").unwrap_or(&text);
            let _ = write!(s, "account {} → {}: {text}", a.account, a.destination);
        }
        let by_status = |st: RunStatus| self.accounts.iter().filter(|a| a.status == st).count();
        let _ = writeln!(
            s,
            "botevents: {} in {:.1}s — {} accounts ({} ok, {} failed, {} stopped), {} windows, {} rows, exit {}",
            self.status,
            self.duration_ms as f64 / 1000.0,
            self.accounts.len(),
            by_status(RunStatus::Ok),
            by_status(RunStatus::Failed),
            by_status(RunStatus::Stopped),
            self.windows,
            self.rows,
            self.exit_code
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An export with nothing new says so; a conversion tells what it read.
    #[test]
    fn an_export_up_to_date_says_so_and_a_conversion_what_it_read() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let cursors = [("bot-a".to_string(), [("detail".to_string(), day)].into())].into();
        let up_to_date = RunSummary { status: RunStatus::Ok, cursors, ..RunSummary::default() };
        let text = up_to_date.human();
        assert!(text.starts_with("botevents: ok in 0.0s — up to date: 1 bot(s), nothing new to fetch"), "{text}");
        let converted = RunSummary { status: RunStatus::Ok, bytes_received: 2_500_000, ..RunSummary::default() };
        let text = converted.human();
        assert!(text.starts_with("botevents: ok in 0.0s — 2.5 MB of CSV read"), "{text}");
    }

    #[test]
    fn accounts_summary_combines_and_names_each_account() {
        let one = |account: &str, status: RunStatus, exit_code: Exit, windows: u64| RunSummary {
            status,
            exit_code,
            account: account.into(),
            destination: "/lake".into(),
            windows,
            tables: [("custom_event_detail".to_string(), TableSummary { rows: 10, ..TableSummary::default() })].into(),
            ..RunSummary::default()
        };
        let all = AccountsSummary::new(vec![
            one("111", RunStatus::Ok, Exit::Ok, 2),
            one("222", RunStatus::Failed, Exit::Auth, 0),
        ]);
        assert_eq!((all.status, all.exit_code, all.windows, all.rows), (RunStatus::Failed, Exit::Auth, 2, 20));
        let text = all.human();
        assert!(text.contains("account 111 → /lake: ok in") && text.contains("account 222 → /lake: failed"), "{text}");
        assert!(text.contains("2 accounts (1 ok, 1 failed, 0 stopped)"), "{text}");
        let json = serde_json::to_value(&all).unwrap();
        assert_eq!(json["accounts"][1]["account"], "222");
        assert_eq!(
            (&json["exit_code"], &json["status"], &json["accounts"][0]["status"]),
            (&3.into(), &"failed".into(), &"ok".into())
        );
        let stopped = AccountsSummary::new(vec![one("111", RunStatus::Stopped, Exit::Stopped, 1)]);
        assert_eq!((stopped.status, stopped.exit_code.code()), (RunStatus::Stopped, 75));
    }
}
