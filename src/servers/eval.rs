//! The rules evaluated as Arrow kernels over whole columns, row groups in parallel
//! (docs/servers.md sections 1–5 and 7).
//!
//! Per batch and per rule, the request and reply orientations are boolean masks built from
//! comparison kernels (`arrow_ord::cmp` against scalars, combined with bitwise `&`/`|` on
//! [`BooleanBuffer`]s); masks shared by several rules (a protocol, a port range on a column) are
//! computed once per batch. Only the rows a mask selects are then grouped, by conversation
//! `(rule, proto, server, port, client, client port)`, into per-worker maps sharded by server
//! address. After the scan each shard's sorted parts and spill runs are merged as a stream and
//! decided as they come, shards in parallel: the untied rules' candidates folded one at a time,
//! then the rules tied to their control pairs (FTP data, PPTP's GRE). The scan's memory is
//! proportional to the conversations the rules select (bounded by spilling), the merge's to
//! one candidate's client ports and the tied rules' conversations of a shard.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ahash::{AHashMap, AHashSet};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Datum, Int64Array, RecordBatch, Scalar, StringArray, UInt16Array, UInt8Array,
};
use arrow_buffer::BooleanBuffer;
use arrow_ord::cmp;
use rayon::prelude::*;

use super::rules::{Bounds, PortRanges, Rule, Rules};
pub use crate::aggregate::addrs::{addr_code, code_addr};
use crate::aggregate::addrs::{AddrColumn, Interner};
use crate::aggregate::merge;
use crate::aggregate::spill::{put_record, put_time_pair, put_varint, Fields};
use crate::aggregate::{self, Columns, Memory, ScanOptions, Spill, Worker};
use crate::error::{Error, Result};
use crate::ingest::bidir::{ORIG, RESP, SIDE};
use crate::ports::HostFilter;
use crate::schema::{BYTES, DIP, DPORT, ETIME, FLAGS, PACKETS, PROTO, SIP, SPORT, STIME};
use crate::select::Selection;

const SHARD_BITS: u32 = 8;
const SHARDS: usize = 1 << SHARD_BITS;

/// The columns the rules read; `side` and `flags` only when a file has them.
const COLUMNS: [&str; 11] = [SIP, DIP, SPORT, DPORT, PROTO, PACKETS, BYTES, STIME, ETIME, SIDE, FLAGS];

/// The columns a flows file must have.
const REQUIRED: [&str; 5] = [SIP, DIP, SPORT, DPORT, PROTO];

/// Evaluation switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    /// Never look at TCP flags (they only ever raise a confidence).
    pub ignore_flags: bool,
}

/// A conversation key packed into one integer, most significant first: rule (8 bits), proto (8),
/// server address id (32), port (16), client address id (32), client port (16). Sorting keys
/// sorts conversations by candidate, then client, then client port; hashing one u128 is cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ConvKey(u128);

impl ConvKey {
    #[inline]
    fn new(rule: u8, proto: u8, server: u32, port: u16, client: u32, cport: u16) -> Self {
        ConvKey(
            (rule as u128) << 104
                | (proto as u128) << 96
                | (server as u128) << 64
                | (port as u128) << 48
                | (client as u128) << 16
                | cport as u128,
        )
    }
    fn rule(&self) -> u8 {
        (self.0 >> 104) as u8
    }
    fn proto(&self) -> u8 {
        (self.0 >> 96) as u8
    }
    fn server(&self) -> u32 {
        (self.0 >> 64) as u32
    }
    fn port(&self) -> u16 {
        (self.0 >> 48) as u16
    }
    fn client(&self) -> u32 {
        (self.0 >> 16) as u32
    }
    fn cport(&self) -> u16 {
        self.0 as u16
    }
    /// The candidate bits: rule, proto, server, port.
    fn candidate(&self) -> u64 {
        (self.0 >> 48) as u64
    }
    /// The shard: by server address only, so that a control rule's conversations and those of
    /// the rules tied to it (same server) are decided together.
    #[inline]
    fn shard(&self) -> usize {
        ((self.server() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SHARD_BITS)) as usize
    }
}

/// What one conversation carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Conv {
    req_flows: u64,
    req_packets: u64,
    req_bytes: u64,
    rep_flows: u64,
    rep_packets: u64,
    rep_bytes: u64,
    first: i64,
    last: i64,
    orig: u64,
    synack: u64,
}

impl Default for Conv {
    fn default() -> Self {
        Conv {
            req_flows: 0,
            req_packets: 0,
            req_bytes: 0,
            rep_flows: 0,
            rep_packets: 0,
            rep_bytes: 0,
            first: i64::MAX,
            last: i64::MIN,
            orig: 0,
            synack: 0,
        }
    }
}

impl Conv {
    /// A spill record ([`put_record`]): the key, the counters as varints, the times as a pair;
    /// about 30 bytes for a one-flow exchange, against 96 fixed-width.
    fn encode(&self, key: ConvKey, buf: &mut Vec<u8>) {
        put_record(buf, |b| {
            b.extend_from_slice(&key.0.to_le_bytes());
            for v in [
                self.req_flows,
                self.req_packets,
                self.req_bytes,
                self.rep_flows,
                self.rep_packets,
                self.rep_bytes,
                self.orig,
                self.synack,
            ] {
                put_varint(b, v);
            }
            put_time_pair(b, self.first, self.last);
        });
    }

    fn decode(rec: &[u8]) -> (ConvKey, Conv) {
        let mut f = Fields(rec);
        let key = ConvKey(f.u128());
        let mut v = [0u64; 8];
        for x in &mut v {
            *x = f.varint();
        }
        let [req_flows, req_packets, req_bytes, rep_flows, rep_packets, rep_bytes, orig, synack] = v;
        let (first, last) = f.time_pair();
        let conv =
            Conv { req_flows, req_packets, req_bytes, rep_flows, rep_packets, rep_bytes, first, last, orig, synack };
        (key, conv)
    }

    fn merge(&mut self, o: &Conv) {
        self.req_flows += o.req_flows;
        self.req_packets = self.req_packets.wrapping_add(o.req_packets);
        self.req_bytes = self.req_bytes.wrapping_add(o.req_bytes);
        self.rep_flows += o.rep_flows;
        self.rep_packets = self.rep_packets.wrapping_add(o.rep_packets);
        self.rep_bytes = self.rep_bytes.wrapping_add(o.rep_bytes);
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
        self.orig += o.orig;
        self.synack += o.synack;
    }
}

/// One candidate `(rule, proto, server, port)` with its evidence and decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub rule: usize,
    pub proto: u8,
    pub server: IpAddr,
    pub port: u16,
    pub clients: u64,
    pub client_ports: u64,
    /// Clients with a non-symmetric conversation or that the input says originated.
    pub strong: u64,
    pub originated: u64,
    pub synack: u64,
    pub flows_in: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub flows_out: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// Microseconds since the epoch; `None` when the input has no times.
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub is_server: bool,
}

/// A symmetric exchange where neither end shows server evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    pub rule: usize,
    pub proto: u8,
    pub port: u16,
    /// The lower address first.
    pub a: IpAddr,
    pub b: IpAddr,
    pub flows: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
}

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalStats {
    pub files: usize,
    pub row_groups: usize,
    pub rows: u64,
    /// Rows without IP addresses (layer-2 records), skipped.
    pub no_address: u64,
    pub conversations: u64,
    pub candidates: u64,
    /// Runs written to spill files, and their bytes.
    pub spills: u64,
    pub spilled_bytes: u64,
}

/// The candidates that are servers, under every rule, and the ambiguous pairs.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub candidates: Vec<Candidate>,
    pub ambiguous: Vec<Ambiguous>,
    pub stats: EvalStats,
}

/// A worker's partial conversations.
struct State {
    shards: Vec<AHashMap<ConvKey, Conv>>,
}

impl State {
    fn new() -> Self {
        State { shards: (0..SHARDS).map(|_| AHashMap::new()).collect() }
    }
}

/// The columns of one batch, normalized: ports with nulls as 0, addresses as codes.
struct Cols<'a> {
    n: usize,
    sip: &'a [u32],
    dip: &'a [u32],
    sport: UInt16Array,
    dport: UInt16Array,
    proto: UInt8Array,
    packets: Option<Int64Array>,
    bytes: Option<Int64Array>,
    stime: Vec<i64>,
    etime: Vec<i64>,
    /// Per row: 1 = orig, 2 = resp, 0 = unknown.
    side: Vec<u8>,
    /// Per row: the flags hold both S and A.
    synack: Option<BooleanBuffer>,
}

/// True where a kernel's result is true and not null.
fn truthy(a: &BooleanArray) -> BooleanBuffer {
    match a.nulls() {
        Some(n) => a.values() & n.inner(),
        None => a.values().clone(),
    }
}

fn kernel(
    f: fn(&dyn Datum, &dyn Datum) -> std::result::Result<BooleanArray, arrow_schema::ArrowError>,
    l: &dyn Datum,
    r: &dyn Datum,
) -> Result<BooleanBuffer> {
    Ok(truthy(&f(l, r)?))
}

fn u16_scalar(v: u16) -> Scalar<UInt16Array> {
    Scalar::new(UInt16Array::from(vec![v]))
}

fn i64_scalar(v: i64) -> Scalar<Int64Array> {
    Scalar::new(Int64Array::from(vec![v]))
}

/// `col ∈ ranges`, as kernels: `eq` for single ports, `gt_eq & lt_eq` for ranges, OR'ed.
fn in_ranges(col: &UInt16Array, ranges: &PortRanges) -> Result<BooleanBuffer> {
    let mut acc: Option<BooleanBuffer> = None;
    for &(lo, hi) in &ranges.0 {
        let m = if lo == hi {
            kernel(cmp::eq, col, &u16_scalar(lo))?
        } else if lo == 0 && hi == u16::MAX {
            BooleanBuffer::new_set(col.len())
        } else if lo == 0 {
            kernel(cmp::lt_eq, col, &u16_scalar(hi))?
        } else if hi == u16::MAX {
            kernel(cmp::gt_eq, col, &u16_scalar(lo))?
        } else {
            &kernel(cmp::gt_eq, col, &u16_scalar(lo))? & &kernel(cmp::lt_eq, col, &u16_scalar(hi))?
        };
        acc = Some(match acc {
            Some(a) => &a | &m,
            None => m,
        });
    }
    Ok(acc.unwrap_or_else(|| BooleanBuffer::new_unset(col.len())))
}

/// Rows passing per-flow bounds. A bound on a null counter fails (the kernels give null there).
fn bounds_mask(c: &Cols, b: &Bounds) -> Result<Option<BooleanBuffer>> {
    if b.is_empty() {
        return Ok(None);
    }
    let none = || BooleanBuffer::new_unset(c.n);
    let mut acc = BooleanBuffer::new_set(c.n);
    for (col, bound, f) in [
        (&c.packets, b.min_packets, cmp::gt_eq as fn(&dyn Datum, &dyn Datum) -> _),
        (&c.packets, b.max_packets, cmp::lt_eq),
        (&c.bytes, b.min_bytes, cmp::gt_eq),
        (&c.bytes, b.max_bytes, cmp::lt_eq),
    ] {
        if let Some(v) = bound {
            acc = match col {
                Some(a) => &acc & &kernel(f, a, &i64_scalar(v))?,
                None => none(),
            };
        }
    }
    for (bound, at_least) in [(b.min_bpp, true), (b.max_bpp, false)] {
        let Some(m) = bound else { continue };
        acc = match (&c.packets, &c.bytes) {
            (Some(p), Some(y)) => {
                let (pv, yv) = (p.values(), y.values());
                // A comparison of two columns with a factor: one tight loop, no kernel for `m * packets`.
                let cmp = BooleanBuffer::collect_bool(c.n, |i| {
                    let lim = m.saturating_mul(pv[i]);
                    if at_least {
                        yv[i] >= lim
                    } else {
                        yv[i] <= lim
                    }
                });
                let mut v = &acc & &cmp;
                for a in [p, y] {
                    if let Some(n) = a.nulls() {
                        v = &v & n.inner();
                    }
                }
                v
            }
            _ => none(),
        };
    }
    Ok(Some(acc))
}

/// Masks computed once per batch and shared by the rules that ask for them.
#[derive(Default)]
struct MaskCache {
    protos: Vec<(Vec<u8>, BooleanBuffer)>,
    ranges: Vec<(bool, PortRanges, BooleanBuffer)>,
}

impl MaskCache {
    fn proto(&mut self, c: &Cols, protos: &[u8]) -> Result<BooleanBuffer> {
        if let Some((_, m)) = self.protos.iter().find(|(p, _)| p == protos) {
            return Ok(m.clone());
        }
        let mut acc = BooleanBuffer::new_unset(c.n);
        for &p in protos {
            acc = &acc | &kernel(cmp::eq, &c.proto, &Scalar::new(UInt8Array::from(vec![p])))?;
        }
        self.protos.push((protos.to_vec(), acc.clone()));
        Ok(acc)
    }

    /// `sport ∈ ranges` (`source`) or `dport ∈ ranges`.
    fn ports(&mut self, c: &Cols, source: bool, ranges: &PortRanges) -> Result<BooleanBuffer> {
        if let Some((_, _, m)) = self.ranges.iter().find(|(s, r, _)| *s == source && r == ranges) {
            return Ok(m.clone());
        }
        let m = in_ranges(if source { &c.sport } else { &c.dport }, ranges)?;
        self.ranges.push((source, ranges.clone(), m.clone()));
        Ok(m)
    }
}

/// The masks of one rule over one batch: the request and reply orientations after every test,
/// and the orientations its protocol and ports alone take (what an untied rule claims).
struct RuleMasks {
    req: BooleanBuffer,
    rep: BooleanBuffer,
    req_ports: BooleanBuffer,
    rep_ports: BooleanBuffer,
}

fn rule_masks(c: &Cols, r: &Rule, cache: &mut MaskCache) -> Result<RuleMasks> {
    let proto = cache.proto(c, &r.protos)?;
    if proto.count_set_bits() == 0 {
        let none = BooleanBuffer::new_unset(c.n);
        return Ok(RuleMasks { req: none.clone(), rep: none.clone(), req_ports: none.clone(), rep_ports: none });
    }
    let req_ports = &(&proto & &cache.ports(c, false, &r.ports)?) & &cache.ports(c, true, &r.client_ports)?;
    let rep_ports = &(&proto & &cache.ports(c, true, &r.ports)?) & &cache.ports(c, false, &r.client_ports)?;
    let (mut req, mut rep) = (req_ports.clone(), rep_ports.clone());
    if let Some(b) = bounds_mask(c, &r.request)? {
        req = &req & &b;
    }
    if let Some(b) = bounds_mask(c, &r.reply)? {
        rep = &rep & &b;
    }
    if r.server_port_below_client {
        req = &req & &kernel(cmp::lt, &c.dport, &c.sport)?;
        rep = &rep & &kernel(cmp::lt, &c.sport, &c.dport)?;
    }
    Ok(RuleMasks { req, rep, req_ports, rep_ports })
}

fn counter(a: &Option<Int64Array>, i: usize) -> u64 {
    match a {
        Some(a) if a.is_valid(i) => a.value(i).max(0) as u64,
        _ => 0,
    }
}

/// Groups the rows of one rule's masks into conversations.
fn add_rule(c: &Cols, rule: u8, req: &BooleanBuffer, rep: &BooleanBuffer, state: &mut State) {
    for (mask, request) in [(req, true), (rep, false)] {
        for i in mask.set_indices() {
            let (sip, dip, sport, dport) = (c.sip[i], c.dip[i], c.sport.value(i), c.dport.value(i));
            let key = if request {
                ConvKey::new(rule, c.proto.value(i), dip, dport, sip, sport)
            } else {
                ConvKey::new(rule, c.proto.value(i), sip, sport, dip, dport)
            };
            let conv = state.shards[key.shard()].entry(key).or_default();
            let (p, b) = (counter(&c.packets, i), counter(&c.bytes, i));
            if request {
                conv.req_flows += 1;
                conv.req_packets = conv.req_packets.wrapping_add(p);
                conv.req_bytes = conv.req_bytes.wrapping_add(b);
                conv.orig += (c.side[i] == 1) as u64;
            } else {
                conv.rep_flows += 1;
                conv.rep_packets = conv.rep_packets.wrapping_add(p);
                conv.rep_bytes = conv.rep_bytes.wrapping_add(b);
                conv.orig += (c.side[i] == 2) as u64;
                conv.synack += c.synack.as_ref().is_some_and(|s| s.value(i)) as u64;
            }
            conv.first = conv.first.min(c.stime[i]);
            conv.last = conv.last.max(c.etime[i]);
        }
    }
}

fn input_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::input(path.display().to_string(), reason)
}

/// A UInt16 column with nulls as 0.
fn ports_column(batch: &RecordBatch, name: &str, path: &Path) -> Result<UInt16Array> {
    let col =
        batch.column_by_name(name).ok_or_else(|| input_err(path, format!("no column '{name}': not a flows file")))?;
    let a = col.as_primitive_opt::<UInt16Type>().ok_or_else(|| {
        input_err(path, format!("column '{name}' is {}; the flows schema stores it as UInt16", col.data_type()))
    })?;
    Ok(if a.null_count() == 0 { a.clone() } else { a.iter().map(|v| v.unwrap_or(0)).collect() })
}

fn optional<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    batch.column_by_name(name)
}

fn times(col: Option<&ArrayRef>, n: usize, out: &mut Vec<i64>, default: impl Fn(usize) -> i64) {
    out.clear();
    match col.and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>()) {
        Some(a) if a.null_count() == 0 => out.extend_from_slice(a.values()),
        Some(a) => out.extend((0..n).map(|i| if a.is_valid(i) { a.value(i) } else { default(i) })),
        None => out.extend((0..n).map(default)),
    }
}

/// Per-unit caches: address codes by dictionary values.
#[derive(Default)]
struct Caches {
    sip: AddrColumn,
    dip: AddrColumn,
    scode: Vec<u32>,
    dcode: Vec<u32>,
    slocal: Vec<bool>,
    dlocal: Vec<bool>,
    stime: Vec<i64>,
    etime: Vec<i64>,
}

#[allow(clippy::too_many_arguments)]
fn eval_batch(
    batch: &RecordBatch,
    interner: &Interner,
    filter: &HostFilter,
    rules: &Rules,
    opts: &EvalOptions,
    caches: &mut Caches,
    state: &mut State,
    path: &Path,
) -> Result<()> {
    let n = batch.num_rows();
    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| input_err(path, format!("no column '{name}': not a flows file")))
    };
    let mut scode = std::mem::take(&mut caches.scode);
    let mut dcode = std::mem::take(&mut caches.dcode);
    caches.sip.codes(col(SIP)?, path, SIP, interner, filter, &mut scode, &mut caches.slocal)?;
    caches.dip.codes(col(DIP)?, path, DIP, interner, filter, &mut dcode, &mut caches.dlocal)?;
    // With --local, a candidate outside the networks is never reported: its conversations are
    // not kept (the decision of a server depends on its own conversations only). Rules with
    // symmetric conversations keep them all: an ambiguous pair needs both ends decided.
    let local_masks = (!filter.is_everything())
        .then(|| (BooleanBuffer::from(caches.slocal.as_slice()), BooleanBuffer::from(caches.dlocal.as_slice())));
    let proto = col(PROTO)?
        .as_primitive_opt::<UInt8Type>()
        .ok_or_else(|| input_err(path, "column 'proto' is not UInt8: not a flows file"))?
        .clone();
    let counters = |name: &str| -> Result<Option<Int64Array>> {
        match optional(batch, name) {
            None => Ok(None),
            Some(c) => Ok(Some(
                c.as_primitive_opt::<Int64Type>()
                    .ok_or_else(|| {
                        input_err(
                            path,
                            format!("column '{name}' is {}; the flows schema stores it as Int64", c.data_type()),
                        )
                    })?
                    .clone(),
            )),
        }
    };
    let mut stime = std::mem::take(&mut caches.stime);
    let mut etime = std::mem::take(&mut caches.etime);
    times(optional(batch, STIME), n, &mut stime, |_| i64::MAX);
    times(optional(batch, ETIME), n, &mut etime, |i| stime[i]);
    for e in etime.iter_mut() {
        // A null etime with a null stime stays "no time": it must not win a max.
        if *e == i64::MAX {
            *e = i64::MIN;
        }
    }
    let side = match optional(batch, SIDE).and_then(|c| c.as_string_opt::<i32>()) {
        Some(s) => {
            let o = truthy(&cmp::eq(s, &Scalar::new(StringArray::from(vec![ORIG])))?);
            let r = truthy(&cmp::eq(s, &Scalar::new(StringArray::from(vec![RESP])))?);
            (0..n).map(|i| o.value(i) as u8 | ((r.value(i) as u8) << 1)).collect()
        }
        None => vec![0; n],
    };
    let synack = if opts.ignore_flags {
        None
    } else {
        optional(batch, FLAGS).and_then(|c| c.as_string_opt::<i32>()).map(|f| {
            BooleanBuffer::collect_bool(n, |i| {
                f.is_valid(i) && {
                    let v = f.value(i).as_bytes();
                    v.contains(&b'S') && v.contains(&b'A')
                }
            })
        })
    };
    let cols = Cols {
        n,
        sip: &scode,
        dip: &dcode,
        sport: ports_column(batch, SPORT, path)?,
        dport: ports_column(batch, DPORT, path)?,
        proto,
        packets: counters(PACKETS)?,
        bytes: counters(BYTES)?,
        stime,
        etime,
        side,
        synack,
    };
    let mut cache = MaskCache::default();
    // Orientations taken by the ports of earlier untied rules (docs/servers.md section 2).
    let mut claimed_req = BooleanBuffer::new_unset(n);
    let mut claimed_rep = BooleanBuffer::new_unset(n);
    for (i, rule) in rules.rules.iter().enumerate() {
        let m = rule_masks(&cols, rule, &mut cache)?;
        let mut req = &m.req & &!&claimed_req;
        let mut rep = &m.rep & &!&claimed_rep;
        if let Some((slocal, dlocal)) = local_masks.as_ref().filter(|_| !rule.symmetric_possible()) {
            req = &req & dlocal;
            rep = &rep & slocal;
        }
        add_rule(&cols, i as u8, &req, &rep, state);
        if rule.tie.is_none() {
            claimed_req = &claimed_req | &m.req_ports;
            claimed_rep = &claimed_rep | &m.rep_ports;
        }
    }
    caches.stime = cols.stime;
    caches.etime = cols.etime;
    caches.scode = scode;
    caches.dcode = dcode;
    Ok(())
}

/// The columns the rules read: those a flows file must have, and the optional ones (`side`,
/// `flags`, the counters and the times) where a file has them.
pub fn columns() -> Columns {
    let optional: Vec<&'static str> = COLUMNS.iter().copied().filter(|c| !REQUIRED.contains(c)).collect();
    Columns::new(&REQUIRED, &optional)
}

/// The servers evaluation over one scan: the rules, the address interner shared by the
/// workers, and the spill files.
pub struct Evaluator<'a> {
    rules: &'a Rules,
    opts: EvalOptions,
    filter: HostFilter,
    interner: Interner,
    spill: Spill,
}

/// One thread's part of an [`Evaluator`].
pub struct ServersWorker<'a> {
    ev: &'a Evaluator<'a>,
    state: State,
    caches: Caches,
}

impl Worker for ServersWorker<'_> {
    fn add_batch(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        let ev = self.ev;
        eval_batch(batch, &ev.interner, &ev.filter, ev.rules, &ev.opts, &mut self.caches, &mut self.state, path)
    }

    fn end_unit(&mut self) {
        self.caches = Caches::default();
    }

    fn held_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(ConvKey, Conv)>();
        self.state.shards.iter().map(|m| aggregate::memory::table_bytes(m.capacity(), entry)).sum()
    }

    fn spill(&mut self) -> Result<()> {
        let shards = &self.state.shards;
        // Each shard sorted by key, for the streaming merge (`Evaluator::finish`).
        self.ev.spill.write_run(|i, buf| {
            let mut v: Vec<(&ConvKey, &Conv)> = shards[i].iter().collect();
            v.sort_unstable_by_key(|e| *e.0);
            for (k, c) in v {
                c.encode(*k, buf);
            }
        })?;
        for m in &mut self.state.shards {
            *m = AHashMap::new();
        }
        Ok(())
    }
}

/// What the workers left in memory, by shard.
pub struct Partials {
    shards: Vec<Vec<AHashMap<ConvKey, Conv>>>,
}

impl<'a> Evaluator<'a> {
    /// `filter`: the `--local` networks (conversations of servers outside them are not kept,
    /// except under rules with symmetric conversations).
    pub fn new(rules: &'a Rules, opts: &EvalOptions, filter: &HostFilter, memory: &Memory) -> Self {
        Evaluator {
            rules,
            opts: *opts,
            filter: filter.clone(),
            interner: Interner::default(),
            spill: Spill::new("servers", SHARDS, memory),
        }
    }

    pub fn worker(&'a self) -> ServersWorker<'a> {
        ServersWorker { ev: self, state: State::new(), caches: Caches::default() }
    }

    /// Takes the workers' states apart by shard.
    pub fn partials(workers: Vec<ServersWorker<'_>>) -> Partials {
        let mut shards: Vec<Vec<AHashMap<ConvKey, Conv>>> = (0..SHARDS).map(|_| Vec::new()).collect();
        for w in workers {
            for (i, m) in w.state.shards.into_iter().enumerate() {
                if !m.is_empty() {
                    shards[i].push(m);
                }
            }
        }
        Partials { shards }
    }

    /// Merges each shard (in memory and spilled, as a stream of sorted sources) and decides its
    /// candidates as they come ([`ShardDecider`]), shards in parallel.
    pub fn finish(&self, partials: Partials, scan: &aggregate::ScanStats) -> Result<Evaluation> {
        let rules = self.rules;
        let addrs = self.interner.addrs();
        let per_shard: Vec<(Vec<Candidate>, Vec<Symmetric>, u64, u64)> = partials
            .shards
            .into_par_iter()
            .enumerate()
            .map(|(i, maps)| -> Result<_> {
                // A k-way merge of the workers' parts (sorted) and the spill runs (written
                // sorted), streamed through the shard's decisions: a candidate's conversations
                // are folded as they come, not held.
                let mut merged = merge::shard(maps, &self.spill, i, Conv::decode)?;
                let mut shard = ShardDecider::new(rules, &addrs);
                let mut n = 0u64;
                while let Some((k, c)) = merged.next(|a, b| a.merge(&b))? {
                    n += 1;
                    shard.push(k, c);
                }
                let (cands, sym, all) = shard.finish();
                Ok((cands, sym, n, all))
            })
            .collect::<Result<_>>()?;
        let mut candidates = Vec::new();
        let mut symmetric = Vec::new();
        let (mut conversations, mut all) = (0, 0);
        for (c, s, n, a) in per_shard {
            candidates.extend(c);
            symmetric.extend(s);
            conversations += n;
            all += a;
        }
        let ambiguous = ambiguous_pairs(&candidates, symmetric);
        let stats = EvalStats {
            files: scan.files,
            row_groups: scan.row_groups,
            rows: scan.rows,
            no_address: scan.no_address,
            conversations,
            candidates: all,
            spills: self.spill.runs() as u64,
            spilled_bytes: self.spill.bytes(),
        };
        Ok(Evaluation { candidates, ambiguous, stats })
    }
}

/// Reads the flows files and evaluates the rules, on the current rayon pool, within `memory`.
/// `filter`: the `--local` networks (see [`Evaluator::new`]).
pub fn evaluate(
    files: &[PathBuf],
    rules: &Rules,
    select: &Selection,
    opts: &EvalOptions,
    filter: &HostFilter,
    memory: &Memory,
) -> Result<Evaluation> {
    let ev = Evaluator::new(rules, opts, filter, memory);
    let scan_opts = ScanOptions { select, memory, quiet: memory.quiet, unaddressed: false };
    let (workers, scan) = aggregate::scan(files, &columns(), &scan_opts, || ev.worker())?;
    let partials = Evaluator::partials(workers);
    ev.finish(partials, &scan)
}

/// Control pairs of one rule: `(server, client)` → the interval of their control traffic.
type ControlPairs = AHashMap<(u8, u32, u32), (i64, i64)>;

/// A symmetric answered conversation whose server end is not a server under its rule: an
/// ambiguous pair unless its client end is one.
struct Symmetric {
    rule: usize,
    proto: u8,
    port: u16,
    server: IpAddr,
    client: IpAddr,
    flows: u64,
    first: i64,
    last: i64,
}

/// Sections 4, 5 and 7 of docs/servers.md over one shard's conversations as they stream by in
/// key order (a shard holds every conversation of its servers): each candidate of an untied
/// rule is folded as its conversations come ([`CandidateFold`]), so a busy server's millions of
/// clients are counted, not held; the conversations of rules tied to a control rule are set
/// aside and decided at the end ([`ShardDecider::finish`]), against the control pairs of the
/// shard's servers; the symmetric conversations of non-servers go to section 7.
struct ShardDecider<'r> {
    rules: &'r Rules,
    addrs: &'r [IpAddr],
    controls: AHashSet<u8>,
    pairs: ControlPairs,
    /// The servers decided so far. Only servers are kept: a day has a candidate for nearly
    /// every (host, port) that some rule matches (4.4M at 60M rows, about 900 MB), and nothing
    /// reads the others; `decided` counts them all.
    servers: Vec<Candidate>,
    decided: u64,
    symmetric: Vec<Symmetric>,
    /// The untied candidate being folded, and what it adds if it turns out a server (control
    /// pairs) or not (symmetric conversations).
    current: Option<CandidateFold<'r>>,
    pending_pairs: Vec<((u8, u32, u32), i64, i64)>,
    pending_symmetric: Vec<Symmetric>,
    /// Conversations of tied rules, in key order.
    tied: Vec<(ConvKey, Conv)>,
}

impl<'r> ShardDecider<'r> {
    fn new(rules: &'r Rules, addrs: &'r [IpAddr]) -> Self {
        ShardDecider {
            rules,
            addrs,
            controls: rules.rules.iter().filter_map(|r| r.tie.map(|t| t as u8)).collect(),
            pairs: ControlPairs::new(),
            servers: Vec::new(),
            decided: 0,
            symmetric: Vec::new(),
            current: None,
            pending_pairs: Vec::new(),
            pending_symmetric: Vec::new(),
            tied: Vec::new(),
        }
    }

    /// The next conversation, in key order.
    fn push(&mut self, k: ConvKey, c: Conv) {
        let rule = &self.rules.rules[k.rule() as usize];
        if rule.tie.is_some() {
            self.tied.push((k, c));
            return;
        }
        if self.current.as_ref().is_some_and(|f| f.key != k.candidate()) {
            self.end_candidate();
        }
        let fold = self.current.get_or_insert_with(|| CandidateFold::new(k, rule, self.addrs));
        fold.add(&k, &c, true);
        // Once a candidate is sure to be a server (the test only grows more true), its symmetric
        // conversations are not needed and its control pairs are final: an ICMP echo responder's
        // millions of 0/0 conversations are not held.
        let sure = fold.surely_server();
        if answered(&c, rule) {
            if self.controls.contains(&k.rule()) {
                self.pending_pairs.push(((k.rule(), k.server(), k.client()), c.first, c.last));
            }
            if !sure && k.cport() == k.port() {
                self.pending_symmetric.push(Symmetric {
                    rule: k.rule() as usize,
                    proto: k.proto(),
                    port: k.port(),
                    server: self.addrs[k.server() as usize],
                    client: self.addrs[k.client() as usize],
                    flows: c.req_flows + c.rep_flows,
                    first: c.first,
                    last: c.last,
                });
            }
        }
        if sure {
            self.settle_server();
        }
    }

    /// The candidate being folded is a server: its control pairs go in, its symmetric
    /// conversations go.
    fn settle_server(&mut self) {
        // Pass 1's control pairs: the answered conversations of a control rule's servers.
        for (key, first, last) in self.pending_pairs.drain(..) {
            let e = self.pairs.entry(key).or_insert((i64::MAX, i64::MIN));
            e.0 = e.0.min(first);
            e.1 = e.1.max(last);
        }
        self.pending_symmetric.clear();
    }

    fn end_candidate(&mut self) {
        let Some(fold) = self.current.take() else { return };
        let cand = fold.finish();
        self.decided += 1;
        if cand.is_server {
            self.settle_server();
            self.servers.push(cand);
        } else {
            self.pending_pairs.clear();
            self.symmetric.append(&mut self.pending_symmetric);
        }
    }

    /// The shard's servers (the untied rules' in key order, then the tied rules'), its
    /// symmetric conversations, and how many candidates it decided.
    fn finish(mut self) -> (Vec<Candidate>, Vec<Symmetric>, u64) {
        self.end_candidate();
        // Pass 2: rules tied to a control rule (the control pairs are of this shard's servers).
        for run in candidate_runs(&self.tied) {
            let key = run[0].0;
            let rule = &self.rules.rules[key.rule() as usize];
            let Some(t) = rule.tie else { continue };
            let pairs = &self.pairs;
            let keep = |(k, c): &(ConvKey, Conv)| {
                pairs.get(&(t as u8, k.server(), k.client())).is_some_and(|&(f, l)| {
                    c.first <= l.saturating_add(rule.tie_slack_us) && c.last >= f.saturating_sub(rule.tie_slack_us)
                })
            };
            let cand = candidate(run, rule, self.addrs, keep);
            if cand.clients > 0 {
                self.decided += 1;
                if cand.is_server {
                    self.servers.push(cand);
                }
            }
        }
        (self.servers, self.symmetric, self.decided)
    }
}

/// Section 7: symmetric answered conversations whose two ends are both not servers.
fn ambiguous_pairs(candidates: &[Candidate], symmetric: Vec<Symmetric>) -> Vec<Ambiguous> {
    let servers: AHashSet<(usize, u8, IpAddr, u16)> =
        candidates.iter().filter(|c| c.is_server).map(|c| (c.rule, c.proto, c.server, c.port)).collect();
    let mut amb: AHashMap<(usize, u8, u16, IpAddr, IpAddr), Ambiguous> = AHashMap::new();
    for x in symmetric {
        let (s, cl) = (x.server, x.client);
        if servers.contains(&(x.rule, x.proto, cl, x.port)) {
            continue;
        }
        let (a, b) = if s <= cl { (s, cl) } else { (cl, s) };
        let e = amb.entry((x.rule, x.proto, x.port, a, b)).or_insert(Ambiguous {
            rule: x.rule,
            proto: x.proto,
            port: x.port,
            a,
            b,
            flows: 0,
            first: None,
            last: None,
        });
        // Each exchange appears under both orientations: count its flows once, from the lower end.
        if s == a {
            e.flows += x.flows;
        }
        e.first = opt_min(e.first, x.first);
        e.last = opt_max(e.last, x.last);
    }
    let mut ambiguous: Vec<Ambiguous> = amb.into_values().collect();
    ambiguous.sort_by_key(|x| (x.a, x.b, x.port, x.proto, x.rule));
    ambiguous
}

fn opt_min(a: Option<i64>, t: i64) -> Option<i64> {
    if t == i64::MAX {
        return a;
    }
    Some(a.map_or(t, |a| a.min(t)))
}

fn opt_max(a: Option<i64>, t: i64) -> Option<i64> {
    if t == i64::MIN {
        return a;
    }
    Some(a.map_or(t, |a| a.max(t)))
}

fn answered(c: &Conv, rule: &Rule) -> bool {
    c.rep_flows > 0 || !rule.reply_required
}

/// Runs of conversations with the same candidate, in a sorted slice.
fn candidate_runs(convs: &[(ConvKey, Conv)]) -> impl Iterator<Item = &[(ConvKey, Conv)]> {
    convs.chunk_by(|a, b| a.0.candidate() == b.0.candidate())
}

/// One candidate from its conversations (sorted by client, then client port); `keep` filters
/// them further (the tie).
fn candidate(
    run: &[(ConvKey, Conv)],
    rule: &Rule,
    addrs: &[IpAddr],
    keep: impl Fn(&(ConvKey, Conv)) -> bool,
) -> Candidate {
    let mut fold = CandidateFold::new(run[0].0, rule, addrs);
    for kc in run {
        fold.add(&kc.0, &kc.1, keep(kc));
    }
    fold.finish()
}

/// A candidate's evidence, folded over its conversations as they come (sorted by client, then
/// client port): per-client flags, the sums of its answered conversations (merged as the
/// conversations themselves are), and the client ports (two bytes per answered conversation,
/// for their distinct count).
struct CandidateFold<'r> {
    /// The candidate bits of the key ([`ConvKey::candidate`]).
    key: u64,
    rule: &'r Rule,
    cand: Candidate,
    sum: Conv,
    cports: Vec<u16>,
    /// The client being folded, and whether it had an answered conversation, a strong one, one
    /// it originated.
    client: Option<u32>,
    any: bool,
    strong: bool,
    orig: bool,
}

impl<'r> CandidateFold<'r> {
    fn new(k0: ConvKey, rule: &'r Rule, addrs: &[IpAddr]) -> Self {
        let cand = Candidate {
            rule: k0.rule() as usize,
            proto: k0.proto(),
            server: addrs[k0.server() as usize],
            port: k0.port(),
            clients: 0,
            client_ports: 0,
            strong: 0,
            originated: 0,
            synack: 0,
            flows_in: 0,
            packets_in: 0,
            bytes_in: 0,
            flows_out: 0,
            packets_out: 0,
            bytes_out: 0,
            first: None,
            last: None,
            is_server: false,
        };
        CandidateFold {
            key: k0.candidate(),
            rule,
            cand,
            sum: Conv::default(),
            cports: Vec::new(),
            client: None,
            any: false,
            strong: false,
            orig: false,
        }
    }

    fn end_client(&mut self) {
        self.cand.clients += self.any as u64;
        self.cand.strong += self.strong as u64;
        self.cand.originated += self.orig as u64;
        (self.any, self.strong, self.orig) = (false, false, false);
    }

    /// The next conversation; `keep`: it passes the tie (always true for untied rules).
    fn add(&mut self, k: &ConvKey, c: &Conv, keep: bool) {
        if self.client != Some(k.client()) {
            self.end_client();
            self.client = Some(k.client());
        }
        if !answered(c, self.rule) || !keep {
            return;
        }
        self.any = true;
        self.strong |= k.cport() != k.port() || c.orig > 0;
        self.orig |= c.orig > 0;
        self.cports.push(k.cport());
        self.sum.merge(c);
    }

    /// Section 5's test on the counts so far (the client being folded included). Counts only
    /// grow, so once true it stays true.
    fn surely_server(&self) -> bool {
        let c = &self.cand;
        is_server(
            self.rule,
            c.clients + self.any as u64,
            c.strong + self.strong as u64,
            c.originated + self.orig as u64,
        )
    }

    fn finish(mut self) -> Candidate {
        self.end_client();
        let s = self.sum;
        let mut cand = Candidate {
            synack: s.synack,
            flows_in: s.req_flows,
            packets_in: s.req_packets,
            bytes_in: s.req_bytes,
            flows_out: s.rep_flows,
            packets_out: s.rep_packets,
            bytes_out: s.rep_bytes,
            first: (s.first != i64::MAX).then_some(s.first),
            last: (s.last != i64::MIN).then_some(s.last),
            ..self.cand
        };
        self.cports.sort_unstable();
        self.cports.dedup();
        cand.client_ports = self.cports.len() as u64;
        cand.is_server = is_server(self.rule, cand.clients, cand.strong, cand.originated);
        cand
    }
}

/// Section 5: a candidate with these answering clients, strong clients and originated ones is
/// a server under `rule`.
fn is_server(rule: &Rule, clients: u64, strong: u64, originated: u64) -> bool {
    let min = rule.min_clients as u64;
    clients >= 1
        && if rule.tie.is_some() {
            clients >= min
        } else {
            strong >= min || originated >= 1 || clients >= min.max(rule.symmetric_min_clients as u64)
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_records_read_back_exactly() {
        let one = Conv {
            req_flows: 1,
            req_packets: 3,
            req_bytes: 180,
            first: 1_700_000_000_000_000,
            last: 1_700_000_000_400_000,
            ..Conv::default()
        };
        let odd = Conv {
            req_flows: u64::MAX,
            req_packets: 1,
            req_bytes: u64::MAX,
            rep_flows: 2,
            rep_packets: 1 << 40,
            rep_bytes: 0,
            first: i64::MIN,
            last: i64::MAX,
            orig: 3,
            synack: u64::MAX,
        };
        let convs = [
            (ConvKey::new(1, 6, 9, 80, 10, 40000), one),
            (ConvKey::new(255, 255, u32::MAX, 65535, u32::MAX, 65535), odd),
            (ConvKey::new(0, 0, 0, 0, 0, 0), Conv::default()),
        ];
        let (first, read) = crate::aggregate::spill::round_trip(&convs, Conv::encode, Conv::decode);
        assert!(first < 40, "a one-flow conversation's record is {first} bytes");
        assert_eq!(read, convs);
    }

    /// The shard's conversations as the merge hands them over, in key order.
    fn decide(
        rules: &Rules,
        mut convs: Vec<(ConvKey, Conv)>,
        addrs: &[IpAddr],
    ) -> (Vec<Candidate>, Vec<Symmetric>, u64) {
        convs.sort_unstable_by_key(|e| e.0);
        let mut d = ShardDecider::new(rules, addrs);
        for (k, c) in convs {
            d.push(k, c);
        }
        d.finish()
    }

    /// The streaming decision: an NTP server answering many symmetric (123<->123) peers is a
    /// server and hands none of them to section 7, one answering a single peer is not and hands
    /// its conversation over; FTP data counts only from the client holding a control session
    /// with that FTP server (the tied rule is decided at the shard's end).
    #[test]
    fn a_shard_is_decided_as_its_conversations_stream_by() {
        let rules = Rules::builtin();
        let idx = |n: &str| rules.rules.iter().position(|r| r.name == n).unwrap() as u8;
        let addrs: Vec<IpAddr> = (0..300u32).map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes())).collect();
        let conv = |bytes: u64, first: i64| Conv {
            req_flows: 1,
            req_packets: 3,
            req_bytes: bytes,
            rep_flows: 1,
            rep_packets: 3,
            rep_bytes: bytes,
            first,
            last: first + 1_000_000,
            ..Conv::default()
        };
        let (ntp, ftp, data) = (idx("ntp"), idx("ftp"), idx("ftp-data-passive"));
        let mut convs = Vec::new();
        for peer in 100..150 {
            convs.push((ConvKey::new(ntp, 17, 0, 123, peer, 123), conv(228, 0)));
        }
        convs.push((ConvKey::new(ntp, 17, 1, 123, 2, 123), conv(228, 0)));
        // FTP server 3: control from client 4, passive data from 4 (tied) and from 5 (no control).
        convs.push((ConvKey::new(ftp, 6, 3, 21, 4, 40000), conv(600, 10_000_000)));
        convs.push((ConvKey::new(data, 6, 3, 50000, 4, 40001), conv(90_000, 20_000_000)));
        convs.push((ConvKey::new(data, 6, 3, 50001, 5, 40002), conv(90_000, 20_000_000)));
        let (servers, symmetric, decided) = decide(&rules, convs, &addrs);
        let found: Vec<(usize, IpAddr, u16, u64)> =
            servers.iter().map(|c| (c.rule, c.server, c.port, c.clients)).collect();
        assert_eq!(
            found,
            [(ftp as usize, addrs[3], 21, 1), (ntp as usize, addrs[0], 123, 50), (data as usize, addrs[3], 50000, 1)]
        );
        // The lone NTP peer is decided and is no server; the data port without control has no
        // client that counts, so it is no candidate.
        assert_eq!(decided, 4);
        assert_eq!(symmetric.len(), 1);
        assert_eq!((symmetric[0].server, symmetric[0].client), (addrs[1], addrs[2]));
    }

    /// The bounds kernels agree with the scalar definition on every combination of nulls,
    /// edges and large values (bytes per packet saturating).
    #[test]
    fn bounds_kernels_match_the_scalar_definition() {
        let values = [None, Some(0), Some(1), Some(2), Some(40), Some(79), Some(80), Some(400), Some(i64::MAX)];
        let (mut packets, mut bytes) = (Vec::new(), Vec::new());
        for p in values {
            for b in values {
                packets.push(p);
                bytes.push(b);
            }
        }
        let n = packets.len();
        let none = vec![0u32; n];
        let cols = Cols {
            n,
            sip: &none,
            dip: &none,
            sport: UInt16Array::from(vec![0; n]),
            dport: UInt16Array::from(vec![0; n]),
            proto: UInt8Array::from(vec![6; n]),
            packets: Some(Int64Array::from(packets.clone())),
            bytes: Some(Int64Array::from(bytes.clone())),
            stime: vec![0; n],
            etime: vec![0; n],
            side: vec![0; n],
            synack: None,
        };
        let cases = [
            Bounds { min_packets: Some(2), ..Bounds::default() },
            Bounds { max_packets: Some(40), min_bytes: Some(40), ..Bounds::default() },
            Bounds { max_bytes: Some(79), ..Bounds::default() },
            Bounds { min_bpp: Some(40), ..Bounds::default() },
            Bounds { min_packets: Some(1), max_bpp: Some(400), ..Bounds::default() },
        ];
        for b in cases {
            let mask = bounds_mask(&cols, &b).unwrap().unwrap();
            for i in 0..n {
                assert_eq!(
                    mask.value(i),
                    b.admits(packets[i], bytes[i]),
                    "{b:?} packets {:?} bytes {:?}",
                    packets[i],
                    bytes[i]
                );
            }
        }
        assert!(bounds_mask(&cols, &Bounds::default()).unwrap().is_none());
    }
}
