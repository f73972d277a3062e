"""The reports on Spark (and DuckDB, and Trino's syntax): `flowlens sql X --dialect D` gives the
rows of `flowlens X --format csv`, in order, and scripts/spark_reports.py writes a store's days
as `flowlens daily` does (issue 16).

One local Spark session (local[2], UTC) serves the whole module. The store is made by `flowlens
daily` from `flowlens gen` flows plus IPv6 flows: gen writes IPv4 only, so a second gen run's
CSV is given IPv6 addresses in several written forms (a local fd00:10::/64, 2001:db8::/32 with
zero runs in different places, IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, link-local)
before daily converts it. Day 2's IPv6 file carries an extra column the other files lack
(`vlan`), so reading the store needs mergeSchema.

FLOWLENS names the binary (make test-python sets it). The comparisons with `flowlens sql` are
skipped, with the reason, only while this flowlens has no `sql` subcommand (or no `sql findings`
for the findings cases).
"""

import csv
import datetime as dt
import importlib.util
import io
import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyspark
import pytest
import sqlglot
from pyspark.sql import functions as F
from sqlglot import exp
from sqlglot.tokens import TokenType

ROOT = Path(__file__).resolve().parents[2]
FLOWLENS = str(Path(os.environ.get("FLOWLENS", ROOT / "target" / "release" / "flowlens")).resolve())
VENV_BIN = Path(sys.executable).parent
DAYS = [dt.date(2026, 11, 21), dt.date(2026, 11, 22)]
DAY = DAYS[1]  # the day the comparisons use: it has the extra column and the new servers

_spec = importlib.util.spec_from_file_location("spark_reports", ROOT / "scripts" / "spark_reports.py")
sr = importlib.util.module_from_spec(_spec)
sys.modules["spark_reports"] = sr
_spec.loader.exec_module(sr)


def flowlens(*args, **kw):
    return subprocess.run([FLOWLENS, *map(str, args)], check=True, capture_output=True, text=True, **kw).stdout


def has_sql(report=None):
    """Whether this flowlens has `flowlens sql` (`flowlens sql REPORT`)."""
    args = ["sql", "--help"] if report is None else ["sql", report, "--help"]
    return subprocess.run([FLOWLENS, *args], capture_output=True).returncode == 0


def need_sql(report=None):
    if not has_sql():
        pytest.skip(f"`flowlens sql` does not exist in {FLOWLENS} yet (issue 16): nothing to compare")
    if report is not None and not has_sql(report):
        pytest.skip(f"`flowlens sql {report}` does not exist in {FLOWLENS} yet (issue 16)")


# ---------------------------------------------------------------------------------------------
# The store


def v6(a):
    """An IPv4 address of gen's flows as an IPv6 address, in one of several written forms."""
    ip = ipaddress.IPv4Address(a)
    n = int(ip)
    if ip in ipaddress.IPv4Network("10.0.0.0/16"):
        return str(ipaddress.IPv6Address((0xFD00_0010 << 96) | n))  # fd00:10::a00:xxyy
    form = n % 5
    if form == 0:
        return str(ipaddress.IPv6Address((0x2001_0DB8_FFFF << 80) | n))
    if form == 1:
        return f"::ffff:{a}"  # IPv4-mapped: flowlens treats it as the IPv4 address
    if form == 2:
        return str(ipaddress.IPv6Address((0x2001_0DB8_0000_0000_0001 << 48) | (n & 0xFFFF_FFFF)))  # 2001:db8::1:0:…
    if form == 3:
        return str(ipaddress.IPv6Address((0x64_FF9B << 96) | n))  # NAT64
    return str(ipaddress.IPv6Address((0xFE80 << 112) | (n & 0xFFFF)))  # link-local, few distinct


def write_v6_csv(path, rows, seed, start, extra=None):
    text = flowlens("gen", "--rows", rows, "--seed", seed, "--start", start, "--format", "csv")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    si, di = header.index("sip"), header.index("dip")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header + ([extra] if extra else []))
        for i, row in enumerate(reader):
            row[si], row[di] = v6(row[si]), v6(row[di])
            w.writerow(row + ([f"v{i % 5}"] if extra else []))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two days made by flowlens daily: IPv4 (with the planted hosts) and IPv6 flows each; day 2
    shares day 1's IPv4 servers (known) and has other IPv6 ones (new)."""
    d = tmp_path_factory.mktemp("spark")
    s = d / "store"
    flowlens("gen", "--rows", 12_000, "--plant", "--seed", 5, "--start", DAYS[0], "-o", d / "d1.rw")
    write_v6_csv(d / "d1v6.csv", 4_000, 6, DAYS[0])
    flowlens("daily", "-q", "--store", s, "--date", DAYS[0], d / "d1.rw", d / "d1v6.csv")
    flowlens("gen", "--rows", 12_000, "--plant", "--seed", 5, "--start", DAYS[1], "-o", d / "d2.rw")
    write_v6_csv(d / "d2v6.csv", 4_000, 7, DAYS[1], extra="vlan")
    flowlens("daily", "-q", "--store", s, "--date", DAYS[1], d / "d2.rw", d / "d2v6.csv")
    return s


def day_flows(store, day=DAY):
    return store / "flows" / f"date={day}"


# Settings for days of a few thousand rows, where Spark's fixed costs are all there is: one
# shuffle partition, no adaptive re-planning, and no whole-stage code generation (compiling the
# generated Java costs more than it saves here: the queries ran 2-3 times faster without it).
SPARK_TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "3g",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
}


@pytest.fixture(scope="module")
def spark():
    s = sr.session("local[2]", app="flowlens tests", conf=SPARK_TEST_CONF)
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def flows(spark, store):
    return sr.read_flows(spark, sr.open_store(spark, str(store)), DAYS)


# ---------------------------------------------------------------------------------------------
# a. Spark reads the store


def test_spark_reads_the_store_with_the_contract_types(spark, store, flows):
    types = {f.name: f.dataType.simpleString() for f in flows.schema.fields}
    assert types == {
        "stime": "timestamp", "etime": "timestamp", "sip": "string", "dip": "string",
        "sport": "int", "dport": "int",
        # uint8 in the file: Spark reads an unsigned 8-bit column as smallint (no unsigned tinyint)
        "proto": "smallint",
        "packets": "bigint", "bytes": "bigint", "flags": "string",
        "sensor": "string", "vlan": "string",  # extra columns; vlan is in day 2's file only
        "date": "date",  # the hive partition
    }
    # Both days, every row, and the extra column null where a file lacks it.
    counts = {r["date"]: (r["n"], r["v"]) for r in flows.groupBy("date").agg(
        F.count("*").alias("n"), F.count("vlan").alias("v")).collect()}
    n = {d: pq.ParquetFile(day_flows(store, d) / "part-00000.parquet").metadata.num_rows for d in DAYS}
    assert counts == {DAYS[0]: (n[DAYS[0]], 0), DAYS[1]: (n[DAYS[1]], 4_000)}
    # Times are UTC instants: the session's zone is UTC, and the first flow starts on the day.
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    first = flows.where("date = DATE'2026-11-22'").selectExpr("CAST(min(stime) AS STRING) AS t").first()["t"]
    assert first.startswith("2026-11-22 00:0"), first
    # Addresses are the text flowlens wrote, IPv6 included.
    v6 = flows.where("sip LIKE 'fd00:10::%' OR sip LIKE '::ffff:%'").count()
    assert v6 > 1000


def test_only_the_days_asked_for_are_read(spark, store):
    st = sr.open_store(spark, str(store))
    assert sr.store_days(st) == DAYS
    assert sr.select_days(DAYS, date=DAYS[0]) == [DAYS[0]]
    assert sr.select_days(DAYS, start=DAYS[1]) == [DAYS[1]]
    assert sr.select_days(DAYS, end=DAYS[0]) == [DAYS[0]]
    assert sr.select_days(DAYS, start=DAYS[0], end=DAYS[1]) == DAYS
    with pytest.raises(sr.ReportError, match="no flows for 2026-11-23"):
        sr.select_days(DAYS, date=dt.date(2026, 11, 23))
    with pytest.raises(sr.ReportError, match="no flows between"):
        sr.select_days(DAYS, start=dt.date(2026, 12, 1))
    one = sr.read_flows(spark, st, [DAYS[0]])
    files = one.inputFiles()
    assert files and all(f"date={DAYS[0]}" in f for f in files), files
    # Only day 1's footer was read: day 2's extra column is not in the merged schema.
    assert "vlan" not in one.columns and "date" in one.columns


def test_the_days_view_has_the_flows_columns(spark, flows):
    df = sr.day_view(flows, DAYS[0], name="flows_day1")
    assert "date" not in df.columns
    # `side` (written for bidirectional inputs only) is there as NULL for the servers query.
    assert spark.sql("SELECT count(*) AS n, count(side) AS s FROM flows_day1").collect()[0].asDict() == {
        "n": df.count(), "s": 0}


# ---------------------------------------------------------------------------------------------
# b., c. The queries against flowlens, row for row

SERVICES_FILE = "ssh 22/tcp\nwww 80/tcp\nmyapp 8080/tcp\ndomain 53/udp\n"


def cases(tmp):
    services = tmp / "services"
    services.write_text(SERVICES_FILE)
    local = ["10.0.0.0/16", "fd00:10::/64", "2001:db8::/33"]
    return {
        "ports": {
            "defaults": [],
            "local-knobs": [*sum((["--local", c] for c in local), []), "--top", 4, "--many", 5,
                            "--watch", "22,80,6000-6010", "--top-hosts", 40, "--services", services],
        },
        "servers": {
            "defaults": [],
            "local-knobs": [*sum((["--local", c] for c in local), []), "--ignore-flags", "--services", services],
        },
        "findings": {
            "defaults": [],
            "local": [*sum((["--local", c] for c in local), [])],
        },
    }


CASE_IDS = [(r, c) for r, cs in {"ports": ["defaults", "local-knobs"], "servers": ["defaults", "local-knobs"],
                                 "findings": ["defaults", "local"]}.items() for c in cs]


@pytest.fixture(scope="module")
def option_sets(tmp_path_factory):
    return cases(tmp_path_factory.mktemp("options"))


def flowlens_csv(report, flows_dir, args):
    lines = flowlens(report, flows_dir, "--format", "csv", "-q", *args).splitlines()
    assert lines[0] == ",".join(sr.CSV_COLUMNS[report])
    return lines[1:]


def sql_of(report, dialect, args):
    return flowlens("sql", report, *args, "--dialect", dialect)


def csv_lines(report, raw):
    """The query's rows as flowlens prints them in CSV (the same quoting, ISO times)."""
    assert raw.column_names == sr.CSV_COLUMNS[report]
    return {"ports": sr.ports_csv_lines, "servers": sr.servers_csv_lines,
            "findings": sr.findings_csv_lines}[report](raw)


def assert_same_rows(want, got, what):
    assert len(got) == len(want), f"{what}: {len(got)} rows, flowlens {len(want)}"
    for i, (a, b) in enumerate(zip(want, got)):
        assert a == b, f"{what}: row {i + 1}: flowlens {a!r} != {b!r}"


def check_types(report, raw, engine):
    """Counters are 64-bit integers; times are timestamps or ISO text."""
    counters = {"ports": sr.COUNTERS, "servers": sr.SERVER_COUNTERS, "findings": []}[report]
    for c in counters:
        assert raw.schema.field(c).type == pa.int64(), f"{engine} {report}: {c} is {raw.schema.field(c).type}"


def spark_case(spark, flows, store, option_sets, report, case):
    need_sql(report)
    args = option_sets[report][case]
    sql = sr.strip_statement(sql_of(report, "spark", args))
    sr.day_view(flows, DAY)
    raw = sr.run_query(spark, sql, f"the {report} {case}")
    check_types(report, raw, "spark")
    want = flowlens_csv(report, day_flows(store), args)
    assert len(want) > (0 if report == "findings" else 10)
    assert_same_rows(want, csv_lines(report, raw), f"spark {report} {case}")


DEFAULT_CASES = [(r, c) for r, c in CASE_IDS if c == "defaults"]
OPTION_CASES = [(r, c) for r, c in CASE_IDS if c != "defaults"]


def marked(cases):
    return [pytest.param(r, c, id=f"{r}-{c}") for r, c in cases]


@pytest.mark.parametrize("report,case", marked(DEFAULT_CASES))
def test_spark_rows_equal_flowlens(spark, flows, store, option_sets, report, case):
    spark_case(spark, flows, store, option_sets, report, case)


def duckdb_flows(store, day=DAY):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW flows_file AS SELECT * FROM read_parquet('{day_flows(store, day)}/*.parquet', "
                "union_by_name = true)")
    cols = {r[0] for r in con.execute("DESCRIBE flows_file").fetchall()}
    extra = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in sr.FLOW_COLUMNS if c not in cols)
    con.execute(f"CREATE VIEW flows AS SELECT *{', ' + extra if extra else ''} FROM flows_file")
    return con


@pytest.mark.parametrize("report,case", marked(CASE_IDS))
def test_duckdb_rows_equal_flowlens(store, option_sets, report, case):
    need_sql(report)
    args = option_sets[report][case]
    con = duckdb_flows(store)
    raw = con.execute(sql_of(report, "duckdb", args)).to_arrow_table()
    check_types(report, raw, "duckdb")
    want = flowlens_csv(report, day_flows(store), args)
    assert_same_rows(want, csv_lines(report, raw), f"duckdb {report} {case}")


def test_a_store_converted_in_parallel(spark, store, tmp_path):
    """The README's way past one machine: one `flowlens convert --partition day --part NAME` per
    input file (here IPv4 rwcut and IPv6 CSV with an extra column, into the same day), then the
    query on Spark. The day's two files are read as one (mergeSchema within the day too)."""
    need_sql("ports")
    d = tmp_path / "parallel"
    flowlens("convert", "-q", store.parent / "d2.rw", "-o", d / "flows", "--partition", "day", "--part", "v4")
    flowlens("convert", "-q", store.parent / "d2v6.csv", "-o", d / "flows", "--partition", "day", "--part", "v6")
    assert sorted(p.name for p in (d / "flows" / f"date={DAY}").iterdir()) == ["v4.parquet", "v6.parquet"]
    st = sr.open_store(spark, str(d))
    flows = sr.read_flows(spark, st, sr.select_days(sr.store_days(st), date=DAY))
    assert "vlan" in flows.columns and "sensor" in flows.columns
    sr.day_view(flows, DAY)
    raw = sr.run_query(spark, sr.strip_statement(sql_of("ports", "spark", [])), "the ports")
    assert_same_rows(flowlens_csv("ports", d / "flows" / f"date={DAY}", []), csv_lines("ports", raw),
                     "spark ports on a store converted in parallel")


# ---------------------------------------------------------------------------------------------
# d. Trino: syntax only (no server here)

# Trino functions (https://trino.io/docs/current/functions/list.html) that sqlglot 30 parses as
# anonymous functions: allowed in the Trino SQL though sqlglot does not model them.
TRINO_FUNCTIONS = {
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
    "from_base", "to_base", "from_big_endian_64", "to_big_endian_64", "from_hex", "to_hex", "split_part",
    "regexp_extract", "regexp_like", "regexp_replace", "regexp_split", "strpos", "lpad", "rpad", "codepoint",
    "contains", "element_at", "cardinality", "sequence", "transform", "filter", "reduce", "zip_with",
    "any_match", "all_match", "none_match", "array_position", "array_join", "split", "ip_prefix",
    "is_subnet_of", "from_iso8601_timestamp", "to_iso8601", "format_datetime", "date_format", "to_unixtime",
    "from_unixtime", "with_timezone", "at_timezone", "max_by", "min_by", "count_if", "bool_or", "bool_and",
    "approx_distinct", "try_cast", "typeof", "word_stem", "hamming_distance", "luhn_check", "normalize",
    "from_unixtime_nanos", "date_diff", "date_add", "date_trunc", "concat_ws", "chr",
}


@pytest.mark.parametrize("report,case", CASE_IDS, ids=[f"{r}-{c}" for r, c in CASE_IDS])
def test_trino_sql_parses(option_sets, report, case):
    need_sql(report)
    sql = sql_of(report, "trino", option_sets[report][case])
    statements = [s for s in sqlglot.parse(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE) if s]
    assert len(statements) == 1, f"{len(statements)} statements"
    tree = sqlglot.parse_one(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Query), type(tree)
    assert "flows" in {t.name for t in tree.find_all(exp.Table)}
    # sqlglot reads some spellings Trino does not have: `x::T` casts, and any unknown function
    # name (kept as an anonymous function). The functions sqlglot does not know must be Trino's.
    tokens = sqlglot.Dialect.get_or_raise("trino").tokenize(sql)
    assert not [t for t in tokens if t.token_type == TokenType.DCOLON], "a :: cast (not Trino SQL)"
    unknown = {f.name.lower() for f in tree.find_all(exp.Anonymous)}
    assert unknown <= TRINO_FUNCTIONS, f"functions that are not Trino's: {sorted(unknown - TRINO_FUNCTIONS)}"


# ---------------------------------------------------------------------------------------------
# e. scripts/spark_reports.py writes what flowlens daily writes


def parquet_layout(path):
    """A Parquet file's columns as readers see them: Arrow schema (names, order, types,
    nullability) and each leaf's physical and logical type."""
    f = pq.ParquetFile(path)
    leaves = [(c.path, c.physical_type, str(c.logical_type), c.max_definition_level) for c in f.schema]
    return f.schema_arrow.remove_metadata(), leaves


DAY_FILES = [f"{r}/date={{d}}/{r}.parquet" for r in sr.REPORTS] + \
    [f"csv/date={{d}}/{r}.csv" for r in sr.REPORTS] + \
    ["alerts/date={d}/new-servers.ndjson", "alerts/date={d}/findings.ndjson"]


# What spark_reports.py writes: a copy of the store without these is the store before the reports.
REPORT_OUTPUTS = shutil.ignore_patterns("ports", "servers", "findings", "csv", "alerts", "inventory.parquet")


def store_file_differences(daily, ours, files):
    """What differs between daily's files and ours (every file is looked at)."""
    problems = []
    for f in files:
        a, b = daily / f, ours / f
        if not b.exists():
            problems.append(f"{f}: not written")
        elif f.endswith(".parquet"):
            if parquet_layout(b) != parquet_layout(a):
                problems.append(f"{f}: schema {parquet_layout(b)} != daily's {parquet_layout(a)}")
                continue
            ta, tb = pq.read_table(a).to_pylist(), pq.read_table(b).to_pylist()
            if ta != tb:
                i = next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y), min(len(ta), len(tb)))
                problems.append(f"{f}: {len(tb)} rows, daily {len(ta)}; first difference at row {i + 1}: "
                                f"{tb[i] if i < len(tb) else None} != daily's {ta[i] if i < len(ta) else None}")
        else:
            la, lb = a.read_text().splitlines(), b.read_text().splitlines()
            if la != lb:
                i = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
                problems.append(f"{f}: {len(lb)} lines, daily {len(la)}; first difference at line {i + 1}: "
                                f"{lb[i] if i < len(lb) else None!r} != daily's {la[i] if i < len(la) else None!r}")
    return problems


def assert_same_store_files(daily, ours, days, reports=sr.REPORTS):
    files = [f.format(d=d) for d in days for f in DAY_FILES if any(r in f for r in reports)]
    if "servers" in reports:
        files.append("inventory.parquet")
    problems = store_file_differences(daily, ours, files)
    assert not problems, "\n".join(problems)


def stand_in_queries(spark, store, day):
    """Queries that return daily's own CSV rows for the day (the CSV's columns, as the SQL
    returns them): the writer is tested apart from the SQL."""
    out = {}
    for report in sr.REPORTS:
        text = [c for c in sr.CSV_COLUMNS[report] if c not in sr.COUNTERS + sr.SERVER_COUNTERS]
        t = pacsv.read_csv(store / "csv" / f"date={day}" / f"{report}.csv", convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in text}, strings_can_be_null=False))
        if report == "servers":
            t = t.drop_columns(["status"])
        for c in ("first_seen", "last_seen"):
            if c in t.column_names:  # timestamps, as the Spark SQL returns them
                t = t.set_column(t.column_names.index(c), c, sr._timestamps(t, c, report))
        name = f"daily_{report}_{day:%Y%m%d}"
        spark.createDataFrame(t).coalesce(1).createOrReplaceTempView(name)
        out[report] = f"SELECT * FROM {name}"
    return out


def test_writer_reproduces_daily_from_daily_rows(spark, store, tmp_path):
    """Fed daily's own rows, the writer makes daily's files: typed Parquet, CSV, status new/known,
    both alerts, the inventory (day 2 has known IPv4 and new IPv6 servers, first threats)."""
    ours = tmp_path / "store"
    shutil.copytree(store, ours, ignore=REPORT_OUTPUTS)  # the flows, as daily found the store
    st = sr.open_store(spark, str(ours))
    flows = sr.read_flows(spark, st, DAYS)
    for day in DAYS:
        res = sr.run_day(spark, st, flows, day, stand_in_queries(spark, store, day))
        assert res.rows["ports"] > 100 and res.rows["servers"] > 100
    st.write(sr.parquet_bytes(sr.inventory_table(spark, st)), "inventory.parquet")
    assert_same_store_files(store, ours, DAYS)
    statuses = pq.read_table(ours / "servers" / f"date={DAY}" / "servers.parquet").column("status").to_pylist()
    assert statuses.count("new") > 10 and statuses.count("known") > 10
    # flowlens reads them as its own: the day's page made from them is daily's page.
    flowlens("report", ours, "--date", DAY, "-o", tmp_path / "page.html")
    assert (tmp_path / "page.html").read_bytes() == (store / "report" / f"date={DAY}" / "report.html").read_bytes()


def test_store_written_through_hadoop_filesystem(spark, tmp_path):
    """A store at a URL (s3a://, hdfs://) is written through Spark's Hadoop FileSystem: the same
    write-then-rename, tried here on file://."""
    hs = sr.HadoopStore(spark, f"file://{tmp_path}/s")
    hs.CHUNK = 1000  # several chunks
    data = bytes(range(256)) * 20
    hs.write(data, "ports", "date=2026-11-21", "ports.parquet")
    hs.write(data[:10], "ports", "date=2026-11-21", "ports.parquet")  # replaces
    assert (tmp_path / "s/ports/date=2026-11-21/ports.parquet").read_bytes() == data[:10]
    assert hs.list_dirs("ports") == ["date=2026-11-21"]
    assert hs.has_files("ports", "date=2026-11-21") and not hs.has_files("ports")
    left = [p.name for p in (tmp_path / "s/ports/date=2026-11-21").iterdir() if p.name.endswith(".tmp")]
    assert left == []


def test_script_reproduces_daily(spark, store, tmp_path):
    """`spark_reports.py --from D1 --to D2` on a copy of the store gives daily's files."""
    need_sql()
    ours = tmp_path / "store"
    shutil.copytree(store, ours, ignore=REPORT_OUTPUTS)
    status = sr.main(["--store", str(ours), "--from", str(DAYS[0]), "--to", str(DAYS[1]), "--flowlens", FLOWLENS])
    assert status == 0
    reports = [r for r in sr.REPORTS if has_sql(r)]
    assert_same_store_files(store, ours, DAYS, reports)


def test_spark_submit_with_sql_dir(store, tmp_path):
    """As on a cluster without flowlens: spark-submit, queries from --sql-dir, one day."""
    need_sql()
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    # The ports query alone: this checks the way in (spark-submit, --sql-dir, file:// URL), the
    # other reports are checked in-process above; a missing servers.sql/findings.sql is a note.
    (sql_dir / "ports.sql").write_text(sql_of("ports", "spark", []))
    ours = tmp_path / "store"
    shutil.copytree(store, ours, ignore=REPORT_OUTPUTS)
    conf = sum((["--conf", f"{k}={v}"] for k, v in SPARK_TEST_CONF.items()), [])
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_HOME": str(Path(pyspark.__file__).parent), "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    p = subprocess.run(
        [VENV_BIN / "spark-submit", "--master", "local[2]", *conf, ROOT / "scripts" / "spark_reports.py",
         "--store", f"file://{ours}", "--date", str(DAYS[0]), "--sql-dir", sql_dir],
        capture_output=True, text=True, env=env)
    # spark-submit passes the Python driver's stderr on to its own stdout.
    notes = [line for line in (p.stdout + p.stderr).splitlines() if line.startswith("spark_reports:")]
    assert p.returncode == 0, "\n".join(notes) or p.stderr[-3000:]
    assert any(n.startswith(f"spark_reports: {DAYS[0]}: ports ") for n in notes), notes
    assert any(n.endswith("servers.sql not found: no servers report") for n in notes), notes
    problems = store_file_differences(store, ours, [f"ports/date={DAYS[0]}/ports.parquet",
                                                    f"csv/date={DAYS[0]}/ports.csv"])
    assert not problems, "\n".join(problems)
    assert not (ours / "servers").exists() and not (ours / "inventory.parquet").exists()


def test_script_refuses_what_it_cannot_honour(store, tmp_path, capsys):
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    assert sr.main(["--store", str(store), "--date", str(DAY), "--sql-dir", str(sql_dir), "--top", "3"]) == 2
    assert "--top cannot change them" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sr.main(["--store", str(store), "--date", str(DAY), "--from", str(DAY)])
    assert sr.main(["--store", str(store), "--date", str(DAY), "--flowlens", str(tmp_path / "nope")]) == 2
    assert "flowlens not found" in capsys.readouterr().err


def test_script_keeps_off_a_store_daily_is_working_on(spark, store, capsys):
    """The script takes the lock flowlens daily takes (STORE/.lock), and fails when it is held."""
    import fcntl
    need_sql()
    with open(store / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        status = sr.main(["--store", str(store), "--date", str(DAY), "--flowlens", FLOWLENS])
    assert status == 2
    assert "holds" in capsys.readouterr().err


def test_statement_is_stripped_for_spark():
    assert sr.strip_statement("-- c\nSELECT 1;\n") == "-- c\nSELECT 1"
    assert sr.strip_statement("SELECT 1 ;\n-- end\n\n") == "SELECT 1"
    assert sr.strip_statement("SELECT ';'") == "SELECT ';'"
    with pytest.raises(sr.ReportError):
        sr.strip_statement("-- nothing\n;")


# Last in the module: with --local, Spark's optimizer once ran out of memory on these queries
# (it pushed the network test down through the address-key steps, copying each into the next);
# the queries now test the networks in an aggregate (`sql::inside_nets`). Should that come back,
# an OutOfMemoryError can leave the session unusable, so nothing runs after these.
@pytest.mark.parametrize("report,case", marked(OPTION_CASES))
def test_spark_rows_equal_flowlens_with_options(spark, flows, store, option_sets, report, case):
    spark_case(spark, flows, store, option_sets, report, case)
