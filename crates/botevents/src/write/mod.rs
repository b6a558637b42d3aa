//! Writing: Arrow batches → one Parquet (or Arrow IPC) file per (table, account, bot, UTC day)
//! at the destination.
//!
//! In: batches of one table for one window, in API order. Out: objects at
//! `{dest}/{table}/event_date=YYYY-MM-DD/{account}@{bot}.parquet` (`.arrow` with
//! [`FileFormat::Arrow`]). Guarantees:
//!
//! * **Whole or nothing.** A file becomes visible only when complete (a single put, or a
//!   multipart upload completed at the end; on local disk, [`LocalStore`] stages it and renames it
//!   into place). An aborted window leaves the previous version of every file in place.
//! * **Deterministic.** The bytes are a function of the rows alone: the encoder re-cuts its input
//!   into [`WriteOptions::write_rows`]-row batches so that network chunking or request splits
//!   cannot change page boundaries, and nothing wall-clock goes into a file.
//! * **Bounded memory.** Per open day: one row group in encoding (≤ [`WriteOptions::row_group_rows`]
//!   rows; an Arrow IPC file encodes each [`WriteOptions::write_rows`]-row batch at once) plus up
//!   to one upload part ([`Destination::part_size`]) of encoded bytes waiting to go out.
//! * **One format per day.** When a day's file is written, the file of the other format for the
//!   same (table, day, account, bot), left by a run with the other `--format`, is removed after
//!   the new one is in place; a day with no rows now loses the files of both formats.
//!
//! The sync core ([`TableEncoder`]) encodes; the async shell ([`PartitionWriter`]) moves bytes.

mod destination;
mod encoder;
mod ipc;
mod local;
mod parquet_file;
mod reader;

pub use destination::{CLOUD_PART_BYTES, DEFAULT_DEST, LOCAL_PART_BYTES};

pub use destination::{
    Destination, STORE_CONNECT_TIMEOUT, STORE_REQUEST_TIMEOUT, StoreSettings, store_client_options, store_retry,
    validate_id,
};
pub use encoder::{
    DEFAULT_ROW_GROUP_ROWS, DEFAULT_WRITE_ROWS, DEFAULT_ZSTD_LEVEL, FileFormat, IpcCompression, TableEncoder,
    WriteOptions,
};
pub use local::LocalStore;
pub use reader::ObjectFileReader;

use std::collections::BTreeMap;

use arrow_schema::DataType;
use bytes::Bytes;
use chrono::NaiveDate;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use tokio::io::AsyncWriteExt;

use crate::plan::Window;
use crate::schema::Table;

/// A write that failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The destination URL cannot be used.
    #[error("destination {url:?}: {reason}")]
    Destination {
        /// The URL as given.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The destination's store cannot be opened: an unsupported scheme, a bad option or path.
    #[error("destination {url:?}")]
    OpenStore {
        /// The URL as given.
        url: String,
        /// Why.
        #[source]
        source: object_store::Error,
    },
    /// The destination folder cannot be created.
    #[error("destination {url:?}: cannot create the folder")]
    CreateFolder {
        /// The URL as given.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The destination folder's path cannot be resolved.
    #[error("destination {url:?}")]
    ResolveFolder {
        /// The URL as given.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The object store refused an operation.
    #[error("{op} {path}")]
    Store {
        /// What was being done.
        op: &'static str,
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: object_store::Error,
    },
    /// Completing an upload failed.
    #[error("completing {path}")]
    Upload {
        /// The object.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Encoding failed.
    #[error("encoding {table} for {day}")]
    Encode {
        /// The table.
        table: Table,
        /// The partition day.
        day: NaiveDate,
        /// Why.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Encoding an Arrow IPC file failed.
    #[error("encoding {table} for {day} as Arrow IPC")]
    EncodeIpc {
        /// The table.
        table: Table,
        /// The partition day.
        day: NaiveDate,
        /// Why.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A batch could not be split or assembled.
    #[error("assembling {table} batches")]
    Arrow {
        /// The table.
        table: Table,
        /// Why.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A day's rows hold more distinct values in a dictionary column than its key type numbers
    /// (rows of several bodies, each within the limit on its own).
    #[error(
        "{table} for {day}: column {column} holds more than {max} distinct values, more than its Dictionary({key}) numbers"
    )]
    DictionaryFull {
        /// The table.
        table: Table,
        /// The partition day.
        day: NaiveDate,
        /// The column.
        column: String,
        /// The key type.
        key: DataType,
        /// Distinct values the keys number.
        max: usize,
    },
    /// A row's partition day lies outside the window being written.
    #[error("{table}: row dated {day} outside window {window}")]
    OutsideWindow {
        /// The table.
        table: Table,
        /// The row's day.
        day: NaiveDate,
        /// The window.
        window: Window,
    },
    /// An id that would not be a safe path segment.
    #[error("invalid {what} id {id:?}: use only letters, digits, '.', '_' and '-', not starting with '.'")]
    BadId {
        /// "account" or "bot".
        what: &'static str,
        /// The id.
        id: String,
    },
}

impl WriteError {
    /// The exit status this failure means: an id or destination that cannot be used is a
    /// configuration error; anything else may pass on another run.
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            WriteError::BadId { .. }
            | WriteError::Destination { .. }
            | WriteError::OpenStore { .. }
            | WriteError::CreateFolder { .. }
            | WriteError::ResolveFolder { .. } => crate::exit::Exit::Usage,
            _ => crate::exit::Exit::Failure,
        }
    }
}

/// What one window of one table left at the destination.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// Files written (replaced or new), with their rows and bytes.
    pub files: Vec<WrittenFile>,
    /// Files removed: those of days that have no rows now, and those of the other format for
    /// days written.
    pub removed: Vec<String>,
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Object path.
    pub path: String,
    /// Partition day.
    pub day: NaiveDate,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
}

/// The async shell of one window of one table: streams each day's encoded bytes to its object.
pub struct PartitionWriter {
    dest: Destination,
    table: Table,
    account: String,
    bot: String,
    format: FileFormat,
    /// The days this writer owns: files of these days without rows are removed at commit.
    /// `None` (offline conversion): any day, nothing removed.
    window: Option<Window>,
    /// Also take rows of the day before the window (not owned: never removed). A daily bucket of
    /// a server in another time zone that overlaps the window may start then; it is that day's
    /// only bucket, so the file is whole whichever window writes it.
    day_before: bool,
    uploads: BTreeMap<NaiveDate, Upload>,
}

/// One day's file on its way to `path`, where it stays invisible until complete.
struct Upload {
    path: Path,
    writer: BufWriter,
    bytes: u64,
}

impl PartitionWriter {
    /// A writer of `format` files for `window` of `table` of one bot (`None`: any day, removing
    /// only the other format's files of the days written).
    pub fn new(
        dest: Destination,
        table: Table,
        account: &str,
        bot: &str,
        window: Option<Window>,
        format: FileFormat,
    ) -> PartitionWriter {
        PartitionWriter {
            dest,
            table,
            account: account.to_string(),
            bot: bot.to_string(),
            format,
            window,
            day_before: false,
            uploads: BTreeMap::new(),
        }
    }

    /// The same writer, taking rows of the day before its window as well (see `day_before`).
    pub fn with_day_before(mut self) -> PartitionWriter {
        self.day_before = true;
        self
    }

    /// Sends encoded bytes of some days on their way.
    pub async fn upload(&mut self, parts: Vec<(NaiveDate, Vec<u8>)>) -> Result<(), WriteError> {
        for (day, bytes) in parts {
            if bytes.is_empty() {
                continue;
            }
            if let Some(window) = self.window
                && !window.days().any(|d| d == day)
                && !(self.day_before && day.succ_opt() == window.days().next())
            {
                return Err(WriteError::OutsideWindow { table: self.table, day, window });
            }
            let up = self.uploads.entry(day).or_insert_with(|| {
                let path = self.dest.data_path(self.table, day, &self.account, &self.bot, self.format);
                let writer = BufWriter::with_capacity(self.dest.store(), path.clone(), self.dest.part_size());
                Upload { path, writer, bytes: 0 }
            });
            up.bytes += bytes.len() as u64;
            up.writer.put(Bytes::from(bytes)).await.map_err(|source| WriteError::Store {
                op: "uploading",
                path: up.path.to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Completes every day's file (making it visible), and removes the files of the window's days
    /// that have no rows now. `tails` are the encoders' last bytes with each day's row count.
    pub async fn commit(mut self, tails: Vec<(NaiveDate, Vec<u8>, u64)>) -> Result<Written, WriteError> {
        let mut rows_of = BTreeMap::new();
        let mut parts = Vec::new();
        for (day, bytes, rows) in tails {
            rows_of.insert(day, rows);
            parts.push((day, bytes));
        }
        if let Err(e) = self.upload(parts).await {
            self.abort().await;
            return Err(e);
        }
        let mut written = Written::default();
        // Every day's upload completes at once (a multipart upload is completed, a local file
        // flushed to disk and renamed into place).
        let uploads = std::mem::take(&mut self.uploads);
        let completed = futures::future::join_all(uploads.into_iter().map(|(day, mut up)| async move {
            let result =
                up.writer.shutdown().await.map_err(|source| WriteError::Upload { path: up.path.to_string(), source });
            (day, up, result)
        }))
        .await;
        let mut failed = None;
        for (day, Upload { path, bytes, .. }, result) in completed {
            if let Err(e) = result {
                failed.get_or_insert(e);
                continue;
            }
            let rows = rows_of.get(&day).copied().unwrap_or_default();
            tracing::debug!(table = %self.table, bot = %self.bot, %day, rows, bytes, path = %path, "wrote partition");
            written.files.push(WrittenFile { path: path.to_string(), day, rows, bytes });
        }
        if let Some(e) = failed {
            return Err(e);
        }
        // The other format's file of each day written, then every file of the days without rows.
        let mut stale = Vec::new();
        for file in &written.files {
            for format in FileFormat::ALL.into_iter().filter(|&f| f != self.format) {
                stale.push((file.day, format, "removed the other format's file of a day rewritten"));
            }
        }
        for day in self.window.iter().flat_map(|w| w.days()) {
            if rows_of.get(&day).copied().unwrap_or(0) == 0 {
                for format in FileFormat::ALL {
                    stale.push((day, format, "removed partition that has no rows now"));
                }
            }
        }
        for (day, format, why) in stale {
            let path = self.dest.data_path(self.table, day, &self.account, &self.bot, format);
            if self.remove(&path).await? {
                tracing::info!(table = %self.table, bot = %self.bot, %day, path = %path, "{why}");
                written.removed.push(path.to_string());
            }
        }
        Ok(written)
    }

    /// Removes `path` if it is there; says whether it was.
    async fn remove(&self, path: &Path) -> Result<bool, WriteError> {
        // Some stores report success for deleting a missing object: look first, so that only
        // files that were there are counted.
        match self.dest.store().head(path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(source) => return Err(WriteError::Store { op: "checking", path: path.to_string(), source }),
        }
        match self.dest.store().delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(source) => Err(WriteError::Store { op: "removing", path: path.to_string(), source }),
        }
    }

    /// Abandons every upload: no object of this window changes.
    pub async fn abort(&mut self) {
        for (_, mut up) in std::mem::take(&mut self.uploads) {
            if let Err(e) = up.writer.abort().await {
                tracing::warn!(path = %up.path, error = %e, "aborting an upload failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    async fn objects(dest: &Destination) -> Vec<String> {
        let list: Vec<_> = dest.store().list(None).try_collect().await.unwrap();
        let mut names: Vec<String> = list.into_iter().map(|m| m.location.to_string()).collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_day_rewritten_in_another_format_keeps_only_the_new_file() {
        let dest = Destination::from_store(Arc::new(InMemory::new()), Path::default(), "memory://");
        let (d1, d2) = (day("2026-11-20"), day("2026-11-21"));
        let window = Window::new(d1, day("2026-11-22"));
        let path = |d, f| dest.data_path(Table::Detail, d, "123", "bot-1", f).to_string();
        let write = |format, tails: Vec<(NaiveDate, Vec<u8>, u64)>| {
            let w = PartitionWriter::new(dest.clone(), Table::Detail, "123", "bot-1", window, format);
            w.commit(tails)
        };
        // A Parquet run with rows on both days.
        let tails = vec![(d1, b"p1".to_vec(), 1), (d2, b"p2".to_vec(), 1)];
        let w = write(FileFormat::Parquet, tails).await.unwrap();
        assert!(w.removed.is_empty());
        assert_eq!(objects(&dest).await, vec![path(d1, FileFormat::Parquet), path(d2, FileFormat::Parquet)]);
        // An Arrow run: rows on the first day only. The first day's Parquet file makes way for
        // the Arrow one; the second day has no rows now, in any format.
        let w = write(FileFormat::Arrow, vec![(d1, b"a1".to_vec(), 1)]).await.unwrap();
        assert_eq!(objects(&dest).await, vec![path(d1, FileFormat::Arrow)]);
        assert_eq!(w.removed, vec![path(d1, FileFormat::Parquet), path(d2, FileFormat::Parquet)]);
        // Back to Parquet, offline (no window): only the day written changes.
        let w = PartitionWriter::new(dest.clone(), Table::Detail, "123", "bot-1", None, FileFormat::Parquet);
        let w = w.commit(vec![(d2, b"p2".to_vec(), 1)]).await.unwrap();
        assert!(w.removed.is_empty());
        assert_eq!(objects(&dest).await, vec![path(d1, FileFormat::Arrow), path(d2, FileFormat::Parquet)]);
        let w = write(FileFormat::Parquet, vec![]).await.unwrap();
        assert_eq!(w.removed, vec![path(d1, FileFormat::Arrow), path(d2, FileFormat::Parquet)]);
        assert!(objects(&dest).await.is_empty());
    }

    /// The files of a window complete at once, on local disk as on object stores; when one
    /// cannot be put in place, the error names it and its cause, every file is whole (old or
    /// new, never a part), and no staged file is left behind.
    #[tokio::test]
    async fn a_failed_completion_names_its_file_and_leaves_whole_files() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let dest = Destination::open(dir.path().to_str().unwrap(), &[]).unwrap();
        let days = [day("2026-11-20"), day("2026-11-21"), day("2026-11-22")];
        let commit = |bytes: &'static [u8]| {
            let w = PartitionWriter::new(dest.clone(), Table::Detail, "123", "bot-1", None, FileFormat::Parquet);
            w.commit(days.iter().map(|&d| (d, bytes.to_vec(), 1)).collect())
        };
        commit(b"old").await.unwrap();
        let file = |d| dir.path().join(dest.data_path(Table::Detail, d, "123", "bot-1", FileFormat::Parquet).as_ref());
        // The second day's file cannot be replaced: a folder with something in it stands there.
        std::fs::remove_file(file(days[1])).unwrap();
        std::fs::create_dir_all(file(days[1]).join("in-the-way")).unwrap();
        let err = commit(b"new").await.unwrap_err();
        let want = dest.data_path(Table::Detail, days[1], "123", "bot-1", FileFormat::Parquet).to_string();
        assert!(matches!(&err, WriteError::Upload { path, .. } if *path == want), "{err:?}");
        let cause = err.source().map(|e| e.to_string()).unwrap_or_default();
        assert!(cause.contains(&format!("{}", file(days[1]).display())), "the cause names the file on disk: {cause}");
        for d in [days[0], days[2]] {
            let bytes = std::fs::read(file(d)).unwrap();
            assert!(bytes == b"new" || bytes == b"old", "{d}: {bytes:?}");
        }
        let staged: Vec<_> = walk(&dir.path().join("_botevents")).into_iter().filter(|p| p.is_file()).collect();
        assert!(staged.is_empty(), "{staged:?}");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            out.push(e.path());
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
        out
    }
}
