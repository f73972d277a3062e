//! `flowlens servers`: which addresses act as servers for which services, from flows alone
//! (no TCP flags needed), and which of them are new.
//!
//! The definition is docs/servers.md; the rules are data (`data/servers.toml`, [`rules`]). The
//! stages, one file each: [`eval`] evaluates the rules as Arrow kernels over the flows Parquet,
//! row groups in parallel, and decides every candidate; this module turns the decided
//! candidates into report rows (one per server address, port and protocol); [`baseline`] marks
//! them new or known against an earlier report or the store's inventory and writes the alerts;
//! [`format`] writes the text table, CSV, JSON or Parquet; `crate::sql::servers` compiles the same
//! rules to SQL.

pub mod baseline;
pub mod eval;
pub mod format;
pub mod rules;

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use crate::aggregate::Memory;
use crate::error::{Error, Result};
use crate::ports::HostFilter;
use crate::scan;
use crate::select::Selection;
use crate::services::Services;

pub use baseline::Baseline;
pub use eval::{EvalOptions, EvalStats, Evaluation, Evaluator};
pub use rules::{Rule, Rules, ServiceName};

/// How sure a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Confidence {
    High,
    Medium,
    Low,
    /// A symmetric pair where neither side shows server evidence (`--ambiguous` rows only).
    Ambiguous,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
            Confidence::Ambiguous => "ambiguous",
        }
    }
}

/// New or known, against a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    New,
    Known,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Known => "known",
        }
    }
}

/// One row of the report: a server address, port and protocol, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub server: IpAddr,
    pub port: u16,
    pub proto: u8,
    pub service: String,
    pub clients: u64,
    pub client_ports: u64,
    pub flows_in: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub flows_out: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// Microseconds since the epoch, UTC; `None` when the input has no times.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub rule: String,
    pub evidence: String,
    pub confidence: Confidence,
    /// Set when a baseline was given.
    pub status: Option<Status>,
    /// Whether the baseline knew the address as a server of anything (alerts say so).
    pub address_known: Option<bool>,
}

impl Server {
    /// The key a baseline knows a server by.
    pub fn key(&self) -> (IpAddr, u16, u8) {
        (self.server, self.port, self.proto)
    }
}

/// The report's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServersFormat {
    /// A table for people, bytes with K/M/G suffixes.
    Text,
    /// One line per row after a header, exact numbers, times as ISO 8601 UTC.
    Csv,
    /// An array of row objects with typed fields.
    Json,
    /// A Parquet file with typed columns (needs -o).
    Parquet,
}

/// What the report is built from and how.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub rules: Rules,
    pub services: Services,
    /// `--local`: only servers inside these networks (empty: all).
    pub local: Vec<IpNet>,
    /// Only these flows (`--from/--to`, addresses, ports, protocols), selected before the rules.
    pub select: Selection,
    pub eval: EvalOptions,
    /// List ambiguous symmetric pairs as rows too.
    pub ambiguous: bool,
    /// `--memory`, `--temp-dir`.
    pub memory: Memory,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            rules: Rules::builtin(),
            services: Services::builtin(),
            local: Vec::new(),
            select: Selection::all(),
            eval: EvalOptions::default(),
            ambiguous: false,
            memory: Memory::default(),
        }
    }
}

/// The report rows and what the scan read.
#[derive(Debug, Clone)]
pub struct Report {
    pub servers: Vec<Server>,
    /// Ambiguous symmetric pairs found (listed as rows only with `ambiguous`).
    pub ambiguous_pairs: usize,
    pub stats: EvalStats,
}

impl Report {
    /// Rows that are servers (not the ambiguous ones).
    pub fn servers_only(&self) -> impl Iterator<Item = &Server> {
        self.servers.iter().filter(|s| s.confidence != Confidence::Ambiguous)
    }
}

/// The service name of a rule's row.
pub fn service_name(rule: &Rule, port: u16, proto: u8, services: &Services) -> String {
    match &rule.service {
        ServiceName::Fixed(s) => s.clone(),
        ServiceName::FromTable => match services.name(port) {
            Some(n) => n.to_string(),
            None => format!("{}/{port}", rules::proto_name(proto)),
        },
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// docs/servers.md section 6: the decided candidates as report rows.
pub fn rows(ev: &Evaluation, opts: &ReportOptions) -> Vec<Server> {
    let filter = HostFilter::new(&opts.local);
    let rules = &opts.rules.rules;
    let mut best: ahash::AHashMap<(IpAddr, u16, u8), &eval::Candidate> = ahash::AHashMap::new();
    for c in ev.candidates.iter().filter(|c| c.is_server && filter.contains(c.server)) {
        best.entry((c.server, c.port, c.proto))
            .and_modify(|b| {
                if c.rule < b.rule {
                    *b = c
                }
            })
            .or_insert(c);
    }
    let mut out: Vec<Server> = best
        .into_values()
        .map(|c| {
            let rule = &rules[c.rule];
            let named = matches!(rule.service, ServiceName::Fixed(_));
            let confidence = if c.originated >= 1 || c.clients >= 3 || rule.tie.is_some() || c.synack > 0 {
                Confidence::High
            } else if named {
                Confidence::Medium
            } else {
                Confidence::Low
            };
            let mut evidence = vec![format!("answered {}", plural(c.clients, "client"))];
            if c.originated >= 1 {
                evidence.push(format!("{} originated", c.originated));
            }
            if c.strong == 0 {
                evidence.push("symmetric only".into());
            }
            if let Some(t) = rule.tie {
                evidence.push(format!("tied to {}", rules[t].name));
            }
            if c.synack > 0 {
                evidence.push("SYN+ACK".into());
            }
            Server {
                server: c.server,
                port: c.port,
                proto: c.proto,
                service: service_name(rule, c.port, c.proto, &opts.services),
                clients: c.clients,
                client_ports: c.client_ports,
                flows_in: c.flows_in,
                packets_in: c.packets_in,
                bytes_in: c.bytes_in,
                flows_out: c.flows_out,
                packets_out: c.packets_out,
                bytes_out: c.bytes_out,
                first_seen: c.first,
                last_seen: c.last,
                rule: rule.name.clone(),
                evidence: evidence.join("; "),
                confidence,
                status: None,
                address_known: None,
            }
        })
        .collect();
    if opts.ambiguous {
        for a in ev.ambiguous.iter().filter(|a| filter.contains(a.a) || filter.contains(a.b)) {
            let rule = &rules[a.rule];
            out.push(Server {
                server: a.a,
                port: a.port,
                proto: a.proto,
                service: service_name(rule, a.port, a.proto, &opts.services),
                clients: 1,
                client_ports: 1,
                flows_in: a.flows,
                packets_in: 0,
                bytes_in: 0,
                flows_out: 0,
                packets_out: 0,
                bytes_out: 0,
                first_seen: a.first,
                last_seen: a.last,
                rule: rule.name.clone(),
                evidence: format!("symmetric {p}<->{p} with {}; neither side shows server evidence", a.b, p = a.port),
                confidence: Confidence::Ambiguous,
                status: None,
                address_known: None,
            });
        }
    }
    out.sort_by_key(|x| (x.server, x.port, x.proto, x.confidence));
    out
}

/// Reads the flows and builds the report, on the current rayon pool.
pub fn build_report(files: &[PathBuf], opts: &ReportOptions) -> Result<Report> {
    let filter = HostFilter::new(&opts.local);
    let ev = eval::evaluate(files, &opts.rules, &opts.select, &opts.eval, &filter, &opts.memory)?;
    Ok(report_from_evaluation(ev, opts))
}

/// The report from an evaluation (of [`eval::evaluate`], or of a shared scan).
pub fn report_from_evaluation(ev: Evaluation, opts: &ReportOptions) -> Report {
    let servers = rows(&ev, opts);
    Report { servers, ambiguous_pairs: ev.ambiguous.len(), stats: ev.stats }
}

/// Everything `flowlens servers` needs.
#[derive(Debug, Clone)]
pub struct ServersOptions {
    pub inputs: Vec<PathBuf>,
    pub report: ReportOptions,
    pub format: ServersFormat,
    /// `None` or `-`: stdout.
    pub output: Option<PathBuf>,
    pub baseline: Option<PathBuf>,
    pub alerts: Option<PathBuf>,
    /// `--fail-on-new`: without a baseline, every server is new.
    pub fail_on_new: bool,
    pub threads: Option<usize>,
}

/// What a run did, for the command's summary line and exit status.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub stats: EvalStats,
    pub servers: usize,
    pub ambiguous_pairs: usize,
    /// New servers (with a baseline).
    pub new: Option<usize>,
}

/// `flowlens servers`: read, evaluate, compare with the baseline, write.
pub fn run(opts: &ServersOptions) -> Result<RunSummary> {
    if opts.format == ServersFormat::Parquet && opts.output.as_deref().is_none_or(|p| p.as_os_str() == "-") {
        return Err(Error::Usage("--format parquet writes a file: give it with -o FILE".into()));
    }
    // Read the baseline first: a bad baseline should fail before the long scan.
    let baseline = match &opts.baseline {
        Some(p) => Some(Baseline::load(p)?),
        None if opts.alerts.is_some() || opts.fail_on_new => Some(Baseline::default()),
        None => None,
    };
    let files = scan::list_parquet_range(&opts.inputs, &opts.report.select.range)?;
    // With findings' context, from the same one read: a P2P host's random ports are not
    // services (docs/findings.md section 8).
    let mut report = crate::with_threads(opts.threads, || crate::findings::servers_with_context(&files, &opts.report))?;
    let new = baseline.as_ref().map(|b| b.mark(&mut report.servers));
    if let Some(path) = &opts.alerts {
        baseline::write_alerts(path, &report.servers)?;
    }
    format::write(&report.servers, opts.format, opts.output.as_deref())?;
    Ok(RunSummary {
        stats: report.stats,
        servers: report.servers_only().count(),
        ambiguous_pairs: report.ambiguous_pairs,
        new,
    })
}

/// Context from the findings (docs/findings.md section 8): a port of a host tagged `p2p` that
/// was answered only in P2P-shaped exchanges is not a service, whatever rule its number
/// matches (a random BitTorrent port that happens to be 3306). Its rows leave the report; with
/// `list` they stay as `ambiguous` rows that say why. Returns how many rows were set aside.
pub fn set_aside_p2p_ports(report: &mut Report, ports: &[(IpAddr, u16, u8)], list: bool) -> usize {
    let mut n = 0;
    report.servers.retain_mut(|s| {
        if s.confidence == Confidence::Ambiguous || ports.binary_search(&(s.server, s.port, s.proto)).is_err() {
            return true;
        }
        n += 1;
        s.confidence = Confidence::Ambiguous;
        s.evidence =
            format!("{}; not a service: port of a p2p host, answered only in P2P-shaped exchanges", s.evidence);
        list
    });
    n
}
