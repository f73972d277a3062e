//! Flow inputs → Arrow batches. Each text format is one file here; they share the field parsers
//! (`fields.rs`), the alias table (`columns.rs`) and the delimited-line machinery
//! (`delimited.rs`). A text format is detected from an input's first lines and yields a
//! [`LineParser`]; [`parse_block`] drives it over a block of lines on a worker thread. Binary
//! archives (`nfcapd/`, `silk/`) are detected by their magic bytes and yield a
//! [`records::RecordFormat`], whose blocks workers decode the same way (see `records.rs`);
//! [`detect_input`] returns either, as a [`Decoder`].

pub mod argus;
pub mod batch;
pub mod bidir;
pub mod binetflow;
pub mod columns;
pub mod csv;
pub mod delimited;
pub mod fields;
pub mod nfcapd;
pub mod nfdump;
pub mod records;
pub mod rwcut;
pub mod silk;
pub mod source;
pub mod table;
pub mod zeek;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use self::batch::BatchBuilder;
use self::delimited::{Delimited, Scratch};
use self::fields::TimeContext;
use self::source::MAX_LINE;

/// What one line turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Flow rows appended (a bidirectional record gives two).
    Rows(usize),
    /// Not a flow and not an error: a repeated header, a comment or summary line.
    Skipped,
}

/// Why a line was refused: the input column and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub column: String,
    pub reason: String,
}

/// A parser for one detected input layout. Implementations must append either every row of a
/// line or none (parse everything first, then push).
pub trait LineParser: Send + Sync {
    /// Short name of the format (`rwcut`, `table`, `csv`, …), for messages.
    fn format(&self) -> &'static str;
    /// Names of the extra (non-core) columns this input carries, in output order.
    fn extras(&self) -> &[String];
    /// Parses one line (without its line ending).
    fn parse_line(&self, line: &[u8], out: &mut BatchBuilder, scratch: &mut Scratch) -> Result<Outcome, FieldError>;
}

/// The formats `--format` can force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Detect from the first lines.
    Auto,
    /// SiLK rwcut (`|`-separated, padded, title line).
    Rwcut,
    /// Whitespace table with a header (the SEI seed's tables).
    Table,
    /// CSV with a header.
    Csv,
    /// Tab-separated with a header.
    Tsv,
    /// nfdump `-o csv` (1.6–1.7.4 with its Summary, 1.7.5+ element names) and `-o csv-fast`.
    Nfdump,
    /// Argus `ra -c ,` or `ra -c '\t'` with its header line.
    Argus,
    /// CTU-13 / Stratosphere `.binetflow` (Argus records with a Label column).
    Binetflow,
    /// Zeek conn.log, TSV with its `#` header lines or JSON lines.
    Zeek,
    /// nfdump's binary nfcapd files (layout 1: nfdump 1.6; layout 2: 1.7), recognized by their magic bytes.
    Nfcapd,
    /// SiLK's binary rw files (repository hours, rwfilter/rwcat output), magic 0xDEADBEEF.
    Silk,
}

/// How inputs are to be read, from the command line.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: Format,
    /// `--columns`: names for the input's columns, overriding a header.
    pub columns: Option<Vec<String>>,
    /// `--delimiter`: the column separator, overriding detection.
    pub delimiter: Option<u8>,
    pub time: TimeContext,
    /// `--silk-conf`: the `silk.conf` naming SiLK sensors and flow types (else searched for,
    /// see `silk::SilkConf::find`).
    pub silk_conf: Option<std::path::PathBuf>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: Format::Auto,
            columns: None,
            delimiter: None,
            time: TimeContext::default(),
            silk_conf: None,
        }
    }
}

/// The first line that is not blank, without its line ending.
pub fn first_line(head: &[u8]) -> Option<&[u8]> {
    head.split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !delimited::trim_bytes(l).is_empty())
}

/// How one input's bytes become rows: lines of text, or blocks of binary records.
#[derive(Clone)]
pub enum Decoder {
    Lines(Arc<dyn LineParser>),
    Records(Arc<dyn records::RecordFormat>),
}

impl Decoder {
    pub fn format(&self) -> &'static str {
        match self {
            Decoder::Lines(p) => p.format(),
            Decoder::Records(r) => r.format(),
        }
    }
    pub fn extras(&self) -> &[String] {
        match self {
            Decoder::Lines(p) => p.extras(),
            Decoder::Records(r) => r.extras(),
        }
    }
}

/// Detects the format of an input from its first bytes: a binary archive by its magic bytes,
/// else text by its first lines ([`detect`]). `path` is the input's file (`None` for stdin), where
/// a SiLK file's `silk.conf` is looked for. `Ok(None)` for an empty input.
pub fn detect_input(
    head: &[u8],
    opts: &ReadOptions,
    path: Option<&std::path::Path>,
) -> Result<Option<Decoder>, String> {
    let magic = |want: &str| match head.get(..4) {
        None => format!("too short for {want} (it holds {} bytes)", head.len()),
        Some(m) => format!("not {want}: it starts {:02x} {:02x} {:02x} {:02x}", m[0], m[1], m[2], m[3]),
    };
    if opts.columns.is_none() {
        if matches!(opts.format, Format::Auto | Format::Nfcapd) {
            if let Some(found) = nfcapd::detect(head) {
                return found.map(|f| Some(Decoder::Records(Arc::new(f))));
            }
        }
        if matches!(opts.format, Format::Auto | Format::Silk) {
            if let Some(found) = silk::detect(head, opts.silk_conf.as_deref(), path) {
                return found.map(|f| Some(Decoder::Records(Arc::new(f))));
            }
        }
    }
    match opts.format {
        Format::Nfcapd => Err(magic("an nfcapd file") + ", not nfdump's magic 0c a5"),
        Format::Silk => Err(magic("a SiLK rw file") + ", not SiLK's magic de ad be ef"),
        _ => detect(head, opts).map(|p| p.map(Decoder::Lines)),
    }
}

/// What a binary file that is not flow text is, told by its first bytes (after gzip/zstd
/// decompression), with what to do about it; `None` for anything else.
pub fn binary_kind(head: &[u8]) -> Option<&'static str> {
    let magic = |m: &[u8]| head.starts_with(m);
    if magic(&[0xDE, 0xAD, 0xBE, 0xEF]) {
        Some(
            "a SiLK rw (binary flow) file, which flowlens reads directly: leave out --format and --columns \
             (or give --format silk)",
        )
    } else if (magic(&[0x0C, 0xA5]) || magic(&[0xA5, 0x0C])) && head.len() >= 4 && head[2..4].iter().any(|&b| b != 0) {
        // nfdump's file header: magic 0xA50C and a layout version, in the writer's byte order.
        Some(
            "an nfdump nfcapd (binary flow) file, which flowlens reads directly: leave out --format and --columns \
             (or give --format nfcapd)",
        )
    } else if magic(b"PAR1") {
        Some("a Parquet file already: read it with `flowlens cat`, `ports` or `servers`")
    } else if magic(&[0xD4, 0xC3, 0xB2, 0xA1])
        || magic(&[0xA1, 0xB2, 0xC3, 0xD4])
        || magic(&[0x4D, 0x3C, 0xB2, 0xA1])
        || magic(&[0xA1, 0xB2, 0x3C, 0x4D])
        || magic(&[0x0A, 0x0D, 0x0D, 0x0A])
    {
        Some("a packet capture (pcap), not flow records: make flows from it first, e.g. with nfpcapd, argus or zeek")
    } else {
        None
    }
}

/// Detects the format of a text input from its first lines. `Ok(None)` when the input holds no
/// line at all (an empty file).
pub fn detect(head: &[u8], opts: &ReadOptions) -> Result<Option<Arc<dyn LineParser>>, String> {
    if let Some(kind) = binary_kind(head) {
        return Err(format!("this is {kind}"));
    }
    let Some(line) = first_line(head) else {
        return Ok(None);
    };
    let time = &opts.time;
    if let Some(cols) = &opts.columns {
        return with_columns(cols.clone(), line, opts).map(Some);
    }
    if let Some(found) = exporter(head, line, opts.format, time) {
        return found.map(Some);
    }
    let found: Option<Result<Delimited, String>> = match opts.format {
        Format::Auto => rwcut::detect(line, opts.delimiter.filter(|d| !b",\t".contains(d)), time)
            .or_else(|| csv::detect(line, opts.delimiter, time))
            .or_else(|| if opts.delimiter.is_none() { table::detect(line, time) } else { None }),
        Format::Rwcut => rwcut::detect(line, opts.delimiter, time),
        Format::Csv => csv::detect(line, Some(opts.delimiter.unwrap_or(b',')), time),
        Format::Tsv => csv::detect(line, Some(b'\t'), time),
        Format::Table => table::detect(line, time),
        Format::Nfdump | Format::Argus | Format::Binetflow | Format::Zeek | Format::Nfcapd | Format::Silk => {
            return Err(format!("the first line '{}' is not {:?} output", fields::show(line), opts.format));
        }
    };
    match found {
        Some(Ok(p)) => Ok(Some(Arc::new(p))),
        Some(Err(e)) => Err(e),
        None => Err(format!(
            "cannot tell the format from the first line '{}': it is not an rwcut title line, a CSV/TSV or table header, nor nfdump, Argus, binetflow or Zeek output; \
             name the columns with --columns (e.g. --columns sip,dip,sport,dport,proto,packets,bytes,flags,stime) \
             and, if needed, --format and --delimiter",
            fields::show(line)
        )),
    }
}

/// The exporters' formats, tried before the generic ones, whose detection their headers would
/// otherwise pass (nfdump's and Argus's are CSV headers). Zeek's header spans several lines, so
/// it is given the whole head; the others look at the first line.
fn exporter(
    head: &[u8],
    line: &[u8],
    format: Format,
    time: &TimeContext,
) -> Option<Result<Arc<dyn LineParser>, String>> {
    fn boxed<P: LineParser + 'static>(r: Result<P, String>) -> Result<Arc<dyn LineParser>, String> {
        r.map(|p| Arc::new(p) as Arc<dyn LineParser>)
    }
    let try_ = |f: Format| format == Format::Auto || format == f;
    if try_(Format::Zeek) {
        if let Some(r) = zeek::detect(head, time) {
            return Some(boxed(r));
        }
    }
    if try_(Format::Nfdump) {
        if let Some(r) = nfdump::detect(line, time) {
            return Some(boxed(r));
        }
    }
    if try_(Format::Binetflow) {
        if let Some(r) = binetflow::detect(line, time) {
            return Some(boxed(r));
        }
    }
    if try_(Format::Argus) {
        if let Some(r) = argus::detect(line, time) {
            return Some(boxed(r));
        }
    }
    None
}

/// A parser for user-named columns. The separator comes from `--delimiter`, the forced format,
/// or the first line (`|`, tab, comma, else whitespace). A first line that does not parse as
/// data is taken as a header and skipped.
fn with_columns(cols: Vec<String>, line: &[u8], opts: &ReadOptions) -> Result<Arc<dyn LineParser>, String> {
    let time = &opts.time;
    let sep = opts.delimiter.or(match opts.format {
        Format::Rwcut => Some(b'|'),
        Format::Csv | Format::Nfdump | Format::Argus | Format::Binetflow => Some(b','),
        Format::Tsv | Format::Zeek => Some(b'\t'),
        Format::Table | Format::Nfcapd | Format::Silk => None,
        Format::Auto => [b'|', b'\t', b','].into_iter().find(|c| line.contains(c)),
    });
    let build = |header: Option<Vec<u8>>| -> Result<Delimited, String> {
        match sep {
            Some(b',') | Some(b'\t') => csv::parser(cols.clone(), sep.unwrap_or(b','), header, time),
            Some(s) => rwcut::parser(cols.clone(), s, header, time),
            None => table::parser(cols.clone(), header, time),
        }
    };
    let probe = build(None)?;
    let mut b = BatchBuilder::for_parser(&probe, 1);
    let header = match probe.parse_line(line, &mut b, &mut Scratch::default()) {
        Ok(_) => None,
        Err(_) => Some(delimited::trim_bytes(line).to_vec()),
    };
    Ok(Arc::new(build(header)?))
}

/// A refused line, record or block, with everything needed to report or keep it.
#[derive(Debug, Clone)]
pub struct Reject {
    pub input: usize,
    /// 1-based; within the block as [`parse_block`] returns it, within the input once
    /// `convert` has rebased it. 0 for a binary input's record or block (see `block`).
    pub line: u64,
    pub column: String,
    pub reason: String,
    pub text: Vec<u8>,
    /// Where in a binary input, for a record or block that could not be read.
    pub block: Option<BlockAt>,
}

/// A place in a binary input: a block, its byte offset, and the records lost there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockAt {
    pub index: u64,
    pub offset: u64,
    /// `None` when the input does not say how many (a file cut short before a block header).
    pub lost: Option<u64>,
}

/// The result of parsing one block.
pub struct Parsed {
    pub input: usize,
    pub batch: RecordBatch,
    /// Data lines seen (converted + rejected; blank lines and skipped headers not counted).
    pub lines: u64,
    /// Every line of the block, blank ones included: what the next block's numbering continues
    /// from.
    pub physical_lines: u64,
    pub rejects: Vec<Reject>,
}

/// Parses every line of a block. With `strict`, stops at the first bad line (its reject is the
/// last one returned).
pub fn parse_block(
    parser: &dyn LineParser,
    block: &source::Block,
    schema: &SchemaRef,
    extra_map: &Arc<Vec<usize>>,
    strict: bool,
    scratch: &mut Scratch,
) -> Result<Parsed, arrow_schema::ArrowError> {
    let estimate = block.data.len() / 64 + 16;
    let mut out = BatchBuilder::new(schema.clone(), extra_map.clone(), estimate);
    let mut rejects = Vec::new();
    let mut lines = 0u64;
    // Line numbers within the block; the caller rebases them (see `source::Block`).
    let mut lineno = 1u64;
    let data = &block.data;
    // One pass over the whole block; lines are checked for UTF-8 only in a block that is not ASCII.
    let ascii = data.is_ascii();
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p);
        let raw = &data[start..end];
        start = end + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let this = lineno;
        lineno += 1;
        // Blank lines are skipped. A line that ends in a visible byte is not blank, which spares
        // a scan over rwcut's leading padding.
        if line.last().is_none_or(|c| c.is_ascii_whitespace()) && line.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let result = if line.len() > MAX_LINE {
            Err(FieldError { column: "line".into(), reason: format!("line longer than {MAX_LINE} bytes") })
        } else if !ascii && !line.is_ascii() && std::str::from_utf8(line).is_err() {
            Err(FieldError { column: "line".into(), reason: "undecodable bytes (not UTF-8)".into() })
        } else {
            parser.parse_line(line, &mut out, scratch)
        };
        match result {
            Ok(Outcome::Rows(_)) => lines += 1,
            Ok(Outcome::Skipped) => {}
            Err(e) => {
                lines += 1;
                rejects.push(Reject {
                    input: block.input,
                    line: this,
                    column: e.column,
                    reason: e.reason,
                    text: raw.to_vec(),
                    block: None,
                });
                if strict {
                    break;
                }
            }
        }
    }
    Ok(Parsed { input: block.input, batch: out.finish()?, lines, physical_lines: lineno - 1, rejects })
}

/// Parses `lines` one by one into a fresh batch: the unit tests' way to drive a parser.
#[cfg(test)]
pub(crate) fn parse_lines(parser: &dyn LineParser, lines: &[&str]) -> (Vec<Result<Outcome, FieldError>>, RecordBatch) {
    let mut b = BatchBuilder::for_parser(parser, 4);
    let mut scratch = Scratch::default();
    let r = lines.iter().map(|l| parser.parse_line(l.as_bytes(), &mut b, &mut scratch)).collect();
    (r, b.finish().expect("a batch of the flows schema"))
}
