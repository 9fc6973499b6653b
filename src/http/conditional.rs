//! Conditional GET (RFC 9110 sections 8.8.3 and 13.1.2) and caching
//! headers for the answers about a run's artifacts (endpoints 3-7).
//!
//! A committed attempt never changes (contract section 3: `metadata.parquet`
//! is written last and an attempt is never rewritten), so an answer about
//! one is a function of who asks, what they ask and which commit it is:
//! the entity tag is a digest of the company, the path and query, the
//! `Accept` header (JSON or NDJSON) and the attempt's `metadata.parquet`
//! row (an attempt deleted and written again under the same path is
//! another commit). An `If-None-Match` that holds it is answered 304 once
//! the attempt is opened (its metadata row is cached: a 304 reads nothing
//! more), so a missing attempt is still a 404. A run's event can be
//! recorded again, so its tag is a digest of the answer itself and it is
//! always revalidated.
//!
//! Response compression (`app::router`) turns one answer into several
//! representations; [`tag_encoding`] gives each a tag of its own by a
//! suffix (`W/"…-gzip"`, `W/"…-zstd"`), weak because two compressions of
//! one streamed answer may cut it into different bytes; a request's tags
//! are compared with the suffixes ignored (`If-None-Match` compares
//! weakly).

use axum::extract::FromRequestParts;
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_ENCODING, ETAG, VARY};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::TypedHeader;
use axum_extra::headers::{ETag, IfNoneMatch};
use sha2::{Digest, Sha256};

use crate::artifacts::schemas::AttemptMetadata;
use crate::model::Company;
use crate::read::AttemptReader;

/// `Cache-Control` of an answer about a committed attempt: kept by the
/// client only (`private`: it is one tenant's data, read with a bearer
/// token), fresh for an hour without asking (`immutable`: a reload need
/// not revalidate it), then revalidated, so that a token revoked is
/// refused within the hour even where a copy is kept.
pub const IMMUTABLE: &str = "private, max-age=3600, immutable";

/// `Cache-Control` of an answer that can change (a run's event): kept,
/// but revalidated on every use.
pub const REVALIDATE: &str = "private, no-cache";

/// What an answer varies by besides its URL: the token (two companies may
/// ask for the same path), and the representation negotiated.
const VARY_BY: &str = "Authorization, Accept, Accept-Encoding";

/// The content codings the response compression can add, as the suffix
/// [`tag_encoding`] puts on a tag.
const CODINGS: [&str; 2] = ["gzip", "zstd"];

/// What a GET asks for, for its entity tag, and what the client holds
/// (`If-None-Match`). Never rejects: an `If-None-Match` that does not
/// parse is ignored, as RFC 9110 lets a server do.
#[derive(Debug, Clone)]
pub struct Conditional {
    if_none_match: Option<IfNoneMatch>,
    target: String,
    accept: Vec<u8>,
}

impl<S: Send + Sync> FromRequestParts<S> for Conditional {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let if_none_match = Option::<TypedHeader<IfNoneMatch>>::from_request_parts(parts, state)
            .await
            .ok()
            .flatten()
            .map(|TypedHeader(h)| h);
        Ok(Self {
            if_none_match,
            target: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            accept: parts
                .headers
                .get_all(ACCEPT)
                .iter()
                .flat_map(|v| v.as_bytes().iter().copied().chain([b'\n']))
                .collect(),
        })
    }
}

impl Conditional {
    /// The entity tag of `company`'s answer to this request about the
    /// committed attempt whose `metadata.parquet` row is `commit`: 128
    /// bits of SHA-256 over dagtrail's version (an upgrade may render an
    /// answer differently), the company, the path and query, `Accept`, and
    /// the row.
    pub fn attempt_tag(&self, company: &Company, commit: &AttemptMetadata) -> String {
        let commit = format!("{commit:?}");
        let mut digest = Sha256::new();
        for part in [
            env!("CARGO_PKG_VERSION").as_bytes(),
            company.as_str().as_bytes(),
            self.target.as_bytes(),
            &self.accept,
            commit.as_bytes(),
        ] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        quoted(&digest.finalize()[..16])
    }

    /// A 304 for the client's copy when its `If-None-Match` holds `tag`
    /// (in any content coding), with the tag it holds; `None` otherwise.
    pub fn not_modified(&self, tag: &str, cache_control: &'static str) -> Option<Response> {
        let held = self.if_none_match.as_ref()?;
        let holds = |candidate: &str| {
            candidate
                .parse::<ETag>()
                .is_ok_and(|etag| !held.precondition_passes(&etag))
        };
        let base = tag.trim_end_matches('"');
        let matched = std::iter::once(tag.to_owned())
            .chain(CODINGS.iter().map(|c| format!("W/{base}-{c}\"")))
            .find(|candidate| holds(candidate))?;
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_caching(&mut response, &matched, cache_control);
        Some(response)
    }

    /// `response` with its tag and caching headers when it is a 200 (an
    /// error is never tagged: it may not hold on the next try).
    pub fn tagged(
        &self,
        mut response: Response,
        tag: &str,
        cache_control: &'static str,
    ) -> Response {
        if response.status() == StatusCode::OK {
            set_caching(&mut response, tag, cache_control);
        }
        response
    }

    /// The answer to a GET about the committed attempt `reader` opened: a
    /// 304 when the client holds it, else `answer`'s response, tagged.
    ///
    /// # Errors
    ///
    /// `answer`'s.
    pub async fn immutable<E>(
        &self,
        company: &Company,
        reader: &AttemptReader,
        answer: impl Future<Output = Result<Response, E>>,
    ) -> Result<Response, E> {
        let tag = self.attempt_tag(company, reader.metadata());
        if let Some(response) = self.not_modified(&tag, IMMUTABLE) {
            return Ok(response);
        }
        Ok(self.tagged(answer.await?, &tag, IMMUTABLE))
    }
}

/// The entity tag of a body that may change: 128 bits of its SHA-256.
pub fn body_tag(body: &[u8]) -> String {
    quoted(&Sha256::digest(body)[..16])
}

fn quoted(bytes: &[u8]) -> String {
    let mut tag = String::with_capacity(bytes.len() * 2 + 2);
    tag.push('"');
    for b in bytes {
        tag.push_str(&format!("{b:02x}"));
    }
    tag.push('"');
    tag
}

fn set_caching(response: &mut Response, tag: &str, cache_control: &'static str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(tag) {
        headers.insert(ETAG, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(VARY, HeaderValue::from_static(VARY_BY));
}

/// Gives a compressed answer's tag the content coding as a suffix, weak
/// (`"abc"` → `W/"abc-zstd"`): the compressed bytes are another
/// representation than the plain ones (RFC 9110 section 8.8.3), and two
/// compressions of one streamed answer need not be the same bytes.
/// Applied outside the compression layer.
pub async fn tag_encoding(mut response: Response) -> Response {
    let headers = response.headers();
    let (Some(coding), Some(tag)) = (headers.get(CONTENT_ENCODING), headers.get(ETAG)) else {
        return response;
    };
    let (Ok(coding), Ok(tag)) = (coding.to_str(), tag.to_str()) else {
        return response;
    };
    if !CODINGS.contains(&coding) || tag.starts_with("W/") {
        return response;
    }
    let suffixed = format!("W/{}-{coding}\"", tag.trim_end_matches('"'));
    if let Ok(value) = HeaderValue::from_str(&suffixed) {
        response.headers_mut().insert(ETAG, value);
    }
    response
}

/// Spells out what `*` in `Accept-Encoding` allows (RFC 9110 section
/// 12.5.3: any coding not listed, at `*`'s weight), so that the
/// compression layer, which reads only the codings it is named, answers
/// `identity;q=0, *` compressed instead of plain. Codings the header
/// names keep their own weight; with no `*`, or `*;q=0`, nothing is added.
pub async fn expand_any_coding(mut request: axum::extract::Request) -> axum::extract::Request {
    use axum::http::header::ACCEPT_ENCODING;
    // Every line of the header, as one list (RFC 9110 section 5.3).
    let lines: Vec<&str> = request
        .headers()
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if lines.is_empty() {
        return request;
    }
    let value = lines.join(", ");
    let mut any: Option<&str> = None;
    let mut named: Vec<String> = Vec::new();
    for item in value.split(',') {
        let mut pieces = item.split(';');
        let coding = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let weight = pieces
            .find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim().eq_ignore_ascii_case("q").then(|| value.trim())
            })
            .unwrap_or("1");
        if coding == "*" {
            any = Some(weight);
        } else {
            named.push(coding);
        }
    }
    let Some(weight) = any.filter(|w| w.parse::<f32>().is_ok_and(|q| q > 0.0)) else {
        return request;
    };
    // gzip first and a hair above zstd: `*` is what old clients send, and
    // every client decodes gzip.
    let zstd_weight = weight.parse::<f32>().map_or_else(
        |_| weight.to_owned(),
        |q| format!("{:.3}", (q - 0.001).max(0.001)),
    );
    let added: Vec<String> = [("gzip", weight.to_owned()), ("zstd", zstd_weight)]
        .into_iter()
        .filter(|(c, _)| !named.iter().any(|n| n == c))
        .map(|(c, q)| format!("{c};q={q}"))
        .collect();
    if added.is_empty() {
        return request;
    }
    let expanded = format!("{value}, {}", added.join(", "));
    if let Ok(header) = axum::http::HeaderValue::from_str(&expanded) {
        request.headers_mut().insert(ACCEPT_ENCODING, header);
    }
    request
}
