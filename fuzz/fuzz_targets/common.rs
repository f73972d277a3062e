//! What every target checks: an input, headed either by the fuzzer's own bytes or by one of the
//! format's real headers, is detected and parsed the way `convert` does it (`parse_block`), and
//! then
//! - nothing panics (no `unwrap` reachable from input, no slicing out of bounds),
//! - the batch finishes: every line pushed all of its rows and extra values or none of them,
//! - the rows are what the outcomes said, every line is either converted, skipped or rejected.

use std::sync::Arc;

use flowlens::ingest::delimited::Scratch;
use flowlens::ingest::source::Block;
use flowlens::ingest::{detect, parse_block, Format, ReadOptions};

pub fn run(format: Format, headers: &[&str], data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else { return };
    let text: Vec<u8> = if pick % 2 == 0 || headers.is_empty() {
        rest.to_vec()
    } else {
        let header = headers[(pick as usize / 2) % headers.len()];
        [header.as_bytes(), b"\n", rest].concat()
    };
    let opts = ReadOptions { format, ..ReadOptions::default() };
    let parser = match detect(&text, &opts) {
        Ok(Some(p)) => p,
        Ok(None) | Err(_) => return,
    };
    let schema = flowlens::schema::flow_schema(parser.extras());
    let map = Arc::new((0..parser.extras().len()).collect::<Vec<_>>());
    let block = Block { input: 0, data: text };
    let parsed = parse_block(parser.as_ref(), &block, &schema, &map, false, &mut Scratch::default())
        .expect("a batch whose columns agree: a line pushed part of its rows");
    assert!(parsed.rejects.len() as u64 <= parsed.lines);
    let lines = block.data.split(|&c| c == b'\n').count() as u64;
    assert!(parsed.lines <= lines);
}
