//! The rules evaluated as Arrow kernels over whole columns, row groups in parallel
//! (docs/servers.md sections 1–5 and 7).
//!
//! Per batch and per rule, the request and reply orientations are boolean masks built from
//! comparison kernels (`arrow_ord::cmp` against scalars, combined with bitwise `&`/`|` on
//! [`BooleanBuffer`]s); masks shared by several rules (a protocol, a port range on a column) are
//! computed once per batch. Only the rows a mask selects are then grouped, by conversation
//! `(rule, proto, server, port, client, client port)`, into per-worker maps sharded by candidate
//! `(rule, proto, server, port)`. After the scan the shards are merged and decided in parallel:
//! untied rules first, then the rules tied to their control pairs (FTP data, PPTP's GRE).
//! Memory is proportional to the conversations the rules select, not to the rows.

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ahash::{AHashMap, AHashSet};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Datum, Int64Array, RecordBatch, Scalar, StringArray, UInt16Array, UInt8Array,
};
use arrow_buffer::BooleanBuffer;
use arrow_ord::cmp;
use rayon::prelude::*;

use super::rules::{Bounds, PortRanges, Rule, Rules};
use crate::error::{Error, Result};
use crate::ingest::bidir::{ORIG, RESP, SIDE};
use crate::ports::HostFilter;
use crate::scan;
use crate::schema::{BYTES, DIP, DPORT, ETIME, FLAGS, PACKETS, PROTO, SIP, SPORT, STIME};
use crate::select::Selection;

/// Rows per batch handed to the kernels.
const BATCH_ROWS: usize = 64 * 1024;
const SHARD_BITS: u32 = 6;
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
    #[inline]
    fn shard(&self) -> usize {
        (self.candidate().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SHARD_BITS)) as usize
    }
}

/// Addresses by dense id, shared by the workers: each distinct address of a dictionary (or
/// string column) is interned once, so that conversation keys carry 32-bit ids.
#[derive(Default)]
struct Interner {
    inner: Mutex<(AHashMap<u128, u32>, Vec<u128>)>,
}

impl Interner {
    fn ids(&self, codes: &[u128], out: &mut Vec<u32>) {
        out.clear();
        // A poisoned lock means a worker panicked; the scan's result is lost anyway.
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, addrs) = &mut *g;
        for &c in codes {
            let next = addrs.len() as u32;
            let id = *map.entry(c).or_insert(next);
            if id == next {
                addrs.push(c);
            }
            out.push(id);
        }
    }

    fn into_addrs(self) -> Vec<IpAddr> {
        let (_, addrs) = self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        addrs.into_iter().map(code_addr).collect()
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

/// IPv4 as the IPv4-mapped IPv6 value, so that one integer type holds both.
pub fn addr_code(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address back from [`addr_code`] (an IPv4-mapped IPv6 address reads as IPv4).
pub fn code_addr(code: u128) -> IpAddr {
    Ipv6Addr::from(code).to_canonical()
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
    pub conversations: u64,
    pub candidates: u64,
}

/// Every candidate of every rule (servers or not) and the ambiguous pairs.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub candidates: Vec<Candidate>,
    pub ambiguous: Vec<Ambiguous>,
    pub stats: EvalStats,
}

/// A worker's partial conversations.
struct State {
    shards: Vec<AHashMap<ConvKey, Conv>>,
    rows: u64,
}

impl State {
    fn new() -> Self {
        State { shards: (0..SHARDS).map(|_| AHashMap::new()).collect(), rows: 0 }
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

/// Address codes of one column for one worker: parsed once per distinct dictionary value (the
/// Parquet reader hands out the same values array for every batch of a dictionary-encoded column
/// chunk), or once per distinct string for plain columns.
#[derive(Default)]
struct AddrColumn {
    values: Option<ArrayRef>,
    codes: Vec<u32>,
    /// Whether each dictionary value is inside the `--local` networks.
    local: Vec<bool>,
    plain: AHashMap<Box<str>, (u32, bool)>,
    parsed: Vec<u128>,
    one: Vec<u32>,
}

impl AddrColumn {
    /// Fills `out` with each row's address id and `local` with whether it is a `--local` address.
    #[allow(clippy::too_many_arguments)]
    fn codes(
        &mut self,
        col: &ArrayRef,
        path: &Path,
        name: &str,
        interner: &Interner,
        filter: &HostFilter,
        out: &mut Vec<u32>,
        local: &mut Vec<bool>,
    ) -> Result<()> {
        out.clear();
        local.clear();
        let parse = |s: &str| -> Result<u128> {
            s.trim()
                .parse::<IpAddr>()
                .map(addr_code)
                .map_err(|_| input_err(path, format!("column '{name}': '{s}' is not an IP address")))
        };
        if let Some(dict) = col.as_dictionary_opt::<Int32Type>() {
            let values = dict.values();
            if !self.values.as_ref().is_some_and(|v| std::sync::Arc::ptr_eq(v, values)) {
                let strings = values
                    .as_string_opt::<i32>()
                    .ok_or_else(|| input_err(path, format!("column '{name}' holds {}", values.data_type())))?;
                self.parsed.clear();
                for i in 0..strings.len() {
                    // A null dictionary value is never referenced by a valid key.
                    self.parsed.push(if strings.is_null(i) { 0 } else { parse(strings.value(i))? });
                }
                interner.ids(&self.parsed, &mut self.codes);
                self.local.clear();
                self.local.extend(self.parsed.iter().map(|&c| filter.contains(code_addr(c))));
                self.values = Some(values.clone());
            }
            for k in dict.keys().iter() {
                match k.map(|k| k as usize).filter(|&k| k < self.codes.len()) {
                    Some(k) => {
                        out.push(self.codes[k]);
                        local.push(self.local[k]);
                    }
                    None => return Err(input_err(path, format!("column '{name}': a null address"))),
                }
            }
            return Ok(());
        }
        let strings = col.as_string_opt::<i32>().ok_or_else(|| {
            input_err(path, format!("column '{name}' is {}; the flows schema stores it as Utf8", col.data_type()))
        })?;
        for v in strings.iter() {
            let Some(s) = v else { return Err(input_err(path, format!("column '{name}': a null address"))) };
            let (c, l) = match self.plain.get(s) {
                Some(&c) => c,
                None => {
                    let code = parse(s)?;
                    interner.ids(&[code], &mut self.one);
                    let c = (self.one[0], filter.contains(code_addr(code)));
                    self.plain.insert(s.into(), c);
                    c
                }
            };
            out.push(c);
            local.push(l);
        }
        Ok(())
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
    state.rows += n as u64;
    caches.stime = cols.stime;
    caches.etime = cols.etime;
    caches.scode = scode;
    caches.dcode = dcode;
    Ok(())
}

/// Reads the flows files and evaluates the rules, on the current rayon pool.
/// `filter`: the `--local` networks (conversations of servers outside them are not kept, except
/// under rules with symmetric conversations).
pub fn evaluate(
    files: &[PathBuf],
    rules: &Rules,
    select: &Selection,
    opts: &EvalOptions,
    filter: &HostFilter,
) -> Result<Evaluation> {
    // `side`, `flags`, the counters and the times are optional: read those each file has.
    let optional: Vec<&str> = COLUMNS.iter().copied().filter(|c| !REQUIRED.contains(c)).collect();
    let sources: Vec<scan::FlowSource> =
        files.par_iter().map(|p| scan::open_flows(p, &REQUIRED, &optional, true, select)).collect::<Result<_>>()?;
    let units: Vec<(usize, usize)> =
        sources.iter().enumerate().flat_map(|(i, s)| s.row_groups().iter().map(move |&rg| (i, rg))).collect();
    let pool: Mutex<Vec<State>> = Mutex::new(Vec::new());
    let interner = Interner::default();
    units.par_iter().try_for_each(|&(i, rg)| -> Result<()> {
        let src = &sources[i];
        let mut state = pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_else(State::new);
        let mut caches = Caches::default();
        let result = (|| {
            for batch in src.read_row_group(rg, BATCH_ROWS)? {
                eval_batch(&batch?, &interner, filter, rules, opts, &mut caches, &mut state, src.path())?;
            }
            Ok(())
        })();
        if let Ok(mut p) = pool.lock() {
            p.push(state);
        }
        result
    })?;
    let states = pool.into_inner().unwrap_or_default();
    let rows = states.iter().map(|s| s.rows).sum();
    let mut shards: Vec<Vec<AHashMap<ConvKey, Conv>>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for s in states {
        for (i, m) in s.shards.into_iter().enumerate() {
            shards[i].push(m);
        }
    }
    // Merge each shard and sort its conversations by candidate, then client.
    let shards: Vec<Vec<(ConvKey, Conv)>> = shards
        .into_par_iter()
        .map(|maps| {
            let mut maps = maps.into_iter();
            let mut acc = maps.next().unwrap_or_default();
            for m in maps {
                for (k, v) in m {
                    acc.entry(k).and_modify(|c| c.merge(&v)).or_insert(v);
                }
            }
            let mut v: Vec<(ConvKey, Conv)> = acc.into_iter().collect();
            v.sort_unstable_by_key(|(k, _)| *k);
            v
        })
        .collect();
    let conversations = shards.iter().map(|s| s.len() as u64).sum();
    let addrs = interner.into_addrs();
    let mut ev = decide(&shards, rules, &addrs);
    ev.stats = EvalStats {
        files: files.len(),
        row_groups: units.len(),
        rows,
        conversations,
        candidates: ev.candidates.len() as u64,
    };
    Ok(ev)
}

/// Control pairs of one rule: `(server, client)` → the interval of their control traffic.
type ControlPairs = AHashMap<(u8, u32, u32), (i64, i64)>;

/// Sections 4, 5 and 7 of docs/servers.md over the merged, sorted conversations.
fn decide(shards: &[Vec<(ConvKey, Conv)>], rules: &Rules, addrs: &[IpAddr]) -> Evaluation {
    let tied = |r: u8| rules.rules[r as usize].tie;
    let controls: AHashSet<u8> = rules.rules.iter().filter_map(|r| r.tie.map(|t| t as u8)).collect();
    // Pass 1: untied rules.
    let first: Vec<(Vec<Candidate>, ControlPairs)> = shards
        .par_iter()
        .map(|convs| {
            let mut out = Vec::new();
            let mut pairs = ControlPairs::new();
            for run in candidate_runs(convs) {
                let key = run[0].0;
                if tied(key.rule()).is_some() {
                    continue;
                }
                let rule = &rules.rules[key.rule() as usize];
                let cand = candidate(run, rule, addrs, |_| true);
                if cand.is_server && controls.contains(&key.rule()) {
                    for (k, c) in run.iter().filter(|(_, c)| answered(c, rule)) {
                        let e = pairs.entry((k.rule(), k.server(), k.client())).or_insert((i64::MAX, i64::MIN));
                        e.0 = e.0.min(c.first);
                        e.1 = e.1.max(c.last);
                    }
                }
                out.push(cand);
            }
            (out, pairs)
        })
        .collect();
    let mut candidates = Vec::new();
    let mut pairs = ControlPairs::new();
    for (c, p) in first {
        candidates.extend(c);
        pairs.extend(p);
    }
    // Pass 2: rules tied to a control rule.
    let second: Vec<Vec<Candidate>> = shards
        .par_iter()
        .map(|convs| {
            let mut out = Vec::new();
            for run in candidate_runs(convs) {
                let key = run[0].0;
                let Some(t) = tied(key.rule()) else { continue };
                let rule = &rules.rules[key.rule() as usize];
                let keep = |(k, c): &(ConvKey, Conv)| {
                    pairs.get(&(t as u8, k.server(), k.client())).is_some_and(|&(f, l)| {
                        c.first <= l.saturating_add(rule.tie_slack_us) && c.last >= f.saturating_sub(rule.tie_slack_us)
                    })
                };
                let cand = candidate(run, rule, addrs, keep);
                if cand.clients > 0 {
                    out.push(cand);
                }
            }
            out
        })
        .collect();
    candidates.extend(second.into_iter().flatten());
    let servers: AHashSet<(usize, u8, IpAddr, u16)> =
        candidates.iter().filter(|c| c.is_server).map(|c| (c.rule, c.proto, c.server, c.port)).collect();
    // Section 7: symmetric answered conversations whose two ends are both not servers.
    let mut amb: AHashMap<(usize, u8, u16, IpAddr, IpAddr), Ambiguous> = AHashMap::new();
    for convs in shards {
        for (k, c) in convs {
            let rule = &rules.rules[k.rule() as usize];
            if rule.tie.is_some() || k.cport() != k.port() || !answered(c, rule) {
                continue;
            }
            let (s, cl) = (addrs[k.server() as usize], addrs[k.client() as usize]);
            let (r, proto, port) = (k.rule() as usize, k.proto(), k.port());
            if servers.contains(&(r, proto, s, port)) || servers.contains(&(r, proto, cl, port)) {
                continue;
            }
            let (a, b) = if s <= cl { (s, cl) } else { (cl, s) };
            let e = amb.entry((r, proto, port, a, b)).or_insert(Ambiguous {
                rule: r,
                proto,
                port,
                a,
                b,
                flows: 0,
                first: None,
                last: None,
            });
            // Each exchange appears under both orientations: count its flows once, from the lower end.
            if s == a {
                e.flows += c.req_flows + c.rep_flows;
            }
            e.first = opt_min(e.first, c.first);
            e.last = opt_max(e.last, c.last);
        }
    }
    let mut ambiguous: Vec<Ambiguous> = amb.into_values().collect();
    ambiguous.sort_by_key(|x| (x.a, x.b, x.port, x.proto, x.rule));
    Evaluation { candidates, ambiguous, stats: EvalStats::default() }
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
    let k0 = run[0].0;
    let mut cand = Candidate {
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
    let mut cports: Vec<u16> = Vec::new();
    for client in run.chunk_by(|a, b| a.0.client() == b.0.client()) {
        let (mut any, mut strong, mut orig) = (false, false, false);
        for kc in client {
            let (k, c) = kc;
            if !answered(c, rule) || !keep(kc) {
                continue;
            }
            any = true;
            strong |= k.cport() != k.port() || c.orig > 0;
            orig |= c.orig > 0;
            cports.push(k.cport());
            cand.synack += c.synack;
            cand.flows_in += c.req_flows;
            cand.packets_in = cand.packets_in.wrapping_add(c.req_packets);
            cand.bytes_in = cand.bytes_in.wrapping_add(c.req_bytes);
            cand.flows_out += c.rep_flows;
            cand.packets_out = cand.packets_out.wrapping_add(c.rep_packets);
            cand.bytes_out = cand.bytes_out.wrapping_add(c.rep_bytes);
            cand.first = opt_min(cand.first, c.first);
            cand.last = opt_max(cand.last, c.last);
        }
        cand.clients += any as u64;
        cand.strong += strong as u64;
        cand.originated += orig as u64;
    }
    cports.sort_unstable();
    cports.dedup();
    cand.client_ports = cports.len() as u64;
    let min = rule.min_clients as u64;
    cand.is_server = cand.clients >= 1
        && if rule.tie.is_some() {
            cand.clients >= min
        } else {
            cand.strong >= min || cand.originated >= 1 || cand.clients >= min.max(rule.symmetric_min_clients as u64)
        };
    cand
}

#[cfg(test)]
mod tests {
    use super::*;

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
