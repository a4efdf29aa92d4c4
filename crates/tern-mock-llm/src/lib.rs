//! A mock LLM server for Tern's tests, demos and load benchmarks.
//!
//! It serves OpenAI Chat Completions (`POST /v1/chat/completions`, also
//! without `/v1`) and Anthropic Messages (`POST /v1/messages`). Each reply
//! has the shape its request selected. Requests with `response_format` or
//! none get text in `message.content` (or a text block), and requests that
//! offer tools get a tool call (or a `tool_use` block). `usage` is estimated
//! as chars / 4. `GET /health` and `GET /v1/models` are there for clients
//! that probe.
//!
//! For each chat request the mock finds the user text (the `message` field of
//! the JSON object after a `CONTEXT:` line in the last user message, else that
//! whole message) and picks the response in this order:
//!
//! 1. a `[fault:NAME]` marker in the user text applies that [`Fault`];
//! 2. the first matching rule of the [`Script`] that is not used up;
//! 3. the default reply: the script's `default:`, else
//!    [`MockConfig::default_reply`]. In `derive` mode the reply is computed
//!    by `tern_understand::offline::derive_reply` from the prompt's context,
//!    so any flow can be driven without a script.
//!
//! Latency is applied before responding, with `tokio::time::sleep`, so a
//! waiting request occupies no thread. Counters are atomics and no lock is
//! held across an await, so concurrent requests do not wait on each other.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use tern_mock_llm::{MockConfig, MockServer};
//!
//! let server = MockServer::start("127.0.0.1:0".parse().unwrap(), MockConfig::default()).await?;
//! println!("point the client at {}", server.base_url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod decide;
mod protocol;
mod routes;
mod script;
mod server;
mod stats;

pub use config::{DefaultReply, Fault, Latency, MockConfig};
pub use protocol::{CONTEXT_MARKER, user_text};
pub use script::{Rule, RuleAction, Script, ScriptError, load_script, parse_script};
pub use server::{MockServer, RecordedRequest, TIMEOUT_FAULT_DELAY};
pub use stats::MockStats;
