//! Which rows of a row group can meet a condition, judging by the row group's column
//! statistics (min, max, null count) alone.
//!
//! The answer is [`Matches::None`] only when it is certain: no non-null value in `[min, max]`
//! is in the set (nulls never match), or every value is null. It is [`Matches::All`] only when
//! every value in `[min, max]` is in the set and there are no nulls; then the row filter can be
//! skipped for that condition. Missing statistics give [`Matches::Some`]: read and filter.
//!
//! Ports and protocols use the integer min/max. Addresses are strings: an IPv4 set is compared
//! through the texts its addresses can have ([`AddrSet::text_intervals`]); an IPv6 address has
//! many texts, so a set with IPv6 addresses prunes only a row group whose one address
//! (`min == max`) is known. Flows files written by flowlens carry no address statistics (the
//! smallest and largest address of a day's row group span nearly everything), so address
//! pruning helps with files from other writers sorted by address.

use super::{AddrSet, PortSet, ProtoSet};

/// Which rows of a row group may meet a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matches {
    /// No row: the row group is skipped.
    None,
    /// Some rows may: the row group is read and its rows are filtered.
    Some,
    /// Every row does.
    All,
}

impl Matches {
    /// Both conditions (different options).
    pub fn and(self, other: Matches) -> Matches {
        match (self, other) {
            (Matches::None, _) | (_, Matches::None) => Matches::None,
            (Matches::All, Matches::All) => Matches::All,
            _ => Matches::Some,
        }
    }

    /// Either condition (`--any-address`, `--aport`).
    pub fn or(self, other: Matches) -> Matches {
        match (self, other) {
            (Matches::All, _) | (_, Matches::All) => Matches::All,
            (Matches::None, Matches::None) => Matches::None,
            _ => Matches::Some,
        }
    }
}

/// One column's statistics in one row group: `None` where the file does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats<T> {
    pub min: Option<T>,
    pub max: Option<T>,
    pub nulls: Option<u64>,
    pub rows: u64,
}

impl<T: Copy> Stats<T> {
    /// The decision shared by every kind of set, given whether some value in `[min, max]` may
    /// be in the set and whether all are.
    fn decide(&self, any: impl Fn(T, T) -> bool, all: impl Fn(T, T) -> bool) -> Matches {
        if self.rows == 0 || self.nulls == Some(self.rows) {
            return Matches::None;
        }
        let (Some(lo), Some(hi)) = (self.min, self.max) else { return Matches::Some };
        if !any(lo, hi) {
            Matches::None
        } else if self.nulls == Some(0) && all(lo, hi) {
            Matches::All
        } else {
            Matches::Some
        }
    }
}

/// A port condition (`--sport`, `--dport`, one side of `--aport`).
pub fn ports(set: &PortSet, s: &Stats<u16>) -> Matches {
    // min > max would be a broken file: say nothing.
    s.decide(|lo, hi| lo > hi || set.any_in(lo, hi), |lo, hi| lo <= hi && set.all_in(lo, hi))
}

/// A protocol condition.
pub fn protos(set: &ProtoSet, s: &Stats<u8>) -> Matches {
    s.decide(|lo, hi| lo > hi || set.any_in(lo, hi), |lo, hi| lo <= hi && set.all_in(lo, hi))
}

/// An address condition; `intervals` is `set.text_intervals()`, computed once per selection.
pub fn addresses(set: &AddrSet, intervals: Option<&[(String, Option<String>)]>, s: &Stats<&str>) -> Matches {
    let any = |min: &str, max: &str| match intervals {
        None => true,
        Some(iv) => iv.iter().any(|(lo, hi)| match hi {
            None => min <= lo.as_str() && lo.as_str() <= max,
            Some(hi) => min < hi.as_str() && max >= lo.as_str(),
        }),
    };
    // Every row holds the one address min == max; an address that does not parse is left to
    // the row filter (which reports it).
    let all = |min: &str, max: &str| min == max && min.parse().is_ok_and(|ip| set.contains(ip));
    let one_outside = |min: &str, max: &str| min == max && min.parse().is_ok_and(|ip| !set.contains(ip));
    s.decide(|lo, hi| any(lo, hi) && !one_outside(lo, hi), all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st<T>(min: Option<T>, max: Option<T>, nulls: Option<u64>, rows: u64) -> Stats<T> {
        Stats { min, max, nulls, rows }
    }

    #[test]
    fn and_or() {
        use Matches::*;
        assert_eq!(None.and(All), None);
        assert_eq!(Some.and(All), Some);
        assert_eq!(All.and(All), All);
        assert_eq!(None.or(Some), Some);
        assert_eq!(None.or(None), None);
        assert_eq!(Some.or(All), All);
    }

    #[test]
    fn port_decisions() {
        let ssh = PortSet::parse_list("22").unwrap();
        let irc = PortSet::parse_list("6660-6669").unwrap();
        // The row group holding port 22 somewhere in [0, 65535] must be read.
        assert_eq!(ports(&ssh, &st(Some(0), Some(65535), Some(0), 100)), Matches::Some);
        assert_eq!(ports(&ssh, &st(Some(22), Some(22), Some(0), 100)), Matches::All);
        assert_eq!(ports(&ssh, &st(Some(22), Some(22), Some(3), 100)), Matches::Some);
        assert_eq!(ports(&ssh, &st(Some(22), Some(22), None, 100)), Matches::Some);
        assert_eq!(ports(&ssh, &st(Some(23), Some(1000), Some(0), 100)), Matches::None);
        assert_eq!(ports(&ssh, &st(Some(0), Some(21), None, 100)), Matches::None);
        assert_eq!(ports(&irc, &st(Some(6669), Some(7000), Some(0), 100)), Matches::Some);
        assert_eq!(ports(&irc, &st(Some(6661), Some(6668), Some(0), 100)), Matches::All);
        assert_eq!(ports(&irc, &st(Some(6670), Some(7000), Some(0), 100)), Matches::None);
        // Without statistics, or with only some: read.
        assert_eq!(ports(&ssh, &st(None, None, None, 100)), Matches::Some);
        assert_eq!(ports(&ssh, &st(Some(80), None, None, 100)), Matches::Some);
        // Every value null, or no rows: nothing matches.
        assert_eq!(ports(&ssh, &st(None, None, Some(100), 100)), Matches::None);
        assert_eq!(ports(&ssh, &st(None, None, Some(0), 0)), Matches::None);
        // A broken min > max says nothing.
        assert_eq!(ports(&ssh, &st(Some(1000), Some(10), Some(0), 100)), Matches::Some);
        let tcp = ProtoSet::parse_list("tcp").unwrap();
        assert_eq!(protos(&tcp, &st(Some(1), Some(17), Some(0), 9)), Matches::Some);
        assert_eq!(protos(&tcp, &st(Some(17), Some(17), Some(0), 9)), Matches::None);
        assert_eq!(protos(&tcp, &st(Some(6), Some(6), Some(0), 9)), Matches::All);
    }

    #[test]
    fn address_decisions() {
        let check = |list: &str, min: &str, max: &str| {
            let set = AddrSet::parse_list(list).unwrap();
            let iv = set.text_intervals();
            addresses(&set, iv.as_deref(), &st(Some(min), Some(max), Some(0), 10))
        };
        use Matches as M;
        // Exact addresses against [min, max].
        assert_eq!(check("10.0.0.5", "10.0.0.1", "10.0.0.9"), M::Some);
        assert_eq!(check("10.0.0.5", "10.0.0.5", "10.0.0.5"), M::All);
        assert_eq!(check("10.0.0.5", "10.0.0.50", "10.0.0.59"), M::None);
        assert_eq!(check("10.0.0.5", "10.0.0.4", "9.0.0.0"), M::Some);
        assert_eq!(check("10.0.0.5", "1.0.0.0", "10.0.0.4"), M::None);
        // "10.0.0.5" sorts between "10.0.0.49" and "10.0.0.50".
        assert_eq!(check("10.0.0.5", "10.0.0.49", "10.0.0.50"), M::Some);
        // Networks on octet boundaries are text prefixes; others are split.
        assert_eq!(check("10.1.0.0/16", "10.0.9.9", "10.1.0.0"), M::Some);
        assert_eq!(check("10.1.0.0/16", "10.10.0.0", "10.19.255.255"), M::None);
        assert_eq!(check("10.1.0.0/16", "10.1.255.255", "10.2.0.0"), M::Some);
        assert_eq!(check("10.1.0.0/16", "10.0.0.0", "10.1"), M::None);
        assert_eq!(check("10.1.0.0/16", "10.1.0.0", "10.1.0.0"), M::All);
        assert_eq!(check("10.0.0.0/12", "10.16.0.0", "10.19.255.255"), M::None);
        // "10.2.0.1" sorts between "10.16.0.0" and "10.9": read.
        assert_eq!(check("10.0.0.0/12", "10.16.0.0", "10.9"), M::Some);
        assert_eq!(check("10.0.0.0/12", "10.15.255.255", "10.9"), M::Some);
        // IPv6 in the set: only a row group of one known address is decided.
        assert_eq!(check("2001:db8::/32", "2001:db9::1", "2001:dbf::1"), M::Some);
        assert_eq!(check("2001:db8::/32", "2001:db9::1", "2001:db9::1"), M::None);
        assert_eq!(check("2001:db8::/32", "2001:DB8::1", "2001:DB8::1"), M::All);
        assert_eq!(check("10.0.0.5,2001:db8::1", "10.0.0.50", "10.0.0.59"), M::Some);
        // A value that is not an address: an IPv4 set's texts rule it out; otherwise the row
        // group is read and the row filter reports it.
        assert_eq!(check("10.0.0.5", "x", "x"), M::None);
        assert_eq!(check("2001:db8::1", "x", "x"), M::Some);
        let set = AddrSet::parse_list("10.0.0.5").unwrap();
        assert_eq!(addresses(&set, set.text_intervals().as_deref(), &st(None, None, None, 10)), M::Some);
        assert_eq!(addresses(&set, set.text_intervals().as_deref(), &st(None, None, Some(10), 10)), M::None);
    }
}
