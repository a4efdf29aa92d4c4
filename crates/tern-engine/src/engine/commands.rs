//! Applying one message's commands to the state, in a fixed order:
//! judgements, hand-over, cancel, answers to what was asked, new flows,
//! slot values, then the conversational commands.

use serde_json::Value;
use tern_flow::{Collect, Flow, StepKind};

use super::{Turn, guard_holds};
use crate::command::Command;
use crate::event::Event;
use crate::responses::fill;
use crate::state::{Origin, Phase, Waiting};

impl<'a> Turn<'a> {
    pub(super) fn apply(&mut self, commands: &[Command]) {
        let mut effective = false;
        let messages_before = self.messages.len();
        for command in commands {
            if let Command::Judge { condition, value } = command {
                self.judgements.insert(condition.clone(), *value);
            }
        }
        if let Some(reason) = commands.iter().find_map(handoff_reason) {
            self.hand_over(reason, None);
            return;
        }
        let cancelled = commands.contains(&Command::Cancel);
        if cancelled {
            self.cancel_active();
            effective = true;
        } else {
            // After a cancel, what is now awaited (such as an offer to
            // resume a paused flow) was asked by this very turn, so the
            // message cannot answer it.
            effective |= self.answer_waiting(commands);
        }
        effective |= self.start_flows(commands);
        effective |= self.set_slots(commands);
        effective |= self.conversational(commands, effective);
        if !effective {
            // A refusal (such as a guarded flow) already answered the user.
            if self.messages.len() == messages_before {
                let text = self.responses().not_understood.clone();
                self.say(text);
            }
            self.repeat_question();
        }
    }

    /// Commands that answer the pending question (a confirmation, a resume
    /// offer, a yes/no collect). Returns whether one applied.
    fn answer_waiting(&mut self, commands: &[Command]) -> bool {
        let yes_no = commands.iter().find_map(|c| match c {
            Command::Affirm => Some(true),
            Command::Deny => Some(false),
            _ => None,
        });
        match self.state.waiting.clone() {
            Some(Waiting::Confirmation { slot, value }) => match yes_no {
                Some(answer) => {
                    self.answer_confirmation(&slot, value, answer);
                    true
                }
                None => false,
            },
            // A new request leaves the paused flow paused: the new flow
            // interrupts it again instead of resuming it for no turn.
            Some(Waiting::ResumeOffer { .. }) if yes_no.is_none() && requests_flow(commands) => {
                self.state.waiting = None;
                false
            }
            Some(Waiting::ResumeOffer { flow }) => {
                self.answer_resume_offer(&flow, yes_no);
                yes_no.is_some()
            }
            Some(Waiting::AnythingElse) => {
                self.state.waiting = None;
                // A yes that comes with a request ("yes, renew my permit")
                // starts that flow instead of asking what.
                let reply = match yes_no {
                    _ if requests_flow(commands) => return false,
                    Some(true) => self.responses().how_can_i_help.clone(),
                    Some(false) => self.responses().goodbye.clone(),
                    None => return false,
                };
                self.say(reply);
                true
            }
            Some(Waiting::Clarification { .. }) => {
                // The question that was open before the clarification is
                // open again.
                self.state.waiting = self.asked_collect().map(|_| Waiting::Slot);
                false
            }
            Some(Waiting::Slot) => match (yes_no, self.asked_collect()) {
                (Some(answer), Some(collect))
                    if collect.slot_type == tern_flow::SlotType::Boolean =>
                {
                    self.fill_asked(collect, Value::Bool(answer));
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Returns the collect step whose question is open, if any.
    pub(super) fn asked_collect(&self) -> Option<&'a Collect> {
        let frame = self
            .state
            .stack
            .last()
            .filter(|f| f.phase == Phase::Asking)?;
        match &self.flow(&frame.flow)?.step(&frame.step)?.kind {
            StepKind::Collect(collect) => Some(collect),
            _ => None,
        }
    }

    fn start_flows(&mut self, commands: &[Command]) -> bool {
        let requested: Vec<&str> = commands
            .iter()
            .filter_map(|c| match c {
                Command::StartFlow { flow } => Some(flow.as_str()),
                _ => None,
            })
            .collect();
        let mut accepted = Vec::new();
        for flow_id in requested {
            if let Some(flow) = self.startable(flow_id)
                && !accepted.iter().any(|f: &&Flow| f.id == flow.id)
            {
                accepted.push(flow);
            }
        }
        if accepted.is_empty() {
            return false;
        }
        if matches!(self.state.waiting, Some(Waiting::ResumeOffer { .. })) {
            self.state.waiting = None;
        }
        // The first request runs first, so push in reverse.
        let origin = if self.state.stack.is_empty() {
            Origin::User
        } else {
            Origin::Interruption
        };
        if origin == Origin::Interruption {
            let paused = self
                .state
                .stack
                .last()
                .map(|f| f.flow.clone())
                .unwrap_or_default();
            self.events.push(Event::FlowInterrupted { flow: paused });
            self.state.waiting = None;
        }
        for flow in accepted.iter().rev() {
            self.push_frame(&flow.id, origin);
        }
        true
    }

    /// Checks a start request against the flows; reports why it is refused.
    fn startable(&mut self, flow_id: &str) -> Option<&'a Flow> {
        let command = Command::StartFlow {
            flow: flow_id.to_string(),
        };
        let Some(flow) = self.flow(flow_id) else {
            self.ignore(&command, &format!("no flow `{flow_id}` exists"));
            return None;
        };
        if !flow.user_startable() {
            self.ignore(
                &command,
                "the flow has no trigger intents, so only flows can start it",
            );
            return None;
        }
        if self.state.stack.iter().any(|f| f.flow == flow_id) {
            self.ignore(&command, "the flow is already running");
            return None;
        }
        if !guard_holds(flow, &self.state) {
            self.ignore(&command, "the flow's guard does not hold");
            let text = fill(&self.responses().flow_unavailable, &[("flow", &flow.name)]);
            self.say(text);
            return None;
        }
        Some(flow)
    }

    fn set_slots(&mut self, commands: &[Command]) -> bool {
        let mut effective = false;
        for command in commands {
            if let Command::SetSlot { slot, value } = command {
                effective |= self.set_slot(command, slot, value);
            }
        }
        effective
    }

    /// Routes one slot value: the answer to the question asked, a value for
    /// a later question, or a correction of an earlier answer.
    fn set_slot(&mut self, command: &Command, slot: &str, value: &Value) -> bool {
        if let Some(collect) = self.asked_collect()
            && (collect.store_as == slot || collect.slot.value == slot)
        {
            self.fill_asked(collect, value.clone());
            return true;
        }
        if let Some(Waiting::Confirmation { slot: pending, .. }) = &self.state.waiting
            && pending == slot
            && let Some(collect) = self.asked_collect()
        {
            self.fill_asked(collect, value.clone());
            return true;
        }
        let Some((frame_index, collect)) = self.collecting_frame(slot) else {
            self.ignore(command, &format!("no active flow collects slot `{slot}`"));
            return false;
        };
        let typed = match crate::coerce::coerce_and_validate(collect, value) {
            Ok(typed) => typed,
            Err(reason) => {
                self.reject(&collect.store_as, value, &reason);
                let values = [("reason", reason.as_str()), ("question", "")];
                let text = fill(&self.responses().invalid_value, &values);
                self.say(text.trim_end().to_string());
                return false;
            }
        };
        let filled = self
            .state
            .slots
            .get(&collect.store_as)
            .is_some_and(|v| !v.is_null());
        if filled {
            self.correct(frame_index, collect, typed);
        } else {
            self.prefill(frame_index, &collect.store_as, typed);
        }
        true
    }

    /// Finds the topmost frame whose flow has a collect step for `slot`.
    fn collecting_frame(&self, slot: &str) -> Option<(usize, &'a Collect)> {
        self.state
            .stack
            .iter()
            .enumerate()
            .rev()
            .find_map(|(index, frame)| {
                let flow = self.flow(&frame.flow)?;
                find_collect(flow, slot).map(|collect| (index, collect))
            })
    }

    fn prefill(&mut self, frame_index: usize, slot: &str, value: Value) {
        self.events.push(Event::SlotSet {
            slot: slot.to_string(),
            value: value.clone(),
        });
        self.state.slots.insert(slot.to_string(), value);
        let frame = &mut self.state.stack[frame_index];
        if !frame.assigned.iter().any(|s| s == slot) {
            frame.assigned.push(slot.to_string());
        }
    }

    pub(super) fn reject(&mut self, slot: &str, value: &Value, reason: &str) {
        self.events.push(Event::SlotRejected {
            slot: slot.to_string(),
            value: value.clone(),
            reason: reason.to_string(),
        });
    }

    fn conversational(&mut self, commands: &[Command], effective: bool) -> bool {
        let mut handled = false;
        for command in commands {
            let text = match command {
                Command::Greet => &self.responses().greeting,
                Command::OutOfScope => &self.responses().out_of_scope,
                Command::NotUnderstood => &self.responses().not_understood,
                Command::Clarify { flows } if !effective => {
                    handled |= self.clarify(flows);
                    continue;
                }
                _ => continue,
            };
            let text = text.clone();
            self.say(text);
            handled = true;
        }
        if handled && !effective {
            self.repeat_question();
        }
        handled
    }

    /// Repeats the pending question after a message that did not answer it.
    pub(super) fn repeat_question(&mut self) {
        match self.state.waiting.clone() {
            Some(Waiting::Slot) => {
                if let Some(collect) = self.asked_collect() {
                    let question = self.question(collect);
                    self.say(question);
                }
            }
            Some(Waiting::Confirmation { value, .. }) => self.ask_confirmation(&value),
            Some(Waiting::ResumeOffer { flow }) => {
                self.state.waiting = None;
                let name = self
                    .flow(&flow)
                    .map(|f| f.name.clone())
                    .unwrap_or(flow.clone());
                let text = fill(&self.responses().resume_offer, &[("flow", &name)]);
                let buttons = self.yes_no_buttons();
                self.say_with_buttons(text, buttons);
                self.state.waiting = Some(Waiting::ResumeOffer { flow });
            }
            _ => {}
        }
    }
}

fn requests_flow(commands: &[Command]) -> bool {
    commands
        .iter()
        .any(|c| matches!(c, Command::StartFlow { .. }))
}

fn handoff_reason(command: &Command) -> Option<Option<String>> {
    match command {
        Command::Handoff { reason } => Some(reason.clone()),
        _ => None,
    }
}

/// Finds the collect step of `flow` that is named `slot` or stores into it.
pub(super) fn find_collect<'f>(flow: &'f Flow, slot: &str) -> Option<&'f Collect> {
    flow.steps.iter().find_map(|step| match &step.kind {
        StepKind::Collect(c) if c.store_as == slot || c.slot.value == slot => Some(c.as_ref()),
        _ => None,
    })
}
