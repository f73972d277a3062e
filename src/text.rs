//! Flows as rwcut-style text: the writer behind `flowlens cat` and `flowlens gen`. Columns are
//! right-aligned to rwcut's widths (or unpadded with a delimiter), times print as
//! `YYYY/MM/DDThh:mm:ss.sss` (six decimals when the value needs them, so that nothing is lost),
//! flags in their fixed FSRPAUEC positions.

use std::io::Write;

use crate::ingest::fields::civil_from_days;

/// One printed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ip,
    Int,
    Time,
    Duration,
    Flags,
    Text,
}

/// Title, width and kind of a column.
#[derive(Debug, Clone)]
pub struct Column {
    pub title: String,
    pub width: usize,
    pub kind: Kind,
}

impl Column {
    pub fn new(title: &str, width: usize, kind: Kind) -> Self {
        Column { title: title.to_string(), width, kind }
    }
}

/// The rwcut column for a flow column name (title, width, kind).
pub fn rwcut_column(name: &str, ip_width: usize) -> Column {
    match name {
        crate::schema::SIP => Column::new("sIP", ip_width, Kind::Ip),
        crate::schema::DIP => Column::new("dIP", ip_width, Kind::Ip),
        crate::schema::SPORT => Column::new("sPort", 5, Kind::Int),
        crate::schema::DPORT => Column::new("dPort", 5, Kind::Int),
        crate::schema::PROTO => Column::new("pro", 3, Kind::Int),
        crate::schema::PACKETS => Column::new("packets", 10, Kind::Int),
        crate::schema::BYTES => Column::new("bytes", 10, Kind::Int),
        crate::schema::FLAGS => Column::new("flags", 8, Kind::Flags),
        crate::schema::STIME => Column::new("sTime", 23, Kind::Time),
        crate::schema::ETIME => Column::new("eTime", 23, Kind::Time),
        "duration" => Column::new("duration", 9, Kind::Duration),
        other => {
            // rwcut's own title for the SiLK fields it abbreviates (`sensor` prints as `sen`),
            // which convert stores under the field name again.
            let title = crate::schema::silk_title(other);
            Column::new(title, title.len().max(3), Kind::Text)
        }
    }
}

/// rwcut's default fields (before the sensor), the columns [`RwcutRow`] fills.
pub const RWCUT_FIELDS: [&str; 11] =
    ["sip", "dip", "sport", "dport", "proto", "packets", "bytes", "flags", "stime", "duration", "etime"];

/// One flow as rwcut prints it; times and the duration in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct RwcutRow {
    pub sip: std::net::IpAddr,
    pub dip: std::net::IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    /// `None` prints a blank flags cell.
    pub flags: Option<u8>,
    pub stime: i64,
    pub dur: i64,
}

/// Writes rows of pre-formatted cells.
pub struct TextWriter {
    pub columns: Vec<Column>,
    /// `Some(c)`: no padding, cells separated by `c`; `None`: rwcut padding and `|`.
    pub delimiter: Option<char>,
    line: String,
}

impl TextWriter {
    pub fn new(columns: Vec<Column>, delimiter: Option<char>) -> Self {
        TextWriter { columns, delimiter, line: String::with_capacity(256) }
    }

    /// Writes `row` in the [`RWCUT_FIELDS`] columns, then `extras` in the columns after them,
    /// and ends the line.
    pub fn rwcut_row(&mut self, row: &RwcutRow, extras: &[&str], out: &mut dyn Write) -> std::io::Result<()> {
        let r = row;
        let fills: [&dyn Fn(&mut String); 11] = [
            &|c| display(c, r.sip),
            &|c| display(c, r.dip),
            &|c| display(c, r.sport),
            &|c| display(c, r.dport),
            &|c| display(c, r.proto),
            &|c| display(c, r.packets),
            &|c| display(c, r.bytes),
            &|c| {
                if let Some(mask) = r.flags {
                    format_flags(mask, c)
                }
            },
            &|c| format_time(r.stime, c),
            &|c| format_duration(r.dur, c),
            &|c| format_time(r.stime + r.dur, c),
        ];
        let mut cell = String::with_capacity(32);
        for (i, fill) in fills.iter().enumerate() {
            cell.clear();
            fill(&mut cell);
            self.cell(i, &cell);
        }
        for (k, extra) in extras.iter().enumerate() {
            self.cell(fills.len() + k, extra);
        }
        self.end(out)
    }

    pub fn titles(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        self.line.clear();
        for i in 0..self.columns.len() {
            let title = self.columns[i].title.clone();
            self.cell(i, &title);
        }
        self.end(out)
    }

    /// Appends cell `i` of the current line.
    #[inline]
    pub fn cell(&mut self, i: usize, value: &str) {
        match self.delimiter {
            Some(d) => {
                if i > 0 {
                    self.line.push(d);
                }
                self.line.push_str(value);
            }
            None => {
                for _ in value.len()..self.columns[i].width {
                    self.line.push(' ');
                }
                self.line.push_str(value);
                self.line.push('|');
            }
        }
    }

    /// Ends the current line and writes it.
    pub fn end(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        self.line.push('\n');
        out.write_all(self.line.as_bytes())?;
        self.line.clear();
        Ok(())
    }
}

/// Appends `v` (writing to a String cannot fail).
fn display(c: &mut String, v: impl std::fmt::Display) {
    use std::fmt::Write as _;
    let _ = write!(c, "{v}");
}

/// `YYYY/MM/DDThh:mm:ss.sss`, with six decimals when the microseconds are not whole ms.
pub fn format_time(micros: i64, buf: &mut String) {
    use std::fmt::Write as _;
    let days = micros.div_euclid(86_400_000_000);
    let rem = micros.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000;
    let frac = rem % 1_000_000;
    let _ = write!(buf, "{y:04}/{m:02}/{d:02}T{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac % 1000 == 0 {
        let _ = write!(buf, ".{:03}", frac / 1000);
    } else {
        let _ = write!(buf, ".{frac:06}");
    }
}

/// Seconds with three decimals (six when needed).
pub fn format_duration(micros: i64, buf: &mut String) {
    use std::fmt::Write as _;
    let (s, f) = (micros / 1_000_000, micros % 1_000_000);
    if f % 1000 == 0 {
        let _ = write!(buf, "{s}.{:03}", f / 1000);
    } else {
        let _ = write!(buf, "{s}.{f:06}");
    }
}

/// Flags in rwcut's fixed positions: `FS PA   `.
pub fn format_flags(mask: u8, buf: &mut String) {
    for (bit, &c) in crate::ingest::fields::FLAG_LETTERS.iter().enumerate() {
        buf.push(if mask & (1 << bit) != 0 { c as char } else { ' ' });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_flags() {
        let mut s = String::new();
        format_time(1_234_396_805_123_000, &mut s);
        assert_eq!(s, "2009/02/12T00:00:05.123");
        s.clear();
        format_time(1_234_396_805_123_456, &mut s);
        assert_eq!(s, "2009/02/12T00:00:05.123456");
        s.clear();
        format_duration(94_742_000, &mut s);
        assert_eq!(s, "94.742");
        s.clear();
        format_flags(0x1b, &mut s);
        assert_eq!(s, "FS PA   ");
    }
}
