//! The export pipeline: plan → fetch → convert → write → commit, for every bot of an account.
//!
//! In: an [`ExportConfig`] (built by [`crate::config`] from flags, environment and config file) and a
//! shutdown signal. Out: files at the destination, advanced cursors, and a [`RunSummary`].
//! Guarantees: a window's files are all durable before its cursors move; a failure leaves every
//! file already committed intact; a body that breaks off is fetched again on its own (each
//! request has its own retries, and the run a bound on its time in retries), with nothing of the
//! partial body written; at most [`MAX_CONCURRENT_BOTS`] bots are in flight, each with at most
//! [`WINDOWS_IN_FLIGHT_PER_BOT`] windows under way.
//!
//! [`run_accounts`] runs several accounts (each its own [`ExportConfig`]) at once, each with
//! its own API client and the rate limiter of its API key, and reports each account's summary.
//! A [`Progress`] sink, when given, is told where every run is after each change.

mod files;
mod inflight;
mod progress;
mod step;
mod summary;
mod tx;
mod warning;
mod window;
use window::WindowEnd;
pub(crate) use window::decoder_for;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;

pub use files::{ConvertConfig, convert_files};
pub use inflight::{MAX_REQUESTS_IN_FLIGHT, MIN_REQUESTS_IN_FLIGHT};
pub use progress::{Progress, ProgressSnapshot};
pub use summary::{
    AccountsSummary, BotDayAtRisk, DaysLost, Packing, RetriesByCause, RunStatus, RunSummary, TableSummary,
};
pub use warning::Warning;

use crate::commit::StateStore;
use crate::error::Error;
use crate::fetch::retry::RetryTime;
use crate::fetch::{ApiClient, ApiConfig, RateLimiter};
use crate::plan::{BotSchedule, Calendar, RangeRequest, Window, at_risk};
use crate::stream::{Interval, Stream};
use crate::write::{Destination, WriteOptions};

/// Bots exported at the same time: as many as the requests a run may keep in flight. How many
/// requests are in flight follows the response time ([`inflight`]); requests are paced by the
/// rate limiter anyway.
pub const MAX_CONCURRENT_BOTS: usize = MAX_REQUESTS_IN_FLIGHT;

/// Windows of one bot under way at once. The next window's totals (and the hourly totals that
/// plan its details) go out while the current window's details are in flight, so that a busy
/// bot's chain of requests (totals, hourly totals, details; window after window) does not
/// outlast every other bot's and leave the request budget idle at the end of a run. Its details
/// wait until the current window has fetched everything, so that a bot holds one window's details
/// in memory at a time; the windows commit, and the cursor moves, one after another in order.
pub const WINDOWS_IN_FLIGHT_PER_BOT: usize = 2;

/// Accounts exported at the same time by [`run_accounts`]. Each has its own API key and so its
/// own request budget: running them together multiplies the throughput, up to this many.
pub const MAX_CONCURRENT_ACCOUNTS: usize = 8;

/// The vendor caps detail downloads at this many rows.
pub const DEFAULT_ROW_CAP: u64 = 100_000;

/// Everything an export needs, validated.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// The API client's settings (account, URLs, credentials, rate, retries).
    pub api: ApiConfig,
    /// The bots to export (those of `shard` only, when it is set).
    pub bots: Vec<String>,
    /// `--shard K/N`: this run exports one of N disjoint sets of the account's bots.
    pub shard: Option<crate::plan::Shard>,
    /// Where files go.
    pub dest: Destination,
    /// The requested range.
    pub range: RangeRequest,
    /// The streams to export, in request order.
    pub streams: Vec<Stream>,
    /// Granularity of the `total` and `histogram` streams.
    pub interval: Interval,
    /// Encoder settings.
    pub write: WriteOptions,
    /// The API's retention in days.
    pub retention_days: u32,
    /// Rows that may be rejected before the run fails.
    pub max_bad_rows: u64,
    /// Row cap of detail downloads (a response this long is split).
    pub row_cap: u64,
    /// The whole run's time in retry waits (`--max-retry-time`), over all its requests.
    pub max_retry_time: std::time::Duration,
    /// The clock: "now" for planning.
    pub now: DateTime<Utc>,
}

/// Shared by every bot task of a run.
pub(crate) struct Run {
    pub cfg: ExportConfig,
    pub client: ApiClient,
    pub states: StateStore,
    pub summary: Mutex<RunSummary>,
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// Set when a stop left windows unexported (the run then ends with exit 75).
    pub skipped: std::sync::atomic::AtomicBool,
    /// Told after every change, when someone shows progress.
    pub progress: Option<Arc<dyn Progress>>,
    /// Windows planned over all bots (counted only for `progress`).
    pub windows_total: AtomicU64,
    /// When the run began, for its clock.
    pub started: Instant,
    /// The run's time in retry waits, left and spent.
    pub retry_time: RetryTime,
    /// Room for requests in flight, sized by the observed response time.
    pub in_flight: inflight::InFlight,
}

impl Run {
    /// The time now on the run's clock: its `now` at the start, plus the time since.
    pub fn clock(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        self.cfg.now + elapsed
    }

    pub fn note(&self, f: impl FnOnce(&mut RunSummary)) {
        let snapshot = {
            let mut s = self.summary.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut s);
            self.progress.is_some().then(|| self.snapshot(&s))
        };
        if let (Some(p), Some(snap)) = (&self.progress, snapshot) {
            p.update(&snap);
        }
    }

    /// Where the run is, from its summary so far.
    fn snapshot(&self, s: &RunSummary) -> ProgressSnapshot {
        ProgressSnapshot {
            account: self.cfg.api.account.clone(),
            windows_total: self.windows_total.load(Ordering::Relaxed),
            windows_done: s.windows,
            rows: s.rows(),
            bytes_received: s.bytes_received,
            data_requests: self.client.stats().data_requests.load(Ordering::Relaxed),
        }
    }

    /// Logs `w` (its kind a field; the account, bot and window are the span's) and lists it in
    /// the summary.
    pub fn warn(&self, w: Warning) {
        tracing::warn!(kind = w.kind(), "{w}");
        self.note(|s| s.add_warning(&w));
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// What a run shares with the world beyond its [`ExportConfig`].
#[derive(Clone, Default)]
pub struct RunContext {
    /// Told where the run is after every change; `None`: nobody shows progress.
    pub progress: Option<Arc<dyn Progress>>,
    /// The request budget of the account's API key, when other runs use the same key (all
    /// requests of one key must share one limiter); `None`: a limiter of the run's own.
    pub limiter: Option<Arc<RateLimiter>>,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("progress", &self.progress.is_some())
            .field("limiter", &self.limiter)
            .finish()
    }
}

/// Runs an export until done, failed, or `shutdown` resolves (then the windows in flight finish,
/// no new one starts, and the result is [`Error::Stopped`]). The summary is returned either way.
pub async fn run(cfg: ExportConfig, shutdown: impl Future<Output = String> + Send) -> (RunSummary, Result<(), Error>) {
    run_with(cfg, RunContext::default(), shutdown).await
}

/// Runs the export of every account of `cfgs` (at most [`MAX_CONCURRENT_ACCOUNTS`] at once),
/// each with its own API client; accounts that use the same API key share its rate limiter.
/// `shutdown` stops them all. One failing account does not stop the others. Returns each
/// account's summary and result, in the order of `cfgs`.
pub async fn run_accounts(
    cfgs: Vec<ExportConfig>,
    progress: Option<Arc<dyn Progress>>,
    shutdown: impl Future<Output = String> + Send + 'static,
) -> Vec<(RunSummary, Result<(), Error>)> {
    use futures::FutureExt;
    let shutdown = shutdown.boxed().shared();
    // Keyed by the key itself, only to find runs that share one; never printed.
    let mut limiters: std::collections::HashMap<String, Arc<RateLimiter>> = std::collections::HashMap::new();
    let runs: Vec<_> = cfgs
        .into_iter()
        .map(|cfg| {
            let limiter = limiters
                .entry(cfg.api.credentials.api_key.expose().to_string())
                .or_insert_with(|| Arc::new(RateLimiter::new(cfg.api.max_rps)))
                .clone();
            let ctx = RunContext { progress: progress.clone(), limiter: Some(limiter) };
            run_with(cfg, ctx, shutdown.clone())
        })
        .collect();
    futures::stream::iter(runs).buffered(MAX_CONCURRENT_ACCOUNTS).collect().await
}

/// [`run`], with progress reporting and a shared rate limiter.
pub async fn run_with(
    cfg: ExportConfig,
    ctx: RunContext,
    shutdown: impl Future<Output = String> + Send,
) -> (RunSummary, Result<(), Error>) {
    let started = Instant::now();
    let mut summary = RunSummary {
        status: RunStatus::Running,
        account: cfg.api.account.clone(),
        destination: cfg.dest.to_string(),
        store: cfg.dest.settings(),
        shard: cfg.shard.map(|s| s.to_string()),
        ..RunSummary::default()
    };
    let client = match ctx.limiter {
        Some(limiter) => ApiClient::with_limiter(cfg.api.clone(), limiter),
        None => ApiClient::new(cfg.api.clone()),
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => return finish(summary, started, Err(e.into())),
    };
    for s in &cfg.streams {
        summary.tables.entry(s.table().name().to_string()).or_default();
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cfg_retry_time = cfg.max_retry_time;
    let rate = 1.0 / client.limiter().interval().as_secs_f64().max(1e-6);
    let run = Arc::new(Run {
        states: StateStore::new(cfg.dest.clone()),
        cfg,
        client,
        summary: Mutex::new(summary),
        stop: stop_rx,
        skipped: Default::default(),
        progress: ctx.progress,
        windows_total: AtomicU64::new(0),
        started: Instant::now(),
        retry_time: RetryTime::new(cfg_retry_time),
        in_flight: inflight::InFlight::new(rate),
    });
    if run.progress.is_some() {
        run.windows_total.store(planned_windows(&run).await, Ordering::Relaxed);
        run.note(|_| {});
    }
    let mut stopped = None::<String>;
    let work = {
        let run = run.clone();
        async move {
            let bots = run.cfg.bots.clone();
            let mut results = futures::stream::iter(bots)
                .map(|bot| {
                    let run = run.clone();
                    async move { export_bot(&run, &bot).await }
                })
                .buffer_unordered(MAX_CONCURRENT_BOTS);
            let mut first_err = None;
            while let Some(r) = results.next().await {
                if let Err(e) = r {
                    tracing::error!(error = %format!("{:#}", crate::error::Report(&e)), "bot failed");
                    first_err.get_or_insert(e);
                }
            }
            first_err.map_or(Ok(()), Err)
        }
    };
    let result = {
        tokio::pin!(work);
        tokio::pin!(shutdown);
        tokio::select! {
            r = &mut work => r,
            reason = &mut shutdown => {
                tracing::warn!(%reason, "stopping: finishing the windows in flight, starting no new one");
                stopped = Some(reason);
                let _ = stop_tx.send(true);
                work.await
            }
        }
    };
    let result = match (result, stopped) {
        (Ok(()), Some(reason)) if run.skipped.load(Ordering::Relaxed) => Err(Error::Stopped { reason }),
        (r, _) => r,
    };
    let at_risk = days_at_risk(&run.states, &run.cfg).await;
    let stats = run.client.stats();
    let mut summary = run.summary.lock().unwrap_or_else(|e| e.into_inner()).clone();
    summary.days_at_risk = at_risk;
    summary.requests = stats.requests.load(Ordering::Relaxed);
    summary.data_requests = stats.data_requests.load(Ordering::Relaxed);
    summary.throttled_429 = stats.throttled.load(Ordering::Relaxed);
    summary.reauthentications = stats.reauthentications.load(Ordering::Relaxed);
    summary.logins = stats.logins.load(Ordering::Relaxed);
    summary.logins_refused_429 = stats.logins_refused.load(Ordering::Relaxed);
    summary.token_renewals = stats.token_renewals.load(Ordering::Relaxed);
    summary.unauthorized_401 = stats.unauthorized.load(Ordering::Relaxed);
    summary.wire_bytes = stats.wire_bytes.load(Ordering::Relaxed);
    summary.api_dialect = run.client.dialect();
    let (in_flight, response_ms) = run.in_flight.peak();
    summary.requests_in_flight_max = in_flight as u64;
    summary.response_ms = response_ms;
    finish(summary, started, result)
}

/// The windows the run will export over all bots, planned as each bot's export plans them (for
/// progress only: a bot whose state cannot be read or whose range is refused counts none, and
/// fails in its own export).
async fn planned_windows(run: &Run) -> u64 {
    let cfg = &run.cfg;
    let cal = Calendar::new(cfg.now, cfg.retention_days);
    let mut total = 0;
    for bot in &cfg.bots {
        let Ok(loaded) = run.states.load(&cfg.api.account, bot, cfg.now).await else { continue };
        if let Ok(schedule) = BotSchedule::new(&cfg.range, loaded.state.cursor(&cfg.streams), &cal) {
            total += schedule.windows.len() as u64;
        }
    }
    total
}

/// Per bot, the days after its committed cursor that fall out of retention within
/// [`crate::plan::DEFAULT_RISK_DAYS`], read back from the state as committed (so that a failed run reports
/// what is still missing). A state that cannot be read is left out, with a warning.
async fn days_at_risk(states: &StateStore, cfg: &ExportConfig) -> Vec<BotDayAtRisk> {
    let cal = Calendar::new(cfg.now, cfg.retention_days);
    let mut out = Vec::new();
    for bot in &cfg.bots {
        match states.load(&cfg.api.account, bot, cfg.now).await {
            Ok(loaded) => {
                let risk = at_risk(loaded.state.cursor(&cfg.streams), &cal);
                out.extend(risk.at_risk.into_iter().map(|d| BotDayAtRisk {
                    bot: bot.clone(),
                    day: d.day,
                    days_left: d.days_left,
                }));
            }
            Err(e) => {
                tracing::warn!(bot, error = %crate::error::Report(&e), "cannot read the state to assess retention risk")
            }
        }
    }
    out
}

fn finish(mut summary: RunSummary, started: Instant, result: Result<(), Error>) -> (RunSummary, Result<(), Error>) {
    summary.conclude(started, &result);
    (summary, result)
}

/// Exports one bot, in a span that names its account and bot on every log line of its work.
#[tracing::instrument(name = "bot", skip_all, fields(account = %run.cfg.api.account, bot = %bot))]
async fn export_bot(run: &Run, bot: &str) -> Result<(), Error> {
    let result = export_bot_inner(run, bot).await;
    // Every upload of the bot is complete or abandoned by now: tidy up its staging folder.
    if let Err(e) = run.cfg.dest.sweep_leftovers(&run.cfg.api.account, bot).await {
        tracing::warn!(error = %e, "cannot tidy up the staging folder");
    }
    result
}

/// Warns that `lost`'s days fell out of retention (before the run, or `during_run`) and notes
/// them in the summary.
fn note_days_lost(run: &Run, bot: &str, lost: Window, during_run: bool) {
    let days = lost.len_days() as i64;
    run.warn(Warning::DaysLost { bot: bot.to_string(), lost, retention_days: run.cfg.retention_days, during_run });
    run.note(|s| s.days_lost.push(DaysLost { bot: bot.to_string(), start: lost.start, end: lost.end, days }));
}

/// A window's turn in a bot's export.
enum Turn {
    /// The run was stopping when its turn came: not started.
    Stopped(Window),
    /// None of its days is retained any more.
    Lost,
    /// Exported (or failed), with the oldest day the API served when it started.
    Ended { window: Window, oldest: NaiveDate, end: Result<WindowEnd, Error> },
}

async fn export_bot_inner(run: &Run, bot: &str) -> Result<(), Error> {
    let cfg = &run.cfg;
    let account = cfg.api.account.as_str();
    let mut loaded = run.states.load(account, bot, cfg.now).await?;
    if let Err(e) = cfg.dest.sweep_leftovers(account, bot).await {
        run.warn(Warning::Leftovers { bot: Some(bot.to_string()), error: e });
    }
    let cal = Calendar::new(cfg.now, cfg.retention_days);
    // One range for all streams, from the stream that is furthest behind: re-exporting a day is
    // idempotent, and one window then serves every stream (the totals check the details).
    let schedule = BotSchedule::new(&cfg.range, loaded.state.cursor(&cfg.streams), &cal)?;
    let planned = &schedule.planned;
    if let Some(lost) = planned.lost {
        note_days_lost(run, bot, lost, false);
    }
    let Some(range) = planned.range else {
        tracing::info!("nothing to export: up to date");
        run.note(|s| {
            s.cursors.insert(bot.to_string(), loaded.state.cursors.clone());
        });
        return Ok(());
    };
    tracing::info!(range = %range, horizon = %planned.horizon, "exporting");
    // Each window's turn comes when there is room for it among the bot's windows under way: it
    // is skipped once the run is stopping, cut to the days still retained, and otherwise started.
    // It follows the window before it through two oneshots (see `window::After`): its details
    // wait for that window's fetching, its commit for that window's commit.
    let mut before = window::After::default();
    let mut turns = futures::stream::iter(schedule.windows.iter().copied())
        .map(|w| {
            let (fetched, fetched_next) = tokio::sync::oneshot::channel();
            let (committed, committed_next) = tokio::sync::oneshot::channel();
            let after = std::mem::replace(
                &mut before,
                window::After { fetched: Some(fetched_next), committed: Some(committed_next) },
            );
            let turn = if run.stopping() {
                None
            } else {
                // A long run may cross midnight: a day that was the oldest the API serves when
                // the run was planned may be gone by the time its window is sent (the API
                // refuses the window).
                let oldest = Calendar::new(run.clock(), cfg.retention_days).oldest_retrievable();
                let (lost, kept) = w.retained(oldest);
                if let Some(lost) = lost {
                    note_days_lost(run, bot, lost, true);
                }
                Some((kept, oldest))
            };
            async move {
                match turn {
                    None => {
                        let _ = (fetched.send(()), committed.send(false));
                        Turn::Stopped(w)
                    }
                    Some((None, _)) => {
                        // Nothing of it is retained: it passes on the window before's signals.
                        let mut after = after;
                        after.fetched().await;
                        let _ = fetched.send(());
                        let _ = committed.send(after.committed().await);
                        Turn::Lost
                    }
                    Some((Some(w), oldest)) => {
                        let end = window::export_window(run, bot, w, after, fetched).await;
                        let _ = committed.send(matches!(end, Ok(WindowEnd::Committed)));
                        Turn::Ended { window: w, oldest, end }
                    }
                }
            }
        })
        .buffered(WINDOWS_IN_FLIGHT_PER_BOT);
    while let Some(turn) = turns.next().await {
        let (w, oldest) = match turn {
            Turn::Stopped(w) => {
                run.skipped.store(true, Ordering::Relaxed);
                tracing::info!(window = %w, "stopped before this window; the next run resumes here");
                break;
            }
            Turn::Lost => continue,
            // Only a window after a failed one is abandoned, and the failure ended the loop.
            Turn::Ended { end: Ok(WindowEnd::Abandoned), .. } => break,
            Turn::Ended { end: Err(e), .. } => return Err(e),
            Turn::Ended { window, oldest, end: Ok(WindowEnd::Committed) } => (window, oldest),
        };
        run.note(|s| s.windows += 1);
        if let Some(mv) = schedule.cursor_move(w, oldest) {
            let moved = loaded.state.advance_all(&cfg.streams, mv);
            if let Some(c) = loaded.state.cursors.values().filter(|&&c| c < w.start).min() {
                tracing::info!(window = %w, cursor = %c, "the window starts after the cursor, which stays: the next run exports the days between");
            }
            if moved || loaded.version.is_none() {
                run.states.commit(&mut loaded, run.clock()).await?;
            }
        }
    }
    run.note(|s| {
        s.cursors.insert(bot.to_string(), loaded.state.cursors.clone());
    });
    Ok(())
}
