package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports long work on stderr: a progress bar on a terminal, a log line every few seconds
// otherwise (CI logs, pipes). A total <= 0 means unknown (a counter instead of a bar). Safe for
// concurrent use.
type progress struct {
	mu    sync.Mutex // guards everything below
	bar   *progressbar.ProgressBar
	w     io.Writer
	desc  string
	unit  string
	n     int64
	start time.Time
	last  time.Time
	quiet bool
}

func newProgress(desc string, total int64, unit string, quiet bool) *progress {
	p := &progress{w: os.Stderr, desc: desc, unit: unit, start: time.Now(), last: time.Now(), quiet: quiet}
	if quiet {
		return p
	}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		if total <= 0 {
			total = -1
		}
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
	}
	return p
}

// Add advances the count by n.
func (p *progress) Add(n int64) {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += n
	if p.bar != nil {
		_ = p.bar.Add64(n)
		return
	}
	if time.Since(p.last) >= 3*time.Second {
		p.last = time.Now()
		fmt.Fprintf(p.w, "strata: %s: %d %s so far (%.0f %s/s)\n", p.desc, p.n, p.unit, float64(p.n)/time.Since(p.start).Seconds(), p.unit)
	}
}

// Done ends the report.
func (p *progress) Done() {
	if p == nil || p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
