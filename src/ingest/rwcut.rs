//! SiLK `rwcut` text: `|`-separated columns padded to any width, a title line whose names come
//! from `--fields` in any order and subset, an optional final delimiter, and the
//! `--column-separator`/`--delimited`/`--no-columns` variants (another separator, no padding).

use super::columns::known_count;
use super::delimited::{trim_bytes, Delimited, Split};
use super::fields::TimeContext;

/// Titles that identify rwcut output even when only a few flow columns were selected.
const MIN_KNOWN_TITLES: usize = 2;

/// Splits a title line into names, dropping the empty name after a final delimiter.
pub fn title_names(line: &[u8], sep: u8) -> Vec<String> {
    let mut names: Vec<String> =
        line.split(|&c| c == sep).map(|n| String::from_utf8_lossy(trim_bytes(n)).into_owned()).collect();
    if names.len() > 1 && names.last().is_some_and(|n| n.is_empty()) {
        names.pop();
    }
    names
}

/// Recognizes an rwcut title line separated by `sep` (default `|`).
pub fn detect(line: &[u8], sep: Option<u8>, time: &TimeContext) -> Option<Result<Delimited, String>> {
    let sep = sep.unwrap_or(b'|');
    if !line.contains(&sep) {
        return None;
    }
    let names = title_names(line, sep);
    if known_count(&names) < MIN_KNOWN_TITLES.max(names.len().min(3)) {
        return None;
    }
    Some(parser(names, sep, Some(trim_bytes(line).to_vec()), time).map(|p| p.with_template(line)))
}

/// An rwcut parser for known column names (a title line or `--columns`).
pub fn parser(names: Vec<String>, sep: u8, header: Option<Vec<u8>>, time: &TimeContext) -> Result<Delimited, String> {
    Delimited::new("rwcut", Split::Char { sep, quotes: false }, names, header, time.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_subset_titles() {
        let t = TimeContext::default();
        let full = b"                                    sIP|                                    dIP|sPort|dPort|pro|   packets|     bytes|   flags|                  sTime| duration|                  eTime|sen|";
        assert!(detect(full, None, &t).unwrap().is_ok());
        assert!(detect(b"pro|sIP|sPort|dIP|dPort|", None, &t).unwrap().is_ok());
        assert!(detect(b"10.0.0.1|10.0.0.2|22|", None, &t).is_none());
        assert!(detect(b"sIP,dIP,sPort", None, &t).is_none());
        assert!(detect(b"sIP;dIP;sPort;dPort", Some(b';'), &t).unwrap().is_ok());
    }
}
