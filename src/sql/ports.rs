//! The port report (the Berkeley per-host port report, DESIGN.md's semantics) as one query: the
//! rows of `flowlens ports --format csv`, in its order, for the options given (`--local`,
//! `--top`, `--many`, `--watch`, `--top-hosts`, `--services`), as literals.

use std::fmt::Write as _;

use super::{address_keys, nets_table, values_table, Dialect, Row};
use crate::ports::PortsOptions;
use crate::select::PortSet;
use crate::services::Services;

/// The query for these options in dialect `d`.
pub fn compile(d: Dialect, opts: &PortsOptions) -> String {
    let mut sql = String::with_capacity(16 * 1024);
    sql.push_str(&header(d, opts));
    sql.push_str("WITH\n");
    sql.push_str(&services_table(d, &opts.services));
    sql.push_str(
        "addresses AS (
    SELECT sip AS ip FROM flows WHERE sip IS NOT NULL
    UNION
    SELECT dip FROM flows WHERE dip IS NOT NULL
),
",
    );
    sql.push_str(&address_keys(d, "addresses"));
    let m = d.materialized();
    if opts.local.is_empty() {
        let _ = write!(
            sql,
            "-- Hosts: every address (no --local network).
hosts AS {m}(
    SELECT ip, v6, hex FROM address_keys
),
"
        );
    } else {
        sql.push_str(&nets_table(d, &opts.local));
        let _ = write!(
            sql,
            "-- Hosts: the addresses inside a --local network (an IPv4 network holds IPv4 addresses, an
-- IPv6 one IPv6 addresses).
hosts AS {m}(
{inside}),
",
            inside = super::INSIDE_NETS
        );
    }
    let many = opts.summary.many;
    let top = opts.summary.top;
    let watch = |col: &str| watch_test(&opts.summary.watch, col);
    // --top-hosts: the first k hosts in the report's order, as an ordered LIMIT (a top-k the
    // engines run in parallel), not a row number over all hosts (one partition on Spark).
    let top_hosts =
        opts.top_hosts.map_or(String::new(), |k| format!("\n    ORDER BY t.total DESC, h.v6, h.hex\n    LIMIT {k}"));
    let bigint = |e: &str| d.cast(e, "BIGINT");
    let text = |e: &str| d.cast(e, "VARCHAR");
    let _ = write!(
        sql,
        "-- One row per flow and host it concerns: outgoing for its source, incoming for its destination
-- (a flow from a host to itself is one flow, in both directions). Null ports count as 0, null
-- or negative counters as 0.
roles AS (
    SELECT sip AS host, coalesce(sport, 0) AS sport, coalesce(dport, 0) AS dport, 1 AS flows,
           {zero} AS in_packets, {zero} AS in_bytes,
           greatest(coalesce({packets}, 0), 0) AS out_packets, greatest(coalesce({bytes}, 0), 0) AS out_bytes
    FROM flows WHERE sip IN (SELECT ip FROM hosts)
    UNION ALL
    SELECT dip, coalesce(sport, 0), coalesce(dport, 0), CASE WHEN sip = dip THEN 0 ELSE 1 END,
           greatest(coalesce({packets}, 0), 0), greatest(coalesce({bytes}, 0), 0), {zero}, {zero}
    FROM flows WHERE dip IN (SELECT ip FROM hosts)
),
host_groups AS (
    SELECT host, sport, dport, sum(flows) AS flows, sum(in_packets) AS in_packets, sum(in_bytes) AS in_bytes,
           sum(out_packets) AS out_packets, sum(out_bytes) AS out_bytes
    FROM roles GROUP BY host, sport, dport
),
-- Distinct counterparts of each port: groups are distinct (sport, dport) pairs per host.
paired AS (
    SELECT g.*, count(*) OVER (PARTITION BY host, sport) AS s_pairs,
                count(*) OVER (PARTITION BY host, dport) AS d_pairs
    FROM host_groups g
),
-- The '*' collapse (--many {many}): keep the source port when it qualifies and wins (more
-- counterparts; on a tie the lower port), else the destination port when it qualifies.
kept AS (
    SELECT p.*,
           (s_pairs > {many} AND (d_pairs <= {many} OR s_pairs > d_pairs OR (s_pairs = d_pairs AND sport < dport))) AS keep_src
    FROM paired p
),
collapsed AS (
    SELECT host, flows, in_packets, in_bytes, out_packets, out_bytes,
           CASE WHEN NOT keep_src AND d_pairs > {many} THEN 0 ELSE sport END AS rs,
           CASE WHEN keep_src THEN 0 ELSE dport END AS rd
    FROM kept
),
port_rows AS (
    SELECT host, rs, rd, sum(flows) AS flows, sum(in_packets) AS in_packets, sum(in_bytes) AS in_bytes,
           sum(out_packets) AS out_packets, sum(out_bytes) AS out_bytes
    FROM collapsed GROUP BY host, rs, rd
),
-- Rows ranked by bytes, packets, flows, then ports; the first --top {top} are listed, and any row
-- with a --watch port; the rest add up to Other.
ranked AS (
    SELECT r.*,
           row_number() OVER (PARTITION BY host
                              ORDER BY in_bytes + out_bytes DESC, in_packets + out_packets DESC, flows DESC, rs, rd) AS rn
    FROM port_rows r
),
listed AS (
    SELECT n.*, (rn <= {top} OR (rs <> 0 AND {watch_rs}) OR (rd <> 0 AND {watch_rd})) AS listed
    FROM ranked n
),
report_rows AS (
    SELECT host, rn AS ord, rs, rd, false AS other,
           flows, in_packets, in_bytes, out_packets, out_bytes
    FROM listed WHERE listed
    UNION ALL
    SELECT host, {last}, 0, 0, true,
           sum(flows), sum(in_packets), sum(in_bytes), sum(out_packets), sum(out_bytes)
    FROM listed WHERE NOT listed GROUP BY host
),
-- Hosts ordered by bytes, then by address (numerically, IPv4 before IPv6): the sort keys, for
-- the final ORDER BY (a global sort the engines run in parallel).
host_order AS (
    SELECT t.host, t.total, h.v6, h.hex
    FROM (SELECT host, sum(in_bytes + out_bytes) AS total FROM host_groups GROUP BY host) t
    JOIN hosts h ON h.ip = t.host{top_hosts}
)
-- The CSV's columns; hostname is the address (naming hosts needs DNS: the caller's part).
SELECT r.host AS hostname,
       r.host AS ip,
       CASE WHEN r.other THEN '-1' WHEN r.rs = 0 THEN '*'
            ELSE {rs_text} || coalesce('/' || ns.name, '') END AS sport,
       CASE WHEN r.other THEN '-1' WHEN r.rd = 0 THEN '*'
            ELSE {rd_text} || coalesce('/' || nd.name, '') END AS dport,
       {flows} AS flows,
       {in_packets} AS in_packets, {in_bytes} AS in_bytes,
       {out_packets} AS out_packets, {out_bytes} AS out_bytes,
       {total_packets} AS total_packets, {total_bytes} AS total_bytes
FROM report_rows r
JOIN host_order o ON o.host = r.host
LEFT JOIN services ns ON ns.port = r.rs
LEFT JOIN services nd ON nd.port = r.rd
ORDER BY o.total DESC, o.v6, o.hex, r.ord;
",
        zero = bigint("0"),
        packets = bigint("packets"),
        bytes = bigint("bytes"),
        watch_rs = watch("rs"),
        watch_rd = watch("rd"),
        last = bigint("1000000000000000000"),
        rs_text = text("r.rs"),
        rd_text = text("r.rd"),
        flows = bigint("r.flows"),
        in_packets = bigint("r.in_packets"),
        in_bytes = bigint("r.in_bytes"),
        out_packets = bigint("r.out_packets"),
        out_bytes = bigint("r.out_bytes"),
        total_packets = bigint("r.in_packets + r.out_packets"),
        total_bytes = bigint("r.in_bytes + r.out_bytes"),
    );
    sql
}

fn header(d: Dialect, opts: &PortsOptions) -> String {
    let local: Vec<String> = opts.local.iter().map(|n| format!(" --local {n}")).collect();
    let watch = opts.summary.watch.to_list();
    let top_hosts = opts.top_hosts.map_or(String::new(), |k| format!(" --top-hosts {k}"));
    format!(
        "-- flowlens ports as {name} SQL: the Berkeley per-host port report over flows Parquet, with the
-- semantics of DESIGN.md, row for row what `flowlens ports --format csv` prints for
--  {local} --top {top} --many {many} --watch {watch}{top_hosts}
-- Generated by `flowlens sql ports --dialect {dialect}` with those options (see its --help).
--
-- Input: a relation named `flows` with the flows columns sip, dip, sport, dport, packets, bytes:
-- one file, a folder, or a store's days, e.g. in DuckDB
--   CREATE VIEW flows AS SELECT * FROM read_parquet('store/flows/**/*.parquet', union_by_name = true);
-- and restrict it to the days wanted (flowlens's --from/--to are not in the query).
-- Output: the CSV's columns, hostname being the address (naming hosts needs DNS). Port names are
-- the services table's (`80/http`); `*` is many ports or port 0; `-1` marks a host's Other row.
",
        name = d.name(),
        dialect = super::folder(d),
        local = if local.is_empty() { " (every address a host)".to_string() } else { local.concat() },
        top = opts.summary.top,
        many = opts.summary.many,
        watch = if watch.is_empty() { "none".to_string() } else { watch },
    )
}

/// `services AS (port, name)`: the services table's name of each port.
fn services_table(d: Dialect, services: &Services) -> String {
    let rows: Vec<Row> = (1..=u16::MAX)
        .filter_map(|p| services.name(p).map(|n| (p, n)))
        .map(|(p, n)| Row { cells: vec![p.to_string(), d.lit(n)], note: None })
        .collect();
    values_table(
        d,
        "services",
        "Port names (--services; the built-in table by default): a port prints as `port/name`.",
        &[("port", "INTEGER"), ("name", "VARCHAR")],
        &rows,
        4,
    )
}

/// A test that port expression `col` is in the watch list, as ranges.
fn watch_test(watch: &PortSet, col: &str) -> String {
    let mut singles = Vec::new();
    let mut tests = Vec::new();
    for (lo, hi) in watch.ranges() {
        if lo == hi {
            singles.push(lo.to_string());
        } else {
            tests.push(format!("{col} BETWEEN {lo} AND {hi}"));
        }
    }
    if !singles.is_empty() {
        tests.push(format!("{col} IN ({})", singles.join(", ")));
    }
    match tests.len() {
        0 => "false".to_string(),
        1 => tests.remove(0),
        _ => format!("({})", tests.join(" OR ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_ranges_and_singles() {
        let w = PortSet::parse_list("6660-6669,1214,80").unwrap();
        assert_eq!(watch_test(&w, "rs"), "(rs BETWEEN 6660 AND 6669 OR rs IN (80, 1214))");
        assert_eq!(watch_test(&PortSet::new(), "rs"), "false");
        assert_eq!(watch_test(&PortSet::parse_list("22").unwrap(), "rd"), "rd IN (22)");
    }

    #[test]
    fn options_are_literals_in_the_query() {
        let mut o = PortsOptions::new(Vec::new());
        o.local = vec!["10.0.0.0/8".parse().unwrap()];
        o.summary.top = 4;
        o.summary.many = 7;
        o.top_hosts = Some(30);
        for d in super::super::DIALECTS {
            let sql = compile(d, &o);
            assert!(sql.contains("s_pairs > 7 AND"), "{sql}");
            assert!(sql.contains("rn <= 4 OR"));
            assert!(sql.contains("ORDER BY t.total DESC, h.v6, h.hex\n    LIMIT 30\n)"), "{sql}");
            assert!(sql.contains("ORDER BY o.total DESC, o.v6, o.hex, r.ord;"));
            assert!(!sql.contains("OVER (ORDER BY"), "no window over every row");
            assert!(sql.contains("(false, '0a000000', '0affffff')"));
            let ends = sql.lines().filter(|l| !l.trim_start().starts_with("--") && l.trim_end().ends_with(';'));
            assert_eq!(ends.count(), 1, "one statement");
        }
        let spark = compile(Dialect::Spark, &o);
        assert!(!spark.contains("VARCHAR") && !spark.contains("MATERIALIZED"));
    }
}
