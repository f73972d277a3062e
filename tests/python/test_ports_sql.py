"""`flowlens sql ports` run by DuckDB gives the same report as `flowlens ports`, row for row.

FLOWLENS names the binary (make test-python sets it). Both sides get the same options; one case
gives both an empty services file (port numbers only). The checked-in sql/duckdb/ports.sql is what
the defaults print (a Rust test says so); tests/python/test_spark.py runs the Spark dialect.
"""

import atexit
import os
import subprocess
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWLENS = os.environ.get("FLOWLENS", str(ROOT / "target" / "release" / "flowlens"))
# An empty services file: port numbers only.
NO_SERVICES = tempfile.NamedTemporaryFile(prefix="flowlens-no-services-", delete=False).name
atexit.register(os.unlink, NO_SERVICES)


def flowlens(*args):
    return subprocess.run([FLOWLENS, *map(str, args)], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """200,000 generated flows in one file, and two days of them in a hive store."""
    d = tmp_path_factory.mktemp("ports")
    flowlens("gen", "--rows", 200_000, "--seed", 3, "-o", d / "flows.rw")
    flowlens("convert", "-q", d / "flows.rw", "-o", d / "flows.parquet")
    flowlens("gen", "--rows", 60_000, "--seed", 4, "--days", 2, "-o", d / "days.rw")
    flowlens("convert", "-q", d / "days.rw", "-o", d / "store", "--partition", "day")
    return d


def options(local=(), many=None, top=None, watch=None, top_hosts=None, services=None):
    """The report options as flags, the same for `flowlens ports` and `flowlens sql ports`."""
    args = []
    for cidr in local or ():
        args += ["--local", cidr]
    for flag, value in [("--many", many), ("--top", top), ("--top-hosts", top_hosts), ("--services", services)]:
        if value is not None:
            args += [flag, value]
    if watch is not None:
        args += ["--watch", ",".join(map(str, watch)) or "none"]
    return args


def sql_report(source, **case):
    con = duckdb.connect()
    con.execute(f"CREATE VIEW flows AS SELECT * FROM read_parquet('{source}', union_by_name = true)")
    sql = flowlens("sql", "ports", *options(**case), "--dialect", "duckdb")
    cursor = con.execute(sql)
    assert [c[0] for c in cursor.description] == HEADER.split(",")
    # The CSV's text: hostname is the address; numbers plain.
    return [list(map(str, r)) for r in cursor.fetchall()]


HEADER = "hostname,ip,sport,dport,flows,in_packets,in_bytes,out_packets,out_bytes,total_packets,total_bytes"


def flowlens_report(source, **case):
    lines = flowlens("ports", source, "--format", "csv", "-q", *options(**case)).splitlines()
    assert lines[0] == HEADER
    return [line.split(",") for line in lines[1:]]


def assert_same(fl, sq):
    assert len(fl) == len(sq)
    for i, (a, b) in enumerate(zip(fl, sq)):
        assert a == b, f"row {i}: flowlens {a} != sql {b}"


CASES = [
    dict(),
    dict(local=["10.0.0.0/16"]),
    dict(local=["10.0.0.0/16", "203.0.113.0/24"], many=5, top=4, watch=[22, 80, 6000], top_hosts=30),
    dict(local=["10.0.2.0/23"], many=0, top=0, watch=[]),
    dict(local=["10.0.0.0/16"], services=NO_SERVICES),
]


@pytest.mark.parametrize("case", CASES, ids=["all-hosts", "local", "knobs", "extremes", "no-services"])
def test_sql_matches_flowlens_on_generated_flows(generated, case):
    path = generated / "flows.parquet"
    sq = sql_report(path, **case)
    fl = flowlens_report(path, **case)
    assert len(fl) > 10
    assert_same(fl, sq)


def test_sql_matches_flowlens_on_a_hive_store(generated):
    store = generated / "store"
    assert len(list(store.glob("date=*/*.parquet"))) == 2
    sq = sql_report(f"{store}/**/*.parquet", local=["10.0.0.0/16"])
    fl = flowlens_report(store, local=["10.0.0.0/16"])
    assert_same(fl, sq)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """IPv6 in every written form, nulls, self-flows, ties between hosts."""
    d = tmp_path_factory.mktemp("mixed")
    addrs = ["2001:db8::1", "2001:db8::", "::1", "::ffff:10.1.2.3", "2001:db8:0:1::7", "fe80::1:2",
             "10.0.0.1", "10.0.0.2", "10.0.0.10", "192.0.2.1"]
    rows = []
    for i in range(3000):
        s, t = addrs[(i * 7) % len(addrs)], addrs[(i * 3 + i // 10) % len(addrs)]
        rows.append(dict(
            sip=s, dip=t,
            sport=None if i % 97 == 0 else (i % 5 if i % 3 else 40000 + i % 11),
            dport=None if i % 89 == 0 else (i % 4 if i % 2 else 6660 + i % 3),
            packets=None if i % 83 == 0 else i % 13,
            bytes=None if i % 79 == 0 else (i % 13) * 40,
        ))
    table = pa.table({
        "sip": pa.array([r["sip"] for r in rows], pa.string()),
        "dip": pa.array([r["dip"] for r in rows], pa.string()),
        "sport": pa.array([r["sport"] for r in rows], pa.uint16()),
        "dport": pa.array([r["dport"] for r in rows], pa.uint16()),
        "proto": pa.array([6] * len(rows), pa.uint8()),
        "packets": pa.array([r["packets"] for r in rows], pa.int64()),
        "bytes": pa.array([r["bytes"] for r in rows], pa.int64()),
    })
    # zstd: flowlens reads what it writes (its parquet build leaves Snappy out).
    pq.write_table(table, d / "mixed.parquet", row_group_size=500, compression="zstd")
    return d / "mixed.parquet"


@pytest.mark.parametrize("local", [[], ["2001:db8::/32"], ["::/0", "10.0.0.0/29"], ["::ffff:0:0/96", "fe80::/10"]])
def test_sql_matches_flowlens_on_ipv6_and_nulls(mixed, local):
    sq = sql_report(mixed, local=local, top=3)
    fl = flowlens_report(mixed, local=local, top=3)
    assert len(fl) > 0
    assert_same(fl, sq)


def test_rows_add_up_to_host_totals(generated):
    """Conservation, checked on flowlens's Parquet output with DuckDB."""
    out = generated / "ports.parquet"
    flowlens("ports", generated / "flows.parquet", "--local", "10.0.0.0/16", "--format", "parquet", "-q", "-o", out)
    con = duckdb.connect()
    per_host = con.execute(f"""
        SELECT ip, sum(flows), sum(in_bytes + out_bytes), bool_or(other), count(*)
        FROM read_parquet('{out}') GROUP BY ip""").fetchall()
    totals = dict(con.execute(f"""
        WITH h AS (SELECT sip AS ip, 1 AS f, bytes AS b FROM read_parquet('{generated / "flows.parquet"}')
                   WHERE sip LIKE '10.0.%'
                   UNION ALL
                   SELECT dip, CASE WHEN sip = dip THEN 0 ELSE 1 END, bytes FROM read_parquet('{generated / "flows.parquet"}')
                   WHERE dip LIKE '10.0.%')
        SELECT ip, [sum(f), sum(b)] FROM h GROUP BY ip""").fetchall())
    assert len(per_host) == len(totals)
    for ip, flows, total_bytes, _, _ in per_host:
        assert [flows, total_bytes] == totals[ip], ip
