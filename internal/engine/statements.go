package engine

import "context"

// strataStatement returns the handler of a statement Strata executes itself (writes to Delta
// tables, table upkeep), or nil when DuckDB runs the statement.
func (e *Engine) strataStatement(st statement) func(context.Context) (*Result, error) {
	return nil
}
