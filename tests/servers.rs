//! End-to-end tests of `flowlens servers`: every SEI seed table classified, what must not become
//! a server, flags never needed, the real-tool fixtures, generated data against its ground
//! truth, user rules, baselines, alerts and exit statuses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("binary built")
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Converts `input` into `dir` and returns the Parquet path.
fn convert(dir: &TempDir, input: &Path, args: &[&str]) -> PathBuf {
    let name = input.file_name().unwrap().to_string_lossy().to_string();
    let out = dir.path().join(format!("{name}.parquet"));
    flowlens().arg("convert").arg("-q").arg(input).arg("-o").arg(&out).args(args).assert().success();
    out
}

/// The CSV report's rows as maps from column to value.
fn servers_csv(input: &Path, args: &[&str]) -> Vec<std::collections::BTreeMap<String, String>> {
    let out = flowlens().arg("servers").arg(input).args(["--format", "csv", "-q"]).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().expect("a header").split(',').map(String::from).collect();
    assert!(header.join(",").starts_with("server,port,proto,service,clients,client_ports"), "{header:?}");
    lines
        .map(|l| {
            // The evidence column holds no commas in the built-in rules' texts, except the
            // ambiguous rows' which the tests below never parse positionally.
            header.iter().cloned().zip(l.split(',').map(String::from)).collect()
        })
        .collect()
}

/// `server:port/proto service` of each row.
fn keys(rows: &[std::collections::BTreeMap<String, String>]) -> BTreeSet<String> {
    rows.iter().map(|r| format!("{}:{}/{} {}", r["server"], r["port"], r["proto"], r["service"])).collect()
}

fn sei(dir: &TempDir, table: &str) -> PathBuf {
    let mut args = vec!["--date", "2014-06-01"];
    if table == "ntp-linux" {
        args.extend(["--columns", "sip,dip,sport,dport,proto,packets,bytes,flags,stime"]);
    }
    convert(dir, &repo(&format!("data/sei/{table}.txt")), &args)
}

/// One test per SEI seed table: the servers the seed's rows show (not its prose where the two
/// disagree; see data/sei/README.md).
macro_rules! sei_table {
    ($name:ident, $table:literal, [$($want:literal),*]) => {
        #[test]
        fn $name() {
            let dir = TempDir::new().unwrap();
            let flows = sei(&dir, $table);
            let got = keys(&servers_csv(&flows, &[]));
            let want: BTreeSet<String> = [$($want),*].iter().map(|s: &&str| s.to_string()).collect();
            assert_eq!(got, want, "{}", $table);
            // Flags are never needed: the same servers without them.
            assert_eq!(keys(&servers_csv(&flows, &["--ignore-flags"])), want, "{} --ignore-flags", $table);
        }
    };
}

sei_table!(sei_ssh_linux, "ssh-linux", ["10.10.0.1:22/6 ssh"]);
// The seed's prose says 10.10.0.1 serves; its rows send from 10.10.0.2 port 22: the rows decide.
sei_table!(sei_ssh_windows, "ssh-windows", ["10.10.0.2:22/6 ssh"]);
sei_table!(sei_telnet_linux, "telnet-linux", ["10.10.0.1:23/6 telnet"]);
sei_table!(sei_telnet_windows, "telnet-windows", ["10.10.0.1:23/6 telnet"]);
// The second data row's typo (10.10.0.1 → 10.10.0.1) leaves the server's port-20 flow as the
// data channel's evidence; it is tied to the control session between the same hosts.
sei_table!(sei_ftp_active_linux, "ftp-active-linux", ["10.10.0.2:20/6 ftp-data", "10.10.0.2:21/6 ftp"]);
sei_table!(sei_ftp_passive_linux, "ftp-passive-linux", ["10.10.0.2:10099/6 ftp-data", "10.10.0.2:21/6 ftp"]);
// The rows put the passive port 10091 on the client's side and 61598 on the FTP server's: the
// data channel is tied to the FTP server of the control session, so its port is 61598.
sei_table!(sei_ftp_passive_windows, "ftp-passive-windows", ["10.10.0.2:21/6 ftp", "10.10.0.2:61598/6 ftp-data"]);
sei_table!(sei_pptp_linux, "pptp-linux", ["10.10.0.2:0/47 gre", "10.10.0.2:1723/6 pptp"]);
sei_table!(sei_pptp_windows, "pptp-windows", ["10.10.0.2:0/47 gre", "10.10.0.2:1723/6 pptp"]);
sei_table!(sei_dns_linux, "dns-linux", ["10.10.0.2:53/17 dns"]);
sei_table!(sei_dns_windows, "dns-windows", ["173.194.121.3:53/17 dns"]);
sei_table!(sei_http_linux, "http-linux", ["128.2.42.52:80/6 http"]);
sei_table!(sei_http_windows, "http-windows", ["128.2.42.52:80/6 http"]);
// 123<->123 once: the flows cannot say which side serves, so neither is called a server.
sei_table!(sei_ntp_linux, "ntp-linux", []);
// The request went unanswered (an ICMP unreachable came back, recorded against UDP): no server.
sei_table!(sei_ntp_windows, "ntp-windows", []);

#[test]
fn ntp_linux_is_an_ambiguous_pair() {
    let dir = TempDir::new().unwrap();
    let flows = sei(&dir, "ntp-linux");
    let out = flowlens().args(["servers", "--ambiguous", "--format", "csv"]).arg(&flows).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("10.10.0.1,123,17,ntp,") && text.contains("with 216.229.4.69") && text.ends_with(",ambiguous\n")
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("1 ambiguous symmetric pair"), "{stderr}");
}

/// Scanner probes answered by a reset, P2P between random high ports, an NTP client that syncs
/// with four servers from port 123, ICMP errors (also recorded against UDP, as YAF did in the
/// seed), and a client reusing an ephemeral port towards several servers.
#[test]
fn what_must_not_become_a_server() {
    let dir = TempDir::new().unwrap();
    let flows = convert(&dir, &repo("tests/data/servers/not-servers.txt"), &["--date", "2026-11-21"]);
    let rows = servers_csv(&flows, &["--local", "10.1.0.0/16"]);
    assert!(rows.is_empty(), "{:?}", keys(&rows));
    // The remote servers the client used are servers (they answered it).
    let all = keys(&servers_csv(&flows, &[]));
    let want: BTreeSet<String> =
        ["198.51.100.20:443/6 https", "198.51.100.21:443/6 https", "198.51.100.22:8080/6 http-alt"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    assert_eq!(all, want);
}

/// Reported servers must have sent something from the reported port: an address that never
/// answered anyone is never a server.
fn assert_every_server_answered(flows: &Path, rows: &[std::collections::BTreeMap<String, String>]) {
    let batches = flowlens::scan::read_all(flows).unwrap();
    let mut senders = BTreeSet::new();
    for b in &batches {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{UInt16Type, UInt8Type};
        let sip = b.column_by_name("sip").unwrap().as_string::<i32>();
        let sport = b.column_by_name("sport").unwrap().as_primitive::<UInt16Type>();
        let proto = b.column_by_name("proto").unwrap().as_primitive::<UInt8Type>();
        for i in 0..b.num_rows() {
            senders.insert(format!("{}:{}/{}", sip.value(i), sport.value(i), proto.value(i)));
        }
    }
    for r in rows {
        let k = format!("{}:{}/{}", r["server"], r["port"], r["proto"]);
        assert!(senders.contains(&k), "{k} never sent a flow from that port");
    }
}

/// The fixtures made with real tools from real traffic between network namespaces
/// (scripts/make-fixtures.sh): servers 10.77.0.2 (ssh 22, dns 53, an NTP-like 123, http 8080)
/// and fd77::2 (echo 7); the NTP-like exchange is 123<->123 from the client.
#[test]
fn real_tool_fixtures() {
    let dir = TempDir::new().unwrap();
    let cases: [(&str, &[&str]); 6] = [
        // softflowd → nfcapd → nfdump: unidirectional NetFlow, no originator; 123<->123 stays ambiguous.
        ("nfdump-services.csv", &["10.77.0.2:22/6 ssh", "10.77.0.2:53/17 dns", "10.77.0.2:8080/6 http-alt"]),
        ("nfdump175-services.csv", &["10.77.0.2:22/6 ssh", "10.77.0.2:53/17 dns", "10.77.0.2:8080/6 http-alt"]),
        ("nfdump-scan.csv", &["fd77::2:7/6 echo"]),
        // Argus knows who originated each record: the NTP-like server is found too.
        (
            "argus-services-dir.csv",
            &["10.77.0.2:123/17 ntp", "10.77.0.2:22/6 ssh", "10.77.0.2:53/17 dns", "10.77.0.2:8080/6 http-alt"],
        ),
        ("argus-scan-dir.csv", &["fd77::2:7/6 echo"]),
        // ra's tab layout prints times without a date (the capture's day).
        (
            "argus-services-dir.tsv",
            &["10.77.0.2:123/17 ntp", "10.77.0.2:22/6 ssh", "10.77.0.2:53/17 dns", "10.77.0.2:8080/6 http-alt"],
        ),
    ];
    for (file, want) in cases {
        let args: &[&str] = if file.ends_with(".tsv") { &["--date", "2026-11-23"] } else { &[] };
        let flows = convert(&dir, &repo(&format!("tests/data/formats/{file}")), args);
        let rows = servers_csv(&flows, &[]);
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(keys(&rows), want, "{file}");
        assert_eq!(keys(&servers_csv(&flows, &["--ignore-flags"])), want, "{file} --ignore-flags");
        assert_every_server_answered(&flows, &rows);
    }
    for file in ["zeek-docs-conn.json", "zeek-repo-conn.log", "zeek-zed-conn.log"] {
        let flows = convert(&dir, &repo(&format!("tests/data/formats/zeek/{file}")), &[]);
        let rows = servers_csv(&flows, &[]);
        assert!(!rows.is_empty(), "{file}");
        assert_eq!(keys(&rows), keys(&servers_csv(&flows, &["--ignore-flags"])), "{file}");
        assert_every_server_answered(&flows, &rows);
    }
}

/// Generated flows against the generator's ground truth: no false server at all, and every
/// server found except the NTP upstreams, which are only ever seen 123<->123 with one peer.
#[test]
fn generated_flows_against_the_truth() {
    let dir = TempDir::new().unwrap();
    let text = dir.path().join("g.rw");
    let truth = dir.path().join("truth.csv");
    flowlens()
        .args(["gen", "--rows", "300000", "--seed", "11", "-o"])
        .arg(&text)
        .arg("--truth")
        .arg(&truth)
        .assert()
        .success();
    let flows = convert(&dir, &text, &[]);
    let rows = servers_csv(&flows, &[]);
    // Keys carry the service name: the truth file names services as `servers` does (it said
    // `domain` where servers says `dns`, issue 19).
    let got: BTreeSet<String> =
        rows.iter().map(|r| format!("{}:{}/{} {}", r["server"], r["port"], r["proto"], r["service"])).collect();
    let truth_text = std::fs::read_to_string(&truth).unwrap();
    let mut want = BTreeSet::new();
    let mut symmetric_only = BTreeSet::new();
    for line in truth_text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let k = format!("{}:{}/{} {}", f[0], f[1], f[2], f[3]);
        // The generator's NTP upstreams (outside the local network) only answer the local NTP server 123<->123.
        if f[3] == "ntp" && f[4] == "false" {
            symmetric_only.insert(k.clone());
        }
        want.insert(k);
    }
    let false_servers: Vec<&String> = got.difference(&want).collect();
    assert!(false_servers.is_empty(), "false servers: {false_servers:?}");
    let missed: BTreeSet<&String> = want.difference(&got).collect();
    let unexpected: Vec<&&String> = missed.iter().filter(|k| !symmetric_only.contains(**k)).collect();
    assert!(unexpected.is_empty(), "missed: {unexpected:?}");
    assert_eq!(keys(&rows), keys(&servers_csv(&flows, &["--ignore-flags"])));
}

#[test]
fn user_rules_add_a_service_without_code() {
    let dir = TempDir::new().unwrap();
    let text = "SIP DIP SPORT DPORT PROTOCOL PACKETS BYTES FLAGS STIME\n\
                10.2.0.1 10.2.0.9 45000 5201 6 3000 4500000 FSPA 10:00.000\n\
                10.2.0.9 10.2.0.1 5201 45000 6 1500 90000 FSPA 10:00.000\n";
    let input = dir.path().join("iperf.txt");
    std::fs::write(&input, text).unwrap();
    let flows = convert(&dir, &input, &["--date", "2026-11-21"]);
    // One client on an unregistered high port: not enough for the built-in generic rule.
    assert!(servers_csv(&flows, &[]).is_empty());
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"iperf3\"\nproto = \"tcp\"\nports = \"5201\"\nreply = { min_packets = 2 }\n",
    )
    .unwrap();
    let rows = servers_csv(&flows, &["--rules", rules.to_str().unwrap()]);
    assert_eq!(keys(&rows), ["10.2.0.9:5201/6 iperf3".to_string()].into_iter().collect());
    assert_eq!(rows[0]["rule"], "iperf3");
    assert_eq!((rows[0]["flows_in"].as_str(), rows[0]["bytes_in"].as_str()), ("1", "4500000"));
    // A broken rules file is an error that names the rule and the key.
    std::fs::write(&rules, "[[rule]]\nname = \"x\"\nproto = \"tcp\"\nports = \"99999\"\n").unwrap();
    flowlens()
        .arg("servers")
        .arg(&flows)
        .arg("--rules")
        .arg(&rules)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("rule 'x': ports: '99999' is not a port"));
}

#[test]
fn baseline_alerts_and_exit_status() {
    let dir = TempDir::new().unwrap();
    let day1 = convert(&dir, &repo("data/sei/ssh-linux.txt"), &["--date", "2014-06-01"]);
    let day2_text = dir.path().join("day2.txt");
    let mut text = std::fs::read_to_string(repo("data/sei/ssh-linux.txt")).unwrap();
    text.push_str(
        &std::fs::read_to_string(repo("data/sei/telnet-linux.txt"))
            .unwrap()
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    text.push('\n');
    std::fs::write(&day2_text, text).unwrap();
    let day2 = convert(&dir, &day2_text, &["--date", "2014-06-02"]);
    let base = dir.path().join("day1.parquet");
    flowlens().arg("servers").arg(&day1).args(["--format", "parquet", "-o"]).arg(&base).assert().success();
    // Known and new against the baseline; the alerts hold the new one only.
    let alerts = dir.path().join("new.ndjson");
    let out = flowlens()
        .arg("servers")
        .arg(&day2)
        .arg("--baseline")
        .arg(&base)
        .arg("--alerts")
        .arg(&alerts)
        .args(["--format", "csv", "--fail-on-new"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",status"));
    assert!(csv.contains("10.10.0.1,22,6,ssh,") && csv.contains(",known\n"), "{csv}");
    assert!(csv.contains("10.10.0.1,23,6,telnet,") && csv.contains(",new\n"), "{csv}");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&alerts).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0]["server"].as_str(), lines[0]["port"].as_u64()), (Some("10.10.0.1"), Some(23)));
    assert_eq!(lines[0]["address_known"], true);
    // Nothing new: exit 0 and an empty alerts file.
    flowlens()
        .arg("servers")
        .arg(&day1)
        .arg("--baseline")
        .arg(&base)
        .arg("--alerts")
        .arg(&alerts)
        .arg("--fail-on-new")
        .assert()
        .code(0);
    assert_eq!(std::fs::read_to_string(&alerts).unwrap(), "");
    // A baseline that is not a servers file: exit 2, with the reason.
    flowlens()
        .arg("servers")
        .arg(&day1)
        .arg("--baseline")
        .arg(&day2)
        .arg("--fail-on-new")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no column 'server'"));
}

#[test]
fn output_formats_carry_the_same_rows() {
    let dir = TempDir::new().unwrap();
    let flows = sei(&dir, "pptp-windows");
    let json = flowlens().arg("servers").arg(&flows).args(["--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["server"].as_str(), rows[0]["proto"].as_u64()), (Some("10.10.0.2"), Some(47)));
    assert_eq!(rows[1]["service"], "pptp");
    assert_eq!(rows[1]["first_seen"], "2014-06-01T00:07:36.522000Z");
    let pq = dir.path().join("s.parquet");
    flowlens().arg("servers").arg(&flows).args(["--format", "parquet", "-o"]).arg(&pq).assert().success();
    let b = flowlens::scan::read_all(&pq).unwrap();
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    let text = flowlens().arg("servers").arg(&flows).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("Server") && text.contains("1723/tcp") && text.contains("0/gre"), "{text}");
    flowlens()
        .arg("servers")
        .arg(&flows)
        .args(["--format", "parquet"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("-o FILE"));
}
