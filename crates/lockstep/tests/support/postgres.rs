//! The store backends a scenario runs on: a fresh PostgreSQL database per test, created
//! in the throwaway cluster `scripts/test` starts (`LOCKSTEP_TEST_POSTGRES_URL`) through
//! `psql`, and a SQLite file in the test's temp dir.

use std::path::Path;
use std::process::Stdio;

use super::peers::random_hex;

/// Which store a scenario runs on. See [`crate::both_backends!`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A database URL for a new, empty store: `sqlite://<dir>/lockstep.db`, or a fresh
    /// PostgreSQL database (see [`fresh_postgres_url`]).
    pub async fn database_url(self, dir: &Path) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", dir.join("lockstep.db").display()),
            Backend::Postgres => fresh_postgres_url().await,
        }
    }
}

/// `LOCKSTEP_TEST_POSTGRES_URL`: the cluster's maintenance database. Panics if unset.
pub fn cluster_url() -> String {
    match std::env::var("LOCKSTEP_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "set LOCKSTEP_TEST_POSTGRES_URL or run scripts/test \
             (it starts a throwaway PostgreSQL 15 cluster and exports it)"
        ),
    }
}

/// The `psql` binary: `LOCKSTEP_TEST_PSQL`, else PostgreSQL 15's, else `psql` on PATH.
pub fn psql_bin() -> String {
    if let Ok(bin) = std::env::var("LOCKSTEP_TEST_PSQL") {
        if !bin.is_empty() {
            return bin;
        }
    }
    let pg15 = "/usr/lib/postgresql/15/bin/psql";
    if Path::new(pg15).exists() {
        pg15.to_string()
    } else {
        "psql".to_string()
    }
}

/// Runs one SQL command with `psql` against `url`; returns its unaligned, tuples-only
/// output (trimmed). Panics with psql's stderr on failure.
pub async fn psql(url: &str, sql: &str) -> String {
    let output = tokio::process::Command::new(psql_bin())
        .arg("--no-psqlrc")
        .arg("--quiet")
        .arg("--tuples-only")
        .arg("--no-align")
        .arg("--set=ON_ERROR_STOP=1")
        .arg(format!("--dbname={url}"))
        .arg(format!("--command={sql}"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("spawn {}: {e}", psql_bin()));
    assert!(
        output.status.success(),
        "psql {sql:?} on {url} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Creates a new empty database `lockstep_test_<random hex>` in the test cluster and
/// returns its URL. Databases are never dropped: the cluster is thrown away whole.
pub async fn fresh_postgres_url() -> String {
    let cluster = cluster_url();
    let name = format!("lockstep_test_{}", random_hex(8));
    psql(&cluster, &format!("CREATE DATABASE \"{name}\"")).await;
    let mut url = url::Url::parse(&cluster)
        .unwrap_or_else(|e| panic!("LOCKSTEP_TEST_POSTGRES_URL {cluster:?} is not a URL: {e}"));
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A transaction held open by a `psql` process: fault injection beside the
/// real store, to make Lockstep's writes wait at a known point.
pub struct HeldTransaction {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    // Kept open: psql dies of SIGPIPE when it writes to a closed stdout.
    stdout: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl HeldTransaction {
    /// Opens a transaction on `url`, runs `sql` in it (a `LOCK TABLE …`, say)
    /// and returns once psql reported it done, with the transaction open.
    pub async fn begin(url: &str, sql: &str) -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut child = tokio::process::Command::new(psql_bin())
            .arg("--no-psqlrc")
            .arg("--set=ON_ERROR_STOP=1")
            .arg(format!("--dbname={url}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", psql_bin()));
        let mut stdin = child.stdin.take().expect("psql's stdin");
        stdin.write_all(format!("BEGIN;\n{sql};\n\\echo held\n").as_bytes()).await.expect("write to psql");
        stdin.flush().await.expect("flush to psql");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("psql's stdout")).lines();
        loop {
            match lines.next_line().await.expect("read psql's output") {
                Some(line) if line.trim() == "held" => break,
                Some(_) => continue,
                None => panic!("psql exited before {sql:?} took effect"),
            }
        }
        Self { child, stdin, stdout: lines }
    }

    /// Commits the transaction and waits for psql to exit.
    pub async fn commit(mut self) {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(b"COMMIT;\n").await.expect("write to psql");
        drop(self.stdin);
        while self.stdout.next_line().await.expect("read psql's output").is_some() {}
        let status = self.child.wait().await.expect("psql exits");
        assert!(status.success(), "psql failed: {status}");
    }
}
