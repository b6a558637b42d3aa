//! The shared vocabulary of the pipeline: the API's data [`Stream`]s and the [`Interval`] of the
//! bucketed ones.
//!
//! In: names from flags, config files and state. Out: the enums every stage speaks. Depends on
//! [`crate::schema`] only, so that `plan`, `fetch`, `convert`, `export` and `ops` can all name them
//! without importing each other.

use crate::schema::Table;

/// The data streams of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    /// `customEventDetail` → `custom_event_detail`.
    Detail,
    /// `customEventTotal` → `custom_event_total`.
    Total,
    /// `customEvents` (JSON) → `custom_event_catalog`: the event names of each window.
    Catalog,
    /// `customEvents/…/histogram` (JSON) → `custom_event_histogram`: one request per event name
    /// of the window's catalog (fetched for it even when `catalog` is not exported).
    Histogram,
}

impl Stream {
    /// The order in which an export fetches a window's streams: totals first (they settle the
    /// `interval` spelling and tell how to split the details), details, then the catalog, whose
    /// names the histograms need.
    pub const FETCH_ORDER: [Stream; 4] = [Stream::Total, Stream::Detail, Stream::Catalog, Stream::Histogram];

    /// The stream's place in [`Stream::FETCH_ORDER`].
    pub fn fetch_rank(self) -> usize {
        Stream::FETCH_ORDER.iter().position(|s| *s == self).unwrap_or(Stream::FETCH_ORDER.len())
    }

    /// The stream's name (`--streams`, state cursors).
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Detail => "detail",
            Stream::Total => "total",
            Stream::Catalog => "catalog",
            Stream::Histogram => "histogram",
        }
    }

    /// The table the stream fills.
    pub fn table(self) -> Table {
        match self {
            Stream::Detail => Table::Detail,
            Stream::Total => Table::Total,
            Stream::Catalog => Table::Catalog,
            Stream::Histogram => Table::Histogram,
        }
    }
}

impl std::str::FromStr for Stream {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "detail" => Ok(Stream::Detail),
            "total" => Ok(Stream::Total),
            "catalog" => Ok(Stream::Catalog),
            "histogram" => Ok(Stream::Histogram),
            other => Err(format!("unknown stream {other:?} (expected detail, total, catalog or histogram)")),
        }
    }
}

/// Granularity of the `total` and `histogram` streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Interval {
    /// One row per day.
    #[default]
    Daily,
    /// One row per hour.
    Hourly,
}

impl Interval {
    /// The value of the `interval` column and of the API's `interval` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Daily => "daily",
            Interval::Hourly => "hourly",
        }
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "daily" => Ok(Interval::Daily),
            "hourly" => Ok(Interval::Hourly),
            other => Err(format!("unknown interval {other:?} (expected daily or hourly)")),
        }
    }
}
