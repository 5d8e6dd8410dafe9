package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/table"
)

// ErrBadSchedule reports a schedule: that is not a cron expression.
var ErrBadSchedule = errors.New("bad schedule")

// cronParser reads the five-field cron syntax (minute hour day-of-month month day-of-week) and
// the descriptors @daily, @hourly, @every 10m...
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a pipelines entry's schedule (cron syntax, UTC).
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v (want cron syntax such as \"0 2 * * *\")", ErrBadSchedule, spec, err)
	}
	return s, nil
}

// Schedule is a set of tables that run as batches at the times of one cron expression.
type Schedule struct {
	Cron string `json:"cron"`
	// Tables are the stored tables (streaming tables and materialized views) of the entry.
	Tables []string `json:"tables"`
}

// Schedules returns the pipeline's schedules, one per distinct cron expression, in order of
// the expression.
func (p *Pipeline) Schedules() []Schedule {
	by := map[string]*Schedule{}
	for _, n := range p.Tables() {
		if n.Schedule == "" {
			continue
		}
		s := by[n.Schedule]
		if s == nil {
			s = &Schedule{Cron: n.Schedule}
			by[n.Schedule] = s
		}
		s.Tables = append(s.Tables, n.Name)
	}
	out := make([]Schedule, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cron < out[j].Cron })
	return out
}

// Continuous returns the stored tables without a schedule: strata serve runs them as a stream.
func (p *Pipeline) Continuous() []string {
	var out []string
	for _, n := range p.Tables() {
		if n.Schedule == "" {
			out = append(out, n.Name)
		}
	}
	return out
}

// ServeOptions configure Pipeline.Serve.
type ServeOptions struct {
	// Run holds the options of every run (Log, Logger, OnEvent, PollInterval...); Mode,
	// Refresh and the full-refresh fields are set by Serve.
	Run RunOptions
	// SkipInitialBatch: without it, every schedule runs once when Serve starts (then at its
	// times), so that a fresh start does not wait for the night.
	SkipInitialBatch bool
	// BeforeBatch, if set, runs before each scheduled batch (the demo drops the night's landing
	// files there); an error skips that batch and is logged.
	BeforeBatch func(ctx context.Context, s Schedule, at time.Time) error
	// OnScheduled, if set, is told the next time of each schedule whenever it changes.
	OnScheduled func(s Schedule, next time.Time)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// CompactEvery is how often the append-only tables of the stream run are checked for
	// small files (default DefaultCompactEvery; negative: never); a table with at least
	// CompactMinFiles files below the target size is compacted (OPTIMIZE, bin-packing).
	CompactEvery    time.Duration
	CompactMinFiles int
}

// Defaults of ServeOptions' compaction.
const (
	DefaultCompactEvery    = 30 * time.Second
	DefaultCompactMinFiles = 32
)

// Serve keeps the pipeline running until ctx ends: the tables without a schedule as one stream
// run, and each schedule's tables as a batch run at the times of its cron expression (UTC), one
// at a time per schedule. A failed scheduled batch is logged and recorded in the event log; it
// does not stop the others. Serve returns nil when stopped by ctx, or the stream run's error.
func (p *Pipeline) Serve(ctx context.Context, opts ServeOptions) error {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	logger := opts.Run.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range p.Schedules() {
		spec, err := ParseSchedule(s.Cron)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := !opts.SkipInitialBatch
			for {
				at := now()
				if !first {
					next := spec.Next(now().UTC())
					if opts.OnScheduled != nil {
						opts.OnScheduled(s, next)
					}
					t := time.NewTimer(time.Until(next))
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
					at = next
				}
				first = false
				if opts.BeforeBatch != nil {
					if err := opts.BeforeBatch(ctx, s, at); err != nil {
						if ctx.Err() != nil {
							return
						}
						logger.Error("scheduled batch skipped", "schedule", s.Cron, "err", err)
						continue
					}
				}
				ro := opts.Run
				ro.Mode, ro.Refresh, ro.FullRefresh, ro.FullRefreshAll, ro.IdleStop = Batch, s.Tables, nil, false, 0
				sum, err := p.Run(ctx, ro)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					logger.Error("scheduled batch failed", "schedule", s.Cron, "err", err)
				} else {
					logger.Info("scheduled batch done", "schedule", s.Cron, "tables", len(s.Tables), "ms", sum.DurationMS)
				}
			}
		}()
	}
	if opts.CompactEvery >= 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.compactLoop(ctx, opts, logger)
		}()
	}
	var err error
	if cont := p.Continuous(); len(cont) > 0 {
		ro := opts.Run
		ro.Mode, ro.Refresh, ro.FullRefresh, ro.FullRefreshAll = Stream, cont, nil, false
		_, err = p.Run(ctx, ro)
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("pipeline: stream run: %w", err)
		} else {
			err = nil
		}
	} else {
		<-ctx.Done()
	}
	cancel()
	wg.Wait()
	return err
}

// compactLoop compacts the stream run's append-only tables now and then. A stream writes a few
// small files per batch; readers (and the queries clients send) slow down with every file a table
// holds, so a long-running pipeline compacts them as Delta's auto compaction does. Only tables
// written by blind appends are compacted: the rewrite (dataChange false, which streaming readers
// skip) never conflicts with their writers, whereas a view's upserts read the files they replace.
// A compaction that fails (a conflict, a storage error) is logged and tried again later.
func (p *Pipeline) compactLoop(ctx context.Context, opts ServeOptions, logger *slog.Logger) {
	every := opts.CompactEvery
	if every == 0 {
		every = DefaultCompactEvery
	}
	minFiles := opts.CompactMinFiles
	if minFiles <= 0 {
		minFiles = DefaultCompactMinFiles
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, loc := range p.appendOnlyLocations() {
			if ctx.Err() != nil {
				return
			}
			if !tableExists(loc) || smallFiles(ctx, loc) < minFiles {
				continue
			}
			res, err := p.eng.Optimize(ctx, loc, engine.OptimizeOptions{MinFileSize: compactSmallFile, TargetFileSize: compactTarget})
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Warn("compaction failed; will retry", "table", loc, "err", err)
			case err == nil && res.Committed:
				logger.Info("compacted", "table", loc, "files_removed", res.Metrics.NumRemovedFiles, "files_added", res.Metrics.NumAddedFiles, "version", res.Version)
			}
		}
	}
}

// Compaction sizes: files under compactSmallFile are packed into files of about compactTarget.
const (
	compactSmallFile = 8 << 20
	compactTarget    = 64 << 20
)

// appendOnlyLocations lists the tables of the stream run written only by blind appends: streaming
// tables without AUTO CDC flows, their late and quarantine tables, file intake tables, and the
// pipeline event log.
func (p *Pipeline) appendOnlyLocations() []string {
	var out []string
	if loc, err := p.Project.TableLocation("_strata", "pipeline_events"); err == nil {
		out = append(out, loc)
	}
	for _, n := range p.Tables() {
		if n.Schedule != "" || n.Kind() != StreamingTable || len(n.Flows) > 0 || n.info == nil || n.info.mode != ModeStream {
			continue
		}
		out = append(out, n.Location, n.Location+"_late", n.Location+"_quarantine")
		if fi := n.info.intake; fi != nil {
			out = append(out, fi.Table, fi.Quarantine)
		}
	}
	return out
}

// smallFiles counts the files of a table's latest snapshot smaller than compactSmallFile (0 when
// it cannot be read).
func smallFiles(ctx context.Context, loc string) int {
	t, err := table.Open(ctx, loc)
	if err != nil {
		return 0
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return 0
	}
	n := 0
	for _, f := range snap.Files() {
		if f.Size < compactSmallFile {
			n++
		}
	}
	return n
}
