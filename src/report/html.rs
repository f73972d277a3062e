//! The page: a view model of the gathered [`Day`] rendered by minijinja from `page.html`, with
//! HTML auto-escaping on every value (host names come from hosts files and reverse DNS, which
//! an attacker controls). The only unescaped values are the charts' SVG, which plotters wrote
//! (and escaped) itself, from numbers and fixed words.
//!
//! The port profiles print the port report's own cells: [`ports::format::table_label`] and
//! [`ports::format::table_cells`], the functions behind `flowlens ports`' table.

use std::collections::HashMap;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::chart;
use super::{Day, TextTable, Totals};
use crate::error::{Error, Result};
use crate::ports::format::{table_cells, table_label};
use crate::ports::Traffic;
use crate::services::Services;
use crate::units::human;

const TEMPLATE: &str = include_str!("page.html");

/// The findings' tags in the order the page groups them, with their headings.
const TAGS: [(&str, &str); 4] = [
    ("scanner", "Scanners"),
    ("scan-target", "Scan targets"),
    ("p2p", "Peer-to-peer"),
    ("possible-compromise", "Possible compromises"),
];

#[derive(Serialize)]
struct Card {
    label: &'static str,
    /// K/M/G, as the port report prints numbers (base 1024); "n/a" when not computed.
    value: String,
    exact: String,
    /// Against the day before in the store.
    change: String,
    trend_svg: String,
}

#[derive(Serialize)]
struct Bar {
    id: String,
    name: String,
    addr: String,
    rank: u32,
    bytes: String,
    exact: u64,
    /// Width of the bar, percent of the first host's.
    pct: String,
    tags: Vec<String>,
}

#[derive(Serialize)]
struct Cell {
    text: String,
    exact: u64,
}

#[derive(Serialize)]
struct ProfileRow {
    label: String,
    cells: Vec<Cell>,
    /// A finding names this row's port (its explanation mentions it).
    marked: bool,
}

#[derive(Serialize)]
struct HostFinding {
    tag: String,
    confidence: String,
    evidence: String,
    explanation: String,
}

#[derive(Serialize)]
struct Profile {
    id: String,
    name: String,
    addr: String,
    rank: u32,
    top: bool,
    rows: Vec<ProfileRow>,
    findings: Vec<HostFinding>,
}

#[derive(Serialize)]
struct Table {
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Rows not listed.
    more: usize,
}

#[derive(Serialize)]
struct Group {
    tag: &'static str,
    title: &'static str,
    /// Rows with links: (anchor of the host's profile or "", cells).
    rows: Vec<(String, Vec<String>)>,
    columns: Vec<&'static str>,
    more: usize,
}

#[derive(Serialize)]
struct Page {
    date: String,
    cards: Vec<Card>,
    days_in_trend: usize,
    traffic_svg: String,
    split: bool,
    off_day: u64,
    no_address: u64,
    bars: Vec<Bar>,
    hosts_total: u64,
    rest_hosts: u64,
    rest_bytes: String,
    rest_exact: u64,
    profiles: Vec<Profile>,
    findings_computed: bool,
    findings_total: usize,
    groups: Vec<Group>,
    servers_group: Option<Group>,
    new_servers: Table,
    quiet: Table,
    legend: &'static str,
}

/// An anchor id for a host: its address with the characters ids dislike made dashes.
fn anchor(addr: &str) -> String {
    format!("host-{}", addr.replace(['.', ':'], "-"))
}

fn number(v: Option<u64>) -> (String, String) {
    match v {
        Some(v) => (human(v, 5), v.to_string()),
        None => ("n/a".into(), "not computed".into()),
    }
}

fn change(today: Option<u64>, before: Option<(chrono::NaiveDate, Option<u64>)>) -> String {
    match (today, before) {
        (Some(t), Some((d, Some(b)))) if b > 0 => {
            let pct = (t as f64 - b as f64) / b as f64 * 100.0;
            format!("{pct:+.0}% vs {d}")
        }
        (Some(t), Some((d, Some(0)))) => {
            if t == 0 {
                format!("same as {d}")
            } else {
                format!("up from 0 on {d}")
            }
        }
        (_, Some((d, None))) => format!("not computed on {d}"),
        _ => "no earlier day in the store".into(),
    }
}

fn cards(day: &Day) -> Result<Vec<Card>> {
    type Get = fn(&Totals) -> Option<u64>;
    let fields: [(&str, Get); 6] = [
        ("flows", |t| Some(t.flows)),
        ("packets", |t| Some(t.packets)),
        ("bytes", |t| Some(t.bytes)),
        ("local hosts", |t| Some(t.hosts)),
        ("servers", |t| t.servers),
        ("findings", |t| t.findings),
    ];
    let before = day.trend.len().checked_sub(2).and_then(|i| day.trend.get(i));
    fields
        .into_iter()
        .map(|(label, get)| {
            let today = get(&day.totals);
            let (value, exact) = number(today);
            let values: Vec<u64> = day.trend.iter().map(|(_, t)| get(t).unwrap_or(0)).collect();
            let trend_svg = if values.len() >= 2 { chart::sparkline_svg(&values, (120, 30))? } else { String::new() };
            Ok(Card { label, value, exact, change: change(today, before.map(|(d, t)| (*d, get(t)))), trend_svg })
        })
        .collect()
}

/// Whether a finding's explanation names the row's port (`445/tcp`, `port 6667`, `1214`).
fn mentions_port(text: &str, label: &str) -> bool {
    let ports: Vec<&str> = label
        .split("->")
        .map(|p| p.split('/').next().unwrap_or(""))
        .filter(|p| !p.is_empty() && *p != "*" && p.chars().all(|c| c.is_ascii_digit()))
        .collect();
    ports.iter().any(|p| {
        text.match_indices(p).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + p.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
        })
    })
}

fn profiles(day: &Day, services: &Services, by_host: &HashMap<&str, Vec<&Vec<String>>>) -> Vec<Profile> {
    day.hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let addr = h.summary.addr.to_string();
            let findings: Vec<HostFinding> = by_host
                .get(addr.as_str())
                .map(|rows| {
                    rows.iter()
                        .map(|r| HostFinding {
                            tag: r[2].clone(),
                            confidence: r[3].clone(),
                            evidence: r[4].clone(),
                            explanation: r[5].clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let rows = h
                .summary
                .rows
                .iter()
                .map(|r| {
                    let label = table_label(r.key, services);
                    let exact = numbers(&r.traffic);
                    let marked = findings.iter().any(|f| f.tag != "server" && mentions_port(&f.explanation, &label));
                    let cells = table_cells(&r.traffic)
                        .into_iter()
                        .zip(exact)
                        .map(|(text, exact)| Cell { text, exact })
                        .collect();
                    ProfileRow { label, cells, marked }
                })
                .collect();
            Profile { id: anchor(&addr), name: h.name.clone(), addr, rank: h.rank, top: i < day.top, rows, findings }
        })
        .collect()
}

fn numbers(t: &Traffic) -> [u64; 7] {
    [t.flows, t.in_packets, t.in_bytes, t.out_packets, t.out_bytes, t.total_packets(), t.total_bytes()]
}

fn group(tag: &'static str, title: &'static str, t: &TextTable, max: usize, shown: &HashMap<String, String>) -> Group {
    let rows: Vec<&Vec<String>> = t.rows.iter().filter(|r| r[2] == tag).collect();
    Group {
        tag,
        title,
        columns: t.columns.clone(),
        more: rows.len().saturating_sub(max),
        rows: rows.into_iter().take(max).map(|r| (shown.get(&r[0]).cloned().unwrap_or_default(), r.clone())).collect(),
    }
}

fn table(t: &TextTable, max: usize) -> Table {
    Table {
        columns: t.columns.clone(),
        rows: t.rows.iter().take(max).cloned().collect(),
        more: t.rows.len().saturating_sub(max),
    }
}

/// The page's view model.
fn page(day: &Day, services: &Services) -> Result<Page> {
    let first = day.hosts.first().map_or(1, |h| h.summary.total.total_bytes().max(1));
    let mut by_host: HashMap<&str, Vec<&Vec<String>>> = HashMap::new();
    if let Some(f) = &day.findings {
        for r in &f.rows {
            by_host.entry(r[0].as_str()).or_default().push(r);
        }
    }
    let bars = day
        .hosts
        .iter()
        .take(day.top)
        .map(|h| {
            let addr = h.summary.addr.to_string();
            let b = h.summary.total.total_bytes();
            let mut tags: Vec<String> =
                by_host.get(addr.as_str()).map_or(Vec::new(), |r| r.iter().map(|r| r[2].clone()).collect());
            tags.dedup();
            Bar {
                id: anchor(&addr),
                name: h.name.clone(),
                addr,
                rank: h.rank,
                bytes: human(b, 5),
                exact: b,
                pct: format!("{:.1}", (b as f64 / first as f64 * 100.0).max(0.5)),
                tags,
            }
        })
        .collect();
    let shown: HashMap<String, String> =
        day.hosts.iter().map(|h| (h.summary.addr.to_string(), anchor(&h.summary.addr.to_string()))).collect();
    let (groups, servers_group) = match &day.findings {
        Some(f) => (
            TAGS.iter().map(|(tag, title)| group(tag, title, f, day.max_rows, &shown)).collect(),
            Some(group("server", "Servers (from the findings)", f, day.max_rows, &shown)),
        ),
        None => (Vec::new(), None),
    };
    let quiet = TextTable {
        columns: vec!["server", "port", "proto", "service", "first_day", "last_day", "days_seen"],
        rows: day
            .quiet
            .iter()
            .map(|e| {
                vec![
                    e.server.to_string(),
                    e.port.to_string(),
                    e.proto.to_string(),
                    e.service.clone(),
                    e.first_day.to_string(),
                    e.last_day.to_string(),
                    e.days_seen.to_string(),
                ]
            })
            .collect(),
    };
    let top_hosts = day.hosts.len().min(day.top) as u64;
    Ok(Page {
        date: day.date.to_string(),
        cards: cards(day)?,
        days_in_trend: day.trend.len(),
        traffic_svg: chart::traffic_svg(&day.traffic.slots, day.split, (900, 280))?,
        split: day.split,
        off_day: day.traffic.off_day,
        no_address: day.traffic.no_address,
        bars,
        hosts_total: day.totals.hosts,
        rest_hosts: day.totals.hosts.saturating_sub(top_hosts),
        rest_bytes: human(day.rest.total_bytes(), 5),
        rest_exact: day.rest.total_bytes(),
        profiles: profiles(day, services, &by_host),
        findings_computed: day.findings.is_some(),
        findings_total: day.findings.as_ref().map_or(0, |f| f.rows.len()),
        groups,
        servers_group,
        new_servers: table(&day.new_servers, day.max_rows),
        quiet: table(&quiet, day.max_rows),
        legend: crate::ports::format::LEGEND,
    })
}

/// The page as HTML.
pub fn render(day: &Day, services: &Services) -> Result<String> {
    let mut env = Environment::new();
    // Every value is HTML-escaped whatever the template's name; `|safe` marks the charts only.
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("page.html", TEMPLATE).map_err(tmpl_err)?;
    let ctx = page(day, services)?;
    env.get_template("page.html").and_then(|t| t.render(minijinja::value::Serde(&ctx))).map_err(tmpl_err)
}

fn tmpl_err(e: minijinja::Error) -> Error {
    Error::Usage(format!("the page's template: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mentions() {
        assert!(mentions_port("probed 445/tcp and 139", "*->445/microsoft-ds"));
        assert!(mentions_port("IRC port 6667 to 1.2.3.4", "1024->6667/ircd"));
        assert!(!mentions_port("port 64450", "*->445"));
        assert!(!mentions_port("anything", "Other:"));
        assert!(!mentions_port("*", "*->*"));
    }

    /// Names and values from hosts files, reverse DNS and the reports are text on the page.
    #[test]
    fn every_value_is_escaped() {
        use crate::ports::{HostSummary, PortRow, RowKey};
        use crate::report::{DayTraffic, ShownHost, TextTable, Totals, FINDINGS_COLUMNS};
        let traffic = Traffic { flows: 3, in_packets: 10, in_bytes: 5000, out_packets: 0, out_bytes: 0 };
        let row = |v: [&str; 8]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let day = Day {
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            totals: Totals::default(),
            trend: Vec::new(),
            traffic: DayTraffic { flows: 0, packets: 0, bytes: 0, slots: vec![[0; 4]; 288], off_day: 0, no_address: 0 },
            split: true,
            hosts: vec![ShownHost {
                rank: 1,
                name: "<img src=x onerror=alert(1)>".into(),
                summary: HostSummary {
                    addr: "10.0.0.1".parse().unwrap(),
                    total: traffic,
                    rows: vec![PortRow { key: RowKey::Ports { sport: 0, dport: 445 }, traffic }],
                },
            }],
            top: 1,
            rest: Traffic::default(),
            findings: Some(TextTable {
                columns: FINDINGS_COLUMNS.to_vec(),
                rows: vec![row([
                    "10.0.0.1",
                    "\"><script>alert(2)</script>",
                    "scan-target",
                    "high",
                    "<b onmouseover=alert(3)>x</b>",
                    "probed on 445/tcp",
                    "",
                    "",
                ])],
            }),
            new_servers: TextTable::default(),
            quiet: Vec::new(),
            max_rows: 100,
        };
        let page = render(&day, &Services::builtin()).unwrap();
        for bad in ["<img", "<script", "<b ", "onerror=alert(1)>", "\"><script"] {
            assert!(!page.contains(bad), "{bad} in the page");
        }
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("&quot;&gt;&lt;script&gt;alert(2)&lt;&#x2f;script&gt;"));
        // The finding names the row's port: the row is marked, and linked from the finding.
        assert!(page.contains("<tr class=\"marked\"><td>*-&gt;445</td>"), "{page}");
        assert!(page.contains("<a href=\"#host-10-0-0-1\">10.0.0.1</a>"));
    }

    #[test]
    fn anchors_are_plain() {
        assert_eq!(anchor("10.0.0.1"), "host-10-0-0-1");
        assert_eq!(anchor("2001:db8::1"), "host-2001-db8--1");
    }
}
