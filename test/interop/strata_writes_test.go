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
	// checkpointed are the versions `table checkpoint` reported checkpointing.
	checkpointed []int64
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
	if v, ok := out["version"].(float64); ok && args[1] == "checkpoint" {
		b.checkpointed = append(b.checkpointed, int64(v))
	} else if ok {
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
	{name: "column_mapping_timestamp_ntz", build: buildColumnMapped},
}

// buildUnpartitioned: an explicitly created table with every primitive type the brief lists,
// written from CSV, NDJSON and Parquet, overwritten, evolved, restored, checkpointed.
func buildUnpartitioned(b *scenarioBuilder) {
	b.strata("create", "table", "create", "{T}", "--schema",
		"id BIGINT NOT NULL, i INT, d DOUBLE, amt DECIMAL(10,2), s STRING, b BOOLEAN, dt DATE, ts TIMESTAMP",
		"--property", "interop.owner=test", "--comment", "interop: unpartitioned")
	b.strata("append CSV (text into every declared type)", "table", "append", "{T}", b.file("u1.csv",
		"id,i,d,amt,s,b,dt,ts\n"+
			"1,7,1.5,12.34,héllo wörld 世界 🚀,true,2024-02-29,2024-01-02 03:04:05.123456\n"+
			"2,-2147483648,-2.25e10,-0.5,\"comma, \"\"quoted\"\"\",false,1900-01-01,1969-12-31T23:59:59.999999Z\n"+
			"3,,,,,,,\n"+
			"4,2147483647,inf,99999999.99,NULL,TRUE,1970-01-01,2024-06-01T12:00:00+02:00\n"+
			"5,0,nan,0,\"multi\nline\",false,9999-12-31,2000-01-01 00:00:00\n"+
			"6,-1,-0.0,-0.01,  padded  ,true,2024-01-01,2024-01-01T00:00:00.000001Z\n"+
			"8,42,3,1e2,00123,false,2024-01-01,2024-01-01\n"))
	b.strata("append NDJSON (JSON strings into date and timestamp)", "table", "append", "{T}", b.file("u2.ndjson",
		`{"id": 9007199254740993, "i": 5, "d": 0.1, "amt": 1.5, "s": "tab\there \"q\" \\ \u00e9 \ud83d\ude00", "b": true, "dt": "2024-12-31", "ts": "2024-12-31T23:59:59.5Z"}`+"\n"+
			`{"id": -9223372036854775808, "d": 1e300, "amt": "-2.25", "s": "", "b": null, "dt": null, "ts": "1970-01-01 00:00:00"}`+"\n"+
			`{"id": 7, "d": 5e-324, "s": null, "i": null, "amt": 0}`+"\n"+
			`{"id": 9, "d": 3, "s": 42}`+"\n"))
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
	// Four input files of 500 rows: the writer closes a data file once it reaches the target
	// size, between batches (it does not split a batch), so this gives several data files.
	var parts []string
	for p := 0; p < 4; p++ {
		var f strings.Builder
		f.WriteString("id,i,d,amt,s,b,dt,ts\n")
		for n := 1000 + 500*p; n < 1500+500*p; n++ {
			fmt.Fprintf(&f, "%d,%d,%d.25,%d.%02d,row %d %s,%v,2024-%02d-%02d,2024-01-01 00:00:%02d.%06d\n",
				n, n%7-3, n, n, n%100, n, strings.Repeat("x", n%40), n%3 == 0, 1+n%12, 1+n%28, n%60, n*37%1000000)
		}
		parts = append(parts, b.file(fmt.Sprintf("u5b-%d.csv", p), f.String()))
	}
	b.strata("append 4 CSV files into data files of ~4 KiB (--target-file-size)",
		append([]string{"table", "append", "{T}", "--target-file-size", "4096"}, parts...)...)
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
		"id,s,v,amt,region,day\n"+
			"1,héllo,1.5,0.10,a b,2024-01-01\n"+
			"2,slash,2.5,,a/b=c%d,\n"+
			"3,nullregion,3.5,3,,2024-01-02\n"+
			"4,unicode,4.5,-4.5,ü 50%,2024-01-03\n"+
			"5,allnull,,,,\n"+
			"6,colon,6.5,,x:y,2024-01-01\n"+
			"7,pct,7.5,,%,2024-01-01\n"+
			"8,same,8.5,,a b,2024-01-01\n"+
			"9,spaces,9.5,,  lead and trail ,2024-01-04\n"+
			"10,glob,10.5,,we*ird[1]?#,2024-01-05\n"))
	b.strata("append Parquet", "table", "append", "{T}", b.parquet("p2.parquet",
		col("id", arrow.PrimitiveTypes.Int64, false, int64(11), int64(12), int64(13)),
		col("s", arrow.BinaryTypes.String, true, "pq", nil, "emoji 🚀"),
		col("amt", dec10, true, "12.34", "-0.01", nil),
		col("region", arrow.BinaryTypes.String, true, "a b", nil, "Ünïcödé €"),
		col("day", arrow.FixedWidthTypes.Date32, true, "2024-01-01", nil, "2024-02-29")))
	b.strata("append NDJSON (day as a JSON string, or absent: null partition)", "table", "append", "{T}", b.file("p3.ndjson",
		`{"id": 14, "s": "json", "v": 14.5, "amt": "3.10", "region": "a/b=c%d"}`+"\n"+
			`{"id": 15, "s": "json2", "region": null, "day": "2024-01-02"}`+"\n"+
			`{"id": 16, "s": "json3", "v": 16, "region": "a b", "day": "2024-01-01"}`+"\n"))
	b.strata("overwrite --replace-where region = 'a b'", "table", "overwrite", "{T}", "--replace-where", "region = 'a b'", b.file("p4.csv",
		"id,s,v,region,day\n"+
			"20,replaced,20.5,a b,2024-01-01\n"+
			"21,replaced2,,a b,2024-05-05\n"))
	b.strata("overwrite --replace-where day IS NULL", "table", "overwrite", "{T}", "--replace-where", "day IS NULL", b.file("p5.csv",
		"id,s,amt,region,day\n"+
			"22,nullday,1.25,a/b=c%d,\n"+
			"23,nullboth,,,\n"))
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
	cps := logCheckpoints(t, b.table)
	if sc.checkpoints != nil && !slices.Equal(cps, sc.checkpoints) {
		t.Errorf("checkpoints in _delta_log at versions %v, want %v (delta.checkpointInterval=3)", cps, sc.checkpoints)
	}
	for _, v := range b.checkpointed {
		if !slices.Contains(cps, v) {
			t.Errorf("`table checkpoint` reported version %d, but _delta_log has checkpoints at %v", v, cps)
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

// buildColumnMapped: a table with column mapping (mode name: files and partition directories use
// physical names), a column name with a space, and a timestamp_ntz column, hence protocol (3,7)
// with reader features columnMapping and timestampNtz.
func buildColumnMapped(b *scenarioBuilder) {
	b.strata("create (columnMapping name)", "table", "create", "{T}", "--schema",
		`id BIGINT NOT NULL, "my col" STRING, ntz TIMESTAMP_NTZ, amt DECIMAL(10,2), region STRING`,
		"--partition-by", "region", "--property", "delta.columnMapping.mode=name")
	b.strata("append CSV", "table", "append", "{T}", b.file("c1.csv",
		"id,my col,ntz,amt,region\n"+
			"1,a,2024-01-01 10:00:00,1.25,x y\n"+
			"2,,,,\n"+
			"3,c,1969-12-31 23:59:59.999999,-3,x/y\n"))
	b.strata("append NDJSON", "table", "append", "{T}", b.file("c2.ndjson",
		`{"id": 4, "my col": "json", "ntz": "2024-02-29T12:00:00", "amt": 4.5, "region": "x y"}`+"\n"))
	b.strata("append --merge-schema CSV (adds 'extra col')", "table", "append", "{T}", "--merge-schema", b.file("c3.csv",
		"id,extra col,region\n"+
			"5,e,x y\n"))
	b.strata("overwrite --replace-where region = 'x y'", "table", "overwrite", "{T}", "--replace-where", "region = 'x y'", b.file("c4.csv",
		"id,my col,region\n"+
			"6,replaced,x y\n"))
	b.strata("restore --version 2", "table", "restore", "{T}", "--version", "2")
	b.strata("checkpoint", "table", "checkpoint", "{T}")
	b.strata("append Parquet", "table", "append", "{T}", b.parquet("c7.parquet",
		col("id", arrow.PrimitiveTypes.Int64, false, int64(7)),
		col("ntz", &arrow.TimestampType{Unit: arrow.Microsecond}, true, "2030-01-01T00:00:00Z"),
		col("region", arrow.BinaryTypes.String, true, "p/q")))
}
