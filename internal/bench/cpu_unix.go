//go:build unix

package bench

import (
	"syscall"
	"time"
)

// cpuTime is the user plus system CPU time this process has used so far (all threads), or 0 if
// the operating system does not say.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
