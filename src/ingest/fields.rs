//! Field parsers shared by every input format: addresses, ports, protocols, counts, TCP flags,
//! timestamps and durations. They work on bytes and return short static reasons on failure;
//! the caller adds the path, line and column.

use std::net::Ipv6Addr;

use chrono::{LocalResult, NaiveDateTime, TimeZone};

/// A field parser's failure reason, e.g. "port over 65535".
pub type Reason = String;

/// An address in canonical text form (IPv4 dotted decimal, IPv6 RFC 5952): the input's own
/// bytes when they are canonical already (the usual IPv4 case, with no copy), else rewritten
/// text kept on the stack.
#[derive(Clone, Copy)]
pub enum IpText<'a> {
    Input(&'a [u8]),
    Rewritten([u8; 48], u8),
    /// No IP address: a layer-2 record (Argus `llc`, with MAC addresses); stored as null.
    Absent,
}

impl<'a> IpText<'a> {
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever accepted or written.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            IpText::Input(b) => b,
            IpText::Rewritten(buf, len) => &buf[..*len as usize],
            IpText::Absent => b"",
        }
    }
    fn rewritten(b: &[u8]) -> Self {
        let mut buf = [0; 48];
        buf[..b.len()].copy_from_slice(b);
        IpText::Rewritten(buf, b.len() as u8)
    }
}

/// A MAC address as Argus prints it: six two-digit hex groups separated by `:`.
pub fn is_mac(s: &[u8]) -> bool {
    s.len() == 17
        && s.chunks(3).all(|g| g[0].is_ascii_hexdigit() && g[1].is_ascii_hexdigit() && (g.len() == 2 || g[2] == b':'))
}

/// Parses an IPv4 or IPv6 address and returns its canonical text.
#[inline]
pub fn parse_ip(s: &[u8]) -> Result<IpText<'_>, Reason> {
    if is_canonical_ipv4(s) {
        return Ok(IpText::Input(s));
    }
    parse_ip_other(s)
}

/// True for canonical dotted-decimal IPv4 (`10.0.0.1`; not `010.0.0.1`): the usual address,
/// checked without leaving the caller. Works on two overlapping 8-byte words (SWAR): the
/// dots' positions give the octets' lengths, and only 3-digit octets need a value check.
#[inline(always)]
fn is_canonical_ipv4(s: &[u8]) -> bool {
    let n = s.len();
    if !(8..=15).contains(&n) {
        return n == 7 && is_canonical_ipv4_bytewise(s);
    }
    let (lo, hi) = (word(&s[..8]), word(&s[n - 8..]));
    // Every byte is a digit or a dot.
    let (lo_dots, hi_dots) = (byte_hits(lo, b'.'), byte_hits(hi, b'.'));
    if non_digits(lo) != lo_dots || non_digits(hi) != hi_dots {
        return false;
    }
    let mut dots = u32::from(high_bits(lo_dots)) | (u32::from(high_bits(hi_dots)) << (n - 8));
    if dots.count_ones() != 3 {
        return false;
    }
    let mut start = 0;
    for _ in 0..3 {
        let dot = dots.trailing_zeros() as usize;
        dots &= dots - 1;
        if !canonical_octet(s, start, dot) {
            return false;
        }
        start = dot + 1;
    }
    canonical_octet(s, start, n)
}

/// `s[start..end]`, all digits, is an octet as written canonically: 1-3 digits, no leading
/// zero, at most 255.
#[inline(always)]
fn canonical_octet(s: &[u8], start: usize, end: usize) -> bool {
    match end.wrapping_sub(start) {
        1 => true,
        2 => s[start] != b'0',
        3 => s[start] != b'0' && [s[start], s[start + 1], s[start + 2]] <= *b"255",
        _ => false,
    }
}

/// The 7-byte addresses (`1.2.3.4`) that the word check cannot load: byte by byte.
fn is_canonical_ipv4_bytewise(s: &[u8]) -> bool {
    let mut dots = 0;
    let mut digits = 0;
    let mut v = 0u32;
    let mut lead_zero = false;
    for &c in s {
        if c == b'.' {
            if digits == 0 || dots == 3 {
                return false;
            }
            dots += 1;
            digits = 0;
            v = 0;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 || (lead_zero && digits == 1) {
            return false;
        }
        lead_zero = digits == 0 && d == 0;
        v = v * 10 + d as u32;
        digits += 1;
        if v > 255 {
            return false;
        }
    }
    dots == 3 && digits > 0
}

const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HI: u64 = 0x8080_8080_8080_8080;
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// Up to 8 bytes as a little-endian word (the first byte lowest), zero bytes after them.
#[inline(always)]
fn load_short(s: &[u8]) -> u64 {
    let n = s.len();
    match n {
        0 => 0,
        1..=3 => u64::from(s[0]) | u64::from(s[n / 2]) << (8 * (n / 2)) | u64::from(s[n - 1]) << (8 * (n - 1)),
        _ => {
            let (a, b) = (&s[..4], &s[n - 4..]);
            let a = u64::from(u32::from_le_bytes([a[0], a[1], a[2], a[3]]));
            let b = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            a | b << (8 * (n - 4))
        }
    }
}

/// Eight bytes as a little-endian word (the first byte lowest).
#[inline(always)]
pub(crate) fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// The high bit of each byte of the result is set exactly where `w` holds `byte`.
#[inline(always)]
pub(super) fn byte_hits(w: u64, byte: u8) -> u64 {
    let x = w ^ u64::from_ne_bytes([byte; 8]);
    !(((x & LO7) + LO7) | x) & HI
}

/// The high bit of each byte of the result is set exactly where `w` holds a byte that is not
/// an ASCII digit.
#[inline(always)]
fn non_digits(w: u64) -> u64 {
    over_nine(w ^ ZEROS)
}

/// The high bit of each byte of the result is set where `x` holds a byte over 9 (digits are
/// 0..=9 after an XOR with `ZEROS`: adding 0x76 leaves their high bit clear).
#[inline(always)]
fn over_nine(x: u64) -> u64 {
    (((x & LO7) + 0x7676_7676_7676_7676) | x) & HI
}

/// Bit i of the result is the high bit of byte i of `hits`.
#[inline(always)]
pub(super) fn high_bits(hits: u64) -> u8 {
    ((hits >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

#[cold]
fn parse_ip_other(s: &[u8]) -> Result<IpText<'_>, Reason> {
    if s.is_empty() {
        return Err("missing address".into());
    }
    if let Some(v4) = parse_ipv4(s) {
        return Ok(v4);
    }
    if s.contains(&b':') && s.len() <= 45 {
        if let Ok(text) = std::str::from_utf8(s) {
            if let Ok(a) = text.parse::<Ipv6Addr>() {
                use std::io::Write;
                let mut buf = [0u8; 48];
                let mut cur = std::io::Cursor::new(&mut buf[..]);
                // Rust's Display for Ipv6Addr follows RFC 5952 (lowercase, longest zero run as ::).
                let _ = write!(cur, "{a}");
                let len = cur.position() as usize;
                return Ok(IpText::rewritten(&buf[..len]));
            }
        }
    }
    Err(format!("bad address '{}'", show(s)))
}

/// IPv4 dotted decimal that `is_canonical_ipv4` did not take as is: written back without
/// leading zeros (`010.1.1.1` → `10.1.1.1`).
fn parse_ipv4(s: &[u8]) -> Option<IpText<'_>> {
    if s.len() > 15 || s.len() < 7 {
        return None;
    }
    let mut octets = [0u32; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        let start = i;
        let mut v = 0u32;
        while i < s.len() && s[i].is_ascii_digit() {
            v = v * 10 + (s[i] - b'0') as u32;
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        if i == start || v > 255 {
            return None;
        }
        *octet = v;
        if n < 3 {
            if i >= s.len() || s[i] != b'.' {
                return None;
            }
            i += 1;
        }
    }
    if i != s.len() {
        return None;
    }
    let text = format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]);
    Some(IpText::rewritten(text.as_bytes()))
}

/// Parses an unsigned decimal integer; `None` when the field is not all digits or overflows.
#[inline(always)]
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.len() <= 8 {
        return digits8(s);
    }
    parse_long_u64(s)
}

/// `parse_u64` for 9 digits or more.
#[inline(never)]
fn parse_long_u64(s: &[u8]) -> Option<u64> {
    let n = s.len();
    if n <= 16 {
        // At most 16 digits: the high part times 10^8 cannot overflow.
        return Some(digits8(&s[..n - 8])? * 100_000_000 + digits8(&s[n - 8..])?);
    }
    if n > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// 1 to 8 ASCII digits as a number, in one word (SWAR): the digits are loaded right-aligned
/// behind zero bytes, checked together, and combined pairwise by three multiplications.
#[inline(always)]
fn digits8(s: &[u8]) -> Option<u64> {
    let n = s.len();
    if n == 0 || n > 8 {
        return None;
    }
    let w = load_short(s);
    // Right-align: the last digit in the top byte, zero bytes (value 0) in front.
    let shift = 8 * (8 - n) as u32;
    let x = (w << shift) ^ (ZEROS << shift);
    if over_nine(x) != 0 {
        return None;
    }
    // Bytes are digits, most significant first (lowest address).
    let x = (x * 10 + (x >> 8)) & 0x00ff_00ff_00ff_00ff;
    let x = (x * 100 + (x >> 16)) & 0x0000_ffff_0000_ffff;
    Some((x * 10_000 + (x >> 32)) & 0xffff_ffff)
}

/// A port: 0..=65535.
#[inline(always)]
pub fn parse_port(s: &[u8]) -> Result<u16, Reason> {
    match parse_u64(s) {
        Some(v) if v <= 65535 => Ok(v as u16),
        _ => Err(port_error(s)),
    }
}

#[cold]
fn port_error(s: &[u8]) -> Reason {
    match parse_u64(s) {
        Some(_) => format!("port {} over 65535", show(s)),
        None => format!("bad port '{}'", show(s)),
    }
}

/// An IP protocol: a number 0..=255 or a common name (`tcp`, `udp`, `icmp`, `gre`, …).
#[inline(always)]
pub fn parse_proto(s: &[u8]) -> Result<u8, Reason> {
    match parse_u64(s) {
        Some(v) if v <= 255 => Ok(v as u8),
        _ => proto_other(s),
    }
}

#[cold]
fn proto_other(s: &[u8]) -> Result<u8, Reason> {
    if parse_u64(s).is_some() {
        return Err(format!("protocol {} over 255", show(s)));
    }
    proto_by_name(s).ok_or_else(|| format!("bad protocol '{}'", show(s)))
}

/// Protocol names as flow exporters print them (Argus, Zeek, CTU binetflow).
pub fn proto_by_name(s: &[u8]) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("icmp", 1),
        ("igmp", 2),
        ("ipv4", 4),
        ("ipip", 4),
        ("tcp", 6),
        ("egp", 8),
        ("igp", 9),
        ("udp", 17),
        ("ipv6", 41),
        ("rsvp", 46),
        ("gre", 47),
        ("esp", 50),
        ("ah", 51),
        ("ipv6-icmp", 58),
        ("icmp6", 58),
        ("icmpv6", 58),
        ("ipv6icmp", 58),
        ("eigrp", 88),
        ("ospf", 89),
        ("pim", 103),
        ("vrrp", 112),
        ("l2tp", 115),
        ("sctp", 132),
        ("udplite", 136),
    ];
    NAMES.iter().find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(s)).map(|&(_, p)| p)
}

/// A packet or byte count: a non-negative integer that fits in i64.
#[inline(always)]
pub fn parse_count(s: &[u8]) -> Result<i64, Reason> {
    match parse_u64(s) {
        Some(v) if v <= i64::MAX as u64 => Ok(v as i64),
        _ => Err(count_error(s)),
    }
}

#[cold]
fn count_error(s: &[u8]) -> Reason {
    match parse_u64(s) {
        Some(_) => format!("count {} too large", show(s)),
        None if s.first() == Some(&b'-') => format!("negative count '{}'", show(s)),
        None => format!("bad count '{}'", show(s)),
    }
}

/// The SiLK flag letters in bit order: F=FIN(1) S=SYN(2) R=RST(4) P=PSH(8) A=ACK(16) U=URG(32)
/// E=ECE(64) C=CWR(128).
pub const FLAG_LETTERS: &[u8; 8] = b"FSRPAUEC";

/// Parses TCP flags as letters in any order, padded with spaces or dots (`FS PA   `, `.AP.SF`),
/// or as a decimal / `0x` hex bit mask. Returns the bit mask.
#[inline]
pub fn parse_flags(s: &[u8]) -> Result<u8, Reason> {
    if s.first().is_some_and(|c| c.is_ascii_digit()) {
        let v = if s.len() > 2 && (s[1] == b'x' || s[1] == b'X') {
            std::str::from_utf8(&s[2..]).ok().and_then(|h| u64::from_str_radix(h, 16).ok())
        } else {
            parse_u64(s)
        };
        return match v {
            Some(v) if v <= 255 => Ok(v as u8),
            _ => Err(format!("bad TCP flags '{}'", show(s))),
        };
    }
    let mut mask = 0u8;
    for &c in s {
        match c.to_ascii_uppercase() {
            b'F' => mask |= 1,
            b'S' => mask |= 2,
            b'R' => mask |= 4,
            b'P' => mask |= 8,
            b'A' => mask |= 16,
            b'U' => mask |= 32,
            b'E' => mask |= 64,
            b'C' => mask |= 128,
            b' ' | b'.' | b'_' => {}
            _ => return Err(format!("bad TCP flags '{}'", show(s))),
        }
    }
    Ok(mask)
}

/// The canonical text of a flag mask: its letters in FSRPAUEC order, packed (`FSPA`).
pub fn flags_text(mask: u8) -> String {
    FLAG_LETTERS.iter().enumerate().filter(|(bit, _)| mask & (1 << bit) != 0).map(|(_, &c)| c as char).collect()
}

/// A timestamp as written, before the time zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// Microseconds since the epoch, UTC (an epoch number or an explicit offset).
    Utc(i64),
    /// A wall-clock date and time without an offset, as microseconds since 1970-01-01T00:00 local.
    Naive(i64),
    /// A clock time without a date (`02:43.290`), microseconds since midnight.
    Clock(i64),
}

/// Parses the timestamp shapes flow tools print:
/// `2009/02/12T00:00:05.123` (rwcut default), `2009-02-12 00:00:05[.123456]` and ISO 8601 with
/// `T`, `Z` or `±hh:mm` (rwcut `iso`, nfdump, Argus), `02/12/2009 00:00:05.123` (rwcut `m/d/y`),
/// epoch seconds `1234396805.123` (rwcut `epoch`, Zeek), and clock times without a date:
/// `hh:mm:ss.sss`, `mm:ss.sss` and the SEI seed's dotted `mm.ss.sss`.
#[inline(always)]
pub fn parse_stamp(s: &[u8]) -> Result<Stamp, Reason> {
    match fast_stamp(s) {
        Some(t) => Ok(Stamp::Naive(t)),
        None => parse_other_stamp(s),
    }
}

/// `parse_stamp` for every shape but the common one.
#[inline(never)]
fn parse_other_stamp(s: &[u8]) -> Result<Stamp, Reason> {
    let bad = || format!("bad timestamp '{}'", show(s));
    let n = s.len();
    if n >= 10 && (s[4] == b'/' || s[4] == b'-') && s[7] == s[4] {
        let y = digits(&s[0..4]).ok_or_else(bad)?;
        let mo = digits(&s[5..7]).ok_or_else(bad)?;
        let d = digits(&s[8..10]).ok_or_else(bad)?;
        return date_time(y, mo, d, &s[10..]).ok_or_else(bad);
    }
    if n >= 10 && s[2] == b'/' && s[5] == b'/' {
        let mo = digits(&s[0..2]).ok_or_else(bad)?;
        let d = digits(&s[3..5]).ok_or_else(bad)?;
        let y = digits(&s[6..10]).ok_or_else(bad)?;
        return date_time(y, mo, d, &s[10..]).ok_or_else(bad);
    }
    if s.contains(&b':') {
        return clock(s, b':').map(Stamp::Clock).ok_or_else(bad);
    }
    let dots = s.iter().filter(|&&c| c == b'.').count();
    if dots == 2 {
        return clock(s, b'.').map(Stamp::Clock).ok_or_else(bad);
    }
    seconds(s).map(Stamp::Utc).ok_or_else(bad)
}

/// The common shape `YYYY/MM/DDThh:mm:ss[.fff]` (also `-` and ` `) without a zone, parsed with
/// fixed offsets: two of these per row make this the hottest field parser after addresses.
#[inline(always)]
fn fast_stamp(s: &[u8]) -> Option<i64> {
    if s.len() < 19 || s[16] != b':' {
        return None;
    }
    // The rows of a file share a handful of minutes: the text up to the minute and its value
    // are kept per thread for the last two minutes seen (a flow's start and end often differ),
    // which spares the date's and the clock's digits, checks and calendar arithmetic.
    thread_local! {
        static MINUTES: std::cell::Cell<[([u8; 16], Option<i64>); 2]> = const { std::cell::Cell::new([([0; 16], None); 2]) };
    }
    let mut key = [0u8; 16];
    key.copy_from_slice(&s[..16]);
    let mut minutes = MINUTES.get();
    let minute = match minutes {
        [(k, Some(m)), _] if k == key => m,
        [_, (k, Some(m))] if k == key => {
            minutes.swap(0, 1);
            MINUTES.set(minutes);
            m
        }
        _ => {
            let minute = minute_of(s)?;
            minutes[1] = minutes[0];
            minutes[0] = (key, Some(minute));
            MINUTES.set(minutes);
            minute
        }
    };
    let sec = two_digits(s, 17)?;
    let frac = match s.get(19) {
        None => 0,
        Some(b'.') => fraction_micros(&s[20..])?,
        Some(_) => return None,
    };
    if sec > 59 {
        return None;
    }
    Some(minute + sec * 1_000_000 + frac)
}

/// `s[i..i + 2]` as a number when both are digits.
#[inline(always)]
fn two_digits(s: &[u8], i: usize) -> Option<i64> {
    let (a, b) = (s[i].wrapping_sub(b'0'), s[i + 1].wrapping_sub(b'0'));
    (a < 10 && b < 10).then_some((a * 10 + b) as i64)
}

/// The microseconds since the epoch of the minute that `YYYY/MM/DDThh:mm` (`s[..16]`) names,
/// when it is a valid date and time.
#[inline(never)]
fn minute_of(s: &[u8]) -> Option<i64> {
    if !(s[4] == b'/' || s[4] == b'-') || s[7] != s[4] || !(s[10] == b'T' || s[10] == b' ') || s[13] != b':' {
        return None;
    }
    let d2 = |i| two_digits(s, i);
    let (y, mo, d, h, mi) = (d2(0)? * 100 + d2(2)?, d2(5)?, d2(8)?, d2(11)?, d2(14)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400_000_000 + (h * 60 + mi) * 60_000_000)
}

/// Seconds with an optional fraction (`15.123`) as microseconds; durations and epoch times.
#[inline(always)]
pub fn parse_seconds(s: &[u8]) -> Result<i64, Reason> {
    seconds(s).ok_or_else(|| duration_error(s))
}

#[cold]
fn duration_error(s: &[u8]) -> Reason {
    if s.first() == Some(&b'-') {
        return format!("negative duration '{}'", show(s));
    }
    format!("bad duration '{}'", show(s))
}

#[inline(always)]
fn seconds(s: &[u8]) -> Option<i64> {
    // Durations are short (`823.003`): their dot is found in one word.
    let dot = if s.len() <= 8 {
        let hits = byte_hits(load_short(s), b'.');
        (hits != 0).then(|| (hits.trailing_zeros() / 8) as usize)
    } else {
        memchr::memchr(b'.', s)
    };
    let (int, frac) = match dot {
        Some(p) => (&s[..p], &s[p + 1..]),
        None => (s, &s[s.len()..]),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let whole = if int.is_empty() { 0 } else { parse_u64(int)? };
    let micros = fraction_micros(frac)?;
    (whole as i64).checked_mul(1_000_000)?.checked_add(micros)
}

/// Digits after a decimal point as microseconds: up to 9 digits, truncated to 6.
#[inline(always)]
fn fraction_micros(f: &[u8]) -> Option<i64> {
    const SCALE: [u64; 7] = [1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];
    match f.len() {
        0 => Some(0),
        n @ 1..=6 => Some((digits8(f)? * SCALE[n]) as i64),
        7..=9 => {
            digits8(&f[6..])?;
            Some(digits8(&f[..6])? as i64)
        }
        _ => None,
    }
}

#[inline]
fn digits(s: &[u8]) -> Option<i64> {
    parse_u64(s).map(|v| v as i64)
}

/// `[T ]hh:mm:ss[.f][Z|±hh[:]mm]` after a date.
fn date_time(y: i64, mo: i64, d: i64, rest: &[u8]) -> Option<Stamp> {
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let day_micros = days_from_civil(y, mo, d) * 86_400_000_000;
    if rest.is_empty() {
        return Some(Stamp::Naive(day_micros));
    }
    if rest[0] != b'T' && rest[0] != b' ' {
        return None;
    }
    let rest = &rest[1..];
    // Split off a zone suffix: Z, +hh:mm, -hh:mm, +hhmm, +hh.
    let (clock_part, offset) = match rest.iter().rposition(|&c| c == b'Z' || c == b'+' || c == b'-') {
        Some(p) if p >= 5 => (&rest[..p], Some(zone_offset(&rest[p..])?)),
        _ => (rest, None),
    };
    let t = clock(clock_part, b':')?;
    if clock_part.iter().filter(|&&c| c == b':').count() != 2 {
        return None;
    }
    let local = day_micros + t;
    Some(match offset {
        Some(off) => Stamp::Utc(local - off),
        None => Stamp::Naive(local),
    })
}

fn zone_offset(z: &[u8]) -> Option<i64> {
    if z == b"Z" {
        return Some(0);
    }
    let sign = if z[0] == b'-' { -1 } else { 1 };
    let body: Vec<u8> = z[1..].iter().copied().filter(|&c| c != b':').collect();
    let (h, m) = match body.len() {
        2 => (digits(&body)?, 0),
        4 => (digits(&body[..2])?, digits(&body[2..])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60) * 1_000_000)
}

/// `hh:mm:ss[.f]` or `mm:ss[.f]` with separator `sep` (':' or, in the SEI seed, '.').
/// With '.', the last dot-separated group is the fraction: `48.01.120` is 48 min 1.120 s.
fn clock(s: &[u8], sep: u8) -> Option<i64> {
    let (main, frac) = if sep == b'.' {
        let p = s.iter().rposition(|&c| c == b'.')?;
        (&s[..p], &s[p + 1..])
    } else {
        match memchr::memchr(b'.', s) {
            Some(p) => (&s[..p], &s[p + 1..]),
            None => (s, &s[s.len()..]),
        }
    };
    let mut parts = [0i64; 3];
    let mut count = 0;
    for part in main.split(|&c| c == sep) {
        if count == 3 || part.is_empty() || part.len() > 2 {
            return None;
        }
        parts[count] = digits(part)?;
        count += 1;
    }
    let (h, m, sec) = match count {
        3 => (parts[0], parts[1], parts[2]),
        2 => (0, parts[0], parts[1]),
        _ => return None,
    };
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1_000_000 + fraction_micros(frac)?)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses a `YYYY-MM-DD` date into days since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// How wall-clock times become UTC: the zone for times without an offset, and the date for
/// clock times without one.
#[derive(Debug, Clone, Default)]
pub struct TimeContext {
    pub tz: Option<chrono_tz::Tz>,
    /// `--date`, as days since the epoch.
    pub date: Option<i64>,
}

impl TimeContext {
    /// Resolves a parsed stamp to UTC microseconds.
    #[inline]
    pub fn resolve(&self, stamp: Stamp) -> Result<i64, Reason> {
        match stamp {
            Stamp::Utc(t) => Ok(t),
            Stamp::Naive(t) if self.tz.is_none() => Ok(t),
            Stamp::Naive(t) => self.local(t),
            Stamp::Clock(t) => match self.date {
                Some(day) => self.local(day * 86_400_000_000 + t),
                None => Err("a time without a date: pass --date YYYY-MM-DD".into()),
            },
        }
    }

    fn local(&self, t: i64) -> Result<i64, Reason> {
        let Some(tz) = self.tz else { return Ok(t) };
        let naive = NaiveDateTime::from_timestamp_micros_compat(t).ok_or("timestamp out of range")?;
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(dt) => Ok(dt.timestamp_micros()),
            LocalResult::None => Err(format!("local time {naive} does not exist in {tz} (a DST gap)")),
            LocalResult::Ambiguous(a, b) => Err(format!(
                "local time {naive} is ambiguous in {tz} (a DST overlap: {} or {})",
                a.naive_utc(),
                b.naive_utc()
            )),
        }
    }
}

trait FromMicros: Sized {
    fn from_timestamp_micros_compat(t: i64) -> Option<Self>;
}

impl FromMicros for NaiveDateTime {
    fn from_timestamp_micros_compat(t: i64) -> Option<Self> {
        chrono::DateTime::from_timestamp_micros(t).map(|d| d.naive_utc())
    }
}

/// A field for an error message: lossy UTF-8, cut at 60 characters.
pub fn show(s: &[u8]) -> String {
    let text = String::from_utf8_lossy(s);
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text.into_owned()
    }
}

/// The text of every octet, and its length.
static OCTETS: [([u8; 3], u8); 256] = {
    let mut t = [([0u8; 3], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let o = i as u8;
        t[i] = if o >= 100 {
            ([b'0' + o / 100, b'0' + (o / 10) % 10, b'0' + o % 10], 3)
        } else if o >= 10 {
            ([b'0' + o / 10, b'0' + o % 10, 0], 2)
        } else {
            ([b'0' + o, 0, 0], 1)
        };
        i += 1;
    }
    t
};

/// Dotted-decimal IPv4 into `buf`, returning its length: the binary decoders (nfcapd, SiLK)
/// render addresses with it, as the text path stores them.
#[inline]
pub fn ipv4_text(a: u32, buf: &mut [u8; 48]) -> usize {
    let mut n = 0;
    for (k, octet) in a.to_be_bytes().into_iter().enumerate() {
        if k > 0 {
            buf[n] = b'.';
            n += 1;
        }
        let (text, len) = &OCTETS[octet as usize];
        // Three bytes copied whatever the length: the next octet or the end overwrites the rest.
        buf[n..n + 3].copy_from_slice(text);
        n += *len as usize;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        TimeContext { tz: None, date: parse_date("2026-11-21") }.resolve(parse_stamp(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn ipv4_canonical_and_rewritten() {
        assert_eq!(parse_ip(b"10.10.0.1").unwrap().as_str(), "10.10.0.1");
        assert_eq!(parse_ip(b"010.1.0.01").unwrap().as_str(), "10.1.0.1");
        assert!(parse_ip(b"10.10.0.256").is_err());
        assert!(parse_ip(b"10.10.0").is_err());
        assert!(parse_ip(b"10.10.0.1.2").is_err());
        assert!(parse_ip(b"").is_err());
    }

    /// The inline IPv4 check accepts exactly the canonical addresses the full parser returns as
    /// they were written.
    #[test]
    fn canonical_ipv4_check_agrees_with_the_full_parser() {
        let parts = ["0", "00", "1", "01", "9", "10", "99", "100", "199", "255", "256", "300", "999", "1000", "", "a"];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in ["0", "255", "01", "256"] {
                    for d in parts {
                        for text in [format!("{a}.{b}.{c}.{d}"), format!("{a}.{b}.{c}{d}"), format!("{a}.{b}.{c}.{d}.")]
                        {
                            let s = text.as_bytes();
                            let full = parse_ip_other(s).ok().map(|t| t.as_str().to_string());
                            let canonical = full.as_deref() == Some(text.as_str());
                            assert_eq!(is_canonical_ipv4(s), canonical, "{text}");
                            assert_eq!(parse_ip(s).ok().map(|t| t.as_str().to_string()), full, "{text}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    /// The word-at-a-time integer parser agrees with digit-by-digit parsing on every length up
    /// to 20, with a non-digit at every position, and at the limits.
    #[test]
    fn integers_agree_with_a_digit_loop() {
        fn slow(s: &[u8]) -> Option<u64> {
            if s.is_empty() {
                return None;
            }
            let mut v = 0u64;
            for &c in s {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            }
            Some(v)
        }
        let digits = b"98765432109876543210123";
        for n in 0..=22 {
            let text = &digits[..n];
            assert_eq!(parse_u64(text), slow(text), "{}", show(text));
            for at in 0..n {
                for bad in [b' ', b'/', b':', b'.', b'-', b'a', 0xff, 0x00] {
                    let mut t = text.to_vec();
                    t[at] = bad;
                    assert_eq!(parse_u64(&t), None, "{}", show(&t));
                }
                let mut t = text.to_vec();
                t[at] = b'0';
                assert_eq!(parse_u64(&t), slow(&t), "{}", show(&t));
            }
        }
        for v in [0, 7, 10, 99, 255, 65535, 99_999_999, 100_000_000, 9_999_999_999_999_999, u64::MAX] {
            assert_eq!(parse_u64(v.to_string().as_bytes()), Some(v));
        }
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"00000000000000000000007"), None);
    }

    #[test]
    fn high_bits_gathers_each_bytes_top_bit() {
        for m in 0u32..256 {
            let hits: u64 = (0..8).filter(|i| m & (1 << i) != 0).map(|i| 0x80u64 << (8 * i)).sum();
            assert_eq!(u32::from(high_bits(hits)), m);
        }
    }

    /// The per-thread minute cache never changes a result: stamps alternating between minutes,
    /// and bad seconds, days or fractions after a cached minute, parse as chrono parses them.
    #[test]
    fn stamps_agree_with_chrono_across_cached_minutes() {
        let texts = [
            "2026/11/21T00:00:00.949",
            "2026/11/21T00:13:43.952",
            "2026/11/21T00:00:01.950",
            "2026/11/21T00:13:44",
            "2026/11/21T00:00:60.000",
            "2026/11/21T00:00:5x.000",
            "2026/11/21T00:00:59.9999999",
            "2026/11/21T00:00:59.",
            "2024/02/29T23:59:59.999",
            "2026/02/29T00:00:00.000",
            "2026/02/29T00:00:01.000",
            "2026-11-21 00:00:02.5",
            "2026/11/21T00:00:02.5",
            "2026/11/21T24:00:00.000",
            "2026/11/21T00:60:00.000",
            "2026/13/01T00:00:00.000",
            "1969/12/31T23:59:59.500",
            "1969/12/31T23:59:58.500",
            "2026/11/21T00:13:43|952",
        ];
        for round in 0..3 {
            for text in texts {
                let ours = parse_stamp(text.as_bytes()).ok().map(|s| TimeContext::default().resolve(s).unwrap());
                // We take a bare trailing dot as no fraction, and refuse leap seconds.
                let normal = text.replace('/', "-").replace('T', " ");
                let chrono = NaiveDateTime::parse_from_str(normal.trim_end_matches('.'), "%Y-%m-%d %H:%M:%S%.f")
                    .ok()
                    .filter(|_| !text.contains(":60"))
                    .map(|t| t.and_utc().timestamp_micros());
                assert_eq!(ours, chrono, "{text} (round {round})");
            }
        }
    }

    #[test]
    fn ipv6_is_rfc5952() {
        assert_eq!(parse_ip(b"2001:DB8:0:0:0:0:0:1").unwrap().as_str(), "2001:db8::1");
        assert_eq!(parse_ip(b"::ffff:10.0.0.1").unwrap().as_str(), "::ffff:10.0.0.1");
        assert!(parse_ip(b"fe80::1%eth0").is_err());
    }

    #[test]
    fn ports_protocols_counts() {
        assert_eq!(parse_port(b"65535").unwrap(), 65535);
        assert!(parse_port(b"65536").unwrap_err().contains("over 65535"));
        assert_eq!(parse_proto(b"47").unwrap(), 47);
        assert_eq!(parse_proto(b"TCP").unwrap(), 6);
        assert_eq!(parse_proto(b"ipv6-icmp").unwrap(), 58);
        assert!(parse_proto(b"256").is_err());
        assert!(parse_count(b"-3").unwrap_err().contains("negative"));
        assert!(parse_count(b"1e5").is_err());
        assert_eq!(parse_count(b"9223372036854775807").unwrap(), i64::MAX);
        assert!(parse_count(b"9223372036854775808").is_err());
    }

    #[test]
    fn flags_every_spelling() {
        assert_eq!(flags_text(parse_flags(b"FS PA   ").unwrap()), "FSPA");
        assert_eq!(flags_text(parse_flags(b" S  A   ").unwrap()), "SA");
        assert_eq!(flags_text(parse_flags(b".AP.SF").unwrap()), "FSPA");
        assert_eq!(flags_text(parse_flags(b"0x1b").unwrap()), "FSPA");
        assert_eq!(flags_text(parse_flags(b"27").unwrap()), "FSPA");
        assert_eq!(flags_text(parse_flags(b"CEUAPRSF").unwrap()), "FSRPAUEC");
        assert_eq!(parse_flags(b"").unwrap(), 0);
        assert!(parse_flags(b"FSX").is_err());
    }

    #[test]
    fn rwcut_timestamp_formats() {
        let want = 1_234_396_805_123_000;
        assert_eq!(ts("2009/02/12T00:00:05.123"), want);
        assert_eq!(ts("2009-02-12 00:00:05.123"), want);
        assert_eq!(ts("2009-02-12T00:00:05.123Z"), want);
        assert_eq!(ts("2009-02-12T01:00:05.123+01:00"), want);
        assert_eq!(ts("02/12/2009 00:00:05.123"), want);
        assert_eq!(ts("1234396805.123"), want);
        assert_eq!(ts("2009/02/12T00:00:05"), want - 123_000);
        assert_eq!(ts("2009-02-12 00:00:05.123456789"), want + 456);
        assert!(parse_stamp(b"2009/02/30T00:00:05").is_err());
        assert!(parse_stamp(b"2009/02/12T24:00:05").is_err());
        assert!(parse_stamp(b"yesterday").is_err());
    }

    #[test]
    fn seed_clock_times() {
        let day = days_from_civil(2026, 11, 21) * 86_400_000_000;
        assert_eq!(ts("02:43.290"), day + 163_290_000);
        // The SEI seed's SSH table prints 48.01.120 for 48:01.120.
        assert_eq!(ts("48.01.120"), day + (48 * 60 + 1) * 1_000_000 + 120_000);
        assert_eq!(ts("13:02:43.290"), day + 13 * 3_600_000_000 + 163_290_000);
        let no_date = TimeContext::default();
        assert!(no_date.resolve(parse_stamp(b"02:43.290").unwrap()).unwrap_err().contains("--date"));
    }

    #[test]
    fn time_zones_and_dst() {
        let ny = TimeContext { tz: Some(chrono_tz::America::New_York), date: None };
        let t = ny.resolve(parse_stamp(b"2026-07-01 12:00:00").unwrap()).unwrap();
        assert_eq!(t, ts("2026-07-01 16:00:00"));
        let gap = ny.resolve(parse_stamp(b"2026-03-08 02:30:00").unwrap()).unwrap_err();
        assert!(gap.contains("DST gap"), "{gap}");
        let overlap = ny.resolve(parse_stamp(b"2026-11-01 01:30:00").unwrap()).unwrap_err();
        assert!(overlap.contains("DST overlap"), "{overlap}");
        // An explicit offset wins over --timezone.
        assert_eq!(ny.resolve(parse_stamp(b"2026-07-01T12:00:00Z").unwrap()).unwrap(), ts("2026-07-01 12:00:00"));
    }

    #[test]
    fn civil_round_trip() {
        for z in [-1000, 0, 1, 59, 365, 11_000, 20_000, 50_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(parse_date("2026-11-21"), Some(days_from_civil(2026, 11, 21)));
        assert_eq!(parse_date("2026-02-29"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_seconds(b"94.742").unwrap(), 94_742_000);
        assert_eq!(parse_seconds(b"0").unwrap(), 0);
        assert!(parse_seconds(b"-1").is_err());
        assert!(parse_seconds(b"1.2.3").is_err());
        assert!(parse_seconds(b"-1").unwrap_err().contains("negative"));
        for (text, micros) in [
            ("0.5", Some(500_000)),
            (".5", Some(500_000)),
            ("15.", Some(15_000_000)),
            ("15", Some(15_000_000)),
            ("1.000001", Some(1_000_001)),
            ("1.1234567", Some(1_123_456)),
            ("1.123456789", Some(1_123_456)),
            ("1.1234567890", None),
            ("1.12a", None),
            ("1.1234a67", None),
            ("12345678901.25", Some(12_345_678_901_250_000)),
            ("123456.789012", Some(123_456_789_012)),
            (".", None),
            ("", None),
            ("1 .5", None),
        ] {
            assert_eq!(parse_seconds(text.as_bytes()).ok(), micros, "{text}");
        }
    }
}
