#![no_main]
//! SiLK rw files: a hostile file never panics and never allocates without bound (every length
//! comes from the file). The input is the fuzzer's bytes, or one of the fixtures' real headers
//! followed by them (so the fuzzer spends its time in blocks and records, not in the magic).
//! A file that decodes gives at most one row per record-sized run of its bytes.

const HEADERS: [&[u8]; 4] = [
    include_bytes!("../../tests/data/native/g5-generic-v5-zlib-L.rw"),
    include_bytes!("../../tests/data/native/g5-routing-v1-lzo1x-L.rw"),
    include_bytes!("../../tests/data/native/g5-ipv6-v2-snappy-B.rw"),
    include_bytes!("../../tests/data/native/sei-routing-v1-none-L.rw"),
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use flowlens::ingest::silk::{decode_all, SilkHeader};
    let Some((&pick, rest)) = data.split_first() else { return };
    let file: Vec<u8> = if pick % 2 == 0 {
        rest.to_vec()
    } else {
        let real = HEADERS[(pick as usize / 2) % HEADERS.len()];
        let h = SilkHeader::parse(real).expect("a fixture's header").header_len();
        [&real[..h], rest].concat()
    };
    if let Ok(batch) = decode_all(&file, None) {
        // Compressed blocks expand, but never past SiLK's 1 MiB per 8-byte block header.
        let blocks = file.len() / 8 + 1;
        assert!(batch.num_rows() <= blocks * flowlens::ingest::silk::MAX_BLOCK / 26);
    }
});
