#!/usr/bin/env bash
# The SQL walk-through (README.md, "SQL over Delta tables"): the seed's user_stats table built from
# sample events, queried, travelled back in time, merged into, optimized and vacuumed.
# Usage: examples/sql/walkthrough.sh [PROJECT_DIR]   (default /tmp/strata-sql; it is recreated)
# examples/sql/events.ndjson holds 3,000 events: strata gen events --rows 3000 --seed 7 --days 3 --out events.ndjson
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
strata=${STRATA:-$here/../../bin/strata}
dir=${1:-/tmp/strata-sql}
rm -rf "$dir"
sql() { printf '\n\033[1m$ strata sql -c "%s"\033[0m\n' "$1"; "$strata" sql --project "$dir" -c "$1"; }

printf '\033[1m$ strata init %s\033[0m\n' "$dir"
"$strata" init "$dir"
cp "$here/events.ndjson" "$dir/events.ndjson"
cd "$dir"

# Bronze: the raw events as a Delta table partitioned by day (DuckDB reads the file, Strata commits).
sql "CREATE TABLE raw.events PARTITIONED BY (date) AS
     SELECT * REPLACE (CAST(revenue AS DECIMAL(12,2)) AS revenue) FROM read_json_auto('events.ndjson')"
# The seed's batch layer: events, revenue and distinct sessions per user per day.
sql "CREATE TABLE serving.user_stats_batch PARTITIONED BY (date) AS
     SELECT user_id, date, count(*) AS total_events, sum(revenue) AS total_revenue,
            count(DISTINCT session_id) AS sessions
     FROM raw.events GROUP BY ALL"
# The seed's serving query (get_user_stats): one user's totals.
sql "SELECT user_id, sum(total_events) AS events, sum(total_revenue) AS revenue, sum(sessions) AS sessions
     FROM serving.user_stats_batch WHERE user_id = 620 GROUP BY user_id"
# Late events arrive for user 620: recompute that user's day and MERGE it in (update or insert).
sql "INSERT INTO raw.events (event_id, event_type, user_id, session_id, event_ts, date, country, revenue, schema_version)
     VALUES ('late-1', 'order', 620, 'late-session', TIMESTAMP '2024-01-03 23:59:00', DATE '2024-01-03', 'US', 49.90, 2)"
sql "MERGE INTO serving.user_stats_batch t
     USING (SELECT user_id, date, count(*) AS total_events, sum(revenue) AS total_revenue,
                   count(DISTINCT session_id) AS sessions
            FROM raw.events WHERE user_id = 620 GROUP BY ALL) s
     ON t.user_id = s.user_id AND t.date = s.date
     WHEN MATCHED THEN UPDATE SET total_events = s.total_events, total_revenue = s.total_revenue, sessions = s.sessions
     WHEN NOT MATCHED THEN INSERT *"
# Time travel: the user's totals now and as of version 0 (before the MERGE).
sql "SELECT 'now' AS as_of, sum(total_events) AS events, sum(total_revenue) AS revenue
     FROM serving.user_stats_batch WHERE user_id = 620
     UNION ALL
     SELECT 'version 0', sum(total_events), sum(total_revenue)
     FROM serving.user_stats_batch AT (VERSION => 0) WHERE user_id = 620"
# The late insert left a second, small file in raw.events' 2024-01-03 partition. Compact each
# partition's small files and cluster them by user (Z-order), so that user lookups skip files.
sql "OPTIMIZE raw.events ZORDER BY (user_id)"
sql "EXPLAIN SELECT * FROM raw.events WHERE date = '2024-01-03' AND user_id BETWEEN 600 AND 640"
sql "DESCRIBE HISTORY raw.events"
# The files OPTIMIZE replaced stay for time travel until VACUUM deletes them, after the retention
# (7 days by default; a shorter one needs FORCE). DRY RUN lists them without deleting.
sql "VACUUM raw.events RETAIN 0 HOURS DRY RUN FORCE"
sql "SHOW TABLES"
