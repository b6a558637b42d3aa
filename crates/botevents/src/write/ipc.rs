//! The Arrow IPC half of the encoder: the batches of one day → one Arrow IPC *file* (Feather
//! v2), in memory, its bytes handed out as they are encoded.
//!
//! # Dictionaries
//!
//! The decoders build a fresh dictionary per batch, and the encoder re-cuts batches, so two
//! batches of one day rarely share a dictionary. An IPC file holds one dictionary per field:
//! replacing it is not allowed, and delta dictionaries are not read by every reader. So:
//!
//! * each dictionary column has a **day dictionary**: its values interned in the order in which
//!   the rows first use them (a function of the rows alone, not of how they were chunked), and
//!   every batch's keys are rewritten into it;
//! * each record batch carries only those keys: in the IPC format the body of a
//!   dictionary-encoded field *is* its key array, so a batch is encoded with the key type in place
//!   of the dictionary type;
//! * at the end, each column's day dictionary is written once, as one non-delta dictionary batch
//!   after the last record batch, and listed in the footer. The format allows this ("there is no
//!   requirement that dictionary keys should be defined in a DictionaryBatch before they are used
//!   in a RecordBatch, as long as the keys are defined somewhere in the file"), and file readers
//!   load the footer's dictionaries before any batch.
//!
//! Memory: the encoded bytes not handed out yet, plus the day dictionaries (each bounded by its
//! key type: at most 32 767 values for an `Int16` key, and the platforms are a handful).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{ArrowDictionaryKeyType, Int8Type, Int16Type, Int32Type};
use arrow_array::{Array, ArrayRef, DictionaryArray, PrimitiveArray, RecordBatch, StringArray, UInt32Array};
use arrow_buffer::ArrowNativeType;
use arrow_ipc::convert::IpcSchemaEncoder;
use arrow_ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions, write_message};
use arrow_ipc::{Block, CompressionType, FooterBuilder, MetadataVersion};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use super::encoder::IpcCompression;

/// The magic bytes that open and close an Arrow IPC file.
const MAGIC: &[u8; 6] = b"ARROW1";
/// Alignment of every message and body buffer (the arrow-rs default; 8 is the format's minimum).
const ALIGNMENT: usize = 64;
/// The end-of-stream marker: a continuation token and a zero metadata length.
const EOS: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// The IPC write options for `compression`.
pub(super) fn write_options(compression: IpcCompression) -> Result<IpcWriteOptions, ArrowError> {
    let opts = IpcWriteOptions::try_new(ALIGNMENT, false, MetadataVersion::V5)?;
    match compression {
        IpcCompression::None => Ok(opts),
        IpcCompression::Zstd { level } => {
            opts.try_with_compression(Some(CompressionType::ZSTD))?.try_with_compression_level(Some(level))
        }
        IpcCompression::Lz4 => opts.try_with_compression(Some(CompressionType::LZ4_FRAME)),
    }
}

/// One day's Arrow IPC file being encoded. Sync, no I/O.
pub(super) struct IpcFileEncoder {
    schema: SchemaRef,
    /// `schema` with each dictionary type replaced by its key type: the shape in which record
    /// batches are encoded.
    keys_schema: SchemaRef,
    options: IpcWriteOptions,
    generator: IpcDataGenerator,
    context: IpcWriteContext,
    /// The day dictionaries, by column index.
    dictionaries: Vec<(usize, DayDictionary)>,
    record_blocks: Vec<Block>,
    /// Encoded bytes not handed out yet.
    out: Vec<u8>,
    /// Bytes handed out so far: the file offset of `out[0]`.
    taken: usize,
}

impl IpcFileEncoder {
    /// Starts a file of `schema`: writes the magic and the schema message.
    pub(super) fn try_new(schema: SchemaRef, options: IpcWriteOptions) -> Result<IpcFileEncoder, ArrowError> {
        let mut dictionaries = Vec::new();
        let mut key_fields = Vec::with_capacity(schema.fields().len());
        for (i, f) in schema.fields().iter().enumerate() {
            match f.data_type() {
                DataType::Dictionary(key, value) => {
                    if **value != DataType::Utf8 {
                        return Err(ArrowError::NotYetImplemented(format!(
                            "column {:?}: dictionaries of {value} values",
                            f.name()
                        )));
                    }
                    dictionaries.push((i, DayDictionary::new(f.name(), (**key).clone())));
                    key_fields.push(Arc::new(Field::new(f.name(), (**key).clone(), f.is_nullable())));
                }
                _ => key_fields.push(f.clone()),
            }
        }
        let keys_schema = Arc::new(Schema::new(key_fields));
        let generator = IpcDataGenerator::default();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.resize(ALIGNMENT, 0);
        let mut tracker = DictionaryTracker::new(true);
        let message = generator.schema_to_bytes_with_dictionary_tracker(&schema, &mut tracker, &options);
        write_message(&mut out, message, &options)?;
        Ok(IpcFileEncoder {
            schema,
            keys_schema,
            options,
            generator,
            context: IpcWriteContext::default(),
            dictionaries,
            record_blocks: Vec::new(),
            out,
            taken: 0,
        })
    }

    /// Encodes one record batch (of the file's schema).
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let n = batch.num_rows();
        let mut columns = batch.columns().to_vec();
        for (i, dict) in &mut self.dictionaries {
            columns[*i] = dict.keys(batch.column(*i).as_ref())?;
        }
        for column in &mut columns {
            // A bitmap of a slice that ends inside a byte would carry the bits of the rows after
            // it, which depend on how the input was chunked: copy such columns, so that the
            // bytes depend on the rows alone.
            let bitmap = column.null_count() > 0 || column.data_type() == &DataType::Boolean;
            if bitmap && !n.is_multiple_of(8) {
                let all = UInt32Array::from_iter_values(0..n as u32);
                *column = arrow_select::take::take(column.as_ref(), &all, None)?;
            }
        }
        let keys = RecordBatch::try_new(self.keys_schema.clone(), columns)?;
        let mut tracker = DictionaryTracker::new(true);
        let (_, encoded) = self.generator.encode(&keys, &mut tracker, &self.options, &mut self.context)?;
        let offset = self.offset();
        let (meta, body) = write_message(&mut self.out, encoded, &self.options)?;
        self.record_blocks.push(block(offset, meta, body)?);
        Ok(())
    }

    /// Encoded bytes waiting to be handed out.
    pub(super) fn buffered(&self) -> usize {
        self.out.len()
    }

    /// Hands out the encoded bytes so far.
    pub(super) fn take(&mut self) -> Vec<u8> {
        let bytes = std::mem::take(&mut self.out);
        self.taken += bytes.len();
        bytes
    }

    /// Writes the day dictionaries, the end-of-stream marker and the footer; returns the last
    /// bytes of the file.
    pub(super) fn finish(mut self) -> Result<Vec<u8>, ArrowError> {
        // The dictionaries go out as the dictionary messages of an empty batch whose dictionary
        // columns hold the day dictionaries; its own record batch message is dropped.
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for f in self.schema.fields() {
            columns.push(arrow_array::new_empty_array(f.data_type()));
        }
        for (i, dict) in &self.dictionaries {
            columns[*i] = dict.empty_column()?;
        }
        let carrier = RecordBatch::try_new(self.schema.clone(), columns)?;
        let mut tracker = DictionaryTracker::new(true);
        // Assigns the dictionary ids exactly as the schema message did.
        self.generator.schema_to_bytes_with_dictionary_tracker(&self.schema, &mut tracker, &self.options);
        let (dictionaries, _) = self.generator.encode(&carrier, &mut tracker, &self.options, &mut self.context)?;
        let mut dictionary_blocks = Vec::with_capacity(dictionaries.len());
        for encoded in dictionaries {
            let offset = self.offset();
            let (meta, body) = write_message(&mut self.out, encoded, &self.options)?;
            dictionary_blocks.push(block(offset, meta, body)?);
        }
        self.out.extend_from_slice(&EOS);

        let mut fbb = flatbuffers::FlatBufferBuilder::new();
        let dictionaries = fbb.create_vector(&dictionary_blocks);
        let record_batches = fbb.create_vector(&self.record_blocks);
        let mut tracker = DictionaryTracker::new(true);
        let schema =
            IpcSchemaEncoder::new().with_dictionary_tracker(&mut tracker).schema_to_fb_offset(&mut fbb, &self.schema);
        let mut footer = FooterBuilder::new(&mut fbb);
        footer.add_version(MetadataVersion::V5);
        footer.add_schema(schema);
        footer.add_dictionaries(dictionaries);
        footer.add_recordBatches(record_batches);
        let root = footer.finish();
        fbb.finish(root, None);
        let data = fbb.finished_data();
        let len = i32::try_from(data.len()).map_err(|_| ArrowError::IpcError("footer over 2 GiB".into()))?;
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(MAGIC);
        Ok(self.out)
    }

    /// The file offset of the next byte.
    fn offset(&self) -> usize {
        self.taken + self.out.len()
    }
}

fn block(offset: usize, meta: usize, body: usize) -> Result<Block, ArrowError> {
    let meta = i32::try_from(meta).map_err(|_| ArrowError::IpcError("message metadata over 2 GiB".into()))?;
    Ok(Block::new(offset as i64, meta, body as i64))
}

/// One dictionary column's values of one day, in order of first use.
struct DayDictionary {
    column: String,
    key_type: DataType,
    ids: HashMap<String, usize>,
    values: Vec<String>,
}

impl DayDictionary {
    fn new(column: &str, key_type: DataType) -> DayDictionary {
        DayDictionary { column: column.to_string(), key_type, ids: HashMap::new(), values: Vec::new() }
    }

    /// The keys of `column` (a dictionary array of this column's type) in the day dictionary.
    fn keys(&mut self, column: &dyn Array) -> Result<ArrayRef, ArrowError> {
        match self.key_type {
            DataType::Int8 => self.remap::<Int8Type>(column),
            DataType::Int16 => self.remap::<Int16Type>(column),
            DataType::Int32 => self.remap::<Int32Type>(column),
            ref other => Err(self.unsupported(other)),
        }
    }

    fn remap<K: ArrowDictionaryKeyType>(&mut self, column: &dyn Array) -> Result<ArrayRef, ArrowError> {
        let not_dictionary = || {
            ArrowError::SchemaError(format!(
                "column {:?}: expected {}, got {}",
                self.column,
                K::DATA_TYPE,
                column.data_type()
            ))
        };
        let dict = column.as_dictionary_opt::<K>().ok_or_else(not_dictionary)?;
        let values = dict.values().as_string_opt::<i32>().ok_or_else(not_dictionary)?;
        // Each batch key is interned once, the first time a row uses it.
        let mut local: Vec<Option<K::Native>> = vec![None; values.len()];
        let mut keys = Vec::with_capacity(dict.len());
        for key in dict.keys().iter() {
            let Some(k) = key.map(|k| k.as_usize()).filter(|&k| k < values.len() && values.is_valid(k)) else {
                keys.push(None);
                continue;
            };
            let id = match local[k] {
                Some(id) => id,
                None => {
                    let id = self.intern(values.value(k));
                    let id = K::Native::from_usize(id).ok_or(ArrowError::DictionaryKeyOverflowError)?;
                    local[k] = Some(id);
                    id
                }
            };
            keys.push(Some(id));
        }
        Ok(Arc::new(keys.into_iter().collect::<PrimitiveArray<K>>()))
    }

    fn intern(&mut self, value: &str) -> usize {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len();
        self.values.push(value.to_string());
        self.ids.insert(value.to_string(), id);
        id
    }

    /// An empty column of the dictionary type whose values are the day dictionary.
    fn empty_column(&self) -> Result<ArrayRef, ArrowError> {
        fn empty<K: ArrowDictionaryKeyType>(values: ArrayRef) -> Result<ArrayRef, ArrowError> {
            let keys = PrimitiveArray::<K>::from_iter_values(std::iter::empty());
            Ok(Arc::new(DictionaryArray::<K>::try_new(keys, values)?))
        }
        let values: ArrayRef = Arc::new(StringArray::from_iter_values(&self.values));
        match self.key_type {
            DataType::Int8 => empty::<Int8Type>(values),
            DataType::Int16 => empty::<Int16Type>(values),
            DataType::Int32 => empty::<Int32Type>(values),
            ref other => Err(self.unsupported(other)),
        }
    }

    fn unsupported(&self, key_type: &DataType) -> ArrowError {
        ArrowError::NotYetImplemented(format!("column {:?}: dictionary keys of type {key_type}", self.column))
    }
}
