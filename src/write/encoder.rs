//! The sync core of writing: batches → per-day Parquet bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::WriteError;
use crate::convert::time::day_of_micros;
use crate::schema::Table;

/// Default zstd level: level 1 compresses bot logs within a few percent of level 3 at about
/// twice the speed.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
/// Rows per row group: bounds the memory of the file being encoded (≈ 15 MB of detail rows).
pub const DEFAULT_ROW_GROUP_ROWS: usize = 64 * 1024;
/// Rows per write into the Parquet encoder; fixed so that bytes never depend on input chunking.
pub const DEFAULT_WRITE_ROWS: usize = 8192;
/// When the input moves on to another day, the previous day's row group in progress is closed if
/// it holds at least this many rows. The API's newest-first order then keeps one row group in
/// memory at a time; unordered input still gets row groups of a useful size.
pub const SWITCH_FLUSH_ROWS: usize = 16 * 1024;

/// Encoder settings.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Parquet compression codec.
    pub compression: Compression,
    /// Maximum rows per row group.
    pub row_group_rows: usize,
    /// Rows per batch written into the encoder.
    pub write_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: Compression::ZSTD(ZstdLevel::try_new(DEFAULT_ZSTD_LEVEL).unwrap_or_default()),
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            write_rows: DEFAULT_WRITE_ROWS,
        }
    }
}

impl WriteOptions {
    fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_created_by(concat!("botevents ", env!("CARGO_PKG_VERSION")).to_string())
            .build()
    }
}

struct DayEncoder {
    writer: ArrowWriter<Vec<u8>>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    rows: u64,
}

/// Encodes one table's rows of one window into one Parquet file per UTC day, in memory, for the
/// async shell to upload. Sync, no I/O.
pub struct TableEncoder {
    table: Table,
    time_col: usize,
    opts: WriteOptions,
    props: WriterProperties,
    days: BTreeMap<NaiveDate, DayEncoder>,
    last_day: Option<NaiveDate>,
}

impl TableEncoder {
    /// An encoder for `table`.
    pub fn new(table: Table, opts: WriteOptions) -> TableEncoder {
        let def = table.def();
        let time_col = def.columns.iter().position(|c| c.name == def.partition.from).unwrap_or_default();
        let props = opts.properties();
        TableEncoder { table, time_col, opts, props, days: BTreeMap::new(), last_day: None }
    }

    /// Routes a batch's rows to their days' files, keeping their order.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        let times = batch.column(self.time_col).as_primitive::<TimestampMicrosecondType>();
        let n = batch.num_rows();
        let mut start = 0;
        while start < n {
            let day = day_of_micros(times.value(start));
            let mut end = start + 1;
            while end < n && day_of_micros(times.value(end)) == day {
                end += 1;
            }
            let (table, write_rows) = (self.table, self.opts.write_rows);
            if let Some(prev) = self.last_day.filter(|&p| p != day)
                && let Some(enc) = self.days.get_mut(&prev)
                && enc.writer.in_progress_rows() >= SWITCH_FLUSH_ROWS
            {
                enc.writer.flush().map_err(|source| WriteError::Encode { table, day: prev, source })?;
            }
            self.last_day = Some(day);
            self.day(day)?.push(batch.slice(start, end - start), table, day, write_rows)?;
            start = end;
        }
        Ok(())
    }

    fn day(&mut self, day: NaiveDate) -> Result<&mut DayEncoder, WriteError> {
        if !self.days.contains_key(&day) {
            let writer = ArrowWriter::try_new(Vec::new(), self.table.schema(), Some(self.props.clone()))
                .map_err(|source| WriteError::Encode { table: self.table, day, source })?;
            self.days.insert(day, DayEncoder { writer, pending: Vec::new(), pending_rows: 0, rows: 0 });
        }
        Ok(self.days.get_mut(&day).expect("inserted above"))
    }

    /// Encoded bytes of the days that have at least `min_bytes` ready.
    pub fn drain(&mut self, min_bytes: usize) -> Vec<(NaiveDate, Vec<u8>)> {
        let mut out = Vec::new();
        for (day, enc) in &mut self.days {
            if enc.writer.inner_mut().len() >= min_bytes {
                out.push((*day, std::mem::take(enc.writer.inner_mut())));
            }
        }
        out
    }

    /// Rows routed so far.
    pub fn rows(&self) -> u64 {
        self.days.values().map(|d| d.rows + d.pending_rows as u64).sum()
    }

    /// Finishes every day's file: its last bytes and its row count.
    pub fn finish(self) -> Result<Vec<(NaiveDate, Vec<u8>, u64)>, WriteError> {
        let mut out = Vec::new();
        for (day, mut enc) in self.days {
            enc.flush_pending(self.table, day, usize::MAX)?;
            let rows = enc.rows;
            let bytes =
                enc.writer.into_inner().map_err(|source| WriteError::Encode { table: self.table, day, source })?;
            out.push((day, bytes, rows));
        }
        Ok(out)
    }
}

impl DayEncoder {
    fn push(&mut self, batch: RecordBatch, table: Table, day: NaiveDate, write_rows: usize) -> Result<(), WriteError> {
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= write_rows {
            self.flush_pending(table, day, write_rows)?;
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
            self.writer.write(&chunk).map_err(|source| WriteError::Encode { table, day, source })?;
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
