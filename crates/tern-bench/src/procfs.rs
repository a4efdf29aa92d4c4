//! Process statistics read from Linux's /proc (resident memory, CPU time,
//! context switches), a once-a-second sampler, and the open-files limit.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Reads utime + stime of `pid` in clock ticks, from fields 14 and 15 of
/// /proc/PID/stat.
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unreadable /proc/{pid}/stat"),
        )
    })
}

/// Sums utime and stime from the text of /proc/PID/stat. The command name
/// (field 2) is in parentheses and may contain spaces, so fields are
/// counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come field 3 (state) onwards, so utime (field 14) is
    // the 12th of these.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Reads the CPU ticks of each thread of `pid`, by thread id, with the
/// thread's name (field 2 of /proc/PID/task/TID/stat).
pub fn thread_ticks(pid: u32) -> io::Result<HashMap<u32, (String, u64)>> {
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        // A thread may exit between listing and reading.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let (Some(name), Some(ticks)) = (thread_name(&stat), parse_cpu_ticks(&stat)) {
            threads.insert(tid, (name.to_string(), ticks));
        }
    }
    Ok(threads)
}

fn thread_name(stat: &str) -> Option<&str> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    stat.get(open + 1..close)
}

/// CPU use of the threads that share a name, such as tokio's worker
/// threads, over the load.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThreadGroup {
    pub name: String,
    pub threads: usize,
    /// Sum over the group's threads, in percent of one core.
    pub cpu_percent: f64,
    pub busiest_thread_percent: f64,
}

/// Groups the CPU use between two [`thread_ticks`] readings by thread name,
/// busiest group first. Threads that exited before `after` are missing
/// from it, so their time is not counted.
pub fn thread_groups(
    before: &HashMap<u32, (String, u64)>,
    after: &HashMap<u32, (String, u64)>,
    wall: Duration,
) -> Vec<ThreadGroup> {
    let mut groups: Vec<ThreadGroup> = Vec::new();
    for (tid, (name, ticks)) in after {
        let start = before.get(tid).map_or(0, |(_, ticks)| *ticks);
        let percent = cpu_percent(start, *ticks, wall);
        match groups.iter_mut().find(|group| group.name == *name) {
            Some(group) => {
                group.threads += 1;
                group.cpu_percent += percent;
                group.busiest_thread_percent = group.busiest_thread_percent.max(percent);
            }
            None => groups.push(ThreadGroup {
                name: name.clone(),
                threads: 1,
                cpu_percent: percent,
                busiest_thread_percent: percent,
            }),
        }
    }
    groups.sort_by(|a, b| {
        b.cpu_percent
            .total_cmp(&a.cpu_percent)
            .then_with(|| a.name.cmp(&b.name))
    });
    groups
}

/// Reads the resident set size of `pid` in KiB (VmRSS of /proc/PID/status).
pub fn rss_kib(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_field(&status, "VmRSS:").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no VmRSS in /proc/{pid}/status"),
        )
    })
}

/// Sums voluntary and involuntary context switches over all threads of
/// `pid`. Each switch is a wake-up, so the rate while idle shows polling.
pub fn context_switches(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = entry?.path().join("status");
        // A thread may exit between listing and reading.
        let Ok(status) = std::fs::read_to_string(path) else {
            continue;
        };
        total += status_field(&status, "voluntary_ctxt_switches:").unwrap_or(0);
        total += status_field(&status, "nonvoluntary_ctxt_switches:").unwrap_or(0);
    }
    Ok(total)
}

/// Returns the first number after `name` on the line of a /proc status file
/// that starts with `name`.
fn status_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}

/// Clock ticks per second of the values in /proc/PID/stat (USER_HZ).
pub fn ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// CPU use between two readings, in percent of one core (so up to 200% on
/// two cores).
pub fn cpu_percent(ticks_before: u64, ticks_after: u64, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    let cpu_secs = ticks_after.saturating_sub(ticks_before) as f64 / ticks_per_second() as f64;
    cpu_secs / wall.as_secs_f64() * 100.0
}

/// Raises this process's soft limit on open files to the hard limit,
/// because every session keeps a socket open. Child processes started later
/// inherit the raised limit. Returns the soft limit before and after.
pub fn raise_open_files_limit() -> io::Result<(u64, u64)> {
    use rustix::process::{Resource, getrlimit, setrlimit};

    let limit = getrlimit(Resource::Nofile);
    let before = limit.current.unwrap_or(u64::MAX);
    if limit.current == limit.maximum {
        return Ok((before, before));
    }
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised)?;
    Ok((before, limit.maximum.unwrap_or(u64::MAX)))
}

/// Memory and CPU figures of one process over the load.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProcessFigures {
    pub name: String,
    pub pid: u32,
    pub rss_max_kib: u64,
    pub rss_end_kib: u64,
    /// Mean over the sampled span, in percent of one core.
    pub cpu_mean_percent: f64,
    /// Highest one-second value.
    pub cpu_max_percent: f64,
    /// CPU use by thread name over the sampled span.
    pub threads: Vec<ThreadGroup>,
    pub samples: Vec<ProcessSample>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProcessSample {
    pub second: f64,
    pub rss_kib: u64,
    pub cpu_percent: f64,
}

struct Tracked {
    figures: ProcessFigures,
    first_ticks: Option<u64>,
    first_threads: HashMap<u32, (String, u64)>,
    last_ticks: Option<u64>,
    first_at: Instant,
    last_at: Instant,
    exited: bool,
}

/// Samples processes at a fixed interval on its own task until stopped.
pub struct Sampler {
    tracked: Arc<Mutex<Vec<Tracked>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// Shortest window over which a one-sample CPU percentage is computed.
    min_window: Duration,
}

impl Sampler {
    /// Starts sampling the named processes.
    pub fn start(processes: &[(String, u32)], interval: Duration) -> Sampler {
        let now = Instant::now();
        let tracked: Vec<Tracked> = processes
            .iter()
            .map(|(name, pid)| Tracked {
                figures: ProcessFigures {
                    name: name.clone(),
                    pid: *pid,
                    ..ProcessFigures::default()
                },
                first_ticks: None,
                first_threads: HashMap::new(),
                last_ticks: None,
                first_at: now,
                last_at: now,
                exited: false,
            })
            .collect();
        let tracked = Arc::new(Mutex::new(tracked));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let shared = Arc::clone(&tracked);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            loop {
                sample_all(&shared, started, interval / 2);
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Sampler {
            tracked,
            stop,
            task,
            min_window: interval / 2,
        }
    }

    /// Takes a last sample, stops, and returns the figures per process.
    pub async fn finish(self) -> Vec<ProcessFigures> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let mut tracked = self
            .tracked
            .lock()
            .expect("the sampler lock is not poisoned");
        let origin = tracked
            .first()
            .map_or_else(Instant::now, |first| first.first_at);
        sample_each(&mut tracked, origin, self.min_window);
        tracked
            .iter()
            .map(|entry| {
                let mut figures = entry.figures.clone();
                if let (Some(first), Some(last)) = (entry.first_ticks, entry.last_ticks) {
                    figures.cpu_mean_percent =
                        cpu_percent(first, last, entry.last_at - entry.first_at);
                }
                if let Ok(threads) = thread_ticks(entry.figures.pid) {
                    let wall = entry.first_at.elapsed();
                    figures.threads = thread_groups(&entry.first_threads, &threads, wall);
                }
                figures
            })
            .collect()
    }
}

fn sample_all(tracked: &Mutex<Vec<Tracked>>, origin: Instant, min_window: Duration) {
    let mut tracked = tracked.lock().expect("the sampler lock is not poisoned");
    sample_each(&mut tracked, origin, min_window);
}

fn sample_each(tracked: &mut [Tracked], origin: Instant, min_window: Duration) {
    for entry in tracked.iter_mut().filter(|entry| !entry.exited) {
        let now = Instant::now();
        let (Ok(ticks), Ok(rss)) = (cpu_ticks(entry.figures.pid), rss_kib(entry.figures.pid))
        else {
            // The process has exited; keep what was sampled before.
            entry.exited = true;
            continue;
        };
        let figures = &mut entry.figures;
        figures.rss_max_kib = figures.rss_max_kib.max(rss);
        figures.rss_end_kib = rss;

        let Some(previous) = entry.last_ticks else {
            entry.first_ticks = Some(ticks);
            entry.first_threads = thread_ticks(entry.figures.pid).unwrap_or_default();
            entry.first_at = now;
            entry.last_ticks = Some(ticks);
            entry.last_at = now;
            continue;
        };
        // Ticks are coarse (10 ms at the usual 100 per second), so a short
        // window, such as the final sample right after a periodic one,
        // would show wild percentages. Such a window is skipped.
        let window = now - entry.last_at;
        if window < min_window {
            continue;
        }
        let cpu = cpu_percent(previous, ticks, window);
        figures.cpu_max_percent = figures.cpu_max_percent.max(cpu);
        let second = now.saturating_duration_since(origin).as_secs_f64();
        figures.samples.push(ProcessSample {
            second: (second * 10.0).round() / 10.0,
            rss_kib: rss,
            cpu_percent: (cpu * 10.0).round() / 10.0,
        });
        entry.last_ticks = Some(ticks);
        entry.last_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_parsed_after_command_name() {
        let stat = "4242 (tern (worker) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 125 37 0 0 20 0 3 0 100 1000 300";
        assert_eq!(parse_cpu_ticks(stat), Some(162));
    }

    #[test]
    fn cpu_ticks_of_truncated_stat_is_none() {
        assert_eq!(parse_cpu_ticks("4242 (tern) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no parentheses"), None);
    }

    #[test]
    fn thread_name_inside_parentheses() {
        assert_eq!(
            thread_name("17 (tokio-rt-worker) S 1"),
            Some("tokio-rt-worker")
        );
        assert_eq!(thread_name("17 (a (b)) S 1"), Some("a (b)"));
        assert_eq!(thread_name("17 S 1"), None);
    }

    #[test]
    fn thread_groups_sum_by_name() {
        let per_second = ticks_per_second();
        let thread = |name: &str, ticks: u64| (name.to_string(), ticks);
        let before = HashMap::from([
            (1, thread("worker", 0)),
            (2, thread("worker", per_second)),
            (3, thread("main", 0)),
        ]);
        let after = HashMap::from([
            (1, thread("worker", per_second)),
            (2, thread("worker", per_second * 3 / 2)),
            (3, thread("main", 0)),
            (4, thread("sqlite", per_second / 4)),
        ]);
        let groups = thread_groups(&before, &after, Duration::from_secs(1));
        let names: Vec<&str> = groups.iter().map(|group| group.name.as_str()).collect();
        assert_eq!(names, ["worker", "sqlite", "main"]);
        assert_eq!(groups[0].threads, 2);
        assert!(
            (groups[0].cpu_percent - 150.0).abs() < 1e-9,
            "{}",
            groups[0].cpu_percent
        );
        assert!((groups[0].busiest_thread_percent - 100.0).abs() < 1e-9);
        assert!(
            (groups[1].cpu_percent - 25.0).abs() < 1e-9,
            "a new thread counts from zero"
        );
        assert_eq!(groups[2].cpu_percent, 0.0);
    }

    #[test]
    fn own_threads_readable() {
        let threads = thread_ticks(std::process::id()).unwrap();
        assert!(!threads.is_empty());
    }

    #[test]
    fn status_field_reads_kib() {
        let status = "Name:\ttern\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(status_field(status, "VmRSS:"), Some(5_120));
        assert_eq!(status_field(status, "VmSwap:"), None);
    }

    #[test]
    fn own_process_readable() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(context_switches(pid).unwrap() > 0);
        cpu_ticks(pid).unwrap();
    }

    #[test]
    fn cpu_percent_of_one_busy_core() {
        let per_second = ticks_per_second();
        let percent = cpu_percent(0, per_second * 2, Duration::from_secs(2));
        assert!((percent - 100.0).abs() < 1e-9, "{percent}");
        assert_eq!(cpu_percent(5, 5, Duration::ZERO), 0.0);
    }

    #[test]
    fn open_files_limit_not_lowered() {
        let (before, after) = raise_open_files_limit().unwrap();
        assert!(after >= before);
    }

    #[tokio::test]
    async fn sampler_reports_own_process() {
        let sampler = Sampler::start(
            &[("bench".into(), std::process::id())],
            Duration::from_millis(20),
        );
        tokio::time::sleep(Duration::from_millis(70)).await;
        let figures = sampler.finish().await;
        assert_eq!(figures.len(), 1);
        assert_eq!(figures[0].name, "bench");
        assert!(figures[0].rss_max_kib > 0);
        assert!(figures[0].rss_end_kib > 0);
        assert!(!figures[0].samples.is_empty());
    }
}
