// Package concurrency holds Strata's multi-process tests of the Delta writer: several processes
// committing to one table at once (TestConcurrentWriters*), and a writer killed at random moments
// (TestCrash*). The package has no API; its tests re-execute the test binary as worker processes,
// switched by the STRATA_CONCURRENCY_ROLE environment variable (see main_test.go).
//
// What the tests prove, in terms of the Delta log they leave behind:
//
//   - the log's versions are contiguous from 0, and every commit is one operation a worker
//     attempted, exactly once; every operation a worker saw succeed is in the log at the version it
//     was told;
//   - every data file the log references exists, and the table's content at every version equals
//     the workers' operations replayed in log order under WriteSerializable semantics;
//   - every conflict reported was a conflict under Delta's rules, every commit that landed had no
//     conflicting commit between its read version and its own, and blind appends always land;
//   - after SIGKILL at any moment the table reads at its latest version and every earlier one, no
//     commit file is truncated, no commit is half visible, and checkpoints agree with the commits.
//
// Environment: STRATA_CONCURRENCY_SEED fixes the seed (printed by every test);
// STRATA_CRASH_ITERATIONS sets the number of kills of the crash tests (default 40).
package concurrency
