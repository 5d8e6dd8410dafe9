package reliability

import (
	"context"
	"errors"
)

// runStorage is being built (issue 7).
func runStorage(ctx context.Context, env Env, rep *Report) error {
	return errors.New("storage: not built yet")
}
