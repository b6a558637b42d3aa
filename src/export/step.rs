//! The CPU step shared by exports and offline conversion: bytes → batches → encoded parts.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::convert::{BodyDecoder, ConvertError, DecodeStats};
use crate::write::{TableEncoder, WriteError};

pub(crate) enum StepError {
    Convert(ConvertError),
    Write(WriteError),
}

pub(crate) type StepOk = (Vec<(NaiveDate, Vec<u8>)>, Vec<(NaiveDate, u64)>);

/// CPU work for one chunk: decode, route to day encoders, hand back encoded bytes and, per day,
/// the rows (detail) or event counts (total) seen.
pub(crate) fn step(
    dec: &mut dyn BodyDecoder,
    enc: &mut TableEncoder,
    chunk: &[u8],
    last: bool,
    part_bytes: usize,
) -> Result<StepOk, StepError> {
    dec.push(chunk).map_err(StepError::Convert)?;
    let mut counts: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut batches = Vec::new();
    while let Some(b) = dec.next_batch().map_err(StepError::Convert)? {
        batches.push(b);
    }
    if last && let Some(b) = dec.finish().map_err(StepError::Convert)? {
        batches.push(b);
        while let Some(b) = dec.next_batch().map_err(StepError::Convert)? {
            batches.push(b);
        }
    }
    for b in &batches {
        count_per_day(b, &mut counts);
        enc.write(b).map_err(StepError::Write)?;
    }
    let min = if last { 1 } else { part_bytes };
    Ok((enc.drain(min), counts.into_iter().collect()))
}

fn count_per_day(b: &arrow_array::RecordBatch, out: &mut BTreeMap<NaiveDate, u64>) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    let schema = b.schema();
    let (time_col, count_col) = if schema.field_with_name("event_time").is_ok() {
        ("event_time", None)
    } else {
        ("period_start", Some("event_count"))
    };
    let Some(times) = b.column_by_name(time_col) else { return };
    let times = times.as_primitive::<TimestampMicrosecondType>();
    let counts = count_col.and_then(|c| b.column_by_name(c)).map(|c| c.as_primitive::<Int64Type>().clone());
    for i in 0..b.num_rows() {
        let day = crate::convert::time::day_of_micros(times.value(i));
        let n = counts.as_ref().map_or(1, |c| c.value(i).max(0) as u64);
        *out.entry(day).or_default() += n;
    }
}

pub(crate) fn merge_stats(into: &mut DecodeStats, s: &DecodeStats) {
    into.records += s.records;
    into.rows += s.rows;
    into.outside_window += s.outside_window;
    into.rejected += s.rejected;
    into.total_mismatches += s.total_mismatches;
    into.empty_body |= s.empty_body;
    into.unknown_platforms.extend(s.unknown_platforms.iter().cloned());
    into.ignored_columns.extend(s.ignored_columns.iter().cloned());
}
