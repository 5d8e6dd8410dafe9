// Package ecommerce holds the e-commerce reference project (the seed's section 6 exercise) that
// `strata demo` writes into its folder and runs: strata.yaml and the domain folders with their
// pipeline SQL. The files are the example; this package only embeds them into the binary.
package ecommerce

import "embed"

// Files are the project's files, at their paths relative to the project folder.
//
//go:embed strata.yaml sales customers logistics analytics
var Files embed.FS
