//! `flowlens convert` on SiLK's binary rw files (tests/data/native/, written by SiLK 3.19.1, see
//! its README): every fixture gives the Parquet content the rwcut text path gives for the
//! fixture's `rwcut --all-fields` text, through files, folders of repository hours and stdin;
//! `--format silk` and `--silk-conf`; unsupported formats and damaged files are errors that say
//! what they found, never a panic or a silent loss.
//!
//! The one documented difference: rwcut's `iType`/`iCode` columns repeat an ICMP flow's type and
//! code, which both paths keep in `dport` (type × 256 + code, as nfdump and flowlens do
//! everywhere); the text path keeps them as the extra columns `iTy`/`iCo` too, the binary path
//! does not. The test checks that they hold nothing but `dport`'s halves.

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt16Type, UInt8Type};
use arrow_array::{Array, RecordBatch};
use assert_cmd::Command;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// (file, records) for every SiLK fixture, as `FILES.info` counts them.
const FIXTURES: [(&str, usize); 10] = [
    ("sei-routing-v1-none-L.rw", 40),
    ("sei-generic-v5-snappy-L.rw", 40),
    ("g5-routing-v1-zlib-B.rw", 601),
    ("g5-routing-v1-lzo1x-L.rw", 601),
    ("g5-routing-v3-snappy-B.rw", 601),
    ("g5-ipv6-v1-none-L.rw", 601),
    ("g5-ipv6-v2-snappy-B.rw", 601),
    ("g5-generic-v5-none-B.rw", 558),
    ("g5-generic-v5-zlib-L.rw", 558),
    ("in-S3_20261121.09", 157),
];

fn native(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/native").join(name)
}

/// The binary, with SiLK's environment cleared so that only the test decides which silk.conf
/// is found.
fn flowlens() -> Command {
    let mut c = Command::cargo_bin("flowlens").expect("the flowlens binary");
    c.env_remove("SILK_CONFIG_FILE").env_remove("SILK_DATA_ROOTDIR");
    c
}

fn read(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// Converts `inputs` with `args`; the rows and stderr.
fn convert(inputs: &[PathBuf], args: &[&str]) -> (RecordBatch, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.parquet");
    let assert = flowlens().arg("convert").args(inputs).arg("-o").arg(&out).args(args).assert().success();
    (read(&out), String::from_utf8_lossy(&assert.get_output().stderr).into_owned())
}

/// Converts expecting failure; stderr.
fn convert_fails(inputs: &[PathBuf], args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.parquet");
    let assert = flowlens().arg("convert").args(inputs).arg("-o").arg(&out).args(args).assert().code(2);
    assert!(!out.exists(), "a failed run leaves nothing");
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// The binary file's every column equals the text file's column of that name (type and values);
/// the text file has nothing more than `iTy`/`iCo`, and those are `dport`'s halves for ICMP.
fn assert_same_content(file: &str, binary: &RecordBatch, text: &RecordBatch) {
    assert_eq!(binary.num_rows(), text.num_rows(), "{file}: rows");
    for field in binary.schema().fields() {
        let a = binary.column_by_name(field.name()).unwrap();
        let b = text.column_by_name(field.name()).unwrap_or_else(|| panic!("{file}: text has no {}", field.name()));
        assert_eq!(a.data_type(), b.data_type(), "{file}: {}", field.name());
        for row in 0..a.len() {
            let (x, y) = (a.slice(row, 1), b.slice(row, 1));
            assert!(x.to_data() == y.to_data(), "{file}: row {} {}: binary {x:?} text {y:?}", row + 1, field.name());
        }
    }
    let extra: Vec<String> = text
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| binary.schema().index_of(n).is_err())
        .collect();
    assert_eq!(extra, ["iTy", "iCo"], "{file}: the text path's only other columns");
    let proto = binary.column_by_name("proto").unwrap().as_primitive::<UInt8Type>();
    let dport = binary.column_by_name("dport").unwrap().as_primitive::<UInt16Type>();
    let (ity, ico) = (text.column_by_name("iTy").unwrap().as_string::<i32>(), text.column_by_name("iCo").unwrap());
    let ico = ico.as_string::<i32>();
    for row in 0..binary.num_rows() {
        let icmp = matches!(proto.value(row), 1 | 58);
        let want = |v: u16| icmp.then(|| v.to_string());
        assert_eq!(ity.is_valid(row).then(|| ity.value(row).to_string()), want(dport.value(row) >> 8), "{file} {row}");
        assert_eq!(ico.is_valid(row).then(|| ico.value(row).to_string()), want(dport.value(row) & 255), "{file} {row}");
    }
}

#[test]
fn every_fixture_equals_its_rwcut_all_fields_text() {
    for (file, records) in FIXTURES {
        // silk.conf is beside the fixtures: found there, as a repository's is.
        let (binary, stderr) = convert(&[native(file)], &[]);
        assert!(stderr.contains("(silk)") && !stderr.contains("no silk.conf"), "{file}: {stderr}");
        let (text, _) = convert(&[native(&format!("{file}.txt"))], &[]);
        assert_eq!(binary.num_rows(), records, "{file}");
        assert_same_content(file, &binary, &text);
        // Totals are conserved.
        for col in ["packets", "bytes"] {
            let sum = |b: &RecordBatch| -> i64 {
                b.column_by_name(col).unwrap().as_primitive::<Int64Type>().iter().flatten().sum()
            };
            assert_eq!(sum(&binary), sum(&text), "{file}: {col}");
        }
    }
}

#[test]
fn stdin_folders_and_format_silk() {
    // rwfilter ... --pass=stdout | flowlens convert -
    let file = "g5-routing-v1-lzo1x-L.rw";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flows.parquet");
    let conf = native("silk.conf");
    flowlens()
        .args(["convert", "-", "--silk-conf"])
        .arg(&conf)
        .arg("-o")
        .arg(&out)
        .write_stdin(std::fs::read(native(file)).unwrap())
        .assert()
        .success();
    let (from_file, _) = convert(&[native(file)], &["--format", "silk"]);
    assert_eq!(read(&out), from_file);

    // A repository's day: ROOT/silk.conf, ROOT/in/2026/11/21/in-S3_20261121.09 and .10.
    let root = tempfile::tempdir().unwrap();
    let day = root.path().join("in/2026/11/21");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::copy(native("silk.conf"), root.path().join("silk.conf")).unwrap();
    std::fs::copy(native("in-S3_20261121.09"), day.join("in-S3_20261121.09")).unwrap();
    std::fs::copy(native("in-S3_20261121.09"), day.join("in-S3_20261121.10")).unwrap();
    let (rows, stderr) = convert(&[root.path().join("in")], &["--threads", "2"]);
    assert!(!stderr.contains("no silk.conf"), "{stderr}");
    let (one, _) = convert(&[native("in-S3_20261121.09")], &[]);
    assert_eq!(rows.num_rows(), 2 * one.num_rows());
    assert_eq!(rows.slice(0, one.num_rows()), one);
    assert_eq!(rows.slice(one.num_rows(), one.num_rows()), one);

    // --format silk on something else names what it found.
    let e = convert_fails(&[native("services.nfcapd")], &["--format", "silk"]);
    assert!(e.contains("not a SiLK rw file") && e.contains("de ad be ef"), "{e}");
}

#[test]
fn silk_conf_found_named_or_missing() {
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("in-S3_20261121.09");
    std::fs::copy(native("in-S3_20261121.09"), &lone).unwrap();
    // None beside it: numbers, and a note saying what to do.
    let (rows, stderr) = convert(std::slice::from_ref(&lone), &[]);
    assert!(stderr.contains("no silk.conf found") && stderr.contains("--silk-conf"), "{stderr}");
    let sensor = rows.column_by_name("sensor").unwrap().as_string::<i32>();
    assert_eq!(sensor.value(0), "3");
    assert!(rows.column_by_name("class").unwrap().is_null(0));
    // Named by the flag or the environment.
    let (named, _) = convert(std::slice::from_ref(&lone), &["--silk-conf", native("silk.conf").to_str().unwrap()]);
    assert_eq!(named.column_by_name("sensor").unwrap().as_string::<i32>().value(0), "S3");
    let out = dir.path().join("env.parquet");
    flowlens()
        .arg("convert")
        .arg(&lone)
        .arg("-o")
        .arg(&out)
        .env("SILK_CONFIG_FILE", native("silk.conf"))
        .assert()
        .success();
    assert_eq!(read(&out), named);
    // A named file that is missing is an error saying which and what it is for.
    let e = convert_fails(std::slice::from_ref(&lone), &["--silk-conf", "/nonexistent/silk.conf"]);
    assert!(e.contains("/nonexistent/silk.conf") && e.contains("--silk-conf") && e.contains("sensor"), "{e}");
}

#[test]
fn unsupported_and_damaged_files_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(native("g5-routing-v1-zlib-B.rw")).unwrap();
    // FT_RWROUTED (0x10), a legacy format.
    let mut b = good.clone();
    b[5] = 0x10;
    let p = dir.path().join("routed.rw");
    std::fs::write(&p, &b).unwrap();
    let e = convert_fails(&[p], &[]);
    assert!(e.contains("routed.rw") && e.contains("FT_RWROUTED (0x10) version 1"), "{e}");
    // An unknown compression.
    let mut b = good.clone();
    b[7] = 9;
    let p = dir.path().join("comp.rw");
    std::fs::write(&p, &b).unwrap();
    let e = convert_fails(&[p], &[]);
    assert!(e.contains("compression method 9"), "{e}");
    // A block whose bytes are damaged: strict names file, block and offset; --rejects keeps the
    // other blocks and counts the records lost.
    let big = repeated(&good, 40);
    let header = flowlens::ingest::silk::SilkHeader::parse(&big).unwrap().header_len();
    // Blocks 1 and 30: the reader hands blocks to the workers in groups of about 1 MiB (about
    // 20 of these), so the second damaged block is in another group than the first.
    let mut bad = big.clone();
    let block = good.len() - header; // the fixture holds one block
    for k in [1, 30] {
        let at = header + k * block;
        for x in &mut bad[at + 16..at + 48] {
            *x ^= 0x5a;
        }
    }
    let p = dir.path().join("damaged.rw");
    std::fs::write(&p, &bad).unwrap();
    let e = convert_fails(std::slice::from_ref(&p), &[]);
    assert!(e.contains("damaged.rw") && e.contains("block 1") && e.contains("zlib"), "{e}");
    let rejects = dir.path().join("rejects.tsv");
    let (rows, stderr) = convert(std::slice::from_ref(&p), &["--rejects", rejects.to_str().unwrap()]);
    assert_eq!(rows.num_rows(), 38 * 601, "{stderr}");
    assert!(stderr.contains("1202 rejected"), "{stderr}");
    let kept = std::fs::read_to_string(&rejects).unwrap();
    for k in [1, 30] {
        let offset = format!("{}", header + k * block);
        assert!(kept.contains(&offset), "block {k} at offset {offset} in the rejects:\n{kept}");
    }
    // A file cut inside a block.
    let p = dir.path().join("cut.rw");
    std::fs::write(&p, &big[..big.len() - 10]).unwrap();
    let e = convert_fails(&[p], &[]);
    assert!(e.contains("cut.rw") && e.contains("ends after"), "{e}");
}

/// `good`'s header, then its blocks `n` times: a valid larger file.
fn repeated(good: &[u8], n: usize) -> Vec<u8> {
    let h = flowlens::ingest::silk::SilkHeader::parse(good).unwrap().header_len();
    let mut out = good[..h].to_vec();
    for _ in 0..n {
        out.extend_from_slice(&good[h..]);
    }
    out
}

#[test]
fn blocks_decoded_in_parallel_are_written_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["g5-routing-v1-zlib-B.rw", "g5-ipv6-v1-none-L.rw"] {
        let p = dir.path().join(file);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(&repeated(&std::fs::read(native(file)).unwrap(), 300)).unwrap();
        drop(f);
        let (one, _) = convert(std::slice::from_ref(&p), &["--threads", "1"]);
        let (two, _) = convert(std::slice::from_ref(&p), &["--threads", "2"]);
        assert_eq!(one.num_rows(), 300 * 601);
        assert_eq!(one, two, "{file}");
    }
}
