//! Criterion benches per parsing stage, with byte throughput: the rwcut, CSV and whitespace-table
//! parsers over generated text, the hottest field parsers alone, and the Parquet encoding of the
//! parsed batches.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowlens::gen::{generate, GenFormat, GenOptions};
use flowlens::ingest::delimited::Scratch;
use flowlens::ingest::source::Block;
use flowlens::ingest::{detect, fields, parse_block, ReadOptions};
use flowlens::schema::flow_schema;

const ROWS: u64 = 50_000;

fn generated(format: GenFormat) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    let opts = GenOptions {
        rows: ROWS,
        seed: 42,
        format,
        local: "10.0.0.0/16".parse().unwrap(),
        start_day: fields::parse_date("2026-11-21").unwrap(),
        days: 1,
        plant: false,
    };
    generate(&opts, Some(&path), None).unwrap();
    std::fs::read(path).unwrap()
}

/// The generated rwcut text rewritten as an SEI-style whitespace table.
fn as_table(rwcut: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(rwcut);
    let mut out = String::from("SIP DIP SPORT DPORT PROTOCOL PACKETS BYTES FLAGS STIME DUR\n");
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        let flags = f[7].replace(' ', "");
        out.push_str(&format!(
            "{} {} {} {} {} {} {} {} {} {}\n",
            f[0], f[1], f[2], f[3], f[4], f[5], f[6], flags, f[8], f[9]
        ));
    }
    out.into_bytes()
}

fn bench_parsers(c: &mut Criterion) {
    let rwcut = generated(GenFormat::Rwcut);
    let csv = generated(GenFormat::Csv);
    let table = as_table(&rwcut);
    let mut group = c.benchmark_group("parse_block");
    for (name, text) in [("rwcut", &rwcut), ("csv", &csv), ("table", &table)] {
        let parser = detect(text, &ReadOptions::default()).unwrap().unwrap();
        let schema = flow_schema(parser.extras());
        let map = Arc::new((0..parser.extras().len()).collect::<Vec<_>>());
        let block = Block { input: 0, data: text.to_vec() };
        let mut scratch = Scratch::default();
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let parsed = parse_block(parser.as_ref(), &block, &schema, &map, true, &mut scratch).unwrap();
                assert!(parsed.rejects.is_empty());
                black_box(parsed.batch.num_rows())
            })
        });
    }
    group.finish();

    let parser = detect(&rwcut, &ReadOptions::default()).unwrap().unwrap();
    let schema = flow_schema(parser.extras());
    let map = Arc::new((0..parser.extras().len()).collect::<Vec<_>>());
    let block = Block { input: 0, data: rwcut.clone() };
    let batch = parse_block(parser.as_ref(), &block, &schema, &map, true, &mut Scratch::default()).unwrap().batch;
    let mut group = c.benchmark_group("parquet");
    group.throughput(Throughput::Bytes(rwcut.len() as u64));
    group.bench_function("encode_rwcut_batch", |b| {
        b.iter(|| {
            let mut w = flowlens::pqwrite::FlowsWriter::try_new(Vec::new(), schema.clone()).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        })
    });
    group.finish();
}

fn bench_fields(c: &mut Criterion) {
    let mut group = c.benchmark_group("fields");
    let ips: Vec<&[u8]> = vec![b"10.30.16.172", b"192.168.1.1", b"8.8.8.8", b"2001:db8::1"];
    group.throughput(Throughput::Elements(ips.len() as u64));
    group.bench_function("parse_ip", |b| {
        b.iter(|| ips.iter().map(|s| fields::parse_ip(black_box(s)).is_ok() as u32).sum::<u32>())
    });
    let stamps: Vec<&[u8]> =
        vec![b"2026/11/21T14:13:27.616", b"2026-11-21 14:13:27.616", b"1795269207.616", b"48.01.120"];
    group.throughput(Throughput::Elements(stamps.len() as u64));
    group.bench_function("parse_stamp", |b| {
        b.iter(|| stamps.iter().map(|s| fields::parse_stamp(black_box(s)).is_ok() as u32).sum::<u32>())
    });
    group.finish();
}

criterion_group!(benches, bench_parsers, bench_fields);
criterion_main!(benches);
