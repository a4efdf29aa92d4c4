//! The HTTP routes. [`router`] builds the whole application so tests can
//! drive it with or without a socket.

mod conversations;
mod demo;
mod rasa;
mod system;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method};
use axum::routing::{get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Largest JSON body accepted on the message endpoints.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let uploads_limit = DefaultBodyLimit::max(state.config.max_upload_bytes);
    let api = Router::new()
        .route(
            "/api/v1/conversations/{id}/messages",
            post(conversations::post_message),
        )
        .route(
            "/api/v1/conversations/{id}",
            get(conversations::get_conversation).delete(conversations::delete_conversation),
        )
        .route(
            "/api/v1/conversations/{id}/transcript",
            get(conversations::get_transcript),
        )
        .route(
            "/api/v1/conversations/{id}/agent",
            post(conversations::post_agent_message),
        )
        .route(
            "/api/v1/conversations/{id}/stream",
            get(conversations::stream),
        )
        .route("/api/v1/flows", get(system::list_flows))
        .route("/webhooks/rest/webhook", post(rasa::webhook))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES));
    let uploads = Router::new()
        .route(
            "/api/v1/conversations/{id}/uploads",
            post(conversations::upload),
        )
        .route("/api/v1/uploads/{id}", get(conversations::get_upload))
        .layer(uploads_limit);
    let mut app = Router::new()
        .merge(api)
        .merge(uploads)
        .route("/", get(system::web_chat))
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(system::openapi));
    if state.assistant.is_demo {
        app = app.route("/demo/actions/{name}", post(demo::action));
    }
    let cors = cors(&state.config.cors_origins);
    // After every route, because it applies to the routes registered so far.
    app.method_not_allowed_fallback(system::method_not_allowed)
        .fallback(system::not_found)
        .layer(cors)
        // Handlers log their own failures with the cause and the ids, so the
        // layer's generic line for each 5xx would only repeat them.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderName::from_static("x-api-key"),
        ])
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    layer.allow_origin(list)
}
