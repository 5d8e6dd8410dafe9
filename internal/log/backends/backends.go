// Package backends opens the log a project or the command line names: the embedded backend
// (segment files in a local folder) or a Kafka-protocol cluster. It is the one place that knows
// both, so the packages above the log import only package log.
package backends

import (
	"context"
	"fmt"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
	"github.com/stratalake/strata/internal/log/kafka"
	"github.com/stratalake/strata/internal/project"
)

// Open opens the log cfg describes (a project's log: key, after project.Load resolved it).
func Open(ctx context.Context, cfg project.LogConfig) (log.Log, error) {
	switch cfg.Backend {
	case project.LogEmbedded, "":
		if cfg.Dir == "" {
			return nil, fmt.Errorf("log: the embedded backend needs a folder")
		}
		l, err := embedded.Open(ctx, cfg.Dir)
		if err != nil {
			return nil, err
		}
		return l, nil
	case project.LogKafka:
		if len(cfg.Brokers) == 0 {
			return nil, fmt.Errorf("log: the kafka backend needs brokers")
		}
		l, err := kafka.Open(ctx, cfg.Brokers)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	return nil, fmt.Errorf("log: unknown backend %q (embedded or kafka)", cfg.Backend)
}
