//! `flowlens report`: one self-contained HTML page for one day of a store.
//!
//! The page shows what the day's reports say, read back from the files that `daily` wrote
//! from them (`ports/`, `servers/`, `findings/` Parquet and the inventory), so the page and the
//! CSVs cannot disagree: no number of a table is computed twice. Only the totals and the
//! traffic over the day are read from the flows themselves ([`traffic`], one shared scan).
//!
//! The stages, one file each: this module gathers the day ([`gather`]); [`chart`] draws the
//! charts as SVG (plotters); [`html`] fills the page's template (minijinja, HTML auto-escape).

pub mod chart;
pub mod html;
pub mod traffic;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type, UInt32Type, UInt8Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use chrono::NaiveDate;
use ipnet::IpNet;

use crate::daily::InventoryEntry;
use crate::error::{Error, Result};
use crate::ports::{HostFilter, HostSummary, NameOptions, PortRow, RowKey, Traffic};
use crate::scan;
use crate::servers::format::iso_time;
use crate::services::Services;

pub use traffic::DayTraffic;

/// Hosts with a bar and a port profile, unless `--top-hosts` says otherwise.
pub const DEFAULT_TOP_HOSTS: usize = 25;
/// Rows listed per list (findings of a tag, new servers, quiet servers) before "N more".
pub const DEFAULT_MAX_ROWS: usize = 100;
/// Days of the trends: the day and up to 13 before it.
pub const TREND_DAYS: usize = 14;

/// Everything `flowlens report` needs.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub store: PathBuf,
    pub date: NaiveDate,
    /// The local networks of the traffic chart (empty: one series, every flow).
    pub local: Vec<IpNet>,
    /// Host names (hosts file, `--domain`, reverse DNS) of the hosts the page shows; without any,
    /// the names the port report was written with.
    pub names: NameOptions,
    pub top_hosts: usize,
    pub max_rows: usize,
    pub services: Services,
    pub threads: Option<usize>,
}

impl ReportOptions {
    pub fn new(store: PathBuf, date: NaiveDate) -> Self {
        ReportOptions {
            store,
            date,
            local: Vec::new(),
            names: NameOptions::default(),
            top_hosts: DEFAULT_TOP_HOSTS,
            max_rows: DEFAULT_MAX_ROWS,
            services: Services::builtin(),
            threads: None,
        }
    }
}

fn partition(date: NaiveDate) -> String {
    format!("date={}", date.format("%Y-%m-%d"))
}

/// The report files of one day under `root` (the store, or daily's staging folder).
#[derive(Debug, Clone)]
pub struct DayFiles {
    pub flows: PathBuf,
    pub ports: PathBuf,
    pub servers: PathBuf,
    pub findings: PathBuf,
}

impl DayFiles {
    pub fn new(root: &Path, date: NaiveDate) -> Self {
        let p = partition(date);
        DayFiles {
            flows: root.join("flows").join(&p),
            ports: root.join("ports").join(&p).join("ports.parquet"),
            servers: root.join("servers").join(&p).join("servers.parquet"),
            findings: root.join("findings").join(&p).join("findings.parquet"),
        }
    }
}

/// Where the page of `date` goes in the store.
pub fn page_path(root: &Path, date: NaiveDate) -> PathBuf {
    root.join("report").join(partition(date)).join("report.html")
}

/// The days of the store: its `flows/date=D` folders, in order.
pub fn store_days(store: &Path) -> Result<Vec<NaiveDate>> {
    let dir = store.join("flows");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut days: Vec<NaiveDate> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            NaiveDate::parse_from_str(name.to_str()?.strip_prefix("date=")?, "%Y-%m-%d").ok()
        })
        .collect();
    days.sort();
    Ok(days)
}

/// The headline numbers of a day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Hosts of the port report (the local hosts with `--local`).
    pub hosts: u64,
    pub servers: Option<u64>,
    /// `None`: findings were not computed for the day.
    pub findings: Option<u64>,
}

/// A host shown on the page: its port report rows as the report wrote them.
#[derive(Debug, Clone)]
pub struct ShownHost {
    /// Position in the port report, from 1.
    pub rank: u32,
    pub name: String,
    pub summary: HostSummary,
}

/// Rows of a report's Parquet file as its CSV prints them, column by column.
#[derive(Debug, Clone, Default)]
pub struct TextTable {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl TextTable {
    pub fn col(&self, row: usize, name: &str) -> &str {
        self.columns.iter().position(|c| *c == name).and_then(|i| self.rows.get(row)?.get(i)).map_or("", |s| s)
    }
}

/// Everything the page shows, gathered from the store.
#[derive(Debug, Clone)]
pub struct Day {
    pub date: NaiveDate,
    pub totals: Totals,
    /// The day and the days before it (at most [`TREND_DAYS`]), oldest first.
    pub trend: Vec<(NaiveDate, Totals)>,
    pub traffic: DayTraffic,
    /// Whether the chart splits the traffic by `--local`.
    pub split: bool,
    /// The first hosts of the port report, then hosts with findings (up to the same count).
    pub hosts: Vec<ShownHost>,
    /// How many of `hosts` are the top hosts (the rest are there for their findings).
    pub top: usize,
    /// The traffic of the port report's hosts that are not in the top.
    pub rest: Traffic,
    /// Findings of the day, CSV columns; `None` when the day has no findings file.
    pub findings: Option<TextTable>,
    /// The day's servers marked new, CSV columns.
    pub new_servers: TextTable,
    /// Servers of earlier days not seen on this day.
    pub quiet: Vec<InventoryEntry>,
    pub max_rows: usize,
}

fn input_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::input(path.display().to_string(), reason)
}

/// One cell as the reports' CSV writers print it: numbers in decimal, times as ISO 8601 UTC.
fn cell_text(col: &ArrayRef, i: usize) -> String {
    if col.is_null(i) {
        return String::new();
    }
    match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().value(i).to_string(),
        DataType::UInt8 => col.as_primitive::<UInt8Type>().value(i).to_string(),
        DataType::UInt16 => col.as_primitive::<UInt16Type>().value(i).to_string(),
        DataType::UInt32 => col.as_primitive::<UInt32Type>().value(i).to_string(),
        DataType::Int64 => col.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Boolean => col.as_boolean().value(i).to_string(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            iso_time(Some(col.as_primitive::<TimestampMicrosecondType>().value(i)))
        }
        _ => String::new(),
    }
}

/// Reads `columns` of a report's Parquet file as text; `keep` sees each row's cells.
fn read_text(path: &Path, columns: &[&'static str], keep: impl Fn(&[String]) -> bool) -> Result<TextTable> {
    let mut t = TextTable { columns: columns.to_vec(), rows: Vec::new() };
    let schema = scan::file_schema(path)?;
    for c in columns {
        if schema.index_of(c).is_err() {
            return Err(input_err(path, format!("no column '{c}': not a flowlens report file")));
        }
    }
    for batch in scan::read_columns(path, columns, 64 * 1024)? {
        let batch = batch?;
        let cols: Vec<&ArrayRef> = columns.iter().filter_map(|c| batch.column_by_name(c)).collect();
        for i in 0..batch.num_rows() {
            let row: Vec<String> = cols.iter().map(|c| cell_text(c, i)).collect();
            if keep(&row) {
                t.rows.push(row);
            }
        }
    }
    Ok(t)
}

/// Rows of a Parquet file, from its footer.
fn parquet_rows(path: &Path) -> Result<u64> {
    let b = scan::open(path)?;
    Ok(b.metadata().file_metadata().num_rows().max(0) as u64)
}

/// The port report's hosts, in report order, with the names it was written with.
pub fn read_ports(path: &Path) -> Result<Vec<ShownHost>> {
    const COLS: [&str; 11] = [
        "host_rank",
        "hostname",
        "ip",
        "other",
        "sport",
        "dport",
        "flows",
        "in_packets",
        "in_bytes",
        "out_packets",
        "out_bytes",
    ];
    let schema = scan::file_schema(path)?;
    for c in COLS {
        if schema.index_of(c).is_err() {
            return Err(input_err(path, format!("no column '{c}': not a flowlens ports Parquet file")));
        }
    }
    let bad = |what: &str| input_err(path, format!("column '{what}' is not of the port report's type"));
    let mut hosts: Vec<ShownHost> = Vec::new();
    for batch in scan::read_columns(path, &COLS, 64 * 1024)? {
        let batch = batch?;
        let c = |n: &str| batch.column_by_name(n).ok_or_else(|| bad(n));
        let rank = c("host_rank")?.as_primitive_opt::<UInt32Type>().ok_or_else(|| bad("host_rank"))?.clone();
        let name = c("hostname")?.as_string_opt::<i32>().ok_or_else(|| bad("hostname"))?.clone();
        let ip = c("ip")?.as_string_opt::<i32>().ok_or_else(|| bad("ip"))?.clone();
        let other = c("other")?.as_boolean_opt().ok_or_else(|| bad("other"))?.clone();
        let sport = c("sport")?.as_primitive_opt::<UInt16Type>().ok_or_else(|| bad("sport"))?.clone();
        let dport = c("dport")?.as_primitive_opt::<UInt16Type>().ok_or_else(|| bad("dport"))?.clone();
        let mut nums = Vec::new();
        for n in ["flows", "in_packets", "in_bytes", "out_packets", "out_bytes"] {
            nums.push(c(n)?.as_primitive_opt::<Int64Type>().ok_or_else(|| bad(n))?.clone());
        }
        for i in 0..batch.num_rows() {
            let r = rank.value(i);
            if hosts.last().is_none_or(|h| h.rank != r) {
                let addr: IpAddr = ip.value(i).parse().map_err(|_| bad("ip"))?;
                hosts.push(ShownHost {
                    rank: r,
                    name: name.value(i).to_string(),
                    summary: HostSummary { addr, total: Traffic::default(), rows: Vec::new() },
                });
            }
            let key = if other.value(i) {
                RowKey::Other
            } else {
                // A null port is `*` (many ports, or port 0): the report keys both as 0.
                let p = |a: &arrow_array::UInt16Array| if a.is_valid(i) { a.value(i) } else { 0 };
                RowKey::Ports { sport: p(&sport), dport: p(&dport) }
            };
            let n = |k: usize| nums[k].value(i).max(0) as u64;
            let traffic = Traffic { flows: n(0), in_packets: n(1), in_bytes: n(2), out_packets: n(3), out_bytes: n(4) };
            if let Some(h) = hosts.last_mut() {
                h.summary.total.add(&traffic);
                h.summary.rows.push(PortRow { key, traffic });
            }
        }
    }
    Ok(hosts)
}

/// The findings columns, in the CSV's order.
pub const FINDINGS_COLUMNS: [&str; 8] =
    ["host", "hostname", "tag", "confidence", "evidence", "explanation", "first_seen", "last_seen"];
/// The servers columns the page shows, in the CSV's order.
pub const SERVERS_COLUMNS: [&str; 16] = [
    "server",
    "port",
    "proto",
    "service",
    "clients",
    "client_ports",
    "flows_in",
    "packets_in",
    "bytes_in",
    "flows_out",
    "packets_out",
    "bytes_out",
    "first_seen",
    "last_seen",
    "evidence",
    "confidence",
];

/// A day's totals without the chart: the flows' packets and bytes, the reports' row counts.
fn day_totals(files: &DayFiles, traffic: Option<&DayTraffic>, filter: &HostFilter) -> Result<Totals> {
    let t = match traffic {
        Some(t) => t.clone(),
        None => traffic::read(&flow_files(&files.flows)?, None, filter)?,
    };
    let hosts = if files.ports.exists() {
        let mut max = 0u32;
        for batch in scan::read_columns(&files.ports, &["host_rank"], 64 * 1024)? {
            if let Some(a) = batch?.column(0).as_primitive_opt::<UInt32Type>() {
                max = max.max(a.iter().flatten().max().unwrap_or(0));
            }
        }
        max as u64
    } else {
        0
    };
    let rows = |p: &Path| if p.exists() { parquet_rows(p).map(Some) } else { Ok(None) };
    Ok(Totals {
        flows: t.flows,
        packets: t.packets,
        bytes: t.bytes,
        hosts,
        servers: rows(&files.servers)?,
        findings: rows(&files.findings)?,
    })
}

/// The `.parquet` files of a day's flows folder (none when it has none).
fn flow_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    match scan::list_parquet(&[dir.to_path_buf()]) {
        Ok(f) => Ok(f),
        Err(Error::Input { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Gathers the page of `opts.date`: its files under `day_root` (the store, or daily's staging
/// folder before the commit); the other days from the store.
pub fn gather(opts: &ReportOptions, day_root: &Path) -> Result<Day> {
    let files = DayFiles::new(day_root, opts.date);
    let days = store_days(&opts.store)?;
    if !files.flows.is_dir() {
        let have: Vec<String> = days.iter().map(|d| d.to_string()).collect();
        return Err(Error::Usage(match have.len() {
            0 => format!(
                "{} has no days (no flows/date=YYYY-MM-DD folders): is it a store that `flowlens daily` wrote?",
                opts.store.display()
            ),
            _ => format!(
                "{} has no day {}; its days are: {} (pass one of them with --date)",
                opts.store.display(),
                opts.date,
                have.join(", ")
            ),
        }));
    }
    if !files.ports.exists() {
        return Err(Error::Usage(format!(
            "{} is missing: the day's reports were not written; run `flowlens daily --store {} --date {} ARCHIVE` \
             for that day",
            files.ports.display(),
            opts.store.display(),
            opts.date
        )));
    }
    let filter = HostFilter::new(&opts.local);
    crate::with_threads(opts.threads, || {
        let traffic = traffic::read(&flow_files(&files.flows)?, Some(opts.date), &filter)?;
        let totals = day_totals(&files, Some(&traffic), &filter)?;
        let mut trend = Vec::new();
        let earlier: Vec<NaiveDate> = days.iter().copied().filter(|d| *d < opts.date).collect();
        for d in earlier.iter().skip(earlier.len().saturating_sub(TREND_DAYS - 1)) {
            trend.push((*d, day_totals(&DayFiles::new(&opts.store, *d), None, &filter)?));
        }
        trend.push((opts.date, totals));

        let all_hosts = read_ports(&files.ports)?;
        let findings =
            if files.findings.exists() { Some(read_text(&files.findings, &FINDINGS_COLUMNS, |_| true)?) } else { None };
        let (hosts, top, rest) = shown_hosts(all_hosts, findings.as_ref(), opts)?;

        let (new_servers, today) = if files.servers.exists() {
            let status = scan::file_schema(&files.servers)?.index_of("status").is_ok();
            let mut cols = SERVERS_COLUMNS.to_vec();
            if status {
                cols.push("status");
            }
            let all = read_text(&files.servers, &cols, |_| true)?;
            let today: HashSet<(String, String, String)> =
                all.rows.iter().map(|r| (r[0].clone(), r[1].clone(), r[2].clone())).collect();
            let mut new = all.clone();
            new.rows.retain(|r| status && r.last().is_some_and(|s| s == "new"));
            (new, today)
        } else {
            (TextTable { columns: SERVERS_COLUMNS.to_vec(), rows: Vec::new() }, HashSet::new())
        };
        let quiet: Vec<InventoryEntry> = crate::daily::inventory(&opts.store)?
            .into_iter()
            .filter(|e| e.first_day < opts.date)
            .filter(|e| !today.contains(&(e.server.to_string(), e.port.to_string(), e.proto.to_string())))
            .collect();

        Ok(Day {
            date: opts.date,
            totals,
            trend,
            traffic,
            split: !opts.local.is_empty(),
            hosts,
            top,
            rest,
            findings,
            new_servers,
            quiet,
            max_rows: opts.max_rows,
        })
    })
}

/// The hosts with a profile on the page: the first `top_hosts` of the port report, then those of
/// the other hosts with a finding (other than `server`), up to as many again; the traffic of the
/// hosts outside the top; names from `opts.names` when it names anything.
fn shown_hosts(
    all: Vec<ShownHost>,
    findings: Option<&TextTable>,
    opts: &ReportOptions,
) -> Result<(Vec<ShownHost>, usize, Traffic)> {
    let flagged: BTreeSet<&str> = findings
        .map(|f| f.rows.iter().filter(|r| r[2] != "server").map(|r| r[0].as_str()).collect())
        .unwrap_or_default();
    let mut rest = Traffic::default();
    let mut shown = Vec::new();
    let mut extra = 0;
    let top = all.len().min(opts.top_hosts);
    for (i, h) in all.into_iter().enumerate() {
        if i < top {
            shown.push(h);
            continue;
        }
        rest.add(&h.summary.total);
        if extra < opts.top_hosts && flagged.contains(h.summary.addr.to_string().as_str()) {
            shown.push(h);
            extra += 1;
        }
    }
    let n = &opts.names;
    if n.hosts_file.is_some() || n.domain.is_some() || n.resolve.is_some() {
        let addrs: Vec<IpAddr> = shown.iter().map(|h| h.summary.addr).collect();
        let (names, _) = crate::ports::names::host_names(&addrs, n)?;
        for (h, name) in shown.iter_mut().zip(names) {
            h.name = name;
        }
    }
    Ok((shown, top, rest))
}

/// Host names of the page's findings rows: the port report's (or `--hosts`) name of each host
/// shown, by address.
pub fn names_by_addr(day: &Day) -> HashMap<String, &str> {
    day.hosts.iter().map(|h| (h.summary.addr.to_string(), h.name.as_str())).collect()
}

/// `flowlens report`: gathers the day from the store and renders the page.
pub fn build(opts: &ReportOptions) -> Result<String> {
    build_at(opts, &opts.store)
}

/// The page of a day whose files are under `day_root` (daily's staging folder), the other days
/// in the store.
pub fn build_at(opts: &ReportOptions, day_root: &Path) -> Result<String> {
    let day = gather(opts, day_root)?;
    html::render(&day, &opts.services)
}

/// `flowlens report`: the page of `opts.date` to `output` (a file, written under a temporary
/// name and renamed; stdout for `None` or `-`).
pub fn write(opts: &ReportOptions, output: Option<&Path>) -> Result<()> {
    use std::io::Write;
    let page = build(opts)?;
    let mut out = crate::output::TextOut::create(output)?;
    out.write_all(page.as_bytes()).map_err(|e| Error::io(out.name(), e))?;
    out.finish()
}
