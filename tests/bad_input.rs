//! The bad-input corpus: every file under `tests/data/bad/` goes through the real
//! `botevents convert`, and the outcome must be exactly the one `tests/data/bad/cases.toml` states —
//! exit status, error line, warnings, the rejects files line by line, the files at the
//! destination and every row in them (read back with the `parquet` crate).
//!
//! Adding a case is one file in the folder and one `[[case]]` entry in the manifest; the manifest
//! documents its own keys. Cases whose input is too big to commit are generated at test time
//! (`generate`).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int16Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use botevents::schema::Table;
use chrono::{DateTime, SecondsFormat};
use serde::Deserialize;

mod common;

const ACCOUNT: &str = "12345678";
const BOT: &str = "bot-x";
const MANIFEST: &str = "cases.toml";
const MIN_CASES: usize = 30;
/// How a null cell is written in the manifest's `rows`.
const NULL: &str = "∅";
/// Replaced, in an expected cell, by the generated repeat of a `generate` case.
const GENERATED: &str = "{generated}";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    case: Vec<Case>,
}

/// One case; see the head of `cases.toml` for what each key means.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    about: String,
    table: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    max_bad_rows: Option<u64>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    generate: Option<Generate>,
    #[serde(default)]
    before: Vec<String>,
    exit: i32,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    rejects: Vec<RejectLine>,
    #[serde(default)]
    parquet: Vec<String>,
    #[serde(default)]
    rows: Vec<Vec<String>>,
}

/// An input written at test time: `prefix`, then `repeat` `times` times, then `suffix`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generate {
    file: String,
    prefix: String,
    repeat: String,
    times: usize,
    suffix: String,
}

/// One line of a rejects file, every key of it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectLine {
    file: String,
    line: u64,
    #[serde(default)]
    column: Option<usize>,
    #[serde(default)]
    column_name: Option<String>,
    reason: String,
    record: String,
}

impl Case {
    fn table(&self) -> Table {
        match self.table.as_str() {
            "detail" => Table::Detail,
            "total" => Table::Total,
            other => panic!("case {}: unknown table {other:?}", self.name),
        }
    }

    /// Every input of the main run: the committed files, then the generated one.
    fn inputs(&self) -> Vec<String> {
        let mut all = self.files.clone();
        all.extend(self.generate.iter().map(|g| g.file.clone()));
        all
    }
}

fn load() -> Manifest {
    let text = std::fs::read_to_string(corpus().join(MANIFEST)).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{MANIFEST}: {e}"))
}

/// `botevents convert` of `files` (names inside `input_dir`), run from there so that messages
/// and rejects name the files exactly as given.
fn convert(case: &Case, input_dir: &Path, dest: &Path, files: &[String], max_bad_rows: Option<u64>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botevents"));
    cmd.args(["convert", "--table", &case.table, "--account", ACCOUNT, "--bot", BOT]).arg("--dest").arg(dest);
    if let Some(i) = &case.interval {
        cmd.args(["--interval", i]);
    }
    if let Some(n) = max_bad_rows {
        cmd.args(["--max-bad-rows", &n.to_string()]);
    }
    cmd.args(files)
        .current_dir(input_dir)
        .env_clear()
        .env("BOTEVENTS_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `botevents convert --table detail` of `inputs` into `dest`.
fn convert_detail(dest: &Path, inputs: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_botevents"))
        .args(["convert", "--table", "detail", "--account", ACCOUNT, "--bot", BOT])
        .arg("--dest")
        .arg(dest)
        .args(inputs)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every file under `dir`, by its `/`-separated path relative to `dir`, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().components();
                let rel: Vec<String> = rel.map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                out.insert(rel.join("/"), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Reads a Parquet file through `object_store`, as the project reads every file.
fn read(rt: &tokio::runtime::Runtime, path: &Path) -> Vec<RecordBatch> {
    rt.block_on(common::read_parquet(path))
}

/// One cell as the manifest writes it: strings as they are, nulls as [`NULL`], counts in decimal,
/// timestamps in RFC 3339 (UTC, only the fraction digits needed).
fn cell(a: &dyn Array, i: usize) -> String {
    if a.is_null(i) {
        return NULL.to_string();
    }
    if let Some(d) = a.as_dictionary_opt::<Int16Type>() {
        return d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string();
    }
    if let Some(d) = a.as_dictionary_opt::<Int8Type>() {
        return d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string();
    }
    if let Some(t) = a.as_primitive_opt::<TimestampMicrosecondType>() {
        let t = DateTime::from_timestamp_micros(t.value(i)).unwrap();
        return t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    }
    if let Some(n) = a.as_primitive_opt::<Int64Type>() {
        return n.value(i).to_string();
    }
    a.as_string::<i32>().value(i).to_string()
}

/// The rows of the data files in path order, without the account and bot columns (checked to be
/// the ones given).
fn rows(rt: &tokio::runtime::Runtime, table: Table, dest: &Path, files: &[&String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        for b in read(rt, &dest.join(f)) {
            assert_eq!(b.schema().as_ref(), table.schema().as_ref(), "{f}: schema");
            for i in 0..b.num_rows() {
                let row: Vec<String> = b.columns().iter().map(|c| cell(c.as_ref(), i)).collect();
                assert_eq!(row[..2], [ACCOUNT, BOT], "{f}: row {i}: account and bot");
                out.push(row[2..].to_vec());
            }
        }
    }
    out
}

fn rejects_path(table: Table, file: &str) -> String {
    format!("_botevents/rejects/{}/{ACCOUNT}/{BOT}/convert-{file}.jsonl", table.name())
}

fn run_case(rt: &tokio::runtime::Runtime, case: &Case) {
    let name = &case.name;
    let table = case.table();
    let work = tempfile::tempdir().unwrap();
    let input_dir = work.path().join("in");
    let dest = work.path().join("dest");
    std::fs::create_dir_all(&input_dir).unwrap();
    for f in case.files.iter().chain(&case.before) {
        std::fs::copy(corpus().join(f), input_dir.join(f)).unwrap_or_else(|e| panic!("{name}: {f}: {e}"));
    }
    let mut generated = String::new();
    if let Some(g) = &case.generate {
        generated = g.repeat.repeat(g.times);
        std::fs::write(input_dir.join(&g.file), [g.prefix.as_str(), &generated, &g.suffix].concat()).unwrap();
    }

    // A run before the case, whose files the case must leave byte for byte as they were.
    let mut kept = BTreeMap::new();
    if !case.before.is_empty() {
        let o = convert(case, &input_dir, &dest, &case.before, None);
        assert_eq!(o.status.code(), Some(0), "{name}: the run before: {}", String::from_utf8_lossy(&o.stderr));
        kept = tree(&dest);
        assert!(!kept.is_empty(), "{name}: the run before wrote nothing");
    }

    let o = convert(case, &input_dir, &dest, &case.inputs(), case.max_bad_rows);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(case.exit), "{name}: exit status; stderr:\n{stderr}");

    let last = stderr.lines().last().unwrap_or_default();
    match &case.error {
        Some(e) => assert_eq!(last, format!("botevents: {e}"), "{name}: error line; stderr:\n{stderr}"),
        None => assert!(!stderr.contains("  error: "), "{name}: unexpected error; stderr:\n{stderr}"),
    }
    assert_eq!(case.exit == 0, case.error.is_none(), "{name}: a failing case states its error, a passing one none");
    let warnings: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("  warning: ")).collect();
    assert_eq!(warnings, case.warnings, "{name}: warnings; stderr:\n{stderr}");

    // Nothing at the destination but the expected data files and rejects files.
    let files = tree(&dest);
    let want_rejects: BTreeSet<String> = case.rejects.iter().map(|r| rejects_path(table, &r.file)).collect();
    let want: BTreeSet<String> = case.parquet.iter().cloned().chain(want_rejects.iter().cloned()).collect();
    let got: BTreeSet<String> = files.keys().cloned().collect();
    assert_eq!(got, want, "{name}: files at the destination");

    // The rejects files, line by line and key by key.
    let mut got_rejects = Vec::new();
    for path in &want_rejects {
        for line in String::from_utf8(files[path].clone()).unwrap().lines() {
            let r: RejectLine = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: {path}: {e}: {line}"));
            assert_eq!(&rejects_path(table, &r.file), path, "{name}: a reject of {} in {path}", r.file);
            got_rejects.push(r);
        }
    }
    assert_eq!(got_rejects, case.rejects, "{name}: rejects");

    // The files of the run before are untouched, and still readable.
    for (path, bytes) in &kept {
        assert!(files.get(path) == Some(bytes), "{name}: {path} changed or vanished after a failed run");
    }

    let parquet: Vec<&String> = case.parquet.iter().collect();
    let got_rows = rows(rt, table, &dest, &parquet);
    let want_rows: Vec<Vec<String>> =
        case.rows.iter().map(|r| r.iter().map(|c| c.replace(GENERATED, &generated)).collect()).collect();
    if got_rows != want_rows {
        // Shorten the generated value, for a readable failure.
        let short = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
            let cut =
                |c: &String| if c.len() > 200 { format!("{}… ({} bytes)", &c[..200], c.len()) } else { c.clone() };
            rows.iter().map(|r| r.iter().map(cut).collect()).collect()
        };
        panic!("{name}: rows\n got: {:#?}\nwant: {:#?}", short(&got_rows), short(&want_rows));
    }
}

/// The manifest covers the folder: every file is some case's input, every input exists, names are
/// unique, and there are enough cases.
#[test]
fn manifest_lists_every_file_of_the_corpus() {
    let m = load();
    assert!(m.case.len() >= MIN_CASES, "{} cases, fewer than {MIN_CASES}", m.case.len());
    let mut names = BTreeSet::new();
    let mut used = BTreeSet::new();
    for c in &m.case {
        assert!(names.insert(c.name.as_str()), "case {} appears twice", c.name);
        assert!(!c.about.trim().is_empty(), "case {} says nothing about itself", c.name);
        assert!(!c.inputs().is_empty(), "case {} has no input", c.name);
        used.extend(c.files.iter().chain(&c.before).map(String::as_str));
        if let Some(g) = &c.generate {
            assert!(!corpus().join(&g.file).exists(), "case {}: {} is generated, not committed", c.name, g.file);
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f != MANIFEST)
        .collect();
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(on_disk, used, "files of tests/data/bad vs the inputs the manifest names");
}

/// Every case of the manifest, run for real. All cases run; the failures are listed at the end.
#[test]
fn bad_inputs_have_their_exact_outcome() {
    let m = load();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut failed = Vec::new();
    for case in &m.case {
        if catch_unwind(AssertUnwindSafe(|| run_case(&rt, case))).is_err() {
            failed.push(format!("{} ({})", case.name, case.about));
        }
    }
    assert!(failed.is_empty(), "{} of {} cases failed:\n  {}", failed.len(), m.case.len(), failed.join("\n  "));
    let rejected = m.case.iter().filter(|c| c.exit != 0).count();
    println!(
        "figure: bad input: {} cases (tests/data/bad/cases.toml), {rejected} refused with their exact error, \
         the rest accepted with their exact warnings, rejects and rows",
        m.case.len()
    );
}

/// An input that cannot be read (here a directory, which opens but fails on the first read) fails
/// the run with exit 1 and a message naming it, and the files an earlier run committed stay as
/// they were.
#[test]
fn an_unreadable_input_is_named_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("lake");
    let run = |inputs: &[&Path]| convert_detail(&dest, inputs);
    let good = corpus().join("01-detail-vendor-format.csv");
    let first = run(&[&good]);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let before = tree(&dest);
    assert!(!before.is_empty());
    let unreadable = dir.path().join("downloads");
    std::fs::create_dir(&unreadable).unwrap();
    let out = run(&[&good, &unreadable]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with(&format!("botevents: reading {}: ", unreadable.display())), "{err}");
    assert_eq!(tree(&dest), before, "the committed files are untouched");
}

/// An upload that fails while a file is converted (the folder of its staged file cannot be made)
/// is named in the error, and the files committed before are untouched.
#[test]
fn a_failed_upload_is_named_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("lake");
    let run = |input: &Path| convert_detail(&dest, &[input]);
    let first = run(&corpus().join("01-detail-vendor-format.csv"));
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let before = tree(&dest);
    // Staged files go to _botevents/tmp/<account>@<bot>/: a file there is in their way.
    let staging = dest.join("_botevents").join("tmp").join(format!("{ACCOUNT}@{BOT}"));
    if staging.is_dir() {
        std::fs::remove_dir_all(&staging).unwrap();
    }
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    std::fs::write(&staging, b"in the way").unwrap();
    // 150,000 rows of one day whose text hardly compresses: row groups (64 Ki rows) of more than
    // one upload part (1 MiB) close while the file is converted, so parts are uploaded before
    // the end.
    let mut csv =
        String::from("eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..150_000u64 {
        let mut text = String::new();
        for _ in 0..4 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            text.push_str(&format!("{:016x}", x));
        }
        let (ms, s) = (999 - i % 1000, 59 - (i / 1000) % 60);
        csv.push_str(&format!("\"e\",WEB,\"d\",\"{text}\",2023-04-19T12:{s:02}:{s:02}.{ms:03}Z,\"c{i}\",\n"));
    }
    let input = dir.path().join("detail.csv");
    std::fs::write(&input, csv).unwrap();
    let out = run(&input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    // The error names the file being written, then the staged file that failed.
    let file = format!("custom_event_detail/event_date=2023-04-19/{ACCOUNT}@{BOT}.parquet: ");
    assert!(last.starts_with(&format!("botevents: writing failed: uploading {file}")), "{err}");
    assert!(last.contains(&format!("_botevents/tmp/{ACCOUNT}@{BOT}/custom_event_detail.")), "{err}");
    let mut after = tree(&dest);
    after.retain(|path, _| !path.starts_with("_botevents/tmp"));
    let mut want = before;
    want.retain(|path, _| !path.starts_with("_botevents/tmp"));
    assert_eq!(after, want, "the committed files are untouched");
}

/// A file is mapped into memory and read in chunks of the map, standard input is read: the same
/// bytes, several chunks long and with a record across every chunk edge, give the same files.
#[test]
fn a_file_and_the_same_bytes_on_stdin_give_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = std::fs::read(corpus().join("01-detail-vendor-format.csv")).unwrap();
    let header_end = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    let records = body.split_off(header_end);
    // About 5 MiB: two chunk edges and a short last chunk.
    while body.len() < 5 * 1024 * 1024 + 12_345 {
        body.extend_from_slice(&records);
    }
    let file = dir.path().join("detail.csv");
    std::fs::write(&file, &body).unwrap();
    let run = |dest: &Path, input: &str, stdin: Stdio| {
        let out = Command::new(env!("CARGO_BIN_EXE_botevents"))
            .args(["convert", "--table", "detail", "--account", ACCOUNT, "--bot", BOT])
            .arg("--dest")
            .arg(dest)
            .arg(input)
            .current_dir(dir.path())
            .stdin(stdin)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run(&dir.path().join("mapped"), "detail.csv", Stdio::null());
    run(&dir.path().join("piped"), "-", Stdio::from(std::fs::File::open(&file).unwrap()));
    let (mapped, piped) = (tree(&dir.path().join("mapped")), tree(&dir.path().join("piped")));
    assert!(mapped.keys().any(|k| k.ends_with(".parquet")), "{:?}", mapped.keys());
    assert_eq!(mapped, piped);
}

/// Inputs of the same name in different folders each keep their rejects, in files of their own.
#[test]
fn rejects_of_inputs_of_the_same_name_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(corpus().join("31-detail-bad-rows.csv"), a.join("x.csv")).unwrap();
    std::fs::copy(corpus().join("15-detail-unparseable-timestamps.csv"), b.join("x.csv")).unwrap();
    let dest = dir.path().join("dest");
    let out = Command::new(env!("CARGO_BIN_EXE_botevents"))
        .args(["convert", "--table", "detail", "--account", ACCOUNT, "--bot", BOT, "--max-bad-rows", "100"])
        .arg("--dest")
        .arg(&dest)
        .args([a.join("x.csv"), b.join("x.csv")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = |name: &str| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(dest.join(rejects_path(Table::Detail, name))).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let (first, second) = (lines("x.csv"), lines("x.csv.2"));
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.iter().all(|r| r["file"].as_str().unwrap().ends_with("a/x.csv")), "{first:?}");
    assert!(
        !second.is_empty() && second.iter().all(|r| r["file"].as_str().unwrap().ends_with("b/x.csv")),
        "{second:?}"
    );
}

/// A usage error leaves no trace: the destination folder is not created.
#[test]
fn a_bad_compression_creates_no_destination() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("not-yet");
    let out = Command::new(env!("CARGO_BIN_EXE_botevents"))
        .args(["convert", "--table", "detail", "--account", ACCOUNT, "--bot", BOT, "--compression", "bogus"])
        .arg("--dest")
        .arg(&dest)
        .arg(corpus().join("01-detail-vendor-format.csv"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
    assert!(!dest.exists());
}
