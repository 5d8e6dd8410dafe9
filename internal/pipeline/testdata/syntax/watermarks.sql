CREATE STREAMING TABLE joined AS
SELECT o.order_id, p.payment_id
FROM STREAM(bronze.orders) AS o WATERMARK o.ts DELAY OF INTERVAL '1 hour 30 minutes'
JOIN (
  SELECT * FROM STREAM(read_files('landing/payments/*.csv', format => 'csv')) p
    WATERMARK "paid_at" DELAY OF INTERVAL '10' MINUTE
) p ON o.order_id = p.order_id
  AND o.note <> 'WATERMARK x DELAY OF INTERVAL 1 MONTH; not a clause'
WHERE o.watermark > 0;

CREATE STREAMING TABLE windowed AS
SELECT window_start, count(*) FROM STREAM(events) WATERMARK ts DELAY OF INTERVAL 1 HOUR 30 MINUTES
GROUP BY window_start;

CREATE STREAMING TABLE subquery AS
SELECT * FROM (SELECT * FROM events) WATERMARK ts DELAY OF INTERVAL 250 MILLISECONDS;
