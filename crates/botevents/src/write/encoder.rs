//! The sync core of writing: batches → per-day Parquet (or Arrow IPC) bytes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use chrono::NaiveDate;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::WriteError;
use super::ipc::IpcFileEncoder;
use super::parquet_file::{ConstantChunks, ParquetFile};
use crate::convert::time::day_runs;
use crate::cpu::CpuTime;
use crate::schema::Table;

/// Default zstd level: level 1 compresses bot logs within a few percent of level 3 at about
/// twice the speed.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
/// Rows per row group: bounds the memory of the file being encoded (≈ 15 MB of detail rows).
pub const DEFAULT_ROW_GROUP_ROWS: usize = 64 * 1024;
/// Rows per write into the Parquet encoder; fixed so that bytes never depend on input chunking.
pub const DEFAULT_WRITE_ROWS: usize = 8192;
/// When the input moves on to another day, the previous day's row group in progress (with its
/// rows waiting for a full write) is closed if it holds at least this many rows. The API's
/// newest-first order then keeps one row group in memory at a time, and the day's file is the
/// one its last rows would have closed at the end: whether an older day follows in the same
/// window changes no byte. Unordered input still gets row groups of a useful size.
pub const SWITCH_FLUSH_ROWS: usize = 16 * 1024;

/// The format of the data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FileFormat {
    /// Apache Parquet (`.parquet`), the default: what warehouses load.
    #[default]
    Parquet,
    /// The Arrow IPC file format, also known as Feather v2 (`.arrow`): what Arrow readers
    /// (pyarrow, polars, arrow-rs) map without decoding.
    Arrow,
}

impl FileFormat {
    /// Every format.
    pub const ALL: [FileFormat; 2] = [FileFormat::Parquet, FileFormat::Arrow];

    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Arrow => "arrow",
        }
    }
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}

/// Compression of the bodies of Arrow IPC files (the format's own codecs: no snappy or gzip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcCompression {
    /// Uncompressed: the files can be memory-mapped.
    None,
    /// zstd at `level`.
    Zstd {
        /// The zstd level.
        level: i32,
    },
    /// LZ4 frames.
    Lz4,
}

impl Default for IpcCompression {
    fn default() -> Self {
        IpcCompression::Zstd { level: DEFAULT_ZSTD_LEVEL }
    }
}

/// Encoder settings.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Parquet or Arrow IPC files.
    pub format: FileFormat,
    /// Parquet compression codec (Parquet files).
    pub compression: Compression,
    /// Body compression of Arrow IPC files.
    pub ipc_compression: IpcCompression,
    /// Maximum rows per row group.
    pub row_group_rows: usize,
    /// Rows per batch written into the encoder.
    pub write_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            format: FileFormat::Parquet,
            ipc_compression: IpcCompression::default(),
            compression: Compression::ZSTD(ZstdLevel::try_new(DEFAULT_ZSTD_LEVEL).unwrap_or_default()),
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            write_rows: DEFAULT_WRITE_ROWS,
        }
    }
}

impl WriteOptions {
    fn properties(&self, table: Table) -> WriterProperties {
        let mut props = WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_created_by(concat!("botevents ", env!("CARGO_PKG_VERSION")).to_string());
        for c in table.def().columns.iter().filter(|c| !c.parquet_dictionary) {
            props = props.set_column_dictionary_enabled(ColumnPath::from(c.name.as_str()), false);
        }
        for c in table.def().columns.iter().filter(|c| !c.parquet_statistics) {
            props = props.set_column_statistics_enabled(ColumnPath::from(c.name.as_str()), EnabledStatistics::None);
        }
        props.build()
    }
}

/// One day's file being encoded.
enum DayFile {
    Parquet(ParquetFile),
    Arrow(IpcFileEncoder),
}

impl DayFile {
    fn write(&mut self, batch: &RecordBatch, table: Table, day: NaiveDate) -> Result<(), WriteError> {
        match self {
            DayFile::Parquet(w) => {
                w.write(batch);
                Ok(())
            }
            DayFile::Arrow(w) => w.write(batch).map_err(|source| WriteError::EncodeIpc { table, day, source }),
        }
    }

    /// Rows buffered in a Parquet row group not closed yet (none for Arrow IPC, which encodes
    /// each batch as it comes).
    fn in_progress_rows(&self) -> usize {
        match self {
            DayFile::Parquet(w) => w.in_progress_rows(),
            DayFile::Arrow(_) => 0,
        }
    }

    /// Carries out the work queued (Parquet; Arrow IPC encodes each batch as it comes).
    fn encode(&mut self, table: Table, day: NaiveDate) -> Result<(), WriteError> {
        match self {
            DayFile::Parquet(w) => w.encode().map_err(|source| WriteError::Encode { table, day, source }),
            DayFile::Arrow(_) => Ok(()),
        }
    }

    /// Queues the close of the row group in progress (Parquet; Arrow IPC has none).
    fn flush(&mut self) {
        if let DayFile::Parquet(w) = self {
            w.flush();
        }
    }

    /// Queues the close of the last row group and hands it to the columns (Parquet), without
    /// waiting for them: [`DayFile::finish`] does.
    fn close(&mut self, table: Table, day: NaiveDate) -> Result<(), WriteError> {
        self.flush();
        self.encode(table, day)
    }

    fn buffered(&mut self) -> usize {
        match self {
            DayFile::Parquet(w) => w.buffered(),
            DayFile::Arrow(w) => w.buffered(),
        }
    }

    fn take(&mut self) -> Vec<u8> {
        match self {
            DayFile::Parquet(w) => w.take(),
            DayFile::Arrow(w) => w.take(),
        }
    }

    fn finish(self, table: Table, day: NaiveDate) -> Result<Vec<u8>, WriteError> {
        match self {
            DayFile::Parquet(w) => w.finish().map_err(|source| WriteError::Encode { table, day, source }),
            DayFile::Arrow(w) => w.finish().map_err(|source| WriteError::EncodeIpc { table, day, source }),
        }
    }
}

struct DayEncoder {
    writer: DayFile,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    rows: u64,
    /// The distinct values of each dictionary column (by index) in the day's rows so far.
    distinct: BTreeMap<usize, HashSet<Box<str>>>,
}

/// Encodes one table's rows of one window into one Parquet (or Arrow IPC) file per UTC day, in
/// memory, for the async shell to upload. Sync, no I/O.
pub struct TableEncoder {
    table: Table,
    time_col: usize,
    opts: WriteOptions,
    props: WriterProperties,
    days: BTreeMap<NaiveDate, DayEncoder>,
    last_day: Option<NaiveDate>,
    /// Time the Parquet files' columns took to encode on the pool, past the calls that queued it.
    busy: CpuTime,
    /// Chunks of constant columns, shared by the days' files.
    constants: ConstantChunks,
}

impl TableEncoder {
    /// An encoder for `table`.
    pub fn new(table: Table, opts: WriteOptions) -> TableEncoder {
        let def = table.def();
        let time_col = def.columns.iter().position(|c| c.name == def.partition.from).unwrap_or_default();
        let props = opts.properties(table);
        TableEncoder {
            table,
            time_col,
            opts,
            props,
            days: BTreeMap::new(),
            last_day: None,
            busy: CpuTime::default(),
            constants: ConstantChunks::default(),
        }
    }

    /// Routes a batch's rows to their days' files, keeping their order.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        let times = batch.column(self.time_col).as_primitive::<TimestampMicrosecondType>();
        for (day, run) in day_runs(times.values()) {
            let (table, write_rows) = (self.table, self.opts.write_rows);
            if let Some(prev) = self.last_day.filter(|&p| p != day)
                && let Some(enc) = self.days.get_mut(&prev)
                && matches!(enc.writer, DayFile::Parquet(_))
                && enc.writer.in_progress_rows() + enc.pending_rows >= SWITCH_FLUSH_ROWS
            {
                // As at the end: the waiting rows in one write, then the close.
                enc.flush_pending(table, prev, usize::MAX)?;
                enc.writer.flush();
            }
            self.last_day = Some(day);
            self.day(day)?.push(batch.slice(run.start, run.len()), table, day, write_rows)?;
        }
        Ok(())
    }

    fn day(&mut self, day: NaiveDate) -> Result<&mut DayEncoder, WriteError> {
        if !self.days.contains_key(&day) {
            let table = self.table;
            let writer = match self.opts.format {
                FileFormat::Parquet => DayFile::Parquet(
                    ParquetFile::try_new(table.schema(), self.props.clone(), self.busy.clone(), self.constants.clone())
                        .map_err(|source| WriteError::Encode { table, day, source })?,
                ),
                FileFormat::Arrow => DayFile::Arrow(
                    super::ipc::write_options(self.opts.ipc_compression)
                        .and_then(|opts| IpcFileEncoder::try_new(table.schema(), opts))
                        .map_err(|source| WriteError::EncodeIpc { table, day, source })?,
                ),
            };
            let distinct = BTreeMap::new();
            self.days.insert(day, DayEncoder { writer, pending: Vec::new(), pending_rows: 0, rows: 0, distinct });
        }
        Ok(self.days.get_mut(&day).expect("inserted above"))
    }

    /// Carries out the work the writes have queued, then takes the encoded bytes of the days
    /// that have at least `min_bytes` ready.
    pub fn drain(&mut self, min_bytes: usize) -> Result<Vec<(NaiveDate, Vec<u8>)>, WriteError> {
        let mut out = Vec::new();
        for (day, enc) in &mut self.days {
            enc.writer.encode(self.table, *day)?;
            if enc.writer.buffered() >= min_bytes {
                out.push((*day, enc.writer.take()));
            }
        }
        Ok(out)
    }

    /// Time the Parquet files' columns take to encode on the pool past the calls that queue it
    /// ([`TableEncoder::drain`] returns before they are done), growing until [`TableEncoder::finish`]
    /// has returned.
    pub fn busy(&self) -> CpuTime {
        self.busy.clone()
    }

    /// Rows routed so far.
    pub fn rows(&self) -> u64 {
        self.days.values().map(|d| d.rows + d.pending_rows as u64).sum()
    }

    /// Finishes every day's file: its last bytes and its row count.
    pub fn finish(mut self) -> Result<Vec<(NaiveDate, Vec<u8>, u64)>, WriteError> {
        // Every day's last rows and row-group close go to the column chains first, so that the
        // days' last row groups are encoded together, not one day after another.
        for (&day, enc) in &mut self.days {
            enc.flush_pending(self.table, day, usize::MAX)?;
            enc.writer.close(self.table, day)?;
        }
        let mut out = Vec::new();
        for (day, enc) in self.days {
            let rows = enc.rows;
            let bytes = enc.writer.finish(self.table, day)?;
            out.push((day, bytes, rows));
        }
        Ok(out)
    }
}

impl DayEncoder {
    fn push(&mut self, batch: RecordBatch, table: Table, day: NaiveDate, write_rows: usize) -> Result<(), WriteError> {
        self.count_distinct(&batch, table, day)?;
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= write_rows {
            self.flush_pending(table, day, write_rows)?;
        }
        Ok(())
    }

    /// Adds the values that `batch`'s dictionary columns use to the day's; fails once a column
    /// holds more than its key type numbers, which no reader could then read back as the
    /// schema's dictionary. One decoder's body never does (it fails first, naming the line), but
    /// the rows of several bodies (windows, files) of one day may.
    fn count_distinct(&mut self, batch: &RecordBatch, table: Table, day: NaiveDate) -> Result<(), WriteError> {
        let schema = batch.schema();
        for (i, (field, column)) in schema.fields().iter().zip(batch.columns()).enumerate() {
            let DataType::Dictionary(key, _) = field.data_type() else { continue };
            let max = match key.as_ref() {
                DataType::Int8 => 1 << 7,
                DataType::Int16 => 1 << 15,
                _ => continue,
            };
            let Some(dict) = column.as_any_dictionary_opt() else { continue };
            let Some(values) = dict.values().as_string_opt::<i32>() else { continue };
            let mut used = vec![false; values.len()];
            let keys = dict.keys();
            for (row, k) in dict.normalized_keys().into_iter().enumerate() {
                if keys.is_valid(row) && k < used.len() {
                    used[k] = true;
                }
            }
            let seen = self.distinct.entry(i).or_default();
            for (value, _) in values.iter().zip(used).filter(|(_, u)| *u) {
                let Some(value) = value else { continue };
                if !seen.contains(value) {
                    if seen.len() >= max {
                        let (column, key) = (field.name().clone(), key.as_ref().clone());
                        return Err(WriteError::DictionaryFull { table, day, column, key, max });
                    }
                    seen.insert(value.into());
                }
            }
        }
        Ok(())
    }

    /// Writes the pending rows in batches of exactly `write_rows` (the last one shorter only
    /// when `write_rows` is `usize::MAX`, at the end).
    fn flush_pending(&mut self, table: Table, day: NaiveDate, write_rows: usize) -> Result<(), WriteError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let all = if self.pending.len() == 1 {
            self.pending.pop().expect("one pending batch")
        } else {
            let schema = Arc::clone(&self.pending[0].schema());
            let b = arrow_select::concat::concat_batches(&schema, &self.pending)
                .map_err(|source| WriteError::Arrow { table, source })?;
            self.pending.clear();
            b
        };
        let n = all.num_rows();
        let step = write_rows.min(n.max(1));
        let mut off = 0;
        while n - off >= step && off < n {
            let chunk = all.slice(off, step);
            self.writer.write(&chunk, table, day)?;
            self.rows += step as u64;
            off += step;
        }
        self.pending.clear();
        self.pending_rows = n - off;
        if off < n {
            self.pending.push(all.slice(off, n - off));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::StringDictionaryBuilder;
    use arrow_array::types::Int16Type;
    use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow_ipc::reader::FileReader;

    use super::*;
    use crate::convert::time::day_of_micros;

    const PLATFORMS: [&str; 4] = ["WEB", "IOS", "ANDROID", "FACEBOOK"];

    /// Detail rows over two days, with nulls and several platforms: (platform, time, detail).
    fn rows(n: usize) -> Vec<(usize, i64, Option<String>)> {
        let day = 86_400_000_000i64;
        let start = 20_412 * day; // 2025-11-20
        (0..n)
            .map(|i| {
                let platform = (i * 7 / 5) % PLATFORMS.len();
                // Newest first, as the API sends them, across a midnight.
                let time = start + 2 * day - 1 - (i as i64) * (2 * day / n as i64);
                let detail = (i % 3 != 0).then(|| format!("detail {i}"));
                (platform, time, detail)
            })
            .collect()
    }

    /// One decoder batch of `rows`, with a dictionary of its own: every platform, in an order
    /// that depends on `seed`, as two decoders would build them differently.
    fn batch(rows: &[(usize, i64, Option<String>)], seed: usize) -> RecordBatch {
        let n = rows.len();
        let order: Vec<&str> = (0..PLATFORMS.len()).map(|i| PLATFORMS[(i + seed) % PLATFORMS.len()]).collect();
        let mut platform =
            StringDictionaryBuilder::<Int16Type>::new_with_dictionary(n, &StringArray::from(order)).unwrap();
        for (p, _, _) in rows {
            platform.append_value(PLATFORMS[*p]);
        }
        let text = |v: &str| Arc::new(StringArray::from(vec![v; n])) as ArrayRef;
        let details: ArrayRef = Arc::new(StringArray::from(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>()));
        let times = TimestampMicrosecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()).with_timezone("UTC");
        let nulls: ArrayRef = Arc::new(StringArray::from(vec![None::<&str>; n]));
        let columns: Vec<ArrayRef> = vec![
            text("123"),
            text("bot-1"),
            text("Welcome"),
            Arc::new(platform.finish()),
            details,
            nulls.clone(),
            Arc::new(times),
            text("conv"),
            nulls,
        ];
        RecordBatch::try_new(Table::Detail.schema(), columns).unwrap()
    }

    /// Encodes `rows` fed in chunks of `chunk` rows; returns each day's whole file.
    fn encode(opts: &WriteOptions, rows: &[(usize, i64, Option<String>)], chunk: usize) -> Vec<(NaiveDate, Vec<u8>)> {
        let mut enc = TableEncoder::new(Table::Detail, opts.clone());
        let mut files: BTreeMap<NaiveDate, Vec<u8>> = BTreeMap::new();
        for (i, part) in rows.chunks(chunk).enumerate() {
            enc.write(&batch(part, i)).unwrap();
            for (day, bytes) in enc.drain(64).unwrap() {
                files.entry(day).or_default().extend(bytes);
            }
        }
        for (day, bytes, _) in enc.finish().unwrap() {
            files.entry(day).or_default().extend(bytes);
        }
        files.into_iter().collect()
    }

    fn arrow(compression: IpcCompression) -> WriteOptions {
        WriteOptions {
            format: FileFormat::Arrow,
            ipc_compression: compression,
            write_rows: 10,
            ..WriteOptions::default()
        }
    }

    /// The rows of a file as text, dictionaries decoded.
    fn read_arrow(bytes: &[u8]) -> (Vec<RecordBatch>, Vec<Vec<String>>) {
        let reader = FileReader::try_new(std::io::Cursor::new(bytes.to_vec()), None).unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let mut rows = Vec::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                let row = b.columns().iter().map(|c| arrow_cast_display(c.as_ref(), i)).collect::<Vec<_>>();
                rows.push(row);
            }
        }
        (batches, rows)
    }

    fn arrow_cast_display(c: &dyn Array, i: usize) -> String {
        if c.is_null(i) {
            return "∅".into();
        }
        match c.data_type() {
            arrow_schema::DataType::Dictionary(..) => {
                let d = c.as_dictionary::<Int16Type>();
                let k = d.keys().value(i) as usize;
                d.values().as_string::<i32>().value(k).to_string()
            }
            arrow_schema::DataType::Utf8 => c.as_string::<i32>().value(i).to_string(),
            _ => c.as_primitive::<TimestampMicrosecondType>().value(i).to_string(),
        }
    }

    #[test]
    fn arrow_files_hold_one_dictionary_shared_by_every_batch() {
        let rows = rows(95);
        let files = encode(&arrow(IpcCompression::default()), &rows, 7);
        assert_eq!(files.len(), 2, "two days");
        let mut seen = 0;
        for (day, bytes) in &files {
            let (batches, got) = read_arrow(bytes);
            assert!(batches.len() > 2, "{day}: several record batches");
            let want: Vec<&(usize, i64, Option<String>)> = rows.iter().filter(|r| day_of_micros(r.1) == *day).collect();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g[3], PLATFORMS[w.0]);
                assert_eq!(g[4], w.2.clone().unwrap_or_else(|| "∅".into()));
                assert_eq!(g[6], w.1.to_string());
            }
            // One dictionary for the day, in order of first use, shared by every batch.
            let first = batches[0].column(3).as_dictionary::<Int16Type>().values().clone();
            let mut order: Vec<&str> = Vec::new();
            for w in &want {
                if !order.contains(&PLATFORMS[w.0]) {
                    order.push(PLATFORMS[w.0]);
                }
            }
            assert_eq!(first.as_string::<i32>().iter().flatten().collect::<Vec<_>>(), order);
            for b in &batches {
                assert_eq!(b.column(3).as_dictionary::<Int16Type>().values(), &first);
            }
            let footer_len = i32::from_le_bytes(bytes[bytes.len() - 10..bytes.len() - 6].try_into().unwrap());
            let footer =
                arrow_ipc::root_as_footer(&bytes[bytes.len() - 10 - footer_len as usize..bytes.len() - 10]).unwrap();
            assert_eq!(footer.dictionaries().unwrap().len(), 1, "{day}: one dictionary batch");
            seen += got.len();
        }
        assert_eq!(seen, rows.len());
    }

    #[test]
    fn bytes_do_not_depend_on_input_chunking() {
        let rows = rows(95);
        for opts in [
            arrow(IpcCompression::default()),
            arrow(IpcCompression::None),
            arrow(IpcCompression::Lz4),
            WriteOptions { write_rows: 10, ..WriteOptions::default() },
        ] {
            let whole = encode(&opts, &rows, rows.len());
            for chunk in [1, 3, 7, 100] {
                assert!(encode(&opts, &rows, chunk) == whole, "{:?} chunks of {chunk}", opts.format);
            }
        }
    }

    #[test]
    fn a_day_file_does_not_depend_on_the_day_after_it_in_the_input() {
        // Newest first over two days: the newer day's 20,000 rows pass the switch flush, with
        // some of them still waiting for a full write when the older day begins.
        let rows = rows(40_000);
        let newer = rows[0].1.div_euclid(86_400_000_000);
        let split = rows.iter().position(|r| r.1.div_euclid(86_400_000_000) != newer).unwrap();
        assert!(split > SWITCH_FLUSH_ROWS && split % DEFAULT_WRITE_ROWS != 0, "{split}");
        let opts = WriteOptions::default();
        let alone = encode(&opts, &rows[..split], 1000);
        let both = encode(&opts, &rows, 1000);
        assert_eq!(alone.len(), 1);
        assert!(both[1] == alone[0], "the newer day's file changed with the older day after it");
        let meta = parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(both[1].1.clone())).unwrap();
        use parquet::file::reader::FileReader as _;
        assert_eq!(meta.metadata().num_row_groups(), 1);
    }

    #[test]
    fn a_day_holds_no_more_platforms_than_its_keys_number() {
        // Rows of one day from two bodies, each with distinct platforms within its own limit.
        let body = |prefix: &str, n: usize| {
            let rows: Vec<_> = (0..n).map(|_| (0, 20_412 * 86_400_000_000i64, None)).collect();
            let b = batch(&rows, 0);
            let values = StringArray::from_iter_values((0..n).map(|i| format!("{prefix}{i}")));
            let keys = arrow_array::Int16Array::from_iter_values(0..n as i16);
            let mut columns = b.columns().to_vec();
            columns[3] = Arc::new(arrow_array::DictionaryArray::<Int16Type>::try_new(keys, Arc::new(values)).unwrap());
            RecordBatch::try_new(b.schema(), columns).unwrap()
        };
        for opts in [WriteOptions::default(), arrow(IpcCompression::default())] {
            let mut enc = TableEncoder::new(Table::Detail, opts.clone());
            enc.write(&body("A", 20_000)).unwrap();
            enc.write(&body("B", 12_768)).unwrap();
            // 32,768 in all: as many as the keys number; the same values again add nothing.
            enc.write(&body("A", 20_000)).unwrap();
            let err = enc.write(&body("C", 1)).unwrap_err().to_string();
            assert_eq!(
                err,
                "custom_event_detail for 2025-11-20: column platform holds more than 32768 distinct values, more than its Dictionary(Int16) numbers"
            );
        }
    }

    #[test]
    fn arrow_compression_is_the_one_asked_for() {
        let rows = rows(200);
        let size = |c| encode(&arrow(c), &rows, 50).iter().map(|(_, b)| b.len()).sum::<usize>();
        let none = size(IpcCompression::None);
        assert!(size(IpcCompression::default()) < none);
        assert!(size(IpcCompression::Lz4) < none);
        for c in [IpcCompression::None, IpcCompression::Lz4, IpcCompression::Zstd { level: 9 }] {
            for (_, bytes) in encode(&arrow(c), &rows, 50) {
                assert!(!read_arrow(&bytes).1.is_empty());
            }
        }
    }
}
