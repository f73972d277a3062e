//! `flowlens findings`: what the Berkeley report's Section 2 reads by eye, said per host with
//! evidence — `scanner`, `scan-target`, `p2p`, `possible-compromise` and `server`.
//!
//! The definition is docs/findings.md; the thresholds are data (`data/findings.toml`,
//! [`rules`]). The stages, one file each: [`aggregate`] is the scan's consumer (host
//! conversations in per-worker shards, merged in parallel); [`decide`] turns one host's
//! conversations into its tags; this module adds the `server` tag from the servers evaluation
//! and orders the rows; [`format`] writes the table, CSV, JSON or Parquet.

pub mod aggregate;
pub mod decide;
pub mod format;
pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ports::HostFilter;
use crate::scan;
use crate::select::Selection;
use crate::services::Services;

pub use aggregate::{Findings, Partials, ScanStats};
pub use rules::FindingRules;

/// A host's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tag {
    Scanner,
    ScanTarget,
    P2p,
    PossibleCompromise,
    Server,
}

impl Tag {
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::Scanner => "scanner",
            Tag::ScanTarget => "scan-target",
            Tag::P2p => "p2p",
            Tag::PossibleCompromise => "possible-compromise",
            Tag::Server => "server",
        }
    }

    /// Tags that are a problem to look at (alerts, `--fail-on-new`); `scan-target` and `server`
    /// describe what happens to or on a host, not something it does wrong.
    pub fn is_threat(self) -> bool {
        matches!(self, Tag::Scanner | Tag::P2p | Tag::PossibleCompromise)
    }

    pub fn parse(s: &str) -> Option<Tag> {
        [Tag::Scanner, Tag::ScanTarget, Tag::P2p, Tag::PossibleCompromise, Tag::Server]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// Which way a scanner probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKind {
    Horizontal,
    Vertical,
    Both,
}

impl ScanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanKind::Horizontal => "horizontal",
            ScanKind::Vertical => "vertical",
            ScanKind::Both => "both",
        }
    }
}

/// One row: a host and one of its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub host: IpAddr,
    /// A hosts file's name; empty when unknown.
    pub hostname: String,
    pub tag: Tag,
    pub confidence: Confidence,
    pub evidence: String,
    pub explanation: String,
    /// Microseconds since the epoch, UTC.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

/// The report's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FindingsFormat {
    /// A table for people, control characters escaped.
    Table,
    /// A header, then one line per row (times ISO 8601 UTC).
    Csv,
    /// An array of row objects.
    Json,
    /// A Parquet file with typed columns (needs -o).
    Parquet,
}

/// What the findings are built from.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub rules: FindingRules,
    pub servers: crate::servers::ReportOptions,
    /// `--local`: candidates are local hosts (and outside scanners of local addresses).
    pub local: Vec<IpNet>,
    pub select: Selection,
    pub services: Services,
    /// hosts(5) names for the `hostname` column.
    pub hosts: HashMap<IpAddr, String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            rules: FindingRules::builtin(),
            servers: crate::servers::ReportOptions::default(),
            local: Vec::new(),
            select: Selection::all(),
            services: Services::builtin(),
            hosts: HashMap::new(),
        }
    }
}

/// The rows, the ports set aside as P2P, and what the scan read.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// `(host, port, proto)` of P2P hosts answered only in P2P-shaped exchanges: not services.
    pub p2p_ports: Vec<(IpAddr, u16, u8)>,
    pub stats: ScanStats,
}

impl Report {
    /// Rows per tag, in tag order.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for t in [Tag::Scanner, Tag::ScanTarget, Tag::P2p, Tag::PossibleCompromise, Tag::Server] {
            m.insert(t.as_str(), self.findings.iter().filter(|f| f.tag == t).count());
        }
        m
    }
}

/// Merges and decides every host, shard by shard in parallel (sections 2-6 of
/// docs/findings.md; each thread streams one shard's conversations through a
/// [`decide::Decider`]), and adds the `server`
/// tag from the servers report (section 7).
pub fn decide_all(
    findings: &Findings,
    partials: Partials,
    filter: &HostFilter,
    opts: &ReportOptions,
    servers: &[crate::servers::Server],
) -> Result<Report> {
    let addrs = findings.addrs();
    let local: Vec<bool> = addrs.iter().map(|a| filter.contains(*a)).collect();
    let unicast: Vec<bool> = addrs.iter().map(|a| decide::is_unicast(*a)).collect();
    let tied_rules: Vec<&str> =
        opts.servers.rules.rules.iter().filter(|r| r.tie.is_some()).map(|r| r.name.as_str()).collect();
    let tied: std::collections::HashSet<(IpAddr, u16, u8)> = servers
        .iter()
        .filter(|s| s.confidence != crate::servers::Confidence::Ambiguous && tied_rules.contains(&s.rule.as_str()))
        .map(|s| s.key())
        .collect();
    let ctx = decide::Ctx {
        tied: &tied,
        rules: &opts.rules,
        addrs: &addrs,
        local: &local,
        local_given: !filter.is_everything(),
        unicast: &unicast,
        services: &opts.services,
    };
    type Part = (Vec<Finding>, Vec<(IpAddr, u16, u8)>, u64);
    // The shard with the most conversations in memory last, by itself: its merge holds them as
    // sorted vectors (spill runs are read 256 KiB at a time), and by then the other shards'
    // in-memory parts have been merged and freed.
    let mut shards: Vec<(usize, Vec<_>)> = partials.shards.into_iter().enumerate().collect();
    shards.sort_by_cached_key(|(_, maps): &(usize, Vec<ahash::AHashMap<_, _>>)| {
        maps.iter().map(|m| m.len()).sum::<usize>()
    });
    let last = shards.split_off(shards.len().saturating_sub(1));
    let decide_shards = |shards: Vec<(usize, Vec<_>)>| {
        shards
            .into_par_iter()
            .map(|(i, maps)| -> Result<Part> {
                let mut rows = Vec::new();
                let mut ports = Vec::new();
                let mut decider = decide::Decider::new(&ctx);
                let mut take = |(id, f, p): decide::Decided| {
                    rows.extend(f);
                    ports.extend(p.into_iter().map(|(port, proto)| (addrs[id as usize], port, proto)));
                };
                let n = findings.for_each_conv(i, maps, |k, c| {
                    if let Some(d) = decider.push(k, c) {
                        take(d);
                    }
                })?;
                if let Some(d) = decider.finish() {
                    take(d);
                }
                Ok((rows, ports, n))
            })
            .collect::<Result<Vec<Part>>>()
    };
    let mut parts = decide_shards(shards)?;
    parts.extend(decide_shards(last)?);
    let mut report = Report::default();
    for (f, p, n) in parts {
        report.findings.extend(f);
        report.p2p_ports.extend(p);
        report.stats.conversations += n;
    }
    report.p2p_ports.sort_unstable();
    report.findings.extend(server_rows(servers, &report.p2p_ports, filter, opts));
    for f in report.findings.iter_mut() {
        f.hostname = opts.hosts.get(&f.host).cloned().unwrap_or_default();
    }
    report.findings.sort_by_key(|f| (f.host, f.tag));
    (report.stats.spills, report.stats.spilled_bytes) = findings.spilled();
    Ok(report)
}

/// Section 7: hosts the servers evaluation calls a server of something with enough clients.
fn server_rows(
    servers: &[crate::servers::Server],
    p2p_ports: &[(IpAddr, u16, u8)],
    filter: &HostFilter,
    opts: &ReportOptions,
) -> Vec<Finding> {
    let mut by_host: BTreeMap<IpAddr, Vec<&crate::servers::Server>> = BTreeMap::new();
    for s in servers.iter().filter(|s| {
        s.confidence != crate::servers::Confidence::Ambiguous
            && s.clients >= opts.rules.server.min_clients
            && filter.contains(s.server)
            && p2p_ports.binary_search(&(s.server, s.port, s.proto)).is_err()
    }) {
        by_host.entry(s.server).or_default().push(s);
    }
    by_host
        .into_iter()
        .map(|(host, mut rows)| {
            rows.sort_by(|a, b| b.clients.cmp(&a.clients).then(a.port.cmp(&b.port)));
            let confidence = if rows.iter().any(|r| r.confidence == crate::servers::Confidence::High) {
                Confidence::High
            } else if rows.iter().any(|r| r.confidence == crate::servers::Confidence::Medium) {
                Confidence::Medium
            } else {
                Confidence::Low
            };
            let label = |r: &crate::servers::Server| {
                format!("{}/{} ({})", r.port, crate::servers::rules::proto_name(r.proto), r.service)
            };
            let evidence = rows
                .iter()
                .map(|r| {
                    format!("{} clients={} flows_in={} bytes_out={}", label(r), r.clients, r.flows_in, r.bytes_out)
                })
                .collect::<Vec<_>>()
                .join("; ");
            let explanation =
                format!(
                    "answers {}",
                    rows.iter()
                        .take(6)
                        .map(|r| format!("{} clients on {}", r.clients, label(r)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ) + &if rows.len() > 6 { format!(" and {} more services", rows.len() - 6) } else { String::new() };
            Finding {
                host,
                hostname: String::new(),
                tag: Tag::Server,
                confidence,
                evidence,
                explanation,
                first_seen: rows.iter().filter_map(|r| r.first_seen).min(),
                last_seen: rows.iter().filter_map(|r| r.last_seen).max(),
            }
        })
        .collect()
}

/// Reads the flows once and builds the findings and the servers report (with the P2P context
/// applied), on the current rayon pool, within `opts.servers.memory`: one shared scan feeds the
/// servers evaluation and the findings aggregation.
pub fn build_report(files: &[PathBuf], opts: &ReportOptions) -> Result<(Report, crate::servers::Report)> {
    let parts = Parts::new(opts);
    let scan_opts = parts.scan_options(opts);
    let (workers, scan) = crate::aggregate::scan(files, &parts.columns(), &scan_opts, || {
        (parts.evaluator.worker(), parts.findings.worker())
    })?;
    let (sw, fw): (Vec<_>, Vec<_>) = workers.into_iter().unzip();
    parts.finish(sw, fw, &scan, opts)
}

/// The three reports of one read of the day.
pub struct DayReports {
    pub ports: crate::ports::Report,
    pub servers: crate::servers::Report,
    pub findings: Report,
}

/// Reads the flows once for the port report, the servers and the findings (`flowlens daily`,
/// `flowlens ports --findings`): the port report's hosts are `opts.local`'s, and its summary
/// follows `summary` and `top_hosts`.
pub fn build_day(
    files: &[PathBuf],
    opts: &ReportOptions,
    summary: &crate::ports::SummaryOptions,
    top_hosts: Option<usize>,
) -> Result<DayReports> {
    let parts = Parts::new(opts);
    let ports_agg = crate::ports::Aggregation::new(&parts.filter, &parts.memory);
    let scan_opts = parts.scan_options(opts);
    let columns = parts.columns().union(&crate::ports::aggregate::columns());
    let (workers, scan) = crate::aggregate::scan(files, &columns, &scan_opts, || {
        (ports_agg.worker(), parts.evaluator.worker(), parts.findings.worker())
    })?;
    let (mut pw, mut sw, mut fw) = (Vec::new(), Vec::new(), Vec::new());
    for (p, s, f) in workers {
        pw.push(p);
        sw.push(s);
        fw.push(f);
    }
    let (findings, servers) = parts.finish(sw, fw, &scan, opts)?;
    let partials = crate::ports::Aggregation::partials(pw);
    let groups = ports_agg.groups(partials, &scan);
    let ports = crate::ports::report_from_groups(groups, summary, top_hosts)?;
    Ok(DayReports { ports, servers, findings })
}

/// The servers evaluation and the findings aggregation that every shared scan feeds.
struct Parts<'a> {
    filter: HostFilter,
    sopts: crate::servers::ReportOptions,
    memory: crate::aggregate::Memory,
    evaluator: crate::servers::Evaluator<'a>,
    findings: Findings,
}

impl<'a> Parts<'a> {
    fn new(opts: &'a ReportOptions) -> Self {
        let filter = HostFilter::new(&opts.local);
        let mut sopts = opts.servers.clone();
        sopts.select = opts.select.clone();
        let memory = sopts.memory.clone();
        let sfilter = HostFilter::new(&sopts.local);
        let evaluator = crate::servers::Evaluator::new(&opts.servers.rules, &sopts.eval, &sfilter, &memory);
        let findings = Findings::new(opts.rules.clone(), filter.clone(), &memory);
        Parts { filter, sopts, memory, evaluator, findings }
    }

    fn columns(&self) -> crate::aggregate::Columns {
        crate::servers::eval::columns().union(&aggregate::columns())
    }

    fn scan_options<'b>(&'b self, opts: &'b ReportOptions) -> crate::aggregate::ScanOptions<'b> {
        crate::aggregate::ScanOptions {
            select: &opts.select,
            memory: &self.memory,
            quiet: self.memory.quiet,
            unaddressed: false,
        }
    }

    /// Decides the servers, then the findings (which need the servers), then sets the P2P
    /// hosts' ports aside from the servers.
    fn finish(
        &self,
        sw: Vec<crate::servers::eval::ServersWorker<'_>>,
        fw: Vec<aggregate::FindingsWorker<'_>>,
        scan: &crate::aggregate::ScanStats,
        opts: &ReportOptions,
    ) -> Result<(Report, crate::servers::Report)> {
        let evaluation = self.evaluator.finish(crate::servers::Evaluator::partials(sw), scan)?;
        let mut servers = crate::servers::report_from_evaluation(evaluation, &self.sopts);
        let mut report = decide_all(&self.findings, Findings::partials(fw), &self.filter, opts, &servers.servers)?;
        report.stats.files = scan.files;
        report.stats.row_groups = scan.row_groups;
        report.stats.rows = scan.rows;
        report.stats.no_address = scan.no_address;
        crate::servers::set_aside_p2p_ports(&mut servers, &report.p2p_ports, opts.servers.ambiguous);
        Ok((report, servers))
    }
}

/// The servers report with findings' P2P context (docs/findings.md section 8), for `flowlens
/// servers`: the same one scan as [`build_report`].
pub fn servers_with_context(
    files: &[PathBuf],
    servers: &crate::servers::ReportOptions,
) -> Result<crate::servers::Report> {
    let opts = ReportOptions {
        local: servers.local.clone(),
        select: servers.select.clone(),
        servers: servers.clone(),
        ..ReportOptions::default()
    };
    Ok(build_report(files, &opts)?.1)
}

/// Everything `flowlens findings` needs.
#[derive(Debug, Clone)]
pub struct FindingsOptions {
    pub inputs: Vec<PathBuf>,
    pub report: ReportOptions,
    pub format: FindingsFormat,
    pub output: Option<PathBuf>,
    pub threads: Option<usize>,
}

/// `flowlens findings`: read, decide, write.
pub fn run(opts: &FindingsOptions) -> Result<Report> {
    if opts.format == FindingsFormat::Parquet && opts.output.as_deref().is_none_or(|p| p.as_os_str() == "-") {
        return Err(Error::Usage("--format parquet writes a file: give it with -o FILE".into()));
    }
    let files = scan::list_parquet_range(&opts.inputs, &opts.report.select.range)?;
    let (report, _) = crate::with_threads(opts.threads, || build_report(&files, &opts.report))?;
    format::write(&report.findings, opts.format, opts.output.as_deref())?;
    Ok(report)
}
