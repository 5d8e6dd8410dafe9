//go:build unix

package bench

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// peakRSS is the peak resident set size of an exited child process, in bytes, as wait4 reports
// it (0 if unknown). On Linux the figure is useless for a child of a large process: exec keeps
// the parent's high-water mark (the child starts as a clone of the parent's address space), so
// workers report their own peak (selfPeakRSS) and this is only the fallback elsewhere.
func peakRSS(ps *os.ProcessState) int64 {
	if ps == nil || runtime.GOOS == "linux" {
		return 0
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes there
	}
	return int64(ru.Maxrss) * 1024 // kilobytes on the BSDs
}

// selfPeakRSS is this process's peak resident set size since its exec, in bytes: VmHWM of
// /proc/self/status on Linux, 0 elsewhere (the parent's wait4 figure is used there).
func selfPeakRSS() int64 { return procStatusBytes("VmHWM:") }

// selfRSS is this process's current resident set size in bytes (VmRSS; 0 if unknown).
func selfRSS() int64 { return procStatusBytes("VmRSS:") }

func procStatusBytes(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(field)); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return 0
			}
			return kb * 1024
		}
	}
	return 0
}
