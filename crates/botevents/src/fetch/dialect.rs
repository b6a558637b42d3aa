//! The API's dialect: how the data calls spell what the vendor's page leaves open.
//!
//! The page lists `interval` as "Hourly, Daily", dates as `yyyy-mm-ddTHH:MM:SSZ` (with an example
//! that carries an offset instead), and the `authorization` header as "Authorization token". The
//! client sends exactly the page's words first: `interval=Daily`, dates ending in `Z`, the raw
//! access token. Where a gateway reads them otherwise, the first refusal is answered once per run:
//!
//! * a 400 to a request with an `interval` before one such request succeeded (or to any request
//!   before one succeeded, for the dates) is sent again with each other spelling in
//!   [`CANDIDATES`] order — `DAILY`, `daily`, then the same with dates as `+00:00` — and the first
//!   that succeeds is kept for the run;
//! * a 401 right after a fresh token (or with a token given in the environment) is sent again
//!   once with `Bearer ` before the token, which is kept when it succeeds.
//!
//! Each dimension is settled by its first success (or by its one probe). Requests do not wait
//! for the first success: while nothing was refused they go out in the page's spelling, so a run
//! against an API that reads the page as written loses no time to the dialect. One request at a
//! time probes a refusal, and requests about to be sent wait for its outcome; requests already in
//! flight in the refused spelling are sent again in the one it found. The dialect in force is
//! reported in the run summary and logged when it differs from the page's.

use serde::Serialize;

use crate::stream::Interval;

/// How `interval` is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntervalSpelling {
    /// The page's: `Daily`, `Hourly`.
    #[default]
    Page,
    /// `DAILY`, `HOURLY`, as enum constants are commonly bound.
    Upper,
    /// `daily`, `hourly`.
    Lower,
}

impl IntervalSpelling {
    /// The value of the `interval` parameter.
    pub fn spell(self, interval: Interval) -> &'static str {
        match (self, interval) {
            (IntervalSpelling::Page, Interval::Daily) => "Daily",
            (IntervalSpelling::Page, Interval::Hourly) => "Hourly",
            (IntervalSpelling::Upper, Interval::Daily) => "DAILY",
            (IntervalSpelling::Upper, Interval::Hourly) => "HOURLY",
            (IntervalSpelling::Lower, Interval::Daily) => "daily",
            (IntervalSpelling::Lower, Interval::Hourly) => "hourly",
        }
    }
}

/// How `startDate` and `endDate` are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DateStyle {
    /// The page's format, `2026-12-04T00:00:00Z`.
    #[default]
    Zulu,
    /// The page's example's form, `2026-12-04T00:00:00+00:00`.
    Offset,
}

impl DateStyle {
    /// `t` in this style (always UTC).
    pub fn format(self, t: chrono::DateTime<chrono::Utc>) -> String {
        match self {
            DateStyle::Zulu => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            DateStyle::Offset => t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        }
    }
}

/// How the access token is sent in the data calls' `authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthScheme {
    /// The token itself, as the page's "Authorization token" reads.
    #[default]
    Raw,
    /// `Bearer <token>`.
    Bearer,
}

/// The spellings in force for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Dialect {
    /// `interval`'s spelling.
    pub interval: IntervalSpelling,
    /// The dates' form.
    pub dates: DateStyle,
    /// The `authorization` header's form.
    pub authorization: AuthScheme,
}

impl Dialect {
    /// Whether this is the page's own spelling throughout.
    pub fn is_page(&self) -> bool {
        *self == Dialect::default()
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dates = match self.dates {
            DateStyle::Zulu => "…Z",
            DateStyle::Offset => "…+00:00",
        };
        let auth = match self.authorization {
            AuthScheme::Raw => "raw token",
            AuthScheme::Bearer => "Bearer token",
        };
        write!(f, "interval={}, dates {dates}, authorization {auth}", self.interval.spell(Interval::Daily))
    }
}

/// The (interval, dates) spellings tried, in order, when the API refuses the page's with a 400.
pub const CANDIDATES: [(IntervalSpelling, DateStyle); 6] = [
    (IntervalSpelling::Page, DateStyle::Zulu),
    (IntervalSpelling::Upper, DateStyle::Zulu),
    (IntervalSpelling::Lower, DateStyle::Zulu),
    (IntervalSpelling::Page, DateStyle::Offset),
    (IntervalSpelling::Upper, DateStyle::Offset),
    (IntervalSpelling::Lower, DateStyle::Offset),
];

/// What a client knows of the dialect so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DialectState {
    /// The spellings in force.
    pub dialect: Dialect,
    /// `interval`'s spelling is settled: a request with it succeeded, or was probed.
    pub interval_settled: bool,
    /// The dates' form is settled.
    pub dates_settled: bool,
    /// The authorization scheme is settled.
    pub auth_settled: bool,
    /// A request is probing a refusal: requests about to be sent wait for its outcome.
    pub probing: bool,
}

impl DialectState {
    /// The (interval, dates) spellings in force.
    pub fn spelling(&self) -> (IntervalSpelling, DateStyle) {
        (self.dialect.interval, self.dialect.dates)
    }

    /// Whether a request (with an `interval` or not) would have something left to learn.
    pub fn unsettled(&self, with_interval: bool) -> bool {
        !self.dates_settled || (with_interval && !self.interval_settled)
    }

    /// The spellings to try after the one in force was refused: the [`CANDIDATES`] that differ
    /// from it only in what is still unsettled and matters to the request.
    pub fn alternatives(&self, with_interval: bool) -> Vec<(IntervalSpelling, DateStyle)> {
        let now = (self.dialect.interval, self.dialect.dates);
        let mut out: Vec<(IntervalSpelling, DateStyle)> = Vec::new();
        for (i, d) in CANDIDATES {
            let i = if with_interval && !self.interval_settled { i } else { now.0 };
            let d = if self.dates_settled { now.1 } else { d };
            if (i, d) != now && !out.contains(&(i, d)) {
                out.push((i, d));
            }
        }
        out
    }

    /// Records a success with `interval`/`dates` (`with_interval`: the request had an interval).
    pub fn settle(&mut self, spelling: (IntervalSpelling, DateStyle), with_interval: bool) {
        if with_interval {
            self.dialect.interval = spelling.0;
            self.interval_settled = true;
        }
        self.dialect.dates = spelling.1;
        self.dates_settled = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_spelling_first() {
        assert_eq!(IntervalSpelling::default().spell(Interval::Daily), "Daily");
        assert_eq!(IntervalSpelling::default().spell(Interval::Hourly), "Hourly");
        assert_eq!(IntervalSpelling::Upper.spell(Interval::Hourly), "HOURLY");
        assert_eq!(IntervalSpelling::Lower.spell(Interval::Daily), "daily");
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-04T05:00:00Z").unwrap().to_utc();
        assert_eq!(DateStyle::Zulu.format(t), "2026-12-04T05:00:00Z");
        assert_eq!(DateStyle::Offset.format(t), "2026-12-04T05:00:00+00:00");
        assert!(Dialect::default().is_page());
        assert_eq!(Dialect::default().to_string(), "interval=Daily, dates …Z, authorization raw token");
    }

    #[test]
    fn alternatives_follow_what_is_unsettled() {
        let fresh = DialectState::default();
        let all: Vec<_> = CANDIDATES[1..].to_vec();
        assert_eq!(fresh.alternatives(true), all);
        // Without an interval only the dates can differ.
        assert_eq!(fresh.alternatives(false), [(IntervalSpelling::Page, DateStyle::Offset)]);
        // Dates settled by a detail call: only the interval's spellings remain.
        let mut s = fresh;
        s.settle((IntervalSpelling::Page, DateStyle::Zulu), false);
        assert!(s.unsettled(true) && !s.unsettled(false));
        assert_eq!(
            s.alternatives(true),
            [(IntervalSpelling::Upper, DateStyle::Zulu), (IntervalSpelling::Lower, DateStyle::Zulu)]
        );
        s.settle((IntervalSpelling::Lower, DateStyle::Zulu), true);
        assert!(!s.unsettled(true));
        assert_eq!(s.dialect.interval, IntervalSpelling::Lower);
        assert!(s.alternatives(true).is_empty());
    }
}
