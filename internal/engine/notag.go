//go:build !duckdb_arrow

package engine

// The engine needs duckdb-go's Arrow interface, compiled only with the duckdb_arrow build tag:
// build and test with `make`, or pass -tags duckdb_arrow to the go command.
var _ = build_with_tag_duckdb_arrow
