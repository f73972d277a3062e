//! Spill files: a report's state written out by shard when a worker passes its share of the
//! memory budget, read back one shard at a time for the merge.
//!
//! A [`Spill`] owns a temporary folder (created on the first run, in `--temp-dir` or the
//! system's temporary folder) that is removed when the `Spill` is dropped, on success and on
//! error alike, and on Ctrl-C or SIGTERM (it is registered with [`crate::interrupt`]). Each
//! spill is one run file: the shards' records one after the other, with the offsets of the
//! shards kept in memory. Records are fixed-width little-endian integers that the report
//! encodes and decodes itself ([`Fields`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Memory;
use crate::error::{Error, Result};
use crate::interrupt::{self, Registered};

/// One run file and where each shard's records start (one more offset than shards).
struct Run {
    path: PathBuf,
    offsets: Vec<u64>,
}

#[derive(Default)]
struct Inner {
    dir: Option<(tempfile::TempDir, Registered)>,
    runs: Vec<Run>,
    next: usize,
    bytes: u64,
}

/// A report's spill files.
pub struct Spill {
    what: &'static str,
    shards: usize,
    parent: PathBuf,
    quiet: bool,
    budget: u64,
    inner: Mutex<Inner>,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Spill {
    /// Spill files for the report `what` (named in messages), whose state is split in `shards`.
    pub fn new(what: &'static str, shards: usize, memory: &Memory) -> Self {
        Spill {
            what,
            shards,
            parent: memory.temp_parent(),
            quiet: memory.quiet,
            budget: memory.bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    /// How many runs were written.
    pub fn runs(&self) -> usize {
        lock(&self.inner).runs.len()
    }

    /// Bytes written to spill files.
    pub fn bytes(&self) -> u64 {
        lock(&self.inner).bytes
    }

    fn full_disk(&self, path: &Path, e: std::io::Error) -> Error {
        Error::input(
            self.parent.display().to_string(),
            format!(
                "cannot write the {} spill file {}: {e}; free space there, give --temp-dir on a larger disk, \
                 or a larger --memory",
                self.what,
                path.display()
            ),
        )
    }

    /// Writes one run: `fill(shard, buf)` appends the records of each shard to `buf`.
    pub fn write_run(&self, mut fill: impl FnMut(usize, &mut Vec<u8>)) -> Result<()> {
        let path = {
            let mut inner = lock(&self.inner);
            if inner.dir.is_none() {
                let dir = tempfile::Builder::new()
                    .prefix("flowlens-spill-")
                    .tempdir_in(&self.parent)
                    .map_err(|e| self.full_disk(&self.parent, e))?;
                let reg = interrupt::temp_dir(dir.path().to_path_buf());
                if !self.quiet {
                    eprintln!(
                        "flowlens: {}: the state passed the memory budget ({} MiB): spilling to {}",
                        self.what,
                        self.budget >> 20,
                        dir.path().display()
                    );
                }
                inner.dir = Some((dir, reg));
            }
            inner.next += 1;
            let dir = inner.dir.as_ref().map(|d| d.0.path().to_path_buf()).unwrap_or_default();
            dir.join(format!("{}-{}.run", self.what, inner.next))
        };
        let file = File::create(&path).map_err(|e| self.full_disk(&path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut offsets = Vec::with_capacity(self.shards + 1);
        let mut at = 0u64;
        let mut buf = Vec::new();
        for shard in 0..self.shards {
            offsets.push(at);
            buf.clear();
            fill(shard, &mut buf);
            out.write_all(&buf).map_err(|e| self.full_disk(&path, e))?;
            at += buf.len() as u64;
        }
        offsets.push(at);
        out.into_inner().map_err(|e| self.full_disk(&path, e.into_error()))?;
        let mut inner = lock(&self.inner);
        inner.bytes += at;
        inner.runs.push(Run { path, offsets });
        Ok(())
    }

    /// Where `shard` lies in each run that holds records of it: (file, from, to).
    fn ranges(&self, shard: usize) -> Vec<(PathBuf, u64, u64)> {
        lock(&self.inner)
            .runs
            .iter()
            .map(|r| (r.path.clone(), r.offsets[shard], r.offsets[shard + 1]))
            .filter(|(_, from, to)| from < to)
            .collect()
    }

    /// Bytes of `shard` in all runs.
    pub fn shard_bytes(&self, shard: usize) -> u64 {
        self.ranges(shard).iter().map(|(_, from, to)| to - from).sum()
    }

    /// A cursor over `shard` of each run that holds records of it (`record` bytes each).
    pub fn cursors(&self, shard: usize, record: usize) -> Result<Vec<RunCursor>> {
        let record = record.max(1);
        self.ranges(shard)
            .into_iter()
            .map(|(path, at, end)| {
                if !(end - at).is_multiple_of(record as u64) {
                    let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "spill run ends inside a record");
                    return Err(Error::io(&path, e));
                }
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                Ok(RunCursor { file, path, at, end, record, buf: Vec::new(), pos: 0 })
            })
            .collect()
    }

    /// Calls `f` with the records of `shard` of each run in turn (one run's in memory at a time).
    pub fn for_each_run(&self, shard: usize, mut f: impl FnMut(&[u8])) -> Result<()> {
        let mut buf = Vec::new();
        for (path, from, to) in self.ranges(shard) {
            let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
            buf.resize((to - from) as usize, 0);
            file.read_exact_at(&mut buf, from).map_err(|e| Error::io(&path, e))?;
            f(&buf);
        }
        Ok(())
    }
}

/// Bytes a [`RunCursor`] reads at a time (rounded down to whole records).
const CURSOR_BYTES: usize = 256 * 1024;

/// One shard of one run, read a chunk of whole records at a time: a source of a streaming
/// merge, which holds a chunk per run instead of the shard. [`Spill::cursors`] checks that the
/// shard holds whole records, so every chunk does.
pub struct RunCursor {
    file: File,
    path: PathBuf,
    at: u64,
    end: u64,
    record: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl RunCursor {
    /// The next record, or `None` at the end of the shard.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>> {
        if self.pos + self.record > self.buf.len() {
            if self.at >= self.end {
                return Ok(None);
            }
            let chunk = (CURSOR_BYTES / self.record).max(1) * self.record;
            let want = ((self.end - self.at) as usize).min(chunk);
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, self.at).map_err(|e| Error::io(&self.path, e))?;
            self.at += want as u64;
            self.pos = 0;
        }
        let rec = &self.buf[self.pos..self.pos + self.record];
        self.pos += self.record;
        Ok(Some(rec))
    }
}

/// Reads fixed-width little-endian fields off a record.
pub struct Fields<'a>(pub &'a [u8]);

impl Fields<'_> {
    #[inline]
    pub fn u64(&mut self) -> u64 {
        let (head, rest) = self.0.split_at(8);
        self.0 = rest;
        u64::from_le_bytes(head.try_into().unwrap_or_default())
    }
    #[inline]
    pub fn i64(&mut self) -> i64 {
        self.u64() as i64
    }
    #[inline]
    pub fn u128(&mut self) -> u128 {
        let (head, rest) = self.0.split_at(16);
        self.0 = rest;
        u128::from_le_bytes(head.try_into().unwrap_or_default())
    }
    #[inline]
    pub fn u32(&mut self) -> u32 {
        let (head, rest) = self.0.split_at(4);
        self.0 = rest;
        u32::from_le_bytes(head.try_into().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_read_back_by_shard_and_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let memory = Memory::new(64 << 20, Some(parent.path().to_path_buf()));
        let spill = Spill::new("test", 3, &Memory { quiet: true, ..memory });
        for run in 0..2u64 {
            spill
                .write_run(|shard, buf| {
                    for i in 0..shard as u64 {
                        buf.extend_from_slice(&(run * 100 + shard as u64 * 10 + i).to_le_bytes());
                    }
                })
                .unwrap();
        }
        assert_eq!(spill.runs(), 2);
        let read = |shard| -> Vec<u64> {
            let mut v = Vec::new();
            spill
                .for_each_run(shard, |buf| {
                    let mut f = Fields(buf);
                    while !f.0.is_empty() {
                        v.push(f.u64());
                    }
                })
                .unwrap();
            v
        };
        assert!(read(0).is_empty());
        assert_eq!(read(1), [10, 110]);
        assert_eq!(read(2), [20, 21, 120, 121]);
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 1);
        drop(spill);
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0, "the spill folder is removed");
    }

    #[test]
    fn cursors_read_a_shard_record_by_record_across_chunks() {
        let parent = tempfile::tempdir().unwrap();
        let memory = Memory { quiet: true, ..Memory::new(64 << 20, Some(parent.path().to_path_buf())) };
        let spill = Spill::new("test", 2, &memory);
        // Shard 1 of the first run spans several cursor chunks, with a record size that does
        // not divide the chunk.
        let n = 3 * CURSOR_BYTES as u64 / 24 + 5;
        let record = |v: u64| [v.to_le_bytes(), (v * 3).to_le_bytes(), (!v).to_le_bytes()].concat();
        spill
            .write_run(|shard, buf| {
                if shard == 1 {
                    (0..n).for_each(|v| buf.extend_from_slice(&record(v)));
                }
            })
            .unwrap();
        spill.write_run(|shard, buf| buf.extend_from_slice(&record(1000 + shard as u64))).unwrap();
        let read = |shard| -> Vec<Vec<u64>> {
            let mut out = Vec::new();
            for mut c in spill.cursors(shard, 24).unwrap() {
                let mut v = Vec::new();
                while let Some(rec) = c.next_record().unwrap() {
                    let mut f = Fields(rec);
                    let x = f.u64();
                    assert_eq!((f.u64(), f.u64()), (x * 3, !x));
                    v.push(x);
                }
                out.push(v);
            }
            out
        };
        assert_eq!(read(0), [vec![1000]], "a run without records of the shard has no cursor");
        assert_eq!(read(1), [(0..n).collect::<Vec<_>>(), vec![1001]]);
    }

    #[test]
    fn an_unwritable_temp_dir_is_named() {
        let memory = Memory { quiet: true, ..Memory::new(64 << 20, Some("/nonexistent/flowlens".into())) };
        let e = Spill::new("ports", 2, &memory).write_run(|_, _| {}).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/flowlens") && e.contains("--temp-dir"), "{e}");
    }
}
