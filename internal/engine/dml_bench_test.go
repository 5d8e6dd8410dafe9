package engine

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkDML times the copy-on-write statements on a 1M-row table of 10 files (100k rows each,
// ids in file order). Each iteration works on a fresh copy of the table (copied outside the
// timer). Run with: go test -tags duckdb_arrow -run '^$' -bench DML ./internal/engine/
//
//	delete-1pct-spread:    DELETE 1% of the rows, spread over every file (all 10 files rewritten)
//	delete-1pct-clustered: DELETE 1% of the rows, all in one file (data skipping loads 1 file)
//	update-1pct-spread:    UPDATE 1% of the rows, spread over every file
//	merge-1pct:            MERGE 10k source rows (1% of the keys, spread) updating matches
//	insert-100k:           INSERT 100k rows
func BenchmarkDML(b *testing.B) {
	env := newDMLEnv(b, Options{})
	base := filepath.Join(b.TempDir(), "base")
	run := func(sql string) {
		if _, err := env.try(sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	run(fmt.Sprintf("CREATE TABLE delta.`%s` (id BIGINT, country STRING, amount DOUBLE, note STRING)", base))
	for i := 0; i < 10; i++ {
		run(fmt.Sprintf("INSERT INTO delta.`%s` SELECT range + %d, ['ES','FR','DE'][range %% 3 + 1], range / 7, 'note ' || range FROM range(100000)", base, i*100000))
	}
	cases := []struct{ name, sql string }{
		{"delete-1pct-spread", "DELETE FROM delta.`%s` WHERE id %% 100 = 7"},
		{"delete-1pct-clustered", "DELETE FROM delta.`%s` WHERE id < 10000"},
		{"update-1pct-spread", "UPDATE delta.`%s` SET amount = -amount WHERE id %% 100 = 7"},
		{"merge-1pct", "MERGE INTO delta.`%s` t USING (SELECT range * 100 + 7 AS id, 1.0 AS amount FROM range(10000)) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET amount = s.amount"},
		{"insert-100k", "INSERT INTO delta.`%s` SELECT range, 'IT', 1.0, 'n' FROM range(100000)"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				loc := filepath.Join(b.TempDir(), fmt.Sprint(i))
				dmlCopyTree(b, base, loc)
				b.StartTimer()
				run(fmt.Sprintf(c.sql, loc))
			}
		})
	}
}
