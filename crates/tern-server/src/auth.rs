//! Access checks. Keys are compared in constant time and never logged.
//! Without an admin key, admin endpoints answer only to loopback clients.

use std::net::SocketAddr;

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The key a request carries: `Authorization: Bearer KEY` or `X-Api-Key`.
fn presented(headers: &HeaderMap) -> Option<&str> {
    // The scheme name is case-insensitive in HTTP (`bearer` is valid too).
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok())
        && let Some((scheme, key)) = value.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(key.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn matches(expected: &str, given: Option<&str>) -> bool {
    given.is_some_and(|given| bool::from(expected.as_bytes().ct_eq(given.as_bytes())))
}

/// Admin endpoints: the admin key, or a loopback client when none is set.
pub fn require_admin(
    admin_key: Option<&str>,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(), ApiError> {
    match admin_key {
        Some(key) if matches(key, presented(headers)) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("a valid admin key is required")
            .hint("send it as `Authorization: Bearer KEY` or `X-Api-Key: KEY`")),
        None if peer.ip().is_loopback() => Ok(()),
        None => Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "admin_key_not_configured",
            "admin endpoints answer only on loopback while no admin key is configured",
        )
        .hint("set TERN_ADMIN_KEY or `admin_key` in the configuration file")),
    }
}

/// Message endpoints: the client key when one is configured.
pub fn require_client(client_key: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    match client_key {
        Some(key) if !matches(key, presented(headers)) => {
            Err(ApiError::unauthorized("a valid client key is required")
                .hint("send it as `Authorization: Bearer KEY` or `X-Api-Key: KEY`"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        headers
    }

    #[test]
    fn admin_key_accepted_in_either_header() {
        let remote: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        assert!(require_admin(Some("k1"), &headers("authorization", "Bearer k1"), remote).is_ok());
        assert!(require_admin(Some("k1"), &headers("x-api-key", "k1"), remote).is_ok());
        assert!(require_admin(Some("k1"), &headers("authorization", "bearer k1"), remote).is_ok());
        assert!(require_admin(Some("k1"), &headers("authorization", "Basic k1"), remote).is_err());
        assert!(require_admin(Some("k1"), &headers("x-api-key", "k2"), remote).is_err());
        assert!(require_admin(Some("k1"), &HeaderMap::new(), remote).is_err());
    }

    #[test]
    fn without_admin_key_only_loopback() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        assert!(require_admin(None, &HeaderMap::new(), local).is_ok());
        assert_eq!(
            require_admin(None, &HeaderMap::new(), remote)
                .unwrap_err()
                .code,
            "admin_key_not_configured"
        );
    }

    #[test]
    fn client_key_optional() {
        assert!(require_client(None, &HeaderMap::new()).is_ok());
        assert!(require_client(Some("c"), &HeaderMap::new()).is_err());
        assert!(require_client(Some("c"), &headers("authorization", "Bearer c")).is_ok());
    }
}
