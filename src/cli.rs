//! The command line: raw arguments (clap) → validated configuration.
//!
//! The only module that knows clap or reads the environment. Flags win over environment
//! variables, which win over the config file. Secrets come from the environment or the config
//! file only, never from flags.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use url::Url;

use crate::error::UsageError;
use crate::export::{DEFAULT_ROW_CAP, ExportConfig};
use crate::fetch::limiter::DEFAULT_MAX_RPS;
use crate::fetch::{ApiConfig, Credentials, DEFAULT_DISCOVERY_URL, RetryConfig};
use crate::ops::plan::PlanConfig;
use crate::ops::state::StateConfig;
use crate::plan::{RangeRequest, Shard, StartFrom};
use crate::secret::Secret;
use crate::simulate::{
    DataAuth, DateForm, Discovery, EmptyAnswer, HourlyDate, IntervalSpelling, MAX_BUCKET_OFFSET_HOURS, PlatformCase,
    SimDialect,
};
use crate::stream::{Interval, Stream};
use crate::write::{Destination, FileFormat, IpcCompression, WriteOptions, validate_id};

/// Export LivePerson Conversation Builder Bot Analytics custom events to date-partitioned
/// Parquet files on local disk, S3, GCS or Azure.
///
/// Try it with no account: `botevents export --simulate` runs a real export against the built-in
/// API simulator and writes ./botevents-data.
#[derive(Debug, Parser)]
#[command(name = "botevents", version, max_term_width = 100)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More logging (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr (the summary is still printed).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for schedulers and log pipelines.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export custom events: plan → fetch → convert → write → commit.
    ///
    /// Credentials come from the environment (BOTEVENTS_API_KEY, BOTEVENTS_USERNAME,
    /// BOTEVENTS_PASSWORD, or BOTEVENTS_ACCESS_TOKEN and BOTEVENTS_ORGANIZATION_ID) or the config
    /// file, never from flags.
    Export(Box<ExportArgs>),
    /// Convert CSV files downloaded by other means (or - for stdin) into the same tables and
    /// layout as an export (offline).
    Convert(ConvertArgs),
    /// Print the table schemas, or DDL over the Hive layout for DuckDB, BigQuery or Snowflake.
    Schema(SchemaArgs),
    /// Run the API simulator on loopback until stopped, printing its URLs and credentials.
    Simulate(SimulateArgs),
    /// Print the ranges, windows and requests an export with the same options would make, and
    /// the time they take at --max-rps; sends nothing (reads the cursors at the destination).
    Plan(Box<PlanArgs>),
    /// Check configuration and credentials: login, SSO and one small data call (one hour of the
    /// last complete day, first bot). Exit 0 when all pass, 3 on an authentication failure.
    Check(Box<ExportArgs>),
    /// Show or reset the per-bot cursors at a destination.
    State(StateArgs),
}

/// Options of `botevents plan`: those of `export`, plus the output format.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The export to plan.
    #[command(flatten)]
    pub export: ExportArgs,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `botevents state show|reset`.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: StateAction,
}

/// The state subcommands.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Print each bot's cursors (per stream), when and by whom they were written, and the days
    /// not exported yet that are about to fall out of retention.
    Show(StateShowArgs),
    /// Move a bot's cursors back (--to DAY), or remove them so that the next run starts at the
    /// oldest retained day; the next export then fetches those days again.
    Reset(StateResetArgs),
}

/// Where the states are (shared by `state show` and `state reset`).
#[derive(Debug, Args)]
pub struct StateTarget {
    /// Conversational Cloud account (brand) id.
    #[arg(long, env = "BOTEVENTS_ACCOUNT")]
    pub account: Option<String>,
    /// Destination, as for export [default: ./botevents-data].
    #[arg(long, env = "BOTEVENTS_DEST")]
    pub dest: Option<String>,
    /// TOML config file (account, dest, retention_days and [store] are used; with [[accounts]],
    /// those of every account, or of --account's).
    #[arg(long, env = "BOTEVENTS_CONFIG")]
    pub config: Option<PathBuf>,
    /// The API's retention in days (for the days at risk).
    #[arg(long)]
    pub retention_days: Option<u32>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Pretend the time is this RFC 3339 instant (testing).
    #[arg(long, hide = true)]
    pub now: Option<DateTime<Utc>>,
}

/// Options of `botevents state show`.
#[derive(Debug, Args)]
pub struct StateShowArgs {
    /// Where the states are.
    #[command(flatten)]
    pub target: StateTarget,
    /// Only these bots (repeatable) [default: every bot with a state].
    #[arg(long = "bot", value_delimiter = ',')]
    pub bots: Vec<String>,
}

/// Options of `botevents state reset`.
#[derive(Debug, Args)]
pub struct StateResetArgs {
    /// Where the state is.
    #[command(flatten)]
    pub target: StateTarget,
    /// The bot whose cursors to reset.
    #[arg(long)]
    pub bot: String,
    /// Only this stream's cursor (detail, total, catalog or histogram) [default: every stream's].
    #[arg(long)]
    pub stream: Option<Stream>,
    /// Move the cursors back to this UTC day (the first day the next run exports); without it
    /// the cursors are removed and the next run starts at the oldest retained day.
    #[arg(long)]
    pub to: Option<NaiveDate>,
}

impl StateTarget {
    /// Validates the target; `bots` are the bots named on the command line. A config file with
    /// several accounts is a usage error here: see [`into_configs`](Self::into_configs).
    pub fn into_config(
        self,
        bots: Vec<String>,
        env: EnvSecrets,
        now: DateTime<Utc>,
    ) -> Result<StateConfig, crate::Error> {
        one_account(self.into_configs(bots, env, now)?)
    }

    /// Validates the target, one per account of the config file (only `--account`'s when given).
    pub fn into_configs(
        self,
        bots: Vec<String>,
        env: EnvSecrets,
        now: DateTime<Utc>,
    ) -> Result<Vec<StateConfig>, crate::Error> {
        let files = load_config_file(self.config.as_deref())?.into_accounts(self.account.as_deref())?;
        if files.len() > 1 && !bots.is_empty() {
            return Err(UsageError::Invalid {
                what: "--bot",
                value: bots.join(","),
                reason: "bots belong to one account, but the config file lists several: pick one with --account ID"
                    .into(),
            }
            .into());
        }
        for b in &bots {
            validate_id("bot", b)?;
        }
        let mut out = Vec::new();
        for mut file in files {
            let account = self
                .account
                .clone()
                .or(file.account.take())
                .ok_or(UsageError::Missing { what: "account", hint: "pass --account ID or set BOTEVENTS_ACCOUNT" })?;
            validate_id("account", &account)?;
            // Read, or reset where a state exists: a missing folder is not created.
            let dest = open_dest(self.dest.clone(), &mut file, env.store_options.clone(), false)?;
            out.push(StateConfig {
                account,
                dest,
                bots: bots.clone(),
                retention_days: self
                    .retention_days
                    .or(file.retention_days)
                    .unwrap_or(crate::plan::DEFAULT_RETENTION_DAYS),
                now: self.now.unwrap_or(now),
            });
        }
        Ok(out)
    }
}

impl StateResetArgs {
    /// What to reset.
    pub fn reset(&self) -> crate::commit::Reset {
        crate::commit::Reset { stream: self.stream.map(|s| s.as_str().to_string()), to: self.to }
    }
}

/// Options of `botevents export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run against the built-in API simulator (account, bots, URLs and credentials default to
    /// the simulator's own).
    #[arg(long)]
    pub simulate: bool,
    /// Conversational Cloud account (brand) id.
    #[arg(long, env = "BOTEVENTS_ACCOUNT")]
    pub account: Option<String>,
    /// Bot (chatbot) id; repeat for several bots.
    #[arg(long = "bot", env = "BOTEVENTS_BOTS", value_delimiter = ',')]
    pub bots: Vec<String>,
    /// Destination: a local path, file://…, s3://bucket/prefix, gs://bucket/prefix or
    /// az://container/prefix [default: ./botevents-data].
    #[arg(long, env = "BOTEVENTS_DEST")]
    pub dest: Option<String>,
    /// First UTC day to export (YYYY-MM-DD). Default: continue from the saved state, or the
    /// oldest retained day.
    #[arg(long, conflicts_with = "last")]
    pub start: Option<NaiveDate>,
    /// First UTC day NOT to export (exclusive). Default: the freshness horizon (a day is complete
    /// at 03:00 America/New_York the next day).
    #[arg(long)]
    pub end: Option<NaiveDate>,
    /// Backfill the last N complete days, e.g. `--last 30d` (clamped to retention).
    #[arg(long, value_parser = parse_days)]
    pub last: Option<u32>,
    /// Streams to export, comma-separated: detail, total, catalog (the event names of each
    /// window), histogram (per-period counts of each event name: one request per event name per
    /// window, the names taken from the window's catalog).
    #[arg(long, value_delimiter = ',', default_value = "detail,total")]
    pub streams: Vec<Stream>,
    /// Granularity of the total and histogram streams.
    #[arg(long, default_value = "daily")]
    pub interval: Interval,
    /// API region (picks the domain).
    #[arg(long, value_enum)]
    pub region: Option<Region>,
    /// API base URL (Apigee proxy); overrides --region.
    #[arg(long, env = "BOTEVENTS_API_URL")]
    pub api_url: Option<Url>,
    /// Login Service base URL. Default: discovered through the agentVep baseURI.json service.
    #[arg(long, env = "BOTEVENTS_LOGIN_URL")]
    pub login_url: Option<Url>,
    /// The domain service used to discover the login host.
    #[arg(long, env = "BOTEVENTS_DISCOVERY_URL")]
    pub discovery_url: Option<Url>,
    /// Request budget per API key, requests/second (the vendor allows 5). Parallel runs with
    /// the same key must share it: give each its part, e.g. 5 workers with --max-rps 1.
    #[arg(long)]
    pub max_rps: Option<NonZeroU32>,
    /// Export only the (account, bot) pairs that hash to shard K of N (1-based, e.g. 2/4): N
    /// workers given 1/N … N/N export disjoint sets of bots that together are all of them.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// File format: parquet, or arrow (Arrow IPC files, also known as Feather v2, named .arrow).
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    pub format: FormatArg,
    /// Compression: zstd, zstd:LEVEL or none; also snappy, gzip or gzip:LEVEL (Parquet only)
    /// and lz4 (Arrow only).
    #[arg(long, default_value = "zstd")]
    pub compression: String,
    /// The API's retention in days.
    #[arg(long)]
    pub retention_days: Option<u32>,
    /// Also re-export the N most recent complete days (late data), idempotently.
    #[arg(long, default_value_t = 0)]
    pub lookback_days: u32,
    /// Also export days after the freshness horizon (never advances the state).
    #[arg(long)]
    pub allow_partial_days: bool,
    /// Rows that may be rejected (kept in the rejects files) before the run fails with exit 4.
    #[arg(long, default_value_t = 0)]
    pub max_bad_rows: u64,
    /// Detail downloads are capped at this many rows by the API; a response this long is split.
    #[arg(long, default_value_t = DEFAULT_ROW_CAP)]
    pub row_cap: u64,
    /// Retries of a failed request (429, 5xx, dropped connection, broken body) before the run fails.
    #[arg(long, default_value_t = crate::fetch::retry::DEFAULT_MAX_RETRIES)]
    pub max_retries: u32,
    /// Longest wait for a response to begin, and longest silence inside a body, before the
    /// request is abandoned and retried (e.g. 30s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub read_timeout: std::time::Duration,
    /// Longest wait for a connection to the API.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub connect_timeout: std::time::Duration,
    /// TOML config file (keys as the long options, plus api_key, username, password, or
    /// api_key_env … naming the variables that hold them); [[accounts]] entries describe several
    /// accounts, each with its own key, which run at the same time (--account picks one).
    #[arg(long, env = "BOTEVENTS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Write a machine-readable run summary to PATH (or - for stdout).
    #[arg(long)]
    pub summary_json: Option<String>,
    /// Stop starting new windows after this long (e.g. 90s, 30m, 2h), commit what is done and
    /// exit 75 (resumable).
    #[arg(long, value_parser = parse_duration)]
    pub max_duration: Option<std::time::Duration>,
    /// Faults of the built-in simulator (with --simulate).
    #[command(flatten)]
    pub faults: FaultArgs,
    /// The API dialect of the built-in simulator (with --simulate).
    #[command(flatten)]
    pub sim_dialect: SimDialectArgs,
    /// Pretend the time is this RFC 3339 instant (testing).
    #[arg(long, hide = true)]
    pub now: Option<DateTime<Utc>>,
}

/// Faults the simulator injects: a seeded share of requests fails with a fault drawn from a mix.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Simulator faults")]
pub struct FaultArgs {
    /// Per cent of otherwise successful requests that fail (0-100).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub fault_rate: u32,
    /// The faults to draw from, comma-separated: HTTP statuses (500, 503 …), 429 (Retry-After 1),
    /// 429:SECS, 429-bare (no Retry-After), drop (before the response), hang, truncate:BYTES
    /// (broken chunked body), short:BYTES (body below its Content-Length), stall:BYTES (body goes
    /// silent), slow:MS (pause before each 64 KB chunk); or `all`.
    #[arg(long, value_delimiter = ',', default_value = "all", value_parser = parse_fault_mix)]
    pub fault_mix: Vec<Vec<crate::simulate::Fault>>,
    /// Seed of the fault draws.
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
    /// Also fail login and SSO requests (status, drop and hang faults of the mix).
    #[arg(long)]
    pub fault_auth: bool,
    /// An API access token expires after this many data requests (401; the client must renew it).
    #[arg(long)]
    pub token_calls: Option<u32>,
}

impl FaultArgs {
    /// The simulator's chaos setting; `None` when no fault is asked for.
    pub fn chaos(&self) -> Option<crate::simulate::Chaos> {
        (self.fault_rate > 0).then(|| crate::simulate::Chaos {
            seed: self.fault_seed,
            percent: self.fault_rate,
            mix: self.fault_mix.iter().flatten().copied().collect(),
            auth: self.fault_auth,
        })
    }
}

/// A value parser for a simulator form enum: its names, each with its documentation in `--help`.
macro_rules! sim_form {
    ($form:ty) => {
        clap::builder::TypedValueParser::try_map(
            clap::builder::PossibleValuesParser::new(
                <$form>::ALL.iter().map(|form| clap::builder::PossibleValue::new(form.name()).help(form.describe())),
            ),
            |name| name.parse::<$form>(),
        )
    };
}

/// Which reading of the vendor's page the simulator holds a client to. The defaults are the
/// page's literal words; each option switches to another form the page allows.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Simulator API dialect")]
pub struct SimDialectArgs {
    /// How `interval` must be spelled (absent always means daily).
    #[arg(
        long,
        value_name = "FORM",
        default_value_t = IntervalSpelling::default(),
        value_parser = sim_form!(IntervalSpelling),
    )]
    pub sim_interval: IntervalSpelling,
    /// Which startDate/endDate forms are accepted.
    #[arg(long, value_name = "FORM", default_value_t = DateForm::default(), value_parser = sim_form!(DateForm))]
    pub sim_dates: DateForm,
    /// The answer of a request with no rows or no events.
    #[arg(long, value_name = "FORM", default_value_t = EmptyAnswer::default(), value_parser = sim_form!(EmptyAnswer))]
    pub sim_empty: EmptyAnswer,
    /// The totals' Date column with interval=Hourly (an hour starting 2024-05-18 13:00Z).
    #[arg(long, value_name = "FORM", default_value_t = HourlyDate::default(), value_parser = sim_form!(HourlyDate))]
    pub sim_hourly_date: HourlyDate,
    /// Hours east of UTC of the server's clock, which cuts the days and hours of the totals and
    /// histograms: with 2, a day runs from 22:00Z to 22:00Z, every day overlapping the window is
    /// answered whole, and a daily total's Date is written 2024-05-17T22:00:00Z.
    #[arg(
        long,
        value_name = "HOURS",
        default_value_t = 0,
        allow_negative_numbers = true,
        value_parser = bucket_offset_parser(),
    )]
    pub sim_bucket_offset: i8,
    /// The case of the totals' platform columns.
    #[arg(long, value_name = "CASE", default_value_t = PlatformCase::default(), value_parser = sim_form!(PlatformCase))]
    pub sim_platform_case: PlatformCase,
    /// The shape of the login-domain lookup (baseURI.json).
    #[arg(long, value_name = "FORM", default_value_t = Discovery::default(), value_parser = sim_form!(Discovery))]
    pub sim_discovery: Discovery,
    /// Histogram counts as strings ("3"), zero counts as null.
    #[arg(long)]
    pub sim_string_counts: bool,
    /// What the data calls' authorization header must hold.
    #[arg(long, value_name = "FORM", default_value_t = DataAuth::default(), value_parser = sim_form!(DataAuth))]
    pub sim_data_auth: DataAuth,
    /// Accept any interval case and any RFC 3339 date (the simulator's former leniency); the
    /// same as --sim-interval lenient --sim-dates any.
    #[arg(long, conflicts_with_all = ["sim_interval", "sim_dates"])]
    pub sim_lenient: bool,
}

/// Whole hours within [`MAX_BUCKET_OFFSET_HOURS`] of UTC.
fn bucket_offset_parser() -> clap::builder::RangedI64ValueParser<i8> {
    let max = i64::from(MAX_BUCKET_OFFSET_HOURS);
    clap::value_parser!(i8).range(-max..=max)
}

impl SimDialectArgs {
    /// The simulator's dialect.
    pub fn dialect(&self) -> SimDialect {
        let (interval, dates) = if self.sim_lenient {
            let lenient = SimDialect::lenient();
            (lenient.interval, lenient.dates)
        } else {
            (self.sim_interval, self.sim_dates)
        };
        SimDialect {
            interval,
            dates,
            empty: self.sim_empty,
            hourly_date: self.sim_hourly_date,
            bucket_offset_hours: self.sim_bucket_offset,
            platform_case: self.sim_platform_case,
            discovery: self.sim_discovery,
            string_counts: self.sim_string_counts,
            data_auth: self.sim_data_auth,
        }
    }
}

fn parse_fault_mix(s: &str) -> Result<Vec<crate::simulate::Fault>, String> {
    if s.trim() == "all" { Ok(crate::simulate::Fault::all()) } else { s.trim().parse().map(|f| vec![f]) }
}

/// Parses `90s`, `30m`, `2h`, `500ms` or a number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return match ms.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(std::time::Duration::from_millis(n)),
            _ => Err(format!("expected a duration like 500ms, 90s, 30m or 2h, got {s:?}")),
        };
    }
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        _ => (t, 1),
    };
    match num.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(std::time::Duration::from_secs(n * mult)),
        _ => Err(format!("expected a duration like 90s, 30m or 2h, got {s:?}")),
    }
}

/// Options of `botevents convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Which download the files are: detail (customEventDetail) or total (customEventTotal).
    #[arg(long, value_enum)]
    pub table: TableArg,
    /// Account id to stamp on every row.
    #[arg(long, env = "BOTEVENTS_ACCOUNT")]
    pub account: String,
    /// Bot id to stamp on every row.
    #[arg(long)]
    pub bot: String,
    /// Destination (as for export) [default: ./botevents-data].
    #[arg(long, env = "BOTEVENTS_DEST")]
    pub dest: Option<String>,
    /// File format: parquet, or arrow (Arrow IPC files, also known as Feather v2, named .arrow).
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    pub format: FormatArg,
    /// Compression: zstd, zstd:LEVEL or none; also snappy, gzip or gzip:LEVEL (Parquet only)
    /// and lz4 (Arrow only).
    #[arg(long, default_value = "zstd")]
    pub compression: String,
    /// Granularity of a totals file.
    #[arg(long, default_value = "daily")]
    pub interval: Interval,
    /// Rows that may be rejected before the conversion fails with exit 4.
    #[arg(long, default_value_t = 0)]
    pub max_bad_rows: u64,
    /// Write a machine-readable summary to PATH (or - for stdout).
    #[arg(long)]
    pub summary_json: Option<String>,
    /// CSV files; - reads standard input. Files are mapped into memory: don't truncate one while
    /// it is converted.
    #[arg(required = true)]
    pub files: Vec<String>,
}

/// Options of `botevents schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print DDL for this warehouse instead of the schemas (over Parquet files: the DDL reads
    /// *.parquet, not the .arrow files of --format arrow).
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,
    /// Where the data is: the --dest of the export (DuckDB), gs://bucket/prefix (BigQuery), or a
    /// stage such as @botevents (Snowflake).
    #[arg(long, default_value = crate::write::DEFAULT_DEST)]
    pub location: String,
    /// Tables to print (repeatable): detail, total, catalog, histogram [default: detail and total,
    /// the tables of the default streams].
    #[arg(long = "table", value_enum)]
    pub tables: Vec<SchemaTable>,
}

/// Warehouses `schema --dialect` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// A DuckDB view over read_parquet with hive partitioning.
    Duckdb,
    /// A BigQuery external table with hive partitioning.
    Bigquery,
    /// A Snowflake external table partitioned by the path.
    Snowflake,
}

/// Tables `schema` can print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaTable {
    /// custom_event_detail.
    Detail,
    /// custom_event_total.
    Total,
    /// custom_event_catalog.
    Catalog,
    /// custom_event_histogram.
    Histogram,
}

impl SchemaArgs {
    /// The text `botevents schema` prints.
    pub fn render(&self) -> String {
        use crate::schema::Table;
        let tables: Vec<Table> = if self.tables.is_empty() {
            vec![Table::Detail, Table::Total]
        } else {
            self.tables
                .iter()
                .map(|t| match t {
                    SchemaTable::Detail => Table::Detail,
                    SchemaTable::Total => Table::Total,
                    SchemaTable::Catalog => Table::Catalog,
                    SchemaTable::Histogram => Table::Histogram,
                })
                .collect()
        };
        let mut out = String::new();
        for t in tables {
            match self.dialect {
                Some(d) => {
                    let d = match d {
                        DialectArg::Duckdb => crate::ddl::Dialect::DuckDb,
                        DialectArg::Bigquery => crate::ddl::Dialect::BigQuery,
                        DialectArg::Snowflake => crate::ddl::Dialect::Snowflake,
                    };
                    out.push_str(&crate::ddl::ddl(t, d, &self.location));
                }
                None => {
                    let def = t.def();
                    out.push_str(&format!("{}: {}\n", def.table, def.description));
                    for (c, f) in def.columns.iter().zip(t.schema().fields()) {
                        let null = if f.is_nullable() { "null" } else { "not null" };
                        out.push_str(&format!(
                            "  {:<16} {:<34} {:<9} {}\n",
                            c.name,
                            f.data_type().to_string(),
                            null,
                            c.description
                        ));
                    }
                    out.push_str(&format!(
                        "  partitioned by {} (UTC day of {})\n",
                        def.partition.column, def.partition.from
                    ));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// The tables `convert` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableArg {
    /// custom_event_detail, from customEventDetail CSV.
    Detail,
    /// custom_event_total, from customEventTotal CSV.
    Total,
}

impl ConvertArgs {
    /// Validates the arguments.
    pub fn into_config(self) -> Result<crate::export::ConvertConfig, crate::Error> {
        validate_id("account", &self.account)?;
        validate_id("bot", &self.bot)?;
        // Every argument is checked before the destination is opened (which creates a local one).
        let write = write_options(self.format, &self.compression)?;
        let dest =
            Destination::open(self.dest.as_deref().unwrap_or(crate::write::DEFAULT_DEST), &store_options_from_env())?;
        Ok(crate::export::ConvertConfig {
            table: match self.table {
                TableArg::Detail => crate::schema::Table::Detail,
                TableArg::Total => crate::schema::Table::Total,
            },
            account: self.account,
            bot: self.bot,
            interval: self.interval,
            dest,
            write,
            inputs: self.files,
            max_bad_rows: self.max_bad_rows,
        })
    }
}

/// Options of `botevents simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Pretend the time is this RFC 3339 instant (testing).
    #[arg(long, hide = true)]
    pub now: Option<DateTime<Utc>>,
    /// Faults to inject.
    #[command(flatten)]
    pub faults: FaultArgs,
    /// The API dialect.
    #[command(flatten)]
    pub dialect: SimDialectArgs,
}

/// API regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    /// North America.
    Us,
    /// Europe, Middle East, Africa.
    Emea,
    /// Asia-Pacific.
    Apac,
}

impl Region {
    /// The region's API base URL.
    pub fn api_url(self) -> &'static str {
        match self {
            Region::Us => "https://us.livepersonapis.com/",
            Region::Emea => "https://emea.livepersonapis.com/",
            Region::Apac => "https://apac.livepersonapis.com/",
        }
    }
}

fn parse_days(s: &str) -> Result<u32, String> {
    let t = s.trim().trim_end_matches(['d', 'D']);
    match t.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a number of days like 30d, got {s:?}")),
    }
}

/// File formats (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Parquet files (.parquet).
    Parquet,
    /// Arrow IPC files, also known as Feather v2 (.arrow).
    Arrow,
}

/// The encoder settings of `--format` and `--compression`.
pub fn write_options(format: FormatArg, compression: &str) -> Result<WriteOptions, UsageError> {
    Ok(match format {
        FormatArg::Parquet => WriteOptions { compression: parse_compression(compression)?, ..WriteOptions::default() },
        FormatArg::Arrow => WriteOptions {
            format: FileFormat::Arrow,
            ipc_compression: parse_ipc_compression(compression)?,
            ..WriteOptions::default()
        },
    })
}

/// Parses `--compression` for Arrow IPC files: zstd, zstd:LEVEL, lz4 or none.
pub fn parse_ipc_compression(s: &str) -> Result<IpcCompression, UsageError> {
    let bad = |reason: String| UsageError::Invalid { what: "--compression", value: s.to_string(), reason };
    let (name, level) = match s.split_once(':') {
        Some((n, l)) => (n, Some(l.parse::<i32>().map_err(|e| bad(format!("level: {e}")))?)),
        None => (s, None),
    };
    match (name.to_ascii_lowercase().as_str(), level) {
        ("zstd", l) => {
            let level = l.unwrap_or(crate::write::DEFAULT_ZSTD_LEVEL);
            ZstdLevel::try_new(level).map_err(|e| bad(e.to_string()))?;
            Ok(IpcCompression::Zstd { level })
        }
        ("lz4", None) => Ok(IpcCompression::Lz4),
        ("none" | "uncompressed", None) => Ok(IpcCompression::None),
        ("snappy" | "gzip", _) => {
            Err(bad("Arrow IPC files are compressed with zstd, lz4 or none; snappy and gzip are for --format parquet"
                .into()))
        }
        _ => Err(bad("expected zstd, zstd:LEVEL, lz4 or none for --format arrow".into())),
    }
}

/// Parses `--compression`.
pub fn parse_compression(s: &str) -> Result<Compression, UsageError> {
    let bad = |reason: String| UsageError::Invalid { what: "--compression", value: s.to_string(), reason };
    let (name, level) = match s.split_once(':') {
        Some((n, l)) => (n, Some(l.parse::<i32>().map_err(|e| bad(format!("level: {e}")))?)),
        None => (s, None),
    };
    match (name.to_ascii_lowercase().as_str(), level) {
        ("zstd", l) => Ok(Compression::ZSTD(
            ZstdLevel::try_new(l.unwrap_or(crate::write::DEFAULT_ZSTD_LEVEL)).map_err(|e| bad(e.to_string()))?,
        )),
        ("snappy", None) => Ok(Compression::SNAPPY),
        ("gzip", l) => {
            Ok(Compression::GZIP(GzipLevel::try_new(l.unwrap_or(6) as u32).map_err(|e| bad(e.to_string()))?))
        }
        ("none" | "uncompressed", None) => Ok(Compression::UNCOMPRESSED),
        _ => Err(bad("expected zstd, zstd:LEVEL, snappy, gzip, gzip:LEVEL or none".into())),
    }
}

/// Settings read from the process environment (secrets only come from here or the config file).
#[derive(Debug, Default, Clone)]
pub struct EnvSecrets {
    /// BOTEVENTS_API_KEY.
    pub api_key: Option<Secret>,
    /// BOTEVENTS_USERNAME.
    pub username: Option<Secret>,
    /// BOTEVENTS_PASSWORD.
    pub password: Option<Secret>,
    /// BOTEVENTS_ACCESS_TOKEN.
    pub access_token: Option<Secret>,
    /// BOTEVENTS_ORGANIZATION_ID.
    pub organization_id: Option<String>,
    /// Object-store settings: every `AWS_*`, `GOOGLE_*`, `AZURE_*` and `AZURITE_*` variable,
    /// passed to the store builder of the destination's scheme (later entries win).
    pub store_options: Vec<(String, String)>,
    /// Every variable of the environment, for the config file's `api_key_env`, `username_env`
    /// and `password_env` (which name the variable that holds an account's secret).
    pub vars: BTreeMap<String, Secret>,
}

impl EnvSecrets {
    /// The credential variables that are set (they belong to one account).
    fn credentials_set(&self) -> Vec<&'static str> {
        [
            ("BOTEVENTS_API_KEY", self.api_key.is_some()),
            ("BOTEVENTS_USERNAME", self.username.is_some()),
            ("BOTEVENTS_PASSWORD", self.password.is_some()),
            ("BOTEVENTS_ACCESS_TOKEN", self.access_token.is_some()),
            ("BOTEVENTS_ORGANIZATION_ID", self.organization_id.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

impl EnvSecrets {
    /// Reads the variables.
    pub fn from_env() -> EnvSecrets {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        EnvSecrets {
            api_key: get("BOTEVENTS_API_KEY").map(Secret::new),
            username: get("BOTEVENTS_USERNAME").map(Secret::new),
            password: get("BOTEVENTS_PASSWORD").map(Secret::new),
            access_token: get("BOTEVENTS_ACCESS_TOKEN").map(Secret::new),
            organization_id: get("BOTEVENTS_ORGANIZATION_ID"),
            store_options: store_options_from_env(),
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, Secret::new(v.into_string().ok()?))))
                .collect(),
        }
    }
}

/// The object-store variables of the environment, in a stable order, plus the keys of the AWS
/// shared-config profile (`AWS_PROFILE`, or `default`) when no other AWS credentials are set.
pub fn store_options_from_env() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| ["AWS_", "GOOGLE_", "AZURE_", "AZURITE_"].iter().any(|p| k.starts_with(p)))
        .collect();
    v.sort();
    let has = |v: &[(String, String)], key: &str| v.iter().any(|(k, _)| k == key);
    if !has(&v, "AWS_ACCESS_KEY_ID")
        && !has(&v, "AWS_WEB_IDENTITY_TOKEN_FILE")
        && !has(&v, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    {
        let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
        let home = std::env::var("HOME").unwrap_or_default();
        let creds = std::env::var("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|_| format!("{home}/.aws/credentials"));
        let config = std::env::var("AWS_CONFIG_FILE").unwrap_or_else(|_| format!("{home}/.aws/config"));
        let read = |path: &str, section: &str| {
            std::fs::read_to_string(path).map(|text| ini_section(&text, section)).unwrap_or_default()
        };
        let mut found = read(&creds, &profile);
        let config_section = if profile == "default" { "default".to_string() } else { format!("profile {profile}") };
        found.extend(read(&config, &config_section));
        for (k, val) in found {
            let key = k.to_ascii_uppercase();
            let wanted = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"].contains(&key.as_str())
                || (k == "region" && !has(&v, "AWS_REGION"));
            if wanted
                && !v.iter().any(|(have, _)| have.eq_ignore_ascii_case(&key) || (k == "region" && have == "AWS_REGION"))
            {
                v.push((if k == "region" { "AWS_REGION".to_string() } else { key }, val));
            }
        }
    }
    v
}

/// The `key = value` lines of one `[section]` of an INI file.
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            inside = line[1..line.len() - 1].trim() == section;
        } else if inside && let Some((k, val)) = line.split_once('=') {
            out.push((k.trim().to_string(), val.trim().to_string()));
        }
    }
    out
}

/// The config file (TOML). Every key is optional; flags and environment win.
///
/// It describes one account with the top-level keys, or several with `[[accounts]]` entries:
/// each entry takes every top-level key but `accounts` (`account` is required there), and the
/// top-level keys other than `account` and `bots` are defaults for every entry. An entry's
/// value wins over the top level's; flags and environment win over both. Secrets can be given
/// as values (`api_key`) or as the name of an environment variable that holds them
/// (`api_key_env`), so that the file itself need not hold any.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Account id.
    pub account: Option<String>,
    /// Bot ids.
    #[serde(default)]
    pub bots: Vec<String>,
    /// Destination URL.
    pub dest: Option<String>,
    /// API base URL.
    pub api_url: Option<Url>,
    /// Login base URL.
    pub login_url: Option<Url>,
    /// Discovery URL.
    pub discovery_url: Option<Url>,
    /// Region.
    pub region: Option<String>,
    /// Request budget.
    pub max_rps: Option<NonZeroU32>,
    /// Retention.
    pub retention_days: Option<u32>,
    /// API key.
    pub api_key: Option<Secret>,
    /// The environment variable that holds the API key.
    pub api_key_env: Option<String>,
    /// Login name.
    pub username: Option<Secret>,
    /// The environment variable that holds the login name.
    pub username_env: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// The environment variable that holds the password.
    pub password_env: Option<String>,
    /// Object-store options (e.g. `aws_endpoint`, `aws_region`), passed to the store builder.
    #[serde(default)]
    pub store: BTreeMap<String, String>,
    /// Several accounts, each with its own API key, credentials, bots and settings.
    #[serde(default)]
    pub accounts: Vec<ConfigFile>,
    /// The file it was read from (for error messages).
    #[serde(skip)]
    path: Option<PathBuf>,
    /// The account, when this is an `[[accounts]]` entry (merged with the top level's defaults).
    #[serde(skip)]
    entry: Option<String>,
}

/// Where and why a config file failed to parse, without its text: the parser's own message
/// quotes the line and, for a value of the wrong type, the value, which may be a secret.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    // serde's "invalid type: string \"…\", expected …" and "invalid value: …": the kind only.
    let message = match (message.split_once(": "), message.find(", expected")) {
        (Some((what @ ("invalid type" | "invalid value" | "invalid length"), rest)), Some(at)) => {
            let kind = rest.split([' ', ',']).next().unwrap_or_default();
            format!("{what}: {kind}{}", &message[at..])
        }
        _ => message.to_string(),
    };
    let Some(span) = e.span() else { return message };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
    format!("line {line}, column {column}: {message}")
}

impl ConfigFile {
    /// Reads and parses a config file.
    pub fn load(path: &std::path::Path) -> Result<ConfigFile, UsageError> {
        let cfg_err = |reason: String| UsageError::Config { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| cfg_err(e.to_string()))?;
        let mut file: ConfigFile = toml::from_str(&text).map_err(|e| cfg_err(toml_error(&text, &e)))?;
        file.path = Some(path.to_path_buf());
        Ok(file)
    }

    /// The accounts the file describes, each as a file of its own (an `[[accounts]]` entry with
    /// the top level's defaults filled in), in the file's order; only `selected` when given
    /// (`--account`). A file without `[[accounts]]` is one account, whichever `selected` is.
    pub fn into_accounts(mut self, selected: Option<&str>) -> Result<Vec<ConfigFile>, UsageError> {
        if self.accounts.is_empty() {
            return Ok(vec![self]);
        }
        if self.account.is_some() || !self.bots.is_empty() {
            return Err(self.error("`account` and `bots` belong in the [[accounts]] entries when the file has them"));
        }
        let entries = std::mem::take(&mut self.accounts);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let Some(account) = e.account.clone() else {
                return Err(self.error(format!("[[accounts]] entry {} has no `account`", i + 1)));
            };
            if !e.accounts.is_empty() {
                return Err(self.error(format!("account {account:?}: an [[accounts]] entry cannot hold accounts")));
            }
            if !seen.insert(account.clone()) {
                return Err(self.error(format!("account {account:?} is listed twice")));
            }
            if selected.is_none_or(|s| s == account) {
                out.push(self.defaults_for(e));
            }
        }
        if out.is_empty() {
            let listed: Vec<&str> =
                seen.iter().map(String::as_str).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            return Err(self.error(format!(
                "account {:?} is not in the file (it lists {})",
                selected.unwrap_or_default(),
                listed.join(", ")
            )));
        }
        Ok(out)
    }

    /// `entry`, with what it leaves open taken from this (top-level) file.
    fn defaults_for(&self, e: ConfigFile) -> ConfigFile {
        let mut store = self.store.clone();
        store.extend(e.store);
        // A secret given in the entry, by value or by variable, replaces the top level's.
        let (api_key, api_key_env) = secret_or(e.api_key, e.api_key_env, &self.api_key, &self.api_key_env);
        let (username, username_env) = secret_or(e.username, e.username_env, &self.username, &self.username_env);
        let (password, password_env) = secret_or(e.password, e.password_env, &self.password, &self.password_env);
        ConfigFile {
            account: e.account.clone(),
            bots: e.bots,
            dest: e.dest.or_else(|| self.dest.clone()),
            api_url: e.api_url.or_else(|| self.api_url.clone()),
            login_url: e.login_url.or_else(|| self.login_url.clone()),
            discovery_url: e.discovery_url.or_else(|| self.discovery_url.clone()),
            region: e.region.or_else(|| self.region.clone()),
            max_rps: e.max_rps.or(self.max_rps),
            retention_days: e.retention_days.or(self.retention_days),
            api_key,
            api_key_env,
            username,
            username_env,
            password,
            password_env,
            store,
            accounts: Vec::new(),
            path: self.path.clone(),
            entry: e.account.clone(),
        }
    }

    /// A configuration error about this file.
    fn error(&self, reason: impl Into<String>) -> UsageError {
        let path = self.path.as_ref().map_or_else(|| "(none)".to_string(), |p| p.display().to_string());
        UsageError::Config { path, reason: reason.into() }
    }

    /// Where an error about this account's settings points: the account's entry, or the file.
    fn account_error(&self, reason: impl std::fmt::Display) -> UsageError {
        match &self.entry {
            Some(a) => self.error(format!("account {a:?}: {reason}")),
            None => self.error(reason.to_string()),
        }
    }

    /// The secret given as `value`, or in the environment variable `var` names (`what_env`).
    fn secret(
        &self,
        value: Option<Secret>,
        var: Option<String>,
        what: &str,
        env: &EnvSecrets,
    ) -> Result<Option<Secret>, UsageError> {
        match (value, var) {
            (Some(_), Some(_)) => Err(self.account_error(format!("give either {what} or {what}_env, not both"))),
            (Some(v), None) => Ok(Some(v)),
            (None, Some(name)) => {
                match env.vars.get(&name) {
                    Some(v) if !v.is_empty() => Ok(Some(v.clone())),
                    _ => Err(self
                        .account_error(format!("{what}_env names the environment variable {name}, which is not set"))),
                }
            }
            (None, None) => Ok(None),
        }
    }
}

/// An entry's secret (value or variable) if it gives one, else the top level's.
fn secret_or(
    value: Option<Secret>,
    var: Option<String>,
    top_value: &Option<Secret>,
    top_var: &Option<String>,
) -> (Option<Secret>, Option<String>) {
    if value.is_some() || var.is_some() { (value, var) } else { (top_value.clone(), top_var.clone()) }
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

impl ExportArgs {
    /// Validates the arguments into the configuration of one account's export. `sim` is set when
    /// `--simulate` started a simulator; `now` is the clock unless `--now` overrides it. A config
    /// file that runs several accounts is a usage error here: see [`into_configs`](Self::into_configs).
    pub fn into_config(
        self,
        env: EnvSecrets,
        sim: Option<&SimulatorDefaults>,
        now: DateTime<Utc>,
    ) -> Result<ExportConfig, crate::Error> {
        one_account(self.into_configs(env, sim, now)?)
    }

    /// Validates the arguments into one export configuration per account: those of the config
    /// file's `[[accounts]]` (only `--account`'s when given), or the one account of flags,
    /// environment and a single-account file.
    pub fn into_configs(
        self,
        env: EnvSecrets,
        sim: Option<&SimulatorDefaults>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ExportConfig>, crate::Error> {
        let files = self.account_files(&env)?;
        files.into_iter().map(|f| self.export_config(f, &env, sim, now)).collect()
    }

    /// The config file's accounts that this run covers, checking that flags and environment
    /// that belong to one account are not given for several.
    fn account_files(&self, env: &EnvSecrets) -> Result<Vec<ConfigFile>, crate::Error> {
        let files = load_config_file(self.config.as_deref())?.into_accounts(self.account.as_deref())?;
        if files.len() > 1 {
            let several = |what: &str| {
                let ids: Vec<&str> = files.iter().filter_map(|f| f.account.as_deref()).collect();
                UsageError::Invalid {
                    what: "accounts",
                    value: ids.join(","),
                    reason: format!(
                        "{what} belongs to one account, but the config file runs {}: give it in each [[accounts]] entry, or run one account with --account ID",
                        ids.len()
                    ),
                }
            };
            if !self.bots.is_empty() {
                return Err(several("--bot (or BOTEVENTS_BOTS)").into());
            }
            if let Some(var) = env.credentials_set().first() {
                return Err(several(var).into());
            }
        }
        Ok(files)
    }

    /// One account's export configuration, from the flags, the environment and `file` (the
    /// account's entry with the top level's defaults, or the whole single-account file).
    fn export_config(
        &self,
        mut file: ConfigFile,
        env: &EnvSecrets,
        sim: Option<&SimulatorDefaults>,
        now: DateTime<Utc>,
    ) -> Result<ExportConfig, crate::Error> {
        let (account, bots) = account_and_bots(self.account.clone(), self.bots.clone(), &mut file, sim)?;
        let bots = shard_bots(self.shard, &account, bots);
        let region_url = match (self.region, file.region.as_deref()) {
            (Some(r), _) => Some(r.api_url().to_string()),
            (None, Some(r)) => Some(
                Region::from_str(r, true)
                    .map_err(|reason| UsageError::Invalid { what: "region", value: r.to_string(), reason })?
                    .api_url()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let sim_url = sim.map(|s| s.url.clone());
        let api_url = match (self.api_url.clone(), file.api_url.take(), sim_url.clone(), region_url) {
            (Some(u), ..) | (None, Some(u), ..) | (None, None, Some(u), _) => u,
            (None, None, None, Some(r)) => Url::parse(&r).map_err(|e| invalid("--region", &r, e))?,
            (None, None, None, None) => {
                Url::parse(crate::fetch::DEFAULT_API_URL).map_err(|e| invalid("--api-url", "", e))?
            }
        };
        let login_url = self.login_url.clone().or(file.login_url.take()).or_else(|| sim_url.clone());
        // A loopback API is a stand-in that serves every endpoint itself (SPEC §6): discover the
        // login host there too, rather than asking the real domain service.
        let loopback_api = crate::fetch::check_secure(&api_url).is_ok() && api_url.scheme() == "http";
        let local_discovery = loopback_api.then(|| api_url.clone());
        let discovery_url =
            match self.discovery_url.clone().or(file.discovery_url.take()).or(sim_url).or(local_discovery) {
                Some(u) => u,
                None => Url::parse(DEFAULT_DISCOVERY_URL)
                    .map_err(|e| invalid("--discovery-url", DEFAULT_DISCOVERY_URL, e))?,
            };
        for (what, u) in [
            ("--api-url", Some(&api_url)),
            ("--login-url", login_url.as_ref()),
            ("--discovery-url", Some(&discovery_url)),
        ] {
            if let Some(u) = u {
                crate::fetch::check_secure(u).map_err(|e| UsageError::Invalid {
                    what,
                    value: u.to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        let file_api_key = {
            let (value, var) = (file.api_key.take(), file.api_key_env.take());
            file.secret(value, var, "api_key", env)?
        };
        let file_username = {
            let (value, var) = (file.username.take(), file.username_env.take());
            file.secret(value, var, "username", env)?
        };
        let file_password = {
            let (value, var) = (file.password.take(), file.password_env.take());
            file.secret(value, var, "password", env)?
        };
        let api_key = match env.api_key.clone().or(file_api_key).or_else(|| sim.map(|s| Secret::new(s.api_key.clone())))
        {
            Some(k) => k,
            None if file.entry.is_some() => {
                return Err(file
                    .account_error("no API key: set api_key, or api_key_env naming the variable that holds it")
                    .into());
            }
            None => {
                return Err(UsageError::Missing {
                    what: "API key",
                    hint: "set BOTEVENTS_API_KEY (or api_key in the config file)",
                }
                .into());
            }
        };
        let credentials = Credentials {
            api_key,
            username: env.username.clone().or(file_username).or_else(|| sim.map(|s| Secret::new(s.username.clone()))),
            password: env.password.clone().or(file_password).or_else(|| sim.map(|s| Secret::new(s.password.clone()))),
            access_token: env.access_token.clone(),
            organization_id: env.organization_id.clone(),
        };
        if credentials.access_token.is_none() && (credentials.username.is_none() || credentials.password.is_none()) {
            if file.entry.is_some() {
                return Err(file
                    .account_error(
                        "no username or password: set username and password (or username_env and password_env)",
                    )
                    .into());
            }
            return Err(UsageError::Missing {
                what: "credentials",
                hint: "set BOTEVENTS_USERNAME and BOTEVENTS_PASSWORD, or BOTEVENTS_ACCESS_TOKEN and BOTEVENTS_ORGANIZATION_ID",
            }
            .into());
        }
        if credentials.access_token.is_some() != credentials.organization_id.is_some() && credentials.username.is_none()
        {
            return Err(UsageError::Missing {
                what: "BOTEVENTS_ORGANIZATION_ID",
                hint: "an access token needs its sessionOrganizationId",
            }
            .into());
        }
        let dest = open_dest(self.dest.clone(), &mut file, env.store_options.clone(), true)?;
        let range = self.range()?;
        let streams = self.unique_streams();
        let write = write_options(self.format, &self.compression)?;
        Ok(ExportConfig {
            api: ApiConfig {
                account,
                api_url,
                login_url,
                discovery_url,
                credentials,
                max_rps: self
                    .max_rps
                    .or(file.max_rps)
                    .unwrap_or(NonZeroU32::new(DEFAULT_MAX_RPS).unwrap_or(NonZeroU32::MIN)),
                retry: RetryConfig { max_retries: self.max_retries, ..RetryConfig::default() },
                connect_timeout: self.connect_timeout,
                read_timeout: self.read_timeout,
            },
            bots,
            shard: self.shard,
            dest,
            range,
            streams,
            interval: self.interval,
            write,
            retention_days: self.retention_days.or(file.retention_days).unwrap_or(crate::plan::DEFAULT_RETENTION_DAYS),
            max_bad_rows: self.max_bad_rows,
            row_cap: self.row_cap.max(1),
            now: self.now.unwrap_or(now),
        })
    }

    /// Validates the arguments into what `plan` needs: no credentials and no URL, since a plan
    /// sends nothing. A config file that runs several accounts is a usage error here: see
    /// [`into_plan_configs`](Self::into_plan_configs).
    pub fn into_plan_config(
        self,
        env: EnvSecrets,
        sim: Option<&SimulatorDefaults>,
        now: DateTime<Utc>,
    ) -> Result<PlanConfig, crate::Error> {
        one_account(self.into_plan_configs(env, sim, now)?)
    }

    /// What `plan` needs, per account (as [`into_configs`](Self::into_configs) picks them).
    pub fn into_plan_configs(
        self,
        env: EnvSecrets,
        sim: Option<&SimulatorDefaults>,
        now: DateTime<Utc>,
    ) -> Result<Vec<PlanConfig>, crate::Error> {
        let files = self.account_files(&env)?;
        files.into_iter().map(|f| self.plan_config(f, &env, sim, now)).collect()
    }

    fn plan_config(
        &self,
        mut file: ConfigFile,
        env: &EnvSecrets,
        sim: Option<&SimulatorDefaults>,
        now: DateTime<Utc>,
    ) -> Result<PlanConfig, crate::Error> {
        let (account, bots) = account_and_bots(self.account.clone(), self.bots.clone(), &mut file, sim)?;
        let bots = shard_bots(self.shard, &account, bots);
        let dest = open_dest(self.dest.clone(), &mut file, env.store_options.clone(), false)?;
        Ok(PlanConfig {
            account,
            bots,
            dest,
            range: self.range()?,
            streams: self.unique_streams(),
            retention_days: self.retention_days.or(file.retention_days).unwrap_or(crate::plan::DEFAULT_RETENTION_DAYS),
            row_cap: self.row_cap.max(1),
            max_rps: self
                .max_rps
                .or(file.max_rps)
                .unwrap_or(NonZeroU32::new(DEFAULT_MAX_RPS).unwrap_or(NonZeroU32::MIN)),
            now: self.now.unwrap_or(now),
        })
    }

    /// `--start`, `--end`, `--last`, `--lookback-days`, `--allow-partial-days`.
    fn range(&self) -> Result<RangeRequest, crate::Error> {
        let start = match (self.start, self.last) {
            (Some(d), _) => StartFrom::Day(d),
            (None, Some(n)) => StartFrom::Last(n),
            (None, None) => StartFrom::Cursor(None),
        };
        if let (Some(s), Some(e)) = (self.start, self.end)
            && e <= s
        {
            return Err(crate::plan::PlanError::EmptyRange { start: s, end: e }.into());
        }
        Ok(RangeRequest {
            start,
            end: self.end,
            lookback_days: self.lookback_days,
            allow_partial_days: self.allow_partial_days,
        })
    }

    /// `--streams`, each once, in the order given.
    fn unique_streams(&self) -> Vec<Stream> {
        let mut streams = self.streams.clone();
        let mut seen = std::collections::HashSet::new();
        streams.retain(|st| seen.insert(*st));
        streams
    }
}

/// The only configuration of `configs`; several (a config file with several accounts) are a
/// usage error.
fn one_account<T>(mut configs: Vec<T>) -> Result<T, crate::Error> {
    match configs.len() {
        1 => Ok(configs.remove(0)),
        n => Err(UsageError::Invalid {
            what: "accounts",
            value: n.to_string(),
            reason: "this command takes one account: pick one with --account ID".into(),
        }
        .into()),
    }
}

/// The config file named by `--config`, or an empty one.
fn load_config_file(path: Option<&std::path::Path>) -> Result<ConfigFile, UsageError> {
    match path {
        Some(p) => ConfigFile::load(p),
        None => Ok(ConfigFile::default()),
    }
}

/// The account and the bots (each once, validated): flags and environment, then the config file,
/// then the simulator's.
fn account_and_bots(
    account: Option<String>,
    bots: Vec<String>,
    file: &mut ConfigFile,
    sim: Option<&SimulatorDefaults>,
) -> Result<(String, Vec<String>), crate::Error> {
    let account = account
        .or(file.account.take())
        .or_else(|| sim.map(|s| s.account.clone()))
        .ok_or(UsageError::Missing { what: "account", hint: "pass --account ID or set BOTEVENTS_ACCOUNT" })?;
    validate_id("account", &account)?;
    let mut bots = if !bots.is_empty() {
        bots
    } else if !file.bots.is_empty() {
        std::mem::take(&mut file.bots)
    } else {
        sim.map(|s| s.bots.clone()).unwrap_or_default()
    };
    bots.retain(|b| !b.trim().is_empty());
    if bots.is_empty() {
        return Err(
            UsageError::Missing { what: "bots", hint: "pass --bot ID (repeatable) or set BOTEVENTS_BOTS=a,b" }.into()
        );
    }
    for b in &bots {
        validate_id("bot", b)?;
    }
    let mut seen = std::collections::HashSet::new();
    bots.retain(|b| seen.insert(b.clone()));
    Ok((account, bots))
}

/// The bots of `--shard K/N` (all of them without it), saying how many and which: a shard with
/// none is no error, so that N workers can be started whatever the number of bots.
fn shard_bots(shard: Option<Shard>, account: &str, bots: Vec<String>) -> Vec<String> {
    let Some(shard) = shard else { return bots };
    let of = bots.len();
    let mine = shard.select(account, bots);
    if mine.is_empty() {
        tracing::info!("shard {shard} holds none of the {of} bots: nothing to export");
    } else {
        tracing::info!(bots = %mine.join(","), "shard {shard}: {} of the {of} bots", mine.len());
    }
    mine
}

/// The destination: `--dest`, then the config file, then the default; store options from the
/// config file's `[store]` table, then the environment. A missing local folder is created only
/// when `create` (a command that writes); otherwise it reads as empty.
fn open_dest(
    dest: Option<String>,
    file: &mut ConfigFile,
    env_store_options: Vec<(String, String)>,
    create: bool,
) -> Result<Destination, crate::Error> {
    let dest_url = dest.or(file.dest.take()).unwrap_or_else(|| crate::write::DEFAULT_DEST.to_string());
    let mut store_opts: Vec<(String, String)> = std::mem::take(&mut file.store).into_iter().collect();
    store_opts.extend(env_store_options);
    Ok(if create {
        Destination::open(&dest_url, &store_opts)?
    } else {
        Destination::open_existing(&dest_url, &store_opts)?
    })
}

fn invalid(what: &'static str, value: &str, e: impl std::fmt::Display) -> UsageError {
    UsageError::Invalid { what, value: value.to_string(), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections() {
        let text = "[default]\naws_access_key_id = A\n[prod]\naws_access_key_id=B\naws_secret_access_key = S\n[profile prod]\nregion = eu-west-1\n";
        assert_eq!(ini_section(text, "default"), vec![("aws_access_key_id".to_string(), "A".to_string())]);
        assert_eq!(ini_section(text, "prod").len(), 2);
        assert_eq!(ini_section(text, "profile prod"), vec![("region".to_string(), "eu-west-1".to_string())]);
    }

    #[test]
    fn config_file_errors_name_the_place_and_never_quote_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("botevents.toml");
        for (text, place, reason) in [
            ("account = \"1\"\npasword = \"hunter2-secret\"\n", "line 2, column 1", "unknown field `pasword`"),
            ("account = \"1\"\napi_key = \"hunter2-secret\n", "line 2, column", ""),
            ("account = \"1\"\npassword = 4242424242\n", "line 2, column 12", "invalid type: integer, expected"),
            (
                "account = \"1\"\n[store]\naws_secret_access_key = [\"hunter2-secret\"]\n",
                "line 3",
                "invalid type: sequence",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = ConfigFile::load(&path).map(|_| ()).unwrap_err().to_string();
            assert!(!err.contains("hunter2") && !err.contains("4242"), "{err}");
            assert!(err.contains(place) && err.contains(reason), "{err}");
        }
    }

    #[test]
    fn config_file_fills_what_flags_and_environment_leave_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("botevents.toml");
        let dest = dir.path().join("lake");
        std::fs::write(
            &path,
            format!(
                "account = \"111\"\nbots = [\"b1\", \"b2\"]\ndest = {:?}\napi_url = \"https://api.example.com/\"\n\
                 login_url = \"https://login.example.com/\"\napi_key = \"file-key\"\nusername = \"u\"\npassword = \"p\"\n\
                 max_rps = 2\n[store]\naws_region = \"eu-west-1\"\n",
                dest.to_str().unwrap()
            ),
        )
        .unwrap();
        let args =
            Cli::try_parse_from(["botevents", "export", "--config", path.to_str().unwrap(), "--bot", "flag-bot"])
                .unwrap();
        let Command::Export(args) = args.command else { panic!("export") };
        let env = EnvSecrets { api_key: Some(Secret::new("env-key")), ..EnvSecrets::default() };
        let cfg = args.into_config(env, None, Utc::now()).unwrap();
        assert_eq!(cfg.api.account, "111");
        assert_eq!(cfg.bots, vec!["flag-bot"], "flags win over the file");
        let args = Cli::try_parse_from([
            "botevents",
            "export",
            "--config",
            path.to_str().unwrap(),
            "--bot",
            "a",
            "--bot",
            "b",
            "--bot",
            "a",
        ])
        .unwrap();
        let Command::Export(args) = args.command else { panic!("export") };
        let env = EnvSecrets { api_key: Some(Secret::new("k")), ..EnvSecrets::default() };
        assert_eq!(
            args.into_config(env, None, Utc::now()).unwrap().bots,
            vec!["a", "b"],
            "a bot named twice runs once"
        );
        assert_eq!(cfg.api.credentials.api_key.expose(), "env-key", "environment wins over the file");
        assert_eq!(cfg.api.credentials.password.as_ref().map(Secret::expose), Some("p"));
        assert_eq!(cfg.api.max_rps.get(), 2);
        assert_eq!(cfg.api.api_url.as_str(), "https://api.example.com/");
        assert!(dest.is_dir(), "the local destination is created");
        std::fs::write(&path, "acount = \"typo\"\n").unwrap();
        let args = Cli::try_parse_from(["botevents", "export", "--config", path.to_str().unwrap()]).unwrap();
        let Command::Export(args) = args.command else { panic!("export") };
        let err = args.into_config(EnvSecrets::default(), None, Utc::now()).unwrap_err().to_string();
        assert!(err.contains("botevents.toml") && err.contains("acount"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(std::time::Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(std::time::Duration::from_secs(7200)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("250ms"), Ok(std::time::Duration::from_millis(250)));
        assert!(parse_duration("0ms").is_err());
    }

    #[test]
    fn compression_values() {
        assert!(matches!(parse_compression("zstd:3"), Ok(Compression::ZSTD(_))));
        assert!(matches!(parse_compression("none"), Ok(Compression::UNCOMPRESSED)));
        let err = parse_compression("brotli").unwrap_err().to_string();
        assert!(err.contains("\"brotli\""), "{err}");
    }

    #[test]
    fn arrow_compression_values() {
        let opts = write_options(FormatArg::Arrow, "zstd:3").unwrap();
        assert_eq!((opts.format, opts.ipc_compression), (FileFormat::Arrow, IpcCompression::Zstd { level: 3 }));
        assert_eq!(write_options(FormatArg::Arrow, "lz4").unwrap().ipc_compression, IpcCompression::Lz4);
        assert_eq!(write_options(FormatArg::Arrow, "none").unwrap().ipc_compression, IpcCompression::None);
        for refused in ["snappy", "gzip", "gzip:6"] {
            let err = write_options(FormatArg::Arrow, refused).unwrap_err().to_string();
            assert!(err.contains(&format!("{refused:?}")) && err.contains("--format parquet"), "{err}");
        }
        assert!(write_options(FormatArg::Parquet, "lz4").is_err());
        assert_eq!(write_options(FormatArg::Parquet, "snappy").unwrap().format, FileFormat::Parquet);
    }

    /// Writes `text` as botevents.toml in a fresh folder; the folder lives as long as the guard.
    fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("botevents.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn export_args(path: &std::path::Path, extra: &[&str]) -> ExportArgs {
        let argv = [&["botevents", "export", "--config", path.to_str().unwrap()][..], extra].concat();
        let Command::Export(args) = Cli::try_parse_from(argv).unwrap().command else { panic!("export") };
        *args
    }

    fn env_with(vars: &[(&str, &str)]) -> EnvSecrets {
        EnvSecrets {
            vars: vars.iter().map(|(k, v)| (k.to_string(), Secret::new(*v))).collect(),
            ..EnvSecrets::default()
        }
    }

    fn two_accounts(dir_dest: &str) -> String {
        format!(
            "dest = {dir_dest:?}\nmax_rps = 3\napi_url = \"https://api.example.com/\"\n\
             login_url = \"https://login.example.com/\"\n[store]\naws_region = \"eu-west-1\"\n\
             [[accounts]]\naccount = \"111\"\nbots = [\"a1\", \"a2\"]\napi_key_env = \"ACME_KEY\"\n\
             username = \"ua\"\npassword_env = \"ACME_PASSWORD\"\n\
             [[accounts]]\naccount = \"222\"\nbots = [\"b1\"]\napi_key = \"key-b\"\nusername = \"ub\"\n\
             password = \"pb\"\nmax_rps = 1\ndest = {:?}\n",
            format!("{dir_dest}-other")
        )
    }

    #[test]
    fn several_accounts_each_with_their_own_key_and_settings() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("lake");
        let (_guard, path) = config(&two_accounts(dest.to_str().unwrap()));
        let env = env_with(&[("ACME_KEY", "key-a"), ("ACME_PASSWORD", "pa")]);
        let cfgs = export_args(&path, &[]).into_configs(env.clone(), None, Utc::now()).unwrap();
        assert_eq!(cfgs.len(), 2);
        let (a, b) = (&cfgs[0], &cfgs[1]);
        assert_eq!((a.api.account.as_str(), a.bots.clone()), ("111", vec!["a1".to_string(), "a2".to_string()]));
        assert_eq!(a.api.credentials.api_key.expose(), "key-a", "api_key_env names the variable");
        assert_eq!(a.api.credentials.password.as_ref().map(Secret::expose), Some("pa"));
        assert_eq!(a.api.max_rps.get(), 3, "the top level is every account's default");
        assert_eq!(a.dest.to_string(), Destination::open(dest.to_str().unwrap(), &[]).unwrap().to_string());
        assert_eq!((b.api.account.as_str(), b.bots.clone()), ("222", vec!["b1".to_string()]));
        assert_eq!(b.api.credentials.api_key.expose(), "key-b");
        assert_eq!(b.api.max_rps.get(), 1, "an entry's value wins over the top level's");
        assert!(b.dest.to_string().contains("lake-other"), "{}", b.dest);
        assert_eq!(b.api.api_url.as_str(), "https://api.example.com/");
        // Flags win over the file, for every account.
        let cfgs = export_args(&path, &["--max-rps", "4"]).into_configs(env.clone(), None, Utc::now()).unwrap();
        assert!(cfgs.iter().all(|c| c.api.max_rps.get() == 4));
        // --account picks one; the environment's credentials then win over its entry's.
        let mut one_env = env.clone();
        one_env.password = Some(Secret::new("env-pb"));
        let cfg =
            export_args(&path, &["--account", "222", "--bot", "b9"]).into_config(one_env, None, Utc::now()).unwrap();
        assert_eq!((cfg.api.account.as_str(), cfg.bots.clone()), ("222", vec!["b9".to_string()]));
        assert_eq!(cfg.api.credentials.password.as_ref().map(Secret::expose), Some("env-pb"));
        let err = export_args(&path, &["--account", "333"]).into_configs(env.clone(), None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("\"333\" is not in the file (it lists 111, 222)"), "{err}");
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        // What belongs to one account is refused for several, naming it.
        let err = export_args(&path, &["--bot", "x"]).into_configs(env.clone(), None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("--bot") && err.to_string().contains("--account ID"), "{err}");
        let mut key_env = env.clone();
        key_env.api_key = Some(Secret::new("one-key"));
        let err = export_args(&path, &[]).into_configs(key_env, None, Utc::now()).unwrap_err().to_string();
        assert!(err.contains("BOTEVENTS_API_KEY") && err.contains("runs 2"), "{err}");
        assert!(!err.contains("one-key"), "secrets are never printed: {err}");
        // One-account commands say how to pick one.
        let err = export_args(&path, &[]).into_config(env.clone(), None, Utc::now()).unwrap_err().to_string();
        assert!(err.contains("--account ID"), "{err}");
        let plans = export_args(&path, &[]).into_plan_configs(env, None, Utc::now()).unwrap();
        assert_eq!(plans.iter().map(|p| p.account.as_str()).collect::<Vec<_>>(), ["111", "222"]);
    }

    #[test]
    fn account_entries_are_validated_naming_the_account_or_key() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("lake");
        let dest = dest.to_str().unwrap();
        let base = two_accounts(dest);
        // An account without an API key.
        let (_g, path) = config(&base.replace("api_key_env = \"ACME_KEY\"\n", ""));
        let env = env_with(&[("ACME_PASSWORD", "pa")]);
        let err = export_args(&path, &[]).into_configs(env.clone(), None, Utc::now()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("botevents.toml") && text.contains("account \"111\": no API key"), "{text}");
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        // A variable named but not set.
        let (_g, path) = config(&base);
        let err = export_args(&path, &[]).into_configs(env, None, Utc::now()).unwrap_err().to_string();
        assert!(err.contains("account \"111\"") && err.contains("ACME_KEY, which is not set"), "{err}");
        // Unknown keys, in an entry or at the top level, are refused by name.
        let (_g, path) = config(&base.replace("bots = [\"b1\"]", "bots = [\"b1\"]\napi_kee = \"x\""));
        let err = export_args(&path, &[]).into_configs(EnvSecrets::default(), None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("api_kee"), "{err}");
        // The top level cannot hold one account's id or bots next to [[accounts]].
        let (_g, path) = config(&format!("account = \"9\"\n{base}"));
        let err = export_args(&path, &[]).into_configs(EnvSecrets::default(), None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("belong in the [[accounts]] entries"), "{err}");
        // An account listed twice, an entry without an id, a secret given twice.
        let (_g, path) = config(&format!("{base}[[accounts]]\naccount = \"222\"\n"));
        let err = export_args(&path, &[]).into_configs(EnvSecrets::default(), None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("\"222\" is listed twice"), "{err}");
        let (_g, path) = config(&format!("{base}[[accounts]]\nbots = [\"c\"]\n"));
        let err = export_args(&path, &[]).into_configs(EnvSecrets::default(), None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("entry 3 has no `account`"), "{err}");
        let (_g, path) = config(&base.replace("api_key = \"key-b\"", "api_key = \"key-b\"\napi_key_env = \"B\""));
        let err = export_args(&path, &["--account", "222"]).into_configs(env_with(&[]), None, Utc::now()).unwrap_err();
        assert!(err.to_string().contains("either api_key or api_key_env"), "{err}");
        // The single-account form takes *_env keys too.
        let (_g, path) =
            config("account = \"5\"\nbots = [\"x\"]\napi_key_env = \"K\"\nusername = \"u\"\npassword = \"p\"\n");
        let cfg = export_args(&path, &[]).into_config(env_with(&[("K", "kk")]), None, Utc::now()).unwrap();
        assert_eq!(cfg.api.credentials.api_key.expose(), "kk");
    }

    #[test]
    fn state_targets_cover_every_account_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("lake");
        let (_g, path) = config(&two_accounts(dest.to_str().unwrap()));
        let parse = |extra: &[&str]| {
            let argv = [&["botevents", "state", "show", "--config", path.to_str().unwrap()][..], extra].concat();
            let Command::State(StateArgs { action: StateAction::Show(a) }) = Cli::try_parse_from(argv).unwrap().command
            else {
                panic!("state show")
            };
            a
        };
        let a = parse(&[]);
        let cfgs = a.target.into_configs(a.bots, EnvSecrets::default(), Utc::now()).unwrap();
        assert_eq!(cfgs.iter().map(|c| c.account.as_str()).collect::<Vec<_>>(), ["111", "222"]);
        assert!(cfgs[1].dest.to_string().contains("lake-other"));
        let a = parse(&["--account", "222", "--bot", "b1"]);
        let cfg = a.target.into_config(a.bots, EnvSecrets::default(), Utc::now()).unwrap();
        assert_eq!((cfg.account.as_str(), cfg.bots.len()), ("222", 1));
        let a = parse(&["--bot", "b1"]);
        assert!(a.target.into_configs(a.bots, EnvSecrets::default(), Utc::now()).is_err());
    }
}
