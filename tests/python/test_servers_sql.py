"""`flowlens sql servers` run by DuckDB gives the same report as `flowlens servers`, row for row.

FLOWLENS names the binary (make test-python sets it). The SQL is the built-in rules compiled by
`flowlens sql servers` with the same options as flowlens gets (the checked-in
sql/duckdb/servers.sql is the defaults, which a Rust test keeps in step); both sides use the
built-in services table. The SQL reads a view `flows` that must have a `side` column: files
without one get it as NULL, as the query's header says. tests/python/test_spark.py runs the
Spark dialect.
"""

import csv
import io
import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOWLENS = os.environ.get("FLOWLENS", str(ROOT / "target" / "release" / "flowlens"))
SEI = ROOT / "data" / "sei"
FORMATS = ROOT / "tests" / "data" / "formats"
HEADER = ("server,port,proto,service,clients,client_ports,flows_in,packets_in,bytes_in,"
          "flows_out,packets_out,bytes_out,first_seen,last_seen,rule,evidence,confidence")


def flowlens(*args):
    return subprocess.run([FLOWLENS, *map(str, args)], check=True, capture_output=True, text=True).stdout


def parquet_files(source):
    source = Path(source)
    return sorted(source.rglob("*.parquet")) if source.is_dir() else [source]


def sql_report(source, local=None, ignore_flags=None):
    files = parquet_files(source)
    has_side = any("side" in pq.read_schema(f).names for f in files)
    con = duckdb.connect()
    paths = [str(f) for f in files]
    side = "" if has_side else ", NULL::VARCHAR AS side"
    con.execute(f"CREATE VIEW flows AS SELECT *{side} FROM read_parquet({paths!r}, union_by_name = true)")
    args = ["sql", "servers", "--dialect", "duckdb"]
    for cidr in local or ():
        args += ["--local", cidr]
    if ignore_flags:
        args.append("--ignore-flags")
    cursor = con.execute(flowlens(*args))
    assert ",".join(c[0] for c in cursor.description) == HEADER
    # The CSV's text: numbers plain, no time as an empty field.
    return [["" if v is None else str(v) for v in row] for row in cursor.fetchall()]


def flowlens_report(source, local=(), ignore_flags=False):
    args = ["servers", source, "--format", "csv", "-q"]
    for cidr in local:
        args += ["--local", cidr]
    if ignore_flags:
        args.append("--ignore-flags")
    lines = list(csv.reader(io.StringIO(flowlens(*args))))
    assert ",".join(lines[0]) == HEADER
    return lines[1:]


def assert_same(fl, sq):
    for i, (a, b) in enumerate(zip(fl, sq)):
        assert a == b, f"row {i}: flowlens {a} != sql {b}"
    assert len(fl) == len(sq)


def keys(rows):
    """(server, port, proto, service) of each row."""
    return [(r[0], int(r[1]), int(r[2]), r[3]) for r in rows]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """200,000 generated flows in one file, and two days of them in a hive store."""
    d = tmp_path_factory.mktemp("servers")
    flowlens("gen", "--rows", 200_000, "--seed", 3, "-o", d / "flows.rw")
    flowlens("convert", "-q", d / "flows.rw", "-o", d / "flows.parquet")
    flowlens("gen", "--rows", 60_000, "--seed", 4, "--days", 2, "-o", d / "days.rw")
    flowlens("convert", "-q", d / "days.rw", "-o", d / "store", "--partition", "day")
    return d


@pytest.mark.parametrize("case", [dict(), dict(local=["10.0.0.0/16"]), dict(ignore_flags=True)],
                         ids=["all", "local", "ignore-flags"])
def test_sql_matches_flowlens_on_generated_flows(generated, case):
    path = generated / "flows.parquet"
    sq = sql_report(path, **case)
    fl = flowlens_report(path, **case)
    # gen's servers span every kind of rule: tied ones, "*" ones, several confidences.
    assert len(fl) > 20
    assert {r[14] for r in fl} >= {"ssh", "ftp", "ftp-data-active", "ftp-data-passive", "pptp", "pptp-gre", "dns", "ntp"}
    assert_same(fl, sq)


def test_sql_matches_flowlens_on_a_hive_store(generated):
    store = generated / "store"
    assert len(list(store.glob("date=*/*.parquet"))) == 2
    sq = sql_report(store, local=["10.0.0.0/8"])
    fl = flowlens_report(store, local=["10.0.0.0/8"])
    assert len(fl) > 10
    assert all(r[0].startswith("10.") for r in fl)
    assert_same(fl, sq)


def test_ignore_flags_changes_only_the_confidence(generated):
    path = generated / "flows.parquet"
    with_flags, without = sql_report(path), sql_report(path, ignore_flags=True)
    assert keys(with_flags) == keys(without)
    assert any("SYN+ACK" in r[15] for r in with_flags)
    assert not any("SYN+ACK" in r[15] for r in without)


# What each SEI table shows (data/sei/README.md): the rows decide, not the prose.
SEI_SERVERS = {
    "ssh-linux": [("10.10.0.1", 22, 6, "ssh")],
    "ssh-windows": [("10.10.0.2", 22, 6, "ssh")],
    "telnet-linux": [("10.10.0.1", 23, 6, "telnet")],
    "telnet-windows": [("10.10.0.1", 23, 6, "telnet")],
    "ftp-active-linux": [("10.10.0.2", 20, 6, "ftp-data"), ("10.10.0.2", 21, 6, "ftp")],
    "ftp-passive-linux": [("10.10.0.2", 21, 6, "ftp"), ("10.10.0.2", 10099, 6, "ftp-data")],
    "ftp-passive-windows": [("10.10.0.2", 21, 6, "ftp"), ("10.10.0.2", 61598, 6, "ftp-data")],
    "pptp-linux": [("10.10.0.2", 0, 47, "gre"), ("10.10.0.2", 1723, 6, "pptp")],
    "pptp-windows": [("10.10.0.2", 0, 47, "gre"), ("10.10.0.2", 1723, 6, "pptp")],
    "dns-linux": [("10.10.0.2", 53, 17, "dns")],
    "dns-windows": [("173.194.121.3", 53, 17, "dns")],
    "http-linux": [("128.2.42.52", 80, 6, "http")],
    "http-windows": [("128.2.42.52", 80, 6, "http")],
    # 123<->123 with one peer is symmetric only; the Windows client's query got no answer.
    "ntp-linux": [],
    "ntp-windows": [],
}


@pytest.fixture(scope="module")
def sei(tmp_path_factory):
    d = tmp_path_factory.mktemp("sei")
    for table in sorted(SEI.glob("*.txt")):
        extra = ["--columns", "sip,dip,sport,dport,proto,packets,bytes,flags,stime"] if table.stem == "ntp-linux" else []
        flowlens("convert", "-q", table, "--date", "2014-06-01", *extra, "-o", d / f"{table.stem}.parquet")
    return d


@pytest.mark.parametrize("table", sorted(SEI_SERVERS))
@pytest.mark.parametrize("ignore_flags", [False, True], ids=["flags", "ignore-flags"])
def test_sql_matches_flowlens_on_the_sei_tables(sei, table, ignore_flags):
    path = sei / f"{table}.parquet"
    sq = sql_report(path, ignore_flags=ignore_flags)
    assert keys(sq) == SEI_SERVERS[table]
    assert_same(flowlens_report(path, ignore_flags=ignore_flags), sq)


def test_sei_evidence(sei):
    """The evidence and confidence texts of docs/servers.md section 6, checked by hand."""
    ftp = {(r[1], r[14]): (r[15], r[16]) for r in sql_report(sei / "ftp-active-linux.parquet")}
    assert ftp[("20", "ftp-data-active")] == ("answered 1 client; tied to ftp; SYN+ACK", "high")
    assert ftp[("21", "ftp")] == ("answered 1 client; SYN+ACK", "high")
    gre = sql_report(sei / "pptp-linux.parquet")[0]
    assert gre[15:] == ["answered 1 client; symmetric only; tied to pptp", "high"]
    # GRE from 23:40.890 for 0.530 s.
    assert gre[12:14] == ["2014-06-01T00:23:40.890000Z", "2014-06-01T00:23:41.420000Z"]
    dns = sql_report(sei / "dns-linux.parquet")[0]
    assert dns[4:12] == ["1", "1", "1", "1", "56", "1", "1", "232"]
    assert dns[15:] == ["answered 1 client", "medium"]
    ssh = sql_report(sei / "ssh-linux.parquet", ignore_flags=True)[0]
    assert ssh[15:] == ["answered 1 client", "medium"]


FIXTURES = ["nfdump-services.csv", "argus-services-dir.csv", *sorted(
    str(p.relative_to(FORMATS)) for p in (FORMATS / "zeek").iterdir() if p.suffix in (".log", ".json"))]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    for name in FIXTURES:
        flowlens("convert", "-q", FORMATS / name, "-o", d / (name.replace("/", "_") + ".parquet"))
    return d


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("ignore_flags", [False, True], ids=["flags", "ignore-flags"])
def test_sql_matches_flowlens_on_real_tool_output(fixtures, name, ignore_flags):
    path = fixtures / (name.replace("/", "_") + ".parquet")
    sq = sql_report(path, ignore_flags=ignore_flags)
    assert_same(flowlens_report(path, ignore_flags=ignore_flags), sq)


def test_real_tool_output_finds_servers(fixtures):
    """The fixtures hold answered services (ssh, http, dns between namespaces; Zeek's logs)."""
    assert sql_report(fixtures / "nfdump-services.csv.parquet")
    assert sql_report(fixtures / "argus-services-dir.csv.parquet")


@pytest.fixture(scope="module")
def edges(tmp_path_factory):
    """What the generator never writes: IPv6 (and IPv4-mapped) servers, null ports, counters and
    times, `side` on some rows, NTP peers with and without originator information, and a tied
    data channel outside its control session's slack."""
    d = tmp_path_factory.mktemp("edges")
    us = 1_700_000_000_000_000
    rows = []

    def flow(sip, dip, sport, dport, proto, packets, bytes_, t, dur=0, side=None, flags=None):
        rows.append(dict(sip=sip, dip=dip, sport=sport, dport=dport, proto=proto, packets=packets, bytes=bytes_,
                         stime=None if t is None else us + t, etime=None if t is None else us + t + dur,
                         side=side, flags=flags))

    for i, server in enumerate(["2001:db8::1", "::ffff:10.9.9.9", "10.9.9.9", "fe80::2", "192.0.2.1"]):
        client = f"2001:db8::{100 + i:x}" if ":" in server and "ffff" not in server else f"10.1.0.{i + 1}"
        flow(client, server, 40000 + i, 22, 6, 5, 400, i * 1_000_000, 10, flags="FSPA")
        flow(server, client, 22, 40000 + i, 6, 4, 900, i * 1_000_000, 10, flags="SA" if i % 2 else "PA")
        # Null counters: a reply bound (min_packets 2) fails on null packets, so the second
        # client is not answered; a request without bounds counts, its null bytes as 0.
        flow(server, client, 22, 40100 + i, 6, None, 100, i * 1_000_000)
        flow(client, server, 40100 + i, 22, 6, 3, 100, i * 1_000_000)
        flow(client, server, 40000 + i, 22, 6, 3, None, i * 1_000_000 + 5)
    # A DNS server with a null source port in one query (counts as port 0: not a client port).
    flow("10.2.0.1", "10.2.0.53", None, 53, 17, 1, 60, 5_000_000)
    flow("10.2.0.53", "10.2.0.1", 53, None, 17, 1, 200, 5_000_000)
    flow("10.2.0.2", "10.2.0.53", 33333, 53, 17, 1, 60, None)
    flow("10.2.0.53", "10.2.0.2", 53, 33333, 17, 1, 200, None)
    flow("10.2.0.3", "10.2.0.53", 33334, 53, None, 1, 60, 0)
    # NTP: 123<->123 peers, one pair with Zeek-style side information, one without.
    for a, b, side in [("10.3.0.1", "10.3.0.2", "orig"), ("10.3.0.5", "10.3.0.6", None)]:
        flow(a, b, 123, 123, 17, 1, 76, 0, side=side)
        flow(b, a, 123, 123, 17, 1, 76, 0, side=None if side is None else "resp")
    # FTP control, then passive data within the slack and a second data channel an hour later.
    flow("10.4.0.1", "10.4.0.21", 50000, 21, 6, 10, 600, 0, 60_000_000)
    flow("10.4.0.21", "10.4.0.1", 21, 50000, 6, 9, 700, 0, 60_000_000)
    for t, port in [(100_000_000, 30000), (3_600_000_000, 30001)]:
        flow("10.4.0.1", "10.4.0.21", 50001, port, 6, 3, 200, t, 1_000_000)
        flow("10.4.0.21", "10.4.0.1", port, 50001, 6, 3, 9000, t, 1_000_000)
    # An unprivileged, unnamed server port with ten clients (other-high-tcp's min_clients).
    for i in range(10):
        flow(f"10.5.0.{i + 1}", "10.5.0.100", 50000 + i, 7777, 6, 4, 300, i)
        flow("10.5.0.100", f"10.5.0.{i + 1}", 7777, 50000 + i, 6, 4, 3000, i)
    table = pa.table({
        "stime": pa.array([r["stime"] for r in rows], pa.timestamp("us", tz="UTC")),
        "etime": pa.array([r["etime"] for r in rows], pa.timestamp("us", tz="UTC")),
        "sip": pa.array([r["sip"] for r in rows], pa.string()),
        "dip": pa.array([r["dip"] for r in rows], pa.string()),
        "sport": pa.array([r["sport"] for r in rows], pa.uint16()),
        "dport": pa.array([r["dport"] for r in rows], pa.uint16()),
        "proto": pa.array([r["proto"] for r in rows], pa.uint8()),
        "packets": pa.array([r["packets"] for r in rows], pa.int64()),
        "bytes": pa.array([r["bytes"] for r in rows], pa.int64()),
        "flags": pa.array([r["flags"] for r in rows], pa.string()),
        "side": pa.array([r["side"] for r in rows], pa.string()),
    })
    # zstd: flowlens reads what it writes (its parquet build leaves Snappy out).
    pq.write_table(table, d / "edges.parquet", compression="zstd")
    return d / "edges.parquet"


@pytest.mark.parametrize("local", [[], ["10.0.0.0/8"], ["2001:db8::/32", "192.0.2.0/24"], ["::/0"]])
def test_sql_matches_flowlens_on_edge_cases(edges, local):
    sq = sql_report(edges, local=local or None)
    assert_same(flowlens_report(edges, local=local), sq)


def test_edge_cases_by_hand(edges):
    rows = {(r[0], r[1], r[2]): r for r in sql_report(edges)}
    # The IPv4-mapped address is its IPv4 address: one server with two clients.
    assert ("::ffff:10.9.9.9", "22", "6") not in rows
    assert rows[("10.9.9.9", "22", "6")][4] == "2"
    # Null bytes count as 0; the reply with null packets fails its bound and answers nobody.
    assert rows[("2001:db8::1", "22", "6")][4:12] == ["1", "1", "2", "8", "400", "1", "4", "900"]
    # IPv4 first, then IPv6, numerically.
    servers = [r[0] for r in sql_report(edges)]
    assert servers.index("192.0.2.1") < servers.index("2001:db8::1") < servers.index("fe80::2")
    # DNS: the null-port query is no client; the timeless exchange counts, without times.
    dns = rows[("10.2.0.53", "53", "17")]
    assert dns[4:6] == ["1", "1"] and dns[12] == "" and dns[13] == ""
    # NTP: the peer that the input says originated makes 10.3.0.2 a server; the other pair is not enough.
    assert rows[("10.3.0.2", "123", "17")][15:] == ["answered 1 client; 1 originated", "high"]
    assert not any(k[0] in ("10.3.0.1", "10.3.0.5", "10.3.0.6") for k in rows)
    # FTP data: the channel within the slack is tied, the one an hour later is not.
    assert ("10.4.0.21", "30000", "6") in rows and ("10.4.0.21", "30001", "6") not in rows
    # Ten clients on 7777: other-high-tcp, a port the services table has no name for.
    high = rows[("10.5.0.100", "7777", "6")]
    assert high[3] == "tcp/7777" and high[14] == "other-high-tcp" and high[16] == "high"
