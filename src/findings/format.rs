//! The findings' outputs: a text table, CSV, JSON and Parquet, the same rows in the same order.
//! Text that came from the input (host names) is made safe: control characters are escaped in
//! the table, and a CSV field that a spreadsheet would run as a formula is prefixed with `'`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::{Finding, FindingsFormat};
use crate::error::{Error, Result};
use crate::output::{write_parquet_batch, TextOut};
use crate::schema::timestamp_type;
use crate::servers::format::iso_time;

pub const CSV_HEADER: &str = "host,hostname,tag,confidence,evidence,explanation,first_seen,last_seen";

/// Control characters as `\xNN` (and `\\` for a backslash), so a table line stays one line and
/// no escape sequence reaches the terminal.
pub fn escape_control(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || c == '\\') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_control() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// An RFC 4180 field, with a leading `=`, `+`, `-`, `@`, tab or CR defused by a `'` (OWASP's
/// advice against CSV injection).
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn write(rows: &[Finding], format: FindingsFormat, output: Option<&Path>) -> Result<()> {
    if format == FindingsFormat::Parquet {
        let path = output
            .filter(|p| p.as_os_str() != "-")
            .ok_or_else(|| Error::Usage("--format parquet writes a file: give it with -o FILE".into()))?;
        return write_parquet_batch(path, &to_batch(rows)?);
    }
    let mut out = TextOut::create(output)?;
    let text = match format {
        FindingsFormat::Table => table(rows),
        FindingsFormat::Csv => csv(rows),
        _ => json(rows)?,
    };
    out.write_all(text.as_bytes()).map_err(|e| Error::io(out.name(), e))?;
    out.finish()
}

pub fn csv(rows: &[Finding]) -> String {
    let mut s = String::with_capacity(256 * (rows.len() + 1));
    s.push_str(CSV_HEADER);
    s.push('\n');
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{}",
            r.host,
            csv_field(&r.hostname),
            r.tag.as_str(),
            r.confidence.as_str(),
            csv_field(&r.evidence),
            csv_field(&r.explanation),
            iso_time(r.first_seen),
            iso_time(r.last_seen)
        );
    }
    s
}

#[derive(serde::Serialize)]
struct JsonRow<'a> {
    host: String,
    hostname: &'a str,
    tag: &'static str,
    confidence: &'static str,
    evidence: &'a str,
    explanation: &'a str,
    first_seen: Option<String>,
    last_seen: Option<String>,
}

pub fn json_row(r: &Finding) -> Result<String> {
    serde_json::to_string(&JsonRow {
        host: r.host.to_string(),
        hostname: &r.hostname,
        tag: r.tag.as_str(),
        confidence: r.confidence.as_str(),
        evidence: &r.evidence,
        explanation: &r.explanation,
        first_seen: r.first_seen.map(|t| iso_time(Some(t))),
        last_seen: r.last_seen.map(|t| iso_time(Some(t))),
    })
    .map_err(|e| Error::Usage(format!("JSON: {e}")))
}

pub fn json(rows: &[Finding]) -> Result<String> {
    let mut s = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        s.push_str(if i == 0 { "\n" } else { ",\n" });
        s.push_str(&json_row(r)?);
    }
    s.push_str("\n]\n");
    Ok(s)
}

/// The table: one line per row with the explanation; the evidence on an indented line below.
pub fn table(rows: &[Finding]) -> String {
    let host_w = rows.iter().map(|r| r.host.to_string().len()).max().unwrap_or(0).max(15);
    let name_w = rows.iter().map(|r| escape_control(&r.hostname).chars().count()).max().unwrap_or(0).clamp(8, 24);
    let mut s =
        format!("{:<host_w$}  {:<name_w$}  {:<19}  {:<10}  Explanation\n", "Host", "Hostname", "Tag", "Confidence");
    for r in rows {
        let name: String = escape_control(&r.hostname).chars().take(name_w).collect();
        let _ = writeln!(
            s,
            "{:<host_w$}  {:<name_w$}  {:<19}  {:<10}  {}",
            r.host.to_string(),
            name,
            r.tag.as_str(),
            r.confidence.as_str(),
            escape_control(&r.explanation)
        );
        let _ = writeln!(s, "{:host_w$}  evidence: {}", "", escape_control(&r.evidence));
    }
    s
}

pub fn report_schema() -> SchemaRef {
    let mut fields: Vec<Field> = ["host", "hostname", "tag", "confidence", "evidence", "explanation"]
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, false))
        .collect();
    fields.push(Field::new("first_seen", timestamp_type(), true));
    fields.push(Field::new("last_seen", timestamp_type(), true));
    Arc::new(Schema::new(fields))
}

pub fn to_batch(rows: &[Finding]) -> Result<RecordBatch> {
    let mut text: Vec<StringBuilder> = (0..6).map(|_| StringBuilder::new()).collect();
    let mut first = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut last = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for r in rows {
        let vals =
            [&r.host.to_string(), &r.hostname, r.tag.as_str(), r.confidence.as_str(), &r.evidence, &r.explanation];
        for (b, v) in text.iter_mut().zip(vals) {
            b.append_value(v);
        }
        first.append_option(r.first_seen);
        last.append_option(r.last_seen);
    }
    let mut cols: Vec<ArrayRef> = text.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
    cols.push(Arc::new(first.finish()));
    cols.push(Arc::new(last.finish()));
    Ok(RecordBatch::try_new(report_schema(), cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Confidence, Tag};

    fn row(name: &str) -> Finding {
        Finding {
            host: "10.0.0.1".parse().unwrap(),
            hostname: name.into(),
            tag: Tag::ScanTarget,
            confidence: Confidence::High,
            evidence: "sources=3; probes=30".into(),
            explanation: "probed by 3 sources on 2 ports (137/udp, 445/tcp); answered none; sent nothing".into(),
            first_seen: Some(0),
            last_seen: None,
        }
    }

    #[test]
    fn csv_defuses_formulas_and_quotes() {
        let text = csv(&[row("=cmd|' /C calc'!A0"), row("a,b")]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER));
        assert!(lines.next().unwrap().starts_with("10.0.0.1,'=cmd|' /C calc'!A0,scan-target,high,"));
        assert!(lines.next().unwrap().starts_with("10.0.0.1,\"a,b\",scan-target"));
    }

    #[test]
    fn table_escapes_control_characters() {
        let t = table(&[row("evil\x1b[2Jname\nx")]);
        assert_eq!(t.lines().count(), 3, "{t}");
        assert!(t.contains("evil\\x1b[2Jname\\x0ax"), "{t}");
    }

    #[test]
    fn parquet_batch_types() {
        let b = to_batch(&[row("a")]).unwrap();
        assert_eq!(b.num_rows(), 1);
        assert_eq!(b.schema().field_with_name("first_seen").unwrap().data_type(), &timestamp_type());
    }
}
