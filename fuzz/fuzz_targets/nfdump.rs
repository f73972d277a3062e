#![no_main]
//! nfdump CSV: the classic 48 columns with its Summary, the 1.7.5 element names, csv-fast.
mod common;

const HEADERS: [&str; 3] = [
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr",
    "firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows",
    "cnt,af,firstSeen,lastSeen,proto,srcAddr,srcPort,dstAddr,dstPort,srcAS,dstAS,input,output,flags,srcTos,packets,bytes",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run(flowlens::ingest::Format::Nfdump, &HEADERS, data));
