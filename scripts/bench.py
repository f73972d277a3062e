#!/usr/bin/env python3
"""End-to-end `convert` benchmark: flowlens against DuckDB on the same rwcut files, in the same
run, alternating, median of N runs. Writes the `convert` section of BENCHMARKS.md.

    python3 scripts/bench.py [--rows 1000000,10000000] [--repeat 3]

DuckDB does the same job: read rwcut's padded `|` text, trim, type every column (timestamps
parsed with strptime) and write zstd Parquet.
"""
import argparse
import datetime

from benchlib import DATA, FLOWLENS, duckdb_sql, flowlens, machine, summarize, timed, update_section

COLUMNS = ["sIP", "dIP", "sPort", "dPort", "pro", "packets", "bytes", "flags", "sTime", "duration", "eTime", "sen",
           "end"]

DUCKDB_CONVERT = """COPY (SELECT
  strptime(trim(sTime), '%Y/%m/%dT%H:%M:%S.%g') AS stime, strptime(trim(eTime), '%Y/%m/%dT%H:%M:%S.%g') AS etime,
  trim(sIP) AS sip, trim(dIP) AS dip, trim(sPort)::USMALLINT AS sport, trim(dPort)::USMALLINT AS dport,
  trim(pro)::UTINYINT AS proto, trim(packets)::BIGINT AS packets, trim(bytes)::BIGINT AS bytes,
  replace(trim(flags), ' ', '') AS flags, trim(sen) AS sen
FROM read_csv('{src}', delim = '|', header = true, quote = '', escape = '', columns = {{{cols}}}))
TO '{dst}' (FORMAT parquet, COMPRESSION zstd)"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    cols = ", ".join(f"'{c}': 'VARCHAR'" for c in COLUMNS)
    lines = [
        f"Measured {datetime.date.today()} on {machine()}; median of {args.repeat} alternating runs.",
        "Reproduce: `make bench` (or `python3 scripts/bench.py --rows 1000000,10000000`).",
        "",
        "| rows | rwcut text | flowlens | DuckDB | flowlens speed-up | flowlens MB/s | flowlens peak RSS | DuckDB peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in [int(r) for r in args.rows.split(",")]:
        src = DATA / f"gen-{rows}.rw"
        if not src.exists():
            flowlens("gen", "--rows", rows, "--seed", 42, "-o", src)
        size_mb = src.stat().st_size / 2**20
        ours = DATA / f"flowlens-{rows}.parquet"
        theirs = DATA / f"duckdb-{rows}.parquet"
        sql = DUCKDB_CONVERT.format(src=src, dst=theirs, cols=cols)
        results = {"flowlens": [], "duckdb": []}
        for _ in range(args.repeat):
            results["flowlens"].append(timed([FLOWLENS, "convert", src, "-o", ours, "-q"]))
            results["duckdb"].append(duckdb_sql(sql))
        f_t, f_m = summarize(results["flowlens"])
        d_t, d_m = summarize(results["duckdb"])
        lines.append(f"| {rows:,} | {size_mb:,.0f} MiB | {f_t:.2f} s | {d_t:.2f} s | {d_t / f_t:.1f}x | "
                     f"{size_mb / f_t:,.0f} | {f_m:,.0f} MiB | {d_m:,.0f} MiB |")
        print(lines[-1], flush=True)
    update_section("convert", "## convert: rwcut text to Parquet\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
