package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/testutil"
)

// TestTableCommandsOnS3 runs the table commands against an s3:// location on the in-process S3
// server, with credentials and endpoint from the AWS_* environment as a user would set them.
func TestTableCommandsOnS3(t *testing.T) {
	srv := s3test.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	loc := srv.Location("warehouse/orders")
	tour := filepath.Join(testutil.RepoRoot(t), "examples", "tour")
	steps := [][]string{
		{"table", "create", loc, "--partition-by", "country", "--schema",
			"order_id BIGINT NOT NULL, user_id STRING, country STRING, amount DECIMAL(10,2), status STRING, order_ts TIMESTAMP"},
		{"table", "append", loc, filepath.Join(tour, "orders.csv"), "--quiet"},
		{"table", "append", loc, filepath.Join(tour, "orders-2026-03-03.ndjson"), "--merge-schema", "--quiet"},
		{"table", "overwrite", loc, filepath.Join(tour, "orders-es-corrected.csv"), "--replace-where", "country = 'ES'", "--quiet"},
		{"table", "checkpoint", loc},
		{"table", "restore", loc, "--version", "1"},
	}
	for _, args := range steps {
		if res := runStrata(t, args...); res.code != 0 {
			t.Fatalf("strata %s: exit %d: %s", strings.Join(args, " "), res.code, res.stderr)
		}
	}
	// Version 3 holds 9 orders (8 + 3 - the 5 Spanish ones + 3 corrected); version 4 restores 1's 8.
	for version, want := range map[string]int{"1": 8, "2": 11, "3": 9, "4": 8} {
		res := runStrata(t, "table", "scan", loc, "--version", version, "--format", "csv")
		if res.code != 0 {
			t.Fatalf("scan v%s: %s", version, res.stderr)
		}
		if got := strings.Count(strings.TrimSpace(res.stdout), "\n"); got != want {
			t.Errorf("version %s: %d rows, want %d:\n%s", version, got, want, res.stdout)
		}
	}
	res := runStrata(t, "table", "describe", loc, "--json")
	if res.code != 0 || !strings.Contains(res.stdout, `"location": "s3://`) || !strings.Contains(res.stdout, `"version": 4`) {
		t.Fatalf("describe: %d %s %s", res.code, res.stdout, res.stderr)
	}
	// A wrong endpoint fails with an error naming the location, and nothing hangs.
	os.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	defer os.Unsetenv("AWS_ENDPOINT_URL")
	res = runStrata(t, "table", "describe", loc, "--s3-endpoint", "http://127.0.0.1:1")
	if res.code == 0 || !strings.Contains(res.stderr, "s3://") {
		t.Fatalf("bad endpoint: %d %s", res.code, res.stderr)
	}
}
