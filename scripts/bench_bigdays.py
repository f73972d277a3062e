#!/usr/bin/env python3
"""Big days (issue 17): the reports' wall time and peak memory as the day grows, within the
default memory budget and a small one, and `servers` against a DuckDB query of the simple
port-list-and-payload shape, in the same run.

For each size, `flowlens gen --rows N --seed 3 | flowlens convert -` makes the day's Parquet once
(kept in target/bench-bigdays). Then, alternating, median of --runs:
  - `flowlens ports` (every address a host), `ports --local 10.0.0.0/16`, `servers`, with the
    default budget (1G) and with `--memory 64M`, checking that both give the same bytes;
  - DuckDB (at the sizes in --duckdb-rows): a server heuristic a user might write instead,
    a fixed list of service ports, rows with payload (bytes > 40 per packet), both directions,
    grouped by (server, port, proto) with distinct clients; the query alone in a warm process.
Prints a markdown section; --write puts it in BENCHMARKS.md ("bigdays").

    python3 scripts/bench_bigdays.py                                # 1M and 10M
    python3 scripts/bench_bigdays.py --rows 1000000,10000000,60000000 --runs 3 --write
"""

import argparse
import datetime
import filecmp
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import measure, mib  # noqa: E402

ROOT = benchlib.ROOT
LOCAL = "10.0.0.0/16"

HEURISTIC = """
WITH ports(port) AS (VALUES (20),(21),(22),(23),(25),(53),(80),(110),(123),(143),(161),(389),
    (443),(445),(465),(587),(993),(995),(1433),(1723),(3306),(3389),(5432),(8080)),
sides AS (
  SELECT dip AS server, dport AS port, proto, sip AS client, bytes, packets, 0 AS reply
  FROM flows WHERE dport IN (SELECT port FROM ports)
  UNION ALL
  SELECT sip AS server, sport AS port, proto, dip AS client, bytes, packets, 1 AS reply
  FROM flows WHERE sport IN (SELECT port FROM ports)
)
SELECT server, port, proto, count(DISTINCT client) AS clients, sum(bytes) AS bytes
FROM sides WHERE bytes > 40 * packets
GROUP BY server, port, proto
HAVING sum(reply) > 0
ORDER BY server, port, proto
"""

DUCKDB = r"""
import json, sys, time, duckdb
con = duckdb.connect()
con.execute(f"CREATE VIEW flows AS SELECT * FROM read_parquet('{sys.argv[1]}')")
sql = sys.argv[2]
con.execute(sql).fetchall()  # warm: the file's metadata and pages in the OS cache
t = time.perf_counter()
rows = con.execute(sql).fetchall()
sys.stderr.write(json.dumps({"query": time.perf_counter() - t, "rows": len(rows), "duckdb": duckdb.__version__}))
"""


def day(fl, rows, workdir):
    workdir.mkdir(parents=True, exist_ok=True)
    pq = workdir / f"day-{rows}.parquet"
    if not pq.exists():
        print(f"making {rows:,} rows …", file=sys.stderr)
        tmp = Path(f"{pq}.tmp")
        gen = subprocess.Popen([fl, "gen", "--rows", str(rows), "--seed", "3"], stdout=subprocess.PIPE)
        subprocess.run([fl, "convert", "-q", "-", "-o", str(tmp)], stdin=gen.stdout, check=True)
        gen.stdout.close()
        if gen.wait() != 0:
            sys.exit("flowlens gen failed")
        tmp.replace(pq)
    return pq


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1000000,10000000")
    ap.add_argument("--duckdb-rows", default="1000000,10000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--small", default="64M", help="the small budget (default 64M)")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--flowlens", default=os.environ.get("FLOWLENS", str(ROOT / "target/release/flowlens")))
    args = ap.parse_args()
    fl = args.flowlens
    sizes = [int(x) for x in args.rows.split(",")]
    duck_sizes = {int(x) for x in args.duckdb_rows.split(",") if x}
    workdir = ROOT / "target" / "bench-bigdays"
    load_start = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    cases = [("ports", ["ports"]), ("ports --local", ["ports", "--local", LOCAL]), ("servers", ["servers"])]
    table, duck = [], []
    for rows in sizes:
        pq = day(fl, rows, workdir)
        for name, cmd in cases:
            out = {}
            res = {}
            for budget in ("1G", args.small):
                out[budget] = workdir / f"out-{rows}-{cmd[0]}-{budget}.csv"
            for i in range(args.runs):
                for budget in ("1G", args.small):
                    print(f"{rows:,} {name} --memory {budget}: run {i + 1}/{args.runs}", file=sys.stderr)
                    m = measure([fl, *cmd, pq, "--format", "csv", "-o", out[budget], "--memory", budget,
                                 "--temp-dir", workdir, "-q"])
                    res.setdefault(budget, []).append(m)
            same = filecmp.cmp(out["1G"], out[args.small], shallow=False)
            row = dict(rows=rows, name=name, same=same)
            for budget, ms in res.items():
                row[budget] = (statistics.median(m["wall"] for m in ms), max(m["maxrss_kb"] for m in ms))
            table.append(row)
            if name == "servers" and rows in duck_sizes:
                ds = [measure([sys.executable, "-c", DUCKDB, pq, HEURISTIC]) for _ in range(args.runs)]
                q = [json.loads(d["stderr"])["query"] for d in ds]
                duck.append(dict(rows=rows, duckdb=statistics.median(q), flowlens=row["1G"][0],
                                 rss=max(d["maxrss_kb"] for d in ds)))
    load_end = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    base = {r["name"]: r for r in table if r["rows"] == sizes[0]}
    text = [f"""## Big days: the reports in bounded memory

`python3 scripts/bench_bigdays.py --rows {args.rows} --runs {args.runs}`: `flowlens gen --rows N --seed 3`
converted once per size; each report as a whole process (`--format csv -o FILE -q`), with the
default budget (`--memory 1G`) and with `--memory {args.small}` (which spills), alternating; median wall
time of {args.runs} runs and the largest peak RSS. Measured {datetime.date.today()} on {benchlib.machine()};
load average {load_start} at the start, {load_end} at the end (the machine is shared: read the
times as rough, the memory as firm). "same" says the two budgets gave the same bytes.

| rows | report | 1G: wall | 1G: peak RSS | {args.small}: wall | {args.small}: peak RSS | time / first size's, per row | same |
|---:|---|---:|---:|---:|---:|---:|---|"""]
    for r in table:
        b = base[r["name"]]
        per_row = (r["1G"][0] / r["rows"]) / (b["1G"][0] / b["rows"])
        text.append(f"| {r['rows']:,} | `{r['name']}` | {r['1G'][0]:.2f} s | {mib(r['1G'][1])} | "
                    f"{r[args.small][0]:.2f} s | {mib(r[args.small][1])} | {per_row:.2f} | "
                    f"{'yes' if r['same'] else 'NO'} |")
    if duck:
        text.append(f"""
`servers` against DuckDB running a simple server heuristic (the script's `HEURISTIC`: a port list,
payload, both directions, distinct clients), the query alone in a warm process:

| rows | flowlens servers (whole process) | DuckDB heuristic (query) | DuckDB / flowlens | DuckDB peak RSS |
|---:|---:|---:|---:|---:|""")
        for d in duck:
            text.append(f"| {d['rows']:,} | {d['flowlens']:.2f} s | {d['duckdb']:.2f} s | "
                        f"{d['duckdb'] / d['flowlens']:.1f}x | {mib(d['rss'])} |")
    section = "\n".join(text) + "\n"
    print(section)
    if args.write:
        benchlib.update_section("bigdays", section)
    if not all(r["same"] for r in table):
        sys.exit("a small budget gave other bytes")


if __name__ == "__main__":
    main()
