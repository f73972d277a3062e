//! Outputs that appear whole or not at all: everything is written under a temporary name in the
//! target's own folder and renamed into place only after it is complete. A failed or
//! interrupted run leaves no file at the target path (the temporary file is removed on drop).
//! A target that exists and is not a regular file (`/dev/null`, `/dev/stdout`, a FIFO) is
//! written in place: renaming over a device would replace it with a regular file.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Writer settings of the report files (ports, servers, inventory): zstd, and flowlens's name.
pub fn report_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(format!("flowlens {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Writes one batch as a report Parquet file, under a temporary name and renamed into place.
pub fn write_parquet_batch(path: &Path, batch: &RecordBatch) -> Result<()> {
    let file = AtomicFile::create(path)?;
    let out = file.file().map_err(|e| Error::io(path, e))?;
    let mut w = ArrowWriter::try_new(out, batch.schema(), Some(report_properties()))?;
    w.write(batch)?;
    w.close()?;
    file.commit()?;
    Ok(())
}

/// A file being written; [`AtomicFile::commit`] renames it into place.
pub struct AtomicFile {
    target: PathBuf,
    inner: Inner,
    /// The temporary file is removed if a signal ends the process before the commit.
    _interrupt: Option<crate::interrupt::Registered>,
}

enum Inner {
    /// A temporary file beside the target, renamed onto it on commit.
    Temp(tempfile::NamedTempFile),
    /// The target itself: a device, FIFO or socket that exists already.
    Special(std::fs::File),
}

impl AtomicFile {
    pub fn create(target: &Path) -> Result<Self> {
        if is_special(target) {
            let f = std::fs::OpenOptions::new().write(true).open(target).map_err(|e| Error::io(target, e))?;
            return Ok(AtomicFile { target: target.to_path_buf(), inner: Inner::Special(f), _interrupt: None });
        }
        let dir = parent_dir(target);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // Temporary files are private (0600) by default; the finished output should have the
        // usual permissions of a new file (0644 before the umask).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        let (tmp, registered) =
            crate::interrupt::create(|| builder.tempfile_in(&dir)).map_err(|e| Error::io(&dir, e))?;
        Ok(AtomicFile { target: target.to_path_buf(), inner: Inner::Temp(tmp), _interrupt: Some(registered) })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The open file, for writers that take `File`.
    pub fn file(&self) -> std::io::Result<std::fs::File> {
        match &self.inner {
            Inner::Temp(tmp) => tmp.as_file().try_clone(),
            Inner::Special(f) => f.try_clone(),
        }
    }

    /// Renames the finished file onto its target, replacing what was there.
    pub fn commit(self) -> Result<PathBuf> {
        match self.inner {
            Inner::Temp(tmp) => {
                tmp.as_file().sync_all().map_err(|e| Error::io(&self.target, e))?;
                tmp.persist(&self.target).map_err(|e| Error::io(&self.target, e.error))?;
            }
            Inner::Special(_) => {}
        }
        Ok(self.target)
    }
}

/// A file being written that asks the kernel to start writing its data to disk every
/// [`SYNC_AHEAD`] bytes. Without it, a large output sits in the page cache until the fsync
/// before the rename, which then waits for all of it (60 ms for 170 MB here); with it, the
/// disk writes while the conversion goes on and the fsync finds little left. Only a hint: the
/// fsync still decides, and reports any error. Linux only (`sync_file_range`); elsewhere the
/// writes pass straight through.
pub struct SyncAhead {
    file: std::fs::File,
    written: u64,
    started: u64,
}

/// Bytes written between two requests to start writeback.
pub const SYNC_AHEAD: u64 = 8 << 20;

impl SyncAhead {
    pub fn new(file: std::fs::File) -> Self {
        SyncAhead { file, written: 0, started: 0 }
    }

    /// Asks for writeback of the bytes written since the last request.
    fn start_writeback(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (from, len) = (self.started as libc::off64_t, (self.written - self.started) as libc::off64_t);
            // SAFETY: sync_file_range only reads the descriptor, which `self.file` keeps open.
            // It starts writeback of the range and returns without waiting; a failure is not
            // an error (the fsync at commit writes whatever is left).
            unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), from, len, libc::SYNC_FILE_RANGE_WRITE);
            }
        }
        self.started = self.written;
    }
}

impl Write for SyncAhead {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= SYNC_AHEAD {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// True when `path` exists and is neither a regular file nor a folder (following links).
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// A buffered text output to a file (atomically) or to stdout.
pub enum TextOut {
    File(BufWriter<std::fs::File>, AtomicFile),
    Stdout(BufWriter<std::io::Stdout>),
}

impl TextOut {
    /// `None` or `-` is stdout.
    pub fn create(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) if p.as_os_str() != "-" => {
                let f = AtomicFile::create(p)?;
                let file = f.file().map_err(|e| Error::io(p, e))?;
                Ok(TextOut::File(BufWriter::with_capacity(1 << 20, file), f))
            }
            _ => Ok(TextOut::Stdout(BufWriter::with_capacity(1 << 16, std::io::stdout()))),
        }
    }

    /// The target's name for error messages (`<stdout>` for stdout).
    pub fn name(&self) -> PathBuf {
        match self {
            TextOut::File(_, f) => f.target().to_path_buf(),
            TextOut::Stdout(_) => "<stdout>".into(),
        }
    }

    pub fn finish(self) -> Result<()> {
        match self {
            TextOut::File(mut w, f) => {
                w.flush().map_err(|e| Error::io(f.target(), e))?;
                drop(w);
                f.commit()?;
            }
            TextOut::Stdout(mut w) => w.flush().map_err(|e| Error::io("<stdout>", e))?,
        }
        Ok(())
    }
}

impl Write for TextOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            TextOut::File(w, _) => w.write(buf),
            TextOut::Stdout(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            TextOut::File(w, _) => w.write_all(buf),
            TextOut::Stdout(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            TextOut::File(w, _) => w.flush(),
            TextOut::Stdout(w) => w.flush(),
        }
    }
}

/// The folder a path lives in (`.` for a bare file name).
pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Puts a finished folder `staged` at `target`, replacing an existing folder there. The old
/// folder is moved aside first and removed only after the new one is in place.
pub fn replace_dir(staged: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        let aside = target.with_file_name(format!(
            ".{}.old-{}",
            target.file_name().and_then(|n| n.to_str()).unwrap_or("dir"),
            std::process::id()
        ));
        std::fs::rename(target, &aside).map_err(|e| Error::io(target, e))?;
        std::fs::rename(staged, target).map_err(|e| Error::io(target, e))?;
        std::fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
    } else {
        std::fs::rename(staged, target).map_err(|e| Error::io(target, e))?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn regular_target_appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let f = AtomicFile::create(&target).unwrap();
        f.file().unwrap().write_all(b"a,b\n").unwrap();
        assert!(!target.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    /// A FIFO (like /dev/null or /dev/stdout) is written in place and stays a FIFO: renaming a
    /// temporary file over a device once turned this machine's /dev/null into a regular file.
    #[test]
    fn special_target_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: mkfifo is not available");
            return;
        }
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let f = AtomicFile::create(&fifo).unwrap();
        f.file().unwrap().write_all(b"rows\n").unwrap();
        f.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"rows\n");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file beside it");
    }

    /// Writes pass through unchanged across several writeback requests, in pieces of any size.
    #[test]
    fn sync_ahead_writes_everything_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let data: Vec<u8> = (0..(2 * SYNC_AHEAD as usize + 12345)).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = SyncAhead::new(std::fs::File::create(&path).unwrap());
        let mut at = 0;
        for size in [1, 1 << 20, 3, SYNC_AHEAD as usize, 65536].iter().cycle() {
            let end = (at + size).min(data.len());
            out.write_all(&data[at..end]).unwrap();
            at = end;
            if at == data.len() {
                break;
            }
        }
        out.flush().unwrap();
        assert_eq!(out.written, data.len() as u64);
        assert!(out.started >= SYNC_AHEAD, "writeback was never requested");
        drop(out);
        assert!(std::fs::read(&path).unwrap() == data);
    }
}
