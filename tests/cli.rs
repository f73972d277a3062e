//! End-to-end tests of the `flowlens` binary: convert, cat and gen on small real-format inputs.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
use arrow_array::{Array, RecordBatch};
use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("binary built")
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn read(path: &Path) -> RecordBatch {
    let batches = flowlens::scan::read_all(path).expect("readable parquet");
    let schema = batches[0].schema();
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

fn strings(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(col).unwrap_or_else(|| panic!("no column {col}"));
    let a = a.as_string::<i32>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_string())).collect()
}

fn u16s(b: &RecordBatch, col: &str) -> Vec<Option<u16>> {
    let a = b.column_by_name(col).unwrap().as_primitive::<UInt16Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn i64s(b: &RecordBatch, col: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(col).unwrap().as_primitive::<Int64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn times(b: &RecordBatch, col: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(col).unwrap().as_primitive::<TimestampMicrosecondType>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

/// Converts `text` (written to a file named `name`) and returns the batch.
fn convert_text(dir: &TempDir, name: &str, text: &str, args: &[&str]) -> RecordBatch {
    let input = dir.path().join(name);
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join(format!("{name}.parquet"));
    flowlens().arg("convert").arg(&input).arg("-o").arg(&out).args(args).assert().success();
    read(&out)
}

/// 2026-11-21T00:00:00Z in microseconds.
const DAY: i64 = 1_795_219_200_000_000;

#[test]
fn every_sei_seed_table_converts() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(repo("data/sei")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let out = dir.path().join(path.with_extension("parquet").file_name().unwrap());
        let mut cmd = flowlens();
        cmd.arg("convert").arg(&path).args(["--date", "2026-11-21", "-o"]).arg(&out);
        if path.file_name().unwrap() == "ntp-linux.txt" {
            // The seed's NTP header says SPORT twice: refused, naming the column and the fix.
            cmd.assert()
                .code(2)
                .stderr(predicate::str::contains("'SPORT' appears twice").and(predicate::str::contains("--columns")));
            assert!(!out.exists());
            cmd = flowlens();
            cmd.arg("convert")
                .arg(&path)
                .args([
                    "--date",
                    "2026-11-21",
                    "--columns",
                    "sip,dip,sport,dport,proto,packets,bytes,flags,stime",
                    "-o",
                ])
                .arg(&out);
        }
        cmd.assert().success();
        let b = read(&out);
        let lines = std::fs::read_to_string(&path).unwrap().lines().count() - 1;
        assert_eq!(b.num_rows(), lines, "{}", path.display());
        seen += 1;
    }
    assert_eq!(seen, 15);
}

#[test]
fn sei_pptp_rows_keep_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("data/sei/pptp-linux.txt")).unwrap();
    let b = convert_text(&dir, "pptp.txt", &text, &["--date", "2026-11-21"]);
    assert_eq!(strings(&b, "sip")[0].as_deref(), Some("10.10.0.1"));
    assert_eq!(u16s(&b, "dport"), [Some(1723), Some(57722), Some(0), Some(0)]);
    let proto = b.column_by_name("proto").unwrap().as_primitive::<UInt8Type>();
    assert_eq!(proto.values().to_vec(), vec![6, 6, 47, 47]);
    assert_eq!(i64s(&b, "bytes"), [Some(936), Some(528), Some(540), Some(566)]);
    // GRE rows leave FLAGS blank: one field short of the header means no flags set.
    assert_eq!(strings(&b, "flags"), [Some("FSPA".into()), Some("FSPA".into()), Some("".into()), Some("".into())]);
    let start = DAY + (23 * 60 + 39) * 1_000_000 + 877_000;
    assert_eq!(times(&b, "stime")[0], Some(start));
    assert_eq!(times(&b, "etime")[0], Some(start + 94_742_000));
}

#[test]
fn sei_dotted_clock_and_flow_column() {
    let dir = tempfile::tempdir().unwrap();
    // The seed's Linux SSH table prints 48.01.120 for 48:01.120.
    let ssh = std::fs::read_to_string(repo("data/sei/ssh-linux.txt")).unwrap();
    let b = convert_text(&dir, "ssh.txt", &ssh, &["--date", "2026-11-21"]);
    assert_eq!(times(&b, "stime")[0], Some(DAY + (48 * 60 + 1) * 1_000_000 + 120_000));
    // FTP tables carry a leading FLOW column: kept as an extra column.
    let ftp = std::fs::read_to_string(repo("data/sei/ftp-active-linux.txt")).unwrap();
    let b = convert_text(&dir, "ftp.txt", &ftp, &["--date", "2026-11-21"]);
    assert_eq!(strings(&b, "FLOW"), ["1", "1", "2", "2"].map(|s| Some(s.to_string())));
}

const RWCUT_39: &str = "                                    sIP|                                    dIP|sPort|dPort|pro|   packets|     bytes|   flags|                  sTime| duration|                  eTime|sen|
                           10.30.16.172|                           10.40.16.208|10321|   80|  6|        12|      2019|FS PA   |2026/11/21T14:13:27.616|    0.009|2026/11/21T14:13:27.625|S2 |
                          2001:db8::0:1|                           10.40.16.208|    0| 2048|  1|         1|        84|        |2026/11/21T14:13:28.000|    0.000|2026/11/21T14:13:28.000|S2 |
";

#[test]
fn rwcut_default_fields_39_wide_with_ipv6_and_icmp() {
    let dir = tempfile::tempdir().unwrap();
    let b = convert_text(&dir, "a.rw", RWCUT_39, &[]);
    assert_eq!(b.num_rows(), 2);
    assert_eq!(strings(&b, "sip"), [Some("10.30.16.172".into()), Some("2001:db8::1".into())]);
    assert_eq!(u16s(&b, "dport"), [Some(80), Some(2048)]);
    assert_eq!(strings(&b, "flags"), [Some("FSPA".into()), Some("".into())]);
    assert_eq!(strings(&b, "sensor"), [Some("S2".into()), Some("S2".into())]);
    let t = DAY + (14 * 3600 + 13 * 60 + 27) * 1_000_000 + 616_000;
    assert_eq!(times(&b, "stime")[0], Some(t));
    assert_eq!(times(&b, "etime")[0], Some(t + 9_000));
}

/// Issue 19: `cat` padded IPv6 addresses to 15 characters (rwcut pads to 39 when the data
/// holds IPv6), and printed empty flags as 8 spaces with --delimited (rwcut --no-columns
/// prints them packed, `FSPA`, and nothing for none).
#[test]
fn cat_pads_ipv6_as_rwcut_and_packs_flags_when_delimited() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("v6.rw");
    std::fs::write(&input, RWCUT_39).unwrap();
    let pq = dir.path().join("v6.parquet");
    flowlens().arg("convert").arg(&input).arg("-o").arg(&pq).assert().success();
    let printed = flowlens().arg("cat").arg(&pq).assert().success().get_output().stdout.clone();
    let printed = String::from_utf8(printed).unwrap();
    let bars = |l: &str| l.match_indices('|').map(|(i, _)| i).collect::<Vec<_>>();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| bars(l) == bars(lines[0])), "columns do not line up:\n{printed}");
    assert_eq!(lines[0].find('|'), Some(39), "{printed}");
    // IPv4-only data keeps rwcut's 15 characters.
    let v4 = dir.path().join("v4.rw");
    std::fs::write(&v4, RWCUT_39.lines().take(2).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    flowlens().arg("convert").arg(&v4).arg("-o").arg(&pq).assert().success();
    let printed = flowlens().arg("cat").arg(&pq).assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(printed).unwrap().find('|'), Some(15));
    // --delimited: flags packed, none empty.
    flowlens().arg("convert").arg(&input).arg("-o").arg(&pq).assert().success();
    flowlens()
        .args(["cat", "--fields", "sip,flags", "--delimited", "--no-titles"])
        .arg(&pq)
        .assert()
        .success()
        .stdout("10.30.16.172|FSPA\n2001:db8::1|\n");
}

#[test]
fn rwcut_subsets_separators_and_timestamp_formats() {
    let dir = tempfile::tempdir().unwrap();
    // --fields subset in another order, no final delimiter, no packets: packets are null.
    let b = convert_text(&dir, "sub.rw", "pro|sIP|sPort|dIP|dPort\n  6|10.0.0.1|1234|10.0.0.2|  22\n", &[]);
    assert_eq!(i64s(&b, "packets"), [None]);
    assert_eq!(times(&b, "stime"), [None]);
    assert_eq!(strings(&b, "flags"), [None]);
    assert_eq!(u16s(&b, "sport"), [Some(1234)]);
    // --column-separator=';' with --delimited-style unpadded values and packed flags.
    let b = convert_text(
        &dir,
        "semi.rw",
        "sIP;dIP;sPort;dPort;protocol;packets;bytes;flags;sTime\n10.0.0.1;10.0.0.2;1;2;6;3;120;FSPA;2026-11-21 00:00:01.5\n",
        &["--delimiter", ";"],
    );
    assert_eq!(strings(&b, "flags"), [Some("FSPA".into())]);
    assert_eq!(times(&b, "stime"), [Some(DAY + 1_500_000)]);
    // Every rwcut --timestamp-format gives the same instant.
    for ts in ["2026/11/21T00:00:05.250", "2026-11-21 00:00:05.250", "11/21/2026 00:00:05.250", "1795219205.250"] {
        let text = format!("sIP|dIP|sTime|\n10.0.0.1|10.0.0.2|{ts}|\n");
        let b = convert_text(&dir, "ts.rw", &text, &[]);
        assert_eq!(times(&b, "stime"), [Some(DAY + 5_250_000)], "{ts}");
    }
    let b = convert_text(&dir, "nomsec.rw", "sIP|dIP|sTime|\n10.0.0.1|10.0.0.2|2026/11/21T00:00:05|\n", &[]);
    assert_eq!(times(&b, "stime"), [Some(DAY + 5_000_000)]);
}

#[test]
fn no_titles_needs_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nt.rw");
    std::fs::write(&input, "10.0.0.1|10.0.0.2|1|2|6|\n").unwrap();
    let out = dir.path().join("o.parquet");
    flowlens()
        .args(["convert"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--columns"));
    flowlens()
        .args(["convert", "--columns", "sIP,dIP,sPort,dPort,pro"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(read(&out).num_rows(), 1);
}

#[test]
fn csv_with_aliases_and_icmp_type_code() {
    let dir = tempfile::tempdir().unwrap();
    let text = "src_ip,dst_ip,src_port,dst_port,protocol,iType,iCode,packets,bytes,start_time,vlan.id\n\
                10.0.0.1,10.0.0.2,0,0,1,3,3,1,88,2026-11-21T00:00:00Z,7\n\
                \"10.0.0.2\",10.0.0.1,53,4444,udp,,,2,200,2026-11-21T01:00:00+01:00,\n";
    let b = convert_text(&dir, "x.csv", text, &[]);
    assert_eq!(u16s(&b, "dport"), [Some(771), Some(4444)]);
    assert_eq!(times(&b, "stime"), [Some(DAY), Some(DAY)]);
    // Dots become underscores in extra column names; empty values are null.
    assert_eq!(strings(&b, "vlan_id"), [Some("7".into()), None]);
    assert!(b.column_by_name("iType").is_none());
}

#[test]
fn timezone_converts_and_refuses_dst_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let b = convert_text(
        &dir,
        "tz.csv",
        "sip,dip,stime\n10.0.0.1,10.0.0.2,2026-07-01 12:00:00\n",
        &["--timezone", "America/New_York"],
    );
    assert_eq!(times(&b, "stime"), [Some(1_782_921_600_000_000)]);
    let input = dir.path().join("gap.csv");
    std::fs::write(&input, "sip,dip,stime\n10.0.0.1,10.0.0.2,2026-03-08 02:30:00\n").unwrap();
    flowlens()
        .arg("convert")
        .arg(&input)
        .args(["--timezone", "America/New_York", "-o"])
        .arg(dir.path().join("gap.parquet"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("gap.csv:2: stime:").and(predicate::str::contains("DST gap")));
}

/// Each bad line, the column the message must name, and words of the reason.
const BAD_LINES: &[(&str, &str, &str)] = &[
    ("10.0.0.999|10.0.0.2|1|2|6|1|40|", "sIP", "bad address"),
    ("10.0.0.1|10.0.0.2|70000|2|6|1|40|", "sPort", "over 65535"),
    ("10.0.0.1|10.0.0.2|1|2|6|-1|40|", "packets", "negative count"),
    ("10.0.0.1|10.0.0.2|1|2|6|1|4x0|", "bytes", "bad count"),
    ("10.0.0.1|10.0.0.2|1|2|", "line", "fields where the header has 7"),
    ("10.0.0.1|10.0.0.2|1|2|300|1|40|", "pro", "over 255"),
];

#[test]
fn strict_mode_stops_at_the_first_bad_line_with_no_output() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, column, reason) in BAD_LINES {
        let input = dir.path().join("bad.rw");
        std::fs::write(
            &input,
            format!("sIP|dIP|sPort|dPort|pro|packets|bytes|\n10.0.0.1|10.0.0.2|1|2|6|1|40|\n{bad}\n"),
        )
        .unwrap();
        let out = dir.path().join("bad.parquet");
        flowlens()
            .arg("convert")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("bad.rw:3: {column}: ")).and(predicate::str::contains(*reason)));
        assert!(!out.exists(), "no output after a failure ({bad})");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }
}

/// A bad line near the start of a large input ends the run at once: the parsers and the reader
/// stop when the writer does, rather than waiting forever on full channels (they once did).
#[test]
fn strict_error_early_in_a_large_input_ends_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.rw");
    let good = format!("{:>39}|{:>39}|{:>5}|{:>5}|{:>3}|{:>10}|{:>10}|\n", "10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 40);
    let mut text = String::from("sIP|dIP|sPort|dPort|pro|packets|bytes|\n");
    text.push_str(&good);
    text.push_str("10.0.0.1|10.0.0.2|1|2|6|1|-40|\n");
    // About 50 MB: many times more blocks than the channels between the stages hold.
    text.push_str(&good.repeat(400_000));
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("big.parquet");
    flowlens()
        .arg("convert")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("big.rw:3: bytes: "));
    assert!(!out.exists());
}

#[test]
fn bad_timestamps_bytes_and_long_lines_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let long = "9".repeat(70_000);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"10.0.0.1|10.0.0.2|2026/13/01T00:00:00|\n".to_vec(), "sTime: bad timestamp"),
        (b"10.0.0.1|10.0.0.2|2026/11/21T00:00:00|\xff\xfe\n".to_vec(), "not UTF-8"),
        (format!("10.0.0.1|10.0.0.2|{long}|\n").into_bytes(), "longer than 65536 bytes"),
    ];
    for (line, want) in cases {
        let mut text = b"sIP|dIP|sTime|sen|\n".to_vec();
        text.extend_from_slice(&line);
        let input = dir.path().join("t.rw");
        std::fs::write(&input, &text).unwrap();
        flowlens()
            .arg("convert")
            .arg(&input)
            .arg("-o")
            .arg(dir.path().join("t.parquet"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("t.rw:2: ").and(predicate::str::contains(want)));
    }
}

#[test]
fn rejects_file_keeps_bad_lines_verbatim_and_counts_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("sIP|dIP|sPort|dPort|pro|packets|bytes|\n");
    for (i, (bad, _, _)) in BAD_LINES.iter().enumerate() {
        text.push_str(&format!("10.0.0.1|10.0.0.2|{i}|2|6|1|40|\n{bad}\n"));
    }
    let input = dir.path().join("dirty.rw");
    std::fs::write(&input, &text).unwrap();
    let out = dir.path().join("o.parquet");
    let rejects = dir.path().join("rejects.tsv");
    let n = BAD_LINES.len();
    flowlens()
        .arg("convert")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("--rejects")
        .arg(&rejects)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("{} lines read, {n} converted, {n} rejected", 2 * n)));
    assert_eq!(read(&out).num_rows(), n);
    let kept = std::fs::read_to_string(&rejects).unwrap();
    let rows: Vec<&str> = kept.lines().collect();
    assert_eq!(rows.len(), n);
    for (i, (row, (bad, column, reason))) in rows.iter().zip(BAD_LINES).enumerate() {
        let f: Vec<&str> = row.splitn(4, '\t').collect();
        assert!(f[0].ends_with("dirty.rw"));
        assert_eq!(f[1], (2 * i + 3).to_string());
        assert!(f[2].starts_with(&format!("{column}: ")) && f[2].contains(reason), "{row}");
        assert_eq!(f[3], *bad, "verbatim");
    }
}

#[test]
fn compressed_inputs_folders_and_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let arch = dir.path().join("archive/2026-11-21");
    std::fs::create_dir_all(&arch).unwrap();
    let header = "sIP|dIP|sPort|dPort|pro|packets|bytes|\n";
    let mut gz = Vec::new();
    // Two gzip members in one file, as `cat a.gz b.gz` makes.
    for part in [format!("{header}10.0.0.1|10.0.0.2|1|2|6|1|40|\n"), format!("{header}10.0.0.1|10.0.0.2|1|2|6|1|40|\n")]
    {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part.as_bytes()).unwrap();
        gz.extend(e.finish().unwrap());
    }
    std::fs::write(arch.join("a.rw.gz"), &gz).unwrap();
    let z = zstd::encode_all(format!("{header}10.0.0.3|10.0.0.4|1|2|17|1|40|\n").as_bytes(), 3).unwrap();
    std::fs::write(arch.join("b.rw.zst"), z).unwrap();
    std::fs::write(arch.join("c.rw"), format!("{header}10.0.0.5|10.0.0.6|1|2|17|1|40|\n")).unwrap();
    // An earlier output kept beside the archive, and a hidden temporary file: not flow text.
    std::fs::write(arch.join("old.parquet"), b"PAR1 not text PAR1").unwrap();
    std::fs::write(arch.join(".x.tmp"), b"partial").unwrap();
    let out = dir.path().join("all.parquet");
    flowlens().arg("convert").arg(dir.path().join("archive")).arg("-o").arg(&out).assert().success();
    let b = read(&out);
    assert_eq!(strings(&b, "sip").len(), 4);
    assert_eq!(strings(&b, "sip")[3].as_deref(), Some("10.0.0.5"));
    // stdin
    let out2 = dir.path().join("stdin.parquet");
    flowlens()
        .args(["convert", "-", "-o"])
        .arg(&out2)
        .write_stdin(format!("{header}10.0.0.7|10.0.0.8|1|2|6|1|40|\n"))
        .assert()
        .success();
    assert_eq!(strings(&read(&out2), "sip"), [Some("10.0.0.7".into())]);
    // A truncated gzip is an error that says so.
    std::fs::write(arch.join("a.rw.gz"), &gz[..gz.len() / 2 - 5]).unwrap();
    flowlens()
        .arg("convert")
        .arg(arch.join("a.rw.gz"))
        .arg("-o")
        .arg(dir.path().join("t.parquet"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("truncated"));
}

#[test]
fn missing_inputs_fail_clearly_and_empty_ones_give_empty_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.parquet");
    flowlens()
        .arg("convert")
        .arg(dir.path().join("nope.rw"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.rw").and(predicate::str::contains("No such file")));
    assert!(!out.exists());
    // Issue 19: a title line and no records is what `rwfilter … | rwcut` prints when nothing
    // matches; it was an error. It gives an empty Parquet file with the full schema (the input's
    // extra columns too), exit 0, and "0 rows" in the summary; so does an input of no bytes.
    std::fs::write(dir.path().join("header.rw"), "sIP|dIP|sPort|dPort|pro|sen|\n").unwrap();
    std::fs::write(dir.path().join("empty.rw"), "").unwrap();
    for (input, extra) in [("header.rw", Some("sensor")), ("empty.rw", None)] {
        flowlens()
            .arg("convert")
            .arg(dir.path().join(input))
            .arg("-o")
            .arg(&out)
            .assert()
            .success()
            .stderr(predicate::str::contains(" 0 rows written"));
        let schema = flowlens::scan::file_schema(&out).unwrap();
        for c in flowlens::schema::CORE_COLUMNS {
            assert!(schema.field_with_name(c).is_ok(), "{input}: no column {c}");
        }
        assert_eq!(extra.is_some(), schema.fields().len() == flowlens::schema::CORE_COLUMNS.len() + 1, "{input}");
        assert_eq!(flowlens::scan::read_all(&out).unwrap().iter().map(|b| b.num_rows()).sum::<usize>(), 0);
        std::fs::remove_file(&out).unwrap();
    }
}

/// Issue 19: `-o existing_dir` without --partition said only "Is a directory (os error 21)".
#[test]
fn an_output_folder_without_partition_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("one.rw");
    std::fs::write(&input, "sIP|dIP|\n10.0.0.1|10.0.0.2|\n").unwrap();
    flowlens()
        .arg("convert")
        .arg(&input)
        .arg("-o")
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a folder").and(predicate::str::contains("--partition day")));
}

/// Issue 19: binary flow files were called "an unknown text format", and `ports` on flow text
/// said "Corrupt footer". Each says what the file is and what to do.
#[test]
fn binary_archives_and_text_given_to_the_wrong_command_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let silk = dir.path().join("in-S0_20261121.09");
    let mut bytes = vec![0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x10, 0x00, 0x00];
    bytes.resize(256, 0);
    std::fs::write(&silk, &bytes).unwrap();
    let nfcapd = dir.path().join("nfcapd.202611210000");
    let mut bytes = vec![0x0C, 0xA5, 0x02, 0x00];
    bytes.resize(256, 0);
    std::fs::write(&nfcapd, &bytes).unwrap();
    let out = dir.path().join("o.parquet");
    // An nfcapd file is read directly now: this one's header announces no blocks (an empty
    // interval), which gives an empty Parquet file.
    flowlens()
        .arg("convert")
        .arg(&nfcapd)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("(nfcapd)").and(predicate::str::contains("0 rows")));
    // A SiLK file is read directly too (tests/silk.rs); this one's header (file version 0) is
    // an error naming SiLK, not "cannot tell the format".
    flowlens()
        .arg("convert")
        .arg(&silk)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SiLK rw").and(predicate::str::contains("cannot tell the format").not()));
    let text = dir.path().join("two.rw");
    std::fs::write(&text, "sIP|dIP|\n10.0.0.1|10.0.0.2|\n").unwrap();
    for cmd in ["ports", "servers", "cat"] {
        flowlens()
            .arg(cmd)
            .arg(&text)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("convert it first").and(predicate::str::contains("footer").not()));
    }
    flowlens().arg("ports").arg(&silk).assert().code(2).stderr(predicate::str::contains("SiLK rw"));
}

/// Interrupts a convert reading a stdin that is held open (so it is surely mid-run) with
/// `signal`; the temporary output must be gone and the process must have died of the signal.
#[cfg(unix)]
fn interrupted_convert(signal: i32, args: &[&str], out: &Path, leftovers: impl Fn() -> bool) {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
        .args(["convert", "-", "-o"])
        .arg(out)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut text = String::from("sIP|dIP|sPort|dPort|pro|packets|bytes|sTime|\n");
    for i in 0..20_000 {
        text += &format!(
            "10.0.0.{}|10.0.1.1|{}|80|6|3|300|2026/11/21T10:00:{:02}.000|\n",
            i % 200,
            1024 + i % 6000,
            i % 60
        );
    }
    stdin.write_all(text.as_bytes()).unwrap();
    let started = std::time::Instant::now();
    while !leftovers() {
        assert!(child.try_wait().unwrap().is_none(), "convert ended before it was interrupted");
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no temporary output appeared");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // SAFETY: kill only sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let status = child.wait().unwrap();
    drop(stdin);
    assert_eq!(status.signal(), Some(signal), "{status:?}");
    assert!(!leftovers(), "signal {signal} left a temporary output");
    assert!(!out.is_file());
}

/// Issue 19: `timeout -s INT 1 flowlens convert big.rw.gz -o k.parquet` (and SIGTERM) left a
/// hidden `.k.parquet.XXXXXX.tmp` behind.
#[cfg(unix)]
#[test]
fn ctrl_c_and_sigterm_remove_temporary_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let hidden =
        |d: &Path| std::fs::read_dir(d).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with('.'));
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let out = dir.path().join("k.parquet");
        interrupted_convert(signal, &[], &out, || hidden(dir.path()));
        let store = dir.path().join("store");
        std::fs::create_dir_all(&store).unwrap();
        interrupted_convert(signal, &["--partition", "day"], &store, || hidden(&store));
        let rejects = dir.path().join("rejects.tsv");
        interrupted_convert(signal, &["--rejects", rejects.to_str().unwrap()], &out, || hidden(dir.path()));
        assert!(!rejects.exists());
    }
}

/// Issue 19: `daily --help` listed --date twice and a debug build panicked on it (clap's
/// argument checks run only with debug assertions; Cargo.toml turns them on for clap in the
/// release build these tests use). Every subcommand's help must also keep its examples whole:
/// at 80 columns they read as at 300 (they wrapped in the middle of a command).
#[test]
fn every_subcommand_has_help_with_whole_examples() {
    let help = |cmd: &str, columns: &str| {
        let out =
            flowlens().args([cmd, "--help"]).env("COLUMNS", columns).assert().success().get_output().stdout.clone();
        let text = String::from_utf8(out).unwrap();
        let at = text.find("Examples:").unwrap_or_else(|| panic!("{cmd} --help has no examples"));
        text[at..].to_string()
    };
    for cmd in ["convert", "cat", "gen", "ports", "servers", "findings", "daily", "report", "sql"] {
        let narrow = help(cmd, "80");
        assert_eq!(narrow, help(cmd, "300"), "{cmd}: an example wraps at 80 columns");
        assert!(narrow.lines().all(|l| l.len() <= 80), "{cmd}: {narrow}");
        let long = flowlens().args([cmd, "--help"]).assert().success().get_output().stdout.clone();
        let long = String::from_utf8(long).unwrap();
        let dates = long.lines().filter(|l| l.trim_start().starts_with("--date ")).count();
        assert!(dates <= 1, "{cmd} --help lists --date {dates} times");
    }
}

#[test]
fn partition_by_day_writes_hive_folders_and_replaces_days() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("two-days.rw");
    let gen =
        flowlens().args(["gen", "--rows", "3000", "--days", "2", "--start", "2026-11-20", "-o"]).arg(&input).assert();
    gen.success();
    let store = dir.path().join("store/flows");
    for _ in 0..2 {
        flowlens().arg("convert").arg(&input).arg("-o").arg(&store).args(["--partition", "day"]).assert().success();
    }
    let mut days: Vec<String> =
        std::fs::read_dir(&store).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    days.sort();
    assert_eq!(days, ["date=2026-11-20", "date=2026-11-21"]);
    let total: usize = days.iter().map(|d| read(&store.join(d).join("part-00000.parquet")).num_rows()).sum();
    assert_eq!(total, 3000, "a second run replaces the days, never duplicates them");
    for d in &days {
        let b = read(&store.join(d).join("part-00000.parquet"));
        let want = &d["date=".len()..];
        for t in times(&b, "stime").into_iter().flatten() {
            let (y, m, dd) = flowlens::ingest::fields::civil_from_days(t.div_euclid(86_400_000_000));
            assert_eq!(format!("{y:04}-{m:02}-{dd:02}"), want);
        }
    }
}

/// `--part NAME`: runs of different inputs fill the same days side by side (as parallel jobs
/// would), running one again replaces only its own file, and a run without it still replaces the
/// whole day.
#[test]
fn part_writes_beside_the_days_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store/flows");
    let mut inputs = Vec::new();
    for seed in ["1", "2"] {
        let input = dir.path().join(format!("in-{seed}.rw"));
        flowlens()
            .args(["gen", "--rows", "2000", "--days", "2", "--start", "2026-11-20", "--seed", seed, "-o"])
            .arg(&input)
            .assert()
            .success();
        inputs.push(input);
    }
    let part = |input: &Path, name: &str| {
        flowlens()
            .arg("convert")
            .arg(input)
            .arg("-o")
            .arg(&store)
            .args(["--partition", "day", "-q", "--part", name])
            .assert()
    };
    // Both at once, as two jobs would run.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| part(&inputs[0], "in-1.rw"));
        let b = s.spawn(|| part(&inputs[1], "in-2.rw"));
        (a.join().unwrap(), b.join().unwrap())
    });
    a.success();
    b.success();
    part(&inputs[0], "in-1.rw").success();
    let files = |day: &str| {
        let mut f: Vec<String> = std::fs::read_dir(store.join(day))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        f.sort();
        f
    };
    let rows = |day: &str| -> usize { files(day).iter().map(|f| read(&store.join(day).join(f)).num_rows()).sum() };
    for day in ["date=2026-11-20", "date=2026-11-21"] {
        assert_eq!(files(day), ["in-1.rw.parquet", "in-2.rw.parquet"]);
    }
    assert_eq!(rows("date=2026-11-20") + rows("date=2026-11-21"), 4000, "no file twice, none lost");
    assert!(std::fs::read_dir(&store).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with('.')));
    // Names Spark would hide, or paths, are refused; --part needs --partition day.
    part(&inputs[0], "../x").failure().stderr(predicate::str::contains("--part '../x'"));
    part(&inputs[0], "_x").failure();
    flowlens()
        .arg("convert")
        .arg(&inputs[0])
        .arg("-o")
        .arg(dir.path().join("x.parquet"))
        .args(["--part", "x"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("needs --partition day"));
    // Without --part the day is replaced whole.
    flowlens()
        .arg("convert")
        .arg(&inputs[1])
        .arg("-o")
        .arg(&store)
        .args(["--partition", "day", "-q"])
        .assert()
        .success();
    assert_eq!(files("date=2026-11-20"), ["part-00000.parquet"]);
    assert_eq!(rows("date=2026-11-20") + rows("date=2026-11-21"), 2000);
}

/// `flowlens sql`: the options become literals of one statement, per dialect; bad options are
/// the report commands' errors; `servers --sql` is the DuckDB servers query.
#[test]
fn sql_prints_one_query_with_the_options_as_literals() {
    let sql = |args: &[&str]| {
        let out = flowlens().arg("sql").args(args).assert().success().get_output().stdout.clone();
        String::from_utf8(out).unwrap()
    };
    let statements =
        |q: &str| q.lines().filter(|l| !l.trim_start().starts_with("--") && l.trim_end().ends_with(';')).count();
    let spark =
        sql(&["ports", "--local", "2001:db8::/32", "--top", "4", "--watch", "22,6660-6669", "--dialect", "spark"]);
    assert_eq!(statements(&spark), 1);
    assert!(
        spark.contains("'20010db8000000000000000000000000'") && spark.contains("'20010db8ffffffffffffffffffffffff'")
    );
    assert!(spark.contains("rn <= 4 OR") && spark.contains("(rs BETWEEN 6660 AND 6669 OR rs IN (22))"));
    assert!(!spark.contains("VARCHAR") && !spark.contains("MATERIALIZED") && spark.contains("STRING"));
    let trino = sql(&["servers", "--ignore-flags", "--dialect", "trino"]);
    assert_eq!(statements(&trino), 1);
    // --ignore-flags: no SYN+ACK test in the servers' steps (the findings' P2P context still
    // reads flags for who opened a conversation, as `flowlens servers --ignore-flags` does).
    assert!(trino.contains("date_diff('microsecond'") && !trino.contains("f.flags LIKE '%S%' AND f.flags LIKE '%A%'"));
    let findings = sql(&["findings", "--local", "10.0.0.0/16", "--dialect", "spark"]);
    assert_eq!(statements(&findings), 1);
    assert!(findings.contains("(false, '0a000000', '0a00ffff')") && findings.contains("rand() >= 0"));
    assert!(findings.contains("aggregate(") && !findings.contains("list_reduce("));
    assert_eq!(sql(&["findings"]), std::fs::read_to_string(repo("sql/duckdb/findings.sql")).unwrap());
    let duck = sql(&["servers"]);
    let legacy = flowlens().args(["servers", "--sql"]).assert().success().get_output().stdout.clone();
    assert_eq!(duck.as_bytes(), legacy.as_slice());
    assert_eq!(duck, std::fs::read_to_string(repo("sql/duckdb/servers.sql")).unwrap());
    flowlens()
        .args(["sql", "ports", "--local", "10.0.0/8"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--local '10.0.0/8' is not a network"));
    flowlens().args(["sql", "servers", "--rules", "/nonexistent.toml"]).assert().code(2);
    flowlens().args(["sql", "findings", "--rules", "/nonexistent.toml"]).assert().code(2);
    flowlens().args(["sql", "servers", "--findings-rules", "/nonexistent.toml"]).assert().code(2);
    flowlens().args(["sql", "ports", "--dialect", "oracle"]).assert().code(2);
}

#[test]
fn cat_prints_rwcut_text_that_converts_back_to_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("g.rw");
    flowlens().args(["gen", "--rows", "5000", "--seed", "9", "-o"]).arg(&text).assert().success();
    let pq = dir.path().join("g.parquet");
    flowlens().arg("convert").arg(&text).arg("-o").arg(&pq).assert().success();
    let printed = flowlens().arg("cat").arg(&pq).assert().success().get_output().stdout.clone();
    assert_eq!(String::from_utf8(printed).unwrap(), std::fs::read_to_string(&text).unwrap());
    let delimited = flowlens()
        .args(["cat", "--fields", "sIP,dPort,bytes", "--delimited", "--no-titles"])
        .arg(&pq)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let first = String::from_utf8(delimited).unwrap().lines().next().unwrap().to_string();
    assert_eq!(first.split('|').count(), 3, "{first}");
    // A closed pipe is not an error.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
        .arg("cat")
        .arg(&pq)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn gen_is_deterministic() {
    let a = flowlens().args(["gen", "--rows", "500", "--seed", "4"]).assert().success().get_output().stdout.clone();
    let b = flowlens().args(["gen", "--rows", "500", "--seed", "4"]).assert().success().get_output().stdout.clone();
    let c = flowlens().args(["gen", "--rows", "500", "--seed", "5"]).assert().success().get_output().stdout.clone();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(String::from_utf8(a).unwrap().lines().count(), 501);
}

#[test]
fn help_has_examples() {
    for cmd in ["convert", "cat", "gen"] {
        flowlens().args([cmd, "--help"]).assert().success().stdout(predicate::str::contains("Examples:"));
    }
}

/// Generates two days of flows (2026-11-20 and 2026-11-21) as rwcut text in `dir`.
fn two_days_text(dir: &TempDir) -> PathBuf {
    let input = dir.path().join("two-days.rw");
    flowlens()
        .args(["gen", "--rows", "4000", "--days", "2", "--start", "2026-11-20", "-o"])
        .arg(&input)
        .assert()
        .success();
    input
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn ports_from_to_reads_only_the_days_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let input = two_days_text(&dir);
    let store = dir.path().join("store");
    flowlens().arg("convert").arg(&input).arg("-o").arg(&store).args(["--partition", "day", "-q"]).assert().success();
    let ports = |path: &Path, range: &[&str]| {
        stdout(flowlens().arg("ports").arg(path).args(["--local", "10.0.0.0/16", "--format", "csv", "-q"]).args(range))
    };
    let d1 = ports(&store.join("date=2026-11-20"), &[]);
    let d2 = ports(&store.join("date=2026-11-21"), &[]);
    let both = ports(&store, &[]);
    assert!(d2.lines().count() > 10 && d1 != d2 && both != d2);
    assert_eq!(ports(&store, &["--from", "2026-11-21", "--to", "2026-11-21"]), d2);
    assert_eq!(ports(&store, &["--from", "2026-11-21"]), d2);
    assert_eq!(ports(&store, &["--to", "2026-11-20"]), d1);
    assert_eq!(ports(&store, &["--from", "2026-11-20", "--to", "2026-11-21"]), both);
    // The same from one unpartitioned file, where row groups and rows are filtered instead.
    let single = dir.path().join("all.parquet");
    flowlens().arg("convert").arg(&input).arg("-o").arg(&single).arg("-q").assert().success();
    assert_eq!(ports(&single, &["--from", "2026-11-21", "--to", "2026-11-21"]), d2);
    // No flows in the range: an empty report, not an error.
    let none = ports(&store, &["--from", "2026-11-22"]);
    assert_eq!(none.lines().count(), 1, "header only: {none}");
    assert_eq!(ports(&single, &["--from", "2026-11-22"]), none);
    // The summary counts the rows read.
    let out = flowlens()
        .arg("ports")
        .arg(&store)
        .args(["--from", "2026-11-21", "--format", "csv"])
        .assert()
        .success()
        .get_output()
        .stderr
        .clone();
    let rows_d2 = read(&store.join("date=2026-11-21/part-00000.parquet")).num_rows();
    let summary = String::from_utf8(out).unwrap();
    // The day before's folder is opened too (one day of margin for daily archives), but its row
    // groups lie outside the range by their statistics: only the day's rows are read.
    assert!(summary.contains(&format!(": {rows_d2} rows in ")), "{summary}");
}

#[test]
fn cat_from_to_prints_only_the_rows_of_those_days() {
    let dir = tempfile::tempdir().unwrap();
    let input = two_days_text(&dir);
    let pq = dir.path().join("all.parquet");
    flowlens().arg("convert").arg(&input).arg("-o").arg(&pq).arg("-q").assert().success();
    let stimes = times(&read(&pq), "stime");
    let on_d2 = stimes.iter().flatten().filter(|&&t| (DAY..DAY + 86_400_000_000).contains(&t)).count();
    assert!(on_d2 > 100 && on_d2 < stimes.len(), "{on_d2} of {}", stimes.len());
    let printed = stdout(flowlens().arg("cat").arg(&pq).args([
        "--fields",
        "sTime,sIP",
        "--delimited",
        "--from",
        "2026-11-21",
        "--to",
        "2026-11-21",
    ]));
    let mut lines = printed.lines();
    assert_eq!(lines.next(), Some("sTime|sIP"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), on_d2);
    assert!(rows.iter().all(|r| r.starts_with("2026/11/21T")), "{rows:?}");
    let d1 = stdout(flowlens().arg("cat").arg(&pq).args(["--no-titles", "--to", "2026-11-20"]));
    assert_eq!(d1.lines().count() + on_d2, stimes.len());
    // Outside every flow: the titles only.
    let none = stdout(flowlens().arg("cat").arg(&pq).args(["--from", "2026-12-01"]));
    assert_eq!(none.lines().count(), 1);
    assert!(none.trim_start().starts_with("sIP|"), "{none}");
}

#[test]
fn from_after_to_and_bad_dates_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = two_days_text(&dir);
    let pq = dir.path().join("all.parquet");
    flowlens().arg("convert").arg(&input).arg("-o").arg(&pq).arg("-q").assert().success();
    for cmd in ["cat", "ports"] {
        flowlens()
            .arg(cmd)
            .arg(&pq)
            .args(["--from", "2026-11-21", "--to", "2026-11-20"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--from 2026-11-21 is after --to 2026-11-20"));
        flowlens()
            .arg(cmd)
            .arg(&pq)
            .args(["--to", "2026-11-31"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--to '2026-11-31' is not a date or time: use YYYY-MM-DD"));
    }
}

/// A bad selection value stops every reading command before it reads, with exit status 2 and
/// a message naming the option and the value.
#[test]
fn bad_selection_values_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.rw");
    flowlens().args(["gen", "--rows", "200", "-o"]).arg(&input).assert().success();
    let pq = dir.path().join("small.parquet");
    flowlens().arg("convert").arg(&input).arg("-o").arg(&pq).arg("-q").assert().success();
    let cases: [(&[&str], &str); 9] = [
        (&["--dport", "70000"], "--dport: '70000' is not a port (0-65535) or a range LOW-HIGH"),
        (&["--sport", "22,80-"], "--sport: '80-' is not a port (0-65535) or a range LOW-HIGH"),
        (&["--aport", "none"], "--aport 'none' names no port"),
        (
            &["--saddress", "10.0.0.0/33"],
            "--saddress: '10.0.0.0/33' is not an address or network: the prefix length must be 0-32 for IPv4, not '33'",
        ),
        (&["--daddress", "2001:db8::/129"], "--daddress: '2001:db8::/129' is not an address or network"),
        (&["--any-address", "10.0.0.1,example.com"], "--any-address: 'example.com' is not an address or network"),
        (&["--proto", "tcp,300"], "--proto: '300' is not a protocol (a number 0-255, a range LOW-HIGH or a name"),
        (&["--from", "2026-11-21T25:00"], "--from '2026-11-21T25:00' is not a date or time"),
        (
            &["--from", "2026-11-21T10:01", "--to", "2026-11-21T10:00"],
            "--from 2026-11-21T10:01 is after --to 2026-11-21T10:00: the range would be empty",
        ),
    ];
    for cmd in ["cat", "ports", "servers"] {
        for (args, message) in cases {
            let out = flowlens().arg(cmd).arg(&pq).args(args).assert().code(2).get_output().clone();
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert!(stderr.contains(message), "{cmd} {args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{cmd} {args:?} printed before failing");
        }
    }
}

/// Issue 20: a real Zeek conn.log whose first line is `\t#separator \x09` (a tab before the
/// `#`) was refused with "cannot tell the format".
#[test]
fn zeek_log_with_a_tab_before_the_first_hash_converts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("conn.log");
    let text = "\t#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n\
        #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n\
        1632928690.500620\tCvVbVi3kNVC4LPU90f\t192.168.1.99\t62978\t192.168.1.1\t53\tudp\tdns\t0.027648\t55\t134\tSF\t-\t-\t0\tDd\t1\t83\t1\t162\t-\n";
    std::fs::write(&log, text).unwrap();
    flowlens()
        .arg("convert")
        .arg(&log)
        .arg("-o")
        .arg(dir.path().join("o.parquet"))
        .assert()
        .success()
        .stderr(predicate::str::contains("(zeek)").and(predicate::str::contains("2 rows")));
}
