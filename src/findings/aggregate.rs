//! The findings consumer of a scan: every flow is added, from the point of view of each of its
//! two ends that can be a candidate, to a per-worker map of *host conversations*
//! `(host, peer, host port, peer port, proto)` sharded by a hash of the host. Keys and values
//! are plain integers, written to a spill file as varint records ([`Conv::encode`]).
//! It is a [`Worker`] of the shared scan ([`crate::aggregate`]): past the memory budget a worker
//! writes its shards to a spill run, each sorted by key. [`Findings::for_each_conv`] merges
//! shard `i` of every worker and of every run as a stream (a k-way merge of sorted sources),
//! handing [`super::decide_all`] the conversations in key order, host after host, which
//! [`super::decide::Decider`] folds as they come; one shard per thread at a time.

use std::net::IpAddr;
use std::path::Path;

use crate::aggregate::addrs::{AddrColumn, Interner};
use crate::aggregate::memory::table_bytes;
use crate::aggregate::merge;
use crate::aggregate::spill::{put_record, put_time_pair, put_varint, Fields};
use crate::aggregate::{Columns, Memory, Spill, Worker};

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
use arrow_array::{Array, BooleanArray, RecordBatch, Scalar, StringArray, UInt16Array, UInt8Array};
use arrow_buffer::BooleanBuffer;
use arrow_ord::cmp;

use super::rules::FindingRules;
use crate::error::{Error, Result};
use crate::ingest::bidir::{ORIG, RESP, SIDE};
use crate::ports::HostFilter;
use crate::schema::{BYTES, DIP, DPORT, ETIME, FLAGS, PACKETS, PROTO, SIP, SPORT, STIME};

const SHARD_BITS: u32 = 6;
/// Shards per worker state (by host hash).
pub const SHARDS: usize = 1 << SHARD_BITS;

/// The columns the findings read.
pub fn columns() -> Columns {
    let optional: Vec<&'static str> = COLUMNS.iter().copied().filter(|c| !REQUIRED.contains(c)).collect();
    Columns::new(&REQUIRED, &optional)
}

/// The columns the findings read; all but the addresses, ports and proto are optional.
pub const COLUMNS: [&str; 11] = [SIP, DIP, SPORT, DPORT, PROTO, PACKETS, BYTES, STIME, ETIME, SIDE, FLAGS];
pub const REQUIRED: [&str; 5] = [SIP, DIP, SPORT, DPORT, PROTO];

/// A host conversation packed into one integer: host id (32 bits), peer id (32), host port
/// (16), peer port (16), proto (8). Sorting keys groups a host's conversations by peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub u128);

impl Key {
    #[inline]
    pub fn new(host: u32, peer: u32, hport: u16, pport: u16, proto: u8) -> Self {
        Key((host as u128) << 72 | (peer as u128) << 40 | (hport as u128) << 24 | (pport as u128) << 8 | proto as u128)
    }
    pub fn host(&self) -> u32 {
        (self.0 >> 72) as u32
    }
    pub fn peer(&self) -> u32 {
        (self.0 >> 40) as u32
    }
    pub fn hport(&self) -> u16 {
        (self.0 >> 24) as u16
    }
    pub fn pport(&self) -> u16 {
        (self.0 >> 8) as u16
    }
    pub fn proto(&self) -> u8 {
        self.0 as u8
    }
    #[inline]
    fn shard(host: u32) -> usize {
        ((host as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SHARD_BITS)) as usize
    }
}

/// What one direction of a conversation carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Half {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Earliest start, microseconds (`i64::MAX`: no flow or no time).
    pub first: i64,
    /// Latest end (`i64::MIN`: none).
    pub last: i64,
}

impl Default for Half {
    fn default() -> Self {
        Half { flows: 0, packets: 0, bytes: 0, first: i64::MAX, last: i64::MIN }
    }
}

impl Half {
    fn merge(&mut self, o: &Half) {
        self.flows += o.flows;
        self.packets = self.packets.wrapping_add(o.packets);
        self.bytes = self.bytes.wrapping_add(o.bytes);
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
    }
}

/// Evidence bits of a conversation, per direction (`OUT_*`: sent by the host).
pub mod bits {
    /// A flow's TCP flags held SYN without ACK (an opening).
    pub const OUT_SYN: u16 = 1;
    pub const IN_SYN: u16 = 2;
    /// The input's `side` said the sender originated the connection.
    pub const OUT_ORIG: u16 = 4;
    pub const IN_ORIG: u16 = 8;
    /// The input's `side` said the sender answered.
    pub const OUT_RESP: u16 = 16;
    pub const IN_RESP: u16 = 32;
    /// An ICMP echo request (or another request with a reply of its own: [`super::icmp_pair`]).
    pub const OUT_ECHO: u16 = 64;
    pub const IN_ECHO: u16 = 128;
    /// An ICMP error (unreachable, time exceeded…): an answer to something else, never an attempt.
    pub const ICMP_ERROR: u16 = 256;
    /// A flow's flags held RST.
    pub const OUT_RST: u16 = 512;
    pub const IN_RST: u16 = 1024;
}

/// Both directions of a host conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conv {
    pub out: Half,
    pub inn: Half,
    pub bits: u16,
}

impl Half {
    /// One byte for a half that carried nothing (many conversations were seen one way only);
    /// else the counters as varints and the times as a pair.
    fn encode(&self, buf: &mut Vec<u8>) {
        if *self == Half::default() {
            buf.push(0);
            return;
        }
        buf.push(1);
        put_varint(buf, self.flows);
        put_varint(buf, self.packets);
        put_varint(buf, self.bytes);
        put_time_pair(buf, self.first, self.last);
    }
    fn decode(f: &mut Fields<'_>) -> Half {
        let present = f.0.first().is_some_and(|&b| b != 0);
        f.0 = f.0.get(1..).unwrap_or_default();
        if !present {
            return Half::default();
        }
        let (flows, packets, bytes) = (f.varint(), f.varint(), f.varint());
        let (first, last) = f.time_pair();
        Half { flows, packets, bytes, first, last }
    }
}

impl Conv {
    /// A spill record ([`put_record`]): the key, the bits, the two halves; about 30 bytes for a
    /// one-flow conversation, against 98 fixed-width.
    fn encode(&self, key: Key, buf: &mut Vec<u8>) {
        put_record(buf, |b| {
            b.extend_from_slice(&key.0.to_le_bytes());
            put_varint(b, self.bits as u64);
            self.out.encode(b);
            self.inn.encode(b);
        });
    }

    fn decode(rec: &[u8]) -> (Key, Conv) {
        let mut f = Fields(rec);
        let key = Key(f.u128());
        let bits = f.varint() as u16;
        let out = Half::decode(&mut f);
        let inn = Half::decode(&mut f);
        (key, Conv { out, inn, bits })
    }

    fn merge(&mut self, o: &Conv) {
        self.out.merge(&o.out);
        self.inn.merge(&o.inn);
        self.bits |= o.bits;
    }
}

/// A worker's partial state: host conversations by host shard.
pub struct State {
    pub shards: Vec<AHashMap<Key, Conv>>,
    caches: Caches,
}

impl State {
    /// Approximate heap bytes held (hash tables as allocated: every bucket, entry and control byte).
    pub fn size(&self) -> usize {
        let entry = std::mem::size_of::<(Key, Conv)>();
        self.shards.iter().map(|m| table_bytes(m.capacity(), entry)).sum::<usize>() + self.caches.size()
    }
}

fn input_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::input(path.display().to_string(), reason)
}

#[derive(Default)]
struct Caches {
    sip: AddrColumn,
    dip: AddrColumn,
    sid: Vec<u32>,
    did: Vec<u32>,
    slocal: Vec<bool>,
    dlocal: Vec<bool>,
}

impl Caches {
    fn size(&self) -> usize {
        self.sip.held_bytes()
            + self.dip.held_bytes()
            + (self.sid.capacity() + self.did.capacity()) * 4
            + self.slocal.capacity() * 2
    }
}

/// The findings consumer: the rules and `--local` networks, and the address ids shared by the
/// workers.
pub struct Findings {
    pub rules: FindingRules,
    pub filter: HostFilter,
    interner: Interner,
    spill: Spill,
}

/// One thread's part of a [`Findings`] aggregation.
pub struct FindingsWorker<'a> {
    f: &'a Findings,
    state: State,
}

impl Worker for FindingsWorker<'_> {
    fn add_batch(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        self.f.add_batch(batch, path, &mut self.state)
    }

    fn end_unit(&mut self) {
        self.state.caches = Caches::default();
    }

    fn held_bytes(&self) -> usize {
        self.state.size()
    }

    fn spill(&mut self) -> Result<()> {
        let shards = &self.state.shards;
        // Each shard sorted by key, for the streaming merge (`Findings::for_each_conv`).
        self.f.spill.write_run(|i, buf| {
            let mut v: Vec<(&Key, &Conv)> = shards[i].iter().collect();
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

/// What the workers left in memory, by shard (the rows read are the scan's).
pub struct Partials {
    pub shards: Vec<Vec<AHashMap<Key, Conv>>>,
}

fn port_col(batch: &RecordBatch, name: &str, path: &Path) -> Result<UInt16Array> {
    let col =
        batch.column_by_name(name).ok_or_else(|| input_err(path, format!("no column '{name}': not a flows file")))?;
    let a = col.as_primitive_opt::<UInt16Type>().ok_or_else(|| {
        input_err(path, format!("column '{name}' is {}; the flows schema stores it as UInt16", col.data_type()))
    })?;
    Ok(if a.null_count() == 0 { a.clone() } else { a.iter().map(|v| v.unwrap_or(0)).collect() })
}

fn counter_col(batch: &RecordBatch, name: &str, path: &Path) -> Result<Option<arrow_array::Int64Array>> {
    match batch.column_by_name(name) {
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
}

fn truthy(a: &BooleanArray) -> BooleanBuffer {
    match a.nulls() {
        Some(n) => a.values() & n.inner(),
        None => a.values().clone(),
    }
}

fn u8_eq(col: &UInt8Array, v: u8) -> Result<BooleanBuffer> {
    Ok(truthy(&cmp::eq(col, &Scalar::new(UInt8Array::from(vec![v])))?))
}

impl Findings {
    pub fn new(rules: FindingRules, filter: HostFilter, memory: &Memory) -> Self {
        Findings { rules, filter, interner: Interner::default(), spill: Spill::new("findings", SHARDS, memory) }
    }

    pub fn worker(&self) -> FindingsWorker<'_> {
        FindingsWorker { f: self, state: self.new_state() }
    }

    /// Takes the workers' states apart by shard.
    pub fn partials(workers: Vec<FindingsWorker<'_>>) -> Partials {
        let mut shards: Vec<Vec<AHashMap<Key, Conv>>> = (0..SHARDS).map(|_| Vec::new()).collect();
        for w in workers {
            for (i, m) in w.state.shards.into_iter().enumerate() {
                if !m.is_empty() {
                    shards[i].push(m);
                }
            }
        }
        Partials { shards }
    }

    /// Every address by id.
    pub fn addrs(&self) -> Vec<IpAddr> {
        self.interner.addrs()
    }

    /// Runs written to spill files, and their bytes.
    pub fn spilled(&self) -> (u64, u64) {
        (self.spill.runs() as u64, self.spill.bytes())
    }

    /// Calls `f` with each conversation of shard `i` in key order (so host by host, and by peer
    /// within a host), merged from the workers' `maps` and the spill runs (each sorted) as they
    /// stream by: only a read buffer per run is held, not the shard nor a host. The count of
    /// conversations.
    pub fn for_each_conv(
        &self,
        i: usize,
        maps: Vec<AHashMap<Key, Conv>>,
        mut f: impl FnMut(Key, &Conv),
    ) -> Result<u64> {
        let mut merged = merge::shard(maps, &self.spill, i, Conv::decode)?;
        let mut n = 0u64;
        while let Some((k, c)) = merged.next(|a, b| a.merge(&b))? {
            n += 1;
            f(k, &c);
        }
        Ok(n)
    }

    pub fn new_state(&self) -> State {
        State { shards: (0..SHARDS).map(|_| AHashMap::new()).collect(), caches: Caches::default() }
    }

    /// Adds one batch (already filtered by the selection). A flow counts for each end that is
    /// a candidate: with `--local`, both ends of a flow that has a local end (the outside end is
    /// a possible scanner of local addresses); without it, both ends of every flow.
    pub fn add_batch(&self, batch: &RecordBatch, path: &Path, state: &mut State) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let col = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| input_err(path, format!("no column '{name}': not a flows file")))
        };
        let c = &mut state.caches;
        c.sip.codes(col(SIP)?, path, SIP, &self.interner, &self.filter, &mut c.sid, &mut c.slocal)?;
        c.dip.codes(col(DIP)?, path, DIP, &self.interner, &self.filter, &mut c.did, &mut c.dlocal)?;
        let sport = port_col(batch, SPORT, path)?;
        let dport = port_col(batch, DPORT, path)?;
        let proto = col(PROTO)?
            .as_primitive_opt::<UInt8Type>()
            .ok_or_else(|| input_err(path, "column 'proto' is not UInt8: not a flows file"))?
            .clone();
        // A null protocol counts as 0, as a null port does (a null slot's value is unspecified).
        let proto = if proto.null_count() == 0 { proto } else { proto.iter().map(|v| v.unwrap_or(0)).collect() };
        let packets = counter_col(batch, PACKETS, path)?;
        let bytes = counter_col(batch, BYTES, path)?;
        // Masks as kernels over the whole batch: which rows count, and which are ICMP.
        let keep = if self.filter.is_everything() {
            BooleanBuffer::new_set(n)
        } else {
            &BooleanBuffer::from(c.slocal.as_slice()) | &BooleanBuffer::from(c.dlocal.as_slice())
        };
        let icmp = &u8_eq(&proto, 1)? | &u8_eq(&proto, 58)?;
        let tcp = u8_eq(&proto, 6)?;
        let times =
            |name: &str| batch.column_by_name(name).and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>());
        let (stime, etime) = (times(STIME), times(ETIME));
        let side = batch.column_by_name(SIDE).and_then(|c| c.as_string_opt::<i32>()).map(|s| -> Result<_> {
            Ok((
                truthy(&cmp::eq(s, &Scalar::new(StringArray::from(vec![ORIG])))?),
                truthy(&cmp::eq(s, &Scalar::new(StringArray::from(vec![RESP])))?),
            ))
        });
        let side = side.transpose()?;
        let flags = batch.column_by_name(FLAGS).and_then(|c| c.as_string_opt::<i32>());
        let counter = |a: &Option<arrow_array::Int64Array>, i: usize| match a {
            Some(a) if a.is_valid(i) => a.value(i).max(0) as u64,
            _ => 0,
        };
        for i in keep.set_indices() {
            let (s, d) = (c.sid[i], c.did[i]);
            let p = proto.value(i);
            let (mut sp, mut dp) = (sport.value(i), dport.value(i));
            let mut bits_s = 0u16; // bits as the source sees them (OUT_* = sent by the source)
            if icmp.value(i) {
                // ICMP: dport is type*256+code. Echo request and reply are one conversation
                // (ports 0/0); errors are answers to something else.
                let ty = (dp >> 8) as u8;
                let (echo_req, echo_rep, error) = if p == 1 {
                    (ty == 8, ty == 0, matches!(ty, 3 | 4 | 5 | 11 | 12))
                } else {
                    (ty == 128, ty == 129, matches!(ty, 1..=4))
                };
                if echo_req || echo_rep {
                    sp = 0;
                    dp = 0;
                    if echo_req {
                        bits_s |= bits::OUT_ECHO;
                    }
                } else if let Some((request, asks)) = icmp_pair(p, ty) {
                    // The other requests and their replies: one conversation on the request's
                    // type, both ways (an IPv6 neighbour solicitation and its advertisement).
                    sp = u16::from(request) << 8;
                    dp = sp;
                    if asks {
                        bits_s |= bits::OUT_ECHO;
                    }
                } else {
                    sp = 0;
                    if error {
                        bits_s |= bits::ICMP_ERROR;
                    }
                }
            }
            if let Some((o, r)) = &side {
                if o.value(i) {
                    bits_s |= bits::OUT_ORIG;
                } else if r.value(i) {
                    bits_s |= bits::OUT_RESP;
                }
            }
            if tcp.value(i) {
                if let Some(f) = flags.filter(|f| f.is_valid(i)) {
                    let v = f.value(i).as_bytes();
                    if v.contains(&b'S') && !v.contains(&b'A') {
                        bits_s |= bits::OUT_SYN;
                    }
                    if v.contains(&b'R') {
                        bits_s |= bits::OUT_RST;
                    }
                }
            }
            let first = stime.filter(|a| a.is_valid(i)).map_or(i64::MAX, |a| a.value(i));
            let last = match etime.filter(|a| a.is_valid(i)) {
                Some(a) => a.value(i),
                None if first == i64::MAX => i64::MIN,
                None => first,
            };
            let half = Half { flows: 1, packets: counter(&packets, i), bytes: counter(&bytes, i), first, last };
            // The source's view: sent. The destination's view: received (bits swapped).
            let ks = Key::new(s, d, sp, dp, p);
            let e = state.shards[Key::shard(s)].entry(ks).or_default();
            e.out.merge(&half);
            e.bits |= bits_s;
            let kd = Key::new(d, s, dp, sp, p);
            let e = state.shards[Key::shard(d)].entry(kd).or_default();
            e.inn.merge(&half);
            e.bits |= swap(bits_s);
        }
        Ok(())
    }
}

/// ICMP requests answered by a reply of their own, besides echo, as `(proto, request type,
/// reply type)`: v4 timestamp, information and address mask; v6 neighbour solicitation and
/// advertisement, and node information. The SQL reports read the same table.
pub const ICMP_PAIRS: [(u8, u8, u8); 5] = [(1, 13, 14), (1, 15, 16), (1, 17, 18), (58, 135, 136), (58, 139, 140)];

/// The pair of [`ICMP_PAIRS`] that type `ty` belongs to: `(request type, is the request)`.
pub fn icmp_pair(proto: u8, ty: u8) -> Option<(u8, bool)> {
    ICMP_PAIRS.iter().find(|&&(p, q, r)| p == proto && (ty == q || ty == r)).map(|&(_, q, _)| (q, ty == q))
}

/// The bits as the other end sees them.
fn swap(b: u16) -> u16 {
    let pairs = [
        (bits::OUT_SYN, bits::IN_SYN),
        (bits::OUT_ORIG, bits::IN_ORIG),
        (bits::OUT_RESP, bits::IN_RESP),
        (bits::OUT_ECHO, bits::IN_ECHO),
        (bits::OUT_RST, bits::IN_RST),
    ];
    let mut out = b & bits::ICMP_ERROR;
    for (o, i) in pairs {
        if b & o != 0 {
            out |= i;
        }
        if b & i != 0 {
            out |= o;
        }
    }
    out
}

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub files: usize,
    pub row_groups: usize,
    pub rows: u64,
    /// Rows without IP addresses (layer-2 records), skipped.
    pub no_address: u64,
    pub conversations: u64,
    /// Runs written to spill files, and their bytes.
    pub spills: u64,
    pub spilled_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip() {
        let k = Key::new(u32::MAX - 1, 7, 65535, 1, 17);
        assert_eq!((k.host(), k.peer(), k.hport(), k.pport(), k.proto()), (u32::MAX - 1, 7, 65535, 1, 17));
        assert!(Key::new(1, 9, 0, 0, 0) < Key::new(2, 0, 0, 0, 0));
    }

    #[test]
    fn spill_records_read_back_exactly() {
        let half = Half { flows: 1, packets: 3, bytes: 180, first: 1_700_000_000_000_000, last: 1_700_000_000_400_000 };
        let odd = Half { flows: u64::MAX, packets: 0, bytes: u64::MAX, first: i64::MAX, last: i64::MIN };
        let convs = [
            (Key::new(1, 2, 80, 40000, 6), Conv { out: half, inn: Half::default(), bits: bits::OUT_SYN }),
            (Key::new(u32::MAX, 0, 0, 0, 1), Conv { out: Half::default(), inn: half, bits: u16::MAX }),
            (Key::new(7, 7, 65535, 65535, 255), Conv { out: odd, inn: half, bits: 0 }),
            (Key::new(0, 0, 0, 0, 0), Conv::default()),
        ];
        let (first, read) = crate::aggregate::spill::round_trip(&convs, Conv::encode, Conv::decode);
        assert!(first < 40, "a one-flow conversation's record is {first} bytes");
        assert_eq!(read, convs);
    }

    #[test]
    fn icmp_requests_pair_with_their_replies() {
        assert_eq!((icmp_pair(58, 135), icmp_pair(58, 136)), (Some((135, true)), Some((135, false))));
        assert_eq!((icmp_pair(1, 13), icmp_pair(1, 14)), (Some((13, true)), Some((13, false))));
        assert_eq!((icmp_pair(1, 18), icmp_pair(58, 140)), (Some((17, false)), Some((139, false))));
        // Echo has its own path; errors and unpaired types are none.
        for (p, t) in [(1, 8), (1, 0), (1, 3), (58, 128), (58, 1), (58, 133), (1, 135), (58, 13)] {
            assert_eq!(icmp_pair(p, t), None, "{p} {t}");
        }
    }

    #[test]
    fn swapped_bits_read_from_the_other_end() {
        let b = bits::OUT_SYN | bits::IN_RST | bits::ICMP_ERROR;
        assert_eq!(swap(b), bits::IN_SYN | bits::OUT_RST | bits::ICMP_ERROR);
        assert_eq!(swap(swap(b)), b);
    }
}
