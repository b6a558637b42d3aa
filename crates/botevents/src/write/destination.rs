//! Where files go: an `Arc<dyn ObjectStore>` chosen from the destination URL, and the layout.

use std::sync::Arc;

use chrono::NaiveDate;
use std::time::Duration;

use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreScheme};
use serde::Serialize;
use url::Url;

use super::local::LocalStore;
use super::{FileFormat, WriteError};
use crate::plan::Window;
use crate::schema::Table;

/// Default destination when none is given.
pub const DEFAULT_DEST: &str = "./botevents-data";

/// The folder of botevents' own files (state, rejects) at the destination.
pub const META_DIR: &str = "_botevents";

/// The folder under [`META_DIR`] where local files are staged before they are renamed into place.
pub const TMP_DIR: &str = "tmp";

/// A destination: a store and the prefix inside it.
#[derive(Clone, Debug)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    display: String,
    part_size: usize,
    /// The same store, when it is a local folder: for [`Destination::sweep_leftovers`].
    local: Option<Arc<LocalStore>>,
    /// A local folder that does not exist, opened by a command that only reads
    /// ([`Destination::open_existing`]): it holds nothing, and nothing is created.
    absent: bool,
}

/// The destination's upload and retry settings in force for a run (reported in its summary).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StoreSettings {
    /// Bytes per upload part (files larger than one part go up as multipart uploads).
    pub part_bytes: u64,
    /// Retries of one store request before it fails.
    pub max_retries: u64,
    /// No store retry starts after this many seconds.
    pub retry_timeout_s: u64,
    /// Timeout of one store request, in seconds.
    pub request_timeout_s: u64,
    /// Connect timeout, in seconds.
    pub connect_timeout_s: u64,
}

/// Upload part size for object stores (S3's minimum part is 5 MiB; 8 MiB keeps part counts low).
pub const CLOUD_PART_BYTES: usize = 8 * 1024 * 1024;
/// Part size on local disk, where parts go straight into a staging file: small, so encoded bytes
/// never wait in memory.
pub const LOCAL_PART_BYTES: usize = 1024 * 1024;

/// Checks that an account or bot id is a safe single path segment: `[A-Za-z0-9._-]+`, not
/// starting with `.`.
pub fn validate_id(what: &'static str, id: &str) -> Result<(), WriteError> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(WriteError::BadId { what, id: id.to_string() }) }
}

impl Destination {
    /// Opens the destination named by `url`: a local path or `file://` URL (created if missing),
    /// or `s3://`, `gs://`, `az://` (configured from `options`, e.g. `aws_endpoint`, and the
    /// standard environment variables of each cloud, read by the caller).
    pub fn open(url: &str, options: &[(String, String)]) -> Result<Destination, WriteError> {
        Destination::open_with(url, options, true)
    }

    /// Opens the destination named by `url` as [`Destination::open`] does, for a command that
    /// only reads it: a local folder that does not exist is not created (a mistyped `--dest`
    /// leaves no trace), and reads as empty.
    pub fn open_existing(url: &str, options: &[(String, String)]) -> Result<Destination, WriteError> {
        Destination::open_with(url, options, false)
    }

    fn open_with(url: &str, options: &[(String, String)], create: bool) -> Result<Destination, WriteError> {
        let parsed = Url::parse(url).ok().filter(|u| u.scheme().len() > 1);
        match parsed {
            None => Destination::local(std::path::Path::new(url), url, create),
            Some(u) if u.scheme() == "file" => {
                let p = u
                    .to_file_path()
                    .map_err(|()| WriteError::Destination { url: url.to_string(), reason: "not a file path" })?;
                Destination::local(&p, url, create)
            }
            Some(u) => {
                let (store, prefix) = cloud_store(&u, options)
                    .map_err(|source| WriteError::OpenStore { url: url.to_string(), source })?;
                Ok(Destination {
                    store,
                    prefix,
                    display: url.to_string(),
                    part_size: CLOUD_PART_BYTES,
                    local: None,
                    absent: false,
                })
            }
        }
    }

    /// Whether this is a local folder that does not exist (see [`Destination::open_existing`]).
    pub fn absent(&self) -> bool {
        self.absent
    }

    /// A local folder, created if missing when `create`; otherwise a missing one reads as empty.
    fn local(path: &std::path::Path, display: &str, create: bool) -> Result<Destination, WriteError> {
        if !create && !path.exists() {
            return Ok(Destination {
                store: Arc::new(object_store::memory::InMemory::new()),
                prefix: Path::default(),
                display: display.to_string(),
                part_size: LOCAL_PART_BYTES,
                local: None,
                absent: true,
            });
        }
        std::fs::create_dir_all(path)
            .map_err(|source| WriteError::CreateFolder { url: display.to_string(), source })?;
        let root =
            path.canonicalize().map_err(|source| WriteError::ResolveFolder { url: display.to_string(), source })?;
        let store = Arc::new(
            LocalStore::new(&root).map_err(|source| WriteError::OpenStore { url: display.to_string(), source })?,
        );
        Ok(Destination {
            store: store.clone(),
            prefix: Path::default(),
            display: display.to_string(),
            part_size: LOCAL_PART_BYTES,
            local: Some(store),
            absent: false,
        })
    }

    /// A destination over any store (tests, memory, decorated stores).
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: Path, display: impl Into<String>) -> Destination {
        Destination { store, prefix, display: display.into(), part_size: CLOUD_PART_BYTES, local: None, absent: false }
    }

    /// Bytes per upload part: encoded bytes are handed over in parts this big, and a file larger
    /// than one part is uploaded in parts while it is being encoded.
    pub fn part_size(&self) -> usize {
        self.part_size
    }

    /// The upload and retry settings in force for this destination.
    pub fn settings(&self) -> StoreSettings {
        let retry = store_retry();
        StoreSettings {
            part_bytes: self.part_size as u64,
            max_retries: retry.max_retries as u64,
            retry_timeout_s: retry.retry_timeout.as_secs(),
            request_timeout_s: STORE_REQUEST_TIMEOUT.as_secs(),
            connect_timeout_s: STORE_CONNECT_TIMEOUT.as_secs(),
        }
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The prefix inside the store.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    fn child(&self, parts: &[&str]) -> Path {
        let mut p = self.prefix.clone();
        for part in parts {
            p = p.clone().join(*part);
        }
        p
    }

    /// `{table}/event_date={day}/{account}@{bot}.parquet` (or `.arrow`).
    pub fn data_path(&self, table: Table, day: NaiveDate, account: &str, bot: &str, format: FileFormat) -> Path {
        let dir = format!("event_date={}", day.format("%Y-%m-%d"));
        let file = format!("{account}@{bot}.{}", format.extension());
        self.child(&[table.name(), &dir, &file])
    }

    /// Removes what an earlier run of this (account, bot) left behind when it was killed (see
    /// [`LocalStore::sweep`]). Object stores show no partial uploads: nothing to do there.
    /// Returns the number of files removed.
    pub async fn sweep_leftovers(&self, account: &str, bot: &str) -> std::io::Result<usize> {
        match &self.local {
            Some(local) => local.sweep(account, bot).await,
            None => Ok(0),
        }
    }

    /// `_botevents/state/{account}/{bot}.json`.
    pub fn state_path(&self, account: &str, bot: &str) -> Path {
        self.child(&[META_DIR, "state", account, &format!("{bot}.json")])
    }

    /// `_botevents/rejects/{table}/{account}/{bot}/{window}.jsonl`.
    pub fn rejects_path(&self, table: Table, account: &str, bot: &str, window: Window) -> Path {
        self.rejects_named(table, account, bot, &format!("{}_{}", window.start, window.end))
    }

    /// `_botevents/rejects/{table}/{account}/{bot}/{name}.jsonl`.
    pub fn rejects_named(&self, table: Table, account: &str, bot: &str, name: &str) -> Path {
        self.child(&[META_DIR, "rejects", table.name(), account, bot, &format!("{name}.jsonl")])
    }
}

/// Retries of the object store's own requests: sized for flaky networks (a dozen retries over up
/// to three minutes), on top of which a failed window is retried as a whole.
pub fn store_retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 12,
        retry_timeout: Duration::from_secs(180),
    }
}

/// Timeout of one object-store request (overridable with the `timeout` option).
pub const STORE_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Connect timeout of the object store's client (overridable with `connect_timeout`).
pub const STORE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Request timeouts of the object store's client.
pub fn store_client_options() -> ClientOptions {
    ClientOptions::new().with_timeout(STORE_REQUEST_TIMEOUT).with_connect_timeout(STORE_CONNECT_TIMEOUT)
}

/// The store for an `s3://`, `gs://` or `az://` URL. The builders are configured from `options`
/// (the caller collects `AWS_*`, `GOOGLE_*` and `AZURE_*` variables and the config file), then
/// given our retry policy and timeouts; no other code knows which cloud it talks to.
fn cloud_store(url: &Url, options: &[(String, String)]) -> object_store::Result<(Arc<dyn ObjectStore>, Path)> {
    let (scheme, path) = ObjectStoreScheme::parse(url)?;
    let prefix = Path::parse(path)?;
    macro_rules! build {
        ($builder:ty) => {{
            let b = <$builder>::new()
                .with_url(url.to_string())
                .with_retry(store_retry())
                .with_client_options(store_client_options());
            let b = options.iter().fold(b, |b, (k, v)| match k.to_ascii_lowercase().parse() {
                Ok(key) => b.with_config(key, v.clone()),
                Err(_) => b,
            });
            Arc::new(b.build()?) as Arc<dyn ObjectStore>
        }};
    }
    let store = match scheme {
        ObjectStoreScheme::AmazonS3 => build!(object_store::aws::AmazonS3Builder),
        ObjectStoreScheme::GoogleCloudStorage => build!(object_store::gcp::GoogleCloudStorageBuilder),
        ObjectStoreScheme::MicrosoftAzure => build!(object_store::azure::MicrosoftAzureBuilder),
        ObjectStoreScheme::Memory => Arc::new(object_store::memory::InMemory::new()) as Arc<dyn ObjectStore>,
        other => {
            return Err(object_store::Error::Generic {
                store: "destination",
                source: format!("unsupported destination scheme {other:?}; use a path, file://, s3://, gs:// or az://")
                    .into(),
            });
        }
    };
    Ok((store, prefix))
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_single_safe_segments() {
        for ok in ["12345678", "bot-support", "a.b_c-D"] {
            assert!(validate_id("bot", ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a b", "a\nb", "é", "a@b"] {
            assert!(validate_id("bot", bad).is_err(), "{bad:?}");
        }
    }

    /// A destination that cannot be opened keeps its cause as the source, and reads as it did
    /// when the cause was folded into the message.
    #[test]
    fn unusable_destinations_keep_their_cause() {
        use std::error::Error as _;
        let report = |e: &WriteError| crate::error::Report(e).to_string();
        let url = "ftp://host/data";
        let e = Destination::open(url, &[]).expect_err("an unsupported scheme");
        let cause = e.source().expect("the store's error is the source").to_string();
        assert!(matches!(e, WriteError::OpenStore { .. }), "{e:?}");
        assert_eq!(report(&e), format!("destination {url:?}: {cause}"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let url = file.join("sub").to_str().unwrap().to_string();
        let e = Destination::open(&url, &[]).expect_err("a folder under a file");
        let cause = e.source().expect("the io error is the source").to_string();
        assert_eq!(report(&e), format!("destination {url:?}: cannot create the folder: {cause}"));
        assert_eq!(e.exit(), crate::exit::Exit::Usage);
    }

    #[test]
    fn layout() {
        let dir = tempfile::tempdir().unwrap();
        let d = Destination::open(dir.path().to_str().unwrap(), &[]).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(
            d.data_path(Table::Detail, day, "123", "bot-1", FileFormat::Parquet).to_string(),
            "custom_event_detail/event_date=2026-11-20/123@bot-1.parquet"
        );
        assert_eq!(
            d.data_path(Table::Histogram, day, "123", "bot-1", FileFormat::Arrow).to_string(),
            "custom_event_histogram/event_date=2026-11-20/123@bot-1.arrow"
        );
        assert_eq!(d.state_path("123", "bot-1").to_string(), "_botevents/state/123/bot-1.json");
    }
}
