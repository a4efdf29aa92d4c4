//! Calls Tern actions: the HTTP webhooks that flow steps `action: NAME` run.
//!
//! [`ActionCaller::call`] takes an [`ActionDef`](tern_flow::actions::ActionDef)
//! from the actions file and the parameters the engine collected, and returns
//! a [`CallReport`] whose outcome the engine takes back as
//! [`tern_engine::ActionOutcome`]. One call:
//!
//! 1. Checks the parameters against the action's JSON Schema, compiled once
//!    per action and cached. A violation fails the call with
//!    `invalid_parameters` and no request is sent.
//! 2. Sends `POST webhook_url` with `Content-Type: application/json` and the
//!    body `{action_name, parameters, signature, timestamp}`, where
//!    `timestamp` is in Unix seconds and `signature` is [`sign`] of the same
//!    object without `signature`. The body is written in [canonical
//!    form](canonical_json) with `signature` in its sorted place, so a
//!    verifier that parses it and serializes it again gets the signed bytes.
//!    [`ActionCaller::test_call`] sends the registration test call, with
//!    `parameters: {}` and `test: true`.
//! 3. Waits at most the configured timeout (30 s by default) and reads at
//!    most the configured number of response bytes (1 MiB by default).
//! 4. Takes a 2xx response `{result, error}`: a non-empty `error` fails the
//!    call with that text, otherwise `result` (any JSON value) is the
//!    outcome.
//!
//! Failures are logged at warn with their kind, successes at debug. Logs
//! name the action and parameter names, never parameter values or the key.
//!
//! [`verify`] checks a signature on the webhook side, for webhooks written in
//! Rust and for tests.

mod caller;
mod canonical;
mod reply;
mod schema;
mod signature;

pub use caller::{
    ActionCaller, ActionError, CallReport, CallerConfig, DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT,
    IDEMPOTENCY_KEY,
};
pub use canonical::canonical_json;
pub use signature::{SIGNATURE_FIELD, VerifyError, sign, signed_body, verify};
