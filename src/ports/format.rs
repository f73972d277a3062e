//! The report's outputs: the seed's CSV and human table, JSON and Parquet with typed columns.
//!
//! Every output carries the same rows in the same order; only the spelling differs.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder, UInt16Builder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;

use super::{HostSummary, RowKey, Traffic};
use crate::error::{Error, Result};
use crate::output::{AtomicFile, TextOut};
use crate::services::Services;
use crate::units::write_human;

/// Width of the table's Known Port column; longer labels drop their service names.
pub const LABEL_WIDTH: usize = 13;
/// Width of the table's Host column (names this long or longer are followed by one space).
pub const HOST_WIDTH: usize = 28;
/// Widths of the table's number columns: F, I-P, I-O, O-P, O-O, T-P, T-O.
pub const NUMBER_WIDTHS: [usize; 7] = [3, 4, 5, 4, 5, 4, 5];

/// The seed's two legend lines (the first padded to 80 columns, as in the seed).
pub const LEGEND: &str = "(F Flows) (I- Incoming) (O- Outgoing) (T- Total) (-P Packets) (-O Octets)       \n\
                          i.e. I-O means Incoming Octets\n";

/// The CSV header line.
pub const CSV_HEADER: &str =
    "hostname,ip,sport,dport,flows,in_packets,in_bytes,out_packets,out_bytes,total_packets,total_bytes";

/// What `ports --findings` adds, per host of the report (same order as the hosts): the host's
/// tags (`p2p;server`) for the `findings` column of CSV, JSON and Parquet, and the lines the
/// table prints under the host's rows (control characters escaped already).
#[derive(Debug, Clone, Default)]
pub struct Marks {
    pub tags: Vec<String>,
    pub lines: Vec<Vec<String>>,
    /// Lines for addresses that are not hosts of the report, printed after the table.
    pub others: Vec<String>,
}

/// A port as the report prints it: `*` for port 0 (and for "many"), `119/nntp` when named.
pub fn port_label(port: u16, services: &Services, named: bool) -> String {
    match (port, services.name(port)) {
        (0, _) => "*".to_string(),
        (p, Some(name)) if named => format!("{p}/{name}"),
        (p, _) => p.to_string(),
    }
}

/// The table's Known Port text: `*->119/nntp`, or without service names when that would not
/// fit in [`LABEL_WIDTH`] (`433->2186` for `433/nnsp->2186`); `Other:` for the Other row.
pub fn table_label(key: RowKey, services: &Services) -> String {
    match key {
        RowKey::Other => "Other:".to_string(),
        RowKey::Ports { sport, dport } => {
            let full = format!("{}->{}", port_label(sport, services, true), port_label(dport, services, true));
            if full.len() <= LABEL_WIDTH {
                full
            } else {
                format!("{}->{}", port_label(sport, services, false), port_label(dport, services, false))
            }
        }
    }
}

fn numbers(t: &Traffic) -> [u64; 7] {
    [t.flows, t.in_packets, t.in_bytes, t.out_packets, t.out_bytes, t.total_packets(), t.total_bytes()]
}

/// Appends `text` centred in `width` (the extra space goes to the right, as in the seed).
fn centre(line: &mut String, text: &str, width: usize) {
    let pad = width.saturating_sub(text.chars().count());
    let left = pad / 2;
    line.extend(std::iter::repeat_n(' ', left));
    line.push_str(text);
    line.extend(std::iter::repeat_n(' ', pad - left));
}

fn host_cell(line: &mut String, name: &str) {
    line.push_str(name);
    let n = name.chars().count();
    let pad = if n < HOST_WIDTH { HOST_WIDTH - n } else { 1 };
    line.extend(std::iter::repeat_n(' ', pad));
}

fn right(line: &mut String, text: &str, width: usize) {
    line.extend(std::iter::repeat_n(' ', width.saturating_sub(text.len())));
    line.push_str(text);
}

/// The table's column header line.
pub fn table_header() -> String {
    let mut line = String::with_capacity(81);
    host_cell(&mut line, "Host");
    centre(&mut line, "Known Port", LABEL_WIDTH);
    line.push_str("  ");
    for (title, w) in ["F", "I-P", "I-O", "O-P", "O-O", "T-P", "T-O"].iter().zip(NUMBER_WIDTHS) {
        line.push(' ');
        right(&mut line, title, w);
    }
    line
}

/// The seven number cells of a row (F, I-P, I-O, O-P, O-O, T-P, T-O) as the table prints them,
/// unpadded: K/M/G sized to each column's width. `flowlens report`'s port profiles print these.
pub fn table_cells(t: &Traffic) -> [String; 7] {
    let v = numbers(t);
    std::array::from_fn(|i| {
        let mut cell = String::with_capacity(8);
        write_human(&mut cell, v[i], NUMBER_WIDTHS[i]);
        cell
    })
}

/// One table line.
pub fn table_line(host: &str, label: &str, t: &Traffic) -> String {
    let mut line = String::with_capacity(81);
    host_cell(&mut line, host);
    centre(&mut line, label, LABEL_WIDTH);
    line.push_str("  ");
    for (cell, w) in table_cells(t).iter().zip(NUMBER_WIDTHS) {
        line.push(' ');
        right(&mut line, cell, w);
    }
    line
}

fn io_err(out: &TextOut, e: std::io::Error) -> Error {
    Error::io(out.name(), e)
}

/// The human table: legend, then per host a header line and its rows (and its marks' lines).
pub fn write_table(
    out: &mut TextOut,
    hosts: &[HostSummary],
    names: &[String],
    services: &Services,
    marks: Option<&Marks>,
) -> Result<()> {
    let mut text = String::with_capacity(4096);
    text.push_str(LEGEND);
    let header = table_header();
    for (i, (h, name)) in hosts.iter().zip(names).enumerate() {
        text.push('\n');
        text.push_str(&header);
        text.push('\n');
        for r in &h.rows {
            text.push_str(&table_line(name, &table_label(r.key, services), &r.traffic));
            text.push('\n');
        }
        for line in marks.and_then(|m| m.lines.get(i)).into_iter().flatten() {
            text.push_str(line);
            text.push('\n');
        }
        if text.len() > 1 << 16 {
            out.write_all(text.as_bytes()).map_err(|e| io_err(out, e))?;
            text.clear();
        }
    }
    if let Some(m) = marks.filter(|m| !m.others.is_empty()) {
        text.push_str("\nFindings of addresses that are not hosts of this report:\n");
        for line in &m.others {
            text.push_str(line);
            text.push('\n');
        }
    }
    out.write_all(text.as_bytes()).map_err(|e| io_err(out, e))
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// The seed's CSV, after one header line (and a last `findings` column with marks).
pub fn write_csv(
    out: &mut TextOut,
    hosts: &[HostSummary],
    names: &[String],
    services: &Services,
    marks: Option<&Marks>,
) -> Result<()> {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(4096);
    text.push_str(CSV_HEADER);
    if marks.is_some() {
        text.push_str(",findings");
    }
    text.push('\n');
    for (i, (h, name)) in hosts.iter().zip(names).enumerate() {
        let tags = marks.map(|m| m.tags[i].as_str());
        let name = csv_field(name);
        for r in &h.rows {
            let (s, d) = match r.key {
                RowKey::Ports { sport, dport } => {
                    (port_label(sport, services, true), port_label(dport, services, true))
                }
                RowKey::Other => ("-1".to_string(), "-1".to_string()),
            };
            let _ = write!(text, "{name},{},{s},{d}", h.addr);
            for v in numbers(&r.traffic) {
                let _ = write!(text, ",{v}");
            }
            if let Some(t) = tags {
                let _ = write!(text, ",{t}");
            }
            text.push('\n');
        }
        if text.len() > 1 << 16 {
            out.write_all(text.as_bytes()).map_err(|e| io_err(out, e))?;
            text.clear();
        }
    }
    out.write_all(text.as_bytes()).map_err(|e| io_err(out, e))
}

/// One row with typed fields, as JSON and Parquet carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TypedRow<'a> {
    /// Position of the host in the report, from 1.
    pub host_rank: u32,
    pub hostname: &'a str,
    pub ip: String,
    /// Position of the row within its host, from 1 (Other is last).
    pub row: u32,
    /// The Other row: all traffic not listed above it.
    pub other: bool,
    /// The port number; null for `*` and for Other.
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// `*`: many ports (collapsed) or port 0.
    pub sport_any: bool,
    pub dport_any: bool,
    /// As the CSV prints it (`*`, `119/nntp`, `2186`); null for Other.
    pub sport_label: Option<String>,
    pub dport_label: Option<String>,
    /// The service name, when the table has one.
    pub sport_service: Option<&'a str>,
    pub dport_service: Option<&'a str>,
    pub flows: u64,
    pub in_packets: u64,
    pub in_bytes: u64,
    pub out_packets: u64,
    pub out_bytes: u64,
    pub total_packets: u64,
    pub total_bytes: u64,
    /// With `--findings`: the host's tags, `;`-separated (empty when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<&'a str>,
}

/// Every row of the report, typed, in report order.
pub fn typed_rows<'a>(
    hosts: &'a [HostSummary],
    names: &'a [String],
    services: &'a Services,
    marks: Option<&'a Marks>,
) -> impl Iterator<Item = TypedRow<'a>> + 'a {
    hosts.iter().zip(names).enumerate().flat_map(move |(hi, (h, name))| {
        let findings = marks.map(|m| m.tags[hi].as_str());
        h.rows.iter().enumerate().map(move |(ri, r)| {
            let t = &r.traffic;
            let side = |p: Option<u16>| match p {
                None => (None, false, None, None),
                Some(0) => (None, true, Some("*".to_string()), None),
                Some(p) => (Some(p), false, Some(port_label(p, services, true)), services.name(p)),
            };
            let (s, d) = match r.key {
                RowKey::Ports { sport, dport } => (Some(sport), Some(dport)),
                RowKey::Other => (None, None),
            };
            let (sport, sport_any, sport_label, sport_service) = side(s);
            let (dport, dport_any, dport_label, dport_service) = side(d);
            TypedRow {
                host_rank: hi as u32 + 1,
                hostname: name,
                ip: h.addr.to_string(),
                row: ri as u32 + 1,
                other: r.key == RowKey::Other,
                sport,
                dport,
                sport_any,
                dport_any,
                sport_label,
                dport_label,
                sport_service,
                dport_service,
                flows: t.flows,
                in_packets: t.in_packets,
                in_bytes: t.in_bytes,
                out_packets: t.out_packets,
                out_bytes: t.out_bytes,
                total_packets: t.total_packets(),
                total_bytes: t.total_bytes(),
                findings,
            }
        })
    })
}

/// JSON: an array with one object per row, one row per line.
pub fn write_json(
    out: &mut TextOut,
    hosts: &[HostSummary],
    names: &[String],
    services: &Services,
    marks: Option<&Marks>,
) -> Result<()> {
    let mut text: Vec<u8> = Vec::with_capacity(4096);
    text.push(b'[');
    for (i, row) in typed_rows(hosts, names, services, marks).enumerate() {
        text.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        serde_json::to_writer(&mut text, &row).map_err(|e| Error::Usage(format!("JSON: {e}")))?;
        if text.len() > 1 << 16 {
            out.write_all(&text).map_err(|e| io_err(out, e))?;
            text.clear();
        }
    }
    text.extend_from_slice(b"\n]\n");
    out.write_all(&text).map_err(|e| io_err(out, e))
}

/// The Arrow schema of the Parquet report. Counters are Int64 like the flows file's (JVM
/// engines read unsigned 64-bit columns as decimals). With marks, a last `findings` column.
pub fn report_schema_with(marks: bool) -> SchemaRef {
    let mut fields = report_schema().fields().to_vec();
    if marks {
        fields.push(Arc::new(Field::new("findings", DataType::Utf8, false)));
    }
    Arc::new(Schema::new(fields))
}

/// The Arrow schema of the Parquet report (without marks).
pub fn report_schema() -> SchemaRef {
    let u = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        u("host_rank", DataType::UInt32, false),
        u("hostname", DataType::Utf8, false),
        u("ip", DataType::Utf8, false),
        u("row", DataType::UInt32, false),
        u("other", DataType::Boolean, false),
        u("sport", DataType::UInt16, true),
        u("dport", DataType::UInt16, true),
        u("sport_any", DataType::Boolean, false),
        u("dport_any", DataType::Boolean, false),
        u("sport_label", DataType::Utf8, true),
        u("dport_label", DataType::Utf8, true),
        u("sport_service", DataType::Utf8, true),
        u("dport_service", DataType::Utf8, true),
        u("flows", DataType::Int64, false),
        u("in_packets", DataType::Int64, false),
        u("in_bytes", DataType::Int64, false),
        u("out_packets", DataType::Int64, false),
        u("out_bytes", DataType::Int64, false),
        u("total_packets", DataType::Int64, false),
        u("total_bytes", DataType::Int64, false),
    ]))
}

/// Column builders for [`report_schema`].
struct Builders {
    host_rank: UInt32Builder,
    hostname: StringBuilder,
    ip: StringBuilder,
    row: UInt32Builder,
    other: BooleanBuilder,
    sport: UInt16Builder,
    dport: UInt16Builder,
    sport_any: BooleanBuilder,
    dport_any: BooleanBuilder,
    sport_label: StringBuilder,
    dport_label: StringBuilder,
    sport_service: StringBuilder,
    dport_service: StringBuilder,
    counters: [Int64Builder; 7],
    findings: StringBuilder,
    len: usize,
}

impl Builders {
    fn new() -> Self {
        Builders {
            host_rank: UInt32Builder::new(),
            hostname: StringBuilder::new(),
            ip: StringBuilder::new(),
            row: UInt32Builder::new(),
            other: BooleanBuilder::new(),
            sport: UInt16Builder::new(),
            dport: UInt16Builder::new(),
            sport_any: BooleanBuilder::new(),
            dport_any: BooleanBuilder::new(),
            sport_label: StringBuilder::new(),
            dport_label: StringBuilder::new(),
            sport_service: StringBuilder::new(),
            dport_service: StringBuilder::new(),
            counters: std::array::from_fn(|_| Int64Builder::new()),
            findings: StringBuilder::new(),
            len: 0,
        }
    }

    fn push(&mut self, r: &TypedRow<'_>) {
        self.host_rank.append_value(r.host_rank);
        self.hostname.append_value(r.hostname);
        self.ip.append_value(&r.ip);
        self.row.append_value(r.row);
        self.other.append_value(r.other);
        self.sport.append_option(r.sport);
        self.dport.append_option(r.dport);
        self.sport_any.append_value(r.sport_any);
        self.dport_any.append_value(r.dport_any);
        self.sport_label.append_option(r.sport_label.as_deref());
        self.dport_label.append_option(r.dport_label.as_deref());
        self.sport_service.append_option(r.sport_service);
        self.dport_service.append_option(r.dport_service);
        let values = [r.flows, r.in_packets, r.in_bytes, r.out_packets, r.out_bytes, r.total_packets, r.total_bytes];
        for (b, v) in self.counters.iter_mut().zip(values) {
            // Sums of never-negative Int64 counters; beyond i64::MAX they saturate rather than wrap.
            b.append_value(i64::try_from(v).unwrap_or(i64::MAX));
        }
        if let Some(f) = r.findings {
            self.findings.append_value(f);
        }
        self.len += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.host_rank.finish()),
            Arc::new(self.hostname.finish()),
            Arc::new(self.ip.finish()),
            Arc::new(self.row.finish()),
            Arc::new(self.other.finish()),
            Arc::new(self.sport.finish()),
            Arc::new(self.dport.finish()),
            Arc::new(self.sport_any.finish()),
            Arc::new(self.dport_any.finish()),
            Arc::new(self.sport_label.finish()),
            Arc::new(self.dport_label.finish()),
            Arc::new(self.sport_service.finish()),
            Arc::new(self.dport_service.finish()),
        ];
        for b in &mut self.counters {
            cols.push(Arc::new(b.finish()));
        }
        let findings = self.findings.finish();
        if schema.column_with_name("findings").is_some() {
            cols.push(Arc::new(findings));
        }
        self.len = 0;
        Ok(RecordBatch::try_new(schema.clone(), cols)?)
    }
}

/// The report as a Parquet file (written under a temporary name, then renamed into place).
pub fn write_parquet(
    path: &Path,
    hosts: &[HostSummary],
    names: &[String],
    services: &Services,
    marks: Option<&Marks>,
) -> Result<()> {
    let schema = report_schema_with(marks.is_some());
    let file = AtomicFile::create(path)?;
    let props = crate::output::report_properties();
    let mut w = ArrowWriter::try_new(file.file().map_err(|e| Error::io(path, e))?, schema.clone(), Some(props))?;
    let mut b = Builders::new();
    for row in typed_rows(hosts, names, services, marks) {
        b.push(&row);
        if b.len >= 64 * 1024 {
            w.write(&b.finish(&schema)?)?;
        }
    }
    if b.len > 0 {
        w.write(&b.finish(&schema)?)?;
    }
    w.close()?;
    file.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(flows: u64, inp: u64, inb: u64, outp: u64, outb: u64) -> Traffic {
        Traffic { flows, in_packets: inp, in_bytes: inb, out_packets: outp, out_bytes: outb }
    }

    /// The seed's newsfeed table, character for character.
    #[test]
    fn seed_table_lines() {
        let s = Services::builtin();
        assert_eq!(table_header(), "Host                         Known Port       F  I-P   I-O  O-P   O-O  T-P   T-O");
        let rows = [
            (
                RowKey::Ports { sport: 0, dport: 119 },
                t(518, 471877, 484982747, 95359, 41749837),
                "newsfeed                     *->119/nntp    .5K 461K  463M  93K 39.8M 554K  502M",
            ),
            (
                RowKey::Ports { sport: 119, dport: 0 },
                t(505, 67866, 6375734, 395801, 20807220),
                "newsfeed                     119/nntp->*    .5K  66K 6226K 387K 19.8M 453K 25.9M",
            ),
            (
                RowKey::Ports { sport: 433, dport: 2186 },
                t(1, 4, 215, 0, 0),
                "newsfeed                      433->2186       1    4   215    0     0    4   215",
            ),
            (
                RowKey::Other,
                t(4, 3, 144, 7, 370),
                "newsfeed                       Other:         4    3   144    7   370   10   514",
            ),
        ];
        for (key, traffic, want) in rows {
            assert_eq!(table_line("newsfeed", &table_label(key, &s), &traffic), want);
        }
    }

    #[test]
    fn labels() {
        let s = Services::builtin();
        assert_eq!(table_label(RowKey::Ports { sport: 1214, dport: 0 }, &s), "1214/kazaa->*"); // 13: fits
        assert_eq!(table_label(RowKey::Ports { sport: 3259, dport: 80 }, &s), "3259->80/http");
        assert_eq!(table_label(RowKey::Ports { sport: 32259, dport: 80 }, &s), "32259->80");
        assert_eq!(table_label(RowKey::Ports { sport: 0, dport: 0 }, &s), "*->*");
        assert_eq!(port_label(433, &s, true), "433/nnsp");
        assert_eq!(port_label(2186, &s, true), "2186");
    }

    #[test]
    fn long_host_names_keep_a_space() {
        let line = table_line("2001:db8:1234:5678:9abc:def0:1234:5678", "*->80/http", &t(1, 1, 1, 0, 0));
        assert!(line.starts_with("2001:db8:1234:5678:9abc:def0:1234:5678  *->80/http "), "{line}");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
