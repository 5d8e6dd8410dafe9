package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseFile checks that ParseFile never panics on any input, that every error is a
// *SyntaxError (or an errors.Join of them) with a valid position, and that the statements it
// returns satisfy synCheckInvariants. Seeds: the corpus under testdata/fuzz/FuzzParseFile, the
// scenario files of testdata/syntax and the examples below.
func FuzzParseFile(f *testing.F) {
	f.Add(synExamples)
	for _, s := range []string{
		"",
		";;",
		"CREATE STREAMING TABLE t",
		"CREATE FLOW f AS APPLY CHANGES INTO t FROM STREAM(s) KEYS (a, b) IGNORE NULL UPDATES SEQUENCE BY struct(a, b) TRACK HISTORY ON * EXCEPT (c) STORED AS SCD TYPE 2",
		"CREATE TEMP VIEW v AS SELECT * FROM STREAM(s) x WATERMARK x.ts DELAY OF INTERVAL '1 hour 30 minutes' JOIN STREAM(t) WATERMARK \"ts\" DELAY OF INTERVAL 5 SECONDS USING (k)",
		"CREATE MATERIALIZED VIEW v (a DECIMAL(18,2) NOT NULL COMMENT 'x', b STRUCT<c ARRAY<INT>>, CONSTRAINT e EXPECT ((a > 0) AND b IS NOT NULL) ON VIOLATION FAIL UPDATE) AS SELECT 1",
		"CREATE MATERIALIZED VIEW v AS SELECT 'abc",
		"CREATE MATERIALIZED VIEW v AS SELECT (1;",
		"SELECT $tag$ ; $tag$; /* /* */ */ INSERT",
		"\uFEFFCREATE LIVE TABLE \"é\".x AS SELECT E'\\'';",
	} {
		f.Add(s)
	}
	scenarios, _ := filepath.Glob(filepath.Join("testdata", "syntax", "*.sql"))
	for _, path := range scenarios {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		stmts, err := ParseFile("fuzz.sql", []byte(src))
		synCheckInvariants(t, src, stmts, err)
	})
}
