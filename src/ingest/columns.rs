//! Column names → flow roles: the alias table that lets headers from many tools map onto the
//! flows schema. Names are compared lowercased with everything but letters and digits removed,
//! so `sIP`, `src_ip`, `Src-IP` and `srcip` are one name. The README lists these aliases.

/// What an input column means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Stime,
    Etime,
    Duration,
    Sip,
    Dip,
    Sport,
    Dport,
    Proto,
    Packets,
    Bytes,
    Flags,
    IcmpType,
    IcmpCode,
    /// Any other column: kept as a Utf8 column under its own name.
    Extra,
}

/// Every alias, normalized. Shared by rwcut titles, whitespace tables, CSV headers and `--columns`.
pub const ALIASES: &[(Role, &[&str])] = &[
    (
        Role::Stime,
        &["stime", "stimemsec", "starttime", "start", "firstseen", "first", "ts", "timestamp", "time", "begin"],
    ),
    (Role::Etime, &["etime", "etimemsec", "endtime", "end", "lastseen", "last", "te", "lasttime"]),
    (Role::Duration, &["duration", "dur", "durmsec", "td", "elapsed"]),
    (Role::Sip, &["sip", "srcip", "srcaddr", "sa", "saddr", "src", "source", "sourceip", "sourceaddress", "ipsrc"]),
    (
        Role::Dip,
        &[
            "dip",
            "dstip",
            "dstaddr",
            "da",
            "daddr",
            "dst",
            "dest",
            "destination",
            "destip",
            "destinationip",
            "destinationaddress",
            "ipdst",
        ],
    ),
    (Role::Sport, &["sport", "srcport", "sp", "sourceport", "srcpt"]),
    (Role::Dport, &["dport", "dstport", "dp", "destport", "destinationport", "dstpt"]),
    (Role::Proto, &["proto", "pro", "protocol", "pr", "prot", "ipproto"]),
    (Role::Packets, &["packets", "pkts", "packet", "pkt", "ipkt", "npackets"]),
    (Role::Bytes, &["bytes", "byts", "octets", "ibyt", "doctets", "nbytes"]),
    (Role::Flags, &["flags", "flg", "tcpflags", "flag"]),
    (Role::IcmpType, &["itype", "icmptype"]),
    (Role::IcmpCode, &["icode", "icmpcode"]),
];

/// Lowercase, letters and digits only.
pub fn normalize(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// The role of a column name; unknown names are [`Role::Extra`].
pub fn role_of(name: &str) -> Role {
    let n = normalize(name);
    ALIASES.iter().find(|(_, names)| names.contains(&n.as_str())).map(|&(r, _)| r).unwrap_or(Role::Extra)
}

/// The pairs of names `rwcut --all-fields` prints for one time at two precisions (`sTime` in
/// whole seconds or milliseconds, `sTime+msec` always in milliseconds), normalized.
const PRECISION_TWINS: [(&str, &str); 3] = [("stime", "stimemsec"), ("etime", "etimemsec"), ("duration", "durmsec")];

/// True when `a` and `b` are one time printed at two precisions ([`PRECISION_TWINS`]): a header
/// may carry both; the parser reads both, keeps the more precise and checks that they agree.
pub fn precision_twins(a: &str, b: &str) -> bool {
    let (a, b) = (normalize(a), normalize(b));
    PRECISION_TWINS.iter().any(|&(x, y)| (a == x && b == y) || (a == y && b == x))
}

/// Maps a header. Errors name a column that appears twice (two names with the same role, or the
/// same extra name twice), since silently keeping one would lose data. The one exception is a
/// time printed at two precisions ([`precision_twins`]), which `rwcut --all-fields` does.
pub fn map_header(names: &[String]) -> Result<Vec<Role>, String> {
    let roles: Vec<Role> = names.iter().map(|n| role_of(n)).collect();
    for (i, r) in roles.iter().enumerate() {
        for j in 0..i {
            let dup = if *r == Role::Extra {
                roles[j] == Role::Extra && normalize(&names[j]) == normalize(&names[i]) && !names[i].trim().is_empty()
            } else {
                let twins =
                    precision_twins(&names[j], &names[i]) && roles[..i].iter().filter(|&&x| x == *r).count() == 1;
                roles[j] == *r && !twins
            };
            if dup {
                let what = if names[i].trim() == names[j].trim() {
                    format!(
                        "column '{}' appears twice in the header (columns {} and {})",
                        names[i].trim(),
                        j + 1,
                        i + 1
                    )
                } else {
                    format!(
                        "columns '{}' and '{}' (columns {} and {}) are the same flow column",
                        names[j].trim(),
                        names[i].trim(),
                        j + 1,
                        i + 1
                    )
                };
                return Err(format!(
                    "{what}; name the columns with --columns, e.g. --columns sip,dip,sport,dport,proto,packets,bytes,flags,stime"
                ));
            }
        }
    }
    Ok(roles)
}

/// How many names of a header are flow columns; a line is a header when this is large enough.
pub fn known_count(names: &[String]) -> usize {
    names.iter().filter(|n| role_of(n) != Role::Extra).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_from_many_tools() {
        for (name, role) in [
            ("sIP", Role::Sip),
            ("src_ip", Role::Sip),
            ("SrcAddr", Role::Sip),
            ("dPort", Role::Dport),
            ("pro", Role::Proto),
            ("PROTOCOL", Role::Proto),
            ("sTime", Role::Stime),
            ("dur", Role::Duration),
            ("sensor", Role::Extra),
            ("FLOW", Role::Extra),
        ] {
            assert_eq!(role_of(name), role, "{name}");
        }
    }

    #[test]
    fn duplicated_column_is_named() {
        // The SEI seed's NTP table prints SPORT twice.
        let names: Vec<String> = "SIP DIP SPORT SPORT PROTOCOL".split(' ').map(String::from).collect();
        let err = map_header(&names).unwrap_err();
        assert!(err.contains("'SPORT' appears twice") && err.contains("--columns"), "{err}");
    }

    /// `rwcut --all-fields` prints each time at two precisions; that pair is accepted, any other
    /// second name for a time is still refused.
    #[test]
    fn a_time_at_two_precisions_is_one_column() {
        let names = |s: &str| -> Vec<String> { s.split('|').map(String::from).collect() };
        let roles = map_header(&names("sIP|dIP|sTime|duration|eTime|sTime+msec|eTime+msec|dur+msec")).unwrap();
        assert_eq!(roles.iter().filter(|&&r| r == Role::Stime).count(), 2);
        assert!(map_header(&names("sIP|dIP|sTime|start")).unwrap_err().contains("same flow column"));
        assert!(map_header(&names("sIP|dIP|sTime|sTime+msec|stime")).is_err());
        assert!(map_header(&names("sIP|dIP|dur|dur+msec")).is_err(), "only duration pairs with dur+msec");
    }
}
