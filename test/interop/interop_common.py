"""Helpers shared by the interop scripts that test/interop's Go tests run.

Everything here reads Delta tables with delta-rs (the `deltalake` package) and DuckDB and reports
what they saw as Parquet files (rows) and JSON (facts), which the Go side compares with Strata.
"""

import json
import os
import sys
import urllib.parse
import warnings

# Exit status the Go side turns into "run pip install -r test/requirements.txt".
MISSING_PACKAGES = 3

try:
    import deltalake
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import QueryBuilder
    from deltalake.exceptions import DeltaProtocolError
except ImportError as exc:  # pragma: no cover - the Go test reports it
    print(f"interop: missing Python package: {exc}", file=sys.stderr)
    sys.exit(MISSING_PACKAGES)

warnings.filterwarnings("ignore")


def versions():
    """The package versions in use, for the Go test's log."""
    return {"deltalake": deltalake.__version__, "pyarrow": pa.__version__, "duckdb": duckdb.__version__}


def local_path(uri):
    """A file URI or path as a local path."""
    if uri.startswith("file://"):
        return urllib.parse.unquote(uri[len("file://"):])
    return uri


def add_actions(dt):
    """The add actions of dt's version as a pyarrow Table (flattened: partition.<col>, typed)."""
    return pa.table(dt.get_add_actions(flatten=True))


def table_facts(dt):
    """What delta-rs says about one version: schema, partitioning, protocol, properties, files."""
    md, proto = dt.metadata(), dt.protocol()
    aa = add_actions(dt)
    rel = [urllib.parse.unquote(p) for p in aa.column("path").to_pylist()] if aa.num_rows else []
    num_records = None
    if aa.num_rows and "num_records" in aa.column_names:
        counts = aa.column("num_records").to_pylist()
        if all(c is not None for c in counts):
            num_records = sum(counts)
    elif not aa.num_rows:
        num_records = 0
    uris = [local_path(u) for u in dt.file_uris()]
    return {
        "version": dt.version(),
        "schema": json.loads(dt.schema().to_json()),
        "partitionColumns": list(md.partition_columns),
        "configuration": dict(md.configuration or {}),
        "minReaderVersion": proto.min_reader_version,
        "minWriterVersion": proto.min_writer_version,
        "readerFeatures": sorted(proto.reader_features or []),
        "writerFeatures": sorted(proto.writer_features or []),
        "files": sorted(rel),
        "numFiles": len(uris),
        "missingFiles": sorted(u for u in uris if not os.path.exists(u)),
        "numRecords": num_records,
        "sizeInBytes": sum(aa.column("size_bytes").to_pylist()) if aa.num_rows else 0,
    }


def deltars_read(dt):
    """dt's rows as delta-rs reads them: DeltaTable.to_pyarrow_table(), or, for a table whose
    reader features that path does not support (columnMapping in deltalake 1.6), delta-rs's
    DataFusion provider (QueryBuilder), which supports them. Returns (rows, how)."""
    try:
        return dt.to_pyarrow_table(), "to_pyarrow_table"
    except DeltaProtocolError as exc:
        if "not yet supported" not in str(exc):
            raise
        reader = QueryBuilder().register("t", dt).execute("SELECT * FROM t")
        return pa.RecordBatchReader.from_stream(reader).read_all(), "QueryBuilder (to_pyarrow_table: " + str(exc) + ")"


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def duckdb_read(dt, schema):
    """Reads dt's version with DuckDB: exactly the Parquet files delta-rs reports (file_uris()),
    with the partition values delta-rs parsed from the add actions joined on by file name, the
    columns in the order of schema (delta-rs's Arrow schema), top-level columns found in the files
    by their column-mapping physical names; columns absent from every file (added by schema
    evolution after they were written) are null."""
    uris = [local_path(u) for u in dt.file_uris()]
    if not uris:
        return schema.empty_table()
    pcols = list(dt.metadata().partition_columns)
    # With column mapping the files name columns by their physical names.
    physical = {f.name: f.metadata.get("delta.columnMapping.physicalName", f.name) for f in dt.schema().fields}
    aa = add_actions(dt)
    root = local_path(dt.table_uri).rstrip("/")
    by_action = [root + "/" + urllib.parse.unquote(p) for p in aa.column("path").to_pylist()]
    if sorted(by_action) != sorted(uris):
        raise RuntimeError(f"add action paths {sorted(by_action)} differ from file_uris {sorted(uris)}")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    parts = {"__interop_file": by_action}
    for i, c in enumerate(pcols):
        parts[f"__interop_p{i}"] = aa.column(f"partition.{c}")
    con.register("__interop_parts", pa.table(parts))
    src = "read_parquet(?, filename = true, union_by_name = true, hive_partitioning = false)"
    data_cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}", [uris]).fetchall()}
    select, names = [], []
    for f in schema:
        if f.name in pcols:
            select.append(f"p.__interop_p{pcols.index(f.name)} AS {quote_ident(f.name)}")
        elif physical.get(f.name, f.name) in data_cols:
            select.append(f"d.{quote_ident(physical.get(f.name, f.name))} AS {quote_ident(f.name)}")
        else:
            continue
        names.append(f.name)
    sql = (f"SELECT {', '.join(select)} FROM {src} d "
           f"JOIN __interop_parts p ON d.filename = p.__interop_file")
    got = con.sql(sql, params=[uris]).to_arrow_table()
    cols = []
    for f in schema:
        if f.name in names:
            cols.append(got.column(names.index(f.name)))
        else:
            cols.append(pa.nulls(got.num_rows, f.type))
    return pa.table(cols, names=[f.name for f in schema])


def write_rows(table, path):
    """Writes table (a pyarrow Table) as Parquet for the Go side."""
    pq.write_table(table, path)


def write_json(obj, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=str)


def error_text(exc):
    return f"{type(exc).__name__}: {exc}"


def bound_problem(kind, stat, actual, duck_type):
    """What is wrong with a minValues/maxValues statistic given the file's actual min/max, or "".
    The protocol's tight bounds: the statistic equals the value, except that strings may be cut
    to a prefix (then min <= actual <= max) and timestamps are truncated down to milliseconds."""
    try:
        if duck_type in ("VARCHAR",):
            if (stat > actual) if kind == "min" else (stat < actual):
                return f"does not bound the file's {kind} {actual!r}"
            if len(actual) <= 32 and stat != actual:
                return f"is not the file's {kind} {actual!r} (tight bound expected for a short string)"
            return ""
        if duck_type.startswith("TIMESTAMP"):
            actual = actual.replace(microsecond=actual.microsecond // 1000 * 1000)
        if stat != actual:
            return f"is not the file's {kind} {actual!r}" + (" truncated to milliseconds" if duck_type.startswith("TIMESTAMP") else "")
    except TypeError as exc:
        return f"cannot be compared with the file's {kind} {actual!r}: {exc}"
    return ""


def stats_problems(dt, checked):
    """Checks the statistics delta-rs parsed from the add actions of dt's version against the data
    of each file, as DuckDB reads it: numRecords and nullCount must be exact and minValues and
    maxValues tight bounds (bound_problem; NaN ignored), so that readers' data skipping and
    metadata-only answers are right. Files in checked (a set of paths) are skipped and added to
    it. Returns the problems found, as text."""
    aa = add_actions(dt)
    if not aa.num_rows:
        return []
    root = local_path(dt.table_uri).rstrip("/")
    problems = []
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for row in aa.to_pylist():
        path = root + "/" + urllib.parse.unquote(row["path"])
        if path in checked or not os.path.exists(path):
            continue
        checked.add(path)
        src = "read_parquet(?, hive_partitioning = false)"
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}", [path]).fetchall()}
        count = con.execute(f"SELECT count(*) FROM {src}", [path]).fetchone()[0]
        name = row["path"]
        if row.get("num_records") is not None and row["num_records"] != count:
            problems.append(f"{name}: numRecords {row['num_records']}, file has {count} rows")
        for key, stat in row.items():
            kind, _, column = key.partition(".")
            if kind not in ("min", "max", "null_count") or column not in types or stat is None:
                continue
            q = quote_ident(column)
            if kind == "null_count":
                actual = con.execute(f"SELECT count(*) - count({q}) FROM {src}", [path]).fetchone()[0]
                if stat != actual:
                    problems.append(f"{name}: column {column}: nullCount {stat}, file has {actual} nulls")
                continue
            keep = f"WHERE NOT isnan({q})" if types[column] in ("FLOAT", "DOUBLE") else ""
            agg = "min" if kind == "min" else "max"
            actual = con.execute(f"SELECT {agg}({q}) FROM {src} {keep}", [path]).fetchone()[0]
            if actual is None:
                continue
            problem = bound_problem(kind, stat, actual, types[column])
            if problem:
                problems.append(f"{name}: column {column} ({types[column]}): {kind}Values {stat!r}: {problem}")
    return problems


def read_version(path, v, out, engines, checked_stats=None):
    """Facts about version v of the table at path and its rows as read by each of engines
    ("deltars": DeltaTable.to_pyarrow_table(), "duckdb": duckdb_read), written to
    {out}.{engine}.parquet. Every failure is recorded in the result, never raised: failures are
    findings for the Go side to judge."""
    entry = {"version": v}
    try:
        dt = deltalake.DeltaTable(path, version=v)
    except Exception as exc:  # noqa: BLE001
        entry["loadError"] = error_text(exc)
        return entry
    try:
        entry["facts"] = table_facts(dt)
    except Exception as exc:  # noqa: BLE001
        entry["factsError"] = error_text(exc)
    if checked_stats is not None:
        try:
            entry["statsProblems"] = stats_problems(dt, checked_stats)
        except Exception as exc:  # noqa: BLE001
            entry["statsProblems"] = [f"checking statistics failed: {error_text(exc)}"]
    schema = None
    try:
        schema = pa.schema(dt.schema().to_arrow())
    except Exception as exc:  # noqa: BLE001
        entry["schemaError"] = error_text(exc)
    for engine in engines:
        try:
            if engine == "deltars":
                rows, how = deltars_read(dt)
                entry["deltarsHow"] = how
            else:
                if schema is None:
                    raise RuntimeError("no Arrow schema from delta-rs")
                rows = duckdb_read(dt, schema)
            entry[engine] = {"rows": rows.num_rows, "arrowSchema": str(rows.schema)}
            write_rows(rows, f"{out}.{engine}.parquet")
        except Exception as exc:  # noqa: BLE001
            entry[engine] = {"error": error_text(exc)}
    return entry


def report_table(table, vacuumed, out, engines, check_stats=False):
    """Reads every version of table (the table before VACUUM) and of vacuumed (after it) with
    engines, writing rows to out/vN.<engine>.parquet and out/vacN.<engine>.parquet and the latest
    version, loaded without a version (through the last checkpoint), to out/latest.deltars.parquet;
    with check_stats, checks every data file's statistics (stats_problems). Returns the report the
    Go side reads (pyReport in check_test.go)."""
    latest = deltalake.DeltaTable(table)
    report = {"packages": versions(), "latestVersion": latest.version(), "versions": [], "vacuumed": []}
    try:
        write_rows(deltars_read(latest)[0], f"{out}/latest.deltars.parquet")
    except Exception as exc:  # noqa: BLE001
        report["latestError"] = error_text(exc)
    checked = set() if check_stats else None
    for v in range(latest.version() + 1):
        report["versions"].append(read_version(table, v, f"{out}/v{v}", engines, checked))
    vac_latest = deltalake.DeltaTable(vacuumed).version()
    report["vacuumedLatestVersion"] = vac_latest
    for v in range(vac_latest + 1):
        report["vacuumed"].append(read_version(vacuumed, v, f"{out}/vac{v}", engines))
    return report
