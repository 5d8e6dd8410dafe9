package pipeline

import (
	"context"
	"testing"
)

func TestEquivDebug(t *testing.T) {
	in := equivGenerate(1, equivProfiles[0], equivSize{events: 100, users: 8, files: 2, chunks: 2})
	e := newEquivProject(t, in)
	ctx := context.Background()
	pl, err := Load(ctx, e.proj, e.eng)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pl.Validate(ctx)
	t.Log(w, err)
	for _, n := range pl.Nodes {
		if n.info != nil {
			t.Logf("%s %s schema=%v", n.Name, n.info.mode, n.info.schema)
		}
	}
}
