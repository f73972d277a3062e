//! Reverse DNS (PTR) for the hosts of a report.
//!
//! Lookups go over UDP straight to one resolver (`--resolver`, default the first `nameserver`
//! of /etc/resolv.conf), many at a time on plain threads (they wait on the network, not the
//! CPU, so they stay off the rayon pool), each bounded by its own timeout: a resolver that
//! never answers costs one timeout per wave of lookups, not per host. Answers, positive and
//! negative (NXDOMAIN, no PTR), are kept in an on-disk cache for a TTL so that a nightly job
//! does not ask again; failures (timeouts, SERVFAIL) are not cached. The cache is a TSV file
//! rewritten atomically.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag, Question, CLASS, RCODE, TYPE};

use crate::error::{Error, Result};
use crate::output::TextOut;

/// Default wait for one lookup.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default lifetime of a cached answer: a week, so that daily reports reuse it.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 86_400);
/// Default number of lookups in flight.
pub const DEFAULT_PARALLEL: usize = 64;

#[derive(Debug, Clone)]
pub struct ResolveOptions {
    pub server: SocketAddr,
    pub timeout: Duration,
    pub parallel: usize,
    /// The cache file; `None` keeps nothing on disk.
    pub cache: Option<PathBuf>,
    pub ttl: Duration,
}

impl ResolveOptions {
    pub fn new(server: SocketAddr) -> Self {
        ResolveOptions {
            server,
            timeout: DEFAULT_TIMEOUT,
            parallel: DEFAULT_PARALLEL,
            cache: default_cache_path(),
            ttl: DEFAULT_TTL,
        }
    }
}

/// The outcome of one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Name(String),
    /// The resolver says there is no name (NXDOMAIN, or no PTR record).
    NoName,
    /// No usable answer (timeout, SERVFAIL, refused, garbled reply): not cached.
    Failed(String),
}

/// What a round of lookups did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveStats {
    pub addresses: usize,
    pub from_cache: usize,
    pub asked: usize,
    pub names: usize,
    pub no_name: usize,
    pub failed: usize,
    /// A cache that could not be read or written (the lookups themselves still count).
    pub cache_problem: Option<String>,
}

/// `$XDG_CACHE_HOME/flowlens/rdns.tsv`, else `$HOME/.cache/flowlens/rdns.tsv`.
pub fn default_cache_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("flowlens").join("rdns.tsv"))
}

/// The system's resolver: the first `nameserver` of /etc/resolv.conf, else 127.0.0.1:53
/// (what the C library falls back to).
pub fn system_resolver() -> SocketAddr {
    std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|text| first_nameserver(&text))
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 53)))
}

fn first_nameserver(text: &str) -> Option<SocketAddr> {
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        if w.next() != Some("nameserver") {
            return None;
        }
        // A link-local IPv6 server may carry a zone (`fe80::1%eth0`) that std cannot parse.
        let ip: IpAddr = w.next()?.parse().ok()?;
        Some(SocketAddr::new(ip, 53))
    })
}

/// Parses `--resolver`: `ADDR` or `ADDR:PORT` (`[ADDR]:PORT` for IPv6); port 53 by default.
pub fn parse_resolver(s: &str) -> Result<SocketAddr> {
    let s = s.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    let ip = s.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)).map_err(|_| {
        Error::Usage(format!("--resolver '{s}' is not an address: write e.g. 192.0.2.53, 127.0.0.1:5353 or [::1]:53"))
    })
}

/// Parses a duration: seconds (`3600`) or a number with a unit: `500ms`, `90s`, `30m`, `12h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim());
    let millis: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => u64::MAX,
    };
    num.parse::<u64>()
        .ok()
        .filter(|_| millis != u64::MAX)
        .and_then(|n| n.checked_mul(millis))
        .map(Duration::from_millis)
        .ok_or_else(|| {
            Error::Usage(format!("'{s}' is not a duration: write seconds, or e.g. 500ms, 90s, 30m, 12h, 7d"))
        })
}

/// The PTR query name: `55.206.32.128.in-addr.arpa`, or nibbles under `ip6.arpa`.
pub fn ptr_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(72);
            for b in a.octets().iter().rev() {
                for nibble in [b & 0xf, b >> 4] {
                    s.push(char::from_digit(nibble as u32, 16).unwrap_or('0'));
                    s.push('.');
                }
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// A name as it may be printed: no trailing dot, nothing but printable ASCII (anything else,
/// which a hostile PTR record could carry, becomes `?`).
fn clean_name(name: &str) -> String {
    name.trim_end_matches('.').chars().map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect()
}

fn query_id(ip: IpAddr, attempt: u32) -> u16 {
    // A fresh random key per process (ahash's runtime RNG): ids a spoofer cannot predict.
    thread_local!(static KEY: ahash::RandomState = ahash::RandomState::new());
    KEY.with(|k| k.hash_one((ip, attempt, Instant::now())) as u16)
}

/// Builds the PTR query for `ip`.
pub fn build_query(ip: IpAddr, id: u16) -> Result<Vec<u8>> {
    let qname = ptr_name(ip);
    let mut p = Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    let name = Name::new(&qname).map_err(|e| Error::Usage(format!("DNS name {qname}: {e}")))?;
    p.questions.push(Question::new(name, TYPE::PTR.into(), CLASS::IN.into(), false));
    p.build_bytes_vec().map_err(|e| Error::Usage(format!("DNS query for {qname}: {e}")))
}

/// Reads a reply: `None` when it is not the reply to query `id` (to be ignored).
pub fn parse_reply(buf: &[u8], id: u16) -> Option<Answer> {
    let p = match Packet::parse(buf) {
        Ok(p) => p,
        // A garbled datagram with our id is a failed lookup; anything else is ignored.
        Err(_) => {
            return (buf.len() >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id)
                .then(|| Answer::Failed("unreadable reply".into()))
        }
    };
    if p.id() != id || !p.has_flags(PacketFlag::RESPONSE) {
        return None;
    }
    match p.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Some(Answer::NoName),
        other => return Some(Answer::Failed(format!("resolver answered {other:?}"))),
    }
    // Classless delegations (RFC 2317) answer with a CNAME then the PTR: take the first PTR.
    let name = p.answers.iter().find_map(|rr| match &rr.rdata {
        RData::PTR(ptr) => Some(clean_name(&ptr.0.to_string())),
        _ => None,
    });
    Some(match name {
        Some(n) if !n.is_empty() => Answer::Name(n),
        _ if p.has_flags(PacketFlag::TRUNCATION) => Answer::Failed("truncated reply".into()),
        _ => Answer::NoName,
    })
}

/// One PTR lookup, bounded by `timeout` in all (the query is sent again once, halfway).
pub fn lookup(ip: IpAddr, server: SocketAddr, timeout: Duration) -> Answer {
    match lookup_inner(ip, server, timeout) {
        Ok(a) => a,
        Err(e) => Answer::Failed(e.to_string()),
    }
}

fn lookup_inner(ip: IpAddr, server: SocketAddr, timeout: Duration) -> std::io::Result<Answer> {
    let bind: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(server)?;
    let start = Instant::now();
    let deadline = start + timeout;
    let resend_at = start + timeout / 2;
    let id = query_id(ip, 0);
    let query = build_query(ip, id).map_err(std::io::Error::other)?;
    sock.send(&query)?;
    let mut resent = false;
    let mut buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(Answer::Failed(format!("no answer within {} ms", timeout.as_millis())));
        }
        let wait_until = if resent { deadline } else { resend_at.max(now + Duration::from_millis(1)) };
        sock.set_read_timeout(Some(wait_until.saturating_duration_since(now).max(Duration::from_millis(1))))?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                if let Some(a) = parse_reply(&buf[..n], id) {
                    return Ok(a);
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if !resent {
                    resent = true;
                    sock.send(&query)?;
                }
            }
            // ICMP port unreachable: nothing listens there.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Ok(Answer::Failed(format!("{server} refused the query (nothing listening?)")))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Cached answers: address → (name or none, when asked, seconds since the epoch).
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<IpAddr, (Option<String>, u64)>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Cache {
    /// Reads a cache file; a missing file is an empty cache, unreadable lines are skipped (the
    /// cache only saves lookups).
    pub fn load(path: &Path) -> Result<Cache> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cache::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut c = Cache::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut f = line.split('\t');
            let (Some(ip), Some(name), Some(at)) = (f.next(), f.next(), f.next()) else { continue };
            let (Ok(ip), Ok(at)) = (ip.parse::<IpAddr>(), at.parse::<u64>()) else { continue };
            let name = (!name.is_empty()).then(|| clean_name(name));
            c.entries.insert(ip, (name, at));
        }
        Ok(c)
    }

    /// The cached answer for `ip` if younger than `ttl`: `Some(None)` is a cached "no name".
    pub fn get(&self, ip: IpAddr, ttl: Duration, now: u64) -> Option<Option<String>> {
        let (name, at) = self.entries.get(&ip)?;
        (now.saturating_sub(*at) < ttl.as_secs() && *at <= now).then(|| name.clone())
    }

    pub fn put(&mut self, ip: IpAddr, name: Option<String>, at: u64) {
        self.entries.insert(ip, (name, at));
    }

    /// Writes the entries younger than `ttl`, atomically.
    pub fn save(&self, path: &Path, ttl: Duration, now: u64) -> Result<()> {
        use std::io::Write;
        let mut rows: Vec<_> =
            self.entries.iter().filter(|(_, (_, at))| now.saturating_sub(*at) < ttl.as_secs()).collect();
        rows.sort_by_key(|(ip, _)| **ip);
        let mut out = TextOut::create(Some(path))?;
        let io = |e| Error::io(path, e);
        writeln!(out, "# flowlens reverse DNS cache: address, name (empty: none), unix time asked").map_err(io)?;
        for (ip, (name, at)) in rows {
            writeln!(out, "{ip}\t{}\t{at}", name.as_deref().unwrap_or("")).map_err(io)?;
        }
        out.finish()
    }
}

/// Names for `ips` (`None`: no name or the lookup failed), from the cache where fresh and
/// from `opts.server` otherwise, `opts.parallel` lookups at a time.
pub fn resolve_all(ips: &[IpAddr], opts: &ResolveOptions) -> (HashMap<IpAddr, Option<String>>, ResolveStats) {
    let mut stats = ResolveStats { addresses: ips.len(), ..Default::default() };
    let now = now_secs();
    let mut cache = match &opts.cache {
        Some(p) => Cache::load(p).unwrap_or_else(|e| {
            stats.cache_problem = Some(format!("cannot read the DNS cache: {e}"));
            Cache::default()
        }),
        None => Cache::default(),
    };
    let mut out = HashMap::with_capacity(ips.len());
    let mut ask = Vec::new();
    for &ip in ips {
        match cache.get(ip, opts.ttl, now) {
            Some(name) => {
                stats.from_cache += 1;
                out.insert(ip, name);
            }
            None => ask.push(ip),
        }
    }
    ask.sort();
    ask.dedup();
    stats.asked = ask.len();
    let answers: Mutex<Vec<(IpAddr, Answer)>> = Mutex::new(Vec::with_capacity(ask.len()));
    let next = AtomicUsize::new(0);
    let workers = opts.parallel.clamp(1, 1024).min(ask.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&ip) = ask.get(i) else { break };
                let a = lookup(ip, opts.server, opts.timeout);
                if let Ok(mut v) = answers.lock() {
                    v.push((ip, a));
                }
            });
        }
    });
    let answers = answers.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut changed = false;
    for (ip, a) in answers {
        let name = match a {
            Answer::Name(n) => {
                stats.names += 1;
                cache.put(ip, Some(n.clone()), now);
                changed = true;
                Some(n)
            }
            Answer::NoName => {
                stats.no_name += 1;
                cache.put(ip, None, now);
                changed = true;
                None
            }
            Answer::Failed(_) => {
                stats.failed += 1;
                None
            }
        };
        out.insert(ip, name);
    }
    if let (Some(p), true) = (&opts.cache, changed) {
        if let Err(e) = cache.save(p, opts.ttl, now) {
            stats.cache_problem = Some(format!("cannot write the DNS cache: {e}"));
        }
    }
    (out, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::PTR;
    use simple_dns::ResourceRecord;

    #[test]
    fn ptr_names() {
        assert_eq!(ptr_name("128.32.206.55".parse().unwrap()), "55.206.32.128.in-addr.arpa");
        assert_eq!(
            ptr_name("2001:db8::567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    fn reply(id: u16, rcode: RCODE, answer: Option<&str>) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        *p.rcode_mut() = rcode;
        let q = ptr_name("10.0.0.1".parse().unwrap());
        p.questions.push(Question::new(Name::new_unchecked(&q), TYPE::PTR.into(), CLASS::IN.into(), false));
        if let Some(a) = answer {
            p.answers.push(ResourceRecord::new(
                Name::new_unchecked(&q),
                CLASS::IN,
                300,
                RData::PTR(PTR(Name::new_unchecked(a))),
            ));
        }
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(&reply(7, RCODE::NoError, Some("newsfeed.berkeley.edu")), 7),
            Some(Answer::Name("newsfeed.berkeley.edu".into()))
        );
        assert_eq!(parse_reply(&reply(7, RCODE::NameError, None), 7), Some(Answer::NoName));
        assert_eq!(parse_reply(&reply(7, RCODE::NoError, None), 7), Some(Answer::NoName));
        assert!(matches!(parse_reply(&reply(7, RCODE::ServerFailure, None), 7), Some(Answer::Failed(_))));
        // Someone else's reply is ignored, and so is a query.
        assert_eq!(parse_reply(&reply(8, RCODE::NoError, Some("x.example")), 7), None);
        assert_eq!(parse_reply(&build_query("10.0.0.1".parse().unwrap(), 7).unwrap(), 7), None);
        assert_eq!(parse_reply(&[0, 7, 1], 7), Some(Answer::Failed("unreadable reply".into())));
        assert_eq!(parse_reply(&[0, 9, 1], 7), None);
        // Control characters from a hostile record do not reach the report.
        assert_eq!(clean_name("a\u{7}b.example."), "a?b.example");
    }

    #[test]
    fn resolver_and_durations() {
        assert_eq!(parse_resolver("127.0.0.1").unwrap(), "127.0.0.1:53".parse().unwrap());
        assert_eq!(parse_resolver("127.0.0.1:5353").unwrap(), "127.0.0.1:5353".parse().unwrap());
        assert_eq!(parse_resolver("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(parse_resolver("[::1]:5353").unwrap(), "[::1]:5353".parse().unwrap());
        assert!(parse_resolver("dns.example").is_err());
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(
            first_nameserver("# x\nsearch example\nnameserver fe80::1%eth0\nnameserver 192.0.2.1\n"),
            Some("192.0.2.1:53".parse().unwrap())
        );
    }

    #[test]
    fn cache_roundtrip_and_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("rdns.tsv");
        let mut c = Cache::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let old: IpAddr = "10.0.0.9".parse().unwrap();
        c.put(a, Some("a.example".into()), 1000);
        c.put(b, None, 1000);
        c.put(old, Some("old.example".into()), 10);
        let ttl = Duration::from_secs(500);
        c.save(&path, ttl, 1100).unwrap();
        let c = Cache::load(&path).unwrap();
        assert_eq!(c.get(a, ttl, 1100), Some(Some("a.example".into())));
        assert_eq!(c.get(b, ttl, 1100), Some(None));
        assert_eq!(c.get(old, ttl, 1100), None, "expired entries are dropped on save");
        assert_eq!(c.get(a, ttl, 1600), None, "and ignored once older than the TTL");
        assert!(Cache::load(&dir.path().join("missing.tsv")).unwrap().entries.is_empty());
    }
}
