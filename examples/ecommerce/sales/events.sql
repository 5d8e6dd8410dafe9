-- SALES domain: the clickstream and commerce events of the web and mobile apps (page views, cart
-- adds, order lines, payments, refunds) on the `events` topic: the seed's raw_events. Devices
-- still send the old schema version 1 (no `device` field) next to version 2.

-- BRONZE: every event as delivered, append-only; invalid JSON to sales.bronze_events_quarantine.
CREATE OR REFRESH STREAMING TABLE sales.bronze_events
COMMENT 'raw events from the events topic, as delivered'
AS SELECT value AS raw, "timestamp" AS ingested_at, "partition", "offset"
FROM STREAM(read_topic('events', format => 'json'));

-- SILVER: parsed, validated and deduplicated by event_id within a 10-minute watermark; late
-- events go to sales.silver_events_late. Version 1 events are kept with a NULL device (the
-- has_device expectation counts them).
CREATE OR REFRESH STREAMING TABLE sales.silver_events (
  CONSTRAINT valid_event_ts EXPECT (event_ts IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT valid_user EXPECT (user_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT known_type EXPECT (event_type IN ('page_view', 'add_to_cart', 'order', 'payment', 'refund')) ON VIOLATION DROP ROW,
  CONSTRAINT valid_revenue EXPECT (revenue IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT has_device EXPECT (device IS NOT NULL)
)
COMMENT 'events: parsed, validated, deduplicated by event_id'
PARTITIONED BY (date)
AS SELECT DISTINCT ON (event_id)
  raw->>'event_id' AS event_id,
  raw->>'event_type' AS event_type,
  TRY_CAST(raw->>'user_id' AS BIGINT) AS user_id,
  raw->>'session_id' AS session_id,
  TRY_CAST(raw->>'event_ts' AS TIMESTAMPTZ) AS event_ts,
  TRY_CAST(raw->>'date' AS DATE) AS date,
  raw->>'country' AS country,
  raw->>'device' AS device,
  raw->>'product_id' AS product_id,
  raw->>'order_id' AS order_id,
  TRY_CAST(raw->>'quantity' AS INTEGER) AS quantity,
  TRY_CAST(raw->>'revenue' AS DECIMAL(12, 2)) AS revenue,
  TRY_CAST(raw->>'schema_version' AS INTEGER) AS schema_version,
  ingested_at
FROM STREAM(sales.bronze_events) WATERMARK event_ts DELAY OF INTERVAL 10 MINUTES;
