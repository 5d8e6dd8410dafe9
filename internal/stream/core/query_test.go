package core

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestQueryScenarios drives whole queries through testdata/query/* with the test driver of
// harness_test.go. Every command runs twice, on two drivers: one straight, one that restarts the
// Query from its persisted key/values after every completed batch. Their outputs and their
// persisted key/values (byte for byte) must be equal, which is the restore-equivalence property:
// persisted state plus the offsets log are the whole state of a query.
//
//	query <config args>          a new query (see parseConfig); every source starts with
//	                             partition 0
//	topic <source> [partitions=N] [delta]
//	                             add partitions to a source / make it a Delta-like source whose
//	                             positions are versions
//	produce                      append records, one per line: "src/part key time values..."
//	truncate <src/part> start=N  retention removed positions before N
//	tick <time> [crash=write-ahead|sink|persist]
//	                             set the clock (seconds or a Go duration since the epoch), run the
//	                             driver loop, print batches, output and the wait
//	sink | late                  the output and late-data tables
//	state                        the persisted key/values, decoded
func TestQueryScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/query", func(t *testing.T, path string) {
		var straight, restoring *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "query" {
				args := map[string][]string{}
				for _, a := range d.CmdArgs {
					args[a.Key] = a.Vals
				}
				cfg, err := parseConfig(args)
				if err != nil {
					return "error: " + err.Error()
				}
				if straight, err = newHarness(cfg, false); err != nil {
					return "error: " + err.Error()
				}
				restoring, _ = newHarness(cfg, true)
				return "ok"
			}
			if straight == nil {
				t.Fatalf("%s: no query yet", d.Pos)
			}
			a := runCommand(t, straight, d)
			b := runCommand(t, restoring, d)
			if a != b {
				t.Errorf("%s: restoring after every batch changed the output\nstraight:\n%s\nrestoring:\n%s", d.Pos, a, b)
			}
			if !maps.EqualFunc(straight.store, restoring.store, bytes.Equal) {
				t.Errorf("%s: restoring after every batch changed the persisted state\nstraight:\n%s\nrestoring:\n%s",
					d.Pos, describeStore(straight.store), describeStore(restoring.store))
			}
			return a
		})
	})
}

func runCommand(t *testing.T, h *harness, d *datadriven.TestData) string {
	h.out.Reset()
	switch d.Cmd {
	case "topic":
		src := h.sources[d.CmdArgs[0].Key]
		if src == nil {
			return "error: unknown source"
		}
		if d.HasArg("delta") {
			src.delta = true
		}
		var n int
		if d.MaybeScanArgs(t, "partitions", &n) {
			for i := range n {
				h.partition(PartitionID{d.CmdArgs[0].Key, int32(i)})
			}
		}
		return "ok"
	case "produce":
		if err := h.produce(d.Input); err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "truncate":
		id, err := parsePartition(d.CmdArgs[0].Key)
		if err != nil {
			return "error: " + err.Error()
		}
		var start int
		d.ScanArgs(t, "start", &start)
		h.partition(id).start = int64(start)
		return "ok"
	case "tick":
		dur, err := parseDuration(d.CmdArgs[0].Key)
		if err != nil {
			return "error: " + err.Error()
		}
		h.now = time.Unix(0, 0).Add(dur)
		var crash string
		d.MaybeScanArgs(t, "crash", &crash)
		if err := h.drive(crash); err != nil {
			h.printf("error: %v\n", err)
			for _, s := range []error{ErrDataLoss, ErrKindMismatch, ErrOverflow, ErrProtocol} {
				if errors.Is(err, s) {
					h.printf("(is %v)\n", s)
				}
			}
		}
		return h.out.String()
	case "sink":
		return fmtLines(h.sink.contents())
	case "late":
		return fmtLines(h.late.contents())
	case "state":
		return describeStore(h.store)
	case "metrics":
		m := h.q.Metrics()
		return fmt.Sprintf("batches=%d in=%d out=%d late=%d dups=%d wm=%s state=%d/%dB\n",
			m.Batches, m.InputRows, m.OutputRows, m.LateRows, m.DuplicateRows, fmtWatermark(m.Watermark), m.State.Entries, m.State.Bytes)
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

func fmtLines(lines []string) string {
	if len(lines) == 0 {
		return "(empty)\n"
	}
	return strings.Join(lines, "\n") + "\n"
}
