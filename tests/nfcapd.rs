//! `flowlens convert` on nfdump's binary nfcapd files (tests/data/native/, see its README): every
//! compression gives the same rows, the rows are the ones the CSV path makes from `nfdump -o csv`
//! of the same file, totals equal nfdump's own Summary, and damaged files are errors that name
//! the file and block (or rejects that count the records lost), never a panic or a silent loss.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::RecordBatch;
use assert_cmd::Command;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const COMPRESSIONS: [&str; 5] = ["", "lzo.", "bz2.", "lz4.", "zstd."];

fn native(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/native").join(name)
}

fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("the flowlens binary")
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

/// A text or integer column's values as text.
fn text(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let c = b.column_by_name(col).unwrap_or_else(|| panic!("no column {col}"));
    match c.data_type() {
        arrow_schema::DataType::Int64 => {
            c.as_primitive::<Int64Type>().iter().map(|v| v.map(|v| v.to_string())).collect()
        }
        _ => c.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect(),
    }
}

fn sum(b: &RecordBatch, col: &str) -> i64 {
    b.column_by_name(col).unwrap().as_primitive::<Int64Type>().iter().flatten().sum()
}

fn summary(csv: &str) -> flowlens::ingest::nfdump::Summary {
    flowlens::ingest::nfdump::summary(&std::fs::read_to_string(native(csv)).unwrap()).expect("a Summary trailer")
}

/// The core columns, times cut to whole seconds when `seconds` (nfdump 1.7.1's CSV drops the
/// milliseconds).
fn core(b: &RecordBatch, seconds: bool) -> RecordBatch {
    let mut b = b.project(&(0..10).collect::<Vec<_>>()).unwrap();
    if seconds {
        let mut cols: Vec<_> = b.columns().to_vec();
        for c in &mut cols[..2] {
            let t = c
                .as_primitive::<TimestampMicrosecondType>()
                .unary::<_, TimestampMicrosecondType>(|v| v.div_euclid(1_000_000) * 1_000_000);
            *c = std::sync::Arc::new(t.with_timezone("UTC"));
        }
        b = RecordBatch::try_new(b.schema(), cols).unwrap();
    }
    b
}

#[test]
fn every_compression_gives_the_rows_of_nfdumps_csv_and_its_summary() {
    let (plain, stderr) = convert(&[native("services.nfcapd")], &[]);
    assert!(stderr.contains("(nfcapd)"), "{stderr}");
    let want = summary("services.nfdump171.csv");
    assert_eq!(
        (plain.num_rows() as u64, sum(&plain, "bytes") as u64, sum(&plain, "packets") as u64),
        (want.flows, want.bytes, want.packets)
    );
    for c in COMPRESSIONS {
        let (rows, _) = convert(&[native(&format!("services.{c}nfcapd"))], &[]);
        assert_eq!(rows, plain, "services.{c}nfcapd");
    }
    // nfdump 1.7.8's millisecond CSV: the same core columns to the millisecond.
    let (ms, _) = convert(&[native("services.ms.csv")], &["--timezone", "UTC"]);
    assert_eq!(core(&plain, false), core(&ms, false));
    // Debian's 1.7.1 CSV: the same rows to the second, and every classic extra column the same
    // text wherever the file carried the element (the CSV prints 0 for the ones it did not).
    let (csv, _) = convert(&[native("services.nfdump171.csv")], &["--timezone", "UTC"]);
    assert_eq!(core(&plain, true), core(&csv, true));
    same_extras(&plain, &csv);
    assert_eq!(text(&plain, "eng")[0].as_deref(), Some("17/1"));
    assert_eq!(text(&plain, "tr")[0].as_deref(), Some("2026-12-06 17:29:09.543"));
}

/// Every extra column of the CSV path's rows has the binary path's name and type (issue 20:
/// numbers such as interfaces, AS numbers, ToS and masks are Int64 in both) and, where the
/// binary record carried the element, its value; elsewhere the CSV has nfdump's zero.
fn same_extras(binary: &RecordBatch, csv: &RecordBatch) {
    let schema = csv.schema();
    let ints = ["in", "out", "sas", "das", "stos", "dtos", "smk", "dmk", "fwd", "dir"];
    for name in ints {
        assert_eq!(schema.field_with_name(name).unwrap().data_type(), &arrow_schema::DataType::Int64, "{name}");
    }
    for f in schema.fields().iter().skip(10) {
        let name = f.name();
        assert_eq!(binary.schema().field_with_name(name).unwrap().data_type(), f.data_type(), "{name}");
        let (b, c) = (text(binary, name), text(csv, name));
        for (i, (b, c)) in b.iter().zip(&c).enumerate() {
            match (b, c) {
                (Some(b), Some(c)) => assert_eq!(b, c, "row {i} column {name}"),
                (None, None) => {}
                (None, Some(c)) => {
                    let zero = c.chars().all(|ch| "0.:-/".contains(ch));
                    assert!(zero, "row {i} column {name}: CSV has {c}, the binary record no element")
                }
                (Some(b), None) => panic!("row {i} column {name}: {b} only in the binary"),
            }
        }
    }
}

#[test]
fn nfpcapd_and_softflowd_files_equal_their_csv() {
    let (scan, _) = convert(&[native("scan.nfcapd")], &[]);
    let want = summary("scan.nfdump171.csv");
    assert_eq!(
        (scan.num_rows() as u64, sum(&scan, "bytes") as u64, sum(&scan, "packets") as u64),
        (want.flows, want.bytes, want.packets)
    );
    let (lz4, _) = convert(&[native("scan.lz4.nfcapd")], &[]);
    assert_eq!(lz4, scan);
    let (csv, _) = convert(&[native("scan.nfdump171.csv")], &["--timezone", "UTC"]);
    assert_eq!(core(&scan, true), core(&csv, true));
    same_extras(&scan, &csv);

    // softflowd's IPFIX (`softflowd -r` stamps some flows ending before they start): both paths
    // refuse the same records and convert the same ones.
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("r.tsv");
    let r = rejects.to_str().unwrap();
    let (sf, stderr) = convert(&[native("softflowd.nfcapd")], &["--rejects", r]);
    assert!(stderr.contains("96 lines read, 60 converted, 36 rejected"), "{stderr}");
    let kept = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(kept.lines().count(), 36);
    assert!(
        kept.lines().all(|l| l.contains("\tblock 0 (byte offset 40)\trecord ")
            && l.ends_with(": flow ends before it starts (1 records lost)\t")),
        "{kept}"
    );
    let (sf_lzo, _) = convert(&[native("softflowd.lzo.nfcapd")], &["--rejects", r]);
    assert_eq!(sf_lzo, sf);
    let (csv, stderr) = convert(&[native("softflowd.nfdump171.csv")], &["--timezone", "UTC", "--rejects", r]);
    assert!(stderr.contains("96 lines read, 60 converted, 36 rejected"), "{stderr}");
    assert_eq!(core(&sf, true), core(&csv, true));
    same_extras(&sf, &csv);
    assert!(text(&sf, "ra").iter().all(|v| v.as_deref() == Some("127.0.0.1")));
}

/// An nfcapd file of `n` copies of services.nfcapd's one data block.
fn many_blocks(n: u32) -> Vec<u8> {
    let f = std::fs::read(native("services.lz4.nfcapd")).unwrap();
    let size = u32::from_le_bytes(f[44..48].try_into().unwrap()) as usize;
    let block = &f[40..40 + 12 + size];
    let mut out = f[..40].to_vec();
    out[36..40].copy_from_slice(&n.to_le_bytes());
    out[24..32].copy_from_slice(&0u64.to_le_bytes()); // no appendix
    for _ in 0..n {
        out.extend_from_slice(block);
    }
    out
}

#[test]
fn blocks_decoded_in_parallel_are_written_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nfcapd.202611230000");
    std::fs::write(&path, many_blocks(64)).unwrap();
    let (one, _) = convert(&[native("services.nfcapd")], &[]);
    let (serial, _) = convert(std::slice::from_ref(&path), &["--threads", "1"]);
    let (parallel, _) = convert(std::slice::from_ref(&path), &["--threads", "4"]);
    assert_eq!(serial.num_rows(), 64 * one.num_rows());
    assert_eq!(parallel, serial);
    let copies: Vec<RecordBatch> = (0..64).map(|_| one.clone()).collect();
    assert_eq!(serial, arrow_select::concat::concat_batches(&one.schema(), &copies).unwrap());
}

#[test]
fn a_folder_is_read_in_time_order_without_the_file_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("2026/11/23");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::copy(native("scan.nfcapd"), day.join("nfcapd.202611230005")).unwrap();
    std::fs::copy(native("services.lzo.nfcapd"), day.join("nfcapd.202611230000")).unwrap();
    std::fs::write(day.join("nfcapd.current.4242"), &many_blocks(3)[..60]).unwrap();
    let (rows, stderr) = convert(&[dir.path().to_path_buf()], &[]);
    assert!(stderr.contains("nfcapd.current.4242: skipped"), "{stderr}");
    let (services, _) = convert(&[native("services.nfcapd")], &[]);
    let (scan, _) = convert(&[native("scan.nfcapd")], &[]);
    assert_eq!(rows, arrow_select::concat::concat_batches(&rows.schema(), &[services, scan]).unwrap());

    let store = dir.path().join("store");
    flowlens().arg("convert").arg(&day).arg("-o").arg(&store).args(["--partition", "day"]).assert().success();
    assert!(store.join("date=2026-11-23").is_dir());
}

#[test]
fn damaged_files_name_the_file_and_block() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let good = many_blocks(3);
    let block = (good.len() - 40) / 3;

    // Cut inside the third block: strict, the run fails naming it; with --rejects the first two
    // blocks are kept and the third's 26 records are counted as lost.
    let cut = write("cut.nfcapd", &good[..good.len() - 10]);
    let err = convert_fails(std::slice::from_ref(&cut), &[]);
    let at = 40 + 2 * block;
    assert!(err.contains(&format!("cut.nfcapd: block 2 (byte offset {at}): block: truncated file")), "{err}");
    let rejects = dir.path().join("r.tsv");
    let (rows, stderr) = convert(std::slice::from_ref(&cut), &["--rejects", rejects.to_str().unwrap()]);
    assert_eq!(rows.num_rows(), 52);
    assert!(stderr.contains("78 lines read, 52 converted, 26 rejected"), "{stderr}");
    let kept = std::fs::read_to_string(&rejects).unwrap();
    assert!(kept.contains(&format!("\tblock 2 (byte offset {at})\tblock: truncated file")), "{kept}");
    assert!(kept.contains("(26 records lost)"), "{kept}");

    // A file that ends between blocks: the header promised more.
    let short = write("short.nfcapd", &good[..40 + 2 * block]);
    let err = convert_fails(&[short], &[]);
    assert!(err.contains("after 2 of the 3 data blocks"), "{err}");

    // Corrupt LZ4 data in block 1.
    let mut bad = good.clone();
    for b in &mut bad[40 + block + 12..40 + block + 40] {
        *b = 0xff;
    }
    let bad = write("bad.nfcapd", &bad);
    let err = convert_fails(&[bad], &[]);
    assert!(
        err.contains(&format!("bad.nfcapd: block 1 (byte offset {}): block: corrupt LZ4 data", 40 + block)),
        "{err}"
    );

    // A block size beyond MAX_BLOCK is refused before anything is allocated.
    let mut huge = good.clone();
    huge[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = convert_fails(&[write("huge.nfcapd", &huge)], &[]);
    assert!(err.contains("corrupt block header: block size 4294967295"), "{err}");

    // Layouts this reader does not read say which they are.
    let mut v3 = good.clone();
    v3[2] = 3;
    let err = convert_fails(&[write("v3.nfcapd", &v3)], &[]);
    assert!(err.contains("nfcapd layout version 3 is newer than this reader knows"), "{err}");
    // A layout-2 file relabelled layout 1 is read as layout 1 and its framing fails, named.
    let mut v1 = good.clone();
    v1[2] = 1;
    let err = convert_fails(&[write("v1.nfcapd", &v1)], &[]);
    assert!(err.contains("v1.nfcapd: block 0") && err.contains("truncated file"), "{err}");
    let mut be = good.clone();
    be[..4].copy_from_slice(&[0xA5, 0x0C, 0x00, 0x02]);
    let err = convert_fails(&[write("be.nfcapd", &be)], &[]);
    assert!(err.contains("big-endian"), "{err}");

    // --format nfcapd on text says what it found.
    let err = convert_fails(&[native("services.ms.csv")], &["--format", "nfcapd"]);
    assert!(err.contains("not an nfcapd file"), "{err}");
}

/// Layout 1 (nfdump 1.6), assembled by hand from nfdump 1.6's `nffile.h`/`nfx.h` (no nfdump 1.6
/// could be run here to write one): a 140-byte header and 136-byte stat record, then type-2
/// blocks. Block 0 holds extension map 0 (ids 4, 8, 9, 14, 16) and an IPv4 flow with output
/// counters; block 1 an IPv6 flow with 64-bit packets that uses the map from block 0, so blocks
/// decoded on different workers still find it.
fn layout1(compress: bool) -> Vec<u8> {
    let le16 = |v: u16| v.to_le_bytes().to_vec();
    let le32 = |v: u32| v.to_le_bytes().to_vec();
    let mut map = [le16(2), le16(0), le16(0), le16(20)].concat();
    for id in [4u16, 8, 9, 14, 16, 0] {
        map.extend(le16(id));
    }
    let n = map.len() as u16;
    map[2..4].copy_from_slice(&n.to_le_bytes());
    let record = |flags: u8, proto: u8, ports: (u16, u16), addrs: Vec<u8>, counters: Vec<u8>, out: (u32, u32)| {
        let mut r = [le16(10), le16(0), vec![flags, 9], le16(0), le16(123), le16(456)].concat();
        r.extend(le32(1_795_000_000));
        r.extend(le32(1_795_000_002));
        r.extend([0, 0x1b, proto, 0]);
        r.extend([le16(ports.0), le16(ports.1), le16(7), vec![0, 0]].concat());
        r.extend(addrs);
        r.extend(counters);
        r.extend([le16(3), le16(4), vec![0, 1, 24, 16], le32(0xC0A8_0101), le32(out.0), le32(out.1)].concat());
        let n = r.len() as u16;
        r[2..4].copy_from_slice(&n.to_le_bytes());
        r
    };
    let a = record(
        0,
        6,
        (40000, 443),
        [le32(0x0A00_0001), le32(0x0A00_0002)].concat(),
        [le32(10), le32(1500)].concat(),
        (5, 700),
    );
    let v6 = |last: u64| [0x2001_0db8_0000_0000u64.to_le_bytes(), last.to_le_bytes()].concat();
    let b = record(
        1 | 2,
        17,
        (5353, 53),
        [v6(1), v6(2)].concat(),
        [(1u64 << 33).to_le_bytes().to_vec(), le32(4)].concat(),
        (0, 0),
    );
    let block = |records: u32, body: Vec<u8>| {
        let body = if compress { lz4_flex::block::compress(&body) } else { body };
        [le32(records), le32(body.len() as u32), le16(2), le16(0), body].concat()
    };
    let mut file = [vec![0x0C, 0xA5], le16(1), le32(if compress { 0x10 } else { 0 }), le32(2)].concat();
    file.extend(b"made by hand from nfdump 1.6's nffile.h");
    file.resize(140 + 136, 0);
    file.extend(block(2, [map, a].concat()));
    file.extend(block(1, b));
    file
}

#[test]
fn layout_1_files_assembled_from_nfdump_16_headers() {
    let dir = tempfile::tempdir().unwrap();
    for compress in [false, true] {
        let p = dir.path().join(format!("nfcapd.v1.{compress}"));
        std::fs::write(&p, layout1(compress)).unwrap();
        let (b, stderr) = convert(std::slice::from_ref(&p), &["--threads", "2"]);
        assert!(stderr.contains("(nfcapd)"), "{stderr}");
        assert_eq!(
            text(&b, "sip"),
            [Some("10.0.0.1"), Some("10.0.0.2"), Some("2001:db8::1")].map(|s| s.map(String::from))
        );
        assert_eq!(text(&b, "side"), [Some("orig"), Some("resp"), None].map(|s| s.map(String::from)));
        assert_eq!(sum(&b, "packets"), 10 + 5 + (1 << 33));
        assert_eq!(sum(&b, "bytes"), 1500 + 700 + 4);
        let t = b.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(t.value(0), 1_795_000_000_123_000);
        assert_eq!(text(&b, "nh")[0].as_deref(), Some("192.168.1.1"));
        assert_eq!(text(&b, "exid")[2].as_deref(), Some("7"));
    }
    // A record naming a map no earlier record defined is damage, named.
    let mut bad = layout1(false);
    let at = 140 + 136 + 12 + 20 + 6;
    bad[at] = 5;
    let p = dir.path().join("nfcapd.v1.badmap");
    std::fs::write(&p, &bad).unwrap();
    let e = convert_fails(&[p], &[]);
    assert!(e.contains("extension map 5"), "{e}");
}

/// Issue 20: the CSV path wrote `in`, `out`, `sas`, … as strings. They are integers now, so a
/// value that is not one is a bad line, named, as any bad number is.
#[test]
fn csv_integer_extras_refuse_text() {
    let csv = std::fs::read_to_string(native("services.nfdump171.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let at = lines[0].split(',').position(|c| c == "in").unwrap();
    let mut f: Vec<&str> = lines[1].split(',').collect();
    f[at] = "eth0";
    lines[1] = f.join(",");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.csv");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let e = convert_fails(&[p], &["--timezone", "UTC"]);
    assert!(e.contains("bad.csv:2") && e.contains("in") && e.contains("'eth0' is not an integer"), "{e}");
}
