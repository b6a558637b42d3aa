//! The binary grows its heap at start by a reserve marked for transparent huge pages
//! (`tune_malloc` in `src/malloc.rs`). Checked on a running `botevents simulate`, whose mappings
//! `/proc/PID/smaps` shows while it serves.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// A data limit (`ulimit -d`) below the reserve (256 MiB), and far above what the runs below need.
const DATA_LIMIT: u64 = 200 << 20;

/// A data limit above the reserve and below the one under which the heap is reserved (1 GiB).
const ROOMY_DATA_LIMIT: u64 = 512 << 20;

/// `botevents` with its data segment limited to `limit` bytes, when given.
fn botevents(limit: Option<u64>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_botevents"));
    if let Some(bytes) = limit {
        // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent's.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
                if libc::setrlimit(libc::RLIMIT_DATA, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    cmd
}

/// The heap mappings of a running `botevents simulate` (started with `limit`), as `(bytes,
/// marked for huge pages)`, read once it serves.
fn simulator_heap(limit: Option<u64>) -> Vec<(usize, bool)> {
    let mut child = botevents(limit)
        .args(["simulate", "--port", "0", "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start botevents simulate");
    // The simulator prints its URL once it serves; main() tuned the allocator before that.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", child.id()));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("listening on"), "simulate printed {first:?}");
    let maps = mappings(&smaps.unwrap());
    maps.iter().filter(|m| m.name == "[heap]").map(|m| (m.bytes, m.flags.iter().any(|f| f == "hg"))).collect()
}

fn thp_kernel() -> bool {
    let there = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
    if !there {
        eprintln!("skipped: this kernel has no transparent huge pages (madvise refuses them)");
    }
    there
}

/// One mapping of `/proc/PID/smaps`: its size, its name and its `VmFlags`.
struct Mapping {
    bytes: usize,
    name: String,
    flags: Vec<String>,
}

fn mappings(smaps: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            let last = out.last_mut().expect("VmFlags before any mapping");
            last.flags = flags.split_whitespace().map(str::to_string).collect();
        } else if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
        {
            // start-end perms offset dev inode [name]
            let name = words.skip(4).collect::<Vec<_>>().join(" ");
            out.push(Mapping { bytes: end - start, name, flags: Vec::new() });
        }
    }
    out
}

/// Whether this process's data and address-space limits, which a child inherits, leave the
/// room under which the binary reserves its heap (unlimited or at least 1 GiB, `reserve_allowed`
/// in `src/malloc.rs`).
fn limits_leave_room() -> bool {
    let roomy = [libc::RLIMIT_DATA, libc::RLIMIT_AS].into_iter().all(|resource| {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
        ok && (limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= 1 << 30)
    });
    if !roomy {
        eprintln!("skipped: this process runs under a data or address-space limit below 1 GiB");
    }
    roomy
}

#[test]
fn the_heap_is_reserved_with_huge_pages() {
    if !thp_kernel() || !limits_leave_room() {
        return;
    }
    let heap = simulator_heap(None);
    let marked: usize = heap.iter().filter(|(_, hg)| *hg).map(|(bytes, _)| bytes).sum();
    // 256 MiB reserved; the part below the first 2 MiB boundary is not marked.
    assert!((250 << 20..=260 << 20).contains(&marked), "heap mappings (bytes, marked): {heap:?}");
}

#[test]
fn under_a_data_limit_the_heap_is_not_reserved_and_a_conversion_still_runs() {
    // Under either limit the heap is not reserved: below the reserve it could not grow by it, and
    // above it the rest of the process keeps its room under the limit.
    for limit in [DATA_LIMIT, ROOMY_DATA_LIMIT] {
        let heap = simulator_heap(Some(limit));
        assert!(
            heap.iter().all(|(bytes, hg)| !hg && *bytes < 64 << 20),
            "limit {limit}: heap mappings (bytes, marked): {heap:?}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("detail.csv");
    let mut body =
        String::from("eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n");
    for i in 0..20_000 {
        body +=
            &format!("\"e{}\",FACEBOOK,\"d{i}\",\"text {i}\",2026-11-20T10:{:02}:00.000Z,\"c{i}\",\n", i % 7, i % 60);
    }
    std::fs::write(&csv, body).unwrap();
    let dest = dir.path().join("out");
    let out = botevents(Some(DATA_LIMIT))
        .args(["convert", "--table", "detail", "--account", "1", "--bot", "b", "--dest"])
        .arg(&dest)
        .arg(&csv)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert!(stderr.contains("20000 rows, 1 files written"), "{stderr}");
    assert!(dest.join("custom_event_detail/event_date=2026-11-20/1@b.parquet").is_file(), "{stderr}");
}

#[test]
fn smaps_are_read_as_mappings() {
    let smaps = "\
55f5127d7000-55f512800000 rw-p 00000000 00:00 0                          [heap]
Size:                164 kB
VmFlags: rd wr mr mw me ac sd
55f512800000-55f522800000 rw-p 00000000 00:00 0                          [heap]
Size:             262144 kB
VmFlags: rd wr mr mw me ac sd hg
7f4c55800000-7f4c56000000 r--s 00000000 08:01 1234                       /tmp/a file.csv
VmFlags: rd mr me ms sd
";
    let maps = mappings(smaps);
    assert_eq!(maps.len(), 3);
    assert_eq!((maps[0].bytes, maps[0].name.as_str()), (0x29000, "[heap]"));
    assert!(!maps[0].flags.iter().any(|f| f == "hg"));
    assert_eq!((maps[1].bytes, maps[1].flags.last().map(String::as_str)), (256 << 20, Some("hg")));
    assert_eq!(maps[2].name, "/tmp/a file.csv");
}
