package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/table"
)

// The intake tests run the real engine (DuckDB) over files in temporary landing folders; the
// fixtures are in testdata/intake (Parquet files are made from the CSV fixtures by DuckDB).

func intakeTestEngine(t *testing.T) *engine.Engine {
	t.Helper()
	eng, err := engine.Open(context.Background(), engine.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// intakeRows runs a query and returns its rows as "v1|v2|..." strings.
func intakeRows(t *testing.T, eng *engine.Engine, q string) []string {
	t.Helper()
	r, err := eng.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer r.Records.Release()
	var out []string
	for r.Records.Next() {
		b := r.Records.RecordBatch()
		for i := 0; i < int(b.NumRows()); i++ {
			vals := make([]string, b.NumCols())
			for j := range vals {
				vals[j] = strings.Clone(b.Column(j).ValueStr(i)) // ValueStr can alias DuckDB's memory
			}
			out = append(out, strings.Join(vals, "|"))
		}
	}
	if err := r.Records.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// intakeFixture puts fixture name into dir as file as (folders created): a copy for CSV and
// JSON, a Parquet file written by DuckDB from the CSV fixture of the same stem when as ends in
// .parquet.
func intakeFixture(t *testing.T, eng *engine.Engine, dir, name, as string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.FromSlash(as))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Abs(filepath.Join("testdata", "intake", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(as, ".parquet") {
		intakeRows(t, eng, fmt.Sprintf("COPY (SELECT * FROM read_csv(%s)) TO %s (FORMAT parquet)", quoteString(src), quoteString(dst)))
		return dst
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// intakeNew returns an intake over dir/landing with its tables in dir.
func intakeNew(eng *engine.Engine, dir, pattern, format string) *FileIntake {
	return &FileIntake{
		Name:       "orders",
		Pattern:    filepath.Join(dir, "landing", pattern),
		Format:     format,
		Table:      filepath.Join(dir, "intake"),
		Quarantine: filepath.Join(dir, "quarantine"),
		Engine:     eng,
	}
}

func intakePoll(t *testing.T, fi *FileIntake) IntakeResult {
	t.Helper()
	res, err := fi.Poll(context.Background())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return res
}

func intakeSnap(t *testing.T, location string) *delta.Snapshot {
	t.Helper()
	tb, err := table.Open(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestIntakeTakesEachFileOnce(t *testing.T) {
	type round struct {
		add  [][2]string // fixture, landing name
		want []string    // Taken
	}
	cases := []struct {
		name, pattern, format, read string
		rounds                      []round
	}{
		{
			name: "csv", pattern: "*.csv", format: "csv", read: "read_csv",
			rounds: []round{
				{add: [][2]string{{"orders-1.csv", "orders-1.csv"}, {"orders-2.csv", "orders-2.csv"}}, want: []string{"orders-1.csv", "orders-2.csv"}},
				{},
				// orders-0.csv sorts before the files taken already: it is still taken.
				{add: [][2]string{{"orders-3.csv", "orders-3.csv"}, {"orders-0.csv", "orders-0.csv"}}, want: []string{"orders-0.csv", "orders-3.csv"}},
				{},
			},
		},
		{
			name: "json", pattern: "events-*", format: "json", read: "read_json",
			rounds: []round{
				{add: [][2]string{{"events-1.ndjson", "events-1.ndjson"}}, want: []string{"events-1.ndjson"}},
				// A JSON array file next to newline-delimited ones.
				{add: [][2]string{{"events-2.ndjson", "events-2.ndjson"}, {"events-3.json", "events-3.json"}}, want: []string{"events-2.ndjson", "events-3.json"}},
				{add: [][2]string{{"events-0.ndjson", "events-0.ndjson"}}, want: []string{"events-0.ndjson"}},
			},
		},
		{
			name: "parquet in folders", pattern: "**/*.parquet", format: "", read: "read_parquet",
			rounds: []round{
				{add: [][2]string{{"orders-1.csv", "2024/05/01/orders.parquet"}}, want: []string{"2024/05/01/orders.parquet"}},
				{add: [][2]string{{"orders-2.csv", "2024/05/02/orders.parquet"}, {"orders-3.csv", "2024/05/03/orders.parquet"}},
					want: []string{"2024/05/02/orders.parquet", "2024/05/03/orders.parquet"}},
				{add: [][2]string{{"orders-0.csv", "2024/04/30/orders.parquet"}}, want: []string{"2024/04/30/orders.parquet"}},
				{},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := intakeTestEngine(t)
			dir := t.TempDir()
			fi := intakeNew(eng, dir, tc.pattern, tc.format)
			if res := intakePoll(t, fi); res.Files != 0 {
				t.Fatalf("Poll over a missing landing folder took %v", res.Taken)
			}
			var all []string
			var rows int64
			for i, r := range tc.rounds {
				for _, a := range r.add {
					intakeFixture(t, eng, filepath.Join(dir, "landing"), a[0], a[1])
				}
				var seen []string
				fi.OnFile = func(path string, n int64) { seen = append(seen, path) }
				res := intakePoll(t, fi)
				if !slices.Equal(res.Taken, r.want) || !slices.Equal(seen, r.want) || res.Files != int64(len(r.want)) || res.QuarantinedFiles != 0 {
					t.Fatalf("round %d: took %v (OnFile %v, %d files, %d quarantined), want %v", i, res.Taken, seen, res.Files, res.QuarantinedFiles, r.want)
				}
				all = append(all, r.want...)
				rows += res.Rows
			}
			// A restart (a new FileIntake value over the same tables) takes nothing twice.
			fresh := intakeNew(eng, dir, tc.pattern, tc.format)
			if res := intakePoll(t, fresh); res.Files != 0 || res.QuarantinedFiles != 0 {
				t.Fatalf("a new intake value took %v again", res.Taken)
			}

			// One commit per file, each carrying its file's txn.
			snap := intakeSnap(t, fi.Table)
			if snap.Version() != int64(len(all)) {
				t.Errorf("table version %d, want %d (creation plus one commit per file)", snap.Version(), len(all))
			}
			for _, rel := range all {
				if v, ok := snap.TxnVersion(fi.intakeAppID(rel)); !ok || v != 0 {
					t.Errorf("no txn for %s", rel)
				}
			}
			if snap.Metadata().Configuration["delta.appendOnly"] != "true" {
				t.Errorf("the intake table is not append-only: %v", snap.Metadata().Configuration)
			}
			if len(snap.Txns()) != len(all) {
				t.Errorf("%d txns, want %d", len(snap.Txns()), len(all))
			}

			// The rows equal DuckDB reading the files directly, in path order.
			slices.Sort(all)
			var want []string
			for _, rel := range all {
				want = append(want, intakeRows(t, eng, fmt.Sprintf("SELECT * FROM %s(%s)", tc.read, quoteString(filepath.Join(dir, "landing", rel))))...)
			}
			loc := quoteString(fi.Table)
			got := intakeRows(t, eng, "SELECT * EXCLUDE (_file, _file_row, _file_modified) FROM delta_scan("+loc+") ORDER BY _file, _file_row")
			if !slices.Equal(got, want) || int64(len(got)) != rows {
				t.Fatalf("intake rows (%d reported):\n%s\nDuckDB reading the files:\n%s", rows, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}

			// _file, _file_row and _file_modified.
			for _, rel := range all {
				info, err := os.Stat(filepath.Join(dir, "landing", rel))
				if err != nil {
					t.Fatal(err)
				}
				got := intakeRows(t, eng, fmt.Sprintf("SELECT list(_file_row ORDER BY _file_row)::VARCHAR, count(DISTINCT _file_modified), epoch_us(max(_file_modified)) FROM delta_scan(%s) WHERE _file = %s", loc, quoteString(rel)))
				n := len(intakeRows(t, eng, fmt.Sprintf("SELECT 1 FROM %s(%s)", tc.read, quoteString(filepath.Join(dir, "landing", rel)))))
				var seq []string
				for i := range n {
					seq = append(seq, fmt.Sprint(i))
				}
				wantMeta := fmt.Sprintf("[%s]|1|%d", strings.Join(seq, ", "), info.ModTime().UnixMicro())
				if got[0] != wantMeta {
					t.Errorf("%s: _file_row list, distinct _file_modified, _file_modified = %s, want %s", rel, got[0], wantMeta)
				}
			}
		})
	}
}

func TestIntakeQuarantine(t *testing.T) {
	cases := []struct {
		name, pattern string
		files         [][2]string // fixture, landing name
		bad           string      // the landing name that goes to quarantine
		reason        []string    // the reason holds these
		fixed         string      // a fixture that replaces the bad file
	}{
		{
			name: "csv bad value", pattern: "*.csv",
			files:  [][2]string{{"orders-1.csv", "a.csv"}, {"orders-bad.csv", "b.csv"}, {"orders-2.csv", "c.csv"}},
			bad:    "b.csv",
			reason: []string{"b.csv: ", "Line: 4", `column "amount"`, `"lots"`},
			fixed:  "orders-3.csv",
		},
		{
			name: "json bad value", pattern: "*.ndjson",
			files:  [][2]string{{"events-1.ndjson", "a.ndjson"}, {"events-bad.ndjson", "b.ndjson"}, {"events-2.ndjson", "c.ndjson"}},
			bad:    "b.ndjson",
			reason: []string{"b.ndjson: ", "line 2", `"seven"`},
			fixed:  "events-0.ndjson",
		},
		{
			name: "truncated parquet", pattern: "*.parquet",
			files:  [][2]string{{"orders-1.csv", "a.parquet"}, {"orders-2.csv", "b.parquet"}, {"orders-3.csv", "c.parquet"}},
			bad:    "b.parquet",
			reason: []string{"b.parquet: ", "b.parquet'"}, // ours, then DuckDB's
			fixed:  "orders-0.csv",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := intakeTestEngine(t)
			dir := t.TempDir()
			landing := filepath.Join(dir, "landing")
			for _, f := range tc.files {
				intakeFixture(t, eng, landing, f[0], f[1])
			}
			badPath := filepath.Join(landing, tc.bad)
			if strings.HasSuffix(tc.bad, ".parquet") {
				data, err := os.ReadFile(badPath)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(badPath, data[:len(data)/2], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fi := intakeNew(eng, dir, tc.pattern, "")
			var calls []string
			fi.OnFile = func(path string, rows int64) { calls = append(calls, fmt.Sprintf("%s:%d", path, rows)) }
			res := intakePoll(t, fi)
			var good []string
			for _, f := range tc.files {
				if f[1] != tc.bad {
					good = append(good, f[1])
				}
			}
			if !slices.Equal(res.Taken, good) || res.QuarantinedFiles != 1 {
				t.Fatalf("took %v, quarantined %d; want %v and 1", res.Taken, res.QuarantinedFiles, good)
			}
			if !slices.Contains(calls, tc.bad+":-1") {
				t.Errorf("OnFile calls %v lack %s:-1", calls, tc.bad)
			}
			info, err := os.Stat(badPath)
			if err != nil {
				t.Fatal(err)
			}
			q := quoteString(fi.Quarantine)
			check := func() {
				t.Helper()
				rows := intakeRows(t, eng, "SELECT file, reason, size, epoch_us(modified), quarantined_at IS NOT NULL FROM delta_scan("+q+")")
				if len(rows) != 1 {
					t.Fatalf("quarantine rows %v, want one", rows)
				}
				f := strings.Split(rows[0], "|")
				t.Logf("quarantined: %s", rows[0])
				if f[0] != tc.bad || f[2] != fmt.Sprint(info.Size()) || f[3] != fmt.Sprint(info.ModTime().UnixMicro()) || f[4] != "true" {
					t.Errorf("quarantine row %q: want file %s, size %d, modified %d", rows[0], tc.bad, info.Size(), info.ModTime().UnixMicro())
				}
				for _, s := range tc.reason {
					if !strings.Contains(f[1], s) {
						t.Errorf("reason %q lacks %q", f[1], s)
					}
				}
			}
			check()
			if got := intakeRows(t, eng, "SELECT DISTINCT _file FROM delta_scan("+quoteString(fi.Table)+") ORDER BY 1"); !slices.Equal(got, good) {
				t.Errorf("intake table files %v, want %v", got, good)
			}

			// A quarantined file is not read again while it is unchanged.
			if res := intakePoll(t, intakeNew(eng, dir, tc.pattern, "")); res.Files != 0 || res.QuarantinedFiles != 0 {
				t.Fatalf("second Poll: took %v, quarantined %d", res.Taken, res.QuarantinedFiles)
			}
			check()

			// Once replaced by a good file (a later modification time), it is taken.
			intakeFixture(t, eng, landing, tc.fixed, tc.bad)
			later := info.ModTime().Add(time.Hour)
			if err := os.Chtimes(badPath, later, later); err != nil {
				t.Fatal(err)
			}
			if res := intakePoll(t, intakeNew(eng, dir, tc.pattern, "")); !slices.Equal(res.Taken, []string{tc.bad}) || res.QuarantinedFiles != 0 {
				t.Fatalf("after the fix: took %v, quarantined %d", res.Taken, res.QuarantinedFiles)
			}
			check()
		})
	}
}

func TestIntakeSchema(t *testing.T) {
	type file struct{ name, content string }
	cases := []struct {
		name    string
		schema  string
		options map[string]string
		files   []file
		// want are the intake table's columns with their Delta types, then its rows (data
		// columns only) in path order.
		wantSchema string
		want       []string
	}{
		{
			name: "inferred from the first file, later files by name",
			files: []file{
				{"a.csv", "id,customer,amount\n1,alice,10.5\n2,bob,3\n"},
				// Columns reordered and in another case, one missing, one extra.
				{"b.csv", "customer,coupon,ID\nkim,SPRING,11\nlee,,12\n"},
				// A value of a wider type than inferred is cast (7 for a DOUBLE column).
				{"c.csv", "amount,id\n7,13\n"},
			},
			wantSchema: "id:long customer:string amount:double _file:string _file_row:long _file_modified:timestamp",
			want:       []string{"1|alice|10.5", "2|bob|3", "11|kim|(null)", "12|lee|(null)", "13|(null)|7"},
		},
		{
			name:   "declared schema",
			schema: `id INTEGER, amount DECIMAL(10, 2), "Note" VARCHAR`,
			files: []file{
				{"a.csv", "id,customer,amount\n1,alice,10.5\n2,bob,3\n"},
				{"b.csv", "note,id\nhello,3\n"},
			},
			wantSchema: "id:integer amount:decimal(10,2) Note:string _file:string _file_row:long _file_modified:timestamp",
			want:       []string{"1|10.5|(null)", "2|3|(null)", "3|(null)|hello"},
		},
		{
			name:       "no header: by position",
			schema:     "id BIGINT, who VARCHAR, amount DOUBLE",
			options:    map[string]string{"header": "false", "delim": ";"},
			files:      []file{{"a.csv", "1;alice;10.5\n2;bob;3\n"}, {"b.csv", "3;carol\n"}},
			wantSchema: "id:long who:string amount:double _file:string _file_row:long _file_modified:timestamp",
			want:       []string{"1|alice|10.5", "2|bob|3", "3|carol|(null)"},
		},
		{
			name: "types without a Delta type are kept as strings",
			files: []file{
				{"a.csv", "id,at,took\n1,10:00:00,2024-01-01\n"},
			},
			wantSchema: "id:long at:string took:date _file:string _file_row:long _file_modified:timestamp",
			want:       []string{"1|10:00:00|2024-01-01"},
		},
		{
			name: "json by key",
			files: []file{
				{"a.json", `{"id":1,"tags":["x","y"],"user":{"name":"ann"}}` + "\n"},
				{"b.json", `{"user":{"name":"bo","age":3},"id":"2","more":true}` + "\n"},
			},
			wantSchema: "id:long tags:array<string> user:struct<name:string> _file:string _file_row:long _file_modified:timestamp",
			want:       []string{`1|["x","y"]|{"name":"ann"}`, `2|(null)|{"name":"bo"}`},
		},
		{
			name:       "tsv by extension",
			files:      []file{{"a.tsv", "id\tname\n1\tann, jr\n"}},
			wantSchema: "id:long name:string _file:string _file_row:long _file_modified:timestamp",
			want:       []string{"1|ann, jr"},
		},
		{
			name: "a file's own _file column is ignored",
			files: []file{
				{"a.csv", "id,_file\n1,elsewhere\n"},
			},
			wantSchema: "id:long _file:string _file_row:long _file_modified:timestamp",
			want:       []string{"1|a.csv"},
		},
	}
	eng := intakeTestEngine(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			landing := filepath.Join(dir, "landing")
			if err := os.MkdirAll(landing, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(landing, f.name), []byte(f.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fi := intakeNew(eng, dir, "*", "")
			fi.Schema, fi.Options = tc.schema, tc.options
			res := intakePoll(t, fi)
			if res.Files != int64(len(tc.files)) {
				t.Fatalf("took %v, quarantined %d; want all %d files", res.Taken, res.QuarantinedFiles, len(tc.files))
			}
			var cols []string
			for _, f := range intakeSnap(t, fi.Table).Schema().Fields {
				cols = append(cols, f.Name+":"+f.Type.String())
			}
			if got := strings.Join(cols, " "); got != tc.wantSchema {
				t.Errorf("schema %s, want %s", got, tc.wantSchema)
			}
			excl := "_file_row, _file_modified"
			if !strings.Contains(tc.name, "_file") {
				excl = "_file, " + excl
			}
			got := intakeRows(t, eng, "SELECT * EXCLUDE ("+excl+") FROM delta_scan("+quoteString(fi.Table)+") ORDER BY _file, _file_row")
			if !slices.Equal(got, tc.want) {
				t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// A file that changes between the listing and the end of its read is left for a later Poll.
func TestIntakeFileChangedWhileReading(t *testing.T) {
	eng := intakeTestEngine(t)
	dir := t.TempDir()
	landing := filepath.Join(dir, "landing")
	intakeFixture(t, eng, landing, "orders-1.csv", "a.csv")
	b := intakeFixture(t, eng, landing, "orders-2.csv", "b.csv")
	fi := intakeNew(eng, dir, "*.csv", "")
	// Once a.csv is taken (b.csv was listed but not read yet), a writer appends to b.csv.
	fi.OnFile = func(path string, rows int64) {
		if path != "a.csv" {
			return
		}
		f, err := os.OpenFile(b, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := f.WriteString("99,late,1.25,2024-05-02 10:00:00\n"); err != nil {
			t.Error(err)
		}
		f.Close()
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(b, later, later); err != nil {
			t.Error(err)
		}
	}
	res := intakePoll(t, fi)
	if !slices.Equal(res.Taken, []string{"a.csv"}) || res.QuarantinedFiles != 0 {
		t.Fatalf("took %v, quarantined %d; want a.csv only", res.Taken, res.QuarantinedFiles)
	}
	fi.OnFile = nil
	res = intakePoll(t, fi)
	if !slices.Equal(res.Taken, []string{"b.csv"}) || res.Rows != 3 {
		t.Fatalf("next Poll took %v (%d rows), want b.csv with its 3 rows", res.Taken, res.Rows)
	}
}

// The txn makes taking a file idempotent even when the snapshot a Poll started from predates the
// commit (a crash after committing, a concurrent intake): the write is skipped.
func TestIntakeTxnSkipsFileTakenMeanwhile(t *testing.T) {
	eng := intakeTestEngine(t)
	dir := t.TempDir()
	intakeFixture(t, eng, filepath.Join(dir, "landing"), "orders-1.csv", "a.csv")
	fi := intakeNew(eng, dir, "*.csv", "")
	intakePoll(t, fi)
	files, err := intakeList(fi.Pattern)
	if err != nil || len(files) != 1 {
		t.Fatalf("list: %v %v", files, err)
	}
	tb, err := table.Open(context.Background(), fi.Table)
	if err != nil {
		t.Fatal(err)
	}
	before := intakeSnap(t, fi.Table).Version()
	var schema *delta.StructType
	rows, taken, err := fi.intakeTake(context.Background(), tb, files[0], fi.intakeAppID("a.csv"), &schema)
	if err != nil || taken || rows != 0 {
		t.Fatalf("taking a.csv again: rows %d, taken %v, err %v", rows, taken, err)
	}
	if v := intakeSnap(t, fi.Table).Version(); v != before {
		t.Fatalf("table went from version %d to %d", before, v)
	}
}

func TestIntakeList(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{
		"a.csv", "b.json", "_SUCCESS", ".a.csv.tmp", "_tmp/x.csv",
		"2024/01/x.csv", "2024/01/y.csv", "2024/02/z.csv", "2024/.hidden/h.csv", "2025/w.csv", "deep/er/still/v.csv",
	} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		pattern string
		want    []string
	}{
		{"*.csv", []string{"a.csv"}},
		{"*", []string{"a.csv", "b.json"}},
		{"_*", []string{"_SUCCESS"}},
		{"2024/*/*.csv", []string{"01/x.csv", "01/y.csv", "02/z.csv"}},
		{"*/*/*.csv", []string{"2024/01/x.csv", "2024/01/y.csv", "2024/02/z.csv"}},
		{"**/*.csv", []string{"2024/01/x.csv", "2024/01/y.csv", "2024/02/z.csv", "2025/w.csv", "a.csv", "deep/er/still/v.csv"}},
		{"2024/**", []string{"01/x.csv", "01/y.csv", "02/z.csv"}},
		{"2024/0[2-9]/*", []string{"02/z.csv"}},
		{"a.csv", []string{"a.csv"}},
		{"missing/*.csv", nil},
	}
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			files, err := intakeList(filepath.Join(dir, filepath.FromSlash(tc.pattern)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				got = append(got, f.rel)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIntakeInvalid(t *testing.T) {
	eng := intakeTestEngine(t)
	cases := []struct {
		name string
		edit func(fi *FileIntake)
	}{
		{"relative pattern", func(fi *FileIntake) { fi.Pattern = "landing/*.csv" }},
		{"unknown format", func(fi *FileIntake) { fi.Format = "xml" }},
		{"option not allowed", func(fi *FileIntake) { fi.Options = map[string]string{"ignore_errors": "true"} }},
		{"option of another format", func(fi *FileIntake) { fi.Format = "parquet"; fi.Options = map[string]string{"header": "true"} }},
		{"option value of the wrong kind", func(fi *FileIntake) { fi.Options = map[string]string{"header": "sometimes"} }},
		{"bad type in schema", func(fi *FileIntake) { fi.Schema = "id NOSUCHTYPE" }},
		{"type without a Delta type", func(fi *FileIntake) { fi.Schema = "id BIGINT, at TIME" }},
		{"reserved column", func(fi *FileIntake) { fi.Schema = "id BIGINT, _file VARCHAR" }},
		{"column without a type", func(fi *FileIntake) { fi.Schema = "id" }},
		{"bad glob", func(fi *FileIntake) { fi.Pattern = filepath.Join(filepath.Dir(fi.Pattern), "[a.csv") }},
		{"no name", func(fi *FileIntake) { fi.Name = "" }},
		{"no engine", func(fi *FileIntake) { fi.Engine = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "landing"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "landing", "a.csv"), []byte("id\n1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			fi := intakeNew(eng, dir, "*.csv", "")
			tc.edit(fi)
			_, err := fi.Poll(context.Background())
			if !errors.Is(err, delta.ErrInvalidArgument) {
				t.Fatalf("Poll: %v, want an error wrapping delta.ErrInvalidArgument", err)
			}
			if _, err := os.Stat(fi.Table); err == nil {
				t.Errorf("an invalid intake created its table")
			}
		})
	}
}

func TestIntakeCancelled(t *testing.T) {
	eng := intakeTestEngine(t)
	dir := t.TempDir()
	intakeFixture(t, eng, filepath.Join(dir, "landing"), "orders-1.csv", "a.csv")
	fi := intakeNew(eng, dir, "*.csv", "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fi.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll: %v, want context.Canceled", err)
	}
	if res := intakePoll(t, fi); !slices.Equal(res.Taken, []string{"a.csv"}) {
		t.Fatalf("took %v after a cancelled Poll, want a.csv", res.Taken)
	}
}

// Files larger than the prefetch bound stream into their commit and are taken whole; one whose
// value fails to cast late in the file is quarantined and leaves the table as it was.
func TestIntakeStreamsLargeFiles(t *testing.T) {
	defer func(n int64) { intakePrefetchBytes = n }(intakePrefetchBytes)
	intakePrefetchBytes = 1 // prefetch one batch, stream the rest
	eng := intakeTestEngine(t)
	dir := t.TempDir()
	landing := filepath.Join(dir, "landing")
	if err := os.MkdirAll(landing, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 30_000
	for _, f := range []struct{ name, last string }{{"a.parquet", fmt.Sprintf("'%d'", n-1)}, {"b.parquet", "'not a number'"}, {"c.parquet", "'7'"}} {
		intakeRows(t, eng, fmt.Sprintf(`COPY (SELECT CASE WHEN range = %d THEN %s ELSE range::VARCHAR END AS id, 'name ' || range AS name FROM range(%d))
			TO %s (FORMAT parquet, ROW_GROUP_SIZE 3000)`, n-1, f.last, n, quoteString(filepath.Join(landing, f.name))))
	}
	fi := intakeNew(eng, dir, "*.parquet", "")
	fi.Schema = "id BIGINT, name VARCHAR"
	res := intakePoll(t, fi)
	if !slices.Equal(res.Taken, []string{"a.parquet", "c.parquet"}) || res.Rows != 2*n || res.QuarantinedFiles != 1 {
		t.Fatalf("took %v (%d rows), quarantined %d; want a and c (%d rows), b quarantined", res.Taken, res.Rows, res.QuarantinedFiles, 2*n)
	}
	// In a.parquet every id is its row number: _file_row follows the file's order across row groups.
	got := intakeRows(t, eng, "SELECT _file, count(*), count(DISTINCT _file_row), sum(id), max(_file_row), count(*) FILTER (WHERE id = _file_row) FROM delta_scan("+quoteString(fi.Table)+") GROUP BY _file ORDER BY 1")
	want := []string{fmt.Sprintf("a.parquet|%d|%d|%d|%d|%d", n, n, n*(n-1)/2, n-1, n), fmt.Sprintf("c.parquet|%d|%d|%d|%d|%d", n, n, (n-1)*(n-2)/2+7, n-1, n-1)}
	if !slices.Equal(got, want) {
		t.Fatalf("intake table per file %v, want %v", got, want)
	}
	reason := intakeRows(t, eng, "SELECT reason FROM delta_scan("+quoteString(fi.Quarantine)+")")
	if len(reason) != 1 || !strings.Contains(reason[0], "b.parquet: ") || !strings.Contains(reason[0], "not a number") {
		t.Fatalf("quarantine reasons %v", reason)
	}
}

// With Format "", a file whose extension names no format is quarantined, not guessed.
func TestIntakeUnknownExtension(t *testing.T) {
	eng := intakeTestEngine(t)
	dir := t.TempDir()
	landing := filepath.Join(dir, "landing")
	intakeFixture(t, eng, landing, "orders-1.csv", "a.csv")
	intakeFixture(t, eng, landing, "orders-2.csv", "notes.md")
	fi := intakeNew(eng, dir, "*", "")
	res := intakePoll(t, fi)
	if !slices.Equal(res.Taken, []string{"a.csv"}) || res.QuarantinedFiles != 1 {
		t.Fatalf("took %v, quarantined %d", res.Taken, res.QuarantinedFiles)
	}
	got := intakeRows(t, eng, "SELECT file, reason FROM delta_scan("+quoteString(fi.Quarantine)+")")
	if len(got) != 1 || !strings.HasPrefix(got[0], "notes.md|notes.md: ") || !strings.Contains(got[0], `".md"`) {
		t.Fatalf("quarantine %v", got)
	}
}
