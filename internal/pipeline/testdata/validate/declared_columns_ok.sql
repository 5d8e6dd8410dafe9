CREATE OR REFRESH STREAMING TABLE bronze.orders (
  order_id BIGINT NOT NULL,
  amount DECIMAL(12, 2) COMMENT 'in euros',
  CONSTRAINT positive EXPECT (amount > 0)
)
AS SELECT value->>'id' AS order_id, value->>'amount' AS amount
FROM STREAM(read_topic('orders', format => 'json'));
