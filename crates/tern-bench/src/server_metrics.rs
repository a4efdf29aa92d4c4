//! The server's own view of the load, from its Prometheus `/metrics` read
//! before and after: where the time of a turn goes (LLM, actions, the
//! rest) and the errors it counted.

use std::collections::HashMap;

use serde::Serialize;

/// Sums of each metric over all its label sets, from one scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    totals: HashMap<String, f64>,
}

impl Scrape {
    /// Parses the Prometheus text format, adding up the samples of each
    /// name across labels. Comment lines and unreadable lines are skipped.
    pub fn parse(text: &str) -> Scrape {
        let mut totals = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = match line.rsplit_once(' ') {
                Some(parts) => parts,
                None => continue,
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let name = series.split('{').next().unwrap_or(series).trim();
            *totals.entry(name.to_string()).or_insert(0.0) += value;
        }
        Scrape { totals }
    }

    fn get(&self, name: &str) -> f64 {
        self.totals.get(name).copied().unwrap_or(0.0)
    }
}

/// Reads `/metrics` of the server at `base_url`.
pub async fn scrape(http: &reqwest::Client, base_url: &str) -> Result<Scrape, String> {
    let url = format!("{base_url}/metrics");
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|error| format!("cannot read {url}: {error}"))?;
    if !response.status().is_success() {
        return Err(format!("cannot read {url}: status {}", response.status()));
    }
    let text = response
        .text()
        .await
        .map_err(|error| format!("cannot read {url}: {error}"))?;
    Ok(Scrape::parse(&text))
}

/// Server-side counts and mean durations in milliseconds during the run,
/// from the difference of two scrapes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ServerView {
    pub turns: u64,
    pub turn_mean_ms: Option<f64>,
    pub turn_without_llm_mean_ms: Option<f64>,
    pub llm_calls: u64,
    pub llm_call_mean_ms: Option<f64>,
    pub action_calls: u64,
    pub action_call_mean_ms: Option<f64>,
    pub errors: u64,
    pub commit_conflicts: u64,
}

impl ServerView {
    pub fn between(before: &Scrape, after: &Scrape) -> ServerView {
        let delta = |name: &str| (after.get(name) - before.get(name)).max(0.0);
        let mean_ms = |histogram: &str| {
            let count = delta(&format!("{histogram}_count"));
            (count > 0.0).then(|| delta(&format!("{histogram}_sum")) / count * 1_000.0)
        };
        ServerView {
            turns: delta("tern_turns_total") as u64,
            turn_mean_ms: mean_ms("tern_turn_duration_seconds"),
            turn_without_llm_mean_ms: mean_ms("tern_turn_duration_without_llm_seconds"),
            llm_calls: delta("tern_llm_calls_total") as u64,
            llm_call_mean_ms: mean_ms("tern_llm_call_duration_seconds"),
            action_calls: delta("tern_action_calls_total") as u64,
            action_call_mean_ms: mean_ms("tern_action_call_duration_seconds"),
            errors: delta("tern_errors_total") as u64,
            commit_conflicts: delta("tern_commit_conflicts_total") as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# TYPE tern_turns_total counter
tern_turns_total{outcome=\"ok\"} 10
tern_turn_duration_seconds_sum 5
tern_turn_duration_seconds_count 10
";

    const AFTER: &str = "\
# TYPE tern_turns_total counter
tern_turns_total{outcome=\"ok\"} 108
tern_turns_total{outcome=\"failed\"} 2
tern_turn_duration_seconds_bucket{le=\"+Inf\"} 110
tern_turn_duration_seconds_sum 105
tern_turn_duration_seconds_count 110
tern_llm_calls_total{purpose=\"understand\",outcome=\"ok\"} 100
tern_llm_call_duration_seconds_sum 100.5
tern_llm_call_duration_seconds_count 100
tern_errors_total{kind=\"store\"} 3
not a metric line
";

    #[test]
    fn labels_summed_per_name() {
        let scrape = Scrape::parse(AFTER);
        assert_eq!(scrape.get("tern_turns_total"), 110.0);
        assert_eq!(scrape.get("tern_turn_duration_seconds_count"), 110.0);
        assert_eq!(scrape.get("missing"), 0.0);
    }

    #[test]
    fn view_is_difference_of_scrapes() {
        let view = ServerView::between(&Scrape::parse(BEFORE), &Scrape::parse(AFTER));
        assert_eq!(view.turns, 100);
        assert_eq!(view.turn_mean_ms, Some(1_000.0));
        assert_eq!(view.llm_calls, 100);
        let llm_mean = view.llm_call_mean_ms.unwrap();
        assert!((llm_mean - 1_005.0).abs() < 1e-6, "{llm_mean}");
        assert_eq!(view.errors, 3);
        assert_eq!(view.action_calls, 0);
        assert_eq!(view.action_call_mean_ms, None);
    }
}
