//! `/metrics` through a real server: requests by route template and
//! status, latency histograms, store requests, the run-index pool, NDJSON
//! slots and the cache, in the Prometheus text format.

use crate::support::{Server, Stores, get, seed, token};

/// The value of the sample whose line starts with `series` (name and
/// labels as written), when there is one.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_store_calls_pools_and_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path());
    let seeded = seed(&stores, 120, 40).await;
    let server = Server::start(&stores.env());
    let client = reqwest::Client::new();
    let acme = token(&seeded.company);
    let data = server.url(&format!(
        "{}/phases/extract/data?limit=5",
        seeded.run_path()
    ));
    for _ in 0..3 {
        assert_eq!(get(&client, &data, &acme).await.0, 200);
    }
    let missing = server.url(&format!("{}/phases/load/data", seeded.run_path()));
    assert_eq!(get(&client, &missing, &acme).await.0, 404);
    assert_eq!(get(&client, &data, "").await.0, 401);
    let search = server.url(&seeded.search_path());
    assert_eq!(get(&client, &search, &acme).await.0, 200);

    let reply = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "the Prometheus text format"
    );
    let text = reply.text().await.unwrap();
    let route = "/api/v1/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/data";
    let requests = |status: u16| {
        sample(
            &text,
            &format!(
                "dagtrail_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests(200), Some(3.0), "{text}");
    assert_eq!(requests(404), Some(1.0), "{text}");
    assert_eq!(requests(401), Some(1.0), "{text}");
    assert!(
        text.contains(&format!(
            "dagtrail_http_request_duration_seconds_bucket{{method=\"GET\",route=\"{route}\",le=\"0.1\"}}"
        )),
        "{text}"
    );
    assert!(
        sample(&text, "dagtrail_store_requests_total{op=\"get\"}").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("dagtrail_store_request_duration_seconds_bucket{op=\"get\""),
        "{text}"
    );
    assert_eq!(
        sample(&text, "dagtrail_run_index_connections_max"),
        Some(10.0),
        "{text}"
    );
    assert!(
        sample(&text, "dagtrail_run_index_connections{state=\"idle\"}").is_some(),
        "{text}"
    );
    assert!(
        text.contains("dagtrail_run_index_connection_wait_seconds_bucket{le=\"0.001\"}"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "dagtrail_ndjson_streams_max"),
        Some(16.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "dagtrail_ndjson_streams "),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "dagtrail_metadata_cache_bytes").unwrap_or(0.0) > 0.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "dagtrail_metadata_cache_lookups_total{kind=\"metadata\",result=\"hit\"}"
        )
        .unwrap_or(0.0)
            >= 2.0,
        "the second and third pages found the metadata cached: {text}"
    );
    // No tenant data in the labels.
    assert!(!text.contains(seeded.company.as_str()), "{text}");
}
