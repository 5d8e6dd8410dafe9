package concurrency

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// The test binary re-executes itself as worker processes. These variables carry a worker's
// instructions; roleEnv switches TestMain into the worker role.
const (
	roleEnv        = "STRATA_CONCURRENCY_ROLE"         // "writer" (concurrency test) or "crash"
	locationEnv    = "STRATA_CONCURRENCY_LOCATION"     // table location (directory or s3:// URL)
	workerEnv      = "STRATA_CONCURRENCY_WORKER"       // worker number (writer) or iteration (crash)
	seedEnv        = "STRATA_CONCURRENCY_SEED"         // the test's seed; also read by the parent
	opsEnv         = "STRATA_CONCURRENCY_OPS"          // operations per writer
	recordsEnv     = "STRATA_CONCURRENCY_RECORDS"      // path of the worker's JSON-lines record file
	faultyEnv      = "STRATA_CONCURRENCY_FAULTY"       // "1": write through storage.Faulty
	itersEnv       = "STRATA_CRASH_ITERATIONS"         // kills per crash test
	durationEnv    = "STRATA_CONCURRENCY_DURATION"     // writer: start operations for this long instead of a fixed count
	appendsOnlyEnv = "STRATA_CONCURRENCY_APPENDS_ONLY" // writer: "1": only blind appends, no think time
)

// Worker roles.
const (
	roleWriter = "writer"
	roleCrash  = "crash"
)

func TestMain(m *testing.M) {
	switch role := os.Getenv(roleEnv); role {
	case "":
		os.Exit(m.Run())
	case roleWriter, roleCrash:
		if err := runWorker(role); err != nil {
			fmt.Fprintf(os.Stderr, "%s worker: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", roleEnv, role)
		os.Exit(2)
	}
}

// workerConfig is a worker's view of its environment.
type workerConfig struct {
	location string
	worker   int
	seed     uint64
	ops      int
	records  string
	faulty   bool
	// duration and appendsOnly shape a writer's workload (see scenario).
	duration    time.Duration
	appendsOnly bool
}

func runWorker(role string) error {
	cfg := workerConfig{
		location: os.Getenv(locationEnv),
		records:  os.Getenv(recordsEnv),
		faulty:   os.Getenv(faultyEnv) == "1",

		appendsOnly: os.Getenv(appendsOnlyEnv) == "1",
	}
	var err error
	if cfg.worker, err = strconv.Atoi(os.Getenv(workerEnv)); err != nil {
		return fmt.Errorf("%s: %w", workerEnv, err)
	}
	if cfg.seed, err = strconv.ParseUint(os.Getenv(seedEnv), 10, 64); err != nil {
		return fmt.Errorf("%s: %w", seedEnv, err)
	}
	if s := os.Getenv(opsEnv); s != "" {
		if cfg.ops, err = strconv.Atoi(s); err != nil {
			return fmt.Errorf("%s: %w", opsEnv, err)
		}
	}
	if s := os.Getenv(durationEnv); s != "" {
		if cfg.duration, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%s: %w", durationEnv, err)
		}
	}
	if role == roleWriter {
		return runWriter(cfg)
	}
	return runCrashWorker(cfg)
}

// testSeed returns STRATA_CONCURRENCY_SEED if set, else a seed from the clock, and logs it so a
// failing run can be repeated.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(seedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", seedEnv, s, err)
		}
	}
	t.Logf("seed %d (repeat with %s=%d)", seed, seedEnv, seed)
	return seed
}

// workerProc is a running worker process. The worker prints "ready" on stdout once it has opened
// the table and then waits for one byte on stdin before it starts writing, so the parent controls
// when work starts.
type workerProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  *bufio.Reader
	stderr bytes.Buffer
}

// startWorker starts the test binary in role with env added to the parent's environment.
func startWorker(t *testing.T, name, role string, env []string) *workerProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	w := &workerProc{name: name, cmd: exec.Command(exe)}
	w.cmd.Env = append(append(os.Environ(), env...), roleEnv+"="+role)
	w.cmd.Stderr = &w.stderr
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.ready = bufio.NewReader(stdout)
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	// A test that fails half-way must not leave its worker running.
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	})
	return w
}

// waitReady blocks until the worker printed its ready line.
func (w *workerProc) waitReady(t *testing.T) {
	t.Helper()
	line, err := w.ready.ReadString('\n')
	if err != nil || line != "ready\n" {
		w.cmd.Process.Kill()
		w.cmd.Wait()
		t.Fatalf("%s did not become ready (%q, %v): %s", w.name, line, err, w.stderr.String())
	}
}

// release lets the worker start writing.
func (w *workerProc) release() {
	w.stdin.Write([]byte{1})
	w.stdin.Close()
}

// signalReadyAndWait is the worker's side of the handshake.
func signalReadyAndWait() error {
	if _, err := os.Stdout.WriteString("ready\n"); err != nil {
		return err
	}
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		return fmt.Errorf("waiting for the start signal: %w", err)
	}
	return nil
}
