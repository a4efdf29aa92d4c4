//! Prometheus metrics: names and the recorder. Every counter carries only
//! low-cardinality labels (outcome, kind, action name).

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const TURNS: &str = "tern_turns_total";
pub const TURN_SECONDS: &str = "tern_turn_duration_seconds";
pub const TURN_SECONDS_WITHOUT_LLM: &str = "tern_turn_duration_without_llm_seconds";
pub const LLM_CALLS: &str = "tern_llm_calls_total";
pub const LLM_TOKENS: &str = "tern_llm_tokens_total";
pub const LLM_SECONDS: &str = "tern_llm_call_duration_seconds";
pub const ACTION_CALLS: &str = "tern_action_calls_total";
pub const ACTION_SECONDS: &str = "tern_action_call_duration_seconds";
pub const ERRORS: &str = "tern_errors_total";
pub const COMMANDS_DROPPED: &str = "tern_commands_dropped_total";
pub const CONFLICT_RETRIES: &str = "tern_commit_conflicts_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
];

/// Installs the global recorder once per process and returns its handle.
/// Later calls (tests start several servers) reuse the first recorder.
pub fn install() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("the bucket list is not empty");
            match builder.install_recorder() {
                Ok(handle) => handle,
                Err(error) => {
                    tracing::warn!(%error, "a metrics recorder is already installed; /metrics will be empty");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}
