//! The command line: raw arguments (clap) → the plain options of [`botevents::config`].
//!
//! The only module that knows clap. Its doc comments are the `--help`; each `*Args` converts into
//! the library's options (`options()`), which [`botevents::config`] resolves with the
//! environment and the config file into validated configs.

mod sim;

use botevents::fetch::MaxRps;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use botevents::config::{ConvertOptions, ExportOptions, StateOptions};
use botevents::export::DEFAULT_ROW_CAP;
use botevents::plan::Shard;
use botevents::stream::{Interval, Stream};
use botevents::write::FileFormat;

pub use sim::{FaultArgs, SimDialectArgs, SimServiceArgs};

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
    /// Human-readable lines: on a terminal, compact with the local time to the second; elsewhere
    /// with a full RFC 3339 timestamp in UTC.
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
    /// Print a shell completion script on stdout.
    ///
    /// bash: `source <(botevents completions bash)` in ~/.bashrc; zsh: `botevents completions
    /// zsh > "${fpath[1]}/_botevents"`; fish: `botevents completions fish >
    /// ~/.config/fish/completions/botevents.fish`.
    Completions(CompletionsArgs),
}

/// Options of `botevents completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
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
    pub fn reset(&self) -> botevents::commit::Reset {
        botevents::commit::Reset { stream: self.stream.map(|s| s.as_str().to_string()), to: self.to }
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
    /// Request budget per API key, requests/second (the vendor allows 5; fractions allowed).
    /// Parallel runs with the same key must share it: give each its part, e.g. two workers
    /// with --max-rps 2.5.
    #[arg(long)]
    pub max_rps: Option<MaxRps>,
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
    /// Retries of each request (429, 5xx, dropped connection, broken body, silence) before the
    /// run fails; each request has its own.
    #[arg(long, default_value_t = botevents::fetch::retry::DEFAULT_MAX_RETRIES)]
    pub max_retries: u32,
    /// The whole run's time spent waiting to retry, over all its requests (waits of requests in
    /// flight together add up); once spent, the next failure fails the run (e.g. 30m, 90s).
    #[arg(long, value_parser = parse_duration, default_value = "30m")]
    pub max_retry_time: std::time::Duration,
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
    /// How the built-in simulator's services behave (with --simulate).
    #[command(flatten)]
    pub sim_service: SimServiceArgs,
    /// The API dialect of the built-in simulator (with --simulate).
    #[command(flatten)]
    pub sim_dialect: SimDialectArgs,
    /// Pretend the time is this RFC 3339 instant (testing).
    #[arg(long, hide = true)]
    pub now: Option<DateTime<Utc>>,
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
    #[arg(long, default_value = botevents::write::DEFAULT_DEST)]
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
    /// A dbt sources.yml: dbt-duckdb's external_location, dbt-external-tables blocks for
    /// gs:// (BigQuery) and @stage (Snowflake).
    Dbt,
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
        use botevents::schema::Table;
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
        if self.dialect == Some(DialectArg::Dbt) {
            return botevents::dbt::sources_yml(&tables, &self.location);
        }
        let mut out = String::new();
        for t in tables {
            match self.dialect {
                Some(d) => {
                    let d = match d {
                        DialectArg::Duckdb => botevents::ddl::Dialect::DuckDb,
                        DialectArg::Bigquery => botevents::ddl::Dialect::BigQuery,
                        DialectArg::Snowflake => botevents::ddl::Dialect::Snowflake,
                        DialectArg::Dbt => unreachable!("dbt sources are printed whole above"),
                    };
                    out.push_str(&botevents::ddl::ddl(t, d, &self.location));
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
                TableArg::Detail => botevents::schema::Table::Detail,
                TableArg::Total => botevents::schema::Table::Total,
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
    /// The account's bots and their mean events per day, e.g. `busy:120000,quiet:50` (default:
    /// the three bots of `export --simulate`).
    #[arg(long, value_delimiter = ',', value_parser = parse_sim_bot)]
    pub bots: Vec<(String, u32)>,
    /// Pretend the time is this RFC 3339 instant (testing).
    #[arg(long, hide = true)]
    pub now: Option<DateTime<Utc>>,
    /// Faults to inject.
    #[command(flatten)]
    pub faults: FaultArgs,
    /// How the services behave.
    #[command(flatten)]
    pub service: SimServiceArgs,
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

impl From<Region> for botevents::fetch::Region {
    fn from(r: Region) -> Self {
        match r {
            Region::Us => botevents::fetch::Region::Us,
            Region::Emea => botevents::fetch::Region::Emea,
            Region::Apac => botevents::fetch::Region::Apac,
        }
    }
}

fn parse_sim_bot(s: &str) -> Result<(String, u32), String> {
    let err = || format!("expected BOT:EVENTS_PER_DAY like busy:120000, got {s:?}");
    let (id, n) = s.trim().split_once(':').ok_or_else(err)?;
    let n = n.trim().parse::<u32>().map_err(|_| err())?;
    if id.trim().is_empty() {
        return Err(err());
    }
    Ok((id.trim().to_string(), n))
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
            max_retry_time: self.max_retry_time,
            read_timeout: self.read_timeout,
            connect_timeout: self.connect_timeout,
            now: self.now,
        }
    }
}

#[cfg(test)]
mod tests;
