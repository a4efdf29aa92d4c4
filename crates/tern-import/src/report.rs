//! The fidelity report of an import.

use std::fmt::Write as _;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// Means the same in Tern.
    Mapped,
    /// Converted with a difference the note explains.
    Approximate,
    /// Not converted. The note lists what a person must do.
    Unmapped,
}

/// One source element and how it was converted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportItem {
    pub fidelity: Fidelity,
    /// Source file, relative to the imported project's root.
    pub source: String,
    /// The position in the file: `line N` for YAML, a JSON path for JSON.
    pub location: String,
    /// The element, such as "flow `transfer_money`".
    pub what: String,
    pub note: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// `rasa`, `dialogflow-es` or `dialogflow-cx`.
    pub source_kind: String,
    pub items: Vec<ReportItem>,
    /// Things to fill in before the assistant works fully, such as webhook
    /// URLs of placeholder actions.
    pub to_do: Vec<String>,
}

/// Orders items by file, then line number (so `line 2` comes before
/// `line 10`), then location text and description.
fn sort_key(item: &ReportItem) -> (&str, u64, &str, &str) {
    let line = item
        .location
        .strip_prefix("line ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0);
    (&item.source, line, &item.location, &item.what)
}

impl Report {
    pub fn new(source_kind: &str) -> Self {
        Self {
            source_kind: source_kind.to_string(),
            ..Default::default()
        }
    }

    pub fn add(
        &mut self,
        fidelity: Fidelity,
        source: &str,
        location: impl Into<String>,
        what: impl Into<String>,
        note: impl Into<String>,
    ) {
        self.items.push(ReportItem {
            fidelity,
            source: source.to_string(),
            location: location.into(),
            what: what.into(),
            note: note.into(),
        });
    }

    pub fn count(&self, fidelity: Fidelity) -> usize {
        self.items.iter().filter(|i| i.fidelity == fidelity).count()
    }

    /// Renders the report as Markdown, grouped by fidelity, in a stable order.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Import report ({})\n", self.source_kind);
        let _ = writeln!(
            out,
            "{} mapped, {} approximate, {} not mapped.\n",
            self.count(Fidelity::Mapped),
            self.count(Fidelity::Approximate),
            self.count(Fidelity::Unmapped)
        );
        if !self.to_do.is_empty() {
            out.push_str("## To do before use\n\n");
            for item in &self.to_do {
                let _ = writeln!(out, "- {item}");
            }
            out.push('\n');
        }
        for (fidelity, title) in [
            (Fidelity::Unmapped, "Not mapped"),
            (Fidelity::Approximate, "Mapped approximately"),
            (Fidelity::Mapped, "Mapped"),
        ] {
            let mut items: Vec<&ReportItem> = self
                .items
                .iter()
                .filter(|i| i.fidelity == fidelity)
                .collect();
            if items.is_empty() {
                continue;
            }
            items.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
            let _ = writeln!(out, "## {title}\n");
            for item in items {
                let _ = writeln!(
                    out,
                    "- {} ({}, {}): {}",
                    item.what, item.source, item.location, item.note
                );
            }
            out.push('\n');
        }
        out
    }

    /// Returns a short summary for the terminal.
    pub fn summary(&self) -> String {
        format!(
            "{} mapped, {} approximate, {} not mapped, {} to do",
            self.count(Fidelity::Mapped),
            self.count(Fidelity::Approximate),
            self.count(Fidelity::Unmapped),
            self.to_do.len()
        )
    }
}
