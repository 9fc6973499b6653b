//! Request bodies of the write API, refused the API's way: a problem body
//! (415 for another media type, 413 past the limit) or a 422 whose issues
//! say where in the body the fault is.

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::http::error::{ApiError, ValidationIssue};

/// Bytes of a JSON body at most (catalog entries, commits, events): the
/// bulk of an attempt comes in parts, not in JSON bodies.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body (`application/json`, or a `+json` type) of at most
/// [`JSON_BODY_LIMIT`] bytes, deserialized into `T`.
///
/// Axum's own `Json` answers its faults in plain text; the API answers
/// every fault with a problem body or validation issues
/// (`["body", "tags", "2"]`, with the line and column of a syntax error).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// Whether `content_type` is JSON (`application/json`, with parameters or
/// not, or any `+json` structured syntax suffix, RFC 6839).
fn is_json(content_type: &str) -> bool {
    crate::ingest::media_type(content_type).is_some_and(|media| {
        media.type_() == mime::APPLICATION
            && (media.subtype() == mime::JSON || media.suffix() == Some(mime::JSON))
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !is_json(&content_type) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "this route takes application/json, not {}",
                if content_type.is_empty() {
                    "a body without Content-Type"
                } else {
                    &content_type
                }
            )));
        }
        let bytes = axum::body::to_bytes(request.into_body(), JSON_BODY_LIMIT)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(JSON_BODY_LIMIT as u64))?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let at = e
                .path()
                .iter()
                .filter_map(|segment| match segment {
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect();
            body_issue(at, &e.into_inner())
        })?;
        // Nothing but white space after the value.
        deserializer.end().map_err(|e| body_issue(Vec::new(), &e))?;
        Ok(JsonBody(value))
    }
}

/// A 422 about the body at `at` (field names and list indexes).
fn body_issue(at: Vec<String>, e: &serde_json::Error) -> ApiError {
    let mut loc = vec!["body".to_owned()];
    loc.extend(at);
    let kind = if e.is_syntax() || e.is_eof() {
        "json_invalid"
    } else {
        "value_error"
    };
    ApiError::Validation(vec![ValidationIssue {
        loc,
        msg: e.to_string(),
        kind: kind.to_owned(),
        input: serde_json::Value::Null,
    }])
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_is_application_json_or_a_json_suffix() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
            "application/problem+json",
            "application/json ; charset=utf-8",
            "application/json; charset",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "text/json",
            "application/x-ndjson",
            "text/plain",
            "",
            "json",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
