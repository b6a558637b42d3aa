//! `botevents check`: tries the configuration step by step — login (with the login host's
//! discovery), SSO, and one small data call (the details of one hour of the last complete day,
//! for the first bot) — and says which step failed and why.
//!
//! The steps are the export's own ([`ApiClient::session`], [`ApiClient::send`], the same retry
//! settings), so a check that passes means an export can log in and fetch.

use chrono::Days;

use crate::error::{Error, Report};
use crate::export::ExportConfig;
use crate::fetch::retry::with_retries;
use crate::fetch::{ApiClient, DataRequest, Endpoint, FetchError, Target};
use crate::plan::{Calendar, Slice, midnight};

/// How one step went.
#[derive(Debug)]
pub enum Outcome {
    /// It worked; what it found.
    Ok(String),
    /// It failed.
    Failed(Error),
    /// It was not tried; why.
    Skipped(String),
}

/// One step of a check.
#[derive(Debug)]
pub struct Step {
    /// `discovery`, `login`, `sso` or `data`.
    pub name: &'static str,
    /// How it went.
    pub outcome: Outcome,
}

/// Every step of a check, in order.
#[derive(Debug)]
pub struct CheckReport {
    /// Account id.
    pub account: String,
    /// The steps.
    pub steps: Vec<Step>,
}

impl CheckReport {
    /// The first failure, if any (its exit status is the check's).
    pub fn failure(&self) -> Option<(&'static str, &Error)> {
        self.steps.iter().find_map(|s| match &s.outcome {
            Outcome::Failed(e) => Some((s.name, e)),
            _ => None,
        })
    }

    /// The exit status of the check: 0 when every step passed, else the failure's.
    pub fn exit_code(&self) -> i32 {
        self.failure().map_or(crate::error::EXIT_OK, |(_, e)| e.exit_code())
    }

    /// One line per step.
    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = format!("check of account {}\n", self.account);
        for step in &self.steps {
            let _ = match &step.outcome {
                Outcome::Ok(what) => writeln!(s, "  {:<10} ok       {what}", step.name),
                Outcome::Failed(e) => writeln!(s, "  {:<10} FAILED   {}", step.name, Report(e)),
                Outcome::Skipped(why) => writeln!(s, "  {:<10} skipped  {why}", step.name),
            };
        }
        let _ = match self.failure() {
            None => writeln!(s, "all steps passed"),
            Some((name, _)) => writeln!(s, "check failed at {name}"),
        };
        s
    }
}

/// Runs the check against the API of `cfg` (its first bot for the data call).
pub async fn check(cfg: &ExportConfig) -> CheckReport {
    let mut steps = Vec::new();
    let account = cfg.api.account.clone();
    let client = match ApiClient::new(cfg.api.clone()) {
        Ok(c) => c,
        Err(e) => {
            steps.push(Step { name: "setup", outcome: Outcome::Failed(e.into()) });
            return CheckReport { account, steps };
        }
    };
    let token_given = cfg.api.credentials.access_token.is_some() && cfg.api.credentials.organization_id.is_some();
    let discovers = cfg.api.login_url.is_none();
    let mut auth_steps: Vec<(&'static str, Endpoint)> = Vec::new();
    if !token_given {
        if discovers {
            auth_steps.push(("discovery", Endpoint::Discovery));
        }
        auth_steps.push(("login", Endpoint::Login));
        auth_steps.push(("sso", Endpoint::Sso));
    }
    let authenticated = match client.session().await {
        Ok(_) => {
            if token_given {
                steps.push(Step {
                    name: "login",
                    outcome: Outcome::Skipped("BOTEVENTS_ACCESS_TOKEN given: no login or SSO".into()),
                });
            }
            for (name, endpoint) in &auth_steps {
                steps.push(Step { name, outcome: Outcome::Ok(format!("{endpoint} answered")) });
            }
            true
        }
        Err(e) => {
            // The error names the endpoint that failed; the steps before it passed.
            let failed = endpoint_of(&e).or_else(|| auth_steps.first().map(|(_, ep)| *ep)).unwrap_or(Endpoint::Login);
            let mut err = Some(Error::from(e));
            for (name, endpoint) in &auth_steps {
                let outcome = if *endpoint < failed {
                    Outcome::Ok(format!("{endpoint} answered"))
                } else if let Some(e) = err.take() {
                    Outcome::Failed(e)
                } else {
                    Outcome::Skipped("an earlier step failed".into())
                };
                steps.push(Step { name, outcome });
            }
            if let Some(e) = err {
                steps.push(Step { name: "login", outcome: Outcome::Failed(e) });
            }
            false
        }
    };
    if !authenticated {
        steps.push(Step { name: "data", outcome: Outcome::Skipped("not authenticated".into()) });
        return CheckReport { account, steps };
    }
    let Some(bot) = cfg.bots.first() else {
        steps.push(Step { name: "data", outcome: Outcome::Skipped("no bot configured".into()) });
        return CheckReport { account, steps };
    };
    let cal = Calendar::new(cfg.now, cfg.retention_days);
    let day = cal.first_incomplete_day() - Days::new(1);
    let start = midnight(day);
    let req = DataRequest {
        endpoint: Endpoint::Detail,
        bot: bot.clone(),
        slice: Slice { start, end: start + chrono::Duration::hours(1) },
        interval: None,
        event_name: None,
    };
    let outcome = match data_call(&client, cfg, &req).await {
        Ok((bytes, lines, correlation)) => Outcome::Ok(format!(
            "{} bot {bot} {}: {} CSV lines, {bytes} bytes, {correlation}",
            req.endpoint, req.slice, lines
        )),
        Err(e) => Outcome::Failed(e.into()),
    };
    steps.push(Step { name: "data", outcome });
    CheckReport { account, steps }
}

/// Checks every account of `cfgs` at the same time (each with its own client and rate limiter),
/// returning their reports in the order of `cfgs`. The exit status of the whole is the most
/// urgent of theirs ([`crate::export::worst_exit_code`]).
pub async fn check_all(cfgs: &[ExportConfig]) -> Vec<CheckReport> {
    futures::future::join_all(cfgs.iter().map(check)).await
}

/// Sends the request (with the export's retries) and reads its whole body: bytes, lines, and
/// the correlationId.
async fn data_call(
    client: &ApiClient,
    cfg: &ExportConfig,
    req: &DataRequest,
) -> Result<(u64, u64, crate::fetch::CorrelationId), FetchError> {
    with_retries(
        &cfg.api.retry,
        |_| async {
            let mut body = client.send(req).await?;
            let (mut bytes, mut lines) = (0u64, 0u64);
            while let Some(chunk) = body.chunk().await? {
                bytes += chunk.len() as u64;
                lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            }
            Ok((bytes, lines, body.correlation.clone()))
        },
        |e, n, wait| {
            tracing::warn!(attempt = n, wait_ms = wait.as_millis() as u64, error = %Report(e), "retrying the data call");
        },
    )
    .await
}

fn endpoint_of(e: &FetchError) -> Option<Endpoint> {
    let target: &Target = match e {
        FetchError::Status { target, .. }
        | FetchError::Unauthorized { target, .. }
        | FetchError::Transport { target, .. }
        | FetchError::Body { target, .. }
        | FetchError::BadResponse { target, .. } => target,
        FetchError::InsecureUrl { .. } | FetchError::BadUrl { .. } => return None,
    };
    Some(target.endpoint)
}
