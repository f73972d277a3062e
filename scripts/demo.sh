#!/usr/bin/env bash
# `make demo`: the main job on the sample archive in data/sample (two days of rwcut text, gzip),
# into a fresh store under out/demo. Shows what a new user gets from flowlens.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWLENS:-${CARGO_TARGET_DIR:-target}/release/flowlens}
STORE=out/demo
rm -rf "$STORE"

echo "== convert: data/sample/*.rw.gz -> $STORE/flows (hive folders by day)"
"$BIN" convert data/sample -o "$STORE/flows" --partition day
find "$STORE/flows" -name '*.parquet' | sort | while read -r f; do
  printf '   %s  %s bytes\n' "$f" "$(stat -c %s "$f")"
done

echo
echo "== cat: the first flows back as rwcut text"
"$BIN" cat "$STORE/flows" | head -n 6

echo
echo "== ports: per-host port usage in the local network 10.0.0.0/16 (top 3 hosts, 5 rows each)"
"$BIN" ports "$STORE/flows" --local 10.0.0.0/16 --top-hosts 3 --top 5

echo
echo "== ports as CSV (the Berkeley report's form), written to $STORE/ports.csv"
"$BIN" ports "$STORE/flows" --local 10.0.0.0/16 --format csv -o "$STORE/ports.csv"
head -n 4 "$STORE/ports.csv"
