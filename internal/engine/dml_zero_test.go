package engine

import (
	"database/sql/driver"
	"fmt"
	"testing"
)

func TestDMLNegZeroScratch(t *testing.T) {
	env := newDMLEnv(t, Options{})
	c, _ := env.e.connect(env.ctx)
	defer c.Close()
	for _, q := range []string{
		"CREATE TEMP TABLE \"T\" AS SELECT 1 AS id, 0.0::DOUBLE AS b",
		"CREATE TABLE m AS SELECT 1 AS id, 0.0::DOUBLE AS b",
		"UPDATE m SET b = -b",
		"SELECT CAST(b AS VARCHAR) FROM m",
		"CREATE TEMP TABLE t3 (id INTEGER, b DOUBLE)",
		"INSERT INTO t3 VALUES (1, 0.0)",
		"UPDATE t3 SET b = -b",
		"SELECT CAST(b AS VARCHAR) FROM t3",
		"CREATE TEMP TABLE t4 (id INTEGER, b DOUBLE)",
		"INSERT INTO t4 VALUES (1, 0.0), (2, 1.5)",
		"UPDATE t4 SET b = -b",
		"SELECT CAST(b AS VARCHAR) FROM t4",
		"CREATE TEMP TABLE t5 (id INTEGER, p VARCHAR, b DOUBLE)",
		"INSERT INTO t5 VALUES (1, 'a', 0.0), (2, 'b', 1.5)",
		"UPDATE t5 SET p = upper(p), b = -b",
		"SELECT CAST(b AS VARCHAR) FROM t5",
		"SELECT CAST(-b AS VARCHAR) FROM (VALUES (0.0::DOUBLE)) v(b)",
		"SELECT CAST(-b AS VARCHAR) FROM (SELECT 0.0::DOUBLE AS b FROM range(3))",
		"CREATE TEMP TABLE t6 AS SELECT range::DOUBLE - 1 AS b FROM range(3)",
		"SELECT CAST(-b AS VARCHAR) FROM t6",
		"SELECT CAST(hash(\"T\", signbit(\"T\".\"b\")) AS VARCHAR), CAST(b AS VARCHAR), signbit(b) FROM \"T\"",
		"UPDATE \"T\" SET b = -b",
		"SELECT CAST(hash(\"T\", signbit(\"T\".\"b\")) AS VARCHAR), CAST(b AS VARCHAR), signbit(b) FROM \"T\"",
		"SELECT CAST(hash(\"T\", true) AS VARCHAR), CAST(hash(\"T\", false) AS VARCHAR) FROM \"T\"",
	} {
		if err := c.queryEach(env.ctx, q, func(v []driver.Value) error { fmt.Println(v); return nil }); err != nil {
			fmt.Println(err)
		}
	}
}
