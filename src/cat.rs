//! `flowlens cat`: flows Parquet back to rwcut-style text. Converting the text again gives the
//! same rows (tested as a property).

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use crate::error::{Error, Result};
use crate::ingest::columns::{role_of, Role};
use crate::ingest::fields::parse_flags;
use crate::output::TextOut;
use crate::scan;
use crate::schema::*;
use crate::select::Selection;
use crate::text::{format_duration, format_flags, format_time, rwcut_column, Kind, TextWriter};

pub struct CatOptions {
    /// Columns to print (names or aliases); default: rwcut's default fields plus extra columns.
    pub fields: Option<Vec<String>>,
    /// Unpadded output separated by this character.
    pub delimiter: Option<char>,
    pub titles: bool,
    /// Only these flows (`--from/--to`, addresses, ports, protocols).
    pub select: Selection,
}

/// Pseudo-column computed from stime and etime.
const DURATION: &str = "duration";

const DEFAULT_FIELDS: [&str; 11] = [SIP, DIP, SPORT, DPORT, PROTO, PACKETS, BYTES, FLAGS, STIME, DURATION, ETIME];

/// Resolves a user's field name to a stored column name.
fn resolve_field(name: &str, available: &[String]) -> Result<String> {
    let stored = match role_of(name) {
        Role::Sip => SIP,
        Role::Dip => DIP,
        Role::Sport => SPORT,
        Role::Dport => DPORT,
        Role::Proto => PROTO,
        Role::Packets => PACKETS,
        Role::Bytes => BYTES,
        Role::Flags => FLAGS,
        Role::Stime => STIME,
        Role::Etime => ETIME,
        Role::Duration => DURATION,
        _ => {
            return available.iter().find(|a| a.eq_ignore_ascii_case(name.trim())).cloned().ok_or_else(|| {
                Error::Usage(format!(
                    "--fields: no column '{name}'; the files have: {}, duration",
                    available.join(", ")
                ))
            })
        }
    };
    Ok(stored.to_string())
}

/// Rows per batch read and printed.
const BATCH_ROWS: usize = 8192;

pub fn cat(inputs: &[PathBuf], opts: &CatOptions, output: Option<&Path>) -> Result<()> {
    let files = scan::list_parquet_range(inputs, &opts.select.range)?;
    // With every file outside the time range, the columns (titles, --fields) are still those of the
    // files, so that an empty range prints what a range with flows would, without rows.
    let listed = if files.is_empty() { scan::list_parquet(inputs)? } else { files.clone() };
    let available: Vec<String> = scan::union_schema(&listed)?.iter().map(|f| f.name().clone()).collect();
    let fields: Vec<String> = match &opts.fields {
        Some(list) => list.iter().map(|f| resolve_field(f, &available)).collect::<Result<_>>()?,
        None => DEFAULT_FIELDS
            .iter()
            .map(|s| s.to_string())
            .chain(available.iter().filter(|a| !CORE_COLUMNS.contains(&a.as_str())).cloned())
            .collect(),
    };
    // rwcut pads addresses to 15 characters, or to 39 (the longest IPv6 text) when the data
    // holds IPv6; unpadded output needs no look.
    let prints_addresses = fields.iter().any(|f| f == SIP || f == DIP);
    let ip_width =
        if opts.delimiter.is_none() && prints_addresses && holds_ipv6(&files, &opts.select)? { 39 } else { 15 };
    let columns = fields.iter().map(|f| rwcut_column(f, ip_width)).collect();
    let mut writer = TextWriter::new(columns, opts.delimiter);
    let mut out = TextOut::create(output)?;
    let io = |e| Error::io(output.map(Path::to_path_buf).unwrap_or_else(|| "<stdout>".into()), e);
    if opts.titles {
        writer.titles(&mut out).map_err(io)?;
    }
    let mut needed: Vec<&str> = fields.iter().map(String::as_str).collect();
    if needed.contains(&DURATION) {
        needed.extend([STIME, ETIME]);
    }
    for file in &files {
        // A file without a column prints it empty.
        let src = scan::open_flows(file, &[], &needed, false, &opts.select)?;
        for &rg in src.row_groups() {
            for batch in src.read_row_group(rg, BATCH_ROWS)? {
                print_batch(&batch?, &fields, &mut writer, &mut out).map_err(io)?;
            }
        }
    }
    out.finish()
}

/// Whether a selected row of `files` has an IPv6 source or destination address. Addresses are
/// read as dictionaries: the distinct values are looked at first, and the rows only when some
/// value is IPv6 (a filtered batch keeps its whole dictionary).
fn holds_ipv6(files: &[PathBuf], select: &Selection) -> Result<bool> {
    for file in files {
        let src = scan::open_flows(file, &[], &[SIP, DIP], true, select)?;
        for &rg in src.row_groups() {
            for batch in src.read_row_group(rg, 64 * 1024)? {
                let batch = batch?;
                for col in batch.columns() {
                    if column_holds_ipv6(col.as_ref()) {
                        return Ok(true);
                    }
                }
            }
        }
    }
    Ok(false)
}

fn column_holds_ipv6(col: &dyn Array) -> bool {
    let v6 = |s: &str| s.contains(':');
    match col.data_type() {
        DataType::Dictionary(_, _) => {
            let Some(dict) = col.as_dictionary_opt::<arrow_array::types::Int32Type>() else { return false };
            let values = dict.values().as_string::<i32>();
            let marked: Vec<bool> = values.iter().map(|v| v.is_some_and(v6)).collect();
            marked.iter().any(|&m| m)
                && dict.keys().iter().flatten().any(|k| marked.get(k as usize).copied().unwrap_or(false))
        }
        DataType::Utf8 => col.as_string::<i32>().iter().flatten().any(v6),
        _ => false,
    }
}

fn print_batch(batch: &RecordBatch, fields: &[String], w: &mut TextWriter, out: &mut TextOut) -> std::io::Result<()> {
    let col = |name: &str| batch.schema().index_of(name).ok().map(|i| batch.column(i).clone());
    let cols: Vec<Option<arrow_array::ArrayRef>> =
        fields.iter().map(|f| if f == DURATION { None } else { col(f) }).collect();
    let stime = col(STIME);
    let etime = col(ETIME);
    let mut cell = String::with_capacity(64);
    for row in 0..batch.num_rows() {
        for (i, f) in fields.iter().enumerate() {
            cell.clear();
            if f == DURATION {
                if let (Some(s), Some(e)) = (&stime, &etime) {
                    let (s, e) =
                        (s.as_primitive::<TimestampMicrosecondType>(), e.as_primitive::<TimestampMicrosecondType>());
                    if s.is_valid(row) && e.is_valid(row) {
                        format_duration(e.value(row) - s.value(row), &mut cell);
                    }
                }
            } else if let Some(a) = &cols[i] {
                if a.is_valid(row) {
                    format_cell(a.as_ref(), row, w.columns[i].kind, w.delimiter.is_some(), &mut cell);
                }
            }
            w.cell(i, &cell);
        }
        w.end(out)?;
    }
    Ok(())
}

/// One cell's text; `unpadded` (`--delimited`) prints flags packed (`FSPA`, empty for none), as
/// rwcut's `--no-columns` does, instead of in their fixed positions.
fn format_cell(a: &dyn Array, row: usize, kind: Kind, unpadded: bool, cell: &mut String) {
    use std::fmt::Write as _;
    match a.data_type() {
        DataType::Timestamp(_, _) => format_time(a.as_primitive::<TimestampMicrosecondType>().value(row), cell),
        DataType::UInt16 => {
            let _ = write!(cell, "{}", a.as_primitive::<UInt16Type>().value(row));
        }
        DataType::UInt8 => {
            let _ = write!(cell, "{}", a.as_primitive::<UInt8Type>().value(row));
        }
        DataType::Int64 => {
            let _ = write!(cell, "{}", a.as_primitive::<Int64Type>().value(row));
        }
        DataType::Utf8 => {
            let v = a.as_string::<i32>().value(row);
            match (kind, parse_flags(v.as_bytes())) {
                (Kind::Flags, Ok(mask)) if unpadded => cell.push_str(&crate::ingest::fields::flags_text(mask)),
                (Kind::Flags, Ok(mask)) => format_flags(mask, cell),
                _ => cell.push_str(v),
            }
        }
        _ => {
            let _ = write!(cell, "{:?}", a.slice(row, 1));
        }
    }
}
