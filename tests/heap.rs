//! The binary grows its heap at start by a reserve marked for transparent huge pages
//! (`tune_malloc` in `src/main.rs`). Checked on a running `botevents simulate`, whose mappings
//! `/proc/PID/smaps` shows while it serves.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

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

#[test]
fn the_heap_is_reserved_with_huge_pages() {
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
        eprintln!("skipped: this kernel has no transparent huge pages (madvise refuses them)");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_botevents"))
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

    let heap: Vec<&Mapping> = maps.iter().filter(|m| m.name == "[heap]").collect();
    let marked: usize = heap.iter().filter(|m| m.flags.iter().any(|f| f == "hg")).map(|m| m.bytes).sum();
    let listed: Vec<String> = heap.iter().map(|m| format!("{} KiB {:?}", m.bytes >> 10, m.flags)).collect();
    // 256 MiB reserved; the part below the first 2 MiB boundary is not marked.
    assert!(marked >= 250 << 20, "heap mappings: {listed:?}");
    assert!(marked <= 260 << 20, "heap mappings: {listed:?}");
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
