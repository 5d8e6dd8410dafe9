package serve

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// Table list caching: the list is reused for up to tablesTTL, and for at least tablesMinAge
// even when pipelines committed meanwhile. Discovering the tables (engine.ListTables, which loads
// every table's snapshot whole) happens at most every discoverTTL, or sooner when a pipeline
// commits to a table not discovered yet; in between, each table's snapshot is brought up to date
// incrementally (snapshotCache).
const (
	tablesTTL    = 5 * time.Second
	tablesMinAge = 500 * time.Millisecond
	discoverTTL  = 30 * time.Second
)

// tableEntry is one project table as /api/tables lists it.
type tableEntry struct {
	Name, Domain, Table, Location string
	Version                       int64
	NumFiles                      int
	SizeBytes                     int64
	LastCommit                    time.Time
	// Err is set when the table could not be read (the other fields are then zero).
	Err error
}

// tablesCache holds the project's table list for a few seconds: listing reads every table's
// log, and the dashboard, the tables page and /metrics all ask for it.
type tablesCache struct {
	s *Server

	mu           sync.Mutex // guards every field below; held while the list is rebuilt
	at           time.Time
	commits      uint64 // the monitor's commit count when the list was built
	list         []tableEntry
	known        []engine.TableInfo // the tables discovered
	discoveredAt time.Time
}

func newTablesCache(s *Server) *tablesCache { return &tablesCache{s: s} }

// get returns the table list, rebuilt when older than tablesTTL, or older than tablesMinAge
// when the monitor saw commits since it was built.
func (c *tablesCache) get(ctx context.Context) ([]tableEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	commits := c.s.monitor.commitCount()
	age := now.Sub(c.at)
	if c.list != nil && age < tablesTTL && (commits == c.commits || age < tablesMinAge) {
		return c.list, nil
	}
	if c.known == nil || now.Sub(c.discoveredAt) >= discoverTTL || c.undiscovered() {
		infos, err := c.s.opts.Engine.ListTables(ctx, "")
		if err != nil {
			return nil, fmt.Errorf("serve: list tables: %w", err)
		}
		c.known, c.discoveredAt = append([]engine.TableInfo{}, infos...), now
	}
	list := make([]tableEntry, 0, len(c.known))
	for _, info := range c.known {
		e := tableEntry{Name: info.Domain + "." + info.Table, Domain: info.Domain, Table: info.Table, Location: info.Location,
			Version: info.Version, NumFiles: info.NumFiles, SizeBytes: info.SizeInBytes, Err: info.Err}
		snap, err := c.s.snaps.latest(ctx, info.Location)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e.Err = fmt.Errorf("%s: %w", e.Name, err)
		} else {
			e.Err = nil
			e.Version, e.NumFiles, e.SizeBytes = snap.Version(), len(snap.Files()), snap.SizeInBytes()
			if ts, err := snap.Timestamp(ctx); err == nil {
				e.LastCommit = ts
			}
		}
		list = append(list, e)
	}
	c.list, c.at, c.commits = list, now, commits
	return list, nil
}

// undiscovered says whether the monitor saw commits to a table the last discovery did not find.
// c.mu must be held.
func (c *tablesCache) undiscovered() bool {
	known := make(map[string]bool, len(c.known))
	for _, info := range c.known {
		known[info.Domain+"."+info.Table] = true
	}
	for _, name := range c.s.monitor.tableNames() {
		if !known[name] {
			return true
		}
	}
	return false
}

// snapshotCache keeps each table's latest snapshot read so far and brings it up to date with
// Snapshot.Update (which reads only the newer commits). Safe for concurrent use.
type snapshotCache struct {
	storage storage.Options

	mu    sync.Mutex // guards snaps
	snaps map[string]*delta.Snapshot
}

func newSnapshotCache(o storage.Options) *snapshotCache {
	return &snapshotCache{storage: o, snaps: map[string]*delta.Snapshot{}}
}

// latest returns the table's latest snapshot. A location without a table gives an error wrapping
// delta.ErrNotATable.
func (c *snapshotCache) latest(ctx context.Context, location string) (*delta.Snapshot, error) {
	c.mu.Lock()
	prev := c.snaps[location]
	c.mu.Unlock()
	var snap *delta.Snapshot
	var err error
	if prev != nil {
		snap, err = prev.Update(ctx)
	}
	if prev == nil || err != nil {
		var t *table.Table
		t, err = table.Open(ctx, location, table.WithStorageOptions(c.storage))
		if err != nil {
			return nil, err
		}
		if snap, err = t.Snapshot(ctx, -1); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	if cur := c.snaps[location]; cur == nil || cur.Version() < snap.Version() {
		c.snaps[location] = snap
	}
	c.mu.Unlock()
	return snap, nil
}

// tableKind names a table's kind: streaming_table or materialized_view for pipeline tables,
// table otherwise.
func (s *Server) tableKind(name string) string {
	if s.nodes != nil {
		if n := s.nodes.stored[name]; n != nil {
			return kindName(n)
		}
	}
	return "table"
}

// tableListItem is one entry of GET /api/tables.
type tableListItem struct {
	Name                string   `json:"name"`
	Domain              string   `json:"domain"`
	Table               string   `json:"table"`
	Version             int64    `json:"version"`
	NumFiles            int      `json:"num_files"`
	SizeBytes           int64    `json:"size_bytes"`
	Kind                string   `json:"kind"`
	LastCommit          string   `json:"last_commit"`
	FreshnessSeconds    *float64 `json:"freshness_seconds"`
	FreshnessSLASeconds float64  `json:"freshness_sla_seconds"`
	Error               string   `json:"error,omitempty"`
}

// handleTables answers GET /api/tables: every project table with its version, files, size,
// kind, last commit and freshness.
func (s *Server) handleTables(w http.ResponseWriter, r *http.Request) {
	list, err := s.tables.get(r.Context())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	out := make([]tableListItem, 0, len(list))
	for _, e := range list {
		item := tableListItem{Name: e.Name, Domain: e.Domain, Table: e.Table, Version: e.Version, NumFiles: e.NumFiles,
			SizeBytes: e.SizeBytes, Kind: s.tableKind(e.Name), LastCommit: rfc3339(e.LastCommit),
			FreshnessSeconds: s.monitor.freshness(e.Name), FreshnessSLASeconds: s.sla.Seconds()}
		if e.Err != nil {
			item.Error = e.Err.Error()
		}
		out = append(out, item)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tables": out})
}

// schemaField is one column of a table's schema, with its Delta type name.
type schemaField struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// fileItem is one data file of a table.
type fileItem struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	Rows     *int64 `json:"rows"`
	Modified string `json:"modified"`
}

// historyItem is one commit of a table.
type historyItem struct {
	Version             int64          `json:"version"`
	Timestamp           string         `json:"timestamp"`
	Operation           string         `json:"operation"`
	OperationParameters map[string]any `json:"operation_parameters"`
	OperationMetrics    map[string]any `json:"operation_metrics"`
}

// tableDetail is the answer of GET /api/tables/{name}.
type tableDetail struct {
	Name                string        `json:"name"`
	Domain              string        `json:"domain"`
	Table               string        `json:"table"`
	Location            string        `json:"location"`
	Version             int64         `json:"version"`
	NumFiles            int           `json:"num_files"`
	SizeBytes           int64         `json:"size_bytes"`
	NumRows             *int64        `json:"num_rows"`
	Schema              []schemaField `json:"schema"`
	PartitionColumns    []string      `json:"partition_columns"`
	Kind                string        `json:"kind"`
	Comment             string        `json:"comment"`
	LastCommit          string        `json:"last_commit"`
	FreshnessSeconds    *float64      `json:"freshness_seconds"`
	FreshnessSLASeconds float64       `json:"freshness_sla_seconds"`
	Files               []fileItem    `json:"files"`
	History             []historyItem `json:"history"`
}

// Limits of a table's detail.
const (
	maxDetailFiles   = 100
	maxDetailHistory = 50
)

// tableSnapshot resolves a {name} path value (domain.table) to its location and latest
// snapshot: 400 when it is not a domain.table name, 404 when no table is there.
func (s *Server) tableSnapshot(ctx context.Context, name string) (domain, tbl, loc string, snap *delta.Snapshot, err error) {
	domain, tbl, ok := strings.Cut(name, ".")
	if !ok {
		return "", "", "", nil, errorf(http.StatusBadRequest, "table %q is not a domain.table name", name)
	}
	loc, err = s.proj.TableLocation(domain, tbl)
	if err != nil {
		return "", "", "", nil, errorf(http.StatusBadRequest, "table %q: %v", name, err)
	}
	snap, err = s.snaps.latest(ctx, loc)
	if errors.Is(err, delta.ErrNotATable) || errors.Is(err, fs.ErrNotExist) {
		return "", "", "", nil, errorf(http.StatusNotFound, "unknown table %s (no Delta table at %s)", name, loc)
	}
	if err != nil {
		return "", "", "", nil, fmt.Errorf("table %s: %w", name, err)
	}
	return domain, tbl, loc, snap, nil
}

// handleTable answers GET /api/tables/{name}: the table's latest snapshot (schema, partition
// columns, size, files newest first, rows from the files' statistics), its last 50 commits,
// kind, comment and freshness.
func (s *Server) handleTable(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	domain, tbl, loc, snap, err := s.tableSnapshot(r.Context(), name)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	d := tableDetail{Name: name, Domain: domain, Table: tbl, Location: loc, Version: snap.Version(), NumFiles: len(snap.Files()),
		SizeBytes: snap.SizeInBytes(), Schema: []schemaField{}, PartitionColumns: append([]string{}, snap.PartitionColumns()...),
		Kind: s.tableKind(name), FreshnessSeconds: s.monitor.freshness(name), FreshnessSLASeconds: s.sla.Seconds(),
		Files: []fileItem{}, History: []historyItem{}}
	if n, ok := snap.NumRecords(); ok {
		d.NumRows = &n
	}
	for _, f := range snap.Schema().Fields {
		d.Schema = append(d.Schema, schemaField{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable})
	}
	if md := snap.Metadata(); md != nil && md.Description != nil {
		d.Comment = *md.Description
	}
	if d.Comment == "" && s.nodes != nil {
		if n := s.nodes.stored[name]; n != nil {
			d.Comment = n.Stmt.Comment
		}
	}
	if ts, err := snap.Timestamp(r.Context()); err == nil {
		d.LastCommit = rfc3339(ts)
	}
	files := append([]*delta.Add(nil), snap.Files()...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].ModificationTime > files[j].ModificationTime })
	for _, f := range files[:min(len(files), maxDetailFiles)] {
		p, err := f.DecodedPath()
		if err != nil {
			p = f.Path
		}
		item := fileItem{Path: p, Size: f.Size, Modified: rfc3339(time.UnixMilli(f.ModificationTime))}
		if st, err := delta.ParseStats(f.Stats); err == nil && st != nil && st.NumRecords >= 0 {
			n := st.NumRecords
			item.Rows = &n
		}
		d.Files = append(d.Files, item)
	}
	hist, err := snap.Table().History(r.Context(), maxDetailHistory)
	if err != nil {
		s.writeErr(w, r, fmt.Errorf("table %s: history: %w", name, err))
		return
	}
	for _, h := range hist {
		item := historyItem{Version: h.Version, Timestamp: rfc3339(h.Timestamp), Operation: h.Operation,
			OperationParameters: h.OperationParameters, OperationMetrics: h.OperationMetrics}
		if item.OperationParameters == nil {
			item.OperationParameters = map[string]any{}
		}
		if item.OperationMetrics == nil {
			item.OperationMetrics = map[string]any{}
		}
		d.History = append(d.History, item)
	}
	writeJSON(w, http.StatusOK, d)
}

// handleTableRows answers GET /api/tables/{name}/rows?version=N&limit=100 with the rows of the
// table at that version (time travel; the latest without version), in /api/sql's JSON shape.
func (s *Server) handleTableRows(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	domain, tbl, _, snap, err := s.tableSnapshot(r.Context(), name)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, err := queryInt(q.Get("limit"), "limit")
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if limit < 0 || limit > MaxRowsLimit {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %d is not between 1 and %d", limit, MaxRowsLimit))
		return
	}
	if limit == 0 {
		limit = 100
	}
	sql := "SELECT * FROM " + domain + "." + tbl
	if v := q.Get("version"); v != "" {
		version, err := strconv.ParseInt(v, 10, 64)
		if err != nil || version < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("version=%q is not a table version (0, 1, ...)", v))
			return
		}
		if version > snap.Version() {
			writeError(w, http.StatusNotFound, fmt.Sprintf("table %s has no version %d (latest: %d)", name, version, snap.Version()))
			return
		}
		sql += " AT (VERSION => " + strconv.FormatInt(version, 10) + ")"
	}
	sql += " LIMIT " + strconv.FormatInt(limit+1, 10)
	s.answerQuery(w, r, sql, formatJSON, int(limit), s.opts.QueryTimeout)
}
