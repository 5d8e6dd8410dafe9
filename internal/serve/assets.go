package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Cache policies of the web UI's files: the page is revalidated on every load (it names the
// assets), the assets are kept for a few minutes and then revalidated by ETag.
const (
	cacheIndex  = "no-cache"
	cacheStatic = "public, max-age=300"
)

// notBuiltPage is served at / when the server has no web UI files.
const notBuiltPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>Strata</title></head>
<body><h1>Strata</h1><p>The dashboard is not built into this server. The API answers at
<a href="/api/tables">/api/tables</a>, <a href="/api/pipelines">/api/pipelines</a>,
<a href="/api/dashboard">/api/dashboard</a> and POST /api/sql; metrics at <a href="/metrics">/metrics</a>.</p></body></html>
`

// assetServer serves the web UI: index.html for the single-page app's routes (/, /pipelines,
// /tables, /tables/{name}), the files under /static/ (the file system's root), and files at the
// root (favicon.ico). Each file gets an ETag (its SHA-256), kept until its size or time changes.
type assetServer struct {
	fsys fs.FS

	mu    sync.Mutex // guards etags
	etags map[string]assetTag
}

type assetTag struct {
	size int64
	mod  time.Time
	etag string
}

func newAssetServer(fsys fs.FS) *assetServer {
	return &assetServer{fsys: fsys, etags: map[string]assetTag{}}
}

func (a *assetServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/" || p == "/pipelines" || p == "/tables" || strings.HasPrefix(p, "/tables/"):
		if a.fsys == nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", cacheIndex)
			w.Write([]byte(notBuiltPage))
			return
		}
		a.serveFile(w, r, "index.html", cacheIndex)
	case strings.HasPrefix(p, "/static/"):
		a.serveFile(w, r, strings.TrimPrefix(p, "/static/"), cacheStatic)
	default:
		a.serveFile(w, r, strings.TrimPrefix(p, "/"), cacheStatic)
	}
}

// serveFile answers one file of the UI (404 when absent), honouring If-None-Match and ranges.
func (a *assetServer) serveFile(w http.ResponseWriter, r *http.Request, name, cache string) {
	if a.fsys == nil || !fs.ValidPath(name) || name == "." {
		writeError(w, http.StatusNotFound, "not found: "+r.URL.Path)
		return
	}
	info, err := fs.Stat(a.fsys, name)
	if err != nil || info.IsDir() {
		writeError(w, http.StatusNotFound, "not found: "+r.URL.Path)
		return
	}
	data, err := fs.ReadFile(a.fsys, name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading "+name+": "+err.Error())
		return
	}
	a.mu.Lock()
	tag, ok := a.etags[name]
	if !ok || tag.size != info.Size() || !tag.mod.Equal(info.ModTime()) {
		sum := sha256.Sum256(data)
		tag = assetTag{size: info.Size(), mod: info.ModTime(), etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		a.etags[name] = tag
	}
	a.mu.Unlock()
	w.Header().Set("ETag", tag.etag)
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, info.ModTime(), bytes.NewReader(data))
}
