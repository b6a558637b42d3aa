//! The CPU step shared by exports and offline conversion: bytes → batches → encoded parts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use bytes::Bytes;
use chrono::NaiveDate;

use crate::convert::{BodyDecoder, ConvertError};
use crate::write::{TableEncoder, WriteError};

pub(crate) enum StepError {
    Convert(ConvertError),
    Write(WriteError),
}

pub(crate) type StepOk = (Vec<(NaiveDate, Vec<u8>)>, Vec<(NaiveDate, u64)>);

/// The CPU side of one table window (or conversion): a two-stage pipeline on the rayon pool.
/// While chunk N is decoded, the batches of chunk N−1 are encoded, so decoding and encoding run
/// on two cores at once. The encoder sees exactly the batches, in exactly the order, that a
/// sequential loop would give it, so the output bytes do not change.
///
/// Memory: one chunk being decoded, plus the batches of one chunk waiting for the encoder.
pub(crate) struct Pipeline {
    decoder: Option<Box<dyn BodyDecoder>>,
    encoder: Option<TableEncoder>,
    pending: Vec<RecordBatch>,
    part_bytes: usize,
    /// Time the decoding and encoding tasks took, summed.
    busy: Duration,
}

impl Pipeline {
    /// A pipeline into `encoder` that hands out encoded parts of at least `part_bytes`.
    pub(crate) fn new(encoder: TableEncoder, part_bytes: usize) -> Pipeline {
        Pipeline { decoder: None, encoder: Some(encoder), pending: Vec::new(), part_bytes, busy: Duration::ZERO }
    }

    /// Starts a new body (one response or file) with its own decoder.
    pub(crate) fn begin(&mut self, decoder: Box<dyn BodyDecoder>) {
        self.decoder = Some(decoder);
    }

    /// The current body's decoder (for its counters and rejects, once the body is done).
    pub(crate) fn decoder_mut(&mut self) -> Option<&mut (dyn BodyDecoder + 'static)> {
        self.decoder.as_deref_mut()
    }

    /// Feeds the next chunk of the body (`last` marks its end) and returns the encoded parts that
    /// are ready to upload, with per-day counts of what was encoded. At the end of a body every
    /// batch of it has gone through the encoder.
    pub(crate) async fn feed(&mut self, chunk: Bytes, last: bool) -> Result<StepOk, StepError> {
        let mut dec = self.decoder.take().expect("begin() before feed()");
        let mut enc = self.encoder.take().expect("the encoder is returned after every step");
        let batches = std::mem::take(&mut self.pending);
        let part_bytes = self.part_bytes;
        let (decoded, encoded) = tokio::join!(
            timed(move || {
                let r = decode(&mut *dec, &chunk, last);
                (dec, r)
            }),
            timed(move || {
                let r = encode(&mut enc, &batches, part_bytes, false);
                (enc, r)
            }),
        );
        self.busy += decoded.0 + encoded.0;
        let (decoded, encoded) = (decoded.1, encoded.1);
        self.decoder = Some(decoded.0);
        self.encoder = Some(encoded.0);
        self.pending = decoded.1.map_err(StepError::Convert)?;
        let (mut parts, mut counts) = encoded.1.map_err(StepError::Write)?;
        if last {
            let mut enc = self.encoder.take().expect("encoder present");
            let batches = std::mem::take(&mut self.pending);
            let (took, (enc, r)) = timed(move || {
                let r = encode(&mut enc, &batches, part_bytes, true);
                (enc, r)
            })
            .await;
            self.busy += took;
            self.encoder = Some(enc);
            let (p, c) = r.map_err(StepError::Write)?;
            parts.extend(p);
            counts.extend(c);
        }
        Ok((parts, counts))
    }

    /// Finishes every day's file: the last bytes and the row count of each, and the time the
    /// decoding and encoding tasks took in all, summed (tasks run at the same time, and each may
    /// use several cores: this is the time the conversion had work on the pool).
    pub(crate) async fn finish(mut self) -> (Result<Vec<(NaiveDate, Vec<u8>, u64)>, WriteError>, Duration) {
        let enc = self.encoder.take().expect("encoder present");
        let (took, r) = timed(move || enc.finish()).await;
        (r, self.busy + took)
    }
}

/// Runs `f` on the CPU pool; also returns how long it took there.
async fn timed<T, F>(f: F) -> (Duration, T)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::cpu::run(move || {
        let started = Instant::now();
        let r = f();
        (started.elapsed(), r)
    })
    .await
}

/// Decodes one chunk into batches (all of them, at the end of the body).
fn decode(dec: &mut dyn BodyDecoder, chunk: &[u8], last: bool) -> Result<Vec<RecordBatch>, ConvertError> {
    dec.push(chunk)?;
    let mut batches = Vec::new();
    while let Some(b) = dec.next_batch()? {
        batches.push(b);
    }
    if last && let Some(b) = dec.finish()? {
        batches.push(b);
        while let Some(b) = dec.next_batch()? {
            batches.push(b);
        }
    }
    Ok(batches)
}

/// Encodes batches, counting rows (detail) or events (total) per day, and drains the parts that
/// are ready (all bytes when `all`).
fn encode(enc: &mut TableEncoder, batches: &[RecordBatch], part_bytes: usize, all: bool) -> Result<StepOk, WriteError> {
    let mut counts: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for b in batches {
        count_per_day(b, &mut counts);
        enc.write(b)?;
    }
    let min = if all { 1 } else { part_bytes };
    Ok((enc.drain(min), counts.into_iter().collect()))
}

fn count_per_day(b: &RecordBatch, out: &mut BTreeMap<NaiveDate, u64>) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    let schema = b.schema();
    let (time_col, count_col) = if schema.field_with_name("event_time").is_ok() {
        ("event_time", None)
    } else {
        ("period_start", Some("event_count"))
    };
    let Some(times) = b.column_by_name(time_col) else { return };
    let times = times.as_primitive::<TimestampMicrosecondType>();
    let counts = count_col.and_then(|c| b.column_by_name(c)).map(|c| c.as_primitive::<Int64Type>().clone());
    for i in 0..b.num_rows() {
        let day = crate::convert::time::day_of_micros(times.value(i));
        let n = counts.as_ref().map_or(1, |c| c.value(i).max(0) as u64);
        *out.entry(day).or_default() += n;
    }
}
