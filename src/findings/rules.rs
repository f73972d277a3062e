//! Findings thresholds as data: the TOML model and its validation. The built-in file is
//! `data/findings.toml`, whose comments tie every key to the published method it comes from;
//! docs/findings.md says how each is used. Every key is required: a `--rules` file replaces the
//! built-in one whole, so a forgotten key is an error, not a silent default.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::servers::rules::PortRanges;

/// The built-in thresholds, compiled in.
pub const BUILTIN: &str = include_str!("../../data/findings.toml");

fn ports<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<PortRanges, D::Error> {
    let s = String::deserialize(d)?;
    PortRanges::parse(&s).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    pub reply_window: u64,
    pub tcp_established_reply_packets: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scanner {
    pub trw_theta0: f64,
    pub trw_theta1: f64,
    pub trw_pd: f64,
    pub trw_pf: f64,
    pub zeek_window: u64,
    pub zeek_addr_scan_hosts: u64,
    pub zeek_port_scan_ports: u64,
    pub slips_window: u64,
    pub slips_more_than: u64,
    pub min_failed_share: f64,
    pub trw_min_failed: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanTarget {
    pub probe_max_packets: u64,
    pub probe_max_bpp: u64,
    pub min_probes: u64,
    pub min_probe_share: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2p {
    pub high_port: u16,
    pub min_peers: u64,
    pub min_bytes_each_way: u64,
    pub min_smaller_share: f64,
    pub ip_port_ratio: f64,
    pub min_tcp_udp_peers: u64,
    #[serde(deserialize_with = "ports")]
    pub tcp_udp_exclude_ports: PortRanges,
    #[serde(deserialize_with = "ports")]
    pub known_ports: PortRanges,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compromise {
    pub serve_min_bytes: u64,
    pub serve_min_peers: u64,
    pub serve_min_host_ports: u64,
    pub serve_min_ratio: f64,
    #[serde(deserialize_with = "ports")]
    pub irc_ports: PortRanges,
    pub beacon_min_flows: u64,
    pub beacon_max_bytes: u64,
    pub beacon_min_span: u64,
    pub beacon_max_cv: f64,
    #[serde(deserialize_with = "ports")]
    pub beacon_ignore_ports: PortRanges,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTag {
    pub min_clients: u64,
}

/// Every threshold of the findings (docs/findings.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingRules {
    pub answers: Answers,
    pub scanner: Scanner,
    pub scan_target: ScanTarget,
    pub p2p: P2p,
    pub compromise: Compromise,
    pub server: ServerTag,
}

impl FindingRules {
    pub fn builtin() -> Self {
        // The built-in file is tested (`builtin_rules_parse`); it cannot fail at run time.
        Self::parse(BUILTIN, "data/findings.toml").unwrap_or_else(|e| panic!("built-in findings rules: {e}"))
    }

    /// `--rules FILE` / `--findings-rules FILE` when given, else the built-in rules.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        path.map_or_else(|| Ok(Self::builtin()), Self::from_file)
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let r: FindingRules =
            toml::from_str(text).map_err(|e| Error::Usage(format!("{origin}: not valid findings rules: {e}")))?;
        r.validate().map_err(|e| Error::Usage(format!("{origin}: {e}")))?;
        Ok(r)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let s = &self.scanner;
        let prob = |name: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(format!("scanner.{name} = {v}: must be between 0 and 1 (exclusive)"))
            }
        };
        prob("trw_theta0", s.trw_theta0)?;
        prob("trw_theta1", s.trw_theta1)?;
        prob("trw_pd", s.trw_pd)?;
        prob("trw_pf", s.trw_pf)?;
        if s.trw_theta1 >= s.trw_theta0 {
            return Err("scanner.trw_theta1 must be below trw_theta0 (a scanner succeeds less often)".into());
        }
        if s.trw_pf >= s.trw_pd {
            return Err("scanner.trw_pf must be below trw_pd".into());
        }
        for (name, v) in [
            ("scanner.min_failed_share", s.min_failed_share),
            ("scan_target.min_probe_share", self.scan_target.min_probe_share),
            ("p2p.min_smaller_share", self.p2p.min_smaller_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} = {v}: a share between 0 and 1"));
            }
        }
        for (name, v) in [
            ("answers.reply_window", self.answers.reply_window),
            ("scanner.zeek_window", s.zeek_window),
            ("scanner.slips_window", s.slips_window),
        ] {
            if v == 0 || v > 86_400 * 366 {
                return Err(format!("{name} = {v}: seconds, more than 0 and at most a year"));
            }
        }
        if self.p2p.ip_port_ratio < 1.0 {
            return Err("p2p.ip_port_ratio must be at least 1".into());
        }
        Ok(())
    }

    /// TRW's upper threshold η1 = PD / PF.
    pub fn trw_eta1(&self) -> f64 {
        self.scanner.trw_pd / self.scanner.trw_pf
    }

    /// TRW's lower threshold η0 = (1 − PD) / (1 − PF).
    pub fn trw_eta0(&self) -> f64 {
        (1.0 - self.scanner.trw_pd) / (1.0 - self.scanner.trw_pf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_parse() {
        let r = FindingRules::builtin();
        assert_eq!(r.scanner.zeek_addr_scan_hosts, 25);
        assert!((r.trw_eta1() - 99.0).abs() < 1e-9);
        assert!((r.trw_eta0() - 0.01 / 0.99).abs() < 1e-9);
        assert!(r.p2p.known_ports.contains(1214));
    }

    #[test]
    fn a_missing_or_unknown_key_is_an_error() {
        let without = BUILTIN.replace("zeek_window = 300\n", "");
        let e = FindingRules::parse(&without, "x.toml").unwrap_err().to_string();
        assert!(e.contains("zeek_window"), "{e}");
        let extra = BUILTIN.replace("[server]\n", "[server]\nmin_client = 3\n");
        assert!(FindingRules::parse(&extra, "x.toml").is_err());
        let bad = BUILTIN.replace("trw_theta1 = 0.2", "trw_theta1 = 0.9");
        assert!(FindingRules::parse(&bad, "x.toml").unwrap_err().to_string().contains("theta1"));
    }
}
