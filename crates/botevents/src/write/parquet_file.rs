//! One Parquet file encoded in memory with its columns encoded in parallel, each at its own pace.
//!
//! The same file, byte for byte, as `parquet::arrow::ArrowWriter` writes from the same batches:
//! each column chunk goes through its own `ArrowColumnWriter` in the same sequence of writes, the
//! row groups close after the same rows, and the chunks are appended to each row group in column
//! order.
//!
//! Writes and row-group closes are queued, and [`ParquetFile::encode`] hands what is queued to
//! one chain of tasks per column on the rayon pool: each column's chain goes through its batches
//! (and row-group closes) in order, on its own, and does not wait for the other columns, so the
//! largest column (free text) goes on with the next batches while a core done with the small
//! columns decodes or encodes other work. The chain that closes the last chunk of a row group
//! appends the row group to the file, row groups in order.
//!
//! A column that holds one value only in a whole row group (`account_id`, `bot_id`) is encoded
//! once: its chunk is kept in [`ConstantChunks`] and copied into every later full row group with
//! the same value written in the same sequence of writes, which is what encoding it again would
//! give, byte for byte.
//!
//! Memory: at most [`MAX_QUEUED_PER_COLUMN`] handed-over batch lists waiting for any column
//! ([`ParquetFile::encode`] waits, doing pool work, until the slowest column is back under it),
//! the encoded pages of the row groups in progress, the closed chunks of a row group waiting for
//! its slowest column, plus the bytes not yet taken.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, FieldRef, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::cpu::CpuTime;

/// Batch lists handed over by [`ParquetFile::encode`] that may wait for one column before the
/// next call waits for that column.
pub(crate) const MAX_QUEUED_PER_COLUMN: usize = 3;

/// Chunks of constant columns that [`ConstantChunks`] keeps at most: enough for the few
/// constant columns of a table, each with a value or two, in full row groups, whose writes are
/// all alike.
const MAX_CONSTANT_CHUNKS: usize = 64;

/// Encoded chunks of columns that hold one value only in a row group, by value and sequence of
/// writes, shared by the files of one table written with the same properties.
#[derive(Clone, Default)]
pub(crate) struct ConstantChunks(Arc<Mutex<HashMap<ConstantKey, Arc<CopiedChunk>>>>, Arc<AtomicUsize>);

impl ConstantChunks {
    /// Chunks copied so far.
    #[cfg(test)]
    fn copied(&self) -> usize {
        self.1.load(Ordering::Relaxed)
    }
}

/// What a constant column chunk's bytes depend on, besides the file's properties.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ConstantKey {
    column: usize,
    value: Vec<u8>,
    /// Whether the arrays carry a validity buffer (with no nulls): it changes how the writer
    /// splits its writes.
    validity: bool,
    /// Rows of each write, in order.
    writes: Vec<usize>,
}

/// An encoded column chunk as it lies in a file, dictionary page first, with its metadata
/// relative to its first byte.
struct CopiedChunk {
    bytes: Bytes,
    close: ColumnCloseResult,
}

/// A closed column chunk of a row group, waiting for the row group's other columns.
enum Chunk {
    /// Encoded for this row group; kept in [`ConstantChunks`] under the key once appended.
    Encoded(Box<ArrowColumnChunk>, Option<ConstantKey>),
    /// A copy of a constant column's chunk encoded earlier.
    Copied(Arc<CopiedChunk>),
}

/// A Parquet file being written into a `Vec<u8>`.
pub(crate) struct ParquetFile {
    schema: SchemaRef,
    factory: ArrowRowGroupWriterFactory,
    shared: Arc<Shared>,
    /// Work not yet handed to the columns: batches of the row group in progress, in order, and
    /// the batches of each later row group, each group ended by a close but the last.
    queued: Vec<Segment>,
    /// Rows of the row group in progress, the queued ones included.
    rows: usize,
    max_rows: usize,
    /// Row groups whose column writers were created.
    row_groups: usize,
    /// Whether the last row group created is still open (its writers are with the columns).
    open: bool,
}

/// What the column chains share with the file.
struct Shared {
    /// The file, until it is finished.
    file: Mutex<Option<SerializedFileWriter<Vec<u8>>>>,
    columns: Vec<Mutex<Column>>,
    /// Closed chunks of row groups not yet appended, by row group, and the next to append.
    closed: Mutex<Closed>,
    /// Column chains running.
    running: AtomicUsize,
    /// The first error of any chain; once set, the chains stop.
    error: Mutex<Option<ParquetError>>,
    failed: AtomicBool,
    /// Time the chains spent encoding, when not run inside a wait of [`ParquetFile`]'s (whose
    /// caller's time already holds it).
    busy: CpuTime,
    constants: ConstantChunks,
    /// Rows of a full row group, when constant columns are copied (see [`ConstantChunks`]).
    constant_rows: Option<usize>,
    /// Signalled (with its lock taken) each time a chain has done a batch list or ended.
    progress: (Mutex<()>, Condvar),
}

#[derive(Default)]
struct Closed {
    next: usize,
    chunks: BTreeMap<usize, Vec<Option<Chunk>>>,
}

/// One column's chain.
#[derive(Default)]
struct Column {
    queue: VecDeque<Work>,
    /// Whether a task of the chain is running (it takes the queue until it is empty).
    running: bool,
    /// The writer of the row group in progress, with its arrays not written yet, between tasks.
    state: Option<ColumnState>,
    /// The row group of `state`.
    row_group: usize,
}

/// Batches for one column: of one row group, with that row group's writer when it starts there.
struct Work {
    segment: Arc<Segment>,
    start: Option<(usize, ArrowColumnWriter)>,
}

/// Batches of one row group, and whether the row group closes after them.
#[derive(Default)]
struct Segment {
    batches: Vec<RecordBatch>,
    close: bool,
}

thread_local! {
    /// Whether this thread is inside [`Shared::wait_until`], so that work it runs meanwhile is not timed
    /// twice.
    static WAITING: Cell<bool> = const { Cell::new(false) };
}

/// Locks `m`; a chain that panicked holding it poisoned nothing that matters here (its error is
/// reported, and the file is abandoned).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long [`Shared::wait_until`] sleeps at most before it looks for pool work again.
const WAIT_SLICE: Duration = Duration::from_micros(200);

impl ParquetFile {
    /// A file of `schema` with `props`; row groups hold at most `props`' maximum row count. The
    /// time its columns take to encode is added to `busy`. Chunks of constant columns are taken
    /// from and added to `constants`, which must only be shared by files of the same schema and
    /// properties.
    pub(crate) fn try_new(
        schema: SchemaRef,
        props: WriterProperties,
        busy: CpuTime,
        constants: ConstantChunks,
    ) -> Result<ParquetFile> {
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        // ArrowWriter sets up the file exactly as it would write it (the Arrow schema in the
        // metadata, the Parquet schema), then hands over its lower-level parts.
        // A chunk depends on nothing but its rows, unless content-defined chunking carries state
        // from one row group to the next.
        let constant_rows = props.content_defined_chunking().is_none().then_some(max_rows);
        let (file, factory) =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?.into_serialized_writer()?;
        let shared = Arc::new(Shared {
            file: Mutex::new(Some(file)),
            columns: schema.fields().iter().map(|_| Mutex::default()).collect(),
            closed: Mutex::default(),
            running: AtomicUsize::new(0),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            busy,
            constants,
            constant_rows,
            progress: (Mutex::new(()), Condvar::new()),
        });
        Ok(ParquetFile { schema, factory, shared, queued: Vec::new(), rows: 0, max_rows, row_groups: 0, open: false })
    }

    /// Queues `batch`, closing row groups as they fill.
    pub(crate) fn write(&mut self, batch: &RecordBatch) {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let take = rest.num_rows().min(self.max_rows - self.rows);
            self.segment().batches.push(rest.slice(0, take));
            rest = rest.slice(take, rest.num_rows() - take);
            self.rows += take;
            if self.rows >= self.max_rows {
                self.flush();
            }
        }
    }

    /// The segment of the row group in progress.
    fn segment(&mut self) -> &mut Segment {
        if self.queued.last().is_none_or(|s| s.close) {
            self.queued.push(Segment::default());
        }
        self.queued.last_mut().expect("pushed above")
    }

    /// Rows in the row group in progress.
    pub(crate) fn in_progress_rows(&self) -> usize {
        self.rows
    }

    /// Queues the close of the row group in progress, if it has rows.
    pub(crate) fn flush(&mut self) {
        if self.rows == 0 {
            return;
        }
        self.segment().close = true;
        self.rows = 0;
    }

    /// Hands the queued work to the column chains, starting those that are not running, the
    /// largest columns first, and waits (doing pool work) until no column has more than
    /// [`MAX_QUEUED_PER_COLUMN`] batch lists waiting. Returns the first error of any chain.
    pub(crate) fn encode(&mut self) -> Result<()> {
        self.error()?;
        let segments = std::mem::take(&mut self.queued);
        if segments.is_empty() {
            return Ok(());
        }
        let mut weights = vec![0usize; self.schema.fields().len()];
        for b in segments.iter().flat_map(|s| &s.batches) {
            for (w, c) in weights.iter_mut().zip(b.columns()) {
                *w += encoding_weight(c);
            }
        }
        for segment in segments {
            // The row group in progress goes on; every later segment starts a row group of its own.
            let mut writers = if self.open {
                None
            } else {
                self.row_groups += 1;
                Some(self.factory.create_column_writers(self.row_groups - 1)?.into_iter())
            };
            self.open = !segment.close;
            let segment = Arc::new(segment);
            for column in &self.shared.columns {
                let start = writers.as_mut().map(|w| (self.row_groups - 1, w.next().expect("a writer per column")));
                lock(column).queue.push_back(Work { segment: Arc::clone(&segment), start });
            }
        }
        let mut order: Vec<usize> = (0..weights.len()).collect();
        order.sort_by_key(|&c| std::cmp::Reverse(weights[c]));
        for c in order {
            let start = {
                let mut column = lock(&self.shared.columns[c]);
                let start = !column.running;
                column.running = true;
                start
            };
            if start {
                self.shared.running.fetch_add(1, Ordering::SeqCst);
                let (shared, field) = (Arc::clone(&self.shared), self.schema.fields()[c].clone());
                rayon::spawn(move || shared.run(c, &field));
            }
        }
        let shared = &self.shared;
        shared.wait_until(|| {
            shared.failed.load(Ordering::SeqCst)
                || shared.columns.iter().all(|c| lock(c).queue.len() <= MAX_QUEUED_PER_COLUMN)
        });
        self.error()
    }

    fn error(&self) -> Result<()> {
        if !self.shared.failed.load(Ordering::SeqCst) {
            return Ok(());
        }
        Err(match lock(&self.shared.error).take() {
            Some(e) => e,
            None => ParquetError::General("a column of this file failed to encode earlier".into()),
        })
    }

    /// Bytes of the file appended so far and not yet taken.
    pub(crate) fn buffered(&self) -> usize {
        lock(&self.shared.file).as_ref().map_or(0, |f| f.inner().len())
    }

    /// Takes the bytes appended so far.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        lock(&self.shared.file).as_mut().map(|f| std::mem::take(f.inner_mut())).unwrap_or_default()
    }

    /// Closes the file: its last row group and the footer, once every column is done. Returns
    /// the bytes not yet taken.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
        self.flush();
        self.encode()?;
        let shared = Arc::clone(&self.shared);
        shared.wait_until(|| shared.running.load(Ordering::SeqCst) == 0);
        self.error()?;
        let file = lock(&shared.file).take().ok_or_else(|| ParquetError::General("the file was finished".into()))?;
        file.into_inner()
    }
}

impl Drop for ParquetFile {
    /// A file dropped before it is finished (the run failed): its chains stop at their next batch
    /// list.
    fn drop(&mut self) {
        self.shared.failed.store(true, Ordering::SeqCst);
    }
}

impl Shared {
    /// Runs pool work until `done`; with none to run, sleeps until a chain makes progress (or a
    /// short while, to look for pool work again), rather than spin.
    fn wait_until(&self, mut done: impl FnMut() -> bool) {
        let was = WAITING.with(|w| w.replace(true));
        loop {
            if done() {
                break;
            }
            if let Some(rayon::Yield::Executed) = rayon::yield_now() {
                continue;
            }
            let (lock_, signal) = &self.progress;
            let guard = lock(lock_);
            // Checked with the lock taken: a chain signals only with it, so no signal is missed.
            if done() {
                break;
            }
            drop(signal.wait_timeout(guard, WAIT_SLICE));
        }
        WAITING.with(|w| w.set(was));
    }

    /// Wakes the waits: a chain did a batch list, or ended.
    fn progressed(&self) {
        let _guard = lock(&self.progress.0);
        self.progress.1.notify_all();
    }

    /// One task of column `c`'s chain: takes its queue, in order, until it is empty.
    fn run(&self, c: usize, field: &FieldRef) {
        let started = Instant::now();
        let nested = WAITING.with(Cell::get);
        while let Some((work, state, row_group)) = self.next_work(c) {
            // The queue is one shorter: a wait for room may end.
            self.progressed();
            // A panic (a bug) fails the file, as it would have failed the caller, instead of
            // aborting the process from a pool thread.
            let constants = self.constant_rows.map(|rows| (&self.constants, rows));
            let encoded = catch_unwind(AssertUnwindSafe(|| encode_column(field, c, &work.segment, state, constants)));
            match encoded {
                Ok(Ok(Encoded::Closed(chunk))) => self.closed(row_group, c, chunk),
                Ok(Ok(Encoded::Open(state))) => lock(&self.columns[c]).state = Some(*state),
                Ok(Err(e)) => self.fail(e),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned());
                    self.fail(ParquetError::General(format!(
                        "encoding column {} panicked: {}",
                        field.name(),
                        what.unwrap_or_else(|| "no message".into())
                    )));
                }
            }
        }
        if !nested {
            self.busy.add(started.elapsed());
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.progressed();
    }

    /// Column `c`'s next batch list with its writer and row group, or `None` (the chain ends) when
    /// the queue is empty or a chain failed.
    fn next_work(&self, c: usize) -> Option<(Work, ColumnState, usize)> {
        let mut column = lock(&self.columns[c]);
        let work = if self.failed.load(Ordering::SeqCst) { None } else { column.queue.pop_front() };
        let Some(mut work) = work else {
            column.queue.clear();
            column.running = false;
            return None;
        };
        let state = match work.start.take() {
            Some((row_group, writer)) => {
                column.row_group = row_group;
                ColumnState { writer, constant: self.constant_rows.map(|_| Vec::new()) }
            }
            None => column.state.take().expect("the writer of the row group in progress"),
        };
        Some((work, state, column.row_group))
    }

    fn fail(&self, e: ParquetError) {
        lock(&self.error).get_or_insert(e);
        self.failed.store(true, Ordering::SeqCst);
        self.progressed();
    }

    /// Keeps column `c`'s chunk of `row_group`, and appends every row group that is complete, in
    /// order.
    fn closed(&self, row_group: usize, c: usize, chunk: Chunk) {
        let width = self.columns.len();
        let mut closed = lock(&self.closed);
        closed.chunks.entry(row_group).or_insert_with(|| (0..width).map(|_| None).collect())[c] = Some(chunk);
        loop {
            let next = closed.next;
            if !closed.chunks.get(&next).is_some_and(|chunks| chunks.iter().all(Option::is_some)) {
                return;
            }
            let chunks = closed.chunks.remove(&next).expect("complete above");
            closed.next += 1;
            if let Err(e) = self.append(chunks.into_iter().flatten()) {
                return self.fail(e);
            }
        }
    }

    /// Appends a row group of `chunks`, and keeps the chunks of constant columns encoded for it.
    fn append(&self, chunks: impl Iterator<Item = Chunk>) -> Result<()> {
        let mut file = lock(&self.file);
        let file = file.as_mut().ok_or_else(|| ParquetError::General("the file was finished".into()))?;
        let mut row_group = file.next_row_group()?;
        let mut constants = Vec::new();
        for (c, chunk) in chunks.enumerate() {
            match chunk {
                Chunk::Encoded(chunk, key) => {
                    if let Some(key) = key {
                        constants.push((c, key, chunk.close().clone()));
                    }
                    chunk.append_to_row_group(&mut row_group)?;
                }
                Chunk::Copied(copy) => row_group.append_column(&copy.bytes, copy.close.clone())?,
            }
        }
        let metadata = row_group.close()?;
        if constants.is_empty() {
            return Ok(());
        }
        // The chunks' bytes, from the file's bytes not taken yet (the row group is among them,
        // once out of the writer's buffer).
        file.flush()?;
        let taken = file.bytes_written() - file.inner().len();
        let mut kept = lock(&self.constants.0);
        for (c, key, close) in constants {
            let column = metadata.column(c);
            let start = column.dictionary_page_offset().unwrap_or_else(|| column.data_page_offset());
            let dictionary = column.dictionary_page_offset().map_or(0, |d| column.data_page_offset() - d);
            let (Ok(start), Ok(len), Ok(dictionary)) =
                (usize::try_from(start), usize::try_from(column.compressed_size()), usize::try_from(dictionary))
            else {
                continue;
            };
            let Some(bytes) = start.checked_sub(taken).and_then(|at| file.inner().get(at..at + len)) else {
                continue;
            };
            // Where the chunk's metadata cannot be moved as `append_to_row_group` moved it, the
            // chunk is not kept: the next row group encodes its own.
            if kept.len() < MAX_CONSTANT_CHUNKS
                && let Ok(close) = close.update_dictionary_location(dictionary)
            {
                kept.entry(key)
                    .or_insert_with(|| Arc::new(CopiedChunk { bytes: Bytes::copy_from_slice(bytes), close }));
            }
        }
        Ok(())
    }
}

/// A column's writer for the row group in progress, with the arrays it has not written yet.
struct ColumnState {
    writer: ArrowColumnWriter,
    /// While every array of the row group so far holds the same one value and none has been
    /// written: those arrays. `None` once the writer has been given any.
    constant: Option<Vec<ArrayRef>>,
}

/// What a batch list leaves of a column: its chunk when the row group closes after it.
enum Encoded {
    Closed(Chunk),
    Open(Box<ColumnState>),
}

/// Writes column `c` of `segment`'s batches. A row group whose column holds one value only is
/// written at its close, unless it is full (of the rows given with `constants`) and `constants`
/// already holds its chunk.
fn encode_column(
    field: &FieldRef,
    c: usize,
    segment: &Segment,
    mut state: ColumnState,
    constants: Option<(&ConstantChunks, usize)>,
) -> Result<Encoded> {
    fn write(field: &FieldRef, writer: &mut ArrowColumnWriter, array: &ArrayRef) -> Result<()> {
        for leaf in compute_leaves(field, array)? {
            writer.write(&leaf)?;
        }
        Ok(())
    }
    for b in &segment.batches {
        let array = b.column(c);
        if let Some(kept) = &mut state.constant {
            if same_one_value(kept.first(), array) {
                kept.push(Arc::clone(array));
                continue;
            }
            for earlier in state.constant.take().expect("checked above") {
                write(field, &mut state.writer, &earlier)?;
            }
        }
        write(field, &mut state.writer, array)?;
    }
    if !segment.close {
        return Ok(Encoded::Open(Box::new(state)));
    }
    let mut key = None;
    if let Some(arrays) = state.constant {
        let rows: usize = arrays.iter().map(|a| a.len()).sum();
        if let Some((constants, _)) = constants.filter(|&(_, full)| rows == full) {
            let first = arrays[0].as_string::<i32>();
            let wanted = ConstantKey {
                column: c,
                value: first.value(0).as_bytes().to_vec(),
                validity: first.nulls().is_some(),
                writes: arrays.iter().map(|a| a.len()).collect(),
            };
            if let Some(copy) = lock(&constants.0).get(&wanted) {
                constants.1.fetch_add(1, Ordering::Relaxed);
                return Ok(Encoded::Closed(Chunk::Copied(Arc::clone(copy))));
            }
            key = Some(wanted);
        }
        for array in &arrays {
            write(field, &mut state.writer, array)?;
        }
    }
    Ok(Encoded::Closed(Chunk::Encoded(Box::new(state.writer.close()?), key)))
}

/// Whether `array` is non-empty text without nulls whose values are all one value, the same as
/// `first`'s (when given) and with a validity buffer as `first` has or has not.
fn same_one_value(first: Option<&ArrayRef>, array: &ArrayRef) -> bool {
    let Some(text) = array.as_string_opt::<i32>() else {
        return false;
    };
    if !is_one_value(text) {
        return false;
    }
    first.is_none_or(|f| {
        let f = f.as_string::<i32>();
        f.value(0) == text.value(0) && f.nulls().is_some() == text.nulls().is_some()
    })
}

/// Whether `text` holds at least one value, no nulls, and the same value in every row: every
/// value has the first one's length, and the values' bytes repeat with that period.
fn is_one_value(text: &StringArray) -> bool {
    if text.is_empty() || text.null_count() > 0 {
        return false;
    }
    // Most columns that hold several values differ already between their first and last row.
    if text.value(0) != text.value(text.len() - 1) {
        return false;
    }
    let offsets = text.value_offsets();
    let len = offsets[1] - offsets[0];
    if !offsets.windows(2).all(|w| w[1] - w[0] == len) {
        return false;
    }
    let bytes = &text.value_data()[offsets[0] as usize..offsets[offsets.len() - 1] as usize];
    let len = len as usize;
    bytes[len..] == bytes[..bytes.len() - len]
}

/// Roughly how long a column takes to encode: the bytes of its values.
fn encoding_weight(column: &ArrayRef) -> usize {
    match column.data_type() {
        DataType::Utf8 => {
            let offsets = column.as_string::<i32>().value_offsets();
            (offsets[offsets.len() - 1] - offsets[0]) as usize
        }
        // Dictionary columns: their Int16 keys.
        t => column.len() * t.primitive_width().unwrap_or(2),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::StringDictionaryBuilder;
    use arrow_array::types::Int16Type;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use std::time::Duration;

    use arrow_schema::{DataType, Field, Schema};
    use parquet::basic::{Compression, ZstdLevel};

    use super::*;

    fn batch(schema: &SchemaRef, start: usize, n: usize) -> RecordBatch {
        let mut platform = StringDictionaryBuilder::<Int16Type>::new();
        for i in start..start + n {
            platform.append_value(["WEB", "SMS", "IOS"][i % 3]);
        }
        let text: StringArray =
            (start..start + n).map(|i| (i % 4 != 0).then(|| format!("text {}", i * 7919 % 1000))).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(platform.finish()),
            Arc::new(text),
            Arc::new(Int64Array::from_iter_values((start..start + n).map(|i| i as i64 * 1_000_003))),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    }

    fn test_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("platform", DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8)), false),
            Field::new("text", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]))
    }

    /// Small row groups and pages, and no dictionary for the column `plain`.
    fn test_props(plain: &str) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
            .set_max_row_group_row_count(Some(1000))
            .set_data_page_row_count_limit(300)
            .set_write_batch_size(128)
            .set_column_dictionary_enabled(plain.into(), false)
            .build()
    }

    /// Writes batches of `sizes` rows (closing a row group after the fourth), handing the work to
    /// the columns after the writes that `encode_after` picks and taking the bytes then; returns
    /// the file and what `ArrowWriter` writes from the same batches.
    fn both_files(sizes: &[usize], encode_after: impl Fn(usize) -> bool) -> (Vec<u8>, Vec<u8>, usize) {
        let schema = test_schema();
        let mut reference = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(test_props("n"))).unwrap();
        let busy = CpuTime::default();
        let mut file =
            ParquetFile::try_new(schema.clone(), test_props("n"), busy.clone(), ConstantChunks::default()).unwrap();
        let mut bytes = Vec::new();
        let mut start = 0;
        for (i, &n) in sizes.iter().enumerate() {
            let b = batch(&schema, start, n);
            start += n;
            reference.write(&b).unwrap();
            file.write(&b);
            if i == 3 {
                reference.flush().unwrap();
                file.flush();
            }
            assert_eq!(file.in_progress_rows(), reference.in_progress_rows());
            if encode_after(i) {
                file.encode().unwrap();
                bytes.append(&mut file.take());
            }
        }
        bytes.extend(file.finish().unwrap());
        assert!(start == 0 || busy.get() > Duration::ZERO, "the columns' time is counted");
        (bytes, reference.into_inner().unwrap(), start)
    }

    #[test]
    fn the_file_is_the_one_arrow_writer_writes() {
        let sizes = [1, 999, 5, 1000, 2500, 17, 0, 3, 4000, 1, 1200];
        // Bytes taken while the file is written are the same as bytes taken at the end, and the
        // work may be handed over after any number of writes: after every one (the columns then
        // fall behind each other by several batch lists), some, or none.
        let patterns: [&dyn Fn(usize) -> bool; 3] = [&|_| true, &|i| i % 3 != 1, &|_| false];
        for encode_after in patterns {
            let (bytes, want, rows) = both_files(&sizes, encode_after);
            assert!(bytes == want, "{} bytes, ArrowWriter wrote {}", bytes.len(), want.len());
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes::Bytes::from(bytes), 4096)
                    .unwrap();
            let read: usize = reader.map(|b| b.unwrap().num_rows()).sum();
            assert_eq!(read, rows);
        }
    }

    /// One batch of `n` rows: `account` holds `account` in every row (or two values, with `None`),
    /// `bot` holds one value, with a validity buffer (and no nulls) or without.
    fn constant_batch(
        schema: &SchemaRef,
        start: usize,
        n: usize,
        account: Option<&str>,
        validity: bool,
    ) -> RecordBatch {
        let account: StringArray = match account {
            Some(a) => vec![Some(a); n].into_iter().collect(),
            None => (0..n).map(|r| Some(if r % 2 == 0 { "a1" } else { "a2" })).collect(),
        };
        let bot = StringArray::from(vec!["bot-1"; n]);
        let bot = if validity {
            let (offsets, values, _) = bot.into_parts();
            StringArray::new(offsets, values, Some(arrow_buffer::NullBuffer::new_valid(n)))
        } else {
            bot
        };
        let text: StringArray = (start..start + n).map(|r| Some(format!("text {}", r % 37))).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(account),
            Arc::new(bot),
            Arc::new(text),
            Arc::new(Int64Array::from_iter_values((start..start + n).map(|r| r as i64))),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    }

    #[test]
    fn constant_columns_are_copied_into_the_same_bytes() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("account", DataType::Utf8, false),
            Field::new("bot", DataType::Utf8, true),
            Field::new("text", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let (a1, a2) = (Some("a1"), Some("a2"));
        // Row groups of 1000 rows: (rows, account, bot's validity buffer) of each batch.
        let row_groups: Vec<Vec<(usize, Option<&str>, bool)>> = vec![
            vec![(250, a1, false); 4],
            vec![(250, a1, true); 4],
            // `account` holds two values in one batch.
            vec![(250, a1, false), (250, None, false), (250, a1, false), (250, a1, false)],
            vec![(250, a2, true); 4],
            // `account` holds one value per batch, but not the same one.
            vec![(250, a1, false), (250, a1, false), (250, a2, false), (250, a2, false)],
            // `bot` has a validity buffer in some batches only.
            vec![(250, a1, false), (250, a1, false), (250, a1, true), (250, a1, true)],
            vec![(100, a2, false), (900, a2, false)],
            vec![(100, a2, false), (900, a2, false)],
            vec![(1000, a2, true)],
            // The last row group is not full.
            vec![(7, a2, true)],
        ];
        let mut batches = Vec::new();
        let mut start = 0;
        for (n, account, validity) in row_groups.into_iter().flatten() {
            batches.push(constant_batch(&schema, start, n, account, validity));
            start += n;
        }
        // Two files share the chunks, as the days of a table do.
        let constants = ConstantChunks::default();
        for _ in 0..2 {
            let mut reference = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(test_props("bot"))).unwrap();
            let mut file =
                ParquetFile::try_new(schema.clone(), test_props("bot"), CpuTime::default(), constants.clone()).unwrap();
            let mut bytes = Vec::new();
            for b in &batches {
                reference.write(b).unwrap();
                file.write(b);
                file.encode().unwrap();
                bytes.append(&mut file.take());
            }
            bytes.extend(file.finish().unwrap());
            assert!(bytes == reference.into_inner().unwrap(), "the file is the one ArrowWriter writes");
        }
        // The second file copies every chunk of a full row group whose column holds one value:
        // `account` in row groups 0, 1, 3, 5, 6, 7 and 8, `bot` in all of them but 5. The first
        // file copies those of its own earlier row groups, if they were appended by then:
        // `account` in 1, 5 and 7, `bot` in 2, 3, 4 and 7.
        let copied = constants.copied();
        assert!((15..=22).contains(&copied), "{copied} chunks copied");
    }

    #[test]
    fn one_value_is_told_from_several() {
        let text = |v: &[Option<&str>]| StringArray::from(v.to_vec());
        assert!(is_one_value(&text(&[Some("x"), Some("x"), Some("x")])));
        assert!(is_one_value(&text(&[Some(""), Some("")])));
        // Same first and last value, same lengths, another value between.
        assert!(!is_one_value(&text(&[Some("ab"), Some("cd"), Some("ab")])));
        // Bytes that repeat with the first value's length, but values of other lengths.
        assert!(!is_one_value(&text(&[Some("ab"), Some("a"), Some("bab"), Some("ab")])));
        assert!(!is_one_value(&text(&[Some("x"), None, Some("x")])));
        assert!(!is_one_value(&text(&[])));
        // A slice of an array: its values start past the buffer's first byte.
        let sliced = text(&[Some("q"), Some("xy"), Some("xy"), Some("z")]).slice(1, 2);
        assert!(is_one_value(&sliced));
    }

    #[test]
    fn a_column_that_fails_fails_the_file_with_its_error() {
        let schema = test_schema();
        let mut file =
            ParquetFile::try_new(schema.clone(), test_props("n"), CpuTime::default(), ConstantChunks::default())
                .unwrap();
        file.write(&batch(&schema, 0, 10));
        file.encode().unwrap();
        // A batch whose `n` column is text: that column's writer refuses it.
        let wrong_schema = Arc::new(Schema::new(vec![
            schema.field(0).clone(),
            schema.field(1).clone(),
            Field::new("n", DataType::Utf8, false),
        ]));
        let good = batch(&schema, 10, 10);
        let wrong = RecordBatch::try_new(
            wrong_schema,
            vec![good.column(0).clone(), good.column(1).clone(), Arc::new(StringArray::from(vec!["x"; 10]))],
        )
        .unwrap();
        file.write(&wrong);
        file.write(&batch(&schema, 20, 10));
        // The columns may not have got to it when `encode` returns; `finish` waits for them.
        let e = match file.encode() {
            Err(e) => e.to_string(),
            Ok(()) => file.finish().expect_err("the failed column fails the file").to_string(),
        };
        assert!(e.contains("Field 'n' has type Int64, array has type Utf8"), "{e}");
    }
}
