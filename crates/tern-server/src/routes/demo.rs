//! A demonstration back office for the bundled example assistant, so that
//! its action steps work without any other server. It checks each call's
//! signature like a real webhook would and answers with fixed data.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

pub async fn action(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    if let Err(error) = tern_actions::verify(&state.hmac_key, &body) {
        tracing::warn!(action = %name, %error, "demo back office: signature check failed");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "result": "", "error": "invalid signature" })),
        );
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parameters = &request["parameters"];
    (StatusCode::OK, Json(answer(&name, parameters)))
}

fn text(parameters: &Value, name: &str) -> String {
    match &parameters[name] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A short number derived from the input, so repeated demo calls agree.
fn reference(input: &str) -> u32 {
    input.bytes().fold(7u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % 90_000
        + 10_000
}

fn answer(action: &str, parameters: &Value) -> Value {
    let ok = |result: Value| json!({ "result": result, "error": "" });
    match action {
        "create_service_request" => ok(json!(format!(
            "SR-{}",
            reference(&text(parameters, "issue_location"))
        ))),
        "lookup_fine" => {
            let plate = text(parameters, "plate_number");
            let amount = if plate.contains("000") {
                0
            } else {
                60 + (reference(&plate) % 4) * 45
            };
            ok(json!(amount))
        }
        "pay_fine" => ok(json!(format!(
            "RC-{}",
            reference(&text(parameters, "plate_number"))
        ))),
        "verify_resident"
            if text(parameters, "resident_id")
                .to_uppercase()
                .starts_with("RV") =>
        {
            ok(json!("Alex Morgan"))
        }
        "verify_resident" => json!({ "result": "", "error": "no resident with that number" }),
        "reserve_appointment" => ok(json!(format!(
            "APT-{}",
            reference(&text(parameters, "appointment_date"))
        ))),
        "check_library_card" if text(parameters, "library_card_number") == "99999999" => {
            ok(json!("not_found"))
        }
        "check_library_card" => ok(json!("active")),
        "renew_library_card" => ok(json!("2027-12-31")),
        "create_library_card" => ok(json!(format!(
            "3177{:04}",
            reference(&text(parameters, "applicant_name")) % 10_000
        ))),
        other => {
            json!({ "result": "", "error": format!("the demo back office has no action `{other}`") })
        }
    }
}
