//! One window of one bot: every stream fetched, converted and written, then committed together.
//!
//! Order: totals first (they tell whether the details are complete), then details, then the
//! catalog, then the histograms. The histogram stream asks for one event name per request, and
//! the names are the window's catalog: when `catalog` is not exported itself, it is still fetched
//! (and decoded, but not written) for its names. The names are deduplicated and sorted, so that
//! the histogram files do not depend on the catalog's order.

use std::collections::BTreeMap;

use bytes::BytesMut;
use chrono::NaiveDate;
use object_store::{ObjectStoreExt, PutPayload};

use super::{Run, step};
use crate::convert::{
    BodyDecoder, CatalogDecoder, ConvertError, DecodeOptions, DecodeStats, HistogramDecoder, ParallelDetailDecoder,
    Reject, RowContext, TotalDecoder,
};
use crate::error::Error;
use crate::fetch::retry::{Retry, Retryable, with_retries};
use crate::fetch::{DataRequest, Endpoint, FetchError};
use crate::plan::{Granularity, Slice, Window};
use crate::schema::Table;
use crate::stream::{Interval, Stream};
use crate::write::{PartitionWriter, TableEncoder, WriteError, Written};

/// Network chunks (and file reads) are gathered to this size before a trip to the CPU pool: large
/// enough that the pool splits each into pieces for every core, small enough to keep memory low.
pub const DECODE_CHUNK_BYTES: usize = 2 * 1024 * 1024;

/// Why one attempt at a table window failed.
#[derive(Debug)]
enum AttemptError {
    /// A request failed before its body began, and its own retries are spent: final.
    Request(FetchError),
    /// A body broke off: the window starts over (its slices so far are already in the encoder).
    Fetch(FetchError),
    Convert {
        context: String,
        source: ConvertError,
    },
    Write(WriteError),
}

impl Retryable for AttemptError {
    fn retry(&self) -> Retry {
        match self {
            AttemptError::Fetch(e) => e.retry(),
            AttemptError::Request(_) | AttemptError::Convert { .. } | AttemptError::Write(_) => Retry::No,
        }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Request(e) | AttemptError::Fetch(e) => write!(f, "{}", crate::error::Report(e)),
            AttemptError::Convert { context, source } => write!(f, "{context}: {source}"),
            AttemptError::Write(e) => write!(f, "{}", crate::error::Report(e)),
        }
    }
}

impl From<AttemptError> for Error {
    fn from(e: AttemptError) -> Self {
        match e {
            AttemptError::Request(e) | AttemptError::Fetch(e) => e.into(),
            AttemptError::Convert { context, source } => Error::Convert { context, source },
            AttemptError::Write(e) => Error::Write(e),
        }
    }
}

/// A table window fully decoded and encoded, not yet committed.
struct Fetched {
    writer: PartitionWriter,
    decoded: Decoded,
}

/// Exports one window of one bot: all streams, then their files, in one commit.
pub(crate) async fn export_window(run: &Run, bot: &str, window: Window) -> Result<(), Error> {
    let cfg = &run.cfg;
    let mut done: Vec<(Stream, Fetched)> = Vec::new();
    let mut totals: Option<BTreeMap<NaiveDate, u64>> = None;
    let mut catalog: Option<Vec<String>> = None;
    let mut order = cfg.streams.clone();
    order.sort_by_key(|s| s.fetch_rank());
    for stream in order {
        if stream == Stream::Histogram && catalog.is_none() {
            // The histograms need the window's event names: fetch the catalog, write nothing.
            match fetch_stream(run, bot, window, Stream::Catalog, None, &[]).await {
                Ok(mut f) => {
                    f.writer.abort().await;
                    catalog = Some(std::mem::take(&mut f.decoded.event_names));
                }
                Err(e) => {
                    abort_all(&mut done).await;
                    return Err(e);
                }
            }
        }
        let names = match stream {
            Stream::Histogram => histogram_names(run, bot, window, catalog.as_deref().unwrap_or_default()),
            _ => Vec::new(),
        };
        let fetched = match fetch_stream(run, bot, window, stream, totals.as_ref(), &names).await {
            Ok(f) => f,
            Err(e) => {
                abort_all(&mut done).await;
                return Err(e);
            }
        };
        match stream {
            // Totals in another time zone's days cannot plan or check the details by UTC day.
            Stream::Total if fetched.decoded.stats.unaligned_buckets == 0 => {
                totals = Some(fetched.decoded.per_day.clone());
            }
            Stream::Total => {}
            Stream::Catalog => catalog = Some(fetched.decoded.event_names.clone()),
            Stream::Detail | Stream::Histogram => {}
        }
        done.push((stream, fetched));
    }
    // Rejected rows: written for inspection; over the allowance the window fails uncommitted.
    let mut rejected_now = 0;
    let mut first_reject = None;
    for (stream, f) in done.iter_mut() {
        rejected_now += f.decoded.stats.rejected;
        if first_reject.is_none()
            && let Some((_, r)) = f.decoded.rejects.first()
        {
            first_reject = Some((*stream, r.place(), r.reason.clone()));
        }
        let rejects = std::mem::take(&mut f.decoded.rejects);
        if let Err(e) = write_rejects(run, bot, window, stream.table(), &rejects).await {
            abort_all(&mut done).await;
            return Err(e);
        }
    }
    if rejected_now > 0 {
        let total = {
            let mut s = run.summary.lock().unwrap_or_else(|e| e.into_inner());
            s.rows_rejected += rejected_now;
            s.rows_rejected
        };
        if total > cfg.max_bad_rows {
            let (stream, first_at, first_reason) =
                first_reject.unwrap_or((Stream::Detail, String::new(), String::new()));
            let err = Error::Rejected {
                context: format!("{} bot {bot} window {window}", stream.table()),
                rejected: total,
                max: cfg.max_bad_rows,
                rejects: run.cfg.dest.rejects_path(stream.table(), &cfg.api.account, bot, window).to_string(),
                first_at,
                first_reason,
            };
            abort_all(&mut done).await;
            return Err(err);
        }
    }
    // Commit every table's files, then report.
    for (stream, f) in done {
        note_stats(run, bot, window, stream, &f.decoded.stats);
        let written = f.writer.commit(f.decoded.tails).await?;
        note_written(run, stream.table(), &written);
    }
    Ok(())
}

/// Fetches one stream of a window, splitting it into smaller slices when the API refuses the
/// whole window (400) or when the details are capped or short of the totals. `names` are the
/// event names of the histogram stream (one request each per slice).
async fn fetch_stream(
    run: &Run,
    bot: &str,
    window: Window,
    stream: Stream,
    totals: Option<&BTreeMap<NaiveDate, u64>>,
    names: &[String],
) -> Result<Fetched, Error> {
    let cfg = &run.cfg;
    let mut g = start_granularity(stream, window, totals, cfg.row_cap);
    if g != Granularity::Window {
        tracing::info!(bot, %window, granularity = ?g, "the totals exceed the row cap: fetching in smaller slices");
        run.note(|s| s.splits += 1);
    }
    loop {
        let f = match fetch_with_retries(run, bot, window, stream, g, names).await {
            Ok(f) => f,
            Err(AttemptError::Request(FetchError::Status { status: 400, .. }))
                if g == Granularity::Window && window.len_days() > 1 =>
            {
                run.warn(format!(
                    "bot {bot} window {window}: the API refused the {}-day request (400); fetching it day by day",
                    window.len_days()
                ));
                run.note(|s| s.splits += 1);
                g = Granularity::Day;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if stream == Stream::Detail {
            let capped = f.decoded.max_records >= cfg.row_cap;
            let short = totals
                .is_some_and(|t| t.iter().any(|(day, &want)| f.decoded.per_day.get(day).copied().unwrap_or(0) < want));
            let finer = g.finer().filter(|_| capped || (short && g == Granularity::Window));
            if let Some(next) = finer {
                tracing::info!(bot, %window, granularity = ?next, capped, short, "re-fetching in smaller slices");
                run.note(|s| s.splits += 1);
                let mut f = f;
                f.writer.abort().await;
                g = next;
                continue;
            }
            if capped {
                let mut f = f;
                f.writer.abort().await;
                return Err(Error::RowCap {
                    context: format!("{} bot {bot} window {window}", Endpoint::Detail),
                    rows: f.decoded.max_records,
                });
            }
            if let Some(t) = totals {
                reconcile(run, bot, window, t, &f.decoded.per_day);
            }
        }
        return Ok(f);
    }
}

/// The event names whose histograms a window asks for: the catalog's, each once, sorted (so that
/// the files do not depend on the catalog's order). An empty name cannot be asked for (the API
/// takes an empty `eventName` as none): it is skipped with a warning.
fn histogram_names(run: &Run, bot: &str, window: Window, catalog: &[String]) -> Vec<String> {
    let mut names: Vec<String> = catalog.to_vec();
    names.sort();
    names.dedup();
    let listed = names.len();
    names.retain(|n| !n.trim().is_empty());
    if names.len() < listed {
        run.warn(format!(
            "bot {bot} window {window}: the catalog lists an event whose name is blank; its histogram is skipped"
        ));
    }
    names
}

/// Where the details of a window start: when the totals already say that a whole window (or a
/// day) holds more events than one download can carry, the doomed request is not sent at all.
fn start_granularity(
    stream: Stream,
    window: Window,
    totals: Option<&BTreeMap<NaiveDate, u64>>,
    row_cap: u64,
) -> Granularity {
    let Some(t) = totals.filter(|_| stream == Stream::Detail) else { return Granularity::Window };
    if t.values().any(|&n| n >= row_cap) {
        Granularity::Hour
    } else if t.values().sum::<u64>() >= row_cap && window.len_days() > 1 {
        Granularity::Day
    } else {
        Granularity::Window
    }
}

async fn abort_all(done: &mut Vec<(Stream, Fetched)>) {
    for (_, f) in done.iter_mut() {
        f.writer.abort().await;
    }
    done.clear();
}

fn reconcile(
    run: &Run,
    bot: &str,
    window: Window,
    totals: &BTreeMap<NaiveDate, u64>,
    details: &BTreeMap<NaiveDate, u64>,
) {
    for day in window.days() {
        let want = totals.get(&day).copied().unwrap_or(0);
        let got = details.get(&day).copied().unwrap_or(0);
        if want != got {
            run.warn(format!("bot {bot} {day}: {got} detail rows but the total stream counts {want} events"));
        }
    }
}

fn note_stats(run: &Run, bot: &str, window: Window, stream: Stream, st: &DecodeStats) {
    run.note(|s| {
        match stream {
            Stream::Detail => s.rows_outside_window += st.outside_window,
            _ => s.buckets_outside_window += st.outside_window,
        }
        s.unaligned_buckets += st.unaligned_buckets;
        s.total_mismatches += st.total_mismatches;
    });
    if st.unaligned_buckets > 0 {
        run.warn(format!(
            "bot {bot} window {window}: {} {} rows are in buckets that do not start on a UTC {} (the API's periods are another time zone's); kept whole at their own start, and the details are not checked against these totals",
            st.unaligned_buckets,
            stream.table(),
            match run.cfg.interval {
                Interval::Daily => "day",
                Interval::Hourly => "hour",
            }
        ));
    }
    for p in &st.unknown_platforms {
        run.warn(format!("{}: unknown platform {p:?} kept as is", stream.table()));
    }
    for c in &st.ignored_columns {
        run.warn(format!("{}: unknown CSV column {c:?} ignored", stream.table()));
    }
    if st.total_mismatches > 0 {
        let what = match stream {
            Stream::Histogram => "histogram periods (or totals) that differ from the sum of their platform counts",
            _ => "totals rows whose Event total differs from the sum of their platform columns",
        };
        run.warn(format!("bot {bot} window {window}: {} {what}", st.total_mismatches));
    }
    if st.empty_body || st.empty_list {
        // The page's answer for no events: no rows, counted, not warned about.
        tracing::debug!(bot, %window, stream = stream.as_str(), "the API answered with an empty list: no rows");
        run.note(|s| s.empty_answers += 1);
    }
}

fn note_written(run: &Run, table: Table, w: &Written) {
    run.note(|s| {
        let t = s.tables.entry(table.name().to_string()).or_default();
        for f in &w.files {
            t.rows += f.rows;
            t.bytes += f.bytes;
            t.files_written += 1;
        }
        t.files_removed += w.removed.len() as u64;
    });
}

async fn write_rejects(
    run: &Run,
    bot: &str,
    window: Window,
    table: Table,
    rejects: &[(Slice, Reject)],
) -> Result<(), Error> {
    let cfg = &run.cfg;
    let path = cfg.dest.rejects_path(table, &cfg.api.account, bot, window);
    let store = cfg.dest.store();
    if rejects.is_empty() {
        // A clean re-export clears the rejects of an earlier attempt at this window.
        if store.head(&path).await.is_ok() {
            store.delete(&path).await.map_err(|source| WriteError::Store {
                op: "removing",
                path: path.to_string(),
                source,
            })?;
        }
        return Ok(());
    }
    let mut out = Vec::new();
    for (slice, r) in rejects {
        let line = serde_json::json!({
            "table": table.name(),
            "account": cfg.api.account,
            "bot": bot,
            "request": slice.to_string(),
            "line": r.line,
            "column": r.column,
            "column_name": r.column_name,
            "reason": r.reason,
            "record": r.record,
        });
        out.extend_from_slice(line.to_string().as_bytes());
        out.push(b'\n');
    }
    store.put(&path, PutPayload::from(out)).await.map_err(|source| WriteError::Store {
        op: "writing",
        path: path.to_string(),
        source,
    })?;
    run.note(|s| s.rejects_files.push(path.to_string()));
    Ok(())
}

async fn fetch_with_retries(
    run: &Run,
    bot: &str,
    window: Window,
    stream: Stream,
    g: Granularity,
    names: &[String],
) -> Result<Fetched, AttemptError> {
    with_retries(
        &run.cfg.api.retry,
        |_attempt| attempt(run, bot, window, stream, g, names),
        |e, n, wait| {
            tracing::warn!(bot, %window, stream = stream.as_str(), attempt = n, wait_ms = wait.as_millis() as u64, error = %e, "retrying the window");
            run.note(|s| s.retries += 1);
            if let AttemptError::Fetch(FetchError::Status { status: 429, .. }) = e {
                run.client.limiter().back_off(wait);
            }
        },
    )
    .await
}

/// Sends one request, retrying failures that happen before its body begins (statuses, refused
/// or dropped connections, timeouts waiting for the response): nothing of it has been used yet,
/// so the window's other slices need not start over.
async fn send_with_retries(run: &Run, req: &DataRequest) -> Result<crate::fetch::Body, FetchError> {
    with_retries(
        &run.cfg.api.retry,
        |_attempt| run.client.send(req),
        |e, n, wait| {
            tracing::warn!(attempt = n, wait_ms = wait.as_millis() as u64, error = %crate::error::Report(e), "retrying the request");
            run.note(|s| s.retries += 1);
            if let FetchError::Status { status: 429, .. } = e {
                run.client.limiter().back_off(wait);
            }
        },
    )
    .await
}

/// One attempt: every request of the window (per slice, and per event name for the histogram
/// stream), decoded and encoded; uploads started, nothing visible.
async fn attempt(
    run: &Run,
    bot: &str,
    window: Window,
    stream: Stream,
    g: Granularity,
    names: &[String],
) -> Result<Fetched, AttemptError> {
    let cfg = &run.cfg;
    // The days whose files this attempt replaces, or removes when they have no rows now. A
    // catalog is filed under the day its request starts, so one request for the whole window
    // owns that day only: the window's other days may hold the catalogs of other windows.
    let owned = if stream == Stream::Catalog && g == Granularity::Window { Window::day(window.start) } else { window };
    let mut writer =
        PartitionWriter::new(cfg.dest.clone(), stream.table(), &cfg.api.account, bot, Some(owned), cfg.write.format);
    if matches!(stream, Stream::Total | Stream::Histogram) && cfg.interval == Interval::Daily {
        writer = writer.with_day_before();
    }
    match attempt_inner(run, bot, window, stream, g, names, &mut writer).await {
        Ok(decoded) => Ok(Fetched { writer, decoded }),
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

/// The decoder of one response to `req`, as an export decodes it: only detail rows inside the
/// request's range are kept, and aggregate buckets that overlap it (see [`DecodeOptions::bucket`]).
/// `check` decodes its sample answers with the same decoders.
pub(crate) fn decoder_for(req: &DataRequest, account: &str, interval: Interval) -> Box<dyn BodyDecoder> {
    let ctx = RowContext { account: account.to_string(), bot: req.bot.clone() };
    let range = (req.slice.start.timestamp_micros(), req.slice.end.timestamp_micros());
    let opts = DecodeOptions { keep_range: Some(range), ..DecodeOptions::default() };
    match req.endpoint {
        Endpoint::Total => Box::new(TotalDecoder::new(ctx, interval, opts)),
        Endpoint::Catalog => Box::new(CatalogDecoder::new(ctx, range, opts)),
        Endpoint::Histogram => {
            Box::new(HistogramDecoder::new(ctx, interval, req.event_name.clone().unwrap_or_default(), opts))
        }
        _ => Box::new(ParallelDetailDecoder::new(ctx, opts)),
    }
}

/// What one attempt decoded, apart from the writer its files go to.
#[derive(Default)]
struct Decoded {
    /// The encoders' last bytes per day, with the day's row count.
    tails: Vec<(NaiveDate, Vec<u8>, u64)>,
    stats: DecodeStats,
    rejects: Vec<(Slice, Reject)>,
    /// Per day: rows (detail) or the sum of counts (total, histogram).
    per_day: BTreeMap<NaiveDate, u64>,
    /// Largest number of records in one response (for the row cap).
    max_records: u64,
    /// The event names the catalog listed (catalog only).
    event_names: Vec<String>,
}

/// The requests of one slice: one, or one per event name for the histogram stream.
fn requests(run: &Run, bot: &str, stream: Stream, slice: Slice, names: &[String]) -> Vec<DataRequest> {
    let one =
        |endpoint, interval, event_name| DataRequest { endpoint, bot: bot.to_string(), slice, interval, event_name };
    let interval = run.cfg.interval;
    match stream {
        Stream::Detail => vec![one(Endpoint::Detail, None, None)],
        Stream::Total => vec![one(Endpoint::Total, Some(interval), None)],
        Stream::Catalog => vec![one(Endpoint::Catalog, None, None)],
        Stream::Histogram => names.iter().map(|n| one(Endpoint::Histogram, Some(interval), Some(n.clone()))).collect(),
    }
}

async fn attempt_inner(
    run: &Run,
    bot: &str,
    window: Window,
    stream: Stream,
    g: Granularity,
    names: &[String],
    writer: &mut PartitionWriter,
) -> Result<Decoded, AttemptError> {
    let cfg = &run.cfg;
    let table = stream.table();
    let ctx = RowContext { account: cfg.api.account.clone(), bot: bot.to_string() };
    let mut pipeline = step::Pipeline::new(TableEncoder::new(table, cfg.write.clone()), cfg.dest.part_size());
    let mut out = Decoded::default();
    for slice in g.slices(window) {
        let reqs = requests(run, bot, stream, slice, names);
        let mut refused: Vec<(String, FetchError)> = Vec::new();
        for req in &reqs {
            let mut body = match send_with_retries(run, req).await {
                Ok(body) => body,
                // One event's histogram that the API does not have: that event has none.
                Err(e @ FetchError::Status { status: 400 | 404, .. }) if stream == Stream::Histogram => {
                    refused.push((req.event_name.clone().unwrap_or_default(), e));
                    continue;
                }
                Err(e) => return Err(AttemptError::Request(e)),
            };
            let target = body.target().clone();
            let context = format!("{target}, {}", body.correlation);
            let decoder = decoder_for(req, &ctx.account, cfg.interval);
            pipeline.begin(decoder);
            let mut buf = BytesMut::new();
            let mut done = false;
            while !done {
                match body.chunk().await.map_err(AttemptError::Fetch)? {
                    Some(c) => {
                        buf.extend_from_slice(&c);
                        if buf.len() < DECODE_CHUNK_BYTES {
                            continue;
                        }
                    }
                    None => done = true,
                }
                let chunk = buf.split().freeze();
                let (parts, day_counts) = pipeline.feed(chunk, done).await.map_err(|e| match e {
                    step::StepError::Convert(source) => AttemptError::Convert { context: context.clone(), source },
                    step::StepError::Write(w) => AttemptError::Write(w),
                })?;
                for (day, n) in day_counts {
                    *out.per_day.entry(day).or_default() += n;
                }
                writer.upload(parts).await.map_err(AttemptError::Write)?;
            }
            run.note(|s| s.bytes_received += body.bytes);
            if let Some(decoder) = pipeline.decoder_mut() {
                let st = decoder.stats();
                out.max_records = out.max_records.max(st.records);
                out.stats.add(st);
                out.rejects.extend(decoder.take_rejects().into_iter().map(|r| (slice, r)));
                out.event_names.extend(decoder.event_names().iter().cloned());
            }
        }
        // A 400 for every event of a multi-day slice is about the slice: let the window split.
        let all_400 =
            !refused.is_empty() && refused.len() == reqs.len() && refused.iter().all(|(_, e)| e.status() == Some(400));
        if all_400 && slice.end - slice.start > chrono::Duration::days(1) {
            let (_, e) = refused.swap_remove(0);
            return Err(AttemptError::Request(e));
        }
        for (name, e) in refused {
            run.warn(format!(
                "bot {bot} window {window}: no histogram for event {name:?}, taken as empty: {}",
                crate::error::Report(&e)
            ));
        }
    }
    let (tails, busy) = pipeline.finish().await;
    run.note(|s| s.conversion_ms += busy.as_millis() as u64);
    out.tails = tails.map_err(AttemptError::Write)?;
    Ok(out)
}
