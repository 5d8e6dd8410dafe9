package pgwire

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jeroenrinzema/psql-wire/codes"
	psqlerr "github.com/jeroenrinzema/psql-wire/errors"

	"github.com/stratalake/strata/internal/engine"
)

// Causes of a cancelled statement, reported as Postgres reports them (SQLSTATE 57014).
var (
	errStatementTimeout = errors.New("canceling statement due to statement timeout")
	errCanceledByUser   = errors.New("canceling statement due to user request")
)

// errResultChanged is returned when a prepared statement's result columns changed since it was
// described (a table's schema evolved); clients such as pgx prepare the statement again. The
// message and SQLSTATE are Postgres's.
var errResultChanged = psqlerr.WithCode(errors.New("cached plan must not change result type"), codes.FeatureNotSupported)

// errCatalogWrite refuses statements other than queries that name the system catalogs: the
// catalog database is shared by every client and only answers reads.
var errCatalogWrite = psqlerr.WithCode(errors.New("the system catalogs (pg_catalog, information_schema) are read-only: only queries may use them"), codes.InsufficientPrivilege)

// duckdbErrorCodes maps the start of DuckDB's messages to SQLSTATEs, most specific first.
var duckdbErrorCodes = []struct {
	prefix string
	code   codes.Code
}{
	{"Catalog Error: Table with name", codes.UndefinedTable},
	{"Catalog Error: Table Function with name", codes.UndefinedFunction},
	{"Catalog Error: Scalar Function with name", codes.UndefinedFunction},
	{"Catalog Error: Aggregate Function with name", codes.UndefinedFunction},
	{"Catalog Error: Macro Function with name", codes.UndefinedFunction},
	{"Catalog Error: Function with name", codes.UndefinedFunction},
	{"Catalog Error: Schema with name", codes.InvalidSchemaName},
	{"Catalog Error: Type with name", codes.UndefinedObject},
	{"Catalog Error: Collation with name", codes.UndefinedObject},
	{"Catalog Error", codes.UndefinedObject},
	{"Binder Error: Referenced column", codes.UndefinedColumn},
	{"Binder Error: Referenced table", codes.UndefinedTable},
	{"Binder Error: Values list", codes.UndefinedColumn},
	{"Binder Error: No function matches", codes.UndefinedFunction},
	{"Binder Error: Could not choose a best candidate function", codes.AmbiguousFunction},
	{"Binder Error: column", codes.UndefinedColumn},
	{"Binder Error: Ambiguous reference", codes.AmbiguousColumn},
	{"Binder Error", codes.SyntaxErrorOrAccessRuleViolation},
	{"Parser Error", codes.Syntax},
	{"Conversion Error", codes.InvalidTextRepresentation},
	{"Invalid Input Error", codes.InvalidTextRepresentation},
	{"Out of Range Error", codes.NumericValueOutOfRange},
	{"Constraint Error", codes.IntegrityConstraintViolation},
	{"Not implemented Error", codes.FeatureNotSupported},
	{"Permission Error", codes.InsufficientPrivilege},
	{"Transaction Error", codes.InvalidTransactionState},
	{"INTERRUPT Error", codes.QueryCanceled},
	{"Interrupted", codes.QueryCanceled},
	{"Out of Memory Error", codes.OutOfMemory},
	{"IO Error", codes.Io},
}

// pgError turns an error into a Postgres ErrorResponse with a SQLSTATE that names its kind:
// 42P01 unknown table, 42703 unknown column, 42601 syntax error, 57014 cancelled, XX000 for
// anything else. The message is the engine's, which names the problem. ctx, when given, tells
// why a statement was cancelled.
func pgError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if psqlerr.GetCode(err) != codes.Uncategorized {
		return err
	}
	if ctx != nil && ctx.Err() != nil {
		cause := context.Cause(ctx)
		if !errors.Is(cause, errStatementTimeout) && !errors.Is(cause, errCanceledByUser) {
			cause = errCanceledByUser
		}
		return psqlerr.WithCode(cause, codes.QueryCanceled)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return psqlerr.WithCode(errStatementTimeout, codes.QueryCanceled)
	}
	if errors.Is(err, context.Canceled) {
		return psqlerr.WithCode(errCanceledByUser, codes.QueryCanceled)
	}
	if errors.Is(err, engine.ErrUnknownTable) || errors.Is(err, engine.ErrNoProject) {
		return psqlerr.WithCode(err, codes.UndefinedTable)
	}
	var se *engine.SyntaxError
	if errors.As(err, &se) {
		return psqlerr.WithCode(err, codes.Syntax)
	}
	msg := err.Error()
	for _, m := range duckdbErrorCodes {
		if strings.Contains(msg, m.prefix) {
			if m.code == codes.UndefinedObject && strings.Contains(msg, "does not exist") && strings.Contains(msg, "Table") {
				return psqlerr.WithCode(err, codes.UndefinedTable)
			}
			return psqlerr.WithCode(err, m.code)
		}
	}
	return psqlerr.WithCode(err, codes.Internal)
}

// syntaxError is a 42601 error with a message.
func syntaxError(format string, args ...any) error {
	return psqlerr.WithCode(fmt.Errorf(format, args...), codes.Syntax)
}
