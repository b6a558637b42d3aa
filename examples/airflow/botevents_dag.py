"""Daily export of LivePerson Bot Analytics custom events with `botevents`, scaled out over shards.

One DAG run exports one UTC day (its data interval) for every bot of the account. The bots are
split into SHARDS disjoint sets with `botevents export --shard K/N`; dynamic task mapping starts
one task per shard, at most PARALLEL_TASKS at a time, each with its share of the API key's
request budget. See README.md beside this file for setup (Connection, Variables, binary).

Exit statuses of `botevents` (SPEC): 0 done; 75 stopped early with progress saved → retried
after `retry_delay`; 2 usage/configuration, 3 authentication, 4 rejected data, 1 other → the task
fails at once (retrying would not change the answer; fix and clear the task).

Each table is an Airflow Asset (ASSETS), an outlet of the export task: every shard that succeeds
emits one event per table whose `extra` says what the run summary says for that table (rows,
files, the `event_date` days) with the shard and the data interval, so that downstream DAGs
(botevents_dbt_dag.py) are scheduled on the data rather than on a clock.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import tempfile
from datetime import date, timedelta

import pendulum
from airflow.sdk import Asset, BaseHook, CronTriggerTimetable, Metadata, Variable, dag, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

log = logging.getLogger(__name__)

DAG_ID = "botevents_export"
# The Connection holding the LivePerson credentials: login = Conversation Builder user,
# password = its password, extra = {"api_key": "...", "account": "12345678"}.
CONN_ID = "botevents_liveperson"

# Number of shards. Any N works (a shard with no bots exits 0); the shard of a bot depends only
# on account, bot and N, so keep N fixed while runs are in flight.
SHARDS = 5

# The vendor allows 5 requests/second per API key, and every task of this DAG uses the same key.
# The budget is shared by capping the number of tasks running at once (`max_active_tis_per_dag`,
# which counts across all runs of this DAG, backfills included) and giving each an equal share:
# `--max-rps` takes fractions, so 2 tasks × 2.5 requests/s = 5, and any PARALLEL_TASKS uses the
# whole budget (3 tasks get 1.666 each; the share is rounded down so the sum never exceeds 5).
# Two tasks rather than five: every task logs in once, and the Login Service refuses logins of
# one account that come too close together (429, "retry after 5 seconds"), so five tasks
# starting at once would wait up to 20 s for their logins. If other DAGs use the same key, put
# all of them in one Airflow pool and give each task `pool_slots` in proportion to its --max-rps.
API_RPS = 5
PARALLEL_TASKS = 2
MAX_RPS_PER_TASK = math.floor(API_RPS / PARALLEL_TASKS * 1000) / 1000
assert MAX_RPS_PER_TASK >= 0.001, "PARALLEL_TASKS is far above API_RPS"

# A task that runs longer than this is killed by Airflow; botevents stops by itself a little
# earlier (--max-duration), commits what it finished and exits 75, and the retry continues.
EXECUTION_TIMEOUT = timedelta(hours=2)
MAX_DURATION = EXECUTION_TIMEOUT - timedelta(minutes=15)

# The streams exported (`--streams`); each fills the table `custom_event_<stream>`. Add "catalog"
# and "histogram" to export those tables too: their assets follow.
STREAMS = ("detail", "total")
TABLES = tuple(f"custom_event_{s}" for s in STREAMS)

# One Asset per table. An asset's identity is fixed when the file is parsed, but the destination
# is a Variable, read only when a task runs (Airflow's best practices: no Variable.get in
# top-level code, it would ask Airflow's metadata store at every parse). So the assets are
# named, with a URI of the `x-` kind that Airflow keeps as a plain string, rather than a
# `file://` or `s3://` URI this file could not vouch for; each event's extra carries the table's
# real location. Change ASSET_NAMESPACE (here and in botevents_dbt_dag.py) if two deployments of
# this DAG write to different destinations.
ASSET_NAMESPACE = "botevents"


def table_asset(table: str) -> Asset:
    """The Asset of one table; botevents_dbt_dag.py declares the same ones, field for field."""
    return Asset(name=f"{ASSET_NAMESPACE}.{table}", uri=f"x-botevents://{ASSET_NAMESPACE}/{table}",
                 group="botevents")


ASSETS = {table: table_asset(table) for table in TABLES}

# Exit statuses worth a retry. 75 = stopped early, progress saved. Add 1 ("any other failure",
# e.g. the API down for longer than the tool's own retries) if you prefer to retry those too.
RETRY_EXIT_CODES = frozenset({75})
EXIT_MEANING = {
    1: "failure (see the log above)",
    2: "usage or configuration error",
    3: "authentication failed",
    4: "rows rejected over --max-bad-rows (see _botevents/rejects/)",
    75: "stopped early with progress saved",
}


def shard_list(n: int = SHARDS) -> list[str]:
    """`1/N` … `N/N`: what the mapped task is expanded over."""
    return [f"{k}/{n}" for k in range(1, n + 1)]


def botevents_argv(binary: str, shard: str, start: str, end: str, summary_path: str) -> list[str]:
    """The command line of one shard. No secret ever goes here (argv is visible to every local
    user and in the task log): credentials travel in the environment, see `botevents_env`."""
    return [
        binary, "export",
        "--shard", shard,
        "--start", start,
        "--end", end,
        "--max-rps", f"{MAX_RPS_PER_TASK:g}",
        "--max-duration", f"{int(MAX_DURATION.total_seconds())}s",
        "--streams", ",".join(STREAMS),
        "--summary-json", summary_path,
        "--log-format", "json",
    ]


def botevents_env() -> dict[str, str]:
    """The process environment plus the settings and secrets of the Connection and Variables."""
    conn = BaseHook.get_connection(CONN_ID)
    extra = conn.extra_dejson
    settings = {
        "BOTEVENTS_API_KEY": extra.get("api_key"),
        "BOTEVENTS_USERNAME": conn.login,
        "BOTEVENTS_PASSWORD": conn.password,
        "BOTEVENTS_ACCOUNT": extra.get("account") or Variable.get("botevents_account", default=None),
        "BOTEVENTS_BOTS": Variable.get("botevents_bots"),
        "BOTEVENTS_DEST": Variable.get("botevents_dest"),
    }
    # Optional: the API base URL of the account's region (default: the US domain).
    settings["BOTEVENTS_API_URL"] = Variable.get("botevents_api_url", default=None)
    env = dict(os.environ)
    env.update({k: v for k, v in settings.items() if v})
    return env


def table_location(dest: str, table: str) -> str:
    """Where a table's partitions live: `s3://bucket/prefix/custom_event_detail/`, or a
    `file://` URI for a local destination."""
    if "://" not in dest:
        dest = "file://" + os.path.abspath(dest)
    return f"{dest.rstrip('/')}/{table}/"


def days_touched(summary: dict, table: str, start: str, end: str) -> list[str]:
    """The `event_date` partitions of `table` the run wrote or removed files in. The summary
    counts files but does not list them: these are the days of [start, end) (up to the latest
    cursor of the table's stream, should botevents have clamped --end to the last complete day),
    or none if the run wrote and removed no file of the table. With a one-day interval, exact;
    over several days, a quiet day of every bot of the shard is counted too."""
    t = summary.get("tables", {}).get(table, {})
    if not t.get("files_written") and not t.get("files_removed"):
        return []
    stream = table.removeprefix("custom_event_")
    first, stop = date.fromisoformat(start), date.fromisoformat(end)
    cursors = [date.fromisoformat(c[stream]) for c in summary.get("cursors", {}).values() if stream in c]
    if cursors and first < max(cursors) < stop:
        stop = max(cursors)
    return [str(first + timedelta(days=i)) for i in range((stop - first).days)]


def asset_extras(summary: dict, shard: str, start: str, end: str, dest: str,
                 data_interval: tuple[str, str]) -> dict[str, dict]:
    """Per table, the `extra` of its asset event: the summary's numbers for the table, the days,
    where they are, and which shard and data interval they come from (a consumer waits for
    every shard of an interval: the events of one shard say nothing of the others)."""
    extras = {}
    for table in TABLES:
        t = summary.get("tables", {}).get(table, {})
        extras[table] = {
            "table": table,
            "location": table_location(dest, table),
            "rows": t.get("rows", 0),
            "files_written": t.get("files_written", 0),
            "files_removed": t.get("files_removed", 0),
            "bytes": t.get("bytes", 0),
            "days": days_touched(summary, table, start, end),
            "account": summary.get("account"),
            "shard": shard,
            "data_interval": {"start": data_interval[0], "end": data_interval[1]},
        }
    return extras


def run_botevents(argv: list[str], env: dict[str, str]) -> int:
    """Runs the export, its log lines going to the task log; stops it cleanly (SIGTERM: finish
    the windows in flight, commit, exit 75) when Airflow stops the task."""
    log.info("running %s", " ".join(argv))
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.info("%s", line.rstrip())
        return proc.wait()
    except BaseException:  # timeout, kill, Ctrl-C: let botevents commit before going down
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise


@dag(
    dag_id=DAG_ID,
    # Run at 09:00 UTC for the UTC day before: a day is complete at 03:00 America/New_York the
    # next day (07:00 or 08:00 UTC), and botevents clamps --end to that horizon, so an earlier run
    # would export nothing. The data interval [D 09:00, D+1 09:00) renders as --start D --end D+1.
    schedule=CronTriggerTimetable("0 9 * * *", timezone="UTC", interval=timedelta(days=1)),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # One day at a time: two runs would export the same bots concurrently, and the second
    # would stop on the state conflict. Shards of one run are disjoint, so they run in parallel.
    max_active_runs=1,
    tags=["botevents", "liveperson"],
    doc_md=__doc__,
)
def botevents_export():
    @task(
        retries=8,
        retry_delay=timedelta(minutes=5),
        retry_exponential_backoff=True,
        max_retry_delay=timedelta(hours=1),
        max_active_tis_per_dag=PARALLEL_TASKS,
        execution_timeout=EXECUTION_TIMEOUT,
        outlets=list(ASSETS.values()),
    )
    def export_shard(shard: str, start: str, end: str, data_interval_start=None, data_interval_end=None):
        """Exports the bots of one shard for [start, end) and returns the run summary's totals.

        A generator: on success it yields one `Metadata` per table, which Airflow puts in the
        `extra` of that table's asset event. Airflow emits the events only when the task succeeds:
        an attempt that fails, or stops early for a retry, announces nothing. The data interval
        comes from the context (Airflow passes the arguments named after context keys)."""
        binary = Variable.get("botevents_binary", default="botevents")
        with tempfile.TemporaryDirectory(prefix="botevents-") as tmp:
            summary_path = os.path.join(tmp, "summary.json")
            rc = run_botevents(botevents_argv(binary, shard, start, end, summary_path), botevents_env())
            summary = {}
            if os.path.exists(summary_path):
                with open(summary_path) as f:
                    summary = json.load(f)
        meaning = EXIT_MEANING.get(rc, "unexpected exit status")
        if rc in RETRY_EXIT_CODES:
            # A plain AirflowException: the task goes up for retry after retry_delay.
            raise AirflowException(f"botevents shard {shard} exited {rc}: {meaning}; retrying later")
        if rc != 0:
            # AirflowFailException: failed at once, no retry.
            raise AirflowFailException(f"botevents shard {shard} exited {rc}: {meaning}; not retried")
        interval = (data_interval_start.isoformat() if data_interval_start else start,
                    data_interval_end.isoformat() if data_interval_end else end)
        extras = asset_extras(summary, shard, start, end, Variable.get("botevents_dest"), interval)
        for table, asset in ASSETS.items():
            yield Metadata(asset, extras[table])
        return {
            "shard": shard,
            "rows": {t: v.get("rows", 0) for t, v in summary.get("tables", {}).items()},
            "data_requests": summary.get("data_requests", 0),
            "throttled_429": summary.get("throttled_429", 0),
        }

    # Airflow renders these templates per run; `ds` is the UTC day (YYYY-MM-DD) of the timestamp.
    export_shard.partial(
        start="{{ data_interval_start | ds }}",
        end="{{ data_interval_end | ds }}",
    ).expand(shard=shard_list())


botevents_export()
