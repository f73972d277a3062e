//! CTU-13 / Stratosphere `.binetflow` files: Argus bidirectional records printed by `ra -c ,`
//! with the field list `StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,
//! TotPkts,TotBytes,SrcBytes` and a date in the time format (`2011/08/10 09:46:53.047277`), plus
//! the labeller's `Label` column. The record parsing is Argus's (`argus.rs`); what is particular:
//!
//! - Counters are totals (`TotPkts`, `TotBytes`) with only the source's bytes (`SrcBytes`). A
//!   record whose destination sent bytes becomes two rows, as every bidirectional format does:
//!   the originator's (`SrcBytes`) and the responder's (`TotBytes - SrcBytes`), marked in `side`.
//!   The bytes split exactly; the packets are **estimated** (the quieter side's as if they carried
//!   no payload, bounded by its share in proportion to the bytes and by half; at least one each
//!   way, summing to `TotPkts`), since the files do not say. A record the destination
//!   never answered stays one row. Kept as one row, an answered connection would read as a
//!   one-way attempt, and the findings would call every busy client a scanner.
//! - `State` as these files print it (`ra -Z b`: `S_RA`, `FSPA_FSPA`) gives TCP rows their flags,
//!   the source's before the `_`, the destination's after.
//! - ICMP ports in hex (`0x0008`), empty ports (null), `man` records counted and skipped; `Dir`
//!   (`  ->`, ` <->`, `  ?>`, `who`) and the `Label` kept as extra columns.

use super::argus::{looks_like, Argus};
use super::delimited::trim_bytes;
use super::fields::TimeContext;

/// Recognizes a binetflow header: ra's labels with the labeller's `Label` column.
pub fn detect(line: &[u8], time: &TimeContext) -> Option<Result<Argus, String>> {
    let sep = looks_like(line)?;
    let has_label = trim_bytes(line).split(|&c| c == sep).any(|n| trim_bytes(n) == b"Label");
    has_label.then(|| Argus::new("binetflow", sep, trim_bytes(line), time.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{LineParser, Outcome};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType, UInt16Type};
    use arrow_array::Array;

    const HEADER: &str =
        "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label";

    #[test]
    fn ctu13_lines() {
        let p = detect(HEADER.as_bytes(), &TimeContext::default()).unwrap().unwrap();
        assert_eq!(p.format(), "binetflow");
        assert!(super::super::argus::detect(b"StartTime,Proto,SrcAddr,DstAddr", &TimeContext::default()).is_some());
        assert!(detect(b"StartTime,Proto,SrcAddr,DstAddr", &TimeContext::default()).is_none());
        let lines = [
            // Lines in the layout of CTU-13 capture20110810.binetflow (header, padding, labels).
            "2011/08/10 09:46:53.047277,3550.182373,udp,212.50.71.179,39678,  <->,147.32.84.229,13363,CON,0,0,12,875,413,flow=Background-UDP-Established",
            "2011/08/10 09:46:53.048843,0.000883,udp,84.13.246.132,28431,  <->,147.32.84.229,13363,CON,0,0,2,135,75,flow=Background-UDP-Established",
            "2011/08/10 09:47:00.286313,0.000000,icmp,147.32.84.165,0x0008,   ->,147.32.96.69,0x5d74,ECO,0,,1,98,98,flow=From-Botnet-V42-ICMP",
            "2011/08/10 09:47:03.340125,0.000000,arp,147.32.84.165,,  who,147.32.80.1,,INT,,,1,60,60,flow=Background",
            "2011/08/10 09:46:59.607825,0.000000,man,0,0,,0,0,STA,,,0,0,0,flow=Background",
            "2011/08/10 09:47:02.1,0.5,tcp,147.32.84.165,1025,  ?>,147.32.96.69,80,FSA_A,0,0,3,180,120,flow=Background-TCP-Attempt",
            "2011/08/10 09:47:04.2,2.9,tcp,147.32.84.165,1026,   ->,147.32.96.70,445,S_,0,,3,186,186,flow=From-Botnet-V42-TCP-Attempt",
        ];
        let (r, b) = crate::ingest::parse_lines(&p, &lines);
        let r: Vec<Outcome> = r.into_iter().map(Result::unwrap).collect();
        assert_eq!(r[4], Outcome::Skipped, "man records are not flows");
        // Answered records are two rows (originator, responder); the ARP request and the
        // unanswered SYNs one.
        let rows: Vec<usize> = r.iter().map(|o| if let Outcome::Rows(n) = o { *n } else { 0 }).collect();
        assert_eq!(rows, [2, 2, 1, 1, 0, 2, 1]);
        let packets = b.column_by_name("packets").unwrap().as_primitive::<Int64Type>();
        let bytes = b.column_by_name("bytes").unwrap().as_primitive::<Int64Type>();
        assert_eq!(packets.iter().flatten().sum::<i64>(), 12 + 2 + 1 + 1 + 3 + 3, "TotPkts conserved");
        assert_eq!(bytes.iter().flatten().sum::<i64>(), 875 + 135 + 98 + 60 + 180 + 186, "TotBytes conserved");
        // 875 bytes, 413 from the source: the responder's 462 bytes, and 6 of the 12 packets
        // (estimated).
        assert_eq!((bytes.value(0), bytes.value(1)), (413, 462));
        assert_eq!((packets.value(0), packets.value(1)), (6, 6));
        let side = b.column_by_name("side").unwrap().as_string::<i32>();
        assert_eq!((side.value(0), side.value(1), side.value(4)), ("orig", "resp", "orig"));
        let (sip, dip) = (b.column_by_name("sip").unwrap(), b.column_by_name("dip").unwrap());
        let (sip, dip) = (sip.as_string::<i32>(), dip.as_string::<i32>());
        assert_eq!((sip.value(0), dip.value(1)), ("212.50.71.179", "212.50.71.179"), "the responder row runs back");
        let dport = b.column_by_name("dport").unwrap().as_primitive::<UInt16Type>();
        assert_eq!(dport.value(4), 8 << 8, "0x0008 is echo request");
        let stime = b.column_by_name("stime").unwrap().as_primitive::<TimestampMicrosecondType>();
        let etime = b.column_by_name("etime").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert_eq!(etime.value(0) - stime.value(0), 3_550_182_373);
        let label = b.column_by_name("Label").unwrap().as_string::<i32>();
        assert_eq!(label.value(4), "flow=From-Botnet-V42-ICMP");
        assert!(b.column_by_name("SrcBytes").is_none(), "SrcBytes is the originator row's bytes");
        let dir = b.column_by_name("Dir").unwrap().as_string::<i32>();
        assert_eq!((dir.value(5), dir.value(6)), ("who", "?>"));
        // Flags from the `-Z b` states: FSA_A gives FSA one way and A back; S_ a lone SYN.
        let flags = b.column_by_name("flags").unwrap().as_string::<i32>();
        assert!(flags.is_null(0), "CON is not a flag state");
        assert_eq!((flags.value(6), flags.value(7), flags.value(8)), ("FSA", "A", "S"));
        assert!(b.column_by_name("dTos").unwrap().is_null(4), "empty field → null");
    }
}
