package reliability

// The badinput section: a small project whose pipelines read a topic and a landing folder, fed a
// seeded mix of good and malformed records and files over several runs (batch and stream), then
// checked: every good record in its silver table once, every bad one in a quarantine (with a
// reason and its source position) or counted as dropped by an expectation, and no run stopped.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
	"github.com/stratalake/strata/internal/project"
)

// Kinds of topic records the section produces. Good and huge records must land in bad.orders
// once; missing-required records are dropped by an expectation and counted; every other kind
// must be in bad.orders_quarantine with its position.
const (
	recGood        = "good"
	recHuge        = "huge_field"       // valid, with a 2 MiB string: must land whole
	recBrokenJSON  = "broken_json"      // not JSON
	recHugeBroken  = "huge_broken_json" // 2 MiB of an unterminated string
	recWrongType   = "wrong_type"       // a field that does not convert to its declared type
	recMissing     = "missing_required" // no id or no customer: dropped by an expectation
	recInvalidUTF8 = "invalid_utf8"     // bytes that are not UTF-8
	recEmpty       = "empty_record"     // a zero-length or blank value
	recNotObject   = "not_object"       // valid JSON that is not an object
	recTombstone   = "tombstone"        // a record without a value (a nil Value)
	recBadKey      = "invalid_utf8_key" // a good value under a key that is not UTF-8: must land
)

// Kinds of landing files. Good files must be taken whole (rows in bad.landed once, positions in
// the intake table); bad files must be in bad.landed_quarantine_files once with a reason, none of
// their rows taken.
const (
	fileGoodCSV         = "good_csv"
	fileGoodNDJSON      = "good_ndjson"
	fileGoodParquet     = "good_parquet"
	fileHugeNDJSON      = "huge_field_ndjson"    // good, one row holding a 2 MiB string
	fileHugeCSV         = "huge_field_csv"       // good, one row holding a 2 MiB string
	fileMissingCSV      = "missing_required_csv" // good file, some rows without id: dropped, counted
	fileCSVBadRows      = "csv_bad_rows"         // a row whose id is not a number
	fileCSVInvalidUTF8  = "csv_invalid_utf8"
	fileNDJSONBroken    = "ndjson_broken_line"
	fileParquetTruncate = "truncated_parquet"
	fileNotParquet      = "not_parquet"
	// fileFixedCSV is a CSV file landed with a bad row (quarantined), then replaced by a corrected
	// one (a later modification time): the correction must be taken, the quarantine keep the one
	// row of the first attempt.
	fileFixedCSV = "fixed_after_quarantine_csv"
)

// badInputHuge is the size of a huge field.
const badInputHuge = 2 << 20

// badInputTopic is the topic the project reads.
const badInputTopic = "orders"

// badInputSQL is the section's pipeline: the topic read as typed JSON (unreadable records to
// bad.orders_quarantine), the landing folder read with a declared schema (unreadable files to
// bad.landed_quarantine_files), each with NOT NULL-like expectations that drop and count. CSV
// lines may be up to 8 MiB (DuckDB's default, 2 MB, would quarantine the huge-field CSV file).
const badInputSQL = `-- The reliability harness's bad-input project (internal/reliability/badinput.go).
CREATE OR REFRESH STREAMING TABLE bad.orders (
  CONSTRAINT has_id EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT has_customer EXPECT (customer IS NOT NULL) ON VIOLATION DROP ROW
)
AS SELECT id, customer, amount, note
FROM STREAM(read_topic('orders', format => 'json', schema => 'id BIGINT, customer VARCHAR, amount DOUBLE, note VARCHAR'));

CREATE OR REFRESH STREAMING TABLE bad.landed (
  CONSTRAINT has_id EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW
)
AS SELECT * FROM STREAM(read_files('landing/*', schema => 'id BIGINT, customer VARCHAR, amount DOUBLE, note VARCHAR',
  max_line_size => '8388608'));
`

const badInputYAML = `name: badinput
storage: ./warehouse
log:
  backend: embedded
  dir: ./log
pipelines:
  - pipelines/*.sql
`

// biRecord is one topic record the section produced. ID is the record's unique id (0
// when the record carries none); NoteLen and NoteMD5 describe a huge record's note.
type biRecord struct {
	Kind      string
	ID        int64
	Partition int32
	Offset    int64
	NoteLen   int
	NoteMD5   string
}

// position is the record's source position as the quarantine writes it.
func (r biRecord) position() string {
	return fmt.Sprintf("%s/%d@%d", badInputTopic, r.Partition, r.Offset)
}

// biFile is one landing file. IDs are the ids of the rows that must be taken (good files),
// in file order; Dropped counts its rows without an id (dropped by the expectation); BadLine is
// the 1-based line of the first bad row of a CSV or NDJSON file (0: none or not applicable).
type biFile struct {
	Kind    string
	Rel     string
	IDs     []int64
	Dropped int
	BadLine int
	HugeID  int64 // the row holding a huge note (huge_field_ndjson), and its length
	NoteLen int
}

// badInputManifest is everything the section injected.
type badInputManifest struct {
	Records []biRecord
	Files   []biFile
}

// biRecordQuarantined reports whether a record kind must go to the quarantine.
func biRecordQuarantined(kind string) bool {
	switch kind {
	case recGood, recHuge, recMissing, recBadKey:
		return false
	}
	return true
}

// biFileGood reports whether a file kind must be taken.
func biFileGood(kind string) bool {
	switch kind {
	case fileGoodCSV, fileGoodNDJSON, fileGoodParquet, fileHugeNDJSON, fileHugeCSV, fileMissingCSV:
		return true
	}
	return false
}

// biSilverRow is a row of bad.orders or bad.landed as the checker sees it.
type biSilverRow struct {
	ID      int64
	NoteLen int
	NoteMD5 string
}

// biQuarantineRow is a row of bad.orders_quarantine.
type biQuarantineRow struct {
	Source, Reason string
}

// biFileQuarantineRow is a row of bad.landed_quarantine_files.
type biFileQuarantineRow struct {
	File, Reason string
}

// biIntakeRow is a row of the landing intake table: where a row came from.
type biIntakeRow struct {
	File string
	Row  int64
	ID   int64 // 0 when NULL
}

// biRunOutcome is one `strata pipeline run`.
type biRunOutcome struct {
	Mode     string
	ExitCode int
	Status   string // the summary's status ("" when none was printed)
	Stderr   string
}

// badInputObserved is what the checker reads after the runs.
type badInputObserved struct {
	Orders           []biSilverRow
	Landed           []biSilverRow
	Quarantine       []biQuarantineRow
	FileQuarantine   []biFileQuarantineRow
	Intake           []biIntakeRow
	Runs             []biRunOutcome
	OrdersDropped    int64            // sum of rows_dropped of bad.orders' batches
	OrdersQuarantine int64            // sum of rows_quarantined of bad.orders' batches
	LandedDropped    int64            // sum of rows_dropped of bad.landed's batches
	FilesQuarantined int64            // sum of rows_quarantined of bad.landed's intake events
	ExpectFailed     map[string]int64 // "flow/expectation" -> failed rows
}

// badInputResult is what the checker found and counted.
type badInputResult struct {
	Findings    []string
	Checked     int64 // records and files checked
	Accounted   int64 // records (and file rows) found where they belong
	Quarantined int64 // bad records and files found in a quarantine
	// NDJSONLineOffByOne counts NDJSON files whose quarantine reason names the line after the
	// bad one (DuckDB's numbering).
	NDJSONLineOffByOne int64
}

// biExpectedReason says which words a kind's quarantine reason must contain (lower case).
var biExpectedReason = map[string]string{
	recBrokenJSON:  "invalid json",
	recHugeBroken:  "invalid json",
	recWrongType:   "cannot read",
	recInvalidUTF8: "utf-8",
	recEmpty:       "json",
	recNotObject:   "not a json object",
	recTombstone:   "no value",
}

// checkBadInput compares what was injected with what the tables and runs show. It is pure: the
// test feeds it broken states.
func checkBadInput(m *badInputManifest, o *badInputObserved) badInputResult {
	var res badInputResult
	bad := func(format string, args ...any) { res.Findings = append(res.Findings, fmt.Sprintf(format, args...)) }

	for i, r := range o.Runs {
		if r.ExitCode != 0 || r.Status != "ok" {
			bad("pipeline run %d (%s) did not complete cleanly: exit %d, status %q: %s", i+1, r.Mode, r.ExitCode, r.Status, biLastLines(r.Stderr, 3))
		}
	}

	// Topic records.
	orders := map[int64][]biSilverRow{}
	for _, r := range o.Orders {
		orders[r.ID] = append(orders[r.ID], r)
	}
	quar := map[string][]biQuarantineRow{}
	for _, q := range o.Quarantine {
		quar[q.Source] = append(quar[q.Source], q)
	}
	known := map[int64]bool{}
	positions := map[string]bool{}
	var missing int64
	for _, r := range m.Records {
		res.Checked++
		positions[r.position()] = true
		if r.ID != 0 {
			known[r.ID] = true
		}
		rows := orders[r.ID]
		switch {
		case r.Kind == recGood || r.Kind == recHuge || r.Kind == recBadKey:
			switch len(rows) {
			case 0:
				bad("record %s (%s, id %d) is neither in bad.orders nor quarantined (%d quarantine rows)", r.position(), r.Kind, r.ID, len(quar[r.position()]))
				continue
			case 1:
			default:
				bad("record %s (%s, id %d) is in bad.orders %d times", r.position(), r.Kind, r.ID, len(rows))
			}
			if r.Kind == recHuge && (rows[0].NoteLen != r.NoteLen || rows[0].NoteMD5 != r.NoteMD5) {
				bad("record %s (huge field, id %d): note landed with %d characters (md5 %s), produced %d (md5 %s)", r.position(), r.ID, rows[0].NoteLen, rows[0].NoteMD5, r.NoteLen, r.NoteMD5)
				continue
			}
			if n := len(quar[r.position()]); n > 0 {
				bad("good record %s (id %d) is also in the quarantine %d times", r.position(), r.ID, n)
				continue
			}
			res.Accounted++
		case r.Kind == recMissing:
			if r.ID != 0 && len(rows) > 0 {
				bad("record %s without a required field (id %d) is in bad.orders %d times", r.position(), r.ID, len(rows))
				continue
			}
			if n := len(quar[r.position()]); n > 0 {
				bad("record %s without a required field is in the quarantine %d times (it should be dropped by the expectation)", r.position(), n)
				continue
			}
			missing++
		default:
			if r.ID != 0 && len(rows) > 0 {
				bad("bad record %s (%s, id %d) was accepted into bad.orders", r.position(), r.Kind, r.ID)
				continue
			}
			qs := quar[r.position()]
			switch len(qs) {
			case 0:
				bad("bad record %s (%s) is not in bad.orders_quarantine", r.position(), r.Kind)
				continue
			case 1:
			default:
				bad("bad record %s (%s) is in bad.orders_quarantine %d times", r.position(), r.Kind, len(qs))
			}
			reason := strings.ToLower(qs[0].Reason)
			if reason == "" {
				bad("bad record %s (%s) is quarantined without a reason", r.position(), r.Kind)
				continue
			}
			if want := biExpectedReason[r.Kind]; !strings.Contains(reason, want) {
				bad("bad record %s (%s) is quarantined with reason %q, which does not say %q", r.position(), r.Kind, biAbbrev(qs[0].Reason, 120), want)
				continue
			}
			res.Accounted++
			res.Quarantined++
		}
	}
	for id, rows := range orders {
		if !known[id] {
			bad("bad.orders holds %d rows with id %d, which no record carried", len(rows), id)
		}
	}
	for src, qs := range quar {
		if !positions[src] {
			bad("bad.orders_quarantine holds %d rows with source %q, which is no injected record", len(qs), src)
		}
	}
	if o.OrdersDropped != missing {
		bad("bad.orders dropped %d rows by expectations, %d records lacked a required field", o.OrdersDropped, missing)
	} else {
		res.Accounted += missing
	}
	wantQuar := int64(0)
	for _, r := range m.Records {
		if biRecordQuarantined(r.Kind) {
			wantQuar++
		}
	}
	if o.OrdersQuarantine != wantQuar {
		bad("the event log counts %d records quarantined by bad.orders, %d bad records were produced", o.OrdersQuarantine, wantQuar)
	}
	var wantHasID, wantHasCustomer int64
	for _, r := range m.Records {
		if r.Kind == recMissing {
			if r.ID == 0 {
				wantHasID++
			} else {
				wantHasCustomer++
			}
		}
	}
	if got := o.ExpectFailed["bad.orders/has_id"]; got != wantHasID {
		bad("expectation bad.orders has_id failed %d rows, %d records had no id", got, wantHasID)
	}
	// Rows without an id also fail has_customer when they lack the customer; the generator
	// gives every id-less record a customer.
	if got := o.ExpectFailed["bad.orders/has_customer"]; got != wantHasCustomer {
		bad("expectation bad.orders has_customer failed %d rows, %d records had no customer", got, wantHasCustomer)
	}

	// Landing files.
	landed := map[int64]int{}
	for _, r := range o.Landed {
		landed[r.ID]++
	}
	landedRows := map[int64]biSilverRow{}
	for _, r := range o.Landed {
		landedRows[r.ID] = r
	}
	fquar := map[string][]biFileQuarantineRow{}
	for _, q := range o.FileQuarantine {
		fquar[q.File] = append(fquar[q.File], q)
	}
	intake := map[string][]biIntakeRow{}
	for _, r := range o.Intake {
		intake[r.File] = append(intake[r.File], r)
	}
	fileIDs := map[int64]bool{}
	relKnown := map[string]bool{}
	var wantDropped, wantFiles int64
	for _, f := range m.Files {
		res.Checked++
		relKnown[f.Rel] = true
		for _, id := range f.IDs {
			fileIDs[id] = true
		}
		if f.Kind == fileFixedCSV {
			wantFiles++ // its first version
			qs := fquar[f.Rel]
			if len(qs) != 1 || biReasonLine(qs[0].Reason) != f.BadLine {
				bad("file %s, quarantined for line %d then corrected, has %d quarantine rows (want 1 naming that line)", f.Rel, f.BadLine, len(qs))
				continue
			}
			res.Quarantined++
		} else if !biFileGood(f.Kind) {
			wantFiles++
			taken := intake[f.Rel]
			if len(taken) > 0 {
				bad("bad file %s (%s) had %d rows taken", f.Rel, f.Kind, len(taken))
			}
			qs := fquar[f.Rel]
			switch len(qs) {
			case 0:
				bad("bad file %s (%s) is not in bad.landed_quarantine_files", f.Rel, f.Kind)
				continue
			case 1:
			default:
				bad("bad file %s (%s) is in bad.landed_quarantine_files %d times", f.Rel, f.Kind, len(qs))
			}
			reason := qs[0].Reason
			if strings.TrimSpace(strings.TrimPrefix(reason, f.Rel+":")) == "" {
				bad("bad file %s (%s) is quarantined without a reason", f.Rel, f.Kind)
				continue
			}
			if f.BadLine > 0 {
				l := biReasonLine(reason)
				if l == f.BadLine+1 && strings.HasSuffix(f.Rel, ".ndjson") {
					// DuckDB's read_json numbers lines from 2 (its "line 4" is the third line):
					// one line off, but still the place to look.
					res.NDJSONLineOffByOne++
					l = f.BadLine
				}
				if l != f.BadLine {
					bad("bad file %s (%s, bad line %d) is quarantined with reason %q, which names line %d", f.Rel, f.Kind, f.BadLine, biAbbrev(reason, 200), l)
					continue
				}
			}
			res.Quarantined++
			res.Accounted++
			continue
		}
		if n := len(fquar[f.Rel]); n > 0 && f.Kind != fileFixedCSV {
			bad("good file %s (%s) is in the quarantine: %s", f.Rel, f.Kind, biAbbrev(fquar[f.Rel][0].Reason, 160))
			continue
		}
		taken := intake[f.Rel]
		if want := len(f.IDs) + f.Dropped; len(taken) != want {
			bad("good file %s (%s): %d rows taken, %d written", f.Rel, f.Kind, len(taken), want)
			continue
		}
		sort.Slice(taken, func(i, j int) bool { return taken[i].Row < taken[j].Row })
		ok := true
		for i, r := range taken {
			if r.Row != int64(i) {
				bad("good file %s (%s): row positions %v are not 0..%d", f.Rel, f.Kind, biRowNumbers(taken), len(taken)-1)
				ok = false
				break
			}
		}
		for _, id := range f.IDs {
			switch n := landed[id]; {
			case n == 0:
				bad("row id %d of good file %s (%s) is not in bad.landed", id, f.Rel, f.Kind)
				ok = false
			case n > 1:
				bad("row id %d of good file %s (%s) is in bad.landed %d times", id, f.Rel, f.Kind, n)
				ok = false
			case id == f.HugeID && landedRows[id].NoteLen != f.NoteLen:
				bad("row id %d of file %s (huge field): note landed with %d characters, written %d", id, f.Rel, landedRows[id].NoteLen, f.NoteLen)
				ok = false
			}
		}
		wantDropped += int64(f.Dropped)
		if ok {
			res.Accounted++
		}
	}
	for id, n := range landed {
		if !fileIDs[id] {
			bad("bad.landed holds %d rows with id %d, which no good file carried", n, id)
		}
	}
	for rel, qs := range fquar {
		if !relKnown[rel] {
			bad("bad.landed_quarantine_files holds %d rows for %q, which is no injected file", len(qs), rel)
		}
	}
	if o.LandedDropped != wantDropped {
		bad("bad.landed dropped %d rows by expectations, %d file rows lacked an id", o.LandedDropped, wantDropped)
	}
	if got := o.ExpectFailed["bad.landed/has_id"]; got != wantDropped {
		bad("expectation bad.landed has_id failed %d rows, %d file rows lacked an id", got, wantDropped)
	}
	if o.FilesQuarantined != wantFiles {
		bad("the event log counts %d files quarantined by bad.landed's intake, %d bad files were landed", o.FilesQuarantined, wantFiles)
	}
	return res
}

// biLineRe finds the line number in DuckDB's read errors ("CSV Error on Line: 10", "in line 9",
// and for newline-delimited JSON, where a record is a line, "in record/value 2").
var biLineRe = regexp.MustCompile(`(?i)\b(?:line:?|record/value) (\d+)`)

// biReasonLine returns the line number a quarantine reason names (0: none).
func biReasonLine(reason string) int {
	m := biLineRe.FindStringSubmatch(reason)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func biRowNumbers(rows []biIntakeRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.Row
	}
	return out
}

func biAbbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func biLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return biAbbrev(strings.Join(lines, " | "), 400)
}

// --- generation ---

// badInputGen makes the seeded records and files.
type badInputGen struct {
	rng    *rand.Rand
	nextID int64
}

func (g *badInputGen) id() int64 {
	g.nextID++
	return g.nextID
}

func (g *badInputGen) customer() string { return fmt.Sprintf("c%04d", g.rng.IntN(10000)) }

func (g *badInputGen) amount() float64 { return float64(g.rng.IntN(100000)) / 100 }

// hugeNote is a 2 MiB string of printable ASCII.
func (g *badInputGen) hugeNote() string {
	b := make([]byte, badInputHuge)
	for i := 0; i < len(b); i += 8 {
		v := g.rng.Uint64()
		for j := i; j < i+8 && j < len(b); j++ {
			b[j] = byte('a' + v%26)
			v /= 26
		}
	}
	return string(b)
}

func biMD5(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// record returns the value of a record of kind k (and its id, 0 for none; the note's length and
// md5 for a huge record).
func (g *badInputGen) record(k string) (value []byte, id int64, noteLen int, noteMD5 string) {
	obj := func(id int64, fields ...string) []byte {
		parts := []string{}
		if id != 0 {
			parts = append(parts, fmt.Sprintf(`"id": %d`, id))
		}
		parts = append(parts, fields...)
		return []byte("{" + strings.Join(parts, ", ") + "}")
	}
	cust := func() string { return fmt.Sprintf(`"customer": %q`, g.customer()) }
	amt := func() string { return fmt.Sprintf(`"amount": %.2f`, g.amount()) }
	switch k {
	case recGood, recBadKey:
		id = g.id()
		fields := []string{cust(), amt()}
		switch g.rng.IntN(4) {
		case 0:
			fields = append(fields, `"note": "ok \u00e9\u6f22"`)
		case 1:
			fields = append(fields, `"note": "nul \u0000 inside, deep [[[[]]]]"`, `"extra": {"a": [1, {"b": null}]}`)
		}
		return obj(id, fields...), id, 0, ""
	case recHuge:
		id = g.id()
		note := g.hugeNote()
		return obj(id, cust(), amt(), `"note": "`+note+`"`), id, len(note), biMD5(note)
	case recBrokenJSON:
		id = g.id()
		switch g.rng.IntN(5) {
		case 0:
			v := obj(id, cust(), amt())
			return v[:len(v)-1], id, 0, "" // truncated
		case 1:
			return []byte(fmt.Sprintf(`{"id": %d,, "customer": "x"}`, id)), id, 0, ""
		case 2:
			return []byte(fmt.Sprintf(`{id: %d, customer: 'x'}`, id)), id, 0, ""
		case 3:
			return []byte(fmt.Sprintf(`{"id": %d, "customer": "unterminated}`, id)), id, 0, ""
		default:
			return []byte(fmt.Sprintf(`{"id": %d "customer": "x"}`, id)), id, 0, ""
		}
	case recHugeBroken:
		id = g.id()
		return []byte(fmt.Sprintf(`{"id": %d, "note": "%s`, id, g.hugeNote())), id, 0, ""
	case recWrongType:
		id = g.id()
		switch g.rng.IntN(4) {
		case 0:
			return obj(id, cust(), `"amount": "lots"`), id, 0, ""
		case 1:
			return obj(id, cust(), `"amount": [1, 2]`), id, 0, ""
		case 2:
			return obj(id, cust(), `"amount": {"value": 3}`), id, 0, ""
		default:
			// The id itself does not convert: the record carries no usable id.
			return obj(0, fmt.Sprintf(`"id": "x%d"`, id), cust(), amt()), id, 0, ""
		}
	case recMissing:
		if g.rng.IntN(2) == 0 {
			if g.rng.IntN(2) == 0 {
				return obj(0, cust(), amt()), 0, 0, ""
			}
			return obj(0, `"id": null`, cust(), amt()), 0, 0, ""
		}
		id = g.id()
		return obj(id, amt()), id, 0, "" // no customer
	case recInvalidUTF8:
		id = g.id()
		v := obj(id, "\"customer\": \"bad \xff\xfe bytes\"", amt())
		if g.rng.IntN(2) == 0 {
			v = append(obj(id, cust(), amt()), 0xc3, 0x28) // a broken two-byte sequence after the object
			v = bytes.Replace(v, []byte(`"customer"`), []byte("\"cust\xc3\x28omer\""), 1)
		}
		return v, id, 0, ""
	case recEmpty:
		switch g.rng.IntN(3) {
		case 0:
			return []byte{}, 0, 0, ""
		case 1:
			return []byte("   "), 0, 0, ""
		default:
			return []byte("\n"), 0, 0, ""
		}
	case recTombstone:
		return nil, 0, 0, ""
	case recNotObject:
		switch g.rng.IntN(4) {
		case 0:
			return []byte(`[1, 2, 3]`), 0, 0, ""
		case 1:
			return []byte(`"just a string"`), 0, 0, ""
		case 2:
			return []byte(`42`), 0, 0, ""
		default:
			return []byte(`null`), 0, 0, ""
		}
	}
	panic("badinput: unknown record kind " + k)
}

// recordKinds returns the kinds of n records (before the huge ones), shuffled: about 60% good,
// the rest spread over the bad kinds, each bad kind at least once.
func (g *badInputGen) recordKinds(n int) []string {
	badKinds := []string{recBrokenJSON, recWrongType, recMissing, recInvalidUTF8, recEmpty, recNotObject, recTombstone}
	var kinds []string
	kinds = append(kinds, badKinds...)
	for range max(n/100, 1) {
		kinds = append(kinds, recBadKey)
	}
	for len(kinds) < n {
		if g.rng.IntN(10) < 6 {
			kinds = append(kinds, recGood)
		} else {
			kinds = append(kinds, badKinds[g.rng.IntN(len(badKinds))])
		}
	}
	g.rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	return kinds
}

// biFileRow is one row of a landing file.
type biFileRow struct {
	id       int64 // 0: no id
	customer string
	amount   float64
	note     string
}

// goodRows returns n rows with fresh ids.
func (g *badInputGen) goodRows(n int) []biFileRow {
	rows := make([]biFileRow, n)
	for i := range rows {
		rows[i] = biFileRow{id: g.id(), customer: g.customer(), amount: g.amount(), note: fmt.Sprintf("row %d", i)}
	}
	return rows
}

func biCSV(rows []biFileRow) []byte {
	var b bytes.Buffer
	b.WriteString("id,customer,amount,note\n")
	for _, r := range rows {
		id := ""
		if r.id != 0 {
			id = strconv.FormatInt(r.id, 10)
		}
		fmt.Fprintf(&b, "%s,%s,%.2f,%s\n", id, r.customer, r.amount, r.note)
	}
	return b.Bytes()
}

func biNDJSON(rows []biFileRow) []byte {
	var b bytes.Buffer
	for _, r := range rows {
		line, _ := json.Marshal(map[string]any{"id": r.id, "customer": r.customer, "amount": r.amount, "note": r.note})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func biParquet(rows []biFileRow) ([]byte, error) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "customer", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		b.Field(1).(*array.StringBuilder).Append(r.customer)
		b.Field(2).(*array.Float64Builder).Append(r.amount)
		b.Field(3).(*array.StringBuilder).Append(r.note)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		return nil, err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// file returns the content and description of a landing file of kind k named base (without
// extension).
func (g *badInputGen) file(k, base string) ([]byte, biFile, error) {
	f := biFile{Kind: k}
	ids := func(rows []biFileRow) []int64 {
		var out []int64
		for _, r := range rows {
			if r.id != 0 {
				out = append(out, r.id)
			}
		}
		return out
	}
	n := 5 + g.rng.IntN(20)
	switch k {
	case fileGoodCSV:
		rows := g.goodRows(n)
		f.Rel, f.IDs = base+".csv", ids(rows)
		return biCSV(rows), f, nil
	case fileGoodNDJSON:
		rows := g.goodRows(n)
		f.Rel, f.IDs = base+".ndjson", ids(rows)
		return biNDJSON(rows), f, nil
	case fileGoodParquet:
		rows := g.goodRows(n)
		data, err := biParquet(rows)
		f.Rel, f.IDs = base+".parquet", ids(rows)
		return data, f, err
	case fileHugeNDJSON:
		rows := g.goodRows(n)
		i := g.rng.IntN(len(rows))
		rows[i].note = g.hugeNote()
		f.Rel, f.IDs, f.HugeID, f.NoteLen = base+".ndjson", ids(rows), rows[i].id, len(rows[i].note)
		return biNDJSON(rows), f, nil
	case fileHugeCSV:
		rows := g.goodRows(n)
		i := g.rng.IntN(len(rows))
		rows[i].note = g.hugeNote()
		f.Rel, f.IDs, f.HugeID, f.NoteLen = base+".csv", ids(rows), rows[i].id, len(rows[i].note)
		return biCSV(rows), f, nil
	case fileMissingCSV:
		rows := g.goodRows(n)
		for i := range rows {
			if g.rng.IntN(3) == 0 {
				rows[i].id = 0
				f.Dropped++
			}
		}
		f.Rel, f.IDs = base+".csv", ids(rows)
		return biCSV(rows), f, nil
	case fileCSVBadRows:
		rows := g.goodRows(n)
		i := g.rng.IntN(len(rows))
		text := biCSV(rows)
		lines := bytes.Split(text, []byte("\n"))
		// lines[0] is the header; row i is lines[i+1].
		lines[i+1] = []byte(fmt.Sprintf("not-a-number,%s,%.2f,bad row", rows[i].customer, rows[i].amount))
		f.Rel, f.BadLine = base+".csv", i+2
		return bytes.Join(lines, []byte("\n")), f, nil
	case fileCSVInvalidUTF8:
		rows := g.goodRows(n)
		i := g.rng.IntN(len(rows))
		rows[i].note = "bad \xff\xfe bytes"
		f.Rel, f.BadLine = base+".csv", i+2
		return biCSV(rows), f, nil
	case fileNDJSONBroken:
		rows := g.goodRows(n)
		i := g.rng.IntN(len(rows))
		lines := bytes.Split(biNDJSON(rows), []byte("\n"))
		lines[i] = lines[i][:len(lines[i])/2]
		f.Rel, f.BadLine = base+".ndjson", i+1
		return bytes.Join(lines, []byte("\n")), f, nil
	case fileParquetTruncate:
		data, err := biParquet(g.goodRows(n))
		if err != nil {
			return nil, f, err
		}
		cut := len(data)/4 + g.rng.IntN(len(data)/2)
		f.Rel = base + ".parquet"
		return data[:cut], f, nil
	case fileNotParquet:
		f.Rel = base + ".parquet"
		return biCSV(g.goodRows(n)), f, nil
	}
	return nil, f, fmt.Errorf("badinput: unknown file kind %q", k)
}

// --- the section ---

// badInputRound is one produce-land-run step.
type badInputRound struct {
	mode    string
	records []string // kinds
	files   []string // kinds
}

// runBadInput runs the section: rounds of (produce records, land files, run the pipeline in
// batch or stream mode), then one check of everything. Scale: Iterations/5 rounds (3 to 11, an
// odd number: batch, stream, ..., batch), Iterations x 50 topic records plus Iterations/10 huge
// ones (1 to 25) and Iterations/20 huge broken ones (1 to 10); per round one bad landing file of
// each kind and Iterations/(2 x rounds) (at least 2) good ones, plus the huge-field and
// missing-id files in the first round.
func runBadInput(ctx context.Context, env Env, rep *Report) error {
	if env.Exe == "" {
		return errors.New("badinput: no strata executable")
	}
	dir := env.Dir
	for _, d := range []string{"pipelines", "landing"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("badinput: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "strata.yaml"), []byte(badInputYAML), 0o644); err != nil {
		return fmt.Errorf("badinput: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pipelines", "bad.sql"), []byte(badInputSQL), 0o644); err != nil {
		return fmt.Errorf("badinput: %w", err)
	}

	iters := max(env.Iterations, 1)
	g := &badInputGen{rng: rand.New(rand.NewPCG(env.Seed, 0xbad1))}
	kinds := g.recordKinds(iters * 50)
	for range min(max(iters/10, 1), 25) {
		kinds = append(kinds, recHuge)
	}
	for range min(max(iters/20, 1), 10) {
		kinds = append(kinds, recHugeBroken)
	}
	g.rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	goodFiles := []string{fileGoodCSV, fileGoodNDJSON, fileGoodParquet}
	badFiles := []string{fileCSVBadRows, fileCSVInvalidUTF8, fileNDJSONBroken, fileParquetTruncate, fileNotParquet}

	// Rounds alternate batch and stream runs, first and last batch; each takes its share of the
	// records (produced before its run) and of the files (landed before a batch run, during a
	// stream run).
	n := max(3, min(iters/5, 11))
	if n%2 == 0 {
		n++
	}
	rounds := make([]badInputRound, n)
	for i := range rounds {
		rounds[i].mode = "batch"
		if i%2 == 1 {
			rounds[i].mode = "stream"
		}
		lo, hi := i*len(kinds)/n, (i+1)*len(kinds)/n
		rounds[i].records = kinds[lo:hi]
		rounds[i].files = append(rounds[i].files, badFiles...)
		for range max(iters/(2*n), 2) {
			rounds[i].files = append(rounds[i].files, goodFiles[g.rng.IntN(3)])
		}
		if i == 0 {
			rounds[i].files = append(rounds[i].files, fileHugeNDJSON, fileHugeCSV, fileMissingCSV)
		}
	}

	m := &badInputManifest{}
	obs := &badInputObserved{}
	var fixable biFile
	var err error
	for i, rd := range rounds {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		if err := produceBadInput(ctx, env, g, m, rd.records, i == 0); err != nil {
			return err
		}
		switch i {
		case 0:
			if fixable, err = landBadInputFixable(dir, g, fixable, false); err != nil {
				return err
			}
		case 1:
			if fixable, err = landBadInputFixable(dir, g, fixable, true); err != nil {
				return err
			}
			m.Files = append(m.Files, fixable)
		}
		land := func() error { return landBadInput(ctx, dir, g, m, rd.files, i, 0) }
		var during func() error
		if rd.mode == "stream" {
			// The files land one by one while the stream run polls (well within its idle stop).
			land, during = nil, func() error { return landBadInput(ctx, dir, g, m, rd.files, i, 300*time.Millisecond) }
		}
		if land != nil {
			if err := land(); err != nil {
				return err
			}
		}
		env.Log.Info("badinput: round fed", "round", i+1, "mode", rd.mode, "records", len(rd.records), "files", len(rd.files), "elapsed", time.Since(t0).Round(time.Millisecond))
		out, err := runBadInputPipeline(ctx, env, rd.mode, during)
		if err != nil {
			return err
		}
		obs.Runs = append(obs.Runs, out)
		env.Log.Info("badinput: pipeline run", "round", i+1, "mode", rd.mode, "exit", out.ExitCode, "status", out.Status)
		rep.Iterations++
	}

	// One more batch run with nothing new: it must take nothing twice.
	out, err := runBadInputPipeline(ctx, env, "batch", nil)
	if err != nil {
		return err
	}
	obs.Runs = append(obs.Runs, out)
	env.Log.Info("badinput: pipeline rerun without new input", "exit", out.ExitCode, "status", out.Status)

	if err := readBadInput(ctx, dir, obs); err != nil {
		return err
	}
	res := checkBadInput(m, obs)
	// One stuck record can make hundreds of later ones missing: the first findings say what
	// happened, the rest are counted.
	const maxFindings = 40
	for i, f := range res.Findings {
		if i == maxFindings {
			rep.Anomaly("... and %d more findings (figure findings_total)", len(res.Findings)-maxFindings)
			break
		}
		rep.Anomaly("%s", f)
	}
	rep.Figure("findings_total", len(res.Findings))
	rep.Add(res.Checked, res.Accounted, res.Quarantined)

	byKind := map[string]int64{}
	var badRecords, badFiles64 int64
	for _, r := range m.Records {
		byKind["records_"+r.Kind]++
		if r.Kind != recGood && r.Kind != recHuge {
			badRecords++
		}
	}
	for _, f := range m.Files {
		byKind["files_"+f.Kind]++
		if !biFileGood(f.Kind) {
			badFiles64++
		}
	}
	for k, v := range byKind {
		rep.Figure(k, v)
	}
	rep.Fault("bad-record", badRecords)
	rep.Fault("bad-file", badFiles64)
	rep.Figure("runs", len(obs.Runs))
	rep.Figure("ndjson_reason_line_off_by_one", res.NDJSONLineOffByOne)
	rep.Figure("rows_in_bad_orders", len(obs.Orders))
	rep.Figure("rows_in_bad_landed", len(obs.Landed))
	rep.Figure("records_quarantined", len(obs.Quarantine))
	rep.Figure("files_quarantined", len(obs.FileQuarantine))
	rep.Figure("records_dropped_by_expectations", obs.OrdersDropped)
	rep.Figure("file_rows_dropped_by_expectations", obs.LandedDropped)
	rep.Figure("quarantine_reasons", badInputReasonSample(obs))
	return nil
}

// badInputReasonSample returns one quarantine reason per distinct kind of reason (for the report).
func badInputReasonSample(o *badInputObserved) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		key := s
		if i := strings.IndexAny(key, ":\"0123456789"); i > 0 {
			key = key[:i]
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, biAbbrev(s, 200))
		}
	}
	for _, q := range o.Quarantine {
		add(q.Reason)
	}
	for _, q := range o.FileQuarantine {
		_, r, _ := strings.Cut(q.Reason, ": ")
		add(r)
	}
	sort.Strings(out)
	return out
}

// produceBadInput appends the records of the given kinds to the topic (created on the first
// call), in small produce calls (huge records alone), and adds them to m with their positions.
func produceBadInput(ctx context.Context, env Env, g *badInputGen, m *badInputManifest, kinds []string, create bool) error {
	l, err := embedded.Open(ctx, filepath.Join(env.Dir, "log"))
	if err != nil {
		return fmt.Errorf("badinput: open the log: %w", err)
	}
	defer l.Close()
	if create {
		if err := l.CreateTopic(ctx, badInputTopic, log.TopicConfig{Partitions: 2}); err != nil {
			return fmt.Errorf("badinput: create topic: %w", err)
		}
	}
	var batch []log.Record
	var metas []biRecord
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := l.Produce(ctx, badInputTopic, batch)
		if err != nil {
			return fmt.Errorf("badinput: produce %d records: %w", len(batch), err)
		}
		for i, r := range out {
			metas[i].Partition, metas[i].Offset = r.Partition, r.Offset
			m.Records = append(m.Records, metas[i])
		}
		batch, metas = batch[:0], metas[:0]
		return nil
	}
	for _, k := range kinds {
		v, id, noteLen, noteMD5 := g.record(k)
		huge := k == recHuge || k == recHugeBroken
		if huge {
			if err := flush(); err != nil {
				return err
			}
		}
		rec := log.Record{Partition: int32(g.rng.IntN(2)), Value: v}
		if k == recBadKey {
			rec.Key = []byte("key \xff\xfe")
		} else if g.rng.IntN(2) == 0 {
			rec.Key = []byte(strconv.FormatInt(id, 10))
		}
		batch = append(batch, rec)
		metas = append(metas, biRecord{Kind: k, ID: id, NoteLen: noteLen, NoteMD5: noteMD5})
		if huge || len(batch) >= 200 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// landBadInput writes the files of the given kinds into the landing folder (each under a hidden
// name, then renamed), pausing pause between files, and adds them to m. Cancelling ctx stops it
// between files.
func landBadInput(ctx context.Context, dir string, g *badInputGen, m *badInputManifest, kinds []string, round int, pause time.Duration) error {
	for i, k := range kinds {
		if i > 0 && pause > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
		}
		data, f, err := g.file(k, fmt.Sprintf("r%d-%03d-%s", round, i, k))
		if err != nil {
			return err
		}
		final := filepath.Join(dir, "landing", f.Rel)
		tmp := filepath.Join(dir, "landing", "."+f.Rel+".tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return fmt.Errorf("badinput: %w", err)
		}
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("badinput: %w", err)
		}
		m.Files = append(m.Files, f)
	}
	return nil
}

// landBadInputFixable lands the file of kind fixed_after_quarantine_csv: its first version, with a bad
// row (fixed false), or its correction (fixed true), which replaces it.
func landBadInputFixable(dir string, g *badInputGen, f biFile, fixed bool) (biFile, error) {
	var data []byte
	if !fixed {
		var err error
		if data, f, err = g.file(fileCSVBadRows, "fixable"); err != nil {
			return f, err
		}
		f.Kind = fileFixedCSV
	} else {
		rows := g.goodRows(5 + g.rng.IntN(20))
		f.IDs = nil
		for _, r := range rows {
			f.IDs = append(f.IDs, r.id)
		}
		data = biCSV(rows)
	}
	final := filepath.Join(dir, "landing", f.Rel)
	tmp := filepath.Join(dir, "landing", "."+f.Rel+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return f, fmt.Errorf("badinput: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return f, fmt.Errorf("badinput: %w", err)
	}
	return f, nil
}

// runBadInputPipeline runs `strata pipeline run` on the project in a child process, calling
// during (if set) once the process has started. A stream run stops after 5 s without work. A run
// that does not end within its time limit is killed and reported as not clean (exit -1).
func runBadInputPipeline(ctx context.Context, env Env, mode string, during func() error) (biRunOutcome, error) {
	limit := max(3*env.Duration, 3*time.Minute)
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	args := []string{"--json", "pipeline", "run", "--project", env.Dir, "--mode", mode}
	if mode == "stream" {
		args = append(args, "--idle-stop", "5s")
	}
	cmd := exec.CommandContext(rctx, env.Exe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return biRunOutcome{}, fmt.Errorf("badinput: run %s: %w", env.Exe, err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() { // a progress line every 10 s of a long run
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				env.Log.Info("badinput: pipeline run in progress", "mode", mode, "elapsed", time.Since(start).Round(time.Second))
			}
		}
	}()
	var derr error
	if during != nil {
		derr = during()
	}
	err := cmd.Wait()
	if derr != nil {
		return biRunOutcome{}, derr
	}
	out := biRunOutcome{Mode: mode, Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return out, ctx.Err()
	case rctx.Err() != nil:
		out.ExitCode = -1
		out.Stderr += fmt.Sprintf("\n(killed: no end after %s)", limit)
	case errors.As(err, &ee):
		out.ExitCode = ee.ExitCode()
	default:
		return out, fmt.Errorf("badinput: run %s: %w", env.Exe, err)
	}
	var sum struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(stdout.Bytes(), &sum) == nil {
		out.Status = sum.Status
	}
	return out, nil
}

// readBadInput reads the tables the checker needs, with an in-process engine.
func readBadInput(ctx context.Context, dir string, o *badInputObserved) error {
	p, err := project.Load(dir)
	if err != nil {
		return fmt.Errorf("badinput: %w", err)
	}
	eng, err := engine.Open(ctx, engine.Options{Project: p, Threads: 2})
	if err != nil {
		return fmt.Errorf("badinput: %w", err)
	}
	defer eng.Close()
	q := func(sql string, fn func(row []string, null []bool)) error {
		return biQueryStrings(ctx, eng, sql, fn)
	}
	atoi := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	if err := q(`SELECT CAST(id AS VARCHAR), CAST(coalesce(length(note), 0) AS VARCHAR), coalesce(md5(note), '') FROM bad.orders`, func(r []string, _ []bool) {
		o.Orders = append(o.Orders, biSilverRow{ID: atoi(r[0]), NoteLen: int(atoi(r[1])), NoteMD5: r[2]})
	}); err != nil {
		return err
	}
	if err := q(`SELECT CAST(id AS VARCHAR), CAST(coalesce(length(note), 0) AS VARCHAR), coalesce(md5(note), '') FROM bad.landed`, func(r []string, _ []bool) {
		o.Landed = append(o.Landed, biSilverRow{ID: atoi(r[0]), NoteLen: int(atoi(r[1])), NoteMD5: r[2]})
	}); err != nil {
		return err
	}
	if err := q(`SELECT coalesce(_quarantine_source, ''), coalesce(_quarantine_reason, '') FROM bad.orders_quarantine`, func(r []string, _ []bool) {
		o.Quarantine = append(o.Quarantine, biQuarantineRow{Source: r[0], Reason: r[1]})
	}); err != nil {
		return err
	}
	if err := q(`SELECT coalesce(file, ''), coalesce(reason, '') FROM bad.landed_quarantine_files`, func(r []string, _ []bool) {
		o.FileQuarantine = append(o.FileQuarantine, biFileQuarantineRow{File: r[0], Reason: r[1]})
	}); err != nil {
		return err
	}
	if err := q(`SELECT _file, CAST(_file_row AS VARCHAR), CAST(coalesce(id, 0) AS VARCHAR) FROM _strata.files_bad__landed`, func(r []string, _ []bool) {
		o.Intake = append(o.Intake, biIntakeRow{File: r[0], Row: atoi(r[1]), ID: atoi(r[2])})
	}); err != nil {
		return err
	}
	o.ExpectFailed = map[string]int64{}
	return q(`SELECT event, flow, coalesce(expectation, ''), CAST(sum(rows_dropped) AS VARCHAR), CAST(sum(rows_quarantined) AS VARCHAR), CAST(sum(failed) AS VARCHAR)
		FROM _strata.pipeline_events WHERE event IN ('batch', 'intake', 'expectation') GROUP BY ALL`, func(r []string, _ []bool) {
		event, flow, exp := r[0], r[1], r[2]
		dropped, quarantined, failed := atoi(r[3]), atoi(r[4]), atoi(r[5])
		switch {
		case event == "batch" && flow == "bad.orders":
			o.OrdersDropped += dropped
			o.OrdersQuarantine += quarantined
		case event == "batch" && flow == "bad.landed":
			o.LandedDropped += dropped
		case event == "intake" && flow == "bad.landed":
			o.FilesQuarantined += quarantined
		case event == "expectation":
			o.ExpectFailed[flow+"/"+exp] += failed
		}
	})
}

// biQueryStrings runs sql and calls fn with each row's values as strings (NULL as "", null set),
// copied out of the result's memory.
func biQueryStrings(ctx context.Context, eng *engine.Engine, sql string, fn func(row []string, null []bool)) error {
	res, err := eng.Query(ctx, sql)
	if errors.Is(err, engine.ErrUnknownTable) {
		return nil // not created (a failed run): no rows, and the checker says what is missing
	}
	if err != nil {
		return fmt.Errorf("badinput: %s: %w", biAbbrev(sql, 80), err)
	}
	rr := res.Records
	defer rr.Release()
	for rr.Next() {
		b := rr.RecordBatch()
		nc := int(b.NumCols())
		for i := 0; i < int(b.NumRows()); i++ {
			row, null := make([]string, nc), make([]bool, nc)
			for c := 0; c < nc; c++ {
				col := b.Column(c)
				if col.IsNull(i) {
					null[c] = true
					continue
				}
				// A string value aliases the batch's memory (DuckDB's, freed with the batch).
				row[c] = strings.Clone(col.ValueStr(i))
			}
			fn(row, null)
		}
	}
	if err := rr.Err(); err != nil {
		return fmt.Errorf("badinput: %s: %w", biAbbrev(sql, 80), err)
	}
	return nil
}
