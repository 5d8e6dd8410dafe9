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

// MultisetDiff compares two sorted lists of rendered rows as multisets: it returns the rows of a
// not matched in b and those of b not matched in a, counting duplicates.
func MultisetDiff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}
