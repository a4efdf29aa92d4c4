//! Transition routes and route groups: parsing, and turning an ordered list
//! of routes into branch steps.
//!
//! CX evaluates a page's routes in order and takes the first that matches.
//! A matched route without a target runs its fulfillment and evaluation goes
//! on with the following routes (the prebuilt address component relies on
//! this to append several address parts in one pass), so the import
//! continues with the rest of the list after such a route.

use crate::dialogflow::json::J;
use crate::dialogflow::yaml::{Branch, Condition, Kind, Next, Step};
use crate::project::ImportError;
use crate::report::Fidelity;

use super::build::{FlowBuilder, PageCtx};
use super::condition;

/// The requirements a route must meet before it is taken.
#[derive(Debug, Clone)]
pub enum Test {
    Always,
    If(String),
    /// A condition that could not be translated: the original text and why.
    Untranslated(String, String),
}

#[derive(Clone)]
pub struct Route<'a> {
    pub node: J<'a>,
    pub intent: Option<String>,
    pub test: Test,
    /// The place the route is defined, for comments: the page, a route group or
    /// the flow.
    pub origin: String,
}

impl Route<'_> {
    pub fn has_target(&self) -> bool {
        ["targetPage", "targetFlow", "targetPlaybook"]
            .iter()
            .any(|key| self.node.get(key).is_some())
    }
}

/// The way intent requirements are checked.
#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    /// Right after entering a page: only condition routes are passed, and a
    /// route without target continues with the next route.
    Entry,
    /// After the user's message: the intent becomes a `semantic_if`.
    Input,
    /// The flow was started by the only intent it has, so the intent holds.
    Implicit,
}

impl<'a> FlowBuilder<'a, '_> {
    /// Parses the routes of a page, flow or route group node.
    pub fn parse_routes(
        &mut self,
        node: &J<'a>,
        origin: &str,
    ) -> Result<Vec<Route<'a>>, ImportError> {
        let mut routes = Vec::new();
        for route in node.array("transitionRoutes")? {
            let intent = route
                .str("intent")?
                .map(|i| i.trim().to_string())
                .filter(|i| !i.is_empty());
            let raw_condition = route
                .str("condition")?
                .map(str::trim)
                .filter(|c| !c.is_empty());
            if intent.is_none() && raw_condition.is_none() {
                return Err(route.error("a transition route needs an `intent` or a `condition`, and this one has neither"));
            }
            let targets = ["targetPage", "targetFlow", "targetPlaybook"]
                .iter()
                .filter(|key| route.get(key).is_some())
                .count();
            if targets > 1 {
                return Err(route.error("a transition route may have only one of `targetPage`, `targetFlow` and `targetPlaybook`"));
            }
            if let Some(intent) = &intent {
                if !self.ctx.agent.intents.contains_key(intent) {
                    return Err(route.error(format!("the route names intent `{intent}`, which is not in the export's `intents/` folder")));
                }
                self.ctx.used_intents.insert(intent.clone());
            }
            let test = match raw_condition {
                None => Test::Always,
                Some(raw) => match condition::translate(raw) {
                    Ok(text) if text == "true" => Test::Always,
                    Ok(text) => {
                        self.ctx.report.add(
                            Fidelity::Mapped,
                            route.file,
                            route.field_path("condition"),
                            format!("condition `{raw}`"),
                            format!("translated to `{text}`"),
                        );
                        Test::If(text)
                    }
                    Err(reason) => {
                        let note = format!(
                            "{reason}; the branch is disabled (`if: \"false\"`) and the original is kept as a comment, so write the condition by hand"
                        );
                        self.ctx.report.add(
                            Fidelity::Unmapped,
                            route.file,
                            route.field_path("condition"),
                            format!("condition `{raw}`"),
                            note,
                        );
                        self.ctx.untranslated_conditions += 1;
                        Test::Untranslated(raw.to_string(), reason)
                    }
                },
            };
            routes.push(Route {
                node: route,
                intent,
                test,
                origin: origin.to_string(),
            });
        }
        Ok(routes)
    }

    /// Parses the routes of the route groups a page or flow lists.
    pub fn group_routes(&mut self, node: &J<'a>) -> Result<Vec<Route<'a>>, ImportError> {
        let mut routes = Vec::new();
        for (index, reference) in node
            .strings("transitionRouteGroups")?
            .into_iter()
            .enumerate()
        {
            let name = reference.rsplit('/').next().unwrap_or(reference).trim();
            let agent = self.ctx.agent;
            let group = self
                .src
                .groups
                .iter()
                .chain(agent.agent_groups.iter())
                .find(|g| g.name == name || group_id(g) == name);
            let Some(group) = group else {
                let path = format!("{}[{index}]", node.field_path("transitionRouteGroups"));
                let message = format!(
                    "route group `{name}` is not in the export (looked in the flow's and the agent's `transitionRouteGroups/` folders)"
                );
                return Err(crate::project::ImportError::invalid(
                    agent.export.error_path(node.file),
                    path,
                    message,
                ));
            };
            let group_node = agent.node(group);
            self.ctx.report.add(
                Fidelity::Mapped,
                node.file,
                node.field_path("transitionRouteGroups"),
                format!("route group `{}`", group.name),
                "its routes are added to the routes of this page, after the page's own",
            );
            routes
                .extend(self.parse_routes(&group_node, &format!("route group `{}`", group.name))?);
        }
        Ok(routes)
    }

    /// Builds the branch steps for `routes`, tried in order, going to
    /// `fallback` when none matches. Returns the id of the first step.
    pub fn chain(
        &mut self,
        routes: &[Route<'a>],
        fallback: &str,
        mode: Mode,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        if routes.is_empty() {
            return Ok(fallback.to_string());
        }
        // The group ends after a route that continues with the rest (a
        // targetless route in entry mode, or an intent with a condition),
        // or at an unconditional route, which shadows the routes after it.
        let mut end = routes.len();
        let mut unconditional = None;
        for (index, route) in routes.iter().enumerate() {
            if self.is_unconditional(route, mode) {
                unconditional = Some(index);
                end = index;
                break;
            }
            let continues = mode == Mode::Entry && !route.has_target();
            let compound = mode == Mode::Input
                && route.intent.is_some()
                && !matches!(route.test, Test::Always);
            if continues || compound {
                end = index + 1;
                break;
            }
        }
        if let Some(index) = unconditional {
            for shadowed in &routes[index + 1..] {
                let what = route_what(shadowed);
                self.ctx.report.add(Fidelity::Approximate, shadowed.node.file, shadowed.node.path.clone(), what, "never taken: an earlier route on the same page always matches, so it was left out");
            }
        }
        let group = &routes[..end];
        if group.is_empty() {
            let route = &routes[end];
            let rest = fallback.to_string();
            return self.route_action(route, &rest, mode, page);
        }
        let id = self
            .preset_chain_id
            .take()
            .unwrap_or_else(|| self.alloc(&format!("{}_routes", page.prefix)));
        let placeholder = self.steps.len();
        self.steps.push(Step::new(id.clone(), Kind::Route, "END"));
        let rest = match unconditional {
            Some(index) => self.route_action(&routes[index], fallback, mode, page)?,
            None => self.chain(&routes[end..], fallback, mode, page)?,
        };
        let mut branches = Vec::new();
        for route in group {
            let continue_to = rest.clone();
            let mut comments = Vec::new();
            if route.origin != "page" {
                comments.push(format!("from {}", route.origin));
            }
            let action = self.route_action(route, &continue_to, mode, page)?;
            let semantic = match (&route.intent, mode) {
                (Some(intent), Mode::Input) => Some(self.semantic_text(intent)),
                _ => None,
            };
            match (semantic, &route.test) {
                (Some(sentence), Test::Always) => branches.push(Branch {
                    condition: Condition::Semantic(sentence),
                    then: action,
                    comments,
                }),
                (Some(sentence), test) => {
                    let check = self.alloc(&format!("{}_check", page.prefix));
                    let (condition, check_comments) = if_condition(test);
                    let mut step = Step::new(check.clone(), Kind::Route, "END");
                    step.next = Next::Branches(vec![Branch {
                        condition,
                        then: action,
                        comments: check_comments,
                    }]);
                    step.otherwise = Some(rest.clone());
                    self.steps.push(step);
                    branches.push(Branch {
                        condition: Condition::Semantic(sentence),
                        then: check,
                        comments,
                    });
                }
                (None, test) => {
                    let (condition, mut extra) = if_condition(test);
                    comments.append(&mut extra);
                    branches.push(Branch {
                        condition,
                        then: action,
                        comments,
                    });
                }
            }
        }
        let step = &mut self.steps[placeholder];
        step.next = Next::Branches(branches);
        step.otherwise = Some(rest);
        Ok(id)
    }

    /// Branches for the user's reply on a page with intent routes: one
    /// `semantic_if` per intent, then that intent's conditions in order.
    /// Dialogflow matches one intent per message, so only the routes of
    /// that intent can apply, and grouping by intent keeps their order.
    pub fn intent_dispatch(
        &mut self,
        routes: &[Route<'a>],
        fallback: &str,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let mut intents: Vec<&str> = Vec::new();
        for route in routes {
            if let Some(intent) = route.intent.as_deref()
                && !intents.contains(&intent)
            {
                intents.push(intent);
            }
        }
        let id = self
            .preset_chain_id
            .take()
            .unwrap_or_else(|| self.alloc(&format!("{}_intents", page.prefix)));
        let placeholder = self.steps.len();
        self.steps
            .push(Step::new(id.clone(), Kind::Route, fallback));
        let mut branches = Vec::new();
        for intent in intents {
            let own: Vec<&Route<'a>> = routes
                .iter()
                .filter(|r| r.intent.as_deref() == Some(intent))
                .collect();
            let sentence = self.semantic_text(intent);
            let mut checks = Vec::new();
            let mut otherwise = fallback.to_string();
            for (index, route) in own.iter().enumerate() {
                let action = self.route_action(route, fallback, Mode::Input, page)?;
                match &route.test {
                    Test::Always => {
                        otherwise = action;
                        for shadowed in &own[index + 1..] {
                            let note = "never taken: an earlier route on the same intent always matches, so it was left out";
                            self.ctx.report.add(
                                Fidelity::Approximate,
                                shadowed.node.file,
                                shadowed.node.path.clone(),
                                route_what(shadowed),
                                note,
                            );
                        }
                        break;
                    }
                    test => {
                        let (condition, mut comments) = if_condition(test);
                        if route.origin != "page" {
                            comments.push(format!("from {}", route.origin));
                        }
                        checks.push(Branch {
                            condition,
                            then: action,
                            comments,
                        });
                    }
                }
            }
            let then = if checks.is_empty() {
                otherwise
            } else {
                let check = self.alloc(&format!(
                    "{}_{}",
                    page.prefix,
                    crate::dialogflow::names::snake_case(intent)
                ));
                let mut step = Step::new(check.clone(), Kind::Route, "END");
                step.next = Next::Branches(checks);
                step.otherwise = Some(otherwise);
                self.steps.push(step);
                check
            };
            let comments = own
                .first()
                .filter(|r| r.origin != "page")
                .map(|r| vec![format!("from {}", r.origin)])
                .unwrap_or_default();
            branches.push(Branch {
                condition: Condition::Semantic(sentence),
                then,
                comments,
            });
        }
        let step = &mut self.steps[placeholder];
        step.next = Next::Branches(branches);
        step.otherwise = Some(fallback.to_string());
        Ok(id)
    }

    fn is_unconditional(&self, route: &Route, mode: Mode) -> bool {
        let intent_holds = route.intent.is_none() || mode == Mode::Implicit;
        intent_holds && matches!(route.test, Test::Always)
    }

    /// Returns the steps of a matched route: its fulfillment, then its target.
    /// `continue_to` is where a route without target goes.
    fn route_action(
        &mut self,
        route: &Route<'a>,
        continue_to: &str,
        mode: Mode,
        page: &mut PageCtx<'a>,
    ) -> Result<String, ImportError> {
        let continuation = if route.has_target() {
            String::new()
        } else {
            continue_to.to_string()
        };
        let key = (
            route.node.file.to_string(),
            route.node.path.clone(),
            continuation,
        );
        if let Some(id) = page.actions.get(&key) {
            return Ok(id.clone());
        }
        let what = route_what(route);
        let target = if route.has_target() {
            self.target(&route.node, page)?
        } else {
            match mode {
                Mode::Entry => continue_to.to_string(),
                Mode::Input => self.silent_wait(page),
                Mode::Implicit => "END".to_string(),
            }
        };
        let note = match (&route.intent, mode) {
            (Some(_), Mode::Input) => {
                "the intent is checked with a `semantic_if` on the user's reply"
            }
            (Some(_), _) => "taken when the flow is started by this intent",
            (None, _) => "a branch of the page's routes",
        };
        let fidelity = if route.intent.is_some() && mode == Mode::Input {
            Fidelity::Approximate
        } else {
            Fidelity::Mapped
        };
        self.ctx.report.add(
            fidelity,
            route.node.file,
            route.node.path.clone(),
            what,
            note,
        );
        let base = format!(
            "{}_{}",
            page.prefix,
            route
                .intent
                .as_deref()
                .map(crate::dialogflow::names::snake_case)
                .unwrap_or_else(|| "then".into())
        );
        let entry = match route.node.object("triggerFulfillment")? {
            Some(fulfillment) => self.fulfillment(&fulfillment, &base, &target, page)?.entry,
            None => target,
        };
        page.actions.insert(key, entry.clone());
        Ok(entry)
    }
}

fn group_id(group: &super::agent::Source) -> &str {
    group
        .value
        .get("name")
        .and_then(|n| n.as_str())
        .map(|n| n.rsplit('/').next().unwrap_or(n))
        .unwrap_or_default()
}

/// Returns the `if` condition of a test, with a comment for untranslated ones.
fn if_condition(test: &Test) -> (Condition, Vec<String>) {
    match test {
        Test::Always => (Condition::If("true".into()), Vec::new()),
        Test::If(text) => (Condition::If(text.clone()), Vec::new()),
        Test::Untranslated(raw, reason) => (
            Condition::If("false".into()),
            vec![format!("NOT TRANSLATED ({reason}): {raw}")],
        ),
    }
}

/// Returns the name of a route in the report.
pub fn route_what(route: &Route) -> String {
    match (
        &route.intent,
        route.node.value.get("condition").and_then(|c| c.as_str()),
    ) {
        (Some(intent), Some(condition)) => {
            format!("route on intent `{intent}` with condition `{condition}`")
        }
        (Some(intent), None) => format!("route on intent `{intent}`"),
        (None, Some(condition)) => format!("route with condition `{condition}`"),
        (None, None) => "route".into(),
    }
}
