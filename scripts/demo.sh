#!/usr/bin/env bash
# `make demo`: the nightly job (`flowlens daily`) on the two sample days in data/sample (rwcut
# text, gzip) into a fresh store under out/demo, then what a new user gets from it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWLENS:-${CARGO_TARGET_DIR:-target}/release/flowlens}
STORE=out/demo
rm -rf "$STORE"

for day in 2026-11-20 2026-11-21; do
  echo "== daily: data/sample/$day*.rw* -> $STORE (day $day)"
  "$BIN" daily --store "$STORE" --date "$day" --local 10.0.0.0/16 data/sample/"$day"*.rw*
  echo
done

echo "== the store"
find "$STORE" -type f -not -path '*/.*' | sort | while read -r f; do
  printf '   %-52s %8s bytes\n' "$f" "$(stat -c %s "$f")"
done

echo
echo "== ports: the busiest local hosts on 2026-11-21 (top 3 hosts, 5 rows each)"
"$BIN" ports "$STORE/flows" --from 2026-11-21 --to 2026-11-21 --local 10.0.0.0/16 --top-hosts 3 --top 5

echo
echo "== ports as CSV (the Berkeley report's form): $STORE/csv/date=2026-11-21/ports.csv"
head -n 5 "$STORE/csv/date=2026-11-21/ports.csv"

echo
echo "== servers in 10.0.0.0/16 on 2026-11-21 (no TCP flags used), new ones marked"
"$BIN" servers "$STORE/flows" --from 2026-11-21 --to 2026-11-21 --local 10.0.0.0/16 \
  --baseline "$STORE/servers/date=2026-11-20/servers.parquet"

echo
echo "== new-server alerts of 2026-11-21: $STORE/alerts/date=2026-11-21/new-servers.ndjson"
cat "$STORE/alerts/date=2026-11-21/new-servers.ndjson"

echo
echo "== findings of 2026-11-21: $STORE/csv/date=2026-11-21/findings.csv (host, tag, confidence)"
cut -d, -f1,3,4 "$STORE/csv/date=2026-11-21/findings.csv"

echo
echo "== the day's page (open it in a browser): $STORE/report/date=2026-11-21/report.html"

echo
echo "== the flows back as rwcut text"
"$BIN" cat "$STORE/flows" --from 2026-11-21 | head -n 4
