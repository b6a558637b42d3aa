#!/usr/bin/env bash
# Usage: tests/airflow/check_dag.sh [BOTEVENTS_BINARY | --on-path]
#
# Loads examples/airflow/ in a real Airflow (from PyPI) and checks the DAG: no import error,
# serializable as the scheduler stores it, the export task mapped over the shards, its
# --start/--end templates rendered for a sample data interval, exit statuses mapped to retry or
# fail, secrets only in the environment. With BOTEVENTS_BINARY, one mapped task also runs the
# real binary against `botevents simulate` (tests/airflow/check_dag.py); with --on-path, the
# `botevents` found on PATH (a pip-installed one), with no `botevents_binary` Variable, as a
# worker with `pip install botevents` runs it.
#
# Airflow lives in its own venv, target/airflow-venv (apart from target/py-venv: its pins would
# fight the test peers'), created once and reused while requirements.txt and constraints.txt are
# unchanged (a sha256 stamp inside the venv). AIRFLOW_HOME is a fresh temporary folder.
#
# Environment: PYTHON (default python3), AIRFLOW_VENV (default target/airflow-venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/airflow"
PYTHON="${PYTHON:-python3}"
VENV="${AIRFLOW_VENV:-$ROOT/target/airflow-venv}"
STAMP="$VENV/.requirements.sha256"

log() { printf '%s\n' "check_dag: $*" >&2; }
die() { printf '%s\n' "check_dag: ERROR: $*" >&2; exit 1; }

want="$(cat "$HERE/requirements.txt" "$HERE/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
    && "$VENV/bin/python" -c 'import airflow.sdk' >/dev/null 2>&1; then
  log "reusing $VENV"
else
  rm -rf -- "$VENV"
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed"
  start=$SECONDS
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
        --only-binary=:all: -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" >&2; then
    rm -rf -- "$VENV"
    die "pip install of $(grep -Ev '^\s*(#|$)' "$HERE/requirements.txt" | tr '\n' ' ')failed"
  fi
  echo "$want" >"$STAMP"
  log "installed in $((SECONDS - start))s"
fi

home="$(mktemp -d "${TMPDIR:-/tmp}/airflow-home.XXXXXX")"
trap 'rm -rf -- "$home"' EXIT
export PYTHONDONTWRITEBYTECODE=1 AIRFLOW_HOME="$home" AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER="$ROOT/examples/airflow"
"$VENV/bin/python" "$HERE/check_dag.py" "$ROOT/examples/airflow" "$@"
