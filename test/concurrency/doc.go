// Package concurrency holds Strata's multi-process tests of the Delta writer (internal/table and
// the kernel's commit protocol): several processes committing to one table at once, and writers
// killed at random moments. The package has no API. Its tests re-execute the test binary as worker
// processes, switched by the STRATA_CONCURRENCY_ROLE environment variable (main_test.go); every
// worker appends one JSON line per operation to its own record file, and the parent then checks
// the table against the records and against the log, which it parses and replays itself
// (history_test.go) rather than trusting the kernel's replay.
//
// What the tests prove about the table they leave behind:
//
//   - the log's versions are contiguous from 0, every commit file is whole, and every commit is an
//     operation some worker attempted, exactly once; every operation a worker saw succeed is in
//     the log at the version it was told, and no operation that saw a conflict is;
//   - every version loads, with the live files its commits say, and its rows are the workers'
//     operations replayed in log order under WriteSerializable semantics; every file the latest
//     version references exists; every checkpoint holds exactly the live files of its version;
//   - every reported conflict names the first commit after the operation's read version that
//     conflicts under Delta's rules (rules_test.go), with a kind the rules give; no committed
//     overwrite or restore had a conflicting commit between its read version and its own; blind
//     appends all land;
//   - after SIGKILL at any moment, all of the above still holds, and _last_checkpoint describes a
//     checkpoint that exists or is ignored;
//   - readers load the latest snapshot without error while writers commit.
//
// Tests: TestConcurrentWritersLocal and TestConcurrentWritersS3 (6 writers, 15 operations each:
// blind appends, partition overwrites, restores); TestCrash, TestCrashFaulty (ambiguous writes and
// transient failures injected with storage.Faulty) and TestCrashS3; TestReadersDuringCommits and
// TestReadersDuringCommitsS3 (snapshot loads of a table with a long log while 3 writers append);
// TestSustainedBlindAppends (60 s of blind appends from 6 writers; slow, and skipped unless
// STRATA_CONCURRENCY_SUSTAINED=1).
//
// Environment: STRATA_CONCURRENCY_SEED fixes the seed (every test prints the one it used; a run is
// deterministic given the seed except for timing); STRATA_CRASH_ITERATIONS sets the number of
// kills of the crash tests (default 40, 20 for S3).
package concurrency
