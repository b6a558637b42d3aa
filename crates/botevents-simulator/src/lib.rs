//! A stand-in of the vendor's Bot Analytics custom-events API, served over real HTTP on loopback.
//!
//! In: a [`SimConfig`] (seed, account, credentials, bots, the vendor's limits) and an address.
//! Out: a running [`Simulator`] whose [`base_url`](Simulator::base_url) answers every endpoint the
//! connector uses — the login-domain lookup, login, SSO and the four data endpoints — and
//! [`detail_events`], the ground truth it serves, for tests.
//!
//! Guarantees:
//!
//! * **Deterministic data.** The events of a (bot, UTC day) are a pure function of
//!   `(seed, account, bot, day)`, so any window, split or retry returns the same rows, byte for byte.
//! * **The vendor's limits are enforced**, not just documented: credentials and tokens (401),
//!   7-day windows and 30-day retention (400), requests per second per API key (429), data only
//!   for days that are ready (03:00 America/New_York on the next day), the 100,000-row download cap.
//! * **The vendor's formats**: newest-first CSV with every text field quoted and a blank line
//!   between records, totals that agree exactly with the details, a `correlationId` header on
//!   every response and no body on any error.
//! * **The page's literal words by default**, every other reading on request. The vendor's page
//!   is loose, so a client must not rely on one reading of it. The default [`SimDialect`]
//!   accepts `interval` only as `Daily` or `Hourly` (absent means daily), decodes the query
//!   string as RFC 3986 does (`%20` is a space, `+` is a plus), answers `[]` — "a success
//!   response with an empty list" — for every endpoint with no rows or no events, known bot or
//!   not, and wants the access token alone in `authorization`. Its other fields switch to other
//!   readings: interval case, dates with a numeric offset only, other empty answers (empty body,
//!   header line, `{}`, `null`), other hourly `Date` forms, buckets of a server clock east or
//!   west of UTC, platform column case, the Domain API's collection form of the login-domain
//!   lookup, histogram counts as strings, `Bearer` tokens on data calls.
//! * **Sessions as the vendor's services keep them**: access tokens that expire by use
//!   ([`SimConfig::token_calls`]) or by age ([`SimConfig::token_ttl`]), bearers that SSO
//!   accepts for a while ([`SimConfig::bearer_ttl`]), and logins spaced per account
//!   ([`SimConfig::login_interval`]: "too many logins, retry after 5 seconds").
//! * **Transfer as a gateway does it**: gzip bodies for requests that accept them
//!   ([`SimConfig::gzip`]; the body faults then break the compressed stream), and a fixed
//!   response time for data answers ([`SimConfig::latency`]).
//! * **Bounded memory**: a CSV body is generated one day at a time on the blocking pool (a few
//!   bodies at once) and handed to the connection in 64 KB chunks through a bounded channel, so
//!   a slow or vanished client never makes the server hold more than a few chunks and one day of
//!   events per body.
//!
//! # Layout
//!
//! * `data` — the synthetic event generator and which days are served at a given instant.
//! * `dialect` — which of the forms the vendor's page allows are accepted and answered.
//! * `window` — request parameters (dates, window limits, interval, filters) and buckets.
//! * `report` — what each data endpoint computes from the served days (sync, no I/O).
//! * `csv` — the vendor's CSV formatting and the chunker that cuts a body into pieces.
//! * `fault` — injected and seeded random faults, and the body wrappers that do them.
//! * `ratelimit` — the per-API-key sliding-window limiter.
//! * `server` — routing, authentication, faults and the axum server shell.

mod csv;
mod data;
mod dialect;
mod fault;
mod ratelimit;
mod report;
mod server;
mod window;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use data::{SimEvent, detail_events, has_children};
pub use dialect::{
    DataAuth, DateForm, Discovery, EmptyAnswer, HourlyDate, IntervalSpelling, MAX_BUCKET_OFFSET_HOURS, PlatformCase,
    SimDialect, UnknownForm,
};
pub use fault::{Chaos, Fault, Scope};

/// Seed of the default configuration.
pub const DEFAULT_SEED: u64 = 42;
/// Account (brand) id of the default configuration.
pub const DEFAULT_ACCOUNT: &str = "12345678";
/// The one API key the default configuration accepts.
pub const DEFAULT_API_KEY: &str = "sim-api-key";
/// Login user name of the default configuration.
pub const DEFAULT_USERNAME: &str = "sim-user";
/// Login password of the default configuration.
pub const DEFAULT_PASSWORD: &str = "sim-password";
/// The vendor's download cap: a detail download holds at most this many rows.
pub const DEFAULT_ROW_CAP: usize = 100_000;
/// The vendor's rate limit, in requests per second per API key.
pub const DEFAULT_MAX_RPS: u32 = 5;
/// The vendor's retention: a window may not start more than this many days ago.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Data requests whose path and query [`Simulator::requests_seen`] keeps (the latest ones).
pub const REQUESTS_SEEN: usize = 10_000;

/// The vendor's spacing of logins per account ("too many logins, retry after 5 seconds"), for
/// [`SimConfig::login_interval`].
pub const VENDOR_LOGIN_INTERVAL: Duration = Duration::from_secs(5);

/// How long [`Simulator::shutdown`] lets in-flight responses finish before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the simulator serves and which limits it enforces.
///
/// Plain data: build it with struct-update syntax over [`SimConfig::default`].
#[derive(Clone)]
pub struct SimConfig {
    /// Seeds every generated event; two simulators with the same config serve the same data.
    pub seed: u64,
    /// The only account (brand) id that can log in and be queried.
    pub account: String,
    /// The only API key accepted in `x-api-key`.
    pub api_key: String,
    /// Login user name.
    pub username: String,
    /// Login password.
    pub password: String,
    /// The bots that have data; any other bot id gets the vendor's empty answer.
    pub bots: Vec<SimBot>,
    /// Rows a detail download holds at most (the newest ones of the window).
    pub row_cap: usize,
    /// Requests per second allowed per API key; 0 disables the limiter.
    pub max_rps: u32,
    /// Days of retention: a window starting before `now - retention_days` is rejected with 400.
    pub retention_days: u32,
    /// Clock override for deterministic tests; `None` reads the real clock on every request.
    pub now: Option<DateTime<Utc>>,
    /// Seeded random faults; `None` fails only what [`Simulator::inject`] asks for.
    pub chaos: Option<Chaos>,
    /// An API access token is good for this many data requests, then expires (401); `None`:
    /// until [`Simulator::revoke_tokens`].
    pub token_calls: Option<u32>,
    /// An API access token expires this long after SSO issued it (data requests get 401, and
    /// the client renews it through SSO with its bearer); `None`: it never expires by age.
    pub token_ttl: Option<Duration>,
    /// SSO accepts a login's bearer for this long after the login, then refuses it (401), and
    /// only a new login helps; `None`: until [`Simulator::revoke_tokens`].
    pub bearer_ttl: Option<Duration>,
    /// At most one login per account in this interval: a login sooner than that after the last
    /// one admitted is answered 429 with `Retry-After` (the interval, in whole seconds rounded
    /// up), as the vendor's Login Service refuses "too many logins" ([`VENDOR_LOGIN_INTERVAL`]).
    /// `None` (the default): no limit, so that tests may run a client many times in a row.
    pub login_interval: Option<Duration>,
    /// Gzip-compress data bodies (`Content-Encoding: gzip`) for requests whose
    /// `Accept-Encoding` accepts gzip, as the vendor's gateway may. On by default: a client
    /// that asks for gzip must cope with it. Body faults then cut the compressed stream.
    /// Requests that do not ask always get the plain body.
    pub gzip: bool,
    /// Data answers with a body wait this long before their status line: the first byte of a
    /// response arrives `latency` after the request was admitted, then the body flows at
    /// loopback speed (generated meanwhile). Deterministic, for tests and benchmarks of a slow
    /// API; zero (the default) answers at once. Refusals of the checks (429 of the rate limit,
    /// 401, 400, 404) are not delayed unless [`SimConfig::slow_refusals`]; an injected fault
    /// comes after the wait.
    pub latency: Duration,
    /// Refusals of a data call's token (401) or parameters (400) wait the `latency` too, as from
    /// a gateway that hands a request to its backend before either refuses it. Off by default:
    /// refusals come at once.
    pub slow_refusals: bool,
    /// Which forms requests must use and answers take; the default holds a client to the
    /// vendor page's literal words.
    pub dialect: SimDialect,
    /// Event names whose histogram the API does not have: their requests are answered 404 (an
    /// event the catalog lists, whose histogram is gone). Default: none.
    pub missing_histograms: Vec<String>,
}

impl SimConfig {
    /// The simulator's notion of the current instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

    /// The bot with this id, if the simulator has it.
    pub fn bot(&self, id: &str) -> Option<&SimBot> {
        self.bots.iter().find(|bot| bot.id == id)
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: DEFAULT_SEED,
            account: DEFAULT_ACCOUNT.to_owned(),
            api_key: DEFAULT_API_KEY.to_owned(),
            username: DEFAULT_USERNAME.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
            bots: vec![
                SimBot::new("bot-support", 800),
                // Low volume: some days are quiet (exactly 0 events).
                SimBot::new("bot-sales", 150),
                // ~112,000 events a week: one 7-day window exceeds the row cap, one day never does.
                SimBot::new("bot-busy", 16_000),
            ],
            row_cap: DEFAULT_ROW_CAP,
            max_rps: DEFAULT_MAX_RPS,
            retention_days: DEFAULT_RETENTION_DAYS,
            now: None,
            chaos: None,
            token_calls: None,
            token_ttl: None,
            bearer_ttl: None,
            login_interval: None,
            gzip: true,
            latency: Duration::ZERO,
            slow_refusals: false,
            missing_histograms: Vec::new(),
            dialect: SimDialect::default(),
        }
    }
}

/// Credentials are never formatted.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("account", &self.account)
            .field("api_key", &"***")
            .field("username", &self.username)
            .field("password", &"***")
            .field("bots", &self.bots)
            .field("row_cap", &self.row_cap)
            .field("max_rps", &self.max_rps)
            .field("retention_days", &self.retention_days)
            .field("now", &self.now)
            .field("chaos", &self.chaos)
            .field("token_calls", &self.token_calls)
            .field("token_ttl", &self.token_ttl)
            .field("bearer_ttl", &self.bearer_ttl)
            .field("login_interval", &self.login_interval)
            .field("gzip", &self.gzip)
            .field("latency", &self.latency)
            .field("slow_refusals", &self.slow_refusals)
            .field("missing_histograms", &self.missing_histograms)
            .field("dialect", &self.dialect)
            .finish()
    }
}

/// One simulated bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimBot {
    /// The chatbot id used in request paths.
    pub id: String,
    /// Mean events per day. Days vary by weekday and noise (about ±30%); bots below
    /// 500 events a day also have quiet days with no events at all.
    pub events_per_day: u32,
}

impl SimBot {
    /// A bot with this id and mean daily volume.
    pub fn new(id: impl Into<String>, events_per_day: u32) -> Self {
        SimBot { id: id.into(), events_per_day }
    }
}

/// What the simulator has answered so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Every request, whatever its outcome.
    pub requests: u64,
    /// Requests to the four data endpoints, whatever their outcome.
    pub data_requests: u64,
    /// Requests answered 429 (rate limit or an injected fault).
    pub rejected_429: u64,
    /// Requests answered 400.
    pub rejected_400: u64,
    /// Requests answered 401.
    pub rejected_401: u64,
    /// Requests per endpoint: `baseURI`, `login`, `sso`, `customEventDetail`, `customEventTotal`,
    /// `customEvents`, `histogram`, and `unknown` for anything else.
    pub by_endpoint: BTreeMap<String, u64>,
    /// Faults served, by kind (`503`/`status`, `429`, `429-bare`, `drop`, `hang`, `truncate`,
    /// `short`, `stall`, `slow`), injected or drawn.
    pub faults: BTreeMap<String, u64>,
    /// Data requests refused because their access token had expired (see
    /// [`SimConfig::token_calls`], [`SimConfig::token_ttl`]).
    pub expired_tokens: u64,
    /// SSO requests refused because their bearer had expired ([`SimConfig::bearer_ttl`]) or was
    /// revoked or unknown.
    pub sso_refused: u64,
    /// Logins refused with 429 for coming too often ([`SimConfig::login_interval`]).
    pub logins_refused: u64,
    /// Data answers sent gzip-compressed ([`SimConfig::gzip`]).
    pub gzip_bodies: u64,
    /// Data requests answered 400, by reason: `missing`, `date`, `date-form` (a date not in
    /// the [`DateForm`]), `end-before-start`, `too-long`, `retention`, `interval`, `platform`.
    pub bad_params: BTreeMap<String, u64>,
    /// Authorized totals and histogram requests by their `interval` value, as decoded
    /// (`(absent)` when there is none), accepted or not.
    pub by_interval_spelling: BTreeMap<String, u64>,
    /// Data answers generated as the dialect's [`EmptyAnswer`] (no rows, no events; an injected
    /// fault may still have replaced one).
    pub empty_answers: u64,
}

/// A running simulator; stop it with [`shutdown`](Simulator::shutdown) (dropping it also stops
/// the server, without waiting).
pub struct Simulator {
    addr: SocketAddr,
    base_url: url::Url,
    shared: Arc<server::Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Simulator {
    /// Binds `addr` (tests use `127.0.0.1:0`) and serves on the current tokio runtime until
    /// [`shutdown`](Simulator::shutdown).
    ///
    /// # Errors
    ///
    /// The address cannot be bound, or the dialect's bucket offset is beyond
    /// [`MAX_BUCKET_OFFSET_HOURS`] (`InvalidInput`).
    pub async fn start(config: SimConfig, addr: SocketAddr) -> std::io::Result<Simulator> {
        let offset = config.dialect.bucket_offset_hours;
        if offset.unsigned_abs() > MAX_BUCKET_OFFSET_HOURS.unsigned_abs() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bucket offset {offset} h is beyond ±{MAX_BUCKET_OFFSET_HOURS} h"),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base_url = url::Url::parse(&format!("http://{addr}/"))
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
        let shared = Arc::new(server::Shared::new(config, addr));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = server::router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A dropped sender means the simulator was dropped: stop as well.
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, account = %shared.config.account, bots = shared.config.bots.len(), "simulator listening");
        Ok(Simulator { addr, base_url, shared, shutdown: Some(shutdown), task: Some(task) })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`: the login domain and the API domain at once.
    pub fn base_url(&self) -> url::Url {
        self.base_url.clone()
    }

    /// The configuration being served.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> SimStats {
        self.shared.stats()
    }

    /// Path and query, as sent, of the latest [`REQUESTS_SEEN`] data requests (whatever their
    /// outcome), oldest first: what a client asked for, byte for byte.
    pub fn requests_seen(&self) -> Vec<String> {
        self.shared.requests_seen()
    }

    /// Makes the next `times` otherwise successful data requests fail with `fault`.
    pub fn inject(&self, fault: Fault, times: u32) {
        self.shared.inject(Scope::Data, fault, times);
    }

    /// Makes the first otherwise successful attempt of every distinct data request (its path and
    /// query) fail with `fault`; its retry, and every later request the same, succeeds.
    pub fn fault_once_each(&self, fault: Fault) {
        self.shared.fault_once_each(fault, "");
    }

    /// As [`Simulator::fault_once_each`], for the data requests whose path and query contain
    /// `matching` only (e.g. one endpoint, or the slices that start at a given time).
    pub fn fault_once_each_matching(&self, fault: Fault, matching: &str) {
        self.shared.fault_once_each(fault, matching);
    }

    /// Makes every otherwise successful attempt of the data requests whose path and query contain
    /// `matching` fail with `fault`, for as long as the simulator runs (e.g. a 401 for one bot
    /// while the others are answered).
    pub fn fault_always_matching(&self, fault: Fault, matching: &str) {
        self.shared.fault_always(fault, matching);
    }

    /// Makes the next `times` otherwise successful requests of `scope` fail with `fault`
    /// (login and SSO with [`Scope::Auth`]).
    pub fn inject_into(&self, scope: Scope, fault: Fault, times: u32) {
        self.shared.inject(scope, fault, times);
    }

    /// Every bearer and API access token issued so far, valid or not (secrets a client must
    /// never print).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.issued_tokens()
    }

    /// Invalidates every bearer and API access token issued so far, as a session expiry would:
    /// the next data request with an old token gets 401.
    pub fn revoke_tokens(&self) {
        self.shared.revoke_tokens();
    }

    /// Stops accepting connections, lets in-flight responses finish (for a few seconds at most)
    /// and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.shared.close();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => tracing::warn!(error = %err, "simulator server failed"),
                Ok(Err(err)) => tracing::warn!(error = %err, "simulator task failed"),
                Err(_) => {
                    tracing::warn!(grace = ?SHUTDOWN_GRACE, "simulator responses still running; aborting them");
                    task.abort();
                }
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.close();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
