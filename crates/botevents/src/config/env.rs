//! The process environment, as a snapshot the binary takes once.
//!
//! In: every variable of the environment and the keys of the AWS shared profile (read by the
//! binary). Out: the credential variables, the variables a config file's `*_env` keys name, and
//! the object-store options of a destination. Nothing here reads the process: a test builds an
//! [`Env`] from a list.

use std::collections::BTreeMap;

use crate::secret::Secret;

/// The environment of a run: its variables and the AWS shared profile.
#[derive(Debug, Default, Clone)]
pub struct Env {
    /// Every variable (secrets only come from here or the config file).
    vars: BTreeMap<String, Secret>,
    /// The `key = value` lines of the AWS shared profile (`AWS_PROFILE`, or `default`): those of
    /// the credentials file's section, then those of the config file's, as the binary read them.
    aws_profile: Vec<(String, String)>,
}

/// Prefixes of the variables passed to the store builders.
const STORE_PREFIXES: [&str; 4] = ["AWS_", "GOOGLE_", "AZURE_", "AZURITE_"];

/// The AWS profile's keys taken when the environment has none of its own.
const AWS_PROFILE_KEYS: [&str; 3] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

impl Env {
    /// An environment of `vars` (name, value) and the AWS shared profile's `key = value` lines.
    pub fn new(vars: impl IntoIterator<Item = (String, String)>, aws_profile: Vec<(String, String)>) -> Env {
        Env { vars: vars.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(), aws_profile }
    }

    /// The value of `name`, when it is set and not empty.
    pub fn var(&self, name: &str) -> Option<&Secret> {
        self.vars.get(name).filter(|v| !v.is_empty())
    }

    /// BOTEVENTS_API_KEY.
    pub fn api_key(&self) -> Option<Secret> {
        self.var("BOTEVENTS_API_KEY").cloned()
    }

    /// BOTEVENTS_USERNAME.
    pub fn username(&self) -> Option<Secret> {
        self.var("BOTEVENTS_USERNAME").cloned()
    }

    /// BOTEVENTS_PASSWORD.
    pub fn password(&self) -> Option<Secret> {
        self.var("BOTEVENTS_PASSWORD").cloned()
    }

    /// BOTEVENTS_ACCESS_TOKEN.
    pub fn access_token(&self) -> Option<Secret> {
        self.var("BOTEVENTS_ACCESS_TOKEN").cloned()
    }

    /// BOTEVENTS_ORGANIZATION_ID.
    pub fn organization_id(&self) -> Option<String> {
        self.var("BOTEVENTS_ORGANIZATION_ID").map(|s| s.expose().to_string())
    }

    /// The credential variables that are set (they belong to one account).
    pub(crate) fn credentials_set(&self) -> Vec<&'static str> {
        [
            "BOTEVENTS_API_KEY",
            "BOTEVENTS_USERNAME",
            "BOTEVENTS_PASSWORD",
            "BOTEVENTS_ACCESS_TOKEN",
            "BOTEVENTS_ORGANIZATION_ID",
        ]
        .into_iter()
        .filter(|name| self.var(name).is_some())
        .collect()
    }

    /// Object-store settings: every `AWS_*`, `GOOGLE_*`, `AZURE_*` and `AZURITE_*` variable in a
    /// stable order, plus the AWS profile's keys when no other AWS credentials are set (passed
    /// to the store builder of the destination's scheme; later entries win).
    pub fn store_options(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, _)| STORE_PREFIXES.iter().any(|p| k.starts_with(p)))
            .map(|(k, val)| (k.clone(), val.expose().to_string()))
            .collect();
        let has = |v: &[(String, String)], key: &str| v.iter().any(|(k, _)| k == key);
        if has(&v, "AWS_ACCESS_KEY_ID")
            || has(&v, "AWS_WEB_IDENTITY_TOKEN_FILE")
            || has(&v, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        {
            return v;
        }
        for (k, val) in &self.aws_profile {
            let key = k.to_ascii_uppercase();
            let wanted = AWS_PROFILE_KEYS.contains(&key.as_str()) || (k == "region" && !has(&v, "AWS_REGION"));
            if wanted
                && !v.iter().any(|(have, _)| have.eq_ignore_ascii_case(&key) || (k == "region" && have == "AWS_REGION"))
            {
                v.push((if k == "region" { "AWS_REGION".to_string() } else { key }, val.clone()));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)], profile: &[(&str, &str)]) -> Env {
        let pairs = |l: &[(&str, &str)]| l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        Env::new(pairs(vars), pairs(profile))
    }

    #[test]
    fn the_profile_fills_in_only_what_the_environment_leaves_open() {
        let profile = [("aws_access_key_id", "A"), ("aws_secret_access_key", "S"), ("region", "eu-west-1")];
        let e = env(&[("AWS_REGION", "us-east-1"), ("HOME", "/h"), ("BOTEVENTS_API_KEY", "")], &profile);
        assert_eq!(
            e.store_options(),
            [("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert!(e.api_key().is_none(), "an empty variable is not set");
        let own = env(&[("AWS_ACCESS_KEY_ID", "E")], &profile);
        assert_eq!(own.store_options(), [("AWS_ACCESS_KEY_ID".to_string(), "E".to_string())]);
    }
}
