package delta

import (
	"fmt"
	"strings"
	"testing"
)

func TestAlterProperties(t *testing.T) {
	schema := `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}}]}`
	snapWith := func(p *Protocol, conf map[string]string) *Snapshot {
		return &Snapshot{protocol: p, metadata: &Metadata{ID: "x", SchemaString: schema, Configuration: conf}}
	}
	tests := []struct {
		name      string
		proto     *Protocol
		set       map[string]string
		unset     []string
		wantProto string // "" = unchanged
		err       string
	}{
		{name: "plain property", proto: &Protocol{1, 2, nil, nil}, set: map[string]string{"owner": "sales"}},
		{name: "deletion vectors upgrade a legacy protocol to table features",
			proto: &Protocol{1, 2, nil, nil}, set: map[string]string{"delta.enableDeletionVectors": "true"},
			wantProto: "3 7 [deletionVectors] [appendOnly deletionVectors invariants]"},
		{name: "reader 2 keeps column mapping as a feature",
			proto: &Protocol{2, 5, nil, nil}, set: map[string]string{"delta.checkpointPolicy": "v2"},
			wantProto: "3 7 [columnMapping v2Checkpoint] [appendOnly changeDataFeed checkConstraints columnMapping generatedColumns invariants v2Checkpoint]"},
		{name: "change data feed on a legacy writer",
			proto: &Protocol{1, 2, nil, nil}, set: map[string]string{"delta.enableChangeDataFeed": "true"},
			wantProto: "1 7 [] [appendOnly changeDataFeed invariants]"},
		{name: "feature already there", proto: &Protocol{3, 7, []string{"deletionVectors"}, []string{"deletionVectors"}},
			set: map[string]string{"delta.enableDeletionVectors": "true"}},
		{name: "bad interval", proto: &Protocol{1, 2, nil, nil}, set: map[string]string{"delta.logRetentionDuration": "forever"}, err: "delta.logRetentionDuration"},
		{name: "bad bool", proto: &Protocol{1, 2, nil, nil}, set: map[string]string{"delta.appendOnly": "yes"}, err: "true or false"},
		{name: "column mapping change", proto: &Protocol{1, 2, nil, nil}, set: map[string]string{"delta.columnMapping.mode": "name"}, err: "not supported"},
		{name: "unset missing", proto: &Protocol{1, 2, nil, nil}, unset: []string{"nope"}, err: "is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, md, err := AlterProperties(snapWith(tt.proto, map[string]string{}), tt.set, tt.unset)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p != nil {
				got = fmt.Sprintf("%d %d %s %s", p.MinReaderVersion, p.MinWriterVersion, fmtList(p.ReaderFeatures), fmtList(p.WriterFeatures))
			}
			if got != tt.wantProto {
				t.Fatalf("protocol = %q, want %q", got, tt.wantProto)
			}
			for k, v := range tt.set {
				if md.Configuration[k] != v {
					t.Fatalf("property %s = %q", k, md.Configuration[k])
				}
			}
		})
	}
}

func fmtList(s []string) string { return "[" + strings.Join(s, " ") + "]" }
