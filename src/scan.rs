//! Reading flows Parquet back: files and hive folders, with projection and time ranges.
//!
//! A store folder holds `date=YYYY-MM-DD/part-*.parquet` files whose extra columns may differ,
//! so readers union columns by name ([`union_schema`]).
//!
//! Every reading command takes `--from`/`--to` ([`TimeRange`]). The range is applied in three
//! steps, cheapest first: [`list_parquet_range`] drops files under `date=` folders outside it,
//! [`open_flows`] drops row groups whose `stime` statistics lie outside it, and
//! [`FlowSource::read_row_group`] filters the rows of the row groups that straddle a bound, so
//! that results are exact whatever the folder names and statistics allow to skip.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Datum, RecordBatch, Scalar, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_buffer::NullBuffer;
use arrow_ord::cmp;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use crate::error::{Error, Result};
use crate::ingest::fields::parse_date;
use crate::schema::{BYTES, CORE_COLUMNS, DIP, DPORT, PACKETS, SIP, SPORT, STIME};

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// The hive folder of rows without a start time (Hive, Spark and DuckDB read it as null).
const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// A half-open interval of flow start times, `[from, to)` in microseconds since the epoch (UTC);
/// either end may be open. A flow is in the range when its `stime` is; a flow without `stime` is
/// in the range only when the range is [`TimeRange::all`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
}

impl TimeRange {
    /// Every flow, including those without a start time.
    pub fn all() -> Self {
        TimeRange { from_us: None, to_us: None }
    }

    /// `--from`/`--to` as whole UTC days, both inclusive: `[from 00:00, to + 1 day 00:00)`.
    pub fn days(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Self> {
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(Error::Usage(format!("--from {f} is after --to {t}: the range would be empty")));
            }
        }
        let start = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros();
        Ok(TimeRange {
            from_us: from.map(start),
            // The day after the last one; past chrono's last date the range is open-ended.
            to_us: to.and_then(|d| d.succ_opt()).map(start),
        })
    }

    pub fn is_all(&self) -> bool {
        self.from_us.is_none() && self.to_us.is_none()
    }

    pub fn contains(&self, t: i64) -> bool {
        self.from_us.is_none_or(|f| t >= f) && self.to_us.is_none_or(|e| t < e)
    }

    /// Whether `[start, end)` and the range share an instant.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        start < end && self.from_us.is_none_or(|f| end > f) && self.to_us.is_none_or(|e| start < e)
    }

    /// Whether files below `path` may hold flows of the range, judging by its hive folder names
    /// (`date=YYYY-MM-DD` components of the path as given). A value that is not a date says
    /// nothing, so the file is kept (its rows are filtered when read).
    pub fn may_hold(&self, path: &Path) -> bool {
        if self.is_all() {
            return true;
        }
        path.components().all(|c| {
            let Some(value) = c.as_os_str().to_str().and_then(|n| n.strip_prefix("date=")) else {
                return true;
            };
            if value == NULL_PARTITION {
                return false;
            }
            // One day of margin each side: `flowlens daily` files a day's whole archive under its
            // date=D folder, and an archive holds flows that started before midnight (or after, in
            // another zone's day). The row-group statistics and the row filter do the exact cut.
            match parse_date(value) {
                Some(day) => self.overlaps((day - 1) * DAY_US, (day + 2) * DAY_US),
                None => true,
            }
        })
    }
}

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
/// projection and the row groups and rows of a [`TimeRange`]. Shared by reference between
/// workers: each [`FlowSource::read_row_group`] opens its own reader.
pub struct FlowSource {
    path: PathBuf,
    meta: ArrowReaderMetadata,
    /// The requested columns.
    mask: ProjectionMask,
    /// The requested columns plus `stime`, for row groups that need the row filter.
    filter_mask: ProjectionMask,
    schema: SchemaRef,
    row_groups: Vec<usize>,
    /// Per kept row group: whether some of its rows may lie outside the range.
    needs_filter: Vec<bool>,
    bounds: Option<Bounds>,
}

/// The range's ends as one-value arrays of the file's `stime` type, for the cmp kernels; and how
/// to go from a batch read with `filter_mask` to the requested columns.
#[derive(Clone)]
struct Bounds {
    from: Option<Scalar<ArrayRef>>,
    to: Option<Scalar<ArrayRef>>,
    /// Position of `stime` in a batch read with `filter_mask`.
    stime: usize,
    /// The requested columns' positions in such a batch, when `stime` was added for the filter.
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

/// A bound in microseconds as a one-value array of timestamp type `t` (any unit, any zone), so
/// that `t >= bound` holds for a value exactly when the value in microseconds is `>= us` (and
/// the same for `<`): coarser units round the bound up, finer ones scale it (saturating).
fn bound_scalar(t: &DataType, us: i64) -> Option<Scalar<ArrayRef>> {
    let DataType::Timestamp(unit, tz) = t else { return None };
    let up = |per: i64| us.div_euclid(per) + (us.rem_euclid(per) != 0) as i64;
    let tz = tz.clone();
    let a: ArrayRef = match unit {
        TimeUnit::Second => Arc::new(TimestampSecondArray::from(vec![up(1_000_000)]).with_timezone_opt(tz)),
        TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(vec![up(1_000)]).with_timezone_opt(tz)),
        TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(vec![us]).with_timezone_opt(tz)),
        TimeUnit::Nanosecond => {
            Arc::new(TimestampNanosecondArray::from(vec![us.saturating_mul(1_000)]).with_timezone_opt(tz))
        }
    };
    Some(Scalar::new(a))
}

/// A comparison kernel of `arrow_ord::cmp`.
type CmpKernel = fn(&dyn Datum, &dyn Datum) -> std::result::Result<BooleanArray, ArrowError>;

/// `op(values, bound)`, or `None` when the bound is not set.
fn compare(values: &dyn Datum, op: CmpKernel, bound: Option<&Scalar<ArrayRef>>) -> Result<Option<BooleanArray>> {
    Ok(bound.map(|b| op(values, b)).transpose()?)
}

/// `from <= t < to` over a column; null values give false.
fn in_range(t: &dyn Array, from: Option<&Scalar<ArrayRef>>, to: Option<&Scalar<ArrayRef>>) -> Result<BooleanArray> {
    let masks = [compare(&t, cmp::gt_eq, from)?, compare(&t, cmp::lt, to)?];
    let mut values = arrow_buffer::BooleanBuffer::new_set(t.len());
    let mut nulls = t.nulls().cloned();
    for m in masks.into_iter().flatten() {
        values = &values & m.values();
        nulls = NullBuffer::union(nulls.as_ref(), m.nulls());
    }
    if let Some(n) = nulls {
        values = &values & n.inner();
    }
    Ok(BooleanArray::new(values, None))
}

/// Opens one flows file for reading `columns` (each must exist; ports, addresses and counters
/// must have the flows schema's types) and those of `optional` that the file has over `range`. `dictionary_addresses` asks the reader for
/// `sip`/`dip` as `Dictionary(Int32, Utf8)`, so that a reader can parse each distinct address of
/// a column chunk once. Row groups whose `stime` statistics lie outside the range are dropped;
/// with a range, a file without `stime` keeps no row group (flows without a start time are in no
/// range).
pub fn open_flows(
    path: &Path,
    columns: &[&str],
    optional: &[&str],
    dictionary_addresses: bool,
    range: &TimeRange,
) -> Result<FlowSource> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| input_err(path, not_parquet(path, e)))?;
    let schema = plain.schema().clone();
    check_columns(path, &schema, columns)?;
    // Optional columns are read when the file has them (and then must have the schema's types).
    let present: Vec<&str> = optional.iter().copied().filter(|c| schema.index_of(c).is_ok()).collect();
    check_columns(path, &schema, &present)?;
    let columns: Vec<&str> = columns.iter().chain(&present).copied().collect();
    let columns = columns.as_slice();
    let meta = if dictionary_addresses {
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
    let out_schema = Arc::new(schema.project(&indices)?);
    let all_groups = meta.metadata().num_row_groups();
    let mut src = FlowSource {
        path: path.to_path_buf(),
        mask: mask.clone(),
        filter_mask: mask,
        schema: out_schema,
        row_groups: (0..all_groups).collect(),
        needs_filter: vec![false; all_groups],
        bounds: None,
        meta,
    };
    if range.is_all() {
        return Ok(src);
    }
    let Ok(stime_index) = schema.index_of(STIME) else {
        src.row_groups.clear();
        src.needs_filter.clear();
        return Ok(src);
    };
    let stime_type = schema.field(stime_index).data_type();
    let bound = |us: Option<i64>| -> Result<Option<Scalar<ArrayRef>>> {
        us.map(|us| {
            bound_scalar(stime_type, us).ok_or_else(|| {
                input_err(path, format!("column '{STIME}' is {stime_type}; --from/--to need a timestamp column"))
            })
        })
        .transpose()
    };
    let (from, to) = (bound(range.from_us)?, bound(range.to_us)?);
    let mut read_indices = indices.clone();
    let keep = match read_indices.binary_search(&stime_index) {
        Ok(_) => None,
        Err(pos) => {
            read_indices.insert(pos, stime_index);
            Some((0..read_indices.len()).filter(|&i| i != pos).collect())
        }
    };
    let stime = read_indices.binary_search(&stime_index).unwrap_or_default();
    src.filter_mask = ProjectionMask::roots(src.meta.parquet_schema(), read_indices);
    (src.row_groups, src.needs_filter) = prune_row_groups(&src.meta, from.as_ref(), to.as_ref())?;
    src.bounds = Some(Bounds { from, to, stime, keep });
    Ok(src)
}

/// The row groups whose `stime` statistics allow rows in `[from, to)`, and for each whether it
/// needs the row filter (statistics missing, a bound inside `[min, max]`, or nulls present).
fn prune_row_groups(
    meta: &ArrowReaderMetadata,
    from: Option<&Scalar<ArrayRef>>,
    to: Option<&Scalar<ArrayRef>>,
) -> Result<(Vec<usize>, Vec<bool>)> {
    let groups = meta.metadata().row_groups();
    let stats = StatisticsConverter::try_new(STIME, meta.schema(), meta.parquet_schema())?
        .with_missing_null_counts_as_zero(false)
        .with_column_orders(meta.metadata().file_metadata().column_orders().map(|v| v.as_slice()));
    let (mins, maxes) = (stats.row_group_mins(groups.iter())?, stats.row_group_maxes(groups.iter())?);
    let nulls = stats.row_group_null_counts(groups.iter())?;
    // Whether a comparison is known to hold for row group `i` (statistics present and true);
    // `unset` when its bound is not set.
    let holds =
        |m: &Option<BooleanArray>, i: usize, unset: bool| m.as_ref().map_or(unset, |m| m.is_valid(i) && m.value(i));
    let after_end = compare(&mins, cmp::gt_eq, to)?; // min >= to
    let before_start = compare(&maxes, cmp::lt, from)?; // max < from
    let min_in = compare(&mins, cmp::gt_eq, from)?; // min >= from
    let max_in = compare(&maxes, cmp::lt, to)?; // max < to
    let (mut kept, mut filter) = (Vec::new(), Vec::new());
    for (i, g) in groups.iter().enumerate() {
        let rows = g.num_rows().max(0) as u64;
        let null_count = nulls.is_valid(i).then(|| nulls.value(i));
        if rows == 0 || null_count == Some(rows) || holds(&after_end, i, false) || holds(&before_start, i, false) {
            continue;
        }
        // A bound that is not set is met by every row.
        let inside = holds(&min_in, i, true) && holds(&max_in, i, true) && null_count == Some(0);
        kept.push(i);
        filter.push(!inside);
    }
    Ok((kept, filter))
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

    /// The rows of row group `rg` inside the range, in batches of at most `batch_rows` rows
    /// (batches left empty by the filter are not yielded).
    pub fn read_row_group(&self, rg: usize, batch_rows: usize) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
        // A row group pruned away (or unknown) is filtered rather than trusted.
        let filtered =
            self.bounds.is_some() && self.row_groups.iter().position(|&g| g == rg).is_none_or(|i| self.needs_filter[i]);
        let bounds = if filtered { self.bounds.clone() } else { None };
        let mask = if filtered { &self.filter_mask } else { &self.mask };
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_row_groups(vec![rg])
            .with_projection(mask.clone())
            .with_batch_size(batch_rows.max(1))
            .build()?;
        let path = self.path.clone();
        Ok(reader.filter_map(move |batch| {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => return Some(Err(input_err(&path, format!("row group {rg}: {e}")))),
            };
            let Some(b) = &bounds else { return Some(Ok(batch)) };
            match filter_batch(&batch, b) {
                Ok(out) if out.num_rows() == 0 => None,
                r => Some(r),
            }
        }))
    }
}

/// The rows of `batch` (read with the filter mask) whose `stime` is in range, without `stime`
/// when only the filter asked for it.
fn filter_batch(batch: &RecordBatch, b: &Bounds) -> Result<RecordBatch> {
    let mask = in_range(batch.column(b.stime).as_ref(), b.from.as_ref(), b.to.as_ref())?;
    let kept = mask.true_count();
    let batch =
        if kept == batch.num_rows() { batch.clone() } else { arrow_select::filter::filter_record_batch(batch, &mask)? };
    Ok(match &b.keep {
        Some(keep) => batch.project(keep)?,
        None => batch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{TimestampMicrosecondType, UInt16Type};
    use arrow_array::{Int64Array, StringArray, UInt16Array, UInt8Array};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    /// 2026-11-21T00:00:00Z in microseconds.
    const D2: i64 = 1_795_219_200_000_000;
    const D1: i64 = D2 - DAY_US;

    fn day(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn time_range_days() {
        let r = TimeRange::days(day("2026-11-21"), day("2026-11-21")).unwrap();
        assert_eq!(r, TimeRange { from_us: Some(D2), to_us: Some(D2 + DAY_US) });
        assert!(!r.is_all());
        assert!(r.contains(D2) && r.contains(D2 + DAY_US - 1));
        assert!(!r.contains(D2 - 1) && !r.contains(D2 + DAY_US));
        assert!(r.overlaps(D2 - 5, D2 + 1) && !r.overlaps(D2 - 5, D2) && !r.overlaps(D2 + DAY_US, D2 + 2 * DAY_US));
        let open = TimeRange::days(day("2026-11-21"), None).unwrap();
        assert_eq!(open, TimeRange { from_us: Some(D2), to_us: None });
        assert!(open.contains(i64::MAX) && !open.contains(D1));
        let until = TimeRange::days(None, day("2026-11-20")).unwrap();
        assert!(until.contains(i64::MIN) && until.contains(D2 - 1) && !until.contains(D2));
        let all = TimeRange::days(None, None).unwrap();
        assert!(all.is_all() && all == TimeRange::all() && all.contains(0));
        let e = TimeRange::days(day("2026-11-22"), day("2026-11-21")).unwrap_err();
        assert!(matches!(e, Error::Usage(_)));
        assert_eq!(e.to_string(), "--from 2026-11-22 is after --to 2026-11-21: the range would be empty");
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
        let src = open_flows(&path, &cols, &[], true, &d2).unwrap();
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
        let with_stime = open_flows(&path, &[STIME, SPORT], &[], false, &d2).unwrap();
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
            let src = open_flows(&path, &cols, &[], true, &r).unwrap();
            assert_eq!(rows_read(&src, 2), expected(&stimes, &r), "{r:?}");
        }
        assert!(open_flows(&path, &cols, &[], true, &TimeRange::days(day("2026-11-23"), None).unwrap())
            .unwrap()
            .row_groups()
            .is_empty());
        // Without a range every row group and row is read, null start times included.
        let all = open_flows(&path, &cols, &[], true, &TimeRange::all()).unwrap();
        assert_eq!(all.row_groups(), [0, 1, 2, 3, 4, 5]);
        assert_eq!(rows_read(&all, 4), (0..18).collect::<Vec<u16>>());
    }

    #[test]
    fn files_without_statistics_give_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let stimes = two_days();
        write_flows(&path, &stimes, 3, EnabledStatistics::None);
        let d2 = TimeRange::days(day("2026-11-21"), day("2026-11-21")).unwrap();
        let src = open_flows(&path, &[SPORT], &[], false, &d2).unwrap();
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
        let src = open_flows(&path, &[SPORT], &[], false, &d2).unwrap();
        assert_eq!(rows_read(&src, 10), [1, 2]);
        // A bound between two seconds: 00:00:00.5 keeps the second 00:00:01 onwards.
        let half = TimeRange { from_us: Some(D2 + 500_000), to_us: None };
        assert_eq!(rows_read(&open_flows(&path, &[SPORT], &[], false, &half).unwrap(), 10), [2, 3]);
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
        let err = |cols: &[&str], r: TimeRange| open_flows(&path, cols, &[], true, &r).err().unwrap().to_string();
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
        assert_eq!(open_flows(&path, &[STIME], &[], false, &TimeRange::all()).unwrap().row_groups(), [0]);
        let e = open_flows(&dir.path().join("missing.parquet"), &[], &[], false, &d2).err().unwrap().to_string();
        assert!(e.contains("missing.parquet"), "{e}");
    }
}
