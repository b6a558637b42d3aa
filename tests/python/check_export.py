#!/usr/bin/env python3
"""End-to-end check of an export with real readers (DuckDB and pyarrow).

Usage: check_export.py [--keep] [--timeout SECONDS] BOTEVENTS_BINARY

Runs `BOTEVENTS_BINARY export --simulate` with a pinned clock into a fresh
temporary directory, then reads the Parquet files back with DuckDB and pyarrow
and checks the contract of SPEC.md sections 4 and 5: Hive layout, column types
and nullability, compression and statistics, partition = UTC day, row counts
against the run summary, totals against details, duplicates kept, and
byte-identical re-runs. Also runs tests/python/readme_query.sql (when present)
and examples/duckdb/*.sql against the output, with the literal
`botevents-data` replaced by the destination.

Each check prints one line; the first failure stops the run with a message and
exit status 1. On success the last line is `check_export: N passed, 0 failed`.

Needs: python3 >= 3.9, duckdb, pyarrow (tests/python/requirements.txt).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

NOW = "2026-11-24T12:00:00Z"
ACCOUNT = "12345678"
BOTS = ("bot-support", "bot-sales", "bot-busy")
RETENTION_DAYS = 30
DETAIL = "custom_event_detail"
TOTAL = "custom_event_total"
HERE = Path(__file__).resolve().parent
README_QUERY = HERE / "readme_query.sql"
DUCKDB_EXAMPLES = HERE.parent.parent / "examples" / "duckdb"

DICT16 = pa.dictionary(pa.int16(), pa.string())
TS_UTC = pa.timestamp("us", tz="UTC")
# (name, type, nullable) exactly as SPEC.md section 4.
EXPECTED_SCHEMAS = {
    DETAIL: [
        ("account_id", pa.string(), False),
        ("bot_id", pa.string(), False),
        ("event_name", pa.string(), False),
        ("platform", DICT16, False),
        ("event_details", pa.string(), True),
        ("user_text", pa.string(), True),
        ("event_time", TS_UTC, False),
        ("conversation_id", pa.string(), False),
        ("matched_title", pa.string(), True),
    ],
    TOTAL: [
        ("account_id", pa.string(), False),
        ("bot_id", pa.string(), False),
        ("event_name", pa.string(), False),
        ("event_detail", pa.string(), True),
        ("platform", DICT16, False),
        ("event_count", pa.int64(), False),
        ("period_start", TS_UTC, False),
        ("interval", pa.dictionary(pa.int8(), pa.string()), False),
    ],
}
# Free text and random ids carry no min/max statistics (their range spans everything in any row
# group, so no reader prunes on it, and they cost a share of the encoding): the schema files say
# which, with "parquet_statistics": false.
SCHEMA_DIR = HERE.parent.parent / "crates" / "botevents" / "schemas"
NO_STATISTICS = {
    table: {c["name"] for c in json.loads((SCHEMA_DIR / f"{table}.json").read_text())["columns"]
            if c.get("parquet_statistics") is False}
    for table in (DETAIL, TOTAL)
}
# DuckDB's view of the same columns (plus the hive partition column).
EXPECTED_DUCKDB_TYPES = {
    DETAIL: {
        "account_id": "VARCHAR",
        "bot_id": "VARCHAR",
        "event_name": "VARCHAR",
        "platform": "VARCHAR",
        "event_details": "VARCHAR",
        "user_text": "VARCHAR",
        "event_time": "TIMESTAMP WITH TIME ZONE",
        "conversation_id": "VARCHAR",
        "matched_title": "VARCHAR",
    },
    TOTAL: {
        "account_id": "VARCHAR",
        "bot_id": "VARCHAR",
        "event_name": "VARCHAR",
        "event_detail": "VARCHAR",
        "platform": "VARCHAR",
        "event_count": "BIGINT",
        "period_start": "TIMESTAMP WITH TIME ZONE",
        "interval": "VARCHAR",
    },
}
# Column holding the instant whose UTC day is the partition.
TIME_COLUMN = {DETAIL: "event_time", TOTAL: "period_start"}
FILE_NAME = re.compile(r"^event_date=(\d{4}-\d{2}-\d{2})/([A-Za-z0-9._-]+)@([A-Za-z0-9._-]+)\.parquet$")


class CheckFailed(Exception):
    pass


def require(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


class Checker:
    def __init__(self) -> None:
        self.passed = 0

    def check(self, name: str, fn, *args):
        """Runs one check; prints `ok` with its detail, or FAIL and exits."""
        t0 = time.monotonic()
        try:
            detail = fn(*args)
        except CheckFailed as e:
            self.fail(name, str(e))
        except Exception as e:  # a reader error is a failed check too
            self.fail(name, f"{type(e).__name__}: {e}")
        self.passed += 1
        took = time.monotonic() - t0
        print(f"ok   {name}" + (f": {detail}" if detail else "") + (f" ({took:.1f}s)" if took >= 1 else ""), flush=True)
        return detail

    def fail(self, name: str, message: str) -> None:
        print(f"FAIL {name}: {message}", flush=True)
        print(f"check_export: {self.passed} passed, 1 failed", flush=True)
        sys.exit(1)


class Export:
    """One run of the binary and what it left behind."""

    def __init__(self, binary: Path, dest: Path, timeout: float) -> None:
        self.binary = binary
        self.dest = dest
        self.timeout = timeout

    def run(self, tag: str, extra: list[str] | None = None) -> dict:
        summary_path = self.dest.parent / f"summary-{tag}.json"
        cmd = [
            str(self.binary), "export", "--simulate", "--now", NOW,
            "--dest", str(self.dest), "--summary-json", str(summary_path),
        ] + (extra or [])
        # Only the flags decide: no BOTEVENTS_* settings from the caller's environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOTEVENTS_")}
        env.setdefault("RUST_BACKTRACE", "1")
        env["NO_COLOR"] = "1"
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired as e:
            raise CheckFailed(f"`{' '.join(cmd)}` did not finish within {self.timeout:.0f}s; "
                              f"stderr tail:\n{tail(e.stderr)}")
        took = time.monotonic() - t0
        require(proc.returncode == 0,
                f"`{' '.join(cmd)}` exited {proc.returncode}; stderr tail:\n{tail(proc.stderr)}")
        require(summary_path.is_file(), f"no summary written to {summary_path}")
        summary = json.loads(summary_path.read_text())
        summary["_took"] = took
        summary["_stderr"] = proc.stderr
        return summary

    def files(self, table: str) -> list[Path]:
        return sorted((self.dest / table).rglob("*.parquet"))

    def glob(self, table: str) -> str:
        return str(self.dest / table / "**" / "*.parquet")

    def hashes(self) -> dict[str, str]:
        return {
            str(p.relative_to(self.dest)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.dest.rglob("*.parquet"))
        }


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def tail(text, lines: int = 25) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = ANSI.sub("", text or "")
    return "\n".join((text or "").rstrip().splitlines()[-lines:]) or "(empty)"


def table_rows(summary: dict, table: str) -> int:
    tables = summary.get("tables") or {}
    require(table in tables, f"summary has no tables.{table}: {sorted(tables)}")
    return int(tables[table]["rows"])


# ---------------------------------------------------------------- checks


def check_first_run(ex: Export, out: dict) -> str:
    s = ex.run("1")
    out.update(s)
    require(s.get("status") == "ok", f"summary status {s.get('status')!r}, error: {s.get('error')}")
    require(s.get("exit_code") == 0, f"summary exit_code {s.get('exit_code')!r}")
    for t in (DETAIL, TOTAL):
        require(table_rows(s, t) > 0, f"summary says 0 rows for {t}")
    require(s.get("throttled_429") == 0,
            f"first run was throttled: throttled_429 = {s.get('throttled_429')} (rate limiter too fast)")
    return (f"{s['_took']:.1f}s, detail {table_rows(s, DETAIL)} rows, total {table_rows(s, TOTAL)} rows, "
            f"{s.get('data_requests')} data requests, 0 x 429, {s.get('rows_outside_window')} rows outside window")


def check_layout(ex: Export, summary: dict) -> str:
    today = dt.date.fromisoformat(NOW[:10])
    oldest = today - dt.timedelta(days=RETENTION_DAYS - 1)
    seen_bots: dict[str, set[str]] = {}
    for table in (DETAIL, TOTAL):
        root = ex.dest / table
        require(root.is_dir(), f"missing {root}")
        files = ex.files(table)
        require(files, f"no .parquet files under {root}")
        stray = [p for p in root.rglob("*") if p.is_file() and p.suffix != ".parquet"]
        require(not stray, f"non-Parquet leftovers (temp files?) under {root}: {stray[:5]}")
        bots = set()
        for p in files:
            rel = p.relative_to(root).as_posix()
            m = FILE_NAME.match(rel)
            require(m is not None, f"{table}/{rel} is not event_date=YYYY-MM-DD/ACCOUNT@BOT.parquet")
            day = dt.date.fromisoformat(m.group(1))
            require(oldest <= day < today, f"{table}/{rel}: day {day} outside [{oldest}, {today})")
            require(m.group(2) == ACCOUNT, f"{table}/{rel}: account {m.group(2)!r}, expected {ACCOUNT}")
            bots.add(m.group(3))
        require(bots == set(BOTS), f"{table}: files for bots {sorted(bots)}, expected {sorted(BOTS)}")
        seen_bots[table] = bots
        n_files = int(summary["tables"][table]["files_written"])
        require(n_files == len(files), f"{table}: summary files_written {n_files}, found {len(files)} files")
    for bot in BOTS:
        state = ex.dest / "_botevents" / "state" / ACCOUNT / f"{bot}.json"
        require(state.is_file(), f"missing state file {state}")
        json.loads(state.read_text())  # must parse
    return (f"{len(ex.files(DETAIL))} detail + {len(ex.files(TOTAL))} total files, "
            f"days in [{oldest}, {today}), state for {len(BOTS)} bots")


def check_duckdb_reads(con, ex: Export, table: str, summary: dict) -> str:
    n = con.execute(
        f"SELECT count(*) FROM read_parquet({sql_str(ex.glob(table))}, hive_partitioning=true)").fetchone()[0]
    want = table_rows(summary, table)
    require(n == want, f"DuckDB counts {n} rows, summary says tables.{table}.rows = {want}")
    accounts = con.execute(
        f"SELECT DISTINCT account_id FROM read_parquet({sql_str(ex.glob(table))}, hive_partitioning=true)"
    ).fetchall()
    require(accounts == [(ACCOUNT,)], f"account_id values {accounts}, expected only {ACCOUNT}")
    return f"{n} rows = summary"


def check_duckdb_types(con, ex: Export, table: str) -> str:
    rows = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({sql_str(ex.glob(table))}, hive_partitioning=true)").fetchall()
    got = {r[0]: r[1] for r in rows}
    want = EXPECTED_DUCKDB_TYPES[table]
    for col, typ in want.items():
        require(col in got, f"column {col} missing; DuckDB sees {got}")
        require(got[col] == typ, f"column {col} is {got[col]} in DuckDB, expected {typ}")
    extra = set(got) - set(want) - {"event_date"}
    require(not extra, f"unexpected columns {sorted(extra)}")
    require("event_date" in got, f"hive partition column event_date missing; DuckDB sees {sorted(got)}")
    return f"{len(want)} columns as expected, event_date is {got['event_date']}"


def check_partition_day(con, ex: Export, table: str) -> str:
    col = TIME_COLUMN[table]
    src = f"read_parquet({sql_str(ex.glob(table))}, hive_partitioning=true)"
    bad, = con.execute(
        f"SELECT count(*) FROM {src} "
        f"WHERE CAST(event_date AS VARCHAR) <> strftime(timezone('UTC', {col}), '%Y-%m-%d')"
    ).fetchone()
    if bad:
        sample = con.execute(
            f"SELECT CAST(event_date AS VARCHAR), CAST({col} AS VARCHAR), filename FROM {src} "
            f"WHERE CAST(event_date AS VARCHAR) <> strftime(timezone('UTC', {col}), '%Y-%m-%d') LIMIT 3"
        ).fetchall()
        raise CheckFailed(f"{bad} rows whose event_date is not the UTC day of {col}, e.g. {sample}")
    # Also: the same via the timestamp cast the check in the brief uses.
    bad2, = con.execute(
        f"SELECT count(*) FROM {src} "
        f"WHERE CAST(CAST(event_date AS DATE) AS VARCHAR) <> CAST(CAST(timezone('UTC', {col}) AS DATE) AS VARCHAR)"
    ).fetchone()
    require(bad2 == 0, f"{bad2} rows whose event_date <> CAST(timezone('UTC', {col}) AS DATE)")
    nulls, = con.execute(f"SELECT count(*) FROM {src} WHERE {col} IS NULL").fetchone()
    require(nulls == 0, f"{nulls} rows with NULL {col}")
    return f"event_date = UTC day of {col} for every row"


def check_arrow_schema(ex: Export, table: str) -> str:
    want = EXPECTED_SCHEMAS[table]
    files = ex.files(table)
    for f in files:
        schema = pq.read_schema(f)
        got = [(fld.name, fld.type, fld.nullable) for fld in schema]
        if got != want:
            lines = []
            for i in range(max(len(got), len(want))):
                g = got[i] if i < len(got) else None
                w = want[i] if i < len(want) else None
                if g != w:
                    lines.append(f"  field {i}: got {fmt_field(g)}, expected {fmt_field(w)}")
            raise CheckFailed(f"{f.relative_to(ex.dest)} has the wrong Arrow schema:\n" + "\n".join(lines))
    return f"all {len(files)} files: " + ", ".join(fmt_field(w) for w in want)


def fmt_field(f) -> str:
    if f is None:
        return "(none)"
    name, typ, nullable = f
    return f"{name} {typ}{'' if nullable else ' not null'}"


def check_compression_stats(ex: Export, table: str) -> str:
    files = ex.files(table)
    row_groups = 0
    for f in files:
        md = pq.ParquetFile(f).metadata
        require(md.num_row_groups >= 1, f"{f.relative_to(ex.dest)}: no row groups")
        for rg in range(md.num_row_groups):
            row_groups += 1
            group = md.row_group(rg)
            for i in range(group.num_columns):
                c = group.column(i)
                where = f"{f.relative_to(ex.dest)} row group {rg} column {c.path_in_schema}"
                require(c.compression == "ZSTD", f"{where}: compression {c.compression}, expected ZSTD")
                st = c.statistics
                if c.path_in_schema in NO_STATISTICS[table]:
                    require(st is None or not st.has_min_max, f"{where}: min/max statistics, expected none")
                    continue
                require(st is not None, f"{where}: no column statistics")
                require(st.has_null_count, f"{where}: statistics without null_count")
                if st.null_count < group.num_rows:
                    require(st.has_min_max, f"{where}: statistics without min/max")
    without = ", ".join(sorted(NO_STATISTICS[table]))
    return (f"{len(files)} files, {row_groups} row groups: every column ZSTD with statistics (min/max, nulls)"
            + (f" but {without}" if without else ""))


def check_totals_agree(con, ex: Export) -> str:
    d = f"read_parquet({sql_str(ex.glob(DETAIL))}, hive_partitioning=true)"
    t = f"read_parquet({sql_str(ex.glob(TOTAL))}, hive_partitioning=true)"
    intervals = [r[0] for r in con.execute(f"SELECT DISTINCT CAST(interval AS VARCHAR) FROM {t}").fetchall()]
    require(intervals == ["daily"], f"custom_event_total intervals {intervals}, expected only daily (default)")
    q = f"""
        WITH d AS (
            SELECT bot_id, CAST(event_date AS VARCHAR) AS day, event_name, CAST(platform AS VARCHAR) AS platform,
                   count(*) AS n
            FROM {d} GROUP BY ALL
        ), t AS (
            SELECT bot_id, CAST(event_date AS VARCHAR) AS day, event_name, CAST(platform AS VARCHAR) AS platform,
                   sum(event_count) AS n
            FROM {t} GROUP BY ALL
        )
        SELECT coalesce(d.bot_id, t.bot_id) AS bot, coalesce(d.day, t.day) AS day,
               coalesce(d.event_name, t.event_name) AS event_name, coalesce(d.platform, t.platform) AS platform,
               coalesce(d.n, 0) AS detail_rows, coalesce(t.n, 0) AS total_count
        FROM d FULL OUTER JOIN t
          ON d.bot_id = t.bot_id AND d.day = t.day AND d.event_name = t.event_name AND d.platform = t.platform
    """
    groups, = con.execute(f"SELECT count(*) FROM ({q})").fetchone()
    require(groups > 0, "no (bot, day, event_name, platform) groups at all")
    bad = con.execute(f"SELECT * FROM ({q}) WHERE detail_rows <> total_count ORDER BY ALL").fetchall()
    if bad:
        raise CheckFailed(f"{len(bad)} of {groups} (bot, event_date, event_name, platform) groups disagree "
                          f"(bot, day, event, platform, detail rows, sum(event_count)); first ones: {bad[:5]}")
    return f"{groups} (bot, event_date, event_name, platform) groups, detail count = sum(event_count) in all"


def check_duplicates_kept(con, ex: Export) -> str:
    cols = ", ".join(name for name, _, _ in EXPECTED_SCHEMAS[DETAIL])
    groups, rows = con.execute(
        f"SELECT count(*), coalesce(sum(n), 0) FROM ("
        f"  SELECT count(*) AS n FROM read_parquet({sql_str(ex.glob(DETAIL))}, hive_partitioning=true) "
        f"  GROUP BY {cols} HAVING count(*) >= 2)"
    ).fetchone()
    require(groups >= 1, "no group of identical detail rows: the simulator's duplicates were dropped")
    return f"{groups} groups of identical detail rows ({rows} rows) kept"


def check_rerun_identical(ex: Export, before: dict[str, str], first: dict) -> str:
    s = ex.run("2")
    require(s.get("status") == "ok" and s.get("exit_code") == 0,
            f"second run: status {s.get('status')!r}, exit_code {s.get('exit_code')!r}, error {s.get('error')}")
    require(s.get("throttled_429") == 0, f"second run was throttled: throttled_429 = {s.get('throttled_429')}")
    after = ex.hashes()
    diff_files(before, after, "after the second run")
    written = sum(int(t.get("files_written", 0)) for t in s.get("tables", {}).values())
    return (f"{len(after)} files byte-identical, 0 x 429 in both runs "
            f"(second run: {written} files written, {s.get('data_requests')} data requests, {s['_took']:.1f}s)")


def check_reexport_identical(ex: Export, before: dict[str, str], con) -> str:
    # The second run may only continue from the saved state; this one re-exports every day explicitly.
    lo, hi = con.execute(
        f"SELECT CAST(min(CAST(event_date AS DATE)) AS VARCHAR), "
        f"CAST(max(CAST(event_date AS DATE)) + 1 AS VARCHAR) "
        f"FROM read_parquet({sql_str(ex.glob(DETAIL))}, hive_partitioning=true)").fetchone()
    s = ex.run("3", ["--start", lo, "--end", hi])
    require(s.get("status") == "ok" and s.get("exit_code") == 0,
            f"re-export --start {lo} --end {hi}: status {s.get('status')!r}, error {s.get('error')}")
    require(s.get("throttled_429") == 0, f"re-export was throttled: throttled_429 = {s.get('throttled_429')}")
    written = int(s["tables"][DETAIL]["files_written"])
    require(written > 0, f"re-export --start {lo} --end {hi} wrote no detail files")
    diff_files(before, ex.hashes(), f"after re-exporting {lo}..{hi}")
    return f"--start {lo} --end {hi}: {written} detail files rewritten, all byte-identical, no duplicates"


def diff_files(before: dict[str, str], after: dict[str, str], when: str) -> None:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    require(not (added or removed or changed),
            f"Parquet files differ {when}: {len(changed)} changed {changed[:3]}, "
            f"{len(added)} added {added[:3]}, {len(removed)} removed {removed[:3]}")


def check_arrow_export(ex: Export, arrow: Export) -> str:
    """`--format arrow` for the last three days: every .arrow file opens with pyarrow's IPC file
    reader, has the table's schema, and holds the rows of the Parquet file of the same day."""
    s = arrow.run("arrow", ["--format", "arrow", "--start", "2026-11-21", "--end", "2026-11-24"])
    require(s.get("status") == "ok", f"arrow export: status {s.get('status')!r}, error: {s.get('error')}")
    files = sorted(arrow.dest.rglob("*.arrow"))
    require(files, f"no .arrow files under {arrow.dest}")
    stray = sorted(arrow.dest.rglob("*.parquet"))
    require(not stray, f"Parquet files in an Arrow export: {stray[:3]}")

    def decoded(t: pa.Table) -> pa.Table:
        cols = {n: (c.cast(pa.string()) if pa.types.is_dictionary(c.type) else c)
                for n, c in zip(t.column_names, t.columns)}
        return pa.table(cols).sort_by([(n, "ascending") for n in t.column_names])

    rows = 0
    for f in files:
        rel = f.relative_to(arrow.dest)
        table = rel.parts[0]
        with pa.memory_map(str(f)) as src:
            t = ipc.open_file(src).read_all()
        got = [(fld.name, fld.type, fld.nullable) for fld in t.schema]
        require(got == EXPECTED_SCHEMAS[table], f"{rel}: schema {t.schema}")
        twin = ex.dest / rel.with_suffix(".parquet")
        require(twin.is_file(), f"{rel}: no Parquet file {twin.relative_to(ex.dest)} for the same day")
        p = pq.ParquetFile(twin).read()
        require(decoded(t).equals(decoded(p)), f"{rel}: rows differ from {twin.relative_to(ex.dest)}")
        rows += t.num_rows
    return f"{len(files)} files, {rows} rows, each equal to its Parquet twin"


def check_readme_query(con, ex: Export) -> str:
    sql = README_QUERY.read_text()
    require("botevents-data" in sql, f"{README_QUERY.name} does not mention botevents-data")
    sql = sql.replace("botevents-data", str(ex.dest).replace("'", "''"))
    rows = con.execute(sql).fetchall()
    require(len(rows) >= 1, f"{README_QUERY.name} returned no rows")
    return f"{README_QUERY.name} returned {len(rows)} rows, first {rows[0]}"


def check_duckdb_examples(ex: Export) -> str:
    """examples/duckdb/*.sql, in order, on one connection, with `botevents-data` pointing at the
    export: the views file is what `schema --dialect duckdb` prints; every query returns rows;
    a query with an `events` column agrees with count(*) of the detail table per its keys."""
    files = sorted(DUCKDB_EXAMPLES.glob("*.sql"))
    require(files, f"no .sql files in {DUCKDB_EXAMPLES}")
    proc = subprocess.run([str(ex.binary), "schema", "--dialect", "duckdb", "--location", "botevents-data"],
                          capture_output=True, text=True, timeout=60)
    require(proc.returncode == 0, f"schema --dialect duckdb exited {proc.returncode}: {tail(proc.stderr)}")
    generated = proc.stdout.strip()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    detail = f"read_parquet({sql_str(ex.glob(DETAIL))}, hive_partitioning=true)"
    done = []
    for f in files:
        text = f.read_text()
        if "CREATE OR REPLACE VIEW" in text:
            body = "\n".join(line for line in text.splitlines() if not line.startswith("--")).strip()
            require(body == generated, f"{f.name} is not what `botevents schema --dialect duckdb "
                                       f"--location botevents-data` prints now:\n{generated}")
        sql = text.replace("botevents-data", str(ex.dest).replace("'", "''"))
        con.execute(sql)
        if con.extract_statements(sql)[-1].type != duckdb.StatementType.SELECT:
            done.append(f"{f.name} (DDL)")
            continue
        cols = [d[0] for d in con.description]
        rows = con.fetchall()
        require(rows, f"{f.name} returned no rows")
        if "events" in cols:
            keys = [c for c in cols if c in ("event_date", "bot_id", "platform", "event_name")]
            require(keys, f"{f.name}: an events column without event_date/bot_id/platform/event_name: {cols}")
            got = {tuple(str(r[cols.index(k)]) for k in keys): r[cols.index("events")] for r in rows}
            select = ", ".join(f"CAST({k} AS VARCHAR)" for k in keys)
            want = {tuple(r[:-1]): r[-1]
                    for r in con.execute(f"SELECT {select}, count(*) FROM {detail} GROUP BY ALL").fetchall()}
            bad = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
            require(not bad, f"{f.name}: events per {keys} differ from count(*) of {DETAIL} for {len(bad)} "
                             f"groups, e.g. {[(k, got.get(k), want.get(k)) for k in bad[:3]]}")
            done.append(f"{f.name} {len(rows)} rows = detail count per {','.join(keys)}")
        else:
            done.append(f"{f.name} {len(rows)} rows")
    return "; ".join(done)


def check_duckdb_ddl(con, ex: Export, summary: dict) -> str:
    """`botevents schema --dialect duckdb` runs as is against real output and sees every row."""
    proc = subprocess.run(
        [str(ex.binary), "schema", "--dialect", "duckdb", "--location", str(ex.dest)],
        capture_output=True, text=True, timeout=60,
    )
    require(proc.returncode == 0, f"schema --dialect duckdb exited {proc.returncode}: {tail(proc.stderr)}")
    con.execute(proc.stdout)
    seen = []
    for table in ("custom_event_detail", "custom_event_total"):
        n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        require(n == table_rows(summary, table), f"view {table} has {n} rows, summary says {table_rows(summary, table)}")
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        require("event_date" in cols, f"view {table} has no event_date partition column: {cols}")
        seen.append(f"{table} {n} rows")
    return ", ".join(seen)


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", type=Path, help="path to the botevents binary (e.g. target/release/botevents)")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("CHECK_EXPORT_TIMEOUT", "600")),
                    help="seconds one export may take (default 600, or $CHECK_EXPORT_TIMEOUT)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary destination")
    args = ap.parse_args()

    binary = args.binary.resolve()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        print(f"check_export: {args.binary} is not an executable file (build it: cargo build --release)")
        return 2
    print(f"check_export: {binary}, duckdb {duckdb.__version__}, pyarrow {pa.__version__}, --now {NOW}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="botevents-check-"))
    ex = Export(binary, work / "dest", args.timeout)
    c = Checker()
    ok = False
    try:
        first: dict = {}
        c.check("export --simulate (first run)", check_first_run, ex, first)
        c.check("Hive layout, file names, state files", check_layout, ex, first)

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for table in (DETAIL, TOTAL):
            c.check(f"duckdb read_parquet {table}: rows = summary", check_duckdb_reads, con, ex, table, first)
            c.check(f"duckdb DESCRIBE {table}", check_duckdb_types, con, ex, table)
            c.check(f"duckdb {table}: event_date = UTC day", check_partition_day, con, ex, table)
            c.check(f"pyarrow schema {table}", check_arrow_schema, ex, table)
            c.check(f"pyarrow metadata {table}: zstd + statistics", check_compression_stats, ex, table)
        c.check("totals agree with details", check_totals_agree, con, ex)
        c.check("identical duplicate detail rows kept", check_duplicates_kept, con, ex)

        before = ex.hashes()
        c.check("second run: files byte-identical, no 429", check_rerun_identical, ex, before, first)
        c.check("explicit re-export: files byte-identical", check_reexport_identical, ex, before, con)
        arrow = Export(binary, work / "dest-arrow", args.timeout)
        c.check("--format arrow: pyarrow reads the rows of the Parquet files", check_arrow_export, ex, arrow)
        if README_QUERY.is_file():
            c.check("README query", check_readme_query, con, ex)
        else:
            print(f"skip README query: {README_QUERY.relative_to(HERE.parent.parent)} not present", flush=True)
        c.check("schema --dialect duckdb DDL runs on real output", check_duckdb_ddl, con, ex, first)
        c.check("examples/duckdb/*.sql on real output", check_duckdb_examples, ex)
        ok = True
    finally:
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"check_export: output kept in {work}", flush=True)
    print(f"check_export: {c.passed} passed, 0 failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
