CREATE MATERIALIZED VIEW checked (
  CONSTRAINT nested EXPECT ((a > 0 AND (b < 10 OR c IN (1, 2, (3)))) OR coalesce(d, 'x)') <> ')'),
  CONSTRAINT "quoted name" expect (x is not null) on violation drop row,
  CONSTRAINT multi_line EXPECT (
      amount >= 0 -- never negative
      AND currency IN ('EUR', 'USD')
  ) ON VIOLATION FAIL UPDATE,
  CONSTRAINT with_case EXPECT (CASE WHEN kind = 'a' THEN x > 0 ELSE TRUE END)
) AS SELECT * FROM silver;
