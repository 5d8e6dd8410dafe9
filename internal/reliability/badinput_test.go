package reliability

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// badInputState returns a manifest made by the section's generator (records placed on two
// partitions as a produce would) and the observation of a run that kept every promise.
func badInputState(t *testing.T, seed uint64) (*badInputManifest, *badInputObserved) {
	t.Helper()
	g := &badInputGen{rng: rand.New(rand.NewPCG(seed, 1))}
	m := &badInputManifest{}
	next := [2]int64{}
	kinds := append(g.recordKinds(120), recHuge, recHugeBroken)
	for _, k := range kinds {
		v, id, noteLen, noteMD5 := g.record(k)
		_ = v
		p := int32(g.rng.IntN(2))
		m.Records = append(m.Records, biRecord{Kind: k, ID: id, Partition: p, Offset: next[p], NoteLen: noteLen, NoteMD5: noteMD5})
		next[p]++
	}
	for i, k := range []string{fileGoodCSV, fileGoodNDJSON, fileGoodParquet, fileHugeNDJSON, fileMissingCSV,
		fileCSVBadRows, fileCSVInvalidUTF8, fileNDJSONBroken, fileParquetTruncate, fileNotParquet} {
		_, f, err := g.file(k, fmt.Sprintf("f%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		m.Files = append(m.Files, f)
	}
	_, fixable, err := g.file(fileCSVBadRows, "fixable")
	if err != nil {
		t.Fatal(err)
	}
	fixable.Kind = fileFixedCSV
	for _, r := range g.goodRows(4) {
		fixable.IDs = append(fixable.IDs, r.id)
	}
	m.Files = append(m.Files, fixable)

	o := &badInputObserved{ExpectFailed: map[string]int64{}}
	for range 3 {
		o.Runs = append(o.Runs, biRunOutcome{Mode: "batch", Status: "ok"})
	}
	for _, r := range m.Records {
		switch {
		case r.Kind == recGood || r.Kind == recHuge || r.Kind == recBadKey:
			o.Orders = append(o.Orders, biSilverRow{ID: r.ID, NoteLen: r.NoteLen, NoteMD5: r.NoteMD5})
		case r.Kind == recMissing:
			o.OrdersDropped++
			if r.ID == 0 {
				o.ExpectFailed["bad.orders/has_id"]++
			} else {
				o.ExpectFailed["bad.orders/has_customer"]++
			}
		default:
			reason := map[string]string{
				recBrokenJSON: "invalid JSON", recHugeBroken: "invalid JSON", recEmpty: "invalid JSON",
				recWrongType: `amount: cannot read "lots" as DOUBLE`, recInvalidUTF8: "value is not UTF-8 text",
				recTombstone: "no value (a tombstone)", recNotObject: "not a JSON object",
			}[r.Kind]
			o.Quarantine = append(o.Quarantine, biQuarantineRow{Source: r.position(), Reason: reason})
			o.OrdersQuarantine++
		}
	}
	for _, f := range m.Files {
		if f.Kind == fileFixedCSV { // its first version was quarantined
			o.FileQuarantine = append(o.FileQuarantine, biFileQuarantineRow{File: f.Rel, Reason: fmt.Sprintf("%s: CSV Error on Line: %d", f.Rel, f.BadLine)})
			o.FilesQuarantined++
		}
		if !biFileGood(f.Kind) && f.Kind != fileFixedCSV {
			reason := f.Rel + ": Invalid Input Error: No magic bytes found at end of file"
			if f.BadLine > 0 {
				reason = fmt.Sprintf("%s: Conversion Error: CSV Error on Line: %d; Original Line: x", f.Rel, f.BadLine)
			}
			o.FileQuarantine = append(o.FileQuarantine, biFileQuarantineRow{File: f.Rel, Reason: reason})
			o.FilesQuarantined++
			continue
		}
		row := int64(0)
		for _, id := range f.IDs {
			n := 0
			if id == f.HugeID {
				n = f.NoteLen
			}
			o.Landed = append(o.Landed, biSilverRow{ID: id, NoteLen: n})
			o.Intake = append(o.Intake, biIntakeRow{File: f.Rel, Row: row, ID: id})
			row++
		}
		for range f.Dropped {
			o.Intake = append(o.Intake, biIntakeRow{File: f.Rel, Row: row})
			row++
		}
		o.LandedDropped += int64(f.Dropped)
		o.ExpectFailed["bad.landed/has_id"] += int64(f.Dropped)
	}
	return m, o
}

// biFirstRecord returns the first injected record of a kind.
func biFirstRecord(t *testing.T, m *badInputManifest, kind string) biRecord {
	t.Helper()
	for _, r := range m.Records {
		if r.Kind == kind && (r.ID != 0 || kind == recEmpty || kind == recNotObject || kind == recTombstone) {
			return r
		}
	}
	t.Fatalf("no %s record", kind)
	return biRecord{}
}

func biFirstFile(t *testing.T, m *badInputManifest, kind string) biFile {
	t.Helper()
	for _, f := range m.Files {
		if f.Kind == kind {
			return f
		}
	}
	t.Fatalf("no %s file", kind)
	return biFile{}
}

// TestCheckBadInputCatchesBrokenStates feeds the checker states that break one promise each and
// expects the anomaly naming it; the unbroken state has none.
func TestCheckBadInputCatchesBrokenStates(t *testing.T) {
	tests := []struct {
		name       string
		breakState func(t *testing.T, m *badInputManifest, o *badInputObserved)
		want       string // a finding contains it ("" = no finding)
	}{
		{"all promises kept", func(*testing.T, *badInputManifest, *badInputObserved) {}, ""},
		{"a bad record missing from the quarantine", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			r := biFirstRecord(t, m, recBrokenJSON)
			o.Quarantine = slices.DeleteFunc(o.Quarantine, func(q biQuarantineRow) bool { return q.Source == r.position() })
		}, "is not in bad.orders_quarantine"},
		{"a bad record quarantined twice", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			r := biFirstRecord(t, m, recInvalidUTF8)
			o.Quarantine = append(o.Quarantine, biQuarantineRow{Source: r.position(), Reason: "value is not UTF-8 text"})
		}, "2 times"},
		{"a quarantined record without a reason", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			r := biFirstRecord(t, m, recNotObject)
			for i := range o.Quarantine {
				if o.Quarantine[i].Source == r.position() {
					o.Quarantine[i].Reason = ""
				}
			}
		}, "without a reason"},
		{"a quarantine row at the wrong position", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			r := biFirstRecord(t, m, recWrongType)
			for i := range o.Quarantine {
				if o.Quarantine[i].Source == r.position() {
					o.Quarantine[i].Source = fmt.Sprintf("orders/%d@%d", r.Partition, r.Offset+100000)
				}
			}
		}, "which is no injected record"},
		{"a bad record accepted", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			r := biFirstRecord(t, m, recBrokenJSON)
			o.Orders = append(o.Orders, biSilverRow{ID: r.ID})
		}, "was accepted into bad.orders"},
		{"a good record lost", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			o.Orders = o.Orders[1:]
		}, "is neither in bad.orders nor quarantined"},
		{"a good record duplicated", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			o.Orders = append(o.Orders, o.Orders[0])
		}, "in bad.orders 2 times"},
		{"a huge field truncated", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			r := biFirstRecord(t, m, recHuge)
			for i := range o.Orders {
				if o.Orders[i].ID == r.ID {
					o.Orders[i].NoteLen = 65535
				}
			}
		}, "note landed with 65535 characters"},
		{"a record without a required field accepted", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			for _, r := range m.Records {
				if r.Kind == recMissing && r.ID != 0 {
					o.Orders = append(o.Orders, biSilverRow{ID: r.ID})
					return
				}
			}
			t.Fatal("no missing-customer record")
		}, "without a required field"},
		{"drops miscounted", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			o.OrdersDropped--
		}, "dropped"},
		{"quarantine miscounted in the event log", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			o.OrdersQuarantine++
		}, "the event log counts"},
		{"a run that stopped", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			o.Runs[1] = biRunOutcome{Mode: "stream", ExitCode: 1, Stderr: "panic: boom"}
		}, "did not complete cleanly"},
		{"a bad file not quarantined", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			f := biFirstFile(t, m, fileParquetTruncate)
			o.FileQuarantine = slices.DeleteFunc(o.FileQuarantine, func(q biFileQuarantineRow) bool { return q.File == f.Rel })
		}, "is not in bad.landed_quarantine_files"},
		{"a bad file's reason names the wrong line", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			f := biFirstFile(t, m, fileCSVBadRows)
			for i := range o.FileQuarantine {
				if o.FileQuarantine[i].File == f.Rel {
					o.FileQuarantine[i].Reason = fmt.Sprintf("%s: CSV Error on Line: %d", f.Rel, f.BadLine+5)
				}
			}
		}, "which names line"},
		{"a bad file partly taken", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			f := biFirstFile(t, m, fileNDJSONBroken)
			o.Intake = append(o.Intake, biIntakeRow{File: f.Rel, Row: 0, ID: 999999})
		}, "had 1 rows taken"},
		{"a good file's row lost", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			f := biFirstFile(t, m, fileGoodParquet)
			o.Landed = slices.DeleteFunc(o.Landed, func(r biSilverRow) bool { return r.ID == f.IDs[0] })
		}, "is not in bad.landed"},
		{"a good file quarantined", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			f := biFirstFile(t, m, fileGoodCSV)
			o.FileQuarantine = append(o.FileQuarantine, biFileQuarantineRow{File: f.Rel, Reason: f.Rel + ": boom"})
		}, "is in the quarantine"},
		{"a corrected file not taken", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			f := biFirstFile(t, m, fileFixedCSV)
			o.Intake = slices.DeleteFunc(o.Intake, func(r biIntakeRow) bool { return r.File == f.Rel })
		}, "rows taken"},
		{"a corrected file quarantined again", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			f := biFirstFile(t, m, fileFixedCSV)
			o.FileQuarantine = append(o.FileQuarantine, biFileQuarantineRow{File: f.Rel, Reason: f.Rel + ": again"})
		}, "quarantined for line"},
		{"a good file's row positions wrong", func(t *testing.T, m *badInputManifest, o *badInputObserved) {
			f := biFirstFile(t, m, fileGoodNDJSON)
			for i := range o.Intake {
				if o.Intake[i].File == f.Rel {
					o.Intake[i].Row += 1
				}
			}
		}, "row positions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, o := badInputState(t, 7)
			tt.breakState(t, m, o)
			res := checkBadInput(m, o)
			if tt.want == "" {
				if len(res.Findings) > 0 {
					t.Fatalf("findings on a state that keeps every promise:\n%s", strings.Join(res.Findings, "\n"))
				}
				if res.Checked != int64(len(m.Records)+len(m.Files)) || res.Accounted != res.Checked {
					t.Fatalf("checked %d, accounted %d, want both %d", res.Checked, res.Accounted, len(m.Records)+len(m.Files))
				}
				return
			}
			for _, f := range res.Findings {
				if strings.Contains(f, tt.want) {
					return
				}
			}
			t.Fatalf("no finding contains %q; findings:\n%s", tt.want, strings.Join(res.Findings, "\n"))
		})
	}
}

// TestBadInputGeneratorKinds checks that the generated records are what their kinds say, so that
// the section's expectations are about the platform, not the generator.
func TestBadInputGeneratorKinds(t *testing.T) {
	g := &badInputGen{rng: rand.New(rand.NewPCG(3, 1))}
	for _, k := range []string{recGood, recHuge, recBrokenJSON, recHugeBroken, recWrongType, recMissing, recInvalidUTF8, recEmpty, recNotObject, recTombstone, recBadKey} {
		n := 20
		if k == recHuge || k == recHugeBroken {
			n = 2
		}
		for range n {
			v, _, noteLen, _ := g.record(k)
			valid := json.Valid(v)
			switch k {
			case recGood, recHuge, recWrongType, recMissing, recNotObject, recBadKey:
				if !valid {
					t.Fatalf("%s record is not valid JSON: %.80q", k, v)
				}
			case recInvalidUTF8:
				if utf8.Valid(v) {
					t.Fatalf("%s record is valid UTF-8: %.80q", k, v)
				}
			case recBrokenJSON, recHugeBroken, recEmpty:
				if valid {
					t.Fatalf("%s record is valid JSON: %.80q", k, v)
				}
			case recTombstone:
				if v != nil {
					t.Fatalf("tombstone has a value %q", v)
				}
			}
			if k == recHuge && noteLen != badInputHuge {
				t.Fatalf("huge record's note is %d bytes", noteLen)
			}
		}
	}
}

func TestBadInputReasonLine(t *testing.T) {
	tests := []struct {
		reason string
		want   int
	}{
		{`a.csv: Conversion Error: CSV Error on Line: 10; Original Line: x`, 10},
		{`b.ndjson: Invalid Input Error: Malformed JSON in file "b.ndjson", at byte 30 in line 9: unexpected character`, 9},
		{`c.ndjson: Invalid Input Error: Malformed JSON in file "c.ndjson", at byte 29 in record/value 2: unexpected control character`, 2},
		{`d.parquet: Invalid Input Error: No magic bytes found at end of file 'd.parquet'`, 0},
		{`online 5`, 0},
	}
	for _, tt := range tests {
		if got := biReasonLine(tt.reason); got != tt.want {
			t.Errorf("biReasonLine(%q) = %d, want %d", tt.reason, got, tt.want)
		}
	}
}
