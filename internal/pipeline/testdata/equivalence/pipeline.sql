-- The equivalence test's three-layer pipeline (see equivalence_test.go). The test replaces
-- {{DELAY}} with the watermark delay of the run's input profile (e.g. 10 MINUTES).

-- BRONZE: every well-formed record of the events topic, parsed; invalid JSON goes to
-- bronze.events_quarantine. The topic partition and offset are kept (the reference orders by them).
CREATE OR REFRESH STREAMING TABLE bronze.events
COMMENT 'raw events, one row per well-formed record'
AS SELECT "partition", "offset",
  value->>'event_id' AS event_id,
  TRY_CAST(value->>'user_id' AS BIGINT) AS user_id,
  TRY_CAST(value->>'ts' AS TIMESTAMPTZ) AS ts,
  value->>'type' AS type,
  TRY_CAST(value->>'amount' AS DECIMAL(12, 2)) AS amount,
  value->>'country_code' AS country_code
FROM STREAM(read_topic('events', format => 'json'));

-- BRONZE: shipments from landing CSV files, each file taken once (a file that does not cast to
-- the schema goes to bronze.shipments_quarantine_files).
CREATE OR REFRESH STREAMING TABLE bronze.shipments
AS SELECT * FROM STREAM(read_files('landing/shipments/*.csv', format => 'csv',
  schema => 'shipment_id BIGINT, event_id VARCHAR, carrier VARCHAR, weight DECIMAL(10, 3), shipped_at TIMESTAMP'));

-- SILVER: valid events (DROP ROW expectations), an unknown country counted but kept,
-- deduplicated by event_id within the watermark; late rows go to silver.events_late.
CREATE OR REFRESH STREAMING TABLE silver.events (
  CONSTRAINT valid_user EXPECT (user_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT non_negative_amount EXPECT (amount >= 0) ON VIOLATION DROP ROW,
  CONSTRAINT known_country EXPECT (country_code IN ('US', 'DE', 'FR', 'JP'))
)
AS SELECT DISTINCT ON (event_id) event_id, user_id, ts, type, amount, country_code
FROM STREAM(bronze.events) WATERMARK ts DELAY OF INTERVAL {{DELAY}}
WHERE ts IS NOT NULL;

-- SILVER: the customers dimension from Debezium changes, history kept (SCD type 2).
CREATE OR REFRESH STREAMING TABLE silver.customers;

CREATE FLOW customers_cdc AS AUTO CDC INTO silver.customers
FROM STREAM(read_topic('customers_cdc', format => 'json',
  schema => 'customer_id BIGINT, name VARCHAR, tier VARCHAR, country_code VARCHAR'))
KEYS (customer_id)
APPLY AS DELETE WHEN op = 'd'
SEQUENCE BY ts_ms
COLUMNS * EXCEPT (op, ts_ms)
STORED AS SCD TYPE 2;

-- GOLD: per user, non-windowed (maintained incrementally).
CREATE OR REFRESH MATERIALIZED VIEW gold.user_stats AS
SELECT user_id, count(*) AS events, sum(amount) AS total_amount, min(amount) AS min_amount,
       max(amount) AS max_amount, avg(amount) AS avg_amount, count(DISTINCT type) AS types
FROM silver.events
GROUP BY user_id;

-- GOLD: per hour and country (maintained incrementally).
CREATE OR REFRESH MATERIALIZED VIEW gold.hourly_country AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS hour, country_code, count(*) AS events,
       sum(amount) AS revenue, count(DISTINCT user_id) AS users
FROM silver.events
GROUP BY time_bucket(INTERVAL '1 hour', ts), country_code;

-- GOLD: revenue per customer tier, joining the current customers rows (recomputed).
CREATE OR REFRESH MATERIALIZED VIEW gold.tier_revenue AS
SELECT c.tier, count(*) AS events, sum(e.amount) AS revenue, count(DISTINCT e.user_id) AS users
FROM silver.events e JOIN silver.customers c ON e.user_id = c.customer_id
WHERE c.__END_AT IS NULL
GROUP BY c.tier;

-- GOLD: per carrier, from the landing files (maintained incrementally).
CREATE OR REFRESH MATERIALIZED VIEW gold.carrier_stats AS
SELECT carrier, count(*) AS shipments, sum(weight) AS total_weight, max(weight) AS max_weight
FROM bronze.shipments
GROUP BY carrier;
