//! flowlens: columnar batch analytics for network flow records.
//!
//! The pipeline is text → Parquet → parallel aggregates → reports; each stage reads only the
//! previous stage's output. This crate is the library behind the `flowlens` binary: `ingest`
//! parses flow text, `convert` writes the flows Parquet, `scan` reads it back (keeping the flows of a
//! `select::Selection`), `cat` prints it as
//! rwcut text and `gen` makes realistic synthetic flows.

pub mod aggregate;
pub mod cat;
pub mod convert;
pub mod daily;
pub mod error;
pub mod findings;
pub mod gen;
pub mod ingest;
pub mod interrupt;
pub mod output;
pub mod ports;
pub mod pqdict;
pub mod pqwrite;
pub mod progress;
pub mod report;
pub mod resolve;
pub mod scan;
pub mod schema;
pub mod select;
pub mod servers;
pub mod services;
pub mod sql;
pub mod text;
pub mod units;

pub use error::{Error, Result};

/// A rayon pool of `n` (at least one) workers.
pub fn thread_pool(n: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n.max(1))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {n} threads: {e}")))
}

/// Runs `f` on a pool of `threads` workers, or on the global pool (one per core) for `None`.
pub fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let pool = threads.map(thread_pool).transpose()?;
    on_pool(pool.as_ref(), f)
}

/// Runs `f` on `pool` when there is one, else on the calling thread (where rayon work goes to
/// the global pool).
pub fn on_pool<R: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(pool) => pool.install(f),
        None => f(),
    }
}
