-- SALES domain: the shop's real-time transactions. The checkout service publishes one record per
-- paid order to the `orders` topic (at least once: a record may come twice, late or broken).

-- BRONZE: every record as delivered, append-only (the immutable master dataset). A record that is
-- not valid JSON goes to sales.bronze_orders_quarantine with the reason and topic/partition@offset.
CREATE OR REFRESH STREAMING TABLE sales.bronze_orders
COMMENT 'raw order records from the orders topic, as delivered'
AS SELECT value AS raw, "timestamp" AS ingested_at, "partition", "offset"
FROM STREAM(read_topic('orders', format => 'json'));

-- SILVER: parsed and validated orders, one row per order_id (duplicates within the 10-minute
-- watermark dropped); orders older than the watermark go to sales.silver_orders_late.
CREATE OR REFRESH STREAMING TABLE sales.silver_orders (
  CONSTRAINT valid_order_ts EXPECT (ordered_at IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT valid_user EXPECT (user_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT valid_total EXPECT (total IS NOT NULL AND total >= 0) ON VIOLATION DROP ROW,
  CONSTRAINT has_device EXPECT (device IS NOT NULL)
)
COMMENT 'orders: parsed, validated, deduplicated by order_id'
PARTITIONED BY (date)
AS SELECT DISTINCT ON (order_id)
  raw->>'order_id' AS order_id,
  TRY_CAST(raw->>'user_id' AS BIGINT) AS user_id,
  raw->>'session_id' AS session_id,
  raw->>'country' AS country,
  raw->>'device' AS device,
  TRY_CAST(raw->>'ordered_at' AS TIMESTAMPTZ) AS ordered_at,
  TRY_CAST(TRY_CAST(raw->>'ordered_at' AS TIMESTAMPTZ) AS DATE) AS date,
  TRY_CAST(json_array_length(raw->'items') AS INTEGER) AS items,
  TRY_CAST(raw->>'total' AS DECIMAL(12, 2)) AS total,
  raw->>'payment_method' AS payment_method,
  TRY_CAST(raw->>'schema_version' AS INTEGER) AS schema_version,
  ingested_at
FROM STREAM(sales.bronze_orders) WATERMARK ordered_at DELAY OF INTERVAL 10 MINUTES;
