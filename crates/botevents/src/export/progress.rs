//! Progress of a run, for whoever shows it (the binary draws a progress bar on a terminal).
//!
//! In: the counters the run notes into its [`RunSummary`](super::RunSummary) as it goes, and the
//! number of windows planned. Out: a [`ProgressSnapshot`] handed to a [`Progress`] sink after
//! every change. The library knows nothing of terminals; a sink decides how (and whether) to draw.

/// Where a run is, for one account. Every count only grows during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// The account.
    pub account: String,
    /// Windows the run will export, over all its bots (known once every bot's range is planned).
    pub windows_total: u64,
    /// Windows completed (all their files durable).
    pub windows_done: u64,
    /// Rows written, over all tables.
    pub rows: u64,
    /// Response bytes received.
    pub bytes_received: u64,
    /// Data requests sent.
    pub data_requests: u64,
}

/// Receives a run's progress. Called from the run's tasks after every change, so it must be cheap
/// and never block for long; it is never called while the run holds a lock.
pub trait Progress: Send + Sync {
    /// The run of `snapshot.account` moved on.
    fn update(&self, snapshot: &ProgressSnapshot);
}
