#![no_main]
//! Argus `ra -c ,` / `-c '\t'`: default fields (totals) and per-direction counters.
mod common;

const HEADERS: [&str; 3] = [
    "StartTime,Flgs,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,TotPkts,TotBytes,State",
    "StartTime,LastTime,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,SrcPkts,DstPkts,SrcBytes,DstBytes,State,Flgs",
    "StartTime\tDur\tProto\tSrcAddr\tSport\tDir\tDstAddr\tDport\tSrcPkts\tDstPkts\tSrcBytes\tDstBytes\tState",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run(flowlens::ingest::Format::Argus, &HEADERS, data));
