//! `customEvents/…/histogram` JSON → `custom_event_histogram` batches, in long form: one row per
//! (period, platform) with a non-zero count, for the one event name the request asked for.
//!
//! The answer is `{"customEventName": "…", "channelTotal": {…}, "histories": [{"platformCount":
//! {"HTMLCLIENT": 1, …}, "platformTotal": 1, "dateTime": "1663855200000"}, …], "total": 2}`.
//!
//! * `event_name` is the name the request asked for (the catalog's spelling, so that the two
//!   tables join exactly). An answer whose `customEventName` names another event is an error;
//!   one that differs only in surrounding whitespace is accepted.
//! * `dateTime` is epoch milliseconds, as a string (the vendor's sample) or a number; an
//!   RFC 3339 timestamp is accepted too. It becomes `period_start` as given.
//! * A period is kept when it overlaps the requested range, even when it starts before it (a
//!   server whose days are not UTC days); such a period is counted in
//!   [`DecodeStats::unaligned_buckets`]. Periods that do not overlap it are dropped and counted.
//! * Counts are numbers or strings of digits; `null` is 0.
//! * A `platformTotal` (or `total`) that differs from the sum of the counts is counted in
//!   [`DecodeStats::total_mismatches`] (a warning, the counts are kept).
//! * `channelTotal` and unknown fields are ignored; the page's "empty list" (`[]`, `{}`, `null`,
//!   a missing or `null` `histories`) is no periods; a `null` `platformCount` is empty; a missing
//!   `dateTime` or `platformCount`, or a value of the wrong type (a negative or fractional count,
//!   say) is an error that names its place (`histories[2].dateTime`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringDictionaryBuilder, TimestampMicrosecondBuilder};
use arrow_array::types::{Int8Type, Int16Type};
use arrow_array::{ArrayRef, DictionaryArray, Int8Array, RecordBatch, StringArray};
use serde::Deserialize;

use super::json::{Count, DEFAULT_MAX_JSON_BYTES, JsonBody, null_as_default};
use super::{
    BodyDecoder, Bucket, ConvertError, DecodeOptions, DecodeStats, Interval, KNOWN_PLATFORMS, Reject, RowContext,
    repeated_text, time,
};
use crate::schema::Table;

/// The endpoint, as errors name it.
const ENDPOINT: &str = "customEvents/histogram";

#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "a histogram answer, an object with histories")]
struct Answer {
    #[serde(rename = "customEventName", default)]
    name: Option<String>,
    /// Missing or `null` when the bot has no events (the page's "empty list").
    #[serde(default)]
    histories: Option<Vec<History>>,
    #[serde(default)]
    total: Option<Count>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "a period, an object with platformCount and dateTime")]
struct History {
    /// Sorted by platform, so that the rows of a period come out in one order whatever the JSON's.
    #[serde(rename = "platformCount", deserialize_with = "null_as_default")]
    platform_count: BTreeMap<String, Count>,
    #[serde(rename = "platformTotal", default)]
    platform_total: Option<Count>,
    /// µs since the epoch.
    #[serde(rename = "dateTime", deserialize_with = "date_time")]
    date_time: i64,
}

/// `dateTime`: epoch milliseconds as a string or a number, or an RFC 3339 timestamp → µs.
fn date_time<'de, D: serde::Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("epoch milliseconds (a number or a string of digits) or an RFC 3339 timestamp")
        }
        fn visit_i64<E: serde::de::Error>(self, ms: i64) -> Result<i64, E> {
            ms.checked_mul(1000)
                .filter(|us| time::in_range(*us))
                .ok_or_else(|| E::custom(format!("{ms} ms is outside {}", time::RANGE_TEXT)))
        }
        fn visit_u64<E: serde::de::Error>(self, ms: u64) -> Result<i64, E> {
            let ms = i64::try_from(ms).map_err(|_| E::custom(format!("{ms} ms is outside {}", time::RANGE_TEXT)))?;
            self.visit_i64(ms)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<i64, E> {
            let t = s.trim();
            if let Ok(ms) = t.parse::<i64>() {
                return self.visit_i64(ms);
            }
            match time::parse_timestamp(t) {
                Some(us) if time::in_range(us) => Ok(us),
                Some(_) => Err(E::custom(format!("{s:?} is outside {}", time::RANGE_TEXT))),
                None => Err(E::invalid_value(serde::de::Unexpected::Str(s), &self)),
            }
        }
    }
    de.deserialize_any(Visitor)
}

/// Push decoder of one `histogram` body (one event name). Memory: the body (capped) and its
/// periods.
pub struct HistogramDecoder {
    body: JsonBody,
    ctx: RowContext,
    interval: Interval,
    event_name: String,
    opts: DecodeOptions,
    ready: VecDeque<RecordBatch>,
    stats: DecodeStats,
}

/// The columns of the batch under construction.
struct Columns {
    platform: StringDictionaryBuilder<Int16Type>,
    period: TimestampMicrosecondBuilder,
    count: Int64Builder,
    len: usize,
}

impl Columns {
    fn new() -> Columns {
        Columns {
            platform: StringDictionaryBuilder::new(),
            period: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            count: Int64Builder::new(),
            len: 0,
        }
    }
}

impl HistogramDecoder {
    /// A decoder for the histogram of `event_name` (the requested name) at `interval`, whose
    /// rows all belong to `ctx`.
    pub fn new(ctx: RowContext, interval: Interval, event_name: String, opts: DecodeOptions) -> HistogramDecoder {
        HistogramDecoder {
            body: JsonBody::new(ENDPOINT, DEFAULT_MAX_JSON_BYTES),
            ctx,
            interval,
            event_name,
            opts,
            ready: VecDeque::new(),
            stats: DecodeStats::default(),
        }
    }

    /// Caps the body at `limit` bytes instead of [`DEFAULT_MAX_JSON_BYTES`].
    pub fn with_max_body_bytes(mut self, limit: usize) -> HistogramDecoder {
        self.body.set_limit(limit);
        self
    }

    fn bad(&self, reason: String) -> ConvertError {
        ConvertError::BadJson { endpoint: ENDPOINT, reason }
    }

    fn convert(&mut self, answer: Answer) -> Result<(), ConvertError> {
        if let Some(name) = &answer.name
            && name.trim() != self.event_name.trim()
        {
            return Err(
                self.bad(format!("at customEventName: {name:?} is not the requested eventName {:?}", self.event_name))
            );
        }
        let Some(histories) = answer.histories else {
            self.stats.empty_list = true;
            return Ok(());
        };
        let mut cols = Columns::new();
        let mut sum_all = 0u64;
        for (i, h) in histories.iter().enumerate() {
            self.stats.records += 1;
            let sum = h.platform_count.values().fold(0u64, |a, c| a.saturating_add(c.0));
            sum_all = sum_all.saturating_add(sum);
            if h.platform_total.is_some_and(|t| t.0 != sum) {
                self.stats.total_mismatches += 1;
            }
            match self.opts.bucket(h.date_time, self.interval) {
                Bucket::Inside => {}
                Bucket::Unaligned => self.stats.unaligned_buckets += 1,
                Bucket::Outside => {
                    self.stats.outside_window += 1;
                    continue;
                }
            }
            for (platform, &Count(count)) in &h.platform_count {
                if count == 0 {
                    continue;
                }
                let count = i64::try_from(count).map_err(|_| {
                    self.bad(format!("at histories[{i}].platformCount.{platform}: count {count} is too large"))
                })?;
                if !KNOWN_PLATFORMS.contains(&platform.as_str()) {
                    self.stats.unknown_platforms.insert(platform.clone());
                }
                cols.platform.append(platform).map_err(|_| {
                    self.bad(format!(
                        "at histories[{i}].platformCount: more distinct platforms than a Dictionary(Int16) holds"
                    ))
                })?;
                cols.period.append_value(h.date_time);
                cols.count.append_value(count);
                cols.len += 1;
                self.stats.rows += 1;
                if cols.len >= self.opts.batch_size.max(1) {
                    let b = self.build(&mut cols)?;
                    self.ready.push_back(b);
                }
            }
        }
        if answer.total.is_some_and(|t| t.0 != sum_all) {
            self.stats.total_mismatches += 1;
        }
        if cols.len > 0 {
            let b = self.build(&mut cols)?;
            self.ready.push_back(b);
        }
        Ok(())
    }

    fn build(&self, cols: &mut Columns) -> Result<RecordBatch, ConvertError> {
        let n = std::mem::take(&mut cols.len);
        let arrow = ConvertError::Arrow;
        let interval = DictionaryArray::<Int8Type>::try_new(
            Int8Array::from_iter_values(std::iter::repeat_n(0i8, n)),
            Arc::new(StringArray::from_iter_values([self.interval.as_str()])),
        )
        .map_err(arrow)?;
        let out: Vec<ArrayRef> = vec![
            Arc::new(repeated_text("account_id", &self.ctx.account, n)?),
            Arc::new(repeated_text("bot_id", &self.ctx.bot, n)?),
            Arc::new(repeated_text("event_name", &self.event_name, n)?),
            Arc::new(cols.platform.finish()),
            Arc::new(cols.period.finish().with_timezone("UTC")),
            Arc::new(interval),
            Arc::new(cols.count.finish()),
        ];
        RecordBatch::try_new(Table::Histogram.schema(), out).map_err(arrow)
    }
}

impl BodyDecoder for HistogramDecoder {
    fn push(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        self.body.push(data)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        Ok(self.ready.pop_front())
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        match self.body.parse::<Answer>()? {
            Some(answer) => self.convert(answer)?,
            None => self.stats.empty_body = true,
        }
        Ok(self.ready.pop_front())
    }

    fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};

    use super::*;

    /// The vendor's sample answer.
    const SAMPLE: &str = r#"{
"customEventName": " 15 INSTL Item number reprompt 2", "channelTotal": {
"HTMLCLIENT": 2, "FACEBOOK": 0, "ABC": 0, "VIBER": 0, "VOICE": 0, "RCS": 0, "INAPP": 0, "LINE": 0, "SMS": 0, "TWITTER": 0
},
"histories": [
{
"platformCount": { "HTMLCLIENT": 1, "FACEBOOK": 0, "ABC": 0, "VIBER": 0, "VOICE": 0, "RCS": 0, "INAPP": 0, "LINE": 0, "SMS": 0, "TWITTER": 0 },
"platformTotal": 1,
"dateTime": "1663855200000"
},
{
"platformCount": { "HTMLCLIENT": 1, "FACEBOOK": 0, "ABC": 0, "VIBER": 0, "VOICE": 0, "RCS": 0, "INAPP": 0, "LINE": 0, "SMS": 0, "TWITTER": 0 },
"platformTotal": 1,
"dateTime": "1663873200000"
}
],
"total": 2
}"#;

    const NAME: &str = "15 INSTL Item number reprompt 2";

    fn decoder(opts: DecodeOptions) -> HistogramDecoder {
        HistogramDecoder::new(
            RowContext { account: "acc".into(), bot: "bot".into() },
            Interval::Hourly,
            NAME.into(),
            opts,
        )
    }

    fn run(
        mut d: HistogramDecoder,
        body: &[u8],
        chunk: usize,
    ) -> Result<(Vec<RecordBatch>, DecodeStats), ConvertError> {
        let mut out = Vec::new();
        crate::convert::decode_chunks(&mut d, body.chunks(chunk.max(1)), &mut out)?;
        Ok((out, d.stats().clone()))
    }

    /// (event, platform, period µs, interval, count) of every row.
    fn rows(batches: &[RecordBatch]) -> Vec<(String, String, i64, String, i64)> {
        let mut out = Vec::new();
        for b in batches {
            assert_eq!(b.schema(), Table::Histogram.schema());
            let dict = |name: &str, i: usize| -> String {
                let col = b.column_by_name(name).unwrap();
                let v = arrow_cast_string(col.as_ref(), i);
                v.unwrap()
            };
            let period = b.column_by_name("period_start").unwrap().as_primitive::<TimestampMicrosecondType>().clone();
            let count = b.column_by_name("event_count").unwrap().as_primitive::<Int64Type>().clone();
            for i in 0..b.num_rows() {
                assert_eq!(dict("account_id", i), "acc");
                assert_eq!(dict("bot_id", i), "bot");
                out.push((
                    dict("event_name", i),
                    dict("platform", i),
                    period.value(i),
                    dict("interval", i),
                    count.value(i),
                ));
            }
        }
        out
    }

    fn arrow_cast_string(a: &dyn Array, i: usize) -> Option<String> {
        if let Some(d) = a.as_dictionary_opt::<Int16Type>() {
            return Some(d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string());
        }
        if let Some(d) = a.as_dictionary_opt::<Int8Type>() {
            return Some(d.values().as_string::<i32>().value(d.keys().value(i) as usize).to_string());
        }
        Some(a.as_string::<i32>().value(i).to_string())
    }

    fn reason(body: &str) -> String {
        match run(decoder(DecodeOptions::default()), body.as_bytes(), 3) {
            Err(ConvertError::BadJson { endpoint, reason }) => {
                assert_eq!(endpoint, "customEvents/histogram");
                reason
            }
            other => panic!("{body}: {:?}", other.map(|(b, _)| b.len())),
        }
    }

    #[test]
    fn the_vendor_sample_in_any_chunking() {
        let want = vec![
            (NAME.to_string(), "HTMLCLIENT".to_string(), 1_663_855_200_000_000, "hourly".to_string(), 1),
            (NAME.to_string(), "HTMLCLIENT".to_string(), 1_663_873_200_000_000, "hourly".to_string(), 1),
        ];
        for chunk in [1, 3, 7, 100, SAMPLE.len()] {
            let (batches, stats) = run(decoder(DecodeOptions::default()), SAMPLE.as_bytes(), chunk).unwrap();
            assert_eq!(rows(&batches), want, "chunk {chunk}");
            assert_eq!((stats.records, stats.rows, stats.total_mismatches), (2, 2, 0));
            assert!(stats.unknown_platforms.is_empty() && !stats.empty_body);
        }
    }

    #[test]
    fn long_form_sorted_by_platform_cut_into_batches() {
        let body = r#"{"histories":[
            {"platformCount":{"SMS":2,"HTMLCLIENT":3,"NEWCHAT":1,"ABC":0},"platformTotal":6,"dateTime":1700000000000},
            {"platformCount":{"VOICE":4},"platformTotal":5,"dateTime":"2023-11-14T23:00:00Z"}
        ],"total":9}"#;
        let opts = DecodeOptions { batch_size: 2, ..DecodeOptions::default() };
        let (batches, stats) = run(decoder(opts), body.as_bytes(), 7).unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), [2, 2]);
        let got: Vec<(String, i64, i64)> = rows(&batches).into_iter().map(|r| (r.1, r.2, r.4)).collect();
        let t = 1_700_000_000_000_000;
        let voice = time::parse_timestamp("2023-11-14T23:00:00Z").unwrap();
        assert_eq!(
            got,
            [("HTMLCLIENT".into(), t, 3), ("NEWCHAT".into(), t, 1), ("SMS".into(), t, 2), ("VOICE".into(), voice, 4)]
        );
        assert_eq!(stats.unknown_platforms.iter().collect::<Vec<_>>(), ["NEWCHAT"]);
        assert_eq!(stats.total_mismatches, 2, "the second period and the total disagree with the counts");
    }

    #[test]
    fn periods_outside_the_range_are_dropped_and_counted() {
        let opts = DecodeOptions {
            keep_range: Some((1_663_855_200_000_000, 1_663_873_200_000_000)),
            ..DecodeOptions::default()
        };
        let (batches, stats) = run(decoder(opts), SAMPLE.as_bytes(), 50).unwrap();
        assert_eq!(rows(&batches).len(), 1);
        assert_eq!(stats.outside_window, 1);
    }

    #[test]
    fn empty_answers() {
        for body in [r#"{"customEventName":"x","channelTotal":{},"histories":[],"total":0}"#, r#"{"histories":null}"#] {
            let d = HistogramDecoder::new(
                RowContext { account: "a".into(), bot: "b".into() },
                Interval::Daily,
                "x".into(),
                DecodeOptions::default(),
            );
            let (batches, stats) = run(d, body.as_bytes(), 4).unwrap();
            assert!(batches.is_empty() && !stats.empty_body, "{body}");
        }
        let (batches, stats) = run(decoder(DecodeOptions::default()), b"  ", 1).unwrap();
        assert!(batches.is_empty() && stats.empty_body);
        for body in [
            "[]",
            "{}",
            "null",
            r#"{"customEventName":" 15 INSTL Item number reprompt 2"}"#,
            r#"{"histories":null,"total":null}"#,
        ] {
            let (batches, stats) = run(decoder(DecodeOptions::default()), body.as_bytes(), 2).unwrap();
            assert!(batches.is_empty() && stats.empty_list && !stats.empty_body, "{body}");
        }
    }

    #[test]
    fn counts_as_strings_and_nulls() {
        let body = r#"{"histories":[{"platformCount":{"SMS":"2","VOICE":null,"HTMLCLIENT":3},"platformTotal":"5",
            "dateTime":"1663855200000"}],"total":"5","channelTotal":{"SMS":"2","VOICE":null}}"#;
        let (batches, stats) = run(decoder(DecodeOptions::default()), body.as_bytes(), 5).unwrap();
        let got: Vec<(String, i64)> = rows(&batches).into_iter().map(|r| (r.1, r.4)).collect();
        assert_eq!(got, [("HTMLCLIENT".to_string(), 3), ("SMS".to_string(), 2)]);
        assert_eq!(stats.total_mismatches, 0);
    }

    #[test]
    fn periods_that_overlap_the_range_are_kept() {
        // A daily period of a server in UTC+2 starts at 22:00Z the day before the range.
        let day = time::parse_timestamp("2022-09-22T00:00:00Z").unwrap();
        let hour = 3_600_000_000;
        let body = format!(
            r#"{{"histories":[{{"platformCount":{{"SMS":1}},"dateTime":{}}},{{"platformCount":{{"SMS":2}},"dateTime":{}}},
            {{"platformCount":{{"SMS":4}},"dateTime":{}}}]}}"#,
            (day - 2 * hour) / 1000,
            (day + 22 * hour) / 1000,
            (day - 26 * hour) / 1000,
        );
        let d = HistogramDecoder::new(
            RowContext { account: "acc".into(), bot: "bot".into() },
            Interval::Daily,
            NAME.into(),
            DecodeOptions { keep_range: Some((day, day + 24 * hour)), ..DecodeOptions::default() },
        );
        let (batches, stats) = run(d, body.as_bytes(), 9).unwrap();
        let got: Vec<(i64, i64)> = rows(&batches).into_iter().map(|r| (r.2, r.4)).collect();
        assert_eq!(got, [(day - 2 * hour, 1), (day + 22 * hour, 2)]);
        assert_eq!((stats.unaligned_buckets, stats.outside_window), (2, 1));
    }

    #[test]
    fn malformed_answers_are_errors_that_say_where() {
        let r = reason(r#"{"histories":[{"platformCount":{"SMS":1},"dateTime":"yesterday"}]}"#);
        assert!(r.starts_with("at histories[0].dateTime: invalid value: string \"yesterday\""), "{r}");
        let r = reason(r#"{"histories":[{"platformCount":{"SMS":1},"dateTime":"1"},{"platformCount":{"SMS":1}}]}"#);
        assert!(r.contains("histories[1]") && r.contains("missing field `dateTime`"), "{r}");
        let r = reason(r#"{"histories":[{"dateTime":"1663855200000"}]}"#);
        assert!(r.contains("missing field `platformCount`"), "{r}");
        let r = reason(r#"{"histories":[{"platformCount":{"SMS":-1},"dateTime":"1663855200000"}]}"#);
        assert!(r.starts_with("at histories[0].platformCount.SMS: invalid value: integer `-1`"), "{r}");
        let r = reason(r#"{"histories":[{"platformCount":{"SMS":1.5},"dateTime":"1663855200000"}]}"#);
        assert!(r.starts_with("at histories[0].platformCount.SMS: invalid type: floating point"), "{r}");
        let r = reason(r#"{"histories":[{"platformCount":{"SMS":"2x"},"dateTime":"1663855200000"}]}"#);
        assert!(r.starts_with("at histories[0].platformCount.SMS: invalid value: string \"2x\""), "{r}");
        let r = reason(r#"{"histories":[{"platformCount":[],"dateTime":true}]}"#);
        assert!(r.starts_with("at histories[0].platformCount: invalid type: sequence"), "{r}");
        let r = reason(r#"{"histories":[{"platformCount":{},"dateTime":true}]}"#);
        assert!(
            r.starts_with("at histories[0].dateTime: invalid type: boolean `true`, expected epoch milliseconds"),
            "{r}"
        );
        let r = reason(r#"{"histories":[{"platformCount":{},"dateTime":"99999999999999999"}]}"#);
        assert!(r.contains("outside 0001-01-01 to 9999-12-31 UTC"), "{r}");
        let r = reason(r#"{"histories":{}}"#);
        assert!(r.starts_with("at histories: invalid type: map"), "{r}");
        let r = reason(r#"{"customEventName":"Another event","histories":[]}"#);
        assert!(r.contains("\"Another event\" is not the requested eventName"), "{r}");
        let r = reason(r#"{"histories":[{"platformCount":{"SMS":1},"dateTime":"1"}"#);
        assert!(r.contains("EOF"), "{r}");
        let r = reason("<!DOCTYPE html><html>");
        assert!(r.starts_with("not a JSON object: starts with \"<!DOCTYPE html>"), "{r}");
        let mut d = decoder(DecodeOptions::default()).with_max_body_bytes(100);
        assert_eq!(d.push(SAMPLE.as_bytes()), Err(ConvertError::JsonTooLarge { endpoint: ENDPOINT, limit: 100 }));
    }
}
