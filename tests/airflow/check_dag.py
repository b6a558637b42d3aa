#!/usr/bin/env python3
"""Checks the example DAGs in a real Airflow. Run by tests/airflow/check_dag.sh.

Usage: check_dag.py DAG_FOLDER [BOTEVENTS_BINARY | --on-path]

The export task is called as a worker calls it: through the Task SDK's runner, which feeds the
`Metadata` the task yields into the outlet events, and the worker's own serialization of the
outlets and events it reports on success. With the binary, the asset events of a real shard
against `botevents simulate` are checked against the files at the destination and printed.

Each check prints one line; the first failure stops the run with exit status 1. On success the
last line is `check_dag: N passed, 0 failed`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pendulum
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.sdk.execution_time.callback_runner import create_executable_runner
from airflow.sdk.execution_time.context import OutletEventAccessors
# What a worker sends the API server when a task succeeds (SucceedTask): the declared outlets
# and the events recorded for them. Private, so pinned with Airflow by constraints.txt.
from airflow.sdk.execution_time.task_runner import _build_asset_profiles, _serialize_outlet_events
from airflow.serialization.serialized_objects import DagSerialization

DAG_ID = "botevents_export"
TASK_ID = "export_shard"
DBT_DAG_ID = "botevents_dbt"
CONN_ENV = "AIRFLOW_CONN_BOTEVENTS_LIVEPERSON"
SECRETS = {"login": "user-5ecret", "password": "pass-5ecret", "api_key": "key-5ecret"}


class CheckFailed(Exception):
    pass


def require(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def load(folder: Path):
    bag = DagBag(dag_folder=str(folder))
    require(not bag.import_errors, f"import errors: {bag.import_errors}")
    for dag_id in (DAG_ID, DBT_DAG_ID):
        require(dag_id in bag.dags, f"no DAG {dag_id!r} in {folder}: {bag.dag_ids}")
    return bag.dags[DAG_ID], bag.dags[DBT_DAG_ID]


def run_task(task, **kwargs):
    """Calls the task's callable as the worker does (the runner collects the `Metadata` it
    yields into the outlet events) and returns its result, the outlets the worker would report
    on success and the asset events with their extra, by asset name."""
    accessors = OutletEventAccessors()
    runner = create_executable_runner(task.python_callable, accessors, logger=logging.getLogger("check_dag"))
    result = runner.run(**kwargs)
    outlets = list(_build_asset_profiles(task.outlets))
    events = {e["dest_asset_key"]["name"]: e["extra"] for e in _serialize_outlet_events(accessors)}
    return result, outlets, events


def check_outlets(dag) -> str:
    task = dag.get_task(TASK_ID)
    g = task.python_callable.__globals__
    names = sorted(o.name for o in _build_asset_profiles(task.outlets) if o.type == "Asset")
    want = sorted(a.name for a in g["ASSETS"].values())
    require(names == want and len(names) == len(g["TABLES"]), f"outlets {names}, expected one per table {want}")
    # What the scheduler reads back: the outlets survive serialization of the mapped task.
    sdag = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    stask = sdag.get_task(TASK_ID)
    # (a mapped task keeps its outlets encoded there, as the worker's copy decodes them)
    snames = sorted(getattr(o, "name", None) or o["__var"]["name"] for o in stask.outlets)
    require(snames == want, f"serialized outlets {snames}")
    argv = " ".join(g["botevents_argv"]("botevents", "1/5", "2026-11-20", "2026-11-21", "/tmp/s.json"))
    require(f"--streams {','.join(g['STREAMS'])}" in argv, f"the tables exported differ from the outlets: {argv}")
    return ", ".join(f"{a.name} <{a.uri}>" for a in g["ASSETS"].values())


def check_mapped(dag) -> str:
    task = dag.get_task(TASK_ID)
    require(task.is_mapped, f"{TASK_ID} is not a mapped task")
    shards = task._get_specified_expand_input().value.get("shard")
    n = len(shards or [])
    require(shards == [f"{k}/{n}" for k in range(1, n + 1)] and n >= 1, f"expand(shard=...) is {shards}")
    kw = task.partial_kwargs
    require((kw.get("retries") or 0) > 0 and kw.get("retry_delay"), f"no retries: {kw.get('retries')}")
    g = task.python_callable.__globals__
    parallel, per_task = kw.get("max_active_tis_per_dag"), g["MAX_RPS_PER_TASK"]
    require(parallel and parallel * per_task <= 5,
            f"{parallel} tasks at once × --max-rps {per_task} exceeds the key's 5 requests/s")
    return f"{n} shards, retries {kw['retries']} every {kw['retry_delay']}, {parallel} at once × {per_task} req/s"


def check_rendered(dag) -> str:
    # What the scheduler stores and reads back (a DAG that does not serialize never runs).
    sdag = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    run_after = pendulum.datetime(2026, 11, 21, 9, tz="UTC")
    di = sdag.timetable.infer_manual_data_interval(run_after=run_after)
    task = dag.get_task(TASK_ID)
    context = {"data_interval_start": di.start, "data_interval_end": di.end}
    rendered = task.render_template(task.partial_kwargs["op_kwargs"], context, jinja_env=dag.get_template_env())
    want = {"start": "2026-11-20", "end": "2026-11-21"}
    require(rendered == want, f"run at {run_after}: rendered {rendered}, expected {want}")
    argv = task.python_callable.__globals__["botevents_argv"]("botevents", "2/5", rendered["start"],
                                                               rendered["end"], "/tmp/s.json")
    line = " ".join(argv)
    require("--shard 2/5 --start 2026-11-20 --end 2026-11-21" in line, line)
    return f"interval [{di.start}, {di.end}) → {line}"


def stub(tmp: Path) -> Path:
    """A stand-in binary that records its argv and environment and exits $STUB_RC."""
    path = tmp / "botevents-stub"
    path.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$STUB_OUT.argv"\nenv > "$STUB_OUT.env"\n'
                    'printf \'{"tables":{"custom_event_detail":{"rows":7}},"data_requests":2}\' '
                    '> "$(sed -n "/--summary-json/{n;p;}" "$STUB_OUT.argv")"\nexit "${STUB_RC:-0}"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def check_exit_codes(dag, tmp: Path) -> str:
    task = dag.get_task(TASK_ID)
    out = tmp / "stub"
    os.environ.update({
        CONN_ENV: json.dumps({"conn_type": "generic", "login": SECRETS["login"], "password": SECRETS["password"],
                              "extra": {"api_key": SECRETS["api_key"], "account": "12345678"}}),
        "AIRFLOW_VAR_BOTEVENTS_BOTS": "bot-a,bot-b",
        "AIRFLOW_VAR_BOTEVENTS_DEST": "s3://lake/botevents",
        "AIRFLOW_VAR_BOTEVENTS_BINARY": str(stub(tmp)),
        "STUB_OUT": str(out),
    })
    seen = []
    for rc in (0, 75, 1, 2, 3, 4):
        os.environ["STUB_RC"] = str(rc)
        try:
            result, _, events = run_task(task, shard="3/5", start="2026-11-20", end="2026-11-21")
            outcome = "ok"
            require(result["rows"] == {"custom_event_detail": 7}, f"exit 0 returned {result}")
            require(events["botevents.custom_event_detail"]["rows"] == 7
                    and events["botevents.custom_event_total"]["rows"] == 0, f"exit 0 emitted {events}")
        except AirflowFailException:
            outcome = "fail"
        except AirflowException:
            outcome = "retry"
        want = {0: "ok", 75: "retry"}.get(rc, "fail")
        require(outcome == want, f"exit {rc}: the task would {outcome}, expected {want}")
        seen.append(f"{rc}→{outcome}")
    argv = (tmp / "stub.argv").read_text()
    env = dict(line.split("=", 1) for line in (tmp / "stub.env").read_text().splitlines() if "=" in line)
    for name, value in SECRETS.items():
        require(value not in argv, f"the {name} is on the command line: {argv!r}")
    require(env.get("BOTEVENTS_API_KEY") == SECRETS["api_key"] and env.get("BOTEVENTS_PASSWORD") == SECRETS["password"]
            and env.get("BOTEVENTS_USERNAME") == SECRETS["login"], "credentials missing from the environment")
    require(env.get("BOTEVENTS_BOTS") == "bot-a,bot-b" and env.get("BOTEVENTS_ACCOUNT") == "12345678",
            "Variables missing from the environment")
    return ", ".join(seen) + "; secrets in the environment only"


def check_real_run(dag, binary: Path, tmp: Path, landed_events: dict, on_path: bool = False) -> str:
    """One mapped task, run as Airflow would call it, against `botevents simulate` (real clock);
    its asset events must say what landed at the destination. Leaves them in `landed_events`."""
    sim = subprocess.Popen([str(binary), "simulate", "--port", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        settings = {}
        for line in sim.stdout:
            if line.startswith("export "):
                k, v = line[len("export "):].strip().split("=", 1)
                settings[k] = v
            if line.startswith("(simulated credentials"):
                break
        require("BOTEVENTS_API_URL" in settings, f"the simulator printed {settings}")
        dest = tmp / "lake"
        os.environ.update({
            CONN_ENV: json.dumps({"conn_type": "generic", "login": settings["BOTEVENTS_USERNAME"],
                                  "password": settings["BOTEVENTS_PASSWORD"],
                                  "extra": {"api_key": settings["BOTEVENTS_API_KEY"],
                                            "account": settings["BOTEVENTS_ACCOUNT"]}}),
            "AIRFLOW_VAR_BOTEVENTS_BOTS": settings["BOTEVENTS_BOTS"],
            "AIRFLOW_VAR_BOTEVENTS_DEST": str(dest),
            "AIRFLOW_VAR_BOTEVENTS_API_URL": settings["BOTEVENTS_API_URL"],
        })
        if on_path:
            # As a worker with `pip install botevents`: no Variable, the binary found on PATH.
            os.environ.pop("AIRFLOW_VAR_BOTEVENTS_BINARY", None)
        else:
            os.environ["AIRFLOW_VAR_BOTEVENTS_BINARY"] = str(binary)
        # Two days ago is complete whatever the hour (a day is complete by 08:00 UTC the next day).
        today = dt.datetime.now(dt.timezone.utc).date()
        start, end = str(today - dt.timedelta(days=2)), str(today - dt.timedelta(days=1))
        # Shard 1 of 3 holds bot-support only (FNV-1a of "account/bot", pinned in the Rust tests).
        task = dag.get_task(TASK_ID)
        di_start = pendulum.parse(f"{start}T09:00:00Z")
        di_end = di_start.add(days=1)
        t0 = time.monotonic()
        result, outlets, events = run_task(task, shard="1/3", start=start, end=end,
                                           data_interval_start=di_start, data_interval_end=di_end)
        took = time.monotonic() - t0
        rows = result["rows"].get("custom_event_detail", 0)
        require(rows > 0, f"no detail rows exported: {result}")
        files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.parquet"))
        require(files and all(p.endswith("@bot-support.parquet") for p in files), f"files {files}")
        require(result["throttled_429"] == 0, f"throttled: {result}")
        assets = task.python_callable.__globals__["ASSETS"]
        require(sorted(o.name for o in outlets) == sorted(a.name for a in assets.values()),
                f"the task declared {outlets}")
        require(sorted(events) == sorted(a.name for a in assets.values()), f"asset events for {sorted(events)}")
        for table, asset in assets.items():
            extra = events[asset.name]
            print(f"     asset event {asset.name} <{asset.uri}>: {json.dumps(extra, sort_keys=True)}", flush=True)
            on_disk = [p for p in files if p.startswith(f"{table}/")]
            days = sorted({p.split("/")[1].removeprefix("event_date=") for p in on_disk})
            want = {"rows": result["rows"].get(table, 0), "files_written": len(on_disk), "days": days,
                    "shard": "1/3", "location": (dest / table).as_uri() + "/",
                    "data_interval": {"start": di_start.isoformat(), "end": di_end.isoformat()}}
            got = {k: extra.get(k) for k in want}
            require(got == want, f"{asset.name}: extra {got}, expected {want}")
            require(want["rows"] > 0 and days == [start], f"{table}: nothing landed for {start}: {want}")
        landed_events.update(events)
        return (f"shard 1/3 for {start}: {rows} detail rows, {len(files)} files, {took:.1f}s; "
                f"{len(events)} asset events, rows as in the summary")
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()


def check_dbt_dag(dag, dbt_dag, landed_events: dict) -> str:
    """The dbt DAG is scheduled on the export's assets, and builds only once every shard of an
    interval has landed (fed the real events of shard 1/3, then those of the other shards)."""
    outlets = {a.name: a for a in dag.get_task(TASK_ID).python_callable.__globals__["ASSETS"].values()}
    sdbt = DagSerialization.from_dict(DagSerialization.to_dict(dbt_dag))
    scheduled = {a.name: a for a in dbt_dag.timetable.asset_condition.objects}
    require(scheduled == outlets, f"{DBT_DAG_ID} is scheduled on {sorted(scheduled)}, the export emits {sorted(outlets)}")
    require(sdbt.timetable.summary, "the asset schedule did not serialize")
    landed = dbt_dag.get_task("landed_days").python_callable.__globals__["landed"]
    if not landed_events:  # no binary: events of the stand-in's shape
        landed_events = {name: {"shard": "1/3", "rows": 1, "days": ["2026-11-20"],
                                "data_interval": {"start": "2026-11-20T09:00:00+00:00",
                                                  "end": "2026-11-21T09:00:00+00:00"}}
                         for name in outlets}
    by_table = {name.split(".", 1)[1]: [extra] for name, extra in landed_events.items()}
    partial = landed(by_table)
    require(not partial["intervals"] and list(partial["waiting"].values()) == [["2/3", "3/3"]],
            f"one shard of three landed: {partial}")
    for k in (2, 3):
        for extras in by_table.values():
            extras.append({**extras[0], "shard": f"{k}/3", "days": []})
    full = landed(by_table)
    one = next(iter(landed_events.values()))
    di = one["data_interval"]
    require(full["intervals"] == [[di["start"], di["end"]]] and full["days"] == one["days"] and not full["waiting"],
            f"every shard landed: {full}")
    command = dbt_dag.get_task("dbt_build").python_callable(landed=full)
    out = subprocess.run(["bash", "-c", command], env={**os.environ, "PATH": "/usr/bin:/bin", "DBT_PROJECT_DIR": ""},
                         capture_output=True, text=True)
    require(out.returncode == 0 and "would run dbt build" in out.stdout, f"without dbt: {out}")
    return f"1/3 → waiting for {partial['waiting']}; 3/3 → build {full['days']}; {out.stdout.strip()}"


def main() -> int:
    folder = Path(sys.argv[1])
    arg = sys.argv[2] if len(sys.argv) > 2 else None
    # `--on-path`: the botevents a worker finds on its PATH (pip-installed), with no Variable.
    on_path = arg == "--on-path"
    if on_path:
        found = shutil.which("botevents")
        require(found is not None, "--on-path: no botevents on PATH")
        binary = Path(found).resolve()
    else:
        binary = Path(arg).resolve() if arg else None
    signal.alarm(300)  # nothing here should take minutes
    passed = 0

    def check(name, fn, *args):
        nonlocal passed
        t0 = time.monotonic()
        try:
            detail = fn(*args)
        except Exception as e:  # CheckFailed, or anything Airflow raised
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            print(f"check_dag: {passed} passed, 1 failed", flush=True)
            sys.exit(1)
        passed += 1
        print(f"ok   {name}: {detail} ({time.monotonic() - t0:.1f}s)", flush=True)

    import airflow
    print(f"check_dag: Airflow {airflow.__version__}, {folder}", flush=True)
    dags = []
    check("DagBag loads with no import error", lambda: dags.extend(load(folder)) or f"{DAG_ID}, {DBT_DAG_ID}")
    dag, dbt_dag = dags
    check("export task mapped over the shards", check_mapped, dag)
    check("--start/--end rendered from the data interval", check_rendered, dag)
    check("one Asset per table, outlets of the export task", check_outlets, dag)
    landed_events: dict = {}
    with tempfile.TemporaryDirectory(prefix="check-dag-") as tmp:
        check("exit statuses: 75 retries, others fail", check_exit_codes, dag, Path(tmp))
        if binary is not None:
            where = f"{binary} on PATH, no botevents_binary Variable" if on_path else str(binary)
            print(f"check_dag: the real run uses {where}", flush=True)
            check("one mapped task against botevents simulate", check_real_run, dag, binary, Path(tmp), landed_events,
                  on_path)
    check("dbt DAG scheduled on the assets, waits for every shard", check_dbt_dag, dag, dbt_dag, landed_events)
    print(f"check_dag: {passed} passed, 0 failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
