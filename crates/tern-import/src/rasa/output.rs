//! Writing the converted flows, actions and engine messages as files of
//! the project, and checking them like `tern validate` would.

use std::path::PathBuf;

use super::Ctx;
use super::actions::{parameters_schema, placeholder_url};
use super::model::flow_document;
use super::yaml_out::{self, Yaml};
use crate::project::{Project, validate_project};
use crate::report::Fidelity;

pub(crate) fn write(ctx: &mut Ctx, project: &mut Project, domain: &super::domain::Domain) {
    for flow in ctx.flows.values() {
        let text = yaml_out::to_string(&flow_document(flow), &[]);
        project
            .files
            .insert(PathBuf::from(format!("flows/{}.yml", flow.id)), text);
    }
    if !ctx.actions.is_empty() {
        let mut entries = Vec::new();
        for (name, action) in &ctx.actions {
            let description = format!(
                "Imported from the Rasa custom action `{}`; its code must be rehosted at this webhook.",
                action.rasa_name
            );
            let entry = Yaml::map()
                .with("name", name.as_str().into())
                .with("description", description.into())
                .with("webhook_url", placeholder_url(name).into())
                .with(
                    "json_schema",
                    Yaml::from_json(&parameters_schema(ctx, domain, action)),
                );
            entries.push(entry);
        }
        let header = [
            "Webhooks of the Rasa custom actions. Every URL is a placeholder:".to_string(),
            "rehost each action's code and replace its URL before use.".to_string(),
        ];
        let text = yaml_out::to_string(&Yaml::map().with("actions", Yaml::Seq(entries)), &header);
        project.files.insert(PathBuf::from("actions.yml"), text);
    }
    if !ctx.messages.is_empty() {
        let mut document = Yaml::map();
        for (key, text) in &ctx.messages {
            document.push(*key, text.as_str().into());
        }
        let header = [
            "Engine messages taken from the Rasa project's patterns and default responses."
                .to_string(),
        ];
        project.files.insert(
            PathBuf::from("responses.yml"),
            yaml_out::to_string(&document, &header),
        );
    }
}

/// Validates the written flows and actions. Every error goes into the
/// report and the to-do list, because it stops `tern validate` and the
/// conversation tests.
pub(crate) fn check(ctx: &mut Ctx, project: &Project) {
    for diagnostic in validate_project(project).iter().filter(|d| d.is_error()) {
        let file = diagnostic
            .file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        let loc = super::Loc {
            file: file.clone(),
            line: diagnostic.line,
        };
        let what = format!("validation error `{}`", diagnostic.code);
        ctx.add(Fidelity::Unmapped, &loc, what, diagnostic.message.clone());
        ctx.add_to_do(format!(
            "Fix {file}:{}: {}",
            diagnostic.line, diagnostic.message
        ));
    }
}
