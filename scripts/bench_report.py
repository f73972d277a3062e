#!/usr/bin/env python3
"""`flowlens report` on a day with 100k local hosts: page size and time to build it.

Makes a store of one day (CSV flows: every host of 10.0.0.0/8's first HOSTS addresses fetches a
page, asks DNS and answers one incoming connection; plus `flowlens gen --plant` rows for servers,
scanners and findings), runs `flowlens daily` on it, then `flowlens report` RUNS times and prints
the best wall time and the page's size. Standard library only.

    python3 scripts/bench_report.py [--hosts 100000] [--runs 3] [--keep DIR]
"""
import argparse
import datetime as dt
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DAY = "2026-11-21"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=pathlib.Path, help="build the store in DIR and keep it")
    ap.add_argument("--flowlens", default=os.environ.get("FLOWLENS", str(ROOT / "target/release/flowlens")))
    a = ap.parse_args()
    work = a.keep or pathlib.Path(tempfile.mkdtemp(prefix="bench_report."))
    work.mkdir(parents=True, exist_ok=True)
    fl = a.flowlens
    rnd = random.Random(7)
    start = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
    csv = work / "hosts.csv"
    with open(csv, "w") as f:
        f.write("stime,sip,dip,sport,dport,proto,packets,bytes\n")
        for i in range(a.hosts):
            host = f"10.{1 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
            t = start + dt.timedelta(seconds=rnd.randrange(86_000))
            ts = lambda k: (t + dt.timedelta(seconds=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
            port = rnd.randrange(1024, 65535)
            f.write(f"{ts(0)},{host},198.51.100.{i % 200 + 1},{port},443,6,{rnd.randrange(5, 40)},{rnd.randrange(600, 9000)}\n")
            f.write(f"{ts(0)},198.51.100.{i % 200 + 1},{host},443,{port},6,{rnd.randrange(5, 60)},{rnd.randrange(2000, 900000)}\n")
            f.write(f"{ts(1)},{host},192.0.2.53,{port + 1 if port < 65534 else 1024},53,17,1,70\n")
            f.write(f"{ts(2)},203.0.113.{i % 250 + 1},{host},{port},22,6,{rnd.randrange(3, 30)},{rnd.randrange(200, 5000)}\n")
    gen = work / "gen.rw"
    subprocess.run([fl, "gen", "--rows", "200000", "--plant", "--start", DAY, "-o", gen], check=True)
    store = work / "store"
    t0 = time.perf_counter()
    subprocess.run([fl, "daily", "--store", store, "--date", DAY, "--local", "10.0.0.0/8", "-q", csv, gen], check=True)
    daily = time.perf_counter() - t0
    page = work / "report.html"
    best = None
    for _ in range(a.runs):
        t0 = time.perf_counter()
        subprocess.run([fl, "report", store, "--date", DAY, "--local", "10.0.0.0/8", "-o", page], check=True)
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    hosts = sum(1 for _ in open(store / "csv" / f"date={DAY}" / "ports.csv")) - 1
    size = page.stat().st_size
    daily_page = (store / "report" / f"date={DAY}" / "report.html").stat().st_size
    print(f"store: {store} (daily {daily:.2f} s, port report rows {hosts})")
    print(f"flowlens report: best of {a.runs}: {best:.3f} s; page {size} bytes ({size / 2**20:.2f} MiB); daily's page {daily_page} bytes")
    if size >= 2 << 20 or best >= 2.0:
        print("over the bounds (2 MB, 2 s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
