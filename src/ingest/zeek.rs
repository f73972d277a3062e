//! Zeek `conn.log`, in both forms Zeek writes:
//!
//! - **TSV**: the header lines `#separator \x09`, `#set_separator`, `#empty_field`,
//!   `#unset_field`, `#path`, `#open`, `#fields`, `#types`, then one connection per line, and a
//!   `#close` trailer. `-` (the unset field) and `(empty)` become null. Comment lines, a repeated
//!   header (concatenated logs) and `#close` are skipped; a later `#fields` line naming other
//!   columns is refused, since one input has one set of columns. Stratosphere's IoT-23 labelled
//!   logs (`conn.log.labeled`) part their last three columns with three spaces instead of a tab,
//!   in `#fields` (`tunnel_parents   label   detailed-label`) and in every line: such a field is
//!   read as the columns it names.
//! - **JSON lines** (`LogAscii::use_json=T`): one object per line, keys as in TSV (`id.orig_h`;
//!   nested `"id": {…}` objects are read as the same dotted names), `ts` as epoch seconds or
//!   ISO 8601. Extra columns are Zeek's default conn.log fields plus the keys seen in the first
//!   lines; a later line with a key outside them is refused (with `--rejects`, kept there).
//!
//! Each connection becomes an originator row (`id.orig_h` → `id.resp_h`, `orig_pkts`,
//! `orig_ip_bytes`) and, when `resp_pkts` is not 0, a responder row (`resp_pkts`,
//! `resp_ip_bytes`), marked `orig`/`resp` in the `side` column. Bytes are IP-level, like
//! NetFlow's. `uid`, `service`, `conn_state`, `history` and the rest are kept as extra columns;
//! they describe the connection and repeat on both of its rows. Zeek records no TCP flags
//! (`history` is not flags), so `flags` is null. For ICMP Zeek puts the type in `id.orig_p` and
//! the code in `id.resp_p`; they become `dport` type*256+code. The protocol is `ip_proto` when
//! the log has it (Zeek 6+), else from `proto` (`icmp` over IPv6 is 58, `unknown_transport` null).

use serde_json::{Map, Value};

use super::batch::{BatchBuilder, Flow};
use super::bidir::{self, err};
use super::delimited::{trim_bytes, Scratch};
use super::fields::Reason;
use super::fields::{parse_count, parse_ip, parse_port, parse_proto, parse_seconds, parse_stamp, show, TimeContext};
use super::{FieldError, LineParser, Outcome};

/// conn.log fields that make up the rows themselves; everything else is an extra column.
const CORE: [&str; 12] = [
    "ts",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "ip_proto",
];

/// Zeek's default conn.log fields beyond [`CORE`]: the extra columns of a JSON log whatever its
/// first lines hold (JSON omits unset fields).
const DEFAULT_EXTRAS: [&str; 10] = [
    "uid",
    "service",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "tunnel_parents",
];

/// Recognizes a Zeek conn.log (or any Zeek log with conn.log's address fields) from the first
/// bytes of an input: TSV by its `#separator` line and `#fields`, JSON by the first object's keys.
pub fn detect(head: &[u8], time: &TimeContext) -> Option<Result<Zeek, String>> {
    let lines = head.split(|&c| c == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.clone().find(|l| !trim_bytes(l).is_empty())?;
    // Real logs are seen with blanks before the first `#` (a tab: `\t#separator \x09`, issue 20).
    if header_line(first).starts_with(b"#separator") {
        return Some(Zeek::tsv(head, time.clone()));
    }
    if first.first() == Some(&b'{') {
        let obj = json_object(first).ok()?;
        if !(obj.contains_key("id.orig_h") && obj.contains_key("id.resp_h")) {
            return None;
        }
        let keys = lines
            .filter(|l| l.first() == Some(&b'{'))
            .filter_map(|l| json_object(l).ok())
            .flat_map(|o| o.into_iter().map(|(k, _)| k).collect::<Vec<_>>());
        return Some(Ok(Zeek::json(keys, time.clone())));
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Tsv { sep: u8 },
    Json,
}

/// Positions (TSV) of the core fields.
#[derive(Debug, Clone, Default)]
struct Map_ {
    ts: usize,
    orig_h: usize,
    orig_p: Option<usize>,
    resp_h: usize,
    resp_p: Option<usize>,
    proto: Option<usize>,
    duration: Option<usize>,
    orig_pkts: Option<usize>,
    orig_ip_bytes: Option<usize>,
    resp_pkts: Option<usize>,
    resp_ip_bytes: Option<usize>,
    ip_proto: Option<usize>,
}

/// What parts the columns of a composite `#fields` name and its values (IoT-23's labelled logs).
const COMPOSITE: &str = "   ";

/// A parser for one Zeek log.
pub struct Zeek {
    layout: Layout,
    /// TSV: the field names from `#fields`; JSON: the extra columns' input names.
    fields: Vec<String>,
    /// TSV: the `#fields` line, to skip repeats and refuse a different one.
    fields_line: Vec<u8>,
    /// TSV: a field of `#fields` that names several columns parted by three spaces (IoT-23's
    /// `tunnel_parents   label   detailed-label`): its position among the separated fields, and
    /// how many columns it holds. Its values are parted the same way.
    composite: Option<(usize, usize)>,
    unset: Vec<u8>,
    empty: Vec<u8>,
    map: Map_,
    /// TSV field positions of the extra columns (after `side`).
    extra_pos: Vec<usize>,
    /// `side`, then the extra columns.
    extras: Vec<String>,
    time: TimeContext,
}

/// A line without the blanks before its `#`, when it is a header or comment line; any other
/// line as it is (a data line's leading tab is an empty first field).
fn header_line(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&c| c != b' ' && c != b'\t').unwrap_or(line.len());
    if line.get(start) == Some(&b'#') {
        &line[start..]
    } else {
        line
    }
}

/// Reads a `#separator` value: `\x09` escapes or the character itself.
fn unescape(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && v.get(i + 1) == Some(&b'x') && i + 4 <= v.len() {
            if let Some(b) = std::str::from_utf8(&v[i + 2..i + 4]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

fn json_object(line: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(o)) => Ok(flatten(o)),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("bad JSON: {e}")),
    }
}

/// Nested objects (`"id": {"orig_h": …}`) as Zeek's dotted names (`id.orig_h`).
fn flatten(o: Map<String, Value>) -> Map<String, Value> {
    if !o.values().any(Value::is_object) {
        return o;
    }
    let mut out = Map::new();
    for (k, v) in o {
        match v {
            Value::Object(inner) => {
                for (k2, v2) in flatten(inner) {
                    out.insert(format!("{k}.{k2}"), v2);
                }
            }
            v => {
                out.insert(k, v);
            }
        }
    }
    out
}

impl Zeek {
    fn tsv(head: &[u8], time: TimeContext) -> Result<Zeek, String> {
        let mut sep = b'\t';
        let mut unset = b"-".to_vec();
        let mut empty = b"(empty)".to_vec();
        let mut fields_line = None;
        for line in head.split(|&c| c == b'\n').map(|l| header_line(l.strip_suffix(b"\r").unwrap_or(l))) {
            if !line.starts_with(b"#") {
                if trim_bytes(line).is_empty() {
                    continue;
                }
                break;
            }
            if let Some(v) = line.strip_prefix(b"#separator ") {
                match unescape(trim_bytes(v)).as_slice() {
                    [b] => sep = *b,
                    _ => return Err(format!("Zeek #separator '{}' is not one character", show(v))),
                }
                continue;
            }
            let (key, value) = match memchr::memchr(sep, line) {
                Some(p) => (&line[..p], &line[p + 1..]),
                None => (line, &b""[..]),
            };
            match key {
                b"#unset_field" => unset = value.to_vec(),
                b"#empty_field" => empty = value.to_vec(),
                b"#fields" => {
                    fields_line = Some(line.to_vec());
                    break;
                }
                _ => {}
            }
        }
        let fields_line = fields_line.ok_or("a Zeek log without a #fields line in its header")?;
        let mut fields: Vec<String> = Vec::new();
        let mut composite = None;
        for (i, f) in fields_line.split(|&c| c == sep).skip(1).enumerate() {
            let f = String::from_utf8_lossy(f).into_owned();
            let names: Vec<&str> = f.split(COMPOSITE).map(str::trim).collect();
            if names.len() > 1 && composite.is_none() && names.iter().all(|n| !n.is_empty() && !n.contains(' ')) {
                composite = Some((i, names.len()));
                fields.extend(names.iter().map(|n| n.to_string()));
            } else {
                fields.push(f);
            }
        }
        let pos = |n: &str| fields.iter().position(|f| f == n);
        let need = |n: &str| pos(n).ok_or_else(|| format!("Zeek #fields has no '{n}'; is this a conn.log?"));
        let map = Map_ {
            ts: need("ts")?,
            orig_h: need("id.orig_h")?,
            orig_p: pos("id.orig_p"),
            resp_h: need("id.resp_h")?,
            resp_p: pos("id.resp_p"),
            proto: pos("proto"),
            duration: pos("duration"),
            orig_pkts: pos("orig_pkts"),
            orig_ip_bytes: pos("orig_ip_bytes"),
            resp_pkts: pos("resp_pkts"),
            resp_ip_bytes: pos("resp_ip_bytes"),
            ip_proto: pos("ip_proto"),
        };
        let mut extras = vec![bidir::SIDE.to_string()];
        let mut extra_pos = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            if !CORE.contains(&f.as_str()) {
                extra_pos.push(i);
                extras.push(extra_name(f)?);
            }
        }
        Ok(Zeek {
            layout: Layout::Tsv { sep },
            fields,
            fields_line,
            composite,
            unset,
            empty,
            map,
            extra_pos,
            extras,
            time,
        })
    }

    fn json(keys: impl Iterator<Item = String>, time: TimeContext) -> Zeek {
        let mut names: Vec<String> = DEFAULT_EXTRAS.iter().map(|s| s.to_string()).collect();
        for k in keys {
            if !CORE.contains(&k.as_str()) && !names.contains(&k) && extra_name(&k).is_ok() {
                names.push(k);
            }
        }
        let mut extras = vec![bidir::SIDE.to_string()];
        extras.extend(names.iter().map(|n| crate::schema::extra_column_name(n)));
        Zeek {
            layout: Layout::Json,
            fields: names,
            fields_line: Vec::new(),
            composite: None,
            unset: Vec::new(),
            empty: Vec::new(),
            map: Map_::default(),
            extra_pos: Vec::new(),
            extras,
            time,
        }
    }

    pub fn is_json(&self) -> bool {
        self.layout == Layout::Json
    }

    /// Builds the originator's flow and the responder's counters from the core values.
    fn flows<'a>(&self, v: &Core<'a>) -> Result<(Flow<'a>, Responder), FieldError> {
        let e = |c: &'static str| move |r: Reason| err(c, r);
        let sip = parse_ip(v.orig_h).map_err(e("id.orig_h"))?;
        let dip = parse_ip(v.resp_h).map_err(e("id.resp_h"))?;
        let proto = match (v.ip_proto, v.proto) {
            (Some(p), _) => Some(parse_proto(p).map_err(e("ip_proto"))?),
            (None, None) | (None, Some(b"unknown_transport")) => None,
            (None, Some(b"icmp")) if sip.as_str().contains(':') => Some(58),
            (None, Some(p)) => Some(parse_proto(p).map_err(e("proto"))?),
        };
        let port = |v: Option<&[u8]>, c: &'static str| v.map(|p| parse_port(p).map_err(e(c))).transpose();
        let (mut sport, mut dport) = (port(v.orig_p, "id.orig_p")?, port(v.resp_p, "id.resp_p")?);
        if bidir::is_icmp(proto) {
            let (t, c) = (sport.unwrap_or(0), dport.unwrap_or(0));
            if t > 255 || c > 255 {
                return Err(err("id.orig_p", format!("bad ICMP type {t} / code {c}")));
            }
            sport = Some(0);
            dport = Some(t << 8 | c);
        }
        let stime = Some(zeek_time(v.ts, &self.time).map_err(e("ts"))?);
        let dur = v.duration.map(|d| seconds_rounded(d).map_err(e("duration"))).transpose()?;
        let etime = match (stime, dur) {
            (Some(s), Some(d)) => Some(s.checked_add(d).ok_or_else(|| err("duration", "time out of range"))?),
            (s, None) => s,
            _ => None,
        };
        let count = |v: Option<&[u8]>, c: &'static str| v.map(|x| parse_count(x).map_err(e(c))).transpose();
        let packets = count(v.orig_pkts, "orig_pkts")?;
        let bytes = count(v.orig_ip_bytes, "orig_ip_bytes")?;
        let resp_pkts = count(v.resp_pkts, "resp_pkts")?;
        let resp_bytes = count(v.resp_ip_bytes, "resp_ip_bytes")?;
        let reverse = resp_pkts.filter(|&p| p > 0).map(|p| (p, resp_bytes));
        Ok((Flow { stime, etime, sip, dip, sport, dport, proto, packets, bytes, flags: None }, reverse))
    }

    fn push(&self, out: &mut BatchBuilder, flow: &Flow, reverse: Responder, extras: &[Option<&[u8]>]) -> Outcome {
        let mut put = |f: &Flow, side: &str| {
            out.push(f);
            out.extra(0, Some(side.as_bytes()));
            for (k, v) in extras.iter().enumerate() {
                out.extra(1 + k, *v);
            }
        };
        put(flow, bidir::ORIG);
        match reverse {
            Some((p, b)) => {
                put(&bidir::responder(flow, Some(p), b), bidir::RESP);
                Outcome::Rows(2)
            }
            None => Outcome::Rows(1),
        }
    }

    fn parse_tsv(
        &self,
        sep: u8,
        line: &[u8],
        out: &mut BatchBuilder,
        scratch: &mut Scratch,
    ) -> Result<Outcome, FieldError> {
        let line = header_line(line);
        if line.first() == Some(&b'#') {
            if line.starts_with(b"#fields") && line != self.fields_line.as_slice() {
                return Err(err(
                    "#fields",
                    "a second header with other columns (concatenated logs of different versions?): convert them separately",
                ));
            }
            return Ok(Outcome::Skipped);
        }
        let ranges = &mut scratch.ranges;
        ranges.clear();
        let mut start = 0;
        for p in memchr::memchr_iter(sep, line) {
            ranges.push((start, p));
            start = p + 1;
        }
        ranges.push((start, line.len()));
        if let Some((at, parts)) = self.composite {
            if let Some(&(s, e)) = ranges.get(at) {
                let value = &line[s..e];
                let cuts: Vec<usize> = memchr::memmem::find_iter(value, COMPOSITE.as_bytes()).collect();
                if cuts.len() + 1 != parts {
                    return Err(err(
                        &self.fields[at],
                        format!(
                            "'{}' is not {parts} values parted by three spaces, as its #fields name is",
                            show(value)
                        ),
                    ));
                }
                let mut sub = Vec::with_capacity(parts);
                let mut from = 0;
                for c in cuts.into_iter().chain([value.len()]) {
                    sub.push((s + from, s + c));
                    from = c + COMPOSITE.len();
                }
                ranges.splice(at..at + 1, sub);
            }
        }
        let n = self.fields.len();
        if ranges.len() != n || n > 128 {
            return Err(err("line", format!("{} fields where #fields has {n}", ranges.len())));
        }
        let mut f: [Option<&[u8]>; 128] = [None; 128];
        for (slot, &(s, e)) in f.iter_mut().zip(ranges.iter()) {
            let v = &line[s..e];
            *slot = (v != self.unset.as_slice() && v != self.empty.as_slice() && !v.is_empty()).then_some(v);
        }
        let m = &self.map;
        let get = |i: Option<usize>| i.and_then(|i| f[i]);
        let core = Core {
            ts: f[m.ts].ok_or_else(|| err("ts", "unset"))?,
            orig_h: f[m.orig_h].ok_or_else(|| err("id.orig_h", "missing address"))?,
            orig_p: get(m.orig_p),
            resp_h: f[m.resp_h].ok_or_else(|| err("id.resp_h", "missing address"))?,
            resp_p: get(m.resp_p),
            proto: get(m.proto),
            duration: get(m.duration),
            orig_pkts: get(m.orig_pkts),
            orig_ip_bytes: get(m.orig_ip_bytes),
            resp_pkts: get(m.resp_pkts),
            resp_ip_bytes: get(m.resp_ip_bytes),
            ip_proto: get(m.ip_proto),
        };
        let (flow, reverse) = self.flows(&core)?;
        let mut values: [Option<&[u8]>; 128] = [None; 128];
        for (k, &pos) in self.extra_pos.iter().enumerate() {
            values[k] = f[pos];
        }
        Ok(self.push(out, &flow, reverse, &values[..self.extra_pos.len()]))
    }

    fn parse_json(&self, line: &[u8], out: &mut BatchBuilder) -> Result<Outcome, FieldError> {
        let obj = json_object(trim_bytes(line)).map_err(|r| err("line", r))?;
        for k in obj.keys() {
            if !CORE.contains(&k.as_str()) && !self.fields.iter().any(|f| f == k) {
                return Err(err(
                    k,
                    "a field not in the first lines of this log nor in Zeek's default conn.log; convert it separately",
                ));
            }
        }
        let scalar = |k: &str| -> Result<Option<String>, FieldError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(other) => Err(err(k, format!("expected a number or string, found {other}"))),
            }
        };
        let vals: Vec<Option<String>> = CORE.iter().map(|k| scalar(k)).collect::<Result<_, _>>()?;
        let b = |i: usize| vals[i].as_deref().map(str::as_bytes);
        let core = Core {
            ts: b(0).ok_or_else(|| err("ts", "missing"))?,
            orig_h: b(1).ok_or_else(|| err("id.orig_h", "missing address"))?,
            orig_p: b(2),
            resp_h: b(3).ok_or_else(|| err("id.resp_h", "missing address"))?,
            resp_p: b(4),
            proto: b(5),
            duration: b(6),
            orig_pkts: b(7),
            orig_ip_bytes: b(8),
            resp_pkts: b(9),
            resp_ip_bytes: b(10),
            ip_proto: b(11),
        };
        let (flow, reverse) = self.flows(&core)?;
        let texts: Vec<Option<String>> = self.fields.iter().map(|f| obj.get(f).and_then(json_text)).collect();
        let refs: Vec<Option<&[u8]>> = texts.iter().map(|t| t.as_deref().map(str::as_bytes)).collect();
        Ok(self.push(out, &flow, reverse, &refs))
    }
}

/// The responder's packets and bytes, when it sent any.
type Responder = Option<(i64, Option<i64>)>;

/// The core values of one connection, as text.
struct Core<'a> {
    ts: &'a [u8],
    orig_h: &'a [u8],
    orig_p: Option<&'a [u8]>,
    resp_h: &'a [u8],
    resp_p: Option<&'a [u8]>,
    proto: Option<&'a [u8]>,
    duration: Option<&'a [u8]>,
    orig_pkts: Option<&'a [u8]>,
    orig_ip_bytes: Option<&'a [u8]>,
    resp_pkts: Option<&'a [u8]>,
    resp_ip_bytes: Option<&'a [u8]>,
    ip_proto: Option<&'a [u8]>,
}

/// A JSON value as the text Zeek's TSV would show: booleans `T`/`F`, sets and vectors joined with
/// commas, empty ones null.
fn json_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(if *b { "T" } else { "F" }.into()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) => Some(a.iter().filter_map(json_text).collect::<Vec<_>>().join(",")),
        Value::Object(_) => Some(v.to_string()),
    }
}

fn extra_name(field: &str) -> Result<String, String> {
    let name = crate::schema::extra_column_name(field);
    if crate::schema::CORE_COLUMNS.contains(&name.as_str()) || name == bidir::SIDE {
        return Err(format!("Zeek field '{field}' has the name of a flow column"));
    }
    Ok(name)
}

/// `ts`: epoch seconds (TSV, JSON default) or ISO 8601 (`JSON::TS_ISO8601`).
fn zeek_time(v: &[u8], time: &TimeContext) -> Result<i64, Reason> {
    if v.contains(&b'-') || v.contains(&b'T') {
        return parse_stamp(v).and_then(|s| time.resolve(s));
    }
    seconds_rounded(v)
}

/// Seconds as microseconds. Zeek's JSON prints doubles in full (`0.06685185432434082`); those are
/// rounded to the microsecond, as its TSV writer does with `%.6f`.
fn seconds_rounded(v: &[u8]) -> Result<i64, Reason> {
    let frac = memchr::memchr(b'.', v).map_or(0, |p| v.len() - p - 1);
    if frac <= 6 && !v.contains(&b'e') && !v.contains(&b'E') {
        return parse_seconds(v);
    }
    let x: f64 =
        std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad seconds '{}'", show(v)))?;
    if !(0.0..9.0e12).contains(&x) {
        return Err(format!("seconds out of range '{}'", show(v)));
    }
    Ok((x * 1e6).round() as i64)
}

impl LineParser for Zeek {
    fn format(&self) -> &'static str {
        match self.layout {
            Layout::Tsv { .. } => "zeek",
            Layout::Json => "zeek-json",
        }
    }

    fn extras(&self) -> &[String] {
        &self.extras
    }

    fn parse_line(&self, line: &[u8], out: &mut BatchBuilder, scratch: &mut Scratch) -> Result<Outcome, FieldError> {
        match self.layout {
            Layout::Tsv { sep } => self.parse_tsv(sep, line, out, scratch),
            Layout::Json => self.parse_json(line, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
    use arrow_array::{Array, RecordBatch};

    const TSV: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2021-09-29-11-39-42
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
1632928690.500620\tCvVbVi3kNVC4LPU90f\t192.168.1.99\t62978\t192.168.1.1\t53\tudp\tdns\t0.027648\t55\t134\tSF\t-\t-\t0\tDd\t1\t83\t1\t162\t-
1521911720.601310\tCD3zwQ1YDr4XiQzO1e\t10.128.0.207\t59777\t10.47.28.6\t443\ttcp\t-\t0.000002\t0\t0\tS0\t-\t-\t0\tS\t2\t88\t0\t0\t-
1521911720.1\tCicmp\tfd00::1\t128\tfd00::2\t0\ticmp\t-\t-\t-\t-\tOTH\tT\tF\t0\t-\t1\t104\t1\t104\t(empty)
#close\t2021-09-29-11-39-42
";

    fn run(head: &str, lines: &[&str]) -> (Vec<Result<Outcome, FieldError>>, RecordBatch) {
        let p = detect(head.as_bytes(), &TimeContext::default()).expect("detected").expect("parser");
        crate::ingest::parse_lines(&p, lines)
    }

    /// Issue 20: a real conn.log whose first line is `\t#separator \x09` was "cannot tell the
    /// format".
    #[test]
    fn a_tab_before_the_first_hash_is_still_zeek() {
        let tabbed = format!("\t{TSV}");
        let lines: Vec<&str> = tabbed.lines().collect();
        let (results, batch) = run(&tabbed, &lines);
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        let plain: Vec<&str> = TSV.lines().collect();
        assert_eq!(batch, run(TSV, &plain).1);
    }

    #[test]
    fn tsv_rows_sides_and_header_lines() {
        let (r, b) = run(TSV, &TSV.lines().collect::<Vec<_>>());
        let r: Vec<Outcome> = r.into_iter().map(Result::unwrap).collect();
        assert_eq!(r.iter().filter(|o| **o == Outcome::Skipped).count(), 9, "8 header lines and #close");
        assert_eq!(&r[8..11], [Outcome::Rows(2), Outcome::Rows(1), Outcome::Rows(2)]);
        assert_eq!(b.num_rows(), 5);
        let side = b.column_by_name("side").unwrap().as_string::<i32>();
        assert_eq!((side.value(0), side.value(1), side.value(2)), ("orig", "resp", "orig"));
        let sip = b.column_by_name("sip").unwrap().as_string::<i32>();
        let sport = b.column_by_name("sport").unwrap().as_primitive::<UInt16Type>();
        let dport = b.column_by_name("dport").unwrap().as_primitive::<UInt16Type>();
        assert_eq!((sip.value(1), sport.value(1), dport.value(1)), ("192.168.1.1", 53, 62978));
        let bytes = b.column_by_name("bytes").unwrap().as_primitive::<Int64Type>();
        assert_eq!((bytes.value(0), bytes.value(1)), (83, 162), "IP-level bytes");
        let stime = b.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>();
        let etime = b.column_by_name("etime").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!((stime.value(0), etime.value(0)), (1_632_928_690_500_620, 1_632_928_690_528_268));
        // ICMPv6 echo (Zeek says icmp; the address says v6): type in orig_p, code in resp_p.
        let proto = b.column_by_name("proto").unwrap().as_primitive::<UInt8Type>();
        assert_eq!((proto.value(3), sport.value(3), dport.value(3), dport.value(4)), (58, 0, 128 << 8, 129 << 8));
        assert_eq!(etime.value(3), stime.value(3), "unset duration");
        assert!(b.column_by_name("flags").unwrap().is_null(0));
        let history = b.column_by_name("history").unwrap().as_string::<i32>();
        assert_eq!((history.value(0), history.value(1)), ("Dd", "Dd"), "connection columns repeat");
        let local = b.column_by_name("local_orig").unwrap().as_string::<i32>();
        assert!(local.is_null(0) && local.value(3) == "T");
        assert!(b.column_by_name("tunnel_parents").unwrap().is_null(3), "(empty) → null");
        assert!(b.column_by_name("orig_pkts").is_none(), "counters become rows, not extras");
    }

    #[test]
    fn tsv_bad_lines() {
        let data: Vec<&str> = TSV.lines().filter(|l| !l.starts_with('#')).collect();
        let good = data[0];
        for (line, col) in [
            (good.replace("\t62978\t", "\t70000\t"), "id.orig_p"),
            (good.replace("192.168.1.99", "192.168.1.999"), "id.orig_h"),
            (good.replace("\t1\t83\t", "\t-1\t83\t"), "orig_pkts"),
            (good.replace("1632928690.500620", "yesterday"), "ts"),
            (good.replace("\tDd\t", "\t"), "line"),
            ("#fields\tts\tid.orig_h".to_string(), "#fields"),
        ] {
            let (r, b) = run(TSV, &[&line]);
            assert_eq!(r[0].as_ref().unwrap_err().column, col, "{line}");
            assert_eq!(b.num_rows(), 0);
        }
    }

    #[test]
    fn json_lines() {
        let lines = [
            r#"{"ts":1591367999.305988,"uid":"CMdzit1AMNsmfAIiQc","id.orig_h":"192.168.4.76","id.orig_p":36844,"id.resp_h":"192.168.4.1","id.resp_p":53,"proto":"udp","service":"dns","duration":0.06685185432434082,"orig_bytes":62,"resp_bytes":141,"conn_state":"SF","missed_bytes":0,"history":"Dd","orig_pkts":2,"orig_ip_bytes":118,"resp_pkts":2,"resp_ip_bytes":197}"#,
            r#"{"ts":"2009-11-18T08:08:00.237254Z","uid":"C2","id":{"orig_h":"192.168.1.103","orig_p":137,"resp_h":"192.168.1.255","resp_p":137},"proto":"udp","conn_state":"S0","local_orig":true,"orig_pkts":7,"orig_ip_bytes":546,"resp_pkts":0,"resp_ip_bytes":0,"tunnel_parents":[]}"#,
        ];
        let head = lines.join("\n");
        let (r, b) = run(&head, &lines);
        assert_eq!(r.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [Outcome::Rows(2), Outcome::Rows(1)]);
        let stime = b.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>();
        let etime = b.column_by_name("etime").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(stime.value(0), 1_591_367_999_305_988);
        assert_eq!(etime.value(0) - stime.value(0), 66_852, "rounded as Zeek's TSV prints it");
        assert_eq!(stime.value(2), 1_258_531_680_237_254);
        let local = b.column_by_name("local_orig").unwrap().as_string::<i32>();
        assert_eq!(local.value(2), "T");
        let dur = b.column_by_name("resp_bytes").unwrap().as_string::<i32>();
        assert_eq!(dur.value(0), "141");
        let (r, _) = run(&head, &[r#"{"ts":1,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.2","novel":1}"#, "{"]);
        assert_eq!(r[0].as_ref().unwrap_err().column, "novel");
        assert_eq!(r[1].as_ref().unwrap_err().column, "line");
    }

    #[test]
    fn detection() {
        let t = TimeContext::default();
        assert!(detect(b"#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_h\n", &t).unwrap().is_ok());
        assert!(detect(b"#separator \\x09\n#path\tconn\n", &t).unwrap().is_err());
        assert!(detect(b"{\"a\":1}\n", &t).is_none());
        assert!(detect(b"sip,dip\n", &t).is_none());
        assert_eq!(unescape(b"\\x09"), b"\t");
        assert_eq!(unescape(b"\\x2"), b"\\x2");
    }

    /// IoT-23's `conn.log.labeled`: the last three columns parted by three spaces, in `#fields`
    /// and in the lines (the layout of the Stratosphere files).
    #[test]
    fn iot23_labelled_columns_are_parted() {
        let log = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
#open\t2018-05-09-15-30-31\n\
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents   label   detailed-label\n\
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]   string   string\n";
        let p = detect(log.as_bytes(), &TimeContext::default()).unwrap().unwrap();
        let lines = [
            "1525879831.015811\tCUmrqr4svHuSXJy5z7\t192.168.100.103\t51524\t65.127.233.163\t23\ttcp\t-\t2.999051\t0\t0\tS0\t-\t-\t0\tS\t3\t180\t0\t0\t(empty)   Malicious   PartOfAHorizontalPortScan",
            "1525879832.025055\tC2\t192.168.100.103\t56305\t63.150.16.171\t80\ttcp\thttp\t0.1\t10\t20\tSF\t-\t-\t0\tShADadFf\t5\t300\t4\t900\t-   Benign   -",
            "1525879833.0\tC3\t192.168.100.103\t56306\t63.150.16.171\t80\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t60\t0\t0\t-   Benign",
        ];
        let (r, b) = crate::ingest::parse_lines(&p, &lines);
        assert!(matches!(r[0], Ok(Outcome::Rows(1))), "{:?}", r[0]);
        assert!(matches!(r[1], Ok(Outcome::Rows(2))), "{:?}", r[1]);
        assert_eq!(r[2].as_ref().unwrap_err().column, "tunnel_parents", "two values where three are named");
        let col = |n: &str| b.column_by_name(n).unwrap_or_else(|| panic!("no column {n}")).as_string::<i32>().clone();
        let (label, detailed, tunnel) = (col("label"), col("detailed-label"), col("tunnel_parents"));
        assert_eq!((label.value(0), detailed.value(0)), ("Malicious", "PartOfAHorizontalPortScan"));
        assert!(tunnel.is_null(0) && tunnel.is_null(1), "(empty) and - are null");
        assert_eq!((label.value(1), label.value(2)), ("Benign", "Benign"), "repeated on the responder row");
        assert!(detailed.is_null(1));
    }
}
