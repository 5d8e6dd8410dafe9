-- LOGISTICS domain: the warehouse system exports, every night, a snapshot of stock per warehouse
-- and product (Parquet) and the day's shipment updates (CSV) into landing/logistics/. This file's
-- pipelines entry in strata.yaml has a schedule ("0 2 * * *"): it runs as a batch at 02:00 UTC.
-- Each landing file is taken once (a file that cannot be read goes to the _quarantine_files
-- table of its bronze table, with the reason).

-- BRONZE: shipment updates as exported: text columns, nothing interpreted yet.
CREATE OR REFRESH STREAMING TABLE logistics.bronze_shipments
COMMENT 'raw shipment updates from the nightly CSV exports'
AS SELECT * FROM STREAM(read_files('landing/logistics/shipments/*.csv', format => 'csv',
  schema => 'shipment_id VARCHAR, order_id VARCHAR, carrier VARCHAR, warehouse VARCHAR, country VARCHAR, shipped_at VARCHAR, promised_at VARCHAR, delivered_at VARCHAR, status VARCHAR, updated_at VARCHAR'));

-- BRONZE: the stock snapshots.
CREATE OR REFRESH STREAMING TABLE logistics.bronze_inventory
COMMENT 'raw nightly stock snapshots'
AS SELECT * FROM STREAM(read_files('landing/logistics/inventory/*.parquet', format => 'parquet',
  schema => 'snapshot_date DATE, warehouse VARCHAR, product_id VARCHAR, on_hand INTEGER, reserved INTEGER, reorder_point INTEGER'));

-- SILVER: typed and validated shipment updates (a row with an unreadable timestamp is dropped and
-- counted).
CREATE OR REFRESH STREAMING TABLE logistics.shipment_updates (
  CONSTRAINT has_shipment_id EXPECT (shipment_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT valid_shipped_at EXPECT (shipped_at IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT valid_promised_at EXPECT (promised_at IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT valid_updated_at EXPECT (updated_at IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT known_status EXPECT (status IN ('in_transit', 'delivered', 'delayed', 'returned')) ON VIOLATION DROP ROW
)
AS SELECT
  shipment_id, order_id, carrier, warehouse, country,
  TRY_CAST(shipped_at AS TIMESTAMPTZ) AS shipped_at,
  TRY_CAST(promised_at AS TIMESTAMPTZ) AS promised_at,
  TRY_CAST(NULLIF(delivered_at, '') AS TIMESTAMPTZ) AS delivered_at,
  status,
  TRY_CAST(updated_at AS TIMESTAMPTZ) AS updated_at
FROM STREAM(logistics.bronze_shipments);

-- SILVER: each shipment's current state (SCD type 1: the latest update wins).
CREATE OR REFRESH STREAMING TABLE logistics.shipments
COMMENT 'shipments, current state';

CREATE FLOW shipments_current AS AUTO CDC INTO logistics.shipments
FROM STREAM(logistics.shipment_updates)
KEYS (shipment_id)
SEQUENCE BY updated_at
STORED AS SCD TYPE 1;
