-- A materialized view reads its inputs whole: STREAM() belongs in streaming tables.
CREATE OR REFRESH STREAMING TABLE bronze.events AS SELECT value FROM STREAM(read_topic('events'));
CREATE MATERIALIZED VIEW gold.n AS SELECT count(*) AS n FROM STREAM(bronze.events);
