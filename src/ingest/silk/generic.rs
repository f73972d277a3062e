//! FT_RWGENERIC (0x16): IPv4 only, every field in the records' byte order (addresses too).
//! What an IPv4-only SiLK's tools write, and `rwcat --ipv4-output`.
//!
//! ```text
//! v5 (52 B): 0 common start (see Rec::fixed_start) | 28 in u16 | 30 out u16
//!            32 packets u32 | 36 bytes u32 | 40 sIP u32 | 44 dIP u32 | 48 nhIP u32
//! ```
//! Verified against rwcut on the fixtures: v5 (none big-endian, zlib and snappy little-endian).
//! Versions 0-4 (SiLK before 1.0) are refused.

use super::record::{Addr, Endian, Rec};

pub const V5_LEN: usize = 52;

#[inline(always)]
pub fn v5(b: &[u8; V5_LEN], e: Endian) -> Rec {
    let mut r = Rec::fixed_start(b, e);
    r.input = u32::from(e.u16(b, 28));
    r.output = u32::from(e.u16(b, 30));
    r.packets = u64::from(e.u32(b, 32));
    r.bytes = u64::from(e.u32(b, 36));
    r.sip = Addr::V4(e.u32(b, 40));
    r.dip = Addr::V4(e.u32(b, 44));
    r.nhip = Addr::V4(e.u32(b, 48));
    r.clear_bogus_expanded();
    r
}
