//! The three ways of sending load: timed sessions with think time, a burst
//! of first messages sent at once, and one long conversation.
//!
//! Every loop ends by itself: sessions stop sending at the deadline, a
//! burst sends a fixed number of turns, and the long conversation stops at
//! its turn count or its time limit. Each request is bounded by the
//! client's timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngExt;

use crate::client::{TurnClient, TurnOutcome};
use crate::scenario::{Progress, ScenarioName, Script};
use crate::stats::{ErrorKind, Recorder};

/// Shared state of all sessions of a run.
pub struct LoadContext {
    pub client: TurnClient,
    pub recorder: Arc<Mutex<Recorder>>,
    pub scenario: ScenarioName,
    /// Mock LLM latency per call, subtracted for the "without LLM" figures.
    pub llm_latency: Option<Duration>,
    /// Prefix of conversation ids, unique per run so that runs against the
    /// same database do not continue each other's conversations.
    pub run_id: String,
}

impl LoadContext {
    fn recorder(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder
            .lock()
            .expect("the recorder lock is not poisoned")
    }
}

/// Timing of a timed load.
#[derive(Clone, Copy, Debug)]
pub struct LoadPlan {
    pub sessions: usize,
    pub start: Instant,
    pub deadline: Instant,
    pub ramp_up: Duration,
    pub think_time: Duration,
}

impl LoadPlan {
    /// When session `index` sends its first message: evenly spaced over the
    /// ramp-up.
    pub fn session_start(&self, index: usize) -> Instant {
        let fraction = index as f64 / self.sessions.max(1) as f64;
        self.start + self.ramp_up.mul_f64(fraction)
    }
}

/// Runs `plan.sessions` sessions until the deadline and waits for the
/// responses to their last turns.
pub async fn run_sessions(context: Arc<LoadContext>, plan: LoadPlan) {
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..plan.sessions {
        let context = Arc::clone(&context);
        tasks.spawn(async move { run_session(&context, plan, index).await });
    }
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "a session task failed");
        }
    }
}

async fn run_session(context: &LoadContext, plan: LoadPlan, index: usize) {
    tokio::time::sleep_until(plan.session_start(index).into()).await;
    let mut session = Session::new(context, index);
    while Instant::now() < plan.deadline {
        session.send_turn(context).await;
        let pause = jittered(plan.think_time);
        if Instant::now() + pause >= plan.deadline {
            break;
        }
        tokio::time::sleep(pause).await;
    }
}

/// Returns `think_time` with a uniform jitter of ±20%.
pub fn jittered(think_time: Duration) -> Duration {
    if think_time.is_zero() {
        return think_time;
    }
    think_time.mul_f64(rand::rng().random_range(0.8..=1.2))
}

/// One simulated user: a script and the conversation it is in.
struct Session {
    name: String,
    script: Script,
    /// Bumped after an error, so the next turn starts a fresh conversation
    /// instead of continuing one in an unknown state.
    conversation_number: usize,
    message_number: u64,
}

impl Session {
    fn new(context: &LoadContext, index: usize) -> Session {
        Session {
            name: format!("{}-{index}", context.run_id),
            script: Script::new(context.scenario, index),
            conversation_number: 0,
            message_number: 0,
        }
    }

    fn conversation_id(&self) -> String {
        format!("{}-{}", self.name, self.conversation_number)
    }

    /// Sends the script's next turn and records the outcome.
    async fn send_turn(&mut self, context: &LoadContext) {
        let mut planned = self.script.plan();
        self.message_number += 1;
        planned.body["message_id"] = format!("m{}", self.message_number).into();
        let conversation = self.conversation_id();
        let outcome = context.client.send(&conversation, &planned.body).await;
        let mut recorder = context.recorder();
        match outcome {
            TurnOutcome::Answered {
                reply,
                latency,
                answered,
            } => {
                recorder.record_turn(answered, latency, reply.llm_calls, context.llm_latency);
                let progress = self
                    .script
                    .observe(reply.flow.as_deref(), reply.step.as_deref());
                match progress {
                    Progress::Continue => {}
                    Progress::Finished => recorder.record_finished_conversation(),
                    Progress::Unexpected { step } => {
                        recorder.record_error(ErrorKind::UnexpectedReply, || {
                            format!(
                                "conversation `{conversation}` ({}): sent {}, expected step {:?}, got {step:?}",
                                self.script.conversation_name(),
                                planned.body,
                                planned.expect
                            )
                        });
                        self.conversation_number += 1;
                    }
                }
            }
            TurnOutcome::Failed { kind, message } => {
                recorder.record_error(kind, || format!("conversation `{conversation}`: {message}"));
                self.script.restart();
                self.conversation_number += 1;
            }
        }
    }
}

/// Sends the first turn of `turns` conversations at the same moment and
/// waits for every response. Returns the moment the turns were released.
pub async fn run_burst(context: Arc<LoadContext>, turns: usize) -> Instant {
    // All tasks are spawned and waiting before any is released, so the
    // requests leave together instead of as fast as tasks can be spawned.
    let barrier = Arc::new(tokio::sync::Barrier::new(turns + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..turns {
        let context = Arc::clone(&context);
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            let mut session = Session::new(&context, index);
            barrier.wait().await;
            session.send_turn(&context).await;
        });
    }
    barrier.wait().await;
    let released = Instant::now();
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "a burst task failed");
        }
    }
    released
}

/// Sends up to `turns` turns of one conversation back to back, stopping at
/// `deadline`. Returns the number of turns sent.
pub async fn run_single(context: Arc<LoadContext>, turns: usize, deadline: Instant) -> usize {
    let mut session = Session::new(&context, 0);
    let mut sent = 0;
    while sent < turns && Instant::now() < deadline {
        session.send_turn(&context).await;
        sent += 1;
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_spread_over_ramp_up() {
        let start = Instant::now();
        let plan = LoadPlan {
            sessions: 4,
            start,
            deadline: start + Duration::from_secs(60),
            ramp_up: Duration::from_secs(8),
            think_time: Duration::from_secs(10),
        };
        let offsets: Vec<Duration> = (0..4)
            .map(|index| plan.session_start(index) - start)
            .collect();
        assert_eq!(offsets, [0, 2, 4, 6].map(Duration::from_secs));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let think = Duration::from_secs(10);
        for _ in 0..1_000 {
            let pause = jittered(think);
            assert!(pause >= Duration::from_secs(8), "{pause:?}");
            assert!(pause <= Duration::from_secs(12), "{pause:?}");
        }
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
