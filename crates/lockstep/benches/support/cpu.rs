//! CPU time of this process by thread name, read from `/proc/self/task`
//! (Linux; elsewhere the figures are empty).
//!
//! A benchmark names its runtimes' threads (`lockstep`, `sandbox`) so the
//! CPU each part used can be told apart without a profiler. Threads come
//! and go (tokio retires idle blocking threads), so a sampler reads every
//! thread's counters a few times a second and keeps the last reading of
//! each; a thread that exits between two samples loses at most one interval.
//! The process's own total, which counts exited threads too, is read at the
//! end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Linux reports CPU time in clock ticks of 1/100 s (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds per thread-name group, and for the whole process.
#[derive(Debug, Default, Clone)]
pub struct CpuSeconds {
    pub by_group: Vec<(String, f64)>,
    pub process: f64,
}

/// Samples every thread's CPU time until [`CpuSampler::finish`].
pub struct CpuSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<HashMap<u32, (String, u64)>>,
    baseline: HashMap<u32, (String, u64)>,
    process_baseline: u64,
}

impl CpuSampler {
    pub fn start() -> CpuSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let baseline = threads();
        let process_baseline = process_ticks();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cpu-sampler".into())
            .spawn(move || {
                let mut last = HashMap::new();
                loop {
                    last.extend(threads());
                    if flag.load(Ordering::Relaxed) {
                        return last;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
            .expect("a sampler thread");
        CpuSampler { stop, thread, baseline, process_baseline }
    }

    /// CPU seconds used since the start, grouped by the part of the thread
    /// name before its first `-` (tokio names workers `<name>` as given).
    pub fn finish(self) -> CpuSeconds {
        self.stop.store(true, Ordering::Relaxed);
        let last = self.thread.join().unwrap_or_default();
        let mut groups: HashMap<String, u64> = HashMap::new();
        for (tid, (name, ticks)) in last {
            let before = self.baseline.get(&tid).map_or(0, |(_, t)| *t);
            let group = name.split('-').next().unwrap_or_default().to_owned();
            *groups.entry(group).or_default() += ticks.saturating_sub(before);
        }
        let mut by_group: Vec<(String, f64)> =
            groups.into_iter().map(|(name, ticks)| (name, ticks as f64 / TICKS_PER_SECOND)).collect();
        by_group.sort_by(|a, b| b.1.total_cmp(&a.1));
        let process = process_ticks().saturating_sub(self.process_baseline) as f64 / TICKS_PER_SECOND;
        CpuSeconds { by_group, process }
    }
}

/// `utime + stime` of one `/proc/…/stat` line, with the command name.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let (head, rest) = stat.rsplit_once(") ")?;
    let name = head.split_once(" (")?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn threads() -> HashMap<u32, (String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return HashMap::new();
    };
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let tid: u32 = task.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            Some((tid, parse_stat(&stat)?))
        })
        .collect()
}

fn process_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| parse_stat(&stat)).map_or(0, |(_, t)| t)
}
