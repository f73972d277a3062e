//! Big days (issue 17): the reports within `--memory`, spilling to `--temp-dir`, give the same
//! bytes whatever the budget, and leave no spill file behind.
//!
//! The data: `flowlens gen` flows with a third of the rows moved to IPv6 (`2001:db8::` + the
//! IPv4 address), in two Parquet files, so that the scan has several files and row groups, and
//! the state holds IPv4 and IPv6 hosts alike.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use tempfile::TempDir;

fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("binary built")
}

/// The smallest budget the CLI takes; on the test data every report spills under it.
const TINY: &str = "16M";

struct Data {
    _dir: TempDir,
    dir: PathBuf,
    files: Vec<PathBuf>,
    text: Vec<PathBuf>,
}

/// Moves a third of the rows to IPv6: both addresses get the `2001:db8::` prefix.
fn to_ipv6(csv: &str) -> String {
    let mut out = String::with_capacity(csv.len() * 2);
    for (i, line) in csv.lines().enumerate() {
        if i > 0 && i % 3 == 0 {
            let mut fields: Vec<String> = line.split(',').map(str::to_string).collect();
            for f in fields.iter_mut().skip(2).take(2) {
                *f = format!("2001:db8::{f}");
            }
            out.push_str(&fields.join(","));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut files = Vec::new();
        let mut text = Vec::new();
        for (seed, rows) in [(11, "150000"), (12, "100000")] {
            let out = flowlens()
                .args(["gen", "--format", "csv", "--rows", rows, "--seed"])
                .arg(seed.to_string())
                .output()
                .unwrap();
            assert!(out.status.success());
            let csv = to_ipv6(&String::from_utf8(out.stdout).unwrap());
            assert!(csv.lines().filter(|l| l.contains(",2001:db8::")).count() > 10_000, "IPv6 rows");
            let t = dir.join(format!("g{seed}.csv"));
            std::fs::write(&t, csv).unwrap();
            let pq = dir.join(format!("g{seed}.parquet"));
            flowlens().arg("convert").arg(&t).arg("-o").arg(&pq).arg("-q").assert().success();
            files.push(pq);
            text.push(t);
        }
        Data { _dir: tmp, dir, files, text }
    })
}

/// Runs a report and returns its output file's bytes and its stderr.
fn report(args: &[&str], memory: &str, threads: usize, out: &Path, temp: &Path) -> (Vec<u8>, String) {
    let d = data();
    let o = flowlens()
        .args(args)
        .args(&d.files)
        .args(["--memory", memory, "--threads", &threads.to_string(), "--temp-dir"])
        .arg(temp)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{args:?} --memory {memory}: {stderr}");
    assert_eq!(std::fs::read_dir(temp).unwrap().count(), 0, "spill files left in --temp-dir: {args:?} {memory}");
    (std::fs::read(out).unwrap(), stderr)
}

const REPORTS: [&[&str]; 10] = [
    &["ports", "--format", "csv"],
    &["ports", "--format", "json", "--local", "10.0.0.0/16", "--local", "2001:db8::/96"],
    &["ports", "--format", "parquet"],
    &["ports", "--format", "text", "--top", "3", "--many", "2"],
    &["servers", "--format", "csv", "--ambiguous"],
    &["servers", "--format", "json", "--local", "10.0.0.0/16"],
    &["servers", "--format", "parquet"],
    &["servers", "--format", "text", "--local", "2001:db8::/96", "--local", "10.0.0.0/16"],
    &["findings", "--format", "csv"],
    &["findings", "--format", "json", "--local", "10.0.0.0/16", "--local", "2001:db8::/96"],
];

#[test]
fn a_tiny_budget_gives_the_same_bytes_for_every_report_and_format() {
    let d = data();
    let temp = tempfile::tempdir().unwrap();
    for (i, args) in REPORTS.iter().enumerate() {
        let out = d.dir.join(format!("r{i}"));
        let (big, quiet) = report(args, "1G", 2, &out, temp.path());
        assert!(!quiet.contains("spilling"), "{args:?} spilled with 1G: {quiet}");
        let (small, said) = report(args, TINY, 2, &out, temp.path());
        // Once per aggregation that spills (findings and servers share the scan of `findings`
        // and `servers`).
        let aggregations = if args[0] == "ports" { 1 } else { 2 };
        assert_eq!(said.matches("spilling to").count(), aggregations, "{args:?}: says once that it spills: {said}");
        assert!(big == small, "{args:?}: output differs between --memory 1G and {TINY}");
        assert!(big.len() > 100, "{args:?}: an output worth comparing");
    }
}

/// Random budgets and thread counts (a fixed seed, so a failure repeats): the same bytes.
#[test]
fn random_budgets_and_threads_give_the_same_bytes() {
    let d = data();
    let temp = tempfile::tempdir().unwrap();
    let mut x: u64 = 0x5eed_1717;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for args in [REPORTS[0], REPORTS[4], REPORTS[8]] {
        let out = d.dir.join("random");
        let (reference, _) = report(args, "4G", 1, &out, temp.path());
        for _ in 0..4 {
            let budget = format!("{}M", 16 + next() % 48);
            let threads = 1 + (next() % 3) as usize;
            let (got, _) = report(args, &budget, threads, &out, temp.path());
            assert!(got == reference, "{args:?} --memory {budget} --threads {threads} differs from 4G, 1 thread");
        }
    }
}

/// daily's one scan of the day: the same ports and servers files with a tiny budget.
#[test]
fn daily_with_a_tiny_budget_writes_the_same_reports() {
    let d = data();
    let temp = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for memory in ["1G", TINY] {
        let store = d.dir.join(format!("store-{memory}"));
        let o = flowlens()
            .args(["daily", "--store"])
            .arg(&store)
            .args(["--date", "2026-11-21", "--local", "10.0.0.0/16", "--memory", memory, "--temp-dir"])
            .arg(temp.path())
            .args(&d.text)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{stderr}");
        assert_eq!(stderr.contains("spill run"), memory == TINY, "{stderr}");
        assert_eq!(std::fs::read_dir(temp.path()).unwrap().count(), 0);
        let read = |p: &str| std::fs::read(store.join(p)).unwrap();
        outputs.push([read("csv/date=2026-11-21/ports.csv"), read("csv/date=2026-11-21/servers.csv")]);
    }
    assert!(outputs[0][0].len() > 1000 && outputs[0][1].len() > 100);
    assert!(outputs[0] == outputs[1], "daily's reports differ between --memory 1G and {TINY}");
}

#[test]
fn bad_budgets_and_temp_dirs_are_clear_errors() {
    let d = data();
    let o = flowlens().arg("ports").arg(&d.files[0]).args(["--memory", "1M"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("--memory: '1M' is too small"));
    let o = flowlens().arg("servers").arg(&d.files[0]).args(["--memory", "lots"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("--memory: 'lots' is not a size"));
    let o = flowlens().arg("ports").arg(&d.files[0]).args(["--temp-dir", "/nonexistent/spill"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("--temp-dir /nonexistent/spill: not a folder"));
    assert_eq!(o.status.code(), Some(2));
}

/// Ctrl-C while spill files exist: the process dies of the signal and the spill folder goes.
#[test]
fn interrupted_while_spilling_leaves_no_spill_files() {
    let d = data();
    let temp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
        .args(["servers", "--format", "csv", "-o", "/dev/null", "--threads", "1", "--memory", TINY, "-q"])
        .args(&d.files)
        .args(&d.files)
        .arg("--temp-dir")
        .arg(temp.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::read_dir(temp.path()).unwrap().count() == 0 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was seen spilling");
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no spill folder appeared");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // SAFETY: kill only sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(status.signal() == Some(libc::SIGINT) || status.code() == Some(130), "{status:?}");
    assert_eq!(std::fs::read_dir(temp.path()).unwrap().count(), 0, "the spill folder is removed on Ctrl-C");
}
