package pgwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it unblocks a pending Read at once.
var aLongTimeAgo = time.Unix(1, 0)

// maxPendingRead bounds what the disconnect watch reads ahead of psql-wire (a client that
// pipelines messages while a statement runs).
const maxPendingRead = 1 << 20

// trackedConn is an accepted connection as psql-wire sees it. Besides tracking the connection
// for shutdown, it gives the connection a context (cancelled when the connection ends, the
// client disconnects or the server closes) and watches for the client going away while a
// statement runs, when psql-wire is not reading: a background read (as net/http does) that
// keeps what it reads for psql-wire and cancels the context on EOF or error.
type trackedConn struct {
	net.Conn
	srv    *Server
	ctx    context.Context // the connection's lifetime
	cancel context.CancelFunc
	once   sync.Once

	pid, secret int32 // cancel key; set once at startup (under srv.mu)

	mu      sync.Mutex    // guards watch, pending, readErr, stmt, paramsDone
	watch   chan struct{} // non-nil while a background read runs; closed when it ends
	pending []byte        // bytes the background read got that psql-wire has not read yet
	readErr error         // the error the background read met, returned by the next Read
	stmt    context.CancelFunc
	// paramsDone is set once the startup's ParameterStatus messages are written.
	paramsDone bool
}

func newTrackedConn(s *Server, c net.Conn) *trackedConn {
	ctx, cancel := context.WithCancel(s.base)
	return &trackedConn{Conn: c, srv: s, ctx: ctx, cancel: cancel}
}

// RemoteAddr returns the peer's address, carrying the connection so that psql-wire's handlers
// can find it from their context.
func (c *trackedConn) RemoteAddr() net.Addr { return &connAddr{Addr: c.Conn.RemoteAddr(), conn: c} }

// connAddr is a remote address that knows its connection.
type connAddr struct {
	net.Addr
	conn *trackedConn
}

// Close closes the connection and cancels its context; the first call also releases it from
// the server's tracking (psql-wire calls Close when its handler ends).
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.cancel()
		c.srv.untrack(c)
	})
	return err
}

// Read returns what the background read kept first, after stopping it.
func (c *trackedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.stopWatchLocked()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		c.mu.Unlock()
		return n, nil
	}
	if err := c.readErr; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// startWatch starts the background read that notices a client going away while a statement
// runs. It is stopped by the next Read.
func (c *trackedConn) startWatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watch != nil || c.readErr != nil {
		return
	}
	done := make(chan struct{})
	c.watch = done
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Conn.Read(buf)
			c.mu.Lock()
			c.pending = append(c.pending, buf[:n]...)
			full := len(c.pending) >= maxPendingRead
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				c.readErr = err
				c.cancel() // the client is gone: cancel what runs for it
			}
			c.mu.Unlock()
			if err != nil || full {
				return
			}
		}
	}()
}

// stopWatchLocked stops the background read, if any, and waits for it. c.mu is held; it is
// released while waiting.
func (c *trackedConn) stopWatchLocked() {
	done := c.watch
	if done == nil {
		return
	}
	_ = c.Conn.SetReadDeadline(aLongTimeAgo)
	c.mu.Unlock()
	<-done
	c.mu.Lock()
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.watch = nil
}

// statementContext returns the context a statement runs with: the connection's, bounded by
// the query timeout and cancellable by a CancelRequest. done must be called when the statement
// ends (its result released).
func (c *trackedConn) statementContext() (ctx context.Context, done func()) {
	ctx, cancel := context.WithTimeoutCause(c.ctx, c.srv.opts.QueryTimeout, errStatementTimeout)
	ctx, cancelStmt := context.WithCancelCause(ctx)
	c.mu.Lock()
	c.stmt = func() { cancelStmt(errCanceledByUser) }
	c.mu.Unlock()
	c.startWatch()
	return ctx, func() {
		c.mu.Lock()
		c.stmt = nil
		c.mu.Unlock()
		cancelStmt(nil)
		cancel()
	}
}

// cancelStatement cancels the statement running on the connection (a CancelRequest).
func (c *trackedConn) cancelStatement() {
	c.mu.Lock()
	cancel := c.stmt
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Write passes messages through, except that until the startup's ParameterStatus messages are
// written it rewrites the server_version one: psql-wire always announces "150000", which libpq
// reads as major version 150000 (psql then warns about a version mismatch).
func (c *trackedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	patch := !c.paramsDone
	c.mu.Unlock()
	if patch && len(p) > 0 {
		switch p[0] {
		case 'S':
			if q, ok := patchServerVersion(p); ok {
				if _, err := c.Conn.Write(q); err != nil {
					return 0, err
				}
				return len(p), nil
			}
		case 'Z', 'E':
			c.mu.Lock()
			c.paramsDone = true
			c.mu.Unlock()
		}
	}
	return c.Conn.Write(p)
}

// patchServerVersion rewrites a ParameterStatus server_version message to announce
// pgSettings["server_version"]; ok is false when p is not that message.
func patchServerVersion(p []byte) ([]byte, bool) {
	const key = "server_version\x00"
	if len(p) < 5+len(key) || !bytes.Equal(p[5:5+len(key)], []byte(key)) {
		return nil, false
	}
	if int(binary.BigEndian.Uint32(p[1:5]))+1 != len(p) {
		return nil, false // not exactly one message
	}
	body := key + pgSettings["server_version"] + "\x00"
	q := make([]byte, 5, 5+len(body))
	q[0] = 'S'
	binary.BigEndian.PutUint32(q[1:5], uint32(4+len(body)))
	return append(q, body...), true
}
