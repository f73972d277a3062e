//! docs/findings.md sections 2-7: one host's conversations (sorted by peer) in, its tags out.
//! Pure functions over the merged state: no I/O, no shared mutable state, so the shards are
//! decided in parallel and a test can feed a host's conversations to a [`Decider`] directly.
//!
//! A host's conversations stream through a [`Decider`]: each is oriented once, folded into the
//! host's [`Totals`], and kept only if some section reads it whole (the host's own attempts,
//! the probes it received, its P2P-shaped and bulk-serving exchanges). So a busy server's
//! millions of answered client conversations are counted, not held; what a host keeps is what
//! its evidence is made of.

use std::net::IpAddr;

use super::aggregate::{bits, Conv, Half, Key};
use super::rules::FindingRules;
use super::{Confidence, Finding, ScanKind, Tag};
use crate::units::human;

/// What every host's decision reads.
pub struct Ctx<'a> {
    pub rules: &'a FindingRules,
    pub addrs: &'a [IpAddr],
    /// Per address id: inside `--local` (all true without it).
    pub local: &'a [bool],
    /// `--local` was given.
    pub local_given: bool,
    /// Per address id: a unicast address. Flows to or from a multicast, broadcast or unspecified
    /// address (SSDP, mDNS, NetBIOS, DHCP) are read by no section: nothing answers them as a
    /// conversation, so they are not attempts, and such an address is no host.
    pub unicast: &'a [bool],
    /// Port names for the evidence.
    pub services: &'a crate::services::Services,
    /// `(server, port, proto)` that the servers evaluation ties to a control channel (FTP
    /// data, PPTP's GRE): proven services, never P2P-shaped.
    pub tied: &'a std::collections::HashSet<(IpAddr, u16, u8)>,
}

/// Not a multicast, broadcast or unspecified address (see [`Ctx::unicast`]).
pub fn is_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => !(v.is_multicast() || v.is_broadcast() || v.is_unspecified()),
        IpAddr::V6(v) => !(v.is_multicast() || v.is_unspecified()),
    }
}

/// One conversation from the host's point of view, oriented.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub peer: u32,
    pub hport: u16,
    pub pport: u16,
    pub proto: u8,
    /// The host opened it.
    pub host_init: bool,
    pub answered: bool,
    pub established: bool,
    pub icmp_error: bool,
    pub conv: &'a Conv,
}

impl View<'_> {
    /// The opener's half and the answer's half.
    pub fn halves(&self) -> (&Half, &Half) {
        if self.host_init {
            (&self.conv.out, &self.conv.inn)
        } else {
            (&self.conv.inn, &self.conv.out)
        }
    }
    fn first(&self) -> i64 {
        self.conv.out.first.min(self.conv.inn.first)
    }
    fn last(&self) -> i64 {
        self.conv.out.last.max(self.conv.inn.last)
    }
}

/// Section 2: who opened a conversation, and whether it was answered and established.
pub fn orient<'a>(host: u32, k: &Key, c: &'a Conv, rules: &FindingRules, addrs: &[IpAddr]) -> View<'a> {
    let b = c.bits;
    let (out, inn) = (&c.out, &c.inn);
    let host_init =
        if b & (bits::OUT_ECHO | bits::IN_ECHO) != 0 && (b & bits::OUT_ECHO == 0) != (b & bits::IN_ECHO == 0) {
            b & bits::OUT_ECHO != 0
        } else if b & (bits::OUT_ORIG | bits::IN_RESP) != 0 && b & (bits::IN_ORIG | bits::OUT_RESP) == 0 {
            true
        } else if b & (bits::IN_ORIG | bits::OUT_RESP) != 0 && b & (bits::OUT_ORIG | bits::IN_RESP) == 0 {
            false
        } else if inn.flows == 0 || out.flows == 0 {
            inn.flows == 0
        } else if (b & bits::OUT_SYN != 0) != (b & bits::IN_SYN != 0) {
            b & bits::OUT_SYN != 0
        } else if out.first != inn.first {
            out.first < inn.first
        } else if k.hport() != k.pport() {
            // Same start: the client is the end on the higher (ephemeral) port.
            k.hport() > k.pport()
        } else {
            // The lower address, not the lower id: ids follow the order the scan met the
            // addresses in, which varies between runs.
            addrs[host as usize] < addrs[k.peer() as usize]
        };
    let (init, reply) = if host_init { (out, inn) } else { (inn, out) };
    let w = (rules.answers.reply_window as i64).saturating_mul(1_000_000);
    let timed = init.first != i64::MAX && reply.first != i64::MAX;
    let answered = init.flows > 0
        && reply.flows > 0
        && (!timed || (reply.first <= init.last.saturating_add(w) && reply.last >= init.first.saturating_sub(w)));
    let established = answered
        && (k.proto() != 6 || (reply.packets >= rules.answers.tcp_established_reply_packets && init.packets >= 2));
    View {
        peer: k.peer(),
        hport: k.hport(),
        pport: k.pport(),
        proto: k.proto(),
        host_init,
        answered,
        established,
        icmp_error: b & bits::ICMP_ERROR != 0,
        conv: c,
    }
}

fn proto_name(p: u8) -> String {
    crate::servers::rules::proto_name(p).to_string()
}

/// `445/tcp`, `80/tcp (http)`, `ICMP echo`.
fn port_label(port: u16, proto: u8, ctx: &Ctx) -> String {
    if proto == 1 || proto == 58 {
        return if port == 0 { "ICMP echo".into() } else { format!("ICMP {}/{}", port >> 8, port & 0xff) };
    }
    match ctx.services.name(port) {
        Some(n) if proto == 6 || proto == 17 => format!("{port}/{} ({n})", proto_name(proto)),
        _ => format!("{port}/{}", proto_name(proto)),
    }
}

/// Up to `max` labels, most frequent first, then "+N more".
fn port_list(mut ports: Vec<(u16, u8, u64)>, max: usize, ctx: &Ctx) -> String {
    ports.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    let mut s: Vec<String> = ports.iter().take(max).map(|&(p, pr, _)| port_label(p, pr, ctx)).collect();
    if ports.len() > max {
        s.push(format!("+{} more", ports.len() - max));
    }
    s.join(", ")
}

/// Distinct (port, proto) with how many items each, from unsorted pairs.
fn count_ports(mut v: Vec<(u16, u8)>) -> Vec<(u16, u8, u64)> {
    v.sort_unstable();
    v.chunk_by(|a, b| a == b).map(|r| (r[0].0, r[0].1, r.len() as u64)).collect()
}

fn pct(a: u64, b: u64) -> u64 {
    (a * 100 + b / 2).checked_div(b).unwrap_or(0)
}

fn share(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn span(views: &[&View]) -> (Option<i64>, Option<i64>) {
    let f = views.iter().map(|v| v.first()).min().filter(|&t| t != i64::MAX);
    let l = views.iter().map(|v| v.last()).max().filter(|&t| t != i64::MIN);
    (f, l)
}

/// The largest count of distinct `item`s per `(group, epoch)`: returns (count, group).
fn max_per_window<G: Ord + Copy, I: Ord + Copy>(mut v: Vec<(G, i64, I)>) -> Option<(u64, G)> {
    v.sort_unstable();
    v.dedup();
    v.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1).map(|r| (r.len() as u64, r[0].0)).max_by(|a, b| a.0.cmp(&b.0))
}

fn epoch(t: i64, secs: u64) -> i64 {
    if t == i64::MAX {
        0
    } else {
        t.div_euclid(secs as i64 * 1_000_000)
    }
}

/// What the scanner test found for one host (section 3).
#[derive(Debug, Clone)]
pub struct ScanResult {
    pub kind: ScanKind,
    pub confidence: Confidence,
    pub finding: Finding,
}

fn name(ctx: &Ctx, id: u32) -> String {
    ctx.addrs[id as usize].to_string()
}

/// Section 3: scanner.
pub fn scanner(host: IpAddr, views: &[View], ctx: &Ctx) -> Option<ScanResult> {
    let r = &ctx.rules.scanner;
    let attempts: Vec<&View> = views.iter().filter(|v| v.host_init && !v.icmp_error).collect();
    if attempts.is_empty() {
        return None;
    }
    // First contacts (TRW): per peer, its earliest attempt and whether any attempt succeeded.
    let mut contacts: Vec<(i64, IpAddr, bool)> = Vec::new();
    for run in attempts.chunk_by(|a, b| a.peer == b.peer) {
        let first = run.iter().map(|v| v.halves().0.first).min().unwrap_or(i64::MAX);
        contacts.push((first, ctx.addrs[run[0].peer as usize], run.iter().any(|v| v.established)));
    }
    let peers = contacts.len() as u64;
    let failed_peers = contacts.iter().filter(|c| !c.2).count() as u64;
    // In time order; first contacts at the same time in address order (not id order, which
    // varies between runs): the walk's restarts make the order matter.
    contacts.sort_unstable_by_key(|c| (c.0, c.1));
    let (eta1, eta0) = (ctx.rules.trw_eta1(), ctx.rules.trw_eta0());
    let (up, down) = ((1.0 - r.trw_theta1) / (1.0 - r.trw_theta0), r.trw_theta1 / r.trw_theta0);
    let mut lambda = 1.0;
    let mut trw_at = None;
    for (i, c) in contacts.iter().enumerate() {
        lambda *= if c.2 { down } else { up };
        if lambda >= eta1 {
            trw_at = Some(i + 1);
            break;
        }
        if lambda <= eta0 {
            lambda = 1.0;
        }
    }
    let failed: Vec<&&View> = attempts.iter().filter(|v| !v.established).collect();
    let horiz = |secs: u64| {
        max_per_window(failed.iter().map(|v| ((v.pport, v.proto), epoch(v.halves().0.first, secs), v.peer)).collect())
    };
    // Grouped by the victim's address, not its id: ids follow the order the scan met the
    // addresses in, which varies between runs, and a tie must pick the same victim every time.
    let vert = |secs: u64| {
        max_per_window(
            failed
                .iter()
                .map(|v| ((ctx.addrs[v.peer as usize], v.peer), epoch(v.halves().0.first, secs), (v.pport, v.proto)))
                .collect(),
        )
        .map(|(n, (_, peer))| (n, peer))
    };
    let (hz, hs) = (horiz(r.zeek_window), horiz(r.slips_window));
    let (vz, vs) = (vert(r.zeek_window), vert(r.slips_window));
    let h_share = share(failed_peers, peers);
    let mut h_conf = None;
    if h_share >= r.min_failed_share {
        if hz.is_some_and(|x| x.0 >= r.zeek_addr_scan_hosts) {
            h_conf = Some(Confidence::High);
        } else if hs.is_some_and(|x| x.0 > r.slips_more_than) {
            h_conf = Some(Confidence::Medium);
        } else if trw_at.is_some() && failed_peers >= r.trw_min_failed {
            h_conf = Some(Confidence::Low);
        }
    }
    // Vertical: the victim with the most failed ports in one window, judged on its own share.
    let mut v_conf = None;
    let mut victim = None;
    if let Some((n, peer)) = vz.filter(|x| x.0 >= r.zeek_port_scan_ports).or(vs.filter(|x| x.0 > r.slips_more_than)) {
        let on: Vec<&&View> = attempts.iter().filter(|v| v.peer == peer).collect();
        let mut all: Vec<(u16, u8)> = on.iter().map(|v| (v.pport, v.proto)).collect();
        all.sort_unstable();
        all.dedup();
        let mut bad: Vec<(u16, u8)> = on.iter().filter(|v| !v.established).map(|v| (v.pport, v.proto)).collect();
        bad.sort_unstable();
        bad.dedup();
        if share(bad.len() as u64, all.len() as u64) >= r.min_failed_share {
            v_conf = Some(if n >= r.zeek_port_scan_ports && vz.is_some_and(|x| x.1 == peer) {
                Confidence::High
            } else {
                Confidence::Medium
            });
            victim = Some((peer, all.len() as u64, bad.len() as u64));
        }
    }
    let kind = match (h_conf, v_conf) {
        (Some(_), Some(_)) => ScanKind::Both,
        (Some(_), None) => ScanKind::Horizontal,
        (None, Some(_)) => ScanKind::Vertical,
        (None, None) => return None,
    };
    let confidence = h_conf.max(v_conf).unwrap_or(Confidence::Low);
    let ports = count_ports(attempts.iter().map(|v| (v.pport, v.proto)).collect());
    let answered = attempts.iter().filter(|v| v.answered && !v.established).count() as u64;
    let mut ev = vec![
        format!("kind={}", kind.as_str()),
        format!("targets={peers}"),
        format!("failed_targets={failed_peers}"),
        format!("ports={}", ports.len()),
        format!("attempts={}", attempts.len()),
        format!("unanswered_share={}%", pct(failed.len() as u64 - answered, attempts.len() as u64)),
        format!("failed_share={}%", pct(failed.len() as u64, attempts.len() as u64)),
    ];
    if answered > 0 {
        ev.push(format!("rejected={answered}"));
    }
    if let Some((n, (p, pr))) = hz {
        ev.push(format!("max_targets_one_port_{}s={n} ({})", r.zeek_window, port_label(p, pr, ctx)));
    }
    if let Some((n, (p, pr))) = hs {
        ev.push(format!("max_targets_one_port_{}s={n} ({})", r.slips_window, port_label(p, pr, ctx)));
    }
    if let Some((n, peer)) = vz {
        ev.push(format!("max_ports_one_target_{}s={n} ({})", r.zeek_window, name(ctx, peer)));
    }
    if let Some(n) = trw_at {
        ev.push(format!("trw=scanner after {n} first contacts"));
    }
    let syn = attempts.iter().filter(|v| v.conv.bits & bits::OUT_SYN != 0).count();
    if syn > 0 {
        ev.push(format!("syn_only_flags={syn}"));
    }
    let list = port_list(ports.clone(), 6, ctx);
    let explanation = match (kind, victim) {
        (ScanKind::Vertical, Some((peer, all, bad))) => {
            format!("probed {all} ports of {} ({list}); {}% of them failed", name(ctx, peer), pct(bad, all))
        }
        (ScanKind::Both, Some((peer, all, _))) => format!(
            "probed {peers} addresses on {} ports ({list}) and {all} ports of {}; {}% of the addresses never answered",
            ports.len(),
            name(ctx, peer),
            pct(failed_peers, peers)
        ),
        _ => format!(
            "probed {peers} addresses on {} port{} ({list}); {}% of them never answered",
            ports.len(),
            if ports.len() == 1 { "" } else { "s" },
            pct(failed_peers, peers)
        ),
    };
    let (first_seen, last_seen) = span(&attempts);
    Some(ScanResult {
        kind,
        confidence,
        finding: Finding {
            host,
            hostname: String::new(),
            tag: Tag::Scanner,
            confidence,
            evidence: ev.join("; "),
            explanation,
            first_seen,
            last_seen,
        },
    })
}

/// Section 4: scan-target.
pub fn scan_target(host: IpAddr, views: &[View], totals: &Totals, ctx: &Ctx) -> Option<Finding> {
    let r = &ctx.rules.scan_target;
    let probes: Vec<&View> = views.iter().filter(|v| is_probe(v, ctx)).collect();
    let n = probes.len() as u64;
    if n < r.min_probes || share(n, totals.inbound) < r.min_probe_share {
        return None;
    }
    let sent = totals.flows_sent;
    let answered = probes.iter().filter(|v| v.answered).count() as u64;
    let mut sources: Vec<u32> = probes.iter().map(|v| v.peer).collect();
    sources.sort_unstable();
    sources.dedup();
    let ports = count_ports(probes.iter().map(|v| (v.hport, v.proto)).collect());
    let flows: u64 = probes.iter().map(|v| v.halves().0.flows).sum();
    let packets: u64 = probes.iter().map(|v| v.halves().0.packets).sum();
    let confidence = if sent == 0 {
        Confidence::High
    } else if answered == 0 {
        Confidence::Medium
    } else {
        Confidence::Low
    };
    let ev = [
        format!("sources={}", sources.len()),
        format!("probes={n}"),
        format!("probe_flows={flows}"),
        format!("probe_packets={packets}"),
        format!("ports={}", ports.len()),
        format!("answered_probes={answered}"),
        format!("inbound={}", totals.inbound),
        format!("flows_sent={sent}"),
        if sent == 0 { "dark: never sends".to_string() } else { "sends".to_string() },
    ];
    let origin = if ctx.local_given { "outside " } else { "" };
    let explanation = format!(
        "probed by {} {origin}source{} on {} port{} ({}); answered {}; {}",
        sources.len(),
        if sources.len() == 1 { "" } else { "s" },
        ports.len(),
        if ports.len() == 1 { "" } else { "s" },
        port_list(ports.clone(), 8, ctx),
        if answered == 0 { "none".to_string() } else { format!("{answered} with a rejection") },
        if sent == 0 { "sent nothing".to_string() } else { format!("sent {sent} flows") }
    );
    let (first_seen, last_seen) = span(&probes);
    Some(Finding {
        host,
        hostname: String::new(),
        tag: Tag::ScanTarget,
        confidence,
        evidence: ev.join("; "),
        explanation,
        first_seen,
        last_seen,
    })
}

/// An exchange of the P2P section: answered, TCP or UDP, between high ports or on a known P2P
/// port, and neither end a service tied to a control channel.
fn p2p_shaped(host: IpAddr, v: &View, ctx: &Ctx) -> bool {
    let r = &ctx.rules.p2p;
    v.answered
        && (v.proto == 6 || v.proto == 17)
        && ((v.hport >= r.high_port && v.pport >= r.high_port)
            || r.known_ports.contains(v.hport)
            || r.known_ports.contains(v.pport))
        && !ctx.tied.contains(&(host, v.hport, v.proto))
        && !ctx.tied.contains(&(ctx.addrs[v.peer as usize], v.pport, v.proto))
}

/// Section 4's inbound attempts: opened by the peer (from outside, with `--local`).
fn is_inbound(v: &View, ctx: &Ctx) -> bool {
    !v.host_init && !v.icmp_error && (!ctx.local_given || !ctx.local[v.peer as usize])
}

/// Section 4's probes: inbound attempts never established, of few and small packets.
fn is_probe(v: &View, ctx: &Ctx) -> bool {
    let r = &ctx.rules.scan_target;
    let (init, _) = v.halves();
    is_inbound(v, ctx)
        && !v.established
        && init.packets <= r.probe_max_packets
        && init.bytes <= r.probe_max_bpp.saturating_mul(init.packets.max(1))
}

/// Section 6's IRC-like control channel: an established conversation the host opened to an
/// IRC port.
fn is_irc(v: &View, ctx: &Ctx) -> bool {
    v.host_init && v.established && ctx.rules.compromise.irc_ports.contains(v.pport)
}

/// Section 6's bulk serving: answered, between high ports, the host sending much more.
fn is_serving(v: &View, ctx: &Ctx) -> bool {
    let r = &ctx.rules.compromise;
    let high = ctx.rules.p2p.high_port;
    v.answered
        && v.hport >= high
        && v.pport >= high
        && v.conv.out.bytes >= r.serve_min_bytes
        && v.conv.out.bytes as f64 >= r.serve_min_ratio * v.conv.inn.bytes as f64
}

/// Section 5: p2p. Also returns the host's ports answered only in P2P-shaped exchanges.
pub fn p2p(host: IpAddr, views: &[View], totals: &Totals, ctx: &Ctx) -> Option<(Finding, Vec<(u16, u8)>)> {
    let r = &ctx.rules.p2p;
    let shaped: Vec<&View> = views.iter().filter(|v| p2p_shaped(host, v, ctx)).collect();
    let mut peers: Vec<u32> = shaped.iter().map(|v| v.peer).collect();
    peers.sort_unstable();
    peers.dedup();
    let out: u64 = shaped.iter().map(|v| v.conv.out.bytes).sum();
    let inn: u64 = shaped.iter().map(|v| v.conv.inn.bytes).sum();
    if (peers.len() as u64) < r.min_peers
        || out < r.min_bytes_each_way
        || inn < r.min_bytes_each_way
        || (out.min(inn) as f64) < r.min_smaller_share * out.max(inn) as f64
    {
        return None;
    }
    let ratio_ok = |ips: usize, ports: usize| {
        ips >= 3 && (ports as f64) <= r.ip_port_ratio * ips as f64 && (ips as f64) <= r.ip_port_ratio * ports as f64
    };
    // {IP, port}: the host's listening port with the most peers, and the peers' ports the host opened.
    let mut listen: Vec<(u16, u8, u32, u16)> =
        shaped.iter().filter(|v| !v.host_init).map(|v| (v.hport, v.proto, v.peer, v.pport)).collect();
    listen.sort_unstable();
    let mut best_listen: Option<(u16, u8, usize, usize)> = None;
    for run in listen.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let mut ips: Vec<u32> = run.iter().map(|x| x.2).collect();
        ips.dedup();
        let mut ports: Vec<u16> = run.iter().map(|x| x.3).collect();
        ports.sort_unstable();
        ports.dedup();
        if best_listen.is_none_or(|b| ips.len() > b.2) {
            best_listen = Some((run[0].0, run[0].1, ips.len(), ports.len()));
        }
    }
    let mut signals = Vec::new();
    if let Some((p, pr, ips, ports)) = best_listen.filter(|b| ratio_ok(b.2, b.3)) {
        signals.push(format!("peer addresses {ips} ~ peer ports {ports} on {}", port_label(p, pr, ctx)));
    } else {
        let opened: Vec<&&View> = shaped.iter().filter(|v| v.host_init).collect();
        let mut ips: Vec<u32> = opened.iter().map(|v| v.peer).collect();
        ips.dedup();
        let mut pp: Vec<(u32, u16)> = opened.iter().map(|v| (v.peer, v.pport)).collect();
        pp.sort_unstable();
        pp.dedup();
        let mut ports: Vec<u16> = pp.iter().map(|x| x.1).collect();
        ports.sort_unstable();
        ports.dedup();
        if ratio_ok(ips.len(), pp.len()) && ports.len() * 2 >= ips.len() {
            signals.push(format!("opened {} peers on {} distinct peer ports", ips.len(), ports.len()));
        }
    }
    // TCP and UDP with the same peer, outside well-known services (counted as the host's
    // conversations streamed by: `Totals::tcp_udp_peers`).
    let both = totals.tcp_udp_peers;
    if both >= r.min_tcp_udp_peers {
        signals.push(format!("{both} peers over both TCP and UDP"));
    }
    let known = count_ports(
        shaped
            .iter()
            .flat_map(|v| [(v.hport, v.proto), (v.pport, v.proto)])
            .filter(|(p, _)| r.known_ports.contains(*p))
            .collect(),
    );
    let strong = signals.len();
    if !known.is_empty() {
        signals.push(format!("known P2P port {}", port_list(known.clone(), 3, ctx)));
    }
    if strong == 0 {
        return None;
    }
    let confidence = match signals.len() {
        1 => Confidence::Low,
        2 => Confidence::Medium,
        _ => Confidence::High,
    };
    let ev = [
        format!("peers={}", peers.len()),
        format!("exchanges={}", shaped.len()),
        format!("bytes_out={out}"),
        format!("bytes_in={inn}"),
        signals.join("; "),
    ];
    let explanation = format!(
        "exchanged bulk data with {} peers between high ports ({} out, {} in); {}",
        peers.len(),
        human(out, 6).trim(),
        human(inn, 6).trim(),
        signals.join(", ")
    );
    // Ports of the host answered only in P2P-shaped exchanges (the servers' context).
    let mut hp = totals.answered_ports.clone();
    hp.sort_unstable();
    let ports =
        hp.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).filter(|r| r.iter().all(|x| x.2)).map(|r| (r[0].0, r[0].1));
    let ports: Vec<(u16, u8)> = ports.collect();
    let (first_seen, last_seen) = span(&shaped);
    Some((
        Finding {
            host,
            hostname: String::new(),
            tag: Tag::P2p,
            confidence,
            evidence: ev.join("; "),
            explanation,
            first_seen,
            last_seen,
        },
        ports,
    ))
}

/// Section 6: possible-compromise; `scan` is the host's own scanner result.
pub fn compromise(
    host: IpAddr,
    host_local: bool,
    views: &[View],
    totals: &Totals,
    scan: Option<&ScanResult>,
    ctx: &Ctx,
) -> Option<Finding> {
    let r = &ctx.rules.compromise;
    let mut signals: Vec<String> = Vec::new();
    let mut ev: Vec<String> = Vec::new();
    let mut used: Vec<&View> = Vec::new();
    // Bulk serving between high ports.
    let serve: Vec<&View> = views.iter().filter(|v| is_serving(v, ctx)).collect();
    let distinct = |mut x: Vec<u64>| {
        x.sort_unstable();
        x.dedup();
        x.len() as u64
    };
    let (sp, spp, shp) = (
        distinct(serve.iter().map(|v| v.peer as u64).collect()),
        distinct(serve.iter().map(|v| (v.peer as u64) << 16 | v.pport as u64).collect()),
        distinct(serve.iter().map(|v| v.hport as u64).collect()),
    );
    // All of the host's answered exchanges between high ports: a P2P host downloads about as
    // much as it uploads; a hijacked host that serves media mostly sends.
    let (hh_out, hh_in) = (totals.high_out, totals.high_in);
    if sp >= r.serve_min_peers
        && spp >= r.serve_min_peers
        && shp >= r.serve_min_host_ports
        && hh_out as f64 >= r.serve_min_ratio * hh_in as f64
    {
        let out: u64 = serve.iter().map(|v| v.conv.out.bytes).sum();
        let inn: u64 = serve.iter().map(|v| v.conv.inn.bytes).sum();
        let flows: u64 = serve.iter().map(|v| v.conv.out.flows).sum();
        signals.push(format!(
            "sent {} from {shp} of its high ports to {sp} peers' high ports in {flows} flows, receiving {}",
            human(out, 6).trim(),
            human(inn, 6).trim()
        ));
        ev.push(format!("bulk_serving: peers={sp} host_ports={shp} bytes_out={out} bytes_in={inn} flows={flows}"));
        used.extend(serve.iter().copied());
    }
    // IRC-like control channel.
    let irc: Vec<&View> = views.iter().filter(|v| is_irc(v, ctx)).collect();
    // The one named: the lowest peer address and port (not the first by id, which varies).
    if let Some(&v) = irc.iter().min_by_key(|v| (ctx.addrs[v.peer as usize], v.pport)) {
        let flows: u64 = irc.iter().map(|v| v.conv.out.flows).sum();
        signals.push(format!("opened IRC to {}:{}", name(ctx, v.peer), v.pport));
        ev.push(format!("irc: {}:{} conversations={} flows={flows}", name(ctx, v.peer), v.pport, irc.len()));
        used.extend(irc.iter().copied());
    }
    // Beaconing: regular small conversations to one outside address and port.
    let mut opened: Vec<&View> = views
        .iter()
        .filter(|v| {
            v.host_init
                && !v.icmp_error
                && !r.beacon_ignore_ports.contains(v.pport)
                && v.conv.out.bytes <= r.beacon_max_bytes.saturating_mul(v.conv.out.flows.max(1))
                && (!ctx.local_given || !ctx.local[v.peer as usize])
        })
        .collect();
    // By peer address (not id, which varies between runs): the first beacon found is reported.
    opened.sort_by_key(|v| (ctx.addrs[v.peer as usize], v.pport, v.proto));
    for run in opened.chunk_by(|a, b| (a.peer, a.pport, a.proto) == (b.peer, b.pport, b.proto)) {
        let mut starts: Vec<i64> = run.iter().map(|v| v.conv.out.first).filter(|&t| t != i64::MAX).collect();
        if (starts.len() as u64) < r.beacon_min_flows {
            continue;
        }
        starts.sort_unstable();
        let total = starts[starts.len() - 1] - starts[0];
        if total < (r.beacon_min_span as i64).saturating_mul(1_000_000) {
            continue;
        }
        let gaps: Vec<f64> = starts.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean) * (g - mean)).sum::<f64>() / gaps.len() as f64;
        let cv = if mean > 0.0 { var.sqrt() / mean } else { f64::INFINITY };
        if cv <= r.beacon_max_cv {
            let v = run[0];
            signals.push(format!(
                "beacons to {}:{}/{} every {:.0} s ({} times)",
                name(ctx, v.peer),
                v.pport,
                proto_name(v.proto),
                mean / 1e6,
                starts.len()
            ));
            ev.push(format!(
                "beacon: {}:{} conversations={} mean_interval_s={:.0} cv={cv:.2}",
                name(ctx, v.peer),
                v.pport,
                starts.len(),
                mean / 1e6
            ));
            used.extend(run.iter().copied());
            break;
        }
    }
    // Outbound scanning from a local host.
    if let Some(s) = scan.filter(|_| ctx.local_given && host_local) {
        signals.push(format!("scans outward ({})", s.kind.as_str()));
        ev.push(format!("outbound_scan: {}", s.kind.as_str()));
    }
    if signals.is_empty() {
        return None;
    }
    let confidence = match signals.len() {
        1 => Confidence::Low,
        2 => Confidence::Medium,
        _ => Confidence::High,
    };
    ev.insert(0, format!("signals={}", signals.len()));
    let (first_seen, last_seen) = span(&used);
    Some(Finding {
        host,
        hostname: String::new(),
        tag: Tag::PossibleCompromise,
        confidence,
        evidence: ev.join("; "),
        explanation: signals.join("; "),
        first_seen,
        last_seen,
    })
}

/// What sections 4-6 read of *all* of a host's conversations, folded as they stream by
/// ([`Decider::push`]); the rest of the evidence comes from the conversations kept whole.
#[derive(Debug, Default)]
pub struct Totals {
    /// Flows the host sent (section 4: a dark address sends none).
    pub flows_sent: u64,
    /// Inbound attempts ([`is_inbound`]), the share's denominator in section 4.
    pub inbound: u64,
    /// Peers the host exchanged with over both TCP and UDP, outside well-known services
    /// (section 5).
    pub tcp_udp_peers: u64,
    /// Bytes sent and received in all answered exchanges between high ports (section 6).
    pub high_out: u64,
    pub high_in: u64,
    /// `(host port, proto, P2P-shaped)` of the answered inbound conversations, consecutive
    /// repeats dropped: which ports were answered only in P2P-shaped exchanges (section 5).
    pub answered_ports: Vec<(u16, u8, bool)>,
    /// The peer being counted for `tcp_udp_peers` (conversations come by peer) and the
    /// protocols seen with it (1: TCP, 2: UDP).
    tu_peer: Option<u32>,
    tu_seen: u8,
}

impl Totals {
    fn end_peer(&mut self) {
        if self.tu_seen == 3 {
            self.tcp_udp_peers += 1;
        }
        self.tu_seen = 0;
    }
}

/// Decides hosts from their conversations as they stream by in key order (host by host, by
/// peer within a host): [`Decider::push`] each conversation, [`Decider::finish`] at the end.
/// A host's conversations are oriented once and folded into its [`Totals`]; only those some
/// section reads whole are kept, so a busy server is not held whole.
pub struct Decider<'c, 'a> {
    ctx: &'c Ctx<'a>,
    host: Option<u32>,
    kept: Vec<(Key, Conv)>,
    totals: Totals,
}

/// One decided host: its id, its rows (all tags but `server`) and its P2P-only ports.
pub type Decided = (u32, Vec<Finding>, Vec<(u16, u8)>);

impl<'c, 'a> Decider<'c, 'a> {
    pub fn new(ctx: &'c Ctx<'a>) -> Self {
        Decider { ctx, host: None, kept: Vec::new(), totals: Totals::default() }
    }

    /// Adds the next conversation; when it starts a new host, the previous host is decided and
    /// returned.
    pub fn push(&mut self, k: Key, c: &Conv) -> Option<Decided> {
        let id = k.host();
        if !self.ctx.unicast[id as usize] || !self.ctx.unicast[k.peer() as usize] {
            return None;
        }
        let done = if self.host != Some(id) {
            let done = self.finish();
            self.host = Some(id);
            done
        } else {
            None
        };
        let ctx = self.ctx;
        let v = orient(id, &k, c, ctx.rules, ctx.addrs);
        let mut keep = v.host_init && !v.icmp_error;
        // Sections 4-6 judge local hosts only (every host without --local).
        if ctx.local[id as usize] {
            let addr = ctx.addrs[id as usize];
            let t = &mut self.totals;
            t.flows_sent += c.out.flows;
            if is_inbound(&v, ctx) {
                t.inbound += 1;
                keep |= is_probe(&v, ctx);
            }
            let shaped = p2p_shaped(addr, &v, ctx);
            keep |= shaped || is_serving(&v, ctx);
            keep |= is_irc(&v, ctx);
            if v.answered {
                let p = &ctx.rules.p2p;
                if t.tu_peer != Some(v.peer) {
                    t.end_peer();
                    t.tu_peer = Some(v.peer);
                }
                if (v.proto == 6 || v.proto == 17)
                    && !p.tcp_udp_exclude_ports.contains(v.hport)
                    && !p.tcp_udp_exclude_ports.contains(v.pport)
                {
                    t.tu_seen |= if v.proto == 6 { 1 } else { 2 };
                }
                if v.hport >= p.high_port && v.pport >= p.high_port {
                    t.high_out = t.high_out.wrapping_add(c.out.bytes);
                    t.high_in = t.high_in.wrapping_add(c.inn.bytes);
                }
                if !v.host_init {
                    let e = (v.hport, v.proto, shaped);
                    if t.answered_ports.last() != Some(&e) {
                        t.answered_ports.push(e);
                    }
                }
            }
        }
        if keep {
            if self.kept.len() == self.kept.capacity() && self.kept.len() >= 1 << 20 {
                // A host that keeps millions (a scanner's attempts): grow by a quarter.
                self.kept.reserve_exact(self.kept.len() / 4);
            }
            self.kept.push((k, *c));
        }
        done
    }

    /// Decides the host in progress, if any, and starts empty.
    pub fn finish(&mut self) -> Option<Decided> {
        let id = self.host.take()?;
        self.totals.end_peer();
        let totals = std::mem::take(&mut self.totals);
        let (rows, ports) = decide_host(id, &self.kept, &totals, self.ctx);
        self.kept.clear();
        if self.kept.capacity() > 1 << 16 {
            self.kept = Vec::new();
        }
        Some((id, rows, ports))
    }
}

/// Every tag of one host but `server` (which comes from the servers evaluation), and the host's
/// P2P-only ports, from the conversations a [`Decider`] kept (sorted by key) and the totals it
/// folded.
fn decide_host(host_id: u32, kept: &[(Key, Conv)], totals: &Totals, ctx: &Ctx) -> (Vec<Finding>, Vec<(u16, u8)>) {
    let addr = ctx.addrs[host_id as usize];
    let views: Vec<View> = kept.iter().map(|(k, c)| orient(host_id, k, c, ctx.rules, ctx.addrs)).collect();
    let local = ctx.local[host_id as usize];
    let mut out = Vec::new();
    let scan = scanner(addr, &views, ctx);
    let mut p2p_ports = Vec::new();
    // Without --local every address is a candidate; with it, outside addresses only as scanners.
    if local {
        if let Some(f) = scan_target(addr, &views, totals, ctx) {
            out.push(f);
        }
        if let Some((f, ports)) = p2p(addr, &views, totals, ctx) {
            out.push(f);
            p2p_ports = ports;
        }
        if let Some(f) = compromise(addr, local, &views, totals, scan.as_ref(), ctx) {
            out.push(f);
        }
    }
    if let Some(s) = scan {
        out.push(s.finding);
    }
    (out, p2p_ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy web server's answered client conversations are counted, not kept; what it opened
    /// and the probes it received are kept whole, and the totals count every conversation.
    #[test]
    fn a_decider_keeps_only_what_the_evidence_reads() {
        let rules = FindingRules::builtin();
        let addrs: Vec<IpAddr> = (0..2000u32).map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes())).collect();
        let local = vec![true; addrs.len()];
        let services = crate::services::Services::builtin();
        let tied = std::collections::HashSet::new();
        let ctx = Ctx {
            rules: &rules,
            addrs: &addrs,
            local: &local,
            local_given: false,
            unicast: &local,
            services: &services,
            tied: &tied,
        };
        let half =
            |packets: u64, bytes: u64, first: i64| Half { flows: 1, packets, bytes, first, last: first + 1_000_000 };
        let mut convs = Vec::new();
        // 1000 clients fetch from port 80 (answered, established)...
        for peer in 1..1001u32 {
            let c = Conv { out: half(8, 90_000, 2_000_000), inn: half(6, 600, 1_000_000), bits: 0 };
            convs.push((Key::new(0, peer, 80, 40000, 6), c));
        }
        // ...10 peers probe port 23 once, unanswered...
        for peer in 1001..1011u32 {
            convs.push((Key::new(0, peer, 23, 50000, 6), Conv { inn: half(1, 44, 1_000_000), ..Conv::default() }));
        }
        // ...and the host opens 3 connections itself.
        for peer in 1011..1014u32 {
            let c = Conv { out: half(5, 500, 1_000_000), inn: half(5, 5000, 1_500_000), bits: 0 };
            convs.push((Key::new(0, peer, 40001, 443, 6), c));
        }
        let mut d = Decider::new(&ctx);
        for (k, c) in &convs {
            assert!(d.push(*k, c).is_none());
        }
        assert_eq!(d.kept.len(), 13);
        assert_eq!((d.totals.inbound, d.totals.flows_sent), (1010, 1003));
        assert_eq!(d.totals.answered_ports, [(80, 6, false)]);
        let (id, _, ports) = d.finish().unwrap();
        assert_eq!((id, ports), (0, Vec::new()));
        assert!(d.finish().is_none());
    }

    /// A tie on every other rule (both ends sent, no flags or `side`, the same start, the same
    /// port) is broken by address, whichever address the scan happened to meet first.
    #[test]
    fn a_tied_opener_is_the_lower_address_whatever_the_ids() {
        let rules = FindingRules::builtin();
        let half = Half { flows: 1, packets: 1, bytes: 76, first: 1_000_000, last: 1_000_000 };
        let conv = Conv { out: half, inn: half, bits: 0 };
        for addrs in [["10.0.0.9", "10.0.0.2"], ["10.0.0.2", "10.0.0.9"]] {
            let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
            let lower = usize::from(addrs[1] < addrs[0]) as u32;
            for host in [0u32, 1] {
                let v = orient(host, &Key::new(host, 1 - host, 123, 123, 17), &conv, &rules, &addrs);
                assert_eq!(v.host_init, host == lower, "{addrs:?}, host {host}");
            }
        }
    }
}
