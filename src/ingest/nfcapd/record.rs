//! nfdump's V3 flow records → flow rows, as `nfdump -o csv` and the CSV path make them.
//!
//! A V3 record is a 12-byte header and a list of extension elements, each with its own type and
//! length; a record carries only the elements its exporter filled. Core columns come from the
//! generic flow element (times in milliseconds, counters, ports, protocol, TCP flags) and the
//! IPv4 or IPv6 address element; a record with output counters (element 5: NSEL, bidirectional
//! IPFIX) also gives a responder row, `side` telling the two apart, as in `nfdump.rs`.
//!
//! Extra columns have fixed names, so every nfcapd file gives the same schema: first the names
//! of nfdump 1.7.1's classic `-o csv` (`fwd`, `stos`, `in`, `out`, `sas`, … `tr`), with the same
//! text for the same value, so that a store mixing converted CSV and converted nfcapd files reads
//! as one table; then, for elements the classic CSV does not print, nfdump 1.7.5+'s element
//! names (`flows`, `nextAS`, NSEL/NAT's `eventTime`, `srcXIP`, …). A column whose element the
//! record does not carry is null (the classic CSV prints 0 there), so "not exported" and "0"
//! stay apart. Element layouts (ids 1–25, 36) are the same in nfdump 1.7.1 and 1.7.8 except
//! where handled below; ids whose meaning changed between them (34, 35) and ones this reader
//! does not know are passed over.

use std::io::Write;
use std::net::Ipv6Addr;

use super::super::batch::{BatchBuilder, Flow};
use super::super::bidir;
use super::super::fields::{civil_from_days, IpText};
use super::super::records::{Damage, Decoded, RawBlock};

/// Record types that are not flows: exporter and sampler descriptions, NBAR, interface and VRF
/// names. They are skipped, as `nfdump -o csv` skips them.
const METADATA_RECORDS: [u16; 7] = [7, 8, 9, 12, 13, 14, 15];
/// A V3 flow record.
const V3_RECORD: u16 = 11;
/// Bytes of a V3 record header.
const V3_HEADER: usize = 12;
/// Element ids this reader decodes are below this.
const ELEMENTS: usize = 37;

/// The extra columns, in output order. The first 35 are the classic `-o csv` names.
pub const EXTRAS: [&str; 53] = [
    bidir::SIDE,
    "fwd",
    "stos",
    "in",
    "out",
    "sas",
    "das",
    "smk",
    "dmk",
    "dtos",
    "dir",
    "nh",
    "nhb",
    "svln",
    "dvln",
    "ismc",
    "odmc",
    "idmc",
    "osmc",
    "mpls1",
    "mpls2",
    "mpls3",
    "mpls4",
    "mpls5",
    "mpls6",
    "mpls7",
    "mpls8",
    "mpls9",
    "mpls10",
    "cl",
    "sl",
    "al",
    "ra",
    "eng",
    "exid",
    "tr",
    "flows",
    "nextAS",
    "prevAS",
    "biDirection",
    "endReason",
    "eventTime",
    "event",
    "xEvent",
    "connectionID",
    "srcXIP",
    "dstXIP",
    "srcXPort",
    "dstXPort",
    "nselUser",
    "natPoolID",
    "ingressVrfID",
    "egressVrfID",
];

const SIDE: usize = 0;
const FWD: usize = 1;
const STOS: usize = 2;
const IN: usize = 3;
const OUT: usize = 4;
const SAS: usize = 5;
const DAS: usize = 6;
const SMK: usize = 7;
const DMK: usize = 8;
const DTOS: usize = 9;
const DIR: usize = 10;
const NH: usize = 11;
const NHB: usize = 12;
const SVLN: usize = 13;
const DVLN: usize = 14;
const ISMC: usize = 15;
const MPLS1: usize = 19;
const CL: usize = 29;
const RA: usize = 32;
const ENG: usize = 33;
const EXID: usize = 34;
const TR: usize = 35;
const FLOWS: usize = 36;
const NEXT_AS: usize = 37;
const PREV_AS: usize = 38;
const BIDIR: usize = 39;
const END_REASON: usize = 40;
const EVENT_TIME: usize = 41;
const EVENT: usize = 42;
const XEVENT: usize = 43;
const CONN_ID: usize = 44;
const SRC_XIP: usize = 45;
const DST_XIP: usize = 46;
const SRC_XPORT: usize = 47;
const DST_XPORT: usize = 48;
const NSEL_USER: usize = 49;
const NAT_POOL: usize = 50;
const INGRESS_VRF: usize = 51;
const EGRESS_VRF: usize = 52;

pub fn extra_names() -> Vec<String> {
    EXTRAS.iter().map(|s| s.to_string()).collect()
}

/// The extra values of one record: text in one buffer, a range per column, a bit per column set.
struct Values {
    text: Vec<u8>,
    at: [(u32, u32); EXTRAS.len()],
    set: u64,
    /// Rows of the block each column holds a value or null for.
    filled: [usize; EXTRAS.len()],
    /// The last time written by [`Self::time`] and its text: the received time repeats.
    last_time: (u64, [u8; 23]),
}

impl Values {
    fn clear(&mut self) {
        self.text.clear();
        self.set = 0;
    }

    /// Starts column `k`'s value; what is written to `text` until [`Self::end`] is its text.
    #[inline]
    fn begin(&mut self, k: usize) -> usize {
        self.set |= 1 << k;
        self.at[k].0 = self.text.len() as u32;
        k
    }

    #[inline]
    fn end(&mut self, k: usize) {
        self.at[k].1 = self.text.len() as u32;
    }

    fn num(&mut self, k: usize, v: u64) {
        let k = self.begin(k);
        put_u64(&mut self.text, v);
        self.end(k);
    }

    fn ipv4(&mut self, k: usize, v: u32) {
        let k = self.begin(k);
        put_ipv4(&mut self.text, v);
        self.end(k);
    }

    fn ipv6(&mut self, k: usize, b: &[u8]) {
        let k = self.begin(k);
        put_ipv6(&mut self.text, b);
        self.end(k);
    }

    fn time(&mut self, k: usize, msec: u64) {
        if msec != 0 {
            if self.last_time.0 != msec {
                let mut t = Vec::with_capacity(23);
                put_msec_utc(&mut t, msec);
                if let Ok(a) = <[u8; 23]>::try_from(t.as_slice()) {
                    self.last_time = (msec, a);
                } else {
                    // A year past 9999: not cached.
                    let k = self.begin(k);
                    self.text.extend_from_slice(&t);
                    self.end(k);
                    return;
                }
            }
            let k = self.begin(k);
            self.text.extend_from_slice(&self.last_time.1);
            self.end(k);
        }
    }

    fn get(&self, k: usize) -> Option<&[u8]> {
        (self.set & (1 << k) != 0).then(|| &self.text[self.at[k].0 as usize..self.at[k].1 as usize])
    }

    /// Appends the record's values to the row just pushed. Only columns with a value are
    /// touched: the nulls before it are appended then, and the rest by [`Self::finish`]
    /// (most records carry a few of the 53 columns; a null per column per row cost a quarter
    /// of the run).
    fn push(&mut self, out: &mut BatchBuilder, side: Option<&str>) {
        let row = out.rows() - 1;
        let mut set = self.set | u64::from(side.is_some()) << SIDE;
        while set != 0 {
            let k = set.trailing_zeros() as usize;
            set &= set - 1;
            out.extra_nulls(k, row - self.filled[k]);
            let value = if k == SIDE { side.map(str::as_bytes) } else { self.get(k) };
            out.extra(k, value);
            self.filled[k] = row + 1;
        }
    }

    /// Nulls up to the last row in every column.
    fn finish(&mut self, out: &mut BatchBuilder) {
        let rows = out.rows();
        for k in 0..EXTRAS.len() {
            out.extra_nulls(k, rows - self.filled[k]);
            self.filled[k] = rows;
        }
    }
}

fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn put_ipv4(out: &mut Vec<u8>, v: u32) {
    let mut buf = [0u8; 48];
    let n = crate::ingest::fields::ipv4_text(v, &mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// 16 bytes as nfdump stores them: two little-endian u64, the address's high half first.
fn ipv6_bytes(b: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..8].copy_from_slice(&u64_at(b, 0).to_be_bytes());
    a[8..].copy_from_slice(&u64_at(b, 8).to_be_bytes());
    a
}

fn put_ipv6(out: &mut Vec<u8>, b: &[u8]) {
    // RFC 5952, as the text path canonicalizes addresses.
    let _ = write!(out, "{}", Ipv6Addr::from(ipv6_bytes(b)));
}

/// `YYYY-MM-DD hh:mm:ss.mmm` in UTC (nfdump prints its local time; UTC is the one we store).
fn put_msec_utc(out: &mut Vec<u8>, msec: u64) {
    let secs = (msec / 1000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    if !(0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}", s / 3600, s / 60 % 60, s % 60, msec % 1000);
        return;
    }
    let digits = |out: &mut Vec<u8>, v: u64, width: u32| {
        for p in (0..width).rev() {
            out.push(b'0' + (v / 10u64.pow(p) % 10) as u8);
        }
    };
    digits(out, y as u64, 4);
    out.push(b'-');
    digits(out, m as u64, 2);
    out.push(b'-');
    digits(out, d as u64, 2);
    out.push(b' ');
    digits(out, (s / 3600) as u64, 2);
    out.push(b':');
    digits(out, (s / 60 % 60) as u64, 2);
    out.push(b':');
    digits(out, (s % 60) as u64, 2);
    out.push(b'.');
    digits(out, msec % 1000, 3);
}

fn ip_text(v: u32) -> IpText<'static> {
    let mut buf = [0u8; 48];
    let n = crate::ingest::fields::ipv4_text(v, &mut buf);
    IpText::Rewritten(buf, n as u8)
}

fn ip6_text(b: &[u8]) -> IpText<'static> {
    let mut buf = [0u8; 48];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{}", Ipv6Addr::from(ipv6_bytes(b)));
    let len = cur.position() as u8;
    IpText::Rewritten(buf, len)
}

#[inline]
fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
#[inline]
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
#[inline]
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// The smallest body (bytes after the 4-byte element header) of each element id this reader
/// reads; a shorter element makes its record unreadable.
fn min_body(id: usize) -> usize {
    match id {
        1 => 48,
        2 => 8,
        3 => 32,
        4 => 14,
        5 => 24,
        6 | 7 => 8,
        8 | 10 | 12 => 4,
        9 | 11 | 13 => 16,
        14 => 40,
        15 => 32,
        16 => 8,
        17 => 24,
        19 => 15,
        20 => 8,
        21 => 32,
        22 => 4,
        24 => 1,
        25 => 13,
        36 => 8,
        _ => 0,
    }
}

/// Decodes the `records` records of a decompressed type-3 block, appending rows to `out` and
/// what could not be read to `decoded`.
pub fn decode_records(data: &[u8], records: u32, block: &RawBlock, out: &mut BatchBuilder, decoded: &mut Decoded) {
    let mut values = Values {
        text: Vec::with_capacity(256),
        at: [(0, 0); EXTRAS.len()],
        set: 0,
        filled: [out.rows(); EXTRAS.len()],
        last_time: (0, [0; 23]),
    };
    decode_into(data, records, block, out, decoded, &mut values);
    values.finish(out);
}

fn decode_into(
    data: &[u8],
    records: u32,
    block: &RawBlock,
    out: &mut BatchBuilder,
    decoded: &mut Decoded,
    values: &mut Values,
) {
    let mut pos = 0usize;
    for r in 0..records {
        let damage = |reason: String, lost: u64| Damage {
            index: block.index,
            offset: block.offset,
            record: Some(u64::from(r)),
            reason,
            lost: Some(lost),
        };
        let left = u64::from(records - r);
        let Some(head) = data.get(pos..pos + 4) else {
            let reason = format!("the block's records end after {r} of the {records} its header announces");
            decoded.damage.push(damage(reason, left));
            return;
        };
        let (kind, size) = (u16_at(head, 0), u16_at(head, 2) as usize);
        let Some(rec) = data.get(pos..pos + size).filter(|_| size >= 4) else {
            let reason = format!(
                "record of {size} bytes where {} remain: the rest of the block is unreadable",
                data.len() - pos
            );
            decoded.damage.push(damage(reason, left));
            return;
        };
        pos += size;
        match kind {
            V3_RECORD => match v3(rec, out, values) {
                Ok(()) => decoded.records += 1,
                Err(reason) => decoded.damage.push(damage(reason, 1)),
            },
            k if METADATA_RECORDS.contains(&k) => {}
            k => decoded.damage.push(damage(format!("record of unknown type {k}"), 1)),
        }
    }
}

/// One V3 record → one or two rows; the reason when it cannot be read (nothing is appended then).
fn v3(rec: &[u8], out: &mut BatchBuilder, values: &mut Values) -> Result<(), String> {
    let h = rec.get(..V3_HEADER).ok_or_else(|| format!("V3 record of {} bytes, shorter than its header", rec.len()))?;
    let count = u16_at(h, 4);
    let mut el: [&[u8]; ELEMENTS] = [&[]; ELEMENTS];
    let mut has = 0u64;
    let mut pos = V3_HEADER;
    for i in 0..count {
        let eh = rec.get(pos..pos + 4).ok_or_else(|| format!("element {i} of {count} starts past the record's end"))?;
        let (id, len) = (u16_at(eh, 0) as usize, u16_at(eh, 2) as usize);
        let body = rec
            .get(pos + 4..pos + len)
            .filter(|_| len >= 4)
            .ok_or_else(|| format!("element {i} (type {id}) of length {len} runs past the record's end"))?;
        pos += len;
        if id < ELEMENTS {
            if body.len() < min_body(id) {
                return Err(format!("element type {id} of {} bytes, shorter than its {}", body.len(), min_body(id)));
            }
            el[id] = body;
            has |= 1 << id;
        }
    }
    let present = |id: usize| has & (1 << id) != 0;
    values.clear();

    let (sip, dip) = if present(2) {
        (ip_text(u32_at(el[2], 0)), ip_text(u32_at(el[2], 4)))
    } else if present(3) {
        (ip6_text(&el[3][..16]), ip6_text(&el[3][16..32]))
    } else {
        // nfdump prints a record without an address element as 0.0.0.0 → 0.0.0.0; so do we,
        // keeping its packets and bytes in the totals.
        (ip_text(0), ip_text(0))
    };
    let mut flow = Flow {
        stime: None,
        etime: None,
        sip,
        dip,
        sport: None,
        dport: None,
        proto: None,
        packets: None,
        bytes: None,
        flags: None,
    };
    if present(1) {
        let g = el[1];
        let time = |ms: u64| -> Result<Option<i64>, String> {
            match ms {
                0 => Ok(None),
                ms => i64::try_from(ms)
                    .ok()
                    .and_then(|v| v.checked_mul(1000))
                    .map(Some)
                    .ok_or_else(|| format!("time {ms} ms out of range")),
            }
        };
        let count = |v: u64, what: &str| i64::try_from(v).map_err(|_| format!("{what} {v} out of range"));
        flow.stime = time(u64_at(g, 0))?;
        flow.etime = time(u64_at(g, 8))?;
        if let (Some(s), Some(e)) = (flow.stime, flow.etime) {
            if e < s {
                return Err("flow ends before it starts".into());
            }
        }
        flow.packets = Some(count(u64_at(g, 24), "packets")?);
        flow.bytes = Some(count(u64_at(g, 32), "bytes")?);
        // For ICMP nfdump keeps type*256+code in the destination port, as we do.
        flow.sport = Some(u16_at(g, 40));
        flow.dport = Some(u16_at(g, 42));
        flow.proto = Some(g[44]);
        flow.flags = Some(g[45]);
        values.num(FWD, u64::from(g[46]));
        values.num(STOS, u64::from(g[47]));
        values.time(TR, u64_at(g, 16));
    }
    let reverse = if present(5) {
        let c = el[5];
        values.num(FLOWS, u64_at(c, 0));
        match (u64_at(c, 8), u64_at(c, 16)) {
            (0, 0) => None,
            (p, b) => Some((
                i64::try_from(p).map_err(|_| format!("output packets {p} out of range"))?,
                i64::try_from(b).map_err(|_| format!("output bytes {b} out of range"))?,
            )),
        }
    } else {
        None
    };
    if present(4) {
        let m = el[4];
        values.num(IN, u64::from(u32_at(m, 0)));
        values.num(OUT, u64::from(u32_at(m, 4)));
        values.num(SMK, u64::from(m[8]));
        values.num(DMK, u64::from(m[9]));
        values.num(DIR, u64::from(m[10]));
        values.num(DTOS, u64::from(m[11]));
        values.num(BIDIR, u64::from(m[12]));
        values.num(END_REASON, u64::from(m[13]));
    }
    if present(6) {
        values.num(SVLN, u64::from(u32_at(el[6], 0)));
        values.num(DVLN, u64::from(u32_at(el[6], 4)));
    }
    if present(7) {
        values.num(SAS, u64::from(u32_at(el[7], 0)));
        values.num(DAS, u64::from(u32_at(el[7], 4)));
    }
    if present(8) {
        values.ipv4(NHB, u32_at(el[8], 0));
    } else if present(9) {
        values.ipv6(NHB, el[9]);
    }
    if present(10) {
        values.ipv4(NH, u32_at(el[10], 0));
    } else if present(11) {
        values.ipv6(NH, el[11]);
    }
    if present(12) {
        values.ipv4(RA, u32_at(el[12], 0));
    } else if present(13) {
        values.ipv6(RA, el[13]);
    }
    if present(14) {
        for i in 0..10 {
            let l = u32_at(el[14], i * 4);
            let k = values.begin(MPLS1 + i);
            // nfdump's `label-exp-bottom` text.
            let _ = write!(values.text, "{}-{}-{}", l >> 4, (l & 0xF) >> 1, l & 1);
            values.end(k);
        }
    }
    if present(15) {
        // ismc, odmc, idmc, osmc: the element's order.
        for i in 0..4 {
            let v = u64_at(el[15], i * 8).to_le_bytes();
            let k = values.begin(ISMC + i);
            let _ =
                write!(values.text, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", v[5], v[4], v[3], v[2], v[1], v[0]);
            values.end(k);
        }
    }
    if present(16) {
        values.num(NEXT_AS, u64::from(u32_at(el[16], 0)));
        values.num(PREV_AS, u64::from(u32_at(el[16], 4)));
    }
    if present(17) {
        for i in 0..3 {
            let k = values.begin(CL + i);
            let _ = write!(values.text, "{:.3}", u64_at(el[17], i * 8) as f64 / 1000.0);
            values.end(k);
        }
    }
    if present(19) {
        let n = el[19];
        values.time(EVENT_TIME, u64_at(n, 0));
        values.num(CONN_ID, u64::from(u32_at(n, 8)));
        values.num(XEVENT, u64::from(u16_at(n, 12)));
        values.num(EVENT, u64::from(n[14]));
    }
    if present(20) {
        values.ipv4(SRC_XIP, u32_at(el[20], 0));
        values.ipv4(DST_XIP, u32_at(el[20], 4));
    } else if present(21) {
        values.ipv6(SRC_XIP, &el[21][..16]);
        values.ipv6(DST_XIP, &el[21][16..32]);
    }
    if present(22) {
        values.num(SRC_XPORT, u64::from(u16_at(el[22], 0)));
        values.num(DST_XPORT, u64::from(u16_at(el[22], 2)));
    }
    if present(24) {
        let u = &el[24][..el[24].len().min(66)];
        let u = &u[..memchr::memchr(0, u).unwrap_or(u.len())];
        let k = values.begin(NSEL_USER);
        // Text columns must be UTF-8; a user name that is not is kept readable, not refused.
        values.text.extend_from_slice(String::from_utf8_lossy(u).as_bytes());
        values.end(k);
    }
    if present(25) {
        let n = el[25];
        values.time(EVENT_TIME, u64_at(n, 0));
        // nfdump 1.7.1 also wrote a 24-byte variant with the VRF ids before the pool id.
        let (pool, event) = if n.len() >= 24 {
            values.num(EGRESS_VRF, u64::from(u32_at(n, 8)));
            values.num(INGRESS_VRF, u64::from(u32_at(n, 12)));
            (u32_at(n, 16), n[20])
        } else {
            (u32_at(n, 8), n[12])
        };
        values.num(NAT_POOL, u64::from(pool));
        values.num(EVENT, u64::from(event));
    }
    if present(36) {
        values.num(EGRESS_VRF, u64::from(u32_at(el[36], 0)));
        values.num(INGRESS_VRF, u64::from(u32_at(el[36], 4)));
    }
    // The record header: engine type/id as `-o csv` prints them, and the exporter's id.
    let k = values.begin(ENG);
    put_u64(&mut values.text, u64::from(h[6]));
    values.text.push(b'/');
    put_u64(&mut values.text, u64::from(h[7]));
    values.end(k);
    values.num(EXID, u64::from(u16_at(h, 8)));

    out.push(&flow);
    match reverse {
        Some((p, b)) => {
            values.push(out, Some(bidir::ORIG));
            out.push(&bidir::responder(&flow, Some(p), Some(b)));
            values.push(out, Some(bidir::RESP));
        }
        None => values.push(out, None),
    }
    Ok(())
}

/// Layout 1 (nfdump 1.6): an extension map record.
pub const V1_EXTENSION_MAP: u16 = 2;
/// Layout 1: a flow record (`common_record_t`, "CommonRecordType").
pub const V1_COMMON: u16 = 10;
/// Bytes of a layout-1 flow record before its address block.
const V1_HEADER: usize = 32;
/// Most extension ids a map may list (nfdump 1.6 defines fewer than 50).
const V1_MAX_MAP: usize = 64;

/// Bytes of each optional layout-1 extension, by id (nfdump 1.6's extension table: 4-27 the
/// NetFlow/IPFIX ones, 37-43 NSEL, 45 latency, 46-48 NEL); `None` for an id it does not define.
pub fn v1_extension_size(id: u16) -> Option<usize> {
    Some(match id {
        4 | 6 | 8 | 9 | 11 | 13 | 14 | 16 | 18 | 23 | 25 | 38 => 4,
        5 | 7 | 15 | 17 | 19 | 26 | 27 | 39 | 48 => 8,
        10 | 12 | 20 | 21 | 24 => 16,
        37 => 20,
        22 => 40,
        40 => 32,
        41 | 42 | 45 => 24,
        43 => 72,
        46 => 12,
        47 => 0,
        _ => return None,
    })
}

/// A layout-1 extension map: its id and the extension ids its records carry, in order.
pub fn v1_map(rec: &[u8]) -> Result<(u16, Vec<u16>), String> {
    let id = rec.get(4..6).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or("extension map shorter than 8 bytes")?;
    let mut ids = Vec::new();
    for c in rec.get(8..).unwrap_or(&[]).chunks_exact(2) {
        let e = u16::from_le_bytes([c[0], c[1]]);
        if e == 0 {
            break;
        }
        if v1_extension_size(e).is_none() {
            return Err(format!("extension map {id} lists extension {e}, which nfdump 1.6 does not define"));
        }
        if ids.len() == V1_MAX_MAP {
            return Err(format!("extension map {id} lists more than {V1_MAX_MAP} extensions"));
        }
        ids.push(e);
    }
    Ok((id, ids))
}

/// Decodes the `records` records of a layout-1 block (decompressed, with the extension maps of
/// earlier blocks in front: see `NfcapdBlocks`), appending rows to `out`.
pub fn decode_records_v1(data: &[u8], records: u32, block: &RawBlock, out: &mut BatchBuilder, decoded: &mut Decoded) {
    let mut values = Values {
        text: Vec::with_capacity(256),
        at: [(0, 0); EXTRAS.len()],
        set: 0,
        filled: [out.rows(); EXTRAS.len()],
        last_time: (0, [0; 23]),
    };
    let mut maps: Vec<Option<Vec<u16>>> = Vec::new();
    let mut pos = 0usize;
    for r in 0..records {
        let damage = |reason: String, lost: u64| Damage {
            index: block.index,
            offset: block.offset,
            record: Some(u64::from(r)),
            reason,
            lost: Some(lost),
        };
        let left = u64::from(records - r);
        let Some(head) = data.get(pos..pos + 4) else {
            let reason = format!("the block's records end after {r} of the {records} its header announces");
            decoded.damage.push(damage(reason, left));
            break;
        };
        let (kind, size) = (u16_at(head, 0), u16_at(head, 2) as usize);
        let Some(rec) = data.get(pos..pos + size).filter(|_| size >= 4) else {
            let reason = format!(
                "record of {size} bytes where {} remain: the rest of the block is unreadable",
                data.len() - pos
            );
            decoded.damage.push(damage(reason, left));
            break;
        };
        pos += size;
        match kind {
            V1_EXTENSION_MAP => match v1_map(rec) {
                Ok((id, ids)) => {
                    let i = usize::from(id);
                    if maps.len() <= i {
                        maps.resize(i + 1, None);
                    }
                    maps[i] = Some(ids);
                }
                Err(reason) => decoded.damage.push(damage(reason, 0)),
            },
            V1_COMMON => {
                let map = rec.get(6..8).and_then(|b| maps.get(usize::from(u16::from_le_bytes([b[0], b[1]]))));
                let result = match map {
                    Some(Some(ids)) => v1(rec, ids, out, &mut values),
                    _ => Err(format!(
                        "flow record uses extension map {}, not defined before it",
                        rec.get(6..8).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
                    )),
                };
                match result {
                    Ok(()) => decoded.records += 1,
                    Err(reason) => decoded.damage.push(damage(reason, 1)),
                }
            }
            // Exporter and sampler descriptions and statistics: not flows.
            7..=9 => {}
            k => decoded.damage.push(damage(format!("record of type {k}, which nfdump 1.6 does not write"), 1)),
        }
    }
    values.finish(out);
}

/// One layout-1 flow record → one or two rows, its extensions read in the order `map` lists.
fn v1(rec: &[u8], map: &[u16], out: &mut BatchBuilder, values: &mut Values) -> Result<(), String> {
    let short = || format!("flow record of {} bytes, shorter than its extension map says", rec.len());
    let h = rec.get(..V1_HEADER).ok_or_else(short)?;
    let flags = h[4];
    values.clear();
    let mut pos = V1_HEADER;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let b = rec.get(pos..pos + n).ok_or_else(short)?;
        pos += n;
        Ok(b)
    };
    let (sip, dip) = if flags & 1 != 0 {
        let a = take(32)?;
        (ip6_text(&a[..16]), ip6_text(&a[16..]))
    } else {
        let a = take(8)?;
        (ip_text(u32_at(a, 0)), ip_text(u32_at(a, 4)))
    };
    let counter = |b: &[u8], wide: bool, what: &str| -> Result<i64, String> {
        let v = if wide { u64_at(b, 0) } else { u64::from(u32_at(b, 0)) };
        i64::try_from(v).map_err(|_| format!("{what} {v} out of range"))
    };
    let wide_p = flags & 2 != 0;
    let packets = counter(take(if wide_p { 8 } else { 4 })?, wide_p, "packets")?;
    let wide_b = flags & 4 != 0;
    let bytes = counter(take(if wide_b { 8 } else { 4 })?, wide_b, "bytes")?;
    let time =
        |s: u32, ms: u16| -> Option<i64> { (s != 0 || ms != 0).then(|| (i64::from(s) * 1000 + i64::from(ms)) * 1000) };
    let flow = Flow {
        stime: time(u32_at(h, 12), u16_at(h, 8)),
        etime: time(u32_at(h, 16), u16_at(h, 10)),
        sip,
        dip,
        sport: Some(u16_at(h, 24)),
        dport: Some(u16_at(h, 26)),
        proto: Some(h[22]),
        packets: Some(packets),
        bytes: Some(bytes),
        flags: Some(h[21]),
    };
    if let (Some(s), Some(e)) = (flow.stime, flow.etime) {
        if e < s {
            return Err("flow ends before it starts".into());
        }
    }
    values.num(FWD, u64::from(h[20]));
    values.num(STOS, u64::from(h[23]));
    values.num(EXID, u64::from(u16_at(h, 28)));
    values.num(BIDIR, u64::from(h[30]));
    values.num(END_REASON, u64::from(h[31]));
    let (mut opkt, mut obyt) = (None, None);
    for &id in map {
        let b = take(v1_extension_size(id).unwrap_or(0))?;
        match id {
            4 => {
                values.num(IN, u64::from(u16_at(b, 0)));
                values.num(OUT, u64::from(u16_at(b, 2)));
            }
            5 => {
                values.num(IN, u64::from(u32_at(b, 0)));
                values.num(OUT, u64::from(u32_at(b, 4)));
            }
            6 => {
                values.num(SAS, u64::from(u16_at(b, 0)));
                values.num(DAS, u64::from(u16_at(b, 2)));
            }
            7 => {
                values.num(SAS, u64::from(u32_at(b, 0)));
                values.num(DAS, u64::from(u32_at(b, 4)));
            }
            8 => {
                values.num(DTOS, u64::from(b[0]));
                values.num(DIR, u64::from(b[1]));
                values.num(SMK, u64::from(b[2]));
                values.num(DMK, u64::from(b[3]));
            }
            9 => values.ipv4(NH, u32_at(b, 0)),
            10 => values.ipv6(NH, b),
            11 => values.ipv4(NHB, u32_at(b, 0)),
            12 => values.ipv6(NHB, b),
            13 => {
                values.num(SVLN, u64::from(u16_at(b, 0)));
                values.num(DVLN, u64::from(u16_at(b, 2)));
            }
            14 => opkt = Some(counter(b, false, "output packets")?),
            15 => opkt = Some(counter(b, true, "output packets")?),
            16 => obyt = Some(counter(b, false, "output bytes")?),
            17 => obyt = Some(counter(b, true, "output bytes")?),
            18 => values.num(FLOWS, u64::from(u32_at(b, 0))),
            19 => values.num(FLOWS, u64_at(b, 0)),
            // in src / out dst, then in dst / out src: ismc, odmc, idmc, osmc.
            20 | 21 => {
                let first = if id == 20 { ISMC } else { ISMC + 2 };
                for i in 0..2 {
                    let v = u64_at(b, i * 8).to_le_bytes();
                    let k = values.begin(first + i);
                    let _ = write!(
                        values.text,
                        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                        v[5], v[4], v[3], v[2], v[1], v[0]
                    );
                    values.end(k);
                }
            }
            22 => {
                for i in 0..10 {
                    let l = u32_at(b, i * 4);
                    let k = values.begin(MPLS1 + i);
                    let _ = write!(values.text, "{}-{}-{}", l >> 4, (l & 0xF) >> 1, l & 1);
                    values.end(k);
                }
            }
            23 => values.ipv4(RA, u32_at(b, 0)),
            24 => values.ipv6(RA, b),
            25 => {
                let k = values.begin(ENG);
                put_u64(&mut values.text, u64::from(b[2]));
                values.text.push(b'/');
                put_u64(&mut values.text, u64::from(b[3]));
                values.end(k);
            }
            26 => {
                values.num(NEXT_AS, u64::from(u32_at(b, 0)));
                values.num(PREV_AS, u64::from(u32_at(b, 4)));
            }
            27 => values.time(TR, u64_at(b, 0)),
            // NSEL, NEL and latency extensions: passed over (their layouts changed within 1.6).
            _ => {}
        }
    }
    out.push(&flow);
    match (opkt, obyt) {
        (None, None) | (Some(0), Some(0)) | (Some(0), None) | (None, Some(0)) => values.push(out, None),
        (p, b) => {
            values.push(out, Some(bidir::ORIG));
            out.push(&bidir::responder(&flow, Some(p.unwrap_or(0)), Some(b.unwrap_or(0))));
            values.push(out, Some(bidir::RESP));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_numbers_addresses_and_times() {
        let mut t = Vec::new();
        put_u64(&mut t, 0);
        t.push(b' ');
        put_u64(&mut t, u64::MAX);
        t.push(b' ');
        put_ipv4(&mut t, 0x0a4d_0001);
        t.push(b' ');
        put_msec_utc(&mut t, 1_795_411_639_219);
        assert_eq!(String::from_utf8(t).unwrap(), "0 18446744073709551615 10.77.0.1 2026-11-23 05:27:19.219");
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&0xfe80_0000_0000_0000u64.to_le_bytes());
        b[8..].copy_from_slice(&0xb004_79ff_feec_fd76u64.to_le_bytes());
        assert_eq!(ip6_text(&b).as_str(), "fe80::b004:79ff:feec:fd76");
    }
}
