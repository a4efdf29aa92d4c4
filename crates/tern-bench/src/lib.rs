//! `tern bench`: load for a Tern server, sent on loopback only, and the
//! figures that show how it copes.
//!
//! - [`args`]: the command-line options and their checked form.
//! - [`scenario`]: scripted conversations with the bundled example assistant.
//! - [`client`]: one HTTP turn and the checks on its reply.
//! - [`load`]: timed sessions with think time, bursts, one long conversation.
//! - [`stats`]: turn and error counts, latency histograms.
//! - [`procfs`]: memory and CPU of processes from /proc, the open-files limit.
//! - [`spawn`]: the server and mock LLM as child processes; cold start and idle figures.
//! - [`database`]: database bytes and rows before and after.
//! - [`server_metrics`]: the server's own `/metrics` before and after.
//! - [`report`]: the figures of a run and their table.

pub mod args;
pub mod client;
pub mod database;
pub mod load;
pub mod procfs;
pub mod report;
pub mod scenario;
pub mod server_metrics;
pub mod spawn;
pub mod stats;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

pub use args::BenchArgs;
use args::{Mode, Settings};
use client::TurnClient;
use database::Database;
use load::{LoadContext, LoadPlan};
use report::{DatabaseFigures, OpenFilesLimit, ReportSettings};
pub use report::{Report, render_table};
use server_metrics::ServerView;
use spawn::{SpawnOptions, Spawned, StartupFigures};
use stats::Recorder;

/// How often the server, mock LLM and bench processes are sampled.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// File descriptors kept free for things other than the sessions' sockets.
const SPARE_FILES: u64 = 64;

/// Runs the benchmark the options describe and returns its report. With
/// `--spawn` the child processes are stopped before it returns.
pub async fn run(args: BenchArgs) -> anyhow::Result<Report> {
    let mut settings = Settings::from_args(args)?;
    let mut notes = Vec::new();
    let open_files_limit = raise_open_files_limit(&settings, &mut notes);

    let mut spawned = None;
    let mut startup = None;
    if settings.spawn {
        let options = SpawnOptions {
            database_url: settings.database_url.as_deref(),
            llm_latency: settings.llm_latency,
            idle_window: settings.idle_window,
        };
        let (children, figures) = spawn::spawn(&options).await?;
        settings.url = children.url.clone();
        settings.database_url = Some(children.database_url.clone());
        spawned = Some(children);
        startup = Some(figures);
    }

    let measured = measure(&settings, spawned.as_ref(), startup, &mut notes).await;
    if let Some(children) = spawned {
        let keep_logs = measured
            .as_ref()
            .map_or(true, |report| report.run.error_total() > 0);
        match children.stop(keep_logs).await {
            Ok(Some(directory)) => notes.push(format!(
                "the spawned processes' logs are in {}",
                directory.display()
            )),
            Ok(None) => {}
            Err(error) => notes.push(format!("stopping the spawned processes failed: {error:#}")),
        }
    }
    let mut report = measured?;
    report.open_files_limit = open_files_limit;
    report.notes.extend(notes);
    Ok(report)
}

fn raise_open_files_limit(settings: &Settings, notes: &mut Vec<String>) -> OpenFilesLimit {
    let (before, after) = match procfs::raise_open_files_limit() {
        Ok(limits) => limits,
        Err(error) => {
            notes.push(format!("cannot raise the open-files limit: {error}"));
            let current = rustix::process::getrlimit(rustix::process::Resource::Nofile)
                .current
                .unwrap_or(u64::MAX);
            (current, current)
        }
    };
    let connections = match settings.mode {
        Mode::Load { sessions, .. } => sessions as u64,
        Mode::Burst { turns } => turns as u64,
        Mode::Single { .. } => 1,
    };
    if connections + SPARE_FILES > after {
        notes.push(format!(
            "{connections} connections need about as many open files, but the limit is {after}; \
             raise the hard limit (ulimit -Hn) or expect connect errors"
        ));
    }
    OpenFilesLimit { before, after }
}

async fn measure(
    settings: &Settings,
    spawned: Option<&Spawned>,
    startup: Option<StartupFigures>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Report> {
    let client = TurnClient::new(&settings.url, settings.client_key.clone(), settings.timeout)?;
    check_ready(client.http(), &settings.url).await?;

    let database = settings
        .database_url
        .as_deref()
        .and_then(Database::from_url);
    match (&settings.database_url, &database) {
        (None, _) => notes.push(
            "database growth not measured: pass --database-url with the server's database".into(),
        ),
        (Some(url), None) => notes.push(format!(
            "database growth not measured: unsupported database URL `{url}`"
        )),
        _ => {}
    }
    let usage_before = database
        .as_ref()
        .map(|database| measure_database(database, notes));
    let metrics_before = scrape_metrics(&client, &settings.url, notes).await;

    let sampler = procfs::Sampler::start(&processes_to_sample(settings, spawned), SAMPLE_INTERVAL);
    let start = Instant::now();
    let block_size = match settings.mode {
        Mode::Single { block_size, .. } => Some(block_size),
        _ => None,
    };
    let recorder = Arc::new(Mutex::new(Recorder::new(start, block_size)));
    let context = Arc::new(LoadContext {
        client: client.clone(),
        recorder: Arc::clone(&recorder),
        scenario: settings.scenario,
        llm_latency: settings.llm_latency,
        run_id: run_id(),
    });
    let progress = Progress::start(&settings.mode, Arc::clone(&recorder), start);
    let released = send_load(settings, context, start, notes).await;
    progress.finish().await;
    let processes = sampler.finish().await;

    let summary = recorder
        .lock()
        .expect("the recorder lock is not poisoned")
        .summary();
    let database_figures = match (&database, usage_before) {
        (Some(database), Some(before)) => {
            let after = measure_database(database, notes);
            Some(DatabaseFigures::new(
                database.backend(),
                before,
                after,
                summary.turns,
            ))
        }
        _ => None,
    };
    let metrics_after = scrape_metrics(&client, &settings.url, notes).await;
    let server_view = metrics_before
        .zip(metrics_after)
        .map(|(before, after)| ServerView::between(&before, &after));

    let steady_turns_per_second = match settings.mode {
        Mode::Load {
            duration, ramp_up, ..
        } => summary.mean_rate_between(ramp_up, duration),
        _ => None,
    };
    let burst_all_answered_secs =
        released.map(|released| summary.elapsed_secs - (released - start).as_secs_f64());
    Ok(Report {
        settings: report_settings(settings, database.as_ref()),
        startup,
        run: summary,
        steady_turns_per_second,
        burst_all_answered_secs,
        processes,
        database: database_figures,
        server_view,
        open_files_limit: OpenFilesLimit::default(),
        notes: std::mem::take(notes),
    })
}

/// Sends the load of the chosen mode. Returns when a burst was released.
async fn send_load(
    settings: &Settings,
    context: Arc<LoadContext>,
    start: Instant,
    notes: &mut Vec<String>,
) -> Option<Instant> {
    match settings.mode {
        Mode::Load {
            sessions,
            duration,
            ramp_up,
            think_time,
        } => {
            let plan = LoadPlan {
                sessions,
                start,
                deadline: start + duration,
                ramp_up,
                think_time,
            };
            load::run_sessions(context, plan).await;
            None
        }
        Mode::Burst { turns } => Some(load::run_burst(context, turns).await),
        Mode::Single {
            turns, time_limit, ..
        } => {
            let sent = load::run_single(context, turns, start + time_limit).await;
            if sent < turns {
                notes.push(format!(
                    "the conversation stopped at the {} s time limit after {sent} of {turns} turns; raise --duration to send all",
                    time_limit.as_secs_f64()
                ));
            }
            None
        }
    }
}

async fn check_ready(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let ready = format!("{url}/ready");
    let response = http.get(&ready).send().await.with_context(|| {
        format!("no server answers at {ready}; start one with `tern serve` or pass --spawn")
    })?;
    if !response.status().is_success() {
        anyhow::bail!(
            "the server at {url} is not ready: {ready} returned {}",
            response.status()
        );
    }
    Ok(())
}

fn measure_database(database: &Database, notes: &mut Vec<String>) -> database::Usage {
    let (usage, database_notes) = database::measure(database);
    for note in database_notes {
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    usage
}

async fn scrape_metrics(
    client: &TurnClient,
    url: &str,
    notes: &mut Vec<String>,
) -> Option<server_metrics::Scrape> {
    match server_metrics::scrape(client.http(), url).await {
        Ok(scrape) => Some(scrape),
        Err(error) => {
            notes.push(format!("{error}; the server's own figures are not shown"));
            None
        }
    }
}

fn processes_to_sample(settings: &Settings, spawned: Option<&Spawned>) -> Vec<(String, u32)> {
    let mut processes = Vec::new();
    match spawned {
        Some(children) => {
            processes.push(("server".to_string(), children.server_pid));
            if let Some(pid) = children.mock_pid {
                processes.push(("mock LLM".to_string(), pid));
            }
        }
        None => {
            if let Some(pid) = settings.server_pid {
                processes.push(("server".to_string(), pid));
            }
        }
    }
    processes.push(("bench".to_string(), std::process::id()));
    processes
}

/// Builds a prefix for this run's conversation ids from the current time.
fn run_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    format!("bench-{millis:x}")
}

fn report_settings(settings: &Settings, database: Option<&Database>) -> ReportSettings {
    let mut report = ReportSettings {
        url: settings.url.clone(),
        spawned: settings.spawn,
        scenario: settings.scenario.to_string(),
        llm_latency_ms: settings
            .llm_latency
            .map(|latency| latency.as_millis() as u64),
        database: database.map(|database| database.backend().to_string()),
        ..ReportSettings::default()
    };
    match settings.mode {
        Mode::Load {
            sessions,
            duration,
            ramp_up,
            think_time,
        } => {
            report.mode = "load".into();
            report.sessions = Some(sessions);
            report.duration_secs = Some(duration.as_secs_f64());
            report.ramp_up_secs = Some(ramp_up.as_secs_f64());
            report.think_time_secs = Some(think_time.as_secs_f64());
        }
        Mode::Burst { turns } => {
            report.mode = "burst".into();
            report.burst = Some(turns);
        }
        Mode::Single {
            turns, block_size, ..
        } => {
            report.mode = "single-conversation".into();
            report.turns = Some(turns);
            report.block_size = Some(block_size);
        }
    }
    report
}

/// The progress bar on stderr, redrawn a few times a second. indicatif
/// draws nothing when stderr is not a terminal.
struct Progress {
    bar: ProgressBar,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(mode: &Mode, recorder: Arc<Mutex<Recorder>>, start: Instant) -> Progress {
        let (length, by_time) = match mode {
            Mode::Load { duration, .. } => (duration.as_secs().max(1), true),
            Mode::Burst { turns } => (*turns as u64, false),
            Mode::Single { turns, .. } => (*turns as u64, false),
        };
        let bar = ProgressBar::new(length);
        let template = if by_time {
            "{elapsed_precise} [{bar:30}] {pos}/{len} s  {msg}"
        } else {
            "{elapsed_precise} [{bar:30}] {pos}/{len} turns  {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let updated = bar.clone();
        let task = tokio::spawn(async move {
            loop {
                let (turns, errors, p99) = {
                    let recorder = recorder.lock().expect("the recorder lock is not poisoned");
                    (recorder.turns(), recorder.error_total(), recorder.p99_ms())
                };
                let elapsed = start.elapsed();
                updated.set_position(if by_time {
                    elapsed.as_secs()
                } else {
                    turns + errors
                });
                let rate = turns as f64 / elapsed.as_secs_f64().max(0.001);
                updated.set_message(format!(
                    "{turns} turns, {rate:.0}/s, {errors} errors, p99 {p99:.0} ms"
                ));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Progress { bar, stop, task }
    }

    async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.bar.finish_and_clear();
    }
}

/// Writes the report as pretty-printed JSON.
pub fn write_json(report: &Report, path: &std::path::Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the JSON report to {}", path.display()))
}
