//! Dictionary-encoded string column chunks, written without arrow-rs's per-row interning.
//!
//! arrow-rs dictionary-encodes a string column by hashing every row's bytes with a general
//! hasher and comparing them through its value store, and computes chunk statistics by
//! comparing every row: about a tenth of `convert`'s CPU on rwcut text, for the address, flags
//! and sensor columns. [`DictColumnWriter`] keeps a value of up to 16 bytes (an IPv4 address is
//! at most 15, a flags string 8) as two machine words, so that finding its dictionary id is one
//! multiplication and a two-word comparison, and takes the chunk's smallest and largest value
//! from the dictionary at the end.
//!
//! It writes the column chunk itself, in the layout `ArrowWriter` writes: a PLAIN dictionary
//! page, then Parquet v1 data pages of RLE/bit-packed ids, each compressed with the column's
//! codec; the chunk is then spliced into the row group like any other. As in arrow-rs, a
//! dictionary that outgrows the column's dictionary page limit is frozen and the rest of the
//! chunk is written as PLAIN pages, so memory stays bounded by that limit and the compressed
//! pages. Only columns without page statistics or bloom filters take this path
//! ([`DictColumnWriter::handles`]).

use arrow_array::{Array, StringArray};
use arrow_buffer::NullBuffer;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, PageType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, OffsetIndexBuilder, PageEncodingStats};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use crate::ingest::fields::word;

/// Rows appended at a time between checks of the dictionary and page size limits (arrow-rs
/// checks as often, at its default write batch size).
const SLICE_ROWS: usize = 1024;

/// Encodes one string column of one row group.
pub struct DictColumnWriter {
    descr: ColumnDescPtr,
    nullable: bool,
    compressor: Compressor,
    compression: Compression,
    page_rows: usize,
    page_bytes: usize,
    dictionary_limit: usize,
    /// Chunk statistics (min, max, null count) are written.
    statistics: bool,
    /// Longest min or max value the statistics may hold (arrow-rs's setting); longer ones are
    /// left out rather than truncated.
    statistics_limit: Option<usize>,
    dict: Dictionary,
    /// The dictionary outgrew its limit: new values go to PLAIN pages.
    plain_mode: bool,
    /// Smallest and largest value written PLAIN.
    plain_range: Option<(Vec<u8>, Vec<u8>)>,
    page: PageBuffer,
    pages: Vec<DataPage>,
    rows: usize,
    nulls: usize,
}

/// The unfinished data page.
#[derive(Default)]
struct PageBuffer {
    rows: usize,
    /// Dictionary id of every non-null value (dictionary mode).
    ids: Vec<u32>,
    /// PLAIN-encoded non-null values (after the dictionary is frozen).
    plain: Vec<u8>,
    /// Definition level of every row (1 = value, 0 = null); only for nullable columns.
    defs: Vec<u8>,
}

/// A finished, compressed data page.
struct DataPage {
    buf: Bytes,
    uncompressed: usize,
    rows: usize,
    encoding: Encoding,
}

impl DictColumnWriter {
    /// Whether this column can take the direct dictionary path: an Arrow Utf8 column with its
    /// dictionary on, no page statistics or bloom filter to compute, and v1 data pages.
    pub fn handles(props: &WriterProperties, field: &arrow_schema::Field, descr: &ColumnDescPtr) -> bool {
        let path = descr.path();
        field.data_type() == &arrow_schema::DataType::Utf8
            && descr.physical_type() == parquet::basic::Type::BYTE_ARRAY
            && descr.max_rep_level() == 0
            && props.dictionary_enabled(path)
            && props.statistics_enabled(path) != EnabledStatistics::Page
            && props.bloom_filter_properties(path).is_none()
            && matches!(props.compression(path), Compression::ZSTD(_) | Compression::UNCOMPRESSED)
            && props.writer_version() == WriterVersion::PARQUET_1_0
    }

    /// A writer for a column that [`Self::handles`] accepts.
    pub fn new(descr: ColumnDescPtr, props: &WriterProperties) -> Result<Self> {
        let path = descr.path();
        Ok(DictColumnWriter {
            nullable: descr.max_def_level() > 0,
            compressor: Compressor::new(props.compression(path))?,
            compression: props.compression(path),
            page_rows: props.column_data_page_row_count_limit(path).max(1),
            page_bytes: props.column_data_page_size_limit(path),
            dictionary_limit: props.column_dictionary_page_size_limit(path),
            statistics: props.statistics_enabled(path) == EnabledStatistics::Chunk,
            statistics_limit: props.statistics_truncate_length(),
            descr,
            dict: Dictionary::new(),
            plain_mode: false,
            plain_range: None,
            page: PageBuffer::default(),
            pages: Vec::new(),
            rows: 0,
            nulls: 0,
        })
    }

    /// Appends the values of `array` (a slice of a batch's column is fine).
    pub fn write(&mut self, array: &StringArray) -> Result<()> {
        let nulls = array.logical_nulls().filter(|n| n.null_count() > 0);
        if let (Some(nulls), false) = (&nulls, self.nullable) {
            return Err(ParquetError::General(format!(
                "column {} is not nullable but has {} nulls",
                self.descr.path(),
                nulls.null_count()
            )));
        }
        let mut at = 0;
        while at < array.len() {
            let room = self.page_rows - self.page.rows;
            let take = room.min(SLICE_ROWS).min(array.len() - at);
            self.append(array, nulls.as_ref(), at, take);
            at += take;
            if !self.plain_mode && self.dict.encoded_len() > self.dictionary_limit {
                // The page so far stays dictionary-encoded; the dictionary stops growing.
                self.finish_page()?;
                self.plain_mode = true;
            } else if self.page.rows >= self.page_rows || self.page.plain.len() >= self.page_bytes {
                self.finish_page()?;
            }
        }
        self.rows += array.len();
        Ok(())
    }

    /// Appends rows `at..at + take` of `array` to the unfinished page.
    fn append(&mut self, array: &StringArray, nulls: Option<&NullBuffer>, at: usize, take: usize) {
        let offsets = &array.value_offsets()[at..=at + take];
        let values = array.values().as_slice();
        let page = &mut self.page;
        page.rows += take;
        if self.nullable {
            match nulls {
                None => page.defs.resize(page.defs.len() + take, 1),
                Some(nulls) => page.defs.extend((at..at + take).map(|i| nulls.is_valid(i) as u8)),
            }
        }
        let valid = |i: usize| nulls.is_none_or(|n| n.is_valid(at + i));
        let dict = &mut self.dict;
        if self.plain_mode {
            for w in offsets.windows(2).enumerate().filter(|&(i, _)| valid(i)).map(|(_, w)| w) {
                let value = &values[w[0] as usize..w[1] as usize];
                page.plain.extend_from_slice(&(value.len() as u32).to_le_bytes());
                page.plain.extend_from_slice(value);
                if self.statistics {
                    widen(&mut self.plain_range, value);
                }
            }
        } else if nulls.is_none() {
            page.ids.extend(offsets.windows(2).map(|w| dict.intern(values, w[0] as usize, (w[1] - w[0]) as usize)));
        } else {
            for w in offsets.windows(2).enumerate().filter(|&(i, _)| valid(i)).map(|(_, w)| w) {
                page.ids.push(dict.intern(values, w[0] as usize, (w[1] - w[0]) as usize));
            }
        }
        self.nulls += nulls.map_or(0, |n| n.slice(at, take).null_count());
    }

    /// Encodes and compresses the unfinished page, if it has rows.
    fn finish_page(&mut self) -> Result<()> {
        let page = &mut self.page;
        if page.rows == 0 {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(page.plain.len() + page.ids.len() * 4 + page.defs.len() / 8 + 16);
        if self.nullable {
            buf.extend_from_slice(&[0; 4]);
            rle_hybrid(&page.defs, 1, &mut buf);
            let len = (buf.len() - 4) as u32;
            buf[..4].copy_from_slice(&len.to_le_bytes());
        }
        // A page of nulls before any value (so with no dictionary yet) is PLAIN with no values.
        let encoding = if self.plain_mode || self.dict.len() == 0 {
            buf.extend_from_slice(&page.plain);
            Encoding::PLAIN
        } else {
            let width = id_width(self.dict.len());
            buf.push(width);
            rle_hybrid(&page.ids, width, &mut buf);
            Encoding::RLE_DICTIONARY
        };
        let compressed = self.compressor.compress(&buf)?;
        self.pages.push(DataPage { buf: compressed, uncompressed: buf.len(), rows: page.rows, encoding });
        page.rows = 0;
        page.ids.clear();
        page.plain.clear();
        page.defs.clear();
        Ok(())
    }

    /// Encodes the chunk: its bytes, and the metadata that `SerializedRowGroupWriter::append_column`
    /// needs to splice them into the row group.
    pub fn close(mut self) -> Result<(Bytes, ColumnCloseResult)> {
        self.finish_page()?;
        let mut sink = TrackedWrite::new(Vec::new());
        let mut writer = SerializedPageWriter::new(&mut sink);
        let mut offsets = OffsetIndexBuilder::new();
        let mut stats: Vec<PageEncodingStats> = Vec::new();
        let mut encodings = vec![Encoding::PLAIN, Encoding::RLE];
        let (mut compressed, mut uncompressed) = (0i64, 0i64);
        let mut dictionary_offset = None;
        let mut data_offset = None;

        if self.dict.len() > 0 {
            let buf = self.dict.encoded();
            let page = Page::DictionaryPage {
                buf: self.compressor.compress(buf)?,
                num_values: self.dict.len(),
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            let spec = writer.write_page(CompressedPage::new(page, buf.len()))?;
            dictionary_offset = Some(spec.offset as i64);
            compressed += spec.compressed_size as i64;
            uncompressed += spec.uncompressed_size as i64;
            stats.push(PageEncodingStats { page_type: PageType::DICTIONARY_PAGE, encoding: Encoding::PLAIN, count: 1 });
        }
        for page in std::mem::take(&mut self.pages) {
            let encoding = page.encoding;
            let compressed_page = Page::DataPage {
                buf: page.buf,
                num_values: page.rows as u32,
                encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            let spec = writer.write_page(CompressedPage::new(compressed_page, page.uncompressed))?;
            data_offset.get_or_insert(spec.offset as i64);
            compressed += spec.compressed_size as i64;
            uncompressed += spec.uncompressed_size as i64;
            offsets.append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
            offsets.append_row_count(page.rows as i64);
            match stats.last_mut() {
                Some(last) if last.page_type == PageType::DATA_PAGE && last.encoding == encoding => last.count += 1,
                _ => stats.push(PageEncodingStats { page_type: PageType::DATA_PAGE, encoding, count: 1 }),
            }
            if !encodings.contains(&encoding) {
                encodings.push(encoding);
            }
        }
        writer.close()?;

        let mut metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.compression)
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_page_encoding_stats(stats)
            .set_total_compressed_size(compressed)
            .set_total_uncompressed_size(uncompressed)
            .set_num_values(self.rows as i64)
            .set_data_page_offset(data_offset.unwrap_or(0))
            .set_dictionary_page_offset(dictionary_offset);
        if self.statistics {
            let mut range = self.dict.min_max().map(|(min, max)| (min.to_vec(), max.to_vec()));
            if let Some((min, max)) = &self.plain_range {
                widen(&mut range, min);
                widen(&mut range, max);
            }
            let fits = |v: &[u8]| self.statistics_limit.is_none_or(|n| v.len() <= n);
            let (min, max) = match range {
                Some((min, max)) if fits(&min) && fits(&max) => (Some(min.into()), Some(max.into())),
                _ => (None, None),
            };
            metadata = metadata.set_statistics(Statistics::byte_array(min, max, None, Some(self.nulls as u64), false));
        }
        let metadata = metadata.build()?;
        let bytes = Bytes::from(sink.into_inner()?);
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: self.rows as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(offsets.build()),
        };
        Ok((bytes, close))
    }
}

/// Widens the range `(min, max)` to take in `value`.
fn widen(range: &mut Option<(Vec<u8>, Vec<u8>)>, value: &[u8]) {
    match range {
        None => *range = Some((value.to_vec(), value.to_vec())),
        Some((min, max)) => {
            if value < min.as_slice() {
                *min = value.to_vec();
            } else if value > max.as_slice() {
                *max = value.to_vec();
            }
        }
    }
}

/// Bits per dictionary id: enough for the largest id, and at least one (a width of zero is
/// legal but not every reader takes it).
fn id_width(entries: u32) -> u8 {
    (32 - entries.saturating_sub(1).leading_zeros()).max(1) as u8
}

/// A page compressor for the codecs [`DictColumnWriter::handles`] accepts.
enum Compressor {
    None,
    Zstd(zstd::bulk::Compressor<'static>),
}

impl Compressor {
    fn new(compression: Compression) -> Result<Self> {
        match compression {
            Compression::UNCOMPRESSED => Ok(Compressor::None),
            Compression::ZSTD(level) => zstd::bulk::Compressor::new(level.compression_level())
                .map(Compressor::Zstd)
                .map_err(|e| ParquetError::External(Box::new(e))),
            other => Err(ParquetError::NYI(format!("{other} in the dictionary column writer"))),
        }
    }

    fn compress(&mut self, data: &[u8]) -> Result<Bytes> {
        match self {
            Compressor::None => Ok(Bytes::copy_from_slice(data)),
            Compressor::Zstd(z) => z.compress(data).map(Bytes::from).map_err(|e| ParquetError::External(Box::new(e))),
        }
    }
}

/// Appends `values` in Parquet's RLE / bit-packing hybrid encoding, `width` (at most 32) bits
/// per value.
///
/// At each group of 8 values, a run of at least 8 equal values becomes an RLE run; otherwise
/// groups of 8 are bit-packed, at most 63 groups under one header (the most a one-byte header
/// counts, which some readers assume), until a run of equal values starts at a group
/// boundary. The last group is padded with zeros; readers stop at the page's value count.
pub fn rle_hybrid<T: Copy + PartialEq + Into<u32>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    assert!(width <= 32, "values are at most 32 bits wide");
    let run_at = |i: usize| {
        let v = values[i];
        values[i..].iter().take_while(|&&x| x == v).count()
    };
    // Whether 8 equal values start at `i`; unlike `run_at`, it looks no further than those 8.
    let starts_run = |i: usize| values.get(i..i + 8).is_some_and(|g| g.iter().all(|&x| x == g[0]));
    let mut i = 0;
    while i < values.len() {
        let run = run_at(i);
        if run >= 8 || i + run == values.len() {
            varint((run as u64) << 1, out);
            let value: u32 = values[i].into();
            out.extend_from_slice(&value.to_le_bytes()[..(width as usize).div_ceil(8)]);
            i += run;
            continue;
        }
        // Bit-packed groups until a run of 8 equal values starts at a group boundary.
        let mut groups = 1;
        while groups < 63 && i + groups * 8 < values.len() && !starts_run(i + groups * 8) {
            groups += 1;
        }
        varint(((groups as u64) << 1) | 1, out);
        let end = (i + groups * 8).min(values.len());
        let mut packer = BitPacker::new(width, out);
        for &v in &values[i..end] {
            packer.push(v.into() as u64);
        }
        for _ in end..i + groups * 8 {
            packer.push(0);
        }
        packer.finish();
        i = end;
    }
}

/// Appends an unsigned LEB128 varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Packs values of `width` bits, least significant bit first, as Parquet's bit-packed runs do.
struct BitPacker<'a> {
    out: &'a mut Vec<u8>,
    width: u32,
    acc: u64,
    bits: u32,
}

impl<'a> BitPacker<'a> {
    fn new(width: u8, out: &'a mut Vec<u8>) -> Self {
        BitPacker { out, width: width as u32, acc: 0, bits: 0 }
    }

    #[inline]
    fn push(&mut self, v: u64) {
        self.acc |= v << self.bits;
        self.bits += self.width;
        if self.bits >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.bits -= 32;
        }
    }

    /// Writes the remaining whole bytes (a multiple of 8 values always fills whole bytes).
    fn finish(self) {
        let bytes = self.bits.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

/// `LOW_BYTES[n]`: the low `n` bytes of a 16-byte word.
const LOW_BYTES: [u128; 17] = {
    let mut m = [u128::MAX; 17];
    let mut n = 0;
    while n < 16 {
        m[n] = (1u128 << (8 * n)) - 1;
        n += 1;
    }
    m
};

/// Slot tag bit of a value longer than 16 bytes, whose first word holds a hash of its bytes
/// and which is compared byte by byte.
const LONG: u32 = 1 << 31;

#[derive(Clone, Copy)]
struct Slot {
    w0: u64,
    w1: u64,
    /// The value's length, with [`LONG`] set for long values.
    tag: u32,
    /// Dictionary id, or `u32::MAX` for an empty slot.
    id: u32,
}

const EMPTY: Slot = Slot { w0: 0, w1: 0, tag: 0, id: u32::MAX };

/// The distinct values of a column chunk, in first-seen order, with an open-addressing table
/// that finds a value's id.
struct Dictionary {
    slots: Vec<Slot>,
    /// Values, PLAIN-encoded as the dictionary page wants them: a 4-byte length, then the bytes.
    plain: Vec<u8>,
    /// Where each value's bytes start in `plain`.
    starts: Vec<u32>,
    seed: [u64; 2],
}

impl Dictionary {
    fn new() -> Self {
        // Ids follow first appearance, so the output does not depend on the seed; the seed only
        // keeps crafted input from making every value collide.
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let seed = [state.hash_one(1u8) | 1, state.hash_one(2u8) | 1];
        Dictionary { slots: vec![EMPTY; 1024], plain: Vec::new(), starts: Vec::new(), seed }
    }

    fn len(&self) -> u32 {
        self.starts.len() as u32
    }

    /// The dictionary page's content: the values, PLAIN-encoded.
    fn encoded(&self) -> &[u8] {
        &self.plain
    }

    /// Size of the dictionary page before compression (what the page size limit bounds).
    fn encoded_len(&self) -> usize {
        self.plain.len()
    }

    /// The smallest and largest value, bytewise (the order of Parquet's UTF8 statistics).
    fn min_max(&self) -> Option<(&[u8], &[u8])> {
        let mut values = (0..self.len()).map(|id| self.value(id));
        let first = values.next()?;
        Some(values.fold((first, first), |(min, max), v| (min.min(v), max.max(v))))
    }

    fn value(&self, id: u32) -> &[u8] {
        let start = self.starts[id as usize] as usize;
        let len = u32::from_le_bytes(self.plain[start - 4..start].try_into().unwrap()) as usize;
        &self.plain[start..start + len]
    }

    #[inline]
    fn hash(&self, w0: u64, w1: u64, tag: u32) -> u64 {
        fold(w0 ^ self.seed[0], w1 ^ self.seed[1] ^ ((tag as u64) << 32))
    }

    /// The id of `buf[start..start + len]`, added to the dictionary if it is new.
    #[inline(always)]
    fn intern(&mut self, buf: &[u8], start: usize, len: usize) -> u32 {
        // A value of up to 16 bytes with 16 readable bytes from its start (all but the last
        // few of a column) is read as one 16-byte load, masked to its length.
        match buf.get(start..start + 16) {
            Some(window) if len <= 16 => {
                let window = u128::from_le_bytes(window.try_into().unwrap());
                let v = window & LOW_BYTES[len];
                self.find(v as u64, (v >> 64) as u64, len as u32, &buf[start..start + len])
            }
            _ => self.intern_other(&buf[start..start + len]),
        }
    }

    /// [`Self::intern`] for values near the end of the buffer, and values over 16 bytes.
    #[cold]
    fn intern_other(&mut self, value: &[u8]) -> u32 {
        if value.len() <= 16 {
            let mut padded = [0u8; 16];
            padded[..value.len()].copy_from_slice(value);
            let v = u128::from_le_bytes(padded);
            self.find(v as u64, (v >> 64) as u64, value.len() as u32, value)
        } else {
            self.find(long_hash(value, self.seed), 0, value.len() as u32 | LONG, value)
        }
    }

    #[inline(always)]
    fn find(&mut self, w0: u64, w1: u64, tag: u32, value: &[u8]) -> u32 {
        let mask = self.slots.len() - 1;
        let mut i = self.hash(w0, w1, tag) as usize & mask;
        loop {
            let s = self.slots[i];
            if s.w0 == w0 && s.w1 == w1 && s.tag == tag && s.id != u32::MAX {
                if tag & LONG == 0 || self.value(s.id) == value {
                    return s.id;
                }
            } else if s.id == u32::MAX {
                return self.insert(i, Slot { w0, w1, tag, id: self.len() }, value);
            }
            i = (i + 1) & mask;
        }
    }

    #[cold]
    fn insert(&mut self, at: usize, slot: Slot, value: &[u8]) -> u32 {
        self.slots[at] = slot;
        self.plain.extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.starts.push(self.plain.len() as u32);
        self.plain.extend_from_slice(value);
        if self.starts.len() * 2 > self.slots.len() {
            self.grow();
        }
        slot.id
    }

    /// Doubles the table (it stays at most half full, so probes stay short).
    fn grow(&mut self) {
        let doubled = vec![EMPTY; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.id != u32::MAX) {
            let mut i = self.hash(s.w0, s.w1, s.tag) as usize & mask;
            while self.slots[i].id != u32::MAX {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }
}

/// The 128-bit product of `a` and `b`, folded to 64 bits: a fast mix whose every output bit
/// depends on every input bit (the mixing step of foldhash and wyhash).
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Hash of a value longer than 16 bytes, 16 bytes at a time.
fn long_hash(v: &[u8], seed: [u64; 2]) -> u64 {
    let mut h = seed[0] ^ v.len() as u64;
    let mut chunks = v.chunks_exact(16);
    for c in &mut chunks {
        h = fold(word(c) ^ h, word(&c[8..]) ^ seed[1]);
    }
    let mut tail = [0u8; 16];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    fold(word(&tail) ^ h, word(&tail[8..]) ^ seed[1])
}
