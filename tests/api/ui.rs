//! The run explorer's pages through the real router on both backends:
//! signing in and out (the cookie's attributes, bad, expired and missing
//! tokens), every page with its data, tenant isolation (another company's
//! DAG, run or phase is a 404 page or an empty one, never its data),
//! escaping of hostile cell values, the headers every page carries, the
//! assets, and the two languages.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use tower::ServiceExt;

use crate::both_backends;
use crate::support::{
    Reply, SECRET, TestApp, commit_rows, embedded, encode as segment, text_batch,
};
use dagtrail::model::{Phase, RunId, RunRef};

async fn request(
    app: &TestApp,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .router
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    }
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// A page read with the token in `Authorization`, as a single sign-on
/// proxy sends it.
async fn page(app: &TestApp, uri: &str) -> String {
    let reply = app.get(uri).await;
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", text(&reply));
    assert!(
        reply.header("content-type").starts_with("text/html"),
        "{uri}"
    );
    text(&reply)
}

fn run_path(app: &TestApp) -> String {
    format!(
        "/dags/{}/runs/2026-11-27/{}",
        app.dag,
        segment(app.run.run_id.as_str())
    )
}

fn sign_in_form(token: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .append_pair("next", "/dags/x?y=1")
        .finish()
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_and_out() {
    let app = embedded().await;
    // No credentials: to the sign-in page, coming back here after.
    let reply = request(&app, Method::GET, "/dags/x?y=1", &[], "").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/signin?next=%2Fdags%2Fx%3Fy%3D1");
    let form = request(
        &app,
        Method::GET,
        "/signin?next=%2Fdags%2Fx%3Fy%3D1",
        &[],
        "",
    )
    .await;
    assert_eq!(form.status, StatusCode::OK);
    let html = text(&form);
    assert!(html.contains(r#"name="token""#) && html.contains(r#"action="/signin""#));
    assert!(html.contains(r#"name="next" value="/dags/x?y=1""#));

    // Refused, saying why.
    let expired = encode(
        &Header::new(Algorithm::HS256),
        &json!({"id_company": app.company.as_str(), "exp": chrono::Utc::now().timestamp() - 3600}),
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    for (token, why) in [
        ("not-a-token", "malformed token"),
        (expired.as_str(), "the token has expired"),
        ("", "Paste a token first."),
    ] {
        let reply = request(&app, Method::POST, "/signin", &[FORM], &sign_in_form(token)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token}");
        assert!(text(&reply).contains(why), "{token}: {}", text(&reply));
        assert!(reply.header("set-cookie").is_empty());
    }

    // Accepted: the session cookie, and on to `next`.
    let reply = request(
        &app,
        Method::POST,
        "/signin",
        &[FORM],
        &sign_in_form(&app.token()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/dags/x?y=1");
    let cookie = reply.header("set-cookie").to_owned();
    for attribute in ["dagtrail_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let https = request(
        &app,
        Method::POST,
        "/signin",
        &[FORM, ("x-forwarded-proto", "https")],
        &sign_in_form(&app.token()),
    )
    .await;
    assert!(https.header("set-cookie").contains("Secure"));
    // Somewhere else is never where `next` goes.
    let away = request(
        &app,
        Method::POST,
        "/signin",
        &[FORM],
        &format!("token={}&next=%2F%2Fevil.example%2F", app.token()),
    )
    .await;
    assert_eq!(away.header("location"), "/");

    // The cookie opens the pages, and a sign-out button shows.
    let session = cookie.split(';').next().unwrap().to_owned();
    let board = request(&app, Method::GET, "/", &[("cookie", &session)], "").await;
    assert_eq!(board.status, StatusCode::OK);
    assert!(text(&board).contains(&app.dag.to_string()));
    assert!(text(&board).contains(r#"action="/signout""#));
    // A cookie whose token no longer verifies ends the session.
    let stale = format!("dagtrail_session={expired}");
    let reply = request(&app, Method::GET, "/", &[("cookie", &stale)], "").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/signin?next=%2F&ended=1");
    assert!(reply.header("set-cookie").contains("dagtrail_session="));
    let ended = request(&app, Method::GET, "/signin?next=%2F&ended=1", &[], "").await;
    assert!(text(&ended).contains("Your session ended"));
    // Signing out drops the cookie.
    let out = request(&app, Method::POST, "/signout", &[("cookie", &session)], "").await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.header("location"), "/signin");
    assert!(
        out.header("set-cookie").contains("Max-Age=0"),
        "{}",
        out.header("set-cookie")
    );
    // A proxy's header needs no sign-in, and offers no sign-out.
    let proxied = page(&app, "/").await;
    assert!(!proxied.contains(r#"action="/signout""#));
    // A bad header is an error page (401), not a loop to the sign-in.
    let bad = request(
        &app,
        Method::GET,
        "/",
        &[("authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(text(&bad).contains("malformed token"));
}

/// Every link of `html` into the explorer answers with a page, a download
/// or a redirect, never an error page.
async fn links_answer(app: &TestApp, from: &str, html: &str) {
    let mut followed = 0;
    for href in html.split("href=\"").skip(1) {
        let href = href.split('"').next().unwrap_or_default();
        let href = href.replace("&amp;", "&").replace("&#38;", "&");
        let href = href.split('#').next().unwrap_or_default();
        if !href.starts_with('/') || href.starts_with("//") {
            continue;
        }
        let reply = app.get(href).await;
        assert!(
            reply.status.is_success() || reply.status.is_redirection(),
            "{from} links to {href}: {} {}",
            reply.status,
            text(&reply)
        );
        followed += 1;
    }
    assert!(followed > 3, "{from} has links");
}

async fn every_page(app: TestApp) {
    let dag = app.dag.to_string();
    let board = page(&app, "/").await;
    assert!(board.contains(&format!("/dags/{dag}")), "{board}");
    assert!(board.contains("running"), "the newest run's transform runs");

    let runs = page(
        &app,
        &format!("/dags/{dag}?date_from=2026-11-01&date_to=2026-11-30"),
    )
    .await;
    assert!(runs.contains(&run_path(&app)), "{runs}");
    assert!(runs.contains("a%2Fb"), "the run whose id holds a slash");
    assert!(runs.contains("2 runs"));
    assert!(
        runs.contains(r#"title="2026-11-27: 2 runs, 0 failed""#),
        "the strip"
    );
    // The run keyword's results link to the deep search of the phase.
    let found = page(
        &app,
        &format!("/dags/{dag}?date_from=2026-11-01&date_to=2026-11-30&extract_keyword=row%201"),
    )
    .await;
    assert!(found.contains("/phases/extract?keyword=row+1"), "{found}");
    assert!(
        found.contains("first 100 data rows"),
        "what a run keyword searches"
    );
    // Paging by cursor: one run a page.
    let first = page(
        &app,
        &format!("/dags/{dag}?date_from=2026-11-01&date_to=2026-11-30&limit=1"),
    )
    .await;
    let next = first
        .split(r#"<a rel="next" href=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a next page")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(next.contains("cursor="), "{next}");
    let second = page(&app, &next).await;
    assert!(second.contains("First page"));

    let run = page(&app, &run_path(&app)).await;
    for expected in ["extracted 250 rows", "m-1", "manual", "transform"] {
        assert!(run.contains(expected), "{expected}: {run}");
    }

    let base = format!("{}/phases/extract", run_path(&app));
    let data = page(&app, &base).await;
    assert!(data.contains("250 rows") && data.contains("row 49") && !data.contains("row 50<"));
    assert!(
        data.contains(r#"<span class="type">int64</span>"#),
        "{data}"
    );
    let deep = page(&app, &format!("{base}?row=200")).await;
    assert!(deep.contains(r#"id="row-200" class="target""#), "{deep}");
    assert!(deep.contains("Page 5 / 5"));
    let jumped = page(&app, &format!("{base}?attempt=1&go=3")).await;
    assert!(jumped.contains("row 100") && jumped.contains("Page 3 / 5"));
    // Its page links page on from there: the jump is not carried along.
    assert!(
        jumped.contains("attempt=1&amp;page=3\"") || jumped.contains("attempt=1&#38;page=3\""),
        "{jumped}"
    );
    assert!(!jumped.contains("go=3&"), "{jumped}");
    let search = page(&app, &format!("{base}?keyword=%C3%9CN%C3%8FC")).await;
    // One match, in the singular (Fluent's plural rules).
    assert!(
        search.contains("1 matching row") && !search.contains("1 matching rows"),
        "{search}"
    );
    assert!(search.contains("<mark>Ünïc</mark>ödé"), "{search}");

    let errors = page(&app, &format!("{base}/errors")).await;
    assert!(errors.contains("Bad row 6") && errors.contains("negative"));
    let logs = page(&app, &format!("{base}/logs?level=INFO&keyword=slow")).await;
    assert!(logs.contains("<mark>Slow</mark> Source 0"), "{logs}");
    assert!(
        logs.contains("50 rows"),
        "every 10th row, a third of them INFO: {logs}"
    );
    let download = app
        .get(&format!(
            "{base}/logs.ndjson?attempt=1&level=INFO&keyword=slow"
        ))
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert!(
        download
            .header("content-disposition")
            .starts_with("attachment")
    );
    assert_eq!(text(&download).lines().count(), 50);

    for (from, html) in [
        ("the board", &board),
        ("the runs", &runs),
        ("the run", &run),
        ("the data tab", &data),
        ("the errors tab", &errors),
        ("the logs tab", &logs),
    ] {
        links_answer(&app, from, html).await;
    }

    // An attempt not committed yet (a retry under way) says so and
    // refreshes.
    let running = app
        .get(&format!("{}/phases/transform?attempt=2", run_path(&app)))
        .await;
    assert_eq!(running.status, StatusCode::OK, "{}", text(&running));
    assert!(text(&running).contains("refreshes every 5 seconds"));
    assert_eq!(running.header("refresh"), "5");
}

async fn another_company_sees_none_of_it(app: TestApp) {
    let theirs = app.other_token();
    let get = |uri: String| {
        let (app, theirs) = (&app, theirs.clone());
        async move { app.call(&uri, Some(&theirs), &[]).await }
    };
    let markers = [
        "Ünïcödé",
        "row 249",
        "Bad row",
        "Slow Source",
        "m-1",
        "a%2Fb",
    ];
    let base = run_path(&app);
    for (uri, status) in [
        ("/".to_owned(), StatusCode::OK),
        (
            format!("/dags/{}?date_from=2026-11-01&date_to=2026-11-30", app.dag),
            StatusCode::OK,
        ),
        // B has a run of these ids (its own), not A's `a/b` nor A's transform.
        (base.clone(), StatusCode::OK),
        (
            format!("/dags/{}/runs/2026-11-27/a%2Fb", app.dag),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/dags/{}/runs/2026-11-27/a%2Fb/phases/extract", app.dag),
            StatusCode::NOT_FOUND,
        ),
        (format!("{base}/phases/transform"), StatusCode::NOT_FOUND),
        (format!("{base}/phases/extract?keyword=row"), StatusCode::OK),
        (format!("{base}/phases/extract/errors"), StatusCode::OK),
        (format!("{base}/phases/extract/logs"), StatusCode::OK),
    ] {
        let reply = get(uri.clone()).await;
        assert_eq!(reply.status, status, "{uri}");
        let body = text(&reply);
        // (The page's own link holds its path.)
        for marker in markers.iter().filter(|m| !uri.contains(*m)) {
            assert!(!body.contains(marker), "{uri} shows {marker}");
        }
    }
    // Company B has its own 3-row attempt of a run of the same ids: that
    // is what its phase page shows.
    let theirs_data = text(&get(format!("{base}/phases/extract")).await);
    assert!(theirs_data.contains("3 rows"), "{theirs_data}");
}

async fn hostile_values_show_as_text(app: TestApp) {
    let run = RunRef::new(app.dag, app.run.date, RunId::new("hostile").unwrap());
    let batch = text_batch(vec![
        ("name", vec!["<script>alert(1)</script>".to_owned()]),
        (
            "quote",
            vec![r#""><img src=x onerror=alert(2)>"#.to_owned()],
        ),
    ]);
    commit_rows(
        &app.recorder,
        &app.company,
        &run,
        (Phase::Extract, 1),
        &batch,
        11,
    )
    .await;
    let html = page(
        &app,
        &format!(
            "/dags/{}/runs/2026-11-27/hostile/phases/extract?keyword=script",
            app.dag
        ),
    )
    .await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains("&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;"),
        "{html}"
    );
}

both_backends!(
    every_page,
    another_company_sees_none_of_it,
    hostile_values_show_as_text
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_assets_and_languages() {
    let app = embedded().await;
    let reply = app.get("/").await;
    let csp = reply.header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(reply.header("x-frame-options"), "DENY");
    // The assets the page names are served, cacheable for good; other
    // names are not.
    let html = text(&reply);
    for asset in ["css", "js"] {
        let url = html
            .split("/assets/app.")
            .skip(1)
            .map(|s| s.split('"').next().unwrap())
            .find(|s| s.ends_with(asset))
            .map(|s| format!("/assets/app.{s}"))
            .unwrap_or_else(|| panic!("the page names its {asset}"));
        let served = request(&app, Method::GET, &url, &[], "").await;
        assert_eq!(served.status, StatusCode::OK, "{url}");
        assert!(served.header("cache-control").contains("immutable"));
    }
    let old = request(&app, Method::GET, "/assets/app.000000000000.css", &[], "").await;
    assert_eq!(old.status, StatusCode::NOT_FOUND);
    // Spanish from the browser's languages, or from the switch's cookie.
    let es = app
        .call(
            "/",
            Some(&app.token()),
            &[("accept-language", "es-ES,es;q=0.9")],
        )
        .await;
    assert!(text(&es).contains(r#"<html lang="es">"#) && text(&es).contains("Última ejecución"));
    let switch = request(&app, Method::GET, "/lang?to=en&back=%2Fdags%2Fx", &[], "").await;
    assert_eq!(switch.header("location"), "/dags/x");
    assert!(switch.header("set-cookie").contains("dagtrail_lang=en"));
    let en = app
        .call(
            "/",
            Some(&app.token()),
            &[("accept-language", "es"), ("cookie", "dagtrail_lang=en")],
        )
        .await;
    assert!(text(&en).contains(r#"<html lang="en">"#));
    // The API is unchanged: JSON under /api/v1.
    assert_eq!(app.get("/api/v1/dags").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_nothing_serves() {
    let app = embedded().await;
    const BROWSER: (&str, &str) = (
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    );
    // A browser's mistyped or outdated link: a page in the reader's
    // language, with the way back, and the page's headers.
    let page = request(
        &app,
        Method::GET,
        "/dgas/x",
        &[BROWSER, ("accept-language", "es")],
        "",
    )
    .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        page.header("content-security-policy")
            .contains("default-src 'none'")
    );
    let html = text(&page);
    assert!(
        html.contains(r#"<html lang="es">"#) && html.contains(r#"href="/""#),
        "{html}"
    );
    // An API client, or any path under /api: the problem body.
    for (uri, headers) in [("/dgas/x", &[][..]), ("/api/v1/nowhere", &[BROWSER][..])] {
        let reply = request(&app, Method::GET, uri, headers, "").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            reply.header("content-type"),
            "application/problem+json",
            "{uri}"
        );
        assert!(text(&reply).contains("no such route"), "{uri}");
    }
}

/// What a data engineer looks for first (issue 25 B): the DAG's name, not
/// its UUID, in crumbs and titles, with its description and owner; the
/// board's strip of recent runs, the last failure's time and a sort by it;
/// every attempt of a retried phase one click away; each phase's message
/// on the runs list, and a run keyword found in a message said so, with no
/// link promising rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_strips_attempts_and_messages() {
    use dagtrail::model::DagId;
    let app = crate::support::embedded().await;
    let dag = DagId(uuid::Uuid::new_v4());
    let catalog = app
        .send(
            axum::http::Method::PATCH,
            &format!("/api/v1/dags/{dag}"),
            Some(&app.write_token()),
            &[("content-type", "application/json")],
            r#"{"name": "orders_daily", "description": "Orders into the warehouse", "owner": "data-eng"}"#,
        )
        .await;
    assert_eq!(catalog.status, StatusCode::OK, "{}", catalog.json());
    // Runs of 20 and 21 Nov succeed; 22 Nov's transform fails, then its
    // retry succeeds; 23 Nov's load fails with a message.
    for d in [20, 21] {
        crate::support::record_outcome(
            &app,
            dag,
            d,
            Phase::Extract,
            1,
            Some(true),
            "extracted 2 rows",
        )
        .await;
    }
    crate::support::record_outcome(
        &app,
        dag,
        22,
        Phase::Transform,
        1,
        Some(false),
        "upstream timeout",
    )
    .await;
    crate::support::record_outcome(
        &app,
        dag,
        22,
        Phase::Transform,
        2,
        Some(true),
        "transformed 2 rows",
    )
    .await;
    crate::support::record_outcome(
        &app,
        dag,
        23,
        Phase::Load,
        1,
        Some(false),
        "warehouse refused: disk full",
    )
    .await;

    let board = page(&app, "/?sort=-last_failure").await;
    let strip = board
        .split(r#"<div class="recent" role="list">"#)
        .nth(1)
        .and_then(|s| s.split("</div>").next())
        .expect("a strip of recent runs");
    assert_eq!(strip.matches("class=\"sq ").count(), 4, "{strip}");
    assert!(
        strip.contains("scheduled__2026-11-23") && strip.contains("sq failed"),
        "{strip}"
    );
    assert!(
        board.contains("warehouse refused: disk full") && board.contains("2026-11-23 · <time"),
        "the last failure and when"
    );
    assert!(board.contains(r#"value="-last_failure" selected"#));

    let runs = page(
        &app,
        &format!("/dags/{dag}?date_from=2026-11-01&date_to=2026-11-30"),
    )
    .await;
    assert!(
        runs.contains(&format!(r#"<span title="{dag}">orders_daily</span>"#)),
        "the crumbs name the DAG"
    );
    assert!(
        runs.contains("Orders into the warehouse") && runs.contains("Owner: data-eng"),
        "{runs}"
    );
    assert!(
        runs.contains(r#"<small class="msg">warehouse refused: disk full</small>"#),
        "messages shown, not only on hover"
    );
    let found = page(
        &app,
        &format!("/dags/{dag}?date_from=2026-11-01&date_to=2026-11-30&load_keyword=disk"),
    )
    .await;
    assert!(
        found.contains("the keyword is in its message, not its rows"),
        "{found}"
    );
    assert!(
        !found.contains("/phases/load?keyword=disk"),
        "no link promises rows"
    );

    let run = format!("/dags/{dag}/runs/2026-11-22/scheduled__2026-11-22");
    let run_page = page(&app, &run).await;
    assert!(
        run_page.contains(&format!(r#"title="{dag}">orders_daily</a>"#)),
        "{run_page}"
    );
    assert!(
        run_page.contains("<title>scheduled__2026-11-22 · orders_daily"),
        "the title names the DAG"
    );
    let phase = page(&app, &format!("{run}/phases/transform?attempt=1")).await;
    assert!(phase.contains(&format!(r#"title="{dag}">orders_daily</a>"#)));
    let switcher = phase
        .split(r#"<nav class="attempts""#)
        .nth(1)
        .and_then(|s| s.split("</nav>").next())
        .expect("an attempt switcher");
    assert!(
        switcher.contains(r#"transform?attempt=1" aria-current="page">1</a>"#),
        "{switcher}"
    );
    assert!(
        switcher.contains(r#"transform?attempt=2">2</a>"#),
        "{switcher}"
    );
    let single = page(&app, &format!("{run}/phases/transform?attempt=2")).await;
    assert!(single.contains(r#"aria-current="page">2</a>"#));
    let one = page(
        &app,
        &format!("/dags/{dag}/runs/2026-11-20/scheduled__2026-11-20/phases/extract"),
    )
    .await;
    assert!(
        !one.contains(r#"<nav class="attempts""#),
        "one attempt: no switcher"
    );

    // Time at a glance: the run's attempts along its time, and the DAG's
    // runs by phase, drawn as SVG bars coloured by status and linked.
    use chrono::TimeZone;
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let run = RunRef::new(dag, day, RunId::new("scheduled__2026-11-24").unwrap());
    let at = |h: u32, m: u32| chrono::Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap();
    for (phase, attempt, success, from, to) in [
        (Phase::Extract, 1, true, at(10, 0), at(10, 5)),
        (Phase::Transform, 1, false, at(10, 5), at(10, 6)),
        (Phase::Transform, 2, true, at(10, 7), at(10, 20)),
    ] {
        let outcome = dagtrail::artifacts::writer::PhaseOutcome {
            success: Some(success),
            message: String::new(),
            total: None,
            started_at: Some(from),
            finished_at: Some(to),
        };
        crate::support::record_attempt(
            &app.recorder,
            &app.company,
            &run,
            (phase, attempt),
            &text_batch(vec![("n", vec!["1", "2"])]),
            &outcome,
            to,
        )
        .await;
    }
    let timeline = page(
        &app,
        &format!("/dags/{dag}/runs/2026-11-24/scheduled__2026-11-24"),
    )
    .await;
    let svg = timeline
        .split(r#"<svg class="gantt""#)
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .expect("the run's timeline");
    assert_eq!(svg.matches(r#"<rect class="bar "#).count(), 3, "{svg}");
    assert!(
        svg.contains(r#"class="bar failed" x="#) && svg.contains("transform #2"),
        "{svg}"
    );
    assert!(svg.contains("20 min 00 s"), "the axis spans the run: {svg}");
    let durations = page(
        &app,
        &format!("/dags/{dag}?date_from=2026-11-24&date_to=2026-11-24"),
    )
    .await;
    let chart = durations
        .split(r#"<svg class="gantt""#)
        .nth(1)
        .expect("the DAG page's durations");
    assert!(
        chart.contains(r#"/phases/transform" tabindex="-1"><rect class="bar ok""#),
        "a bar links to its phase: {chart}"
    );

    // A data search numbers its hits by their data row, each a link to its
    // place in the whole data.
    let hits = page(
        &app,
        &format!(
            "/dags/{dag}/runs/2026-11-24/scheduled__2026-11-24/phases/transform?attempt=2&keyword=2"
        ),
    )
    .await;
    assert!(
        hits.contains("row=1#row-1\"") && hits.contains(">1</a></td>"),
        "the hit is data row 1: {hits}"
    );
}
