//! The page's two readings of the flows themselves: the day's totals (flows, packets, bytes) and
//! bytes per 5 minutes, incoming, outgoing and internal for the `--local` networks. Everything
//! else on the page comes from the reports' own files.
//!
//! A consumer of the shared scan ([`crate::aggregate::scan`]): each worker counts its batches,
//! the workers' counts are added at the end. A flow counts in the 5-minute slot it starts in
//! (the flows Parquet has no per-slot split of a long flow's bytes).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use chrono::NaiveDate;

use crate::aggregate::{self, Columns, Memory, ScanOptions, Worker};
use crate::error::{Error, Result};
use crate::ports::HostFilter;
use crate::schema::{BYTES, DIP, PACKETS, SIP, STIME};
use crate::select::Selection;

/// Microseconds in one slot of the traffic chart.
pub const SLOT_US: i64 = 5 * 60 * 1_000_000;
/// Slots in a day.
pub const SLOTS: usize = 288;
const DAY_US: i64 = SLOTS as i64 * SLOT_US;

/// Where a flow's bytes go, for the local networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From outside to a local address.
    In = 0,
    /// From a local address to outside.
    Out = 1,
    /// Between two local addresses (with no `--local`: every flow).
    Internal = 2,
    /// Between two outside addresses (seen by the sensor, but not the site's).
    Transit = 3,
}

/// What the page reads from the day's flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTraffic {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Bytes per slot of the day (UTC), by [`Direction`].
    pub slots: Vec<[u64; 4]>,
    /// Flows that start outside the day (UTC) or have no start time: in the totals, not the chart.
    pub off_day: u64,
    /// Layer-2 records (no IP addresses) with `--local`: in the totals, in no direction.
    pub no_address: u64,
}

impl DayTraffic {
    fn new(with_slots: bool) -> Self {
        DayTraffic {
            flows: 0,
            packets: 0,
            bytes: 0,
            slots: if with_slots { vec![[0; 4]; SLOTS] } else { Vec::new() },
            off_day: 0,
            no_address: 0,
        }
    }

    fn add(&mut self, o: &DayTraffic) {
        self.flows += o.flows;
        self.packets = self.packets.wrapping_add(o.packets);
        self.bytes = self.bytes.wrapping_add(o.bytes);
        self.off_day += o.off_day;
        self.no_address += o.no_address;
        for (a, b) in self.slots.iter_mut().zip(&o.slots) {
            for (x, y) in a.iter_mut().zip(b) {
                *x = x.wrapping_add(*y);
            }
        }
    }
}

/// Whether each address of a column is local: parsed once per distinct dictionary value (the
/// reader hands out one values array per column chunk), once per distinct string otherwise.
#[derive(Default)]
struct LocalColumn {
    values: Option<ArrayRef>,
    local: Vec<bool>,
    plain: AHashMap<Box<str>, bool>,
}

impl LocalColumn {
    fn flags(&mut self, col: &ArrayRef, filter: &HostFilter, path: &Path, out: &mut Vec<bool>) -> Result<()> {
        out.clear();
        let parse = |s: &str| -> Result<bool> {
            s.trim()
                .parse::<IpAddr>()
                .map(|a| filter.contains(a))
                .map_err(|_| Error::input(path.display().to_string(), format!("'{s}' is not an IP address (sip/dip)")))
        };
        if let Some(dict) = col.as_dictionary_opt::<Int32Type>() {
            let values = dict.values();
            if !self.values.as_ref().is_some_and(|v| Arc::ptr_eq(v, values)) {
                let strings = values.as_string_opt::<i32>().ok_or_else(|| {
                    Error::input(path.display().to_string(), format!("addresses stored as {}", values.data_type()))
                })?;
                self.local.clear();
                for i in 0..strings.len() {
                    self.local.push(!strings.is_null(i) && parse(strings.value(i))?);
                }
                self.values = Some(values.clone());
            }
            out.extend(
                dict.keys().iter().map(|k| k.and_then(|k| self.local.get(k as usize).copied()).unwrap_or(false)),
            );
        } else if let Some(strings) = col.as_string_opt::<i32>() {
            for s in strings.iter() {
                let Some(s) = s else {
                    out.push(false);
                    continue;
                };
                let l = match self.plain.get(s) {
                    Some(&l) => l,
                    None => {
                        let l = parse(s)?;
                        if self.plain.len() > 1 << 16 {
                            self.plain.clear();
                        }
                        self.plain.insert(s.into(), l);
                        l
                    }
                };
                out.push(l);
            }
        } else {
            return Err(Error::input(path.display().to_string(), format!("addresses stored as {}", col.data_type())));
        }
        Ok(())
    }
}

struct TrafficWorker<'a> {
    /// The day's first microsecond (UTC); `None`: totals only.
    day_start: Option<i64>,
    filter: &'a HostFilter,
    acc: DayTraffic,
    sip: LocalColumn,
    dip: LocalColumn,
    sl: Vec<bool>,
    dl: Vec<bool>,
}

fn sum_i64(col: Option<&ArrayRef>) -> u64 {
    col.and_then(|c| c.as_primitive_opt::<Int64Type>())
        .map_or(0, |a| a.iter().flatten().fold(0u64, |s, v| s.wrapping_add(v.max(0) as u64)))
}

impl Worker for TrafficWorker<'_> {
    fn add_batch(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        let n = batch.num_rows();
        self.acc.flows += n as u64;
        self.acc.packets = self.acc.packets.wrapping_add(sum_i64(batch.column_by_name(PACKETS)));
        self.acc.bytes = self.acc.bytes.wrapping_add(sum_i64(batch.column_by_name(BYTES)));
        let Some(day_start) = self.day_start else { return Ok(()) };
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| Error::input(path.display().to_string(), format!("no column '{name}'")))
        };
        let stime = col(STIME)?.as_primitive_opt::<TimestampMicrosecondType>().cloned();
        let bytes = col(BYTES)?.as_primitive_opt::<Int64Type>().cloned();
        let (Some(stime), Some(bytes)) = (stime, bytes) else {
            return Err(Error::input(path.display().to_string(), "stime or bytes is not of the flows schema's type"));
        };
        let split = !self.filter.is_everything();
        let (sip_nulls, dip_nulls) = (col(SIP)?.logical_nulls(), col(DIP)?.logical_nulls());
        let unaddressed = |i: usize| {
            sip_nulls.as_ref().is_some_and(|n| n.is_null(i)) || dip_nulls.as_ref().is_some_and(|n| n.is_null(i))
        };
        if split {
            self.sip.flags(col(SIP)?, self.filter, path, &mut self.sl)?;
            self.dip.flags(col(DIP)?, self.filter, path, &mut self.dl)?;
        }
        for i in 0..n {
            let t = if stime.is_valid(i) { stime.value(i) - day_start } else { -1 };
            if !(0..DAY_US).contains(&t) {
                self.acc.off_day += 1;
                continue;
            }
            if split && unaddressed(i) {
                self.acc.no_address += 1;
                continue;
            }
            let b = if bytes.is_valid(i) { bytes.value(i).max(0) as u64 } else { 0 };
            let dir = match (split, self.sl.get(i).copied().unwrap_or(false), self.dl.get(i).copied().unwrap_or(false))
            {
                (false, _, _) | (true, true, true) => Direction::Internal,
                (true, false, true) => Direction::In,
                (true, true, false) => Direction::Out,
                (true, false, false) => Direction::Transit,
            };
            let slot = &mut self.acc.slots[(t / SLOT_US) as usize];
            slot[dir as usize] = slot[dir as usize].wrapping_add(b);
        }
        Ok(())
    }

    fn held_bytes(&self) -> usize {
        self.acc.slots.len() * 32 + self.sip.local.capacity() + self.dip.local.capacity()
    }

    fn spill(&mut self) -> Result<()> {
        // A few kilobytes whatever the day: nothing to spill.
        Ok(())
    }
}

/// The first microsecond of `date` (UTC).
pub fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_micros())
}

/// Reads `files` once: totals, and with `date` the day's slots for the `local` networks.
pub fn read(files: &[PathBuf], date: Option<NaiveDate>, filter: &HostFilter) -> Result<DayTraffic> {
    let mut total = DayTraffic::new(date.is_some());
    if files.is_empty() {
        return Ok(total);
    }
    let columns = match date {
        Some(_) => Columns::new(&[STIME, SIP, DIP, PACKETS, BYTES], &[]),
        None => Columns::new(&[PACKETS, BYTES], &[]),
    };
    let select = Selection::all();
    let memory = Memory { quiet: true, ..Memory::default() };
    // The day's totals count every row, layer-2 records (null addresses) too; those are in no
    // direction of the chart.
    let opts = ScanOptions { select: &select, memory: &memory, quiet: true, unaddressed: true };
    let (workers, _) = aggregate::scan(files, &columns, &opts, || TrafficWorker {
        day_start: date.map(day_start),
        filter,
        acc: DayTraffic::new(date.is_some()),
        sip: LocalColumn::default(),
        dip: LocalColumn::default(),
        sl: Vec::new(),
        dl: Vec::new(),
    })?;
    for w in &workers {
        total.add(&w.acc);
    }
    Ok(total)
}
