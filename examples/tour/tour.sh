#!/usr/bin/env bash
# The 5-minute tour of `strata table` (README.md walks through the same steps).
# Usage: examples/tour/tour.sh [TABLE_DIR]   (default /tmp/strata-tour/orders; it is recreated)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
strata=${STRATA:-$here/../../bin/strata}
t=${1:-/tmp/strata-tour/orders}
rm -rf "$t" "$t.rejected.ndjson"
step() { printf '\n\033[1m$ strata %s\033[0m\n' "$*"; "$strata" "$@"; }

step table create "$t" --partition-by country \
  --schema 'order_id BIGINT NOT NULL, user_id STRING, country STRING, amount DECIMAL(10,2), status STRING, order_ts TIMESTAMP'
step table append "$t" "$here/orders.csv"
step table scan "$t"
# A new day arrives as NDJSON with a new column: evolve the schema on write.
step table append "$t" "$here/orders-2026-03-03.ndjson" --merge-schema
# Replace only Spain's partition with corrected data.
step table overwrite "$t" "$here/orders-es-corrected.csv" --replace-where "country = 'ES'"
step table history "$t"
# Time travel: the table as it was after the first append.
step table scan "$t" --version 1 --columns order_id,country,amount
# A malformed record fails the whole append and names file, line and column; nothing is committed.
step table append "$t" "$here/bad-orders.csv" || true
# ...or goes to a quarantine with its reason while the good rows land.
step table append "$t" "$here/bad-orders.csv" --quarantine "$t.rejected.ndjson"
cat "$t.rejected.ndjson"
step table describe "$t"
step table restore "$t" --version 2
step table checkpoint "$t"
step table vacuum "$t" --dry-run
printf '\nThe table at %s is a plain Delta table: Spark, delta-rs, DuckDB and Trino read it.\n' "$t"
