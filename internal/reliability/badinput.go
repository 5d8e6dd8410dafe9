package reliability

import (
	"context"
	"errors"
)

// runBadInput is being built (issue 7).
func runBadInput(ctx context.Context, env Env, rep *Report) error {
	return errors.New("badinput: not built yet")
}
