//! `--spawn`: running `tern serve` (and `tern mock-llm`) as child processes
//! of the current executable, and measuring the server's cold start, idle
//! memory and idle CPU before any load.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::procfs;
use crate::scenario::MOCK_LLM_SCRIPT;

/// Time a child may take to pass its readiness check.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between readiness checks; the cold start is measured to within it.
const READY_POLL: Duration = Duration::from_millis(2);
/// Time after the first successful readiness check before idle memory is
/// read, so that start-up work scheduled right after binding has run.
const SETTLE_TIME: Duration = Duration::from_secs(1);
/// How long a child may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Server environment variables that would change what the scenarios talk
/// to; the child gets these settings from flags or not at all.
const CLEARED_VARIABLES: &[&str] = &[
    "TERN_LISTEN",
    "TERN_FLOWS",
    "TERN_ACTIONS",
    "TERN_RESPONSES",
    "TERN_DATABASE_URL",
    "TERN_LLM_PROVIDER",
    "TERN_LLM_BASE_URL",
    "TERN_LLM_MODEL",
    "TERN_LLM_MODE",
];

/// Figures measured before the load.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StartupFigures {
    /// From spawning `tern serve` to its first successful `/ready`.
    pub cold_start_ms: f64,
    /// Resident memory one settle second after the server became ready.
    pub idle_rss_kib: u64,
    /// CPU use over the idle window, in percent of one core.
    pub idle_cpu_percent: f64,
    /// Context switches per second over all server threads in the idle
    /// window: near 0 without polling loops.
    pub idle_wakeups_per_second: f64,
    pub idle_window_secs: f64,
}

/// A child process and the file its output goes to.
struct ChildProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// The spawned server, the mock LLM if any, and their working directory.
pub struct Spawned {
    pub url: String,
    pub database_url: String,
    pub server_pid: u32,
    pub mock_pid: Option<u32>,
    server: ChildProcess,
    mock: Option<ChildProcess>,
    directory: tempfile::TempDir,
}

/// Options for [`spawn`].
pub struct SpawnOptions<'a> {
    pub database_url: Option<&'a str>,
    pub llm_latency: Option<Duration>,
    pub idle_window: Duration,
}

/// Starts the mock LLM (with an LLM latency) and the server, and measures
/// the server's start-up figures.
pub async fn spawn(options: &SpawnOptions<'_>) -> anyhow::Result<(Spawned, StartupFigures)> {
    let executable =
        std::env::current_exe().context("cannot find the path of the running tern executable")?;
    let directory = tempfile::Builder::new()
        .prefix("tern-bench-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let database_url = match options.database_url {
        Some(url) => url.to_string(),
        None => format!("sqlite://{}", directory.path().join("bench.db").display()),
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;

    let mut mock = None;
    let mut llm_base_url = None;
    if let Some(latency) = options.llm_latency {
        let address = free_loopback_address()?;
        let script = directory.path().join("mock-llm.yml");
        std::fs::write(&script, MOCK_LLM_SCRIPT)
            .with_context(|| format!("cannot write {}", script.display()))?;
        let mut command = Command::new(&executable);
        command
            .arg("mock-llm")
            .arg("--listen")
            .arg(address.to_string());
        command
            .arg("--latency-ms")
            .arg(latency.as_millis().to_string());
        command.arg("--script").arg(&script);
        let mut child = start_child("mock-llm", command, directory.path())?;
        wait_ready(&http, &format!("http://{address}/health"), &mut child).await?;
        llm_base_url = Some(format!("http://{address}/v1"));
        mock = Some(child);
    }

    let address = free_loopback_address()?;
    let mut command = Command::new(&executable);
    command
        .arg("serve")
        .arg("--listen")
        .arg(address.to_string())
        .arg("--database-url")
        .arg(&database_url);
    for name in CLEARED_VARIABLES {
        command.env_remove(name);
    }
    match &llm_base_url {
        Some(base_url) => {
            command
                .env("TERN_LLM_PROVIDER", "openai")
                .env("TERN_LLM_BASE_URL", base_url)
                .env("TERN_LLM_MODEL", "mock");
        }
        None => {
            command.env("TERN_LLM_PROVIDER", "offline");
        }
    }
    let url = format!("http://{address}");
    let spawned_at = Instant::now();
    let mut server = start_child("server", command, directory.path())?;
    let ready_at = wait_ready(&http, &format!("{url}/ready"), &mut server).await?;
    let cold_start = ready_at - spawned_at;

    let server_pid = server.child.id();
    let startup = measure_idle(server_pid, cold_start, options.idle_window).await?;
    let spawned = Spawned {
        url,
        database_url,
        server_pid,
        mock_pid: mock.as_ref().map(|child| child.child.id()),
        server,
        mock,
        directory,
    };
    Ok((spawned, startup))
}

async fn measure_idle(
    pid: u32,
    cold_start: Duration,
    window: Duration,
) -> anyhow::Result<StartupFigures> {
    tokio::time::sleep(SETTLE_TIME).await;
    let idle_rss_kib = procfs::rss_kib(pid)?;
    let ticks_before = procfs::cpu_ticks(pid)?;
    let switches_before = procfs::context_switches(pid)?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = started.elapsed();
    let ticks_after = procfs::cpu_ticks(pid)?;
    let switches_after = procfs::context_switches(pid)?;
    Ok(StartupFigures {
        cold_start_ms: cold_start.as_secs_f64() * 1_000.0,
        idle_rss_kib,
        idle_cpu_percent: procfs::cpu_percent(ticks_before, ticks_after, elapsed),
        idle_wakeups_per_second: if elapsed.is_zero() {
            0.0
        } else {
            switches_after.saturating_sub(switches_before) as f64 / elapsed.as_secs_f64()
        },
        idle_window_secs: elapsed.as_secs_f64(),
    })
}

/// Finds an unused port on 127.0.0.1 by binding port 0 and closing it.
// NOTE: another process could take the port before the child binds it; the
// child then fails to start and the error shows its log.
fn free_loopback_address() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?)
}

fn start_child(
    name: &'static str,
    mut command: Command,
    directory: &Path,
) -> anyhow::Result<ChildProcess> {
    let log = directory.join(format!("{name}.log"));
    let output = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output);
    let child = command
        .spawn()
        .with_context(|| format!("cannot start the {name} ({command:?})"))?;
    Ok(ChildProcess { name, child, log })
}

/// Polls `url` until it returns a 2xx status, and returns the moment it first did.
async fn wait_ready(
    http: &reqwest::Client,
    url: &str,
    process: &mut ChildProcess,
) -> anyhow::Result<Instant> {
    let started = Instant::now();
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return Ok(Instant::now());
        }
        if let Some(status) = process.child.try_wait()? {
            bail!(
                "the {} exited with {status} before it was ready; its output:\n{}",
                process.name,
                log_tail(&process.log)
            );
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "the {} was not ready at {url} within {} s; its output:\n{}",
                process.name,
                READY_TIMEOUT.as_secs(),
                log_tail(&process.log)
            );
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// Reads the last lines of a child's log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Spawned {
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }

    /// Stops the server, then the mock LLM, each with SIGTERM and a grace
    /// period. With `keep_logs` the temporary directory stays, and its path
    /// is returned.
    pub async fn stop(self, keep_logs: bool) -> anyhow::Result<Option<PathBuf>> {
        let Spawned {
            mut server,
            mock,
            directory,
            ..
        } = self;
        stop_child(&mut server).await?;
        if let Some(mut mock) = mock {
            stop_child(&mut mock).await?;
        }
        Ok(keep_logs.then(|| directory.keep()))
    }
}

async fn stop_child(process: &mut ChildProcess) -> anyhow::Result<()> {
    if process.child.try_wait()?.is_some() {
        return Ok(());
    }
    let pid = rustix::process::Pid::from_raw(process.child.id() as i32)
        .context("invalid child process id")?;
    if let Err(error) = rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
        tracing::warn!(name = process.name, %error, "cannot send SIGTERM; killing the process");
        process.child.kill()?;
    }
    let started = Instant::now();
    while process.child.try_wait()?.is_none() {
        if started.elapsed() > STOP_TIMEOUT {
            tracing::warn!(
                name = process.name,
                seconds = STOP_TIMEOUT.as_secs(),
                "still running after SIGTERM; killing it"
            );
            process.child.kill()?;
            process.child.wait()?;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

impl Drop for ChildProcess {
    /// Kills a child still running when the bench fails early, so no server
    /// outlives it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
