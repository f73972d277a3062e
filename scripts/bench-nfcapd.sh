#!/bin/sh
# nfcapd → Parquet against the text step users run today (`nfdump -r FILE -o csv`), on the same
# file in the same run. The file: `flowlens gen` flows (the other benchmarks' data), one packet
# per flow into a pcap (scripts/gen2pcap.py), turned into an nfcapd file by Debian's nfpcapd,
# then recompressed with `nfdump -z` (LZO, what `nfcapd -z` writes). Needs nfdump (nfpcapd) and
# python3. Usage: scripts/bench-nfcapd.sh [ROWS] [RUNS]
set -eu
ROWS=${1:-1300000}
RUNS=${2:-3}
FLOWLENS=${FLOWLENS:-target/release/flowlens}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$FLOWLENS" gen --rows "$ROWS" --seed 7 --format csv -o "$WORK/gen.csv" 2>/dev/null
python3 scripts/gen2pcap.py "$WORK/gen.csv" "$WORK/gen.pcap"
mkdir "$WORK/nf"
nfpcapd -r "$WORK/gen.pcap" -w "$WORK/nf" -t 86400 >/dev/null 2>&1
cp "$WORK"/nf/nfcapd.* "$WORK/gen.nfcapd"
nfdump -r "$WORK/gen.nfcapd" -z -w "$WORK/gen.lzo.nfcapd"
flows=$(nfdump -r "$WORK/gen.nfcapd" -o csv | tail -1 | cut -d, -f1)
echo "flows: $flows ($(nfdump -V | head -1))"
for f in gen.nfcapd gen.lzo.nfcapd; do
    for i in $(seq "$RUNS"); do
        /usr/bin/time -f "$f flowlens %e s wall %U s user %S s sys %M KiB" \
            "$FLOWLENS" convert "$WORK/$f" -o "$WORK/out.parquet" --quiet
        /usr/bin/time -f "$f nfdump-csv %e s wall %U s user %S s sys %M KiB" \
            sh -c "nfdump -r '$WORK/$f' -o csv > /dev/null"
    done
done
