#!/usr/bin/env bash
# Usage: scripts/tarball.sh [--target TRIPLE] [--out DIR]
#
# Builds the botevents binary for TRIPLE (default: this machine's) and packages it as a release
# tarball. The release workflow (.github/workflows/release.yml) runs it with
# --target x86_64-unknown-linux-musl for the static Linux tarball; on any machine it runs for the
# host's target, which checks the same packaging.
#
#   1. build      cargo rustc --release --locked --bin botevents [--target TRIPLE], stripped
#                 (-C strip=symbols on the binary alone, so the release profile's dependencies
#                 are reused)
#   2. package    DIR/botevents-VERSION-TRIPLE.tar.gz (default DIR: target/dist), holding
#                 botevents-VERSION-TRIPLE/{botevents,README.md,LICENSE}, and its .sha256
#   3. check      the archive holds exactly those files; a musl binary has no dynamic loader
#                 (readelf); where the binary runs here (TRIPLE is the host's, or a Linux target
#                 of the host's architecture), it is extracted into an empty folder and its
#                 `--version` must be `botevents VERSION`
#
# Prints the tarball's path.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
OUT="$ROOT/target/dist"
TRIPLE=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
    --target) TRIPLE="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/tarball.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf 'tarball: %s\n' "$*" >&2; }
die() { printf 'tarball: ERROR: %s\n' "$*" >&2; exit 1; }

host="$(rustc -vV | sed -n 's/^host: //p')"
[[ -n "$host" ]] || die "cannot tell the host's target from 'rustc -vV'"
TRIPLE="${TRIPLE:-$host}"
target_args=()
[[ "$TRIPLE" == "$host" ]] || target_args=(--target "$TRIPLE")

# `cargo pkgid` ends in `#VERSION` or `#NAME@VERSION`.
pkgid="$(cargo pkgid --locked -p botevents-cli)"
version="${pkgid##*#}"
version="${version##*@}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "no version in '$pkgid'"

start=$SECONDS
cargo rustc --release --locked --bin botevents "${target_args[@]}" -- -C strip=symbols >&2
target_dir="$(cargo metadata --locked --no-deps --format-version 1 |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[[ -n "$target_dir" ]] || die "cannot find cargo's target directory"
if [[ ${#target_args[@]} -gt 0 ]]; then bin="$target_dir/$TRIPLE/release/botevents"; else bin="$target_dir/release/botevents"; fi
[[ -x "$bin" ]] || die "cargo built no $bin"
log "built $bin in $((SECONDS - start))s"

name="botevents-$version-$TRIPLE"
mkdir -p "$OUT"
tarball="$OUT/$name.tar.gz"
stage="$(mktemp -d "${TMPDIR:-/tmp}/botevents-tarball.XXXXXX")"
trap 'rm -rf -- "$stage"' EXIT
mkdir "$stage/$name"
cp "$bin" "$stage/$name/botevents"
cp README.md LICENSE "$stage/$name/"
chmod 0755 "$stage/$name/botevents"
chmod 0644 "$stage/$name/README.md" "$stage/$name/LICENSE"
rm -f -- "$tarball" "$tarball.sha256"
tar -C "$stage" -czf "$tarball" "$name"
(cd "$OUT" && if command -v sha256sum >/dev/null; then sha256sum "$name.tar.gz"; else shasum -a 256 "$name.tar.gz"; fi) \
  > "$tarball.sha256"
log "$(basename "$tarball"): $(( $(wc -c < "$tarball") / 1024 / 1024 )) MB, binary $(wc -c < "$bin") bytes"

listing="$(tar -tzf "$tarball" | sed 's#/$##' | sort | tr '\n' ' ')"
expected="$name $name/LICENSE $name/README.md $name/botevents "
[[ "$listing" == "$expected" ]] || die "the tarball holds: $listing; expected: $expected"

if [[ "$TRIPLE" == *-linux-musl* ]]; then
  if command -v readelf >/dev/null; then
    headers="$(readelf -l "$bin")"
    if grep -q 'Requesting program interpreter' <<<"$headers"; then die "$bin is linked dynamically"; fi
    log "static: no program interpreter"
  else
    log "readelf is not installed: the static link is not checked"
  fi
fi

runs_here=0
[[ "$TRIPLE" == "$host" ]] && runs_here=1
[[ "${TRIPLE%%-*}" == "${host%%-*}" && "$TRIPLE" == *-linux-* && "$host" == *-linux-* ]] && runs_here=1
if [[ $runs_here -eq 1 ]]; then
  mkdir "$stage/extract"
  tar -C "$stage/extract" -xzf "$tarball"
  got="$("$stage/extract/$name/botevents" --version)" || die "the extracted binary does not run"
  [[ "$got" == "botevents $version" ]] || die "the extracted binary says '$got', not 'botevents $version'"
  log "extracted and ran: $got"
else
  log "built for $TRIPLE on $host: not run here"
fi
echo "$tarball"
