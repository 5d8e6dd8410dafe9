#!/usr/bin/env python3
"""Derive the expected content of the Delta conformance tables, version by version, from the
Delta protocol (PROTOCOL.md of delta-io/delta) and the tables' own files, independently of Strata.

Run from the repository root:

    python3 internal/cli/testdata/conformance/derive.py

Needs pyarrow and pyroaring (pip install pyarrow pyroaring). It reads
testdata/conformance/delta/<group>/<table> and writes, for each table,
internal/cli/testdata/conformance/<group>/<table>/expected.json and one v<N>.csv per version whose
rows are not already given by the vendored expected files. See README.md beside this script for
what the files mean and how the rules below follow the protocol.

Nothing here imports or runs Strata. The log is replayed from the JSON commits alone; where the
table also has checkpoints, the state they give (plus the commits after them) is checked to be the
same, so a checkpoint that disagrees with the commits stops the script instead of becoming an
expectation. Where the vendored expected files exist (dat/*/expected/v*, golden/*/expected), the
rows derived here are checked against them too, which validates this reader.
"""

import csv
import datetime
import decimal
import glob
import json
import os
import re
import struct
import sys
import urllib.parse
import uuid
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap64

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
SRC = os.path.join(ROOT, "testdata", "conformance", "delta")
OUT = os.path.dirname(os.path.abspath(__file__))

# Reader features a conforming reader may implement; a table listing any other reader feature, or
# a reader version above 3, must be refused (Protocol Evolution). The expectation records the
# words the refusal must name.
KNOWN_READER_FEATURES = {"columnMapping", "deletionVectors", "timestampNtz", "v2Checkpoint",
                         "vacuumProtocolCheck", "typeWidening", "variantType", "catalogManaged"}

NULL = "\\N"

# --- log files ---------------------------------------------------------------------------------

COMMIT_RE = re.compile(r"^(\d{20})\.json$")


def commit_versions(log):
    """Versions of the commit files directly in _delta_log (not in sub-directories such as .tmp)."""
    out = []
    for name in os.listdir(log):
        m = COMMIT_RE.match(name)
        if m and os.path.isfile(os.path.join(log, name)):
            out.append(int(m.group(1)))
    return sorted(out)


def read_actions(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- reconciliation (Action Reconciliation) ----------------------------------------------------


def canonical_path(table_root, p):
    """The data file a path names: URI-decoded, relative paths resolved against the table root,
    file: URIs and scheme-less absolute paths naming the same local file."""
    parsed = urllib.parse.urlparse(p)
    if parsed.scheme == "file":
        return os.path.normpath(urllib.parse.unquote(parsed.path))
    if parsed.scheme:
        return p  # another file system: compare as written
    d = urllib.parse.unquote(p)
    if d.startswith("/"):
        return os.path.normpath(d)
    return os.path.normpath(os.path.join(table_root, d))


def dv_unique_id(dv):
    if not dv:
        return None
    uid = dv["storageType"] + dv["pathOrInlineDv"]
    if dv.get("offset") is not None:
        uid += "@" + str(dv["offset"])
    return uid


class State:
    def __init__(self, root):
        self.root = root
        self.protocol = None
        self.metadata = None
        self.txns = {}
        self.adds = {}  # canonical path -> add action (one logical file per path)
        self.removes = {}  # (canonical path, dv id) -> remove action

    def apply(self, actions):
        # Actions within one commit are unordered: apply the removes first, so that a commit that
        # removes (p, dv1) and adds (p, dv2) leaves (p, dv2).
        for a in actions:
            r = a.get("remove")
            if r:
                key = canonical_path(self.root, r["path"])
                cur = self.adds.get(key)
                if cur is not None and dv_unique_id(cur.get("deletionVector")) == dv_unique_id(r.get("deletionVector")):
                    del self.adds[key]
                self.removes[(key, dv_unique_id(r.get("deletionVector")))] = r
        for a in actions:
            if "protocol" in a and a["protocol"]:
                self.protocol = a["protocol"]
            elif "metaData" in a and a["metaData"]:
                self.metadata = a["metaData"]
            elif "txn" in a and a["txn"]:
                t = a["txn"]
                self.txns[t["appId"]] = t["version"]
            elif "add" in a and a["add"]:
                ad = a["add"]
                key = canonical_path(self.root, ad["path"])
                self.adds[key] = ad
                self.removes.pop((key, dv_unique_id(ad.get("deletionVector"))), None)

    def live(self):
        """Live logical files as (canonical path, dv unique id) pairs."""
        return {(k, dv_unique_id(a.get("deletionVector"))) for k, a in self.adds.items()}


# --- checkpoints (cross-check only) -------------------------------------------------------------


def checkpoint_files(log):
    """(version, [files]) of every complete checkpoint in the log."""
    classic, multi, v2 = {}, {}, {}
    for name in os.listdir(log):
        full = os.path.join(log, name)
        if not os.path.isfile(full):
            continue
        if m := re.match(r"^(\d{20})\.checkpoint\.parquet$", name):
            classic[int(m.group(1))] = [full]
        elif m := re.match(r"^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$", name):
            multi.setdefault((int(m.group(1)), int(m.group(3))), []).append(full)
        elif m := re.match(r"^(\d{20})\.checkpoint\.[0-9a-fA-F-]{36}\.(json|parquet)$", name):
            v2.setdefault(int(m.group(1)), []).append(full)
    out = []
    for v, files in classic.items():
        out.append((v, files))
    for (v, n), files in multi.items():
        if len(files) == n:
            out.append((v, sorted(files)))
    for v, files in v2.items():
        for f in files:
            out.append((v, [f]))
    return sorted(out)


def parquet_actions(path):
    t = pq.read_table(path)
    out = []
    for row in t.to_pylist():
        for k, v in row.items():
            if v is not None and k in ("add", "remove", "protocol", "metaData", "txn", "sidecar", "checkpointMetadata"):
                if isinstance(v, dict) and "partitionValues" in v and isinstance(v["partitionValues"], list):
                    v["partitionValues"] = dict(v["partitionValues"])
                if k == "metaData" and isinstance(v.get("configuration"), list):
                    v["configuration"] = dict(v["configuration"])
                out.append({k: v})
    return out


def checkpoint_actions(log, files):
    actions = []
    for f in files:
        actions += read_actions(f) if f.endswith(".json") else parquet_actions(f)
    for a in list(actions):
        if a.get("sidecar"):
            actions += parquet_actions(os.path.join(log, "_sidecars", os.path.basename(a["sidecar"]["path"])))
    return actions


# --- deletion vectors (Deletion Vectors, Deletion Vector Format) --------------------------------

Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85_decode(s):
    if len(s) % 5:
        raise ValueError("z85 length %d" % len(s))
    out = bytearray()
    for i in range(0, len(s), 5):
        n = 0
        for c in s[i:i + 5]:
            n = n * 85 + Z85.index(c)
        out += n.to_bytes(4, "big")
    return bytes(out)


MAGIC = 1681511377


def decode_bitmap(data):
    if struct.unpack("<I", data[:4])[0] != MAGIC:
        raise ValueError("bad DV magic")
    return BitMap64.deserialize(data[4:])


def deleted_rows(table_root, dv):
    if not dv:
        return None
    st, p = dv["storageType"], dv["pathOrInlineDv"]
    if st == "i":
        bm = decode_bitmap(z85_decode(p)[: dv["sizeInBytes"]])
    else:
        if st == "u":
            prefix, enc = p[:-20], p[-20:]
            u = uuid.UUID(bytes=z85_decode(enc))
            path = os.path.join(table_root, prefix, "deletion_vector_%s.bin" % u)
        elif st == "p":
            path = canonical_path(table_root, p)
        else:
            raise ValueError("storage type " + st)
        off = dv.get("offset") or 0
        with open(path, "rb") as f:
            raw = f.read()
        size = struct.unpack(">I", raw[off:off + 4])[0]
        if size != dv["sizeInBytes"]:
            raise ValueError("DV size %d, descriptor says %d" % (size, dv["sizeInBytes"]))
        data = raw[off + 4: off + 4 + size]
        crc = struct.unpack(">I", raw[off + 4 + size: off + 8 + size])[0]
        if zlib.crc32(data) != crc:
            raise ValueError("DV checksum mismatch")
        bm = decode_bitmap(data)
    if len(bm) != dv["cardinality"]:
        raise ValueError("DV cardinality %d, descriptor says %d" % (len(bm), dv["cardinality"]))
    return bm


# --- types, values and their canonical text ------------------------------------------------------

PRIMITIVE = {"string", "long", "integer", "short", "byte", "float", "double", "boolean", "binary",
             "date", "timestamp", "timestamp_ntz"}
EPOCH = datetime.date(1970, 1, 1)


def is_primitive(t):
    return isinstance(t, str) and (t in PRIMITIVE or t.startswith("decimal"))


def fmt_micros(us, ntz):
    days, rem = divmod(us, 86400 * 10**6)
    d = EPOCH + datetime.timedelta(days=days)
    secs, frac = divmod(rem, 10**6)
    s = "%04d-%02d-%02dT%02d:%02d:%02d.%06d" % (d.year, d.month, d.day, secs // 3600, secs // 60 % 60, secs % 60, frac)
    return s if ntz else s + "Z"


def render(v, t):
    """Canonical CSV text of a Python value of Delta type t (see README.md)."""
    if v is None:
        return NULL
    if t == "string":
        return v
    if t in ("long", "integer", "short", "byte"):
        return str(int(v))
    if t in ("float", "double"):
        if v != v:
            return "NaN"
        if v in (float("inf"), float("-inf")):
            return "Inf" if v > 0 else "-Inf"
        return repr(float(v))
    if t == "boolean":
        return "true" if v else "false"
    if t == "binary":
        return bytes(v).hex()
    if t == "date":
        return (EPOCH + datetime.timedelta(days=v)).isoformat()
    if t in ("timestamp", "timestamp_ntz"):
        return fmt_micros(v, t == "timestamp_ntz")
    if t.startswith("decimal"):
        scale = int(t[t.index(",") + 1:-1])
        return format(decimal.Decimal(v).quantize(decimal.Decimal(1).scaleb(-scale)), "f")
    raise ValueError("type " + t)


def parse_partition_value(raw, t):
    """Partition Value Serialization: the empty string (or a JSON null) is null."""
    if raw is None or raw == "":
        return None
    if t == "string":
        return raw
    if t in ("long", "integer", "short", "byte"):
        return int(raw)
    if t in ("float", "double"):
        return float(raw)
    if t == "boolean":
        return raw.lower() == "true"
    if t == "date":
        return (datetime.date.fromisoformat(raw) - EPOCH).days
    if t in ("timestamp", "timestamp_ntz"):
        s = raw.replace("T", " ")
        utc = s.endswith("Z")
        s = s.rstrip("Z")
        date, _, clock = s.partition(" ")
        hms, _, frac = clock.partition(".")
        h, m, sec = (int(x) for x in hms.split(":"))
        days = (datetime.date.fromisoformat(date) - EPOCH).days
        # A value without a zone is read as UTC: the writer's zone is not recorded in the log
        # (see README.md).
        return ((days * 24 + h) * 60 + m) * 60 * 10**6 + sec * 10**6 + int((frac + "000000")[:6])
    if t.startswith("decimal"):
        return decimal.Decimal(raw)
    if t == "binary":
        return raw.encode("utf-8")  # Spark writes the bytes as a UTF-8 string
    raise ValueError("partition type " + t)


def column_values(arr, t):
    """Python values of a pyarrow column, converted to Delta type t's value space."""
    if t in ("timestamp", "timestamp_ntz"):
        if pa.types.is_timestamp(arr.type):
            arr = arr.cast(pa.timestamp("us", tz=arr.type.tz), safe=True).cast(pa.int64())
        return arr.to_pylist()
    if t == "date":
        return arr.cast(pa.int32()).to_pylist() if pa.types.is_date32(arr.type) else [
            None if x is None else (x - EPOCH).days for x in arr.to_pylist()]
    return arr.to_pylist()


# --- a snapshot's rows ---------------------------------------------------------------------------


def physical_name(field, mode):
    if mode in ("name", "id"):
        return field["metadata"].get("delta.columnMapping.physicalName", field["name"])
    return field["name"]


def find_column(pf_schema, field, mode):
    """Index of the file column that holds field, or None (the column reads as null)."""
    names = pf_schema.names
    if mode == "id":
        want = field["metadata"]["delta.columnMapping.id"]
        for i, f in enumerate(pf_schema):
            if f.metadata and f.metadata.get(b"PARQUET:field_id") == str(want).encode():
                return i
        return None
    name = physical_name(field, mode)
    if name in names:
        return names.index(name)
    lower = [n.lower() for n in names]
    if mode == "none" and name.lower() in lower:
        return lower.index(name.lower())
    return None


def column_mapping_mode(protocol, metadata):
    r = protocol["minReaderVersion"]
    if r == 2 or (r == 3 and "columnMapping" in (protocol.get("readerFeatures") or [])):
        return (metadata.get("configuration") or {}).get("delta.columnMapping.mode", "none").lower()
    return "none"


def snapshot_rows(state):
    schema = json.loads(state.metadata["schemaString"])
    fields = schema["fields"]
    part_cols = state.metadata.get("partitionColumns") or []
    mode = column_mapping_mode(state.protocol, state.metadata)
    types = [f["type"] for f in fields]
    rows = []
    for key, add in sorted(state.adds.items()):
        table = pq.read_table(key, coerce_int96_timestamp_unit="us")
        n = table.num_rows
        cols = []
        for f in fields:
            if f["name"] in part_cols:
                pv = add.get("partitionValues") or {}
                raw = pv.get(physical_name(f, mode))
                v = parse_partition_value(raw, f["type"])
                cols.append([v] * n)
                continue
            i = find_column(table.schema, f, mode)
            if i is None:
                cols.append([None] * n)
            else:
                cols.append(column_values(table.column(i).combine_chunks(), f["type"]))
        deleted = deleted_rows(state.root, add.get("deletionVector"))
        for r in range(n):
            if deleted is not None and r in deleted:
                continue
            rows.append(tuple(render(cols[c][r], types[c]) for c in range(len(fields))))
    header = ["%s:%s" % (f["name"], f["type"]) for f in fields]
    return header, sorted(rows)


def refusal(protocol):
    """The words a reader's refusal must name, or None when the table is readable."""
    r = protocol["minReaderVersion"]
    unknown = [f for f in (protocol.get("readerFeatures") or []) if f not in KNOWN_READER_FEATURES]
    if r > 3:
        return ["reader version %d" % r] + unknown
    if r == 3 and unknown:
        return unknown
    return None


# --- vendored expectations (self-check of this reader) --------------------------------------------


def vendored_rows(files, header):
    types = [h.split(":", 1)[1] for h in header]
    names = [h.split(":", 1)[0] for h in header]
    rows = []
    for f in files:
        t = pq.read_table(f)
        cols = [column_values(t.column(n).combine_chunks(), ty) for n, ty in zip(names, types)]
        for r in range(t.num_rows):
            rows.append(tuple(render(cols[c][r], types[c]) for c in range(len(names))))
    return sorted(rows)


def vendored_versions(group, table_dir):
    """version -> list of expected Parquet files given by the conformance data."""
    out = {}
    case = os.path.dirname(table_dir)
    if group == "dat":
        for d in glob.glob(os.path.join(case, "expected", "*")):
            meta = json.load(open(os.path.join(d, "table_version_metadata.json")))
            out[int(meta["version"])] = sorted(glob.glob(os.path.join(d, "*.parquet")))
    elif group == "golden" and os.path.isdir(os.path.join(case, "expected")):
        out["latest"] = sorted(glob.glob(os.path.join(case, "expected", "*.parquet")))
    return out


# --- main --------------------------------------------------------------------------------------


def tables():
    for group in ("dat", "golden"):
        for case in sorted(os.listdir(os.path.join(SRC, group))):
            yield group, case, os.path.join(SRC, group, case, "delta")
    for group in ("kernel-data", "delta-rs"):
        for case in sorted(os.listdir(os.path.join(SRC, group))):
            yield group, case, os.path.join(SRC, group, case)


def proto_key(p):
    return (p["minReaderVersion"], p["minWriterVersion"], sorted(p.get("readerFeatures") or []),
            sorted(p.get("writerFeatures") or []))


def has_data_files(state):
    """Whether every live file's data file exists (true for an empty table)."""
    return all(os.path.isfile(k) for k in state.adds)


def derive(group, case, root):
    log = os.path.join(root, "_delta_log")
    versions = commit_versions(log)
    assert versions == list(range(len(versions))), (case, "commits not contiguous from 0")
    cps = checkpoint_files(log)
    vendored = vendored_versions(group, root)
    if "latest" in vendored:
        vendored[versions[-1]] = vendored.pop("latest")
    out_dir = os.path.join(OUT, group, case)
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(out_dir, "v*.csv")):
        os.remove(old)
    state = State(root)
    entries = []
    for v in versions:
        state.apply(read_actions(os.path.join(log, "%020d.json" % v)))
        # Cross-check: every checkpoint at v, plus no commits, gives the same state.
        for cv, files in cps:
            if cv == v:
                cs = State(root)
                cs.apply(checkpoint_actions(log, files))
                assert cs.live() == state.live(), (case, v, "checkpoint disagrees with commits")
                assert cs.txns == state.txns, (case, v, "checkpoint txns disagree")
                assert proto_key(cs.protocol) == proto_key(state.protocol), (case, v, "checkpoint protocol")
                assert cs.metadata["schemaString"] == state.metadata["schemaString"], (case, v, "checkpoint schema")
        entry = {
            "version": v,
            "minReaderVersion": state.protocol["minReaderVersion"],
            "minWriterVersion": state.protocol["minWriterVersion"],
            "files": sorted(os.path.relpath(k, root) if k.startswith(root + os.sep) else k for k in state.adds),
        }
        if state.txns:
            entry["appTransactions"] = dict(sorted(state.txns.items()))
        ref = refusal(state.protocol)
        if ref:
            entry["refuse"] = ref
            entries.append(entry)
            continue
        if has_data_files(state):
            schema_fields = json.loads(state.metadata["schemaString"])["fields"]
            if all(is_primitive(f["type"]) for f in schema_fields):
                header, rows = snapshot_rows(state)
                if v in vendored:
                    want = vendored_rows(vendored[v], header)
                    assert want == rows, (case, v, "derived rows differ from the vendored expected rows",
                                          sorted(set(want) ^ set(rows))[:5])
                    entry["rows"] = "vendored"
                else:
                    name = "v%d.csv" % v
                    with open(os.path.join(out_dir, name), "w", newline="", encoding="utf-8") as f:
                        w = csv.writer(f, lineterminator="\n")
                        w.writerow(header)
                        w.writerows(rows)
                    entry["rows"] = name
                entry["numRows"] = len(rows)
            elif v in vendored:
                entry["rows"] = "vendored"
            else:
                entry["rows"] = None  # nested types: not derived here
                print("note: %s/%s v%d has nested columns and no vendored rows" % (group, case, v))
        else:
            entry["rows"] = None  # the data files are gone: log-only table, or vacuumed version
        missing = sorted(os.path.relpath(k, root) if k.startswith(root + os.sep) else k
                         for k in state.adds if not os.path.isfile(k))
        if missing:
            entry["missingFiles"] = missing
        entries.append(entry)
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"table": "%s/%s" % (group, case), "versions": entries}, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    only = sys.argv[1:]
    for group, case, root in tables():
        if only and "%s/%s" % (group, case) not in only:
            continue
        derive(group, case, root)
        print("derived %s/%s" % (group, case))


if __name__ == "__main__":
    main()
