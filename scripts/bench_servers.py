#!/usr/bin/env python3
"""End-to-end benchmark of `flowlens servers` against DuckDB running `flowlens sql servers`, and the
accuracy of the servers it finds.

Speed: generates flows with `flowlens gen` (kept under target/bench-servers and reused when the
same size and seed are asked for: the rwcut text, its ground truth and the Parquet), then times
both tools on the same Parquet in the same run, checks that they give the same rows, and prints a
markdown section (with --write: BENCHMARKS.md section "servers").

Times are wall-clock medians of --runs runs, the two tools alternating. flowlens is timed as a
whole process (start, read, evaluate, write CSV); DuckDB as the query alone inside an already
started Python process (import, connection and view creation excluded), which favours DuckDB.
Peak memory is each process's maximum resident set size (DuckDB's includes the Python
interpreter, about 50 MB).

Accuracy: the servers found are compared by (server, port, proto) with what is known to have
served: `flowlens gen --truth` for the generated flows, the services run when the real-tool
fixtures were captured (scripts/make-fixtures.sh) and the SEI seed tables (tests/servers.rs, plus
the NTP server the seed's prose names). Printed as a second section (with --write:
BENCHMARKS.md section "servers-accuracy").

    python3 scripts/bench_servers.py                        # 10M rows, prints the sections
    python3 scripts/bench_servers.py --rows 1000000 --runs 5
    python3 scripts/bench_servers.py --write                # also updates BENCHMARKS.md

FLOWLENS (or --flowlens) names the binary; default target/release/flowlens.
"""

import argparse
import csv
import datetime
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from benchlib import measure, mib, run  # noqa: E402

ROOT = benchlib.ROOT
LOCAL = "10.0.0.0/16"
HEADER = ("server,port,proto,service,clients,client_ports,flows_in,packets_in,bytes_in,"
          "flows_out,packets_out,bytes_out,first_seen,last_seen,rule,evidence,confidence")

# DuckDB running `flowlens sql servers` over a view `flows` (with `side` as NULL when the file has
# none, as the query's header says). The query's own time goes to stderr as JSON; the rows to
# a CSV file, as the test (tests/python/test_servers_sql.py) turns them into text.
DUCKDB = r"""
import csv, json, sys, time, duckdb
parquet, sql_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
con = duckdb.connect()
cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet}')").fetchall()]
side = "" if "side" in cols else ", NULL::VARCHAR AS side"
con.execute(f"CREATE VIEW flows AS SELECT *{side} FROM read_parquet('{parquet}')")
sql = open(sql_path).read()
t = time.perf_counter()
rows = con.execute(sql).fetchall()
q = time.perf_counter() - t
with open(out, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    for r in rows:
        w.writerow(["" if v is None else str(v) for v in r])
sys.stderr.write(json.dumps({"query": q, "rows": len(rows), "duckdb": duckdb.__version__}))
"""


def duckdb_servers(parquet, out, local=None):
    sql_path = Path(out).with_suffix(".sql")
    local_args = [a for cidr in (local or []) for a in ("--local", cidr)]
    sql = subprocess.run([default_flowlens(), "sql", "servers", *local_args, "--dialect", "duckdb"],
                         check=True, capture_output=True, text=True).stdout
    sql_path.write_text(sql)
    m = measure([sys.executable, "-c", DUCKDB, parquet, sql_path, out])
    m.update(json.loads(m["stderr"]))
    return m


def load_text():
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_text(fl):
    import duckdb
    version = run([fl, "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), shared with other builds; "
            f"{version}, DuckDB {duckdb.__version__}, Python {platform.python_version()}")


def default_flowlens():
    return os.environ.get("FLOWLENS", str(ROOT / "target" / "release" / "flowlens"))


def ensure_data(fl, rows, seed, workdir):
    """The generated flows of (rows, seed): rwcut text, gen's ground truth and the Parquet, made
    once and kept in workdir (shared by bench_servers.py and bench_daily.py)."""
    workdir.mkdir(parents=True, exist_ok=True)
    stem = workdir / f"flows-{rows}-{seed}"
    rw, truth, parquet = Path(f"{stem}.rw"), Path(f"{stem}.truth.csv"), Path(f"{stem}.parquet")
    if not (rw.exists() and truth.exists()):
        print(f"generating {rows:,} rows (seed {seed}) …", file=sys.stderr)
        tmp_rw, tmp_truth = Path(f"{rw}.tmp"), Path(f"{truth}.tmp")
        run([fl, "gen", "--rows", rows, "--seed", seed, "--truth", tmp_truth, "-o", tmp_rw])
        tmp_truth.replace(truth)
        tmp_rw.replace(rw)
        parquet.unlink(missing_ok=True)
    if not parquet.exists():
        print(f"converting {rw.name} to Parquet …", file=sys.stderr)
        tmp = Path(f"{parquet}.tmp")
        run([fl, "convert", "-q", rw, "-o", tmp])
        tmp.replace(parquet)
    return rw, truth, parquet


def read_report(path):
    lines = list(csv.reader(io.StringIO(Path(path).read_text())))
    if lines and ",".join(lines[0]) == HEADER:
        lines = lines[1:]
    return lines


# --- speed ---------------------------------------------------------------------------------------

def bench_speed(fl, parquet, runs, outdir, threads_check):
    cases = [
        ("every address a host (no `--local`)", "all", [], None),
        (f"`--local {LOCAL}` / `servers_local = ['{LOCAL}']`", "local", ["--local", LOCAL], [LOCAL]),
    ]
    results = []
    for name, key, fl_args, local in cases:
        fl_out, db_out = outdir / f"flowlens-{key}.csv", outdir / f"duckdb-{key}.csv"
        fl_runs, db_runs = [], []
        for i in range(runs):
            print(f"servers {key}: run {i + 1}/{runs} …", file=sys.stderr)
            fl_runs.append(measure([fl, "servers", parquet, *fl_args, "--format", "csv", "-o", fl_out, "-q"]))
            db_runs.append(duckdb_servers(parquet, db_out, local))
        # One more run, untimed, for flowlens's summary line (rows, conversations, candidates).
        summary = measure([fl, "servers", parquet, *fl_args, "--format", "csv", "-o", os.devnull])["stderr"]
        fl_rows, db_rows = read_report(fl_out), read_report(db_out)
        same = "yes" if fl_rows == db_rows else ("same rows, other order" if sorted(fl_rows) == sorted(db_rows)
                                                 else "NO")
        fl_t = statistics.median(r["wall"] for r in fl_runs)
        fl_cpu = statistics.median(r["cpu"] for r in fl_runs)
        db_t = statistics.median(r["query"] for r in db_runs)
        results.append(dict(name=name, key=key, fl=fl_t, fl_cpu=fl_cpu, db=db_t, ratio=db_t / fl_t, same=same, rows=len(fl_rows),
                            db_rows=len(db_rows), fl_rss=max(r["maxrss_kb"] for r in fl_runs),
                            db_rss=max(r["maxrss_kb"] for r in db_runs), duckdb=db_runs[0]["duckdb"],
                            fl_all=[r["wall"] for r in fl_runs], db_all=[r["query"] for r in db_runs],
                            summary=summary.strip().splitlines()[-1] if summary.strip() else "",
                            out=fl_out, fl_args=fl_args))
    threads = []
    if threads_check or any(r["ratio"] < 3 for r in results):
        for r in results:
            for n in (1, 2):
                ts = [measure([fl, "servers", parquet, *r["fl_args"], "--threads", n, "--format", "csv",
                               "-o", os.devnull, "-q"]) for _ in range(runs)]
                threads.append((r["name"], n, statistics.median(t["wall"] for t in ts),
                                statistics.median(t["cpu"] for t in ts), max(t["maxrss_kb"] for t in ts)))
    return results, threads


def summary_counts(summary):
    """(rows, conversations, candidates) of flowlens servers' summary line, or None."""
    m = re.search(r"(\d+) rows in .*?(\d+) conversations, (\d+) candidates", summary)
    return tuple(int(x) for x in m.groups()) if m else None


def speed_section(args, size, results, threads, load_start, load_end, machine):
    out = [f"""## servers: `flowlens servers` vs DuckDB running `flowlens sql servers`

`python3 scripts/bench_servers.py --rows {args.rows} --runs {args.runs}`: {args.rows:,} flows from
`flowlens gen --rows {args.rows} --seed {args.seed}` converted once ({size / 2**20:,.0f} MiB of Parquet),
then `flowlens servers FILE --format csv -o out.csv -q` and DuckDB running `flowlens sql servers` over
the same file (a view `flows` with `side` as NULL) in the same run, alternating; median of {args.runs}.
flowlens: the whole process. DuckDB: the query alone in a warm process (favours DuckDB). Peak
memory: maximum RSS of the process. Measured {datetime.date.today()} on {machine}; load average
{load_start} at the start, {load_end} at the end, so the absolute times are rough; the ratios
come from the same run. Target: **flowlens at least 3x DuckDB at 10M rows.**

| case | flowlens | DuckDB | DuckDB / flowlens | flowlens CPU | flowlens peak RSS | DuckDB peak RSS | servers | same rows |
|---|---:|---:|---:|---:|---:|---:|---:|---|"""]
    for r in results:
        out.append(f"| {r['name']} | {r['fl']:.2f} s | {r['db']:.2f} s | **{r['ratio']:.1f}x** | {r['fl_cpu']:.2f} s | {mib(r['fl_rss'])} "
                   f"| {mib(r['db_rss'])} | {r['rows']:,} | {r['same']} |")
    out.append("")
    met = all(r["ratio"] >= 3 for r in results)
    ratios = ", ".join("%.1fx" % r["ratio"] for r in results)
    each = "; ".join("%s: flowlens %s, DuckDB %s" % (r["key"], ", ".join("%.2f" % t for t in r["fl_all"]),
                                                     ", ".join("%.2f" % t for t in r["db_all"])) for r in results)
    out.append(f"Target {'met' if met else 'NOT met'} in this run ({ratios}). All runs (s): {each}.")
    out.append("")
    for r in results:
        if r["summary"]:
            out.append(f"- {r['key']}: `{r['summary']}`")
    counts = [summary_counts(r["summary"]) for r in results]
    if all(counts):
        rows, convs, cands = counts[0]
        out.append("")
        out.append(f"{convs / rows:.2f} conversations per row (the conversation key holds the client port, so "
                   f"grouping shrinks the input little); {cands:,} candidates (rule, server, port) are decided.")
        if len(set(counts)) == 1:
            out.append("`--local` evaluates the same conversations and candidates (the filter applies to the servers "
                       "found, after evaluation), hence about the same time.")
    if threads:
        out.append("")
        out.append("flowlens by worker threads (median of the same number of runs; CPU = user + system):")
        out.append("")
        out.append("| case | `--threads` | flowlens | flowlens CPU | peak RSS |")
        out.append("|---|---:|---:|---:|---:|")
        for name, n, t, cpu, rss in threads:
            out.append(f"| {name} | {n} | {t:.2f} s | {cpu:.2f} s | {mib(rss)} |")
    return "\n".join(out)


# --- accuracy ------------------------------------------------------------------------------------

FORMATS = ROOT / "tests" / "data" / "formats"
SEI = ROOT / "data" / "sei"

# The fixtures' captures (scripts/make-fixtures.sh): namespace B served ssh, dns, an NTP-like
# udp/123 (its client sends from port 123 too) and http on 8080 in the "services" capture, and a
# TCP echo on [fd77::2]:7 in the "scan" capture (the rest of that capture is probes of closed ports).
SERVICES_TRUTH = {("10.77.0.2", 22, 6): "ssh", ("10.77.0.2", 53, 17): "dns", ("10.77.0.2", 123, 17): "ntp",
                  ("10.77.0.2", 8080, 6): "http"}
SCAN_TRUTH = {("fd77::2", 7, 6): "echo"}
FIXTURES = {"nfdump-services.csv": SERVICES_TRUTH, "nfdump-scan.csv": SCAN_TRUTH,
            "argus-services-dir.csv": SERVICES_TRUTH, "argus-scan-dir.csv": SCAN_TRUTH}

# The SEI seed tables: the servers their rows show (tests/servers.rs), plus the NTP server of
# ntp-linux (the prose: "Client is 10.10.0.1"; it answered, 123<->123). ntp-windows' request got
# no answer (an ICMP unreachable), so it has no server.
SEI_TRUTH = {
    "ssh-linux": {("10.10.0.1", 22, 6): "ssh"},
    "ssh-windows": {("10.10.0.2", 22, 6): "ssh"},
    "telnet-linux": {("10.10.0.1", 23, 6): "telnet"},
    "telnet-windows": {("10.10.0.1", 23, 6): "telnet"},
    "ftp-active-linux": {("10.10.0.2", 20, 6): "ftp-data", ("10.10.0.2", 21, 6): "ftp"},
    "ftp-passive-linux": {("10.10.0.2", 21, 6): "ftp", ("10.10.0.2", 10099, 6): "ftp-data"},
    "ftp-passive-windows": {("10.10.0.2", 21, 6): "ftp", ("10.10.0.2", 61598, 6): "ftp-data"},
    "pptp-linux": {("10.10.0.2", 0, 47): "gre", ("10.10.0.2", 1723, 6): "pptp"},
    "pptp-windows": {("10.10.0.2", 0, 47): "gre", ("10.10.0.2", 1723, 6): "pptp"},
    "dns-linux": {("10.10.0.2", 53, 17): "dns"},
    "dns-windows": {("173.194.121.3", 53, 17): "dns"},
    "http-linux": {("128.2.42.52", 80, 6): "http"},
    "http-windows": {("128.2.42.52", 80, 6): "http"},
    "ntp-linux": {("216.229.4.69", 123, 17): "ntp"},
    "ntp-windows": {},
}

SYMMETRIC_ONLY = """
import duckdb, json, sys
parquet, keys = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
out = []
for server, port, proto in keys:
    n, sym = con.execute(f'''SELECT count(*), count(*) FILTER (WHERE sport = dport)
        FROM read_parquet('{parquet}') WHERE proto = ? AND ((sip = ? AND sport = ?) OR (dip = ? AND dport = ?))''',
        [proto, server, port, server, port]).fetchone()
    out.append([n, sym])
print(json.dumps(out))
"""


def servers_of(fl, parquet, *extra):
    p = run([fl, "servers", parquet, "--format", "csv", "-q", *extra], capture_output=True, text=True)
    return read_report_text(p.stdout)


def read_report_text(text):
    lines = list(csv.reader(io.StringIO(text)))
    return lines[1:] if lines and ",".join(lines[0]) == HEADER else lines


def keyed(rows):
    return {(r[0], int(r[1]), int(r[2])): r for r in rows}


def explain_misses(parquet, misses):
    """Why each missed server was not called: groups of misses with one explanation each."""
    if not misses:
        return []
    keys = sorted(misses)
    counts = json.loads(run([sys.executable, "-c", SYMMETRIC_ONLY, parquet, json.dumps(keys)],
                            capture_output=True, text=True).stdout)
    groups = {}
    for (server, port, proto), (n, sym) in zip(keys, counts):
        if n and n == sym:
            why = (f"{proto_name(proto)}/{port} answered only in {port}<->{port} exchanges, which cannot say which "
                   f"side serves: deliberately not called without clients on other ports, 10+ peers or an "
                   f"originator (docs/servers.md)")
        elif n == 0:
            why = f"{proto_name(proto)}/{port}: no flow on that port in the input"
        else:
            why = f"{proto_name(proto)}/{port}: MISSED, unexplained ({n} flows)"
        groups.setdefault(why, []).append(server)
    return [f"{len(s)} missed ({', '.join(s[:3])}{', …' if len(s) > 3 else ''}): {why}" for why, s in groups.items()]


def proto_name(proto):
    return {6: "tcp", 17: "udp", 47: "gre", 1: "icmp", 58: "icmp6"}.get(proto, str(proto))


def score(name, truth, rows, rows_noflags, parquet):
    found = keyed(rows)
    tp = truth.keys() & found.keys()
    fp = sorted(found.keys() - truth.keys())
    fn = truth.keys() - found.keys()
    notes = explain_misses(parquet, fn)
    for k in fp:
        r = found[k]
        notes.append(f"false positive {k[0]} {proto_name(k[2])}/{k[1]} ({r[14]}: {r[15]})")
    renamed = {}
    for k in sorted(tp):
        if truth[k] and truth[k] != found[k][3]:
            renamed.setdefault((truth[k], found[k][3]), []).append(k)
    for (want, got), ks in renamed.items():
        notes.append(f"{len(ks)} named `{got}` (truth: `{want}`)")
    same_noflags = sorted(keyed(rows_noflags)) == sorted(found)
    return dict(name=name, truth=len(truth), found=len(found), tp=len(tp), fp=len(fp),
                precision=len(tp) / len(found) if found else None, recall=len(tp) / len(truth) if truth else None,
                noflags="yes" if same_noflags else "NO", notes=notes)


def read_truth(path, local_only=False):
    truth = {}
    for r in csv.DictReader(open(path)):
        if local_only and r.get("local") != "true":
            continue
        truth[(r["server"], int(r["port"]), int(r["proto"]))] = r["service"]
    return truth


def bench_accuracy(fl, parquet, truth_csv, rows, speed, tmp):
    results = []
    by_key = {r["key"]: r for r in speed}
    for key, label, local_only, extra in [("all", f"generated {rows:,} rows, every address", False, []),
                                          ("local", f"generated {rows:,} rows, `--local {LOCAL}`", True,
                                           ["--local", LOCAL])]:
        found = read_report(by_key[key]["out"])
        print(f"accuracy: {label} (--ignore-flags) …", file=sys.stderr)
        noflags = servers_of(fl, parquet, *extra, "--ignore-flags")
        results.append(score(label, read_truth(truth_csv, local_only), found, noflags, parquet))
    tables = [(f"`{name}` (fixture)", FORMATS / name, [], truth) for name, truth in FIXTURES.items()]
    tables += [(f"SEI `{t}`", SEI / f"{t}.txt", ["--date", "2014-06-01"] + (
        ["--columns", "sip,dip,sport,dport,proto,packets,bytes,flags,stime"] if t == "ntp-linux" else []), truth)
        for t, truth in SEI_TRUTH.items()]
    for label, src, conv_args, truth in tables:
        pq = tmp / (src.name + ".parquet")
        run([fl, "convert", "-q", src, *conv_args, "-o", pq])
        results.append(score(label, truth, servers_of(fl, pq), servers_of(fl, pq, "--ignore-flags"), pq))
    return results


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def accuracy_section(args, results):
    out = [f"""## servers: precision and recall

`python3 scripts/bench_servers.py --rows {args.rows}` (with the speed run above): `flowlens servers`
(built-in rules, no options but `--local` where shown) against what is known to have served, matched
on (server, port, proto). Truth: `flowlens gen --truth` for the generated flows (every server that
answered a client); the services run when the real-tool fixtures were captured
(`scripts/make-fixtures.sh`: 10.77.0.2 tcp/22 ssh, udp/53 dns, udp/123 NTP-like, tcp/8080 http;
fd77::2 tcp/7 echo in the scan capture, whose other probes hit closed ports); the SEI seed tables'
rows (`tests/servers.rs`) plus the NTP server the seed's prose names for `ntp-linux`
(216.229.4.69, which answered 123<->123). "--ignore-flags": the same servers without TCP flags.

| dataset | truth servers | found | true positives | false positives | precision | recall | same with `--ignore-flags` | notes |
|---|---:|---:|---:|---:|---:|---:|---|---|"""]
    tot = dict(truth=0, found=0, tp=0, fp=0)
    for r in results:
        for k in tot:
            if not r["name"].startswith("generated") or "`--local" not in r["name"]:
                tot[k] += r[k]
        out.append(f"| {r['name']} | {r['truth']:,} | {r['found']:,} | {r['tp']:,} | {r['fp']:,} | {pct(r['precision'])} "
                   f"| {pct(r['recall'])} | {r['noflags']} | {'; '.join(r['notes']) or '–'} |")
    out.append("")
    out.append(f"Over every dataset (the `--local` line is a subset of the one above it and not added): "
               f"{tot['tp']:,} of {tot['truth']:,} servers found (recall {pct(tot['tp'] / tot['truth'])}), "
               f"{tot['fp']:,} false positives (precision {pct(tot['tp'] / tot['found'])}).")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=ROOT / "target" / "bench-servers")
    ap.add_argument("--flowlens", default=default_flowlens())
    ap.add_argument("--threads-check", action="store_true",
                    help="also time flowlens with --threads 1 and 2 (done anyway when below 3x DuckDB)")
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md sections servers and servers-accuracy")
    args = ap.parse_args()
    fl = args.flowlens
    if not Path(fl).exists():
        sys.exit(f"{fl} not found: build it first (cargo build --release) or set FLOWLENS")
    _, truth_csv, parquet = ensure_data(fl, args.rows, args.seed, args.workdir)
    load_start = load_text()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        speed, threads = bench_speed(fl, parquet, args.runs, tmp, args.threads_check)
        load_end = load_text()
        accuracy = bench_accuracy(fl, parquet, truth_csv, args.rows, speed, tmp)
    text = speed_section(args, parquet.stat().st_size, speed, threads, load_start, load_end, machine_text(fl))
    acc = accuracy_section(args, accuracy)
    print(text)
    print()
    print(acc)
    if args.write:
        benchlib.update_section("servers", text)
        benchlib.update_section("servers-accuracy", acc)
        print("\nBENCHMARKS.md: sections servers and servers-accuracy updated", file=sys.stderr)
    if any(r["same"] == "NO" for r in speed):
        sys.exit("flowlens and DuckDB disagree: see the 'same rows' column")


if __name__ == "__main__":
    main()
