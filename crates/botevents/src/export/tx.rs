//! A window's transaction: the writers of every table of one window, committed together or not
//! at all.
//!
//! In: each table's [`Fetched`] (its writer, with uploads started and nothing visible, and what
//! was decoded). Out: on [`WindowTx::commit`], every table's files made visible; on
//! [`WindowTx::abort`], or when the transaction is dropped uncommitted (a cancelled export), every
//! upload abandoned, so no object of the window changes.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::convert::{DecodeStats, Reject};
use crate::plan::Slice;
use crate::stream::Stream;
use crate::write::{PartitionWriter, WriteError, Written};

/// A table window fully decoded and encoded, not yet committed.
pub(super) struct Fetched {
    pub writer: PartitionWriter,
    pub decoded: Decoded,
}

/// What a table window decoded, apart from the writer its files go to.
#[derive(Default)]
pub(super) struct Decoded {
    /// The encoders' last bytes per day, with the day's row count.
    pub tails: Vec<(NaiveDate, Vec<u8>, u64)>,
    pub stats: DecodeStats,
    pub rejects: Vec<(Slice, Reject)>,
    /// Per day: rows (detail) or the sum of counts (total, histogram).
    pub per_day: BTreeMap<NaiveDate, u64>,
    /// Largest number of records in one response (for the row cap).
    pub max_records: u64,
    /// The slices whose response held the row cap.
    pub capped: Vec<Slice>,
    /// The event names the catalog listed (catalog only).
    pub event_names: Vec<String>,
}

/// The tables of one window on their way: nothing is visible until [`commit`](WindowTx::commit).
#[derive(Default)]
pub(super) struct WindowTx {
    tables: Vec<(Stream, Fetched)>,
}

impl WindowTx {
    /// Adds a table's writer to the transaction.
    pub fn push(&mut self, stream: Stream, fetched: Fetched) {
        self.tables.push((stream, fetched));
    }

    /// The tables so far, in the order they were added.
    pub fn tables_mut(&mut self) -> impl Iterator<Item = (Stream, &mut Fetched)> {
        self.tables.iter_mut().map(|(s, f)| (*s, f))
    }

    /// Makes every table's files visible, in order, telling `each` what each table wrote. After
    /// a failure, the tables not yet committed are abandoned.
    pub async fn commit(mut self, mut each: impl FnMut(Stream, &DecodeStats, &Written)) -> Result<(), WriteError> {
        let tables = std::mem::take(&mut self.tables);
        let mut rest = tables.into_iter();
        while let Some((stream, f)) = rest.next() {
            let Fetched { writer, decoded } = f;
            match writer.commit(decoded.tails).await {
                Ok(written) => each(stream, &decoded.stats, &written),
                Err(e) => {
                    abort_all(rest.map(|(_, f)| f)).await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Abandons every table's uploads: no object of the window changes.
    pub async fn abort(mut self) {
        abort_all(std::mem::take(&mut self.tables).into_iter().map(|(_, f)| f)).await;
    }
}

async fn abort_all(tables: impl Iterator<Item = Fetched>) {
    for mut f in tables {
        f.writer.abort().await;
    }
}

impl Drop for WindowTx {
    /// Dropped uncommitted (the export's future was cancelled): the uploads are abandoned in the
    /// background. Every path of the export itself ends in `commit` or `abort`.
    fn drop(&mut self) {
        if self.tables.is_empty() {
            return;
        }
        let tables = std::mem::take(&mut self.tables);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(abort_all(tables.into_iter().map(|(_, f)| f)));
        }
    }
}
