#!/usr/bin/env python3
"""Selection with and without row-group pruning: the same queries through two flowlens builds.

    python3 scripts/bench_select.py PRUNED_BINARY UNPRUNED_BINARY [RUNS]

UNPRUNED_BINARY is a build whose scan::open_flows keeps every row group and filters all of them
(replace the result of prune_row_groups by every row group, each needing the filter); both
builds must print the same bytes, which this script checks. Data: 10M `flowlens gen` rows
(one day, time-ordered, 39 row groups), and the same rows rewritten by DuckDB sorted by dport.
Runs alternate between the builds; the medians are printed."""
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import duckdb


def main():
    pruned, unpruned = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    d = pathlib.Path(tempfile.mkdtemp(prefix="bench-select-"))
    gen, flows, by_dport = d / "g.rw", d / "g.parquet", d / "by-dport.parquet"
    subprocess.run([pruned, "gen", "--rows", "10000000", "--seed", "11", "-o", gen], check=True)
    subprocess.run([pruned, "convert", gen, "-o", flows, "-q"], check=True)
    gen.unlink()
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_parquet('{flows}') ORDER BY dport, stime) TO '{by_dport}' "
        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 262144)"
    )
    window = ["--from", "2026-11-21T10:00", "--to", "2026-11-21T10:09"]
    queries = {
        "cat --dport 22": ["cat", flows, "--dport", "22"],
        "cat --dport 22 --from 10:00 --to 10:09": ["cat", flows, "--dport", "22", *window],
        "cat --dport 22, file sorted by dport": ["cat", by_dport, "--dport", "22"],
        "ports --dport 22": ["ports", flows, "--dport", "22", "--format", "csv", "-q"],
        "ports --dport 22, file sorted by dport": ["ports", by_dport, "--dport", "22", "--format", "csv", "-q"],
    }
    for name, args in queries.items():
        times, outs = {pruned: [], unpruned: []}, {}
        for _ in range(runs):
            for b in (pruned, unpruned):
                t = time.perf_counter()
                outs[b] = subprocess.run([b, *args], capture_output=True, check=True).stdout
                times[b].append(time.perf_counter() - t)
        assert outs[pruned] == outs[unpruned], name
        print(
            f"| {name} | {statistics.median(times[pruned]):.3f} s | {statistics.median(times[unpruned]):.3f} s "
            f"| {len(outs[pruned].splitlines())} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
