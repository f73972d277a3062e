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
    Array, ArrayRef, BooleanArray, RecordBatch, Scalar, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
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
            match parse_date(value) {
                Some(day) => self.overlaps(day * DAY_US, (day + 1) * DAY_US),
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
        .map_err(|e| Error::input(path.display().to_string(), format!("not a readable Parquet file: {e}")))
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

/// The flows schema's type for columns whose type readers rely on: `Some(want)` for a fixed
/// type, `None` for the address columns (any string type, or a dictionary of strings).
fn required_type(name: &str) -> Option<Option<DataType>> {
    match name {
        SPORT | DPORT => Some(Some(DataType::UInt16)),
        PACKETS | BYTES => Some(Some(DataType::Int64)),
        SIP | DIP => Some(None),
        _ => None,
    }
}

/// Checks that the file has every requested column, with the flows schema's type where readers
/// rely on it (ports, addresses and counters).
fn check_columns(path: &Path, schema: &Schema, columns: &[&str]) -> Result<()> {
    for &name in columns {
        let Ok(f) = schema.field_with_name(name) else {
            let what = if CORE_COLUMNS.contains(&name) { ": not a flows file" } else { "" };
            return Err(input_err(path, format!("no column '{name}'{what}")));
        };
        match (required_type(name), f.data_type()) {
            (Some(Some(want)), t) if *t != want => {
                return Err(input_err(path, format!("column '{name}' is {t}; the flows schema stores it as {want}")))
            }
            (Some(None), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _)) => {}
            (Some(None), t) => {
                return Err(input_err(path, format!("column '{name}' is {t}; the flows schema stores it as Utf8")))
            }
            _ => {}
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

/// `from <= t < to` over a column (or statistics array); null values give false.
fn in_range(t: &dyn Array, from: Option<&Scalar<ArrayRef>>, to: Option<&Scalar<ArrayRef>>) -> Result<BooleanArray> {
    let masks =
        [from.map(|f| arrow_ord::cmp::gt_eq(&t, f)).transpose()?, to.map(|e| arrow_ord::cmp::lt(&t, e)).transpose()?];
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
/// must have the flows schema's types) over `range`. `dictionary_addresses` asks the reader for
/// `sip`/`dip` as `Dictionary(Int32, Utf8)`, so that a reader can parse each distinct address of
/// a column chunk once. Row groups whose `stime` statistics lie outside the range are dropped;
/// with a range, a file without `stime` keeps no row group (flows without a start time are in no
/// range).
pub fn open_flows(path: &Path, columns: &[&str], dictionary_addresses: bool, range: &TimeRange) -> Result<FlowSource> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| input_err(path, format!("not a readable Parquet file: {e}")))?;
    let schema = plain.schema().clone();
    check_columns(path, &schema, columns)?;
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
    let cmp = |a: &ArrayRef,
               op: fn(&dyn arrow_array::Datum, &dyn arrow_array::Datum) -> _,
               b: Option<&Scalar<ArrayRef>>| { b.map(|b| op(a, b)).transpose() };
    // Some(true) where known to hold, Some(false) where known not to, None where unknown.
    let known = |m: &Option<BooleanArray>, i: usize| m.as_ref().map(|m| m.is_valid(i).then(|| m.value(i)));
    let after_end = cmp(&mins, arrow_ord::cmp::gt_eq, to)?; // min >= to
    let before_start = cmp(&maxes, arrow_ord::cmp::lt, from)?; // max < from
    let min_in = cmp(&mins, arrow_ord::cmp::gt_eq, from)?; // min >= from
    let max_in = cmp(&maxes, arrow_ord::cmp::lt, to)?; // max < to
    let (mut kept, mut filter) = (Vec::new(), Vec::new());
    for (i, g) in groups.iter().enumerate() {
        let rows = g.num_rows().max(0) as u64;
        let null_count = nulls.is_valid(i).then(|| nulls.value(i));
        if rows == 0
            || null_count == Some(rows)
            || known(&after_end, i) == Some(Some(true))
            || known(&before_start, i) == Some(Some(true))
        {
            continue;
        }
        // A bound that is not set is met by every row.
        let inside = known(&min_in, i).unwrap_or(Some(true)) == Some(true)
            && known(&max_in, i).unwrap_or(Some(true)) == Some(true)
            && null_count == Some(0);
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
