//! The vendor's CSV formats, and the chunker that cuts a body into pieces.
//!
//! In: events and totals rows. Out: bytes exactly as the vendor's downloads have them:
//!
//! * detail — header `eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle`;
//!   every text field double-quoted with inner quotes doubled (empty text is `""`), `platform`
//!   and `eventCreationTime` bare, an empty `matchedTitle` as an empty bare field;
//! * totals — header `Event Name,Event Detail,Event total,<platforms…>,Date` (and `,Time` in
//!   the dialect that splits the hour off); a field is quoted only when it holds a comma, a
//!   quote or a line break.
//!
//! Every line ends with `\n` and a blank line precedes each record, as in the vendor's samples.
//! What an empty result looks like is the dialect's choice, made by the callers. Pure
//! formatting, no I/O.

use bytes::Bytes;

use super::data::SimEvent;

/// The detail download's header line (without its line end).
pub(crate) const DETAIL_HEADER: &str =
    "eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle";

/// Bytes per body chunk handed to the connection.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;

/// The content type of the CSV downloads.
pub(crate) const TEXT_CSV: &str = "text/csv";
/// The content type of JSON answers (and of a download's empty list).
pub(crate) const APPLICATION_JSON: &str = "application/json";

/// Where a [`Chunker`] hands its chunks.
pub(crate) trait Emit {
    /// Takes one chunk; `false` once nobody wants the body any more (the client went away).
    fn emit(&mut self, chunk: Bytes) -> bool;

    /// Learns the body's content type, before its first chunk (a download's type depends on
    /// whether it has rows). Ignored unless the receiver asked for it.
    fn content_type(&mut self, _content_type: &'static str) {}

    /// The body is complete (after its last chunk): a receiver that encodes it finishes here.
    fn end(&mut self) {}
}

impl<F: FnMut(Bytes) -> bool> Emit for F {
    fn emit(&mut self, chunk: Bytes) -> bool {
        self(chunk)
    }
}

/// Collects a body and hands it on in chunks of about [`CHUNK_BYTES`].
///
/// Writers check [`is_open`](Chunker::is_open) and stop early once the receiver is gone.
pub(crate) struct Chunker<E: Emit> {
    buf: Vec<u8>,
    emit: E,
    open: bool,
}

impl<E: Emit> Chunker<E> {
    pub(crate) fn new(emit: E) -> Self {
        Chunker { buf: Vec::with_capacity(CHUNK_BYTES + 1024), emit, open: true }
    }

    /// The buffer to append to; call [`flush_if_full`](Chunker::flush_if_full) afterwards.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// Declares the body's content type; call it before writing the body.
    pub(crate) fn content_type(&mut self, content_type: &'static str) {
        self.emit.content_type(content_type);
    }

    /// Hands the buffer on once it holds a chunk.
    pub(crate) fn flush_if_full(&mut self) {
        if self.buf.len() >= CHUNK_BYTES {
            self.flush();
        }
    }

    /// Hands on whatever is left.
    pub(crate) fn finish(mut self) {
        if !self.buf.is_empty() {
            self.flush();
        }
        if self.open {
            self.emit.end();
        }
    }

    fn flush(&mut self) {
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 1024)));
        if self.open {
            self.open = self.emit.emit(chunk);
        }
    }
}

/// Appends the detail header line.
pub(crate) fn detail_header(out: &mut Vec<u8>) {
    out.extend_from_slice(DETAIL_HEADER.as_bytes());
    out.push(b'\n');
}

/// Appends one detail record, preceded by the blank line that separates records.
pub(crate) fn detail_record(out: &mut Vec<u8>, event: &SimEvent) {
    out.push(b'\n');
    quoted(out, &event.event_name);
    out.push(b',');
    out.extend_from_slice(event.platform.as_bytes());
    out.push(b',');
    quoted(out, &event.event_details);
    out.push(b',');
    quoted(out, &event.user_text);
    out.push(b',');
    out.extend_from_slice(event.event_time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().as_bytes());
    out.push(b',');
    quoted(out, &event.conversation_id);
    out.push(b',');
    if !event.matched_title.is_empty() {
        quoted(out, &event.matched_title);
    }
    out.push(b'\n');
}

/// Appends the totals header line for these platform columns, with a `Time` column after `Date`
/// if `time_column`.
pub(crate) fn totals_header<S: AsRef<str>>(out: &mut Vec<u8>, platforms: &[S], time_column: bool) {
    out.extend_from_slice(b"Event Name,Event Detail,Event total,");
    for platform in platforms {
        minimal(out, platform.as_ref());
        out.push(b',');
    }
    out.extend_from_slice(if time_column { b"Date,Time\n" } else { b"Date\n" });
}

/// Appends one totals record (blank line first): name, detail, total, one count per platform
/// column, date label, and the time label if there is a `Time` column.
pub(crate) fn totals_record(
    out: &mut Vec<u8>,
    name: &str,
    detail: &str,
    counts: &[u64],
    date: &str,
    time: Option<&str>,
) {
    out.push(b'\n');
    minimal(out, name);
    out.push(b',');
    minimal(out, detail);
    out.push(b',');
    out.extend_from_slice(counts.iter().sum::<u64>().to_string().as_bytes());
    out.push(b',');
    for count in counts {
        out.extend_from_slice(count.to_string().as_bytes());
        out.push(b',');
    }
    minimal(out, date);
    if let Some(time) = time {
        out.push(b',');
        minimal(out, time);
    }
    out.push(b'\n');
}

/// A field in double quotes, inner quotes doubled.
fn quoted(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    for part in value.split_inclusive('"') {
        out.extend_from_slice(part.as_bytes());
        if part.ends_with('"') {
            out.push(b'"');
        }
    }
    out.push(b'"');
}

/// A field quoted only when it has to be.
fn minimal(out: &mut Vec<u8>, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        quoted(out, value);
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn event(name: &str, details: &str, title: &str) -> SimEvent {
        SimEvent {
            event_name: name.to_owned(),
            platform: "HTMLCLIENT".to_owned(),
            event_details: details.to_owned(),
            user_text: String::new(),
            event_time: DateTime::parse_from_rfc3339("2023-04-19T14:59:16.158Z").unwrap().with_timezone(&Utc),
            conversation_id: "7060a959-7d89-436b-9d02-af40421299c1".to_owned(),
            matched_title: title.to_owned(),
        }
    }

    #[test]
    fn detail_matches_the_vendor_sample() {
        let mut out = Vec::new();
        detail_header(&mut out);
        detail_record(&mut out, &event("Question answered? - j", "Returned article: null", ""));
        let mut e = event("Question answered? - j", "Returned article: null", "");
        e.user_text = "Original user message_2:*".to_owned();
        detail_record(&mut out, &e);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n\
             \n\"Question answered? - j\",HTMLCLIENT,\"Returned article: null\",\"\",2023-04-19T14:59:16.158Z,\"7060a959-7d89-436b-9d02-af40421299c1\",\n\
             \n\"Question answered? - j\",HTMLCLIENT,\"Returned article: null\",\"Original user message_2:*\",2023-04-19T14:59:16.158Z,\"7060a959-7d89-436b-9d02-af40421299c1\",\n"
        );
    }

    #[test]
    fn quotes_are_doubled_and_titles_quoted() {
        let mut out = Vec::new();
        detail_record(&mut out, &event("Réponse, \"oui\"", "\"\"\r\n", "FAQ \"shipping\""));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\n\"Réponse, \"\"oui\"\"\",HTMLCLIENT,\"\"\"\"\"\r\n\",\"\","));
        assert!(text.ends_with(",\"FAQ \"\"shipping\"\"\"\n"));
    }

    #[test]
    fn totals_quote_only_when_needed() {
        let mut out = Vec::new();
        totals_header(&mut out, &["FACEBOOK", "HTMLCLIENT"], false);
        totals_record(&mut out, "Demo", "", &[0, 11], "2023-04-19", None);
        totals_record(&mut out, "Réponse, \"oui\"", "yes", &[2, 1], "2023-04-19 13:00", None);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "Event Name,Event Detail,Event total,FACEBOOK,HTMLCLIENT,Date\n\
             \nDemo,,11,0,11,2023-04-19\n\
             \n\"Réponse, \"\"oui\"\"\",yes,3,2,1,2023-04-19 13:00\n"
        );
        let mut out = Vec::new();
        totals_header(&mut out, &["WhatsApp".to_owned()], true);
        totals_record(&mut out, "Demo", "", &[4], "2023-04-19", Some("13:00"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Event Name,Event Detail,Event total,WhatsApp,Date,Time\n\nDemo,,4,4,2023-04-19,13:00\n"
        );
    }

    #[test]
    fn chunker_cuts_and_stops() {
        let mut chunks = Vec::new();
        let mut chunker = Chunker::new(|chunk: Bytes| {
            chunks.push(chunk.len());
            true
        });
        for _ in 0..3 {
            chunker.buf().extend_from_slice(&[b'x'; CHUNK_BYTES / 2 + 1]);
            chunker.flush_if_full();
        }
        chunker.finish();
        assert_eq!(chunks, [CHUNK_BYTES + 2, CHUNK_BYTES / 2 + 1]);

        let mut calls = 0;
        let mut closed = Chunker::new(|_| {
            calls += 1;
            false
        });
        closed.buf().extend_from_slice(&[b'x'; CHUNK_BYTES]);
        closed.flush_if_full();
        assert!(!closed.is_open());
        closed.buf().extend_from_slice(&[b'x'; CHUNK_BYTES]);
        closed.flush_if_full();
        closed.finish();
        assert_eq!(calls, 1);
    }
}
