//! Host names for the report: a hosts(5) file first, then reverse DNS, then the address (as
//! the seed says: "the IP will be repeated for the hostname if the hostname could not be
//! found"). `--domain` strips the site's own suffix (`newsfeed.berkeley.edu` → `newsfeed`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::resolve::{resolve_all, ResolveOptions, ResolveStats};

#[derive(Debug, Clone, Default)]
pub struct NameOptions {
    /// A hosts(5) file: `address name [aliases…]`.
    pub hosts_file: Option<PathBuf>,
    /// Suffix stripped from names (`berkeley.edu`).
    pub domain: Option<String>,
    /// Reverse DNS for addresses the hosts file does not name.
    pub resolve: Option<ResolveOptions>,
}

/// Reads a hosts(5) file: the first name given for an address wins (as the C library's
/// reverse lookup returns the first match).
pub fn read_hosts_file(path: &Path) -> Result<HashMap<IpAddr, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_hosts(&text, &path.display().to_string())
}

pub fn parse_hosts(text: &str, origin: &str) -> Result<HashMap<IpAddr, String>> {
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(addr) = words.next() else { continue };
        let err = |reason: String| Error::Parse {
            path: origin.to_string(),
            line: i as u64 + 1,
            column: "hosts".into(),
            reason,
        };
        let ip: IpAddr = addr.parse().map_err(|_| err(format!("'{addr}' is not an IP address")))?;
        let name = words.next().ok_or_else(|| err(format!("no name after {addr}")))?;
        map.entry(ip).or_insert_with(|| name.to_string());
    }
    Ok(map)
}

/// `name` without `.domain` at its end (case-insensitive; trailing dots ignored). A name that
/// is the domain itself is kept.
pub fn strip_domain(name: &str, domain: Option<&str>) -> String {
    let name = name.trim_end_matches('.');
    let Some(domain) = domain.map(|d| d.trim_matches('.')).filter(|d| !d.is_empty()) else {
        return name.to_string();
    };
    if name.len() > domain.len() + 1 {
        let cut = name.len() - domain.len();
        if name.is_char_boundary(cut - 1)
            && name[cut - 1..].starts_with('.')
            && name[cut..].eq_ignore_ascii_case(domain)
        {
            return name[..cut - 1].to_string();
        }
    }
    name.to_string()
}

/// The printed name of every address, in order, and what reverse DNS did (when asked).
pub fn host_names(addrs: &[IpAddr], opts: &NameOptions) -> Result<(Vec<String>, Option<ResolveStats>)> {
    let hosts = match &opts.hosts_file {
        Some(p) => read_hosts_file(p)?,
        None => HashMap::new(),
    };
    let (dns, stats) = match &opts.resolve {
        Some(r) => {
            let ask: Vec<IpAddr> = addrs.iter().copied().filter(|a| !hosts.contains_key(a)).collect();
            let (names, stats) = resolve_all(&ask, r);
            (names, Some(stats))
        }
        None => (HashMap::new(), None),
    };
    let domain = opts.domain.as_deref();
    let names = addrs
        .iter()
        .map(|a| match hosts.get(a).cloned().or_else(|| dns.get(a).cloned().flatten()) {
            Some(n) => strip_domain(&n, domain),
            None => a.to_string(),
        })
        .collect();
    Ok((names, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file() {
        let m = parse_hosts(
            "# campus\n128.32.206.55\tnewsfeed.berkeley.edu news  # the feed\n\n2001:db8::1 v6host\n128.32.206.55 other\n",
            "hosts",
        )
        .unwrap();
        assert_eq!(m[&"128.32.206.55".parse::<IpAddr>().unwrap()], "newsfeed.berkeley.edu");
        assert_eq!(m[&"2001:db8::1".parse::<IpAddr>().unwrap()], "v6host");
        let e = parse_hosts("128.32.206.999 bad\n", "hosts").unwrap_err().to_string();
        assert!(e.starts_with("hosts:1: hosts:"), "{e}");
        assert!(parse_hosts("10.0.0.1\n", "hosts").is_err());
    }

    #[test]
    fn domains() {
        let d = Some("berkeley.edu");
        assert_eq!(strip_domain("newsfeed.berkeley.edu", d), "newsfeed");
        assert_eq!(strip_domain("newsfeed.Berkeley.EDU.", d), "newsfeed");
        assert_eq!(strip_domain("newsfeed.notberkeley.edu", d), "newsfeed.notberkeley.edu");
        assert_eq!(strip_domain("berkeley.edu", d), "berkeley.edu");
        assert_eq!(strip_domain("a.cs.berkeley.edu", Some(".berkeley.edu.")), "a.cs");
        assert_eq!(strip_domain("host.example.", None), "host.example");
    }

    #[test]
    fn hosts_then_address() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        std::fs::write(&p, "10.0.0.1 web.example.org\n").unwrap();
        let opts = NameOptions { hosts_file: Some(p), domain: Some("example.org".into()), resolve: None };
        let addrs: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let (names, stats) = host_names(&addrs, &opts).unwrap();
        assert_eq!(names, ["web", "10.0.0.2"]);
        assert!(stats.is_none());
    }
}
