//! One Parquet file encoded in memory with its columns encoded in parallel.
//!
//! The same file, byte for byte, as `parquet::arrow::ArrowWriter` writes from the same batches:
//! each column chunk goes through its own `ArrowColumnWriter` in the same sequence of writes, the
//! row groups close after the same rows, and the chunks are appended to each row group in column
//! order.
//!
//! Writes and row-group closes are queued, and [`ParquetFile::encode`] carries out all that is
//! queued with one task per column on the rayon pool: each column goes through every queued batch
//! (and row-group close) on its own, so the columns wait for each other once per call, not once
//! per batch, and a core done with the small columns is free for other work while the largest
//! one finishes.
//!
//! Memory: the batches queued, the encoded pages of the row groups in progress, plus the bytes not
//! yet taken.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::Result;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

/// A Parquet file being written into a `Vec<u8>`.
pub(crate) struct ParquetFile {
    schema: SchemaRef,
    file: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
    /// Column writers of the row group in progress, once a batch has been encoded into it.
    in_progress: Option<Vec<ArrowColumnWriter>>,
    /// Work not yet carried out: batches to encode into the row group in progress, in order, and
    /// the batches of each later row group, each group ended by a close but the last.
    queued: Vec<Segment>,
    /// Rows of the row group in progress, the queued ones included.
    rows: usize,
    max_rows: usize,
}

/// Batches of one row group, and whether the row group closes after them.
#[derive(Default)]
struct Segment {
    batches: Vec<RecordBatch>,
    close: bool,
}

impl ParquetFile {
    /// A file of `schema` with `props`; row groups hold at most `props`' maximum row count.
    pub(crate) fn try_new(schema: SchemaRef, props: WriterProperties) -> Result<ParquetFile> {
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        // ArrowWriter sets up the file exactly as it would write it (the Arrow schema in the
        // metadata, the Parquet schema), then hands over its lower-level parts.
        let (file, factory) =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?.into_serialized_writer()?;
        Ok(ParquetFile { schema, file, factory, in_progress: None, queued: Vec::new(), rows: 0, max_rows })
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

    /// Carries out the queued work: one task per column on the rayon pool, the largest columns
    /// first, each writing every queued batch and closing its chunk where a row group ends. The
    /// row groups closed are then appended to the file, in order.
    pub(crate) fn encode(&mut self) -> Result<()> {
        let segments = std::mem::take(&mut self.queued);
        if segments.is_empty() {
            return Ok(());
        }
        let width = self.schema.fields().len();
        // Writers for each segment, transposed to one list per column: the row group in
        // progress goes on; every later segment starts a row group of its own.
        let first_index = self.file.flushed_row_groups().len();
        let mut columns: Vec<Vec<ArrowColumnWriter>> = (0..width).map(|_| Vec::new()).collect();
        for index in first_index..first_index + segments.len() {
            let writers = match self.in_progress.take() {
                Some(w) => w,
                None => self.factory.create_column_writers(index)?,
            };
            for (list, w) in columns.iter_mut().zip(writers) {
                list.push(w);
            }
        }
        let mut weights = vec![0usize; width];
        for b in segments.iter().flat_map(|s| &s.batches) {
            for (w, c) in weights.iter_mut().zip(b.columns()) {
                *w += encoding_weight(c);
            }
        }
        let mut work: Vec<(usize, Vec<ArrowColumnWriter>)> = columns.into_iter().enumerate().collect();
        work.sort_by_key(|(c, _)| std::cmp::Reverse(weights[*c]));
        // Largest first: the pool starts on them at once, and the small ones fill in around them.
        let schema = &self.schema;
        let segments = &segments;
        let mut done: Vec<(usize, Vec<ArrowColumnChunk>, Option<ArrowColumnWriter>)> = work
            .into_par_iter()
            .with_max_len(1)
            .map(|(c, writers)| {
                let field = &schema.fields()[c];
                let mut chunks = Vec::new();
                let mut open = None;
                for (mut w, seg) in writers.into_iter().zip(segments) {
                    for b in &seg.batches {
                        for leaf in compute_leaves(field, b.column(c))? {
                            w.write(&leaf)?;
                        }
                    }
                    if seg.close {
                        chunks.push(w.close()?);
                    } else {
                        open = Some(w);
                    }
                }
                Ok((c, chunks, open))
            })
            .collect::<Result<_>>()?;
        done.sort_by_key(|(c, _, _)| *c);
        let closed = segments.iter().filter(|s| s.close).count();
        let mut per_column: Vec<std::vec::IntoIter<ArrowColumnChunk>> = Vec::with_capacity(width);
        let mut open = Vec::with_capacity(width);
        for (_, chunks, w) in done {
            per_column.push(chunks.into_iter());
            open.extend(w);
        }
        for _ in 0..closed {
            let mut row_group = self.file.next_row_group()?;
            for chunks in &mut per_column {
                chunks.next().expect("one chunk per closed row group").append_to_row_group(&mut row_group)?;
            }
            row_group.close()?;
        }
        if !open.is_empty() {
            self.in_progress = Some(open);
        }
        Ok(())
    }

    /// The file's bytes written so far and not yet taken (after [`ParquetFile::encode`]).
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        self.file.inner_mut()
    }

    /// Closes the file: its last row group and the footer. Returns the bytes not yet taken.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
        self.flush();
        self.encode()?;
        self.file.into_inner()
    }
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

    #[test]
    fn the_file_is_the_one_arrow_writer_writes() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("platform", DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8)), false),
            Field::new("text", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
            .set_max_row_group_row_count(Some(1000))
            .set_data_page_row_count_limit(300)
            .set_write_batch_size(128)
            .set_column_dictionary_enabled("n".into(), false)
            .build();
        let sizes = [1, 999, 5, 1000, 2500, 17, 0, 3];
        let mut reference = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props.clone())).unwrap();
        let mut file = ParquetFile::try_new(schema.clone(), props).unwrap();
        let mut bytes = Vec::new();
        let mut start = 0;
        for (i, n) in sizes.into_iter().enumerate() {
            let b = batch(&schema, start, n);
            start += n;
            reference.write(&b).unwrap();
            file.write(&b);
            if i == 3 {
                reference.flush().unwrap();
                file.flush();
            }
            assert_eq!(file.in_progress_rows(), reference.in_progress_rows());
            // Bytes taken while the file is written are the same as bytes taken at the end, and
            // the work may be carried out after any number of writes.
            if i % 3 != 1 {
                file.encode().unwrap();
                bytes.append(file.buffer());
            }
        }
        bytes.extend(file.finish().unwrap());
        let want = reference.into_inner().unwrap();
        assert!(bytes == want, "{} bytes, ArrowWriter wrote {}", bytes.len(), want.len());
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes::Bytes::from(bytes), 4096).unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, start);
    }
}
