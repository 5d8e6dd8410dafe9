package delta

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/stratalake/strata/internal/storage"
)

// The scenario tests drive the kernel through testdata files (cockroachdb/datadriven):
//
//	commit            write the input lines as the next commit file (raw JSON, or the short forms
//	                  below); prints the version
//	snapshot [version=N]
//	                  replay and print the state
//	tx read=N [read-whole] [read-pred=<sql>] [read-files=a,b] [app=<id>:<v>]
//	                  commit the input actions as a transaction that read version N
//	                  (a stale N simulates a lost race); prints the outcome
//
// Short action forms: `protocol R W [readerFeatures] [writerFeatures]`,
// `metadata <schema: name:type,...> [parts=a,b] [k=v ...]`, `add <path> [k=v partition values]
// [dv=<inline z85>:<size>:<card>] [nochange]`, `remove <path> [nochange]`, `txn <app> <version>`,
// `domain <name> <config> [removed]`, `info blind` (commitInfo with isBlindAppend).
func TestScenarios(t *testing.T) {
	// testdata/fuzz holds Go fuzz corpora, not scenarios: walk the scenario folders only.
	for _, dir := range []string{"testdata/replay", "testdata/conflicts"} {
		t.Run(filepath.Base(dir), func(t *testing.T) { walkScenarios(t, dir) })
	}
}

func walkScenarios(t *testing.T, dir string) {
	datadriven.Walk(t, dir, func(t *testing.T, path string) {
		store, err := storage.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		sc := &scenario{store: store, tbl: NewTable(store, nil, WithClock(func() time.Time { return clock }))}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return strings.ReplaceAll(sc.run(t, d), store.Root(), "TABLE")
		})
	})
}

type scenario struct {
	store *storage.Local
	tbl   *Table
	next  int64 // the next version a `commit` writes
}

func (sc *scenario) run(t *testing.T, d *datadriven.TestData) string {
	ctx := context.Background()
	store, tbl := sc.store, sc.tbl
	switch d.Cmd {
	case "commit":
		actions, err := parseShortActions(d.Input)
		if err != nil {
			return "error: " + err.Error()
		}
		data, err := EncodeCommit(actions)
		if err != nil {
			return "error: " + err.Error()
		}
		if err := store.PutIfAbsent(ctx, CommitKey(sc.next), data); err != nil {
			return "error: " + err.Error()
		}
		sc.next++
		return fmt.Sprintf("version %d", sc.next-1)
	case "snapshot":
		v := int64(-1)
		if d.HasArg("version") {
			var n int
			d.ScanArgs(t, "version", &n)
			v = int64(n)
		}
		snap, err := tbl.Snapshot(ctx, v)
		if err != nil {
			return "error: " + err.Error()
		}
		return describeSnapshot(snap)
	case "tx":
		var read int
		d.ScanArgs(t, "read", &read)
		snap, err := tbl.Snapshot(ctx, int64(read))
		if err != nil {
			return "error: " + err.Error()
		}
		actions, err := parseShortActions(d.Input)
		if err != nil {
			return "error: " + err.Error()
		}
		tx := tbl.NewTransaction(snap, Operation{Name: "TEST"})
		tx.Backoff = time.Microsecond
		for _, arg := range d.CmdArgs {
			switch arg.Key {
			case "read-whole":
				tx.ReadWholeTable()
			case "read-pred":
				e, err := ParsePredicate(strings.Join(arg.Vals, ","))
				if err != nil {
					return "error: " + err.Error()
				}
				tx.ReadPredicate(e)
			case "read-files":
				for _, p := range arg.Vals {
					tx.ReadFiles(&Add{Path: p})
				}
			case "app":
				id, ver, _ := strings.Cut(arg.Vals[0], ":")
				n, _ := strconv.ParseInt(ver, 10, 64)
				tx.SetAppTransaction(id, n)
			}
		}
		for _, a := range actions {
			switch {
			case a.Add != nil:
				tx.AddFiles(a.Add)
			case a.Remove != nil:
				tx.RemoveFiles(a.Remove)
			case a.Metadata != nil:
				tx.SetMetadata(a.Metadata)
			case a.Protocol != nil:
				tx.SetProtocol(a.Protocol)
			case a.DomainMetadata != nil:
				tx.SetDomainMetadata(a.DomainMetadata)
			}
		}
		res, err := tx.Commit(ctx)
		var ce *ConflictError
		if errors.As(err, &ce) {
			return fmt.Sprintf("conflict %s at version %d: %s", ce.Kind, ce.WinningVersion, ce.Detail)
		}
		if err != nil {
			return "error: " + err.Error()
		}
		sc.next = res.Version + 1
		return fmt.Sprintf("committed version %d after %d attempts (blind append: %v)", res.Version, res.Attempts, tx.IsBlindAppend())
	}
	return "unknown command " + d.Cmd
}

func describeSnapshot(s *Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: %d\n", s.Version())
	fmt.Fprintf(&b, "protocol: %d %d %v %v\n", s.protocol.MinReaderVersion, s.protocol.MinWriterVersion, s.protocol.ReaderFeatures, s.protocol.WriterFeatures)
	fmt.Fprintf(&b, "schema: %s\n", s.schema)
	if len(s.metadata.PartitionColumns) > 0 {
		fmt.Fprintf(&b, "partitioned by: %s\n", strings.Join(s.metadata.PartitionColumns, ", "))
	}
	for _, f := range s.Files() {
		fmt.Fprintf(&b, "file: %s%s%s\n", f.Path, fmtPV(f.PartitionValues), fmtDV(f.DeletionVector))
	}
	for _, r := range s.Tombstones() {
		fmt.Fprintf(&b, "tombstone: %s%s\n", r.Path, fmtDV(r.DeletionVector))
	}
	apps := make([]string, 0, len(s.txns))
	for a := range s.txns {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	for _, a := range apps {
		fmt.Fprintf(&b, "txn: %s=%d\n", a, s.txns[a].Version)
	}
	doms := make([]string, 0, len(s.domains))
	for d := range s.domains {
		doms = append(doms, d)
	}
	sort.Strings(doms)
	for _, d := range doms {
		fmt.Fprintf(&b, "domain: %s=%s\n", d, s.domains[d].Configuration)
	}
	return b.String()
}

func fmtPV(pv PartitionValues) string {
	if len(pv) == 0 {
		return ""
	}
	keys := make([]string, 0, len(pv))
	for k := range pv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := pv[k]
		if v == "" {
			v = "NULL"
		}
		parts[i] = k + "=" + v
	}
	return " [" + strings.Join(parts, " ") + "]"
}

func fmtDV(dv *DeletionVector) string {
	if dv == nil {
		return ""
	}
	return " dv=" + dv.UniqueID()
}

func parseShortActions(input string) ([]Action, error) {
	var out []Action
	for _, line := range strings.Split(input, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "{") {
			acts, err := ParseCommit("input", []byte(line))
			if err != nil {
				return nil, err
			}
			out = append(out, acts...)
			continue
		}
		f := strings.Fields(line)
		switch f[0] {
		case "protocol":
			r, _ := strconv.Atoi(f[1])
			w, _ := strconv.Atoi(f[2])
			p := &Protocol{MinReaderVersion: r, MinWriterVersion: w}
			if len(f) > 3 {
				p.ReaderFeatures = strings.Split(f[3], ",")
			}
			if len(f) > 4 {
				p.WriterFeatures = strings.Split(f[4], ",")
			}
			out = append(out, Action{Protocol: p})
		case "metadata":
			st := &StructType{}
			for _, col := range strings.Split(f[1], ",") {
				name, typ, _ := strings.Cut(col, ":")
				dt, err := ParseTypeName(typ)
				if err != nil {
					return nil, err
				}
				st.Fields = append(st.Fields, &StructField{Name: name, Type: dt, Nullable: true})
			}
			md := &Metadata{ID: "test-id", Format: Format{Provider: "parquet"}, SchemaString: st.SchemaString(),
				PartitionColumns: []string{}, Configuration: map[string]string{}}
			for _, kv := range f[2:] {
				k, v, _ := strings.Cut(kv, "=")
				if k == "parts" {
					md.PartitionColumns = strings.Split(v, ",")
				} else {
					md.Configuration[k] = v
				}
			}
			out = append(out, Action{Metadata: md})
		case "add":
			a := &Add{Path: f[1], PartitionValues: PartitionValues{}, Size: 100, ModificationTime: 1, DataChange: true}
			for _, kv := range f[2:] {
				k, v, _ := strings.Cut(kv, "=")
				switch {
				case k == "nochange":
					a.DataChange = false
				case k == "dv":
					parts := strings.Split(v, ":")
					size, _ := strconv.Atoi(parts[1])
					card, _ := strconv.ParseInt(parts[2], 10, 64)
					a.DeletionVector = &DeletionVector{StorageType: "i", PathOrInlineDV: parts[0], SizeInBytes: int32(size), Cardinality: card}
				case k == "stats":
					a.Stats = v
				default:
					if v == "NULL" {
						v = ""
					}
					a.PartitionValues[k] = v
				}
			}
			out = append(out, Action{Add: a})
		case "remove":
			ts := int64(1)
			r := &Remove{Path: f[1], DeletionTimestamp: &ts, DataChange: true}
			for _, kv := range f[2:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "nochange":
					r.DataChange = false
				case "dv":
					parts := strings.Split(v, ":")
					size, _ := strconv.Atoi(parts[1])
					card, _ := strconv.ParseInt(parts[2], 10, 64)
					r.DeletionVector = &DeletionVector{StorageType: "i", PathOrInlineDV: parts[0], SizeInBytes: int32(size), Cardinality: card}
				}
			}
			out = append(out, Action{Remove: r})
		case "txn":
			n, _ := strconv.ParseInt(f[2], 10, 64)
			out = append(out, Action{Txn: &Txn{AppID: f[1], Version: n}})
		case "domain":
			out = append(out, Action{DomainMetadata: &DomainMetadata{Domain: f[1], Configuration: f[2], Removed: len(f) > 3 && f[3] == "removed"}})
		case "info":
			out = append(out, Action{CommitInfo: CommitInfo{"operation": "WRITE", "isBlindAppend": len(f) > 1 && f[1] == "blind"}})
		default:
			return nil, fmt.Errorf("unknown action form %q", line)
		}
	}
	return out, nil
}
