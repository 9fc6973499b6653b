//! Object-store requests per API call: the store is never listed, a warm
//! data page costs one (coalesced) GET, a cold one at most three.

use axum::http::StatusCode;

use crate::support::embedded_counting;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_pages_cost_few_requests_and_never_list() {
    let (app, counting) = embedded_counting().await;
    // A balancer's first readiness probe also asks once whether the store
    // folds case; requests pay nothing for it afterwards.
    assert_eq!(app.call("/readyz", None, &[]).await.status, StatusCode::OK);
    counting.reset();
    let page = |p: u32| format!("{}/phases/extract/data?page={p}&limit=20", app.run_url());

    let cold = app.get(&page(7)).await;
    assert_eq!(cold.status, StatusCode::OK);
    let c = counting.counts();
    assert_eq!(c.lists, 0, "never LIST");
    assert!(
        c.reads() <= 3,
        "cold page: metadata + footer + pages, got {c:?}"
    );

    counting.reset();
    let warm = app.get(&page(6)).await;
    assert_eq!(warm.status, StatusCode::OK);
    let c = counting.counts();
    assert_eq!(
        (c.gets, c.heads, c.lists),
        (1, 0, 0),
        "warm page: one coalesced GET, got {c:?}"
    );

    // Rows decoded once are sliced again from the cache: the same page,
    // or another within the same block of a row group, reads nothing.
    counting.reset();
    let again = app.get(&page(6)).await;
    assert_eq!(again.body, warm.body);
    let narrower = app
        .get(&format!(
            "{}/phases/extract/data?page=13&limit=10",
            app.run_url()
        ))
        .await;
    assert_eq!(narrower.status, StatusCode::OK);
    assert_eq!(counting.counts().reads(), 0, "decoded rows are cached");

    counting.reset();
    let meta = app.get(&format!("{}/phases/extract", app.run_url())).await;
    assert_eq!(meta.status, StatusCode::OK);
    assert_eq!(counting.counts().reads(), 0, "committed metadata is cached");

    counting.reset();
    app.get(&format!(
        "{}/phases/extract/data?keyword=zo%C3%AB",
        app.run_url()
    ))
    .await;
    app.get(&format!(
        "{}/phases/extract/logs?level=ERROR",
        app.run_url()
    ))
    .await;
    app.get(&format!("{}/event", app.run_url())).await;
    assert_eq!(counting.counts().lists, 0, "never LIST");
}

/// Our writer's skipping index: a keyword in one row of the index reads
/// only the row group that may hold it, where a keyword in every row reads
/// them all (the index of the test data has row groups of 40 rows), and
/// both find what a full scan finds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rare_keyword_reads_only_the_row_groups_that_may_hold_it() {
    let (app, counting) = embedded_counting().await;
    let search = |keyword: &str| {
        format!(
            "{}/phases/extract/data?keyword={keyword}&limit=1",
            app.run_url()
        )
    };
    // Warm: metadata, footers.
    app.get(&search("row")).await.ok_json();

    counting.reset();
    let common = app.get(&search("row")).await.ok_json();
    let scanned_all = counting.counts().gets;
    counting.reset();
    let rare = app.get(&search("zo%C3%AB")).await.ok_json();
    let scanned_one = counting.counts().gets;
    assert_eq!(rare["total"], 1, "{rare}");
    assert_eq!(rare["rows"][0]["name"], "Zoë 500 off");
    assert_eq!(common["total"], 248, "{common}");
    assert!(
        scanned_one + 4 <= scanned_all,
        "rare: {scanned_one} GETs, common: {scanned_all}"
    );
    // Matches in every data file come back as their own rows (our
    // writer's index rows are placed by position, not by `_file`/`_row`).
    let spread = app
        .get(&format!(
            "{}/phases/extract/data?keyword=row%2024&limit=100",
            app.run_url()
        ))
        .await
        .ok_json();
    assert_eq!(spread["total"], 11, "{spread}");
    for row in spread["rows"].as_array().unwrap() {
        assert_eq!(row["name"], format!("row {}", row["id"]), "{row}");
    }
}
