//! Sets of ports and of IP protocols written as comma lists with ranges (`22,80,6660-6669`,
//! `tcp,udp,50-51`): `ports --watch` and the selection's `--sport/--dport/--aport/--proto`.
//! Both are bitmaps, so that testing a row is one load and a mask, and asking whether a row
//! group's `[min, max]` statistics can hold a member looks at a few words.

use arrow_buffer::BooleanBuffer;

use crate::error::{Error, Result};
use crate::ingest::fields::proto_by_name;

/// The built-in watch list (`data/watch-ports.txt`).
pub const DEFAULT_WATCH: &str = include_str!("../../data/watch-ports.txt");

/// A set of port numbers, as a bitmap (8 KiB, tested in O(1)).
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    bits: Box<[u64; 1024]>,
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortSet({})", self.to_list())
    }
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet { bits: Box::new([0; 1024]) }
    }
}

impl PortSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// The default watch list from `data/watch-ports.txt`.
    pub fn default_watch() -> Self {
        // Tested below to parse; a failure would be a defect of the built-in file.
        PortSet::parse_list(DEFAULT_WATCH).unwrap_or_default()
    }

    pub fn insert(&mut self, port: u16) {
        self.bits[port as usize >> 6] |= 1 << (port & 63);
    }

    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.bits[port as usize >> 6] & (1 << (port & 63)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    /// The ports in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|&p| self.contains(p))
    }

    /// Adds every port of `other`.
    pub fn union_with(&mut self, other: &PortSet) {
        for (a, b) in self.bits.iter_mut().zip(other.bits.iter()) {
            *a |= b;
        }
    }

    /// Whether some port in `lo..=hi` is in the set.
    pub fn any_in(&self, lo: u16, hi: u16) -> bool {
        any_bit_in(&self.bits[..], lo as usize, hi as usize)
    }

    /// Whether every port in `lo..=hi` is in the set.
    pub fn all_in(&self, lo: u16, hi: u16) -> bool {
        all_bits_in(&self.bits[..], lo as usize, hi as usize)
    }

    /// Whether each value is in the set (the values' nulls are the caller's business).
    pub fn mask(&self, values: &[u16]) -> BooleanBuffer {
        BooleanBuffer::collect_bool(values.len(), |i| self.contains(values[i]))
    }

    /// Parses `6660-6669,1214`; also accepts newlines as separators and `#` comments (the
    /// format of `data/watch-ports.txt`). An empty list (or `none`) is the empty set.
    pub fn parse_list(text: &str) -> Result<Self> {
        let mut set = PortSet::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            for item in line.split([',', ' ', '\t']).map(str::trim).filter(|s| !s.is_empty()) {
                if item.eq_ignore_ascii_case("none") {
                    continue;
                }
                let bad = || {
                    Error::Usage(format!(
                        "'{item}' is not a port (0-65535) or a range LOW-HIGH; write e.g. 6660-6669,1214"
                    ))
                };
                let (lo, hi) = match item.split_once('-') {
                    Some((a, b)) => {
                        (a.trim().parse::<u16>().map_err(|_| bad())?, b.trim().parse::<u16>().map_err(|_| bad())?)
                    }
                    None => {
                        let p = item.parse::<u16>().map_err(|_| bad())?;
                        (p, p)
                    }
                };
                if lo > hi {
                    return Err(bad());
                }
                for p in lo..=hi {
                    set.insert(p);
                }
            }
        }
        Ok(set)
    }

    /// The set as ascending runs of consecutive ports, `(first, last)`.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        let mut ports = self.iter().peekable();
        while let Some(lo) = ports.next() {
            let mut hi = lo;
            while ports.peek() == Some(&(hi.wrapping_add(1))) && hi != u16::MAX {
                hi = ports.next().unwrap_or(hi);
            }
            out.push((lo, hi));
        }
        out
    }

    /// The set written back as a comma list with ranges.
    pub fn to_list(&self) -> String {
        let parts: Vec<String> = self
            .ranges()
            .iter()
            .map(|&(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") })
            .collect();
        parts.join(",")
    }
}

/// A set of IP protocol numbers, as a bitmap.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProtoSet {
    bits: [u64; 4],
}

impl std::fmt::Debug for ProtoSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list: Vec<String> = (0..=u8::MAX).filter(|&p| self.contains(p)).map(|p| p.to_string()).collect();
        write!(f, "ProtoSet({})", list.join(","))
    }
}

impl ProtoSet {
    pub fn insert(&mut self, proto: u8) {
        self.bits[proto as usize >> 6] |= 1 << (proto & 63);
    }

    #[inline]
    pub fn contains(&self, proto: u8) -> bool {
        self.bits[proto as usize >> 6] & (1 << (proto & 63)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }

    pub fn union_with(&mut self, other: &ProtoSet) {
        for (a, b) in self.bits.iter_mut().zip(other.bits.iter()) {
            *a |= b;
        }
    }

    /// Whether some protocol in `lo..=hi` is in the set.
    pub fn any_in(&self, lo: u8, hi: u8) -> bool {
        any_bit_in(&self.bits, lo as usize, hi as usize)
    }

    /// Whether every protocol in `lo..=hi` is in the set.
    pub fn all_in(&self, lo: u8, hi: u8) -> bool {
        all_bits_in(&self.bits, lo as usize, hi as usize)
    }

    /// Whether each value is in the set.
    pub fn mask(&self, values: &[u8]) -> BooleanBuffer {
        BooleanBuffer::collect_bool(values.len(), |i| self.contains(values[i]))
    }

    /// Parses `6,17`, `tcp,udp,icmp`, `50-51` (numbers 0-255, ranges LOW-HIGH, and the protocol
    /// names flow exporters print: tcp, udp, icmp, gre, esp, ah, icmp6, sctp, ...).
    pub fn parse_list(text: &str) -> Result<Self> {
        let mut set = ProtoSet::default();
        for item in text.split([',', ' ', '\t']).map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || {
                Error::Usage(format!(
                    "'{item}' is not a protocol (a number 0-255, a range LOW-HIGH or a name such as tcp, udp, icmp)"
                ))
            };
            let one = |s: &str| -> Result<u8> {
                let s = s.trim();
                s.parse::<u8>().ok().or_else(|| proto_by_name(s.as_bytes())).ok_or_else(bad)
            };
            // A name may hold a '-' (ipv6-icmp): try the whole item before a range.
            let (lo, hi) = match (one(item), item.split_once('-')) {
                (Ok(p), _) => (p, p),
                (Err(_), Some((a, b))) => (one(a)?, one(b)?),
                (Err(e), None) => return Err(e),
            };
            if lo > hi {
                return Err(bad());
            }
            for p in lo..=hi {
                set.insert(p);
            }
        }
        Ok(set)
    }
}

/// Whether some bit in `lo..=hi` is set (`lo <= hi`, both within `words`).
fn any_bit_in(words: &[u64], lo: usize, hi: usize) -> bool {
    if lo > hi {
        return false;
    }
    let (first, last) = (lo >> 6, hi >> 6);
    (first..=last).any(|w| words[w] & word_mask(w, lo, hi) != 0)
}

/// Whether every bit in `lo..=hi` is set.
fn all_bits_in(words: &[u64], lo: usize, hi: usize) -> bool {
    if lo > hi {
        return true;
    }
    let (first, last) = (lo >> 6, hi >> 6);
    (first..=last).all(|w| {
        let m = word_mask(w, lo, hi);
        words[w] & m == m
    })
}

/// The bits of word `w` that lie in `lo..=hi`.
fn word_mask(w: usize, lo: usize, hi: usize) -> u64 {
    let start = lo.max(w << 6) - (w << 6);
    let end = hi.min((w << 6) + 63) - (w << 6);
    (u64::MAX >> (63 - end)) & (u64::MAX << start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        let s = PortSet::parse_list("6660-6669, 1214,80").unwrap();
        assert!(s.contains(6660) && s.contains(6667) && s.contains(6669) && s.contains(1214) && s.contains(80));
        assert!(!s.contains(6670) && !s.contains(0) && !s.contains(81));
        assert_eq!(s.to_list(), "80,1214,6660-6669");
        assert_eq!(PortSet::parse_list("0-65535").unwrap().to_list(), "0-65535");
        assert!(PortSet::parse_list("").unwrap().is_empty());
        assert!(PortSet::parse_list("none").unwrap().is_empty());
    }

    #[test]
    fn errors() {
        for bad in ["70000", "10-5", "irc", "1-", "-3"] {
            let e = PortSet::parse_list(bad).unwrap_err().to_string();
            assert!(e.contains("is not a port"), "{bad}: {e}");
        }
    }

    #[test]
    fn default_file_parses() {
        let s = PortSet::parse_list(DEFAULT_WATCH).unwrap();
        assert_eq!(s.to_list(), "1214,6660-6669,6697");
    }

    #[test]
    fn ranges_of_the_bitmap() {
        let s = PortSet::parse_list("22,80,6660-6669,65535").unwrap();
        assert!(s.any_in(0, 22) && s.any_in(22, 22) && s.any_in(23, 80) && s.any_in(6665, 6665));
        assert!(!s.any_in(0, 21) && !s.any_in(23, 79) && !s.any_in(81, 6659) && !s.any_in(6670, 65534));
        assert!(s.any_in(0, 65535) && s.any_in(65535, 65535));
        assert!(s.all_in(6660, 6669) && s.all_in(22, 22) && s.all_in(65535, 65535));
        assert!(!s.all_in(6659, 6669) && !s.all_in(22, 80) && !s.all_in(0, 65535));
        // Ranges across word boundaries (64 ports a word).
        let wide = PortSet::parse_list("60-200").unwrap();
        assert!(wide.all_in(60, 200) && wide.all_in(64, 127) && !wide.all_in(59, 200) && !wide.all_in(60, 201));
        assert!(wide.any_in(0, 60) && wide.any_in(200, 1000) && !wide.any_in(201, 65535) && !wide.any_in(0, 59));
        assert!(PortSet::parse_list("0-65535").unwrap().all_in(0, 65535));
        let mut u = PortSet::parse_list("22").unwrap();
        u.union_with(&PortSet::parse_list("80-81").unwrap());
        assert_eq!(u.to_list(), "22,80-81");
        let m = s.mask(&[22, 23, 6669, 0, 65535]);
        assert_eq!(m.iter().collect::<Vec<_>>(), [true, false, true, false, true]);
    }

    #[test]
    fn protocol_lists() {
        let p = ProtoSet::parse_list("tcp,UDP, 1,50-51,ipv6-icmp").unwrap();
        for n in [1, 6, 17, 50, 51, 58] {
            assert!(p.contains(n), "{n}");
        }
        assert!(!p.contains(0) && !p.contains(47) && !p.contains(255));
        assert!(p.any_in(2, 6) && !p.any_in(7, 16) && p.all_in(50, 51) && !p.all_in(50, 52));
        assert_eq!(p.mask(&[6, 7, 58]).iter().collect::<Vec<_>>(), [true, false, true]);
        assert!(ProtoSet::parse_list("0-255").unwrap().all_in(0, 255));
        assert!(ProtoSet::parse_list("icmp-tcp").unwrap().all_in(1, 6));
        for bad in ["256", "tcpx", "6-1", "-", "1-", "x-6"] {
            let e = ProtoSet::parse_list(bad).unwrap_err().to_string();
            assert!(e.contains("is not a protocol"), "{bad}: {e}");
        }
        assert!(ProtoSet::parse_list("").unwrap().is_empty());
    }
}
