//! Reading flows Parquet back: files and hive folders, with projection and a selection.
//!
//! A store folder holds `date=YYYY-MM-DD/part-*.parquet` files whose extra columns may differ,
//! so readers union columns by name ([`union_schema`]).
//!
//! Every reading command takes a [`Selection`] (`--from/--to`, addresses, ports, protocols).
//! It is applied in three steps, cheapest first: [`list_parquet_range`] drops files under
//! `date=` folders outside its time range, [`open_flows`] drops the row groups whose column
//! statistics rule out every row ([`crate::select::prune`]), and
//! [`FlowSource::read_row_group`] filters the rows of the row groups that may hold both kinds
//! ([`crate::select::filter`]), so that results are exact whatever the folder names and
//! statistics allow to skip.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt16Type, UInt8Type};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, Scalar, UInt64Array};
use arrow_ord::cmp;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use crate::error::{Error, Result};
use crate::schema::{BYTES, CORE_COLUMNS, DIP, DPORT, PACKETS, PROTO, SIP, SPORT, STIME};
use crate::select::filter::{bound_scalar, compare, AddrCache, Positions, RowFilter};
use crate::select::prune::{self, Matches, Stats};
pub use crate::select::{Selection, TimeRange};

/// Every `.parquet` file named or found below the named folders, sorted; hidden files and
/// folders (staging areas start with '.') are skipped.
pub fn list_parquet(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::input(names.join(" "), "no .parquet files found"));
    }
    Ok(out)
}

/// [`list_parquet`], without the files under `date=` folders outside `range` (a file named on
/// the command line is judged by its own `date=` parents). It fails as [`list_parquet`] does when
/// there are no `.parquet` files at all, and returns an empty list when there are some but all
/// lie outside the range: the caller then reports nothing, as for a range without flows.
pub fn list_parquet_range(paths: &[PathBuf], range: &TimeRange) -> Result<Vec<PathBuf>> {
    let mut files = list_parquet(paths)?;
    files.retain(|f| range.may_hold(f));
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if name.ends_with(".parquet") {
            out.push(p);
        }
    }
    Ok(())
}

/// Opens one file's reader builder.
pub fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::input(path.display().to_string(), not_parquet(path, e)))
}

/// Why `path` could not be read as Parquet, and what to do: flow text and flow archives are
/// converted first; a Parquet file that fails is damaged.
fn not_parquet(path: &Path, e: parquet::errors::ParquetError) -> String {
    let mut head = Vec::new();
    if let Ok(f) = File::open(path) {
        use std::io::Read;
        let _ = f.take(4096).read_to_end(&mut head);
    }
    let convert = "convert it first: flowlens convert FILE -o flows.parquet";
    if head.starts_with(b"PAR1") {
        return format!("a damaged Parquet file ({e})");
    }
    if head.starts_with(&[0x1F, 0x8B]) || head.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        return format!("not Parquet but compressed (gzip or zstd) input, likely flow text: {convert}");
    }
    if let Some(kind) = crate::ingest::binary_kind(&head) {
        return format!("not Parquet: this is {kind}");
    }
    let text = head.iter().filter(|&&b| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7F).contains(&b)).count();
    if !head.is_empty() && text * 10 >= head.len() * 9 {
        return format!("not Parquet: this is text (flow text?); {convert}");
    }
    format!("not a readable Parquet file: {e}")
}

/// The Arrow schema of one file.
pub fn file_schema(path: &Path) -> Result<SchemaRef> {
    Ok(open(path)?.schema().clone())
}

/// The columns of all files, by name, in order of first appearance.
pub fn union_schema(paths: &[PathBuf]) -> Result<Vec<Field>> {
    let mut fields: Vec<Field> = Vec::new();
    for p in paths {
        for f in file_schema(p)?.fields() {
            if !fields.iter().any(|x| x.name() == f.name()) {
                fields.push(f.as_ref().clone());
            }
        }
    }
    Ok(fields)
}

/// A reader over one file, keeping only the columns named in `columns` that the file has.
pub fn read_columns(path: &Path, columns: &[&str], batch_size: usize) -> Result<ParquetRecordBatchReader> {
    let builder = open(path)?;
    let schema = builder.schema().clone();
    let indices: Vec<usize> = columns.iter().filter_map(|c| schema.index_of(c).ok()).collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    Ok(builder.with_projection(mask).with_batch_size(batch_size).build()?)
}

/// Every batch of one file, all columns (for tests and small files).
pub fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
    let reader = open(path)?.build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// One flows file ready to be read row group by row group (the unit of parallel work), with
/// projection and the row groups and rows of a [`Selection`]. Shared by reference between
/// workers: each [`FlowSource::read_row_group`] opens its own reader.
pub struct FlowSource {
    path: PathBuf,
    meta: ArrowReaderMetadata,
    /// The requested columns.
    mask: ProjectionMask,
    /// The requested columns plus the selection's, for row groups that need the row filter.
    filter_mask: ProjectionMask,
    schema: SchemaRef,
    row_groups: Vec<usize>,
    /// Per kept row group: whether some of its rows may be outside the selection.
    needs_filter: Vec<bool>,
    filter: Option<Arc<Filter>>,
    /// Positions in the output of address columns read as dictionaries for the filter that the
    /// caller asked for as plain strings.
    plain_addresses: Vec<usize>,
}

/// The row filter of a file, and how to go from a batch read with `filter_mask` to the
/// requested columns.
struct Filter {
    rows: RowFilter,
    /// The requested columns' positions in such a batch, when columns were added for the filter.
    keep: Option<Vec<usize>>,
}

fn input_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::input(path.display().to_string(), reason)
}

/// Checks that the file has every requested column, with the flows schema's type where readers
/// rely on it: ports, counters and addresses (any string type, or a dictionary of strings).
fn check_columns(path: &Path, schema: &Schema, columns: &[&str]) -> Result<()> {
    for &name in columns {
        let Ok(f) = schema.field_with_name(name) else {
            let what = if CORE_COLUMNS.contains(&name) { ": not a flows file" } else { "" };
            return Err(input_err(path, format!("no column '{name}'{what}")));
        };
        let t = f.data_type();
        let text = matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..));
        let want = match name {
            SPORT | DPORT => DataType::UInt16,
            PACKETS | BYTES => DataType::Int64,
            SIP | DIP if !text => DataType::Utf8,
            _ => continue,
        };
        if *t != want {
            return Err(input_err(path, format!("column '{name}' is {t}; the flows schema stores it as {want}")));
        }
    }
    Ok(())
}

/// Checks the types of the selection's columns that the file has: ports and protocols are
/// compared as the flows schema's integers, addresses as text.
fn check_selection_columns(path: &Path, schema: &Schema, select: &Selection) -> Result<()> {
    let present: Vec<&str> = select.columns().into_iter().filter(|c| schema.index_of(c).is_ok()).collect();
    check_columns(path, schema, &present)?;
    if let Ok(f) = schema.field_with_name(PROTO) {
        if select.proto.is_some() && *f.data_type() != DataType::UInt8 {
            let t = f.data_type();
            return Err(input_err(path, format!("column '{PROTO}' is {t}; the flows schema stores it as UInt8")));
        }
    }
    Ok(())
}

/// Opens one flows file for reading `columns` (each must exist; ports, addresses and counters
/// must have the flows schema's types) and those of `optional` that the file has, keeping the
/// flows of `select`. `dictionary_addresses` asks the reader for `sip`/`dip` as
/// `Dictionary(Int32, Utf8)`, so that a reader can parse each distinct address of a column
/// chunk once (a selection on addresses reads them so too, and hands them out as plain strings
/// when the caller did not ask for dictionaries). Row groups whose statistics rule out every
/// row of the selection are dropped. A column of the selection that the file lacks is null in
/// every row, which no condition matches: with a time range, a file without `stime` keeps no
/// row group (flows without a start time are in no range).
pub fn open_flows(
    path: &Path,
    columns: &[&str],
    optional: &[&str],
    dictionary_addresses: bool,
    select: &Selection,
) -> Result<FlowSource> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| input_err(path, not_parquet(path, e)))?;
    let schema = plain.schema().clone();
    check_columns(path, &schema, columns)?;
    // Optional columns are read when the file has them (and then must have the schema's types).
    let present: Vec<&str> = optional.iter().copied().filter(|c| schema.index_of(c).is_ok()).collect();
    check_columns(path, &schema, &present)?;
    check_selection_columns(path, &schema, select)?;
    let columns: Vec<&str> = columns.iter().chain(&present).copied().collect();
    let columns = columns.as_slice();
    let meta = if dictionary_addresses || select.has_addresses() {
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                let f = f.as_ref().clone();
                if f.name() == SIP || f.name() == DIP {
                    f.with_data_type(dict.clone())
                } else {
                    f
                }
            })
            .collect();
        let hinted = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        // Files from other writers may carry types the hint cannot be checked against; they are
        // read as plain strings then (slower, same result).
        ArrowReaderMetadata::try_new(plain.metadata().clone(), ArrowReaderOptions::new().with_schema(hinted))
            .unwrap_or(plain)
    } else {
        plain
    };
    let schema = meta.schema().clone();
    let mut indices: Vec<usize> = columns.iter().filter_map(|c| schema.index_of(c).ok()).collect();
    indices.sort_unstable();
    indices.dedup();
    let mask = ProjectionMask::roots(meta.parquet_schema(), indices.iter().copied());
    let mut out_schema = schema.project(&indices)?;
    let mut plain_addresses = Vec::new();
    if !dictionary_addresses {
        let mut fields: Vec<Field> = out_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for (i, f) in fields.iter_mut().enumerate() {
            if let DataType::Dictionary(_, value) = f.data_type() {
                if f.name() == SIP || f.name() == DIP {
                    *f = f.clone().with_data_type(value.as_ref().clone());
                    plain_addresses.push(i);
                }
            }
        }
        out_schema = Schema::new_with_metadata(fields, out_schema.metadata().clone());
    }
    let all_groups = meta.metadata().num_row_groups();
    let mut src = FlowSource {
        path: path.to_path_buf(),
        mask: mask.clone(),
        filter_mask: mask,
        schema: Arc::new(out_schema),
        row_groups: (0..all_groups).collect(),
        needs_filter: vec![false; all_groups],
        filter: None,
        plain_addresses,
        meta,
    };
    if select.is_all() {
        return Ok(src);
    }
    // Read the selection's columns too, and find them in the batches read so.
    let mut read_indices = indices.clone();
    for c in select.columns() {
        if let Ok(i) = schema.index_of(c) {
            read_indices.push(i);
        }
    }
    read_indices.sort_unstable();
    read_indices.dedup();
    let keep =
        (read_indices != indices).then(|| indices.iter().filter_map(|i| read_indices.binary_search(i).ok()).collect());
    let at = |name: &str| schema.index_of(name).ok().and_then(|i| read_indices.binary_search(&i).ok());
    let positions = Positions {
        stime: at(STIME),
        sip: at(SIP),
        dip: at(DIP),
        sport: at(SPORT),
        dport: at(DPORT),
        proto: at(PROTO),
    };
    let stime_type = schema.field_with_name(STIME).ok().map(|f| f.data_type().clone());
    let rows = RowFilter::new(Arc::new(select.clone()), positions, stime_type.as_ref())
        .map_err(|reason| input_err(path, reason))?;
    src.filter_mask = ProjectionMask::roots(src.meta.parquet_schema(), read_indices);
    (src.row_groups, src.needs_filter) = prune_row_groups(&src.meta, select, stime_type.as_ref())?;
    src.filter = Some(Arc::new(Filter { rows, keep }));
    Ok(src)
}

/// The row groups whose statistics allow rows of the selection, and for each whether it needs
/// the row filter (statistics missing, or some rows outside the selection).
fn prune_row_groups(
    meta: &ArrowReaderMetadata,
    select: &Selection,
    stime_type: Option<&DataType>,
) -> Result<(Vec<usize>, Vec<bool>)> {
    let groups = meta.metadata().row_groups();
    let rows: Vec<u64> = groups.iter().map(|g| g.num_rows().max(0) as u64).collect();
    let mut verdict = vec![Matches::All; groups.len()];
    let mut and = |m: Vec<Matches>| {
        for (v, m) in verdict.iter_mut().zip(m) {
            *v = v.and(m);
        }
    };
    if !select.range.is_all() {
        and(time_matches(meta, &select.range, stime_type, &rows)?);
    }
    let ports = |name: &str, set: &crate::select::PortSet| -> Result<Vec<Matches>> {
        Ok(integer_stats::<UInt16Type>(meta, name, &rows)?.iter().map(|s| prune::ports(set, s)).collect())
    };
    if let Some(set) = &select.sport {
        and(ports(SPORT, set)?);
    }
    if let Some(set) = &select.dport {
        and(ports(DPORT, set)?);
    }
    if let Some(set) = &select.aport {
        and(either(ports(SPORT, set)?, ports(DPORT, set)?));
    }
    if let Some(set) = &select.proto {
        and(integer_stats::<UInt8Type>(meta, PROTO, &rows)?.iter().map(|s| prune::protos(set, s)).collect());
    }
    let addrs = |name: &str, set: &crate::select::AddrSet| -> Result<Vec<Matches>> {
        let intervals = set.text_intervals();
        let (mins, maxes, nulls) = match column_stats(meta, name)? {
            Some(s) => s,
            None => return Ok(vec![Matches::None; rows.len()]),
        };
        Ok((0..rows.len())
            .map(|i| {
                let s = Stats { min: text(&mins, i), max: text(&maxes, i), nulls: count(&nulls, i), rows: rows[i] };
                prune::addresses(set, intervals.as_deref(), &s)
            })
            .collect())
    };
    if let Some(set) = &select.saddress {
        and(addrs(SIP, set)?);
    }
    if let Some(set) = &select.daddress {
        and(addrs(DIP, set)?);
    }
    if let Some(set) = &select.any_address {
        and(either(addrs(SIP, set)?, addrs(DIP, set)?));
    }
    let (mut kept, mut filter) = (Vec::new(), Vec::new());
    for (i, v) in verdict.into_iter().enumerate() {
        if v != Matches::None {
            kept.push(i);
            filter.push(v == Matches::Some);
        }
    }
    Ok((kept, filter))
}

fn either(a: Vec<Matches>, b: Vec<Matches>) -> Vec<Matches> {
    a.into_iter().zip(b).map(|(a, b)| a.or(b)).collect()
}

/// A column's per-row-group minimums, maximums and null counts, or `None` when the file has no
/// such column.
fn column_stats(meta: &ArrowReaderMetadata, name: &str) -> Result<Option<(ArrayRef, ArrayRef, UInt64Array)>> {
    if meta.schema().index_of(name).is_err() {
        return Ok(None);
    }
    let groups = meta.metadata().row_groups();
    let stats = StatisticsConverter::try_new(name, meta.schema(), meta.parquet_schema())?
        .with_missing_null_counts_as_zero(false)
        .with_column_orders(meta.metadata().file_metadata().column_orders().map(|v| v.as_slice()));
    Ok(Some((
        stats.row_group_mins(groups.iter())?,
        stats.row_group_maxes(groups.iter())?,
        stats.row_group_null_counts(groups.iter())?,
    )))
}

fn count(nulls: &UInt64Array, i: usize) -> Option<u64> {
    nulls.is_valid(i).then(|| nulls.value(i))
}

fn text(a: &ArrayRef, i: usize) -> Option<&str> {
    if !a.is_valid(i) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(a.as_string_view().value(i)),
        _ => None,
    }
}

/// Integer statistics of a column per row group; a file without the column gives all-null
/// statistics (every row null), so that no row group is kept for it.
fn integer_stats<T: arrow_array::ArrowPrimitiveType>(
    meta: &ArrowReaderMetadata,
    name: &str,
    rows: &[u64],
) -> Result<Vec<Stats<T::Native>>> {
    let Some((mins, maxes, nulls)) = column_stats(meta, name)? else {
        return Ok(rows.iter().map(|&r| Stats { min: None, max: None, nulls: Some(r), rows: r }).collect());
    };
    let value = |a: &ArrayRef, i: usize| a.as_primitive_opt::<T>().and_then(|a| a.is_valid(i).then(|| a.value(i)));
    Ok((0..rows.len())
        .map(|i| Stats { min: value(&mins, i), max: value(&maxes, i), nulls: count(&nulls, i), rows: rows[i] })
        .collect())
}

/// Which rows of each row group may start in `range`, by the `stime` statistics (compared with
/// the cmp kernels in the file's own timestamp unit).
fn time_matches(
    meta: &ArrowReaderMetadata,
    range: &TimeRange,
    stime_type: Option<&DataType>,
    rows: &[u64],
) -> Result<Vec<Matches>> {
    let (Some(t), Some((mins, maxes, nulls))) = (stime_type, column_stats(meta, STIME)?) else {
        // No start times: no flow is in a range.
        return Ok(vec![Matches::None; rows.len()]);
    };
    // Checked by RowFilter::new: a time range needs a timestamp column.
    let bound = |us: Option<i64>| us.and_then(|us| bound_scalar(t, us));
    let (from, to): (Option<Scalar<ArrayRef>>, Option<Scalar<ArrayRef>>) = (bound(range.from_us), bound(range.to_us));
    let (from, to) = (from.as_ref(), to.as_ref());
    // Whether a comparison is known to hold for row group `i` (statistics present and true);
    // `unset` when its bound is not set.
    let holds =
        |m: &Option<BooleanArray>, i: usize, unset: bool| m.as_ref().map_or(unset, |m| m.is_valid(i) && m.value(i));
    let after_end = compare(&mins, cmp::gt_eq, to)?; // min >= to
    let before_start = compare(&maxes, cmp::lt, from)?; // max < from
    let min_in = compare(&mins, cmp::gt_eq, from)?; // min >= from
    let max_in = compare(&maxes, cmp::lt, to)?; // max < to
    Ok((0..rows.len())
        .map(|i| {
            let null_count = count(&nulls, i);
            if rows[i] == 0
                || null_count == Some(rows[i])
                || holds(&after_end, i, false)
                || holds(&before_start, i, false)
            {
                Matches::None
            } else if holds(&min_in, i, true) && holds(&max_in, i, true) && null_count == Some(0) {
                // A bound that is not set is met by every row.
                Matches::All
            } else {
                Matches::Some
            }
        })
        .collect())
}

impl FlowSource {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The row groups left after pruning by statistics, in file order.
    pub fn row_groups(&self) -> &[usize] {
        &self.row_groups
    }

    /// The schema of the batches [`FlowSource::read_row_group`] yields: the requested columns,
    /// in file order.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The file's metadata (the reader's view, with the address hint when asked for).
    pub fn metadata(&self) -> &ArrowReaderMetadata {
        &self.meta
    }

    /// The rows of row group `rg` in the selection, in batches of at most `batch_rows` rows
    /// (batches left empty by the filter are not yielded).
    pub fn read_row_group(&self, rg: usize, batch_rows: usize) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
        // A row group pruned away (or unknown) is filtered rather than trusted.
        let filtered =
            self.filter.is_some() && self.row_groups.iter().position(|&g| g == rg).is_none_or(|i| self.needs_filter[i]);
        let filter = if filtered { self.filter.clone() } else { None };
        let mask = if filtered { &self.filter_mask } else { &self.mask };
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_row_groups(vec![rg])
            .with_projection(mask.clone())
            .with_batch_size(batch_rows.max(1))
            .build()?;
        let path = self.path.clone();
        let schema = self.schema.clone();
        let plain = self.plain_addresses.clone();
        let mut cache = AddrCache::default();
        Ok(reader.filter_map(move |batch| {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => return Some(Err(input_err(&path, format!("row group {rg}: {e}")))),
            };
            let out = match &filter {
                Some(f) => filter_batch(&batch, f, &mut cache, &path),
                None => Ok(batch),
            };
            match out.and_then(|b| plain_strings(b, &plain, &schema)) {
                Ok(b) if b.num_rows() == 0 => None,
                r => Some(r),
            }
        }))
    }
}

/// The rows of `batch` (read with the filter mask) that the selection keeps, without the
/// columns only the filter asked for.
fn filter_batch(batch: &RecordBatch, f: &Filter, cache: &mut AddrCache, path: &Path) -> Result<RecordBatch> {
    let mask = f.rows.mask(batch, cache).map_err(|reason| input_err(path, reason))?;
    let batch = if mask.count_set_bits() == batch.num_rows() {
        batch.clone()
    } else {
        arrow_select::filter::filter_record_batch(batch, &BooleanArray::new(mask, None))?
    };
    Ok(match &f.keep {
        Some(keep) => batch.project(keep)?,
        None => batch,
    })
}

/// `batch` with the dictionary address columns at `positions` turned into plain strings, as
/// `schema` says.
fn plain_strings(batch: RecordBatch, positions: &[usize], schema: &SchemaRef) -> Result<RecordBatch> {
    if positions.is_empty() {
        return Ok(batch);
    }
    let mut columns = batch.columns().to_vec();
    for &i in positions {
        if let Some(d) = columns[i].as_any_dictionary_opt() {
            let plain = arrow_select::take::take(d.values().as_ref(), d.keys(), None)?;
            columns[i] = plain;
        }
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::time::DAY_US;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type};
    use arrow_array::TimestampMicrosecondArray;
    use arrow_array::TimestampSecondArray;
    use arrow_array::{Int64Array, StringArray, UInt16Array, UInt8Array};
    use arrow_schema::TimeUnit;
    use chrono::NaiveDate;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    /// 2026-11-21T00:00:00Z in microseconds.
    const D2: i64 = 1_795_219_200_000_000;
    const D1: i64 = D2 - DAY_US;

    fn day(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn date_folders_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let names = [
            "date=2026-11-20/part-00000.parquet",
            "date=2026-11-21/part-00000.parquet",
            "date=__HIVE_DEFAULT_PARTITION__/part-00000.parquet",
            "date=soon/part-00000.parquet",
            "other/part-00000.parquet",
        ];
        for n in names {
            let p = store.join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"not read while listing").unwrap();
        }
        let list = |paths: &[PathBuf], r: TimeRange| -> Vec<String> {
            list_parquet_range(paths, &r)
                .unwrap()
                .iter()
                .map(|p| p.strip_prefix(&store).unwrap().parent().unwrap().display().to_string())
                .collect()
        };
        let s = [store.clone()];
        let all = list(&s, TimeRange::all());
        assert_eq!(
            all,
            ["date=2026-11-20", "date=2026-11-21", "date=__HIVE_DEFAULT_PARTITION__", "date=soon", "other"]
        );
        let d2 = TimeRange::days(day("2026-11-21"), day("2026-11-21")).unwrap();
        // A folder that names no day says nothing: its rows are filtered when read. A day's
        // folder is read for the day before and after too (a daily archive holds flows that
        // started before midnight).
        assert_eq!(list(&s, d2), ["date=2026-11-20", "date=2026-11-21", "date=soon", "other"]);
        let d23 = TimeRange::days(day("2026-11-23"), day("2026-11-23")).unwrap();
        assert_eq!(list(&s, d23), ["date=soon", "other"]);
        let from = TimeRange::days(day("2026-11-20"), None).unwrap();
        assert_eq!(list(&s, from), ["date=2026-11-20", "date=2026-11-21", "date=soon", "other"]);
        let until = TimeRange::days(None, day("2026-11-18")).unwrap();
        assert_eq!(list(&s, until), ["date=soon", "other"]);
        // A file named on the command line is still judged by its date= folder.
        let named = [store.join(names[0])];
        assert!(list_parquet_range(&named, &d23).unwrap().is_empty());
        assert_eq!(list_parquet_range(&named, &TimeRange::days(day("2026-11-20"), None).unwrap()).unwrap().len(), 1);
        // No .parquet files at all stays an error, with or without a range.
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let e = list_parquet_range(&[empty], &d2).unwrap_err().to_string();
        assert!(e.contains("no .parquet files found"), "{e}");
    }

    /// Writes a flows file of `stimes` (sport = row number) in row groups of `group` rows.
    fn write_flows(path: &Path, stimes: &[Option<i64>], group: usize, stats: EnabledStatistics) {
        let schema = crate::schema::flow_schema(&[]);
        let n = stimes.len();
        let ts = |v: &[Option<i64>]| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(v.to_vec()).with_timezone("UTC"))
        };
        let cols: Vec<ArrayRef> = vec![
            ts(stimes),
            ts(stimes),
            Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("10.0.0.{}", i % 3)))),
            Arc::new(StringArray::from_iter_values((0..n).map(|_| "10.0.1.1"))),
            Arc::new(UInt16Array::from_iter_values(0..n as u16)),
            Arc::new(UInt16Array::from_iter_values((0..n).map(|_| 80))),
            Arc::new(UInt8Array::from_iter_values((0..n).map(|_| 6))),
            Arc::new(Int64Array::from_iter_values((0..n).map(|_| 1))),
            Arc::new(Int64Array::from_iter_values((0..n).map(|_| 40))),
            arrow_array::new_null_array(&DataType::Utf8, n),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let mut props = crate::schema::writer_properties().into_builder().set_max_row_group_row_count(Some(group));
        if stats == EnabledStatistics::None {
            props = props.set_statistics_enabled(stats).set_column_statistics_enabled(STIME.into(), stats);
        }
        let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, Some(props.build())).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// The sports (row numbers) a source yields over its kept row groups, checking each batch
    /// against the source's schema.
    fn rows_read(src: &FlowSource, batch_rows: usize) -> Vec<u16> {
        let mut out = Vec::new();
        for &rg in src.row_groups() {
            for b in src.read_row_group(rg, batch_rows).unwrap() {
                let b = b.unwrap();
                assert!(b.num_rows() > 0, "no empty batches");
                assert_eq!(b.schema().fields(), src.schema().fields());
                out.extend(b.column_by_name(SPORT).unwrap().as_primitive::<UInt16Type>().values().iter().copied());
            }
        }
        out
    }

    /// Rows (by number) whose stime is in `r`: what any reader must yield.
    fn expected(stimes: &[Option<i64>], r: &TimeRange) -> Vec<u16> {
        (0..stimes.len() as u16)
            .filter(|&i| match stimes[i as usize] {
                Some(t) => r.contains(t),
                None => r.is_all(),
            })
            .collect()
    }

    /// Row groups of 3: all day 1; day 1 and day 2; all day 2; all null; day 2 and a null;
    /// the last second of day 2 and the first instant of day 3.
    fn two_days() -> Vec<Option<i64>> {
        let h = 3_600_000_000;
        [
            [Some(D1), Some(D1 + h), Some(D1 + 2 * h)],
            [Some(D2 - 1), Some(D2), Some(D2 + h)],
            [Some(D2 + 2 * h), Some(D2 + 3 * h), Some(D2 + 4 * h)],
            [None, None, None],
            [Some(D2 + 5 * h), None, Some(D2 + 6 * h)],
            [Some(D2 + DAY_US - 1), Some(D2 + DAY_US), Some(D2 + DAY_US + h)],
        ]
        .concat()
    }

    #[test]
    fn row_groups_are_pruned_by_statistics_and_rows_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let stimes = two_days();
        write_flows(&path, &stimes, 3, EnabledStatistics::Page);
        let d2 = TimeRange::days(day("2026-11-21"), day("2026-11-21")).unwrap();
        let cols = [SIP, SPORT];
        let src = open_flows(&path, &cols, &[], true, &Selection::range(d2)).unwrap();
        assert_eq!(src.row_groups(), [1, 2, 4, 5]);
        assert_eq!(src.needs_filter, [true, false, true, true]);
        // stime was read for the filter only: the batches have the requested columns.
        let names: Vec<String> = src.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, [SIP, SPORT]);
        assert!(matches!(src.schema().field(0).data_type(), DataType::Dictionary(_, _)));
        for batch_rows in [1, 2, 1000] {
            assert_eq!(rows_read(&src, batch_rows), expected(&stimes, &d2), "batches of {batch_rows}");
        }
        assert_eq!(rows_read(&src, 1000), [4, 5, 6, 7, 8, 12, 14, 15]);
        // Asking for stime keeps it in the batches.
        let with_stime = open_flows(&path, &[STIME, SPORT], &[], false, &Selection::range(d2)).unwrap();
        let b = with_stime.read_row_group(1, 10).unwrap().next().unwrap().unwrap();
        assert_eq!(b.num_columns(), 2);
        let t = b.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(t.values().to_vec(), [D2, D2 + 3_600_000_000]);
        // Open ends.
        for r in [
            TimeRange::days(day("2026-11-21"), None).unwrap(),
            TimeRange::days(None, day("2026-11-20")).unwrap(),
            TimeRange::days(day("2026-11-22"), None).unwrap(),
            TimeRange::days(day("2026-11-23"), None).unwrap(),
        ] {
            let src = open_flows(&path, &cols, &[], true, &Selection::range(r)).unwrap();
            assert_eq!(rows_read(&src, 2), expected(&stimes, &r), "{r:?}");
        }
        assert!(open_flows(
            &path,
            &cols,
            &[],
            true,
            &Selection::range(TimeRange::days(day("2026-11-23"), None).unwrap())
        )
        .unwrap()
        .row_groups()
        .is_empty());
        // Without a range every row group and row is read, null start times included.
        let all = open_flows(&path, &cols, &[], true, &Selection::all()).unwrap();
        assert_eq!(all.row_groups(), [0, 1, 2, 3, 4, 5]);
        assert_eq!(rows_read(&all, 4), (0..18).collect::<Vec<u16>>());
    }

    /// One flow of [`write_mixed`]: sip, dip, sport, dport, proto.
    type Flow = (&'static str, &'static str, u16, u16, u8);

    /// Row groups of 4: IPv4 ssh clients to one server; DNS answers from port 53; IPv6 https;
    /// ICMP echo between two fixed addresses. Statistics on every column (as a writer other
    /// than flowlens keeps them on addresses) or none.
    const MIXED: [Flow; 16] = [
        ("10.0.0.1", "192.0.2.1", 40000, 22, 6),
        ("10.0.0.2", "192.0.2.1", 40001, 22, 6),
        ("10.0.0.3", "192.0.2.1", 40002, 22, 6),
        ("10.0.0.4", "192.0.2.1", 40003, 22, 6),
        ("10.0.1.1", "192.0.2.2", 53, 30000, 17),
        ("10.0.1.2", "192.0.2.2", 53, 30001, 17),
        ("10.0.1.3", "192.0.2.2", 53, 30002, 17),
        ("10.0.1.4", "192.0.2.2", 53, 30003, 17),
        ("2001:db8::1", "2001:db8::ff", 1000, 443, 6),
        ("2001:db8::2", "2001:db8::ff", 1001, 443, 6),
        ("2001:db8::3", "2001:db8::ff", 1002, 443, 6),
        ("2001:db8::4", "2001:db8::ff", 1003, 443, 6),
        ("10.0.0.5", "10.0.0.6", 0, 2048, 1),
        ("10.0.0.5", "10.0.0.6", 0, 2048, 1),
        ("10.0.0.5", "10.0.0.6", 0, 2048, 1),
        ("10.0.0.5", "10.0.0.6", 0, 2048, 1),
    ];

    fn write_mixed(path: &Path, stats: EnabledStatistics) {
        let schema = crate::schema::flow_schema(&[]);
        let n = MIXED.len();
        let times: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from_iter_values((0..n as i64).map(|i| D2 + i)).with_timezone("UTC"));
        let cols: Vec<ArrayRef> = vec![
            times.clone(),
            times,
            Arc::new(StringArray::from_iter_values(MIXED.iter().map(|f| f.0))),
            Arc::new(StringArray::from_iter_values(MIXED.iter().map(|f| f.1))),
            Arc::new(UInt16Array::from_iter_values(MIXED.iter().map(|f| f.2))),
            Arc::new(UInt16Array::from_iter_values(MIXED.iter().map(|f| f.3))),
            Arc::new(UInt8Array::from_iter_values(MIXED.iter().map(|f| f.4))),
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
            Arc::new(Int64Array::from_iter_values((0..n).map(|_| 40))),
            arrow_array::new_null_array(&DataType::Utf8, n),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(4)).set_statistics_enabled(stats);
        let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, Some(props.build())).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// The row numbers (the `packets` column) a source yields.
    fn packets_read(src: &FlowSource) -> Vec<i64> {
        let mut out = Vec::new();
        for &rg in src.row_groups() {
            for b in src.read_row_group(rg, 3).unwrap() {
                let b = b.unwrap();
                assert_eq!(b.schema().fields(), src.schema().fields());
                out.extend(b.column_by_name(PACKETS).unwrap().as_primitive::<Int64Type>().values().iter().copied());
            }
        }
        out
    }

    /// The rows of [`MIXED`] that `s` keeps, by the definition.
    fn mixed_expected(s: &Selection) -> Vec<i64> {
        let addr =
            |set: &Option<crate::select::AddrSet>, a: &str| set.as_ref().is_none_or(|x| x.contains(a.parse().unwrap()));
        let port = |set: &Option<crate::select::PortSet>, p: u16| set.as_ref().is_none_or(|x| x.contains(p));
        (0..MIXED.len())
            .filter(|&i| {
                let (sip, dip, sport, dport, proto) = MIXED[i];
                addr(&s.saddress, sip)
                    && addr(&s.daddress, dip)
                    && s.any_address
                        .as_ref()
                        .is_none_or(|x| x.contains(sip.parse().unwrap()) || x.contains(dip.parse().unwrap()))
                    && port(&s.sport, sport)
                    && port(&s.dport, dport)
                    && s.aport.as_ref().is_none_or(|x| x.contains(sport) || x.contains(dport))
                    && s.proto.as_ref().is_none_or(|x| x.contains(proto))
            })
            .map(|i| i as i64)
            .collect()
    }

    /// Each kind of condition prunes the row groups its statistics rule out (and only those),
    /// skips the row filter where every row matches, and gives the rows of the definition;
    /// without statistics every row group is read and filtered, with the same rows.
    #[test]
    fn selections_prune_row_groups_by_ports_protocols_and_addresses() {
        use crate::select::{AddrSet, PortSet, ProtoSet};
        let dir = tempfile::tempdir().unwrap();
        let (with, without) = (dir.path().join("stats.parquet"), dir.path().join("none.parquet"));
        write_mixed(&with, EnabledStatistics::Chunk);
        write_mixed(&without, EnabledStatistics::None);
        let a = |s: &str| Some(AddrSet::parse_list(s).unwrap());
        let p = |s: &str| Some(PortSet::parse_list(s).unwrap());
        let all = Selection::all();
        // (selection, kept row groups, of which filtered)
        let cases: Vec<(Selection, Vec<usize>, Vec<bool>)> = vec![
            (Selection { dport: p("22"), ..all.clone() }, vec![0], vec![false]),
            (Selection { dport: p("22,443"), ..all.clone() }, vec![0, 2], vec![false, false]),
            (Selection { dport: p("23-442"), ..all.clone() }, vec![], vec![]),
            // [30000, 30003] holds none of these but its neighbours.
            (Selection { dport: p("29999,30004-40000"), ..all.clone() }, vec![], vec![]),
            (Selection { dport: p("30001"), ..all.clone() }, vec![1], vec![true]),
            (Selection { sport: p("53"), ..all.clone() }, vec![1], vec![false]),
            (Selection { aport: p("53"), ..all.clone() }, vec![1], vec![false]),
            (Selection { aport: p("1001,2048"), ..all.clone() }, vec![2, 3], vec![true, false]),
            (
                Selection { proto: Some(ProtoSet::parse_list("udp,icmp").unwrap()), ..all.clone() },
                vec![1, 3],
                vec![false, false],
            ),
            (Selection { saddress: a("10.0.0.5"), ..all.clone() }, vec![3], vec![false]),
            // As text, [10.0.0.1, 10.0.0.4] may hold 10.0.0.0/24 addresses ("10.0.0." up to
            // "10.0.0/"); [10.0.1.1, 10.0.1.4] may not.
            (Selection { saddress: a("10.0.0.0/24"), ..all.clone() }, vec![0, 3], vec![true, false]),
            (Selection { saddress: a("10.0.1.3"), ..all.clone() }, vec![1], vec![true]),
            // IPv6: only the group of one known address can be ruled out.
            (Selection { saddress: a("2001:db8::/32"), ..all.clone() }, vec![0, 1, 2], vec![true, true, true]),
            (Selection { daddress: a("2001:db8::ff"), ..all.clone() }, vec![2], vec![false]),
            (Selection { any_address: a("10.0.0.6"), ..all.clone() }, vec![3], vec![false]),
            (Selection { any_address: a("192.0.2.2,10.0.0.3"), ..all.clone() }, vec![0, 1], vec![true, false]),
            (Selection { dport: p("22"), sport: p("40001"), ..all.clone() }, vec![0], vec![true]),
            (
                Selection { dport: p("22"), proto: Some(ProtoSet::parse_list("udp").unwrap()), ..all.clone() },
                vec![],
                vec![],
            ),
        ];
        for (s, groups, filtered) in cases {
            let want = mixed_expected(&s);
            let src = open_flows(&with, &[PACKETS, SIP], &[], false, &s).unwrap();
            assert_eq!(
                (src.row_groups(), src.needs_filter.as_slice()),
                (groups.as_slice(), filtered.as_slice()),
                "{s:?}"
            );
            assert_eq!(packets_read(&src), want, "{s:?}");
            // Addresses read as dictionaries for the filter are handed out as asked.
            assert_eq!(src.schema().field_with_name(SIP).unwrap().data_type(), &DataType::Utf8);
            let dict = open_flows(&with, &[PACKETS, SIP], &[], true, &s).unwrap();
            assert_eq!(packets_read(&dict), want, "{s:?}");
            let none = open_flows(&without, &[PACKETS], &[], true, &s).unwrap();
            assert_eq!(none.row_groups(), [0, 1, 2, 3], "{s:?}");
            assert!(none.needs_filter.iter().all(|&f| f));
            assert_eq!(packets_read(&none), want, "{s:?}");
        }
    }

    #[test]
    fn files_without_statistics_give_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let stimes = two_days();
        write_flows(&path, &stimes, 3, EnabledStatistics::None);
        let d2 = TimeRange::days(day("2026-11-21"), day("2026-11-21")).unwrap();
        let src = open_flows(&path, &[SPORT], &[], false, &Selection::range(d2)).unwrap();
        assert_eq!(src.row_groups(), [0, 1, 2, 3, 4, 5]);
        assert!(src.needs_filter.iter().all(|&f| f));
        assert_eq!(rows_read(&src, 2), expected(&stimes, &d2));
    }

    /// Another writer's start times in seconds or milliseconds are compared in microseconds.
    #[test]
    fn other_time_units() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let secs = [D2 / 1_000_000 - 1, D2 / 1_000_000, D2 / 1_000_000 + 86_399, D2 / 1_000_000 + 86_400];
        let schema = Arc::new(Schema::new(vec![
            Field::new(STIME, DataType::Timestamp(TimeUnit::Second, None), true),
            Field::new(SPORT, DataType::UInt16, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(TimestampSecondArray::from(secs.to_vec())), Arc::new(UInt16Array::from(vec![0, 1, 2, 3]))],
        )
        .unwrap();
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(2)).build();
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let d2 = TimeRange::days(day("2026-11-21"), day("2026-11-21")).unwrap();
        let src = open_flows(&path, &[SPORT], &[], false, &Selection::range(d2)).unwrap();
        assert_eq!(rows_read(&src, 10), [1, 2]);
        // A bound between two seconds: 00:00:00.5 keeps the second 00:00:01 onwards.
        let half = TimeRange { from_us: Some(D2 + 500_000), to_us: None };
        assert_eq!(rows_read(&open_flows(&path, &[SPORT], &[], false, &Selection::range(half)).unwrap(), 10), [2, 3]);
        assert_eq!(bound_scalar(&DataType::Timestamp(TimeUnit::Millisecond, None), -1).unwrap().into_inner().len(), 1);
    }

    #[test]
    fn columns_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.parquet");
        let schema = Arc::new(Schema::new(vec![
            Field::new(STIME, DataType::Int64, true),
            Field::new(SPORT, DataType::Int32, true),
            Field::new(SIP, DataType::Int64, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(arrow_array::Int32Array::from(vec![1])),
            Arc::new(Int64Array::from(vec![1])),
        ];
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema.clone(), None).unwrap();
        w.write(&RecordBatch::try_new(schema, cols).unwrap()).unwrap();
        w.close().unwrap();
        let err = |cols: &[&str], r: TimeRange| {
            open_flows(&path, cols, &[], true, &Selection::range(r)).err().unwrap().to_string()
        };
        let p = path.display();
        assert_eq!(err(&[DPORT], TimeRange::all()), format!("{p}: no column 'dport': not a flows file"));
        assert_eq!(err(&["sen"], TimeRange::all()), format!("{p}: no column 'sen'"));
        assert_eq!(
            err(&[SPORT], TimeRange::all()),
            format!("{p}: column 'sport' is Int32; the flows schema stores it as UInt16")
        );
        assert_eq!(
            err(&[SIP], TimeRange::all()),
            format!("{p}: column 'sip' is Int64; the flows schema stores it as Utf8")
        );
        let d2 = TimeRange::days(day("2026-11-21"), None).unwrap();
        assert_eq!(err(&[], d2), format!("{p}: column 'stime' is Int64; --from/--to need a timestamp column"));
        // Without a range the start time's type does not matter.
        assert_eq!(open_flows(&path, &[STIME], &[], false, &Selection::all()).unwrap().row_groups(), [0]);
        let e = open_flows(&dir.path().join("missing.parquet"), &[], &[], false, &Selection::range(d2))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("missing.parquet"), "{e}");
    }
}
