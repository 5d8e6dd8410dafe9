// Package web holds the web dashboard of strata serve: a single-page application of plain ES
// modules, one stylesheet and a vendored Chart.js, embedded in the binary so the dashboard needs
// no network access beyond the server that hosts it.
//
// The server (internal/serve) serves Assets under /static/ and answers index.html for the
// application's routes (/, /pipelines, /tables, /tables/{name}); every path index.html and the
// modules reference is absolute under /static/. The application reads the JSON API described in
// the serve contract (/api/dashboard, /api/tables, /api/pipelines, /api/sql, /api/events).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Assets are the dashboard's static files, rooted at the static folder: "index.html",
// "app.js", "style.css" and "vendor/chart.umd.min.js" are at its root. It is read-only and
// safe for concurrent use.
var Assets fs.FS = mustSub(static, "static")

// mustSub is fs.Sub for a directory known to exist at build time; it panics only if the
// go:embed directive above and the name disagree, a broken invariant caught by any test.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("web: embedded assets: " + err.Error())
	}
	return sub
}
