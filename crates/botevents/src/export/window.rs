//! One window of one bot: every stream fetched, converted and written, then committed together.
//!
//! Order: totals first (they tell whether the details are complete), then details, then the
//! catalog, then the histograms. The histogram stream asks for one event name per request, and
//! the names are the window's catalog: when `catalog` is not exported itself, it is still fetched
//! (and decoded, but not written) for its names. The names are deduplicated and sorted, so that
//! the histogram files do not depend on the catalog's order.
//!
//! The details are planned from the totals ([`crate::plan::packing`]). Each request is the unit
//! of retry: its body's rows are held (at most one response, the row cap) until the body is
//! complete, so a body that breaks off is fetched again alone, and the requests already received
//! stay. Every table's writer sits in the window's [`WindowTx`], committed together or aborted.

use std::collections::BTreeMap;

use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, Utc};
use object_store::{ObjectStoreExt, PutPayload};

use super::tx::{Decoded, Fetched, WindowTx};
use super::warning::Warning;
use super::{Run, step};
use crate::convert::{
    BodyDecoder, CatalogDecoder, ConvertError, DecodeOptions, DecodeStats, HistogramDecoder, ParallelDetailDecoder,
    Reject, RowContext, TotalDecoder,
};
use crate::error::Error;
use crate::fetch::retry::Attempts;
use crate::fetch::{CorrelationId, DataRequest, Endpoint, FetchError};
use crate::plan::{Granularity, Slice, Window, packing};
use crate::schema::Table;
use crate::stream::{Interval, Stream};
use crate::write::{PartitionWriter, TableEncoder, WriteError, Written};

/// Network chunks (and file reads) are gathered to this size before a trip to the CPU pool: large
/// enough that the pool splits each into pieces for every core, small enough to keep memory low.
pub const DECODE_CHUNK_BYTES: usize = 2 * 1024 * 1024;

/// Why fetching a table window failed.
#[derive(Debug)]
enum AttemptError {
    /// A request failed before its body began: final, or its retries are spent.
    Request(FetchError),
    /// A body broke off: final, or its retries are spent.
    Fetch(FetchError),
    /// A request's retries ran out (or the run's retry time): the last error, with every
    /// attempt's correlationId.
    GaveUp {
        last: FetchError,
        attempts: u32,
        correlations: Vec<CorrelationId>,
    },
    Convert {
        context: String,
        source: ConvertError,
    },
    Write(WriteError),
}

impl AttemptError {
    /// The failed request's error, when the failure is the request's (not the data's or the
    /// destination's).
    fn fetch_error(&self) -> Option<&FetchError> {
        match self {
            AttemptError::Request(e) | AttemptError::Fetch(e) => Some(e),
            _ => None,
        }
    }
}

impl From<AttemptError> for Error {
    fn from(e: AttemptError) -> Self {
        match e {
            AttemptError::Request(e) | AttemptError::Fetch(e) => e.into(),
            AttemptError::GaveUp { last, attempts, correlations } => Error::GaveUp {
                attempts,
                correlations: correlations
                    .iter()
                    .map(|c| c.0.as_deref().unwrap_or("none"))
                    .collect::<Vec<_>>()
                    .join(", "),
                source: last,
            },
            AttemptError::Convert { context, source } => Error::Convert { context, source },
            AttemptError::Write(e) => Error::Write(e),
        }
    }
}

/// How a window's export ended.
#[derive(Debug)]
pub(crate) enum WindowEnd {
    /// Every stream fetched and its files committed.
    Committed,
    /// Fetched, but the window before it failed: abandoned uncommitted.
    Abandoned,
}

/// How a window of a bot follows the bot's window before it, whose requests overlap its own.
#[derive(Debug, Default)]
pub(crate) struct After {
    /// Resolves when the window before has fetched every stream (or failed). Until then this
    /// window sends only its totals (and the hourly totals that plan its details), so that one
    /// window's details per bot are in flight, and in memory, at a time.
    pub fetched: Option<tokio::sync::oneshot::Receiver<()>>,
    /// Resolves when the window before has ended: `true` when it committed. This window commits
    /// only then, so that a bot's windows commit in order; when that window failed, this one is
    /// abandoned.
    pub committed: Option<tokio::sync::oneshot::Receiver<bool>>,
}

impl After {
    /// Waits until the window before has fetched every stream (at once the second time, and for
    /// a first window).
    pub async fn fetched(&mut self) {
        if let Some(before) = self.fetched.take() {
            let _ = before.await;
        }
    }

    /// Waits until the window before has ended: whether it committed (`true` for a first window).
    pub async fn committed(self) -> bool {
        match self.committed {
            Some(before) => before.await.unwrap_or(false),
            None => true,
        }
    }
}

/// Exports one window of one bot: all streams, then their files, in one commit, following the
/// window before it as `after` says; `fetched` is told once every stream is fetched (or the
/// window failed). Its span (inside the bot's) names the window.
#[tracing::instrument(name = "window", skip_all, fields(window = %window))]
pub(crate) async fn export_window(
    run: &Run,
    bot: &str,
    window: Window,
    after: After,
    fetched: tokio::sync::oneshot::Sender<()>,
) -> Result<WindowEnd, Error> {
    let mut after = after;
    let mut tx = WindowTx::default();
    let filled = fill(run, bot, window, &mut tx, &mut after).await;
    let _ = fetched.send(());
    if let Err(e) = filled {
        tx.abort().await;
        return Err(e);
    }
    if !after.committed().await {
        tracing::debug!("the window before failed: abandoning this one");
        tx.abort().await;
        return Ok(WindowEnd::Abandoned);
    }
    tx.commit(|stream, stats, written| {
        note_stats(run, bot, window, stream, stats);
        note_written(run, stream.table(), written);
    })
    .await?;
    Ok(WindowEnd::Committed)
}

/// Fetches, converts and uploads every stream of a window into `tx`, and writes its rejects.
/// Streams other than the totals wait for the window before's fetching (see [`After`]).
async fn fill(run: &Run, bot: &str, window: Window, tx: &mut WindowTx, after: &mut After) -> Result<(), Error> {
    let cfg = &run.cfg;
    let mut totals: Option<BTreeMap<NaiveDate, u64>> = None;
    let mut catalog: Option<Vec<String>> = None;
    let mut order = cfg.streams.clone();
    order.sort_by_key(|s| s.fetch_rank());
    for stream in order {
        if stream == Stream::Histogram && catalog.is_none() {
            // The histograms need the window's event names: fetch the catalog, write nothing.
            let mut f = fetch_stream(run, bot, window, Stream::Catalog, None, &[], after).await?;
            f.writer.abort().await;
            catalog = Some(std::mem::take(&mut f.decoded.event_names));
        }
        let names = match stream {
            Stream::Histogram => histogram_names(run, bot, window, catalog.as_deref().unwrap_or_default()),
            _ => Vec::new(),
        };
        let fetched = fetch_stream(run, bot, window, stream, totals.as_ref(), &names, after).await?;
        match stream {
            // Totals in another time zone's days cannot plan or check the details by UTC day.
            Stream::Total if fetched.decoded.stats.unaligned_buckets == 0 => {
                totals = Some(fetched.decoded.per_day.clone());
            }
            Stream::Total => {}
            Stream::Catalog => catalog = Some(fetched.decoded.event_names.clone()),
            Stream::Detail | Stream::Histogram => {}
        }
        tx.push(stream, fetched);
    }
    // Rejected rows: written for inspection; over the allowance the window fails uncommitted.
    let mut rejected_now = 0;
    let mut first_reject = None;
    for (stream, f) in tx.tables_mut() {
        rejected_now += f.decoded.stats.rejected;
        if first_reject.is_none()
            && let Some((_, r)) = f.decoded.rejects.first()
        {
            first_reject = Some((stream, r.place(), r.reason.clone()));
        }
        let rejects = std::mem::take(&mut f.decoded.rejects);
        write_rejects(run, bot, window, stream.table(), &rejects).await?;
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
            return Err(Error::Rejected {
                context: format!("{} bot {bot} window {window}", stream.table()),
                rejected: total,
                max: cfg.max_bad_rows,
                rejects: run.cfg.dest.rejects_path(stream.table(), &cfg.api.account, bot, window).to_string(),
                first_at,
                first_reason,
            });
        }
    }
    Ok(())
}

/// How a stream's window is cut into requests.
#[derive(Debug, Clone, PartialEq)]
enum SlicePlan {
    /// Every slice of one granularity.
    Uniform(Granularity),
    /// Detail slices packed from the totals (newest first; none for a window without events).
    Packed(Vec<Slice>),
}

impl SlicePlan {
    fn slices(&self, window: Window) -> Vec<Slice> {
        match self {
            SlicePlan::Uniform(g) => g.slices(window),
            SlicePlan::Packed(s) => s.clone(),
        }
    }

    /// Whether the plan is one request for the whole window.
    fn whole(&self, window: Window) -> bool {
        let whole = Slice { start: window.start_time(), end: window.end_time() };
        match self {
            SlicePlan::Uniform(g) => *g == Granularity::Window,
            SlicePlan::Packed(s) => s.as_slice() == [whole],
        }
    }

    /// Whether some request covers more than one day.
    fn has_multi_day(&self, window: Window) -> bool {
        self.slices(window).iter().any(|s| s.end - s.start > chrono::Duration::days(1))
    }

    /// The plan after a response held the cap (`capped`) or fewer rows than the totals (`short`):
    /// finer slices, or `None` when there are none.
    fn finer(&self, window: Window, capped: &[Slice], short: bool) -> Option<SlicePlan> {
        let one_day = |s: &Slice| s.end - s.start <= chrono::Duration::days(1);
        match self {
            SlicePlan::Uniform(g) if !capped.is_empty() => g.finer().map(SlicePlan::Uniform),
            SlicePlan::Uniform(g) => {
                (short && *g == Granularity::Window).then_some(SlicePlan::Uniform(Granularity::Day))
            }
            SlicePlan::Packed(_) if capped.iter().any(one_day) => Some(SlicePlan::Uniform(Granularity::Hour)),
            SlicePlan::Packed(_) if !capped.is_empty() || (short && self.has_multi_day(window)) => {
                Some(SlicePlan::Uniform(Granularity::Day))
            }
            SlicePlan::Packed(_) => None,
        }
    }
}

/// Fetches one stream of a window. The details are planned from the totals when there are
/// some ([`packed_plan`]); a stream is fetched again in smaller slices when the API refuses the
/// whole window (400) or when the details are capped or short of the totals. `names` are the
/// event names of the histogram stream (one request each per slice). A stream other than the
/// totals is planned, then waits for the window before's fetching (`after`) before its first
/// request.
async fn fetch_stream(
    run: &Run,
    bot: &str,
    window: Window,
    stream: Stream,
    totals: Option<&BTreeMap<NaiveDate, u64>>,
    names: &[String],
    after: &mut After,
) -> Result<Fetched, Error> {
    let cfg = &run.cfg;
    let mut plan = match totals.filter(|_| stream == Stream::Detail) {
        Some(t) => packed_plan(run, bot, window, t).await.map_err(Error::from)?,
        None => SlicePlan::Uniform(Granularity::Window),
    };
    if stream != Stream::Total {
        after.fetched().await;
    }
    loop {
        let f = match attempt(run, bot, window, stream, &plan, names).await {
            Ok(f) => f,
            Err(AttemptError::Request(FetchError::Status { status: 400, .. }))
                if plan.whole(window) && window.len_days() > 1 =>
            {
                run.warn(Warning::SplitByDay { bot: bot.to_string(), window });
                run.note(|s| s.splits += 1);
                plan = SlicePlan::Uniform(Granularity::Day);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if stream == Stream::Detail {
            let capped = f.decoded.max_records >= cfg.row_cap;
            let short = totals
                .is_some_and(|t| t.iter().any(|(day, &want)| f.decoded.per_day.get(day).copied().unwrap_or(0) < want));
            if let Some(next) = plan.finer(window, &f.decoded.capped, short) {
                tracing::info!(plan = ?next, capped, short, "re-fetching in smaller slices");
                run.note(|s| s.splits += 1);
                let mut f = f;
                f.writer.abort().await;
                plan = next;
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

/// The detail requests of a window, packed from its totals: consecutive days up to the budget
/// (a share of the row cap) and 7 days; a day over the budget in hour slices packed the same way,
/// from hourly totals (one request for the window's busy days). A window without events gets no
/// request.
async fn packed_plan(
    run: &Run,
    bot: &str,
    window: Window,
    per_day: &BTreeMap<NaiveDate, u64>,
) -> Result<SlicePlan, AttemptError> {
    let cfg = &run.cfg;
    let budget = packing::budget(cfg.row_cap, packing::DEFAULT_PACK_SHARE_PERCENT);
    let (days, busy) = packing::days(window, per_day, budget);
    let mut hourly_requests = 0;
    let per_hour = match (busy.first(), busy.last()) {
        (Some(&first), Some(&last)) => {
            hourly_requests += 1;
            let span = Slice { start: Window::day(first).start_time(), end: Window::day(last).end_time() };
            let per_hour = hourly_totals(run, bot, span).await?;
            if per_hour.is_none() {
                tracing::info!("the hourly totals do not fit UTC hours: busy days go hour by hour");
            }
            per_hour
        }
        _ => None,
    };
    let mut units = Vec::with_capacity(days.len());
    for u in days {
        let day = u.slice.start.date_naive();
        if busy.contains(&day) {
            units.extend(packing::hours(day, per_hour.as_ref()));
        } else {
            units.push(u);
        }
    }
    let slices = packing::pack(&units, budget);
    let unpacked = packing::unpacked_requests(window, per_day, cfg.row_cap);
    tracing::debug!(requests = slices.len(), hourly_requests, unpacked, "detail requests packed from the totals");
    run.note(|s| {
        let p = &mut s.packing;
        p.detail_requests += slices.len() as u64;
        p.hourly_totals_requests += hourly_requests;
        p.unpacked_detail_requests += unpacked;
        p.empty_windows_skipped += u64::from(slices.is_empty());
        p.requests_saved = p.unpacked_detail_requests as i64 - (p.detail_requests + p.hourly_totals_requests) as i64;
    });
    if slices.len() > 1 {
        run.note(|s| s.splits += 1);
    }
    Ok(SlicePlan::Packed(slices))
}

/// The event count per hour of `span`, from one hourly totals request (decoded, not written).
/// `None` when its buckets do not start on UTC hours.
async fn hourly_totals(
    run: &Run,
    bot: &str,
    span: Slice,
) -> Result<Option<BTreeMap<DateTime<Utc>, u64>>, AttemptError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    let req = DataRequest {
        endpoint: Endpoint::Total,
        bot: bot.to_string(),
        slice: span,
        interval: Some(Interval::Hourly),
        event_name: None,
    };
    let body = with_request_retries(run, Stream::Total, &req, async |_| {
        let mut body = run.client.send(&req).await.map_err(AttemptError::Request)?;
        let mut all = BytesMut::new();
        while let Some(c) = body.chunk().await.map_err(AttemptError::Fetch)? {
            all.extend_from_slice(&c);
        }
        run.note(|s| s.bytes_received += body.bytes);
        Ok((all.freeze(), format!("{}, {}", body.target(), body.correlation)))
    })
    .await?;
    let (bytes, context) = body;
    let mut decoder = decoder_for(&req, &run.cfg.api.account, Interval::Hourly);
    let convert = |source| AttemptError::Convert { context: context.clone(), source };
    let mut batches = Vec::new();
    decoder.push(&bytes).map_err(convert)?;
    while let Some(b) = decoder.next_batch().map_err(convert)? {
        batches.push(b);
    }
    if let Some(b) = decoder.finish().map_err(convert)? {
        batches.push(b);
        while let Some(b) = decoder.next_batch().map_err(convert)? {
            batches.push(b);
        }
    }
    if decoder.stats().unaligned_buckets > 0 {
        return Ok(None);
    }
    let mut per_hour: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
    for b in &batches {
        let (Some(times), Some(counts)) = (b.column_by_name("period_start"), b.column_by_name("event_count")) else {
            continue;
        };
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let counts = counts.as_primitive::<Int64Type>();
        for (t, n) in times.values().iter().zip(counts.values()) {
            if let Some(t) = DateTime::from_timestamp_micros(*t) {
                *per_hour.entry(t).or_default() += (*n).max(0) as u64;
            }
        }
    }
    Ok(Some(per_hour))
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
        run.warn(Warning::BlankEventName { bot: bot.to_string(), window });
    }
    names
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
            run.warn(Warning::DetailCount { bot: bot.to_string(), day, got, want });
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
        run.warn(Warning::UnalignedBuckets {
            bot: bot.to_string(),
            window,
            table: stream.table(),
            rows: st.unaligned_buckets,
            interval: run.cfg.interval,
        });
    }
    for w in Warning::of_stats(stream.table(), st, Some((bot, window))) {
        run.warn(w);
    }
    if st.empty_body || st.empty_list {
        // The page's answer for no events: no rows, counted, not warned about.
        tracing::debug!(stream = stream.as_str(), "the API answered with an empty list: no rows");
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

/// Runs `op` (one request: sent, and its body received) until it succeeds, fails for good, or
/// its own retry budget (`--max-retries`, and the run's retry time) is spent. Each request is
/// retried alone: what the window's other requests received stays.
async fn with_request_retries<T>(
    run: &Run,
    stream: Stream,
    req: &DataRequest,
    mut op: impl AsyncFnMut(u32) -> Result<T, AttemptError>,
) -> Result<T, AttemptError> {
    let mut attempts = Attempts::new(&run.cfg.api.retry);
    let mut correlations = Vec::new();
    loop {
        run.note(|s| *s.requests_by_stream.entry(stream.as_str().to_string()).or_default() += 1);
        let e = match op(attempts.made() - 1).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(fe) = e.fetch_error() else { return Err(e) };
        correlations.push(fe.correlation().cloned().unwrap_or_default());
        if !Attempts::retryable(fe) {
            return Err(e);
        }
        let next = attempts.next(fe).filter(|(_, wait)| run.retry_time.spend(*wait));
        let Some((n, wait)) = next else {
            let (AttemptError::Request(last) | AttemptError::Fetch(last)) = e else { unreachable!("a fetch error") };
            return Err(AttemptError::GaveUp { last, attempts: attempts.made(), correlations });
        };
        let cause = fe.cause();
        tracing::warn!(
            bot = %req.bot, window = %req.slice, endpoint = %req.endpoint, attempt = n, ?cause,
            wait_ms = wait.as_millis() as u64, error = %crate::error::Report(fe), "retrying the request"
        );
        run.note(|s| {
            s.retries += 1;
            s.retries_by_cause.add(cause);
        });
        if let FetchError::Status { status: 429, .. } = fe {
            run.client.limiter().back_off(wait);
        }
        tokio::time::sleep(wait).await;
    }
}

/// One attempt at a stream's window: every request of the plan (per slice, and per event name
/// for the histogram stream), each retried on its own, decoded and encoded; uploads started,
/// nothing visible.
async fn attempt(
    run: &Run,
    bot: &str,
    window: Window,
    stream: Stream,
    plan: &SlicePlan,
    names: &[String],
) -> Result<Fetched, AttemptError> {
    let cfg = &run.cfg;
    // The days whose files this attempt replaces, or removes when they have no rows now. A
    // catalog is filed under the day its request starts, so one request for the whole window
    // owns that day only: the window's other days may hold the catalogs of other windows.
    let owned = if stream == Stream::Catalog && plan.whole(window) { Window::day(window.start) } else { window };
    let mut writer =
        PartitionWriter::new(cfg.dest.clone(), stream.table(), &cfg.api.account, bot, Some(owned), cfg.write.format);
    if matches!(stream, Stream::Total | Stream::Histogram) && cfg.interval == Interval::Daily {
        writer = writer.with_day_before();
    }
    match attempt_inner(run, bot, window, stream, plan, names, &mut writer).await {
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
    plan: &SlicePlan,
    names: &[String],
    writer: &mut PartitionWriter,
) -> Result<Decoded, AttemptError> {
    use futures::StreamExt;
    let cfg = &run.cfg;
    let table = stream.table();
    let mut pipeline = step::Pipeline::new(TableEncoder::new(table, cfg.write.clone()), cfg.dest.part_size());
    let mut out = Decoded::default();
    let slices = plan.slices(window);
    let reqs: Vec<DataRequest> = slices.iter().flat_map(|&slice| requests(run, bot, stream, slice, names)).collect();
    // The next requests are sent while the one before is decoded: complete bodies come back in
    // order, each retried on its own until it is whole.
    let mut bodies =
        futures::stream::iter(reqs.iter().map(|req| receive(run, stream, req))).buffered(READ_AHEAD_PER_STREAM);
    let mut refused: Vec<(Slice, String, FetchError)> = Vec::new();
    let mut next = 0;
    while let Some(received) = bodies.next().await {
        let req = &reqs[next];
        next += 1;
        match received {
            Ok(body) => decode_body(run, req, body, &mut pipeline, writer, &mut out).await?,
            // One event's histogram that the API does not have: that event has none.
            Err(AttemptError::Request(e @ FetchError::Status { status: 400 | 404, .. }))
                if stream == Stream::Histogram =>
            {
                refused.push((req.slice, req.event_name.clone().unwrap_or_default(), e));
            }
            Err(e) => return Err(e),
        }
    }
    for slice in slices {
        // A 400 for every event of a multi-day slice is about the slice: let the window split.
        let of_slice = reqs.iter().filter(|r| r.slice == slice).count();
        let refused_400 = refused.iter().filter(|(s, _, e)| *s == slice && e.status() == Some(400)).count();
        if of_slice > 0 && refused_400 == of_slice && slice.end - slice.start > chrono::Duration::days(1) {
            let at = refused.iter().position(|(s, _, _)| *s == slice).unwrap_or_default();
            return Err(AttemptError::Request(refused.swap_remove(at).2));
        }
    }
    for (_, name, e) in refused {
        run.warn(Warning::HistogramRefused { bot: bot.to_string(), window, event: name, error: e });
    }
    let (tails, busy) = pipeline.finish().await;
    run.note(|s| s.conversion_ms += busy.as_millis() as u64);
    out.tails = tails.map_err(AttemptError::Write)?;
    Ok(out)
}

/// Requests of one stream's window under way at once, counting the one being decoded: the most
/// complete bodies (each at most the row cap) that one stream holds in memory. Six, not three:
/// at the end of a run only the busiest bots have requests left, and with answers that take
/// 1.5 s, three per stream left the budget of 5 requests/s a quarter idle (`scripts/api_bench.py`).
const READ_AHEAD_PER_STREAM: usize = 6;

/// A response received whole.
struct Received {
    bytes: bytes::Bytes,
    context: String,
}

/// Sends one request and receives its body whole, within its room in flight; a body that breaks
/// off is fetched again on its own (see [`with_request_retries`]), and nothing of it is used.
///
/// The room is given back as soon as the body is complete: a body that waits for the ones
/// before it to be decoded is no longer in flight. Held, its room could be the one that a retry
/// of the stream's first request waits for, while the streams' later bodies hold every room:
/// no stream could move again. Complete bodies are bounded per stream by
/// [`READ_AHEAD_PER_STREAM`] instead.
async fn receive(run: &Run, stream: Stream, req: &DataRequest) -> Result<Received, AttemptError> {
    with_request_retries(run, stream, req, async |_| {
        let room = Room(&run.in_flight, Some(run.in_flight.acquire().await));
        let mut body = run.client.send(req).await.map_err(AttemptError::Request)?;
        let mut all = BytesMut::new();
        while let Some(c) = body.chunk().await.map_err(AttemptError::Fetch)? {
            all.extend_from_slice(&c);
        }
        drop(room);
        run.in_flight.observe(body.sent.elapsed());
        run.note(|s| s.bytes_received += body.bytes);
        Ok(Received { bytes: all.freeze(), context: format!("{}, {}", body.target(), body.correlation) })
    })
    .await
}

/// A permit of the in-flight gate, given back on drop.
struct Room<'a>(&'a super::inflight::InFlight, Option<tokio::sync::SemaphorePermit<'a>>);

impl Drop for Room<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.1.take() {
            self.0.release(p);
        }
    }
}

/// Takes one complete body through the pipeline into the writer.
async fn decode_body(
    run: &Run,
    req: &DataRequest,
    body: Received,
    pipeline: &mut step::Pipeline,
    writer: &mut PartitionWriter,
    out: &mut Decoded,
) -> Result<(), AttemptError> {
    let cfg = &run.cfg;
    pipeline.begin(decoder_for(req, &cfg.api.account, cfg.interval));
    let mut rest = body.bytes.clone();
    loop {
        let chunk = rest.split_to(rest.len().min(DECODE_CHUNK_BYTES));
        let last = rest.is_empty();
        let (parts, day_counts) = pipeline.feed(chunk, last).await.map_err(|e| match e {
            step::StepError::Convert(source) => AttemptError::Convert { context: body.context.clone(), source },
            step::StepError::Write(w) => AttemptError::Write(w),
        })?;
        for (day, n) in day_counts {
            *out.per_day.entry(day).or_default() += n;
        }
        writer.upload(parts).await.map_err(AttemptError::Write)?;
        if last {
            break;
        }
    }
    if let Some(decoder) = pipeline.decoder_mut() {
        let st = decoder.stats();
        out.max_records = out.max_records.max(st.records);
        if st.records >= cfg.row_cap {
            out.capped.push(req.slice);
        }
        out.stats.add(st);
        out.rejects.extend(decoder.take_rejects().into_iter().map(|r| (req.slice, r)));
        out.event_names.extend(decoder.event_names().iter().cloned());
    }
    Ok(())
}
