//! The `lockstep` binary as a separate process, for benchmarks that measure
//! one part alone: `lockstep serve` and `lockstep sandbox` on free ports of
//! 127.0.0.1, their output in a log file, their memory and CPU read from
//! `/proc/<pid>` (Linux), and each stopped by its process id (SIGTERM, then
//! SIGKILL) when asked or dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a process gets to answer after it was spawned.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a stopped process gets to exit before it is killed.
const SHUTDOWN: Duration = Duration::from_secs(30);

/// The `lockstep` binaries to run: the one cargo built beside this
/// benchmark (release, with `cargo bench`), or those `BENCH_LOCKSTEP_BIN`
/// lists, comma-separated (to compare older builds against this one,
/// alternating, in one session on one seeded store).
pub fn lockstep_bins() -> Vec<String> {
    match std::env::var("BENCH_LOCKSTEP_BIN") {
        Ok(list) if !list.trim().is_empty() => list.split(',').map(|bin| bin.trim().to_owned()).collect(),
        _ => vec![env!("CARGO_BIN_EXE_lockstep").to_owned()],
    }
}

/// The first of [`lockstep_bins`]: the one that seeds and serves the sandbox.
pub fn lockstep_bin() -> String {
    lockstep_bins().swap_remove(0)
}

/// A free port on 127.0.0.1 (free when asked; a process that loses the race
/// fails to bind and is started again on another).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A running child process.
pub struct Process {
    pub name: &'static str,
    pub base_url: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Spawns `command(port)` (which makes it listen on the port), its
    /// stdout and stderr appended to `log`, and waits until `probe` (a path)
    /// answers 200 with `token`; retries on another port when it exits early.
    pub async fn start(
        name: &'static str,
        log: &Path,
        http: &reqwest::Client,
        token: &str,
        probe: &str,
        command: impl Fn(u16) -> Command,
    ) -> anyhow::Result<Process> {
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = free_port();
            let mut command = command(port);
            let out = File::options().create(true).append(true).open(log)?;
            let from = out.metadata()?.len() as usize;
            command.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
            let child = command.spawn()?;
            let mut process =
                Process { name, base_url: format!("http://127.0.0.1:{port}"), child, log: log.to_owned() };
            let started = Instant::now();
            loop {
                if let Some(status) = process.child.try_wait()? {
                    failures.push(format!("port {port}: exited with {status}: {}", process.log_from(from)));
                    break;
                }
                let answer = http.get(format!("{}{probe}", process.base_url)).bearer_auth(token).send().await;
                if answer.is_ok_and(|a| a.status().is_success()) {
                    return Ok(process);
                }
                anyhow::ensure!(started.elapsed() < STARTUP, "{name} did not answer {probe} within {STARTUP:?}");
                // Bounded polling while the process starts and binds.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        anyhow::bail!("{name} did not start:\n{}", failures.join("\n"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident set (`VmHWM`) and its resident set now
    /// (`VmRSS`), in bytes.
    pub fn memory(&self) -> anyhow::Result<(u64, u64)> {
        let [peak, now] = self.status_kib(["VmHWM:", "VmRSS:"])?;
        Ok((peak, now))
    }

    /// What the resident set is now: anonymous memory (the heap: caches,
    /// buffers) and mapped files, in bytes.
    pub fn resident(&self) -> anyhow::Result<(u64, u64)> {
        let [anonymous, files] = self.status_kib(["RssAnon:", "RssFile:"])?;
        Ok((anonymous, files))
    }

    /// Fields of `/proc/<pid>/status` given in kB, in bytes.
    fn status_kib<const N: usize>(&self, names: [&str; N]) -> anyhow::Result<[u64; N]> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .ok_or_else(|| anyhow::anyhow!("no {name} in /proc/{}/status", self.pid()))?;
            let kib: u64 = line.trim().trim_end_matches("kB").trim().parse()?;
            Ok(kib * 1024)
        };
        let mut values = [0; N];
        for (value, name) in values.iter_mut().zip(names) {
            *value = field(name)?;
        }
        Ok(values)
    }

    /// CPU seconds the process has used so far (user + system, all threads).
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        let (_, rest) = stat.rsplit_once(") ").ok_or_else(|| anyhow::anyhow!("unreadable /proc/…/stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state); utime and stime are fields 14 and 15,
        // in clock ticks of 1/100 s (USER_HZ).
        let ticks: u64 =
            fields.get(11).unwrap_or(&"0").parse::<u64>()? + fields.get(12).unwrap_or(&"0").parse::<u64>()?;
        Ok(ticks as f64 / 100.0)
    }

    /// What the process logged from byte `from` on (its first 3,000 bytes).
    fn log_from(&self, from: usize) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let text = text.get(from..).unwrap_or_default();
        String::from_utf8_lossy(&text[..text.len().min(3_000)]).into_owned()
    }

    /// Stops the process by its id: SIGTERM (it drains and exits), then
    /// SIGKILL if it has not exited in time.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.terminate().await
    }

    async fn terminate(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < SHUTDOWN {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            // Bounded wait for the process to drain and exit.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child.kill()?;
        self.child.wait()?;
        anyhow::bail!("{} did not exit within {SHUTDOWN:?} of SIGTERM; killed", self.name)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
