#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [--seconds N] [TARGET...]
#
# Builds the cargo-fuzz targets of fuzz/ and runs each for N seconds (default: 20, a short run
# for the test command). Targets: detail, total, json (default: all). For a long run, e.g.
# before a release or after changing a decoder:
#
#   scripts/fuzz.sh --seconds 3600 detail
#
#   1. cargo-fuzz    installed once under target/tools (cargo install --locked --debug, pinned version)
#   2. build         cargo fuzz build: release, debug assertions, no sanitizer, stable toolchain;
#                    its own target dir target/fuzz/build, so it never waits on the main build
#   3. run           each target for N seconds with -rss_limit_mb and -max_len; the corpus is
#                    target/fuzz/corpus/TARGET (kept between runs, not committed), seeded from
#                    fuzz/seeds/TARGET and every file of tests/data/bad/ (if that folder exists)
#   4. summary       executions per target, on stdout and in target/fuzz-summary.txt
#
# Options:
#   --seconds N      seconds per target (default 20)
#   -h, --help       this text
#
# Exits non-zero if the build fails or any target crashes, times out or runs out of memory; the
# reproducer's path is printed (target/fuzz/artifacts/TARGET/...), with the command that replays
# it. Needs rust/cargo, a C++ compiler (libFuzzer is C++) and access to crates.io.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$ROOT/target/tools"
WORK="$ROOT/target/fuzz"
BUILD_DIR="$WORK/build"
SUMMARY="$ROOT/target/fuzz-summary.txt"
# libFuzzer limits: inputs of at most 64 KiB (the targets' record cap is 6000 bytes, so records
# past it are reachable), 2 GiB of RSS, 10 s per input.
MAX_LEN=65536
RSS_LIMIT_MB=2048
TIMEOUT_SECS=10

RUN_SECS=20
TARGETS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || { echo "scripts/fuzz.sh: --seconds needs a positive number of seconds, got '${2:-}'" >&2; exit 2; }
      RUN_SECS="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "scripts/fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *)
      [[ -f "fuzz/fuzz_targets/$1.rs" ]] || { echo "scripts/fuzz.sh: unknown target '$1' (have: $(for f in fuzz/fuzz_targets/*.rs; do basename "$f" .rs; done | paste -sd ' '))" >&2; exit 2; }
      TARGETS+=("$1") ;;
  esac
  shift
done
if [[ ${#TARGETS[@]} -eq 0 ]]; then
  for f in fuzz/fuzz_targets/*.rs; do TARGETS+=("$(basename "$f" .rs)"); done
fi

banner() { printf '\n==> %s\n' "$*"; }

# ---------------------------------------------------------------- 1. cargo-fuzz

if [[ "$("$TOOLS/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  banner "installing cargo-fuzz $CARGO_FUZZ_VERSION under target/tools"
  start=$SECONDS
  # --debug: cargo-fuzz only starts cargo and the fuzzer, so an unoptimized build serves as well
  # and compiles faster.
  cargo install --locked --quiet --force --debug --root "$TOOLS" cargo-fuzz --version "=$CARGO_FUZZ_VERSION"
  echo "installed in $((SECONDS - start)) s"
fi
export PATH="$TOOLS/bin:$PATH"

# ---------------------------------------------------------------- 2. build

# No sanitizer: on the stable toolchain only `--sanitizer none` builds without RUSTC_BOOTSTRAP
# (AddressSanitizer needs -Zsanitizer), and the code under test is safe Rust, where ASan would
# find little and cost a second build of std-adjacent code and half the executions. Coverage
# instrumentation (sancov) is stable. Debug assertions (-a) turn integer overflow into a crash.
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
FUZZ_BUILD=(--release --debug-assertions --sanitizer none --target "$TRIPLE" --target-dir "$BUILD_DIR")

banner "build: cargo fuzz build ${FUZZ_BUILD[*]}"
# cargo fuzz has no --locked: check first that fuzz/Cargo.lock needs no change.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
start=$SECONDS
if [[ ${#TARGETS[@]} -eq 1 ]]; then
  cargo fuzz build "${FUZZ_BUILD[@]}" "${TARGETS[0]}"
else
  cargo fuzz build "${FUZZ_BUILD[@]}"
fi
BUILD_SECS=$((SECONDS - start))
echo "built in $BUILD_SECS s"

# ---------------------------------------------------------------- 3. run

EXTRA_CORPUS=()
if [[ -d tests/data/bad ]]; then
  EXTRA_CORPUS+=("$ROOT/tests/data/bad")
fi

mkdir -p "$WORK/logs"
{
  printf '# scripts/fuzz.sh --seconds %s (build %s s)\n' "$RUN_SECS" "$BUILD_SECS"
  printf '%-8s %8s %12s %8s %8s %8s  %s\n' target seconds executions exec/s cov corpus result
} >"$SUMMARY"

FAILED=()
for t in "${TARGETS[@]}"; do
  bin="$BUILD_DIR/$TRIPLE/release/$t"
  corpus="$WORK/corpus/$t"
  artifacts="$WORK/artifacts/$t"
  log="$WORK/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  [[ -d "fuzz/seeds/$t" ]] && seeds+=("$ROOT/fuzz/seeds/$t")
  banner "fuzz $t for $RUN_SECS s (log: ${log#"$ROOT/"})"
  start=$SECONDS
  rc=0
  "$bin" -max_total_time="$RUN_SECS" -rss_limit_mb="$RSS_LIMIT_MB" -max_len="$MAX_LEN" \
    -timeout="$TIMEOUT_SECS" -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "${seeds[@]}" "${EXTRA_CORPUS[@]}" >"$log" 2>&1 || rc=$?
  secs=$((SECONDS - start))

  # libFuzzer's last words: "stat::number_of_executed_units: N", or the "#N DONE cov: C ft: F
  # corp: K/..." status line.
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  [[ -n "$execs" ]] || execs="$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE .*/\1/p' "$log" | tail -n 1)"
  status_line="$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status_line")"
  corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$status_line")"
  execs="${execs:-0}"
  rate=$((execs / (secs > 0 ? secs : 1)))

  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    repro="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    result="FAILED (exit $rc)${repro:+ reproducer ${repro#"$ROOT/"}}"
    FAILED+=("$t")
    echo "---- last lines of ${log#"$ROOT/"}:"
    tail -n 40 "$log"
    echo "----"
    if [[ -n "$repro" ]]; then
      echo "reproducer: ${repro#"$ROOT/"}"
      echo "replay:     ${bin#"$ROOT/"} ${repro#"$ROOT/"}"
      echo "   or:      cargo fuzz run ${FUZZ_BUILD[*]/#$ROOT\//} $t ${repro#"$ROOT/"}"
    fi
  fi
  printf '%-8s %8s %12s %8s %8s %8s  %s\n' "$t" "$secs" "$execs" "$rate" "${cov:--}" "${corp:--}" "$result" \
    | tee -a "$SUMMARY"
done

# ---------------------------------------------------------------- 4. summary

banner "summary (${SUMMARY#"$ROOT/"})"
cat "$SUMMARY"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "scripts/fuzz.sh: FAILED: ${FAILED[*]}" >&2
  exit 1
fi
echo "scripts/fuzz.sh: no crash in ${TARGETS[*]}"
