#!/usr/bin/env python3
"""End-to-end benchmark of `flowlens ports` against DuckDB running `flowlens sql ports` (the same options).

Generates flows with `flowlens gen` (reused between runs when the same size and seed are asked
for), converts them to Parquet, then times both tools on the same file in the same run, checks
that they print the same rows, and prints a markdown section for BENCHMARKS.md.

Times are wall-clock medians of --runs runs. flowlens is timed as a whole process (start, read,
report, write CSV); DuckDB as the query alone inside an already started Python process (import
and connection excluded), which favours DuckDB. Peak memory is each process's maximum resident
set size (the DuckDB figure includes the Python interpreter, about 50 MB).

    python3 scripts/bench_ports.py                       # 10M rows
    python3 scripts/bench_ports.py --rows 1000000 --runs 5
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from benchlib import measure, mib, run  # noqa: E402

# DuckDB: the query's own time goes to stderr as JSON; rows to a CSV file.
DUCKDB = r"""
import json, sys, time, duckdb
parquet, sql_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
con.execute(f"CREATE VIEW flows AS SELECT * FROM read_parquet('{parquet}')")
sql = open(sql_path).read()
t = time.perf_counter()
rows = con.execute(sql).fetchall()
q = time.perf_counter() - t
with open(out, "w") as f:
    for r in rows:
        f.write(",".join(map(str, r)) + "\n")
sys.stderr.write(json.dumps({"query": q, "rows": len(rows), "duckdb": duckdb.__version__}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=ROOT / "target" / "bench-ports")
    ap.add_argument("--flowlens", default=os.environ.get("FLOWLENS", str(ROOT / "target" / "release" / "flowlens")))
    args = ap.parse_args()
    fl = args.flowlens
    if not Path(fl).exists():
        sys.exit(f"{fl} not found: build it first (cargo build --release) or set FLOWLENS")
    args.workdir.mkdir(parents=True, exist_ok=True)
    parquet = args.workdir / f"flows-{args.rows}-{args.seed}.parquet"
    if not parquet.exists():
        rw = args.workdir / f"flows-{args.rows}-{args.seed}.rw"
        print(f"generating {args.rows:,} rows …", file=sys.stderr)
        run([fl, "gen", "--rows", args.rows, "--seed", args.seed, "-o", rw])
        run([fl, "convert", "-q", rw, "-o", parquet])
        rw.unlink()
    size = parquet.stat().st_size

    cases = [
        ("campus hosts (`--local 10.0.0.0/16`)", ["--local", "10.0.0.0/16"]),
        ("every address a host (no `--local`)", []),
    ]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        no_services = Path(tmp) / "no-services"  # empty: port numbers only
        no_services.write_text("")
        for name, fl_args in cases:
            sql_path = Path(tmp) / "ports.sql"
            sql = subprocess.run([fl, "sql", "ports", *fl_args, "--services", no_services, "--dialect", "duckdb"],
                                 check=True, capture_output=True, text=True).stdout
            sql_path.write_text(sql)
            fl_out, db_out = Path(tmp) / "flowlens.csv", Path(tmp) / "duckdb.csv"
            fl_runs, db_runs = [], []
            for i in range(args.runs):
                print(f"{name}: run {i + 1}/{args.runs} …", file=sys.stderr)
                fl_runs.append(measure([fl, "ports", parquet, *fl_args, "--format", "csv", "--services", no_services,
                                        "-o", fl_out]))
                m = measure([sys.executable, "-c", DUCKDB, parquet, sql_path, db_out])
                m.update(json.loads(m["stderr"]))
                db_runs.append(m)
            fl_rows = fl_out.read_text().splitlines()[1:]
            same = fl_rows == db_out.read_text().splitlines()
            fl_t = statistics.median(r["wall"] for r in fl_runs)
            db_t = statistics.median(r["query"] for r in db_runs)
            summary = fl_runs[-1]["stderr"].strip().splitlines()[-1] if fl_runs[-1]["stderr"].strip() else ""
            results.append(dict(name=name, fl=fl_t, db=db_t, ratio=db_t / fl_t, same=same, rows=len(fl_rows),
                                fl_rss=max(r["maxrss_kb"] for r in fl_runs),
                                db_rss=max(r["maxrss_kb"] for r in db_runs),
                                duckdb=db_runs[0]["duckdb"], summary=summary))

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    version = run([fl, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"""
## ports: `flowlens ports` vs DuckDB running `flowlens sql ports`

{args.rows:,} flows from `flowlens gen --rows {args.rows} --seed {args.seed}`, one Parquet file of
{size / 2**20:,.0f} MiB; median of {args.runs} runs; {os.cpu_count()} cores ({cpu}), load average
{load} at the end; {version}, DuckDB {results[0]['duckdb']}. flowlens: whole process, CSV written
to a file. DuckDB: the query alone, in a warm process. Peak memory: maximum RSS of the process.
Command: `python3 scripts/bench_ports.py --rows {args.rows} --runs {args.runs}`.

| case | flowlens | DuckDB | DuckDB / flowlens | flowlens peak RSS | DuckDB peak RSS | report rows | same rows |
|---|---:|---:|---:|---:|---:|---:|---|""")
    for r in results:
        print(f"| {r['name']} | {r['fl']:.2f} s | {r['db']:.2f} s | **{r['ratio']:.1f}×** | {mib(r['fl_rss'])} "
              f"| {mib(r['db_rss'])} | {r['rows']:,} | {'yes' if r['same'] else 'NO'} |")
    print()
    for r in results:
        if r["summary"]:
            print(f"- {r['name']}: `{r['summary']}`")
    if not all(r["same"] for r in results):
        sys.exit("flowlens and DuckDB disagree: see the 'same rows' column")


if __name__ == "__main__":
    main()
