//! `flowlens convert`: reader → parallel parse → ordered Parquet writer.
//!
//! One thread reads inputs in blocks: of whole lines for text, of records as stored (compressed)
//! for binary archives (`ingest::records`). Worker threads, one per core by default, turn blocks
//! into Arrow batches (parsing lines, or decompressing and decoding records); the worker that completes the next batch in input order
//! writes it (and any later ones already done), so no core waits while there is work of either
//! kind (see [`Order`]). Batches go to one file, or one file per day under hive folders. With
//! fewer than four threads the writing worker encodes the columns itself; with more, it encodes
//! them in parallel on a pool of half the threads. Channels and the queue of parsed blocks are
//! bounded, so memory does not grow with the input. Strict by default: the first bad line
//! aborts the run and no output appears; with a rejects file, bad lines are kept there
//! verbatim and counted.

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
use crate::ingest::records::{self, BlockSource, Damage, RawBlock};
use crate::ingest::source::{self, describe_read_error, BlockReader, Input};
use crate::ingest::{detect_input, parse_block, Decoder, Parsed, ReadOptions, Reject};
use crate::output::{replace_dir, AtomicFile, SyncAhead};
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
    /// Worker threads: each parses, and writes in turn.
    pub threads: usize,
    pub quiet: bool,
    /// Bytes of text per parse task.
    pub block_size: usize,
    /// With `Partition::Day`: write each day as `date=D/NAME.parquet` beside the day's other
    /// files, replacing only a file of that name, instead of replacing the day's folder. Lets
    /// several runs (one per input file, on one machine or many) fill one store's days.
    pub part: Option<String>,
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
            part: None,
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
    parser: Decoder,
    extra_map: Arc<Vec<usize>>,
    stdin: Option<KeptStdin>,
}

const HEAD_BYTES: usize = 64 * 1024;

fn prepare(inputs: Vec<Input>, read: &ReadOptions) -> Result<(Vec<Prepared>, Vec<String>)> {
    let mut prepared = Vec::new();
    let mut extras: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for input in inputs {
        let name = input.display();
        let mut reader = source::open(&input, Arc::default())?;
        let head =
            source::read_head(&mut reader, HEAD_BYTES).map_err(|e| Error::input(&name, describe_read_error(&e)))?;
        let path = match &input {
            Input::File(p) => Some(p.as_path()),
            Input::Stdin => None,
        };
        let Some(parser) = detect_input(&head, read, path).map_err(|r| Error::input(&name, r))? else {
            eprintln!("flowlens: {name}: empty, skipped");
            continue;
        };
        if let Decoder::Records(format) = &parser {
            if let Some(note) = format.note().filter(|n| !notes.contains(n)) {
                eprintln!("flowlens: {name}: {note}");
                notes.push(note);
            }
        }
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
type ParserFor = (Decoder, Arc<Vec<usize>>);

/// Where batches go.
enum Sink {
    File(Box<FlowsWriter<SyncAhead>>, AtomicFile),
    Days(DaySink),
}

/// One writer per day under a staging folder inside the output folder.
struct DaySink {
    out: PathBuf,
    staging: tempfile::TempDir,
    /// The staging folder is removed if a signal ends the process.
    _interrupt: crate::interrupt::Registered,
    writers: BTreeMap<String, FlowsWriter<SyncAhead>>,
    schema: SchemaRef,
    /// Encode columns in parallel (`FlowsWriter::serial` when false).
    parallel: bool,
    /// `ConvertOptions::part`: the file name each day's rows take beside the others.
    part: Option<String>,
}

/// A day's file, when a run replaces the day's folder.
const PART_FILE: &str = "part-00000.parquet";

/// Checks a `--part` name and gives the file name it writes: `NAME.parquet` (`.parquet` added
/// when missing). Letters, digits, `.`, `_`, `-`; not starting with `.` or `_`, which Spark and
/// Hive take for hidden files.
pub fn part_file_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && !name.starts_with(['.', '_'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(Error::Usage(format!(
            "--part '{name}': use letters, digits, '.', '_' and '-', not starting with '.' or '_' \
             (e.g. the input's file name: nfcapd.202611210000)"
        )));
    }
    Ok(if name.ends_with(".parquet") { name.to_string() } else { format!("{name}.parquet") })
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

    fn writer(&mut self, day: Option<i64>) -> Result<&mut FlowsWriter<SyncAhead>> {
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
            let path = dir.join(PART_FILE);
            let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
            let w = FlowsWriter::try_new(SyncAhead::new(file), self.schema.clone())?;
            let w = if self.parallel { w } else { w.serial() };
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
            match &self.part {
                None => replace_dir(&staged, &target)?,
                Some(name) => {
                    // The day's other files stay; a file of this name is replaced (rename is
                    // atomic), so running the same input again does not duplicate its rows.
                    std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
                    let file = target.join(name);
                    std::fs::rename(staged.join(PART_FILE), &file).map_err(|e| Error::io(&file, e))?;
                }
            }
            outputs.push(target);
        }
        Ok(outputs)
    }
}

impl Sink {
    /// With `parallel`, each batch's columns are encoded in parallel on the current rayon pool.
    fn create(opts: &ConvertOptions, schema: &SchemaRef, parallel: bool) -> Result<Sink> {
        match opts.partition {
            Partition::None => {
                if opts.output.is_dir() {
                    return Err(Error::Usage(format!(
                        "{} is a folder: name a file to write (e.g. {}), or add --partition day to write \
                         date=YYYY-MM-DD/ subfolders into it",
                        opts.output.display(),
                        opts.output.join("flows.parquet").display()
                    )));
                }
                let f = AtomicFile::create(&opts.output)?;
                let file = f.file().map_err(|e| Error::io(&opts.output, e))?;
                let w = FlowsWriter::try_new(SyncAhead::new(file), schema.clone())?;
                let w = if parallel { w } else { w.serial() };
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
                let (staging, _interrupt) =
                    crate::interrupt::create(|| tempfile::Builder::new().prefix(".flowlens-convert-").tempdir_in(&out))
                        .map_err(|e| Error::io(&out, e))?;
                let part = opts.part.as_deref().map(part_file_name).transpose()?;
                Ok(Sink::Days(DaySink {
                    out,
                    staging,
                    _interrupt,
                    writers: BTreeMap::new(),
                    schema: schema.clone(),
                    parallel,
                    part,
                }))
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
        match r.block {
            // A binary input's block or record: where it is instead of a line number, how many
            // records were lost, and no text (the bytes are binary).
            Some(at) => {
                let lost = at.lost.map_or("an unknown number of".to_string(), |n| n.to_string());
                write!(
                    self.out,
                    "{name}\tblock {} (byte offset {})\t{}: {} ({lost} records lost)\t",
                    at.index, at.offset, r.column, r.reason
                )
                .map_err(io)?;
            }
            None => write!(self.out, "{name}\t{}\t{}: {}\t", r.line, r.column, r.reason).map_err(io)?,
        }
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
    /// A binary input's block as stored, decoded by a worker.
    Raw(u64, RawBlock),
    /// A binary input's block that could not be framed (the input is not read further).
    Damaged(u64, usize, Damage),
    Failed(u64, Box<Error>),
}

/// Converts flow text to Parquet. On any error nothing is left at the output path.
pub fn convert(opts: &ConvertOptions) -> Result<ConvertSummary> {
    let inputs = source::expand(&opts.inputs)?;
    let total_bytes: u64 = inputs.iter().map(Input::size).sum();
    // Inputs with no records (a title line alone, as `rwfilter … | rwcut` prints when nothing
    // matches, or no bytes at all) are not errors: a quiet sensor's hour is empty. The output is
    // then an empty Parquet file with the full schema, and the summary says 0 rows.
    let (mut prepared, extras) = prepare(inputs, &opts.read)?;
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

    let threads = opts.threads.max(1);
    // Every worker parses; the one that completes the next batch in input order writes it. With
    // fewer than four threads it encodes the batch itself while the others go on parsing; with
    // more, encoding on one thread would hold the others up, so it encodes the columns in
    // parallel on a pool of half the threads.
    let encode_pool = (threads / 2 > 1).then(|| crate::thread_pool(threads / 2)).transpose()?;
    let sink = Sink::create(opts, &schema, encode_pool.is_some())?;
    let rejects = opts.rejects.as_deref().map(Rejects::create).transpose()?;
    let strict = rejects.is_none();
    let read_bytes = Arc::new(AtomicU64::new(0));
    let progress = Progress::bytes(total_bytes, opts.quiet);
    let summary = ConvertSummary { inputs: inputs.len(), formats, ..Default::default() };

    let (block_tx, block_rx) = crossbeam_channel::bounded::<ReadItem>(threads * 2);
    // Parsed blocks' buffers go back to the reader to be filled again.
    let (spare_tx, spare_rx) = crossbeam_channel::bounded::<Vec<u8>>(threads * 2);
    let order = Order::new(threads * 2);
    let writer = std::sync::Mutex::new(Writer {
        sink,
        rejects,
        summary,
        names: &names,
        input: usize::MAX,
        line_base: 0,
        progress: &progress,
        read_bytes: &read_bytes,
        encode_pool: encode_pool.as_ref(),
    });

    // Reader: inputs in order, cut into blocks. It is not a scoped thread: after an error the
    // run ends without waiting for it, which could be blocked reading a quiet stdin; it stops
    // at its next send, since the workers' receivers are gone by then.
    let counter = read_bytes.clone();
    let block_size = opts.block_size;
    let parsers_for_reader: Vec<Decoder> = parsers.iter().map(|(p, _)| p.clone()).collect();
    let reader = std::thread::spawn(move || {
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
            if let Decoder::Records(format) = &parsers_for_reader[i] {
                // The bytes already read for detection come first again.
                let reader: Box<dyn std::io::Read + Send> =
                    Box::new(std::io::Read::chain(std::io::Cursor::new(head), reader));
                let mut blocks: Box<dyn BlockSource> = format.blocks(i, reader);
                loop {
                    let item = match blocks.next_block() {
                        Ok(Some(b)) => ReadItem::Raw(seq, b),
                        Ok(None) => break,
                        Err(d) => ReadItem::Damaged(seq, i, d),
                    };
                    let last = matches!(item, ReadItem::Damaged(..));
                    if block_tx.send(item).is_err() {
                        return;
                    }
                    seq += 1;
                    if last {
                        break;
                    }
                }
                continue;
            }
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
    std::thread::scope(|s| {
        // Workers: blocks → batches, and in turn batches → output. When every worker has
        // returned (done, or stopped by an error) their receivers are gone and the reader's
        // next send fails, so it stops too.
        for _ in 0..threads {
            let rx = block_rx.clone();
            let spare = spare_tx.clone();
            let (parsers, schema, order, writer) = (&parsers, &schema, &order, &writer);
            s.spawn(move || {
                let _stop = order.stop_on_panic();
                let mut scratch = Scratch::default();
                let mut raw_scratch = Vec::new();
                while order.wait_for_room() {
                    let Some(item) = order.receive(&rx) else { return };
                    let (seq, parsed) = match item {
                        ReadItem::Block(seq, b) => {
                            let parsed = match &parsers[b.input] {
                                (Decoder::Lines(parser), map) => {
                                    parse_block(parser.as_ref(), &b, schema, map, strict, &mut scratch)
                                }
                                (Decoder::Records(_), _) => unreachable!("text blocks come from text inputs"),
                            };
                            let _ = spare.try_send(b.data);
                            (seq, parsed.map_err(Error::from))
                        }
                        ReadItem::Raw(seq, b) => {
                            let parsed = match &parsers[b.input] {
                                (Decoder::Records(format), map) => {
                                    records::decode_block(format.as_ref(), &b, schema, map, &mut raw_scratch)
                                }
                                (Decoder::Lines(_), _) => unreachable!("raw blocks come from binary inputs"),
                            };
                            (seq, parsed.map_err(Error::from))
                        }
                        ReadItem::Damaged(seq, input, d) => {
                            (seq, records::damaged(input, d, schema, &parsers[input].1).map_err(Error::from))
                        }
                        ReadItem::Failed(seq, e) => (seq, Err(*e)),
                    };
                    order.deliver(seq, parsed, |p| writer.lock().unwrap_or_else(|e| e.into_inner()).take(p));
                }
            });
        }
        drop(spare_tx);
        drop(block_rx);
    });
    progress.finish();
    order.result()?;
    // Every block was written, so the reader has finished. Had it panicked (a bug), its channel
    // would have closed early and the output would lack the rest of the input: pass it on.
    if let Err(panic) = reader.join() {
        std::panic::resume_unwind(panic);
    }
    let writer = writer.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut summary = writer.summary;
    let sink = writer.sink;
    summary.outputs = crate::on_pool(encode_pool.as_ref(), || sink.finish())?;
    if let Some(r) = writer.rejects {
        r.finish()?;
    }
    Ok(summary)
}

/// Puts parsed blocks back in input order and lets one worker at a time write them. Whoever
/// delivers the block that is next in order writes it and every block after it that is already
/// here; the others go back to parsing. Memory is bounded: a worker takes no new block while
/// `room` parsed blocks wait. That cannot stall the run: the next block in order was taken from
/// the reader's channel before any later one, so it is being parsed, not waiting, and writing
/// it makes room.
struct Order<T> {
    state: std::sync::Mutex<OrderState<T>>,
    changed: std::sync::Condvar,
    room: usize,
}

struct OrderState<T> {
    pending: BTreeMap<u64, Result<T>>,
    next: u64,
    writing: bool,
    /// The first error; every worker stops when it is set.
    error: Option<Error>,
}

impl<T> Order<T> {
    fn new(room: usize) -> Self {
        let state = OrderState { pending: BTreeMap::new(), next: 0, writing: false, error: None };
        Order { state: std::sync::Mutex::new(state), changed: std::sync::Condvar::new(), room }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OrderState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until there is room for one more parsed block; false when the run has failed.
    fn wait_for_room(&self) -> bool {
        let mut st = self.lock();
        while st.error.is_none() && st.pending.len() >= self.room {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.error.is_none()
    }

    /// The next block from the reader; `None` when there are no more or the run has failed.
    /// Waits in short steps so that a worker notices a failure while the reader has nothing
    /// to give it (a quiet stdin).
    fn receive<B>(&self, rx: &crossbeam_channel::Receiver<B>) -> Option<B> {
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(block) => return Some(block),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) if self.lock().error.is_none() => {}
                Err(_) => return None,
            }
        }
    }

    /// A guard for a worker's lifetime: if the worker panics (a bug), the run fails instead of
    /// waiting forever for the block it held, and the panic goes on to the caller.
    fn stop_on_panic(&self) -> StopOnPanic<'_, T> {
        StopOnPanic(self)
    }

    /// Hands over block `seq`; when it is this worker's turn, writes with `write` every block
    /// that is next in order.
    fn deliver(&self, seq: u64, parsed: Result<T>, mut write: impl FnMut(Result<T>) -> Result<()>) {
        let mut st = self.lock();
        st.pending.insert(seq, parsed);
        if st.writing || st.error.is_some() {
            return;
        }
        st.writing = true;
        loop {
            let next = st.next;
            let Some(item) = st.pending.remove(&next) else { break };
            st.next += 1;
            drop(st);
            self.changed.notify_all();
            let done = write(item);
            st = self.lock();
            if let Err(e) = done {
                st.error = Some(e);
                st.pending.clear();
                break;
            }
        }
        st.writing = false;
        drop(st);
        self.changed.notify_all();
    }

    fn result(&self) -> Result<()> {
        match self.lock().error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

struct StopOnPanic<'a, T>(&'a Order<T>);

impl<T> Drop for StopOnPanic<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut st = self.0.lock();
            st.error.get_or_insert_with(|| Error::Usage("internal error: a worker thread panicked".into()));
            drop(st);
            self.0.changed.notify_all();
        }
    }
}

/// The writing side of a conversion: only the worker whose turn it is touches it.
struct Writer<'a> {
    sink: Sink,
    rejects: Option<Rejects>,
    summary: ConvertSummary,
    names: &'a [String],
    /// The input of the last block written, and where the next block starts in its line count
    /// (blocks number their lines from 1).
    input: usize,
    line_base: u64,
    progress: &'a Progress,
    read_bytes: &'a AtomicU64,
    encode_pool: Option<&'a rayon::ThreadPool>,
}

impl Writer<'_> {
    /// Writes the next block in input order: its rejects (or, when strict, the error of its
    /// first bad line), then its rows.
    fn take(&mut self, item: Result<Parsed>) -> Result<()> {
        let mut parsed = item?;
        if parsed.input != self.input {
            (self.input, self.line_base) = (parsed.input, 0);
        }
        for r in parsed.rejects.iter_mut().filter(|r| r.block.is_none()) {
            r.line += self.line_base;
        }
        self.line_base += parsed.physical_lines;
        self.summary.lines += parsed.lines;
        self.summary.rows += parsed.batch.num_rows() as u64;
        for r in &parsed.rejects {
            let name = &self.names[r.input];
            match (self.rejects.as_mut(), r.block) {
                (Some(file), _) => file.write(name, r)?,
                (None, Some(at)) => {
                    return Err(Error::Block {
                        path: name.clone(),
                        block: at.index,
                        offset: at.offset,
                        column: r.column.clone(),
                        reason: r.reason.clone(),
                    })
                }
                (None, None) => {
                    return Err(Error::Parse {
                        path: name.clone(),
                        line: r.line,
                        column: r.column.clone(),
                        reason: r.reason.clone(),
                    })
                }
            }
        }
        // A binary input's reject stands for the records it lost.
        self.summary.rejected +=
            parsed.rejects.iter().map(|r| r.block.map_or(1, |at| at.lost.unwrap_or(0))).sum::<u64>();
        if parsed.batch.num_rows() > 0 {
            let sink = &mut self.sink;
            crate::on_pool(self.encode_pool, || sink.write(&parsed.batch))?;
        }
        self.progress.update(self.read_bytes.load(Ordering::Relaxed), self.summary.rows);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Clone, Copy, PartialEq)]
    enum Fail {
        Never,
        /// Block k parses to an error (a bad line in strict mode).
        Error(u64),
        /// Writing block k panics.
        PanicWriting(u64),
        /// Parsing block k panics.
        PanicParsing(u64),
    }

    struct Run {
        written: Vec<u64>,
        /// The most blocks ever waiting to be written.
        most: usize,
        /// Blocks the workers took from the reader.
        taken: u64,
        result: Result<()>,
    }

    /// `workers` take numbered blocks from a reader thread through a bounded channel, as
    /// `convert` does, "parse" them for a random few microseconds and deliver them. `None` when
    /// the run panicked; a run that hangs fails the test after a minute.
    fn run(workers: usize, room: usize, items: u64, fail: Fail) -> Option<Run> {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(run_inner(workers, room, items, fail));
        });
        match done_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(run) => Some(run),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the run hung"),
        }
    }

    fn run_inner(workers: usize, room: usize, items: u64, fail: Fail) -> Run {
        let order = Order::new(room);
        let (tx, rx) = crossbeam_channel::bounded::<u64>(workers * 2);
        let taken = AtomicU64::new(0);
        let written = Mutex::new(Vec::new());
        let most = AtomicU64::new(0);
        let writing = AtomicBool::new(false);
        std::thread::spawn(move || (0..items).all(|seq| tx.send(seq).is_ok()));
        std::thread::scope(|s| {
            for w in 0..workers as u64 {
                let (order, rx, taken, written, most, writing) =
                    (&order, rx.clone(), &taken, &written, &most, &writing);
                s.spawn(move || {
                    let _stop = order.stop_on_panic();
                    let mut noise = 0x9e37_79b9_7f4a_7c15u64 ^ w;
                    while order.wait_for_room() {
                        let Some(seq) = order.receive(&rx) else { return };
                        taken.fetch_add(1, Ordering::SeqCst);
                        noise ^= noise << 13;
                        noise ^= noise >> 7;
                        noise ^= noise << 17;
                        std::thread::sleep(Duration::from_micros(noise % 200));
                        assert!(fail != Fail::PanicParsing(seq), "parsing {seq}");
                        let item =
                            if fail == Fail::Error(seq) { Err(Error::Usage(format!("bad {seq}"))) } else { Ok(seq) };
                        order.deliver(seq, item, |item| {
                            assert!(!writing.swap(true, Ordering::SeqCst), "two writers at once");
                            most.fetch_max(order.lock().pending.len() as u64 + 1, Ordering::SeqCst);
                            let result = item.map(|v| {
                                assert!(fail != Fail::PanicWriting(v), "writing {v}");
                                written.lock().unwrap().push(v)
                            });
                            writing.store(false, Ordering::SeqCst);
                            result
                        });
                    }
                });
            }
        });
        Run {
            written: written.into_inner().unwrap(),
            most: most.load(Ordering::SeqCst) as usize,
            taken: taken.load(Ordering::SeqCst),
            result: order.result(),
        }
    }

    #[test]
    fn blocks_are_written_once_in_input_order_with_bounded_waiting() {
        for (workers, room) in [(1, 1), (2, 4), (4, 2), (8, 16)] {
            let r = run(workers, room, 500, Fail::Never).expect("no panic");
            assert!(r.result.is_ok());
            assert_eq!(r.written, (0..500).collect::<Vec<_>>(), "{workers} workers, room {room}");
            assert_eq!(r.taken, 500);
            // Workers check for room before taking a block, so a few may pass the check together.
            assert!(r.most <= room + workers, "{} blocks waited with room for {room}", r.most);
        }
    }

    #[test]
    fn an_error_stops_every_worker_and_nothing_after_it_is_written() {
        for workers in [1, 2, 4] {
            let r = run(workers, 4, 500, Fail::Error(123)).expect("no panic");
            assert_eq!(r.written, (0..123).collect::<Vec<_>>());
            // Blocks already taken are finished, but no worker takes one after the error: at
            // most `room` blocks after it waited, and each worker held one more.
            assert!(r.taken <= 124 + 4 + workers as u64, "{} blocks taken", r.taken);
            assert!(matches!(r.result, Err(Error::Usage(m)) if m == "bad 123"));
        }
    }

    /// A bug that panics in a worker, while it parses or while it writes, ends the run with the
    /// panic instead of leaving the other workers waiting forever.
    #[test]
    fn a_panic_in_a_worker_ends_the_run() {
        for workers in [1, 2, 4] {
            for fail in [Fail::PanicParsing(40), Fail::PanicWriting(40), Fail::PanicParsing(0)] {
                assert!(run(workers, 4, 500, fail).is_none(), "the panic reached the caller");
            }
        }
    }

    /// Line numbers stay right across many small blocks and two inputs, whichever worker parses
    /// which block: strict mode reports the first bad line in input order, and a rejects file
    /// lists every bad line with its own file and line.
    #[test]
    fn bad_lines_are_numbered_across_blocks_and_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let title = "            sIP|            dIP|sPort|dPort|pro|   packets|     bytes|   flags|                  sTime| duration|sen|";
        let line = |i: usize, ok: bool| {
            let dip = if ok { "10.0.0.2" } else { "10.0.0.300" };
            format!("{:>15}|{dip:>15}|{:>5}|   80|  6|         3|       180|FS PA   |2026/11/21T00:00:00.000|    1.000| S1|", "10.0.0.1", 1024 + i)
        };
        let write = |name: &str, lines: usize, bad: &[usize]| {
            let mut text = format!("{title}\n");
            for i in 2..=lines {
                text += &line(i, !bad.contains(&i));
                text += "\n";
            }
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let a = write("a.rw", 300, &[]);
        let b = write("b.rw", 200, &[77, 150]);
        for threads in [1, 2, 4] {
            let mut opts = ConvertOptions::new(vec![a.clone(), b.clone(), a.clone()], dir.path().join("out.parquet"));
            opts.threads = threads;
            opts.block_size = 300; // two lines a block
            let _ = std::fs::remove_file(&opts.output);
            let err = convert(&opts).unwrap_err().to_string();
            assert!(err.ends_with("b.rw:77: dIP: bad address '10.0.0.300'"), "{threads} threads: {err}");
            assert!(!opts.output.exists());

            opts.rejects = Some(dir.path().join("rejects.txt"));
            let summary = convert(&opts).unwrap();
            assert_eq!((summary.lines, summary.rows, summary.rejected), (299 + 199 + 299, 795, 2));
            let rejects = std::fs::read_to_string(dir.path().join("rejects.txt")).unwrap();
            let at: Vec<String> =
                rejects.lines().map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(":")).collect();
            let b = b.display();
            assert_eq!(at, [format!("{b}:77"), format!("{b}:150")], "{threads} threads");
        }
    }
}
