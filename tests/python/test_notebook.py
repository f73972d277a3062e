"""The README's notebook snippets run as written on a store that `flowlens daily` built.

The store holds the two sample days (`--local 10.0.0.0/16`). Each snippet is a module-level
string, copied verbatim into README.md (a test checks), executed with `store` bound to the store
path; what it computes is checked against numbers taken without flowlens or the library under
test: the sample archives' own text (rows, bytes per host) and the servers CSVs of the store.

A second, mixed store adds days whose files have other columns (issue 19), as days converted
from different exporters do: a CSV day without the rwcut days' sensor column and with a `site`
column, and flows without start times (the null partition) with a `vlan` column. The snippets
must read every row and every column of it, with nulls where a file lacks a column: Polars used
to fail on a column the first file lacks, pyarrow to drop it.
"""

import collections
import csv
import gzip
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DAYS = ["2026-11-20", "2026-11-21"]
CSV_DAY = "2026-11-22"

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
import pyarrow as pa
import pyarrow.dataset as ds

flows = ds.dataset(f"{store}/flows", format="parquet", partitioning="hive")
# the dataset takes its columns from one file: unify every file's, or the extra columns that only
# some days have (another exporter's) are dropped
flows = flows.replace_schema(pa.unify_schemas([flows.schema, *(f.physical_schema for f in flows.get_fragments())]))
# hive folder values are read as strings: date=2026-11-21 is "2026-11-21"
day = flows.to_table(filter=ds.field("date") == "2026-11-21", columns=["stime", "sip", "dip", "dport", "proto", "bytes"]).to_pandas()
by_port = day.groupby(["dport", "proto"])["bytes"].sum().nlargest(10)

servers = pd.read_parquet(f"{store}/servers/date=2026-11-21/servers.parquet")
new_today = servers[servers["status"] == "new"]
all_servers = ds.dataset(f"{store}/servers", format="parquet", partitioning="hive").to_table().to_pandas()
inventory = pd.read_parquet(f"{store}/inventory.parquet")
"""

POLARS_SNIPPET = """\
import glob

import polars as pl

files = sorted(glob.glob(f"{store}/flows/*/*.parquet"))
# one scan per file, stacked by column name: days converted from different exporters differ in
# their extra columns; hive_schema keeps `date` a Date in the null partition too
flows = pl.concat([pl.scan_parquet(f, hive_partitioning=True, hive_schema={"date": pl.Date}) for f in files], how="diagonal")
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


def test_readme_carries_the_snippets():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Reading the store from a notebook", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks == [DUCKDB_SNIPPET, PYARROW_SNIPPET, POLARS_SNIPPET]


# ---------------------------------------------------------------------------------------------
# A store mixing exporters: the snippets read every row and every column of every file.

# What is compared, row by row: every column a source has that is not a time, and the date.
KEY = ["date", "sip", "dip", "sport", "dport", "proto", "packets", "bytes", "sensor", "site", "vlan"]
RWCUT_NAMES = {"sIP": "sip", "dIP": "dip", "sPort": "sport", "dPort": "dport", "pro": "proto",
               "packets": "packets", "bytes": "bytes", "sen": "sensor"}
INTS = {"sport", "dport", "proto", "packets", "bytes"}
SITES = ["dc1", "dc2", "lab"]
# Flows without start times, as another exporter might give them: `convert --partition day`
# files them under date=__HIVE_DEFAULT_PARTITION__, read back as a null date.
TIMELESS_CSV = """\
sip,dip,sport,dport,proto,packets,bytes,vlan
10.0.9.1,10.0.9.2,40000,443,6,3,180,101
10.0.9.2,10.0.9.1,443,40000,6,2,1500,101
10.0.9.3,198.51.100.7,53000,53,17,1,70,
"""


def key(row, sensor="sensor"):
    """A row (a dict of any library's values, missing columns absent) as a tuple of KEY; `sensor`
    names the column that holds rwcut's `sen` in the row."""
    out = []
    for name in KEY:
        v = row.get(sensor if name == "sensor" else name)
        if v is None or v == "":
            out.append(None)
        elif name in INTS:
            out.append(int(v))
        else:
            out.append(str(v)[:10] if name == "date" else str(v))
    return tuple(out)


def stored_names(sensor):
    """KEY's columns as the store names them."""
    return {sensor if name == "sensor" else name for name in KEY}


def schemas(store):
    """The column names of each flows file of the store, by its date= folder."""
    import pyarrow.parquet as pq

    return {f.parent.name: set(pq.read_schema(f).names) for f in (store / "flows").glob("*/*.parquet")}


@pytest.fixture(scope="module")
def mixed(flowlens, tmp_path_factory):
    """(store path, Counter of the KEY tuples of its flows, from the sources read without flowlens,
    the name of the rwcut days' sensor column)."""
    d = tmp_path_factory.mktemp("mixed")
    store = d / "store"
    want = collections.Counter()
    for day in DAYS:
        flowlens("daily", "--store", store, "--date", day, "--local", "10.0.0.0/16", "--quiet", sample(day))
        want.update(key({RWCUT_NAMES[k]: v for k, v in r.items() if k in RWCUT_NAMES} | {"date": day})
                    for r in archive_rows(day))
    # rwcut's `sen` is stored as `sen`, or under SiLK's name `sensor` by a flowlens that renames
    # rwcut's abbreviated titles: either way a column the CSV day lacks.
    sensor = "sensor" if "sensor" in schemas(store)[f"date={DAYS[0]}"] else "sen"
    # The CSV day: generated flows without their sensor column, with a site column.
    generated = d / "gen.csv"
    flowlens("gen", "--rows", 2000, "--seed", 7, "--format", "csv", "--start", CSV_DAY, "-o", generated)
    with open(generated, newline="") as f:
        rows = [{k: v for k, v in r.items() if k != "sensor"} | {"site": SITES[i % 3]}
                for i, r in enumerate(csv.DictReader(f))]
    day3 = d / "day3.csv"
    with open(day3, "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)
    flowlens("daily", "--store", store, "--date", CSV_DAY, "--local", "10.0.0.0/16", "--quiet", day3)
    want.update(key(r | {"date": CSV_DAY}) for r in rows)
    timeless = d / "timeless.csv"
    timeless.write_text(TIMELESS_CSV)
    flowlens("convert", timeless, "-o", store / "flows", "--partition", "day", "-q")
    want.update(key(r) for r in csv.DictReader(TIMELESS_CSV.splitlines()))
    return store, want, sensor


def test_mixed_store_is_mixed(mixed):
    """The store has what the tests below are about: files whose columns differ."""
    store, want, sensor = mixed
    names = schemas(store)
    assert set(names) == {f"date={DAYS[0]}", f"date={DAYS[1]}", f"date={CSV_DAY}", "date=__HIVE_DEFAULT_PARTITION__"}
    for day in DAYS:
        assert sensor in names[f"date={day}"] and not names[f"date={day}"] & {"site", "vlan"}
    assert "site" in names[f"date={CSV_DAY}"] and not names[f"date={CSV_DAY}"] & {sensor, "vlan"}
    assert "vlan" in names["date=__HIVE_DEFAULT_PARTITION__"]
    assert not names["date=__HIVE_DEFAULT_PARTITION__"] & {sensor, "site"}
    assert sum(want.values()) == 2 * 15000 + 2000 + 3


def test_duckdb_snippet_reads_a_mixed_store(mixed):
    store, want, sensor = mixed
    ns = run(DUCKDB_SNIPPET, store)
    flows = ns["flows"]
    assert stored_names(sensor) <= set(flows.columns)
    got = collections.Counter(key(dict(zip(flows.columns, r)), sensor) for r in flows.fetchall())
    assert got == want
    per_day = ns["per_day"]
    got_days = {None if str(d) == "NaT" else str(d)[:10]: n for d, n in zip(per_day["date"], per_day["flows"])}
    assert got_days == dict(collections.Counter(k[0] for k in want.elements()))


def test_pyarrow_snippet_reads_a_mixed_store(mixed):
    store, want, sensor = mixed
    ns = run(PYARROW_SNIPPET, store)
    table = ns["flows"].to_table()
    assert stored_names(sensor) <= set(table.schema.names)
    assert str(table.schema.field("date").type) == "string"
    assert collections.Counter(key(r, sensor) for r in table.to_pylist()) == want
    assert len(ns["day"]) == sum(n for k, n in want.items() if k[0] == "2026-11-21")


def test_polars_snippet_reads_a_mixed_store(mixed):
    import polars as pl

    store, want, sensor = mixed
    ns = run(POLARS_SNIPPET, store)
    flows = ns["flows"].collect()
    assert stored_names(sensor) <= set(flows.columns)
    assert flows.schema["date"] == pl.Date
    assert collections.Counter(key(r, sensor) for r in flows.iter_rows(named=True)) == want
    web = collections.defaultdict(lambda: [0, 0])
    for k, n in want.items():
        if k[1] == "10.0.1.16":
            web[(k[0], k[3])][0] += n
            web[(k[0], k[3])][1] += n * k[7]
    rows = ns["web"].select("date", "sport", "flows", "bytes").iter_rows()
    got = {(None if d is None else str(d), p): [n, b] for d, p, n, b in rows}
    assert got == dict(web)
    assert {d for d, _ in got} >= {*DAYS, CSV_DAY}
