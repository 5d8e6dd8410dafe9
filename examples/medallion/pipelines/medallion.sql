-- The seed's medallion architecture (bronze, silver, gold) as one declarative pipeline.
-- `strata pipeline run` runs it as a batch; `strata pipeline run --mode stream` runs the same
-- definitions continuously. Both give the same tables.

-- BRONZE: the raw events as they arrived, append-only: the JSON text and the ingestion time.
-- A record that is not valid JSON goes to bronze.events_quarantine with the reason.
CREATE OR REFRESH STREAMING TABLE bronze.events
COMMENT 'raw events from the events topic, append-only'
AS SELECT value AS raw_json, "timestamp" AS ingestion_time, "partition", "offset"
FROM STREAM(read_topic('events', format => 'json'));

-- SILVER: parsed, validated and deduplicated (by event_id, within a 10-minute watermark).
CREATE OR REFRESH STREAMING TABLE silver.events (
  CONSTRAINT valid_user EXPECT (user_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT known_type EXPECT (event_type IN ('page_view', 'add_to_cart', 'order', 'payment', 'refund')) ON VIOLATION DROP ROW,
  CONSTRAINT valid_revenue EXPECT (revenue IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT has_device EXPECT (device IS NOT NULL)
)
PARTITIONED BY (date)
AS SELECT DISTINCT ON (event_id)
  raw_json->>'event_id' AS event_id,
  raw_json->>'event_type' AS event_type,
  TRY_CAST(raw_json->>'user_id' AS BIGINT) AS user_id,
  raw_json->>'session_id' AS session_id,
  TRY_CAST(raw_json->>'event_ts' AS TIMESTAMPTZ) AS event_ts,
  TRY_CAST(raw_json->>'date' AS DATE) AS date,
  raw_json->>'country' AS country,
  raw_json->>'device' AS device,
  raw_json->>'product_id' AS product_id,
  TRY_CAST(raw_json->>'revenue' AS DECIMAL(12, 2)) AS revenue,
  ingestion_time
FROM STREAM(bronze.events) WATERMARK event_ts DELAY OF INTERVAL 10 MINUTES
WHERE TRY_CAST(raw_json->>'event_ts' AS TIMESTAMPTZ) IS NOT NULL;

-- GOLD: the seed's user_daily_stats (daily events and distinct event types per user),
-- maintained incrementally: each batch rewrites only the groups it changed.
CREATE OR REFRESH MATERIALIZED VIEW gold.user_daily_stats AS
SELECT user_id, date, count(*) AS daily_events, count(DISTINCT event_type) AS event_types
FROM silver.events
GROUP BY ALL;

-- GOLD: the seed's user_stats (events, revenue and distinct sessions per user and day), the
-- same definition its batch and speed layers computed twice.
CREATE OR REFRESH MATERIALIZED VIEW gold.user_stats AS
SELECT user_id, date, count(*) AS total_events, sum(revenue) AS total_revenue,
       count(DISTINCT session_id) AS sessions
FROM silver.events
GROUP BY user_id, date;

-- GOLD: revenue per country and day, with the share of each country: a query the runtime
-- cannot maintain incrementally (a window over the aggregate), so it is recomputed when
-- silver changes, and the run says so.
CREATE OR REFRESH MATERIALIZED VIEW gold.country_revenue AS
SELECT country, date, sum(revenue) AS revenue,
       sum(revenue) / sum(sum(revenue)) OVER (PARTITION BY date) AS share
FROM silver.events
WHERE event_type IN ('order', 'refund')
GROUP BY country, date;
