//! Criterion benches of the exporter parsers, with byte throughput: the data lines of the real
//! fixtures in tests/data/formats/ (nfdump, Argus, binetflow, Zeek TSV and JSON), repeated to
//! about 4 MiB under their header, parsed as `convert` does (`parse_block`).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowlens::ingest::delimited::Scratch;
use flowlens::ingest::source::Block;
use flowlens::ingest::{detect, fields, parse_block, ReadOptions};
use flowlens::schema::flow_schema;

const SIZE: usize = 4 << 20;

/// The fixture's header lines, then its data lines repeated up to `SIZE` bytes. Trailers (nfdump's
/// Summary, Zeek's #close) and Argus's management records are left out of the repeated part.
fn replicated(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats").join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let is_header = |l: &str| l.starts_with('#') || l.starts_with("ts,") || l.contains("SrcAddr");
    let is_data = |l: &str| {
        !is_header(l)
            && !l.is_empty()
            && !l.contains(",man,")
            && l != "Summary"
            && !l.starts_with("flows,")
            && l.contains('.')
    };
    let mut out: String = text
        .lines()
        .take_while(|l| is_header(l) || l.starts_with("firstSeen") || l.starts_with("cnt,"))
        .map(|l| format!("{l}\n"))
        .collect();
    if name.ends_with(".json") {
        out.clear();
    }
    let data: Vec<&str> = text.lines().filter(|l| is_data(l)).collect();
    while out.len() < SIZE {
        for l in &data {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn bench_formats(c: &mut Criterion) {
    let mut group = c.benchmark_group("exporters");
    let opts = ReadOptions {
        time: fields::TimeContext { tz: None, date: fields::parse_date("2026-11-23") },
        ..ReadOptions::default()
    };
    for (name, file) in [
        ("nfdump-classic", "nfdump-services.csv"),
        ("nfdump-1.7.5", "nfdump175-services.csv"),
        ("nfdump-fast", "nfdumpfast-services.csv"),
        ("argus-dir", "argus-services-dir.csv"),
        ("binetflow", "services.binetflow"),
        ("zeek-tsv", "zeek/zeek-zed-conn.log"),
        ("zeek-json", "zeek/zeek-docs-conn.json"),
    ] {
        let text = replicated(file);
        let parser = detect(&text, &opts).unwrap().unwrap();
        let schema = flow_schema(parser.extras());
        let map = Arc::new((0..parser.extras().len()).collect::<Vec<_>>());
        let block = Block { input: 0, data: text };
        let mut scratch = Scratch::default();
        group.throughput(Throughput::Bytes(block.data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let parsed = parse_block(parser.as_ref(), &block, &schema, &map, true, &mut scratch).unwrap();
                assert!(parsed.rejects.is_empty(), "{name}: {:?}", parsed.rejects.first());
                black_box(parsed.batch.num_rows())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_formats);
criterion_main!(benches);
