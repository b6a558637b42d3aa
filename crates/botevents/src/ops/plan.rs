//! `botevents plan`: the ranges, windows and requests an export would make, and how long they
//! take at the rate limit. Reads the cursors at the destination; sends nothing to the API.
//!
//! Each bot's windows and cursor moves come from the schedule an export follows
//! ([`crate::plan::BotSchedule`], from [`crate::commit::BotState::cursor`]), so the plan is the
//! run's own.
//! Request counts are exact for the `total` stream. For `detail` they count one request per
//! window, which is what a window sends when its totals (fetched during the run) hold at most the
//! packing budget, 90 % of the row cap. A window without events sends none; a busier one packs
//! its days into requests of at most the budget, and a day over it by the hour, after one hourly
//! totals request for that day (`may_split`).
//!
//! The `histogram` stream sends one request per event name per window, and the names are the
//! window's catalog, which only a request can tell: its cost is "1 catalog + 1 per event name"
//! per window. The plan counts the catalog requests (shared with the `catalog` stream when both
//! are exported) as the minimum and gives the per-event-name part separately
//! ([`HistogramCost`], [`RunPlan::requests_per_event_name`]).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{DayRange, list_at_risk};
use crate::commit::{BotState, StateStore};
use crate::plan::{BotSchedule, Calendar, DayAtRisk, RangeRequest, StartFrom, at_risk};
use crate::stream::Stream;
use crate::write::Destination;

/// What `plan` needs: the export's options without credentials or URLs.
#[derive(Debug, Clone)]
pub struct PlanConfig {
    /// Account id.
    pub account: String,
    /// The bots.
    pub bots: Vec<String>,
    /// Where the cursors are read.
    pub dest: Destination,
    /// The requested range.
    pub range: RangeRequest,
    /// The streams, in request order.
    pub streams: Vec<Stream>,
    /// The API's retention in days.
    pub retention_days: u32,
    /// Row cap of detail downloads.
    pub row_cap: u64,
    /// Request budget of the API key.
    pub max_rps: crate::fetch::MaxRps,
    /// The clock.
    pub now: DateTime<Utc>,
}

/// What an export of one bot would do.
#[derive(Debug, Clone, Serialize)]
pub struct BotPlan {
    /// The bot.
    pub bot: String,
    /// The saved cursors per stream (first day not yet exported); empty without a state.
    pub cursors: BTreeMap<String, NaiveDate>,
    /// Where the range starts: `cursor`, `oldest retained day`, `--start` or `--last`.
    pub start_from: &'static str,
    /// The days to export; `None` when the bot is up to date.
    pub range: Option<DayRange>,
    /// The windows, oldest first (at most 7 days each).
    pub windows: Vec<DayRange>,
    /// Data requests per stream (for `detail`, a minimum when `may_split`; for `histogram`, a
    /// minimum: its catalog requests, 0 when the `catalog` stream sends them, see `histogram`).
    pub requests: BTreeMap<String, u64>,
    /// The cost of the `histogram` stream, when it is exported.
    pub histogram: Option<HistogramCost>,
    /// Whether detail windows may be split (packed days or hours instead of one request per
    /// window) once their totals show more events than the packing budget.
    pub may_split: bool,
    /// The cursors after the run, per stream.
    pub cursors_after: BTreeMap<String, NaiveDate>,
    /// Days after the cursor, not exported yet, that fall out of retention within three days.
    pub days_at_risk: Vec<DayAtRisk>,
    /// Days after the cursor that are already out of retention.
    pub days_lost: Option<DayRange>,
}

/// What the `histogram` stream of one bot costs: per window, one catalog request (to learn the
/// event names) plus one request per event name. The names are unknown until the run asks.
#[derive(Debug, Clone, Serialize)]
pub struct HistogramCost {
    /// `1 catalog + 1 per event name, per window`.
    pub requests: &'static str,
    /// Catalog requests the histograms need (one per window).
    pub catalog_requests: u64,
    /// Whether those catalog requests are the `catalog` stream's own (not counted twice).
    pub catalog_shared: bool,
    /// Requests per distinct event name: one per window in which it occurs, at most this many.
    pub per_event_name: u64,
}

/// How the histogram's cost reads.
pub const HISTOGRAM_REQUESTS: &str = "1 catalog + 1 per event name, per window";

impl BotPlan {
    /// Data requests of the bot (a minimum when `may_split`).
    pub fn request_count(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// What an export of every bot would do.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    /// Account id.
    pub account: String,
    /// Destination.
    pub destination: String,
    /// The clock the plan was made at.
    pub now: DateTime<Utc>,
    /// The first day that is not complete yet (the default, exclusive, end).
    pub horizon: NaiveDate,
    /// The oldest day the API still serves whole.
    pub oldest_retrievable: NaiveDate,
    /// The API's retention in days.
    pub retention_days: u32,
    /// Request budget of the API key, requests/second.
    pub max_rps: crate::fetch::MaxRps,
    /// Row cap of detail downloads.
    pub row_cap: u64,
    /// Events one packed detail request may hold by the totals (a share of the row cap).
    pub packing_budget: u64,
    /// Per bot.
    pub bots: Vec<BotPlan>,
    /// Data requests of the whole run (authentication not included).
    pub requests: u64,
    /// Whether `requests` is a minimum (some detail window may split, or the histogram stream
    /// adds one request per event name).
    pub requests_are_minimum: bool,
    /// With the `histogram` stream: the requests it adds per distinct event name (one per
    /// window), on top of `requests`; the run sends `requests + requests_per_event_name × N`
    /// at most, for N event names. 0 without it.
    pub requests_per_event_name: u64,
    /// `requests / max_rps`: the least time the run takes at the rate limit.
    pub seconds: f64,
}

/// Plans one bot from its saved state. Pure: the same inputs give the same plan.
pub fn plan_bot(cfg: &PlanConfig, state: &BotState, cal: &Calendar) -> Result<BotPlan, crate::plan::PlanError> {
    let cursor = state.cursor(&cfg.streams);
    let schedule = BotSchedule::new(&cfg.range, cursor, cal)?;
    let planned = &schedule.planned;
    let start_from = match schedule.request.start {
        StartFrom::Day(_) => "--start",
        StartFrom::Last(_) => "--last",
        StartFrom::Cursor(Some(_)) => "cursor",
        StartFrom::Cursor(None) => "oldest retained day",
    };
    let wins = &schedule.windows;
    // The cursors move exactly as the export moves them (see `export_bot`).
    let mut after = state.clone();
    for &w in wins {
        if let Some(mv) = schedule.cursor_move(w, cal.oldest_retrievable()) {
            after.advance_all(&cfg.streams, mv);
        }
    }
    let n = wins.len() as u64;
    let catalog_shared = cfg.streams.contains(&Stream::Catalog);
    let requests = cfg
        .streams
        .iter()
        .map(|s| {
            let count = if *s == Stream::Histogram && catalog_shared { 0 } else { n };
            (s.as_str().to_string(), count)
        })
        .collect();
    let histogram = cfg.streams.contains(&Stream::Histogram).then_some(HistogramCost {
        requests: HISTOGRAM_REQUESTS,
        catalog_requests: n,
        catalog_shared,
        per_event_name: n,
    });
    let risk = at_risk(cursor, cal);
    Ok(BotPlan {
        bot: state.bot.clone(),
        cursors: state.cursors.clone(),
        start_from,
        range: planned.range.map(DayRange::from),
        windows: wins.iter().copied().map(DayRange::from).collect(),
        requests,
        histogram,
        may_split: cfg.streams.contains(&Stream::Detail) && !wins.is_empty(),
        cursors_after: after.cursors,
        days_at_risk: risk.at_risk,
        days_lost: risk.lost.map(DayRange::from),
    })
}

/// Plans every bot of `cfg`, reading their cursors at the destination.
pub async fn plan(cfg: &PlanConfig) -> Result<RunPlan, crate::Error> {
    let cal = Calendar::new(cfg.now, cfg.retention_days);
    let states = StateStore::new(cfg.dest.clone());
    let mut bots = Vec::new();
    for bot in &cfg.bots {
        let loaded = states.load(&cfg.account, bot, cfg.now).await?;
        bots.push(plan_bot(cfg, &loaded.state, &cal)?);
    }
    let requests: u64 = bots.iter().map(BotPlan::request_count).sum();
    let per_name: u64 = bots.iter().filter_map(|b| b.histogram.as_ref()).map(|h| h.per_event_name).sum();
    Ok(RunPlan {
        account: cfg.account.clone(),
        destination: cfg.dest.to_string(),
        now: cfg.now,
        horizon: cal.first_incomplete_day(),
        oldest_retrievable: cal.oldest_retrievable(),
        retention_days: cal.retention_days(),
        max_rps: cfg.max_rps,
        row_cap: cfg.row_cap,
        packing_budget: crate::plan::packing::budget(cfg.row_cap, crate::plan::packing::DEFAULT_PACK_SHARE_PERCENT),
        requests_are_minimum: bots.iter().any(|b| b.may_split) || per_name > 0,
        requests_per_event_name: per_name,
        seconds: requests as f64 / cfg.max_rps.get(),
        requests,
        bots,
    })
}

impl RunPlan {
    /// The plan for people.
    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "plan for account {} at {} (now {}; complete days end before {}; oldest retrievable day {}, {}-day retention)",
            self.account,
            self.destination,
            self.now.format("%Y-%m-%dT%H:%M:%SZ"),
            self.horizon,
            self.oldest_retrievable,
            self.retention_days
        );
        for b in &self.bots {
            let cursors = if b.cursors.is_empty() { "none".to_string() } else { join_cursors(&b.cursors) };
            let _ = writeln!(s, "bot {}: cursors {cursors}", b.bot);
            match &b.range {
                None => {
                    let _ = writeln!(s, "  up to date: nothing to export");
                }
                Some(r) => {
                    let n = b.windows.len();
                    let _ = writeln!(
                        s,
                        "  range {r} from the {}, {n} window{}",
                        b.start_from,
                        if n == 1 { "" } else { "s" }
                    );
                    for w in &b.windows {
                        let _ = writeln!(s, "    window {w}");
                    }
                    let per: Vec<String> = b
                        .requests
                        .iter()
                        .map(|(st, n)| {
                            if (st == Stream::Detail.as_str() && b.may_split)
                                || (st == Stream::Histogram.as_str() && !b.windows.is_empty())
                            {
                                format!("{st} ≥ {n}")
                            } else {
                                format!("{st} {n}")
                            }
                        })
                        .collect();
                    let _ = writeln!(s, "  requests: {}", per.join(", "));
                    if let Some(h) = &b.histogram {
                        let catalog = if h.catalog_shared { " (the catalog stream's)" } else { "" };
                        let _ = writeln!(
                            s,
                            "  histogram: {}: {} catalog request{}{catalog} + {} per event name (unknown until the run asks)",
                            h.requests,
                            h.catalog_requests,
                            if h.catalog_requests == 1 { "" } else { "s" },
                            h.per_event_name
                        );
                    }
                    if b.may_split {
                        let _ = writeln!(
                            s,
                            "  may split: a window whose totals exceed {} events (90% of the {}-row cap) packs its days into requests of at most that many, a busier day by the hour; one without events sends none",
                            self.packing_budget, self.row_cap
                        );
                    }
                    let _ = writeln!(s, "  cursors after the run: {}", join_cursors(&b.cursors_after));
                }
            }
            if !b.days_at_risk.is_empty() {
                let _ = writeln!(
                    s,
                    "  days at risk ({} not exported yet, soon out of retention): {}",
                    b.days_at_risk.len(),
                    list_at_risk(&b.days_at_risk)
                );
            }
            if let Some(l) = &b.days_lost {
                let _ = writeln!(s, "  days lost (out of retention, never exported): {l}");
            }
        }
        let _ = writeln!(
            s,
            "total: {}{} data requests at {} requests/s: {:.1} s{}",
            if self.requests_are_minimum { "at least " } else { "" },
            self.requests,
            self.max_rps,
            self.seconds,
            if self.requests > 0 { " (plus login and SSO)" } else { "" }
        );
        if self.requests_per_event_name > 0 {
            let _ = writeln!(
                s,
                "  plus up to {} histogram requests per event name ({HISTOGRAM_REQUESTS}): {} + {} × N for N event names",
                self.requests_per_event_name, self.requests, self.requests_per_event_name
            );
        }
        s
    }
}

fn join_cursors(c: &BTreeMap<String, NaiveDate>) -> String {
    c.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

/// What an export of several accounts would do (they run at the same time, each at the rate of
/// its own API key).
#[derive(Debug, Clone, Serialize)]
pub struct AccountsPlan {
    /// Data requests over every account (a minimum when any account's is).
    pub requests: u64,
    /// Whether `requests` is a minimum.
    pub requests_are_minimum: bool,
    /// The least time the run takes: that of the slowest account, since they run side by side.
    pub seconds: f64,
    /// Per account, in the order of the config file.
    pub accounts: Vec<RunPlan>,
}

impl AccountsPlan {
    /// Combines the plans of the accounts of one run.
    pub fn new(accounts: Vec<RunPlan>) -> AccountsPlan {
        AccountsPlan {
            requests: accounts.iter().map(|p| p.requests).sum(),
            requests_are_minimum: accounts.iter().any(|p| p.requests_are_minimum),
            seconds: accounts.iter().map(|p| p.seconds).fold(0.0, f64::max),
            accounts,
        }
    }

    /// Each account's plan, then the whole.
    pub fn human(&self) -> String {
        let mut s: String = self.accounts.iter().map(RunPlan::human).collect::<Vec<_>>().join("\n");
        s.push_str(&format!(
            "\nall {} accounts: {}{} data requests, at least {:.1} s (the accounts run at the same time)\n",
            self.accounts.len(),
            if self.requests_are_minimum { "at least " } else { "" },
            self.requests,
            self.seconds
        ));
        s
    }
}
