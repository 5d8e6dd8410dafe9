package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

// newTestProject writes a project whose pipelines: are the given files (name -> SQL) into a
// temporary folder and returns it with an engine.
func newTestProject(t *testing.T, files map[string]string) (*project.Project, *engine.Engine) {
	t.Helper()
	dir := t.TempDir()
	var names []string
	for name, sql := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	yaml := "name: test\nstorage: ./warehouse\nlog:\n  dir: ./log\npipelines:\n"
	for _, n := range names {
		yaml += "  - " + n + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, project.FileName), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(context.Background(), engine.Options{Project: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return p, e
}

// TestValidateScenarios loads and validates each testdata/validate/*.sql as a one-file pipeline
// and compares the outcome (the objects and how they run, or every error with its file:line:col)
// with the golden .txt beside it (-update rewrites the goldens).
func TestValidateScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/validate/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".sql"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			proj, eng := newTestProject(t, map[string]string{name: string(src)})
			got := validateOutcome(ctx, proj, eng)
			golden := strings.TrimSuffix(path, ".sql") + ".txt"
			if synUpdating() {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("validate %s differs from %s:\n--- got\n%s--- want\n%s", name, golden, got, want)
			}
		})
	}
}

func validateOutcome(ctx context.Context, proj *project.Project, eng *engine.Engine) string {
	var b strings.Builder
	pl, err := Load(ctx, proj, eng)
	if err == nil {
		var warns []Warning
		warns, err = pl.Validate(ctx)
		for _, w := range warns {
			fmt.Fprintf(&b, "warning: %s\n", w)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			fmt.Fprintf(&b, "unexpected error kind: %v\n", err)
		}
		for _, l := range strings.Split(err.Error(), "\n")[1:] {
			fmt.Fprintf(&b, "error: %s\n", l)
		}
		return b.String()
	}
	for _, n := range pl.Nodes {
		fmt.Fprintf(&b, "%s: %s %s (%s)", n.Stmt.Pos, n.Kind(), n.Name, pl.Execution(n))
		if r := pl.ExecutionReason(n); r != "" {
			fmt.Fprintf(&b, " because %s", r)
		}
		var ins []string
		for _, in := range n.Inputs {
			ins = append(ins, in.Kind()+" "+in.Name)
		}
		if len(ins) > 0 {
			fmt.Fprintf(&b, " <- %s", strings.Join(ins, ", "))
		}
		b.WriteString("\n")
		if s := n.info.schema; s != nil {
			for _, f := range s.Fields() {
				fmt.Fprintf(&b, "    %s %s\n", f.Name, f.Type)
			}
		}
	}
	for _, t := range pl.Lineage().Tables { // the lineage of a valid pipeline
		for _, c := range t.Columns {
			fmt.Fprintf(&b, "lineage: %s.%s <- %s\n", t.Name, c.Column, strings.Join(c.Sources, ", "))
		}
	}
	return b.String()
}

// TestSaveLineageConcurrently is the regression test for a crash of strata demo on resume: a
// stream run and a scheduled batch saved the lineage at once through one shared temporary name,
// and one rename failed with "no such file or directory".
func TestSaveLineageConcurrently(t *testing.T) {
	proj, eng := newTestProject(t, map[string]string{"p.sql": "CREATE MATERIALIZED VIEW v AS SELECT 1 AS x;\n"})
	pl, err := Load(context.Background(), proj, eng)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	for i := 0; i < cap(errs); i++ {
		go func() { errs <- pl.saveLineage() }()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var l Lineage
	b, err := os.ReadFile(filepath.Join(proj.Dir, LineageFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &l); err != nil || len(l.Tables) != 1 {
		t.Fatalf("lineage after concurrent saves: %v %s", err, b)
	}
	left, _ := filepath.Glob(filepath.Join(proj.Dir, ".strata", "*.tmp"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
