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
//! a failure becomes the same [`Problem`] as in the API, rendered here as
//! an error page ([`PageError`]), so a status means the same on both.
//! Nothing here knows the JSON API's routes ([`crate::api`]).

mod assets;
mod fleet;
mod gantt;
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
use crate::http::error::{ApiError, Problem};
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
        .layer(axum::middleware::from_fn(error_pages))
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
    PageError::from(ApiError::NoRoute).into_response()
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

/// A page handler's failure: the [`Problem`] its error becomes (the JSON
/// API's own mapping, so a status means the same on both), rendered as
/// the explorer's error page by [`error_pages`] with the frame of the
/// request that failed. Page handlers return `Result<Response, PageError>`
/// and use `?` on the API's errors.
#[derive(Debug, Clone)]
pub struct PageError {
    problem: Problem,
    /// The frame to render in, when the handler knows better than the
    /// request's headers (a sign-in form is never signed in).
    chrome: Option<Chrome>,
}

impl PageError {
    /// The failure `error`, rendered in `chrome`.
    pub fn in_chrome(chrome: Chrome, error: impl Into<Problem>) -> Self {
        Self {
            problem: error.into(),
            chrome: Some(chrome),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self {
            problem: error.into(),
            chrome: None,
        }
    }
}

impl From<crate::read::ReadError> for PageError {
    fn from(error: crate::read::ReadError) -> Self {
        ApiError::from(error).into()
    }
}

/// Its status and headers now; the page itself is rendered by
/// [`error_pages`], which knows the request.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.problem.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders the error page of a handler's [`PageError`], in the reader's
/// language, with the `Retry-After` of its problem kept.
async fn error_pages(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (uri, headers) = (request.uri().clone(), request.headers().clone());
    let mut response = next.run(request).await;
    let Some(PageError { problem, chrome }) = response.extensions_mut().remove::<PageError>()
    else {
        return response;
    };
    let chrome = chrome.unwrap_or_else(|| {
        // Signed in here when the session cookie, not a proxy's header,
        // carried the token (as [`session::Viewer`] decides).
        let signed_in = !headers.contains_key(header::AUTHORIZATION)
            && axum_extra::extract::cookie::CookieJar::from_headers(&headers)
                .get(session::SESSION_COOKIE)
                .is_some();
        session::chrome_for(&uri, &headers, signed_in)
    });
    error_page(chrome, &problem)
}

/// The error page of `problem`: its status, title and details.
fn error_page(chrome: Chrome, problem: &Problem) -> Response {
    let page = ErrorPage {
        status: problem.status.as_u16(),
        title: problem.title.clone(),
        details: problem.detail_lines(),
        chrome,
    };
    let mut rendered = html(&page);
    *rendered.status_mut() = problem.status;
    if let Some(secs) = problem.retry_after {
        rendered
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
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
