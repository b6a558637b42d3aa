//! The exit statuses botevents documents, and which of several wins.
//!
//! In: the outcome of a run or a check. Out: the status the process exits with. Depends on
//! nothing, so that every stage can say which status its errors mean.

use serde::{Serialize, Serializer};

/// A documented exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    #[default]
    Ok = 0,
    /// Any other failure.
    Failure = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// Authentication failure.
    Auth = 3,
    /// Data rejected (bad rows over `--max-bad-rows`).
    Rejected = 4,
    /// Stopped early with progress saved (resumable; `EX_TEMPFAIL`).
    Stopped = 75,
}

impl Exit {
    /// Exit statuses from the most to the least urgent, for a run of several accounts (or
    /// checks): the run exits with the first of these that any account exits with.
    /// Configuration (2) and credentials (3) need a person before anything can work, as does
    /// rejected data (4); other failures (1) may pass on a retry; a stop (75) resumes by itself;
    /// 0 is success.
    pub const PRECEDENCE: [Exit; 6] = [Exit::Usage, Exit::Auth, Exit::Rejected, Exit::Failure, Exit::Stopped, Exit::Ok];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The most urgent of `exits` by [`Exit::PRECEDENCE`]; [`Exit::Ok`] when there are none.
    pub fn worst(exits: impl IntoIterator<Item = Exit>) -> Exit {
        let rank = |e: &Exit| Exit::PRECEDENCE.iter().position(|p| p == e).unwrap_or(0);
        exits.into_iter().min_by_key(rank).unwrap_or(Exit::Ok)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// As its number (`"exit_code": 2` in run summaries).
impl Serialize for Exit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_urgent_status_wins() {
        use Exit::*;
        assert_eq!(Exit::worst([]), Ok);
        assert_eq!(Exit::worst([Ok, Stopped, Ok]), Stopped);
        assert_eq!(Exit::worst([Stopped, Failure]), Failure);
        assert_eq!(Exit::worst([Failure, Rejected, Stopped]), Rejected);
        assert_eq!(Exit::worst([Rejected, Auth, Failure]), Auth);
        assert_eq!(Exit::worst([Auth, Usage]), Usage);
        assert_eq!(serde_json::to_string(&Stopped).unwrap(), "75");
        assert_eq!(Usage.to_string(), "2");
    }
}
