#!/bin/sh
# SiLK rw → Parquet against the rwcut-text path (`rwcut --all-fields FILE | flowlens convert -`
# minus rwcut itself, which Debian cannot run) on the same flows, in the same run. The rw file is
# a SiLK 3.19.1 fixture scaled up: its header, then its blocks repeated (a valid larger file);
# the text is the fixture's `rwcut --all-fields` output, its records repeated as many times.
# Usage: scripts/bench-silk.sh [COPIES] [RUNS] [FIXTURE]
set -eu
COPIES=${1:-1700}
RUNS=${2:-3}
FIXTURE=${3:-tests/data/native/g5-routing-v1-zlib-B.rw}
FLOWLENS=${FLOWLENS:-target/release/flowlens}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 - "$FIXTURE" "$COPIES" "$WORK" <<'PY'
import sys
src, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b = open(src, 'rb').read()
# header length: 16-byte start, then entries (id u32, length u32) up to the end entry (id 0).
at = 16
while True:
    eid, ln = int.from_bytes(b[at:at+4], 'big'), int.from_bytes(b[at+4:at+8], 'big')
    at += ln
    if eid == 0:
        break
with open(f'{work}/big.rw', 'wb') as f:
    f.write(b[:at])
    for _ in range(n):
        f.write(b[at:])
lines = open(src + '.txt').read().splitlines(True)
with open(f'{work}/big.txt', 'w') as f:
    f.write(lines[0])
    for _ in range(n):
        f.writelines(lines[1:])
PY
cp tests/data/native/silk.conf "$WORK/silk.conf"
rows=$("$FLOWLENS" convert "$WORK/big.rw" -o "$WORK/a.parquet" 2>&1 | sed -n 's/.* \([0-9]*\) rows written.*/\1/p')
echo "rows: $rows ($(basename "$FIXTURE") x $COPIES; rw $(du -h "$WORK/big.rw" | cut -f1), text $(du -h "$WORK/big.txt" | cut -f1))"
for i in $(seq "$RUNS"); do
    /usr/bin/time -f "silk-rw  %e s wall %U s user %S s sys %M KiB" \
        "$FLOWLENS" convert "$WORK/big.rw" -o "$WORK/a.parquet" --quiet
    /usr/bin/time -f "rwcut-txt %e s wall %U s user %S s sys %M KiB" \
        "$FLOWLENS" convert "$WORK/big.txt" -o "$WORK/b.parquet" --quiet
done
