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

use crate::plan::{CursorMove, earliest_cursor};
use crate::stream::Stream;
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
    /// The first day not yet exported of the stream furthest behind (`None`: one of `streams` has
    /// never been exported), which is where an incremental run of `streams` starts.
    pub fn cursor(&self, streams: &[Stream]) -> Option<NaiveDate> {
        earliest_cursor(streams.iter().map(|s| self.cursors.get(s.as_str())))
    }

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

    /// Records that a stream's days `from..to` were exported: moves its cursor (the first day not
    /// yet exported) to `to`, unless it is already further or `from` lies after it. A window
    /// after the cursor leaves it where it is, since the days between were not exported; a
    /// stream without a cursor starts at `to`. Returns whether the cursor is `to` now.
    pub fn advance(&mut self, stream: &str, from: NaiveDate, to: NaiveDate) -> bool {
        let c = self.cursors.entry(stream.to_string()).or_insert(to);
        if *c < to && from <= *c {
            *c = to;
        }
        *c == to
    }

    /// Records that `streams` were exported as `mv` says (see [`BotState::advance`]); returns
    /// whether any cursor is at `mv.through` now.
    pub fn advance_all(&mut self, streams: &[Stream], mv: CursorMove) -> bool {
        let mut moved = false;
        for s in streams {
            moved |= self.advance(s.as_str(), mv.from, mv.through);
        }
        moved
    }
}

/// What `state reset` is asked to do to one bot's cursors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reset {
    /// Only this stream's cursor; `None`: every stream's.
    pub stream: Option<String>,
    /// Move the cursors back to this day; `None`: remove them, so that the next run starts from
    /// the oldest retained day.
    pub to: Option<NaiveDate>,
}

/// A reset that would not move a cursor back.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ResetError {
    /// `--to` lies after the cursor: moving it forward would skip days without exporting them.
    #[error(
        "--to {to} is after the {stream} cursor {cursor}; a reset only moves cursors back (days after the cursor are exported by the next run anyway)"
    )]
    Forward {
        /// The stream.
        stream: String,
        /// Its cursor.
        cursor: NaiveDate,
        /// The requested day.
        to: NaiveDate,
    },
    /// The stream has no cursor to move.
    #[error("bot {bot} has no {stream} cursor (streams with one: {have})")]
    NoCursor {
        /// The bot.
        bot: String,
        /// The stream asked for.
        stream: String,
        /// The streams that have a cursor.
        have: String,
    },
}

/// One cursor as a reset changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CursorChange {
    /// The stream.
    pub stream: String,
    /// The cursor before.
    pub from: NaiveDate,
    /// The cursor after; `None`: removed.
    pub to: Option<NaiveDate>,
}

impl BotState {
    /// Moves cursors back (or removes them) as `reset` says, the one way a cursor moves backwards.
    /// Nothing changes when the reset is refused.
    pub fn reset(&mut self, reset: &Reset) -> Result<Vec<CursorChange>, ResetError> {
        let streams: Vec<String> = match &reset.stream {
            Some(s) if self.cursors.contains_key(s) => vec![s.clone()],
            Some(s) => {
                let have: Vec<&str> = self.cursors.keys().map(String::as_str).collect();
                return Err(ResetError::NoCursor {
                    bot: self.bot.clone(),
                    stream: s.clone(),
                    have: if have.is_empty() { "none".into() } else { have.join(", ") },
                });
            }
            None => self.cursors.keys().cloned().collect(),
        };
        if let Some(to) = reset.to {
            for st in &streams {
                let cursor = self.cursors[st];
                if to > cursor {
                    return Err(ResetError::Forward { stream: st.clone(), cursor, to });
                }
            }
        }
        let mut changes = Vec::new();
        for st in streams {
            let from = match reset.to {
                Some(to) => self.cursors.insert(st.clone(), to),
                None => self.cursors.remove(&st),
            };
            if let Some(from) = from {
                changes.push(CursorChange { stream: st, from, to: reset.to });
            }
        }
        Ok(changes)
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

    /// The state store of a destination, for a writer other than an export run: `label`
    /// (e.g. `state-reset`) starts the `written_by` of what it writes.
    pub fn with_writer(dest: Destination, label: &str) -> StateStore {
        let run_id = format!("{label}-{:016x}", fastrand::u64(..));
        StateStore { dest, run_id, commits: Default::default() }
    }

    /// The bots of `account` that have a state at the destination, sorted.
    pub async fn bots(&self, account: &str) -> Result<Vec<String>, StateError> {
        use futures::TryStreamExt;
        let dir = self.dest.state_path(account, "_");
        let dir = object_store::path::Path::from_iter(dir.parts().take(dir.parts().count().saturating_sub(1)));
        let listed: Vec<object_store::ObjectMeta> =
            self.dest.store().list(Some(&dir)).try_collect().await.map_err(|source| StateError::Store {
                op: "listing",
                path: dir.to_string(),
                source,
            })?;
        let depth = dir.parts().count() + 1;
        let mut bots: Vec<String> = listed
            .iter()
            .filter(|m| m.location.parts().count() == depth)
            .filter_map(|m| m.location.filename()?.strip_suffix(".json").map(str::to_string))
            .filter(|b| crate::write::validate_id("bot", b).is_ok())
            .collect();
        bots.sort();
        Ok(bots)
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
        let result = store.put_opts(&path, payload, PutOptions::from(mode)).await;
        let put = match result {
            Ok(r) => r,
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                return Err(conflict());
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
        a.state.advance("detail", day("2026-11-19"), day("2026-11-20"));
        store.commit(&mut a, now()).await.unwrap();
        let mut b = store.load("acc", "bot", now()).await.unwrap();
        assert_eq!(b.state.cursors["detail"], day("2026-11-20"));
        // `a` commits again; `b`'s view is now stale and must be refused.
        a.state.advance("detail", day("2026-11-20"), day("2026-11-21"));
        store.commit(&mut a, now()).await.unwrap();
        b.state.advance("detail", day("2026-11-20"), day("2026-11-22"));
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
    fn reset_moves_cursors_back_or_removes_them() {
        let mut s = BotState::new("a", "b", now());
        s.advance("detail", day("2026-11-20"), day("2026-11-24"));
        s.advance("total", day("2026-11-20"), day("2026-11-22"));
        let forward = Reset { stream: None, to: Some(day("2026-11-23")) };
        let err = s.reset(&forward).unwrap_err();
        assert_eq!(
            err,
            ResetError::Forward { stream: "total".into(), cursor: day("2026-11-22"), to: day("2026-11-23") }
        );
        assert_eq!(s.cursors["detail"], day("2026-11-24"), "a refused reset changes nothing");
        let one = Reset { stream: Some("detail".into()), to: Some(day("2026-11-20")) };
        let changes = s.reset(&one).unwrap();
        assert_eq!(
            changes,
            vec![CursorChange { stream: "detail".into(), from: day("2026-11-24"), to: Some(day("2026-11-20")) }]
        );
        assert_eq!(s.cursors["total"], day("2026-11-22"));
        let missing = s.reset(&Reset { stream: Some("catalog".into()), to: None }).unwrap_err();
        assert!(missing.to_string().contains("no catalog cursor (streams with one: detail, total)"), "{missing}");
        assert_eq!(s.reset(&Reset { stream: None, to: None }).unwrap().len(), 2);
        assert!(s.cursors.is_empty());
    }

    #[tokio::test]
    async fn bots_lists_the_states_of_one_account() {
        let dest =
            Destination::from_store(Arc::new(object_store::memory::InMemory::new()), Default::default(), "memory");
        let store = StateStore::new(dest);
        assert!(store.bots("acc").await.unwrap().is_empty());
        for (acc, bot) in [("acc", "zeta"), ("acc", "alpha"), ("other", "beta")] {
            let mut l = store.load(acc, bot, now()).await.unwrap();
            store.commit(&mut l, now()).await.unwrap();
        }
        assert_eq!(store.bots("acc").await.unwrap(), vec!["alpha", "zeta"]);
    }

    #[test]
    fn cursors_never_move_back() {
        let mut s = BotState::new("a", "b", now());
        assert!(s.advance("detail", day("2026-11-13"), day("2026-11-20")));
        assert!(!s.advance("detail", day("2026-11-03"), day("2026-11-10")));
        assert_eq!(s.cursors["detail"], day("2026-11-20"));
    }

    #[test]
    fn cursors_never_jump_over_days_not_exported() {
        let mut s = BotState::new("a", "b", now());
        s.advance("detail", day("2026-11-03"), day("2026-11-10"));
        // A backfill of later days: the days from the cursor on were not exported.
        assert!(!s.advance("detail", day("2026-11-25"), day("2026-11-27")));
        assert_eq!(s.cursors["detail"], day("2026-11-10"));
        // A window that starts at the cursor, or before it, moves it.
        assert!(s.advance("detail", day("2026-11-10"), day("2026-11-12")));
        assert!(s.advance("detail", day("2026-11-11"), day("2026-11-15")));
        assert_eq!(s.cursors["detail"], day("2026-11-15"));
    }
}
