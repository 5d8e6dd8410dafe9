package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/testutil"
)

// Atomicity: a write statement commits whole or leaves no trace. Faults are injected into the
// target's store (storage.Faulty through Options.WrapStore); a concurrent writer commits between a
// statement's planning and its commit through a store that runs a hook before the commit's
// put-if-absent.

// faultyEnv is a dmlEnv whose tables' stores are fault-injecting.
type faultyEnv struct {
	*dmlEnv
	mu     sync.Mutex
	faulty map[string]*storage.Faulty
}

func newFaultyEnv(t *testing.T) *faultyEnv {
	fe := &faultyEnv{faulty: map[string]*storage.Faulty{}}
	fe.dmlEnv = newDMLEnv(t, Options{WrapStore: func(location string, s storage.Store) storage.Store {
		f := storage.NewFaulty(s, 1)
		fe.mu.Lock()
		fe.faulty[location] = f
		fe.mu.Unlock()
		return f
	}})
	return fe
}

func (fe *faultyEnv) store(name string) *storage.Faulty {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	f := fe.faulty[fe.loc(name)]
	if f == nil {
		fe.t.Fatalf("no store for %s", name)
	}
	return f
}

// state is what a table looks like: version, live files, rows.
type tableState struct {
	version int64
	files   string
	rows    string
}

func (env *dmlEnv) state(name string) tableState {
	env.t.Helper()
	snap := env.snapshot(name)
	return tableState{snap.Version(), strings.Join(filePaths(snap), ","), strings.Join(env.rows("SELECT * FROM "+name), ";")}
}

func TestDMLAtomicity(t *testing.T) {
	statements := []struct {
		name, sql string
	}{
		{"insert", "INSERT INTO sales.t VALUES (100, 'ES', 1.0), (101, 'DE', 2.0)"},
		{"insert overwrite", "INSERT OVERWRITE sales.t SELECT id, country, amount + 1 FROM sales.t"},
		{"replace where", "INSERT INTO sales.t REPLACE WHERE country = 'FR' SELECT 7, 'FR', 7.0"},
		{"delete rows", "DELETE FROM sales.t WHERE id % 3 = 0"},
		{"delete partition", "DELETE FROM sales.t WHERE country = 'ES'"},
		{"update", "UPDATE sales.t SET amount = amount * 10 WHERE id > 4"},
		{"merge", "MERGE INTO sales.t t USING (SELECT range AS id, 'IT' AS country, 0.5 AS amount FROM range(5, 15)) s ON t.id = s.id " +
			"WHEN MATCHED THEN UPDATE SET amount = s.amount WHEN NOT MATCHED THEN INSERT *"},
		{"create or replace", "CREATE OR REPLACE TABLE sales.t AS SELECT 1 AS only"},
	}
	faults := []struct {
		name string
		rule storage.FaultRule
		// landed: the commit itself was written (an ambiguous write of the commit): the table is
		// then at the next version, whole.
		landed bool
	}{
		{"commit put fails", storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/", Kind: storage.FaultTransient}, false},
		{"data file put fails", storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Key: "part-", Kind: storage.FaultNoSpace}, false},
		{"data file ambiguous write", storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Key: "part-", Kind: storage.FaultAmbiguousWrite}, false},
		{"commit ambiguous write", storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/", Kind: storage.FaultAmbiguousWrite}, true},
	}
	fe := newFaultyEnv(t)
	for _, st := range statements {
		for _, fault := range faults {
			t.Run(st.name+"/"+fault.name, func(t *testing.T) {
				fe.t = t
				fe.run("CREATE OR REPLACE TABLE sales.t (id BIGINT, country STRING, amount DOUBLE) PARTITIONED BY (country)")
				fe.run("INSERT INTO sales.t SELECT range, CASE WHEN range % 2 = 0 THEN 'ES' ELSE 'FR' END, range * 1.0 FROM range(10)")
				fe.run("INSERT INTO sales.t VALUES (20, 'FR', 20.0)")
				before := fe.state("sales.t")
				f := fe.store("sales.t")
				f.Inject(fault.rule)
				_, err := fe.try(st.sql)
				fired := f.Stats()
				f.Clear()
				if err == nil {
					if st.name == "delete partition" && fault.rule.Ops[0] == storage.OpPut {
						return // removes whole files: writes no data file, so the fault never fires
					}
					t.Fatalf("the statement succeeded despite the fault (%+v)", fired)
				}
				if !errors.Is(err, storage.ErrInjected) {
					t.Fatalf("error does not come from the injected fault: %v", err)
				}
				after := fe.state("sales.t")
				if !fault.landed {
					if after != before {
						t.Fatalf("a failed statement changed the table:\nbefore %+v\nafter  %+v", before, after)
					}
					return
				}
				// The commit landed although the statement reported an error: the table is at the
				// next version and holds the statement's whole effect.
				if after.version != before.version+1 {
					t.Fatalf("ambiguous commit: version %d, want %d", after.version, before.version+1)
				}
				fe.run("CREATE OR REPLACE TABLE sales.ref (id BIGINT, country STRING, amount DOUBLE) PARTITIONED BY (country)")
				fe.run("INSERT INTO sales.ref SELECT range, CASE WHEN range % 2 = 0 THEN 'ES' ELSE 'FR' END, range * 1.0 FROM range(10)")
				fe.run("INSERT INTO sales.ref VALUES (20, 'FR', 20.0)")
				fe.run(strings.ReplaceAll(st.sql, "sales.t", "sales.ref"))
				if want := fe.state("sales.ref"); after.rows != want.rows {
					t.Fatalf("ambiguous commit: rows %s, want %s", after.rows, want.rows)
				}
			})
		}
	}
}

// TestMergeDuplicateLeavesNoTrace: the duplicate-match check fails before any data file is
// written.
func TestMergeDuplicateLeavesNoTrace(t *testing.T) {
	env := newDMLEnv(t, Options{})
	env.run("CREATE TABLE sales.t AS SELECT range AS id, 'v' || range AS v FROM range(10)")
	before := env.state("sales.t")
	_, err := env.try("MERGE INTO sales.t t USING (SELECT 3 AS id, 'x' AS v UNION ALL SELECT 3, 'y') s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT *")
	if !errors.Is(err, ErrMergeDuplicateMatch) {
		t.Fatalf("want ErrMergeDuplicateMatch, got %v", err)
	}
	if after := env.state("sales.t"); after != before {
		t.Fatalf("table changed: %+v -> %+v", before, after)
	}
	n := 0
	filepath.WalkDir(env.loc("sales.t"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") && !strings.Contains(p, "_delta_log") {
			n++
		}
		return nil
	})
	if n != len(env.snapshot("sales.t").Files()) {
		t.Fatalf("the failed MERGE wrote data files: %d on disk, %d referenced", n, len(env.snapshot("sales.t").Files()))
	}
}

// hookStore runs hook (once it is armed) just before the first commit put-if-absent.
type hookStore struct {
	storage.Store
	armed atomic.Pointer[func()]
}

func (h *hookStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, delta.LogDir) && strings.HasSuffix(key, ".json") {
		if hook := h.armed.Swap(nil); hook != nil {
			(*hook)()
		}
	}
	return h.Store.PutIfAbsent(ctx, key, data)
}

// TestDMLConcurrentCommit: a second engine commits to the table between a statement's planning
// and its commit. The statement fails with a *delta.ConflictError when that commit invalidates
// what it read, and retries (landing after it) when the rules allow.
func TestDMLConcurrentCommit(t *testing.T) {
	cases := []struct {
		name       string
		stmt       string // the statement under test
		concurrent string // what the other writer commits meanwhile
		conflict   string // the ConflictError kinds expected (|-separated); "" means both land
		// appendLast: the statement serializes before the concurrent blind append (which
		// WriteSerializable allows), so the expected table applies the append last.
		appendLast bool
	}{
		{"delete vs blind append", "DELETE FROM sales.t WHERE id = 3", "INSERT INTO sales.t VALUES (50, 'ES', 5.0)", "", false},
		{"update vs blind append", "UPDATE sales.t SET amount = 0 WHERE id < 4", "INSERT INTO sales.t VALUES (51, 'FR', 5.0)", "", false},
		{"merge vs blind append", "MERGE INTO sales.t t USING (SELECT 2 AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE", "INSERT INTO sales.t VALUES (52, 'ES', 5.0)", "", false},
		{"insert vs blind append", "INSERT INTO sales.t VALUES (60, 'ES', 1.0)", "INSERT INTO sales.t VALUES (61, 'FR', 1.0)", "", false},
		{"delete vs delete of the same file", "DELETE FROM sales.t WHERE id = 2", "DELETE FROM sales.t WHERE id = 4", "ConcurrentDeleteRead|ConcurrentDeleteDelete", false},
		{"update vs delete of the same file", "UPDATE sales.t SET amount = 1 WHERE id = 2", "DELETE FROM sales.t WHERE id = 0", "ConcurrentDeleteRead|ConcurrentDeleteDelete", false},
		{"delete vs non-blind append", "DELETE FROM sales.t WHERE id = 3", "INSERT INTO sales.t SELECT id + 100, country, amount FROM sales.t WHERE id = 1", "ConcurrentAppend", false},
		{"merge vs update", "MERGE INTO sales.t t USING (SELECT 2 AS id) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET amount = -1", "UPDATE sales.t SET amount = -2 WHERE id = 2", "ConcurrentDeleteRead|ConcurrentDeleteDelete", false},
		{"overwrite vs blind append", "INSERT OVERWRITE sales.t SELECT 1, 'ES', 1.0", "INSERT INTO sales.t VALUES (62, 'FR', 1.0)", "", true},
		{"replace partition vs append elsewhere", "INSERT INTO sales.t REPLACE WHERE country = 'ES' SELECT 1, 'ES', 1.0",
			"INSERT INTO sales.t SELECT 70, 'FR', amount FROM sales.t WHERE id = 1", "", false},
		{"replace partition vs append to it", "INSERT INTO sales.t REPLACE WHERE country = 'ES' SELECT 1, 'ES', 1.0",
			"INSERT INTO sales.t SELECT 70, 'ES', amount FROM sales.t WHERE id = 1", "ConcurrentAppend", false},
		{"delete vs metadata change", "DELETE FROM sales.t WHERE id = 3", "CREATE OR REPLACE TABLE sales.t AS SELECT 1 AS x", "MetadataChanged", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hs *hookStore
			env := newDMLEnv(t, Options{WrapStore: func(location string, s storage.Store) storage.Store {
				hs = &hookStore{Store: s}
				return hs
			}})
			other, err := Open(context.Background(), Options{Project: env.e.Project(), CacheDir: filepath.Join(env.dir, "cache2")})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			env.run("CREATE TABLE sales.t (id BIGINT, country STRING, amount DOUBLE) PARTITIONED BY (country)")
			env.run("INSERT INTO sales.t SELECT range, CASE WHEN range % 2 = 0 THEN 'ES' ELSE 'FR' END, range * 1.0 FROM range(10)")
			// The expected result of running both, the concurrent one first.
			env.run("CREATE TABLE mirror AS SELECT * FROM sales.t")
			v0 := env.snapshot("sales.t").Version()
			var hookErr error
			hook := func() {
				hookErr = other.Run(context.Background(), tc.concurrent, func(*Result) error { return nil })
			}
			hs.armed.Store(&hook)
			_, err = env.try(tc.stmt)
			if hookErr != nil {
				t.Fatalf("concurrent statement: %v", hookErr)
			}
			if tc.conflict != "" {
				var ce *delta.ConflictError
				if !errors.As(err, &ce) || !strings.Contains("|"+tc.conflict+"|", "|"+ce.Kind+"|") {
					t.Fatalf("want a %s conflict, got %v", tc.conflict, err)
				}
				if v := env.snapshot("sales.t").Version(); v != v0+1 {
					t.Fatalf("version %d after the conflict, want %d (the concurrent commit only)", v, v0+1)
				}
				return
			}
			if err != nil {
				t.Fatalf("the statement should have retried after the concurrent commit: %v", err)
			}
			if v := env.snapshot("sales.t").Version(); v != v0+2 {
				t.Fatalf("version %d, want %d", v, v0+2)
			}
			if !tc.appendLast {
				env.run(strings.ReplaceAll(tc.concurrent, "sales.t", "mirror"))
			}
			env.run(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(tc.stmt, "INSERT OVERWRITE sales.t", "DELETE FROM mirror; INSERT INTO mirror"),
				"REPLACE WHERE country = 'ES'", ""), "sales.t", "mirror"))
			if strings.Contains(tc.stmt, "REPLACE WHERE") {
				env.run("DELETE FROM mirror WHERE country = 'ES' AND id <> 1")
			}
			if tc.appendLast {
				env.run(strings.ReplaceAll(tc.concurrent, "sales.t", "mirror"))
			}
			env.check("sales.t", "mirror")
		})
	}
}

// TestDMLDeletionVectors runs DML over tables whose files carry deletion vectors (written by
// Databricks): the rewritten files drop the deleted rows, untouched files keep their vectors.
func TestDMLDeletionVectors(t *testing.T) {
	for _, src := range []string{"kernel-data/table-with-dv-small", "delta-rs/table_with_deletion_logs"} {
		t.Run(src, func(t *testing.T) {
			env := newDMLEnv(t, Options{})
			loc := filepath.Join(env.dir, "dv")
			dmlCopyTree(t, filepath.Join(testutil.ConformanceDir(t), filepath.FromSlash(src)), loc)
			tbl := "delta_scan('" + loc + "')"
			env.run("CREATE TABLE mirror AS SELECT * FROM " + tbl)
			first := env.snapshot2(loc).Schema().Fields[0].Name
			for _, stmt := range []string{
				fmt.Sprintf("DELETE FROM %s WHERE %s IN (SELECT %s FROM %s ORDER BY 1 LIMIT 2)", tbl, first, first, "mirror"),
				fmt.Sprintf("UPDATE %s SET %s = NULL WHERE %s IN (SELECT max(%s) FROM %s)", tbl, first, first, first, "mirror"),
			} {
				env.run(stmt)
				env.run(strings.ReplaceAll(stmt, tbl, "mirror"))
				env.check(tbl, "mirror")
			}
			if src == "kernel-data/table-with-dv-small" {
				env.checkDeltaRS(loc)
			}
		})
	}
}

func (env *dmlEnv) snapshot2(loc string) *delta.Snapshot {
	env.t.Helper()
	tb, err := env.e.openTable(env.ctx, loc)
	if err != nil {
		env.t.Fatal(err)
	}
	snap, err := tb.Snapshot(env.ctx, -1)
	if err != nil {
		env.t.Fatal(err)
	}
	return snap
}

func dmlCopyTree(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
