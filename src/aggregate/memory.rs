//! The reports' memory budget: `--memory SIZE` and `--temp-dir DIR`.

use std::path::PathBuf;

/// The default budget: 1 GiB, which a 60M-row day fits with the default shard counts, and which
/// most machines that keep flow archives have to spare.
pub const DEFAULT_BYTES: u64 = 1 << 30;

/// The smallest budget taken: below it the workers would spill after nearly every batch.
pub const MIN_BYTES: u64 = 16 << 20;

/// How much the aggregations may hold, and where they spill past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    pub bytes: u64,
    /// Where spill files go; `None`: the system's temporary folder (`TMPDIR`, else `/tmp`).
    pub temp_dir: Option<PathBuf>,
    /// Say nothing on stderr when spilling.
    pub quiet: bool,
}

impl Default for Memory {
    fn default() -> Self {
        Memory { bytes: DEFAULT_BYTES, temp_dir: None, quiet: false }
    }
}

impl Memory {
    pub fn new(bytes: u64, temp_dir: Option<PathBuf>) -> Self {
        Memory { bytes, temp_dir, quiet: false }
    }

    /// The folder spill files go in.
    pub fn temp_parent(&self) -> PathBuf {
        self.temp_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

/// Bytes a hash table (hashbrown, std's and ahash's maps) allocates for `capacity` entries of
/// `entry` bytes: its buckets (a power of two, of which at most 7/8 are usable) times the entry
/// and its control byte. `capacity()` counts only the usable slots, an eighth less.
pub fn table_bytes(capacity: usize, entry: usize) -> usize {
    let buckets = match capacity {
        0 => 0,
        c if c < 7 => (c + 1).next_power_of_two(),
        c => (c / 7 * 8).next_power_of_two(),
    };
    buckets * (entry + 1)
}

/// Parses a size: a number of bytes with an optional binary suffix `K`, `M`, `G`, `T` (also
/// `KB`, `KiB`, any case): `512M`, `2G`, `1.5G`. At least [`MIN_BYTES`].
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("'{s}' is not a size: write a number with K, M, G or T, e.g. 512M or 2G")),
    };
    let value: f64 = num.parse().map_err(|_| format!("'{s}' is not a size: write e.g. 512M or 2G"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("'{s}' is too large"));
    }
    let bytes = bytes as u64;
    if bytes < MIN_BYTES {
        return Err(format!("'{s}' is too small: the reports need at least {}M", MIN_BYTES >> 20));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_bytes_counts_every_bucket() {
        let mut m: ahash::AHashMap<u64, u64> = ahash::AHashMap::new();
        assert_eq!(table_bytes(m.capacity(), 16), 0);
        for n in 1..5000u64 {
            m.insert(n, n);
            let buckets = table_bytes(m.capacity(), 16) / 17;
            assert!(buckets.is_power_of_two() && buckets > m.capacity(), "{n}: {buckets} for {}", m.capacity());
            assert!(m.capacity() * 8 / 7 <= buckets, "{n}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("2gib").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("65536K").unwrap(), 64 << 20);
        assert_eq!(parse_size("1073741824").unwrap(), 1 << 30);
        assert!(parse_size("1M").unwrap_err().contains("too small"));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("2X").is_err());
        assert!(parse_size("").is_err());
    }
}
