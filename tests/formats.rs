//! `flowlens convert` on what real exporters print (tests/data/formats/, made by
//! scripts/make-fixtures.sh from real traffic, or real Zeek logs): every format auto-detected, and
//! every conversion's totals equal to the exporter's own figures (nfdump's Summary, Argus's
//! racount, Zeek's counters). Two independent captures (services, scan) go through each path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
use arrow_array::{Array, RecordBatch};
use assert_cmd::Command;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const CAPTURES: [&str; 2] = ["services", "scan"];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats").join(name)
}

fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("the flowlens binary")
}

/// Converts `inputs` with `args`, returning the batches and stderr.
fn convert(inputs: &[PathBuf], args: &[&str]) -> (Vec<RecordBatch>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.parquet");
    let assert = flowlens().arg("convert").args(inputs).arg("-o").arg(&out).args(args).assert().success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let file = std::fs::File::open(&out).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    (reader.map(Result::unwrap).collect(), stderr)
}

/// Row count and packet/byte sums (nulls count as nothing).
#[derive(Debug, PartialEq, Eq, Default)]
struct Totals {
    rows: u64,
    packets: i64,
    bytes: i64,
}

fn totals(batches: &[RecordBatch]) -> Totals {
    let mut t = Totals::default();
    for b in batches {
        t.rows += b.num_rows() as u64;
        t.packets += b.column_by_name("packets").unwrap().as_primitive::<Int64Type>().iter().flatten().sum::<i64>();
        t.bytes += b.column_by_name("bytes").unwrap().as_primitive::<Int64Type>().iter().flatten().sum::<i64>();
    }
    t
}

/// How many rows have each value of a Utf8 extra column.
fn count_by(batches: &[RecordBatch], column: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for b in batches {
        let c = b.column_by_name(column).unwrap_or_else(|| panic!("no column {column}")).as_string::<i32>();
        for v in c.iter() {
            *m.entry(v.unwrap_or("<null>").to_string()).or_default() += 1;
        }
    }
    m
}

/// `key=value` lines (the .totals files).
fn key_values(path: &Path) -> BTreeMap<String, i64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap()))
        .collect()
}

/// The number of flow records ra prints (management records left out).
fn ra_records(capture: &str) -> i64 {
    key_values(&data(&format!("argus-{capture}.totals")))["records"]
}

/// racount's `sum` line, by its column names.
fn racount(capture: &str) -> BTreeMap<String, i64> {
    let text = std::fs::read_to_string(data(&format!("argus-{capture}.racount"))).unwrap();
    let mut lines = text.lines();
    let names: Vec<&str> = lines.next().unwrap().split_whitespace().skip(1).collect();
    let sums: Vec<i64> = lines.next().unwrap().split_whitespace().skip(1).map(|v| v.parse().unwrap()).collect();
    assert_eq!(names.len(), sums.len());
    names.into_iter().map(String::from).zip(sums).collect()
}

fn nfdump_summary(capture: &str) -> flowlens::ingest::nfdump::Summary {
    let text = std::fs::read_to_string(data(&format!("nfdump-{capture}.csv"))).unwrap();
    flowlens::ingest::nfdump::summary(&text).expect("nfdump's Summary trailer")
}

/// The capture's date, for ra's time-of-day-only StartTime: from the binetflow made from the
/// same Argus file, whose times carry their date (`2026/11/23 05:09:12.780343`).
fn capture_date(capture: &str) -> String {
    let text = std::fs::read_to_string(data(&format!("{capture}.binetflow"))).unwrap();
    let first = text.lines().nth(1).unwrap();
    first[..10].replace('/', "-")
}

fn column_u16(batches: &[RecordBatch], name: &str) -> Vec<Option<u16>> {
    batches
        .iter()
        .flat_map(|b| b.column_by_name(name).unwrap().as_primitive::<UInt16Type>().iter().collect::<Vec<_>>())
        .collect()
}

fn column_u8(batches: &[RecordBatch], name: &str) -> Vec<Option<u8>> {
    batches
        .iter()
        .flat_map(|b| b.column_by_name(name).unwrap().as_primitive::<UInt8Type>().iter().collect::<Vec<_>>())
        .collect()
}

#[test]
fn nfdump_classic_equals_its_summary() {
    for cap in CAPTURES {
        let (batches, stderr) = convert(&[data(&format!("nfdump-{cap}.csv"))], &[]);
        assert!(stderr.contains("(nfdump)"), "{stderr}");
        let s = nfdump_summary(cap);
        let t = totals(&batches);
        assert_eq!(t, Totals { rows: s.flows, packets: s.packets as i64, bytes: s.bytes as i64 }, "{cap}");
        assert!(s.flows > 10, "{cap}: a real capture, not an empty one");
        // nfdump prints flags for every record: never null; TCP rows have some.
        let flags = count_by(&batches, "flags");
        assert!(!flags.contains_key("<null>"), "{flags:?}");
        assert!(flags.keys().any(|f| f.contains('S')), "{flags:?}");
    }
}

#[test]
fn nfdump_later_layouts_equal_the_same_summary() {
    for cap in CAPTURES {
        let s = nfdump_summary(cap);
        let want = Totals { rows: s.flows, packets: s.packets as i64, bytes: s.bytes as i64 };
        let (new, _) = convert(&[data(&format!("nfdump175-{cap}.csv"))], &[]);
        let (fast, _) = convert(&[data(&format!("nfdumpfast-{cap}.csv"))], &["--format", "nfdump"]);
        let (classic, _) = convert(&[data(&format!("nfdump-{cap}.csv"))], &[]);
        assert_eq!(totals(&new), want, "{cap} 1.7.5 csv");
        assert_eq!(totals(&fast), want, "{cap} csv-fast");
        // The three layouts of one nfcapd file agree row by row on ports (ICMP type.code,
        // type*256+code and the classic number all land in dport the same way) and protocols.
        assert_eq!(column_u16(&new, "dport"), column_u16(&classic, "dport"), "{cap}");
        assert_eq!(column_u16(&fast, "dport"), column_u16(&classic, "dport"), "{cap}");
        assert_eq!(column_u8(&new, "proto"), column_u8(&fast, "proto"), "{cap}");
        let st = |b: &[RecordBatch]| -> Vec<i64> {
            b.iter()
                .flat_map(|b| {
                    b.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>().values().to_vec()
                })
                .collect()
        };
        assert_eq!(st(&new), st(&fast), "{cap}: milliseconds as text and as epoch numbers");
    }
    // The scan capture's port-unreachable answer: ICMP type 3 code 3.
    let (scan, _) = convert(&[data("nfdump175-scan.csv")], &[]);
    let icmp: Vec<(Option<u8>, Option<u16>)> =
        column_u8(&scan, "proto").into_iter().zip(column_u16(&scan, "dport")).filter(|(p, _)| *p == Some(1)).collect();
    assert_eq!(icmp, [(Some(1), Some(3 * 256 + 3))]);
}

#[test]
fn argus_per_direction_equals_racount() {
    for cap in CAPTURES {
        let rc = racount(cap);
        let date = capture_date(cap);
        for (file, args) in
            [(format!("argus-{cap}-dir.csv"), vec![]), (format!("argus-{cap}-dir.tsv"), vec!["--date", date.as_str()])]
        {
            let (batches, stderr) = convert(&[data(&file)], &args);
            assert!(stderr.contains("(argus)"), "{stderr}");
            let t = totals(&batches);
            assert_eq!((t.packets, t.bytes), (rc["total_pkts"], rc["total_bytes"]), "{file}");
            let sides = count_by(&batches, "side");
            assert_eq!(sides["orig"] as i64, ra_records(cap), "{file}: one originator row per record");
            // Per direction too: the originators' rows carry src_*, the responders' dst_*.
            let mut by_side: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for b in &batches {
                let side = b.column_by_name("side").unwrap().as_string::<i32>();
                let p = b.column_by_name("packets").unwrap().as_primitive::<Int64Type>();
                let y = b.column_by_name("bytes").unwrap().as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    let e = by_side.entry(side.value(i).to_string()).or_default();
                    e.0 += p.value(i);
                    e.1 += y.value(i);
                }
            }
            assert_eq!(by_side["orig"], (rc["src_pkts"], rc["src_bytes"]), "{file}");
            assert_eq!(by_side["resp"], (rc["dst_pkts"], rc["dst_bytes"]), "{file}");
            assert_eq!(count_by(&batches, "flags").keys().collect::<Vec<_>>(), ["<null>"], "Argus has no TCP flags");
        }
    }
}

#[test]
fn argus_totals_only_default_fields() {
    for cap in CAPTURES {
        let rc = racount(cap);
        let date = capture_date(cap);
        let (batches, _) = convert(&[data(&format!("argus-{cap}-default.csv"))], &["--date", &date]);
        let t = totals(&batches);
        assert_eq!(t, Totals { rows: ra_records(cap) as u64, packets: rc["total_pkts"], bytes: rc["total_bytes"] });
        // ra's default StartTime has no date: without --date the run fails, naming the fix.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.parquet");
        let a = flowlens().arg("convert").arg(data(&format!("argus-{cap}-default.csv"))).arg("-o").arg(&out).assert();
        let err = String::from_utf8_lossy(&a.failure().code(2).get_output().stderr).into_owned();
        assert!(err.contains("StartTime") && err.contains("--date"), "{err}");
        assert!(!out.exists());
    }
}

#[test]
fn binetflow_totals_and_man_records() {
    for cap in CAPTURES {
        let rc = racount(cap);
        let dir = tempfile::tempdir().unwrap();
        let rejects = dir.path().join("rejects.tsv");
        let (batches, stderr) =
            convert(&[data(&format!("{cap}.binetflow"))], &["--rejects", rejects.to_str().unwrap()]);
        assert!(stderr.contains("(binetflow)"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&rejects).unwrap(), "", "man records are skipped, not rejected");
        let text = std::fs::read_to_string(data(&format!("{cap}.binetflow"))).unwrap();
        let man = text.lines().filter(|l| l.split(',').nth(2) == Some("man")).count();
        assert!(man >= 1, "{cap}: argus writes start/stop records");
        // An originator row per record, and a responder row for each record whose destination
        // sent bytes (TotBytes > SrcBytes); totals exact; the man records add nothing.
        let records = ra_records(cap);
        let answered = text
            .lines()
            .skip(1)
            .filter(|l| {
                let f: Vec<&str> = l.split(',').collect();
                f[2] != "man" && f[12].parse::<i64>().unwrap() > f[13].parse::<i64>().unwrap()
            })
            .count() as u64;
        assert!(answered > 0, "{cap}");
        assert_eq!(
            totals(&batches),
            Totals { rows: records as u64 + answered, packets: rc["total_pkts"], bytes: rc["total_bytes"] }
        );
        assert_eq!((text.lines().count() - 1 - man) as i64, records);
        let sides = count_by(&batches, "side");
        assert_eq!((sides["orig"], sides.get("resp").copied().unwrap_or(0)), (records as u64, answered), "{cap}");
        let labels = count_by(&batches, "Label");
        assert_eq!(labels.values().sum::<u64>(), records as u64 + answered);
        assert!(count_by(&batches, "Dir").contains_key("<->"));
    }
}

#[test]
fn zeek_rows_equal_the_logs_counters() {
    for (file, format) in [
        ("zeek/zeek-repo-conn.log", "(zeek)"),
        ("zeek/zeek-zed-conn.log", "(zeek)"),
        ("zeek/zeek-docs-conn.json", "(zeek-json)"),
    ] {
        let want = key_values(&data(&format!("{file}.totals")));
        let (batches, stderr) = convert(&[data(file)], &[]);
        assert!(stderr.contains(format), "{stderr}");
        let t = totals(&batches);
        assert_eq!((t.rows as i64, t.packets, t.bytes), (want["rows"], want["packets"], want["bytes"]), "{file}");
        assert_eq!(count_by(&batches, "side")["orig"] as i64, want["connections"], "{file}");
        assert_eq!(count_by(&batches, "flags").keys().collect::<Vec<_>>(), ["<null>"], "{file}: history is not flags");
        assert!(!count_by(&batches, "uid").contains_key("<null>"), "{file}");
    }
}

#[test]
fn mixed_exporters_in_one_run_union_their_columns() {
    let inputs = [data("nfdump-services.csv"), data("zeek/zeek-docs-conn.json"), data("services.binetflow")];
    let (batches, stderr) = convert(&inputs, &[]);
    assert!(stderr.contains("nfdump, zeek-json, binetflow"), "{stderr}");
    let schema = batches[0].schema();
    for c in ["side", "uid", "Label", "ra", "proto_name"] {
        assert!(schema.column_with_name(c).is_some(), "{c}");
    }
    let s = nfdump_summary("services");
    let z = key_values(&data("zeek/zeek-docs-conn.json.totals"));
    let rc = racount("services");
    assert_eq!(totals(&batches).bytes, s.bytes as i64 + z["bytes"] + rc["total_bytes"]);
}

#[test]
fn bad_lines_are_located_or_kept() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, from, to, column) in [
        ("nfdump175-services.csv", ",10.77.0.2,", ",10.77.0.300,", "dstAddr"),
        ("argus-scan-dir.csv", ",RST,", ",RST,extra,", "line"),
        ("zeek/zeek-zed-conn.log", "\t10.47.3.155\t", "\t10.47.3.155.9\t", "id.resp_h"),
    ] {
        let text = std::fs::read_to_string(data(fixture)).unwrap();
        let (i, bad) = text.lines().enumerate().find(|(_, l)| l.contains(from)).unwrap();
        let broken: String = text
            .lines()
            .enumerate()
            .map(|(k, l)| if k == i { l.replacen(from, to, 1) } else { l.to_string() } + "\n")
            .collect();
        let input = dir.path().join(fixture.replace('/', "-"));
        std::fs::write(&input, broken).unwrap();
        let out = dir.path().join(format!("{}.parquet", fixture.replace('/', "-")));
        // Strict: the first bad line stops the run with path:line: column: reason.
        let a = flowlens().arg("convert").arg(&input).arg("-o").arg(&out).args(["--date", "2026-11-23"]).assert();
        let err = String::from_utf8_lossy(&a.failure().code(2).get_output().stderr).into_owned();
        assert!(err.contains(&format!("{}:{}: {column}: ", input.display(), i + 1)), "{err}");
        assert!(!out.exists());
        // --rejects: the line is kept verbatim, the rest converted.
        let rejects = dir.path().join(format!("{}.rejects", fixture.replace('/', "-")));
        flowlens()
            .arg("convert")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .args(["--date", "2026-11-23", "-q", "--rejects"])
            .arg(&rejects)
            .assert()
            .success();
        let kept = std::fs::read_to_string(&rejects).unwrap();
        assert_eq!(kept.lines().count(), 1, "{kept}");
        assert!(kept.ends_with(&format!("{}\n", bad.replacen(from, to, 1))), "{kept}");
    }
}

/// Issue 20: Argus's layer-2 records (`llc`, MAC addresses where the IP addresses go; here the
/// STP BPDUs of a real Linux bridge, scripts/make-l2-fixture.sh) are traffic: a strict run keeps
/// them as rows with null sip/dip and the MACs in smac/dmac, the totals equal racount's, and the
/// reports skip them and say how many.
#[test]
fn layer2_records_are_rows_without_addresses_and_reports_skip_them() {
    let input = data("l2.binetflow");
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows.parquet");
    flowlens().arg("convert").arg(&input).arg("-o").arg(&flows).assert().success();
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&flows).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let rc = racount("l2");
    let text = std::fs::read_to_string(&input).unwrap();
    let llc = text.lines().filter(|l| l.split(',').nth(2) == Some("llc")).count();
    assert!(llc >= 1, "the fixture has llc records");
    let records = text.lines().skip(1).filter(|l| l.split(',').nth(2) != Some("man")).count();
    assert_eq!(totals(&batches), Totals { rows: records as u64, packets: rc["total_pkts"], bytes: rc["total_bytes"] });
    assert_eq!(count_by(&batches, "proto_name").get("llc"), Some(&(llc as u64)));
    let mut l2 = 0;
    for b in &batches {
        let (sip, dip) =
            (b.column_by_name("sip").unwrap().as_string::<i32>(), b.column_by_name("dip").unwrap().as_string::<i32>());
        let (smac, dmac) = (
            b.column_by_name("smac").unwrap().as_string::<i32>(),
            b.column_by_name("dmac").unwrap().as_string::<i32>(),
        );
        let name = b.column_by_name("proto_name").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            let layer2 = name.is_valid(i) && name.value(i) == "llc";
            assert_eq!(sip.is_null(i), layer2, "row {i}");
            assert_eq!(dip.is_null(i), layer2, "row {i}");
            assert_eq!(smac.is_valid(i), layer2, "row {i}");
            if layer2 {
                assert_eq!(smac.value(i).len(), 17);
                assert_eq!(dmac.value(i).len(), 17);
                l2 += 1;
            }
        }
    }
    assert_eq!(l2, llc);
    for report in ["ports", "servers", "findings"] {
        let out = flowlens().arg(report).arg(&flows).assert().success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&format!("{llc} rows without IP addresses (layer-2 records) skipped")),
            "{report}: {stderr}"
        );
    }
    // An IP protocol's record with a MAC where an address goes is still a bad line.
    let bad = dir.path().join("bad.binetflow");
    let header = text.lines().next().unwrap();
    let line = text.lines().find(|l| l.contains(",llc,")).unwrap().replace(",llc,", ",udp,");
    std::fs::write(&bad, format!("{header}\n{line}\n")).unwrap();
    let out = flowlens().arg("convert").arg(&bad).arg("-o").arg(dir.path().join("bad.parquet")).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("bad.binetflow:2") && stderr.contains("bad address"), "{stderr}");
}
