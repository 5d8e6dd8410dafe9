// Package testutil holds helpers shared by Strata's tests: locating the repository's test data.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the repository root (the directory holding go.mod), found from the working
// directory of the test.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("testutil: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ConformanceDir returns testdata/conformance/delta: the Delta tables written by Spark, delta-rs
// and the Delta kernels that Strata must read (see its README.md). The tables are read-only; copy
// one before writing to it.
func ConformanceDir(tb testing.TB) string {
	tb.Helper()
	d := filepath.Join(RepoRoot(tb), "testdata", "conformance", "delta")
	if _, err := os.Stat(d); err != nil {
		tb.Fatalf("testutil: conformance tables missing: %v", err)
	}
	return d
}
