package embedded

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// The crash test: a child process (this test binary, re-executed to run TestCrashChild) produces
// from several goroutines under SyncEveryBatch and prints every acknowledged record; the parent
// kills it with SIGKILL at a random moment, reopens the log and checks that every acknowledged
// record is there, then starts a new child, again and again. The child also compacts a topic in
// a loop, so kills land in compactions too.
const (
	crashChildDirEnv   = "STRATA_LOG_CRASH_CHILD_DIR"
	crashChildSeedEnv  = "STRATA_LOG_CRASH_CHILD_SEED"
	crashIterationsEnv = "STRATA_LOG_CRASH_ITERATIONS" // default 20
	crashSeedEnv       = "STRATA_LOG_CRASH_SEED"       // default: the time

	crashPartitions  = 4 // topic "t": plain, checked offset by offset
	crashCPartitions = 2 // topic "c": compacted, checked key by key
	crashKeys        = 16
	crashProducers   = 8
)

func crashOptions() []Option {
	return []Option{SyncEveryBatch(), SegmentBytes(8 << 10), IndexIntervalBytes(512), CleanInterval(0)}
}

func recordHash(key, value []byte) uint64 {
	h := fnv.New64a()
	h.Write(key)
	h.Write([]byte{0})
	h.Write(value)
	return h.Sum64()
}

// TestCrashChild is the child half of TestCrash; it does nothing unless TestCrash started it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildDirEnv)
	if dir == "" {
		t.Skip("the child of TestCrash; runs only when started by it")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashChildSeedEnv), 10, 64)
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, "ERR "+format+"\n", args...)
		os.Exit(3)
	}
	ctx := context.Background()
	l, err := Open(ctx, dir, crashOptions()...)
	if err != nil {
		fail("open: %v", err)
	}
	var outMu sync.Mutex
	emit := func(b []byte) { // one write per call: atomic on a pipe up to PIPE_BUF bytes
		outMu.Lock()
		defer outMu.Unlock()
		if _, err := os.Stdout.Write(b); err != nil {
			os.Exit(4)
		}
	}
	emit([]byte("READY\n"))
	for g := range crashProducers {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			for seq := 0; ; seq++ {
				var recs []log.Record
				topic := "t"
				if g%4 == 3 {
					topic = "c"
					p := int32(rng.IntN(crashCPartitions))
					for range 1 + rng.IntN(3) {
						key := fmt.Appendf(nil, "k%d", rng.IntN(crashKeys))
						recs = append(recs, log.Record{Partition: p, Key: key, Value: fmt.Appendf(nil, "g%d-s%d-%x", g, seq, rng.Uint64())})
					}
				} else {
					p := int32(rng.IntN(crashPartitions))
					for range 1 + rng.IntN(5) {
						val := bytes.Repeat(fmt.Appendf(nil, "g%d-s%d-%x;", g, seq, rng.Uint64()), 1+rng.IntN(8))
						recs = append(recs, log.Record{Partition: p, Value: val})
					}
				}
				out, err := l.Produce(ctx, topic, recs)
				if err != nil {
					fail("produce: %v", err)
				}
				var b []byte
				for _, r := range out {
					key := "-"
					if r.Key != nil {
						key = string(r.Key)
					}
					b = fmt.Appendf(b, "A %s %d %d %s %x\n", r.Topic, r.Partition, r.Offset, key, recordHash(r.Key, r.Value))
				}
				emit(b)
			}
		}()
	}
	go func() {
		for {
			if err := l.Clean(ctx); err != nil {
				fail("clean: %v", err)
			}
			time.Sleep(10 * time.Millisecond) // pacing only
		}
	}()
	select {} // until killed
}

// ack is one acknowledged record.
type ack struct {
	offset int64
	hash   uint64
}

// crashState is what the parent knows was acknowledged, over all the children.
type crashState struct {
	plain  [crashPartitions]map[int64]uint64 // topic t: offset -> hash
	latest [crashCPartitions]map[string]ack  // topic c: key -> highest acknowledged record
	count  int                               // acknowledged records
	repair map[string]int                    // recovery repairs seen, by kind
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	iterations := 20
	if s := os.Getenv(crashIterationsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashIterationsEnv, s)
		}
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = n
	}
	t.Logf("crash test: %d kills, seed %d (rerun with %s=%d)", iterations, seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	l, err := Open(context.Background(), dir, crashOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, l, "t", log.TopicConfig{Partitions: crashPartitions})
	mustCreate(t, l, "c", log.TopicConfig{Partitions: crashCPartitions, Compact: true})
	closeLog(t, l)

	st := &crashState{repair: map[string]int{}}
	for i := range st.plain {
		st.plain[i] = map[int64]uint64{}
	}
	for i := range st.latest {
		st.latest[i] = map[string]ack{}
	}
	for it := range iterations {
		// Most kills come while the child produces; some during its startup and recovery.
		waitReady := rng.IntN(4) != 0
		delay := time.Duration(5+rng.IntN(250)) * time.Millisecond
		lines := runCrashChild(t, dir, rng.Uint64(), waitReady, delay)
		n := st.apply(t, lines)
		st.verify(t, dir)
		t.Logf("kill %d (after %v, waiting for ready: %v): %d records acknowledged, %d in total", it+1, delay, waitReady, n, st.count)
	}
	if st.count == 0 {
		t.Fatal("no child acknowledged any record")
	}
	t.Logf("repairs seen on reopen: %v", st.repair)
}

// runCrashChild starts a child, kills it with SIGKILL after delay (counted from its READY line
// when waitReady), and returns the lines it printed.
func runCrashChild(t *testing.T, dir string, seed uint64, waitReady bool, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), crashChildDirEnv+"="+dir, crashChildSeedEnv+"="+strconv.FormatUint(seed, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	linesCh := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if line == "READY" {
				once.Do(func() { close(ready) })
				continue
			}
			lines = append(lines, line)
		}
		once.Do(func() { close(ready) })
		linesCh <- lines
	}()
	if waitReady {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("child not ready after a minute; stderr:\n%s", stderr.String())
		}
	}
	time.Sleep(delay) // the moment of the kill: not an assertion
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	lines := <-linesCh
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended by itself (%v) before the kill; output:\n%s\nstderr:\n%s", err, strings.Join(lines, "\n"), stderr.String())
	}
	return lines
}

// apply records the acknowledgements of one child.
func (st *crashState) apply(t *testing.T, lines []string) int {
	t.Helper()
	n := 0
	for _, line := range lines {
		if strings.HasPrefix(line, "ERR ") {
			t.Fatalf("child failed: %s", line)
		}
		f := strings.Fields(line)
		if len(f) != 6 || f[0] != "A" {
			continue // test framework output
		}
		p, err1 := strconv.Atoi(f[2])
		off, err2 := strconv.ParseInt(f[3], 10, 64)
		h, err3 := strconv.ParseUint(f[5], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("bad child line %q", line)
		}
		switch f[1] {
		case "t":
			if prev, dup := st.plain[p][off]; dup {
				t.Fatalf("partition %d offset %d acknowledged twice (%x, then %x)", p, off, prev, h)
			}
			st.plain[p][off] = h
		case "c":
			if a, ok := st.latest[p][f[4]]; !ok || a.offset < off {
				st.latest[p][f[4]] = ack{off, h}
			}
		}
		n++
	}
	st.count += n
	return n
}

// verify opens the log (recovering it) and checks every acknowledgement.
func (st *crashState) verify(t *testing.T, dir string) {
	t.Helper()
	l, err := Open(context.Background(), dir, crashOptions()...)
	if err != nil {
		t.Fatalf("Open after kill: %v", err)
	}
	defer closeLog(t, l)
	r := l.Recovery()
	st.repair["truncated"] += len(r.Truncated)
	st.repair["rebuilt"] += len(r.RebuiltIndexes)
	st.repair["swaps"] += len(r.CompletedSwaps)
	st.repair["removed"] += len(r.RemovedFiles)

	for p := range int32(crashPartitions) {
		recs := readAll(t, l, "t", p)
		for i, rec := range recs {
			if rec.Offset != int64(i) {
				t.Fatalf("t/%d: record %d at offset %d: offsets not contiguous from 0", p, i, rec.Offset)
			}
		}
		for off, h := range st.plain[p] {
			if off >= int64(len(recs)) {
				t.Fatalf("t/%d: acknowledged offset %d lost (the partition holds %d records)", p, off, len(recs))
			}
			if got := recordHash(recs[off].Key, recs[off].Value); got != h {
				t.Fatalf("t/%d: offset %d holds %x, acknowledged %x", p, off, got, h)
			}
		}
	}
	for p := range int32(crashCPartitions) {
		recs := readAll(t, l, "c", p)
		present := map[string]log.Record{} // key -> latest present record
		prev := int64(-1)
		for _, rec := range recs {
			if rec.Offset <= prev {
				t.Fatalf("c/%d: offset %d after %d", p, rec.Offset, prev)
			}
			prev = rec.Offset
			present[string(rec.Key)] = rec
		}
		_, latest, _ := l.Offsets(context.Background(), "c", p)
		for key, a := range st.latest[p] {
			if a.offset >= latest {
				t.Fatalf("c/%d: acknowledged offset %d at or past Latest %d", p, a.offset, latest)
			}
			got, ok := present[key]
			switch {
			case !ok || got.Offset < a.offset:
				t.Fatalf("c/%d: key %s acknowledged at offset %d, latest present %v", p, key, a.offset, offsetOr(got, ok))
			case got.Offset == a.offset && recordHash(got.Key, got.Value) != a.hash:
				t.Fatalf("c/%d: key %s offset %d holds %x, acknowledged %x", p, key, a.offset, recordHash(got.Key, got.Value), a.hash)
			}
		}
	}
}

func offsetOr(r log.Record, ok bool) string {
	if !ok {
		return "none"
	}
	return strconv.FormatInt(r.Offset, 10)
}
