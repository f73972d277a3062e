//! `flowlens gen`: deterministic, realistic flows for the demo, the tests and the benchmarks.
//!
//! A small world: servers in the local network for SSH, TELNET, FTP (control, active and
//! passive data), PPTP (+GRE), DNS, HTTP, HTTPS, NTP (including 123↔123 peers) and SMTP; local
//! and Internet clients on ephemeral ports; Internet servers that local clients use; scanners
//! whose probes mostly go unanswered or get a one-packet reset; P2P bulk transfers between
//! random high ports; ICMP echo and unreachables. The same seed gives the same bytes on every
//! machine (the generator is our own, not a crate whose stream may change between versions).
//! `--truth` writes every (server, port, proto, service) that answered a client.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::output::TextOut;
use crate::text::{format_time, rwcut_column, Column, Kind, RwcutRow, TextWriter, RWCUT_FIELDS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenFormat {
    /// rwcut's default fields, padded, with a title line.
    Rwcut,
    /// CSV with a header (ISO times).
    Csv,
}

pub struct GenOptions {
    pub rows: u64,
    pub seed: u64,
    pub format: GenFormat,
    pub local: Ipv4Net,
    /// First day, as days since the epoch.
    pub start_day: i64,
    pub days: u32,
}

/// xoshiro256** seeded through splitmix64.
pub struct Rng([u64; 4]);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next_u64() as usize % items.len()]
    }
}

/// One generated flow.
#[derive(Debug, Clone)]
pub struct GenFlow {
    pub sip: Ipv4Addr,
    pub dip: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    pub flags: u8,
    pub stime: i64,
    pub dur: i64,
    pub sensor: u8,
}

const FIN: u8 = 1;
const SYN: u8 = 2;
const RST: u8 = 4;
const PSH: u8 = 8;
const ACK: u8 = 16;
const FULL: u8 = FIN | SYN | PSH | ACK;

/// The addresses of the world.
struct World {
    ssh: Ipv4Addr,
    telnet: Ipv4Addr,
    ftp: Ipv4Addr,
    pptp: Ipv4Addr,
    dns: Ipv4Addr,
    web: [Ipv4Addr; 2],
    ntp: Ipv4Addr,
    smtp: Ipv4Addr,
    /// Local addresses that only act as clients.
    clients: Vec<Ipv4Addr>,
    /// Internet hosts: clients of our servers, and servers our clients use.
    internet: Vec<Ipv4Addr>,
    ext_web: Vec<Ipv4Addr>,
    ext_dns: Vec<Ipv4Addr>,
    ext_ntp: Vec<Ipv4Addr>,
    scanners: Vec<Ipv4Addr>,
    p2p: Vec<Ipv4Addr>,
    local: Ipv4Net,
    /// High ports that the built-in server rules take as a service's port on one answer.
    service_ports: crate::ports::PortSet,
}

fn host(net: &Ipv4Net, index: u32) -> Ipv4Addr {
    let size = if net.prefix_len() >= 32 { 1 } else { 1u64 << (32 - net.prefix_len()) };
    let i = (index as u64 % size.max(2).saturating_sub(2)) + 1;
    Ipv4Addr::from(u32::from(net.network()) + i as u32)
}

fn internet_addr(rng: &mut Rng, local: &Ipv4Net) -> Ipv4Addr {
    loop {
        let a = Ipv4Addr::from(rng.range(0x0100_0000, 0xdfff_ffff) as u32);
        let o = a.octets();
        let private = o[0] == 10
            || o[0] == 127
            || o[0] == 0
            || (o[0] == 172 && (16..32).contains(&o[1]))
            || (o[0] == 192 && o[1] == 168)
            || (o[0] == 169 && o[1] == 254)
            || o[3] == 0
            || o[3] == 255;
        if !private && !local.contains(&a) {
            return a;
        }
    }
}

impl World {
    fn new(rng: &mut Rng, local: Ipv4Net) -> World {
        let h = |i| host(&local, i);
        let ext = |n: usize, rng: &mut Rng| (0..n).map(|_| internet_addr(rng, &local)).collect::<Vec<_>>();
        World {
            ssh: h(266),
            telnet: h(267),
            ftp: h(268),
            pptp: h(269),
            dns: h(270),
            web: [h(271), h(272)],
            ntp: h(273),
            smtp: h(274),
            clients: (0..200).map(|i| h(512 + i * 3)).collect(),
            internet: ext(3000, rng),
            ext_web: ext(150, rng),
            ext_dns: ext(3, rng),
            ext_ntp: ext(4, rng),
            scanners: ext(5, rng),
            p2p: ext(40, rng),
            local,
            service_ports: service_ports(),
        }
    }
}

/// The high ports of the built-in rules that need no more than one client and no tie.
fn service_ports() -> crate::ports::PortSet {
    let mut set = crate::ports::PortSet::new();
    for r in crate::servers::Rules::builtin().rules.iter().filter(|r| r.tie.is_none() && r.min_clients <= 1) {
        for &(lo, hi) in &r.ports.0 {
            for p in lo.max(1024)..=hi {
                set.insert(p);
            }
        }
    }
    set
}

fn ephemeral(rng: &mut Rng) -> u16 {
    rng.range(32768, 60999) as u16
}

/// Emits generated flows and records which servers answered.
struct Emitter<'a> {
    out: &'a mut dyn FnMut(&GenFlow) -> std::io::Result<()>,
    truth: BTreeSet<(Ipv4Addr, u16, u8, &'static str)>,
    rows: u64,
}

impl Emitter<'_> {
    fn emit(&mut self, mut f: GenFlow) -> std::io::Result<()> {
        // Millisecond times, as SiLK and most NetFlow exporters record them.
        f.stime -= f.stime.rem_euclid(1000);
        f.dur -= f.dur.rem_euclid(1000);
        self.rows += 1;
        (self.out)(&f)
    }

    /// A request and its reply: `client:cport → server:sport` then back.
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &mut self,
        t: i64,
        dur: i64,
        client: Ipv4Addr,
        cport: u16,
        server: Ipv4Addr,
        sport: u16,
        proto: u8,
        req: (u64, u64),
        resp: (u64, u64),
        flags: (u8, u8),
        service: &'static str,
        sensor: u8,
    ) -> std::io::Result<()> {
        self.emit(GenFlow {
            sip: client,
            dip: server,
            sport: cport,
            dport: sport,
            proto,
            packets: req.0,
            bytes: req.1,
            flags: flags.0,
            stime: t,
            dur,
            sensor,
        })?;
        if resp.0 > 0 {
            self.truth.insert((server, sport, proto, service));
            self.emit(GenFlow {
                sip: server,
                dip: client,
                sport,
                dport: cport,
                proto,
                packets: resp.0,
                bytes: resp.1,
                flags: flags.1,
                stime: t + 1000,
                dur: (dur - 1000).max(0),
                sensor,
            })?;
        }
        Ok(())
    }
}

/// Packets and bytes with `per` bytes per packet on average.
fn sized(rng: &mut Rng, lo: u64, hi: u64, per: u64) -> (u64, u64) {
    let p = rng.range(lo, hi);
    (p, p * rng.range(per * 3 / 4, per * 5 / 4).max(28))
}

fn event(rng: &mut Rng, w: &World, e: &mut Emitter, t: i64) -> std::io::Result<()> {
    let sensor = rng.range(0, 3) as u8;
    let any_client = |rng: &mut Rng| {
        if rng.chance(0.6) {
            *rng.pick(&w.clients)
        } else {
            *rng.pick(&w.internet)
        }
    };
    let roll = rng.range(0, 999);
    match roll {
        // Web: local servers for everyone, Internet servers for local clients.
        0..=299 => {
            let (client, server) = if rng.chance(0.5) {
                (any_client(rng), *rng.pick(&w.web))
            } else {
                (*rng.pick(&w.clients), *rng.pick(&w.ext_web))
            };
            let port = if rng.chance(0.5) { 80 } else { 443 };
            let service = if port == 80 { "http" } else { "https" };
            let req = sized(rng, 4, 30, 90);
            let resp = sized(rng, 4, 400, 1100);
            let dur = rng.range(20_000, 30_000_000) as i64;
            e.exchange(t, dur, client, ephemeral(rng), server, port, 6, req, resp, (FULL, FULL), service, sensor)
        }
        // DNS over UDP (and a little TCP).
        300..=499 => {
            let (client, server) =
                if rng.chance(0.6) { (any_client(rng), w.dns) } else { (w.dns, *rng.pick(&w.ext_dns)) };
            if rng.chance(0.05) {
                let req = sized(rng, 5, 8, 70);
                let resp = sized(rng, 5, 10, 400);
                return e.exchange(
                    t,
                    40_000,
                    client,
                    ephemeral(rng),
                    server,
                    53,
                    6,
                    req,
                    resp,
                    (FULL, FULL),
                    "dns",
                    sensor,
                );
            }
            let q = rng.range(50, 90);
            let a = rng.range(90, 400);
            e.exchange(t, 1_000, client, ephemeral(rng), server, 53, 17, (1, q), (1, a), (0, 0), "dns", sensor)
        }
        500..=529 => {
            let req = sized(rng, 20, 400, 110);
            let resp = sized(rng, 18, 500, 140);
            let dur = rng.range(5_000_000, 600_000_000) as i64;
            e.exchange(t, dur, any_client(rng), ephemeral(rng), w.ssh, 22, 6, req, resp, (FULL, FULL), "ssh", sensor)
        }
        530..=539 => {
            let req = sized(rng, 30, 80, 56);
            let resp = sized(rng, 25, 60, 55);
            let dur = rng.range(5_000_000, 120_000_000) as i64;
            e.exchange(
                t,
                dur,
                *rng.pick(&w.clients),
                ephemeral(rng),
                w.telnet,
                23,
                6,
                req,
                resp,
                (FULL, FULL),
                "telnet",
                sensor,
            )
        }
        // FTP: control, then active (from port 20) or passive (to a high server port) data.
        540..=559 => {
            let client = any_client(rng);
            let dur = rng.range(5_000_000, 60_000_000) as i64;
            let req = sized(rng, 10, 20, 57);
            let resp = sized(rng, 10, 20, 68);
            e.exchange(t, dur, client, ephemeral(rng), w.ftp, 21, 6, req, resp, (FULL, FULL), "ftp", sensor)?;
            let data = sized(rng, 3, 2000, 1200);
            let ack = sized(rng, 2, 1000, 52);
            if rng.chance(0.4) {
                // Active: the server connects from port 20 to the client.
                let cport = ephemeral(rng);
                e.truth.insert((w.ftp, 20, 6, "ftp-data"));
                e.emit(GenFlow {
                    sip: w.ftp,
                    dip: client,
                    sport: 20,
                    dport: cport,
                    proto: 6,
                    packets: data.0,
                    bytes: data.1,
                    flags: FULL,
                    stime: t + 2_000_000,
                    dur: dur / 2,
                    sensor,
                })?;
                e.emit(GenFlow {
                    sip: client,
                    dip: w.ftp,
                    sport: cport,
                    dport: 20,
                    proto: 6,
                    packets: ack.0,
                    bytes: ack.1,
                    flags: FIN | SYN | ACK,
                    stime: t + 2_000_000,
                    dur: dur / 2,
                    sensor,
                })
            } else {
                let sport = rng.range(10090, 10100) as u16;
                e.exchange(
                    t + 2_000_000,
                    dur / 2,
                    client,
                    ephemeral(rng),
                    w.ftp,
                    sport,
                    6,
                    ack,
                    data,
                    (FIN | SYN | ACK, FULL),
                    "ftp-data",
                    sensor,
                )
            }
        }
        // PPTP: TCP 1723 control and GRE between the same two hosts.
        560..=569 => {
            let client = any_client(rng);
            let dur = rng.range(30_000_000, 900_000_000) as i64;
            let req = sized(rng, 8, 14, 85);
            let resp = sized(rng, 6, 12, 70);
            e.exchange(t, dur, client, ephemeral(rng), w.pptp, 1723, 6, req, resp, (FULL, FULL), "pptp", sensor)?;
            let up = sized(rng, 10, 3000, 300);
            let down = sized(rng, 10, 3000, 700);
            e.exchange(t + 1_000_000, dur - 1_000_000, client, 0, w.pptp, 0, 47, up, down, (0, 0), "gre", sensor)
        }
        // NTP: clients on ephemeral ports, and 123↔123 between the server and its upstreams.
        570..=609 => {
            if rng.chance(0.7) {
                e.exchange(
                    t,
                    1_000,
                    any_client(rng),
                    ephemeral(rng),
                    w.ntp,
                    123,
                    17,
                    (1, 76),
                    (1, 76),
                    (0, 0),
                    "ntp",
                    sensor,
                )
            } else {
                let upstream = *rng.pick(&w.ext_ntp);
                e.exchange(t, 1_000, w.ntp, 123, upstream, 123, 17, (1, 76), (1, 76), (0, 0), "ntp", sensor)
            }
        }
        610..=649 => {
            let client = *rng.pick(&w.internet);
            let req = sized(rng, 8, 200, 700);
            let resp = sized(rng, 6, 60, 60);
            e.exchange(
                t,
                rng.range(500_000, 20_000_000) as i64,
                client,
                ephemeral(rng),
                w.smtp,
                25,
                6,
                req,
                resp,
                (FULL, FULL),
                "smtp",
                sensor,
            )
        }
        // Scanners: SYN probes to random local addresses and ports; some get a reset back.
        650..=799 => {
            let scanner = *rng.pick(&w.scanners);
            let target = host(&w.local, rng.range(1, 4000) as u32);
            let port = if rng.chance(0.5) {
                *rng.pick(&[22u16, 23, 80, 137, 139, 443, 445, 1433, 3389, 8080])
            } else {
                rng.range(1, 65535) as u16
            };
            let sport = ephemeral(rng);
            e.emit(GenFlow {
                sip: scanner,
                dip: target,
                sport,
                dport: port,
                proto: 6,
                packets: 1,
                bytes: 44,
                flags: SYN,
                stime: t,
                dur: 0,
                sensor,
            })?;
            if rng.chance(0.2) {
                e.emit(GenFlow {
                    sip: target,
                    dip: scanner,
                    sport: port,
                    dport: sport,
                    proto: 6,
                    packets: 1,
                    bytes: 40,
                    flags: RST | ACK,
                    stime: t + 1000,
                    dur: 0,
                    sensor,
                })?;
            }
            Ok(())
        }
        // P2P: bulk between random high ports, both directions.
        800..=879 => {
            let local = w.clients[rng.range(0, 9) as usize];
            let peer = *rng.pick(&w.p2p);
            // Random high ports, but none that a built-in server rule names as a service port
            // (1723, 3306, 8080…): a bulk transfer answered there is that service's server by any
            // rule without flags, yet the truth file does not list it. Mapped, not redrawn, so
            // the random sequence is unchanged.
            let high = |p: u64| {
                let mut p = p as u16;
                while w.service_ports.contains(p) {
                    p = p.wrapping_add(1).max(1025);
                }
                p
            };
            let (a, b) = (high(rng.range(1025, 65535)), high(rng.range(1025, 65535)));
            let big = sized(rng, 100, 20_000, 1400);
            let small = sized(rng, 50, 5_000, 60);
            let dur = rng.range(10_000_000, 1_800_000_000) as i64;
            let (up, down) = if rng.chance(0.5) { (big, small) } else { (small, big) };
            e.emit(GenFlow {
                sip: local,
                dip: peer,
                sport: a,
                dport: b,
                proto: 6,
                packets: up.0,
                bytes: up.1,
                flags: FULL,
                stime: t,
                dur,
                sensor,
            })?;
            e.emit(GenFlow {
                sip: peer,
                dip: local,
                sport: b,
                dport: a,
                proto: 6,
                packets: down.0,
                bytes: down.1,
                flags: FULL,
                stime: t + 1000,
                dur,
                sensor,
            })
        }
        // ICMP: echo request (8/0 → dPort 2048) and reply (0/0); port unreachable (3/3 → 771).
        880..=959 => {
            let (a, b) = (any_client(rng), *rng.pick(&w.web));
            let n = rng.range(1, 10);
            e.emit(GenFlow {
                sip: a,
                dip: b,
                sport: 0,
                dport: 2048,
                proto: 1,
                packets: n,
                bytes: n * 84,
                flags: 0,
                stime: t,
                dur: n as i64 * 1_000_000,
                sensor,
            })?;
            e.emit(GenFlow {
                sip: b,
                dip: a,
                sport: 0,
                dport: 0,
                proto: 1,
                packets: n,
                bytes: n * 84,
                flags: 0,
                stime: t + 1000,
                dur: n as i64 * 1_000_000,
                sensor,
            })
        }
        _ => {
            // A UDP probe to a closed port answered by an ICMP port unreachable.
            let (a, b) = (*rng.pick(&w.scanners), host(&w.local, rng.range(1, 4000) as u32));
            let port = rng.range(1024, 40000) as u16;
            e.emit(GenFlow {
                sip: a,
                dip: b,
                sport: ephemeral(rng),
                dport: port,
                proto: 17,
                packets: 1,
                bytes: 60,
                flags: 0,
                stime: t,
                dur: 0,
                sensor,
            })?;
            e.emit(GenFlow {
                sip: b,
                dip: a,
                sport: 0,
                dport: 771,
                proto: 1,
                packets: 1,
                bytes: 88,
                flags: 0,
                stime: t + 1000,
                dur: 0,
                sensor,
            })
        }
    }
}

/// Calls `sink` for every generated flow, in start-time order within a few milliseconds.
/// Returns the servers that answered.
pub fn generate_flows(
    opts: &GenOptions,
    sink: &mut dyn FnMut(&GenFlow) -> std::io::Result<()>,
) -> std::io::Result<BTreeSet<(Ipv4Addr, u16, u8, &'static str)>> {
    let mut rng = Rng::new(opts.seed);
    let world = World::new(&mut rng, opts.local);
    let start = opts.start_day * 86_400_000_000;
    let span = opts.days as i64 * 86_400_000_000 - 60_000_000;
    let mut e = Emitter { out: sink, truth: BTreeSet::new(), rows: 0 };
    // Leave room so that the last event's rows still fit in `rows`.
    while e.rows + 2 <= opts.rows {
        let t =
            start + (span as f64 * e.rows as f64 / opts.rows.max(1) as f64) as i64 + rng.range(0, 999) as i64 * 1000;
        event(&mut rng, &world, &mut e, t)?;
    }
    // Top up with single DNS queries without answers (a resolver that did not reply).
    while e.rows < opts.rows {
        let t = start + span;
        let c = world.clients[0];
        e.emit(GenFlow {
            sip: c,
            dip: world.ext_dns[0],
            sport: ephemeral(&mut rng),
            dport: 53,
            proto: 17,
            packets: 1,
            bytes: 60,
            flags: 0,
            stime: t,
            dur: 0,
            sensor: 0,
        })?;
    }
    Ok(e.truth)
}

/// Writes generated flows as rwcut text or CSV, and optionally the ground truth.
pub fn generate(opts: &GenOptions, output: Option<&Path>, truth: Option<&Path>) -> Result<()> {
    let mut out = TextOut::create(output)?;
    let name = output.map(|p| p.display().to_string()).unwrap_or_else(|| "<stdout>".into());
    let servers = match opts.format {
        GenFormat::Rwcut => {
            let mut cols: Vec<Column> = RWCUT_FIELDS.iter().map(|c| rwcut_column(c, 15)).collect();
            cols.push(Column::new("sen", 3, Kind::Text));
            let mut w = TextWriter::new(cols, None);
            w.titles(&mut out).map_err(|e| Error::io(&name, e))?;
            let mut sink = |f: &GenFlow| -> std::io::Result<()> {
                let row = RwcutRow {
                    sip: f.sip.into(),
                    dip: f.dip.into(),
                    sport: f.sport,
                    dport: f.dport,
                    proto: f.proto,
                    packets: f.packets,
                    bytes: f.bytes,
                    flags: (f.proto == 6).then_some(f.flags),
                    stime: f.stime,
                    dur: f.dur,
                };
                w.rwcut_row(&row, &[["S0", "S1", "S2", "S3"][f.sensor as usize % 4]], &mut out)
            };
            generate_flows(opts, &mut sink)
        }
        GenFormat::Csv => {
            writeln!(out, "stime,etime,sip,dip,sport,dport,proto,packets,bytes,flags,sensor")
                .map_err(|e| Error::io(&name, e))?;
            let mut sink = |f: &GenFlow| -> std::io::Result<()> {
                let (mut s, mut e) = (String::new(), String::new());
                format_time(f.stime, &mut s);
                format_time(f.stime + f.dur, &mut e);
                let flags = if f.proto == 6 { crate::ingest::fields::flags_text(f.flags) } else { String::new() };
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},S{}",
                    s.replace('/', "-").replace('T', " "),
                    e.replace('/', "-").replace('T', " "),
                    f.sip,
                    f.dip,
                    f.sport,
                    f.dport,
                    f.proto,
                    f.packets,
                    f.bytes,
                    flags,
                    f.sensor
                )
            };
            generate_flows(opts, &mut sink)
        }
    }
    .map_err(|e| Error::io(&name, e))?;
    out.finish()?;
    if let Some(path) = truth {
        let mut t = TextOut::create(Some(path))?;
        let io = |e| Error::io(path, e);
        writeln!(t, "server,port,proto,service,local").map_err(io)?;
        for (ip, port, proto, service) in &servers {
            writeln!(t, "{ip},{port},{proto},{service},{}", opts.local.contains(ip)).map_err(io)?;
        }
        t.finish()?;
    }
    Ok(())
}
