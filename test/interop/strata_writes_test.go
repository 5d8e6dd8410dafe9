package interop

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// scenarioBuilder builds one Strata table with the CLI and remembers what made each version.
// A failing step is reported (t.Errorf) and the scenario goes on, so that one broken operation
// does not hide what the others do.
type scenarioBuilder struct {
	t      *testing.T
	inputs string // directory of input files
	table  string
	notes  map[int64]string // version -> the step that made it
}

// file writes an input file and returns its path.
func (b *scenarioBuilder) file(name, content string) string {
	b.t.Helper()
	p := filepath.Join(b.inputs, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// parquet writes a Parquet input file and returns its path.
func (b *scenarioBuilder) parquet(name string, cols ...parquetColumn) string {
	b.t.Helper()
	p := filepath.Join(b.inputs, name)
	writeParquet(b.t, p, cols...)
	return p
}

// strata runs `strata --json -q args...` (the table's path stands for "{T}") and records the
// version it reports under note.
func (b *scenarioBuilder) strata(note string, args ...string) map[string]any {
	b.t.Helper()
	full := []string{"--json", "-q"}
	for _, a := range args {
		full = append(full, strings.ReplaceAll(a, "{T}", b.table))
	}
	res := runStrata(b.t, full...)
	if err := res.err(); err != nil {
		b.t.Errorf("step %q failed: %v", note, err)
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		b.t.Errorf("step %q: output is not JSON: %v: %s", note, err, res.stdout)
		return nil
	}
	if v, ok := out["version"].(float64); ok && !strings.HasPrefix(note, "checkpoint") {
		if out["created"] == true && v > 0 && b.notes[int64(v)-1] == "" {
			b.notes[int64(v)-1] = note + " (its table creation)"
		}
		b.notes[int64(v)] = note
	}
	return out
}

// strataScenario is one table built by Strata and checked version by version.
type strataScenario struct {
	name  string
	build func(b *scenarioBuilder)
	// checkpoints, if set, are the versions that must have a classic checkpoint in the log.
	checkpoints []int64
}

func col(name string, dt arrow.DataType, nullable bool, values ...any) parquetColumn {
	return parquetColumn{field: arrow.Field{Name: name, Type: dt, Nullable: nullable}, values: values}
}

var (
	tsUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	dec10 = &arrow.Decimal128Type{Precision: 10, Scale: 2}
)

var strataScenarios = []strataScenario{
	{name: "unpartitioned", build: buildUnpartitioned},
	{name: "partitioned", build: buildPartitioned},
	{name: "implicit_create_auto_checkpoint", build: buildAutoCheckpointed, checkpoints: []int64{3, 6, 9}},
}

// buildUnpartitioned: an explicitly created table with every primitive type the brief lists,
// written from CSV, NDJSON and Parquet, overwritten, evolved, restored, checkpointed.
func buildUnpartitioned(b *scenarioBuilder) {
	b.strata("create", "table", "create", "{T}", "--schema",
		"id BIGINT NOT NULL, i INT, d DOUBLE, amt DECIMAL(10,2), s STRING, b BOOLEAN, dt DATE, ts TIMESTAMP",
		"--property", "interop.owner=test", "--comment", "interop: unpartitioned")
	b.strata("append CSV", "table", "append", "{T}", b.file("u1.csv",
		"id,d,s,b,dt,ts\n"+
			"1,1.5,héllo wörld 世界 🚀,true,2024-02-29,2024-01-02 03:04:05.123456\n"+
			"2,-2.25e10,\"comma, \"\"quoted\"\"\",false,1900-01-01,1969-12-31T23:59:59.999999Z\n"+
			"3,,,,,\n"+
			"4,inf,NULL,TRUE,1970-01-01,2024-06-01T12:00:00+02:00\n"+
			"5,nan,\"multi\nline\",false,9999-12-31,2000-01-01 00:00:00\n"+
			"6,-0.0,  padded  ,true,2024-01-01,2024-01-01T00:00:00.000001Z\n"))
	b.strata("append NDJSON", "table", "append", "{T}", b.file("u2.ndjson",
		`{"id": 9007199254740993, "d": 0.1, "s": "tab\there \"q\" \\ \u00e9 \ud83d\ude00", "b": true}`+"\n"+
			`{"id": -9223372036854775808, "d": 1e300, "s": "", "b": null}`+"\n"+
			`{"id": 7, "d": 5e-324, "s": null}`+"\n"))
	b.strata("append Parquet (all types)", "table", "append", "{T}", b.parquet("u3.parquet",
		col("id", arrow.PrimitiveTypes.Int64, false, int64(100), int64(101), int64(102), int64(103)),
		col("i", arrow.PrimitiveTypes.Int32, true, int32(math.MaxInt32), int32(math.MinInt32), nil, int32(0)),
		col("d", arrow.PrimitiveTypes.Float64, true, math.NaN(), 3.14159, nil, -1e-310),
		col("amt", dec10, true, "99999999.99", "-99999999.99", "0.00", nil),
		col("s", arrow.BinaryTypes.String, true, "parquet ✓", nil, "", "x"),
		col("b", arrow.FixedWidthTypes.Boolean, true, true, nil, false, true),
		col("dt", arrow.FixedWidthTypes.Date32, true, "2024-03-01", nil, "1969-12-31", "2000-02-29"),
		col("ts", tsUTC, true, "2024-03-01T10:00:00.5Z", nil, "1900-01-01T00:00:00Z", "2999-12-31T23:59:59.999999Z")))
	b.strata("overwrite CSV", "table", "overwrite", "{T}", b.file("u4.csv",
		"id,d,s,b,dt,ts\n"+
			"40,4.25,overwritten,true,2024-04-04,2024-04-04 04:04:04\n"+
			"41,-1,again,false,2024-04-05,2024-04-05 05:05:05.5\n"))
	b.strata("append Parquet (some columns)", "table", "append", "{T}", b.parquet("u5.parquet",
		col("id", arrow.PrimitiveTypes.Int64, false, int64(50), int64(51)),
		col("i", arrow.PrimitiveTypes.Int32, true, int32(5), nil),
		col("amt", dec10, true, "0.01", "-12345.67")))
	b.strata("append --merge-schema CSV (adds note, score)", "table", "append", "{T}", "--merge-schema", b.file("u6.csv",
		"id,s,note,score\n"+
			"60,merged,first note,0.25\n"+
			"61,,,\n"))
	b.strata("restore --version 3", "table", "restore", "{T}", "--version", "3")
	b.strata("checkpoint", "table", "checkpoint", "{T}")
	b.strata("append NDJSON after checkpoint", "table", "append", "{T}", b.file("u8.ndjson",
		`{"id": 80, "s": "after checkpoint", "d": 2.5}`+"\n"))
}

// buildPartitioned: a table partitioned by a string and a date, with partition values holding
// spaces, '/', '=', '%', ':', glob characters, unicode and nulls; replaceWhere overwrites.
func buildPartitioned(b *scenarioBuilder) {
	b.strata("create", "table", "create", "{T}", "--schema",
		"id BIGINT NOT NULL, s STRING, v DOUBLE, amt DECIMAL(10,2), region STRING, day DATE",
		"--partition-by", "region,day")
	b.strata("append CSV", "table", "append", "{T}", b.file("p1.csv",
		"id,s,v,region,day\n"+
			"1,héllo,1.5,a b,2024-01-01\n"+
			"2,slash,2.5,a/b=c%d,\n"+
			"3,nullregion,3.5,,2024-01-02\n"+
			"4,unicode,4.5,ü 50%,2024-01-03\n"+
			"5,allnull,,,\n"+
			"6,colon,6.5,x:y,2024-01-01\n"+
			"7,pct,7.5,%,2024-01-01\n"+
			"8,same,8.5,a b,2024-01-01\n"+
			"9,spaces,9.5, lead and trail ,2024-01-04\n"+
			"10,glob,10.5,we*ird[1]?#,2024-01-05\n"))
	b.strata("append Parquet", "table", "append", "{T}", b.parquet("p2.parquet",
		col("id", arrow.PrimitiveTypes.Int64, false, int64(11), int64(12), int64(13)),
		col("s", arrow.BinaryTypes.String, true, "pq", nil, "emoji 🚀"),
		col("amt", dec10, true, "12.34", "-0.01", nil),
		col("region", arrow.BinaryTypes.String, true, "a b", nil, "Ünïcödé €"),
		col("day", arrow.FixedWidthTypes.Date32, true, "2024-01-01", nil, "2024-02-29")))
	b.strata("append NDJSON (no day: null partition)", "table", "append", "{T}", b.file("p3.ndjson",
		`{"id": 14, "s": "json", "v": 14.5, "region": "a/b=c%d"}`+"\n"+
			`{"id": 15, "s": "json2", "region": null}`+"\n"))
	b.strata("overwrite --replace-where region = 'a b'", "table", "overwrite", "{T}", "--replace-where", "region = 'a b'", b.file("p4.csv",
		"id,s,v,region,day\n"+
			"20,replaced,20.5,a b,2024-01-01\n"+
			"21,replaced2,,a b,2024-05-05\n"))
	b.strata("overwrite --replace-where day IS NULL", "table", "overwrite", "{T}", "--replace-where", "day IS NULL", b.file("p5.ndjson",
		`{"id": 22, "s": "nullday", "region": "a/b=c%d"}`+"\n"))
	b.strata("append --merge-schema Parquet (adds tag INT)", "table", "append", "{T}", "--merge-schema", b.parquet("p6.parquet",
		col("id", arrow.PrimitiveTypes.Int64, false, int64(30), int64(31)),
		col("s", arrow.BinaryTypes.String, true, "merged", nil),
		col("region", arrow.BinaryTypes.String, true, "a b", "new/part"),
		col("day", arrow.FixedWidthTypes.Date32, true, "2024-01-01", "2024-01-01"),
		col("tag", arrow.PrimitiveTypes.Int32, true, int32(7), nil)))
	b.strata("overwrite (whole table) CSV", "table", "overwrite", "{T}", b.file("p7.csv",
		"id,s,v,region,day\n"+
			"40,full,40.5,z,2024-12-31\n"+
			"41,full2,,,\n"))
	b.strata("restore --version 3", "table", "restore", "{T}", "--version", "3")
	b.strata("append CSV after restore", "table", "append", "{T}", b.file("p9.csv",
		"id,s,v,region,day\n"+
			"50,after restore,50.5,a b,2024-01-01\n"))
	b.strata("checkpoint", "table", "checkpoint", "{T}")
}

// buildAutoCheckpointed: a table created by its first append (partitioned by a long and a
// timestamp), with delta.checkpointInterval=3 so that commits 3, 6 and 9 checkpoint themselves.
func buildAutoCheckpointed(b *scenarioBuilder) {
	b.strata("append CSV creating the table", "table", "append", "{T}", "--partition-by", "bucket,at",
		"--property", "delta.checkpointInterval=3", b.file("a1.csv",
			"id,bucket,at,name\n"+
				"1,1,2024-01-01 00:00:00,a\n"+
				"2,2,2024-01-01 12:30:00.5,b\n"+
				"3,,2024-01-01 00:00:00,c\n"+
				"4,1,,d\n"+
				"5,-7,1969-07-20T20:17:40Z,moon\n"))
	for i := 2; i <= 10; i++ {
		switch i {
		case 3, 8:
			b.strata(fmt.Sprintf("append NDJSON #%d", i), "table", "append", "{T}", b.file(fmt.Sprintf("a%d.ndjson", i),
				fmt.Sprintf(`{"id": %d, "bucket": 3, "name": "json %d"}`+"\n", 100+i, i)))
		case 4:
			b.strata("overwrite --replace-where bucket = 1", "table", "overwrite", "{T}", "--replace-where", "bucket = 1", b.file("a4.csv",
				"id,bucket,at,name\n"+
					"104,1,2024-02-02 02:02:02,replaced\n"))
		case 6:
			b.strata("restore --version 2", "table", "restore", "{T}", "--version", "2")
		default:
			b.strata(fmt.Sprintf("append CSV #%d", i), "table", "append", "{T}", b.file(fmt.Sprintf("a%d.csv", i),
				fmt.Sprintf("id,bucket,at,name\n%d,%d,2024-03-%02d 10:00:00.123456,csv %d\n", 100+i, i%3, i, i)))
		}
	}
}

// TestStrataWritesDeltaRsAndDuckDBRead builds each scenario's table with the strata CLI, copies
// it, vacuums it, and checks every version against delta-rs and DuckDB (see the package doc).
func TestStrataWritesDeltaRsAndDuckDBRead(t *testing.T) {
	for _, sc := range strataScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			checkStrataScenario(t, sc)
		})
	}
}

func checkStrataScenario(t *testing.T, sc strataScenario) {
	ctx := t.Context()
	root := workDir(t)
	b := &scenarioBuilder{t: t, inputs: filepath.Join(root, "inputs"), table: filepath.Join(root, "table"), notes: map[int64]string{}}
	if err := os.Mkdir(b.inputs, 0o755); err != nil {
		t.Fatal(err)
	}
	sc.build(b)
	latest, err := describeVersion(t, b.table, -1)
	if err != nil {
		t.Fatalf("table not created: %v", err)
	}
	last := latest.Version
	if sc.checkpoints != nil {
		if got := logCheckpoints(t, b.table); !slices.Equal(got, sc.checkpoints) {
			t.Errorf("checkpoints in _delta_log at versions %v, want %v (delta.checkpointInterval=3)", got, sc.checkpoints)
		}
	}

	// Keep the table as it is before VACUUM, to compare every version's content; then vacuum.
	before := filepath.Join(root, "before-vacuum")
	if err := os.CopyFS(before, os.DirFS(b.table)); err != nil {
		t.Fatal(err)
	}
	vacuumed := map[string]bool{}
	if out := b.strata("vacuum --retain 0h --force", "table", "vacuum", "{T}", "--retain", "0h", "--force"); out != nil {
		files, _ := out["files"].([]any)
		for _, f := range files {
			vacuumed[f.(string)] = true
		}
	}

	vacLatest, err := describeVersion(t, b.table, -1)
	if err != nil {
		t.Fatal(err)
	}
	for v := last + 1; v <= vacLatest.Version; v++ {
		b.notes[v] = "vacuum --retain 0h --force"
	}

	pyOut := filepath.Join(root, "python")
	if err := os.Mkdir(pyOut, 0o755); err != nil {
		t.Fatal(err)
	}
	job := startPython(ctx, "read_strata_table.py", before, b.table, pyOut)
	// Strata's side of every version, while Python runs.
	tc := &tableCheck{name: sc.name, writer: "strata", notes: b.notes, vacuumed: vacuumed, pyOut: pyOut,
		pre:  strataSide(t, before, last, filepath.Join(pyOut, "v%d.strata.parquet")),
		post: strataSide(t, b.table, vacLatest.Version, filepath.Join(pyOut, "vac%d.strata.parquet"))}
	if _, err := job.wait(); err != nil {
		t.Fatal(err)
	}
	tc.rep = readPyReport(t, filepath.Join(pyOut, "report.json"))
	tc.run(t)
}
