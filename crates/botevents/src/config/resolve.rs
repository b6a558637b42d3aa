//! Options, environment and config file → one validated config per account.
//!
//! In: [`ExportOptions`], [`StateOptions`] or [`ConvertOptions`], the [`Env`] snapshot, the
//! parsed [`ConfigFile`] and the simulator's defaults. Out: [`ExportConfig`], [`PlanConfig`],
//! [`StateConfig`] or [`ConvertConfig`]. Every check is made before a destination is opened
//! (which creates a local one), and the first error found is the one returned.

use chrono::{DateTime, Utc};
use url::Url;

use super::{ConfigFile, ConvertOptions, Env, ExportOptions, SimulatorDefaults, StateOptions, write_options};
use crate::error::UsageError;
use crate::export::{ConvertConfig, ExportConfig};
use crate::fetch::limiter::MaxRps;
use crate::fetch::{ApiConfig, Credentials, DEFAULT_DISCOVERY_URL, Region, RetryConfig};
use crate::ops::plan::PlanConfig;
use crate::ops::state::StateConfig;
use crate::plan::{DEFAULT_RETENTION_DAYS, RangeRequest, Shard, StartFrom};
use crate::secret::Secret;
use crate::stream::Stream;
use crate::write::{DEFAULT_DEST, Destination, validate_id};

/// One export configuration per account: those of the config file's `[[accounts]]` (only
/// `--account`'s when given), or the one account of flags, environment and a single-account
/// file. `sim` is set when `--simulate` started a simulator; `now` is the clock unless `--now`
/// overrides it.
pub fn exports(
    opts: &ExportOptions,
    env: &Env,
    file: ConfigFile,
    sim: Option<&SimulatorDefaults>,
    now: DateTime<Utc>,
) -> Result<Vec<ExportConfig>, crate::Error> {
    account_files(opts, env, file)?.into_iter().map(|f| export_config(opts, f, env, sim, now)).collect()
}

/// What `plan` needs, per account (as [`exports`] picks them): no credentials and no URL,
/// since a plan sends nothing.
pub fn plans(
    opts: &ExportOptions,
    env: &Env,
    file: ConfigFile,
    sim: Option<&SimulatorDefaults>,
    now: DateTime<Utc>,
) -> Result<Vec<PlanConfig>, crate::Error> {
    account_files(opts, env, file)?.into_iter().map(|f| plan_config(opts, f, env, sim, now)).collect()
}

/// Where the states are, one per account of the config file (only `--account`'s when given).
pub fn states(
    opts: &StateOptions,
    env: &Env,
    file: ConfigFile,
    now: DateTime<Utc>,
) -> Result<Vec<StateConfig>, crate::Error> {
    let files = file.into_accounts(opts.account.as_deref())?;
    if files.len() > 1 && !opts.bots.is_empty() {
        return Err(UsageError::Invalid {
            what: "--bot",
            value: opts.bots.join(","),
            reason: "bots belong to one account, but the config file lists several: pick one with --account ID".into(),
        }
        .into());
    }
    for b in &opts.bots {
        validate_id("bot", b)?;
    }
    let mut out = Vec::new();
    for mut file in files {
        let account = opts
            .account
            .clone()
            .or(file.account.take())
            .ok_or(UsageError::Missing { what: "account", hint: "pass --account ID or set BOTEVENTS_ACCOUNT" })?;
        validate_id("account", &account)?;
        // Read, or reset where a state exists: a missing folder is not created.
        let dest = open_dest(opts.dest.clone(), &mut file, env, false)?;
        out.push(StateConfig {
            account,
            dest,
            bots: opts.bots.clone(),
            retention_days: retention_days(opts.retention_days, &file),
            now: opts.now.unwrap_or(now),
        });
    }
    Ok(out)
}

/// The configuration of `convert`. Every argument is checked before the destination is opened
/// (which creates a local one).
pub fn convert(opts: ConvertOptions, env: &Env) -> Result<ConvertConfig, crate::Error> {
    validate_id("account", &opts.account)?;
    validate_id("bot", &opts.bot)?;
    let write = write_options(opts.format, &opts.compression)?;
    let dest = Destination::open(opts.dest.as_deref().unwrap_or(DEFAULT_DEST), &env.store_options())?;
    Ok(ConvertConfig {
        table: opts.table,
        account: opts.account,
        bot: opts.bot,
        interval: opts.interval,
        dest,
        write,
        inputs: opts.inputs,
        max_bad_rows: opts.max_bad_rows,
    })
}

/// The only configuration of `configs`; several (a config file with several accounts) are a
/// usage error.
pub fn one_account<T>(mut configs: Vec<T>) -> Result<T, crate::Error> {
    match configs.len() {
        1 => Ok(configs.remove(0)),
        n => Err(UsageError::Invalid {
            what: "accounts",
            value: n.to_string(),
            reason: "this command takes one account: pick one with --account ID".into(),
        }
        .into()),
    }
}

/// The config file's accounts that this run covers, checking that flags and environment that
/// belong to one account are not given for several.
fn account_files(opts: &ExportOptions, env: &Env, file: ConfigFile) -> Result<Vec<ConfigFile>, crate::Error> {
    let files = file.into_accounts(opts.account.as_deref())?;
    if files.len() > 1 {
        let several = |what: &str| {
            let ids: Vec<&str> = files.iter().filter_map(|f| f.account.as_deref()).collect();
            UsageError::Invalid {
                what: "accounts",
                value: ids.join(","),
                reason: format!(
                    "{what} belongs to one account, but the config file runs {}: give it in each [[accounts]] entry, or run one account with --account ID",
                    ids.len()
                ),
            }
        };
        if !opts.bots.is_empty() {
            return Err(several("--bot (or BOTEVENTS_BOTS)").into());
        }
        if let Some(var) = env.credentials_set().first() {
            return Err(several(var).into());
        }
    }
    Ok(files)
}

/// One account's export configuration, from the options, the environment and `file` (the
/// account's entry with the top level's defaults, or the whole single-account file).
fn export_config(
    opts: &ExportOptions,
    mut file: ConfigFile,
    env: &Env,
    sim: Option<&SimulatorDefaults>,
    now: DateTime<Utc>,
) -> Result<ExportConfig, crate::Error> {
    let (account, bots) = account_and_bots(opts.account.clone(), opts.bots.clone(), &mut file, sim)?;
    let bots = shard_bots(opts.shard, &account, bots);
    let urls = api_urls(opts, &mut file, sim)?;
    let credentials = credentials(&mut file, env, sim)?;
    let dest = open_dest(opts.dest.clone(), &mut file, env, true)?;
    let range = range(opts)?;
    let write = write_options(opts.format, &opts.compression)?;
    Ok(ExportConfig {
        api: ApiConfig {
            account,
            api_url: urls.api,
            login_url: urls.login,
            discovery_url: urls.discovery,
            credentials,
            max_rps: max_rps(opts.max_rps, &file),
            retry: RetryConfig { max_retries: opts.max_retries, ..RetryConfig::default() },
            connect_timeout: opts.connect_timeout,
            read_timeout: opts.read_timeout,
        },
        bots,
        shard: opts.shard,
        dest,
        range,
        streams: unique_streams(&opts.streams),
        interval: opts.interval,
        write,
        retention_days: retention_days(opts.retention_days, &file),
        max_bad_rows: opts.max_bad_rows,
        row_cap: opts.row_cap.max(1),
        max_retry_time: opts.max_retry_time,
        now: opts.now.unwrap_or(now),
    })
}

fn plan_config(
    opts: &ExportOptions,
    mut file: ConfigFile,
    env: &Env,
    sim: Option<&SimulatorDefaults>,
    now: DateTime<Utc>,
) -> Result<PlanConfig, crate::Error> {
    let (account, bots) = account_and_bots(opts.account.clone(), opts.bots.clone(), &mut file, sim)?;
    let bots = shard_bots(opts.shard, &account, bots);
    let dest = open_dest(opts.dest.clone(), &mut file, env, false)?;
    Ok(PlanConfig {
        account,
        bots,
        dest,
        range: range(opts)?,
        streams: unique_streams(&opts.streams),
        retention_days: retention_days(opts.retention_days, &file),
        row_cap: opts.row_cap.max(1),
        max_rps: max_rps(opts.max_rps, &file),
        now: opts.now.unwrap_or(now),
    })
}

/// `--retention-days`, then the file's, then [`DEFAULT_RETENTION_DAYS`].
fn retention_days(flag: Option<u32>, file: &ConfigFile) -> u32 {
    flag.or(file.retention_days).unwrap_or(DEFAULT_RETENTION_DAYS)
}

/// `--max-rps`, then the file's, then [`MaxRps::DEFAULT`]. A budget above the vendor's 5
/// requests/second is taken as given (a test server, a raised limit), with a warning.
fn max_rps(flag: Option<MaxRps>, file: &ConfigFile) -> MaxRps {
    let rps = flag.or(file.max_rps).unwrap_or_default();
    if rps.above_vendor_limit() {
        tracing::warn!(
            max_rps = %rps,
            "a request budget above the vendor's 5 requests/second per API key: the API will answer some requests with 429"
        );
    }
    rps
}

/// The three base URLs of the API client.
struct ApiUrls {
    api: Url,
    login: Option<Url>,
    discovery: Url,
}

/// The API URL: `--api-url`, the file's, the simulator's, the region's (`--region`, then the
/// file's), then [`crate::fetch::DEFAULT_API_URL`]; the login URL: flag, file, simulator (or
/// discovered at run time); the discovery URL: flag, file, simulator, a loopback API itself, then
/// [`DEFAULT_DISCOVERY_URL`]. Each must be https (or loopback).
fn api_urls(
    opts: &ExportOptions,
    file: &mut ConfigFile,
    sim: Option<&SimulatorDefaults>,
) -> Result<ApiUrls, crate::Error> {
    let region_url = match (opts.region, file.region.as_deref()) {
        (Some(r), _) => Some(r.api_url().to_string()),
        (None, Some(r)) => Some(
            Region::parse(r, true)
                .map_err(|reason| UsageError::Invalid { what: "region", value: r.to_string(), reason })?
                .api_url()
                .to_string(),
        ),
        (None, None) => None,
    };
    let sim_url = sim.map(|s| s.url.clone());
    let api_url = match (opts.api_url.clone(), file.api_url.take(), sim_url.clone(), region_url) {
        (Some(u), ..) | (None, Some(u), ..) | (None, None, Some(u), _) => u,
        (None, None, None, Some(r)) => Url::parse(&r).map_err(|e| invalid("--region", &r, e))?,
        (None, None, None, None) => {
            Url::parse(crate::fetch::DEFAULT_API_URL).map_err(|e| invalid("--api-url", "", e))?
        }
    };
    let login_url = opts.login_url.clone().or(file.login_url.take()).or_else(|| sim_url.clone());
    // A loopback API is a stand-in that serves every endpoint itself (SPEC §6): discover the
    // login host there too, rather than asking the real domain service.
    let loopback_api = crate::fetch::check_secure(&api_url).is_ok() && api_url.scheme() == "http";
    let local_discovery = loopback_api.then(|| api_url.clone());
    let discovery_url = match opts.discovery_url.clone().or(file.discovery_url.take()).or(sim_url).or(local_discovery) {
        Some(u) => u,
        None => Url::parse(DEFAULT_DISCOVERY_URL).map_err(|e| invalid("--discovery-url", DEFAULT_DISCOVERY_URL, e))?,
    };
    for (what, u) in
        [("--api-url", Some(&api_url)), ("--login-url", login_url.as_ref()), ("--discovery-url", Some(&discovery_url))]
    {
        if let Some(u) = u {
            crate::fetch::check_secure(u).map_err(|e| UsageError::Invalid {
                what,
                value: u.to_string(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(ApiUrls { api: api_url, login: login_url, discovery: discovery_url })
}

/// The credentials: each secret from the environment, then the file (by value or by the
/// variable its `*_env` key names), then the simulator; the access token and organization id
/// from the environment only.
fn credentials(file: &mut ConfigFile, env: &Env, sim: Option<&SimulatorDefaults>) -> Result<Credentials, crate::Error> {
    let file_api_key = {
        let (value, var) = (file.api_key.take(), file.api_key_env.take());
        file.secret(value, var, "api_key", env)?
    };
    let file_username = {
        let (value, var) = (file.username.take(), file.username_env.take());
        file.secret(value, var, "username", env)?
    };
    let file_password = {
        let (value, var) = (file.password.take(), file.password_env.take());
        file.secret(value, var, "password", env)?
    };
    let api_key = match env.api_key().or(file_api_key).or_else(|| sim.map(|s| Secret::new(s.api_key.clone()))) {
        Some(k) => k,
        None if file.entry.is_some() => {
            return Err(file
                .account_error("no API key: set api_key, or api_key_env naming the variable that holds it")
                .into());
        }
        None => {
            return Err(UsageError::Missing {
                what: "API key",
                hint: "set BOTEVENTS_API_KEY (or api_key in the config file)",
            }
            .into());
        }
    };
    let credentials = Credentials {
        api_key,
        username: env.username().or(file_username).or_else(|| sim.map(|s| Secret::new(s.username.clone()))),
        password: env.password().or(file_password).or_else(|| sim.map(|s| Secret::new(s.password.clone()))),
        access_token: env.access_token(),
        organization_id: env.organization_id(),
    };
    if credentials.access_token.is_none() && (credentials.username.is_none() || credentials.password.is_none()) {
        if file.entry.is_some() {
            return Err(file
                .account_error("no username or password: set username and password (or username_env and password_env)")
                .into());
        }
        return Err(UsageError::Missing {
            what: "credentials",
            hint: "set BOTEVENTS_USERNAME and BOTEVENTS_PASSWORD, or BOTEVENTS_ACCESS_TOKEN and BOTEVENTS_ORGANIZATION_ID",
        }
        .into());
    }
    if credentials.access_token.is_some() != credentials.organization_id.is_some() && credentials.username.is_none() {
        return Err(UsageError::Missing {
            what: "BOTEVENTS_ORGANIZATION_ID",
            hint: "an access token needs its sessionOrganizationId",
        }
        .into());
    }
    Ok(credentials)
}

/// `--start`, `--end`, `--last`, `--lookback-days`, `--allow-partial-days`.
fn range(opts: &ExportOptions) -> Result<RangeRequest, crate::Error> {
    let start = match (opts.start, opts.last) {
        (Some(d), _) => StartFrom::Day(d),
        (None, Some(n)) => StartFrom::Last(n),
        (None, None) => StartFrom::Cursor(None),
    };
    if let (Some(s), Some(e)) = (opts.start, opts.end)
        && e <= s
    {
        return Err(crate::plan::PlanError::EmptyRange { start: s, end: e }.into());
    }
    Ok(RangeRequest {
        start,
        end: opts.end,
        lookback_days: opts.lookback_days,
        allow_partial_days: opts.allow_partial_days,
    })
}

/// `--streams`, each once, in the order given.
fn unique_streams(streams: &[Stream]) -> Vec<Stream> {
    let mut streams = streams.to_vec();
    let mut seen = std::collections::HashSet::new();
    streams.retain(|st| seen.insert(*st));
    streams
}

/// The account and the bots (each once, validated): flags and environment, then the config file,
/// then the simulator's.
fn account_and_bots(
    account: Option<String>,
    bots: Vec<String>,
    file: &mut ConfigFile,
    sim: Option<&SimulatorDefaults>,
) -> Result<(String, Vec<String>), crate::Error> {
    let account = account
        .or(file.account.take())
        .or_else(|| sim.map(|s| s.account.clone()))
        .ok_or(UsageError::Missing { what: "account", hint: "pass --account ID or set BOTEVENTS_ACCOUNT" })?;
    validate_id("account", &account)?;
    let mut bots = if !bots.is_empty() {
        bots
    } else if !file.bots.is_empty() {
        std::mem::take(&mut file.bots)
    } else {
        sim.map(|s| s.bots.clone()).unwrap_or_default()
    };
    bots.retain(|b| !b.trim().is_empty());
    if bots.is_empty() {
        return Err(
            UsageError::Missing { what: "bots", hint: "pass --bot ID (repeatable) or set BOTEVENTS_BOTS=a,b" }.into()
        );
    }
    for b in &bots {
        validate_id("bot", b)?;
    }
    let mut seen = std::collections::HashSet::new();
    bots.retain(|b| seen.insert(b.clone()));
    Ok((account, bots))
}

/// The bots of `--shard K/N` (all of them without it), saying how many and which: a shard with
/// none is no error, so that N workers can be started whatever the number of bots.
fn shard_bots(shard: Option<Shard>, account: &str, bots: Vec<String>) -> Vec<String> {
    let Some(shard) = shard else { return bots };
    let of = bots.len();
    let mine = shard.select(account, bots);
    if mine.is_empty() {
        tracing::info!("shard {shard} holds none of the {of} bots: nothing to export");
    } else {
        tracing::info!(bots = %mine.join(","), "shard {shard}: {} of the {of} bots", mine.len());
    }
    mine
}

/// The destination: `--dest`, then the config file, then the default; store options from the
/// config file's `[store]` table, then the environment. A missing local folder is created only
/// when `create` (a command that writes); otherwise it reads as empty.
fn open_dest(
    dest: Option<String>,
    file: &mut ConfigFile,
    env: &Env,
    create: bool,
) -> Result<Destination, crate::Error> {
    let dest_url = dest.or(file.dest.take()).unwrap_or_else(|| DEFAULT_DEST.to_string());
    let mut store_opts: Vec<(String, String)> = std::mem::take(&mut file.store).into_iter().collect();
    store_opts.extend(env.store_options());
    Ok(if create {
        Destination::open(&dest_url, &store_opts)?
    } else {
        Destination::open_existing(&dest_url, &store_opts)?
    })
}

fn invalid(what: &'static str, value: &str, e: impl std::fmt::Display) -> UsageError {
    UsageError::Invalid { what, value: value.to_string(), reason: e.to_string() }
}
