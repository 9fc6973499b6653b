//! The run explorer: HTML pages served by `dagtrail serve` at `/` (issue
//! 14). Server-rendered from askama templates (`templates/ui`, checked at
//! compile time, every value HTML-escaped), styled by one stylesheet and
//! enhanced by one small script of our own (`assets/ui`), both compiled
//! into the binary under content-hashed names. No page needs the script:
//! every view's state is in its URL (a link reproduces it, the back button
//! works), collapsibles are `<details>`, forms are plain `GET`s.
//!
//! Pages read through the same [`crate::read::ReadService`] as the JSON
//! API, with the company of the same token verification ([`session`]);
//! the API's errors become error pages through the API's own mapping
//! ([`error_page`]), so a status means the same on both.

mod assets;
mod fleet;
pub mod i18n;
mod phase;
mod run;
mod runs;
pub mod session;
mod view;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::AppState;
use crate::http::error::ApiError;
use i18n::Tr;

/// What a page's frame needs: texts, the reader's language, where the
/// page is (for the copyable link and the language switch), whether a
/// sign-out applies, and the assets' hashed URLs.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Texts in the reader's language.
    pub tr: Tr,
    /// The page's path and query, as requested.
    pub here: String,
    /// Whether the reader signed in here (a session cookie), so may sign
    /// out; false behind a proxy that sends the token.
    pub signed_in: bool,
}

impl Chrome {
    /// The stylesheet's URL.
    pub fn css(&self) -> &'static str {
        assets::css_url()
    }

    /// The script's URL.
    pub fn js(&self) -> &'static str {
        assets::js_url()
    }

    /// The language switch's link: back here in the other language.
    pub fn switch_url(&self) -> String {
        format!(
            "/lang?to={}&back={}",
            self.tr.lang().other().code(),
            view::query_value(&self.here)
        )
    }
}

/// The run explorer's routes (HTML), beside `/api/v1`.
pub fn router(state: AppState) -> Router {
    let run = "/dags/{dag_id}/runs/{date}/{run_id}";
    Router::new()
        .route("/", get(fleet::board))
        .route("/signin", get(session::form).post(session::sign_in))
        .route("/signout", post(session::sign_out))
        .route("/lang", get(session::switch_language))
        .route("/dags/{dag_id}", get(runs::page))
        .route(run, get(run::page))
        .route(&format!("{run}/phases/{{phase}}"), get(phase::data))
        .route(
            &format!("{run}/phases/{{phase}}/errors"),
            get(phase::errors),
        )
        .route(&format!("{run}/phases/{{phase}}/logs"), get(phase::logs))
        .route(
            &format!("{run}/phases/{{phase}}/logs.ndjson"),
            get(phase::logs_ndjson),
        )
        .route("/assets/{name}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .fallback(not_found)
        .layer(axum::middleware::map_response(page_headers))
        .with_state(state)
}

/// What no route answers: a page for a browser (a mistyped or outdated
/// link), the API's problem body for everything else (`/api/...`, or a
/// client that does not ask for HTML).
async fn not_found(request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    let wants_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html || parts.uri.path().starts_with("/api/") {
        return ApiError::NoRoute.into_response();
    }
    let signed_in = axum_extra::extract::cookie::CookieJar::from_headers(&parts.headers)
        .get(session::SESSION_COOKIE)
        .is_some();
    error_page(session::chrome_of(&parts, signed_in), ApiError::NoRoute).await
}

/// Headers of every page: a Content-Security-Policy that lets the page
/// load only our own stylesheet and script (no inline code, no other
/// origin, no framing), no referrer to other origins, and no copy kept
/// by the browser or a proxy (`no-store`; the assets set their own): a
/// page shows a tenant's runs, and Back after signing out showed the
/// previous reader's.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// [`html`] on a blocking thread, for pages of many rows.
async fn html_off_workers<T: askama::Template + Send + 'static>(template: T) -> Response {
    tokio::task::spawn_blocking(move || html(&template))
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        })
}

/// A rendered template as a page, or an error page if it fails.
fn html(template: &impl askama::Template) -> Response {
    match template.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(askama::Template)]
#[template(path = "ui/error.html")]
struct ErrorPage {
    pub(crate) chrome: Chrome,
    pub(crate) status: u16,
    pub(crate) title: String,
    pub(crate) details: Vec<String>,
}

/// The page for an error of the API's kind: its status, title and detail
/// as the API's own mapping makes them (one place decides both), with its
/// headers (`Retry-After`) kept.
pub async fn error_page(chrome: Chrome, error: ApiError) -> Response {
    let response = error.into_response();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    // A problem body has a `detail` text; a validation error a list of
    // issues, each with a message and where it is.
    let details = match &problem["detail"] {
        serde_json::Value::Array(issues) => issues
            .iter()
            .map(|i| {
                let at = i["loc"]
                    .as_array()
                    .and_then(|l| l.last())
                    .and_then(|l| l.as_str())
                    .unwrap_or_default();
                format!("{at}: {}", i["msg"].as_str().unwrap_or_default())
            })
            .collect(),
        other => text(other).into_iter().collect(),
    };
    let page = ErrorPage {
        status: parts.status.as_u16(),
        title: text(&problem["title"]).unwrap_or_else(|| {
            parts
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_owned()
        }),
        details,
        chrome,
    };
    let mut rendered = html(&page);
    *rendered.status_mut() = parts.status;
    if let Some(retry) = parts.headers.get(header::RETRY_AFTER) {
        rendered
            .headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    rendered
}

/// A redirect after a form (303: the browser follows with `GET`).
/// A redirect to `location`, a path of ours; one no header can hold (a
/// control character) goes to the fleet board rather than failing.
fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
}
