//! The config file: TOML text → one [`ConfigFile`] per account.
//!
//! In: the text the binary read from `--config`. Out: the accounts it describes, each an
//! `[[accounts]]` entry with the top level's defaults filled in (or the whole single-account
//! file). Errors name the file, the place and the key, never a value (which may be a secret).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use url::Url;

use super::Env;
use crate::error::UsageError;
use crate::fetch::limiter::MaxRps;
use crate::secret::Secret;

/// The config file (TOML). Every key is optional; flags and environment win.
///
/// It describes one account with the top-level keys, or several with `[[accounts]]` entries:
/// each entry takes every top-level key but `accounts` (`account` is required there), and the
/// top-level keys other than `account` and `bots` are defaults for every entry. An entry's
/// value wins over the top level's; flags and environment win over both. Secrets can be given
/// as values (`api_key`) or as the name of an environment variable that holds them
/// (`api_key_env`), so that the file itself need not hold any.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Account id.
    pub account: Option<String>,
    /// Bot ids.
    #[serde(default)]
    pub bots: Vec<String>,
    /// Destination URL.
    pub dest: Option<String>,
    /// API base URL.
    pub api_url: Option<Url>,
    /// Login base URL.
    pub login_url: Option<Url>,
    /// Discovery URL.
    pub discovery_url: Option<Url>,
    /// Region.
    pub region: Option<String>,
    /// Request budget, requests/second (`max_rps = 2.5`: fractions allowed).
    pub max_rps: Option<MaxRps>,
    /// Retention.
    pub retention_days: Option<u32>,
    /// API key.
    pub api_key: Option<Secret>,
    /// The environment variable that holds the API key.
    pub api_key_env: Option<String>,
    /// Login name.
    pub username: Option<Secret>,
    /// The environment variable that holds the login name.
    pub username_env: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// The environment variable that holds the password.
    pub password_env: Option<String>,
    /// Object-store options (e.g. `aws_endpoint`, `aws_region`), passed to the store builder.
    #[serde(default)]
    pub store: BTreeMap<String, String>,
    /// Several accounts, each with its own API key, credentials, bots and settings.
    #[serde(default)]
    pub accounts: Vec<ConfigFile>,
    /// The file it was read from (for error messages).
    #[serde(skip)]
    path: Option<PathBuf>,
    /// The account, when this is an `[[accounts]]` entry (merged with the top level's defaults).
    #[serde(skip)]
    pub(super) entry: Option<String>,
}

/// Where and why a config file failed to parse, without its text: the parser's own message
/// quotes the line and, for a value of the wrong type, the value, which may be a secret.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    // serde's "invalid type: string \"…\", expected …" and "invalid value: …": the kind only.
    let message = match (message.split_once(": "), message.find(", expected")) {
        (Some((what @ ("invalid type" | "invalid value" | "invalid length"), rest)), Some(at)) => {
            let kind = rest.split([' ', ',']).next().unwrap_or_default();
            format!("{what}: {kind}{}", &message[at..])
        }
        _ => message.to_string(),
    };
    let Some(span) = e.span() else { return message };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
    format!("line {line}, column {column}: {message}")
}

impl ConfigFile {
    /// Parses the text of the config file read from `path` (named in error messages).
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, UsageError> {
        let mut file: ConfigFile = toml::from_str(text)
            .map_err(|e| UsageError::Config { path: path.display().to_string(), reason: toml_error(text, &e) })?;
        file.path = Some(path.to_path_buf());
        Ok(file)
    }

    /// The accounts the file describes, each as a file of its own (an `[[accounts]]` entry with
    /// the top level's defaults filled in), in the file's order; only `selected` when given
    /// (`--account`). A file without `[[accounts]]` is one account, whichever `selected` is.
    pub fn into_accounts(mut self, selected: Option<&str>) -> Result<Vec<ConfigFile>, UsageError> {
        if self.accounts.is_empty() {
            return Ok(vec![self]);
        }
        if self.account.is_some() || !self.bots.is_empty() {
            return Err(self.error("`account` and `bots` belong in the [[accounts]] entries when the file has them"));
        }
        let entries = std::mem::take(&mut self.accounts);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let Some(account) = e.account.clone() else {
                return Err(self.error(format!("[[accounts]] entry {} has no `account`", i + 1)));
            };
            if !e.accounts.is_empty() {
                return Err(self.error(format!("account {account:?}: an [[accounts]] entry cannot hold accounts")));
            }
            if !seen.insert(account.clone()) {
                return Err(self.error(format!("account {account:?} is listed twice")));
            }
            if selected.is_none_or(|s| s == account) {
                out.push(self.defaults_for(e));
            }
        }
        if out.is_empty() {
            let listed: Vec<&str> =
                seen.iter().map(String::as_str).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            return Err(self.error(format!(
                "account {:?} is not in the file (it lists {})",
                selected.unwrap_or_default(),
                listed.join(", ")
            )));
        }
        Ok(out)
    }

    /// `entry`, with what it leaves open taken from this (top-level) file.
    fn defaults_for(&self, e: ConfigFile) -> ConfigFile {
        let mut store = self.store.clone();
        store.extend(e.store);
        // A secret given in the entry, by value or by variable, replaces the top level's.
        let (api_key, api_key_env) = secret_or(e.api_key, e.api_key_env, &self.api_key, &self.api_key_env);
        let (username, username_env) = secret_or(e.username, e.username_env, &self.username, &self.username_env);
        let (password, password_env) = secret_or(e.password, e.password_env, &self.password, &self.password_env);
        ConfigFile {
            account: e.account.clone(),
            bots: e.bots,
            dest: e.dest.or_else(|| self.dest.clone()),
            api_url: e.api_url.or_else(|| self.api_url.clone()),
            login_url: e.login_url.or_else(|| self.login_url.clone()),
            discovery_url: e.discovery_url.or_else(|| self.discovery_url.clone()),
            region: e.region.or_else(|| self.region.clone()),
            max_rps: e.max_rps.or(self.max_rps),
            retention_days: e.retention_days.or(self.retention_days),
            api_key,
            api_key_env,
            username,
            username_env,
            password,
            password_env,
            store,
            accounts: Vec::new(),
            path: self.path.clone(),
            entry: e.account.clone(),
        }
    }

    /// A configuration error about this file.
    fn error(&self, reason: impl Into<String>) -> UsageError {
        let path = self.path.as_ref().map_or_else(|| "(none)".to_string(), |p| p.display().to_string());
        UsageError::Config { path, reason: reason.into() }
    }

    /// Where an error about this account's settings points: the account's entry, or the file.
    pub(super) fn account_error(&self, reason: impl std::fmt::Display) -> UsageError {
        match &self.entry {
            Some(a) => self.error(format!("account {a:?}: {reason}")),
            None => self.error(reason.to_string()),
        }
    }

    /// The secret given as `value`, or in the environment variable `var` names (`what_env`).
    pub(super) fn secret(
        &self,
        value: Option<Secret>,
        var: Option<String>,
        what: &str,
        env: &Env,
    ) -> Result<Option<Secret>, UsageError> {
        match (value, var) {
            (Some(_), Some(_)) => Err(self.account_error(format!("give either {what} or {what}_env, not both"))),
            (Some(v), None) => Ok(Some(v)),
            (None, Some(name)) => {
                match env.var(&name) {
                    Some(v) => Ok(Some(v.clone())),
                    _ => Err(self
                        .account_error(format!("{what}_env names the environment variable {name}, which is not set"))),
                }
            }
            (None, None) => Ok(None),
        }
    }
}

/// An entry's secret (value or variable) if it gives one, else the top level's.
fn secret_or(
    value: Option<Secret>,
    var: Option<String>,
    top_value: &Option<Secret>,
    top_var: &Option<String>,
) -> (Option<Secret>, Option<String>) {
    if value.is_some() || var.is_some() { (value, var) } else { (top_value.clone(), top_var.clone()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_errors_name_the_place_and_never_quote_a_value() {
        let path = Path::new("/etc/botevents.toml");
        for (text, place, reason) in [
            ("account = \"1\"\npasword = \"hunter2-secret\"\n", "line 2, column 1", "unknown field `pasword`"),
            ("account = \"1\"\napi_key = \"hunter2-secret\n", "line 2, column", ""),
            ("account = \"1\"\npassword = 4242424242\n", "line 2, column 12", "invalid type: integer, expected"),
            (
                "account = \"1\"\n[store]\naws_secret_access_key = [\"hunter2-secret\"]\n",
                "line 3",
                "invalid type: sequence",
            ),
        ] {
            let err = ConfigFile::parse(path, text).map(|_| ()).unwrap_err().to_string();
            assert!(!err.contains("hunter2") && !err.contains("4242"), "{err}");
            assert!(err.contains(place) && err.contains(reason) && err.contains("botevents.toml"), "{err}");
        }
    }
}
