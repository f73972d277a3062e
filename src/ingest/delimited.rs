//! The machinery shared by the header-driven text formats (rwcut, whitespace tables, CSV/TSV):
//! splitting a line into fields, and turning fields into a [`Flow`] through the column roles.

use super::batch::{BatchBuilder, Flow};
use super::columns::{map_header, Role};
use super::fields::{
    byte_hits, high_bits, parse_count, parse_flags, parse_ip, parse_port, parse_proto, parse_seconds, parse_stamp,
    word, TimeContext,
};
use super::{FieldError, LineParser, Outcome};

/// How a line splits into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// A single separator byte; fields are trimmed of blanks (rwcut pads its columns).
    /// With `quotes`, RFC 4180 double quotes are honoured (CSV).
    Char { sep: u8, quotes: bool },
    /// Runs of spaces and tabs (the SEI seed's tables).
    Whitespace,
}

impl Split {
    /// Splits `line` into `ranges` (start, end) of `base`, where `base` is `line` itself or, for a
    /// quoted CSV line, `scratch` holding the unquoted text. Returns true when `scratch` is used.
    pub fn split(&self, line: &[u8], scratch: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> bool {
        ranges.clear();
        match *self {
            Split::Whitespace => {
                let mut i = 0;
                let n = line.len();
                while i < n {
                    while i < n && (line[i] == b' ' || line[i] == b'\t') {
                        i += 1;
                    }
                    if i == n {
                        break;
                    }
                    let start = i;
                    while i < n && line[i] != b' ' && line[i] != b'\t' {
                        i += 1;
                    }
                    ranges.push((start, i));
                }
                false
            }
            Split::Char { sep, quotes } => {
                if quotes && memchr::memchr(b'"', line).is_some() {
                    split_quoted(line, sep, scratch, ranges);
                    return true;
                }
                let mut start = 0;
                for_each_byte(line, sep, |p| {
                    ranges.push(trim(line, start, p));
                    start = p + 1;
                });
                ranges.push(trim(line, start, line.len()));
                false
            }
        }
    }
}

/// Calls `f` with the position of every `needle` in `hay`, in order. Works on 8-byte words
/// (SWAR): fields are only a few bytes long, so a memchr call per field costs more in call
/// overhead than it saves, and a byte loop costs a branch per byte.
#[inline]
fn for_each_byte(hay: &[u8], needle: u8, mut f: impl FnMut(usize)) {
    let words = hay.len() / 8;
    for w in 0..words {
        let mut hits = byte_hits(word(&hay[w * 8..w * 8 + 8]), needle);
        while hits != 0 {
            f(w * 8 + (hits.trailing_zeros() / 8) as usize);
            hits &= hits - 1;
        }
    }
    for (i, &c) in hay[words * 8..].iter().enumerate() {
        if c == needle {
            f(words * 8 + i);
        }
    }
}

/// The separator positions of a fixed-width layout: rwcut pads every column to the width of its
/// title, so nearly every data line has its separators exactly where the title line has them.
/// A line that matches splits without a branch per separator; any other line takes the general
/// path, and the fields are the same either way.
#[derive(Debug, Clone)]
struct Template {
    sep: u8,
    len: usize,
    /// Per whole 8-byte word of the line, the SWAR hit mask of its separators (`byte_hits`).
    words: Vec<u64>,
    /// Bit i is set when byte i of the last, partial word is a separator.
    tail: u8,
    /// The (start, end) of each field, untrimmed, as `Split::split` cuts them.
    spans: Vec<(usize, usize)>,
}

/// Bit i is set when `line[from + i]` is `sep`, for the (fewer than 8) bytes from `from` on.
/// A line of 8 bytes or more is read as its last word, whose top bytes these are.
#[inline(always)]
fn tail_mask(line: &[u8], from: usize, sep: u8) -> u8 {
    let n = line.len();
    if n < 8 {
        return line[from..].iter().enumerate().fold(0, |m, (i, &c)| m | (u8::from(c == sep) << i));
    }
    (u16::from(high_bits(byte_hits(word(&line[n - 8..]), sep))) >> (8 - (n - from))) as u8
}

impl Template {
    fn new(line: &[u8], sep: u8) -> Self {
        let words: Vec<u64> = (0..line.len() / 8).map(|w| byte_hits(word(&line[w * 8..w * 8 + 8]), sep)).collect();
        let mut spans = Vec::new();
        let mut start = 0;
        for_each_byte(line, sep, |p| {
            spans.push((start, p));
            start = p + 1;
        });
        spans.push((start, line.len()));
        let tail = tail_mask(line, words.len() * 8, sep);
        Template { sep, len: line.len(), words, tail, spans }
    }

    /// Fills `ranges` with the trimmed fields of `line` when its separators are exactly the
    /// template's, and returns true; returns false (leaving `ranges` to the general split)
    /// otherwise.
    #[inline]
    fn split(&self, line: &[u8], ranges: &mut Vec<(usize, usize)>) -> bool {
        if line.len() != self.len {
            return false;
        }
        let mut differ = 0u64;
        for (w, &want) in self.words.iter().enumerate() {
            differ |= byte_hits(word(&line[w * 8..w * 8 + 8]), self.sep) ^ want;
        }
        if differ != 0 || tail_mask(line, self.words.len() * 8, self.sep) != self.tail {
            return false;
        }
        ranges.clear();
        ranges.extend(self.spans.iter().map(|&(s, e)| trim(line, s, e)));
        true
    }
}

#[inline(always)]
fn trim(line: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    // rwcut right-aligns its columns, so most fields start with a run of spaces: skip them
    // eight at a time (a word XOR 0x20… is zero in exactly the space bytes).
    while s + 8 <= e {
        let x = word(&line[s..s + 8]) ^ 0x2020_2020_2020_2020;
        if x != 0 {
            s += (x.trailing_zeros() / 8) as usize;
            break;
        }
        s += 8;
    }
    while s < e && is_blank(line[s]) {
        s += 1;
    }
    while e > s && is_blank(line[e - 1]) {
        e -= 1;
    }
    (s, e)
}

#[inline(always)]
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn split_quoted(line: &[u8], sep: u8, out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i] == b' ' {
            i += 1;
        }
        let start = out.len();
        if i < n && line[i] == b'"' {
            i += 1;
            while i < n {
                if line[i] == b'"' {
                    if i + 1 < n && line[i + 1] == b'"' {
                        out.push(b'"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                out.push(line[i]);
                i += 1;
            }
            while i < n && line[i] != sep {
                i += 1;
            }
            ranges.push((start, out.len()));
        } else {
            let s = i;
            while i < n && line[i] != sep {
                i += 1;
            }
            let (a, b) = trim(line, s, i);
            out.extend_from_slice(&line[a..b]);
            ranges.push((start, out.len()));
        }
        if i >= n {
            break;
        }
        i += 1; // the separator
        if i == n {
            ranges.push((out.len(), out.len()));
            break;
        }
    }
}

/// Field positions of each role, resolved once per input.
#[derive(Debug, Clone, Default)]
struct RowMap {
    stime: Option<usize>,
    etime: Option<usize>,
    duration: Option<usize>,
    sip: usize,
    dip: usize,
    sport: Option<usize>,
    dport: Option<usize>,
    proto: Option<usize>,
    packets: Option<usize>,
    bytes: Option<usize>,
    flags: Option<usize>,
    itype: Option<usize>,
    icode: Option<usize>,
    /// The second column of a time printed at two precisions (`rwcut --all-fields`'s
    /// `sTime+msec`, `eTime+msec`, `dur+msec`), beside `stime`, `etime` and `duration`.
    stime2: Option<usize>,
    etime2: Option<usize>,
    duration2: Option<usize>,
    /// (field position, local extra index)
    extras: Vec<(usize, usize)>,
}

/// A header-driven delimited text parser. The rwcut, table and CSV formats each configure one.
pub struct Delimited {
    format: &'static str,
    split: Split,
    names: Vec<String>,
    map: RowMap,
    extras: Vec<String>,
    /// The header line (trimmed) so that repeated headers (concatenated files) are skipped.
    header: Option<Vec<u8>>,
    /// A column that may be missing from a row one field short (FLAGS on the seed's UDP rows).
    optional: Option<usize>,
    /// The title line's layout, when the columns are padded to fixed widths (rwcut).
    template: Option<Template>,
    time: TimeContext,
    /// By local extra index: the column is an integer one (`schema::INTEGER_EXTRAS`).
    integer: Vec<bool>,
}

impl Delimited {
    /// Builds a parser for columns `names`. `header` is the header line when the input has one.
    pub fn new(
        format: &'static str,
        split: Split,
        names: Vec<String>,
        header: Option<Vec<u8>>,
        time: TimeContext,
    ) -> Result<Self, String> {
        let roles = map_header(&names)?;
        let pos = |r: Role| roles.iter().position(|&x| x == r);
        // `map_header` lets a time role appear twice only as a precision pair.
        let second = |r: Role| roles.iter().enumerate().filter(|&(_, &x)| x == r).nth(1).map(|(i, _)| i);
        let sip = pos(Role::Sip).ok_or_else(|| missing_address("source", &names))?;
        let dip = pos(Role::Dip).ok_or_else(|| missing_address("destination", &names))?;
        let mut extras = Vec::new();
        let mut extra_pos = Vec::new();
        for (i, r) in roles.iter().enumerate() {
            if *r == Role::Extra && !names[i].trim().is_empty() {
                extra_pos.push((i, extras.len()));
                let name = crate::schema::extra_column_name(&names[i]);
                // rwcut abbreviates some titles (`sen`); store SiLK's field name, the name a CSV
                // of the same flows carries, so that a store mixing both reads as one table.
                let name = match format {
                    "rwcut" => crate::schema::silk_field_name(&name).to_string(),
                    _ => name,
                };
                extras.push(name);
            }
        }
        if let Some(clash) = extras.iter().find(|e| crate::schema::CORE_COLUMNS.contains(&e.as_str())) {
            return Err(format!("extra column '{clash}' has the name of a core flow column"));
        }
        let map = RowMap {
            stime: pos(Role::Stime),
            etime: pos(Role::Etime),
            duration: pos(Role::Duration),
            sip,
            dip,
            sport: pos(Role::Sport),
            dport: pos(Role::Dport),
            proto: pos(Role::Proto),
            packets: pos(Role::Packets),
            bytes: pos(Role::Bytes),
            flags: pos(Role::Flags),
            itype: pos(Role::IcmpType),
            icode: pos(Role::IcmpCode),
            stime2: second(Role::Stime),
            etime2: second(Role::Etime),
            duration2: second(Role::Duration),
            extras: extra_pos,
        };
        let integer = extras.iter().map(|e| crate::schema::extra_type(e) == arrow_schema::DataType::Int64).collect();
        Ok(Delimited { format, split, names, map, extras, header, optional: None, template: None, time, integer })
    }

    /// Splits lines laid out like `title` (padded to the same widths) by its separator
    /// positions. Only for a single-byte separator without quotes.
    pub fn with_template(mut self, title: &[u8]) -> Self {
        if let Split::Char { sep, quotes: false } = self.split {
            self.template = Some(Template::new(title, sep));
        }
        self
    }

    /// Lets rows one field short omit the column at `pos` (stored as empty).
    pub fn with_optional(mut self, pos: Option<usize>) -> Self {
        self.optional = pos;
        self
    }

    fn name(&self, i: usize) -> &str {
        self.names.get(i).map(|s| s.trim()).unwrap_or("?")
    }

    fn flow<'a>(&self, f: &Fields<'a>) -> Result<Flow<'a>, FieldError> {
        let m = &self.map;
        let err = |i: usize, reason: String| FieldError { column: self.name(i).to_string(), reason };
        let opt = |i: Option<usize>| i.map(|i| (i, f.get(i))).filter(|(_, v)| !v.is_empty());
        let sip = parse_ip(f.get(m.sip)).map_err(|r| err(m.sip, r))?;
        let dip = parse_ip(f.get(m.dip)).map_err(|r| err(m.dip, r))?;
        let sport = opt(m.sport).map(|(i, v)| parse_port(v).map_err(|r| err(i, r))).transpose()?;
        let mut dport = opt(m.dport).map(|(i, v)| parse_port(v).map_err(|r| err(i, r))).transpose()?;
        let proto = opt(m.proto).map(|(i, v)| parse_proto(v).map_err(|r| err(i, r))).transpose()?;
        let packets = opt(m.packets).map(|(i, v)| parse_count(v).map_err(|r| err(i, r))).transpose()?;
        let bytes = opt(m.bytes).map(|(i, v)| parse_count(v).map_err(|r| err(i, r))).transpose()?;
        // A flags column that is present but blank means "no flags set", not "unknown".
        let flags = m.flags.map(|i| parse_flags(f.get(i)).map_err(|r| err(i, r))).transpose()?;
        let stamp = |i: usize| parse_stamp(f.get(i)).and_then(|s| self.time.resolve(s)).map_err(|r| err(i, r));
        let seconds = |i: usize| parse_seconds(f.get(i)).map_err(|r| err(i, r));
        let mut stime = self.precise(f, m.stime, m.stime2, stamp)?;
        let mut etime = self.precise(f, m.etime, m.etime2, stamp)?;
        let dur = self.precise(f, m.duration, m.duration2, seconds)?;
        match (stime, etime, dur) {
            (Some(s), None, Some(d)) => etime = Some(s + d),
            (Some(s), None, None) => etime = Some(s),
            (None, Some(e), Some(d)) => stime = Some(e - d),
            _ => {}
        }
        if let (Some(s), Some(e)) = (stime, etime) {
            if e < s {
                let i = m.etime.or(m.duration).unwrap_or(m.sip);
                return Err(err(i, "flow ends before it starts".into()));
            }
        }
        // ICMP type and code travel in dPort (type*256+code), as SiLK stores them.
        if matches!(proto, Some(1) | Some(58)) {
            if let (Some((ti, t)), Some((ci, c))) = (opt(m.itype), opt(m.icode)) {
                let t = parse_port(t).ok().filter(|&v| v < 256).ok_or_else(|| err(ti, "bad ICMP type".into()))?;
                let c = parse_port(c).ok().filter(|&v| v < 256).ok_or_else(|| err(ci, "bad ICMP code".into()))?;
                dport = Some(t * 256 + c);
            }
        }
        Ok(Flow { stime, etime, sip, dip, sport, dport, proto, packets, bytes, flags })
    }
}

impl Delimited {
    /// The value of a time column, or of the more precise of its two columns when the input
    /// prints it at two precisions (`sTime` and `sTime+msec`). The two must agree: the coarser
    /// must be the finer one truncated (as SiLK prints it) or rounded to its digits.
    #[inline]
    fn precise(
        &self,
        f: &Fields,
        a: Option<usize>,
        b: Option<usize>,
        parse: impl Fn(usize) -> Result<i64, FieldError>,
    ) -> Result<Option<i64>, FieldError> {
        let present = |i: Option<usize>| i.filter(|&i| !f.get(i).is_empty());
        let (a, b) = match (present(a), present(b)) {
            (Some(a), Some(b)) => (a, b),
            (one, other) => return one.or(other).map(parse).transpose(),
        };
        let (va, vb) = (parse(a)?, parse(b)?);
        if va == vb {
            return Ok(Some(va));
        }
        // On a tie the `+msec` column counts as the precise one (it is, whatever the format).
        let msec = |i: usize| usize::from(self.name(i).ends_with("msec"));
        let (da, db) = (fraction_digits(f.get(a)), fraction_digits(f.get(b)));
        let ((fine, fine_v), (coarse, coarse_v, digits)) =
            if (da, msec(a)) >= (db, msec(b)) { ((a, va), (b, vb, db)) } else { ((b, vb), (a, va, da)) };
        // Values are microseconds; the coarse column shows `digits` decimals of a second.
        let unit = 10i64.pow(6u32.saturating_sub(digits.min(6) as u32));
        let truncated = fine_v.div_euclid(unit) * unit;
        let rounded = (fine_v + unit / 2).div_euclid(unit) * unit;
        if coarse_v == truncated || coarse_v == rounded {
            return Ok(Some(fine_v));
        }
        Err(FieldError {
            column: self.name(fine).to_string(),
            reason: format!(
                "'{}' ({}) and '{}' ({}) disagree",
                self.name(coarse),
                super::fields::show(f.get(coarse)),
                self.name(fine),
                super::fields::show(f.get(fine))
            ),
        })
    }
}

/// How many digits follow the last `.` of a time as printed (0 without one).
fn fraction_digits(v: &[u8]) -> usize {
    match memchr::memrchr(b'.', v) {
        Some(p) => v[p + 1..].iter().take_while(|c| c.is_ascii_digit()).count(),
        None => 0,
    }
}

fn missing_address(which: &str, names: &[String]) -> String {
    format!(
        "no {which} address column among [{}]; name the columns with --columns (aliases: see the README)",
        names.iter().map(|s| s.trim()).collect::<Vec<_>>().join(", ")
    )
}

/// The fields of one split line, by header position.
struct Fields<'a> {
    base: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Fields<'a> {
    #[inline]
    fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.base[s..e]
    }
}

/// Per-thread scratch space for a parser.
#[derive(Default)]
pub struct Scratch {
    pub unquoted: Vec<u8>,
    pub ranges: Vec<(usize, usize)>,
}

impl LineParser for Delimited {
    fn format(&self) -> &'static str {
        self.format
    }

    fn extras(&self) -> &[String] {
        &self.extras
    }

    fn parse_line(&self, line: &[u8], out: &mut BatchBuilder, scratch: &mut Scratch) -> Result<Outcome, FieldError> {
        if let Some(h) = &self.header {
            // A repeated header (concatenated files). Compare only when the last visible byte
            // before a final separator matches, which a data line's rarely does (and finding it
            // spares a scan over rwcut's leading padding).
            if last_visible(line) == last_visible(h) && trim_bytes(line) == h.as_slice() {
                return Ok(Outcome::Skipped);
            }
        }
        let Scratch { unquoted, ranges } = scratch;
        let fixed = self.template.as_ref().is_some_and(|t| t.split(line, ranges));
        let quoted = !fixed && self.split.split(line, unquoted, ranges);
        let base: &[u8] = if quoted { unquoted } else { line };
        let n = self.names.len();
        let mut got = ranges.len();
        // rwcut ends every line with the separator unless --no-final-delimiter.
        if got == n + 1 && ranges[n].0 == ranges[n].1 {
            got = n;
        }
        if got != n {
            match self.optional {
                // The optional column is left out: it reads as empty.
                Some(skip) if got + 1 == n => ranges.insert(skip, (0, 0)),
                _ => {
                    return Err(FieldError {
                        column: "line".into(),
                        reason: format!("{got} fields where the header has {n}"),
                    })
                }
            }
        }
        let fields = Fields { base, ranges };
        let flow = self.flow(&fields)?;
        for &(pos, local) in &self.map.extras {
            if self.integer[local] && !super::batch::is_integer(fields.get(pos)) {
                return Err(FieldError {
                    column: self.names[pos].clone(),
                    reason: format!("'{}' is not an integer", super::fields::show(fields.get(pos))),
                });
            }
        }
        out.push(&flow);
        // Lines reach the parsers as valid UTF-8 and split at ASCII bytes, so every field is
        // UTF-8 too; the batch checks each extra column once when it is finished.
        for &(pos, local) in &self.map.extras {
            out.extra(local, Some(fields.get(pos)));
        }
        Ok(Outcome::Rows(1))
    }
}

/// The last byte that is neither a blank nor the final separator (`|`, `,`, tab).
#[inline]
fn last_visible(line: &[u8]) -> Option<u8> {
    line.iter().rev().find(|&&c| !matches!(c, b' ' | b'\t' | b'|' | b',')).copied()
}

pub fn trim_bytes(s: &[u8]) -> &[u8] {
    let (a, b) = trim(s, 0, s.len());
    &s[a..b]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str, how: Split) -> Vec<String> {
        let mut scratch = Vec::new();
        let mut ranges = Vec::new();
        let q = how.split(s.as_bytes(), &mut scratch, &mut ranges);
        let base = if q { scratch.as_slice() } else { s.as_bytes() };
        ranges.iter().map(|&(a, b)| String::from_utf8_lossy(&base[a..b]).into_owned()).collect()
    }

    /// The fixed-layout split gives the general split's fields whenever it accepts a line, and
    /// refuses every line whose separators are elsewhere.
    #[test]
    fn template_split_agrees_with_the_general_split() {
        let title = b"            sIP|  sPort|flags   |   bytes|sen|";
        let t = Template::new(title, b'|');
        let general = |l: &[u8]| {
            let mut r = Vec::new();
            Split::Char { sep: b'|', quotes: false }.split(l, &mut Vec::new(), &mut r);
            r
        };
        let mut ranges = Vec::new();
        assert!(t.split(title, &mut ranges));
        assert_eq!(ranges, general(title));
        let same = b"       10.0.0.1|     22|FS PA   |    1234| S1|";
        assert!(t.split(same, &mut ranges));
        assert_eq!(ranges, general(same));
        for other in [
            &b"        10.0.0.1|     22|FS PA   |    1234| S1"[..], // no final delimiter
            b"       10.0.0.1|     22|FS PA   |    1234|S1||",      // a separator moved in the tail
            b"       10.0.0.1|     22|FS|PA   |    1234| S1|",      // an extra separator
            b"       10.0.0.1      22|FS PA   |    1234| S1|",      // a missing one
            b"       10.0.0.1|    22|FS PA   |    1234 | S1|",      // shifted by one
        ] {
            assert_eq!(other.len(), title.len(), "{}", String::from_utf8_lossy(other));
            assert!(!t.split(other, &mut ranges), "{}", String::from_utf8_lossy(other));
        }
        // Every placement of separators in a short line: accepted exactly when they sit where
        // the title's do, and then with the same fields.
        let t = Template::new(b"ab|cd|efghij|k|", b'|');
        for bits in 0u32..(1 << 15) {
            let line: Vec<u8> = (0..15).map(|i| if bits & (1 << i) != 0 { b'|' } else { b' ' }).collect();
            let accepted = t.split(&line, &mut ranges);
            assert_eq!(accepted, bits == (1 << 2) | (1 << 5) | (1 << 12) | (1 << 14), "{bits:b}");
            if accepted {
                assert_eq!(ranges, general(&line));
            }
        }
    }

    /// The word-at-a-time trim agrees with trimming byte by byte, for every range of lines
    /// that mix blanks and other bytes, near both ends of the line and far from them.
    #[test]
    fn trim_agrees_with_a_byte_loop() {
        fn slow(line: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
            while s < e && is_blank(line[s]) {
                s += 1;
            }
            while e > s && is_blank(line[e - 1]) {
                e -= 1;
            }
            (s, e)
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 40] {
            for _ in 0..200 {
                let line: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        [b' ', b' ', b' ', b'\t', b'x', b'|', b'1'][(seed % 7) as usize]
                    })
                    .collect();
                for s in 0..=len {
                    for e in s..=len {
                        assert_eq!(
                            trim(&line, s, e),
                            slow(&line, s, e),
                            "{:?} {s}..{e}",
                            String::from_utf8_lossy(&line)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn splits_padded_pipes_whitespace_and_quotes() {
        assert_eq!(
            split("  10.0.0.1|  22|FS PA   |", Split::Char { sep: b'|', quotes: false }),
            ["10.0.0.1", "22", "FS PA", ""]
        );
        assert_eq!(split(" a  b\tc ", Split::Whitespace), ["a", "b", "c"]);
        assert_eq!(split(r#"1,"x, ""y""",,z"#, Split::Char { sep: b',', quotes: true }), ["1", r#"x, "y""#, "", "z"]);
        assert_eq!(split(r#""a","#, Split::Char { sep: b',', quotes: true }), ["a", ""]);
    }
}
