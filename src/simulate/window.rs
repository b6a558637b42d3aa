//! Request parameters of the data endpoints, checked against the vendor's rules.
//!
//! In: the raw query string and the current instant. Out: a validated [`Window`], [`Interval`]
//! and [`Filter`], or an [`Invalid`] that the server answers with 400 (and logs).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};

use super::data::{PLATFORMS, SimEvent};

/// The longest window one request may cover (exactly 7 days is allowed).
pub(crate) const MAX_WINDOW: Duration = Duration::days(7);

/// Why a request's parameters were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("missing parameter {0}")]
    Missing(&'static str),
    #[error("parameter {name} is not a date-time: {value:?}")]
    Date { name: &'static str, value: String },
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

/// The decoded query string; the first occurrence of a name wins.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let pairs = query.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Params(pairs)
    }

    /// The value of `name`; an empty value counts as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).filter(|value| !value.is_empty())
    }

    /// `startDate` and `endDate`, checked against the vendor's limits at `now`.
    pub(crate) fn window(&self, now: DateTime<Utc>, retention_days: u32) -> Result<Window, Invalid> {
        let start = self.date("startDate")?;
        let end = self.date("endDate")?;
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

    /// `interval`: `daily` (the default) or `hourly`, any case.
    pub(crate) fn interval(&self) -> Result<Interval, Invalid> {
        match self.get("interval") {
            None => Ok(Interval::Daily),
            Some(value) if value.eq_ignore_ascii_case("daily") => Ok(Interval::Daily),
            Some(value) if value.eq_ignore_ascii_case("hourly") => Ok(Interval::Hourly),
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
    /// seconds, or with a `±HH:MM` offset.
    fn date(&self, name: &'static str) -> Result<DateTime<Utc>, Invalid> {
        let value = self.get(name).ok_or(Invalid::Missing(name))?;
        DateTime::parse_from_rfc3339(value)
            .map(|date| date.with_timezone(&Utc))
            .map_err(|_| Invalid::Date { name, value: value.to_owned() })
    }
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

    /// Totals and histograms: the periods whose start lies in `[start, end)`.
    pub(crate) fn has_period(&self, period_start: DateTime<Utc>) -> bool {
        self.start <= period_start && period_start < self.end
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
    /// The start of the period holding `at`.
    pub(crate) fn period_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        match self {
            Interval::Daily => day.and_time(NaiveTime::MIN).and_utc(),
            Interval::Hourly => {
                day.and_time(NaiveTime::from_hms_opt(at.hour(), 0, 0).unwrap_or(NaiveTime::MIN)).and_utc()
            }
        }
    }

    /// The totals CSV's `Date`: `2023-04-19` or `2023-04-19 14:00`.
    pub(crate) fn label(self, period_start: DateTime<Utc>) -> String {
        match self {
            Interval::Daily => period_start.format("%Y-%m-%d").to_string(),
            Interval::Hourly => period_start.format("%Y-%m-%d %H:00").to_string(),
        }
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

    #[test]
    fn accepts_the_vendor_date_forms() {
        let now = at(NOW);
        let w = params("startDate=2024-05-13T00:00:00Z&endDate=2024-05-20T00:00:00Z").window(now, 30).unwrap();
        assert_eq!(w.end - w.start, MAX_WINDOW);
        let w = params("startDate=2024-05-19T00:00:00.250Z&endDate=2024-05-19T00:00:00-04:00").window(now, 30).unwrap();
        assert_eq!(w.start, at("2024-05-19T00:00:00.250Z"));
        assert_eq!(w.end, at("2024-05-19T04:00:00Z"));
        let w =
            params("startDate=2024-05-19T00%3A00%3A00%2B02%3A00&endDate=2024-05-19T01:00:00Z").window(now, 30).unwrap();
        assert_eq!(w.start, at("2024-05-18T22:00:00Z"));
    }

    #[test]
    fn rejects_what_the_vendor_rejects() {
        let now = at(NOW);
        let check = |q: &str| params(q).window(now, 30).unwrap_err();
        assert_eq!(check("endDate=2024-05-19T00:00:00Z"), Invalid::Missing("startDate"));
        assert_eq!(check("startDate=2024-05-19T00:00:00Z&endDate="), Invalid::Missing("endDate"));
        assert!(matches!(check("startDate=2024-05-19&endDate=2024-05-20T00:00:00Z"), Invalid::Date { .. }));
        // An unencoded '+' decodes to a space: not a date.
        assert!(matches!(
            check("startDate=2024-05-19T00:00:00+02:00&endDate=2024-05-20T00:00:00Z"),
            Invalid::Date { .. }
        ));
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
        assert!(params("startDate=2024-04-20T12:00:00Z&endDate=2024-04-21T00:00:00Z").window(now, 30).is_ok());
    }

    #[test]
    fn interval_and_filter() {
        assert_eq!(params("").interval(), Ok(Interval::Daily));
        assert_eq!(params("interval=HOURLY").interval(), Ok(Interval::Hourly));
        assert_eq!(params("interval=Daily").interval(), Ok(Interval::Daily));
        assert!(params("interval=weekly").interval().is_err());
        let filter = params("platform=whatsapp&eventName=R%C3%A9ponse%2C+%22oui%22").filter().unwrap();
        assert_eq!(filter.platform, Some("WHATSAPP"));
        assert_eq!(filter.event_name.as_deref(), Some("Réponse, \"oui\""));
        assert!(params("platform=APPLE").filter().is_err());
    }

    #[test]
    fn windows_and_periods() {
        let w = Window { start: at("2024-05-18T00:00:00Z"), end: at("2024-05-20T00:00:00Z") };
        assert!(w.contains(w.start) && w.contains(w.end));
        assert!(w.has_period(w.start) && !w.has_period(w.end));
        let days: Vec<String> = w.days_newest_first().map(|d| d.to_string()).collect();
        assert_eq!(days, ["2024-05-20", "2024-05-19", "2024-05-18"]);
        let t = at("2024-05-18T13:45:12.345Z");
        assert_eq!(Interval::Hourly.label(Interval::Hourly.period_start(t)), "2024-05-18 13:00");
        assert_eq!(Interval::Daily.label(Interval::Daily.period_start(t)), "2024-05-18");
    }
}
