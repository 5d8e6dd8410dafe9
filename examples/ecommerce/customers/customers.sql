-- CUSTOMERS domain: the shop database's customers table, captured by Debezium (change data
-- capture) into the `customers_cdc` topic: snapshot rows (op r), inserts (c), updates (u) and
-- deletes (d: GDPR erasure requests), out of order at times and sometimes repeated.

-- BRONZE: every change as delivered (the audit trail of the dimension).
CREATE OR REFRESH STREAMING TABLE customers.bronze_changes
COMMENT 'raw Debezium change events from the customers_cdc topic'
AS SELECT value AS raw, "timestamp" AS ingested_at, "partition", "offset"
FROM STREAM(read_topic('customers_cdc', format => 'json'));

-- SILVER: the customer dimension with its history (SCD type 2): each version of a customer has
-- __START_AT / __END_AT; the current row has __END_AT NULL. Changes apply in ts_ms order whatever
-- their arrival order; a delete closes the customer's current row.
CREATE OR REFRESH STREAMING TABLE customers.customers
COMMENT 'customer dimension, SCD type 2';

CREATE FLOW customers_cdc AS AUTO CDC INTO customers.customers
FROM STREAM(read_topic('customers_cdc', format => 'json',
  schema => 'customer_id BIGINT, name VARCHAR, email VARCHAR, country VARCHAR, city VARCHAR, segment VARCHAR, marketing_opt_in BOOLEAN, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ'))
KEYS (customer_id)
APPLY AS DELETE WHEN op = 'd'
SEQUENCE BY ts_ms
COLUMNS * EXCEPT (op, ts_ms)
STORED AS SCD TYPE 2;
