CREATE OR REFRESH STREAMING TABLE bronze.events AS
SELECT DISTINCT ON (key) key, value FROM STREAM(read_topic('events'));
