#!/usr/bin/env python3
"""Compare builds of botevents (or settings of one build) by alternating them on the same CSV.

usage: scripts/alternate.py CSV [--runs 10] [--table detail] VARIANT [VARIANT ...]

A VARIANT is a binary, optionally followed by environment settings for its runs:
    target/release/botevents
    /tmp/before/botevents
    target/release/botevents:RAYON_NUM_THREADS=1
    target/release/botevents:RAYON_NUM_THREADS=1,RUST_LOG=warn

Each variant converts CSV once to warm up, then RUNS times in turn (A, B, A, B, ...), each run
into a fresh folder, as `botevents convert --table TABLE --account bench --bot bench
--compression zstd`. The speed of a shared machine drifts by tens of percent within an hour;
runs taken in turn see the same drift, so their medians can be compared where separate runs
of a benchmark cannot. Prints, per variant, the medians of wall time and of user + system CPU
time, the largest peak RSS (all from `os.wait4`), and the ratio of each median to the first
variant's.

Only the standard library is used.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def parse_variant(text):
    binary, _, settings = text.partition(":")
    env = {}
    for setting in filter(None, settings.split(",")):
        key, sep, value = setting.partition("=")
        if not sep or not key:
            sys.exit(f"{text!r}: settings are KEY=VALUE separated by commas")
        env[key] = value
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary}: not an executable file")
    return binary, env


def run_once(binary, env, csv, table, out):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [binary, "convert", "--table", table, "--account", "bench", "--bot", "bench", "--dest", out,
           "--compression", "zstd", csv]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **env})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"exit status {code}: {' '.join(cmd)}\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("variants", nargs="+", metavar="VARIANT")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--table", default="detail", choices=["detail", "total"])
    a = ap.parse_args()
    if a.runs < 1:
        sys.exit("--runs must be at least 1")
    variants = [parse_variant(v) for v in a.variants]
    results = [[] for _ in variants]
    with tempfile.TemporaryDirectory(prefix="botevents-alternate-") as tmp:
        out = os.path.join(tmp, "out")
        for binary, env in variants:
            run_once(binary, env, a.csv, a.table, out)
        for _ in range(a.runs):
            for (binary, env), runs in zip(variants, results):
                runs.append(run_once(binary, env, a.csv, a.table, out))
    print(f"{a.csv}: {a.runs} runs of each variant, taken in turn; medians")
    print(f"{'variant':60s} {'wall s':>8s} {'cpu s':>8s} {'peak MiB':>9s} {'wall':>7s} {'cpu':>7s}")
    base = None
    for text, runs in zip(a.variants, results):
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        peak = max(r[2] for r in runs)
        base = base or (wall, cpu)
        print(f"{text:60s} {wall:8.3f} {cpu:8.3f} {peak:9.1f} {wall / base[0]:7.3f} {cpu / base[1]:7.3f}")


if __name__ == "__main__":
    main()
