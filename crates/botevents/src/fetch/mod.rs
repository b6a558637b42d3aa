//! Fetching: authenticated, rate-limited, retried HTTP requests to the vendor API.
//!
//! In: a [`DataRequest`] (stream, bot, time slice). Out: a streamed [`Body`] of a 200 response,
//! never buffered whole, decompressed as it streams when the API sent it gzip-compressed (data
//! requests ask for `Accept-Encoding: gzip`). Guarantees: every request of one API key goes
//! through one [`RateLimiter`]; the run logs in once (discovery → login → SSO, or given tokens);
//! an access token that expires (401 on a data call) is renewed through SSO with the login's
//! bearer, one renewal at a time per account, and the requests that got the 401 meanwhile wait
//! for it and are sent again with the new token; a new login happens only when SSO refuses the
//! bearer. Every error names the endpoint, the window, the HTTP status and the response's
//! `correlationId`. Retrying a request is the caller's loop, because a body that breaks off (a
//! compressed one included) must be fetched again whole before any of it is used.

mod auth;
mod dialect;
pub mod gzip;
pub mod limiter;
pub mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use url::Url;

pub use auth::{ResponseError, Session, parse_discovery, parse_login, parse_sso};
pub use dialect::{AuthScheme, CANDIDATES, DateStyle, Dialect, IntervalSpelling};
pub use limiter::{MaxRps, RateLimiter};
pub use retry::{BackoffConfig, Retry, RetryConfig, Retryable};

use crate::plan::Slice;
use crate::secret::Secret;
use crate::stream::Interval;

/// Default API domain (North America).
pub const DEFAULT_API_URL: &str = "https://us.livepersonapis.com/";

/// API regions: each picks the domain of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// North America.
    Us,
    /// Europe, Middle East, Africa.
    Emea,
    /// Asia-Pacific.
    Apac,
}

impl Region {
    /// Every region, in `--region`'s order.
    pub const ALL: [Region; 3] = [Region::Us, Region::Emea, Region::Apac];

    /// The region's name (`--region`, the config file's `region`).
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Emea => "emea",
            Region::Apac => "apac",
        }
    }

    /// The region named `s` (in any case when `ignore_case`); the error is the message the
    /// command line gives for an unknown `--region`.
    pub fn parse(s: &str, ignore_case: bool) -> Result<Region, String> {
        Region::ALL
            .into_iter()
            .find(|r| if ignore_case { r.as_str().eq_ignore_ascii_case(s) } else { r.as_str() == s })
            .ok_or_else(|| format!("invalid variant: {s}"))
    }

    /// The region's API base URL.
    pub fn api_url(self) -> &'static str {
        match self {
            Region::Us => "https://us.livepersonapis.com/",
            Region::Emea => "https://emea.livepersonapis.com/",
            Region::Apac => "https://apac.livepersonapis.com/",
        }
    }
}
/// The domain service that tells each account's login host.
pub const DEFAULT_DISCOVERY_URL: &str = "https://api.liveperson.net/";

/// The endpoints the connector calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// agentVep `baseURI.json` (login host discovery).
    Discovery,
    /// Login Service `login`.
    Login,
    /// Conversation Builder `sso/authenticate`.
    Sso,
    /// `download/customEventDetail` (CSV).
    Detail,
    /// `download/customEventTotal` (CSV).
    Total,
    /// `customEvents` (JSON).
    Catalog,
    /// `customEvents/…/histogram` (JSON).
    Histogram,
}

impl Endpoint {
    /// The name used in messages and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Discovery => "baseURI.json",
            Endpoint::Login => "login",
            Endpoint::Sso => "sso/authenticate",
            Endpoint::Detail => "customEventDetail",
            Endpoint::Total => "customEventTotal",
            Endpoint::Catalog => "customEvents",
            Endpoint::Histogram => "customEvents/histogram",
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the client authenticates.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The Apigee API key (one per account).
    pub api_key: Secret,
    /// Login name, for the Login Service.
    pub username: Option<Secret>,
    /// Password, for the Login Service.
    pub password: Option<Secret>,
    /// An apiAccessToken obtained elsewhere (skips login and SSO).
    pub access_token: Option<Secret>,
    /// The sessionOrganizationId that goes with `access_token`.
    pub organization_id: Option<String>,
}

/// Everything the client needs for one account.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Conversational Cloud account (brand) id.
    pub account: String,
    /// Base URL of the API (Apigee proxy).
    pub api_url: Url,
    /// Base URL of the Login Service; `None` = discover it.
    pub login_url: Option<Url>,
    /// The domain service used for discovery.
    pub discovery_url: Url,
    /// Credentials.
    pub credentials: Credentials,
    /// Request budget of the API key (this run's share of it).
    pub max_rps: MaxRps,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout (first byte and idle body).
    pub read_timeout: Duration,
}

/// One data request.
#[derive(Debug, Clone)]
pub struct DataRequest {
    /// Which stream.
    pub endpoint: Endpoint,
    /// The bot.
    pub bot: String,
    /// The time range.
    pub slice: Slice,
    /// `interval` parameter (total, histogram).
    pub interval: Option<Interval>,
    /// `eventName` parameter (histogram).
    pub event_name: Option<String>,
}

/// Where a failed request was going; printed in every error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The bot and window, or the account for authentication calls.
    pub scope: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.endpoint, self.scope)
    }
}

/// A response's `correlationId`, printed as the vendor's support asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorrelationId(pub Option<String>);

impl std::fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(id) => write!(f, "correlationId {id}"),
            None => f.write_str("no correlationId"),
        }
    }
}

/// A request that failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status.
    #[error("{target}: HTTP {status}, {correlation}{hint}", hint = status_hint(*status))]
    Status {
        /// Where.
        target: Target,
        /// The status code.
        status: u16,
        /// The response's correlationId.
        correlation: CorrelationId,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Credentials or tokens were refused.
    #[error(
        "{target}: authentication refused (HTTP {status}), {correlation}; check the API key, username and password"
    )]
    Unauthorized {
        /// Where.
        target: Target,
        /// The status code.
        status: u16,
        /// The response's correlationId.
        correlation: CorrelationId,
    },
    /// No response (connect, timeout, reset).
    #[error("{target}: request failed")]
    Transport {
        /// Where.
        target: Target,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The body broke off (connection dropped, truncated below its length, idle timeout).
    #[error("{target}: response body broken after {bytes} bytes, {correlation}")]
    Body {
        /// Where.
        target: Target,
        /// Bytes received before the break.
        bytes: u64,
        /// The response's correlationId.
        correlation: CorrelationId,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// A gzip body that does not decompress: broken off midway (the usual case: retried like any
    /// broken body) or damaged.
    #[error("{target}: compressed response body unreadable after {wire_bytes} bytes on the wire, {correlation}")]
    Decode {
        /// Where.
        target: Target,
        /// Compressed bytes received before the failure.
        wire_bytes: u64,
        /// The response's correlationId.
        correlation: CorrelationId,
        /// Why.
        #[source]
        source: gzip::GunzipError,
    },
    /// A 200 response whose content is unusable (missing token, wrong JSON).
    #[error("{target}: unexpected response: {reason}, {correlation}")]
    BadResponse {
        /// Where.
        target: Target,
        /// What was wrong.
        reason: String,
        /// The response's correlationId.
        correlation: CorrelationId,
    },
    /// A URL that would send credentials in clear text.
    #[error("refusing plain http:// for non-loopback host in {url}; use https://")]
    InsecureUrl {
        /// The URL (without credentials).
        url: String,
    },
    /// A URL that cannot be built.
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl {
        /// The URL or base.
        url: String,
        /// Why.
        reason: String,
    },
}

fn status_hint(status: u16) -> &'static str {
    match status {
        400 => " (bad request: window longer than 7 days, before retention, or bad dates)",
        404 => " (not found: check the account and bot ids)",
        429 => " (rate limited)",
        _ => "",
    }
}

impl Retryable for FetchError {
    fn retry(&self) -> Retry {
        match self {
            FetchError::Status { status, retry_after, .. } => {
                if *status == 429 || *status == 408 || *status >= 500 {
                    Retry::After(*retry_after)
                } else {
                    Retry::No
                }
            }
            FetchError::Transport { source, .. } => {
                if source.is_builder() {
                    Retry::No
                } else {
                    Retry::After(None)
                }
            }
            FetchError::Body { .. } | FetchError::Decode { .. } => Retry::After(None),
            FetchError::Unauthorized { .. }
            | FetchError::BadResponse { .. }
            | FetchError::InsecureUrl { .. }
            | FetchError::BadUrl { .. } => Retry::No,
        }
    }
}

impl FetchError {
    /// The exit status this failure means: a refused credential needs a person, as does a URL
    /// that cannot be used; anything else may pass on another run.
    pub fn exit(&self) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self {
            FetchError::Unauthorized { .. } => Exit::Auth,
            FetchError::InsecureUrl { .. } | FetchError::BadUrl { .. } => Exit::Usage,
            _ => Exit::Failure,
        }
    }

    /// Whether this is an authentication failure (exit status 3).
    pub fn is_auth(&self) -> bool {
        matches!(self, FetchError::Unauthorized { .. })
    }

    /// The response's correlationId, if a response came.
    pub fn correlation(&self) -> Option<&CorrelationId> {
        match self {
            FetchError::Status { correlation, .. }
            | FetchError::Unauthorized { correlation, .. }
            | FetchError::Body { correlation, .. }
            | FetchError::BadResponse { correlation, .. } => Some(correlation),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } | FetchError::Unauthorized { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Counters shared by every request of a client.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Requests sent (all endpoints, retries included).
    pub requests: AtomicU64,
    /// Data requests sent.
    pub data_requests: AtomicU64,
    /// Responses with status 429.
    pub throttled: AtomicU64,
    /// Renewals of the session after a 401 (each an SSO call, or a login when SSO refused the
    /// bearer); requests that waited for another's renewal do not count.
    pub reauthentications: AtomicU64,
    /// Logins that gave a bearer token (one per run, unless SSO refused the bearer).
    pub logins: AtomicU64,
    /// Logins the Login Service refused for coming too often (429).
    pub logins_refused: AtomicU64,
    /// Access tokens renewed through SSO with the session's bearer, without a login.
    pub token_renewals: AtomicU64,
    /// Data requests answered 401 (an expired access token, or the one probe of the `Bearer`
    /// scheme).
    pub unauthorized: AtomicU64,
    /// Bytes of data response bodies as they came over the connection (compressed when the API
    /// compressed them), counted for bodies read to their end.
    pub wire_bytes: AtomicU64,
    /// The same bodies' bytes after decompression: CSV or JSON.
    pub body_bytes: AtomicU64,
}

/// How many 401s one data request may take, each followed by a renewal, with a token that no
/// request sent before it had been accepted with: a 401 that renewals do not cure (an account the
/// key does not cover) fails the request after this many.
///
/// A 401 to a token that had been accepted before the request was sent is an expiry, and does
/// not count here: with short-lived tokens and many requests waiting for a permit, one request
/// may outlive several tokens in a row ([`MAX_EXPIRIES_PER_REQUEST`]).
pub const MAX_RENEWALS_PER_REQUEST: u32 = 3;

/// How many 401s in all one data request may take, each followed by a renewal: the bound that
/// holds even when the API accepts a token for some requests and refuses it for this one.
pub const MAX_EXPIRIES_PER_REQUEST: u32 = 10;

/// The API client of one account. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    cfg: ApiConfig,
    limiter: Arc<RateLimiter>,
    /// The account's tokens; whoever holds the lock is the one request that logs in or renews.
    auth: tokio::sync::Mutex<auth::Auth>,
    stats: Arc<ClientStats>,
    /// The spellings learned so far ([`dialect`]).
    dialect: std::sync::Mutex<dialect::DialectState>,
    /// Held by the one request that probes a refused spelling or scheme, so that a refusal is
    /// probed once, not by every request at once ([`ApiClient::start_probe`]).
    probe: tokio::sync::Mutex<()>,
    /// Which tokens data requests were accepted with, and when they were sent: tells an expiry
    /// from a refusal.
    accepted: auth::Accepted,
}

/// A probe in progress: the probe's lock, and the dialect's `probing` flag raised until it drops.
struct Probing<'a> {
    client: &'a ApiClient,
    _lock: tokio::sync::MutexGuard<'a, ()>,
}

impl Drop for Probing<'_> {
    fn drop(&mut self) {
        // Lowered before the lock is released (fields drop after this body).
        self.client.update_dialect(|d| d.probing = false);
    }
}

/// The streamed body of a successful response, decompressed as it streams when the API sent it
/// with `Content-Encoding: gzip`.
pub struct Body {
    resp: reqwest::Response,
    target: Target,
    /// The response's correlationId.
    pub correlation: CorrelationId,
    /// Bytes of the body handed out so far: the CSV or JSON the API wrote (decompressed).
    pub bytes: u64,
    /// When the request was sent (after its rate-limit permit): the response time runs from here.
    pub sent: std::time::Instant,
    /// Bytes of the body received on the connection so far (compressed when the API compressed
    /// them; then fewer than `bytes`).
    pub wire_bytes: u64,
    /// The decoder of a gzip body.
    gzip: Option<gzip::Gunzip>,
    /// Compressed bytes received and not decoded yet (at most one piece of the connection).
    pending: Bytes,
    /// The body was read to its end (and counted in the client's stats).
    ended: bool,
    stats: Arc<ClientStats>,
}

impl Body {
    /// The next chunk of the body (decompressed), `None` at its end. A gzip body must end with
    /// its gzip stream: one broken off midway is a [`FetchError::Decode`], retried like any
    /// broken body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            if let Some(gz) = self.gzip.as_mut()
                && !self.pending.is_empty()
            {
                let piece = self.pending.split_to(self.pending.len().min(gzip::FEED_BYTES));
                let out = gz.feed(&piece).map_err(|source| FetchError::Decode {
                    target: self.target.clone(),
                    wire_bytes: self.wire_bytes,
                    correlation: self.correlation.clone(),
                    source,
                })?;
                if out.is_empty() {
                    continue;
                }
                self.bytes += out.len() as u64;
                return Ok(Some(out));
            }
            let raw = self.resp.chunk().await.map_err(|source| FetchError::Body {
                target: self.target.clone(),
                bytes: self.wire_bytes,
                correlation: self.correlation.clone(),
                source,
            })?;
            match raw {
                Some(b) => {
                    self.wire_bytes += b.len() as u64;
                    if self.gzip.is_some() {
                        self.pending = b;
                        continue;
                    }
                    self.bytes += b.len() as u64;
                    return Ok(Some(b));
                }
                None => {
                    // An empty body is empty, whatever its Content-Encoding says.
                    if let Some(gz) = self.gzip.as_mut()
                        && self.wire_bytes > 0
                    {
                        gz.finish().map_err(|source| FetchError::Decode {
                            target: self.target.clone(),
                            wire_bytes: self.wire_bytes,
                            correlation: self.correlation.clone(),
                            source,
                        })?;
                    }
                    self.ended = true;
                    self.stats.wire_bytes.fetch_add(self.wire_bytes, Ordering::Relaxed);
                    self.stats.body_bytes.fetch_add(self.bytes, Ordering::Relaxed);
                    return Ok(None);
                }
            }
        }
    }

    /// Whether the API sent the body gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.gzip.is_some()
    }

    /// Where the body comes from.
    pub fn target(&self) -> &Target {
        &self.target
    }
}

/// Refuses `http://` URLs unless the host is a loopback address.
pub fn check_secure(url: &Url) -> Result<(), FetchError> {
    if url.scheme() == "https" {
        return Ok(());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if url.scheme() == "http" && loopback {
        Ok(())
    } else {
        Err(FetchError::InsecureUrl { url: url.as_str().to_string() })
    }
}

fn correlation_of(resp: &reqwest::Response) -> CorrelationId {
    CorrelationId(
        resp.headers()
            .get("correlationId")
            .or_else(|| resp.headers().get("x-correlation-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    )
}

fn retry_after_of(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the API's date format.
pub fn api_time(t: chrono::DateTime<chrono::Utc>) -> String {
    DateStyle::Zulu.format(t)
}

/// What a query value keeps as it is: RFC 3986's unreserved characters, and `:` (a query
/// character, so that dates read as the page writes them). Everything else is `%XX`: a space is
/// `%20`, never `+`, which an RFC 3986 decoder reads as a plus.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b':');

/// `name=value&…`, each value percent-encoded by [`QUERY_VALUE`].
fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut q = String::new();
    for (name, value) in pairs {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(name);
        q.push('=');
        q.extend(percent_encoding::utf8_percent_encode(value, QUERY_VALUE));
    }
    q
}

/// Appends path segments to a base URL, percent-encoding each.
fn join(base: &Url, segments: &[&str]) -> Result<Url, FetchError> {
    let mut url = base.clone();
    {
        let mut segs = url
            .path_segments_mut()
            .map_err(|()| FetchError::BadUrl { url: base.to_string(), reason: "cannot be a base".into() })?;
        segs.pop_if_empty();
        segs.extend(segments);
    }
    Ok(url)
}

impl ApiClient {
    /// A client for one account, with its own rate limiter.
    pub fn new(cfg: ApiConfig) -> Result<ApiClient, FetchError> {
        let limiter = Arc::new(RateLimiter::new(cfg.max_rps));
        ApiClient::with_limiter(cfg, limiter)
    }

    /// A client that shares `limiter` (all clients of one API key must share one).
    pub fn with_limiter(cfg: ApiConfig, limiter: Arc<RateLimiter>) -> Result<ApiClient, FetchError> {
        check_secure(&cfg.api_url)?;
        if let Some(u) = &cfg.login_url {
            check_secure(u)?;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .user_agent(concat!("botevents/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| FetchError::Transport {
                target: Target { endpoint: Endpoint::Sso, scope: "client setup".into() },
                source,
            })?;
        Ok(ApiClient {
            http,
            cfg,
            limiter,
            auth: tokio::sync::Mutex::default(),
            stats: Arc::default(),
            dialect: std::sync::Mutex::default(),
            probe: tokio::sync::Mutex::new(()),
            accepted: auth::Accepted::default(),
        })
    }

    /// The client's configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.cfg
    }

    /// Counters of this client.
    pub fn stats(&self) -> &Arc<ClientStats> {
        &self.stats
    }

    /// The client's rate limiter.
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    fn target(&self, req: &DataRequest) -> Target {
        let mut scope = format!("account {} bot {} window {}", self.cfg.account, req.bot, req.slice);
        if let Some(e) = &req.event_name {
            scope.push_str(&format!(" event {e:?}"));
        }
        Target { endpoint: req.endpoint, scope }
    }

    /// The URL of `req` with the given spellings of `interval` and the dates.
    pub fn data_url(&self, req: &DataRequest, spelling: (IntervalSpelling, DateStyle)) -> Result<Url, FetchError> {
        let base = &self.cfg.api_url;
        let bot = req.bot.as_str();
        let acc = self.cfg.account.as_str();
        let mut url = match req.endpoint {
            Endpoint::Detail => {
                join(base, &["cb", "aiworkbench", "v1", "chatbots", bot, "download", "customEventDetail"])?
            }
            Endpoint::Total => {
                join(base, &["cb", "aiworkbench", "v1", "chatbots", bot, "download", "customEventTotal"])?
            }
            Endpoint::Catalog => join(base, &["cb", "analytics", "v1", "accounts", acc, "customEvents", bot])?,
            Endpoint::Histogram => {
                join(base, &["cb", "analytics", "v1", "accounts", acc, "customEvents", bot, "histogram"])?
            }
            other => {
                return Err(FetchError::BadUrl {
                    url: base.to_string(),
                    reason: format!("{other} is not a data endpoint"),
                });
            }
        };
        let (start, end) = (spelling.1.format(req.slice.start), spelling.1.format(req.slice.end));
        let mut pairs = vec![("startDate", start.as_str()), ("endDate", end.as_str())];
        if let Some(name) = &req.event_name {
            pairs.push(("eventName", name));
        }
        if let Some(i) = req.interval {
            pairs.push(("interval", spelling.0.spell(i)));
        }
        url.set_query(Some(&query_string(&pairs)));
        Ok(url)
    }

    /// The spellings in force (the page's until the API refused one).
    pub fn dialect(&self) -> Dialect {
        self.dialect_state().dialect
    }

    fn dialect_state(&self) -> dialect::DialectState {
        *self.dialect.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update_dialect(&self, f: impl FnOnce(&mut dialect::DialectState)) {
        f(&mut self.dialect.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    /// Sends one data request (after a rate-limit permit) and returns its body when the status is
    /// 200. A 401 renews the access token (or waits for the renewal in flight) and resends ahead of
    /// the requests not yet sent, up to [`MAX_RENEWALS_PER_REQUEST`] times when the token had not
    /// worked before (and [`MAX_EXPIRIES_PER_REQUEST`] times in all). Until the dialect is
    /// settled, a 400 is sent again in the other spellings and a 401 with `Bearer ` ([`Dialect`]).
    /// No other retry happens here.
    ///
    /// Requests do not wait for the run's first answer: each goes out in the spelling in force.
    /// A refusal is probed by one request at a time ([`ApiClient::start_probe`]), and requests
    /// about to be sent meanwhile wait for its outcome; those already in flight in the refused
    /// spelling are sent again in the one it found. So when the API reads the page as written,
    /// the first request costs no one any time; when it does not, the requests in flight at the
    /// first refusal (at most the in-flight gate's size) are sent once more each.
    pub async fn send(&self, req: &DataRequest) -> Result<Body, FetchError> {
        let target = self.target(req);
        let with_interval = req.interval.is_some();
        self.wait_for_probe().await;
        let state = self.dialect_state();
        let first = state.spelling();
        let refused = match self.send_as(req, &target, first, None).await {
            Ok(body) => {
                if state.unsettled(with_interval) {
                    self.update_dialect(|d| d.settle(first, with_interval));
                }
                return Ok(body);
            }
            Err(e) if e.status() == Some(400) && state.unsettled(with_interval) => e,
            Err(e) => return Err(e),
        };
        // Refused before the spelling was settled: one request at a time learns what to send.
        let probing = self.start_probe().await;
        let now = self.dialect_state();
        if !now.unsettled(with_interval) {
            // Settled while this request was in flight or waited: by a success, or by a probe.
            drop(probing);
            return if now.spelling() == first {
                Err(refused)
            } else {
                self.send_as(req, &target, now.spelling(), None).await
            };
        }
        // A dimension settled meanwhile (the dates, by a request without an interval) comes first.
        let mut candidates = Vec::new();
        if now.spelling() != first {
            candidates.push(now.spelling());
        }
        candidates.extend(now.alternatives(with_interval).into_iter().filter(|s| *s != first));
        for spelling in candidates {
            match self.send_as(req, &target, spelling, Some(&probing)).await {
                Ok(body) => {
                    self.update_dialect(|d| d.settle(spelling, with_interval));
                    let dialect = self.dialect();
                    tracing::info!(endpoint = %req.endpoint, %dialect, "the API refused the page's spelling (400) and accepted this one; kept for the run");
                    return Ok(body);
                }
                Err(e) if e.status() == Some(400) => {}
                Err(e) => return Err(e),
            }
        }
        // Every spelling was refused: the 400 is about something else. The spelling in force stays.
        self.update_dialect(|d| d.settle(now.spelling(), with_interval));
        Err(refused)
    }

    /// Waits while another request probes a refused spelling or scheme.
    async fn wait_for_probe(&self) {
        if self.dialect_state().probing {
            drop(self.probe.lock().await);
        }
    }

    /// Becomes the one request that probes; until the returned guard drops, requests about to be
    /// sent wait for its outcome ([`ApiClient::wait_for_probe`]).
    async fn start_probe(&self) -> Probing<'_> {
        let lock = self.probe.lock().await;
        self.update_dialect(|d| d.probing = true);
        Probing { client: self, _lock: lock }
    }

    /// Sends `req` with the given spellings; handles 401s (a renewal, or `Bearer `).
    /// `probing`: the caller holds the probe already.
    async fn send_as(
        &self,
        req: &DataRequest,
        target: &Target,
        spelling: (IntervalSpelling, DateStyle),
        probing: Option<&Probing<'_>>,
    ) -> Result<Body, FetchError> {
        let target = target.clone();
        let url = self.data_url(req, spelling)?;
        // 401s to a token not known to have worked before this request was sent, and all 401s.
        let (mut renewals, mut expiries) = (0, 0);
        let mut bearer_tried = false;
        // Sent again after a 401: ahead of the requests not yet sent, which came later.
        let mut again = false;
        // Held while this request probes the scheme, when the caller does not hold the probe.
        let mut own_probe: Option<Probing<'_>> = None;
        loop {
            let (session, generation) = self.current().await?;
            if again {
                self.limiter.acquire_first().await;
            } else {
                self.limiter.acquire().await;
            }
            again = true;
            let sent = std::time::Instant::now();
            // A renewal may have finished while this request waited for its permit: take its token.
            let (session, generation) = self.newest().filter(|(_, g)| *g > generation).unwrap_or((session, generation));
            let state = self.dialect_state();
            let scheme = if bearer_tried { AuthScheme::Bearer } else { state.dialect.authorization };
            let authorization = match scheme {
                AuthScheme::Raw => session.access_token.expose().to_string(),
                AuthScheme::Bearer => format!("Bearer {}", session.access_token.expose()),
            };
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.stats.data_requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(endpoint = %req.endpoint, bot = %req.bot, window = %req.slice, "request");
            let resp = self
                .http
                .get(url.clone())
                .header("x-api-key", self.cfg.credentials.api_key.expose())
                .header("authorization", authorization)
                .header("organizationId", &session.organization_id)
                .header(reqwest::header::ACCEPT_ENCODING, "gzip")
                .send()
                .await
                .map_err(|source| FetchError::Transport { target: target.clone(), source })?;
            let correlation = correlation_of(&resp);
            let status = resp.status();
            // 204 No Content is taken as an empty result, which the decoders report as such.
            if status == StatusCode::OK || status == StatusCode::NO_CONTENT {
                self.accepted.note(generation, sent);
                let gzip = match content_encoding(&resp) {
                    Ok(gzip) => gzip,
                    Err(reason) => return Err(FetchError::BadResponse { target, reason, correlation }),
                };
                if !state.auth_settled {
                    self.update_dialect(|d| {
                        d.dialect.authorization = scheme;
                        d.auth_settled = true;
                    });
                    if scheme == AuthScheme::Bearer {
                        tracing::info!(endpoint = %req.endpoint, %correlation, "the API refused the raw token (401) and accepted \"Bearer <token>\"; kept for the run");
                    }
                }
                return Ok(Body {
                    resp,
                    target,
                    correlation,
                    bytes: 0,
                    wire_bytes: 0,
                    gzip,
                    pending: Bytes::new(),
                    ended: false,
                    stats: self.stats.clone(),
                    sent,
                });
            }
            if status == StatusCode::UNAUTHORIZED {
                self.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
                if !state.auth_settled && !bearer_tried && scheme == AuthScheme::Raw {
                    // No data call has succeeded yet: the token is fresh, so try the header's other
                    // form, one request at a time (or take what the probe before this one learned).
                    if probing.is_none() && own_probe.is_none() {
                        own_probe = Some(self.start_probe().await);
                    }
                    let now = self.dialect_state();
                    if !now.auth_settled {
                        bearer_tried = true;
                        tracing::info!(endpoint = %req.endpoint, %correlation, "401 with the raw token: trying \"Bearer <token>\" once");
                        continue;
                    }
                    // Settled by the probe this request waited for: nothing left to hold.
                    own_probe = None;
                    if now.dialect.authorization == AuthScheme::Bearer {
                        // Learned while this request was in flight: not a failure, sent again.
                        bearer_tried = true;
                        continue;
                    }
                }
                if !self.accepted.expired(generation, sent) {
                    renewals += 1;
                }
                expiries += 1;
                if renewals <= MAX_RENEWALS_PER_REQUEST && expiries <= MAX_EXPIRIES_PER_REQUEST && self.can_login() {
                    bearer_tried = false;
                    tracing::debug!(endpoint = %req.endpoint, bot = %req.bot, window = %req.slice, %correlation, "401: the access token expired; sending again with a renewed one");
                    self.renew(generation).await?;
                    continue;
                }
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(FetchError::Unauthorized { target, status: status.as_u16(), correlation });
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            let retry_after = retry_after_of(&resp);
            return Err(FetchError::Status { target, status: status.as_u16(), correlation, retry_after });
        }
    }

    fn can_login(&self) -> bool {
        let c = &self.cfg.credentials;
        c.username.is_some() && c.password.is_some()
    }

    /// The current session, authenticating first if there is none.
    pub async fn session(&self) -> Result<Arc<Session>, FetchError> {
        self.current().await.map(|(session, _)| session)
    }
}

/// The decoder a 200 response's `Content-Encoding` calls for: none for an identity body, gzip's
/// for a gzip one; any other coding was not asked for (the error's reason).
fn content_encoding(resp: &reqwest::Response) -> Result<Option<gzip::Gunzip>, String> {
    let Some(value) = resp.headers().get(reqwest::header::CONTENT_ENCODING) else { return Ok(None) };
    let coding = value.to_str().unwrap_or("(not text)").trim();
    if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
        Ok(None)
    } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
        Ok(Some(gzip::Gunzip::new()))
    } else {
        Err(format!("Content-Encoding {coding:?}, which was not asked for (only gzip is)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ApiClient {
        ApiClient::new(ApiConfig {
            account: "12345678".into(),
            api_url: Url::parse("https://us.example.com/").unwrap(),
            login_url: None,
            discovery_url: Url::parse(DEFAULT_DISCOVERY_URL).unwrap(),
            credentials: Credentials::default(),
            max_rps: MaxRps::DEFAULT,
            retry: RetryConfig::default(),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
        })
        .unwrap()
    }

    fn request(endpoint: Endpoint, interval: Option<Interval>, event_name: Option<&str>) -> DataRequest {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        DataRequest {
            endpoint,
            bot: "bot 1".into(),
            slice: Slice { start: at("2026-12-01T00:00:00Z"), end: at("2026-12-04T14:00:00Z") },
            interval,
            event_name: event_name.map(str::to_string),
        }
    }

    /// The exact URL of every data request, as the page documents it.
    #[test]
    fn every_data_request_is_spelled_as_the_page_says() {
        let c = client();
        let page = (IntervalSpelling::Page, DateStyle::Zulu);
        let url = |req: &DataRequest| c.data_url(req, page).unwrap().to_string();
        let dates = "startDate=2026-12-01T00:00:00Z&endDate=2026-12-04T14:00:00Z";
        assert_eq!(
            url(&request(Endpoint::Detail, None, None)),
            format!("https://us.example.com/cb/aiworkbench/v1/chatbots/bot%201/download/customEventDetail?{dates}")
        );
        assert_eq!(
            url(&request(Endpoint::Total, Some(Interval::Daily), None)),
            format!(
                "https://us.example.com/cb/aiworkbench/v1/chatbots/bot%201/download/customEventTotal?{dates}&interval=Daily"
            )
        );
        assert_eq!(
            url(&request(Endpoint::Total, Some(Interval::Hourly), None)),
            format!(
                "https://us.example.com/cb/aiworkbench/v1/chatbots/bot%201/download/customEventTotal?{dates}&interval=Hourly"
            )
        );
        assert_eq!(
            url(&request(Endpoint::Catalog, None, None)),
            format!("https://us.example.com/cb/analytics/v1/accounts/12345678/customEvents/bot%201?{dates}")
        );
        assert_eq!(
            url(&request(Endpoint::Histogram, Some(Interval::Daily), Some("99 FALLBACK KB+Integration & co/?"))),
            format!(
                "https://us.example.com/cb/analytics/v1/accounts/12345678/customEvents/bot%201/histogram?{dates}&eventName=99%20FALLBACK%20KB%2BIntegration%20%26%20co%2F%3F&interval=Daily"
            )
        );
        assert_eq!(
            url(&request(Endpoint::Histogram, Some(Interval::Hourly), Some("API::ok_status_code_200 é"))),
            format!(
                "https://us.example.com/cb/analytics/v1/accounts/12345678/customEvents/bot%201/histogram?{dates}&eventName=API::ok_status_code_200%20%C3%A9&interval=Hourly"
            )
        );
    }

    /// A gzip body broken off midway is a body error like any other: retried, and named with
    /// its endpoint, window and correlationId.
    #[test]
    fn a_broken_gzip_body_is_retried_like_any_broken_body() {
        let c = client();
        let e = FetchError::Decode {
            target: c.target(&request(Endpoint::Detail, None, None)),
            wire_bytes: 100,
            correlation: CorrelationId(Some("c-1".into())),
            source: gzip::GunzipError::Truncated(100),
        };
        assert_eq!(e.retry(), Retry::After(None));
        assert_eq!(e.exit(), crate::exit::Exit::Failure);
        let text = crate::error::Report(&e).to_string();
        for needle in
            ["customEventDetail", "bot 1", "2026-12-01", "correlationId c-1", "100 bytes on the wire", "ended early"]
        {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
    }

    #[test]
    fn the_other_spellings() {
        let c = client();
        let req = request(Endpoint::Total, Some(Interval::Hourly), None);
        let query = |s| c.data_url(&req, s).unwrap().query().unwrap().to_string();
        assert_eq!(
            query((IntervalSpelling::Upper, DateStyle::Zulu)),
            "startDate=2026-12-01T00:00:00Z&endDate=2026-12-04T14:00:00Z&interval=HOURLY"
        );
        assert_eq!(
            query((IntervalSpelling::Lower, DateStyle::Offset)),
            "startDate=2026-12-01T00:00:00%2B00:00&endDate=2026-12-04T14:00:00%2B00:00&interval=hourly"
        );
        assert!(c.dialect().is_page());
    }
}
