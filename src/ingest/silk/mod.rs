//! SiLK's binary flow files (`rw` files: what `rwflowpack` writes to the hourly repository,
//! and what `rwfilter`, `rwcat`, `rwsort`, `rwtuc` write) → flow rows, the same rows the text
//! path makes from `rwcut --all-fields` of the same file.
//!
//! # Using it
//!
//! ```text
//! is_silk(head)                        magic 0xDEADBEEF
//! SilkHeader::read(&mut reader)        the header, bounded (or SilkHeader::parse(bytes))
//! Decoder::new(header, conf)           refuses an unsupported format or version, by name
//! BlockReader::new(&header, reader)    .next_block() cuts raw blocks, sequentially, cheaply
//! decoder.decode_block(&raw, &mut builder, &mut scratch)   on any thread: decompress + rows
//! ```
//!
//! A block is what SiLK wrote as one unit: in a compressed file, `u32 stored size, u32 size`
//! (big-endian) and the compressed records; in an uncompressed file, a run of whole records
//! ([`PLAIN_BLOCK`] bytes). Every size read from a file is checked against [`MAX_BLOCK`]
//! (SiLK's own limit) before anything is allocated, and a block is decoded whole or not at all.
//! Errors carry the byte offset of the block.
//!
//! # Rows
//!
//! The core columns as everywhere; the extra columns [`EXTRA_COLUMNS`], in that order, under the
//! names the text path gives `rwcut --all-fields` titles: `sensor`, `in`, `out`, `nhIP`,
//! `initialFlags`, `sessionFlags`, `attributes`, `application`, `class`, `type`, with the values
//! rwcut prints (flag letters in rwcut's padded positions, trimmed; an empty value is null).
//!
//! Sensor, class and type names come from the site's `silk.conf` ([`SilkConf`], found as SiLK
//! finds it: `--silk-conf FILE`, `$SILK_CONFIG_FILE`, `$SILK_DATA_ROOTDIR/silk.conf`). Without
//! one, `sensor` and `type` are the numbers and `class` is null: guessing names from SiLK's
//! sample configuration would label another site's sensors wrongly. With one, unknown ids print
//! as rwcut prints them (`?` for the class of an unknown flow type, the number for its type).
//!
//! # Formats
//!
//! | format | versions | verified against rwcut |
//! |---|---|---|
//! | FT_RWIPV6ROUTING (0x0c) | 1, 2, 3 | v1, v3 (v2 = v1 without application) |
//! | FT_RWIPV6 (0x0b) | 1, 2 | both |
//! | FT_RWGENERIC (0x16) | 5 | yes |
//! | FT_RWAUGMENTED (0x14), FT_RWAUGWEB (0x15), FT_RWAUGROUTING (0x0e), FT_RWAUGSNMPOUT (0x0d) | 4, 5 | **no**: no fixture; read from SiLK's source |
//!
//! Any other format or version (the legacy FT_RWROUTED, FT_RWNOTROUTED, FT_RWSPLIT, FT_RWWWW,
//! FT_RWFILTER, FT_FLOWCAP, older record versions) is refused with its name and version.
//! Compression: none, zlib, lzo1x (the `lzokay` crate: MIT, pure Rust), snappy.

mod augmented;
mod conf;
mod format;
mod generic;
mod header;
mod ipv6;
mod ipv6routing;
mod record;

use std::io::Read;
use std::sync::Arc;

use self::record::{Endian, FileCtx, Rec};
use super::batch::{BatchBuilder, Flow};
use super::fields::IpText;

pub use self::conf::SilkConf;
pub use self::format::{detect, Silk};
pub use self::header::{is_silk, Compression, HeaderEntry, PackedFile, SilkHeader, MAX_ENTRIES, MAX_HEADER};

/// The largest block, stored or decompressed: SiLK's own `SKIOBUF_MAX_BLOCKSIZE` (1 MiB). A
/// larger size in a file is corruption, refused before anything is allocated.
pub const MAX_BLOCK: usize = 1 << 20;
/// Bytes of records per block cut from an uncompressed file (rounded down to whole records).
pub const PLAIN_BLOCK: usize = 256 * 1024;

/// The extra columns of every SiLK row, in order.
pub const EXTRA_COLUMNS: [&str; 10] =
    ["sensor", "in", "out", "nhIP", "initialFlags", "sessionFlags", "attributes", "application", "class", "type"];

/// [`EXTRA_COLUMNS`] as owned names, for `schema::flow_schema`.
pub fn extra_columns() -> Vec<String> {
    EXTRA_COLUMNS.iter().map(|s| s.to_string()).collect()
}

/// A block that cannot be read or decoded, at a byte offset of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {reason}")]
pub struct DecodeError {
    pub offset: u64,
    pub reason: String,
}

/// The name of a record format id (SiLK's `FT_*`), for messages.
pub fn format_name(id: u8) -> String {
    let known = match id {
        0x0b => "FT_RWIPV6",
        0x0c => "FT_RWIPV6ROUTING",
        0x0d => "FT_RWAUGSNMPOUT",
        0x0e => "FT_RWAUGROUTING",
        0x10 => "FT_RWROUTED",
        0x11 => "FT_RWNOTROUTED",
        0x12 => "FT_RWSPLIT",
        0x13 => "FT_RWFILTER",
        0x14 => "FT_RWAUGMENTED",
        0x15 => "FT_RWAUGWEB",
        0x16 => "FT_RWGENERIC",
        0x1c => "FT_FLOWCAP",
        0x1d => "FT_IPSET",
        0x1f => "FT_RWWWW",
        0x21 => "FT_RWBAG",
        0x25 => "FT_PREFIXMAP",
        _ => return format!("format 0x{id:02x}"),
    };
    format!("{known} (0x{id:02x})")
}

/// One block as cut from the file, not yet decompressed: what a reader thread hands a worker.
#[derive(Debug, Clone)]
pub struct RawBlock {
    /// Offset in the file of the block (of its size words, when compressed).
    pub offset: u64,
    /// The bytes as stored: compressed records, or the records themselves.
    pub data: Vec<u8>,
    /// Bytes of records once decompressed (`data.len()` when stored plain).
    pub records_len: usize,
}

/// Cuts a file into [`RawBlock`]s, sequentially. `reader` must be positioned just after the
/// header.
pub struct BlockReader<R> {
    reader: R,
    compression: Compression,
    record_size: usize,
    offset: u64,
    done: bool,
}

impl<R: Read> BlockReader<R> {
    pub fn new(header: &SilkHeader, reader: R) -> Self {
        BlockReader {
            reader,
            compression: header.compression,
            record_size: usize::from(header.record_size),
            offset: header.header_len() as u64,
            done: false,
        }
    }

    /// The next block; `Ok(None)` at the end of the file.
    pub fn next_block(&mut self) -> Result<Option<RawBlock>, DecodeError> {
        if self.done {
            return Ok(None);
        }
        let offset = self.offset;
        let err = |reason: String| DecodeError { offset, reason };
        if self.compression == Compression::None {
            let want = (PLAIN_BLOCK / self.record_size).max(1) * self.record_size;
            let mut data = vec![0u8; want];
            let got = fill(&mut self.reader, &mut data).map_err(|e| err(format!("read error: {e}")))?;
            data.truncate(got);
            self.offset += got as u64;
            if got < want {
                self.done = true;
            }
            if got % self.record_size != 0 {
                return Err(err(format!(
                    "the file ends inside a record: {} bytes after the last whole {}-byte record",
                    got % self.record_size,
                    self.record_size
                )));
            }
            if got == 0 {
                return Ok(None);
            }
            return Ok(Some(RawBlock { offset, records_len: got, data }));
        }
        let mut sizes = [0u8; 8];
        let got = fill(&mut self.reader, &mut sizes[..4]).map_err(|e| err(format!("read error: {e}")))?;
        if got == 0 {
            self.done = true;
            return Ok(None);
        }
        let stored = u32::from_be_bytes([sizes[0], sizes[1], sizes[2], sizes[3]]) as usize;
        if got == 4 && stored == 0 {
            // SiLK ends a compressed stream early with a zero size.
            self.done = true;
            return Ok(None);
        }
        let got = got + fill(&mut self.reader, &mut sizes[got..]).map_err(|e| err(format!("read error: {e}")))?;
        if got < 8 {
            return Err(err(format!("the file ends inside a block header ({got} of its 8 bytes)")));
        }
        let records_len = u32::from_be_bytes([sizes[4], sizes[5], sizes[6], sizes[7]]) as usize;
        if stored > MAX_BLOCK || records_len > MAX_BLOCK {
            return Err(err(format!(
                "block claims {stored} bytes stored, {records_len} decompressed: more than the {MAX_BLOCK} a SiLK block may hold"
            )));
        }
        let mut data = vec![0u8; stored];
        let n = fill(&mut self.reader, &mut data).map_err(|e| err(format!("read error: {e}")))?;
        self.offset += 8 + n as u64;
        if n < stored {
            return Err(err(format!("block claims {stored} bytes but the file ends after {n}")));
        }
        Ok(Some(RawBlock { offset, data, records_len }))
    }
}

/// Reads until `buf` is full or the input ends; the bytes read.
fn fill<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl SilkHeader {
    /// Reads the header from the start of `reader`, entry by entry (each length checked before
    /// it is read), leaving `reader` at the first block.
    pub fn read<R: Read>(reader: &mut R) -> Result<SilkHeader, String> {
        let io = |e: std::io::Error| format!("cannot read the SiLK header: {e}");
        let mut bytes = vec![0u8; header::START_LEN];
        let n = fill(reader, &mut bytes).map_err(io)?;
        bytes.truncate(n);
        if n < header::START_LEN || bytes[6] < header::FIRST_EXPANDED_VERSION {
            return SilkHeader::parse(&bytes);
        }
        loop {
            let at = bytes.len();
            bytes.resize(at + 8, 0);
            let n = fill(reader, &mut bytes[at..]).map_err(io)?;
            bytes.truncate(at + n);
            let id = bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let len = bytes.get(at + 4..at + 8).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
            let (Some(id), Some(len)) = (id, len) else { return SilkHeader::parse(&bytes) };
            if !(8..=MAX_HEADER).contains(&len) || at + len > MAX_HEADER {
                return SilkHeader::parse(&bytes);
            }
            bytes.resize(at + len, 0);
            let n = fill(reader, &mut bytes[at + 8..]).map_err(io)?;
            bytes.truncate(at + 8 + n);
            if n < len - 8 || id == 0 {
                return SilkHeader::parse(&bytes);
            }
        }
    }
}

/// The record layouts this reader knows, one per (format, version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Ipv6RoutingV1,
    Ipv6RoutingV2,
    Ipv6RoutingV3,
    Ipv6V1,
    Ipv6V2,
    GenericV5,
    AugmentedV4,
    AugmentedV5,
    AugWebV4,
    AugWebV5,
    AugRoutingV4,
    AugRoutingV5,
    AugSnmpOutV4,
    AugSnmpOutV5,
}

impl Layout {
    fn of(format: u8, version: u16) -> Option<(Layout, usize)> {
        use Layout::*;
        Some(match (format, version) {
            (0x0c, 1) => (Ipv6RoutingV1, ipv6routing::V1_LEN),
            (0x0c, 2) => (Ipv6RoutingV2, ipv6routing::V1_LEN),
            (0x0c, 3) => (Ipv6RoutingV3, ipv6routing::V3_LEN),
            (0x0b, 1) => (Ipv6V1, ipv6::V1_LEN),
            (0x0b, 2) => (Ipv6V2, ipv6::V2_LEN),
            (0x16, 5) => (GenericV5, generic::V5_LEN),
            (0x14, 4) => (AugmentedV4, augmented::AUGMENTED_V4_LEN),
            (0x14, 5) => (AugmentedV5, augmented::AUGMENTED_V5_LEN),
            (0x15, 4) => (AugWebV4, augmented::AUGWEB_V4_LEN),
            (0x15, 5) => (AugWebV5, augmented::AUGWEB_V5_LEN),
            (0x0e, 4) => (AugRoutingV4, augmented::AUGROUTING_V4_LEN),
            (0x0e, 5) => (AugRoutingV5, augmented::AUGROUTING_V5_LEN),
            (0x0d, 4) => (AugSnmpOutV4, augmented::AUGSNMPOUT_V4_LEN),
            (0x0d, 5) => (AugSnmpOutV5, augmented::AUGSNMPOUT_V5_LEN),
            _ => return None,
        })
    }
}

/// The text of sensor, class and type ids, resolved once per file.
struct Names {
    conf: Option<Arc<SilkConf>>,
    /// By flow type id: (class, type) as rwcut prints them; class `None` without a silk.conf.
    flowtypes: Vec<(Option<Box<str>>, Box<str>)>,
}

impl Names {
    fn new(conf: Option<Arc<SilkConf>>) -> Names {
        let flowtypes = (0..=255u8)
            .map(|id| match (conf.as_deref(), conf.as_deref().and_then(|c| c.flowtype(id))) {
                (_, Some((c, t))) => (Some(c.into()), t.into()),
                (Some(_), None) => (Some("?".into()), id.to_string().into()),
                (None, None) => (None, id.to_string().into()),
            })
            .collect();
        Names { conf, flowtypes }
    }
}

/// Per-thread buffers for [`Decoder::decode_block`].
#[derive(Default)]
pub struct Scratch {
    records: Vec<u8>,
}

/// Texts computed once: flag letters in rwcut's padded positions, and attributes.
struct Texts {
    flags: Vec<String>,
    attributes: Vec<String>,
}

fn texts() -> &'static Texts {
    static T: std::sync::OnceLock<Texts> = std::sync::OnceLock::new();
    T.get_or_init(|| Texts {
        flags: (0..=255u8).map(record::padded_flags_text).collect(),
        attributes: (0..=255u8).map(record::attributes_text).collect(),
    })
}

/// Decodes the blocks of one file. Shared by the workers of a conversion (`Send + Sync`).
pub struct Decoder {
    header: SilkHeader,
    layout: Layout,
    ctx: FileCtx,
    names: Names,
}

impl Decoder {
    /// A decoder for a file with this header; an unsupported format, version or record size
    /// is an error naming it. `conf` names sensors and flow types (see the module doc).
    pub fn new(header: SilkHeader, conf: Option<Arc<SilkConf>>) -> Result<Decoder, String> {
        let (layout, len) = Layout::of(header.format, header.record_version).ok_or_else(|| {
            format!(
                "unsupported SiLK record format {} version {}; flowlens reads FT_RWIPV6ROUTING v1-3, FT_RWIPV6 v1-2, \
                 FT_RWGENERIC v5 and FT_RWAUGMENTED/AUGWEB/AUGROUTING/AUGSNMPOUT v4-5 (rwcat converts others to FT_RWIPV6ROUTING)",
                format_name(header.format),
                header.record_version
            )
        })?;
        if usize::from(header.record_size) != len {
            return Err(format!(
                "SiLK header says {}-byte records, but {} version {} records are {len} bytes",
                header.record_size,
                format_name(header.format),
                header.record_version
            ));
        }
        let ctx = match header.packed_file() {
            Some(p) => FileCtx {
                start_ms: p.start_ms,
                sensor: u16::try_from(p.sensor).unwrap_or(conf::INVALID_SENSOR),
                flowtype: u8::try_from(p.flowtype).unwrap_or(conf::INVALID_FLOWTYPE),
            },
            None => FileCtx { start_ms: 0, sensor: conf::INVALID_SENSOR, flowtype: conf::INVALID_FLOWTYPE },
        };
        Ok(Decoder { header, layout, ctx, names: Names::new(conf) })
    }

    pub fn header(&self) -> &SilkHeader {
        &self.header
    }

    /// The records a block holds by its own account: what is lost when it cannot be decoded
    /// (for a `--rejects` summary).
    pub fn record_count(&self, raw: &RawBlock) -> u64 {
        (raw.records_len / usize::from(self.header.record_size).max(1)) as u64
    }

    /// Decompresses one block and appends a row per record to `out` (whose extra columns
    /// 0..10 are [`EXTRA_COLUMNS`]). Returns the rows appended. On an error nothing is appended.
    pub fn decode_block(
        &self,
        raw: &RawBlock,
        out: &mut BatchBuilder,
        scratch: &mut Scratch,
    ) -> Result<u64, DecodeError> {
        self.decode_bytes(raw.offset, &raw.data, raw.records_len, out, &mut scratch.records)
    }

    /// [`Decoder::decode_block`] on a block's parts: its offset, its bytes as stored and their
    /// length once decompressed. `buf` is the worker's buffer for decompressed records.
    pub fn decode_bytes(
        &self,
        offset: u64,
        data: &[u8],
        records_len: usize,
        out: &mut BatchBuilder,
        buf: &mut Vec<u8>,
    ) -> Result<u64, DecodeError> {
        let err = |reason: String| DecodeError { offset, reason };
        let size = usize::from(self.header.record_size);
        if records_len > MAX_BLOCK {
            return Err(err(format!("block of {records_len} bytes: more than {MAX_BLOCK}")));
        }
        if !records_len.is_multiple_of(size) {
            return Err(err(format!("block of {records_len} bytes does not hold whole {size}-byte records")));
        }
        let records: &[u8] = match self.header.compression {
            Compression::None => data,
            c => {
                buf.clear();
                buf.resize(records_len, 0);
                let n = decompress(c, data, buf).map_err(|e| err(format!("{c} block does not decompress: {e}")))?;
                if n != records_len {
                    return Err(err(format!("{c} block decompresses to {n} bytes, its header says {records_len}")));
                }
                buf
            }
        };
        if records.len() != records_len {
            return Err(err(format!("block holds {} bytes, expected {records_len}", records.len())));
        }
        let e = Endian { big: self.header.big_endian };
        let ctx = &self.ctx;
        use Layout::*;
        match self.layout {
            Ipv6RoutingV1 => self.rows(records, out, |b| ipv6routing::v1(b, e)),
            Ipv6RoutingV2 => self.rows(records, out, |b| ipv6routing::v2(b, e)),
            Ipv6RoutingV3 => self.rows(records, out, |b| ipv6routing::v3(b, e)),
            Ipv6V1 => self.rows(records, out, |b| ipv6::v1(b, e)),
            Ipv6V2 => self.rows(records, out, |b| ipv6::v2(b, e, ctx)),
            GenericV5 => self.rows(records, out, |b| generic::v5(b, e)),
            AugmentedV4 => self.rows(records, out, |b| augmented::augmented_v4(b, e, ctx)),
            AugmentedV5 => self.rows(records, out, |b| augmented::augmented_v5(b, e, ctx)),
            AugWebV4 => self.rows(records, out, |b| augmented::augweb_v4(b, e, ctx)),
            AugWebV5 => self.rows(records, out, |b| augmented::augweb_v5(b, e, ctx)),
            AugRoutingV4 => self.rows(records, out, |b| augmented::augrouting_v4(b, e, ctx)),
            AugRoutingV5 => self.rows(records, out, |b| augmented::augrouting_v5(b, e, ctx)),
            AugSnmpOutV4 => self.rows(records, out, |b| augmented::augsnmpout_v4(b, e, ctx)),
            AugSnmpOutV5 => self.rows(records, out, |b| augmented::augsnmpout_v5(b, e, ctx)),
        }
        Ok((records.len() / size) as u64)
    }

    /// Unpacks every `N`-byte record with `unpack` and appends its row.
    #[inline(always)]
    fn rows<const N: usize>(&self, records: &[u8], out: &mut BatchBuilder, unpack: impl Fn(&[u8; N]) -> Rec) {
        for chunk in records.chunks_exact(N) {
            // `chunks_exact(N)` gives N-byte slices only.
            if let Ok(b) = <&[u8; N]>::try_from(chunk) {
                self.push(&unpack(b), out);
            }
        }
    }

    #[inline]
    fn push(&self, r: &Rec, out: &mut BatchBuilder) {
        let (mut s, mut d, mut n) = ([0u8; 48], [0u8; 48], [0u8; 48]);
        let sl = record::core_text(r.sip, &mut s) as u8;
        let dl = record::core_text(r.dip, &mut d) as u8;
        let stime = r.stime_ms.saturating_mul(1000);
        out.push(&Flow {
            stime: Some(stime),
            etime: Some(stime.saturating_add(i64::from(r.elapsed_ms) * 1000)),
            sip: IpText::Rewritten(s, sl),
            dip: IpText::Rewritten(d, dl),
            sport: Some(r.sport),
            dport: Some(r.dport),
            proto: Some(r.proto),
            packets: Some(i64::try_from(r.packets).unwrap_or(i64::MAX)),
            bytes: Some(i64::try_from(r.bytes).unwrap_or(i64::MAX)),
            flags: Some(r.flags),
        });
        let mut num = [0u8; 20];
        // sensor
        match self.names.conf.as_deref().and_then(|c| c.sensor(r.sensor)) {
            _ if r.sensor == conf::INVALID_SENSOR => out.extra(0, Some(b"?")),
            Some(name) => out.extra(0, Some(name.as_bytes())),
            None => out.extra(0, Some(record::decimal(u64::from(r.sensor), &mut num))),
        }
        out.extra_int(1, i64::from(r.input));
        out.extra_int(2, i64::from(r.output));
        let nl = record::rwcut_text(r.nhip, &mut n);
        out.extra(3, Some(&n[..nl]));
        let t = texts();
        out.extra(4, Some(t.flags[r.init_flags as usize].as_bytes()));
        out.extra(5, Some(t.flags[r.rest_flags as usize].as_bytes()));
        out.extra(6, Some(t.attributes[r.tcp_state as usize].as_bytes()));
        out.extra_int(7, i64::from(r.application));
        let (class, ty) = &self.names.flowtypes[r.flowtype as usize];
        out.extra(8, class.as_deref().map(str::as_bytes));
        out.extra(9, Some(ty.as_bytes()));
    }
}

/// Decompresses `src` into `dst` (sized to the block's stated length); the bytes written.
fn decompress(c: Compression, src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
    match c {
        Compression::None => {
            let n = src.len().min(dst.len());
            dst[..n].copy_from_slice(&src[..n]);
            Ok(n)
        }
        Compression::Zlib => {
            // SiLK writes zlib streams (zlib's `compress`), not raw deflate, a block whole with
            // its size known: libdeflate's one-shot decompressor, which checks the stream's
            // Adler-32, is about twice as fast as a streaming inflate here. One per thread.
            thread_local! {
                static INFLATE: std::cell::RefCell<libdeflater::Decompressor> =
                    std::cell::RefCell::new(libdeflater::Decompressor::new());
            }
            INFLATE.with(|z| {
                z.borrow_mut().zlib_decompress(src, dst).map_err(|e| match e {
                    libdeflater::DecompressionError::BadData => "corrupt zlib data".to_string(),
                    libdeflater::DecompressionError::InsufficientSpace => {
                        "the zlib stream holds more than the block says".to_string()
                    }
                })
            })
        }
        Compression::Lzo1x => lzokay::decompress::decompress(src, dst).map_err(|e| format!("{e:?}")),
        Compression::Snappy => {
            let n = snap::raw::decompress_len(src).map_err(|e| e.to_string())?;
            if n != dst.len() {
                return Err(format!("snappy says {n} bytes, the block header {}", dst.len()));
            }
            snap::raw::Decoder::new().decompress(src, dst).map_err(|e| e.to_string())
        }
    }
}

/// Decodes a whole file held in memory into one batch of the flows schema with
/// [`EXTRA_COLUMNS`]: for tests, benchmarks, and small files. `convert` cuts blocks with
/// [`BlockReader`] and decodes them on its workers instead.
pub fn decode_all(bytes: &[u8], conf: Option<Arc<SilkConf>>) -> Result<arrow_array::RecordBatch, String> {
    let mut reader = bytes;
    let header = SilkHeader::read(&mut reader)?;
    let decoder = Decoder::new(header, conf)?;
    let mut blocks = BlockReader::new(decoder.header(), reader);
    let schema = crate::schema::flow_schema(&extra_columns());
    let mut out = BatchBuilder::new(schema, Arc::new((0..EXTRA_COLUMNS.len()).collect()), 1024);
    let mut scratch = Scratch::default();
    while let Some(raw) = blocks.next_block().map_err(|e| e.to_string())? {
        decoder.decode_block(&raw, &mut out, &mut scratch).map_err(|e| e.to_string())?;
    }
    out.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
