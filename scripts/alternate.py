#!/usr/bin/env python3
"""Compare builds of botevents (or settings of one build) by alternating them on the same CSV.

usage: scripts/alternate.py CSV [--runs 10] [--table detail] VARIANT [VARIANT ...]

A VARIANT is a binary, optionally followed by environment settings for its runs:
    target/release/botevents
    /tmp/before/botevents
    target/release/botevents:RAYON_NUM_THREADS=1
    target/release/botevents:RAYON_NUM_THREADS=1,RUST_LOG=warn

Each variant converts CSV once to warm up, then RUNS rounds follow, each running every variant
once, in turn, into a fresh folder, as `botevents convert --table TABLE --account bench --bot
bench --compression zstd`. Every other round runs the variants in reverse order (A B, B A, A B,
...), so that neither place in a round favours a variant. The speed of a shared machine drifts
by tens of percent within minutes; runs of one round see nearly the same machine, so they can be
compared where separate runs of a benchmark cannot.

Prints, per variant, the medians of wall time and of user + system CPU time and the largest peak
RSS (all from `os.wait4`); and for every variant after the first, the median of its wall and CPU
time divided by the first variant's in the same round, with the middle half of those ratios
(from the first to the third quartile) to show how far they spread.

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
    # Standard error goes to a file: a pipe read only after the run would stall a run that logs
    # more than the pipe holds.
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, **env})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            log.seek(0)
            err = log.read().decode(errors="replace")
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
        for round_ in range(a.runs):
            order = list(range(len(variants)))
            if round_ % 2:
                order.reverse()
            for i in order:
                binary, env = variants[i]
                results[i].append(run_once(binary, env, a.csv, a.table, out))
    print(f"{a.csv}: {a.runs} rounds; medians, and ratios to the first variant in the same round")
    print(f"{'variant':56s} {'wall s':>7s} {'cpu s':>7s} {'peak MiB':>8s}  {'wall ratio (IQR)':>21s}"
          f"  {'cpu ratio (IQR)':>21s}")
    for text, runs in zip(a.variants, results):
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        peak = max(r[2] for r in runs)
        line = f"{text:56s} {wall:7.3f} {cpu:7.3f} {peak:8.1f}"
        if runs is not results[0]:
            for k in (0, 1):
                line += "  " + spread([r[k] / b[k] for r, b in zip(runs, results[0])])
        print(line)


def spread(ratios):
    """The median of `ratios`, with their first and third quartiles."""
    if len(ratios) < 2:
        return f"{ratios[0]:7.3f}{'':14s}"
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return f"{statistics.median(ratios):7.3f} ({q1:.3f}–{q3:.3f})"


if __name__ == "__main__":
    main()
