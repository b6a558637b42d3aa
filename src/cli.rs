//! The command line: raw arguments (clap) → validated configuration.
//!
//! The only module that knows clap or reads the environment: it turns the arguments into the
//! plain options of [`crate::config`], takes a snapshot of the environment and reads the config
//! file, and `config` resolves them.

use std::num::NonZeroU32;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::config::{ConfigFile, ConvertOptions, Env, ExportOptions, StateOptions};
use crate::error::UsageError;
use crate::export::DEFAULT_ROW_CAP;
use crate::plan::Shard;
use crate::simulate::{
    DataAuth, DateForm, Discovery, EmptyAnswer, HourlyDate, IntervalSpelling, MAX_BUCKET_OFFSET_HOURS, PlatformCase,
    SimDialect,
};
use crate::stream::{Interval, Stream};
use crate::write::FileFormat;

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
    /// The options of the target; `bots` are the bots named on the command line.
    pub fn options(&self, bots: Vec<String>) -> StateOptions {
        StateOptions {
            account: self.account.clone(),
            dest: self.dest.clone(),
            retention_days: self.retention_days,
            bots,
            now: self.now,
        }
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
    /// The options of the conversion.
    pub fn options(self) -> ConvertOptions {
        ConvertOptions {
            table: match self.table {
                TableArg::Detail => crate::schema::Table::Detail,
                TableArg::Total => crate::schema::Table::Total,
            },
            account: self.account,
            bot: self.bot,
            dest: self.dest,
            format: self.format.into(),
            compression: self.compression,
            interval: self.interval,
            max_bad_rows: self.max_bad_rows,
            inputs: self.files,
        }
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

impl From<Region> for crate::fetch::Region {
    fn from(r: Region) -> Self {
        match r {
            Region::Us => crate::fetch::Region::Us,
            Region::Emea => crate::fetch::Region::Emea,
            Region::Apac => crate::fetch::Region::Apac,
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

impl From<FormatArg> for FileFormat {
    fn from(f: FormatArg) -> FileFormat {
        match f {
            FormatArg::Parquet => FileFormat::Parquet,
            FormatArg::Arrow => FileFormat::Arrow,
        }
    }
}

impl ExportArgs {
    /// The options of the export, as plain data.
    pub fn options(&self) -> ExportOptions {
        ExportOptions {
            account: self.account.clone(),
            bots: self.bots.clone(),
            dest: self.dest.clone(),
            start: self.start,
            end: self.end,
            last: self.last,
            streams: self.streams.clone(),
            interval: self.interval,
            region: self.region.map(Into::into),
            api_url: self.api_url.clone(),
            login_url: self.login_url.clone(),
            discovery_url: self.discovery_url.clone(),
            max_rps: self.max_rps,
            shard: self.shard,
            format: self.format.into(),
            compression: self.compression.clone(),
            retention_days: self.retention_days,
            lookback_days: self.lookback_days,
            allow_partial_days: self.allow_partial_days,
            max_bad_rows: self.max_bad_rows,
            row_cap: self.row_cap,
            max_retries: self.max_retries,
            read_timeout: self.read_timeout,
            connect_timeout: self.connect_timeout,
            now: self.now,
        }
    }
}

/// A snapshot of the process environment: every variable, and the AWS shared profile
/// (`AWS_PROFILE`, or `default`) read from the credentials and config files.
pub fn environment() -> Env {
    let vars: Vec<(String, String)> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let get = |k: &str| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone());
    let profile = get("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let home = get("HOME").unwrap_or_default();
    let creds = get("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{home}/.aws/credentials"));
    let config = get("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
    let read = |path: &str, section: &str| {
        std::fs::read_to_string(path).map(|text| ini_section(&text, section)).unwrap_or_default()
    };
    let mut aws_profile = read(&creds, &profile);
    let config_section = if profile == "default" { "default".to_string() } else { format!("profile {profile}") };
    aws_profile.extend(read(&config, &config_section));
    Env::new(vars, aws_profile)
}

/// The config file named by `--config` (read and parsed), or an empty one.
pub fn read_config(path: Option<&std::path::Path>) -> Result<ConfigFile, UsageError> {
    let Some(path) = path else { return Ok(ConfigFile::default()) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::Config { path: path.display().to_string(), reason: e.to_string() })?;
    ConfigFile::parse(path, &text)
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

#[cfg(test)]
mod tests;
