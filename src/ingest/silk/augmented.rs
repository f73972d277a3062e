//! The IPv4 repository formats an IPv4-only `rwflowpack` writes to the hourly files: the hour,
//! sensor and flow type come from the packed-file header entry; times are milliseconds into
//! the hour.
//!
//! - FT_RWAUGMENTED (0x14): no interfaces, no next hop.
//! - FT_RWAUGWEB (0x15): TCP to or from port 80, 443 or 8080, the server port in two bits.
//! - FT_RWAUGROUTING (0x0e): with interfaces and next hop (`--pack-interfaces`).
//! - FT_RWAUGSNMPOUT (0x0d): with the output interface only.
//!
//! Versions 4 (SiLK 1.0 to 3.x's default: bytes as bytes-per-packet, packets in 20 bits times 64
//! when flagged) and 5 (whole counts) are read.
//!
//! **Unverified**: no SiLK-written fixture exists for these formats (the fixtures' SiLK was
//! built with IPv6, whose rwflowpack writes FT_RWIPV6). The layouts are read from SiLK's
//! source; the tests check them against records packed by hand from that reading only.

use super::record::{Addr, Endian, FileCtx, Rec};

pub const AUGMENTED_V4_LEN: usize = 28;
pub const AUGMENTED_V5_LEN: usize = 32;
pub const AUGWEB_V4_LEN: usize = 26;
pub const AUGWEB_V5_LEN: usize = 30;
pub const AUGROUTING_V4_LEN: usize = 36;
pub const AUGROUTING_V5_LEN: usize = 40;
pub const AUGSNMPOUT_V4_LEN: usize = 30;
pub const AUGSNMPOUT_V5_LEN: usize = 34;

/// The server port of an FT_RWAUGWEB record from its two-bit code.
fn web_port(code: u32) -> u16 {
    match code {
        0 => 80,
        1 => 443,
        2 => 8080,
        _ => 0,
    }
}

/// v5's common part: 0 start/flags/proto (Rec::times_flags_proto) | 6 application | 8 sPort
/// | 10 dPort | 12 elapsed | 16 packets | 20 bytes | 24 sIP | 28 dIP.
#[inline(always)]
fn v5_common(b: &[u8], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = Rec::empty(ctx);
    r.times_flags_proto(b, e, ctx);
    r.application = e.u16(b, 6);
    r.sport = e.u16(b, 8);
    r.dport = e.u16(b, 10);
    r.elapsed_ms = e.u32(b, 12);
    r.packets = u64::from(e.u32(b, 16));
    r.bytes = u64::from(e.u32(b, 20));
    r.sip = Addr::V4(e.u32(b, 24));
    r.dip = Addr::V4(e.u32(b, 28));
    r
}

/// v4's common part: 0 the 16 bytes of Rec::flags_times_volumes | 16 sPort | 18 dPort.
#[inline(always)]
fn v4_common(b: &[u8], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = Rec::empty(ctx);
    r.flags_times_volumes(b, e, ctx, false);
    r.sport = e.u16(b, 16);
    r.dport = e.u16(b, 18);
    r
}

#[inline(always)]
pub fn augmented_v4(b: &[u8; AUGMENTED_V4_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = v4_common(b, e, ctx);
    r.sip = Addr::V4(e.u32(b, 20));
    r.dip = Addr::V4(e.u32(b, 24));
    r
}

#[inline(always)]
pub fn augmented_v5(b: &[u8; AUGMENTED_V5_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    v5_common(b, e, ctx)
}

/// 0-15 Rec::flags_times_volumes (bits 20-21 of the u32 at 8: server port code; bit 22: the
/// source is the server) | 16 sIP | 20 dIP | 24 client port.
#[inline(always)]
pub fn augweb_v4(b: &[u8; AUGWEB_V4_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = Rec::empty(ctx);
    r.flags_times_volumes(b, e, ctx, true);
    r.sip = Addr::V4(e.u32(b, 16));
    r.dip = Addr::V4(e.u32(b, 20));
    let w = e.u32(b, 8);
    let (server, client) = (web_port((w >> 20) & 3), e.u16(b, 24));
    (r.sport, r.dport) = if (w >> 22) & 1 == 1 { (server, client) } else { (client, server) };
    r
}

/// 0 start/flags (Rec::times_flags_proto; bit 22: the source is the server) | 6 application
/// | 8 server port code (2 top bits) and elapsed (30 bits) | 12 packets | 16 bytes | 20 sIP
/// | 24 dIP | 28 client port.
#[inline(always)]
pub fn augweb_v5(b: &[u8; AUGWEB_V5_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = Rec::empty(ctx);
    r.times_flags_proto(b, e, ctx);
    r.application = e.u16(b, 6);
    let w = e.u32(b, 8);
    r.elapsed_ms = w & 0x3fff_ffff;
    r.packets = u64::from(e.u32(b, 12));
    r.bytes = u64::from(e.u32(b, 16));
    r.sip = Addr::V4(e.u32(b, 20));
    r.dip = Addr::V4(e.u32(b, 24));
    let (server, client) = (web_port(w >> 30), e.u16(b, 28));
    (r.sport, r.dport) = if (e.u32(b, 0) >> 22) & 1 == 1 { (server, client) } else { (client, server) };
    r
}

/// v4: common 0-19 | 20 in | 22 out | 24 sIP | 28 dIP | 32 nhIP.
#[inline(always)]
pub fn augrouting_v4(b: &[u8; AUGROUTING_V4_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = v4_common(b, e, ctx);
    r.input = u32::from(e.u16(b, 20));
    r.output = u32::from(e.u16(b, 22));
    r.sip = Addr::V4(e.u32(b, 24));
    r.dip = Addr::V4(e.u32(b, 28));
    r.nhip = Addr::V4(e.u32(b, 32));
    r
}

/// v5: common 0-31 | 32 nhIP | 36 in | 38 out.
#[inline(always)]
pub fn augrouting_v5(b: &[u8; AUGROUTING_V5_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = v5_common(b, e, ctx);
    r.nhip = Addr::V4(e.u32(b, 32));
    r.input = u32::from(e.u16(b, 36));
    r.output = u32::from(e.u16(b, 38));
    r
}

/// v4: common 0-19 | 20 sIP | 24 dIP | 28 out.
#[inline(always)]
pub fn augsnmpout_v4(b: &[u8; AUGSNMPOUT_V4_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = v4_common(b, e, ctx);
    r.sip = Addr::V4(e.u32(b, 20));
    r.dip = Addr::V4(e.u32(b, 24));
    r.output = u32::from(e.u16(b, 28));
    r
}

/// v5: common 0-31 | 32 out.
#[inline(always)]
pub fn augsnmpout_v5(b: &[u8; AUGSNMPOUT_V5_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = v5_common(b, e, ctx);
    r.output = u32::from(e.u16(b, 32));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: FileCtx =
        FileCtx { start_ms: 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000, sensor: 3, flowtype: 2 };

    /// A TCP flow with initial and session flags, packed by hand as SiLK's v5 layout says.
    #[test]
    fn augmented_v5_by_hand() {
        let mut b = [0u8; AUGMENTED_V5_LEN];
        let w: u32 = (0x18 << 24) | (1 << 23) | 1234;
        b[0..4].copy_from_slice(&w.to_be_bytes());
        b[4] = 0x02; // SYN first
        b[5] = 0x01 | 0x20; // expanded, timeout-killed
        b[6..8].copy_from_slice(&80u16.to_be_bytes());
        b[8..10].copy_from_slice(&40000u16.to_be_bytes());
        b[10..12].copy_from_slice(&80u16.to_be_bytes());
        b[12..16].copy_from_slice(&2500u32.to_be_bytes());
        b[16..20].copy_from_slice(&7u32.to_be_bytes());
        b[20..24].copy_from_slice(&900u32.to_be_bytes());
        b[24..28].copy_from_slice(&0x0a00_0001u32.to_be_bytes());
        b[28..32].copy_from_slice(&0x0a00_0002u32.to_be_bytes());
        let r = augmented_v5(&b, Endian { big: true }, &CTX);
        assert_eq!(r.stime_ms, CTX.start_ms + 1234);
        assert_eq!((r.proto, r.flags, r.init_flags, r.rest_flags, r.tcp_state), (6, 0x1a, 0x02, 0x18, 0x21));
        assert_eq!((r.sport, r.dport, r.elapsed_ms, r.packets, r.bytes), (40000, 80, 2500, 7, 900));
        assert_eq!((r.sensor, r.flowtype, r.application), (3, 2, 80));
        assert_eq!((r.sip, r.dip), (Addr::V4(0x0a00_0001), Addr::V4(0x0a00_0002)));
    }

    /// A UDP flow in v4's bit-packed volumes: 64 × 3 packets flagged, 100.5 bytes each.
    #[test]
    fn augmented_v4_by_hand() {
        let mut b = [0u8; AUGMENTED_V4_LEN];
        let bpp: u32 = (100 << 6) | 32;
        let s: u32 = (3_000_000 << 10) | (bpp >> 10);
        let t: u32 = ((bpp & 0x3ff) << 22) | 1500;
        let w: u32 = (17 << 24) | (1 << 23) | 3;
        b[0..4].copy_from_slice(&s.to_le_bytes());
        b[4..8].copy_from_slice(&t.to_le_bytes());
        b[8..12].copy_from_slice(&w.to_le_bytes());
        b[13] = 0; // flags as reported
        b[16..18].copy_from_slice(&53u16.to_le_bytes());
        b[18..20].copy_from_slice(&5353u16.to_le_bytes());
        b[20..24].copy_from_slice(&0xc0a8_0001u32.to_le_bytes());
        let r = augmented_v4(&b, Endian { big: false }, &CTX);
        assert_eq!((r.stime_ms - CTX.start_ms, r.elapsed_ms), (3_000_000, 1500));
        assert_eq!((r.proto, r.packets, r.bytes), (17, 192, 19296));
        assert_eq!((r.sport, r.dport, r.sip), (53, 5353, Addr::V4(0xc0a8_0001)));
    }

    #[test]
    fn augweb_puts_the_server_port_on_its_side() {
        let mut b = [0u8; AUGWEB_V5_LEN];
        b[0..4].copy_from_slice(&((1u32 << 23) | (1 << 22) | 10).to_be_bytes());
        b[8..12].copy_from_slice(&((1u32 << 30) | 42).to_be_bytes());
        b[28..30].copy_from_slice(&51000u16.to_be_bytes());
        let r = augweb_v5(&b, Endian { big: true }, &CTX);
        assert_eq!((r.proto, r.sport, r.dport, r.elapsed_ms), (6, 443, 51000, 42));
        let mut b = [0u8; AUGWEB_V4_LEN];
        b[8..12].copy_from_slice(&((2u32 << 20) | 1).to_be_bytes());
        b[24..26].copy_from_slice(&51000u16.to_be_bytes());
        let r = augweb_v4(&b, Endian { big: true }, &CTX);
        assert_eq!((r.proto, r.sport, r.dport, r.packets), (6, 51000, 8080, 1));
    }
}
