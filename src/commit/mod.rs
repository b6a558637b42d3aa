//! Committing: per-bot cursors at `{dest}/_botevents/state/{account}/{bot}.json`.
//!
//! In: the windows whose files are durable. Out: a versioned JSON document per bot saying, per
//! stream, the first day not yet exported. Guarantees: a cursor only moves forward and only past
//! complete days; it is written after the files it covers; a concurrent writer of the same bot is
//! detected through conditional puts (`PutMode::Create` for a new state, `PutMode::Update` with
//! the version read for an existing one) and reported as a conflict instead of being overwritten.
//! On stores without conditional updates (local disk), the version read is compared again just
//! before an atomic overwrite.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::write::Destination;

/// The state document's format version.
pub const STATE_VERSION: u32 = 1;

/// The saved progress of one bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotState {
    /// Format version ([`STATE_VERSION`]).
    pub version: u32,
    /// Account id.
    pub account: String,
    /// Bot id.
    pub bot: String,
    /// Per stream (`detail`, `total`, …): the first day not yet exported.
    pub cursors: BTreeMap<String, NaiveDate>,
    /// When this document was written (for operators; never inside data files).
    pub updated_at: DateTime<Utc>,
    /// The run that wrote it, and how many commits that run has made: every write differs, so
    /// a store whose version is a content hash (S3's ETag) still tells two writers apart.
    #[serde(default)]
    pub written_by: String,
}

impl BotState {
    /// An empty state.
    pub fn new(account: &str, bot: &str, now: DateTime<Utc>) -> BotState {
        BotState {
            version: STATE_VERSION,
            account: account.to_string(),
            bot: bot.to_string(),
            cursors: BTreeMap::new(),
            updated_at: now,
            written_by: String::new(),
        }
    }

    /// Moves a stream's cursor to `day` unless it is already further.
    pub fn advance(&mut self, stream: &str, day: NaiveDate) -> bool {
        let c = self.cursors.entry(stream.to_string()).or_insert(day);
        if *c < day {
            *c = day;
            true
        } else {
            *c == day
        }
    }
}

/// A state operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another run changed the state since this run read it.
    #[error(
        "conflict on {path}: another run of the same bot wrote it since this run read it; nothing was overwritten (run again once the other run has finished)"
    )]
    Conflict {
        /// The state object.
        path: String,
    },
    /// The store failed.
    #[error("{op} state {path}")]
    Store {
        /// What was being done.
        op: &'static str,
        /// The state object.
        path: String,
        /// Why.
        #[source]
        source: object_store::Error,
    },
    /// The document cannot be read.
    #[error("state {path} is not a botevents state document")]
    Corrupt {
        /// The state object.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Written by a newer botevents.
    #[error("state {path} has version {found}; this botevents reads version {STATE_VERSION}")]
    Version {
        /// The state object.
        path: String,
        /// The version found.
        found: u32,
    },
}

/// A state as read, with the version needed to update it conditionally.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The state.
    pub state: BotState,
    /// The stored object's version; `None` when there was no state yet.
    pub version: Option<UpdateVersion>,
}

/// Reads and writes bot states at a destination.
#[derive(Debug, Clone)]
pub struct StateStore {
    dest: Destination,
    run_id: String,
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl StateStore {
    /// The state store of a destination.
    pub fn new(dest: Destination) -> StateStore {
        let run_id = format!("{:016x}", fastrand::u64(..));
        StateStore { dest, run_id, commits: Default::default() }
    }

    /// Loads a bot's state, or a new empty one.
    pub async fn load(&self, account: &str, bot: &str, now: DateTime<Utc>) -> Result<Loaded, StateError> {
        let path = self.dest.state_path(account, bot);
        let store = self.dest.store();
        let got = match store.get(&path).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Ok(Loaded { state: BotState::new(account, bot, now), version: None });
            }
            Err(source) => return Err(StateError::Store { op: "reading", path: path.to_string(), source }),
        };
        let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
        let bytes =
            got.bytes().await.map_err(|source| StateError::Store { op: "reading", path: path.to_string(), source })?;
        #[derive(Deserialize)]
        struct Probe {
            version: u32,
        }
        let probe: Probe =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path: path.to_string(), source })?;
        if probe.version != STATE_VERSION {
            return Err(StateError::Version { path: path.to_string(), found: probe.version });
        }
        let state: BotState =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path: path.to_string(), source })?;
        Ok(Loaded { state, version: Some(version) })
    }

    /// Writes a bot's state if nobody else has since `loaded` was read; returns the new version.
    pub async fn commit(&self, loaded: &mut Loaded, now: DateTime<Utc>) -> Result<(), StateError> {
        loaded.state.updated_at = now;
        let seq = self.commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        loaded.state.written_by = format!("{}#{seq}", self.run_id);
        let path = self.dest.state_path(&loaded.state.account, &loaded.state.bot);
        let mut json = serde_json::to_vec_pretty(&loaded.state).unwrap_or_default();
        json.push(b'\n');
        let payload = PutPayload::from(Bytes::from(json));
        let store = self.dest.store();
        let mode = match &loaded.version {
            None => PutMode::Create,
            Some(v) => PutMode::Update(v.clone()),
        };
        let conflict = || StateError::Conflict { path: path.to_string() };
        let result = store.put_opts(&path, payload.clone(), PutOptions::from(mode)).await;
        let put = match result {
            Ok(r) => r,
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                return Err(conflict());
            }
            Err(object_store::Error::NotImplemented { .. }) => {
                // Local disk: no conditional update. Compare the version again, then replace
                // atomically (temp file + rename).
                let head = store.head(&path).await.map_err(|source| StateError::Store {
                    op: "checking",
                    path: path.to_string(),
                    source,
                })?;
                let expected = loaded.version.as_ref().and_then(|v| v.e_tag.clone());
                if head.e_tag != expected {
                    return Err(conflict());
                }
                store.put(&path, payload).await.map_err(|source| StateError::Store {
                    op: "writing",
                    path: path.to_string(),
                    source,
                })?
            }
            Err(source) => return Err(StateError::Store { op: "writing", path: path.to_string(), source }),
        };
        loaded.version = Some(UpdateVersion { e_tag: put.e_tag, version: put.version });
        tracing::debug!(path = %path, "committed state");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z").unwrap().with_timezone(&Utc)
    }
    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    async fn round_trip_and_conflict(dest: Destination) {
        let store = StateStore::new(dest);
        let mut a = store.load("acc", "bot", now()).await.unwrap();
        assert!(a.version.is_none());
        a.state.advance("detail", day("2026-11-20"));
        store.commit(&mut a, now()).await.unwrap();
        let mut b = store.load("acc", "bot", now()).await.unwrap();
        assert_eq!(b.state.cursors["detail"], day("2026-11-20"));
        // `a` commits again; `b`'s view is now stale and must be refused.
        a.state.advance("detail", day("2026-11-21"));
        store.commit(&mut a, now()).await.unwrap();
        b.state.advance("detail", day("2026-11-22"));
        let err = store.commit(&mut b, now()).await.unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("_botevents/state/acc/bot.json"), "{err}");
        let c = store.load("acc", "bot", now()).await.unwrap();
        assert_eq!(c.state.cursors["detail"], day("2026-11-21"));
        // Two first commits: the second is a conflict, not an overwrite.
        let mut x = store.load("acc", "other", now()).await.unwrap();
        let mut y = store.load("acc", "other", now()).await.unwrap();
        store.commit(&mut x, now()).await.unwrap();
        assert!(matches!(store.commit(&mut y, now()).await, Err(StateError::Conflict { .. })));
    }

    #[tokio::test]
    async fn memory_store() {
        let dest =
            Destination::from_store(Arc::new(object_store::memory::InMemory::new()), Default::default(), "memory");
        round_trip_and_conflict(dest).await;
    }

    #[tokio::test]
    async fn local_disk() {
        let dir = tempfile::tempdir().unwrap();
        round_trip_and_conflict(Destination::open(dir.path().to_str().unwrap(), &[]).unwrap()).await;
    }

    #[test]
    fn cursors_never_move_back() {
        let mut s = BotState::new("a", "b", now());
        s.advance("detail", day("2026-11-20"));
        s.advance("detail", day("2026-11-10"));
        assert_eq!(s.cursors["detail"], day("2026-11-20"));
    }
}
