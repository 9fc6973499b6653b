//! Who reads a page: the token's company, as for the API. The token comes
//! from `Authorization: Bearer` (a single sign-on proxy in front sets it
//! on every request) or from the session cookie that signing in sets,
//! which holds the token itself: every request verifies it again, so an
//! expired or revoked token ends the session at once, and the server
//! keeps no session state.

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::{ACCEPT_LANGUAGE, AUTHORIZATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use super::i18n::{LANG_COOKIE, Lang, Tr};
use super::{Chrome, html, see_other, view};
use crate::http::AppState;
use crate::http::auth::{TenantSlot, bearer_token};
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
    let jar = CookieJar::from_headers(&parts.headers);
    let accept = parts
        .headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = Lang::negotiate(jar.get(LANG_COOKIE).map(Cookie::value), accept);
    Chrome {
        tr: Tr::new(lang),
        here: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
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
                Err(e) => return Err(super::error_page(chrome, e.into()).await),
            };
            return match state.verifier.verify(token).await {
                Ok(company) => Ok(Viewer { company, chrome }),
                Err(e) => Err(super::error_page(chrome, e.into()).await),
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

/// Where to go after signing in: a path of ours, never another site
/// (`//host` and `/\host` are other sites to a browser).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
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
    parts: Parts,
    Form(form): Form<SignInForm>,
) -> Response {
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
    match state.verifier.verify(&token).await {
        Ok(_) => {
            let secure = over_https(&parts.headers);
            (jar.add(session_cookie(token, secure)), see_other(&next)).into_response()
        }
        Err(e) => refuse(Some(e.to_string()), false),
    }
}

/// `POST /signout`: the cookie is dropped, then the sign-in page.
pub async fn sign_out(jar: CookieJar) -> Response {
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
            "evil",
        ] {
            assert_eq!(safe_next(Some(other)), "/", "{other}");
        }
        assert_eq!(safe_next(None), "/");
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
