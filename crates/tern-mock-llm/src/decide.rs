//! Choosing the response to a user text: a fault marker, a script rule or the
//! default reply.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use crate::config::{DefaultReply, Fault};
use crate::script::{Rule, RuleAction};

/// `[fault:NAME]` in a user text applies that fault, whatever the script
/// contains.
static FAULT_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[fault:([A-Za-z0-9_]+)\]").expect("the fault marker regex is valid")
});

/// The script's rules with their use counts, and the default reply.
pub(crate) struct Responder {
    rules: Vec<Rule>,
    /// Uses of each rule so far, for `times` and `once`. Atomic, so that
    /// concurrent requests never take one use twice.
    rule_uses: Vec<AtomicU64>,
    default_reply: DefaultReply,
}

pub(crate) struct Decision {
    pub outcome: Outcome,
    /// The rule's own latency, which replaces the server's.
    pub latency: Option<Duration>,
    /// Line of the rule that matched, for the debug log.
    pub rule_line: Option<u64>,
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Reply(Value),
    Derive,
    Fault(Fault),
}

impl Responder {
    pub(crate) fn new(rules: Vec<Rule>, default_reply: DefaultReply) -> Self {
        let rule_uses = rules.iter().map(|_| AtomicU64::new(0)).collect();
        Self {
            rules,
            rule_uses,
            default_reply,
        }
    }

    pub(crate) fn rule_count(&self) -> usize {
        self.rules.len()
    }

    pub(crate) fn default_reply(&self) -> &DefaultReply {
        &self.default_reply
    }

    /// Picks the response to a user text: a `[fault:NAME]` marker, else the
    /// first matching rule that is not used up, else the default. Fails only
    /// on a marker with an unknown fault name.
    pub(crate) fn decide(&self, text: &str) -> Result<Decision, String> {
        if let Some(marker) = FAULT_MARKER.captures(text) {
            let fault = marker[1]
                .parse::<Fault>()
                .map_err(|error| format!("{error} (in `{}`)", &marker[0]))?;
            return Ok(Decision {
                outcome: Outcome::Fault(fault),
                latency: None,
                rule_line: None,
            });
        }

        for (rule, uses) in self.rules.iter().zip(&self.rule_uses) {
            if !rule.pattern.is_match(text) {
                continue;
            }
            if let Some(limit) = rule.limit {
                let claimed = uses.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    (used < limit).then_some(used + 1)
                });
                if claimed.is_err() {
                    continue;
                }
            }
            let outcome = match &rule.action {
                RuleAction::Reply(reply) => Outcome::Reply(reply.clone()),
                RuleAction::Fault(fault) => Outcome::Fault(*fault),
            };
            return Ok(Decision {
                outcome,
                latency: rule.latency,
                rule_line: Some(rule.line),
            });
        }

        let outcome = match &self.default_reply {
            DefaultReply::Derive => Outcome::Derive,
            DefaultReply::Fixed(reply) => Outcome::Reply(reply.clone()),
            DefaultReply::Fault(fault) => Outcome::Fault(*fault),
        };
        Ok(Decision {
            outcome,
            latency: None,
            rule_line: None,
        })
    }
}
