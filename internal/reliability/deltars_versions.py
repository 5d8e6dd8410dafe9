# Reads given versions of Delta tables with delta-rs (the deltalake package) and counts their rows,
# for the reliability harness's version check (versions.go). Input on stdin: one JSON line per
# table, {"path": table root, "versions": [v, ...]}, read as it comes (the harness hands a table
# over as soon as Strata has read it). Output on stdout: one JSON line per version,
# {"path", "version", "rows", "error"} (an error is the exception's text, rows 0), then
# {"path", "done": true} when the table is finished.
#
# delta-rs replays the log to the version and lists its data files; each file is opened and its
# row count read from its Parquet footer (once per file: data files are immutable). A version
# with deletion vectors is counted through a pyarrow dataset instead, which applies them.
import json
import sys

import pyarrow.parquet as pq
from deltalake import DeltaTable


def rows_of(dt, footer_rows):
    if dt.protocol().reader_features and "deletionVectors" in dt.protocol().reader_features:
        return dt.to_pyarrow_dataset().count_rows()
    n = 0
    for uri in dt.file_uris():
        if uri not in footer_rows:
            path = uri[len("file://"):] if uri.startswith("file://") else uri
            footer_rows[uri] = pq.ParquetFile(path).metadata.num_rows
        n += footer_rows[uri]
    return n


def read_table(req):
    path = req["path"]
    dt = None
    footer_rows = {}
    for v in req["versions"]:
        out = {"path": path, "version": v, "rows": 0, "error": ""}
        try:
            if dt is None:
                dt = DeltaTable(path, version=v)
            else:
                dt.load_as_version(v)
            out["rows"] = rows_of(dt, footer_rows)
        except Exception as e:  # noqa: BLE001: every failure is an answer
            out["error"] = f"{type(e).__name__}: {e}"[:2000]
            dt = None
        print(json.dumps(out), flush=True)
    print(json.dumps({"path": path, "done": True}), flush=True)


def main():
    for line in sys.stdin:
        if line.strip():
            read_table(json.loads(line))


if __name__ == "__main__":
    main()
