CREATE STREAMING TABLE silver.customers (id BIGINT, name STRING);

CREATE FLOW full_flow COMMENT 'every clause'
AS AUTO CDC INTO silver.customers
FROM STREAM(bronze.customers_cdc)
KEYS (id, "Region")
IGNORE NULL UPDATES
APPLY AS DELETE WHEN op = 'd' AND (before IS NOT NULL)
SEQUENCE BY struct(ts_ms, lsn)
COLUMNS id, name, "Region"
STORED AS SCD TYPE 2
TRACK HISTORY ON * EXCEPT (updated_at);

create flow legacy as apply changes into live.customers_scd1
from stream(live.cdc) keys (id)
apply as truncate when op = 't'
apply as delete when op = 'd'
sequence by ts_ms
columns * except (op)
stored as scd type 1;

CREATE FLOW any_order AS AUTO CDC INTO c FROM STREAM(s) KEYS (k)
STORED AS SCD TYPE 2 TRACK HISTORY ON (name, email) SEQUENCE BY seq COLUMNS (k, name, email, seq);
