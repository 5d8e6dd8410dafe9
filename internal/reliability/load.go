package reliability

import (
	"context"
	"errors"
)

// runLoad is being built (issue 7).
func runLoad(ctx context.Context, env Env, rep *Report) error {
	return errors.New("load: not built yet")
}
