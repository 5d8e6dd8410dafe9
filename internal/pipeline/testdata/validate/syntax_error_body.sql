CREATE OR REFRESH STREAMING TABLE bronze.events AS SELECT value FROM STREAM(read_topic('events'));

-- DuckDB's parser rejects the body: the error is placed at the token it names.
CREATE MATERIALIZED VIEW gold.totals AS
SELECT value
       count(*) AS n
FROM bronze.events
GROUP BY value;
