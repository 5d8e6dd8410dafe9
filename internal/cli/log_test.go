package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

func TestLogCommands(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	strata := func(args ...string) cliResult {
		t.Helper()
		return runStrata(t, append(args, "--log-dir", logDir)...)
	}
	ok := func(r cliResult) cliResult {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		return r
	}
	ok(strata("log", "topic", "create", "orders", "--partitions", "2", "--retention", "7d", "--retention", "1GB"))
	if r := strata("log", "topic", "create", "orders"); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("second create: exit %d, %s", r.code, r.stderr)
	}
	for _, bad := range []string{"soon", "0d", "12XB"} {
		if r := strata("log", "topic", "create", "t2", "--retention", bad); r.code != 2 || !strings.Contains(r.stderr, "--retention") {
			t.Errorf("--retention %s: exit %d, %s", bad, r.code, r.stderr)
		}
	}

	input := filepath.Join(dir, "orders.ndjson")
	var lines []string
	for i := 0; i < 20; i++ {
		lines = append(lines, `{"order_id":`+itoa(i)+`,"user":"u`+itoa(i%5)+`","ts":"2026-01-01T10:00:`+pad2(i)+`Z"}`)
	}
	bad := strings.Join(lines[:3], "\n") + "\n{\"order_id\": oops}\n" + strings.Join(lines[3:], "\n") + "\n[1]\n"
	if err := os.WriteFile(input, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r := strata("log", "produce", "orders", "--file", input, "--key-field", "user")
	if r.code != 1 || !strings.Contains(r.stderr, "orders.ndjson:4:14") || !strings.Contains(r.stderr, "orders.ndjson:22:1") || !strings.Contains(r.stderr, "nothing was written") {
		t.Fatalf("malformed input: exit %d, %s", r.code, r.stderr)
	}
	var desc struct {
		Partitions []struct{ Records int64 } `json:"partitions"`
		Config     struct {
			RetentionMs    int64 `json:"retentionMs"`
			RetentionBytes int64 `json:"retentionBytes"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(ok(strata("log", "topic", "describe", "orders", "--json")).stdout), &desc); err != nil {
		t.Fatal(err)
	}
	if len(desc.Partitions) != 2 || desc.Partitions[0].Records+desc.Partitions[1].Records != 0 {
		t.Fatalf("after a refused produce: %+v", desc)
	}
	if desc.Config.RetentionMs != (7*24*time.Hour).Milliseconds() || desc.Config.RetentionBytes != 1e9 {
		t.Errorf("retention %+v", desc.Config)
	}

	if err := os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(strata("log", "produce", "orders", "--file", input, "--key-field", "user", "--timestamp-field", "ts"))
	list := ok(strata("log", "topic", "list")).stdout
	if !strings.Contains(list, "orders") || !strings.Contains(list, "20") {
		t.Errorf("topic list:\n%s", list)
	}

	// Every record once, keyed by user; the same user always in the same partition.
	out := ok(strata("log", "consume", "orders", "--json")).stdout
	userPart := map[string]int32{}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			Partition int32
			Key       string
			Value     map[string]any
			Timestamp time.Time
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if p, seen := userPart[rec.Key]; seen && p != rec.Partition {
			t.Errorf("key %s in partitions %d and %d", rec.Key, p, rec.Partition)
		}
		userPart[rec.Key] = rec.Partition
		if rec.Value["user"] != rec.Key {
			t.Errorf("record %s: key %q", line, rec.Key)
		}
		if want, _ := time.Parse(time.RFC3339, rec.Value["ts"].(string)); !rec.Timestamp.Equal(want) {
			t.Errorf("timestamp %s, want %s", rec.Timestamp, want)
		}
		n++
	}
	if n != 20 {
		t.Fatalf("consumed %d records, want 20", n)
	}

	// A group resumes where it committed.
	first := ok(strata("log", "consume", "orders", "--group", "g", "--max", "7"))
	rest := ok(strata("log", "consume", "orders", "--group", "g"))
	again := ok(strata("log", "consume", "orders", "--group", "g"))
	if c1, c2, c3 := countLines(first.stdout), countLines(rest.stdout), countLines(again.stdout); c1 != 7 || c2 != 13 || c3 != 0 {
		t.Errorf("group reads %d, %d, %d records; want 7, 13, 0", c1, c2, c3)
	}
	// A time: the first record at or after it, per partition.
	late := ok(strata("log", "consume", "orders", "--from", "2026-01-01T10:00:15Z"))
	if c := countLines(late.stdout); c != 5 {
		t.Errorf("--from a time read %d records, want 5:\n%s", c, late.stdout)
	}
	if r := strata("log", "consume", "orders", "--from", "99"); r.code == 0 || !strings.Contains(r.stderr, "holds offsets") {
		t.Errorf("--from past the end: exit %d, %s", r.code, r.stderr)
	}
	if r := strata("log", "consume", "nope"); r.code != 1 || !strings.Contains(r.stderr, log.ErrUnknownTopic.Error()) {
		t.Errorf("unknown topic: exit %d, %s", r.code, r.stderr)
	}
	ok(strata("log", "topic", "delete", "orders"))
	if r := strata("log", "topic", "describe", "orders"); r.code != 1 {
		t.Errorf("describe a deleted topic: exit %d", r.code)
	}
}

func countLines(s string) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	return strings.Count(s, "\n") + 1
}

func itoa(i int) string { return strconv.Itoa(i) }

func pad2(i int) string { return fmt.Sprintf("%02d", i) }
