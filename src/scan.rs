//! Reading flows Parquet back: files and hive folders, with projection.
//!
//! A store folder holds `date=YYYY-MM-DD/part-*.parquet` files whose extra columns may differ,
//! so readers union columns by name ([`union_schema`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::{Field, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use crate::error::{Error, Result};

/// Every `.parquet` file named or found below the named folders, sorted; hidden files and
/// folders (staging areas start with '.') are skipped.
pub fn list_parquet(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::input(names.join(" "), "no .parquet files found"));
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if name.ends_with(".parquet") {
            out.push(p);
        }
    }
    Ok(())
}

/// Opens one file's reader builder.
pub fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::input(path.display().to_string(), format!("not a readable Parquet file: {e}")))
}

/// The Arrow schema of one file.
pub fn file_schema(path: &Path) -> Result<SchemaRef> {
    Ok(open(path)?.schema().clone())
}

/// The columns of all files, by name, in order of first appearance.
pub fn union_schema(paths: &[PathBuf]) -> Result<Vec<Field>> {
    let mut fields: Vec<Field> = Vec::new();
    for p in paths {
        for f in file_schema(p)?.fields() {
            if !fields.iter().any(|x| x.name() == f.name()) {
                fields.push(f.as_ref().clone());
            }
        }
    }
    Ok(fields)
}

/// A reader over one file, keeping only the columns named in `columns` that the file has.
pub fn read_columns(path: &Path, columns: &[&str], batch_size: usize) -> Result<ParquetRecordBatchReader> {
    let builder = open(path)?;
    let schema = builder.schema().clone();
    let indices: Vec<usize> = columns.iter().filter_map(|c| schema.index_of(c).ok()).collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    Ok(builder.with_projection(mask).with_batch_size(batch_size).build()?)
}

/// Every batch of one file, all columns (for tests and small files).
pub fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
    let reader = open(path)?.build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}
