//go:build !unix

package bench

import "os"

// peakRSS is not measured on this system.
func peakRSS(*os.ProcessState) int64 { return 0 }

// selfPeakRSS is not measured on this system.
func selfPeakRSS() int64 { return 0 }

// selfRSS is not measured on this system.
func selfRSS() int64 { return 0 }
