#!/usr/bin/env bash
# Usage: scripts/ensure-venv.sh
#
# Creates (once) the Python virtual environment used by the test suite at
# target/py-venv and installs tests/python/requirements.txt into it.
# A venv that already exists is reused as long as its interpreter works, the
# requirements file is unchanged since the last install (a sha256 stamp inside
# the venv) and every required module imports; otherwise it is rebuilt.
#
# Environment:
#   PYTHON      interpreter used to create the venv (default: python3)
#   PY_VENV     venv directory (default: target/py-venv under the repo root)
#
# Prints the venv's python path on stdout as its last line; everything else
# goes to stderr. Exits non-zero (loudly) when the install fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${PY_VENV:-$ROOT/target/py-venv}"
REQ="$ROOT/tests/python/requirements.txt"
STAMP="$VENV/.requirements.sha256"
# Modules that must import for the venv to count as usable.
MODULES=(duckdb pyarrow pyarrow.parquet)

log() { printf '%s\n' "ensure-venv: $*" >&2; }
die() { printf '%s\n' "ensure-venv: ERROR: $*" >&2; exit 1; }

[[ -f "$REQ" ]] || die "missing $REQ"
command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found; install Python 3 (>= 3.9) with the venv module"

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
import_check="import $(IFS=,; echo "${MODULES[*]}")"

venv_ok() {
  [[ -x "$VENV/bin/python" ]] || return 1
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] || return 1
  "$VENV/bin/python" -c "$import_check" >/dev/null 2>&1
}

if venv_ok; then
  log "reusing $VENV"
  echo "$VENV/bin/python"
  exit 0
fi

if [[ -e "$VENV" ]]; then
  log "rebuilding $VENV (requirements changed or venv unusable)"
  rm -rf -- "$VENV"
fi

log "creating $VENV with $("$PYTHON" --version 2>&1)"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"

log "installing $(grep -Ev '^\s*(#|$)' "$REQ" | tr '\n' ' ')"
start=$SECONDS
# --only-binary: never fall back to compiling duckdb/pyarrow from source.
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
      --only-binary=:all: -r "$REQ" >&2; then
  rm -rf -- "$VENV"
  die "pip install -r $REQ failed (network access to PyPI and a wheel for this platform are needed)"
fi
if ! "$VENV/bin/python" -c "$import_check" >&2; then
  rm -rf -- "$VENV"
  die "installed packages do not import: $import_check"
fi
echo "$want" >"$STAMP"
log "installed in $((SECONDS - start))s"
echo "$VENV/bin/python"
