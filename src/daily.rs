//! `flowlens daily`: the nightly batch job over a Parquet store.
//!
//! ```text
//! STORE/flows/date=D/part-00000.parquet      the day's archive, converted
//! STORE/flows/date=D/rejects.tsv            bad lines kept with --rejects
//! STORE/ports/date=D/ports.parquet           the port report of the day
//! STORE/servers/date=D/servers.parquet       the servers of the day, marked new/known
//! STORE/findings/date=D/findings.parquet     the findings of the day (docs/findings.md)
//! STORE/csv/date=D/{ports,servers,findings}.csv  the same three reports as CSV (kept out of
//!                                            the Parquet folders so that dataset readers open those)
//! STORE/alerts/date=D/new-servers.ndjson     one line per new server (empty when none)
//! STORE/alerts/date=D/findings.ndjson        one line per threat row of a host whose first day
//!                                            with a threat tag this is (empty when none)
//! STORE/report/date=D/report.html           the day's page (`flowlens report`), made from the
//!                                            staged reports above and the day's flows
//! STORE/inventory.parquet                    every server ever seen: first/last day, days seen
//! STORE/.lock                                held while a run works on the store
//! STORE/.staging/date=D/                     a run's outputs before they are committed
//! ```
//!
//! Crash safety: every output of a run is written under `.staging/date=D/` first; when all of
//! them are complete a `COMMIT` marker is written (atomically), then the files are renamed into
//! place and the inventory is rebuilt. A run killed before the marker leaves the store as it was
//! (the next run deletes the staging folder); a run killed after it is finished by the next run
//! (roll forward). Each rename replaces one file atomically, so readers never see half a file.
//!
//! Idempotence: the day's files replace the same day's files, and the inventory is rebuilt
//! from all the days' servers files rather than updated, so running a day twice leaves the same
//! store. A server is new on day D when no *other* day of the store has it, so running an
//! earlier day after later ones never marks a server that the store already knows as new.
//! A host's threat findings are alerts on its first day with a threat tag: when no *earlier*
//! day of the store has one for it (a backfilled earlier day alerts on its own threats).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ahash::AHashSet;
use arrow_array::builder::{
    Date32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder, UInt8Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use ipnet::IpNet;
use serde::Serialize;

use crate::aggregate::Memory;
use crate::convert::{self, ConvertOptions};
use crate::error::{Error, Result};
use crate::findings::{self, FindingRules, FindingsFormat};
use crate::ingest::ReadOptions;
use crate::output::{write_parquet_batch, AtomicFile, TextOut};
use crate::ports::{self, NameOptions, SummaryOptions};
use crate::scan;
use crate::schema::timestamp_type;
use crate::servers::{self, baseline, Baseline, ReportOptions};

/// Everything `flowlens daily` needs.
#[derive(Debug, Clone)]
pub struct DailyOptions {
    pub store: PathBuf,
    pub date: NaiveDate,
    pub inputs: Vec<PathBuf>,
    pub read: ReadOptions,
    /// `--local`: hosts of the port report and servers reported (empty: all).
    pub local: Vec<IpNet>,
    pub ports: SummaryOptions,
    pub servers: ReportOptions,
    /// The findings' thresholds (`--findings-rules`; built in: data/findings.toml).
    pub findings: FindingRules,
    pub rejects: bool,
    pub threads: Option<usize>,
    /// `--allow-other-days`: file the archive under `date` even when its rows start on other
    /// days (see [`DayCheck`]).
    pub allow_other_days: bool,
    /// No progress bar (it shows only when stderr is a terminal anyway).
    pub quiet: bool,
    /// `--memory`, `--temp-dir`: the budget of the reports' one scan of the day.
    pub memory: Memory,
    /// Test hook: fail after this stage (`convert`, `ports`, `servers`, `findings`, `report`, `commit`), as a
    /// crash would.
    pub fail_after: Option<String>,
}

/// One stage's summary line.
#[derive(Debug, Clone, Serialize)]
pub struct StageSummary {
    pub stage: &'static str,
    pub seconds: f64,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// What a run did (printed as JSON with `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct DailySummary {
    pub store: PathBuf,
    pub date: String,
    pub rows: u64,
    pub rejected: u64,
    pub hosts: usize,
    pub servers: usize,
    pub new_servers: usize,
    pub inventory_servers: usize,
    pub alerts: PathBuf,
    /// The day's findings rows per tag.
    pub findings: BTreeMap<&'static str, usize>,
    /// Hosts whose first day with a threat tag this is (their rows are in `findings_alerts`).
    pub new_threat_hosts: usize,
    pub findings_alerts: PathBuf,
    /// The day's page (`flowlens report`).
    pub report: PathBuf,
    /// A crashed earlier run whose outputs were finished (rolled forward) or discarded.
    pub recovered: Vec<String>,
    pub stages: Vec<StageSummary>,
}

/// Paths of one day in the store.
struct DayPaths {
    flows: PathBuf,
    rejects: PathBuf,
    ports_parquet: PathBuf,
    ports_csv: PathBuf,
    servers_parquet: PathBuf,
    servers_csv: PathBuf,
    alerts: PathBuf,
    findings_parquet: PathBuf,
    findings_csv: PathBuf,
    findings_alerts: PathBuf,
    report: PathBuf,
}

fn partition(date: NaiveDate) -> String {
    format!("date={}", date.format("%Y-%m-%d"))
}

impl DayPaths {
    /// The day's files under `root` (the store, or a staging folder of the same shape).
    fn new(root: &Path, date: NaiveDate) -> Self {
        let p = partition(date);
        DayPaths {
            flows: root.join("flows").join(&p).join("part-00000.parquet"),
            rejects: root.join("flows").join(&p).join("rejects.tsv"),
            ports_parquet: root.join("ports").join(&p).join("ports.parquet"),
            ports_csv: root.join("csv").join(&p).join("ports.csv"),
            servers_parquet: root.join("servers").join(&p).join("servers.parquet"),
            servers_csv: root.join("csv").join(&p).join("servers.csv"),
            alerts: root.join("alerts").join(&p).join("new-servers.ndjson"),
            findings_parquet: root.join("findings").join(&p).join("findings.parquet"),
            findings_csv: root.join("csv").join(&p).join("findings.csv"),
            findings_alerts: root.join("alerts").join(&p).join("findings.ndjson"),
            report: crate::report::page_path(root, date),
        }
    }

    /// Every output of a day. A run that has no rejects file removes the day's old one.
    fn all(&self) -> [&PathBuf; 11] {
        [
            &self.flows,
            &self.rejects,
            &self.ports_parquet,
            &self.ports_csv,
            &self.servers_parquet,
            &self.servers_csv,
            &self.alerts,
            &self.findings_parquet,
            &self.findings_csv,
            &self.findings_alerts,
            &self.report,
        ]
    }
}

const COMMIT: &str = "COMMIT";

/// The store's lock, held for the life of the value (an OS file lock: released if the process dies).
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub fn acquire(store: &Path) -> Result<Self> {
        std::fs::create_dir_all(store).map_err(|e| Error::io(store, e))?;
        let path = store.join(".lock");
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(StoreLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Usage(format!(
                "another flowlens daily is working on {} (lock {} is held); wait for it to finish",
                store.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }
}

fn mkparent(p: &Path) -> Result<()> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    Ok(())
}

/// Moves a committed staging folder's files into place, rebuilds the inventory, then removes the
/// folder (last, so that a run killed before the inventory is rebuilt is finished by the next).
/// Returns the inventory's size.
fn roll_forward(store: &Path, staging: &Path, date: NaiveDate) -> Result<usize> {
    let from = DayPaths::new(staging, date);
    let to = DayPaths::new(store, date);
    // A second pass (after a crash between the renames and the end) finds the flows moved already.
    let first_pass = from.flows.exists();
    for (f, t) in from.all().into_iter().zip(to.all()) {
        if f.exists() {
            mkparent(t)?;
            std::fs::rename(f, t).map_err(|e| Error::io(t, e))?;
        } else if first_pass && *t == to.rejects && t.exists() {
            // The day was run again without rejects: the old file no longer describes it.
            std::fs::remove_file(t).map_err(|e| Error::io(t, e))?;
        }
    }
    let n = rebuild_inventory(store)?;
    std::fs::remove_dir_all(staging).map_err(|e| Error::io(staging, e))?;
    Ok(n)
}

/// Finishes or discards what crashed runs left in `.staging`; returns what was done.
fn recover(store: &Path) -> Result<Vec<String>> {
    let root = store.join(".staging");
    let mut done = Vec::new();
    let Ok(entries) = std::fs::read_dir(&root) else { return Ok(done) };
    for e in entries.flatten() {
        let dir = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        let date = name.strip_prefix("date=").and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        match date {
            Some(d) if dir.join(COMMIT).exists() => {
                roll_forward(store, &dir, d)?;
                // The files are in place even if a later crash left the rest undone.
                done.push(format!("{name}: finished a committed run"));
            }
            _ => {
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                done.push(format!("{name}: discarded an unfinished run"));
            }
        }
    }
    Ok(done)
}

/// The date of a `date=YYYY-MM-DD` folder that holds `path`.
fn date_of(path: &Path) -> Option<NaiveDate> {
    path.ancestors()
        .filter_map(|a| a.file_name()?.to_str()?.strip_prefix("date="))
        .find_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

/// The servers files of the store, with their days.
fn servers_files(store: &Path) -> Result<Vec<(NaiveDate, PathBuf)>> {
    let dir = store.join("servers");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let files = match scan::list_parquet(std::slice::from_ref(&dir)) {
        Ok(f) => f,
        Err(Error::Input { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(files.into_iter().filter_map(|f| date_of(&f).map(|d| (d, f))).collect())
}

/// The hosts with a threat finding on a day of the store before `date`.
fn threat_hosts_before(store: &Path, date: NaiveDate) -> Result<AHashSet<IpAddr>> {
    let mut hosts = AHashSet::new();
    let dir = store.join("findings");
    if !dir.exists() {
        return Ok(hosts);
    }
    for f in scan::list_parquet(std::slice::from_ref(&dir))? {
        if date_of(&f).is_none_or(|d| d >= date) {
            continue;
        }
        for batch in scan::read_all(&f)? {
            let bad = |what: &str| Error::input(f.display().to_string(), format!("{what}: not a findings report"));
            let host = batch
                .column_by_name("host")
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| bad("no text column 'host'"))?;
            let tag = batch
                .column_by_name("tag")
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| bad("no text column 'tag'"))?;
            for (h, t) in host.iter().zip(tag.iter()) {
                let (Some(h), Some(t)) = (h, t) else { continue };
                if findings::Tag::parse(t).is_some_and(|t| t.is_threat()) {
                    let ip = h.parse().map_err(|_| bad(&format!("'{h}' is not an address")))?;
                    hosts.insert(ip);
                }
            }
        }
    }
    Ok(hosts)
}

/// One inventory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryEntry {
    pub server: IpAddr,
    pub port: u16,
    pub proto: u8,
    pub service: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub days_seen: u64,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

/// Every server of the store's servers files, by key, in key order.
pub fn inventory(store: &Path) -> Result<Vec<InventoryEntry>> {
    let mut inv: BTreeMap<(IpAddr, u16, u8), InventoryEntry> = BTreeMap::new();
    for (day, f) in servers_files(store)? {
        for batch in scan::read_all(&f)? {
            let keys = baseline::batch_keys(&batch, &f)?;
            let service = batch.column_by_name("service").and_then(|c| c.as_string_opt::<i32>().cloned());
            let times = |n: &str| {
                batch.column_by_name(n).and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>().cloned())
            };
            let (first, last) = (times("first_seen"), times("last_seen"));
            let conf = batch.column_by_name("confidence").and_then(|c| c.as_string_opt::<i32>().cloned());
            for (i, key) in keys.into_iter().enumerate() {
                if conf.as_ref().is_some_and(|c| c.is_valid(i) && c.value(i) == "ambiguous") {
                    continue;
                }
                let svc = service.as_ref().map_or(String::new(), |s| s.value(i).to_string());
                let t = |a: &Option<arrow_array::TimestampMicrosecondArray>| {
                    a.as_ref().and_then(|a| if a.is_valid(i) { Some(a.value(i)) } else { None })
                };
                let (fs, ls) = (t(&first), t(&last));
                let e = inv.entry(key).or_insert_with(|| InventoryEntry {
                    server: key.0,
                    port: key.1,
                    proto: key.2,
                    service: svc.clone(),
                    first_day: day,
                    last_day: day,
                    days_seen: 0,
                    first_seen: fs,
                    last_seen: ls,
                });
                if day >= e.last_day {
                    e.service = svc;
                }
                e.first_day = e.first_day.min(day);
                e.last_day = e.last_day.max(day);
                // Files are listed in day order, one per day: each file adds one day.
                e.days_seen += 1;
                e.first_seen = match (e.first_seen, fs) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                e.last_seen = match (e.last_seen, ls) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }
    Ok(inv.into_values().collect())
}

/// The Arrow schema of `inventory.parquet`.
pub fn inventory_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("server", DataType::Utf8, false),
        Field::new("port", DataType::UInt16, false),
        Field::new("proto", DataType::UInt8, false),
        Field::new("service", DataType::Utf8, false),
        Field::new("first_day", DataType::Date32, false),
        Field::new("last_day", DataType::Date32, false),
        Field::new("days_seen", DataType::Int64, false),
        Field::new("first_seen", timestamp_type(), true),
        Field::new("last_seen", timestamp_type(), true),
    ]))
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// Writes the inventory atomically.
pub fn write_inventory(path: &Path, entries: &[InventoryEntry]) -> Result<()> {
    let mut server = StringBuilder::new();
    let mut port = UInt16Builder::new();
    let mut proto = UInt8Builder::new();
    let mut service = StringBuilder::new();
    let (mut fd, mut ld) = (Date32Builder::new(), Date32Builder::new());
    let mut days = Int64Builder::new();
    let mut fs = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut ls = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for e in entries {
        server.append_value(e.server.to_string());
        port.append_value(e.port);
        proto.append_value(e.proto);
        service.append_value(&e.service);
        fd.append_value(days_since_epoch(e.first_day));
        ld.append_value(days_since_epoch(e.last_day));
        days.append_value(e.days_seen as i64);
        fs.append_option(e.first_seen);
        ls.append_option(e.last_seen);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(server.finish()),
        Arc::new(port.finish()),
        Arc::new(proto.finish()),
        Arc::new(service.finish()),
        Arc::new(fd.finish()),
        Arc::new(ld.finish()),
        Arc::new(days.finish()),
        Arc::new(fs.finish()),
        Arc::new(ls.finish()),
    ];
    write_parquet_batch(path, &RecordBatch::try_new(inventory_schema(), cols)?)
}

/// The crash-test hook: ends the process right after `stage`, as a kill would (no clean-up).
fn fail_point(opts: &DailyOptions, stage: &str) -> Result<()> {
    if opts.fail_after.as_deref() == Some(stage) {
        eprintln!("flowlens daily: stopping after the {stage} stage (FLOWLENS_DAILY_FAIL_AFTER)");
        std::process::exit(2);
    }
    Ok(())
}

/// Runs the day: convert, ports, servers, commit, inventory. `progress` gets each stage's
/// summary as it finishes.
pub fn run(opts: &DailyOptions, progress: &mut dyn FnMut(&StageSummary)) -> Result<DailySummary> {
    let _lock = StoreLock::acquire(&opts.store)?;
    let recovered = recover(&opts.store)?;
    if !recovered.is_empty() {
        rebuild_inventory(&opts.store)?;
    }
    let staging = opts.store.join(".staging").join(partition(opts.date));
    let result = run_day(opts, &staging, recovered, progress);
    // An ordinary failure (bad input, full disk) cleans up after itself; a crash leaves the
    // folder for the next run, which discards it (or finishes it when it was committed).
    if result.is_err() && !staging.join(COMMIT).exists() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn run_day(
    opts: &DailyOptions,
    staging: &Path,
    recovered: Vec<String>,
    progress: &mut dyn FnMut(&StageSummary),
) -> Result<DailySummary> {
    let staging = staging.to_path_buf();
    // Ctrl-C or SIGTERM before the commit marker removes the unfinished outputs (as an error
    // does); after it, the next run finishes the commit (see the module doc).
    let uncommitted = crate::interrupt::temp_dir(staging.clone());
    let stage = DayPaths::new(&staging, opts.date);
    let mut stages = Vec::new();
    let mut finish = |s: StageSummary, stages: &mut Vec<StageSummary>| {
        progress(&s);
        stages.push(s);
    };

    // 1. convert the archive into the day's flows file.
    let t = Instant::now();
    mkparent(&stage.flows)?;
    let mut conv = ConvertOptions::new(opts.inputs.clone(), stage.flows.clone());
    conv.read = opts.read.clone();
    if opts.rejects {
        conv.rejects = Some(stage.rejects.clone());
    }
    if let Some(n) = opts.threads {
        conv.threads = n.max(1);
    }
    conv.quiet = opts.quiet;
    let c = convert::convert(&conv)?;
    finish(
        StageSummary {
            stage: "convert",
            seconds: t.elapsed().as_secs_f64(),
            detail: format!(
                "{} lines read, {} rejected, {} rows ({})",
                c.lines,
                c.rejected,
                c.rows,
                c.formats.join(", ")
            ),
            rows: Some(c.rows),
        },
        &mut stages,
    );
    fail_point(opts, "convert")?;
    let days = DayCheck::count(&stage.flows, opts.date)?;
    if !days.fits() && !opts.allow_other_days {
        return Err(Error::Usage(days.refusal(opts.date)));
    }
    let day_files = vec![stage.flows.clone()];

    // 2. one read of the day for every report: ports, servers and findings aggregate side by
    // side, then each is decided (the findings' P2P context applied to the servers).
    let t = Instant::now();
    let mut sopts = opts.servers.clone();
    sopts.local = opts.local.clone();
    sopts.ambiguous = false;
    sopts.memory = Memory { quiet: opts.quiet || opts.memory.quiet, ..opts.memory.clone() };
    let fopts = findings::ReportOptions {
        rules: opts.findings.clone(),
        local: opts.local.clone(),
        select: sopts.select.clone(),
        services: opts.servers.services.clone(),
        servers: sopts.clone(),
        hosts: Default::default(),
    };
    let day = crate::with_threads(opts.threads, || findings::build_day(&day_files, &fopts, &opts.ports, None))?;
    let stats = &day.ports.stats;
    let (spills, spilled) = (
        stats.spills + day.servers.stats.spills + day.findings.stats.spills,
        stats.spilled_bytes + day.servers.stats.spilled_bytes + day.findings.stats.spilled_bytes,
    );
    finish(
        StageSummary {
            stage: "scan",
            seconds: t.elapsed().as_secs_f64(),
            detail: format!(
                "{} rows read once for ports, servers and findings{}{}",
                stats.rows,
                crate::aggregate::no_address_note(stats.no_address),
                match spills {
                    0 => String::new(),
                    n => format!("; {n} spill run(s), {} MiB", spilled >> 20),
                }
            ),
            rows: None,
        },
        &mut stages,
    );
    let findings::DayReports { ports: report, servers: mut rep, findings: found } = day;

    // 3. the port report.
    let t = Instant::now();
    let addrs: Vec<IpAddr> = report.hosts.iter().map(|h| h.addr).collect();
    let (names, _) = ports::names::host_names(&addrs, &NameOptions::default())?;
    mkparent(&stage.ports_parquet)?;
    let svc = &opts.servers.services;
    ports::format::write_parquet(&stage.ports_parquet, &report.hosts, &names, svc, None)?;
    let mut out = TextOut::create(Some(&stage.ports_csv))?;
    ports::format::write_csv(&mut out, &report.hosts, &names, svc, None)?;
    out.finish()?;
    finish(
        StageSummary {
            stage: "ports",
            seconds: t.elapsed().as_secs_f64(),
            detail: format!(
                "{} hosts, {} rows",
                report.hosts.len(),
                report.hosts.iter().map(|h| h.rows.len()).sum::<usize>()
            ),
            rows: None,
        },
        &mut stages,
    );
    fail_point(opts, "ports")?;

    // 4. servers, new against every other day of the store.
    let t = Instant::now();
    // Known: a server of any other day of the store (so that re-running a day, or running an
    // earlier day after later ones, never calls a server the store already knows new).
    let mut known = Baseline::default();
    for e in inventory(&opts.store)?.into_iter().filter(|e| e.first_day != opts.date || e.last_day != opts.date) {
        known.insert((e.server, e.port, e.proto));
    }
    let new = known.mark(&mut rep.servers);
    mkparent(&stage.servers_parquet)?;
    servers::format::write_parquet(&stage.servers_parquet, &rep.servers)?;
    servers::format::write(&rep.servers, servers::ServersFormat::Csv, Some(&stage.servers_csv))?;
    mkparent(&stage.alerts)?;
    baseline::write_alerts(&stage.alerts, &rep.servers)?;
    finish(
        StageSummary {
            stage: "servers",
            seconds: t.elapsed().as_secs_f64(),
            detail: format!("{} servers, {} new", rep.servers.len(), new),
            rows: None,
        },
        &mut stages,
    );
    fail_point(opts, "servers")?;

    // 5. findings; a host's threat rows are alerts on its first day with a threat tag.
    let t = Instant::now();
    mkparent(&stage.findings_parquet)?;
    findings::format::write(&found.findings, FindingsFormat::Parquet, Some(&stage.findings_parquet))?;
    findings::format::write(&found.findings, FindingsFormat::Csv, Some(&stage.findings_csv))?;
    let earlier = threat_hosts_before(&opts.store, opts.date)?;
    let alerts: Vec<findings::Finding> =
        found.findings.iter().filter(|f| f.tag.is_threat() && !earlier.contains(&f.host)).cloned().collect();
    let mut new_hosts: Vec<IpAddr> = alerts.iter().map(|f| f.host).collect();
    new_hosts.dedup();
    let mut out = TextOut::create(Some(&stage.findings_alerts))?;
    for f in &alerts {
        let line = findings::format::json_row(f)? + "\n";
        out.write_all(line.as_bytes()).map_err(|e| Error::io(&stage.findings_alerts, e))?;
    }
    out.finish()?;
    let counts = found.counts();
    finish(
        StageSummary {
            stage: "findings",
            seconds: t.elapsed().as_secs_f64(),
            detail: format!(
                "{} rows ({}), {} host(s) with a first threat",
                found.findings.len(),
                counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
                new_hosts.len()
            ),
            rows: None,
        },
        &mut stages,
    );
    fail_point(opts, "findings")?;

    // 6. the day's page, from the staged reports (the rows of the CSVs, read back) and the
    // day's flows; the other days come from the store.
    let t = Instant::now();
    let mut ropts = crate::report::ReportOptions::new(opts.store.clone(), opts.date);
    ropts.local = opts.local.clone();
    ropts.services = opts.servers.services.clone();
    ropts.threads = opts.threads;
    let page = crate::report::build_at(&ropts, &staging)?;
    let file = AtomicFile::create(&stage.report)?;
    file.file().and_then(|mut f| f.write_all(page.as_bytes())).map_err(|e| Error::io(&stage.report, e))?;
    file.commit()?;
    finish(
        StageSummary {
            stage: "report",
            seconds: t.elapsed().as_secs_f64(),
            detail: format!("{} KiB", page.len().div_ceil(1024)),
            rows: None,
        },
        &mut stages,
    );
    fail_point(opts, "report")?;

    // 7. commit: the marker makes the run final, then the files move into place.
    let t = Instant::now();
    drop(uncommitted);
    let marker = AtomicFile::create(&staging.join(COMMIT))?;
    marker.file().and_then(|mut f| f.write_all(b"ok\n")).map_err(|e| Error::io(&staging, e))?;
    marker.commit()?;
    fail_point(opts, "commit")?;
    let inv = roll_forward(&opts.store, &staging, opts.date)?;
    let final_paths = DayPaths::new(&opts.store, opts.date);
    finish(
        StageSummary {
            stage: "commit",
            seconds: t.elapsed().as_secs_f64(),
            detail: format!("inventory: {inv} servers"),
            rows: None,
        },
        &mut stages,
    );
    Ok(DailySummary {
        store: opts.store.clone(),
        date: opts.date.format("%Y-%m-%d").to_string(),
        rows: c.rows,
        rejected: c.rejected,
        hosts: report.hosts.len(),
        servers: rep.servers.len(),
        new_servers: new,
        inventory_servers: inv,
        alerts: final_paths.alerts,
        findings: counts,
        new_threat_hosts: new_hosts.len(),
        findings_alerts: final_paths.findings_alerts,
        report: final_paths.report,
        recovered,
        stages,
    })
}

/// Microseconds in an hour and a day.
const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;

/// How far before and after day D (UTC) a row may start and still belong to D's archive: any
/// time zone's local day D lies within UTC D−14 h .. D+1+12 h (UTC+14 to UTC−12), and two hours
/// more on each side take flows that were long under way when the archive's first file began.
pub const DAY_MARGIN_HOURS: i64 = 16;
/// The share of rows that may start outside D ± [`DAY_MARGIN_HOURS`] (stale clocks, a few
/// flows of a broken exporter) before the archive is refused as another day's.
pub const MAX_OUTSIDE_SHARE: f64 = 0.01;
/// The least share of rows that must start on D itself (UTC): even a UTC+14 or UTC−12 local
/// day has 10 or 12 of its 24 hours on D.
pub const MIN_ON_DAY_SHARE: f64 = 0.25;

/// When the day's rows start, by UTC day.
#[derive(Debug, Clone, Default)]
pub struct DayCheck {
    /// Rows with a start time.
    pub timed: u64,
    /// Rows starting on D (UTC).
    pub on_day: u64,
    /// Rows starting outside D ± [`DAY_MARGIN_HOURS`].
    pub outside: u64,
    /// Timed rows per UTC day (days since the epoch).
    pub per_day: BTreeMap<i64, u64>,
}

impl DayCheck {
    /// Counts the start times of `flows` (one projected column).
    pub fn count(flows: &Path, date: NaiveDate) -> Result<Self> {
        let d0 = days_since_epoch(date) as i64 * DAY_US;
        let (lo, hi) = (d0 - DAY_MARGIN_HOURS * HOUR_US, d0 + DAY_US + DAY_MARGIN_HOURS * HOUR_US);
        let mut c = DayCheck::default();
        for batch in scan::read_columns(flows, &[crate::schema::STIME], 64 * 1024)? {
            let batch = batch?;
            let Some(col) = batch.column(0).as_primitive_opt::<TimestampMicrosecondType>() else { continue };
            let mut last_day = (i64::MIN, 0u64);
            for t in col.iter().flatten() {
                c.timed += 1;
                c.outside += u64::from(t < lo || t >= hi);
                let day = t.div_euclid(DAY_US);
                // Rows come mostly in time order: count runs of one day before touching the map.
                if day != last_day.0 {
                    if last_day.1 > 0 {
                        *c.per_day.entry(last_day.0).or_default() += last_day.1;
                    }
                    last_day = (day, 0);
                }
                last_day.1 += 1;
            }
            if last_day.1 > 0 {
                *c.per_day.entry(last_day.0).or_default() += last_day.1;
            }
        }
        c.on_day = c.per_day.get(&d0.div_euclid(DAY_US)).copied().unwrap_or(0);
        Ok(c)
    }

    /// Whether the rows are D's (an empty day, or one without start times, is).
    pub fn fits(&self) -> bool {
        if self.timed == 0 {
            return true;
        }
        let n = self.timed as f64;
        self.outside as f64 <= MAX_OUTSIDE_SHARE * n && self.on_day as f64 >= MIN_ON_DAY_SHARE * n
    }

    /// The error for an archive that is not D's: the days its rows start on, largest first.
    pub fn refusal(&self, date: NaiveDate) -> String {
        let mut days: Vec<(i64, u64)> = self.per_day.iter().map(|(&d, &n)| (d, n)).collect();
        days.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        let mut list: Vec<String> = days
            .iter()
            .take(5)
            .map(|&(d, n)| match epoch.checked_add_signed(chrono::TimeDelta::days(d)) {
                Some(day) => format!("{day}: {n}"),
                None => format!("day {d} after 1970-01-01: {n}"),
            })
            .collect();
        if days.len() > 5 {
            list.push(format!("and {} more days", days.len() - 5));
        }
        format!(
            "the archive does not look like {date}'s: {} of its {} rows start on {date} (UTC) and {} start more than \
             {DAY_MARGIN_HOURS} hours outside it; rows per day: {}. Check --date (nothing was written), or pass \
             --allow-other-days to file these rows under {date} anyway",
            self.on_day,
            self.timed,
            self.outside,
            list.join(", ")
        )
    }
}

/// Rebuilds `inventory.parquet` from the servers files; returns how many servers it holds.
fn rebuild_inventory(store: &Path) -> Result<usize> {
    let inv = inventory(store)?;
    write_inventory(&store.join("inventory.parquet"), &inv)?;
    Ok(inv.len())
}
