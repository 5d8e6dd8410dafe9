package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pyReport is the report.json that interop_common.report_table writes for one table: delta-rs's
// facts and each reader's outcome for every version of the table before VACUUM (Versions) and
// after it (Vacuumed).
type pyReport struct {
	Packages              map[string]string `json:"packages"`
	LatestVersion         int64             `json:"latestVersion"`
	LatestError           string            `json:"latestError"`
	Versions              []versionReport   `json:"versions"`
	VacuumedLatestVersion int64             `json:"vacuumedLatestVersion"`
	Vacuumed              []versionReport   `json:"vacuumed"`
	// Set by write_deltars_tables.py only.
	VacuumedFiles []string          `json:"vacuumedFiles"`
	Operations    map[string]string `json:"operations"`
}

// versionReport is what Python saw of one version.
type versionReport struct {
	Version     int64       `json:"version"`
	LoadError   string      `json:"loadError"`
	FactsError  string      `json:"factsError"`
	SchemaError string      `json:"schemaError"`
	Facts       *deltaFacts `json:"facts"`
	DeltaRs     *readReport `json:"deltars"`
	DuckDB      *readReport `json:"duckdb"` // nil when DuckDB was not asked to read
	// StatsProblems lists data files (new in this version) whose statistics, as delta-rs parses
	// them, contradict their data; only checked for Strata-written tables.
	StatsProblems []string `json:"statsProblems"`
}

// readReport is one reader's outcome: its row count (rows in a Parquet file beside the report)
// or its error.
type readReport struct {
	Rows        *int64 `json:"rows"`
	ArrowSchema string `json:"arrowSchema"`
	Error       string `json:"error"`
}

func readPyReport(t *testing.T, path string) *pyReport {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep pyReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &rep
}

// strataVersion is Strata's view of one version: its description and its rows (a Parquet file
// written by `table scan --format parquet`, unless scanErr).
type strataVersion struct {
	desc     *strataDescription
	descErr  error
	rowsPath string
	scanErr  error
}

// strataSide describes and scans versions 0..last of table with the CLI; rowsPattern has one
// %d for the version.
func strataSide(t *testing.T, table string, last int64, rowsPattern string) []strataVersion {
	out := make([]strataVersion, last+1)
	for v := int64(0); v <= last; v++ {
		out[v].desc, out[v].descErr = describeVersion(t, table, v)
		out[v].rowsPath = fmt.Sprintf(rowsPattern, v)
		out[v].scanErr = runStrata(t, "-q", "table", "scan", table, "--version", strconv.FormatInt(v, 10),
			"--format", "parquet", "--output", out[v].rowsPath).err()
	}
	return out
}

// strataUnsupportedReaderFeatures are the reader features Strata knowingly does not implement: a
// version whose protocol lists one must be refused by Strata with an error naming it (the
// protocol forbids reading it otherwise), however other readers fare.
var strataUnsupportedReaderFeatures = []string{"variantType"}

// unsupportedFeature returns the first reader feature of facts that Strata does not implement.
func unsupportedFeature(f *deltaFacts) string {
	for _, rf := range f.ReaderFeatures {
		if slices.Contains(strataUnsupportedReaderFeatures, rf) {
			return rf
		}
	}
	return ""
}

// checkRefused requires Strata's describe and scan of a version to fail naming feature.
func checkRefused(t *testing.T, what, feature string, sv strataVersion) {
	t.Helper()
	for _, err := range []error{sv.descErr, sv.scanErr} {
		if err == nil || !strings.Contains(err.Error(), feature) {
			t.Errorf("%s: its protocol lists reader feature %s, which Strata does not implement; want an error naming it, got %v", what, feature, err)
		}
	}
}

// tableCheck compares Strata with Python's readers on every version of one table, before and
// after VACUUM.
type tableCheck struct {
	name      string
	writer    string           // who wrote the table, for messages
	notes     map[int64]string // version -> what made it
	vacuumed  map[string]bool  // data files VACUUM deleted, relative to the table root
	pre, post []strataVersion  // Strata's view before and after VACUUM
	pyOut     string           // directory of the Python side's Parquet files
	rep       *pyReport
}

// run checks, for every version: Strata's describe facts against delta-rs's; Strata's rows
// against every Python reader's rows; and after VACUUM, that a version that needs a deleted file
// fails in Strata and in every reader, while the others still read the same.
func (c *tableCheck) run(t *testing.T) {
	t.Helper()
	last, vacLast := int64(len(c.pre)-1), int64(len(c.post)-1)
	t.Logf("%s table %s: versions 0..%d, then VACUUM deleted %d files (versions to %d); python packages %v",
		c.writer, c.name, last, len(c.vacuumed), vacLast, c.rep.Packages)
	for name, pin := range pinnedPackages(t) {
		if got := c.rep.Packages[name]; got != pin {
			t.Logf("note: python package %s is %s, test/requirements.txt pins %s; differences may come from that", name, got, pin)
		}
	}
	if c.rep.LatestVersion != last {
		t.Errorf("latest version: strata %d, delta-rs %d", last, c.rep.LatestVersion)
	}
	if c.rep.VacuumedLatestVersion != vacLast {
		t.Errorf("latest version after VACUUM: strata %d, delta-rs %d", vacLast, c.rep.VacuumedLatestVersion)
	}
	if c.rep.LatestError != "" {
		t.Errorf("latest version, loaded without a version (through the last checkpoint): delta-rs: %s", c.rep.LatestError)
	} else {
		if int(last) < len(c.rep.Versions) && c.rep.Versions[last].Facts != nil && unsupportedFeature(c.rep.Versions[last].Facts) == "" {
			vc := versionCheck{what: fmt.Sprintf("latest version %d loaded without a version", last), strata: c.pre[last],
				readers: map[string]string{"delta-rs": filepath.Join(c.pyOut, "latest.deltars.parquet")}}
			vc.compareRows(t)
		}
	}
	if len(c.vacuumed) == 0 {
		t.Errorf("VACUUM deleted no file; the scenario must leave some unreferenced")
	}
	gone := 0
	for v := int64(0); v <= vacLast; v++ {
		what := fmt.Sprintf("version %d (%s)", v, c.notes[v])
		var lost []string
		if v <= last {
			if int(v) >= len(c.rep.Versions) {
				t.Errorf("%s: delta-rs did not report it", what)
				continue
			}
			pv := c.rep.Versions[v]
			if pv.Facts != nil {
				for _, f := range pv.Facts.Files {
					if c.vacuumed[f] {
						lost = append(lost, f)
					}
				}
				if feat := unsupportedFeature(pv.Facts); feat != "" {
					checkRefused(t, what, feat, c.pre[v])
					continue
				}
			}
			if checkFacts(t, what, c.pre[v], pv) {
				c.versionCheck(what, c.pre[v], pv, "v%d", v).compareRows(t)
			}
			if len(pv.StatsProblems) > 0 {
				t.Errorf("%s: file statistics contradict the data (other engines' data skipping would go wrong):\n  %s", what, strings.Join(pv.StatsProblems, "\n  "))
			}
		}
		what += " after VACUUM"
		if int(v) >= len(c.rep.Vacuumed) {
			t.Errorf("%s: delta-rs did not report it", what)
			continue
		}
		pv := c.rep.Vacuumed[v]
		if pv.Facts != nil {
			if feat := unsupportedFeature(pv.Facts); feat != "" {
				checkRefused(t, what, feat, c.post[v])
				continue
			}
		}
		if !checkFacts(t, what, c.post[v], pv) {
			continue
		}
		if len(pv.Facts.MissingFiles) > 0 != (len(lost) > 0) {
			t.Errorf("%s: VACUUM deleted %d of its files %v but delta-rs finds %d missing %v", what, len(lost), lost, len(pv.Facts.MissingFiles), pv.Facts.MissingFiles)
		}
		vc := c.versionCheck(what, c.post[v], pv, "vac%d", v)
		if len(lost) > 0 {
			gone++
			vc.expectFailure(t, len(lost))
		} else {
			vc.compareRows(t)
		}
	}
	if gone == 0 {
		t.Errorf("no version lost files to VACUUM; the scenario should have some")
	}
}

// versionCheck builds the comparison of one version; prefix names the readers' Parquet files
// ("v%d" or "vac%d").
func (c *tableCheck) versionCheck(what string, sv strataVersion, pv versionReport, prefix string, v int64) versionCheck {
	vc := versionCheck{what: what, strata: sv, readers: map[string]string{}, readerErr: map[string]string{}}
	for name, r := range map[string]*readReport{"deltars": pv.DeltaRs, "duckdb": pv.DuckDB} {
		if r == nil {
			continue
		}
		label := map[string]string{"deltars": "delta-rs", "duckdb": "duckdb"}[name]
		vc.readers[label] = filepath.Join(c.pyOut, fmt.Sprintf(prefix, v)+"."+name+".parquet")
		vc.readerErr[label] = r.Error
	}
	return vc
}

// checkFacts compares Strata's description of a version with delta-rs's facts; it returns false
// when delta-rs could not load the version at all.
func checkFacts(t *testing.T, what string, sv strataVersion, pv versionReport) bool {
	t.Helper()
	if pv.LoadError != "" || pv.FactsError != "" || pv.SchemaError != "" || pv.Facts == nil {
		t.Errorf("%s: delta-rs cannot load it: %s%s%s", what, pv.LoadError, pv.FactsError, pv.SchemaError)
		return false
	}
	if sv.descErr != nil {
		t.Errorf("%s: %v", what, sv.descErr)
	} else if diffs := diffFacts(sv.desc, pv.Facts); len(diffs) > 0 {
		t.Errorf("%s: describe --json and delta-rs disagree:\n  %s", what, strings.Join(diffs, "\n  "))
	}
	return true
}

// versionCheck compares Strata's rows of one version with other readers' rows of it.
type versionCheck struct {
	what      string
	strata    strataVersion
	readers   map[string]string // reader -> Parquet file of its rows
	readerErr map[string]string // reader -> its error, if it failed
}

func (vc versionCheck) names() []string {
	names := make([]string, 0, len(vc.readers))
	for n := range vc.readers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// compareRows requires every reader to succeed and to read what Strata reads.
func (vc versionCheck) compareRows(t *testing.T) {
	t.Helper()
	if vc.strata.scanErr != nil {
		t.Errorf("%s: %v", vc.what, vc.strata.scanErr)
		return
	}
	strataRows, err := readParquetRows(t.Context(), vc.strata.rowsPath, "strata")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range vc.names() {
		if e := vc.readerErr[name]; e != "" {
			t.Errorf("%s: %s cannot read it: %s", vc.what, name, e)
			continue
		}
		rows, err := readParquetRows(t.Context(), vc.readers[name], name)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffRowSets(strataRows, rows); d != "" {
			t.Errorf("%s: strata and %s read different content:\n%s", vc.what, name, d)
		}
	}
}

// expectFailure requires Strata and every other reader to fail.
func (vc versionCheck) expectFailure(t *testing.T, lost int) {
	t.Helper()
	if vc.strata.scanErr == nil {
		t.Errorf("%s: strata read it though VACUUM deleted %d of its files", vc.what, lost)
	}
	for _, name := range vc.names() {
		if vc.readerErr[name] == "" {
			t.Errorf("%s: %s read it though VACUUM deleted %d of its files", vc.what, name, lost)
		}
	}
}
