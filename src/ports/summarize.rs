//! One host's groups → its report rows: the `*` collapse, ranking, top N + watched + Other.

use std::cmp::Ordering;
use std::net::IpAddr;

use ahash::AHashMap;

use super::{HostSummary, PortRow, RowKey, Traffic};
use crate::select::PortSet;

/// The knobs of the summary (`--many`, `--top`, `--watch`).
#[derive(Debug, Clone)]
pub struct SummaryOptions {
    /// A port paired with more than this many distinct ports on the other side collapses to `*`.
    pub many: u32,
    /// Rows listed per host before Other.
    pub top: usize,
    /// Rows with one of these ports are listed whatever their rank.
    pub watch: PortSet,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions { many: 3, top: 9, watch: PortSet::default_watch() }
    }
}

/// A worker's reusable scratch space: distinct-counterpart counts per port (dense, so a host
/// with groups on every port costs no more than 2 × 256 KiB per worker; only touched entries
/// are reset) and the rows being built.
pub struct Scratch {
    as_source: Vec<u32>,
    as_dest: Vec<u32>,
    rows: AHashMap<u32, Traffic>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch { as_source: vec![0; 65536], as_dest: vec![0; 65536], rows: AHashMap::new() }
    }
}

/// The printed key of a group `(s, d)`: collapsed to `(s, 0)` (`s->*`) or `(0, d)` (`*->d`) when
/// that port is paired with more than `many` distinct ports. When both are, the side with more
/// distinct counterparts is kept; on a tie the lower port number, and the destination when the
/// two are the same port.
#[inline]
pub fn collapse(s: u16, d: u16, s_pairs: u32, d_pairs: u32, many: u32) -> (u16, u16) {
    let (sq, dq) = (s_pairs > many, d_pairs > many);
    match (sq, dq) {
        (false, false) => (s, d),
        (true, false) => (s, 0),
        (false, true) => (0, d),
        (true, true) => match s_pairs.cmp(&d_pairs) {
            Ordering::Greater => (s, 0),
            Ordering::Less => (0, d),
            Ordering::Equal if s < d => (s, 0),
            Ordering::Equal => (0, d),
        },
    }
}

/// Report order within a host: bytes, packets, flows (descending), then ports ascending.
pub fn row_order(a: &(u16, u16, Traffic), b: &(u16, u16, Traffic)) -> Ordering {
    b.2.total_bytes()
        .cmp(&a.2.total_bytes())
        .then(b.2.total_packets().cmp(&a.2.total_packets()))
        .then(b.2.flows.cmp(&a.2.flows))
        .then(a.0.cmp(&b.0))
        .then(a.1.cmp(&b.1))
}

/// Builds one host's summary from its groups (`sport << 16 | dport`, each key once).
pub fn summarize_host(
    addr: IpAddr,
    groups: &[(u32, Traffic)],
    opts: &SummaryOptions,
    scratch: &mut Scratch,
) -> HostSummary {
    let mut total = Traffic::default();
    for &(k, ref t) in groups {
        scratch.as_source[(k >> 16) as usize] += 1;
        scratch.as_dest[(k & 0xffff) as usize] += 1;
        total.add(t);
    }
    scratch.rows.clear();
    for &(k, ref t) in groups {
        let (s, d) = ((k >> 16) as u16, k as u16);
        let (s2, d2) = collapse(s, d, scratch.as_source[s as usize], scratch.as_dest[d as usize], opts.many);
        scratch.rows.entry(((s2 as u32) << 16) | d2 as u32).or_default().add(t);
    }
    for &(k, _) in groups {
        scratch.as_source[(k >> 16) as usize] = 0;
        scratch.as_dest[(k & 0xffff) as usize] = 0;
    }
    let mut rows: Vec<(u16, u16, Traffic)> =
        scratch.rows.drain().map(|(k, t)| ((k >> 16) as u16, k as u16, t)).collect();
    rows.sort_unstable_by(row_order);
    let mut listed = Vec::with_capacity(opts.top.min(rows.len()) + 1);
    let mut other = Traffic::default();
    let mut folded = 0usize;
    for (rank, (s, d, t)) in rows.into_iter().enumerate() {
        let watched = (s != 0 && opts.watch.contains(s)) || (d != 0 && opts.watch.contains(d));
        if rank < opts.top || watched {
            listed.push(PortRow { key: RowKey::Ports { sport: s, dport: d }, traffic: t });
        } else {
            other.add(&t);
            folded += 1;
        }
    }
    if folded > 0 {
        listed.push(PortRow { key: RowKey::Other, traffic: other });
    }
    HostSummary { addr, total, rows: listed }
}

/// Host order: total bytes descending, then address ascending (IPv4 before IPv6, numerically).
pub fn host_order(a: &HostSummary, b: &HostSummary) -> Ordering {
    b.total.total_bytes().cmp(&a.total.total_bytes()).then(a.addr.cmp(&b.addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(flows: u64, inp: u64, inb: u64, outp: u64, outb: u64) -> Traffic {
        Traffic { flows, in_packets: inp, in_bytes: inb, out_packets: outp, out_bytes: outb }
    }

    fn key(s: u16, d: u16) -> u32 {
        ((s as u32) << 16) | d as u32
    }

    fn keys(h: &HostSummary) -> Vec<String> {
        h.rows
            .iter()
            .map(|r| match r.key {
                RowKey::Ports { sport, dport } => format!("{sport}->{dport}"),
                RowKey::Other => "Other".into(),
            })
            .collect()
    }

    #[test]
    fn collapse_rules() {
        assert_eq!(collapse(1000, 80, 1, 1, 3), (1000, 80));
        assert_eq!(collapse(1000, 80, 1, 4, 3), (0, 80));
        assert_eq!(collapse(1000, 80, 3, 3, 3), (1000, 80)); // "more than" M
        assert_eq!(collapse(119, 5000, 4, 1, 3), (119, 0));
        assert_eq!(collapse(119, 5000, 9, 5, 3), (119, 0));
        assert_eq!(collapse(119, 5000, 5, 9, 3), (0, 5000));
        assert_eq!(collapse(119, 5000, 7, 7, 3), (119, 0)); // tie: lower port
        assert_eq!(collapse(6000, 25, 7, 7, 3), (0, 25));
        assert_eq!(collapse(123, 123, 7, 7, 3), (0, 123)); // same port: the destination
    }

    #[test]
    fn star_rows_merge_with_port_zero() {
        // ICMP 0->2048 and five TCP ports to 2048 that collapse to *->2048: one row.
        let mut g = vec![(key(0, 2048), t(1, 2, 84, 0, 0))];
        for s in 1..=5u16 {
            g.push((key(40000 + s, 2048), t(1, 1, 40, 0, 0)));
        }
        g.sort_by_key(|e| e.0);
        let h = summarize_host("10.0.0.1".parse().unwrap(), &g, &SummaryOptions::default(), &mut Scratch::default());
        assert_eq!(keys(&h), ["0->2048"]);
        assert_eq!(h.rows[0].traffic, t(6, 7, 284, 0, 0));
    }

    #[test]
    fn top_watch_other_and_conservation() {
        let mut g = Vec::new();
        // Twelve distinct single flows with decreasing bytes; one on IRC ranks last.
        for i in 0..12u16 {
            g.push((key(2000 + i, 3000 + i), t(1, 1, 1000 - i as u64, 0, 0)));
        }
        g.push((key(2100, 6667), t(1, 0, 0, 1, 5)));
        g.sort_by_key(|e| e.0);
        let opts = SummaryOptions { top: 3, ..Default::default() };
        let h = summarize_host("10.0.0.1".parse().unwrap(), &g, &opts, &mut Scratch::default());
        assert_eq!(keys(&h), ["2000->3000", "2001->3001", "2002->3002", "2100->6667", "Other"]);
        let mut sum = Traffic::default();
        h.rows.iter().for_each(|r| sum.add(&r.traffic));
        assert_eq!(sum, h.total);
        assert_eq!(h.rows[4].traffic.flows, 9);
    }

    #[test]
    fn ties_order_by_ports() {
        let g = vec![(key(5, 9), t(1, 1, 10, 0, 0)), (key(7, 1), t(1, 1, 10, 0, 0)), (key(5, 8), t(1, 1, 10, 0, 0))];
        let h = summarize_host("10.0.0.1".parse().unwrap(), &g, &SummaryOptions::default(), &mut Scratch::default());
        assert_eq!(keys(&h), ["5->8", "5->9", "7->1"]);
    }

    #[test]
    fn no_other_when_nothing_folds() {
        let g = vec![(key(5, 9), t(1, 1, 10, 0, 0))];
        let h = summarize_host("10.0.0.1".parse().unwrap(), &g, &SummaryOptions::default(), &mut Scratch::default());
        assert_eq!(keys(&h), ["5->9"]);
    }

    #[test]
    fn scratch_is_clean_between_hosts() {
        let mut scratch = Scratch::default();
        let many: Vec<_> = (1..=10u16).map(|s| (key(s, 80), t(1, 1, 10, 0, 0))).collect();
        let h = summarize_host("10.0.0.1".parse().unwrap(), &many, &SummaryOptions::default(), &mut scratch);
        assert_eq!(keys(&h), ["0->80"]);
        let few: Vec<_> = (1..=2u16).map(|s| (key(s, 80), t(1, 1, 10, 0, 0))).collect();
        let h = summarize_host("10.0.0.2".parse().unwrap(), &few, &SummaryOptions::default(), &mut scratch);
        assert_eq!(keys(&h), ["1->80", "2->80"]);
    }
}
