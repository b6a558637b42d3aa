//! Local disk as a store like the others: an [`ObjectStore`] decorator around object_store's
//! `LocalFileSystem`, modelled on object_store's own decorators (`PrefixStore`).
//!
//! In: the writer's and the state commit's requests, by path. Out: files on disk, where readers
//! see a whole file or none, as on an object store.
//!
//! * **Staging.** A file written outside [`META_DIR`] (a data file) is written under
//!   `_botevents/tmp/{account}@{bot}/` and renamed into place when complete, whether it arrives
//!   as one put or as a multipart upload. So no partial or temporary file ever appears in the
//!   layout, which query engines list. Files under [`META_DIR`] (state, rejects) are published by
//!   `LocalFileSystem`'s own temporary file and rename.
//! * **Durability.** Every write is fsynced, with its folder, before it is published.
//! * **Conditional update.** `PutMode::Update` compares the version and replaces the file
//!   atomically, one update at a time in this process (`LocalFileSystem` has no conditional
//!   update).
//! * **Leftovers.** [`LocalStore::sweep`] removes what a killed run left behind, on the blocking
//!   threads.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, RenameTargetMode, Result, UploadPart,
};

use super::FileFormat;
use super::destination::{META_DIR, TMP_DIR};
use crate::schema::Table;

/// A local folder as an object store whose files appear whole (see the module docs).
#[derive(Debug)]
pub struct LocalStore {
    /// The folder, removing folders that a delete leaves empty (a day with no file left).
    inner: Arc<LocalFileSystem>,
    /// The same folder for the staged files, removing no folder: the staging folder is shared by
    /// the uploads of a bot, and a rename out of it fsyncs it after the move, so a concurrent
    /// delete must never take it away (the bot's sweep removes it when the bot is done).
    staging: Arc<LocalFileSystem>,
    root: PathBuf,
    /// One conditional update at a time: the version check and the replacement are one step.
    update: tokio::sync::Mutex<()>,
}

impl LocalStore {
    /// The store of the existing folder `root`, already resolved (absolute, canonical).
    pub fn new(root: &std::path::Path) -> Result<LocalStore> {
        let inner = LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true).with_fsync(true);
        let staging = LocalFileSystem::new_with_prefix(root)?.with_fsync(true);
        let (inner, staging) = (Arc::new(inner), Arc::new(staging));
        Ok(LocalStore { inner, staging, root: root.to_path_buf(), update: tokio::sync::Mutex::new(()) })
    }

    /// Removes what an earlier run of this (account, bot) left behind when it was killed: its
    /// staged files under `_botevents/tmp/` and `LocalFileSystem`'s own temporary files
    /// (`name#N`) next to its data, state and rejects files. Returns the number of files removed.
    ///
    /// Run before a bot's export starts and after it ends; a second export of the same bot
    /// running at the same time (which its state commit would refuse anyway) loses its uploads in
    /// flight.
    pub async fn sweep(&self, account: &str, bot: &str) -> std::io::Result<usize> {
        let (root, account, bot) = (self.root.clone(), account.to_string(), bot.to_string());
        tokio::task::spawn_blocking(move || sweep(&root, &account, &bot))
            .await
            .map_err(|e| std::io::Error::other(format!("the sweep of the staging folder stopped: {e}")))?
    }

    /// Where a file for `location` is written before it is renamed into place; `None` for the
    /// files under [`META_DIR`], which are published where they are.
    fn staging_path(location: &Path) -> Option<Path> {
        let mut parts: Vec<_> = location.parts().collect();
        let file = parts.pop()?;
        if parts.first().is_none_or(|first| first.as_ref() == META_DIR) {
            return None;
        }
        let stem = file.as_ref().rsplit_once('.').map_or(file.as_ref(), |(stem, _)| stem);
        let folders: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
        let name = format!("{}.{:016x}.part", folders.join("."), fastrand::u64(..));
        Some(Path::from_iter([META_DIR, TMP_DIR, stem, name.as_str()]))
    }

    /// Replaces `location` if its version is still `expected`'s.
    async fn update(&self, location: &Path, payload: PutPayload, expected: Option<String>) -> Result<PutResult> {
        let _one_at_a_time = self.update.lock().await;
        let current = match self.inner.head(location).await {
            Ok(meta) => meta.e_tag,
            Err(object_store::Error::NotFound { path, source }) => {
                return Err(object_store::Error::Precondition { path, source });
            }
            Err(e) => return Err(e),
        };
        if current != expected {
            return Err(object_store::Error::Precondition {
                path: location.to_string(),
                source: format!("the version is {current:?}, not {expected:?}").into(),
            });
        }
        self.inner.put_opts(location, payload, PutOptions::default()).await
    }
}

impl std::fmt::Display for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalStore({})", self.root.display())
    }
}

/// Renames a complete staged file into place (replacing, or only if absent under
/// `PutMode::Create`); a staged file that cannot be renamed is removed.
async fn publish(store: &LocalFileSystem, staged: &Path, location: &Path, create: bool) -> Result<()> {
    let target_mode = if create { RenameTargetMode::Create } else { RenameTargetMode::Overwrite };
    let options = RenameOptions { target_mode, ..RenameOptions::default() };
    let result = store.rename_opts(staged, location, options).await;
    if result.is_err() {
        let _ = store.delete(staged).await;
    }
    result
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for LocalStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        if let PutMode::Update(version) = &opts.mode {
            return self.update(location, payload, version.e_tag.clone()).await;
        }
        let Some(staged) = LocalStore::staging_path(location) else {
            return self.inner.put_opts(location, payload, opts).await;
        };
        let create = matches!(opts.mode, PutMode::Create);
        let put = self.staging.put_opts(&staged, payload, PutOptions { mode: PutMode::Overwrite, ..opts }).await?;
        publish(&self.staging, &staged, location, create).await?;
        Ok(put)
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        let Some(staged) = LocalStore::staging_path(location) else {
            return self.inner.put_multipart_opts(location, opts).await;
        };
        let upload = self.staging.put_multipart_opts(&staged, opts).await?;
        Ok(Box::new(StagedUpload { upload, store: self.staging.clone(), staged, location: location.clone() }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(&self, prefix: Option<&Path>, offset: &Path) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload to a staged file, renamed into place when complete.
#[derive(Debug)]
struct StagedUpload {
    upload: Box<dyn MultipartUpload>,
    store: Arc<LocalFileSystem>,
    staged: Path,
    location: Path,
}

#[async_trait]
impl MultipartUpload for StagedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let put = self.upload.complete().await?;
        publish(&self.store, &self.staged, &self.location, false).await?;
        Ok(put)
    }

    async fn abort(&mut self) -> Result<()> {
        self.upload.abort().await
    }
}

/// [`LocalStore::sweep`]'s work, on a blocking thread.
fn sweep(root: &std::path::Path, account: &str, bot: &str) -> std::io::Result<usize> {
    let mut removed = 0;
    let staged = root.join(META_DIR).join(TMP_DIR).join(format!("{account}@{bot}"));
    removed += remove_matching(&staged, |_| true)?;
    // The bot's own staging folder goes too if empty; `_botevents/tmp` stays, as another bot's
    // upload may be creating its folder in it right now.
    let _ = std::fs::remove_dir(&staged);
    let state_prefix = format!("{bot}.json#");
    removed += remove_matching(&root.join(META_DIR).join("state").join(account), |n| n.starts_with(&state_prefix))?;
    let data_prefixes = FileFormat::ALL.map(|f| format!("{account}@{bot}.{}#", f.extension()));
    for table in Table::ALL {
        if let Ok(days) = std::fs::read_dir(root.join(table.name())) {
            for day in days.flatten() {
                removed += remove_matching(&day.path(), |n| data_prefixes.iter().any(|p| n.starts_with(p)))?;
            }
        }
        let rejects = root.join(META_DIR).join("rejects").join(table.name()).join(account).join(bot);
        removed += remove_matching(&rejects, |n| n.contains('#'))?;
    }
    if removed > 0 {
        tracing::info!(account, bot, removed, "removed files left behind by an interrupted run");
    }
    Ok(removed)
}

/// Removes the files of `dir` whose names satisfy `matches`; a missing folder has none.
fn remove_matching(dir: &std::path::Path, matches: impl Fn(&str) -> bool) -> std::io::Result<usize> {
    // io errors name no path: add it, so a warning says which file or folder failed.
    let at =
        |path: &std::path::Path, e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(at(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| at(dir, e))?;
        let path = entry.path();
        let is_file = entry.file_type().map_err(|e| at(&path, e))?.is_file();
        if is_file && entry.file_name().to_str().is_some_and(&matches) {
            match std::fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(at(&path, e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use object_store::UpdateVersion;
    use object_store::buffered::BufWriter;
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// Every file under `root`, relative, sorted.
    fn files(root: &std::path::Path) -> Vec<String> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out.sort();
        out
    }

    const DATA: &str = "custom_event_detail/event_date=2026-11-20/123@bot.v1.parquet";

    #[test]
    fn data_files_are_staged_by_account_and_bot_and_botevents_files_are_not() {
        let staged = LocalStore::staging_path(&Path::from(DATA)).unwrap().to_string();
        let name = staged.strip_prefix("_botevents/tmp/123@bot.v1/custom_event_detail.event_date=2026-11-20.");
        let rand = name.and_then(|n| n.strip_suffix(".part")).unwrap_or_else(|| panic!("{staged}"));
        assert_eq!(rand.len(), 16, "{staged}");
        for meta in ["_botevents/state/123/bot.json", "_botevents/rejects/custom_event_detail/123/bot/w.jsonl", "top"] {
            assert_eq!(LocalStore::staging_path(&Path::from(meta)), None, "{meta}");
        }
    }

    /// A multipart upload and a single put of a data file: nothing shows in the layout before
    /// completion, and the file is whole after it; an aborted upload leaves nothing.
    #[tokio::test]
    async fn a_data_file_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(dir.path()).unwrap());
        let path = Path::from(DATA);
        let mut writer = BufWriter::with_capacity(store.clone(), path.clone(), 10);
        writer.write_all(&[7; 25]).await.unwrap();
        writer.write_all(&[8; 25]).await.unwrap();
        let visible = files(dir.path());
        assert!(visible.iter().all(|f| f.starts_with("_botevents/tmp/123@bot.v1/")), "{visible:?}");
        assert!(!visible.is_empty(), "the parts are staged");
        writer.shutdown().await.unwrap();
        assert_eq!(files(dir.path()), [DATA], "only the file, renamed into place");
        let mut want = vec![7; 25];
        want.extend([8; 25]);
        assert_eq!(store.get(&path).await.unwrap().bytes().await.unwrap().as_ref(), want);

        store.put(&path, PutPayload::from_static(b"small")).await.unwrap();
        assert_eq!(files(dir.path()), [DATA]);
        assert_eq!(store.get(&path).await.unwrap().bytes().await.unwrap().as_ref(), b"small");

        let mut aborted = BufWriter::with_capacity(store.clone(), Path::from("t/event_date=x/1@b.arrow"), 10);
        aborted.write_all(&[1; 25]).await.unwrap();
        aborted.abort().await.unwrap();
        assert_eq!(files(dir.path()), [DATA], "an aborted upload leaves nothing");

        let created = store.put_opts(&path, PutPayload::from_static(b"again"), PutMode::Create.into()).await;
        assert!(matches!(created, Err(object_store::Error::AlreadyExists { .. })), "{created:?}");
        assert_eq!(files(dir.path()), [DATA], "a refused create leaves nothing");
    }

    /// Files of one bot complete at once, and one of them cannot be put in place: the others
    /// still land, every time. (A staged file removed after a failed rename once took the shared
    /// staging folder with it, while another file's rename out of it was still syncing it.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_rename_leaves_the_other_files_of_the_bot_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalStore::new(dir.path()).unwrap());
        let day = |d: u32| format!("custom_event_detail/event_date=2026-11-{d:02}/123@bot.parquet");
        // Day 1's file cannot be replaced: a folder with something in it stands there.
        std::fs::create_dir_all(dir.path().join(day(1)).join("in-the-way")).unwrap();
        for round in 0..200u32 {
            let puts = (1..=8).map(|d| {
                let store = store.clone();
                let path = Path::from(day(d));
                tokio::spawn(async move { store.put(&path, PutPayload::from(round.to_le_bytes().to_vec())).await })
            });
            let results = futures::future::join_all(puts).await;
            for (d, result) in (1..=8).zip(results) {
                match (d, result.unwrap()) {
                    (1, r) => assert!(r.is_err(), "round {round}: {r:?}"),
                    (_, Err(e)) => panic!("round {round}, day {d}: {e}"),
                    (_, Ok(_)) => assert_eq!(std::fs::read(dir.path().join(day(d))).unwrap(), round.to_le_bytes()),
                }
            }
        }
        let staged = files(&dir.path().join("_botevents"));
        assert!(staged.is_empty(), "{staged:?}");
    }

    /// An update succeeds against the version read, and is refused once somebody else wrote.
    #[tokio::test]
    async fn an_update_checks_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path()).unwrap();
        let path = Path::from("_botevents/state/123/bot.json");
        let update = |put: &PutResult| PutMode::Update(UpdateVersion { e_tag: put.e_tag.clone(), version: None });
        let missing = UpdateVersion { e_tag: Some("x".into()), version: None };
        let r = store.put_opts(&path, PutPayload::from_static(b"0"), PutMode::Update(missing).into()).await;
        assert!(matches!(r, Err(object_store::Error::Precondition { .. })), "{r:?}");
        let first = store.put_opts(&path, PutPayload::from_static(b"1"), PutMode::Create.into()).await.unwrap();
        // The e-tag is the file's inode, modification time and size: each write has its own size.
        let second = store.put_opts(&path, PutPayload::from_static(b"22"), update(&first).into()).await.unwrap();
        let stale = store.put_opts(&path, PutPayload::from_static(b"333"), update(&first).into()).await;
        assert!(matches!(stale, Err(object_store::Error::Precondition { .. })), "{stale:?}");
        assert_eq!(store.get(&path).await.unwrap().bytes().await.unwrap().as_ref(), b"22");
        store.put_opts(&path, PutPayload::from_static(b"4444"), update(&second).into()).await.unwrap();
        assert_eq!(store.get(&path).await.unwrap().bytes().await.unwrap().as_ref(), b"4444");
    }

    /// The sweep removes a bot's staged files and temporary files, and nobody else's.
    #[tokio::test]
    async fn the_sweep_removes_one_bots_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path()).unwrap();
        let leftovers = [
            "_botevents/tmp/123@bot/custom_event_detail.event_date=2026-11-20.0000000000000001.part",
            "_botevents/tmp/123@bot/custom_event_detail.event_date=2026-11-20.0000000000000002.part#1",
            "_botevents/state/123/bot.json#3",
            "custom_event_detail/event_date=2026-11-20/123@bot.parquet#2",
            "_botevents/rejects/custom_event_detail/123/bot/w.jsonl#1",
        ];
        let kept = [
            "_botevents/state/123/bot.json",
            "_botevents/state/123/other.json#1",
            "_botevents/tmp/123@other/custom_event_detail.event_date=2026-11-20.0000000000000003.part",
            "custom_event_detail/event_date=2026-11-20/123@bot.parquet",
            "custom_event_detail/event_date=2026-11-20/123@other.parquet#1",
        ];
        for f in leftovers.iter().chain(&kept) {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        assert_eq!(store.sweep("123", "bot").await.unwrap(), leftovers.len());
        let mut want: Vec<String> = kept.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(files(dir.path()), want);
        assert_eq!(store.sweep("123", "bot").await.unwrap(), 0);
    }
}
