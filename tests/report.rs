//! `flowlens report`: the page of a day of a store. Empty, one-host and 100k-host days, the
//! numbers of the port profiles against `flowlens ports`, escaping of hostile host names, the
//! errors, the output (stdout, atomic file). The page's tables against the CSVs and the page in
//! a real browser are tests/python/test_report.py.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

const DAY: &str = "2026-11-21";

fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("binary built")
}

/// A store with `days`: (date, CSV flows) run through `daily --local 10.0.0.0/8`.
fn store(days: &[(&str, String)]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for (date, csv) in days {
        let input = dir.path().join(format!("{date}.csv"));
        std::fs::write(&input, csv).unwrap();
        flowlens()
            .args(["daily", "--store"])
            .arg(&store)
            .args(["--date", date, "--local", "10.0.0.0/8", "-q"])
            .arg(&input)
            .assert()
            .success();
    }
    (dir, store)
}

const HEADER: &str = "sip,dip,sport,dport,proto,packets,bytes,stime\n";

/// One local host, 10.0.0.5, fetching a page from outside and answering ssh.
fn one_host() -> String {
    format!(
        "{HEADER}10.0.0.5,192.0.2.1,40000,443,6,10,5000,{DAY}T10:00:00Z\n\
         192.0.2.1,10.0.0.5,443,40000,6,12,900000,{DAY}T10:00:01Z\n\
         198.51.100.7,10.0.0.5,51000,22,6,40,4000,{DAY}T13:07:00Z\n\
         10.0.0.5,198.51.100.7,22,51000,6,38,1200000,{DAY}T13:07:00Z\n"
    )
}

fn report(store: &Path, extra: &[&str]) -> String {
    let out = flowlens()
        .arg("report")
        .arg(store)
        .args(["--date", DAY, "--local", "10.0.0.0/8"])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// No script, no element that loads anything, no address but in-page anchors.
fn assert_self_contained(page: &str) {
    // The SVGs' namespace is an identifier, not a request.
    let lower = page.to_ascii_lowercase().replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for bad in
        ["<script", "<img", "<iframe", "<link", "<object", "<embed", " src=", "url(", "@import", "http://", "https://"]
    {
        assert!(!lower.contains(bad), "the page has {bad}");
    }
    for (i, _) in lower.match_indices("href=\"") {
        assert_eq!(&lower[i + 6..i + 7], "#", "a link out of the page: {}", &page[i..i + 40]);
    }
    assert!(page.contains("<meta name=\"viewport\""));
    assert!(page.contains("Content-Security-Policy"));
}

#[test]
fn help_has_examples() {
    flowlens()
        .args(["report", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("flowlens report store --date 2026-11-21 -o report.html"));
}

#[test]
fn errors_say_what_to_do() {
    let (_dir, store) = store(&[("2026-11-20", one_host().replace(DAY, "2026-11-20")), (DAY, one_host())]);
    flowlens()
        .arg("report")
        .arg(&store)
        .args(["--date", "2026-11-25"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no day 2026-11-25; its days are: 2026-11-20, 2026-11-21"));
    flowlens()
        .args(["report", "nowhere", "--date", DAY])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no days"));
    flowlens()
        .arg("report")
        .arg(&store)
        .args(["--date", "21.11.2026"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("use YYYY-MM-DD"));
    // A day whose reports are missing: run daily for it.
    std::fs::remove_file(store.join(format!("ports/date={DAY}/ports.parquet"))).unwrap();
    flowlens()
        .arg("report")
        .arg(&store)
        .args(["--date", DAY])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("run `flowlens daily"));
}

#[test]
fn empty_day() {
    let (_dir, store) = store(&[(DAY, HEADER.to_string())]);
    let page = report(&store, &[]);
    assert_self_contained(&page);
    assert!(page.contains("No hosts on this day."));
    assert!(page.contains("No new servers on this day."));
    assert!(page.contains("0 finding row(s)"));
    assert!(page.contains("no earlier day in the store"));
    assert!(!page.contains("data-report=\"ports\""));
    // The chart is drawn all the same (an empty day is a flat line, not an error).
    assert!(page.contains("<svg") && page.contains("\nincoming\n"));
    // A day of a store from before daily wrote findings: the page says so.
    std::fs::remove_file(store.join(format!("findings/date={DAY}/findings.parquet"))).unwrap();
    let page = report(&store, &[]);
    assert!(page.contains("Findings were not computed for this day"));
    assert!(page.contains("data-total=\"findings\""));
}

/// The one host's profile prints the cells `flowlens ports` prints, row for row.
#[test]
fn one_host_day_matches_the_port_report() {
    let (_dir, store) = store(&[("2026-11-20", one_host().replace(DAY, "2026-11-20")), (DAY, one_host())]);
    let page = report(&store, &[]);
    assert_self_contained(&page);
    assert_eq!(page.matches("data-report=\"ports\"").count(), 1);
    assert!(page.contains("id=\"host-10-0-0-5\"") && page.contains("href=\"#host-10-0-0-5\""));
    let text = flowlens()
        .args(["ports", "--local", "10.0.0.0/8", "--from", DAY, "--to", DAY, "-q"])
        .arg(store.join("flows"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("10.0.0.5 ")).collect();
    assert_eq!(lines.len(), 4, "{text}");
    let table = &page[page.find("data-report=\"ports\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let cells: Vec<String> = table
        .split("<td")
        .skip(1)
        .map(|c| {
            let c = &c[c.find('>').unwrap() + 1..];
            c[..c.find("</td>").unwrap()].replace("&gt;", ">").replace("&#x2f;", "/")
        })
        .collect();
    let want: Vec<String> = lines.iter().flat_map(|l| l.split_whitespace().skip(1).map(String::from)).collect();
    assert_eq!(cells, want);
    // The totals and the day before.
    assert!(page.contains("data-total=\"local hosts\""));
    assert!(page.contains("vs 2026-11-20"));
    assert!(page.contains("<circle"), "a trend line over the two days");
}

/// Host names from a hosts file are the attacker's: they print as text.
#[test]
fn hostile_names_are_text() {
    let (dir, store) = store(&[(DAY, one_host())]);
    let hosts = dir.path().join("hosts.txt");
    // hosts(5) names have no blanks: `/` separates the attributes as a blank would.
    std::fs::write(&hosts, "10.0.0.5 <img/src=x/onerror=alert(1)>\n192.0.2.1 \"><script>alert(2)</script>\n").unwrap();
    let page = report(&store, &["--hosts", hosts.to_str().unwrap()]);
    assert_self_contained(&page);
    assert!(page.contains("&lt;img&#x2f;src=x&#x2f;onerror=alert(1)&gt;"), "the name is shown, escaped");
}

/// A day of 100k local hosts: top hosts with profiles, the rest summed up in one line; small.
#[test]
fn hundred_thousand_hosts_stay_small() {
    let mut csv = String::from(HEADER);
    for i in 0..100_000u32 {
        let (a, b) = (1 + (i >> 8), i & 255);
        let t = i % 86_400;
        let (h, m, s) = (t / 3600, t / 60 % 60, t % 60);
        csv.push_str(&format!(
            "10.{}.{}.{b},203.0.113.9,{},443,6,{},{},{DAY}T{h:02}:{m:02}:{s:02}Z\n",
            a >> 8,
            a & 255,
            1024 + i % 60000,
            3 + i % 7,
            500 + i
        ));
    }
    let (_dir, store) = store(&[(DAY, csv)]);
    let page = report(&store, &[]);
    assert!(page.len() < 2 << 20, "{} bytes", page.len());
    assert_eq!(page.matches("data-report=\"ports\"").count(), flowlens::report::DEFAULT_TOP_HOSTS);
    assert!(page.contains(&format!("And {} more host(s) of 100000", 100_000 - flowlens::report::DEFAULT_TOP_HOSTS)));
}

/// `-o FILE` is written under a temporary name and renamed; `-o -` is stdout.
#[test]
fn output_file_and_stdout() {
    let (dir, store) = store(&[(DAY, one_host())]);
    let out = dir.path().join("out").join("report.html");
    flowlens().arg("report").arg(&store).args(["--date", DAY, "-o"]).arg(&out).assert().success().stdout("");
    let file = std::fs::read_to_string(&out).unwrap();
    let names: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["report.html"], "no temporary file left");
    let stdout = flowlens().arg("report").arg(&store).args(["--date", DAY, "-o", "-"]).assert().success();
    assert_eq!(String::from_utf8(stdout.get_output().stdout.clone()).unwrap(), file);
    // Without --local the chart has one line for everything.
    assert!(file.contains("\nall flows\n") && !file.contains("\nincoming\n"));
}

/// Layer-2 records (Argus `llc`, null sip/dip; tests/data/formats/l2.binetflow, real STP
/// frames) are in the day's totals, which equal racount's, and in no direction of the chart.
#[test]
fn layer2_records_are_in_the_totals() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats/l2.binetflow");
    let day = "2026-12-07";
    flowlens()
        .args(["daily", "--store"])
        .arg(&store)
        .args(["--date", day, "--local", "fe80::/10", "-q"])
        .arg(&input)
        .assert()
        .success();
    let out = flowlens().arg("report").arg(&store).args(["--date", day, "--local", "fe80::/10"]).assert().success();
    let page = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let text: String = {
        let mut t = String::new();
        let mut tag = false;
        for c in page.chars() {
            match c {
                '<' => tag = true,
                '>' => {
                    tag = false;
                    t.push(' ');
                }
                c if !tag => t.push(c),
                _ => {}
            }
        }
        t.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    // racount of the fixture: 16 packets, 1200 bytes in 9 flow records (2 of them llc).
    for want in ["flows 9 9", "packets 16 16", "bytes 1200 1200", "2 layer-2 record(s) without IP addresses"] {
        assert!(text.contains(want), "{want}: {text}");
    }
}
