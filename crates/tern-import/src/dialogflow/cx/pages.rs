//! The parts of a page that wait for the user: form parameters, which
//! become collect steps, and intent routes, which become a wait for the
//! reply followed by `semantic_if` branches. Also transition targets and
//! webhook calls.

use std::collections::BTreeSet;

use crate::dialogflow::actions::{Action, action_name, webhook_url};
use crate::dialogflow::entities::slot_kind;
use crate::dialogflow::json::J;
use crate::dialogflow::names::{slot_name, snake_case};
use crate::dialogflow::yaml::{Collect, Kind, Step, Validation};
use crate::project::ImportError;
use crate::report::Fidelity;

use super::build::{Edge, FlowBuilder, PageCtx};
use super::routes::Route;

impl<'a> FlowBuilder<'a, '_> {
    /// Builds the wait for the user's reply on a page with intent routes. Each
    /// no-match attempt gets its own copy of the intent branches so that
    /// `sys.no-match-1`, `-2`, `-3` can differ. Returns the wait step's id.
    pub fn wait(
        &mut self,
        intents: &[Route<'a>],
        question: Option<String>,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let wait_id = self.alloc(&format!("{}_wait", page.prefix));
        let slot = self.reply_slot(page);
        let placeholder = self.steps.len();
        self.steps
            .push(Step::new(wait_id.clone(), Kind::Route, "END"));

        let attempts = self.no_match_attempts(page);
        let was_after_reply = std::mem::replace(&mut page.after_reply, true);
        let intent_ids: Vec<String> = (1..=attempts)
            .map(|_| self.alloc(&format!("{}_intents", page.prefix)))
            .collect();
        for attempt in 1..=attempts {
            let retry_next = intent_ids[attempt.min(attempts - 1)].clone();
            let fallback = self.no_match(attempt, &retry_next, &slot, page)?;
            let id = &intent_ids[attempt - 1];
            self.preset_chain_id = Some(id.clone());
            let entry = self.intent_dispatch(intents, &fallback, page)?;
            self.preset_chain_id = None;
            if &entry != id {
                self.steps.push(Step::new(id.clone(), Kind::Route, entry));
            }
        }
        page.after_reply = was_after_reply;
        let first_intents = intent_ids[0].clone();
        let collect = Collect {
            slot: slot.clone(),
            description: question,
            ask_before_filling: true,
            ..Default::default()
        };
        self.steps[placeholder] = Step::new(
            wait_id.clone(),
            Kind::Collect(Box::new(collect)),
            first_intents.clone(),
        );
        if let Some(silent) = page.silent_wait.clone() {
            let collect = Collect {
                slot: slot.clone(),
                description: None,
                ask_before_filling: true,
                ..Default::default()
            };
            self.steps.push(Step::new(
                silent,
                Kind::Collect(Box::new(collect)),
                first_intents,
            ));
        }
        let flow_name = self.src.flow.name.clone();
        self.ctx.waits.insert(
            (flow_name, page.name.clone()),
            (self.id.clone(), wait_id.clone(), slot),
        );
        Ok(wait_id)
    }

    /// Counts the numbered `sys.no-match-N` handlers of the page (at least 1).
    fn no_match_attempts(&self, page: &PageCtx<'a>) -> usize {
        page.handlers
            .iter()
            .filter_map(|h| h.value.get("event").and_then(|e| e.as_str()))
            .filter_map(|e| {
                e.strip_prefix("sys.no-match-")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .max()
            .unwrap_or(1)
            .clamp(1, 9)
    }

    /// The handler for a page event: the page's own first, then the flow's;
    /// a numbered event falls back to its `-default` handler.
    fn handler(&self, page: &PageCtx<'a>, event: &str) -> Option<J<'a>> {
        let default = event
            .rsplit_once('-')
            .map(|(head, _)| format!("{head}-default"));
        let matches =
            |h: &&J<'a>, name: &str| h.value.get("event").and_then(|e| e.as_str()) == Some(name);
        let candidates = [Some(event.to_string()), default];
        for scope in [&page.handlers, &self.flow_handlers] {
            for name in candidates.iter().flatten() {
                if let Some(found) = scope.iter().find(|h| matches(h, name)) {
                    return Some(found.clone());
                }
            }
        }
        None
    }

    /// Builds the steps for the `attempt`-th message that matched no intent.
    fn no_match(
        &mut self,
        attempt: usize,
        retry_next: &str,
        slot: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let handler = self.handler(page, &format!("sys.no-match-{attempt}"));
        let retry = self.alloc(&format!("{}_retry", page.prefix));
        let Some(handler) = handler else {
            let collect = Collect {
                slot: slot.to_string(),
                description: None,
                ask_before_filling: true,
                ..Default::default()
            };
            self.steps.push(Step::new(
                retry.clone(),
                Kind::Collect(Box::new(collect)),
                retry_next,
            ));
            return Ok(retry);
        };
        let event = handler.str("event")?.unwrap_or_default().to_string();
        let has_target = ["targetPage", "targetFlow"]
            .iter()
            .any(|k| handler.get(k).is_some());
        let fulfillment = handler.object("triggerFulfillment")?;
        if has_target {
            let target = self.target(&handler, page)?;
            self.report_handler(
                &handler,
                &event,
                "after this many unmatched replies the flow moves on as in Dialogflow",
            );
            return match fulfillment {
                Some(f) => Ok(self
                    .fulfillment(&f, &format!("{}_no_match", page.prefix), &target, page)?
                    .entry),
                None => Ok(target),
            };
        }
        let (entry, question) = match fulfillment {
            Some(f) => {
                let out = self.fulfillment_with(
                    &f,
                    &format!("{}_no_match", page.prefix),
                    &retry,
                    page,
                    true,
                )?;
                (out.entry, out.question)
            }
            None => (retry.clone(), None),
        };
        let collect = Collect {
            slot: slot.to_string(),
            description: question,
            ask_before_filling: true,
            ..Default::default()
        };
        self.steps.push(Step::new(
            retry,
            Kind::Collect(Box::new(collect)),
            retry_next,
        ));
        self.report_handler(&handler, &event, "re-asks when the reply matches none of the page's intents, judged by the `semantic_if` branches");
        Ok(entry)
    }

    fn report_handler(&mut self, handler: &J<'a>, event: &str, note: &str) {
        self.ctx.report.add(
            Fidelity::Approximate,
            handler.file,
            handler.path.clone(),
            format!("`{event}` handler"),
            note,
        );
    }

    /// Collect steps for the form's required parameters, ending at `then`.
    pub fn form(
        &mut self,
        form: &J<'a>,
        then: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let parameters = form.array("parameters")?;
        let mut entries = Vec::new();
        let mut next = then.to_string();
        let mut built = Vec::new();
        for parameter in parameters.iter().rev() {
            let name = parameter.required_str("displayName")?;
            let slot = slot_name(name);
            if !parameter.flag("required")? {
                let note = "optional parameters are filled only when the user happens to mention them; Tern collects only what it asks for, so this one is not collected";
                self.ctx.report.add(
                    Fidelity::Approximate,
                    parameter.file,
                    parameter.path.clone(),
                    format!("optional form parameter `{name}`"),
                    note,
                );
                continue;
            }
            let entry = self.collect(parameter, &slot, &next, page)?;
            built.push((entry.clone(), slot.clone()));
            next = entry;
        }
        built.reverse();
        for (step, slot) in &built {
            entries.push((self.id.clone(), step.clone(), slot.clone()));
        }
        self.ctx
            .forms
            .insert((self.src.flow.name.clone(), page.name.clone()), entries);
        Ok(next)
    }

    fn collect(
        &mut self,
        parameter: &J<'a>,
        slot: &str,
        then: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let name = parameter.required_str("displayName")?;
        let entity = parameter.str("entityType")?.unwrap_or("@sys.any");
        let agent = self.ctx.agent;
        let kind = slot_kind(entity, &agent.entities);
        self.ctx
            .used_entities
            .insert(entity.trim_start_matches('@').to_string());
        let mut notes = vec![kind.note.clone()];
        let mut fidelity = kind.fidelity;
        if parameter.flag("isList")? {
            fidelity = Fidelity::Approximate;
            notes.push("the parameter is a list in Dialogflow; Tern collects one value".into());
        }
        if parameter.get("defaultValue").is_some() {
            fidelity = Fidelity::Approximate;
            notes.push("its default value is not used".into());
        }
        let step_id = self.alloc(&format!("{}_{slot}", page.prefix));
        let mut collect = Collect {
            slot: slot.to_string(),
            collect_type: kind.collect_type,
            options: kind.options.clone(),
            validation: kind.pattern.clone().map(|pattern| Validation {
                pattern: Some(pattern),
                ..Default::default()
            }),
            ..Default::default()
        };
        let behavior = parameter.object("fillBehavior")?;
        let prompt = behavior
            .as_ref()
            .map(|b| b.object("initialPromptFulfillment"))
            .transpose()?
            .flatten();
        let placeholder = self.steps.len();
        self.steps
            .push(Step::new(step_id.clone(), Kind::Route, then));
        let mut entry = step_id.clone();
        if let Some(prompt) = prompt {
            let out = self.fulfillment_with(
                &prompt,
                &format!("{}_{slot}_prompt", page.prefix),
                &step_id,
                page,
                true,
            )?;
            collect.description = out.question;
            collect.buttons = out.buttons;
            entry = out.entry;
        }
        if collect.description.is_none() {
            fidelity = Fidelity::Approximate;
            notes.push("the parameter has no prompt, so Tern waits for the value without asking (the engine's `ask_slot` message is switched off)".into());
        }
        if let Some(description) = &collect.description
            && mentions(description, slot)
        {
            collect.description = None;
            notes.push("the prompt mentions the value it asks for, which Tern does not allow, so it was dropped".into());
        }
        if let Some(behavior) = &behavior {
            self.reprompts(behavior, &mut collect, page, &mut notes)?;
        }
        if notes.len() > 1 && fidelity == Fidelity::Mapped {
            fidelity = Fidelity::Approximate;
        }
        self.ctx.report.add(
            fidelity,
            parameter.file,
            parameter.path.clone(),
            format!("form parameter `{name}` ({entity})"),
            format!("a `collect` step for `{slot}`: {}", notes.join("; ")),
        );
        self.steps[placeholder].kind = Kind::Collect(Box::new(collect));
        Ok(entry)
    }

    /// `sys.no-match-N` re-prompts: the first message becomes
    /// `validation.message`, and the last handler with a target becomes
    /// `max_attempts` and `on_max_attempts`.
    fn reprompts(
        &mut self,
        behavior: &J<'a>,
        collect: &mut Collect,
        page: &mut PageCtx<'a>,
        notes: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let mut validation = collect.validation.take().unwrap_or_default();
        let mut messages = 0;
        for handler in behavior.array("repromptEventHandlers")? {
            let event = handler.str("event")?.unwrap_or_default().to_string();
            let attempt = match event.as_str() {
                "sys.no-match-default" | "sys.invalid-parameter" => Some(1),
                _ => event
                    .strip_prefix("sys.no-match-")
                    .and_then(|n| n.parse::<u32>().ok()),
            };
            let Some(attempt) = attempt else {
                let note = if event.starts_with("sys.no-input") {
                    "Tern has no time-out events in text chat, so this handler is not used"
                } else {
                    "Tern has no custom events, so this handler is not used"
                };
                self.ctx.report.add(
                    Fidelity::Unmapped,
                    handler.file,
                    handler.path.clone(),
                    format!("`{event}` re-prompt"),
                    note,
                );
                continue;
            };
            let has_target = ["targetPage", "targetFlow"]
                .iter()
                .any(|k| handler.get(k).is_some());
            let fulfillment = handler.object("triggerFulfillment")?;
            if has_target {
                let target = self.target(&handler, page)?;
                let entry = match &fulfillment {
                    Some(f) => {
                        self.fulfillment(
                            f,
                            &format!("{}_{}_give_up", page.prefix, collect.slot),
                            &target,
                            page,
                        )?
                        .entry
                    }
                    None => target,
                };
                validation.max_attempts = Some(attempt);
                validation.on_max_attempts = Some(entry);
                self.ctx.report.add(
                    Fidelity::Mapped,
                    handler.file,
                    handler.path.clone(),
                    format!("`{event}` re-prompt"),
                    format!("`max_attempts: {attempt}` with `on_max_attempts`"),
                );
                continue;
            }
            let text = fulfillment
                .as_ref()
                .map(|f| -> Result<Option<String>, ImportError> {
                    let variants = f
                        .array("messages")?
                        .into_iter()
                        .find_map(|m| m.get("text").map(|t| t.strings("text")))
                        .transpose()?;
                    Ok(variants
                        .and_then(|v| v.first().map(|t| crate::dialogflow::text::cx_text(t)))
                        .and_then(|c| c.unmapped.is_empty().then_some(c.text)))
                });
            let text = text.transpose()?.flatten().filter(|t| !t.is_empty());
            match text {
                Some(text) if messages == 0 && !mentions(&text, &collect.slot) => {
                    validation.message = Some(text);
                    messages += 1;
                    let note = "became `validation.message`; Tern re-asks only when the answer fails the collect type or validation";
                    self.ctx.report.add(
                        Fidelity::Approximate,
                        handler.file,
                        handler.path.clone(),
                        format!("`{event}` re-prompt"),
                        note,
                    );
                }
                Some(_) => {
                    let note = "Tern has one re-ask message per question; this later or self-referencing one was left out";
                    self.ctx.report.add(
                        Fidelity::Approximate,
                        handler.file,
                        handler.path.clone(),
                        format!("`{event}` re-prompt"),
                        note,
                    );
                }
                None => {
                    if let Some(f) = &fulfillment {
                        self.unmapped_prompt_fields(f)?;
                    }
                }
            }
        }
        if validation.message.is_some()
            || validation.max_attempts.is_some()
            || validation.pattern.is_some()
        {
            collect.validation = Some(validation);
        }
        if collect
            .validation
            .as_ref()
            .is_some_and(|v| v.max_attempts.is_some() && v.message.is_none())
        {
            notes.push("after an invalid answer Tern re-asks with its `invalid_value` message until `max_attempts`".into());
        }
        Ok(())
    }

    fn unmapped_prompt_fields(&mut self, fulfillment: &J<'a>) -> Result<(), ImportError> {
        if fulfillment.flag("enableGenerativeFallback")? {
            let note = "Tern re-asks with the collect step's own message; the generative fallback is not used";
            self.ctx.report.add(
                Fidelity::Unmapped,
                fulfillment.file,
                fulfillment.path.clone(),
                "generative fallback re-prompt",
                note,
            );
        }
        Ok(())
    }

    /// The step a route or handler goes to.
    pub fn target(&mut self, node: &J<'a>, page: &mut PageCtx<'a>) -> Result<String, ImportError> {
        if let Some(flow) = node.str("targetFlow")? {
            return self.flow_target(node, flow.rsplit('/').next().unwrap_or(flow).trim(), page);
        }
        if node.get("targetPlaybook").is_some() {
            let note =
                "playbooks are LLM agents that Tern does not run; the flow ends here instead";
            self.ctx.report.add(
                Fidelity::Unmapped,
                node.file,
                node.field_path("targetPlaybook"),
                "transition to a playbook",
                note,
            );
            return Ok("END".into());
        }
        let Some(raw) = node.str("targetPage")? else {
            return Ok(page.return_to.clone());
        };
        let name = raw.rsplit('/').next().unwrap_or(raw).trim();
        let path = node.field_path("targetPage");
        let special = name.to_ascii_uppercase().replace(' ', "_");
        let add = |this: &mut Self, fidelity, note: &str| {
            this.ctx.report.add(
                fidelity,
                node.file,
                path.clone(),
                format!("target `{name}`"),
                note,
            );
        };
        match special.as_str() {
            "END_FLOW" => {
                add(
                    self,
                    Fidelity::Mapped,
                    "`END`: the flow ends and a calling flow continues",
                );
                Ok("END".into())
            }
            "END_SESSION" => {
                add(
                    self,
                    Fidelity::Approximate,
                    "`END`: Tern ends this flow, but a flow that called it continues, while Dialogflow ends the whole session",
                );
                Ok("END".into())
            }
            "END_FLOW_WITH_FAILURE" | "END_FLOW_WITH_CANCELLATION" => {
                add(
                    self,
                    Fidelity::Approximate,
                    "`END`: Tern does not tell the caller whether the flow failed or was cancelled; set a slot before it if the caller needs to know",
                );
                Ok("END".into())
            }
            "END_FLOW_WITH_HUMAN_ESCALATION" => {
                add(self, Fidelity::Mapped, "a `handoff` step");
                Ok(self.handoff_step())
            }
            "CURRENT_PAGE" if page.has_form || page.after_reply => {
                add(
                    self,
                    Fidelity::Approximate,
                    "goes back to the start of this page, running its entry fulfillment again",
                );
                Ok(page.prefix.clone())
            }
            "CURRENT_PAGE" => {
                add(
                    self,
                    Fidelity::Approximate,
                    "`END`: the page does not wait for the user, so starting it again would loop without input",
                );
                Ok("END".into())
            }
            "START_PAGE" => {
                add(
                    self,
                    Fidelity::Mapped,
                    "goes to the flow's first step, `start`",
                );
                Ok("start".into())
            }
            "PREVIOUS_PAGE" => {
                let sources = self
                    .predecessors
                    .get(&page.name)
                    .cloned()
                    .unwrap_or_default();
                if sources.len() == 1 {
                    let previous = sources.iter().next().cloned().unwrap_or_default();
                    add(
                        self,
                        Fidelity::Approximate,
                        "Tern keeps no page history; only one page leads here, so the step goes back to it",
                    );
                    Ok(self.page_entries[&previous].clone())
                } else if page.has_form || page.after_reply {
                    add(
                        self,
                        Fidelity::Approximate,
                        "Tern keeps no page history and several pages lead here, so the step starts this page again",
                    );
                    Ok(page.prefix.clone())
                } else {
                    add(
                        self,
                        Fidelity::Approximate,
                        "`END`: Tern keeps no page history, several pages lead here, and this page does not wait for the user",
                    );
                    Ok("END".into())
                }
            }
            _ => {
                let found = self.page_entries.get(name).cloned().or_else(|| {
                    self.src
                        .pages
                        .iter()
                        .find(|p| {
                            p.value
                                .get("name")
                                .and_then(|n| n.as_str())
                                .is_some_and(|n| n.rsplit('/').next() == Some(name))
                        })
                        .map(|p| self.page_entries[&p.name].clone())
                });
                found.ok_or_else(|| {
                    let message = format!("the target page `{name}` is not in flow `{}` (no page file has this display name)", self.src.flow.name);
                    crate::project::ImportError::invalid(self.ctx.agent.export.error_path(node.file), path.clone(), message)
                })
            }
        }
    }

    fn flow_target(
        &mut self,
        node: &J<'a>,
        name: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let path = node.field_path("targetFlow");
        let Some(target) = self.ctx.flow_ids.get(name).cloned() else {
            let message =
                format!("the target flow `{name}` is not in the export's `flows/` folder");
            return Err(crate::project::ImportError::invalid(
                self.ctx.agent.export.error_path(node.file),
                path,
                message,
            ));
        };
        if target == self.id {
            self.ctx.report.add(
                Fidelity::Approximate,
                node.file,
                path,
                format!("transition to flow `{name}`"),
                "the flow's own start: goes to its first step",
            );
            return Ok("start".into());
        }
        if let Some(existing) = page.calls.get(&target) {
            return Ok(existing.clone());
        }
        let edge = self.ctx.decide_edge(&self.id, &target);
        let (id, note, fidelity) = match edge {
            Edge::Call => {
                let id = self.alloc(&format!("{}_call_{target}", page.prefix));
                self.steps.push(Step::new(
                    id.clone(),
                    Kind::Call(target.clone()),
                    page.return_to.clone(),
                ));
                (id, "a `call` step: when the flow ends, this page's routes are checked again, as when Dialogflow returns to the page".to_string(), Fidelity::Mapped)
            }
            Edge::Link => {
                let id = self.alloc(&format!("{}_link_{target}", page.prefix));
                self.steps
                    .push(Step::new(id.clone(), Kind::Link(target.clone()), "END"));
                (id, "a `link` step: a `call` would make the flows call each other in a cycle, so this flow ends and never comes back to this page".to_string(), Fidelity::Approximate)
            }
            Edge::End => (
                "END".to_string(),
                format!(
                    "`END`: `{target}` is already running below this flow, so neither `call` nor `link` is allowed; this flow ends and the flows below it continue"
                ),
                Fidelity::Approximate,
            ),
        };
        self.ctx.report.add(
            fidelity,
            node.file,
            path,
            format!("transition to flow `{name}`"),
            note,
        );
        page.calls.insert(target, id.clone());
        Ok(id)
    }

    fn handoff_step(&mut self) -> String {
        if let Some(id) = &self.handoff_step {
            return id.clone();
        }
        let id = self.alloc("escalate_to_human");
        self.steps.push(Step::new(
            id.clone(),
            Kind::Handoff {
                reason: Some("Dialogflow flow ended with human escalation".into()),
                message: None,
            },
            "END",
        ));
        self.handoff_step = Some(id.clone());
        id
    }

    /// Registers the action for a webhook call and returns its name.
    pub fn register_webhook(
        &mut self,
        node: &J<'a>,
        webhook: &str,
        tag: Option<&str>,
    ) -> Result<String, ImportError> {
        let name = webhook.rsplit('/').next().unwrap_or(webhook).trim();
        let agent = self.ctx.agent;
        let Some(found) = agent.webhooks.get(name) else {
            let message = format!(
                "the fulfillment calls webhook `{name}`, which is not in the export's `webhooks/` folder"
            );
            return Err(crate::project::ImportError::invalid(
                agent.export.error_path(node.file),
                node.field_path("webhook"),
                message,
            ));
        };
        let action = action_name(name, tag);
        if !self.ctx.actions.contains_key(&action) {
            let (url, placeholder) = webhook_url(found.url.as_deref(), &action);
            let description = match tag {
                Some(tag) => format!("Dialogflow webhook `{name}` called with tag `{tag}`"),
                None => format!("Dialogflow webhook `{name}`"),
            };
            let mut todo = format!(
                "Action `{action}` (webhook `{name}`{}): ",
                tag.map(|t| format!(", tag `{t}`")).unwrap_or_default()
            );
            todo.push_str(if placeholder {
                "replace the placeholder `webhook_url` in actions.yml with a service that speaks Tern's action protocol"
            } else {
                "check that the service at `webhook_url` speaks Tern's action protocol (docs/actions.md), not Dialogflow's"
            });
            if found.has_credentials {
                todo.push_str("; the export configures credentials, which were not copied");
            }
            todo.push_str("; list the slots it needs under `json_schema.properties` and store what it returns in slots");
            self.ctx.report.to_do.push(todo);
            let note = "Dialogflow webhooks write session parameters directly; a Tern action returns one result, stored in the step's result slot, so parameters the webhook sets must be mapped by hand";
            self.ctx.report.add(
                Fidelity::Approximate,
                &found.file,
                "$",
                format!("webhook `{name}`"),
                note,
            );
            self.ctx.actions.insert(
                action.clone(),
                Action {
                    name: action.clone(),
                    description,
                    webhook_url: url,
                    parameters: BTreeSet::new(),
                },
            );
        }
        self.ctx.report.add(
            Fidelity::Mapped,
            node.file,
            node.field_path("webhook"),
            format!("webhook call `{name}`"),
            format!("an `action: {action}` step"),
        );
        Ok(action)
    }

    /// Returns where an action step goes when the webhook fails: the page's (or the
    /// flow's) `webhook.error` handler, or on as if it had succeeded.
    pub fn webhook_error(
        &mut self,
        next: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let is_error = |h: &J<'a>| {
            h.value
                .get("event")
                .and_then(|e| e.as_str())
                .is_some_and(|e| e.starts_with("webhook.error"))
        };
        let handlers: Vec<J<'a>> = page
            .handlers
            .iter()
            .filter(|h| is_error(h))
            .cloned()
            .collect();
        let handlers = if handlers.is_empty() {
            self.flow_handlers
                .iter()
                .filter(|h| is_error(h))
                .cloned()
                .collect()
        } else {
            handlers
        };
        let chosen = handlers
            .iter()
            .find(|h| h.value.get("event").and_then(|e| e.as_str()) == Some("webhook.error"))
            .or(handlers.first())
            .cloned();
        for other in &handlers {
            if Some(&other.path) != chosen.as_ref().map(|c| &c.path)
                || other.file != chosen.as_ref().map(|c| c.file).unwrap_or_default()
            {
                let event = other.str("event")?.unwrap_or_default();
                let note = "Tern has one failure path per action and does not tell error kinds apart; the general `webhook.error` handler is used";
                self.ctx.report.add(
                    Fidelity::Approximate,
                    other.file,
                    other.path.clone(),
                    format!("`{event}` handler"),
                    note,
                );
            }
        }
        let Some(handler) = chosen else {
            return Ok(next.to_string());
        };
        let event = handler.str("event")?.unwrap_or_default().to_string();
        let target = if ["targetPage", "targetFlow"]
            .iter()
            .any(|k| handler.get(k).is_some())
        {
            self.target(&handler, page)?
        } else {
            next.to_string()
        };
        let entry = match handler.object("triggerFulfillment")? {
            Some(f) => {
                self.fulfillment(
                    &f,
                    &format!("{}_{}", page.prefix, snake_case("webhook error")),
                    &target,
                    page,
                )?
                .entry
            }
            None => target,
        };
        self.ctx.report.add(
            Fidelity::Mapped,
            handler.file,
            handler.path.clone(),
            format!("`{event}` handler"),
            "the action step's `else`",
        );
        Ok(entry)
    }
}

/// Returns whether a template mentions `slots.NAME`.
fn mentions(text: &str, slot: &str) -> bool {
    let needle = format!("slots.{slot}");
    text.match_indices(&needle).any(|(index, _)| {
        !text[index + needle.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}
