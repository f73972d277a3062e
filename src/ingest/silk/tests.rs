//! The decoder against SiLK's own output: every record of every fixture in `tests/data/native/`
//! (written by SiLK 3.19.1, see its README) must give the row the text path gives for the
//! `rwcut --all-fields` line of the same record, and the `--fields` text too.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};

use super::*;
use crate::ingest::delimited::Scratch as TextScratch;
use crate::ingest::{detect, ReadOptions};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/native");

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

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn conf() -> Arc<SilkConf> {
    Arc::new(SilkConf::parse(&String::from_utf8(read("silk.conf")).unwrap()).unwrap())
}

/// The text path's batch for an rwcut text file, every line converted strictly.
fn text_batch(text: &[u8]) -> RecordBatch {
    let parser = detect(text, &ReadOptions::default()).expect("detected").expect("not empty");
    let mut b = BatchBuilder::for_parser(parser.as_ref(), 1024);
    let mut scratch = TextScratch::default();
    for (n, line) in text.split(|&c| c == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        parser.parse_line(line, &mut b, &mut scratch).unwrap_or_else(|e| panic!("line {}: {e:?}", n + 1));
    }
    b.finish().unwrap()
}

/// The text path's name for one of our extra columns: the new names, or the rwcut titles the
/// text path stored before they were renamed.
fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    let old = match name {
        "sensor" => "sen",
        "initialFlags" => "initialF",
        "sessionFlags" => "sessionF",
        "attributes" => "attribut",
        "application" => "appli",
        "class" => "cla",
        other => other,
    };
    let schema = batch.schema();
    let i = schema.index_of(name).or_else(|_| schema.index_of(old)).unwrap_or_else(|_| panic!("no column {name}"));
    batch.column(i).as_ref()
}

/// Row by row, column by column, so that a failure names the first difference.
fn assert_same_rows(file: &str, ours: &RecordBatch, text: &RecordBatch) {
    assert_eq!(ours.num_rows(), text.num_rows(), "{file}: rows");
    let mut names: Vec<&str> = crate::schema::CORE_COLUMNS.to_vec();
    names.extend(EXTRA_COLUMNS);
    for name in names {
        let a = ours.column(ours.schema().index_of(name).unwrap()).as_ref();
        let b = text_column(text, name);
        assert_eq!(a.data_type(), b.data_type(), "{file}: {name}");
        for row in 0..ours.num_rows() {
            let (x, y) = (a.slice(row, 1), b.slice(row, 1));
            assert!(x.to_data() == y.to_data(), "{file}: row {} column {name}: binary {x:?} vs text {y:?}", row + 1);
        }
    }
}

#[test]
fn every_record_of_every_fixture_equals_rwcut_text() {
    let conf = conf();
    for (file, records) in FIXTURES {
        let ours = decode_all(&read(file), Some(conf.clone())).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(ours.num_rows(), records, "{file}");
        for text in [format!("{file}.txt"), format!("{file}.fields.txt")] {
            assert_same_rows(&text, &ours, &text_batch(&read(&text)));
        }
    }
}

/// Without a silk.conf the ids are numbers and the class is unknown.
#[test]
fn without_silk_conf_sensor_and_type_are_numbers() {
    let b = decode_all(&read("in-S3_20261121.09"), None).unwrap();
    let col = |n: &str| b.column(b.schema().index_of(n).unwrap()).as_string::<i32>().clone();
    assert_eq!(col("sensor").value(0), "3");
    assert_eq!(col("type").value(0), "0");
    assert_eq!(col("class").null_count(), b.num_rows());
}

/// Every fixture's header parses, and its length is where the records start.
#[test]
fn fixture_headers() {
    for (file, _) in FIXTURES {
        let bytes = read(file);
        assert!(is_silk(&bytes));
        let h = SilkHeader::parse(&bytes).unwrap();
        assert_eq!(SilkHeader::read(&mut &bytes[..]).unwrap(), h);
        assert_eq!(h.header_len() % usize::from(h.record_size), 0, "{file}");
        if h.compression == Compression::None {
            assert_eq!((bytes.len() - h.header_len()) % usize::from(h.record_size), 0, "{file}");
        }
    }
    let h = SilkHeader::parse(&read("in-S3_20261121.09")).unwrap();
    let p = h.packed_file().unwrap();
    assert_eq!((p.start_ms, p.flowtype, p.sensor), (1_795_251_600_000, 0, 3));
    assert_eq!(h.compression, Compression::Lzo1x);
}

#[test]
fn unsupported_formats_and_broken_blocks_are_clear_errors() {
    let bytes = read("g5-routing-v1-zlib-B.rw");
    let err = |b: &[u8]| decode_all(b, None).unwrap_err();
    let mut b = bytes.clone();
    b[5] = 0x1f;
    assert!(err(&b).contains("unsupported SiLK record format FT_RWWWW (0x1f) version 1"), "{}", err(&b));
    let mut b = bytes.clone();
    b[15] = 9;
    assert!(err(&b).contains("FT_RWIPV6ROUTING (0x0c) version 9"), "{}", err(&b));
    let mut b = bytes.clone();
    b[13] = 90;
    assert!(err(&b).contains("says 90-byte records"), "{}", err(&b));
    let mut b = bytes.clone();
    b[7] = 7;
    assert!(err(&b).contains("unknown SiLK compression method 7"), "{}", err(&b));
    // A block longer than the file.
    let h = SilkHeader::parse(&bytes).unwrap().header_len();
    let e = err(&bytes[..bytes.len() - 10]);
    assert!(e.contains("block claims") && e.contains("file ends after"), "{e}");
    assert!(e.starts_with(&format!("byte {h}:")), "the block's offset: {e}");
    // A stated size over the limit.
    let mut b = bytes.clone();
    b[h..h + 4].copy_from_slice(&(MAX_BLOCK as u32 + 1).to_be_bytes());
    assert!(err(&b).contains("more than the 1048576"), "{}", err(&b));
    // Compressed bytes that are not zlib; the block still says how many records it held.
    let mut b = bytes.clone();
    b[h + 8] ^= 0xff;
    assert!(err(&b).contains("zlib block does not decompress"), "{}", err(&b));
    let mut r = &b[..];
    let d = Decoder::new(SilkHeader::read(&mut r).unwrap(), None).unwrap();
    let raw = BlockReader::new(d.header(), r).next_block().unwrap().unwrap();
    assert_eq!(d.record_count(&raw), 601);
    // An uncompressed file cut inside a record.
    let plain = read("g5-ipv6-v1-none-L.rw");
    let e = err(&plain[..plain.len() - 5]);
    assert!(e.contains("ends inside a record: 63 bytes"), "{e}");
    assert!(err(&bytes[..3]).contains("not a SiLK file"));
    assert!(err(&bytes[..40]).contains("cut short"), "{}", err(&bytes[..40]));
}

/// A hostile file never panics: every fixture cut at many lengths and with bytes overwritten
/// at many places decodes or fails with an error.
#[test]
fn truncated_and_corrupted_fixtures_never_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (file, _) in FIXTURES {
        let bytes = read(file);
        let cuts = (0..bytes.len().min(300)).chain((300..bytes.len()).step_by(97));
        for n in cuts {
            let _ = decode_all(&bytes[..n], None);
        }
        for _ in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % b.len();
                b[at] = next() as u8;
            }
            let _ = decode_all(&b, None);
        }
        // The header region byte by byte: every value of the bytes that steer the reader.
        for at in 4..24.min(bytes.len()) {
            for v in [0u8, 1, 2, 3, 4, 5, 0x0b, 0x0c, 0x0d, 0x0e, 0x14, 0x15, 0x16, 0x7f, 0xff] {
                let mut b = bytes.clone();
                b[at] = v;
                let _ = decode_all(&b, None);
            }
        }
    }
}

/// A big file of the fixture's blocks repeated `times`, with its header: valid SiLK (each block
/// stands alone), so the decoder can be timed on as many rows as wanted.
pub(crate) fn repeated(bytes: &[u8], times: usize) -> Vec<u8> {
    let h = SilkHeader::parse(bytes).unwrap().header_len();
    let mut out = bytes[..h].to_vec();
    for _ in 0..times {
        out.extend_from_slice(&bytes[h..]);
    }
    out
}

/// Rows/s of the decoder against the text path on the same flows, one thread each, each as
/// convert's workers run it: the text cut by `source::BlockReader` into 2 MiB blocks and parsed
/// by `parse_block`; the rw file cut by [`BlockReader`] and decoded by `decode_block`; both
/// into one finished Arrow batch per block. Best of three.
/// `cargo test --release --lib silk_speed -- --ignored --nocapture`
#[test]
#[ignore]
fn silk_speed() {
    let conf = conf();
    let rows_wanted = 1_000_000usize;
    let files = [("g5-routing-v1-lzo1x-L.rw", 601usize), ("in-S3_20261121.09", 157), ("g5-ipv6-v1-none-L.rw", 601)];
    for (file, records) in files {
        let times = rows_wanted / records;
        let big = repeated(&read(file), times);
        for text_file in [format!("{file}.txt"), format!("{file}.fields.txt")] {
            let text = read(&text_file);
            let nl = text.iter().position(|&c| c == b'\n').unwrap() + 1;
            let mut big_text = text.clone();
            for _ in 1..times {
                big_text.extend_from_slice(&text[nl..]);
            }
            let best = |f: &dyn Fn() -> usize| {
                (0..3)
                    .map(|_| {
                        let t = std::time::Instant::now();
                        let n = f();
                        (n, t.elapsed().as_secs_f64())
                    })
                    .fold((0, f64::MAX), |a, b| (b.0, a.1.min(b.1)))
            };
            let (n_bin, t_bin) = best(&|| {
                let mut r = &big[..];
                let decoder = Decoder::new(SilkHeader::read(&mut r).unwrap(), Some(conf.clone())).unwrap();
                let mut blocks = BlockReader::new(decoder.header(), r);
                let schema = crate::schema::flow_schema(&extra_columns());
                let map = Arc::new((0..EXTRA_COLUMNS.len()).collect::<Vec<_>>());
                let mut scratch = Scratch::default();
                let mut rows = 0;
                while let Some(raw) = blocks.next_block().unwrap() {
                    let mut out = BatchBuilder::new(schema.clone(), map.clone(), raw.records_len / 50);
                    decoder.decode_block(&raw, &mut out, &mut scratch).unwrap();
                    rows += out.finish().unwrap().num_rows();
                }
                rows
            });
            let (n_txt, t_txt) = best(&|| {
                let opts = ReadOptions::default();
                let parser = detect(&big_text, &opts).unwrap().unwrap();
                let schema = crate::schema::flow_schema(parser.extras());
                let map = Arc::new((0..parser.extras().len()).collect::<Vec<_>>());
                let reader: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(big_text.clone()));
                let mut blocks = crate::ingest::source::BlockReader::new(reader, 0, Vec::new(), 2 << 20);
                let mut scratch = TextScratch::default();
                let mut rows = 0;
                while let Some(block) = blocks.next_block().unwrap() {
                    let p =
                        crate::ingest::parse_block(parser.as_ref(), &block, &schema, &map, true, &mut scratch).unwrap();
                    assert!(p.rejects.is_empty());
                    rows += p.batch.num_rows();
                }
                rows
            });
            assert_eq!(n_bin, n_txt);
            println!(
                "{file} ({:.1} MB) vs {text_file} ({:.1} MB), {n_bin} rows: binary {:.2} M rows/s, text {:.2} M rows/s: {:.1}x",
                big.len() as f64 / 1e6,
                big_text.len() as f64 / 1e6,
                n_bin as f64 / t_bin / 1e6,
                n_txt as f64 / t_txt / 1e6,
                t_txt / t_bin
            );
        }
    }
}

#[test]
#[ignore]
fn silk_decompress_speed() {
    for file in ["g5-routing-v1-lzo1x-L.rw", "g5-routing-v1-zlib-B.rw", "g5-routing-v3-snappy-B.rw"] {
        let big = repeated(&read(file), 1663);
        let mut r = &big[..];
        let h = SilkHeader::read(&mut r).unwrap();
        let mut blocks = BlockReader::new(&h, r);
        let mut raws = Vec::new();
        while let Some(b) = blocks.next_block().unwrap() {
            raws.push(b);
        }
        let t = std::time::Instant::now();
        let mut buf = Vec::new();
        let mut total = 0;
        for raw in &raws {
            buf.resize(raw.records_len, 0);
            total += decompress(h.compression, &raw.data, &mut buf).unwrap();
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{file}: {} blocks, {:.0} MB out in {s:.3}s: {:.0} MB/s",
            raws.len(),
            total as f64 / 1e6,
            total as f64 / 1e6 / s
        );
    }
}
