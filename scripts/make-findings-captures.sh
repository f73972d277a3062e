#!/usr/bin/env bash
# Remakes the labelled captures in tests/data/findings/ from real traffic between two network
# namespaces (10.78.0.0/24 on a veth pair, and 10.79.0.0/24 routed to B and dropped there: a dark
# network; nothing leaves this machine). What happens, and the labels, are in SOURCES.
#   nmap -sS  10.78.0.1 → 10.79.0.0/26 ports 139,445      horizontal scan of a dark network
#   nmap -sS  10.78.0.1 → 10.78.0.2 top 300 ports          vertical scan; B answers with resets
#   curl      10.78.0.5 → 10.78.0.2:8000 (python http.server), 20 downloads of 2 MB
#   dig       10.78.0.5 → 10.78.0.2:53 (dnsmasq), 30 queries
#   upload    10.78.0.6 → 10.78.0.2:9102, 5 pushes of 20 MB (a backup to one peer)
# Captured with tcpdump on B's side, turned into flows by softflowd (IPFIX) → nfcapd → nfdump -o csv.
# Needs root and Debian packages nmap nfdump softflowd tcpdump dnsmasq curl dnsutils python3.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=tests/data/findings
export TZ=UTC LC_ALL=C
WORK=$(mktemp -d /tmp/flowlens-findings.XXXXXX)
A=flfd-a
B=flfd-b
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for tool in nmap nfcapd nfdump softflowd tcpdump dnsmasq curl dig python3; do
    command -v "$tool" >/dev/null || { echo "make-findings-captures: $tool is missing" >&2; exit 2; }
done
ip netns del "$A" 2>/dev/null || true
ip netns del "$B" 2>/dev/null || true
ip netns add "$A"
ip netns add "$B"
ip link add flfd0 type veth peer name flfd1
ip link set flfd0 netns "$A"
ip link set flfd1 netns "$B"
for a in 1 5 6; do ip -n "$A" addr add 10.78.0.$a/24 dev flfd0; done
ip -n "$B" addr add 10.78.0.2/24 dev flfd1
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set flfd0 up
ip -n "$B" link set flfd1 up
# The dark network: routed to B, which does not forward (the probes are seen, nothing answers).
ip -n "$A" route add 10.79.0.0/24 via 10.78.0.2
ip netns exec "$B" sysctl -qw net.ipv4.ip_forward=0
ip netns exec "$B" iptables -A INPUT -d 10.79.0.0/24 -j DROP 2>/dev/null || true
inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }

head -c 2000000 /dev/urandom > "$WORK/blob.bin"
(cd "$WORK" && exec ip netns exec "$B" python3 -m http.server 8000 --bind 10.78.0.2 >/dev/null 2>&1) &
PIDS+=($!)
ip netns exec "$B" dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=10.78.0.2 --bind-interfaces \
    --address=/example.test/10.78.0.2 --port 53 >/dev/null 2>&1 &
PIDS+=($!)
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
ip netns exec "$B" python3 "$WORK/sink.py" &
PIDS+=($!)
cat > "$WORK/push.py" <<'PY'
import socket
data = b"x" * (1 << 20)
for _ in range(5):
    s = socket.create_connection(("10.78.0.2", 9102), source_address=("10.78.0.6", 0))
    for _ in range(20):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR); s.recv(16); s.close()
PY
sleep 1
ip netns exec "$B" tcpdump -q -i flfd1 -s 128 -w "$WORK/cap.pcap" 2>/dev/null &
TPID=$!
sleep 1
for i in $(seq 20); do inA curl -s --interface 10.78.0.5 -o /dev/null http://10.78.0.2:8000/blob.bin; done
for i in $(seq 30); do inA dig +short +tries=1 -b 10.78.0.5 @10.78.0.2 "h$i.example.test" >/dev/null; done
inA python3 "$WORK/push.py"
inA nmap -n -Pn -sS -S 10.78.0.1 -e flfd0 -p 139,445 --max-retries 0 10.79.0.0/26 >/dev/null
inA nmap -n -Pn -sS -S 10.78.0.1 -e flfd0 --top-ports 300 --max-retries 0 10.78.0.2 >/dev/null
sleep 1
kill -INT "$TPID"; wait "$TPID" || true
mkdir -p "$WORK/nf"
nfcapd -w "$WORK/nf" -b 127.0.0.1 -p 9996 -t 3600 >/dev/null 2>&1 &
NPID=$!
sleep 1
softflowd -r "$WORK/cap.pcap" -n 127.0.0.1:9996 -v 10 -A milli -d >/dev/null 2>&1
sleep 1
kill -TERM "$NPID"; wait "$NPID" || true
nffile=$(ls "$WORK"/nf/nfcapd.* | grep -v current | head -1)
mkdir -p "$OUT"
nfdump -r "$nffile" -o csv > "$OUT/nmap-lab.nfdump.csv"
{
    echo "nmap: $(nmap --version | head -1)"
    echo "softflowd: $(softflowd -h 2>&1 | head -1)"
    echo "nfdump: $(nfdump -V)"
} > "$OUT/VERSIONS"
echo "wrote $OUT/nmap-lab.nfdump.csv ($(wc -l < "$OUT/nmap-lab.nfdump.csv") lines)"
