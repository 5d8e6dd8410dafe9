CREATE OR REFRESH STREAMING TABLE silver.events (
  CONSTRAINT has_user EXPECT (value->>'user_id' IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT amount EXPECT (length(value)) ON VIOLATION DROP ROW
)
AS SELECT value, "offset" FROM STREAM(read_topic('events', format => 'json'));
