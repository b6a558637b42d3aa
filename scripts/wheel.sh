#!/usr/bin/env bash
# Usage: scripts/wheel.sh [--out DIR] [--target TRIPLE]
#
# Builds the pip wheel of botevents and checks it as a user installs it. The test suite
# (scripts/test.sh) and the release workflow (.github/workflows/release.yml) both run this script,
# so what is released is what was tested.
#
#   1. maturin     pinned in target/maturin-venv (created once, reused while the pin is unchanged)
#   2. build       maturin build --release --locked (pyproject.toml: bin bindings, stripped) → DIR
#                  (default target/wheels); the release profile's artifacts are reused
#   3. install     a fresh virtualenv target/wheel-venv, `pip install` of the wheel, no index
#   4. size        the installed binary is at most 40 MB
#   5. run         from the venv's bin/: `botevents --version`, `python -m botevents --version`,
#                  `botevents.find_botevents_bin()`, and `botevents export --simulate --last 2d`
#                  in an empty folder, which must succeed and write Parquet files
#
# Environment: PYTHON (default python3); BOTEVENTS_WHEEL_COMPAT, the platform tag to build for
# (maturin's --compatibility, e.g. manylinux_2_28: maturin checks the binary's glibc symbols
# against it, and the wheel's name must carry it), which the release workflow sets when it builds
# in the manylinux_2_28 container; unset, maturin picks the tag from the binary (the test suite).
# Prints the wheel's path and the binary's size.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-python3}"
MATURIN_VERSION="1.16.0"
MAX_BINARY_BYTES=$((40 * 1024 * 1024))
OUT="$ROOT/target/wheels"
TARGET=()
COMPAT="${BOTEVENTS_WHEEL_COMPAT:-}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
    --target) TARGET=(--target "$2"); shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/wheel.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf 'wheel: %s\n' "$*" >&2; }
die() { printf 'wheel: ERROR: %s\n' "$*" >&2; exit 1; }

maturin_venv="$ROOT/target/maturin-venv"
if ! [[ -x "$maturin_venv/bin/maturin" && "$("$maturin_venv/bin/maturin" --version 2>/dev/null)" == "maturin $MATURIN_VERSION" ]]; then
  rm -rf -- "$maturin_venv"
  "$PYTHON" -m venv "$maturin_venv" || die "'$PYTHON -m venv' failed"
  "$maturin_venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    --only-binary=:all: "maturin==$MATURIN_VERSION" || die "pip install maturin==$MATURIN_VERSION failed"
fi

mkdir -p "$OUT"
rm -f "$OUT"/botevents-*.whl
start=$SECONDS
compat_args=()
[[ -z "$COMPAT" ]] || compat_args=(--compatibility "$COMPAT")
"$maturin_venv/bin/maturin" build --release --locked --out "$OUT" "${TARGET[@]}" "${compat_args[@]}" >&2
wheels=("$OUT"/botevents-*.whl)
[[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || die "expected one wheel in $OUT, found: ${wheels[*]}"
wheel="${wheels[0]}"
if [[ "$COMPAT" == *linux* && "$(basename "$wheel")" != *"$COMPAT"* ]]; then
  die "BOTEVENTS_WHEEL_COMPAT=$COMPAT, but the wheel is $(basename "$wheel")"
fi
log "built $(basename "$wheel") ($(( $(stat -c %s "$wheel" 2>/dev/null || stat -f %z "$wheel") / 1024 / 1024 )) MB) in $((SECONDS - start))s"

if [[ ${#TARGET[@]} -gt 0 ]]; then
  log "cross-built for ${TARGET[1]}: not installed here"
  echo "$wheel"
  exit 0
fi

venv="$ROOT/target/wheel-venv"
rm -rf -- "$venv"
"$PYTHON" -m venv "$venv" || die "'$PYTHON -m venv' failed"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet --no-index "$wheel" \
  || die "pip install $wheel failed"

bin="$venv/bin/botevents"
[[ -x "$bin" ]] || die "the wheel put no botevents in $venv/bin"
size=$(stat -c %s "$bin" 2>/dev/null || stat -f %z "$bin")
log "installed binary: $size bytes ($(( size / 1024 / 1024 )) MB; at most $(( MAX_BINARY_BYTES / 1024 / 1024 )) MB)"
(( size <= MAX_BINARY_BYTES )) || die "the installed binary is $size bytes, over $MAX_BINARY_BYTES"

version="$("$bin" --version)"
[[ "$("$venv/bin/python" -m botevents --version)" == "$version" ]] || die "python -m botevents disagrees with $version"
found="$("$venv/bin/python" -c 'import botevents; print(botevents.find_botevents_bin())')"
[[ "$found" -ef "$bin" ]] || die "find_botevents_bin() gave $found, not $bin"
log "$version; python -m botevents and find_botevents_bin() find it"

run="$(mktemp -d "${TMPDIR:-/tmp}/botevents-wheel.XXXXXX")"
trap 'rm -rf -- "$run"' EXIT
(cd "$run" && env -i PATH="$venv/bin:/usr/bin:/bin" HOME="$run" botevents export --simulate --last 2d -q) >&2 \
  || die "botevents export --simulate --last 2d failed from $venv/bin"
files=$(find "$run/botevents-data" -name '*.parquet' | wc -l)
(( files > 0 )) || die "the export wrote no Parquet file"
log "botevents export --simulate --last 2d from the venv: $files files"
echo "$wheel"
