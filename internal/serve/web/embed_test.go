package web

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// TestAssetsPresent checks that the files the server and the page rely on are embedded at the
// root of Assets.
func TestAssetsPresent(t *testing.T) {
	for _, name := range []string{
		"index.html",
		"app.js",
		"style.css",
		"favicon.svg",
		"vendor/chart.umd.min.js",
		"vendor/chart.js.LICENSE.md",
	} {
		t.Run(name, func(t *testing.T) {
			b, err := fs.ReadFile(Assets, name)
			if err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			if len(b) == 0 {
				t.Fatalf("%s is empty", name)
			}
		})
	}
	b, err := fs.ReadFile(Assets, "vendor/chart.umd.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "/*!\n * Chart.js v4.") {
		t.Errorf("vendor/chart.umd.min.js does not start with the Chart.js 4 banner: %q", string(b[:min(len(b), 40)]))
	}
}

// routes are the in-app paths index.html may link to (the server answers index.html there).
var routes = map[string]bool{"/": true, "/pipelines": true, "/tables": true}

var htmlRef = regexp.MustCompile(`<(\w+)\b[^>]*?\s(src|href)="([^"]*)"`)

// TestIndexReferencesOnlyEmbeddedPaths checks that every src/href of index.html is an embedded
// asset under /static/ (or, for a link, an in-app route): the page makes no other request.
func TestIndexReferencesOnlyEmbeddedPaths(t *testing.T) {
	b, err := fs.ReadFile(Assets, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := htmlRef.FindAllStringSubmatch(string(b), -1)
	if len(refs) < 4 {
		t.Fatalf("index.html: found only %d references; the pattern no longer matches the page", len(refs))
	}
	wantAssets := map[string]bool{"app.js": false, "style.css": false, "vendor/chart.umd.min.js": false}
	for _, m := range refs {
		tag, attr, ref := m[1], m[2], m[3]
		if tag == "a" {
			if !routes[ref] {
				t.Errorf("index.html: <a href=%q> is not an in-app route", ref)
			}
			continue
		}
		name, ok := strings.CutPrefix(ref, "/static/")
		if !ok {
			t.Errorf("index.html: <%s %s=%q> is not under /static/", tag, attr, ref)
			continue
		}
		if _, err := fs.Stat(Assets, name); err != nil {
			t.Errorf("index.html: <%s %s=%q>: %v", tag, attr, ref, err)
		}
		if _, ok := wantAssets[name]; ok {
			wantAssets[name] = true
		}
	}
	for name, seen := range wantAssets {
		if !seen {
			t.Errorf("index.html does not load /static/%s", name)
		}
	}
}

var (
	jsImport = regexp.MustCompile(`(?m)^\s*import\b[^'"]*['"]([^'"]+)['"]`)
	anyURL   = regexp.MustCompile(`\bhttps?://[^\s'"` + "`" + `)]+`)
)

// TestOwnFilesStayLocal checks the dashboard's own files (not the vendored library): every ES
// module import resolves to an embedded module, and no absolute URL appears other than the SVG
// namespace, so that the page never reaches beyond its server.
func TestOwnFilesStayLocal(t *testing.T) {
	err := fs.WalkDir(Assets, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(name, "vendor/") {
			return err
		}
		switch path.Ext(name) {
		case ".js", ".css", ".html", ".svg":
		default:
			return nil
		}
		b, err := fs.ReadFile(Assets, name)
		if err != nil {
			return err
		}
		text := string(b)
		for _, u := range anyURL.FindAllString(text, -1) {
			if u != "http://www.w3.org/2000/svg" {
				t.Errorf("%s: absolute URL %q", name, u)
			}
		}
		if path.Ext(name) != ".js" {
			return nil
		}
		for _, m := range jsImport.FindAllStringSubmatch(text, -1) {
			spec := m[1]
			if !strings.HasPrefix(spec, "./") {
				t.Errorf("%s: import %q is not a relative module", name, spec)
				continue
			}
			target := path.Join(path.Dir(name), spec)
			if _, err := fs.Stat(Assets, target); err != nil {
				t.Errorf("%s: import %q: %v", name, spec, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// maxAssetBytes bounds the embedded assets (the brief's budget: the binary carries them all).
const maxAssetBytes = 400 << 10

// TestAssetsSize keeps the embedded assets under maxAssetBytes.
func TestAssetsSize(t *testing.T) {
	var total int64
	err := fs.WalkDir(Assets, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > maxAssetBytes {
		t.Errorf("embedded assets are %d bytes, over the %d budget", total, maxAssetBytes)
	}
}
