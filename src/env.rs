//! What the binary reads from the process for the library: the environment (with the AWS shared
//! profile) as one snapshot, and the `--config` file.

use botevents::config::{ConfigFile, Env};
use botevents::error::UsageError;

/// A snapshot of the process environment: every variable, and the AWS shared profile
/// (`AWS_PROFILE`, or `default`) read from the credentials and config files.
pub fn environment() -> Env {
    let vars: Vec<(String, String)> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let get = |k: &str| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone());
    let profile = get("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let home = get("HOME").unwrap_or_default();
    let creds = get("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{home}/.aws/credentials"));
    let config = get("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
    let read = |path: &str, section: &str| {
        std::fs::read_to_string(path).map(|text| ini_section(&text, section)).unwrap_or_default()
    };
    let mut aws_profile = read(&creds, &profile);
    let config_section = if profile == "default" { "default".to_string() } else { format!("profile {profile}") };
    aws_profile.extend(read(&config, &config_section));
    Env::new(vars, aws_profile)
}

/// The config file named by `--config` (read and parsed), or an empty one.
pub fn read_config(path: Option<&std::path::Path>) -> Result<ConfigFile, UsageError> {
    let Some(path) = path else { return Ok(ConfigFile::default()) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::Config { path: path.display().to_string(), reason: e.to_string() })?;
    ConfigFile::parse(path, &text)
}

/// The `key = value` lines of one `[section]` of an INI file.
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            inside = line[1..line.len() - 1].trim() == section;
        } else if inside && let Some((k, val)) = line.split_once('=') {
            out.push((k.trim().to_string(), val.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_sections() {
        let text = "[default]\naws_access_key_id = A\n[prod]\naws_access_key_id=B\naws_secret_access_key = S\n[profile prod]\nregion = eu-west-1\n";
        assert_eq!(ini_section(text, "default"), vec![("aws_access_key_id".to_string(), "A".to_string())]);
        assert_eq!(ini_section(text, "prod").len(), 2);
        assert_eq!(ini_section(text, "profile prod"), vec![("region".to_string(), "eu-west-1".to_string())]);
    }
}
