package embedded

import (
	"errors"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/logtest"
)

// testOptions are small enough that the shared suite crosses segment and index boundaries.
func testOptions(extra ...Option) []Option {
	return append([]Option{SegmentBytes(logtest.MaxSegmentBytes), IndexIntervalBytes(256), CleanInterval(0)}, extra...)
}

func openTest(t *testing.T, dir string, opts ...Option) *Log {
	t.Helper()
	l, err := Open(t.Context(), dir, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil && !errors.Is(err, log.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func TestSuite(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"SyncEveryBatch", testOptions(SyncEveryBatch())},
		{"SyncInterval", testOptions(SyncInterval(5 * time.Millisecond))},
	} {
		t.Run(c.name, func(t *testing.T) {
			logtest.Run(t, logtest.Harness{
				Open: func(t *testing.T) log.Log { return openTest(t, t.TempDir(), c.opts...) },
			})
		})
	}
}
