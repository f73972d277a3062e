//! The servers report's outputs: a table for people, CSV, JSON and Parquet with typed columns.
//! Every output carries the same rows in the same order.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder, UInt8Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::rules::proto_name;
use super::{Server, ServersFormat};
use crate::error::{Error, Result};
use crate::output::{write_parquet_batch, TextOut};
use crate::schema::timestamp_type;
use crate::units::human;

/// The CSV header (the first four columns are the row's key).
pub const CSV_HEADER: &str = "server,port,proto,service,clients,client_ports,flows_in,packets_in,bytes_in,\
flows_out,packets_out,bytes_out,first_seen,last_seen,rule,evidence,confidence";

/// A time as the CSV and JSON print it: ISO 8601, UTC, microseconds.
pub fn iso_time(micros: Option<i64>) -> String {
    micros
        .and_then(chrono::DateTime::from_timestamp_micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

fn io_err(out: &TextOut, e: std::io::Error) -> Error {
    Error::io(out.name(), e)
}

/// Writes the rows in `format` to `output` (stdout for `None` or `-`; Parquet needs a file).
pub fn write(rows: &[Server], format: ServersFormat, output: Option<&Path>) -> Result<()> {
    if format == ServersFormat::Parquet {
        let path = output
            .filter(|p| p.as_os_str() != "-")
            .ok_or_else(|| Error::Usage("--format parquet writes a file: give it with -o FILE".into()))?;
        return write_parquet(path, rows);
    }
    let mut out = TextOut::create(output)?;
    let text = match format {
        ServersFormat::Text => table(rows),
        ServersFormat::Csv => csv(rows),
        _ => json(rows)?,
    };
    out.write_all(text.as_bytes()).map_err(|e| io_err(&out, e))?;
    out.finish()
}

/// CSV: the header, then one line per row; `status` is added when a baseline was given.
pub fn csv(rows: &[Server]) -> String {
    let with_status = rows.iter().any(|r| r.status.is_some());
    let mut s = String::with_capacity(128 * (rows.len() + 1));
    s.push_str(CSV_HEADER);
    if with_status {
        s.push_str(",status");
    }
    s.push('\n');
    for r in rows {
        let nums =
            [r.clients, r.client_ports, r.flows_in, r.packets_in, r.bytes_in, r.flows_out, r.packets_out, r.bytes_out];
        s.push_str(&format!("{},{},{},{}", r.server, r.port, r.proto, csv_field(&r.service)));
        for n in nums {
            s.push_str(&format!(",{n}"));
        }
        s.push_str(&format!(
            ",{},{},{},{},{}",
            iso_time(r.first_seen),
            iso_time(r.last_seen),
            csv_field(&r.rule),
            csv_field(&r.evidence),
            r.confidence.as_str()
        ));
        if with_status {
            s.push(',');
            s.push_str(r.status.map_or("", |x| x.as_str()));
        }
        s.push('\n');
    }
    s
}

/// One row with typed fields, as JSON (and the alerts) carry it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JsonRow<'a> {
    pub server: String,
    pub port: u16,
    pub proto: u8,
    pub service: &'a str,
    pub clients: u64,
    pub client_ports: u64,
    pub flows_in: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub flows_out: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub rule: &'a str,
    pub evidence: &'a str,
    pub confidence: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_known: Option<bool>,
}

impl<'a> JsonRow<'a> {
    pub fn new(r: &'a Server) -> Self {
        JsonRow {
            server: r.server.to_string(),
            port: r.port,
            proto: r.proto,
            service: &r.service,
            clients: r.clients,
            client_ports: r.client_ports,
            flows_in: r.flows_in,
            packets_in: r.packets_in,
            bytes_in: r.bytes_in,
            flows_out: r.flows_out,
            packets_out: r.packets_out,
            bytes_out: r.bytes_out,
            first_seen: r.first_seen.map(|t| iso_time(Some(t))),
            last_seen: r.last_seen.map(|t| iso_time(Some(t))),
            rule: &r.rule,
            evidence: &r.evidence,
            confidence: r.confidence.as_str(),
            status: r.status.map(|s| s.as_str()),
            address_known: r.address_known,
        }
    }
}

/// JSON: an array of row objects, one per line.
pub fn json(rows: &[Server]) -> Result<String> {
    let mut s = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        s.push_str(if i == 0 { "\n" } else { ",\n" });
        s.push_str(&serde_json::to_string(&JsonRow::new(r)).map_err(|e| Error::Usage(format!("JSON: {e}")))?);
    }
    s.push_str("\n]\n");
    Ok(s)
}

/// The human table: one line per row, bytes with K/M/G suffixes (base 1024).
pub fn table(rows: &[Server]) -> String {
    let with_status = rows.iter().any(|r| r.status.is_some());
    let addr_w = rows.iter().map(|r| r.server.to_string().len()).max().unwrap_or(0).max(15);
    let svc_w = rows.iter().map(|r| r.service.len()).max().unwrap_or(0).clamp(7, 16);
    let s = format!(
        "{:<addr_w$}  {:<svc_w$}  {:>11}  {:>7}  {:>7}  {:>6}  {:>6}  {:<19}  {:<19}  {:<10}{}\n",
        "Server",
        "Service",
        "Port/Proto",
        "Clients",
        "Flows",
        "In",
        "Out",
        "First seen (UTC)",
        "Last seen (UTC)",
        "Confidence",
        if with_status { "  Status" } else { "" }
    );
    let mut s = s.trim_end().to_string() + "\n";
    let short = |t: Option<i64>| {
        t.and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into())
    };
    for r in rows {
        let svc: String = r.service.chars().take(svc_w).collect();
        s.push_str(&format!(
            "{:<addr_w$}  {:<svc_w$}  {:>11}  {:>7}  {:>7}  {:>6}  {:>6}  {:<19}  {:<19}  {:<10}{}\n",
            r.server.to_string(),
            svc,
            format!("{}/{}", r.port, proto_name(r.proto)),
            r.clients,
            r.flows_in + r.flows_out,
            human(r.bytes_in, 6).trim_start(),
            human(r.bytes_out, 6).trim_start(),
            short(r.first_seen),
            short(r.last_seen),
            r.confidence.as_str(),
            r.status.map_or(String::new(), |x| format!("  {}", x.as_str()))
        ));
        s.truncate(s.trim_end().len());
        s.push('\n');
    }
    s
}

/// The Arrow schema of the Parquet report; counters are Int64 as in the flows file.
pub fn report_schema() -> SchemaRef {
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    let mut fields = vec![f("server", DataType::Utf8, false), f("port", DataType::UInt16, false)];
    fields.push(f("proto", DataType::UInt8, false));
    fields.push(f("service", DataType::Utf8, false));
    for n in COUNTERS {
        fields.push(f(n, DataType::Int64, false));
    }
    fields.push(f("first_seen", timestamp_type(), true));
    fields.push(f("last_seen", timestamp_type(), true));
    for n in ["rule", "evidence", "confidence"] {
        fields.push(f(n, DataType::Utf8, false));
    }
    fields.push(f("status", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

const COUNTERS: [&str; 8] =
    ["clients", "client_ports", "flows_in", "packets_in", "bytes_in", "flows_out", "packets_out", "bytes_out"];

/// The rows as one Arrow batch of [`report_schema`].
pub fn to_batch(rows: &[Server]) -> Result<RecordBatch> {
    let mut server = StringBuilder::new();
    let mut port = UInt16Builder::new();
    let mut proto = UInt8Builder::new();
    let mut service = StringBuilder::new();
    let mut counters: Vec<Int64Builder> = (0..COUNTERS.len()).map(|_| Int64Builder::new()).collect();
    let mut first = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut last = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let (mut rule, mut evidence, mut confidence, mut status) =
        (StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    for r in rows {
        server.append_value(r.server.to_string());
        port.append_value(r.port);
        proto.append_value(r.proto);
        service.append_value(&r.service);
        let nums =
            [r.clients, r.client_ports, r.flows_in, r.packets_in, r.bytes_in, r.flows_out, r.packets_out, r.bytes_out];
        for (b, n) in counters.iter_mut().zip(nums) {
            b.append_value(n.min(i64::MAX as u64) as i64);
        }
        first.append_option(r.first_seen);
        last.append_option(r.last_seen);
        rule.append_value(&r.rule);
        evidence.append_value(&r.evidence);
        confidence.append_value(r.confidence.as_str());
        status.append_option(r.status.map(|s| s.as_str()));
    }
    let mut cols: Vec<ArrayRef> =
        vec![Arc::new(server.finish()), Arc::new(port.finish()), Arc::new(proto.finish()), Arc::new(service.finish())];
    cols.extend(counters.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.push(Arc::new(first.finish()));
    cols.push(Arc::new(last.finish()));
    for b in [&mut rule, &mut evidence, &mut confidence, &mut status] {
        cols.push(Arc::new(b.finish()));
    }
    Ok(RecordBatch::try_new(report_schema(), cols)?)
}

/// The rows as a Parquet file, written under a temporary name and renamed into place.
pub fn write_parquet(path: &Path, rows: &[Server]) -> Result<()> {
    write_parquet_batch(path, &to_batch(rows)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::Confidence;

    fn row() -> Server {
        Server {
            server: "10.10.0.1".parse().unwrap(),
            port: 22,
            proto: 6,
            service: "ssh".into(),
            clients: 1,
            client_ports: 1,
            flows_in: 1,
            packets_in: 42,
            bytes_in: 5449,
            flows_out: 1,
            packets_out: 33,
            bytes_out: 4829,
            first_seen: Some(1_401_583_681_120_000),
            last_seen: Some(1_401_583_681_120_000),
            rule: "ssh".into(),
            evidence: "answered 1 client; SYN+ACK".into(),
            confidence: Confidence::High,
            status: None,
            address_known: None,
        }
    }

    #[test]
    fn csv_line() {
        let text = csv(&[row()]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER));
        assert_eq!(
            lines.next(),
            Some(
                "10.10.0.1,22,6,ssh,1,1,1,42,5449,1,33,4829,2014-06-01T00:48:01.120000Z,\
                 2014-06-01T00:48:01.120000Z,ssh,answered 1 client; SYN+ACK,high"
            )
        );
    }

    #[test]
    fn batch_round_trip_types() {
        let b = to_batch(&[row(), row()]).unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.schema().field_with_name("port").unwrap().data_type(), &DataType::UInt16);
        assert_eq!(b.schema().field_with_name("first_seen").unwrap().data_type(), &timestamp_type());
    }

    #[test]
    fn table_has_a_line_per_row() {
        let t = table(&[row()]);
        assert_eq!(t.lines().count(), 2);
        assert!(t.lines().nth(1).unwrap().contains("22/tcp"), "{t}");
    }
}
