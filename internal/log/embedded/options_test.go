package embedded

import (
	"errors"
	"testing"
	"time"
)

func TestOptionsValidated(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  Option
	}{
		{"SyncInterval 0", SyncInterval(0)},
		{"SyncInterval negative", SyncInterval(-time.Second)},
		{"SegmentBytes too small", SegmentBytes(10)},
		{"SegmentBytes too large", SegmentBytes(2 << 30)},
		{"IndexIntervalBytes 0", IndexIntervalBytes(0)},
		{"CleanInterval negative", CleanInterval(-1)},
		{"MaxBatchBytes too small", MaxBatchBytes(10)},
		{"MaxBatchBytes too large", MaxBatchBytes(1 << 30)},
		{"nil clock", WithClock(nil)},
		{"nil logger", WithLogger(nil)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(t.Context(), t.TempDir(), c.opt)
			if !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("Open = %v, want ErrInvalidOption", err)
			}
		})
	}
}
