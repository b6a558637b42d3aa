//! What each data endpoint computes from the served days. Sync, no I/O.
//!
//! In: a bot's [`Dataset`] at one instant, a validated window, interval and filter. Out: the
//! response body, written into a [`Chunker`]. Each builder generates one day at a time, so memory
//! is one day of events plus (for totals) one row per (period, event, detail).
//!
//! Guarantees: details are newest first and capped at the newest `row_cap` rows; totals,
//! histograms and details count the very same events (totals before the cap).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use super::csv::{self, Chunker, Emit};
use super::data::{Dataset, PLATFORMS, SimEvent, has_children, platform_index, total_detail};
use super::window::{Filter, Interval, Window};

/// The platforms every histogram lists, zero or not (as the vendor's sample does).
const HISTOGRAM_PLATFORMS: [&str; 10] =
    ["HTMLCLIENT", "FACEBOOK", "ABC", "VIBER", "VOICE", "RCS", "INAPP", "LINE", "SMS", "TWITTER"];

/// The `customEventDetail` CSV: the newest `cap` events of the window, newest first.
pub(crate) fn detail<E: Emit>(data: &Dataset<'_>, window: &Window, filter: &Filter, cap: usize, out: &mut Chunker<E>) {
    csv::detail_header(out.buf());
    let mut rows = 0;
    for day in window.days_newest_first() {
        for event in data.day(day) {
            if rows >= cap || !out.is_open() {
                return;
            }
            if window.contains(event.event_time) && filter.matches(&event) {
                csv::detail_record(out.buf(), &event);
                rows += 1;
                out.flush_if_full();
            }
        }
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

/// The totals of the periods whose start lies in the window, sorted as the vendor sorts them:
/// period descending, then count descending, then name and detail.
pub(crate) fn totals(data: &Dataset<'_>, window: &Window, interval: Interval, filter: &Filter) -> Vec<TotalRow> {
    let mut counts: HashMap<(DateTime<Utc>, String, String), [u64; PLATFORMS.len()]> = HashMap::new();
    for event in period_events(data, window, interval, filter) {
        let Some(platform) = platform_index(&event.platform) else {
            continue;
        };
        let key = (interval.period_start(event.event_time), event.event_name.clone(), total_detail(&event).to_owned());
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

/// The `customEventTotal` CSV: one column per platform that occurs, in the vendor's order.
pub(crate) fn totals_csv<E: Emit>(rows: &[TotalRow], interval: Interval, out: &mut Chunker<E>) {
    let columns: Vec<usize> = (0..PLATFORMS.len()).filter(|p| rows.iter().any(|row| row.counts[*p] > 0)).collect();
    let names: Vec<&str> = columns.iter().map(|p| PLATFORMS[*p]).collect();
    csv::totals_header(out.buf(), &names);
    let mut counts = Vec::with_capacity(columns.len());
    for row in rows {
        if !out.is_open() {
            return;
        }
        counts.clear();
        counts.extend(columns.iter().map(|p| row.counts[*p]));
        csv::totals_record(out.buf(), &row.name, &row.detail, &counts, &interval.label(row.period));
        out.flush_if_full();
    }
}

/// The `customEvents` JSON.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Catalog {
    custom_event_list: Vec<CatalogEntry>,
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
    channel_total: BTreeMap<&'static str, u64>,
    histories: Vec<History>,
    total: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct History {
    platform_count: BTreeMap<&'static str, u64>,
    platform_total: u64,
    /// Epoch milliseconds of the period start, as a string.
    date_time: String,
}

impl Histogram {
    /// The answer for a bot without events.
    pub(crate) fn empty(name: &str) -> Self {
        Histogram {
            custom_event_name: name.to_owned(),
            channel_total: BTreeMap::new(),
            histories: Vec::new(),
            total: 0,
        }
    }
}

/// Counts of `filter.event_name` per period whose start lies in the window, oldest period first,
/// periods without events left out.
pub(crate) fn histogram(data: &Dataset<'_>, window: &Window, interval: Interval, filter: &Filter) -> Histogram {
    let name = filter.event_name.clone().unwrap_or_default();
    let mut periods: BTreeMap<DateTime<Utc>, [u64; PLATFORMS.len()]> = BTreeMap::new();
    for event in period_events(data, window, interval, filter) {
        if let Some(platform) = platform_index(&event.platform) {
            periods.entry(interval.period_start(event.event_time)).or_insert([0; PLATFORMS.len()])[platform] += 1;
        }
    }
    let mut totals = [0u64; PLATFORMS.len()];
    for counts in periods.values() {
        for (total, count) in totals.iter_mut().zip(counts) {
            *total += count;
        }
    }
    let listed = |counts: &[u64; PLATFORMS.len()]| -> BTreeMap<&'static str, u64> {
        let mut map: BTreeMap<&'static str, u64> = HISTOGRAM_PLATFORMS.iter().map(|p| (*p, 0)).collect();
        for (p, platform) in PLATFORMS.iter().enumerate() {
            if totals[p] > 0 || map.contains_key(platform) {
                map.insert(platform, counts[p]);
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
                platform_total: counts.iter().sum(),
                date_time: period.timestamp_millis().to_string(),
            })
            .collect(),
        total: totals.iter().sum(),
    }
}

/// The filtered events of the periods whose start lies in the window.
fn period_events<'d>(
    data: &'d Dataset<'d>,
    window: &'d Window,
    interval: Interval,
    filter: &'d Filter,
) -> impl Iterator<Item = SimEvent> + 'd {
    window
        .days_newest_first()
        .filter(move |day| day_may_hold_periods(*day, window))
        .flat_map(move |day| data.day(day))
        .filter(move |event| filter.matches(event) && window.has_period(interval.period_start(event.event_time)))
}

/// Whether any period (day or hour) of `day` can start in `[start, end)`.
fn day_may_hold_periods(day: NaiveDate, window: &Window) -> bool {
    let midnight = day.and_time(NaiveTime::MIN).and_utc();
    midnight < window.end && midnight + Duration::days(1) > window.start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::SimConfig;
    use crate::simulate::data::detail_events;

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

    #[test]
    fn totals_count_the_detail_events() {
        let config = SimConfig::default();
        let bot = config.bot("bot-support").unwrap();
        let data = Dataset::new(&config, bot, at(NOW));
        let window = Window { start: at("2024-05-16T00:00:00Z"), end: at("2024-05-19T00:00:00Z") };
        for interval in [Interval::Daily, Interval::Hourly] {
            let rows = totals(&data, &window, interval, &Filter::default());
            let mut expected: HashMap<(DateTime<Utc>, String, String, String), u64> = HashMap::new();
            for day in ["2024-05-16", "2024-05-17", "2024-05-18"] {
                for e in detail_events(&config, "bot-support", day.parse().unwrap()) {
                    let key = (
                        interval.period_start(e.event_time),
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
        let body = collect(|out| detail(&data, &window, &Filter::default(), usize::MAX, out));
        let day = detail_events(&config, "bot-support", "2024-05-17".parse().unwrap());
        let next = detail_events(&config, "bot-support", "2024-05-18".parse().unwrap());
        let midnight_rows = next.iter().filter(|e| e.event_time == window.end).count();
        assert!(midnight_rows >= 1);
        assert_eq!(body.matches("\n\n\"").count(), day.len() + midnight_rows);
        let capped = collect(|out| detail(&data, &window, &Filter::default(), 10, out));
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
        let body = collect(|out| detail(&early, &window, &Filter::default(), usize::MAX, out));
        assert_eq!(body, format!("{}\n", csv::DETAIL_HEADER));
        let rows = totals(&early, &window, Interval::Daily, &Filter::default());
        assert!(rows.is_empty());
        let body = collect(|out| totals_csv(&rows, Interval::Daily, out));
        assert_eq!(body, "Event Name,Event Detail,Event total,Date\n");
    }

    #[test]
    fn catalog_and_histogram_agree_with_totals() {
        let config = SimConfig::default();
        let bot = config.bot("bot-sales").unwrap();
        let data = Dataset::new(&config, bot, at(NOW));
        let window = Window { start: at("2024-05-12T00:00:00Z"), end: at("2024-05-19T00:00:00Z") };
        let rows = totals(&data, &window, Interval::Hourly, &Filter::default());
        let catalog = catalog(&data, &window);
        assert!(catalog.custom_event_list.iter().any(|e| e.has_childrens));
        for entry in &catalog.custom_event_list {
            let filter = Filter { event_name: Some(entry.name.clone()), platform: None };
            let hist = histogram(&data, &window, Interval::Hourly, &filter);
            let expected: u64 = rows.iter().filter(|r| r.name == entry.name).map(TotalRow::total).sum();
            assert_eq!(hist.total, expected);
            assert_eq!(hist.histories.iter().map(|h| h.platform_total).sum::<u64>(), expected);
            assert!(hist.channel_total.contains_key("TWITTER"));
        }
        let json = serde_json::to_value(histogram(
            &data,
            &window,
            Interval::Daily,
            &Filter { event_name: Some("UserInput".into()), platform: None },
        ))
        .unwrap();
        assert!(json["histories"][0]["dateTime"].as_str().unwrap().parse::<i64>().is_ok());
        assert!(json["channelTotal"]["HTMLCLIENT"].as_u64().unwrap() > 0);
    }
}
