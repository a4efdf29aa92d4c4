//! Server settings: latency, the script, the default reply and the faults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::RngExt;
use serde_json::Value;

use crate::script::Script;

/// Settings of one mock server.
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// Delay before each response, unless a matching rule sets its own.
    pub latency: Latency,
    /// Rules tried in order before `default_reply`.
    pub script: Option<Script>,
    /// The reply when no rule matches. A script's own `default:` replaces it.
    pub default_reply: DefaultReply,
    /// Recorded requests kept for [`crate::MockServer::requests`]; older ones
    /// are dropped first. 0 records nothing, which a load test may want.
    pub record_limit: usize,
}

impl MockConfig {
    pub const DEFAULT_RECORD_LIMIT: usize = 1_000;
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency: Latency::Fixed(Duration::ZERO),
            script: None,
            default_reply: DefaultReply::Derive,
            record_limit: Self::DEFAULT_RECORD_LIMIT,
        }
    }
}

/// Delay before a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    Fixed(Duration),
    /// Drawn uniformly from `min..=max` for each request.
    Uniform {
        min: Duration,
        max: Duration,
    },
}

impl Latency {
    /// Draws the delay for one request.
    pub fn sample(&self) -> Duration {
        match *self {
            Latency::Fixed(delay) => delay,
            Latency::Uniform { min, max } if max > min => {
                let span = (max - min).as_micros() as u64;
                min + Duration::from_micros(rand::rng().random_range(0..=span))
            }
            Latency::Uniform { min, .. } => min,
        }
    }
}

/// Parses milliseconds: `250` for a fixed delay or `100..400` for a uniform
/// one.
impl FromStr for Latency {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let millis = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| {
                    format!(
                        "invalid latency `{text}`; expected milliseconds such as `250`, \
                     or a range such as `100..400`"
                    )
                })
        };
        match text.split_once("..") {
            None => Ok(Latency::Fixed(millis(text)?)),
            Some((min, max)) => {
                let (min, max) = (millis(min)?, millis(max)?);
                if min > max {
                    return Err(format!(
                        "invalid latency `{text}`: the minimum is above the maximum"
                    ));
                }
                Ok(Latency::Uniform { min, max })
            }
        }
    }
}

/// The reply when no rule matches.
#[derive(Clone, Debug, PartialEq)]
pub enum DefaultReply {
    /// Commands derived from the context in the prompt, so that any flow can
    /// be driven without a script; `{"commands": []}` when nothing fits.
    Derive,
    /// The same JSON every time.
    Fixed(Value),
    Fault(Fault),
}

/// Parses `derive`, a fault name, or a JSON object used as a fixed reply.
impl FromStr for DefaultReply {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "derive" {
            return Ok(DefaultReply::Derive);
        }
        if text.starts_with('{') {
            return serde_json::from_str(text)
                .map(DefaultReply::Fixed)
                .map_err(|error| {
                    format!("invalid default reply: the JSON does not parse: {error}")
                });
        }
        text.parse::<Fault>().map(DefaultReply::Fault).map_err(|_| {
            format!(
                "invalid default reply `{text}`; expected `derive`, a JSON object, \
                 or a fault: {}",
                Fault::names().join(", ")
            )
        })
    }
}

/// A failure the mock can imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// HTTP 429 with `Retry-After: 1`.
    RateLimited,
    /// HTTP 500.
    ServerError,
    /// No response for 120 s, then HTTP 504.
    Timeout,
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// A well-formed response whose output text is not valid JSON.
    BadJson,
    /// Valid JSON output that ignores the schema: `{"foo": 1}`.
    SchemaBreaking,
    /// An empty output text.
    Empty,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::RateLimited,
        Fault::ServerError,
        Fault::Timeout,
        Fault::Malformed,
        Fault::BadJson,
        Fault::SchemaBreaking,
        Fault::Empty,
    ];

    /// Returns the name used in scripts and in `[fault:NAME]` markers.
    pub fn name(self) -> &'static str {
        match self {
            Fault::RateLimited => "rate_limited",
            Fault::ServerError => "server_error",
            Fault::Timeout => "timeout",
            Fault::Malformed => "malformed",
            Fault::BadJson => "bad_json",
            Fault::SchemaBreaking => "schema_breaking",
            Fault::Empty => "empty",
        }
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.map(Self::name).to_vec()
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|fault| *fault == self)
            .unwrap_or(0)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|fault| fault.name() == text)
            .ok_or_else(|| {
                format!(
                    "unknown fault `{text}`; expected one of: {}",
                    Self::names().join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_parses_fixed_and_ranges() {
        assert_eq!(
            "250".parse(),
            Ok(Latency::Fixed(Duration::from_millis(250)))
        );
        assert_eq!(
            "100..400".parse(),
            Ok(Latency::Uniform {
                min: Duration::from_millis(100),
                max: Duration::from_millis(400)
            })
        );
        assert!(
            "400..100"
                .parse::<Latency>()
                .unwrap_err()
                .contains("minimum is above")
        );
        assert!(
            "fast"
                .parse::<Latency>()
                .unwrap_err()
                .contains("expected milliseconds")
        );
    }

    #[test]
    fn uniform_latency_stays_in_range() {
        let latency = Latency::Uniform {
            min: Duration::from_millis(5),
            max: Duration::from_millis(9),
        };
        for _ in 0..100 {
            let delay = latency.sample();
            assert!(delay >= Duration::from_millis(5), "{delay:?}");
            assert!(delay <= Duration::from_millis(9), "{delay:?}");
        }
    }

    #[test]
    fn default_reply_parses_each_form() {
        assert_eq!("derive".parse(), Ok(DefaultReply::Derive));
        assert_eq!(
            "server_error".parse(),
            Ok(DefaultReply::Fault(Fault::ServerError))
        );
        assert_eq!(
            r#"{"commands": []}"#.parse(),
            Ok(DefaultReply::Fixed(serde_json::json!({"commands": []})))
        );
        let error = "boom".parse::<DefaultReply>().unwrap_err();
        assert!(
            error.contains("rate_limited, server_error, timeout"),
            "{error}"
        );
    }

    #[test]
    fn fault_names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse(), Ok(fault));
            assert_eq!(Fault::ALL[fault.index()], fault);
        }
    }
}
