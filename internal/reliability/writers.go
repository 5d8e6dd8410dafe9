package reliability

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/table"
)

// The writers section (issue 7, item 3): wWriters worker processes (`strata bench reliability
// --worker writer`, writers_worker.go) run random operations against one shared table, first on
// a local folder, then on an in-process S3 server: blind appends, streaming appends with txn ids
// (several workers deliver batches of the same streams, and sometimes re-deliver a batch the
// table has), partition overwrites (table.Write), DELETE, UPDATE, MERGE and OPTIMIZE (SQL through
// internal/engine, as users run them). Each worker records every operation's intent and outcome.
// The parent then parses the log itself and checks (writers_check.go):
//
//   - the log is whole and contiguous, every commit is exactly one recorded operation's and of
//     its kind, and every operation acknowledged at a version is there (no lost or duplicated
//     write, no duplicated file, no remove of a file that is not live);
//   - the content of every version (read by Strata's scanner) equals the committed operations
//     applied in log order to a model, under WriteSerializable semantics;
//   - each committed operation had no conflicting commit between its read version and its own
//     (no lost update), and each reported conflict names a commit that conflicts under Delta's
//     rules with the kind they give;
//   - a stream's batches land once each, in order; a batch skipped as already written was there;
//   - a DELETE or UPDATE that changed nothing had nothing to change;
//   - the kernel's snapshot of each version has the live files the replay gives, and every file
//     the last version references exists with its size;
//   - every version of the local table reads with Strata and with delta-rs (when --python has
//     deltalake) with the same row counts (CheckTableVersions).
//
// Scale: wWriters workers, each running up to max(5, 10·Iterations) operations, for at most
// Duration per backend.

// wWriters is the number of worker processes per backend.
const wWriters = 4

// wStreams is the number of streams (appIds) the workers share.
const wStreams = 3

// wSetupRows is the number of rows the parent writes before the workers start (ids 1..).
const wSetupRows = 12

// wMaxScans bounds the versions scanned per backend (the last is always scanned).
const wMaxScans = 400

// runWriters runs the section on a local folder, then on an in-process S3 server.
func runWriters(ctx context.Context, env Env, rep *Report) error {
	if env.Exe == "" {
		return errors.New("writers: no strata executable for the worker processes")
	}
	local := filepath.Join(env.Dir, "local", "table")
	if err := runWritersOn(ctx, env, rep, "local", local, nil, storage.Options{}); err != nil {
		return err
	}
	// Every version of the local table read by Strata and by delta-rs, with the same row counts.
	if _, err := CheckTableVersions(ctx, env, rep, []string{local}); err != nil {
		return fmt.Errorf("writers: %w", err)
	}
	srv, err := s3test.Serve("127.0.0.1:0", "")
	if err != nil {
		return fmt.Errorf("writers: start the S3 server: %w", err)
	}
	defer srv.Close()
	return runWritersOn(ctx, env, rep, "s3", srv.Location("writers/table"), srv.Env(), storage.Options{
		S3Endpoint: srv.Endpoint, S3Region: srv.Region, S3AccessKey: srv.AccessKey, S3SecretKey: srv.SecretKey,
	})
}

// runWritersOn creates the table at location, runs the workers against it and checks what they
// leave. childEnv is added to the workers' environment; sopts is how the parent opens the table.
func runWritersOn(ctx context.Context, env Env, rep *Report, backend, location string, childEnv []string, sopts storage.Options) error {
	dir := filepath.Join(env.Dir, backend)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writers: %w", err)
	}
	tbl, err := table.Open(ctx, location, table.WithStorageOptions(sopts))
	if err != nil {
		return fmt.Errorf("writers %s: open %s: %w", backend, location, err)
	}
	// A short checkpoint interval makes the workers write checkpoints while others read the log.
	if _, err := tbl.Create(ctx, delta.CreateOptions{Schema: wSchema(), PartitionColumns: []string{"p"},
		Properties: map[string]string{"delta.checkpointInterval": "5"}}); err != nil {
		return fmt.Errorf("writers %s: create %s: %w", backend, location, err)
	}
	setup := &wOp{Op: "setup", Worker: "parent", Kind: wAppend}
	for i := range wSetupRows {
		setup.Rows = append(setup.Rows, wRow{ID: int64(i + 1), P: wPartitions[i%len(wPartitions)]})
	}
	res, err := tbl.Write(ctx, wRowSource{rows: setup.Rows}, table.WriteOptions{Mode: table.Append, UserMetadata: setup.Op})
	if err != nil {
		return fmt.Errorf("writers %s: setup write: %w", backend, err)
	}
	wRecordOutcome(setup, res, nil)

	opsPerWriter := max(5, 10*env.Iterations)
	env.Log.Info("writers: starting workers", "backend", backend, "writers", wWriters, "ops_each", opsPerWriter, "duration", env.Duration)
	records, err := runWriterProcs(ctx, env, rep, backend, dir, location, childEnv, opsPerWriter)
	if err != nil {
		return err
	}
	ops, err := readWriterRecords(records...)
	if err != nil {
		return err
	}
	ops = append([]*wOp{setup}, ops...)
	return checkWriters(ctx, env, rep, backend, tbl, ops)
}

// runWriterProcs starts the workers, releases them at once and waits for them, logging progress.
// It returns their record files. A worker that fails is an anomaly (a crash), not a harness
// error: its records are still checked.
func runWriterProcs(ctx context.Context, env Env, rep *Report, backend, dir, location string, childEnv []string, ops int) ([]string, error) {
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout io.Reader
		stderr bytes.Buffer
		done   chan error // set once a goroutine waits for the process
		exited bool       // the process was waited for
	}
	wctx, cancel := context.WithCancel(ctx)
	var procs []*proc
	var records []string
	defer func() {
		cancel()
		for _, p := range procs {
			switch {
			case p.exited:
			case p.done != nil:
				<-p.done
			default:
				p.cmd.Wait()
			}
		}
	}()
	for w := range wWriters {
		rec := filepath.Join(dir, fmt.Sprintf("w%d.jsonl", w))
		records = append(records, rec)
		p := &proc{cmd: exec.CommandContext(wctx, env.Exe, "bench", "reliability", "--worker", "writer")}
		p.cmd.Env = append(append(os.Environ(), childEnv...),
			wEnvLocation+"="+location,
			wEnvWorker+"="+strconv.Itoa(w),
			wEnvWriters+"="+strconv.Itoa(wWriters),
			wEnvSeed+"="+strconv.FormatUint(env.Seed, 10),
			wEnvOps+"="+strconv.Itoa(ops),
			wEnvDuration+"="+env.Duration.String(),
			wEnvRecords+"="+rec,
			wEnvStreams+"="+strconv.Itoa(wStreams),
			wEnvCache+"="+filepath.Join(env.Dir, "cache"),
		)
		p.cmd.Stderr = &p.stderr
		var err error
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			return nil, fmt.Errorf("writers: %w", err)
		}
		if p.stdout, err = p.cmd.StdoutPipe(); err != nil {
			return nil, fmt.Errorf("writers: %w", err)
		}
		if err := p.cmd.Start(); err != nil {
			return nil, fmt.Errorf("writers: start worker %d: %w", w, err)
		}
		procs = append(procs, p)
	}
	// The workers open the table and their engine in parallel; each says when it is ready.
	for w, p := range procs {
		line, err := bufio.NewReader(p.stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			cancel()
			werr := p.cmd.Wait()
			p.exited = true
			return nil, fmt.Errorf("writers %s: worker %d did not become ready (%q, %v, %v): %s", backend, w, line, err, werr, wTail(p.stderr.String()))
		}
	}
	for _, p := range procs {
		p.done = make(chan error, 1)
		go func(p *proc) { p.done <- p.cmd.Wait() }(p)
	}
	for _, p := range procs {
		p.stdin.Write([]byte{1})
		p.stdin.Close()
	}
	started := time.Now()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for w, p := range procs {
		for waiting := true; waiting; {
			select {
			case err := <-p.done:
				p.exited, waiting = true, false
				if err != nil {
					if ctx.Err() != nil {
						return nil, fmt.Errorf("writers %s: %w", backend, ctx.Err())
					}
					rep.Anomaly("%s: writer worker %d failed: %v: %s", backend, w, err, wTail(p.stderr.String()))
				}
			case <-tick.C:
				env.Log.Info("writers: workers running", "backend", backend, "elapsed", time.Since(started).Round(time.Second),
					"operations_recorded", wCountLines(records))
			}
		}
	}
	env.Log.Info("writers: workers done", "backend", backend, "elapsed", time.Since(started).Round(time.Millisecond),
		"operations_recorded", wCountLines(records))
	return records, nil
}

// checkWriters checks the table the workers left against their records and reports.
func checkWriters(ctx context.Context, env Env, rep *Report, backend string, tbl *table.Table, ops []*wOp) error {
	anomaly := func(format string, args ...any) { rep.Anomaly(backend+": "+format, args...) }
	commits, err := readWriterLog(ctx, tbl)
	if errors.Is(err, delta.ErrCorrupt) {
		anomaly("%v", err)
		return nil
	}
	if err != nil {
		return err
	}
	chk := newWritersCheck(ops, commits, anomaly)
	latest := chk.latest()
	step := max(1, (latest+wMaxScans-1)/wMaxScans)
	last := time.Now()
	scanned := 0
	for v := int64(0); v <= latest; v++ {
		if v%step != 0 && v != latest {
			continue
		}
		if err := chk.checkLiveFiles(ctx, tbl, v, v == latest); err != nil {
			return err
		}
		rows, err := scanWriterRows(ctx, tbl, v)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			anomaly("%v", err)
			continue
		}
		chk.compareContent(v, rows)
		scanned++
		if time.Since(last) > 10*time.Second {
			env.Log.Info("writers: checking versions", "backend", backend, "version", v, "of", latest)
			last = time.Now()
		}
	}
	counts := map[string]int64{}
	for _, op := range ops {
		counts[op.Kind+":"+op.Outcome]++
	}
	rep.Iterations += int64(len(ops) - 1)
	rep.Add(int64(len(ops)), int64(len(chk.rows[latest])), 0)
	rep.Figure(backend+"_versions", latest+1)
	rep.Figure(backend+"_versions_scanned", scanned)
	rep.Figure(backend+"_outcomes", counts)
	rep.Figure(backend+"_conflicts", chk.Conflicts)
	rep.Figure(backend+"_gave_up", chk.GaveUp)
	rep.Figure(backend+"_rows_changed", chk.RowsChanged)
	rep.Figure(backend+"_final_rows", len(chk.rows[latest]))
	env.Log.Info("writers: checked", "backend", backend, "operations", len(ops), "versions", latest+1, "scanned", scanned,
		"final_rows", len(chk.rows[latest]), "conflicts", chk.Conflicts)
	return nil
}

// wCountLines counts the lines of files (records written so far).
func wCountLines(paths []string) int {
	n := 0
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			n += bytes.Count(b, []byte{'\n'})
		}
	}
	return n
}

// wTail returns the last lines of a worker's stderr.
func wTail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}
