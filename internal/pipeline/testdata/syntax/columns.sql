CREATE OR REFRESH STREAMING TABLE sales.orders (
  order_id BIGINT NOT NULL COMMENT 'the order''s id',
  "Customer Id" VARCHAR,
  amount DECIMAL(18, 2) NOT NULL,
  tags VARCHAR[],
  address STRUCT<street VARCHAR, zip INT, geo STRUCT<lat DOUBLE, lon DOUBLE>>,
  items ARRAY<STRUCT<sku STRING, qty INT>> COMMENT 'line items',
  ts TIMESTAMP WITH TIME ZONE NULL,
  untyped,
  note /* free text */ TEXT COMMENT 'x',
  CONSTRAINT positive EXPECT (amount > 0)
)
TBLPROPERTIES (delta.appendOnly = true, 'pipelines.reset.allowed' = 'false', retention = 7)
COMMENT 'orders with a declared schema'
PARTITIONED BY (order_date, "Region");
