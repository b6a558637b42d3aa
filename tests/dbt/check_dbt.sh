#!/usr/bin/env bash
# Usage: tests/dbt/check_dbt.sh BOTEVENTS_BINARY
#
# Runs real dbt (dbt-core + dbt-duckdb, from PyPI) against real export output: an
# `export --simulate --last 2d` of every stream into a temporary destination, the sources.yml of
# `schema --dialect dbt` for its four tables dropped into a copy of tests/dbt/project/, then
# `dbt parse`, `dbt test` on the sources (not_null on the required columns), `dbt run` of a model
# that selects from them, its own tests and `dbt source freshness`; the model's rows are checked
# against DuckDB reading the Parquet files directly. The BigQuery and Snowflake variants, which
# cannot run here, are checked against dbt-external-tables' documented keys (check_external.py).
#
# dbt lives in its own venv, target/dbt-venv, created once and reused while requirements.txt is
# unchanged (a sha256 stamp inside the venv). The profiles.yml (DuckDB) and the project copy are
# in a fresh temporary folder.
#
# Each check prints one line; the first failure stops the run. On success the last line is
# `check_dbt: N passed, 0 failed`.
#
# Environment: PYTHON (default python3), DBT_VENV (default target/dbt-venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/dbt"
PYTHON="${PYTHON:-python3}"
VENV="${DBT_VENV:-$ROOT/target/dbt-venv}"
STAMP="$VENV/.requirements.sha256"

log() { printf '%s\n' "check_dbt: $*" >&2; }
die() { printf '%s\n' "check_dbt: ERROR: $*" >&2; printf 'check_dbt: %s passed, 1 failed\n' "${passed:-0}"; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 BOTEVENTS_BINARY" >&2; exit 2; }
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
[[ -x "$BIN" ]] || die "not an executable: $1"

want="$(sha256sum <"$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/dbt" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
    && "$VENV/bin/python" -c 'import dbt.adapters.duckdb, duckdb, yaml' >/dev/null 2>&1; then
  log "reusing $VENV"
else
  rm -rf -- "$VENV"
  log "creating $VENV with $("$PYTHON" --version 2>&1)"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed"
  start=$SECONDS
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
        --only-binary=:all: -r "$HERE/requirements.txt" >&2; then
    rm -rf -- "$VENV"
    die "pip install of $(grep -Ev '^\s*(#|$)' "$HERE/requirements.txt" | tr '\n' ' ')failed"
  fi
  echo "$want" >"$STAMP"
  log "installed in $((SECONDS - start))s"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/check-dbt.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
lake="$work/lake"
project="$work/project"
cp -R "$HERE/project" "$project"
cat >"$work/profiles.yml" <<YAML
botevents_check:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "$work/dbt.duckdb"
      threads: 2
YAML
export DBT_PROFILES_DIR="$work" DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_USE_COLORS=false \
  DBT_LOG_PATH="$work/logs" DBT_TARGET_PATH="$work/target" PYTHONDONTWRITEBYTECODE=1

passed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
# dbt_step NAME ARGS...: runs dbt in the project; its output is shown only when it fails.
dbt_step() {
  local name="$1"; shift
  if ! (cd "$project" && "$VENV/bin/dbt" --no-version-check "$@" --project-dir "$project") >"$work/$name.log" 2>&1; then
    cat "$work/$name.log" >&2
    die "dbt $* failed"
  fi
  grep -Eq 'Deprecat|\[WARNING\]' "$work/$name.log" && { cat "$work/$name.log" >&2; die "dbt $* warned"; }
  local summary
  summary="$(grep -Eo 'PASS=[0-9]+ WARN=[0-9]+ ERROR=[0-9]+' "$work/$name.log" | tail -1 || true)"
  if [[ -z "$summary" ]] && grep -q ' freshness of ' "$work/$name.log"; then
    summary="PASS=$(grep -c ' PASS freshness ' "$work/$name.log" || true) WARN=$(grep -c ' WARN freshness ' "$work/$name.log" || true)"
  fi
  ok "dbt $*${summary:+ ($summary)}"
}

"$BIN" export --simulate --last 2d --streams detail,total,catalog,histogram --dest "$lake" \
  >"$work/export.json" 2>"$work/export.log" || { cat "$work/export.log" >&2; die "export --simulate failed"; }
for t in custom_event_detail custom_event_total custom_event_catalog custom_event_histogram; do
  compgen -G "$lake/$t/event_date=*/*.parquet" >/dev/null || die "no $t files under $lake"
done
ok "export --simulate --last 2d, four tables"

"$BIN" schema --dialect dbt --location "$lake" --table detail --table total --table catalog --table histogram \
  >"$project/models/sources.yml" || die "schema --dialect dbt failed"
ok "schema --dialect dbt ($(wc -l <"$project/models/sources.yml") lines)"

dbt_step parse parse
"$VENV/bin/python" - "$work/target/manifest.json" <<'PY' || die "the manifest lacks the sources"
import json, sys
m = json.load(open(sys.argv[1]))
sources = {s["name"]: s for s in m["sources"].values() if s["source_name"] == "botevents"}
assert sorted(sources) == ["custom_event_catalog", "custom_event_detail", "custom_event_histogram", "custom_event_total"], sorted(sources)
tests = [n for n in m["nodes"].values() if n["resource_type"] == "test"
         and any(d.startswith("source.") for d in n["depends_on"]["nodes"])]
for s in sources.values():
    assert any(s["unique_id"] in t["depends_on"]["nodes"] for t in tests), s["name"]
assert sources["custom_event_detail"]["loaded_at_field"] == "event_time"
print(f"ok   manifest: 4 sources, {len(tests)} source tests")
PY
passed=$((passed + 1))
dbt_step test-sources test --select "source:botevents"
dbt_step run run
dbt_step test-model test --select daily_events_per_bot
dbt_step freshness source freshness

"$VENV/bin/python" - "$work/dbt.duckdb" "$lake" <<'PY' || die "the model's rows differ from the files'"
import sys, duckdb
db, lake = sys.argv[1], sys.argv[2]
con = duckdb.connect(db, read_only=True)
model = con.execute("select count(*), sum(events) from daily_events_per_bot").fetchone()
# The daily totals count the same events as the detail rows, bot by bot and day by day.
differ = con.execute("select count(*) from daily_events_per_bot where counted is distinct from events").fetchone()[0]
assert differ == 0, f"{differ} rows where the daily totals differ from the detail rows"
direct = duckdb.connect().execute(
    f"select count(distinct (account_id, bot_id, event_date)), count(*) from read_parquet('{lake}/custom_event_detail/**/*.parquet', hive_partitioning = true)"
).fetchone()
assert model[0] > 0 and model == direct, (model, direct)
print(f"ok   daily_events_per_bot: {model[0]} rows, {model[1]} events, as DuckDB reads the files; the totals agree")
PY
passed=$((passed + 1))

n="$("$VENV/bin/python" "$HERE/check_external.py" "$BIN")" || die "the external: blocks do not match dbt-external-tables"
printf '%s\n' "$n" | sed '$d'
passed=$((passed + $(printf '%s\n' "$n" | tail -1)))

printf 'check_dbt: %s passed, 0 failed\n' "$passed"
