//! Test-side harness for Lockstep's black-box tests: real peers on 127.0.0.1.
//!
//! Owns the helpers every integration test file shares (include with `mod support;`):
//! - [`peers`]: the Python peers' venv ([`venv_bin`]), free ports ([`free_port`]), and
//!   [`ScimServer`], a real `scim2-server` started per test and killed by PID on drop.
//! - [`fault_peer`]: misbehaving third parties in process ([`fault_peer::FaultPeer`]) and a
//!   listener that counts connections ([`fault_peer::ConnectionCounter`]).
//! - [`lockstep_bin`]: the `lockstep` binary as a peer: `lockstep serve` and `lockstep sandbox`.
//! - [`postgres`]: a fresh database per test in the throwaway cluster `scripts/test`
//!   starts ([`fresh_postgres_url`]), and [`Backend`] + [`both_backends!`] to run one
//!   scenario on SQLite and on PostgreSQL.
//! - [`proxy`]: a fault-injection proxy in front of a real peer.
//! - [`smtp`]: [`smtp::SmtpSink`], a real SMTP server (`aiosmtpd`) that keeps
//!   every mail, and [`smtp::Mail`] to read one back.
//! - [`console`]: [`console::ConsoleClient`], a console session over plain HTTP
//!   (sign-in link, cookie, CSRF token), for tests that need no browser.
//! - [`browser`]: [`browser::run_scenario`], a console scenario in Chromium
//!   (`tests/browser/scenarios/`, playwright-core and axe-core from npm).
//!
//! Env it relies on (exported by `scripts/test`): `LOCKSTEP_TEST_VENV`,
//! `LOCKSTEP_TEST_POSTGRES_URL`, `LOCKSTEP_TEST_PSQL`, `LOCKSTEP_TEST_BROWSER_DIR`.
#![allow(dead_code, unused_imports)]

pub mod api;
pub mod app;
pub mod browser;
pub mod console;
pub mod fault_peer;
pub mod lockstep_bin;
pub mod peers;
pub mod postgres;
pub mod proxy;
pub mod smtp;

pub use peers::{free_port, venv_bin, ScimServer};
pub use postgres::{fresh_postgres_url, psql, Backend};

/// Given `async fn NAME(backend: Backend)`, generates a module `NAME` holding two
/// tokio tests, `NAME::sqlite` and `NAME::postgres`, each calling it with its store,
/// so every scenario runs on both backends. (A module and not `NAME_sqlite`: macro_rules
/// cannot paste identifiers.) Filter with `scripts/test -E 'test(/::postgres$/)'`.
///
/// The test file must declare `mod support;` at its crate root.
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    };
}
