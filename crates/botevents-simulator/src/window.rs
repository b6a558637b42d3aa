//! Request parameters of the data endpoints, checked against the vendor's rules.
//!
//! In: the raw query string, the current instant and the [`SimDialect`]. Out: a validated
//! [`Window`], [`Interval`] and [`Filter`], or an [`Invalid`] that the server answers with 400
//! (and logs); and the [`Buckets`] that cut a window into the periods of totals and histograms.
//!
//! The query string is decoded as RFC 3986 has it: `%XX` escapes only, so `%20` is a space and
//! a `+` is a plus (form encoding, where `+` is a space, is an HTML convention the page does not
//! invoke).

use std::borrow::Cow;

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};

use super::data::{PLATFORMS, SimEvent};
use super::dialect::{DateForm, IntervalSpelling, SimDialect};

/// The longest window one request may cover (exactly 7 days is allowed).
pub(crate) const MAX_WINDOW: Duration = Duration::days(7);

/// Why a request's parameters were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("missing parameter {0}")]
    Missing(&'static str),
    #[error("parameter {name} is not a date-time: {value:?}")]
    Date { name: &'static str, value: String },
    #[error("parameter {name} has no numeric offset: {value:?}")]
    DateForm { name: &'static str, value: String },
    #[error("endDate {end} is before startDate {start}")]
    EndBeforeStart { start: DateTime<Utc>, end: DateTime<Utc> },
    #[error("window {start} .. {end} is longer than 7 days")]
    TooLong { start: DateTime<Utc>, end: DateTime<Utc> },
    #[error("startDate {start} is older than the {days}-day retention")]
    Retention { start: DateTime<Utc>, days: u32 },
    #[error("unknown interval {0:?}")]
    Interval(String),
    #[error("unknown platform {0:?}")]
    Platform(String),
}

impl Invalid {
    /// A short name of the reason, for [`SimStats::bad_params`](super::SimStats::bad_params).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Invalid::Missing(_) => "missing",
            Invalid::Date { .. } => "date",
            Invalid::DateForm { .. } => "date-form",
            Invalid::EndBeforeStart { .. } => "end-before-start",
            Invalid::TooLong { .. } => "too-long",
            Invalid::Retention { .. } => "retention",
            Invalid::Interval(_) => "interval",
            Invalid::Platform(_) => "platform",
        }
    }
}

/// The decoded query string; the first occurrence of a name wins.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Splits on `&` and the first `=`, then decodes `%XX` escapes (a `+` stays a `+`); bytes
    /// that are not UTF-8 become U+FFFD.
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let decode = |s: &str| match String::from_utf8_lossy(&percent_decode(s)) {
            Cow::Borrowed(text) => text.to_owned(),
            Cow::Owned(text) => text,
        };
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(name), decode(value))
            })
            .collect();
        Params(pairs)
    }

    /// The value of `name`; an empty value counts as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).filter(|value| !value.is_empty())
    }

    /// `startDate` and `endDate` in a form of `dates`, checked against the vendor's limits at
    /// `now`.
    pub(crate) fn window(&self, now: DateTime<Utc>, retention_days: u32, dates: DateForm) -> Result<Window, Invalid> {
        let start = self.date("startDate", dates)?;
        let end = self.date("endDate", dates)?;
        if end < start {
            return Err(Invalid::EndBeforeStart { start, end });
        }
        if end - start > MAX_WINDOW {
            return Err(Invalid::TooLong { start, end });
        }
        if start < now - Duration::days(i64::from(retention_days)) {
            return Err(Invalid::Retention { start, days: retention_days });
        }
        Ok(Window { start, end })
    }

    /// `interval`: daily (also when absent) or hourly, spelled as `spelling` says.
    pub(crate) fn interval(&self, spelling: IntervalSpelling) -> Result<Interval, Invalid> {
        match self.get("interval") {
            None => Ok(Interval::Daily),
            Some(value) if spelling.spells(value, "Daily") => Ok(Interval::Daily),
            Some(value) if spelling.spells(value, "Hourly") => Ok(Interval::Hourly),
            Some(value) => Err(Invalid::Interval(value.to_owned())),
        }
    }

    /// The optional `eventName` and `platform` filters; a platform must be one the vendor lists.
    pub(crate) fn filter(&self) -> Result<Filter, Invalid> {
        let platform = match self.get("platform") {
            None => None,
            Some(value) => Some(
                PLATFORMS
                    .iter()
                    .copied()
                    .find(|platform| platform.eq_ignore_ascii_case(value))
                    .ok_or_else(|| Invalid::Platform(value.to_owned()))?,
            ),
        };
        Ok(Filter { event_name: self.get("eventName").map(str::to_owned), platform })
    }

    /// Accepts RFC 3339 as the vendor's examples use it: `2023-04-19T00:00:00Z`, with fractional
    /// seconds, or with a `±HH:MM` offset; then only the forms of `dates`.
    fn date(&self, name: &'static str, dates: DateForm) -> Result<DateTime<Utc>, Invalid> {
        let value = self.get(name).ok_or(Invalid::Missing(name))?;
        let date = DateTime::parse_from_rfc3339(value)
            .map(|date| date.with_timezone(&Utc))
            .map_err(|_| Invalid::Date { name, value: value.to_owned() })?;
        if !dates.admits(value) {
            return Err(Invalid::DateForm { name, value: value.to_owned() });
        }
        Ok(date)
    }
}

/// Decodes the `%XX` escapes of a path segment or query component; a `%` without two hex digits
/// after it stays as it is.
pub(crate) fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits: at most 255.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// A request's time window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
}

impl Window {
    /// Detail events: `start <= t <= end`. The end is inclusive, as the vendor's is; dropping
    /// the boundary rows is the client's job.
    pub(crate) fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at <= self.end
    }

    /// The UTC days the window touches, newest first.
    pub(crate) fn days_newest_first(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let first = self.start.date_naive();
        let mut day = Some(self.end.date_naive());
        std::iter::from_fn(move || {
            let current = day.filter(|d| *d >= first)?;
            day = current.pred_opt();
            Some(current)
        })
    }
}

/// The period of a totals row or histogram entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interval {
    Daily,
    Hourly,
}

impl Interval {
    fn length(self) -> Duration {
        match self {
            Interval::Daily => Duration::days(1),
            Interval::Hourly => Duration::hours(1),
        }
    }
}

/// How totals and histograms cut time into periods: days or hours of the server's clock,
/// [`SimDialect::bucket_offset_hours`] east of UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Buckets {
    pub(crate) interval: Interval,
    /// The server clock's offset from UTC.
    offset: Duration,
}

impl Buckets {
    pub(crate) fn new(interval: Interval, dialect: &SimDialect) -> Self {
        Buckets { interval, offset: Duration::hours(i64::from(dialect.bucket_offset_hours)) }
    }

    /// Whether the buckets are UTC days or hours.
    pub(crate) fn is_utc(&self) -> bool {
        self.offset.is_zero()
    }

    /// The start of the bucket holding `at`.
    pub(crate) fn start_of(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at + self.offset;
        // Rounding down to a whole day or hour of the epoch cannot fail for the dates served.
        local.duration_trunc(self.interval.length()).unwrap_or(local) - self.offset
    }

    /// Whether the bucket starting at `start` is answered for `window`: in UTC, those whose
    /// start lies in `[window.start, window.end)` (the vendor's behaviour); with an offset, every
    /// bucket that overlaps the window.
    pub(crate) fn selects(&self, window: &Window, start: DateTime<Utc>) -> bool {
        if self.is_utc() {
            window.start <= start && start < window.end
        } else {
            start < window.end && start + self.interval.length() > window.start
        }
    }

    /// The UTC days, newest first, that can hold events of the buckets answered for `window`.
    pub(crate) fn days_newest_first(&self, window: &Window) -> impl Iterator<Item = NaiveDate> + use<> {
        let reach = if self.is_utc() { Duration::zero() } else { self.interval.length() };
        let wide = Window { start: window.start - reach, end: window.end + reach };
        let (start, end) = (wide.start, wide.end);
        wide.days_newest_first().filter(move |day| {
            let midnight = day.and_time(chrono::NaiveTime::MIN).and_utc();
            midnight < end && midnight + Duration::days(1) > start
        })
    }
}

/// The optional filters of a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) event_name: Option<String>,
    pub(crate) platform: Option<&'static str>,
}

impl Filter {
    pub(crate) fn matches(&self, event: &SimEvent) -> bool {
        self.event_name.as_deref().is_none_or(|name| event.event_name == name)
            && self.platform.is_none_or(|platform| event.platform == platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn params(q: &str) -> Params {
        Params::parse(Some(q))
    }

    const NOW: &str = "2024-05-20T12:00:00Z";

    fn window(q: &str) -> Result<Window, Invalid> {
        params(q).window(at(NOW), 30, DateForm::Any)
    }

    #[test]
    fn accepts_the_vendor_date_forms() {
        let w = window("startDate=2024-05-13T00:00:00Z&endDate=2024-05-20T00:00:00Z").unwrap();
        assert_eq!(w.end - w.start, MAX_WINDOW);
        let w = window("startDate=2024-05-19T00:00:00.250Z&endDate=2024-05-19T00:00:00-04:00").unwrap();
        assert_eq!(w.start, at("2024-05-19T00:00:00.250Z"));
        assert_eq!(w.end, at("2024-05-19T04:00:00Z"));
        let w = window("startDate=2024-05-19T00%3A00%3A00%2B02%3A00&endDate=2024-05-19T01:00:00Z").unwrap();
        assert_eq!(w.start, at("2024-05-18T22:00:00Z"));
        // An unencoded '+' is a plus (RFC 3986), not a space.
        let w = window("startDate=2024-05-19T00:00:00+02:00&endDate=2024-05-20T00:00:00Z").unwrap();
        assert_eq!(w.start, at("2024-05-18T22:00:00Z"));
    }

    #[test]
    fn the_offset_form_refuses_z() {
        let offset = |q: &str| params(q).window(at(NOW), 30, DateForm::Offset);
        assert!(offset("startDate=2024-05-19T00:00:00%2B00:00&endDate=2024-05-19T01:00:00-04:00").is_ok());
        assert_eq!(
            offset("startDate=2024-05-19T00:00:00+00:00&endDate=2024-05-20T00:00:00Z"),
            Err(Invalid::DateForm { name: "endDate", value: "2024-05-20T00:00:00Z".into() })
        );
        assert!(matches!(
            offset("startDate=2024-05-19T00:00:00.5z&endDate=2024-05-20T00:00:00+00:00"),
            Err(Invalid::DateForm { name: "startDate", .. })
        ));
    }

    #[test]
    fn rejects_what_the_vendor_rejects() {
        let check = |q: &str| window(q).unwrap_err();
        assert_eq!(check("endDate=2024-05-19T00:00:00Z"), Invalid::Missing("startDate"));
        assert_eq!(check("startDate=2024-05-19T00:00:00Z&endDate="), Invalid::Missing("endDate"));
        assert!(matches!(check("startDate=2024-05-19&endDate=2024-05-20T00:00:00Z"), Invalid::Date { .. }));
        // A space (form-encoded or escaped) before the offset is not a date.
        for q in [
            "startDate=2024-05-19T00:00:00%2002:00&endDate=2024-05-20T00:00:00Z",
            "startDate=2024-05-19T00:00:00Z&endDate=2024-05-20T00:00:00%20",
        ] {
            assert!(matches!(check(q), Invalid::Date { .. }), "{q}");
        }
        assert!(matches!(
            check("startDate=2024-05-19T00:00:00Z&endDate=2024-05-18T00:00:00Z"),
            Invalid::EndBeforeStart { .. }
        ));
        assert!(matches!(
            check("startDate=2024-05-12T23:59:59.999Z&endDate=2024-05-20T00:00:00Z"),
            Invalid::TooLong { .. }
        ));
        assert!(matches!(
            check("startDate=2024-04-20T11:59:59Z&endDate=2024-04-21T00:00:00Z"),
            Invalid::Retention { .. }
        ));
        assert!(window("startDate=2024-04-20T12:00:00Z&endDate=2024-04-21T00:00:00Z").is_ok());
    }

    #[test]
    fn interval_spellings() {
        let strict = IntervalSpelling::Strict;
        assert_eq!(params("").interval(strict), Ok(Interval::Daily));
        assert_eq!(params("interval=").interval(strict), Ok(Interval::Daily));
        assert_eq!(params("interval=Daily").interval(strict), Ok(Interval::Daily));
        assert_eq!(params("interval=Hourly").interval(strict), Ok(Interval::Hourly));
        for wrong in ["daily", "DAILY", "hourly", "HOURLY", "Daily%20", "weekly"] {
            assert!(params(&format!("interval={wrong}")).interval(strict).is_err(), "{wrong}");
        }
        assert_eq!(params("interval=hOURLY").interval(IntervalSpelling::Lenient), Ok(Interval::Hourly));
        assert_eq!(params("interval=HOURLY").interval(IntervalSpelling::Upper), Ok(Interval::Hourly));
        assert!(params("interval=Hourly").interval(IntervalSpelling::Upper).is_err());
        assert_eq!(params("interval=daily").interval(IntervalSpelling::Lower), Ok(Interval::Daily));
        assert!(params("interval=Daily").interval(IntervalSpelling::Lower).is_err());
    }

    #[test]
    fn query_decoding_follows_rfc_3986() {
        let filter = params("platform=whatsapp&eventName=R%C3%A9ponse%2C%20%22oui%22").filter().unwrap();
        assert_eq!(filter.platform, Some("WHATSAPP"));
        assert_eq!(filter.event_name.as_deref(), Some("Réponse, \"oui\""));
        assert_eq!(params("eventName=a+b").filter().unwrap().event_name.as_deref(), Some("a+b"));
        assert_eq!(params("eventName=a%2Bb").filter().unwrap().event_name.as_deref(), Some("a+b"));
        assert_eq!(params("eventName=a%20b").filter().unwrap().event_name.as_deref(), Some("a b"));
        assert_eq!(params("eventName=100%&&x").filter().unwrap().event_name.as_deref(), Some("100%"));
        assert_eq!(params("eventName=a=b&eventName=c").get("eventName"), Some("a=b"), "the first wins");
        assert_eq!(params("eventName=%FF").get("eventName"), Some("\u{FFFD}"));
        assert!(params("platform=APPLE").filter().is_err());
        assert_eq!(percent_decode("a%20b%zz%"), b"a b%zz%");
    }

    #[test]
    fn windows_and_buckets() {
        let w = Window { start: at("2024-05-18T00:00:00Z"), end: at("2024-05-20T00:00:00Z") };
        assert!(w.contains(w.start) && w.contains(w.end));
        let days: Vec<String> = w.days_newest_first().map(|d| d.to_string()).collect();
        assert_eq!(days, ["2024-05-20", "2024-05-19", "2024-05-18"]);

        let t = at("2024-05-18T13:45:12.345Z");
        let utc = SimDialect::default();
        let hourly = Buckets::new(Interval::Hourly, &utc);
        let daily = Buckets::new(Interval::Daily, &utc);
        assert_eq!(hourly.start_of(t), at("2024-05-18T13:00:00Z"));
        assert_eq!(daily.start_of(t), at("2024-05-18T00:00:00Z"));
        assert!(daily.selects(&w, w.start) && !daily.selects(&w, w.end));
        assert!(!daily.selects(&w, at("2024-05-17T00:00:00Z")));
        let days: Vec<String> = daily.days_newest_first(&w).map(|d| d.to_string()).collect();
        assert_eq!(days, ["2024-05-19", "2024-05-18"]);

        let east = SimDialect { bucket_offset_hours: 2, ..SimDialect::default() };
        let daily = Buckets::new(Interval::Daily, &east);
        assert_eq!(daily.start_of(t), at("2024-05-17T22:00:00Z"));
        assert_eq!(daily.start_of(at("2024-05-18T22:00:00Z")), at("2024-05-18T22:00:00Z"));
        assert_eq!(daily.start_of(at("2024-05-18T21:59:59.999Z")), at("2024-05-17T22:00:00Z"));
        // Three buckets overlap [18th, 20th): from the 17th 22:00Z to the 20th 22:00Z.
        assert!(!daily.selects(&w, at("2024-05-16T22:00:00Z")));
        assert!(daily.selects(&w, at("2024-05-17T22:00:00Z")));
        assert!(daily.selects(&w, at("2024-05-19T22:00:00Z")));
        assert!(!daily.selects(&w, at("2024-05-20T22:00:00Z")));
        let days: Vec<String> = daily.days_newest_first(&w).map(|d| d.to_string()).collect();
        assert_eq!(days, ["2024-05-20", "2024-05-19", "2024-05-18", "2024-05-17"]);
        let west = SimDialect { bucket_offset_hours: -5, ..SimDialect::default() };
        assert_eq!(Buckets::new(Interval::Daily, &west).start_of(t), at("2024-05-18T05:00:00Z"));
        assert_eq!(Buckets::new(Interval::Hourly, &west).start_of(t), at("2024-05-18T13:00:00Z"));
    }
}
