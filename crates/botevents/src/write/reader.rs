//! Reading Parquet back from any store, with the file size known up front.
//!
//! Knowing the size lets the footer be fetched with a plain range request: Azure refuses the
//! suffix ranges (`bytes=-N`) that a size-less reader needs, and elsewhere it saves a request.
//! Every Parquet read in the project (tests, state tools) goes through [`ObjectFileReader`].

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// An [`AsyncFileReader`] over one object of known size.
#[derive(Debug, Clone)]
pub struct ObjectFileReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl ObjectFileReader {
    /// A reader of the object `meta` describes.
    pub fn new(store: Arc<dyn ObjectStore>, meta: &ObjectMeta) -> ObjectFileReader {
        ObjectFileReader { store, path: meta.location.clone(), size: meta.size }
    }

    /// A reader of `path`, whose size is `size` bytes.
    pub fn with_file_size(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> ObjectFileReader {
        ObjectFileReader { store, path, size }
    }
}

impl AsyncFileReader for ObjectFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        Box::pin(async move {
            self.store.get_range(&self.path, range).await.map_err(|e| ParquetError::External(Box::new(e)))
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let size = self.size;
            let md = ParquetMetaDataReader::new()
                .with_metadata_options(options.map(|o| o.metadata_options().clone()))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(md))
        })
    }
}
