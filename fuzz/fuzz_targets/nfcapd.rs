#![no_main]
//! nfcapd files: detection from the file header, framing (`BlockSource`) and decoding of every
//! block, as `convert` does them. A hostile file must never panic, must never make a worker
//! allocate past MAX_BLOCK, and every block must finish into a batch whose columns agree (each
//! record appended all of its rows or none).
//!
//! The first byte picks the input: the fuzzer's bytes as they are, or behind a real layout-2
//! file header (each compression) announcing many blocks, so that most runs reach the block and
//! record decoders rather than stopping at the magic.

use std::sync::Arc;

use flowlens::ingest::batch::BatchBuilder;
use flowlens::ingest::records::{decode_block, RawBlock};
use flowlens::ingest::{detect_input, Decoder, ReadOptions};

fn header(compression: u8) -> Vec<u8> {
    let mut h = vec![0u8; 40];
    h[..4].copy_from_slice(&[0x0C, 0xA5, 2, 0]);
    h[16] = compression;
    h[36..40].copy_from_slice(&1000u32.to_le_bytes());
    h
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let bytes: Vec<u8> = match pick % 6 {
        5 => rest.to_vec(),
        c => [header(c), rest.to_vec()].concat(),
    };
    let opts = ReadOptions::default();
    let Ok(Some(Decoder::Records(format))) = detect_input(&bytes, &opts, None) else { return };
    let schema = flowlens::schema::flow_schema(format.extras());
    let map = Arc::new((0..format.extras().len()).collect::<Vec<_>>());
    let mut blocks = format.blocks(0, Box::new(std::io::Cursor::new(bytes)));
    let mut scratch = Vec::new();
    let mut seen = 0;
    while let Ok(Some(block)) = blocks.next_block() {
        let block: RawBlock = block;
        let parsed = decode_block(format.as_ref(), &block, &schema, &map, &mut scratch)
            .expect("a batch whose columns agree: a record pushed part of its rows");
        assert!(parsed.batch.num_rows() as u64 <= 2 * parsed.lines);
        assert!(scratch.len() <= flowlens::ingest::nfcapd::MAX_BLOCK);
        seen += 1;
        assert!(seen <= 1000);
    }
    let _ = BatchBuilder::new(schema, map, 0).finish();
});
