package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Action is one line of a Delta commit file or one row of a checkpoint: exactly one of its fields
// is set. Unknown actions are kept as nil (readers must ignore them, as the protocol says).
type Action struct {
	Protocol           *Protocol           `json:"protocol,omitempty"`
	Metadata           *Metadata           `json:"metaData,omitempty"`
	Add                *Add                `json:"add,omitempty"`
	Remove             *Remove             `json:"remove,omitempty"`
	Txn                *Txn                `json:"txn,omitempty"`
	CommitInfo         CommitInfo          `json:"commitInfo,omitempty"`
	CDC                *AddCDC             `json:"cdc,omitempty"`
	DomainMetadata     *DomainMetadata     `json:"domainMetadata,omitempty"`
	CheckpointMetadata *CheckpointMetadata `json:"checkpointMetadata,omitempty"`
	Sidecar            *Sidecar            `json:"sidecar,omitempty"`
}

// Protocol is the protocol action: the reader and writer versions and, from reader 3 / writer 7,
// the table features.
type Protocol struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures,omitempty"`
	WriterFeatures   []string `json:"writerFeatures,omitempty"`
}

// Format is the metaData format struct; provider is always "parquet" for tables Strata writes.
type Format struct {
	Provider string            `json:"provider"`
	Options  map[string]string `json:"options"`
}

// Metadata is the metaData action. SchemaString is kept verbatim; Schema() parses it.
type Metadata struct {
	ID               string            `json:"id"`
	Name             *string           `json:"name,omitempty"`
	Description      *string           `json:"description,omitempty"`
	Format           Format            `json:"format"`
	SchemaString     string            `json:"schemaString"`
	PartitionColumns []string          `json:"partitionColumns"`
	CreatedTime      *int64            `json:"createdTime,omitempty"`
	Configuration    map[string]string `json:"configuration"`
}

// Schema parses SchemaString.
func (m *Metadata) Schema() (*StructType, error) { return ParseSchema(m.SchemaString) }

// PartitionValues maps a partition column's physical name to its serialized value. The empty
// string stands for null, as the protocol's "Partition Value Serialization" says; it is written as
// JSON null.
type PartitionValues map[string]string

// MarshalJSON writes {} for a nil map and null for empty (null) values.
func (p PartitionValues) MarshalJSON() ([]byte, error) {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if v := p[k]; v == "" {
			b.WriteString("null")
		} else {
			vb, _ := json.Marshal(v)
			b.Write(vb)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON accepts null values as "" (null).
func (p *PartitionValues) UnmarshalJSON(data []byte) error {
	var m map[string]*string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*p = make(PartitionValues, len(m))
	for k, v := range m {
		if v != nil {
			(*p)[k] = *v
		} else {
			(*p)[k] = ""
		}
	}
	return nil
}

// Add is the add action: a logical file (data file plus optional deletion vector) now in the table.
// Path is as stored in the log: a relative or absolute URI, percent-encoded.
type Add struct {
	Path                    string            `json:"path"`
	PartitionValues         PartitionValues   `json:"partitionValues"`
	Size                    int64             `json:"size"`
	ModificationTime        int64             `json:"modificationTime"`
	DataChange              bool              `json:"dataChange"`
	Stats                   string            `json:"stats,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	DeletionVector          *DeletionVector   `json:"deletionVector,omitempty"`
	BaseRowID               *int64            `json:"baseRowId,omitempty"`
	DefaultRowCommitVersion *int64            `json:"defaultRowCommitVersion,omitempty"`
	ClusteringProvider      *string           `json:"clusteringProvider,omitempty"`
}

// Remove is the remove action: a logical file no longer in the table; kept as a tombstone for
// VACUUM until it expires.
type Remove struct {
	Path                    string            `json:"path"`
	DeletionTimestamp       *int64            `json:"deletionTimestamp,omitempty"`
	DataChange              bool              `json:"dataChange"`
	ExtendedFileMetadata    *bool             `json:"extendedFileMetadata,omitempty"`
	PartitionValues         PartitionValues   `json:"partitionValues,omitempty"`
	Size                    *int64            `json:"size,omitempty"`
	Stats                   string            `json:"stats,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	DeletionVector          *DeletionVector   `json:"deletionVector,omitempty"`
	BaseRowID               *int64            `json:"baseRowId,omitempty"`
	DefaultRowCommitVersion *int64            `json:"defaultRowCommitVersion,omitempty"`
}

// Txn is the txn action: the latest version of an application's idempotent writes.
type Txn struct {
	AppID       string `json:"appId"`
	Version     int64  `json:"version"`
	LastUpdated *int64 `json:"lastUpdated,omitempty"`
}

// CommitInfo is free-form provenance (operation, parameters, metrics, timestamp). It is kept as
// decoded JSON so that other engines' fields survive.
type CommitInfo map[string]any

// AddCDC is the cdc action: a change-data file of this version.
type AddCDC struct {
	Path            string            `json:"path"`
	PartitionValues PartitionValues   `json:"partitionValues"`
	Size            int64             `json:"size"`
	DataChange      bool              `json:"dataChange"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// DomainMetadata is the domainMetadata action.
type DomainMetadata struct {
	Domain        string `json:"domain"`
	Configuration string `json:"configuration"`
	Removed       bool   `json:"removed"`
}

// CheckpointMetadata is the v2-checkpoint checkpointMetadata action.
type CheckpointMetadata struct {
	Version int64             `json:"version"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// Sidecar is the v2-checkpoint sidecar action: a Parquet file under _delta_log/_sidecars holding
// some of the checkpoint's file actions.
type Sidecar struct {
	Path             string            `json:"path"`
	SizeInBytes      int64             `json:"sizeInBytes"`
	ModificationTime int64             `json:"modificationTime"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// DecodedPath returns the add's path with percent-encoding removed: the storage key relative to the
// table root, or an absolute URI.
func (a *Add) DecodedPath() (string, error) { return decodePath(a.Path) }

// DecodedPath returns the remove's path with percent-encoding removed.
func (r *Remove) DecodedPath() (string, error) { return decodePath(r.Path) }

func decodePath(p string) (string, error) {
	d, err := url.PathUnescape(p)
	if err != nil {
		return "", fmt.Errorf("%w: undecodable file path %q: %v", ErrCorrupt, p, err)
	}
	return d, nil
}

// EncodePath percent-encodes a relative data-file key for an add/remove path, the way Spark and
// delta-rs do (path segments escaped, slashes kept).
func EncodePath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// FileKey returns the logical-file key (path, dvId) that reconciliation uses, with the path decoded
// so that differently-escaped spellings of one file match.
func fileKey(path string, dv *DeletionVector) string {
	p, err := decodePath(path)
	if err != nil {
		p = path
	}
	if dv == nil {
		return p
	}
	return p + "\x00" + dv.UniqueID()
}

// ParseCommit decodes a commit file (newline-delimited JSON). name is used in error messages,
// which give the line number of a malformed action.
func ParseCommit(name string, data []byte) ([]Action, error) {
	out := make([]Action, 0, bytes.Count(data, []byte{'\n'})+1)
	for line := 1; len(data) > 0; line++ {
		b := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			b, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		a, err := parseAction(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrCorrupt, name, line, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// UnmarshalJSON decodes one action line; see decodeAction.
func (a *Action) UnmarshalJSON(b []byte) error {
	d, err := decodeAction(b)
	if err != nil {
		return err
	}
	*a = d
	return nil
}

// actionKeys are the action names this reader knows, as the protocol spells them.
var actionKeys = []string{"protocol", "metaData", "add", "remove", "txn", "commitInfo", "cdc", "domainMetadata",
	"checkpointMetadata", "sidecar"}

// decodeAction decodes one action object. Action names are matched exactly, as the protocol
// spells them and as Spark and delta-rs read them (encoding/json alone would also take a
// miscased key such as "CommitInfo" for an action that other readers ignore as unknown); a null
// action value is an absent one. The usual line, one known action spelled exactly, is decoded in
// one pass; anything else goes key by key.
func decodeAction(b []byte) (Action, error) {
	type plain Action // without the JSON methods
	if key := leadingKey(b); slices.Contains(actionKeys, key) {
		var p plain
		if err := json.Unmarshal(b, &p); err != nil {
			return Action{}, err
		}
		if a := Action(p); setActions(&a) == key {
			return a, nil
		}
	}
	// Keep only the known action names spelled exactly, without null values, and decode those:
	// encoding/json then has no miscased key to match.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return Action{}, err
	}
	for key, raw := range fields {
		if !slices.Contains(actionKeys, key) || bytes.Equal(raw, []byte("null")) {
			delete(fields, key)
		}
	}
	exact, err := json.Marshal(fields)
	if err != nil {
		return Action{}, err
	}
	var p plain
	if err := json.Unmarshal(exact, &p); err != nil {
		return Action{}, err
	}
	return Action(p), nil
}

// leadingKey returns the first key of a JSON object when it is written plainly, without
// whitespace or escapes ({"add":...), else "".
func leadingKey(b []byte) string {
	if len(b) < 2 || b[0] != '{' || b[1] != '"' {
		return ""
	}
	end := bytes.IndexByte(b[2:], '"')
	if end < 0 || bytes.IndexByte(b[2:2+end], '\\') >= 0 {
		return ""
	}
	return string(b[2 : 2+end])
}

// setActions names the one action field that is set, "" when none is or when several are.
func setActions(a *Action) string {
	name, n := "", 0
	for _, f := range []struct {
		key string
		set bool
	}{{"protocol", a.Protocol != nil}, {"metaData", a.Metadata != nil}, {"add", a.Add != nil},
		{"remove", a.Remove != nil}, {"txn", a.Txn != nil}, {"commitInfo", a.CommitInfo != nil},
		{"cdc", a.CDC != nil}, {"domainMetadata", a.DomainMetadata != nil},
		{"checkpointMetadata", a.CheckpointMetadata != nil}, {"sidecar", a.Sidecar != nil}} {
		if f.set {
			name, n = f.key, n+1
		}
	}
	if n != 1 {
		return ""
	}
	return name
}

// MarshalJSON encodes the action as one JSON object. It differs from encoding/json's default only
// for an empty commitInfo, which omitempty would drop, leaving an empty line that no longer
// parses as the same action.
func (a Action) MarshalJSON() ([]byte, error) {
	if a.CommitInfo != nil && len(a.CommitInfo) == 0 && setActions(&a) == "commitInfo" {
		return []byte(`{"commitInfo":{}}`), nil
	}
	type plain Action // without these methods
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(plain(a)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func parseAction(b []byte) (Action, error) {
	a, err := decodeAction(b)
	if err != nil {
		return a, err
	}
	switch {
	case a.Add != nil && a.Add.Path == "":
		return a, fmt.Errorf("add action without path")
	case a.Remove != nil && a.Remove.Path == "":
		return a, fmt.Errorf("remove action without path")
	case a.Metadata != nil && a.Metadata.SchemaString == "":
		return a, fmt.Errorf("metaData action without schemaString")
	case a.Txn != nil && a.Txn.AppID == "":
		return a, fmt.Errorf("txn action without appId")
	}
	return a, nil
}

// EncodeCommit renders actions as a commit file: one JSON object per line, newline-terminated.
func EncodeCommit(actions []Action) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for i := range actions {
		if err := enc.Encode(&actions[i]); err != nil {
			return nil, fmt.Errorf("delta: encode action %d: %w", i, err)
		}
	}
	return b.Bytes(), nil
}
