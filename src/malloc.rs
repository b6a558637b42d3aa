//! The allocator tuning of the converter (glibc on Linux only; elsewhere nothing).

/// Tunes glibc's allocator for the converter, which allocates and frees buffers of a few MiB
/// again and again from several threads:
/// * glibc serves an allocation above its mmap threshold with a mapping of its own, returned to
///   the system when freed; but after such a free it raises the threshold to that size, so that
///   the buffers end up in the heap, which keeps what they freed. A fixed threshold above those
///   buffers keeps them in the heap and stops the heap from growing.
/// * Fixing the threshold leaves the trim threshold at 128 KiB: the heap then gives its free top
///   back to the system after nearly every chunk and faults the same pages in again (90,000
///   faults and a quarter of a second of system time for 1 M rows). A 64 MiB trim threshold stops
///   that.
/// * One arena instead of one per thread: the pool's threads no longer each keep free memory of
///   their own, which pays for the higher trim threshold. Contention is low with a pool of one
///   thread per core, each spending most of its time in zstd and parsing.
/// * The heap is grown once by [`HEAP_RESERVE`] of address space, which is marked for transparent
///   huge pages (`MADV_HUGEPAGE`; the system's setting in
///   `/sys/kernel/mm/transparent_hugepage/enabled` still decides). Faulting in the converter's
///   heap a 4 KiB page at a time cost about 25,000 page faults per run (a fixed 50 ms of CPU,
///   6 % of 1 M rows' run); with huge pages it takes a few hundred. Only what is touched becomes
///   resident, in steps of 2 MiB. See [`reserve_heap`].
///
/// Together, for 1 M rows: peak RSS 115 MiB instead of 150, and 0.77 s instead of 0.93 (before
/// the huge pages, which took it from 0.475 to 0.441 s and from 112 to 118 MiB).
///
/// `one_arena: false` keeps glibc's arena per thread (for `simulate`, whose many threads each
/// build small strings: on one arena they waited on its lock, 54 s of CPU for the API
/// benchmark's account instead of 34 s).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune_malloc(one_arena: bool) {
    // SAFETY: mallopt only sets parameters of the allocator; called before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
        if one_arena {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
    if reserve_allowed() {
        reserve_heap();
    }
}

/// Grows the heap by [`HEAP_RESERVE`] and marks it for transparent huge pages. Where the heap
/// cannot grow so far, nothing changes: the allocator works as before.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reserve_heap() {
    // SAFETY: mallopt only sets parameters of the allocator and sbrk(0) only reads the heap's
    // end; called before any other thread. The madvise range lies within the heap's growth made
    // just before, between two readings of its end, and only sets a flag on those pages.
    unsafe {
        // An allocation larger than the heap's free top (and below the mmap threshold) makes the
        // heap grow by it plus the top pad, which the free keeps. black_box keeps the pair from
        // being optimised away.
        libc::mallopt(libc::M_TOP_PAD, HEAP_RESERVE as libc::c_int);
        let before = libc::sbrk(0) as usize;
        let probe = std::hint::black_box(libc::malloc(3 << 20));
        libc::free(probe);
        let after = libc::sbrk(0) as usize;
        // Later growth asks for what it needs again, not for another reserve.
        libc::mallopt(libc::M_TOP_PAD, DEFAULT_TOP_PAD);
        // sbrk returns -1 on failure; a heap that could not grow by the reserve (glibc then tried
        // a mapping of its own) is left as it is. (The growth is a little under the reserve: the
        // heap's free top before it counts towards the pad.)
        if before != usize::MAX && after != usize::MAX && after >= before + HEAP_RESERVE / 2 {
            // Free memory at the top is given back only beyond the reserve (and, as above, far
            // beyond what the converter frees between chunks); trimmed, the reserve would go
            // back at the next free.
            libc::mallopt(libc::M_TRIM_THRESHOLD, (HEAP_RESERVE + (64 << 20)) as libc::c_int);
            let start = before.next_multiple_of(HUGE_PAGE);
            // A kernel without transparent huge pages refuses with EINVAL: nothing to do.
            libc::madvise(start as *mut libc::c_void, after - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Whether the process's limits leave room for the reserve: a data or address-space limit
/// (`ulimit -d`, `ulimit -v`) counts it as used, so under a limit below [`RESERVE_MIN_LIMIT`] the
/// heap is not reserved, and a run that fits in the limit without it still does.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn reserve_allowed() -> bool {
    [libc::RLIMIT_DATA, libc::RLIMIT_AS].into_iter().all(|resource| {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the limit into `limit`, which lives across the call.
        let ok = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
        ok && (limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= RESERVE_MIN_LIMIT as libc::rlim_t)
    })
}

/// Address space the heap is grown by at start and marked for transparent huge pages: twice the
/// converter's peak, so that its whole heap is in it. Untouched, it costs nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HEAP_RESERVE: usize = 256 << 20;

/// The smallest data or address-space limit under which the heap is reserved.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RESERVE_MIN_LIMIT: usize = 4 * HEAP_RESERVE;

/// glibc's own top pad (`M_TOP_PAD`), restored once the heap is reserved.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const DEFAULT_TOP_PAD: libc::c_int = 128 << 10;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HUGE_PAGE: usize = 2 << 20;

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_malloc(_one_arena: bool) {}
