//! Routing, authentication, rate limiting and faults: the async shell around the sync builders.
//!
//! In: HTTP requests. Out: the vendor's answers, in the forms of the configured
//! [`SimDialect`](super::SimDialect). Every response carries a `correlationId` header; no error
//! response has a body. Order of checks, as at the vendor's gateway: rate limit (any request with
//! an `x-api-key`), route (404/405), credentials (401), parameters (400), injected faults, then
//! the answer. Bodies are generated on the blocking pool through one bridge, [`spawn_producer`],
//! and reach the connection through a bounded channel. A download's headers wait for its first
//! bytes, because whether it has rows decides its content type (`[]` is JSON).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use serde::Deserialize;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::csv::{APPLICATION_JSON, Chunker, Emit, TEXT_CSV};
use super::data::{Dataset, Fnv, mix, uuid_like};
use super::dialect::Discovery;
use super::fault::{self, Faults};
use super::ratelimit::RateLimiter;
use super::report;
use super::window::{Buckets, Filter, Interval, Invalid, Params, Window, percent_decode};
use super::{Fault, REQUESTS_SEEN, Scope, SimConfig, SimStats};

/// The vendor's troubleshooting id, on every response.
const CORRELATION_ID: HeaderName = HeaderName::from_static("correlationid");
const X_API_KEY: &str = "x-api-key";
const ORGANIZATION_ID: &str = "organizationid";
/// Body chunks buffered between a generator and its connection: with 64 KB chunks a slow
/// client holds at most this many (plus one in flight) per response.
const CHANNEL_CHUNKS: usize = 4;
/// Bodies generated at once; more wait their turn (a JSON answer's headers are sent and its
/// bytes come later; a download's headers wait for its first bytes). Each holds one day of
/// events (about 10 MB for 20,000 events) plus its channel, so this bounds the simulator's
/// memory. Generous, because a generator whose client reads slowly keeps its permit until the
/// client has read (or dropped) the body.
const MAX_GENERATORS: usize = 16;
/// The largest login body read.
const MAX_LOGIN_BODY: usize = 64 * 1024;
/// Session lifetime reported by login and SSO (tokens expire only as `SimConfig::token_calls`,
/// `token_ttl` and `bearer_ttl` say, or by `Simulator::revoke_tokens`).
const SESSION_TTL_SECS: u64 = 3_600;
/// Gzip level of compressed bodies: a gateway's choice of speed over size.
const GZIP_LEVEL: u32 = 1;

/// The service a `Discovery::Collection` answer lists before `agentVep`, at an address where
/// nothing listens: a client that takes the first entry fails to log in.
const OTHER_SERVICE: (&str, &str) = ("leDataReporting", "127.0.0.1:9");

/// State shared by every request of one simulator.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    /// `127.0.0.1:PORT`, what `baseURI.json` answers (no scheme, as the vendor's).
    host: String,
    /// Static per account, as the vendor's `sessionOrganizationId` is.
    organization_id: String,
    requests: AtomicU64,
    limiter: RateLimiter,
    sessions: Mutex<Sessions>,
    stats: Mutex<SimStats>,
    /// Path and query of the latest [`REQUESTS_SEEN`] data requests, oldest first.
    seen: Mutex<VecDeque<String>>,
    faults: Mutex<Faults>,
    generators: Arc<Semaphore>,
    /// Turns `true` when the simulator shuts down: ends hanging and stalled responses.
    closing: watch::Sender<bool>,
}

/// Tokens issued and still valid, and the login limit's clock.
#[derive(Default)]
struct Sessions {
    issued: u64,
    /// Bearers, and until when SSO accepts each (`None`: until revoked).
    bearers: HashMap<String, Option<Instant>>,
    /// Access tokens still valid.
    access_tokens: HashMap<String, AccessToken>,
    /// Access tokens that expired: a request carrying one is refused as expired.
    expired_tokens: HashSet<String>,
    expired: u64,
    sso_refused: u64,
    /// When the last login was admitted (`SimConfig::login_interval`).
    last_login: Option<Instant>,
    logins_refused: u64,
    /// Every token ever issued, valid or not.
    all: Vec<String>,
}

/// An access token's budget.
struct AccessToken {
    /// Data requests it has left (`None`: unlimited).
    calls_left: Option<u32>,
    /// When it expires (`None`: never by age).
    expires: Option<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(config: SimConfig, addr: SocketAddr) -> Self {
        let org = Fnv::new().bytes(&config.seed.to_le_bytes()).str(&config.account).str("organization").finish();
        Shared {
            host: addr.to_string(),
            organization_id: uuid_like(org, mix(org)),
            requests: AtomicU64::new(0),
            limiter: RateLimiter::new(config.max_rps),
            sessions: Mutex::new(Sessions::default()),
            stats: Mutex::new(SimStats::default()),
            seen: Mutex::new(VecDeque::new()),
            faults: Mutex::new(Faults::new(config.chaos.clone())),
            generators: Arc::new(Semaphore::new(MAX_GENERATORS)),
            closing: watch::Sender::new(false),
            config,
        }
    }

    pub(crate) fn stats(&self) -> SimStats {
        let mut stats = lock(&self.stats).clone();
        stats.faults = lock(&self.faults).served.clone();
        let sessions = lock(&self.sessions);
        stats.expired_tokens = sessions.expired;
        stats.sso_refused = sessions.sso_refused;
        stats.logins_refused = sessions.logins_refused;
        stats
    }

    pub(crate) fn requests_seen(&self) -> Vec<String> {
        lock(&self.seen).iter().cloned().collect()
    }

    pub(crate) fn inject(&self, scope: Scope, fault: Fault, times: u32) {
        lock(&self.faults).inject(scope, fault, times);
    }

    pub(crate) fn fault_once_each(&self, fault: Fault, matching: &str) {
        lock(&self.faults).once_each(fault, matching);
    }

    pub(crate) fn fault_always(&self, fault: Fault, matching: &str) {
        lock(&self.faults).always(fault, matching);
    }

    /// Ends hanging and stalled responses (the server is shutting down).
    pub(crate) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`close`](Self::close) was called.
    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    pub(crate) fn issued_tokens(&self) -> Vec<String> {
        lock(&self.sessions).all.clone()
    }

    pub(crate) fn revoke_tokens(&self) {
        let mut sessions = lock(&self.sessions);
        sessions.bearers.clear();
        sessions.access_tokens.clear();
    }

    /// Unique per request: a bijection of the request counter, spread to look random.
    fn correlation_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let key = Fnv::new().bytes(&self.config.seed.to_le_bytes()).str("correlation").finish();
        let lo = mix(n ^ key);
        uuid_like(mix(lo ^ key), lo)
    }

    fn issue(&self, kind: TokenKind) -> String {
        let mut sessions = lock(&self.sessions);
        sessions.issued += 1;
        let seed = Fnv::new()
            .bytes(&self.config.seed.to_le_bytes())
            .str(kind.label())
            .bytes(&sessions.issued.to_le_bytes())
            .finish();
        let parts = [seed, mix(seed ^ 1), mix(seed ^ 2), mix(seed ^ 3)];
        let mut token = String::with_capacity(64);
        for part in parts {
            let _ = write!(token, "{part:016x}");
        }
        sessions.all.push(token.clone());
        let now = Instant::now();
        match kind {
            TokenKind::Bearer => {
                sessions.bearers.insert(token.clone(), self.config.bearer_ttl.map(|ttl| now + ttl));
            }
            TokenKind::Access => {
                let budget = AccessToken {
                    calls_left: self.config.token_calls,
                    expires: self.config.token_ttl.map(|ttl| now + ttl),
                };
                sessions.access_tokens.insert(token.clone(), budget);
            }
        }
        token
    }

    fn record(&self, route: &Route, status: StatusCode, path_and_query: Option<String>, gzipped: bool) {
        if let Some(seen) = path_and_query {
            let mut requests = lock(&self.seen);
            if requests.len() == REQUESTS_SEEN {
                requests.pop_front();
            }
            requests.push_back(seen);
        }
        let mut stats = lock(&self.stats);
        stats.requests += 1;
        if route.is_data() {
            stats.data_requests += 1;
        }
        if gzipped {
            stats.gzip_bodies += 1;
        }
        *stats.by_endpoint.entry(route.name().to_owned()).or_default() += 1;
        match status {
            StatusCode::TOO_MANY_REQUESTS => stats.rejected_429 += 1,
            StatusCode::BAD_REQUEST => stats.rejected_400 += 1,
            StatusCode::UNAUTHORIZED => stats.rejected_401 += 1,
            _ => {}
        }
    }

    async fn answer(self: &Arc<Self>, route: &Route, request: Request) -> Reply {
        let (parts, body) = request.into_parts();
        if let Some(key) = parts.headers.get(X_API_KEY)
            && !self.limiter.admit(key.as_bytes(), Instant::now())
        {
            return Reply::Status(StatusCode::TOO_MANY_REQUESTS);
        }
        let reply = match route {
            Route::Unknown => Reply::Status(StatusCode::NOT_FOUND),
            Route::WrongMethod(_) => Reply::Status(StatusCode::METHOD_NOT_ALLOWED),
            Route::BaseUri { account } => self.discovery(account),
            Route::Login { account } => self.login(account, body).await,
            Route::Sso => self.sso(&parts.headers),
            Route::Detail { .. } | Route::Total { .. } | Route::Catalog { .. } | Route::Histogram { .. } => {
                self.data(route, &parts).await
            }
        };
        let scope = match route {
            Route::Login { .. } | Route::Sso => Scope::Auth,
            _ if route.is_data() => Scope::Data,
            _ => return reply,
        };
        if !matches!(reply, Reply::Body { .. }) {
            return reply;
        }
        let request = parts.uri.path_and_query().map_or("", |p| p.as_str());
        let fault = lock(&self.faults).next(scope, request);
        match fault {
            Some(fault) => self.apply(fault, reply).await,
            None => reply,
        }
    }

    /// `reply`, a successful answer, failed as `fault` says.
    async fn apply(&self, fault: Fault, reply: Reply) -> Reply {
        let Reply::Body { content_type, chunks, gzip, .. } = reply else {
            return reply;
        };
        tracing::debug!(%fault, "simulator injects a fault");
        match fault {
            Fault::Status(429) => Reply::RetryLater(Some(1)),
            Fault::Status(code) => {
                Reply::Status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            }
            Fault::RateLimited { retry_after_secs } => Reply::RetryLater(retry_after_secs),
            Fault::Drop => Reply::Drop,
            Fault::Hang => {
                self.closed().await;
                Reply::Drop
            }
            Fault::ShortBody { after_bytes } => {
                use futures::TryStreamExt as _;
                match fault::prefix(chunks, after_bytes).try_collect::<Vec<Bytes>>().await {
                    Ok(sent) => {
                        let promised = sent.iter().map(Bytes::len).sum::<usize>() as u64 + 1;
                        let chunks = stream::iter(sent.into_iter().map(Ok)).chain(fault::pause_then_end()).boxed();
                        Reply::Body { content_type, content_length: Some(promised), gzip, chunks }
                    }
                    Err(_) => Reply::Drop,
                }
            }
            Fault::Truncate { .. } | Fault::Stall { .. } | Fault::Slow { .. } => Reply::Body {
                content_type,
                content_length: None,
                gzip,
                chunks: fault::with_fault(chunks, fault, self.closed()),
            },
        }
    }

    /// The login-domain lookup: where `agentVep` (the Login Service) lives.
    fn discovery(&self, account: &str) -> Reply {
        let agent_vep = serde_json::json!({ "service": "agentVep", "account": account, "baseURI": self.host });
        match self.config.dialect.discovery {
            Discovery::Flat => Reply::json(&agent_vep),
            Discovery::Collection => {
                let (service, host) = OTHER_SERVICE;
                let other = serde_json::json!({ "service": service, "account": account, "baseURI": host });
                Reply::json(&serde_json::json!({ "baseURIs": [other, agent_vep] }))
            }
        }
    }

    async fn login(&self, account: &str, body: Body) -> Reply {
        #[derive(Deserialize)]
        struct Credentials {
            username: String,
            password: String,
        }
        let Ok(bytes) = axum::body::to_bytes(body, MAX_LOGIN_BODY).await else {
            return Reply::Status(StatusCode::BAD_REQUEST);
        };
        let Ok(credentials) = serde_json::from_slice::<Credentials>(&bytes) else {
            return Reply::Status(StatusCode::BAD_REQUEST);
        };
        let config = &self.config;
        if account != config.account
            || credentials.username != config.username
            || credentials.password != config.password
        {
            return Reply::Status(StatusCode::UNAUTHORIZED);
        }
        if let Some(interval) = config.login_interval {
            let mut sessions = lock(&self.sessions);
            let now = Instant::now();
            if sessions.last_login.is_some_and(|at| now.saturating_duration_since(at) < interval) {
                sessions.logins_refused += 1;
                let secs = interval.as_secs() + u64::from(interval.subsec_nanos() > 0);
                return Reply::RetryLater(Some(u32::try_from(secs).unwrap_or(u32::MAX)));
            }
            sessions.last_login = Some(now);
        }
        let bearer = self.issue(TokenKind::Bearer);
        let now = config.now();
        // The Login Service's shape; the connector only needs `bearer`.
        Reply::json(&serde_json::json!({
            "csrf": format!("{:016x}", mix(now.timestamp_millis() as u64)),
            "wsuk": format!("{:016x}", mix(config.seed)),
            "config": {
                "loginUrl": format!("http://{}/", self.host),
                "accountId": config.account,
                "userId": "1",
                "userPid": format!("{:x}", mix(config.seed ^ 7)),
                "userTypeId": 1,
                "isAdmin": true,
                "accountTimeZoneId": "America/New_York",
                "serverCurrentTime": now.timestamp_millis(),
                "timeDiff": 0,
                "serverTimeZoneName": "America/New_York",
                "serverTimeGMTDiff": -14_400_000,
                "userPrivileges": [1, 2, 3],
                "isLPA": false,
                "userName": config.username,
            },
            "accountData": {
                "agentGroupsData": {
                    "items": [{ "id": -1, "deleted": false, "name": "Main Group" }],
                    "revision": 1,
                },
            },
            "sessionTTl": SESSION_TTL_SECS.to_string(),
            "bearer": bearer,
            "isLPA": false,
        }))
    }

    fn sso(&self, headers: &HeaderMap) -> Reply {
        let bearer = header_str(headers, header::AUTHORIZATION.as_str()).and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let key = header_str(headers, X_API_KEY) == Some(self.config.api_key.as_str());
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let accepted = bearer.is_some_and(|token| match sessions.bearers.get(token) {
            Some(None) => true,
            Some(Some(until)) => now < *until,
            None => false,
        });
        if !(key && accepted) {
            if !accepted {
                sessions.sso_refused += 1;
            }
            return Reply::Status(StatusCode::UNAUTHORIZED);
        }
        drop(sessions);
        let token = self.issue(TokenKind::Access);
        Reply::json(&serde_json::json!({
            "success": true,
            "successResult": {
                "apiAccessToken": token,
                "sessionOrganizationId": self.organization_id,
                "chatBotPlatformUser": {
                    "id": format!("{:x}", mix(self.config.seed ^ 11)),
                    "userName": self.config.username,
                    "lpAccountId": self.config.account,
                    "lpAccountUser": "1",
                    "roles": ["ROLE_CONVERSATION_BUILDER_ADMIN"],
                    "status": "ACTIVE",
                },
                "cbRegion": "va",
                "enabledFeatures": [],
                "sessionTtl": SESSION_TTL_SECS,
                "leIsAdmin": true,
            },
            "message": "Success",
        }))
    }

    /// Whether the three headers every data call needs are right.
    /// Uses up one call of the access token's budget.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        if header_str(headers, X_API_KEY) != Some(self.config.api_key.as_str())
            || header_str(headers, ORGANIZATION_ID) != Some(self.organization_id.as_str())
        {
            return false;
        }
        let Some(token) = header_str(headers, header::AUTHORIZATION.as_str())
            .and_then(|value| self.config.dialect.data_auth.token(value))
        else {
            return false;
        };
        let mut sessions = lock(&self.sessions);
        let now = Instant::now();
        let Some(budget) = sessions.access_tokens.get_mut(token) else {
            if sessions.expired_tokens.contains(token) {
                sessions.expired += 1;
            }
            return false;
        };
        let aged = budget.expires.is_some_and(|at| now >= at);
        if !aged && budget.calls_left != Some(0) {
            if let Some(left) = &mut budget.calls_left {
                *left -= 1;
            }
            return true;
        }
        sessions.access_tokens.remove(token);
        sessions.expired_tokens.insert(token.to_owned());
        sessions.expired += 1;
        false
    }

    async fn data(self: &Arc<Self>, route: &Route, parts: &Parts) -> Reply {
        let ready = Instant::now() + self.config.latency;
        let refuse = async |status| {
            if self.config.slow_refusals {
                tokio::time::sleep_until(ready).await;
            }
            Reply::Status(status)
        };
        if !self.authorized(&parts.headers) || route.account().is_some_and(|account| account != self.config.account) {
            return refuse(StatusCode::UNAUTHORIZED).await;
        }
        let now = self.config.now();
        let params = Params::parse(parts.uri.query());
        if matches!(route, Route::Total { .. } | Route::Histogram { .. }) {
            let spelling = params.get("interval").unwrap_or("(absent)").to_owned();
            *lock(&self.stats).by_interval_spelling.entry(spelling).or_default() += 1;
        }
        let query = match DataQuery::parse(route, &params, now, &self.config) {
            Ok(query) => query,
            Err(invalid) => {
                tracing::debug!(endpoint = route.name(), reason = %invalid, "simulator rejected parameters");
                *lock(&self.stats).bad_params.entry(invalid.kind().to_owned()).or_default() += 1;
                return refuse(StatusCode::BAD_REQUEST).await;
            }
        };
        if let DataQuery::Histogram { filter, .. } = &query
            && filter.event_name.as_ref().is_some_and(|name| self.config.missing_histograms.contains(name))
        {
            return Reply::Status(StatusCode::NOT_FOUND);
        }
        let bot = route.bot().unwrap_or_default().to_owned();
        let gzip = self.config.gzip && accepts_gzip(&parts.headers);
        let (chunks, content_type) = self.generate(bot, now, query.clone(), gzip);
        let content_type = match query {
            // Whether a download has rows decides its type; the generator says before its first byte.
            DataQuery::Detail { .. } | DataQuery::Total { .. } => content_type.await.unwrap_or(TEXT_CSV),
            DataQuery::Catalog { .. } | DataQuery::Histogram { .. } => APPLICATION_JSON,
        };
        // The response time: the status line leaves `latency` after admission (the body is
        // generated meanwhile, up to the channel's few chunks).
        tokio::time::sleep_until(ready).await;
        Reply::Body { content_type, content_length: None, gzip, chunks }
    }

    /// Generates a body on the blocking pool (gzip-compressed there when `gzip`); the receiver
    /// gets its content type before the body's first chunk.
    fn generate(
        self: &Arc<Self>,
        bot: String,
        now: DateTime<Utc>,
        query: DataQuery,
        gzip: bool,
    ) -> (BoxStream<'static, io::Result<Bytes>>, oneshot::Receiver<&'static str>) {
        let shared = Arc::clone(self);
        spawn_producer(Arc::clone(&self.generators), gzip, move |out| {
            let config = &shared.config;
            let dialect = &config.dialect;
            // A bot the simulator does not have is one without events: the vendor's empty answer.
            let data = match config.bot(&bot) {
                Some(bot) => Dataset::new(config, bot, now),
                None => Dataset::unknown(config, now),
            };
            let empty = match &query {
                DataQuery::Detail { window, filter } => {
                    report::detail(&data, window, filter, config.row_cap, dialect.empty, out)
                }
                DataQuery::Total { window, buckets, filter } => {
                    let rows = report::totals(&data, window, *buckets, filter);
                    report::totals_csv(&rows, *buckets, dialect, out)
                }
                DataQuery::Catalog { window } => {
                    let catalog = report::catalog(&data, window);
                    report::write_json(&catalog, catalog.is_empty(), dialect.empty, out)
                }
                DataQuery::Histogram { window, buckets, filter } => {
                    let histogram = report::histogram(&data, window, *buckets, filter, dialect.string_counts);
                    report::write_json(&histogram, histogram.total.value == 0, dialect.empty, out)
                }
            };
            if empty {
                lock(&shared.stats).empty_answers += 1;
            }
        })
    }
}

#[derive(Clone, Copy)]
enum TokenKind {
    Bearer,
    Access,
}

impl TokenKind {
    fn label(self) -> &'static str {
        match self {
            TokenKind::Bearer => "bearer",
            TokenKind::Access => "access",
        }
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The axum application: one handler that routes itself, so that every answer — 404 and 405
/// included — goes through the same correlation id, statistics and empty-error-body path.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let correlation_id = shared.correlation_id();
    let route = Route::parse(request.method(), request.uri().path());
    let seen = route.is_data().then(|| request.uri().path_and_query().map_or_else(String::new, ToString::to_string));
    let mut response = shared.answer(&route, request).await.into_response();
    let gzipped = response.headers().contains_key(header::CONTENT_ENCODING);
    shared.record(&route, response.status(), seen, gzipped);
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    tracing::debug!(
        endpoint = route.name(),
        status = response.status().as_u16(),
        correlation_id = %correlation_id,
        "simulator answered"
    );
    response
}

/// The endpoints, parsed from method and path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    BaseUri {
        account: String,
    },
    Login {
        account: String,
    },
    Sso,
    Detail {
        bot: String,
    },
    Total {
        bot: String,
    },
    Catalog {
        account: String,
        bot: String,
    },
    Histogram {
        account: String,
        bot: String,
    },
    /// A known path with the wrong method; holds the endpoint's name.
    WrongMethod(&'static str),
    Unknown,
}

impl Route {
    fn parse(method: &Method, path: &str) -> Route {
        let Some(segments) = path.strip_prefix('/').and_then(|rest| {
            rest.split('/').map(|segment| String::from_utf8(percent_decode(segment)).ok()).collect::<Option<Vec<_>>>()
        }) else {
            return Route::Unknown;
        };
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        let owned = |value: &str| value.to_owned();
        let (route, expected) = match s.as_slice() {
            ["api", "account", account, "service", "agentVep", "baseURI.json"] => {
                (Route::BaseUri { account: owned(account) }, Method::GET)
            }
            ["api", "account", account, "login"] => (Route::Login { account: owned(account) }, Method::POST),
            ["cb", "auth", "v1", "sso", "authenticate"] => (Route::Sso, Method::GET),
            ["cb", "aiworkbench", "v1", "chatbots", bot, "download", "customEventDetail"] => {
                (Route::Detail { bot: owned(bot) }, Method::GET)
            }
            ["cb", "aiworkbench", "v1", "chatbots", bot, "download", "customEventTotal"] => {
                (Route::Total { bot: owned(bot) }, Method::GET)
            }
            ["cb", "analytics", "v1", "accounts", account, "customEvents", bot] => {
                (Route::Catalog { account: owned(account), bot: owned(bot) }, Method::GET)
            }
            ["cb", "analytics", "v1", "accounts", account, "customEvents", bot, "histogram"] => {
                (Route::Histogram { account: owned(account), bot: owned(bot) }, Method::GET)
            }
            _ => return Route::Unknown,
        };
        if route.account().is_some_and(str::is_empty) || route.bot().is_some_and(str::is_empty) {
            Route::Unknown
        } else if *method != expected {
            Route::WrongMethod(route.name())
        } else {
            route
        }
    }

    /// The endpoint's name in [`SimStats::by_endpoint`].
    fn name(&self) -> &'static str {
        match self {
            Route::BaseUri { .. } => "baseURI",
            Route::Login { .. } => "login",
            Route::Sso => "sso",
            Route::Detail { .. } => "customEventDetail",
            Route::Total { .. } => "customEventTotal",
            Route::Catalog { .. } => "customEvents",
            Route::Histogram { .. } => "histogram",
            Route::WrongMethod(name) => name,
            Route::Unknown => "unknown",
        }
    }

    fn is_data(&self) -> bool {
        match self {
            Route::Detail { .. } | Route::Total { .. } | Route::Catalog { .. } | Route::Histogram { .. } => true,
            Route::WrongMethod(name) => {
                ["customEventDetail", "customEventTotal", "customEvents", "histogram"].contains(name)
            }
            _ => false,
        }
    }

    fn account(&self) -> Option<&str> {
        match self {
            Route::BaseUri { account }
            | Route::Login { account }
            | Route::Catalog { account, .. }
            | Route::Histogram { account, .. } => Some(account),
            _ => None,
        }
    }

    fn bot(&self) -> Option<&str> {
        match self {
            Route::Detail { bot }
            | Route::Total { bot }
            | Route::Catalog { bot, .. }
            | Route::Histogram { bot, .. } => Some(bot),
            _ => None,
        }
    }
}

/// A data request with its validated parameters.
#[derive(Clone, Debug)]
enum DataQuery {
    Detail { window: Window, filter: Filter },
    Total { window: Window, buckets: Buckets, filter: Filter },
    Catalog { window: Window },
    Histogram { window: Window, buckets: Buckets, filter: Filter },
}

impl DataQuery {
    fn parse(route: &Route, params: &Params, now: DateTime<Utc>, config: &SimConfig) -> Result<Self, Invalid> {
        let dialect = &config.dialect;
        let window = params.window(now, config.retention_days, dialect.dates)?;
        let buckets = |interval: Interval| Buckets::new(interval, dialect);
        Ok(match route {
            Route::Total { .. } => DataQuery::Total {
                window,
                buckets: buckets(params.interval(dialect.interval)?),
                filter: params.filter()?,
            },
            Route::Catalog { .. } => DataQuery::Catalog { window },
            Route::Histogram { .. } => {
                let filter = params.filter()?;
                if filter.event_name.is_none() {
                    return Err(Invalid::Missing("eventName"));
                }
                DataQuery::Histogram { window, buckets: buckets(params.interval(dialect.interval)?), filter }
            }
            _ => DataQuery::Detail { window, filter: params.filter()? },
        })
    }
}

/// An answer, before it becomes a response.
enum Reply {
    /// A status with no body.
    Status(StatusCode),
    /// An injected 429, with this `Retry-After` (seconds) or none.
    RetryLater(Option<u32>),
    /// The connection closed before any response.
    Drop,
    /// A 200 with a (streamed) body, and a `Content-Length` when one is promised; `gzip`: the
    /// chunks are a gzip stream (`Content-Encoding: gzip`).
    Body {
        content_type: &'static str,
        content_length: Option<u64>,
        gzip: bool,
        chunks: BoxStream<'static, io::Result<Bytes>>,
    },
}

impl Reply {
    fn json<T: serde::Serialize>(value: &T) -> Reply {
        Reply::Body { content_type: APPLICATION_JSON, content_length: None, gzip: false, chunks: json_chunks(value) }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Status(status) => status.into_response(),
            Reply::RetryLater(None) => StatusCode::TOO_MANY_REQUESTS.into_response(),
            Reply::RetryLater(Some(secs)) => {
                (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, HeaderValue::from(secs))]).into_response()
            }
            // A body that fails before its first byte: the server closes the connection
            // without writing the response head.
            Reply::Drop => Body::from_stream(stream::once(async {
                Err::<Bytes, _>(io::Error::other("injected fault: connection dropped"))
            }))
            .into_response(),
            Reply::Body { content_type, content_length, gzip, chunks } => {
                let mut response =
                    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], Body::from_stream(chunks))
                        .into_response();
                if let Some(length) = content_length {
                    response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(length));
                }
                if gzip {
                    let headers = response.headers_mut();
                    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                }
                response
            }
        }
    }
}

fn json_chunks<T: serde::Serialize>(value: &T) -> BoxStream<'static, io::Result<Bytes>> {
    let body = serde_json::to_vec(value).map(Bytes::from).map_err(io::Error::other);
    stream::once(async move { body }).boxed()
}

/// Whether a request's `Accept-Encoding` names gzip (or x-gzip) with a weight above zero.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) && weight > 0.0
        },
    )
}

/// A gzip stream written piece by piece (sync: it runs on the generator's blocking thread).
struct GzipStream(flate2::Compress);

impl GzipStream {
    fn new() -> Self {
        GzipStream(flate2::Compress::new_gzip(flate2::Compression::new(GZIP_LEVEL), 15))
    }

    /// Compresses `input`; the compressed bytes ready so far (the whole rest when `last`).
    fn push(&mut self, mut input: &[u8], last: bool) -> io::Result<Vec<u8>> {
        let flush = if last { flate2::FlushCompress::Finish } else { flate2::FlushCompress::None };
        let mut out = Vec::with_capacity(input.len() / 4 + 64);
        loop {
            out.reserve(16 * 1024);
            let before = self.0.total_in();
            let status = self.0.compress_vec(input, &mut out, flush).map_err(io::Error::other)?;
            input = &input[(self.0.total_in() - before) as usize..];
            let done = if last { status == flate2::Status::StreamEnd } else { input.is_empty() };
            if done {
                return Ok(out);
            }
        }
    }
}

/// Sends a generator's chunks to the channel (`false` once the response was dropped),
/// gzip-compressed when asked, and its content type to whoever waits for it.
struct ChannelEmit {
    chunks: mpsc::Sender<io::Result<Bytes>>,
    content_type: Option<oneshot::Sender<&'static str>>,
    gzip: Option<GzipStream>,
}

impl ChannelEmit {
    fn send(&mut self, piece: io::Result<Vec<u8>>) -> bool {
        match piece {
            Ok(bytes) if bytes.is_empty() => true,
            Ok(bytes) => self.chunks.blocking_send(Ok(Bytes::from(bytes))).is_ok(),
            Err(e) => {
                // Break the body rather than end it early: a short body must not look complete.
                let _ = self.chunks.blocking_send(Err(e));
                false
            }
        }
    }
}

impl Emit for ChannelEmit {
    fn emit(&mut self, chunk: Bytes) -> bool {
        match self.gzip.as_mut() {
            Some(gzip) => {
                let piece = gzip.push(&chunk, false);
                self.send(piece)
            }
            None => self.chunks.blocking_send(Ok(chunk)).is_ok(),
        }
    }

    fn content_type(&mut self, content_type: &'static str) {
        if let Some(sender) = self.content_type.take() {
            let _ = sender.send(content_type);
        }
    }

    fn end(&mut self) {
        if let Some(gzip) = self.gzip.as_mut() {
            let piece = gzip.push(&[], true);
            self.send(piece);
        }
    }
}

/// The one bridge from the server to the blocking pool: once one of the `generators` permits
/// is free, runs `produce` on a blocking thread and streams its chunks through a channel of
/// [`CHANNEL_CHUNKS`] (gzip-compressed on that thread when `gzip`, so that a compressed body
/// costs the connection's task nothing); the receiver returned with the stream gets the content type `produce`
/// declares (and fails if it declares none). A client that goes away closes the channel, and
/// the generator stops at its next chunk.
fn spawn_producer<P>(
    generators: Arc<Semaphore>,
    gzip: bool,
    produce: P,
) -> (BoxStream<'static, io::Result<Bytes>>, oneshot::Receiver<&'static str>)
where
    P: FnOnce(&mut Chunker<ChannelEmit>) + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    let (content_type, content_type_rx) = oneshot::channel();
    tokio::spawn(async move {
        let Ok(permit) = generators.acquire_owned().await else {
            return;
        };
        if tx.is_closed() {
            return;
        }
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let failed = tx.clone();
            let mut out = Chunker::new(ChannelEmit {
                chunks: tx,
                content_type: Some(content_type),
                gzip: gzip.then(GzipStream::new),
            });
            match catch_unwind(AssertUnwindSafe(|| produce(&mut out))) {
                Ok(()) => out.finish(),
                Err(_) => {
                    // Break the body rather than end it early: a short body must not look complete.
                    let _ = failed.blocking_send(Err(io::Error::other("simulator body generation panicked")));
                }
            }
        });
    });
    let chunks = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed();
    (chunks, content_type_rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = &Method::GET;
        assert_eq!(
            Route::parse(get, "/cb/aiworkbench/v1/chatbots/bot%2Dx/download/customEventDetail"),
            Route::Detail { bot: "bot-x".into() }
        );
        assert_eq!(
            Route::parse(get, "/cb/analytics/v1/accounts/123/customEvents/b/histogram"),
            Route::Histogram { account: "123".into(), bot: "b".into() }
        );
        assert_eq!(Route::parse(&Method::POST, "/api/account/1/login"), Route::Login { account: "1".into() });
        assert_eq!(Route::parse(get, "/api/account/1/login"), Route::WrongMethod("login"));
        assert_eq!(Route::parse(get, "/cb/aiworkbench/v1/chatbots//download/customEventDetail"), Route::Unknown);
        assert_eq!(Route::parse(get, "/cb/aiworkbench/v1/chatbots/b/download/customEventDetail/"), Route::Unknown);
        assert_eq!(Route::parse(get, "/"), Route::Unknown);
        assert_eq!(Route::parse(get, "/cb/auth/v1/sso/authenticate"), Route::Sso);
    }

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(
            Route::parse(&Method::GET, "/cb/aiworkbench/v1/chatbots/a+b%20%C3%A9/download/customEventTotal"),
            Route::Total { bot: "a+b é".into() }
        );
        assert_eq!(
            Route::parse(&Method::GET, "/cb/aiworkbench/v1/chatbots/%FF/download/customEventTotal"),
            Route::Unknown
        );
    }
}
