//! The warnings of a run: what it kept, skipped or doubts, without failing.
//!
//! In: what the export (or the conversion of files) noticed, as data. Out: the text of each
//! warning (the summary lists each once) and its kind (counted in the summary, and a field of
//! the log line).

use chrono::NaiveDate;

use crate::convert::DecodeStats;
use crate::fetch::FetchError;
use crate::plan::Window;
use crate::schema::Table;
use crate::stream::Interval;

/// One warning: one variant per kind, with its facts as data.
#[derive(Debug)]
pub enum Warning {
    /// Days fell out of the API's retention before they were exported.
    DaysLost {
        /// The bot.
        bot: String,
        /// The days lost.
        lost: Window,
        /// The API's retention, in days.
        retention_days: u32,
        /// Whether they fell out during the run (rather than before it began).
        during_run: bool,
    },
    /// The files an interrupted run left behind cannot be removed.
    Leftovers {
        /// The bot, for an export (a conversion of files names none).
        bot: Option<String>,
        /// Why.
        error: std::io::Error,
    },
    /// The API refused a multi-day request with 400: the window is fetched day by day.
    SplitByDay {
        /// The bot.
        bot: String,
        /// The window.
        window: Window,
    },
    /// The catalog lists an event with a blank name, which cannot be asked for.
    BlankEventName {
        /// The bot.
        bot: String,
        /// The window.
        window: Window,
    },
    /// A day's detail rows differ from the events the total stream counts.
    DetailCount {
        /// The bot.
        bot: String,
        /// The day.
        day: NaiveDate,
        /// Detail rows.
        got: u64,
        /// Events counted by the totals.
        want: u64,
    },
    /// Aggregate rows in buckets that do not start on a UTC day or hour.
    UnalignedBuckets {
        /// The bot.
        bot: String,
        /// The window.
        window: Window,
        /// The table of the rows.
        table: Table,
        /// The rows.
        rows: u64,
        /// The bucket size asked for.
        interval: Interval,
    },
    /// A platform value the vendor does not document, kept as it is.
    UnknownPlatform {
        /// The table.
        table: Table,
        /// The value.
        platform: String,
    },
    /// A CSV column the table does not have, ignored.
    IgnoredColumn {
        /// The table.
        table: Table,
        /// The column.
        column: String,
    },
    /// Aggregate rows whose total differs from the sum of their platform counts.
    TotalMismatches {
        /// The bot and window, for an export (a conversion of files names neither).
        place: Option<(String, Window)>,
        /// The table of the rows (the histogram's periods, or the totals rows).
        table: Table,
        /// The rows.
        rows: u64,
    },
    /// An input file without even a CSV header, taken as no rows.
    EmptyInput {
        /// The file (`-`: standard input).
        input: String,
    },
    /// The histogram of one event was refused, and taken as empty.
    HistogramRefused {
        /// The bot.
        bot: String,
        /// The window.
        window: Window,
        /// The event name.
        event: String,
        /// The refusal.
        error: FetchError,
    },
}

impl Warning {
    /// What the counters of decoding `table` warn about, the same for an export (`place`: its
    /// bot and window) and a conversion of files: platforms the vendor does not document, CSV
    /// columns ignored, and totals that differ from the sum of their platform counts.
    pub(crate) fn of_stats(table: Table, st: &DecodeStats, place: Option<(&str, Window)>) -> Vec<Warning> {
        let platforms = st.unknown_platforms.iter().map(|p| Warning::UnknownPlatform { table, platform: p.clone() });
        let columns = st.ignored_columns.iter().map(|c| Warning::IgnoredColumn { table, column: c.clone() });
        let mismatches = (st.total_mismatches > 0).then(|| Warning::TotalMismatches {
            place: place.map(|(bot, window)| (bot.to_string(), window)),
            table,
            rows: st.total_mismatches,
        });
        platforms.chain(columns).chain(mismatches).collect()
    }

    /// The kind, as counted in the summary's `warnings_by_kind` and logged.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::DaysLost { .. } => "days_lost",
            Warning::Leftovers { .. } => "leftovers",
            Warning::SplitByDay { .. } => "split_by_day",
            Warning::BlankEventName { .. } => "blank_event_name",
            Warning::DetailCount { .. } => "detail_count",
            Warning::UnalignedBuckets { .. } => "unaligned_buckets",
            Warning::UnknownPlatform { .. } => "unknown_platform",
            Warning::IgnoredColumn { .. } => "ignored_column",
            Warning::TotalMismatches { .. } => "total_mismatches",
            Warning::EmptyInput { .. } => "empty_input",
            Warning::HistogramRefused { .. } => "histogram_refused",
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::DaysLost { bot, lost, retention_days, during_run } => write!(
                f,
                "bot {bot}: {} days ({lost}) fell out of the API's {retention_days}-day retention {}before they were exported",
                lost.len_days(),
                if *during_run { "during the run, " } else { "" }
            ),
            Warning::Leftovers { bot, error } => {
                if let Some(bot) = bot {
                    write!(f, "bot {bot}: ")?;
                }
                write!(f, "cannot remove the files an interrupted run left behind: {error}")
            }
            Warning::SplitByDay { bot, window } => write!(
                f,
                "bot {bot} window {window}: the API refused the {}-day request (400); fetching it day by day",
                window.len_days()
            ),
            Warning::BlankEventName { bot, window } => write!(
                f,
                "bot {bot} window {window}: the catalog lists an event whose name is blank; its histogram is skipped"
            ),
            Warning::DetailCount { bot, day, got, want } => {
                write!(f, "bot {bot} {day}: {got} detail rows but the total stream counts {want} events")
            }
            Warning::UnalignedBuckets { bot, window, table, rows, interval } => write!(
                f,
                "bot {bot} window {window}: {rows} {table} rows are in buckets that do not start on a UTC {} (the API's periods are another time zone's); kept whole at their own start, and the details are not checked against these totals",
                match interval {
                    Interval::Daily => "day",
                    Interval::Hourly => "hour",
                }
            ),
            Warning::UnknownPlatform { table, platform } => {
                write!(f, "{table}: unknown platform {platform:?} kept as is")
            }
            Warning::IgnoredColumn { table, column } => write!(f, "{table}: unknown CSV column {column:?} ignored"),
            Warning::TotalMismatches { place, table, rows } => {
                if let Some((bot, window)) = place {
                    write!(f, "bot {bot} window {window}: ")?;
                }
                let what = match table {
                    Table::Histogram => {
                        "histogram periods (or totals) that differ from the sum of their platform counts"
                    }
                    _ => "totals rows whose Event total differs from the sum of their platform columns",
                };
                write!(f, "{rows} {what}")
            }
            Warning::EmptyInput { input } => write!(f, "{input}: empty (no CSV header); taken as no rows"),
            Warning::HistogramRefused { bot, window, event, error } => write!(
                f,
                "bot {bot} window {window}: no histogram for event {event:?}, taken as empty: {}",
                crate::error::Report(error)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind reads exactly as the `format!` it replaces did: the summary's lines, and the
    /// tests of bad input, compare them byte for byte.
    #[test]
    fn each_warning_reads_as_before() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let window = Window { start: day(20), end: day(23) };
        let bot = || "bot-1".to_string();
        let refused = FetchError::Status {
            target: crate::fetch::Target { endpoint: crate::fetch::Endpoint::Histogram, scope: "bot bot-1".into() },
            status: 404,
            correlation: crate::fetch::CorrelationId(Some("c-1".into())),
            retry_after: None,
        };
        let cases: Vec<(Warning, &str, String)> = vec![
            (
                Warning::DaysLost { bot: bot(), lost: window, retention_days: 30, during_run: false },
                "days_lost",
                "bot bot-1: 3 days (2026-11-20..2026-11-23) fell out of the API's 30-day retention before they were exported"
                    .into(),
            ),
            (
                Warning::DaysLost { bot: bot(), lost: window, retention_days: 30, during_run: true },
                "days_lost",
                "bot bot-1: 3 days (2026-11-20..2026-11-23) fell out of the API's 30-day retention during the run, before they were exported"
                    .into(),
            ),
            (
                Warning::Leftovers { bot: Some(bot()), error: std::io::Error::other("denied") },
                "leftovers",
                "bot bot-1: cannot remove the files an interrupted run left behind: denied".into(),
            ),
            (
                Warning::Leftovers { bot: None, error: std::io::Error::other("denied") },
                "leftovers",
                "cannot remove the files an interrupted run left behind: denied".into(),
            ),
            (
                Warning::SplitByDay { bot: bot(), window },
                "split_by_day",
                "bot bot-1 window 2026-11-20..2026-11-23: the API refused the 3-day request (400); fetching it day by day"
                    .into(),
            ),
            (
                Warning::BlankEventName { bot: bot(), window },
                "blank_event_name",
                "bot bot-1 window 2026-11-20..2026-11-23: the catalog lists an event whose name is blank; its histogram is skipped"
                    .into(),
            ),
            (
                Warning::DetailCount { bot: bot(), day: day(21), got: 7, want: 9 },
                "detail_count",
                "bot bot-1 2026-11-21: 7 detail rows but the total stream counts 9 events".into(),
            ),
            (
                Warning::UnalignedBuckets {
                    bot: bot(),
                    window,
                    table: Table::Total,
                    rows: 4,
                    interval: Interval::Daily,
                },
                "unaligned_buckets",
                "bot bot-1 window 2026-11-20..2026-11-23: 4 custom_event_total rows are in buckets that do not start on a UTC day (the API's periods are another time zone's); kept whole at their own start, and the details are not checked against these totals"
                    .into(),
            ),
            (
                Warning::UnalignedBuckets {
                    bot: bot(),
                    window,
                    table: Table::Histogram,
                    rows: 2,
                    interval: Interval::Hourly,
                },
                "unaligned_buckets",
                "bot bot-1 window 2026-11-20..2026-11-23: 2 custom_event_histogram rows are in buckets that do not start on a UTC hour (the API's periods are another time zone's); kept whole at their own start, and the details are not checked against these totals"
                    .into(),
            ),
            (
                Warning::UnknownPlatform { table: Table::Detail, platform: "CARRIER_PIGEON".into() },
                "unknown_platform",
                r#"custom_event_detail: unknown platform "CARRIER_PIGEON" kept as is"#.into(),
            ),
            (
                Warning::IgnoredColumn { table: Table::Total, column: "extra".into() },
                "ignored_column",
                r#"custom_event_total: unknown CSV column "extra" ignored"#.into(),
            ),
            (
                Warning::TotalMismatches { place: Some((bot(), window)), table: Table::Histogram, rows: 5 },
                "total_mismatches",
                "bot bot-1 window 2026-11-20..2026-11-23: 5 histogram periods (or totals) that differ from the sum of their platform counts"
                    .into(),
            ),
            (
                Warning::TotalMismatches { place: Some((bot(), window)), table: Table::Total, rows: 1 },
                "total_mismatches",
                "bot bot-1 window 2026-11-20..2026-11-23: 1 totals rows whose Event total differs from the sum of their platform columns"
                    .into(),
            ),
            (
                Warning::TotalMismatches { place: None, table: Table::Total, rows: 2 },
                "total_mismatches",
                "2 totals rows whose Event total differs from the sum of their platform columns".into(),
            ),
            (
                Warning::EmptyInput { input: "18-detail-empty.csv".into() },
                "empty_input",
                "18-detail-empty.csv: empty (no CSV header); taken as no rows".into(),
            ),
            (
                Warning::HistogramRefused { bot: bot(), window, event: "a \"b\"".into(), error: refused },
                "histogram_refused",
                r#"bot bot-1 window 2026-11-20..2026-11-23: no histogram for event "a \"b\"", taken as empty: customEvents/histogram (bot bot-1): HTTP 404, correlationId c-1 (not found: check the account and bot ids)"#
                    .into(),
            ),
        ];
        for (w, kind, text) in &cases {
            assert_eq!(w.to_string(), *text, "{w:?}");
            assert_eq!(w.kind(), *kind, "{w:?}");
        }
    }
}
