CREATE OR REFRESH STREAMING TABLE bronze.events
AS SELECT value AS raw_json, "timestamp" AS ingested_at FROM STREAM(read_topic('events', format => 'json'));

CREATE MATERIALIZED VIEW gold.by_day AS
SELECT CAST(ingested_at AS DATE) AS day,
       count(DISTINCT raw_jsn) AS payloads
FROM bronze.events
GROUP BY ALL;
