package engine

import (
	"github.com/stratalake/strata/internal/delta"
)

// filterFor extracts, from a SELECT node's WHERE clause (a DuckDB parse tree), the conjuncts that
// refer to ref's columns alone and that file pruning understands. nil means no pruning.
func filterFor(where any, ref *tableRef) delta.Expr {
	return nil
}

// mayMatch reports whether file f of snap may hold rows satisfying filter (always true without a
// filter).
func mayMatch(snap *delta.Snapshot, f *delta.Add, filter delta.Expr) (bool, error) {
	if filter == nil {
		return true, nil
	}
	vals, err := delta.TypedPartitionValues(snap.Schema(), snap.PartitionColumns(), snap.ColumnMappingMode(), f.PartitionValues)
	if err != nil {
		return false, err
	}
	_ = vals
	return true, nil
}
