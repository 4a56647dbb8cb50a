//! A real browser for the console's tests: [`run_scenario`] runs one scenario
//! of `crates/lockstep/tests/browser/scenarios/` (Node.js driving Debian's
//! Chromium through playwright-core; see `lib.mjs` there) and fails the test
//! with everything the scenario printed when it fails.
//!
//! `scripts/test` installs Chromium and the scenarios' `node_modules`, and
//! exports `LOCKSTEP_TEST_BROWSER_DIR`. Without them a browser test panics
//! saying so: a test that cannot run its browser must fail, never skip.
//! Screenshots go to `<workspace>/target/console-screenshots/`.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Chromium the scenarios drive (Debian's package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest one scenario may run; then its node process is killed by pid.
/// (`lib.mjs` gives up by itself at 100 s, closing Chromium on the way out.)
const SCENARIO_DEADLINE: Duration = Duration::from_secs(120);

/// `crates/lockstep/tests/browser`, as `scripts/test` exported it, once it
/// holds `node_modules` and Chromium is installed. Panics otherwise.
pub fn browser_dir() -> PathBuf {
    const HOW: &str = "run scripts/test (LOCKSTEP_TEST_SETUP_ONLY=1 bash scripts/test installs Chromium and \
                       crates/lockstep/tests/browser/node_modules, and exports LOCKSTEP_TEST_BROWSER_DIR)";
    let dir = match std::env::var_os("LOCKSTEP_TEST_BROWSER_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!("LOCKSTEP_TEST_BROWSER_DIR is not set: {HOW}"),
    };
    let playwright = dir.join("node_modules/playwright-core/package.json");
    assert!(playwright.is_file(), "{} is missing: {HOW}", playwright.display());
    assert!(Path::new(CHROMIUM).is_file(), "{CHROMIUM} is missing: {HOW}");
    dir
}

/// Where scenarios save their screenshots (created if missing).
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Runs `node scenarios/<name>.mjs` with `env` set (plus
/// `LOCKSTEP_SCREENSHOT_DIR`) and waits for it, at most 120 s. Panics with
/// the scenario's whole output (stdout and stderr, in order) when it exits
/// non-zero or runs out of time. Blocks the calling thread.
pub fn run_scenario(name: &str, env: &[(&str, String)]) {
    let dir = browser_dir();
    let script = dir.join("scenarios").join(format!("{name}.mjs"));
    assert!(script.is_file(), "no scenario {}", script.display());

    // One file for both streams keeps the log's order: a step's start, then its error.
    let mut output = tempfile::tempfile().expect("temp file for the scenario's output");
    let mut command = Command::new("node");
    command
        .arg(&script)
        .current_dir(&dir)
        .env("LOCKSTEP_SCREENSHOT_DIR", screenshot_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::from(output.try_clone().expect("clone the output file")))
        .stderr(Stdio::from(output.try_clone().expect("clone the output file")));
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child =
        command.spawn().unwrap_or_else(|e| panic!("spawn node for scenario {name}: {e} (is Node.js 20 on PATH?)"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait on node") {
            break Some(status);
        }
        if started.elapsed() > SCENARIO_DEADLINE {
            // SIGKILL to the node process's pid; Chromium, on the other end of
            // its DevTools pipe, exits when the pipe closes.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        // Bounded polling of a separate process.
        std::thread::sleep(Duration::from_millis(100));
    };

    let mut log = String::new();
    let _ = output.seek(SeekFrom::Start(0));
    let _ = output.read_to_string(&mut log);
    match status {
        Some(status) if status.success() => println!("--- scenario {name} ---\n{log}"),
        Some(status) => panic!("browser scenario {name} failed ({status}):\n{log}"),
        None => panic!("browser scenario {name} did not finish in {SCENARIO_DEADLINE:?}; killed it:\n{log}"),
    }
}
