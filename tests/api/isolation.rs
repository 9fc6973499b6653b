//! Tenant isolation, endpoint by endpoint: company B's token (and tokens
//! whose company only looks like A's) never reaches company A's data, also
//! through hostile `dag_id`, `date` and `run_id` values.

use axum::http::StatusCode;

use crate::both_backends;
use crate::support::{TestApp, encode, token};

/// Text that only company A's data contains (B's attempt has 3 rows named
/// `row 0`..`row 2`, no errors, no logs, no event, no transform).
fn a_markers(app: &TestApp) -> Vec<String> {
    vec![
        app.company.as_str().to_owned(),
        "Ünïcödé".into(),
        "row 249".into(),
        "Bad row".into(),
        "Slow Source".into(),
        "m-1".into(),
        "\"data_rows\":250".into(),
        "\"running\"".into(),
    ]
}

/// Every endpoint, for one way of naming the run.
fn endpoints(dag: &str, date: &str, run: &str) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    let base = format!("/api/v1/dags/{dag}/runs/{date}/{run}");
    let plain = |p: String| (p, vec![]);
    vec![
        plain(format!(
            "/api/v1/dags/{dag}/runs?date_from=2026-11-01&date_to=2026-11-30&run_ids={run}"
        )),
        plain(format!(
            "/api/v1/dags/{dag}/runs?date_from=2026-11-01&date_to=2026-11-30&extract_keyword=250"
        )),
        plain(base.clone()),
        plain(format!("{base}/event")),
        plain(format!("{base}/phases/extract")),
        plain(format!("{base}/phases/transform")),
        plain(format!("{base}/phases/extract/data?limit=1000")),
        plain(format!("{base}/phases/extract/data?keyword=row%20249")),
        plain(format!("{base}/phases/extract/errors")),
        plain(format!("{base}/phases/extract/logs")),
        plain(format!(
            "{base}/phases/extract/logs?level=INFO&keyword=slow"
        )),
        (
            format!("{base}/phases/extract/logs"),
            vec![("accept", "application/x-ndjson")],
        ),
        plain(format!("{base}/phases/extract/data?attempt=1")),
        // The fleet view: A's newest run is still "running"; B's is not.
        plain("/api/v1/dags?since=2026-01-01".to_owned()),
        plain("/api/v1/dags?status=running".to_owned()),
        // The search across DAGs: every DAG of the token's company, or
        // A's DAG named.
        plain("/api/v1/runs?date_from=2026-11-01&date_to=2026-11-30".to_owned()),
        plain(format!(
            "/api/v1/runs?dag_id={dag}&date_from=2026-11-01&date_to=2026-11-30&extract_keyword=250"
        )),
        plain(format!(
            "/api/v1/runs?dag_id={dag}&date_from=2026-11-01&date_to=2026-11-30&sort=-duration"
        )),
    ]
}

/// The body without what only echoes the request back (the problem's
/// `instance`, a validation error's `input`): an attacker who writes A's
/// name into the URL reads it back, which leaks nothing.
fn without_echoes(body: &[u8]) -> String {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::from_utf8_lossy(body).into_owned();
    };
    if let Some(object) = value.as_object_mut() {
        object.remove("instance");
        if let Some(details) = object.get_mut("detail").and_then(|d| d.as_array_mut()) {
            for detail in details {
                if let Some(detail) = detail.as_object_mut() {
                    detail.remove("input");
                }
            }
        }
    }
    value.to_string()
}

async fn no_tenant_reaches_another(app: TestApp) {
    let markers = a_markers(&app);
    let dag = app.dag.to_string();
    let a = app.company.as_str();
    let main_run = encode(app.run.run_id.as_str());
    let runs: Vec<String> = vec![
        main_run.clone(),
        "a%2Fb".into(),
        "a%252Fb".into(),
        "a%EF%BC%8Fb".into(),
        encode(&format!("../../{a}/{dag}/2026-11-27/a/b")),
        encode(&format!("..\\..\\{a}\\{dag}\\2026-11-27\\a\\b")),
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd".into(),
        "%2E%2E".into(),
        encode("a/b\u{0000}"),
        encode(&format!("{}\u{200b}", app.run.run_id.as_str())),
    ];
    let dags = [
        dag.clone(),
        dag.to_uppercase(),
        format!("..%2F{a}"),
        "%2E%2E".into(),
    ];
    let dates = ["2026-11-27", "2026-11-27%2F..", "..", "2026-11-27%00"];

    // Control: A's own token finds A's data through the plain names, so
    // the markers are real and the matrix below can fail.
    let mut seen_by_a = 0;
    for (path, headers) in endpoints(&dag, "2026-11-27", &main_run) {
        let reply = app.call(&path, Some(&app.token()), &headers).await;
        let body = String::from_utf8_lossy(&reply.body);
        if markers.iter().any(|m| body.contains(m.as_str())) {
            seen_by_a += 1;
        }
    }
    assert!(
        seen_by_a >= 9,
        "A sees its own data ({seen_by_a} endpoints)"
    );

    // B's token, and tokens whose company only looks like A's.
    let mut tokens = vec![("company B", app.other_token())];
    for lookalike in [
        a.to_uppercase(),
        format!("{a}\u{200b}"),
        format!(" {a}"),
        format!("{a}/"),
        format!("{a}/.."),
        format!("../{a}"),
        format!("{a}%2F"),
        a.chars()
            .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
            .collect(),
    ] {
        if let Ok(company) = dagtrail::model::Company::new(lookalike.clone()) {
            tokens.push(("lookalike", token(company.as_str())));
        }
    }
    // B's token goes through every hostile name; lookalike tokens through
    // the hostile run ids under the real DAG and date.
    let mut cases = Vec::new();
    for (i, (who, bearer)) in tokens.iter().enumerate() {
        let (dags, dates) = if i == 0 {
            (&dags[..], &dates[..])
        } else {
            (&dags[..1], &dates[..1])
        };
        for dag in dags {
            for date in dates {
                for run in &runs {
                    for (path, headers) in endpoints(dag, date, run) {
                        cases.push((*who, bearer, path, headers));
                    }
                }
            }
        }
    }
    for (who, bearer, path, headers) in &cases {
        let reply = app.call(path, Some(bearer), headers).await;
        assert!(
            !reply.status.is_server_error(),
            "{who} {path}: {}",
            reply.status
        );
        let body = without_echoes(&reply.body);
        for marker in &markers {
            assert!(
                !body.contains(marker.as_str()),
                "{who} saw {marker:?} through {path}: {body}"
            );
        }
    }
    let checked = cases.len();
    eprintln!("tenant isolation: {checked} requests by other tenants, none saw A's data");
    // And B still sees its own run, so the matrix was not all 404s.
    let own = app
        .call(
            &format!("{}/phases/extract/data", app.run_url()),
            Some(&app.other_token()),
            &[],
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.json()["total"], 3);
}

both_backends!(no_tenant_reaches_another);
