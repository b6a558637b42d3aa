//! The CPU step shared by exports and offline conversion: bytes → batches → encoded parts.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use bytes::Bytes;
use chrono::NaiveDate;
use futures::future::Either;

use crate::convert::time::day_runs;
use crate::convert::{BodyDecoder, ConvertError};
use crate::cpu::{CpuTime, Task};
use crate::write::{TableEncoder, WriteError};

pub(crate) enum StepError {
    Convert(ConvertError),
    Write(WriteError),
}

pub(crate) type StepOk = (Vec<(NaiveDate, Vec<u8>)>, Vec<(NaiveDate, u64)>);

/// Decoded chunks that may wait for the encoder before the next chunk's decoding waits too. With
/// the chunk being decoded and those being encoded, this bounds the batches in memory; two keep
/// the decoder ahead of the encoder, so that a core the encoder leaves idle always has decoding
/// to do.
pub const MAX_WAITING_CHUNKS: usize = 2;

/// A decoding task's result: the decoder back, with the batches of its chunk.
type Decoded = (Box<dyn BodyDecoder>, Result<Vec<RecordBatch>, ConvertError>);
/// An encoding task's result: the encoder back, with the parts and counts of its batches.
type Encoded = (TableEncoder, Result<StepOk, WriteError>);
type Decoding = Task<(Duration, Decoded)>;
type Encoding = Task<(Duration, Encoded)>;

/// The CPU side of one table window (or conversion): two chains of tasks on the rayon pool, one
/// decoding chunks in order and one encoding their batches in order, joined by a short queue.
/// Neither waits for the other at each chunk: while the encoder works through a chunk's batches,
/// the decoder goes on with the next chunks, and each stage splits its own work across the pool,
/// so a core that one stage leaves idle picks up the other's. The encoder sees exactly the batches,
/// in exactly the order, that a sequential loop would give it, so the output bytes do not change.
///
/// Memory: the chunk being decoded, at most [`MAX_WAITING_CHUNKS`] chunks of decoded batches
/// waiting, and the batches being encoded: an encoding task hands each Parquet file's batches to
/// one chain of tasks per column and returns once no column has more than a few batch lists
/// waiting (`MAX_QUEUED_PER_COLUMN` in `write::parquet_file`).
pub(crate) struct Pipeline {
    /// The current body's decoder, when no decoding task holds it.
    decoder: Option<Box<dyn BodyDecoder>>,
    decoding: Option<Decoding>,
    /// The encoder, when no encoding task holds it.
    encoder: Option<TableEncoder>,
    encoding: Option<Encoding>,
    /// Batches decoded and not yet handed to the encoder, one entry per chunk, in order.
    waiting: VecDeque<Vec<RecordBatch>>,
    /// Parts and per-day counts encoded and not yet handed out.
    done: StepOk,
    part_bytes: usize,
    /// Time the decoding and encoding tasks took, summed.
    busy: Duration,
    /// Time the encoder's columns take on the pool past its tasks.
    columns: CpuTime,
}

impl Pipeline {
    /// A pipeline into `encoder` that hands out encoded parts of at least `part_bytes`.
    pub(crate) fn new(encoder: TableEncoder, part_bytes: usize) -> Pipeline {
        let columns = encoder.busy();
        Pipeline {
            decoder: None,
            decoding: None,
            encoder: Some(encoder),
            encoding: None,
            waiting: VecDeque::new(),
            done: StepOk::default(),
            part_bytes,
            busy: Duration::ZERO,
            columns,
        }
    }

    /// Starts a new body (one response or file) with its own decoder. The previous body has
    /// ended: its last chunk was fed with `last`.
    pub(crate) fn begin(&mut self, decoder: Box<dyn BodyDecoder>) {
        debug_assert!(self.decoding.is_none(), "begin() after the previous body's last chunk");
        self.decoder = Some(decoder);
    }

    /// The current body's decoder (for its counters and rejects, once the body is done).
    pub(crate) fn decoder_mut(&mut self) -> Option<&mut (dyn BodyDecoder + 'static)> {
        self.decoder.as_deref_mut()
    }

    /// Feeds the next chunk of the body (`last` marks its end) and returns the encoded parts that
    /// are ready to upload, with per-day counts of what was encoded. It returns once the chunk's
    /// decoding has started; at the end of a body, once every batch of it has gone through the
    /// encoder, with all the bytes encoded.
    pub(crate) async fn feed(&mut self, chunk: Bytes, last: bool) -> Result<StepOk, StepError> {
        // The decoder is busy with the previous chunk, or the encoder is too far behind.
        while self.decoding.is_some() || self.waiting.len() >= MAX_WAITING_CHUNKS {
            self.advance().await?;
        }
        let mut dec = self.decoder.take().expect("begin() before feed()");
        self.decoding = Some(timed(move || {
            let r = decode(&mut *dec, &chunk, last);
            (dec, r)
        }));
        self.start_encoding();
        if last {
            self.settle().await?;
            let enc = self.encoder.as_mut().expect("no encoding task once settled");
            // Nothing is queued once settled: this only takes the bytes.
            self.done.0.extend(enc.drain(1).map_err(StepError::Write)?);
        }
        Ok(std::mem::take(&mut self.done))
    }

    /// Finishes every day's file: the last bytes and the row count of each, and the time the
    /// decoding and encoding tasks took in all, summed (tasks run at the same time, and each may
    /// use several cores: this is the time the conversion had work on the pool).
    pub(crate) async fn finish(mut self) -> (Result<Vec<(NaiveDate, Vec<u8>, u64)>, WriteError>, Duration) {
        // Every body ended with a `last` chunk, which settled the pipeline.
        debug_assert!(self.decoding.is_none() && self.encoding.is_none() && self.waiting.is_empty());
        let enc = self.encoder.take().expect("no encoding task once settled");
        let (took, r) = timed(move || enc.finish()).await;
        (r, self.busy + took + self.columns.get())
    }

    /// Waits until every chunk fed has been decoded and encoded.
    async fn settle(&mut self) -> Result<(), StepError> {
        while self.decoding.is_some() || self.encoding.is_some() || !self.waiting.is_empty() {
            self.advance().await?;
        }
        Ok(())
    }

    /// Hands every waiting batch to a new encoding task, unless one is running.
    fn start_encoding(&mut self) {
        if self.encoding.is_some() || self.waiting.is_empty() {
            return;
        }
        let mut enc = self.encoder.take().expect("the encoder is back when no task runs");
        let batches: Vec<RecordBatch> = self.waiting.drain(..).flatten().collect();
        let part_bytes = self.part_bytes;
        self.encoding = Some(timed(move || {
            let r = encode(&mut enc, &batches, part_bytes);
            (enc, r)
        }));
    }

    /// Waits for the next task to end and takes its result, starting the encoder on what waits.
    async fn advance(&mut self) -> Result<(), StepError> {
        self.start_encoding();
        // Which task ended: the decoding one (left) or the encoding one (right).
        let ended = match (&mut self.decoding, &mut self.encoding) {
            (Some(d), Some(e)) => tokio::select! {
                r = d => Either::Left(r),
                r = e => Either::Right(r),
            },
            (Some(d), None) => Either::Left(d.await),
            (None, Some(e)) => Either::Right(e.await),
            (None, None) => return Ok(()),
        };
        match ended {
            Either::Left((took, (dec, r))) => {
                self.decoding = None;
                self.busy += took;
                self.decoder = Some(dec);
                let batches = r.map_err(StepError::Convert)?;
                if !batches.is_empty() {
                    self.waiting.push_back(batches);
                }
            }
            Either::Right((took, (enc, r))) => {
                self.encoding = None;
                self.busy += took;
                self.encoder = Some(enc);
                let (parts, counts) = r.map_err(StepError::Write)?;
                self.done.0.extend(parts);
                self.done.1.extend(counts);
            }
        }
        self.start_encoding();
        Ok(())
    }
}

/// Starts `f` on the CPU pool; its task also returns how long it took there.
fn timed<T, F>(f: F) -> Task<(Duration, T)>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::cpu::spawn(move || {
        let started = Instant::now();
        let r = f();
        (started.elapsed(), r)
    })
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

/// Encodes batches, counting rows (detail) or events (total) per day, and drains the parts of at
/// least `part_bytes` that are ready.
fn encode(enc: &mut TableEncoder, batches: &[RecordBatch], part_bytes: usize) -> Result<StepOk, WriteError> {
    let mut counts: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for b in batches {
        count_per_day(b, &mut counts);
        enc.write(b)?;
    }
    Ok((enc.drain(part_bytes)?, counts.into_iter().collect()))
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
    let counts = count_col.and_then(|c| b.column_by_name(c)).map(|c| c.as_primitive::<Int64Type>());
    for (day, run) in day_runs(times.values()) {
        let n = match counts {
            Some(c) => c.values()[run].iter().map(|&v| v.max(0) as u64).sum(),
            None => run.len() as u64,
        };
        *out.entry(day).or_default() += n;
    }
}
