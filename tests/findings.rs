//! End-to-end tests of `flowlens findings`: the seed's Section 2 examples and the traps planted
//! by `flowlens gen --plant` (each tagged as the seed reads it, no trap with a threat tag), real
//! captures made with real tools (tests/data/findings/SOURCES), user thresholds, the formats,
//! and the servers' P2P context.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("binary built")
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

const THREATS: [&str; 3] = ["scanner", "p2p", "possible-compromise"];

/// Parses RFC 4180 CSV (quoted fields with commas and doubled quotes).
fn parse_csv(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        let (mut fields, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        fields.push(cur);
        rows.push(fields);
    }
    let header = rows.remove(0);
    rows.into_iter().map(|r| header.iter().cloned().zip(r).collect()).collect()
}

fn findings_csv(input: &Path, args: &[&str]) -> Vec<BTreeMap<String, String>> {
    let out = flowlens().arg("findings").arg(input).args(["--format", "csv", "-q"]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().next(), Some("host,hostname,tag,confidence,evidence,explanation,first_seen,last_seen"));
    parse_csv(&text)
}

fn tags(rows: &[BTreeMap<String, String>]) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rows {
        m.entry(r["host"].clone()).or_default().insert(r["tag"].clone());
    }
    m
}

struct Planted {
    dir: TempDir,
    parquet: PathBuf,
    /// host → (role, expected tags)
    truth: BTreeMap<String, (String, BTreeSet<String>)>,
}

fn planted(rows: u32) -> Planted {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("day.rw");
    let truth = dir.path().join("planted.csv");
    flowlens()
        .args(["gen", "--rows", &rows.to_string(), "--plant", "--findings-truth"])
        .arg(&truth)
        .arg("-o")
        .arg(&text)
        .assert()
        .success();
    let parquet = dir.path().join("day.parquet");
    flowlens().args(["convert", "-q"]).arg(&text).arg("-o").arg(&parquet).assert().success();
    let t = std::fs::read_to_string(&truth).unwrap();
    let mut lines = t.lines();
    assert_eq!(lines.next(), Some("host,role,tags"));
    let truth = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                (f[1].to_string(), f[2].split(';').filter(|s| !s.is_empty()).map(String::from).collect()),
            )
        })
        .collect();
    Planted { dir, parquet, truth }
}

#[test]
fn the_seed_examples_and_the_traps_are_read_as_the_seed_reads_them() {
    let p = planted(60_000);
    assert_eq!(p.truth.len(), 11, "{:?}", p.truth);
    for local in [true, false] {
        let args: &[&str] = if local { &["--local", "10.0.0.0/16"] } else { &[] };
        let rows = findings_csv(&p.parquet, args);
        let got = tags(&rows);
        for (host, (role, want)) in &p.truth {
            let have = got.get(host).cloned().unwrap_or_default();
            assert_eq!(
                &have,
                want,
                "{role} {host} (local {local}): {:?}",
                rows.iter().filter(|r| &r["host"] == host).collect::<Vec<_>>()
            );
        }
        let by = |role: &str| {
            let host = p.truth.iter().find(|(_, (r, _))| r == role).unwrap().0;
            rows.iter().filter(|r| &r["host"] == host).cloned().collect::<Vec<_>>()
        };
        // Example 4: a dark address: the evidence says so, and names the ports of the seed's rows.
        let dark = by("example4");
        assert_eq!(dark[0]["confidence"], "high");
        assert!(dark[0]["evidence"].contains("dark: never sends"), "{dark:?}");
        let e = &dark[0]["explanation"];
        for port in ["137/udp", "ICMP echo", "445/tcp", "21/tcp", "1433/tcp", "80/tcp"] {
            assert!(e.contains(port), "{e}");
        }
        assert!(e.contains("3 ") && e.contains("answered none; sent nothing"), "{e}");
        // Example 3: two signals together (bulk serving and IRC): medium.
        let hacked = by("example3");
        assert_eq!(hacked[0]["confidence"], "medium", "{hacked:?}");
        assert!(hacked[0]["explanation"].contains(":6667"), "{hacked:?}");
        // The scanners say which kind.
        assert!(by("scanner-horizontal")[0]["evidence"].starts_with("kind=horizontal"));
        assert!(by("scanner-vertical")[0]["evidence"].starts_with("kind=vertical"));
        // The resets host is a target (it answered), never dark.
        let rst = by("trap-resets");
        assert!(!rst[0]["evidence"].contains("dark"), "{rst:?}");
        for (host, (role, _)) in p.truth.iter().filter(|(_, (r, _))| r.starts_with("trap-")) {
            for t in THREATS {
                assert!(!got.get(host).is_some_and(|s| s.contains(t)), "{role} carries {t}");
            }
        }
    }
    drop(p.dir);
}

#[test]
fn a_p2p_hosts_random_port_is_not_reported_as_a_server() {
    let p = planted(20_000);
    let kazaa = p.truth.iter().find(|(_, (r, _))| r == "example2").unwrap().0.clone();
    let servers = |extra: &[&str]| {
        let out = flowlens()
            .arg("servers")
            .arg(&p.parquet)
            .args(["--local", "10.0.0.0/16", "--format", "csv", "-q"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let plain = servers(&[]);
    assert!(!plain.lines().any(|l| l.starts_with(&format!("{kazaa},3306,"))), "{plain}");
    let listed = servers(&["--ambiguous"]);
    let line =
        listed.lines().find(|l| l.starts_with(&format!("{kazaa},3306,6,mysql"))).expect("listed with --ambiguous");
    assert!(line.contains("port of a p2p host") && line.ends_with(",ambiguous"), "{line}");
}

#[test]
fn user_thresholds_replace_the_builtin_ones() {
    let p = planted(20_000);
    let rules = p.dir.path().join("strict.toml");
    let builtin = std::fs::read_to_string(repo("data/findings.toml")).unwrap();
    // Scanners need 1,000 failed targets or ports here: none of the planted ones qualify.
    let strict = builtin
        .replace("zeek_addr_scan_hosts = 25", "zeek_addr_scan_hosts = 1000")
        .replace("zeek_port_scan_ports = 15", "zeek_port_scan_ports = 1000")
        .replace("slips_more_than = 5", "slips_more_than = 1000")
        .replace("trw_min_failed = 4", "trw_min_failed = 100000");
    std::fs::write(&rules, strict).unwrap();
    let rows = findings_csv(&p.parquet, &["--local", "10.0.0.0/16", "--rules", rules.to_str().unwrap()]);
    assert!(rows.iter().all(|r| r["tag"] != "scanner"), "{rows:?}");
    assert!(rows.iter().any(|r| r["tag"] == "scan-target"));
    // A file with a key missing is refused, naming the key.
    std::fs::write(&rules, builtin.replace("slips_window = 3600\n", "")).unwrap();
    let out = flowlens().arg("findings").arg(&p.parquet).arg("--rules").arg(&rules).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slips_window"));
}

#[test]
fn formats_carry_the_same_rows() {
    let p = planted(10_000);
    let csv = findings_csv(&p.parquet, &["--local", "10.0.0.0/16"]);
    let out = flowlens()
        .arg("findings")
        .arg(&p.parquet)
        .args(["--local", "10.0.0.0/16", "--format", "json", "-q"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), csv.len());
    for (j, c) in arr.iter().zip(&csv) {
        assert_eq!(j["host"], c["host"].as_str());
        assert_eq!(j["tag"], c["tag"].as_str());
        assert_eq!(j["explanation"], c["explanation"].as_str());
    }
    let pq = p.dir.path().join("f.parquet");
    flowlens()
        .arg("findings")
        .arg(&p.parquet)
        .args(["--local", "10.0.0.0/16", "--format", "parquet", "-q", "-o"])
        .arg(&pq)
        .assert()
        .success();
    assert!(std::fs::metadata(&pq).unwrap().len() > 0);
    let table = flowlens().arg("findings").arg(&p.parquet).args(["--local", "10.0.0.0/16", "-q"]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert_eq!(table.lines().count(), 1 + 2 * csv.len());
    // Parquet needs a file.
    flowlens().arg("findings").arg(&p.parquet).args(["--format", "parquet"]).assert().code(2);
}

fn convert(dir: &TempDir, input: &Path) -> PathBuf {
    let out = dir.path().join(format!("{}.parquet", input.file_name().unwrap().to_string_lossy()));
    flowlens().args(["convert", "-q"]).arg(input).arg("-o").arg(&out).assert().success();
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// tests/data/findings/SOURCES: nmap against a dark network and a live host, with benign
/// downloads, DNS and a backup upload, captured and exported by real tools.
#[test]
fn real_nmap_capture() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(&dir, &repo("tests/data/findings/nmap-lab.nfdump.csv"));
    let rows = findings_csv(&pq, &[]);
    let got = tags(&rows);
    assert_eq!(got.get("10.78.0.1"), Some(&set(&["scanner"])), "{rows:?}");
    assert_eq!(got.get("10.78.0.2"), Some(&set(&["scan-target"])), "{rows:?}");
    assert_eq!(got.get("10.78.0.5"), None, "{rows:?}");
    assert_eq!(got.get("10.78.0.6"), None, "{rows:?}");
    let scanner = rows.iter().find(|r| r["tag"] == "scanner").unwrap();
    assert!(scanner["evidence"].starts_with("kind=both"), "{scanner:?}");
    let rows = findings_csv(&pq, &["--local", "10.79.0.0/24"]);
    assert_eq!(tags(&rows), BTreeMap::from([("10.78.0.1".to_string(), set(&["scanner"]))]), "{rows:?}");
}

/// The host-lab capture (tests/data/findings/SOURCES): a hacked host, a P2P host and five traps
/// (a NAT, an NTP client, a DNS resolver, a desktop's LAN chatter to multicast and broadcast
/// addresses, the outside servers), as softflowd's unidirectional
/// flows through nfdump and as Argus's bidirectional records in CTU-13's binetflow layout. Both
/// exporters' flows of the same packets are read the same way.
#[test]
fn real_host_lab_capture() {
    let dir = tempfile::tempdir().unwrap();
    let labels = BTreeMap::from([
        ("10.78.1.10".to_string(), set(&["possible-compromise", "scanner"])),
        ("10.78.1.20".to_string(), set(&["p2p"])),
    ]);
    for file in ["host-lab.nfdump.csv", "host-lab.binetflow"] {
        let pq = convert(&dir, &repo(&format!("tests/data/findings/{file}")));
        let rows = findings_csv(&pq, &["--local", "10.78.1.0/24"]);
        assert_eq!(tags(&rows), labels, "{file}: {rows:?}");
        let evidence = |tag: &str| rows.iter().find(|r| r["tag"] == tag).unwrap()["evidence"].clone();
        let compromise = evidence("possible-compromise");
        for signal in ["bulk_serving: peers=3 host_ports=3", "irc: 10.78.2.100:6667", "outbound_scan: horizontal"] {
            assert!(compromise.contains(signal), "{file}: {compromise}");
        }
        assert!(evidence("p2p").contains("5 peers over both TCP and UDP"), "{file}: {}", evidence("p2p"));
        // Every address a candidate: the same two hosts, and no threat tag on the traps or on
        // the outside servers and peers.
        let rows = findings_csv(&pq, &[]);
        let got = tags(&rows);
        for (host, t) in &got {
            if let Some(want) = labels.get(host) {
                assert_eq!(t, want, "{file}: {host}");
            } else {
                assert!(THREATS.iter().all(|threat| !t.contains(*threat)), "{file}: {host} {t:?}");
            }
        }
        assert!(labels.keys().all(|h| got.contains_key(h)), "{file}: {got:?}");
        // The SSDP group every site host searched, mDNS, LLMNR and the DHCP broadcast: no host.
        for group in ["239.255.255.250", "224.0.0.251", "224.0.0.252", "255.255.255.255", "0.0.0.0"] {
            assert!(!got.contains_key(group), "{file}: {group} {:?}", got[group]);
        }
    }
    // The P2P host's port is not a service: with --ambiguous its rows say why (the binetflow's
    // `side` and flags make them servers at all; the unidirectional flows do not).
    let pq = convert(&dir, &repo("tests/data/findings/host-lab.binetflow"));
    let servers = |extra: &[&str]| -> Vec<BTreeMap<String, String>> {
        let out = flowlens().arg("servers").arg(&pq).args(["--quiet", "--format", "csv"]).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        parse_csv(&String::from_utf8(out.stdout).unwrap())
    };
    let p2p_port = |r: &BTreeMap<String, String>| r["server"] == "10.78.1.20" && r["port"] == "51413";
    assert!(!servers(&[]).iter().any(p2p_port));
    let listed: Vec<_> = servers(&["--ambiguous"]).into_iter().filter(p2p_port).collect();
    assert!(!listed.is_empty());
    for r in listed {
        assert_eq!(r["confidence"], "ambiguous", "{r:?}");
        assert!(r["evidence"].contains("not a service: port of a p2p host"), "{r:?}");
    }
}

/// The scan-lab capture (tests/data/findings/SOURCES): a ping sweep of a dark network, a UDP
/// scan and a connect scan of a live host, and a benign client, through both exporters.
#[test]
fn real_scan_lab_capture() {
    let dir = tempfile::tempdir().unwrap();
    let labels = BTreeMap::from([
        ("10.78.5.1".to_string(), set(&["scanner"])),
        ("10.78.5.2".to_string(), set(&["scan-target"])),
        ("10.78.5.3".to_string(), set(&["scanner"])),
        ("10.78.5.4".to_string(), set(&["scanner"])),
    ]);
    for file in ["scan-lab.nfdump.csv", "scan-lab.binetflow"] {
        let pq = convert(&dir, &repo(&format!("tests/data/findings/{file}")));
        let rows = findings_csv(&pq, &[]);
        assert_eq!(tags(&rows), labels, "{file}: {rows:?}");
        let kind = |host: &str| {
            let r = rows.iter().find(|r| r["host"] == host && r["tag"] == "scanner").unwrap();
            r["evidence"].split(';').next().unwrap().to_string()
        };
        assert_eq!(
            (kind("10.78.5.1"), kind("10.78.5.3"), kind("10.78.5.4")),
            ("kind=horizontal".into(), "kind=vertical".into(), "kind=vertical".into()),
            "{file}"
        );
        // With the scanned network as the site: the outside scanners of it, nothing else.
        let rows = findings_csv(&pq, &["--local", "10.79.0.0/24"]);
        assert_eq!(tags(&rows), BTreeMap::from([("10.78.5.1".to_string(), set(&["scanner"]))]), "{file}");
    }
}

/// ICMP requests whose reply has a type of its own (IPv6 neighbour solicitation/advertisement,
/// IPv4 timestamp) are answered conversations, not probes nor scans (tests/data/findings/SOURCES).
#[test]
fn icmp_requests_answered_by_other_types_are_answers() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(&dir, &repo("tests/data/findings/icmp-pairs.csv"));
    assert_eq!(findings_csv(&pq, &[]), Vec::<BTreeMap<String, String>>::new());
}

/// The exporter fixtures of scripts/make-fixtures.sh: a connect scan of 14 closed ports, and
/// benign services.
#[test]
fn real_fixture_scan_and_services() {
    let dir = tempfile::tempdir().unwrap();
    let scan = convert(&dir, &repo("tests/data/formats/nfdump-scan.csv"));
    let got = tags(&findings_csv(&scan, &[]));
    assert_eq!(got.get("10.77.0.1"), Some(&set(&["scanner"])), "{got:?}");
    assert_eq!(got.get("10.77.0.2"), Some(&set(&["scan-target"])), "{got:?}");
    let services = convert(&dir, &repo("tests/data/formats/nfdump-services.csv"));
    for (host, t) in tags(&findings_csv(&services, &[])) {
        for threat in THREATS {
            assert!(!t.contains(threat), "{host} {t:?}");
        }
    }
}

/// `ports --findings`: the same port report, each host's findings marked under its rows (the
/// same tags as `flowlens findings`), a `findings` column in CSV and JSON, and the findings of
/// outside scanners after the table.
#[test]
fn ports_findings_marks_each_hosts_findings_under_its_rows() {
    let p = planted(20_000);
    let ports = |extra: &[&str]| -> String {
        let out = flowlens()
            .arg("ports")
            .arg(&p.parquet)
            .args(["--local", "10.0.0.0/16", "--quiet"])
            .args(extra)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let want = tags(&findings_csv(&p.parquet, &["--local", "10.0.0.0/16"]));

    // CSV: the report's columns unchanged, plus the host's tags.
    let plain = ports(&["--format", "csv"]);
    let marked = ports(&["--format", "csv", "--findings"]);
    let (plain_rows, marked_rows) = (parse_csv(&plain), parse_csv(&marked));
    assert_eq!(plain_rows.len(), marked_rows.len());
    let mut seen = BTreeMap::new();
    for (a, b) in plain_rows.iter().zip(&marked_rows) {
        let mut b = b.clone();
        let tags: BTreeSet<String> =
            b.remove("findings").unwrap().split(';').filter(|t| !t.is_empty()).map(String::from).collect();
        assert_eq!(a, &b, "--findings changed a port row");
        seen.insert(b["ip"].clone(), tags);
    }
    for (host, tags) in &seen {
        assert_eq!(tags, &want.get(host).cloned().unwrap_or_default(), "{host}");
    }
    let role = |r: &str| p.truth.iter().find(|(_, (role, _))| role == r).unwrap().0.clone();
    assert_eq!(seen[&role("example2")], BTreeSet::from(["p2p".to_string()]));

    // The table: the plain table's lines, with each finding's line under its host's rows.
    let table = ports(&["--findings"]);
    let plain_table = ports(&[]);
    let kept: Vec<&str> = table.lines().filter(|l| !l.starts_with("  [")).collect();
    let outside = kept.iter().position(|l| l.starts_with("Findings of addresses")).expect("outside scanners listed");
    assert_eq!(kept[..outside - 1].join("\n"), plain_table.trim_end().to_string());
    let lines: Vec<&str> = table.lines().collect();
    let p2p = lines.iter().position(|l| l.starts_with("  [!] p2p (")).unwrap();
    assert!(lines[p2p - 1].starts_with(&format!("{:<28} ", role("example2"))), "{}", lines[p2p - 1]);
    let scanner = role("scanner-horizontal");
    assert!(lines[outside..].iter().any(|l| l.starts_with(&format!("{scanner}  [!] scanner ("))), "{table}");
    assert!(lines.iter().any(|l| l.starts_with("  [i] server (")));

    // JSON carries the column too.
    let json: serde_json::Value = serde_json::from_str(&ports(&["--format", "json", "--findings"])).unwrap();
    let row = json.as_array().unwrap().iter().find(|r| r["ip"] == role("example2").as_str()).unwrap();
    assert_eq!(row["findings"], "p2p");
}
