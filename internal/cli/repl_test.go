//go:build linux

package cli

// The interactive shell on a real pseudo-terminal, as a person uses it. The shell runs in a child
// process (the test binary again, see TestStrataHelperProcess) whose controlling terminal is the
// pseudo-terminal, since the shell owns its process's terminal mode and signals. Linux only: the
// pseudo-terminal is opened with Linux ioctls.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stratalake/strata/internal/project"
)

// TestStrataHelperProcess is not a test: TestSQLShellTerminal runs the test binary again with
// STRATA_HELPER_ARGS set, and this function then runs the CLI as the child's main program.
func TestStrataHelperProcess(t *testing.T) {
	args := os.Getenv("STRATA_HELPER_ARGS")
	if args == "" {
		t.Skip("runs only as TestSQLShellTerminal's child process")
	}
	os.Exit(Main(strings.Split(args, "\x1f")))
}

// openPTY opens a pseudo-terminal pair of size 40x120 and returns its master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// terminal is the test's side of a pseudo-terminal: it records everything the child prints.
type terminal struct {
	t      *testing.T
	master *os.File
	mu     sync.Mutex // guards out
	out    bytes.Buffer
	seen   int // offset up to which expect has matched
}

func (term *terminal) read() {
	buf := make([]byte, 4096)
	for {
		n, err := term.master.Read(buf)
		term.mu.Lock()
		term.out.Write(buf[:n])
		term.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (term *terminal) send(keys string) {
	term.t.Helper()
	if _, err := term.master.Write([]byte(keys)); err != nil {
		term.t.Fatal(err)
	}
}

// expect waits until the output after the last match holds want, and moves past it. The
// deadline only keeps a broken shell from hanging the test.
func (term *terminal) expect(want string) {
	term.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		term.mu.Lock()
		s := term.out.String()
		term.mu.Unlock()
		if i := strings.Index(s[term.seen:], want); i >= 0 {
			term.seen += i + len(want)
			return
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("the shell never printed %q; its output after the last match:\n%s", want, s[term.seen:])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startShell runs `strata sql --project p.Dir` in a child process whose terminal is a
// pseudo-terminal (the child is a session leader, so Ctrl-C typed there reaches it as SIGINT).
func startShell(t *testing.T, p *project.Project, home string) (*exec.Cmd, *terminal) {
	t.Helper()
	master, slave := openPTY(t)
	t.Cleanup(func() { master.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^TestStrataHelperProcess$")
	cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm",
		"STRATA_HELPER_ARGS="+strings.Join([]string{"sql", "--project", p.Dir}, "\x1f"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	term := &terminal{t: t, master: master}
	go term.read()
	return cmd, term
}

// TestSQLShellTerminate: SIGTERM ends the shell at its prompt with status 143.
func TestSQLShellTerminate(t *testing.T) {
	p := sqlProject(t)
	cmd, term := startShell(t, p, t.TempDir())
	term.expect("strata:" + filepath.Base(p.Dir) + "> ")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestSQLShellTerminal drives the interactive shell on a pseudo-terminal, as a person would: a
// multi-line statement, line editing, history recall, Ctrl-C at the prompt and during a running
// statement, dot-commands, Ctrl-D, and the history file.
func TestSQLShellTerminal(t *testing.T) {
	p := sqlProject(t)
	home := t.TempDir()
	cmd, term := startShell(t, p, home)
	prompt := "strata:" + filepath.Base(p.Dir) + "> "
	term.expect("Enter .help")
	term.expect(prompt)
	// A statement over two lines: the continuation prompt, then the result.
	term.send("SELECT count(*) AS n,\r")
	term.expect("...> ")
	term.send("  sum(amount) AS total FROM sales.orders;\r")
	term.expect("150")
	term.expect(prompt)
	// Line editing: type the end first, go to the start of the line (Ctrl-A) and insert.
	term.send("ELECT 6 * 7 AS answer;\x01S\r")
	term.expect("answer")
	term.expect("42")
	term.expect(prompt)
	// History: Up twice recalls the two-line statement as one line.
	term.send("\x1b[A\x1b[A\r")
	term.expect("150")
	term.expect(prompt)
	// Ctrl-C at the prompt discards the input; the next statement runs alone.
	term.send("SELECT 'discarded")
	term.expect("discarded")
	term.send("\x03")
	term.expect(prompt)
	term.send("SELECT 'kept' AS k;\r")
	term.expect("kept")
	term.expect(prompt)
	// Ctrl-C during a statement cancels it (repeated until it lands while the statement runs);
	// the shell goes on.
	term.send("SELECT count(*) FROM range(1000000000000) a;\r")
	for i := 0; ; i++ {
		term.mu.Lock()
		cancelled := strings.Contains(term.out.String()[term.seen:], "cancelled")
		term.mu.Unlock()
		if cancelled || i == 3000 {
			break
		}
		term.send("\x03")
		time.Sleep(20 * time.Millisecond)
	}
	term.expect("statement cancelled (Ctrl-C)")
	term.expect(prompt)
	term.send("SELECT 'alive' AS after_cancel;\r")
	term.expect("after_cancel")
	term.expect(prompt)
	// Dot-commands.
	term.send(".tables\r")
	term.expect("sales   orders")
	term.expect(prompt)
	term.send(".format csv\r")
	term.expect(prompt)
	term.send("SELECT 1 AS a, 2 AS b;\r")
	term.expect("a,b\r\n1,2")
	term.expect(prompt)
	term.send(".help\r")
	term.expect(".format table|csv|ndjson")
	term.expect(prompt)
	term.send(".nope\r")
	term.expect("Error: unknown command .nope")
	term.expect(prompt)
	// An error is printed and the shell goes on.
	term.send("SELECT * FROM sales.nope;\r")
	term.expect("unknown table")
	term.expect(prompt)
	// Ctrl-D leaves with status 0.
	term.send("\x04")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shell exit: %v\n%s", err, term.out.String())
	}
	hist, err := os.ReadFile(filepath.Join(home, historyFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SELECT count(*) AS n, sum(amount) AS total FROM sales.orders;\n", "SELECT 6 * 7 AS answer;\n", ".format csv\n"} {
		if !strings.Contains(string(hist), want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if strings.Contains(string(hist), "discarded") {
		t.Errorf("history holds discarded input:\n%s", hist)
	}
}
