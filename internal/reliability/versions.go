package reliability

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// The version check: every version of every Delta table must load and scan, with Strata and
// with delta-rs, and both must count the same rows. It is shared by the sections that leave
// Delta tables behind (crash; others may call CheckTableVersions on their own tables).
//
// A version may be legitimately gone, and is then counted, not reported:
//   - its commit file was removed by log cleanup (delta.logRetentionDuration): the versions below
//     the earliest commit still in _delta_log, or a version Strata reports as ErrVersionNotFound
//     while the log no longer starts at version 0;
//   - a data file it references was removed by VACUUM: the file is missing and a later commit of
//     the table is a VACUUM (VACUUM START / VACUUM END), the only operation that deletes data
//     files.
//
// Anything else that fails to load or scan, or a row count that differs from the snapshot's
// statistics or from delta-rs's, is an anomaly.

//go:embed deltars_versions.py
var deltaRSVersionsScript string

// TableVersions is what CheckTableVersions found for one table.
type TableVersions struct {
	// Location is the table's root folder.
	Location string `json:"location"`
	// Versions are the versions Strata read, ascending, with their row counts in Rows.
	Versions []int64 `json:"versions"`
	Rows     []int64 `json:"rows"`
	// Gone counts versions legitimately unreadable (log cleanup, VACUUM), by cause.
	Gone map[string]int `json:"gone,omitempty"`
	// Failed counts versions that failed (each also reported as an anomaly).
	Failed int `json:"failed"`
}

// VersionsSummary sums up CheckTableVersions over tables.
type VersionsSummary struct {
	Tables     []TableVersions
	Checked    int64 // (table, version) pairs Strata loaded and scanned
	DeltaRS    int64 // of those, read by delta-rs too
	Failed     int64 // pairs that failed with either reader
	Gone       int64 // pairs legitimately gone
	DeltaRSRan bool  // whether delta-rs ran
}

// FindDeltaTables returns the roots of the Delta tables under root (folders holding a
// _delta_log folder), sorted. Tables are not nested in one another.
func FindDeltaTables(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "_delta_log" {
			out = append(out, filepath.Dir(path))
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reliability: find Delta tables under %s: %w", root, err)
	}
	sort.Strings(out)
	return out, nil
}

// CheckTableVersions loads every version of each table at locations with Strata (a snapshot and a
// scan counting the rows, compared with the snapshot's statistics) and, when env.Python is set,
// with delta-rs (deltaRSWorkers python3 processes, each table handed to them as soon as Strata has
// read it, whose row counts must equal Strata's). Anomalies go to rep, each (table, version) read is
// an operation checked. It returns an error only when the check itself cannot run (ctx cancelled,
// python3 failing).
func CheckTableVersions(ctx context.Context, env Env, rep *Report, locations []string) (*VersionsSummary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the delta-rs readers when Strata's reads fail
	sum := &VersionsSummary{}
	var rs *deltaRSReaders
	if env.Python != "" {
		var err error
		if rs, err = startDeltaRS(ctx, env, rep); err != nil {
			return nil, err
		}
	}
	last := time.Now()
	for i, loc := range locations {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tv, err := strataVersions(ctx, env, loc, rep)
		if err != nil {
			return nil, err
		}
		sum.Tables = append(sum.Tables, *tv)
		sum.Checked += int64(len(tv.Versions))
		sum.Failed += int64(tv.Failed)
		for _, n := range tv.Gone {
			sum.Gone += int64(n)
		}
		if rs != nil {
			rs.submit(*tv)
		}
		if time.Since(last) > 10*time.Second {
			env.Log.Info("versions: reading every table version with Strata", "tables_done", i+1, "of", len(locations), "versions", sum.Checked)
			last = time.Now()
		}
	}
	rep.Add(sum.Checked, 0, 0)
	if rs == nil {
		rep.Skip("delta-rs version reads: no python3 with deltalake (--python)")
		return sum, nil
	}
	env.Log.Info("versions: Strata read every version; waiting for delta-rs", "versions", sum.Checked)
	n, failed, ran, err := rs.wait()
	if err != nil {
		return nil, err
	}
	sum.DeltaRSRan = ran
	sum.DeltaRS = n
	sum.Failed += failed
	rep.Add(n, 0, 0)
	return sum, nil
}

// strataVersions reads every version of one table with Strata.
func strataVersions(ctx context.Context, env Env, loc string, rep *Report) (*TableVersions, error) {
	tv := &TableVersions{Location: loc, Gone: map[string]int{}}
	t, err := table.Open(ctx, loc)
	if err != nil {
		rep.Anomaly("%s: open: %v", loc, err)
		tv.Failed++
		return tv, nil
	}
	// One listing of the log for all versions (the history's own, then the reader's).
	reader, err := t.Kernel().NewVersionReader(ctx)
	if err != nil {
		rep.Anomaly("%s: list the log: %v", loc, err)
		tv.Failed++
		return tv, nil
	}
	hist, err := t.Kernel().History(ctx, 0)
	if err != nil {
		rep.Anomaly("%s: history: %v", loc, err)
		tv.Failed++
		return tv, nil
	}
	if len(hist) == 0 {
		rep.Anomaly("%s: a _delta_log without commits", loc)
		tv.Failed++
		return tv, nil
	}
	slices.SortFunc(hist, func(a, b delta.HistoryEntry) int { return int(a.Version - b.Version) })
	earliest := hist[0].Version
	if earliest > 0 {
		tv.Gone["log cleanup"] += int(earliest)
	}
	// vacuumedAfter[v]: some commit after v is a VACUUM.
	lastVacuum := int64(-1)
	for _, h := range hist {
		if strings.HasPrefix(h.Operation, "VACUUM") {
			lastVacuum = h.Version
		}
	}
	files := map[string]fileCount{} // the rows of each data file read so far
	statRows := map[string]int64{}  // numRecords of each stats string parsed so far
	last := time.Now()
	for i, h := range hist {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if time.Since(last) > 10*time.Second {
			env.Log.Info("versions: reading a table's versions with Strata", "table", loc, "done", i, "of", len(hist))
			last = time.Now()
		}
		v := h.Version
		rows, err := scanVersion(ctx, t, reader, v, files, statRows)
		switch {
		case err == nil:
			tv.Versions = append(tv.Versions, v)
			tv.Rows = append(tv.Rows, rows)
		case errors.Is(err, delta.ErrVersionNotFound) && earliest > 0:
			tv.Gone["log cleanup"]++
		case (errors.Is(err, storage.ErrNotFound) || errors.Is(err, fs.ErrNotExist)) && lastVacuum > v:
			tv.Gone["vacuum"]++
		default:
			rep.Anomaly("%s: version %d (%s) does not read with Strata: %v", loc, v, h.Operation, err)
			tv.Failed++
		}
	}
	return tv, nil
}

// errRowCount marks a scan whose row count differs from the snapshot's statistics.
var errRowCount = errors.New("row count differs from the snapshot's statistics")

// fileCount is what reading one data file gave: its rows, or the error.
type fileCount struct {
	rows int64
	err  error
}

// scanVersion loads version v of t (through reader: the same replay as t.Snapshot, one listing
// for all versions) and counts its rows by reading each of its data files (one
// column; a file already read for an earlier version, without deletion vector, is not read
// again: files are immutable), checking the count against the snapshot's numRecords statistics
// when every file has them (statRows caches numRecords by stats string: parsing every file's
// statistics again at every version took a third of the check's time).
func scanVersion(ctx context.Context, t *table.Table, reader *delta.VersionReader, v int64, files map[string]fileCount, statRows map[string]int64) (int64, error) {
	snap, err := reader.Snapshot(ctx, v)
	if err != nil {
		return 0, err
	}
	var cols []string
	if schema := snap.Schema(); schema != nil {
		for _, f := range schema.Fields {
			if !slices.Contains(snap.PartitionColumns(), f.Name) {
				cols = []string{f.Name}
				break
			}
		}
	}
	var rows int64
	for _, add := range snap.Files() {
		fc, seen := files[add.Path]
		if !seen || add.DeletionVector != nil {
			fc = scanFile(ctx, t, snap, add, cols)
			if add.DeletionVector == nil {
				files[add.Path] = fc
			}
		}
		if fc.err != nil {
			return 0, fc.err
		}
		rows += fc.rows
	}
	if want, ok := numRecords(snap, statRows); ok && want != rows {
		return rows, fmt.Errorf("%w: scanned %d rows, statistics say %d", errRowCount, rows, want)
	}
	return rows, nil
}

// numRecords is snap.NumRecords with each stats string parsed once (cache).
func numRecords(snap *delta.Snapshot, cache map[string]int64) (n int64, ok bool) {
	for _, f := range snap.Files() {
		rows, seen := cache[f.Stats]
		if !seen {
			var err error
			if rows, err = delta.StatsNumRecords(f.Stats); err != nil {
				rows = -1
			}
			cache[f.Stats] = rows
		}
		if rows < 0 {
			return 0, false
		}
		n += rows
		if f.DeletionVector != nil {
			n -= f.DeletionVector.Cardinality
		}
	}
	return n, true
}

// scanFile reads one data file of snap and counts its rows.
func scanFile(ctx context.Context, t *table.Table, snap *delta.Snapshot, add *delta.Add, cols []string) fileCount {
	sc, err := t.Scan(ctx, snap, table.ScanOptions{Columns: cols, Files: []*delta.Add{add}})
	if err != nil {
		return fileCount{err: err}
	}
	defer sc.Release()
	var rows int64
	for sc.Next() {
		rows += sc.RecordBatch().NumRows()
	}
	return fileCount{rows: rows, err: sc.Err()}
}

// deltaRSWorkers is the number of python3 processes reading versions with delta-rs. Two keep both
// of a CI machine's cores busy once Strata has read every table.
const deltaRSWorkers = 2

// deltaRSRequest is one table for the delta-rs script; deltaRSAnswer one version it read, or the end
// of a table (Done).
type deltaRSRequest struct {
	Path     string  `json:"path"`
	Versions []int64 `json:"versions"`
}

type deltaRSAnswer struct {
	Path    string `json:"path"`
	Version int64  `json:"version"`
	Rows    int64  `json:"rows"`
	Error   string `json:"error"`
	Done    bool   `json:"done"`
}

// deltaRSReaders reads tables' versions with delta-rs (deltars_versions.py) in deltaRSWorkers
// processes, as Strata hands them over, and compares the row counts with Strata's.
type deltaRSReaders struct {
	env  Env
	rep  *Report
	jobs chan TableVersions
	g    *errgroup.Group
	ctx  context.Context // g's: done when a reader fails

	mu           sync.Mutex
	read, failed int64
	missing      bool // a worker found no deltalake module
	last         time.Time
}

func startDeltaRS(ctx context.Context, env Env, rep *Report) (*deltaRSReaders, error) {
	script := filepath.Join(env.Dir, "deltars_versions.py")
	if err := os.WriteFile(script, []byte(deltaRSVersionsScript), 0o644); err != nil {
		return nil, fmt.Errorf("reliability: %w", err)
	}
	r := &deltaRSReaders{env: env, rep: rep, jobs: make(chan TableVersions), last: time.Now()}
	r.g, r.ctx = errgroup.WithContext(ctx)
	for range deltaRSWorkers {
		r.g.Go(func() error { return r.work(r.ctx, script) })
	}
	return r, nil
}

// submit hands a table Strata has read to the delta-rs readers.
func (r *deltaRSReaders) submit(tv TableVersions) {
	if len(tv.Versions) == 0 {
		return
	}
	select {
	case r.jobs <- tv:
	case <-r.ctx.Done(): // a reader failed: wait reports it
	}
}

// wait returns, once every submitted table is read, the (table, version) pairs delta-rs read and
// those that failed, and whether delta-rs ran (false: no deltalake module, reported as skipped).
func (r *deltaRSReaders) wait() (read, failed int64, ran bool, err error) {
	close(r.jobs)
	if err := r.g.Wait(); err != nil {
		return 0, 0, false, err
	}
	if r.missing {
		r.rep.Skip("delta-rs version reads: %s has no deltalake module", r.env.Python)
		return r.read, r.failed, false, nil
	}
	return r.read, r.failed, true, nil
}

// work runs one python3 process and feeds it tables, one JSON line each, until jobs is closed.
func (r *deltaRSReaders) work(ctx context.Context, script string) error {
	cmd := exec.CommandContext(ctx, r.env.Python, script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("reliability: start %s: %w", r.env.Python, err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	failure := func(err error) error {
		in.Close()
		werr := cmd.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if strings.Contains(stderr.String(), "No module named 'deltalake'") {
			r.mu.Lock()
			r.missing = true
			r.mu.Unlock()
			for range r.jobs { // drain: the other worker fails the same way
			}
			return nil
		}
		return fmt.Errorf("reliability: delta-rs version reader: %w (exit: %v): %s", err, werr, tailString(stderr.String(), 2000))
	}
	for tv := range r.jobs {
		line, err := json.Marshal(deltaRSRequest{Path: tv.Location, Versions: tv.Versions})
		if err != nil {
			return err
		}
		if _, err := in.Write(append(line, '\n')); err != nil {
			return failure(err)
		}
		if err := r.readTable(sc, tv); err != nil {
			return failure(err)
		}
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return failure(err)
	}
	return nil
}

// readTable reads the script's answers for tv up to its Done line and checks them.
func (r *deltaRSReaders) readTable(sc *bufio.Scanner, tv TableVersions) error {
	want := make(map[int64]int64, len(tv.Versions))
	for i, v := range tv.Versions {
		want[v] = tv.Rows[i]
	}
	seen := map[int64]bool{}
	for sc.Scan() {
		var a deltaRSAnswer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil || a.Path != tv.Location {
			continue // not an answer line
		}
		if a.Done {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, v := range tv.Versions {
				if !seen[v] {
					r.failed++
					r.rep.Anomaly("%s: version %d: delta-rs gave no answer", tv.Location, v)
				}
			}
			return nil
		}
		seen[a.Version] = true
		exp := want[a.Version]
		r.mu.Lock()
		r.read++
		switch {
		case a.Error != "":
			r.failed++
			r.rep.Anomaly("%s: version %d reads with Strata (%d rows) but not with delta-rs: %s", a.Path, a.Version, exp, a.Error)
		case a.Rows != exp:
			r.failed++
			r.rep.Anomaly("%s: version %d: Strata counts %d rows, delta-rs %d", a.Path, a.Version, exp, a.Rows)
		}
		if time.Since(r.last) > 10*time.Second {
			r.env.Log.Info("versions: reading every table version with delta-rs", "versions", r.read)
			r.last = time.Now()
		}
		r.mu.Unlock()
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// tailString returns the last n bytes of s.
func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
