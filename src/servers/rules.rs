//! Server rules as data: the TOML model, its validation and the built-in defaults (`data/servers.toml`,
//! whose header documents every key).
//!
//! A [`Rule`] is compiled once into plain values (protocol numbers, port ranges, bounds) that both
//! evaluators read: the Arrow-kernel evaluator in [`super::eval`] and the SQL compiler in
//! [`super::sql`]. Nothing here looks at flows.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The built-in rules, compiled in so that the binary is self-contained.
pub const BUILTIN: &str = include_str!("../../data/servers.toml");

/// Inclusive port ranges, ascending and merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRanges(pub Vec<(u16, u16)>);

impl PortRanges {
    /// Parses `22`, `20,21`, `123,1024-65535`.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let port = |s: &str| s.trim().parse::<u16>().map_err(|_| format!("'{s}' is not a port (0-65535)"));
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => (port(part)?, port(part)?),
            };
            if lo > hi {
                return Err(format!("range '{part}' runs backwards"));
            }
            out.push((lo, hi));
        }
        if out.is_empty() {
            return Err("an empty port list".into());
        }
        out.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(out.len());
        for (lo, hi) in out {
            match merged.last_mut() {
                Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Ok(PortRanges(merged))
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }

    /// True when some port is in both sets: symmetric conversations are possible.
    pub fn overlaps(&self, other: &PortRanges) -> bool {
        self.0.iter().any(|&(a, b)| other.0.iter().any(|&(c, d)| a <= d && c <= b))
    }
}

impl std::fmt::Display for PortRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

/// Per-flow bounds for one direction. Unset bounds do not test anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub min_packets: Option<i64>,
    pub max_packets: Option<i64>,
    pub min_bytes: Option<i64>,
    pub max_bytes: Option<i64>,
    /// Bytes per packet: `bytes >= min_bpp * packets`.
    pub min_bpp: Option<i64>,
    pub max_bpp: Option<i64>,
}

impl Bounds {
    pub fn is_empty(&self) -> bool {
        *self == Bounds::default()
    }

    /// Whether a flow with these counters passes: the scalar statement of what the kernels in
    /// `eval.rs` compute over columns, against which a test checks them.
    #[cfg(test)]
    pub fn admits(&self, packets: Option<i64>, bytes: Option<i64>) -> bool {
        let ge = |v: Option<i64>, b: Option<i64>| b.is_none_or(|b| v.is_some_and(|v| v >= b));
        let le = |v: Option<i64>, b: Option<i64>| b.is_none_or(|b| v.is_some_and(|v| v <= b));
        let bpp_ge =
            self.min_bpp.is_none_or(|m| matches!((packets, bytes), (Some(p), Some(b)) if b >= m.saturating_mul(p)));
        let bpp_le =
            self.max_bpp.is_none_or(|m| matches!((packets, bytes), (Some(p), Some(b)) if b <= m.saturating_mul(p)));
        ge(packets, self.min_packets)
            && le(packets, self.max_packets)
            && ge(bytes, self.min_bytes)
            && le(bytes, self.max_bytes)
            && bpp_ge
            && bpp_le
    }
}

/// Where a rule's service name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceName {
    Fixed(String),
    /// `"*"`: the services table's name for the port, else `proto/port`.
    FromTable,
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub service: ServiceName,
    /// IP protocol numbers.
    pub protos: Vec<u8>,
    pub ports: PortRanges,
    pub client_ports: PortRanges,
    pub request: Bounds,
    pub reply: Bounds,
    pub reply_required: bool,
    pub min_clients: u32,
    pub symmetric_min_clients: u32,
    pub server_port_below_client: bool,
    /// Index of the control rule this rule is tied to (always an earlier, untied rule).
    pub tie: Option<usize>,
    /// Microseconds of slack around the control traffic.
    pub tie_slack_us: i64,
}

impl Rule {
    /// Whether a conversation with this client port on this server port is symmetric.
    pub fn symmetric_possible(&self) -> bool {
        self.ports.overlaps(&self.client_ports)
    }
}

/// An ordered rule set: earlier rules win a (server, port, proto) found by several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rule: Vec<RawRule>,
}

// `Many` first: an untagged `One(toml::Value)` would also take an array.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<toml::Value>),
    One(toml::Value),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    service: Option<String>,
    proto: OneOrMany,
    ports: toml::Value,
    client_ports: Option<toml::Value>,
    #[serde(default)]
    request: Bounds,
    #[serde(default)]
    reply: Bounds,
    reply_required: Option<bool>,
    min_clients: Option<u32>,
    symmetric_min_clients: Option<u32>,
    server_port_below_client: Option<bool>,
    tie: Option<String>,
    tie_slack: Option<u32>,
}

fn proto_number(v: &toml::Value) -> std::result::Result<u8, String> {
    match v {
        toml::Value::Integer(n) => u8::try_from(*n).map_err(|_| format!("protocol {n} is not 0-255")),
        toml::Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "icmp" => Ok(1),
            "tcp" => Ok(6),
            "udp" => Ok(17),
            "gre" => Ok(47),
            "esp" => Ok(50),
            "ah" => Ok(51),
            "icmp6" | "ipv6-icmp" => Ok(58),
            "sctp" => Ok(132),
            other => other.parse::<u8>().map_err(|_| format!("unknown protocol '{s}' (use a number)")),
        },
        other => Err(format!("protocol must be a name or a number, not {}", other.type_str())),
    }
}

fn port_ranges(v: &toml::Value) -> std::result::Result<PortRanges, String> {
    match v {
        toml::Value::Integer(n) => {
            let p = u16::try_from(*n).map_err(|_| format!("port {n} is not 0-65535"))?;
            Ok(PortRanges(vec![(p, p)]))
        }
        toml::Value::String(s) => PortRanges::parse(s),
        toml::Value::Array(items) => {
            let parts: std::result::Result<Vec<String>, String> = items
                .iter()
                .map(|i| match i {
                    toml::Value::Integer(n) => Ok(n.to_string()),
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(format!("a port must be a number or a range string, not {}", other.type_str())),
                })
                .collect();
            PortRanges::parse(&parts?.join(","))
        }
        other => Err(format!("ports must be a string like \"20,21,1024-65535\", not {}", other.type_str())),
    }
}

impl Rules {
    /// The built-in rules from `data/servers.toml`.
    pub fn builtin() -> Self {
        // The built-in file is tested to parse (see the tests below); an error here is a build defect.
        Rules::parse(BUILTIN, "data/servers.toml").unwrap_or(Rules { rules: Vec::new() })
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Rules::parse(&text, &path.display().to_string())
    }

    /// Parses and validates a rules file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let file: File = toml::from_str(text).map_err(|e| Error::input(origin, format!("not a rules file: {e}")))?;
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rule.len());
        for raw in file.rule {
            let bad = |reason: String| Error::input(origin, format!("rule '{}': {reason}", raw.name));
            if raw.name.trim().is_empty() {
                return Err(Error::input(origin, "a rule without a name"));
            }
            if rules.iter().any(|r| r.name == raw.name) {
                return Err(bad("a second rule with this name".into()));
            }
            let protos = match &raw.proto {
                OneOrMany::One(v) => vec![proto_number(v).map_err(bad)?],
                OneOrMany::Many(vs) => {
                    vs.iter().map(proto_number).collect::<std::result::Result<_, _>>().map_err(bad)?
                }
            };
            if protos.is_empty() {
                return Err(bad("an empty protocol list".into()));
            }
            let ports = port_ranges(&raw.ports).map_err(|e| bad(format!("ports: {e}")))?;
            let client_ports = match &raw.client_ports {
                Some(v) => port_ranges(v).map_err(|e| bad(format!("client_ports: {e}")))?,
                None => PortRanges(vec![(1024, 65535)]),
            };
            let tie = match &raw.tie {
                None => None,
                Some(t) => {
                    let i = rules.iter().position(|r| &r.name == t).ok_or_else(|| {
                        bad(format!("tie = '{t}' names no earlier rule (a control rule must come first)"))
                    })?;
                    if rules[i].tie.is_some() {
                        return Err(bad(format!("tie = '{t}' is itself tied; tie to a control rule")));
                    }
                    Some(i)
                }
            };
            let service = match raw.service.as_deref() {
                Some("*") => ServiceName::FromTable,
                Some(s) if !s.trim().is_empty() => ServiceName::Fixed(s.to_string()),
                Some(_) => return Err(bad("an empty service name".into())),
                None => ServiceName::Fixed(raw.name.clone()),
            };
            for (what, b) in [("request", &raw.request), ("reply", &raw.reply)] {
                for v in
                    [b.min_packets, b.max_packets, b.min_bytes, b.max_bytes, b.min_bpp, b.max_bpp].into_iter().flatten()
                {
                    if v < 0 {
                        return Err(bad(format!("{what}: bounds are never negative")));
                    }
                }
            }
            rules.push(Rule {
                name: raw.name.clone(),
                service,
                protos,
                ports,
                client_ports,
                request: raw.request,
                reply: raw.reply,
                reply_required: raw.reply_required.unwrap_or(true),
                min_clients: raw.min_clients.unwrap_or(1).max(1),
                symmetric_min_clients: raw.symmetric_min_clients.unwrap_or(10).max(1),
                server_port_below_client: raw.server_port_below_client.unwrap_or(false),
                tie,
                tie_slack_us: raw.tie_slack.unwrap_or(300) as i64 * 1_000_000,
            });
        }
        if rules.is_empty() {
            return Err(Error::input(origin, "no [[rule]] tables"));
        }
        if rules.len() > 250 {
            return Err(Error::input(origin, "more than 250 rules"));
        }
        Ok(Rules { rules })
    }
}

/// A protocol's short name for tables (`tcp`), or its number.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        58 => "icmp6".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse() {
        let r = Rules::parse(BUILTIN, "data/servers.toml").unwrap();
        let names: Vec<&str> = r.rules.iter().map(|r| r.name.as_str()).collect();
        for n in ["ssh", "telnet", "ftp", "ftp-data-active", "ftp-data-passive", "pptp", "pptp-gre", "dns", "ntp"] {
            assert!(names.contains(&n), "{n} missing");
        }
        let gre = r.rules.iter().find(|r| r.name == "pptp-gre").unwrap();
        assert_eq!(gre.protos, vec![47]);
        assert_eq!(r.rules[gre.tie.unwrap()].name, "pptp");
        let ntp = r.rules.iter().find(|r| r.name == "ntp").unwrap();
        assert!(ntp.symmetric_possible());
        assert!(!r.rules[0].symmetric_possible());
    }

    #[test]
    fn a_protocol_list() {
        // Regression: a list was refused as "not array" when the single-value variant came first.
        let r = Rules::parse("[[rule]]\nname='a'\nproto=['tcp', 17]\nports='9'", "r.toml").unwrap();
        assert_eq!(r.rules[0].protos, vec![6, 17]);
    }

    #[test]
    fn port_ranges_parse_and_merge() {
        assert_eq!(PortRanges::parse("1024-65535,123").unwrap().0, vec![(123, 123), (1024, 65535)]);
        assert_eq!(PortRanges::parse("20,21,22").unwrap().0, vec![(20, 22)]);
        assert_eq!(PortRanges::parse("20,21,22").unwrap().to_string(), "20-22");
        assert!(PortRanges::parse("70000").is_err());
        assert!(PortRanges::parse("9-1").is_err());
        assert!(PortRanges::parse("").is_err());
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let err = |t: &str| Rules::parse(t, "r.toml").unwrap_err().to_string();
        assert!(err("[[rule]]\nname='a'\nproto='tcp'\nports='x'").contains("rule 'a': ports: 'x' is not a port"));
        assert!(err("[[rule]]\nname='a'\nproto='tcpx'\nports='1'").contains("unknown protocol"));
        assert!(err("[[rule]]\nname='a'\nproto='tcp'\nports='1'\ntie='b'").contains("names no earlier rule"));
        assert!(err("[[rule]]\nname='a'\nproto='tcp'\nports='1'\nbogus=1").contains("not a rules file"));
        assert!(err("").contains("no [[rule]]"));
        let two = "[[rule]]\nname='a'\nproto='tcp'\nports='1'\n[[rule]]\nname='a'\nproto='udp'\nports='1'";
        assert!(err(two).contains("second rule"));
    }

    #[test]
    fn bounds_admit() {
        let b = Bounds { min_packets: Some(2), min_bpp: Some(40), ..Bounds::default() };
        assert!(b.admits(Some(2), Some(80)));
        assert!(!b.admits(Some(1), Some(40)));
        assert!(!b.admits(Some(2), Some(79)));
        assert!(!b.admits(None, Some(100)));
        assert!(Bounds::default().admits(None, None));
    }
}
