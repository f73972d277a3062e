#!/usr/bin/env python3
"""End-to-end benchmark of `flowlens daily` against the separate commands it stands for.

On the generated rwcut text of bench_servers.py (`flowlens gen`, kept under target/bench-servers
and reused), times in the same run, alternating, median of --runs:

  (a) flowlens daily --store S --date D FILE --local L -q          (a fresh store each run)
  (b) the sum of  flowlens convert FILE -o f.parquet -q
                  flowlens ports f.parquet --local L --format parquet -o p.parquet -q   (and --format csv)
                  flowlens servers f.parquet --local L --format parquet -o s.parquet -q (and --format csv)

daily writes the Parquet and the CSV of both reports, hence the two runs of each report in (b).
The same --local is given to every command (daily's port report and servers would otherwise be
of every address). daily also writes the inventory and the alerts, which (b) does not. The
outputs are compared: the port report CSVs and the servers CSVs (daily's has a `status` column
more) must be equal. Prints a markdown section; with --write updates BENCHMARKS.md section
"daily". Target: daily no slower than the sum.

    python3 scripts/bench_daily.py                         # 10M rows
    python3 scripts/bench_daily.py --rows 1000000 --runs 5 --write

FLOWLENS (or --flowlens) names the binary; default target/release/flowlens.
"""

import argparse
import csv
import datetime
import io
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import measure, mib  # noqa: E402
from bench_servers import LOCAL, ROOT, default_flowlens, ensure_data, load_text, machine_text  # noqa: E402

DATE = "2026-11-21"  # gen's default --start, one day


def separate_commands(fl, rw, d):
    f = d / "f.parquet"
    loc = ["--local", LOCAL]
    return [
        ("convert", [fl, "convert", rw, "-o", f, "-q"]),
        ("ports parquet", [fl, "ports", f, *loc, "--format", "parquet", "-o", d / "p.parquet", "-q"]),
        ("ports csv", [fl, "ports", f, *loc, "--format", "csv", "-o", d / "p.csv", "-q"]),
        ("servers parquet", [fl, "servers", f, *loc, "--format", "parquet", "-o", d / "s.parquet", "-q"]),
        ("servers csv", [fl, "servers", f, *loc, "--format", "csv", "-o", d / "s.csv", "-q"]),
    ]


def daily_command(fl, rw, store, quiet=True):
    return [fl, "daily", "--store", store, "--date", DATE, rw, "--local", LOCAL, *(["-q"] if quiet else [])]


def store_csv(store, name):
    """The day's CSV report in the store (STORE/csv/date=D/, or beside the Parquet in older layouts)."""
    found = sorted(p for p in store.rglob(name) if f"date={DATE}" in p.parent.name and ".staging" not in p.parts)
    if not found:
        sys.exit(f"daily wrote no {name} under {store}")
    return found[0]


def rows_of(path, drop_last=False):
    rows = list(csv.reader(io.StringIO(Path(path).read_text())))
    return [r[:-1] for r in rows] if drop_last else rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=ROOT / "target" / "bench-servers")
    ap.add_argument("--flowlens", default=default_flowlens())
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md section daily")
    args = ap.parse_args()
    fl = args.flowlens
    if not Path(fl).exists():
        sys.exit(f"{fl} not found: build it first (cargo build --release) or set FLOWLENS")
    rw, _, _ = ensure_data(fl, args.rows, args.seed, args.workdir)
    load_start = load_text()
    daily_runs, sep_runs = [], []
    same = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        sep_dir, store = tmp / "separate", tmp / "store"

        def run_daily():
            shutil.rmtree(store, ignore_errors=True)
            daily_runs.append(measure(daily_command(fl, rw, store)))

        def run_separate():
            shutil.rmtree(sep_dir, ignore_errors=True)
            sep_dir.mkdir()
            sep_runs.append({name: measure(cmd) for name, cmd in separate_commands(fl, rw, sep_dir)})

        for i in range(args.runs):
            print(f"daily: run {i + 1}/{args.runs} …", file=sys.stderr)
            # Alternate which goes first, so neither always finds the input in the page cache.
            for step in ((run_daily, run_separate) if i % 2 == 0 else (run_separate, run_daily)):
                step()
        # Outputs of the last runs: the same reports either way.
        same["port report"] = rows_of(store_csv(store, "ports.csv")) == rows_of(sep_dir / "p.csv")
        same["servers"] = rows_of(store_csv(store, "servers.csv"), drop_last=True) == rows_of(sep_dir / "s.csv")
        # One more daily, untimed and not quiet, for its per-stage summary lines.
        shutil.rmtree(store, ignore_errors=True)
        stages = [line.replace(str(store), "S") for line in
                  measure(daily_command(fl, rw, store, quiet=False))["stderr"].splitlines() if line]
    load_end = load_text()

    daily_t = statistics.median(r["wall"] for r in daily_runs)
    sums = [sum(m["wall"] for m in r.values()) for r in sep_runs]
    sum_t = statistics.median(sums)
    names = list(sep_runs[0])
    per = {n: statistics.median(r[n]["wall"] for r in sep_runs) for n in names}
    per_rss = {n: max(r[n]["maxrss_kb"] for r in sep_runs) for n in names}
    daily_rss = max(r["maxrss_kb"] for r in daily_runs)
    ratio = sum_t / daily_t
    text = [f"""## daily: the nightly job vs the separate commands

`python3 scripts/bench_daily.py --rows {args.rows} --runs {args.runs}`: {args.rows:,} flows of rwcut text
(`flowlens gen --rows {args.rows} --seed {args.seed}`, {rw.stat().st_size / 2**20:,.0f} MiB). In the same run,
alternating, median of {args.runs}: `flowlens daily --store S --date {DATE} FILE --local {LOCAL} -q` into a
fresh store each run, against the sum of `flowlens convert FILE -o f.parquet -q`, `flowlens ports
f.parquet --local {LOCAL}` and `flowlens servers f.parquet --local {LOCAL}`, each report run twice
(`--format parquet` and `--format csv`: daily writes both). daily also writes the inventory and the
alerts. Each a whole process; peak memory is the maximum RSS. Measured {datetime.date.today()} on
{machine_text(fl)}; load average {load_start} at the start, {load_end} at the end.
Target: **daily no slower than the sum.**

| | wall | peak RSS |
|---|---:|---:|
| **`flowlens daily`** | **{daily_t:.2f} s** | {mib(daily_rss)} |"""]
    for n in names:
        text.append(f"| {n} | {per[n]:.2f} s | {mib(per_rss[n])} |")
    text.append(f"| **sum of the separate commands** | **{sum_t:.2f} s** | {mib(max(per_rss.values()))} (largest) |")
    text.append("")
    text.append(f"Sum / daily: **{ratio:.2f}x**: target {'met' if daily_t <= sum_t else 'NOT met'} in this run. "
                f"All runs (s): daily {', '.join('%.2f' % r['wall'] for r in daily_runs)}; "
                f"sum {', '.join('%.2f' % s for s in sums)}. Same outputs: "
                + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()) + ".")
    if stages:
        text.append("")
        text.append("daily's own summary (one more, untimed run):")
        text.append("")
        text.append("```text")
        text.extend(stages)
        text.append("```")
    section = "\n".join(text)
    print(section)
    if args.write:
        benchlib.update_section("daily", section)
        print("\nBENCHMARKS.md: section daily updated", file=sys.stderr)
    if not all(same.values()):
        sys.exit("daily and the separate commands disagree: see 'Same outputs'")


if __name__ == "__main__":
    main()
