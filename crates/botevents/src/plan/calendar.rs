//! The clock-dependent facts of the API: retention and data freshness.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;

/// The API's retention, in days, unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Hour (America/New_York local time) of day D+1 after which day D is complete. The vendor's
/// backup starts at 1 a.m. Eastern and takes up to 1–2 hours.
pub const READY_HOUR_EASTERN: u32 = 3;

/// When UTC day `day` becomes complete: 03:00 America/New_York on the next day (DST-aware).
pub fn ready_at(day: NaiveDate) -> DateTime<Utc> {
    let local =
        (day + Days::new(1)).and_time(NaiveTime::from_hms_opt(READY_HOUR_EASTERN, 0, 0).unwrap_or(NaiveTime::MIN));
    // 03:00 is never skipped nor repeated in New York (the transitions happen at 02:00 and
    // 01:00-02:00), but take the earliest reading if the rules ever change.
    match New_York.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => (local + chrono::Duration::hours(1)).and_utc() + chrono::Duration::hours(4),
    }
}

/// The clock and the API's retention, the two facts that date arithmetic depends on.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    now: DateTime<Utc>,
    retention_days: u32,
}

impl Calendar {
    /// A calendar at `now` for an API retaining `retention_days` days.
    pub fn new(now: DateTime<Utc>, retention_days: u32) -> Calendar {
        Calendar { now, retention_days: retention_days.max(1) }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The current UTC day.
    pub fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    /// The retention in days.
    pub fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// The oldest UTC day the API still serves whole: today − (retention − 1).
    pub fn oldest_retrievable(&self) -> NaiveDate {
        self.today() - Days::new(u64::from(self.retention_days - 1))
    }

    /// The first UTC day that is not complete yet (the default, exclusive, end of a range).
    pub fn first_incomplete_day(&self) -> NaiveDate {
        let yesterday = self.today() - Days::new(1);
        if self.now >= ready_at(yesterday) { self.today() } else { yesterday }
    }

    /// Days left before `day` falls out of retention (0: it is the oldest retrievable day; it
    /// can no longer be fetched the day after).
    pub fn days_until_lost(&self, day: NaiveDate) -> i64 {
        (day - self.oldest_retrievable()).num_days()
    }
}
