//! Dialogflow webhooks as entries of Tern's actions file.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::yaml::scalar;

/// One action of the generated `actions.yml`.
#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub description: String,
    pub webhook_url: String,
    /// Slot names listed under the schema's `properties`, so that Tern sends
    /// them to the webhook.
    pub parameters: BTreeSet<String>,
}

/// The base of placeholder URLs. `.invalid` is reserved (RFC 2606) and
/// never resolves, so an unedited placeholder fails visibly.
pub const PLACEHOLDER_BASE: &str = "https://webhook.invalid/";

/// Query parameters and markers that suggest a URL carries a credential.
const SECRET_MARKERS: [&str; 12] = [
    "key=",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "sig=",
    "auth",
    "credential",
    "apikey",
    "api_key",
    "code=",
];

/// Returns the URL to write for a webhook: the export's own URL when it is an
/// `http(s)` URL without credentials, placeholders or a query string,
/// otherwise a placeholder. Returns the URL and whether it is a placeholder.
pub fn webhook_url(export_url: Option<&str>, action: &str) -> (String, bool) {
    let placeholder = (format!("{PLACEHOLDER_BASE}{action}"), true);
    let Some(url) = export_url.map(str::trim) else {
        return placeholder;
    };
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return placeholder;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let has_credentials = authority.contains('@');
    let has_secret = SECRET_MARKERS.iter().any(|marker| lower.contains(marker));
    let templated = url.contains(['<', '>', '{', '}', ' ']);
    if has_credentials || has_secret || templated || url.contains('?') || authority.is_empty() {
        return placeholder;
    }
    (url.to_string(), false)
}

/// Returns a valid action name (`^[a-z0-9_]+$`, at most 100 characters) for a
/// webhook's display name and tag.
pub fn action_name(webhook: &str, tag: Option<&str>) -> String {
    let mut name = super::names::snake_case(webhook)
        .trim_start_matches('_')
        .to_string();
    if let Some(tag) = tag.map(super::names::snake_case).filter(|t| !t.is_empty()) {
        name = if name.is_empty() {
            tag
        } else {
            format!("{name}_{tag}")
        };
    }
    if name.is_empty() {
        name = "webhook".into();
    }
    name.truncate(100);
    name.trim_end_matches('_').to_string()
}

/// Returns the text of `actions.yml`.
pub fn actions_file(actions: &[Action]) -> String {
    let mut out = String::from("actions:\n");
    for action in actions {
        let _ = writeln!(out, "  - name: {}", scalar(&action.name));
        let mut description = action.description.clone();
        if description.chars().count() > 500 {
            description = description.chars().take(497).collect::<String>() + "...";
        }
        let _ = writeln!(out, "    description: {}", scalar(&description));
        let _ = writeln!(out, "    webhook_url: {}", scalar(&action.webhook_url));
        out.push_str("    json_schema:\n      type: object\n");
        if action.parameters.is_empty() {
            out.push_str("      properties: {}\n");
        } else {
            out.push_str("      properties:\n");
            for parameter in &action.parameters {
                let _ = writeln!(out, "        {}: {{}}", scalar(parameter));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bearing_urls_become_placeholders() {
        let placeholder = "https://webhook.invalid/check".to_string();
        for url in [
            "https://addressvalidation.googleapis.com/v1:validateAddress?key=<YOUR-API-KEY>",
            "https://user:pass@hooks.example.com/check",
            "https://<YOUR-CLOUD-FUNCTION-TRIGGER-URL>",
            "https://hooks.example.com/check?token=abc",
            "ftp://hooks.example.com/check",
        ] {
            assert_eq!(
                webhook_url(Some(url), "check"),
                (placeholder.clone(), true),
                "{url}"
            );
        }
        assert_eq!(webhook_url(None, "check"), (placeholder, true));
        assert_eq!(
            webhook_url(Some("https://hooks.example.com/dialogflow/check"), "check"),
            (
                "https://hooks.example.com/dialogflow/check".to_string(),
                false
            )
        );
    }

    #[test]
    fn action_names_from_webhook_and_tag() {
        assert_eq!(
            action_name("lookup_place", Some("geocode")),
            "lookup_place_geocode"
        );
        assert_eq!(
            action_name(
                "prebuilt_components_address_collection:address_validation",
                Some("validation")
            ),
            "prebuilt_components_address_collection_address_validation_validation"
        );
        assert_eq!(action_name("Fulfillment", None), "fulfillment");
        assert_eq!(action_name("حجز", None), "webhook");
    }
}
