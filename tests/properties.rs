//! Properties of convert and cat on random flows: text → Parquet → text is the identity, and a
//! parallel run with many small blocks writes exactly what a serial run writes.

use std::net::IpAddr;
use std::path::Path;

use flowlens::cat::{cat, CatOptions};
use flowlens::convert::{convert, ConvertOptions};
use flowlens::select::Selection;
use flowlens::text::{rwcut_column, RwcutRow, TextWriter, RWCUT_FIELDS};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Row {
    sip: IpAddr,
    dip: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    packets: u64,
    bytes: u64,
    flags: u8,
    stime_ms: i64,
    dur_ms: i64,
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        4 => any::<[u8; 4]>().prop_map(IpAddr::from),
        1 => any::<[u16; 8]>().prop_map(IpAddr::from),
        1 => (0u16..3, 0u16..3).prop_map(|(a, b)| IpAddr::from([0x2001, 0xdb8, 0, 0, a, 0, 0, b])),
    ]
}

fn row() -> impl Strategy<Value = Row> {
    (
        ip(),
        ip(),
        any::<u16>(),
        any::<u16>(),
        any::<u8>(),
        0u64..1 << 40,
        0u64..1 << 50,
        any::<u8>(),
        0i64..4_000_000_000_000,
        0i64..86_400_000,
    )
        .prop_map(|(sip, dip, sport, dport, proto, packets, bytes, flags, stime_ms, dur_ms)| Row {
            sip,
            dip,
            sport,
            dport,
            proto,
            packets,
            bytes,
            flags,
            stime_ms,
            dur_ms,
        })
}

/// rwcut text as `flowlens cat` prints it: addresses 39 wide when one is IPv6, as rwcut does.
fn rwcut_text(rows: &[Row]) -> String {
    let width = if rows.iter().any(|r| r.sip.is_ipv6() || r.dip.is_ipv6()) { 39 } else { 15 };
    let mut w = TextWriter::new(RWCUT_FIELDS.iter().map(|c| rwcut_column(c, width)).collect(), None);
    let mut out = Vec::new();
    w.titles(&mut out).unwrap();
    for r in rows {
        let row = RwcutRow {
            sip: r.sip,
            dip: r.dip,
            sport: r.sport,
            dport: r.dport,
            proto: r.proto,
            packets: r.packets,
            bytes: r.bytes,
            flags: Some(r.flags),
            stime: r.stime_ms * 1000,
            dur: r.dur_ms * 1000,
        };
        w.rwcut_row(&row, &[], &mut out).unwrap();
    }
    String::from_utf8(out).unwrap()
}

fn convert_file(input: &Path, output: &Path, threads: usize, block: usize) {
    let mut opts = ConvertOptions::new(vec![input.to_path_buf()], output.to_path_buf());
    opts.threads = threads;
    opts.block_size = block;
    convert(&opts).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn text_to_parquet_to_text_is_identity(rows in prop::collection::vec(row(), 1..300)) {
        let dir = tempfile::tempdir().unwrap();
        let text = rwcut_text(&rows);
        let input = dir.path().join("in.rw");
        std::fs::write(&input, &text).unwrap();
        let pq = dir.path().join("f.parquet");
        convert_file(&input, &pq, 2, 0);
        let back = dir.path().join("back.rw");
        cat(&[pq], &CatOptions { fields: None, delimiter: None, titles: true, select: Selection::all() }, Some(&back)).unwrap();
        prop_assert_eq!(std::fs::read_to_string(&back).unwrap(), text);
    }

    #[test]
    fn parallel_small_blocks_equal_serial(rows in prop::collection::vec(row(), 1..2000)) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.rw");
        std::fs::write(&input, rwcut_text(&rows)).unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        convert_file(&input, &a, 1, 1 << 30);
        // The block size is raised to the reader's minimum (two maximal lines), so this still
        // cuts a few-hundred-kilobyte input into several blocks parsed out of order.
        convert_file(&input, &b, 4, 1);
        let ra = flowlens::scan::read_all(&a).unwrap();
        let rb = flowlens::scan::read_all(&b).unwrap();
        let schema = ra[0].schema();
        let ca = arrow_select::concat::concat_batches(&schema, &ra).unwrap();
        let cb = arrow_select::concat::concat_batches(&schema, &rb).unwrap();
        prop_assert_eq!(ca, cb);
    }
}
