"""Selection (`--saddress`, `--dport`, `--from`, ...) gives the rows DuckDB's WHERE gives over
the same Parquet: for `cat` row for row, and for `ports` and `servers` the report of the
flows DuckDB selects.

The flows are `flowlens gen` rows over two days plus IPv6 and IPv4 rows from a CSV written
here, read three ways: flowlens's own files (address statistics off, so row groups are pruned
by time, ports and protocols only), and one file rewritten by DuckDB sorted by source address
in small row groups with statistics on every column, where address pruning applies. Address
conditions in SQL are the addresses that Python's ipaddress puts in the networks, an
implementation independent of ours."""
import datetime as dt
import hashlib
import ipaddress
import pathlib
import random
import re
import shlex
import subprocess

import duckdb
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

FIELDS = "sip,dip,sport,dport,proto,packets,bytes,stime"


def v6_csv(path):
    """IPv6 flows (and a few IPv4 ones) in two networks, with times spread over 2026-11-21."""
    rnd = random.Random(19)
    start = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
    lines = ["stime,etime,sip,dip,sport,dport,proto,packets,bytes,flags"]
    servers = ["2001:db8:1::10", "2001:db8:1::53", "2001:db8:2::80"]
    for i in range(3000):
        t = start + dt.timedelta(microseconds=rnd.randrange(86_400_000_000))
        e = t + dt.timedelta(milliseconds=rnd.randrange(5000))
        client = f"2001:db8:{rnd.choice(['a', 'b', '1'])}::{rnd.randrange(1, 400):x}"
        if i % 10 == 0:
            client = f"192.0.2.{rnd.randrange(1, 255)}"
        server = rnd.choice(servers)
        port, proto = {"2001:db8:1::10": (22, 6), "2001:db8:1::53": (53, 17), "2001:db8:2::80": (443, 6)}[server]
        eph = rnd.randrange(1024, 65536)
        src, dst, sport, dport = (client, server, eph, port) if i % 3 else (server, client, port, eph)
        if i % 97 == 0:
            src, dst, sport, dport, proto = client, server, 0, 128 * 256, 58
        flags = "FSPA" if proto == 6 else ""
        ts = lambda x: x.strftime("%Y-%m-%dT%H:%M:%S.%f")
        lines.append(f"{ts(t)},{ts(e)},{src},{dst},{sport},{dport},{proto},{rnd.randrange(1, 90)},{rnd.randrange(40, 90000)},{flags}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def data(tmp_path_factory, flowlens):
    d = tmp_path_factory.mktemp("select")
    gen = d / "gen.rw"
    # Over 262,144 rows: the gen file has two row groups, and two days to prune by time.
    flowlens("gen", "--rows", "300000", "--days", "2", "--start", "2026-11-20", "--seed", "5", "-o", gen)
    own = [d / "gen.parquet", d / "v6.parquet"]
    flowlens("convert", gen, "-o", own[0], "-q")
    v6_csv(d / "v6.csv")
    flowlens("convert", d / "v6.csv", "-o", own[1], "-q")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW flows AS SELECT * FROM read_parquet({[str(p) for p in own]}, union_by_name = true)")
    con.execute("CREATE TABLE addrs AS SELECT sip AS a FROM flows UNION SELECT dip FROM flows")
    sorted_file = d / "sorted.parquet"
    con.execute(
        f"COPY (SELECT * FROM flows ORDER BY sip, stime) TO '{sorted_file}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 4096)"
    )
    return {"dir": d, "own": own, "sorted": [sorted_file], "con": con}


def cat_rows(flowlens, inputs, args):
    out = flowlens("cat", *inputs, "--fields", FIELDS, "--delimited=,", "--no-titles", *args).stdout
    epoch = dt.datetime(1970, 1, 1)
    rows = []
    for line in out.splitlines():
        sip, dip, sport, dport, proto, packets, nbytes, stime = line.split(",")
        # rwcut's 2026/11/21T10:00:00.123 (or .123456), UTC.
        us = (dt.datetime.fromisoformat(stime.replace("/", "-")) - epoch) // dt.timedelta(microseconds=1)
        rows.append((sip, dip, int(sport), int(dport), int(proto), int(packets), int(nbytes), us))
    return sorted(rows)


_PARSED = {}


def parsed_addresses(con):
    """Every address of the data, as text and parsed (once per connection)."""
    if id(con) not in _PARSED:
        _PARSED[id(con)] = [(a, ipaddress.ip_address(a)) for (a,) in con.execute("SELECT a FROM addrs").fetchall()]
    return _PARSED[id(con)]


def sql_where(con, where):
    """`where` with each `in_net(column, 'networks')` replaced by a test against the addresses
    of the data that Python's ipaddress puts in those networks."""

    def members(m):
        column, nets = m.group(1), m.group(2)
        name = "net_" + hashlib.sha1(nets.encode()).hexdigest()[:12]
        if not con.execute(f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{name}'").fetchone()[0]:
            networks = [ipaddress.ip_network(n, strict=False) for n in nets.split(",")]
            inside = [(text,) for text, ip in parsed_addresses(con) if any(ip in n for n in networks)]
            con.execute(f"CREATE TABLE {name} (a VARCHAR)")
            if inside:
                con.executemany(f"INSERT INTO {name} VALUES (?)", inside)
        return f"{column} IN (SELECT a FROM {name})"

    return re.sub(r"in_net\((\w+), '([^']*)'\)", members, where)


def sql_rows(con, where):
    where = sql_where(con, where)
    q = f"SELECT sip, dip, sport, dport, proto, packets, bytes, epoch_us(stime) FROM flows WHERE {where}"
    return sorted(tuple(r) for r in con.execute(q).fetchall())


def ts(text):
    return f"TIMESTAMPTZ '{text}'"


# (flowlens options, the same condition in SQL)
CASES = [
    (["--dport", "22"], "dport = 22"),
    (["--dport", "22,80,6660-6669"], "(dport IN (22, 80) OR dport BETWEEN 6660 AND 6669)"),
    (["--dport", "22", "--dport", "443"], "dport IN (22, 443)"),
    (["--sport", "53"], "sport = 53"),
    (["--sport", "1024-1100"], "sport BETWEEN 1024 AND 1100"),
    (["--aport", "53,123"], "(sport IN (53, 123) OR dport IN (53, 123))"),
    (["--dport", "2048"], "dport = 2048"),
    (["--proto", "udp,icmp"], "proto IN (17, 1)"),
    (["--proto", "1-5"], "proto BETWEEN 1 AND 5"),
    (["--proto", "58"], "proto = 58"),
    (["--saddress", "10.0.1.11"], "in_net(sip, '10.0.1.11')"),
    (["--daddress", "10.0.1.11,10.0.1.12"], "in_net(dip, '10.0.1.11,10.0.1.12')"),
    (["--saddress", "10.0.3.0/24"], "in_net(sip, '10.0.3.0/24')"),
    (["--saddress", "10.0.2.0/23"], "in_net(sip, '10.0.2.0/23')"),
    (["--any-address", "10.0.3.192/26"], "(in_net(sip, '10.0.3.192/26') OR in_net(dip, '10.0.3.192/26'))"),
    (["--saddress", "2001:db8:1::/48"], "in_net(sip, '2001:db8:1::/48')"),
    (["--daddress", "2001:db8:2::80"], "in_net(dip, '2001:db8:2::80')"),
    (["--any-address", "2001:db8:a::/48,192.0.2.0/25"], "(in_net(sip, '2001:db8:a::/48,192.0.2.0/25') OR in_net(dip, '2001:db8:a::/48,192.0.2.0/25'))"),
    (["--saddress", "2001:db8:1::10", "--saddress", "10.0.1.11"], "in_net(sip, '2001:db8:1::10,10.0.1.11')"),
    (["--from", "2026-11-21", "--to", "2026-11-21", "--dport", "53"], f"stime >= {ts('2026-11-21 00:00:00+00')} AND stime < {ts('2026-11-22 00:00:00+00')} AND dport = 53"),
    (["--to", "2026-11-20", "--proto", "icmp"], f"stime < {ts('2026-11-21 00:00:00+00')} AND proto = 1"),
    (["--from", "2026-11-21T10:00", "--to", "2026-11-21T10:59"], f"stime >= {ts('2026-11-21 10:00:00+00')} AND stime < {ts('2026-11-21 11:00:00+00')}"),
    (["--from", "2026-11-21 10:00:30", "--to", "2026-11-21 10:05"], f"stime >= {ts('2026-11-21 10:00:30+00')} AND stime < {ts('2026-11-21 10:06:00+00')}"),
    (["--from", "2026-11-21T12:00+02:00", "--to", "2026-11-21T12:30:30+02:00"], f"stime >= {ts('2026-11-21 10:00:00+00')} AND stime < {ts('2026-11-21 10:30:31+00')}"),
    (["--from", "2026-11-20T23:30Z", "--to", "2026-11-20T19:30-05:00"], f"stime >= {ts('2026-11-20 23:30:00+00')} AND stime < {ts('2026-11-21 00:31:00+00')}"),
    (["--from", "2026-11-21T10:00:00.5", "--to", "2026-11-21T10:00:01.25"], f"stime >= {ts('2026-11-21 10:00:00.5+00')} AND stime < {ts('2026-11-21 10:00:01.26+00')}"),
    # Combinations: rwfilter + rwcut in one command.
    (
        ["--any-address", "10.0.1.11", "--dport", "22", "--from", "2026-11-21T10:00", "--to", "2026-11-21T11:00"],
        "(in_net(sip, '10.0.1.11') OR in_net(dip, '10.0.1.11')) AND dport = 22 "
        f"AND stime >= {ts('2026-11-21 10:00:00+00')} AND stime < {ts('2026-11-21 11:01:00+00')}",
    ),
    (["--saddress", "10.0.0.0/16", "--proto", "udp", "--aport", "53"], "in_net(sip, '10.0.0.0/16') AND proto = 17 AND (sport = 53 OR dport = 53)"),
    (["--saddress", "2001:db8::/32", "--daddress", "2001:db8:1::53", "--proto", "udp", "--to", "2026-11-21T12:00"], f"in_net(sip, '2001:db8::/32') AND in_net(dip, '2001:db8:1::53') AND proto = 17 AND stime < {ts('2026-11-21 12:01:00+00')}"),
    # Nothing: a port no generated flow uses with this protocol, and a day without flows.
    (["--dport", "22", "--proto", "udp"], "false"),
    (["--from", "2026-12-01"], "false"),
]


@pytest.mark.parametrize("which", ["own", "sorted"])
@pytest.mark.parametrize("args,where", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_cat_selects_what_duckdb_selects(data, flowlens, which, args, where):
    want = sql_rows(data["con"], where)
    got = cat_rows(flowlens, data[which], args)
    assert got == want
    if where != "false":
        assert want, f"the case selects nothing: {args}"


def test_data_has_ipv6_and_the_cases_select(data):
    con = data["con"]
    assert con.execute("SELECT count(*) FROM flows WHERE sip LIKE '%:%'").fetchone()[0] > 2000
    assert con.execute("SELECT count(*) FROM flows WHERE sip NOT LIKE '%:%'").fetchone()[0] > 300000


def row_groups_read(inputs, args):
    """The row groups a `servers` run read (its summary line says), after pruning."""
    err = subprocess.run(
        [flowlens_path(), "servers", *inputs, "--format", "csv", *args], check=True, capture_output=True, text=True
    ).stderr
    return int(re.search(r", (\d+) row groups,", err).group(1))


def test_pruning_skips_row_groups(data):
    """Row groups are skipped by time in flowlens's own files and by address in the sorted
    one (the results are checked above)."""
    con = data["con"]
    sorted_groups = con.execute(
        f"SELECT count(DISTINCT row_group_id) FROM parquet_metadata('{data['sorted'][0]}')"
    ).fetchone()[0]
    assert sorted_groups > 50
    assert row_groups_read(data["sorted"], []) == sorted_groups
    assert row_groups_read(data["sorted"], ["--saddress", "10.0.1.11"]) <= 2
    assert row_groups_read(data["sorted"], ["--saddress", "10.0.2.0/24,10.0.3.0/24"]) < sorted_groups / 2
    # IPv6 texts are not ordered like the addresses: only row groups of one other address
    # (min = max) are skipped.
    v6 = row_groups_read(data["sorted"], ["--saddress", "2001:db8:1::10"])
    single = con.execute(
        f"SELECT count(*) FROM (SELECT row_group_id FROM parquet_metadata('{data['sorted'][0]}') "
        "WHERE path_in_schema = 'sip' AND stats_min_value = stats_max_value "
        "AND stats_min_value <> '2001:db8:1::10')"
    ).fetchone()[0]
    assert single > 0 and v6 == sorted_groups - single
    # The gen file's first row group holds the first day; the IPv6 file starts on the second.
    assert row_groups_read(data["own"], []) == 3
    assert row_groups_read(data["own"], ["--to", "2026-11-20T12:00"]) == 1
    # Every flow's dport is in 0-65535: nothing to prune, nothing to filter either.
    assert row_groups_read(data["own"], ["--dport", "0-65535"]) == 3


def flowlens_path():
    import os

    return os.environ.get("FLOWLENS", str(ROOT / "target" / "release" / "flowlens"))


def write_selected(con, where, path):
    con.execute(f"COPY (SELECT * FROM flows WHERE {sql_where(con, where)}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")


@pytest.mark.parametrize(
    "args,where",
    [
        (["--dport", "22"], "dport = 22"),
        (["--any-address", "10.0.1.0/24,2001:db8:1::/48", "--from", "2026-11-21T06:00"], f"(in_net(sip, '10.0.1.0/24,2001:db8:1::/48') OR in_net(dip, '10.0.1.0/24,2001:db8:1::/48')) AND stime >= {ts('2026-11-21 06:00:00+00')}"),
        (["--proto", "udp", "--aport", "53,123"], "proto = 17 AND (sport IN (53, 123) OR dport IN (53, 123))"),
    ],
)
def test_reports_are_those_of_the_selected_flows(data, flowlens, args, where):
    """`ports --dport 22` reports only flows to port 22: the same report as over a file that
    holds only those flows; the same for `servers`."""
    selected = data["dir"] / f"selected-{hashlib.sha1(where.encode()).hexdigest()[:12]}.parquet"
    write_selected(data["con"], where, selected)
    for cmd, opts in [("ports", ["--local", "10.0.0.0/16", "--local", "2001:db8::/32"]), ("servers", [])]:
        want = flowlens(cmd, selected, *opts, "--format", "csv", "-q").stdout
        for inputs in (data["own"], data["sorted"]):
            got = flowlens(cmd, *inputs, *opts, "--format", "csv", "-q", *args).stdout
            assert got == want, (cmd, args)
        # Flows to port 22 alone hold no answer from a server (answers come from port 22), so
        # `servers --dport 22` finds none, as over the selected file.
        if not (cmd == "servers" and "--dport" in args):
            assert len(want.splitlines()) > 3, (cmd, args)


def readme_block():
    """The commands of the README's selection example."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Selecting flows") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_selection_example_runs(tmp_path, flowlens):
    """The README's example, run as written in a fresh folder, prints what DuckDB selects."""
    outputs = []
    for line in readme_block():
        words = shlex.split(line)
        assert words[0] == "flowlens", line
        outputs.append(flowlens(*words[1:], cwd=tmp_path).stdout)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    flows = f"read_parquet('{tmp_path}/store/flows/*/*.parquet')"
    n = con.execute(
        f"SELECT count(*) FROM {flows} WHERE (sip = '10.0.1.11' OR dip = '10.0.1.11') AND dport = 22 "
        f"AND stime >= {ts('2026-11-21 10:00:00+00')} AND stime < {ts('2026-11-21 11:00:00+00')}"
    ).fetchone()[0]
    cat_lines = [o for o in outputs if o.lstrip().startswith("sIP|")]
    assert cat_lines and len(cat_lines[0].splitlines()) == n + 1 and n > 0
