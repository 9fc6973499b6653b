//! The stylesheet and the script, compiled into the binary and served
//! under names holding a hash of their content: a new build gets new
//! URLs, so browsers may keep each for a year without ever using a stale
//! one.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../../assets/ui/app.css");
const JS: &str = include_str!("../../assets/ui/app.js");

/// `app.<hash>.css`, `app.<hash>.js`.
static NAMES: LazyLock<(String, String)> =
    LazyLock::new(|| (hashed("app", "css", CSS), hashed("app", "js", JS)));
static URLS: LazyLock<(String, String)> = LazyLock::new(|| {
    (
        format!("/assets/{}", NAMES.0),
        format!("/assets/{}", NAMES.1),
    )
});

fn hashed(stem: &str, ext: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{stem}.{hex}.{ext}")
}

/// The stylesheet's URL.
pub fn css_url() -> &'static str {
    &URLS.0
}

/// The script's URL.
pub fn js_url() -> &'static str {
    &URLS.1
}

/// `GET /assets/{name}`: the asset of this build's name, cacheable for a
/// year; any other name (an old build's) is a 404.
pub async fn serve(Path(name): Path<String>) -> Response {
    let (body, content_type) = if name == NAMES.0 {
        (CSS, "text/css; charset=utf-8")
    } else if name == NAMES.1 {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The icon browsers ask for at `/favicon.ico` (a 32×32 PNG in an ICO).
const FAVICON: &[u8] = include_bytes!("../../assets/ui/favicon.ico");

/// `GET /favicon.ico`: the icon, cacheable for a day (its URL is fixed).
pub async fn favicon() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/x-icon"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        FAVICON,
    )
        .into_response()
}
