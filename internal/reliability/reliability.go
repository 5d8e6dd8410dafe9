// Package reliability is Strata's reliability harness (strata bench reliability): it runs the
// platform under faults and checks that nothing is lost or corrupted. Its sections:
//
//   - crash: the e-commerce demo (generator, pipelines in stream mode, servers) as a child process
//     killed with SIGKILL at random moments and restarted, then drained and checked: every record
//     of the log in bronze exactly once, silver and gold equal to a recomputation from bronze,
//     every version of every table readable by Strata and by delta-rs, and a second drain that
//     changes nothing (crash.go);
//   - storage: table writes through storage.Faulty on a local folder and on an in-process S3
//     server: errors, timeouts, slow calls, put-if-absent races lost, crashes between the data
//     files and the commit, out-of-space; each write succeeds or fails cleanly, the log stays
//     whole, every acknowledged row is there once, orphans are unreferenced (storage.go);
//   - writers: processes running random operations (appends, partition overwrites, DELETE,
//     UPDATE, MERGE, OPTIMIZE, streaming appends with txn ids) against shared tables, locally and
//     on S3, with a checker that replays the committed log (writers.go);
//   - badinput: pipelines fed malformed records and files (broken JSON, wrong types, missing
//     fields, huge fields, invalid UTF-8, a truncated Parquet file): each bad input quarantined
//     with its reason and position, counted, and the run goes on (badinput.go);
//   - load: the HTTP ingest endpoint and the serving API under concurrent load while the
//     pipelines run: no error but 429 with Retry-After, no acknowledged record lost, memory
//     bounded (load.go).
//
// A section reports what it did in a Report; an anomaly is a broken promise (a lost or duplicated
// record, a corrupt log, an unclean error), and a run with anomalies exits non-zero. An error
// returned by a section is a failure of the harness itself (it could not run the check), and is
// reported as such. The fuzz targets of the same issue run with go test (test/fuzz.sh).
package reliability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure a run.
type Options struct {
	// Dir is the working folder; each section works in Dir/<section>. Required.
	Dir string
	// Seed makes a run repeatable (except for timing).
	Seed uint64
	// Iterations is the number of kills of the crash loop; other sections scale their operation
	// counts from it (see each section).
	Iterations int
	// Duration bounds the timed parts (the load, the concurrent writers, the generator's run
	// between kills is random and not bounded by it).
	Duration time.Duration
	// Sections selects sections by name; empty runs all, in the order of Sections.
	Sections []string
	// Exe is the strata executable the child processes run (the crash loop's demo, the writers'
	// workers, the load section's server). Required by those sections.
	Exe string
	// Python is a Python interpreter with the deltalake package, for the delta-rs checks; when
	// empty or without deltalake, those checks are skipped and the report says so.
	Python string
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
}

// Report is what one section did and found. Its methods are safe for concurrent use.
type Report struct {
	Section    string  `json:"section"`
	ElapsedS   float64 `json:"elapsed_s"`
	Iterations int64   `json:"iterations"`
	// FaultsInjected counts faults by kind ("sigkill", "transient", "no-space", ...).
	FaultsInjected       map[string]int64 `json:"faults_injected"`
	OperationsChecked    int64            `json:"operations_checked"`
	RecordsAccounted     int64            `json:"records_accounted"`
	BadInputsQuarantined int64            `json:"bad_inputs_quarantined"`
	// Anomalies are the broken promises found, one sentence each, naming what and where.
	Anomalies []string `json:"anomalies"`
	// Skipped lists checks that did not run, with the reason.
	Skipped []string `json:"skipped,omitempty"`
	// Figures are section-specific measurements (latencies, peak memory, counts by kind).
	Figures map[string]any `json:"figures,omitempty"`

	mu sync.Mutex
}

// Anomaly records a broken promise.
func (r *Report) Anomaly(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Anomalies = append(r.Anomalies, fmt.Sprintf(format, args...))
}

// Fault counts n faults of a kind.
func (r *Report) Fault(kind string, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.FaultsInjected == nil {
		r.FaultsInjected = map[string]int64{}
	}
	r.FaultsInjected[kind] += n
}

// Skip records a check that did not run and why.
func (r *Report) Skip(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Skipped = append(r.Skipped, fmt.Sprintf(format, args...))
}

// Figure records a section-specific measurement.
func (r *Report) Figure(name string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Figures == nil {
		r.Figures = map[string]any{}
	}
	r.Figures[name] = v
}

// Add adds to the counters: operations checked, records accounted, bad inputs quarantined.
func (r *Report) Add(operations, records, quarantined int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.OperationsChecked += operations
	r.RecordsAccounted += records
	r.BadInputsQuarantined += quarantined
}

// faults is the total of FaultsInjected.
func (r *Report) faults() int64 {
	var n int64
	for _, v := range r.FaultsInjected {
		n += v
	}
	return n
}

// Env is what a section runs with.
type Env struct {
	Options
	// Dir is the section's own folder (created, empty).
	Dir string
	// Log is never nil.
	Log *slog.Logger
}

// Section is one part of the harness.
type Section struct {
	Name string
	// Doc is one line for --help.
	Doc string
	// Run does the section's work, recording into rep. An error is a failure of the harness.
	Run func(ctx context.Context, env Env, rep *Report) error
}

// Sections are the harness's sections, in the order a full run takes them.
var Sections = []Section{
	{Name: "crash", Doc: "the demo killed with SIGKILL --iterations times, then drained and checked", Run: runCrash},
	{Name: "storage", Doc: "table writes through injected storage faults, local and S3", Run: runStorage},
	{Name: "writers", Doc: "concurrent writer processes with random operations, checked against the log", Run: runWriters},
	{Name: "badinput", Doc: "pipelines fed malformed records and files: all quarantined, none lost", Run: runBadInput},
	{Name: "load", Doc: "HTTP ingest and the serving API under load while the pipelines run", Run: runLoad},
}

// Summary is the outcome of a run: totals over the sections, and each section's report.
type Summary struct {
	Seed                 uint64           `json:"seed"`
	ElapsedS             float64          `json:"elapsed_s"`
	Iterations           int64            `json:"iterations"`
	FaultsInjected       int64            `json:"faults_injected"`
	FaultsByKind         map[string]int64 `json:"faults_by_kind"`
	OperationsChecked    int64            `json:"operations_checked"`
	RecordsAccounted     int64            `json:"records_accounted"`
	BadInputsQuarantined int64            `json:"bad_inputs_quarantined"`
	Anomalies            int              `json:"anomalies"`
	// Findings are the anomalies, each prefixed with its section.
	Findings []string `json:"findings"`
	// Errors are sections that could not run to the end (the harness failed, not the platform).
	Errors   []string  `json:"errors,omitempty"`
	Sections []*Report `json:"sections"`
}

// Failed reports whether the run found an anomaly or could not complete.
func (s *Summary) Failed() bool { return s.Anomalies > 0 || len(s.Errors) > 0 }

// Run runs the selected sections one after the other and sums up. It returns an error only when
// the options are wrong; a section that fails is in Summary.Errors.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	if opts.Dir == "" {
		return nil, errors.New("reliability: no working folder")
	}
	for _, name := range opts.Sections {
		if !slices.ContainsFunc(Sections, func(s Section) bool { return s.Name == name }) {
			return nil, fmt.Errorf("reliability: no section %q (sections: %s)", name, SectionNames())
		}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	sum := &Summary{Seed: opts.Seed, FaultsByKind: map[string]int64{}, Findings: []string{}}
	for _, sec := range Sections {
		if len(opts.Sections) > 0 && !slices.Contains(opts.Sections, sec.Name) {
			continue
		}
		if ctx.Err() != nil {
			sum.Errors = append(sum.Errors, fmt.Sprintf("%s: not run: %v", sec.Name, ctx.Err()))
			continue
		}
		dir := filepath.Join(opts.Dir, sec.Name)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("reliability: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("reliability: %w", err)
		}
		rep := &Report{Section: sec.Name, FaultsInjected: map[string]int64{}, Anomalies: []string{}}
		log.Info("section started", "section", sec.Name)
		t0 := time.Now()
		err := sec.Run(ctx, Env{Options: opts, Dir: dir, Log: log.With("section", sec.Name)}, rep)
		rep.ElapsedS = time.Since(t0).Seconds()
		if err != nil {
			sum.Errors = append(sum.Errors, fmt.Sprintf("%s: %v", sec.Name, err))
		}
		log.Info("section done", "section", sec.Name, "elapsed", time.Since(t0).Round(time.Millisecond),
			"anomalies", len(rep.Anomalies), "error", err)
		sum.Sections = append(sum.Sections, rep)
		sum.Iterations += rep.Iterations
		for k, v := range rep.FaultsInjected {
			sum.FaultsByKind[k] += v
		}
		sum.FaultsInjected += rep.faults()
		sum.OperationsChecked += rep.OperationsChecked
		sum.RecordsAccounted += rep.RecordsAccounted
		sum.BadInputsQuarantined += rep.BadInputsQuarantined
		sum.Anomalies += len(rep.Anomalies)
		for _, a := range rep.Anomalies {
			sum.Findings = append(sum.Findings, sec.Name+": "+a)
		}
	}
	sum.ElapsedS = time.Since(start).Seconds()
	return sum, nil
}

// SectionNames lists the sections' names, comma-separated.
func SectionNames() string {
	names := make([]string, len(Sections))
	for i, s := range Sections {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// FaultKinds returns the fault kinds of a summary, sorted, for printing.
func (s *Summary) FaultKinds() []string {
	kinds := make([]string, 0, len(s.FaultsByKind))
	for k := range s.FaultsByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// workers are the child-process roles of the sections, run as `strata bench reliability --worker
// ROLE`; a worker reads its instructions from its environment (see each role).
var workers = map[string]func(ctx context.Context) error{
	"writer": runWriterWorker,
}

// RunWorker runs the child-process role named role.
func RunWorker(ctx context.Context, role string) error {
	w, ok := workers[role]
	if !ok {
		return fmt.Errorf("reliability: no worker role %q", role)
	}
	return w(ctx)
}
