//! SiLK rw files in `convert`: the [`RecordFormat`] and [`BlockSource`] of `ingest::records`,
//! so that rw files go through the same reader thread, parallel workers and ordered writer as
//! nfcapd files and text.
//!
//! The reader thread cuts blocks as SiLK stored them ([`super::BlockReader`]: every size checked
//! against [`MAX_BLOCK`]) and hands them to the workers in groups of about [`GROUP_BYTES`] of
//! records ([`Frames`]): SiLK writes blocks of 64 KiB or less (a few hundred records), and a
//! batch per block would make the writer's per-batch work outweigh the decoding. Workers
//! decompress and decode each block of a group ([`Decoder::decode_bytes`]); a damaged block is
//! reported with its own index and offset, and the blocks around it are still decoded.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use super::{extra_columns, BlockReader, Decoder, SilkConf, SilkHeader, MAX_BLOCK};
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
}

/// Records grouped into one [`RawBlock`] before it goes to a worker: 1 MiB, about 12,000 rows
/// of an IPv6 routing file.
pub const GROUP_BYTES: usize = 1 << 20;

/// The blocks of a group, one after the other, each as a frame: its index and offset in the
/// file (8 bytes each, little-endian), its stored and decompressed lengths (4 bytes each), then
/// its bytes as stored (compressed, or whole records).
struct Frame<'a> {
    index: u64,
    offset: u64,
    records_len: usize,
    data: &'a [u8],
}

const FRAME_HEAD: usize = 24;

fn push_frame(out: &mut Vec<u8>, index: u64, offset: u64, records_len: usize, data: &[u8]) {
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(records_len as u32).to_le_bytes());
    out.extend_from_slice(data);
}

/// The frames of a group, as [`push_frame`] wrote them (by the reader thread of this process:
/// a short frame is a bug, and ends the walk).
struct Frames<'a>(&'a [u8]);

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;
    fn next(&mut self) -> Option<Frame<'a>> {
        let head = self.0.get(..FRAME_HEAD)?;
        let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().unwrap_or([0; 8]));
        let half = |at: usize| u32::from_le_bytes(head[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
        let (stored, records_len) = (half(16), half(20));
        let data = self.0.get(FRAME_HEAD..FRAME_HEAD + stored)?;
        let frame = Frame { index: word(0), offset: word(8), records_len, data };
        self.0 = &self.0[FRAME_HEAD + stored..];
        Some(frame)
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
        Box::new(SilkBlocks {
            header: self.header().clone(),
            reader: Some(reader),
            blocks: None,
            input,
            index: 0,
            pending: None,
        })
    }

    fn rows_hint(&self, block: &RawBlock) -> usize {
        let size = usize::from(self.header().record_size).max(1);
        Frames(&block.data).map(|f| f.records_len.min(MAX_BLOCK) / size).sum::<usize>() + 16
    }

    fn decode(&self, block: &RawBlock, out: &mut BatchBuilder, scratch: &mut Vec<u8>) -> Decoded {
        let mut decoded = Decoded::default();
        let size = usize::from(self.header().record_size).max(1);
        for f in Frames(&block.data) {
            match self.decoder.decode_bytes(f.offset, f.data, f.records_len, out, scratch) {
                Ok(n) => decoded.records += n,
                Err(e) => decoded.damage.push(Damage {
                    index: f.index,
                    offset: f.offset,
                    record: None,
                    reason: e.reason,
                    lost: Some((f.records_len / size) as u64),
                }),
            }
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
    /// A block that could not be cut after a group had begun: reported after that group.
    pending: Option<Damage>,
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
        if let Some(d) = self.pending.take() {
            return Err(d);
        }
        let Some(blocks) = self.blocks.as_mut() else { return Ok(None) };
        let (first_index, mut first_offset) = (self.index, None);
        let (mut data, mut records) = (Vec::new(), 0usize);
        while records < GROUP_BYTES {
            let index = self.index;
            match blocks.next_block() {
                Ok(None) => break,
                Ok(Some(b)) => {
                    self.index += 1;
                    first_offset.get_or_insert(b.offset);
                    if data.is_empty() {
                        data.reserve(b.data.len().max(GROUP_BYTES / 4) + FRAME_HEAD);
                    }
                    push_frame(&mut data, index, b.offset, b.records_len, &b.data);
                    records += b.records_len;
                }
                Err(e) => {
                    self.blocks = None; // the framing is lost: nothing after it can be cut
                    let d = damage(index, e.offset, e.reason);
                    if first_offset.is_none() {
                        return Err(d);
                    }
                    self.pending = Some(d);
                    break;
                }
            }
        }
        Ok(first_offset.map(|offset| RawBlock { input: self.input, index: first_index, offset, data }))
    }
}

fn damage(index: u64, offset: u64, reason: String) -> Damage {
    Damage { index, offset, record: None, reason, lost: None }
}
