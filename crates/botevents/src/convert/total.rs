//! `customEventTotal` CSV → `custom_event_total` batches, pivoted to long form.
//!
//! The header is `Event Name,Event Detail,Event total,<one column per platform>,Date`; the
//! platform columns vary with the data. Every column between `Event total` and `Date` is a
//! platform, whatever its case (one spelled like a documented platform in another case takes the
//! documented spelling, so that the tables join); without that frame, every upper-case identifier
//! column that is not one of the fixed ones is. Each non-zero cell becomes one row. A separate
//! `Hour` or `Time` column beside `Date` gives the period's time.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder};
use arrow_array::types::{Int8Type, Int16Type};
use arrow_array::{ArrayRef, DictionaryArray, Int8Array, RecordBatch, StringArray};

use super::records::{Record, RecordReader};
use super::{
    BodyDecoder, Bucket, ConvertError, DecodeOptions, DecodeStats, KNOWN_PLATFORMS, Reject, RowContext, excerpt,
    reject, repeated_text, text, time,
};
use crate::schema::Table;
use crate::stream::Interval;

/// The vendor's header shape.
pub const TOTAL_HEADER: &str = "Event Name,Event Detail,Event total,<platform columns>,Date";

#[derive(Clone)]
struct Map {
    event_name: usize,
    event_detail: Option<usize>,
    event_total: Option<usize>,
    date: usize,
    hour: Option<usize>,
    platforms: Vec<(usize, String)>,
    width: usize,
    names: Vec<String>,
}

/// Push decoder of a `customEventTotal` body.
pub struct TotalDecoder {
    reader: RecordReader,
    state: State,
}

struct State {
    ctx: RowContext,
    opts: DecodeOptions,
    interval: Interval,
    map: Option<Map>,
    event_name: StringBuilder,
    event_detail: StringBuilder,
    platform: StringDictionaryBuilder<Int16Type>,
    count: Int64Builder,
    period: TimestampMicrosecondBuilder,
    len: usize,
    ready: VecDeque<RecordBatch>,
    stats: DecodeStats,
    rejects: Vec<Reject>,
    counts: Vec<i64>,
}

impl TotalDecoder {
    /// A decoder for one body of the given interval whose rows all belong to `ctx`.
    pub fn new(ctx: RowContext, interval: Interval, opts: DecodeOptions) -> TotalDecoder {
        let mut reader = RecordReader::new();
        reader.max_record_bytes = opts.max_record_bytes;
        TotalDecoder {
            reader,
            state: State {
                ctx,
                opts,
                interval,
                map: None,
                event_name: StringBuilder::new(),
                event_detail: StringBuilder::new(),
                platform: StringDictionaryBuilder::new(),
                count: Int64Builder::new(),
                period: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
                len: 0,
                ready: VecDeque::new(),
                stats: DecodeStats::default(),
                rejects: Vec::new(),
                counts: Vec::new(),
            },
        }
    }
}

impl BodyDecoder for TotalDecoder {
    fn push(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        let state = &mut self.state;
        self.reader.push(data, &mut |rec| state.on_record(rec))
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        Ok(self.state.ready.pop_front())
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        let state = &mut self.state;
        self.reader.finish(&mut |rec| state.on_record(rec))?;
        if state.map.is_none() {
            self.reader.flag_empty(&mut state.stats);
        }
        if state.len > 0 {
            let b = state.build()?;
            state.ready.push_back(b);
        }
        Ok(state.ready.pop_front())
    }

    fn stats(&self) -> &DecodeStats {
        &self.state.stats
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        std::mem::take(&mut self.state.rejects)
    }
}

fn is_platform_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl State {
    fn read_header(&mut self, rec: &Record<'_>) -> Result<(), ConvertError> {
        let names: Vec<String> = (0..rec.len())
            .map(|i| String::from_utf8_lossy(rec.get(i).unwrap_or_default()).trim().to_string())
            .collect();
        let (mut event_name, mut event_detail, mut event_total, mut date, mut hour) = (None, None, None, None, None);
        let mut others = Vec::new();
        for (pos, name) in names.iter().enumerate() {
            let slot = match name.to_ascii_lowercase().as_str() {
                "event name" => &mut event_name,
                "event detail" => &mut event_detail,
                "event total" => &mut event_total,
                "date" => &mut date,
                "hour" | "time" => &mut hour,
                _ => {
                    others.push(pos);
                    continue;
                }
            };
            if slot.is_some() {
                return Err(ConvertError::DuplicateColumn { column: pos + 1, name: name.clone() });
            }
            *slot = Some(pos);
        }
        // The vendor's frame: the platforms stand between `Event total` and `Date`.
        let framed = |pos: usize| matches!((event_total, date), (Some(t), Some(d)) if t < pos && pos < d);
        let mut platforms: Vec<(usize, String)> = Vec::new();
        for pos in others {
            let name = &names[pos];
            if !(framed(pos) || is_platform_name(name)) || name.is_empty() {
                self.stats.ignored_columns.insert(name.clone());
                continue;
            }
            let platform = KNOWN_PLATFORMS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(name))
                .map_or_else(|| name.clone(), |k| (*k).to_string());
            if platforms.iter().any(|(_, p)| *p == platform) {
                return Err(ConvertError::DuplicateColumn { column: pos + 1, name: name.clone() });
            }
            if !KNOWN_PLATFORMS.contains(&platform.as_str()) {
                self.stats.unknown_platforms.insert(platform.clone());
            }
            platforms.push((pos, platform));
        }
        if event_name.is_none() && date.is_none() && event_total.is_none() {
            return Err(ConvertError::NotCsv {
                table: Table::Total.name(),
                expected: TOTAL_HEADER,
                found: excerpt(rec),
            });
        }
        let header = names.join(",");
        let Some(event_name) = event_name else {
            return Err(ConvertError::MissingColumn { column: "Event Name", header });
        };
        let Some(date) = date else {
            return Err(ConvertError::MissingColumn { column: "Date", header });
        };
        self.map =
            Some(Map { event_name, event_detail, event_total, date, hour, platforms, width: names.len(), names });
        Ok(())
    }

    fn on_record(&mut self, rec: &Record<'_>) -> Result<(), ConvertError> {
        let Some(map) = self.map.take() else {
            return self.read_header(rec);
        };
        let r = self.on_row(&map, rec);
        self.map = Some(map);
        r
    }

    fn on_row(&mut self, map: &Map, rec: &Record<'_>) -> Result<(), ConvertError> {
        self.stats.records += 1;
        if rec.len() != map.width {
            let reason = format!("expected {} fields, found {}", map.width, rec.len());
            reject(&mut self.stats, &mut self.rejects, rec, None, reason);
            return Ok(());
        }
        let field = |pos: usize| -> Result<&str, (usize, String)> {
            text(rec.get(pos).unwrap_or_default()).map_err(|r| (pos, r))
        };
        let parsed = (|| {
            let name = field(map.event_name)?;
            let detail = map.event_detail.map(field).transpose()?.unwrap_or("");
            let date = field(map.date)?;
            let hour = match map.hour {
                Some(pos) => {
                    let h = field(pos)?;
                    time::parse_hour(h).ok_or_else(|| (pos, format!("not a time of day: {h:?}")))?;
                    Some(h)
                }
                None => None,
            };
            let hourly = self.interval == Interval::Hourly;
            let period = time::parse_period(date, hour, hourly).map_err(|reason| match map.hour {
                Some(pos) if reason.starts_with("not a time") => (pos, reason),
                _ if hourly && reason.starts_with("an hourly period") => {
                    (map.date, format!("{reason} (a Date with its hour, or an Hour or Time column, is expected)"))
                }
                _ => (map.date, reason),
            })?;
            if !time::in_range(period) {
                return Err((map.date, format!("date out of range {date:?} (accepted: {})", time::RANGE_TEXT)));
            }
            // Offline, a time in a daily file is an hourly file converted with the wrong interval;
            // in an export it is a daily bucket of a server in another time zone (kept, warned).
            if self.interval == Interval::Daily
                && self.opts.keep_range.is_none()
                && period.rem_euclid(time::MICROS_PER_DAY) != 0
            {
                let at = map.hour.unwrap_or(map.date);
                return Err((
                    at,
                    format!("an hourly period ({date:?}) in a daily download: convert it with --interval hourly"),
                ));
            }
            self.counts.clear();
            for (pos, _) in &map.platforms {
                let v = parse_count(field(*pos)?).map_err(|r| (*pos, r))?;
                self.counts.push(v);
            }
            let total = match map.event_total {
                Some(pos) => Some(parse_count(field(pos)?).map_err(|r| (pos, r))?),
                None => None,
            };
            Ok((name, detail, period, total))
        })();
        let (name, detail, period, total) = match parsed {
            Ok(v) => v,
            Err((pos, reason)) => {
                let col = Some((pos, map.names[pos].as_str()));
                reject(&mut self.stats, &mut self.rejects, rec, col, reason);
                return Ok(());
            }
        };
        match self.opts.bucket(period, self.interval) {
            Bucket::Inside => {}
            Bucket::Unaligned => self.stats.unaligned_buckets += 1,
            Bucket::Outside => {
                self.stats.outside_window += 1;
                return Ok(());
            }
        }
        if let Some(total) = total
            && total != self.counts.iter().sum::<i64>()
        {
            self.stats.total_mismatches += 1;
        }
        for (i, (_, platform)) in map.platforms.iter().enumerate() {
            let count = self.counts[i];
            if count == 0 {
                continue;
            }
            if self.platform.append(platform).is_err() {
                return Err(ConvertError::DictionaryFull { line: rec.line, column: map.platforms[i].0 + 1 });
            }
            self.event_name.append_value(name);
            if detail.is_empty() {
                self.event_detail.append_null();
            } else {
                self.event_detail.append_value(detail);
            }
            self.count.append_value(count);
            self.period.append_value(period);
            self.len += 1;
            self.stats.rows += 1;
        }
        if self.len >= self.opts.batch_size {
            let b = self.build()?;
            self.ready.push_back(b);
        }
        Ok(())
    }

    fn build(&mut self) -> Result<RecordBatch, ConvertError> {
        let n = std::mem::take(&mut self.len);
        let account: ArrayRef = Arc::new(repeated_text("account_id", &self.ctx.account, n)?);
        let bot: ArrayRef = Arc::new(repeated_text("bot_id", &self.ctx.bot, n)?);
        let interval = DictionaryArray::<Int8Type>::try_new(
            Int8Array::from_iter_values(std::iter::repeat_n(0i8, n)),
            Arc::new(StringArray::from_iter_values([self.interval.as_str()])),
        )
        .map_err(ConvertError::Arrow)?;
        let cols: Vec<ArrayRef> = vec![
            account,
            bot,
            Arc::new(self.event_name.finish()),
            Arc::new(self.event_detail.finish()),
            Arc::new(self.platform.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.period.finish().with_timezone("UTC")),
            Arc::new(interval),
        ];
        RecordBatch::try_new(Table::Total.schema(), cols).map_err(ConvertError::Arrow)
    }
}

/// A platform or total count: empty is 0; negative or non-numeric values are refused.
fn parse_count(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(0);
    }
    match t.parse::<i64>() {
        Ok(v) if v >= 0 => Ok(v),
        Ok(v) => Err(format!("negative count {v}")),
        Err(_) => Err(format!("not a count: {:?}", t.chars().take(40).collect::<String>())),
    }
}
