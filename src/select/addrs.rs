//! Sets of addresses written as comma lists of addresses and CIDR networks, IPv4 and IPv6
//! (`10.0.0.5,10.1.0.0/16,2001:db8::/32`): `--saddress`, `--daddress`, `--any-address`.
//!
//! A set is kept as sorted, merged ranges of integers (one list per family), so that a lookup
//! is a binary search whatever the length of the list. An IPv4 address and the IPv4-mapped
//! IPv6 address `::ffff:a.b.c.d` are different addresses here, as they are different text in
//! the flows files.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{Error, Result};

/// A set of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrSet {
    /// Inclusive ranges, sorted, neither overlapping nor touching.
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// Most text prefixes an IPv4 set is turned into for pruning by string statistics; a set that
/// needs more is not used for pruning (its rows are still filtered exactly).
const MAX_TEXT_PREFIXES: usize = 1024;

impl AddrSet {
    /// Parses a comma (or blank) separated list of addresses and networks. A network written
    /// with host bits set (`10.1.2.3/8`) means the network, as for `--local`.
    pub fn parse_list(text: &str) -> Result<Self> {
        let mut set = AddrSet::default();
        for item in text.split([',', ' ', '\t']).map(str::trim).filter(|s| !s.is_empty()) {
            set.insert(parse_net(item)?);
        }
        Ok(set)
    }

    /// Adds a network.
    pub fn insert(&mut self, net: IpNet) {
        match net.trunc() {
            IpNet::V4(n) => push_range(&mut self.v4, (u32::from(n.network()), u32::from(n.broadcast()))),
            IpNet::V6(n) => push_range(&mut self.v6, (u128::from(n.network()), u128::from(n.broadcast()))),
        }
    }

    /// Adds every address of `other`.
    pub fn union_with(&mut self, other: &AddrSet) {
        for &r in &other.v4 {
            push_range(&mut self.v4, r);
        }
        for &r in &other.v6 {
            push_range(&mut self.v6, r);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => in_ranges(&self.v4, u32::from(a)),
            IpAddr::V6(a) => in_ranges(&self.v6, u128::from(a)),
        }
    }

    /// Every string an address of the set can be stored as, as sorted, disjoint intervals
    /// `[lo, hi)` of byte strings (`hi = None`: the one string `lo`), or `None` when the set
    /// cannot be described so. A row group whose `sip` statistics `[min, max]` meet none of the
    /// intervals holds no address of the set.
    ///
    /// Only IPv4 sets qualify: an IPv4 address has exactly one text that parses (dotted decimal
    /// without leading zeros), so its texts are known, while an IPv6 address can be written many
    /// ways (`2001:DB8::1`, `2001:db8:0::1`) that a foreign writer may have stored. A network on
    /// an octet boundary is all the strings that start with its first octets and a dot
    /// (`10.1.0.0/16` is `10.1.` up to `10.1/`); other networks are split into such networks.
    pub fn text_intervals(&self) -> Option<Vec<(String, Option<String>)>> {
        if !self.v6.is_empty() || self.v4.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for &(lo, hi) in &self.v4 {
            let mut start = lo as u64;
            let end = hi as u64 + 1;
            while start < end {
                // The largest octet-aligned block that starts at `start` and fits.
                let mut size: u64 = 1;
                while size < (1 << 32) && start.is_multiple_of(size << 8) && start + (size << 8) <= end {
                    size <<= 8;
                }
                let octets = (start as u32).to_be_bytes();
                let prefix = match size {
                    1 => format!("{}.{}.{}.{}", octets[0], octets[1], octets[2], octets[3]),
                    0x100 => format!("{}.{}.{}.", octets[0], octets[1], octets[2]),
                    0x1_0000 => format!("{}.{}.", octets[0], octets[1]),
                    0x100_0000 => format!("{}.", octets[0]),
                    // Every IPv4 address: every string with a dot (no bound worth having).
                    _ => return None,
                };
                out.push(if size == 1 {
                    (prefix, None)
                } else {
                    // The strings that start with `prefix`: up to the prefix with its final dot
                    // replaced by the next byte, '/'.
                    let mut hi = prefix.clone();
                    hi.pop();
                    hi.push('/');
                    (prefix, Some(hi))
                });
                if out.len() > MAX_TEXT_PREFIXES {
                    return None;
                }
                start += size;
            }
        }
        out.sort();
        Some(out)
    }
}

/// One address or network; the reason names the item.
fn parse_net(item: &str) -> Result<IpNet> {
    let hint = "write e.g. 10.0.0.5, 10.0.0.0/8, 2001:db8::1 or 2001:db8::/32";
    let bad = |why: String| Error::Usage(format!("'{item}' is not an address or network: {why}; {hint}"));
    match item.split_once('/') {
        None => item.parse::<IpAddr>().map(IpNet::from).map_err(|_| bad("not an IPv4 or IPv6 address".into())),
        Some((addr, len)) => {
            let addr: IpAddr = addr.parse().map_err(|_| bad(format!("'{addr}' is not an IPv4 or IPv6 address")))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len: u8 = match len.parse::<u8>() {
                Ok(l) if l <= max => l,
                _ => {
                    let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                    return Err(bad(format!("the prefix length must be 0-{max} for {family}, not '{len}'")));
                }
            };
            IpNet::new(addr, len).map_err(|e| bad(e.to_string()))
        }
    }
}

/// Inserts `(lo, hi)` into sorted, disjoint, non-touching ranges, merging as needed.
fn push_range<T: Copy + Ord + num_like::Step>(ranges: &mut Vec<(T, T)>, (lo, hi): (T, T)) {
    // Ranges that overlap or touch [lo, hi] merge with it.
    let first = ranges.partition_point(|&(_, h)| h < lo && T::next(h) != Some(lo));
    let mut last = first;
    let (mut lo, mut hi) = (lo, hi);
    while last < ranges.len() && (ranges[last].0 <= hi || Some(ranges[last].0) == T::next(hi)) {
        lo = lo.min(ranges[last].0);
        hi = hi.max(ranges[last].1);
        last += 1;
    }
    ranges.splice(first..last, [(lo, hi)]);
}

fn in_ranges<T: Copy + Ord>(ranges: &[(T, T)], v: T) -> bool {
    let i = ranges.partition_point(|&(_, hi)| hi < v);
    i < ranges.len() && ranges[i].0 <= v
}

/// The successor of an address as an integer, for merging touching ranges.
mod num_like {
    pub trait Step: Sized {
        fn next(self) -> Option<Self>;
    }
    impl Step for u32 {
        fn next(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
    impl Step for u128 {
        fn next(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lists_of_addresses_and_networks() {
        let s = AddrSet::parse_list("10.0.0.5, 10.1.0.0/16,2001:db8::/32 192.0.2.1/32,10.1.2.3/8").unwrap();
        for yes in ["10.0.0.5", "10.1.0.0", "10.200.3.4", "2001:db8::1", "2001:db8:ffff::", "192.0.2.1"] {
            assert!(s.contains(ip(yes)), "{yes}");
        }
        for no in ["11.0.0.0", "9.255.255.255", "2001:db9::", "192.0.2.2", "::ffff:10.0.0.5", "::"] {
            assert!(!s.contains(ip(no)), "{no}");
        }
        // 10.0.0.5 lies inside 10.0.0.0/8 (written 10.1.2.3/8): one range.
        assert_eq!(s.v4, [(0x0a00_0000, 0x0aff_ffff), (0xc000_0201, 0xc000_0201)]);
        let all = AddrSet::parse_list("0.0.0.0/0,::/0").unwrap();
        assert!(all.contains(ip("255.255.255.255")) && all.contains(ip("ffff::1")) && all.contains(ip("0.0.0.0")));
        assert!(AddrSet::parse_list("").unwrap().is_empty());
    }

    #[test]
    fn ranges_merge() {
        let mut s = AddrSet::parse_list("10.0.0.1,10.0.0.3,10.0.0.5").unwrap();
        assert_eq!(s.v4.len(), 3);
        s.union_with(&AddrSet::parse_list("10.0.0.2,10.0.0.4").unwrap());
        assert_eq!(s.v4, [(0x0a00_0001, 0x0a00_0005)]);
        s.union_with(&AddrSet::parse_list("10.0.0.0/30,255.255.255.255").unwrap());
        assert_eq!(s.v4, [(0x0a00_0000, 0x0a00_0005), (u32::MAX, u32::MAX)]);
        let v6 = AddrSet::parse_list("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,::,::1").unwrap();
        assert_eq!(v6.v6, [(0, 1), (u128::MAX, u128::MAX)]);
    }

    #[test]
    fn errors_name_the_item() {
        let e = |s: &str| AddrSet::parse_list(s).unwrap_err().to_string();
        assert_eq!(
            e("10.0.0.0/33"),
            "'10.0.0.0/33' is not an address or network: the prefix length must be 0-32 for IPv4, not '33'; \
             write e.g. 10.0.0.5, 10.0.0.0/8, 2001:db8::1 or 2001:db8::/32"
        );
        assert!(e("2001:db8::/129").contains("must be 0-128 for IPv6, not '129'"));
        assert!(e("10.0.0.256").contains("'10.0.0.256' is not an address or network: not an IPv4"));
        assert!(e("10.0.0/8").contains("'10.0.0' is not an IPv4 or IPv6 address"));
        assert!(e("10.0.0.0/x").contains("not 'x'"));
        assert!(e("host.example").contains("not an IPv4 or IPv6 address"));
        // Leading zeros are not an address (the reason IPv4 texts are unique: see text_intervals).
        assert!(e("010.0.0.1").contains("is not an address"));
    }

    #[test]
    fn text_intervals_cover_every_text_of_the_set() {
        let t = |s: &str| AddrSet::parse_list(s).unwrap().text_intervals();
        let iv = |lo: &str, hi: Option<&str>| (lo.to_string(), hi.map(str::to_string));
        assert_eq!(t("10.0.0.5"), Some(vec![iv("10.0.0.5", None)]));
        assert_eq!(t("10.1.0.0/16"), Some(vec![iv("10.1.", Some("10.1/"))]));
        assert_eq!(
            t("10.0.0.0/8,192.168.1.0/24"),
            Some(vec![iv("10.", Some("10/")), iv("192.168.1.", Some("192.168.1/"))])
        );
        // Not on an octet boundary: split into /16s.
        let v = t("10.0.0.0/12").unwrap();
        assert_eq!(v.len(), 16);
        assert!(v.contains(&iv("10.15.", Some("10.15/"))) && !v.iter().any(|(lo, _)| lo == "10.16."));
        // A range of single addresses.
        assert_eq!(t("10.0.0.254/31").unwrap(), [iv("10.0.0.254", None), iv("10.0.0.255", None)]);
        // IPv6, everything, and sets too wide to list, say nothing.
        assert_eq!(t("2001:db8::1"), None);
        assert_eq!(t("10.0.0.1,2001:db8::1"), None);
        assert_eq!(t("0.0.0.0/0"), None);
        let slash24s = |n: u32| -> Vec<(String, Option<String>)> {
            let mut v: Vec<_> = (0..n).map(|i| iv(&format!("10.0.{i}."), Some(&format!("10.0.{i}/")))).collect();
            v.sort();
            v
        };
        assert_eq!(t("10.0.0.0/21"), Some(slash24s(8)));
        assert_eq!(t("10.0.0.0/17"), Some(slash24s(128)));
        assert_eq!(t("10.0.0.0/20,10.0.0.1/32").unwrap().len(), 16);
        assert_eq!(t("10.0.0.0/29,10.0.1.0/25").unwrap().len(), 8 + 128);
        assert_eq!(t("10.0.0.1/23"), t("10.0.0.0/23"));
        // Too many prefixes: no pruning.
        let many: Vec<String> = (0..1100).map(|i| format!("10.{}.{}.1", i / 256, i % 256)).collect();
        assert_eq!(t(&many.join(",")), None);
        // Every text in the intervals parses back into the set and nothing else does: checked
        // on a sample of addresses around the set's edges.
        let set = AddrSet::parse_list("10.0.0.0/12,192.168.0.7,172.16.0.0/23").unwrap();
        let intervals = set.text_intervals().unwrap();
        let covered = |text: &str| {
            intervals.iter().any(|(lo, hi)| match hi {
                None => text == lo,
                Some(hi) => text >= lo.as_str() && text < hi.as_str(),
            })
        };
        for a in (0x0a00_0000u32 - 300..0x0a00_0000 + 300)
            .chain(0x0a0f_ff00..0x0a10_0100)
            .chain(0xc0a8_0000..0xc0a8_0010)
            .chain(0xac0f_ff00..0xac10_0300)
        {
            let a = IpAddr::V4(a.into());
            assert_eq!(covered(&a.to_string()), set.contains(a), "{a}");
        }
    }
}
