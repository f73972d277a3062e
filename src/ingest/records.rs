//! Binary flow archives → Arrow batches: the interface a record format implements (nfdump's
//! nfcapd files in `nfcapd/`, SiLK's rw files in `silk/`) so that `convert` carries it through
//! the same reader thread, parallel workers and ordered writer as flow text.
//!
//! The work is split where it lies. The reader thread only *frames*: it reads the input's blocks
//! as they are stored (compressed), checks every length against a named maximum before
//! allocating, and numbers them. Workers *decode*: each decompresses one block and appends its
//! records to a [`BatchBuilder`], in parallel. `convert`'s `Order` then writes the batches in
//! input order, exactly as it does for blocks of text lines.
//!
//! ```text
//!  reader thread                       workers (one per core)                    writer (in turn)
//!  RecordFormat::blocks(reader)        RecordFormat::decode(&RawBlock, &mut out)
//!    └ BlockSource::next_block ─RawBlock─▶ decompress + decode ─▶ Parsed ─▶ Order ─▶ Parquet
//! ```
//!
//! A format provides:
//! - [`RecordFormat`], made by the format's detection from the input's first bytes (its file
//!   header): its name, its extra columns (fixed before any block is read, since the output
//!   schema is), [`RecordFormat::blocks`] and [`RecordFormat::decode`].
//! - [`BlockSource`]: the framing state of one input (blocks read, where the data ends).
//!
//! Nothing is dropped silently. A block that cannot be framed (a truncated file) or decoded (a
//! corrupt compressed stream), and a record that cannot be read, is a [`Damage`]: where it is
//! (block number, byte offset, record) and how many records were lost. In a strict run the first
//! one is the run's error; with `--rejects` each is a line of the rejects file and the lost
//! records are counted as rejected.

use std::io::Read;
use std::sync::Arc;

use arrow_schema::SchemaRef;

use super::batch::BatchBuilder;
use super::{BlockAt, Parsed, Reject};

/// One block of an input as stored: whatever the format needs to decode it on its own (for
/// nfcapd, the block header and the compressed records).
pub struct RawBlock {
    /// Index of the input in the run's input list.
    pub input: usize,
    /// The block's number in its input, from 0.
    pub index: u64,
    /// Byte offset of the block in its input (after gzip/zstd are undone).
    pub offset: u64,
    pub data: Vec<u8>,
}

/// A block or record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub index: u64,
    pub offset: u64,
    /// The record within the block, from 0, when one record is at fault.
    pub record: Option<u64>,
    pub reason: String,
    /// Records lost, when the format knows (a block header says how many it held).
    pub lost: Option<u64>,
}

/// The framing side of one input: yields its blocks in order. After a `Damage` the input is not
/// read further (its framing cannot be trusted past that point).
pub trait BlockSource: Send {
    fn next_block(&mut self) -> Result<Option<RawBlock>, Damage>;
}

/// What decoding one block gave.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Flow records turned into rows (a bidirectional record gives two rows).
    pub records: u64,
    /// Records and blocks that could not be read.
    pub damage: Vec<Damage>,
}

/// A binary flow format, detected for one input from its first bytes.
pub trait RecordFormat: Send + Sync {
    /// Short name of the format (`nfcapd`, `silk`), for messages and the summary.
    fn format(&self) -> &'static str;
    /// Names of the extra (non-core) columns of every row, in output order.
    fn extras(&self) -> &[String];
    /// The blocks of the input whose bytes `reader` yields from its first byte on.
    fn blocks(&self, input: usize, reader: Box<dyn Read + Send>) -> Box<dyn BlockSource>;
    /// About how many rows `block` holds, to size the builder (bounded by the format).
    fn rows_hint(&self, block: &RawBlock) -> usize;
    /// Decompresses and decodes one block, appending its rows to `out`. `scratch` is the
    /// worker's buffer, kept between blocks. Every record appends all of its rows or none.
    fn decode(&self, block: &RawBlock, out: &mut BatchBuilder, scratch: &mut Vec<u8>) -> Decoded;
    /// Something the user should know about how this input's rows will look (SiLK without a
    /// `silk.conf`), printed once per run; not an error.
    fn note(&self) -> Option<String> {
        None
    }
}

impl Damage {
    /// The reject this damage is reported as.
    pub fn reject(self, input: usize) -> Reject {
        let column = match self.record {
            Some(r) => format!("record {r}"),
            None => "block".to_string(),
        };
        Reject {
            input,
            line: 0,
            column,
            reason: self.reason,
            text: Vec::new(),
            block: Some(BlockAt { index: self.index, offset: self.offset, lost: self.lost }),
        }
    }
}

/// Decodes one raw block into a batch of the output schema, as `parse_block` does for text.
pub fn decode_block(
    format: &dyn RecordFormat,
    block: &RawBlock,
    schema: &SchemaRef,
    extra_map: &Arc<Vec<usize>>,
    scratch: &mut Vec<u8>,
) -> Result<Parsed, arrow_schema::ArrowError> {
    let mut out = BatchBuilder::new(schema.clone(), extra_map.clone(), format.rows_hint(block));
    let decoded = format.decode(block, &mut out, scratch);
    let lost: u64 = decoded.damage.iter().filter_map(|d| d.lost).sum();
    Ok(Parsed {
        input: block.input,
        batch: out.finish()?,
        lines: decoded.records + lost,
        physical_lines: 0,
        rejects: decoded.damage.into_iter().map(|d| d.reject(block.input)).collect(),
    })
}

/// A block that could not be framed, as a parsed block with no rows and one reject.
pub fn damaged(
    input: usize,
    damage: Damage,
    schema: &SchemaRef,
    extra_map: &Arc<Vec<usize>>,
) -> Result<Parsed, arrow_schema::ArrowError> {
    let lost = damage.lost.unwrap_or(0);
    Ok(Parsed {
        input,
        batch: BatchBuilder::new(schema.clone(), extra_map.clone(), 0).finish()?,
        lines: lost,
        physical_lines: 0,
        rejects: vec![damage.reject(input)],
    })
}
