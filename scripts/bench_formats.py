#!/usr/bin/env python3
"""Conversion throughput per exporter format: flowlens against DuckDB on the same files, in the
same run, alternating, median of N runs. Prints a markdown table; `--write` also puts it in the
`formats` section of BENCHMARKS.md.

    python3 scripts/bench_formats.py [--rows 1000000] [--repeat 3] [--write]

The inputs are `flowlens gen --format csv` flows rewritten in each exporter's layout, byte for
byte as the exporter prints it (tests/data/formats/ has the real thing):
  nfdump   the 48-column `-o csv` of nfdump 1.6-1.7.4, with its Summary trailer
  zeek     conn.log TSV with its # header lines; each flow becomes a connection whose responder
           sent half its packets (so about half the connections give two rows)
DuckDB does the same job: read the text, skip what is not a flow (nfdump's Summary, Zeek's #
lines), type every column (times, protocol names, ICMP type.code), give Zeek connections their
responder rows, and write zstd Parquet.
"""
import argparse
import csv
import datetime

import duckdb

from benchlib import DATA, duckdb_sql, flowlens, machine, summarize, timed, update_section, FLOWLENS

NFDUMP_HEADER = ("ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,"
                 "svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,"
                 "ra,eng,exid,tr")
# Everything after obyt in nfdump 1.7.1's rows (tests/data/formats/nfdump-*.csv): in, out, sas, das,
# smk, dmk, dtos, dir, nh, nhb, svln, dvln, four MACs, ten MPLS labels, three latencies, ra, eng, exid, tr.
NFDUMP_TAIL = (",0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0" + ",00:00:00:00:00:00" * 4 + ",0-0-0" * 10
               + ",    0.000,    0.000,    0.000,127.0.0.1,0/0,1,2026-11-23 05:09:19.963")
PROTO_NAMES = {"1": "ICMP", "6": "TCP", "17": "UDP", "47": "GRE", "50": "ESP", "58": "ICMP6"}
FLAGS = "CEUAPRSF"

ZEEK_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration",
               "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history",
               "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "tunnel_parents"]
ZEEK_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count",
              "string", "bool", "bool", "count", "string", "count", "count", "count", "count", "set[string]"]

DUCKDB_NFDUMP = """COPY (SELECT
  strptime(ts, '%Y-%m-%d %H:%M:%S') AS stime, strptime(te, '%Y-%m-%d %H:%M:%S') AS etime, sa AS sip, da AS dip,
  sp::USMALLINT AS sport,
  (CASE WHEN pr IN ('ICMP', 'ICMP6') AND contains(dp, '.')
        THEN split_part(dp, '.', 1)::INT * 256 + split_part(dp, '.', 2)::INT ELSE dp::INT END)::USMALLINT AS dport,
  (CASE pr WHEN 'TCP' THEN 6 WHEN 'UDP' THEN 17 WHEN 'ICMP' THEN 1 WHEN 'ICMP6' THEN 58 WHEN 'GRE' THEN 47
           WHEN 'ESP' THEN 50 ELSE TRY_CAST(pr AS INT) END)::UTINYINT AS proto,
  ipkt::BIGINT AS packets, ibyt::BIGINT AS bytes, replace(flg, '.', '') AS flags,
  fwd, stos, "in", out, ra, tr
FROM read_csv('{src}', header = true, all_varchar = true, null_padding = true, quote = '', escape = '')
WHERE dp IS NOT NULL)
TO '{dst}' (FORMAT parquet, COMPRESSION zstd)"""

DUCKDB_ZEEK = """COPY (
WITH c AS (SELECT * FROM read_csv('{src}', delim = '\t', header = false, comment = '#', quote = '', escape = '', auto_detect = false,
                                   nullstr = '-', columns = {{{cols}}}))
SELECT make_timestamp((ts * 1e6)::BIGINT) AS stime, make_timestamp(((ts + coalesce(duration, 0)) * 1e6)::BIGINT) AS etime,
  "id.orig_h" AS sip, "id.resp_h" AS dip, "id.orig_p"::USMALLINT AS sport, "id.resp_p"::USMALLINT AS dport,
  (CASE proto WHEN 'tcp' THEN 6 WHEN 'udp' THEN 17 WHEN 'icmp' THEN 1 END)::UTINYINT AS proto,
  orig_pkts AS packets, orig_ip_bytes AS bytes, 'orig' AS side, uid, service, conn_state, history
FROM c
UNION ALL
SELECT make_timestamp((ts * 1e6)::BIGINT), make_timestamp(((ts + coalesce(duration, 0)) * 1e6)::BIGINT),
  "id.resp_h", "id.orig_h", "id.resp_p"::USMALLINT, "id.orig_p"::USMALLINT,
  (CASE proto WHEN 'tcp' THEN 6 WHEN 'udp' THEN 17 WHEN 'icmp' THEN 1 END)::UTINYINT,
  resp_pkts, resp_ip_bytes, 'resp', uid, service, conn_state, history
FROM c WHERE resp_pkts > 0)
TO '{dst}' (FORMAT parquet, COMPRESSION zstd)"""


def epoch(t):
    d = datetime.datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def nfdump_flags(letters):
    return "".join(c if c in letters else "." for c in FLAGS)


def make_inputs(rows):
    """Writes the nfdump and Zeek files for `rows` generated flows (once; kept in DATA)."""
    src = DATA / f"gen-{rows}.csv"
    nf, zk = DATA / f"nfdump-{rows}.csv", DATA / f"zeek-{rows}.log"
    if nf.exists() and zk.exists():
        return nf, zk
    if not src.exists():
        flowlens("gen", "--rows", rows, "--seed", 42, "--format", "csv", "-o", src)
    flows = packets = byts = 0
    with open(src) as f, open(nf, "w") as n, open(zk, "w") as z:
        n.write(NFDUMP_HEADER + "\n")
        z.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
                "#open\t2026-11-21-00-00-00\n#fields\t" + "\t".join(ZEEK_FIELDS) + "\n#types\t"
                + "\t".join(ZEEK_TYPES) + "\n")
        for i, r in enumerate(csv.DictReader(f)):
            proto = r["proto"]
            name = PROTO_NAMES.get(proto, proto)
            s, e = epoch(r["stime"]), epoch(r["etime"])
            flags = nfdump_flags(r["flags"]) if proto == "6" else "........"
            # nfdump 1.7.1's classic csv prints an ICMP dp as type*256+code, as gen writes it.
            n.write(f"{r['stime'][:19]},{r['etime'][:19]},{e - s:.3f},{r['sip']},{r['dip']},{r['sport']},"
                    f"{r['dport']},{name},{flags},0,0,{r['packets']},{r['bytes']},0,0{NFDUMP_TAIL}\n")
            flows += 1
            packets += int(r["packets"])
            byts += int(r["bytes"])
            # Zeek: the flow is the originator's side; the responder sent half as many packets.
            pk, by = int(r["packets"]), int(r["bytes"])
            rp = pk // 2
            rb = by * rp // pk if pk else 0
            zproto = {"6": "tcp", "17": "udp", "1": "icmp"}.get(proto, "unknown_transport")
            if proto == "1":
                sp, dp = str(int(r["dport"]) >> 8), str(int(r["dport"]) & 255)
            else:
                sp, dp = r["sport"], r["dport"]
            state = "SF" if rp else "S0"
            z.write("\t".join([f"{s:.6f}", f"C{i:017x}", r["sip"], sp, r["dip"], dp, zproto, "-", f"{e - s:.6f}",
                               str(max(by - 40 * pk, 0)), str(max(rb - 40 * rp, 0)), state, "-", "-", "0",
                               "ShADadFf" if rp else "S", str(pk), str(by), str(rp), str(rb), "(empty)"]) + "\n")
        n.write(f"Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n{flows},{byts},{packets},0,0,0\n")
        z.write("#close\t2026-11-22-00-00-00\n")
    return nf, zk


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="update the formats section of BENCHMARKS.md")
    args = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    nf, zk = make_inputs(args.rows)
    zeek_cols = ", ".join(
        f"'{n}': '{ {'time': 'DOUBLE', 'interval': 'DOUBLE', 'count': 'BIGINT', 'port': 'INTEGER'}.get(t, 'VARCHAR') }'"
        for n, t in zip(ZEEK_FIELDS, ZEEK_TYPES))
    lines = [
        f"Measured {datetime.date.today()} on {machine()}; median of {args.repeat} alternating runs, "
        f"{args.rows:,} generated flows per input.",
        f"Reproduce: `python3 scripts/bench_formats.py --rows {args.rows}`.",
        "",
        "| format | input | rows out | flowlens | DuckDB | flowlens speed-up | flowlens MB/s | flowlens peak RSS | DuckDB peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, src, sql in [("nfdump csv (48 columns)", nf, DUCKDB_NFDUMP), ("Zeek conn.log TSV", zk, DUCKDB_ZEEK)]:
        ours, theirs = DATA / "formats-flowlens.parquet", DATA / "formats-duckdb.parquet"
        q = sql.format(src=src, dst=theirs, cols=zeek_cols)
        res = {"flowlens": [], "duckdb": []}
        for _ in range(args.repeat):
            res["flowlens"].append(timed([FLOWLENS, "convert", src, "-o", ours, "-q"]))
            res["duckdb"].append(duckdb_sql(q))
        (ft, fm), (dt, dm) = summarize(res["flowlens"]), summarize(res["duckdb"])
        # Both wrote the same rows: same count, packets and bytes.
        check = "SELECT count(*), sum(packets), sum(bytes) FROM '{}'"
        con = duckdb.connect()
        got, want = con.execute(check.format(ours)).fetchall()[0], con.execute(check.format(theirs)).fetchall()[0]
        if got != want:
            raise SystemExit(f"{name}: flowlens wrote {got} (rows, packets, bytes), DuckDB {want}")
        rows_ours = got[0]
        mb = src.stat().st_size / 2**20
        lines.append(f"| {name} | {mb:.0f} MiB | {rows_ours:,} | {ft:.2f} s | {dt:.2f} s | {dt / ft:.2f}x | "
                     f"{mb / ft:.0f} | {fm:.0f} MiB | {dm:.0f} MiB |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        update_section("formats", "## Conversion per exporter format\n\n" + table)


if __name__ == "__main__":
    main()
