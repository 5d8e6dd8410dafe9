// Package project reads a Strata project: a folder with a strata.yaml that names where the
// project's tables live. Project tables are addressed as domain.table and stored at
// <storage>/<domain>/<table>.
package project

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stratalake/strata/internal/storage"
)

// FileName is the project file's name.
const FileName = "strata.yaml"

// ErrNoProject: no strata.yaml was found.
var ErrNoProject = errors.New("no strata.yaml found")

// Config is the content of strata.yaml. Unknown keys are errors (they are usually typos).
type Config struct {
	// Name of the project (informational).
	Name string `yaml:"name"`
	// Storage is the root under which domain/table folders live: a path relative to strata.yaml,
	// an absolute path, or an s3://bucket/prefix URL.
	Storage string `yaml:"storage"`
	// S3Endpoint optionally sets the endpoint for s3:// storage (else AWS_ENDPOINT_URL etc.).
	S3Endpoint string `yaml:"s3_endpoint"`
	// Log configures the project's event log (absent: the embedded log under ./log).
	Log LogConfig `yaml:"log"`
	// Pipelines lists the declarative pipeline files (see package pipeline). Each entry is a glob
	// relative to strata.yaml, or a mapping with files and options.
	Pipelines []PipelineConfig `yaml:"pipelines"`
	// Serve configures `strata serve`: addresses, serving endpoints, the dashboard.
	Serve ServeConfig `yaml:"serve"`
}

// ServeConfig is the serve: key of strata.yaml.
type ServeConfig struct {
	// HTTP and PG are the default listen addresses of the HTTP server and the Postgres wire
	// endpoint (flags override them; defaults 127.0.0.1:8080 and 127.0.0.1:5433).
	HTTP string `yaml:"http"`
	PG   string `yaml:"pg"`
	// FreshnessSLA is the data latency the project promises (a Go duration, default 5m): tables
	// older than it are shown as late.
	FreshnessSLA string `yaml:"freshness_sla"`
	// FreshnessTables are the tables whose freshness the dashboard shows (default: every
	// pipeline table).
	FreshnessTables []string `yaml:"freshness_tables"`
	// Endpoints are named read-only queries served over HTTP GET.
	Endpoints []ServeEndpoint `yaml:"endpoints"`
	// Dashboard is the web dashboard's panels.
	Dashboard Dashboard `yaml:"dashboard"`
}

// ServeEndpoint is a query served at a path. The path's {name} segments are parameters: each is
// parsed as its declared SQL type and substituted into the SQL's {name} placeholders as a
// literal (never as text), so a request cannot change the query.
type ServeEndpoint struct {
	// Path is the URL path, such as /api/users/{id}/stats.
	Path string `yaml:"path"`
	// Description says what it answers.
	Description string `yaml:"description"`
	// SQL is the query, with {name} placeholders.
	SQL string `yaml:"sql"`
	// Params maps each parameter to its type: BIGINT, DOUBLE, VARCHAR, DATE or TIMESTAMP.
	Params map[string]string `yaml:"params"`
	// Single answers the first row as an object (404 when there is none) instead of a row set.
	Single bool `yaml:"single"`
}

// Dashboard is the serve.dashboard key: a title and panels.
type Dashboard struct {
	Title  string           `yaml:"title"`
	Panels []DashboardPanel `yaml:"panels"`
}

// DashboardPanel is one chart (or table, or figure) of the dashboard, drawn from a query.
type DashboardPanel struct {
	Name  string `yaml:"name"`
	Title string `yaml:"title"`
	// Chart is line, bar, hbar, doughnut, table or stat.
	Chart string `yaml:"chart"`
	// X is the column on the category/time axis; Y the value columns; Series, if set, splits
	// the rows into one series per distinct value of that column.
	X      string   `yaml:"x"`
	Y      []string `yaml:"y"`
	Series string   `yaml:"series"`
	SQL    string   `yaml:"sql"`
}

// PipelineConfig is one entry of the pipelines: key. In YAML it is either a glob
// ("pipelines/*.sql") or a mapping {files: [globs], domain: name}.
type PipelineConfig struct {
	// Files are globs relative to strata.yaml naming .sql files.
	Files []string `yaml:"files"`
	// Domain holds the tables these files declare without a domain (default "main").
	Domain string `yaml:"domain"`
	// Schedule is a cron expression for batch runs of these files' flows (used by strata serve).
	Schedule string `yaml:"schedule"`
}

// DefaultDomain is the domain of pipeline tables declared without one.
const DefaultDomain = "main"

// UnmarshalYAML accepts a plain glob string as well as the mapping form.
func (c *PipelineConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		c.Files = []string{n.Value}
		return nil
	}
	type plain PipelineConfig
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*c = PipelineConfig(p)
	return nil
}

// PipelineFiles expands the pipelines: globs into absolute file paths, in the order the entries
// list them (each glob's matches sorted), each with its entry. A glob that matches nothing is an
// error naming it.
func (p *Project) PipelineFiles() ([]PipelineFile, error) {
	var out []PipelineFile
	seen := map[string]bool{}
	for i, e := range p.Config.Pipelines {
		if len(e.Files) == 0 {
			return nil, fmt.Errorf("project: %s: pipelines entry %d has no files", p.File, i+1)
		}
		if e.Domain != "" && !identRe.MatchString(e.Domain) {
			return nil, fmt.Errorf("project: %s: pipelines entry %d: domain %q must be an identifier", p.File, i+1, e.Domain)
		}
		for _, g := range e.Files {
			pat := g
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(p.Dir, pat)
			}
			matches, err := filepath.Glob(pat)
			if err != nil {
				return nil, fmt.Errorf("project: %s: pipelines glob %q: %w", p.File, g, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("project: %s: pipelines glob %q matches no file", p.File, g)
			}
			for _, m := range matches {
				if seen[m] {
					continue
				}
				seen[m] = true
				out = append(out, PipelineFile{Path: m, Entry: e})
			}
		}
	}
	return out, nil
}

// PipelineFile is one pipeline file of the project.
type PipelineFile struct {
	// Path is absolute.
	Path string
	// Entry is the pipelines: entry that lists it.
	Entry PipelineConfig
}

// Domain returns the domain of the file's tables declared without one.
func (f PipelineFile) Domain() string {
	if f.Entry.Domain != "" {
		return f.Entry.Domain
	}
	return DefaultDomain
}

// LogConfig is the log: key of strata.yaml.
type LogConfig struct {
	// Backend is "embedded" (the default: segment files on the local disk) or "kafka".
	Backend string `yaml:"backend"`
	// Dir is the embedded log's folder, relative to strata.yaml (default ./log).
	Dir string `yaml:"dir"`
	// Brokers are the Kafka bootstrap brokers (host:port), for backend kafka.
	Brokers []string `yaml:"brokers"`
}

// Log backends.
const (
	LogEmbedded = "embedded"
	LogKafka    = "kafka"
)

// Project is a loaded project.
type Project struct {
	// Dir is the folder holding strata.yaml (absolute).
	Dir string
	// File is the path of strata.yaml.
	File string
	// Config is what the file says.
	Config Config
	// StorageRoot is Config.Storage resolved: an absolute path or an s3:// URL.
	StorageRoot string
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Load reads dir/strata.yaml.
func Load(dir string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(abs, FileName)
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("project: %w in %s (create one with `strata init`)", ErrNoProject, abs)
	}
	if err != nil {
		return nil, fmt.Errorf("project: %w", err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // an empty file is io.EOF
		return nil, fmt.Errorf("project: %s: %v", file, err)
	}
	if strings.TrimSpace(cfg.Storage) == "" {
		return nil, fmt.Errorf("project: %s: the storage key is required (a folder such as ./warehouse, or s3://bucket/prefix)", file)
	}
	root := cfg.Storage
	if !storage.IsRemote(root) {
		root = strings.TrimPrefix(root, "file://")
		if !filepath.IsAbs(root) {
			root = filepath.Join(abs, root)
		}
		root = filepath.Clean(root)
	}
	if err := cfg.Log.resolve(abs); err != nil {
		return nil, fmt.Errorf("project: %s: %w", file, err)
	}
	return &Project{Dir: abs, File: file, Config: cfg, StorageRoot: strings.TrimSuffix(root, "/")}, nil
}

// resolve fills the log config's defaults and makes Dir absolute.
func (c *LogConfig) resolve(projectDir string) error {
	switch c.Backend {
	case "", LogEmbedded:
		c.Backend = LogEmbedded
		if len(c.Brokers) > 0 {
			return fmt.Errorf("log: brokers are for backend kafka, not %s", c.Backend)
		}
		if c.Dir == "" {
			c.Dir = "./log"
		}
		if !filepath.IsAbs(c.Dir) {
			c.Dir = filepath.Join(projectDir, c.Dir)
		}
		c.Dir = filepath.Clean(c.Dir)
	case LogKafka:
		if len(c.Brokers) == 0 {
			return fmt.Errorf("log: backend kafka needs brokers: [host:port, ...]")
		}
		if c.Dir != "" {
			return fmt.Errorf("log: dir is for the embedded backend, not kafka")
		}
	default:
		return fmt.Errorf("log: unknown backend %q (embedded or kafka)", c.Backend)
	}
	return nil
}

// Find loads the project of dir or of its nearest parent holding a strata.yaml.
func Find(dir string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, FileName)); err == nil {
			return Load(d)
		}
		if filepath.Dir(d) == d {
			return nil, fmt.Errorf("project: %w in %s or its parents (create one with `strata init`)", ErrNoProject, abs)
		}
	}
}

// TableLocation returns where domain.table is stored. Both names must be identifiers
// ([A-Za-z_][A-Za-z0-9_]*); they are used as written (folder names are case-sensitive).
func (p *Project) TableLocation(domain, table string) (string, error) {
	if !identRe.MatchString(domain) || !identRe.MatchString(table) {
		return "", fmt.Errorf("project: %q.%q: domain and table names must be identifiers (letters, digits, _)", domain, table)
	}
	if storage.IsRemote(p.StorageRoot) {
		return p.StorageRoot + "/" + domain + "/" + table, nil
	}
	return filepath.Join(p.StorageRoot, domain, table), nil
}

// Init writes a starter strata.yaml into dir (created if needed) and returns the project. It
// refuses to overwrite an existing file.
func Init(dir string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("project: %w", err)
	}
	file := filepath.Join(abs, FileName)
	if _, err := os.Stat(file); err == nil {
		return nil, fmt.Errorf("project: %s already exists", file)
	}
	name := filepath.Base(abs)
	content := fmt.Sprintf(`# Strata project. Tables are addressed in SQL as domain.table and stored as Delta tables
# under <storage>/<domain>/<table>.
name: %s
# Where the tables live: a folder (relative to this file) or s3://bucket/prefix.
storage: ./warehouse
# The event log: embedded segment files under ./log, or a Kafka-protocol cluster
# (log: {backend: kafka, brokers: [localhost:9092]}).
log:
  backend: embedded
  dir: ./log
`, name)
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		return nil, fmt.Errorf("project: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "warehouse"), 0o755); err != nil {
		return nil, fmt.Errorf("project: %w", err)
	}
	return Load(abs)
}
