//! Who reads a page: the token's company, as for the API. The token comes
//! from `Authorization: Bearer` (a single sign-on proxy in front sets it
//! on every request) or from the session cookie that signing in sets,
//! which holds the token itself: every request verifies it again, so an
//! expired or revoked token ends the session at once, and the server
//! keeps no session state.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{ACCEPT_LANGUAGE, AUTHORIZATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use super::i18n::{LANG_COOKIE, Lang, Tr};
use super::{Chrome, PageError, html, see_other, view};
use crate::http::AppState;
use crate::http::auth::{TenantSlot, bearer_token};
use crate::http::body::BodyError;
use crate::http::error::ApiError;
use crate::model::Company;

/// The session cookie's name; its value is the bearer token.
pub const SESSION_COOKIE: &str = "dagtrail_session";

/// The reader of a page: the company its token names, and the page's
/// frame in the reader's language.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The tenant.
    pub company: Company,
    /// The frame of the page being read.
    pub chrome: Chrome,
}

/// The reader's language and where they are, known before (and without)
/// a token.
pub fn chrome_of(parts: &Parts, signed_in: bool) -> Chrome {
    chrome_for(&parts.uri, &parts.headers, signed_in)
}

/// [`chrome_of`] a request's URI and headers.
pub fn chrome_for(uri: &Uri, headers: &HeaderMap, signed_in: bool) -> Chrome {
    let jar = CookieJar::from_headers(headers);
    let accept = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let lang = Lang::negotiate(jar.get(LANG_COOKIE).map(Cookie::value), accept);
    Chrome {
        tr: Tr::new(lang),
        here: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned()),
        signed_in,
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let viewer = Self::verify(parts, state).await?;
        if let Some(slot) = parts.extensions.get::<TenantSlot>() {
            let _ = slot.0.set(viewer.company.to_string());
        }
        Ok(viewer)
    }
}

impl Viewer {
    async fn verify(parts: &Parts, state: &AppState) -> Result<Self, Response> {
        // A proxy's header first: behind one, the cookie is not ours to use.
        if parts.headers.contains_key(AUTHORIZATION) {
            let chrome = chrome_of(parts, false);
            let token = match bearer_token(&parts.headers) {
                Ok(token) => token,
                Err(e) => {
                    return Err(PageError::in_chrome(chrome, ApiError::from(e)).into_response());
                }
            };
            return match state.verifier.verify(token).await {
                Ok(company) => Ok(Viewer { company, chrome }),
                Err(e) => Err(PageError::in_chrome(chrome, ApiError::from(e)).into_response()),
            };
        }
        let chrome = chrome_of(parts, true);
        let jar = CookieJar::from_headers(&parts.headers);
        let next = view::query_value(&chrome.here);
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(see_other(&format!("/signin?next={next}")));
        };
        match state.verifier.verify(&token).await {
            Ok(company) => Ok(Viewer { company, chrome }),
            Err(e) => {
                tracing::info!(reason = %e, "a session's token no longer verifies");
                let jar = jar.remove(session_cookie(String::new(), false));
                Err((jar, see_other(&format!("/signin?next={next}&ended=1"))).into_response())
            }
        }
    }
}

/// Whether the page was asked for over HTTPS: TLS ends at a proxy in
/// front (`serve` speaks plain HTTP), which says so in
/// `X-Forwarded-Proto` or `Forwarded` (RFC 7239).
fn over_https(headers: &HeaderMap) -> bool {
    let says = |name: &str, find: &dyn Fn(&str) -> bool| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(find)
    };
    says("x-forwarded-proto", &|v| {
        v.split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }) || says("forwarded", &|v| {
        v.split([';', ','])
            .any(|p| p.trim().eq_ignore_ascii_case("proto=https"))
    })
}

fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build()
}

/// Where to go after signing in or switching language: a path of ours,
/// never another site. The value is resolved as a browser resolves a
/// link, against our own origin (the WHATWG URL parser, which drops tabs
/// and line breaks and reads `\` as `/`: `/\t/other.example/` is
/// `//other.example/`, another host), and only a same-origin result is
/// kept, as its path and query, percent-encoded (so no byte a header
/// cannot hold).
fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next else {
        return "/".to_owned();
    };
    let Ok(base) = url::Url::parse("http://dagtrail.invalid/") else {
        return "/".to_owned();
    };
    match base.join(next) {
        Ok(url) if url.origin() == base.origin() => {
            let mut path = url.path().to_owned();
            if let Some(query) = url.query() {
                path.push('?');
                path.push_str(query);
            }
            // `//x` and `/\x` in a Location are other hosts again.
            if path.starts_with("//") || path.starts_with("/\\") {
                return "/".to_owned();
            }
            path
        }
        _ => "/".to_owned(),
    }
}

/// Whether a form post comes from a page of ours: a browser says where a
/// request comes from (`Sec-Fetch-Site`, and `Origin` on every POST); a
/// post another site's page makes a victim's browser send (to sign them
/// into the attacker's company, or out) says `cross-site` or an `Origin`
/// that is not ours, and is refused. `Sec-Fetch-Site`, when sent, is the
/// browser's own word and decides alone (a proxy that rewrites `Host`
/// would make our own origin look foreign); without it (older browsers)
/// `Origin` is compared with the host asked for. A client that is not a
/// browser sends neither and is not refused: it is no victim.
fn same_origin_post(headers: &HeaderMap) -> bool {
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    if let Some(site) = site {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(axum::http::header::HOST))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|h| h.trim().to_ascii_lowercase());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_ascii_lowercase();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        });
    // A default port may be named on one side only.
    let bare = |h: &str| {
        h.strip_suffix(":80")
            .or_else(|| h.strip_suffix(":443"))
            .unwrap_or(h)
            .to_owned()
    };
    match (origin_host, host) {
        (Some(origin), Some(host)) => bare(&origin) == bare(&host),
        _ => false,
    }
}

/// The answer to a form another site posted.
fn cross_site(parts: &Parts) -> Response {
    let chrome = chrome_of(parts, false);
    let page = super::ErrorPage {
        status: 403,
        title: chrome.tr.t("cross-site-title"),
        details: vec![chrome.tr.t("cross-site")],
        chrome,
    };
    let mut response = html(&page);
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

#[derive(askama::Template)]
#[template(path = "ui/signin.html")]
struct SignIn {
    chrome: Chrome,
    next: String,
    ended: bool,
    refused: Option<String>,
    missing: bool,
}

/// `?next=&ended=` of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    ended: Option<String>,
}

/// `GET /signin`: the form.
pub async fn form(Query(query): Query<SignInQuery>, parts: Parts) -> Response {
    let page = SignIn {
        chrome: chrome_of(&parts, false),
        next: safe_next(query.next.as_deref()),
        ended: query.ended.is_some(),
        refused: None,
        missing: false,
    };
    html(&page)
}

/// Bytes of the sign-in form at most (a token is at most 8 KiB).
const SIGN_IN_FORM_BYTES: usize = 64 * 1024;

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    token: String,
    next: Option<String>,
}

/// `POST /signin`: a token that verifies becomes the session cookie and
/// the reader goes on to `next` (the fleet board by default); else the
/// form again, saying why.
pub async fn sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if !same_origin_post(&parts.headers) {
        return cross_site(&parts);
    }
    // Read as every body is (a trickle is a 408, an oversized form a
    // 413, each as a page), not by axum's `Form`, which says 400 in text.
    let form: SignInForm = match crate::http::body::read_bytes(body, SIGN_IN_FORM_BYTES).await {
        Ok(bytes) => match serde_urlencoded::from_bytes(&bytes) {
            Ok(form) => form,
            Err(e) => {
                let broken = ApiError::Body(BodyError::Broken(e.to_string()));
                return PageError::in_chrome(chrome_of(&parts, false), broken).into_response();
            }
        },
        Err(e) => {
            return PageError::in_chrome(chrome_of(&parts, false), ApiError::Body(e))
                .into_response();
        }
    };
    let token = form.token.trim().to_owned();
    let next = safe_next(form.next.as_deref());
    let refuse = |refused: Option<String>, missing: bool| {
        let page = SignIn {
            chrome: chrome_of(&parts, false),
            next: next.clone(),
            ended: false,
            refused,
            missing,
        };
        let mut response = html(&page);
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
    };
    if token.is_empty() {
        return refuse(None, true);
    }
    match state.verifier.verify_principal(&token).await {
        // A token that can write runs belongs to a pipeline, not in a
        // browser's cookie, where any page of ours could be made to use
        // it: reading needs no scope.
        Ok(principal) if principal.scopes.contains(crate::auth::RUNS_WRITE) => {
            let tr = chrome_of(&parts, false).tr;
            refuse(Some(tr.t("signin-write-token")), false)
        }
        Ok(_) => {
            let secure = state.cookie_secure || over_https(&parts.headers);
            (jar.add(session_cookie(token, secure)), see_other(&next)).into_response()
        }
        Err(e) => refuse(Some(e.to_string()), false),
    }
}

/// `POST /signout`: the cookie is dropped, then the sign-in page.
pub async fn sign_out(jar: CookieJar, parts: Parts) -> Response {
    if !same_origin_post(&parts.headers) {
        return cross_site(&parts);
    }
    let jar = jar.remove(session_cookie(String::new(), false));
    (jar, see_other("/signin")).into_response()
}

/// `?to=&back=` of the language switch.
#[derive(Debug, Deserialize)]
pub struct SwitchQuery {
    to: Option<String>,
    back: Option<String>,
}

/// `GET /lang?to=es&back=/path`: remembers the language (a lasting
/// cookie) and
/// goes back to the page.
pub async fn switch_language(jar: CookieJar, Query(query): Query<SwitchQuery>) -> Response {
    let back = safe_next(query.back.as_deref());
    let Some(lang) = query.to.as_deref().and_then(Lang::from_tag) else {
        return see_other(&back);
    };
    let cookie = Cookie::build((LANG_COOKIE, lang.code()))
        .path("/")
        .same_site(SameSite::Lax)
        .permanent()
        .build();
    (jar.add(cookie), see_other(&back)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_paths_are_gone_to() {
        assert_eq!(safe_next(Some("/dags/x?a=1")), "/dags/x?a=1");
        for other in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example",
            "/\t/evil.example/",
            "/\n/evil.example",
            "\t//evil.example",
            "/\r\n/evil.example",
            "\\\\evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            " //evil.example",
        ] {
            let went = safe_next(Some(other));
            let resolved = url::Url::parse("https://ours.example/")
                .unwrap()
                .join(&went)
                .unwrap();
            assert_eq!(
                resolved.host_str(),
                Some("ours.example"),
                "{other:?} went to {went:?}"
            );
        }
        // Line breaks never reach a header.
        assert!(!safe_next(Some("/a\r\nSet-Cookie: x=1")).contains(['\r', '\n']));
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn posts_from_other_sites_are_told_apart() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (name, value) in pairs {
                h.insert(*name, value.parse().unwrap_or_else(|_| unreachable!()));
            }
            h
        };
        assert!(same_origin_post(&headers(&[])), "not a browser");
        assert!(same_origin_post(&headers(&[
            ("host", "dagtrail.example"),
            ("origin", "https://dagtrail.example"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(same_origin_post(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ])));
        assert!(!same_origin_post(&headers(&[
            ("host", "dagtrail.example"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin_post(&headers(&[
            ("host", "dagtrail.example"),
            ("origin", "https://evil.example"),
        ])));
        assert!(!same_origin_post(&headers(&[
            ("host", "dagtrail.example"),
            ("origin", "null"),
        ])));
        // Behind a proxy that rewrites Host, the browser's word decides.
        assert!(same_origin_post(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://dagtrail.example"),
            ("sec-fetch-site", "same-origin"),
        ])));
    }

    #[test]
    fn https_is_told_by_the_proxy() {
        let mut h = HeaderMap::new();
        assert!(!over_https(&h));
        h.insert(
            "x-forwarded-proto",
            "https".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert!(over_https(&h));
        let mut h = HeaderMap::new();
        h.insert(
            "forwarded",
            "for=1.2.3.4;proto=https"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(over_https(&h));
    }
}
