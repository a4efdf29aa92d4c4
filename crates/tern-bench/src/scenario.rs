//! Scripted conversations with the bundled example assistant
//! (`examples/municipal`), written with user texts that the offline
//! rule-based understander reads, so that they work with the offline mode
//! and with a mock LLM that derives its replies by the same rules.
//!
//! A [`Script`] walks a conversation turn by turn. Each turn lists the
//! steps the server may be at after it (`None` for "no active flow"), so
//! the check accepts both branches a flow may take. For example, only an
//! LLM that judges conditions (such as the mock LLM that `--spawn` starts
//! with [`MOCK_LLM_SCRIPT`]) takes the parking-fine flow's "pay now"
//! branch. The offline understander never judges a condition, so there the
//! flow takes its pay-later branch.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

/// Text the mock LLM started by `--spawn` recognises as the decision to pay
/// now. See [`MOCK_LLM_SCRIPT`].
const PAY_NOW_TEXT: &str = "right away";

/// Rules for `tern mock-llm --script`. The reply to the decision text
/// judges that the resident wants to pay now, as a real model would, and
/// every other message gets the derived reply.
pub const MOCK_LLM_SCRIPT: &str = r#"# Written by tern bench.
rules:
  - match: "(?i)^right away$"
    reply:
      commands:
        - {command: set_slot, slot: pay_decision, value: right away}
        - {command: judge, condition: the resident wants to pay the fine now, value: true}
        - {command: judge, condition: the resident wants to dispute or contest the fine, value: false}
default: derive
"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScenarioName {
    ParkingFine,
    Appointment,
    ReportIssue,
    Mixed,
    SingleConversation,
}

impl ScenarioName {
    pub const ALL: [ScenarioName; 5] = [
        ScenarioName::ParkingFine,
        ScenarioName::Appointment,
        ScenarioName::ReportIssue,
        ScenarioName::Mixed,
        ScenarioName::SingleConversation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::ParkingFine => "parking-fine",
            ScenarioName::Appointment => "appointment",
            ScenarioName::ReportIssue => "report-issue",
            ScenarioName::Mixed => "mixed",
            ScenarioName::SingleConversation => "single-conversation",
        }
    }

    /// Returns the conversations a session cycles through.
    pub fn conversations(self) -> &'static [&'static Conversation] {
        match self {
            ScenarioName::ParkingFine | ScenarioName::SingleConversation => &[&PARKING_FINE],
            ScenarioName::Appointment => &[&APPOINTMENT],
            ScenarioName::ReportIssue => &[&REPORT_ISSUE],
            ScenarioName::Mixed => &[&PARKING_FINE, &APPOINTMENT, &REPORT_ISSUE],
        }
    }
}

impl fmt::Display for ScenarioName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for ScenarioName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ScenarioName::ALL
            .into_iter()
            .find(|name| name.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = ScenarioName::ALL.iter().map(|name| name.as_str()).collect();
                format!(
                    "unknown scenario `{text}`; use one of: {}",
                    names.join(", ")
                )
            })
    }
}

/// One user turn of a scripted conversation.
#[derive(Debug)]
pub struct Turn {
    /// Message text. `{n}` is replaced by a number that differs between
    /// conversations, so plates and resident numbers vary.
    pub text: &'static str,
    /// Photo sent with the message, by URL (the server stores the reference
    /// and does not fetch it).
    pub attachment: Option<&'static str>,
    /// Sent only when the previous reply is at this step; skipped otherwise.
    pub only_at: Option<&'static str>,
    /// Steps the reply may be at; `None` means no flow is active any more.
    pub expect: &'static [Option<&'static str>],
}

#[derive(Debug)]
pub struct Conversation {
    pub name: &'static str,
    pub turns: &'static [Turn],
}

const fn turn(text: &'static str, expect: &'static [Option<&'static str>]) -> Turn {
    Turn {
        text,
        attachment: None,
        only_at: None,
        expect,
    }
}

/// Start the flow, give a plate (the demo back office finds a fine unless
/// the plate contains `000`), decide, choose a payment method.
pub const PARKING_FINE: Conversation = Conversation {
    name: "parking-fine",
    turns: &[
        turn("I want to pay a parking fine", &[Some("ask_plate")]),
        turn("ABC {n}", &[Some("ask_pay_decision"), None]),
        Turn {
            only_at: Some("ask_pay_decision"),
            ..turn(PAY_NOW_TEXT, &[Some("ask_payment_method"), None])
        },
        Turn {
            only_at: Some("ask_payment_method"),
            ..turn("card", &[None])
        },
    ],
};

/// Book an appointment: a called identity flow with a confirmation, two
/// actions (`verify_resident`, `reserve_appointment`) and validated slots.
pub const APPOINTMENT: Conversation = Conversation {
    name: "appointment",
    turns: &[
        turn("I need an appointment", &[Some("ask_service")]),
        turn("permits", &[Some("ask_resident_id")]),
        turn("RV20{n}", &[Some("ask_resident_id")]),
        turn("yes", &[Some("ask_birth_date")]),
        turn("1988-04-23", &[Some("ask_date")]),
        turn("2026-03-16", &[Some("ask_party_size")]),
        turn("2", &[Some("ask_email")]),
        turn("dana@example.org", &[Some("ask_phone")]),
        turn("+1 555 010 4477", &[None]),
    ],
};

/// Report a street problem with a photo, confirm, and rate the service
/// (`create_service_request` action).
pub const REPORT_ISSUE: Conversation = Conversation {
    name: "report-issue",
    turns: &[
        turn("report a problem", &[Some("ask_issue_type")]),
        turn("pothole", &[Some("ask_location")]),
        turn("Elm Avenue {n}", &[Some("ask_photo")]),
        Turn {
            attachment: Some("https://riverside.example/uploads/pothole-{n}.jpg"),
            ..turn("", &[Some("confirm_report")])
        },
        turn("yes", &[Some("ask_rating")]),
        turn("5", &[None]),
    ],
};

/// Position of a session in its scripted conversations.
#[derive(Debug)]
pub struct Script {
    conversations: &'static [&'static Conversation],
    /// Index into `conversations` of the one running.
    conversation: usize,
    /// Index of the next turn in the running conversation.
    next_turn: usize,
    /// Step of the last reply, for [`Turn::only_at`].
    step: Option<String>,
    /// Differs per session and per conversation; fills `{n}`.
    number: u32,
}

/// A message to send and what its reply must show.
#[derive(Debug, Clone)]
pub struct PlannedTurn {
    pub body: Value,
    pub expect: &'static [Option<&'static str>],
    /// True for the first turn of a conversation.
    pub starts_conversation: bool,
}

/// The result of checking a reply against the script.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// The reply is at an expected step; the conversation goes on.
    Continue,
    /// The conversation reached its end; the next turn starts another.
    Finished,
    /// The reply is not at any expected step.
    Unexpected { step: Option<String> },
}

impl Script {
    /// Creates a script starting at conversation `session % len`, so that
    /// the sessions of a mixed scenario run different flows at the same time.
    pub fn new(scenario: ScenarioName, session: usize) -> Script {
        let conversations = scenario.conversations();
        Script {
            conversations,
            conversation: session % conversations.len(),
            next_turn: 0,
            step: None,
            number: plate_number(session as u64, 0),
        }
    }

    pub fn conversation_name(&self) -> &'static str {
        self.conversations[self.conversation].name
    }

    /// Picks the next message and its expected outcome, skipping turns
    /// whose `only_at` step the conversation is not at.
    pub fn plan(&mut self) -> PlannedTurn {
        let turns = self.conversations[self.conversation].turns;
        while let Some(candidate) = turns.get(self.next_turn) {
            let skip = candidate
                .only_at
                .is_some_and(|step| self.step.as_deref() != Some(step));
            if !skip {
                break;
            }
            self.next_turn += 1;
        }
        if self.next_turn >= turns.len() {
            // Every remaining turn was skipped, so the conversation is over.
            self.advance_conversation();
        }
        let turns = self.conversations[self.conversation].turns;
        let current = &turns[self.next_turn];
        let number = self.number.to_string();
        let mut body = json!({ "text": current.text.replace("{n}", &number) });
        if let Some(url) = current.attachment {
            let url = url.replace("{n}", &number);
            let name = url.rsplit('/').next().unwrap_or("photo.jpg").to_string();
            body["attachments"] =
                json!([{ "name": name, "content_type": "image/jpeg", "size": 48_211, "url": url }]);
        }
        PlannedTurn {
            body,
            expect: current.expect,
            starts_conversation: self.next_turn == 0,
        }
    }

    /// Checks the reply to the turn from the last [`Script::plan`] and moves
    /// on.
    pub fn observe(&mut self, flow: Option<&str>, step: Option<&str>) -> Progress {
        let expect = self.conversations[self.conversation].turns[self.next_turn].expect;
        let at = if flow.is_some() { step } else { None };
        if !expect.contains(&at) {
            let step = at.map(str::to_string);
            self.restart();
            return Progress::Unexpected { step };
        }
        self.step = at.map(str::to_string);
        self.next_turn += 1;
        let turns = self.conversations[self.conversation].turns;
        if at.is_none() || self.next_turn >= turns.len() {
            self.advance_conversation();
            return Progress::Finished;
        }
        Progress::Continue
    }

    /// Starts the current conversation over, such as after an error.
    pub fn restart(&mut self) {
        self.next_turn = 0;
        self.step = None;
    }

    fn advance_conversation(&mut self) {
        self.conversation = (self.conversation + 1) % self.conversations.len();
        self.number = plate_number(u64::from(self.number), 1);
        self.restart();
    }
}

/// Mixes `seed` and `step` into a number from 1000 to 9999 (plate digits,
/// the tail of a resident number), so that sessions differ.
fn plate_number(seed: u64, step: u64) -> u32 {
    let mixed = seed
        .wrapping_mul(2_654_435_761)
        .wrapping_add(step.wrapping_mul(40_503))
        .wrapping_add(7_919);
    1_000 + (mixed % 9_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the script replies at the given steps and returns the texts it
    /// sent.
    fn walk(script: &mut Script, replies: &[Option<&str>]) -> Vec<String> {
        let mut sent = Vec::new();
        for reply in replies {
            let planned = script.plan();
            sent.push(planned.body["text"].as_str().unwrap().to_string());
            let flow = reply.map(|_| "some_flow");
            script.observe(flow, *reply);
        }
        sent
    }

    #[test]
    fn scenario_names_round_trip() {
        for name in ScenarioName::ALL {
            assert_eq!(name.as_str().parse::<ScenarioName>(), Ok(name));
        }
        let error = "fast".parse::<ScenarioName>().unwrap_err();
        assert!(error.contains("unknown scenario `fast`"), "{error}");
        assert!(error.contains("parking-fine"), "{error}");
    }

    #[test]
    fn parking_fine_pay_now_branch() {
        let mut script = Script::new(ScenarioName::ParkingFine, 0);
        let replies = [
            Some("ask_plate"),
            Some("ask_pay_decision"),
            Some("ask_payment_method"),
            None,
        ];
        let sent = walk(&mut script, &replies);
        assert_eq!(sent[0], "I want to pay a parking fine");
        assert!(sent[1].starts_with("ABC "), "{}", sent[1]);
        assert_eq!(sent[2], PAY_NOW_TEXT);
        assert_eq!(sent[3], "card");
        assert!(script.plan().starts_conversation);
    }

    #[test]
    fn parking_fine_pay_later_branch_skips_method() {
        let mut script = Script::new(ScenarioName::ParkingFine, 3);
        let sent = walk(
            &mut script,
            &[Some("ask_plate"), Some("ask_pay_decision"), None],
        );
        assert_eq!(sent.len(), 3);
        let next = script.plan();
        assert!(next.starts_conversation);
        assert_eq!(next.body["text"], "I want to pay a parking fine");
    }

    #[test]
    fn parking_fine_without_fine_ends_after_plate() {
        let mut script = Script::new(ScenarioName::ParkingFine, 1);
        script.plan();
        assert_eq!(
            script.observe(Some("pay_parking_fine"), Some("ask_plate")),
            Progress::Continue
        );
        script.plan();
        assert_eq!(script.observe(None, None), Progress::Finished);
        assert!(script.plan().starts_conversation);
    }

    #[test]
    fn unexpected_step_restarts_conversation() {
        let mut script = Script::new(ScenarioName::Appointment, 0);
        script.plan();
        let progress = script.observe(Some("book_appointment"), Some("ask_date"));
        assert_eq!(
            progress,
            Progress::Unexpected {
                step: Some("ask_date".into())
            }
        );
        let next = script.plan();
        assert!(next.starts_conversation);
        assert_eq!(next.body["text"], "I need an appointment");
    }

    #[test]
    fn step_ignored_when_no_flow_is_active() {
        let mut script = Script::new(ScenarioName::ParkingFine, 0);
        script.plan();
        let progress = script.observe(None, Some("ask_plate"));
        assert_eq!(progress, Progress::Unexpected { step: None });
    }

    #[test]
    fn numbers_vary_between_conversations() {
        let mut script = Script::new(ScenarioName::ParkingFine, 5);
        script.plan();
        script.observe(Some("pay_parking_fine"), Some("ask_plate"));
        let first_plate = script.plan().body["text"].clone();
        script.observe(None, None);
        script.plan();
        script.observe(Some("pay_parking_fine"), Some("ask_plate"));
        let second_plate = script.plan().body["text"].clone();
        assert_ne!(first_plate, second_plate);
    }

    #[test]
    fn plate_numbers_stay_four_digits() {
        for seed in 0..2_000 {
            let number = plate_number(seed, seed % 3);
            assert!((1_000..=9_999).contains(&number), "{number}");
        }
    }

    #[test]
    fn report_issue_sends_photo_by_url() {
        let mut script = Script::new(ScenarioName::ReportIssue, 0);
        let replies = [
            Some("ask_issue_type"),
            Some("ask_location"),
            Some("ask_photo"),
        ];
        walk(&mut script, &replies);
        let photo = script.plan();
        assert_eq!(photo.body["text"], "");
        let attachment = &photo.body["attachments"][0];
        let url = attachment["url"].as_str().unwrap();
        assert!(
            url.starts_with("https://riverside.example/uploads/pothole-"),
            "{url}"
        );
        assert!(!url.contains("{n}"), "{url}");
        assert_eq!(attachment["name"].as_str(), url.rsplit('/').next());
    }

    #[test]
    fn mixed_sessions_start_in_different_flows() {
        let names: Vec<&str> = (0..3)
            .map(|session| Script::new(ScenarioName::Mixed, session).conversation_name())
            .collect();
        assert_eq!(names, ["parking-fine", "appointment", "report-issue"]);
    }

    #[test]
    fn mixed_cycles_to_next_conversation() {
        let mut script = Script::new(ScenarioName::Mixed, 0);
        walk(&mut script, &[Some("ask_plate"), None]);
        assert_eq!(script.conversation_name(), "appointment");
    }
}
