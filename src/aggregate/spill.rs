//! Spill files: a report's state written out by shard when a worker passes its share of the
//! memory budget, read back one shard at a time for the merge.
//!
//! A [`Spill`] owns a temporary folder (created on the first run, in `--temp-dir` or the
//! system's temporary folder) that is removed when the `Spill` is dropped, on success and on
//! error alike, and on Ctrl-C or SIGTERM (it is registered with [`crate::interrupt`]). Each
//! spill is one run file: the shards' records one after the other, with the offsets of the
//! shards kept in memory. A report encodes and decodes its records itself ([`Fields`]): `ports`
//! writes fixed-width little-endian integers and reads a shard of a run whole
//! ([`Spill::for_each_run`]); the servers and findings write each record behind its length
//! byte ([`put_record`]), mostly as varints ([`put_varint`]), and stream it back record by record
//! ([`Spill::cursors`]). Their conversations are mostly one flow each way with small counters,
//! so a varint record is about a third of the fixed-width one: less to write, to copy and to
//! keep on disk.

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
                // Made and registered at once: a Ctrl-C as the folder appears removes it.
                let (dir, reg) =
                    interrupt::create(|| tempfile::Builder::new().prefix("flowlens-spill-").tempdir_in(&self.parent))
                        .map_err(|e| self.full_disk(&self.parent, e))?;
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

    /// A cursor over `shard` of each run that holds records of it (each written by
    /// [`put_record`]).
    pub fn cursors(&self, shard: usize) -> Result<Vec<RunCursor>> {
        self.ranges(shard)
            .into_iter()
            .map(|(path, at, end)| {
                let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
                Ok(RunCursor { file, path, at, end, buf: Vec::new(), pos: 0 })
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

/// Bytes a [`RunCursor`] reads at a time.
const CURSOR_BYTES: usize = 256 * 1024;

/// Appends one record to `buf`: its length byte, then what `fill` writes (at most 255 bytes).
#[inline]
pub fn put_record(buf: &mut Vec<u8>, fill: impl FnOnce(&mut Vec<u8>)) {
    let at = buf.len();
    buf.push(0);
    fill(buf);
    let n = buf.len() - at - 1;
    assert!(n <= u8::MAX as usize, "a spill record of {n} bytes");
    buf[at] = n as u8;
}

/// Appends `v` as a LEB128 varint: 7 bits a byte, low first (1 byte below 128, 10 at most).
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a time and a second one as the wrapping difference from it, zigzag-encoded: a span
/// of a few seconds takes 3-4 bytes, and any pair of values (the `i64::MAX`/`i64::MIN` of "no
/// time" included) reads back exactly ([`Fields::time_pair`]).
#[inline]
pub fn put_time_pair(buf: &mut Vec<u8>, first: i64, last: i64) {
    buf.extend_from_slice(&first.to_le_bytes());
    let d = last.wrapping_sub(first);
    put_varint(buf, ((d << 1) ^ (d >> 63)) as u64);
}

/// Writes `items` with a report's `encode` (each one record, [`put_record`]) and reads them back
/// with its `decode`, for tests of its encoding: the first record's length, and what was read.
#[cfg(test)]
pub fn round_trip<K: Copy, V>(
    items: &[(K, V)],
    encode: impl Fn(&V, K, &mut Vec<u8>),
    decode: fn(&[u8]) -> (K, V),
) -> (usize, Vec<(K, V)>) {
    let mut buf = Vec::new();
    for (k, v) in items {
        encode(v, *k, &mut buf);
    }
    let mut read = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let n = buf[at] as usize;
        read.push(decode(&buf[at + 1..at + 1 + n]));
        at += 1 + n;
    }
    (buf.first().map_or(0, |&n| n as usize), read)
}

/// One shard of one run, read a chunk at a time: a source of a streaming merge, which holds a
/// chunk per run instead of the shard. Records are length-prefixed ([`put_record`]); one that
/// straddles two chunks is carried over.
pub struct RunCursor {
    file: File,
    path: PathBuf,
    at: u64,
    end: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl RunCursor {
    /// The next record, or `None` at the end of the shard.
    pub fn next_record(&mut self) -> Result<Option<&[u8]>> {
        loop {
            if let Some(&n) = self.buf.get(self.pos) {
                if self.pos + 1 + n as usize <= self.buf.len() {
                    break;
                }
            }
            if self.at >= self.end {
                if self.pos < self.buf.len() {
                    let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "spill run ends inside a record");
                    return Err(Error::io(&self.path, e));
                }
                return Ok(None);
            }
            // Keep the unread part of the chunk, then read the next one after it.
            self.buf.drain(..self.pos);
            self.pos = 0;
            let kept = self.buf.len();
            let want = ((self.end - self.at) as usize).min(CURSOR_BYTES);
            self.buf.resize(kept + want, 0);
            self.file.read_exact_at(&mut self.buf[kept..], self.at).map_err(|e| Error::io(&self.path, e))?;
            self.at += want as u64;
        }
        let start = self.pos + 1;
        let n = self.buf[self.pos] as usize;
        self.pos = start + n;
        Ok(Some(&self.buf[start..start + n]))
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
    /// A varint written by [`put_varint`] (a truncated one reads as what it holds).
    #[inline]
    pub fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for (i, &b) in self.0.iter().enumerate() {
            v |= ((b & 0x7f) as u64) << (7 * i as u32).min(63);
            if b & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return v;
            }
        }
        self.0 = &[];
        v
    }
    /// A pair written by [`put_time_pair`].
    #[inline]
    pub fn time_pair(&mut self) -> (i64, i64) {
        let first = self.i64();
        let z = self.varint();
        let d = (z >> 1) as i64 ^ -((z & 1) as i64);
        (first, first.wrapping_add(d))
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
        // Shard 1 of the first run spans several cursor chunks, with records of varying
        // lengths (varints of 1 to 10 bytes), so that some straddle two chunks.
        let n = 3 * CURSOR_BYTES as u64 / 12 + 5;
        let record = |v: u64, buf: &mut Vec<u8>| {
            put_record(buf, |b| {
                put_varint(b, v);
                put_varint(b, v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (v % 64));
                b.extend_from_slice(&(!v).to_le_bytes());
            })
        };
        spill
            .write_run(|shard, buf| {
                if shard == 1 {
                    (0..n).for_each(|v| record(v, buf));
                }
            })
            .unwrap();
        spill.write_run(|shard, buf| record(1000 + shard as u64, buf)).unwrap();
        let read = |shard| -> Vec<Vec<u64>> {
            let mut out = Vec::new();
            for mut c in spill.cursors(shard).unwrap() {
                let mut v = Vec::new();
                while let Some(rec) = c.next_record().unwrap() {
                    let mut f = Fields(rec);
                    let x = f.varint();
                    assert_eq!(f.varint(), x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (x % 64));
                    assert_eq!(f.u64(), !x);
                    assert!(f.0.is_empty());
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
    fn varints_and_time_pairs_read_back_exactly() {
        let values = [0, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX];
        let times = [i64::MIN, i64::MIN + 1, -1, 0, 1, 1_700_000_000_000_000, i64::MAX - 1, i64::MAX];
        let mut buf = Vec::new();
        for v in values {
            put_varint(&mut buf, v);
        }
        for a in times {
            for b in times {
                put_time_pair(&mut buf, a, b);
            }
        }
        let mut f = Fields(&buf);
        for v in values {
            assert_eq!(f.varint(), v);
        }
        for a in times {
            for b in times {
                assert_eq!(f.time_pair(), (a, b));
            }
        }
        assert!(f.0.is_empty());
        let mut short = Vec::new();
        put_time_pair(&mut short, 1_700_000_000_000_000, 1_700_000_002_500_000);
        assert_eq!(short.len(), 8 + 4, "a 2.5 s span takes four bytes");
    }

    #[test]
    fn a_run_ending_inside_a_record_is_an_error() {
        let parent = tempfile::tempdir().unwrap();
        let memory = Memory { quiet: true, ..Memory::new(64 << 20, Some(parent.path().to_path_buf())) };
        let spill = Spill::new("test", 1, &memory);
        spill.write_run(|_, buf| buf.extend_from_slice(&[5, 1, 2])).unwrap();
        let mut c = spill.cursors(0).unwrap().pop().unwrap();
        let e = c.next_record().unwrap_err().to_string();
        assert!(e.contains("ends inside a record"), "{e}");
    }

    #[test]
    fn an_unwritable_temp_dir_is_named() {
        let memory = Memory { quiet: true, ..Memory::new(64 << 20, Some("/nonexistent/flowlens".into())) };
        let e = Spill::new("ports", 2, &memory).write_run(|_, _| {}).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/flowlens") && e.contains("--temp-dir"), "{e}");
    }
}
