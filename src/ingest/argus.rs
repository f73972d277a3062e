//! Argus client output: `ra -c ,` (or `-c '\t'`) with its header line of field labels
//! (`StartTime,Flgs,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,TotBytes,State` by default,
//! any `-s` field list otherwise). CTU-13 `.binetflow` files are this output too (see
//! `binetflow.rs`).
//!
//! - Argus records are bidirectional. With the per-direction counters (`SrcPkts`, `DstPkts`,
//!   `SrcBytes`, `DstBytes`) a record becomes an originator row and, when the destination sent
//!   packets, a responder row (see `bidir.rs`), marked in the `side` column; `TotPkts`/`TotBytes`
//!   are then their sums and are not kept.
//! - With totals and the source's bytes only (`TotPkts`, `TotBytes`, `SrcBytes`: CTU-13's
//!   layout) the bytes split exactly: the originator row carries `SrcBytes`, and a responder row
//!   the rest when there is any. The packets do not: `TotPkts` is split by an *estimate*
//!   ([`split_packets`]: the quieter side's packets as if without payload, bounded by its share
//!   in proportion to the bytes and by half), at least one packet each way and the two summing to
//!   `TotPkts` exactly (a flow's rows still sum to the record's totals). Without the split an
//!   answered connection would read as one-way, and every report would see it unanswered.
//! - Without per-direction counters a record is one row from `SrcAddr` to `DstAddr` carrying the
//!   record's totals, so totals stay exact; `Dir` stays as an extra column.
//! - `State` as `ra -Z b` prints it for TCP (CTU-13's `S_RA`, `FSPA_FSPA`: the source's flags, an
//!   underscore, the destination's) gives each row its TCP flags; other states (`CON`, `FIN`,
//!   `RST`, ra's default) leave `flags` null.
//! - Times: `StartTime` as ra prints it: time of day only by default (`05:07:21.005678`, which
//!   needs `--date`), epoch seconds with `-u`, or a date and time (`RA_TIME_FORMAT`, CTU-13's
//!   `2011/08/10 09:46:53.047277`). The end is `LastTime`, else `StartTime + Dur`.
//! - ICMP: ra prints the type and code in `Sport` as hex `0xCCTT` (code in the high byte, type in
//!   the low: `0x0008` is echo request, `0x0303` port unreachable) or, for ICMPv6, the type in
//!   decimal; `Dport` holds the echo id. They become `sport` 0 and `dport` type*256+code.
//! - `man` records (Argus's own start/status/stop records) are not flows: counted and skipped.
//! - `Flgs` holds Argus's record flags, not TCP flags; `Flgs`, `State`, `Dir` and every other
//!   column are kept as extra columns. A protocol that is not an IP protocol
//!   (`arp`, `llc`) leaves `proto` null, with its name in `proto_name`.
//! - Layer-2 records (`llc`, and other non-IP protocols) carry MAC addresses where the IP
//!   addresses go (`00:00:00:00:00:00`): they are traffic, so they become rows with null
//!   `sip`/`dip` and the MAC addresses in `smac`/`dmac` (null for IP rows), keeping the totals;
//!   the reports skip rows without addresses and count them.

use super::batch::{BatchBuilder, Flow};
use super::bidir::{self, err, split_trimmed};
use super::delimited::{trim_bytes, Scratch};
use super::fields::{
    is_mac, parse_count, parse_flags, parse_ip, parse_port, parse_proto, parse_seconds, parse_stamp, show, IpText,
    TimeContext,
};
use super::{FieldError, LineParser, Outcome};

/// Extra column holding a protocol name that is not an IP protocol number.
pub const PROTO_NAME: &str = "proto_name";
/// Extra columns holding the MAC addresses of a layer-2 record (whose `sip`/`dip` are null).
pub const SMAC: &str = "smac";
pub const DMAC: &str = "dmac";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Stime,
    Etime,
    Duration,
    Proto,
    Sip,
    Sport,
    Dip,
    Dport,
    TotPkts,
    TotBytes,
    SrcPkts,
    DstPkts,
    SrcBytes,
    DstBytes,
    Extra,
}

/// ra's field labels (case as ra prints them).
fn role(label: &str) -> Role {
    match label {
        "StartTime" => Role::Stime,
        "LastTime" => Role::Etime,
        "Dur" => Role::Duration,
        "Proto" => Role::Proto,
        "SrcAddr" => Role::Sip,
        "Sport" => Role::Sport,
        "DstAddr" => Role::Dip,
        "Dport" => Role::Dport,
        "TotPkts" => Role::TotPkts,
        "TotBytes" => Role::TotBytes,
        "SrcPkts" => Role::SrcPkts,
        "DstPkts" => Role::DstPkts,
        "SrcBytes" => Role::SrcBytes,
        "DstBytes" => Role::DstBytes,
        _ => Role::Extra,
    }
}

/// True when a header line is ra's: its address labels and a separator we read.
pub fn looks_like(line: &[u8]) -> Option<u8> {
    let line = trim_bytes(line);
    [b',', b'\t'].into_iter().find(|&sep| {
        let names: Vec<&[u8]> = line.split(|&c| c == sep).map(trim_bytes).collect();
        let has = |n: &[u8]| names.contains(&n);
        has(b"SrcAddr") && has(b"DstAddr") && (has(b"StartTime") || has(b"Proto"))
    })
}

/// Recognizes `ra -c ,` / `ra -c '\t'` output by its header.
pub fn detect(line: &[u8], time: &TimeContext) -> Option<Result<Argus, String>> {
    let sep = looks_like(line)?;
    Some(Argus::new("argus", sep, trim_bytes(line), time.clone()))
}

#[derive(Debug, Clone, Default)]
struct Map {
    stime: Option<usize>,
    etime: Option<usize>,
    duration: Option<usize>,
    proto: Option<usize>,
    sip: usize,
    dip: usize,
    sport: Option<usize>,
    dport: Option<usize>,
    tot_pkts: Option<usize>,
    tot_bytes: Option<usize>,
    src_pkts: Option<usize>,
    dst_pkts: Option<usize>,
    src_bytes: Option<usize>,
    dst_bytes: Option<usize>,
    state: Option<usize>,
    extra_pos: Vec<usize>,
}

/// How a record's counters become rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// One row with the record's totals.
    Totals,
    /// Per-direction packets and bytes: an originator row and a responder row.
    Counters,
    /// Totals and the source's bytes: the bytes split exactly, the packets estimated.
    SrcBytes,
}

/// A parser for one ra header (also used for CTU-13 binetflow).
pub struct Argus {
    format: &'static str,
    sep: u8,
    names: Vec<String>,
    header: Vec<u8>,
    map: Map,
    /// `side`, then `proto_name`, then the input's other columns.
    extras: Vec<String>,
    split: Split,
    time: TimeContext,
}

impl Argus {
    pub fn new(format: &'static str, sep: u8, header: &[u8], time: TimeContext) -> Result<Self, String> {
        let names: Vec<String> =
            header.split(|&c| c == sep).map(|n| String::from_utf8_lossy(trim_bytes(n)).into_owned()).collect();
        let mut map = Map::default();
        let (mut sip, mut dip) = (None, None);
        let mut roles = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let r = role(name);
            roles.push(r);
            let slot = match r {
                Role::Stime => &mut map.stime,
                Role::Etime => &mut map.etime,
                Role::Duration => &mut map.duration,
                Role::Proto => &mut map.proto,
                Role::Sip => &mut sip,
                Role::Dip => &mut dip,
                Role::Sport => &mut map.sport,
                Role::Dport => &mut map.dport,
                Role::TotPkts => &mut map.tot_pkts,
                Role::TotBytes => &mut map.tot_bytes,
                Role::SrcPkts => &mut map.src_pkts,
                Role::DstPkts => &mut map.dst_pkts,
                Role::SrcBytes => &mut map.src_bytes,
                Role::DstBytes => &mut map.dst_bytes,
                Role::Extra => continue,
            };
            if slot.is_some() {
                return Err(format!("Argus header names '{name}' twice"));
            }
            *slot = Some(i);
        }
        map.sip = sip.ok_or("Argus header without SrcAddr")?;
        map.dip = dip.ok_or("Argus header without DstAddr")?;
        map.state = names.iter().position(|n| n == "State");
        let split =
            if map.src_pkts.is_some() && map.dst_pkts.is_some() && map.src_bytes.is_some() && map.dst_bytes.is_some() {
                Split::Counters
            } else if map.tot_pkts.is_some() && map.tot_bytes.is_some() && map.src_bytes.is_some() {
                Split::SrcBytes
            } else {
                Split::Totals
            };
        let bidir = split != Split::Totals;
        let mut extras = Vec::new();
        if bidir {
            extras.push(bidir::SIDE.to_string());
        }
        extras.push(PROTO_NAME.to_string());
        extras.push(SMAC.to_string());
        extras.push(DMAC.to_string());
        // Columns that become the rows' own counters are not repeated as extras; in totals mode
        // the per-direction columns that are present are kept.
        for (i, r) in roles.iter().enumerate() {
            let kept = match r {
                Role::Extra => !names[i].is_empty(),
                Role::SrcPkts | Role::DstPkts | Role::DstBytes => !bidir,
                Role::SrcBytes => split == Split::Totals,
                Role::TotPkts | Role::TotBytes => false,
                _ => false,
            };
            if kept {
                let name = crate::schema::extra_column_name(&names[i]);
                if crate::schema::CORE_COLUMNS.contains(&name.as_str()) || extras.contains(&name) {
                    return Err(format!("Argus column '{name}' clashes with a flow column name"));
                }
                map.extra_pos.push(i);
                extras.push(name);
            }
        }
        Ok(Argus { format, sep, names, header: header.to_vec(), map, extras, split, time })
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map_or("?", |s| s.as_str())
    }

    fn count(&self, i: Option<usize>, f: &[&[u8]]) -> Result<Option<i64>, FieldError> {
        match i {
            Some(i) if !f[i].is_empty() => parse_count(f[i]).map(Some).map_err(|r| err(self.name(i), r)),
            _ => Ok(None),
        }
    }

    /// Parses a record: its originator flow, the responder's counters (two-row mode) and the
    /// protocol name when it is not an IP protocol.
    fn record<'a>(&self, f: &[&'a [u8]]) -> Result<Option<Record<'a>>, FieldError> {
        let m = &self.map;
        let proto_text = m.proto.map_or(&b""[..], |i| f[i]);
        if proto_text == b"man" {
            return Ok(None);
        }
        let e = |i: usize| move |r: String| err(self.name(i), r);
        let (proto, proto_name) = match proto_text {
            b"" => (None, None),
            t => match parse_proto(t) {
                Ok(p) => (Some(p), None),
                Err(_) if t.iter().all(|c| c.is_ascii_alphanumeric() || b"-_/".contains(c)) => (None, Some(t)),
                Err(r) => return Err(err(self.name(m.proto.unwrap_or(0)), r)),
            },
        };
        // A non-IP protocol's record may carry MAC addresses: no IP address, the MAC kept.
        let addr = |i: usize| -> Result<(IpText<'a>, Option<&'a [u8]>), FieldError> {
            match parse_ip(f[i]) {
                Ok(a) => Ok((a, None)),
                Err(_) if proto_name.is_some() && is_mac(f[i]) => Ok((IpText::Absent, Some(f[i]))),
                Err(r) => Err(err(self.name(i), r)),
            }
        };
        let (sip, smac) = addr(m.sip)?;
        let (dip, dmac) = addr(m.dip)?;
        let port = |i: Option<usize>| -> Result<Option<u16>, FieldError> {
            match i {
                Some(i) if !f[i].is_empty() => argus_port(f[i]).map(Some).map_err(e(i)),
                _ => Ok(None),
            }
        };
        let (mut sport, mut dport) = (port(m.sport)?, port(m.dport)?);
        if bidir::is_icmp(proto) {
            // Hex: 0xCCTT (code high, type low); decimal (ICMPv6): the type, with the code in Dport.
            let hex = m.sport.is_some_and(|i| f[i].starts_with(b"0x"));
            let (ty, code) = match (sport, dport) {
                (Some(v), _) if hex => (v & 0xff, v >> 8),
                (Some(v), d) => (v, d.filter(|&c| c < 256).unwrap_or(0)),
                (None, _) => (0, 0),
            };
            if ty > 255 {
                return Err(err(self.name(m.sport.unwrap_or(0)), format!("bad ICMP type {ty}")));
            }
            sport = Some(0);
            dport = Some(ty << 8 | code);
        }
        let stamp = |i: usize| parse_stamp(f[i]).and_then(|s| self.time.resolve(s)).map_err(e(i));
        let mut stime = m.stime.filter(|&i| !f[i].is_empty()).map(stamp).transpose()?;
        let mut etime = m.etime.filter(|&i| !f[i].is_empty()).map(stamp).transpose()?;
        let dur = m.duration.filter(|&i| !f[i].is_empty()).map(|i| parse_seconds(f[i]).map_err(e(i))).transpose()?;
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
        let (packets, bytes, reverse) = match self.split {
            Split::Counters => {
                let (sp, dp) = (self.count(m.src_pkts, f)?, self.count(m.dst_pkts, f)?);
                let (sb, db) = (self.count(m.src_bytes, f)?, self.count(m.dst_bytes, f)?);
                let reverse = (dp.unwrap_or(0) > 0 || db.unwrap_or(0) > 0).then_some((dp, db));
                (sp, sb, reverse)
            }
            Split::SrcBytes => {
                let (tp, tb) = (self.count(m.tot_pkts, f)?, self.count(m.tot_bytes, f)?);
                let sb = self.count(m.src_bytes, f)?;
                match (tb, sb) {
                    (Some(tb), Some(sb)) if sb > tb => {
                        let at = m.src_bytes.unwrap_or(0);
                        return Err(err(self.name(at), format!("SrcBytes {sb} is more than TotBytes {tb}")));
                    }
                    (Some(tb), Some(sb)) if tb > sb => {
                        let (sp, dp) = match tp {
                            Some(tp) => {
                                let (sp, dp) = split_packets(tp, sb, tb - sb);
                                (Some(sp), Some(dp))
                            }
                            None => (None, None),
                        };
                        (sp, Some(sb), Some((dp, Some(tb - sb))))
                    }
                    _ => (tp, tb, None),
                }
            }
            Split::Totals => (self.count(m.tot_pkts, f)?, self.count(m.tot_bytes, f)?, None),
        };
        let flags = if proto == Some(6) { m.state.and_then(|i| flag_state(f[i])) } else { None };
        let flow = Flow { stime, etime, sip, dip, sport, dport, proto, packets, bytes, flags: flags.map(|f| f.0) };
        Ok(Some(Record { flow, reverse, reverse_flags: flags.map(|f| f.1), proto_name, macs: (smac, dmac) }))
    }
}

/// Bytes of a packet without payload as Argus counts them (Ethernet, IP, and TCP with
/// timestamps): the size the quieter side's packets are taken to have.
const BARE_PACKET: i64 = 66;

/// The packets of a record that carries only its total and each side's bytes, split between the
/// source and the destination: an estimate, summing to `total`, at least one packet on each side
/// that sent bytes. The side that sent fewer bytes gets as many packets as its bytes make at
/// [`BARE_PACKET`] bytes each (a download's acknowledgements), but no fewer than its share in
/// proportion to the bytes and no more than half (one acknowledgement per data packet at most).
fn split_packets(total: i64, src_bytes: i64, dst_bytes: i64) -> (i64, i64) {
    if src_bytes == 0 {
        return (0, total);
    }
    if total < 2 {
        return (total, 0);
    }
    let (small, large) = (src_bytes.min(dst_bytes), src_bytes.max(dst_bytes));
    let round = |n: i128, d: i128| ((n + d / 2) / d.max(1)) as i64;
    let share = round(total as i128 * small as i128, small as i128 + large as i128);
    let bare = round(small as i128, BARE_PACKET as i128);
    let quiet = bare.max(share).min((total / 2).max(share)).clamp(1, total - 1);
    if src_bytes <= dst_bytes {
        (quiet, total - quiet)
    } else {
        (total - quiet, quiet)
    }
}

/// TCP flags from a `State` as `ra -Z b` prints it: the source's flag letters, `_`, the
/// destination's (`S_RA`, `FSPA_FSPA`, `S_`). Other states (`CON`, `FIN`, `RST`) are not flags.
fn flag_state(v: &[u8]) -> Option<(u8, u8)> {
    let at = v.iter().position(|&c| c == b'_')?;
    let (src, dst) = (&v[..at], &v[at + 1..]);
    let letters = |s: &[u8]| s.iter().all(|c| super::fields::FLAG_LETTERS.contains(c));
    if !letters(src) || !letters(dst) || src.len() + dst.len() == 0 {
        return None;
    }
    Some((parse_flags(src).ok()?, parse_flags(dst).ok()?))
}

struct Record<'a> {
    flow: Flow<'a>,
    reverse: Option<(Option<i64>, Option<i64>)>,
    /// The destination's TCP flags, from a `-Z b` state.
    reverse_flags: Option<u8>,
    proto_name: Option<&'a [u8]>,
    /// Source and destination MAC addresses of a layer-2 record.
    macs: (Option<&'a [u8]>, Option<&'a [u8]>),
}

/// A port as ra prints it: decimal, or `0x` hex (ICMP type/code, and ports of some protocols).
fn argus_port(v: &[u8]) -> Result<u16, String> {
    match v.strip_prefix(b"0x") {
        Some(hex) if !hex.is_empty() && hex.len() <= 4 => std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u16::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad hex port '{}'", show(v))),
        Some(_) => Err(format!("bad hex port '{}'", show(v))),
        None => parse_port(v),
    }
}

impl LineParser for Argus {
    fn format(&self) -> &'static str {
        self.format
    }

    fn extras(&self) -> &[String] {
        &self.extras
    }

    fn parse_line(&self, line: &[u8], out: &mut BatchBuilder, scratch: &mut Scratch) -> Result<Outcome, FieldError> {
        if trim_bytes(line) == self.header.as_slice() {
            return Ok(Outcome::Skipped);
        }
        let ranges = &mut scratch.ranges;
        split_trimmed(line, self.sep, ranges);
        let n = self.names.len();
        if ranges.len() != n || n > 128 {
            return Err(err("line", format!("{} fields where the Argus header has {n}", ranges.len())));
        }
        let mut fields: [&[u8]; 128] = [&[]; 128];
        for (slot, &(s, e)) in fields.iter_mut().zip(ranges.iter()) {
            *slot = &line[s..e];
        }
        let fields = &fields[..n];
        let Some(rec) = self.record(fields)? else {
            return Ok(Outcome::Skipped);
        };
        let mut values: [&[u8]; 128] = [&[]; 128];
        for (k, &pos) in self.map.extra_pos.iter().enumerate() {
            values[k] = fields[pos];
        }
        let proto_name = rec.proto_name;
        let extras = &values[..self.map.extra_pos.len()];
        let bidir = self.split != Split::Totals;
        let base = usize::from(bidir);
        let push = |out: &mut BatchBuilder, f: &Flow, side: &str, (smac, dmac): (Option<&[u8]>, Option<&[u8]>)| {
            out.push(f);
            if bidir {
                out.extra(0, Some(side.as_bytes()));
            }
            out.extra(base, proto_name);
            out.extra(base + 1, smac);
            out.extra(base + 2, dmac);
            for (k, v) in extras.iter().enumerate() {
                out.extra(base + 3 + k, Some(v));
            }
        };
        push(out, &rec.flow, bidir::ORIG, rec.macs);
        match rec.reverse {
            Some((p, b)) => {
                let resp = Flow { flags: rec.reverse_flags, ..bidir::responder(&rec.flow, p, b) };
                push(out, &resp, bidir::RESP, (rec.macs.1, rec.macs.0));
                Ok(Outcome::Rows(2))
            }
            None => Ok(Outcome::Rows(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::fields::parse_date;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
    use arrow_array::{Array, RecordBatch};

    pub(crate) fn run(p: &dyn LineParser, lines: &[&str]) -> (Vec<Result<Outcome, FieldError>>, RecordBatch) {
        crate::ingest::parse_lines(p, lines)
    }

    fn parser(header: &str, date: Option<&str>) -> Argus {
        let time = TimeContext { tz: None, date: date.and_then(parse_date) };
        detect(header.as_bytes(), &time).unwrap().unwrap()
    }

    #[test]
    fn per_direction_counters_make_two_rows() {
        let p = parser(
            "StartTime,LastTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,SrcPkts,DstPkts,SrcBytes,DstBytes,State,Flgs",
            None,
        );
        let (r, b) = run(
            &p,
            &[
                "1795410441.005678,1795410441.004768,man,0,0,,0,0,0,0,0,0,STA,          ",
                "1795410437.690296,1795410437.690331,tcp,10.77.0.1,40508,   ->,10.77.0.2,21,1,1,74,54,RST, e        ",
                "1795410437.691313,1795410437.691313,icmp,10.77.0.2,0x0303,   ->,10.77.0.1,0xa100,1,0,75,0,URP, e        ",
                "1795410434.999503,1795410434.999577,icmp,10.77.0.1,0x0008,  <->,10.77.0.2,0xa956,1,1,98,98,ECO, e        ",
                "1795410437.708615,1795410437.912013,ipv6-icmp,fd77::1,128,  <->,fd77::2,0,2,2,236,236,ECO, e        ",
            ],
        );
        let r: Vec<Outcome> = r.into_iter().map(Result::unwrap).collect();
        assert_eq!(r, [Outcome::Skipped, Outcome::Rows(2), Outcome::Rows(1), Outcome::Rows(2), Outcome::Rows(2)]);
        assert_eq!(b.num_rows(), 7);
        let side = b.column_by_name("side").unwrap().as_string::<i32>();
        let sip = b.column_by_name("sip").unwrap().as_string::<i32>();
        let sport = b.column_by_name("sport").unwrap().as_primitive::<UInt16Type>();
        let dport = b.column_by_name("dport").unwrap().as_primitive::<UInt16Type>();
        let bytes = b.column_by_name("bytes").unwrap().as_primitive::<Int64Type>();
        assert_eq!((side.value(0), side.value(1)), ("orig", "resp"));
        assert_eq!((sip.value(1), sport.value(1), dport.value(1), bytes.value(1)), ("10.77.0.2", 21, 40508, 54));
        // Port unreachable (type 3, code 3); echo request and its reply; ICMPv6 echo and reply.
        assert_eq!((sport.value(2), dport.value(2)), (0, 0x0303));
        assert_eq!((dport.value(3), dport.value(4)), (0x0800, 0));
        assert_eq!((dport.value(5), dport.value(6)), (128 << 8, 129 << 8));
        assert!(b.column_by_name("flags").unwrap().is_null(0), "Argus carries no TCP flags");
        let state = b.column_by_name("State").unwrap().as_string::<i32>();
        assert_eq!(state.value(0), "RST");
        let dir = b.column_by_name("Dir").unwrap().as_string::<i32>();
        assert_eq!(dir.value(3), "<->");
        assert!(b.column_by_name("TotPkts").is_none());
    }

    #[test]
    fn totals_only_default_fields_need_a_date() {
        let header = "StartTime,Flgs,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,TotBytes,State";
        let line = "05:07:14.999503, e        ,icmp,10.77.0.1,0x0008,  <->,10.77.0.2,0xa956,2,196,ECO";
        let (r, _) = run(&parser(header, None), &[line]);
        assert!(r[0].as_ref().unwrap_err().reason.contains("--date"));
        let (r, b) =
            run(&parser(header, Some("2026-11-23")), &[line, "05:07:15.1,,arp,10.77.0.1,,  who,10.77.0.2,,1,42,CON"]);
        assert_eq!(r.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [Outcome::Rows(1), Outcome::Rows(1)]);
        assert!(b.schema().column_with_name("side").is_none());
        let packets = b.column_by_name("packets").unwrap().as_primitive::<Int64Type>();
        assert_eq!(packets.value(0), 2);
        let stime = b.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(stime.value(0), parse_date("2026-11-23").unwrap() * 86_400_000_000 + 18_434_999_503);
        let proto = b.column_by_name("proto").unwrap().as_primitive::<UInt8Type>();
        assert!(proto.is_null(1));
        let name = b.column_by_name(PROTO_NAME).unwrap().as_string::<i32>();
        assert_eq!(name.value(1), "arp");
        assert!(name.is_null(0));
        assert!(b.column_by_name("sport").unwrap().is_null(1), "empty port → null");
    }

    #[test]
    fn tab_separated_and_bad_fields() {
        let p = parser(
            "StartTime\tDur\tProto\tSrcAddr\tSport\tDir\tDstAddr\tDport\tSrcPkts\tDstPkts\tSrcBytes\tDstBytes\tState",
            Some("2026-11-23"),
        );
        let ok = "05:07:13.487950\t0.575984\tipv6-icmp\tfe80::64f8:d4ff:fec5:f237\t143\t   ->\tff02::16\t0\t2\t0\t220\t0\tMHR";
        let (r, b) = run(&p, &[ok]);
        assert_eq!(r[0].as_ref().unwrap(), &Outcome::Rows(1));
        let e = b.column_by_name("etime").unwrap().as_primitive::<TimestampMicrosecondType>();
        let s = b.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(e.value(0) - s.value(0), 575_984);
        for (line, col) in [
            (ok.replace("\t143\t", "\t0xZZ\t"), "Sport"),
            (ok.replace("\t2\t0\t220", "\t-2\t0\t220"), "SrcPkts"),
            (ok.replace("fe80::64f8:d4ff:fec5:f237", "fe80::zz"), "SrcAddr"),
            (ok.replace("\tMHR", ""), "line"),
            (ok.replace("ipv6-icmp", "ip v6"), "Proto"),
        ] {
            let (r, b) = run(&p, &[&line]);
            assert_eq!(r[0].as_ref().unwrap_err().column, col, "{line}");
            assert_eq!(b.num_rows(), 0);
        }
    }

    #[test]
    fn packets_split_between_the_sides() {
        let split = split_packets;
        // Balanced: about half each.
        assert_eq!(split(12, 413, 462), (6, 6));
        assert_eq!(split(100, 10_000, 11_000), (50, 50));
        // A download (host-lab: nfdump saw 120 acknowledgements and 212 data packets): the
        // quiet side at 66 bytes a packet, the rest to the sender.
        assert_eq!(split(332, 7_932, 12_596_912), (120, 212));
        assert_eq!(split(332, 12_596_912, 7_932), (212, 120), "either way round");
        // Never more than half to the quiet side, never less than one.
        assert_eq!(split(32, 1_099, 201_268), (16, 16));
        assert_eq!(split(40, 10, 1_000_000), (1, 39));
        assert_eq!(split(2, 60, 54), (1, 1));
        assert_eq!(split(3, 0, 180), (0, 3), "a source that sent no bytes keeps no packet");
        assert_eq!(split(1, 60, 54), (1, 0));
        for (t, s, d) in [(2, 1, 1), (3, 50, 50), (7, 1, 999), (1000, 123_456, 654_321)] {
            let (a, b) = split(t, s, d);
            assert_eq!(a + b, t);
            assert!(a >= 1 && b >= 1, "{t} {s} {d}: {a} {b}");
        }
    }
}
