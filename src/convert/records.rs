//! Record splitting: bytes in any chunking → CSV records with their line numbers.
//!
//! A thin layer over `csv_core` (the push parser under the `csv` crate) that keeps the partial
//! record between pushes, skips blank lines (the vendor puts one between records), strips a UTF-8
//! BOM and counts lines so that every error can name one. Memory: one record's bytes, capped at
//! [`RecordReader::max_record_bytes`].

use csv_core::{ReadRecordResult, Reader};

use super::ConvertError;

/// Default cap on the bytes of one record (fields unescaped): far above the 32 KB `eventDetails`
/// the API produces, low enough that a corrupt body cannot exhaust memory.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One parsed record, borrowed from the reader.
pub struct Record<'a> {
    /// Line (1-based) on which the record starts.
    pub line: u64,
    data: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Record<'a> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the record has no fields (never produced by the reader).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i` (unescaped bytes), or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.data[start..end])
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
    rdr: Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    /// Newlines consumed so far.
    newlines: u64,
    record_line: u64,
    in_record: bool,
    /// Bytes seen so far, to recognise a BOM split across pushes.
    head: Vec<u8>,
    head_done: bool,
    /// Records longer than this are a fatal error.
    pub max_record_bytes: usize,
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
            rdr: Reader::new(),
            out: vec![0; 4096],
            ends: vec![0; 32],
            out_len: 0,
            ends_len: 0,
            newlines: 0,
            record_line: 1,
            in_record: false,
            head: Vec::new(),
            head_done: false,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }

    /// Feeds bytes; calls `on_record` for every record they complete.
    pub fn push<F>(&mut self, data: &[u8], on_record: &mut F) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        if self.head_done {
            return self.feed(data, on_record);
        }
        // Hold back the first bytes until we know whether they start with a BOM.
        self.head.extend_from_slice(data);
        if self.head.len() < BOM.len() && BOM.starts_with(&self.head) {
            return Ok(());
        }
        self.head_done = true;
        let head = std::mem::take(&mut self.head);
        let body = head.strip_prefix(BOM).unwrap_or(&head);
        self.feed(body, on_record)
    }

    /// Signals the end of input; calls `on_record` for a last record without a terminator.
    pub fn finish<F>(&mut self, on_record: &mut F) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        if !self.head_done {
            self.head_done = true;
            let head = std::mem::take(&mut self.head);
            self.feed(&head, on_record)?;
        }
        self.feed(&[], on_record)
    }

    /// The 1-based line of the next byte to be read.
    pub fn line(&self) -> u64 {
        self.newlines + 1
    }

    fn feed<F>(&mut self, mut input: &[u8], on_record: &mut F) -> Result<(), ConvertError>
    where
        F: FnMut(&Record<'_>) -> Result<(), ConvertError>,
    {
        let at_eof = input.is_empty();
        loop {
            if !self.in_record {
                // Skip blank lines between records ourselves, so a record's line is exact.
                let skip = input.iter().take_while(|&&b| b == b'\n' || b == b'\r').count();
                self.newlines += input[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
                input = &input[skip..];
                if input.is_empty() {
                    return Ok(());
                }
                self.in_record = true;
                self.record_line = self.newlines + 1;
            }
            let (res, nin, nout, nend) =
                self.rdr.read_record(input, &mut self.out[self.out_len..], &mut self.ends[self.ends_len..]);
            self.newlines += memchr::memchr_iter(b'\n', &input[..nin]).count() as u64;
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::InputEmpty => return Ok(()),
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= self.max_record_bytes {
                        return Err(ConvertError::RecordTooLong {
                            line: self.record_line,
                            limit: self.max_record_bytes,
                        });
                    }
                    let new_len = (self.out.len() * 2).min(self.max_record_bytes);
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
                        data: &self.out[..self.out_len],
                        ends: &self.ends[..self.ends_len],
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
}

/// Cap on fields per record: the widest legitimate header (totals with every platform) has about
/// twenty.
pub const MAX_FIELDS: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<(u64, Vec<String>)> {
        let mut rr = RecordReader::new();
        let mut out = Vec::new();
        let mut f = |r: &Record<'_>| {
            let fields = (0..r.len()).map(|i| String::from_utf8(r.get(i).unwrap().to_vec()).unwrap()).collect();
            out.push((r.line, fields));
            Ok(())
        };
        for c in chunks {
            rr.push(c, &mut f).unwrap();
        }
        rr.finish(&mut f).unwrap();
        out
    }

    #[test]
    fn blank_lines_bom_crlf_and_quoted_newlines() {
        let body = b"\xEF\xBB\xBFa,b\r\n\r\n\"x\ny\",2\n\n\"q\"\"r\",\n3,4";
        let want = vec![
            (1, vec!["a".to_string(), "b".to_string()]),
            (3, vec!["x\ny".to_string(), "2".to_string()]),
            (6, vec!["q\"r".to_string(), String::new()]),
            (7, vec!["3".to_string(), "4".to_string()]),
        ];
        assert_eq!(collect(&[body]), want);
        for size in [1, 2, 3, 7, 100] {
            let chunks: Vec<&[u8]> = body.chunks(size).collect();
            assert_eq!(collect(&chunks), want, "chunk size {size}");
        }
    }

    #[test]
    fn record_too_long_is_an_error_with_its_line() {
        let mut rr = RecordReader::new();
        rr.max_record_bytes = 8192;
        let mut body = b"a\n\"".to_vec();
        body.extend(std::iter::repeat_n(b'x', 10_000));
        let err = rr.push(&body, &mut |_r: &Record<'_>| Ok(())).unwrap_err();
        assert!(matches!(err, ConvertError::RecordTooLong { line: 2, .. }), "{err:?}");
    }
}
