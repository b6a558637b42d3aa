"""dbt models over the botevents tables, scheduled on the data rather than on a clock.

The DAG runs when the export DAG (botevents_dag.py) has emitted an event of every table's Asset.
Each export shard emits its own events as it succeeds, so the first run of a day may see only a
few shards: `landed_days` reads the recent events of the assets and lets `dbt build` go only once
every shard of an interval has reported for every table (otherwise it skips, and the event of the
last shard starts the run that builds). Running it again for a day is harmless: dbt rebuilds.

`dbt build` runs in the project named by the Variable `botevents_dbt_project_dir` (with
`--vars '{"botevents_days": [...]}'`, the `event_date` days that landed) when dbt is on the
worker's PATH; without dbt, or without the Variable, the task only says what it would run, so
that this file imports and runs anywhere.
"""

from __future__ import annotations

import json
import shlex

import pendulum
from airflow.sdk import Asset, dag, task
from airflow.sdk.exceptions import AirflowSkipException

DAG_ID = "botevents_dbt"

# The tables the export DAG writes and their assets: the same name, URI and group as
# `table_asset` in botevents_dag.py (an asset is one entity; two different definitions under
# one name are an error). Redeclared here rather than imported: importing the export DAG's
# file would define its DAG a second time.
ASSET_NAMESPACE = "botevents"
TABLES = ("custom_event_detail", "custom_event_total")
ASSETS = {
    table: Asset(name=f"{ASSET_NAMESPACE}.{table}", uri=f"x-botevents://{ASSET_NAMESPACE}/{table}",
                 group="botevents")
    for table in TABLES
}

# How many recent events of each asset are read to find the shards of an interval: a few days
# of every shard (botevents_dag.py has 5).
RECENT_EVENTS = 200


def landed(extras_by_table: dict[str, list[dict]], wanted: set[tuple[str, str]] | None = None) -> dict:
    """The data intervals every shard of which has reported for every table, from the `extra`
    of asset events (`shard` is `K/N`, `data_interval` its start and end), and their days.

    `wanted` limits the answer to the intervals of the events that triggered the run (None: all).
    Returns {"intervals": [[start, end], ...], "days": [...], "waiting": {interval: missing shards}}.
    """
    shards: dict[tuple[str, str], dict[str, set[str]]] = {}
    days: dict[tuple[str, str], set[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for table, extras in extras_by_table.items():
        for extra in extras:
            di = extra.get("data_interval") or {}
            key = (di.get("start"), di.get("end"))
            if wanted is not None and key not in wanted:
                continue
            k, _, n = str(extra.get("shard", "")).partition("/")
            if not n.isdigit():
                continue
            counts[key] = int(n)
            shards.setdefault(key, {}).setdefault(table, set()).add(str(extra["shard"]))
            days.setdefault(key, set()).update(extra.get("days") or [])
    complete, waiting = [], {}
    for key, n in counts.items():
        every = {f"{k}/{n}" for k in range(1, n + 1)}
        missing = set()
        for table in extras_by_table:
            missing |= every - shards.get(key, {}).get(table, set())
        if missing:
            waiting[f"{key[0]}..{key[1]}"] = sorted(missing)
        else:
            complete.append(key)
    return {
        "intervals": [list(k) for k in sorted(complete)],
        "days": sorted(set().union(*(days[k] for k in complete))) if complete else [],
        "waiting": waiting,
    }


@dag(
    dag_id=DAG_ID,
    # Any table's event starts a run; `landed_days` then waits for all of them.
    schedule=ASSETS["custom_event_detail"] | ASSETS["custom_event_total"],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # One build at a time: the events that arrive meanwhile start the next run.
    max_active_runs=1,
    tags=["botevents", "dbt"],
    doc_md=__doc__,
)
def botevents_dbt():
    @task(inlets=list(ASSETS.values()))
    def landed_days(*, triggering_asset_events=None, inlet_events=None) -> dict:
        """The intervals of the triggering events whose every shard landed; skips (and so skips
        `dbt build`) while some shard has not."""
        wanted = {
            ((e.extra.get("data_interval") or {}).get("start"), (e.extra.get("data_interval") or {}).get("end"))
            for asset in ASSETS.values()
            for e in (triggering_asset_events or {}).get(asset, [])
        }
        recent = {
            table: [e.extra for e in inlet_events[asset].ascending(False).limit(RECENT_EVENTS)]
            for table, asset in ASSETS.items()
        }
        result = landed(recent, wanted or None)
        if not result["intervals"]:
            raise AirflowSkipException(f"waiting for shards: {result['waiting']}")
        return result

    @task.bash(env={"DBT_PROJECT_DIR": "{{ var.value.get('botevents_dbt_project_dir', '') }}"},
               append_env=True)
    def dbt_build(landed: dict) -> str:
        """`dbt build` over the days that landed, if dbt and a project are there."""
        dbt_vars = shlex.quote(json.dumps({"botevents_days": landed["days"]}))
        return (
            'if command -v dbt >/dev/null 2>&1 && [ -n "$DBT_PROJECT_DIR" ]; then\n'
            f'  exec dbt build --project-dir "$DBT_PROJECT_DIR" --vars {dbt_vars}\n'
            "else\n"
            f"  echo 'no dbt or no botevents_dbt_project_dir: would run dbt build --vars '{dbt_vars}\n"
            "fi\n"
        )

    dbt_build(landed_days())


botevents_dbt()
