//! Running steps: from the active frame's position until the flows wait for
//! the user, need the caller, or end.

use serde_json::{Map, Value};
use tern_flow::template::render_value;
use tern_flow::{Button, Collect, Condition, Flow, Next, SlotType, Step, StepKind, Target};

use super::{MAX_STEPS_PER_TURN, Need, Turn, holds};
use crate::event::Event;
use crate::responses::fill;
use crate::state::{Frame, Origin, Phase, Waiting};

/// The loop's next move after one look at the active frame.
enum Progress {
    Continue,
    Stop,
}

impl<'a> Turn<'a> {
    pub(super) fn run(&mut self) {
        while self.need.is_none() && self.state.waiting.is_none() {
            if self.state.steps_this_turn >= MAX_STEPS_PER_TURN {
                self.stop_on_loop();
                return;
            }
            if let Progress::Stop = self.run_once() {
                return;
            }
        }
    }

    fn run_once(&mut self) -> Progress {
        let Some(frame) = self.state.stack.last() else {
            return Progress::Stop;
        };
        let Some(flow) = self.flow(&frame.flow) else {
            let (flow, step) = (frame.flow.clone(), frame.step.clone());
            self.fail_flow(&flow, &step, format!("flow `{flow}` no longer exists"));
            return Progress::Continue;
        };
        match frame.phase {
            Phase::Queued => self.start_queued(flow),
            Phase::Asking => return Progress::Stop,
            Phase::Enter => self.enter_step(flow),
            Phase::Leave => self.leave_step(flow),
        }
        Progress::Continue
    }

    fn start_queued(&mut self, flow: &'a Flow) {
        let Some(first) = flow.first_step() else {
            self.fail_flow(&flow.id, "", "the flow has no steps".into());
            return;
        };
        let frame = self.top();
        frame.step = first.id.clone();
        frame.phase = Phase::Enter;
        self.events.push(Event::FlowStarted {
            flow: flow.id.clone(),
        });
    }

    pub(super) fn top(&mut self) -> &mut Frame {
        self.state
            .stack
            .last_mut()
            .expect("the stack was checked to be non-empty")
    }

    fn current_step(&mut self, flow: &'a Flow) -> Option<&'a Step> {
        let id = self.state.stack.last()?.step.clone();
        let step = flow.step(&id);
        if step.is_none() {
            self.fail_flow(&flow.id, &id, format!("step `{id}` does not exist"));
        }
        step
    }

    fn enter_step(&mut self, flow: &'a Flow) {
        let Some(step) = self.current_step(flow) else {
            return;
        };
        self.state.steps_this_turn += 1;
        tracing::debug!(flow = %flow.id, step = %step.id, kind = step.kind.name(), "running step");
        match &step.kind {
            StepKind::Collect(collect) => self.enter_collect(&step.id, collect),
            StepKind::Response(response) => {
                let text = response.text.render(&self.state.slots);
                self.say_with_buttons(text, response.buttons.clone());
                self.top().phase = Phase::Leave;
            }
            StepKind::Route => self.top().phase = Phase::Leave,
            StepKind::Action(action) => self.request_action(&action.name.value),
            StepKind::Call(child) => self.call_flow(&child.value),
            StepKind::Link(target) => self.link_flow(&flow.id, &target.value),
            StepKind::SetSlots(values) => {
                for (slot, value) in values {
                    self.assign(slot, value.value.clone());
                }
                self.top().phase = Phase::Leave;
            }
            StepKind::Handoff(handoff) => {
                let message = handoff
                    .message
                    .as_ref()
                    .map(|m| m.render(&self.state.slots));
                self.hand_over(handoff.reason.clone(), message);
            }
        }
    }

    /// Asks the question unless the slot already has a value, which then
    /// only needs confirming when the step asks for confirmation. A step
    /// the user already answered in this pass is asked again, because only
    /// a loop in the flow leads back to it.
    fn enter_collect(&mut self, step_id: &str, collect: &'a Collect) {
        let frame = self.top();
        if let Some(index) = frame.answered.iter().position(|s| s == step_id) {
            frame.answered.remove(index);
            self.state.slots.shift_remove(&collect.store_as);
            self.ask(collect);
            return;
        }
        let value = self
            .state
            .slots
            .get(&collect.store_as)
            .filter(|v| !v.is_null())
            .cloned();
        match value {
            Some(value) if !collect.ask_before_filling && collect.confirm => {
                self.ask_confirmation(&value);
                self.top().phase = Phase::Asking;
                let slot = collect.store_as.clone();
                self.state.waiting = Some(Waiting::Confirmation { slot, value });
            }
            Some(_) if !collect.ask_before_filling => self.top().phase = Phase::Leave,
            _ => self.ask(collect),
        }
    }

    /// Sends the collect step's question and waits for the answer.
    pub(super) fn ask(&mut self, collect: &'a Collect) {
        let question = self.question(collect);
        let buttons = self.collect_buttons(collect);
        self.say_with_buttons(question, buttons);
        self.top().phase = Phase::Asking;
        self.state.waiting = Some(Waiting::Slot);
    }

    pub(super) fn question(&self, collect: &Collect) -> String {
        if collect.description.source().trim().is_empty() {
            return fill(&self.responses().ask_slot, &[("slot", &collect.slot.value)]);
        }
        collect.description.render(&self.state.slots)
    }

    fn collect_buttons(&self, collect: &Collect) -> Vec<Button> {
        if !collect.buttons.is_empty() {
            return collect.buttons.clone();
        }
        match collect.slot_type {
            SlotType::Choice => collect
                .options
                .iter()
                .map(|o| Button {
                    title: o.title.clone(),
                    payload: o.value.clone(),
                })
                .collect(),
            SlotType::Boolean => self.yes_no_buttons(),
            _ => Vec::new(),
        }
    }

    fn request_action(&mut self, action: &str) {
        let parameters = self.action_parameters(action);
        self.events.push(Event::ActionRequested {
            action: action.to_string(),
        });
        self.state.waiting = Some(Waiting::Action {
            action: action.to_string(),
        });
        self.need = Some(Need::Action {
            action: action.to_string(),
            parameters,
        });
    }

    /// Parameters are the slots named like the schema's properties; without
    /// a schema, every filled slot.
    fn action_parameters(&self, action: &str) -> Map<String, Value> {
        let names = self
            .engine
            .actions
            .and_then(|a| a.get(action))
            .map(|def| def.parameters());
        let filled = self.state.slots.iter().filter(|(_, v)| !v.is_null());
        match names {
            Some(names) => filled
                .filter(|(name, _)| names.contains(&name.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            None => filled.map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    fn call_flow(&mut self, child: &str) {
        if !self.guard_allows("call", child) {
            self.top().phase = Phase::Leave;
            return;
        }
        if self.state.stack.iter().any(|f| f.flow == child) {
            let (flow, step) = (self.top().flow.clone(), self.top().step.clone());
            self.fail_flow(&flow, &step, format!("flow `{child}` is already running"));
            return;
        }
        self.push_frame(child, Origin::Call);
    }

    fn link_flow(&mut self, current: &str, target: &str) {
        if !self.guard_allows("link", target) {
            self.cancel_top("the linked flow's guard does not hold");
            return;
        }
        let Some(frame) = self.state.stack.pop() else {
            return;
        };
        self.events.push(Event::FlowCompleted {
            flow: current.to_string(),
        });
        self.state.stack.push(Frame {
            flow: target.to_string(),
            phase: Phase::Queued,
            ..frame
        });
    }

    /// Checks the guard of a flow that a `call` or `link` step starts. When
    /// it is false, sends `flow_unavailable` and records why.
    fn guard_allows(&mut self, step_kind: &str, flow_id: &str) -> bool {
        let Some(flow) = self.flow(flow_id) else {
            return true;
        };
        if super::guard_holds(flow, &self.state) {
            return true;
        }
        let reason = format!("the guard of flow `{flow_id}` does not hold");
        self.events.push(Event::CommandIgnored {
            command: step_kind.into(),
            reason,
        });
        let text = fill(&self.responses().flow_unavailable, &[("flow", &flow.name)]);
        self.say(text);
        false
    }

    pub(super) fn push_frame(&mut self, flow: &str, origin: Origin) {
        self.state.stack.push(Frame {
            flow: flow.to_string(),
            step: String::new(),
            phase: Phase::Queued,
            origin,
            attempts: 0,
            assigned: Vec::new(),
            answered: Vec::new(),
        });
    }

    /// Stores a slot value and remembers which flow assigned it.
    pub(super) fn assign(&mut self, slot: &str, value: Value) {
        self.events.push(Event::SlotSet {
            slot: slot.to_string(),
            value: value.clone(),
        });
        self.state.slots.insert(slot.to_string(), value);
        if let Some(frame) = self.state.stack.last_mut()
            && !frame.assigned.iter().any(|s| s == slot)
        {
            frame.assigned.push(slot.to_string());
        }
    }

    fn leave_step(&mut self, flow: &'a Flow) {
        let Some(step) = self.current_step(flow) else {
            return;
        };
        let target = match &step.next {
            Next::FallThrough => Some(fall_through(flow, step)),
            Next::Goto(target) => Some(target.value.clone()),
            Next::Branches(_) => self.choose_branch(flow, step),
        };
        if let Some(target) = target {
            self.go_to(target);
        }
    }

    /// Picks the first branch whose condition is true. For `semantic_if`
    /// conditions without a verdict it requests judgements instead.
    fn choose_branch(&mut self, flow: &'a Flow, step: &'a Step) -> Option<Target> {
        let Next::Branches(branches) = &step.next else {
            return None;
        };
        for branch in branches {
            let matched = match &branch.condition {
                Condition::If(expr) => holds(expr, &self.state),
                Condition::Semantic(sentence) => match self.judgements.get(sentence) {
                    Some(verdict) => *verdict,
                    None => {
                        self.request_judgement(branches);
                        return None;
                    }
                },
            };
            if matched {
                tracing::debug!(step = %step.id, then = %branch.then.value, "branch chosen");
                return Some(branch.then.value.clone());
            }
        }
        if let Some(otherwise) = &step.otherwise {
            return Some(otherwise.value.clone());
        }
        self.events.push(Event::NoBranchMatched {
            flow: flow.id.clone(),
            step: step.id.clone(),
        });
        Some(Target::End)
    }

    /// Asks for verdicts on the step's conditions that have none yet.
    fn request_judgement(&mut self, branches: &[tern_flow::Branch]) {
        let conditions: Vec<String> = branches
            .iter()
            .filter_map(|b| match &b.condition {
                Condition::Semantic(sentence) if !self.judgements.contains_key(sentence) => {
                    Some(sentence.clone())
                }
                _ => None,
            })
            .collect();
        let known = self
            .judgements
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.events.push(Event::JudgementRequested {
            conditions: conditions.clone(),
        });
        self.state.waiting = Some(Waiting::Judgement {
            conditions: conditions.clone(),
            known,
        });
        self.need = Some(Need::Judgement { conditions });
    }

    pub(super) fn go_to(&mut self, target: Target) {
        match target {
            Target::End => self.end_flow(),
            Target::Step(id) => {
                let frame = self.top();
                frame.step = id;
                frame.phase = Phase::Enter;
                frame.attempts = 0;
            }
        }
    }

    /// Ends the active flow normally and decides what runs next.
    fn end_flow(&mut self) {
        let Some(frame) = self.state.stack.pop() else {
            return;
        };
        self.events.push(Event::FlowCompleted {
            flow: frame.flow.clone(),
        });
        self.after_frame_removed(frame, true);
    }

    /// Hands control to the frame below a removed one: a caller continues,
    /// a queued flow starts, a paused flow is offered for resuming.
    pub(super) fn after_frame_removed(&mut self, mut frame: Frame, completed: bool) {
        if frame.origin == Origin::Call
            && completed
            && let Some(parent) = self.state.stack.last_mut()
        {
            parent.assigned.extend(frame.assigned);
            parent.phase = Phase::Leave;
            return;
        }
        // A called flow that was stopped stops its callers too: they cannot
        // go on without what it was meant to do.
        while frame.origin == Origin::Call {
            let Some(mut parent) = self.state.stack.pop() else {
                break;
            };
            self.events.push(Event::FlowCancelled {
                flow: parent.flow.clone(),
                reason: format!("the flow it called, `{}`, was stopped", frame.flow),
            });
            parent.assigned.append(&mut frame.assigned);
            frame = parent;
        }
        self.release_slots(&frame.assigned);
        match self.state.stack.last() {
            None => self.completed_all = completed,
            Some(next) if next.phase == Phase::Queued => {}
            Some(next) => {
                let flow = next.flow.clone();
                self.offer_resume(&flow);
            }
        }
    }

    /// Clears slots a finished flow assigned, unless a remaining flow
    /// assigned them too or any flow lists them in `persisted_slots` (a
    /// called flow's list counts as much as its caller's).
    fn release_slots(&mut self, slots: &[String]) {
        let flows = self.engine.flows;
        for slot in slots {
            let persisted = flows
                .flows
                .values()
                .any(|f| f.persisted_slots.contains(slot));
            let kept = persisted || self.state.stack.iter().any(|f| f.assigned.contains(slot));
            if !kept {
                self.state.slots.shift_remove(slot);
            }
        }
    }

    fn offer_resume(&mut self, flow: &str) {
        let name = self
            .flow(flow)
            .map(|f| f.name.clone())
            .unwrap_or_else(|| flow.to_string());
        let text = fill(&self.responses().resume_offer, &[("flow", &name)]);
        let buttons = self.yes_no_buttons();
        self.say_with_buttons(text, buttons);
        self.state.waiting = Some(Waiting::ResumeOffer {
            flow: flow.to_string(),
        });
    }

    /// Stops the flow whose steps are broken at run time and sends
    /// `internal_error`.
    pub(super) fn fail_flow(&mut self, flow: &str, step: &str, message: String) {
        tracing::error!(flow, step, %message, "flow stopped at run time");
        self.events.push(Event::FlowError {
            flow: flow.to_string(),
            step: step.to_string(),
            message,
        });
        self.state.stack.clear();
        self.state.waiting = None;
        self.state.slots.clear();
        let text = self.responses().internal_error.clone();
        self.say(text);
    }

    fn stop_on_loop(&mut self) {
        let (flow, step) = match self.state.stack.last() {
            Some(frame) => (frame.flow.clone(), frame.step.clone()),
            None => return,
        };
        let message =
            format!("ran {MAX_STEPS_PER_TURN} steps without waiting for the user; the flow loops");
        self.fail_flow(&flow, &step, message);
    }
}

fn fall_through(flow: &Flow, step: &Step) -> Target {
    let position = flow.step_position(&step.id).unwrap_or(usize::MAX);
    match flow.steps.get(position.saturating_add(1)) {
        Some(next) => Target::Step(next.id.clone()),
        None => Target::End,
    }
}

/// Renders a slot value for messages.
pub(super) fn shown(value: &Value) -> String {
    render_value(value)
}
