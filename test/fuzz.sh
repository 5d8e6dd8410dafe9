#!/usr/bin/env bash
# Runs every Go fuzz target of Strata for FUZZTIME each (default 10s), one after the other, and
# prints one summary line per target (executions, new corpus entries, result). A failing input is
# written by Go under the package's testdata/fuzz/<Target>/ and the script exits non-zero.
# Go before 1.27 can end a target that found nothing with a bare "context deadline exceeded" at
# the -fuzztime boundary (a race in its fuzz coordinator, go.dev/issue/75804); such a run wrote
# no failing input and is reported as "ok (go#75804)" rather than failed.
#   FUZZTIME=10m test/fuzz.sh           # the long run of docs/reliability.md
#   FUZZPARALLEL=1 test/fuzz.sh         # workers per target (default: GOMAXPROCS)
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10s}
export GOFLAGS="${GOFLAGS:--tags=duckdb_arrow}" # DuckDB's Arrow interface (internal/engine)
PARALLEL=${FUZZPARALLEL:+-parallel=$FUZZPARALLEL}
targets=(
	internal/delta:FuzzCommitJSON
	internal/delta:FuzzCheckpoint
	internal/delta:FuzzDecodeDeletionVector
	internal/delta:FuzzDecodeStoredDV
	internal/delta:FuzzZ85Decode
	internal/log/embedded:FuzzBatchDecode
	internal/log/embedded:FuzzRecoverTail
	internal/log/httpingest:FuzzRequest
	internal/ingest:FuzzNDJSON
	internal/ingest:FuzzCSV
	internal/pipeline:FuzzParseFile
)
# go_stop_race LOG: the run failed only with Go's coordinator stop race: its one failure message
# is "context deadline exceeded", and no failing input was written or panic printed.
go_stop_race() {
	grep -qE '^\s+context deadline exceeded$' "$1" &&
		! grep -qE 'Failing input written|panic:|^\s+\w+_test\.go:[0-9]+:' "$1"
}
logdir=$(mktemp -d)
failed=0
summary=()
for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t##*:}
	echo "fuzz: $pkg $name for $FUZZTIME" >&2
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" $PARALLEL "./$pkg" >"$logdir/$name.log" 2>&1; then
		result=ok
	elif go_stop_race "$logdir/$name.log"; then
		result="ok (go#75804)"
	else
		result=FAIL failed=1
		cat "$logdir/$name.log" >&2
	fi
	last=$(grep -E '^fuzz: elapsed' "$logdir/$name.log" | tail -1)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	interesting=$(sed -nE 's/.*total: ([0-9]+)\).*/\1/p' <<<"$last")
	summary+=("$(printf '%-26s %-26s %12s execs %6s corpus  %s' "$pkg" "$name" "${execs:-?}" "${interesting:-?}" "$result")")
done
printf '%s\n' "${summary[@]}"
rm -rf "$logdir"
exit $failed
