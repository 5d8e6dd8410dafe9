-- bronze
CREATE OR REFRESH STREAMING TABLE bronze_events
COMMENT 'raw events as they arrived'
AS SELECT * FROM STREAM(read_topic('events', format => 'json'));

CREATE OR REFRESH STREAMING TABLE silver_events (
  CONSTRAINT valid_id EXPECT (event_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT positive_amount EXPECT (amount >= 0),
  CONSTRAINT known_type EXPECT (event_type IN ('view', 'cart', 'purchase')) ON VIOLATION FAIL UPDATE
)
PARTITIONED BY (event_date)
TBLPROPERTIES ('delta.appendOnly' = 'true')
AS SELECT DISTINCT ON (event_id) event_id, user_id, ts, CAST(ts AS DATE) AS event_date, amount
FROM STREAM(bronze_events) WATERMARK ts DELAY OF INTERVAL 10 MINUTES;

CREATE MATERIALIZED VIEW gold.user_daily_stats AS
SELECT user_id, event_date, count(*) AS events, sum(amount) AS revenue FROM silver_events GROUP BY ALL;

CREATE TEMPORARY VIEW purchases AS SELECT * FROM silver_events WHERE event_type = 'purchase';

CREATE OR REFRESH STREAMING TABLE customers;
CREATE FLOW customers_cdc AS AUTO CDC INTO customers
FROM STREAM(read_topic('customers_cdc', format => 'json'))
KEYS (customer_id)
APPLY AS DELETE WHEN op = 'd'
SEQUENCE BY ts_ms
COLUMNS * EXCEPT (op, ts_ms)
STORED AS SCD TYPE 2;
