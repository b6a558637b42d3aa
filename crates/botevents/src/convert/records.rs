//! Record splitting: bytes in any chunking → CSV records with their line numbers.
//!
//! A layer over `csv_core` (the push parser under the `csv` crate) that keeps the partial record
//! between pushes, skips blank lines (the vendor puts one between records), strips a UTF-8 BOM and
//! counts lines so that every error can name one. A record that is whole in a push and plain (see
//! [`fast_record`]), nearly every record of a vendor body, is split without `csv_core`, by walking
//! the push's quotes, separators and line breaks (found 64 bytes at a time) and borrowing its
//! fields from the input; a property test holds it to `csv_core`'s output. A line ends where
//! `csv_core` can end a record: at `\n`, `\r\n` or a bare `\r`. Memory: one record's bytes, capped at
//! [`RecordReader::max_record_bytes`], plus the first line (at most [`SNIFF_BYTES`]) held back
//! until it shows whether the body is CSV at all (see [`super::sniff`]).
//!
//! Quoting follows RFC 4180 leniently, as `csv_core` does: a quote inside an unquoted field is kept
//! as a literal character. A quoted field still open at the end of the input is an error (it has
//! swallowed every record after it), not a short record.

use csv_core::{ReadRecordResult, Reader};

use super::ConvertError;
use super::sniff::{self, SNIFF_BYTES};

/// Default cap on the bytes of one record (fields unescaped): far above the 32 KB `eventDetails`
/// the API produces, low enough that a corrupt body cannot exhaust memory.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One parsed record, borrowed from the reader.
pub struct Record<'a> {
    /// Line (1-based) on which the record starts.
    pub line: u64,
    fields: Fields<'a>,
}

enum Fields<'a> {
    /// `csv_core`'s output: the unescaped fields end to end, and where each ends.
    Packed { data: &'a [u8], ends: &'a [usize] },
    /// The fast path's: where each field is, in the input or (unescaped) in `unescaped`.
    Spans { input: &'a [u8], unescaped: &'a [u8], spans: &'a [Span] },
}

impl<'a> Record<'a> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self.fields {
            Fields::Packed { ends, .. } => ends.len(),
            Fields::Spans { spans, .. } => spans.len(),
        }
    }

    /// Whether the record has no fields (never produced by the reader).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Field `i` (unescaped bytes), or `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        match self.fields {
            Fields::Packed { data, ends } => {
                let end = *ends.get(i)?;
                let start = if i == 0 { 0 } else { ends[i - 1] };
                Some(&data[start..end])
            }
            Fields::Spans { input, unescaped, spans } => {
                let sp = spans.get(i)?;
                Some(if sp.unescaped { &unescaped[sp.start..sp.end] } else { &input[sp.start..sp.end] })
            }
        }
    }

    /// The record re-joined with commas, lossily decoded, for a rejects file.
    pub fn display(&self, limit: usize) -> String {
        let mut out = Vec::new();
        for i in 0..self.len() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.get(i).unwrap_or_default());
            if out.len() > limit {
                out.truncate(limit);
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Push reader of CSV records.
pub struct RecordReader {
    /// Built on first use: a reader of pieces of plain records may never need it.
    rdr: Option<Reader>,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    /// Line breaks consumed so far (`\n`, `\r\n` and a bare `\r` count one each).
    newlines: u64,
    /// Whether the last byte consumed was a `\r`: it has been counted as a line break, so a `\n`
    /// right after it (at the start of the next push) is the rest of that break, not another.
    after_cr: bool,
    record_line: u64,
    in_record: bool,
    /// Bytes seen so far, to recognise a BOM split across pushes.
    head: Vec<u8>,
    head_done: bool,
    /// Records longer than this are a fatal error.
    pub max_record_bytes: usize,
    /// The fields of the record the fast path has split, and those it has unescaped.
    spans: Vec<Span>,
    unescaped: Vec<u8>,
    /// Whether to split whole, plain records without `csv_core` (see [`fast_record`]); off only
    /// in tests, to compare the two.
    fast: bool,
    /// Records split by the fast path so far.
    fast_records: u64,
    /// The body so far, while it may still be one of the empty JSON answers the vendor's page
    /// allows for "no events" (`[]`, `{}`, `null`): held until the end shows whether it is.
    json_hold: Option<Vec<u8>>,
    /// The body was one of those empty answers.
    empty_answer: bool,
}

impl Default for RecordReader {
    fn default() -> Self {
        RecordReader::new()
    }
}

impl RecordReader {
    /// A reader for comma-separated, double-quoted CSV with any line terminator.
    pub fn new() -> RecordReader {
        RecordReader {
            rdr: None,
            out: vec![0; 4096],
            ends: vec![0; 32],
            out_len: 0,
            ends_len: 0,
            newlines: 0,
            after_cr: false,
            record_line: 1,
            in_record: false,
            head: Vec::new(),
            head_done: false,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            spans: Vec::new(),
            unescaped: Vec::new(),
            fast: true,
            fast_records: 0,
            json_hold: None,
            empty_answer: false,
        }
    }

    /// Whether the body was an empty JSON answer (`[]`, `{}` or `null`, with any whitespace): the
    /// vendor's "success response with an empty list", read as no records.
    pub fn empty_answer(&self) -> bool {
        self.empty_answer
    }

    /// Flags a body that held no record, not even a header: the page's empty list
    /// ([`DecodeStats::empty_list`]), or nothing at all ([`DecodeStats::empty_body`]).
    pub(super) fn flag_empty(&self, stats: &mut super::DecodeStats) {
        if self.empty_answer {
            stats.empty_list = true;
        } else {
            stats.empty_body = true;
        }
    }

    /// A reader that continues a body at the start of a record, after its first line and after
    /// `lines` line breaks: what a reader of the whole body is at that point.
    pub(super) fn resume_at_record_start(lines: u64, max_record_bytes: usize) -> RecordReader {
        RecordReader { newlines: lines, head_done: true, max_record_bytes, ..RecordReader::new() }
    }

    /// Whether everything fed so far ends with a whole record (or blank lines), past the first
    /// line's hold-back: the next byte would start a record.
    pub(super) fn at_record_start(&self) -> bool {
        self.head_done && !self.in_record && !self.after_cr
    }

    /// Line breaks consumed so far.
    pub(super) fn lines_consumed(&self) -> u64 {
        self.newlines
    }

    /// Feeds bytes; calls `on_record` for every record they complete.
    pub fn push<F>(&mut self, data: &[u8], on_record: &mut F) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        // No bytes is not the end of the input (that is `finish`), whatever `csv_core` makes of
        // an empty read.
        if data.is_empty() {
            return Ok(());
        }
        if let Some(hold) = &mut self.json_hold {
            hold.extend_from_slice(data);
            return self.check_hold(on_record, false);
        }
        if self.head_done {
            return self.feed(data, on_record);
        }
        // Hold back the first line until we know whether it starts with a BOM, and whether it is
        // CSV at all (copying only when it spans pushes).
        if self.head.is_empty() && head_complete(data) {
            return self.start(data, on_record);
        }
        self.head.extend_from_slice(data);
        if !head_complete(&self.head) {
            return Ok(());
        }
        let head = std::mem::take(&mut self.head);
        self.start(&head, on_record)
    }

    /// Ends the hold-back of the first line: refuses a body that is not CSV, feeds the rest.
    fn start<F>(&mut self, head: &[u8], on_record: &mut F) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        self.head_done = true;
        let body = head.strip_prefix(BOM).unwrap_or(head);
        // Exactly the bytes `can_decide` waited for, whatever the chunking; at the end of input
        // (`finish`), all there is.
        if empty_json(body) != EmptyJson::No {
            self.json_hold = Some(body.to_vec());
            return self.check_hold(on_record, false);
        }
        let decisive = sniff::decisive_len(body).unwrap_or(body.len()).min(SNIFF_BYTES);
        if let Some(s) = sniff::sniff(&body[..decisive]) {
            return Err(ConvertError::WrongFormat { line: s.line, looks_like: s.looks_like, start: s.start });
        }
        self.feed(body, on_record)
    }

    /// Goes on holding a body that may still be an empty JSON answer; once it cannot be, reads
    /// what was held as any other body (JSON is then refused as such). At the end of the input
    /// (`at_end`), a whole empty answer is no records.
    fn check_hold<F>(&mut self, on_record: &mut F, at_end: bool) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        let Some(hold) = &self.json_hold else { return Ok(()) };
        match empty_json(hold) {
            EmptyJson::Whole if at_end => {
                self.json_hold = None;
                self.empty_answer = true;
                Ok(())
            }
            EmptyJson::Whole | EmptyJson::Partial if !at_end && hold.len() <= MAX_EMPTY_ANSWER_BYTES => Ok(()),
            _ => {
                let body = self.json_hold.take().unwrap_or_default();
                let decisive = sniff::decisive_len(&body).unwrap_or(body.len()).min(SNIFF_BYTES);
                if let Some(s) = sniff::sniff(&body[..decisive]) {
                    return Err(ConvertError::WrongFormat { line: s.line, looks_like: s.looks_like, start: s.start });
                }
                self.feed(&body, on_record)
            }
        }
    }

    /// Signals the end of input; calls `on_record` for a last record without a terminator.
    pub fn finish<F>(&mut self, on_record: &mut F) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        if !self.head_done {
            let head = std::mem::take(&mut self.head);
            self.start(&head, on_record)?;
        }
        if self.json_hold.is_some() {
            self.check_hold(on_record, true)?;
            if self.empty_answer {
                return Ok(());
            }
        }
        if self.in_record {
            // End a last record that has no terminator with one. It ends the record exactly as the
            // end of input would, except inside quotes, where it does not: `csv_core` keeps its
            // state private (and its `Clone` does not copy it whole), so this is how to tell that
            // the input ended inside a quoted field. The terminator is not part of the input, so
            // the line count is left as it was.
            let (newlines, after_cr) = (self.newlines, self.after_cr);
            self.feed(b"\n", on_record)?;
            if self.in_record {
                return Err(ConvertError::UnterminatedQuote { line: self.record_line, column: self.ends_len + 1 });
            }
            (self.newlines, self.after_cr) = (newlines, after_cr);
        }
        self.feed(&[], on_record)
    }

    /// The 1-based line of the next byte to be read (after a `\r`, the next line, even when the
    /// `\n` of a CRLF is still to come).
    pub fn line(&self) -> u64 {
        self.newlines + 1
    }

    fn feed<F>(&mut self, mut input: &[u8], on_record: &mut F) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        let at_eof = input.is_empty();
        // `input` is always the rest of what was pushed.
        let pushed = input;
        let mut specials = Specials::new(pushed);
        loop {
            if !self.in_record {
                // Skip blank lines between records ourselves, so a record's line is exact.
                let skip = input.iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
                self.count_lines(&input[..skip]);
                input = &input[skip..];
                if input.is_empty() {
                    return Ok(());
                }
                self.record_line = self.newlines + 1;
                if self.fast
                    && let Some(rec) =
                        fast_record(&mut specials, pushed.len() - input.len(), self.max_record_bytes, &mut self.spans)
                {
                    let consumed = &input[..rec.len];
                    input = &input[rec.len..];
                    // The record ends with a `\n`, and does not start with one.
                    self.newlines += rec.lines;
                    self.after_cr = false;
                    self.fast_records += 1;
                    self.emit_fast(consumed, rec.escaped, on_record)?;
                    continue;
                }
                self.in_record = true;
            }
            // The record's bytes may fill the buffer up to one past the cap, even when the cap is
            // below the buffer's initial size: `csv_core` stops at a full buffer before it looks at
            // the next byte, so only a byte past the cap shows that the record is too long.
            let limit = self.max_record_bytes.saturating_add(1);
            let cap = self.out.len().min(limit).max(self.out_len);
            let (res, nin, nout, nend) = self.rdr.get_or_insert_with(csv_reader).read_record(
                input,
                &mut self.out[self.out_len..cap],
                &mut self.ends[self.ends_len..],
            );
            self.count_lines(&input[..nin]);
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::InputEmpty => return Ok(()),
                ReadRecordResult::OutputFull => {
                    if cap >= limit {
                        return Err(ConvertError::RecordTooLong {
                            line: self.record_line,
                            limit: self.max_record_bytes,
                        });
                    }
                    let new_len = (self.out.len() * 2).min(limit);
                    self.out.resize(new_len, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        return Err(ConvertError::TooManyFields { line: self.record_line, limit: MAX_FIELDS });
                    }
                    let new_len = self.ends.len() * 2;
                    self.ends.resize(new_len, 0);
                }
                ReadRecordResult::Record => {
                    // csv_core counts the terminator's own field end; our `ends` are absolute.
                    let rec = Record {
                        line: self.record_line,
                        fields: Fields::Packed { data: &self.out[..self.out_len], ends: &self.ends[..self.ends_len] },
                    };
                    let r = on_record(&rec);
                    self.out_len = 0;
                    self.ends_len = 0;
                    self.in_record = false;
                    r?;
                    if at_eof {
                        // Let csv_core settle into its end state on the next empty read.
                        continue;
                    }
                }
                ReadRecordResult::End => return Ok(()),
            }
        }
    }

    /// Hands the record [`fast_record`] has split to `on_record`, its escaped fields unescaped
    /// into a buffer of the reader's and the others where they are in `input`.
    fn emit_fast<F>(&mut self, input: &[u8], escaped: bool, on_record: &mut F) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        if escaped {
            self.unescaped.clear();
            for sp in self.spans.iter_mut().filter(|sp| sp.quotes > 0) {
                let start = self.unescaped.len();
                unescape(&input[sp.start..sp.end], &mut self.unescaped);
                (sp.start, sp.end, sp.unescaped) = (start, self.unescaped.len(), true);
            }
        }
        let fields = Fields::Spans { input, unescaped: &self.unescaped, spans: &self.spans };
        on_record(&Record { line: self.record_line, fields })
    }

    /// Counts the line breaks in `consumed`, the next bytes consumed: `\n`, `\r\n` and a bare
    /// `\r`, where `csv_core` ends a record too, one each. A `\r` is counted when it is consumed
    /// (whatever follows, the next byte is on a new line), and a `\n` right after a `\r` is not,
    /// also when the pair is split between pushes. Two SIMD scans, no work per byte.
    #[inline]
    fn count_lines(&mut self, consumed: &[u8]) {
        let Some(&last) = consumed.last() else { return };
        let mut n = memchr::memchr_iter(b'\n', consumed).count();
        if self.after_cr && consumed[0] == b'\n' {
            n -= 1;
        }
        // Each `\r` counts; one followed by a `\n` here takes that `\n`'s count instead.
        n += memchr::memchr_iter(b'\r', consumed).filter(|&i| consumed.get(i + 1) != Some(&b'\n')).count();
        self.newlines += n as u64;
        self.after_cr = last == b'\r';
    }
}

/// A `csv_core` reader that reads a BOM as data. `csv_core` drops a BOM at the start of its first
/// read, but the body's BOM is stripped once, before its first record ([`RecordReader::push`]),
/// and a reader is made when a record first needs one, perhaps in the middle of a body, where a
/// BOM is part of a field.
fn csv_reader() -> Reader {
    let mut rdr = Reader::new();
    // The first read: a blank line, which `csv_core` skips without leaving the start of a record.
    let (res, nin, _, _) = rdr.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
    debug_assert!(matches!(res, ReadRecordResult::InputEmpty) && nin == 1, "{res:?} after {nin} bytes");
    rdr
}

/// Most fields a record split by [`fast_record`] may have; wider ones go to `csv_core`.
const FAST_FIELDS: usize = 64;

/// Whether `b` ends an unquoted field, or makes it one the fast path leaves to `csv_core`.
#[inline(always)]
fn special(b: u8) -> bool {
    b == b',' || b == b'\n' || b == b'\r' || b == b'"'
}

/// The [`special`] bytes of a push, handed out in order: each block of 64 bytes is classified
/// once into a bit mask, and [`fast_record`] walks a record's quotes, separators and line breaks
/// by taking the lowest bit left, with no call or loop per byte or per field.
struct Specials<'a> {
    data: &'a [u8],
    /// Start of the block of `all` (a multiple of 64; `usize::MAX` before the first).
    block: usize,
    /// Bit `k` set when `data[block + k]` is special.
    all: u64,
    /// The bits of `all` not handed out yet.
    left: u64,
}

impl<'a> Specials<'a> {
    fn new(data: &'a [u8]) -> Specials<'a> {
        Specials { data, block: usize::MAX, all: 0, left: 0 }
    }

    /// Hands out the special bytes from `at` on.
    #[inline]
    fn seek(&mut self, at: usize) {
        let block = at & !63;
        if block != self.block {
            self.block = block;
            self.all = special_mask(self.data, block);
        }
        self.left = self.all & (!0u64 << (at - block));
    }

    /// Position of the next special byte, or `None` past the last.
    #[inline(always)]
    fn pop(&mut self) -> Option<usize> {
        while self.left == 0 {
            let next = self.block + 64;
            if next >= self.data.len() {
                return None;
            }
            self.block = next;
            self.all = special_mask(self.data, next);
            self.left = self.all;
        }
        let k = self.left.trailing_zeros() as usize;
        self.left &= self.left - 1;
        Some(self.block + k)
    }
}

/// Bit `k` set when `data[block + k]` is [`special`], for the (up to) 64 bytes from `block`.
#[inline]
fn special_mask(data: &[u8], block: usize) -> u64 {
    match data.get(block..block + 64) {
        Some(bytes) => special_mask_64(bytes.try_into().expect("64 bytes")),
        None => scalar_mask(data.get(block..).unwrap_or_default()),
    }
}

/// Bit `k` set when `bytes[k]` is [`special`], one byte at a time (at most 64 bytes).
#[inline]
fn scalar_mask(bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().fold(0, |m, (k, &b)| m | (u64::from(special(b)) << k))
}

/// [`special_mask`] of 64 bytes, sixteen per compare (SSE2, which every x86-64 processor has).
#[cfg(target_arch = "x86_64")]
#[inline]
fn special_mask_64(bytes: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    let mut mask = 0u64;
    for (k, sixteen) in bytes.chunks_exact(16).enumerate() {
        // SAFETY: SSE2 is part of the x86-64 baseline, and the unaligned load reads the sixteen
        // bytes of `sixteen`.
        let found = unsafe {
            let v = _mm_loadu_si128(sixteen.as_ptr().cast::<__m128i>());
            let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(eq(b'"'), eq(b',')), _mm_or_si128(eq(b'\n'), eq(b'\r'))))
        };
        mask |= u64::from(found as u16) << (16 * k);
    }
    mask
}

/// [`special_mask`] of 64 bytes, one at a time.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn special_mask_64(bytes: &[u8; 64]) -> u64 {
    scalar_mask(bytes)
}

/// Where a field split by [`fast_record`] is.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    /// Doubled quotes in the field, each to be unescaped to one.
    quotes: usize,
    /// Whether `start..end` is in the reader's unescaped buffer rather than in the input.
    unescaped: bool,
}

/// A record split by [`fast_record`].
struct FastRecord {
    /// Bytes of the record, its terminator included.
    len: usize,
    /// Line breaks in those bytes, as [`RecordReader::count_lines`] counts them.
    lines: u64,
    /// Whether a field holds doubled quotes.
    escaped: bool,
}

/// Splits the record at `start` of the push into `spans` (relative to `start`) without
/// `csv_core`, when that is plain: the whole record and its `\n` or `\r\n` are in the push, every
/// quoted field is closed right before a separator or the terminator, no unquoted field holds a
/// quote or a bare `\r`, there are at most [`FAST_FIELDS`] fields and the record is within
/// `max_bytes`. For such a record, the fields are exactly those `csv_core` would give; for any
/// other, `None`, and `csv_core` splits it.
///
/// The record is walked from one [`special`] byte to the next (see [`Specials`]), and its fields'
/// bytes are not copied unless they hold doubled quotes: this replaces `csv_core`'s byte-by-byte
/// state machine and copy, the parser's main cost.
#[inline]
fn fast_record(
    specials: &mut Specials<'_>,
    start: usize,
    max_bytes: usize,
    spans: &mut Vec<Span>,
) -> Option<FastRecord> {
    spans.clear();
    specials.seek(start);
    let input = specials.data;
    let mut rec = FastRecord { len: 0, lines: 0, escaped: false };
    // Where the field starts.
    let mut i = start;
    let mut bytes = 0usize;
    loop {
        if spans.len() == FAST_FIELDS {
            return None;
        }
        // The field, and where the byte that ends it is.
        let (span, end) = if input.get(i) == Some(&b'"') {
            // The opening quote.
            specials.pop();
            let mut quotes = 0;
            let close = loop {
                let q = specials.pop()?;
                let next = input.get(q + 1);
                match input[q] {
                    b'"' if next == Some(&b'"') => {
                        specials.pop();
                        quotes += 1;
                    }
                    b'"' => break q,
                    b',' => {}
                    // A line break inside the field: `\n`, `\r\n` or a bare `\r` count one each.
                    b'\r' if next == Some(&b'\n') => {
                        specials.pop();
                        rec.lines += 1;
                    }
                    _ => rec.lines += 1,
                }
            };
            // The field ends right after its closing quote, or the record is not plain.
            let end = specials.pop().filter(|&e| e == close + 1)?;
            (Span { start: i + 1 - start, end: close - start, quotes, unescaped: false }, end)
        } else {
            let end = specials.pop()?;
            (Span { start: i - start, end: end - start, quotes: 0, unescaped: false }, end)
        };
        bytes += span.end - span.start - span.quotes;
        rec.escaped |= span.quotes > 0;
        spans.push(span);
        match input[end] {
            b',' => i = end + 1,
            b'\n' => {
                rec.len = end + 1 - start;
                break;
            }
            b'\r' if input.get(end + 1) == Some(&b'\n') => {
                rec.len = end + 2 - start;
                break;
            }
            // A bare `\r`, or a quote inside an unquoted field.
            _ => return None,
        }
    }
    rec.lines += 1;
    (bytes <= max_bytes).then_some(rec)
}

/// Appends a quoted field's content with each doubled quote made one.
fn unescape(mut field: &[u8], out: &mut Vec<u8>) {
    while let Some(q) = memchr::memchr(b'"', field) {
        out.extend_from_slice(&field[..=q]);
        field = &field[q + 2..];
    }
    out.extend_from_slice(field);
}

/// Whether the start of a body is enough to tell a BOM and what the body is.
fn head_complete(head: &[u8]) -> bool {
    let partial_bom = head.len() < BOM.len() && BOM.starts_with(head);
    !partial_bom && sniff::can_decide(head.strip_prefix(BOM).unwrap_or(head))
}

/// Longest body still held as a possible empty JSON answer (`[ ]` with a lot of whitespace).
const MAX_EMPTY_ANSWER_BYTES: usize = 4096;

/// Whether a body (BOM removed) is, or may still become, an empty JSON answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EmptyJson {
    /// `[]`, `{}` or `null`, with whitespace around and inside the brackets.
    Whole,
    /// A start of one: more bytes will tell (blank so far, `[`, `nu` …).
    Partial,
    /// Neither.
    No,
}

fn empty_json(body: &[u8]) -> EmptyJson {
    let t = body.trim_ascii();
    match t {
        [] => EmptyJson::Partial,
        b"null" => EmptyJson::Whole,
        [open @ (b'[' | b'{'), rest @ ..] => {
            let close = if *open == b'[' { b']' } else { b'}' };
            match rest.trim_ascii_start() {
                [] => EmptyJson::Partial,
                [c] if *c == close => EmptyJson::Whole,
                _ => EmptyJson::No,
            }
        }
        _ if b"null".starts_with(t) => EmptyJson::Partial,
        _ => EmptyJson::No,
    }
}

/// Cap on fields per record: the widest legitimate header (totals with every platform) has about
/// twenty.
pub const MAX_FIELDS: usize = 4096;

#[cfg(test)]
mod tests;
