package pgwire

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/stratalake/strata/internal/engine"
)

// catalogRefreshInterval bounds how stale the catalog may be: a statement that needs it
// refreshes it first when the last refresh is older.
const catalogRefreshInterval = 3 * time.Second

// First OIDs the catalog hands out (Postgres's FirstNormalObjectId).
const firstUserOID = 16384

// Fixed OIDs of the catalog's built-in objects (those of Postgres).
const (
	oidNamespacePgCatalog  = 11
	oidNamespacePublic     = 2200
	oidNamespaceInfoSchema = 13000
	oidUser                = 10
	oidDatabase            = 5
	oidHeapAM              = 2
	oidTablespaceDefault   = 1663
)

// catalog is a separate, schema-only DuckDB database that answers the catalog queries Postgres
// tools send: it holds an empty table domain.table, with the same columns, for every project
// table (so that statements over project tables can be described without running them), and an
// emulation of pg_catalog and information_schema describing those tables (see catalog_sql.go).
// It is refreshed from the engine at most every catalogRefreshInterval, when a statement needs
// it. It is safe for concurrent use.
type catalog struct {
	engine    *engine.Engine
	connector *duckdb.Connector
	log       *slog.Logger
	user      string
	database  string
	ready     atomic.Bool // set once the schemas exist: connections then put them on the search path

	mu        sync.Mutex                 // serializes refreshes; guards the fields below
	refreshed time.Time                  // when the last refresh finished (zero: never)
	versions  map[string]int64           // "domain.table" -> version, as of the last refresh
	structure string                     // the tables and their schemas as of the last rebuild (structureOf)
	schemas   map[string][]catalogColumn // "domain.table\x00<Delta schema JSON>" (or "domain.table@version") -> columns
	oids      map[string]int64           // stable OIDs of domains ("n:domain") and tables ("t:domain.table")
	nextOID   int64
}

// catalogColumn is one column of a project table as DuckDB describes it.
type catalogColumn struct {
	Name     string
	DuckType string
	Nullable bool
}

// catalogTableInfo is one project table as the catalog holds it.
type catalogTableInfo struct {
	Domain, Table string
	Version       int64
	SizeBytes     int64
	Columns       []catalogColumn
}

func newCatalog(ctx context.Context, e *engine.Engine, user, database, version string, started time.Time, log *slog.Logger) (*catalog, error) {
	c := &catalog{engine: e, log: log, user: user, database: database, oids: map[string]int64{}, nextOID: firstUserOID,
		schemas: map[string][]catalogColumn{}}
	init := func(execer driver.ExecerContext) error {
		stmts := []string{"SET TimeZone = 'UTC'", "SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false"}
		if c.ready.Load() {
			stmts = append(stmts, "SET search_path = '"+catalogSchema+",main'")
		}
		for _, s := range stmts {
			if _, err := execer.ExecContext(context.Background(), s, nil); err != nil {
				return fmt.Errorf("pgwire: catalog: %s: %w", s, err)
			}
		}
		return nil
	}
	connector, err := duckdb.NewConnector("", init)
	if err != nil {
		return nil, fmt.Errorf("pgwire: catalog: open duckdb: %w", err)
	}
	c.connector = connector
	if err := c.setup(ctx, version, started); err != nil {
		connector.Close()
		return nil, err
	}
	c.ready.Store(true)
	return c, nil
}

// setup creates the emulated catalog: schemas, types, macros, tables and their fixed rows.
func (c *catalog) setup(ctx context.Context, version string, started time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE SCHEMA %s;\nCREATE SCHEMA %s;\n", catalogSchema, infoSchema)
	for _, alias := range catalogTypeAliases {
		fmt.Fprintf(&b, "CREATE TYPE %s.%s;\n", catalogSchema, alias)
	}
	for _, t := range pgCatalogTables {
		fmt.Fprintf(&b, "CREATE TABLE %s.%s (%s);\n", catalogSchema, t.Name, t.Columns)
	}
	fmt.Fprintf(&b, "CREATE TABLE %s.strata_sizes (oid BIGINT, size_bytes BIGINT);\n", catalogSchema)
	fmt.Fprintf(&b, "CREATE TABLE %s.strata_type_names (oid BIGINT, format VARCHAR);\n", catalogSchema)
	for _, t := range infoSchemaTables {
		fmt.Fprintf(&b, "CREATE TABLE %s.%s (%s);\n", infoSchema, t.Name, t.Columns)
	}
	names := make([]string, 0, len(pgSettings))
	for n := range pgSettings {
		names = append(names, n)
	}
	sort.Strings(names)
	var settings strings.Builder
	settings.WriteString("CASE lower(n)")
	for _, n := range names {
		fmt.Fprintf(&settings, " WHEN %s THEN %s", quoteString(n), quoteString(pgSettings[n]))
	}
	settings.WriteString(" END")
	repl := strings.NewReplacer("{version}", quoteString(version), "{database}", quoteString(c.database),
		"{user}", quoteString(c.user), "{started}", "TIMESTAMPTZ "+quoteString(started.UTC().Format("2006-01-02 15:04:05.999999+00")),
		"{settings}", settings.String())
	for _, m := range macroDefinitions() {
		fmt.Fprintf(&b, "CREATE MACRO %s.%s;\n", catalogSchema, repl.Replace(m))
	}
	for _, m := range infoSchemaMacros {
		fmt.Fprintf(&b, "CREATE MACRO %s.%s;\n", infoSchema, m)
	}
	b.WriteString(c.fixedRows())
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.(driver.ExecerContext).ExecContext(ctx, b.String(), nil); err != nil {
		return fmt.Errorf("pgwire: catalog: setup: %w", err)
	}
	return nil
}

// macroDefinitions groups the overloads of catalogMacros: DuckDB defines a macro's overloads in
// one statement, name(a, b) AS x, (a, b, c) AS y.
func macroDefinitions() []string {
	var order []string
	defs := map[string][]string{}
	for _, m := range catalogMacros {
		name := m[:indexAny(m, "(")]
		if _, ok := defs[name]; !ok {
			order = append(order, name)
		}
		defs[name] = append(defs[name], m[len(name):])
	}
	out := make([]string, len(order))
	for i, name := range order {
		out[i] = name + strings.Join(defs[name], ", ")
	}
	return out
}

// fixedRows returns the INSERTs of the rows that do not depend on the project's tables.
func (c *catalog) fixedRows() string {
	var b strings.Builder
	s, u, d := catalogSchema, quoteString(c.user), quoteString(c.database)
	for _, t := range pgTypes {
		fmt.Fprintf(&b, "INSERT INTO %s.pg_type (oid, typname, typnamespace, typowner, typlen, typbyval, typtype, typcategory, "+
			"typispreferred, typisdefined, typdelim, typrelid, typelem, typarray, typinput, typoutput, typreceive, typsend, "+
			"typalign, typstorage, typnotnull, typbasetype, typtypmod, typndims, typcollation) VALUES "+
			"(%d, %s, %d, %d, %d, %t, 'b', %s, false, true, ',', 0, 0, %d, %s, %s, %s, %s, 'i', 'p', false, 0, -1, 0, %d);\n",
			s, t.OID, quoteString(t.TypName), oidNamespacePgCatalog, oidUser, t.Len, t.Len > 0 && t.Len <= 8,
			quoteString(t.Category), t.Array, quoteString(t.TypName+"in"), quoteString(t.TypName+"out"),
			quoteString(t.TypName+"recv"), quoteString(t.TypName+"send"), map[bool]int{true: 100}[t.Category == "S"])
		fmt.Fprintf(&b, "INSERT INTO %s.strata_type_names VALUES (%d, %s);\n", s, t.OID, quoteString(t.Format))
		if t.Array != 0 {
			fmt.Fprintf(&b, "INSERT INTO %s.pg_type (oid, typname, typnamespace, typowner, typlen, typbyval, typtype, typcategory, "+
				"typispreferred, typisdefined, typdelim, typrelid, typelem, typarray, typalign, typstorage, typnotnull, typbasetype, "+
				"typtypmod, typndims, typcollation) VALUES (%d, %s, %d, %d, -1, false, 'b', 'A', false, true, ',', 0, %d, 0, 'i', 'x', false, 0, -1, 0, 0);\n",
				s, t.Array, quoteString("_"+t.TypName), oidNamespacePgCatalog, oidUser, t.OID)
			fmt.Fprintf(&b, "INSERT INTO %s.strata_type_names VALUES (%d, %s);\n", s, t.Array, quoteString(t.Format+"[]"))
		}
	}
	fmt.Fprintf(&b, "INSERT INTO %s.pg_database VALUES (%d, %s, %d, 6, 'c', false, true, -1, 0, 0, 1, %d, 'C', 'C', NULL, NULL, NULL, NULL, NULL);\n",
		s, oidDatabase, d, oidUser, oidTablespaceDefault)
	fmt.Fprintf(&b, "INSERT INTO %s.pg_authid VALUES (%d, %s, true, true, false, false, true, false, false, -1, NULL, NULL);\n", s, oidUser, u)
	fmt.Fprintf(&b, "INSERT INTO %s.pg_roles VALUES (%s, true, true, false, false, true, false, -1, '********', NULL, false, NULL, %d);\n", s, u, oidUser)
	fmt.Fprintf(&b, "INSERT INTO %s.pg_user VALUES (%s, %d, false, true, false, false, '********', NULL, NULL);\n", s, u, oidUser)
	fmt.Fprintf(&b, "INSERT INTO %s.pg_am VALUES (%d, 'heap', 'heap_tableam_handler', 't'), (403, 'btree', 'bthandler', 'i');\n", s, oidHeapAM)
	fmt.Fprintf(&b, "INSERT INTO %s.pg_tablespace VALUES (%d, 'pg_default', %d, NULL, NULL), (1664, 'pg_global', %d, NULL, NULL);\n", s, oidTablespaceDefault, oidUser, oidUser)
	fmt.Fprintf(&b, "INSERT INTO %s.pg_collation VALUES (100, 'default', %d, %d, 'd', true, -1, NULL, NULL, NULL, NULL, NULL), "+
		"(950, 'C', %d, %d, 'c', true, -1, 'C', 'C', NULL, NULL, NULL);\n", s, oidNamespacePgCatalog, oidUser, oidNamespacePgCatalog, oidUser)
	names := make([]string, 0, len(pgSettings))
	for n := range pgSettings {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "INSERT INTO %s.pg_settings (name, setting, category, short_desc, context, vartype, source, boot_val, reset_val, pending_restart) "+
			"VALUES (%s, %s, 'Strata', '', 'user', 'string', 'default', %s, %s, false);\n",
			s, quoteString(n), quoteString(pgSettings[n]), quoteString(pgSettings[n]), quoteString(pgSettings[n]))
	}
	fmt.Fprintf(&b, "INSERT INTO %s.character_sets VALUES (NULL, NULL, 'UTF8', 'UCS', 'UTF8', %s, 'pg_catalog', 'C');\n", infoSchema, d)
	fmt.Fprintf(&b, "INSERT INTO %s.enabled_roles VALUES (%s);\n", infoSchema, u)
	return b.String()
}

// connect opens a connection to the catalog database.
func (c *catalog) connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.connector.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgwire: catalog: connect: %w", err)
	}
	return conn, nil
}

// Close releases the catalog database. Readers it returned must be released first.
func (c *catalog) Close() error { return c.connector.Close() }

// ensureFresh refreshes the catalog when its last refresh is older than
// catalogRefreshInterval. Concurrent callers wait for one refresh. A failed refresh is logged
// and the previous catalog kept; only a catalog never refreshed reports the error.
func (c *catalog) ensureFresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.refreshed.IsZero() && time.Since(c.refreshed) < catalogRefreshInterval {
		return nil
	}
	err := c.refreshLocked(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.refreshed.IsZero() {
			return err
		}
		c.log.Warn("pgwire: catalog refresh failed; answering from the previous catalog", "err", err)
	}
	c.refreshed = time.Now()
	return nil
}

// expire makes the next ensureFresh refresh the catalog.
func (c *catalog) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.refreshed.IsZero() {
		c.refreshed = time.Now().Add(-2 * catalogRefreshInterval)
	}
}

// refreshLocked reloads the project's tables from the engine and rebuilds the catalog when a
// table appeared, disappeared or changed version. c.mu must be held.
func (c *catalog) refreshLocked(ctx context.Context) error {
	infos, err := c.engine.ListTables(ctx, "")
	if err != nil && !errors.Is(err, engine.ErrNoProject) {
		return fmt.Errorf("pgwire: catalog: list tables: %w", err)
	}
	versions := map[string]int64{}
	current := map[string]bool{} // the schema keys of the tables listed now
	var tables []catalogTableInfo
	for _, info := range infos {
		if info.Err != nil || reservedSchema(info.Domain) {
			continue
		}
		name := info.Domain + "." + info.Table
		// Columns are described once per schema, not per version: the tables of a running
		// pipeline change version every second, and describing each one on every refresh made
		// psql's \dt take seconds.
		key := name + "\x00" + info.SchemaString
		if info.SchemaString == "" {
			key = fmt.Sprintf("%s@%d", name, info.Version)
		}
		cols, ok := c.schemas[key]
		if !ok {
			cols, err = c.describeTable(ctx, name)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				c.log.Warn("pgwire: catalog: describe table", "table", name, "err", err)
				continue
			}
			c.schemas[key] = cols
		}
		versions[name] = info.Version
		current[key] = true
		tables = append(tables, catalogTableInfo{Domain: info.Domain, Table: info.Table, Version: info.Version,
			SizeBytes: info.SizeInBytes, Columns: cols})
	}
	if c.versions != nil && equalVersions(c.versions, versions) {
		return nil
	}
	// Only sizes changed (the usual case: a pipeline committed) when the tables and their
	// schemas are the same: update the sizes in two statements rather than rebuild every
	// catalog row in hundreds (which took seconds on a busy machine and made psql's \dt slow).
	structure := structureOf(tables)
	script := c.rebuildScript(tables)
	if c.versions != nil && structure == c.structure {
		script = c.sizesScript(tables)
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.(driver.ExecerContext).ExecContext(ctx, script, nil); err != nil {
		_, _ = conn.(driver.ExecerContext).ExecContext(context.Background(), "ROLLBACK", nil)
		return fmt.Errorf("pgwire: catalog: rebuild: %w", err)
	}
	c.structure = structure
	// Forget the schemas no longer current.
	for key := range c.schemas {
		if !current[key] {
			delete(c.schemas, key)
		}
	}
	c.versions = versions
	return nil
}

func equalVersions(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// reservedSchema reports whether a domain name collides with a schema of the catalog database;
// such domains are left out of the catalog.
func reservedSchema(domain string) bool {
	switch strings.ToLower(domain) {
	case "main", "pg_catalog", "information_schema", "temp", "system", "public", catalogSchema, infoSchema:
		return true
	}
	return false
}

// describeTable returns the columns of a project table, through the engine's DESCRIBE.
func (c *catalog) describeTable(ctx context.Context, name string) ([]catalogColumn, error) {
	// DESCRIBE of a query: the engine cannot DESCRIBE a table reference itself (it rewrites
	// it to DESCRIBE "view" AS "alias", which DuckDB rejects).
	res, err := c.engine.Query(ctx, "DESCRIBE SELECT * FROM "+name)
	if err != nil {
		return nil, err
	}
	if res.Records == nil {
		return nil, fmt.Errorf("DESCRIBE %s returned no rows", name)
	}
	defer res.Records.Release()
	var cols []catalogColumn
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		idx := map[string]int{}
		for i, f := range rec.Schema().Fields() {
			idx[f.Name] = i
		}
		ni, ok1 := idx["column_name"]
		ti, ok2 := idx["column_type"]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("DESCRIBE %s: unexpected columns %v", name, rec.Schema())
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			col := catalogColumn{
				Name:     strings.Clone(textValue(rec.Column(ni), r)),
				DuckType: strings.Clone(textValue(rec.Column(ti), r)),
				Nullable: true,
			}
			if nu, ok := idx["null"]; ok && !rec.Column(nu).IsNull(r) {
				col.Nullable = textValue(rec.Column(nu), r) != "NO"
			}
			cols = append(cols, col)
		}
	}
	if err := res.Records.Err(); err != nil {
		return nil, err
	}
	return cols, nil
}

// oid returns the stable OID of a catalog object (the same for the server's lifetime).
func (c *catalog) oid(key string) int64 {
	if o, ok := c.oids[key]; ok {
		return o
	}
	o := c.nextOID
	c.nextOID++
	c.oids[key] = o
	return o
}

// structureOf identifies the catalog's shape: the tables, in order, with their columns.
func structureOf(tables []catalogTableInfo) string {
	var b strings.Builder
	for _, t := range tables {
		b.WriteString(t.Domain + "." + t.Table + "(")
		for _, col := range t.Columns {
			fmt.Fprintf(&b, "%s %s %t,", col.Name, col.DuckType, col.Nullable)
		}
		b.WriteString(")\n")
	}
	return b.String()
}

// sizesScript returns the SQL that updates the tables' sizes (pg_class.relpages and
// strata_sizes) of a catalog whose structure is current.
func (c *catalog) sizesScript(tables []catalogTableInfo) string {
	if len(tables) == 0 {
		return "SELECT 1;\n"
	}
	values := make([]string, len(tables))
	for i, t := range tables {
		values[i] = fmt.Sprintf("(%d, %d)", c.oid("t:"+t.Domain+"."+t.Table), t.SizeBytes)
	}
	v := strings.Join(values, ", ")
	s := catalogSchema
	return "BEGIN TRANSACTION;\n" +
		fmt.Sprintf("UPDATE %s.pg_class SET relpages = (v.size + 8191) // 8192 FROM (VALUES %s) v(oid, size) WHERE pg_class.oid = v.oid;\n", s, v) +
		fmt.Sprintf("UPDATE %s.strata_sizes SET size_bytes = v.size FROM (VALUES %s) v(oid, size) WHERE strata_sizes.oid = v.oid;\n", s, v) +
		"COMMIT;\n"
}

// rebuildScript returns the SQL that replaces the project-dependent catalog rows and the empty
// replica tables, in one transaction.
func (c *catalog) rebuildScript(tables []catalogTableInfo) string {
	var b strings.Builder
	s, is := catalogSchema, infoSchema
	// Rows are collected per catalog table and inserted with one statement each: a statement
	// per row made a rebuild hundreds of statements, seconds on a busy machine.
	var order []string
	rows := map[string][]string{}
	insert := func(into, row string) {
		if _, ok := rows[into]; !ok {
			order = append(order, into)
		}
		rows[into] = append(rows[into], row)
	}
	d, u := quoteString(c.database), quoteString(c.user)
	b.WriteString("BEGIN TRANSACTION;\n")
	for _, t := range []string{"pg_namespace", "pg_class", "pg_attribute", "pg_tables", "pg_stat_user_tables", "strata_sizes"} {
		fmt.Fprintf(&b, "DELETE FROM %s.%s;\n", s, t)
	}
	for _, t := range []string{"schemata", "tables", "columns"} {
		fmt.Fprintf(&b, "DELETE FROM %s.%s;\n", is, t)
	}
	// Replicas: drop the schemas of the previous refresh, create the current ones.
	for name := range c.versions {
		domain, _, _ := strings.Cut(name, ".")
		fmt.Fprintf(&b, "DROP SCHEMA IF EXISTS %s CASCADE;\n", quoteIdent(domain))
	}
	domains := map[string]bool{}
	for _, t := range tables {
		domains[t.Domain] = true
	}
	domainList := make([]string, 0, len(domains))
	for dom := range domains {
		domainList = append(domainList, dom)
	}
	sort.Strings(domainList)
	nsInto, schemataInto := s+".pg_namespace", is+".schemata"
	insert(nsInto, fmt.Sprintf("(%d, 'pg_catalog', %d, NULL), (%d, 'public', %d, NULL), (%d, 'information_schema', %d, NULL)",
		oidNamespacePgCatalog, oidUser, oidNamespacePublic, oidUser, oidNamespaceInfoSchema, oidUser))
	insert(schemataInto, fmt.Sprintf("(%s, 'pg_catalog', %s, NULL, NULL, NULL, NULL), (%s, 'public', %s, NULL, NULL, NULL, NULL), (%s, 'information_schema', %s, NULL, NULL, NULL, NULL)",
		d, u, d, u, d, u))
	for _, dom := range domainList {
		fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s;\n", quoteIdent(dom))
		insert(nsInto, fmt.Sprintf("(%d, %s, %d, NULL)", c.oid("n:"+dom), quoteString(dom), oidUser))
		insert(schemataInto, fmt.Sprintf("(%s, %s, %s, NULL, NULL, NULL, NULL)", d, quoteString(dom), u))
	}
	for _, t := range tables {
		rel := c.oid("t:" + t.Domain + "." + t.Table)
		ns := c.oid("n:" + t.Domain)
		defs := make([]string, len(t.Columns))
		for i, col := range t.Columns {
			defs[i] = quoteIdent(col.Name) + " " + col.DuckType
		}
		fmt.Fprintf(&b, "CREATE TABLE %s.%s (%s);\n", quoteIdent(t.Domain), quoteIdent(t.Table), strings.Join(defs, ", "))
		insert(s+".pg_class (oid, relname, relnamespace, reltype, reloftype, relowner, relam, relfilenode, "+
			"reltablespace, relpages, reltuples, relallvisible, reltoastrelid, relhasindex, relisshared, relpersistence, relkind, "+
			"relnatts, relchecks, relhasrules, relhastriggers, relhassubclass, relrowsecurity, relforcerowsecurity, relispopulated, "+
			"relreplident, relispartition, relrewrite, relfrozenxid, relminmxid, relhasoids)",
			fmt.Sprintf("(%d, %s, %d, 0, 0, %d, %d, %d, 0, %d, -1, 0, 0, false, false, 'p', 'r', %d, 0, false, false, false, false, false, true, 'n', false, 0, 0, 0, false)",
				rel, quoteString(t.Table), ns, oidUser, oidHeapAM, rel, (t.SizeBytes+8191)/8192, len(t.Columns)))
		insert(s+".strata_sizes", fmt.Sprintf("(%d, %d)", rel, t.SizeBytes))
		insert(s+".pg_tables", fmt.Sprintf("(%s, %s, %s, NULL, false, false, false, false)", quoteString(t.Domain), quoteString(t.Table), u))
		insert(s+".pg_stat_user_tables (relid, schemaname, relname)", fmt.Sprintf("(%d, %s, %s)", rel, quoteString(t.Domain), quoteString(t.Table)))
		insert(is+".tables", fmt.Sprintf("(%s, %s, %s, 'BASE TABLE', NULL, NULL, NULL, NULL, NULL, 'YES', 'NO', NULL)",
			d, quoteString(t.Domain), quoteString(t.Table)))
		for i, col := range t.Columns {
			ct := parseDuckType(col.DuckType)
			info, _ := pgTypeByOID(ct.OID)
			insert(s+".pg_attribute (attrelid, attname, atttypid, attstattarget, attlen, attnum, attndims, "+
				"attcacheoff, atttypmod, attbyval, attalign, attstorage, attcompression, attnotnull, atthasdef, atthasmissing, "+
				"attidentity, attgenerated, attisdropped, attislocal, attinhcount, attcollation)",
				fmt.Sprintf("(%d, %s, %d, -1, %d, %d, 0, -1, %d, %t, 'i', 'p', '', %t, false, false, '', '', false, true, 0, %d)",
					rel, quoteString(col.Name), ct.OID, info.Len, i+1, ct.Typmod, info.Len > 0 && info.Len <= 8, !col.Nullable,
					map[bool]int{true: 100}[info.Category == "S"]))
			dataType := info.Format
			udt := info.TypName
			if ct.OID == oidJSON && !strings.EqualFold(col.DuckType, "JSON") {
				udt = "json"
			}
			numPrec, numRadix, numScale, dtPrec := "NULL", "NULL", "NULL", "NULL"
			switch ct.OID {
			case oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8:
				numPrec, numRadix = fmt.Sprint(ct.Precision), "2"
				if ct.OID == oidInt2 || ct.OID == oidInt4 || ct.OID == oidInt8 {
					numScale = "0"
				}
			case oidNumeric:
				numRadix = "10"
				if ct.Typmod >= 0 {
					numPrec, numScale = fmt.Sprint(ct.Precision), fmt.Sprint(ct.Scale)
				}
			case oidTimestamp, oidTimestamptz, oidTime:
				dtPrec = "6"
			case oidDate:
				dtPrec = "0"
			}
			insert(is+".columns (table_catalog, table_schema, table_name, column_name, ordinal_position, "+
				"is_nullable, data_type, numeric_precision, numeric_precision_radix, numeric_scale, datetime_precision, "+
				"udt_catalog, udt_schema, udt_name, dtd_identifier, is_self_referencing, is_identity, is_generated, is_updatable)",
				fmt.Sprintf("(%s, %s, %s, %s, %d, %s, %s, %s, %s, %s, %s, %s, 'pg_catalog', %s, %s, 'NO', 'NO', 'NEVER', 'YES')",
					d, quoteString(t.Domain), quoteString(t.Table), quoteString(col.Name), i+1,
					quoteString(map[bool]string{true: "YES", false: "NO"}[col.Nullable]), quoteString(dataType),
					numPrec, numRadix, numScale, dtPrec, d, quoteString(udt), quoteString(fmt.Sprint(i+1))))
		}
	}
	for _, into := range order {
		fmt.Fprintf(&b, "INSERT INTO %s VALUES %s;\n", into, strings.Join(rows[into], ", "))
	}
	b.WriteString("COMMIT;\n")
	return b.String()
}

// query runs a statement on the catalog database; the caller must Release the reader, which
// closes the statement's connection.
func (c *catalog) query(ctx context.Context, sql string) (array.RecordReader, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	ar, err := duckdb.NewArrowFromConn(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	rr, err := ar.QueryContext(ctx, sql)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &closingReader{RecordReader: rr, close: conn.Close}, nil
}

// describedStatement is what preparing a statement tells about it.
type describedStatement struct {
	Params  []uint32          // OID of each $n parameter (0: undecided)
	Columns []describedColumn // result columns; nil when the statement returns no rows
}

// describedColumn is one result column of a described statement.
type describedColumn struct {
	Name string
	OID  uint32
}

// describe prepares a statement on the catalog database without running it and reports its
// parameter and result types. With catalogResult, the statement is a catalog query (its lists
// are Postgres arrays); otherwise it runs on the engine, and is only described here over the
// replicas of the project tables.
func (c *catalog) describe(ctx context.Context, sql string, catalogResult bool) (*describedStatement, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st, err := conn.(driver.ConnPrepareContext).PrepareContext(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ds, ok := st.(*duckdb.Stmt)
	if !ok {
		return nil, fmt.Errorf("pgwire: catalog: unexpected statement type %T", st)
	}
	out := &describedStatement{}
	for i := 1; i <= ds.NumInput(); i++ {
		t, err := ds.ParamType(i)
		if err != nil {
			return nil, err
		}
		out.Params = append(out.Params, oidForDuckType(t, ""))
	}
	stype, err := ds.StatementType()
	if err != nil {
		return nil, err
	}
	if !returnsRows(stype) {
		return out, nil
	}
	n, err := ds.ColumnCount()
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		name, err := ds.ColumnName(i)
		if err != nil {
			return nil, err
		}
		t, err := ds.ColumnType(i)
		if err != nil {
			return nil, err
		}
		alias := ""
		var elem uint32
		if t != duckdb.TYPE_INVALID {
			if info, err := ds.ColumnTypeInfo(i); err == nil && info != nil {
				alias = info.Alias()
				if l, ok := info.Details().(*duckdb.ListDetails); ok && l.Child != nil {
					elem = oidForDuckType(l.Child.InternalType(), l.Child.Alias())
				}
			}
		}
		oid := oidForDuckType(t, alias)
		if a, ok := arrayOIDs[elem]; ok && catalogResult {
			oid = a
		}
		if oid == 0 {
			oid = oidText
		}
		if catalogResult {
			name = pgColumnName(name)
		}
		out.Columns = append(out.Columns, describedColumn{Name: name, OID: oid})
	}
	return out, nil
}

// returnsRows reports whether statements of a DuckDB statement type return rows.
func returnsRows(t duckdb.StmtType) bool {
	switch t {
	case duckdb.STATEMENT_TYPE_SELECT, duckdb.STATEMENT_TYPE_EXPLAIN, duckdb.STATEMENT_TYPE_PRAGMA,
		duckdb.STATEMENT_TYPE_CALL, duckdb.STATEMENT_TYPE_RELATION:
		return true
	}
	return false
}

// closingReader calls close once when the reader is released for the last time.
type closingReader struct {
	array.RecordReader
	close func() error
	refs  atomic.Int64
	once  sync.Once
}

func (r *closingReader) Retain() { r.refs.Add(1) }

func (r *closingReader) Release() {
	if r.refs.Add(-1) >= 0 {
		return
	}
	r.once.Do(func() {
		r.RecordReader.Release()
		_ = r.close()
	})
}
