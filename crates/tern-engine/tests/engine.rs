//! Engine behaviour driven directly with commands, on small inline flows.

use serde_json::{Value, json};
use tern_engine::{
    ActionOutcome, Command, DialogueState, Engine, Event, Need, Outcome, Phase, Responses, Waiting,
};
use tern_flow::FlowSet;

fn flows(yaml: &str) -> FlowSet {
    let loaded = tern_flow::load_str("test.yml", yaml);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    loaded.flows
}

fn start(flow: &str) -> Command {
    Command::StartFlow { flow: flow.into() }
}

fn set(slot: &str, value: Value) -> Command {
    Command::SetSlot {
        slot: slot.into(),
        value,
    }
}

fn texts(outcome: &Outcome) -> Vec<&str> {
    outcome.messages.iter().map(|m| m.text.as_str()).collect()
}

fn has_event(outcome: &Outcome, name: &str) -> bool {
    outcome.events.iter().any(|e| e.name() == name)
}

const TWO_FLOWS: &str = r#"
flows:
  order:
    name: Order
    description: Order a pizza
    nlu_trigger: { intents: [ { intent: order } ] }
    steps:
      - id: ask_size
        collect: size
        description: Which size?
      - id: ask_count
        collect: count
        collect_type: integer
        description: How many?
        validation: { min: 1, max: 5, max_attempts: 2, on_max_attempts: too_many }
      - id: done
        response: "Ordered slots.count slots.size"
        next: END
      - id: too_many
        response: We can't take that order here.
        next: END
  hours:
    name: Opening hours
    description: Tell opening hours
    nlu_trigger: { intents: [ { intent: hours } ] }
    steps:
      - id: tell
        response: We open at 9.
"#;

#[test]
fn loop_without_input_stops_with_error() {
    let flow_set = flows(
        r#"
flows:
  spin:
    name: Spin
    description: loops
    nlu_trigger: { intents: [ { intent: spin } ] }
    steps:
      - id: a
        response: tick
        next: b
      - id: b
        next: a
"#,
    );
    let responses = Responses::default();
    let outcome =
        Engine::new(&flow_set, &responses).handle(DialogueState::default(), &[start("spin")]);
    assert!(has_event(&outcome, "flow_error"));
    assert!(outcome.state.stack.is_empty());
    assert_eq!(
        texts(&outcome).last(),
        Some(&responses.internal_error.as_str())
    );
}

#[test]
fn queued_second_request_runs_after_first() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("order"), start("hours")]);
    assert_eq!(texts(&outcome), ["Which size?"]);
    assert_eq!(outcome.state.stack.len(), 2);
    let outcome = engine.handle(outcome.state, &[set("size", json!("large"))]);
    let outcome = engine.handle(outcome.state, &[set("count", json!(2))]);
    assert_eq!(
        texts(&outcome),
        ["Ordered 2 large", "We open at 9.", &responses.anything_else]
    );
    assert!(outcome.state.stack.is_empty());
}

#[test]
fn start_with_values_skips_answered_questions() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let commands = [
        start("order"),
        set("size", json!("small")),
        set("count", json!("٣")),
    ];
    let outcome = engine.handle(DialogueState::default(), &commands);
    assert_eq!(texts(&outcome)[0], "Ordered 3 small");
}

#[test]
fn interruption_offers_resume_and_resumes() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("order")]);
    let outcome = engine.handle(outcome.state, &[start("hours")]);
    assert_eq!(
        texts(&outcome),
        ["We open at 9.", "Would you like to continue with Order?"]
    );
    assert!(matches!(
        outcome.state.waiting,
        Some(Waiting::ResumeOffer { .. })
    ));
    let outcome = engine.handle(outcome.state, &[Command::Affirm]);
    assert_eq!(
        texts(&outcome),
        ["Let's continue with Order.", "Which size?"]
    );
    assert!(has_event(&outcome, "flow_resumed"));
}

#[test]
fn new_request_during_resume_offer_keeps_flow_paused() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("order")]);
    let outcome = engine.handle(outcome.state, &[start("hours")]);
    let outcome = engine.handle(outcome.state, &[start("hours")]);
    assert!(!has_event(&outcome, "flow_resumed"), "{:?}", outcome.events);
    assert!(has_event(&outcome, "flow_interrupted"), "{:?}", outcome.events);
    assert_eq!(
        texts(&outcome),
        ["We open at 9.", "Would you like to continue with Order?"]
    );
}

#[test]
fn declining_resume_cancels_paused_flow() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(
        DialogueState::default(),
        &[start("order"), set("size", json!("xl"))],
    );
    let outcome = engine.handle(outcome.state, &[start("hours")]);
    let outcome = engine.handle(outcome.state, &[Command::Deny]);
    assert!(outcome.state.stack.is_empty());
    assert!(
        outcome.state.slots.is_empty(),
        "slots left: {:?}",
        outcome.state.slots
    );
    assert!(has_event(&outcome, "flow_cancelled"));
}

#[test]
fn too_many_invalid_answers_follow_on_max_attempts() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(
        DialogueState::default(),
        &[start("order"), set("size", json!("s"))],
    );
    let outcome = engine.handle(outcome.state, &[set("count", json!(9))]);
    assert_eq!(
        texts(&outcome),
        ["Sorry, the value must be at most 5. How many?"]
    );
    let outcome = engine.handle(outcome.state, &[set("count", json!(0))]);
    assert_eq!(texts(&outcome)[0], "We can't take that order here.");
    assert!(outcome.state.stack.is_empty());
}

#[test]
fn guard_refuses_flow_until_it_holds() {
    let flow_set = flows(
        r#"
flows:
  vip:
    name: VIP desk
    description: For members
    guard: "slots.member == true"
    nlu_trigger: { intents: [ { intent: vip } ] }
    steps:
      - id: hi
        response: Welcome, member.
"#,
    );
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("vip")]);
    assert_eq!(
        texts(&outcome),
        ["Sorry, VIP desk is not available right now."]
    );
    assert!(has_event(&outcome, "command_ignored"));
    assert!(engine.startable_flows(&outcome.state).is_empty());
    let mut state = outcome.state;
    state.slots.insert("member".into(), json!(true));
    assert_eq!(engine.startable_flows(&state).len(), 1);
    let outcome = engine.handle(state, &[start("vip")]);
    assert_eq!(texts(&outcome)[0], "Welcome, member.");
}

const ACTION_FLOW: &str = r#"
flows:
  fine:
    name: Fine lookup
    description: Looks up a fine
    nlu_trigger: { intents: [ { intent: fine } ] }
    steps:
      - id: ask_plate
        collect: plate
        description: Plate number?
      - id: lookup
        action: lookup_fine
        next: show
        else: failed
      - id: show
        response: "You owe slots.lookup_fine_result."
        next: mood
      - id: mood
        next:
          - semantic_if: user is upset about the amount
            then: calm
        else: END
      - id: calm
        response: I understand. You can pay in instalments.
        next: END
      - id: failed
        response: The fine service is down.
        next: END
"#;

#[test]
fn action_success_stores_result_and_asks_for_judgement() {
    let flow_set = flows(ACTION_FLOW);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(
        DialogueState::default(),
        &[start("fine"), set("plate", json!("AB 123"))],
    );
    let Some(Need::Action { action, parameters }) = &outcome.need else {
        panic!("no action need")
    };
    assert_eq!(action, "lookup_fine");
    assert_eq!(parameters.get("plate"), Some(&json!("AB 123")));
    let outcome = engine.action_result(
        outcome.state,
        ActionOutcome::Success {
            result: json!("120 SAR"),
        },
    );
    assert_eq!(texts(&outcome), ["You owe 120 SAR."]);
    let Some(Need::Judgement { conditions }) = &outcome.need else {
        panic!("no judgement need")
    };
    assert_eq!(conditions, &["user is upset about the amount"]);
    let verdicts = [("user is upset about the amount".to_string(), true)];
    let outcome = engine.judgements(outcome.state, &verdicts);
    assert_eq!(
        texts(&outcome)[0],
        "I understand. You can pay in instalments."
    );
}

#[test]
fn action_failure_takes_else() {
    let flow_set = flows(ACTION_FLOW);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(
        DialogueState::default(),
        &[start("fine"), set("plate", json!("X1"))],
    );
    let outcome = engine.action_result(
        outcome.state,
        ActionOutcome::Failure {
            error: "timeout".into(),
        },
    );
    assert_eq!(texts(&outcome)[0], "The fine service is down.");
    assert!(outcome.events.contains(&Event::ActionFailed {
        action: "lookup_fine".into(),
        error: "timeout".into()
    }));
}

#[test]
fn stale_action_wait_is_rerun_on_next_message() {
    let flow_set = flows(ACTION_FLOW);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(
        DialogueState::default(),
        &[start("fine"), set("plate", json!("X1"))],
    );
    assert!(outcome.need.is_some());
    // The caller never delivered the result; the next message runs the action again.
    let outcome = engine.handle(outcome.state, &[Command::Greet]);
    assert!(matches!(outcome.need, Some(Need::Action { .. })));
}

#[test]
fn call_returns_to_caller_with_child_slots() {
    let flow_set = flows(
        r#"
flows:
  book:
    name: Booking
    description: Book a slot
    nlu_trigger: { intents: [ { intent: book } ] }
    steps:
      - id: verify
        call: identify
        next: confirm
      - id: confirm
        response: "Booked for slots.citizen_id."
  identify:
    name: Identify
    description: Asks for an id
    steps:
      - id: ask_id
        collect: citizen_id
        description: Your id?
"#,
    );
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("book")]);
    assert_eq!(texts(&outcome), ["Your id?"]);
    assert_eq!(outcome.state.active_flow(), Some("identify"));
    let outcome = engine.handle(outcome.state, &[set("citizen_id", json!("123"))]);
    assert_eq!(texts(&outcome)[0], "Booked for 123.");
    assert!(outcome.state.slots.is_empty());
}

#[test]
fn flows_without_trigger_cannot_be_started_by_user() {
    let flow_set = flows(
        r#"
flows:
  internal:
    name: Internal
    description: only called
    steps:
      - id: a
        response: secret
"#,
    );
    let responses = Responses::default();
    let outcome =
        Engine::new(&flow_set, &responses).handle(DialogueState::default(), &[start("internal")]);
    assert!(!texts(&outcome).contains(&"secret"));
    assert!(has_event(&outcome, "command_ignored"));
}

#[test]
fn link_replaces_the_flow() {
    let flow_set = flows(
        r#"
flows:
  first:
    name: First
    description: hands over
    nlu_trigger: { intents: [ { intent: first } ] }
    steps:
      - id: go
        link: second
  second:
    name: Second
    description: takes over
    steps:
      - id: hi
        response: second here
"#,
    );
    let responses = Responses::default();
    let outcome =
        Engine::new(&flow_set, &responses).handle(DialogueState::default(), &[start("first")]);
    assert_eq!(texts(&outcome)[0], "second here");
    assert!(outcome.events.contains(&Event::FlowCompleted {
        flow: "first".into()
    }));
    assert!(outcome.events.contains(&Event::FlowStarted {
        flow: "second".into()
    }));
}

#[test]
fn missing_step_in_state_stops_flow() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let mut state = engine
        .handle(DialogueState::default(), &[start("order")])
        .state;
    state.stack[0].step = "removed_step".into();
    state.stack[0].phase = Phase::Enter;
    state.waiting = None;
    let outcome = engine.handle(state, &[Command::Greet]);
    assert!(has_event(&outcome, "flow_error"));
    assert!(outcome.state.stack.is_empty());
}

#[test]
fn state_round_trips_through_json_and_stays_small() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(
        DialogueState::default(),
        &[start("order"), set("size", json!("large"))],
    );
    let json = serde_json::to_string(&outcome.state).unwrap();
    assert!(json.len() < 300, "state is {} bytes: {json}", json.len());
    let back: DialogueState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, outcome.state);
}

#[test]
fn handed_off_conversation_stays_silent() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("order")]);
    let outcome = engine.handle(outcome.state, &[Command::Handoff { reason: None }]);
    assert!(outcome.state.handed_off);
    let outcome = engine.handle(outcome.state, &[start("hours")]);
    assert!(outcome.messages.is_empty());
}

const CALLING: &str = r#"
flows:
  parent:
    name: Parent
    description: calls child
    nlu_trigger: { intents: [ { intent: parent } ] }
    persisted_slots: [verified]
    steps:
      - id: run_child
        call: child
      - id: mark
        set_slots: { verified: true }
      - id: done
        response: parent done
  child:
    name: Child
    description: asks a code
    steps:
      - id: ask_code
        collect: code
        collect_type: integer
        description: Code?
        validation: { max_attempts: 2 }
  confirmed:
    name: Confirmed
    description: confirms a prefilled value
    nlu_trigger: { intents: [ { intent: confirmed } ] }
    steps:
      - id: ask_id
        collect: national_id
        collect_confirmation: true
        description: Your id?
      - id: thanks
        response: "Thanks slots.national_id"
  guarded:
    name: Guarded
    description: needs verification
    guard: "slots.verified == true"
    nlu_trigger: { intents: [ { intent: guarded } ] }
    steps:
      - id: hi
        response: guarded hi
  linker:
    name: Linker
    description: links to guarded
    nlu_trigger: { intents: [ { intent: linker } ] }
    steps:
      - id: go
        link: guarded
"#;

#[test]
fn called_flow_giving_up_stops_its_caller() {
    let flow_set = flows(CALLING);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("parent")]);
    let outcome = engine.handle(outcome.state, &[set("code", json!("x"))]);
    let outcome = engine.handle(outcome.state, &[set("code", json!("y"))]);
    assert!(outcome.state.stack.is_empty(), "{:?}", outcome.state.stack);
    assert!(!texts(&outcome).contains(&"Code?"), "{:?}", texts(&outcome));
    assert!(outcome.events.contains(&Event::FlowCancelled {
        flow: "parent".into(),
        reason: "the flow it called, `child`, was stopped".into()
    }));
}

#[test]
fn cancel_inside_called_flow_names_the_callers_flow() {
    let flow_set = flows(CALLING);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("parent")]);
    let outcome = engine.handle(outcome.state, &[Command::Cancel]);
    assert_eq!(texts(&outcome), ["Okay, I have stopped Parent."]);
    assert!(outcome.state.stack.is_empty());
}

#[test]
fn persisted_slot_survives_and_opens_guard() {
    let flow_set = flows(CALLING);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("parent")]);
    let outcome = engine.handle(outcome.state, &[set("code", json!(7))]);
    assert_eq!(texts(&outcome)[0], "parent done");
    assert_eq!(outcome.state.slots.get("verified"), Some(&json!(true)));
    assert_eq!(outcome.state.slots.get("code"), None);
    let outcome = engine.handle(outcome.state, &[start("guarded")]);
    assert_eq!(texts(&outcome)[0], "guarded hi");
}

#[test]
fn link_to_guarded_flow_is_refused() {
    let flow_set = flows(CALLING);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("linker")]);
    assert!(
        !texts(&outcome).contains(&"guarded hi"),
        "{:?}",
        texts(&outcome)
    );
    assert_eq!(
        texts(&outcome)[0],
        "Sorry, Guarded is not available right now."
    );
    assert!(outcome.state.stack.is_empty());
}

#[test]
fn prefilled_value_is_still_confirmed() {
    let flow_set = flows(CALLING);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let commands = [start("confirmed"), set("national_id", json!("123"))];
    let outcome = engine.handle(DialogueState::default(), &commands);
    assert_eq!(texts(&outcome), ["Is this correct: 123?"]);
    let outcome = engine.handle(outcome.state, &[Command::Deny]);
    assert_eq!(texts(&outcome), ["Your id?"]);
    assert_eq!(outcome.state.slots.get("national_id"), None);
    let outcome = engine.handle(outcome.state, &[set("national_id", json!("456"))]);
    let outcome = engine.handle(outcome.state, &[Command::Affirm]);
    assert_eq!(texts(&outcome)[0], "Thanks 456");
}

#[test]
fn declining_resume_says_the_flow_stopped() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("order")]);
    let outcome = engine.handle(outcome.state, &[start("hours")]);
    let outcome = engine.handle(outcome.state, &[Command::Deny]);
    assert_eq!(texts(&outcome), ["Okay, I have stopped Order."]);
}

#[test]
fn clarification_mid_flow_keeps_the_question_open() {
    let flow_set = flows(TWO_FLOWS);
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("order")]);
    let clarify = Command::Clarify {
        flows: vec!["hours".into(), "order".into()],
    };
    let outcome = engine.handle(outcome.state, &[clarify]);
    assert!(matches!(
        outcome.state.waiting,
        Some(Waiting::Clarification { .. })
    ));
    let outcome = engine.handle(outcome.state, &[Command::NotUnderstood]);
    assert_eq!(
        texts(&outcome),
        ["Sorry, I didn't understand that.", "Which size?"]
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn command() -> impl Strategy<Value = Command> {
        let slot = prop::sample::select(vec!["size", "count", "plate", "other"]);
        let value = prop_oneof![
            Just(json!(1)),
            Just(json!("large")),
            Just(json!(null)),
            Just(json!(true)),
            Just(json!({"name": "f.pdf"})),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,8}".prop_map(|s| json!(s)),
        ];
        prop_oneof![
            prop::sample::select(vec!["order", "hours", "nope"])
                .prop_map(|f| Command::StartFlow { flow: f.into() }),
            (slot, value).prop_map(|(s, v)| Command::SetSlot {
                slot: s.into(),
                value: v
            }),
            Just(Command::Cancel),
            Just(Command::Affirm),
            Just(Command::Deny),
            Just(Command::Greet),
            Just(Command::OutOfScope),
            Just(Command::NotUnderstood),
            Just(Command::Clarify {
                flows: vec!["order".into(), "hours".into()]
            }),
        ]
    }

    proptest! {
        #[test]
        fn random_commands_never_panic_and_state_stays_bounded(
            turns in prop::collection::vec(prop::collection::vec(command(), 0..4), 1..30)
        ) {
            let flow_set = flows(TWO_FLOWS);
            let responses = Responses::default();
            let engine = Engine::new(&flow_set, &responses);
            let mut state = DialogueState::default();
            for commands in turns {
                let outcome = engine.handle(state, &commands);
                prop_assert!(outcome.need.is_none());
                prop_assert!(outcome.state.stack.len() <= 2);
                prop_assert!(outcome.state.slots.len() <= 2);
                state = outcome.state;
            }
        }
    }
}

/// Cancelling an interrupting flow offers to resume the paused one and
/// waits for the answer instead of taking the message as one.
#[test]
fn cancel_then_resume_offer_waits() {
    let flow_set = flows(
        r#"
flows:
  order:
    name: Order
    description: Order a pizza
    nlu_trigger: { intents: [ { intent: order } ] }
    steps:
      - id: ask_size
        collect: size
        description: Which size?
  survey:
    name: Survey
    description: A short survey
    nlu_trigger: { intents: [ { intent: survey } ] }
    steps:
      - id: ask_rating
        collect: rating
        description: Your rating?
"#,
    );
    let responses = Responses::default();
    let engine = Engine::new(&flow_set, &responses);
    let outcome = engine.handle(DialogueState::default(), &[start("order")]);
    let outcome = engine.handle(outcome.state, &[start("survey")]);
    assert_eq!(texts(&outcome), ["Your rating?"]);
    let outcome = engine.handle(outcome.state, &[Command::Cancel]);
    assert_eq!(
        texts(&outcome),
        [
            "Okay, I have stopped Survey.",
            "Would you like to continue with Order?"
        ]
    );
    assert!(matches!(
        outcome.state.waiting,
        Some(Waiting::ResumeOffer { .. })
    ));
    let outcome = engine.handle(outcome.state, &[Command::Affirm]);
    assert_eq!(
        texts(&outcome),
        ["Let's continue with Order.", "Which size?"]
    );
}
