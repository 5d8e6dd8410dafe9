package reliability

import (
	"context"
	"errors"
)

// runWriters is being built (issue 7).
func runWriters(ctx context.Context, env Env, rep *Report) error {
	return errors.New("writers: not built yet")
}

// runWriterWorker is being built (issue 7).
func runWriterWorker(ctx context.Context) error { return errors.New("writer worker: not built yet") }
