//! Counting turns and errors and keeping latency histograms while the load
//! runs. Latencies are stored in microseconds in HDR histograms with three
//! significant digits, so percentiles are exact to 0.1%.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency a histogram stores; longer ones are clamped to it.
const MAX_TRACKED_MICROS: u64 = 3_600 * 1_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// Cause of a failed turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The TCP connection could not be opened.
    Connect,
    /// No complete response within the request timeout.
    Timeout,
    /// A response with a status outside 2xx.
    HttpStatus(u16),
    /// A 2xx response that is not JSON, has no messages, or is at a step
    /// the script does not expect.
    UnexpectedReply,
    /// Another transport failure, such as a connection closed mid-response.
    Request,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Connect => formatter.write_str("connect"),
            ErrorKind::Timeout => formatter.write_str("timeout"),
            ErrorKind::HttpStatus(status) => write!(formatter, "http_status:{status}"),
            ErrorKind::UnexpectedReply => formatter.write_str("unexpected_reply"),
            ErrorKind::Request => formatter.write_str("request"),
        }
    }
}

/// Count of one error kind and the first message seen, for diagnosis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorCount {
    pub count: u64,
    pub example: String,
}

/// Percentiles of one latency histogram, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(histogram: &Histogram<u64>) -> LatencySummary {
        if histogram.is_empty() {
            return LatencySummary::default();
        }
        let millis = |micros: u64| micros as f64 / 1_000.0;
        LatencySummary {
            count: histogram.len(),
            mean_ms: histogram.mean() / 1_000.0,
            p50_ms: millis(histogram.value_at_quantile(0.50)),
            p90_ms: millis(histogram.value_at_quantile(0.90)),
            p99_ms: millis(histogram.value_at_quantile(0.99)),
            max_ms: millis(histogram.max()),
        }
    }
}

/// Latency of one block of consecutive turns of the single-conversation
/// scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockSummary {
    /// Number of the block's first turn, counting from 1.
    pub first_turn: u64,
    pub latency: LatencySummary,
}

/// Everything counted during one run.
pub struct Recorder {
    start: Instant,
    latency: Histogram<u64>,
    latency_without_llm: Histogram<u64>,
    turns: u64,
    llm_calls: u64,
    conversations_finished: u64,
    errors: BTreeMap<ErrorKind, ErrorCount>,
    /// Responses received in each second since `start`.
    per_second: Vec<u64>,
    /// With `Some(size)`, latencies are also kept per block of `size` turns.
    block_size: Option<u64>,
    blocks: Vec<Histogram<u64>>,
    last_answer: Option<Instant>,
}

impl Recorder {
    pub fn new(start: Instant, block_size: Option<usize>) -> Recorder {
        Recorder {
            start,
            latency: new_histogram(),
            latency_without_llm: new_histogram(),
            turns: 0,
            llm_calls: 0,
            conversations_finished: 0,
            errors: BTreeMap::new(),
            per_second: Vec::new(),
            block_size: block_size.map(|size| size as u64),
            blocks: Vec::new(),
            last_answer: None,
        }
    }

    /// Records a turn that got a response. `llm_latency` is the mock LLM's
    /// configured latency, subtracted once per LLM call for the "without
    /// LLM" figure.
    pub fn record_turn(
        &mut self,
        answered: Instant,
        latency: Duration,
        llm_calls: u64,
        llm_latency: Option<Duration>,
    ) {
        let micros = clamp_micros(latency);
        self.latency.saturating_record(micros);
        if let Some(per_call) = llm_latency {
            let llm_total = per_call.saturating_mul(u32::try_from(llm_calls).unwrap_or(u32::MAX));
            self.latency_without_llm
                .saturating_record(clamp_micros(latency.saturating_sub(llm_total)));
        }
        self.turns += 1;
        self.llm_calls += llm_calls;
        self.count_in_second(answered);
        if let Some(size) = self.block_size {
            let block = ((self.turns - 1) / size) as usize;
            if self.blocks.len() <= block {
                self.blocks.push(new_histogram());
            }
            self.blocks[block].saturating_record(micros);
        }
        self.last_answer = Some(self.last_answer.map_or(answered, |last| last.max(answered)));
    }

    pub fn record_finished_conversation(&mut self) {
        self.conversations_finished += 1;
    }

    pub fn record_error(&mut self, kind: ErrorKind, message: impl FnOnce() -> String) {
        match self.errors.get_mut(&kind) {
            Some(entry) => entry.count += 1,
            None => {
                let example = message();
                tracing::debug!(kind = %kind, %example, "first error of this kind");
                self.errors.insert(kind, ErrorCount { count: 1, example });
            }
        }
    }

    fn count_in_second(&mut self, answered: Instant) {
        let second = answered.saturating_duration_since(self.start).as_secs() as usize;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, 0);
        }
        self.per_second[second] += 1;
    }

    pub fn turns(&self) -> u64 {
        self.turns
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().map(|entry| entry.count).sum()
    }

    /// p99 so far in milliseconds, for the progress bar.
    pub fn p99_ms(&self) -> f64 {
        if self.latency.is_empty() {
            0.0
        } else {
            self.latency.value_at_quantile(0.99) as f64 / 1_000.0
        }
    }

    pub fn summary(&self) -> RunSummary {
        let elapsed = self.last_answer.map_or(Duration::ZERO, |last| {
            last.saturating_duration_since(self.start)
        });
        let block_size = self.block_size.unwrap_or(0);
        RunSummary {
            turns: self.turns,
            elapsed_secs: elapsed.as_secs_f64(),
            turns_per_second: rate(self.turns, elapsed),
            conversations_finished: self.conversations_finished,
            llm_calls: self.llm_calls,
            llm_calls_per_turn: if self.turns == 0 {
                0.0
            } else {
                self.llm_calls as f64 / self.turns as f64
            },
            latency: LatencySummary::of(&self.latency),
            latency_without_llm: (!self.latency_without_llm.is_empty())
                .then(|| LatencySummary::of(&self.latency_without_llm)),
            errors: self
                .errors
                .iter()
                .map(|(kind, count)| (kind.to_string(), count.clone()))
                .collect(),
            turns_per_second_timeline: self.per_second.clone(),
            blocks: self
                .blocks
                .iter()
                .enumerate()
                .map(|(index, histogram)| BlockSummary {
                    first_turn: index as u64 * block_size + 1,
                    latency: LatencySummary::of(histogram),
                })
                .collect(),
        }
    }
}

/// The client-side figures of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Turns with a 2xx JSON response, including those whose reply was
    /// unexpected.
    pub turns: u64,
    /// From the start of the load to the last response.
    pub elapsed_secs: f64,
    pub turns_per_second: f64,
    pub conversations_finished: u64,
    pub llm_calls: u64,
    pub llm_calls_per_turn: f64,
    pub latency: LatencySummary,
    /// Latency minus the mock LLM's configured latency per LLM call; `None`
    /// when that latency is not known.
    pub latency_without_llm: Option<LatencySummary>,
    pub errors: BTreeMap<String, ErrorCount>,
    /// Responses received in each second of the run.
    pub turns_per_second_timeline: Vec<u64>,
    /// Single-conversation scenario only: latency per block of turns.
    pub blocks: Vec<BlockSummary>,
}

impl RunSummary {
    pub fn error_total(&self) -> u64 {
        self.errors.values().map(|entry| entry.count).sum()
    }

    /// Mean turns per second over the whole seconds in `from..to` of the
    /// timeline, such as the time after the ramp-up.
    pub fn mean_rate_between(&self, from: Duration, to: Duration) -> Option<f64> {
        let first = from.as_secs_f64().ceil() as usize;
        let last = (to.as_secs_f64().floor() as usize).min(self.turns_per_second_timeline.len());
        if last <= first {
            return None;
        }
        let window = &self.turns_per_second_timeline[first..last];
        Some(window.iter().sum::<u64>() as f64 / window.len() as f64)
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, SIGNIFICANT_DIGITS)
        .expect("the histogram bounds are valid")
}

fn clamp_micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TRACKED_MICROS)
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        0.0
    } else {
        count as f64 / elapsed.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    fn recorder_with(latencies_ms: &[u64]) -> (Recorder, Instant) {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, None);
        for (index, latency) in latencies_ms.iter().enumerate() {
            recorder.record_turn(
                start + ms(index as u64 * 10),
                ms(*latency),
                1,
                Some(ms(1_000)),
            );
        }
        (recorder, start)
    }

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected.abs() * 0.001 + 1e-9
    }

    #[test]
    fn percentiles_of_uniform_latencies() {
        let latencies: Vec<u64> = (1..=1_000).collect();
        let (recorder, _) = recorder_with(&latencies);
        let latency = recorder.summary().latency;
        assert_eq!(latency.count, 1_000);
        assert!(close(latency.p50_ms, 500.0), "p50 {}", latency.p50_ms);
        assert!(close(latency.p90_ms, 900.0), "p90 {}", latency.p90_ms);
        assert!(close(latency.p99_ms, 990.0), "p99 {}", latency.p99_ms);
        assert!(close(latency.max_ms, 1_000.0), "max {}", latency.max_ms);
        assert!(close(latency.mean_ms, 500.5), "mean {}", latency.mean_ms);
    }

    #[test]
    fn empty_histogram_summary_is_zero() {
        let (recorder, _) = recorder_with(&[]);
        let summary = recorder.summary();
        assert_eq!(summary.latency, LatencySummary::default());
        assert_eq!(summary.turns_per_second, 0.0);
        assert_eq!(summary.llm_calls_per_turn, 0.0);
        assert_eq!(summary.latency_without_llm, None);
    }

    #[test]
    fn llm_latency_subtracted_per_call() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, None);
        recorder.record_turn(start, ms(2_300), 2, Some(ms(1_000)));
        let without = recorder.summary().latency_without_llm.unwrap();
        assert!(close(without.max_ms, 300.0), "{}", without.max_ms);
    }

    #[test]
    fn llm_latency_subtraction_floors_at_zero() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, None);
        recorder.record_turn(start, ms(900), 1, Some(ms(1_000)));
        let without = recorder.summary().latency_without_llm.unwrap();
        assert!(without.max_ms <= 0.002, "{}", without.max_ms);
    }

    #[test]
    fn no_llm_latency_means_no_second_histogram() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, None);
        recorder.record_turn(start, ms(5), 0, None);
        assert_eq!(recorder.summary().latency_without_llm, None);
    }

    #[test]
    fn llm_calls_per_turn_is_mean() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, None);
        recorder.record_turn(start, ms(5), 1, None);
        recorder.record_turn(start, ms(5), 2, None);
        let summary = recorder.summary();
        assert_eq!(summary.llm_calls, 3);
        assert!(close(summary.llm_calls_per_turn, 1.5));
    }

    #[test]
    fn errors_counted_by_kind_with_first_example() {
        let (mut recorder, _) = recorder_with(&[]);
        recorder.record_error(ErrorKind::HttpStatus(503), || "first".into());
        recorder.record_error(ErrorKind::HttpStatus(503), || "second".into());
        recorder.record_error(ErrorKind::Timeout, || "slow".into());
        let errors = recorder.summary().errors;
        assert_eq!(
            errors["http_status:503"],
            ErrorCount {
                count: 2,
                example: "first".into()
            }
        );
        assert_eq!(errors["timeout"].count, 1);
        assert_eq!(recorder.error_total(), 3);
    }

    #[test]
    fn error_kind_names() {
        assert_eq!(ErrorKind::Connect.to_string(), "connect");
        assert_eq!(ErrorKind::Timeout.to_string(), "timeout");
        assert_eq!(ErrorKind::HttpStatus(429).to_string(), "http_status:429");
        assert_eq!(ErrorKind::UnexpectedReply.to_string(), "unexpected_reply");
        assert_eq!(ErrorKind::Request.to_string(), "request");
    }

    #[test]
    fn rate_uses_time_to_last_answer() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, None);
        for index in 0..=100u64 {
            recorder.record_turn(start + ms(index * 20), ms(1), 0, None);
        }
        let summary = recorder.summary();
        assert!(close(summary.elapsed_secs, 2.0), "{}", summary.elapsed_secs);
        assert!(
            close(summary.turns_per_second, 50.5),
            "{}",
            summary.turns_per_second
        );
    }

    #[test]
    fn timeline_counts_turns_per_second() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, None);
        for offset in [100, 900, 1_100, 2_500, 2_600, 2_700] {
            recorder.record_turn(start + ms(offset), ms(1), 0, None);
        }
        let summary = recorder.summary();
        assert_eq!(summary.turns_per_second_timeline, vec![2, 1, 3]);
        assert_eq!(summary.mean_rate_between(ms(1_000), ms(3_000)), Some(2.0));
        assert_eq!(summary.mean_rate_between(ms(2_500), ms(2_900)), None);
    }

    #[test]
    fn blocks_split_by_turn_count() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, Some(3));
        for latency in [10, 10, 10, 20, 20, 20, 30] {
            recorder.record_turn(start, ms(latency), 0, None);
        }
        let blocks = recorder.summary().blocks;
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[1].first_turn, 4);
        assert!(
            close(blocks[1].latency.p50_ms, 20.0),
            "{}",
            blocks[1].latency.p50_ms
        );
        assert_eq!(blocks[2].latency.count, 1);
    }

    #[test]
    fn latency_above_limit_is_clamped() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, None);
        recorder.record_turn(start, Duration::from_secs(10_000), 0, None);
        let max = recorder.summary().latency.max_ms;
        assert!(close(max, 3_600_000.0), "{max}");
    }
}
