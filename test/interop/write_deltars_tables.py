"""Writes Delta tables with delta-rs (the `deltalake` package) for Strata to read.

Usage: write_deltars_tables.py OUT

For each table NAME below this builds OUT/NAME/table with write_deltalake and DeltaTable's
operations (append, overwrite, predicate overwrite, schema evolution, delete, update, merge,
restore, optimize, checkpoints), copies it to OUT/NAME/before-vacuum, vacuums OUT/NAME/table
with zero retention, then reads every version of both with delta-rs itself
(interop_common.report_table): OUT/NAME/python/{vN,vacN,latest}.deltars.parquet and
OUT/NAME/python/report.json, which also lists the files VACUUM deleted and each version's
operation. It prints the table names, one a line.
"""

import datetime
import decimal
import os
import shutil
import sys

from interop_common import deltalake, pa, report_table, write_json

from deltalake import DeltaTable, write_deltalake

UTC = datetime.timezone.utc

NESTED = pa.struct([
    ("a", pa.int32()),
    ("b", pa.string()),
    ("inner", pa.struct([("x", pa.float64()), ("tags", pa.list_(pa.string()))])),
])

RICH_SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    ("i32", pa.int32()),
    ("i16", pa.int16()),
    ("i8", pa.int8()),
    ("f32", pa.float32()),
    ("f64", pa.float64()),
    ("dec", pa.decimal128(12, 3)),
    ("s", pa.string()),
    ("bin", pa.binary()),
    ("b", pa.bool_()),
    ("d", pa.date32()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("ts_ntz", pa.timestamp("us")),
    ("st", NESTED),
    ("lst", pa.list_(pa.int64())),
    ("lst_st", pa.list_(pa.struct([("k", pa.string()), ("v", pa.int32())]))),
    ("mp", pa.map_(pa.string(), pa.int64())),
])


def rich_rows(ids, tag):
    """Rows of RICH_SCHEMA: every type, with nulls and edge values, deterministic in ids."""
    rows = []
    for n, i in enumerate(ids):
        null = i % 5 == 4  # every fifth row has nulls in most columns
        rows.append({
            "id": i,
            "i32": None if null else (2**31 - 1 if i % 2 else -(2**31)) // (i + 1),
            "i16": None if null else (i * 1000) % 32767 - 16000,
            "i8": None if null else (i % 256) - 128,
            "f32": None if null else [0.5, -1.25, 3.0e38, 1e-40][i % 4],
            "f64": None if null else [float("nan"), -0.0, 1e300, 0.1, float("-inf")][i % 5],
            "dec": None if null else decimal.Decimal(f"{i * 12345}.{i % 1000:03d}").copy_negate() if i % 2 else decimal.Decimal(f"{i}.5"),
            "s": None if null else f"{tag} #{i} ünïcödé 🚀 \"q\" \n",
            "bin": None if null else bytes([0, i % 256, 255, 10]) + tag.encode(),
            "b": None if null else i % 2 == 0,
            "d": None if null else datetime.date(1900 + (i * 7) % 200, 1 + i % 12, 1 + i % 28),
            "ts": None if null else datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) + datetime.timedelta(days=i * 400, microseconds=i),
            "ts_ntz": None if null else datetime.datetime(2024, 2, 29, 12, 0, 0) + datetime.timedelta(hours=i, microseconds=7 * i),
            "st": None if i % 7 == 6 else {"a": None if null else i, "b": f"{tag}{i}", "inner": {"x": i / 4, "tags": [] if null else [f"t{i}", None, "x"]}},
            "lst": None if null else [i, -i, 2**62] if i % 3 else [],
            "lst_st": None if null else [{"k": f"k{i}", "v": i}, {"k": None, "v": None}],
            "mp": None if null else [("one", 1), (f"key {i}", i), ("null", None)],
        })
    return pa.Table.from_pylist(rows, schema=RICH_SCHEMA)


def build_rich(path):
    """An unpartitioned table of every type delta-rs writes, through every operation."""
    write_deltalake(path, rich_rows(range(0, 6), "create"), name="rich", description="delta-rs interop")
    write_deltalake(path, rich_rows(range(6, 12), "append"), mode="append")
    write_deltalake(path, rich_rows(range(100, 104), "predicate"), mode="overwrite", predicate="id >= 100")
    dt = DeltaTable(path)
    dt.delete("id = 2 OR id = 7")
    dt.update(updates={"s": "'updated'", "f64": "f64 * 2"}, predicate="id = 3")
    src = rich_rows([3, 9, 200, 201], "merge")
    (dt.merge(src, predicate="t.id = s.id", source_alias="s", target_alias="t")
       .when_matched_update_all().when_not_matched_insert_all().execute())
    extra = rich_rows([300, 301], "evolve").append_column("extra", pa.array(["new column", None], pa.string()))
    write_deltalake(path, extra, mode="append", schema_mode="merge")
    DeltaTable(path).optimize.compact()
    DeltaTable(path).create_checkpoint()
    DeltaTable(path).restore(4)
    write_deltalake(path, rich_rows([400, 401, 402], "after restore"), mode="append")


PART_SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    ("s", pa.string()),
    ("v", pa.float64()),
    ("region", pa.string()),
    ("day", pa.date32()),
])

REGIONS = ["a b", "a/b=c%d", None, "ü 50%", "x:y", "%", " lead and trail ", "we*ird[1]?#", "Ünïcödé €"]


def part_rows(ids, tag, region=None, day=None):
    rows = []
    for i in ids:
        rows.append({
            "id": i, "s": f"{tag} {i}", "v": None if i % 4 == 3 else i + 0.25,
            "region": region if region is not None else REGIONS[i % len(REGIONS)],
            "day": day if day is not None else (None if i % 3 == 2 else datetime.date(2024, 1, 1 + i % 5)),
        })
    return pa.Table.from_pylist(rows, schema=PART_SCHEMA)


def build_partitioned(path):
    """A table partitioned by a string (special characters, nulls) and a date, with change data
    feed on (update/delete/merge write _change_data files Strata must ignore) and a checkpoint
    every 4 commits."""
    config = {"delta.enableChangeDataFeed": "true", "delta.checkpointInterval": "4"}
    write_deltalake(path, part_rows(range(0, 12), "create"), partition_by=["region", "day"], configuration=config)
    write_deltalake(path, part_rows(range(12, 20), "append"), mode="append")
    write_deltalake(path, part_rows(range(20, 23), "replace", region="a b", day=datetime.date(2024, 1, 2)),
                    mode="overwrite", predicate="region = 'a b'")
    dt = DeltaTable(path)
    dt.delete("region = 'x:y'")
    dt.delete("s = 'append 13'")
    dt.update(updates={"s": "'was null region'"}, predicate="region IS NULL")
    src = part_rows([1, 2, 50], "merge")
    (dt.merge(src, predicate="t.id = s.id", source_alias="s", target_alias="t")
       .when_matched_update_all().when_not_matched_insert_all().execute())
    extra = part_rows([60, 61], "evolve").append_column("tag", pa.array([7, None], pa.int32()))
    write_deltalake(path, extra, mode="append", schema_mode="merge")
    DeltaTable(path).optimize.compact()
    write_deltalake(path, part_rows(range(70, 74), "overwrite").append_column("tag", pa.array([1, 2, None, 4], pa.int32())),
                    mode="overwrite")
    write_deltalake(path, part_rows([80], "last").append_column("tag", pa.array([None], pa.int32())), mode="append")


TYPED_SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    ("p_int", pa.int32()),
    ("p_long", pa.int64()),
    ("p_bool", pa.bool_()),
    ("p_dec", pa.decimal128(5, 2)),
    ("p_ts", pa.timestamp("us", tz="UTC")),
    ("p_ntz", pa.timestamp("us")),
    ("p_double", pa.float64()),
])


def build_partition_types(path):
    """A table partitioned by one column of each primitive type delta-rs can partition by, so
    that Strata parses delta-rs's partition value serialization of each; then altered (a CHECK
    constraint, an added column) and appended to with schema_mode="merge"."""
    rows = [
        {"id": 1, "p_int": -5, "p_long": 2**40, "p_bool": True, "p_dec": decimal.Decimal("1.50"),
         "p_ts": datetime.datetime(2024, 1, 1, 12, 30, 0, 123456, tzinfo=UTC), "p_ntz": datetime.datetime(2024, 1, 1, 0, 0), "p_double": 1.5},
        {"id": 2, "p_int": None, "p_long": None, "p_bool": None, "p_dec": None, "p_ts": None, "p_ntz": None, "p_double": None},
        {"id": 3, "p_int": 0, "p_long": -1, "p_bool": False, "p_dec": decimal.Decimal("999.99"),
         "p_ts": datetime.datetime(1960, 6, 1, tzinfo=UTC), "p_ntz": datetime.datetime(1999, 12, 31, 23, 59, 59, 1), "p_double": -0.5},
    ]
    parts = ["p_int", "p_long", "p_bool", "p_dec", "p_ts", "p_ntz", "p_double"]
    write_deltalake(path, pa.Table.from_pylist(rows, schema=TYPED_SCHEMA), partition_by=parts)
    write_deltalake(path, pa.Table.from_pylist(rows[:1], schema=TYPED_SCHEMA), mode="append")
    DeltaTable(path).create_checkpoint()
    DeltaTable(path).delete("p_int IS NULL")
    dt = DeltaTable(path)
    dt.alter.add_constraint({"id_positive": "id > 0"})
    dt.alter.add_columns([deltalake.Field("added", "string", nullable=True)])
    write_deltalake(path, pa.Table.from_pylist([{"id": 9, "p_int": 9, "added": "after alter"}]), mode="append", schema_mode="merge")


def build_unsupported_feature(path):
    """delta-rs 1.6.6's alter.set_table_properties upgrades the protocol with reader feature
    variantType (though no column is a variant), which Strata does not implement: the versions
    before it must read, the later ones must be refused naming the feature."""
    write_deltalake(path, pa.Table.from_pylist([{"id": 1, "s": "a"}, {"id": 2, "s": None}]))
    write_deltalake(path, pa.Table.from_pylist([{"id": 3, "s": "b"}]), mode="overwrite")
    DeltaTable(path).alter.set_table_properties({"delta.logRetentionDuration": "interval 60 days"})
    write_deltalake(path, pa.Table.from_pylist([{"id": 4, "s": "c"}]), mode="append")


TABLES = {
    "rich": build_rich,
    "partitioned": build_partitioned,
    "partition_types": build_partition_types,
    "unsupported_reader_feature": build_unsupported_feature,
}


def main():
    out = sys.argv[1]
    for name, build in TABLES.items():
        base = os.path.join(out, name)
        table, before, py = (os.path.join(base, d) for d in ("table", "before-vacuum", "python"))
        os.makedirs(py)
        build(table)
        shutil.copytree(table, before)
        deleted = DeltaTable(table).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        report = report_table(before, table, py, ("deltars",))
        report["vacuumedFiles"] = sorted(deleted)
        report["operations"] = {str(h["version"]): h.get("operation", "?") for h in DeltaTable(table).history()}
        write_json(report, os.path.join(py, "report.json"))
        print(name)


if __name__ == "__main__":
    main()
