package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/peterh/liner"

	"github.com/stratalake/strata/internal/engine"
)

// The interactive shell of `strata sql`. Line editing and history come from github.com/peterh/liner
// (pure Go, maintained, no cgo): Emacs-style keys, Up/Down and Ctrl-R through the history, which is
// kept in ~/.strata_history. A statement may span lines and runs when a line completes it with a
// top-level ';' (engine.CompleteStatements decides, with the engine's tokenizer). Lines starting
// with '.' when no statement is pending are dot-commands. Ctrl-C at the prompt discards the pending
// input; Ctrl-C while a statement runs cancels that statement (its context) and returns to the
// prompt; Ctrl-D or .quit leaves.
//
// When standard input is not a terminal the same loop reads it without prompts or line editing,
// stops at the first error (naming the statement's number and line) and exits non-zero.

// historyFile is the shell's history, in the user's home directory.
const historyFile = ".strata_history"

// shell is one session of the interactive shell. It is used by one goroutine.
type shell struct {
	g           *globals
	e           *engine.Engine
	w           *resultWriter
	pending     string // input of an incomplete statement
	pendingLine int    // the input line on which pending starts
	line        int    // input lines read, for statement line numbers
	count       int    // statements run
	quit        bool

	// interactive is set for a terminal: errors are printed and the loop goes on.
	interactive bool

	mu        sync.Mutex         // guards cancel and terminate
	cancel    context.CancelFunc // cancels the running statement; nil between statements
	terminate func()             // restores the terminal on SIGTERM; nil without one
}

// runREPL runs the interactive shell on a terminal, or reads statements from standard input when
// it is not one. On a terminal SIGINT cancels the running statement only. SIGTERM, and SIGINT
// without a terminal, cancel it, restore the terminal and end the process at once (status 128+n),
// since the shell may be blocked reading its input; a commit is atomic, so stopping anywhere
// leaves each table at a version.
func runREPL(ctx context.Context, g *globals, e *engine.Engine, w *resultWriter) error {
	s := &shell{g: g, e: e, w: w}
	if _, err := liner.TerminalMode(); err == nil {
		s.interactive = true
	}
	// The shell outlives a Ctrl-C: statements run under a context that ignores the process-wide
	// interrupt cancellation and are cancelled one at a time instead.
	base, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case sig := <-sigs:
				s.interrupt()
				if sig == syscall.SIGTERM || !s.interactive {
					stop()
					s.mu.Lock()
					if s.terminate != nil {
						s.terminate()
					}
					s.mu.Unlock()
					os.Exit(128 + int(sig.(syscall.Signal)))
				}
			case <-done:
				return
			}
		}
	}()
	if s.interactive {
		return s.runTerminal(base)
	}
	return s.runReader(base, os.Stdin)
}

// interrupt cancels the running statement, if any.
func (s *shell) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
}

// prompts returns the primary prompt (naming the project) and the continuation prompt, of equal
// width.
func (s *shell) prompts() (string, string) {
	name := "strata"
	if p := s.e.Project(); p != nil {
		n := p.Config.Name
		if n == "" {
			n = filepath.Base(p.Dir)
		}
		name = "strata:" + n
	}
	return name + "> ", strings.Repeat(" ", max(len(name)-3, 0)) + "...> "
}

// runTerminal is the interactive loop with line editing.
func (s *shell) runTerminal(ctx context.Context) error {
	ln := liner.NewLiner()
	defer ln.Close()
	s.mu.Lock()
	s.terminate = func() { ln.Close() }
	s.mu.Unlock()
	ln.SetCtrlCAborts(true)
	ln.SetMultiLineMode(true)
	histPath := ""
	if home, err := os.UserHomeDir(); err == nil {
		histPath = filepath.Join(home, historyFile)
		if f, err := os.Open(histPath); err == nil {
			ln.ReadHistory(f)
			f.Close()
		}
	}
	saveHistory := func() {
		if histPath == "" {
			return
		}
		if f, err := os.OpenFile(histPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
			ln.WriteHistory(f)
			f.Close()
		}
	}
	primary, cont := s.prompts()
	fmt.Fprintf(s.g.stdout, "Strata %s SQL shell. Statements end with ';'. Enter .help for the dot-commands, Ctrl-D to leave.\n", Version)
	var entry []string // the lines of the statement being typed, for the history
	for !s.quit && ctx.Err() == nil {
		prompt := primary
		if s.pending != "" {
			prompt = cont
		}
		text, err := ln.Prompt(prompt)
		switch {
		case errors.Is(err, liner.ErrPromptAborted):
			s.pending, entry = "", nil // Ctrl-C discards the pending input
			continue
		case errors.Is(err, io.EOF):
			fmt.Fprintln(s.g.stdout)
			return nil
		case err != nil:
			return err
		}
		if strings.TrimSpace(text) != "" {
			entry = append(entry, strings.TrimSpace(text))
		}
		s.feed(ctx, text)
		if s.pending == "" && len(entry) > 0 {
			ln.AppendHistory(strings.Join(entry, " "))
			entry = nil
			saveHistory() // at once: a killed shell keeps its history
		}
	}
	return ctx.Err()
}

// runReader reads statements from r (standard input that is not a terminal) and runs them in
// order; the first error ends the run.
func (s *shell) runReader(ctx context.Context, r io.Reader) error {
	br := bufio.NewReader(r)
	for !s.quit {
		text, err := br.ReadString('\n')
		if text != "" {
			if ferr := s.feed(ctx, strings.TrimSuffix(text, "\n")); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if s.quit || strings.TrimSpace(s.pending) == "" {
		return nil
	}
	// A last statement without its semicolon still runs.
	stmts, err := engine.SplitScript(s.pending)
	if err != nil {
		return fmt.Errorf("statement %d (line %d): %w", s.count+1, s.pendingLine, err)
	}
	for _, st := range stmts {
		st.Line += s.pendingLine - 1
		if err := s.exec(ctx, st); err != nil {
			return err
		}
	}
	s.pending = ""
	return nil
}

// feed takes one line of input: a dot-command, or more SQL, running every statement it completes.
// Interactive errors are printed and nil is returned; otherwise the first error is returned.
func (s *shell) feed(ctx context.Context, text string) error {
	s.line++
	if s.pending == "" && strings.HasPrefix(strings.TrimSpace(text), ".") {
		return s.report(s.dotCommand(ctx, strings.TrimSpace(text)))
	}
	if s.pending == "" && strings.TrimSpace(text) == "" {
		return nil
	}
	if s.pending == "" {
		s.pendingLine = s.line
	}
	input := s.pending + text + "\n"
	stmts, rest := engine.CompleteStatements(input)
	firstLine := s.pendingLine
	s.pending = rest
	s.pendingLine += strings.Count(input[:len(input)-len(rest)], "\n")
	if strings.TrimSpace(rest) == "" || onlyComments(rest) {
		s.pending = ""
	}
	for _, st := range stmts {
		st.Line += firstLine - 1
		if err := s.report(s.exec(ctx, st)); err != nil {
			return err
		}
	}
	return nil
}

// onlyComments reports whether text holds no statement, only comments (and is complete).
func onlyComments(text string) bool {
	stmts, err := engine.SplitScript(text)
	return err == nil && len(stmts) == 0
}

// exec runs one statement under its own cancellable context.
func (s *shell) exec(ctx context.Context, st engine.ScriptStatement) error {
	s.count++
	sctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancel = nil
		s.mu.Unlock()
		cancel()
	}()
	err := s.w.run(sctx, s.e, st)
	if err != nil && sctx.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("statement cancelled (Ctrl-C): %w", err)
	}
	if err != nil && !s.interactive {
		return fmt.Errorf("statement %d (line %d: %s):\n%w", s.count, st.Line, abbreviate(st.FirstLine(), 80), err)
	}
	return err
}

// report prints an error in interactive use (and swallows it); elsewhere it returns it.
func (s *shell) report(err error) error {
	if err == nil || !s.interactive {
		return err
	}
	fmt.Fprintf(s.g.stderr, "Error: %v\n", err)
	return nil
}

const shellHelp = `Statements end with ';' and may span lines. Dot-commands:
  .help                      this help
  .tables [DOMAIN]           list the project's tables (SHOW TABLES [IN DOMAIN])
  .format table|csv|ndjson   how query results are printed (now: %s)
  .quit                      leave (or Ctrl-D)
Ctrl-C discards the line being typed, or cancels the running statement.
Upkeep statements: DESCRIBE HISTORY t, DESCRIBE DETAIL t, SHOW TABLES, VACUUM t [RETAIN n HOURS]
[DRY RUN] [FORCE], RESTORE TABLE t TO VERSION AS OF n, OPTIMIZE t [ZORDER BY (cols)].
`

// dotCommand runs one of the shell's own commands.
func (s *shell) dotCommand(ctx context.Context, text string) error {
	fields := strings.Fields(text)
	cmd, args := fields[0], fields[1:]
	switch cmd {
	case ".help", ".h":
		fmt.Fprintf(s.g.stdout, shellHelp, s.w.format)
	case ".quit", ".exit", ".q":
		s.quit = true
	case ".tables":
		if len(args) > 1 {
			return fmt.Errorf(".tables takes at most one domain")
		}
		sql := "SHOW TABLES"
		if len(args) == 1 {
			sql += " IN " + args[0]
		}
		return s.exec(ctx, engine.ScriptStatement{Text: sql, Line: s.line})
	case ".format", ".mode":
		if len(args) != 1 {
			fmt.Fprintf(s.g.stdout, "format: %s\n", s.w.format)
			return nil
		}
		switch args[0] {
		case "table", "csv", "ndjson":
			if s.w.format == "parquet" {
				return fmt.Errorf(".format: this session writes parquet to %s", s.w.path)
			}
			s.w.format = args[0]
		default:
			return fmt.Errorf(".format %s: want table, csv or ndjson", args[0])
		}
	default:
		return fmt.Errorf("unknown command %s (.help lists the commands)", cmd)
	}
	return nil
}
