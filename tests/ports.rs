//! CLI tests for `flowlens ports`, driving the real binary on flows built here: the seed's
//! examples as golden output (`tests/data/ports/`), every output format, host names (hosts
//! file; reverse DNS against a real dnsmasq and against a server that never answers), a host
//! scanned on every port, and properties on random flows checked against a plain reference.
//!
//! The tests that need dnsmasq have `dnsmasq` in their names and are `#[ignore]`d, so that a
//! machine without it reports them as ignored rather than passed; `make test` runs them
//! (`cargo test --test ports dnsmasq -- --ignored`) when dnsmasq is installed, and there they fail
//! if it is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt16Type, UInt32Type};
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray, UInt16Array, UInt8Array};
use assert_cmd::Command;
use ipnet::IpNet;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use proptest::prelude::*;

use flowlens::ports::{HostFilter, HostSummary, PortSet, RowKey, SummaryOptions, Traffic};

const BIN: &str = env!("CARGO_BIN_EXE_flowlens");

fn flowlens() -> Command {
    Command::new(BIN)
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ports").join(name)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run flowlens");
    assert!(out.status.success(), "flowlens failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Line-by-line comparison, so that a failure shows the first differing line.
fn assert_same_text(got: &str, want: &str) {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {} differs", i + 1);
    }
    assert_eq!(got.lines().count(), want.lines().count(), "line counts differ:\n{got}");
    assert_eq!(got, want);
}

#[derive(Debug, Clone, PartialEq)]
struct Flow {
    sip: String,
    dip: String,
    sport: Option<u16>,
    dport: Option<u16>,
    proto: u8,
    packets: Option<i64>,
    bytes: Option<i64>,
}

impl Flow {
    fn new(sip: &str, dip: &str, sport: u16, dport: u16, proto: u8, packets: u64, bytes: u64) -> Flow {
        Flow {
            sip: sip.into(),
            dip: dip.into(),
            sport: Some(sport),
            dport: Some(dport),
            proto,
            packets: Some(packets as i64),
            bytes: Some(bytes as i64),
        }
    }
}

/// Writes flows as CSV text and converts it with the real binary (the path a user takes).
fn convert(dir: &Path, name: &str, flows: &[Flow]) -> PathBuf {
    let csv = dir.join(format!("{name}.csv"));
    let mut text = String::with_capacity(flows.len() * 48 + 64);
    text.push_str("sip,dip,sport,dport,proto,packets,bytes\n");
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for f in flows {
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{}",
            f.sip,
            f.dip,
            opt(f.sport.map(i64::from)),
            opt(f.dport.map(i64::from)),
            f.proto,
            opt(f.packets),
            opt(f.bytes)
        );
    }
    std::fs::write(&csv, text).unwrap();
    let out = dir.join(format!("{name}.parquet"));
    flowlens().args(["convert", "-q"]).arg(&csv).arg("-o").arg(&out).assert().success();
    out
}

/// Writes flows straight to Parquet with the flows schema (faster for big or many inputs).
fn write_parquet(path: &Path, flows: &[Flow], props: WriterProperties) {
    let schema = flowlens::schema::flow_schema(&[]);
    let n = flows.len();
    let cols: Vec<ArrayRef> = vec![
        arrow_array::new_null_array(&flowlens::schema::timestamp_type(), n),
        arrow_array::new_null_array(&flowlens::schema::timestamp_type(), n),
        Arc::new(StringArray::from_iter_values(flows.iter().map(|f| f.sip.as_str()))),
        Arc::new(StringArray::from_iter_values(flows.iter().map(|f| f.dip.as_str()))),
        Arc::new(UInt16Array::from_iter(flows.iter().map(|f| f.sport))),
        Arc::new(UInt16Array::from_iter(flows.iter().map(|f| f.dport))),
        Arc::new(UInt8Array::from_iter_values(flows.iter().map(|f| f.proto))),
        Arc::new(Int64Array::from_iter(flows.iter().map(|f| f.packets))),
        Arc::new(Int64Array::from_iter(flows.iter().map(|f| f.bytes))),
        arrow_array::new_null_array(&arrow_schema::DataType::Utf8, n),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

// ---------------------------------------------------------------------------------------------
// The seed's examples, rebuilt as flows.

/// Addresses outside every `--local` network of these tests.
fn remote(k: usize) -> String {
    format!("100.{}.{}.{}", 64 + (k >> 16) % 64, (k >> 8) & 255, k & 255)
}

/// `total` over `n` parts, as evenly as possible.
fn split(total: u64, n: usize) -> Vec<u64> {
    (0..n).map(|i| total / n as u64 + u64::from((i as u64) < total % n as u64)).collect()
}

#[derive(Clone, Copy)]
enum Shape {
    /// `p->*`: source port p with many destination ports.
    SrcMany(u16),
    /// `*->p`.
    DstMany(u16),
    /// One port pair.
    Pair(u16, u16),
}

/// Counterpart ports of collapsed rows: 50000-57999, apart from the ranges `other` uses.
fn counterpart(k: usize) -> u16 {
    50000 + (k % 8000) as u16
}

/// Splits `n` flows into incoming and outgoing so that every flow has at least one packet.
fn directions(n: usize, in_packets: u64, out_packets: u64, in_bytes: u64, out_bytes: u64) -> usize {
    if in_packets == 0 && in_bytes == 0 {
        0
    } else if out_packets == 0 && out_bytes == 0 {
        n
    } else {
        let lo = 1.max(n.saturating_sub(out_packets as usize));
        let hi = (in_packets as usize).min(n - 1);
        assert!(lo <= hi, "cannot spread {n} flows");
        (n / 2).clamp(lo, hi)
    }
}

struct HostFlows {
    host: String,
    flows: Vec<Flow>,
    next_remote: usize,
}

impl HostFlows {
    fn new(host: &str) -> Self {
        HostFlows { host: host.into(), flows: Vec::new(), next_remote: 0 }
    }

    fn flow(&mut self, incoming: bool, sport: u16, dport: u16, proto: u8, packets: u64, bytes: u64) {
        let r = remote(self.next_remote);
        self.next_remote += 1;
        let (s, d) = if incoming { (r.as_str(), self.host.as_str()) } else { (self.host.as_str(), r.as_str()) };
        self.flows.push(Flow::new(s, d, sport, dport, proto, packets, bytes));
    }

    /// One report row: `[flows, in packets, in bytes, out packets, out bytes]` in flows that
    /// print as `shape`.
    fn row(&mut self, shape: Shape, [n, ip, io, op, oo]: [u64; 5]) {
        let n = n as usize;
        let n_in = directions(n, ip, op, io, oo);
        let n_out = n - n_in;
        let (pi, bi, po, bo) = (split(ip, n_in), split(io, n_in), split(op, n_out), split(oo, n_out));
        for k in 0..n {
            let c = counterpart(k);
            let (s, d) = match shape {
                Shape::SrcMany(p) => (p, c),
                Shape::DstMany(p) => (c, p),
                Shape::Pair(s, d) => (s, d),
            };
            if k < n_in {
                self.flow(true, s, d, 6, pi[k], bi[k]);
            } else {
                self.flow(false, s, d, 6, po[k - n_in], bo[k - n_in]);
            }
        }
    }

    /// Flows that all fold into Other: one flow per port pair, no port on more than two pairs
    /// of a side (so nothing collapses), sources from `s_base`, destinations from `d_base`.
    fn other(&mut self, [n, ip, io, op, oo]: [u64; 5], s_base: u16, d_base: u16) {
        let n = n as usize;
        let n_in = directions(n, ip, op, io, oo);
        let n_out = n - n_in;
        let (pi, bi, po, bo) = (split(ip, n_in), split(io, n_in), split(op, n_out), split(oo, n_out));
        let half = n.div_ceil(2);
        for k in 0..n {
            let (s, d) = (s_base + (k / 2) as u16, d_base + (k % half) as u16);
            if k < n_in {
                self.flow(true, s, d, 6, pi[k], bi[k]);
            } else {
                self.flow(false, s, d, 6, po[k - n_in], bo[k - n_in]);
            }
        }
    }
}

// The counters below print as the seed's table cells; they were chosen (by a short script that
// inverts the K/M/G rule, independently of src/units.rs) inside the range each cell stands for,
// with in + out inside the range of the total's cell, and ties broken so that the rows keep the
// seed's order.

/// The seed's newsfeed rows (its CSV gives the exact numbers).
fn newsfeed() -> Vec<Flow> {
    let mut h = HostFlows::new("128.32.206.55");
    h.row(Shape::DstMany(119), [518, 471877, 484982747, 95359, 41749837]);
    h.row(Shape::SrcMany(119), [505, 67866, 6375734, 395801, 20807220]);
    h.row(Shape::Pair(433, 2186), [1, 4, 215, 0, 0]);
    // Other: four small flows, each below the 215 bytes of the row above.
    h.flow(true, 2001, 3001, 6, 1, 48);
    h.flow(true, 2002, 3002, 6, 2, 96);
    h.flow(false, 3003, 2003, 6, 4, 200);
    h.flow(false, 3004, 2004, 17, 3, 170);
    h.flows
}

/// The departmental web and mail server.
fn example1() -> Vec<Flow> {
    let mut h = HostFlows::new("128.32.1.1");
    h.row(Shape::SrcMany(80), [87040, 128, 42598, 1677722, 1453326336]);
    h.row(Shape::DstMany(25), [17408, 453632, 400031744, 305152, 242221055]);
    h.row(Shape::SrcMany(993), [32768, 0, 0, 657408, 419430400]);
    h.row(Shape::DstMany(80), [90112, 1363149, 175112192, 137, 8198]);
    h.row(Shape::SrcMany(995), [8192, 0, 0, 252928, 147849216]);
    h.row(Shape::DstMany(993), [32768, 527360, 54630810, 0, 0]);
    h.row(Shape::SrcMany(25), [16384, 185344, 10125312, 278528, 19713229]);
    h.row(Shape::DstMany(995), [9216, 195584, 12163482, 0, 0]);
    h.row(Shape::DstMany(53), [30720, 27648, 5330944, 29696, 2071552]);
    h.other([26624, 30720, 4117504, 40960, 5682176], 10000, 30000);
    h.flows
}

/// The kazaa host.
fn example2() -> Vec<Flow> {
    let mut h = HostFlows::new("128.32.2.2");
    h.row(Shape::SrcMany(1214), [5120, 18432, 24326963, 2411725, 2600783053]);
    h.row(Shape::DstMany(1214), [9216, 2097152, 1306001408, 15360, 733184]);
    h.row(Shape::SrcMany(3770), [46, 18432, 25794970, 0, 0]);
    h.row(Shape::SrcMany(3760), [29, 16384, 23383245, 0, 0]);
    h.row(Shape::SrcMany(1646), [29, 14336, 20761805, 0, 0]);
    h.row(Shape::SrcMany(1537), [27, 14336, 20656947, 0, 0]);
    h.row(Shape::SrcMany(3728), [34, 14336, 20552090, 0, 0]);
    h.row(Shape::SrcMany(3008), [35, 12288, 18559795, 0, 0]);
    h.row(Shape::SrcMany(2801), [23, 7578, 11114906, 7, 1096]);
    h.other([4096, 200704, 269484032, 235520, 18559795], 10000, 30000);
    h.flows
}

/// The compromised host: large transfers between random ports, and an IRC row that ranks
/// below the top 9 but is listed because 6667 is watched.
fn example3() -> Vec<Flow> {
    let mut h = HostFlows::new("128.32.3.3");
    h.row(Shape::Pair(4485, 7986), [5, 0, 0, 736256, 966787072]);
    h.row(Shape::Pair(1265, 8111), [5, 0, 0, 738304, 965738496]);
    h.row(Shape::Pair(4361, 32947), [6, 0, 0, 666624, 932184064]);
    h.row(Shape::Pair(2300, 33547), [6, 0, 0, 670720, 932179968]);
    h.row(Shape::Pair(4639, 3190), [7, 0, 0, 644096, 915406848]);
    h.row(Shape::Pair(1059, 32996), [7, 0, 0, 622592, 896532480]);
    h.row(Shape::Pair(3184, 32995), [6, 0, 0, 620544, 896528384]);
    h.row(Shape::Pair(1160, 21184), [5, 0, 0, 732160, 894435328]);
    h.row(Shape::Pair(1421, 4808), [11, 0, 0, 622592, 893386752]);
    h.row(Shape::DstMany(6667), [18, 0, 0, 161, 6623]);
    h.other([8192, 63963136, 2829582336, 87031808, 111523921919], 10000, 40000);
    h.flows
}

/// The scanned address that does not exist: incoming only, no name.
fn scanned() -> Vec<Flow> {
    let mut h = HostFlows::new("169.229.129.10");
    h.row(Shape::DstMany(137), [18, 18, 1404, 0, 0]);
    // `*->2048`: an ICMP echo (port 0 → type 8 code 0) and three TCP probes of port 2048,
    // which collapse to `*->2048` too: one row, keyed by what it prints.
    h.flow(true, 0, 2048, 1, 3, 168);
    for s in [1111, 1112, 1113] {
        h.flow(true, s, 2048, 6, 2, 98);
    }
    h.row(Shape::Pair(2330, 21), [1, 4, 240, 0, 0]);
    // Three sources on 445: not more than --many 3, so they stay apart.
    for s in [1711, 2829, 2928] {
        h.row(Shape::Pair(s, 445), [1, 3, 144, 0, 0]);
    }
    for s in [1096u16, 3259, 4769] {
        h.row(Shape::Pair(s, if s == 1096 { 1433 } else { 80 }), [1, 2, 96, 0, 0]);
    }
    // Other: two flows that tie with the rows above on bytes, packets and flows and sort
    // after them on the source port.
    h.row(Shape::Pair(5001, 23), [1, 2, 96, 0, 0]);
    h.row(Shape::Pair(5002, 22), [1, 2, 96, 0, 0]);
    h.flows
}

fn seed_examples() -> Vec<Flow> {
    let mut all = example1();
    all.extend(example2());
    all.extend(example3());
    all.extend(scanned());
    all
}

const SEED_LOCALS: [&str; 4] = ["--local", "128.32.0.0/16", "--local", "169.229.0.0/16"];

fn seed_args(cmd: &mut Command) -> &mut Command {
    cmd.args(SEED_LOCALS).arg("--hosts").arg(data("hosts")).args(["--domain", "berkeley.edu"])
}

/// The seed's four newsfeed CSV lines and four table lines, from flows, with `--top 3`.
#[test]
fn seed_newsfeed_golden() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(dir.path(), "newsfeed", &newsfeed());
    let csv = stdout_of(seed_args(flowlens().arg("ports").arg(&pq)).args(["--top", "3", "--format", "csv", "-q"]));
    assert_same_text(&csv, &read(&data("newsfeed.csv")));
    let table = stdout_of(seed_args(flowlens().arg("ports").arg(&pq)).args(["--top", "3", "-q"]));
    assert_same_text(&table, &read(&data("newsfeed.txt")));
    // -o writes the same bytes to a file.
    let out = dir.path().join("report").join("newsfeed.csv");
    seed_args(flowlens().arg("ports").arg(&pq))
        .args(["--top", "3", "--format", "csv", "-q", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(read(&out), read(&data("newsfeed.csv")));
}

/// The seed's other four tables (web/mail server, kazaa host, compromised host with its IRC
/// row, scanned address) in one report: hosts by bytes, every cell as in the seed. The golden
/// file differs from the seed only where IANA names 993 and 995 (imaps, pop3s), which the
/// seed's 2003 services table lacked.
#[test]
fn seed_examples_golden() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(dir.path(), "examples", &seed_examples());
    let table = stdout_of(seed_args(flowlens().arg("ports").arg(&pq)).arg("-q"));
    assert_same_text(&table, &read(&data("seed-examples.txt")));

    let csv = stdout_of(seed_args(flowlens().arg("ports").arg(&pq)).args(["--format", "csv", "-q"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 11 + 10 + 10 + 10);
    assert!(lines.contains(&"example3,128.32.3.3,*,6667/IRC,18,0,0,161,6623,161,6623"));
    assert!(lines.contains(&"169.229.129.10,169.229.129.10,*,2048,4,9,462,0,0,9,462"));
    assert!(lines.contains(&"169.229.129.10,169.229.129.10,-1,-1,2,4,192,0,0,4,192"));
    assert!(lines.contains(&"example1,128.32.1.1,993/imaps,*,32768,0,0,657408,419430400,657408,419430400"));
    // Only the label's service names go when the table's 13 columns cannot hold them.
    assert!(lines.contains(&"169.229.129.10,169.229.129.10,1711,445/microsoft-ds,1,3,144,0,0,3,144"));
}

/// --watch decides whether the IRC row is listed; without it the row folds into Other.
#[test]
fn watch_keeps_or_folds_the_irc_row() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(dir.path(), "example3", &example3());
    let run = |watch: Option<&str>| {
        let mut cmd = flowlens();
        seed_args(cmd.arg("ports").arg(&pq)).args(["--format", "csv", "-q"]);
        if let Some(w) = watch {
            cmd.args(["--watch", w]);
        }
        stdout_of(&mut cmd)
    };
    let default = run(None);
    assert!(default.contains("example3,128.32.3.3,*,6667/IRC,18,"));
    assert_eq!(run(Some("6667")), default);
    assert_eq!(run(Some("6660-6669,1214")), default);
    let none = run(Some("none"));
    assert!(!none.contains("6667"));
    assert_eq!(none.lines().count(), 1 + 9 + 1);
    assert!(none.ends_with(
        "example3,128.32.3.3,-1,-1,8210,63963136,2829582336,87031969,111523928542,150995105,114353510878\n"
    ));
    // A watched port that ranks in the top anyway is listed once, and IRC is not watched then.
    let top = run(Some("4485"));
    assert_eq!(top.lines().filter(|l| l.starts_with("example3,128.32.3.3,4485,7986,")).count(), 1);
    assert_eq!(top, none);
}

/// CSV, JSON and Parquet carry the same rows; JSON and Parquet type them.
#[test]
fn json_and_parquet_carry_the_csv_rows() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(dir.path(), "examples", &seed_examples());
    let csv = stdout_of(seed_args(flowlens().arg("ports").arg(&pq)).args(["--format", "csv", "-q"]));
    let csv_rows: Vec<Vec<String>> = csv.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();

    let json = stdout_of(seed_args(flowlens().arg("ports").arg(&pq)).args(["--format", "json", "-q"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(rows.len(), csv_rows.len());
    for (j, c) in rows.iter().zip(&csv_rows) {
        let other = j["other"].as_bool().unwrap();
        let label = |side: &str| -> String {
            if other {
                assert!(j[side].is_null() && j[format!("{side}_label")].is_null());
                return "-1".into();
            }
            if j[format!("{side}_any")].as_bool().unwrap() {
                assert!(j[side].is_null());
            } else {
                let port = j[side].as_u64().unwrap();
                let label = j[format!("{side}_label")].as_str().unwrap();
                assert!(label.starts_with(&port.to_string()));
                match j[format!("{side}_service")].as_str() {
                    Some(s) => assert_eq!(label, format!("{port}/{s}")),
                    None => assert_eq!(label, port.to_string()),
                }
            }
            j[format!("{side}_label")].as_str().unwrap().to_string()
        };
        let mut got = vec![j["hostname"].as_str().unwrap().to_string(), j["ip"].as_str().unwrap().to_string()];
        got.push(label("sport"));
        got.push(label("dport"));
        for k in ["flows", "in_packets", "in_bytes", "out_packets", "out_bytes", "total_packets", "total_bytes"] {
            got.push(j[k].as_u64().unwrap().to_string());
        }
        assert_eq!(&got, c);
    }
    assert_eq!(rows[0]["host_rank"], 1);
    assert_eq!(rows[0]["row"], 1);
    assert_eq!(rows.last().unwrap()["host_rank"], 4);

    let out = dir.path().join("ports.parquet");
    seed_args(flowlens().arg("ports").arg(&pq)).args(["--format", "parquet", "-q", "-o"]).arg(&out).assert().success();
    let batches = flowlens::scan::read_all(&out).unwrap();
    let schema = batches[0].schema();
    assert_eq!(schema.field_with_name("sport").unwrap().data_type(), &arrow_schema::DataType::UInt16);
    assert_eq!(schema.field_with_name("total_bytes").unwrap().data_type(), &arrow_schema::DataType::Int64);
    let mut i = 0;
    for b in &batches {
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let (hostname, ip, other) = (col("hostname"), col("ip"), col("other"));
        let (sport, sport_any, dport_label) = (col("sport"), col("sport_any"), col("dport_label"));
        let (flows, tb, rank) = (col("flows"), col("total_bytes"), col("host_rank"));
        for r in 0..b.num_rows() {
            let c = &csv_rows[i];
            assert_eq!(hostname.as_string::<i32>().value(r), c[0]);
            assert_eq!(ip.as_string::<i32>().value(r), c[1]);
            let is_other = other.as_boolean().value(r);
            assert_eq!(is_other, c[2] == "-1");
            let s = sport.as_primitive::<UInt16Type>();
            if is_other || sport_any.as_boolean().value(r) {
                assert!(s.is_null(r));
            } else {
                assert!(c[2].starts_with(&s.value(r).to_string()));
            }
            if !is_other {
                assert_eq!(dport_label.as_string::<i32>().value(r), c[3]);
            }
            assert_eq!(flows.as_primitive::<Int64Type>().value(r).to_string(), c[4]);
            assert_eq!(tb.as_primitive::<Int64Type>().value(r).to_string(), c[10]);
            assert!(rank.as_primitive::<UInt32Type>().value(r) >= 1);
            i += 1;
        }
    }
    assert_eq!(i, csv_rows.len());
}

#[test]
fn top_hosts_and_multiple_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for (day, flows) in [("2003-02-20", example1()), ("2003-02-21", example2()), ("2003-02-22", example3())] {
        let d = store.join(format!("date={day}"));
        std::fs::create_dir_all(&d).unwrap();
        convert(&d, "part-0", &flows);
        std::fs::remove_file(d.join("part-0.csv")).unwrap();
    }
    let d = store.join("date=2003-02-23");
    std::fs::create_dir_all(&d).unwrap();
    let part = convert(&d, "part-0", &scanned());
    std::fs::remove_file(d.join("part-0.csv")).unwrap();
    // The same report from a hive folder as from one file.
    let table = stdout_of(seed_args(flowlens().arg("ports").arg(&store)).arg("-q"));
    assert_same_text(&table, &read(&data("seed-examples.txt")));
    // A folder and a file given together are read as one set of flows.
    let both = stdout_of(
        seed_args(flowlens().arg("ports").arg(store.join("date=2003-02-20")).arg(&part))
            .args(["--format", "csv", "-q"]),
    );
    assert!(both.lines().nth(1).unwrap().starts_with("example1,"));
    assert!(both.lines().last().unwrap().starts_with("169.229.129.10,"));
    // --top-hosts keeps the first hosts by bytes.
    let top2 =
        stdout_of(seed_args(flowlens().arg("ports").arg(&store)).args(["--top-hosts", "2", "--format", "csv", "-q"]));
    let hosts: BTreeSet<&str> = top2.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(hosts, BTreeSet::from(["example2", "example3"]));
    // Serial and parallel runs agree.
    let serial =
        stdout_of(seed_args(flowlens().arg("ports").arg(&store)).args(["--threads", "1", "--format", "csv", "-q"]));
    let parallel =
        stdout_of(seed_args(flowlens().arg("ports").arg(&store)).args(["--threads", "4", "--format", "csv", "-q"]));
    assert_eq!(serial, parallel);
}

/// Without --local every address is a host (the remote peers too); with a services file the
/// labels follow it.
#[test]
fn all_addresses_and_services_file() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(dir.path(), "newsfeed", &newsfeed());
    let csv = stdout_of(flowlens().arg("ports").arg(&pq).args(["--format", "csv", "-q"]));
    let hosts: BTreeSet<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(hosts.len(), 1 + 518 + 505 + 1 + 4, "the host and one peer per flow");
    // The host comes first (most bytes); a peer's row is its one flow, seen from its side.
    assert!(csv.lines().nth(1).unwrap().starts_with("128.32.206.55,128.32.206.55,*,119/nntp,518,"));
    let peer = csv.lines().find(|l| l.starts_with("100.64.0.0,")).unwrap();
    assert_eq!(peer.split(',').nth(3).unwrap(), "119/nntp");
    let services = dir.path().join("services");
    std::fs::write(&services, "news 119/tcp\n").unwrap();
    let csv = stdout_of(
        seed_args(flowlens().arg("ports").arg(&pq))
            .args(["--top", "3", "--format", "csv", "-q", "--services"])
            .arg(&services),
    );
    assert!(csv.contains("newsfeed,128.32.206.55,*,119/news,518,"));
    assert!(csv.contains("newsfeed,128.32.206.55,433,2186,1,"));
}

#[test]
fn usage_errors_exit_2_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(dir.path(), "newsfeed", &newsfeed());
    let cases: [(&[&str], &str); 6] = [
        (&["--format", "parquet"], "-o FILE"),
        (&["--local", "128.32.0.0/33"], "--local '128.32.0.0/33' is not a network"),
        (&["--watch", "6660-66x"], "--watch"),
        (&["--resolve", "--resolver", "dns.example"], "is not an address"),
        (&["--hosts", "/nonexistent/hosts"], "/nonexistent/hosts"),
        (&["--resolve", "--resolve-timeout", "soon"], "--resolve-timeout"),
    ];
    for (args, msg) in cases {
        let out = flowlens().arg("ports").arg(&pq).args(args).arg("--no-dns-cache").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    let not_flows = dir.path().join("not-flows.parquet");
    write_report_like(&not_flows);
    let out = flowlens().arg("ports").arg(&not_flows).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no column 'sport'"));
    // A failed run leaves no output file behind.
    let target = dir.path().join("never.csv");
    flowlens().arg("ports").arg(&not_flows).arg("-o").arg(&target).assert().code(2);
    assert!(!target.exists());
}

fn write_report_like(path: &Path) {
    let schema =
        Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new("sip", arrow_schema::DataType::Utf8, false)]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["10.0.0.1"])) as ArrayRef]).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Files whose address columns are not dictionary-encoded (another writer's) or are
/// LargeUtf8 give the same report as flowlens's own files.
#[test]
fn plain_and_large_string_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let flows = example2();
    let own = convert(dir.path(), "own", &flows);
    let plain = dir.path().join("plain.parquet");
    write_parquet(&plain, &flows, WriterProperties::builder().set_dictionary_enabled(false).build());
    let large = dir.path().join("large.parquet");
    {
        let schema = Arc::new(arrow_schema::Schema::new(
            flowlens::schema::core_fields()
                .into_iter()
                .map(|f| {
                    if f.name() == "sip" || f.name() == "dip" {
                        f.with_data_type(arrow_schema::DataType::LargeUtf8)
                    } else {
                        f
                    }
                })
                .collect::<Vec<_>>(),
        ));
        let n = flows.len();
        let cols: Vec<ArrayRef> = vec![
            arrow_array::new_null_array(&flowlens::schema::timestamp_type(), n),
            arrow_array::new_null_array(&flowlens::schema::timestamp_type(), n),
            Arc::new(arrow_array::LargeStringArray::from_iter_values(flows.iter().map(|f| f.sip.as_str()))),
            Arc::new(arrow_array::LargeStringArray::from_iter_values(flows.iter().map(|f| f.dip.as_str()))),
            Arc::new(UInt16Array::from_iter(flows.iter().map(|f| f.sport))),
            Arc::new(UInt16Array::from_iter(flows.iter().map(|f| f.dport))),
            Arc::new(UInt8Array::from_iter_values(flows.iter().map(|f| f.proto))),
            Arc::new(Int64Array::from_iter(flows.iter().map(|f| f.packets))),
            Arc::new(Int64Array::from_iter(flows.iter().map(|f| f.bytes))),
            arrow_array::new_null_array(&arrow_schema::DataType::Utf8, n),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(1000)).build();
        let mut w = ArrowWriter::try_new(std::fs::File::create(&large).unwrap(), schema, Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let report = |p: &Path| stdout_of(seed_args(flowlens().arg("ports").arg(p)).args(["--format", "csv", "-q"]));
    let want = report(&own);
    assert!(want.lines().count() > 5);
    assert_eq!(report(&plain), want);
    assert_eq!(report(&large), want);
}

/// IPv6 hosts, IPv6 --local, and a host talking to itself (one flow, both directions).
#[test]
fn ipv6_and_self_flows() {
    let dir = tempfile::tempdir().unwrap();
    let flows = vec![
        Flow::new("2001:db8::5", "2001:db8:ffff::1", 40000, 443, 6, 10, 1000),
        Flow::new("2001:db8:ffff::1", "2001:db8::5", 443, 40000, 6, 12, 9000),
        Flow::new("2001:db8::5", "2001:db8::5", 5353, 5353, 17, 1, 100),
        Flow::new("10.0.0.1", "2001:db8::5", 1, 2, 6, 1, 1),
        Flow::new("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 7),
    ];
    let pq = convert(dir.path(), "v6", &flows);
    let csv = stdout_of(flowlens().arg("ports").arg(&pq).args(["--local", "2001:db8::/48", "--format", "csv", "-q"]));
    assert_same_text(
        &csv,
        "hostname,ip,sport,dport,flows,in_packets,in_bytes,out_packets,out_bytes,total_packets,total_bytes\n\
         2001:db8::5,2001:db8::5,443/https,40000,1,12,9000,0,0,12,9000\n\
         2001:db8::5,2001:db8::5,40000,443/https,1,0,0,10,1000,10,1000\n\
         2001:db8::5,2001:db8::5,5353/mdns,5353/mdns,1,1,100,1,100,2,200\n\
         2001:db8::5,2001:db8::5,1/tcpmux,2,1,1,1,0,0,1,1\n",
    );
    // Hosts are ordered by bytes, then address: IPv4 before IPv6 on a tie.
    let no_names = dir.path().join("no-services");
    std::fs::write(&no_names, "").unwrap();
    let csv = stdout_of(flowlens().arg("ports").arg(&pq).args(["--format", "csv", "-q", "--services"]).arg(&no_names));
    let hosts: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    let mut uniq = hosts.clone();
    uniq.dedup();
    assert_eq!(uniq, ["2001:db8::5", "2001:db8:ffff::1", "10.0.0.1", "10.0.0.2"]);
}

// ---------------------------------------------------------------------------------------------
// Names: hosts file and reverse DNS.

fn find_dnsmasq() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join("dnsmasq")).find(|p| p.is_file())
}

/// A dnsmasq answering PTR queries from a hosts file on 127.0.0.1; stopped on drop.
struct Dnsmasq {
    child: std::process::Child,
    addr: String,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails when dnsmasq is not installed: the tests that call this are ignored unless asked for.
fn start_dnsmasq(hosts: &Path) -> Dnsmasq {
    let Some(bin) = find_dnsmasq() else {
        panic!("dnsmasq is not installed (apt-get install dnsmasq): this test needs it");
    };
    let user = std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "nobody".into());
    // An empty configuration file of our own: the test must not depend on /dev/null.
    let conf = hosts.with_file_name("dnsmasq.conf");
    std::fs::write(&conf, "").unwrap();
    for _ in 0..5 {
        // A port that was free a moment ago.
        let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = std::process::Command::new(&bin)
            .args([
                "--keep-in-foreground",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--bogus-priv",
                "--pid-file=",
                "--cache-size=0",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--conf-file={}", conf.display()))
            .arg(format!("--addn-hosts={}", hosts.display()))
            .arg(format!("--user={user}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let addr = format!("127.0.0.1:{port}");
        let server = addr.parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            let probe = flowlens::resolve::lookup("128.32.206.55".parse().unwrap(), server, Duration::from_millis(200));
            if matches!(probe, flowlens::resolve::Answer::Name(_)) {
                return Dnsmasq { child, addr };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("dnsmasq did not start answering on 127.0.0.1");
}

fn dns_flows() -> Vec<Flow> {
    let peer = "100.64.0.1";
    let mut flows = Vec::new();
    for (i, host) in ["128.32.206.55", "128.32.3.3", "2001:db8::5", "10.1.1.1", "128.32.1.1"].iter().enumerate() {
        flows.push(Flow::new(peer, host, 1000, 80, 6, 10, 10_000 - i as u64));
    }
    flows
}

fn dns_args(cmd: &mut Command) -> &mut Command {
    cmd.args(["--local", "128.32.0.0/16", "--local", "2001:db8::/32", "--local", "10.0.0.0/8"]).args([
        "--domain",
        "berkeley.edu",
        "--format",
        "csv",
    ])
}

fn names_of(csv: &str) -> Vec<String> {
    let mut v: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect();
    v.dedup();
    v
}

/// Names from a real DNS server; misses print the address; answers and NXDOMAIN are cached,
/// failures are not.
///
/// Issue 19: without dnsmasq this test used to print SKIPPED on stderr and report `ok`.
#[test]
#[ignore = "needs dnsmasq (apt-get install dnsmasq); make test runs it when dnsmasq is installed"]
fn reverse_dns_against_dnsmasq() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("zone-hosts");
    std::fs::write(
        &zone,
        "128.32.206.55 newsfeed.berkeley.edu\n2001:db8::5 v6.berkeley.edu\n128.32.1.1 example1.berkeley.edu\n",
    )
    .unwrap();
    // dnsmasq may drop to another user before reading it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&zone, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let dns = start_dnsmasq(&zone);
    let pq = convert(dir.path(), "dns", &dns_flows());
    let cache = dir.path().join("cache").join("rdns.tsv");
    let hosts = dir.path().join("hosts");
    // The hosts file wins over DNS for what it names.
    std::fs::write(&hosts, "128.32.1.1 www.berkeley.edu\n").unwrap();

    let out = dns_args(flowlens().arg("ports").arg(&pq))
        .args(["--resolve", "--resolver", &dns.addr, "--dns-cache"])
        .arg(&cache)
        .arg("--hosts")
        .arg(&hosts)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(names_of(&String::from_utf8_lossy(&out.stdout)), ["newsfeed", "128.32.3.3", "v6", "10.1.1.1", "www"]);
    // 128.32.3.3: dnsmasq has no upstream and refuses (a failure, not cached); 10.1.1.1:
    // private, answered NXDOMAIN (cached as "no name").
    assert!(
        stderr.contains("reverse DNS for 4 addresses: 0 from the cache, 4 asked: 2 names, 1 without a name, 1 failed"),
        "{stderr}"
    );
    let cached = read(&cache);
    assert!(cached.contains("128.32.206.55\tnewsfeed.berkeley.edu\t"), "{cached}");
    assert!(cached.contains("2001:db8::5\tv6.berkeley.edu\t"), "{cached}");
    assert!(cached.contains("10.1.1.1\t\t"), "{cached}");
    assert!(!cached.contains("128.32.3.3"), "failures are not cached: {cached}");
}

/// A cache file answers for the addresses it holds while they are fresh; a server that never
/// answers costs one timeout for the others, not one per host.
#[test]
fn dns_cache_and_a_silent_server() {
    let dir = tempfile::tempdir().unwrap();
    let pq = convert(dir.path(), "dns", &dns_flows());
    let cache = dir.path().join("rdns.tsv");
    // The cache as `ports --resolve` writes it (the test above checks these lines), asked a
    // minute ago.
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 60;
    std::fs::write(
        &cache,
        format!(
            "# flowlens reverse DNS cache: address, name (empty: none), unix time asked\n\
             10.1.1.1\t\t{at}\n128.32.206.55\tnewsfeed.berkeley.edu\t{at}\n2001:db8::5\tv6.berkeley.edu\t{at}\n"
        ),
    )
    .unwrap();

    // A server that never answers: a bound socket nobody reads.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let t = Instant::now();
    let out = dns_args(flowlens().arg("ports").arg(&pq))
        .args(["--resolve", "--resolver", &silent_addr, "--resolve-timeout", "700ms", "--dns-cache"])
        .arg(&cache)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The cache answers for three; the two others wait for one timeout, in parallel.
    assert_eq!(
        names_of(&String::from_utf8_lossy(&out.stdout)),
        ["newsfeed", "128.32.3.3", "v6", "10.1.1.1", "128.32.1.1"]
    );
    assert!(stderr.contains("3 from the cache, 2 asked: 0 names, 0 without a name, 2 failed"), "{stderr}");
    assert!(took >= Duration::from_millis(700), "it did wait: {took:?}");
    assert!(took < Duration::from_millis(3000), "one timeout, not one per host: {took:?}");

    // An expired cache is not used.
    let out = dns_args(flowlens().arg("ports").arg(&pq))
        .args(["--resolve", "--resolver", &silent_addr, "--resolve-timeout", "300ms", "--dns-cache-ttl", "0"])
        .arg("--dns-cache")
        .arg(&cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(names_of(&stdout), ["128.32.206.55", "128.32.3.3", "2001:db8::5", "10.1.1.1", "128.32.1.1"]);
}

/// Many hosts against a silent server: lookups run in parallel, each bounded by its timeout.
#[test]
fn silent_resolver_many_hosts_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let flows: Vec<Flow> = (0..300)
        .map(|i| Flow::new("100.64.0.1", &format!("10.0.{}.{}", i / 250, i % 250 + 1), 1, 80, 6, 1, 40))
        .collect();
    let pq = convert(dir.path(), "many", &flows);
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = Instant::now();
    let csv = stdout_of(flowlens().arg("ports").arg(&pq).args([
        "--local",
        "10.0.0.0/8",
        "--format",
        "csv",
        "-q",
        "--no-dns-cache",
        "--resolve",
        "--resolve-timeout",
        "1s",
        "--resolve-parallel",
        "100",
        "--resolver",
        &silent.local_addr().unwrap().to_string(),
    ]));
    let took = t.elapsed();
    assert_eq!(csv.lines().count(), 301);
    assert!(csv.lines().skip(1).all(|l| l.split(',').next() == l.split(',').nth(1)), "addresses printed");
    // 300 lookups, 100 at a time, 1 s each: about 3 s, not 300 s.
    assert!(took >= Duration::from_secs(3), "{took:?}");
    assert!(took < Duration::from_secs(12), "{took:?}");
}

// ---------------------------------------------------------------------------------------------
// A host scanned on all 65,535 ports from thousands of sources.

/// 3,000 scanners, each from its own fixed source port, probe every port of one host four
/// times over (four scanners per port), and the whole scan is repeated: 786,420 flows in
/// 262,140 distinct (sport, dport) groups. Each scanner's port is paired with ~87 ports, each
/// probed port with 4 source ports, so every group collapses to `scanner-port->*`: 3,000 rows,
/// 9 listed and the rest in Other. What is held is the groups, not the rows.
#[test]
fn host_scanned_on_every_port() {
    let dir = tempfile::tempdir().unwrap();
    let victim = "10.9.9.9";
    let scanners: Vec<String> = (0..3000).map(remote).collect();
    let reps = 3;
    let mut flows = Vec::with_capacity(65535 * 4 * reps);
    for _ in 0..reps {
        for p in 1..=65535u32 {
            for r in 0..4 {
                let m = (4 * (p - 1) + r) as usize;
                let j = m % 3000;
                // A few scanners send bigger probes, so that the top rows are theirs.
                let bytes = if j % 1000 == 7 { 60 } else { 40 };
                flows.push(Flow::new(&scanners[j], victim, 40000 + j as u16, p as u16, 6, 1, bytes));
            }
        }
    }
    let pq = dir.path().join("scan.parquet");
    write_parquet(&pq, &flows, flowlens::schema::writer_properties());
    let (report, stats) = library_run(&pq, &["10.0.0.0/8"], &SummaryOptions::default(), 2);
    assert_eq!(stats.rows, flows.len() as u64);
    assert_eq!(stats.groups, 262_140, "memory is per group, not per row");
    assert_eq!(report.len(), 1);
    let h = &report[0];
    assert_eq!(h.rows.len(), 10);
    for r in &h.rows[..9] {
        match r.key {
            RowKey::Ports { sport, dport: 0 } => assert!((40000..43000).contains(&sport)),
            k => panic!("unexpected row {k:?}"),
        }
    }
    assert_eq!(h.rows[9].key, RowKey::Other);
    // Scanners 7, 1007, 2007 (the 60-byte ones) rank first, then by port.
    let top: Vec<u16> =
        h.rows[..3].iter().map(|r| if let RowKey::Ports { sport, .. } = r.key { sport } else { 0 }).collect();
    assert_eq!(top, [40007, 41007, 42007]);
    assert_eq!(sum_rows(h), h.total);
    assert_eq!(h.total.flows, flows.len() as u64);
    assert_eq!(h, &reference(&flows, &["10.0.0.0/8".parse().unwrap()], &SummaryOptions::default())[0]);

    // The binary agrees, and stays small (peak RSS, where /usr/bin/time can tell).
    let csv = stdout_of(flowlens().arg("ports").arg(&pq).args(["--local", "10.0.0.0/8", "--format", "csv", "-q"]));
    assert_eq!(csv.lines().count(), 11);
    assert!(csv.lines().nth(1).unwrap().starts_with("10.9.9.9,10.9.9.9,40007,*,"));
    if Path::new("/usr/bin/time").exists() {
        let out = std::process::Command::new("/usr/bin/time")
            .args(["-f", "maxrss_kb=%M", BIN, "ports"])
            .arg(&pq)
            .args(["--local", "10.0.0.0/8", "-q", "-o"])
            .arg(dir.path().join("scan.txt"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let kb: u64 = err
            .lines()
            .find_map(|l| l.strip_prefix("maxrss_kb="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no RSS in {err}"));
        assert!(kb < 256 * 1024, "peak RSS {kb} KiB for 262,140 groups");
    }
}

// ---------------------------------------------------------------------------------------------
// Properties against a plain reference implementation of DESIGN.md's semantics.

fn sum_rows(h: &HostSummary) -> Traffic {
    let mut t = Traffic::default();
    for r in &h.rows {
        t.add(&r.traffic);
    }
    t
}

/// The library's report on a pool of `threads` threads.
fn library_run(
    pq: &Path,
    local: &[&str],
    opts: &SummaryOptions,
    threads: usize,
) -> (Vec<HostSummary>, flowlens::ports::ScanStats) {
    let nets: Vec<IpNet> = local.iter().map(|n| n.parse().unwrap()).collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let r = pool
        .install(|| flowlens::ports::build_report(&[pq.to_path_buf()], &HostFilter::new(&nets), opts, None))
        .unwrap();
    (r.hosts, r.stats)
}

/// DESIGN.md's port summary, written as plainly as possible.
fn reference(flows: &[Flow], local: &[IpNet], opts: &SummaryOptions) -> Vec<HostSummary> {
    let is_host = |ip: IpAddr| local.is_empty() || local.iter().any(|n| n.contains(&ip));
    // host → (sport, dport) → traffic
    let mut groups: BTreeMap<IpAddr, BTreeMap<(u16, u16), Traffic>> = BTreeMap::new();
    for f in flows {
        let (s, d): (IpAddr, IpAddr) = (f.sip.parse().unwrap(), f.dip.parse().unwrap());
        let key = (f.sport.unwrap_or(0), f.dport.unwrap_or(0));
        let (p, b) = (f.packets.unwrap_or(0).max(0) as u64, f.bytes.unwrap_or(0).max(0) as u64);
        if is_host(s) {
            let t = groups.entry(s).or_default().entry(key).or_default();
            t.flows += 1;
            t.out_packets += p;
            t.out_bytes += b;
        }
        if is_host(d) {
            let t = groups.entry(d).or_default().entry(key).or_default();
            if s != d {
                t.flows += 1;
            }
            t.in_packets += p;
            t.in_bytes += b;
        }
    }
    let mut out = Vec::new();
    for (host, g) in groups {
        let mut dsts_of: BTreeMap<u16, BTreeSet<u16>> = BTreeMap::new();
        let mut srcs_of: BTreeMap<u16, BTreeSet<u16>> = BTreeMap::new();
        for &(s, d) in g.keys() {
            dsts_of.entry(s).or_default().insert(d);
            srcs_of.entry(d).or_default().insert(s);
        }
        let mut rows: BTreeMap<(u16, u16), Traffic> = BTreeMap::new();
        let mut total = Traffic::default();
        for (&(s, d), t) in &g {
            let (ns, nd) = (dsts_of[&s].len() as u32, srcs_of[&d].len() as u32);
            let src_many = ns > opts.many;
            let dst_many = nd > opts.many;
            let key = if src_many && (!dst_many || ns > nd || (ns == nd && s < d)) {
                (s, 0)
            } else if dst_many {
                (0, d)
            } else {
                (s, d)
            };
            rows.entry(key).or_default().add(t);
            total.add(t);
        }
        let mut rows: Vec<((u16, u16), Traffic)> = rows.into_iter().collect();
        rows.sort_by(|a, b| {
            (b.1.total_bytes(), b.1.total_packets(), b.1.flows, a.0 .0, a.0 .1).cmp(&(
                a.1.total_bytes(),
                a.1.total_packets(),
                a.1.flows,
                b.0 .0,
                b.0 .1,
            ))
        });
        let mut listed = Vec::new();
        let mut other: Option<Traffic> = None;
        for (i, ((s, d), t)) in rows.into_iter().enumerate() {
            let watched = (s != 0 && opts.watch.contains(s)) || (d != 0 && opts.watch.contains(d));
            if i < opts.top || watched {
                listed.push(flowlens::ports::PortRow { key: RowKey::Ports { sport: s, dport: d }, traffic: t });
            } else {
                other.get_or_insert_with(Traffic::default).add(&t);
            }
        }
        if let Some(t) = other {
            listed.push(flowlens::ports::PortRow { key: RowKey::Other, traffic: t });
        }
        out.push(HostSummary { addr: host, total, rows: listed });
    }
    out.sort_by(|a, b| b.total.total_bytes().cmp(&a.total.total_bytes()).then(a.addr.cmp(&b.addr)));
    out
}

const ADDRS: [&str; 8] =
    ["10.0.0.1", "10.0.0.2", "10.0.0.3", "192.0.2.9", "198.51.100.7", "2001:db8::1", "2001:db8::2", "::ffff:1.2.3.4"];

fn arb_flow() -> impl Strategy<Value = Flow> {
    let port = prop_oneof![Just(0u16), 1u16..6, 6660u16..6663, 40000u16..40008];
    (
        0..ADDRS.len(),
        0..ADDRS.len(),
        proptest::option::weighted(0.97, port.clone()),
        proptest::option::weighted(0.97, port),
        proptest::option::weighted(0.97, 0i64..2000),
        proptest::option::weighted(0.97, 0i64..3_000_000),
    )
        .prop_map(|(s, d, sport, dport, packets, bytes)| Flow {
            sip: ADDRS[s].into(),
            dip: ADDRS[d].into(),
            sport,
            dport,
            proto: 6,
            packets,
            bytes,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every host's rows, Other included, add up exactly to its totals; the report equals the
    /// plain reference; a parallel run over many small row groups equals a serial one.
    #[test]
    fn rows_sum_to_totals_and_match_the_reference(
        flows in proptest::collection::vec(arb_flow(), 1..400),
        many in 0u32..5,
        top in 0usize..6,
        local in proptest::sample::select(vec![vec![], vec!["10.0.0.0/24"], vec!["10.0.0.0/24", "2001:db8::/32"]]),
        watch in proptest::sample::select(vec!["", "6660-6669", "1,3,40001"]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let pq = dir.path().join("f.parquet");
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(37)).build();
        write_parquet(&pq, &flows, props);
        let opts = SummaryOptions { many, top, watch: PortSet::parse_list(watch).unwrap() };
        let (serial, _) = library_run(&pq, &local, &opts, 1);
        let (parallel, stats) = library_run(&pq, &local, &opts, 4);
        prop_assert_eq!(&serial, &parallel);
        prop_assert_eq!(stats.rows, flows.len() as u64);
        for h in &serial {
            prop_assert_eq!(sum_rows(h), h.total);
            let keys: BTreeSet<(u8, u16, u16)> = h
                .rows
                .iter()
                .map(|r| match r.key {
                    RowKey::Ports { sport, dport } => (0, sport, dport),
                    RowKey::Other => (1, 0, 0),
                })
                .collect();
            prop_assert_eq!(keys.len(), h.rows.len(), "each printed key once");
        }
        let nets: Vec<IpNet> = local.iter().map(|n| n.parse().unwrap()).collect();
        prop_assert_eq!(serial, reference(&flows, &nets, &opts));
    }
}
