//! SiLK rw files in `convert`: the [`RecordFormat`] and [`BlockSource`] of `ingest::records`,
//! so that rw files go through the same reader thread, parallel workers and ordered writer as
//! nfcapd files and text.
//!
//! The reader thread cuts blocks as SiLK stored them ([`super::BlockReader`]: every size checked
//! against [`MAX_BLOCK`]); workers decompress and decode them ([`Decoder::decode_bytes`]). A
//! compressed block travels with its 8 size bytes in front, as stored, so that a worker knows
//! its decompressed length; a block of an uncompressed file is whole records.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::{extra_columns, BlockReader, Compression, Decoder, SilkConf, SilkHeader, MAX_BLOCK};
use crate::ingest::batch::BatchBuilder;
use crate::ingest::records::{BlockSource, Damage, Decoded, RawBlock, RecordFormat};

/// A SiLK rw input: its header's decoder and the extra columns of every row.
pub struct Silk {
    decoder: Arc<Decoder>,
    extras: Vec<String>,
    /// Where the sensor and class/type names came from; `None`: numbers.
    conf_path: Option<std::path::PathBuf>,
}

/// Recognizes a SiLK file by its magic number; `None` when `head` is not one. `head` must hold
/// the whole header (SiLK's are a few hundred bytes; convert reads 64 KiB). The `silk.conf` is
/// looked for as [`SilkConf::find`] says, `input` being the file (`None` for stdin).
pub fn detect(head: &[u8], conf: Option<&Path>, input: Option<&Path>) -> Option<Result<Silk, String>> {
    if !super::is_silk(head) {
        return None;
    }
    Some(open(head, conf, input))
}

fn open(head: &[u8], conf: Option<&Path>, input: Option<&Path>) -> Result<Silk, String> {
    let header = SilkHeader::parse(head).map_err(|e| format!("SiLK rw file: {e}"))?;
    let found = SilkConf::find(conf, input)?;
    let (conf_path, conf) = match found {
        Some((p, c)) => (Some(p), Some(Arc::new(c))),
        None => (None, None),
    };
    let decoder = Decoder::new(header, conf).map_err(|e| format!("SiLK rw file: {e}"))?;
    Ok(Silk { decoder: Arc::new(decoder), extras: extra_columns(), conf_path })
}

impl Silk {
    pub fn header(&self) -> &SilkHeader {
        self.decoder.header()
    }

    /// The `silk.conf` that names sensors and flow types, when one was found.
    pub fn conf_path(&self) -> Option<&Path> {
        self.conf_path.as_deref()
    }

    fn compressed(&self) -> bool {
        self.header().compression != Compression::None
    }

    /// The block's bytes as stored and its decompressed length.
    fn parts<'a>(&self, block: &'a RawBlock) -> Option<(&'a [u8], usize)> {
        if !self.compressed() {
            return Some((&block.data, block.data.len()));
        }
        let sizes = block.data.get(..8)?;
        let len = u32::from_be_bytes([sizes[4], sizes[5], sizes[6], sizes[7]]) as usize;
        Some((&block.data[8..], len))
    }
}

impl RecordFormat for Silk {
    fn format(&self) -> &'static str {
        "silk"
    }

    fn extras(&self) -> &[String] {
        &self.extras
    }

    fn blocks(&self, input: usize, reader: Box<dyn Read + Send>) -> Box<dyn BlockSource> {
        Box::new(SilkBlocks { header: self.header().clone(), reader: Some(reader), blocks: None, input, index: 0 })
    }

    fn rows_hint(&self, block: &RawBlock) -> usize {
        let size = usize::from(self.header().record_size).max(1);
        self.parts(block).map_or(16, |(_, len)| len.min(MAX_BLOCK) / size + 16)
    }

    fn decode(&self, block: &RawBlock, out: &mut BatchBuilder, scratch: &mut Vec<u8>) -> Decoded {
        let mut decoded = Decoded::default();
        let size = usize::from(self.header().record_size).max(1);
        let Some((data, len)) = self.parts(block) else {
            decoded.damage.push(Damage {
                index: block.index,
                offset: block.offset,
                record: None,
                reason: "block shorter than its 8 size bytes".into(),
                lost: None,
            });
            return decoded;
        };
        match self.decoder.decode_bytes(block.offset, data, len, out, scratch) {
            Ok(n) => decoded.records = n,
            Err(e) => decoded.damage.push(Damage {
                index: block.index,
                offset: block.offset,
                record: None,
                reason: e.reason,
                lost: Some((len / size) as u64),
            }),
        }
        decoded
    }

    fn note(&self) -> Option<String> {
        self.conf_path.is_none().then(|| {
            "no silk.conf found (--silk-conf, $SILK_CONFIG_FILE, beside the data, $SILK_DATA_ROOTDIR, /data): \
             sensor and type are numbers and class is empty; give --silk-conf FILE for SiLK's names"
                .to_string()
        })
    }
}

/// The framing of one rw input: the header skipped, then SiLK's blocks in order.
struct SilkBlocks {
    header: SilkHeader,
    /// The input until the header has been skipped.
    reader: Option<Box<dyn Read + Send>>,
    blocks: Option<BlockReader<Box<dyn Read + Send>>>,
    input: usize,
    index: u64,
}

impl BlockSource for SilkBlocks {
    fn next_block(&mut self) -> Result<Option<RawBlock>, Damage> {
        if let Some(mut reader) = self.reader.take() {
            let want = self.header.header_len() as u64;
            let skipped = std::io::copy(&mut (&mut reader).take(want), &mut std::io::sink());
            match skipped {
                Ok(n) if n == want => {}
                Ok(n) => return Err(damage(0, 0, format!("the file ends inside its {want}-byte header, after {n}"))),
                Err(e) => return Err(damage(0, 0, crate::ingest::source::describe_read_error(&e))),
            }
            self.blocks = Some(BlockReader::new(&self.header, reader));
        }
        let Some(blocks) = self.blocks.as_mut() else { return Ok(None) };
        let index = self.index;
        match blocks.next_block() {
            Ok(None) => Ok(None),
            Ok(Some(b)) => {
                self.index += 1;
                let data = if self.header.compression == Compression::None {
                    b.data
                } else {
                    // The size words in front, as stored, so that the worker knows the
                    // decompressed length (the rows hint and the check of what it gets). A copy
                    // of at most MAX_BLOCK bytes: small beside decompressing them.
                    let mut data = Vec::with_capacity(8 + b.data.len());
                    data.extend_from_slice(&(b.data.len() as u32).to_be_bytes());
                    data.extend_from_slice(&(b.records_len as u32).to_be_bytes());
                    data.extend_from_slice(&b.data);
                    data
                };
                Ok(Some(RawBlock { input: self.input, index, offset: b.offset, data }))
            }
            Err(e) => Err(damage(index, e.offset, e.reason)),
        }
    }
}

fn damage(index: u64, offset: u64, reason: String) -> Damage {
    Damage { index, offset, record: None, reason, lost: None }
}
