//! Authentication: discovery → login → SSO, as the vendor's page describes, and the renewal of
//! an access token that expired.
//!
//! The client moves bytes; what a 200 answer means is decided by three pure functions,
//! [`parse_discovery`], [`parse_login`] and [`parse_sso`], which take the body as bytes and are
//! unit-tested and fuzzed on their own.
//!
//! Sessions: the run logs in once and keeps the login's bearer. SSO turns the bearer into an
//! access token, at the start and again each time the access token expires (a 401 on a data
//! call); only when SSO refuses the bearer does the client log in again. The Login Service
//! refuses logins that come too often (429, "retry after 5 seconds"): that wait is honoured,
//! [`LOGIN_RETRY_AFTER`] when the answer names none. The account's tokens live in one [`Auth`]
//! behind an async mutex, with a generation number: the request that holds the lock is the one
//! that renews, and a request that got its 401 with an older generation finds the renewal done
//! and only sends again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use super::retry::with_retries;
use super::{
    ApiClient, CorrelationId, Endpoint, FetchError, Target, check_secure, correlation_of, join, retry_after_of,
};
use crate::secret::Secret;

/// How long a login refused with 429 waits when the answer has no `Retry-After`: the vendor's
/// "too many logins, retry after 5 seconds".
pub const LOGIN_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The account's tokens, behind the client's one async mutex.
#[derive(Debug, Default)]
pub(super) struct Auth {
    /// The Login Service's base URL, once discovered (a second login does not ask again).
    login_base: Option<Url>,
    /// The login's bearer token, from which SSO mints access tokens.
    bearer: Option<Secret>,
    /// The tokens data calls carry now.
    session: Option<Arc<Session>>,
    /// Counts the sessions installed: a request that got a 401 with generation `g` renews only
    /// if the session is still `g`; otherwise another request renewed meanwhile.
    generation: u64,
}

/// Which access tokens are known to have worked: the newest session generation a data request
/// was accepted with, and the earliest send of an accepted request with it.
///
/// A 401 to a request sent after that one with the same token, or with an older token, is an
/// expiry, which a renewal cures. A 401 to a token that no request sent before it was accepted
/// with may be a refusal that renewals do not cure ([`super::MAX_RENEWALS_PER_REQUEST`]).
#[derive(Debug, Default)]
pub(super) struct Accepted(std::sync::Mutex<Option<(u64, Instant)>>);

impl Accepted {
    /// A data request sent at `sent` with the session of `generation` was accepted.
    pub(super) fn note(&self, generation: u64, sent: Instant) {
        let mut newest = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !Self::covers(*newest, generation, sent) {
            *newest = Some((generation, sent));
        }
    }

    /// Whether a 401 to a request sent at `sent` with the session of `generation` is an expiry:
    /// a request sent before it was accepted with that token, or a newer token works already.
    pub(super) fn expired(&self, generation: u64, sent: Instant) -> bool {
        Self::covers(*self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner), generation, sent)
    }

    /// Whether `newest` (a generation and its first accepted send) is as new and as early as a
    /// request sent at `sent` with the session of `generation`, or newer.
    fn covers(newest: Option<(u64, Instant)>, generation: u64, sent: Instant) -> bool {
        newest.is_some_and(|(g, first)| g > generation || (g == generation && first <= sent))
    }
}

/// The tokens data calls carry.
#[derive(Debug)]
pub struct Session {
    /// `apiAccessToken`, sent in the `authorization` header (raw, or after `Bearer `: see
    /// [`super::Dialect`]).
    pub access_token: Secret,
    /// `sessionOrganizationId`, sent in the `organizationId` header.
    pub organization_id: String,
}

/// Why the body of a 200 answer of discovery, login or SSO is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The body is not JSON (an HTML error page, a truncated body …).
    #[error("not JSON ({reason})")]
    NotJson {
        /// The parser's message (line and column).
        reason: String,
    },
    /// A field the connector needs is missing, not a string, or empty.
    #[error("no {field} in the response")]
    Missing {
        /// What was looked for.
        field: &'static str,
    },
    /// The discovered login host does not make a URL.
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl {
        /// The URL built from the answer.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The discovered login host would receive the password over plain http.
    #[error("refusing plain http:// for non-loopback host in {url}; use https://")]
    Insecure {
        /// The URL built from the answer.
        url: String,
    },
}

fn json(body: &[u8]) -> Result<Value, ResponseError> {
    serde_json::from_slice(body).map_err(|e| ResponseError::NotJson { reason: e.to_string() })
}

/// Interprets the body of agentVep `baseURI.json`: the base URL of the account's Login Service,
/// ending in `/`. The service answers with a bare `host[:port]`; a loopback host (the
/// simulator) gets `http://`, any other `https://`. A full URL is taken as it is, and refused
/// unless it is https or loopback http.
///
/// The vendor's Domain API also answers in a collection form, `{"baseURIs": [{"service":
/// "agentVep", "baseURI": …}, …]}`: the entry whose `service` is `agentVep` is taken.
pub fn parse_discovery(body: &[u8]) -> Result<Url, ResponseError> {
    let v = json(body)?;
    let flat = v.get("baseURI").and_then(Value::as_str);
    let listed = || {
        v.get("baseURIs")?.as_array()?.iter().find_map(|e| {
            let service = e.get("service").and_then(Value::as_str)?;
            service.trim().eq_ignore_ascii_case("agentVep").then(|| e.get("baseURI").and_then(Value::as_str)).flatten()
        })
    };
    let base = flat.or_else(listed).map(|b| b.trim().trim_end_matches('/'));
    let base = match base {
        Some(b) if !b.is_empty() => b,
        _ => return Err(ResponseError::Missing { field: "baseURI" }),
    };
    let text = if base.contains("://") {
        format!("{base}/")
    } else {
        let scheme = if is_loopback_host(host_of(base)) { "http" } else { "https" };
        format!("{scheme}://{base}/")
    };
    let url = Url::parse(&text).map_err(|e| ResponseError::BadUrl { url: text.clone(), reason: e.to_string() })?;
    check_secure(&url).map_err(|_| ResponseError::Insecure { url: url.to_string() })?;
    Ok(url)
}

/// The host of a bare `host[:port]` (an IPv6 host keeps its brackets).
fn host_of(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(authority, |end| &authority[..end + 2]),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost") || host == "[::1]"
}

/// Interprets the body of the Login Service's `login`: the `bearer` token, found at the top
/// level or one level down.
pub fn parse_login(body: &[u8]) -> Result<Secret, ResponseError> {
    match find_str(&json(body)?, "bearer") {
        Some(b) if !b.is_empty() => Ok(Secret::new(b)),
        _ => Err(ResponseError::Missing { field: "bearer token" }),
    }
}

/// Interprets the body of Conversation Builder `sso/authenticate`: `apiAccessToken` and
/// `sessionOrganizationId`, found at the top level or one level down (`successResult`).
pub fn parse_sso(body: &[u8]) -> Result<Session, ResponseError> {
    let v = json(body)?;
    match (find_str(&v, "apiAccessToken"), find_str(&v, "sessionOrganizationId")) {
        (Some(t), Some(o)) if !t.is_empty() => {
            Ok(Session { access_token: Secret::new(t), organization_id: o.to_string() })
        }
        _ => Err(ResponseError::Missing { field: "apiAccessToken/sessionOrganizationId" }),
    }
}

/// Makes `session` the current one, as the next generation.
fn install(auth: &mut Auth, session: Session) -> (Arc<Session>, u64) {
    let session = Arc::new(session);
    auth.session = Some(session.clone());
    auth.generation += 1;
    (session, auth.generation)
}

/// Finds `key` as a string at the top level of `v` or one level down.
fn find_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    if let Some(s) = v.get(key).and_then(Value::as_str) {
        return Some(s);
    }
    v.as_object()?.values().find_map(|inner| inner.get(key).and_then(Value::as_str))
}

impl ApiClient {
    /// The current session and its generation, authenticating first if there is none (the first
    /// caller does; the others wait for it).
    pub(super) async fn current(&self) -> Result<(Arc<Session>, u64), FetchError> {
        let mut auth = self.auth.lock().await;
        if let Some(s) = &auth.session {
            return Ok((s.clone(), auth.generation));
        }
        let session = self.establish(&mut auth).await?;
        tracing::info!(account = %self.cfg.account, "authenticated");
        Ok(install(&mut auth, session))
    }

    /// The newest session without waiting; `None` while a login or renewal holds the lock.
    pub(super) fn newest(&self) -> Option<(Arc<Session>, u64)> {
        let auth = self.auth.try_lock().ok()?;
        auth.session.clone().map(|s| (s, auth.generation))
    }

    /// After a 401 to a request that carried the session of generation `seen`: renews the access
    /// token through SSO with the session's bearer, or logs in again when SSO refuses it. One
    /// renewal at a time: a request whose 401 came while another renewed finds a newer
    /// generation and returns at once, to send again with the new token.
    pub(super) async fn renew(&self, seen: u64) -> Result<(), FetchError> {
        let mut auth = self.auth.lock().await;
        if auth.session.is_some() && auth.generation != seen {
            return Ok(());
        }
        self.stats.reauthentications.fetch_add(1, Ordering::Relaxed);
        auth.session = None;
        let logins = self.stats.logins.load(Ordering::Relaxed);
        let session = self.establish(&mut auth).await?;
        if self.stats.logins.load(Ordering::Relaxed) == logins {
            self.stats.token_renewals.fetch_add(1, Ordering::Relaxed);
            tracing::info!(account = %self.cfg.account, "the access token expired: renewed through SSO");
        } else {
            tracing::info!(account = %self.cfg.account, "the access token expired and SSO refused the session's bearer: logged in again");
        }
        install(&mut auth, session);
        Ok(())
    }

    /// A new session: the given tokens; else SSO with the bearer of the login so far, or, when
    /// there is none or SSO refuses it, (discovery →) login → SSO.
    async fn establish(&self, auth: &mut Auth) -> Result<Session, FetchError> {
        let c = &self.cfg.credentials;
        if let (Some(token), Some(org)) = (&c.access_token, &c.organization_id) {
            return Ok(Session { access_token: token.clone(), organization_id: org.clone() });
        }
        if let Some(bearer) = auth.bearer.clone() {
            match self.retrying(|| self.sso(&bearer)).await {
                Ok(session) => return Ok(session),
                Err(e) if e.is_auth() => {
                    tracing::info!(error = %e, "SSO refused the session's bearer: logging in again");
                    auth.bearer = None;
                }
                Err(e) => return Err(e),
            }
        }
        let (Some(user), Some(password)) = (&c.username, &c.password) else {
            return Err(FetchError::BadResponse {
                target: self.auth_target(Endpoint::Login),
                reason: "no credentials: set BOTEVENTS_USERNAME and BOTEVENTS_PASSWORD (or BOTEVENTS_ACCESS_TOKEN and BOTEVENTS_ORGANIZATION_ID)".into(),
                correlation: CorrelationId::default(),
            });
        };
        let login_base = match (&self.cfg.login_url, &auth.login_base) {
            (Some(u), _) | (None, Some(u)) => u.clone(),
            (None, None) => {
                let u = self.retrying(|| self.discover()).await?;
                auth.login_base = Some(u.clone());
                u
            }
        };
        let bearer = self.retrying(|| self.login(&login_base, user, password)).await?;
        self.stats.logins.fetch_add(1, Ordering::Relaxed);
        auth.bearer = Some(bearer.clone());
        self.retrying(|| self.sso(&bearer)).await
    }

    async fn retrying<T, F, Fut>(&self, op: F) -> Result<T, FetchError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        with_retries(
            &self.cfg.retry,
            |_| op(),
            |e, n, wait| {
                tracing::warn!(error = %e, attempt = n, wait_ms = wait.as_millis() as u64, "retrying");
            },
        )
        .await
    }

    fn auth_target(&self, endpoint: Endpoint) -> Target {
        Target { endpoint, scope: format!("account {}", self.cfg.account) }
    }

    /// Sends an authentication request; the body of a 200 answer, with its correlationId.
    async fn body_of(
        &self,
        endpoint: Endpoint,
        rb: reqwest::RequestBuilder,
    ) -> Result<(Bytes, CorrelationId), FetchError> {
        let target = self.auth_target(endpoint);
        // Ahead of the data requests waiting for a permit: they need the token this call brings.
        self.limiter.acquire_first().await;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let resp = rb.send().await.map_err(|source| FetchError::Transport { target: target.clone(), source })?;
        let correlation = correlation_of(&resp);
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(FetchError::Unauthorized { target, status: status.as_u16(), correlation });
        }
        if status != StatusCode::OK {
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            let retry_after = retry_after_of(&resp);
            return Err(FetchError::Status { target, status: status.as_u16(), correlation, retry_after });
        }
        match resp.bytes().await {
            Ok(bytes) => Ok((bytes, correlation)),
            Err(source) => Err(FetchError::Body { target, bytes: 0, correlation, source }),
        }
    }

    /// An unusable 200 answer as a [`FetchError`] naming the endpoint and the correlationId.
    fn unusable(&self, endpoint: Endpoint, correlation: CorrelationId, e: ResponseError) -> FetchError {
        match e {
            ResponseError::BadUrl { url, reason } => FetchError::BadUrl { url, reason },
            ResponseError::Insecure { url } => FetchError::InsecureUrl { url },
            e => FetchError::BadResponse { target: self.auth_target(endpoint), reason: e.to_string(), correlation },
        }
    }

    async fn discover(&self) -> Result<Url, FetchError> {
        let acc = self.cfg.account.as_str();
        let mut url = join(&self.cfg.discovery_url, &["api", "account", acc, "service", "agentVep", "baseURI.json"])?;
        url.query_pairs_mut().append_pair("version", "1.0");
        let (body, correlation) = self.body_of(Endpoint::Discovery, self.http.get(url)).await?;
        let url = parse_discovery(&body).map_err(|e| self.unusable(Endpoint::Discovery, correlation, e))?;
        tracing::debug!(login = %url, "discovered the login host");
        Ok(url)
    }

    async fn login(&self, base: &Url, user: &Secret, password: &Secret) -> Result<Secret, FetchError> {
        let acc = self.cfg.account.as_str();
        let mut url = join(base, &["api", "account", acc, "login"])?;
        url.query_pairs_mut().append_pair("v", "1.3");
        let body = serde_json::json!({ "username": user.expose(), "password": password.expose() });
        let rb = self.http.post(url).header("x-api-key", self.cfg.credentials.api_key.expose()).json(&body);
        let (body, correlation) = match self.body_of(Endpoint::Login, rb).await {
            Ok(answer) => answer,
            // Too many logins: wait as told, or the vendor's 5 seconds.
            Err(FetchError::Status { target, status: 429, correlation, retry_after }) => {
                self.stats.logins_refused.fetch_add(1, Ordering::Relaxed);
                let wait = retry_after.unwrap_or(LOGIN_RETRY_AFTER);
                tracing::warn!(%correlation, wait_ms = wait.as_millis() as u64, "the Login Service refused a login for coming too often (429)");
                return Err(FetchError::Status { target, status: 429, correlation, retry_after: Some(wait) });
            }
            Err(e) => return Err(e),
        };
        parse_login(&body).map_err(|e| self.unusable(Endpoint::Login, correlation, e))
    }

    async fn sso(&self, bearer: &Secret) -> Result<Session, FetchError> {
        let url = join(&self.cfg.api_url, &["cb", "auth", "v1", "sso", "authenticate"])?;
        let rb = self
            .http
            .get(url)
            .header("x-api-key", self.cfg.credentials.api_key.expose())
            .header("Authorization", format!("Bearer {}", bearer.expose()));
        let (body, correlation) = self.body_of(Endpoint::Sso, rb).await?;
        parse_sso(&body).map_err(|e| self.unusable(Endpoint::Sso, correlation, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 401 is an expiry when a request sent before it was accepted with the same token, or a
    /// newer token works; otherwise (no token ever worked, or only requests sent after it were
    /// accepted) renewals may not cure it.
    #[test]
    fn a_401_after_an_earlier_acceptance_of_the_token_is_an_expiry() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let accepted = Accepted::default();
        assert!(!accepted.expired(1, at(100)), "no token has worked yet");
        accepted.note(1, at(200));
        assert!(accepted.expired(1, at(300)), "sent after an accepted request with the same token");
        assert!(accepted.expired(1, at(200)));
        assert!(!accepted.expired(1, at(150)), "sent before the first accepted one");
        // A request sent earlier with the same token, accepted later, moves the first send back.
        accepted.note(1, at(120));
        assert!(accepted.expired(1, at(150)));
        assert!(!accepted.expired(2, at(400)), "the renewed token has not worked yet");
        accepted.note(2, at(500));
        assert!(accepted.expired(1, at(100)), "a newer token works: the old one expired");
        assert!(!accepted.expired(2, at(450)));
        // A late answer to an older token changes nothing.
        accepted.note(1, at(50));
        assert!(!accepted.expired(2, at(450)));
        assert!(accepted.expired(2, at(500)));
    }

    #[test]
    fn tokens_found_at_top_level_or_nested() {
        let nested: Value = serde_json::json!({"success": true, "successResult": {"apiAccessToken": "t", "sessionOrganizationId": "o"}});
        assert_eq!(find_str(&nested, "apiAccessToken"), Some("t"));
        let flat: Value = serde_json::json!({"apiAccessToken": "t2", "sessionOrganizationId": "o2"});
        assert_eq!(find_str(&flat, "sessionOrganizationId"), Some("o2"));
        assert_eq!(find_str(&serde_json::json!({"a": {"b": {"apiAccessToken": "deep"}}}), "apiAccessToken"), None);
    }

    #[test]
    fn discovery_gives_a_login_base_url() {
        let base = |body: &str| parse_discovery(body.as_bytes()).map(|u| u.to_string());
        // The vendor's shape: a bare host, https unless it is loopback.
        assert_eq!(
            base(r#"{"service":"agentVep","account":"1","baseURI":"va.agentvep.liveperson.net"}"#).unwrap(),
            "https://va.agentvep.liveperson.net/"
        );
        assert_eq!(base(r#"{"baseURI":" 127.0.0.1:8080/ "}"#).unwrap(), "http://127.0.0.1:8080/");
        assert_eq!(base(r#"{"baseURI":"localhost"}"#).unwrap(), "http://localhost/");
        assert_eq!(base(r#"{"baseURI":"[::1]:9000"}"#).unwrap(), "http://[::1]:9000/");
        // A full URL is kept, with one trailing slash.
        assert_eq!(base(r#"{"baseURI":"https://lo.example.com:443//"}"#).unwrap(), "https://lo.example.com/");
        assert_eq!(base(r#"{"baseURI":"http://127.0.0.1:1/"}"#).unwrap(), "http://127.0.0.1:1/");
        // The Domain API's collection form: the agentVep entry, wherever it is listed.
        let listed = r#"{"baseURIs":[{"account":"1","service":"asyncMessagingEnt","baseURI":"va.msg.liveperson.net"},
            {"account":"1","service":"agentVep","baseURI":"va.agentvep.liveperson.net"}]}"#;
        assert_eq!(base(listed).unwrap(), "https://va.agentvep.liveperson.net/");
        assert_eq!(
            base(r#"{"baseURIs":[{"service":"AGENTVEP","baseURI":"127.0.0.1:9"}]}"#).unwrap(),
            "http://127.0.0.1:9/"
        );
    }

    #[test]
    fn discovery_refuses_what_it_cannot_use() {
        let err = |body: &str| parse_discovery(body.as_bytes()).unwrap_err();
        assert!(matches!(err("<html>busy</html>"), ResponseError::NotJson { .. }));
        assert_eq!(err("{}"), ResponseError::Missing { field: "baseURI" });
        assert_eq!(err(r#"{"baseURI":7}"#), ResponseError::Missing { field: "baseURI" });
        assert_eq!(err(r#"{"baseURI":" / "}"#), ResponseError::Missing { field: "baseURI" });
        assert_eq!(err(r#"["baseURI"]"#), ResponseError::Missing { field: "baseURI" });
        assert_eq!(
            err(r#"{"baseURIs":[{"service":"other","baseURI":"x.example.com"}]}"#),
            ResponseError::Missing { field: "baseURI" }
        );
        assert_eq!(err(r#"{"baseURIs":{}}"#), ResponseError::Missing { field: "baseURI" });
        assert!(
            matches!(err(r#"{"baseURI":"bad host:port"}"#), ResponseError::BadUrl { url, .. } if url == "https://bad host:port/")
        );
        assert_eq!(
            err(r#"{"baseURI":"http://lo.example.com"}"#),
            ResponseError::Insecure { url: "http://lo.example.com/".into() }
        );
        assert!(matches!(err(r#"{"baseURI":"ftp://127.0.0.1"}"#), ResponseError::Insecure { .. }));
    }

    #[test]
    fn login_finds_the_bearer() {
        assert_eq!(parse_login(br#"{"csrf":"x","bearer":"b1","config":{}}"#).unwrap().expose(), "b1");
        assert_eq!(parse_login(br#"{"successResult":{"bearer":"b2"}}"#).unwrap().expose(), "b2");
        for body in [&br#"{"bearer":""}"#[..], br#"{"bearer":null}"#, br#"{"a":{"b":{"bearer":"deep"}}}"#, b"7"] {
            assert_eq!(parse_login(body).unwrap_err(), ResponseError::Missing { field: "bearer token" });
        }
        let e = parse_login(b"{\"bearer\":").unwrap_err();
        assert!(matches!(e, ResponseError::NotJson { .. }), "{e:?}");
        assert!(e.to_string().starts_with("not JSON (EOF while parsing"), "{e}");
    }

    #[test]
    fn sso_finds_token_and_organization() {
        let s = parse_sso(
            br#"{"success":true,"successResult":{"apiAccessToken":"t","sessionOrganizationId":"o","sessionTtl":3600}}"#,
        )
        .unwrap();
        assert_eq!((s.access_token.expose(), s.organization_id.as_str()), ("t", "o"));
        let s = parse_sso(br#"{"apiAccessToken":"t2","sessionOrganizationId":""}"#).unwrap();
        assert_eq!((s.access_token.expose(), s.organization_id.as_str()), ("t2", ""));
        let missing = ResponseError::Missing { field: "apiAccessToken/sessionOrganizationId" };
        assert_eq!(parse_sso(br#"{"success":false}"#).unwrap_err(), missing);
        assert_eq!(parse_sso(br#"{"apiAccessToken":"","sessionOrganizationId":"o"}"#).unwrap_err(), missing);
        assert_eq!(parse_sso(br#"{"apiAccessToken":"t"}"#).unwrap_err(), missing);
        assert!(matches!(parse_sso(b"\xff").unwrap_err(), ResponseError::NotJson { .. }));
        assert_eq!(missing.to_string(), "no apiAccessToken/sessionOrganizationId in the response");
    }
}
