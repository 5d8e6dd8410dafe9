-- A valid pipeline: its golden lists each object and how it runs.
CREATE OR REFRESH STREAMING TABLE bronze.events
AS SELECT value AS raw, "timestamp" AS ingested_at FROM STREAM(read_topic('events', format => 'json'));

CREATE TEMPORARY VIEW parsed AS
SELECT raw->>'user' AS user_id, CAST(raw->>'amount' AS DECIMAL(10, 2)) AS amount, ingested_at FROM bronze.events;

CREATE MATERIALIZED VIEW gold.per_user AS
SELECT user_id, count(*) AS n, sum(amount) AS total FROM parsed GROUP BY user_id;

CREATE MATERIALIZED VIEW gold.per_day AS
SELECT CAST(ingested_at AS DATE) AS day, count(*) AS n FROM bronze.events GROUP BY ALL;
