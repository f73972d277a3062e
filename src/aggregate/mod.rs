//! The shared scan: one parallel read of the flows feeding every report's aggregation, inside
//! a memory budget.
//!
//! A report's aggregation is a [`Worker`]: per-worker state that takes batches of the
//! selection's rows. [`scan`] opens the files once with the union of the reports' columns
//! (a tuple of workers is a worker, so `daily` feeds ports, servers and findings from one read),
//! reads row groups in parallel on the current rayon pool, and hands each batch to the worker of
//! the thread that read it. Workers are kept in a small pool, so there are as many as threads.
//!
//! The budget ([`Memory`]) is split evenly between the workers. After each batch a worker
//! whose state holds more than its share [`Worker::spill`]s: it writes what it holds, split
//! into shards by host hash, to a run file of its [`spill::Spill`] and starts again empty.
//! After the scan each report merges one shard at a time (its in-memory parts and its parts of
//! every run). `ports` merges a shard in memory, so it holds about one shard per thread: the
//! state of the whole day divided by the shard count. The servers and the findings write their
//! runs sorted and merge them as a stream ([`merge`]), deciding as the keys come by, so they
//! hold neither a shard nor a whole host, only what a decision keeps (see each report's
//! merge). The output is the same whether or not anything spilled: every
//! report's merge is exact and its results are sorted before they are written.
//!
//! Why spill rather than further passes over the Parquet: passes by host partition would read
//! the day `k` times for a state `k` times the budget, so time would grow with the square of
//! the day; a spill writes and reads the state once more, whatever its size (BENCHMARKS.md,
//! "Big days").

pub mod addrs;
pub mod memory;
pub mod merge;
pub mod spill;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use crate::error::Result;
use crate::progress::Progress;
use crate::scan::{self, FlowSource};
use crate::select::Selection;

pub use memory::{parse_size, Memory};
pub use spill::Spill;

/// Rows per batch handed to the workers.
pub const BATCH_ROWS: usize = 64 * 1024;

/// One report's aggregation state on one thread.
pub trait Worker: Send {
    /// Adds one batch of the selection's rows. The batch has the scan's columns (the union of
    /// every worker's); a worker looks its own up by name.
    fn add_batch(&mut self, batch: &RecordBatch, path: &Path) -> Result<()>;

    /// Called when a row group is done: per-chunk caches (parsed address dictionaries) go.
    fn end_unit(&mut self) {}

    /// About how many bytes the state holds (allocated, not only used).
    fn held_bytes(&self) -> usize;

    /// Writes the state to the report's spill files and empties it.
    fn spill(&mut self) -> Result<()>;
}

impl<A: Worker, B: Worker> Worker for (A, B) {
    fn add_batch(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        self.0.add_batch(batch, path)?;
        self.1.add_batch(batch, path)
    }
    fn end_unit(&mut self) {
        self.0.end_unit();
        self.1.end_unit();
    }
    fn held_bytes(&self) -> usize {
        self.0.held_bytes() + self.1.held_bytes()
    }
    fn spill(&mut self) -> Result<()> {
        self.0.spill()?;
        self.1.spill()
    }
}

impl<A: Worker, B: Worker, C: Worker> Worker for (A, B, C) {
    fn add_batch(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        self.0.add_batch(batch, path)?;
        self.1.add_batch(batch, path)?;
        self.2.add_batch(batch, path)
    }
    fn end_unit(&mut self) {
        self.0.end_unit();
        self.1.end_unit();
        self.2.end_unit();
    }
    fn held_bytes(&self) -> usize {
        self.0.held_bytes() + self.1.held_bytes() + self.2.held_bytes()
    }
    fn spill(&mut self) -> Result<()> {
        self.0.spill()?;
        self.1.spill()?;
        self.2.spill()
    }
}

/// The columns a scan reads: every worker's required columns (a file without one is an
/// error) and the optional ones each file has.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    pub required: Vec<&'static str>,
    pub optional: Vec<&'static str>,
}

impl Columns {
    pub fn new(required: &[&'static str], optional: &[&'static str]) -> Self {
        let mut c = Columns::default();
        c.add(required, optional);
        c
    }

    /// Adds another report's columns (a column required by one is required).
    pub fn add(&mut self, required: &[&'static str], optional: &[&'static str]) {
        for r in required {
            if !self.required.contains(r) {
                self.required.push(r);
            }
        }
        self.optional.retain(|o| !self.required.contains(o));
        for o in optional {
            if !self.required.contains(o) && !self.optional.contains(o) {
                self.optional.push(o);
            }
        }
    }

    pub fn union(mut self, other: &Columns) -> Self {
        self.add(&other.required, &other.optional);
        self
    }
}

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub files: usize,
    pub row_groups: usize,
    pub rows: u64,
    /// Rows without IP addresses (layer-2 records: null `sip` or `dip`), read but not given to
    /// the workers: the reports are about hosts.
    pub no_address: u64,
    /// Times a worker wrote its state to a spill file.
    pub spills: u64,
    pub scan_time: std::time::Duration,
}

/// The summary lines' note of the rows a report skipped for want of IP addresses (empty for none).
pub fn no_address_note(rows: u64) -> String {
    match rows {
        0 => String::new(),
        n => format!("; {n} rows without IP addresses (layer-2 records) skipped"),
    }
}

/// The batch without its rows whose `sip` or `dip` is null, and how many those were.
fn addressed(batch: RecordBatch) -> Result<(RecordBatch, u64)> {
    let nulls = |name: &str| batch.column_by_name(name).and_then(|c| c.logical_nulls());
    let keep = match (nulls(crate::schema::SIP), nulls(crate::schema::DIP)) {
        (None, None) => return Ok((batch, 0)),
        (Some(a), None) | (None, Some(a)) => a.inner().clone(),
        (Some(a), Some(b)) => a.inner() & b.inner(),
    };
    let dropped = (batch.num_rows() - keep.count_set_bits()) as u64;
    if dropped == 0 {
        return Ok((batch, 0));
    }
    let kept = arrow_select::filter::filter_record_batch(&batch, &arrow_array::BooleanArray::new(keep, None))?;
    Ok((kept, dropped))
}

/// How a scan runs: the rows it keeps, its memory, and whether it may draw a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions<'a> {
    pub select: &'a Selection,
    pub memory: &'a Memory,
    /// No progress bar even on a terminal.
    pub quiet: bool,
    /// Give the workers the rows without IP addresses too (layer-2 records), which reports
    /// about hosts leave out (and count in [`ScanStats::no_address`]).
    pub unaddressed: bool,
}

/// Reads the flows of `files` that the selection keeps, once, in parallel on the current rayon
/// pool, feeding workers made by `make`; returns the workers (as many as threads that worked)
/// and what was read.
pub fn scan<W: Worker>(
    files: &[PathBuf],
    columns: &Columns,
    opts: &ScanOptions<'_>,
    make: impl Fn() -> W + Sync + Send,
) -> Result<(Vec<W>, ScanStats)> {
    let start = std::time::Instant::now();
    let sources: Vec<FlowSource> = files
        .par_iter()
        .map(|p| scan::open_flows(p, &columns.required, &columns.optional, true, opts.select))
        .collect::<Result<_>>()?;
    let units: Vec<(usize, usize, u64)> = sources
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            let meta = s.metadata().metadata();
            s.row_groups().iter().map(move |&g| (i, g, meta.row_group(g).compressed_size().max(0) as u64))
        })
        .collect();
    let total: u64 = units.iter().map(|u| u.2).sum();
    let progress = Progress::bytes(total, opts.quiet);
    let (done, rows_read, no_address) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    // Each worker's share of the budget.
    let threads = rayon::current_num_threads().max(1);
    let share = (opts.memory.bytes / threads as u64) as usize;
    let spills = AtomicU64::new(0);
    let pool: Mutex<Vec<W>> = Mutex::new(Vec::new());
    units.par_iter().try_for_each(|&(i, g, bytes)| -> Result<()> {
        let src = &sources[i];
        let mut w = pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_else(&make);
        let result = (|| -> Result<()> {
            for batch in src.read_row_group(g, BATCH_ROWS)? {
                let batch = batch?;
                let rows = batch.num_rows() as u64;
                let (batch, dropped) = if opts.unaddressed { (batch, 0) } else { addressed(batch)? };
                if dropped > 0 {
                    no_address.fetch_add(dropped, Ordering::Relaxed);
                }
                w.add_batch(&batch, src.path())?;
                rows_read.fetch_add(rows, Ordering::Relaxed);
                if w.held_bytes() > share {
                    w.spill()?;
                    spills.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        })();
        w.end_unit();
        if let Ok(mut p) = pool.lock() {
            p.push(w);
        }
        let d = done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        progress.update(d, rows_read.load(Ordering::Relaxed));
        result
    })?;
    progress.finish();
    let workers = pool.into_inner().unwrap_or_else(|e| e.into_inner());
    let stats = ScanStats {
        files: sources.len(),
        row_groups: units.len(),
        rows: rows_read.into_inner(),
        no_address: no_address.into_inner(),
        spills: spills.into_inner(),
        scan_time: start.elapsed(),
    };
    Ok((workers, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_union_keeps_required_over_optional() {
        let a = Columns::new(&["sip", "dip", "bytes"], &["flags"]);
        let b = Columns::new(&["sip", "proto"], &["bytes", "side", "flags"]);
        let u = a.union(&b);
        assert_eq!(u.required, ["sip", "dip", "bytes", "proto"]);
        assert_eq!(u.optional, ["flags", "side"]);
        let c = Columns::new(&[], &["stime"]).union(&Columns::new(&["stime"], &[]));
        assert_eq!(c.required, ["stime"]);
        assert!(c.optional.is_empty());
    }
}
