//! What the exporter formats (nfdump, Argus, CTU-13 binetflow, Zeek) share: turning one
//! bidirectional record into an originator row and a responder row, the ICMP type/code of each,
//! and field text for extra columns.
//!
//! A record with per-direction counters becomes two unidirectional rows: the originator's
//! (source → destination, the source's packets and bytes) and, when the responder sent anything,
//! the responder's (addresses and ports swapped, the destination's counters). The extra column
//! [`SIDE`] says which row is which, so `WHERE side = 'orig'` gives one row per connection.

use super::batch::Flow;
use super::delimited::Split;
use super::FieldError;

/// Name of the extra column that tells the originator's row (`orig`) from the responder's (`resp`).
pub const SIDE: &str = "side";
pub const ORIG: &str = "orig";
pub const RESP: &str = "resp";

/// True for ICMP and ICMPv6, whose type and code travel in `dport` (type*256+code).
#[inline]
pub fn is_icmp(proto: Option<u8>) -> bool {
    matches!(proto, Some(1) | Some(58))
}

/// The ICMP type the responder answers a request type with (echo, timestamp, information,
/// address mask; ICMPv6 echo and neighbour/router discovery). Other types are not requests,
/// and the responder's packets are taken to be of the same type.
pub fn reply_type(proto: u8, ty: u8) -> u8 {
    match (proto, ty) {
        (1, 8) => 0,
        (1, 13) => 14,
        (1, 15) => 16,
        (1, 17) => 18,
        (58, 128) => 129,
        (58, 133) => 134,
        (58, 135) => 136,
        _ => ty,
    }
}

/// The responder's row of a bidirectional record: addresses and ports swapped, its own counters.
/// For ICMP the ports are not swapped: `dport` carries the reply's type and code.
pub fn responder<'a>(orig: &Flow<'a>, packets: Option<i64>, bytes: Option<i64>) -> Flow<'a> {
    let (sport, dport) = match orig.proto {
        Some(p) if is_icmp(orig.proto) => {
            let d = orig.dport.unwrap_or(0);
            (orig.sport, Some(u16::from(reply_type(p, (d >> 8) as u8)) << 8 | (d & 0xff)))
        }
        _ => (orig.dport, orig.sport),
    };
    Flow { sip: orig.dip, dip: orig.sip, sport, dport, packets, bytes, ..*orig }
}

/// A `FieldError` for `column`.
pub fn err(column: &str, reason: impl Into<String>) -> FieldError {
    FieldError { column: column.to_string(), reason: reason.into() }
}

/// Splits `line` at `sep` into `ranges`, trimming blanks around each field (Argus pads `Dir`
/// and `Flgs`, nfdump pads the latency columns).
pub fn split_trimmed(line: &[u8], sep: u8, ranges: &mut Vec<(usize, usize)>) {
    // The rwcut splitter: separators found a word at a time, which for these short fields costs
    // less than a `memchr` call per field. Without quotes it never uses its scratch buffer.
    Split::Char { sep, quotes: false }.split(line, &mut Vec::new(), ranges);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::fields::parse_ip;

    fn flow(proto: u8, sport: u16, dport: u16) -> Flow<'static> {
        Flow {
            stime: Some(1),
            etime: Some(2),
            sip: parse_ip(b"10.0.0.1").unwrap(),
            dip: parse_ip(b"10.0.0.2").unwrap(),
            sport: Some(sport),
            dport: Some(dport),
            proto: Some(proto),
            packets: Some(3),
            bytes: Some(300),
            flags: None,
        }
    }

    #[test]
    fn responder_swaps_addresses_and_ports() {
        let r = responder(&flow(6, 40000, 22), Some(2), Some(100));
        assert_eq!((r.sip.as_str(), r.dip.as_str()), ("10.0.0.2", "10.0.0.1"));
        assert_eq!((r.sport, r.dport, r.packets, r.bytes), (Some(22), Some(40000), Some(2), Some(100)));
        assert_eq!((r.stime, r.etime), (Some(1), Some(2)));
    }

    #[test]
    fn icmp_echo_is_answered_by_echo_reply() {
        let r = responder(&flow(1, 0, 8 * 256), Some(1), Some(84));
        assert_eq!((r.sport, r.dport), (Some(0), Some(0)));
        let r = responder(&flow(58, 0, 128 * 256), Some(1), Some(104));
        assert_eq!(r.dport, Some(129 * 256));
        // Not a request: the responder's packets keep the type and code.
        let r = responder(&flow(1, 0, 3 * 256 + 3), Some(1), Some(84));
        assert_eq!(r.dport, Some(3 * 256 + 3));
    }

    #[test]
    fn splits_and_trims() {
        let mut r = Vec::new();
        split_trimmed(b"a, e   ,  <->,", b',', &mut r);
        assert_eq!(r, vec![(0, 1), (3, 4), (10, 13), (14, 14)]);
    }
}
