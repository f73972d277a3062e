//! Which flows a reading command reads: SiLK rwfilter's partitioning switches, pushed down into
//! the scan.
//!
//! A [`Selection`] holds one optional condition per option. Different options must all hold
//! (AND); the values of one option are alternatives (OR): `--saddress 10.0.0.5,10.9.0.0/16`
//! keeps flows from either. `--any-address X` keeps flows whose source *or* destination is in
//! X, `--aport P` those whose source *or* destination port is in P. A null value matches no
//! condition (a flow without a start time is in no time range).
//!
//! The scan ([`crate::scan::open_flows`]) applies a selection in three steps, cheapest first:
//! the time range drops `date=` folders ([`TimeRange::may_hold`]); the column statistics of
//! each row group drop the row groups where no row can match ([`prune`]); and the rows of the
//! row groups that remain are filtered exactly, a batch at a time, with Arrow kernels over whole
//! columns ([`filter`]). Pruning never decides a result: a row group it cannot rule out is read
//! and filtered, so results are the same with statistics, without them, or with wrong folder
//! names.
//!
//! - [`time`]: `--from`/`--to` values (days, times, offsets) and [`TimeRange`];
//! - [`addrs`]: address and CIDR lists ([`AddrSet`]);
//! - [`portset`]: port and protocol lists ([`PortSet`], [`ProtoSet`]).

pub mod addrs;
pub mod filter;
pub mod portset;
pub mod prune;
pub mod time;

pub use addrs::AddrSet;
pub use portset::{PortSet, ProtoSet};
pub use prune::Matches;
pub use time::TimeRange;

use crate::schema::{DIP, DPORT, PROTO, SIP, SPORT, STIME};

/// The flows a reading command keeps; [`Selection::all`] (the default) keeps every flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `--from`/`--to`: the flow's `stime` is in the range.
    pub range: TimeRange,
    /// `--saddress`: `sip` is in the set.
    pub saddress: Option<AddrSet>,
    /// `--daddress`: `dip` is in the set.
    pub daddress: Option<AddrSet>,
    /// `--any-address`: `sip` or `dip` is in the set.
    pub any_address: Option<AddrSet>,
    /// `--sport`: `sport` is in the set.
    pub sport: Option<PortSet>,
    /// `--dport`: `dport` is in the set (for ICMP, type*256+code).
    pub dport: Option<PortSet>,
    /// `--aport`: `sport` or `dport` is in the set.
    pub aport: Option<PortSet>,
    /// `--proto`: `proto` is in the set.
    pub proto: Option<ProtoSet>,
}

impl Selection {
    /// Every flow, including those without a start time.
    pub fn all() -> Self {
        Selection::default()
    }

    /// The flows starting in `range`.
    pub fn range(range: TimeRange) -> Self {
        Selection { range, ..Selection::default() }
    }

    pub fn is_all(&self) -> bool {
        self.range.is_all() && !self.has_addresses() && !self.has_ports()
    }

    /// Whether a condition reads `sip` or `dip`.
    pub fn has_addresses(&self) -> bool {
        self.saddress.is_some() || self.daddress.is_some() || self.any_address.is_some()
    }

    fn has_ports(&self) -> bool {
        self.sport.is_some() || self.dport.is_some() || self.aport.is_some() || self.proto.is_some()
    }

    /// The columns the conditions read, in schema order.
    pub fn columns(&self) -> Vec<&'static str> {
        let any_addr = self.any_address.is_some();
        let any_port = self.aport.is_some();
        [
            (STIME, !self.range.is_all()),
            (SIP, self.saddress.is_some() || any_addr),
            (DIP, self.daddress.is_some() || any_addr),
            (SPORT, self.sport.is_some() || any_port),
            (DPORT, self.dport.is_some() || any_port),
            (PROTO, self.proto.is_some()),
        ]
        .into_iter()
        .filter_map(|(c, used)| used.then_some(c))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_of_a_selection() {
        assert!(Selection::all().is_all() && Selection::all().columns().is_empty());
        let range = TimeRange { from_us: Some(0), to_us: None };
        assert_eq!(Selection::range(range).columns(), [STIME]);
        let s = Selection {
            any_address: Some(AddrSet::parse_list("10.0.0.1").unwrap()),
            dport: Some(PortSet::parse_list("22").unwrap()),
            proto: Some(ProtoSet::parse_list("tcp").unwrap()),
            ..Selection::all()
        };
        assert!(!s.is_all() && s.has_addresses());
        assert_eq!(s.columns(), [SIP, DIP, DPORT, PROTO]);
        let a = Selection { aport: Some(PortSet::parse_list("53").unwrap()), ..Selection::all() };
        assert!(!a.is_all() && !a.has_addresses());
        assert_eq!(a.columns(), [SPORT, DPORT]);
    }
}
