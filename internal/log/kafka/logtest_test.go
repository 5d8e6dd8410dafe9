package kafka

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/logtest"
)

// TestLogSuite runs the backend-independent suite of package logtest, each subtest on a fresh
// in-process Kafka cluster. AfterClean runs the fake cluster's log cleaner and broker-side
// retention, which a real cluster runs on its own schedule.
func TestLogSuite(t *testing.T) {
	var mu sync.Mutex
	clusters := make(map[*testing.T]*kfake.Cluster) // guarded by mu
	logtest.Run(t, logtest.Harness{
		Open: func(t *testing.T) log.Log {
			c := newCluster(t, kfake.BrokerConfigs(map[string]string{"log.segment.bytes": "4096"}))
			mu.Lock()
			clusters[t] = c
			mu.Unlock()
			t.Cleanup(func() {
				mu.Lock()
				delete(clusters, t)
				mu.Unlock()
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			l, err := Open(ctx, c.ListenAddrs(), WithCleanInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := l.Close(); err != nil && !errors.Is(err, log.ErrClosed) {
					t.Error(err)
				}
			})
			return l
		},
		AfterClean: func(t *testing.T) {
			mu.Lock()
			c := clusters[t]
			mu.Unlock()
			c.Compact()
			c.ApplyRetention()
		},
		SkipHeldBackCompaction: "a Kafka broker's log cleaner compacts whatever groups committed",
	})
}
