package interop

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeltaRsWritesStrataReads runs write_deltars_tables.py, which builds tables with delta-rs
// (write_deltalake in every mode, delete, update, merge, restore, optimize.compact,
// create_checkpoint, automatic checkpoints, change data feed, vacuum), and checks that `strata
// table scan --version N` reads every version as delta-rs reads it, and `describe --json` states
// the same facts. The tables are listed in the script.
func TestDeltaRsWritesStrataReads(t *testing.T) {
	t.Parallel()
	root := workDir(t)
	out, err := runPython(t.Context(), "write_deltars_tables.py", root)
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(string(out))
	if len(names) == 0 {
		t.Fatalf("write_deltars_tables.py wrote no table")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			base := filepath.Join(root, name)
			pyOut := filepath.Join(base, "python")
			rep := readPyReport(t, filepath.Join(pyOut, "report.json"))
			tc := &tableCheck{name: name, writer: "delta-rs", notes: map[int64]string{}, vacuumed: map[string]bool{}, pyOut: pyOut, rep: rep,
				pre:  strataSide(t, filepath.Join(base, "before-vacuum"), rep.LatestVersion, filepath.Join(pyOut, "v%d.strata.parquet")),
				post: strataSide(t, filepath.Join(base, "table"), rep.VacuumedLatestVersion, filepath.Join(pyOut, "vac%d.strata.parquet"))}
			for v, op := range rep.Operations {
				n, _ := strconv.ParseInt(v, 10, 64)
				tc.notes[n] = "delta-rs " + op
			}
			for _, f := range rep.VacuumedFiles {
				tc.vacuumed[f] = true
			}
			tc.run(t)
		})
	}
}
