//! The public error: one variant per thing a caller can act on, each with its exit status.

use crate::commit::StateError;
use crate::convert::ConvertError;
use crate::exit::Exit;
use crate::fetch::FetchError;
use crate::plan::PlanError;
use crate::write::WriteError;

/// What went wrong, as far as a caller (or a scheduler reading the exit status) is concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or configuration.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The requested range does not fit the API's limits.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Credentials or tokens were refused.
    #[error("authentication failed")]
    Auth(#[source] FetchError),
    /// A request failed for good.
    #[error("fetching failed")]
    Fetch(#[source] FetchError),
    /// A request kept failing until its retries (or the run's retry time) ran out.
    #[error("fetching failed after {attempts} attempts (correlationIds: {correlations})")]
    GaveUp {
        /// Attempts made, the first included.
        attempts: u32,
        /// Every attempt's correlationId (`none` where no response came), oldest first.
        correlations: String,
        /// The last attempt's error.
        #[source]
        source: FetchError,
    },
    /// A body could not be converted at all.
    #[error("{context}: data rejected")]
    Convert {
        /// Endpoint, account, bot, window or file.
        context: String,
        /// Why.
        #[source]
        source: ConvertError,
    },
    /// More bad rows than `--max-bad-rows` allows.
    #[error(
        "{context}: {rejected} rows rejected, more than --max-bad-rows {max}; see {rejects} (first: {first_at}: {first_reason})"
    )]
    Rejected {
        /// Endpoint, account, bot, window or file.
        context: String,
        /// Rows rejected.
        rejected: u64,
        /// The allowance.
        max: u64,
        /// Where the rejected rows were written.
        rejects: String,
        /// Where the first rejected row is: line, and column when one field is to blame.
        first_at: String,
        /// Why the first row was rejected.
        first_reason: String,
    },
    /// Even one hour of a bot holds the download cap: the API cannot deliver it whole.
    #[error("{context}: one hour holds {rows} rows, the API's download cap; refusing to export it incomplete")]
    RowCap {
        /// Endpoint, bot and window.
        context: String,
        /// Rows in the capped response.
        rows: u64,
    },
    /// Writing files failed.
    /// Writing failed; a bad id or destination is a usage error, and says so.
    #[error("{}", write_heading(.0))]
    Write(#[from] WriteError),
    /// Reading or committing the state failed (conflicts included).
    #[error("state failed")]
    State(#[from] StateError),
    /// Reading an input file failed.
    #[error("reading {path}")]
    Input {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Stopped early (signal or `--max-duration`) after committing what was done.
    #[error("stopped early ({reason}); progress is saved, run again to resume")]
    Stopped {
        /// Why.
        reason: String,
    },
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        if e.is_auth() { Error::Auth(e) } else { Error::Fetch(e) }
    }
}

impl Error {
    /// The documented exit status for this error.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) | Error::Plan(_) => Exit::Usage,
            Error::Auth(_) => Exit::Auth,
            Error::Convert { .. } | Error::Rejected { .. } => Exit::Rejected,
            Error::Stopped { .. } => Exit::Stopped,
            Error::Write(e) => e.exit(),
            Error::Fetch(e) | Error::GaveUp { source: e, .. } => e.exit(),
            Error::State(_) | Error::Input { .. } | Error::RowCap { .. } => Exit::Failure,
        }
    }
}

/// A usage or configuration error, quoting the offending value.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A required setting is missing.
    #[error("missing {what}: {hint}")]
    Missing {
        /// The setting.
        what: &'static str,
        /// How to provide it.
        hint: &'static str,
    },
    /// A setting has an invalid value.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// The setting.
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why.
        reason: String,
    },
    /// The config file cannot be read or parsed.
    #[error("config file {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Displays an error with its chain of causes, `outer: cause: root cause`, each once.
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut last = self.0.to_string();
        let mut cur = self.0.source();
        while let Some(e) = cur {
            let text = e.to_string();
            // A cause whose message its wrapper already ends with (a third-party error that
            // prints its own source, such as object_store's) is printed once.
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            cur = e.source();
        }
        Ok(())
    }
}

/// The heading of a write error: `usage` for what the user gave wrong (an id, a destination),
/// `writing failed` for everything else.
fn write_heading(e: &WriteError) -> &'static str {
    if e.exit() == crate::exit::Exit::Usage { "usage" } else { "writing failed" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each message of the chain is printed once, whether a variant wraps its cause
    /// transparently or names it.
    #[test]
    fn a_report_prints_each_message_once() {
        let usage: Error = UsageError::Missing { what: "account", hint: "pass --account ID" }.into();
        assert_eq!(Report(&usage).to_string(), "missing account: pass --account ID");
        assert!(std::error::Error::source(&usage).is_none(), "the usage error is the message itself");
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default();
        let plan: Error = PlanError::EmptyRange { start: day, end: day }.into();
        assert_eq!(Report(&plan).to_string(), plan.to_string());
        let write: Error = WriteError::BadId { what: "bot", id: "../etc".into() }.into();
        let text = Report(&write).to_string();
        assert!(text.starts_with("usage: ") && text.matches("../etc").count() == 1, "{text}");
        assert_eq!((usage.exit(), plan.exit(), write.exit()), (Exit::Usage, Exit::Usage, Exit::Usage));
    }
}
