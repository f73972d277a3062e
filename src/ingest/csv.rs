//! CSV and TSV with a header line whose names map onto flow columns through the alias table
//! (`columns.rs`); RFC 4180 quoting is honoured. Also the fallback for `--columns` with `,`/tab.

use super::columns::known_count;
use super::delimited::{Delimited, Split};
use super::fields::TimeContext;

/// Separators tried, in order.
const SEPARATORS: [u8; 3] = [b',', b'\t', b';'];

pub fn header_names(line: &[u8], sep: u8) -> Vec<String> {
    let mut scratch = Vec::new();
    let mut ranges = Vec::new();
    let split = Split::Char { sep, quotes: true };
    let quoted = split.split(line, &mut scratch, &mut ranges);
    let base = if quoted { scratch.as_slice() } else { line };
    ranges.iter().map(|&(a, b)| String::from_utf8_lossy(&base[a..b]).into_owned()).collect()
}

pub fn detect(line: &[u8], sep: Option<u8>, time: &TimeContext) -> Option<Result<Delimited, String>> {
    for s in sep.map(|s| vec![s]).unwrap_or_else(|| SEPARATORS.to_vec()) {
        if !line.contains(&s) {
            continue;
        }
        let names = header_names(line, s);
        if known_count(&names) >= 3 {
            return Some(parser(names, s, Some(super::delimited::trim_bytes(line).to_vec()), time));
        }
    }
    None
}

pub fn parser(names: Vec<String>, sep: u8, header: Option<Vec<u8>>, time: &TimeContext) -> Result<Delimited, String> {
    let format = if sep == b'\t' { "tsv" } else { "csv" };
    Delimited::new(format, Split::Char { sep, quotes: true }, names, header, time.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::LineParser;

    #[test]
    fn csv_and_tsv_headers() {
        let t = TimeContext::default();
        assert_eq!(detect(b"src_ip,dst_ip,src_port,dst_port,proto", None, &t).unwrap().unwrap().format(), "csv");
        assert_eq!(detect(b"sip\tdip\tsport\tdport", None, &t).unwrap().unwrap().format(), "tsv");
        assert!(detect(b"a,b,c", None, &t).is_none());
    }
}
