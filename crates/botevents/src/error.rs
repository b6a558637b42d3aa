//! The public error: one variant per thing a caller can act on, each with its exit status.

use crate::commit::StateError;
use crate::convert::ConvertError;
use crate::fetch::FetchError;
use crate::plan::PlanError;
use crate::write::WriteError;

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: any other failure.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: usage or configuration error.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: authentication failure.
pub const EXIT_AUTH: i32 = 3;
/// Exit status: data rejected (bad rows over `--max-bad-rows`).
pub const EXIT_REJECTED: i32 = 4;
/// Exit status: stopped early with progress saved (resumable; `EX_TEMPFAIL`).
pub const EXIT_STOPPED: i32 = 75;

/// What went wrong, as far as a caller (or a scheduler reading the exit status) is concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or configuration.
    #[error("{0}")]
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
    #[error("writing failed")]
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
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Plan(_) => EXIT_USAGE,
            Error::Auth(_) => EXIT_AUTH,
            Error::Convert { .. } | Error::Rejected { .. } => EXIT_REJECTED,
            Error::Stopped { .. } => EXIT_STOPPED,
            Error::Write(WriteError::BadId { .. } | WriteError::Destination { .. }) => EXIT_USAGE,
            Error::Fetch(FetchError::InsecureUrl { .. } | FetchError::BadUrl { .. }) => EXIT_USAGE,
            Error::Fetch(_) | Error::Write(_) | Error::State(_) | Error::Input { .. } | Error::RowCap { .. } => {
                EXIT_FAILURE
            }
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
            // Transparent wrappers repeat their source's message; print it once.
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            cur = e.source();
        }
        Ok(())
    }
}
