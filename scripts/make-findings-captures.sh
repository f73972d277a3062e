#!/usr/bin/env bash
# Remakes the labelled captures in tests/data/findings/ from real traffic between two network
# namespaces on a veth pair (nothing leaves this machine). What happens, and the labels, are in
# SOURCES. 10.79.0.0/24 is routed from A to B and dropped there: a dark network.
#
#   scripts/make-findings-captures.sh [nmap-lab|host-lab|scan-lab|all]      (default: all)
#
# nmap-lab (A: 10.78.0.1, .5, .6; B: 10.78.0.2):
#   nmap -sS  10.78.0.1 → 10.79.0.0/26 ports 139,445      horizontal scan of a dark network
#   nmap -sS  10.78.0.1 → 10.78.0.2 top 300 ports          vertical scan; B answers with resets
#   curl      10.78.0.5 → 10.78.0.2:8000 (python http.server), 20 downloads of 2 MB
#   dig       10.78.0.5 → 10.78.0.2:53 (dnsmasq), 30 queries
#   upload    10.78.0.6 → 10.78.0.2:9102, 5 pushes of 20 MB (a backup to one peer)
# host-lab (A, the site: 10.78.1.0/24; B, outside: 10.78.2.0/24):
#   10.78.1.10 a hacked host: an IRC session to 10.78.2.100:6667, 12 MiB served from three
#              random high ports to three outside peers, nmap -sS of 10.79.0.0/26 port 445
#   10.78.1.20 a P2P host: 12 peers exchange 300 kB each way over TCP on its port 51413, it
#              opens 4 peers' ports, and trades UDP datagrams with 5 of them (DHT-like)
#   10.78.1.30 a NAT: 150 HTTP fetches to 10 outside web servers, from many source ports
#   10.78.1.31 an NTP client on 123<->123 with 4 servers
#   10.78.1.32 a DNS resolver asking 8 outside name servers
#   10.78.1.33 a desktop: one web fetch, and LAN chatter (SSDP, mDNS, LLMNR, NetBIOS, DHCP) to
#              multicast and broadcast addresses, as every site host here sends SSDP
# scan-lab (A: 10.78.5.1, .3, .4, .5; B: 10.78.5.2 with python http.server on 8000 and dnsmasq):
#   10.78.5.1 nmap -sn 10.79.0.0/26 (a ping sweep: ICMP echo and timestamp, SYN 443, ACK 80)
#   10.78.5.3 nmap -sU --top-ports 50 10.78.5.2 (closed ports answer ICMP port unreachable)
#   10.78.5.4 nmap -sT -p 1-200 10.78.5.2 (connect scan; closed ports answer with resets)
#   10.78.5.5 10 downloads from 10.78.5.2:8000 and 10 DNS queries
# Captured with tcpdump on B's side (snaplen 128), turned into flows by softflowd (IPFIX) →
# nfcapd → `nfdump -o csv`; host-lab also by argus → ra in the CTU-13 binetflow layout.
# Needs root and Debian packages nmap nfdump softflowd tcpdump dnsmasq curl dnsutils python3
# argus-server argus-client.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=tests/data/findings
export TZ=UTC LC_ALL=C
WHICH=${1:-all}
WORK=$(mktemp -d /tmp/flowlens-findings.XXXXXX)
A=flfd-a
B=flfd-b
PIDS=()
TPID=
stop_all() {
    for p in "${PIDS[@]}" $TPID; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
    TPID=
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
}
cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
for tool in nmap nfcapd nfdump softflowd tcpdump dnsmasq curl dig python3 argus ra; do
    command -v "$tool" >/dev/null || { echo "make-findings-captures: $tool is missing" >&2; exit 2; }
done
inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }
bgB() { ip netns exec "$B" "$@" >/dev/null 2>&1 & PIDS+=($!); }
bgA() { ip netns exec "$A" "$@" >/dev/null 2>&1 & PIDS+=($!); }

# Two namespaces on a veth pair: A holds the addresses $1 (CIDRs), B those of $2; the dark
# network is routed from A to B, which drops it.
namespaces() {
    stop_all
    ip netns add "$A"
    ip netns add "$B"
    ip link add flfd0 type veth peer name flfd1
    ip link set flfd0 netns "$A"
    ip link set flfd1 netns "$B"
    for a in $1; do ip -n "$A" addr add "$a" dev flfd0; done
    for a in $2; do ip -n "$B" addr add "$a" dev flfd1; done
    for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
    ip -n "$A" link set flfd0 up
    ip -n "$B" link set flfd1 up
    local gw
    gw=$(echo "$2" | awk '{ sub("/.*", "", $1); print $1 }')
    ip -n "$A" route add 10.79.0.0/24 via "$gw"
    inB sysctl -qw net.ipv4.ip_forward=0
    inB iptables -A INPUT -d 10.79.0.0/24 -j DROP 2>/dev/null || true
}

capture_start() {
    sleep 1
    ip netns exec "$B" tcpdump -q -i flfd1 -s 128 -w "$WORK/$1.pcap" 2>/dev/null &
    TPID=$!
    sleep 1
}

# Stops the capture $1 and writes its flows: softflowd → nfcapd → nfdump CSV, and with $2 = ctu
# also argus → ra in the CTU-13 binetflow layout.
capture_end() {
    sleep 1
    kill -INT "$TPID"
    wait "$TPID" || true
    TPID=
    mkdir -p "$WORK/nf-$1" "$OUT"
    nfcapd -w "$WORK/nf-$1" -b 127.0.0.1 -p 9996 -t 3600 >/dev/null 2>&1 &
    local npid=$!
    sleep 1
    softflowd -r "$WORK/$1.pcap" -n 127.0.0.1:9996 -v 10 -A milli -d >/dev/null 2>&1
    sleep 1
    kill -TERM "$npid"
    wait "$npid" || true
    local nffile
    nffile=$(ls "$WORK/nf-$1"/nfcapd.* | grep -v current | head -1)
    nfdump -r "$nffile" -o csv > "$OUT/$1.nfdump.csv"
    echo "wrote $OUT/$1.nfdump.csv ($(wc -l < "$OUT/$1.nfdump.csv") lines)"
    if [ "${2:-}" = ctu ]; then
        argus -F /dev/null -r "$WORK/$1.pcap" -w "$WORK/$1.argus"
        # rarc: times with their date, as the CTU-13 files print them (ra's default is the time of
        # day); -Z b: TCP states as each side's flags (S_RA, FSPA_FSPA), as CTU-13's are.
        printf 'RA_TIME_FORMAT="%%Y/%%m/%%d %%T.%%f"\nRA_PRINT_LABELS=0\n' > "$WORK/ctu.rarc"
        ra -F "$WORK/ctu.rarc" -r "$WORK/$1.argus" -n -Z b -c , \
            -s stime dur proto saddr sport dir daddr dport state stos dtos pkts bytes sbytes > "$WORK/ctu.csv"
        # CTU-13's Label column: the hacked host's flows as From-Botnet, the rest Background.
        awk -F, 'NR == 1 { print $0 ",Label"; next }
                 { print $0 "," ($4 == "10.78.1.10" || $7 == "10.78.1.10" ? "flow=From-Botnet-lab" : "flow=Background-lab") }' \
            "$WORK/ctu.csv" > "$OUT/$1.binetflow"
        echo "wrote $OUT/$1.binetflow ($(wc -l < "$OUT/$1.binetflow") lines)"
    fi
}

# B serves blob.bin ($2 random bytes) over HTTP on $1:8000, and DNS (dnsmasq) on $1:53.
web_and_dns() {
    head -c "$2" /dev/urandom > "$WORK/blob.bin"
    (cd "$WORK" && exec ip netns exec "$B" python3 -m http.server 8000 --bind "$1" >/dev/null 2>&1) &
    PIDS+=($!)
    bgB dnsmasq --no-daemon --no-resolv --no-hosts --listen-address="$1" --bind-interfaces \
        --address=/example.test/"$1" --port 53
}

nmap_lab() {
    namespaces "10.78.0.1/24 10.78.0.5/24 10.78.0.6/24" "10.78.0.2/24"
    web_and_dns 10.78.0.2 2000000
    cat > "$WORK/sink.py" <<'PY'
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.78.0.2", 9102)); s.listen(5)
while True:
    c, _ = s.accept()
    while c.recv(65536):
        pass
    c.sendall(b"OK\n"); c.close()
PY
    bgB python3 "$WORK/sink.py"
    cat > "$WORK/push.py" <<'PY'
import socket
data = b"x" * (1 << 20)
for _ in range(5):
    s = socket.create_connection(("10.78.0.2", 9102), source_address=("10.78.0.6", 0))
    for _ in range(20):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR); s.recv(16); s.close()
PY
    capture_start nmap-lab
    for i in $(seq 20); do inA curl -s --interface 10.78.0.5 -o /dev/null http://10.78.0.2:8000/blob.bin; done
    for i in $(seq 30); do inA dig +short +tries=1 -b 10.78.0.5 @10.78.0.2 "h$i.example.test" >/dev/null; done
    inA python3 "$WORK/push.py"
    inA nmap -n -Pn -sS -S 10.78.0.1 -e flfd0 -p 139,445 --max-retries 0 10.79.0.0/26 >/dev/null
    inA nmap -n -Pn -sS -S 10.78.0.1 -e flfd0 --top-ports 300 --max-retries 0 10.78.0.2 >/dev/null
    capture_end nmap-lab
}

host_lab() {
    local a_addrs="" b_addrs="" i
    for i in 10 20 30 31 32 33; do a_addrs+=" 10.78.1.$i/16"; done
    for i in 100 $(seq 101 112) $(seq 50 57) $(seq 60 63) $(seq 70 79); do b_addrs+=" 10.78.2.$i/16"; done
    namespaces "$a_addrs" "${b_addrs# }"
    # Groups and the limited broadcast leave A on the veth (seen by B's capture, answered by none).
    ip -n "$A" route add 224.0.0.0/4 dev flfd0
    ip -n "$A" route add default dev flfd0
    cp scripts/findings-lab.py "$WORK/lab.py"
    # Outside: the IRC server, 8 name servers, 4 NTP servers, web servers on every address.
    bgB python3 "$WORK/lab.py" irc-server 10.78.2.100 6667
    for i in $(seq 50 57); do
        bgB dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=10.78.2.$i --bind-interfaces \
            --address=/example.test/10.78.2.$i --port 53 --pid-file="$WORK/dnsmasq-$i.pid"
    done
    for i in $(seq 60 63); do bgB python3 "$WORK/lab.py" ntp-server 10.78.2.$i; done
    head -c 200000 /dev/urandom > "$WORK/page.bin"
    (cd "$WORK" && exec ip netns exec "$B" python3 -m http.server 80 >/dev/null 2>&1) &
    PIDS+=($!)
    # The peers' own P2P listeners (TCP and UDP on 6000+n), and the site's hosts' servers.
    for i in $(seq 101 112); do bgB python3 "$WORK/lab.py" p2p-listen 10.78.2.$i $((6000 + i - 100)); done
    bgA python3 "$WORK/lab.py" p2p-listen 10.78.1.20 51413
    for port in 31337 40123 52001; do bgA python3 "$WORK/lab.py" bulk-server 10.78.1.10 "$port" 12582912; done
    sleep 2
    capture_start host-lab
    # The hacked host: its control channel, the bulk it serves, its outbound scan.
    inA python3 "$WORK/lab.py" irc-client 10.78.1.10 10.78.2.100 6667 20 &
    local irc=$!
    inB python3 "$WORK/lab.py" bulk-fetch 10.78.2.101 10.78.1.10 31337
    inB python3 "$WORK/lab.py" bulk-fetch 10.78.2.102 10.78.1.10 40123
    inB python3 "$WORK/lab.py" bulk-fetch 10.78.2.103 10.78.1.10 52001
    inA nmap -n -Pn -sS -S 10.78.1.10 -e flfd0 -p 445 --max-retries 0 10.79.0.0/26 >/dev/null
    # The P2P host.
    for i in $(seq 101 112); do inB python3 "$WORK/lab.py" p2p-dial 10.78.2.$i 10.78.1.20 51413 300000; done
    for i in 104 105 106 107; do inA python3 "$WORK/lab.py" p2p-dial 10.78.1.20 10.78.2.$i $((6000 + i - 100)) 300000; done
    for i in 108 109 110 111 112; do inB python3 "$WORK/lab.py" p2p-udp 10.78.2.$i 0 10.78.1.20 51413 5; done
    # The traps.
    inA python3 "$WORK/lab.py" web-fetch 10.78.1.30 10.78.2.70-79 80 150
    inA python3 "$WORK/lab.py" ntp-client 10.78.1.31 10.78.2.60-63 5
    for i in $(seq 50 57); do
        for q in 1 2 3 4 5 6 7 8 9 10; do
            inA dig +short +tries=1 -b 10.78.1.32 @10.78.2.$i "r$q.example.test" >/dev/null
        done
    done
    inA python3 "$WORK/lab.py" web-fetch 10.78.1.33 10.78.2.70-70 80 1
    inA python3 "$WORK/lab.py" lan-noise 10.78.1.33
    for i in 10 20 30 31 32; do
        inA python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('10.78.1.$i', 0)); \
s.sendto(b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nST: ssdp:all\r\n\r\n', ('239.255.255.250', 1900))"
    done
    wait "$irc"
    capture_end host-lab ctu
}

scan_lab() {
    # .4 first: the primary address, which the connect scan (-sT, no -S) leaves from.
    namespaces "10.78.5.4/24 10.78.5.1/24 10.78.5.3/24 10.78.5.5/24" "10.78.5.2/24"
    web_and_dns 10.78.5.2 500000
    sleep 1
    capture_start scan-lab
    for i in $(seq 10); do inA curl -s --interface 10.78.5.5 -o /dev/null http://10.78.5.2:8000/blob.bin; done
    for i in $(seq 10); do inA dig +short +tries=1 -b 10.78.5.5 @10.78.5.2 "h$i.example.test" >/dev/null; done
    inA nmap -n -sn -S 10.78.5.1 -e flfd0 --max-retries 0 10.79.0.0/26 >/dev/null
    inA nmap -n -Pn -sU -S 10.78.5.3 -e flfd0 --top-ports 50 --max-retries 1 10.78.5.2 >/dev/null
    inA nmap -n -Pn -sT -p 1-200 10.78.5.2 >/dev/null
    capture_end scan-lab ctu
}

case "$WHICH" in
    nmap-lab) nmap_lab ;;
    host-lab) host_lab ;;
    scan-lab) scan_lab ;;
    all) nmap_lab; host_lab; scan_lab ;;
    *) echo "usage: $0 [nmap-lab|host-lab|scan-lab|all]" >&2; exit 2 ;;
esac
{
    echo "nmap: $(nmap --version | head -1)"
    echo "softflowd: $(softflowd -h 2>&1 | head -1)"
    echo "nfdump: $(nfdump -V)"
    echo "argus: $(argus -h 2>&1 | sed -n 's/^Argus Version //p' | head -1)"
    echo "ra: $(ra -h 2>&1 | sed -n 's/^Ra Version //p' | head -1)"
} > "$OUT/VERSIONS"
