//! Answers a cache can keep (issue 16): entity tags and 304s on endpoints
//! 3-7, response compression (gzip, zstd; NDJSON still streamed) and the
//! CORS allowlist, all through the router.

use std::io::Read;

use axum::http::{Method, StatusCode};
use dagtrail::http::cors::Origin;

use crate::support::{TestApp, embedded, embedded_configured, embedded_counting};

/// Every answer about a committed attempt, JSON and NDJSON.
fn attempt_answers(app: &TestApp) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    let phase = format!("{}/phases/extract", app.run_url());
    vec![
        (phase.clone(), vec![]),
        (format!("{phase}/data?page=1&limit=20"), vec![]),
        (format!("{phase}/data?keyword=zo%C3%AB"), vec![]),
        (format!("{phase}/errors"), vec![]),
        (format!("{phase}/logs?level=ERROR"), vec![]),
        (
            format!("{phase}/logs"),
            vec![("accept", "application/x-ndjson")],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_attempt_answers_304_to_its_tag_without_reading_the_store() {
    let (app, counting) = embedded_counting().await;
    let mut tags = Vec::new();
    for (uri, headers) in attempt_answers(&app) {
        let first = app.call(&uri, Some(&app.token()), &headers).await;
        assert_eq!(first.status, StatusCode::OK, "{uri}");
        let tag = first.header("etag").to_owned();
        assert!(
            tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34,
            "a strong tag: {tag}"
        );
        assert_eq!(
            first.header("cache-control"),
            "private, max-age=3600, immutable"
        );
        assert!(first.header("vary").contains("Authorization"), "{uri}");

        counting.reset();
        let mut conditional = headers.clone();
        conditional.push(("if-none-match", &tag));
        let again = app.call(&uri, Some(&app.token()), &conditional).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), tag);
        assert_eq!(counting.counts().reads(), 0, "{uri}: nothing read");

        // A list of tags, weak forms among them, matches as RFC 9110 says;
        // another tag does not.
        let listed = format!("\"other\", W/{tag}");
        let mut weak = headers.clone();
        weak.push(("if-none-match", &listed));
        assert_eq!(
            app.call(&uri, Some(&app.token()), &weak).await.status,
            StatusCode::NOT_MODIFIED
        );
        let mut stale = headers.clone();
        stale.push(("if-none-match", "\"0123456789abcdef0123456789abcdef\""));
        assert_eq!(
            app.call(&uri, Some(&app.token()), &stale).await.status,
            StatusCode::OK
        );

        // No token, no 304: a copy is revalidated with the token's rights.
        assert_eq!(
            app.call(&uri, None, &conditional).await.status,
            StatusCode::UNAUTHORIZED
        );
        // Another company asking with the tag is not told it is current.
        assert_ne!(
            app.call(&uri, Some(&app.other_token()), &conditional)
                .await
                .status,
            StatusCode::NOT_MODIFIED,
            "{uri}"
        );
        tags.push(tag);
    }
    let distinct: std::collections::HashSet<_> = tags.iter().collect();
    assert_eq!(distinct.len(), tags.len(), "each answer its own tag");

    // Errors carry no tag: an attempt not committed yet may be soon; and
    // no tag makes a missing attempt "not modified".
    let missing = app.get(&format!("{}/phases/load", app.run_url())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.headers.get("etag").is_none());
    let guessed = app
        .call(
            &format!("{}/phases/load", app.run_url()),
            Some(&app.token()),
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!(guessed.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_run_event_is_revalidated_and_its_tag_follows_its_content() {
    let app = embedded().await;
    let uri = format!("{}/event", app.run_url());
    let first = app.get(&uri).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("cache-control"), "private, no-cache");
    let tag = first.header("etag").to_owned();
    let again = app
        .call(&uri, Some(&app.token()), &[("if-none-match", &tag)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    // Recorded again with other content: the old tag no longer holds.
    let token = app.write_token();
    let recorded = app
        .send(
            Method::PUT,
            &uri,
            Some(&token),
            &[("content-type", "application/json")],
            serde_json::json!({"event": {"changed": true}}).to_string(),
        )
        .await;
    assert_eq!(recorded.status, StatusCode::OK, "{}", recorded.json());
    let changed = app
        .call(&uri, Some(&app.token()), &[("if-none-match", &tag)])
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.header("etag"), tag);
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unzstd(body: &[u8]) -> Vec<u8> {
    zstd::stream::decode_all(body).unwrap()
}

#[tokio::test]
async fn answers_are_compressed_as_the_client_accepts_and_tagged_per_coding() {
    let app = embedded().await;
    for (uri, headers) in attempt_answers(&app) {
        let plain = app.call(&uri, Some(&app.token()), &headers).await;
        assert_eq!(plain.status, StatusCode::OK);
        assert!(plain.headers.get("content-encoding").is_none());
        let tag = plain.header("etag").trim_end_matches('"').to_owned();
        for (coding, decode) in [("gzip", gunzip as fn(&[u8]) -> Vec<u8>), ("zstd", unzstd)] {
            let mut asked = headers.clone();
            asked.push(("accept-encoding", coding));
            let packed = app.call(&uri, Some(&app.token()), &asked).await;
            assert_eq!(packed.status, StatusCode::OK, "{uri}");
            assert_eq!(packed.header("content-encoding"), coding, "{uri}");
            assert_eq!(decode(&packed.body), plain.body, "{uri} in {coding}");
            let packed_tag = packed.header("etag").to_owned();
            assert_eq!(packed_tag, format!("W/{tag}-{coding}\""));
            // The compressed copy's tag revalidates it.
            asked.push(("if-none-match", &packed_tag));
            let again = app.call(&uri, Some(&app.token()), &asked).await;
            assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{uri}");
            assert_eq!(again.header("etag"), packed_tag);
        }
    }
    // Problem bodies (whose `instance` the request log fills in) and the
    // run search are compressed too, and decode to what they say.
    for (coding, decode) in [("gzip", gunzip as fn(&[u8]) -> Vec<u8>), ("zstd", unzstd)] {
        let uri = format!("{}/phases/extract/data?limit=5000", app.run_url());
        let refused = app
            .call(&uri, Some(&app.token()), &[("accept-encoding", coding)])
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body: serde_json::Value =
            serde_json::from_slice(&match refused.headers.get("content-encoding") {
                Some(_) => decode(&refused.body),
                None => refused.body.clone(),
            })
            .unwrap();
        assert!(body["detail"].is_array(), "{body}");
        let missing = app
            .call(
                &format!("{}/phases/load", app.run_url()),
                Some(&app.token()),
                &[("accept-encoding", coding)],
            )
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.header("content-encoding"), coding);
        let problem: serde_json::Value = serde_json::from_slice(&decode(&missing.body)).unwrap();
        assert_eq!(
            problem["instance"],
            format!("{}/phases/load", app.run_url()),
            "{problem}"
        );
    }
    let search = app
        .call(
            &format!(
                "/api/v1/dags/{}/runs?date_from=2026-11-01&date_to=2026-11-30",
                app.dag
            ),
            Some(&app.token()),
            &[("accept-encoding", "zstd, gzip;q=0.5")],
        )
        .await;
    assert_eq!(search.status, StatusCode::OK);
    assert_eq!(search.header("content-encoding"), "zstd");
    let runs: serde_json::Value = serde_json::from_slice(&unzstd(&search.body)).unwrap();
    assert!(runs["total"].as_i64().unwrap() > 0);
}

/// The NDJSON download stays a stream when compressed: its first bytes
/// reach the client before the last row is read, and it decodes to the
/// plain stream's lines.
#[tokio::test]
async fn a_compressed_ndjson_download_still_streams() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let app = embedded().await;
    let uri = format!("{}/phases/extract/logs", app.run_url());
    let ndjson = [("accept", "application/x-ndjson")];
    let plain = app.call(&uri, Some(&app.token()), &ndjson).await;
    let request = axum::http::Request::get(&uri)
        .header("authorization", format!("Bearer {}", app.token()))
        .header("accept", "application/x-ndjson")
        .header("accept-encoding", "gzip")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(response.headers().get("content-length").is_none());
    let mut body = response.into_body();
    let mut packed = Vec::new();
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames += 1;
            packed.extend_from_slice(&data);
        }
    }
    assert!(frames > 1, "sent as it was compressed, not at the end");
    assert_eq!(gunzip(&packed), plain.body);
}

fn origins(list: &[&str]) -> Vec<Origin> {
    list.iter().map(|o| o.parse().unwrap()).collect()
}

#[tokio::test]
async fn browsers_on_listed_origins_may_call_the_api() {
    let app = embedded_configured(|state| {
        state.with_cors_origins(origins(&[
            "https://app.example.com",
            "http://localhost:5173",
        ]))
    })
    .await;
    let uri = format!("{}/phases/extract/data", app.run_url());

    // A preflight is answered without a token.
    let preflight = app
        .send(
            Method::OPTIONS,
            &uri,
            None,
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "GET"),
                (
                    "access-control-request-headers",
                    "authorization, if-none-match",
                ),
            ],
            "",
        )
        .await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        "https://app.example.com"
    );
    let allowed = preflight
        .header("access-control-allow-headers")
        .to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("if-none-match"));
    assert!(
        preflight
            .header("access-control-allow-methods")
            .contains("GET")
    );
    assert!(
        preflight
            .headers
            .get("access-control-allow-credentials")
            .is_none(),
        "bearer tokens, never cookies: no credentials"
    );

    // The request itself, with its token.
    let answer = app
        .call(
            &uri,
            Some(&app.token()),
            &[("origin", "http://localhost:5173")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        "http://localhost:5173"
    );
    let exposed = answer
        .header("access-control-expose-headers")
        .to_lowercase();
    for header in ["etag", "content-encoding", "retry-after", "x-request-id"] {
        assert!(exposed.contains(header), "{header} exposed: {exposed}");
    }
    // A failure says so to the page too (its problem body is readable).
    let refused = app
        .call(&uri, None, &[("origin", "http://localhost:5173")])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        "http://localhost:5173"
    );

    // An origin not listed gets no CORS header, so its page cannot read.
    for (method, token) in [(Method::OPTIONS, None), (Method::GET, Some(app.token()))] {
        let other = app
            .send(
                method,
                &uri,
                token.as_deref(),
                &[
                    ("origin", "https://evil.example.com"),
                    ("access-control-request-method", "GET"),
                ],
                "",
            )
            .await;
        assert!(
            other.headers.get("access-control-allow-origin").is_none(),
            "{:?}",
            other.headers
        );
    }
}

#[tokio::test]
async fn without_listed_origins_no_cors_header_is_sent() {
    let app = embedded().await;
    let uri = format!("{}/phases/extract/data", app.run_url());
    let answer = app
        .call(
            &uri,
            Some(&app.token()),
            &[("origin", "https://app.example.com")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        answer.headers
    );
}
