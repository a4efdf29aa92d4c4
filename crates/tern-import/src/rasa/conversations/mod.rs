//! Rasa end-to-end tests and stories converted into Tern conversation
//! tests (`tests/*.yml`).
//!
//! Each conversation runs in Tern's engine against the converted flows
//! while it is converted ([`derive`]). The written tests therefore pass as
//! long as the flows stay as imported. Every place where Tern behaves
//! differently from what the Rasa test expected goes into the report.

mod assistant;
mod derive;
mod infer;
mod script;

use std::path::{Path, PathBuf};

use tern_engine::{Command, Responses};
use tern_flow::FlowSet;

use self::assistant::Assistant;
use self::derive::DerivedTurn;
use self::script::Script;
use super::Ctx;
use super::domain::Domain;
use super::files::SourceFile;
use super::flows::{DataSections, Item};
use super::yaml_out::{self, Yaml};
use crate::project::Project;
use crate::report::Fidelity;

/// Conversations from one source file, written to one test file.
struct Group {
    source: String,
    scripts: Vec<Script>,
    /// Stories become tests only where the flows reproduce them; e2e
    /// tests are always written.
    stories: bool,
}

pub(crate) fn convert(
    ctx: &mut Ctx,
    domain: &Domain,
    data: &DataSections,
    tests: &[SourceFile],
    project: &mut Project,
) {
    let groups = read_groups(ctx, domain, data, tests);
    if groups.is_empty() {
        return;
    }

    let Some(flows) = load_flows(project) else {
        for group in &groups {
            for script in &group.scripts {
                let note =
                    "not converted, because the converted flows have validation errors (see above)";
                ctx.add(
                    Fidelity::Unmapped,
                    &script.loc,
                    format!("test `{}`", script.name),
                    note,
                );
            }
        }
        return;
    };
    let responses = project
        .files
        .get(Path::new("responses.yml"))
        .and_then(|text| tern_flow::yaml::from_str::<Responses>(text).ok())
        .unwrap_or_default();
    let assistant = Assistant::new(ctx, domain, flows, responses);

    let mut used_names = Vec::new();
    for group in groups {
        let tests: Vec<Yaml> = group
            .scripts
            .iter()
            .filter_map(|script| convert_script(ctx, &assistant, script, group.stories))
            .collect();
        if tests.is_empty() {
            continue;
        }
        let path = test_path(&group.source, &mut used_names);
        project
            .files
            .insert(path, test_file(project, &group.source, tests));
    }
}

/// Reads the conversations of the test files and of the stories under
/// `data/`, one group per source file.
fn read_groups(
    ctx: &mut Ctx,
    domain: &Domain,
    data: &DataSections,
    tests: &[SourceFile],
) -> Vec<Group> {
    let forms: Vec<String> = domain.forms.keys().cloned().collect();
    let mut groups = Vec::new();
    for file in tests {
        if file.root.get("test_cases").is_some() {
            groups.push(Group {
                source: file.name.clone(),
                scripts: script::e2e_scripts(file),
                stories: false,
            });
        } else if let Some(stories) = file.root.get("stories") {
            let items: Vec<Item> = stories
                .items()
                .iter()
                .map(|n| Item {
                    file: file.name.clone(),
                    node: n.clone(),
                })
                .collect();
            groups.push(Group {
                source: file.name.clone(),
                scripts: script::story_scripts(&items, &data.nlu, &forms),
                stories: true,
            });
        } else if !file.root.entries().is_empty() {
            ctx.add(
                Fidelity::Unmapped,
                &file.loc(1),
                format!("test file {}", file.name),
                "it has neither `test_cases` nor `stories`; not converted",
            );
        }
    }
    let mut story_files: Vec<String> = data.stories.iter().map(|s| s.file.clone()).collect();
    story_files.dedup();
    for file in story_files {
        let items: Vec<Item> = data
            .stories
            .iter()
            .filter(|s| s.file == file)
            .cloned()
            .collect();
        groups.push(Group {
            source: file,
            scripts: script::story_scripts(&items, &data.nlu, &forms),
            stories: true,
        });
    }
    groups
}

/// Writes a test file that runs `tests` against the imported assistant.
fn test_file(project: &Project, source: &str, tests: Vec<Yaml>) -> String {
    let mut document = Yaml::map().with("flows", "../flows".into());
    if project.files.contains_key(Path::new("actions.yml")) {
        document.push("actions", "../actions.yml".into());
    }
    if project.files.contains_key(Path::new("responses.yml")) {
        document.push("responses", "../responses.yml".into());
    }
    document.push("tests", Yaml::Seq(tests));
    let header = [
        format!("Conversation tests converted from the Rasa file {source}."),
        "Each turn lists the commands Tern's understanding layer would return for the message."
            .to_string(),
    ];
    yaml_out::to_string(&document, &header)
}

/// Loads the converted flows, or `None` when they have errors.
fn load_flows(project: &Project) -> Option<FlowSet> {
    let mut flows = FlowSet::default();
    for (path, text) in &project.files {
        if !path.starts_with("flows") {
            continue;
        }
        let loaded = tern_flow::load_str(path.clone(), text);
        if loaded.diagnostics.iter().any(|d| d.is_error()) {
            return None;
        }
        let offset = flows.sources.len() as u32;
        flows.sources.extend(loaded.flows.sources);
        for (id, mut flow) in loaded.flows.flows {
            flow.pos.file += offset;
            flows.flows.insert(id, flow);
        }
    }
    let errors = crate::project::validate_project(project)
        .iter()
        .any(|d| d.is_error());
    (!errors).then_some(flows)
}

/// Returns the output path of a test file: `e2e_tests/happy_paths/x.yml`
/// is written as `tests/happy_paths_x.yml`.
fn test_path(source: &str, used: &mut Vec<String>) -> PathBuf {
    let trimmed = ["e2e_tests/", "tests/", "data/"]
        .iter()
        .find_map(|p| source.strip_prefix(p))
        .unwrap_or(source);
    let stem = trimmed
        .trim_end_matches(".yml")
        .trim_end_matches(".yaml")
        .replace('/', "_");
    let mut name = stem.clone();
    let mut counter = 2;
    while used.contains(&name) {
        name = format!("{stem}_{counter}");
        counter += 1;
    }
    used.push(name.clone());
    PathBuf::from(format!("tests/{name}.yml"))
}

fn convert_script(
    ctx: &mut Ctx,
    assistant: &Assistant,
    script: &Script,
    story: bool,
) -> Option<Yaml> {
    let what = format!("{} `{}`", if story { "story" } else { "test" }, script.name);
    if let Some(reason) = &script.unsupported {
        let note = format!(
            "{reason}; its steps as an example: {}",
            script.summary.join(" → ")
        );
        ctx.add(Fidelity::Unmapped, &script.loc, what, note);
        return None;
    }
    if script.turns.is_empty() {
        ctx.add(
            Fidelity::Unmapped,
            &script.loc,
            what,
            "it has no user messages, so there is nothing to test",
        );
        return None;
    }

    let turns = derive::derive(assistant, script);
    let all_matched = turns.iter().all(|t| t.matched);
    let mut notes: Vec<String> = script.notes.clone();
    for (index, turn) in turns.iter().enumerate() {
        for note in &turn.notes {
            notes.push(format!("turn {} (line {}): {note}", index + 1, turn.line));
        }
    }
    if story && !all_matched {
        let note = format!(
            "the converted flows do not reproduce this story, so it is not a test ({}); its steps as an example: {}",
            notes.join("; "),
            script.summary.join(" → ")
        );
        ctx.add(Fidelity::Unmapped, &script.loc, what, note);
        return None;
    }

    let fidelity = if notes.is_empty() {
        Fidelity::Mapped
    } else {
        Fidelity::Approximate
    };
    let count = turns.len();
    let mut note = format!(
        "converted with {count} turn{}",
        if count == 1 { "" } else { "s" }
    );
    if !all_matched {
        note.push_str(", some of which check the flow and slots instead of the messages");
    }
    if !notes.is_empty() {
        note.push_str("; ");
        note.push_str(&notes.join("; "));
    }
    ctx.add(fidelity, &script.loc, what, note);
    Some(test_yaml(script, &turns))
}

fn test_yaml(script: &Script, turns: &[DerivedTurn]) -> Yaml {
    let mut test = Yaml::map();
    test.push_commented(
        "name",
        script.name.as_str().into(),
        vec![format!(
            "From {}, line {}.",
            script.loc.file, script.loc.line
        )],
    );
    if !script.slots.is_empty() {
        test.push(
            "slots",
            Yaml::from_json(&serde_json::Value::Object(
                script.slots.clone().into_iter().collect(),
            )),
        );
    }
    test.push("turns", Yaml::Seq(turns.iter().map(turn_yaml).collect()));
    test
}

fn turn_yaml(turn: &DerivedTurn) -> Yaml {
    let mut yaml = Yaml::map();
    let comments = turn.notes.iter().map(|n| format!("NOTE: {n}")).collect();
    yaml.push_commented("user", turn.user.as_str().into(), comments);
    if !turn.commands.is_empty() {
        yaml.push(
            "commands",
            Yaml::Seq(turn.commands.iter().map(command_yaml).collect()),
        );
    }
    if !turn.stubs.is_empty() {
        let mut actions = Yaml::map();
        for (action, value) in &turn.stubs {
            actions.push(
                action.as_str(),
                Yaml::map().with("result", Yaml::from_json(value)),
            );
        }
        yaml.push("actions", actions);
    }
    if let Some(messages) = &turn.bot {
        let items = messages
            .iter()
            .map(|message| {
                if message.buttons.is_empty() {
                    message.text.as_str().into()
                } else {
                    let titles = message
                        .buttons
                        .iter()
                        .map(|b| b.title.as_str().into())
                        .collect();
                    Yaml::map()
                        .with("text", message.text.as_str().into())
                        .with("buttons", Yaml::Seq(titles))
                }
            })
            .collect();
        yaml.push("bot", Yaml::Seq(items));
    }
    let mut expect = Yaml::map();
    if !turn.expect_slots.is_empty() {
        let mut slots = Yaml::map();
        for (slot, value) in &turn.expect_slots {
            slots.push(slot.as_str(), Yaml::from_json(value));
        }
        expect.push("slots", slots);
    }
    if let Some(flow) = &turn.expect_flow {
        expect.push("flow", flow.as_str().into());
    }
    if let Some(step) = &turn.expect_step {
        expect.push("step", step.as_str().into());
    }
    if matches!(&expect, Yaml::Map(entries) if !entries.is_empty()) {
        yaml.push("expect", expect);
    }
    yaml
}

fn command_yaml(command: &Command) -> Yaml {
    match command {
        Command::StartFlow { flow } => Yaml::map().with("start_flow", flow.as_str().into()),
        Command::SetSlot { slot, value } => Yaml::map().with(
            "set_slot",
            Yaml::map().with(slot.as_str(), Yaml::from_json(value)),
        ),
        Command::Clarify { flows } => Yaml::map().with(
            "clarify",
            Yaml::Seq(flows.iter().map(|f| f.as_str().into()).collect()),
        ),
        Command::Handoff {
            reason: Some(reason),
        } => Yaml::map().with("handoff", reason.as_str().into()),
        Command::Judge { condition, value } => Yaml::map().with(
            "judge",
            Yaml::map().with(condition.as_str(), Yaml::Bool(*value)),
        ),
        other => other.name().into(),
    }
}
