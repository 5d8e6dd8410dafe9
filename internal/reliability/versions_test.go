package reliability

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/table"
)

// deltaRSPython returns python3 when it has the deltalake package, else "".
func deltaRSPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		return ""
	}
	if exec.Command(py, "-c", "import deltalake").Run() != nil {
		return ""
	}
	return py
}

// TestCheckTableVersions: every version of a whole table reads (with delta-rs too when it is
// installed); deleting the data file a version added breaks that version, and only it.
func TestCheckTableVersions(t *testing.T) {
	ctx := context.Background()
	p, _, q := testEngine(t)
	mustQuery(t, q, "CREATE TABLE sales.v AS SELECT range AS id, 'x' || range AS name FROM range(10)")
	mustQuery(t, q, "INSERT INTO sales.v SELECT range + 10, 'y' FROM range(5)")
	mustQuery(t, q, "INSERT INTO sales.v SELECT range + 20, 'z' FROM range(3)")
	loc, err := p.TableLocation("sales", "v")
	if err != nil {
		t.Fatal(err)
	}
	tables, err := FindDeltaTables(p.StorageRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0] != loc {
		t.Fatalf("FindDeltaTables found %v, want [%s]", tables, loc)
	}
	py := deltaRSPython(t)
	if py == "" {
		t.Log("python3 with deltalake not found: the delta-rs reads are not exercised")
	}
	env := Env{Options: Options{Python: py}, Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}

	rep := &Report{}
	sum, err := CheckTableVersions(ctx, env, rep, tables)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Anomalies) > 0 {
		t.Fatalf("anomalies on a whole table: %q", rep.Anomalies)
	}
	if got := sum.Tables[0].Rows; len(got) != 3 || got[0] != 10 || got[1] != 15 || got[2] != 18 {
		t.Errorf("rows per version %v, want [10 15 18]", got)
	}
	if sum.Checked != 3 || (py != "" && sum.DeltaRS != 3) {
		t.Errorf("checked %d versions with Strata and %d with delta-rs, want 3", sum.Checked, sum.DeltaRS)
	}

	// Version 1's data file deleted: versions 1 and 2 reference it, version 0 does not.
	tbl, err := table.Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	actions, err := tbl.Kernel().ReadCommit(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, a := range actions {
		if a.Add != nil {
			if err := os.Remove(filepath.Join(loc, filepath.FromSlash(a.Add.Path))); err != nil {
				t.Fatal(err)
			}
			removed++
		}
	}
	if removed == 0 {
		t.Fatal("version 1 added no file")
	}
	rep = &Report{}
	sum, err = CheckTableVersions(ctx, env, rep, tables)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rep.Anomalies, "\n")
	if len(rep.Anomalies) != 2 || !strings.Contains(all, "version 1") || !strings.Contains(all, "version 2") || strings.Contains(all, "version 0") {
		t.Errorf("after deleting version 1's data file: anomalies %q, want versions 1 and 2", rep.Anomalies)
	}
	if sum.Failed != 2 || sum.Gone != 0 {
		t.Errorf("failed %d, gone %d; want 2 failed (no VACUUM ran: the file is not legitimately gone)", sum.Failed, sum.Gone)
	}
}

// TestDeltaRSCountMismatch: delta-rs counting other rows than Strata is an anomaly.
func TestDeltaRSCountMismatch(t *testing.T) {
	py := deltaRSPython(t)
	if py == "" {
		t.Skip("python3 with deltalake not installed")
	}
	p, _, q := testEngine(t)
	mustQuery(t, q, "CREATE TABLE sales.m AS SELECT range AS id FROM range(4)")
	loc, err := p.TableLocation("sales", "m")
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Options: Options{Python: py}, Dir: t.TempDir(), Log: slog.New(slog.DiscardHandler)}
	rep := &Report{}
	// As if Strata had counted 5 rows at version 0, and asked for a version that does not exist.
	rs, err := startDeltaRS(context.Background(), env, rep)
	if err != nil {
		t.Fatal(err)
	}
	rs.submit(TableVersions{Location: loc, Versions: []int64{0, 9}, Rows: []int64{5, 1}})
	read, failed, ran, err := rs.wait()
	if err != nil || !ran {
		t.Fatalf("ran %v: %v", ran, err)
	}
	all := strings.Join(rep.Anomalies, "\n")
	if read != 2 || failed != 2 || !strings.Contains(all, "Strata counts 5 rows, delta-rs 4") || !strings.Contains(all, "version 9 reads with Strata") {
		t.Errorf("read %d, failed %d, anomalies %q", read, failed, rep.Anomalies)
	}
}
