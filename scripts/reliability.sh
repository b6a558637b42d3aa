#!/usr/bin/env bash
# Usage: scripts/reliability.sh [--fuzz-seconds N]
#
# Produces the figures of the README's "Reliability" section, each from the test that proves it:
#
#   1. tests/reliability.rs   fault mixes survived, SIGKILL trials, secrets scan
#   2. tests/bad_input.rs     the bad-input corpus
#   3. scripts/fuzz.sh        executions per fuzz target (default 20 s each; the test command's
#                             run), from target/fuzz-summary.txt
#
# Prints the figures and writes them to target/reliability-figures.txt. Exits non-zero if any
# of the tests or the fuzzing fails. The tests are the same ones the test command runs; this
# script only runs them again with their output shown.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZ_SECS=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fuzz-seconds) FUZZ_SECS="${2:?--fuzz-seconds needs a number}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/reliability.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

OUT=target/reliability-figures.txt
mkdir -p target
log=$(mktemp)
trap 'rm -f "$log"' EXIT

cargo test --release --locked --test reliability --test bad_input -- --nocapture 2>&1 | tee "$log"
bash scripts/fuzz.sh --seconds "$FUZZ_SECS"

{
  echo "# scripts/reliability.sh, $(date -u +%Y-%m-%d), $(nproc) cores"
  grep -o 'figure: .*' "$log" | sed 's/^figure: //'
  echo "fuzz ($FUZZ_SECS s per target):"
  sed -n '2,$p' target/fuzz-summary.txt | sed 's/^/  /'
} > "$OUT"
echo
cat "$OUT"
