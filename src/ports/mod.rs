//! `flowlens ports`: per-host port summaries, the Berkeley port report
//! (`docs/seeds/berkeley-port-report-format.txt`), with the semantics of DESIGN.md.
//!
//! The stages, one file each: [`aggregate`] reads flows Parquet in parallel into per-host
//! `(sport, dport)` groups; [`summarize`] turns one host's groups into its rows (the `*`
//! collapse, ranking, top N + watched + Other); [`names`] names the hosts (hosts file, reverse
//! DNS, `--domain`); [`format`] writes CSV, the human table, JSON or Parquet.

pub mod aggregate;
pub mod format;
pub mod names;
pub mod summarize;
pub mod table;

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use crate::error::{Error, Result};
use crate::output::TextOut;
use crate::resolve::ResolveStats;
use crate::scan;
use crate::select::Selection;
use crate::services::Services;

use crate::aggregate::Memory;
pub use crate::select::PortSet;
pub use aggregate::{Aggregation, Groups, HostFilter, ScanStats};
pub use names::NameOptions;
pub use summarize::SummaryOptions;

/// Flows and counters of one row (or of a host): incoming is traffic to the host, outgoing from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub flows: u64,
    pub in_packets: u64,
    pub in_bytes: u64,
    pub out_packets: u64,
    pub out_bytes: u64,
}

impl Traffic {
    #[inline]
    pub fn add(&mut self, o: &Traffic) {
        // Wrapping, not checked: 2^64 bytes is not a reachable sum, and a panic inside a rayon
        // worker on hostile input is worse than a wrong number.
        self.flows = self.flows.wrapping_add(o.flows);
        self.in_packets = self.in_packets.wrapping_add(o.in_packets);
        self.in_bytes = self.in_bytes.wrapping_add(o.in_bytes);
        self.out_packets = self.out_packets.wrapping_add(o.out_packets);
        self.out_bytes = self.out_bytes.wrapping_add(o.out_bytes);
    }
    pub fn total_packets(&self) -> u64 {
        self.in_packets.wrapping_add(self.out_packets)
    }
    pub fn total_bytes(&self) -> u64 {
        self.in_bytes.wrapping_add(self.out_bytes)
    }
}

/// What a row stands for: a port pair as printed (0 is `*`: many ports, or port 0), or Other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKey {
    Ports { sport: u16, dport: u16 },
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRow {
    pub key: RowKey,
    pub traffic: Traffic,
}

/// One host of the report: its rows in report order (Other last) and its totals, which the
/// rows add up to exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSummary {
    pub addr: IpAddr,
    pub total: Traffic,
    pub rows: Vec<PortRow>,
}

/// The report's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PortsFormat {
    /// The seed's human table with K/M/G suffixes.
    Text,
    /// The seed's CSV after a header line (`*` for many/port 0, `-1,-1` for Other).
    Csv,
    /// An array of row objects with typed fields.
    Json,
    /// A Parquet file with typed columns (needs -o).
    Parquet,
}

/// Everything `flowlens ports` needs.
#[derive(Debug, Clone)]
pub struct PortsOptions {
    pub inputs: Vec<PathBuf>,
    /// `--local` networks; empty: every address is a host.
    pub local: Vec<IpNet>,
    pub summary: SummaryOptions,
    /// Only the first K hosts.
    pub top_hosts: Option<usize>,
    pub services: Services,
    pub names: NameOptions,
    pub format: PortsFormat,
    /// `None` or `-`: stdout.
    pub output: Option<PathBuf>,
    /// Worker threads (default: rayon's, one per core).
    pub threads: Option<usize>,
    /// Only these flows (`--from/--to`, addresses, ports, protocols), selected before grouping.
    pub select: Selection,
    /// `--memory`, `--temp-dir`.
    pub memory: Memory,
    /// `--findings`: the findings' thresholds; each host's findings are marked under its rows
    /// (decided in the same read of the flows).
    pub findings: Option<crate::findings::FindingRules>,
}

impl PortsOptions {
    pub fn new(inputs: Vec<PathBuf>) -> Self {
        PortsOptions {
            inputs,
            local: Vec::new(),
            summary: SummaryOptions::default(),
            top_hosts: None,
            services: Services::builtin(),
            names: NameOptions::default(),
            format: PortsFormat::Text,
            output: None,
            threads: None,
            select: Selection::all(),
            memory: Memory::default(),
            findings: None,
        }
    }
}

/// The report, hosts in report order.
#[derive(Debug, Clone)]
pub struct Report {
    pub hosts: Vec<HostSummary>,
    pub stats: ScanStats,
}

/// Reads all the flows and builds the report (without names), on the current rayon pool,
/// within the default memory budget.
pub fn build_report(
    files: &[PathBuf],
    filter: &HostFilter,
    opts: &SummaryOptions,
    top_hosts: Option<usize>,
) -> Result<Report> {
    let memory = Memory { quiet: true, ..Memory::default() };
    build_report_selected(files, filter, opts, top_hosts, &Selection::all(), &memory)
}

/// [`build_report`] over the flows of `select` only, within `memory`.
pub fn build_report_selected(
    files: &[PathBuf],
    filter: &HostFilter,
    opts: &SummaryOptions,
    top_hosts: Option<usize>,
    select: &Selection,
    memory: &Memory,
) -> Result<Report> {
    report_from_groups(aggregate::aggregate(files, filter, select, memory)?, opts, top_hosts)
}

/// The report from the grouped flows (of [`aggregate::aggregate`], or of a shared scan).
pub fn report_from_groups(mut groups: Groups, opts: &SummaryOptions, top_hosts: Option<usize>) -> Result<Report> {
    let mut hosts = groups.for_each_host(summarize::Scratch::default, |scratch, addr, g| {
        summarize::summarize_host(addr, g, opts, scratch)
    })?;
    hosts.sort_unstable_by(summarize::host_order);
    if let Some(k) = top_hosts {
        hosts.truncate(k);
    }
    Ok(Report { hosts, stats: groups.stats })
}

/// One finding as the table marks it: `[!]` for a threat tag, `[i]` otherwise, then the tag,
/// the confidence and the explanation (control characters escaped).
pub fn mark_line(f: &crate::findings::Finding) -> String {
    format!(
        "  {} {} ({}): {}",
        if f.tag.is_threat() { "[!]" } else { "[i]" },
        f.tag.as_str(),
        f.confidence.as_str(),
        crate::findings::format::escape_control(&f.explanation)
    )
}

/// The findings of each host of the report (in report order), and the lines of the findings of
/// other addresses (outside scanners of local addresses, hosts beyond `--top-hosts`).
fn marks(hosts: &[HostSummary], found: &[crate::findings::Finding]) -> format::Marks {
    let index: std::collections::HashMap<IpAddr, usize> = hosts.iter().enumerate().map(|(i, h)| (h.addr, i)).collect();
    let mut m = format::Marks {
        tags: vec![String::new(); hosts.len()],
        lines: vec![Vec::new(); hosts.len()],
        others: Vec::new(),
    };
    for f in found {
        match index.get(&f.host) {
            Some(&i) => {
                if !m.tags[i].is_empty() {
                    m.tags[i].push(';');
                }
                m.tags[i].push_str(f.tag.as_str());
                m.lines[i].push(mark_line(f));
            }
            None => m.others.push(format!("{}{}", f.host, mark_line(f))),
        }
    }
    m
}

/// What a run did, for the command's summary line.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub stats: ScanStats,
    pub hosts_reported: usize,
    pub rows_reported: usize,
    pub dns: Option<ResolveStats>,
}

/// `flowlens ports`: read, summarize, name, write.
pub fn run(opts: &PortsOptions) -> Result<RunSummary> {
    if opts.format == PortsFormat::Parquet && opts.output.as_deref().is_none_or(|p| p.as_os_str() == "-") {
        return Err(Error::Usage("--format parquet writes a file: give it with -o FILE".into()));
    }
    let files = scan::list_parquet_range(&opts.inputs, &opts.select.range)?;
    let filter = HostFilter::new(&opts.local);
    let (report, found) = crate::with_threads(opts.threads, || match &opts.findings {
        None => build_report_selected(&files, &filter, &opts.summary, opts.top_hosts, &opts.select, &opts.memory)
            .map(|r| (r, None)),
        Some(rules) => {
            let mut fopts = crate::findings::ReportOptions {
                rules: rules.clone(),
                local: opts.local.clone(),
                select: opts.select.clone(),
                services: opts.services.clone(),
                ..Default::default()
            };
            fopts.servers.local = opts.local.clone();
            fopts.servers.memory = opts.memory.clone();
            fopts.servers.services = opts.services.clone();
            let day = crate::findings::build_day(&files, &fopts, &opts.summary, opts.top_hosts)?;
            Ok((day.ports, Some(day.findings.findings)))
        }
    })?;
    let addrs: Vec<IpAddr> = report.hosts.iter().map(|h| h.addr).collect();
    let (names, dns) = names::host_names(&addrs, &opts.names)?;
    let marks = found.map(|f| marks(&report.hosts, &f));
    let (s, m) = (&opts.services, marks.as_ref());
    match opts.format {
        PortsFormat::Parquet => {
            // Checked above.
            let path = opts.output.as_deref().unwrap_or(std::path::Path::new("ports.parquet"));
            format::write_parquet(path, &report.hosts, &names, s, m)?
        }
        f => {
            let mut out = TextOut::create(opts.output.as_deref())?;
            match f {
                PortsFormat::Text => format::write_table(&mut out, &report.hosts, &names, s, m)?,
                PortsFormat::Csv => format::write_csv(&mut out, &report.hosts, &names, s, m)?,
                _ => format::write_json(&mut out, &report.hosts, &names, s, m)?,
            }
            out.finish()?;
        }
    }
    Ok(RunSummary {
        stats: report.stats,
        hosts_reported: report.hosts.len(),
        rows_reported: report.hosts.iter().map(|h| h.rows.len()).sum(),
        dns,
    })
}
