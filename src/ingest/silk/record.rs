//! One SiLK flow record in memory, as every record format unpacks into it (SiLK's `rwRec`), the
//! bit-packed pieces the repository formats share, and the text of the values `rwcut` prints.

use std::net::Ipv6Addr;

/// An address as a record stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    V4(u32),
    V6([u8; 16]),
}

/// A record's fields. Times are SiLK's milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub stime_ms: i64,
    pub elapsed_ms: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub flowtype: u8,
    pub sensor: u16,
    pub flags: u8,
    pub init_flags: u8,
    pub rest_flags: u8,
    /// SiLK's TCP-state byte with the IPv6 bit (0x80) removed.
    pub tcp_state: u8,
    pub application: u16,
    pub input: u32,
    pub output: u32,
    pub packets: u64,
    pub bytes: u64,
    pub sip: Addr,
    pub dip: Addr,
    pub nhip: Addr,
}

/// The TCP-state bits (`SK_TCPSTATE_*`).
pub const TCPSTATE_EXPANDED: u8 = 0x01;
pub const TCPSTATE_IPV6: u8 = 0x80;
const TCP: u8 = 6;

/// What a record takes from the file rather than from itself: the packed-file entry's hour,
/// sensor and flow type (SiLK's invalid sensor and flow type when the file has none).
#[derive(Debug, Clone, Copy)]
pub struct FileCtx {
    pub start_ms: i64,
    pub sensor: u16,
    pub flowtype: u8,
}

/// Reads numbers in the records' byte order. Addresses in the IPv6 formats are always in
/// network order and are read as bytes, not through this.
#[derive(Debug, Clone, Copy)]
pub struct Endian {
    pub big: bool,
}

impl Endian {
    #[inline(always)]
    pub fn u16(self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.big {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }
    #[inline(always)]
    pub fn u32(self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }
    #[inline(always)]
    pub fn u64(self, b: &[u8], at: usize) -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[at..at + 8]);
        if self.big {
            u64::from_be_bytes(v)
        } else {
            u64::from_le_bytes(v)
        }
    }
}

/// 16 address bytes at `at` (network order): IPv6 when the record says so, else the IPv4
/// address in the last four bytes.
#[inline(always)]
pub fn addr16(b: &[u8], at: usize, v6: bool) -> Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    if v6 {
        Addr::V6(a)
    } else {
        Addr::V4(u32::from_be_bytes([a[12], a[13], a[14], a[15]]))
    }
}

impl Rec {
    pub fn empty(ctx: &FileCtx) -> Rec {
        Rec {
            stime_ms: ctx.start_ms,
            elapsed_ms: 0,
            sport: 0,
            dport: 0,
            proto: 0,
            flowtype: ctx.flowtype,
            sensor: ctx.sensor,
            flags: 0,
            init_flags: 0,
            rest_flags: 0,
            tcp_state: 0,
            application: 0,
            input: 0,
            output: 0,
            packets: 0,
            bytes: 0,
            sip: Addr::V4(0),
            dip: Addr::V4(0),
            nhip: Addr::V4(0),
        }
    }

    /// The 24-byte start that FT_RWGENERIC v5, FT_RWIPV6 v1 and FT_RWIPV6ROUTING v1/v3 share:
    /// start time (i64 ms), elapsed (u32 ms), ports, protocol, flow type, sensor, the three
    /// flag bytes, TCP state, application (memo at 26 is unused by rwcut).
    #[inline(always)]
    pub fn fixed_start(b: &[u8], e: Endian) -> Rec {
        Rec {
            stime_ms: e.u64(b, 0) as i64,
            elapsed_ms: e.u32(b, 8),
            sport: e.u16(b, 12),
            dport: e.u16(b, 14),
            proto: b[16],
            flowtype: b[17],
            sensor: e.u16(b, 18),
            flags: b[20],
            init_flags: b[21],
            rest_flags: b[22],
            tcp_state: b[23] & !TCPSTATE_IPV6,
            application: e.u16(b, 24),
            input: 0,
            output: 0,
            packets: 0,
            bytes: 0,
            sip: Addr::V4(0),
            dip: Addr::V4(0),
            nhip: Addr::V4(0),
        }
    }

    /// SiLK (since 3.6) drops initial/session flags that a record marks as present but that
    /// cannot be (not TCP, or both empty), and the mark with them; rwcut prints the result.
    #[inline(always)]
    pub fn clear_bogus_expanded(&mut self) {
        if self.tcp_state & TCPSTATE_EXPANDED != 0
            && (self.proto != TCP || (self.init_flags == 0 && self.rest_flags == 0))
        {
            self.tcp_state &= !TCPSTATE_EXPANDED;
            self.init_flags = 0;
            self.rest_flags = 0;
        }
    }

    /// The 6-byte start of the newer packed formats (FT_RWIPV6 v2, FT_RWAUG* v5): a u32 with
    /// the session flags (bits 24-31), a TCP bit (23) and the start as milliseconds into the
    /// file's hour (0-21); then the protocol (or for TCP the flags, or initial flags when the
    /// record is expanded) and the TCP state.
    #[inline(always)]
    pub fn times_flags_proto(&mut self, b: &[u8], e: Endian, ctx: &FileCtx) {
        let w = e.u32(b, 0);
        self.stime_ms = ctx.start_ms + i64::from(w & 0x3f_ffff);
        let state = b[5];
        if w & (1 << 23) == 0 {
            self.proto = b[4];
        } else if state & TCPSTATE_EXPANDED != 0 {
            self.proto = TCP;
            self.rest_flags = (w >> 24) as u8;
            self.init_flags = b[4];
            self.flags = self.init_flags | self.rest_flags;
        } else {
            self.proto = TCP;
            self.flags = b[4];
        }
        self.tcp_state = state & !TCPSTATE_IPV6;
    }

    /// The 16-byte start of FT_RWAUG* v4: start (22 bits of ms into the hour) and bytes per
    /// packet, elapsed (22 bits of ms), protocol or flags, the packet count (20 bits, times 64
    /// when flagged), TCP state, session flags and application. `web` forces TCP
    /// (FT_RWAUGWEB, whose bit 22 says something else).
    #[inline(always)]
    pub fn flags_times_volumes(&mut self, b: &[u8], e: Endian, ctx: &FileCtx, web: bool) {
        let state = b[12];
        let rest = b[13];
        self.tcp_state = state & !TCPSTATE_IPV6;
        self.application = e.u16(b, 14);
        let w = e.u32(b, 8);
        let pkts = w & 0xf_ffff;
        let pflag = (w >> 23) & 1;
        let is_tcp = web || (w >> 22) & 1 == 1;
        let top = (w >> 24) as u8;
        if !is_tcp {
            self.proto = top;
            self.flags = rest;
        } else {
            self.proto = TCP;
            if state & TCPSTATE_EXPANDED != 0 {
                self.rest_flags = rest;
                self.init_flags = top;
            }
            self.flags = top | rest;
        }
        let t = e.u32(b, 4);
        self.elapsed_ms = t & 0x3f_ffff;
        let s = e.u32(b, 0);
        self.stime_ms = ctx.start_ms + i64::from(s >> 10);
        let bpp = ((s & 0x3ff) << 10) | (t >> 22);
        self.set_bytes_packets(bpp, pkts, pflag);
    }

    /// Bytes from a bytes-per-packet value (14 bits whole, 6 bits of 1/64ths) and the packet
    /// count, rounded as SiLK rounds them.
    #[inline(always)]
    pub fn set_bytes_packets(&mut self, bpp: u32, pkts: u32, pflag: u32) {
        let pkts = if pflag != 0 { u64::from(pkts) * 64 } else { u64::from(pkts) };
        let whole = u64::from((bpp >> 6) & 0x3fff);
        let frac = u64::from(bpp & 0x3f);
        let (q, r) = ((frac * pkts) / 64, (frac * pkts) % 64);
        self.packets = pkts;
        self.bytes = whole * pkts + q + u64::from(r >= 32);
    }
}

pub use crate::ingest::batch::decimal;

pub use crate::ingest::fields::ipv4_text;

/// An address as the text path stores `sip`/`dip`: IPv4 dotted, IPv6 in RFC 5952 form (Rust's
/// `Ipv6Addr` display, which `fields::parse_ip` also writes).
pub fn core_text(a: Addr, buf: &mut [u8; 48]) -> usize {
    match a {
        Addr::V4(v) => ipv4_text(v, buf),
        Addr::V6(b) => write_into(buf, format_args!("{}", Ipv6Addr::from(b))),
    }
}

/// An address as `rwcut` prints it (kept as is for the `nhIP` column): IPv6 the way glibc's
/// `inet_ntop` writes it, which differs from RFC 5952 in writing IPv4-compatible addresses
/// (`::a.b.c.d`, `::0.0.0.2`) with a dotted tail.
pub fn rwcut_text(a: Addr, buf: &mut [u8; 48]) -> usize {
    let b = match a {
        Addr::V4(v) => return ipv4_text(v, buf),
        Addr::V6(b) => b,
    };
    let words: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([b[2 * i], b[2 * i + 1]]));
    // The first longest run of two or more zero words.
    let (mut base, mut len) = (usize::MAX, 0);
    let mut i = 0;
    while i < 8 {
        if words[i] == 0 {
            let start = i;
            while i < 8 && words[i] == 0 {
                i += 1;
            }
            if i - start > len {
                (base, len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    if len < 2 {
        base = usize::MAX;
    }
    let mut out = Vec::with_capacity(46);
    let mut i = 0;
    while i < 8 {
        if i == base {
            out.push(b':');
            i += len;
            continue;
        }
        if i != 0 {
            out.push(b':');
        }
        if i == 6 && base == 0 && (len == 6 || (len == 7 && words[7] != 1) || (len == 5 && words[5] == 0xffff)) {
            let mut tmp = [0u8; 48];
            let n = ipv4_text(u32::from_be_bytes([b[12], b[13], b[14], b[15]]), &mut tmp);
            out.extend_from_slice(&tmp[..n]);
            break;
        }
        out.extend_from_slice(format!("{:x}", words[i]).as_bytes());
        i += 1;
    }
    if base != usize::MAX && base + len == 8 {
        out.push(b':');
    }
    buf[..out.len()].copy_from_slice(&out);
    out.len()
}

fn write_into(buf: &mut [u8; 48], args: std::fmt::Arguments) -> usize {
    use std::io::Write;
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    // An IPv6 address is at most 45 characters.
    let _ = cur.write_fmt(args);
    cur.position() as usize
}

/// `rwcut`'s text of a flag byte in its padded columns (`F  PA   `), with the padding around
/// it trimmed as the text path trims every field: what the text path stores for
/// `initialFlags` and `sessionFlags`. Empty for no flags.
pub fn padded_flags_text(mask: u8) -> String {
    let s: String = crate::ingest::fields::FLAG_LETTERS
        .iter()
        .enumerate()
        .map(|(bit, &c)| if mask & (1 << bit) != 0 { c as char } else { ' ' })
        .collect();
    s.trim().to_string()
}

/// `rwcut`'s `attributes` text of a TCP-state byte (`T`imeout-killed, `C`ontinued, `F`IN
/// followed by more, uniform packet `S`ize, in padded columns), trimmed the same way.
pub fn attributes_text(state: u8) -> String {
    let s: String = [(0x20, 'T'), (0x40, 'C'), (0x08, 'F'), (0x10, 'S')]
        .iter()
        .map(|&(bit, c)| if state & bit != 0 { c } else { ' ' })
        .collect();
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rwcut_ipv6_text_is_glibcs() {
        let t = |s: &str| {
            let mut buf = [0u8; 48];
            let n = rwcut_text(Addr::V6(s.parse::<Ipv6Addr>().unwrap().octets()), &mut buf);
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        for (addr, want) in [
            ("::", "::"),
            ("::1", "::1"),
            ("::2", "::2"),
            ("::0.2.0.2", "::0.2.0.2"),
            ("::10.0.0.1", "::10.0.0.1"),
            ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
            ("2001:db8::1", "2001:db8::1"),
            ("2001:db8::a00:10f", "2001:db8::a00:10f"),
            ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
            ("2001:0:0:1:0:0:1:1", "2001::1:0:0:1:1"),
            ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
            ("fe80::", "fe80::"),
        ] {
            assert_eq!(t(addr), want, "{addr}");
        }
        let mut buf = [0u8; 48];
        let n = ipv4_text(0x0a00_ff01, &mut buf);
        assert_eq!(&buf[..n], b"10.0.255.1");
    }

    #[test]
    fn flag_and_attribute_texts() {
        assert_eq!(padded_flags_text(0x02), "S");
        assert_eq!(padded_flags_text(0x19), "F  PA");
        assert_eq!(padded_flags_text(0), "");
        assert_eq!(attributes_text(0x20 | 0x10), "T  S");
        assert_eq!(attributes_text(0x01), "");
    }

    #[test]
    fn bytes_from_bytes_per_packet_round_as_silk() {
        let mut r = Rec::empty(&FileCtx { start_ms: 0, sensor: 0, flowtype: 0 });
        // 3 packets of 100.5 bytes: 301.5 rounds up.
        r.set_bytes_packets((100 << 6) | 32, 3, 0);
        assert_eq!((r.packets, r.bytes), (3, 302));
        r.set_bytes_packets(40 << 6, 2, 1);
        assert_eq!((r.packets, r.bytes), (128, 5120));
    }
}
