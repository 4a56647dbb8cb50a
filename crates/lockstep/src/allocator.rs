//! The process's memory allocator: mimalloc, for every binary that links
//! Lockstep (the server, the benchmark, the tests).
//!
//! Why: a record write allocates and frees many small values (parsed JSON,
//! field diffs, planned states, encoded statement parameters). With the
//! system allocator, `malloc` and `free` took about 40% of the Lockstep
//! process's CPU time in the batch benchmark (`perf`, PostgreSQL backend),
//! and on two cores shared with the database every cycle the process spends
//! is one the database does not get. BENCHMARKS.md has the numbers.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
