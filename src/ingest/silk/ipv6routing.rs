//! FT_RWIPV6ROUTING (0x0c): every field SiLK keeps, IPv4 or IPv6 per record (bit 0x80 of the
//! TCP-state byte), sensor and flow type in each record. What `rwtuc`, `rwcat` and `rwfilter`
//! write by default in an IPv6-enabled SiLK.
//!
//! ```text
//! v1/v2 (88 B): 0 common start (see Rec::fixed_start) | 28 in u16 | 30 out u16
//!               32 packets u32 | 36 bytes u32 | 40 sIP[16] | 56 dIP[16] | 72 nhIP[16]
//! v3 (100 B):   0 common start | 28 in u32 | 32 packets u64 | 40 bytes u64
//!               48 sIP[16] | 64 dIP[16] | 80 nhIP[16] | 96 out u32
//! ```
//! v2 is v1 whose application field is not to be trusted (SiLK reads it as 0).
//! Verified against rwcut on the fixtures: v1 (none, zlib, lzo1x; both byte orders), v3 (snappy).
//! v2 has no fixture (SiLK 3.19 writes v1 or v3).

use super::record::{addr16, Endian, Rec, TCPSTATE_IPV6};

pub const V1_LEN: usize = 88;
pub const V3_LEN: usize = 100;

#[inline(always)]
pub fn v1(b: &[u8; V1_LEN], e: Endian) -> Rec {
    let mut r = Rec::fixed_start(b, e);
    r.input = u32::from(e.u16(b, 28));
    r.output = u32::from(e.u16(b, 30));
    r.packets = u64::from(e.u32(b, 32));
    r.bytes = u64::from(e.u32(b, 36));
    let v6 = b[23] & TCPSTATE_IPV6 != 0;
    r.sip = addr16(b, 40, v6);
    r.dip = addr16(b, 56, v6);
    r.nhip = addr16(b, 72, v6);
    r.clear_bogus_expanded();
    r
}

#[inline(always)]
pub fn v2(b: &[u8; V1_LEN], e: Endian) -> Rec {
    let mut r = v1(b, e);
    r.application = 0;
    r
}

/// SiLK 3 clamps v3's 64-bit counters and 32-bit interfaces to its in-memory 32/16 bits; values
/// that large only come from a newer SiLK, whose rwcut prints them whole, so they are kept.
#[inline(always)]
pub fn v3(b: &[u8; V3_LEN], e: Endian) -> Rec {
    let mut r = Rec::fixed_start(b, e);
    r.input = e.u32(b, 28);
    r.packets = e.u64(b, 32);
    r.bytes = e.u64(b, 40);
    let v6 = b[23] & TCPSTATE_IPV6 != 0;
    r.sip = addr16(b, 48, v6);
    r.dip = addr16(b, 64, v6);
    r.nhip = addr16(b, 80, v6);
    r.output = e.u32(b, 96);
    r
}
