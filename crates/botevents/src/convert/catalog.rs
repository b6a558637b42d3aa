//! `customEvents` JSON → `custom_event_catalog` batches: one row per listed event name, stamped
//! with the requested window.
//!
//! The answer is `{"customEventList": [{"name": "…", "hasChildrens": false}, …]}`. The page's
//! "empty list" for a bot without events is taken in every form: `[]`, `{}`, `null`, a missing or
//! `null` list (flagged in the stats as [`DecodeStats::empty_list`]); an empty body (a 204) is no
//! events too, flagged as [`DecodeStats::empty_body`]. A missing or `null` `hasChildrens` is false.
//! An entry without `name`, or a value of the wrong type, is an error that names the entry
//! (`customEventList[3].name`). Other fields are ignored.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use serde::Deserialize;

use super::json::{DEFAULT_MAX_JSON_BYTES, JsonBody, null_as_default};
use super::{BodyDecoder, ConvertError, DecodeOptions, DecodeStats, Reject, RowContext, repeated_text};
use crate::schema::Table;

/// The endpoint, as errors name it.
const ENDPOINT: &str = "customEvents";

#[derive(Debug, Default, Deserialize)]
#[serde(expecting = "a customEvents answer, an object with a customEventList")]
struct Answer {
    /// Missing or `null` when the bot has no events (the page's "empty list").
    #[serde(rename = "customEventList", default)]
    list: Option<Vec<Entry>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an event entry, an object with name and hasChildrens")]
struct Entry {
    name: String,
    /// The vendor spells it `hasChildrens`; `hasChildren` is taken too. Missing or `null` is false.
    #[serde(rename = "hasChildrens", alias = "hasChildren", default, deserialize_with = "null_as_default")]
    has_children: bool,
}

/// Push decoder of a `customEvents` body. Memory: the body (capped) and its entries.
pub struct CatalogDecoder {
    body: JsonBody,
    ctx: RowContext,
    window: (i64, i64),
    opts: DecodeOptions,
    ready: VecDeque<RecordBatch>,
    stats: DecodeStats,
    names: Vec<String>,
}

impl CatalogDecoder {
    /// A decoder for the catalog of the window `[start, end)` (µs since the epoch) of `ctx`'s bot.
    pub fn new(ctx: RowContext, window: (i64, i64), opts: DecodeOptions) -> CatalogDecoder {
        CatalogDecoder {
            body: JsonBody::new(ENDPOINT, DEFAULT_MAX_JSON_BYTES),
            ctx,
            window,
            opts,
            ready: VecDeque::new(),
            stats: DecodeStats::default(),
            names: Vec::new(),
        }
    }

    /// Caps the body at `limit` bytes instead of [`DEFAULT_MAX_JSON_BYTES`].
    pub fn with_max_body_bytes(mut self, limit: usize) -> CatalogDecoder {
        self.body.set_limit(limit);
        self
    }

    fn build(&self, entries: &[Entry]) -> Result<RecordBatch, ConvertError> {
        let n = entries.len();
        let ts = |v: i64| TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(v, n)).with_timezone("UTC");
        let cols: Vec<ArrayRef> = vec![
            Arc::new(repeated_text("account_id", &self.ctx.account, n)?),
            Arc::new(repeated_text("bot_id", &self.ctx.bot, n)?),
            Arc::new(StringArray::from_iter_values(entries.iter().map(|e| &e.name))),
            Arc::new(BooleanArray::from_iter(entries.iter().map(|e| Some(e.has_children)))),
            Arc::new(ts(self.window.0)),
            Arc::new(ts(self.window.1)),
        ];
        RecordBatch::try_new(Table::Catalog.schema(), cols).map_err(ConvertError::Arrow)
    }
}

impl BodyDecoder for CatalogDecoder {
    fn push(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        self.body.push(data)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        Ok(self.ready.pop_front())
    }

    fn finish(&mut self) -> Result<Option<RecordBatch>, ConvertError> {
        let Some(answer) = self.body.parse::<Answer>()? else {
            self.stats.empty_body = true;
            return Ok(None);
        };
        let Some(list) = answer.list else {
            self.stats.empty_list = true;
            return Ok(None);
        };
        self.stats.records = list.len() as u64;
        for chunk in list.chunks(self.opts.batch_size.max(1)) {
            let b = self.build(chunk)?;
            self.stats.rows += b.num_rows() as u64;
            self.ready.push_back(b);
        }
        self.names = list.into_iter().map(|e| e.name).collect();
        Ok(self.ready.pop_front())
    }

    fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        Vec::new()
    }

    fn event_names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;

    use super::*;

    const SAMPLE: &str = r#"{
"customEventList": [
{ "name": "UserInput", "hasChildrens": false },
{ "name": "API::ok_status_code_200", "hasChildrens": false },
{ "name": "Get_started_clicked_no", "hasChildrens": true, "extra": [1, {"x": 2}] },
{ "name": "99 FALLBACK KB Integration", "hasChildrens": false }
]
}"#;

    fn ctx() -> RowContext {
        RowContext { account: "acc".into(), bot: "bot".into() }
    }

    fn decoder(batch_size: usize) -> CatalogDecoder {
        CatalogDecoder::new(ctx(), (1_000, 2_000), DecodeOptions { batch_size, ..DecodeOptions::default() })
    }

    /// Feeds `body` in chunks of `chunk` bytes; all batches, or the error.
    fn run(
        mut d: CatalogDecoder,
        body: &[u8],
        chunk: usize,
    ) -> Result<(Vec<RecordBatch>, CatalogDecoder), ConvertError> {
        let mut out = Vec::new();
        crate::convert::decode_chunks(&mut d, body.chunks(chunk.max(1)), &mut out)?;
        Ok((out, d))
    }

    fn reason(body: &str) -> String {
        match run(decoder(100), body.as_bytes(), 7) {
            Err(ConvertError::BadJson { endpoint: "customEvents", reason }) => reason,
            other => panic!("{body}: {:?}", other.map(|(b, _)| b.len())),
        }
    }

    #[test]
    fn the_vendor_sample_in_any_chunking() {
        for chunk in [1, 3, 7, 100, SAMPLE.len()] {
            let (batches, d) = run(decoder(100), SAMPLE.as_bytes(), chunk).unwrap();
            assert_eq!(batches.len(), 1);
            let b = &batches[0];
            assert_eq!(b.schema(), Table::Catalog.schema());
            assert_eq!(b.num_rows(), 4);
            let names: Vec<&str> =
                b.column_by_name("event_name").unwrap().as_string::<i32>().iter().flatten().collect();
            assert_eq!(
                names,
                ["UserInput", "API::ok_status_code_200", "Get_started_clicked_no", "99 FALLBACK KB Integration"]
            );
            let children: Vec<bool> =
                b.column_by_name("has_children").unwrap().as_boolean().iter().map(Option::unwrap).collect();
            assert_eq!(children, [false, false, true, false]);
            let start = b.column_by_name("window_start").unwrap().as_primitive::<TimestampMicrosecondType>();
            let end = b.column_by_name("window_end").unwrap().as_primitive::<TimestampMicrosecondType>();
            assert!(start.iter().all(|v| v == Some(1_000)) && end.iter().all(|v| v == Some(2_000)));
            assert_eq!(b.column_by_name("account_id").unwrap().as_string::<i32>().value(3), "acc");
            assert_eq!(b.column_by_name("bot_id").unwrap().as_string::<i32>().value(0), "bot");
            assert_eq!(d.event_names(), names);
            assert_eq!((d.stats().records, d.stats().rows, d.stats().empty_body), (4, 4, false));
        }
    }

    #[test]
    fn batches_are_cut_at_the_batch_size() {
        let (batches, _) = run(decoder(3), SAMPLE.as_bytes(), 100).unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), [3, 1]);
    }

    #[test]
    fn empty_lists_and_bodies() {
        let (batches, d) = run(decoder(100), br#"{"customEventList": []}"#, 5).unwrap();
        assert!(batches.is_empty() && d.event_names().is_empty() && !d.stats().empty_body);
        // The page's "empty list", in every form it may take.
        for body in [r#"{"customEventList": null}"#, "[]", "[ ]\n", "{}", " { } ", "null", r#"{"other":1}"#] {
            let (batches, d) = run(decoder(100), body.as_bytes(), 1).unwrap();
            assert!(batches.is_empty() && d.event_names().is_empty() && d.stats().empty_list, "{body}");
            assert!(!d.stats().empty_body, "{body}");
        }
        let (batches, d) = run(decoder(100), b"", 5).unwrap();
        assert!(batches.is_empty() && d.stats().empty_body);
    }

    #[test]
    fn the_other_spelling_of_has_children() {
        let (batches, _) = run(decoder(100), br#"{"customEventList":[{"name":"a","hasChildren":true}]}"#, 4).unwrap();
        assert!(batches[0].column_by_name("has_children").unwrap().as_boolean().value(0));
    }

    #[test]
    fn malformed_answers_are_errors_that_say_where() {
        let (batches, _) =
            run(decoder(100), br#"{"customEventList":[{"name":"a"},{"name":"b","hasChildrens":null}]}"#, 3).unwrap();
        let children = batches[0].column_by_name("has_children").unwrap().as_boolean().clone();
        assert!(!children.value(0) && !children.value(1), "a missing or null hasChildrens is false");
        let r = reason(r#"{"customEventList": [{"name": "a", "hasChildrens": false}, {"hasChildrens": true}]}"#);
        assert!(r.contains("customEventList[1]") && r.contains("missing field `name`"), "{r}");
        let r = reason(r#"{"customEventList": [{"name": "a", "hasChildrens": "no"}]}"#);
        assert!(r.starts_with("at customEventList[0].hasChildrens: invalid type: string \"no\""), "{r}");
        let r = reason(r#"{"customEventList": [{"name": 7, "hasChildrens": false}]}"#);
        assert!(r.starts_with("at customEventList[0].name: invalid type: integer `7`"), "{r}");
        let r = reason(r#"{"customEventList": {"name": "a"}}"#);
        assert!(r.starts_with("at customEventList: invalid type: map"), "{r}");
        let r = reason(r#"[{"name": "a", "hasChildrens": false}]"#);
        assert!(r.starts_with("not a JSON object: starts with \"[{"), "{r}");
        let r = reason(r#"{"customEventList": [5]}"#);
        assert!(r.starts_with("at customEventList[0]: invalid type: integer `5`, expected an event entry"), "{r}");
        let r = reason(r#"{"customEventList": [{"name": "a", "hasChildrens": false}"#);
        assert!(r.contains("EOF"), "{r}");
        let r = reason("eventName,platform\nx,y\n");
        assert!(r.starts_with("not a JSON object: starts with \"eventName,platform"), "{r}");
        let err = run(decoder(100), SAMPLE.as_bytes(), 100).map(|_| ()).and_then(|()| {
            let mut d = decoder(100).with_max_body_bytes(64);
            d.push(SAMPLE.as_bytes())
        });
        assert_eq!(err, Err(ConvertError::JsonTooLarge { endpoint: "customEvents", limit: 64 }));
    }
}
