//! Port → service name, for labels such as `119/nntp`.
//!
//! The table is read in /etc/services format (`name port/proto [aliases…] [# comment]`). The
//! built-in one (`data/services`) holds IANA names for common services plus the names the seed
//! report uses (kazaa 1214, IRC 6660–6669, nb-ns 137); `--services FILE` replaces it. Port keys
//! in the report do not carry the protocol, so a port gets the first name listed for it under
//! any protocol, as `getservbyport` returns the first match.

use std::path::Path;

use crate::error::{Error, Result};

/// The built-in table, compiled in so that the binary is self-contained.
pub const BUILTIN: &str = include_str!("../data/services");

/// Service names by port.
#[derive(Debug, Clone)]
pub struct Services {
    names: Vec<Option<Box<str>>>,
}

impl Default for Services {
    fn default() -> Self {
        Services::builtin()
    }
}

impl Services {
    /// A table without any name: every port prints as a number.
    pub fn empty() -> Self {
        Services { names: vec![None; 65536] }
    }

    /// The built-in table from `data/services`.
    pub fn builtin() -> Self {
        // The built-in file is tested to parse (see the tests below); an error here is a build defect.
        Services::parse(BUILTIN, "data/services").unwrap_or_else(|_| Services::empty())
    }

    /// Reads a table in /etc/services format.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Services::parse(&text, &path.display().to_string())
    }

    /// Parses /etc/services text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let mut s = Services::empty();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |reason: String| Error::Parse {
                path: origin.to_string(),
                line: i as u64 + 1,
                column: "services".into(),
                reason,
            };
            let mut words = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
                return Err(err(format!("'{line}' is not 'name port/protocol'")));
            };
            let port = port_proto.split('/').next().unwrap_or("");
            let port: u16 =
                port.parse().map_err(|_| err(format!("'{port_proto}' is not port/protocol with a port 0-65535")))?;
            if !name.chars().all(|c| c.is_ascii_graphic()) {
                return Err(err(format!("service name '{name}' has characters other than printable ASCII")));
            }
            let slot = &mut s.names[port as usize];
            if slot.is_none() {
                *slot = Some(name.into());
            }
        }
        Ok(s)
    }

    /// The service name of `port`, if the table has one.
    #[inline]
    pub fn name(&self, port: u16) -> Option<&str> {
        self.names[port as usize].as_deref()
    }

    /// How many ports have a name.
    pub fn len(&self) -> usize {
        self.names.iter().filter(|n| n.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_and_has_the_seed_names() {
        let s = Services::parse(BUILTIN, "data/services").expect("data/services parses");
        for (port, name) in [
            (119, "nntp"),
            (433, "nnsp"),
            (80, "http"),
            (25, "smtp"),
            (53, "domain"),
            (21, "ftp"),
            (137, "nb-ns"),
            (1214, "kazaa"),
            (6667, "IRC"),
            (6660, "IRC"),
            (6669, "IRC"),
            (443, "https"),
        ] {
            assert_eq!(s.name(port), Some(name), "port {port}");
        }
        // The seed prints these as numbers: they must stay unnamed for its rows to come out.
        for port in [0, 2186, 2048, 3770, 7986, 32947] {
            assert_eq!(s.name(port), None, "port {port}");
        }
    }

    #[test]
    fn first_name_wins_and_comments_are_skipped() {
        let s = Services::parse(
            "# comment\n\nnb-ns 137/udp netbios-ns # seed name\nnetbios-ns 137/tcp\nhttp\t80/tcp www\n",
            "t",
        )
        .unwrap();
        assert_eq!(s.name(137), Some("nb-ns"));
        assert_eq!(s.name(80), Some("http"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = Services::parse("http 80/tcp\nbroken 99999/tcp\n", "svc.txt").unwrap_err().to_string();
        assert!(e.starts_with("svc.txt:2: services:"), "{e}");
        let e = Services::parse("lonely\n", "svc.txt").unwrap_err().to_string();
        assert!(e.contains("svc.txt:1"), "{e}");
    }
}
