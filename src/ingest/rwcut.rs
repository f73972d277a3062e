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

    /// `rwcut --all-fields` prints every time twice (`sTime` and `sTime+msec`, …); it used to be
    /// refused as "the same flow column" (issue 20). The more precise column is kept, and two
    /// that disagree are an error on that line.
    #[test]
    fn all_fields_times_at_two_precisions() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::TimestampMicrosecondType;
        let t = TimeContext::default();
        let title = "sIP|dIP|sTime|duration|eTime|sTime+msec|eTime+msec|dur+msec|";
        let p = detect(title.as_bytes(), None, &t).unwrap().unwrap();
        let (r, batch) = crate::ingest::parse_lines(
            &p,
            &[
                "10.0.0.1|10.0.0.2|2014/06/01T00:48:01.120|0.255|2014/06/01T00:48:01.375|2014/06/01T00:48:01.120|2014/06/01T00:48:01.375|0.255|",
                // --timestamp-format=no-msec: sTime in whole seconds, sTime+msec still precise.
                "10.0.0.1|10.0.0.2|2014/06/01T00:48:01|0|2014/06/01T00:48:01|2014/06/01T00:48:01.120|2014/06/01T00:48:01.375|0.255|",
                "10.0.0.1|10.0.0.2|2014/06/01T00:48:02.120|0.255|2014/06/01T00:48:01.375|2014/06/01T00:48:01.120|2014/06/01T00:48:01.375|0.255|",
                "10.0.0.1|10.0.0.2|2014/06/01T00:48:01.120|0.255|2014/06/01T00:48:01.375|2014/06/01T00:48:01.120|2014/06/01T00:48:01.375|1.255|",
            ],
        );
        assert!(r[0].is_ok() && r[1].is_ok(), "{r:?}");
        let e = r[2].as_ref().unwrap_err();
        assert_eq!(e.column, "sTime+msec");
        assert!(e.reason.contains("'sTime' (2014/06/01T00:48:02.120) and 'sTime+msec'"), "{}", e.reason);
        assert_eq!(r[3].as_ref().unwrap_err().column, "dur+msec");
        let s = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        let e = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        assert_eq!((s.value(0), e.value(0)), (1_401_583_681_120_000, 1_401_583_681_375_000));
        assert_eq!((s.value(1), e.value(1)), (s.value(0), e.value(0)), "the precise columns win");
    }
}
