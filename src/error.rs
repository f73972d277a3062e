//! The library's error type: every variant carries the context a user needs to find the problem.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line of input that does not parse. `column` names the input column (or `line`).
    #[error("{path}:{line}: {column}: {reason}")]
    Parse { path: String, line: u64, column: String, reason: String },

    /// A block or record of a binary input that cannot be read: its block number and byte
    /// offset (`column` is `block` or `record N` within the block).
    #[error("{path}: block {block} (byte offset {offset}): {column}: {reason}")]
    Block { path: String, block: u64, offset: u64, column: String, reason: String },

    /// The input as a whole cannot be read as flows (no header, unknown format, duplicated column…).
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },

    /// `error` is deliberately not named `source`: thiserror would make it the error's cause and
    /// `{:#}` would print the OS message twice.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },

    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),

    /// A bad option value or combination.
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), error: source }
    }
    pub fn input(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Input { path: path.into(), reason: reason.into() }
    }
}
