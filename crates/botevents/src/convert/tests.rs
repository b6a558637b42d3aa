use super::*;
use crate::convert::detail::DETAIL_HEADER;
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int64Type, TimestampMicrosecondType};
use proptest::prelude::*;

fn ctx() -> RowContext {
    RowContext { account: "acc".into(), bot: "bot".into() }
}

/// A vendor-format body with the nasty cases: quoted commas, doubled quotes, embedded newlines
/// (LF and CRLF), emoji, an empty trailing matchedTitle, blank lines, a duplicate row.
const DETAIL: &str = "eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n\
\n\
\"Question answered? - j\",HTMLCLIENT,\"Returned article: null\",\"Original user message_2:*\",2023-04-19T14:59:16.158Z,\"7060a959\",\n\
\n\
\"Question answered? - j\",HTMLCLIENT,\"Returned article: null\",\"Original user message_2:*\",2023-04-19T14:59:16.158Z,\"7060a959\",\n\
\n\
\"Réponse, \"\"oui\"\"\",WHATSAPP,\"{\"\"a\"\": 1,\n \"\"b\"\": [2]}\",\"line1\r\nline2 🚚\",2023-04-19T00:00:00.000Z,\"c-2\",\"Title, with comma\"\n\
\n\
\"empty\",SMS,\"\",\"\",2023-04-18T23:59:59.999Z,\"c-3\",\n";

fn rows(dec: &mut dyn BodyDecoder, body: &[u8], chunk: usize) -> Vec<Vec<String>> {
    let mut batches = Vec::new();
    decode_chunks(dec, body.chunks(chunk.max(1)), &mut batches).unwrap();
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            return "∅".to_string();
                        }
                        arrow_cast_display(c.as_ref(), r)
                    })
                    .collect(),
            );
        }
    }
    out
}

fn arrow_cast_display(c: &dyn Array, r: usize) -> String {
    use arrow_schema::DataType;
    match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(r).to_string(),
        DataType::Int64 => c.as_primitive::<Int64Type>().value(r).to_string(),
        DataType::Timestamp(..) => c.as_primitive::<TimestampMicrosecondType>().value(r).to_string(),
        DataType::Dictionary(k, _) if **k == DataType::Int16 => {
            let d = c.as_dictionary::<Int16Type>();
            let k = d.keys().value(r) as usize;
            d.values().as_string::<i32>().value(k).to_string()
        }
        DataType::Dictionary(..) => {
            let d = c.as_dictionary::<arrow_array::types::Int8Type>();
            let k = d.keys().value(r) as usize;
            d.values().as_string::<i32>().value(k).to_string()
        }
        other => panic!("unexpected type {other}"),
    }
}

fn detail_rows(body: &[u8], chunk: usize, opts: DecodeOptions) -> (Vec<Vec<String>>, DecodeStats) {
    let mut dec = DetailDecoder::new(ctx(), opts);
    let r = rows(&mut dec, body, chunk);
    (r, dec.stats().clone())
}

#[test]
fn detail_vendor_format() {
    let (rows, stats) = detail_rows(DETAIL.as_bytes(), 1 << 20, DecodeOptions::default());
    assert_eq!(rows.len(), 4);
    assert_eq!(stats.rows, 4);
    assert_eq!(rows[0], rows[1], "identical duplicates are both kept");
    assert_eq!(rows[0][2], "Question answered? - j");
    assert_eq!(rows[0][8], "∅", "empty matchedTitle is null");
    assert_eq!(rows[2][2], "Réponse, \"oui\"");
    assert_eq!(rows[2][4], "{\"a\": 1,\n \"b\": [2]}");
    assert_eq!(rows[2][5], "line1\r\nline2 🚚");
    assert_eq!(rows[2][6], "1681862400000000", "midnight exactly");
    assert_eq!(rows[2][8], "Title, with comma");
    assert_eq!(rows[3][4], "∅");
    assert_eq!(rows[3][5], "∅");
}

#[test]
fn detail_drops_rows_outside_the_window() {
    let start = time::parse_timestamp("2023-04-19T00:00:00Z").unwrap();
    let end = time::parse_timestamp("2023-04-20T00:00:00Z").unwrap();
    let opts = DecodeOptions { keep_range: Some((start, end)), ..DecodeOptions::default() };
    let (rows, stats) = detail_rows(DETAIL.as_bytes(), 1 << 20, opts);
    assert_eq!(rows.len(), 3);
    assert_eq!(stats.outside_window, 1);
}

#[test]
fn detail_rejects_bad_rows_with_line_and_column() {
    let body = "eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n\
\"a\",SMS,\"\",\"\",yesterday,\"c\",\n\
\"b\",SMS,\"\",\"\"\n\
\"c\",NEWTHING,\"\",\"\",2023-04-19T00:00:00.000Z,\"c\",\n";
    let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
    let r = rows(&mut dec, body.as_bytes(), 5);
    assert_eq!(r.len(), 1);
    let rejects = dec.take_rejects();
    assert_eq!(rejects.len(), 2);
    assert_eq!((rejects[0].line, rejects[0].column), (2, Some(5)));
    assert_eq!(rejects[0].column_name.as_deref(), Some("eventCreationTime"));
    assert!(rejects[0].reason.contains("unparseable timestamp"), "{}", rejects[0].reason);
    assert_eq!((rejects[1].line, rejects[1].column), (3, None));
    assert_eq!(rejects[1].reason, "expected 7 fields, found 4");
    assert!(dec.stats().unknown_platforms.contains("NEWTHING"));
}

#[test]
fn detail_header_errors() {
    let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
    let err = dec.push(b"<!DOCTYPE html><html><body>Service unavailable</body></html>\n").unwrap_err();
    assert!(matches!(err, ConvertError::WrongFormat { line: 1, looks_like: "an HTML page", .. }), "{err}");
    let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
    let err = dec.push(b"event,when\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1: not a custom_event_detail CSV header: expected columns \
         eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle, found \"event,when\""
    );
    let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
    let err = dec.push(b"eventName,eventDetails,userText,eventCreationTime,conversationId\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1, header: missing required column \"platform\" (header: \"eventName,eventDetails,userText,eventCreationTime,conversationId\")"
    );
}

#[test]
fn detail_reordered_and_extra_columns() {
    let body = "conversationId,eventCreationTime,extra,platform,eventName,eventDetails,userText,matchedTitle\n\
\"c\",2023-04-19T00:00:00.000Z,x,SMS,\"n\",\"d\",\"u\",\n";
    let (rows, stats) = detail_rows(body.as_bytes(), 3, DecodeOptions::default());
    assert_eq!(rows, vec![vec!["acc", "bot", "n", "SMS", "d", "u", "1681862400000000", "c", "∅"]]);
    assert!(stats.ignored_columns.contains("extra"));
}

/// The page's "success response with an empty list" for a CSV download, in every form: no rows,
/// no error, in any chunking and from every decoder of the CSV streams.
#[test]
fn the_empty_list_of_a_download_is_no_rows() {
    for body in ["[]", "[ ]", " [\n]\n", "{}", "{ }\r\n", "null", "\nnull\n", "\u{feff}[]"] {
        for chunk in [1, 2, 3, 100] {
            let (rows, stats) = detail_rows(body.as_bytes(), chunk, DecodeOptions::default());
            assert!(rows.is_empty() && stats.empty_list && !stats.empty_body, "{body:?} in chunks of {chunk}");
            let mut dec = ParallelDetailDecoder::with_piece_bytes(ctx(), DecodeOptions::default(), 2);
            assert!(super::tests::rows(&mut dec, body.as_bytes(), chunk).is_empty(), "{body:?}");
            assert!(dec.stats().empty_list, "{body:?}");
            let mut dec = TotalDecoder::new(ctx(), Interval::Hourly, DecodeOptions::default());
            assert!(rows_of(&mut dec, body.as_bytes(), chunk).is_empty(), "{body:?}");
            assert!(dec.stats().empty_list && !dec.stats().empty_body, "{body:?}");
        }
    }
    // An empty body and a header-only CSV are no rows as well.
    let (rows, stats) = detail_rows(b"\r\n\n", 1, DecodeOptions::default());
    assert!(rows.is_empty() && stats.empty_body && !stats.empty_list);
    let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
    assert!(rows_of(&mut dec, b"Event Name,Event Detail,Event total,Date\n", 4).is_empty());
    // Other JSON keeps its clear error, whatever starts it.
    for (body, start) in [
        ("[{\"eventName\":\"a\"}]", "\"[{\\\"eventName\\\":\\\"a\\\"}]\""),
        ("[]\n[1]\n", "\"[]\""),
        ("{\"error\":1}", "\"{\\\"error\\\":1}\""),
        ("[\n1]", "\"[\""),
    ] {
        for chunk in [1, 3, 100] {
            let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
            let mut out = Vec::new();
            let err = decode_chunks(&mut dec, body.as_bytes().chunks(chunk), &mut out).unwrap_err();
            assert_eq!(err, ConvertError::WrongFormat { line: 1, looks_like: "JSON", start: start.into() }, "{body:?}");
        }
    }
    // A header that starts like `null` is a header.
    let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
    let mut out = Vec::new();
    let err = decode_chunks(&mut dec, b"nullable,x\n".chunks(2), &mut out).unwrap_err();
    assert!(matches!(err, ConvertError::NotCsv { .. }), "{err:?}");
}

fn rows_of(dec: &mut dyn BodyDecoder, body: &[u8], chunk: usize) -> Vec<Vec<String>> {
    rows(dec, body, chunk)
}

/// Every column between `Event total` and `Date` is a platform, whatever its case; a documented
/// platform in another case takes the documented spelling.
#[test]
fn totals_platform_columns_are_those_between_total_and_date() {
    let body = "Event Name,Event Detail,Event total,WhatsApp,htmlclient,NewChannel 2,Date,Time\n\
                A,,6,1,2,3,2023-04-19,14:00\n";
    let mut dec = TotalDecoder::new(ctx(), Interval::Hourly, DecodeOptions::default());
    let r = rows(&mut dec, body.as_bytes(), 5);
    let at14 = time::parse_timestamp("2023-04-19T14:00:00Z").unwrap().to_string();
    let got: Vec<(&str, &str, &str)> = r.iter().map(|r| (r[4].as_str(), r[5].as_str(), r[6].as_str())).collect();
    assert_eq!(
        got,
        [("WHATSAPP", "1", at14.as_str()), ("HTMLCLIENT", "2", at14.as_str()), ("NewChannel 2", "3", at14.as_str())]
    );
    assert_eq!(dec.stats().unknown_platforms.iter().collect::<Vec<_>>(), ["NewChannel 2"]);
    assert!(dec.stats().ignored_columns.is_empty() && dec.stats().total_mismatches == 0);
    // Outside the frame, only upper-case identifiers are platforms, as before.
    let body = "Event Name,SMS,Event Detail,note,Date\nA,4,,x,2023-04-19\n";
    let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
    assert_eq!(rows(&mut dec, body.as_bytes(), 5).len(), 1);
    assert!(dec.stats().ignored_columns.contains("note"));
    // Two spellings of one platform are one column twice.
    let body = "Event Name,Event Detail,Event total,SMS,sms,Date\nA,,2,1,1,2023-04-19\n";
    let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
    let mut out = Vec::new();
    let err = decode_chunks(&mut dec, body.as_bytes().chunks(7), &mut out).unwrap_err();
    assert_eq!(err, ConvertError::DuplicateColumn { column: 5, name: "sms".into() });
}

/// Under hourly, each common form of the hour is read, and a date without one is a positioned
/// error, never midnight.
#[test]
fn hourly_totals_read_every_form_of_the_hour() {
    let at14 = time::parse_timestamp("2023-04-19T14:00:00Z").unwrap().to_string();
    for date in [
        "2023-04-19 14:00",
        "2023-04-19 14",
        "2023-04-19T14:00",
        "2023-04-19T14:00:00Z",
        "2023-04-19T16:00:00+02:00",
        "1681912800000",
    ] {
        let body = format!("Event Name,Event Detail,Event total,SMS,Date\nA,,1,1,{date}\n");
        let mut dec = TotalDecoder::new(ctx(), Interval::Hourly, DecodeOptions::default());
        let r = rows(&mut dec, body.as_bytes(), 3);
        assert_eq!(r.len(), 1, "{date}");
        assert_eq!(r[0][6], at14, "{date}");
    }
    let body = "Event Name,Event Detail,Event total,SMS,Date\nA,,1,1,2023-04-19\n";
    let mut dec = TotalDecoder::new(ctx(), Interval::Hourly, DecodeOptions::default());
    assert!(rows(&mut dec, body.as_bytes(), 3).is_empty());
    assert_rejects(
        &mut dec,
        &[(
            2,
            Some(5),
            "an hourly period without an hour: \"2023-04-19\" (a Date with its hour, or an Hour or Time column, is expected)",
        )],
    );
}

/// In an export, aggregate buckets that overlap the window are kept, also when they start before
/// it (a daily bucket of a server in UTC+2 starts at 22:00Z); only those that do not overlap it are
/// dropped.
#[test]
fn totals_keep_buckets_that_overlap_the_window() {
    let lo = time::parse_timestamp("2023-04-19T00:00:00Z").unwrap();
    let day = time::MICROS_PER_DAY;
    let body = "Event Name,Event Detail,Event total,SMS,Date\n\
                A,,1,1,2023-04-18T22:00:00Z\n\
                B,,2,2,2023-04-19T22:00:00Z\n\
                C,,4,4,2023-04-17T22:00:00Z\n\
                D,,8,8,2023-04-20T00:00:00Z\n";
    let opts = DecodeOptions { keep_range: Some((lo, lo + 2 * day)), ..DecodeOptions::default() };
    let mut dec = TotalDecoder::new(ctx(), Interval::Daily, opts);
    let r = rows(&mut dec, body.as_bytes(), 11);
    let names: Vec<&str> = r.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(names, ["A", "B", "D"]);
    assert_eq!((dec.stats().unaligned_buckets, dec.stats().outside_window), (2, 1));
    // Hourly: a bucket that starts before the window belongs to the request before it.
    let body =
        "Event Name,Event Detail,Event total,SMS,Date\nA,,1,1,2023-04-18T23:30:00Z\nB,,1,1,2023-04-19T00:30:00Z\n";
    let opts = DecodeOptions { keep_range: Some((lo, lo + day)), ..DecodeOptions::default() };
    let mut dec = TotalDecoder::new(ctx(), Interval::Hourly, opts);
    let r = rows(&mut dec, body.as_bytes(), 11);
    assert_eq!(r.iter().map(|r| r[2].as_str()).collect::<Vec<_>>(), ["B"]);
    assert_eq!((dec.stats().unaligned_buckets, dec.stats().outside_window), (1, 1));
}

#[test]
fn empty_body_is_flagged() {
    let (rows, stats) = detail_rows(b"", 1, DecodeOptions::default());
    assert!(rows.is_empty());
    assert!(stats.empty_body);
    let (rows, stats) = detail_rows(
        b"\xEF\xBB\xBFeventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\r\n",
        1,
        DecodeOptions::default(),
    );
    assert!(rows.is_empty());
    assert!(!stats.empty_body);
}

const TOTAL: &str = "Event Name,Event Detail,Event total,HTMLCLIENT,WHATSAPP,Date\n\
\n\
Demo,,11,11,0,2023-04-19\n\
\n\
\"Réponse, \"\"oui\"\"\",yes,3,1,2,2023-04-19\n\
\n\
Bad,,5,1,1,2023-04-18\n";

#[test]
fn totals_pivot_to_long_form() {
    let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
    let r = rows(&mut dec, TOTAL.as_bytes(), 4);
    let day19 = time::parse_timestamp("2023-04-19T00:00:00Z").unwrap().to_string();
    assert_eq!(r[0], vec!["acc", "bot", "Demo", "∅", "HTMLCLIENT", "11", day19.as_str(), "daily"]);
    assert_eq!(r[1][2..6], ["Réponse, \"oui\"", "yes", "HTMLCLIENT", "1"]);
    assert_eq!(r[2][2..6], ["Réponse, \"oui\"", "yes", "WHATSAPP", "2"]);
    assert_eq!(r.len(), 5);
    assert_eq!(dec.stats().total_mismatches, 1);
}

#[test]
fn daily_totals_reject_hourly_periods_and_hours_that_disagree_with_the_date() {
    let body = "Event Name,Event Detail,Event total,SMS,Date,Hour\n\
                A,,1,1,2023-04-19,0\n\
                B,,2,2,2023-04-19,13\n\
                C,,3,3,2023-04-19 10:00,14\n";
    let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
    let r = rows(&mut dec, body.as_bytes(), 7);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0][2], "A");
    assert_rejects(
        &mut dec,
        &[
            (3, Some(6), "an hourly period (\"2023-04-19\") in a daily download: convert it with --interval hourly"),
            (4, Some(5), "date \"2023-04-19 10:00\" is not at hour \"14\""),
        ],
    );
    // The same rows as hourly: each at its hour, the disagreeing one still rejected.
    let mut dec = TotalDecoder::new(ctx(), Interval::Hourly, DecodeOptions::default());
    let r = rows(&mut dec, body.as_bytes(), 7);
    let thirteen = time::parse_timestamp("2023-04-19T13:00:00Z").unwrap().to_string();
    assert_eq!((r.len(), r[1][6].as_str(), r[1][7].as_str()), (2, thirteen.as_str(), "hourly"));
    assert_eq!(dec.take_rejects().len(), 1);
}

#[test]
fn totals_reject_negative_and_non_numeric_counts() {
    let body = "Event Name,Event Detail,Event total,SMS,Date\nA,,1,-1,2023-04-19\nB,,1,x,2023-04-19\nC,,1,1,someday\n";
    let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
    let r = rows(&mut dec, body.as_bytes(), 7);
    assert!(r.is_empty());
    assert_rejects(
        &mut dec,
        &[
            (2, Some(4), "negative count -1"),
            (3, Some(4), "not a count: \"x\""),
            (4, Some(5), "unparseable date \"someday\""),
        ],
    );
}

/// The decoder's rejects are `want`: line, column and reason of each.
fn assert_rejects(dec: &mut dyn BodyDecoder, want: &[(u64, Option<usize>, &str)]) {
    let rej = dec.take_rejects();
    let got: Vec<(u64, Option<usize>, &str)> = rej.iter().map(|r| (r.line, r.column, r.reason.as_str())).collect();
    assert_eq!(got, want);
}

#[test]
fn many_platforms_keep_their_values_until_the_dictionary_is_full() {
    let row = |i: usize| format!("\"e\",P{i},,,2023-04-19T14:59:16.158Z,\"c\",\n");
    // Forty platforms, past the ones looked up by a scan, each seen twice, in both decoders.
    let mut body = format!("{DETAIL_HEADER}\n");
    for i in (0..40).chain(0..40) {
        body.push_str(&row(i));
    }
    for parallel in [false, true] {
        let mut dec: Box<dyn BodyDecoder> = if parallel {
            Box::new(ParallelDetailDecoder::with_piece_bytes(ctx(), DecodeOptions::default(), 100))
        } else {
            Box::new(DetailDecoder::new(ctx(), DecodeOptions::default()))
        };
        let got = rows(dec.as_mut(), body.as_bytes(), 64);
        let platforms: Vec<&str> = got.iter().map(|r| r[3].as_str()).collect();
        let want: Vec<String> = (0..40).chain(0..40).map(|i| format!("P{i}")).collect();
        assert_eq!(platforms, want, "parallel: {parallel}");
        assert_eq!(dec.stats().unknown_platforms.len(), 40);
    }
    // One more distinct platform than an Int16 key can number.
    let mut body = format!("{DETAIL_HEADER}\n");
    for i in 0..=32_768 {
        body.push_str(&row(i));
    }
    let want = "line 32770, column 2: more distinct platform values than a Dictionary(Int16) holds";
    let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
    let err = decode(&mut dec, body.as_bytes(), 1 << 20).unwrap_err();
    assert_eq!(err.to_string(), want);
    // In pieces, each piece's decoder sees a few platforms only: the body's count is what fails.
    for (piece, chunk) in [(4096, 1 << 20), (100_000, 1 << 16), (1 << 20, 1 << 22)] {
        let mut dec = ParallelDetailDecoder::with_piece_bytes(ctx(), DecodeOptions::default(), piece);
        let err = decode(&mut dec, body.as_bytes(), chunk).unwrap_err();
        assert_eq!(err.to_string(), want, "pieces of {piece} bytes, pushes of {chunk}");
    }
    // As many as the keys hold is fine.
    let full = &body[..body.len() - row(32_768).len()];
    let mut dec = ParallelDetailDecoder::with_piece_bytes(ctx(), DecodeOptions::default(), 4096);
    assert_eq!(decode(&mut dec, full.as_bytes(), 1 << 20).unwrap(), 32_768);
    // Quoted line breaks (which upset the guessed record ends) among stray quotes inside unquoted
    // fields (which upset the quote parity too) hand the rest of the body to one
    // sequential decoder, which goes on counting from the platforms of the pieces before it.
    let mut body = format!("{DETAIL_HEADER}\n");
    for i in 0..=32_768 {
        if i >= 20_000 && i % 50 == 0 {
            body.push_str("\"e\",P0,a\"b,,2023-04-19T14:59:16.158Z,\"c\",\n");
        }
        if i < 20_000 {
            body.push_str(&row(i));
        } else {
            body.push_str(&format!("\"e\",P{i},\"two\nlines\",,2023-04-19T14:59:16.158Z,\"c\",\n"));
        }
    }
    let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
    let want = decode(&mut dec, body.as_bytes(), 1 << 20).unwrap_err().to_string();
    assert!(want.ends_with("column 2: more distinct platform values than a Dictionary(Int16) holds"), "{want}");
    let mut dec = ParallelDetailDecoder::with_piece_bytes(ctx(), DecodeOptions::default(), 4096);
    let err = decode(&mut dec, body.as_bytes(), 1 << 20).unwrap_err();
    assert_eq!(err.to_string(), want);
    assert!(dec.splits().sequential > 0, "{:?}", dec.splits());
}

/// Feeds `body` in chunks of `chunk` bytes and finishes; the first error, or the rows.
fn decode(dec: &mut dyn BodyDecoder, body: &[u8], chunk: usize) -> Result<usize, ConvertError> {
    let mut batches = Vec::new();
    decode_chunks(dec, body.chunks(chunk), &mut batches)?;
    Ok(batches.iter().map(RecordBatch::num_rows).sum())
}

/// Runs `body` through both decoders at several chunk sizes; each must give `want`.
fn both_fail_with(body: &[u8], want: &str) {
    for chunk in [1, 3, 7, 100, 1 << 20] {
        let mut d = DetailDecoder::new(ctx(), DecodeOptions::default());
        let mut t = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
        for dec in [&mut d as &mut dyn BodyDecoder, &mut t] {
            let err = decode(dec, body, chunk).unwrap_err();
            assert_eq!(err.to_string(), want, "chunk {chunk}");
        }
    }
}

#[test]
fn bodies_that_are_not_csv_say_what_they_look_like() {
    both_fail_with(
        b"\xEF\xBB\xBF\r\n<!DOCTYPE html>\r\n<html><body>502 Bad Gateway</body></html>\r\n",
        "line 2: not CSV, looks like an HTML page: starts with \"<!DOCTYPE html>\"",
    );
    both_fail_with(
        br#"{"success":false,"message":"Unauthorized"}"#,
        r#"line 1: not CSV, looks like JSON: starts with "{\"success\":false,\"message\":\"Unauthorized\"}""#,
    );
    both_fail_with(
        &[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, b'\n', 0x00],
        "line 1: not CSV, looks like gzip-compressed data (decompress it first): \
         starts with bytes 1f 8b 08 00 00 00 00 00 …",
    );
    both_fail_with(
        b"\0\0\0\0",
        "line 1: not CSV, looks like binary data (a NUL byte in the first line): starts with bytes 00 00 00 00",
    );
}

#[test]
fn what_a_body_looks_like_does_not_depend_on_its_chunking() {
    // Only the first non-blank line is looked at, however much of the body came in one push.
    both_fail_with(b"<a>\n<html>\n", "line 1: not CSV, looks like an XML document: starts with \"<a>\"");
    both_fail_with(
        b"\0\n\n",
        "line 1: not CSV, looks like binary data (a NUL byte in the first line): starts with bytes 00 0a",
    );
    // Binary data after blank lines: its own line, and its own bytes.
    both_fail_with(
        b"\r\n\n\0x\n",
        "line 3: not CSV, looks like binary data (a NUL byte in the first line): starts with bytes 00 78 0a",
    );
    // Found by fuzzing: "html" only on the second line.
    both_fail_with(
        b"<ht\x93\x93\xc1\xc9head><title>503 Service Temporarily Unavailable</title></head>\n\
          <body>try again later</body></html>\n",
        "line 1: not CSV, looks like an XML document: starts with \
         \"<ht\u{fffd}\u{fffd}\u{fffd}\u{fffd}head><title>503 Service Temporarily Unavailable</title></head>\"",
    );
}

/// The rejects of `body` decoded by `dec` in chunks of `chunk` bytes: (line, reason).
fn reject_lines(dec: &mut dyn BodyDecoder, body: &[u8], chunk: usize) -> Vec<(u64, String)> {
    decode(dec, body, chunk).unwrap();
    dec.take_rejects().into_iter().map(|r| (r.line, r.reason)).collect()
}

#[test]
fn a_bare_cr_ends_a_line_for_the_line_numbers() {
    for chunk in [1, 2, 3, 7, 100, 1 << 20] {
        let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
        let got = reject_lines(&mut dec, b"eventName,platform,eventCreationTime,conversationId\rx\r", chunk);
        assert_eq!(got, vec![(2, "expected 4 fields, found 1".to_string())], "chunk {chunk}");
        let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
        let got = reject_lines(&mut dec, b"Event Name,Date\rx\r", chunk);
        assert_eq!(got, vec![(2, "expected 2 fields, found 1".to_string())], "chunk {chunk}");
        // Mixed line ends, blank lines of each kind, a CRLF that may be split between pushes.
        let body = b"Event Name,Date\r\n\rx\r\n\r\ny\n\nz\r\r\n";
        let mut dec = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
        let got: Vec<u64> = reject_lines(&mut dec, body, chunk).into_iter().map(|r| r.0).collect();
        assert_eq!(got, vec![3, 5, 7], "chunk {chunk}");
    }
}

#[test]
fn a_record_cap_below_4_kib_is_honoured() {
    let opts = DecodeOptions { max_record_bytes: 100, ..DecodeOptions::default() };
    let long = format!("{DETAIL_HEADER}\n\"{}\",SMS,,,2023-04-19T00:00:00Z,c,\n", "x".repeat(100));
    for chunk in [1, 7, 1 << 20] {
        let mut dec = DetailDecoder::new(ctx(), opts.clone());
        let err = decode(&mut dec, long.as_bytes(), chunk).unwrap_err();
        assert_eq!(err.to_string(), "line 2: record longer than 100 bytes (unterminated quote?)", "chunk {chunk}");
    }
    // The header is a record too.
    let mut dec = DetailDecoder::new(ctx(), opts);
    let err = decode(&mut dec, format!("{DETAIL_HEADER},{}\n", "y".repeat(30)).as_bytes(), 3).unwrap_err();
    assert_eq!(err, ConvertError::RecordTooLong { line: 1, limit: 100 });
}

#[test]
fn a_quote_open_at_the_end_is_an_error_naming_its_record_and_column() {
    let body =
        format!("{DETAIL_HEADER}\n\"a\",SMS,,,2023-04-19T00:00:00Z,c,\n\"b\",SMS,\"open,,2023-04-19T00:00:00Z,c,\nx\n");
    for chunk in [1, 3, 7, 100, 1 << 20] {
        let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
        let err = decode(&mut dec, body.as_bytes(), chunk).unwrap_err();
        assert_eq!(err, ConvertError::UnterminatedQuote { line: 3, column: 3 }, "chunk {chunk}");
        assert_eq!(err.to_string(), "line 3, column 3: quoted field not closed at the end of the input");
    }
    // A quote closed by the last byte, no newline after it, is fine.
    let body = format!("{DETAIL_HEADER}\n\"a\",SMS,,,2023-04-19T00:00:00Z,c,\"t\"");
    for chunk in [1, 2, 100] {
        let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
        assert_eq!(decode(&mut dec, body.as_bytes(), chunk), Ok(1), "chunk {chunk}");
    }
}

#[test]
fn nul_bytes_invalid_utf8_and_out_of_range_times_reject_their_row() {
    // Row 3 is Latin-1 where it says café.
    let rows: &[u8] = b"\na,SMS,x\0y,,2023-04-19T00:00:00Z,c,\n\
        b,SMS,,caf\xe9,2023-04-19T00:00:00Z,c,\n\
        c,SMS,,,0000-01-01T00:00:00Z,c,\n\
        d,SMS,,,9999-12-31T23:59:59.999999Z,c,\n";
    let body = [DETAIL_HEADER.as_bytes(), rows].concat();
    let mut dec = DetailDecoder::new(ctx(), DecodeOptions::default());
    assert_eq!(decode(&mut dec, &body, 5), Ok(1));
    let got: Vec<(u64, Option<usize>, String)> =
        dec.take_rejects().into_iter().map(|r| (r.line, r.column, r.reason)).collect();
    assert_eq!(
        got,
        vec![
            (2, Some(3), "NUL byte at byte 2 of the field".to_string()),
            (3, Some(4), "invalid UTF-8: byte 0xe9 at byte 4 of the field".to_string()),
            (
                4,
                Some(5),
                "timestamp out of range \"0000-01-01T00:00:00Z\" (accepted: 0001-01-01 to 9999-12-31 UTC)".to_string()
            ),
        ]
    );
}

#[test]
fn totals_blame_the_hour_column_for_a_bad_hour() {
    let body = "Event Name,Event Detail,Event total,SMS,Date,Hour\n\
                A,,1,1,2023-04-19,24\n\
                B,,1,1,0000-12-31,1\n\
                C,,1,1,2023-04-19,23\n";
    let mut dec = TotalDecoder::new(ctx(), Interval::Hourly, DecodeOptions::default());
    let r = rows(&mut dec, body.as_bytes(), 3);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0][6], time::parse_timestamp("2023-04-19T23:00:00Z").unwrap().to_string());
    let got: Vec<(u64, Option<usize>, Option<String>, String)> =
        dec.take_rejects().into_iter().map(|r| (r.line, r.column, r.column_name, r.reason)).collect();
    assert_eq!(
        got,
        vec![
            (2, Some(6), Some("Hour".into()), "not a time of day: \"24\"".into()),
            (
                3,
                Some(5),
                Some("Date".into()),
                "date out of range \"0000-12-31\" (accepted: 0001-01-01 to 9999-12-31 UTC)".into()
            ),
        ]
    );
}

proptest! {
    /// Any chunking of the same body gives the same rows, batch size notwithstanding.
    #[test]
    fn any_chunking_gives_the_same_rows(chunk in 1usize..300, batch in 1usize..5) {
        let opts = DecodeOptions { batch_size: batch, ..DecodeOptions::default() };
        let (want, _) = detail_rows(DETAIL.as_bytes(), 1 << 20, DecodeOptions::default());
        let (got, _) = detail_rows(DETAIL.as_bytes(), chunk, opts.clone());
        prop_assert_eq!(got, want);
        let mut a = TotalDecoder::new(ctx(), Interval::Daily, DecodeOptions::default());
        let want = rows(&mut a, TOTAL.as_bytes(), 1 << 20);
        let mut b = TotalDecoder::new(ctx(), Interval::Daily, opts);
        let got = rows(&mut b, TOTAL.as_bytes(), chunk);
        prop_assert_eq!(got, want);
    }
}

/// Fields for generated detail bodies: quoting of every kind, line breaks inside quotes, a stray
/// quote in an unquoted field, bad UTF-8, NULs, good and bad times, a quote never closed.
const FIELDS: &[&[u8]] = &[
    b"\"Question answered? - j\"",
    b"HTMLCLIENT",
    b"SMS",
    b"\"a, b\"",
    b"\"q\"\"q\"",
    b"\"two\nlines\"",
    b"\"crlf\r\nin, \"\"it\"\"\"",
    b"",
    b"plain",
    b"2023-04-18T23:59:59.999Z",
    b"\"2023-04-19T14:59:16.158Z\"",
    b"2023-13-99",
    b"stray\"quote",
    b"\"\xff\xfe\"",
    b"\"nul\0\"",
    b"\"\"",
    b"\xc3\xa9t\xc3\xa9",
    b"\"\xf0\x9f\x9a\x9a\n\"",
    b"\"unterminated",
];
const ENDS: &[&[u8]] = &[b"\n", b"\n", b"\n", b"\r\n", b"\n\n", b"\r", b"\r\n\r\n"];
const HEADS: &[&[u8]] = &[
    b"eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle",
    b"\xEF\xBB\xBF\r\neventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle",
    b"conversationId,eventCreationTime,extra,platform,eventName,eventDetails,userText",
    b"eventName,platform",
    b"{\"success\":false}",
];

/// A generated detail body: a header, then records of 6 to 8 fields (the fifth a valid time when
/// asked), each followed by a line ending.
fn generated_body(head: usize, records: &[(Vec<usize>, bool, usize)]) -> Vec<u8> {
    let mut body = HEADS[head].to_vec();
    body.extend_from_slice(ENDS[records.len() % ENDS.len()]);
    for (fields, good_time, end) in records {
        for (i, &f) in fields.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            let field = if i == 4 && *good_time { b"2023-04-19T14:59:16.158Z" } else { FIELDS[f] };
            body.extend_from_slice(field);
        }
        body.extend_from_slice(ENDS[*end]);
    }
    body
}

/// Everything a decoder says about a body: the rows, counters and rejects, or the error.
type Outcome = Result<(Vec<Vec<String>>, DecodeStats, Vec<Reject>), ConvertError>;

fn outcome(dec: &mut dyn BodyDecoder, body: &[u8], chunk: usize) -> Outcome {
    let mut batches = Vec::new();
    decode_chunks(dec, body.chunks(chunk), &mut batches)?;
    let mut rows = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .map(|c| if c.is_null(r) { "∅".to_string() } else { arrow_cast_display(c.as_ref(), r) })
                    .collect(),
            );
        }
    }
    Ok((rows, dec.stats().clone(), dec.take_rejects()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    /// Decoding pieces in parallel, in any chunking and with pieces of any size, says exactly
    /// what one sequential decoder says: rows, counters, rejects with their lines, or the error.
    #[test]
    fn parallel_decoding_says_what_sequential_decoding_says(
        head in 0..HEADS.len(),
        records in prop::collection::vec(
            (prop::collection::vec(0..FIELDS.len(), 6..=8), prop::bool::weighted(0.8), 0..ENDS.len()),
            0..40,
        ),
        chunk in 1usize..400,
        piece in 1usize..300,
        batch in 1usize..6,
        max_record in prop::sample::select(vec![40usize, DEFAULT_MAX_RECORD_BYTES]),
    ) {
        let body = generated_body(head, &records);
        let opts = DecodeOptions { batch_size: batch, max_record_bytes: max_record, ..DecodeOptions::default() };
        let want = outcome(&mut DetailDecoder::new(ctx(), opts.clone()), &body, body.len().max(1));
        let got = outcome(&mut ParallelDetailDecoder::with_piece_bytes(ctx(), opts, piece), &body, chunk);
        prop_assert_eq!(got, want, "body {:?}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn parallel_decoding_of_a_large_body_uses_pieces_and_keeps_lines() {
    // Many records with quoted line breaks, one bad row near the end: its line must be exact
    // although it was found by a decoder that started far into the body.
    let mut body = DETAIL_HEADER.as_bytes().to_vec();
    body.push(b'\n');
    let n = 5000;
    for i in 0..n {
        let time = if i == n - 3 { "never" } else { "2023-04-19T14:59:16.158Z" };
        body.extend_from_slice(format!("\"e{i}\",SMS,\"a\nb\",\"c\",{time},\"x\",\n").as_bytes());
    }
    let want = outcome(&mut DetailDecoder::new(ctx(), DecodeOptions::default()), &body, body.len());
    let mut dec = ParallelDetailDecoder::with_piece_bytes(ctx(), DecodeOptions::default(), 4096);
    let got = outcome(&mut dec, &body, 65536);
    assert_eq!(got, want);
    let (rows, _, rejects) = got.unwrap();
    assert_eq!(rows.len(), n - 1);
    assert_eq!(rejects.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2 + 2 * (n as u64 - 3)]);
    // Half the line breaks are inside quotes: guessed ends fall inside fields, and the pushes
    // where they do are split again by quote parity, still in pieces.
    let splits = dec.splits();
    assert!(splits.pieces > 50, "{splits:?}");
    assert!(splits.missed > 0, "{splits:?}");
    assert_eq!(splits.sequential, 0, "{splits:?}");
}

#[test]
fn plain_records_are_split_at_guessed_ends() {
    let mut body = DETAIL_HEADER.as_bytes().to_vec();
    body.push(b'\n');
    for i in 0..5000 {
        body.extend_from_slice(format!("\"e{i}\",SMS,\"a, b\",c,2023-04-19T14:59:16.158Z,\"x\",\n").as_bytes());
    }
    let want = outcome(&mut DetailDecoder::new(ctx(), DecodeOptions::default()), &body, body.len());
    let mut dec = ParallelDetailDecoder::with_piece_bytes(ctx(), DecodeOptions::default(), 4096);
    assert_eq!(outcome(&mut dec, &body, 65536), want);
    let splits = dec.splits();
    assert!(splits.pieces > 50, "{splits:?}");
    assert_eq!((splits.missed, splits.sequential), (0, 0), "{splits:?}");
}

#[test]
fn repeated_text_is_the_value_in_every_row() {
    for (value, n) in [("acc", 3), ("", 4), ("é-1", 1), ("x", 0)] {
        let got = repeated_text("account_id", value, n).unwrap();
        let want = StringArray::from_iter_values(std::iter::repeat_n(value, n));
        assert_eq!(got, want, "{value:?} × {n}");
        assert_eq!(got.null_count(), 0);
        assert!(got.nulls().is_none(), "no validity buffer, as before");
    }
    // Offsets past i32: an error that says so, not a panic.
    let err = repeated_text("account_id", "0123456789", 300_000_000).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("column account_id: 300000000 rows of a 10-byte value"), "{text}");
    assert!(std::error::Error::source(&err).is_some(), "Arrow's error is kept as the source");
}
