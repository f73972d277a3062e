//! End-to-end tests of `flowlens daily`: new/known servers across days, the inventory, exit
//! statuses, idempotence, out-of-order days, interrupted and killed runs, and the store lock.
//!
//! The days are the sample archive (`data/sample/2026-11-2{0,1}.rw.gz`, `--local 10.0.0.0/16`:
//! the same 25 local servers both days) plus, on day 2, a small rwcut file with one new server
//! (10.0.4.20 answering ssh to two clients).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int64Type, UInt16Type, UInt8Type};
use arrow_array::RecordBatch;
use assert_cmd::Command;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use predicates::prelude::*;
use tempfile::TempDir;

const D1: &str = "2026-11-20";
const D2: &str = "2026-11-21";
const LOCAL: &str = "10.0.0.0/16";

/// Day 2's extra flows: a new ssh server, 10.0.4.20:22, answering two clients on ephemeral
/// ports (rwcut layout of the sample, SYN/ACK flags, several packets each way).
const EXTRA: &str = "\
            sIP|            dIP|sPort|dPort|pro|   packets|     bytes|   flags|                  sTime| duration|                  eTime|sen|
      10.0.1.15|      10.0.4.20|50001|   22|  6|        12|      1840|FSPA    |2026/11/21T09:00:00.100|    4.000|2026/11/21T09:00:04.100| S1|
      10.0.4.20|      10.0.1.15|   22|50001|  6|        10|      2960|FSPA    |2026/11/21T09:00:00.101|    4.000|2026/11/21T09:00:04.101| S1|
      10.0.1.17|      10.0.4.20|50002|   22|  6|         8|      1200|FSPA    |2026/11/21T13:30:00.000|    2.500|2026/11/21T13:30:02.500| S1|
      10.0.4.20|      10.0.1.17|   22|50002|  6|         7|      2100|FSPA    |2026/11/21T13:30:00.001|    2.500|2026/11/21T13:30:02.501| S1|
";

/// The new server of day 2.
const NEW: (&str, u16, u8) = ("10.0.4.20", 22, 6);

type Key = (String, u16, u8);

fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("binary built")
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn sample(date: &str) -> PathBuf {
    repo(&format!("data/sample/{date}.rw.gz"))
}

/// A temporary folder with the extra day-2 file and an (empty) store path.
struct Fixture {
    dir: TempDir,
    store: PathBuf,
    extra: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra-2026-11-21.rw");
        std::fs::write(&extra, EXTRA).unwrap();
        let store = dir.path().join("store");
        Fixture { dir, store, extra }
    }

    /// `flowlens daily` on this store for `date` (inputs to be added).
    fn daily(&self, date: &str) -> Command {
        daily(&self.store, date)
    }

    fn day1(&self) -> Command {
        let mut c = self.daily(D1);
        c.arg(sample(D1));
        c
    }

    /// Day 2 with the extra file (`extra`) or the sample alone.
    fn day2(&self, extra: bool) -> Command {
        let mut c = self.daily(D2);
        c.arg(sample(D2));
        if extra {
            c.arg(&self.extra);
        }
        c
    }
}

fn daily(store: &Path, date: &str) -> Command {
    let mut c = flowlens();
    c.arg("daily").arg("--store").arg(store).args(["--date", date, "--local", LOCAL]);
    c
}

fn day_dir(store: &Path, kind: &str, date: &str) -> PathBuf {
    store.join(kind).join(format!("date={date}"))
}

fn servers_csv(store: &Path, date: &str) -> PathBuf {
    day_dir(store, "csv", date).join("servers.csv")
}

fn alerts_file(store: &Path, date: &str) -> PathBuf {
    day_dir(store, "alerts", date).join("new-servers.ndjson")
}

/// The day's ten outputs (rejects aside), by path relative to the store, with their bytes.
fn day_outputs(store: &Path, date: &str) -> BTreeMap<String, Vec<u8>> {
    let files = [
        ("flows", "part-00000.parquet"),
        ("ports", "ports.parquet"),
        ("csv", "ports.csv"),
        ("servers", "servers.parquet"),
        ("csv", "servers.csv"),
        ("alerts", "new-servers.ndjson"),
        ("findings", "findings.parquet"),
        ("csv", "findings.csv"),
        ("alerts", "findings.ndjson"),
        ("report", "report.html"),
    ];
    files
        .iter()
        .map(|(kind, name)| {
            let p = day_dir(store, kind, date).join(name);
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (format!("{kind}/date={date}/{name}"), bytes)
        })
        .collect()
}

/// Everything a reader of the store sees: every folder (`None`) and file (its bytes) outside
/// `.staging`, except the lock file.
fn visible(store: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rel == ".staging" || rel == ".lock" {
                continue;
            }
            if p.is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(root, &p, out);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(store, store, &mut out);
    out
}

fn names(files: &BTreeMap<String, Option<Vec<u8>>>) -> Vec<&str> {
    files.keys().map(String::as_str).collect()
}

/// A minimal RFC 4180 reader: a header line, then one map per record.
fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut records: Vec<Vec<String>> = Vec::new();
    let (mut record, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    let header = records.remove(0);
    records
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{}: record {r:?}", path.display());
            header.iter().cloned().zip(r).collect()
        })
        .collect()
}

fn csv_key(row: &BTreeMap<String, String>) -> Key {
    (row["server"].clone(), row["port"].parse().unwrap(), row["proto"].parse().unwrap())
}

/// The day's servers.csv as key → status.
fn statuses(store: &Path, date: &str) -> BTreeMap<Key, String> {
    let rows = read_csv(&servers_csv(store, date));
    let map: BTreeMap<Key, String> = rows.iter().map(|r| (csv_key(r), r["status"].clone())).collect();
    assert_eq!(map.len(), rows.len(), "one row per (server, port, proto)");
    map
}

/// The day's alerts, one JSON object per line.
fn alerts(store: &Path, date: &str) -> Vec<serde_json::Value> {
    let path = alerts_file(store, date);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

fn alert_keys(store: &Path, date: &str) -> BTreeSet<Key> {
    alerts(store, date)
        .iter()
        .map(|a| {
            (
                a["server"].as_str().unwrap().to_string(),
                a["port"].as_u64().unwrap() as u16,
                a["proto"].as_u64().unwrap() as u8,
            )
        })
        .collect()
}

/// Every batch of a Parquet file, read with the parquet crate alone.
fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{}: not Parquet: {e}", path.display()))
        .build()
        .unwrap();
    reader.map(|b| b.unwrap_or_else(|e| panic!("{}: {e}", path.display()))).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct InventoryRow {
    service: String,
    first_day: NaiveDate,
    last_day: NaiveDate,
    days_seen: i64,
}

fn inventory(store: &Path) -> BTreeMap<Key, InventoryRow> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let day = |d: i32| epoch + chrono::Duration::days(d as i64);
    let mut out = BTreeMap::new();
    for b in read_parquet(&store.join("inventory.parquet")) {
        let col = |n: &str| b.column_by_name(n).unwrap_or_else(|| panic!("inventory has no column {n}")).clone();
        let (server, service) = (col("server"), col("service"));
        let (server, service) = (server.as_string::<i32>(), service.as_string::<i32>());
        let (port, proto) = (col("port"), col("proto"));
        let (port, proto) = (port.as_primitive::<UInt16Type>(), proto.as_primitive::<UInt8Type>());
        let (first, last, days) = (col("first_day"), col("last_day"), col("days_seen"));
        let (first, last) = (first.as_primitive::<Date32Type>(), last.as_primitive::<Date32Type>());
        let days = days.as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let key = (server.value(i).to_string(), port.value(i), proto.value(i));
            let row = InventoryRow {
                service: service.value(i).to_string(),
                first_day: day(first.value(i)),
                last_day: day(last.value(i)),
                days_seen: days.value(i),
            };
            assert!(out.insert(key.clone(), row).is_none(), "inventory lists {key:?} twice");
        }
    }
    out
}

fn date(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()
}

fn new_key() -> Key {
    (NEW.0.to_string(), NEW.1, NEW.2)
}

/// A store with day 1, then day 2 + the extra file, run normally: what every recovery must match.
fn reference() -> Fixture {
    let f = Fixture::new();
    f.day1().assert().success();
    f.day2(true).assert().success();
    f
}

#[test]
fn two_days_mark_known_and_new_servers_and_count_days_in_the_inventory() {
    let f = Fixture::new();
    f.day1().assert().success();
    let day1 = statuses(&f.store, D1);
    assert!(day1.len() >= 20, "the sample's local servers: {day1:?}");
    // First day: everything is new, and every server has an alert.
    assert!(day1.values().all(|s| s == "new"), "{day1:?}");
    assert_eq!(alert_keys(&f.store, D1), day1.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(alerts(&f.store, D1).len(), day1.len());

    f.day2(true).assert().success();
    let day2 = statuses(&f.store, D2);
    assert!(day2.contains_key(&new_key()), "10.0.4.20:22/tcp is a server on day 2: {day2:?}");
    let mut shared = 0;
    for (key, status) in &day2 {
        if day1.contains_key(key) {
            assert_eq!(status, "known", "{key:?} was seen on day 1");
            shared += 1;
        } else {
            assert_eq!(key, &new_key(), "only 10.0.4.20 is new on day 2");
            assert_eq!(status, "new");
        }
    }
    assert!(shared >= 20, "most servers of day 1 are back on day 2 ({shared})");
    let a = alerts(&f.store, D2);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(
        (a[0]["server"].as_str(), a[0]["port"].as_u64(), a[0]["proto"].as_u64()),
        (Some(NEW.0), Some(22), Some(6))
    );
    assert_eq!(a[0]["status"], "new");
    assert_eq!(a[0]["clients"], 2);
    assert_eq!(std::fs::read_to_string(alerts_file(&f.store, D2)).unwrap().lines().count(), 1);

    let inv = inventory(&f.store);
    let all: BTreeSet<Key> = day1.keys().chain(day2.keys()).cloned().collect();
    assert_eq!(inv.keys().cloned().collect::<BTreeSet<_>>(), all);
    for (key, row) in &inv {
        let (in1, in2) = (day1.contains_key(key), day2.contains_key(key));
        assert_eq!(row.days_seen, in1 as i64 + in2 as i64, "{key:?}: {row:?}");
        assert_eq!(row.first_day, date(if in1 { D1 } else { D2 }), "{key:?}");
        assert_eq!(row.last_day, date(if in2 { D2 } else { D1 }), "{key:?}");
    }
    let ssh = &inv[&new_key()];
    assert_eq!((ssh.days_seen, ssh.first_day, ssh.service.as_str()), (1, date(D2), "ssh"));
    assert_eq!(inv[&("10.0.1.11".to_string(), 22, 6)].days_seen, 2);
}

#[test]
fn fail_on_new_exits_1_with_new_servers_0_without_and_2_on_error() {
    let f = Fixture::new();
    // First day: everything is new.
    f.day1().arg("--fail-on-new").assert().code(1);
    f.day2(true).arg("--fail-on-new").assert().code(1);
    // Re-running day 2 without the extra file replaces the day: no new server left, but the
    // sample's outside scanners are other addresses every day: first-time threats, status 1.
    f.day2(false).arg("--fail-on-new").assert().code(1);
    assert_eq!(std::fs::read(alerts_file(&f.store, D2)).unwrap(), b"", "an empty alerts file when nothing is new");
    assert!(!findings_alerts(&f.store, D2).is_empty());
    // A day with neither: status 0 and empty alerts files.
    let quiet = f.dir.path().join("quiet.rw");
    std::fs::write(&quiet, EXTRA.lines().next().unwrap().to_string() + "\n").unwrap();
    f.daily("2026-11-22").arg(&quiet).arg("--fail-on-new").assert().code(0);
    assert!(findings_alerts(&f.store, "2026-11-22").is_empty());
    assert!(!statuses(&f.store, D2).contains_key(&new_key()));
    assert!(!inventory(&f.store).contains_key(&new_key()), "the replaced day's server left the inventory");
    // Without --fail-on-new a new server is not a failure.
    f.day2(true).assert().code(0);

    // A missing input: status 2, a message naming it, and the store as it was.
    let before = visible(&f.store);
    let missing = f.dir.path().join("no-such-archive.rw.gz");
    f.daily("2026-11-22")
        .arg(&missing)
        .arg("--fail-on-new")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(missing.display().to_string()).and(predicate::str::contains("No such file")));
    assert_eq!(names(&visible(&f.store)), names(&before));
    assert!(visible(&f.store) == before, "a failed run changed the store");
    // A bad date is an error too.
    f.daily("2026-13-40").arg(sample(D1)).assert().code(2).stderr(predicate::str::contains("YYYY-MM-DD"));
}

#[test]
fn running_a_day_twice_leaves_the_same_store() {
    let f = reference();
    let once = visible(&f.store);
    let inv = inventory(&f.store);
    f.day2(true).assert().success();
    let twice = visible(&f.store);
    assert_eq!(names(&twice), names(&once));
    // CSV, NDJSON and Parquet alike: the Parquet writers embed nothing time-dependent (the
    // created_by string is the version), so every file is byte-identical.
    for (name, bytes) in &once {
        assert!(&twice[name] == bytes, "{name} changed when day 2 ran again");
    }
    assert_eq!(inventory(&f.store), inv);
    // The same holds for the first day run again on top of both.
    let again = Fixture::new();
    again.day1().assert().success();
    again.day1().assert().success();
    again.day2(true).assert().success();
    assert_eq!(day_outputs(&again.store, D2), day_outputs(&f.store, D2));
    assert_eq!(
        std::fs::read(again.store.join("inventory.parquet")).unwrap(),
        std::fs::read(f.store.join("inventory.parquet")).unwrap()
    );
}

#[test]
fn an_earlier_day_run_after_a_later_one_does_not_call_known_servers_new() {
    let f = Fixture::new();
    f.day2(true).assert().success();
    let day2 = statuses(&f.store, D2);
    assert!(day2.values().all(|s| s == "new"), "the store's first day: {day2:?}");
    // Status 1 for day 1's outside scanners (no day before it has them), not for its servers.
    f.day1().arg("--fail-on-new").assert().code(1);
    assert!(!findings_alerts(&f.store, D1).is_empty());
    let day1 = statuses(&f.store, D1);
    let alerted = alert_keys(&f.store, D1);
    for key in day2.keys() {
        assert!(!alerted.contains(key), "{key:?} is in day 2 but alerted on day 1");
    }
    for (key, status) in &day1 {
        assert_eq!(status, if day2.contains_key(key) { "known" } else { "new" }, "{key:?}");
    }
    assert!(alerted.is_empty(), "the sample's day-1 servers are all on day 2: {alerted:?}");
    // The inventory is the same as when the days ran in order.
    assert_eq!(inventory(&f.store), inventory(&reference().store));
    let ssh = &inventory(&f.store)[&new_key()];
    assert_eq!((ssh.first_day, ssh.last_day, ssh.days_seen), (date(D2), date(D2), 1));
    let telnet = &inventory(&f.store)[&("10.0.1.12".to_string(), 23, 6)];
    assert_eq!((telnet.first_day, telnet.last_day, telnet.days_seen), (date(D1), date(D2), 2));
}

/// Day 1 done, day 2 stopped by the test hook after `stage`: the store must look as before;
/// after `commit` the next run finishes day 2; then a normal day-2 run matches a clean one.
fn interrupted_after(stage: &str) {
    let reference = reference();
    let f = Fixture::new();
    f.day1().assert().success();
    let before = visible(&f.store);
    f.day2(true)
        .env("FLOWLENS_DAILY_FAIL_AFTER", stage)
        .assert()
        .failure()
        .code(2)
        .stderr(predicate::str::contains(format!("after the {stage} stage")));
    let after = visible(&f.store);
    assert_eq!(names(&after), names(&before), "visible files after a run stopped after {stage}");
    assert!(after == before, "a run stopped after {stage} changed a visible file");
    let staged = f.store.join(".staging").join(format!("date={D2}"));
    assert!(staged.is_dir(), "the stopped run's staging folder is kept for the next run");
    assert_eq!(staged.join("COMMIT").exists(), stage == "commit");

    if stage == "commit" {
        // The marker was written: the next run, of any day, rolls day 2 forward.
        f.day1()
            .assert()
            .success()
            .stderr(predicate::str::contains("recovered").and(predicate::str::contains("finished")));
        assert_eq!(day_outputs(&f.store, D2), day_outputs(&reference.store, D2), "day 2 as the crashed run made it");
        assert_eq!(inventory(&f.store), inventory(&reference.store));
        assert!(!staged.exists());
        f.day2(true).assert().success();
    } else {
        // No marker: the next run throws the staged files away.
        f.day2(true)
            .assert()
            .success()
            .stderr(predicate::str::contains("recovered").and(predicate::str::contains("discarded")));
        assert_eq!(day_outputs(&f.store, D1), day_outputs(&reference.store, D1));
    }
    assert_eq!(day_outputs(&f.store, D2), day_outputs(&reference.store, D2));
    assert_eq!(inventory(&f.store), inventory(&reference.store));
    assert_eq!(std::fs::read_dir(f.store.join(".staging")).unwrap().count(), 0, "staging is empty after a good run");
}

#[test]
fn a_run_stopped_after_convert_leaves_the_store_as_before() {
    interrupted_after("convert");
}

#[test]
fn a_run_stopped_after_ports_leaves_the_store_as_before() {
    interrupted_after("ports");
}

#[test]
fn a_run_stopped_after_servers_leaves_the_store_as_before() {
    interrupted_after("servers");
}

#[test]
fn a_run_stopped_after_findings_leaves_the_store_as_before() {
    interrupted_after("findings");
}

#[test]
fn a_run_stopped_after_report_leaves_the_store_as_before() {
    interrupted_after("report");
}

#[test]
fn a_run_stopped_after_commit_is_rolled_forward_by_the_next_run() {
    interrupted_after("commit");
}

/// True when a `.tmp` file lies anywhere under `dir`.
fn has_temporary_file(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let path = e.path();
        path.extension().is_some_and(|x| x == "tmp") || (path.is_dir() && has_temporary_file(&path))
    })
}

/// Files outside `.staging` that a reader could trip on: temporary (hidden) files, and Parquet
/// files that do not open and read to the end.
fn assert_clean(store: &Path) {
    for (name, bytes) in visible(store) {
        let Some(bytes) = bytes else { continue };
        let file = Path::new(&name).file_name().unwrap().to_string_lossy().to_string();
        assert!(!file.starts_with('.'), "a temporary file outside .staging: {name}");
        assert!(!bytes.is_empty() || name.ends_with(".ndjson"), "an empty file: {name}");
        if name.ends_with(".parquet") {
            let rows: usize = read_parquet(&store.join(&name)).iter().map(|b| b.num_rows()).sum();
            assert!(rows > 0, "{name} has no rows");
        }
    }
}

#[test]
fn a_killed_run_leaves_a_usable_store() {
    let reference = reference();
    let f = Fixture::new();
    let big = f.dir.path().join("big.rw");
    flowlens().args(["gen", "--rows", "2000000", "--seed", "5", "-o"]).arg(&big).assert().success();
    f.day1().assert().success();
    let before = visible(&f.store);

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
        .arg("daily")
        .arg("--store")
        .arg(&f.store)
        .args(["--date", D2, "--local", LOCAL, "--quiet"])
        .arg(&big)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while convert writes its temporary file in the staging folder: the file exists
    // only until convert renames it, so the run is then half done whatever the machine's speed.
    let started = std::time::Instant::now();
    while !has_temporary_file(&f.store.join(".staging")) {
        assert!(child.try_wait().unwrap().is_none(), "the big run ended before it was seen converting");
        assert!(started.elapsed() < Duration::from_secs(60), "no temporary file appeared in .staging");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Killed before its commit marker: nothing of day 2 is visible, nothing half-written.
    // (Past the marker, the next run would roll it forward.)
    let committed = f.store.join(".staging").join(format!("date={D2}")).join("COMMIT").exists();
    if !committed {
        let after = visible(&f.store);
        assert_eq!(names(&after), names(&before));
        assert!(after == before, "the killed run changed a visible file");
    }
    assert_clean(&f.store);

    // The lock died with the process; the next run cleans up and succeeds.
    f.day2(true).assert().success().stderr(predicate::str::contains("recovered"));
    assert_clean(&f.store);
    assert_eq!(std::fs::read_dir(f.store.join(".staging")).unwrap().count(), 0);
    assert_eq!(day_outputs(&f.store, D2), day_outputs(&reference.store, D2));
    assert_eq!(inventory(&f.store), inventory(&reference.store));
}

#[test]
fn a_second_run_on_a_locked_store_is_refused() {
    let f = Fixture::new();
    f.day1().assert().success();
    let before = visible(&f.store);
    let lock_path = f.store.join(".lock");
    let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).unwrap();
    lock.lock().unwrap();
    f.day2(true)
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(lock_path.display().to_string()));
    assert!(visible(&f.store) == before, "a refused run changed the store");
    lock.unlock().unwrap();
    drop(lock);
    f.day2(true).assert().success();
}

/// Regression: `--rejects` wrote STORE/flows/date=D/rejects.tsv straight into the store, not under
/// `.staging`, so a run that failed (or was killed) after convert left a date=D folder and a
/// rejects file of a day that was never committed.
#[test]
fn a_stopped_run_with_rejects_leaves_the_store_as_before() {
    let f = Fixture::new();
    f.day1().assert().success();
    let before = visible(&f.store);
    let bad = f.dir.path().join("bad.rw");
    std::fs::write(&bad, format!("{EXTRA}not a flow\n")).unwrap();
    f.daily(D2).arg(sample(D2)).arg(&bad).arg("--rejects").env("FLOWLENS_DAILY_FAIL_AFTER", "convert").assert().code(2);
    assert_eq!(names(&visible(&f.store)), names(&before));
}

/// Regression: the rejects file was not one of the day's outputs, so running a day again (without
/// bad lines, or without `--rejects`) left the earlier run's STORE/flows/date=D/rejects.tsv,
/// listing lines that are no longer part of the day.
#[test]
fn running_a_day_again_replaces_its_rejects_file() {
    let f = Fixture::new();
    let bad = f.dir.path().join("bad.rw");
    std::fs::write(&bad, format!("{EXTRA}not a flow\n")).unwrap();
    let rejects = day_dir(&f.store, "flows", D2).join("rejects.tsv");
    f.daily(D2).arg(&bad).arg("--rejects").assert().success();
    assert!(std::fs::read_to_string(&rejects).unwrap().contains("not a flow"));
    f.daily(D2).arg(&f.extra).assert().success();
    assert!(!rejects.exists(), "a stale rejects file of an earlier run of the day");
}

/// Issue 19: `daily --date 2026-11-21 d20.rw`, every row of the 20th, exited 0 and filed the
/// 20th's flows under the 21st. It is refused with the days the rows fall on, and nothing is
/// written; `--allow-other-days` files them anyway.
#[test]
fn an_archive_of_another_day_is_refused_and_nothing_is_written() {
    let f = Fixture::new();
    f.day2(true).assert().success();
    let before = visible(&f.store);
    let err = daily(&f.store, "2026-11-22").arg(sample(D1)).assert().code(2).get_output().stderr.clone();
    let err = String::from_utf8_lossy(&err);
    assert!(err.contains("does not look like 2026-11-22's"), "{err}");
    assert!(err.contains(&format!("{D1}: ")), "the message names the day the rows start on: {err}");
    assert!(err.contains("--allow-other-days"), "{err}");
    assert_eq!(visible(&f.store), before, "a refused run changed the store");
    assert_eq!(std::fs::read_dir(f.store.join(".staging")).unwrap().count(), 0);

    daily(&f.store, "2026-11-22").arg(sample(D1)).arg("--allow-other-days").assert().success();
    assert!(day_dir(&f.store, "flows", "2026-11-22").join("part-00000.parquet").exists());
}

/// A nightly archive holds flows that started before midnight, and a local day is up to 14 hours
/// off UTC: those are the day's. Only a few rows far outside the day are let through.
#[test]
fn rows_near_the_day_are_accepted_and_a_few_far_ones_tolerated() {
    let f = Fixture::new();
    let row = |ip: &str, t: &str| format!("10.0.9.1|{ip}|40000|80|6|5|500|FSPA|{t}|1.000|S1|\n");
    let title = "sIP|dIP|sPort|dPort|pro|packets|bytes|flags|sTime|duration|sen|\n";
    // 200 rows on the 21st, 50 late on the 20th (as a UTC+14 day starts), 1 from 1970 (a broken
    // exporter's clock): accepted.
    let mut text = title.to_string();
    for i in 0..200 {
        text += &row(&format!("10.0.8.{}", i % 250), &format!("2026/11/21T{:02}:10:00.000", i % 24));
    }
    for i in 0..50 {
        text += &row("10.0.7.1", &format!("2026/11/20T{:02}:30:00.000", 10 + i % 14));
    }
    text += &row("10.0.7.2", "1970/01/01T00:00:00.000");
    let near = f.dir.path().join("near.rw");
    std::fs::write(&near, &text).unwrap();
    daily(&f.store, D2).arg(&near).assert().success();

    // Ten rows from two days before: more than 1% far outside, refused.
    for _ in 0..10 {
        text += &row("10.0.7.3", "2026/11/19T02:00:00.000");
    }
    std::fs::write(&near, &text).unwrap();
    daily(&f.store, D2)
        .arg(&near)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("2026-11-19: 10").and(predicate::str::contains("1970-01-01: 1")));
}

/// Issue 19: inputs with a time of day only (SEI tables, Argus `ra`) failed in daily ("a time
/// without a date: pass --date") and --date could not be given twice; the day is their date.
#[test]
fn time_only_inputs_take_the_day_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    flowlens()
        .args(["daily", "--store"])
        .arg(&store)
        .args(["--date", "2014-06-01"])
        .arg(repo("data/sei/ssh-linux.txt"))
        .assert()
        .success();
    let flows = day_dir(&store, "flows", "2014-06-01").join("part-00000.parquet");
    let batches = read_parquet(&flows);
    let stime =
        batches[0].column_by_name("stime").unwrap().as_primitive::<arrow_array::types::TimestampMicrosecondType>();
    let day = date("2014-06-01").and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros();
    assert!(stime.iter().flatten().all(|t| (day..day + 86_400_000_000).contains(&t)));
}

/// Issue 19: a title line and no records (a quiet sensor's hour) was an error; it is an empty
/// day with empty reports.
#[test]
fn an_archive_without_records_is_an_empty_day() {
    let f = Fixture::new();
    let empty = f.dir.path().join("quiet.rw");
    std::fs::write(&empty, EXTRA.lines().next().unwrap().to_string() + "\n").unwrap();
    let out = daily(&f.store, D2).arg(&empty).arg("--json").assert().success().get_output().stdout.clone();
    let summary: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(summary["rows"], 0);
    assert_eq!(summary["servers"], 0);
    let flows = day_dir(&f.store, "flows", D2).join("part-00000.parquet");
    let schema = flowlens::scan::file_schema(&flows).unwrap();
    for c in flowlens::schema::CORE_COLUMNS {
        assert!(schema.field_with_name(c).is_ok(), "the empty day's flows lack {c}");
    }
    assert_eq!(read_parquet(&flows).iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    let csv = std::fs::read_to_string(servers_csv(&f.store, D2)).unwrap();
    assert_eq!(csv.lines().count(), 1, "a header and no rows: {csv}");
    assert!(std::fs::read_to_string(day_dir(&f.store, "csv", D2).join("ports.csv")).unwrap().lines().count() == 1);
}

/// Sends `signal` to a child once `ready` holds, then checks it died of it (status 128+signal
/// in a shell) and left no temporary file or folder behind.
#[cfg(unix)]
fn interrupt_when(child: &mut std::process::Child, signal: i32, ready: impl Fn() -> bool) {
    use std::os::unix::process::ExitStatusExt;
    let started = std::time::Instant::now();
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was interrupted");
        assert!(started.elapsed() < Duration::from_secs(60), "the run never got going");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: kill only sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(signal), "{status:?}");
}

/// Issue 19: Ctrl-C or SIGTERM during daily's convert left `.staging` to the next run; it is
/// removed at once, as after an error.
#[cfg(unix)]
#[test]
fn an_interrupted_daily_removes_its_staging_folder() {
    use std::io::Write;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let f = Fixture::new();
        f.day1().assert().success();
        let before = visible(&f.store);
        // The archive comes on stdin and is held open, so the run is surely mid-convert.
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
            .arg("daily")
            .arg("--store")
            .arg(&f.store)
            .args(["--date", D2, "--local", LOCAL, "--quiet", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(EXTRA.repeat(2000).as_bytes()).unwrap();
        interrupt_when(&mut child, signal, || has_temporary_file(&f.store.join(".staging")));
        drop(stdin);
        assert!(!f.store.join(".staging").join(format!("date={D2}")).exists(), "signal {signal}");
        assert_eq!(visible(&f.store), before);
    }
}

/// `flowlens gen --plant` days: the seed's Section 2 hosts and two scanners, the same addresses
/// every day; returns the archive and the planted truth (`host,role,tags`).
fn planted_day(dir: &Path, date: &str) -> (PathBuf, Vec<(String, String)>) {
    let archive = dir.join(format!("planted-{date}.rw"));
    let truth = dir.join(format!("truth-{date}.csv"));
    flowlens()
        .args(["gen", "--rows", "20000", "--seed", "11", "--plant", "--start", date])
        .arg("--findings-truth")
        .arg(&truth)
        .arg("-o")
        .arg(&archive)
        .assert()
        .success();
    let rows = read_csv(&truth);
    (archive, rows.iter().map(|r| (r["host"].clone(), r["tags"].clone())).collect())
}

/// The tags that alert (docs/findings.md: `scan-target` and `server` say what happens to a host).
const THREATS: [&str; 3] = ["scanner", "p2p", "possible-compromise"];

fn findings_alerts(store: &Path, date: &str) -> BTreeSet<(String, String)> {
    let path = day_dir(store, "alerts", date).join("findings.ndjson");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            (v["host"].as_str().unwrap().to_string(), v["tag"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Issue 15: daily writes the day's findings from its one read, the same rows as `flowlens
/// findings` (and the same port report as `flowlens ports`) on the day's flows; a host's threat
/// rows are alerts on its first day with a threat tag only, and --fail-on-new counts them.
#[test]
fn daily_writes_findings_and_alerts_a_host_on_its_first_threat_day() {
    let f = Fixture::new();
    let (day1, truth) = planted_day(f.dir.path(), D1);
    let (day2, _) = planted_day(f.dir.path(), D2);
    let threats: BTreeSet<String> = truth
        .iter()
        .filter(|(_, tags)| tags.split(';').any(|t| THREATS.contains(&t)))
        .map(|(h, _)| h.clone())
        .collect();
    assert_eq!(threats.len(), 4, "p2p, compromise, two scanners: {truth:?}");

    let out = f.daily(D1).arg(&day1).args(["--json", "--fail-on-new"]).assert().code(1).get_output().stdout.clone();
    let summary: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = read_csv(&day_dir(&f.store, "csv", D1).join("findings.csv"));
    for tag in ["scanner", "scan-target", "p2p", "possible-compromise", "server"] {
        let n = rows.iter().filter(|r| r["tag"] == tag).count();
        assert_eq!(summary["findings"][tag], n, "{tag}: {summary}");
    }
    let alerted1 = findings_alerts(&f.store, D1);
    let alerted_hosts: BTreeSet<String> = alerted1.iter().map(|(h, _)| h.clone()).collect();
    assert!(threats.is_subset(&alerted_hosts), "every planted threat is new on the first day: {alerted1:?}");
    assert!(alerted1.iter().all(|(_, t)| THREATS.contains(&t.as_str())), "only threat tags alert: {alerted1:?}");
    let threat_rows: BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| THREATS.contains(&r["tag"].as_str()))
        .map(|r| (r["host"].clone(), r["tag"].clone()))
        .collect();
    assert_eq!(alerted1, threat_rows, "the first day alerts on every threat row");
    assert_eq!(summary["new_threat_hosts"], alerted_hosts.len());

    // Day 2: the same planted hosts are threats again, and not alerts.
    let out = f.daily(D2).arg(&day2).arg("--json").assert().success().get_output().stdout.clone();
    let summary: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let alerted2 = findings_alerts(&f.store, D2);
    for h in &threats {
        assert!(alerted2.iter().all(|(a, _)| a != h), "{h} was a threat on day 1: {alerted2:?}");
    }
    assert_eq!(summary["new_threat_hosts"], alerted2.iter().map(|(h, _)| h).collect::<BTreeSet<_>>().len());

    // The same rows as the reports' own commands on the day's flows.
    let flows = day_dir(&f.store, "flows", D2);
    let command = |report: &str| {
        flowlens()
            .arg(report)
            .arg(&flows)
            .args(["--local", LOCAL, "--format", "csv", "--quiet"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone()
    };
    let csv = |name: &str| std::fs::read(day_dir(&f.store, "csv", D2).join(name)).unwrap();
    assert!(csv("findings.csv") == command("findings"), "daily's findings.csv differs from flowlens findings");
    assert!(csv("ports.csv") == command("ports"), "daily's ports.csv differs from flowlens ports");
    let servers_rows = |rows: Vec<BTreeMap<String, String>>| -> Vec<Key> { rows.iter().map(csv_key).collect() };
    let own = f.dir.path().join("servers.csv");
    std::fs::write(&own, command("servers")).unwrap();
    assert_eq!(servers_rows(read_csv(&servers_csv(&f.store, D2))), servers_rows(read_csv(&own)));

    // Day 1 run again after day 2: nothing is earlier than day 1, so it alerts as before.
    f.daily(D1).arg(&day1).assert().code(0);
    assert_eq!(findings_alerts(&f.store, D1), alerted1);
}
