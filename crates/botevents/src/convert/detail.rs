//! `customEventDetail` CSV → `custom_event_detail` batches.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arrow_array::builder::{Int16Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int16Type;
use arrow_array::{ArrayRef, DictionaryArray, Int16Array, RecordBatch, StringArray};

use super::records::{Record, RecordReader};
use super::{
    BodyDecoder, ConvertError, DecodeOptions, DecodeStats, KNOWN_PLATFORMS, Reject, RowContext, excerpt, reject,
    repeated_text, text, time, trusted_text,
};
use crate::schema::Table;

/// The vendor's header, in order.
pub const DETAIL_HEADER: &str =
    "eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle";

/// Source columns: (CSV name, required). Optional ones fill nullable table columns.
const COLUMNS: [(&str, bool); 7] = [
    ("eventName", true),
    ("platform", true),
    ("eventDetails", false),
    ("userText", false),
    ("eventCreationTime", true),
    ("conversationId", true),
    ("matchedTitle", false),
];
const EVENT_NAME: usize = 0;
const PLATFORM: usize = 1;
const EVENT_DETAILS: usize = 2;
const USER_TEXT: usize = 3;
const EVENT_TIME: usize = 4;
const CONVERSATION_ID: usize = 5;
const MATCHED_TITLE: usize = 6;

/// The table's string columns with values of their own (not the account and bot stamped on every
/// row): event name, details, user text, conversation id, matched title, in [`DecodedSizes`]'s order.
const SIZED_COLUMNS: [usize; 5] = [2, 4, 5, 7, 8];

/// What decoded detail rows take per byte of CSV: rows, and the text of [`SIZED_COLUMNS`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DecodedSizes {
    rows: f64,
    bytes: [f64; 5],
}

impl DecodedSizes {
    /// The sizes of `batches`, decoded from `input` bytes.
    pub(super) fn of(batches: &[RecordBatch], input: usize) -> DecodedSizes {
        let mut out = DecodedSizes::default();
        if input == 0 {
            return out;
        }
        for b in batches {
            out.rows += b.num_rows() as f64;
            for (total, col) in out.bytes.iter_mut().zip(SIZED_COLUMNS) {
                let offsets = b.column(col).as_string::<i32>().value_offsets();
                *total += (offsets[offsets.len() - 1] - offsets[0]) as f64;
            }
        }
        out.rows /= input as f64;
        out.bytes.iter_mut().for_each(|v| *v /= input as f64);
        out
    }
}

/// Push decoder of a `customEventDetail` body. Memory: one record plus one batch.
pub struct DetailDecoder {
    reader: RecordReader,
    state: State,
}

struct State {
    ctx: RowContext,
    opts: DecodeOptions,
    /// Position of each of [`COLUMNS`] in the header, once it has been read.
    map: Option<[Option<usize>; 7]>,
    names: Vec<String>,
    width: usize,
    event_name: StringBuilder,
    /// Each row's key into `platforms`.
    platform: Int16Builder,
    event_details: StringBuilder,
    user_text: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    conversation_id: StringBuilder,
    matched_title: StringBuilder,
    len: usize,
    ready: VecDeque<RecordBatch>,
    stats: DecodeStats,
    rejects: Vec<Reject>,
    /// Distinct platforms seen: the values of every batch's platform dictionary.
    platforms: Platforms,
    /// The platforms this decoder added to those it started with, each with the line where it
    /// was first seen: a body decoded in pieces counts its distinct platforms from them.
    new_platforms: Vec<(Box<str>, u64)>,
    times: time::TimestampParser,
    /// Whether the bytes are known to be UTF-8 without NULs (see [`DetailDecoder::trust_text`]).
    trusted: bool,
}

impl DetailDecoder {
    /// A decoder for one body whose rows all belong to `ctx`.
    pub fn new(ctx: RowContext, opts: DecodeOptions) -> DetailDecoder {
        let mut reader = RecordReader::new();
        reader.max_record_bytes = opts.max_record_bytes;
        DetailDecoder { reader, state: State::new(ctx, opts) }
    }

    /// A decoder that continues this one's body at the start of a record, after `lines` line
    /// breaks: it knows the header, and nothing else of what this one has decoded. For decoding
    /// pieces of one body at once (see [`super::parallel`]).
    pub(super) fn fork(&self, lines: u64) -> DetailDecoder {
        let reader = RecordReader::resume_at_record_start(lines, self.reader.max_record_bytes);
        let s = &self.state;
        let mut state = State::new(s.ctx.clone(), s.opts.clone());
        state.map = s.map;
        state.names.clone_from(&s.names);
        state.width = s.width;
        state.platforms.clone_from(&s.platforms);
        DetailDecoder { reader, state }
    }

    /// Reserves room in the builders for the rows of `input` bytes, as much as `sizes` says such
    /// input decodes to (with a margin), so that they need not grow as the rows come. Rows beyond
    /// the estimate still fit: the builders then grow as usual.
    pub(super) fn reserve(&mut self, input: usize, sizes: &DecodedSizes) {
        let s = &mut self.state;
        let est = |per_byte: f64| ((per_byte * input as f64 * 1.1) as usize + 64).min(input);
        let rows = est(sizes.rows).min(s.opts.batch_size);
        let strings = [
            (&mut s.event_name, sizes.bytes[0]),
            (&mut s.event_details, sizes.bytes[1]),
            (&mut s.user_text, sizes.bytes[2]),
            (&mut s.conversation_id, sizes.bytes[3]),
            (&mut s.matched_title, sizes.bytes[4]),
        ];
        for (b, per_byte) in strings {
            *b = StringBuilder::with_capacity(rows, est(per_byte));
        }
        s.platform = Int16Builder::with_capacity(rows);
        s.event_time = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
    }

    /// Whether the header has been read.
    pub(super) fn header_read(&self) -> bool {
        self.state.map.is_some()
    }

    /// Whether the bytes fed so far end with a whole record: see
    /// [`RecordReader::at_record_start`].
    pub(super) fn at_record_start(&self) -> bool {
        self.reader.at_record_start()
    }

    /// Line breaks consumed so far.
    pub(super) fn lines_consumed(&self) -> u64 {
        self.reader.lines_consumed()
    }

    /// Declares that every byte fed from now on is valid UTF-8 without a NUL, checked by the
    /// caller over a piece of whole records, so that fields need no check of their own.
    pub(super) fn trust_text(&mut self, trusted: bool) {
        self.state.trusted = trusted;
    }

    /// The rows decoded and not yet handed out in a batch, as one, without ending the body.
    pub(super) fn take_rows(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        let state = &mut self.state;
        if state.len == 0 {
            return Ok(None);
        }
        state.build().map(Some)
    }

    /// Ends a piece that ends with a whole record: its rows, in batches, with its counters and
    /// rejects. Unlike [`BodyDecoder::finish`], it does not end the body.
    pub(super) fn into_piece(mut self) -> Result<DecodedPiece, ConvertError> {
        if let Some(b) = self.take_rows()? {
            self.state.ready.push_back(b);
        }
        let State { ready, stats, rejects, new_platforms, .. } = self.state;
        Ok(DecodedPiece { batches: ready.into(), stats, rejects, new_platforms })
    }

    /// The platforms seen so far, in order of first sight.
    pub(super) fn platforms(&self) -> &Platforms {
        &self.state.platforms
    }

    /// Takes `platforms` as the platforms seen so far (those of the pieces of the same body
    /// decoded before this decoder's part).
    pub(super) fn see_platforms(&mut self, platforms: &Platforms) {
        self.state.platforms.clone_from(platforms);
    }

    /// The error of a body with more distinct platforms than the keys hold, at `line`.
    pub(super) fn dictionary_full(&self, line: u64) -> ConvertError {
        let column = self.state.map.and_then(|m| m[PLATFORM]).unwrap_or_default() + 1;
        ConvertError::DictionaryFull { line, column }
    }
}

/// What the decoder of one piece of a body gives: its rows, counts and rejects, and the platforms
/// it saw that its fork did not know, with the line (counted from the piece's start) of each.
pub(super) struct DecodedPiece {
    pub batches: Vec<RecordBatch>,
    pub stats: DecodeStats,
    pub rejects: Vec<Reject>,
    pub new_platforms: Vec<(Box<str>, u64)>,
}

impl BodyDecoder for DetailDecoder {
    fn push(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        let state = &mut self.state;
        self.reader.push(data, &mut |rec| state.on_record(rec))
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        Ok(self.state.ready.pop_front())
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        let state = &mut self.state;
        self.reader.finish(&mut |rec| state.on_record(rec))?;
        if state.map.is_none() {
            self.reader.flag_empty(&mut state.stats);
        }
        if state.len > 0 {
            let b = state.build()?;
            state.ready.push_back(b);
        }
        Ok(state.ready.pop_front())
    }

    fn stats(&self) -> &DecodeStats {
        &self.state.stats
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        std::mem::take(&mut self.state.rejects)
    }
}

impl State {
    fn new(ctx: RowContext, opts: DecodeOptions) -> State {
        State {
            ctx,
            opts,
            map: None,
            names: Vec::new(),
            width: 0,
            event_name: StringBuilder::new(),
            platform: Int16Builder::new(),
            event_details: StringBuilder::new(),
            user_text: StringBuilder::new(),
            event_time: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            conversation_id: StringBuilder::new(),
            matched_title: StringBuilder::new(),
            len: 0,
            ready: VecDeque::new(),
            stats: DecodeStats::default(),
            rejects: Vec::new(),
            platforms: Platforms::default(),
            new_platforms: Vec::new(),
            times: time::TimestampParser::default(),
            trusted: false,
        }
    }

    fn on_record(&mut self, rec: &Record<'_>) -> Result<(), ConvertError> {
        let Some(map) = self.map else {
            return self.read_header(rec);
        };
        self.stats.records += 1;
        if rec.len() != self.width {
            let reason = format!("expected {} fields, found {}", self.width, rec.len());
            reject(&mut self.stats, &mut self.rejects, rec, None, reason);
            return Ok(());
        }
        // Validate the whole row before appending anything, so the builders stay aligned.
        let mut vals: [&str; 7] = [""; 7];
        for (i, pos) in map.iter().enumerate() {
            if let Some(p) = *pos {
                let field = rec.get(p).map(|f| if self.trusted { Ok(trusted_text(f)) } else { text(f) });
                match field {
                    Some(Ok(s)) => vals[i] = s,
                    Some(Err(reason)) => {
                        let col = Some((p, self.names[p].as_str()));
                        reject(&mut self.stats, &mut self.rejects, rec, col, reason);
                        return Ok(());
                    }
                    None => {}
                }
            }
        }
        let Some(ts) = self.times.parse(vals[EVENT_TIME]) else {
            let p = map[EVENT_TIME].unwrap_or_default();
            let reason = format!("unparseable timestamp {:?}", truncate(vals[EVENT_TIME], 64));
            reject(&mut self.stats, &mut self.rejects, rec, Some((p, COLUMNS[EVENT_TIME].0)), reason);
            return Ok(());
        };
        if !time::in_range(ts) {
            let p = map[EVENT_TIME].unwrap_or_default();
            let reason =
                format!("timestamp out of range {:?} (accepted: {})", truncate(vals[EVENT_TIME], 64), time::RANGE_TEXT);
            reject(&mut self.stats, &mut self.rejects, rec, Some((p, COLUMNS[EVENT_TIME].0)), reason);
            return Ok(());
        }
        if let Some((lo, hi)) = self.opts.keep_range
            && !(lo..hi).contains(&ts)
        {
            self.stats.outside_window += 1;
            return Ok(());
        }
        let platform = vals[PLATFORM];
        let Some((key, new)) = self.platforms.key(platform) else {
            return Err(ConvertError::DictionaryFull { line: rec.line, column: map[PLATFORM].unwrap_or_default() + 1 });
        };
        if new {
            if !KNOWN_PLATFORMS.contains(&platform) {
                self.stats.unknown_platforms.insert(platform.to_string());
            }
            self.new_platforms.push((platform.into(), rec.line));
        }
        self.platform.append_value(key);
        self.event_name.append_value(vals[EVENT_NAME]);
        append_nullable(&mut self.event_details, vals[EVENT_DETAILS]);
        append_nullable(&mut self.user_text, vals[USER_TEXT]);
        self.event_time.append_value(ts);
        self.conversation_id.append_value(vals[CONVERSATION_ID]);
        append_nullable(&mut self.matched_title, vals[MATCHED_TITLE]);
        self.len += 1;
        self.stats.rows += 1;
        if self.len >= self.opts.batch_size {
            let b = self.build()?;
            self.ready.push_back(b);
        }
        Ok(())
    }

    fn read_header(&mut self, rec: &Record<'_>) -> Result<(), ConvertError> {
        let names: Vec<String> = (0..rec.len())
            .map(|i| String::from_utf8_lossy(rec.get(i).unwrap_or_default()).trim().to_string())
            .collect();
        let mut map = [None; 7];
        let mut known = 0;
        for (pos, name) in names.iter().enumerate() {
            match COLUMNS.iter().position(|(c, _)| c.eq_ignore_ascii_case(name)) {
                Some(i) if map[i].is_some() => {
                    return Err(ConvertError::DuplicateColumn { column: pos + 1, name: name.clone() });
                }
                Some(i) => {
                    map[i] = Some(pos);
                    known += 1;
                }
                None => {
                    self.stats.ignored_columns.insert(name.clone());
                }
            }
        }
        if known == 0 {
            return Err(ConvertError::NotCsv {
                table: Table::Detail.name(),
                expected: DETAIL_HEADER,
                found: excerpt(rec),
            });
        }
        for (i, (name, required)) in COLUMNS.iter().enumerate() {
            if *required && map[i].is_none() {
                return Err(ConvertError::MissingColumn { column: name, header: names.join(",") });
            }
        }
        self.width = names.len();
        self.names = names;
        self.map = Some(map);
        Ok(())
    }

    fn build(&mut self) -> Result<RecordBatch, ConvertError> {
        let n = std::mem::take(&mut self.len);
        let account: ArrayRef = Arc::new(repeated_text("account_id", &self.ctx.account, n)?);
        let bot: ArrayRef = Arc::new(repeated_text("bot_id", &self.ctx.bot, n)?);
        let cols: Vec<ArrayRef> = vec![
            account,
            bot,
            Arc::new(self.event_name.finish()),
            Arc::new(self.platforms.dictionary(self.platform.finish())?),
            Arc::new(self.event_details.finish()),
            Arc::new(self.user_text.finish()),
            Arc::new(self.event_time.finish().with_timezone("UTC")),
            Arc::new(self.conversation_id.finish()),
            Arc::new(self.matched_title.finish()),
        ];
        RecordBatch::try_new(Table::Detail.schema(), cols).map_err(ConvertError::Arrow)
    }
}

/// The distinct platforms of a body, in order of first sight, and their keys: the platform column
/// is built from keys into them, without a hash per row (a body holds a handful of platforms).
#[derive(Debug, Clone, Default)]
pub(super) struct Platforms {
    values: Vec<Box<str>>,
    /// Every value's key, once there are more than [`Platforms::SCANNED`].
    index: HashMap<Box<str>, i16>,
}

impl Platforms {
    /// Values looked up by a scan rather than a hash.
    const SCANNED: usize = 16;

    /// The key of `value`, and whether it is new; `None` when the keys are used up.
    #[inline]
    pub(super) fn key(&mut self, value: &str) -> Option<(i16, bool)> {
        let found = if self.values.len() <= Platforms::SCANNED {
            self.values.iter().position(|v| **v == *value).map(|k| k as i16)
        } else {
            self.index.get(value).copied()
        };
        if let Some(k) = found {
            return Some((k, false));
        }
        let k = i16::try_from(self.values.len()).ok()?;
        self.values.push(value.into());
        if self.values.len() > Platforms::SCANNED {
            if self.index.is_empty() {
                self.index = self.values.iter().zip(0..).map(|(v, k)| (v.clone(), k)).collect();
            } else {
                self.index.insert(value.into(), k);
            }
        }
        Some((k, true))
    }

    /// A platform column of `keys`.
    fn dictionary(&self, keys: Int16Array) -> Result<DictionaryArray<Int16Type>, ConvertError> {
        let values = StringArray::from_iter_values(self.values.iter());
        DictionaryArray::try_new(keys, Arc::new(values)).map_err(ConvertError::Arrow)
    }
}

fn append_nullable(b: &mut StringBuilder, v: &str) {
    if v.is_empty() { b.append_null() } else { b.append_value(v) }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
