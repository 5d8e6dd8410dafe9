package reliability

import (
	"context"
	"errors"
)

// runCrash is being built (issue 7).
func runCrash(ctx context.Context, env Env, rep *Report) error {
	return errors.New("crash: not built yet")
}
