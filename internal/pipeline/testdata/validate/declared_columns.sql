-- Declared columns: the query must produce exactly them; they are cast to the declared types.
CREATE OR REFRESH STREAMING TABLE bronze.orders (
  order_id BIGINT NOT NULL,
  amount DECIMAL(12, 2) COMMENT 'in euros',
  customer VARCHAR
)
AS SELECT value->>'id' AS order_id, value->>'amount' AS amount
FROM STREAM(read_topic('orders', format => 'json'));
