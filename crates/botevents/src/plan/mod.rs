//! Planning: which windows of which days to request.
//!
//! In: the requested range (explicit days, `--last`, or the saved cursor), the clock, and the
//! API's limits. Out: [`Window`]s — UTC-midnight-aligned, at most [`MAX_WINDOW_DAYS`] long,
//! oldest first — and the days lost to retention. Guarantees: windows of one range never overlap
//! and cover every instant of the range exactly once (property-tested below); no window starts
//! before the oldest retrievable day; no complete-days plan reaches past the freshness horizon.
//! [`Shard`] picks the bots of one of N parallel workers (`--shard K/N`).
//! Nothing here does I/O: the clock is a parameter.

mod calendar;
pub mod packing;
mod risk;
mod schedule;
mod shard;

pub use calendar::{Calendar, DEFAULT_RETENTION_DAYS, READY_HOUR_EASTERN, ready_at};
pub use risk::{DEFAULT_RISK_DAYS, DayAtRisk, RetentionRisk, retention_risk};
pub use schedule::{BotSchedule, CursorMove, at_risk};
pub use shard::Shard;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};

/// The API serves at most 7 days per call.
pub const MAX_WINDOW_DAYS: u64 = 7;

/// A range of whole UTC days, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// First day in the window.
    pub start: NaiveDate,
    /// First day after the window.
    pub end: NaiveDate,
}

impl Window {
    /// A window of the days `[start, end)`; `None` when it would be empty.
    pub fn new(start: NaiveDate, end: NaiveDate) -> Option<Window> {
        (start < end).then_some(Window { start, end })
    }

    /// The window of one day.
    pub fn day(day: NaiveDate) -> Window {
        Window { start: day, end: next_day(day) }
    }

    /// Midnight UTC at the start of the window.
    pub fn start_time(&self) -> DateTime<Utc> {
        midnight(self.start)
    }

    /// Midnight UTC at the end of the window (exclusive).
    pub fn end_time(&self) -> DateTime<Utc> {
        midnight(self.end)
    }

    /// The window's start in microseconds since the epoch.
    pub fn start_micros(&self) -> i64 {
        self.start_time().timestamp_micros()
    }

    /// The window's end (exclusive) in microseconds since the epoch.
    pub fn end_micros(&self) -> i64 {
        self.end_time().timestamp_micros()
    }

    /// The window cut at `oldest`, the oldest day the API serves: the days before it, which can
    /// no longer be exported, and the rest.
    pub fn retained(self, oldest: NaiveDate) -> (Option<Window>, Option<Window>) {
        (Window::new(self.start, oldest.min(self.end)), Window::new(self.start.max(oldest), self.end))
    }

    /// The day from which exporting this window moves a cursor (see `BotState::advance`): its
    /// start, or any day when it starts at `oldest`, the oldest day the API serves, or before:
    /// nothing before it can be exported any more, so a cursor lagging behind it moves too.
    pub fn moves_cursor_from(&self, oldest: NaiveDate) -> NaiveDate {
        if self.start <= oldest { NaiveDate::MIN } else { self.start }
    }

    /// Number of days in the window.
    pub fn len_days(&self) -> u64 {
        (self.end - self.start).num_days().max(0) as u64
    }

    /// The days of the window, oldest first.
    pub fn days(&self) -> impl DoubleEndedIterator<Item = NaiveDate> + use<> {
        let start = self.start;
        (0..self.len_days()).map(move |i| start + Days::new(i))
    }

    /// Whether an instant (µs since the epoch) lies in `[start, end)`.
    pub fn contains_micros(&self, micros: i64) -> bool {
        (self.start_micros()..self.end_micros()).contains(&micros)
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A sub-range of a window that one request covers: the window itself, one of its days, or one
/// hour of a day (the finer ones are used when a response hits the row cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl Slice {
    /// Whether an instant (µs since the epoch) lies in `[start, end)`.
    pub fn contains_micros(&self, micros: i64) -> bool {
        (self.start.timestamp_micros()..self.end.timestamp_micros()).contains(&micros)
    }
}

impl std::fmt::Display for Slice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start.format("%Y-%m-%dT%H:%M:%SZ"), self.end.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// How finely a window is cut into requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Granularity {
    /// One request for the whole window.
    Window,
    /// One request per day.
    Day,
    /// One request per hour.
    Hour,
}

impl Granularity {
    /// The next finer granularity, if any.
    pub fn finer(self) -> Option<Granularity> {
        match self {
            Granularity::Window => Some(Granularity::Day),
            Granularity::Day => Some(Granularity::Hour),
            Granularity::Hour => None,
        }
    }

    /// The slices of `window` at this granularity, newest first (the API's own order, so that
    /// rows concatenated across slices stay newest first).
    pub fn slices(self, window: Window) -> Vec<Slice> {
        let mut out = Vec::new();
        match self {
            Granularity::Window => out.push(Slice { start: window.start_time(), end: window.end_time() }),
            Granularity::Day => {
                for day in window.days().rev() {
                    let w = Window::day(day);
                    out.push(Slice { start: w.start_time(), end: w.end_time() });
                }
            }
            Granularity::Hour => {
                for day in window.days().rev() {
                    for h in (0..24).rev() {
                        let start = midnight(day) + chrono::Duration::hours(h);
                        out.push(Slice { start, end: start + chrono::Duration::hours(1) });
                    }
                }
            }
        }
        out
    }
}

/// Midnight UTC at the start of `day`.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The day after `day`.
pub fn next_day(day: NaiveDate) -> NaiveDate {
    day + Days::new(1)
}

/// Cuts `[start, end)` into windows of at most `max_days` days, oldest first.
pub fn windows(start: NaiveDate, end: NaiveDate, max_days: u64) -> Vec<Window> {
    let max_days = max_days.max(1);
    let mut out = Vec::new();
    let mut s = start;
    while s < end {
        let e = (s + Days::new(max_days)).min(end);
        out.push(Window { start: s, end: e });
        s = e;
    }
    out
}

/// Where a bot's range starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// An explicit `--start` day; before the oldest retrievable day it is an error.
    Day(NaiveDate),
    /// `--last N`: the N days before the end, clamped to retention.
    Last(u32),
    /// Continue from the saved cursor (the first day not yet exported), or the oldest
    /// retrievable day when there is none; clamped to retention.
    Cursor(Option<NaiveDate>),
}

/// What the user asked for, before it meets the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeRequest {
    /// Where the range starts.
    pub start: StartFrom,
    /// Explicit exclusive end day; `None` = the freshness horizon.
    pub end: Option<NaiveDate>,
    /// Also re-export this many complete days before the horizon.
    pub lookback_days: u32,
    /// Allow days after the freshness horizon.
    pub allow_partial_days: bool,
}

/// The range of days one bot's export covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRange {
    /// The days to export, `None` when there is nothing to do.
    pub range: Option<Window>,
    /// Days that were wanted but have fallen out of retention (`[start, end)`).
    pub lost: Option<Window>,
    /// The first day that is not complete yet; windows ending after it never advance the cursor.
    pub horizon: NaiveDate,
}

/// Errors in the requested range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// `--start` lies before the oldest day the API still holds.
    #[error(
        "--start {start} is before the oldest retrievable day {oldest} (the API keeps {retention_days} days); use --start {oldest} or later"
    )]
    BeforeRetention {
        /// The requested start.
        start: NaiveDate,
        /// The oldest day the API still serves whole.
        oldest: NaiveDate,
        /// The retention in days.
        retention_days: u32,
    },
    /// `--end` is not after `--start`.
    #[error("--end {end} must be after --start {start} (end is exclusive)")]
    EmptyRange {
        /// The requested start.
        start: NaiveDate,
        /// The requested end.
        end: NaiveDate,
    },
}

/// The request of one bot: an incremental request (`StartFrom::Cursor`) continues from `cursor`,
/// the first day not yet exported of the stream furthest behind; explicit starts stay as they are.
/// Export and `plan` both go through here, so that a plan shows the range the export will take.
pub fn resume(req: &RangeRequest, cursor: Option<NaiveDate>) -> RangeRequest {
    match req.start {
        StartFrom::Cursor(_) => RangeRequest { start: StartFrom::Cursor(cursor), ..*req },
        _ => *req,
    }
}

/// The cursor that decides where an incremental run of several streams starts: the earliest of
/// the streams' cursors, or `None` when any of them has none (it starts at the oldest day).
pub fn earliest_cursor<'a>(cursors: impl IntoIterator<Item = Option<&'a NaiveDate>>) -> Option<NaiveDate> {
    cursors.into_iter().min().flatten().copied()
}

/// Resolves a range request against the calendar.
pub fn plan_range(req: &RangeRequest, cal: &Calendar) -> Result<PlannedRange, PlanError> {
    let oldest = cal.oldest_retrievable();
    let horizon = cal.first_incomplete_day();
    let limit = if req.allow_partial_days { next_day(cal.today()) } else { horizon };
    let end = req.end.map_or(limit, |e| e.min(limit));
    let (wanted_start, clamp) = match req.start {
        StartFrom::Day(d) => {
            if d < oldest {
                return Err(PlanError::BeforeRetention { start: d, oldest, retention_days: cal.retention_days() });
            }
            if let Some(e) = req.end
                && e <= d
            {
                return Err(PlanError::EmptyRange { start: d, end: e });
            }
            (d, false)
        }
        // The last complete days, also when the partial days after them are exported.
        StartFrom::Last(n) => (end.min(horizon) - Days::new(u64::from(n)), true),
        StartFrom::Cursor(Some(c)) => (c, true),
        StartFrom::Cursor(None) => (oldest, true),
    };
    let mut start = wanted_start;
    let mut lost = None;
    if clamp && start < oldest {
        lost = Window::new(start, oldest.min(end));
        start = oldest;
    }
    if req.lookback_days > 0 {
        let lb = (horizon - Days::new(u64::from(req.lookback_days))).max(oldest);
        start = start.min(lb);
    }
    Ok(PlannedRange { range: Window::new(start, end), lost, horizon })
}

#[cfg(test)]
mod tests;
