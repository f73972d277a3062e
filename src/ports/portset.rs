//! Sets of ports written as comma lists with ranges (`6660-6669,1214`), for `--watch`.

use crate::error::{Error, Result};

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

    /// The set written back as a comma list with ranges.
    pub fn to_list(&self) -> String {
        let mut out = Vec::new();
        let mut ports = self.iter().peekable();
        while let Some(lo) = ports.next() {
            let mut hi = lo;
            while ports.peek() == Some(&(hi.wrapping_add(1))) && hi != u16::MAX {
                hi = ports.next().unwrap_or(hi);
            }
            out.push(if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") });
        }
        out.join(",")
    }
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
}
