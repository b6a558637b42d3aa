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
fn a_quoted_field_open_at_the_end_is_an_error_and_a_closed_one_is_not() {
    for size in [1, 2, 5, 100] {
        let mut rr = RecordReader::new();
        let body = b"a,b\n1,\"x\ny\n\n";
        let mut n = 0;
        let mut count = |_r: &Record<'_>| {
            n += 1;
            Ok(())
        };
        for c in body.chunks(size) {
            rr.push(c, &mut count).unwrap();
        }
        let err = rr.finish(&mut count).unwrap_err();
        assert_eq!(err, ConvertError::UnterminatedQuote { line: 2, column: 2 }, "chunk size {size}");
        assert_eq!(n, 1, "only the header was complete");
    }
    let mut rr = RecordReader::new();
    let body = b"a,b\n1,\"x\ny\"";
    assert_eq!(collect(&[body]), vec![(1, vec!["a".into(), "b".into()]), (2, vec!["1".into(), "x\ny".into()])]);
    rr.push(body, &mut |_r: &Record<'_>| Ok(())).unwrap();
    rr.finish(&mut |_r: &Record<'_>| Ok(())).unwrap();
    assert_eq!(rr.line(), 3, "the end of input adds no line");
}

#[test]
fn a_body_that_is_not_csv_is_refused_before_any_record() {
    for size in [1, 3, 100] {
        let mut rr = RecordReader::new();
        let body = b"\xEF\xBB\xBF\n\n{\"error\": \"quota\"}\n";
        let mut res = Ok(());
        for c in body.chunks(size) {
            res = rr.push(c, &mut |_r: &Record<'_>| panic!("no record of a JSON body"));
            if res.is_err() {
                break;
            }
        }
        let res = res.and_then(|()| rr.finish(&mut |_r: &Record<'_>| panic!("no record of a JSON body")));
        let want =
            ConvertError::WrongFormat { line: 3, looks_like: "JSON", start: r#""{\"error\": \"quota\"}""#.into() };
        assert_eq!(res, Err(want), "chunk size {size}");
    }
}

/// `body` whole and in chunks of 1, 2, 3, 7 and 100 bytes: each must give `want`.
fn check_chunkings(body: &[u8], want: &[(u64, Vec<String>)]) {
    assert_eq!(collect(&[body]), want, "whole");
    for size in [1, 2, 3, 7, 100] {
        let chunks: Vec<&[u8]> = body.chunks(size).collect();
        assert_eq!(collect(&chunks), want, "chunk size {size}");
    }
}

fn rec(line: u64, fields: &[&str]) -> (u64, Vec<String>) {
    (line, fields.iter().map(|f| f.to_string()).collect())
}

#[test]
fn a_bare_cr_ends_a_line_and_a_crlf_is_one_break_in_any_chunking() {
    // Old Mac line ends, a blank CR line, CRLF, a blank CRLF line, no terminator at the end.
    check_chunkings(
        b"a,b\rx,y\r\rz\r\n\r\nw",
        &[rec(1, &["a", "b"]), rec(2, &["x", "y"]), rec(4, &["z"]), rec(6, &["w"])],
    );
    // Line ends inside a quoted field count too, as `\n` does: the record after starts lower.
    check_chunkings(
        b"h\r\"x\ry\r\nz\"\r\nb\r\r\n\nc",
        &[rec(1, &["h"]), rec(2, &["x\ry\r\nz"]), rec(5, &["b"]), rec(8, &["c"])],
    );
    // A CRLF split between pushes is one break, whichever side the blank lines are on.
    assert_eq!(collect(&[b"a\r", b"\nb\r", b"\r\n", b"\nc"]), vec![rec(1, &["a"]), rec(2, &["b"]), rec(5, &["c"])]);
}

#[test]
fn the_line_count_ignores_the_terminator_finish_adds() {
    for body in [&b"a\r\"x\""[..], b"a\r\n\"x\"", b"a\n\"x\r\""] {
        for size in [1, 2, 100] {
            let mut rr = RecordReader::new();
            for c in body.chunks(size) {
                rr.push(c, &mut |_r: &Record<'_>| Ok(())).unwrap();
            }
            rr.finish(&mut |_r: &Record<'_>| Ok(())).unwrap();
            let want = if body.ends_with(b"\r\"") { 3 } else { 2 };
            assert_eq!(rr.line(), want, "{body:?} in chunks of {size}");
        }
    }
}

#[test]
fn the_record_cap_is_exact_also_below_the_initial_buffer() {
    // 10 bytes of fields (quotes and separators aside) pass a cap of 10; 11 do not, however the
    // body is chunked and whether or not the record is terminated.
    for (body, ok) in [
        (&b"h\n0123456789\n"[..], true),
        (b"h\n0123456789", true),
        (b"h\n\"01234\",\"\"\"\"567\"\n", true),
        (b"h\n0123456789a\n", false),
        (b"h\n0123456789a", false),
        (b"h\n\"01234\",\"\"\"\"5678\"", false),
    ] {
        for size in [1, 3, 100] {
            let mut rr = RecordReader::new();
            rr.max_record_bytes = 10;
            let mut records = 0;
            let mut count = |_r: &Record<'_>| {
                records += 1;
                Ok(())
            };
            let res = body.chunks(size).try_for_each(|c| rr.push(c, &mut count)).and_then(|()| rr.finish(&mut count));
            if ok {
                assert_eq!((res, records), (Ok(()), 2), "{body:?} in chunks of {size}");
            } else {
                assert_eq!(
                    res,
                    Err(ConvertError::RecordTooLong { line: 2, limit: 10 }),
                    "{body:?} in chunks of {size}"
                );
            }
        }
    }
}

type OwnedFields = Vec<Vec<u8>>;

/// Everything a reader makes of `body` pushed in `chunk`-byte pieces: the records with their
/// lines, then the line after the end, or the error.
fn read_all(body: &[u8], chunk: usize, max: usize, fast: bool) -> (Vec<(u64, OwnedFields)>, Result<u64, ConvertError>) {
    let mut rr = RecordReader::new();
    rr.max_record_bytes = max;
    rr.fast = fast;
    let mut out = Vec::new();
    let mut f = |r: &Record<'_>| {
        out.push((r.line, (0..r.len()).map(|i| r.get(i).unwrap().to_vec()).collect()));
        Ok(())
    };
    let res = body.chunks(chunk).try_for_each(|c| rr.push(c, &mut f)).and_then(|()| rr.finish(&mut f));
    (out, res.map(|()| rr.line()))
}

#[test]
fn the_fast_path_splits_plain_records_and_leaves_the_rest_to_csv_core() {
    let body = b"h,i\n\"a,\"\"b\"\"\",\"x\r\ny\rz\n\"\r\n\n,\n\"\"\"\"\n\"q\"r,s\nt\"u,v\nw\rx\n";
    let (fast, end) = read_all(body, body.len(), 100, true);
    let (slow, slow_end) = read_all(body, body.len(), 100, false);
    assert_eq!((&fast, &end), (&slow, &slow_end));
    let fields = |r: &[&str]| r.iter().map(|f| f.as_bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(
        fast,
        vec![
            (1, fields(&["h", "i"])),
            (2, fields(&["a,\"b\"", "x\r\ny\rz\n"])),
            (7, fields(&["", ""])),
            (8, fields(&["\""])),
            (9, fields(&["qr", "s"])),
            (10, fields(&["t\"u", "v"])),
            (11, fields(&["w"])),
            (12, fields(&["x"])),
        ]
    );
    assert_eq!(end, Ok(13));
}

#[test]
fn plain_records_take_the_fast_path_whatever_their_length() {
    // Fields of every length up to 150 bytes, quoted or not, with doubled quotes, line breaks
    // inside quotes, and `\n` or `\r\n` line ends: all plain, so none may go to `csv_core`.
    let mut body = b"h1,h2,h3\n".to_vec();
    let mut records = 0;
    for len in 0..150 {
        let text = "x".repeat(len);
        let end = if len % 2 == 0 { "\n" } else { "\r\n" };
        let line = match len % 4 {
            0 => format!("{text},\"{text}\",{len}{end}"),
            1 => format!("\"{text}\"\"q\"\"\",,\"a\nb{text}\"{end}"),
            2 => format!("\"\",\"{text}\r\n{text}\",\"\"{end}"),
            _ => format!("{text}{text},{text},\"{text},{text}\"{end}"),
        };
        body.extend_from_slice(line.as_bytes());
        records += 1;
    }
    let mut rr = RecordReader::new();
    let mut seen = 0;
    rr.push(&body, &mut |_r: &Record<'_>| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    // Every record, the header's too.
    assert_eq!(seen, records + 1);
    assert_eq!(rr.fast_records, records + 1);
    let (fast, end) = read_all(&body, 100, 1 << 20, true);
    assert_eq!((fast, end), read_all(&body, 100, 1 << 20, false));
}

#[test]
fn special_masks_mark_exactly_the_special_bytes() {
    // Every byte value at every place of a block, among bytes that are not special.
    for b in 0..=u8::MAX {
        for k in 0..64 {
            let mut block = [b'a'; 64];
            block[k] = b;
            assert_eq!(special_mask_64(&block), u64::from(special(b)) << k, "byte {b:#04x} at {k}");
        }
    }
    // Blocks of any mix, and the short block at the end of a push.
    let data: Vec<u8> = (0..1000u32).map(|i| b"a,\"\n\r\xff\x80b"[(i * 7 + i / 3) as usize % 8]).collect();
    for len in [0, 1, 63, 64, 65, 130, 1000] {
        for block in (0..len).step_by(64) {
            let want =
                data[block..len].iter().take(64).enumerate().fold(0u64, |m, (k, &b)| m | (u64::from(special(b)) << k));
            assert_eq!(special_mask(&data[..len], block), want, "{len} bytes, block at {block}");
        }
    }
}

#[test]
fn a_bom_is_dropped_once_at_the_start_of_the_body_and_kept_anywhere_else() {
    const B: &str = "\u{feff}";
    let fields = |r: &[&str]| r.iter().map(|f| f.as_bytes().to_vec()).collect::<OwnedFields>();
    // A BOM at the start of later records: one that the fast path splits, a quoted one, and
    // one that only `csv_core` splits (a quote in an unquoted field).
    let body = format!("{B}h,h\na,b\n{B}c,d\n\"{B}q\"\"\",e\n{B}x\"y,z\n");
    let want = vec![
        (1, fields(&["h", "h"])),
        (2, fields(&["a", "b"])),
        (3, fields(&[&format!("{B}c"), "d"])),
        (4, fields(&[&format!("{B}q\""), "e"])),
        (5, fields(&[&format!("{B}x\"y"), "z"])),
    ];
    // Two BOMs at the start: the second is data.
    let twice = format!("{B}{B}h,h\n1,2\n");
    let want_twice = vec![(1, fields(&[&format!("{B}h"), "h"])), (2, fields(&["1", "2"]))];
    for (body, want) in [(body.as_bytes(), &want), (twice.as_bytes(), &want_twice)] {
        for chunk in 1..=body.len() {
            for fast in [true, false] {
                let (got, end) = read_all(body, chunk, 100, fast);
                assert_eq!((&got, end), (want, Ok(want.len() as u64 + 1)), "chunks of {chunk}, fast {fast}");
            }
        }
    }
    // A reader resumed in the middle of a body, as for a piece decoded on its own.
    for fast in [true, false] {
        let mut rr = RecordReader::resume_at_record_start(9, 100);
        rr.fast = fast;
        let mut got = Vec::new();
        let mut f = |r: &Record<'_>| {
            got.push((r.line, (0..r.len()).map(|i| r.get(i).unwrap().to_vec()).collect::<OwnedFields>()));
            Ok(())
        };
        let piece = format!("{B}x\"y,z\n{B}c,d\n");
        rr.push(piece.as_bytes(), &mut f).and_then(|()| rr.finish(&mut f)).unwrap();
        assert_eq!(got, vec![(10, fields(&[&format!("{B}x\"y"), "z"])), (11, fields(&[&format!("{B}c"), "d"]))]);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 2048, ..Default::default() })]

    /// Whatever the bytes, the chunking and the record cap, the fast path changes nothing:
    /// records, lines and errors are those of `csv_core` alone.
    #[test]
    fn the_fast_path_says_what_csv_core_says(
        body in proptest::collection::vec(
            proptest::sample::select(&b"ab,,\"\"\"\n\n\r"[..]), 0..200),
        chunk in 1usize..64,
        max in 1usize..40,
    ) {
        let mut body = body;
        // A header line, so that the body is not refused as something other than CSV.
        body.splice(0..0, *b"h,h\n");
        proptest::prop_assert_eq!(read_all(&body, chunk, max, true), read_all(&body, chunk, max, false));
    }

    /// The same with long records and fields, as the vendor's are.
    #[test]
    fn the_fast_path_says_what_csv_core_says_across_blocks(
        tokens in proptest::collection::vec(proptest::sample::select(&[
            "a", "bcdefghijklmnopqrstuvwxyz0123456789", ",", "\"", "\"\"", "\n", "\r", "\r\n",
            "\",\"", "\"\n", ",\"", "\u{feff}", "é",
        ][..]), 0..300),
        chunk in 1usize..400,
        max in 1usize..2000,
    ) {
        let mut body = b"h,h\n".to_vec();
        body.extend(tokens.concat().bytes());
        proptest::prop_assert_eq!(read_all(&body, chunk, max, true), read_all(&body, chunk, max, false));
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
