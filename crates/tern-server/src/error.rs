//! Errors as the HTTP client sees them: a status, a stable code, a message
//! and a hint. Internal causes are logged once, here, and never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// An unexpected failure: logged with its cause, reported without it.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Self {
        Self::internal_counted(context, cause, "internal")
    }

    fn internal_counted(context: &str, cause: &dyn std::fmt::Display, kind: &'static str) -> Self {
        tracing::error!(%cause, "{context}");
        metrics::counter!("tern_errors_total", "kind" => kind).increment(1);
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle the request",
        )
        .hint("try again; if it keeps failing, the server log has the cause")
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// Converts a store failure: 503 `database_unavailable` when the
    /// database cannot be reached or has gone away, otherwise an internal
    /// error logged with `context`. Either is counted once in
    /// `tern_errors_total`, with the kind `database_unavailable` or `store`.
    pub fn store(context: &str, error: &tern_store::StoreError) -> Self {
        if !error.is_unavailable() {
            return Self::internal_counted(context, error, "store");
        }
        tracing::error!(%error, "{context}: the database is unavailable");
        metrics::counter!("tern_errors_total", "kind" => "database_unavailable").increment(1);
        Self::database_unavailable(error)
    }

    /// The 503 for a database that cannot be reached or has lost its tables.
    pub fn database_unavailable(error: &tern_store::StoreError) -> Self {
        if error.is_missing_schema() {
            return Self::unavailable(
                "database_unavailable",
                "the database has no conversation tables; it was dropped or replaced",
            )
            .hint("restart tern serve, which creates the tables at start-up");
        }
        Self::unavailable("database_unavailable", "the database does not answer")
            .hint("check that the database server runs and the database exists, then try again")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(hint) = self.hint {
            body["error"]["hint"] = json!(hint);
        }
        (self.status, Json(body)).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
