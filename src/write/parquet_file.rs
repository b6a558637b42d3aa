//! One Parquet file encoded in memory with its columns encoded in parallel.
//!
//! The same file, byte for byte, as `parquet::arrow::ArrowWriter` writes from the same batches:
//! each column chunk goes through its own `ArrowColumnWriter` in the same sequence of writes, and
//! the chunks are appended to the row group in column order. Only the columns of a batch are
//! encoded at the same time, on the rayon pool.
//!
//! Memory: the encoded pages of the row group in progress, plus the bytes not yet taken.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::Result;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

/// A Parquet file being written into a `Vec<u8>`.
pub(crate) struct ParquetFile {
    schema: SchemaRef,
    file: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
    /// Column writers of the row group in progress, with its rows.
    in_progress: Option<(Vec<ArrowColumnWriter>, usize)>,
    max_rows: usize,
}

impl ParquetFile {
    /// A file of `schema` with `props`; row groups hold at most `props`' maximum row count.
    pub(crate) fn try_new(schema: SchemaRef, props: WriterProperties) -> Result<ParquetFile> {
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        // ArrowWriter sets up the file exactly as it would write it (the Arrow schema in the
        // metadata, the Parquet schema), then hands over its lower-level parts.
        let (file, factory) =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?.into_serialized_writer()?;
        Ok(ParquetFile { schema, file, factory, in_progress: None, max_rows })
    }

    /// Encodes `batch`, closing row groups as they fill.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let (writers, rows) = match &mut self.in_progress {
                Some(p) => p,
                p => p.insert((self.factory.create_column_writers(self.file.flushed_row_groups().len())?, 0)),
            };
            let take = rest.num_rows().min(self.max_rows - *rows);
            let part = rest.slice(0, take);
            rest = rest.slice(take, rest.num_rows() - take);
            let mut leaves = Vec::with_capacity(writers.len());
            for (field, column) in self.schema.fields().iter().zip(part.columns()) {
                let weight = encoding_weight(column);
                leaves.extend(compute_leaves(field, column)?.into_iter().map(|leaf| (weight, leaf)));
            }
            // Largest columns first: the pool starts on them at once, and the small ones fill in
            // around them, so that one large column does not start last and hold up the batch.
            let mut work: Vec<_> = writers.iter_mut().zip(&leaves).collect();
            work.sort_by_key(|(_, (weight, _))| std::cmp::Reverse(*weight));
            work.into_par_iter().with_max_len(1).try_for_each(|(w, (_, leaf))| w.write(leaf))?;
            *rows += take;
            if *rows >= self.max_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Rows in the row group in progress.
    pub(crate) fn in_progress_rows(&self) -> usize {
        self.in_progress.as_ref().map_or(0, |p| p.1)
    }

    /// Closes the row group in progress, if any: its column chunks, closed in parallel, are
    /// appended to the file.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let Some((writers, _)) = self.in_progress.take() else {
            return Ok(());
        };
        let chunks = writers.into_par_iter().map(ArrowColumnWriter::close).collect::<Result<Vec<_>>>()?;
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// The file's bytes written so far and not yet taken.
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        self.file.inner_mut()
    }

    /// Closes the file: its last row group and the footer. Returns the bytes not yet taken.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>> {
        self.flush()?;
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
            file.write(&b).unwrap();
            if i == 3 {
                reference.flush().unwrap();
                file.flush().unwrap();
            }
            // Bytes taken while the file is written are the same as bytes taken at the end.
            bytes.append(file.buffer());
        }
        assert_eq!(file.in_progress_rows(), reference.in_progress_rows());
        bytes.extend(file.finish().unwrap());
        let want = reference.into_inner().unwrap();
        assert!(bytes == want, "{} bytes, ArrowWriter wrote {}", bytes.len(), want.len());
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes::Bytes::from(bytes), 4096).unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, start);
    }
}
