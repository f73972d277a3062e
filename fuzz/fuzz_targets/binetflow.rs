#![no_main]
//! CTU-13 binetflow.
mod common;

const HEADERS: [&str; 1] =
    ["StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label"];

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run(flowlens::ingest::Format::Binetflow, &HEADERS, data));
