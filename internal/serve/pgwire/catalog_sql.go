package pgwire

// The catalog database's emulation of Postgres's system catalogs. DuckDB reserves the schema
// names pg_catalog and information_schema (its own thin emulations live there), so the
// emulation lives in two schemas of its own: catalogSchema, first on every catalog connection's
// search path so that unqualified names (pg_class, format_type(...)) find it, and
// infoSchema, which rewriteCatalogSQL substitutes for information_schema.X when X is one of its
// tables. Table columns follow Postgres 15; oid-typed columns are BIGINT, arrays are lists,
// "char" and name are VARCHAR.

const (
	catalogSchema = "strata_pg"
	infoSchema    = "strata_information_schema"
)

// catalogTable is one emulated catalog table: its columns as DuckDB DDL.
type catalogTable struct {
	Name    string
	Columns string
}

// pgCatalogTables are the emulated pg_catalog tables. Those filled by the catalog refresh
// (pg_namespace, pg_class, pg_attribute, pg_type, pg_database, pg_roles, pg_user, pg_authid,
// pg_am, pg_settings, pg_tables, pg_description, pg_stat_user_tables, pg_tablespace,
// pg_collation) hold rows; the others exist so that the queries tools send bind and find
// nothing (no indexes, constraints, triggers, policies, ...).
var pgCatalogTables = []catalogTable{
	{"pg_namespace", "oid BIGINT, nspname VARCHAR, nspowner BIGINT, nspacl VARCHAR[]"},
	{"pg_class", `oid BIGINT, relname VARCHAR, relnamespace BIGINT, reltype BIGINT, reloftype BIGINT, relowner BIGINT,
		relam BIGINT, relfilenode BIGINT, reltablespace BIGINT, relpages INTEGER, reltuples FLOAT, relallvisible INTEGER,
		reltoastrelid BIGINT, relhasindex BOOLEAN, relisshared BOOLEAN, relpersistence VARCHAR, relkind VARCHAR,
		relnatts SMALLINT, relchecks SMALLINT, relhasrules BOOLEAN, relhastriggers BOOLEAN, relhassubclass BOOLEAN,
		relrowsecurity BOOLEAN, relforcerowsecurity BOOLEAN, relispopulated BOOLEAN, relreplident VARCHAR,
		relispartition BOOLEAN, relrewrite BIGINT, relfrozenxid BIGINT, relminmxid BIGINT, relacl VARCHAR[],
		reloptions VARCHAR[], relpartbound VARCHAR, relhasoids BOOLEAN`},
	{"pg_attribute", `attrelid BIGINT, attname VARCHAR, atttypid BIGINT, attstattarget INTEGER, attlen SMALLINT,
		attnum SMALLINT, attndims INTEGER, attcacheoff INTEGER, atttypmod INTEGER, attbyval BOOLEAN, attalign VARCHAR,
		attstorage VARCHAR, attcompression VARCHAR, attnotnull BOOLEAN, atthasdef BOOLEAN, atthasmissing BOOLEAN,
		attidentity VARCHAR, attgenerated VARCHAR, attisdropped BOOLEAN, attislocal BOOLEAN, attinhcount INTEGER,
		attcollation BIGINT, attacl VARCHAR[], attoptions VARCHAR[], attfdwoptions VARCHAR[], attmissingval VARCHAR`},
	{"pg_type", `oid BIGINT, typname VARCHAR, typnamespace BIGINT, typowner BIGINT, typlen SMALLINT, typbyval BOOLEAN,
		typtype VARCHAR, typcategory VARCHAR, typispreferred BOOLEAN, typisdefined BOOLEAN, typdelim VARCHAR,
		typrelid BIGINT, typsubscript VARCHAR, typelem BIGINT, typarray BIGINT, typinput VARCHAR, typoutput VARCHAR,
		typreceive VARCHAR, typsend VARCHAR, typmodin VARCHAR, typmodout VARCHAR, typanalyze VARCHAR, typalign VARCHAR,
		typstorage VARCHAR, typnotnull BOOLEAN, typbasetype BIGINT, typtypmod INTEGER, typndims INTEGER,
		typcollation BIGINT, typdefaultbin VARCHAR, typdefault VARCHAR, typacl VARCHAR[]`},
	{"pg_database", `oid BIGINT, datname VARCHAR, datdba BIGINT, encoding INTEGER, datlocprovider VARCHAR,
		datistemplate BOOLEAN, datallowconn BOOLEAN, datconnlimit INTEGER, datlastsysoid BIGINT, datfrozenxid BIGINT,
		datminmxid BIGINT, dattablespace BIGINT, datcollate VARCHAR, datctype VARCHAR, daticulocale VARCHAR,
		datlocale VARCHAR, daticurules VARCHAR, datcollversion VARCHAR, datacl VARCHAR[]`},
	{"pg_authid", `oid BIGINT, rolname VARCHAR, rolsuper BOOLEAN, rolinherit BOOLEAN, rolcreaterole BOOLEAN,
		rolcreatedb BOOLEAN, rolcanlogin BOOLEAN, rolreplication BOOLEAN, rolbypassrls BOOLEAN, rolconnlimit INTEGER,
		rolpassword VARCHAR, rolvaliduntil TIMESTAMPTZ`},
	{"pg_roles", `rolname VARCHAR, rolsuper BOOLEAN, rolinherit BOOLEAN, rolcreaterole BOOLEAN, rolcreatedb BOOLEAN,
		rolcanlogin BOOLEAN, rolreplication BOOLEAN, rolconnlimit INTEGER, rolpassword VARCHAR, rolvaliduntil TIMESTAMPTZ,
		rolbypassrls BOOLEAN, rolconfig VARCHAR[], oid BIGINT`},
	{"pg_user", `usename VARCHAR, usesysid BIGINT, usecreatedb BOOLEAN, usesuper BOOLEAN, userepl BOOLEAN,
		usebypassrls BOOLEAN, passwd VARCHAR, valuntil TIMESTAMPTZ, useconfig VARCHAR[]`},
	{"pg_auth_members", "oid BIGINT, roleid BIGINT, member BIGINT, grantor BIGINT, admin_option BOOLEAN, inherit_option BOOLEAN, set_option BOOLEAN"},
	{"pg_am", "oid BIGINT, amname VARCHAR, amhandler VARCHAR, amtype VARCHAR"},
	{"pg_settings", `name VARCHAR, setting VARCHAR, unit VARCHAR, category VARCHAR, short_desc VARCHAR,
		extra_desc VARCHAR, context VARCHAR, vartype VARCHAR, source VARCHAR, min_val VARCHAR, max_val VARCHAR,
		enumvals VARCHAR[], boot_val VARCHAR, reset_val VARCHAR, sourcefile VARCHAR, sourceline INTEGER,
		pending_restart BOOLEAN`},
	{"pg_description", "objoid BIGINT, classoid BIGINT, objsubid INTEGER, description VARCHAR"},
	{"pg_shdescription", "objoid BIGINT, classoid BIGINT, description VARCHAR"},
	{"pg_tablespace", "oid BIGINT, spcname VARCHAR, spcowner BIGINT, spcacl VARCHAR[], spcoptions VARCHAR[]"},
	{"pg_collation", `oid BIGINT, collname VARCHAR, collnamespace BIGINT, collowner BIGINT, collprovider VARCHAR,
		collisdeterministic BOOLEAN, collencoding INTEGER, collcollate VARCHAR, collctype VARCHAR,
		colliculocale VARCHAR, collicurules VARCHAR, collversion VARCHAR`},
	{"pg_tables", `schemaname VARCHAR, tablename VARCHAR, tableowner VARCHAR, tablespace VARCHAR,
		hasindexes BOOLEAN, hasrules BOOLEAN, hastriggers BOOLEAN, rowsecurity BOOLEAN`},
	{"pg_stat_user_tables", `relid BIGINT, schemaname VARCHAR, relname VARCHAR, seq_scan BIGINT, seq_tup_read BIGINT,
		idx_scan BIGINT, idx_tup_fetch BIGINT, n_tup_ins BIGINT, n_tup_upd BIGINT, n_tup_del BIGINT,
		n_tup_hot_upd BIGINT, n_live_tup BIGINT, n_dead_tup BIGINT, n_mod_since_analyze BIGINT,
		n_ins_since_vacuum BIGINT, last_vacuum TIMESTAMPTZ, last_autovacuum TIMESTAMPTZ, last_analyze TIMESTAMPTZ,
		last_autoanalyze TIMESTAMPTZ, vacuum_count BIGINT, autovacuum_count BIGINT, analyze_count BIGINT,
		autoanalyze_count BIGINT`},
	// Empty: Strata tables have no indexes, constraints, triggers, rules, policies, inheritance.
	{"pg_index", `indexrelid BIGINT, indrelid BIGINT, indnatts SMALLINT, indnkeyatts SMALLINT, indisunique BOOLEAN,
		indnullsnotdistinct BOOLEAN, indisprimary BOOLEAN, indisexclusion BOOLEAN, indimmediate BOOLEAN,
		indisclustered BOOLEAN, indisvalid BOOLEAN, indcheckxmin BOOLEAN, indisready BOOLEAN, indislive BOOLEAN,
		indisreplident BOOLEAN, indkey SMALLINT[], indcollation BIGINT[], indclass BIGINT[], indoption SMALLINT[],
		indexprs VARCHAR, indpred VARCHAR`},
	{"pg_constraint", `oid BIGINT, conname VARCHAR, connamespace BIGINT, contype VARCHAR, condeferrable BOOLEAN,
		condeferred BOOLEAN, convalidated BOOLEAN, conrelid BIGINT, contypid BIGINT, conindid BIGINT,
		conparentid BIGINT, confrelid BIGINT, confupdtype VARCHAR, confdeltype VARCHAR, confmatchtype VARCHAR,
		conislocal BOOLEAN, coninhcount INTEGER, connoinherit BOOLEAN, conkey SMALLINT[], confkey SMALLINT[],
		conpfeqop BIGINT[], conppeqop BIGINT[], conffeqop BIGINT[], confdelsetcols SMALLINT[], conexclop BIGINT[],
		conbin VARCHAR`},
	{"pg_inherits", "inhrelid BIGINT, inhparent BIGINT, inhseqno INTEGER, inhdetachpending BOOLEAN"},
	{"pg_attrdef", "oid BIGINT, adrelid BIGINT, adnum SMALLINT, adbin VARCHAR"},
	{"pg_trigger", `oid BIGINT, tgrelid BIGINT, tgparentid BIGINT, tgname VARCHAR, tgfoid BIGINT, tgtype SMALLINT,
		tgenabled VARCHAR, tgisinternal BOOLEAN, tgconstrrelid BIGINT, tgconstrindid BIGINT, tgconstraint BIGINT,
		tgdeferrable BOOLEAN, tginitdeferred BOOLEAN, tgnargs SMALLINT, tgattr SMALLINT[], tgargs BLOB,
		tgqual VARCHAR, tgoldtable VARCHAR, tgnewtable VARCHAR`},
	{"pg_policy", `oid BIGINT, polname VARCHAR, polrelid BIGINT, polcmd VARCHAR, polpermissive BOOLEAN,
		polroles BIGINT[], polqual VARCHAR, polwithcheck VARCHAR`},
	{"pg_rewrite", "oid BIGINT, rulename VARCHAR, ev_class BIGINT, ev_type VARCHAR, ev_enabled VARCHAR, is_instead BOOLEAN, ev_qual VARCHAR, ev_action VARCHAR"},
	{"pg_statistic_ext", `oid BIGINT, stxrelid BIGINT, stxname VARCHAR, stxnamespace BIGINT, stxowner BIGINT,
		stxstattarget INTEGER, stxkeys SMALLINT[], stxkind VARCHAR[], stxexprs VARCHAR`},
	{"pg_publication", `oid BIGINT, pubname VARCHAR, pubowner BIGINT, puballtables BOOLEAN, pubinsert BOOLEAN,
		pubupdate BOOLEAN, pubdelete BOOLEAN, pubtruncate BOOLEAN, pubviaroot BOOLEAN`},
	{"pg_publication_rel", "oid BIGINT, prpubid BIGINT, prrelid BIGINT, prqual VARCHAR, prattrs SMALLINT[]"},
	{"pg_publication_namespace", "oid BIGINT, pnpubid BIGINT, pnnspid BIGINT"},
	{"pg_publication_tables", "pubname VARCHAR, schemaname VARCHAR, tablename VARCHAR, attnames VARCHAR[], rowfilter VARCHAR"},
	{"pg_subscription", "oid BIGINT, subdbid BIGINT, subname VARCHAR, subowner BIGINT, subenabled BOOLEAN, subconninfo VARCHAR, subslotname VARCHAR, subpublications VARCHAR[]"},
	{"pg_foreign_table", "ftrelid BIGINT, ftserver BIGINT, ftoptions VARCHAR[]"},
	{"pg_foreign_server", "oid BIGINT, srvname VARCHAR, srvowner BIGINT, srvfdw BIGINT, srvtype VARCHAR, srvversion VARCHAR, srvacl VARCHAR[], srvoptions VARCHAR[]"},
	{"pg_foreign_data_wrapper", "oid BIGINT, fdwname VARCHAR, fdwowner BIGINT, fdwhandler BIGINT, fdwvalidator BIGINT, fdwacl VARCHAR[], fdwoptions VARCHAR[]"},
	{"pg_partitioned_table", `partrelid BIGINT, partstrat VARCHAR, partnatts SMALLINT, partdefid BIGINT,
		partattrs SMALLINT[], partclass BIGINT[], partcollation BIGINT[], partexprs VARCHAR`},
	{"pg_depend", "classid BIGINT, objid BIGINT, objsubid INTEGER, refclassid BIGINT, refobjid BIGINT, refobjsubid INTEGER, deptype VARCHAR"},
	{"pg_shdepend", "dbid BIGINT, classid BIGINT, objid BIGINT, objsubid INTEGER, refclassid BIGINT, refobjid BIGINT, deptype VARCHAR"},
	{"pg_proc", `oid BIGINT, proname VARCHAR, pronamespace BIGINT, proowner BIGINT, prolang BIGINT, procost FLOAT,
		prorows FLOAT, provariadic BIGINT, prosupport VARCHAR, prokind VARCHAR, prosecdef BOOLEAN,
		proleakproof BOOLEAN, proisstrict BOOLEAN, proretset BOOLEAN, provolatile VARCHAR, proparallel VARCHAR,
		pronargs SMALLINT, pronargdefaults SMALLINT, prorettype BIGINT, proargtypes BIGINT[], proallargtypes BIGINT[],
		proargmodes VARCHAR[], proargnames VARCHAR[], proargdefaults VARCHAR, protrftypes BIGINT[], prosrc VARCHAR,
		probin VARCHAR, prosqlbody VARCHAR, proconfig VARCHAR[], proacl VARCHAR[]`},
	{"pg_aggregate", "aggfnoid VARCHAR, aggkind VARCHAR, aggnumdirectargs SMALLINT, aggtransfn VARCHAR, aggfinalfn VARCHAR, aggtranstype BIGINT, agginitval VARCHAR"},
	{"pg_enum", "oid BIGINT, enumtypid BIGINT, enumsortorder FLOAT, enumlabel VARCHAR"},
	{"pg_range", "rngtypid BIGINT, rngsubtype BIGINT, rngmultitypid BIGINT, rngcollation BIGINT, rngsubopc BIGINT, rngcanonical VARCHAR, rngsubdiff VARCHAR"},
	{"pg_extension", `oid BIGINT, extname VARCHAR, extowner BIGINT, extnamespace BIGINT, extrelocatable BOOLEAN,
		extversion VARCHAR, extconfig BIGINT[], extcondition VARCHAR[]`},
	{"pg_available_extensions", "name VARCHAR, default_version VARCHAR, installed_version VARCHAR, comment VARCHAR"},
	{"pg_language", `oid BIGINT, lanname VARCHAR, lanowner BIGINT, lanispl BOOLEAN, lanpltrusted BOOLEAN,
		lanplcallfoid BIGINT, laninline BIGINT, lanvalidator BIGINT, lanacl VARCHAR[]`},
	{"pg_operator", `oid BIGINT, oprname VARCHAR, oprnamespace BIGINT, oprowner BIGINT, oprkind VARCHAR,
		oprcanmerge BOOLEAN, oprcanhash BOOLEAN, oprleft BIGINT, oprright BIGINT, oprresult BIGINT, oprcom BIGINT,
		oprnegate BIGINT, oprcode VARCHAR, oprrest VARCHAR, oprjoin VARCHAR`},
	{"pg_opclass", "oid BIGINT, opcmethod BIGINT, opcname VARCHAR, opcnamespace BIGINT, opcowner BIGINT, opcfamily BIGINT, opcintype BIGINT, opcdefault BOOLEAN, opckeytype BIGINT"},
	{"pg_cast", "oid BIGINT, castsource BIGINT, casttarget BIGINT, castfunc BIGINT, castcontext VARCHAR, castmethod VARCHAR"},
	{"pg_conversion", "oid BIGINT, conname VARCHAR, connamespace BIGINT, conowner BIGINT, conforencoding INTEGER, contoencoding INTEGER, conproc VARCHAR, condefault BOOLEAN"},
	{"pg_event_trigger", "oid BIGINT, evtname VARCHAR, evtevent VARCHAR, evtowner BIGINT, evtfoid BIGINT, evtenabled VARCHAR, evttags VARCHAR[]"},
	{"pg_sequence", "seqrelid BIGINT, seqtypid BIGINT, seqstart BIGINT, seqincrement BIGINT, seqmax BIGINT, seqmin BIGINT, seqcache BIGINT, seqcycle BOOLEAN"},
	{"pg_sequences", `schemaname VARCHAR, sequencename VARCHAR, sequenceowner VARCHAR, data_type VARCHAR,
		start_value BIGINT, min_value BIGINT, max_value BIGINT, increment_by BIGINT, cycle BOOLEAN,
		cache_size BIGINT, last_value BIGINT`},
	{"pg_views", "schemaname VARCHAR, viewname VARCHAR, viewowner VARCHAR, definition VARCHAR"},
	{"pg_matviews", "schemaname VARCHAR, matviewname VARCHAR, matviewowner VARCHAR, tablespace VARCHAR, hasindexes BOOLEAN, ispopulated BOOLEAN, definition VARCHAR"},
	{"pg_indexes", "schemaname VARCHAR, tablename VARCHAR, indexname VARCHAR, tablespace VARCHAR, indexdef VARCHAR"},
	{"pg_stat_activity", `datid BIGINT, datname VARCHAR, pid INTEGER, leader_pid INTEGER, usesysid BIGINT,
		usename VARCHAR, application_name VARCHAR, client_addr VARCHAR, client_hostname VARCHAR,
		client_port INTEGER, backend_start TIMESTAMPTZ, xact_start TIMESTAMPTZ, query_start TIMESTAMPTZ,
		state_change TIMESTAMPTZ, wait_event_type VARCHAR, wait_event VARCHAR, state VARCHAR,
		backend_xid BIGINT, backend_xmin BIGINT, query_id BIGINT, query VARCHAR, backend_type VARCHAR`},
	{"pg_locks", `locktype VARCHAR, database BIGINT, relation BIGINT, page INTEGER, tuple SMALLINT,
		virtualxid VARCHAR, transactionid BIGINT, classid BIGINT, objid BIGINT, objsubid SMALLINT,
		virtualtransaction VARCHAR, pid INTEGER, mode VARCHAR, granted BOOLEAN, fastpath BOOLEAN,
		waitstart TIMESTAMPTZ`},
	{"pg_prepared_xacts", "transaction BIGINT, gid VARCHAR, prepared TIMESTAMPTZ, owner VARCHAR, database VARCHAR"},
	{"pg_timezone_names", "name VARCHAR, abbrev VARCHAR, utc_offset INTERVAL, is_dst BOOLEAN"},
	{"pg_ts_config", "oid BIGINT, cfgname VARCHAR, cfgnamespace BIGINT, cfgowner BIGINT, cfgparser BIGINT"},
	{"pg_init_privs", "objoid BIGINT, classoid BIGINT, objsubid INTEGER, privtype VARCHAR, initprivs VARCHAR[]"},
	{"pg_seclabel", "objoid BIGINT, classoid BIGINT, objsubid INTEGER, provider VARCHAR, label VARCHAR"},
	{"pg_statio_user_tables", `relid BIGINT, schemaname VARCHAR, relname VARCHAR, heap_blks_read BIGINT,
		heap_blks_hit BIGINT, idx_blks_read BIGINT, idx_blks_hit BIGINT`},
}

// infoSchemaTables are the emulated information_schema tables; other information_schema names
// are left to DuckDB's own.
var infoSchemaTables = []catalogTable{
	{"schemata", `catalog_name VARCHAR, schema_name VARCHAR, schema_owner VARCHAR,
		default_character_set_catalog VARCHAR, default_character_set_schema VARCHAR,
		default_character_set_name VARCHAR, sql_path VARCHAR`},
	{"tables", `table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, table_type VARCHAR,
		self_referencing_column_name VARCHAR, reference_generation VARCHAR, user_defined_type_catalog VARCHAR,
		user_defined_type_schema VARCHAR, user_defined_type_name VARCHAR, is_insertable_into VARCHAR,
		is_typed VARCHAR, commit_action VARCHAR`},
	{"columns", `table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR,
		ordinal_position INTEGER, column_default VARCHAR, is_nullable VARCHAR, data_type VARCHAR,
		character_maximum_length INTEGER, character_octet_length INTEGER, numeric_precision INTEGER,
		numeric_precision_radix INTEGER, numeric_scale INTEGER, datetime_precision INTEGER,
		interval_type VARCHAR, interval_precision INTEGER, character_set_catalog VARCHAR,
		character_set_schema VARCHAR, character_set_name VARCHAR, collation_catalog VARCHAR,
		collation_schema VARCHAR, collation_name VARCHAR, domain_catalog VARCHAR, domain_schema VARCHAR,
		domain_name VARCHAR, udt_catalog VARCHAR, udt_schema VARCHAR, udt_name VARCHAR, scope_catalog VARCHAR,
		scope_schema VARCHAR, scope_name VARCHAR, maximum_cardinality INTEGER, dtd_identifier VARCHAR,
		is_self_referencing VARCHAR, is_identity VARCHAR, identity_generation VARCHAR, identity_start VARCHAR,
		identity_increment VARCHAR, identity_maximum VARCHAR, identity_minimum VARCHAR, identity_cycle VARCHAR,
		is_generated VARCHAR, generation_expression VARCHAR, is_updatable VARCHAR`},
	{"views", `table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, view_definition VARCHAR,
		check_option VARCHAR, is_updatable VARCHAR, is_insertable_into VARCHAR, is_trigger_updatable VARCHAR,
		is_trigger_deletable VARCHAR, is_trigger_insertable_into VARCHAR`},
	{"table_constraints", `constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR,
		table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, constraint_type VARCHAR,
		is_deferrable VARCHAR, initially_deferred VARCHAR, enforced VARCHAR, nulls_distinct VARCHAR`},
	{"key_column_usage", `constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR,
		table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR, column_name VARCHAR,
		ordinal_position INTEGER, position_in_unique_constraint INTEGER`},
	{"referential_constraints", `constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR,
		unique_constraint_catalog VARCHAR, unique_constraint_schema VARCHAR, unique_constraint_name VARCHAR,
		match_option VARCHAR, update_rule VARCHAR, delete_rule VARCHAR`},
	{"constraint_column_usage", `table_catalog VARCHAR, table_schema VARCHAR, table_name VARCHAR,
		column_name VARCHAR, constraint_catalog VARCHAR, constraint_schema VARCHAR, constraint_name VARCHAR`},
	{"routines", `specific_catalog VARCHAR, specific_schema VARCHAR, specific_name VARCHAR, routine_catalog VARCHAR,
		routine_schema VARCHAR, routine_name VARCHAR, routine_type VARCHAR, data_type VARCHAR,
		routine_definition VARCHAR, external_language VARCHAR`},
	{"enabled_roles", "role_name VARCHAR"},
	{"character_sets", `character_set_catalog VARCHAR, character_set_schema VARCHAR, character_set_name VARCHAR,
		character_repertoire VARCHAR, form_of_use VARCHAR, default_collate_catalog VARCHAR,
		default_collate_schema VARCHAR, default_collate_name VARCHAR`},
}

// infoSchemaMacros are the information_schema functions drivers call. _pg_expandarray, which
// pgjdbc uses to list primary keys and indexes, only ever sees the empty pg_index: it returns
// the first element instead of one row per element.
var infoSchemaMacros = []string{
	"_pg_expandarray(a) AS {'x': a[1], 'n': 1}",
}

// catalogTypeAliases are types Postgres queries cast to, as DuckDB aliases. regclass and its
// kin hold OIDs; rewriteCatalogSQL turns 'name'::regclass into a lookup of the name.
var catalogTypeAliases = []string{
	"name AS VARCHAR", `"char" AS VARCHAR`, "regproc AS VARCHAR", "regprocedure AS VARCHAR",
	"regoper AS VARCHAR", "regoperator AS VARCHAR", "regconfig AS VARCHAR", "regdictionary AS VARCHAR",
	"regclass AS BIGINT", "regtype AS BIGINT", "regnamespace AS BIGINT", "regrole AS BIGINT",
	"regcollation AS BIGINT", "xid AS BIGINT", "xid8 AS BIGINT", "cid AS BIGINT", "tid AS VARCHAR",
	"aclitem AS VARCHAR", "pg_node_tree AS VARCHAR", "int2vector AS SMALLINT[]", "oidvector AS BIGINT[]",
	"pg_lsn AS VARCHAR", "bpchar AS VARCHAR", "character AS VARCHAR", "abstime AS TIMESTAMPTZ",
}

// catalogMacros are the functions tools call, as DuckDB macros. {user}, {database}, {version}
// and {started} are replaced by the server's values (quoted literals), {settings} by a CASE
// over pgSettings (no subquery: table functions such as generate_series take no subqueries).
var catalogMacros = []string{
	"version() AS {version}",
	"current_database() AS {database}",
	"current_catalog() AS {database}",
	"current_schema() AS 'public'",
	"current_schemas(implicit) AS CASE WHEN implicit THEN ['pg_catalog', 'public'] ELSE ['public'] END",
	"current_user() AS {user}",
	"session_user() AS {user}",
	"\"user\"() AS {user}",
	"current_role() AS {user}",
	"pg_get_userbyid(id) AS {user}",
	"pg_backend_pid() AS 1",
	"pg_postmaster_start_time() AS {started}",
	"pg_conf_load_time() AS {started}",
	"pg_is_in_recovery() AS false",
	"txid_current() AS 1",
	"pg_current_xact_id() AS 1",
	"inet_server_addr() AS NULL::VARCHAR",
	"inet_server_port() AS NULL::INTEGER",
	"inet_client_addr() AS NULL::VARCHAR",
	"inet_client_port() AS NULL::INTEGER",
	"pg_table_is_visible(id) AS true",
	"pg_type_is_visible(id) AS true",
	"pg_function_is_visible(id) AS true",
	"pg_collation_is_visible(id) AS true",
	"pg_opclass_is_visible(id) AS true",
	"pg_operator_is_visible(id) AS true",
	"pg_conversion_is_visible(id) AS true",
	"pg_ts_config_is_visible(id) AS true",
	"pg_statistics_obj_is_visible(id) AS true",
	"pg_encoding_to_char(e) AS 'UTF8'",
	"pg_char_to_encoding(e) AS 6",
	"pg_tablespace_location(id) AS ''",
	"has_table_privilege(a, b) AS true", "has_table_privilege(a, b, c) AS true",
	"has_schema_privilege(a, b) AS true", "has_schema_privilege(a, b, c) AS true",
	"has_database_privilege(a, b) AS true", "has_database_privilege(a, b, c) AS true",
	"has_column_privilege(a, b, c) AS true", "has_column_privilege(a, b, c, d) AS true",
	"has_any_column_privilege(a, b) AS true", "has_any_column_privilege(a, b, c) AS true",
	"has_function_privilege(a, b) AS true", "has_function_privilege(a, b, c) AS true",
	"has_sequence_privilege(a, b) AS true", "has_sequence_privilege(a, b, c) AS true",
	"has_type_privilege(a, b) AS true", "has_type_privilege(a, b, c) AS true",
	"pg_has_role(a, b) AS true", "pg_has_role(a, b, c) AS true",
	"obj_description(id) AS (SELECT description FROM " + catalogSchema + ".pg_description strata_d WHERE strata_d.objoid = id AND strata_d.objsubid = 0 LIMIT 1)",
	"obj_description(id, cat) AS (SELECT description FROM " + catalogSchema + ".pg_description strata_d WHERE strata_d.objoid = id AND strata_d.objsubid = 0 LIMIT 1)",
	"col_description(id, n) AS (SELECT description FROM " + catalogSchema + ".pg_description strata_d WHERE strata_d.objoid = id AND strata_d.objsubid = n LIMIT 1)",
	"shobj_description(id, cat) AS NULL::VARCHAR",
	"pg_get_expr(expr, rel) AS expr",
	"pg_get_expr(expr, rel, pretty) AS expr",
	"pg_get_indexdef(id) AS NULL::VARCHAR", "pg_get_indexdef(id, col, pretty) AS NULL::VARCHAR",
	"pg_get_constraintdef(id) AS NULL::VARCHAR", "pg_get_constraintdef(id, pretty) AS NULL::VARCHAR",
	"pg_get_viewdef(id) AS NULL::VARCHAR", "pg_get_viewdef(id, pretty) AS NULL::VARCHAR",
	"pg_get_triggerdef(id) AS NULL::VARCHAR", "pg_get_triggerdef(id, pretty) AS NULL::VARCHAR",
	"pg_get_ruledef(id) AS NULL::VARCHAR", "pg_get_ruledef(id, pretty) AS NULL::VARCHAR",
	"pg_get_partkeydef(id) AS NULL::VARCHAR",
	"pg_get_partition_constraintdef(id) AS NULL::VARCHAR",
	"pg_get_statisticsobjdef_columns(id) AS NULL::VARCHAR",
	"pg_get_serial_sequence(t, c) AS NULL::VARCHAR",
	"pg_get_function_result(id) AS NULL::VARCHAR",
	"pg_get_function_arguments(id) AS NULL::VARCHAR",
	"pg_get_function_identity_arguments(id) AS NULL::VARCHAR",
	"pg_relation_is_publishable(id) AS false",
	"pg_relation_size(id) AS coalesce((SELECT size_bytes FROM " + catalogSchema + ".strata_sizes strata_s WHERE strata_s.oid = id), 0)",
	"pg_relation_size(id, fork) AS coalesce((SELECT size_bytes FROM " + catalogSchema + ".strata_sizes strata_s WHERE strata_s.oid = id), 0)",
	"pg_table_size(id) AS coalesce((SELECT size_bytes FROM " + catalogSchema + ".strata_sizes strata_s WHERE strata_s.oid = id), 0)",
	"pg_total_relation_size(id) AS coalesce((SELECT size_bytes FROM " + catalogSchema + ".strata_sizes strata_s WHERE strata_s.oid = id), 0)",
	"pg_indexes_size(id) AS 0",
	"pg_database_size(d) AS (SELECT coalesce(sum(size_bytes), 0)::BIGINT FROM " + catalogSchema + ".strata_sizes)",
	"pg_size_pretty(b) AS CASE WHEN b IS NULL THEN NULL WHEN abs(b) < 10240 THEN b::BIGINT || ' bytes' " +
		"WHEN abs(b) < 10485760 THEN round(b / 1024)::BIGINT || ' kB' " +
		"WHEN abs(b) < 10737418240 THEN round(b / 1048576)::BIGINT || ' MB' " +
		"WHEN abs(b) < 10995116277760 THEN round(b / 1073741824)::BIGINT || ' GB' " +
		"ELSE round(b / 1099511627776)::BIGINT || ' TB' END",
	"quote_ident(s) AS CASE WHEN regexp_matches(s, '^[a-z_][a-z0-9_$]*$') THEN s ELSE '\"' || replace(s, '\"', '\"\"') || '\"' END",
	"quote_literal(s) AS '''' || replace(s::VARCHAR, '''', '''''') || ''''",
	"quote_nullable(s) AS CASE WHEN s IS NULL THEN 'NULL' ELSE '''' || replace(s::VARCHAR, '''', '''''') || '''' END",
	"current_setting(n) AS {settings}",
	"current_setting(n, missing_ok) AS {settings}",
	"set_config(n, v, is_local) AS v",
	"format_type(id, typmod) AS CASE " +
		"WHEN id = 1700 AND typmod IS NOT NULL AND typmod >= 4 THEN 'numeric(' || ((typmod - 4) >> 16) || ',' || ((typmod - 4) & 65535) || ')' " +
		"ELSE coalesce((SELECT strata_t.format FROM " + catalogSchema + ".strata_type_names strata_t WHERE strata_t.oid = id), '???') END",
	"to_regclass(n) AS " + regclassLookup("n"),
	"strata_regclass(n) AS " + regclassLookup("n"),
	"to_regtype(n) AS (SELECT strata_t.oid FROM " + catalogSchema + ".pg_type strata_t WHERE strata_t.typname = lower(n) LIMIT 1)",
	"strata_regtype(n) AS (SELECT strata_t.oid FROM " + catalogSchema + ".pg_type strata_t WHERE strata_t.typname = lower(n) OR strata_t.typname = replace(lower(n), 'pg_catalog.', '') LIMIT 1)",
	"strata_regnamespace(n) AS (SELECT strata_n.oid FROM " + catalogSchema + ".pg_namespace strata_n WHERE strata_n.nspname = n LIMIT 1)",
	"regexp_full_match(a, b) AS regexp_matches(a, b)", // Postgres's ~ matches anywhere
	"array_upper(a, d) AS len(a)",
	"array_length(a) AS len(a)",
	"array_length(a, d) AS len(a)",
	"parse_ident(s) AS list_transform(string_split(s, '.'), strata_x -> trim(strata_x, '\"'))",
	"parse_ident(s, strict) AS list_transform(string_split(s, '.'), strata_x -> trim(strata_x, '\"'))",
	"array_lower(a, d) AS CASE WHEN len(a) > 0 THEN 1 END",
	"pg_get_keywords() AS TABLE SELECT NULL::VARCHAR AS word, NULL::VARCHAR AS catcode, NULL::VARCHAR AS catdesc WHERE false",
}

// regclassLookup is the SQL that finds the OID of the relation named by the text expression n
// ("table", "schema.table", quoted parts allowed).
func regclassLookup(n string) string {
	return "(SELECT strata_c.oid FROM " + catalogSchema + ".pg_class strata_c JOIN " + catalogSchema + ".pg_namespace strata_n ON strata_n.oid = strata_c.relnamespace " +
		"WHERE strata_c.relname = replace(CASE WHEN contains(" + n + ", '.') THEN split_part(" + n + ", '.', 2) ELSE " + n + " END, '\"', '') " +
		"AND (NOT contains(" + n + ", '.') OR strata_n.nspname = replace(split_part(" + n + ", '.', 1), '\"', '')) LIMIT 1)"
}

// catalogNames are the names whose mention sends a statement to the catalog database: its
// tables and the functions its macros define (see routesToCatalog).
var catalogNames = func() map[string]bool {
	m := map[string]bool{"pg_catalog": true, "information_schema": true}
	for _, t := range pgCatalogTables {
		m[t.Name] = true
	}
	for _, def := range catalogMacros {
		name := def[:indexAny(def, "( ")]
		if !genericMacros[name] {
			m[name] = true
		}
	}
	return m
}()

// genericMacros are catalog macros that do not send a statement to the catalog database:
// they are generic functions a query over project tables may call (and then fail on loudly,
// rather than run on the catalog's empty replicas).
var genericMacros = map[string]bool{
	"quote_ident": true, "quote_literal": true, "quote_nullable": true, "array_upper": true,
	"array_lower": true, "regexp_full_match": true, "pg_size_pretty": true, "array_length": true,
	"parse_ident": true, "\"user\"": true,
}

// infoSchemaNames are the information_schema tables the emulation provides.
var infoSchemaNames = func() map[string]bool {
	m := map[string]bool{"_pg_expandarray": true}
	for _, t := range infoSchemaTables {
		m[t.Name] = true
	}
	return m
}()

func indexAny(s, chars string) int {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return i
			}
		}
	}
	return len(s)
}

// pgSettings are the server settings SHOW and pg_settings report, keyed by lower-case name.
// SET changes a session's copy; the catalog's pg_settings always holds these defaults.
var pgSettings = map[string]string{
	"server_version":                      "15.0",
	"server_version_num":                  "150000",
	"server_encoding":                     "UTF8",
	"client_encoding":                     "UTF8",
	"datestyle":                           "ISO, MDY",
	"intervalstyle":                       "postgres",
	"timezone":                            "UTC",
	"integer_datetimes":                   "on",
	"standard_conforming_strings":         "on",
	"transaction_isolation":               "read committed",
	"default_transaction_isolation":       "read committed",
	"transaction_read_only":               "off",
	"default_transaction_read_only":       "off",
	"search_path":                         `"$user", public`,
	"max_identifier_length":               "63",
	"application_name":                    "",
	"extra_float_digits":                  "1",
	"lc_collate":                          "C",
	"lc_ctype":                            "C",
	"lc_messages":                         "C",
	"lc_monetary":                         "C",
	"lc_numeric":                          "C",
	"lc_time":                             "C",
	"is_superuser":                        "off",
	"max_connections":                     "100",
	"block_size":                          "8192",
	"bytea_output":                        "hex",
	"escape_string_warning":               "on",
	"statement_timeout":                   "0",
	"lock_timeout":                        "0",
	"idle_in_transaction_session_timeout": "0",
	"default_tablespace":                  "",
	"ssl":                                 "off",
	"wal_level":                           "minimal",
	"max_index_keys":                      "32",
	"row_security":                        "on",
	"jit":                                 "off",
}
