//! Configuration: flags, environment and config file → validated configs, with no clap.
//!
//! In: the options the command line parsed ([`ExportOptions`], [`StateOptions`],
//! [`ConvertOptions`], plain data), a snapshot of the environment ([`Env`]), the parsed config
//! file ([`ConfigFile`]) and, with `--simulate`, what the simulator offers
//! ([`SimulatorDefaults`]). Out: one [`ExportConfig`](crate::export::ExportConfig),
//! [`PlanConfig`](crate::ops::plan::PlanConfig) or [`StateConfig`](crate::ops::state::StateConfig)
//! per account, or a [`ConvertConfig`](crate::export::ConvertConfig), holding built things (URLs, destinations, encoder settings).
//!
//! Each setting is looked up in one order: flag (or its environment variable, which the command
//! line reads with it), then the account's `[[accounts]]` entry, then the file's top level, then
//! the simulator, then its `DEFAULT_*`. Secrets come from the environment or the config file
//! only, never from flags. Nothing here reads the process environment or a file: the binary
//! does, once, and passes what it read.

mod compression;
mod env;
mod file;
mod resolve;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use url::Url;

pub use compression::{parse_compression, parse_ipc_compression, write_options};
pub use env::Env;
pub use file::ConfigFile;
pub use resolve::{convert, exports, one_account, plans, states};

use crate::export::DEFAULT_ROW_CAP;
use crate::fetch::Region;
use crate::fetch::limiter::MaxRps;
use crate::plan::Shard;
use crate::schema::Table;
use crate::stream::{Interval, Stream};
use crate::write::FileFormat;

/// `--read-timeout`'s default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// `--connect-timeout`'s default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `--compression`'s default.
pub const DEFAULT_COMPRESSION: &str = "zstd";

/// The options of `export`, `check` and `plan` as given on the command line (`None`: not given).
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// `--account`.
    pub account: Option<String>,
    /// `--bot`, each as given.
    pub bots: Vec<String>,
    /// `--dest`.
    pub dest: Option<String>,
    /// `--start`.
    pub start: Option<NaiveDate>,
    /// `--end`.
    pub end: Option<NaiveDate>,
    /// `--last N`: days.
    pub last: Option<u32>,
    /// `--streams`, as given (a stream named twice runs once).
    pub streams: Vec<Stream>,
    /// `--interval`.
    pub interval: Interval,
    /// `--region`.
    pub region: Option<Region>,
    /// `--api-url`.
    pub api_url: Option<Url>,
    /// `--login-url`.
    pub login_url: Option<Url>,
    /// `--discovery-url`.
    pub discovery_url: Option<Url>,
    /// `--max-rps` (fractions allowed).
    pub max_rps: Option<MaxRps>,
    /// `--shard K/N`.
    pub shard: Option<Shard>,
    /// `--format`.
    pub format: FileFormat,
    /// `--compression`.
    pub compression: String,
    /// `--retention-days`.
    pub retention_days: Option<u32>,
    /// `--lookback-days`.
    pub lookback_days: u32,
    /// `--allow-partial-days`.
    pub allow_partial_days: bool,
    /// `--max-bad-rows`.
    pub max_bad_rows: u64,
    /// `--row-cap`.
    pub row_cap: u64,
    /// `--max-retries`.
    pub max_retries: u32,
    /// `--max-retry-time`.
    pub max_retry_time: Duration,
    /// `--read-timeout`.
    pub read_timeout: Duration,
    /// `--connect-timeout`.
    pub connect_timeout: Duration,
    /// `--now`: the clock, for tests.
    pub now: Option<DateTime<Utc>>,
}

impl Default for ExportOptions {
    /// The command line's defaults.
    fn default() -> ExportOptions {
        ExportOptions {
            account: None,
            bots: Vec::new(),
            dest: None,
            start: None,
            end: None,
            last: None,
            streams: vec![Stream::Detail, Stream::Total],
            interval: Interval::Daily,
            region: None,
            api_url: None,
            login_url: None,
            discovery_url: None,
            max_rps: None,
            shard: None,
            format: FileFormat::Parquet,
            compression: DEFAULT_COMPRESSION.to_string(),
            retention_days: None,
            lookback_days: 0,
            allow_partial_days: false,
            max_bad_rows: 0,
            row_cap: DEFAULT_ROW_CAP,
            max_retries: crate::fetch::retry::DEFAULT_MAX_RETRIES,
            max_retry_time: crate::fetch::retry::DEFAULT_MAX_RETRY_TIME,
            read_timeout: DEFAULT_READ_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            now: None,
        }
    }
}

/// The options of `state show` and `state reset`: where the states are.
#[derive(Debug, Clone, Default)]
pub struct StateOptions {
    /// `--account`.
    pub account: Option<String>,
    /// `--dest`.
    pub dest: Option<String>,
    /// `--retention-days`.
    pub retention_days: Option<u32>,
    /// `--bot`: the bots named on the command line.
    pub bots: Vec<String>,
    /// `--now`.
    pub now: Option<DateTime<Utc>>,
}

/// The options of `convert`.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// `--table`.
    pub table: Table,
    /// `--account`.
    pub account: String,
    /// `--bot`.
    pub bot: String,
    /// `--dest`.
    pub dest: Option<String>,
    /// `--format`.
    pub format: FileFormat,
    /// `--compression`.
    pub compression: String,
    /// `--interval`.
    pub interval: Interval,
    /// `--max-bad-rows`.
    pub max_bad_rows: u64,
    /// The input files (`-`: standard input).
    pub inputs: Vec<String>,
}

/// What the simulator offers when `--simulate` is given.
#[derive(Debug, Clone)]
pub struct SimulatorDefaults {
    /// Its base URL (API, login and discovery alike).
    pub url: Url,
    /// Its account.
    pub account: String,
    /// Its bots.
    pub bots: Vec<String>,
    /// Its API key.
    pub api_key: String,
    /// Its login name.
    pub username: String,
    /// Its password.
    pub password: String,
}
