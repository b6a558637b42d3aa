//! `botevents check`: tries the configuration step by step — login (with the login host's
//! discovery), SSO, then one small request of each configured stream, with the configured interval
//! (the details of one hour of the last complete day, a whole day of the others, the histogram of
//! the first event of that day's catalog), for the first bot — decodes each answer as the export
//! does, and says which step failed and why, and which spelling of the API's parameters it took.
//!
//! The steps are the export's own ([`ApiClient::session`], [`ApiClient::send`], the decoders, the
//! same retry settings and `--max-bad-rows`), so a check passes exactly when an export of those
//! answers would.

use chrono::Days;

use crate::convert::{DecodeStats, decode_chunks};
use crate::error::{Error, Report};
use crate::export::ExportConfig;
use crate::fetch::retry::with_retries;
use crate::fetch::{ApiClient, DataRequest, Endpoint, FetchError, Target};
use crate::plan::{Calendar, Slice, midnight};
use crate::stream::Stream;

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
    /// `discovery`, `login`, `sso`, a stream (`total`, `detail`, `catalog`, `histogram`) or
    /// `dialect`.
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
    pub fn exit(&self) -> crate::exit::Exit {
        self.failure().map_or(crate::exit::Exit::Ok, |(_, e)| e.exit())
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
        for stream in check_order(&cfg.streams) {
            steps.push(Step { name: stream.as_str(), outcome: Outcome::Skipped("not authenticated".into()) });
        }
        return CheckReport { account, steps };
    }
    let Some(bot) = cfg.bots.first() else {
        steps.push(Step { name: "data", outcome: Outcome::Skipped("no bot configured".into()) });
        return CheckReport { account, steps };
    };
    let mut failed = false;
    let mut names: Option<Vec<String>> = None;
    for stream in check_order(&cfg.streams) {
        let outcome = if failed {
            Outcome::Skipped("an earlier step failed".into())
        } else {
            let req = match sample_request(cfg, bot, stream, names.as_deref()) {
                Ok(req) => req,
                Err(why) => {
                    steps.push(Step { name: stream.as_str(), outcome: Outcome::Skipped(why) });
                    continue;
                }
            };
            match sample(&client, cfg, &req).await {
                Ok(s) => {
                    if stream == Stream::Catalog {
                        names = Some(s.event_names.clone());
                    }
                    Outcome::Ok(s.describe(&req))
                }
                Err(e) => {
                    failed = true;
                    Outcome::Failed(e)
                }
            }
        };
        // The histogram needs the catalog's names; a catalog fetched only for them is no step.
        if stream == Stream::Catalog && !cfg.streams.contains(&Stream::Catalog) && !failed {
            continue;
        }
        steps.push(Step { name: stream.as_str(), outcome });
    }
    if !failed {
        steps.push(Step { name: "dialect", outcome: Outcome::Ok(client.dialect().to_string()) });
    }
    CheckReport { account, steps }
}

/// The streams a check tries, in the export's order: totals first (they settle `interval`'s
/// spelling), details, then the catalog whenever the histogram needs its names.
fn check_order(streams: &[Stream]) -> Vec<Stream> {
    let mut order: Vec<Stream> = Stream::FETCH_ORDER
        .into_iter()
        .filter(|s| streams.contains(s) || (*s == Stream::Catalog && streams.contains(&Stream::Histogram)))
        .collect();
    order.dedup();
    order
}

/// One small request of `stream`, as the export sends it: the first hour of the last complete day
/// for the details, that whole day for the other streams (the first event of its catalog for the
/// histogram).
fn sample_request(
    cfg: &ExportConfig,
    bot: &str,
    stream: Stream,
    names: Option<&[String]>,
) -> Result<DataRequest, String> {
    let cal = Calendar::new(cfg.now, cfg.retention_days);
    let day = cal.first_incomplete_day() - Days::new(1);
    let start = midnight(day);
    let len = if stream == Stream::Detail { chrono::Duration::hours(1) } else { chrono::Duration::days(1) };
    let (endpoint, interval, event_name) = match stream {
        Stream::Detail => (Endpoint::Detail, None, None),
        Stream::Total => (Endpoint::Total, Some(cfg.interval), None),
        Stream::Catalog => (Endpoint::Catalog, None, None),
        Stream::Histogram => {
            let name = names
                .unwrap_or_default()
                .iter()
                .find(|n| !n.trim().is_empty())
                .ok_or_else(|| format!("the catalog of bot {bot} on {day} lists no event to ask for"))?;
            (Endpoint::Histogram, Some(cfg.interval), Some(name.clone()))
        }
    };
    Ok(DataRequest { endpoint, bot: bot.to_string(), slice: Slice { start, end: start + len }, interval, event_name })
}

/// What a sample request gave.
struct Sampled {
    bytes: u64,
    stats: DecodeStats,
    event_names: Vec<String>,
    correlation: crate::fetch::CorrelationId,
}

impl Sampled {
    fn describe(&self, req: &DataRequest) -> String {
        let what = if self.stats.empty_body || self.stats.empty_list {
            "no events (an empty answer)".to_string()
        } else {
            format!("{} rows decoded", self.stats.rows)
        };
        let event = req.event_name.as_ref().map(|e| format!(" event {e:?}")).unwrap_or_default();
        format!(
            "{} bot {}{event} {}: {what}, {} bytes, {}",
            req.endpoint, req.bot, req.slice, self.bytes, self.correlation
        )
    }
}

/// Sends the request (with the export's retries), and decodes its body with the export's decoder:
/// an answer the export would refuse fails here too.
async fn sample(client: &ApiClient, cfg: &ExportConfig, req: &DataRequest) -> Result<Sampled, Error> {
    let (chunks, correlation, target) = with_retries(
        &cfg.api.retry,
        |_| async {
            let mut body = client.send(req).await?;
            let mut chunks: Vec<bytes::Bytes> = Vec::new();
            while let Some(chunk) = body.chunk().await? {
                chunks.push(chunk);
            }
            Ok((chunks, body.correlation.clone(), body.target().clone()))
        },
        |e: &FetchError, n, wait| {
            tracing::warn!(attempt = n, wait_ms = wait.as_millis() as u64, error = %Report(e), "retrying the data call");
        },
    )
    .await?;
    let mut decoder = crate::export::decoder_for(req, &cfg.api.account, cfg.interval);
    let context = format!("{target}, {correlation}");
    let mut batches = Vec::new();
    decode_chunks(&mut *decoder, chunks.iter().map(|c| &c[..]), &mut batches)
        .map_err(|source| Error::Convert { context: context.clone(), source })?;
    let stats = decoder.stats().clone();
    if stats.rejected > cfg.max_bad_rows {
        let first = decoder.take_rejects().into_iter().next();
        return Err(Error::Rejected {
            context,
            rejected: stats.rejected,
            max: cfg.max_bad_rows,
            rejects: "(not written by check)".into(),
            first_at: first.as_ref().map(|r| r.place()).unwrap_or_default(),
            first_reason: first.map(|r| r.reason).unwrap_or_default(),
        });
    }
    Ok(Sampled {
        bytes: chunks.iter().map(|c| c.len() as u64).sum(),
        stats,
        event_names: decoder.event_names().to_vec(),
        correlation,
    })
}

/// Checks every account of `cfgs` at the same time (each with its own client and rate limiter),
/// returning their reports in the order of `cfgs`. The exit status of the whole is the most
/// urgent of theirs ([`crate::exit::Exit::worst`]).
pub async fn check_all(cfgs: &[ExportConfig]) -> Vec<CheckReport> {
    futures::future::join_all(cfgs.iter().map(check)).await
}

fn endpoint_of(e: &FetchError) -> Option<Endpoint> {
    let target: &Target = match e {
        FetchError::Status { target, .. }
        | FetchError::Unauthorized { target, .. }
        | FetchError::Transport { target, .. }
        | FetchError::Body { target, .. }
        | FetchError::Decode { target, .. }
        | FetchError::BadResponse { target, .. } => target,
        FetchError::InsecureUrl { .. } | FetchError::BadUrl { .. } => return None,
    };
    Some(target.endpoint)
}
