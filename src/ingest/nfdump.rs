//! nfdump's `-o csv` output, in the three shapes in use:
//!
//! - **classic** (nfdump 1.6 – 1.7.4): 48 columns `ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,…`,
//!   times `YYYY-MM-DD hh:mm:ss` in the exporter's local time, protocol names (`TCP`, `ICMP6`),
//!   flags as `.AP.SF`-style letters, and a trailer of three lines:
//!   `Summary` / `flows,bytes,packets,avg_bps,avg_pps,avg_bpp` / the figures. The trailer is not a
//!   flow: it is skipped, and [`summary`] reads it so that a conversion can be checked against it.
//! - **1.7.5+ csv**: a header of the format's element names, by default
//!   `firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows`, times with
//!   milliseconds, protocol numbers, and ICMP's destination port printed as `type.code`. Any
//!   `-o 'csv:%…'` element list is read the same way.
//! - **csv-fast** (1.7.5+): `cnt,af,firstSeen,lastSeen,proto,…` with times as epoch milliseconds.
//!
//! ICMP type and code end up in `dport` as type*256+code whichever way they were printed. Records
//! with output counters (`opkt`/`obyt`, `outPackets`/`outBytes`: NSEL and bidirectional IPFIX)
//! become an input row and a responder row (see `bidir.rs`); the `side` column marks them.
//! Other columns (`fwd`, `stos`, `in`, `out`, `ra`, `flows`, …) are kept as extra columns.

use super::batch::{BatchBuilder, Flow};
use super::bidir::{self, err, split_trimmed};
use super::delimited::{trim_bytes, Scratch};
use super::fields::{parse_count, parse_flags, parse_ip, parse_port, parse_proto, parse_seconds, parse_stamp};
use super::fields::{show, TimeContext};
use super::{FieldError, LineParser, Outcome};

/// Which of nfdump's CSV layouts a header is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `ts,te,td,sa,da,…` (1.6 – 1.7.4), with the Summary trailer.
    Classic,
    /// Element names (`firstSeen,duration,proto,srcAddr,…`), 1.7.5+.
    Elements,
    /// `cnt,af,firstSeen,lastSeen,…` with epoch milliseconds (`-o csv-fast`).
    Fast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Stime,
    Etime,
    Duration,
    Sip,
    Dip,
    Sport,
    Dport,
    Proto,
    Flags,
    Packets,
    Bytes,
    OutPackets,
    OutBytes,
    IcmpType,
    IcmpCode,
    Extra,
}

/// The role of an nfdump CSV column name (classic short names and the element names of
/// nfdump's `output_csv.c`).
fn role(name: &str) -> Role {
    match name {
        "ts" | "firstSeen" => Role::Stime,
        "te" | "lastSeen" => Role::Etime,
        "td" | "duration" => Role::Duration,
        "sa" | "srcAddr" => Role::Sip,
        "da" | "dstAddr" => Role::Dip,
        "sp" | "srcPort" => Role::Sport,
        "dp" | "dstPort" => Role::Dport,
        "pr" | "proto" => Role::Proto,
        "flg" | "flags" => Role::Flags,
        "ipkt" | "packets" | "inPackets" => Role::Packets,
        "ibyt" | "bytes" | "inBytes" => Role::Bytes,
        "opkt" | "outPackets" => Role::OutPackets,
        "obyt" | "outBytes" => Role::OutBytes,
        "icmpTYpe" | "icmpType" => Role::IcmpType,
        "icmpCode" => Role::IcmpCode,
        _ => Role::Extra,
    }
}

/// The line after `Summary` in nfdump's trailer.
const SUMMARY_HEADER: &[u8] = b"flows,bytes,packets,avg_bps,avg_pps,avg_bpp";

/// Column positions, resolved from the header once.
#[derive(Debug, Clone, Default)]
struct Map {
    stime: Option<usize>,
    etime: Option<usize>,
    duration: Option<usize>,
    sip: usize,
    dip: usize,
    sport: Option<usize>,
    dport: Option<usize>,
    proto: Option<usize>,
    flags: Option<usize>,
    packets: Option<usize>,
    bytes: Option<usize>,
    out_packets: Option<usize>,
    out_bytes: Option<usize>,
    itype: Option<usize>,
    icode: Option<usize>,
    /// Field positions of the extra columns, in `extras` order (after `side` when present).
    extra_pos: Vec<usize>,
}

/// A parser for one nfdump CSV header.
pub struct Nfdump {
    shape: Shape,
    names: Vec<String>,
    header: Vec<u8>,
    map: Map,
    extras: Vec<String>,
    /// Whether rows carry the `side` column (the header has output counters).
    bidir: bool,
    time: TimeContext,
    /// By extra value (after `side`): the column is an integer one (`schema::INTEGER_EXTRAS`).
    integer: Vec<bool>,
}

/// Recognizes an nfdump CSV header line. `None` when the line is not one.
pub fn detect(line: &[u8], time: &TimeContext) -> Option<Result<Nfdump, String>> {
    let line = trim_bytes(line);
    let shape = if line.starts_with(b"ts,te,td,sa,da,sp,dp,pr,") {
        Shape::Classic
    } else if line.starts_with(b"cnt,af,firstSeen,lastSeen,") {
        Shape::Fast
    } else {
        // The 1.7.5+ element names: addresses under nfdump's own names, and one of its times.
        let names: Vec<&[u8]> = line.split(|&c| c == b',').collect();
        let has = |n: &[u8]| names.contains(&n);
        if !(has(b"srcAddr") && has(b"dstAddr") && (has(b"firstSeen") || has(b"lastSeen") || has(b"duration"))) {
            return None;
        }
        Shape::Elements
    };
    Some(Nfdump::new(shape, line, time.clone()))
}

impl Nfdump {
    pub fn new(shape: Shape, header: &[u8], time: TimeContext) -> Result<Self, String> {
        let names: Vec<String> =
            header.split(|&c| c == b',').map(|n| String::from_utf8_lossy(trim_bytes(n)).into_owned()).collect();
        let mut map = Map::default();
        let mut sip = None;
        let mut dip = None;
        let mut extra_names = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let slot = match role(name) {
                Role::Stime => &mut map.stime,
                Role::Etime => &mut map.etime,
                Role::Duration => &mut map.duration,
                Role::Sip => &mut sip,
                Role::Dip => &mut dip,
                Role::Sport => &mut map.sport,
                Role::Dport => &mut map.dport,
                Role::Proto => &mut map.proto,
                Role::Flags => &mut map.flags,
                Role::Packets => &mut map.packets,
                Role::Bytes => &mut map.bytes,
                Role::OutPackets => &mut map.out_packets,
                Role::OutBytes => &mut map.out_bytes,
                Role::IcmpType => &mut map.itype,
                Role::IcmpCode => &mut map.icode,
                Role::Extra => {
                    map.extra_pos.push(i);
                    extra_names.push(crate::schema::extra_column_name(name));
                    continue;
                }
            };
            if slot.is_some() {
                return Err(format!("nfdump CSV header names a column twice ('{name}')"));
            }
            *slot = Some(i);
        }
        map.sip = sip.ok_or("nfdump CSV header without a source address (sa / srcAddr)")?;
        map.dip = dip.ok_or("nfdump CSV header without a destination address (da / dstAddr)")?;
        let bidir = map.out_packets.is_some() || map.out_bytes.is_some();
        let mut extras = Vec::new();
        if bidir {
            extras.push(bidir::SIDE.to_string());
        }
        extras.extend(extra_names);
        if let Some(clash) = extras
            .iter()
            .skip(usize::from(bidir))
            .find(|e| crate::schema::CORE_COLUMNS.contains(&e.as_str()) || (bidir && e.as_str() == bidir::SIDE))
        {
            return Err(format!("nfdump CSV column '{clash}' has the name of a flow column"));
        }
        let integer = extras
            .iter()
            .skip(usize::from(bidir))
            .map(|e| crate::schema::extra_type(e) == arrow_schema::DataType::Int64)
            .collect();
        Ok(Nfdump { shape, names, header: header.to_vec(), map, extras, bidir, time, integer })
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", |s| s.as_str())
    }

    /// A time column: text in the exporter's local time, or epoch milliseconds in csv-fast.
    /// nfdump prints `0000-00-00 00:00:00.000` (or 0 in csv-fast) for a flow without that time.
    fn time(&self, i: usize, v: &[u8]) -> Result<Option<i64>, FieldError> {
        if v.is_empty() || v.starts_with(b"0000-00-00") {
            return Ok(None);
        }
        if self.shape == Shape::Fast {
            let ms = parse_count(v).map_err(|_| err(self.name(i), format!("bad epoch milliseconds '{}'", show(v))))?;
            if ms == 0 {
                return Ok(None);
            }
            return ms.checked_mul(1000).map(Some).ok_or_else(|| err(self.name(i), "time out of range"));
        }
        parse_stamp(v).and_then(|s| self.time.resolve(s)).map(Some).map_err(|r| err(self.name(i), r))
    }

    fn flow<'a>(&self, f: &[&'a [u8]]) -> Result<(Flow<'a>, Option<(i64, i64)>), FieldError> {
        let m = &self.map;
        let at = |i: Option<usize>| i.map(|i| (i, f[i])).filter(|(_, v)| !v.is_empty());
        let e = |i: usize| move |r: String| err(self.name(i), r);
        let sip = parse_ip(f[m.sip]).map_err(e(m.sip))?;
        let dip = parse_ip(f[m.dip]).map_err(e(m.dip))?;
        let proto = at(m.proto).map(|(i, v)| parse_proto(v).map_err(e(i))).transpose()?;
        let sport = at(m.sport).map(|(i, v)| parse_port(v).map_err(e(i))).transpose()?;
        let mut dport = match at(m.dport) {
            // nfdump 1.7.5+ prints ICMP as type.code (and some 1.6 builds did too).
            Some((i, v)) if v.contains(&b'.') => {
                Some(icmp_dotted(v).ok_or_else(|| err(self.name(i), format!("bad ICMP type.code '{}'", show(v))))?)
            }
            Some((i, v)) => Some(parse_port(v).map_err(e(i))?),
            None => None,
        };
        if bidir::is_icmp(proto) {
            if let (Some((ti, t)), Some((ci, c))) = (at(m.itype), at(m.icode)) {
                let byte = |i: usize, v: &[u8]| {
                    parse_port(v).ok().filter(|&x| x < 256).ok_or_else(|| err(self.name(i), "bad ICMP type or code"))
                };
                dport = Some(byte(ti, t)? << 8 | byte(ci, c)?);
            }
        }
        let flags = at(m.flags).map(|(i, v)| parse_flags(v).map_err(e(i))).transpose()?;
        let packets = at(m.packets).map(|(i, v)| parse_count(v).map_err(e(i))).transpose()?;
        let bytes = at(m.bytes).map(|(i, v)| parse_count(v).map_err(e(i))).transpose()?;
        let out_packets = at(m.out_packets).map(|(i, v)| parse_count(v).map_err(e(i))).transpose()?;
        let out_bytes = at(m.out_bytes).map(|(i, v)| parse_count(v).map_err(e(i))).transpose()?;
        let mut stime = match at(m.stime) {
            Some((i, v)) => self.time(i, v)?,
            None => None,
        };
        let mut etime = match at(m.etime) {
            Some((i, v)) => self.time(i, v)?,
            None => None,
        };
        let dur = at(m.duration).map(|(i, v)| parse_seconds(v).map_err(e(i))).transpose()?;
        match (stime, etime, dur) {
            (Some(s), None, Some(d)) => etime = Some(s + d),
            (Some(s), None, None) => etime = Some(s),
            (None, Some(t), Some(d)) => stime = Some(t - d),
            _ => {}
        }
        if let (Some(s), Some(t)) = (stime, etime) {
            if t < s {
                return Err(err(self.name(m.etime.or(m.duration).unwrap_or(m.sip)), "flow ends before it starts"));
            }
        }
        let out = match (out_packets.unwrap_or(0), out_bytes.unwrap_or(0)) {
            (0, 0) => None,
            (p, b) => Some((p, b)),
        };
        Ok((Flow { stime, etime, sip, dip, sport, dport, proto, packets, bytes, flags }, out))
    }
}

/// `type.code` → type*256+code.
fn icmp_dotted(v: &[u8]) -> Option<u16> {
    let p = memchr::memchr(b'.', v)?;
    let t = parse_port(&v[..p]).ok().filter(|&x| x < 256)?;
    let c = parse_port(&v[p + 1..]).ok().filter(|&x| x < 256)?;
    Some(t << 8 | c)
}

/// True for the lines of nfdump's Summary trailer: `Summary`, its header, and the line of six
/// integers. A data line always holds an address (dots or colons), so it is never taken for one.
fn is_summary(line: &[u8], fields: usize, columns: usize) -> bool {
    if line == b"Summary" || line == SUMMARY_HEADER {
        return true;
    }
    columns != 6 && fields == 6 && line.iter().all(|&c| c.is_ascii_digit() || c == b',')
}

impl LineParser for Nfdump {
    fn format(&self) -> &'static str {
        "nfdump"
    }

    fn extras(&self) -> &[String] {
        &self.extras
    }

    fn parse_line(&self, line: &[u8], out: &mut BatchBuilder, scratch: &mut Scratch) -> Result<Outcome, FieldError> {
        let line = trim_bytes(line);
        if line == self.header.as_slice() {
            return Ok(Outcome::Skipped);
        }
        let ranges = &mut scratch.ranges;
        split_trimmed(line, b',', ranges);
        let n = self.names.len();
        if is_summary(line, ranges.len(), n) {
            return Ok(Outcome::Skipped);
        }
        if ranges.len() != n || n > 128 {
            return Err(err("line", format!("{} fields where the nfdump header has {n}", ranges.len())));
        }
        let mut fields: [&[u8]; 128] = [&[]; 128];
        for (slot, &(s, e)) in fields.iter_mut().zip(ranges.iter()) {
            *slot = &line[s..e];
        }
        let fields = &fields[..n];
        let (flow, reverse) = self.flow(fields)?;
        let mut values: [&[u8]; 128] = [&[]; 128];
        for (k, &pos) in self.map.extra_pos.iter().enumerate() {
            values[k] = fields[pos];
        }
        let extras = &values[..self.map.extra_pos.len()];
        for (k, v) in extras.iter().enumerate() {
            if self.integer[k] && !super::batch::is_integer(v) {
                let name = self.extras[usize::from(self.bidir) + k].clone();
                return Err(err(&name, format!("'{}' is not an integer", super::fields::show(v))));
            }
        }
        let base = usize::from(self.bidir);
        let push = |out: &mut BatchBuilder, f: &Flow, side: Option<&str>| {
            out.push(f);
            if self.bidir {
                out.extra(0, side.map(str::as_bytes));
            }
            for (k, v) in extras.iter().enumerate() {
                out.extra(base + k, Some(v));
            }
        };
        // Only a record with output counters is a bidirectional one whose source originated the
        // connection; in a unidirectional export (softflowd, most NetFlow) opkt/obyt are zero and
        // the source is just this direction's sender, so `side` stays null: who originated is unknown.
        let two_way = self.bidir && reverse.is_some();
        push(out, &flow, two_way.then_some(bidir::ORIG));
        match reverse {
            Some((p, b)) if self.bidir => {
                push(out, &bidir::responder(&flow, Some(p), Some(b)), Some(bidir::RESP));
                Ok(Outcome::Rows(2))
            }
            _ => Ok(Outcome::Rows(1)),
        }
    }
}

/// nfdump's own totals, from the Summary trailer of a classic `-o csv` listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub flows: u64,
    pub bytes: u64,
    pub packets: u64,
}

/// Reads the Summary trailer of an nfdump `-o csv` listing, when it has one.
pub fn summary(text: &str) -> Option<Summary> {
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| *l == "Summary")?;
    let header = lines.next()?;
    let values = lines.next()?;
    let names: Vec<&str> = header.split(',').collect();
    let figures: Vec<&str> = values.split(',').collect();
    let get = |n: &str| names.iter().position(|x| *x == n).and_then(|i| figures.get(i)?.parse().ok());
    Some(Summary { flows: get("flows")?, bytes: get("bytes")?, packets: get("packets")? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::fields::parse_date;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type};
    use arrow_array::Array;

    const CLASSIC: &str = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr";

    fn run(header: &str, lines: &[&str]) -> (Result<Vec<Outcome>, FieldError>, arrow_array::RecordBatch) {
        let p = detect(header.as_bytes(), &TimeContext::default()).expect("detected").expect("parser");
        let (r, batch) = crate::ingest::parse_lines(&p, lines);
        (r.into_iter().collect(), batch)
    }

    #[test]
    fn classic_rows_flags_icmp_and_summary() {
        let (r, batch) = run(
            CLASSIC,
            &[
                "2026-11-23 05:09:09,2026-11-23 05:09:09,0.004,10.77.0.1,10.77.0.2,59294,21,TCP,...A.RSF,0,0,1,60,0,0,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,127.0.0.1,0/0,1,2026-11-23 05:09:19.963",
                "2026-11-23 05:09:09,2026-11-23 05:09:09,0.000,10.77.0.2,10.77.0.1,0,771,ICMP,........,0,192,1,61,0,0,0,0,0,0,0,0,0,1,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,    0.000,    0.000,    0.000,127.0.0.1,0/0,1,2026-11-23 05:09:19.963",
                "Summary",
                "flows,bytes,packets,avg_bps,avg_pps,avg_bpp",
                "2,121,2,48173,48,125",
            ],
        );
        assert_eq!(
            r.unwrap(),
            [Outcome::Rows(1), Outcome::Rows(1), Outcome::Skipped, Outcome::Skipped, Outcome::Skipped]
        );
        assert_eq!(batch.num_rows(), 2);
        // The classic layout has opkt/obyt: a side column, and all zero here, so no responder rows
        // and no originator either. Regression: every row of a unidirectional export said `orig`,
        // which made both ends of an NTP 123<->123 exchange look like the originator's server.
        let side = batch.column_by_name(bidir::SIDE).unwrap().as_string::<i32>();
        assert_eq!((side.is_null(0), side.is_null(1)), (true, true));
        let flags = batch.column_by_name("flags").unwrap().as_string::<i32>();
        assert_eq!((flags.value(0), flags.value(1)), ("FSRA", ""));
        let dport = batch.column_by_name("dport").unwrap().as_primitive::<UInt16Type>();
        assert_eq!(dport.value(1), 3 * 256 + 3);
        let stime = batch.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>();
        let etime = batch.column_by_name("etime").unwrap().as_primitive::<TimestampMicrosecondType>();
        let day = parse_date("2026-11-23").unwrap() * 86_400_000_000;
        assert_eq!(stime.value(0), day + (5 * 3600 + 9 * 60 + 9) * 1_000_000);
        assert_eq!(etime.value(0), stime.value(0), "te wins over ts+td");
        let ra = batch.column_by_name("ra").unwrap().as_string::<i32>();
        assert_eq!(ra.value(0), "127.0.0.1");
    }

    #[test]
    fn output_counters_make_a_responder_row() {
        let line = "2026-11-23 05:09:09,2026-11-23 05:09:10,1.000,10.0.0.1,10.0.0.2,40000,443,TCP,...AP.SF,0,0,10,1000,8,6000,0,0,0,0,0,0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0,0,0,127.0.0.1,0/0,1,x";
        let (r, batch) = run(CLASSIC, &[line]);
        assert_eq!(r.unwrap(), [Outcome::Rows(2)]);
        let side = batch.column_by_name("side").unwrap().as_string::<i32>();
        assert_eq!((side.value(0), side.value(1)), ("orig", "resp"));
        let bytes = batch.column_by_name("bytes").unwrap().as_primitive::<Int64Type>();
        assert_eq!((bytes.value(0), bytes.value(1)), (1000, 6000));
        let sip = batch.column_by_name("sip").unwrap().as_string::<i32>();
        assert_eq!(sip.value(1), "10.0.0.2");
    }

    #[test]
    fn elements_shape_with_type_code() {
        let header = "firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows";
        let (r, batch) = run(
            header,
            &[
                "2026-11-23 05:09:09.258,0.250,1,10.77.0.2,0,10.77.0.1,3.3,1,61,1",
                "2026-11-23 05:09:09.258,0.000,6,fd77:0:0::1,59294,fd77::2,21,1,60,1",
                "2026-11-23 05:09:09.258,0.000,1,10.77.0.2,0,10.77.0.1,3.300,1,61,1",
            ],
        );
        let r = r.unwrap_err();
        assert_eq!(r.column, "dstPort");
        assert_eq!(batch.num_rows(), 2, "the bad line added no row");
        let dport = batch.column_by_name("dport").unwrap().as_primitive::<UInt16Type>();
        assert_eq!(dport.value(0), 771);
        let etime = batch.column_by_name("etime").unwrap().as_primitive::<TimestampMicrosecondType>();
        let stime = batch.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(etime.value(0) - stime.value(0), 250_000);
        assert_eq!(batch.column_by_name("sip").unwrap().as_string::<i32>().value(1), "fd77::1");
        assert!(batch.column_by_name("flags").unwrap().is_null(0), "no flags column → null");
    }

    #[test]
    fn fast_shape_epoch_milliseconds() {
        let header = "cnt,af,firstSeen,lastSeen,proto,srcAddr,srcPort,dstAddr,dstPort,srcAS,dstAS,input,output,flags,srcTos,packets,bytes";
        let (r, batch) =
            run(header, &["1,2,1795410549258,1795410549262,6,10.77.0.1,59294,10.77.0.2,21,0,0,0,0,......S.,0,1,60"]);
        assert_eq!(r.unwrap(), [Outcome::Rows(1)]);
        let stime = batch.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(stime.value(0), 1_795_410_549_258_000);
        let etime = batch.column_by_name("etime").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(etime.value(0), 1_795_410_549_262_000);
    }

    #[test]
    fn bad_lines_name_their_column() {
        let header = "firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows";
        for (line, column) in [
            ("2026-11-23 05:09:09.258,0.000,6,10.77.0.1,70000,10.77.0.2,21,1,60,1", "srcPort"),
            ("2026-11-23 05:09:09.258,0.000,6,10.77.0.1,1,10.77.0.2,21,-1,60,1", "packets"),
            ("2026-11-23 25:09:09.258,0.000,6,10.77.0.1,1,10.77.0.2,21,1,60,1", "firstSeen"),
            ("2026-11-23 05:09:09.258,0.000,6,10.77.0.1,1,10.77.0.2,21,1,60", "line"),
            ("1,2,3,4,5,6.5", "line"),
        ] {
            let (r, batch) = run(header, &[line]);
            assert_eq!(r.unwrap_err().column, column, "{line}");
            assert_eq!(batch.num_rows(), 0);
        }
    }

    #[test]
    fn detection_and_summary() {
        let t = TimeContext::default();
        assert_eq!(detect(CLASSIC.as_bytes(), &t).unwrap().unwrap().shape(), Shape::Classic);
        assert!(detect(b"sip,dip,sport,dport", &t).is_none());
        assert!(detect(b"src_ip,dst_ip,firstSeen", &t).is_none());
        let s = summary("x\nSummary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n26,5010,40,48173,48,125\n").unwrap();
        assert_eq!(s, Summary { flows: 26, bytes: 5010, packets: 40 });
        assert_eq!(summary("no trailer"), None);
    }
}
