//! Turns the raw file into the flow model, reporting every field-level
//! problem as a diagnostic with its position and field path.

use indexmap::IndexMap;
use serde_saphyr::{Location, Spanned};

use super::Loaded;
use super::raw::{
    RawBranch, RawButton, RawFile, RawFlow, RawHandoff, RawNext, RawOption, RawStep, RawValidation,
};
use crate::diagnostic::{Diagnostic, Severity, is_identifier};
use crate::expr::Expr;
use crate::model::{
    ActionStep, Branch, Button, ChoiceOption, Collect, Condition, Flow, Handoff, Located, Next,
    Pos, Response, SlotType, Step, StepKind, Target, Validation,
};
use crate::template::Template;

pub(super) fn convert_file(loaded: &mut Loaded, file: u32, raw: RawFile) {
    let mut ctx = Ctx { loaded, file };
    let Some(flows) = raw.flows else {
        let pos = Pos {
            file,
            line: 1,
            column: 1,
        };
        ctx.error(
            "missing_field",
            pos,
            "",
            "missing `flows` at the top of the file",
        )
        .hint("a flow file starts with `flows:` followed by a map of flow ids");
        return;
    };
    if flows.value.is_empty() {
        let pos = ctx.pos(&flows.referenced);
        ctx.error("missing_field", pos, "flows", "`flows` has no flows");
    }
    for (id, flow) in flows.value {
        if let Some(flow) = ctx.convert_flow(&id, flow) {
            ctx.add_flow(flow);
        }
    }
}

struct Ctx<'a> {
    loaded: &'a mut Loaded,
    file: u32,
}

/// Lets a caller attach a hint to the diagnostic it just added.
struct Added<'a>(&'a mut Diagnostic);

impl Added<'_> {
    fn hint(self, hint: impl Into<String>) {
        self.0.hint = Some(hint.into());
    }
}

impl Ctx<'_> {
    fn pos(&self, location: &Location) -> Pos {
        Pos {
            file: self.file,
            line: location.line() as u32,
            column: location.column() as u32,
        }
    }

    fn located<T>(&self, spanned: Spanned<T>) -> Located<T> {
        let pos = self.pos(&spanned.referenced);
        Located::new(spanned.value, pos)
    }

    fn report(
        &mut self,
        severity: Severity,
        code: &'static str,
        pos: Pos,
        path: &str,
        message: &str,
    ) -> Added<'_> {
        let file = self.loaded.flows.sources.get(pos.file as usize).cloned();
        self.loaded.diagnostics.push(Diagnostic {
            severity,
            code,
            file,
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message: message.to_string(),
            hint: None,
        });
        let last = self.loaded.diagnostics.len() - 1;
        Added(&mut self.loaded.diagnostics[last])
    }

    fn error(&mut self, code: &'static str, pos: Pos, path: &str, message: &str) -> Added<'_> {
        self.report(Severity::Error, code, pos, path, message)
    }

    fn warning(&mut self, code: &'static str, pos: Pos, path: &str, message: &str) -> Added<'_> {
        self.report(Severity::Warning, code, pos, path, message)
    }

    fn add_flow(&mut self, flow: Flow) {
        if let Some(existing) = self.loaded.flows.flows.get(&flow.id) {
            let first = self.loaded.flows.locate(existing.pos);
            let message = format!(
                "flow `{}` is defined twice; the first is at {first}",
                flow.id
            );
            let path = format!("flows.{}", flow.id);
            self.error("duplicate_flow", flow.pos, &path, &message)
                .hint("rename one of the flows; flow ids must be unique across all files");
            return;
        }
        self.loaded.flows.flows.insert(flow.id.clone(), flow);
    }

    fn convert_flow(&mut self, id: &str, raw: Spanned<RawFlow>) -> Option<Flow> {
        let pos = self.pos(&raw.referenced);
        let path = format!("flows.{id}");
        let raw = raw.value;
        if !is_identifier(id) {
            let message = format!("invalid flow id `{id}`");
            self.error("invalid_identifier", pos, &path, &message)
                .hint("use ASCII letters, digits and `_`, not starting with a digit");
        }
        self.check_declared_id(id, raw.id.as_ref(), &path);
        let name = self.required_text(raw.name, "name", pos, &path);
        let description = self.required_text(raw.description, "description", pos, &path);
        let description = self.template(description, &format!("{path}.description"));
        let intents = self.intents(raw.nlu_trigger, &path);
        let guard = raw
            .guard
            .and_then(|g| self.expression(g, &format!("{path}.guard")));
        let steps = self.steps(raw.steps, pos, &path);
        let persisted = self.persisted_slots(raw.persisted_slots, &path);
        let name = name.map(|n| n.value).unwrap_or_default();
        let mut flow = Flow::new(
            id.to_string(),
            name,
            description,
            intents,
            guard,
            steps,
            pos,
        );
        flow.persisted_slots = persisted;
        Some(flow)
    }

    fn persisted_slots(&mut self, raw: Option<Vec<Spanned<String>>>, path: &str) -> Vec<String> {
        let mut slots = Vec::new();
        for (index, slot) in raw.unwrap_or_default().into_iter().enumerate() {
            let slot = self.located(slot);
            self.check_slot_name(&slot, &format!("{path}.persisted_slots[{index}]"));
            slots.push(slot.value);
        }
        slots
    }

    fn check_declared_id(&mut self, id: &str, declared: Option<&Spanned<String>>, path: &str) {
        let Some(declared) = declared else { return };
        if declared.value != id {
            let pos = self.pos(&declared.referenced);
            let message = format!(
                "`id: {}` differs from the flow's key `{id}`",
                declared.value
            );
            self.warning("flow_id_mismatch", pos, &format!("{path}.id"), &message)
                .hint("the key under `flows` is the flow id; make `id` equal to it or remove it");
        }
    }

    fn required_text(
        &mut self,
        value: Option<Spanned<String>>,
        field: &str,
        owner: Pos,
        path: &str,
    ) -> Option<Located<String>> {
        match value {
            Some(v) if !v.value.trim().is_empty() => Some(self.located(v)),
            Some(v) => {
                let pos = self.pos(&v.referenced);
                self.error(
                    "missing_field",
                    pos,
                    &format!("{path}.{field}"),
                    &format!("`{field}` is empty"),
                );
                None
            }
            None => {
                self.error("missing_field", owner, path, &format!("missing `{field}`"));
                None
            }
        }
    }

    fn template(&mut self, text: Option<Located<String>>, path: &str) -> Template {
        let Some(text) = text else {
            return Template::default();
        };
        if let Some(offset) = text.value.find("{slots.") {
            let pos = offset_pos(text.pos, offset);
            self.warning(
                "braced_slot_reference",
                pos,
                path,
                "braces around a slot reference are sent as written",
            )
            .hint("write `slots.NAME` without braces, as in `Hello slots.name`");
        }
        match Template::parse(&text.value) {
            Ok(template) => template,
            Err(error) => {
                let pos = offset_pos(text.pos, error.offset);
                self.error("invalid_slot_reference", pos, path, &error.message);
                Template::default()
            }
        }
    }

    fn expression(&mut self, source: Spanned<String>, path: &str) -> Option<Located<Expr>> {
        let source = self.located(source);
        match Expr::parse(&source.value) {
            Ok(expr) => Some(Located::new(expr, source.pos)),
            Err(error) => {
                let pos = offset_pos(source.pos, error.offset);
                let message = format!("invalid condition `{}`: {error}", source.value);
                self.error("invalid_condition", pos, path, &message)
                    .hint("docs/flows.md describes the condition language");
                None
            }
        }
    }

    fn intents(
        &mut self,
        trigger: Option<Spanned<super::raw::RawTrigger>>,
        path: &str,
    ) -> Vec<String> {
        let Some(trigger) = trigger else {
            return Vec::new();
        };
        let mut intents = Vec::new();
        for (index, intent) in trigger.value.intents.into_iter().enumerate() {
            let pos = self.pos(&intent.referenced);
            let name = intent.value.intent;
            if name.trim().is_empty() {
                let field = format!("{path}.nlu_trigger.intents[{index}].intent");
                self.error("missing_field", pos, &field, "intent name is empty");
                continue;
            }
            intents.push(name);
        }
        intents
    }

    fn steps(
        &mut self,
        raw: Option<Spanned<Vec<Spanned<RawStep>>>>,
        owner: Pos,
        path: &str,
    ) -> Vec<Step> {
        let Some(raw) = raw else {
            self.error("missing_field", owner, path, "missing `steps`");
            return Vec::new();
        };
        if raw.value.is_empty() {
            let pos = self.pos(&raw.referenced);
            self.error(
                "missing_field",
                pos,
                &format!("{path}.steps"),
                "`steps` is empty",
            )
            .hint("a flow needs at least one step");
        }
        let mut steps: Vec<Step> = Vec::with_capacity(raw.value.len());
        for (index, step) in raw.value.into_iter().enumerate() {
            let step_path = format!("{path}.steps[{index}]");
            let Some(step) = self.convert_step(step, index, &step_path) else {
                continue;
            };
            if let Some(first) = steps.iter().find(|s| s.id == step.id) {
                let message = format!(
                    "duplicate step id `{}`; the first is at line {}",
                    step.id, first.pos.line
                );
                self.error(
                    "duplicate_step",
                    step.pos,
                    &format!("{step_path}.id"),
                    &message,
                )
                .hint("step ids must be unique within a flow");
                continue;
            }
            steps.push(step);
        }
        steps
    }

    fn convert_step(&mut self, raw: Spanned<RawStep>, index: usize, path: &str) -> Option<Step> {
        let pos = self.pos(&raw.referenced);
        let mut raw = raw.value;
        let id = match raw.id.take() {
            Some(id) if !id.value.trim().is_empty() => id.value,
            Some(_) | None => {
                self.error("missing_field", pos, path, "step has no `id`")
                    .hint("give every step a unique `id` within its flow");
                format!("#{index}")
            }
        };
        let next = self.next(raw.next.take(), path);
        let otherwise = raw.otherwise.take().map(|o| self.target(o));
        let kind = self.step_kind(raw, pos, path);
        Some(Step {
            id,
            kind,
            next,
            otherwise,
            pos,
        })
    }

    fn target(&self, raw: Spanned<String>) -> Located<Target> {
        let pos = self.pos(&raw.referenced);
        Located::new(parse_target(&raw.value), pos)
    }

    fn next(&mut self, raw: Option<Spanned<RawNext>>, path: &str) -> Next {
        let Some(raw) = raw else {
            return Next::FallThrough;
        };
        let pos = self.pos(&raw.referenced);
        match raw.value {
            RawNext::Target(target) => Next::Goto(Located::new(parse_target(&target), pos)),
            RawNext::Branches(branches) => {
                if branches.is_empty() {
                    self.error(
                        "missing_field",
                        pos,
                        &format!("{path}.next"),
                        "`next` is an empty list",
                    )
                    .hint("list at least one `if` or `semantic_if` branch, or name a step");
                }
                let converted = branches
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, b)| self.branch(b, &format!("{path}.next[{i}]")))
                    .collect();
                Next::Branches(converted)
            }
        }
    }

    fn branch(&mut self, raw: Spanned<RawBranch>, path: &str) -> Option<Branch> {
        let pos = self.pos(&raw.referenced);
        let RawBranch {
            condition,
            semantic_if,
            then,
        } = raw.value;
        let Some(then) = then else {
            self.error("missing_field", pos, path, "branch has no `then`")
                .hint("add `then: STEP_ID` or `then: END`");
            return None;
        };
        let then = self.target(then);
        let condition = match (condition, semantic_if) {
            (Some(_), Some(_)) => {
                self.error(
                    "conflicting_fields",
                    pos,
                    path,
                    "branch has both `if` and `semantic_if`",
                )
                .hint("split it into two branches");
                return None;
            }
            (Some(expr), None) => {
                Condition::If(self.expression(expr, &format!("{path}.if"))?.value)
            }
            (None, Some(sentence)) if !sentence.value.trim().is_empty() => {
                Condition::Semantic(sentence.value.trim().to_string())
            }
            (None, _) => {
                self.error(
                    "missing_field",
                    pos,
                    path,
                    "branch has no `if` or `semantic_if`",
                );
                return None;
            }
        };
        Some(Branch {
            condition,
            then,
            pos,
        })
    }
}

/// Purposes of a step: at most one may be present.
const PURPOSES: &[&str] = &[
    "collect",
    "action",
    "response",
    "call",
    "link",
    "set_slots",
    "handoff",
];

impl Ctx<'_> {
    fn step_kind(&mut self, mut raw: RawStep, pos: Pos, path: &str) -> StepKind {
        self.drop_handoff_false(&mut raw, path);
        let present: Vec<&str> = PURPOSES
            .iter()
            .copied()
            .filter(|p| has_purpose(&raw, p))
            .collect();
        if present.len() > 1 {
            let list = present
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let message = format!("step has more than one purpose: {list}");
            self.error("conflicting_fields", pos, path, &message)
                .hint("split it into one step per purpose, chained with `next`");
        }
        self.check_stray_fields(&raw, present.first().copied(), pos, path);
        match present.first().copied() {
            Some("collect") => StepKind::Collect(Box::new(self.collect(&mut raw, path))),
            Some("action") => StepKind::Action(self.action(&mut raw)),
            Some("response") => StepKind::Response(self.response(&mut raw, path)),
            Some("call") => StepKind::Call(
                raw.call
                    .take()
                    .map(|c| self.located(c))
                    .unwrap_or_else(|| Located::new(String::new(), pos)),
            ),
            Some("link") => StepKind::Link(
                raw.link
                    .take()
                    .map(|c| self.located(c))
                    .unwrap_or_else(|| Located::new(String::new(), pos)),
            ),
            Some("set_slots") => StepKind::SetSlots(self.set_slots(&mut raw, path)),
            Some("handoff") => StepKind::Handoff(self.handoff(&mut raw, path)),
            _ => StepKind::Route,
        }
    }

    /// Fields that belong to another step type are mistakes worth reporting:
    /// they would be silently ignored otherwise.
    fn check_stray_fields(&mut self, raw: &RawStep, purpose: Option<&str>, pos: Pos, path: &str) {
        let collect_only = [
            ("collect_type", raw.collect_type.is_some()),
            ("collect_confirmation", raw.collect_confirmation.is_some()),
            ("send_confirmation", raw.send_confirmation.is_some()),
            ("set_slot_as", raw.set_slot_as.is_some()),
            ("ask_before_filling", raw.ask_before_filling.is_some()),
            ("options", raw.options.is_some()),
            ("validation", raw.validation.is_some()),
        ];
        let checks: [(&str, &[(&str, bool)]); 3] = [
            ("collect", &collect_only),
            ("action", &[("result_slot", raw.result_slot.is_some())]),
            (
                "response` or `collect",
                &[("buttons", raw.buttons.is_some())],
            ),
        ];
        for (owner, fields) in checks {
            let owned = purpose.is_some_and(|p| owner.split("` or `").any(|o| o == p));
            for (field, present) in fields.iter().copied() {
                if present && !owned {
                    let message = format!("`{field}` only applies to `{owner}` steps");
                    self.warning("ignored_field", pos, &format!("{path}.{field}"), &message);
                }
            }
        }
        if raw.description.is_some() && purpose.is_some_and(|p| p != "collect") {
            let message = "`description` only applies to `collect` steps and is ignored here";
            self.warning(
                "ignored_field",
                pos,
                &format!("{path}.description"),
                message,
            );
        }
    }

    fn collect(&mut self, raw: &mut RawStep, path: &str) -> Collect {
        let slot = raw
            .collect
            .take()
            .map(|s| self.located(s))
            .unwrap_or_else(|| Located::new(String::new(), Pos::default()));
        self.check_slot_name(&slot, &format!("{path}.collect"));
        let slot_type = self.slot_type(raw.collect_type.take(), path);
        let store_as = match raw.set_slot_as.take() {
            Some(other) => {
                let other = self.located(other);
                self.check_slot_name(&other, &format!("{path}.set_slot_as"));
                other.value
            }
            None => slot.value.clone(),
        };
        let description = raw.description.take().map(|d| self.located(d));
        if description.is_none() {
            let message = format!("collect step for `{}` has no `description`", slot.value);
            self.warning("missing_description", slot.pos, path, &message)
                .hint("the description is the question the user sees; without it Tern asks a generic question");
        }
        let description = self.template(description, &format!("{path}.description"));
        let options = self.options(raw.options.take(), slot_type, slot.pos, path);
        let validation = raw
            .validation
            .take()
            .and_then(|v| self.validation(v, &format!("{path}.validation")));
        Collect {
            store_as,
            slot_type,
            description,
            confirm: raw.collect_confirmation.unwrap_or(false),
            send_confirmation: raw.send_confirmation.unwrap_or(false),
            ask_before_filling: raw.ask_before_filling.unwrap_or(false),
            options,
            validation,
            buttons: buttons(raw.buttons.take()),
            slot,
        }
    }

    fn check_slot_name(&mut self, slot: &Located<String>, path: &str) {
        if !is_identifier(&slot.value) {
            let message = format!("invalid slot name `{}`", slot.value);
            self.error("invalid_identifier", slot.pos, path, &message)
                .hint("use ASCII letters, digits and `_`, not starting with a digit");
        }
    }

    fn slot_type(&mut self, raw: Option<Spanned<String>>, path: &str) -> SlotType {
        let Some(raw) = raw else {
            return SlotType::String;
        };
        match SlotType::parse(&raw.value) {
            Some(slot_type) => slot_type,
            None => {
                let pos = self.pos(&raw.referenced);
                let message = format!("unknown collect_type `{}`", raw.value);
                self.error(
                    "unknown_collect_type",
                    pos,
                    &format!("{path}.collect_type"),
                    &message,
                )
                .hint(format!("use one of: {}", SlotType::NAMES.join(", ")));
                SlotType::String
            }
        }
    }

    fn options(
        &mut self,
        raw: Option<Spanned<Vec<RawOption>>>,
        slot_type: SlotType,
        slot_pos: Pos,
        path: &str,
    ) -> Vec<ChoiceOption> {
        let options: Vec<ChoiceOption> = raw
            .map(|r| r.value.into_iter().map(choice_option).collect())
            .unwrap_or_default();
        if slot_type == SlotType::Choice && options.is_empty() {
            self.error(
                "missing_field",
                slot_pos,
                path,
                "`collect_type: choice` needs `options`",
            )
            .hint("list the allowed values under `options:`");
        }
        options
    }

    fn validation(&mut self, raw: Spanned<RawValidation>, path: &str) -> Option<Validation> {
        let pos = self.pos(&raw.referenced);
        let raw = raw.value;
        let pattern = raw
            .pattern
            .and_then(|p| self.pattern(p, &format!("{path}.pattern")));
        if let (Some(min), Some(max)) = (raw.min, raw.max)
            && min > max
        {
            let message = format!("`min` ({min}) is greater than `max` ({max})");
            self.error("invalid_validation", pos, path, &message);
        }
        if raw.max_attempts == Some(0) {
            self.error(
                "invalid_validation",
                pos,
                &format!("{path}.max_attempts"),
                "`max_attempts` must be at least 1",
            );
        }
        let message = raw.message.map(|m| self.located(m));
        let message = message.map(|m| self.template(Some(m), &format!("{path}.message")));
        Some(Validation {
            pattern,
            min: raw.min,
            max: raw.max,
            allowed_values: raw.allowed_values,
            message,
            max_attempts: raw.max_attempts,
            on_max_attempts: raw.on_max_attempts.map(|t| self.target(t)),
        })
    }

    fn pattern(&mut self, raw: Spanned<String>, path: &str) -> Option<Located<regex::Regex>> {
        let raw = self.located(raw);
        match regex::Regex::new(&raw.value) {
            Ok(regex) => Some(Located::new(regex, raw.pos)),
            Err(error) => {
                let message = format!(
                    "invalid pattern `{}`: {}",
                    raw.value,
                    last_line(&error.to_string())
                );
                self.error("invalid_validation", raw.pos, path, &message);
                None
            }
        }
    }

    fn action(&mut self, raw: &mut RawStep) -> ActionStep {
        let name = raw
            .action
            .take()
            .map(|a| self.located(a))
            .unwrap_or_else(|| Located::new(String::new(), Pos::default()));
        let result_slot = raw
            .result_slot
            .take()
            .map(|s| s.value)
            .unwrap_or_else(|| ActionStep::default_result_slot(&name.value));
        ActionStep { name, result_slot }
    }

    fn response(&mut self, raw: &mut RawStep, path: &str) -> Response {
        let text = raw.response.take().map(|r| self.located(r));
        let text = self.template(text, &format!("{path}.response"));
        Response {
            text,
            buttons: buttons(raw.buttons.take()),
        }
    }

    fn set_slots(
        &mut self,
        raw: &mut RawStep,
        path: &str,
    ) -> IndexMap<String, Located<serde_json::Value>> {
        let Some(raw) = raw.set_slots.take() else {
            return IndexMap::new();
        };
        let mut slots = IndexMap::new();
        for (name, value) in raw.value {
            let value = self.located(value);
            let located_name = Located::new(name.clone(), value.pos);
            self.check_slot_name(&located_name, &format!("{path}.set_slots.{name}"));
            slots.insert(name, value);
        }
        slots
    }

    /// Removes `handoff: false` with a warning, so that it neither hands over
    /// nor conflicts with the step's real purpose.
    fn drop_handoff_false(&mut self, raw: &mut RawStep, path: &str) {
        let is_false = matches!(
            raw.handoff.as_ref().map(|h| &h.value),
            Some(RawHandoff::Flag(false))
        );
        if !is_false {
            return;
        }
        if let Some(handoff) = raw.handoff.take() {
            let pos = self.pos(&handoff.referenced);
            self.warning(
                "ignored_field",
                pos,
                &format!("{path}.handoff"),
                "`handoff: false` has no effect",
            )
            .hint("remove it; `handoff: true` hands the conversation over");
        }
    }

    fn handoff(&mut self, raw: &mut RawStep, path: &str) -> Handoff {
        let Some(raw) = raw.handoff.take() else {
            return Handoff {
                reason: None,
                message: None,
            };
        };
        let pos = self.pos(&raw.referenced);
        let (reason, message) = match raw.value {
            // `handoff: false` was dropped by `drop_handoff_false`.
            RawHandoff::Flag(_) => (None, None),
            RawHandoff::Reason(reason) => (Some(reason), None),
            RawHandoff::Detailed { reason, message } => (reason, message),
        };
        let message = message.map(|m| Located::new(m, pos));
        let message = message.map(|m| self.template(Some(m), &format!("{path}.handoff.message")));
        Handoff { reason, message }
    }
}

fn has_purpose(raw: &RawStep, purpose: &str) -> bool {
    match purpose {
        "collect" => raw.collect.is_some(),
        "action" => raw.action.is_some(),
        "response" => raw.response.is_some(),
        "call" => raw.call.is_some(),
        "link" => raw.link.is_some(),
        "set_slots" => raw.set_slots.is_some(),
        "handoff" => raw.handoff.is_some(),
        _ => false,
    }
}

fn parse_target(text: &str) -> Target {
    match text.trim() {
        "END" => Target::End,
        other => Target::Step(other.to_string()),
    }
}

fn choice_option(raw: RawOption) -> ChoiceOption {
    match raw {
        RawOption::Plain(value) => ChoiceOption {
            title: value.clone(),
            value,
            synonyms: Vec::new(),
        },
        RawOption::Detailed {
            value,
            title,
            synonyms,
        } => ChoiceOption {
            title: title.unwrap_or_else(|| value.clone()),
            value,
            synonyms,
        },
    }
}

fn buttons(raw: Option<Vec<RawButton>>) -> Vec<Button> {
    raw.unwrap_or_default()
        .into_iter()
        .map(|b| match b {
            RawButton::Plain(title) => Button {
                payload: title.clone(),
                title,
            },
            RawButton::Detailed { title, payload } => Button {
                payload: payload.unwrap_or_else(|| title.clone()),
                title,
            },
        })
        .collect()
}

/// The regex crate puts its explanation on the last line of the error.
fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or(text).trim()
}

/// Moves a position `offset` characters to the right, for errors inside a
/// single-line scalar. Multi-line scalars keep the scalar's own position.
fn offset_pos(pos: Pos, offset: usize) -> Pos {
    Pos {
        column: pos.column + offset as u32,
        ..pos
    }
}
