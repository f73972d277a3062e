//! Flows Parquet → per-host `(sport, dport)` groups, in parallel: the ports report's
//! [`Worker`] of the shared scan ([`crate::aggregate`]).
//!
//! The unit of work is one row group of one file ([`scan::FlowSource`], which skips the row
//! groups the selection rules out and filters the rows it does not keep). Addresses are read as
//! dictionary arrays (the reader is asked for `Dictionary(Int32, Utf8)` through a schema hint)
//! and each distinct address of a column chunk is parsed once into an integer code; rows then
//! only gather codes.
//! Each rayon worker owns a partial state (taken from a small pool, so there are as many states
//! as threads, not as units). A group key is an integer, `ip << 32 | sport << 16 | dport` for
//! IPv4 and `(ip, ports)` for IPv6; an ahash map turns it into a dense id and the counters live
//! in a `Vec` by id (DataFusion's intern-then-accumulate): a new group is an append, and the map
//! that takes the random accesses holds 16-byte entries instead of 48-byte ones, which roughly
//! halves the time of a flow log where most groups are one ephemeral port. The state is split
//! into shards by host, so that the merge and everything after it (the `*` collapse, ranking)
//! runs shard by shard in parallel, and a host's groups are all in one shard. Memory is
//! proportional to the distinct (host, sport, dport) groups, not to the rows; past the memory
//! budget a worker writes its shards to a spill run and starts again, and the merge reads each
//! shard's runs back with its in-memory parts, one shard per thread at a time. What is not
//! spilled: each worker's table of the IPv6 addresses it has seen (16 bytes and a map entry per
//! distinct IPv6 host address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt16Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rayon::prelude::*;

use super::table::GroupTable;
use super::Traffic;
use crate::aggregate::spill::Fields;
use crate::aggregate::{self, Columns, Memory, ScanOptions, Spill, Worker};
use crate::error::{Error, Result};
use crate::schema::{BYTES, DIP, DPORT, PACKETS, SIP, SPORT};
use crate::select::Selection;
/// log2 of the number of host shards.
const SHARD_BITS: u32 = 8;
const SHARDS: usize = 1 << SHARD_BITS;
/// Code of an address that is not a host of the report.
const NOT_HOST: u64 = u64::MAX;
/// Codes at or above this are IPv6 addresses, by index into the state's table.
const V6_TAG: u64 = 1 << 32;

/// The columns the report reads, in the order a file without them is told about (a file that is
/// not a flows file usually has some address column but no ports).
const COLUMNS: [&str; 6] = [SPORT, DPORT, PACKETS, BYTES, SIP, DIP];

/// The columns the ports report reads.
pub fn columns() -> Columns {
    Columns::new(&COLUMNS, &[])
}

/// Which addresses are hosts of the report: those inside the `--local` networks, or all.
#[derive(Debug, Clone, Default)]
pub struct HostFilter {
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
}

impl HostFilter {
    /// No networks: every address is a host.
    pub fn new(nets: &[IpNet]) -> Self {
        let mut f = HostFilter::default();
        for n in nets {
            match n {
                IpNet::V4(n) => f.v4.push(n.trunc()),
                IpNet::V6(n) => f.v6.push(n.trunc()),
            }
        }
        f
    }

    /// No networks: every address is a host.
    pub fn is_everything(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.is_everything()
            || match ip {
                IpAddr::V4(a) => self.v4.iter().any(|n| n.contains(&a)),
                IpAddr::V6(a) => self.v6.iter().any(|n| n.contains(&a)),
            }
    }
}

/// What a scan read and held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub files: usize,
    pub row_groups: usize,
    pub rows: u64,
    /// Rows without IP addresses (layer-2 records), skipped.
    pub no_address: u64,
    /// Distinct (host, sport, dport) groups after the merge: what memory is proportional to.
    pub groups: u64,
    pub hosts: u64,
    /// Runs written to spill files, and their bytes.
    pub spills: u64,
    pub spilled_bytes: u64,
    /// Time spent reading and grouping, and merging and summarizing.
    pub scan_time: std::time::Duration,
    pub summary_time: std::time::Duration,
}

/// One shard's partial groups: IPv4 in the prefetching [`GroupTable`]; IPv6 (rarer, wider keys)
/// in an ahash map to dense ids, with the groups by id.
#[derive(Default)]
struct Shard {
    v4: GroupTable,
    v6_ids: AHashMap<(u128, u32), usize>,
    v6: Vec<((u128, u32), Traffic)>,
}

impl Shard {
    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    fn held_bytes(&self) -> usize {
        // A hash map entry: the key and id, and about one control byte per slot at 7/8 load.
        self.v4.held_bytes()
            + self.v6_ids.capacity() * (std::mem::size_of::<((u128, u32), usize)>() + 1)
            + self.v6.capacity() * std::mem::size_of::<((u128, u32), Traffic)>()
    }

    /// Appends the shard's groups as spill records: the IPv4 count, the IPv4 groups
    /// (key, counters), then the IPv6 groups (address, ports, counters).
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&(self.v4.len() as u64).to_le_bytes());
        for (k, t) in self.v4.groups() {
            buf.extend_from_slice(&k.to_le_bytes());
            encode_traffic(t, buf);
        }
        for ((ip, ports), t) in &self.v6 {
            buf.extend_from_slice(&ip.to_le_bytes());
            buf.extend_from_slice(&ports.to_le_bytes());
            encode_traffic(t, buf);
        }
    }

    /// Adds the groups of one spill run's records of this shard.
    fn absorb(&mut self, buf: &[u8]) {
        const V4: usize = 8 + TRAFFIC_BYTES;
        const V6: usize = 16 + 4 + TRAFFIC_BYTES;
        let mut f = Fields(buf);
        let n4 = f.u64() as usize;
        let (v4, v6) = f.0.split_at((n4 * V4).min(f.0.len()));
        for rec in v4.chunks_exact(V4) {
            let mut f = Fields(rec);
            let k = f.u64();
            self.v4.entry(k).add(&decode_traffic(&mut f));
        }
        for rec in v6.chunks_exact(V6) {
            let mut f = Fields(rec);
            let (ip, ports) = (f.u128(), f.u32());
            self.v6_entry((ip, ports)).add(&decode_traffic(&mut f));
        }
    }

    #[inline]
    fn v6_entry(&mut self, key: (u128, u32)) -> &mut Traffic {
        let groups = &mut self.v6;
        let id = *self.v6_ids.entry(key).or_insert_with(|| {
            groups.push((key, Traffic::default()));
            groups.len() - 1
        });
        &mut self.v6[id].1
    }
}

const TRAFFIC_BYTES: usize = 5 * 8;

fn encode_traffic(t: &Traffic, buf: &mut Vec<u8>) {
    for v in [t.flows, t.in_packets, t.in_bytes, t.out_packets, t.out_bytes] {
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn decode_traffic(f: &mut Fields<'_>) -> Traffic {
    Traffic { flows: f.u64(), in_packets: f.u64(), in_bytes: f.u64(), out_packets: f.u64(), out_bytes: f.u64() }
}

/// A worker's partial state.
struct State {
    shards: Vec<Shard>,
    /// IPv6 addresses seen by this state, so that an IPv6 code is a small integer and equal
    /// codes (source and destination) mean equal addresses.
    v6_ids: AHashMap<u128, u32>,
    v6_addrs: Vec<u128>,
    // Reused per-batch buffers.
    scode: Vec<u64>,
    dcode: Vec<u64>,
    scratch_u16: [Vec<u16>; 2],
    scratch_i64: [Vec<i64>; 2],
}

impl State {
    fn new() -> Self {
        State {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            v6_ids: AHashMap::new(),
            v6_addrs: Vec::new(),
            scode: Vec::new(),
            dcode: Vec::new(),
            scratch_u16: [Vec::new(), Vec::new()],
            scratch_i64: [Vec::new(), Vec::new()],
        }
    }

    fn code(&mut self, ip: IpAddr, filter: &HostFilter) -> u64 {
        if !filter.contains(ip) {
            return NOT_HOST;
        }
        match ip {
            IpAddr::V4(a) => u32::from(a) as u64,
            IpAddr::V6(a) => {
                let v = u128::from(a);
                let next = self.v6_addrs.len() as u32;
                let id = *self.v6_ids.entry(v).or_insert(next);
                if id == next {
                    self.v6_addrs.push(v);
                }
                V6_TAG + id as u64
            }
        }
    }
}

#[inline]
fn shard_v4(ip: u64) -> usize {
    (ip.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SHARD_BITS)) as usize
}

#[inline]
fn shard_v6(ip: u128) -> usize {
    shard_v4((ip as u64) ^ ((ip >> 64) as u64).rotate_left(29))
}

/// Adds one batch's rows. `scode`/`dcode` are the rows' address codes; the other slices are
/// the rows' ports and counters with nulls already replaced by 0.
#[allow(clippy::too_many_arguments)]
fn add_rows(
    shards: &mut [Shard],
    v6_addrs: &[u128],
    scode: &[u64],
    dcode: &[u64],
    sport: &[u16],
    dport: &[u16],
    packets: &[i64],
    bytes: &[i64],
) {
    // Rows ahead whose table slots, then counters, are prefetched: enough misses in flight to
    // hide memory latency, and the slot in cache by the time the counters are asked for.
    const SLOTS_AHEAD: usize = 16;
    const COUNTERS_AHEAD: usize = 8;
    let n = scode.len();
    let (dcode, sport, dport, packets, bytes) = (&dcode[..n], &sport[..n], &dport[..n], &packets[..n], &bytes[..n]);
    let key = |c: u64, j: usize| (c << 32) | ((sport[j] as u64) << 16) | dport[j] as u64;
    for i in 0..n {
        if i + SLOTS_AHEAD < n {
            let j = i + SLOTS_AHEAD;
            for c in [scode[j], dcode[j]] {
                if c < V6_TAG {
                    shards[shard_v4(c)].v4.prefetch(key(c, j));
                }
            }
        }
        if i + COUNTERS_AHEAD < n {
            let j = i + COUNTERS_AHEAD;
            for c in [scode[j], dcode[j]] {
                if c < V6_TAG {
                    shards[shard_v4(c)].v4.prefetch_counters(key(c, j));
                }
            }
        }
        let (s, d) = (scode[i], dcode[i]);
        if s == NOT_HOST && d == NOT_HOST {
            continue;
        }
        let ports = ((sport[i] as u32) << 16) | dport[i] as u32;
        // Counters are never negative in flows files; a negative value from a foreign writer counts as 0.
        let (p, b) = (packets[i].max(0) as u64, bytes[i].max(0) as u64);
        if s != NOT_HOST {
            let t = entry(shards, v6_addrs, s, ports);
            t.flows += 1;
            t.out_packets = t.out_packets.wrapping_add(p);
            t.out_bytes = t.out_bytes.wrapping_add(b);
        }
        if d != NOT_HOST {
            let t = entry(shards, v6_addrs, d, ports);
            // A flow from a host to itself is one flow, both outgoing and incoming.
            t.flows += (d != s) as u64;
            t.in_packets = t.in_packets.wrapping_add(p);
            t.in_bytes = t.in_bytes.wrapping_add(b);
        }
    }
}

#[inline]
fn entry<'a>(shards: &'a mut [Shard], v6_addrs: &[u128], code: u64, ports: u32) -> &'a mut Traffic {
    if code < V6_TAG {
        shards[shard_v4(code)].v4.entry((code << 32) | ports as u64)
    } else {
        let ip = v6_addrs[(code - V6_TAG) as usize];
        shards[shard_v6(ip)].v6_entry((ip, ports))
    }
}

fn input_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::input(path.display().to_string(), reason)
}

/// Address codes of one column for one worker: a cache keyed by the dictionary's values array
/// (the Parquet reader hands out the same values array for every batch of a column chunk whose
/// pages are all dictionary-encoded), or by string for plain columns.
#[derive(Default)]
struct AddrCodes {
    values: Option<ArrayRef>,
    codes: Vec<u64>,
    plain: AHashMap<Box<str>, u64>,
}

impl AddrCodes {
    /// Fills `out` with the code of every row of `col`.
    fn rows(
        &mut self,
        col: &ArrayRef,
        state: &mut State,
        filter: &HostFilter,
        out: &mut Vec<u64>,
        path: &Path,
        name: &str,
    ) -> Result<()> {
        out.clear();
        if let Some(dict) = col.as_dictionary_opt::<Int32Type>() {
            let values = dict.values();
            if !self.values.as_ref().is_some_and(|v| Arc::ptr_eq(v, values)) {
                let strings = values
                    .as_string_opt::<i32>()
                    .ok_or_else(|| input_err(path, format!("column '{name}' holds {}", values.data_type())))?;
                self.codes.clear();
                self.codes.reserve(strings.len());
                for i in 0..strings.len() {
                    let code = if strings.is_null(i) {
                        NOT_HOST
                    } else {
                        state.code(parse_ip(strings.value(i), path, name)?, filter)
                    };
                    self.codes.push(code);
                }
                self.values = Some(values.clone());
            }
            let keys = dict.keys();
            let codes = &self.codes;
            let get = |k: i32| codes.get(k as usize).copied().unwrap_or(NOT_HOST);
            if keys.null_count() == 0 {
                out.extend(keys.values().iter().map(|&k| get(k)));
            } else {
                out.extend(keys.iter().map(|k| k.map_or(NOT_HOST, get)));
            }
            return Ok(());
        }
        // Plain strings: one lookup per row in a map of the addresses seen so far.
        let mut push = |v: Option<&str>| -> Result<()> {
            let code = match v {
                None => NOT_HOST,
                Some(s) => match self.plain.get(s) {
                    Some(&c) => c,
                    None => {
                        let c = state.code(parse_ip(s, path, name)?, filter);
                        self.plain.insert(s.into(), c);
                        c
                    }
                },
            };
            out.push(code);
            Ok(())
        };
        match col.data_type() {
            DataType::Utf8 => col.as_string::<i32>().iter().try_for_each(&mut push),
            DataType::LargeUtf8 => col.as_string::<i64>().iter().try_for_each(&mut push),
            DataType::Utf8View => col.as_string_view().iter().try_for_each(&mut push),
            t => Err(input_err(path, format!("column '{name}' is {t}; the flows schema stores it as Utf8"))),
        }
    }
}

fn parse_ip(s: &str, path: &Path, column: &str) -> Result<IpAddr> {
    s.trim().parse().map_err(|_| input_err(path, format!("column '{column}': '{s}' is not an IP address")))
}

/// The values of a UInt16 column with nulls as 0 (borrowed when there are no nulls).
fn u16_values<'a>(col: &'a ArrayRef, scratch: &'a mut Vec<u16>) -> &'a [u16] {
    let a = col.as_primitive::<UInt16Type>();
    if a.null_count() == 0 {
        return a.values();
    }
    scratch.clear();
    scratch.extend(a.iter().map(|v| v.unwrap_or(0)));
    scratch
}

fn i64_values<'a>(col: &'a ArrayRef, scratch: &'a mut Vec<i64>) -> &'a [i64] {
    let a = col.as_primitive::<Int64Type>();
    if a.null_count() == 0 {
        return a.values();
    }
    scratch.clear();
    scratch.extend(a.iter().map(|v| v.unwrap_or(0)));
    scratch
}

/// Per-worker caches of one unit of work.
#[derive(Default)]
struct UnitCaches {
    sip: AddrCodes,
    dip: AddrCodes,
}

fn column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| input_err(path, format!("no column '{name}': not a flows file")))
}

fn add_batch(
    batch: &RecordBatch,
    state: &mut State,
    caches: &mut UnitCaches,
    filter: &HostFilter,
    path: &Path,
) -> Result<()> {
    let mut scode = std::mem::take(&mut state.scode);
    let mut dcode = std::mem::take(&mut state.dcode);
    caches.sip.rows(column(batch, SIP, path)?, state, filter, &mut scode, path, SIP)?;
    caches.dip.rows(column(batch, DIP, path)?, state, filter, &mut dcode, path, DIP)?;
    let [s16a, s16b] = &mut state.scratch_u16;
    let [s64a, s64b] = &mut state.scratch_i64;
    let sport = u16_values(column(batch, SPORT, path)?, s16a);
    let dport = u16_values(column(batch, DPORT, path)?, s16b);
    let packets = i64_values(column(batch, PACKETS, path)?, s64a);
    let bytes = i64_values(column(batch, BYTES, path)?, s64b);
    add_rows(&mut state.shards, &state.v6_addrs, &scode, &dcode, sport, dport, packets, bytes);
    state.scode = scode;
    state.dcode = dcode;
    Ok(())
}

/// The ports report's aggregation over one scan: its host filter and its spill files.
pub struct Aggregation {
    filter: HostFilter,
    spill: Spill,
}

/// One thread's part of an [`Aggregation`].
pub struct PortsWorker<'a> {
    state: State,
    caches: UnitCaches,
    agg: &'a Aggregation,
}

impl Worker for PortsWorker<'_> {
    fn add_batch(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        add_batch(batch, &mut self.state, &mut self.caches, &self.agg.filter, path)
    }

    fn end_unit(&mut self) {
        self.caches = UnitCaches::default();
    }

    fn held_bytes(&self) -> usize {
        let st = &self.state;
        st.shards.iter().map(Shard::held_bytes).sum::<usize>()
            + st.v6_ids.capacity() * (std::mem::size_of::<(u128, u32)>() + 1)
            + st.v6_addrs.capacity() * 16
    }

    fn spill(&mut self) -> Result<()> {
        let shards = &self.state.shards;
        self.agg.spill.write_run(|i, buf| shards[i].encode(buf))?;
        for s in &mut self.state.shards {
            *s = Shard::default();
        }
        Ok(())
    }
}

/// What the workers left in memory, by shard.
pub struct Partials {
    shards: Vec<Vec<Shard>>,
}

impl Aggregation {
    pub fn new(filter: &HostFilter, memory: &Memory) -> Self {
        Aggregation { filter: filter.clone(), spill: Spill::new("ports", SHARDS, memory) }
    }

    pub fn worker(&self) -> PortsWorker<'_> {
        PortsWorker { state: State::new(), caches: UnitCaches::default(), agg: self }
    }

    /// Takes the workers' states apart by shard.
    pub fn partials(workers: Vec<PortsWorker<'_>>) -> Partials {
        let mut shards: Vec<Vec<Shard>> = (0..SHARDS).map(|_| Vec::new()).collect();
        for w in workers {
            for (i, s) in w.state.shards.into_iter().enumerate() {
                if !s.is_empty() {
                    shards[i].push(s);
                }
            }
        }
        Partials { shards }
    }

    /// The groups to summarize, with the scan's figures.
    pub fn groups(self, partials: Partials, scan: &aggregate::ScanStats) -> Groups {
        let stats = ScanStats {
            files: scan.files,
            row_groups: scan.row_groups,
            rows: scan.rows,
            no_address: scan.no_address,
            spills: self.spill.runs() as u64,
            spilled_bytes: self.spill.bytes(),
            scan_time: scan.scan_time,
            ..Default::default()
        };
        Groups { shards: partials.shards, spill: self.spill, stats }
    }
}

/// The merged groups, by shard; see [`Groups::for_each_host`].
pub struct Groups {
    shards: Vec<Vec<Shard>>,
    spill: Spill,
    pub stats: ScanStats,
}

/// Reads the flows of `files` that `select` keeps in parallel (on the current rayon pool) and
/// groups them per host, within `memory`.
pub fn aggregate(files: &[PathBuf], filter: &HostFilter, select: &Selection, memory: &Memory) -> Result<Groups> {
    let agg = Aggregation::new(filter, memory);
    let opts = ScanOptions { select, memory, quiet: memory.quiet, unaddressed: false };
    let (workers, scan) = aggregate::scan(files, &columns(), &opts, || agg.worker())?;
    let partials = Aggregation::partials(workers);
    Ok(agg.groups(partials, &scan))
}

/// One host's groups: `(sport << 16 | dport, traffic)`, each key once, in no particular order.
pub type HostGroups<'a> = &'a [(u32, Traffic)];

impl Groups {
    /// Merges each shard (its parts in memory and in spill files) and calls `f` for every host
    /// with its groups, shards in parallel. `init` makes a worker's scratch space. Returns the
    /// results in no particular order and updates `stats.groups` and `stats.hosts`.
    pub fn for_each_host<S, R, I, F>(&mut self, init: I, f: F) -> Result<Vec<R>>
    where
        R: Send,
        I: Fn() -> S + Sync + Send,
        F: Fn(&mut S, IpAddr, HostGroups<'_>) -> R + Sync + Send,
    {
        let start = std::time::Instant::now();
        let shards = std::mem::take(&mut self.shards);
        let spill = &self.spill;
        let per_shard: Vec<(Vec<R>, u64)> = shards
            .into_par_iter()
            .enumerate()
            .map_init(&init, |scratch, (i, parts)| -> Result<(Vec<R>, u64)> {
                let (v4, v6) = merge(parts, |base| spill.for_each_run(i, |run| base.absorb(run)))?;
                let groups = (v4.len() + v6.len()) as u64;
                let mut out = Vec::new();
                let (hosts, grouped) = by_host(&v4, |k| (*k >> 32) as u32, |k| *k as u32);
                drop(v4);
                for (host, range) in hosts {
                    out.push(f(scratch, IpAddr::V4(Ipv4Addr::from(host)), &grouped[range]));
                }
                drop(grouped);
                let (hosts, grouped) = by_host(&v6, |k| k.0, |k| k.1);
                for (host, range) in hosts {
                    out.push(f(scratch, IpAddr::V6(Ipv6Addr::from(host)), &grouped[range]));
                }
                Ok((out, groups))
            })
            .collect::<Result<_>>()?;
        let mut all = Vec::new();
        for (out, groups) in per_shard {
            self.stats.groups += groups;
            self.stats.hosts += out.len() as u64;
            all.extend(out);
        }
        self.stats.summary_time += start.elapsed();
        Ok(all)
    }
}

type V4Groups = Vec<(u64, Traffic)>;
type V6Groups = Vec<((u128, u32), Traffic)>;

/// Merges one shard's partial states (the largest absorbs the others) and, through `spilled`,
/// its spill runs.
fn merge(mut parts: Vec<Shard>, spilled: impl FnOnce(&mut Shard) -> Result<()>) -> Result<(V4Groups, V6Groups)> {
    parts.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut it = parts.into_iter();
    let mut base = it.next().unwrap_or_default();
    spilled(&mut base)?;
    for part in it {
        for (k, t) in part.v4.into_groups() {
            base.v4.entry(k).add(&t);
        }
        for (k, t) in part.v6 {
            base.v6_entry(k).add(&t);
        }
    }
    Ok((base.v4.into_groups(), base.v6))
}

/// Hosts with the range of their groups, and the groups.
type ByHost<H> = (Vec<(H, Range<usize>)>, Vec<(u32, Traffic)>);

/// Groups entries by host without sorting them (a counting sort on the few hosts of a shard):
/// each host with the range of its `(ports, traffic)` in the returned vector.
fn by_host<K, H: Copy + Eq + std::hash::Hash>(
    entries: &[(K, Traffic)],
    host_of: impl Fn(&K) -> H,
    ports_of: impl Fn(&K) -> u32,
) -> ByHost<H> {
    let mut slot_of: AHashMap<H, usize> = AHashMap::new();
    // Per host: count, then next free position.
    let mut hosts: Vec<(H, usize, usize)> = Vec::new();
    for (k, _) in entries {
        let h = host_of(k);
        let slot = *slot_of.entry(h).or_insert_with(|| {
            hosts.push((h, 0, 0));
            hosts.len() - 1
        });
        hosts[slot].1 += 1;
    }
    let mut start = 0;
    for h in &mut hosts {
        let n = h.1;
        (h.1, h.2) = (start, start);
        start += n;
    }
    let mut out = vec![(0u32, Traffic::default()); entries.len()];
    for (k, t) in entries {
        let slot = slot_of[&host_of(k)];
        let pos = &mut hosts[slot].2;
        out[*pos] = (ports_of(k), *t);
        *pos += 1;
    }
    (hosts.into_iter().map(|(h, start, end)| (h, start..end)).collect(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter() {
        let f = HostFilter::new(&["128.32.0.0/16".parse().unwrap(), "2001:db8::/32".parse().unwrap()]);
        assert!(f.contains("128.32.206.55".parse().unwrap()));
        assert!(!f.contains("128.33.0.1".parse().unwrap()));
        assert!(f.contains("2001:db8::1".parse().unwrap()));
        assert!(!f.contains("2001:db9::1".parse().unwrap()));
        assert!(HostFilter::new(&[]).contains("1.2.3.4".parse().unwrap()));
        // A network written with host bits set still means the network.
        assert!(HostFilter::new(&["10.1.2.3/8".parse().unwrap()]).contains("10.200.0.1".parse().unwrap()));
    }

    /// Dictionary, plain and large string columns give the same codes; null addresses and null
    /// keys are not hosts; a bad address names its column.
    #[test]
    fn address_columns() {
        use arrow_array::{DictionaryArray, Int32Array, LargeStringArray, StringArray, StringViewArray};
        let f = HostFilter::new(&["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()]);
        let values = ["10.0.0.1", "192.0.2.1", "2001:db8::1", "10.0.0.1"];
        let want =
            |st: &mut State| -> Vec<u64> { values.iter().map(|v| st.code(v.parse().unwrap(), &f)).collect::<Vec<_>>() };
        let path = Path::new("t.parquet");
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(values.to_vec())),
            Arc::new(LargeStringArray::from(values.to_vec())),
            Arc::new(StringViewArray::from(values.to_vec())),
            Arc::new(DictionaryArray::new(
                Int32Array::from(vec![0, 1, 2, 0]),
                Arc::new(StringArray::from(vec!["10.0.0.1", "192.0.2.1", "2001:db8::1"])),
            )),
        ];
        for col in cols {
            let mut st = State::new();
            let expected = want(&mut st);
            assert_eq!(expected[1], NOT_HOST);
            assert_eq!(expected[0], expected[3]);
            let mut codes = AddrCodes::default();
            let mut out = Vec::new();
            codes.rows(&col, &mut st, &f, &mut out, path, SIP).unwrap();
            assert_eq!(out, expected, "{}", col.data_type());
            // The second batch of a chunk reuses the parsed dictionary.
            codes.rows(&col, &mut st, &f, &mut out, path, SIP).unwrap();
            assert_eq!(out, expected);
        }
        let mut st = State::new();
        let with_nulls: ArrayRef = Arc::new(DictionaryArray::new(
            Int32Array::from(vec![Some(0), None, Some(1)]),
            Arc::new(StringArray::from(vec![Some("10.0.0.1"), None])),
        ));
        let mut out = Vec::new();
        AddrCodes::default().rows(&with_nulls, &mut st, &f, &mut out, path, DIP).unwrap();
        assert_eq!(out, [0x0a00_0001, NOT_HOST, NOT_HOST]);
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["10.0.0.1", "not-an-ip"]));
        let e = AddrCodes::default().rows(&bad, &mut st, &f, &mut out, path, DIP).unwrap_err().to_string();
        assert_eq!(e, "t.parquet: column 'dip': 'not-an-ip' is not an IP address");
    }

    #[test]
    fn rows_in_both_directions_and_to_self() {
        let mut st = State::new();
        let f = HostFilter::new(&[]);
        let a = st.code("10.0.0.1".parse().unwrap(), &f);
        let b = st.code("2001:db8::1".parse().unwrap(), &f);
        let b2 = st.code("2001:db8::1".parse().unwrap(), &f);
        assert_eq!(b, b2);
        let v6 = st.v6_addrs.clone();
        // a→b, b→a, a→a
        add_rows(
            &mut st.shards,
            &v6,
            &[a, b, a],
            &[b, a, a],
            &[1000, 80, 5],
            &[80, 1000, 5],
            &[2, 3, 4],
            &[100, 300, 40],
        );
        let all: Vec<_> = st.shards.iter().flat_map(|s| s.v4.groups().iter().copied()).collect();
        let self_key = (a << 32) | (5 << 16) | 5;
        let t = all.iter().find(|(k, _)| *k == self_key).unwrap().1;
        assert_eq!((t.flows, t.in_packets, t.out_packets, t.in_bytes, t.out_bytes), (1, 4, 4, 40, 40));
        let k = (a << 32) | (1000 << 16) | 80;
        let t = all.iter().find(|(x, _)| *x == k).unwrap().1;
        assert_eq!((t.flows, t.out_packets, t.in_packets), (1, 2, 0));
        let v6sum: u64 = st.shards.iter().flat_map(|s| s.v6.iter()).map(|(_, t)| t.flows).sum();
        assert_eq!(v6sum, 2);
    }
}
