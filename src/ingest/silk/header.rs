//! The header of a SiLK file (file version 16 and later, every SiLK since 1.0): a fixed 16-byte
//! start, then header entries, up to a length that is a multiple of the record size.
//!
//! ```text
//! 0  magic DE AD BE EF         8  SiLK version (u32)
//! 4  flags (bit 0: big-endian  12 record size (u16)
//!    records)                  14 record version (u16)
//! 5  record format id          16 entries: id (u32), length (u32, the entry's whole length),
//! 6  file version                 body; id 0 ends the list and its length covers the padding
//! 7  compression
//! ```
//!
//! The header itself is big-endian whatever the records are. Every length is checked against
//! the bytes present and a named maximum before anything is sliced or kept.

use std::fmt;

/// The magic number every SiLK file starts with.
pub const MAGIC: [u8; 4] = [0xDE, 0xAD, 0xBE, 0xEF];
/// The fixed part of the header.
pub const START_LEN: usize = 16;
/// The first file version with header entries (SiLK 1.0, 2008). Older files have a legacy
/// header this reader does not parse.
pub const FIRST_EXPANDED_VERSION: u8 = 16;
/// The longest header accepted. SiLK's own headers are a few hundred bytes (an invocation
/// entry per tool that touched the file, annotations); a longer one is taken as corrupt rather
/// than read into memory.
pub const MAX_HEADER: usize = 1 << 20;
/// The most header entries kept, for the same reason.
pub const MAX_ENTRIES: usize = 1_000;

/// Header entry ids (SiLK's `SK_HENTRY_*`).
const ENTRY_END: u32 = 0;
const ENTRY_PACKEDFILE: u32 = 1;
const ENTRY_INVOCATION: u32 = 2;
const ENTRY_ANNOTATION: u32 = 3;
const ENTRY_PROBENAME: u32 = 4;
/// A packed-file entry: id, length, start hour (i64 ms), flow type (u32), sensor (u32).
const PACKEDFILE_LEN: usize = 24;

/// How the records after the header are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zlib,
    Lzo1x,
    Snappy,
}

impl Compression {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Zlib,
            2 => Compression::Lzo1x,
            3 => Compression::Snappy,
            _ => return None,
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Zlib => "zlib",
            Compression::Lzo1x => "lzo1x",
            Compression::Snappy => "snappy",
        })
    }
}

/// The packed-file entry that `rwflowpack` (and `rwallformats`) write: the hour the file holds,
/// and the flow type and sensor of every record in it. The repository formats that do not store
/// these per record take them from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedFile {
    /// Start of the hour, milliseconds since the epoch.
    pub start_ms: i64,
    pub flowtype: u32,
    pub sensor: u32,
}

/// A header entry. Those a reader needs are parsed; others are kept by id and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEntry {
    PackedFile(PackedFile),
    /// The command line of a tool that wrote the file.
    Invocation(String),
    Annotation(String),
    ProbeName(String),
    /// Any other entry (prefix maps, bags, sets, ... belong to other file types): its id and
    /// body length.
    Other {
        id: u32,
        len: usize,
    },
}

/// The parsed header of a SiLK flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilkHeader {
    /// Records are big-endian (flags bit 0); the header always is.
    pub big_endian: bool,
    /// Record format id (`FT_RWIPV6ROUTING` = 0x0c, ...); see [`super::format_name`].
    pub format: u8,
    pub file_version: u8,
    pub compression: Compression,
    /// The SiLK release that wrote the file, as SiLK encodes it (3.19.1 = 3019001).
    pub silk_version: u32,
    pub record_size: u16,
    pub record_version: u16,
    pub entries: Vec<HeaderEntry>,
    header_len: usize,
}

/// True when `head` starts with SiLK's magic number.
pub fn is_silk(head: &[u8]) -> bool {
    head.starts_with(&MAGIC)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl SilkHeader {
    /// Parses the header from the first bytes of a file. `bytes` may hold more than the header
    /// (the records after it are not looked at) but must hold all of it: a header cut short is
    /// an error saying how many bytes it needs. Never panics, never allocates more than the
    /// bytes given.
    pub fn parse(bytes: &[u8]) -> Result<SilkHeader, String> {
        if bytes.len() < 4 || !is_silk(bytes) {
            return Err("not a SiLK file (it does not start with the magic number 0xDEADBEEF)".into());
        }
        if bytes.len() < START_LEN {
            return Err(format!("SiLK header cut short: {} of its first {START_LEN} bytes", bytes.len()));
        }
        let short = |what: &str| format!("SiLK header cut short in {what} ({} bytes in the file)", bytes.len());
        let file_version = bytes[6];
        if file_version < FIRST_EXPANDED_VERSION {
            return Err(format!(
                "SiLK file version {file_version} (a legacy header, SiLK before 1.0) is not supported; \
                 rewrite it with a current rwcat"
            ));
        }
        let compression = Compression::from_id(bytes[7]).ok_or_else(|| {
            format!("unknown SiLK compression method {} (known: 0 none, 1 zlib, 2 lzo1x, 3 snappy)", bytes[7])
        })?;
        let silk_version = be32(bytes, 8).ok_or_else(|| short("the SiLK version"))?;
        let record_size = be16(bytes, 12).ok_or_else(|| short("the record size"))?;
        let record_version = be16(bytes, 14).ok_or_else(|| short("the record version"))?;
        if record_size == 0 {
            return Err("SiLK header gives a record size of 0".into());
        }
        let mut entries = Vec::new();
        let mut at = START_LEN;
        loop {
            if at > MAX_HEADER {
                return Err(format!("SiLK header longer than {MAX_HEADER} bytes: taken as corrupt"));
            }
            let id = be32(bytes, at).ok_or_else(|| short(&format!("the header entry at byte {at}")))?;
            let len = be32(bytes, at + 4).ok_or_else(|| short(&format!("the header entry at byte {at}")))? as usize;
            if len < 8 {
                return Err(format!("SiLK header entry at byte {at} has a length of {len}, less than its own 8 bytes"));
            }
            if len > MAX_HEADER || at + len > MAX_HEADER {
                return Err(format!(
                    "SiLK header entry at byte {at} is {len} bytes long: more than the {MAX_HEADER} a header may have"
                ));
            }
            let body = bytes.get(at + 8..at + len).ok_or_else(|| {
                format!(
                    "SiLK header cut short: the entry at byte {at} is {len} bytes long, the file has {} after it",
                    bytes.len().saturating_sub(at)
                )
            })?;
            at += len;
            if id == ENTRY_END {
                break;
            }
            if entries.len() == MAX_ENTRIES {
                return Err(format!("SiLK header has more than {MAX_ENTRIES} entries: taken as corrupt"));
            }
            let text = |b: &[u8]| {
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                String::from_utf8_lossy(&b[..end]).into_owned()
            };
            entries.push(match id {
                ENTRY_PACKEDFILE => {
                    if len != PACKEDFILE_LEN {
                        return Err(format!("SiLK packed-file header entry is {len} bytes long, not {PACKEDFILE_LEN}"));
                    }
                    HeaderEntry::PackedFile(PackedFile {
                        start_ms: be64(body, 0).unwrap_or(0) as i64,
                        flowtype: be32(body, 8).unwrap_or(0),
                        sensor: be32(body, 12).unwrap_or(0),
                    })
                }
                ENTRY_INVOCATION => HeaderEntry::Invocation(text(body)),
                ENTRY_ANNOTATION => HeaderEntry::Annotation(text(body)),
                ENTRY_PROBENAME => HeaderEntry::ProbeName(text(body)),
                _ => HeaderEntry::Other { id, len: body.len() },
            });
        }
        Ok(SilkHeader {
            big_endian: bytes[4] & 1 == 1,
            format: bytes[5],
            file_version,
            compression,
            silk_version,
            record_size,
            record_version,
            entries,
            header_len: at,
        })
    }

    /// Bytes from the start of the file to the first record (or block).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The packed-file entry, when the file has one.
    pub fn packed_file(&self) -> Option<PackedFile> {
        self.entries.iter().find_map(|e| match e {
            HeaderEntry::PackedFile(p) => Some(*p),
            _ => None,
        })
    }

    /// "FT_RWIPV6ROUTING v1, 88-byte records, lzo1x, little-endian": for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} v{}, {}-byte records, {}, {}-endian",
            super::format_name(self.format),
            self.record_version,
            self.record_size,
            self.compression,
            if self.big_endian { "big" } else { "little" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header: the start, the given entries, and an end marker padding to `record_size`.
    pub(crate) fn header(format: u8, comp: u8, record_size: u16, version: u16, entries: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut h = MAGIC.to_vec();
        h.extend([1, format, 16, comp]);
        h.extend(3_019_001u32.to_be_bytes());
        h.extend(record_size.to_be_bytes());
        h.extend(version.to_be_bytes());
        for (id, body) in entries {
            h.extend(id.to_be_bytes());
            h.extend((body.len() as u32 + 8).to_be_bytes());
            h.extend(body);
        }
        let mut len = h.len() + 8;
        len = len.div_ceil(record_size as usize) * record_size as usize;
        let pad = len - h.len();
        h.extend(0u32.to_be_bytes());
        h.extend((pad as u32).to_be_bytes());
        h.resize(len, 0);
        h
    }

    #[test]
    fn parses_start_entries_and_length() {
        let mut pf = (1_700_000_000_000i64 - 1_700_000_000_000 % 3_600_000).to_be_bytes().to_vec();
        pf.extend(2u32.to_be_bytes());
        pf.extend(3u32.to_be_bytes());
        let h = header(0x0b, 2, 68, 1, &[(1, pf), (2, b"rwflowpack --x\0".to_vec()), (77, vec![1, 2, 3])]);
        let p = SilkHeader::parse(&h).unwrap();
        assert_eq!(p.header_len(), h.len());
        assert_eq!(p.header_len() % 68, 0);
        assert!(p.big_endian);
        assert_eq!((p.format, p.record_size, p.record_version), (0x0b, 68, 1));
        assert_eq!(p.compression, Compression::Lzo1x);
        assert_eq!(p.packed_file().unwrap().sensor, 3);
        assert_eq!(p.entries[1], HeaderEntry::Invocation("rwflowpack --x".into()));
        assert_eq!(p.entries[2], HeaderEntry::Other { id: 77, len: 3 });
        assert!(p.describe().starts_with("FT_RWIPV6 (0x0b) v1, 68-byte records, lzo1x, big"), "{}", p.describe());
    }

    #[test]
    fn bad_headers_are_clear_errors() {
        let good = header(0x0c, 0, 88, 1, &[]);
        let err = |b: &[u8]| SilkHeader::parse(b).unwrap_err();
        assert!(err(b"\xde\xad\xbe").contains("not a SiLK file"));
        assert!(err(b"PK\x03\x04 not silk at all").contains("magic"));
        for n in 4..good.len() {
            assert!(err(&good[..n]).contains("cut short"), "{n}: {}", err(&good[..n]));
        }
        let mut b = good.clone();
        b[7] = 9;
        assert!(err(&b).contains("unknown SiLK compression method 9"), "{}", err(&b));
        let mut b = good.clone();
        b[6] = 8;
        assert!(err(&b).contains("legacy header"));
        let mut b = good.clone();
        b[12..14].copy_from_slice(&[0, 0]);
        assert!(err(&b).contains("record size of 0"));
        let mut b = good.clone();
        b[20..24].copy_from_slice(&4u32.to_be_bytes());
        assert!(err(&b).contains("less than its own 8 bytes"));
        let mut b = good.clone();
        b[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(err(&b).contains("more than the"), "{}", err(&b));
        let mut b = good.clone();
        b[16..20].copy_from_slice(&1u32.to_be_bytes());
        assert!(err(&b).contains("packed-file header entry is"), "{}", err(&b));
    }
}
