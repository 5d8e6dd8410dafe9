//go:build !unix

package embedded

import (
	"fmt"
	"os"
)

// lockDir only creates the lock file where flock(2) is missing: nothing stops two processes
// from opening the same log there.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("embedded log: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) error { return f.Close() }
