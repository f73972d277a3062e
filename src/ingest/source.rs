//! Where flow text comes from: files, folders (recursive), or stdin; plain, gzip (multi-member)
//! or zstd, recognized by magic bytes; read in blocks of whole lines for parallel parsing.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// One input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// The name used in messages (`-` is shown as `<stdin>`).
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".into(),
            Input::File(p) => p.display().to_string(),
        }
    }
    /// The size on disk, for progress; 0 for stdin.
    pub fn size(&self) -> u64 {
        match self {
            Input::Stdin => 0,
            Input::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        }
    }
}

/// Expands the command line's inputs: `-` is stdin; a folder is every regular file below it
/// (sorted, so nfcapd's `nfcapd.YYYYMMDDhhmm` files come in time order; hidden and `.parquet`
/// files and nfcapd's unfinished `nfcapd.current.*` skipped); a file is itself.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<Input>> {
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(Input::Stdin);
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if meta.is_dir() {
            let before = out.len();
            walk(p, &mut out)?;
            if out.len() == before {
                return Err(Error::input(p.display().to_string(), "folder holds no files"));
            }
        } else {
            out.push(Input::File(p.clone()));
        }
    }
    if out.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        return Err(Error::Usage("'-' (stdin) can be given only once".into()));
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(dir, err)))
        .collect::<Result<_>>()?;
    entries.sort();
    for p in entries {
        // Hidden files (our own temporary outputs among them) and Parquet files (an earlier
        // output kept beside its archive) are not flow text.
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') || n.ends_with(".parquet")) {
            continue;
        }
        // nfcapd writes the current interval to `nfcapd.current.<pid>` and renames it to
        // `nfcapd.YYYYMMDDhhmm` when the interval ends: until then it is incomplete (its header
        // does not yet count its blocks). Named on the command line, it is read.
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("nfcapd.current")) {
            eprintln!(
                "flowlens: {}: skipped: nfcapd is still writing it (rotated files are nfcapd.YYYYMMDDhhmm)",
                p.display()
            );
            continue;
        }
        let meta = std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?;
        if meta.is_dir() {
            walk(&p, out)?;
        } else if meta.is_file() {
            out.push(Input::File(p));
        }
    }
    Ok(())
}

/// Counts the bytes read from the underlying file (compressed bytes, for progress).
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an input and undoes its compression, judged by the first bytes.
pub fn open(input: &Input, counter: Arc<AtomicU64>) -> Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match input {
        Input::Stdin => Box::new(io::stdin()),
        Input::File(p) => Box::new(File::open(p).map_err(|e| Error::io(p, e))?),
    };
    let mut reader = BufReader::with_capacity(256 * 1024, Counting { inner: raw, counter });
    let magic = {
        use std::io::BufRead;
        let buf = reader.fill_buf().map_err(|e| Error::io(input.display(), e))?;
        buf.get(..4).map(|m| [m[0], m[1], m[2], m[3]])
    };
    Ok(match magic {
        Some([0x1f, 0x8b, _, _]) => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Some([0x28, 0xb5, 0x2f, 0xfd]) => {
            Box::new(zstd::stream::read::Decoder::with_buffer(reader).map_err(|e| Error::io(input.display(), e))?)
        }
        _ => Box::new(reader),
    })
}

/// Lines longer than this are rejected rather than buffered without bound.
pub const MAX_LINE: usize = 64 * 1024;

/// A run of whole lines from one input. Blocks do not know their first line's number (counting
/// lines would cost a pass over the bytes): parsing numbers lines from 1 within the block, and
/// `convert` adds the lines of the input's earlier blocks, in order.
pub struct Block {
    /// Index of the input in the run's input list.
    pub input: usize,
    pub data: Vec<u8>,
}

/// Cuts a reader into blocks of about `size` bytes that end at line boundaries.
pub struct BlockReader {
    inner: Box<dyn Read + Send>,
    input: usize,
    carry: Vec<u8>,
    size: usize,
    eof: bool,
    /// A buffer handed back by `recycle`, filled next instead of a fresh one.
    spare: Option<Vec<u8>>,
}

impl BlockReader {
    /// `head` holds bytes already read from `inner` (format detection), which come first.
    pub fn new(inner: Box<dyn Read + Send>, input: usize, head: Vec<u8>, size: usize) -> Self {
        BlockReader { inner, input, carry: head, size: size.max(MAX_LINE * 2), eof: false, spare: None }
    }

    /// Hands back the data of a parsed block, to be filled again: a fresh 2 MiB buffer would be
    /// zeroed before every read, a recycled one only past its old length.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() >= self.size {
            self.spare = Some(buf);
        }
    }

    /// The next block, or `None` at the end of the input.
    pub fn next_block(&mut self) -> io::Result<Option<Block>> {
        let mut buf = self.spare.take().unwrap_or_default();
        // A recycled `buf` keeps its old length, so `resize` zeroes only what lies beyond it.
        // The partial line carried over from the last block comes first.
        let mut filled = self.carry.len();
        buf.resize(self.size.max(filled), 0);
        buf[..filled].copy_from_slice(&self.carry);
        while !self.eof && filled < self.size {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        self.carry.clear();
        if buf.is_empty() {
            return Ok(None);
        }
        let cut = match memchr::memrchr(b'\n', &buf) {
            Some(p) => p + 1,
            None if self.eof => buf.len(),
            None => {
                // One line fills the whole block: keep its start (it will be rejected as too
                // long) and drop the rest of it.
                self.skip_rest_of_line()?;
                buf.truncate(MAX_LINE + 1);
                buf.push(b'\n');
                buf.len()
            }
        };
        self.carry.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        Ok(Some(Block { input: self.input, data: buf }))
    }

    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                self.eof = true;
                return Ok(());
            }
            if let Some(p) = memchr::memchr(b'\n', &chunk[..n]) {
                self.carry = chunk[p + 1..n].to_vec();
                return Ok(());
            }
        }
    }
}

/// Reads up to `limit` bytes (whole lines where possible) for format detection.
pub fn read_head(r: &mut dyn Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; limit];
    let mut filled = 0;
    while filled < limit {
        match r.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if memchr::memchr_iter(b'\n', &head[..filled]).nth(8).is_some() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok(head)
}

/// An I/O error while decompressing, in words a user understands.
pub fn describe_read_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "truncated input: the compressed stream ends early (is the file complete?)".into()
        }
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            format!("corrupt compressed input: {e}")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(text: &[u8], size: usize) -> Vec<Vec<u8>> {
        blocks_after(b"", text, size, false)
    }

    /// The blocks of `head` then `text`, each buffer handed back after use when `recycle`.
    fn blocks_after(head: &[u8], text: &[u8], size: usize, recycle: bool) -> Vec<Vec<u8>> {
        let mut r = BlockReader::new(Box::new(io::Cursor::new(text.to_vec())), 0, head.to_vec(), 0);
        r.size = size;
        let mut out = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            out.push(b.data.clone());
            if recycle {
                r.recycle(b.data);
            }
        }
        out
    }

    /// Blocks cut into recycled buffers (longer than the next block's data) hold the same bytes.
    #[test]
    fn recycled_buffers_give_the_same_blocks() {
        let text: Vec<u8> = (0..5000).flat_map(|i| format!("line {i} {}\n", "x".repeat(i % 97)).into_bytes()).collect();
        let head = b"line 0 \nli";
        let fresh = blocks_after(head, &text, 1000, false);
        let recycled = blocks_after(head, &text, 1000, true);
        assert_eq!(recycled.concat(), [&head[..], &text].concat());
        assert!(recycled.iter().all(|b| b.ends_with(b"\n")));
        assert_eq!(recycled, fresh);
    }

    #[test]
    fn blocks_end_on_lines() {
        let text = b"a\nbb\nccc\ndddd\nlast";
        let got = blocks(text, 6);
        assert!(got.len() > 1);
        let joined: Vec<u8> = got.concat();
        assert_eq!(joined, text);
        for data in &got {
            assert!(data.ends_with(b"\n") || data.ends_with(b"last"));
        }
    }

    #[test]
    fn multi_member_gzip_and_zstd() {
        use std::io::Write;
        let mut gz = Vec::new();
        for part in [&b"one\n"[..], b"two\n"] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            gz.extend(e.finish().unwrap());
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gz");
        std::fs::write(&p, &gz).unwrap();
        let mut s = String::new();
        open(&Input::File(p.clone()), Default::default()).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "one\ntwo\n");
        std::fs::write(&p, zstd::encode_all(&b"three\n"[..], 3).unwrap()).unwrap();
        s.clear();
        open(&Input::File(p.clone()), Default::default()).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "three\n");
        // A truncated gzip is an error, not a short read.
        std::fs::write(&p, &gz[..gz.len() / 2 - 3]).unwrap();
        let err = open(&Input::File(p), Default::default()).unwrap().read_to_string(&mut s).unwrap_err();
        assert!(describe_read_error(&err).contains("truncated"), "{err}");
    }
}
