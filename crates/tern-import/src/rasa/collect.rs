//! Collect steps: the question, the collect type from the slot, and
//! Rasa's `rejections` turned into Tern `validation` where they map.

use std::collections::HashSet;

use super::condition::{self, Ast, Literal, Op};
use super::domain::Slot;
use super::model::{Collect, Step, StepKind, Validation};
use super::steps::StepBuilder;
use super::text::{Piece, Text};
use super::yaml_in::Node;
use super::{identifier, responses, slots};
use crate::report::Fidelity;

pub(crate) fn convert_collect(builder: &mut StepBuilder, node: &Node, step: &mut Step) {
    let Some(rasa_slot) = node.get("collect").and_then(Node::scalar_text) else {
        builder.unmapped_step(step, "collect", "the step names no slot; it only moves on");
        return;
    };
    let slot = identifier(&rasa_slot);
    let definition = builder.domain.slot(&rasa_slot).cloned();
    let mut notes: Vec<String> = Vec::new();
    if slot != rasa_slot {
        notes.push(format!("the slot is renamed to `{slot}`"));
    }
    let mut collect = Collect {
        slot: slot.clone(),
        ..Collect::default()
    };
    match &definition {
        Some(definition) => {
            let kind = slots::collect_type(definition);
            collect.collect_type = kind.collect_type;
            collect.options = kind.options;
        }
        None => notes.push(format!(
            "the slot `{rasa_slot}` is not defined in the domain, so it is collected as text"
        )),
    }
    set_question(builder, node, step, &mut collect, &rasa_slot, &mut notes);
    if let Some(description) = &collect.description
        && description.slots().contains(&slot.as_str())
    {
        collect.description = Some(description.without(&HashSet::from([slot.clone()])));
        notes.push("the question mentioned the slot it collects, which Tern does not allow; the mention is removed".into());
    }

    collect.ask_before_filling = node
        .get("ask_before_filling")
        .and_then(Node::as_bool)
        .unwrap_or(false);
    if node.get("reset_after_flow_ends").and_then(Node::as_bool) == Some(false) {
        builder.persisted.push(slot.clone());
    }
    if node.get("force_slot_filling").and_then(Node::as_bool) == Some(true) {
        notes.push("`force_slot_filling` is not supported: while the question is open, Tern still accepts other requests".into());
    }

    if let Some(rejections) = node.get("rejections") {
        let mapped = rejections_to_validation(
            builder,
            rejections,
            &slot,
            definition.as_ref(),
            collect.description.as_ref(),
        );
        notes.extend(mapped.notes);
        collect.validation = mapped.validation;
        if !mapped.unmapped.is_empty() {
            let what = format!("flow `{}` step `{}` rejections", builder.flow_id, step.id);
            builder.ctx.add(
                Fidelity::Unmapped,
                &step.loc,
                what,
                mapped.unmapped.join("; "),
            );
        }
    }

    if !notes.is_empty() {
        let what = format!(
            "flow `{}` step `{}`: collect `{rasa_slot}`",
            builder.flow_id, step.id
        );
        builder
            .ctx
            .add(Fidelity::Approximate, &step.loc, what, notes.join("; "));
    }
    step.kind = StepKind::Collect(Box::new(collect));
}

/// Sets the step's question: the `utter_ask_SLOT` response (or the step's
/// `utter`), else the step's description. Without either, the step has no
/// question and Tern sends its generic `ask_slot` message.
fn set_question(
    builder: &mut StepBuilder,
    node: &Node,
    step: &mut Step,
    collect: &mut Collect,
    rasa_slot: &str,
    notes: &mut Vec<String>,
) {
    let slot = collect.slot.clone();
    let rasa_description = node.get("description").and_then(Node::scalar_text);
    let utter = node
        .get("utter")
        .and_then(Node::scalar_text)
        .unwrap_or_else(|| format!("utter_ask_{rasa_slot}"));
    let question = responses::convert(builder.domain, &utter).filter(|c| !c.text.is_blank());
    match question {
        Some(converted) => {
            builder.ctx.used_responses.insert(utter.clone());
            step.utter = Some(utter.clone());
            collect.description = Some(converted.text);
            collect.buttons = converted.buttons;
            if let Some(description) = &rasa_description {
                step.comments
                    .push(format!("Rasa description: {description}"));
            }
        }
        None => {
            if builder
                .domain
                .actions
                .contains_key(&format!("action_ask_{rasa_slot}"))
            {
                notes.push(format!("the question comes from the custom action `action_ask_{rasa_slot}`, which is not converted"));
            }
            let slot_name = |name: &str| {
                builder
                    .domain
                    .slots
                    .contains_key(name)
                    .then(|| identifier(name))
            };
            match &rasa_description {
                Some(description) => {
                    collect.description = Some(Text::parse(description, &slot_name).0);
                    notes.push(format!("there is no `{utter}` response, so the step's description is used as the question"));
                }
                None => {
                    notes.push(format!(
                        "there is no `{utter}` response, so Tern asks its generic question"
                    ));
                    builder.ctx.add_to_do(format!(
                        "Write a question for step `{}` in flows/{}.yml (slot `{slot}`).",
                        step.id, builder.flow_id
                    ));
                }
            }
        }
    }
}

#[derive(Default)]
struct MappedRejections {
    validation: Option<Validation>,
    notes: Vec<String>,
    unmapped: Vec<String>,
}

/// One rule that a rejection condition implies for accepted values.
#[derive(Debug, PartialEq)]
enum Rule {
    Min(f64, bool),
    Max(f64, bool),
    Allowed(Vec<String>),
    Pattern(String),
}

fn rejections_to_validation(
    builder: &mut StepBuilder,
    rejections: &Node,
    slot: &str,
    definition: Option<&Slot>,
    question: Option<&Text>,
) -> MappedRejections {
    let mut mapped = MappedRejections::default();
    let mut validation = Validation::default();
    let mut any = false;
    let categories: Vec<String> = definition.map(|d| d.values.clone()).unwrap_or_default();
    for rejection in rejections.items() {
        let source = rejection
            .get("if")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        let rules = condition::parse(&source, &identifier)
            .and_then(|ast| rules_for(&ast, slot, &categories));
        let rules = match rules {
            Ok(rules) => rules,
            Err(reason) => {
                mapped.unmapped.push(format!(
                    "rejection `{source}` (line {}): {reason}",
                    rejection.line
                ));
                continue;
            }
        };
        for rule in rules {
            any = true;
            match rule {
                Rule::Min(bound, exact) => {
                    validation.min = Some(validation.min.map_or(bound, |m: f64| m.max(bound)));
                    if !exact {
                        mapped.notes.push(format!(
                            "rejection `{source}`: Tern's `min` accepts {bound} itself"
                        ));
                    }
                }
                Rule::Max(bound, exact) => {
                    validation.max = Some(validation.max.map_or(bound, |m: f64| m.min(bound)));
                    if !exact {
                        mapped.notes.push(format!(
                            "rejection `{source}`: Tern's `max` accepts {bound} itself"
                        ));
                    }
                }
                Rule::Allowed(values) => {
                    if validation.allowed_values.is_empty() {
                        validation.allowed_values = values;
                    } else {
                        validation.allowed_values.retain(|v| values.contains(v));
                    }
                    mapped.notes.push(format!(
                        "rejection `{source}`: Tern compares the allowed values without letter case"
                    ));
                }
                Rule::Pattern(pattern) => {
                    if regex::Regex::new(&pattern).is_ok() && validation.pattern.is_none() {
                        validation.pattern = Some(pattern);
                    } else {
                        mapped.unmapped.push(format!("rejection `{source}`: the pattern is not a valid Rust regular expression or a second pattern"));
                    }
                }
            }
        }
        if validation.message.is_none()
            && let Some(utter) = rejection.get("utter").and_then(Node::scalar_text)
            && let Some(converted) = responses::convert(builder.domain, &utter)
        {
            builder.ctx.used_responses.insert(utter.clone());
            let mut pieces = converted.text.pieces.clone();
            if let Some(question) = question {
                pieces.push(Piece::Literal(" ".into()));
                pieces.extend(question.pieces.iter().cloned());
            }
            let message = Text { pieces }.without(&HashSet::from([slot.to_string()]));
            validation.message = Some(message);
            mapped.notes.push(format!(
                "the rejection response `{utter}` followed by the question is the re-ask message"
            ));
        }
    }
    if rejections.items().len() > 1 && validation.message.is_some() {
        mapped.notes.push(
            "Tern has one re-ask message per step, so only the first rejection's response is used"
                .into(),
        );
    }
    if any {
        mapped.validation = Some(validation);
    }
    mapped
}

/// Returns the validation rules that accept exactly the values for which
/// the rejection condition `ast` is false.
fn rules_for(ast: &Ast, slot: &str, categories: &[String]) -> Result<Vec<Rule>, String> {
    let unsupported = || {
        Err("the condition has no equivalent among Tern's validation rules (min, max, allowed_values, pattern)".to_string())
    };
    match ast {
        // A value rejected when either side is true is accepted only when
        // it meets the rules of both sides.
        Ast::Or(left, right) => {
            let mut rules = rules_for(left, slot, categories)?;
            rules.extend(rules_for(right, slot, categories)?);
            Ok(rules)
        }
        Ast::And(..) => {
            let mut allowed = Vec::new();
            for part in conjuncts(ast) {
                match part {
                    Ast::Compare(left, Op::Ne, right) => match (left.as_ref(), right.as_ref()) {
                        (Ast::Slot(s), Ast::Literal(literal)) | (Ast::Literal(literal), Ast::Slot(s)) if s == slot => {
                            allowed.push(literal_text(literal).ok_or_else(|| "only text and numbers can be allowed values".to_string())?);
                        }
                        _ => return unsupported(),
                    },
                    _ => return unsupported(),
                }
            }
            Ok(vec![Rule::Allowed(allowed)])
        }
        Ast::Compare(_, Op::Matches, _) => {
            Err("Tern cannot reject values that match a regular expression, because its `pattern` says what to accept".into())
        }
        Ast::Not(inner) => match inner.as_ref() {
            Ast::Compare(left, Op::Matches, right) => match (left.as_ref(), right.as_ref()) {
                (Ast::Slot(s), Ast::Literal(Literal::String(pattern))) if s == slot => Ok(vec![Rule::Pattern(pattern.clone())]),
                _ => unsupported(),
            },
            _ => unsupported(),
        },
        Ast::Compare(left, op, right) => {
            let (op, literal) = match (left.as_ref(), right.as_ref()) {
                (Ast::Slot(s), Ast::Literal(literal)) if s == slot => (*op, literal),
                (Ast::Literal(literal), Ast::Slot(s)) if s == slot => (flip(*op), literal),
                _ => return unsupported(),
            };
            match (op, literal) {
                (Op::Lt, Literal::Number(n)) => Ok(vec![Rule::Min(number(n)?, true)]),
                (Op::Le, Literal::Number(n)) => Ok(vec![Rule::Min(number(n)?, false)]),
                (Op::Gt, Literal::Number(n)) => Ok(vec![Rule::Max(number(n)?, true)]),
                (Op::Ge, Literal::Number(n)) => Ok(vec![Rule::Max(number(n)?, false)]),
                (Op::Ne, literal) => Ok(vec![Rule::Allowed(vec![literal_text(literal).ok_or_else(|| "only text and numbers can be allowed values".to_string())?])]),
                (Op::Eq, literal) if !categories.is_empty() => {
                    let rejected = literal_text(literal).unwrap_or_default();
                    let allowed = categories.iter().filter(|c| !c.eq_ignore_ascii_case(&rejected)).cloned().collect();
                    Ok(vec![Rule::Allowed(allowed)])
                }
                _ => unsupported(),
            }
        }
        _ => unsupported(),
    }
}

fn conjuncts(ast: &Ast) -> Vec<&Ast> {
    match ast {
        Ast::And(left, right) => {
            let mut parts = conjuncts(left);
            parts.extend(conjuncts(right));
            parts
        }
        other => vec![other],
    }
}

fn flip(op: Op) -> Op {
    match op {
        Op::Lt => Op::Gt,
        Op::Le => Op::Ge,
        Op::Gt => Op::Lt,
        Op::Ge => Op::Le,
        other => other,
    }
}

fn number(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .map_err(|_| format!("`{text}` is not a number"))
}

fn literal_text(literal: &Literal) -> Option<String> {
    match literal {
        Literal::String(text) => Some(text.clone()),
        Literal::Number(number) => Some(number.clone()),
        Literal::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(source: &str, categories: &[&str]) -> Result<Vec<Rule>, String> {
        let categories: Vec<String> = categories.iter().map(|c| c.to_string()).collect();
        let ast = condition::parse(source, &identifier)?;
        rules_for(&ast, "age", &categories)
    }

    #[test]
    fn comparisons_become_bounds() {
        assert_eq!(
            rules("slots.age < 18", &[]),
            Ok(vec![Rule::Min(18.0, true)])
        );
        assert_eq!(
            rules("slots.age <= 17", &[]),
            Ok(vec![Rule::Min(17.0, false)])
        );
        assert_eq!(
            rules("120 < slots.age", &[]),
            Ok(vec![Rule::Max(120.0, true)])
        );
        assert_eq!(
            rules("slots.age < 18 or slots.age > 120", &[]),
            Ok(vec![Rule::Min(18.0, true), Rule::Max(120.0, true)])
        );
    }

    #[test]
    fn inequalities_become_allowed_values() {
        assert_eq!(
            rules("slots.age != 'a' and slots.age != 'b'", &[]),
            Ok(vec![Rule::Allowed(vec!["a".into(), "b".into()])])
        );
        assert_eq!(
            rules("slots.age == 'b'", &["a", "b", "c"]),
            Ok(vec![Rule::Allowed(vec!["a".into(), "c".into()])])
        );
    }

    #[test]
    fn negated_match_becomes_pattern() {
        assert_eq!(
            rules("not slots.age matches '^[0-9]+$'", &[]),
            Ok(vec![Rule::Pattern("^[0-9]+$".into())])
        );
    }

    #[test]
    fn other_conditions_are_unmapped() {
        assert!(rules("slots.age == 'b'", &[]).is_err());
        assert!(rules("slots.other < 3", &[]).is_err());
        assert!(rules("slots.age matches 'x'", &[]).is_err());
    }
}
