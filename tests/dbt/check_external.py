#!/usr/bin/env python3
"""Checks the BigQuery and Snowflake variants of `botevents schema --dialect dbt`.

Usage: check_external.py BOTEVENTS_BINARY

They cannot run here (no warehouse), so their `external:` blocks and columns are checked against
the keys dbt-external-tables documents and its create-table macros read. The lists below are
written down from github.com/dbt-labs/dbt-external-tables at commit c33165e5 (2026-03-16):
the README's "Spec" section (`location` required, `partitions` optional, the rest
database-specific), sample_sources/{bigquery,snowflake}.yml, the tested specs of
integration_tests/models/plugins/{bigquery,snowflake}/*_external.yml and the macros that read
them, macros/plugins/{bigquery,snowflake}/create_external_table.sql. A key outside them would be
ignored or misread by the package; one missing would give a table it cannot create.

Prints one `ok` line per check and, last, the number of checks passed (for check_dbt.sh).
"""

from __future__ import annotations

import subprocess
import sys

import yaml

TABLES = ["custom_event_detail", "custom_event_total", "custom_event_catalog", "custom_event_histogram"]

# external: keys per warehouse (sample_sources/*.yml, create_external_table.sql).
BIGQUERY_EXTERNAL = {"location", "options", "partitions"}
# options: passed through to BigQuery's `options (…)`, uris and connection_name read by the macro;
# format and hive_partition_uri_prefix are the ones a Hive-partitioned Parquet table needs.
BIGQUERY_OPTIONS = {"format", "hive_partition_uri_prefix", "uris", "skip_leading_rows",
                    "connection_name", "max_staleness"}
SNOWFLAKE_EXTERNAL = {"location", "file_format", "auto_refresh", "refresh_on_create", "pattern",
                      "partitions", "infer_schema", "ignore_case", "table_format",
                      "aws_sns_topic", "integration", "snowpipe"}
# partitions: name and data_type on both; Snowflake computes the value with expression.
PARTITION_KEYS = {"bigquery": {"name", "data_type"}, "snowflake": {"name", "data_type", "expression"}}
# columns: what the macros read (name, data_type, quote, alias, expression) and dbt's own keys.
COLUMN_KEYS = {"name", "data_type", "description", "quote", "alias", "expression", "config",
               "meta", "data_tests", "tests"}
TABLE_KEYS = {"name", "description", "external", "columns", "loaded_at_field", "freshness", "meta"}

passed = 0


def check(name: str, cond: bool, detail: object = "") -> None:
    global passed
    if not cond:
        print(f"FAIL {name}: {detail}", file=sys.stderr)
        sys.exit(1)
    passed += 1
    print(f"ok   {name}")


def sources(binary: str, location: str) -> dict:
    args = [binary, "schema", "--dialect", "dbt", "--location", location]
    for t in ("detail", "total", "catalog", "histogram"):
        args += ["--table", t]
    text = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    doc = yaml.safe_load(text)
    (source,) = doc["sources"]
    return {t["name"]: t for t in source["tables"]}


def main() -> None:
    binary = sys.argv[1]

    bq = sources(binary, "gs://lake/botevents")
    check("bigquery: the four tables, with known table keys",
          sorted(bq) == sorted(TABLES) and all(set(t) <= TABLE_KEYS for t in bq.values()), bq.keys())
    ext = {n: t["external"] for n, t in bq.items()}
    check("bigquery: external keys and options",
          all(set(e) == BIGQUERY_EXTERNAL and set(e["options"]) <= BIGQUERY_OPTIONS
              and e["options"]["format"] == "parquet" for e in ext.values()), ext)
    check("bigquery: location under the Hive partition prefix",
          all(e["options"]["hive_partition_uri_prefix"] == f"gs://lake/botevents/{n}"
              and e["location"] == f"gs://lake/botevents/{n}/*" for n, e in ext.items()), ext)
    check("bigquery: event_date partition",
          all(e["partitions"] == [{"name": "event_date", "data_type": "date"}] for e in ext.values()), ext)
    cols = [c for t in bq.values() for c in t["columns"]]
    check("bigquery: every column typed, known column keys, no partition column",
          all(set(c) <= COLUMN_KEYS and c.get("data_type") and c["name"] != "event_date" for c in cols), cols)
    reserved = [c for c in cols if c["name"] == "interval"]
    check("bigquery: reserved word `interval` quoted",
          len(reserved) == 2 and all(c.get("quote") is True for c in reserved), reserved)

    sf = sources(binary, "@botevents")
    check("snowflake: the four tables, with known table keys, no DuckDB location",
          sorted(sf) == sorted(TABLES) and all(set(t) <= TABLE_KEYS and "meta" not in t for t in sf.values()),
          sf.keys())
    ext = {n: t["external"] for n, t in sf.items()}
    check("snowflake: external keys",
          all(set(e) <= SNOWFLAKE_EXTERNAL and {"location", "file_format", "partitions"} <= set(e)
              for e in ext.values()), ext)
    check("snowflake: stage path and Parquet file format",
          all(e["location"] == f"@botevents/{n}/"
              and e["file_format"].lower().replace(" ", "") == "(type=parquet)" for n, e in ext.items()), ext)
    parts = [p for e in ext.values() for p in e["partitions"]]
    check("snowflake: event_date partition from the path",
          len(parts) == 4 and all(set(p) == PARTITION_KEYS["snowflake"] and p["name"] == "event_date"
                                  and "metadata$filename" in p["expression"]
                                  and "'event_date='" in p["expression"] for p in parts), parts)
    cols = [c for t in sf.values() for c in t["columns"]]
    check("snowflake: every column typed, known column keys",
          all(set(c) <= COLUMN_KEYS and c.get("data_type") for c in cols), cols)

    print(passed)


if __name__ == "__main__":
    main()
