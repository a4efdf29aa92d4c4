//! Answers and conversation repair: filling the asked slot (with re-asks
//! and confirmation), corrections, cancelling, resuming a paused flow,
//! clarification, hand-over, and action results.

use serde_json::Value;
use tern_flow::{Button, Collect, StepKind};

use super::Turn;
use super::run::shown;
use crate::coerce::coerce_and_validate;
use crate::command::ActionOutcome;
use crate::event::Event;
use crate::responses::fill;
use crate::state::{Phase, Waiting};

/// Invalid values accepted before giving up, when a step sets no
/// `max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

impl<'a> Turn<'a> {
    /// Takes a value for the collect step being asked.
    pub(super) fn fill_asked(&mut self, collect: &'a Collect, value: Value) {
        match coerce_and_validate(collect, &value) {
            Ok(typed) if collect.confirm => {
                self.ask_confirmation(&typed);
                self.state.waiting = Some(Waiting::Confirmation {
                    slot: collect.store_as.clone(),
                    value: typed,
                });
            }
            Ok(typed) => self.store_answer(collect, typed),
            Err(reason) => self.invalid_answer(collect, &value, &reason),
        }
    }

    pub(super) fn ask_confirmation(&mut self, value: &Value) {
        let text = fill(&self.responses().confirm_value, &[("value", &shown(value))]);
        let buttons = self.yes_no_buttons();
        self.say_with_buttons(text, buttons);
    }

    fn store_answer(&mut self, collect: &Collect, value: Value) {
        let frame = self.top();
        if !frame.answered.contains(&frame.step) {
            let step = frame.step.clone();
            frame.answered.push(step);
        }
        if collect.send_confirmation {
            let values = [
                ("slot", collect.store_as.as_str()),
                ("value", &shown(&value)),
            ];
            let text = fill(&self.responses().value_saved, &values);
            self.say(text);
        }
        self.assign(&collect.store_as, value);
        self.state.waiting = None;
        let frame = self.top();
        frame.phase = Phase::Leave;
        frame.attempts = 0;
    }

    fn invalid_answer(&mut self, collect: &'a Collect, value: &Value, reason: &str) {
        self.reject(&collect.store_as, value, reason);
        let max = collect.validation.as_ref().and_then(|v| v.max_attempts);
        let attempts = {
            let frame = self.top();
            frame.attempts += 1;
            frame.attempts
        };
        if attempts >= max.unwrap_or(DEFAULT_MAX_ATTEMPTS) {
            self.give_up(collect);
            return;
        }
        let question = self.question(collect);
        let custom = collect.validation.as_ref().and_then(|v| v.message.as_ref());
        let text = match custom {
            Some(message) => message.render(&self.state.slots),
            None => fill(
                &self.responses().invalid_value,
                &[("reason", reason), ("question", &question)],
            ),
        };
        self.say(text);
        self.state.waiting = Some(Waiting::Slot);
    }

    /// After too many invalid answers: `on_max_attempts`, or cancel the flow.
    fn give_up(&mut self, collect: &Collect) {
        self.state.waiting = None;
        let target = collect
            .validation
            .as_ref()
            .and_then(|v| v.on_max_attempts.as_ref());
        if let Some(target) = target {
            let target = target.value.clone();
            self.top().phase = Phase::Leave;
            self.go_to(target);
            return;
        }
        let flow = self.top().flow.clone();
        let name = self
            .flow(&flow)
            .map(|f| f.name.clone())
            .unwrap_or(flow.clone());
        let values = [("slot", collect.store_as.as_str()), ("flow", name.as_str())];
        let text = fill(&self.responses().too_many_attempts, &values);
        self.say(text);
        self.remove_top("too many invalid answers");
    }

    pub(super) fn answer_confirmation(&mut self, slot: &str, value: Value, confirmed: bool) {
        let Some(collect) = self.asked_collect() else {
            self.state.waiting = None;
            return;
        };
        if confirmed {
            self.store_answer(collect, value);
            return;
        }
        self.reject(slot, &value, "the user did not confirm the value");
        self.state.slots.shift_remove(slot);
        self.ask(collect);
    }

    /// Changes an earlier answer. In the active flow, the flow goes back to
    /// the step after that question, so later steps (branches, actions) run
    /// again with the new value. Questions whose slots are still filled are
    /// not asked again.
    pub(super) fn correct(&mut self, frame_index: usize, collect: &Collect, value: Value) {
        let slot = collect.store_as.clone();
        self.events.push(Event::SlotCorrected {
            slot: slot.clone(),
            value: value.clone(),
        });
        self.state.slots.insert(slot.clone(), value.clone());
        let text = fill(
            &self.responses().slot_corrected,
            &[("slot", &slot), ("value", &shown(&value))],
        );
        self.say(text);
        let is_active = frame_index + 1 == self.state.stack.len();
        if !is_active {
            // NOTE: a paused or calling flow only gets the new value; its
            // later steps run again only if it reaches them anew.
            return;
        }
        let frame = &self.state.stack[frame_index];
        let Some(flow) = self.flow(&frame.flow) else {
            return;
        };
        let collect_step = flow.steps.iter().find(|step| match &step.kind {
            StepKind::Collect(c) => c.store_as == slot,
            _ => false,
        });
        let Some(collect_step) = collect_step else {
            return;
        };
        let before_current = flow.step_position(&collect_step.id) < flow.step_position(&frame.step);
        let same_step = collect_step.id == frame.step;
        if before_current || same_step {
            let frame = self.top();
            frame.step = collect_step.id.clone();
            frame.phase = Phase::Leave;
            frame.attempts = 0;
            frame.answered.clear();
            self.state.waiting = None;
        }
    }

    pub(super) fn cancel_active(&mut self) {
        if self.state.stack.is_empty() {
            let text = self.responses().nothing_to_cancel.clone();
            self.say(text);
            return;
        }
        self.state.waiting = None;
        // A called flow is part of its caller: cancel up to the flow the
        // user started.
        while self
            .state
            .stack
            .last()
            .is_some_and(|f| f.origin == crate::state::Origin::Call)
        {
            self.remove_top_silently("cancelled by the user");
        }
        let Some(top) = self.state.stack.last() else {
            return;
        };
        let name = self
            .flow(&top.flow)
            .map(|f| f.name.clone())
            .unwrap_or(top.flow.clone());
        let text = fill(&self.responses().flow_cancelled, &[("flow", &name)]);
        self.say(text);
        self.remove_top("cancelled by the user");
    }

    /// Cancels the active frame and lets the one below continue.
    pub(super) fn cancel_top(&mut self, reason: &str) {
        self.remove_top(reason);
    }

    fn remove_top(&mut self, reason: &str) {
        let Some(frame) = self.state.stack.pop() else {
            return;
        };
        self.events.push(Event::FlowCancelled {
            flow: frame.flow.clone(),
            reason: reason.into(),
        });
        self.after_frame_removed(frame, false);
    }

    fn remove_top_silently(&mut self, reason: &str) {
        if let Some(frame) = self.state.stack.pop() {
            self.events.push(Event::FlowCancelled {
                flow: frame.flow.clone(),
                reason: reason.into(),
            });
            if let Some(parent) = self.state.stack.last_mut() {
                parent.assigned.extend(frame.assigned);
            }
        }
    }

    pub(super) fn answer_resume_offer(&mut self, flow: &str, answer: Option<bool>) {
        self.state.waiting = None;
        let Some(top) = self.state.stack.last() else {
            return;
        };
        if top.flow != flow {
            return;
        }
        match answer {
            Some(false) => {
                let name = self
                    .flow(flow)
                    .map(|f| f.name.clone())
                    .unwrap_or(flow.to_string());
                let text = fill(&self.responses().flow_cancelled, &[("flow", &name)]);
                self.say(text);
                self.remove_top("the user chose not to resume it");
            }
            Some(true) => {
                let name = self
                    .flow(flow)
                    .map(|f| f.name.clone())
                    .unwrap_or(flow.to_string());
                let text = fill(&self.responses().flow_resumed, &[("flow", &name)]);
                self.say(text);
                self.events.push(Event::FlowResumed {
                    flow: flow.to_string(),
                });
                self.resume_top();
            }
            // Any other message resumes the paused flow implicitly, so a
            // value for its question still lands.
            None => {
                self.events.push(Event::FlowResumed {
                    flow: flow.to_string(),
                });
                self.resume_top();
            }
        }
    }

    fn resume_top(&mut self) {
        let frame = self.top();
        if frame.phase == Phase::Asking {
            frame.phase = Phase::Enter;
        }
    }

    pub(super) fn clarify(&mut self, flows: &[String]) -> bool {
        let candidates: Vec<String> = flows
            .iter()
            .filter(|id| {
                self.flow(id)
                    .is_some_and(|f| f.user_startable() && super::guard_holds(f, &self.state))
            })
            .cloned()
            .collect();
        if candidates.len() < 2 {
            return false;
        }
        let names: Vec<String> = candidates
            .iter()
            .filter_map(|id| self.flow(id).map(|f| f.name.clone()))
            .collect();
        let buttons = names
            .iter()
            .map(|n| Button {
                title: n.clone(),
                payload: n.clone(),
            })
            .collect();
        let text = fill(&self.responses().clarify, &[("flows", &names.join(", "))]);
        self.say_with_buttons(text, buttons);
        self.state.waiting = Some(Waiting::Clarification { flows: candidates });
        true
    }

    /// Stops all flows and marks the conversation as handed to a human.
    pub(super) fn hand_over(&mut self, reason: Option<String>, message: Option<String>) {
        let text = message.unwrap_or_else(|| self.responses().handoff.clone());
        self.say(text);
        while let Some(frame) = self.state.stack.pop() {
            self.events.push(Event::FlowCancelled {
                flow: frame.flow,
                reason: "handed over".into(),
            });
        }
        self.events.push(Event::HandoffRequested { reason });
        self.state.waiting = None;
        self.state.handed_off = true;
    }

    pub(super) fn apply_action_result(&mut self, outcome: ActionOutcome) {
        let Some(Waiting::Action { action }) = self.state.waiting.take() else {
            tracing::warn!("action result received while no action was awaited; ignored");
            return;
        };
        let Some(frame) = self.state.stack.last() else {
            return;
        };
        let step = self.flow(&frame.flow).and_then(|f| f.step(&frame.step));
        let Some(step) = step else { return };
        let StepKind::Action(action_step) = &step.kind else {
            return;
        };
        match outcome {
            ActionOutcome::Success { result } => {
                self.events.push(Event::ActionSucceeded {
                    action: action.clone(),
                });
                self.assign(&action_step.result_slot, result);
                self.top().phase = Phase::Leave;
            }
            ActionOutcome::Failure { error } => {
                self.events.push(Event::ActionFailed {
                    action: action.clone(),
                    error,
                });
                match &step.otherwise {
                    Some(target) => self.go_to(target.value.clone()),
                    None => self.action_failed_without_else(),
                }
            }
        }
    }

    fn action_failed_without_else(&mut self) {
        let text = self.responses().internal_error.clone();
        self.say(text);
        self.remove_top("an action failed and the step has no `else`");
    }
}
