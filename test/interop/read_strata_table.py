"""Reads every version of a Strata-written Delta table with delta-rs and with DuckDB.

Usage: read_strata_table.py TABLE VACUUMED OUT

TABLE is the table before VACUUM (a copy the Go test made), VACUUMED the same table after it. For
each version N of TABLE this writes OUT/vN.deltars.parquet (DeltaTable(TABLE, version=N)
.to_pyarrow_table()) and OUT/vN.duckdb.parquet (DuckDB over exactly the files delta-rs reports,
see interop_common.duckdb_read), and OUT/latest.deltars.parquet (the table loaded without a
version, through its checkpoint). It reads every version of VACUUMED the same way
(OUT/vacN.*.parquet); there, versions that need a deleted file must fail. OUT/report.json holds
delta-rs's facts about every version, each read's row count or error, and any data file whose
statistics (as delta-rs parses them) contradict its data.
"""

import sys

from interop_common import report_table, write_json


def main():
    table, vacuumed, out = sys.argv[1:4]
    write_json(report_table(table, vacuumed, out, ("deltars", "duckdb"), check_stats=True), f"{out}/report.json")


if __name__ == "__main__":
    main()
