//! The figures of a run and their text table.

use std::fmt::Write;

use serde::Serialize;

use crate::database::Usage;
use crate::procfs::{ProcessFigures, ThreadGroup};
use crate::server_metrics::ServerView;
use crate::spawn::StartupFigures;
use crate::stats::{LatencySummary, RunSummary};

/// Thread groups listed per process in the table; the JSON has all.
const MAX_THREAD_GROUPS_SHOWN: usize = 3;

/// Everything `tern bench` measured; written whole by `--json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub settings: ReportSettings,
    /// Figures of the spawned server before the load; `None` without
    /// `--spawn`.
    pub startup: Option<StartupFigures>,
    pub run: RunSummary,
    /// Mean turns per second after the ramp-up, for timed loads.
    pub steady_turns_per_second: Option<f64>,
    /// Burst only: seconds from sending the turns to the last response.
    pub burst_all_answered_secs: Option<f64>,
    /// Server, mock LLM and the bench itself, sampled once a second.
    pub processes: Vec<ProcessFigures>,
    pub database: Option<DatabaseFigures>,
    pub server_view: Option<ServerView>,
    pub open_files_limit: OpenFilesLimit,
    /// Measurements skipped and why, and other remarks.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ReportSettings {
    pub url: String,
    pub spawned: bool,
    pub scenario: String,
    /// `load`, `burst` or `single-conversation`.
    pub mode: String,
    pub sessions: Option<usize>,
    pub duration_secs: Option<f64>,
    pub ramp_up_secs: Option<f64>,
    pub think_time_secs: Option<f64>,
    pub burst: Option<usize>,
    pub turns: Option<usize>,
    pub block_size: Option<usize>,
    pub llm_latency_ms: Option<u64>,
    /// The database backend, when known.
    pub database: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DatabaseFigures {
    pub backend: String,
    pub before: Usage,
    pub after: Usage,
    pub bytes_per_turn: Option<f64>,
    pub rows_per_turn: Option<f64>,
}

impl DatabaseFigures {
    pub fn new(backend: &str, before: Usage, after: Usage, turns: u64) -> DatabaseFigures {
        let per_turn = |before: Option<u64>, after: Option<u64>| {
            let (before, after) = (before?, after?);
            (turns > 0).then(|| (after as f64 - before as f64) / turns as f64)
        };
        DatabaseFigures {
            backend: backend.to_string(),
            bytes_per_turn: per_turn(before.bytes, after.bytes),
            rows_per_turn: per_turn(before.rows, after.rows),
            before,
            after,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct OpenFilesLimit {
    pub before: u64,
    pub after: u64,
}

/// Renders the report as the table printed on stdout.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(&report.settings));
    if let Some(startup) = &report.startup {
        let _ = writeln!(
            out,
            "{:<22}{:.1} ms to first /ready",
            "cold start", startup.cold_start_ms
        );
        let _ = writeln!(out, "{:<22}{}", "idle memory", mib(startup.idle_rss_kib));
        let _ = writeln!(
            out,
            "{:<22}{:.1}% of one core, {:.1} wake-ups/s over {:.0} s",
            "idle CPU",
            startup.idle_cpu_percent,
            startup.idle_wakeups_per_second,
            startup.idle_window_secs
        );
    }
    out.push('\n');
    render_run(&mut out, report);
    render_resources(&mut out, report);
    if !report.notes.is_empty() {
        out.push('\n');
        for note in &report.notes {
            let _ = writeln!(out, "note: {note}");
        }
    }
    out
}

fn headline(settings: &ReportSettings) -> String {
    let mut parts = vec![format!("scenario {}", settings.scenario)];
    match settings.mode.as_str() {
        "burst" => parts.push(format!(
            "burst of {}",
            count(settings.burst.unwrap_or(0) as u64)
        )),
        "single-conversation" => parts.push(format!(
            "{} turns in one conversation",
            count(settings.turns.unwrap_or(0) as u64)
        )),
        _ => {
            parts.push(format!(
                "{} sessions",
                count(settings.sessions.unwrap_or(0) as u64)
            ));
            parts.push(format!("{} s", settings.duration_secs.unwrap_or(0.0)));
            parts.push(format!(
                "ramp-up {} s",
                settings.ramp_up_secs.unwrap_or(0.0)
            ));
            parts.push(format!(
                "think time {} s",
                settings.think_time_secs.unwrap_or(0.0)
            ));
        }
    }
    match settings.llm_latency_ms {
        Some(latency) => parts.push(format!("mock LLM {latency} ms")),
        None => parts.push("no LLM latency given".to_string()),
    }
    if let Some(database) = &settings.database {
        parts.push(database.clone());
    }
    let target = if settings.spawned {
        format!("spawned server at {}", settings.url)
    } else {
        settings.url.clone()
    };
    format!("tern bench against {target}: {}", parts.join(", "))
}

fn render_run(out: &mut String, report: &Report) {
    let run = &report.run;
    let mut throughput = format!(
        "{} in {:.1} s: {:.1} turns/s",
        count(run.turns),
        run.elapsed_secs,
        run.turns_per_second
    );
    if let Some(steady) = report.steady_turns_per_second {
        let _ = write!(throughput, " ({steady:.1} turns/s after ramp-up)");
    }
    if let Some(all_answered) = report.burst_all_answered_secs {
        let _ = write!(
            throughput,
            " (all answered {all_answered:.2} s after sending)"
        );
    }
    let _ = writeln!(out, "{:<22}{throughput}", "turns");
    let _ = writeln!(
        out,
        "{:<22}{}",
        "conversations done",
        count(run.conversations_finished)
    );
    let _ = writeln!(
        out,
        "{:<22}{:.2}",
        "LLM calls per turn", run.llm_calls_per_turn
    );

    let _ = writeln!(
        out,
        "{:<22}{:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency (ms)", "p50", "p90", "p99", "max", "mean"
    );
    let _ = writeln!(out, "{}", latency_row("  end to end", &run.latency));
    match &run.latency_without_llm {
        Some(latency) => {
            let _ = writeln!(out, "{}", latency_row("  minus LLM", latency));
        }
        None => {
            let _ = writeln!(out, "  minus LLM           (give --llm-latency-ms)");
        }
    }

    if !run.blocks.is_empty() {
        let _ = writeln!(
            out,
            "{:<22}{:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency by block (ms)", "p50", "p90", "p99", "max", "mean"
        );
        for block in &run.blocks {
            let last = block.first_turn + block.latency.count.saturating_sub(1);
            let _ = writeln!(
                out,
                "{}",
                latency_row(
                    &format!("  turns {}-{}", block.first_turn, last),
                    &block.latency
                )
            );
        }
    }

    if run.errors.is_empty() {
        let _ = writeln!(out, "{:<22}0", "errors");
    } else {
        let _ = writeln!(out, "{:<22}{}", "errors", count(run.error_total()));
        for (kind, entry) in &run.errors {
            let _ = writeln!(
                out,
                "  {kind:<20}{} (first: {})",
                count(entry.count),
                entry.example
            );
        }
    }
}

fn render_resources(out: &mut String, report: &Report) {
    let sessions = report.settings.sessions.or(report.settings.burst);
    for process in &report.processes {
        let mut memory = format!(
            "max {}, at end {}",
            mib(process.rss_max_kib),
            mib(process.rss_end_kib)
        );
        if process.name == "server"
            && let (Some(startup), Some(sessions)) = (&report.startup, sessions.filter(|n| *n > 0))
        {
            let per_session =
                process.rss_max_kib.saturating_sub(startup.idle_rss_kib) as f64 / sessions as f64;
            let _ = write!(memory, " ({per_session:.1} KiB per session above idle)");
        }
        let _ = writeln!(out, "{:<22}{memory}", format!("{} memory", process.name));
        let _ = writeln!(
            out,
            "{:<22}mean {:.1}%, max {:.1}% of one core",
            format!("{} CPU", process.name),
            process.cpu_mean_percent,
            process.cpu_max_percent
        );
        if !process.threads.is_empty() {
            let busiest: Vec<String> = process
                .threads
                .iter()
                .take(MAX_THREAD_GROUPS_SHOWN)
                .map(thread_group)
                .collect();
            let _ = writeln!(
                out,
                "{:<22}{}",
                format!("{} threads", process.name),
                busiest.join(", ")
            );
        }
    }
    if let Some(database) = &report.database {
        let bytes = database
            .bytes_per_turn
            .map_or("bytes not measured".to_string(), |bytes| {
                format!("{bytes:.0} bytes per turn")
            });
        let rows = database
            .rows_per_turn
            .map_or("rows not counted".to_string(), |rows| {
                format!("{rows:.2} rows per turn")
            });
        let _ = writeln!(
            out,
            "{:<22}{}: {bytes}, {rows}",
            "database", database.backend
        );
    }
    if let Some(view) = &report.server_view {
        let _ = writeln!(
            out,
            "{:<22}{} turns, mean {} (without LLM {}); {} LLM calls, mean {}; {} action calls, mean {}; {} errors, {} commit conflicts",
            "server metrics",
            count(view.turns),
            optional_ms(view.turn_mean_ms),
            optional_ms(view.turn_without_llm_mean_ms),
            count(view.llm_calls),
            optional_ms(view.llm_call_mean_ms),
            count(view.action_calls),
            optional_ms(view.action_call_mean_ms),
            count(view.errors),
            count(view.commit_conflicts),
        );
    }
}

/// Formats a thread group as "tokio-rt-worker 61.0% (2 threads, busiest 31.0%)".
fn thread_group(group: &ThreadGroup) -> String {
    let threads = if group.threads == 1 {
        "1 thread".to_string()
    } else {
        format!("{} threads", group.threads)
    };
    format!(
        "{} {:.1}% ({threads}, busiest {:.1}%)",
        group.name, group.cpu_percent, group.busiest_thread_percent
    )
}

fn latency_row(label: &str, latency: &LatencySummary) -> String {
    format!(
        "{label:<22}{:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms, latency.mean_ms
    )
}

fn optional_ms(value: Option<f64>) -> String {
    value.map_or("-".to_string(), |ms| format!("{ms:.1} ms"))
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1_024.0)
}

/// Formats an integer with thousands separators, such as 20,000.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{BlockSummary, ErrorCount};

    fn latency(p50: f64) -> LatencySummary {
        LatencySummary {
            count: 10,
            mean_ms: p50 + 1.0,
            p50_ms: p50,
            p90_ms: p50 + 2.0,
            p99_ms: p50 + 3.0,
            max_ms: p50 + 4.0,
        }
    }

    fn load_report() -> Report {
        let mut report = Report {
            settings: ReportSettings {
                url: "http://127.0.0.1:8080".into(),
                spawned: true,
                scenario: "parking-fine".into(),
                mode: "load".into(),
                sessions: Some(2_000),
                duration_secs: Some(20.0),
                ramp_up_secs: Some(10.0),
                think_time_secs: Some(10.0),
                llm_latency_ms: Some(1_000),
                database: Some("sqlite".into()),
                ..ReportSettings::default()
            },
            startup: Some(StartupFigures {
                cold_start_ms: 12.34,
                idle_rss_kib: 10_240,
                idle_cpu_percent: 0.0,
                idle_wakeups_per_second: 0.4,
                idle_window_secs: 5.0,
            }),
            steady_turns_per_second: Some(181.5),
            ..Report::default()
        };
        report.run.turns = 3_456;
        report.run.elapsed_secs = 20.4;
        report.run.turns_per_second = 169.4;
        report.run.llm_calls_per_turn = 1.0;
        report.run.latency = latency(1_003.2);
        report.run.latency_without_llm = Some(latency(3.2));
        report.processes.push(ProcessFigures {
            name: "server".into(),
            pid: 7,
            rss_max_kib: 51_200,
            rss_end_kib: 40_960,
            cpu_mean_percent: 35.25,
            cpu_max_percent: 60.0,
            threads: vec![
                ThreadGroup {
                    name: "tokio-rt-worker".into(),
                    threads: 2,
                    cpu_percent: 30.0,
                    busiest_thread_percent: 16.0,
                },
                ThreadGroup {
                    name: "sqlx-sqlite-wor".into(),
                    threads: 1,
                    cpu_percent: 5.0,
                    busiest_thread_percent: 5.0,
                },
            ],
            samples: Vec::new(),
        });
        report
    }

    #[test]
    fn count_groups_thousands() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (20_000, "20,000"),
            (1_234_567, "1,234,567"),
        ];
        for (value, expected) in cases {
            assert_eq!(count(value), expected);
        }
    }

    #[test]
    fn mib_has_one_decimal() {
        assert_eq!(mib(10_240), "10.0 MiB");
        assert_eq!(mib(1_536), "1.5 MiB");
    }

    #[test]
    fn table_shows_settings_and_figures() {
        let table = render_table(&load_report());
        let expected = [
            "tern bench against spawned server at http://127.0.0.1:8080: scenario parking-fine, 2,000 sessions, 20 s, ramp-up 10 s, think time 10 s, mock LLM 1000 ms, sqlite",
            "cold start            12.3 ms to first /ready",
            "idle memory           10.0 MiB",
            "turns                 3,456 in 20.4 s: 169.4 turns/s (181.5 turns/s after ramp-up)",
            "  end to end             1003.2    1005.2    1006.2    1007.2    1004.2",
            "  minus LLM                 3.2       5.2       6.2       7.2       4.2",
            "errors                0",
            "server memory         max 50.0 MiB, at end 40.0 MiB (20.5 KiB per session above idle)",
            "server CPU            mean 35.2%, max 60.0% of one core",
            "server threads        tokio-rt-worker 30.0% (2 threads, busiest 16.0%), sqlx-sqlite-wor 5.0% (1 thread, busiest 5.0%)",
        ];
        for line in expected {
            assert!(
                table.lines().any(|actual| actual == line),
                "missing line {line:?} in:\n{table}"
            );
        }
    }

    #[test]
    fn table_lists_errors_by_kind() {
        let mut report = load_report();
        report.run.errors.insert(
            "timeout".into(),
            ErrorCount {
                count: 1_200,
                example: "conversation `b-1-0`: timed out".into(),
            },
        );
        report.run.errors.insert(
            "http_status:503".into(),
            ErrorCount {
                count: 3,
                example: "503 Service Unavailable".into(),
            },
        );
        let table = render_table(&report);
        assert!(table.contains("errors                1,203\n"), "{table}");
        assert!(
            table.contains("  timeout             1,200 (first: conversation `b-1-0`: timed out)"),
            "{table}"
        );
        assert!(
            table.contains("  http_status:503     3 (first: 503 Service Unavailable)"),
            "{table}"
        );
    }

    #[test]
    fn table_without_llm_latency_shows_hint() {
        let mut report = load_report();
        report.run.latency_without_llm = None;
        assert!(render_table(&report).contains("(give --llm-latency-ms)"));
    }

    #[test]
    fn table_shows_blocks_of_single_conversation() {
        let mut report = load_report();
        report.settings.mode = "single-conversation".into();
        report.settings.turns = Some(1_000);
        report.run.blocks = vec![
            BlockSummary {
                first_turn: 1,
                latency: LatencySummary {
                    count: 500,
                    ..latency(2.0)
                },
            },
            BlockSummary {
                first_turn: 501,
                latency: LatencySummary {
                    count: 500,
                    ..latency(2.5)
                },
            },
        ];
        let table = render_table(&report);
        assert!(table.contains("1,000 turns in one conversation"), "{table}");
        assert!(table.contains("  turns 1-500               2.0"), "{table}");
        assert!(table.contains("  turns 501-1000            2.5"), "{table}");
    }

    #[test]
    fn table_ends_with_notes() {
        let mut report = load_report();
        report
            .notes
            .push("`psql` is not installed; database bytes are not measured".into());
        let table = render_table(&report);
        assert!(
            table.ends_with("note: `psql` is not installed; database bytes are not measured\n"),
            "{table}"
        );
    }

    #[test]
    fn database_figures_per_turn() {
        let before = Usage {
            bytes: Some(4_096),
            bytes_source: None,
            rows: Some(10),
        };
        let after = Usage {
            bytes: Some(104_096),
            bytes_source: None,
            rows: Some(1_010),
        };
        let figures = DatabaseFigures::new("sqlite", before, after, 100);
        assert_eq!(figures.bytes_per_turn, Some(1_000.0));
        assert_eq!(figures.rows_per_turn, Some(10.0));
        let unknown = DatabaseFigures::new("postgres", Usage::default(), Usage::default(), 100);
        assert_eq!(unknown.bytes_per_turn, None);
        let no_turns = DatabaseFigures::new(
            "sqlite",
            Usage {
                bytes: Some(1),
                ..Usage::default()
            },
            Usage {
                bytes: Some(2),
                ..Usage::default()
            },
            0,
        );
        assert_eq!(no_turns.bytes_per_turn, None);
    }

    #[test]
    fn report_serializes_to_json() {
        let json = serde_json::to_value(load_report()).unwrap();
        assert_eq!(json["run"]["turns"], 3_456);
        assert_eq!(json["startup"]["idle_rss_kib"], 10_240);
        assert_eq!(json["settings"]["sessions"], 2_000);
    }
}
