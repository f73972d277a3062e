"""Our Parquet opens with no custom code in pyarrow, pandas, Polars and DuckDB, with the
documented types and the values of the text it came from."""
import pathlib

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

CORE_TYPES = {
    "stime": pa.timestamp("us", tz="UTC"),
    "etime": pa.timestamp("us", tz="UTC"),
    "sip": pa.string(),
    "dip": pa.string(),
    "sport": pa.uint16(),
    "dport": pa.uint16(),
    "proto": pa.uint8(),
    "packets": pa.int64(),
    "bytes": pa.int64(),
    "flags": pa.string(),
}


def rwcut_rows(path):
    """Parse rwcut text the plain way, as the reference for values."""
    lines = pathlib.Path(path).read_text().splitlines()
    names = [n.strip() for n in lines[0].split("|")][:-1]
    return [dict(zip(names, (v.strip() for v in line.split("|")))) for line in lines[1:]]


@pytest.fixture(scope="module")
def converted(tmp_path_factory, flowlens):
    d = tmp_path_factory.mktemp("interop")
    text = d / "gen.rw"
    flowlens("gen", "--rows", "20000", "--seed", "11", "-o", text)
    out = d / "flows.parquet"
    flowlens("convert", text, "-o", out, "-q")
    return text, out


def test_pyarrow_schema_and_values(converted):
    text, out = converted
    table = pq.read_table(out)
    for name, typ in CORE_TYPES.items():
        assert table.schema.field(name).type == typ, name
    assert table.schema.field("sensor").type == pa.string()
    rows = rwcut_rows(text)
    assert table.num_rows == len(rows)
    assert sum(table.column("bytes").to_pylist()) == sum(int(r["bytes"]) for r in rows)
    assert table.column("sip").to_pylist()[:50] == [r["sIP"] for r in rows[:50]]
    # Addresses are stored dictionary-encoded but typed as plain strings.
    meta = pq.ParquetFile(out).metadata
    sip = meta.row_group(0).column(table.schema.get_field_index("sip"))
    assert "RLE_DICTIONARY" in str(sip.encodings) or "PLAIN_DICTIONARY" in str(sip.encodings)
    assert sip.compression == "ZSTD"


def test_pandas(converted):
    _, out = converted
    df = pd.read_parquet(out)
    assert str(df["stime"].dtype).startswith("datetime64[us, UTC]")
    assert str(df["sport"].dtype) == "uint16"
    assert str(df["packets"].dtype) == "int64"
    assert df["stime"].min() >= pd.Timestamp("2026-11-21", tz="UTC")
    assert (df["etime"] >= df["stime"]).all()


def test_polars_filters_on_address(converted):
    text, out = converted
    df = pl.read_parquet(out)
    assert df.schema["sip"] == pl.String
    assert df.schema["dport"] == pl.UInt16
    assert df.schema["stime"] == pl.Datetime("us", "UTC")
    rows = rwcut_rows(text)
    first = rows[0]["sIP"]
    lazy = pl.scan_parquet(out).filter(pl.col("sip") == first).select(pl.len()).collect()
    assert lazy.item() == sum(1 for r in rows if r["sIP"] == first)


def test_duckdb_reads_types_and_sums(converted):
    text, out = converted
    con = duckdb.connect()
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}')").fetchall()}
    assert types["stime"] == "TIMESTAMP WITH TIME ZONE"
    assert types["sport"] == "USMALLINT"
    assert types["packets"] == "BIGINT"
    rows = rwcut_rows(text)
    n, b = con.execute(f"SELECT count(*), sum(bytes) FROM read_parquet('{out}') WHERE proto = 17").fetchone()
    want = [int(r["bytes"]) for r in rows if r["pro"] == "17"]
    assert (n, b) == (len(want), sum(want))


def test_hive_store_reads_with_partitions(tmp_path, flowlens):
    text = tmp_path / "two.rw"
    flowlens("gen", "--rows", "4000", "--days", "2", "--start", "2026-11-20", "-o", text)
    store = tmp_path / "store" / "flows"
    flowlens("convert", text, "-o", store, "--partition", "day", "-q")
    con = duckdb.connect()
    got = con.execute(
        f"SELECT date, count(*) FROM read_parquet('{store}/*/*.parquet', hive_partitioning = true, union_by_name = true) "
        "GROUP BY date ORDER BY date"
    ).fetchall()
    assert [str(d) for d, _ in got] == ["2026-11-20", "2026-11-21"]
    assert sum(c for _, c in got) == 4000
    dataset = ds.dataset(store, format="parquet", partitioning="hive")
    assert dataset.count_rows() == 4000
    assert pl.scan_parquet(f"{store}/**/*.parquet", hive_partitioning=True).select(pl.len()).collect().item() == 4000


def test_seed_table_nulls_are_nulls(tmp_path, flowlens):
    """A core column the input lacks is null, never an invented zero."""
    src = tmp_path / "subset.rw"
    src.write_text("sIP|dIP|dPort|\n10.0.0.1|10.0.0.2|22|\n")
    out = tmp_path / "subset.parquet"
    flowlens("convert", src, "-o", out, "-q")
    t = pq.read_table(out)
    assert t.column("packets").null_count == 1
    assert t.column("flags").null_count == 1
    assert t.column("dport").to_pylist() == [22]
