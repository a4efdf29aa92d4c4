//! The field path of a YAML error, such as `flows.b.steps[2]`, found from
//! the error's line by reading the file again loosely: only the positions
//! of the flows and of their steps, ignoring every other field.
//!
//! A wrong field or value fails the whole file, because deserializing the
//! file stops at its first error. The path at least shows which flow and
//! step to fix.

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

#[derive(Deserialize)]
struct Flows {
    flows: Option<IndexMap<String, Spanned<IgnoredAny>>>,
}

#[derive(Deserialize)]
struct FlowSteps {
    flows: Option<IndexMap<String, Steps>>,
}

#[derive(Deserialize)]
struct Steps {
    steps: Option<Vec<Spanned<IgnoredAny>>>,
}

/// Returns the path of the flow, and of the step when the steps are a
/// list, that contains `line`, or an empty path when no flow does.
pub(super) fn field_path(text: &str, line: u32) -> String {
    let Ok(Flows { flows: Some(flows) }) = crate::yaml::from_str::<Flows>(text) else {
        return String::new();
    };
    let Some(flow) = last_starting_by(flows.iter(), line) else {
        return String::new();
    };
    let mut path = format!("flows.{flow}");
    let steps = crate::yaml::from_str::<FlowSteps>(text)
        .ok()
        .and_then(|outline| outline.flows)
        .and_then(|mut flows| flows.swap_remove(flow))
        .and_then(|flow| flow.steps);
    if let Some(steps) = steps
        && let Some(index) = last_starting_by(steps.iter().enumerate(), line)
    {
        path.push_str(&format!(".steps[{index}]"));
    }
    path
}

/// Returns the key of the last value that starts on or before `line`.
fn last_starting_by<'a, K>(
    values: impl Iterator<Item = (K, &'a Spanned<IgnoredAny>)>,
    line: u32,
) -> Option<K> {
    values
        .filter(|(_, value)| value.referenced.line() as u32 <= line)
        .last()
        .map(|(key, _)| key)
}

#[cfg(test)]
mod tests {
    use super::field_path;

    const TEXT: &str = "flows:
  a:
    name: A
    steps:
      - id: one
        response: hi
  b:
    name: B
    steps:
      - id: one
        response: hi
      - id: two
        colect: x
";

    #[test]
    fn line_in_second_step_names_it() {
        assert_eq!(field_path(TEXT, 13), "flows.b.steps[1]");
    }

    #[test]
    fn line_in_first_flow_names_it() {
        assert_eq!(field_path(TEXT, 5), "flows.a.steps[0]");
    }

    #[test]
    fn steps_of_wrong_shape_name_the_flow() {
        let text = "flows:\n  a:\n    name: A\n    steps: 5\n";
        assert_eq!(field_path(text, 4), "flows.a");
    }

    #[test]
    fn broken_yaml_gives_empty_path() {
        assert_eq!(field_path("flows: [", 1), "");
    }
}
