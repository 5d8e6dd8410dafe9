-- A body DuckDB cannot parse: the error points into the file.
CREATE MATERIALIZED VIEW gold.totals AS
SELECT user_id, count(* AS n
FROM silver.events
GROUP BY user_id;
