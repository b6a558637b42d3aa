#!/usr/bin/env python3
"""How well an export spends the API key's budget: one export against the built-in simulator.

    target/py-venv/bin/python scripts/api_bench.py [--binary target/release/botevents]
        [--bots busy:120000,big:60000,med:20000,...] [--days 14] [--scale 0.1]
        [--sim-arg=--sim-latency=1500ms --sim-arg=--sim-token-ttl=20s ...] [--export-arg=--max-rps=5 ...]

Starts `botevents simulate` with the account mix, runs `botevents export` against it into a
temporary folder, and prints:

* data requests against the minimum: one totals request per window, plus the detail requests
  of a perfect packing of the true counts (read back from the exported files) into requests of
  at most 7 days and at most 90 % of the row cap, a day over that share by the hour;
* wall time against requests / rate;
* logins, SSO renewals, 401s and 429s, retries by cause;
* bytes on the wire and bytes of CSV/JSON;
* requests in flight at most, the response time, and the export's peak RSS;
* the CPU time of the export and of the simulator during the export, against the wall time:
  when both share a small machine, their CPU, not the request budget, may set the pace.

Needs pyarrow (the test command's `target/py-venv` has it). Figures, not thresholds: nothing
here passes or fails.
"""

import argparse
import collections
import datetime as dt
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq

DEFAULT_BOTS = ",".join(
    ["busy1:120000", "busy2:110000", "med1:20000", "med2:20000", "med3:20000", "med4:20000", "quiet:0"]
    + [f"small{i}:{300 + 150 * i}" for i in range(12)]
)


def start_simulator(binary, bots, sim_args):
    cmd = [binary, "simulate", "--port", "0", "--bots", bots, *sim_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    env = {}
    for line in proc.stdout:
        m = re.match(r"export (BOTEVENTS_[A-Z_]+)=(.*)", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
        if "press Ctrl-C" in line:
            break
    if "BOTEVENTS_API_URL" not in env:
        proc.kill()
        sys.exit(f"the simulator did not start: {' '.join(cmd)}")
    return proc, env


def children_cpu():
    """User and system CPU seconds of the waited-for children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_cpu(pid):
    """User and system CPU seconds of a running process (Linux /proc; 0 elsewhere)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def packed(units, budget):
    """Greedy packing of consecutive units (event counts): the fewest requests of at most
    `budget` events each; a unit over the budget goes alone."""
    n, cur = 0, None  # cur: events in the open request; None: no request open
    for count in units:
        if cur is not None and cur + count <= budget:
            cur += count
        else:
            n += 1
            cur = count if count <= budget else None
    return n


def minimum_detail(dest, windows_by_bot, row_cap, share=0.9):
    """Detail requests of a perfect packing of the true counts, per window."""
    budget = int(row_cap * share)
    per_hour = collections.defaultdict(collections.Counter)  # bot -> hour -> rows
    for f in pathlib.Path(dest, "custom_event_detail").rglob("*.parquet"):
        bot = f.stem.split("@", 1)[1]
        for t in pq.read_table(f, columns=["event_time"]).column("event_time").to_pylist():
            per_hour[bot][t.replace(minute=0, second=0, microsecond=0, tzinfo=None)] += 1
    total = 0
    for bot, windows in windows_by_bot.items():
        hours = per_hour.get(bot, collections.Counter())
        for start, end in windows:
            day = start
            units = []
            while day < end:
                h0 = dt.datetime.combine(day, dt.time())
                day_hours = [hours.get(h0 + dt.timedelta(hours=h), 0) for h in range(24)]
                if sum(day_hours) > budget:
                    units.extend(day_hours)
                else:
                    units.append(sum(day_hours))
                day += dt.timedelta(days=1)
            if sum(units) > 0:
                total += packed(units, budget)
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/botevents")
    ap.add_argument("--bots", default=DEFAULT_BOTS)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--row-cap", type=int, default=100_000)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every bot's events/day and the row cap by this: the same requests, "
                         "less data (e.g. 0.1, so that the simulator's CPU does not set the pace)")
    ap.add_argument("--sim-arg", action="append", default=[], help="passed to `botevents simulate`")
    ap.add_argument("--export-arg", action="append", default=[], help="passed to `botevents export`")
    args = ap.parse_args()

    bots = ",".join(f"{name}:{round(int(n) * args.scale)}" for name, n in (b.split(":") for b in args.bots.split(",")))
    row_cap = round(args.row_cap * args.scale)
    sim_args, export_args = list(args.sim_arg), list(args.export_arg)
    if row_cap != 100_000:
        sim_args.append(f"--sim-row-cap={row_cap}")
        export_args.append(f"--row-cap={row_cap}")
    sim, env = start_simulator(args.binary, bots, sim_args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dest = os.path.join(tmp, "out")
            summary_path = os.path.join(tmp, "summary.json")
            run_env = dict(os.environ, **env)
            common = ["--dest", dest, "--last", f"{args.days}d"]
            plan = json.loads(
                subprocess.run([args.binary, "plan", *common, "--json"], env=run_env, check=True,
                               capture_output=True, text=True).stdout
            )
            windows_by_bot = {
                b["bot"]: [(dt.date.fromisoformat(w["start"]), dt.date.fromisoformat(w["end"])) for w in b["windows"]]
                for b in plan["bots"]
            }
            sim_cpu0, cpu0 = process_cpu(sim.pid), children_cpu()
            started = time.monotonic()
            out = subprocess.run(
                [args.binary, "export", *common, "--summary-json", summary_path, "-q", *export_args],
                env=run_env, capture_output=True, text=True,
            )
            wall = time.monotonic() - started
            export_cpu, sim_cpu = children_cpu() - cpu0, process_cpu(sim.pid) - sim_cpu0
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if out.returncode != 0:
                sys.exit(f"export failed ({out.returncode}):\n{out.stderr[-3000:]}")
            s = json.load(open(summary_path))
            windows = sum(len(w) for w in windows_by_bot.values())
            minimum = windows + minimum_detail(dest, windows_by_bot, row_cap)
            rate = plan["max_rps"]
    finally:
        sim.terminate()
        sim.wait()

    sent = s["data_requests"]
    print(f"account: {len(windows_by_bot)} bots ({bots}), {args.days} days, {windows} bot windows, row cap {row_cap}")
    print(f"data requests: {sent}, minimum {minimum} ({sent / minimum:.2f} × the minimum)")
    print(f"  per stream: {s.get('requests_by_stream')}; packing: {s.get('packing')}")
    print(f"wall: {wall:.1f} s; requests / rate: {sent / rate:.1f} s ({wall / (sent / rate):.2f} ×);"
          f" {sent / wall:.2f} requests/s of {rate}")
    keys = ["logins", "token_renewals", "unauthorized_401", "throttled_429", "reauthentications", "retries"]
    print("auth and retries: " + ", ".join(f"{k} {s[k]}" for k in keys if k in s)
          + f"; by cause {s.get('retries_by_cause')}")
    wire = s.get("wire_bytes")
    body = s.get("bytes_received")
    if wire is not None:
        print(f"bytes: {wire / 1e6:.1f} MB on the wire, {body / 1e6:.1f} MB of CSV/JSON ({wire / max(body, 1):.2f})")
    else:
        print(f"bytes: {body / 1e6:.1f} MB received")
    print(f"in flight: at most {s.get('requests_in_flight_max')} requests; response time {s.get('response_ms')} ms")
    print(f"peak RSS of the export: {peak_kib / 1024:.0f} MiB")
    cores = os.cpu_count() or 1
    busy = (export_cpu + sim_cpu) / cores
    print(f"CPU during the export: export {export_cpu:.1f} s, simulator {sim_cpu:.1f} s; on {cores} cores "
          f"that is {busy:.1f} s of the {wall:.1f} s wall"
          + (" (the machine's CPU, not the request budget, may set the pace: try --scale 0.1)"
             if busy > 0.6 * wall else ""))
    print(f"rows: {sum(t['rows'] for t in s['tables'].values())}")


if __name__ == "__main__":
    main()
