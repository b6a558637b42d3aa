//! Authentication: discovery → login → SSO, as the vendor's page describes.

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use super::retry::with_retries;
use super::{
    ApiClient, CorrelationId, Endpoint, FetchError, Target, check_secure, correlation_of, join, retry_after_of,
};
use crate::secret::Secret;

/// The tokens data calls carry.
#[derive(Debug)]
pub struct Session {
    /// `apiAccessToken`, sent raw in the `authorization` header.
    pub access_token: Secret,
    /// `sessionOrganizationId`, sent in the `organizationId` header.
    pub organization_id: String,
}

/// Finds `key` as a string at the top level of `v` or one level down.
fn find_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    if let Some(s) = v.get(key).and_then(Value::as_str) {
        return Some(s);
    }
    v.as_object()?.values().find_map(|inner| inner.get(key).and_then(Value::as_str))
}

impl ApiClient {
    pub(super) async fn authenticate(&self) -> Result<Session, FetchError> {
        let c = &self.cfg.credentials;
        if let (Some(token), Some(org)) = (&c.access_token, &c.organization_id) {
            return Ok(Session { access_token: token.clone(), organization_id: org.clone() });
        }
        let (Some(user), Some(password)) = (&c.username, &c.password) else {
            return Err(FetchError::BadResponse {
                target: self.auth_target(Endpoint::Login),
                reason: "no credentials: set BOTEVENTS_USERNAME and BOTEVENTS_PASSWORD (or BOTEVENTS_ACCESS_TOKEN and BOTEVENTS_ORGANIZATION_ID)".into(),
                correlation: CorrelationId::default(),
            });
        };
        let login_base = match &self.cfg.login_url {
            Some(u) => u.clone(),
            None => self.retrying(|| self.discover()).await?,
        };
        let bearer = self.retrying(|| self.login(&login_base, user, password)).await?;
        let session = self.retrying(|| self.sso(&bearer)).await?;
        tracing::info!(account = %self.cfg.account, "authenticated");
        Ok(session)
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

    async fn json_of(&self, endpoint: Endpoint, rb: reqwest::RequestBuilder) -> Result<Value, FetchError> {
        let target = self.auth_target(endpoint);
        self.limiter.acquire().await;
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
        let bytes = resp.bytes().await.map_err(|source| FetchError::Body {
            target: target.clone(),
            bytes: 0,
            correlation: correlation.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| FetchError::BadResponse {
            target,
            reason: format!("not JSON ({e})"),
            correlation,
        })
    }

    async fn discover(&self) -> Result<Url, FetchError> {
        let acc = self.cfg.account.as_str();
        let mut url = join(&self.cfg.discovery_url, &["api", "account", acc, "service", "agentVep", "baseURI.json"])?;
        url.query_pairs_mut().append_pair("version", "1.0");
        let v = self.json_of(Endpoint::Discovery, self.http.get(url)).await?;
        let Some(base) = v.get("baseURI").and_then(Value::as_str) else {
            return Err(FetchError::BadResponse {
                target: self.auth_target(Endpoint::Discovery),
                reason: "no baseURI in the response".into(),
                correlation: CorrelationId::default(),
            });
        };
        let base = base.trim().trim_end_matches('/');
        let text = if base.contains("://") {
            format!("{base}/")
        } else {
            // The service answers with a bare host; loopback hosts (the simulator) speak http.
            let host = base.split(':').next().unwrap_or_default();
            let scheme = if host == "127.0.0.1" || host == "localhost" || host == "[::1]" { "http" } else { "https" };
            format!("{scheme}://{base}/")
        };
        let url = Url::parse(&text).map_err(|e| FetchError::BadUrl { url: text.clone(), reason: e.to_string() })?;
        check_secure(&url)?;
        tracing::debug!(login = %url, "discovered the login host");
        Ok(url)
    }

    async fn login(&self, base: &Url, user: &Secret, password: &Secret) -> Result<Secret, FetchError> {
        let acc = self.cfg.account.as_str();
        let mut url = join(base, &["api", "account", acc, "login"])?;
        url.query_pairs_mut().append_pair("v", "1.3");
        let body = serde_json::json!({ "username": user.expose(), "password": password.expose() });
        let rb = self.http.post(url).header("x-api-key", self.cfg.credentials.api_key.expose()).json(&body);
        let v = self.json_of(Endpoint::Login, rb).await?;
        match find_str(&v, "bearer") {
            Some(b) if !b.is_empty() => Ok(Secret::new(b)),
            _ => Err(FetchError::BadResponse {
                target: self.auth_target(Endpoint::Login),
                reason: "no bearer token in the login response".into(),
                correlation: CorrelationId::default(),
            }),
        }
    }

    async fn sso(&self, bearer: &Secret) -> Result<Session, FetchError> {
        let url = join(&self.cfg.api_url, &["cb", "auth", "v1", "sso", "authenticate"])?;
        let rb = self
            .http
            .get(url)
            .header("x-api-key", self.cfg.credentials.api_key.expose())
            .header("Authorization", format!("Bearer {}", bearer.expose()));
        let v = self.json_of(Endpoint::Sso, rb).await?;
        match (find_str(&v, "apiAccessToken"), find_str(&v, "sessionOrganizationId")) {
            (Some(t), Some(o)) if !t.is_empty() => {
                Ok(Session { access_token: Secret::new(t), organization_id: o.to_string() })
            }
            _ => Err(FetchError::BadResponse {
                target: self.auth_target(Endpoint::Sso),
                reason: "no apiAccessToken/sessionOrganizationId in the SSO response".into(),
                correlation: CorrelationId::default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_found_at_top_level_or_nested() {
        let nested: Value = serde_json::json!({"success": true, "successResult": {"apiAccessToken": "t", "sessionOrganizationId": "o"}});
        assert_eq!(find_str(&nested, "apiAccessToken"), Some("t"));
        let flat: Value = serde_json::json!({"apiAccessToken": "t2", "sessionOrganizationId": "o2"});
        assert_eq!(find_str(&flat, "sessionOrganizationId"), Some("o2"));
        assert_eq!(find_str(&serde_json::json!({"a": {"b": {"apiAccessToken": "deep"}}}), "apiAccessToken"), None);
    }
}
