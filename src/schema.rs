//! The flows Parquet contract: column names, Arrow types and the writer settings, defined once.
//!
//! Every stage (convert, cat, ports, servers) refers to these constants rather than spelling
//! column names itself. The README's schema table is written from this module; keep them in step.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

pub const STIME: &str = "stime";
pub const ETIME: &str = "etime";
pub const SIP: &str = "sip";
pub const DIP: &str = "dip";
pub const SPORT: &str = "sport";
pub const DPORT: &str = "dport";
pub const PROTO: &str = "proto";
pub const PACKETS: &str = "packets";
pub const BYTES: &str = "bytes";
pub const FLAGS: &str = "flags";

/// The core columns, in file order.
pub const CORE_COLUMNS: [&str; 10] = [STIME, ETIME, SIP, DIP, SPORT, DPORT, PROTO, PACKETS, BYTES, FLAGS];

/// Rows per Parquet row group: small enough that a 10M-row file splits into ~40 units of
/// parallel work and that `--from/--to` statistics prune finely, large enough that zstd and the
/// address dictionaries stay effective.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Dictionary pages for the address columns may grow to this size before the writer falls back
/// to plain encoding; the default 1 MiB would give up after ~60k distinct addresses.
pub const ADDRESS_DICTIONARY_LIMIT: usize = 8 * 1024 * 1024;

/// The Arrow type of timestamps: microseconds since the epoch, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The core fields. Every core column is nullable in the schema because an input may not carry
/// it (an rwcut `--fields` subset); the addresses are null only for layer-2 records (Argus and
/// CTU binetflow `llc` rows, whose MAC addresses go to `smac`/`dmac`), which the reports skip
/// and count.
pub fn core_fields() -> Vec<Field> {
    vec![
        Field::new(STIME, timestamp_type(), true),
        Field::new(ETIME, timestamp_type(), true),
        Field::new(SIP, DataType::Utf8, true),
        Field::new(DIP, DataType::Utf8, true),
        Field::new(SPORT, DataType::UInt16, true),
        Field::new(DPORT, DataType::UInt16, true),
        Field::new(PROTO, DataType::UInt8, true),
        Field::new(PACKETS, DataType::Int64, true),
        Field::new(BYTES, DataType::Int64, true),
        Field::new(FLAGS, DataType::Utf8, true),
    ]
}

/// The schema of a flows file: the core columns, then the extra input columns (all Utf8).
pub fn flow_schema(extras: &[String]) -> SchemaRef {
    let mut fields = core_fields();
    fields.extend(extras.iter().map(|name| Field::new(name, extra_type(name), true)));
    Arc::new(Schema::new(fields))
}

/// Extra columns that hold numbers in the exporters (interfaces, AS numbers, ToS, masks, VLANs,
/// counts and ids): 64-bit integers, whichever path wrote them (nfdump's CSV, an nfcapd file,
/// SiLK's rwcut text or rw file), so a store mixing them reads as one table. Every other extra
/// column is text.
pub const INTEGER_EXTRAS: [&str; 27] = [
    "fwd",
    "stos",
    "dtos",
    "in",
    "out",
    "sas",
    "das",
    "smk",
    "dmk",
    "dir",
    "svln",
    "dvln",
    "exid",
    "flows",
    "nextAS",
    "prevAS",
    "biDirection",
    "endReason",
    "connectionID",
    "event",
    "xEvent",
    "srcXPort",
    "dstXPort",
    "natPoolID",
    "ingressVrfID",
    "egressVrfID",
    "application",
];

/// The type of an extra column: Int64 for [`INTEGER_EXTRAS`], else Utf8.
pub fn extra_type(name: &str) -> DataType {
    if INTEGER_EXTRAS.contains(&name) {
        DataType::Int64
    } else {
        DataType::Utf8
    }
}

/// Turns an input column name into the name it is stored under: dots become underscores
/// (Spark reads `a.b` as struct access), surrounding blanks are dropped.
pub fn extra_column_name(input: &str) -> String {
    input.trim().replace('.', "_")
}

/// rwcut's abbreviated titles and the SiLK fields they stand for.
const SILK_TITLES: [(&str, &str); 6] = [
    ("sen", "sensor"),
    ("cla", "class"),
    ("appli", "application"),
    ("attribut", "attributes"),
    ("initialF", "initialFlags"),
    ("sessionF", "sessionFlags"),
];

/// The SiLK field name behind an rwcut title that abbreviates it (`sen` is the `sensor`
/// field, `cla` the `class` field); other names are returned as they are. Columns are stored
/// under the field name, the name a CSV of the same flows carries.
pub fn silk_field_name(title: &str) -> &str {
    SILK_TITLES.iter().find(|(t, _)| *t == title).map_or(title, |(_, f)| f)
}

/// The title rwcut prints for a SiLK field (`sensor` → `sen`); other names as they are.
pub fn silk_title(field: &str) -> &str {
    SILK_TITLES.iter().find(|(_, f)| *f == field).map_or(field, |(t, _)| t)
}

/// Parquet writer settings for flows files.
pub fn writer_properties() -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("flowlens {}", env!("CARGO_PKG_VERSION")));
    for col in [SIP, DIP] {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(col), true)
            .set_column_dictionary_page_size_limit(ColumnPath::from(col), ADDRESS_DICTIONARY_LIMIT)
            .set_column_statistics_enabled(ColumnPath::from(col), EnabledStatistics::None);
    }
    // Numbers: no dictionary (times and counts are nearly unique per row, and interning every
    // value costs time), but delta + bit-packing, which shrinks what zstd must then compress
    // (zstd is half the cost of writing): times are near-sorted, ports and counts need
    // far fewer bits than their plain 32/64. Every reader we test (DuckDB, pyarrow, Polars)
    // reads DELTA_BINARY_PACKED.
    for col in [STIME, ETIME, SPORT, DPORT, PACKETS, BYTES] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    for col in [STIME, ETIME] {
        b = b.set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
    }
    // Page statistics on stime let readers skip pages outside --from/--to.
    b = b.set_column_statistics_enabled(ColumnPath::from(STIME), EnabledStatistics::Page);
    // The smallest and largest flags string of a row group select nothing (`FS` < `S` says
    // nothing about `A`), and comparing strings row by row costs more than the column's
    // dictionary encoding.
    b = b.set_column_statistics_enabled(ColumnPath::from(FLAGS), EnabledStatistics::None);
    b.build()
}
