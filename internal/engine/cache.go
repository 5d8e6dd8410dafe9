package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// fetchRemote copies the data files of a remote table into the local cache directory (once per
// file: data files are immutable) and returns their local paths.
func (e *Engine) fetchRemote(ctx context.Context, t *table.Table, files []*delta.Add) ([]string, error) {
	dir := e.opts.CacheDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "strata-cache")
	}
	sum := sha256.Sum256([]byte(t.Location()))
	base := filepath.Join(dir, hex.EncodeToString(sum[:8]))
	out := make([]string, len(files))
	for i, f := range files {
		key, err := delta.FileKeyForPath(t.Location(), f.Path)
		if err != nil {
			return nil, err
		}
		local := filepath.Join(base, filepath.FromSlash(key))
		if st, err := os.Stat(local); err == nil && st.Size() == f.Size {
			out[i] = local
			continue
		}
		data, err := t.Store().Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("engine: fetch %s: %w", key, err)
		}
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			return nil, err
		}
		tmp := local + ".part"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, local); err != nil {
			return nil, err
		}
		out[i] = local
	}
	return out, nil
}
