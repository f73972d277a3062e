//! pqdict.rs, our writer of dictionary-encoded string column chunks, through `FlowsWriter` and
//! directly: round trips of awkward data (values at the end of their buffer, values sharing a
//! prefix, 15/16/17-byte values, long values, nulls, sliced arrays), the same data through
//! arrow-rs's `ArrowWriter`, the chunks' pages decoded by an independent decoder written here
//! (dictionary page, RLE/bit-packed ids, definition levels, PLAIN fallback), chunk metadata
//! (encodings, page encoding stats, offset index, statistics), and `rle_hybrid` itself.

use std::collections::HashSet;
use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BinaryArray, DictionaryArray, Int64Array, LargeStringArray, RecordBatch, StringArray,
    StringViewArray,
};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use flowlens::pqdict::{rle_hybrid, DictColumnWriter};
use flowlens::pqwrite::FlowsWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, Encoding, PageType, ZstdLevel};
use parquet::column::page::Page;
use parquet::file::metadata::{ColumnChunkMetaData, PageIndexPolicy, ParquetMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnPath;

// ---------------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic pseudo-random numbers without a crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn text(&mut self, alphabet: &[u8], len: usize) -> String {
        let bytes: Vec<u8> = (0..len).map(|_| alphabet[self.below(alphabet.len())]).collect();
        String::from_utf8(bytes).unwrap()
    }
}

/// Values that a word-at-a-time interner could confuse: prefixes of one another, values that
/// differ only in a trailing NUL (padding bytes are zero), at and around the 8- and 16-byte
/// word boundaries, longer values with the same first 16 bytes, and multi-byte UTF-8.
const TRICKY: &[&str] = &[
    "",
    "\0",
    "\0\0",
    "a",
    "a\0",
    "a\0\0",
    "\0a",
    "1.2.3.4",
    "1.2.3.45",
    "1.2.3.456",
    "1.2.3.4\0",
    "10.0.0.1",
    "10.0.0.10",
    "10.0.0.100",
    "abcdefg",
    "abcdefgh",
    "abcdefgh\0",
    "abcdefghi",
    "0123456789abcde",
    "0123456789abcde\0",
    "0123456789abcdef",
    "0123456789abcdeF",
    "1123456789abcdef",
    "0123456789abcdef0",
    "0123456789abcdef\0",
    "0123456789abcdef01234567",
    "0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdeg",
    "0123456789abcdef0123456789abcdef\0",
    "é",
    "éé",
    "日本語のテキスト",
    "\u{10FFFF}",
    "FSPA",
    "S",
    "A",
];

/// A value of one of several kinds, with many repeats across calls.
fn value(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=2 => TRICKY[rng.below(TRICKY.len())].to_string(),
        // Addresses: a few hundred distinct values, 8 to 13 bytes.
        3 | 4 => format!("10.{}.{}.{}", rng.below(3), rng.below(4), rng.below(40)),
        // Short values over a small alphabet (with NUL): shared prefixes, some empty.
        5 => {
            let len = rng.below(21);
            rng.text(b"ab\0.", len)
        }
        // Around the 16-byte boundary.
        6 => {
            let len = 14 + rng.below(5);
            rng.text(b"xy", len)
        }
        // Long values, 40 to 300 bytes, from a few 40-byte prefixes.
        7 => {
            let prefix = ["P".repeat(40), "Q".repeat(40), "0123456789abcdef".repeat(3)[..40].to_string()];
            let len = rng.below(261);
            format!("{}{}", prefix[rng.below(3)], rng.text(b"pq", len))
        }
        // Long values that differ only in their last byte (and repeat often).
        8 => format!("{}{}", "L".repeat(40 + rng.below(3)), ["x", "y", "\0"][rng.below(3)]),
        _ => format!("hot{}", rng.below(8)),
    }
}

/// `n` values with nulls: scattered single nulls, runs of nulls and runs of equal values.
fn nullable_values(rng: &mut Rng, n: usize) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(n + 200);
    while out.len() < n {
        match rng.below(100) {
            0 => out.extend(std::iter::repeat_n(None, 10 + rng.below(150))),
            1..=20 => out.push(None),
            21..=25 => {
                let v = value(rng);
                out.extend(std::iter::repeat_n(Some(v), 1 + rng.below(30)));
            }
            _ => out.push(Some(value(rng))),
        }
    }
    out.truncate(n);
    out
}

/// `n` non-null values, with runs of equal values.
fn values(rng: &mut Rng, n: usize) -> Vec<Option<String>> {
    let mut out = Vec::with_capacity(n + 50);
    while out.len() < n {
        let v = value(rng);
        let run = if rng.below(10) == 0 { 1 + rng.below(40) } else { 1 };
        out.extend(std::iter::repeat_n(Some(v), run));
    }
    out.truncate(n);
    out
}

/// The data of one column of the test tables.
enum Col {
    Str(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::Str(v) => v.len(),
            Col::Int(v) => v.len(),
        }
    }

    fn strings(&self) -> &[Option<String>] {
        match self {
            Col::Str(v) => v,
            Col::Int(_) => panic!("not a string column"),
        }
    }

    /// An array of rows `range`: `before` and `after` filler rows around them are in the array's
    /// buffers but sliced off when `slice`, kept (for a later `RecordBatch::slice`) otherwise.
    fn array(&self, range: Range<usize>, before: usize, after: usize, slice: bool, rng: &mut Rng) -> ArrayRef {
        let len = range.len();
        let array: ArrayRef = match self {
            Col::Str(v) => {
                let mut items: Vec<Option<String>> = (0..before).map(|_| Some(value(rng))).collect();
                items.extend(v[range].iter().cloned());
                items.extend((0..after).map(|_| Some(value(rng))));
                Arc::new(StringArray::from(items))
            }
            Col::Int(v) => {
                let mut items: Vec<Option<i64>> = (0..before).map(|_| Some(rng.next() as i64)).collect();
                items.extend(v[range].iter().cloned());
                items.extend((0..after).map(|_| None));
                Arc::new(Int64Array::from(items))
            }
        };
        if slice {
            array.slice(before, len)
        } else {
            array
        }
    }
}

/// The rows of `cols` cut into batches of assorted sizes (including empty ones and ones that
/// straddle row groups of 1000), built in assorted ways: fresh arrays (whose last values end
/// their values buffer), slices of larger arrays, and slices of larger batches.
fn batches(schema: &SchemaRef, cols: &[Col], rng: &mut Rng) -> Vec<RecordBatch> {
    const SIZES: [usize; 12] = [0, 1, 2, 7, 99, 100, 101, 333, 999, 1000, 1001, 2500];
    let rows = cols[0].len();
    let mut out = Vec::new();
    let mut at = 0;
    while at < rows {
        let len = SIZES[rng.below(SIZES.len())].min(rows - at);
        let range = at..at + len;
        let batch = match rng.below(3) {
            0 => {
                let arrays = cols.iter().map(|c| c.array(range.clone(), 0, 0, false, rng)).collect();
                RecordBatch::try_new(schema.clone(), arrays).unwrap()
            }
            1 => {
                let (before, after) = (1 + rng.below(50), rng.below(50));
                let arrays = cols.iter().map(|c| c.array(range.clone(), before, after, true, rng)).collect();
                RecordBatch::try_new(schema.clone(), arrays).unwrap()
            }
            _ => {
                let (before, after) = (1 + rng.below(50), rng.below(50));
                let arrays = cols.iter().map(|c| c.array(range.clone(), before, after, false, rng)).collect();
                RecordBatch::try_new(schema.clone(), arrays).unwrap().slice(before, len)
            }
        };
        assert_eq!(batch.num_rows(), len);
        out.push(batch);
        at += len;
    }
    out
}

/// A batch of one string column.
fn string_batch(schema: &SchemaRef, values: &[Option<&str>]) -> RecordBatch {
    RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(values.to_vec()))]).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Writing and reading
// ---------------------------------------------------------------------------------------------

fn base_properties() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(true)
        .set_data_page_row_count_limit(100)
        .set_max_row_group_row_count(Some(1000))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_statistics_truncate_length(None)
}

fn write_flows(schema: &SchemaRef, batches: &[RecordBatch], props: WriterProperties) -> Bytes {
    let mut out = Vec::new();
    let mut writer = FlowsWriter::with_properties(&mut out, schema.clone(), props).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
    Bytes::from(out)
}

fn write_arrow(schema: &SchemaRef, batches: &[RecordBatch], props: WriterProperties) -> Bytes {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema.clone(), Some(props)).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.close().unwrap();
    Bytes::from(out)
}

/// The whole file as one batch (read in batches of an odd size).
fn read(file: &Bytes) -> RecordBatch {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file.clone()).unwrap();
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder.with_batch_size(777).build().unwrap().collect::<Result<_, _>>().unwrap();
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

/// The file's metadata with its page index and full page encoding stats.
fn metadata(file: &Bytes) -> Arc<ParquetMetaData> {
    let options =
        ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional).with_encoding_stats_as_mask(false);
    ParquetRecordBatchReaderBuilder::try_new_with_options(file.clone(), options).unwrap().metadata().clone()
}

fn read_strings(array: &dyn Array) -> Vec<Option<String>> {
    array.as_string::<i32>().iter().map(|v| v.map(str::to_owned)).collect()
}

/// `got == want`, reporting the first difference rather than both vectors.
fn assert_rows_eq<T: PartialEq + Debug>(what: &str, got: &[T], want: &[T]) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!("{what}: first difference at row {i}: got {:?}, want {:?}", got[i], want[i]);
    }
    assert!(got.len() == want.len(), "{what}: {} rows, want {}", got.len(), want.len());
}

fn as_bytes(values: &[Option<String>]) -> Vec<Option<Vec<u8>>> {
    values.iter().map(|v| v.as_ref().map(|s| s.as_bytes().to_vec())).collect()
}

/// Asserts that `file` reads back as `cols`.
fn assert_reads_back(file: &Bytes, schema: &SchemaRef, cols: &[Col]) {
    let got = read(file);
    assert_eq!(got.num_rows(), cols[0].len());
    for (i, col) in cols.iter().enumerate() {
        let name = schema.field(i).name();
        match col {
            Col::Str(want) => assert_rows_eq(name, &read_strings(got.column(i)), want),
            Col::Int(want) => {
                let got: Vec<Option<i64>> =
                    got.column(i).as_primitive::<arrow_array::types::Int64Type>().iter().collect();
                assert_rows_eq(name, &got, want)
            }
        }
    }
}

/// Row ranges of the row groups, from the metadata (checked against `group_rows`).
fn row_groups(meta: &ParquetMetaData, rows: usize, group_rows: usize) -> Vec<Range<usize>> {
    let ranges: Vec<Range<usize>> =
        (0..rows.div_ceil(group_rows)).map(|g| g * group_rows..((g + 1) * group_rows).min(rows)).collect();
    let got: Vec<usize> = meta.row_groups().iter().map(|rg| rg.num_rows() as usize).collect();
    let want: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
    assert_eq!(got, want, "row group sizes");
    ranges
}

// ---------------------------------------------------------------------------------------------
// An independent decoder of the chunks' pages
// ---------------------------------------------------------------------------------------------

/// A decoded run of the RLE / bit-packing hybrid encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Run {
    Rle(usize),
    /// Bit-packed: the number of 8-value groups.
    Packed(usize),
}

#[derive(Debug, Default)]
struct Hybrid {
    values: Vec<u64>,
    /// Bytes read.
    used: usize,
    runs: Vec<Run>,
    /// Whether each value came from an RLE run.
    from_rle: Vec<bool>,
}

fn read_varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).ok_or("varint past the end")?;
        *at += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

/// Decodes `n` values of the RLE / bit-packing hybrid encoding, `width` bits each: a varint
/// header, then either (LSB 1) `header >> 1` groups of 8 bit-packed values, LSB first, or (LSB 0)
/// an RLE run of `header >> 1` copies of a value in `ceil(width / 8)` little-endian bytes.
/// Stricter than a reader: empty runs, RLE runs past `n`, values wider than `width` and nonzero
/// padding are errors.
fn decode_hybrid(buf: &[u8], width: u8, n: usize) -> Result<Hybrid, String> {
    let width = width as usize;
    let mut h = Hybrid::default();
    let mut at = 0;
    while h.values.len() < n {
        let header = read_varint(buf, &mut at)?;
        let count = (header >> 1) as usize;
        if count == 0 {
            return Err(format!("empty run at byte {at}"));
        }
        if header & 1 == 1 {
            let data = buf.get(at..at + count * width).ok_or("bit-packed run past the end")?;
            at += count * width;
            for k in 0..count * 8 {
                let v = (0..width).fold(0u64, |v, b| {
                    let bit = k * width + b;
                    v | ((((data[bit / 8] >> (bit % 8)) & 1) as u64) << b)
                });
                if h.values.len() < n {
                    h.values.push(v);
                    h.from_rle.push(false);
                } else if v != 0 {
                    return Err(format!("nonzero padding {v}"));
                }
            }
            h.runs.push(Run::Packed(count));
        } else {
            let bytes = buf.get(at..at + width.div_ceil(8)).ok_or("RLE value past the end")?;
            at += bytes.len();
            let v = bytes.iter().rev().fold(0u64, |v, &b| (v << 8) | b as u64);
            if width < 64 && v >> width != 0 {
                return Err(format!("RLE value {v} wider than {width} bits"));
            }
            if h.values.len() + count > n {
                return Err(format!("RLE run of {count} past the {n} values"));
            }
            h.values.extend(std::iter::repeat_n(v, count));
            h.from_rle.extend(std::iter::repeat_n(true, count));
            h.runs.push(Run::Rle(count));
        }
    }
    h.used = at;
    Ok(h)
}

/// `n` PLAIN-encoded byte arrays, and the bytes read.
fn decode_plain(buf: &[u8], n: usize) -> (Vec<Vec<u8>>, usize) {
    let mut at = 0;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        at += 4;
        out.push(buf[at..at + len].to_vec());
        at += len;
    }
    (out, at)
}

#[derive(Debug)]
struct DataPageInfo {
    rows: usize,
    encoding: Encoding,
    /// The page's rows, decoded.
    values: Vec<Option<Vec<u8>>>,
    /// Uncompressed size of the page body.
    size: usize,
    /// Bytes of the PLAIN-encoded values (PLAIN pages).
    plain_bytes: usize,
    /// The runs of the dictionary ids (dictionary pages).
    id_runs: Vec<Run>,
}

#[derive(Debug)]
struct ChunkInfo {
    dictionary: Option<Vec<Vec<u8>>>,
    pages: Vec<DataPageInfo>,
}

impl ChunkInfo {
    fn values(&self) -> Vec<Option<Vec<u8>>> {
        self.pages.iter().flat_map(|p| p.values.iter().cloned()).collect()
    }

    fn encodings(&self) -> Vec<Encoding> {
        self.pages.iter().map(|p| p.encoding).collect()
    }
}

/// Decodes every page of column `col` of row group `rg` (a flat byte array column with v1 data
/// pages), checking that each part of each page is exactly as long as its content.
fn decode_chunk(file: &Bytes, rg: usize, col: usize) -> ChunkInfo {
    let reader = SerializedFileReader::new(file.clone()).unwrap();
    let descr = reader.metadata().file_metadata().schema_descr().column(col);
    assert_eq!(descr.max_rep_level(), 0);
    let nullable = descr.max_def_level() > 0;
    let mut chunk = ChunkInfo { dictionary: None, pages: Vec::new() };
    for page in reader.get_row_group(rg).unwrap().get_column_page_reader(col).unwrap() {
        match page.unwrap() {
            Page::DictionaryPage { buf, num_values, encoding, .. } => {
                assert!(chunk.dictionary.is_none() && chunk.pages.is_empty(), "one dictionary page, first");
                assert!(matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY), "{encoding:?}");
                let (values, used) = decode_plain(&buf, num_values as usize);
                assert_eq!(used, buf.len(), "dictionary page length");
                chunk.dictionary = Some(values);
            }
            Page::DataPage { buf, num_values, encoding, def_level_encoding, .. } => {
                let rows = num_values as usize;
                let (defs, body) = if nullable {
                    assert_eq!(def_level_encoding, Encoding::RLE);
                    let len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
                    let defs = decode_hybrid(&buf[4..4 + len], 1, rows).unwrap();
                    assert_eq!(defs.used, len, "definition levels fill their length");
                    (defs.values, &buf[4 + len..])
                } else {
                    (vec![1; rows], &buf[..])
                };
                let present = defs.iter().filter(|&&d| d == 1).count();
                let (values, plain_bytes, id_runs) = match encoding {
                    Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY => {
                        let dict = chunk.dictionary.as_ref().expect("a dictionary page before dictionary ids");
                        let width = body[0];
                        let ids = decode_hybrid(&body[1..], width, present).unwrap();
                        assert_eq!(1 + ids.used, body.len(), "ids fill the page");
                        let values = ids
                            .values
                            .iter()
                            .map(|&id| dict.get(id as usize).unwrap_or_else(|| panic!("id {id} of {}", dict.len())))
                            .cloned()
                            .collect();
                        (values, 0, ids.runs)
                    }
                    Encoding::PLAIN => {
                        let (values, used) = decode_plain(body, present);
                        assert_eq!(used, body.len(), "PLAIN values fill the page");
                        (values, used, Vec::new())
                    }
                    other => panic!("unexpected data page encoding {other:?}"),
                };
                let mut values = values.into_iter();
                let values = defs.iter().map(|&d| if d == 1 { values.next() } else { None }).collect();
                chunk.pages.push(DataPageInfo { rows, encoding, values, size: buf.len(), plain_bytes, id_runs });
            }
            Page::DataPageV2 { .. } => panic!("a v2 data page"),
        }
    }
    chunk
}

/// The distinct non-null values, in first-seen order.
fn distinct(values: &[Option<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut seen = HashSet::new();
    values.iter().flatten().filter(|v| seen.insert(v.to_vec())).cloned().collect()
}

/// (min, max, null count) of `values`, bytewise.
fn expected_statistics(values: &[Option<String>]) -> (Option<Vec<u8>>, Option<Vec<u8>>, u64) {
    let present = values.iter().flatten().map(|s| s.as_bytes());
    let min = present.clone().min().map(<[u8]>::to_vec);
    let max = present.max().map(<[u8]>::to_vec);
    (min, max, values.iter().filter(|v| v.is_none()).count() as u64)
}

/// (min, max, null count) of a chunk's statistics.
fn chunk_statistics(column: &ColumnChunkMetaData) -> (Option<Vec<u8>>, Option<Vec<u8>>, Option<u64>) {
    let stats = column.statistics().expect("chunk statistics");
    (stats.min_bytes_opt().map(<[u8]>::to_vec), stats.max_bytes_opt().map(<[u8]>::to_vec), stats.null_count_opt())
}

/// What [`check_pqdict_chunk`] expects of a chunk's dictionary.
#[derive(PartialEq)]
enum DictionaryUse {
    /// All values dictionary-encoded: the dictionary is the distinct values in first-seen order.
    Whole,
    /// The dictionary may have been frozen.
    MaybeFrozen,
}

/// Checks a chunk that pqdict wrote: its pages decode to `want`, pages hold at most
/// `page_rows` rows, its dictionary holds distinct values, and its metadata (dictionary offset,
/// encodings, page encoding stats, offset index, value count) matches its pages.
fn check_pqdict_chunk(
    file: &Bytes,
    meta: &ParquetMetaData,
    rg: usize,
    col: usize,
    want: &[Option<String>],
    page_rows: usize,
    dictionary: DictionaryUse,
) -> ChunkInfo {
    let what = format!("row group {rg} column {col}");
    let chunk = decode_chunk(file, rg, col);
    let want = as_bytes(want);
    assert_rows_eq(&format!("{what}: pages"), &chunk.values(), &want);
    for (i, page) in chunk.pages.iter().enumerate() {
        assert!(page.rows <= page_rows, "{what}: page {i} has {} rows", page.rows);
        assert!(page.rows > 0, "{what}: page {i} is empty");
    }
    // The dictionary: distinct values; with no fallback, exactly the chunk's distinct values.
    if let Some(dict) = &chunk.dictionary {
        assert!(!dict.is_empty(), "{what}: an empty dictionary page");
        let unique: HashSet<&Vec<u8>> = dict.iter().collect();
        assert_eq!(unique.len(), dict.len(), "{what}: the dictionary repeats a value");
    }
    if dictionary == DictionaryUse::Whole {
        let distinct = distinct(&want);
        match &chunk.dictionary {
            Some(dict) => assert!(dict == &distinct, "{what}: dictionary is not the distinct values in order"),
            None => assert!(distinct.is_empty(), "{what}: no dictionary for {} values", distinct.len()),
        }
        // Pages end at the row limit only.
        for page in &chunk.pages[..chunk.pages.len() - 1] {
            assert_eq!(page.rows, page_rows, "{what}: a short page before the last");
        }
    }
    // Metadata.
    let column = meta.row_group(rg).column(col);
    assert_eq!(column.num_values(), want.len() as i64, "{what}: num_values");
    assert_eq!(column.dictionary_page_offset().is_some(), chunk.dictionary.is_some(), "{what}: dictionary offset");
    let encodings: Vec<Encoding> = column.encodings().collect();
    for encoding in chunk.encodings() {
        assert!(encodings.contains(&encoding), "{what}: {encoding:?} pages but encodings {encodings:?}");
    }
    assert_eq!(
        encodings.contains(&Encoding::RLE_DICTIONARY),
        chunk.encodings().contains(&Encoding::RLE_DICTIONARY),
        "{what}: encodings {encodings:?}"
    );
    let stats = column.page_encoding_stats().expect("page encoding stats");
    let mut pages_by_stats = Vec::new();
    for s in stats {
        pages_by_stats.extend(std::iter::repeat_n((s.page_type, s.encoding), s.count as usize));
    }
    let mut pages = Vec::new();
    if chunk.dictionary.is_some() {
        pages.push((PageType::DICTIONARY_PAGE, Encoding::PLAIN));
    }
    pages.extend(chunk.pages.iter().map(|p| (PageType::DATA_PAGE, p.encoding)));
    assert_eq!(pages_by_stats, pages, "{what}: page encoding stats");
    // Offset index: one location per data page, contiguous, from the first data page to the
    // chunk's end, with each page's first row.
    let locations = meta.page_index_for_row_group(rg).page_locations(col).expect("an offset index").clone();
    assert_eq!(locations.len(), chunk.pages.len(), "{what}: offset index pages");
    let (start, len) = column.byte_range();
    assert_eq!(column.dictionary_page_offset().unwrap_or(column.data_page_offset()), start as i64);
    assert_eq!(locations[0].offset, column.data_page_offset(), "{what}: first page location");
    let mut first_row = 0;
    for (k, (loc, page)) in locations.iter().zip(&chunk.pages).enumerate() {
        assert_eq!(loc.first_row_index, first_row, "{what}: page {k} first row");
        if let Some(next) = locations.get(k + 1) {
            assert_eq!(loc.offset + loc.compressed_page_size as i64, next.offset, "{what}: page {k} size");
        }
        first_row += page.rows as i64;
    }
    let last = locations.last().unwrap();
    assert_eq!((last.offset + last.compressed_page_size as i64) as u64, start + len, "{what}: chunk end");
    chunk
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

/// s: non-nullable, n: nullable, both through pqdict; i: Int64 and p: a copy of n with page
/// statistics, both through arrow-rs.
fn mixed_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("s", DataType::Utf8, false),
        Field::new("n", DataType::Utf8, true),
        Field::new("i", DataType::Int64, true),
        Field::new("p", DataType::Utf8, true),
    ]))
}

fn mixed_columns(rng: &mut Rng, rows: usize) -> Vec<Col> {
    let n = nullable_values(rng, rows);
    let i: Vec<Option<i64>> = (0..rows).map(|k| (k % 7 != 3).then(|| rng.next() as i64 >> (k % 60))).collect();
    vec![Col::Str(values(rng, rows)), Col::Str(n.clone()), Col::Int(i), Col::Str(n)]
}

fn mixed_properties() -> WriterProperties {
    base_properties()
        .set_column_statistics_enabled(ColumnPath::from("s"), EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("p"), EnabledStatistics::Page)
        .build()
}

fn pqdict_columns(props: &WriterProperties, schema: &Schema) -> Vec<bool> {
    let descr = ArrowSchemaConverter::new().convert(schema).unwrap();
    (0..descr.num_columns()).map(|i| DictColumnWriter::handles(props, schema.field(i), &descr.column(i))).collect()
}

#[test]
fn round_trip_through_flows_writer() {
    let schema = mixed_schema();
    let props = mixed_properties();
    assert_eq!(pqdict_columns(&props, &schema), [true, true, false, false], "which columns pqdict writes");
    let mut rng = Rng::new(1);
    let rows = 7_345;
    let cols = mixed_columns(&mut rng, rows);
    let batches = batches(&schema, &cols, &mut rng);
    assert!(batches.len() > 8, "assorted batches");
    let file = write_flows(&schema, &batches, props);

    assert_reads_back(&file, &schema, &cols);
    let meta = metadata(&file);
    for (rg, range) in row_groups(&meta, rows, 1000).into_iter().enumerate() {
        let s = &cols[0].strings()[range.clone()];
        let n = &cols[1].strings()[range.clone()];
        check_pqdict_chunk(&file, &meta, rg, 0, s, 100, DictionaryUse::Whole);
        let ours = check_pqdict_chunk(&file, &meta, rg, 1, n, 100, DictionaryUse::Whole);
        let row_group = meta.row_group(rg);
        // No statistics asked for s; n's are exact and equal to arrow-rs's for the same values (p).
        assert!(row_group.column(0).statistics().is_none(), "row group {rg}: statistics of s");
        let (min, max, nulls) = expected_statistics(n);
        assert_eq!(chunk_statistics(row_group.column(1)), (min, max, Some(nulls)), "row group {rg}: n statistics");
        assert_eq!(
            chunk_statistics(row_group.column(1)),
            chunk_statistics(row_group.column(3)),
            "row group {rg}: statistics of n (pqdict) and p (arrow-rs)"
        );
        // arrow-rs's dictionary of the same values is the same, in the same order.
        let theirs = decode_chunk(&file, rg, 3);
        assert!(ours.dictionary == theirs.dictionary, "row group {rg}: dictionaries of n and p differ");
    }
}

#[test]
fn flows_writer_matches_arrow_writer() {
    let schema = mixed_schema();
    let props = base_properties().build();
    assert_eq!(pqdict_columns(&props, &schema), [true, true, false, true]);
    let mut rng = Rng::new(2);
    let rows = 5_500;
    let cols = mixed_columns(&mut rng, rows);
    let batches = batches(&schema, &cols, &mut rng);
    let ours = write_flows(&schema, &batches, props.clone());
    let theirs = write_arrow(&schema, &batches, props);

    assert_reads_back(&ours, &schema, &cols);
    assert_reads_back(&theirs, &schema, &cols);
    let (a, b) = (read(&ours), read(&theirs));
    assert!(a == b, "FlowsWriter and ArrowWriter files read back differently");
    assert_eq!(a.schema(), b.schema());

    let (ours_meta, theirs_meta) = (metadata(&ours), metadata(&theirs));
    let ranges = row_groups(&ours_meta, rows, 1000);
    row_groups(&theirs_meta, rows, 1000);
    for (rg, range) in ranges.into_iter().enumerate() {
        for col in [0, 1, 3] {
            let want = &cols[col].strings()[range.clone()];
            let chunk = check_pqdict_chunk(&ours, &ours_meta, rg, col, want, 100, DictionaryUse::Whole);
            let (o, t) = (ours_meta.row_group(rg).column(col), theirs_meta.row_group(rg).column(col));
            let (min, max, nulls) = expected_statistics(want);
            assert_eq!(chunk_statistics(o), (min, max, Some(nulls)), "row group {rg} column {col}");
            assert_eq!(chunk_statistics(o), chunk_statistics(t), "row group {rg} column {col}: vs ArrowWriter");
            assert_eq!(o.num_values(), t.num_values());
            assert_eq!(o.dictionary_page_offset().is_some(), t.dictionary_page_offset().is_some());
            let arrow_chunk = decode_chunk(&theirs, rg, col);
            assert!(chunk.dictionary == arrow_chunk.dictionary, "row group {rg} column {col}: dictionaries differ");
        }
    }
}

/// Reading a selection of rows seeks pages through our offset index.
#[test]
fn row_selection_uses_offset_index() {
    let schema = mixed_schema();
    let mut rng = Rng::new(3);
    let rows = 3_000;
    let cols = mixed_columns(&mut rng, rows);
    let batches = batches(&schema, &cols, &mut rng);
    let file = write_flows(&schema, &batches, mixed_properties());

    let selectors = [(250, 30), (0, 1), (519, 1), (1000, 200), (1, 950)];
    let mut selection = Vec::new();
    let mut want: Vec<usize> = Vec::new();
    let mut at = 0;
    for (skip, take) in selectors {
        selection.extend([RowSelector::skip(skip), RowSelector::select(take)]);
        want.extend(at + skip..at + skip + take);
        at += skip + take;
    }
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .unwrap()
        .with_row_selection(RowSelection::from(selection))
        .with_batch_size(64)
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    let got = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
    for col in [0, 1, 3] {
        let expected: Vec<Option<String>> = want.iter().map(|&r| cols[col].strings()[r].clone()).collect();
        assert_rows_eq(schema.field(col).name(), &read_strings(got.column(col)), &expected);
    }
}

/// Each tricky value at the end of a values buffer (fewer than 16 bytes readable), in the
/// middle of one, and in sliced arrays: equal values get one dictionary entry and distinct ones
/// distinct entries.
#[test]
fn interning_keeps_values_apart() {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, true)]));
    let props = base_properties().set_data_page_row_count_limit(50).set_max_row_group_row_count(Some(100_000)).build();
    let mut extra: Vec<String> = Vec::new();
    for len in 0..=40 {
        // Same bytes but the last; and a prefix of the next length.
        extra.push("k".repeat(len));
        extra.push(format!("{}{}", "k".repeat(len.saturating_sub(1)), "m").chars().take(len).collect());
        extra.push(format!("{}\0", "k".repeat(len)));
    }
    let mut all: Vec<&str> = TRICKY.to_vec();
    all.extend(extra.iter().map(String::as_str));

    let mut rows: Vec<Option<String>> = Vec::new();
    let mut batches = Vec::new();
    let mut push = |batch: RecordBatch, rows: &mut Vec<Option<String>>| {
        rows.extend(read_strings(batch.column(0)));
        batches.push(batch);
    };
    for (i, &v) in all.iter().enumerate() {
        let prev = all[(i + all.len() - 1) % all.len()];
        // At the very end of a buffer, alone and after another value.
        push(string_batch(&schema, &[Some(v)]), &mut rows);
        push(string_batch(&schema, &[Some(prev), None, Some(v)]), &mut rows);
        // Followed by at least 16 bytes.
        push(string_batch(&schema, &[Some(v), Some("0123456789abcdef"), Some(prev)]), &mut rows);
        // In a slice whose buffer goes on past it.
        let array = StringArray::from(vec![Some("zz"), Some(v), Some(prev), Some("0123456789abcdef0123")]);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(array.slice(1, 2))]).unwrap();
        push(batch, &mut rows);
    }
    // Everything again, in one array, in reverse.
    let reversed: Vec<Option<&str>> = all.iter().rev().map(|v| Some(*v)).collect();
    push(string_batch(&schema, &reversed), &mut rows);

    let file = write_flows(&schema, &batches, props);
    let got = read_strings(read(&file).column(0));
    assert_rows_eq("n", &got, &rows);
    let meta = metadata(&file);
    assert_eq!(meta.num_row_groups(), 1);
    let chunk = check_pqdict_chunk(&file, &meta, 0, 0, &rows, 50, DictionaryUse::Whole);
    let distinct_inputs: HashSet<&str> = all.iter().copied().collect();
    assert_eq!(chunk.dictionary.unwrap().len(), distinct_inputs.len(), "one entry per value");
}

/// Enough distinct values (short and long) to grow the interning table many times.
#[test]
fn many_distinct_values() {
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let props = base_properties()
        .set_data_page_row_count_limit(1000)
        .set_max_row_group_row_count(Some(60_000))
        .set_dictionary_page_size_limit(16 << 20)
        .build();
    let mut rng = Rng::new(4);
    let rows = 60_000;
    let values: Vec<Option<String>> = (0..rows)
        .map(|k| {
            let id = rng.below(25_000);
            Some(match id % 4 {
                0 => format!("{id}"),
                1 => format!("192.168.{}.{}", id / 256 % 256, id % 256),
                2 => format!("{:0>17}", id),
                _ => format!("{}-{id}-{}", "long".repeat(10), k % 2),
            })
        })
        .collect();
    let cols = [Col::Str(values)];
    let batches = batches(&schema, &cols, &mut rng);
    let file = write_flows(&schema, &batches, props);
    assert_reads_back(&file, &schema, &cols);
    let meta = metadata(&file);
    let chunk = check_pqdict_chunk(&file, &meta, 0, 0, cols[0].strings(), 1000, DictionaryUse::Whole);
    assert!(chunk.dictionary.unwrap().len() > 20_000);
    let (min, max, nulls) = expected_statistics(cols[0].strings());
    assert_eq!(chunk_statistics(meta.row_group(0).column(0)), (min, max, Some(nulls)));
}

/// A run of equal values becomes RLE runs of ids: a page of one value is a few bytes.
#[test]
fn pages_of_one_value_are_rle_runs() {
    let schema =
        Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false), Field::new("n", DataType::Utf8, true)]));
    let props = base_properties().set_compression(Compression::UNCOMPRESSED).build();
    let mut rows_s: Vec<Option<String>> = Vec::new();
    let mut rows_n: Vec<Option<String>> = Vec::new();
    for (k, v) in ["10.0.0.1", "a much longer value than sixteen bytes"].iter().enumerate() {
        rows_s.extend(std::iter::repeat_n(Some(v.to_string()), 1000));
        rows_n.extend((0..1000).map(|r| (r % 200 < 100).then(|| v.to_string())));
        // Another value in row group 1, so ids need 1 bit there.
        if k == 1 {
            rows_s[1500] = Some("x".into());
        }
    }
    let cols = [Col::Str(rows_s), Col::Str(rows_n)];
    let batch_rows: Vec<RecordBatch> = batches(&schema, &cols, &mut Rng::new(5));
    let file = write_flows(&schema, &batch_rows, props);
    assert_reads_back(&file, &schema, &cols);
    let meta = metadata(&file);
    for rg in 0..2 {
        let range = rg * 1000..(rg + 1) * 1000;
        let s = check_pqdict_chunk(&file, &meta, rg, 0, &cols[0].strings()[range.clone()], 100, DictionaryUse::Whole);
        for (p, page) in s.pages.iter().enumerate() {
            // Width byte, a 2-byte run header, a 1-byte id; the page with "x" a little more.
            let limit = if rg == 1 && p == 5 { 12 } else { 4 };
            assert!(page.size <= limit, "row group {rg} s page {p}: {} bytes, runs {:?}", page.size, page.id_runs);
        }
        let n = check_pqdict_chunk(&file, &meta, rg, 1, &cols[1].strings()[range], 100, DictionaryUse::Whole);
        // Uncompressed: the chunk's two sizes are its length in the file.
        for col in 0..2 {
            let column = meta.row_group(rg).column(col);
            assert_eq!(column.compressed_size(), column.uncompressed_size(), "row group {rg} column {col}");
            assert_eq!(column.byte_range().1, column.compressed_size() as u64);
        }
        for (p, page) in n.pages.iter().enumerate() {
            // Definition levels (4-byte length, one RLE run) and, on pages with values, ids.
            let limit = if p % 2 == 0 { 4 + 3 + 4 } else { 4 + 3 + 1 };
            assert!(page.size <= limit, "row group {rg} n page {p}: {} bytes", page.size);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dictionary fallback
// ---------------------------------------------------------------------------------------------

/// A dictionary over its page size limit is frozen; the rest of the chunk is PLAIN, and the
/// chunk statistics still cover values written after the freeze.
#[test]
fn dictionary_overflow_falls_back_to_plain() {
    let schema =
        Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false), Field::new("n", DataType::Utf8, true)]));
    let limit = 2000;
    let props = base_properties()
        .set_column_dictionary_page_size_limit(ColumnPath::from("s"), limit)
        .set_column_dictionary_page_size_limit(ColumnPath::from("n"), limit)
        .build();
    let mut rng = Rng::new(6);
    let rows = 2_500;
    let mut s: Vec<Option<String>> = Vec::new();
    let mut n: Vec<Option<String>> = Vec::new();
    for r in 0..rows {
        let group = r % 1000;
        // Distinct 5-byte values first (9 bytes each in the dictionary: over 2000 in the third
        // page), then a mix of them, new values, and long values.
        let v = if group < 400 {
            format!("m{:04}", group)
        } else {
            match rng.below(4) {
                0 => format!("m{:04}", rng.below(400)),
                1 => format!("n{:04}", rng.below(3000)),
                2 => format!("m{:04}{}", rng.below(400), "tail".repeat(rng.below(20))),
                _ => value(&mut rng),
            }
        };
        s.push(Some(v.clone()));
        n.push((rng.below(5) != 0).then_some(v));
    }
    // The smallest and largest values of row group 0 come after the freeze ("" only in s).
    for v in n[..1000].iter_mut().flatten().filter(|v| v.is_empty()) {
        *v = "x".into();
    }
    s[777] = Some(String::new());
    n[778] = Some("\0".into());
    s[901] = Some("\u{10FFFF}zz".into());
    n[902] = Some("\u{10FFFF}zzz".into());
    // A page of nulls after the freeze.
    n[600..700].fill(None);
    let cols = [Col::Str(s), Col::Str(n)];
    let batches = batches(&schema, &cols, &mut rng);
    let file = write_flows(&schema, &batches, props);
    assert_reads_back(&file, &schema, &cols);

    let meta = metadata(&file);
    for (rg, range) in row_groups(&meta, rows, 1000).into_iter().enumerate() {
        for (col, data) in cols.iter().enumerate() {
            let want = &data.strings()[range.clone()];
            let what = format!("row group {rg} column {col}");
            let chunk = check_pqdict_chunk(&file, &meta, rg, col, want, 100, DictionaryUse::MaybeFrozen);
            let encodings = chunk.encodings();
            let dict_pages = encodings.iter().take_while(|&&e| e == Encoding::RLE_DICTIONARY).count();
            assert!(dict_pages >= 1, "{what}: starts with dictionary pages: {encodings:?}");
            if range.len() == 1000 {
                assert!(dict_pages < encodings.len(), "{what}: no PLAIN pages: {encodings:?}");
            }
            assert!(encodings[dict_pages..].iter().all(|&e| e == Encoding::PLAIN), "{what}: {encodings:?}");
            // The dictionary stopped growing within a page of passing its limit.
            let dict = chunk.dictionary.as_ref().unwrap();
            let dict_bytes: usize = dict.iter().map(|v| 4 + v.len()).sum();
            if range.len() == 1000 {
                assert!(dict_bytes > limit, "{what}: dictionary of {dict_bytes} bytes frozen early");
                assert!(dict_bytes <= limit + 100 * 9, "{what}: dictionary of {dict_bytes} bytes");
                assert!(dict.len() < distinct(&as_bytes(want)).len(), "{what}: every value in the dictionary");
            }
            // Dictionary pages' values are all in the dictionary in first-seen order.
            let dict_values: Vec<Option<Vec<u8>>> =
                chunk.pages[..dict_pages].iter().flat_map(|p| p.values.iter().cloned()).collect();
            let first_seen = distinct(&dict_values);
            assert!(dict[..first_seen.len()] == first_seen[..], "{what}: dictionary order");
            let column = meta.row_group(rg).column(col);
            let encodings: Vec<Encoding> = column.encodings().collect();
            assert!(encodings.contains(&Encoding::RLE_DICTIONARY) && encodings.contains(&Encoding::PLAIN));
            let (min, max, nulls) = expected_statistics(want);
            assert_eq!(chunk_statistics(column), (min, max, Some(nulls)), "{what}: statistics");
        }
    }
    let rg0 = meta.row_group(0);
    assert_eq!(chunk_statistics(rg0.column(0)).0.unwrap(), b"");
    assert_eq!(chunk_statistics(rg0.column(1)).0.unwrap(), b"\0");
    assert_eq!(chunk_statistics(rg0.column(0)).1.unwrap(), "\u{10FFFF}zz".as_bytes());
    assert_eq!(chunk_statistics(rg0.column(1)).1.unwrap(), "\u{10FFFF}zzz".as_bytes());
}

/// After the freeze, PLAIN pages end once they pass the data page byte limit.
#[test]
fn plain_pages_stop_near_byte_limit() {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, true)]));
    let page_bytes = 4096;
    let props = base_properties()
        .set_data_page_row_count_limit(20_000)
        .set_max_row_group_row_count(Some(20_000))
        .set_column_dictionary_page_size_limit(ColumnPath::from("n"), 100)
        .set_column_data_page_size_limit(ColumnPath::from("n"), page_bytes)
        .build();
    let mut rng = Rng::new(7);
    let mut rows: Vec<Option<String>> = nullable_values(&mut rng, 10_000);
    for (i, row) in rows[..60].iter_mut().enumerate() {
        *row = Some(format!("first{i}"));
    }
    let longest = rows.iter().flatten().map(String::len).max().unwrap();
    let cols = [Col::Str(rows)];
    // A first small batch fills the dictionary; the rest goes PLAIN.
    let batches = vec![
        RecordBatch::try_new(schema.clone(), vec![cols[0].array(0..60, 0, 0, false, &mut rng)]).unwrap(),
        RecordBatch::try_new(schema.clone(), vec![cols[0].array(60..10_000, 3, 3, true, &mut rng)]).unwrap(),
    ];
    let file = write_flows(&schema, &batches, props);
    assert_reads_back(&file, &schema, &cols);
    let meta = metadata(&file);
    let chunk = check_pqdict_chunk(&file, &meta, 0, 0, cols[0].strings(), 20_000, DictionaryUse::MaybeFrozen);
    let plain: Vec<&DataPageInfo> = chunk.pages.iter().filter(|p| p.encoding == Encoding::PLAIN).collect();
    assert_eq!(chunk.pages[0].encoding, Encoding::RLE_DICTIONARY);
    assert!(plain.len() >= 5, "{} PLAIN pages", plain.len());
    for (i, page) in plain.iter().enumerate() {
        assert!(page.plain_bytes < page_bytes + 1024 * (4 + longest), "PLAIN page {i}: {} bytes", page.plain_bytes);
        if i + 1 < plain.len() {
            assert!(page.plain_bytes >= page_bytes, "PLAIN page {i} ended early: {} bytes", page.plain_bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nulls
// ---------------------------------------------------------------------------------------------

/// A chunk of nulls only has no dictionary page; a chunk whose first pages are null starts with
/// PLAIN pages of no values.
#[test]
fn all_null_chunks() {
    let schema =
        Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, true), Field::new("e", DataType::Utf8, true)]));
    let props = base_properties().set_max_row_group_row_count(Some(500)).build();
    let mut rng = Rng::new(8);
    let mut n = nullable_values(&mut rng, 1500);
    n[500..1000].fill(None); // row group 1: nulls only
    n[1000..1250].fill(None); // row group 2: 250 nulls, then values
    n[1260] = Some("a".into());
    n[1300] = Some("b".into());
    // Row group 0 of e: empty strings only; 1: nulls only; 2: one empty string.
    let e: Vec<Option<String>> = (0..1500).map(|r| (r < 500 || r == 1499).then(String::new)).collect();
    let cols = [Col::Str(n), Col::Str(e)];
    let batches = batches(&schema, &cols, &mut rng);
    let file = write_flows(&schema, &batches, props);
    assert_reads_back(&file, &schema, &cols);

    let meta = metadata(&file);
    for (rg, range) in row_groups(&meta, 1500, 500).into_iter().enumerate() {
        for (col, data) in cols.iter().enumerate() {
            let what = format!("row group {rg} column {col}");
            let want = &data.strings()[range.clone()];
            let chunk = check_pqdict_chunk(&file, &meta, rg, col, want, 100, DictionaryUse::Whole);
            let column = meta.row_group(rg).column(col);
            let (min, max, nulls) = expected_statistics(want);
            assert_eq!(chunk_statistics(column), (min, max, Some(nulls)), "{what}: statistics");
            if rg == 1 {
                assert_eq!(column.dictionary_page_offset(), None, "{what}: a dictionary page");
                assert!(chunk.dictionary.is_none());
                assert!(chunk.encodings().iter().all(|&e| e == Encoding::PLAIN), "{what}");
                assert!(!column.encodings().any(|e| e == Encoding::RLE_DICTIONARY), "{what}");
                assert_eq!(chunk_statistics(column), (None, None, Some(500)));
            }
        }
    }
    let rg2 = decode_chunk(&file, 2, 0);
    assert_eq!(rg2.encodings()[..2], [Encoding::PLAIN, Encoding::PLAIN]);
    assert!(rg2.encodings()[2..].iter().all(|&e| e == Encoding::RLE_DICTIONARY));
    let empty = decode_chunk(&file, 0, 1);
    assert_eq!(empty.dictionary, Some(vec![Vec::new()]));
    assert_eq!(chunk_statistics(meta.row_group(0).column(1)), (Some(vec![]), Some(vec![]), Some(0)));
}

/// A null in a non-nullable column is an error, not a panic or a silently wrong file; a slice
/// that leaves the null out is fine.
#[test]
fn null_in_non_nullable_column_is_an_error() {
    let required = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let optional = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
    let props = base_properties().build();
    let with_null = StringArray::from(vec![None, Some("a"), Some("b"), None, Some("c")]);

    // The batch's own schema allows nulls; the writer's does not.
    let mut out = Vec::new();
    let mut writer = FlowsWriter::with_properties(&mut out, required.clone(), props.clone()).unwrap();
    let batch = RecordBatch::try_new(optional.clone(), vec![Arc::new(with_null.clone())]).unwrap();
    let result = writer.write(&batch).and_then(|()| writer.close());
    assert!(result.is_err(), "a null written to a non-nullable column");

    // A slice without the nulls is written.
    let mut out = Vec::new();
    let mut writer = FlowsWriter::with_properties(&mut out, required.clone(), props.clone()).unwrap();
    let batch = RecordBatch::try_new(optional.clone(), vec![Arc::new(with_null.slice(1, 2))]).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let got = read_strings(read(&Bytes::from(out)).column(0));
    assert_eq!(got, [Some("a".to_string()), Some("b".to_string())]);

    // DictColumnWriter directly: an error naming the column.
    let descr = ArrowSchemaConverter::new().convert(&required).unwrap().column(0);
    assert!(DictColumnWriter::handles(&props, required.field(0), &descr));
    let mut writer = DictColumnWriter::new(descr.clone(), &props).unwrap();
    let err = writer.write(&with_null.slice(2, 3)).unwrap_err();
    assert!(err.to_string().contains("nullable"), "{err}");
    let mut writer = DictColumnWriter::new(descr, &props).unwrap();
    writer.write(&with_null.slice(1, 2)).unwrap();
    assert_eq!(writer.close().unwrap().1.rows_written, 2);
}

/// The bytes under a null slot (which arrow allows) are not a value: not in the dictionary,
/// the PLAIN pages or the statistics.
#[test]
fn bytes_under_nulls_are_not_values() {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, true)]));
    // A tiny dictionary limit: the second batch goes PLAIN.
    let props = base_properties().set_column_dictionary_page_size_limit(ColumnPath::from("n"), 1).build();
    let junk = || {
        let offsets = OffsetBuffer::new(ScalarBuffer::from(vec![0i32, 4, 8, 9, 13, 13]));
        let values = Buffer::from(b"JUNKjunkb~~~~".as_slice());
        let nulls = NullBuffer::from(vec![false, false, true, false, true]);
        Arc::new(StringArray::new(offsets, values, Some(nulls))) as ArrayRef
    };
    let batches = [
        RecordBatch::try_new(schema.clone(), vec![junk()]).unwrap(),
        RecordBatch::try_new(schema.clone(), vec![junk()]).unwrap(),
        RecordBatch::try_new(schema.clone(), vec![junk().slice(1, 3)]).unwrap(),
    ];
    let file = write_flows(&schema, &batches, props);
    let want: Vec<Option<String>> =
        [None, None, Some("b"), None, Some(""), None, None, Some("b"), None, Some(""), None, Some("b"), None]
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect();
    assert_rows_eq("n", &read_strings(read(&file).column(0)), &want);
    let meta = metadata(&file);
    let chunk = check_pqdict_chunk(&file, &meta, 0, 0, &want, 100, DictionaryUse::MaybeFrozen);
    assert_eq!(chunk.dictionary, Some(vec![b"b".to_vec(), Vec::new()]));
    assert_eq!(chunk.encodings(), [Encoding::RLE_DICTIONARY, Encoding::PLAIN]);
    assert_eq!(chunk_statistics(meta.row_group(0).column(0)), (Some(vec![]), Some(b"b".to_vec()), Some(8)));
}

/// Two writers given the same batches write the same bytes (dictionary ids follow first
/// appearance, whatever the interning table's seed), with columns encoded in parallel.
#[test]
fn output_is_deterministic() {
    let schema = mixed_schema();
    let mut rng = Rng::new(12);
    let cols = mixed_columns(&mut rng, 4_321);
    let batches = batches(&schema, &cols, &mut rng);
    let first = write_flows(&schema, &batches, mixed_properties());
    for _ in 0..3 {
        assert!(write_flows(&schema, &batches, mixed_properties()) == first, "another writer wrote other bytes");
    }
}

/// `flush` ends the row group: each chunk has a dictionary of its own rows only.
#[test]
fn flush_ends_row_group() {
    let schema =
        Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false), Field::new("n", DataType::Utf8, true)]));
    let mut rng = Rng::new(13);
    let cols = [Col::Str(values(&mut rng, 600)), Col::Str(nullable_values(&mut rng, 600))];
    let batch = |range: Range<usize>, rng: &mut Rng| {
        let arrays = cols.iter().map(|c| c.array(range.clone(), 2, 2, true, rng)).collect();
        RecordBatch::try_new(schema.clone(), arrays).unwrap()
    };
    let mut out = Vec::new();
    let mut writer = FlowsWriter::with_properties(&mut out, schema.clone(), base_properties().build()).unwrap();
    writer.flush().unwrap();
    writer.write(&batch(0..150, &mut rng)).unwrap();
    assert_eq!(writer.in_progress_rows(), 150);
    writer.flush().unwrap();
    assert_eq!(writer.in_progress_rows(), 0);
    writer.flush().unwrap();
    writer.write(&batch(150..170, &mut rng)).unwrap();
    writer.write(&batch(170..600, &mut rng)).unwrap();
    assert_eq!(writer.in_progress_rows(), 450);
    writer.close().unwrap();
    let file = Bytes::from(out);
    assert_reads_back(&file, &schema, &cols);
    let meta = metadata(&file);
    let groups: Vec<i64> = meta.row_groups().iter().map(|rg| rg.num_rows()).collect();
    assert_eq!(groups, [150, 450]);
    for (rg, range) in [0..150, 150..600].into_iter().enumerate() {
        for (col, data) in cols.iter().enumerate() {
            check_pqdict_chunk(&file, &meta, rg, col, &data.strings()[range.clone()], 100, DictionaryUse::Whole);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

/// A min or max longer than the statistics truncate length leaves min and max out (the null
/// count stays); one of exactly that length, or a long value in between, does not.
#[test]
fn statistics_past_truncate_length_are_left_out() {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, true)]));
    let props = base_properties().set_max_row_group_row_count(Some(4)).set_statistics_truncate_length(Some(8)).build();
    let groups: [[Option<&str>; 4]; 5] = [
        // Exactly 8 bytes at both ends: kept.
        [Some("bbbbbbbb"), None, Some("cccccccc"), Some("bc")],
        // The max is 9 bytes.
        [Some("b"), Some("ccccccccc"), None, None],
        // The min is 9 bytes.
        [Some("aaaaaaaaa"), Some("b"), Some("c"), None],
        // A long value between short ends: kept.
        [Some("a"), Some("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), Some("c"), None],
        // Multi-byte: 4 chars, 8 bytes, kept; 9 bytes in 3 chars would not be.
        [Some("éééé"), Some("éé"), None, None],
    ];
    let batches: Vec<RecordBatch> = groups.iter().map(|g| string_batch(&schema, g)).collect();
    let file = write_flows(&schema, &batches, props);
    let meta = metadata(&file);
    assert_eq!(meta.num_row_groups(), 5);
    let expect: [(Option<&str>, Option<&str>, u64); 5] = [
        (Some("bbbbbbbb"), Some("cccccccc"), 1),
        (None, None, 2),
        (None, None, 1),
        (Some("a"), Some("c"), 1),
        (Some("éé"), Some("éééé"), 2),
    ];
    for (rg, (min, max, nulls)) in expect.into_iter().enumerate() {
        let want = (min.map(|v| v.as_bytes().to_vec()), max.map(|v| v.as_bytes().to_vec()), Some(nulls));
        assert_eq!(chunk_statistics(meta.row_group(rg).column(0)), want, "row group {rg}");
    }
    let want: Vec<Option<String>> = groups.iter().flatten().map(|v| v.map(str::to_owned)).collect();
    assert_rows_eq("n", &read_strings(read(&file).column(0)), &want);
}

// ---------------------------------------------------------------------------------------------
// Which columns pqdict takes, and the writer used directly
// ---------------------------------------------------------------------------------------------

#[test]
fn handles_only_plain_dictionary_string_columns() {
    let schema = Schema::new(vec![
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Int64, true),
        Field::new("c", DataType::Utf8, false),
    ]);
    let descr = ArrowSchemaConverter::new().convert(&schema).unwrap();
    let column = |i: usize| (schema.field(i), descr.column(i));
    let path = || ColumnPath::from("a");
    let handles = |props: WriterProperties| DictColumnWriter::handles(&props, column(0).0, &column(0).1);
    let props = base_properties().build();

    assert!(handles(base_properties().build()));
    assert!(handles(base_properties().set_compression(Compression::UNCOMPRESSED).build()));
    assert!(handles(base_properties().set_column_statistics_enabled(path(), EnabledStatistics::None).build()));
    assert!(DictColumnWriter::handles(&props, column(2).0, &column(2).1));
    assert!(!DictColumnWriter::handles(&props, column(1).0, &column(1).1), "an Int64 column");
    // Other Arrow types stored as BYTE_ARRAY are arrow-rs's.
    for data_type in [
        DataType::Binary,
        DataType::LargeUtf8,
        DataType::Utf8View,
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
    ] {
        let schema = Schema::new(vec![Field::new("a", data_type.clone(), true)]);
        let descr = ArrowSchemaConverter::new().convert(&schema).unwrap().column(0);
        assert_eq!(descr.physical_type(), parquet::basic::Type::BYTE_ARRAY);
        assert!(!DictColumnWriter::handles(&props, schema.field(0), &descr), "{data_type}");
    }
    assert!(!handles(base_properties().set_column_dictionary_enabled(path(), false).build()), "no dictionary");
    assert!(!handles(base_properties().set_column_statistics_enabled(path(), EnabledStatistics::Page).build()));
    assert!(!handles(base_properties().set_column_bloom_filter_enabled(path(), true).build()), "a bloom filter");
    assert!(!handles(base_properties().set_column_compression(path(), Compression::SNAPPY).build()), "snappy");
    // Settings of other columns do not matter.
    let other = ColumnPath::from("c");
    assert!(handles(base_properties().set_column_dictionary_enabled(other.clone(), false).build()));
    assert!(handles(base_properties().set_column_bloom_filter_enabled(other, true).build()));
}

/// DictColumnWriter on its own: several writes (slices among them) make one chunk whose close
/// result describes it.
#[test]
fn dict_column_writer_close_result() {
    let schema = Schema::new(vec![Field::new("n", DataType::Utf8, true)]);
    let descr = ArrowSchemaConverter::new().convert(&schema).unwrap().column(0);
    let props = base_properties().set_data_page_row_count_limit(64).build();
    let mut rng = Rng::new(9);
    let values = nullable_values(&mut rng, 1000);
    let mut writer = DictColumnWriter::new(descr, &props).unwrap();
    let mut at = 0;
    for (k, len) in [0, 1, 63, 64, 65, 200, 607].into_iter().enumerate() {
        let rows = &values[at..at + len];
        if k % 2 == 0 {
            writer.write(&StringArray::from(rows.to_vec())).unwrap();
        } else {
            // A slice of a larger array (the padding is not written).
            let pad = Some("~pad".to_string());
            let padded: Vec<Option<String>> =
                std::iter::once(pad.clone()).chain(rows.iter().cloned()).chain(std::iter::once(pad)).collect();
            writer.write(&StringArray::from(padded).slice(1, len)).unwrap();
        }
        at += len;
    }
    assert_eq!(at, 1000);
    let (bytes, close) = writer.close().unwrap();
    assert_eq!(close.rows_written, 1000);
    assert_eq!(close.bytes_written, bytes.len() as u64);
    let metadata = &close.metadata;
    assert_eq!(metadata.num_values(), 1000);
    assert_eq!(metadata.compressed_size(), bytes.len() as i64);
    assert_eq!(metadata.dictionary_page_offset(), Some(0));
    assert!(metadata.data_page_offset() > 0);
    let (min, max, nulls) = expected_statistics(&values);
    assert_eq!(chunk_statistics(metadata), (min, max, Some(nulls)));
    let locations = &close.offset_index.as_ref().unwrap().page_locations;
    assert_eq!(locations.len(), 1000usize.div_ceil(64));
    for (k, loc) in locations.iter().enumerate() {
        assert_eq!(loc.first_row_index, 64 * k as i64);
    }
    assert_eq!(locations[0].offset, metadata.data_page_offset());
    let last = locations.last().unwrap();
    assert_eq!(last.offset + last.compressed_page_size as i64, bytes.len() as i64);
}

/// A column's own page row limit (`set_column_data_page_row_count_limit`, which arrow-rs
/// reads) bounds pqdict's pages too.
#[test]
fn column_page_row_count_limit_is_honoured() {
    let schema =
        Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, true), Field::new("m", DataType::Utf8, true)]));
    let props = base_properties()
        .set_data_page_row_count_limit(100)
        .set_column_data_page_row_count_limit(ColumnPath::from("n"), 10)
        .build();
    let mut rng = Rng::new(10);
    let data = nullable_values(&mut rng, 1000);
    let cols = [Col::Str(data.clone()), Col::Str(data)];
    let batches = batches(&schema, &cols, &mut rng);
    let file = write_flows(&schema, &batches, props);
    assert_reads_back(&file, &schema, &cols);
    let meta = metadata(&file);
    let n = check_pqdict_chunk(&file, &meta, 0, 0, cols[0].strings(), 10, DictionaryUse::Whole);
    assert_eq!(n.pages.len(), 100);
    // The other column keeps the file-wide limit.
    let m = check_pqdict_chunk(&file, &meta, 0, 1, cols[1].strings(), 100, DictionaryUse::Whole);
    assert_eq!(m.pages.len(), 10);
}

/// Byte array columns other than Utf8 (Binary, LargeUtf8, Utf8View, dictionaries) are written
/// by FlowsWriter as by ArrowWriter.
#[test]
fn other_byte_array_columns_are_written() {
    let props = base_properties().build();
    let values = [Some("a"), None, Some("bb"), Some("a")];
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(BinaryArray::from(values.iter().map(|v| v.map(str::as_bytes)).collect::<Vec<_>>())),
        Arc::new(LargeStringArray::from(values.to_vec())),
        Arc::new(StringViewArray::from(values.to_vec())),
        Arc::new(values.iter().copied().collect::<DictionaryArray<Int32Type>>()),
    ];
    let mut failures = Vec::new();
    for array in arrays {
        let schema = Arc::new(Schema::new(vec![Field::new("v", array.data_type().clone(), true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![array.clone()]).unwrap();
        let mut out = Vec::new();
        let result = FlowsWriter::with_properties(&mut out, schema.clone(), props.clone())
            .and_then(|mut w| w.write(&batch).and_then(|()| w.close()));
        match result {
            Ok(()) => {
                let got = read(&Bytes::from(out));
                let want = read(&write_arrow(&schema, std::slice::from_ref(&batch), props.clone()));
                if got != want {
                    failures.push(format!("{}: reads back differently", array.data_type()));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", array.data_type())),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// rle_hybrid
// ---------------------------------------------------------------------------------------------

/// Encodes `values` after a prefix, checks that the prefix is kept, that the output decodes to
/// `values` using all of it, and the encoder's documented choices: RLE runs of 8 or more
/// values (or the last values), bit-packed runs of at most 63 groups, runs of 15 or more equal
/// values RLE-encoded but for at most 7 of them.
fn check_rle_hybrid<T: Copy + PartialEq + Into<u32> + Debug>(values: &[T], width: u8) -> Vec<u8> {
    let prefix = [0xAB, 0xCD];
    let mut out = prefix.to_vec();
    rle_hybrid(values, width, &mut out);
    assert_eq!(out[..2], prefix, "the output's prefix was changed");
    let encoded = &out[2..];
    let want: Vec<u64> = values.iter().map(|&v| u64::from(v.into())).collect();
    let decoded = decode_hybrid(encoded, width, want.len())
        .unwrap_or_else(|e| panic!("width {width}, {} values: {e}; {values:?}", values.len()));
    assert!(decoded.values == want, "width {width}: decoded {:?}, want {want:?}", decoded.values);
    assert_eq!(decoded.used, encoded.len(), "width {width}: trailing bytes after {} values", values.len());
    let mut at = 0;
    for run in &decoded.runs {
        match *run {
            Run::Rle(n) => {
                assert!(n >= 8 || at + n == values.len(), "width {width}: RLE run of {n} at {at}: {values:?}");
                at += n;
            }
            Run::Packed(groups) => {
                assert!(groups <= 63, "width {width}: {groups} groups under one header");
                at += groups * 8;
            }
        }
    }
    let mut start = 0;
    while start < values.len() {
        let len = values[start..].iter().take_while(|&&v| v == values[start]).count();
        if len >= 15 {
            let packed = decoded.from_rle[start..start + len].iter().filter(|&&r| !r).count();
            assert!(packed <= 7, "width {width}: {packed} of a run of {len} at {start} bit-packed");
        }
        start += len;
    }
    out.split_off(2)
}

#[test]
fn rle_hybrid_round_trips() {
    let mut rng = Rng::new(11);
    for width in 1..=32u8 {
        let max = if width == 32 { u32::MAX as u64 } else { (1u64 << width) - 1 };
        let random = |rng: &mut Rng, distinct: u64| rng.next() % (distinct.min(max) + 1);
        // Every length up to 40, random values, few and many distinct.
        for len in 0..=40 {
            for distinct in [1, 2, 3, u64::MAX] {
                let values: Vec<u32> = (0..len).map(|_| random(&mut rng, distinct) as u32).collect();
                check_rle_hybrid(&values, width);
            }
        }
        // Runs of 7, 8 and 9 equal values, at assorted positions.
        for run in [7, 8, 9, 15, 16, 17] {
            for before in [0, 1, 5, 8, 9] {
                for after in [0, 1, 7, 8] {
                    let mut values: Vec<u32> = (0..before).map(|i| (i % 2) as u32).collect();
                    values.extend(std::iter::repeat_n(max as u32, run));
                    values.extend((0..after).map(|i| (i % 2) as u32));
                    check_rle_hybrid(&values, width);
                }
            }
        }
        // Long and mixed: runs of random lengths, stretches of random values, the largest value.
        for _ in 0..5 {
            let mut values: Vec<u32> = Vec::new();
            while values.len() < 3000 {
                match rng.below(3) {
                    0 => values.extend(std::iter::repeat_n(random(&mut rng, u64::MAX) as u32, 1 + rng.below(100))),
                    1 => values.extend((0..rng.below(700)).map(|_| random(&mut rng, u64::MAX) as u32)),
                    _ => values.push(max as u32),
                }
            }
            check_rle_hybrid(&values, width);
        }
        // Over 63 groups of values with no run: split into several bit-packed runs.
        let values: Vec<u32> = (0..1000).map(|i| (i % 2) as u32 * max as u32).collect();
        let encoded = check_rle_hybrid(&values, width);
        assert!(encoded.len() <= 1000 * width as usize / 8 + 20, "width {width}: {} bytes", encoded.len());
    }
    // Narrow types, as the definition levels use.
    for len in 0..=40 {
        let levels: Vec<u8> = (0..len).map(|_| rng.below(2) as u8).collect();
        check_rle_hybrid(&levels, 1);
        let small: Vec<u16> = (0..len).map(|_| rng.below(1000) as u16).collect();
        check_rle_hybrid(&small, 10);
    }
}

#[test]
fn rle_hybrid_long_run_is_a_few_bytes() {
    for width in 1..=32u8 {
        let v = if width == 32 { u32::MAX } else { (1u32 << width) - 1 };
        let encoded = check_rle_hybrid(&vec![v; 1000], width);
        // A 2-byte varint header (1000 << 1) and the value.
        assert_eq!(encoded.len(), 2 + (width as usize).div_ceil(8), "width {width}: {encoded:?}");
        // A run after a few other values.
        let mut values = vec![0u32, 1, 0];
        values.extend(vec![v; 1000]);
        let encoded = check_rle_hybrid(&values, width);
        assert!(encoded.len() <= 1 + width as usize + 2 + 4, "width {width}: {} bytes", encoded.len());
    }
    let levels = vec![1u8; 100_000];
    assert_eq!(check_rle_hybrid(&levels, 1), [0xC0, 0x9A, 0x0C, 0x01]);
}

/// `rle_hybrid` takes widths of at most 32 bits (dictionary ids and levels), and says so rather
/// than writing a wrong encoding.
#[test]
#[should_panic(expected = "at most 32 bits")]
fn rle_hybrid_rejects_widths_over_32() {
    let values: Vec<u32> = (0..20).map(|i| i * 7).collect();
    rle_hybrid(&values, 33, &mut Vec::new());
}
