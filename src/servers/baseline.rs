//! New servers: a baseline of known `(server, port, proto)` (an earlier servers Parquet or the
//! store's inventory), the `new`/`known` marks, and the NDJSON alerts.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ahash::AHashSet;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

use super::format::JsonRow;
use super::{Confidence, Server, Status};
use crate::error::{Error, Result};
use crate::output::TextOut;
use crate::scan;

/// The servers a baseline knows, by key and by address.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    keys: AHashSet<(IpAddr, u16, u8)>,
    addrs: AHashSet<IpAddr>,
}

/// An integer column of any integer type, as i64 (other writers may widen `port`/`proto`).
pub fn int_values(col: &ArrayRef) -> Option<Vec<Option<i64>>> {
    macro_rules! ints {
        ($t:ty) => {
            col.as_primitive::<$t>().iter().map(|v| v.map(|v| v as i64)).collect()
        };
    }
    Some(match col.data_type() {
        DataType::Int8 => ints!(Int8Type),
        DataType::Int16 => ints!(Int16Type),
        DataType::Int32 => ints!(Int32Type),
        DataType::Int64 => ints!(Int64Type),
        DataType::UInt8 => ints!(UInt8Type),
        DataType::UInt16 => ints!(UInt16Type),
        DataType::UInt32 => ints!(UInt32Type),
        DataType::UInt64 => ints!(UInt64Type),
        _ => return None,
    })
}

/// The `(server, port, proto)` keys of one batch of a servers report or inventory, one per row
/// (a row without a key is an error: flowlens never writes one).
pub fn batch_keys(batch: &RecordBatch, path: &Path) -> Result<Vec<(IpAddr, u16, u8)>> {
    let bad = |reason: String| Error::input(path.display().to_string(), reason);
    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| bad(format!("no column '{name}': not a servers report or inventory")))
    };
    let server = col("server")?;
    let server = server.as_string_opt::<i32>().ok_or_else(|| bad("column 'server' is not text".into()))?;
    let port = int_values(col("port")?).ok_or_else(|| bad("column 'port' is not an integer".into()))?;
    let proto = int_values(col("proto")?).ok_or_else(|| bad("column 'proto' is not an integer".into()))?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let (Some(p), Some(q), true) = (port[i], proto[i], server.is_valid(i)) else {
            return Err(bad(format!("row {}: no server, port or proto", i + 1)));
        };
        let ip: IpAddr =
            server.value(i).parse().map_err(|_| bad(format!("'{}' is not an IP address", server.value(i))))?;
        let (Ok(p), Ok(q)) = (u16::try_from(p), u8::try_from(q)) else {
            return Err(bad(format!("port {p} / proto {q} out of range")));
        };
        out.push((ip, p, q));
    }
    Ok(out)
}

impl Baseline {
    /// Reads a servers Parquet, an inventory, or a folder of them. Ambiguous rows of a servers
    /// report are not servers and are not known by it.
    pub fn load(path: &Path) -> Result<Self> {
        let files = scan::list_parquet(&[PathBuf::from(path)])?;
        let mut b = Baseline::default();
        for f in &files {
            for batch in scan::read_all(f)? {
                let keys = batch_keys(&batch, f)?;
                let ambiguous: Option<Vec<bool>> = batch
                    .column_by_name("confidence")
                    .and_then(|c| c.as_string_opt::<i32>().map(|s| s.iter().map(|v| v == Some("ambiguous")).collect()));
                let skip = ambiguous.unwrap_or_else(|| vec![false; keys.len()]);
                for (k, amb) in keys.into_iter().zip(skip) {
                    if !amb {
                        b.insert(k);
                    }
                }
            }
        }
        Ok(b)
    }

    pub fn insert(&mut self, key: (IpAddr, u16, u8)) {
        self.keys.insert(key);
        self.addrs.insert(key.0);
    }

    pub fn contains(&self, key: &(IpAddr, u16, u8)) -> bool {
        self.keys.contains(key)
    }

    /// Marks every server row new or known; returns how many are new.
    pub fn mark(&self, rows: &mut [Server]) -> usize {
        let mut new = 0;
        for r in rows.iter_mut().filter(|r| r.confidence != Confidence::Ambiguous) {
            let known = self.contains(&r.key());
            r.status = Some(if known { Status::Known } else { Status::New });
            r.address_known = Some(self.addrs.contains(&r.server));
            new += !known as usize;
        }
        new
    }
}

/// One NDJSON object per new server (an empty file when there is none).
pub fn alerts_text(rows: &[Server]) -> Result<String> {
    let mut s = String::new();
    for r in rows.iter().filter(|r| r.status == Some(Status::New)) {
        s.push_str(&serde_json::to_string(&JsonRow::new(r)).map_err(|e| Error::Usage(format!("JSON: {e}")))?);
        s.push('\n');
    }
    Ok(s)
}

/// Writes the alerts file (atomically).
pub fn write_alerts(path: &Path, rows: &[Server]) -> Result<()> {
    let mut out = TextOut::create(Some(path))?;
    out.write_all(alerts_text(rows)?.as_bytes()).map_err(|e| Error::io(path, e))?;
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(ip: &str, port: u16) -> Server {
        Server {
            server: ip.parse().unwrap(),
            port,
            proto: 6,
            service: "x".into(),
            clients: 1,
            client_ports: 1,
            flows_in: 1,
            packets_in: 1,
            bytes_in: 1,
            flows_out: 1,
            packets_out: 2,
            bytes_out: 2,
            first_seen: None,
            last_seen: None,
            rule: "x".into(),
            evidence: String::new(),
            confidence: Confidence::Medium,
            status: None,
            address_known: None,
        }
    }

    #[test]
    fn marks_new_and_known() {
        let mut b = Baseline::default();
        b.insert(("10.0.0.1".parse().unwrap(), 22, 6));
        let mut rows = vec![server("10.0.0.1", 22), server("10.0.0.1", 80), server("10.0.0.2", 22)];
        assert_eq!(b.mark(&mut rows), 2);
        assert_eq!(rows[0].status, Some(Status::Known));
        assert_eq!((rows[1].status, rows[1].address_known), (Some(Status::New), Some(true)));
        assert_eq!((rows[2].status, rows[2].address_known), (Some(Status::New), Some(false)));
        let text = alerts_text(&rows).unwrap();
        assert_eq!(text.lines().count(), 2);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["server"], "10.0.0.1");
        assert_eq!(v["port"], 80);
        assert_eq!(v["status"], "new");
    }
}
