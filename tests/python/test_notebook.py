"""The README's notebook snippets run as written on a store that `flowlens daily` built.

The store holds the two sample days (`--local 10.0.0.0/16`). Each snippet is a module-level
string, copied verbatim into README.md, executed with `store` bound to the store path; what it
computes is checked against numbers taken without flowlens or the library under test: the
sample archives' own text (rows, bytes per host) and the servers CSVs of the store.
"""

import collections
import csv
import gzip
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DAYS = ["2026-11-20", "2026-11-21"]

DUCKDB_SNIPPET = """\
import duckdb

flows = duckdb.sql(f"SELECT * FROM read_parquet('{store}/flows/*/*.parquet', hive_partitioning = true, union_by_name = true)")
per_day = duckdb.sql("SELECT date, count(*) AS flows, sum(bytes) AS bytes FROM flows GROUP BY date ORDER BY date").df()
top_talkers = duckdb.sql("SELECT sip, sum(bytes) AS bytes FROM flows GROUP BY sip ORDER BY bytes DESC, sip LIMIT 10").df()

new_servers = duckdb.sql(f"SELECT date, server, port, service, status FROM read_parquet('{store}/servers/*/*.parquet', hive_partitioning = true) WHERE status = 'new'").df()
inventory = duckdb.sql(f"SELECT * FROM read_parquet('{store}/inventory.parquet') ORDER BY server, port, proto").df()
"""

PYARROW_SNIPPET = """\
import pandas as pd
import pyarrow.dataset as ds

flows = ds.dataset(f"{store}/flows", format="parquet", partitioning="hive")
# hive folder values are read as strings: date=2026-11-21 is "2026-11-21"
day = flows.to_table(filter=ds.field("date") == "2026-11-21", columns=["stime", "sip", "dip", "dport", "proto", "bytes"]).to_pandas()
by_port = day.groupby(["dport", "proto"])["bytes"].sum().nlargest(10)

servers = pd.read_parquet(f"{store}/servers/date=2026-11-21/servers.parquet")
new_today = servers[servers["status"] == "new"]
all_servers = ds.dataset(f"{store}/servers", format="parquet", partitioning="hive").to_table().to_pandas()
inventory = pd.read_parquet(f"{store}/inventory.parquet")
"""

POLARS_SNIPPET = """\
import polars as pl

flows = pl.scan_parquet(f"{store}/flows/*/*.parquet", hive_partitioning=True)
web = (
    flows.filter(pl.col("sip") == "10.0.1.16")
    .group_by("date", "sport")
    .agg(pl.len().alias("flows"), pl.col("bytes").sum())
    .sort("date", "sport")
    .collect()
)
"""


def sample(day):
    return ROOT / "data" / "sample" / f"{day}.rw.gz"


def archive_rows(day):
    """The sample archive's rows as dicts of its rwcut columns (read without flowlens)."""
    with gzip.open(sample(day), "rt") as f:
        lines = f.read().splitlines()
    header = [h.strip() for h in lines[0].split("|")]
    return [dict(zip(header, (v.strip() for v in line.split("|")))) for line in lines[1:] if line.strip()]


@pytest.fixture(scope="module")
def archives():
    return {day: archive_rows(day) for day in DAYS}


@pytest.fixture(scope="module")
def store(flowlens, tmp_path_factory):
    path = tmp_path_factory.mktemp("notebook") / "store"
    for day in DAYS:
        flowlens("daily", "--store", path, "--date", day, "--local", "10.0.0.0/16", "--quiet", sample(day))
    return path


@pytest.fixture(scope="module")
def servers_csv(store):
    """Every servers.csv row, with its day."""
    rows = []
    for day in DAYS:
        with open(store / "csv" / f"date={day}" / "servers.csv", newline="") as f:
            rows += [dict(r, date=day) for r in csv.DictReader(f)]
    return rows


def run(snippet, store):
    ns = {"store": str(store)}
    exec(compile(snippet, "<README snippet>", "exec"), ns)
    return ns


def test_duckdb_snippet(store, archives, servers_csv):
    ns = run(DUCKDB_SNIPPET, store)
    per_day = ns["per_day"]
    assert [str(d)[:10] for d in per_day["date"]] == DAYS
    assert list(per_day["flows"]) == [len(archives[d]) for d in DAYS]
    assert list(per_day["bytes"]) == [sum(int(r["bytes"]) for r in archives[d]) for d in DAYS]

    sent = collections.Counter()
    for day in DAYS:
        for r in archives[day]:
            sent[r["sIP"]] += int(r["bytes"])
    expected = sorted(sent.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert list(zip(ns["top_talkers"]["sip"], ns["top_talkers"]["bytes"])) == expected

    new = ns["new_servers"]
    want = sorted((r["date"], r["server"], int(r["port"])) for r in servers_csv if r["status"] == "new")
    got = sorted((str(d)[:10], s, int(p)) for d, s, p in zip(new["date"], new["server"], new["port"]))
    assert got == want
    assert len(want) > 0 and {d for d, _, _ in want} == {DAYS[0]}, "the sample's servers are all new on day 1 only"
    assert set(new["status"]) == {"new"}

    inv = ns["inventory"]
    keys = {(r["server"], int(r["port"]), int(r["proto"])) for r in servers_csv}
    assert len(inv) == len(keys)
    assert set(zip(inv["server"], inv["port"].astype(int), inv["proto"].astype(int))) == keys
    assert int(inv["days_seen"].sum()) == len(servers_csv)


def test_pyarrow_pandas_snippet(store, archives, servers_csv):
    ns = run(PYARROW_SNIPPET, store)
    assert str(ns["flows"].schema.field("date").type) == "string"
    day = ns["day"]
    rows = archives["2026-11-21"]
    assert len(day) == len(rows)
    assert int(day["bytes"].sum()) == sum(int(r["bytes"]) for r in rows)
    assert list(day.columns) == ["stime", "sip", "dip", "dport", "proto", "bytes"]

    per_port = collections.Counter()
    for r in rows:
        per_port[(int(r["dPort"]), int(r["pro"]))] += int(r["bytes"])
    by_port = ns["by_port"]
    assert len(by_port) == 10
    for (port, proto), total in by_port.items():
        assert per_port[(int(port), int(proto))] == total
    assert sorted(per_port.values(), reverse=True)[:10] == list(by_port)

    day2 = [r for r in servers_csv if r["date"] == "2026-11-21"]
    servers = ns["servers"]
    assert len(servers) == len(day2)
    assert sorted(zip(servers["server"], servers["port"].astype(int))) == sorted((r["server"], int(r["port"])) for r in day2)
    assert len(ns["new_today"]) == sum(r["status"] == "new" for r in day2)
    everything = ns["all_servers"]
    assert len(everything) == len(servers_csv)
    assert sorted(everything["date"].unique()) == DAYS
    assert sorted(everything.loc[everything["status"] == "new", "date"].unique()) == ["2026-11-20"]
    assert (everything["status"] == "new").sum() == sum(r["status"] == "new" for r in servers_csv)
    inv = ns["inventory"]
    assert len(inv) == len({(r["server"], r["port"], r["proto"]) for r in servers_csv})
    assert int(inv["days_seen"].sum()) == len(servers_csv)


def test_polars_snippet(store, archives):
    ns = run(POLARS_SNIPPET, store)
    web = ns["web"]
    want = collections.defaultdict(lambda: [0, 0])
    for d in DAYS:
        for r in archives[d]:
            if r["sIP"] == "10.0.1.16":
                want[(d, int(r["sPort"]))][0] += 1
                want[(d, int(r["sPort"]))][1] += int(r["bytes"])
    got = {(str(d), int(p)): [n, b] for d, p, n, b in web.select("date", "sport", "flows", "bytes").iter_rows()}
    assert got == dict(want)
    assert len(got) > 0 and {p for _, p in got} >= {80, 443}
