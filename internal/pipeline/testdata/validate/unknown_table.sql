CREATE MATERIALIZED VIEW gold.totals AS
SELECT user_id, count(*) AS n
FROM silver.evnts
GROUP BY user_id;
