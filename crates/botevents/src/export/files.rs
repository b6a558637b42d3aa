//! Offline conversion (`botevents convert`): CSV files downloaded by other means → the same
//! tables and layout as an export, with the same validation and errors.
//!
//! All files given for one (table, account, bot) feed one encoder, so each UTC day still gets
//! exactly one file. Days are not known in advance, so nothing is removed at the destination but
//! the other format's file of each day written.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use memmap2::Mmap;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::sync::mpsc;

use super::RunStatus;
use super::step::{Pipeline, StepError};
use super::warning::Warning;
use super::{RunSummary, window::DECODE_CHUNK_BYTES};
use crate::convert::{
    BodyDecoder, DecodeOptions, DecodeStats, ParallelDetailDecoder, Reject, RowContext, TotalDecoder,
};
use crate::error::Error;
use crate::schema::Table;
use crate::stream::Interval;
use crate::write::{Destination, PartitionWriter, TableEncoder, WriteError, WriteOptions};

/// What `botevents convert` needs.
#[derive(Debug, Clone)]
pub struct ConvertConfig {
    /// `custom_event_detail` or `custom_event_total`.
    pub table: Table,
    /// Account id stamped on every row.
    pub account: String,
    /// Bot id stamped on every row.
    pub bot: String,
    /// Granularity of a totals file.
    pub interval: Interval,
    /// Where files go.
    pub dest: Destination,
    /// Encoder settings.
    pub write: WriteOptions,
    /// Input files; `-` is standard input.
    pub inputs: Vec<String>,
    /// Rows that may be rejected before the conversion fails.
    pub max_bad_rows: u64,
}

/// Converts the input files; returns a summary either way. When `shutdown` resolves first, every
/// upload in progress is aborted (no object appears, no part is left behind) and the result is
/// [`Error::Stopped`].
pub async fn convert_files(
    cfg: ConvertConfig,
    shutdown: impl std::future::Future<Output = String>,
) -> (RunSummary, Result<(), Error>) {
    let started = std::time::Instant::now();
    let mut summary = RunSummary {
        status: RunStatus::Running,
        account: cfg.account.clone(),
        destination: cfg.dest.to_string(),
        store: cfg.dest.settings(),
        ..RunSummary::default()
    };
    let sweep = async |summary: &mut RunSummary| {
        if let Err(e) = cfg.dest.sweep_leftovers(&cfg.account, &cfg.bot).await {
            summary.add_warning(&Warning::Leftovers { bot: None, error: e });
        }
    };
    sweep(&mut summary).await;
    let mut writer = PartitionWriter::new(cfg.dest.clone(), cfg.table, &cfg.account, &cfg.bot, None, cfg.write.format);
    let outcome = {
        let work = convert_inner(&cfg, &mut writer, &mut summary);
        tokio::pin!(work);
        tokio::pin!(shutdown);
        tokio::select! {
            r = &mut work => Ok(r),
            reason = &mut shutdown => Err(reason),
        }
    };
    let result = match outcome {
        Ok(r) => r,
        Err(reason) => {
            tracing::warn!(%reason, "stopping: aborting the uploads in progress");
            Err(Error::Stopped { reason })
        }
    };
    let result = match result {
        Ok(tails) => match writer.commit(tails).await {
            Ok(written) => {
                let t = summary.tables.entry(cfg.table.name().to_string()).or_default();
                for f in &written.files {
                    t.rows += f.rows;
                    t.bytes += f.bytes;
                    t.files_written += 1;
                }
                Ok(())
            }
            Err(e) => Err(Error::Write(e)),
        },
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    };
    sweep(&mut summary).await;
    summary.conclude(started, &result);
    (summary, result)
}

type Tails = Vec<(chrono::NaiveDate, Vec<u8>, u64)>;

async fn convert_inner(
    cfg: &ConvertConfig,
    writer: &mut PartitionWriter,
    summary: &mut RunSummary,
) -> Result<Tails, Error> {
    let ctx = RowContext { account: cfg.account.clone(), bot: cfg.bot.clone() };
    let mut pipeline = Pipeline::new(TableEncoder::new(cfg.table, cfg.write.clone()), cfg.dest.part_size());
    let mut all = DecodeStats::default();
    // Each input's rejects file is named after it; inputs of the same name (in other folders)
    // get their position among them as well, so that no file overwrites another.
    let mut names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for input in &cfg.inputs {
        let mut chunks = if input == "-" {
            read_ahead(Box::new(std::io::stdin()))
        } else {
            let file = std::fs::File::open(input).map_err(|source| Error::Input { path: input.clone(), source })?;
            match map(&file) {
                Some(map) => map_ahead(map),
                None => read_ahead(Box::new(file)),
            }
        };
        let opts = DecodeOptions::default();
        let decoder: Box<dyn BodyDecoder> = match cfg.table {
            Table::Total => Box::new(TotalDecoder::new(ctx.clone(), cfg.interval, opts)),
            _ => Box::new(ParallelDetailDecoder::new(ctx.clone(), opts)),
        };
        pipeline.begin(decoder);
        // Encoded parts not uploaded yet: each chunk's parts are uploaded while the next chunk is
        // fed, so that writing them out does not hold up decoding.
        let mut ready = Vec::new();
        loop {
            let chunk =
                chunks.recv().await.transpose().map_err(|source| Error::Input { path: input.clone(), source })?;
            let last = chunk.is_none();
            let chunk = chunk.unwrap_or_default();
            summary.bytes_received += chunk.len() as u64;
            let (fed, uploaded) = tokio::join!(pipeline.feed(chunk, last), writer.upload(std::mem::take(&mut ready)));
            uploaded?;
            (ready, _) = fed.map_err(|e| match e {
                StepError::Convert(source) => Error::Convert { context: input.clone(), source },
                StepError::Write(w) => Error::Write(w),
            })?;
            if last {
                writer.upload(ready).await?;
                break;
            }
        }
        let decoder = pipeline.decoder_mut().expect("a body was begun");
        let rejects = decoder.take_rejects();
        all.add(decoder.stats());
        if decoder.stats().empty_body {
            summary.add_warning(&Warning::EmptyInput { input: input.clone() });
        }
        if !rejects.is_empty() {
            let name = match std::path::Path::new(input).file_name() {
                Some(n) if input != "-" => n.to_string_lossy().into_owned(),
                _ => "stdin".into(),
            };
            let seen = names.entry(name.clone()).or_default();
            *seen += 1;
            let name = if *seen == 1 { name } else { format!("{name}.{seen}") };
            let path = write_rejects(cfg, &name, input, &rejects).await?;
            summary.rejects_files.push(path);
        }
        if all.rejected > cfg.max_bad_rows {
            let first = rejects.first().cloned().unwrap_or_else(|| Reject {
                line: 0,
                column: None,
                column_name: None,
                reason: "see earlier files".into(),
                record: String::new(),
            });
            return Err(Error::Rejected {
                context: input.clone(),
                rejected: all.rejected,
                max: cfg.max_bad_rows,
                rejects: summary.rejects_files.last().cloned().unwrap_or_default(),
                first_at: first.place(),
                first_reason: first.reason,
            });
        }
    }
    summary.rows_rejected = all.rejected;
    summary.total_mismatches = all.total_mismatches;
    for w in Warning::of_stats(cfg.table, &all, None) {
        summary.add_warning(&w);
    }
    let (tails, busy) = pipeline.finish().await;
    summary.conversion_ms += busy.as_millis() as u64;
    tails.map_err(Error::Write)
}

/// Reads `reader` in chunks of [`DECODE_CHUNK_BYTES`] on a blocking thread, so that the next chunk
/// is read while this one is converted. At most one chunk waits in the channel; the end of the
/// input closes it; a read error is the last message. Each chunk is read straight into its own
/// buffer (tokio's async file reads go through a buffer of their own: one more copy of each byte).
fn read_ahead(mut reader: Box<dyn Read + Send>) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = Vec::with_capacity(DECODE_CHUNK_BYTES);
            let read = reader.by_ref().take(DECODE_CHUNK_BYTES as u64).read_to_end(&mut buf);
            let done = !matches!(read, Ok(n) if n == DECODE_CHUNK_BYTES);
            let chunk = read.map(|_| Bytes::from(buf));
            if matches!(&chunk, Ok(b) if b.is_empty()) || tx.blocking_send(chunk).is_err() || done {
                return;
            }
        }
    });
    rx
}

/// A regular, non-empty file mapped into memory, read front to back; `None` for anything else
/// (standard input, pipes, an empty file), or where it cannot be mapped, which is then read.
fn map(file: &std::fs::File) -> Option<Arc<Mmap>> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    // SAFETY: the map is only read. Like every reader of mapped files (ripgrep, DuckDB, polars),
    // it relies on the file not being truncated while it is converted: the process would get
    // SIGBUS. A file that grows is read to the length it had when it was opened.
    let map = unsafe { Mmap::map(file) }.ok()?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Some(Arc::new(map))
}

/// Hands out `map` in chunks of [`DECODE_CHUNK_BYTES`] without copying it, one chunk ahead, as
/// [`read_ahead`] does for a reader. On Linux a blocking thread faults each chunk's pages in
/// before it is handed out, off the CPU pool's path; every chunk's pages are released from the
/// process once its bytes are dropped, so a mapped file adds no more than a few chunks to the
/// resident memory, whatever its size.
fn map_ahead(map: Arc<Mmap>) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::task::spawn_blocking(move || {
        let len = map.len();
        for start in (0..len).step_by(DECODE_CHUNK_BYTES) {
            let end = (start + DECODE_CHUNK_BYTES).min(len);
            #[cfg(target_os = "linux")]
            let _ = map.advise_range(memmap2::Advice::PopulateRead, start, end - start);
            let chunk = MappedChunk { map: Arc::clone(&map), start, end };
            if tx.blocking_send(Ok(Bytes::from_owner(chunk))).is_err() {
                return;
            }
        }
    });
    rx
}

/// Bytes `start..end` of a mapped file.
struct MappedChunk {
    map: Arc<Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MappedChunk {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

impl Drop for MappedChunk {
    fn drop(&mut self) {
        // The chunk's pages leave the process's resident memory (the page cache keeps them).
        // SAFETY: the map is private and read-only, so dropping its pages loses nothing: any
        // later read of them would fault them in again from the file. `start` is page-aligned.
        #[cfg(unix)]
        let _ = unsafe {
            self.map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, self.start, self.end - self.start)
        };
    }
}

async fn write_rejects(cfg: &ConvertConfig, name: &str, input: &str, rejects: &[Reject]) -> Result<String, Error> {
    let path = cfg.dest.rejects_named(cfg.table, &cfg.account, &cfg.bot, &format!("convert-{name}"));
    let mut out = Vec::new();
    for r in rejects {
        let mut line = serde_json::to_value(r).unwrap_or_default();
        if let Some(o) = line.as_object_mut() {
            o.insert("file".into(), input.into());
        }
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    cfg.dest.store().put(&path, PutPayload::from(out)).await.map_err(|source| WriteError::Store {
        op: "writing",
        path: path.to_string(),
        source,
    })?;
    Ok(path.to_string())
}
