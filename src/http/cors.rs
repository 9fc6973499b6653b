//! Cross-origin requests from browsers (the Fetch standard's CORS
//! protocol), for teams that call the API from their own web apps: an
//! allowlist of origins (`DAGTRAIL_CORS_ORIGINS`, none by default), through
//! tower-http's layer.
//!
//! The API authenticates with a bearer token in `Authorization`, never a
//! cookie, so credentialed requests are not allowed and no answer ever says
//! `*`: a page on an allowed origin sends its own token.

use std::time::Duration;

use axum::http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// A web origin allowed to call the API: `scheme://host[:port]`, as a
/// browser sends it in `Origin` (RFC 6454 section 6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(HeaderValue);

/// A value of `DAGTRAIL_CORS_ORIGINS` that is not an origin.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is not a web origin: give scheme://host[:port] with no path (https://app.example.com), one per comma; `*` is refused (list the origins)"
)]
pub struct BadOrigin(pub String);

impl std::str::FromStr for Origin {
    type Err = BadOrigin;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadOrigin(text.to_owned());
        let text = text.trim();
        let url = url::Url::parse(text).map_err(|_| bad())?;
        let is_origin_only = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && !text.ends_with('/');
        if !is_origin_only {
            return Err(bad());
        }
        // The form browsers send: lower-case scheme and host, the default
        // port left out.
        let origin = url.origin().ascii_serialization();
        HeaderValue::from_str(&origin)
            .map(Origin)
            .map_err(|_| bad())
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.to_str().unwrap_or_default())
    }
}

/// The CORS layer for `origins`, or none when the list is empty (no CORS
/// header is then ever sent, and browsers keep other origins out).
/// Preflights are answered by the layer itself, before any token is
/// asked for; the headers a client reads back (`ETag`, `Content-Encoding`,
/// `Location`, `Retry-After`, `WWW-Authenticate`, `X-Request-Id`) are
/// exposed.
pub fn layer(origins: &[Origin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let request_id = HeaderName::from_static("x-request-id");
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().map(|o| o.0.clone())))
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                AUTHORIZATION,
                ACCEPT,
                CONTENT_TYPE,
                IF_NONE_MATCH,
                request_id.clone(),
            ])
            .expose_headers([
                ETAG,
                CONTENT_ENCODING,
                LOCATION,
                RETRY_AFTER,
                WWW_AUTHENTICATE,
                request_id,
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_taken_as_browsers_send_them() {
        let parsed: Origin = "HTTPS://App.Example.com:443".parse().unwrap();
        assert_eq!(parsed.to_string(), "https://app.example.com");
        let port: Origin = "http://localhost:5173".parse().unwrap();
        assert_eq!(port.to_string(), "http://localhost:5173");
        for bad in [
            "*",
            "null",
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "ftp://app.example.com",
            "https://app.example.com?q",
        ] {
            assert!(bad.parse::<Origin>().is_err(), "{bad}");
        }
    }
}
