#!/usr/bin/env bash
# Regenerates the exporter fixtures in tests/data/formats/ from real traffic.
#
# Two independent captures are made between two network namespaces created here (addresses in
# 10.77.0.0/24 and fd77::/64 exist only inside them; nothing leaves this machine):
#   services: http (python -m http.server), ssh (a real sshd and ssh login), dns (a tiny UDP
#             resolver), ntp-like udp/123, ping
#   scan:     TCP connects to closed ports (RST answers), a UDP probe to a closed port (ICMP port
#             unreachable), a TCP echo over IPv6, ping6
# Each capture (tcpdump, snaplen 128) is turned into flows by the real exporters:
#   softflowd -r → IPFIX → nfcapd → nfdump -o csv           (nfdump-<cap>.csv, with its Summary)
#   the same nfcapd file in the two later nfdump CSV layouts (nfdump175-<cap>.csv, nfdumpfast-<cap>.csv),
#   see render_new_csv.py below
#   argus -r → ra -c , / ra -c '\t'                          (argus-<cap>-*.csv/.tsv)
#   ra with the CTU-13 field list and time format           (<cap>.binetflow)
# and the exporters' own totals are stored beside them (<fixture>.totals) for tests/formats.rs.
# Tool versions go to VERSIONS. Needs root (ip netns), Debian packages: nfdump softflowd
# argus-server argus-client tcpdump openssh-server openssh-client python3.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=tests/data/formats
export TZ=UTC LC_ALL=C
WORK=$(mktemp -d /tmp/flowlens-fixtures.XXXXXX)
A=flfx-a
B=flfx-b
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in nfcapd nfdump softflowd argus ra racount tcpdump sshd ssh python3; do
    command -v "$tool" >/dev/null || { echo "make-fixtures: $tool is missing (see the header of this script)" >&2; exit 2; }
done

# --- the two namespaces and a veth pair between them -------------------------------------------
ip netns del "$A" 2>/dev/null || true  # left over from an interrupted run
ip netns del "$B" 2>/dev/null || true
ip netns add "$A"
ip netns add "$B"
ip link add flfx0 type veth peer name flfx1
ip link set flfx0 netns "$A"
ip link set flfx1 netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev flfx0
ip -n "$B" addr add 10.77.0.2/24 dev flfx1
ip -n "$A" addr add fd77::1/64 dev flfx0 nodad
ip -n "$B" addr add fd77::2/64 dev flfx1 nodad
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set flfx0 up
ip -n "$B" link set flfx1 up
inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }

# --- servers in B ------------------------------------------------------------------------------
cat > "$WORK/udpd.py" <<'PY'
# A tiny DNS resolver (port 53: answers every A query with 10.77.0.2) and an NTP-like server
# (port 123: answers a 48-byte request with a 48-byte mode-4 reply).
import socket, struct, sys, threading, time
def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.0.2", 53))
    while True:
        q, peer = s.recvfrom(512)
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        end = 12
        while q[end] != 0: end += 1 + q[end]
        question = q[12:end + 5]
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("10.77.0.2")
        s.sendto(struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer, peer)
def ntp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.0.2", 123))
    while True:
        q, peer = s.recvfrom(512)
        now = int(time.time()) + 2208988800
        s.sendto(bytes([0x24, 2, 6, 0xec]) + bytes(20) + q[40:48] + struct.pack("!II", now, 0) * 2, peer)
threading.Thread(target=dns, daemon=True).start()
ntp()
PY
cat > "$WORK/echod.py" <<'PY'
# A TCP echo server on [fd77::2]:7.
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("fd77::2", 7)); s.listen(4)
while True:
    c, _ = s.accept()
    while (d := c.recv(4096)):
        c.sendall(d)
    c.close()
PY
cat > "$WORK/client.py" <<'PY'
# The client side of each capture, run in namespace A.
import socket, struct, sys, time, urllib.request
def dns(name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
    s.sendto(q, ("10.77.0.2", 53)); s.recvfrom(512); s.close()
def ntp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.bind(("10.77.0.1", 123))
    s.sendto(bytes([0x23]) + bytes(47), ("10.77.0.2", 123)); s.recvfrom(512); s.close()
if sys.argv[1] == "services":
    for name in ["www.example.test", "mail.example.test", "ntp.example.test"]:
        dns(name)
    for path in ["/", "/udpd.py", "/nothing-here"]:
        try:
            urllib.request.urlopen("http://10.77.0.2:8080" + path, timeout=5).read()
        except Exception:
            pass
    ntp(); time.sleep(0.2); ntp()
else:
    for port in [21, 23, 25, 110, 143, 445, 3389, 5900]:
        c = socket.socket(); c.settimeout(1)
        try: c.connect(("10.77.0.2", port))
        except OSError: pass
        c.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"probe", ("10.77.0.2", 161)); u.close()
    e = socket.create_connection(("fd77::2", 7), timeout=5)
    for n in (10, 200, 1000):
        e.sendall(b"x" * n); got = b""
        while len(got) < n: got += e.recv(4096)
    e.close()
PY

ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
mkdir -p /run/sshd

ip netns exec "$B" python3 "$WORK/udpd.py" & PIDS+=($!)
ip netns exec "$B" python3 "$WORK/echod.py" & PIDS+=($!)
(cd "$WORK" && exec ip netns exec "$B" python3 -m http.server 8080 --bind 10.77.0.2 >/dev/null 2>&1) & PIDS+=($!)
ip netns exec "$B" /usr/sbin/sshd -D -e -p 22 -h "$WORK/host_key" -o ListenAddress=10.77.0.2 -o PidFile=none \
    -o AuthorizedKeysFile="$WORK/authorized_keys" -o StrictModes=no -o UsePAM=no 2>/dev/null & PIDS+=($!)
sleep 1

capture() { # name, then the commands that make its traffic
    local name=$1
    shift
    ip netns exec "$B" tcpdump -q -n -i flfx1 -s 128 -U -w "$WORK/$name.pcap" 2>/dev/null &
    local tpid=$!
    sleep 1
    "$@"
    sleep 1
    kill -INT "$tpid"
    wait "$tpid" || true
}
services() {
    inA python3 "$WORK/client.py" services
    inA ssh -q -i "$WORK/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o BatchMode=yes root@10.77.0.2 true
    inA ping -q -c 3 -i 0.2 10.77.0.2 >/dev/null
}
scan() {
    inA python3 "$WORK/client.py" scan
    inA ping -q -6 -c 2 -i 0.2 fd77::2 >/dev/null
}
capture services services
capture scan scan

cat > "$WORK/render_new_csv.py" <<'PY'
# Debian 12 ships nfdump 1.7.1, whose `-o csv` is the 48-column layout. nfdump 1.7.5 replaced it
# with a 10-column default (`%ts,%td,%pr,%sa,%sp,%da,%dp,%pkt,%byt,%fl`: src/output/output_csv.c,
# FORMAT_CSV in output.c) and added `-o csv-fast` (output_csv_fast.c). This renders the records
# that nfdump 1.7.1 prints with `-N -o fmt:...` in those two layouts, field by field as the newer
# code prints them: times in local time (TZ=UTC here) with milliseconds, duration "%.3f",
# protocol numbers, ICMP destination port as "type.code"; csv-fast with epoch milliseconds,
# af 2/10, raw dstPort, flags as 8 letters for TCP and "........" otherwise.
import sys, calendar, datetime
new, fast = open(sys.argv[1], "w"), open(sys.argv[2], "w")
new.write("firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows\n")
fast.write("cnt,af,firstSeen,lastSeen,proto,srcAddr,srcPort,dstAddr,dstPort,srcAS,dstAS,input,output,flags,srcTos,packets,bytes\n")
def ms(t):
    d = datetime.datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f")
    return calendar.timegm(d.timetuple()) * 1000 + d.microsecond // 1000
for n, line in enumerate(sys.stdin, 1):
    ts, te, td, pr, sa, sp, da, dp, pkt, byt, fl, flg, i, o, tos = [f.strip() for f in line.split("|")]
    pr = int(pr)
    # nfdump 1.7.1's %dp already prints ICMP as type.code; csv-fast wants the raw type*256+code.
    t, _, c = dp.partition(".")
    dp = int(t) * 256 + int(c) if c else int(t)
    port = f"{dp >> 8}.{dp & 255}" if pr in (1, 58) else str(dp)
    new.write(f"{ts},{float(td):.3f},{pr},{sa},{sp},{da},{port},{pkt},{byt},{fl}\n")
    af = 10 if ":" in sa else 2
    flags = flg if pr == 6 else "........"
    fast.write(f"{n},{af},{ms(ts)},{ms(te)},{pr},{sa},{sp},{da},{dp},0,0,{i},{o},{flags},{tos},{pkt},{byt}\n")
PY

# --- pcap → flows ------------------------------------------------------------------------------
# rarc: print times with their date, as the CTU-13 files do (ra's default is the time of day only).
printf 'RA_TIME_FORMAT="%%Y/%%m/%%d %%T.%%f"\nRA_PRINT_LABELS=0\n' > "$WORK/ctu.rarc"
mkdir -p "$OUT"
for cap in services scan; do
    cp "$WORK/$cap.pcap" "$OUT/$cap.pcap"
    # softflowd → nfcapd → nfdump
    rm -rf "$WORK/nf" && mkdir -p "$WORK/nf"
    nfcapd -w "$WORK/nf" -b 127.0.0.1 -p 9995 -t 3600 >/dev/null 2>&1 &
    npid=$!
    sleep 1
    # IPFIX with absolute milliseconds: softflowd 1.1.0 gets NetFlow v9 times from a pcap wrong.
    softflowd -r "$WORK/$cap.pcap" -n 127.0.0.1:9995 -v 10 -A milli -6 -d >/dev/null 2>&1
    sleep 1
    kill -TERM "$npid"
    wait "$npid" || true
    nffile=$(ls "$WORK"/nf/nfcapd.* | grep -v current | head -1)
    nfdump -r "$nffile" -o csv > "$OUT/nfdump-$cap.csv"
    nfdump -r "$nffile" -q -N -6 -o "fmt:%ts|%te|%td|%pr|%sa|%sp|%da|%dp|%pkt|%byt|%fl|%flg|%in|%out|%tos" \
        | python3 "$WORK/render_new_csv.py" "$OUT/nfdump175-$cap.csv" "$OUT/nfdumpfast-$cap.csv"
    # argus → ra
    argus -F /dev/null -r "$WORK/$cap.pcap" -w "$WORK/$cap.argus"
    ra -r "$WORK/$cap.argus" -n -c , > "$OUT/argus-$cap-default.csv"
    ra -r "$WORK/$cap.argus" -n -u -c , -s stime ltime proto saddr sport dir daddr dport spkts dpkts sbytes dbytes state flgs \
        > "$OUT/argus-$cap-dir.csv"
    ra -r "$WORK/$cap.argus" -n -c '\t' -s stime dur proto saddr sport dir daddr dport spkts dpkts sbytes dbytes state \
        > "$OUT/argus-$cap-dir.tsv"
    # The CTU-13 layout: Argus bidirectional records with these fields and a Label column.
    ra -F "$WORK/ctu.rarc" -r "$WORK/$cap.argus" -n -c , -s stime dur proto saddr sport dir daddr dport state stos dtos pkts bytes sbytes \
        > "$WORK/ctu.csv"
    awk 'NR == 1 { print $0 ",Label"; next } { print $0 ",flow=Background-fixture" }' "$WORK/ctu.csv" > "$OUT/$cap.binetflow"
    # The exporters' own totals.
    # racount's packet and byte sums; its record count is not ra's (it counts an ARP exchange as
    # two records), so the number of flow records ra prints is stored beside it.
    racount -r "$WORK/$cap.argus" > "$OUT/argus-$cap.racount"
    echo "records=$(ra -r "$WORK/$cap.argus" -n -c , -s proto - not man | tail -n +2 | wc -l)" > "$OUT/argus-$cap.totals"
done

{
    echo "# Tools that made the fixtures in this folder ($(date -u +%Y-%m-%d), scripts/make-fixtures.sh)"
    echo "nfdump: $(nfdump -V 2>&1 | head -1)"
    echo "softflowd: $(softflowd -h 2>&1 | sed -n 's/.*softflowd version \([^.]*\.[^.]*\.[^ ]*\).*/\1/p' | head -1)"
    echo "argus: $(argus -h 2>&1 | sed -n 's/^Argus Version //p' | head -1)"
    echo "ra: $(ra -h 2>&1 | sed -n 's/^Ra Version //p' | head -1)"
    echo "tcpdump: $(tcpdump --version 2>&1 | head -1)"
    echo "libpcap: $(tcpdump --version 2>&1 | sed -n 2p)"
    for p in nfdump softflowd argus-server argus-client tcpdump; do
        echo "debian $p: $(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo '?')"
    done
} > "$OUT/VERSIONS"
# Zeek is not packaged in Debian 12, so the Zeek fixtures in zeek/ are real Zeek output taken
# from public sources (see zeek/SOURCES); their totals are the logs' own counters, summed here
# with Python's json and a plain tab split, independently of flowlens.
python3 - "$OUT/zeek" <<'PY'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("zeek-*")):
    if path.suffix not in (".log", ".json"):
        continue
    recs = []
    if path.suffix == ".json":
        recs = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    else:
        fields = None
        for line in path.read_text().splitlines():
            if line.startswith("#fields\t"):
                fields = line.split("\t")[1:]
            elif line and not line.startswith("#"):
                recs.append(dict(zip(fields, line.split("\t"))))
    n = lambda r, k: int(r.get(k, 0)) if r.get(k, "-") != "-" else 0
    conns = len(recs)
    responders = sum(1 for r in recs if n(r, "resp_pkts") > 0)
    pkts = sum(n(r, "orig_pkts") + n(r, "resp_pkts") for r in recs)
    byts = sum(n(r, "orig_ip_bytes") + n(r, "resp_ip_bytes") for r in recs)
    path.with_name(path.name + ".totals").write_text(
        f"connections={conns}\nrows={conns + responders}\npackets={pkts}\nbytes={byts}\n")
PY
echo "make-fixtures: wrote $(ls "$OUT" | wc -l) files to $OUT"
