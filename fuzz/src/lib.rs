//! What the fuzz targets share: the chunking of an input, the decoding loop of the export
//! pipeline, the invariants every decoded body must keep, and an allocation cap.
//!
//! The whole input is the body, so seed files and bad-input files are plain CSV. The chunk sizes,
//! the batch size and the time filter are derived from the input too (from a hash of it): every
//! input the fuzzer tries is also decoded in a different chunking, and the result must equal the
//! one of the whole body pushed at once.

use std::alloc::{GlobalAlloc, Layout, System};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use botevents::convert::{BodyDecoder, ConvertError, DecodeOptions, DecodeStats, REJECT_EXCERPT_BYTES, Reject};

/// The record cap of the decoders under test: small, so that records past it are easy to reach.
/// Above the record reader's initial 4 KiB buffer, so that the buffer's growth up to the cap is
/// exercised too.
pub const MAX_RECORD_BYTES: usize = 6000;

/// Largest single allocation a target may make. Inputs are at most a few tens of KiB
/// (`-max_len` in `scripts/fuzz.sh`), so anything this large is an allocation sized from the
/// data rather than by it; the allocator refuses it and the process aborts, which libFuzzer
/// reports as a crash with its input.
pub const MAX_ALLOCATION: usize = 64 * 1024 * 1024;

/// The system allocator, refusing any allocation above [`MAX_ALLOCATION`]. Without a sanitizer
/// libFuzzer's own `-malloc_limit_mb` has no effect, hence this.
pub struct CappedAlloc;

// SAFETY: every call is forwarded to `System` unchanged, except that oversized requests get the
// null pointer that signals failure.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

/// Decoder settings and chunking, derived from the input.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Decoder options (small batches, sometimes a time filter).
    pub opts: DecodeOptions,
    /// Whether a totals body is decoded as hourly rather than daily.
    pub hourly: bool,
    /// Sizes of the pushes; they add up to at least the input's length.
    pub chunk_sizes: Vec<usize>,
}

/// 2026-11-18T00:00:00Z and 2026-11-19T11:00:00Z in µs: a filter that cuts through the seeds.
const KEEP_RANGE: (i64, i64) = (1_795_478_400_000_000, 1_795_604_400_000_000);

impl Plan {
    /// The plan of one input.
    pub fn of(data: &[u8]) -> Plan {
        let mut rng = Rng(fnv1a(data) | 1);
        let batch_size = 1 + (rng.next() % 8) as usize;
        let keep_range = rng.next().is_multiple_of(4).then_some(KEEP_RANGE);
        let hourly = rng.next().is_multiple_of(2);
        let mode = rng.next() % 8;
        let mut chunk_sizes = Vec::new();
        let mut left = data.len();
        while left > 0 {
            let size = match mode {
                0 => 1,
                1 => 2,
                2 => 3,
                3 => 7,
                4 => 100,
                5 | 6 => 1 + (rng.next() % 16) as usize,
                _ => 1 + (rng.next() % left as u64) as usize,
            };
            chunk_sizes.push(size);
            left = left.saturating_sub(size);
        }
        Plan { opts: DecodeOptions { batch_size, keep_range, max_record_bytes: MAX_RECORD_BYTES }, hourly, chunk_sizes }
    }

    /// The input cut into the planned chunks.
    pub fn chunks<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::with_capacity(self.chunk_sizes.len());
        let mut rest = data;
        for &size in &self.chunk_sizes {
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            out.push(chunk);
            rest = tail;
        }
        out
    }
}

/// FNV-1a, 64 bits.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// xorshift64: cheap, deterministic numbers from the input's hash.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Everything a decoder produced for one body.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// The batches, in order.
    pub batches: Vec<RecordBatch>,
    /// The counters at the end (or at the error).
    pub stats: DecodeStats,
    /// The rejected rows.
    pub rejects: Vec<Reject>,
    /// The error that stopped the body, if any.
    pub error: Option<ConvertError>,
}

/// Decodes `chunks` as the export pipeline does: push a chunk, drain the ready batches, and at the
/// end `finish` and drain again. On an error, the batches already built are drained and kept.
pub fn decode<'a>(dec: &mut dyn BodyDecoder, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut batches = Vec::new();
    let error = botevents::convert::decode_chunks(dec, chunks, &mut batches).err();
    if error.is_some() {
        while let Ok(Some(b)) = dec.next_batch() {
            batches.push(b);
        }
    }
    Outcome { batches, stats: dec.stats().clone(), rejects: dec.take_rejects(), error }
}

/// Decodes `data` in the planned chunks and whole, checks that both give the same outcome, and
/// checks the invariants every table keeps. `new_decoder` makes a fresh decoder for each pass.
/// Returns the plan and the outcome, for the checks of one table.
pub fn check_body(data: &[u8], new_decoder: impl Fn(&Plan) -> Box<dyn BodyDecoder>) -> (Plan, Outcome) {
    let plan = Plan::of(data);
    let chunked = decode(&mut *new_decoder(&plan), plan.chunks(data));
    let whole = decode(&mut *new_decoder(&plan), [data]);
    assert_eq!(chunked, whole, "chunk sizes {:?} changed the outcome", plan.chunk_sizes);
    check_outcome(&whole);
    (plan, whole)
}

fn check_outcome(out: &Outcome) {
    if out.error.is_none() {
        // After an error the rows of a partial batch are counted but never built.
        let rows: usize = out.batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows as u64, out.stats.rows, "rows in batches vs stats.rows");
    }
    if out.stats.empty_body {
        assert_eq!(out.stats.records, 0, "an empty body with records");
    }
    for b in &out.batches {
        assert!(b.num_rows() > 0, "empty batch");
        for col in b.columns() {
            if let Some(strings) = col.as_string_opt::<i32>() {
                for v in strings.iter().flatten() {
                    assert!(v.len() <= MAX_RECORD_BYTES, "a field of {} bytes passed the record cap", v.len());
                }
            }
            if let Some(counts) = col.as_primitive_opt::<Int64Type>() {
                assert!(counts.iter().flatten().all(|c| c > 0), "a zero or negative count became a row");
            }
        }
    }
    assert!(out.rejects.len() as u64 <= out.stats.rejected, "more rejects kept than counted");
    for r in &out.rejects {
        // Truncated to the excerpt's bytes, then decoded lossily: an invalid byte becomes U+FFFD.
        assert!(r.record.len() <= 3 * REJECT_EXCERPT_BYTES, "reject excerpt of {} bytes", r.record.len());
        assert!(r.line >= 2, "a rejected row on the header line: {r:?}");
    }
}
