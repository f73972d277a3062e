#!/usr/bin/env bash
# Regenerates tests/data/formats/l2.{pcap,binetflow} and argus-l2.racount: real layer-2 traffic
# (the STP BPDUs of a Linux bridge with stp_state 1, 802.3/LLC frames) and the IPv6 neighbour
# discovery of two network namespaces created here, captured with tcpdump, turned into Argus
# records by the real argus, and printed by ra in the CTU-13 binetflow layout (as
# scripts/make-fixtures.sh does for the other captures). Argus prints an `llc` record's MAC
# addresses where the IP addresses go; flowlens keeps such records as rows with null sip/dip.
# Needs root (ip netns) and Debian's argus-server argus-client tcpdump.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=tests/data/formats
export TZ=UTC LC_ALL=C
for tool in argus ra racount tcpdump; do
    command -v "$tool" >/dev/null || { echo "make-l2-fixture: $tool is missing" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/flowlens-l2.XXXXXX)
cleanup() {
    ip netns del fll2a 2>/dev/null || true
    ip netns del fll2b 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup
mkdir -p "$WORK"
ip netns add fll2a
ip netns add fll2b
ip link add fll2v0 type veth peer name fll2v1
ip link set fll2v0 netns fll2a
ip link set fll2v1 netns fll2b
ip -n fll2a link add br0 type bridge stp_state 1
ip -n fll2a link set fll2v0 master br0
ip -n fll2a addr add 10.78.0.1/24 dev br0
ip -n fll2b addr add 10.78.0.2/24 dev fll2v1
ip -n fll2a link set fll2v0 up
ip -n fll2a link set br0 up
ip -n fll2b link set fll2v1 up
ip netns exec fll2b tcpdump -i fll2v1 -s 128 -w "$WORK/l2.pcap" >/dev/null 2>&1 &
tp=$!
sleep 10  # a few BPDUs (every 2 s) and the interfaces' neighbour discovery
kill "$tp"
wait "$tp" || true
cp "$WORK/l2.pcap" "$OUT/l2.pcap"
printf 'RA_TIME_FORMAT="%%Y/%%m/%%d %%T.%%f"\nRA_PRINT_LABELS=0\n' > "$WORK/ctu.rarc"
argus -F /dev/null -r "$WORK/l2.pcap" -w "$WORK/l2.argus"
ra -F "$WORK/ctu.rarc" -r "$WORK/l2.argus" -n -c , -s stime dur proto saddr sport dir daddr dport state stos dtos pkts bytes sbytes \
    | awk 'NR == 1 { print $0 ",Label"; next } { print $0 ",flow=Background-fixture" }' > "$OUT/l2.binetflow"
racount -r "$WORK/l2.argus" > "$OUT/argus-l2.racount"
grep -q ',llc,' "$OUT/l2.binetflow" || { echo "make-l2-fixture: no llc record was captured" >&2; exit 1; }
echo "make-l2-fixture: wrote $OUT/l2.pcap, l2.binetflow, argus-l2.racount"
