//! nfdump's binary nfcapd files (`nfcapd.YYYYMMDDhhmm`), read directly: layout 2, written by
//! nfdump 1.7.x (nfcapd, nfpcapd, sfcapd, `nfdump -w`).
//!
//! The layout, from nfdump's documented headers (`nffileV2.h`, `nfxV3.h`; learnt, not copied):
//!
//! ```text
//! file header (40 bytes, little-endian as written on x86/ARM)
//!   u16 magic 0xA50C | u16 layout version (2) | u32 nfdump version | u64 created
//!   u8 compression (0 none, 1 LZO, 2 BZ2, 3 LZ4, 4 ZSTD) | u8 encryption | u16 appendix blocks
//!   u32 creator | u64 appendix offset | u32 block size | u32 number of data blocks
//! data block × number of data blocks, then the appendix blocks (ident, stat record)
//!   u32 records | u32 size of what follows | u16 type (3) | u16 flags | size bytes, compressed
//! record (in a decompressed type-3 block)
//!   u16 type | u16 size (header included) | …; type 11 is a V3 flow record:
//!   u16 elements | u8 engine type | u8 engine id | u16 exporter id | u8 flags | u8 netflow version
//!   then elements: u16 element type | u16 length (header included) | fields
//! ```
//!
//! The reader thread frames blocks ([`NfcapdBlocks`]): it reads each block header, checks the
//! size against [`MAX_BLOCK`] (nfdump's own read buffer, 5 MiB) and reads the compressed
//! records with the bytes actually present. Workers decompress (`compress.rs`) and decode
//! records (`record.rs`). The appendix (ident and stat records) is not flows and is not read:
//! the reader stops after the header's number of data blocks.
//!
//! Layout 1 (nfdump 1.6) is read too: a 140-byte file header (compression as flag bits) and a
//! 136-byte stat record, then type-2 blocks of records of type 10 (fixed fields, then the
//! extensions an extension map record of type 2 lists) — learnt from nfdump 1.6's `nffile.h`
//! and `nfx.h`. No layout-1 file could be made here (Debian's nfdump 1.7.1 writes only layout
//! 2, and building 1.6 needs autotools, flex and bison this machine lacks): it is tested with
//! files assembled by hand from that layout (`tests/nfcapd.rs`), not against nfdump's output.
//!
//! Refused with a message that names what was found: a layout version above 2, a file written
//! on a big-endian machine, encryption, an unknown compression.

pub mod compress;
pub mod record;

use std::io::Read;

use self::compress::Compression;
use super::batch::BatchBuilder;
use super::records::{BlockSource, Damage, Decoded, RawBlock, RecordFormat};

/// The most bytes a data block may hold, compressed or not: nfdump's read buffer (`BUFFSIZE`,
/// 5 MiB, which no block nfdump writes exceeds: it cuts them at 1 MiB in 1.7.1, 2 MiB in 1.7.8).
/// A larger size in a block header is corruption, refused before anything is allocated.
pub const MAX_BLOCK: usize = 5 * 1024 * 1024;

/// Bytes of the layout-2 file header.
pub const FILE_HEADER: usize = 40;
/// Bytes of a data block's header.
pub const BLOCK_HEADER: usize = 12;

/// The magic number, as its bytes appear in a file written on a little-endian machine.
const MAGIC_LE: [u8; 2] = [0x0C, 0xA5];
const MAGIC_BE: [u8; 2] = [0xA5, 0x0C];

/// What the file header says.
#[derive(Debug, Clone)]
pub struct FileHeader {
    pub version: u16,
    pub nfdump_version: u32,
    pub compression: Compression,
    pub appendix_blocks: u16,
    pub appendix_offset: u64,
    pub blocks: u32,
}

/// Bytes of the layout-1 (nfdump 1.6) file header: magic, version, u32 flags, u32 blocks, a
/// 128-byte ident; a 136-byte stat record follows it before the first block.
pub const FILE_HEADER_V1: usize = 140;
/// Bytes of layout 1's stat record.
pub const STAT_RECORD_V1: usize = 136;
/// Layout 1's data block type (`DATA_BLOCK_TYPE_2`).
pub const BLOCK_TYPE_V1: u16 = 2;
/// Layout 2's data block type (`DATA_BLOCK_TYPE_3`).
pub const BLOCK_TYPE_V2: u16 = 3;

/// Reads a layout-1 or layout-2 file header; the reason when the file cannot be read.
pub fn file_header(head: &[u8]) -> Result<FileHeader, String> {
    let h = head.get(..4).ok_or("truncated nfcapd file: shorter than its file header")?;
    if h[..2] == MAGIC_BE {
        return Err("nfcapd file written on a big-endian machine: nfdump files are read in the byte order they were \
             written; convert it with nfdump on a big-endian machine (`nfdump -r FILE -o csv`)"
            .into());
    }
    if h[..2] != MAGIC_LE {
        return Err("not an nfcapd file (no 0xA50C magic)".into());
    }
    let version = u16::from_le_bytes([h[2], h[3]]);
    match version {
        1 => return file_header_v1(head),
        2 => {}
        v => {
            return Err(format!(
                "nfcapd layout version {v} is newer than this reader knows (it reads layouts 1 and 2, written by \
                 nfdump 1.6 and 1.7); print it as text with that nfdump: `nfdump -r FILE -o csv | flowlens convert - …`"
            ))
        }
    }
    let h = head.get(..FILE_HEADER).ok_or("truncated nfcapd file: shorter than its 40-byte file header")?;
    let u16_at = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
    let compression = Compression::from_byte(h[16])
        .ok_or_else(|| format!("nfcapd file compressed with method {}, which nfdump 1.7 does not define", h[16]))?;
    if h[17] != 0 {
        return Err(format!("nfcapd file encrypted (method {}): not readable", h[17]));
    }
    let mut off = [0u8; 8];
    off.copy_from_slice(&h[24..32]);
    Ok(FileHeader {
        version,
        nfdump_version: u32_at(4),
        compression,
        appendix_blocks: u16_at(18),
        appendix_offset: u64::from_le_bytes(off),
        blocks: u32_at(36),
    })
}

/// Layout 1 (nfdump 1.6): the compression is a flag bit (LZO 0x1, BZ2 0x8, LZ4 0x10).
fn file_header_v1(head: &[u8]) -> Result<FileHeader, String> {
    let h = head
        .get(..FILE_HEADER_V1 + STAT_RECORD_V1)
        .ok_or("truncated nfcapd layout-1 file: shorter than its 140-byte header and 136-byte stat record")?;
    let flags = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let compression = match flags & 0x19 {
        0 => Compression::None,
        0x1 => Compression::Lzo,
        0x8 => Compression::Bz2,
        0x10 => Compression::Lz4,
        f => {
            return Err(format!(
                "nfcapd layout-1 file with compression flags 0x{f:x}, which nfdump 1.6 does not define"
            ))
        }
    };
    Ok(FileHeader {
        version: 1,
        nfdump_version: 0,
        compression,
        appendix_blocks: 0,
        appendix_offset: 0,
        blocks: u32::from_le_bytes([h[8], h[9], h[10], h[11]]),
    })
}

/// Recognizes an nfcapd file by its magic and layout version. `None` when `head` is not one
/// (text, or another binary format).
pub fn detect(head: &[u8]) -> Option<Result<Nfcapd, String>> {
    let magic = head.get(..2)?;
    let version = head.get(2..4)?;
    let ours = magic == MAGIC_LE && version != [0, 0];
    let swapped = magic == MAGIC_BE && version != [0, 0];
    if !ours && !swapped {
        return None;
    }
    Some(file_header(head).map(Nfcapd::new))
}

/// An nfcapd input: its header and the extra columns every row of it carries.
pub struct Nfcapd {
    header: FileHeader,
    extras: Vec<String>,
}

impl Nfcapd {
    pub fn new(header: FileHeader) -> Self {
        Nfcapd { header, extras: record::extra_names() }
    }

    pub fn header(&self) -> &FileHeader {
        &self.header
    }
}

impl RecordFormat for Nfcapd {
    fn format(&self) -> &'static str {
        "nfcapd"
    }

    fn extras(&self) -> &[String] {
        &self.extras
    }

    fn blocks(&self, input: usize, reader: Box<dyn Read + Send>) -> Box<dyn BlockSource> {
        Box::new(NfcapdBlocks {
            reader,
            input,
            blocks: self.header.blocks,
            index: 0,
            offset: 0,
            version: self.header.version,
            compression: self.header.compression,
            maps: std::collections::BTreeMap::new(),
            scratch: Vec::new(),
        })
    }

    fn rows_hint(&self, block: &RawBlock) -> usize {
        // The block header's record count, bounded: a record is at least 12 bytes.
        block_header(&block.data).map_or(16, |h| (h.records as usize).min(MAX_BLOCK / 12) + 16)
    }

    fn decode(&self, block: &RawBlock, out: &mut BatchBuilder, scratch: &mut Vec<u8>) -> Decoded {
        let mut decoded = Decoded::default();
        let damage = |reason: String, lost: Option<u64>| Damage {
            index: block.index,
            offset: block.offset,
            record: None,
            reason,
            lost,
        };
        let Some(h) = block_header(&block.data) else {
            decoded.damage.push(damage("block shorter than its 12-byte header".into(), None));
            return decoded;
        };
        let records = u64::from(h.records);
        if self.header.version == 1 {
            // Decompressed by the framing, which also put the earlier blocks' extension maps
            // in front (see `NfcapdBlocks`).
            record::decode_records_v1(&block.data[BLOCK_HEADER..], h.records, block, out, &mut decoded);
            return decoded;
        }
        if h.kind != BLOCK_TYPE_V2 {
            let reason =
                format!("data block of type {} (nfdump 1.7 writes type 3): its records cannot be read", h.kind);
            decoded.damage.push(damage(reason, Some(records)));
            return decoded;
        }
        let data = match compress::decompress(self.header.compression, &block.data[BLOCK_HEADER..], scratch) {
            Ok(d) => d,
            Err(reason) => {
                decoded.damage.push(damage(reason, Some(records)));
                return decoded;
            }
        };
        record::decode_records(data, h.records, block, out, &mut decoded);
        decoded
    }
}

/// A data block's header.
#[derive(Debug, Clone, Copy)]
pub struct BlockHeader {
    pub records: u32,
    pub size: u32,
    pub kind: u16,
    pub flags: u16,
}

pub fn block_header(b: &[u8]) -> Option<BlockHeader> {
    let h = b.get(..BLOCK_HEADER)?;
    Some(BlockHeader {
        records: u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
        size: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
        kind: u16::from_le_bytes([h[8], h[9]]),
        flags: u16::from_le_bytes([h[10], h[11]]),
    })
}

/// The framing of one nfcapd input: the header's number of data blocks, each read whole.
///
/// Layout 1 needs more: a flow record names an extension map (which extensions follow its
/// fixed fields) that an earlier record defined, often in an earlier block (nfcapd writes the
/// maps once, at the start of the file). So that workers can still decode blocks on their own,
/// the framing decompresses each layout-1 block, keeps the maps it defines, and sends the
/// block decompressed with the maps of earlier blocks in front. Layout 1 is legacy: its
/// decompression runs on the reader thread, its record decoding on the workers.
pub struct NfcapdBlocks {
    reader: Box<dyn Read + Send>,
    input: usize,
    blocks: u32,
    index: u64,
    offset: u64,
    version: u16,
    compression: Compression,
    /// Layout 1: the extension map records seen so far, by map id.
    maps: std::collections::BTreeMap<u16, Vec<u8>>,
    scratch: Vec<u8>,
}

impl NfcapdBlocks {
    fn damage(&self, reason: String, lost: Option<u64>) -> Damage {
        Damage { index: self.index, offset: self.offset, record: None, reason, lost }
    }

    /// Reads up to `buf.len()` bytes; how many were there.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, Damage> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.damage(super::source::describe_read_error(&e), None)),
            }
        }
        Ok(filled)
    }
}

impl NfcapdBlocks {
    /// A layout-1 block, decompressed, with the extension maps of earlier blocks in front and
    /// its header's record count raised by as many.
    fn v1_block(&mut self, h: BlockHeader, data: Vec<u8>) -> Result<Vec<u8>, Damage> {
        let lost = Some(u64::from(h.records));
        if h.kind != BLOCK_TYPE_V1 {
            let reason =
                format!("data block of type {} (nfdump 1.6 writes type 2): its records cannot be read", h.kind);
            return Err(self.damage(reason, lost));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let records = match compress::decompress(self.compression, &data[BLOCK_HEADER..], &mut scratch) {
            Ok(r) => r,
            Err(reason) => {
                self.scratch = scratch;
                return Err(self.damage(reason, lost));
            }
        };
        let prior: usize = self.maps.values().map(Vec::len).sum();
        let mut out = Vec::with_capacity(BLOCK_HEADER + prior + records.len());
        let count = h.records.saturating_add(self.maps.len() as u32);
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&((prior + records.len()) as u32).to_le_bytes());
        out.extend_from_slice(&BLOCK_TYPE_V1.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for m in self.maps.values() {
            out.extend_from_slice(m);
        }
        out.extend_from_slice(records);
        // This block's maps, for the blocks after it (a bad one is the decoder's to report).
        let mut pos = 0;
        for _ in 0..h.records {
            let Some(head) = records.get(pos..pos + 4) else { break };
            let (kind, size) =
                (u16::from_le_bytes([head[0], head[1]]), usize::from(u16::from_le_bytes([head[2], head[3]])));
            let Some(rec) = records.get(pos..pos + size).filter(|_| size >= 4) else { break };
            if kind == record::V1_EXTENSION_MAP && rec.len() >= 6 && self.maps.len() < 1 << 16 {
                self.maps.insert(u16::from_le_bytes([rec[4], rec[5]]), rec.to_vec());
            }
            pos += size;
        }
        self.scratch = scratch;
        Ok(out)
    }
}

impl BlockSource for NfcapdBlocks {
    fn next_block(&mut self) -> Result<Option<RawBlock>, Damage> {
        if self.offset == 0 {
            let len = if self.version == 1 { FILE_HEADER_V1 + STAT_RECORD_V1 } else { FILE_HEADER };
            let mut h = vec![0u8; len];
            if self.fill(&mut h)? < len {
                return Err(self.damage(format!("truncated file: shorter than its {len}-byte header"), None));
            }
            self.offset = len as u64;
        }
        if self.index >= u64::from(self.blocks) {
            return Ok(None);
        }
        let mut head = [0u8; BLOCK_HEADER];
        let got = self.fill(&mut head)?;
        if got < BLOCK_HEADER {
            let reason = format!(
                "truncated file: it ends {} after {} of the {} data blocks its header announces",
                if got == 0 { "cleanly".to_string() } else { format!("{got} bytes into a block header") },
                self.index,
                self.blocks
            );
            return Err(self.damage(reason, None));
        }
        let h = block_header(&head).unwrap_or(BlockHeader { records: 0, size: 0, kind: 0, flags: 0 });
        let size = h.size as usize;
        if size == 0 || size > MAX_BLOCK {
            let reason = format!("corrupt block header: block size {size} (must be 1 to {MAX_BLOCK} bytes)");
            return Err(self.damage(reason, Some(u64::from(h.records))));
        }
        // Grows with the bytes actually present, up to `size` (at most MAX_BLOCK).
        let mut data = Vec::with_capacity(BLOCK_HEADER + size.min(256 * 1024));
        data.extend_from_slice(&head);
        let read = (&mut self.reader).take(size as u64).read_to_end(&mut data);
        if let Err(e) = read {
            return Err(self.damage(super::source::describe_read_error(&e), Some(u64::from(h.records))));
        }
        if data.len() < BLOCK_HEADER + size {
            let reason = format!("truncated file: the block holds {} of its {size} bytes", data.len() - BLOCK_HEADER);
            return Err(self.damage(reason, Some(u64::from(h.records))));
        }
        let data = if self.version == 1 { self.v1_block(h, data)? } else { data };
        let block = RawBlock { input: self.input, index: self.index, offset: self.offset, data };
        self.index += 1;
        self.offset += (BLOCK_HEADER + size) as u64;
        Ok(Some(block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::records::decode_block;
    use std::sync::Arc;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/native").join(name)).unwrap()
    }

    /// Detects, frames and decodes `bytes` as `convert` does; rows, records and damages.
    fn run(bytes: &[u8]) -> Option<(usize, u64, usize)> {
        let format = match detect(bytes)? {
            Ok(f) => f,
            Err(_) => return None,
        };
        let schema = crate::schema::flow_schema(format.extras());
        let map = Arc::new((0..format.extras().len()).collect::<Vec<_>>());
        let mut blocks = format.blocks(0, Box::new(std::io::Cursor::new(bytes.to_vec())));
        let (mut rows, mut records, mut damage) = (0, 0, 0);
        let mut scratch = Vec::new();
        loop {
            match blocks.next_block() {
                Ok(Some(b)) => {
                    let p = decode_block(&format, &b, &schema, &map, &mut scratch).expect("columns agree");
                    assert!(scratch.len() <= MAX_BLOCK);
                    rows += p.batch.num_rows();
                    records += p.lines;
                    damage += p.rejects.len();
                }
                Ok(None) => break,
                Err(_) => {
                    damage += 1;
                    break;
                }
            }
        }
        Some((rows, records, damage))
    }

    #[test]
    fn every_fixture_decodes_whole() {
        for c in ["", "lzo.", "bz2.", "lz4.", "zstd."] {
            assert_eq!(run(&fixture(&format!("services.{c}nfcapd"))), Some((26, 26, 0)), "services.{c}nfcapd");
        }
    }

    /// A poor man's fuzzing, run with the unit tests (the cargo-fuzz target `nfcapd` goes
    /// further): every truncation of each compression's file, and thousands of random byte
    /// changes, decode to rows or damage, never a panic; a damaged file never gives more rows
    /// than records.
    #[test]
    fn hostile_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for c in ["", "lzo.", "bz2.", "lz4.", "zstd."] {
            let good = fixture(&format!("services.{c}nfcapd"));
            for cut in 0..good.len() {
                if let Some((rows, records, _)) = run(&good[..cut]) {
                    assert!(rows as u64 <= 2 * records);
                }
            }
            for _ in 0..2000 {
                let mut bad = good.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % bad.len();
                    bad[at] = next() as u8;
                }
                if let Some((rows, records, _)) = run(&bad) {
                    assert!(rows as u64 <= 2 * records);
                }
            }
        }
    }
}
