#!/usr/bin/env bash
# Usage: scripts/test.sh [--quick] [-- CARGO_TEST_ARGS...]
#
# The project's test command. Needs only rust/cargo, python3 (>= 3.9, with venv
# and pip) and access to crates.io and PyPI; it installs everything else.
#
#   1. python venv   target/py-venv with tests/python/requirements.txt
#                    (created once, reused while requirements.txt is unchanged)
#   2. servers       the local S3, GCS and Azure servers the tests write to (start_servers)
#   3. build         cargo build --release --locked --all-targets
#   4. boundaries    cargo tree: the botevents library links no clap, axum, indicatif or
#                    tracing-subscriber; the simulator does not link the library it stands in for
#   5. cargo test    cargo test --release --locked (unit + integration tests of the workspace),
#                    four tests at a time per binary (RUST_TEST_THREADS)
#   6. wheel         scripts/wheel.sh: the pip wheel built with maturin, installed into a clean
#                    virtualenv (target/wheel-venv), its size checked, an export run from it
#   7. tarball       scripts/tarball.sh: the release tarball of the host's target, packaged from
#                    the wheel's build, extracted and run
#   8. python checks tests/python/check_export.py target/release/botevents:
#                    the exported Parquet read back with DuckDB and pyarrow
#   9. dbt sources   tests/dbt/check_dbt.sh: `schema --dialect dbt` over a real export, with real
#                    dbt-core and dbt-duckdb (target/dbt-venv): parse, source tests, a model, freshness
#   10. airflow dag  tests/airflow/check_dag.sh --on-path: examples/airflow loaded in a real
#                    Airflow (target/airflow-venv, reused while its requirements are unchanged),
#                    one mapped task run with the pip-installed binary on PATH
#   11. fuzz         scripts/fuzz.sh: each cargo-fuzz target for 20 s (installs cargo-fuzz
#                    under target/tools; executions in target/fuzz-summary.txt)
#
# Options:
#   --quick          only steps 2, 4 and 5 (no venv, no explicit build, no Python checks, no fuzzing)
#   -- ARGS...       extra arguments for `cargo test` (e.g. a test name filter)
#   -h, --help       this text
#
# Exits non-zero as soon as a step fails. Background servers that tests need
# (object-store emulators) are started by start_servers and always stopped on
# exit by stop_servers.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

QUICK=0
CARGO_TEST_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; CARGO_TEST_ARGS=("$@"); break ;;
    *) echo "scripts/test.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# ---------------------------------------------------------------- steps & timings

STEP_NAMES=()
STEP_SECS=()
CURRENT_STEP=""
STEP_START=0
RUN_START=$SECONDS

banner() { printf '\n==> %s\n' "$*"; }

# step NAME COMMAND... : runs one step with a banner and records its duration.
step() {
  local name="$1"; shift
  CURRENT_STEP="$name"
  STEP_START=$SECONDS
  banner "$name: $*"
  "$@"
  STEP_NAMES+=("$name")
  STEP_SECS+=($((SECONDS - STEP_START)))
  CURRENT_STEP=""
}

print_timings() {
  local i
  echo
  echo "==> timings"
  for i in "${!STEP_NAMES[@]}"; do
    printf '    %-24s %5ss\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}"
  done
  printf '    %-24s %5ss\n' "total" "$((SECONDS - RUN_START))"
}

# ---------------------------------------------------------------- background servers

# start_servers / stop_servers: real local S3 (moto), Azure (Azurite) and GCS (our XML-API
# server) on loopback, installed on first use under target/servers; start_servers fails (and so
# does this script) if one of them does not come up, so the cloud tests run rather than skip.
# shellcheck source=../tests/servers/servers.sh
source "$ROOT/tests/servers/servers.sh"

on_exit() {
  local rc=$?
  stop_servers
  if [[ $rc -ne 0 ]]; then
    if [[ -n "$CURRENT_STEP" ]]; then
      STEP_NAMES+=("$CURRENT_STEP (FAILED)")
      STEP_SECS+=($((SECONDS - STEP_START)))
    fi
    print_timings
    echo "scripts/test.sh: FAILED${CURRENT_STEP:+ in step '$CURRENT_STEP'} (exit $rc)" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- the run

if [[ $QUICK -eq 0 ]]; then
  step "python venv" bash scripts/ensure-venv.sh
fi

step "start servers" start_servers

if [[ $QUICK -eq 0 ]]; then
  # --all-targets: the same feature set as `cargo test` (dev-dependencies included),
  # so the test step reuses every artifact of this build.
  step "build" cargo build --release --locked --all-targets
fi

# The library stays free of the command line, the web server and the terminal; the stand-in never
# links the client it tests.
boundaries() {
  ! cargo tree --locked -p botevents --no-default-features -e normal,build,dev |
    grep -E ' (clap|axum|indicatif|tracing-subscriber) v' &&
    ! cargo tree --locked -p botevents-simulator -e normal | grep -E ' botevents v'
}
step "dependency boundaries" boundaries

# Most tests wait (on the simulator's answers, on retries, on child processes) more than they
# compute: four at a time per test binary instead of one per core finish the suite in about
# 190 s instead of 265 s on 2 cores. RUST_TEST_THREADS set by the caller wins.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
step "cargo test" cargo test --release --locked "${CARGO_TEST_ARGS[@]}"

if [[ $QUICK -eq 0 ]]; then
  step "wheel" bash scripts/wheel.sh
  # The same build as the wheel's, so this only packages and checks it (a few seconds).
  step "tarball" bash scripts/tarball.sh
  step "python checks" target/py-venv/bin/python tests/python/check_export.py target/release/botevents
  step "dbt sources" bash tests/dbt/check_dbt.sh target/release/botevents
  # As a worker with `pip install botevents`: the wheel's binary on PATH, no botevents_binary Variable.
  step "airflow dag" env PATH="$ROOT/target/wheel-venv/bin:$PATH" bash tests/airflow/check_dag.sh --on-path
fi

step "stop servers" stop_servers

if [[ $QUICK -eq 0 ]]; then
  step "fuzz" bash scripts/fuzz.sh --seconds 20
fi

print_timings
echo "scripts/test.sh: all steps passed"
