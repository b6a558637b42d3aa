//! `botevents state show|reset`: the per-bot cursors at a destination, and the one way to move
//! them back.
//!
//! A reset goes through [`StateStore::commit`], the conditional put of every export commit, so
//! a reset that races a running export of the same bot is refused (or refuses the export)
//! rather than silently merged.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{DayRange, list_at_risk};
use crate::commit::{CursorChange, Reset, StateStore};
use crate::plan::{Calendar, DayAtRisk, at_risk, earliest_cursor};
use crate::write::Destination;

/// Where the states are, and the clock that retention risk is judged by.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Account id.
    pub account: String,
    /// The destination.
    pub dest: Destination,
    /// The bots to show (`show`: empty means every bot with a state) or to reset (one).
    pub bots: Vec<String>,
    /// The API's retention in days.
    pub retention_days: u32,
    /// The clock.
    pub now: DateTime<Utc>,
}

/// One bot's saved progress.
#[derive(Debug, Clone, Serialize)]
pub struct BotStateView {
    /// The bot.
    pub bot: String,
    /// Per stream: the first day not yet exported. Empty: no state (the next run starts at the
    /// oldest retained day).
    pub cursors: BTreeMap<String, NaiveDate>,
    /// When the state was written; `None` without a state.
    pub updated_at: Option<DateTime<Utc>>,
    /// The run (or reset) that wrote it.
    pub written_by: Option<String>,
    /// Days after the earliest cursor, not exported yet, that fall out of retention within
    /// three days.
    pub days_at_risk: Vec<DayAtRisk>,
    /// Days after the earliest cursor that are already out of retention.
    pub days_lost: Option<DayRange>,
}

/// What `state show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct StateReport {
    /// Account id.
    pub account: String,
    /// Destination.
    pub destination: String,
    /// The oldest day the API still serves whole.
    pub oldest_retrievable: NaiveDate,
    /// The first day that is not complete yet.
    pub horizon: NaiveDate,
    /// Per bot, sorted by id.
    pub bots: Vec<BotStateView>,
    /// Whether the destination is a local folder that does not exist.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub destination_absent: bool,
}

/// Reads the states of `cfg.bots`, or of every bot with a state when none is named.
pub async fn show(cfg: &StateConfig) -> Result<StateReport, crate::Error> {
    let store = StateStore::new(cfg.dest.clone());
    let cal = Calendar::new(cfg.now, cfg.retention_days);
    let bots = if cfg.bots.is_empty() { store.bots(&cfg.account).await? } else { cfg.bots.clone() };
    let mut views = Vec::new();
    for bot in bots {
        let loaded = store.load(&cfg.account, &bot, cfg.now).await?;
        let exists = loaded.version.is_some();
        let st = loaded.state;
        // A bot with no state is pending from the oldest retained day.
        let cursor = if exists { earliest_cursor(st.cursors.values().map(Some)) } else { None };
        let risk = at_risk(cursor, &cal);
        views.push(BotStateView {
            bot,
            updated_at: exists.then_some(st.updated_at),
            written_by: exists.then(|| st.written_by.clone()),
            cursors: st.cursors,
            days_at_risk: risk.at_risk,
            days_lost: risk.lost.map(DayRange::from),
        });
    }
    Ok(StateReport {
        account: cfg.account.clone(),
        destination: cfg.dest.to_string(),
        oldest_retrievable: cal.oldest_retrievable(),
        horizon: cal.first_incomplete_day(),
        bots: views,
        destination_absent: cfg.dest.absent(),
    })
}

impl StateReport {
    /// The report for people.
    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "state of account {} at {} (oldest retrievable day {}, complete days end before {})\n",
            self.account, self.destination, self.oldest_retrievable, self.horizon
        );
        if self.bots.is_empty() {
            let _ = writeln!(s, "no bot has a state yet");
        }
        if self.destination_absent {
            let _ = writeln!(s, "(the destination folder does not exist; nothing was created)");
        }
        for b in &self.bots {
            match &b.updated_at {
                None => {
                    let _ = writeln!(s, "bot {}: no state (the next run starts at the oldest retained day)", b.bot);
                }
                Some(at) => {
                    let cursors: Vec<String> = b.cursors.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    let _ = writeln!(
                        s,
                        "bot {}: {} — updated {} by {}",
                        b.bot,
                        if cursors.is_empty() { "no cursor".to_string() } else { cursors.join(", ") },
                        at.format("%Y-%m-%dT%H:%M:%SZ"),
                        b.written_by.as_deref().unwrap_or("")
                    );
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
        s
    }
}

/// What `state reset` did.
#[derive(Debug, Clone, Serialize)]
pub struct ResetReport {
    /// Account id.
    pub account: String,
    /// The bot.
    pub bot: String,
    /// The state object written.
    pub path: String,
    /// The cursors changed.
    pub changes: Vec<CursorChange>,
    /// The cursors now.
    pub cursors: BTreeMap<String, NaiveDate>,
}

/// Moves one bot's cursors back (or removes them) and commits the state conditionally.
pub async fn reset(cfg: &StateConfig, bot: &str, what: &Reset) -> Result<ResetReport, crate::Error> {
    let store = StateStore::with_writer(cfg.dest.clone(), "state-reset");
    let mut loaded = store.load(&cfg.account, bot, cfg.now).await?;
    let path = cfg.dest.state_path(&cfg.account, bot).to_string();
    if loaded.version.is_none() {
        return Err(crate::error::UsageError::Invalid {
            what: "--bot",
            value: bot.to_string(),
            reason: format!("no state at {path}: nothing to reset (the next run starts at the oldest retained day)"),
        }
        .into());
    }
    let changes = loaded.state.reset(what).map_err(|e| crate::error::UsageError::Invalid {
        what: "state reset",
        value: bot.to_string(),
        reason: e.to_string(),
    })?;
    if !changes.is_empty() {
        store.commit(&mut loaded, cfg.now).await?;
    }
    Ok(ResetReport { account: cfg.account.clone(), bot: bot.to_string(), path, changes, cursors: loaded.state.cursors })
}

impl ResetReport {
    /// The report for people.
    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        if self.changes.is_empty() {
            let _ = writeln!(s, "bot {}: nothing to change ({})", self.bot, self.path);
        }
        for c in &self.changes {
            let to =
                c.to.map_or_else(|| "removed (next run starts at the oldest retained day)".into(), |d| d.to_string());
            let _ = writeln!(s, "bot {}: {} cursor {} → {to}", self.bot, c.stream, c.from);
        }
        if !self.changes.is_empty() {
            let _ = writeln!(s, "written {}", self.path);
        }
        s
    }
}

/// What `state show` prints for a config file with several accounts.
#[derive(Debug, Clone, Serialize)]
pub struct AccountsStateReport {
    /// Per account, in the order of the config file.
    pub accounts: Vec<StateReport>,
}

impl AccountsStateReport {
    /// Each account's report.
    pub fn human(&self) -> String {
        self.accounts.iter().map(StateReport::human).collect::<Vec<_>>().join("\n")
    }
}
