-- ANALYTICS domain: the gold data products. Each is a materialized view over silver tables,
-- maintained by the pipeline: incrementally (each batch rewrites only the groups it changed) when
-- its query is an aggregation over an append-only table, recomputed when an input changes
-- otherwise (`strata pipeline status` says which). The dashboard, the HTTP API and the Postgres
-- endpoint read these tables.

-- The seed's user_stats: events, revenue and distinct sessions per user and day (the query its
-- Lambda batch and speed layers computed twice; here one definition).
CREATE OR REFRESH MATERIALIZED VIEW analytics.user_stats
COMMENT 'per user and day: events, revenue, distinct sessions'
AS SELECT user_id, date, count(*) AS total_events, sum(revenue) AS total_revenue,
       count(DISTINCT session_id) AS sessions
FROM sales.silver_events
GROUP BY user_id, date;

-- The seed's data product orders_daily_agg: orders and revenue per day and country.
CREATE OR REFRESH MATERIALIZED VIEW analytics.orders_daily_agg
COMMENT 'data product: orders per day and country'
AS SELECT date, country, count(*) AS total_orders, sum(total) AS total_revenue,
       avg(total) AS avg_order_value
FROM sales.silver_orders
GROUP BY date, country;

-- Revenue per country per minute: the live chart of the dashboard.
CREATE OR REFRESH MATERIALIZED VIEW analytics.revenue_per_minute
COMMENT 'orders and revenue per minute and country'
AS SELECT time_bucket(INTERVAL '1 minute', ordered_at) AS minute, country, count(*) AS orders,
       sum(total) AS revenue
FROM sales.silver_orders
GROUP BY time_bucket(INTERVAL '1 minute', ordered_at), country;

-- Products sold per hour (order lines of the event stream); the dashboard ranks the top ones.
CREATE OR REFRESH MATERIALIZED VIEW analytics.product_sales_hourly
COMMENT 'units and revenue per product and hour'
AS SELECT time_bucket(INTERVAL '1 hour', event_ts) AS hour, product_id, sum(quantity) AS units,
       sum(revenue) AS revenue, count(*) AS order_lines
FROM sales.silver_events
WHERE event_type = 'order'
GROUP BY time_bucket(INTERVAL '1 hour', event_ts), product_id;

-- Delivery performance per carrier, from the shipments' current state (recomputed when the
-- nightly batch lands).
CREATE OR REFRESH MATERIALIZED VIEW analytics.delivery_performance
COMMENT 'on-time rate and delay per carrier'
AS SELECT carrier, count(*) AS shipments,
       count(delivered_at) AS delivered,
       avg(CASE WHEN delivered_at IS NOT NULL THEN CAST(delivered_at <= promised_at AS INTEGER) END) AS on_time_rate,
       avg(CASE WHEN delivered_at IS NOT NULL THEN epoch(delivered_at - shipped_at) / 3600 END) AS avg_delivery_hours
FROM logistics.shipments
GROUP BY carrier;

-- Stock levels: the latest snapshot per warehouse and product, with what is available and
-- whether it is under its reorder point.
CREATE OR REFRESH MATERIALIZED VIEW analytics.stock_levels
COMMENT 'latest stock per warehouse and product'
AS SELECT snapshot_date, warehouse, product_id, on_hand, reserved, on_hand - reserved AS available,
       reorder_point, on_hand - reserved < reorder_point AS low_stock
FROM logistics.bronze_inventory
WHERE snapshot_date = (SELECT max(snapshot_date) FROM logistics.bronze_inventory);

-- The ten best-selling products of each hour (ranked over product_sales_hourly; recomputed).
CREATE OR REFRESH MATERIALIZED VIEW analytics.top_products_hourly
COMMENT 'the ten best-selling products per hour'
AS SELECT hour, product_id, units, revenue, rank
FROM (SELECT hour, product_id, units, revenue,
             row_number() OVER (PARTITION BY hour ORDER BY units DESC, product_id) AS rank
      FROM analytics.product_sales_hourly)
WHERE rank <= 10;
