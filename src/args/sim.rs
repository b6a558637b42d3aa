//! The simulator's own options (`--fault-*`, `--sim-*`): the faults it injects, how its services
//! behave (token lifetimes, the login limit, gzip, response time) and the reading of the
//! vendor's page it holds a client to, as the simulator crate's types.

use std::time::Duration;

use clap::Args;

use botevents_simulator::{
    Chaos, DataAuth, DateForm, Discovery, EmptyAnswer, Fault, HourlyDate, IntervalSpelling, MAX_BUCKET_OFFSET_HOURS,
    PlatformCase, SimConfig, SimDialect,
};

use super::parse_duration;

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
    pub fault_mix: Vec<Vec<Fault>>,
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
    pub fn chaos(&self) -> Option<Chaos> {
        (self.fault_rate > 0).then(|| Chaos {
            seed: self.fault_seed,
            percent: self.fault_rate,
            mix: self.fault_mix.iter().flatten().copied().collect(),
            auth: self.fault_auth,
        })
    }
}

/// How the simulated services behave over time and on the wire.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Simulator service")]
pub struct SimServiceArgs {
    /// Access tokens expire this long after SSO issued them (e.g. 2s): data calls get 401 and
    /// the client renews the token through SSO.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub sim_token_ttl: Option<Duration>,
    /// SSO accepts a login's bearer this long (e.g. 10s); after that only a new login helps.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub sim_bearer_ttl: Option<Duration>,
    /// At most one login per account in this interval (the vendor's: 5s); a login sooner gets
    /// 429 with Retry-After.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub sim_login_interval: Option<Duration>,
    /// Gzip data bodies for requests that accept gzip (on, off).
    #[arg(
        long,
        value_name = "on|off",
        default_value = "on",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub sim_gzip: bool,
    /// Response time of data answers: the status line and body come this long after the request
    /// (e.g. 1500ms), the same for every request.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub sim_latency: Option<Duration>,
    /// Rows a detail download holds at most (the vendor's: 100000). A smaller cap with smaller
    /// bots gives an export the same requests with less data (for benchmarks of the schedule).
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u32).range(1..))]
    pub sim_row_cap: Option<u32>,
}

impl SimServiceArgs {
    /// `config` with these settings.
    pub fn apply(&self, config: SimConfig) -> SimConfig {
        SimConfig {
            token_ttl: self.sim_token_ttl,
            bearer_ttl: self.sim_bearer_ttl,
            login_interval: self.sim_login_interval,
            gzip: self.sim_gzip,
            latency: self.sim_latency.unwrap_or_default(),
            row_cap: self.sim_row_cap.map_or(config.row_cap, |cap| cap as usize),
            ..config
        }
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

fn parse_fault_mix(s: &str) -> Result<Vec<Fault>, String> {
    if s.trim() == "all" { Ok(Fault::all()) } else { s.trim().parse().map(|f| vec![f]) }
}
