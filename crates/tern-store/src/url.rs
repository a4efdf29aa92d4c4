//! Recognizing database URLs, and hiding their passwords in messages and logs.

use crate::StoreError;

/// The database behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Returns the backend a URL names by its scheme.
pub(crate) fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        return Ok(Backend::Sqlite);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Backend::Postgres);
    }

    let reason = if url.trim().is_empty() {
        "the URL is empty".to_string()
    } else {
        match url.split_once(':') {
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => {
                format!("unsupported scheme `{scheme}`")
            }
            _ => "the URL has no scheme".to_string(),
        }
    };
    Err(invalid_url(url, reason))
}

/// Builds [`StoreError::InvalidUrl`] with the password of `url` masked.
pub(crate) fn invalid_url(url: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidUrl {
        url: mask_password(url),
        reason: reason.into(),
    }
}

/// Replaces the password of a URL, in its user info or in a `password=`
/// query parameter, with `***`.
pub(crate) fn mask_password(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };

    let mut masked = mask_user_info_password(before_query);
    if let Some(query) = query {
        masked.push('?');
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => parameter.to_string(),
            })
            .collect();
        masked.push_str(&parameters.join("&"));
    }
    masked
}

fn mask_user_info_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '#'])
        .map_or(url.len(), |offset| authority_start + offset);
    let authority = &url[authority_start..authority_end];

    // The host cannot contain `@`, so the last one ends the user info.
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_string();
    };

    let password_start = authority_start + colon + 1;
    let password_end = authority_start + at;
    format!("{}***{}", &url[..password_start], &url[password_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_of_accepts_known_schemes() {
        let cases = [
            ("sqlite://data/tern.db?mode=rwc", Backend::Sqlite),
            ("sqlite:tern.db", Backend::Sqlite),
            ("postgres://postgres@127.0.0.1:5432/tern", Backend::Postgres),
            ("postgresql://tern:secret@db/tern", Backend::Postgres),
        ];
        for (url, expected) in cases {
            let backend = backend_of(url).unwrap_or_else(|error| panic!("{url}: {error}"));
            assert_eq!(backend, expected, "{url}");
        }
    }

    #[test]
    fn backend_of_names_unsupported_scheme() {
        let error = backend_of("mysql://root:hunter2@db/tern").expect_err("mysql is not supported");
        let message = error.to_string();
        assert!(message.contains("unsupported scheme `mysql`"), "{message}");
        assert!(message.contains("mysql://root:***@db/tern"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn backend_of_rejects_missing_scheme() {
        let empty = backend_of("  ").expect_err("empty URL");
        assert!(empty.to_string().contains("the URL is empty"), "{empty}");

        let path = backend_of("/var/lib/tern.db").expect_err("bare path");
        assert!(path.to_string().contains("the URL has no scheme"), "{path}");
    }

    #[test]
    fn mask_password_hides_every_password_form() {
        let cases = [
            (
                "postgres://tern:s3cret@db:5432/tern",
                "postgres://tern:***@db:5432/tern",
            ),
            (
                "postgres://tern:p@ss@db/tern",
                "postgres://tern:***@db/tern",
            ),
            ("postgres://tern@db/tern", "postgres://tern@db/tern"),
            (
                "postgres://db/tern?user=tern&password=s3cret&sslmode=disable",
                "postgres://db/tern?user=tern&password=***&sslmode=disable",
            ),
            (
                "sqlite://data/tern.db?mode=rwc",
                "sqlite://data/tern.db?mode=rwc",
            ),
            ("sqlite:tern.db", "sqlite:tern.db"),
        ];
        for (url, expected) in cases {
            assert_eq!(mask_password(url), expected, "{url}");
        }
    }
}
