//! Mock scripts: YAML rules that pick a reply, a fault or a latency by
//! matching the user's text.
//!
//! ```yaml
//! rules:
//!   - match: "(?i)renew.*iqama"     # regex on the user text
//!     reply: {commands: [{command: start_flow, flow: iqama_renewal_flow}]}
//!   - match: "^slow$"
//!     latency_ms: 3000              # replaces the server's latency
//!     reply: {commands: []}
//!   - match: "^boom$"
//!     fault: server_error
//!     times: 2                      # used twice, then skipped
//!   - match: "^hello$"
//!     once: true                    # the same as times: 1
//!     reply: {commands: [{command: greet}]}
//! default: derive                   # or a fault name, or a reply object
//! ```
//!
//! The first matching rule that is not used up wins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::config::{DefaultReply, Fault};

/// A parsed script.
#[derive(Clone, Debug)]
pub struct Script {
    pub rules: Vec<Rule>,
    /// The script's `default:`, which replaces the server's default reply.
    pub default_reply: Option<DefaultReply>,
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// Matched against the user text with `Regex::is_match`, so it matches
    /// anywhere unless anchored.
    pub pattern: Regex,
    pub action: RuleAction,
    /// Replaces the server's latency for this rule's responses.
    pub latency: Option<Duration>,
    /// Uses before the rule is skipped; `None` for no limit.
    pub limit: Option<u64>,
    /// Line of the rule in the script, for messages.
    pub line: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RuleAction {
    /// The JSON the model "produces".
    Reply(Value),
    Fault(Fault),
}

/// A script that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("could not read mock script {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}\n  hint: {hint}", path.display())]
    Invalid {
        path: PathBuf,
        line: u64,
        column: u64,
        message: String,
        hint: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    default: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    #[serde(default)]
    reply: Option<Value>,
    #[serde(default)]
    fault: Option<Spanned<String>>,
    #[serde(default)]
    latency_ms: Option<u64>,
    #[serde(default)]
    times: Option<Spanned<u64>>,
    #[serde(default)]
    once: Option<bool>,
}

/// Reads and checks the script at `path`.
pub fn load_script(path: impl AsRef<Path>) -> Result<Script, ScriptError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_script(path, &text)
}

/// Parses and checks script text; `path` is used only in messages.
pub fn parse_script(path: &Path, text: &str) -> Result<Script, ScriptError> {
    let invalid = |line: u64, column: u64, message: String, hint: &str| ScriptError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
        hint: hint.to_string(),
    };
    if text.trim().is_empty() {
        return Err(invalid(
            1,
            1,
            "the script is empty".to_string(),
            "add `rules:` with at least one rule, or a `default:` reply",
        ));
    }
    let raw: RawScript = serde_saphyr::from_str(text).map_err(|error| {
        let (line, column) = error
            .location()
            .map_or((1, 1), |at| (at.line(), at.column()));
        let message = yaml_error_message(&error);
        let hint = if message.contains("unknown field") || message.contains("missing field") {
            "a script has `rules:` and `default:`; a rule has match (required), one of reply \
             or fault, and optionally latency_ms, times, once"
        } else {
            "check the YAML syntax at this line"
        };
        invalid(line, column, message, hint)
    })?;

    let mut rules = Vec::with_capacity(raw.rules.len());
    for (index, rule) in raw.rules.into_iter().enumerate() {
        rules.push(convert_rule(path, index + 1, rule)?);
    }
    let default_reply = raw
        .default
        .map(|default| convert_default(path, default))
        .transpose()?;
    Ok(Script {
        rules,
        default_reply,
    })
}

fn convert_rule(path: &Path, number: usize, raw: Spanned<RawRule>) -> Result<Rule, ScriptError> {
    let (line, column) = (raw.referenced.line(), raw.referenced.column());
    let raw = raw.value;
    let invalid = |line: u64, column: u64, message: String, hint: &str| ScriptError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
        hint: hint.to_string(),
    };

    let pattern = Regex::new(&raw.pattern.value).map_err(|error| {
        invalid(
            raw.pattern.referenced.line(),
            raw.pattern.referenced.column(),
            format!(
                "rule {number}: invalid regex `{}`: {}",
                raw.pattern.value,
                regex_reason(&error)
            ),
            "fix the pattern; it uses the syntax of the Rust regex crate, and YAML needs \
             quotes around patterns with `:`, `#`, `[` or `{`",
        )
    })?;

    let action = match (raw.reply, raw.fault) {
        (Some(reply), None) => RuleAction::Reply(reply),
        (None, Some(fault)) => {
            // The parse error already lists the valid names.
            let parsed = fault.value.parse::<Fault>().map_err(|message| {
                invalid(
                    fault.referenced.line(),
                    fault.referenced.column(),
                    format!("rule {number}: {message}"),
                    "spell the fault as one of the names listed",
                )
            })?;
            RuleAction::Fault(parsed)
        }
        (None, None) => {
            return Err(invalid(
                line,
                column,
                format!("rule {number} has neither `reply` nor `fault`"),
                "add `reply:` with the JSON the model should produce, such as \
                 `reply: {commands: []}`, or `fault: NAME`",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(invalid(
                line,
                column,
                format!("rule {number} has both `reply` and `fault`"),
                "keep one of them: a rule either replies or fails; add a second rule for the other",
            ));
        }
    };

    let limit = match (raw.times, raw.once) {
        (Some(_), Some(true)) => {
            return Err(invalid(
                line,
                column,
                format!("rule {number} sets both `times` and `once`"),
                "keep one: `once: true` is the same as `times: 1`",
            ));
        }
        (Some(times), _) if times.value == 0 => {
            return Err(invalid(
                times.referenced.line(),
                times.referenced.column(),
                format!("rule {number}: `times` is 0, so the rule would never apply"),
                "set `times` to 1 or more, or remove the rule",
            ));
        }
        (Some(times), _) => Some(times.value),
        (None, Some(true)) => Some(1),
        (None, _) => None,
    };

    Ok(Rule {
        pattern,
        action,
        latency: raw.latency_ms.map(Duration::from_millis),
        limit,
        line,
    })
}

fn convert_default(path: &Path, raw: Spanned<Value>) -> Result<DefaultReply, ScriptError> {
    let hint = format!(
        "use `derive`, a fault ({}), or a reply object such as `{{commands: []}}`",
        Fault::names().join(", ")
    );
    let invalid = |message: String| ScriptError::Invalid {
        path: path.to_path_buf(),
        line: raw.referenced.line(),
        column: raw.referenced.column(),
        message,
        hint: hint.clone(),
    };
    match &raw.value {
        Value::String(name) if name == "derive" => Ok(DefaultReply::Derive),
        Value::String(name) => name
            .parse::<Fault>()
            .map(DefaultReply::Fault)
            .map_err(|_| invalid(format!("invalid `default` `{name}`"))),
        Value::Object(_) => Ok(DefaultReply::Fixed(raw.value.clone())),
        other => Err(invalid(format!(
            "invalid `default` `{other}`: expected a name or an object"
        ))),
    }
}

/// Returns the first line of a serde-saphyr error without its `error: line N column M: `
/// prefix, which the script error already shows as `path:line:column`.
fn yaml_error_message(error: &serde_saphyr::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((position, message)) if position.contains(" column ") => message.to_string(),
        _ => first.to_string(),
    }
}

/// Returns the regex error's reason without the pattern echo and caret
/// lines.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Script, ScriptError> {
        parse_script(Path::new("mock.yml"), text)
    }

    /// Parses `text`, expecting an invalid-script error, and returns the
    /// error's line and its whole message.
    fn error_of(text: &str) -> (u64, String) {
        match parse(text) {
            Err(error @ ScriptError::Invalid { line, .. }) => (line, error.to_string()),
            Err(other) => panic!("expected an invalid-script error, got {other}"),
            Ok(script) => panic!("expected an error, got {script:?}"),
        }
    }

    #[test]
    fn full_script_parses() {
        let script = parse(
            r#"
rules:
  - match: "(?i)renew.*iqama"
    reply: {commands: [{command: start_flow, flow: iqama_renewal_flow}]}
  - match: "^slow$"
    latency_ms: 3000
    reply: {commands: []}
  - match: "^boom$"
    fault: server_error
    times: 2
  - match: "^hello$"
    once: true
    reply: {commands: [{command: greet}]}
default: derive
"#,
        )
        .unwrap();
        assert_eq!(script.rules.len(), 4);

        let renew = &script.rules[0];
        assert!(renew.pattern.is_match("I want to Renew my IQAMA"));
        assert_eq!(
            renew.action,
            RuleAction::Reply(serde_json::json!({
                "commands": [{"command": "start_flow", "flow": "iqama_renewal_flow"}]
            }))
        );
        assert_eq!(renew.line, 3);
        assert_eq!(renew.limit, None);

        assert_eq!(script.rules[1].latency, Some(Duration::from_millis(3000)));
        assert_eq!(
            script.rules[2].action,
            RuleAction::Fault(Fault::ServerError)
        );
        assert_eq!(script.rules[2].limit, Some(2));
        assert_eq!(script.rules[3].limit, Some(1));
        assert_eq!(script.default_reply, Some(DefaultReply::Derive));
    }

    #[test]
    fn default_forms() {
        let fixed = parse("default: {commands: [{command: cancel}]}").unwrap();
        assert_eq!(
            fixed.default_reply,
            Some(DefaultReply::Fixed(
                serde_json::json!({"commands": [{"command": "cancel"}]})
            ))
        );
        let fault = parse("default: rate_limited").unwrap();
        assert_eq!(
            fault.default_reply,
            Some(DefaultReply::Fault(Fault::RateLimited))
        );
        let none = parse("rules: []").unwrap();
        assert_eq!(none.default_reply, None);
    }

    #[test]
    fn bad_regex_names_line_and_reason() {
        let (line, message) =
            error_of("rules:\n  - match: \"renew(\"\n    reply: {commands: []}\n");
        assert_eq!(line, 2);
        assert!(message.starts_with("mock.yml:2:"), "{message}");
        assert!(
            message.contains("rule 1: invalid regex `renew(`: unclosed group"),
            "{message}"
        );
        assert!(message.contains("hint: fix the pattern"), "{message}");
    }

    #[test]
    fn unknown_fault_lists_valid_names() {
        let text = "rules:\n  - match: a\n    reply: {}\n  - match: b\n    fault: explode\n";
        let (line, message) = error_of(text);
        assert_eq!(line, 5);
        assert!(
            message.contains("rule 2: unknown fault `explode`"),
            "{message}"
        );
        assert!(
            message.contains("expected one of: rate_limited, server_error, timeout"),
            "{message}"
        );
    }

    #[test]
    fn missing_reply_is_explained() {
        let (line, message) = error_of("rules:\n  - match: a\n    latency_ms: 10\n");
        assert_eq!(line, 2);
        assert!(
            message.contains("rule 1 has neither `reply` nor `fault`"),
            "{message}"
        );
        assert!(message.contains("hint: add `reply:`"), "{message}");
    }

    #[test]
    fn reply_and_fault_together_are_rejected() {
        let (_, message) = error_of("rules:\n  - match: a\n    reply: {}\n    fault: empty\n");
        assert!(
            message.contains("rule 1 has both `reply` and `fault`"),
            "{message}"
        );
    }

    #[test]
    fn times_and_once_conflict() {
        let (_, message) =
            error_of("rules:\n  - match: a\n    fault: empty\n    times: 2\n    once: true\n");
        assert!(
            message.contains("sets both `times` and `once`"),
            "{message}"
        );
        let (line, message) = error_of("rules:\n  - match: a\n    fault: empty\n    times: 0\n");
        assert_eq!(line, 4);
        assert!(message.contains("`times` is 0"), "{message}");
    }

    #[test]
    fn missing_match_is_a_syntax_error() {
        let (line, message) = error_of("rules:\n  - reply: {}\n");
        assert_eq!(line, 2);
        assert!(
            message.starts_with("mock.yml:2:5: missing field `match`\n"),
            "{message}"
        );
        assert!(message.contains("hint: a script has `rules:`"), "{message}");
    }

    #[test]
    fn unknown_field_names_its_line() {
        let (line, message) = error_of("rules:\n  - match: a\n    reply: {}\n    latency: 5\n");
        assert_eq!(line, 4);
        assert!(
            message.contains(": unknown field `latency`, expected one of"),
            "{message}"
        );
        assert!(!message.contains("error: line"), "{message}");
    }

    #[test]
    fn invalid_default_is_explained() {
        let (line, message) = error_of("rules: []\ndefault: explode\n");
        assert_eq!(line, 2);
        assert!(message.contains("invalid `default` `explode`"), "{message}");
        assert!(message.contains("hint: use `derive`, a fault"), "{message}");
        let (_, message) = error_of("default: 3\n");
        assert!(
            message.contains("expected a name or an object"),
            "{message}"
        );
    }

    #[test]
    fn empty_script_is_rejected() {
        let (line, message) = error_of("  \n");
        assert_eq!(line, 1);
        assert!(message.contains("the script is empty"), "{message}");
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mock.yml");
        std::fs::write(&path, "rules:\n  - match: a\n    fault: explode\n").unwrap();
        let message = load_script(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("{}:3:", path.display())),
            "{message}"
        );

        std::fs::write(&path, "rules:\n  - match: a\n    fault: empty\n").unwrap();
        let script = load_script(&path).unwrap();
        assert_eq!(script.rules[0].action, RuleAction::Fault(Fault::Empty));
    }

    #[test]
    fn missing_file_names_the_path() {
        let error = load_script("/nonexistent/mock.yml").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("could not read mock script /nonexistent/mock.yml")
        );
    }
}
