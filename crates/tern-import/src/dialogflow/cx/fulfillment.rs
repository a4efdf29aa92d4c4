//! Fulfillments (parameter presets, messages, conditional responses,
//! webhook calls) and transition targets.

use serde_json::Value;

use crate::dialogflow::json::J;
use crate::dialogflow::names::slot_name;
use crate::dialogflow::text::{cx_text, short};
use crate::dialogflow::yaml::{Branch, Condition, Kind, Next, Step};
use crate::project::ImportError;
use crate::report::Fidelity;

use super::build::{FlowBuilder, FulfillmentOut, PageCtx};
use super::condition;

/// One step of a fulfillment before the steps are linked.
enum Part<'a> {
    Step {
        kind: Kind,
        comments: Vec<String>,
    },
    /// Blocks of conditional responses, each with a `cases` list.
    Cases(Vec<J<'a>>),
    Webhook {
        name: String,
    },
    /// Ends the chain: a hand-over or the end of the conversation.
    Stop(Option<Kind>),
}

impl<'a> FlowBuilder<'a, '_> {
    pub fn fulfillment(
        &mut self,
        node: &J<'a>,
        base: &str,
        then: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<FulfillmentOut, ImportError> {
        self.fulfillment_with(node, base, then, page, false)
    }

    /// Converts a fulfillment into steps ending at `then`. With
    /// `take_question`, the last text message is returned instead of sent.
    pub fn fulfillment_with(
        &mut self,
        node: &J<'a>,
        base: &str,
        then: &str,
        page: &mut PageCtx<'a>,
        take_question: bool,
    ) -> Result<FulfillmentOut, ImportError> {
        let mut parts = Vec::new();
        let presets = self.presets(node)?;
        if !presets.is_empty() {
            parts.push(Part::Step {
                kind: Kind::SetSlots(presets),
                comments: Vec::new(),
            });
        }
        let mut buttons = Vec::new();
        let mut foreign = Vec::new();
        self.messages(node, &mut parts, &mut buttons, &mut foreign)?;
        let blocks = node.array("conditionalCases")?;
        if !blocks.is_empty() {
            parts.push(Part::Cases(blocks));
        }
        if let Some(webhook) = node.str("webhook")? {
            let tag = node.str("tag")?;
            let name = self.register_webhook(node, webhook, tag)?;
            parts.push(Part::Webhook { name });
        }
        self.unmapped_fulfillment_fields(node)?;

        let mut question = None;
        if take_question {
            let last_text = parts.iter().rposition(|p| {
                matches!(
                    p,
                    Part::Step {
                        kind: Kind::Response { .. },
                        ..
                    }
                )
            });
            if let Some(index) = last_text
                && let Part::Step {
                    kind: Kind::Response { text, buttons: own },
                    ..
                } = parts.remove(index)
            {
                question = Some(text);
                buttons.splice(0..0, own);
            }
        }
        if !foreign.is_empty() {
            match parts.iter_mut().find_map(|p| match p {
                Part::Step { comments, .. } => Some(comments),
                _ => None,
            }) {
                Some(comments) => comments.append(&mut foreign),
                None => parts.insert(
                    0,
                    Part::Step {
                        kind: Kind::Route,
                        comments: foreign,
                    },
                ),
            }
        }
        // Chips attach to the last response before them; left-over chips go
        // back to the caller, such as a form question.
        let entry = self.link_parts(parts, base, then, page)?;
        Ok(FulfillmentOut {
            entry,
            question,
            buttons,
        })
    }

    fn link_parts(
        &mut self,
        mut parts: Vec<Part<'a>>,
        base: &str,
        then: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        if let Some(stop) = parts.iter().position(|p| matches!(p, Part::Stop(_))) {
            parts.truncate(stop + 1);
        }
        if parts.is_empty() {
            return Ok(then.to_string());
        }
        let ids: Vec<String> = parts
            .iter()
            .map(|part| match part {
                Part::Stop(None) => "END".to_string(),
                Part::Step {
                    kind: Kind::Response { .. },
                    ..
                } => self.alloc(&format!("{base}_say")),
                Part::Step {
                    kind: Kind::SetSlots(_),
                    ..
                } => self.alloc(&format!("{base}_set")),
                Part::Webhook { name } => self.alloc(&format!("{base}_{name}")),
                Part::Cases(_) => self.alloc(&format!("{base}_cases")),
                _ => self.alloc(base),
            })
            .collect();
        for (index, part) in parts.into_iter().enumerate() {
            let next = ids
                .get(index + 1)
                .cloned()
                .unwrap_or_else(|| then.to_string());
            let id = ids[index].clone();
            match part {
                Part::Step { kind, comments } => {
                    let mut step = Step::new(id, kind, next);
                    step.comments = comments;
                    self.steps.push(step);
                }
                Part::Stop(None) => {}
                Part::Stop(Some(kind)) => self.steps.push(Step::new(id, kind, "END")),
                Part::Webhook { name } => {
                    let placeholder = self.steps.len();
                    self.steps
                        .push(Step::new(id.clone(), Kind::Action { name }, next.clone()));
                    let on_error = self.webhook_error(&next, page)?;
                    self.steps[placeholder].otherwise = Some(on_error);
                }
                Part::Cases(cases) => {
                    let placeholder = self.steps.len();
                    self.steps
                        .push(Step::new(id.clone(), Kind::Route, next.clone()));
                    let (branches, otherwise) = self.cases(&cases, &id, &next, page)?;
                    let step = &mut self.steps[placeholder];
                    step.next = Next::Branches(branches);
                    step.otherwise = Some(otherwise);
                }
            }
        }
        Ok(ids[0].clone())
    }

    /// Parameter presets as `set_slots` values; values that compute
    /// something are reported and left out.
    fn presets(&mut self, node: &J<'a>) -> Result<Vec<(String, Value)>, ImportError> {
        let mut values = Vec::new();
        for action in node.array("setParameterActions")? {
            let parameter = action.required_str("parameter")?;
            let value = action.value.get("value").cloned().unwrap_or(Value::Null);
            let what = format!("parameter preset `{parameter}`");
            if parameter.contains('(') {
                self.ctx.report.add(Fidelity::Unmapped, action.file, action.path.clone(), what, "the target is a system function; Tern's `set_slots` only assigns fixed values to slots");
                continue;
            }
            if contains_reference(&value) {
                let note = format!(
                    "the value `{}` is computed from other parameters or functions; Tern's `set_slots` only assigns fixed values, so set it in an action",
                    compact(&value)
                );
                self.ctx.report.add(
                    Fidelity::Unmapped,
                    action.file,
                    action.path.clone(),
                    what,
                    note,
                );
                continue;
            }
            let slot = slot_name(parameter);
            self.ctx.report.add(
                Fidelity::Mapped,
                action.file,
                action.path.clone(),
                what,
                format!("`set_slots` assigns `{slot}`"),
            );
            values.retain(|(existing, _): &(String, Value)| existing != &slot);
            values.push((slot, value));
        }
        Ok(values)
    }

    fn messages(
        &mut self,
        node: &J<'a>,
        parts: &mut Vec<Part<'a>>,
        buttons: &mut Vec<String>,
        foreign: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        self.message_list(node.array("messages")?, parts, buttons, foreign)
    }

    fn message_list(
        &mut self,
        messages: Vec<J<'a>>,
        parts: &mut Vec<Part<'a>>,
        buttons: &mut Vec<String>,
        foreign: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let language = self.ctx.agent.default_language.clone();
        for message in messages {
            let message_language = message.str("languageCode")?.unwrap_or(&language);
            if message_language != language {
                let texts = message
                    .get("text")
                    .map(|t| t.strings("text"))
                    .transpose()?
                    .unwrap_or_default();
                for text in &texts {
                    foreign.push(format!("{message_language}: {}", text.trim()));
                }
                let note = format!(
                    "Tern flows hold one language, the agent's default `{language}`; the text is kept as a comment for translation"
                );
                self.ctx.report.add(
                    Fidelity::Unmapped,
                    message.file,
                    message.path.clone(),
                    format!("`{message_language}` message"),
                    note,
                );
                continue;
            }
            if let Some(text) = message.object("text")? {
                let variants = text.strings("text")?;
                let Some(first) = variants.first() else {
                    continue;
                };
                self.text_message(&message, first, variants.len(), parts)?;
            } else if let Some(payload) = message.object("payload")? {
                self.payload(&payload, parts, buttons)?;
            } else if let Some(handoff) = message.get("liveAgentHandoff") {
                let note = "became a `handoff` step; the hand-over metadata is not passed on";
                self.ctx.report.add(
                    Fidelity::Approximate,
                    handoff.file,
                    handoff.path.clone(),
                    "live agent hand-off",
                    note,
                );
                parts.push(Part::Stop(Some(Kind::Handoff {
                    reason: Some("Dialogflow live agent handoff".into()),
                    message: None,
                })));
            } else if let Some(transfer) = message.get("telephonyTransferCall") {
                let number = transfer.str("phoneNumber")?.unwrap_or_default();
                let note = "became a `handoff` step; Tern does not transfer phone calls, so route the hand-over to the number yourself";
                self.ctx.report.add(
                    Fidelity::Approximate,
                    transfer.file,
                    transfer.path.clone(),
                    "telephony call transfer",
                    note,
                );
                parts.push(Part::Stop(Some(Kind::Handoff {
                    reason: Some(format!("transfer the call to {number}")),
                    message: None,
                })));
            } else if let Some(end) = message.get("endInteraction") {
                self.ctx.report.add(
                    Fidelity::Mapped,
                    end.file,
                    end.path.clone(),
                    "end of interaction",
                    "the flow ends here",
                );
                parts.push(Part::Stop(None));
            } else if let Some(audio) = message.get("outputAudioText") {
                let text = audio
                    .str("text")?
                    .or(audio.str("ssml")?)
                    .unwrap_or_default();
                self.text_message(&audio, text, 1, parts)?;
            } else if let Some(success) = message.get("conversationSuccess") {
                self.ctx.report.add(
                    Fidelity::Unmapped,
                    success.file,
                    success.path.clone(),
                    "conversation success marker",
                    "Tern has no success metadata; the marker was dropped",
                );
            } else {
                let kind = message
                    .value
                    .as_object()
                    .and_then(|m| {
                        m.keys()
                            .find(|k| *k != "languageCode" && *k != "channel")
                            .cloned()
                    })
                    .unwrap_or_default();
                let note =
                    "this kind of response has no Tern equivalent (Tern sends text with buttons)";
                self.ctx.report.add(
                    Fidelity::Unmapped,
                    message.file,
                    message.path.clone(),
                    format!("`{kind}` response"),
                    note,
                );
            }
        }
        Ok(())
    }

    fn text_message(
        &mut self,
        node: &J<'a>,
        source: &str,
        variants: usize,
        parts: &mut Vec<Part<'a>>,
    ) -> Result<(), ImportError> {
        let converted = cx_text(source);
        let what = format!("message \"{}\"", short(source));
        if converted.uses_generator() {
            let note = "the text is produced by a generator (an LLM prompt), which Tern does not run; write the message by hand or produce it in an action";
            self.ctx
                .report
                .add(Fidelity::Unmapped, node.file, node.path.clone(), what, note);
            return Ok(());
        }
        if !converted.unmapped.is_empty() {
            let note = format!(
                "{} cannot be expressed in a Tern template, so the message was left out",
                converted
                    .unmapped
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.ctx
                .report
                .add(Fidelity::Unmapped, node.file, node.path.clone(), what, note);
            return Ok(());
        }
        if converted.text.is_empty() {
            return Ok(());
        }
        let mut notes = converted.notes.clone();
        if variants > 1 {
            notes.push(format!(
                "Dialogflow picks one of {variants} variants at random; Tern always sends the first"
            ));
        }
        let (fidelity, note) = if notes.is_empty() {
            (Fidelity::Mapped, "a `response` step".to_string())
        } else {
            (Fidelity::Approximate, notes.join("; "))
        };
        self.ctx
            .report
            .add(fidelity, node.file, node.path.clone(), what, note);
        parts.push(Part::Step {
            kind: Kind::Response {
                text: converted.text,
                buttons: Vec::new(),
            },
            comments: Vec::new(),
        });
        Ok(())
    }

    fn payload(
        &mut self,
        payload: &J<'a>,
        parts: &mut [Part<'a>],
        buttons: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let Some(rich) = payload.get("richContent") else {
            let note = "custom payloads are channel-specific JSON that Tern does not send";
            self.ctx.report.add(
                Fidelity::Unmapped,
                payload.file,
                payload.path.clone(),
                "custom payload",
                note,
            );
            return Ok(());
        };
        // Dialogflow Messenger documents a list of rows of items; exports also
        // contain a flat list of items.
        let mut items = Vec::new();
        for row in rich.elements()? {
            if row.value.is_array() {
                items.extend(row.elements()?)
            } else {
                items.push(row)
            }
        }
        {
            for item in items {
                let kind = item.str("type")?.unwrap_or_default();
                if kind == "chips" {
                    let mut titles = Vec::new();
                    for option in item.array("options")? {
                        if let Some(text) = option.str("text")? {
                            titles.push(text.to_string());
                        }
                    }
                    self.ctx.report.add(
                        Fidelity::Mapped,
                        item.file,
                        item.path.clone(),
                        "suggestion chips",
                        "became buttons",
                    );
                    let last_response = parts.iter_mut().rev().find_map(|p| match p {
                        Part::Step {
                            kind: Kind::Response { buttons: own, .. },
                            ..
                        } => Some(own),
                        _ => None,
                    });
                    match last_response {
                        Some(own) => own.extend(titles),
                        None => buttons.extend(titles),
                    }
                } else {
                    let note = "rich content other than chips is channel-specific and has no Tern equivalent";
                    self.ctx.report.add(
                        Fidelity::Unmapped,
                        item.file,
                        item.path.clone(),
                        format!("rich content `{kind}`"),
                        note,
                    );
                }
            }
        }
        Ok(())
    }

    fn unmapped_fulfillment_fields(&mut self, node: &J<'a>) -> Result<(), ImportError> {
        for generator in node.array("generators")? {
            let reference = generator.str("generator")?.unwrap_or_default();
            let id = reference.rsplit('/').next().unwrap_or_default();
            let agent = self.ctx.agent;
            let (name, prompt) = match agent.generators.get(id) {
                Some(found) => (found.name.clone(), found.prompt.clone()),
                None => (id.to_string(), String::new()),
            };
            let mut note = "generators send an LLM prompt at run time; Tern flows have no such step, so write the text by hand or produce it in an action".to_string();
            if !prompt.is_empty() {
                note.push_str(&format!(". Its prompt starts: \"{}\"", short(&prompt)));
            }
            self.ctx.report.add(
                Fidelity::Unmapped,
                generator.file,
                generator.path.clone(),
                format!("generator `{name}`"),
                note,
            );
        }
        if node.flag("enableGenerativeFallback")? {
            let note = "Tern's understanding layer answers unclear messages with `not_understood`; the generative fallback prompt is not used";
            self.ctx.report.add(
                Fidelity::Unmapped,
                node.file,
                node.field_path("enableGenerativeFallback"),
                "generative fallback",
                note,
            );
        }
        Ok(())
    }

    /// The branches of conditional responses; returns them and the `else`.
    fn cases(
        &mut self,
        blocks: &[J<'a>],
        base: &str,
        then: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<(Vec<Branch>, String), ImportError> {
        let mut branches = Vec::new();
        for block in blocks {
            for case in block.array("cases")? {
                let content = self.case_content(&case, base, then, page)?;
                match case
                    .str("condition")?
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                {
                    None => return Ok((branches, content)),
                    Some(raw) => match condition::translate(raw) {
                        Ok(text) if text == "true" => return Ok((branches, content)),
                        Ok(text) => {
                            self.ctx.report.add(
                                Fidelity::Mapped,
                                case.file,
                                case.field_path("condition"),
                                format!("conditional response `{raw}`"),
                                format!("translated to `{text}`"),
                            );
                            branches.push(Branch {
                                condition: Condition::If(text),
                                then: content,
                                comments: Vec::new(),
                            });
                        }
                        Err(reason) => {
                            self.ctx.report.add(
                                Fidelity::Unmapped,
                                case.file,
                                case.field_path("condition"),
                                format!("conditional response `{raw}`"),
                                format!("{reason}; the branch is disabled"),
                            );
                            self.ctx.untranslated_conditions += 1;
                            let comments = vec![format!("NOT TRANSLATED ({reason}): {raw}")];
                            branches.push(Branch {
                                condition: Condition::If("false".into()),
                                then: content,
                                comments,
                            });
                        }
                    },
                }
            }
        }
        Ok((branches, then.to_string()))
    }

    fn case_content(
        &mut self,
        case: &J<'a>,
        base: &str,
        then: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let mut parts = Vec::new();
        let mut buttons = Vec::new();
        let mut foreign = Vec::new();
        for content in case.array("caseContent")? {
            if let Some(message) = content.object("message")? {
                self.message_list(vec![message], &mut parts, &mut buttons, &mut foreign)?;
            } else if let Some(nested) = content.object("additionalCases")? {
                parts.push(Part::Cases(vec![nested]));
            }
        }
        if !foreign.is_empty() {
            parts.insert(
                0,
                Part::Step {
                    kind: Kind::Route,
                    comments: foreign,
                },
            );
        }
        self.link_parts(parts, &format!("{base}_case"), then, page)
    }
}

/// Whether a preset value refers to parameters or calls a function.
fn contains_reference(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('$'),
        Value::Array(items) => items.iter().any(contains_reference),
        Value::Object(map) => map.values().any(contains_reference),
        _ => false,
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
