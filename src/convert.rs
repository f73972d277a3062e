//! `flowlens convert`: reader → parallel parse → ordered Parquet writer.
//!
//! One thread reads inputs in blocks of whole lines; parser threads turn blocks into Arrow
//! batches; the calling thread puts batches back in input order and writes them (one file, or
//! one file per day under hive folders), encoding the columns on a pool of its own. The
//! `threads` are split between parsers and encoders, so that the two stages together keep one
//! busy thread per core. Channels are bounded, so memory does not grow with the input. Strict
//! by default: the first bad line aborts the run and no output appears; with a rejects file,
//! bad lines are kept there verbatim and counted.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;

use crate::error::{Error, Result};
use crate::ingest::delimited::Scratch;
use crate::ingest::source::{self, describe_read_error, BlockReader, Input};
use crate::ingest::{detect, parse_block, LineParser, Parsed, ReadOptions, Reject};
use crate::output::{replace_dir, AtomicFile};
use crate::pqwrite::FlowsWriter;
use crate::progress::Progress;
use crate::schema;

/// How output is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Partition {
    /// One Parquet file.
    None,
    /// Hive folders `date=YYYY-MM-DD/` by flow start time (UTC).
    Day,
}

pub struct ConvertOptions {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub read: ReadOptions,
    pub partition: Partition,
    /// Keep going past bad lines, writing them here.
    pub rejects: Option<PathBuf>,
    /// Worker threads, split between parsing and encoding.
    pub threads: usize,
    pub quiet: bool,
    /// Bytes of text per parse task.
    pub block_size: usize,
}

impl ConvertOptions {
    pub fn new(inputs: Vec<PathBuf>, output: PathBuf) -> Self {
        ConvertOptions {
            inputs,
            output,
            read: ReadOptions::default(),
            partition: Partition::None,
            rejects: None,
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            quiet: true,
            block_size: 2 << 20,
        }
    }
}

/// What a conversion did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ConvertSummary {
    pub inputs: usize,
    /// Data lines read (= converted + rejected).
    pub lines: u64,
    /// Flow rows written (a bidirectional record gives two).
    pub rows: u64,
    pub rejected: u64,
    pub formats: Vec<String>,
    pub outputs: Vec<PathBuf>,
}

/// Stdin's reader and the bytes already read from it for detection.
type KeptStdin = (Box<dyn std::io::Read + Send>, Vec<u8>);

/// An input ready to stream: its parser, and for stdin the reader and the bytes already read.
struct Prepared {
    input: Input,
    parser: Arc<dyn LineParser>,
    extra_map: Arc<Vec<usize>>,
    stdin: Option<KeptStdin>,
}

const HEAD_BYTES: usize = 64 * 1024;

fn prepare(inputs: Vec<Input>, read: &ReadOptions) -> Result<(Vec<Prepared>, Vec<String>)> {
    let mut prepared = Vec::new();
    let mut extras: Vec<String> = Vec::new();
    for input in inputs {
        let name = input.display();
        let mut reader = source::open(&input, Arc::default())?;
        let head =
            source::read_head(&mut reader, HEAD_BYTES).map_err(|e| Error::input(&name, describe_read_error(&e)))?;
        let Some(parser) = detect(&head, read).map_err(|r| Error::input(&name, r))? else {
            eprintln!("flowlens: {name}: empty, skipped");
            continue;
        };
        let map: Vec<usize> = parser
            .extras()
            .iter()
            .map(|e| match extras.iter().position(|x| x == e) {
                Some(i) => i,
                None => {
                    extras.push(e.clone());
                    extras.len() - 1
                }
            })
            .collect();
        let stdin = (input == Input::Stdin).then_some((reader, head));
        prepared.push(Prepared { input, parser, extra_map: Arc::new(map), stdin });
    }
    Ok((prepared, extras))
}

/// An input's parser and where its extra columns go in the output.
type ParserFor = (Arc<dyn LineParser>, Arc<Vec<usize>>);

/// Where batches go.
enum Sink {
    File(Box<FlowsWriter<std::fs::File>>, AtomicFile),
    Days(DaySink),
}

/// One writer per day under a staging folder inside the output folder.
struct DaySink {
    out: PathBuf,
    staging: tempfile::TempDir,
    writers: BTreeMap<String, FlowsWriter<std::fs::File>>,
    schema: SchemaRef,
}

/// Rows buffered in unfinished row groups across all day writers before the largest is flushed:
/// keeps memory bounded when an archive interleaves many days.
const DAY_BUFFER_ROWS: usize = 2 * schema::ROW_GROUP_ROWS;

impl DaySink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let stime = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        let mut groups: HashMap<Option<i64>, Vec<u32>> = HashMap::new();
        let day_of = |i: usize| stime.is_valid(i).then(|| stime.value(i).div_euclid(86_400_000_000));
        let first = if batch.num_rows() > 0 { day_of(0) } else { None };
        if (0..batch.num_rows()).all(|i| day_of(i) == first) {
            if batch.num_rows() > 0 {
                self.writer(first)?.write(batch)?;
            }
        } else {
            for i in 0..batch.num_rows() {
                groups.entry(day_of(i)).or_default().push(i as u32);
            }
            for (day, idx) in groups {
                let part = arrow_select::take::take_record_batch(batch, &UInt32Array::from(idx))?;
                self.writer(day)?.write(&part)?;
            }
        }
        self.bound_memory()
    }

    fn writer(&mut self, day: Option<i64>) -> Result<&mut FlowsWriter<std::fs::File>> {
        let key = match day {
            Some(d) => {
                let (y, m, dd) = crate::ingest::fields::civil_from_days(d);
                format!("date={y:04}-{m:02}-{dd:02}")
            }
            // Hive's own name for a null partition value; DuckDB and Spark read it as NULL.
            None => "date=__HIVE_DEFAULT_PARTITION__".to_string(),
        };
        if !self.writers.contains_key(&key) {
            let dir = self.staging.path().join(&key);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let path = dir.join("part-00000.parquet");
            let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
            let w = FlowsWriter::try_new(file, self.schema.clone())?;
            self.writers.insert(key.clone(), w);
        }
        Ok(self.writers.get_mut(&key).expect("inserted above"))
    }

    fn bound_memory(&mut self) -> Result<()> {
        loop {
            let total: usize = self.writers.values().map(|w| w.in_progress_rows()).sum();
            if total <= DAY_BUFFER_ROWS {
                return Ok(());
            }
            if let Some(w) = self.writers.values_mut().max_by_key(|w| w.in_progress_rows()) {
                w.flush()?;
            }
        }
    }

    /// Closes every day file and moves each day folder into place, replacing that day.
    fn finish(self) -> Result<Vec<PathBuf>> {
        for w in self.writers.into_values() {
            w.close()?;
        }
        let mut outputs = Vec::new();
        let mut days: Vec<PathBuf> = std::fs::read_dir(self.staging.path())
            .map_err(|e| Error::io(self.staging.path(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        days.sort();
        for staged in days {
            let target = self.out.join(staged.file_name().unwrap_or_default());
            replace_dir(&staged, &target)?;
            outputs.push(target);
        }
        Ok(outputs)
    }
}

impl Sink {
    fn create(opts: &ConvertOptions, schema: &SchemaRef) -> Result<Sink> {
        match opts.partition {
            Partition::None => {
                let f = AtomicFile::create(&opts.output)?;
                let file = f.file().map_err(|e| Error::io(&opts.output, e))?;
                let w = FlowsWriter::try_new(file, schema.clone())?;
                Ok(Sink::File(Box::new(w), f))
            }
            Partition::Day => {
                let out = opts.output.clone();
                if out.is_file() {
                    return Err(Error::Usage(format!(
                        "{} is a file; --partition day writes a folder of date=YYYY-MM-DD/ subfolders",
                        out.display()
                    )));
                }
                std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
                let staging = tempfile::Builder::new()
                    .prefix(".flowlens-convert-")
                    .tempdir_in(&out)
                    .map_err(|e| Error::io(&out, e))?;
                Ok(Sink::Days(DaySink { out, staging, writers: BTreeMap::new(), schema: schema.clone() }))
            }
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::File(w, _) => Ok(w.write(batch)?),
            Sink::Days(d) => d.write(batch),
        }
    }

    fn finish(self) -> Result<Vec<PathBuf>> {
        match self {
            Sink::File(w, f) => {
                w.close()?;
                Ok(vec![f.commit()?])
            }
            Sink::Days(d) => d.finish(),
        }
    }
}

/// The rejects file: `path<TAB>line<TAB>column: reason<TAB>the line as read`.
struct Rejects {
    out: std::io::BufWriter<std::fs::File>,
    file: AtomicFile,
}

impl Rejects {
    fn create(path: &Path) -> Result<Self> {
        let file = AtomicFile::create(path)?;
        let out = std::io::BufWriter::new(file.file().map_err(|e| Error::io(path, e))?);
        Ok(Rejects { out, file })
    }
    fn write(&mut self, name: &str, r: &Reject) -> Result<()> {
        let io = |e| Error::io(self.file.target(), e);
        write!(self.out, "{name}\t{}\t{}: {}\t", r.line, r.column, r.reason).map_err(io)?;
        self.out.write_all(&r.text).map_err(io)?;
        self.out.write_all(b"\n").map_err(io)
    }
    fn finish(mut self) -> Result<PathBuf> {
        self.out.flush().map_err(|e| Error::io(self.file.target(), e))?;
        drop(self.out);
        self.file.commit()
    }
}

enum ReadItem {
    Block(u64, source::Block),
    Failed(u64, Box<Error>),
}

/// Converts flow text to Parquet. On any error nothing is left at the output path.
pub fn convert(opts: &ConvertOptions) -> Result<ConvertSummary> {
    let inputs = source::expand(&opts.inputs)?;
    let total_bytes: u64 = inputs.iter().map(Input::size).sum();
    let (mut prepared, extras) = prepare(inputs, &opts.read)?;
    if prepared.is_empty() {
        return Err(Error::input(
            opts.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "),
            "no flow records: the input is empty",
        ));
    }
    let schema = schema::flow_schema(&extras);
    let mut formats: Vec<String> = Vec::new();
    for p in &prepared {
        if !formats.iter().any(|f| f == p.parser.format()) {
            formats.push(p.parser.format().to_string());
        }
    }
    let names: Vec<String> = prepared.iter().map(|p| p.input.display()).collect();
    let parsers: Vec<ParserFor> = prepared.iter().map(|p| (p.parser.clone(), p.extra_map.clone())).collect();
    let stdin: Vec<Option<KeptStdin>> = prepared.iter_mut().map(|p| p.stdin.take()).collect();
    let inputs: Vec<Input> = prepared.iter().map(|p| p.input.clone()).collect();

    let mut sink = Sink::create(opts, &schema)?;
    let mut rejects = opts.rejects.as_deref().map(Rejects::create).transpose()?;
    let strict = rejects.is_none();
    let threads = opts.threads.max(1);
    let read_bytes = Arc::new(AtomicU64::new(0));
    let progress = Progress::bytes(total_bytes, opts.quiet);
    let mut summary = ConvertSummary { inputs: inputs.len(), formats, ..Default::default() };

    let (block_tx, block_rx) = crossbeam_channel::bounded::<ReadItem>(threads * 2);
    let (parsed_tx, parsed_rx) = crossbeam_channel::bounded::<(u64, Result<Parsed>)>(threads * 2);
    // Parsed blocks' buffers go back to the reader to be filled again.
    let (spare_tx, spare_rx) = crossbeam_channel::bounded::<Vec<u8>>(threads * 2);
    // The threads are split between the two stages: parsing and encoding cost about the same
    // for rwcut text, and a thread per core in each stage would put twice as many busy threads
    // as cores on the machine (measured slower: BENCHMARKS.md).
    let parsers_n = threads.div_ceil(2);
    let encoders = threads - parsers_n;
    let encode_pool = crate::thread_pool(encoders)?;

    let result: Result<()> = std::thread::scope(|s| {
        // Reader: inputs in order, cut into blocks.
        let counter = read_bytes.clone();
        let block_size = opts.block_size;
        s.spawn(move || {
            let mut seq = 0u64;
            for (i, (input, stdin)) in inputs.iter().zip(stdin).enumerate() {
                let (reader, head) = match stdin {
                    Some(kept) => kept,
                    None => match source::open(input, counter.clone()) {
                        Ok(r) => (r, Vec::new()),
                        Err(e) => {
                            let _ = block_tx.send(ReadItem::Failed(seq, Box::new(e)));
                            return;
                        }
                    },
                };
                let mut blocks = BlockReader::new(reader, i, head, block_size);
                loop {
                    if let Ok(buf) = spare_rx.try_recv() {
                        blocks.recycle(buf);
                    }
                    match blocks.next_block() {
                        Ok(Some(b)) => {
                            if block_tx.send(ReadItem::Block(seq, b)).is_err() {
                                return;
                            }
                            seq += 1;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let err = Error::input(input.display(), describe_read_error(&e));
                            let _ = block_tx.send(ReadItem::Failed(seq, Box::new(err)));
                            return;
                        }
                    }
                }
            }
        });
        // Workers: blocks → batches.
        for _ in 0..parsers_n {
            let rx = block_rx.clone();
            let tx = parsed_tx.clone();
            let spare = spare_tx.clone();
            let parsers = &parsers;
            let schema = &schema;
            s.spawn(move || {
                let mut scratch = Scratch::default();
                for item in rx {
                    let (seq, out) = match item {
                        ReadItem::Block(seq, b) => {
                            let (parser, map) = &parsers[b.input];
                            let parsed = parse_block(parser.as_ref(), &b, schema, map, strict, &mut scratch)
                                .map_err(Error::from);
                            let _ = spare.try_send(b.data);
                            (seq, parsed)
                        }
                        ReadItem::Failed(seq, e) => (seq, Err(*e)),
                    };
                    if tx.send((seq, out)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(parsed_tx);
        drop(spare_tx);
        drop(block_rx);

        // Writer: batches in input order. The receiver is owned here so that an early return
        // (a bad line) drops it: the workers' sends then fail and they stop, and so does the
        // reader, instead of all waiting on full channels.
        let parsed_rx = parsed_rx;
        let mut pending: BTreeMap<u64, Result<Parsed>> = BTreeMap::new();
        let mut next = 0u64;
        // Blocks number their lines from 1; this is where the current block starts in its input.
        let (mut input, mut line_base) = (usize::MAX, 0u64);
        for (seq, item) in parsed_rx.iter() {
            pending.insert(seq, item);
            while let Some(item) = pending.remove(&next) {
                next += 1;
                let mut parsed = item?;
                if parsed.input != input {
                    (input, line_base) = (parsed.input, 0);
                }
                for r in &mut parsed.rejects {
                    r.line += line_base;
                }
                line_base += parsed.physical_lines;
                summary.lines += parsed.lines;
                summary.rows += parsed.batch.num_rows() as u64;
                for r in &parsed.rejects {
                    let name = &names[r.input];
                    match rejects.as_mut() {
                        Some(file) => file.write(name, r)?,
                        None => {
                            return Err(Error::Parse {
                                path: name.clone(),
                                line: r.line,
                                column: r.column.clone(),
                                reason: r.reason.clone(),
                            })
                        }
                    }
                }
                summary.rejected += parsed.rejects.len() as u64;
                if parsed.batch.num_rows() > 0 {
                    encode_pool.install(|| sink.write(&parsed.batch))?;
                }
                progress.update(read_bytes.load(Ordering::Relaxed), summary.rows);
            }
        }
        Ok(())
    });
    progress.finish();
    result?;
    if summary.lines == 0 {
        return Err(Error::input(names.join(" "), "no flow records: only headers or blank lines"));
    }
    summary.outputs = encode_pool.install(|| sink.finish())?;
    if let Some(r) = rejects {
        r.finish()?;
    }
    Ok(summary)
}
