//! Retention risk: days not exported yet that the API is about to forget, and days it already has.

use chrono::{Days, NaiveDate};
use serde::Serialize;

use super::{Calendar, Window};

/// Days not yet exported are reported as at risk when at most this many days remain before they
/// fall out of retention (SPEC §3.11): a daily schedule that misses up to three runs still
/// recovers them.
pub const DEFAULT_RISK_DAYS: i64 = 3;

/// One day not exported yet that the API will soon stop serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayAtRisk {
    /// The UTC day.
    pub day: NaiveDate,
    /// Days left before it is lost: 0 means today is the last day it can be fetched.
    pub days_left: i64,
}

/// What retention means for one bot's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionRisk {
    /// Complete days after the cursor that fall out of retention within the risk period, oldest
    /// (most urgent) first.
    pub at_risk: Vec<DayAtRisk>,
    /// Days after the cursor that are already out of retention (unrecoverable).
    pub lost: Option<Window>,
}

/// The retention risk of a bot whose first day not yet exported is `cursor` (`None`: nothing
/// exported yet, so every retained complete day is pending). Days at or after the freshness
/// horizon are not counted: they are not complete, and the API keeps them longest.
pub fn retention_risk(cursor: Option<NaiveDate>, cal: &Calendar, within_days: i64) -> RetentionRisk {
    let oldest = cal.oldest_retrievable();
    let horizon = cal.first_incomplete_day();
    let first_pending = cursor.unwrap_or(oldest);
    let lost = Window::new(first_pending, oldest.min(horizon));
    let mut at_risk = Vec::new();
    let mut day = first_pending.max(oldest);
    while day < horizon {
        let days_left = cal.days_until_lost(day);
        if days_left > within_days {
            break;
        }
        at_risk.push(DayAtRisk { day, days_left });
        day = day + Days::new(1);
    }
    RetentionRisk { at_risk, lost }
}
