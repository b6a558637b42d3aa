//! One bot's schedule: cursor, requested range, retention and freshness → windows, and where each
//! window leaves the cursor.
//!
//! In: the run's [`RangeRequest`], the bot's cursor (the first day not yet exported of the
//! stream furthest behind) and the [`Calendar`]. Out: a [`BotSchedule`]: the days to export cut
//! into windows of at most [`MAX_WINDOW_DAYS`], the days already lost, and for each exported
//! window the [`CursorMove`] it makes. `export`, `plan` and `state show` all read it, so the plan
//! shown is the run's own; the retention risk is [`at_risk`], computed in one place.

use chrono::NaiveDate;

use super::{
    Calendar, DEFAULT_RISK_DAYS, MAX_WINDOW_DAYS, PlanError, PlannedRange, RangeRequest, RetentionRisk, Window,
    plan_range, resume, retention_risk, windows,
};

/// What one bot's run exports, from its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotSchedule {
    /// The request as this bot resumes it (an incremental run starts at its cursor).
    pub request: RangeRequest,
    /// The days to export, those already lost, and the freshness horizon.
    pub planned: PlannedRange,
    /// The days to export, oldest first, in windows of at most [`MAX_WINDOW_DAYS`].
    pub windows: Vec<Window>,
}

/// How exporting a window moves a bot's cursors: each stream's cursor that lies in
/// `from..through` moves to `through` (see `BotState::advance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorMove {
    /// A cursor before this day stays where it is (days between were not exported).
    pub from: NaiveDate,
    /// The first day not yet exported once the window is.
    pub through: NaiveDate,
}

impl BotSchedule {
    /// The schedule of a bot whose cursor is `cursor` (`None`: one of its streams was never
    /// exported).
    pub fn new(req: &RangeRequest, cursor: Option<NaiveDate>, cal: &Calendar) -> Result<BotSchedule, PlanError> {
        let request = resume(req, cursor);
        let planned = plan_range(&request, cal)?;
        let windows = planned.range.map(|r| windows(r.start, r.end, MAX_WINDOW_DAYS)).unwrap_or_default();
        Ok(BotSchedule { request, planned, windows })
    }

    /// How exporting `window` moves the cursors, when `oldest` is the oldest day the API serves;
    /// `None` when the window lies at or after the freshness horizon (its days are not complete,
    /// so they are exported again by the next run).
    pub fn cursor_move(&self, window: Window, oldest: NaiveDate) -> Option<CursorMove> {
        let through = window.end.min(self.planned.horizon);
        (through > window.start).then(|| CursorMove { from: window.moves_cursor_from(oldest), through })
    }
}

/// The retention risk of a bot whose first day not yet exported is `cursor`: the days that fall
/// out of retention within [`DEFAULT_RISK_DAYS`], and those already lost.
pub fn at_risk(cursor: Option<NaiveDate>, cal: &Calendar) -> RetentionRisk {
    retention_risk(cursor, cal, DEFAULT_RISK_DAYS)
}
