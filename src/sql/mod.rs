//! `flowlens sql`: the reports as one SQL query each, for engines that read the same Parquet
//! where the data outgrows one machine (Spark, Trino) or where a user wants SQL (DuckDB).
//!
//! One generator, several back ends: [`ports`] writes the port report and [`servers`] the servers
//! report from the same options and rules files that the Arrow evaluation reads, with the options
//! as literals. The queries read a relation named `flows` (the flows Parquet schema) and return
//! the rows of `flowlens ports|servers --format csv`, in the same order, with the same column
//! names. What differs between engines is small and lives here, in [`Dialect`]: type names,
//! string literals, a few time and text functions. The rest of the text is the same for all three,
//! written in the SQL they share (`CASE` instead of `FILTER`, `LIKE` instead of `contains`,
//! `substr`, `split_part`, `lpad`, `regexp_extract` with a group, window functions).
//!
//! Addresses are text in the flows schema. Ordering hosts numerically and testing `--local`
//! networks needs numbers, and the engines share no 128-bit integer, so [`address_keys`] turns
//! each address into fixed-width lowercase hex (8 digits for IPv4, 32 for IPv6): compared as
//! text, they order as the numbers do, and a network is the range from its first to its last
//! address, computed here in Rust and written as two literals.

pub mod findings;
pub mod ports;
pub mod servers;

use std::fmt::Write as _;

use ipnet::IpNet;

/// The SQL engine a query is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// DuckDB (checked by running it in the tests).
    Duckdb,
    /// Spark SQL 3.4 and later, ANSI mode or not (checked by running it in the tests).
    Spark,
    /// Trino (checked for syntax only, with a parser).
    Trino,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Duckdb => "DuckDB",
            Dialect::Spark => "Spark SQL",
            Dialect::Trino => "Trino",
        }
    }

    /// The text type's name.
    pub fn string(self) -> &'static str {
        match self {
            Dialect::Spark => "STRING",
            Dialect::Duckdb | Dialect::Trino => "VARCHAR",
        }
    }

    /// A type as this dialect spells it: `VARCHAR` is `STRING` in Spark.
    pub fn ty(self, t: &str) -> &str {
        if t == "VARCHAR" {
            self.string()
        } else {
            t
        }
    }

    /// `CAST(e AS t)`.
    pub fn cast(self, e: &str, t: &str) -> String {
        format!("CAST({e} AS {})", self.ty(t))
    }

    /// A string literal. Standard SQL doubles a quote; Spark reads backslash escapes and joins
    /// adjacent literals, so there a quote and a backslash are escaped with a backslash.
    pub fn lit(self, s: &str) -> String {
        match self {
            Dialect::Spark => {
                let mut out = String::with_capacity(s.len() + 2);
                out.push('\'');
                for c in s.chars() {
                    match c {
                        '\'' | '\\' => {
                            out.push('\\');
                            out.push(c);
                        }
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c => out.push(c),
                    }
                }
                out.push('\'');
                out
            }
            Dialect::Duckdb | Dialect::Trino => format!("'{}'", s.replace('\'', "''")),
        }
    }

    /// The keyword that makes DuckDB compute a common table expression once (the address steps
    /// are expensive text work on few rows); the other engines decide for themselves.
    pub fn materialized(self) -> &'static str {
        match self {
            Dialect::Duckdb => "MATERIALIZED ",
            Dialect::Spark | Dialect::Trino => "",
        }
    }

    /// Microseconds since the epoch of a timestamp column.
    pub fn epoch_us(self, e: &str) -> String {
        match self {
            Dialect::Duckdb => format!("epoch_us({e})"),
            Dialect::Spark => format!("unix_micros({e})"),
            Dialect::Trino => format!("date_diff('microsecond', TIMESTAMP '1970-01-01 00:00:00 UTC', {e})"),
        }
    }

    /// Microseconds since the epoch as the CSV prints a time: ISO 8601 UTC with six decimals and
    /// `Z` (`2026-11-21T08:00:00.000000Z`). Spark must run with spark.sql.session.timeZone=UTC.
    pub fn time_text(self, us: &str) -> String {
        match self {
            Dialect::Duckdb => format!("strftime(make_timestamp({us}), '%Y-%m-%dT%H:%M:%S.%fZ')"),
            Dialect::Spark => format!("date_format(timestamp_micros({us}), \"yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'\")"),
            Dialect::Trino => {
                format!("date_format(from_unixtime_nanos({us} * 1000) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%i:%s.%fZ')")
            }
        }
    }

    /// Text `s` repeated `n` times.
    pub fn repeat(self, s: &str, n: &str) -> String {
        match self {
            Dialect::Duckdb | Dialect::Spark => format!("repeat({s}, {n})"),
            Dialect::Trino => format!("array_join(repeat({s}, {n}), '')"),
        }
    }

    /// The body of a common table expression that the query reads in several places, computed
    /// once. DuckDB has `MATERIALIZED` for it ([`Dialect::materialized`]). Spark copies every
    /// deterministic CTE into each place that reads it before optimizing, so a query whose CTEs
    /// read each other many times becomes a plan too large to optimize (minutes, or out of
    /// memory); a filter that is always true but not deterministic (`rand() >= 0`) keeps the CTE
    /// whole: Spark plans it once and shares its result. Trino decides for itself.
    pub fn once(self, body: &str) -> String {
        match self {
            Dialect::Spark => {
                let inner: String = body.lines().map(|l| format!("    {l}\n")).collect();
                format!("    SELECT * FROM (\n{inner}    ) once WHERE rand() >= 0\n")
            }
            Dialect::Duckdb | Dialect::Trino => body.to_string(),
        }
    }

    /// `a / b` for integer expressions, truncating (callers pass operands that are not negative,
    /// or floor themselves): `//` in DuckDB, `div` in Spark, `/` in Trino.
    pub fn div(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Duckdb => format!("(({a}) // ({b}))"),
            Dialect::Spark => format!("(({a}) div ({b}))"),
            Dialect::Trino => format!("(({a}) / ({b}))"),
        }
    }

    /// A DOUBLE with exactly the bits of `v`: its shortest round-trip text, parsed by the engine
    /// (a bare `0.1` would be a DECIMAL in DuckDB and Spark).
    pub fn double(self, v: f64) -> String {
        format!("CAST('{v:?}' AS DOUBLE)")
    }

    /// A DOUBLE as text with `places` decimals, as `format!("{:.N}")` prints it (the engines round
    /// a value exactly halfway between two outputs up; Rust rounds it to even).
    pub fn fixed(self, e: &str, places: u32) -> String {
        match self {
            Dialect::Duckdb => format!("printf('%.{places}f', {e})"),
            Dialect::Spark => format!("format_string('%.{places}f', {e})"),
            Dialect::Trino => format!("format('%.{places}f', {e})"),
        }
    }

    /// The aggregate of `value` over a group as an array ordered by `key` (one expression).
    pub fn ordered_list(self, value: &str, key: &str) -> String {
        match self {
            Dialect::Duckdb => format!("list({value} ORDER BY {key})"),
            Dialect::Spark => {
                format!("transform(array_sort(collect_list(named_struct('k', {key}, 'v', {value}))), e -> e.v)")
            }
            Dialect::Trino => format!("array_agg({value} ORDER BY {key})"),
        }
    }

    /// The aggregate of the texts `value` over a group joined by `sep`, in the order of `key`.
    pub fn string_agg(self, value: &str, sep: &str, key: &str) -> String {
        match self {
            Dialect::Duckdb => format!("string_agg({value}, {sep} ORDER BY {key})"),
            Dialect::Spark => format!("array_join({}, {sep})", self.ordered_list(value, key)),
            Dialect::Trino => format!("listagg({value}, {sep}) WITHIN GROUP (ORDER BY {key})"),
        }
    }

    /// A left fold over an array, in order: `body` computes the next `acc` from `acc` and the
    /// element `x`, starting at `init` (the same type as `body`). For the sequential parts of a
    /// definition (the TRW walk), and for floating-point sums that must add in one order.
    pub fn fold(self, array: &str, init: &str, body: &str) -> String {
        match self {
            Dialect::Duckdb => format!("list_reduce({array}, lambda acc, x: {body}, {init})"),
            Dialect::Spark => format!("aggregate({array}, {init}, (acc, x) -> {body})"),
            Dialect::Trino => format!("reduce({array}, {init}, (acc, x) -> {body}, acc -> acc)"),
        }
    }

    /// Two lowercase hex digits of an integer expression from 0 to 255.
    pub fn hex2(self, e: &str) -> String {
        match self {
            Dialect::Duckdb | Dialect::Spark => format!("lpad(lower(hex({})), 2, '0')", self.cast(e, "INTEGER")),
            Dialect::Trino => format!("lpad(to_base({}, 16), 2, '0')", self.cast(e, "BIGINT")),
        }
    }
}

/// A column of a generated table: name and SQL type (`VARCHAR` for text, in every dialect).
pub type Column = (&'static str, &'static str);

/// A row of a generated table: its SQL literals and a trailing comment (a rule's name).
pub struct Row {
    pub cells: Vec<String>,
    pub note: Option<String>,
}

/// `name AS (…)`, a typed table of literals with a comment above it. The values are cast in a
/// SELECT around the VALUES list, so that a column that is NULL in every row still has its type;
/// a table without rows is a SELECT of typed NULLs that returns nothing (VALUES cannot be empty).
pub fn values_table(
    d: Dialect,
    name: &str,
    comment: &str,
    columns: &[Column],
    rows: &[Row],
    per_line: usize,
) -> String {
    let mut s = String::new();
    for line in comment.lines() {
        let _ = writeln!(s, "-- {line}");
    }
    let _ = writeln!(s, "{name} AS (");
    if rows.is_empty() {
        let nulls: Vec<String> = columns.iter().map(|(c, t)| format!("{} AS {c}", d.cast("NULL", t))).collect();
        s.push_str(&wrap("    SELECT ", &nulls, "           "));
        s.push_str("    WHERE false\n),\n");
        return s;
    }
    let casts: Vec<String> = columns.iter().map(|(c, t)| format!("{} AS {c}", d.cast(c, t))).collect();
    s.push_str(&wrap("    SELECT ", &casts, "           "));
    s.push_str("    FROM (VALUES\n");
    // Cells padded to their column's width, so that the rows read as a table.
    // (Rows packed several to a line are padded whole instead.)
    let mut width = vec![0; columns.len()];
    for r in rows.iter().filter(|_| per_line == 1) {
        for (w, c) in width.iter_mut().zip(&r.cells) {
            *w = (*w).max(c.len());
        }
    }
    let texts: Vec<String> = rows
        .iter()
        .map(|r| {
            let last = r.cells.len().saturating_sub(1);
            let cells: Vec<String> = r
                .cells
                .iter()
                .enumerate()
                .map(|(i, c)| if i == last { c.clone() } else { format!("{:<w$}", format!("{c},"), w = width[i] + 1) })
                .collect();
            format!("({})", cells.join(" "))
        })
        .collect();
    let row_width = texts.iter().map(String::len).max().unwrap_or(0);
    let n = texts.len();
    for (start, chunk) in texts.chunks(per_line.max(1)).enumerate().map(|(k, c)| (k * per_line.max(1), c)) {
        let mut line = String::from("        ");
        for (j, t) in chunk.iter().enumerate() {
            let sep = if start + j + 1 < n { "," } else { "" };
            // Rows padded to one width, so that rows on consecutive lines line up too.
            let _ = write!(line, "{:<w$} ", format!("{t}{sep}"), w = row_width + 1);
        }
        // A row on its own line carries its note (a rule's name) as a comment.
        if let (1, Some(note)) = (chunk.len(), &rows[start].note) {
            let _ = write!(line, " -- {}", comment_text(note));
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
    let _ = writeln!(s, "    ) AS t({})", names.join(", "));
    s.push_str("),\n");
    s
}

/// `items` joined with ", " after `first`, wrapped before 100 columns onto lines that start with `indent`.
fn wrap(first: &str, items: &[String], indent: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    for (i, item) in items.iter().enumerate() {
        let sep = if i + 1 < items.len() { "," } else { "" };
        if line.len() > indent.len() && line.len() + item.len() + sep.len() > 100 && line.trim() != first.trim() {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
        }
        let _ = write!(line, "{item}{sep} ");
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "NULL".to_string(), |v| v.to_string())
}

/// Text for a `--` comment: a name with a line break in it must not end the comment.
pub fn comment_text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// An address's key: `v6` and its number as fixed-width lowercase hex (8 digits for IPv4, 32 for
/// IPv6), which order as text the way the numbers do.
pub fn hex_key(addr: std::net::IpAddr) -> (bool, String) {
    match addr {
        std::net::IpAddr::V4(a) => (false, format!("{:08x}", u32::from(a))),
        std::net::IpAddr::V6(a) => (true, format!("{:032x}", u128::from(a))),
    }
}

/// `nets AS (…)`: the `--local` networks as (`v6`, `lo`, `hi`): the keys of their first and last
/// addresses, so that an address is inside when its key is between them (same family).
pub fn nets_table(d: Dialect, nets: &[IpNet]) -> String {
    let rows: Vec<Row> = nets
        .iter()
        .map(|n| {
            let (v6, lo) = hex_key(n.network());
            let (_, hi) = hex_key(n.broadcast());
            Row { cells: vec![v6.to_string(), d.lit(&lo), d.lit(&hi)], note: Some(n.to_string()) }
        })
        .collect();
    values_table(
        d,
        "nets",
        "The local networks, each as the keys (see address_keys) of its first and last address.",
        &[("v6", "BOOLEAN"), ("lo", "VARCHAR"), ("hi", "VARCHAR")],
        &rows,
        1,
    )
}

/// The body of a CTE holding the rows of `address_keys (ip, v6, hex)` inside a `nets` network
/// (same family, key between its first and last). The test is an aggregate over the networks,
/// not a `WHERE` on the key: Spark's optimizer pushes a filter on `hex` down through the steps
/// that build the key, copying each step's expression into every use in the next (about 130,000
/// `regexp_extract` copies: minutes to plan, or out of memory); it cannot push one below a
/// `GROUP BY`.
pub const INSIDE_NETS: &str = "    SELECT ip, v6, hex
    FROM (
        SELECT a.ip, a.v6, a.hex,
               max(CASE WHEN n.v6 = a.v6 AND a.hex BETWEEN n.lo AND n.hi THEN 1 ELSE 0 END) AS inside
        FROM address_keys a CROSS JOIN nets n
        GROUP BY a.ip, a.v6, a.hex
    ) l
    WHERE inside = 1
";

/// The steps that turn the addresses of relation `source` (one column `ip`, distinct) into
/// `address_keys (ip, v6, hex)`: IPv4 dotted text or IPv6 in any RFC 4291 form (`::`, a dotted
/// IPv4 tail), as fixed-width lowercase hex. One step per common table expression; the addresses
/// are few next to the flows.
pub fn address_keys(d: Dialect, source: &str) -> String {
    address_keys_named(d, source, "")
}

/// [`address_keys`] with every step's name prefixed (`all_address_keys`…), for a second set of
/// keys in one query.
pub fn address_keys_named(d: Dialect, source: &str, prefix: &str) -> String {
    let text = address_keys_text(d, source);
    if prefix.is_empty() {
        return text;
    }
    ["ip_tail", "ip_hex", "ip_edges", "ip_full", "address_keys"]
        .iter()
        .fold(text, |t, name| t.replace(name, &format!("{prefix}{name}")))
}

fn address_keys_text(d: Dialect, source: &str) -> String {
    let m = d.materialized();
    let octet = |col: &str, i: u32| d.hex2(&d.cast(&format!("split_part({col}, '.', {i})"), "INTEGER"));
    let v4 = |col: &str| (1..=4).map(|i| octet(col, i)).collect::<Vec<_>>().join(" || ");
    let tail =
        format!("{} || {} || ':' || {} || {}", octet("tail", 1), octet("tail", 2), octet("tail", 3), octet("tail", 4));
    let groups: Vec<String> = (1..=8).map(|i| format!("lpad(split_part(t, ':', {i}), 4, '0')")).collect();
    let zeros = d.repeat("'0:'", "8 - (length(t) - length(replace(t, ':', '')))");
    format!(
        "-- Addresses as keys: fixed-width lowercase hex, which orders as the numbers do. An IPv6
-- address with a dotted IPv4 tail (::ffff:1.2.3.4) first gets hex groups for it.
ip_tail AS {m}(
    SELECT ip, ip LIKE '%:%' AS v6, lower(ip) AS t,
           CASE WHEN ip LIKE '%:%' AND ip LIKE '%.%' THEN regexp_extract(ip, '([0-9.]+)$', 1) END AS tail
    FROM {source}
),
ip_hex AS {m}(
    SELECT ip, v6,
           CASE WHEN tail IS NULL THEN t
                ELSE substr(t, 1, length(t) - length(tail)) || {tail}
           END AS t
    FROM ip_tail
),
-- '::' at either end gets a zero group beside it, so that it always sits between two groups.
ip_edges AS {m}(
    SELECT ip, v6, CASE WHEN t1 LIKE '%::' THEN t1 || '0' ELSE t1 END AS t
    FROM (SELECT ip, v6, CASE WHEN t LIKE '::%' THEN '0' || t ELSE t END AS t1 FROM ip_hex) e
),
-- '::' becomes as many zero groups as are missing from eight.
ip_full AS {m}(
    SELECT ip, v6,
           CASE WHEN t LIKE '%::%'
                THEN replace(t, '::', ':' || {zeros})
                ELSE t END AS t
    FROM ip_edges
),
address_keys AS {m}(
    SELECT ip, v6,
           CASE WHEN v6 THEN {g0} || {g1}
                          || {g2} || {g3}
                          || {g4} || {g5}
                          || {g6} || {g7}
                ELSE {v4t}
           END AS hex
    FROM ip_full
),
",
        g0 = groups[0],
        g1 = groups[1],
        g2 = groups[2],
        g3 = groups[3],
        g4 = groups[4],
        g5 = groups[5],
        g6 = groups[6],
        g7 = groups[7],
        v4t = v4("t"),
    )
}

/// Address column `c` as flowlens counts it: an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`,
/// as RFC 5952 writes it) is its IPv4 address.
pub fn unmapped(c: &str) -> String {
    format!("CASE WHEN {c} LIKE '::ffff:%' AND {c} LIKE '%.%' THEN substr({c}, 8) ELSE {c} END")
}

/// What a Spark query's header asks of the session (the servers and findings queries).
pub const SPARK_NOTE: &str = "-- Spark: run with spark.sql.session.timeZone=UTC and with
-- spark.sql.optimizer.excludedRules=org.apache.spark.sql.catalyst.optimizer.PushdownPredicatesAndPruneColumnsForCTEDef
-- (Spark 4.0 fails to optimize this query with it; scripts/spark_reports.py sets both). The
-- `rand() >= 0` filters are always true: they keep Spark from copying the shared steps into
-- every place that reads them (which makes a plan too large to optimize).
";

/// The dialects, for tests and for writing the checked-in files.
pub const DIALECTS: [Dialect; 3] = [Dialect::Duckdb, Dialect::Spark, Dialect::Trino];

/// The folder under `sql/` of a dialect's checked-in queries.
pub fn folder(d: Dialect) -> &'static str {
    match d {
        Dialect::Duckdb => "duckdb",
        Dialect::Spark => "spark",
        Dialect::Trino => "trino",
    }
}

/// The queries for the default options, as checked in under `sql/DIALECT/`: (file name, text).
pub fn defaults(d: Dialect) -> Vec<(&'static str, String)> {
    vec![
        ("ports.sql", ports::compile(d, &crate::ports::PortsOptions::new(Vec::new()))),
        ("servers.sql", servers::compile(d, &crate::servers::ReportOptions::default())),
        ("findings.sql", findings::compile(d, &crate::findings::ReportOptions::default())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_sql_is_what_the_defaults_compile_to() {
        for d in DIALECTS {
            for (name, text) in defaults(d) {
                let path = format!("{}/sql/{}/{name}", env!("CARGO_MANIFEST_DIR"), folder(d));
                let file = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    file == text,
                    "{path} is not what `flowlens sql {} --dialect {}` prints: regenerate the checked-in \
                     queries with `make sql`",
                    name.trim_end_matches(".sql"),
                    folder(d)
                );
            }
        }
    }

    #[test]
    fn hex_keys_order_as_numbers_and_nets_are_ranges() {
        let k = |s: &str| hex_key(s.parse().unwrap());
        assert_eq!(k("10.0.0.1"), (false, "0a000001".into()));
        assert_eq!(k("::ffff:10.0.0.1"), (true, "00000000000000000000ffff0a000001".into()));
        assert!(k("9.255.255.255").1 < k("10.0.0.0").1);
        assert!(k("2001:db8::1").1 < k("2001:db8::a").1 && k("2001:db8::a").1 < k("2001:db8::1:0").1);
        let nets: Vec<IpNet> = vec!["10.1.2.3/23".parse().unwrap(), "2001:db8::/33".parse().unwrap()];
        let t = nets_table(Dialect::Duckdb, &nets).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(t.contains("(false, '0a010200', '0a0103ff'),"), "{t}");
        assert!(t.contains("(true, '20010db8000000000000000000000000', '20010db87fffffffffffffffffffffff')"), "{t}");
    }

    #[test]
    fn literals_escape_per_dialect() {
        assert_eq!(Dialect::Duckdb.lit("it's"), "'it''s'");
        assert_eq!(Dialect::Trino.lit("a\\b"), "'a\\b'");
        assert_eq!(Dialect::Spark.lit("it's a\\b\n"), "'it\\'s a\\\\b\\n'");
    }
}
