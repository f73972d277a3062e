"""`flowlens sql findings` run by DuckDB gives the same rows as `flowlens findings`, row for row.

FLOWLENS names the binary (make test-python sets it). The query is generated with the same
options flowlens gets (thresholds, server rules, services, --local); the checked-in
sql/duckdb/findings.sql is the defaults, which a Rust test keeps in step. The flows are
`flowlens gen --plant` (the Berkeley seed's four examples and the traps) and every real-tool
capture under tests/data. tests/python/test_spark.py runs the Spark dialect on a store with IPv4
and IPv6 hosts.
"""

import collections
import csv
import io
import os
import re
import subprocess
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWLENS = os.environ.get("FLOWLENS", str(ROOT / "target" / "release" / "flowlens"))
HEADER = ["host", "hostname", "tag", "confidence", "evidence", "explanation", "first_seen", "last_seen"]
# Real captures (tests/data/formats/SOURCES, tests/data/findings/SOURCES) that convert reads as
# they are (the Argus default-column files need convert's options; *.totals are expected totals).
FORMATS = ROOT / "tests" / "data" / "formats"
CAPTURES = sorted(
    [p for p in FORMATS.glob("*") if p.name.endswith(("-dir.csv", ".binetflow")) or p.name.startswith("nfdump")]
    + [p for p in (FORMATS / "zeek").glob("*conn*") if p.suffix != ".totals"]
    + [ROOT / "tests" / "data" / "findings" / f for f in ("nmap-lab.nfdump.csv", "host-lab.nfdump.csv",
                                                          "host-lab.binetflow", "scan-lab.nfdump.csv",
                                                          "scan-lab.binetflow", "icmp-pairs.csv")])


def flowlens(*args):
    return subprocess.run([FLOWLENS, *map(str, args)], check=True, capture_output=True, text=True).stdout


def sql_rows(parquet, args):
    names = pq.read_schema(parquet).names
    extra = "".join(f", NULL::VARCHAR AS {c}" for c in ("side", "flags") if c not in names)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW flows AS SELECT *{extra} FROM read_parquet('{parquet}')")
    cursor = con.execute(flowlens("sql", "findings", *args, "--dialect", "duckdb"))
    assert [c[0] for c in cursor.description] == HEADER
    # As the CSV reads back: text as is, no time as an empty field.
    return [["" if v is None else v for v in row] for row in cursor.fetchall()]


def flowlens_rows(parquet, args):
    lines = list(csv.reader(io.StringIO(flowlens("findings", parquet, "--format", "csv", "-q", *args))))
    assert lines[0] == HEADER
    # The CSV defuses a leading = + - @ with a quote (a spreadsheet would run it); the query
    # leaves text as it is.
    return [[re.sub(r"^'(?=[=+\-@\t\r])", "", f) for f in row] for row in lines[1:]]


def assert_same(parquet, args):
    want, got = flowlens_rows(parquet, args), sql_rows(parquet, args)
    for i, (a, b) in enumerate(zip(want, got)):
        assert a == b, f"row {i + 1}: flowlens {a} != sql {b}"
    assert len(got) == len(want), f"sql {len(got)} rows, flowlens {len(want)}"
    return want


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    d = tmp_path_factory.mktemp("planted")
    text = d / "flows.txt"
    text.write_text(flowlens("gen", "--rows", 60000, "--seed", 5, "--plant"))
    flowlens("convert", "-q", text, "-o", d / "flows.parquet")
    return d / "flows.parquet"


@pytest.mark.parametrize("args", [[], ["--local", "10.0.0.0/16"], ["--local", "10.0.0.0/16", "--local", "fd00::/8"]],
                         ids=["defaults", "local", "two-nets"])
def test_planted_examples(planted, args):
    rows = assert_same(planted, args)
    tags = collections.Counter(r[2] for r in rows)
    # Every tag is in the data: the comparison covers each tag's SQL.
    assert set(tags) == {"scanner", "scan-target", "p2p", "possible-compromise", "server"}, tags


def test_other_thresholds_and_names(planted, tmp_path):
    """Rules and services are data: a user's thresholds and port names go into the query."""
    rules = (ROOT / "data" / "findings.toml").read_text()
    for key, value in [("zeek_addr_scan_hosts", "3"), ("slips_more_than", "2"), ("min_peers", "3"),
                       ("min_probes", "3"), ("beacon_min_flows", "4"), ("beacon_max_cv", "0.9"),
                       ("serve_min_bytes", "1000000"), ("min_clients", "3"), ("trw_theta1", "0.3"),
                       ("reply_window", "60"), ("irc_ports", '"6660-6669,1214"')]:
        rules, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", rules)
        assert n == 1, key
    (tmp_path / "f.toml").write_text(rules)
    (tmp_path / "services").write_text("www 80/tcp\nkazaa 1214/tcp\nsmb 445/tcp\nirc 6667/tcp\n")
    args = ["--rules", tmp_path / "f.toml", "--services", tmp_path / "services", "--local", "10.0.0.0/16"]
    rows = assert_same(planted, args)
    assert any("(smb)" in r[5] for r in rows), "the services file names the ports"


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_real_captures(capture, tmp_path):
    out = tmp_path / "flows.parquet"
    flowlens("convert", "-q", capture, "-o", out)
    assert_same(out, [])
