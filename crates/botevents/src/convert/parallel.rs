//! One detail body decoded on every core: pieces of whole records decoded at once, kept in order.
//!
//! Where records end is guessed: just past the first `\n` after every [`DEFAULT_PIECE_BYTES`] or
//! so, found with `memchr`, so the bytes between are first read by the pieces' own decoders, on
//! every core. The guess is then checked, not trusted. Each piece is decoded by a decoder of its
//! own, and the first piece starts where a record is known to start. A piece that starts at a
//! record start decodes exactly what a single decoder would there, and if it also ends exactly at
//! the end of a record, the next piece starts at a record start too. A piece that does not (its
//! `\n` was inside a quoted field) is decoded again, with the rest of the push, in pieces cut by a
//! scan of quote parity: in well-formed CSV, a `\n` preceded by an even number of quotes since a
//! record start ends a record. When that fails too (a stray quote inside an unquoted field, which
//! CSV keeps as a character, upsets the parity), one sequential decoder takes the rest of the
//! body. So any body in any chunking gives exactly the rows, counters, rejects and errors of a
//! [`DetailDecoder`] fed the same bytes.
//!
//! A piece's fields are checked for UTF-8 and NUL bytes once for the whole piece, and one by one
//! only when the piece fails that check, to name the field.
//!
//! Memory: the batches of one push, plus one partial record carried to the next push.

use std::collections::VecDeque;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use super::detail::{DecodedSizes, Platforms};
use super::{
    BodyDecoder, ConvertError, DecodeOptions, DecodeStats, DetailDecoder, MAX_REJECTS_KEPT, Reject, RowContext,
    valid_text,
};

/// Default bytes per piece: large enough that starting a decoder per piece costs nothing, small
/// enough that a push of a few MiB keeps every core busy.
pub const DEFAULT_PIECE_BYTES: usize = 512 * 1024;

/// Bytes held while looking for the end of the header, or for any record end, before giving up
/// on pieces and decoding sequentially (a body without `\n`, or a record longer than this).
const MAX_CARRY_BYTES: usize = 16 * 1024 * 1024;

/// Push decoder of a `customEventDetail` body that decodes the pieces of each push in parallel on
/// the rayon pool.
pub struct ParallelDetailDecoder {
    /// Reads the header; then the template of every piece's decoder.
    main: DetailDecoder,
    mode: Mode,
    /// Bytes after the last record end, not decoded yet (in `Head` and `Pieces`).
    carry: Vec<u8>,
    /// Line breaks before `carry`.
    lines: u64,
    piece_bytes: usize,
    ready: VecDeque<RecordBatch>,
    /// Counters of the pieces decoded.
    pieces: DecodeStats,
    /// Rejects of the pieces decoded, lines counted from the body's start.
    rejects: Vec<Reject>,
    /// Every counter: `main`'s, `pieces` and the sequential decoder's.
    stats: DecodeStats,
    /// What the last push's pieces decoded to per byte: each piece's decoder reserves its
    /// builders from it.
    sizes: Option<DecodedSizes>,
    splits: Splits,
    /// The body's distinct platforms so far, in order of first sight, once it is decoded in
    /// pieces: each piece's decoder counts only its own, and the body may hold no more than a
    /// single decoder's keys do.
    platforms: Platforms,
}

/// How the pushes were split.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Splits {
    /// Pieces decoded, the wasted ones included.
    pub pieces: u64,
    /// Pushes where a guessed end fell inside a quoted field, split again by quote parity.
    pub missed: u64,
    /// Times the rest of the body went to one sequential decoder.
    pub sequential: u64,
}

enum Mode {
    /// Before the end of the header.
    Head,
    /// Pieces decoded in parallel.
    Pieces,
    /// `main` decodes the rest of the body (the header was not followed by a record end).
    Main,
    /// A decoder forked from `main` decodes the rest of the body.
    Rest(Box<DetailDecoder>),
}

/// One piece decoded.
struct Piece {
    batches: Vec<RecordBatch>,
    stats: DecodeStats,
    rejects: Vec<Reject>,
    /// Platforms its decoder did not start with, each with its line (from the piece's start).
    new_platforms: Vec<(Box<str>, u64)>,
    /// Line breaks in the piece.
    lines: u64,
    /// Whether the piece ended at the end of a record.
    whole: bool,
}

impl ParallelDetailDecoder {
    /// A decoder for one body whose rows all belong to `ctx`.
    pub fn new(ctx: RowContext, opts: DecodeOptions) -> ParallelDetailDecoder {
        ParallelDetailDecoder::with_piece_bytes(ctx, opts, DEFAULT_PIECE_BYTES)
    }

    /// Same, with pieces of about `piece_bytes` (tests use tiny ones).
    pub fn with_piece_bytes(ctx: RowContext, opts: DecodeOptions, piece_bytes: usize) -> ParallelDetailDecoder {
        ParallelDetailDecoder {
            main: DetailDecoder::new(ctx, opts),
            mode: Mode::Head,
            carry: Vec::new(),
            lines: 0,
            piece_bytes: piece_bytes.max(1),
            ready: VecDeque::new(),
            pieces: DecodeStats::default(),
            rejects: Vec::new(),
            stats: DecodeStats::default(),
            sizes: None,
            splits: Splits::default(),
            platforms: Platforms::default(),
        }
    }

    /// How the pushes so far were split.
    pub fn splits(&self) -> &Splits {
        &self.splits
    }

    fn push_inner(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        match &mut self.mode {
            Mode::Main => return feed(&mut self.main, data, &mut self.ready),
            Mode::Rest(dec) => return feed(dec, data, &mut self.ready),
            Mode::Pieces => return self.push_pieces(data),
            Mode::Head => {}
        }
        self.carry.extend_from_slice(data);
        let Some(&end) = record_ends(&self.carry, false, usize::MAX).first() else {
            if self.carry.len() > MAX_CARRY_BYTES {
                self.mode = Mode::Main;
                return feed(&mut self.main, &std::mem::take(&mut self.carry), &mut self.ready);
            }
            return Ok(());
        };
        let mut rest = self.carry.split_off(end);
        let head = std::mem::take(&mut self.carry);
        feed(&mut self.main, &head, &mut self.ready)?;
        if self.main.header_read() && self.main.at_record_start() {
            self.mode = Mode::Pieces;
            self.lines = self.main.lines_consumed();
            self.platforms = self.main.platforms().clone();
            // Records decoded with the header come before every piece.
            self.rejects = self.main.take_rejects();
            self.ready.extend(self.main.take_rows()?);
            self.push_pieces(&rest)
        } else {
            self.mode = Mode::Main;
            feed(&mut self.main, &std::mem::take(&mut rest), &mut self.ready)
        }
    }

    fn push_pieces(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        // First at guessed record ends: no pass over the data before the pieces' own.
        let Some(at) = self.decode_pieces(data, &guessed_ends(data, self.piece_bytes))? else {
            return Ok(());
        };
        // A guess fell inside a quoted field. From the start of the piece that ended there (a
        // record start, with `carry` before it when it is the first), split by quote parity.
        self.splits.missed += 1;
        let rest = &data[at..];
        let odd = memchr::memchr_iter(b'"', &self.carry).count() % 2 == 1;
        let Some(at) = self.decode_pieces(rest, &record_ends(rest, odd, self.piece_bytes))? else {
            return Ok(());
        };
        // The parity was upset too (a stray quote inside an unquoted field, which CSV keeps as a
        // character): one sequential decoder takes the rest of the body.
        self.splits.sequential += 1;
        let carry = std::mem::take(&mut self.carry);
        self.decode_rest(&[&carry, &rest[at..]])
    }

    /// Decodes `carry` and `data` up to the last of `ends`, in pieces cut at `ends`, in parallel,
    /// and keeps the rest of `data` as the next `carry`. When a piece does not end at the end of a
    /// record (an end was wrong), keeps what came before it and returns where it starts in `data`
    /// (0 for the first piece, which keeps `carry` before it).
    fn decode_pieces(&mut self, data: &[u8], ends: &[usize]) -> Result<Option<usize>, ConvertError> {
        let (Some(&first), Some(&last)) = (ends.first(), ends.last()) else {
            self.carry.extend_from_slice(data);
            if self.carry.len() > MAX_CARRY_BYTES {
                self.splits.sequential += 1;
                let carry = std::mem::take(&mut self.carry);
                self.decode_rest(&[&carry])?;
            }
            return Ok(None);
        };
        let mut head = self.carry.clone();
        head.extend_from_slice(&data[..first]);
        let mut pieces: Vec<&[u8]> = vec![&head];
        pieces.extend(ends.windows(2).map(|w| &data[w[0]..w[1]]));
        let (main, sizes) = (&self.main, self.sizes.as_ref());
        let decoded: Vec<Result<Piece, ConvertError>> =
            pieces.par_iter().map(|p| decode_piece(main, p, sizes)).collect();
        self.splits.pieces += pieces.len() as u64;
        let ready = self.ready.len();
        for (i, piece) in decoded.into_iter().enumerate() {
            // Every piece before this one ended at a record end: this one was decoded from a
            // record start, exactly as a single decoder would have, errors included.
            let piece = piece.map_err(|e| e.shift_lines(self.lines))?;
            if !piece.whole {
                return Ok(Some(if i == 0 { 0 } else { ends[i - 1] }));
            }
            if i == 0 {
                self.carry.clear();
            }
            for (value, line) in &piece.new_platforms {
                if self.platforms.key(value).is_none() {
                    return Err(self.main.dictionary_full(line + self.lines));
                }
            }
            self.ready.extend(piece.batches);
            self.pieces.add(&piece.stats);
            let room = MAX_REJECTS_KEPT.saturating_sub(self.rejects.len());
            let lines = self.lines;
            self.rejects.extend(piece.rejects.into_iter().take(room).map(|r| Reject { line: r.line + lines, ..r }));
            self.lines += piece.lines;
        }
        self.carry = data[last..].to_vec();
        let batches = self.ready.make_contiguous();
        self.sizes = Some(DecodedSizes::of(&batches[ready..], head.len() + last - first));
        Ok(None)
    }

    /// Hands the rest of the body, starting with `parts` (the first at a record start), to one
    /// sequential decoder.
    fn decode_rest(&mut self, parts: &[&[u8]]) -> Result<(), ConvertError> {
        let mut dec = Box::new(self.main.fork(self.lines));
        dec.see_platforms(&self.platforms);
        let mut r = Ok(());
        for p in parts {
            r = r.and_then(|()| feed(&mut dec, p, &mut self.ready));
        }
        self.mode = Mode::Rest(dec);
        r
    }

    fn refresh_stats(&mut self) {
        let mut stats = self.main.stats().clone();
        stats.add(&self.pieces);
        if let Mode::Rest(dec) = &self.mode {
            stats.add(dec.stats());
        }
        self.stats = stats;
    }
}

/// Pushes `data` into a sequential decoder and takes its full batches.
fn feed(dec: &mut DetailDecoder, data: &[u8], ready: &mut VecDeque<RecordBatch>) -> Result<(), ConvertError> {
    dec.push(data)?;
    while let Some(b) = dec.next_batch()? {
        ready.push_back(b);
    }
    Ok(())
}

/// Decodes one piece that starts at a record start, with lines counted from its start, its
/// builders reserved from `sizes` when known.
fn decode_piece(main: &DetailDecoder, piece: &[u8], sizes: Option<&DecodedSizes>) -> Result<Piece, ConvertError> {
    let mut dec = main.fork(0);
    if let Some(sizes) = sizes {
        dec.reserve(piece.len(), sizes);
    }
    dec.trust_text(valid_text(piece));
    dec.push(piece)?;
    let whole = dec.at_record_start();
    let lines = dec.lines_consumed();
    let p = dec.into_piece()?;
    Ok(Piece { batches: p.batches, stats: p.stats, rejects: p.rejects, new_platforms: p.new_platforms, lines, whole })
}

/// Guessed ends of records in `data`, for pieces of at least `step` bytes: the positions just
/// past the first `\n`, past the first `\n` at least `step` bytes after each, and past the last
/// `\n`. One `memchr` per end, so the bytes between are not read: a `\n` inside a quoted field
/// is rare, and its piece then fails to end at a record end.
fn guessed_ends(data: &[u8], step: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while let Some(k) = memchr::memchr(b'\n', &data[at..]) {
        ends.push(at + k + 1);
        at = (at + k + 1).saturating_add(step);
        if at >= data.len() {
            break;
        }
    }
    if let Some(k) = memchr::memrchr(b'\n', data)
        && ends.last().is_some_and(|&e| k + 1 > e)
    {
        ends.push(k + 1);
    }
    ends
}

/// Likely ends of records in `data` (the positions just past a `\n` outside quotes, by quote
/// parity), given whether an odd number of quotes precedes `data` since a record start: the
/// first one, one at least `step` bytes after each, and the last one.
fn record_ends(data: &[u8], mut odd: bool, step: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    // `odd` is the parity of the quotes before `at`.
    let mut at = 0;
    let mut target = 0;
    loop {
        if target > at {
            odd ^= memchr::memchr_iter(b'"', &data[at..target]).count() % 2 == 1;
            at = target;
        }
        let end = loop {
            match memchr::memchr2(b'"', b'\n', &data[at..]) {
                None => break None,
                Some(k) if data[at + k] == b'"' => {
                    odd = !odd;
                    at += k + 1;
                }
                Some(k) => {
                    at += k + 1;
                    if !odd {
                        break Some(at);
                    }
                }
            }
        };
        let Some(end) = end else { return ends };
        ends.push(end);
        target = end.saturating_add(step);
        if target >= data.len() {
            break;
        }
    }
    // The last end: walk back from the end of `data`, with the parity of every quote before it.
    let mut odd_before = odd ^ (memchr::memchr_iter(b'"', &data[at..]).count() % 2 == 1);
    let mut to = data.len();
    while let Some(k) = memchr::memrchr2(b'"', b'\n', &data[at..to]) {
        let j = at + k;
        if data[j] == b'"' {
            odd_before = !odd_before;
        } else if !odd_before {
            if ends.last().is_none_or(|&e| j + 1 > e) {
                ends.push(j + 1);
            }
            break;
        }
        to = j;
    }
    ends
}

impl BodyDecoder for ParallelDetailDecoder {
    fn push(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        let r = self.push_inner(data);
        self.refresh_stats();
        r
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        Ok(self.ready.pop_front())
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        let r = match &mut self.mode {
            Mode::Head => {
                self.mode = Mode::Main;
                feed(&mut self.main, &std::mem::take(&mut self.carry), &mut self.ready)
            }
            Mode::Pieces => {
                let carry = std::mem::take(&mut self.carry);
                self.decode_rest(&[&carry])
            }
            Mode::Main | Mode::Rest(_) => Ok(()),
        };
        let r = r.and_then(|()| {
            let dec = match &mut self.mode {
                Mode::Rest(dec) => dec,
                _ => &mut self.main,
            };
            if let Some(b) = dec.finish()? {
                self.ready.push_back(b);
            }
            while let Some(b) = dec.next_batch()? {
                self.ready.push_back(b);
            }
            Ok(())
        });
        self.refresh_stats();
        r?;
        Ok(self.ready.pop_front())
    }

    fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        let mut out = std::mem::take(&mut self.rejects);
        let more = match &mut self.mode {
            Mode::Rest(dec) => dec.take_rejects(),
            _ => self.main.take_rejects(),
        };
        out.extend(more);
        out.truncate(MAX_REJECTS_KEPT);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ends_follow_quote_parity() {
        let data = b"a,\"x\ny\"\nb,c\n\"\"\"q\n\",d\ne";
        // Ends after `"x\ny"\n` (8), `b,c\n` (12) and the record with the escaped quote (21).
        assert_eq!(record_ends(data, false, usize::MAX), vec![8, 21]);
        assert_eq!(record_ends(data, false, 1), vec![8, 12, 21]);
        assert_eq!(record_ends(data, false, 0), vec![8, 12, 21]);
        // After an odd number of quotes, the first `\n` is inside a field.
        assert_eq!(record_ends(b"x\nz\"\n\n", true, usize::MAX), vec![5, 6]);
        assert!(record_ends(b"no end", false, 1).is_empty());
    }

    #[test]
    fn guessed_ends_follow_line_breaks_only() {
        let data = b"a,\"x\ny\"\nb,c\n\"\"\"q\n\",d\ne";
        // The first `\n` (inside the quoted field: a wrong guess, for the pieces to find out), the
        // first one at least `step` bytes on, and the last one.
        assert_eq!(guessed_ends(data, usize::MAX), vec![5, 21]);
        assert_eq!(guessed_ends(data, 0), vec![5, 8, 12, 17, 21]);
        assert_eq!(guessed_ends(data, 4), vec![5, 12, 17, 21]);
        assert!(guessed_ends(b"no end", 1).is_empty());
    }
}
