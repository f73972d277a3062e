//! The compressions of nfcapd data blocks, each undone into a worker's buffer of at most
//! [`MAX_BLOCK`](super::MAX_BLOCK) bytes: a block that would decompress to more is refused, so a
//! hostile file cannot make a worker allocate without bound.
//!
//! nfdump compresses each block's records on their own (the 12-byte block header stays plain):
//! LZO1X-1 (`lzo1x_decompress_safe`), LZ4 raw blocks (`LZ4_decompress_safe`), a bzip2 stream, or a
//! zstd frame. Crates: `lzokay` (pure Rust, MIT; the other LZO decoders on crates.io, `lzo1x` and
//! `rust-lzo`, are GPL-2.0), `lz4_flex` with its checked safe decoder, `bzip2` on the pure-Rust
//! `libbz2-rs-sys`, and `zstd`, already used for zstd-compressed text.

use super::MAX_BLOCK;

/// The compression named in byte 16 of the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Lzo,
    Bz2,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Compression::None,
            1 => Compression::Lzo,
            2 => Compression::Bz2,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lzo => "LZO",
            Compression::Bz2 => "BZ2",
            Compression::Lz4 => "LZ4",
            Compression::Zstd => "ZSTD",
        }
    }
}

/// Undoes `compression` on `data` into `scratch`; the records, or why they cannot be had.
pub fn decompress<'a>(compression: Compression, data: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<&'a [u8], String> {
    if compression == Compression::None {
        return Ok(data);
    }
    if scratch.len() < MAX_BLOCK {
        scratch.resize(MAX_BLOCK, 0);
    }
    let out = &mut scratch[..MAX_BLOCK];
    let corrupt = |e: String| format!("corrupt {} data: {e}", compression.name());
    let n = match compression {
        Compression::None => unreachable!("returned above"),
        Compression::Lzo => lzokay::decompress::decompress(data, out).map_err(|e| corrupt(format!("{e:?}")))?,
        Compression::Lz4 => lz4_flex::block::decompress_into(data, out).map_err(|e| corrupt(e.to_string()))?,
        Compression::Zstd => {
            let mut d = zstd::bulk::Decompressor::new().map_err(|e| corrupt(e.to_string()))?;
            d.decompress_to_buffer(data, out).map_err(|e| corrupt(e.to_string()))?
        }
        Compression::Bz2 => {
            let mut d = bzip2::Decompress::new(false);
            match d.decompress(data, out).map_err(|e| corrupt(e.to_string()))? {
                bzip2::Status::StreamEnd => d.total_out() as usize,
                _ if d.total_out() as usize >= MAX_BLOCK => {
                    return Err(format!("BZ2 data decompresses to more than {MAX_BLOCK} bytes"))
                }
                _ => return Err(corrupt("the stream ends early".into())),
            }
        }
    };
    Ok(&scratch[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_data_is_an_error_not_a_panic() {
        let mut scratch = Vec::new();
        let junk: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        for c in [Compression::Lzo, Compression::Lz4, Compression::Bz2, Compression::Zstd] {
            for len in [0, 1, 3, 17, 200] {
                // Either an error or at most MAX_BLOCK bytes; never a panic.
                if let Ok(out) = decompress(c, &junk[..len], &mut scratch) {
                    assert!(out.len() <= MAX_BLOCK);
                }
            }
        }
        let z = zstd::encode_all(&[7u8; 1000][..], 3).unwrap();
        assert_eq!(decompress(Compression::Zstd, &z, &mut scratch).unwrap(), &[7u8; 1000][..]);
        let l = lz4_flex::block::compress(&[9u8; 1000]);
        assert_eq!(decompress(Compression::Lz4, &l, &mut scratch).unwrap(), &[9u8; 1000][..]);
    }
}
