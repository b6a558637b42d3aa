//! Conversion: CSV bytes of the API (or of a file) → Arrow [`RecordBatch`]es of the fixed schemas.
//!
//! In: a response body in chunks of any size, pushed as they arrive. Out: batches of at most
//! [`DecodeOptions::batch_size`] rows, plus the rows rejected (with line, column and reason) and
//! counters. The decoders are plain synchronous code with no I/O: memory is one partial record
//! plus one batch under construction, whatever the body size. Rows outside the requested time
//! range are dropped and counted, so a row at a window boundary lands in exactly one window.
//!
//! * [`DetailDecoder`] — `customEventDetail` → `custom_event_detail`
//! * [`TotalDecoder`] — `customEventTotal` → `custom_event_total` (pivoted to long form)
//! * [`CatalogDecoder`] — `customEvents` JSON → `custom_event_catalog`
//! * [`HistogramDecoder`] — `customEvents/…/histogram` JSON → `custom_event_histogram`
//!
//! The JSON answers are small and parsed whole at the end of the body, capped at
//! [`DEFAULT_MAX_JSON_BYTES`].

mod catalog;
mod detail;
mod histogram;
mod json;
mod parallel;
mod records;
mod sniff;
pub mod time;
mod total;

use std::collections::BTreeSet;

use arrow_array::{RecordBatch, StringArray};
use arrow_buffer::{Buffer, OffsetBuffer};

pub use catalog::CatalogDecoder;
pub use detail::DetailDecoder;
pub use histogram::HistogramDecoder;
pub use json::DEFAULT_MAX_JSON_BYTES;
pub use parallel::ParallelDetailDecoder;
pub use records::{DEFAULT_MAX_RECORD_BYTES, Record, RecordReader};
pub use total::TotalDecoder;

use crate::stream::Interval;

/// Default rows per batch handed to the writer.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// Longest excerpt of a rejected record kept in the rejects file.
pub const REJECT_EXCERPT_BYTES: usize = 4096;

/// Rejected rows kept in memory per body; later ones are only counted.
pub const MAX_REJECTS_KEPT: usize = 10_000;

/// The platform values the vendor documents. Others are kept as they are, and warned about.
pub const KNOWN_PLATFORMS: &[&str] = &[
    "FACEBOOK",
    "KIK",
    "TELEGRAM",
    "HTMLCLIENT",
    "SMS",
    "INAPP",
    "INAPP_IOS",
    "INAPP_ANDROID",
    "SMS_TWILIO",
    "WHATSAPP",
    "RCS",
    "ABC",
    "VIBER",
    "LINE",
    "TWITTER",
    "VOICE",
];

/// What every row of one body shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowContext {
    /// Account (brand) id of the request.
    pub account: String,
    /// Bot id of the request.
    pub bot: String,
}

/// Decoder settings.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Rows per output batch.
    pub batch_size: usize,
    /// Keep only detail rows whose time lies in `[start, end)` µs, and aggregate buckets that
    /// overlap it ([`DecodeOptions::bucket`]); `None` keeps all (offline convert).
    pub keep_range: Option<(i64, i64)>,
    /// Cap on the bytes of one record.
    pub max_record_bytes: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { batch_size: DEFAULT_BATCH_SIZE, keep_range: None, max_record_bytes: DEFAULT_MAX_RECORD_BYTES }
    }
}

/// Where an aggregate bucket (a totals row, a histogram period) lies against the requested range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// A UTC day or hour inside the range (or no range is set).
    Inside,
    /// Kept, but it does not start on a UTC day or hour: the server's buckets are in another
    /// time zone. A daily one that overlaps the range may start the day before it.
    Unaligned,
    /// It does not overlap the range, or it is an hourly bucket that starts before the range (the
    /// request of the range before holds it whole): dropped and counted.
    Outside,
}

impl DecodeOptions {
    /// Where the bucket of `interval` that starts at `start` (µs) lies. Only detail rows are cut
    /// at the range's edges; an aggregate bucket that overlaps the range is kept whole.
    pub fn bucket(&self, start: i64, interval: Interval) -> Bucket {
        let len = match interval {
            Interval::Daily => time::MICROS_PER_DAY,
            Interval::Hourly => time::MICROS_PER_HOUR,
        };
        if let Some((lo, hi)) = self.keep_range {
            let overlaps = start < hi && start.saturating_add(len) > lo;
            if !overlaps || (start < lo && interval == Interval::Hourly) {
                return Bucket::Outside;
            }
        }
        if start.rem_euclid(len) == 0 { Bucket::Inside } else { Bucket::Unaligned }
    }
}

/// A row that could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reject {
    /// Line (1-based) where the record starts.
    pub line: u64,
    /// 1-based column of the offending field, when one field is to blame.
    pub column: Option<usize>,
    /// Name of that column in the header.
    pub column_name: Option<String>,
    /// Why it was rejected.
    pub reason: String,
    /// The record (lossily decoded, truncated to [`REJECT_EXCERPT_BYTES`]).
    pub record: String,
}

impl Reject {
    /// Where the row is: `line N`, with `, column C (name)` when one field is to blame.
    pub fn place(&self) -> String {
        match (self.column, &self.column_name) {
            (Some(c), Some(name)) => format!("line {}, column {c} ({name})", self.line),
            (Some(c), None) => format!("line {}, column {c}", self.line),
            _ => format!("line {}", self.line),
        }
    }
}

/// Counters of one body.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecodeStats {
    /// CSV records read (excluding the header).
    pub records: u64,
    /// Rows emitted.
    pub rows: u64,
    /// Rows dropped because their time lies outside the requested range.
    pub outside_window: u64,
    /// Rows rejected (all of them, even past [`MAX_REJECTS_KEPT`]).
    pub rejected: u64,
    /// Platform values (or platform columns) not in [`KNOWN_PLATFORMS`].
    pub unknown_platforms: BTreeSet<String>,
    /// Header columns that were ignored.
    pub ignored_columns: BTreeSet<String>,
    /// Totals rows whose `Event total` differs from the sum of their platform columns.
    pub total_mismatches: u64,
    /// Aggregate buckets kept that do not start on a UTC day or hour (see [`Bucket::Unaligned`]).
    pub unaligned_buckets: u64,
    /// The body was empty (not even a header, or no JSON).
    pub empty_body: bool,
    /// The body was the vendor's "empty list" for no events: `[]`, `{}` or `null` (or, for the
    /// JSON endpoints, an object without the list).
    pub empty_list: bool,
}

impl DecodeStats {
    /// Adds the counters of another body (or piece of one).
    pub fn add(&mut self, s: &DecodeStats) {
        self.records += s.records;
        self.rows += s.rows;
        self.outside_window += s.outside_window;
        self.rejected += s.rejected;
        self.total_mismatches += s.total_mismatches;
        self.unaligned_buckets += s.unaligned_buckets;
        self.empty_body |= s.empty_body;
        self.empty_list |= s.empty_list;
        self.unknown_platforms.extend(s.unknown_platforms.iter().cloned());
        self.ignored_columns.extend(s.ignored_columns.iter().cloned());
    }
}

/// A body that cannot be converted at all.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The body is not CSV at all: it starts like an HTML page, JSON, gzip data … (see `sniff`).
    #[error("line {line}: not CSV, looks like {looks_like}: starts with {start}")]
    WrongFormat {
        /// Line where the content starts.
        line: u64,
        /// What it looks like, e.g. `an HTML page`.
        looks_like: &'static str,
        /// Its first line quoted, or its first bytes in hex.
        start: String,
    },
    /// The first line is CSV, but not the expected header.
    #[error("line 1: not a {table} CSV header: expected columns {expected}, found {found:?}")]
    NotCsv {
        /// The table being decoded.
        table: &'static str,
        /// The expected header.
        expected: &'static str,
        /// The start of what was found instead.
        found: String,
    },
    /// A required column is missing from the header.
    #[error("line 1, header: missing required column {column:?} (header: {header:?})")]
    MissingColumn {
        /// The missing column.
        column: &'static str,
        /// The header as found.
        header: String,
    },
    /// A column appears twice in the header.
    #[error("line 1, column {column}: duplicate header column {name:?}")]
    DuplicateColumn {
        /// 1-based position of the second occurrence.
        column: usize,
        /// The column name.
        name: String,
    },
    /// One record is larger than the cap.
    #[error("line {line}: record longer than {limit} bytes (unterminated quote?)")]
    RecordTooLong {
        /// Line where the record starts.
        line: u64,
        /// The cap.
        limit: usize,
    },
    /// The input ends inside a quoted field, which has swallowed every record after its start.
    #[error("line {line}, column {column}: quoted field not closed at the end of the input")]
    UnterminatedQuote {
        /// Line where the record starts.
        line: u64,
        /// 1-based column of the open field.
        column: usize,
    },
    /// One record has more fields than the cap.
    #[error("line {line}: record has more than {limit} fields")]
    TooManyFields {
        /// Line where the record starts.
        line: u64,
        /// The cap.
        limit: usize,
    },
    /// More distinct platform values than the dictionary type holds.
    #[error("line {line}, column {column}: more distinct platform values than a Dictionary(Int16) holds")]
    DictionaryFull {
        /// Line of the record.
        line: u64,
        /// 1-based column.
        column: usize,
    },
    /// A JSON answer (`customEvents`, `histogram`) that is not the documented shape.
    #[error("{endpoint} answer: {reason}")]
    BadJson {
        /// The endpoint whose answer it is.
        endpoint: &'static str,
        /// What is wrong, and where (a path such as `histories[2].dateTime`).
        reason: String,
    },
    /// A JSON answer larger than the cap (it is parsed whole, so it must fit in memory).
    #[error("{endpoint} answer longer than {limit} bytes; refusing to buffer more")]
    JsonTooLarge {
        /// The endpoint whose answer it is.
        endpoint: &'static str,
        /// The cap.
        limit: usize,
    },
    /// Arrow refused to build a batch (a bug: the decoders build only valid columns).
    #[error("building a record batch")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A column of one value repeated on every row is too long for its offsets.
    #[error("building a record batch: column {column}: {rows} rows of a {bytes}-byte value")]
    RepeatedValue {
        /// The column.
        column: &'static str,
        /// Rows.
        rows: usize,
        /// Bytes of the value.
        bytes: usize,
        /// Why.
        #[source]
        source: arrow_buffer::OverflowError,
    },
}

/// Two errors are equal when they are of one kind and read the same, causes included: Arrow's
/// errors, kept as sources, have no equality of their own, and every other field is in the text.
impl PartialEq for ConvertError {
    fn eq(&self, other: &Self) -> bool {
        fn chain(e: &ConvertError) -> impl Iterator<Item = String> + '_ {
            std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source()).map(ToString::to_string)
        }
        std::mem::discriminant(self) == std::mem::discriminant(other) && chain(self).eq(chain(other))
    }
}

impl Eq for ConvertError {}

impl ConvertError {
    /// The same error with its line moved down by `lines`: for an error found in a piece of a
    /// body decoded on its own, whose lines count from the piece's start.
    fn shift_lines(mut self, lines: u64) -> ConvertError {
        match &mut self {
            ConvertError::WrongFormat { line, .. }
            | ConvertError::RecordTooLong { line, .. }
            | ConvertError::UnterminatedQuote { line, .. }
            | ConvertError::TooManyFields { line, .. }
            | ConvertError::DictionaryFull { line, .. } => *line += lines,
            ConvertError::NotCsv { .. }
            | ConvertError::MissingColumn { .. }
            | ConvertError::DuplicateColumn { .. }
            | ConvertError::BadJson { .. }
            | ConvertError::JsonTooLarge { .. }
            | ConvertError::Arrow(_)
            | ConvertError::RepeatedValue { .. } => {}
        }
        self
    }
}

/// A push decoder of one CSV body. Feed any slices with [`push`](BodyDecoder::push), take full
/// batches with [`next_batch`](BodyDecoder::next_batch), and end with
/// [`finish`](BodyDecoder::finish).
pub trait BodyDecoder: Send {
    /// Feeds the next bytes of the body.
    fn push(&mut self, data: &[u8]) -> Result<(), ConvertError>;
    /// A full batch, if one is ready.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConvertError>;
    /// Ends the body; returns the last, partial batch.
    fn finish(&mut self) -> Result<Option<RecordBatch>, ConvertError>;
    /// Counters so far.
    fn stats(&self) -> &DecodeStats;
    /// Rejected rows so far (at most [`MAX_REJECTS_KEPT`]).
    fn take_rejects(&mut self) -> Vec<Reject>;
    /// The event names a catalog body listed, in its order (empty for every other body): the
    /// histogram stream asks for each of them.
    fn event_names(&self) -> &[String] {
        &[]
    }
}

/// Decodes a whole body given as `chunks` the way the export pipeline does — push a chunk, take
/// the ready batches; at the end finish and take the rest — appending the batches to `out`. On an
/// error, `out` keeps the batches built before it. For tests, fuzzing and small in-memory bodies;
/// exports stream through their pipeline instead.
pub fn decode_chunks<'a>(
    dec: &mut dyn BodyDecoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    out: &mut Vec<RecordBatch>,
) -> Result<(), ConvertError> {
    for chunk in chunks {
        dec.push(chunk)?;
        while let Some(b) = dec.next_batch()? {
            out.push(b);
        }
    }
    if let Some(b) = dec.finish()? {
        out.push(b);
    }
    while let Some(b) = dec.next_batch()? {
        out.push(b);
    }
    Ok(())
}

/// Decodes a field as text, or says why not: it is not UTF-8, or holds a NUL byte (which no
/// vendor field holds, and which many readers of the tables choke on). Positions are 1-based
/// bytes of the field.
fn text(field: &[u8]) -> Result<&str, String> {
    let s = std::str::from_utf8(field).map_err(|e| {
        let at = e.valid_up_to();
        format!("invalid UTF-8: byte 0x{:02x} at byte {} of the field", field[at], at + 1)
    })?;
    match memchr::memchr(0, field) {
        Some(at) => Err(format!("NUL byte at byte {} of the field", at + 1)),
        None => Ok(s),
    }
}

/// A field of a piece of input that [`valid_text`] accepted as a whole. Every field is such a
/// piece with quote characters taken out, cut at commas and line breaks: all ASCII bytes, which
/// never occur inside a multi-byte UTF-8 sequence, so the field is valid UTF-8 as well.
fn trusted_text(field: &[u8]) -> &str {
    debug_assert!(text(field).is_ok());
    // SAFETY: see above; `valid_text` checked the bytes the field was cut from.
    unsafe { std::str::from_utf8_unchecked(field) }
}

/// Whether `piece` is valid UTF-8 without a NUL byte, so that [`trusted_text`] may take its fields.
fn valid_text(piece: &[u8]) -> bool {
    simdutf8::basic::from_utf8(piece).is_ok() && memchr::memchr(0, piece).is_none()
}

/// Column `column` of `n` rows that all hold `value` (the request's account and bot, a
/// histogram's event name): the value repeated in one buffer and offsets of a fixed step, instead
/// of `n` appends. Offsets past `i32` are an error that names the column.
fn repeated_text(column: &'static str, value: &str, n: usize) -> Result<StringArray, ConvertError> {
    let offsets = OffsetBuffer::<i32>::try_from_repeated_length(value.len(), n)
        .map_err(|source| ConvertError::RepeatedValue { column, rows: n, bytes: value.len(), source })?;
    Ok(StringArray::new(offsets, Buffer::from_vec(value.as_bytes().repeat(n)), None))
}

/// Records a rejected row.
fn reject(
    stats: &mut DecodeStats,
    rejects: &mut Vec<Reject>,
    rec: &Record<'_>,
    column: Option<(usize, &str)>,
    reason: String,
) {
    stats.rejected += 1;
    if rejects.len() < MAX_REJECTS_KEPT {
        rejects.push(Reject {
            line: rec.line,
            column: column.map(|c| c.0 + 1),
            column_name: column.map(|c| c.1.to_string()),
            reason,
            record: rec.display(REJECT_EXCERPT_BYTES),
        });
    }
}

/// The first bytes of a body, for an error message.
fn excerpt(rec: &Record<'_>) -> String {
    rec.display(120)
}

#[cfg(test)]
mod tests;
