// Package pgwire serves Strata over the Postgres wire protocol, so that psql, pgx, Grafana,
// Metabase or Superset connect to it as to a Postgres database and run the SQL `strata sql`
// runs (DuckDB's dialect, project tables as domain.table), through the simple and the extended
// query protocols.
//
// Statements go one of three ways:
//   - session statements (SET, SHOW setting, BEGIN/COMMIT/ROLLBACK, DISCARD, ...) are answered
//     by the session itself: Strata's reads need no transactions;
//   - statements that read the system catalogs (pg_catalog, information_schema, pg_* functions,
//     version(), current_database(), ...) run on the catalog, a separate schema-only DuckDB
//     database that emulates Postgres's catalogs over the project's tables (catalog.go);
//   - everything else runs through the engine (engine.Engine.Query), one statement at a time.
//
// Result columns are typed with Postgres OIDs mapped from Arrow types (types.go) and sent in the
// format each client asks for (text or binary). Parameters ($1..$n) of the extended protocol
// are substituted into the statement as typed SQL literals (params.go), never as SQL text.
package pgwire

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"sync"
	"time"

	wire "github.com/jeroenrinzema/psql-wire"
	"github.com/jeroenrinzema/psql-wire/codes"
	psqlerr "github.com/jeroenrinzema/psql-wire/errors"
	"github.com/jeroenrinzema/psql-wire/pkg/buffer"
	"github.com/jeroenrinzema/psql-wire/pkg/types"

	"github.com/stratalake/strata/internal/engine"
)

// DefaultQueryTimeout bounds a statement's run when Options.QueryTimeout is zero.
const DefaultQueryTimeout = 60 * time.Second

// maxMessageSize bounds a client message (a statement's text, a Bind's parameters).
const maxMessageSize = 4 << 20

// ErrAuth is the error a connection refused at authentication is closed with (wrong user,
// database or password).
var ErrAuth = errors.New("authentication failed")

// Options configure a Server.
type Options struct {
	// Engine runs every statement that is not a session or catalog statement, and resolves
	// domain.table names of its project. Required. The server does not close it.
	Engine *engine.Engine
	// User, Password and Database are what clients log in with: defaults "strata", "" and
	// "strata". A client naming another user or database is refused.
	User, Password, Database string
	// TrustLoopback accepts connections from loopback addresses without a password (the
	// demo). Otherwise a cleartext password is asked for when Password != "".
	TrustLoopback bool
	// QueryTimeout bounds each statement's run (default DefaultQueryTimeout); a statement past
	// it is cancelled with SQLSTATE 57014.
	QueryTimeout time.Duration
	// Logger receives connection and refresh events; default slog.Default().
	Logger *slog.Logger
}

// Server is a Postgres wire-protocol endpoint over an engine. It is safe for concurrent use:
// every connection is served by its own goroutine, and every statement runs with a context
// cancelled when its client disconnects, asks to cancel, or exceeds QueryTimeout.
type Server struct {
	opts    Options
	wire    *wire.Server
	catalog *catalog
	log     *slog.Logger
	version string // version() and SHOW server_version's long form

	base       context.Context // parent of every connection's context; cancelled by Close
	cancelBase context.CancelFunc
	handlers   sync.WaitGroup // one per accepted connection, done when its handler closes it

	mu       sync.Mutex // guards conns, backends, closed
	conns    map[*trackedConn]struct{}
	backends map[int32]*trackedConn // by BackendKeyData process ID, for cancel requests
	closed   bool
}

// New validates opts and builds a server; it creates the catalog database but does not read
// the project's tables (that happens when a client first needs them).
func New(opts Options) (*Server, error) {
	if opts.Engine == nil {
		return nil, errors.New("pgwire: Options.Engine is required")
	}
	if opts.User == "" {
		opts.User = "strata"
	}
	if opts.Database == "" {
		opts.Database = "strata"
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger, conns: map[*trackedConn]struct{}{}, backends: map[int32]*trackedConn{}}
	s.version = "PostgreSQL " + pgSettings["server_version"] + " (Strata " + strataVersion() + ")"
	s.base, s.cancelBase = context.WithCancel(context.Background())
	cat, err := newCatalog(context.Background(), opts.Engine, opts.User, opts.Database, s.version, time.Now(), s.log)
	if err != nil {
		return nil, err
	}
	s.catalog = cat
	ws, err := wire.NewServer(s.parse,
		wire.Logger(s.log.With("component", "pgwire")),
		wire.SessionAuthStrategy(s.authenticate),
		wire.SessionMiddleware(s.startSession),
		wire.CloseConn(s.endSession),
		wire.TxStatus(s.txStatus),
		wire.BackendKeyData(s.backendKey),
		wire.CancelRequest(s.cancelRequest),
		wire.GlobalParameters(wire.Parameters{
			"DateStyle":                   pgSettings["datestyle"],
			"TimeZone":                    pgSettings["timezone"],
			"IntervalStyle":               pgSettings["intervalstyle"],
			"integer_datetimes":           "on",
			"standard_conforming_strings": "on",
			"application_name":            "",
		}),
		wire.WithShutdownTimeout(time.Second),
		// psql-wire reads each connection through a buffer of this size, which is also the
		// largest message a client may send (its default, 16 MiB, costs that much per
		// connection).
		wire.MessageBufferSize(maxMessageSize),
	)
	if err != nil {
		cat.Close()
		return nil, fmt.Errorf("pgwire: %w", err)
	}
	s.wire = ws
	return s, nil
}

// strataVersion is the module version the binary was built from ("dev" for local builds).
func strataVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Serve accepts connections on ln until ctx ends or Close is called, then closes ln and every
// open connection (running statements are cancelled) and returns once their handlers have
// finished. It returns nil after such a shutdown, or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	err := s.wire.Serve(&trackingListener{Listener: ln, srv: s})
	if err != nil {
		_ = s.Close()
	}
	s.handlers.Wait()
	return err
}

// Close stops accepting connections, cancels running statements, closes every connection and
// releases the catalog database. It is idempotent. Serve returns once the handlers are done.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancelBase()
	for _, c := range conns {
		_ = c.Conn.Close() // unblocks the handler; it releases the tracked conn itself
	}
	err := s.wire.Close()
	s.handlers.Wait()
	if cerr := s.catalog.Close(); err == nil {
		err = cerr
	}
	return err
}

// track registers an accepted connection; it reports false when the server is closed.
func (s *Server) track(c *trackedConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.handlers.Add(1)
	return true
}

// untrack forgets a connection its handler closed.
func (s *Server) untrack(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if c.pid != 0 && s.backends[c.pid] == c {
		delete(s.backends, c.pid)
	}
	s.mu.Unlock()
	s.handlers.Done()
}

// trackingListener wraps every accepted connection in a trackedConn.
type trackingListener struct {
	net.Listener
	srv *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := newTrackedConn(l.srv, conn)
		if !l.srv.track(tc) {
			conn.Close()
			continue
		}
		return tc, nil
	}
}

// connOf returns the tracked connection a psql-wire context belongs to.
func connOf(ctx context.Context) *trackedConn {
	if a, ok := wire.RemoteAddress(ctx).(*connAddr); ok {
		return a.conn
	}
	return nil
}

// authenticate checks the user and database a client names and, unless it connects from
// loopback with TrustLoopback set or no password is configured, asks for the password.
func (s *Server) authenticate(ctx context.Context, w *buffer.Writer, r *buffer.Reader) (context.Context, error) {
	params := wire.ClientParameters(ctx)
	user, db := params[wire.ParamUsername], params[wire.ParamDatabase]
	if db == "" {
		db = user
	}
	if user != s.opts.User {
		return ctx, s.refuse(w, codes.InvalidAuthorizationSpecification,
			fmt.Sprintf("role %q does not exist (connect as user %q)", user, s.opts.User))
	}
	if db != s.opts.Database {
		return ctx, s.refuse(w, codes.InvalidCatalogName,
			fmt.Sprintf("database %q does not exist (the database is %q)", db, s.opts.Database))
	}
	trusted := s.opts.Password == ""
	if s.opts.TrustLoopback {
		if c := connOf(ctx); c != nil && isLoopback(c.Conn.RemoteAddr()) {
			trusted = true
		}
	}
	if trusted {
		w.Start(types.ServerAuth)
		w.AddInt32(0) // AuthenticationOk
		return ctx, w.End()
	}
	return wire.ClearTextPassword(func(ctx context.Context, _, _, password string) (context.Context, bool, error) {
		ok := subtle.ConstantTimeCompare([]byte(password), []byte(s.opts.Password)) == 1
		if !ok {
			s.log.Info("pgwire: password authentication failed", "user", user, "remote", addrOf(ctx))
		}
		return ctx, ok, nil
	})(ctx, w, r)
}

// refuse writes a FATAL error to a client being authenticated and returns it.
func (s *Server) refuse(w *buffer.Writer, code codes.Code, msg string) error {
	err := psqlerr.WithSeverity(psqlerr.WithCode(fmt.Errorf("%s", msg), code), psqlerr.LevelFatal)
	if werr := wire.WriteUnterminatedError(w, err); werr != nil {
		return werr
	}
	return fmt.Errorf("pgwire: %w: %s", ErrAuth, msg)
}

func addrOf(ctx context.Context) string {
	if c := connOf(ctx); c != nil {
		return c.Conn.RemoteAddr().String()
	}
	return ""
}

// isLoopback reports whether addr is a loopback TCP address or a Unix socket peer.
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startSession attaches the connection's session to the context psql-wire serves it with.
func (s *Server) startSession(ctx context.Context) (context.Context, error) {
	c := connOf(ctx)
	if c == nil {
		return ctx, errors.New("pgwire: connection not tracked")
	}
	sess := newSession(s, c, wire.ClientParameters(ctx))
	return context.WithValue(ctx, sessionKey{}, sess), nil
}

// endSession releases what a session still holds when its connection ends.
func (s *Server) endSession(ctx context.Context) error {
	if sess := sessionOf(ctx); sess != nil {
		sess.close()
	}
	return nil
}

func (s *Server) txStatus(ctx context.Context) types.ServerStatus {
	if sess := sessionOf(ctx); sess != nil && sess.inTransaction() {
		return types.ServerTransactionBlock
	}
	return types.ServerIdle
}

// backendKey assigns the connection its cancel key (BackendKeyData).
func (s *Server) backendKey(ctx context.Context) (int32, int32) {
	c := connOf(ctx)
	if c == nil {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		pid := rand.Int32N(1<<30) + 1
		if _, taken := s.backends[pid]; !taken {
			c.pid, c.secret = pid, rand.Int32()
			s.backends[pid] = c
			return c.pid, c.secret
		}
	}
}

// cancelRequest cancels the statement running on the connection a CancelRequest names.
func (s *Server) cancelRequest(_ context.Context, pid, secret int32) error {
	s.mu.Lock()
	c := s.backends[pid]
	s.mu.Unlock()
	if c == nil || c.secret != secret {
		return nil // Postgres ignores unknown keys silently
	}
	c.cancelStatement()
	return nil
}
