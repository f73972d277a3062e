#!/usr/bin/env python3
"""flowlens's daily reports on Spark: ports, servers and findings of a flowlens store's days.

    spark-submit scripts/spark_reports.py --store s3a://bucket/flowlens --date 2026-11-21 --local 10.0.0.0/8
    python scripts/spark_reports.py --store store --from 2026-11-20 --to 2026-11-22      # pip-installed pyspark
    python scripts/spark_reports.py --store store --date 2026-11-21 --sql-dir sql-spark/ # no flowlens on this machine

The queries come from `flowlens sql ports|servers|findings --dialect spark` (the same options and
defaults as the report commands, filled in as literals), or from a folder of pre-generated
ports.sql, servers.sql and findings.sql (`--sql-dir`, for a cluster without flowlens: generate
them with the options you want where flowlens is installed). Each runs over a view named
`flows` holding one day of STORE/flows/date=D/ (read with mergeSchema, since the files of
different days can carry different extra columns; only the days asked for are listed and read).

For every day it writes what `flowlens daily` writes from the reports, in the same layout,
column names, column types (unsigned included) and column order, so that a notebook reading
the store cannot tell which engine made a day:

    STORE/ports/date=D/ports.parquet           CSV columns + host_rank, row, other, typed ports
    STORE/servers/date=D/servers.parquet       + status: new/known against every other day
    STORE/findings/date=D/findings.parquet
    STORE/csv/date=D/{ports,servers,findings}.csv
    STORE/alerts/date=D/new-servers.ndjson     the day's new servers
    STORE/alerts/date=D/findings.ndjson        threat rows of hosts with no threat on an earlier day
    STORE/inventory.parquet                    rebuilt from every day's servers file

It does not write the day's page (STORE/report/date=D/report.html): that is `flowlens report
STORE --date D`, which needs flowlens and the flows. A page that `flowlens daily` made for the
day stays as it was.

Why the driver writes the files (pyarrow) rather than Spark's writer: Spark cannot write an
unsigned column (daily's ports, row numbers and protocols are uint16/uint32/uint8) nor a
required one, so a Spark-written file would read back as int64/int32 and nullable in pandas,
Polars or DuckDB. The reports are small (ports: at most top + watched + 1 rows per host), so
they are collected with `toArrow()`, cast to daily's exact schema and written as one file per
partition: under a hidden temporary name beside the target, then renamed over it. A local store
(a path or file://) is written with the OS (and locked against `flowlens daily` with the lock
file daily uses, STORE/.lock); any other URL (s3a://, hdfs://, abfss://, gs://) through Spark's
Hadoop FileSystem, where a rename is atomic only if that file system's rename is (HDFS: yes;
S3A: no, it is a copy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPORTS = ("ports", "servers", "findings")

# The header of each report's CSV (`flowlens X --format csv`): the columns the SQL returns.
PORTS_CSV = ["hostname", "ip", "sport", "dport", "flows", "in_packets", "in_bytes", "out_packets", "out_bytes",
             "total_packets", "total_bytes"]
SERVERS_CSV = ["server", "port", "proto", "service", "clients", "client_ports", "flows_in", "packets_in",
               "bytes_in", "flows_out", "packets_out", "bytes_out", "first_seen", "last_seen", "rule", "evidence",
               "confidence"]
FINDINGS_CSV = ["host", "hostname", "tag", "confidence", "evidence", "explanation", "first_seen", "last_seen"]
CSV_COLUMNS = {"ports": PORTS_CSV, "servers": SERVERS_CSV, "findings": FINDINGS_CSV}

TS = pa.timestamp("us", tz="UTC")
COUNTERS = ["flows", "in_packets", "in_bytes", "out_packets", "out_bytes", "total_packets", "total_bytes"]
SERVER_COUNTERS = ["clients", "client_ports", "flows_in", "packets_in", "bytes_in", "flows_out", "packets_out",
                   "bytes_out"]

# daily's Parquet schemas (src/ports/format.rs report_schema, src/servers/format.rs,
# src/findings/format.rs, src/daily.rs inventory_schema), field for field.
PORTS_SCHEMA = pa.schema(
    [pa.field("host_rank", pa.uint32(), False), pa.field("hostname", pa.string(), False),
     pa.field("ip", pa.string(), False), pa.field("row", pa.uint32(), False), pa.field("other", pa.bool_(), False),
     pa.field("sport", pa.uint16()), pa.field("dport", pa.uint16()),
     pa.field("sport_any", pa.bool_(), False), pa.field("dport_any", pa.bool_(), False),
     pa.field("sport_label", pa.string()), pa.field("dport_label", pa.string()),
     pa.field("sport_service", pa.string()), pa.field("dport_service", pa.string())]
    + [pa.field(c, pa.int64(), False) for c in COUNTERS])
SERVERS_SCHEMA = pa.schema(
    [pa.field("server", pa.string(), False), pa.field("port", pa.uint16(), False),
     pa.field("proto", pa.uint8(), False), pa.field("service", pa.string(), False)]
    + [pa.field(c, pa.int64(), False) for c in SERVER_COUNTERS]
    + [pa.field("first_seen", TS), pa.field("last_seen", TS)]
    + [pa.field(c, pa.string(), False) for c in ("rule", "evidence", "confidence")]
    + [pa.field("status", pa.string())])
FINDINGS_SCHEMA = pa.schema(
    [pa.field(c, pa.string(), False) for c in ("host", "hostname", "tag", "confidence", "evidence", "explanation")]
    + [pa.field("first_seen", TS), pa.field("last_seen", TS)])
INVENTORY_SCHEMA = pa.schema(
    [pa.field("server", pa.string(), False), pa.field("port", pa.uint16(), False),
     pa.field("proto", pa.uint8(), False), pa.field("service", pa.string(), False),
     pa.field("first_day", pa.date32(), False), pa.field("last_day", pa.date32(), False),
     pa.field("days_seen", pa.int64(), False), pa.field("first_seen", TS), pa.field("last_seen", TS)])

# Tags that are alerts on a host's first day with one (src/findings/mod.rs Tag::is_threat).
THREAT_TAGS = ("scanner", "p2p", "possible-compromise")

# The flows columns the queries may name; a store whose files lack one gets it as NULL (the
# servers query reads `side`, which only bidirectional inputs carry).
FLOW_COLUMNS = {"stime": "timestamp", "etime": "timestamp", "sip": "string", "dip": "string", "sport": "int",
                "dport": "int", "proto": "smallint", "packets": "bigint", "bytes": "bigint", "flags": "string",
                "side": "string"}

# Script option -> the flag each `flowlens sql X` takes for it. An option given for a report
# whose `flowlens sql X --help` lacks the flag is an error, not silently dropped.
OPTION_FLAGS = {
    "local": {"ports": "--local", "servers": "--local", "findings": "--local"},
    "top": {"ports": "--top"},
    "many": {"ports": "--many"},
    "watch": {"ports": "--watch"},
    "top_hosts": {"ports": "--top-hosts"},
    "services": {"ports": "--services", "servers": "--services", "findings": "--services"},
    "rules": {"servers": "--rules", "findings": "--server-rules"},
    "findings_rules": {"servers": "--findings-rules", "findings": "--rules"},
    "ignore_flags": {"servers": "--ignore-flags"},
}
# Which reports an option changes (daily's servers take the findings' P2P context, so the
# findings thresholds change the servers too; the server rules change the findings).
OPTION_REPORTS = {
    "local": REPORTS, "top": ("ports",), "many": ("ports",), "watch": ("ports",), "top_hosts": ("ports",),
    "services": REPORTS, "rules": ("servers", "findings"), "findings_rules": ("servers", "findings"),
    "ignore_flags": ("servers",),
}


class ReportError(Exception):
    """A problem the user can act on (printed without a traceback, exit status 2)."""


# ---------------------------------------------------------------------------------------------
# The queries


def strip_statement(sql: str) -> str:
    """One statement as spark.sql takes it: without its final `;` (and what trails it)."""
    text = sql.strip()
    # Drop trailing comment lines after the `;`.
    lines = text.splitlines()
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("--")):
        lines.pop()
    text = "\n".join(lines).rstrip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    if not any(line.strip() and not line.lstrip().startswith("--") for line in text.splitlines()):
        raise ReportError("the SQL is empty")
    return text


def sql_help(flowlens: str, report: str) -> str | None:
    """`flowlens sql REPORT --help`, or None when this flowlens has no such subcommand."""
    try:
        r = subprocess.run([flowlens, "sql", report, "--help"], capture_output=True, text=True)
    except FileNotFoundError:
        raise ReportError(f"flowlens not found at '{flowlens}': give --flowlens PATH or --sql-dir DIR")
    return r.stdout if r.returncode == 0 else None


def sql_args(report: str, opts: dict, help_text: str) -> list[str]:
    """The `flowlens sql REPORT` arguments for the options given."""
    args = []
    for name, value in opts.items():
        if value is None or value == [] or value is False or report not in OPTION_REPORTS[name]:
            continue
        flag = OPTION_FLAGS[name].get(report)
        if flag is None or not re.search(rf"(^|\s){re.escape(flag)}([\s=,]|$)", help_text, re.M):
            raise ReportError(
                f"`flowlens sql {report}` has no {flag or '--' + name.replace('_', '-')} option, and "
                f"--{name.replace('_', '-')} changes the {report} report: refusing to write a {report} report "
                "without it")
        if value is True:
            args.append(flag)
        elif isinstance(value, list):
            for v in value:
                args += [flag, str(v)]
        else:
            args += [flag, str(value)]
    return args


def queries(flowlens: str | None, sql_dir: str | None, opts: dict) -> dict[str, str | None]:
    """Each report's Spark SQL (None, with a note on stderr, for a report that cannot be made)."""
    out: dict[str, str | None] = {}
    if sql_dir is not None:
        given = [k for k, v in opts.items() if v not in (None, [], False)]
        if given:
            raise ReportError(
                "--sql-dir holds queries with their options filled in already; "
                f"--{given[0].replace('_', '-')} cannot change them (generate the files with it instead)")
        for r in REPORTS:
            path = os.path.join(sql_dir, f"{r}.sql")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    out[r] = strip_statement(f.read())
            else:
                note(f"{path} not found: no {r} report")
                out[r] = None
        return out
    exe = flowlens or shutil.which("flowlens") or "flowlens"
    for r in REPORTS:
        help_text = sql_help(exe, r)
        if help_text is None:
            note(f"`{exe} sql {r}` does not exist in this flowlens: no {r} report")
            out[r] = None
            continue
        cmd = [exe, "sql", r, *sql_args(r, opts, help_text), "--dialect", "spark"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise ReportError(f"{' '.join(cmd)} failed (status {p.returncode}): {p.stderr.strip()}")
        out[r] = strip_statement(p.stdout)
    if out["ports"] is None and out["servers"] is None:
        raise ReportError(f"`{exe} sql` does not exist: this flowlens is too old to print the reports as SQL")
    return out


def note(msg: str) -> None:
    print(f"spark_reports: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The store: local folders, or any URL Spark's Hadoop FileSystem reads


class LocalStore:
    """A store on a local file system, written with the OS; holds daily's lock while open."""

    def __init__(self, root: str):
        self.root = root[len("file://"):] if root.startswith("file://") else root
        self._lock = None

    def url(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def lock(self) -> None:
        import fcntl
        os.makedirs(self.root, exist_ok=True)
        f = open(os.path.join(self.root, ".lock"), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise ReportError(f"another run (flowlens daily?) holds {self.url('.lock')}: wait for it to finish")
        self._lock = f

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def list_dirs(self, *parts: str) -> list[str]:
        d = self.url(*parts)
        if not os.path.isdir(d):
            return []
        return sorted(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))

    def has_files(self, *parts: str, suffix: str = ".parquet") -> bool:
        d = self.url(*parts)
        return os.path.isdir(d) and any(n.endswith(suffix) and not n.startswith((".", "_")) for n in os.listdir(d))

    def write(self, data: bytes, *parts: str) -> None:
        """Writes `data` under a hidden temporary name beside the target, then renames it over it."""
        target = self.url(*parts)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


class HadoopStore:
    """A store at a URL (s3a://, hdfs://, …), through the Spark JVM's Hadoop FileSystem."""

    CHUNK = 4 << 20

    def __init__(self, spark, root: str):
        self.root = root.rstrip("/")
        self._jvm = spark._jvm
        self._fs = self._path(self.root).getFileSystem(spark._jsc.hadoopConfiguration())

    def _path(self, url: str):
        return self._jvm.org.apache.hadoop.fs.Path(url)

    def url(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def lock(self) -> None:  # no lock across machines; flowlens daily does not run on these stores
        pass

    def unlock(self) -> None:
        pass

    def list_dirs(self, *parts: str) -> list[str]:
        p = self._path(self.url(*parts))
        if not self._fs.exists(p):
            return []
        return sorted(s.getPath().getName() for s in self._fs.listStatus(p) if s.isDirectory())

    def has_files(self, *parts: str, suffix: str = ".parquet") -> bool:
        p = self._path(self.url(*parts))
        if not self._fs.exists(p):
            return False
        names = [s.getPath().getName() for s in self._fs.listStatus(p) if s.isFile()]
        return any(n.endswith(suffix) and not n.startswith((".", "_")) for n in names)

    def write(self, data: bytes, *parts: str) -> None:
        target = self.url(*parts)
        name = target.rsplit("/", 1)
        tmp = self._path(f"{name[0]}/.{name[1]}.{uuid.uuid4().hex[:8]}.tmp")
        out = self._fs.create(tmp, True)
        try:
            for i in range(0, len(data), self.CHUNK):
                out.write(bytearray(data[i:i + self.CHUNK]))
            out.close()
        except BaseException:
            out.close()
            self._fs.delete(tmp, False)
            raise
        t = self._path(target)
        # Hadoop's rename does not replace an existing file.
        if self._fs.exists(t):
            self._fs.delete(t, False)
        if not self._fs.rename(tmp, t):
            self._fs.delete(tmp, False)
            raise ReportError(f"cannot rename the new file onto {target}")


def open_store(spark, url: str):
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if scheme is None or scheme.group(1) == "file":
        return LocalStore(url)
    return HadoopStore(spark, url)


def parse_day(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise ReportError(f"'{s}' is not a day: use YYYY-MM-DD")


def store_days(store, section: str = "flows") -> list[dt.date]:
    """The days of STORE/section/ (date=YYYY-MM-DD folders; the null partition is no day)."""
    days = []
    for name in store.list_dirs(section):
        if name.startswith("date="):
            try:
                days.append(dt.date.fromisoformat(name[5:]))
            except ValueError:
                pass
    return days


def select_days(available: list[dt.date], date=None, start=None, end=None) -> list[dt.date]:
    """The days asked for: --date D, or --from/--to (inclusive; either may be left open)."""
    if date is not None:
        if date not in available:
            raise ReportError(f"the store has no flows for {date} (no flows/date={date}/)")
        return [date]
    days = [d for d in available if (start is None or d >= start) and (end is None or d <= end)]
    if not days:
        raise ReportError(f"the store has no flows between {start or 'its first day'} and {end or 'its last day'}")
    return days


# ---------------------------------------------------------------------------------------------
# Spark


CTE_PUSHDOWN_RULE = "org.apache.spark.sql.catalyst.optimizer.PushdownPredicatesAndPruneColumnsForCTEDef"


def session(master: str | None = None, app: str = "flowlens reports", conf: dict | None = None):
    """The session: the one spark-submit made, or a new one (UTC either way)."""
    from pyspark.sql import SparkSession
    b = SparkSession.builder.appName(app).config("spark.sql.session.timeZone", "UTC")
    if master:
        b = b.master(master)
    for k, v in (conf or {}).items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    # A session spark-submit made already keeps its settings: the queries need UTC (the
    # reports' days and times are UTC), whatever the cluster's default is.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    # The findings query reads shared common table expressions that it keeps from being inlined
    # (see `flowlens sql findings --dialect spark`); Spark 4.0's rule that pushes predicates into
    # such CTEs fails on it (IndexOutOfBoundsException while optimizing). Leaving the rule out
    # only loses that pushdown.
    excluded = [r for r in spark.conf.get("spark.sql.optimizer.excludedRules", "").split(",") if r]
    if CTE_PUSHDOWN_RULE not in excluded:
        spark.conf.set("spark.sql.optimizer.excludedRules", ",".join([*excluded, CTE_PUSHDOWN_RULE]))
    return spark


def read_flows(spark, store, days: list[dt.date]):
    """The flows of `days`: only their folders are listed and read, their schemas merged."""
    paths = [store.url("flows", f"date={d}") for d in days]
    paths = [p for p, d in zip(paths, days) if store.has_files("flows", f"date={d}")] or paths
    return (spark.read.option("mergeSchema", "true").option("basePath", store.url("flows"))
            .parquet(*paths))


def day_view(flows, day: dt.date, name: str = "flows"):
    """Registers the view `name`: the day's flows with the flows columns (and no `date`)."""
    from pyspark.sql import functions as F
    df = flows.where(F.col("date") == F.lit(day.isoformat()).cast("date")).drop("date")
    for col, typ in FLOW_COLUMNS.items():
        if col not in df.columns:
            df = df.withColumn(col, F.lit(None).cast(typ))
    df.createOrReplaceTempView(name)
    return df


def run_query(spark, sql: str, name: str = "the") -> pa.Table:
    """The query's rows, in its order, as Arrow (timestamps in UTC)."""
    from py4j.protocol import Py4JJavaError
    df = spark.sql(sql)
    # Plan it first, in this call: toArrow() plans and runs the query in a thread of its own,
    # and when that thread dies of an Error (OutOfMemoryError while optimizing a large plan)
    # pyspark waits for its answer forever. Planned here, the Error is raised here.
    try:
        df._jdf.queryExecution().executedPlan()
    except Py4JJavaError as e:
        first = str(e.java_exception).splitlines()[0] if e.java_exception is not None else str(e)
        raise ReportError(f"Spark could not plan {name} query: {first}") from e
    return df.toArrow()


# ---------------------------------------------------------------------------------------------
# The query's rows → daily's typed tables


def _column(raw: pa.Table, name: str, report: str) -> pa.ChunkedArray:
    if name not in raw.column_names:
        raise ReportError(f"the {report} query returned no column '{name}' (it returned {raw.column_names})")
    return raw.column(name)


def _counter(raw: pa.Table, name: str, report: str) -> pa.Array:
    col = _column(raw, name, report)
    if not pa.types.is_integer(col.type):
        raise ReportError(f"{report}: column '{name}' is {col.type}, not an integer")
    if col.null_count:
        raise ReportError(f"{report}: column '{name}' has {col.null_count} NULL(s); flowlens never writes one")
    return pc.cast(col, pa.int64()).combine_chunks()


def _text(raw: pa.Table, name: str, report: str, nullable: bool = False) -> pa.Array:
    col = pc.cast(_column(raw, name, report), pa.string()).combine_chunks()
    if not nullable and col.null_count:
        raise ReportError(f"{report}: column '{name}' has {col.null_count} NULL(s); flowlens never writes one")
    return col


def _timestamps(raw: pa.Table, name: str, report: str) -> pa.Array:
    """A timestamp column; the ISO 8601 text the CSV prints (`…T00:48:01.120000Z`) is parsed."""
    col = _column(raw, name, report).combine_chunks()
    if pa.types.is_timestamp(col.type):
        return pc.cast(col, TS)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        return pc.cast(col, TS)  # Arrow's ISO 8601 parser; an unparsable value is an error
    raise ReportError(f"{report}: column '{name}' is {col.type}, not a timestamp")


def _int(raw: pa.Table, name: str, report: str, typ: pa.DataType) -> pa.Array:
    col = _column(raw, name, report).combine_chunks()
    if pa.types.is_string(col.type):
        col = pc.cast(col, pa.int64())
    if col.null_count:
        raise ReportError(f"{report}: column '{name}' has {col.null_count} NULL(s); flowlens never writes one")
    return pc.cast(col, typ)  # a safe cast: a value out of range is an error


def ports_table(raw: pa.Table) -> pa.Table:
    """The port report as daily's ports.parquet: the CSV's columns plus host_rank (the host's
    place, from 1), row (the row's place in its host, from 1; Other is last), other, and each
    port as number (null for `*` and Other), `*` mark, label as printed and service name."""
    n = raw.num_rows
    ip = _text(raw, "ip", "ports")
    hostname = _text(raw, "hostname", "ports")
    sport, dport = _text(raw, "sport", "ports"), _text(raw, "dport", "ports")
    # A host's rows are consecutive: a new host starts where the address changes.
    ips = ip.to_pylist()
    host_rank, row = [0] * n, [0] * n
    rank = r = 0
    for i in range(n):
        if i == 0 or ips[i] != ips[i - 1]:
            rank, r = rank + 1, 0
        r += 1
        host_rank[i], row[i] = rank, r
    if len(set(ips)) != rank:
        raise ReportError("ports: a host's rows are not consecutive in the query's output")
    other = pc.and_(pc.equal(sport, "-1"), pc.equal(dport, "-1"))
    cols = {"host_rank": pa.array(host_rank, pa.uint32()), "hostname": hostname, "ip": ip,
            "row": pa.array(row, pa.uint32()), "other": other}
    sides = {}
    for side, labels in (("sport", sport), ("dport", dport)):
        nums, anys, texts, services = [], [], [], []
        for label in labels.to_pylist():
            if label == "-1":
                nums.append(None), anys.append(False), texts.append(None), services.append(None)
            elif label == "*":
                nums.append(None), anys.append(True), texts.append("*"), services.append(None)
            else:
                num, _, name = label.partition("/")
                if not num.isdigit() or int(num) > 65535:
                    raise ReportError(f"ports: '{label}' is not a port as the CSV prints it")
                nums.append(int(num)), anys.append(False), texts.append(label), services.append(name or None)
        sides[side] = (nums, anys, texts, services)
    cols["sport"], cols["dport"] = (pa.array(sides[s][0], pa.uint16()) for s in ("sport", "dport"))
    cols["sport_any"], cols["dport_any"] = (pa.array(sides[s][1], pa.bool_()) for s in ("sport", "dport"))
    cols["sport_label"], cols["dport_label"] = (pa.array(sides[s][2], pa.string()) for s in ("sport", "dport"))
    cols["sport_service"], cols["dport_service"] = (pa.array(sides[s][3], pa.string()) for s in ("sport", "dport"))
    for c in COUNTERS:
        cols[c] = _counter(raw, c, "ports")
    return pa.Table.from_arrays([cols[f.name] for f in PORTS_SCHEMA], schema=PORTS_SCHEMA)


def servers_table(raw: pa.Table, known: set | None = None) -> pa.Table:
    """The servers as daily's servers.parquet. With `known` (the (server, port, proto) keys of
    every other day), status is `known` or `new` as daily marks it (src/servers/baseline.rs:
    ambiguous rows get no status); without, status is null as in `flowlens servers`."""
    cols = {"server": _text(raw, "server", "servers"),
            "port": _int(raw, "port", "servers", pa.uint16()),
            "proto": _int(raw, "proto", "servers", pa.uint8()),
            "service": _text(raw, "service", "servers")}
    for c in SERVER_COUNTERS:
        cols[c] = _counter(raw, c, "servers")
    cols["first_seen"] = _timestamps(raw, "first_seen", "servers")
    cols["last_seen"] = _timestamps(raw, "last_seen", "servers")
    for c in ("rule", "evidence", "confidence"):
        cols[c] = _text(raw, c, "servers")
    if known is None:
        cols["status"] = pa.nulls(raw.num_rows, pa.string())
    else:
        keys = zip(cols["server"].to_pylist(), cols["port"].to_pylist(), cols["proto"].to_pylist())
        conf = cols["confidence"].to_pylist()
        cols["status"] = pa.array(
            [None if c == "ambiguous" else ("known" if k in known else "new") for k, c in zip(keys, conf)],
            pa.string())
    return pa.Table.from_arrays([cols[f.name] for f in SERVERS_SCHEMA], schema=SERVERS_SCHEMA)


def findings_table(raw: pa.Table) -> pa.Table:
    cols = {c: _text(raw, c, "findings") for c in ("host", "hostname", "tag", "confidence", "evidence",
                                                   "explanation")}
    cols["first_seen"] = _timestamps(raw, "first_seen", "findings")
    cols["last_seen"] = _timestamps(raw, "last_seen", "findings")
    return pa.Table.from_arrays([cols[f.name] for f in FINDINGS_SCHEMA], schema=FINDINGS_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Text outputs, as flowlens prints them (CSV quoting, ISO times, serde_json's NDJSON)


def iso_time(t) -> str:
    """As the CSV prints a time: ISO 8601 UTC with microseconds; empty for none (a time without
    a zone is taken as UTC)."""
    if t is None:
        return ""
    t = t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def csv_field(s: str) -> str:
    """RFC 4180 quoting of the ports and servers CSVs."""
    if any(c in s for c in ',"\n\r'):
        return '"' + s.replace('"', '""') + '"'
    return s


def csv_field_defused(s: str) -> str:
    """The findings CSV's quoting: a leading = + - @ tab or CR is prefixed with ' (OWASP)."""
    if s.startswith(("=", "+", "-", "@", "\t", "\r")):
        s = "'" + s
    return csv_field(s)


def ports_csv_lines(t: pa.Table) -> list[str]:
    """The CSV lines (without header) of a ports table (typed or as the query returns it)."""
    d = t.to_pydict()
    if "sport_label" in d:  # typed: the Other row's labels are null
        sport = ["-1" if o else s for s, o in zip(d["sport_label"], d["other"])]
        dport = ["-1" if o else s for s, o in zip(d["dport_label"], d["other"])]
    else:
        sport, dport = d["sport"], d["dport"]
    return [",".join([csv_field(h), ip, s, dp, *(str(d[c][i]) for c in COUNTERS)])
            for i, (h, ip, s, dp) in enumerate(zip(d["hostname"], d["ip"], sport, dport))]


def servers_csv_lines(t: pa.Table, status: bool | None = None) -> list[str]:
    """The CSV lines of a servers table; a `status` column when any row has one (as flowlens)."""
    d = t.to_pydict()
    if status is None:
        status = any(s is not None for s in d.get("status", []))
    out = []
    for i in range(t.num_rows):
        f = [d["server"][i], str(d["port"][i]), str(d["proto"][i]), csv_field(d["service"][i])]
        f += [str(d[c][i]) for c in SERVER_COUNTERS]
        f += [x if isinstance(x, str) else iso_time(x) for x in (d["first_seen"][i], d["last_seen"][i])]
        f += [csv_field(d["rule"][i]), csv_field(d["evidence"][i]), d["confidence"][i]]
        if status:
            f.append(d["status"][i] or "")
        out.append(",".join(f))
    return out


def findings_csv_lines(t: pa.Table) -> list[str]:
    d = t.to_pydict()
    out = []
    for i in range(t.num_rows):
        times = [x if isinstance(x, str) else iso_time(x) for x in (d["first_seen"][i], d["last_seen"][i])]
        out.append(",".join([d["host"][i], csv_field_defused(d["hostname"][i]), d["tag"][i], d["confidence"][i],
                             csv_field_defused(d["evidence"][i]), csv_field_defused(d["explanation"][i]), *times]))
    return out


def csv_text(report: str, t: pa.Table) -> str:
    if report == "ports":
        lines = [",".join(PORTS_CSV), *ports_csv_lines(t)]
    elif report == "servers":
        status = any(s is not None for s in t.column("status").to_pylist()) if "status" in t.column_names else False
        header = ",".join(SERVERS_CSV) + (",status" if status else "")
        lines = [header, *servers_csv_lines(t, status)]
    else:
        lines = [",".join(FINDINGS_CSV), *findings_csv_lines(t)]
    return "".join(line + "\n" for line in lines)


def _json(obj: dict) -> str:
    # serde_json's compact form: no spaces, non-ASCII as is, control characters escaped.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _iso_or_none(t):
    return None if t is None else iso_time(t)


def new_server_alerts(servers: pa.Table, known_addrs: set) -> str:
    """STORE/alerts/date=D/new-servers.ndjson: one line per new server (src/servers/format.rs JsonRow)."""
    out = []
    for r in servers.to_pylist():
        if r["status"] != "new":
            continue
        row = {k: r[k] for k in ("server", "port", "proto", "service", *SERVER_COUNTERS)}
        row["first_seen"], row["last_seen"] = _iso_or_none(r["first_seen"]), _iso_or_none(r["last_seen"])
        row.update(rule=r["rule"], evidence=r["evidence"], confidence=r["confidence"], status=r["status"],
                   address_known=r["server"] in known_addrs)
        out.append(_json(row) + "\n")
    return "".join(out)


def findings_alerts(findings: pa.Table, earlier_threat_hosts: set) -> str:
    """STORE/alerts/date=D/findings.ndjson: the threat rows of hosts with no threat on an earlier day."""
    out = []
    for r in findings.to_pylist():
        if r["tag"] in THREAT_TAGS and r["host"] not in earlier_threat_hosts:
            row = {k: r[k] for k in ("host", "hostname", "tag", "confidence", "evidence", "explanation")}
            row["first_seen"], row["last_seen"] = _iso_or_none(r["first_seen"]), _iso_or_none(r["last_seen"])
            out.append(_json(row) + "\n")
    return "".join(out)


def parquet_bytes(table: pa.Table) -> bytes:
    """The table as daily writes a report: one row group, zstd; format 2.6 so that uint16/uint32
    keep their logical types (arrow-rs writes those in its format 1.0 files, pyarrow's 1.0 cannot)."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", version="2.6", row_group_size=max(table.num_rows, 1))
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# What other days of the store say (new/known servers, earlier threats, the inventory)


def _read_section(spark, store, section: str):
    """STORE/section/ (every day) as one DataFrame with its `date`, or None when empty."""
    if not store_days(store, section):
        return None
    return spark.read.option("basePath", store.url(section)).parquet(store.url(section))


def known_servers(spark, store, day: dt.date) -> tuple[set, set]:
    """The (server, port, proto) keys, and their addresses, of every day but `day` (ambiguous
    rows are not servers): what daily's inventory knows when it marks `day`'s servers."""
    from pyspark.sql import functions as F
    df = _read_section(spark, store, "servers")
    if df is None:
        return set(), set()
    df = df.where(F.col("date") != F.lit(day.isoformat()).cast("date"))
    if "confidence" in df.columns:
        df = df.where(F.col("confidence").isNull() | (F.col("confidence") != "ambiguous"))
    keys = {(r[0], int(r[1]), int(r[2])) for r in df.select("server", "port", "proto").distinct().collect()}
    return keys, {k[0] for k in keys}


def earlier_threat_hosts(spark, store, day: dt.date) -> set:
    from pyspark.sql import functions as F
    df = _read_section(spark, store, "findings")
    if df is None:
        return set()
    df = df.where((F.col("date") < F.lit(day.isoformat()).cast("date")) & F.col("tag").isin(*THREAT_TAGS))
    return {r[0] for r in df.select("host").distinct().collect()}


def _ip_key(text: str):
    a = ipaddress.ip_address(text)
    return (a.version, int(a))


def inventory_table(spark, store) -> pa.Table:
    """STORE/inventory.parquet rebuilt from every day's servers file, as daily does (src/daily.rs
    inventory): per (server, port, proto) of non-ambiguous rows, the first and last day, the
    number of days, the earliest first_seen and latest last_seen, the last day's service; in
    address order (IPv4 before IPv6, numerically), then port, proto."""
    from pyspark.sql import functions as F
    df = _read_section(spark, store, "servers")
    if df is None:
        return INVENTORY_SCHEMA.empty_table()
    if "confidence" in df.columns:
        df = df.where(F.col("confidence").isNull() | (F.col("confidence") != "ambiguous"))
    inv = (df.groupBy("server", "port", "proto")
           .agg(F.min("date").alias("first_day"), F.max("date").alias("last_day"),
                F.count(F.lit(1)).alias("days_seen"), F.min("first_seen").alias("first_seen"),
                F.max("last_seen").alias("last_seen"), F.max_by("service", "date").alias("service"))
           .toArrow())
    order = sorted(range(inv.num_rows), key=lambda i: (_ip_key(inv["server"][i].as_py()), inv["port"][i].as_py(),
                                                       inv["proto"][i].as_py()))
    inv = inv.take(pa.array(order, pa.int64()))
    cols = {"server": inv["server"], "port": pc.cast(inv["port"], pa.uint16()),
            "proto": pc.cast(inv["proto"], pa.uint8()), "service": inv["service"],
            "first_day": pc.cast(inv["first_day"], pa.date32()), "last_day": pc.cast(inv["last_day"], pa.date32()),
            "days_seen": pc.cast(inv["days_seen"], pa.int64()),
            "first_seen": pc.cast(inv["first_seen"], TS), "last_seen": pc.cast(inv["last_seen"], TS)}
    return pa.Table.from_arrays([cols[f.name].combine_chunks() for f in INVENTORY_SCHEMA], schema=INVENTORY_SCHEMA)


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class DayResult:
    day: dt.date
    rows: dict = field(default_factory=dict)
    new_servers: int = 0
    new_threat_hosts: int = 0


def run_day(spark, store, flows, day: dt.date, sqls: dict) -> DayResult:
    """One day's reports, written into the store."""
    res = DayResult(day)
    day_view(flows, day)
    part = f"date={day}"
    tables = {}
    if sqls.get("ports"):
        tables["ports"] = ports_table(run_query(spark, sqls["ports"], "the ports"))
    if sqls.get("servers"):
        known, known_addrs = known_servers(spark, store, day)
        tables["servers"] = servers_table(run_query(spark, sqls["servers"], "the servers"), known)
        alerts = new_server_alerts(tables["servers"], known_addrs)
        res.new_servers = alerts.count("\n")
    if sqls.get("findings"):
        tables["findings"] = findings_table(run_query(spark, sqls["findings"], "the findings"))
        earlier = earlier_threat_hosts(spark, store, day)
        falerts = findings_alerts(tables["findings"], earlier)
        res.new_threat_hosts = len({json.loads(line)["host"] for line in falerts.splitlines()})
    # Every file of the day is complete before the first is renamed into place (each is its own
    # atomic rename; a run stopped between two leaves some of the day's reports new, some old).
    for report, t in tables.items():
        store.write(parquet_bytes(t), report, part, f"{report}.parquet")
        store.write(csv_text(report, t).encode(), "csv", part, f"{report}.csv")
        res.rows[report] = t.num_rows
    if "servers" in tables:
        store.write(alerts.encode(), "alerts", part, "new-servers.ndjson")
    if "findings" in tables:
        store.write(falerts.encode(), "alerts", part, "findings.ndjson")
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="spark_reports.py",
        description="flowlens's ports, servers and findings reports of a store's days, on Spark, written "
                    "into the store as flowlens daily writes them.")
    p.add_argument("--store", required=True, help="the flowlens store: a path, file://, s3a://, hdfs://, … URL")
    p.add_argument("--date", type=parse_day, help="the day (YYYY-MM-DD)")
    p.add_argument("--from", dest="start", type=parse_day, help="the first day of a range (default: the store's first)")
    p.add_argument("--to", dest="end", type=parse_day, help="the last day of a range, inclusive (default: the store's last)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--flowlens", help="the flowlens binary that prints the SQL (default: flowlens on PATH)")
    src.add_argument("--sql-dir", help="a folder of pre-generated ports.sql, servers.sql, findings.sql "
                                       "(flowlens sql X --dialect spark), for machines without flowlens")
    r = p.add_argument_group("report options (as flowlens daily and the report commands take them)")
    r.add_argument("--local", action="append", default=[], metavar="CIDR", help="a local network; repeatable")
    r.add_argument("--top", type=int, help="ports: rows listed per host")
    r.add_argument("--many", type=int, help="ports: distinct counterpart ports before a port becomes *")
    r.add_argument("--watch", help="ports: ports always listed, e.g. 6660-6669,1214")
    r.add_argument("--top-hosts", type=int, help="ports: only the K hosts with the most bytes")
    r.add_argument("--rules", help="server rules TOML")
    r.add_argument("--findings-rules", help="findings thresholds TOML")
    r.add_argument("--services", help="port names (/etc/services format)")
    r.add_argument("--ignore-flags", action="store_true", help="servers: ignore TCP flags")
    p.add_argument("--master", help="Spark master when not run by spark-submit (default: local[*])")
    p.add_argument("--no-inventory", action="store_true", help="do not rebuild STORE/inventory.parquet")
    a = p.parse_args(argv)
    if a.date is not None and (a.start or a.end):
        p.error("give --date D, or --from D and/or --to D, not both")
    if a.date is None and a.start is None and a.end is None:
        p.error("which days? give --date D, or --from D and/or --to D")
    opts = {"local": a.local, "top": a.top, "many": a.many, "watch": a.watch, "top_hosts": a.top_hosts,
            "rules": a.rules, "findings_rules": a.findings_rules, "services": a.services,
            "ignore_flags": a.ignore_flags}
    try:
        sqls = queries(a.flowlens, a.sql_dir, opts)
        spark = session(a.master)
        store = open_store(spark, a.store)
        store.lock()
        try:
            days = select_days(store_days(store), a.date, a.start, a.end)
            flows = read_flows(spark, store, days)
            for day in days:
                res = run_day(spark, store, flows, day, sqls)
                note(f"{day}: " + ", ".join(f"{k} {v} rows" for k, v in res.rows.items())
                     + f"; {res.new_servers} new server(s), {res.new_threat_hosts} host(s) with a first threat")
            if sqls.get("servers") and not a.no_inventory:
                inv = inventory_table(spark, store)
                store.write(parquet_bytes(inv), "inventory.parquet")
                note(f"inventory: {inv.num_rows} servers")
        finally:
            store.unlock()
    except ReportError as e:
        print(f"spark_reports: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
