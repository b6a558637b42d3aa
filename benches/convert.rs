//! CPU stages alone, on seeded data: decoding detail CSV (one decoder, and pieces decoded on the
//! rayon pool), and encoding batches to Parquet (columns encoded on the rayon pool).
//!
//! `cargo bench --bench convert`; `RAYON_NUM_THREADS=1 cargo bench --bench convert` gives the
//! single-threaded rates. The end-to-end comparison with DuckDB, polars and pyarrow is
//! `python3 ../shared/bench/compare.py target/release/botevents`.

use std::hint::black_box;

use arrow_array::RecordBatch;
use botevents::convert::{BodyDecoder, DecodeOptions, DetailDecoder, ParallelDetailDecoder, RowContext, decode_chunks};
use botevents::schema::Table;
use botevents::write::{TableEncoder, WriteOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: usize = 200_000;

/// A vendor-format detail body: quoted text with commas, doubled quotes and newlines, newest first.
fn body(rows: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(7);
    let names = ["Question answered? - j", "API::ok_status_code_200", "Réponse, \"oui\"", "注文 🚚", "FALLBACK index"];
    let platforms = ["HTMLCLIENT", "HTMLCLIENT", "FACEBOOK", "WHATSAPP", "SMS"];
    let mut out = b"eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n".to_vec();
    let mut t: i64 = 1_700_000_000_000;
    for i in 0..rows {
        t -= rng.i64(0..3000);
        let secs = t / 1000;
        let dt = chrono::DateTime::from_timestamp(secs, ((t % 1000) * 1_000_000) as u32).unwrap_or_default();
        let name = names[rng.usize(..names.len())].replace('"', "\"\"");
        let details =
            if i % 50 == 0 { "{\"\"k\"\": [1, 2, 3], \"\"s\"\": \"\"a, b\"\"}" } else { "Returned article: null" };
        let text = if i % 97 == 0 { "two\nlines, with comma" } else { "where is my order" };
        let title = if i % 5 == 0 { "\"Shipping, FAQ\"" } else { "" };
        out.extend_from_slice(
            format!(
                "\"{name}\",{},\"{details}\",\"{text}\",{},\"{:08x}-7d89-436b-9d02-af40421299c1\",{title}\n\n",
                platforms[rng.usize(..platforms.len())],
                dt.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                rng.u32(..)
            )
            .as_bytes(),
        );
    }
    out
}

/// Decodes `data` pushed in 4 MiB chunks, as exports and `convert` push it.
fn decode(dec: &mut dyn BodyDecoder, data: &[u8]) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    decode_chunks(dec, data.chunks(4 << 20), &mut out).expect("valid body");
    out
}

fn ctx() -> RowContext {
    RowContext { account: "bench".into(), bot: "bench".into() }
}

fn benches(c: &mut Criterion) {
    let data = body(ROWS);
    let mut g = c.benchmark_group("detail");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("decode", |b| {
        b.iter(|| black_box(decode(&mut DetailDecoder::new(ctx(), DecodeOptions::default()), &data)))
    });
    g.bench_function("decode_pieces", |b| {
        b.iter(|| black_box(decode(&mut ParallelDetailDecoder::new(ctx(), DecodeOptions::default()), &data)))
    });
    let batches = decode(&mut DetailDecoder::new(ctx(), DecodeOptions::default()), &data);
    g.bench_function("encode_zstd1", |b| {
        b.iter(|| {
            let mut enc = TableEncoder::new(Table::Detail, WriteOptions::default());
            for batch in &batches {
                enc.write(batch).expect("encodes");
            }
            black_box(enc.finish().expect("finishes"))
        })
    });
    g.finish();
}

criterion_group!(convert, benches);
criterion_main!(convert);
