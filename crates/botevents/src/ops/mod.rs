//! Operating an export: [`plan`] shows what a run would do (sending nothing), [`check`] tries the
//! configuration and credentials (login, SSO, one small data call), and [`state`] shows or resets
//! the per-bot cursors at a destination.
//!
//! Each command returns a report that prints itself for people (`human()`) and serializes to
//! JSON for scripts; `main.rs` only chooses which.

pub mod check;
pub mod plan;
pub mod state;

use chrono::NaiveDate;
use serde::Serialize;

use crate::plan::Window;

/// A range of UTC days as the reports print it: `[start, end)` and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayRange {
    /// First day.
    pub start: NaiveDate,
    /// First day after the range (exclusive).
    pub end: NaiveDate,
    /// Number of days.
    pub days: u64,
}

impl From<Window> for DayRange {
    fn from(w: Window) -> Self {
        DayRange { start: w.start, end: w.end, days: w.len_days() }
    }
}

impl std::fmt::Display for DayRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.days == 1 { "" } else { "s" };
        write!(f, "{}..{} ({} day{s})", self.start, self.end, self.days)
    }
}

/// `2026-10-26 (0 days left), …`.
fn list_at_risk(days: &[crate::plan::DayAtRisk]) -> String {
    days.iter()
        .map(|d| format!("{} ({} day{} left)", d.day, d.days_left, if d.days_left == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}
