//! Recognising a body that is not CSV at all, from its first bytes.
//!
//! In: the start of a body, UTF-8 BOM removed, up to and including the newline that ends its first
//! non-blank line but at most [`SNIFF_BYTES`] bytes ([`decisive_len`]): the same bytes however the
//! body is chunked, so that the verdict is too. Out: what it looks like, when it is something a
//! download or a copy commonly turns into — an HTML or XML error page, a JSON error document, a
//! gzip-compressed or zipped file, UTF-16 text, binary data. None of these can start a valid
//! header of either table, so recognising them never refuses a real CSV body; it only replaces
//! "header not found" with a message that says what was found instead.

/// Bytes of the body held back (at most) before deciding; a header line ends well before.
pub const SNIFF_BYTES: usize = 512;

/// Longest excerpt of the start of the body quoted in the error.
const EXCERPT_CHARS: usize = 100;

/// Bytes shown, in hex, of a binary start.
const EXCERPT_BYTES: usize = 8;

/// What a body that is not CSV looks like, and how it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// 1-based line where the content starts (after any blank lines).
    pub line: u64,
    /// A description such as `"an HTML page"`.
    pub looks_like: &'static str,
    /// The start of the body: its first line quoted, or its first bytes in hex.
    pub start: String,
}

/// How many bytes of `head`, the bytes of a body seen so far (BOM removed), [`sniff`] is to look
/// at: up to and including the newline that ends the first non-blank line, at most
/// [`SNIFF_BYTES`]. `None` while neither is in, when more bytes could still change the answer; at
/// the end of the body, all of it (then shorter than [`SNIFF_BYTES`]) is the answer.
pub fn decisive_len(head: &[u8]) -> Option<usize> {
    let blank = head.len() - trim_start(head).len();
    match memchr::memchr(b'\n', &head[blank..]) {
        Some(i) => Some((blank + i + 1).min(SNIFF_BYTES)),
        None => (head.len() >= SNIFF_BYTES).then_some(SNIFF_BYTES),
    }
}

/// Whether the bytes seen so far (BOM removed) are enough to decide: a non-blank line has ended,
/// or [`SNIFF_BYTES`] bytes are in.
pub fn can_decide(head: &[u8]) -> bool {
    decisive_len(head).is_some()
}

/// What `head`, the start of a body without its UTF-8 BOM, looks like when it is not CSV. Pass the
/// first [`decisive_len`] bytes, so that the answer does not depend on how the body was chunked.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    let binary = |looks_like| Some(Sniffed { line: 1, looks_like, start: hex(head) });
    if head.starts_with(&[0x1f, 0x8b]) {
        return binary("gzip-compressed data (decompress it first)");
    }
    if head.starts_with(b"PK\x03\x04") {
        return binary("a ZIP archive (an Excel workbook? save it as CSV UTF-8)");
    }
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return binary("UTF-16 text (save it as UTF-8)");
    }
    let body = trim_start(head);
    let line_no = 1 + line_breaks(&head[..head.len() - body.len()]);
    let line = &body[..memchr::memchr2(b'\n', b'\r', body).unwrap_or(body.len())];
    if line.contains(&0) {
        let looks_like = "binary data (a NUL byte in the first line)";
        return Some(Sniffed { line: line_no, looks_like, start: hex(body) });
    }
    let text = |looks_like| Some(Sniffed { line: line_no, looks_like, start: quote(line) });
    match body.first() {
        Some(b'<') if contains_ignore_case(body, b"html") => text("an HTML page"),
        Some(b'<') => text("an XML document"),
        Some(b'{' | b'[') => text("JSON"),
        _ => None,
    }
}

/// Line breaks in `b`, counted as the record reader counts them: `\n`, `\r\n` and a bare `\r`.
fn line_breaks(b: &[u8]) -> u64 {
    let bare_cr = memchr::memchr_iter(b'\r', b).filter(|&i| b.get(i + 1) != Some(&b'\n')).count();
    (memchr::memchr_iter(b'\n', b).count() + bare_cr) as u64
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

fn hex(b: &[u8]) -> String {
    let shown: Vec<String> = b.iter().take(EXCERPT_BYTES).map(|x| format!("{x:02x}")).collect();
    let more = if b.len() > EXCERPT_BYTES { " …" } else { "" };
    format!("bytes {}{more}", shown.join(" "))
}

fn quote(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    let s = s.trim_end();
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((i, _)) => format!("{:?} …", &s[..i]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn looks(b: &[u8]) -> Option<&'static str> {
        sniff(b).map(|s| s.looks_like)
    }

    #[test]
    fn recognises_what_bodies_turn_into() {
        let html = sniff(b"\n  <!DOCTYPE html>\r\n<html><body>Service Unavailable</body></html>\n").unwrap();
        assert_eq!(html, Sniffed { line: 2, looks_like: "an HTML page", start: "\"<!DOCTYPE html>\"".into() });
        assert_eq!(looks(b"<HTML><HEAD><TITLE>502</TITLE>"), Some("an HTML page"));
        assert_eq!(
            looks(b"<?xml version=\"1.0\"?><fault><faultstring>Invalid ApiKey</faultstring>"),
            Some("an XML document")
        );
        let json = sniff(b"{\"success\":false,\"message\":\"x\"}\n").unwrap();
        assert_eq!(
            json,
            Sniffed { line: 1, looks_like: "JSON", start: r#""{\"success\":false,\"message\":\"x\"}""#.into() }
        );
        assert_eq!(looks(b"[{\"eventName\":\"a\"}]"), Some("JSON"));
        let gz = sniff(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x25]).unwrap();
        assert_eq!(gz.looks_like, "gzip-compressed data (decompress it first)");
        assert_eq!(gz.start, "bytes 1f 8b 08 00 00 00 00 00 …");
        assert_eq!(looks(b"PK\x03\x04\x14\x00"), Some("a ZIP archive (an Excel workbook? save it as CSV UTF-8)"));
        assert_eq!(looks(b"\xff\xfee\x00v\x00"), Some("UTF-16 text (save it as UTF-8)"));
        assert_eq!(sniff(b"e\0v\0e\0n\0t\0\n").unwrap().start, "bytes 65 00 76 00 65 00 6e 00 …");
    }

    #[test]
    fn csv_headers_are_not_sniffed() {
        for head in [
            &b"eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n"[..],
            b"Event Name,Event Detail,Event total,SMS,Date\r\n",
            b"\"eventName\",\"platform\"\n",
            b"",
            b"\n\n",
            b"a\n\0\0",
        ] {
            assert_eq!(sniff(head), None, "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn decides_after_the_first_non_blank_line() {
        assert!(!can_decide(b"<!DOCTYPE"));
        assert!(!can_decide(b"\r\n\r\n"));
        assert!(can_decide(b"\r\n<html>\n"));
        assert!(can_decide(&[b' '; SNIFF_BYTES]));
    }

    #[test]
    fn looks_at_the_first_non_blank_line_only() {
        assert_eq!(decisive_len(b"\r\n<a>\n<html>\n"), Some(6));
        assert_eq!(decisive_len(b"\0\n\n"), Some(2));
        assert_eq!(decisive_len(b"\n\n<a"), None);
        let long = [b'x'; 2 * SNIFF_BYTES];
        assert_eq!(decisive_len(&long), Some(SNIFF_BYTES));
        assert_eq!(decisive_len(&[&long[..10], b"\n"].concat()), Some(11));
        // What the whole of a longer start would have said is not asked.
        let head = b"<a>\n<html>\n";
        assert_eq!(looks(&head[..decisive_len(head).unwrap()]), Some("an XML document"));
    }

    #[test]
    fn names_the_line_where_the_content_starts() {
        let bin = sniff(b"\n\r\n\r\0x\n").unwrap();
        assert_eq!(
            bin,
            Sniffed {
                line: 4,
                looks_like: "binary data (a NUL byte in the first line)",
                start: "bytes 00 78 0a".into()
            }
        );
        // A bare `\r` ends a line, as it ends a record.
        assert_eq!(
            sniff(b"\r\r{\"a\": 1}\r[2]").unwrap(),
            Sniffed { line: 3, looks_like: "JSON", start: "\"{\\\"a\\\": 1}\"".into() }
        );
        assert_eq!(sniff(b"a\r\0"), None, "a NUL byte on the second line");
    }
}
