#!/usr/bin/env python3
"""Benchmark: the ports and servers reports in Spark (local mode, `flowlens sql X --dialect spark`)
against flowlens itself, on the same generated day.

For each size: `flowlens gen --rows N --seed 1` converted once into a store day
(STORE/flows/date=2026-11-21/, kept under target/bench-data/spark-N and reused), then per report
`flowlens X DAY --format csv -o out.csv -q` (the whole process) and, in a fresh Python process
each time, pyspark with master local[2] running the query over a view `flows` of the day as
scripts/spark_reports.py makes it, the rows collected to the driver with toArrow(). Spark's time
is split into the session's start (JVM and SparkSession) and the query (planning, reading,
computing, collecting); the whole process is reported too. The two alternate; median of --runs.
Spark runs with its defaults (adaptive execution on, 200 shuffle partitions coalesced by it)
except the UI (off) and --driver-memory (default 4g: local mode computes in the driver's heap).
One run per report also checks that Spark's rows, printed as flowlens prints CSV, are
flowlens's rows.

    .venv/bin/python scripts/bench_spark.py                       # 1M and 10M rows, 3 runs
    .venv/bin/python scripts/bench_spark.py --rows 1000000 --runs 1

FLOWLENS (or --flowlens) names the binary; default target/release/flowlens. Needs pyspark and
Java 17 (as tests/python/test_spark.py).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

ROOT = benchlib.ROOT
DAY = "2026-11-21"

# One measured Spark run: session start, then the query; JSON on stdout. With a third argument,
# the rows are also written there as CSV lines (flowlens's spelling) for the check.
SPARK_RUN = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[4])
import datetime as dt
import spark_reports as sr
spark = sr.session("local[2]", app="flowlens bench", conf={"spark.ui.enabled": "false",
                   "spark.ui.showConsoleProgress": "false", "spark.driver.memory": sys.argv[5]})
spark.sparkContext.setLogLevel("ERROR")
t1 = time.perf_counter()
store, sql_path, report = sys.argv[1], sys.argv[2], sys.argv[3]
day = dt.date.fromisoformat(sys.argv[6])
st = sr.open_store(spark, store)
sr.day_view(sr.read_flows(spark, st, [day]), day)
raw = sr.run_query(spark, sr.strip_statement(open(sql_path).read()), f"the {report}")
t2 = time.perf_counter()
if len(sys.argv) > 7:
    lines = {"ports": sr.ports_csv_lines, "servers": sr.servers_csv_lines,
             "findings": sr.findings_csv_lines}[report](raw)
    open(sys.argv[7], "w").write("".join(l + "\n" for l in lines))
print(json.dumps({"session": t1 - t0, "query": t2 - t1, "rows": raw.num_rows}))
"""


def loadavg():
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def make_day(flowlens, rows, data):
    """The store of one generated day (made once per size)."""
    store = data / f"spark-{rows}" / "store"
    day = store / "flows" / f"date={DAY}"
    if not any(day.glob("*.parquet")):
        text = data / f"spark-{rows}" / "flows.rw"
        text.parent.mkdir(parents=True, exist_ok=True)
        benchlib.run([flowlens, "gen", "--rows", rows, "--seed", 1, "--start", DAY, "-o", text])
        benchlib.run([flowlens, "convert", "-q", text, "-o", store / "flows", "--partition", "day"])
        text.unlink()
    return store, day


def flowlens_run(flowlens, report, day, out):
    t = time.perf_counter()
    benchlib.run([flowlens, report, day, "--format", "csv", "-o", out, "-q"])
    return time.perf_counter() - t


def spark_run(store, sql_path, report, driver_memory, check_out=None):
    t = time.perf_counter()
    args = [sys.executable, "-c", SPARK_RUN, store, sql_path, report, ROOT / "scripts", driver_memory, DAY]
    if check_out is not None:
        args.append(check_out)
    p = benchlib.run(args, capture_output=True, text=True)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["wall"] = time.perf_counter() - t
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, action="append", help="flows per day (repeatable; default 1M and 10M)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reports", default="ports,servers")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--flowlens", default=benchlib.FLOWLENS)
    a = ap.parse_args()
    sizes = a.rows or [1_000_000, 10_000_000]
    reports = a.reports.split(",")
    import pyspark
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"pyspark {pyspark.__version__}, {subprocess.run(['java', '-version'], capture_output=True, text=True).stderr.splitlines()[0]}")
    print(f"load average at the start: {loadavg()}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for rows in sizes:
            store, day = make_day(a.flowlens, rows, benchlib.DATA)
            size = sum(f.stat().st_size for f in day.glob("*.parquet"))
            for report in reports:
                sql = tmp / f"{report}.sql"
                sql.write_text(subprocess.run([a.flowlens, "sql", report, "--dialect", "spark"], check=True,
                                              capture_output=True, text=True).stdout)
                fl, sp = [], []
                same = None
                for i in range(a.runs):
                    out = tmp / f"{report}.csv"
                    fl.append(flowlens_run(a.flowlens, report, day, out))
                    check = tmp / f"{report}.spark.csv" if i == 0 else None
                    sp.append(spark_run(store, sql, report, a.driver_memory, check))
                    if check is not None:
                        want = out.read_text().splitlines()[1:]
                        got = check.read_text().splitlines()
                        same = want == got
                        if not same:
                            extra = len(set(got) - set(want))
                            missing = len(set(want) - set(got))
                            same = f"no: {len(got)} rows vs {len(want)} ({extra} only in Spark, {missing} only in flowlens)"
                    print(f"{rows:>10,} {report:<8} run {i + 1}: flowlens {fl[-1]:.2f} s; Spark {sp[-1]['wall']:.2f} s "
                          f"(session {sp[-1]['session']:.2f} s, query {sp[-1]['query']:.2f} s, {sp[-1]['rows']} rows); "
                          f"load {loadavg()}", flush=True)
                med = lambda xs: statistics.median(xs)  # noqa: E731
                results.append(dict(rows=rows, size=size, report=report, flowlens=med(fl),
                                    spark=med([r["wall"] for r in sp]), session=med([r["session"] for r in sp]),
                                    query=med([r["query"] for r in sp]), out_rows=sp[0]["rows"], same=same,
                                    all_fl=fl, all_sp=[r["wall"] for r in sp]))
    print(f"load average at the end: {loadavg()}\n")
    print("| day | report | flowlens | Spark local[2], whole process | session start | query | Spark / flowlens "
          "| query / flowlens | rows | same rows |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['rows']:,} flows ({r['size'] / 2**20:.0f} MiB) | {r['report']} | {r['flowlens']:.2f} s | "
              f"{r['spark']:.2f} s | {r['session']:.2f} s | {r['query']:.2f} s | {r['spark'] / r['flowlens']:.1f}x | "
              f"{r['query'] / r['flowlens']:.1f}x | {r['out_rows']:,} | {'yes' if r['same'] is True else r['same']} |")
    print()
    for r in results:
        print(f"- {r['rows']:,} {r['report']}: flowlens " + ", ".join(f"{x:.2f}" for x in r["all_fl"])
              + "; Spark " + ", ".join(f"{x:.2f}" for x in r["all_sp"]))


if __name__ == "__main__":
    main()
