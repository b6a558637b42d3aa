//! `--format arrow`: the real binary against the simulator, every Arrow IPC file read back with
//! arrow-ipc's `FileReader` and compared, day by day, with a Parquet export of the same days.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int16Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::FileReader;
use arrow_schema::DataType;
use botevents::schema::Table;
use botevents_simulator::SimBot;

mod common;
use common::*;

const RANGE: [&str; 6] = ["--start", "2026-11-19", "--end", "2026-11-23", "--streams", "detail,total,catalog"];

/// One cell as text (`None` for null), dictionaries decoded.
fn cell(a: &dyn Array, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Dictionary(k, _) if **k == DataType::Int16 => {
            let d = a.as_dictionary::<Int16Type>();
            d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string()
        }
        DataType::Dictionary(..) => {
            let d = a.as_dictionary::<Int8Type>();
            d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string()
        }
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Timestamp(..) => a.as_primitive::<TimestampMicrosecondType>().value(i).to_string(),
        other => panic!("unexpected column type {other}"),
    })
}

/// The rows of a table's batches, sorted, each checked against the table's schema.
fn rows(table: Table, batches: &[RecordBatch], path: &Path) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for b in batches {
        assert_eq!(b.schema().as_ref(), table.schema().as_ref(), "{path:?}");
        for i in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| cell(c.as_ref(), i)).collect());
        }
    }
    out.sort();
    out
}

fn table_of(rel: &Path) -> Table {
    let name = rel.components().next().unwrap().as_os_str().to_str().unwrap();
    Table::ALL.into_iter().find(|t| t.name() == name).unwrap()
}

/// Data files of `ext` under `dest` (relative path → bytes).
fn data_files(dest: &Path, ext: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    all_files(dest).into_iter().filter(|(p, _)| p.extension().is_some_and(|x| x == ext)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrow_files_hold_the_rows_of_the_parquet_files() {
    // A busy bot (several record batches a day) and a quiet one (days without rows).
    let h = Harness::new(vec![SimBot::new("bot-busy", 20_000), SimBot::new("bot-quiet", 120)]).await;
    assert_ok(&h.export(&RANGE).await);
    let parquet = data_files(h.dest(), "parquet");
    assert!(!parquet.is_empty());
    let mut want = BTreeMap::new();
    for rel in parquet.keys() {
        let table = table_of(rel);
        want.insert(rel.with_extension("arrow"), rows(table, &read(&h.dest().join(rel)), rel));
    }

    // The same days again as Arrow IPC, into the same destination: each day's Parquet file makes
    // way for its Arrow file.
    assert_ok(&h.export(&[&RANGE[..], &["--format", "arrow"]].concat()).await);
    assert!(data_files(h.dest(), "parquet").is_empty(), "no Parquet file is left beside an Arrow one");
    let arrow = data_files(h.dest(), "arrow");
    assert_eq!(arrow.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "the same layout");
    let mut several_batches = false;
    for (rel, bytes) in &arrow {
        let table = table_of(rel);
        let reader = FileReader::try_new(std::io::Cursor::new(bytes.clone()), None).unwrap();
        assert_eq!(reader.schema().as_ref(), table.schema().as_ref(), "{rel:?}");
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        several_batches |= batches.len() > 1;
        assert_eq!(rows(table, &batches, rel), want[rel], "{rel:?}");
    }
    assert!(several_batches, "some file holds several record batches (and their shared dictionaries)");

    // Deterministic: a second run leaves every byte as it was.
    assert_ok(&h.export(&[&RANGE[..], &["--format", "arrow"]].concat()).await);
    assert!(data_files(h.dest(), "arrow") == arrow, "a re-run changes no byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrow_refuses_parquet_only_codecs() {
    let h = Harness::new(vec![SimBot::new("bot-quiet", 10)]).await;
    for codec in ["snappy", "gzip"] {
        let out = h.export(&["--format", "arrow", "--compression", codec]).await;
        assert_eq!(out.status.code(), Some(botevents::exit::Exit::Usage.code().into()), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("{codec:?}")) && err.contains("--format parquet"), "{err}");
    }
    assert!(all_files(h.dest()).keys().all(|p| p.starts_with("_botevents")), "nothing written");
    assert_eq!(h.sim.stats().requests, 0, "refused before any request");
}
