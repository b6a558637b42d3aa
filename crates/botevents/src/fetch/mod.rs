//! Fetching: authenticated, rate-limited, retried HTTP requests to the vendor API.
//!
//! In: a [`DataRequest`] (stream, bot, time slice). Out: a streamed [`Body`] of a 200 response,
//! never buffered whole. Guarantees: every request of one API key goes through one
//! [`RateLimiter`]; tokens are obtained once per run (discovery → login → SSO, or given) and
//! renewed once on a 401; every error names the endpoint, the window, the HTTP status and the
//! response's `correlationId`. Retrying is the caller's loop ([`retry::with_retries`]), because a
//! broken body must restart the whole window, decoding included.

mod auth;
mod dialect;
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
            FetchError::Body { .. } => Retry::After(None),
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
    /// Re-authentications after a 401.
    pub reauthentications: AtomicU64,
}

/// The API client of one account. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    cfg: ApiConfig,
    limiter: Arc<RateLimiter>,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    stats: Arc<ClientStats>,
    /// The spellings learned so far ([`dialect`]).
    dialect: std::sync::Mutex<dialect::DialectState>,
    /// Held by the one request that may still learn a spelling: until the first success, data
    /// requests go one at a time, so that a refusal is probed once, not by every request at once.
    probe: tokio::sync::Mutex<()>,
}

/// The streamed body of a successful response.
pub struct Body {
    resp: reqwest::Response,
    target: Target,
    /// The response's correlationId.
    pub correlation: CorrelationId,
    /// Bytes received so far.
    pub bytes: u64,
}

impl Body {
    /// The next chunk of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        match self.resp.chunk().await {
            Ok(Some(b)) => {
                self.bytes += b.len() as u64;
                Ok(Some(b))
            }
            Ok(None) => Ok(None),
            Err(source) => Err(FetchError::Body {
                target: self.target.clone(),
                bytes: self.bytes,
                correlation: self.correlation.clone(),
                source,
            }),
        }
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
            session: tokio::sync::Mutex::new(None),
            stats: Arc::default(),
            dialect: std::sync::Mutex::default(),
            probe: tokio::sync::Mutex::new(()),
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
    /// 200. A 401 renews the session once and resends; until the dialect is settled, a 400 is
    /// sent again in the other spellings and a 401 with `Bearer ` ([`Dialect`]). No other retry
    /// happens here.
    pub async fn send(&self, req: &DataRequest) -> Result<Body, FetchError> {
        let target = self.target(req);
        let with_interval = req.interval.is_some();
        let _probe = if self.dialect_state().unsettled(with_interval) { Some(self.probe.lock().await) } else { None };
        let state = self.dialect_state();
        let first = (state.dialect.interval, state.dialect.dates);
        let refused = match self.send_as(req, &target, first).await {
            Ok(body) => {
                self.update_dialect(|d| d.settle(first, with_interval));
                return Ok(body);
            }
            Err(e) if e.status() == Some(400) && state.unsettled(with_interval) => e,
            Err(e) => return Err(e),
        };
        for spelling in state.alternatives(with_interval) {
            match self.send_as(req, &target, spelling).await {
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
        // Every spelling was refused: the 400 is about something else. The page's spelling stays.
        self.update_dialect(|d| d.settle(first, with_interval));
        Err(refused)
    }

    /// Sends `req` with the given spellings; handles 401s (a renewal, or `Bearer `).
    async fn send_as(
        &self,
        req: &DataRequest,
        target: &Target,
        spelling: (IntervalSpelling, DateStyle),
    ) -> Result<Body, FetchError> {
        let target = target.clone();
        let url = self.data_url(req, spelling)?;
        let mut renewed = false;
        let mut bearer_tried = false;
        loop {
            let session = self.session().await?;
            let state = self.dialect_state();
            let scheme = if bearer_tried { AuthScheme::Bearer } else { state.dialect.authorization };
            let authorization = match scheme {
                AuthScheme::Raw => session.access_token.expose().to_string(),
                AuthScheme::Bearer => format!("Bearer {}", session.access_token.expose()),
            };
            self.limiter.acquire().await;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.stats.data_requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(endpoint = %req.endpoint, bot = %req.bot, window = %req.slice, "request");
            let resp = self
                .http
                .get(url.clone())
                .header("x-api-key", self.cfg.credentials.api_key.expose())
                .header("authorization", authorization)
                .header("organizationId", &session.organization_id)
                .send()
                .await
                .map_err(|source| FetchError::Transport { target: target.clone(), source })?;
            let correlation = correlation_of(&resp);
            let status = resp.status();
            // 204 No Content is taken as an empty result, which the decoders report as such.
            if status == StatusCode::OK || status == StatusCode::NO_CONTENT {
                if !state.auth_settled {
                    self.update_dialect(|d| {
                        d.dialect.authorization = scheme;
                        d.auth_settled = true;
                    });
                    if scheme == AuthScheme::Bearer {
                        tracing::info!(endpoint = %req.endpoint, %correlation, "the API refused the raw token (401) and accepted \"Bearer <token>\"; kept for the run");
                    }
                }
                return Ok(Body { resp, target, correlation, bytes: 0 });
            }
            if status == StatusCode::UNAUTHORIZED {
                if !state.auth_settled && !bearer_tried && scheme == AuthScheme::Raw {
                    // No data call has succeeded yet: the token is fresh, so try the header's other form.
                    bearer_tried = true;
                    tracing::info!(endpoint = %req.endpoint, %correlation, "401 with the raw token: trying \"Bearer <token>\" once");
                    continue;
                }
                if !renewed && self.can_login() {
                    renewed = true;
                    bearer_tried = false;
                    self.stats.reauthentications.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(endpoint = %req.endpoint, %correlation, "401: renewing the session once");
                    self.invalidate(&session).await;
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
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(self.authenticate().await?);
        *guard = Some(s.clone());
        Ok(s)
    }

    async fn invalidate(&self, stale: &Arc<Session>) {
        let mut guard = self.session.lock().await;
        if guard.as_ref().is_some_and(|s| Arc::ptr_eq(s, stale)) {
            *guard = None;
        }
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
