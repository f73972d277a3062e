//! Criterion benches for `flowlens ports`, per stage: the whole report from a Parquet file
//! (read + group + summarize, bytes of Parquet per second), the per-host summary alone on a
//! host with groups on every port, and the K/M/G formatting of table cells.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flowlens::convert::{convert, ConvertOptions};
use flowlens::gen::{generate, GenFormat, GenOptions};
use flowlens::ingest::fields;
use flowlens::ports::summarize::{summarize_host, Scratch};
use flowlens::ports::{build_report, HostFilter, SummaryOptions, Traffic};

const ROWS: u64 = 1_000_000;

/// One million generated flows as Parquet, in a folder that lives as long as the bench.
fn parquet(dir: &tempfile::TempDir) -> PathBuf {
    let text = dir.path().join("flows.rw");
    let opts = GenOptions {
        rows: ROWS,
        seed: 42,
        format: GenFormat::Rwcut,
        local: "10.0.0.0/16".parse().unwrap(),
        start_day: fields::parse_date("2026-11-21").unwrap(),
        days: 1,
        plant: false,
    };
    generate(&opts, Some(&text), None).unwrap();
    let out = dir.path().join("flows.parquet");
    let mut c = ConvertOptions::new(vec![text.clone()], out.clone());
    c.quiet = true;
    convert(&c).unwrap();
    std::fs::remove_file(text).unwrap();
    out
}

fn bench_report(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = parquet(&dir);
    let bytes = std::fs::metadata(&file).unwrap().len();
    let files = vec![file];
    let opts = SummaryOptions::default();
    let mut group = c.benchmark_group("ports_report");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    for (name, nets) in [("local", vec!["10.0.0.0/16".parse().unwrap()]), ("all_hosts", vec![])] {
        let filter = HostFilter::new(&nets);
        group.bench_function(BenchmarkId::new("build_report", name), |b| {
            b.iter(|| black_box(build_report(&files, &filter, &opts, None).unwrap().hosts.len()))
        });
    }
    group.finish();
}

fn bench_summary(c: &mut Criterion) {
    // A scanned host: 8 source ports on every destination port, 524,280 groups.
    let mut groups: Vec<(u32, Traffic)> = Vec::new();
    for s in 0..8u32 {
        for d in 1..=65535u32 {
            let t = Traffic { flows: 1, in_packets: 1, in_bytes: 40 + (d % 7) as u64, ..Default::default() };
            groups.push((((40000 + s) << 16) | d, t));
        }
    }
    let opts = SummaryOptions::default();
    let mut scratch = Scratch::default();
    let mut group = c.benchmark_group("ports_summary");
    group.throughput(Throughput::Elements(groups.len() as u64));
    group.bench_function("scanned_host", |b| {
        b.iter(|| black_box(summarize_host("10.9.9.9".parse().unwrap(), &groups, &opts, &mut scratch).rows.len()))
    });
    group.finish();
}

fn bench_units(c: &mut Criterion) {
    let values: Vec<u64> = (0..4096u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 60)).collect();
    let mut group = c.benchmark_group("ports_units");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("write_human", |b| {
        let mut s = String::with_capacity(16);
        b.iter(|| {
            let mut n = 0;
            for &v in &values {
                s.clear();
                flowlens::units::write_human(&mut s, v, 5);
                n += s.len();
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_report, bench_summary, bench_units);
criterion_main!(benches);
