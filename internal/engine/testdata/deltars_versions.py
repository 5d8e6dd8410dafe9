"""Reads versions of one Delta table with delta-rs, for TestDMLRandom (dml_random_test.go).

Usage: python3 deltars_versions.py TABLE_PATH

The process prints "ready" once deltalake and pyarrow are imported (or "missing: <error>" and
exits with status 3 when they are not installed). It then reads requests from stdin, one per
line: "VERSION OUTPUT_PATH". For each it opens the table at that version with
deltalake.DeltaTable(TABLE_PATH, version=VERSION), writes to_pyarrow_table() to OUTPUT_PATH as
Parquet and answers "ok pyarrow" on one line, or "error <message>" when delta-rs fails. Each
version is opened afresh, so a version is read the way any delta-rs user would read it.

to_pyarrow_table() refuses tables with reader features it does not implement (column mapping,
in deltalake 1.6); those versions are read through delta-rs's own query engine instead
(QueryBuilder, which applies column mapping and deletion vectors) and answered "ok querybuilder".
"""

import sys


def main() -> int:
    path = sys.argv[1]
    try:
        import deltalake
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:  # the Go test turns this into a clear failure
        print("missing: %s" % err, flush=True)
        return 3
    print("ready", flush=True)
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        version, out = line.split(" ", 1)
        try:
            dt = deltalake.DeltaTable(path, version=int(version))
            reader = "pyarrow"
            try:
                tbl = dt.to_pyarrow_table()
            except deltalake.exceptions.DeltaProtocolError as err:
                if "not yet supported" not in str(err):
                    raise
                reader = "querybuilder"
                qb = deltalake.QueryBuilder().register("t", dt)
                tbl = pa.table(qb.execute("SELECT * FROM t").read_all())
            pq.write_table(tbl, out)
        except Exception as err:  # reported to the test, which fails naming the version
            print("error %s" % repr(err).replace("\n", " "), flush=True)
            continue
        print("ok " + reader, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
