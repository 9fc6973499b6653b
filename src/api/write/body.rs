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

/// Levels of nesting a JSON body may hold beyond its rows' own: an
/// event's rows sit three levels down (`{"event": [{…}]}`).
const BODY_LEVELS: usize = 3;

impl<S: Send + Sync, T: DeserializeOwned + Send + 'static> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        read_json(request, crate::ingest::limits::DEFAULT_MAX_NESTING)
            .await
            .map(JsonBody)
    }
}

/// Reads a JSON body (`application/json` or a `+json` type) of at most
/// [`JSON_BODY_LIMIT`] bytes into `T`, off the async workers: its shape is
/// checked first ([`crate::ingest::limits::check_json_shape`]: nested at
/// most `max_nesting` levels below the rows, no object naming a key
/// twice, which `serde_json` would settle by dropping all but the last
/// value), then it is deserialized. Routes that hold a write slot call it
/// once they hold it, so that no more bodies are parsed at once than
/// there are slots.
///
/// # Errors
///
/// 415 for another media type, 413 past the limit, 422 issues placing a
/// syntax error, a duplicate key, a value too deep or of the wrong type.
pub async fn read_json<T: DeserializeOwned + Send + 'static>(
    request: Request,
    max_nesting: usize,
) -> Result<T, ApiError> {
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
    let bytes = crate::http::body::read_bytes(request.into_body(), JSON_BODY_LIMIT).await?;
    tokio::task::spawn_blocking(move || parse_json(&bytes, max_nesting + BODY_LEVELS))
        .await
        .map_err(|e| ApiError::Busy(format!("the body could not be parsed ({e})")))?
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8], max_nesting: usize) -> Result<T, ApiError> {
    use crate::ingest::limits::{JsonShapeFault, check_json_shape};
    match check_json_shape(bytes, max_nesting) {
        // Syntax errors are placed by serde below, as before.
        Ok(_) | Err(JsonShapeFault::Syntax(_)) => {}
        Err(JsonShapeFault::TooDeep(over)) => {
            return Err(ApiError::Record(crate::record::RecordError::OverLimit {
                what: "the body".into(),
                over,
            }));
        }
        Err(JsonShapeFault::DuplicateKey(path)) => {
            let mut loc = vec!["body".to_owned()];
            loc.extend(path.split('.').map(str::to_owned));
            return Err(ApiError::Validation(vec![ValidationIssue {
                loc,
                msg: "this key is given twice in one object: give each key once".into(),
                kind: "value_error".into(),
                input: serde_json::Value::Null,
            }]));
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
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
    Ok(value)
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
