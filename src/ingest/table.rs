//! Whitespace tables with a header line, as in the SEI seed:
//! `[FLOW] SIP DIP SPORT DPORT PROTOCOL PACKETS BYTES FLAGS STIME [DUR]`.
//! FLAGS is left blank on UDP and GRE rows, so a row one field short of the header has no flags.

use super::columns::{known_count, role_of, Role};
use super::delimited::{trim_bytes, Delimited, Split};
use super::fields::TimeContext;

pub fn names(line: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(line).split_whitespace().map(String::from).collect()
}

/// Recognizes a whitespace-separated header with at least three flow column names.
pub fn detect(line: &[u8], time: &TimeContext) -> Option<Result<Delimited, String>> {
    let names = names(line);
    if known_count(&names) < 3 {
        return None;
    }
    Some(parser(names, Some(trim_bytes(line).to_vec()), time))
}

pub fn parser(names: Vec<String>, header: Option<Vec<u8>>, time: &TimeContext) -> Result<Delimited, String> {
    let flags = names.iter().position(|n| role_of(n) == Role::Flags);
    Ok(Delimited::new("table", Split::Whitespace, names, header, time.clone())?.with_optional(flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_headers() {
        let t = TimeContext::default();
        assert!(detect(b"SIP DIP SPORT DPORT PROTOCOL PACKETS BYTES FLAGS STIME", &t).unwrap().is_ok());
        assert!(detect(b"FLOW SIP DIP SPORT DPORT PROTOCOL PACKETS BYTES FLAGS STIME", &t).unwrap().is_ok());
        let ntp = detect(b"SIP DIP SPORT SPORT PROTOCOL PACKETS BYTES FLAGS STIME", &t).unwrap();
        assert!(ntp.err().unwrap().contains("SPORT"));
        assert!(detect(b"10.10.0.2 10.10.0.1 36257 22 6", &t).is_none());
    }
}
