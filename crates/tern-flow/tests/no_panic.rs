//! Property tests: loading and validating never panics, whatever the text.
//! Three sources of input: arbitrary strings, mutations of real flow files,
//! and randomly generated flow sets that are valid YAML but wire steps,
//! calls and slots together at random (loops, recursion, unknown targets).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;
use tern_flow::actions::{ActionRegistry, parse_actions};
use tern_flow::validate::validate;
use tern_flow::{Diagnostic, load_str};

const ACTIONS: &str = r#"
actions:
  - name: check
    description: Checks something
    webhook_url: http://127.0.0.1:9400/actions/check
    json_schema:
      type: object
      properties: { a: { type: string } }
      required: [a]
"#;

fn registry() -> ActionRegistry {
    parse_actions(Path::new("actions.yml"), ACTIONS).0
}

/// Loads and validates `text` with and without an actions file, and checks
/// that the validator's output is sorted by position.
fn load_and_validate(text: &str) {
    let loaded = load_str("input.yml", text);
    let registry = registry();
    for actions in [None, Some(&registry)] {
        let diagnostics = validate(&loaded.flows, actions);
        assert_sorted(&diagnostics);
    }
}

fn assert_sorted(diagnostics: &[Diagnostic]) {
    for pair in diagnostics.windows(2) {
        let key = |d: &Diagnostic| (d.file.clone(), d.line, d.column);
        assert!(key(&pair[0]) <= key(&pair[1]), "not sorted: {pair:#?}");
    }
}

fn seed_files() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut paths: Vec<PathBuf> = [
        "simple_greeting.yml",
        "iqama_renewal.yml",
        "intelligent_service_router.yml",
    ]
    .iter()
    .map(|file| root.join("flowent").join(file))
    .collect();
    paths.push(root.join("invalid/slot_collected_on_one_path.yml"));
    paths.push(root.join("invalid/recursive_call.yml"));
    paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// Text that, inserted into a flow file, changes its meaning rather than
/// only breaking its syntax.
const TOKENS: &[&str] = &[
    "\n",
    "  ",
    "- ",
    ":",
    "'",
    "\"",
    "slots.",
    "slots.user_name",
    "END",
    "next: END",
    "next: collect_name",
    "next: greet_user",
    "next: analyze_request",
    "then: collect_name",
    "else: route_by_type",
    "call: simple_greeting_flow",
    "call: iqama_renewal_flow",
    "link: intelligent_service_flow",
    "collect: x",
    "action: authenticate_user",
    "set_slots: {a: 1}",
    "handoff: true",
    "if: \"true\"",
    "if: \"slots.a ==\"",
    "- id: ask_help",
    "collect_type: choice",
    "options: [a, b]",
    "validation: {min: 1, max_attempts: 2, on_max_attempts: goodbye}",
    "\u{0627}\u{0633}\u{0645}",
    "\t",
    "{",
    "[",
    "&anchor",
    "*anchor",
    "!!str",
    "---",
    "~",
];

#[derive(Clone, Debug)]
enum Mutation {
    DeleteChars { at: Index, len: usize },
    Insert { at: Index, token: Index },
    DeleteLine { line: Index },
    DuplicateLine { line: Index },
    SwapLines { first: Index, second: Index },
    Truncate { at: Index },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1usize..20).prop_map(|(at, len)| Mutation::DeleteChars { at, len }),
        (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        any::<Index>().prop_map(|line| Mutation::DeleteLine { line }),
        any::<Index>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<Index>(), any::<Index>())
            .prop_map(|(first, second)| Mutation::SwapLines { first, second }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// Applies a mutation on chars and lines, so the text stays valid UTF-8.
fn apply(text: &str, mutation: &Mutation) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.lines().collect();
    let char_at = |index: &Index| {
        if chars.is_empty() {
            0
        } else {
            index.index(chars.len() + 1)
        }
    };
    match mutation {
        Mutation::DeleteChars { at, len } => {
            let start = char_at(at).min(chars.len());
            let end = (start + len).min(chars.len());
            chars[..start].iter().chain(&chars[end..]).collect()
        }
        Mutation::Insert { at, token } => {
            let position = char_at(at).min(chars.len());
            let token = TOKENS[token.index(TOKENS.len())];
            let mut result: String = chars[..position].iter().collect();
            result.push_str(token);
            result.extend(&chars[position..]);
            result
        }
        Mutation::Truncate { at } => chars[..char_at(at).min(chars.len())].iter().collect(),
        Mutation::DeleteLine { line } if !lines.is_empty() => {
            lines.remove(line.index(lines.len()));
            lines.join("\n")
        }
        Mutation::DuplicateLine { line } if !lines.is_empty() => {
            let index = line.index(lines.len());
            lines.insert(index, lines[index]);
            lines.join("\n")
        }
        Mutation::SwapLines { first, second } if !lines.is_empty() => {
            let (a, b) = (first.index(lines.len()), second.index(lines.len()));
            lines.swap(a, b);
            lines.join("\n")
        }
        _ => text.to_string(),
    }
}

/// A randomly wired step, written as YAML by [`write_flow_set`].
#[derive(Clone, Debug)]
enum GenStep {
    Collect {
        slot: usize,
        choice: bool,
        own_reference: bool,
        max_attempts_target: Option<usize>,
    },
    Response {
        slot: Option<usize>,
    },
    Action {
        result_slot: Option<usize>,
    },
    Route,
    Call {
        flow: usize,
    },
    Link {
        flow: usize,
    },
    SetSlots {
        slot: usize,
    },
    Handoff {
        slot: Option<usize>,
    },
}

#[derive(Clone, Debug)]
enum GenNext {
    FallThrough,
    Goto(usize),
    Branches(Vec<(Option<usize>, usize)>),
}

#[derive(Clone, Debug)]
struct GenFlow {
    startable: bool,
    guard_slot: Option<usize>,
    steps: Vec<(GenStep, GenNext, Option<usize>)>,
}

const SLOTS: &[&str] = &["a", "b", "c", "d"];
const MAX_STEPS: usize = 6;

/// Names the target with this index: step `s<index>`, END, or a step that
/// does not exist, so that every kind of target occurs.
fn target_name(target: usize) -> String {
    match target {
        t if t < MAX_STEPS => format!("s{t}"),
        t if t == MAX_STEPS => "END".to_string(),
        _ => "missing_step".to_string(),
    }
}

fn gen_step() -> impl Strategy<Value = GenStep> {
    let slot = 0..SLOTS.len();
    prop_oneof![
        (
            slot.clone(),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(0..MAX_STEPS + 2)
        )
            .prop_map(|(slot, choice, own_reference, max_attempts_target)| {
                GenStep::Collect {
                    slot,
                    choice,
                    own_reference,
                    max_attempts_target,
                }
            }),
        proptest::option::of(slot.clone()).prop_map(|slot| GenStep::Response { slot }),
        proptest::option::of(slot.clone()).prop_map(|result_slot| GenStep::Action { result_slot }),
        Just(GenStep::Route),
        (0usize..4).prop_map(|flow| GenStep::Call { flow }),
        (0usize..4).prop_map(|flow| GenStep::Link { flow }),
        slot.clone().prop_map(|slot| GenStep::SetSlots { slot }),
        proptest::option::of(slot).prop_map(|slot| GenStep::Handoff { slot }),
    ]
}

fn gen_next() -> impl Strategy<Value = GenNext> {
    let target = 0..MAX_STEPS + 2;
    prop_oneof![
        Just(GenNext::FallThrough),
        target.clone().prop_map(GenNext::Goto),
        proptest::collection::vec((proptest::option::of(0..SLOTS.len()), target), 0..3)
            .prop_map(GenNext::Branches),
    ]
}

fn gen_flow() -> impl Strategy<Value = GenFlow> {
    let step = (
        gen_step(),
        gen_next(),
        proptest::option::of(0..MAX_STEPS + 2),
    );
    (
        any::<bool>(),
        proptest::option::of(0..SLOTS.len()),
        proptest::collection::vec(step, 0..=MAX_STEPS),
    )
        .prop_map(|(startable, guard_slot, steps)| GenFlow {
            startable,
            guard_slot,
            steps,
        })
}

fn write_flow_set(flows: &[GenFlow]) -> String {
    let mut yaml = String::from("flows:\n");
    for (index, flow) in flows.iter().enumerate() {
        let _ = writeln!(
            yaml,
            "  f{index}:\n    name: Flow {index}\n    description: Generated"
        );
        if flow.startable {
            let _ = writeln!(
                yaml,
                "    nlu_trigger:\n      intents:\n        - intent: start_{index}"
            );
        }
        if let Some(slot) = flow.guard_slot {
            let _ = writeln!(yaml, "    guard: \"slots.{} != null\"", SLOTS[slot]);
        }
        yaml.push_str("    steps:\n");
        for (position, (step, next, otherwise)) in flow.steps.iter().enumerate() {
            let _ = writeln!(yaml, "      - id: s{position}");
            write_step(&mut yaml, step);
            write_next(&mut yaml, next);
            if let Some(target) = otherwise {
                let _ = writeln!(yaml, "        else: {}", target_name(*target));
            }
        }
    }
    yaml
}

fn write_step(yaml: &mut String, step: &GenStep) {
    let indent = "        ";
    match step {
        GenStep::Collect {
            slot,
            choice,
            own_reference,
            max_attempts_target,
        } => {
            let name = SLOTS[*slot];
            let _ = writeln!(yaml, "{indent}collect: {name}");
            let reference = if *own_reference {
                format!(" slots.{name}")
            } else {
                String::new()
            };
            let _ = writeln!(yaml, "{indent}description: \"Value?{reference}\"");
            if *choice {
                let _ = writeln!(
                    yaml,
                    "{indent}collect_type: choice\n{indent}options: [x, z]"
                );
            }
            if let Some(target) = max_attempts_target {
                let _ = writeln!(
                    yaml,
                    "{indent}validation:\n{indent}  max_attempts: 2\n{indent}  on_max_attempts: {}",
                    target_name(*target)
                );
            }
        }
        GenStep::Response { slot } => {
            let text = slot.map_or(String::from("Hi"), |s| format!("Hi slots.{}", SLOTS[s]));
            let _ = writeln!(yaml, "{indent}response: \"{text}\"");
        }
        GenStep::Action { result_slot } => {
            let _ = writeln!(yaml, "{indent}action: check");
            if let Some(slot) = result_slot {
                let _ = writeln!(yaml, "{indent}result_slot: {}", SLOTS[*slot]);
            }
        }
        GenStep::Route => {}
        GenStep::Call { flow } => {
            let _ = writeln!(yaml, "{indent}call: f{flow}");
        }
        GenStep::Link { flow } => {
            let _ = writeln!(yaml, "{indent}link: f{flow}");
        }
        GenStep::SetSlots { slot } => {
            let _ = writeln!(yaml, "{indent}set_slots:\n{indent}  {}: 1", SLOTS[*slot]);
        }
        GenStep::Handoff { slot } => {
            let message = slot.map_or(String::from("Bye"), |s| format!("Bye slots.{}", SLOTS[s]));
            let _ = writeln!(yaml, "{indent}handoff:\n{indent}  message: \"{message}\"");
        }
    }
}

fn write_next(yaml: &mut String, next: &GenNext) {
    match next {
        GenNext::FallThrough => {}
        GenNext::Goto(target) => {
            let _ = writeln!(yaml, "        next: {}", target_name(*target));
        }
        GenNext::Branches(branches) => {
            yaml.push_str("        next:\n");
            if branches.is_empty() {
                yaml.push_str("          []\n");
            }
            for (slot, target) in branches {
                let condition = slot.map_or(String::from("true"), |s| {
                    format!("slots.{} == 'x'", SLOTS[s])
                });
                let _ = writeln!(
                    yaml,
                    "          - if: \"{condition}\"\n            then: {}",
                    target_name(*target)
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        load_and_validate(&text);
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-z_:\\- \n\\[\\]{}'\"#.|>&*!0-9]{0,300}") {
        load_and_validate(&text);
    }

    #[test]
    fn mutated_flow_files_never_panic(
        seed in any::<Index>(),
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let seeds = seed_files();
        let mut text = seeds[seed.index(seeds.len())].clone();
        for mutation in &mutations {
            text = apply(&text, mutation);
        }
        load_and_validate(&text);
    }

    #[test]
    fn generated_flow_sets_never_panic(flows in proptest::collection::vec(gen_flow(), 1..4)) {
        let yaml = write_flow_set(&flows);
        let loaded = load_str("generated.yml", &yaml);
        let syntax_errors: Vec<&Diagnostic> =
            loaded.diagnostics.iter().filter(|d| d.code == "invalid_yaml").collect();
        prop_assert!(syntax_errors.is_empty(), "generator wrote invalid YAML: {syntax_errors:#?}\n{yaml}");
        load_and_validate(&yaml);
    }
}
