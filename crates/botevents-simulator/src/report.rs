//! What each data endpoint computes from the served days. Sync, no I/O.
//!
//! In: a bot's [`Dataset`] at one instant, a validated window, buckets and filter, and the
//! [`SimDialect`]. Out: the response body and its content type, written into a [`Chunker`].
//! Each builder generates one day at a time, so memory is one day of events plus (for totals)
//! one row per (period, event, detail).
//!
//! Guarantees: details are newest first and capped at the newest `row_cap` rows; totals,
//! histograms and details count the very same events (totals before the cap). A body with no
//! rows or no events is the dialect's [`EmptyAnswer`]; each writer says whether it wrote one.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::csv::{self, APPLICATION_JSON, Chunker, Emit, TEXT_CSV};
use super::data::{Dataset, PLATFORMS, SimEvent, has_children, platform_index, total_detail};
use super::dialect::{EmptyAnswer, HourlyDate, SimDialect};
use super::window::{Buckets, Filter, Interval, Window};

/// The platforms every histogram lists, zero or not (as the vendor's sample does).
const HISTOGRAM_PLATFORMS: [&str; 10] =
    ["HTMLCLIENT", "FACEBOOK", "ABC", "VIBER", "VOICE", "RCS", "INAPP", "LINE", "SMS", "TWITTER"];

/// The `customEventDetail` CSV: the newest `cap` events of the window, newest first; `true` if
/// there were none and the `empty` answer was written.
pub(crate) fn detail<E: Emit>(
    data: &Dataset<'_>,
    window: &Window,
    filter: &Filter,
    cap: usize,
    empty: EmptyAnswer,
    out: &mut Chunker<E>,
) -> bool {
    let mut rows = 0;
    for day in window.days_newest_first() {
        for event in data.day(day) {
            if rows >= cap || !out.is_open() {
                return false;
            }
            if window.contains(event.event_time) && filter.matches(&event) {
                if rows == 0 {
                    out.content_type(TEXT_CSV);
                    csv::detail_header(out.buf());
                }
                csv::detail_record(out.buf(), &event);
                rows += 1;
                out.flush_if_full();
            }
        }
    }
    if rows == 0 {
        empty_download(empty, out, csv::detail_header);
    }
    rows == 0
}

/// A download with no rows: the `empty` answer, or the header line alone.
fn empty_download<E: Emit>(empty: EmptyAnswer, out: &mut Chunker<E>, header: impl FnOnce(&mut Vec<u8>)) {
    out.content_type(if empty.is_json() { APPLICATION_JSON } else { TEXT_CSV });
    match empty.body() {
        Some(body) => out.buf().extend_from_slice(body.as_bytes()),
        None => header(out.buf()),
    }
}

/// One line of the totals: the counts of one (period, event name, event detail).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TotalRow {
    pub(crate) period: DateTime<Utc>,
    pub(crate) name: String,
    pub(crate) detail: String,
    /// Per platform, in [`PLATFORMS`] order.
    pub(crate) counts: [u64; PLATFORMS.len()],
}

impl TotalRow {
    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The totals of the buckets answered for the window, sorted as the vendor sorts them: period
/// descending, then count descending, then name and detail.
pub(crate) fn totals(data: &Dataset<'_>, window: &Window, buckets: Buckets, filter: &Filter) -> Vec<TotalRow> {
    let mut counts: HashMap<(DateTime<Utc>, String, String), [u64; PLATFORMS.len()]> = HashMap::new();
    for event in period_events(data, window, buckets, filter) {
        let Some(platform) = platform_index(&event.platform) else {
            continue;
        };
        let key = (buckets.start_of(event.event_time), event.event_name.clone(), total_detail(&event).to_owned());
        counts.entry(key).or_insert([0; PLATFORMS.len()])[platform] += 1;
    }
    let mut rows: Vec<TotalRow> =
        counts.into_iter().map(|((period, name, detail), counts)| TotalRow { period, name, detail, counts }).collect();
    rows.sort_by(|a, b| {
        b.period
            .cmp(&a.period)
            .then(b.total().cmp(&a.total()))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.detail.cmp(&b.detail))
    });
    rows
}

/// The `customEventTotal` CSV: one column per platform that occurs, in the vendor's order and
/// the dialect's case; `true` if there were no rows and the empty answer was written.
pub(crate) fn totals_csv<E: Emit>(
    rows: &[TotalRow],
    buckets: Buckets,
    dialect: &SimDialect,
    out: &mut Chunker<E>,
) -> bool {
    let time_column = buckets.interval == Interval::Hourly && dialect.hourly_date == HourlyDate::TimeColumn;
    if rows.is_empty() {
        empty_download(dialect.empty, out, |buf| csv::totals_header::<&str>(buf, &[], time_column));
        return true;
    }
    let columns: Vec<usize> = (0..PLATFORMS.len()).filter(|p| rows.iter().any(|row| row.counts[*p] > 0)).collect();
    let names: Vec<String> = columns.iter().map(|p| dialect.platform_case.column(PLATFORMS[*p])).collect();
    out.content_type(TEXT_CSV);
    csv::totals_header(out.buf(), &names, time_column);
    let mut counts = Vec::with_capacity(columns.len());
    for row in rows {
        if !out.is_open() {
            break;
        }
        counts.clear();
        counts.extend(columns.iter().map(|p| row.counts[*p]));
        let (date, time) = totals_date(buckets, dialect.hourly_date, row.period);
        csv::totals_record(out.buf(), &row.name, &row.detail, &counts, &date, time.as_deref());
        out.flush_if_full();
    }
    false
}

/// The totals CSV's `Date` (and `Time`) of the bucket starting at `start`: `2023-04-19` for UTC
/// days, the full instant (`2023-04-18T22:00:00Z`) for days of another offset, and the
/// dialect's hourly form for hours.
fn totals_date(buckets: Buckets, hourly: HourlyDate, start: DateTime<Utc>) -> (String, Option<String>) {
    match buckets.interval {
        Interval::Daily if buckets.is_utc() => (start.format("%Y-%m-%d").to_string(), None),
        Interval::Daily => (start.format("%Y-%m-%dT%H:%M:%SZ").to_string(), None),
        Interval::Hourly => hourly.format(start),
    }
}

/// A JSON endpoint's answer: `value`, or the `empty` answer when `is_empty` (whose
/// [`Header`](EmptyAnswer::Header) form is `value` itself, the endpoint's usual shape).
/// Returns whether the empty answer was written.
pub(crate) fn write_json<E: Emit, T: Serialize>(
    value: &T,
    is_empty: bool,
    empty: EmptyAnswer,
    out: &mut Chunker<E>,
) -> bool {
    out.content_type(APPLICATION_JSON);
    match empty.body().filter(|_| is_empty) {
        Some(body) => out.buf().extend_from_slice(body.as_bytes()),
        None => {
            if let Err(err) = serde_json::to_writer(out.buf(), value) {
                tracing::error!(error = %err, "simulator could not serialize a response");
            }
        }
    }
    is_empty
}

/// The `customEvents` JSON.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Catalog {
    custom_event_list: Vec<CatalogEntry>,
}

impl Catalog {
    pub(crate) fn is_empty(&self) -> bool {
        self.custom_event_list.is_empty()
    }
}

#[derive(Debug, Serialize)]
struct CatalogEntry {
    name: String,
    #[serde(rename = "hasChildrens")]
    has_childrens: bool,
}

/// The event names that occur in the window (inclusive end, like the details), most frequent
/// first.
pub(crate) fn catalog(data: &Dataset<'_>, window: &Window) -> Catalog {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for day in window.days_newest_first() {
        for event in data.day(day) {
            if window.contains(event.event_time) {
                *counts.entry(event.event_name).or_default() += 1;
            }
        }
    }
    let mut names: Vec<(String, u64)> = counts.into_iter().collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Catalog {
        custom_event_list: names
            .into_iter()
            .map(|(name, _)| CatalogEntry { has_childrens: has_children(&name), name })
            .collect(),
    }
}

/// The `histogram` JSON of one event name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Histogram {
    custom_event_name: String,
    channel_total: BTreeMap<&'static str, Count>,
    histories: Vec<History>,
    pub(crate) total: Count,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct History {
    platform_count: BTreeMap<&'static str, Count>,
    platform_total: Count,
    /// Epoch milliseconds of the period start, as a string.
    date_time: String,
}

/// A histogram count: a number, or (in the string-counts dialect) a string, zero as `null`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) value: u64,
    as_string: bool,
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.as_string, self.value) {
            (false, value) => serializer.serialize_u64(value),
            (true, 0) => serializer.serialize_none(),
            (true, value) => serializer.collect_str(&value),
        }
    }
}

/// Counts of `filter.event_name` per bucket answered for the window, oldest first, buckets
/// without events left out; counts as strings if `string_counts`.
pub(crate) fn histogram(
    data: &Dataset<'_>,
    window: &Window,
    buckets: Buckets,
    filter: &Filter,
    string_counts: bool,
) -> Histogram {
    let count = |value: u64| Count { value, as_string: string_counts };
    let name = filter.event_name.clone().unwrap_or_default();
    let mut periods: BTreeMap<DateTime<Utc>, [u64; PLATFORMS.len()]> = BTreeMap::new();
    for event in period_events(data, window, buckets, filter) {
        if let Some(platform) = platform_index(&event.platform) {
            periods.entry(buckets.start_of(event.event_time)).or_insert([0; PLATFORMS.len()])[platform] += 1;
        }
    }
    let mut totals = [0u64; PLATFORMS.len()];
    for counts in periods.values() {
        for (total, count) in totals.iter_mut().zip(counts) {
            *total += count;
        }
    }
    let listed = |counts: &[u64; PLATFORMS.len()]| -> BTreeMap<&'static str, Count> {
        let mut map: BTreeMap<&'static str, Count> = HISTOGRAM_PLATFORMS.iter().map(|p| (*p, count(0))).collect();
        for (p, platform) in PLATFORMS.iter().enumerate() {
            if totals[p] > 0 || map.contains_key(platform) {
                map.insert(platform, count(counts[p]));
            }
        }
        map
    };
    Histogram {
        custom_event_name: name,
        channel_total: listed(&totals),
        histories: periods
            .iter()
            .map(|(period, counts)| History {
                platform_count: listed(counts),
                platform_total: count(counts.iter().sum()),
                date_time: period.timestamp_millis().to_string(),
            })
            .collect(),
        total: count(totals.iter().sum()),
    }
}

/// The filtered events of the buckets answered for the window.
fn period_events<'d>(
    data: &'d Dataset<'d>,
    window: &'d Window,
    buckets: Buckets,
    filter: &'d Filter,
) -> impl Iterator<Item = SimEvent> + 'd {
    buckets
        .days_newest_first(window)
        .flat_map(move |day| data.day(day))
        .filter(move |event| filter.matches(event) && buckets.selects(window, buckets.start_of(event.event_time)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;
    use crate::data::detail_events;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn collect<F: FnOnce(&mut Chunker<&mut dyn FnMut(bytes::Bytes) -> bool>)>(f: F) -> String {
        let mut body = Vec::new();
        let mut emit = |chunk: bytes::Bytes| {
            body.extend_from_slice(&chunk);
            true
        };
        let mut chunker = Chunker::new(&mut emit as &mut dyn FnMut(bytes::Bytes) -> bool);
        f(&mut chunker);
        chunker.finish();
        String::from_utf8(body).unwrap()
    }

    const NOW: &str = "2024-05-20T12:00:00Z";
    const BRACKETS: EmptyAnswer = EmptyAnswer::Brackets;

    #[test]
    fn totals_count_the_detail_events() {
        let config = SimConfig::default();
        let bot = config.bot("bot-support").unwrap();
        let data = Dataset::new(&config, bot, at(NOW));
        let window = Window { start: at("2024-05-16T00:00:00Z"), end: at("2024-05-19T00:00:00Z") };
        for interval in [Interval::Daily, Interval::Hourly] {
            let buckets = Buckets::new(interval, &SimDialect::default());
            let rows = totals(&data, &window, buckets, &Filter::default());
            let mut expected: HashMap<(DateTime<Utc>, String, String, String), u64> = HashMap::new();
            for day in ["2024-05-16", "2024-05-17", "2024-05-18"] {
                for e in detail_events(&config, "bot-support", day.parse().unwrap()) {
                    let key = (
                        buckets.start_of(e.event_time),
                        e.event_name.clone(),
                        total_detail(&e).to_owned(),
                        e.platform.clone(),
                    );
                    *expected.entry(key).or_default() += 1;
                }
            }
            let mut got = HashMap::new();
            for row in &rows {
                for (p, count) in row.counts.iter().enumerate() {
                    if *count > 0 {
                        got.insert((row.period, row.name.clone(), row.detail.clone(), PLATFORMS[p].to_owned()), *count);
                    }
                }
            }
            assert_eq!(got, expected);
            assert!(
                rows.windows(2)
                    .all(|w| w[0].period > w[1].period || (w[0].period == w[1].period && w[0].total() >= w[1].total()))
            );
        }
    }

    #[test]
    fn details_are_capped_newest_first_with_an_inclusive_end() {
        let config = SimConfig::default();
        let bot = config.bot("bot-support").unwrap();
        let data = Dataset::new(&config, bot, at(NOW));
        let window = Window { start: at("2024-05-17T00:00:00Z"), end: at("2024-05-18T00:00:00Z") };
        let body = collect(|out| assert!(!detail(&data, &window, &Filter::default(), usize::MAX, BRACKETS, out)));
        let day = detail_events(&config, "bot-support", "2024-05-17".parse().unwrap());
        let next = detail_events(&config, "bot-support", "2024-05-18".parse().unwrap());
        let midnight_rows = next.iter().filter(|e| e.event_time == window.end).count();
        assert!(midnight_rows >= 1);
        assert_eq!(body.matches("\n\n\"").count(), day.len() + midnight_rows);
        let capped = collect(|out| assert!(!detail(&data, &window, &Filter::default(), 10, BRACKETS, out)));
        assert_eq!(capped.matches("\n\n\"").count(), 10);
        assert!(body.starts_with(&capped));
    }

    #[test]
    fn nothing_is_served_before_it_is_ready() {
        let config = SimConfig::default();
        let bot = config.bot("bot-support").unwrap();
        // 2024-05-19 is ready at 07:00Z on the 20th (EDT).
        let early = Dataset::new(&config, bot, at("2024-05-20T06:59:59Z"));
        let window = Window { start: at("2024-05-19T00:00:00Z"), end: at("2024-05-20T00:00:00Z") };
        let filter = Filter::default();
        let body = collect(|out| assert!(detail(&early, &window, &filter, usize::MAX, BRACKETS, out)));
        assert_eq!(body, "[]");
        let body = collect(|out| assert!(detail(&early, &window, &filter, usize::MAX, EmptyAnswer::Header, out)));
        assert_eq!(body, format!("{}\n", csv::DETAIL_HEADER));
        let daily = Buckets::new(Interval::Daily, &SimDialect::default());
        let rows = totals(&early, &window, daily, &filter);
        assert!(rows.is_empty());
        let body = collect(|out| assert!(totals_csv(&rows, daily, &SimDialect::default(), out)));
        assert_eq!(body, "[]");
        let header = SimDialect { empty: EmptyAnswer::Header, ..SimDialect::default() };
        let body = collect(|out| assert!(totals_csv(&rows, daily, &header, out)));
        assert_eq!(body, "Event Name,Event Detail,Event total,Date\n");
        let time_column = SimDialect { hourly_date: HourlyDate::TimeColumn, ..header };
        let hourly = Buckets::new(Interval::Hourly, &time_column);
        let body = collect(|out| assert!(totals_csv(&rows, hourly, &time_column, out)));
        assert_eq!(body, "Event Name,Event Detail,Event total,Date,Time\n");
    }

    #[test]
    fn catalog_and_histogram_agree_with_totals() {
        let config = SimConfig::default();
        let bot = config.bot("bot-sales").unwrap();
        let data = Dataset::new(&config, bot, at(NOW));
        let window = Window { start: at("2024-05-12T00:00:00Z"), end: at("2024-05-19T00:00:00Z") };
        let hourly = Buckets::new(Interval::Hourly, &SimDialect::default());
        let rows = totals(&data, &window, hourly, &Filter::default());
        let catalog = catalog(&data, &window);
        assert!(catalog.custom_event_list.iter().any(|e| e.has_childrens));
        for entry in &catalog.custom_event_list {
            let filter = Filter { event_name: Some(entry.name.clone()), platform: None };
            let hist = histogram(&data, &window, hourly, &filter, false);
            let expected: u64 = rows.iter().filter(|r| r.name == entry.name).map(TotalRow::total).sum();
            assert_eq!(hist.total.value, expected);
            assert_eq!(hist.histories.iter().map(|h| h.platform_total.value).sum::<u64>(), expected);
            assert!(hist.channel_total.contains_key("TWITTER"));
        }
        let daily = Buckets::new(Interval::Daily, &SimDialect::default());
        let filter = Filter { event_name: Some("UserInput".into()), platform: None };
        let json = serde_json::to_value(histogram(&data, &window, daily, &filter, false)).unwrap();
        assert!(json["histories"][0]["dateTime"].as_str().unwrap().parse::<i64>().is_ok());
        assert!(json["channelTotal"]["HTMLCLIENT"].as_u64().unwrap() > 0);
    }
}
