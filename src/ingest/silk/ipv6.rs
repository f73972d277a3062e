//! FT_RWIPV6 (0x0b): IPv4 or IPv6 per record (bit 0x80 of the TCP-state byte), no interfaces
//! and no next hop (rwcut prints 0 and `0.0.0.0` or `::`). What an IPv6-enabled `rwflowpack`
//! writes to the hourly repository files.
//!
//! ```text
//! v1 (68 B): 0 common start (see Rec::fixed_start) | 28 packets u32 | 32 bytes u32
//!            36 sIP[16] | 52 dIP[16]
//! v2 (56 B): 0 start in the hour, TCP bit, session flags (Rec::times_flags_proto) | 4 proto or
//!            flags | 5 TCP state | 6 application | 8 sPort | 10 dPort | 12 elapsed u32
//!            16 packets u32 | 20 bytes u32 | 24 sIP[16] | 40 dIP[16]
//! ```
//! v2 takes its hour, sensor and flow type from the packed-file header entry.
//! Verified against rwcut on the fixtures: v1 (none little-endian, lzo1x big-endian hourly file),
//! v2 (snappy big-endian).

use super::record::{addr16, Addr, Endian, FileCtx, Rec, TCPSTATE_IPV6};

pub const V1_LEN: usize = 68;
pub const V2_LEN: usize = 56;

#[inline(always)]
pub fn v1(b: &[u8; V1_LEN], e: Endian) -> Rec {
    let mut r = Rec::fixed_start(b, e);
    r.packets = u64::from(e.u32(b, 28));
    r.bytes = u64::from(e.u32(b, 32));
    let v6 = b[23] & TCPSTATE_IPV6 != 0;
    r.sip = addr16(b, 36, v6);
    r.dip = addr16(b, 52, v6);
    if v6 {
        r.nhip = Addr::V6([0; 16]);
    }
    r.clear_bogus_expanded();
    r
}

#[inline(always)]
pub fn v2(b: &[u8; V2_LEN], e: Endian, ctx: &FileCtx) -> Rec {
    let mut r = Rec::empty(ctx);
    r.times_flags_proto(b, e, ctx);
    r.application = e.u16(b, 6);
    r.sport = e.u16(b, 8);
    r.dport = e.u16(b, 10);
    r.elapsed_ms = e.u32(b, 12);
    r.packets = u64::from(e.u32(b, 16));
    r.bytes = u64::from(e.u32(b, 20));
    let v6 = b[5] & TCPSTATE_IPV6 != 0;
    r.sip = addr16(b, 24, v6);
    r.dip = addr16(b, 40, v6);
    if v6 {
        r.nhip = Addr::V6([0; 16]);
    }
    r
}
