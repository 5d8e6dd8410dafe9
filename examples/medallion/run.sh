#!/usr/bin/env bash
# The seed's medallion pipeline (README.md, "Declarative pipelines"), run as a batch and then as a
# stream over the same definitions (pipelines/medallion.sql).
# Usage: examples/medallion/run.sh [PROJECT_DIR]   (default /tmp/strata-medallion; it is recreated)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
strata=${STRATA:-$here/../../bin/strata}
dir=${1:-/tmp/strata-medallion}
rm -rf "$dir" && mkdir -p "$dir"
cp -r "$here/strata.yaml" "$here/pipelines" "$dir/"
cd "$dir"
run() { printf '\n\033[1m$ strata %s\033[0m\n' "$*"; "$strata" "$@"; }
events() { # events N SEED START: N generated events (some late, out of order, duplicated) as NDJSON
	"$strata" gen events --out - --format ndjson --rows "$1" --seed "$2" --start "$3" --days 1 \
		--anomalies --malformed 0 2>/dev/null
}

run log topic create events --partitions 4
printf '\n\033[1m$ strata gen events ... | strata log produce events\033[0m\n'
events 50000 7 2026-11-01T00:00:00Z | "$strata" log produce events --key-field user_id --timestamp-field event_ts
run pipeline validate
# Batch mode: everything available, once, in DAG order; then exit with a summary.
run pipeline run
# New events arrive. Stream mode takes only them (each row once) and keeps every table current;
# --idle-stop ends it once it has caught up (without it, it runs until Ctrl-C).
printf '\n\033[1m$ strata gen events ... | strata log produce events\033[0m\n'
events 20000 8 2026-11-02T00:00:00Z | "$strata" log produce events --key-field user_id --timestamp-field event_ts
run pipeline run --mode stream --idle-stop 2s
# The seed's serving query over gold: a user's totals.
run sql -c "SELECT user_id, sum(total_events) AS events, sum(total_revenue) AS revenue, sum(sessions) AS sessions
            FROM gold.user_stats WHERE user_id = 42 GROUP BY user_id"
# Incremental maintenance, from the event log: each stream batch of gold.user_stats rewrote only
# the groups (user, day) it changed.
run sql -c "SELECT flow, batch_id, rows_in, rows_out AS groups_written FROM _strata.pipeline_events
            WHERE mode = 'stream' AND event = 'batch' AND flow = 'gold.user_stats' ORDER BY batch_id"
run sql -c "SELECT count(*) AS groups FROM gold.user_stats"
run pipeline status
run pipeline lineage
