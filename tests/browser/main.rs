//! The run explorer in a real browser (headless Chromium driven through
//! chromedriver by WebDriver), as a new user meets it: `dagtrail serve
//! --demo` started as the README says, its printed address opened, its
//! printed token pasted into the sign-in form, and from the fleet board a
//! failed run's offending data row found in a few clicks; then a DAG's runs
//! filtered by a keyword, data paged and searched deep, logs filtered by
//! level and downloaded. With `UPDATE_SCREENSHOTS=1` it writes the main
//! views to `docs/screenshots/` (`scripts/screenshots` does). A second
//! walk goes through the same views at a phone's width from the keyboard
//! alone.
//!
//! Needs `chromium` and `chromedriver` (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them): skipped with a notice
//! without them, failed under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod session;

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// `dagtrail serve --demo` in `dir`: the process, the explorer's address
/// and the token it printed.
fn serve_demo(dir: &Path) -> (Killed, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("DAGTRAIL_JWT_SECRET")
        .env_remove("DAGTRAIL_DATA_DIR")
        .env_remove("DAGTRAIL_DATABASE_URL")
        .env_remove("DAGTRAIL_STORE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let (mut explorer, mut token) = (None, None);
    while explorer.is_none() || token.is_none() {
        let line = lines
            .next()
            .expect("serve printed its address and token")
            .unwrap();
        if let Some(rest) = line.trim().strip_prefix("explorer:") {
            explorer = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.trim().strip_prefix("token:") {
            token = rest.trim().strip_prefix("export TOKEN=").map(str::to_owned);
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, explorer.unwrap(), token.unwrap())
}

/// chromedriver on a free port, and a headless Chromium session of it
/// with a viewport `width` × `height` CSS pixels (below the window's
/// minimum width, a phone's screen emulated).
async fn browser(chromedriver: &Path, (width, height): (u32, u32)) -> (Killed, Client) {
    let port = free_port();
    let driver = Killed(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut options = serde_json::json!({
        "binary": which("chromium").map(|p| p.display().to_string()).unwrap_or_default(),
        "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 format!("--window-size={width},{height}"), "--lang=en-US"],
    });
    if width < 800 {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 3.0, "touch": true}
        });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let url = format!("http://127.0.0.1:{port}");
    for attempt in 0.. {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) if attempt < 50 => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("chromedriver did not start a session: {e}"),
        }
    }
    unreachable!()
}

async fn shot(client: &Client, name: &str) {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_none() {
        return;
    }
    let png = client.screenshot().await.unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/screenshots/{name}.png"));
    std::fs::write(path, png).unwrap();
}

/// The element `css` selects, once the page has it.
async fn element(client: &Client, css: &str) -> fantoccini::elements::Element {
    let found = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await;
    match found {
        Ok(element) => element,
        Err(e) => panic!(
            "{css}: {e} at {}: {}",
            client.current_url().await.unwrap(),
            client
                .find(Locator::Css("main"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        ),
    }
}

async fn click(client: &Client, css: &str) {
    element(client, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn text_of(client: &Client, css: &str) -> String {
    element(client, css).await.text().await.unwrap()
}

/// Waits until the browser is at a URL containing `part` (a click that
/// navigates returns before the next page has loaded).
async fn arrive(client: &Client, part: &str) -> url::Url {
    for _ in 0..100 {
        let url = client.current_url().await.unwrap();
        if url.as_str().contains(part) {
            // And until that page has loaded.
            for _ in 0..100 {
                let ready = client
                    .execute("return document.readyState", vec![])
                    .await
                    .unwrap();
                if ready == "complete" {
                    return url;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never arrived at a URL with {part}: {}",
        client.current_url().await.unwrap()
    );
}

/// chromedriver's path, or `None` (a skip, failed under `CI=true`) when it
/// or Chromium is not installed.
fn chromedriver() -> Option<PathBuf> {
    let (Some(_), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: chromium and chromedriver are required (apt-get install chromium chromium-driver)"
        );
        eprintln!("skipped: chromium or chromedriver not installed");
        return None;
    };
    // The WebDriver client's TLS stack (unused on loopback) must be told
    // which crypto to use: the build has two.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Some(chromedriver)
}

/// Presses Tab until the focused element matches `css` (at most `limit`
/// times), as a keyboard user moves through a page.
async fn tab_to(client: &Client, css: &str, limit: usize) {
    let mut trail = Vec::new();
    for _ in 0..limit {
        press(client, Key::Tab.into()).await;
        let there = client
            .execute(
                "return document.activeElement.matches(arguments[0])",
                vec![serde_json::json!(css)],
            )
            .await
            .unwrap();
        trail.push(
            client
                .execute(
                    "const e = document.activeElement; return e.tagName + (e.name ? '[' + e.name + ']' : '') + (e.getAttribute('href') ? '(' + e.getAttribute('href') + ')' : '')",
                    vec![],
                )
                .await
                .unwrap(),
        );
        if there == true {
            // Where the focus is must show: an outline, not the default none.
            let outline = client
                .execute(
                    "return getComputedStyle(document.activeElement).outlineStyle",
                    vec![],
                )
                .await
                .unwrap();
            assert_ne!(outline, "none", "{css} is focused without a visible mark");
            return;
        }
    }
    panic!(
        "{css} not reached in {limit} presses of Tab at {}; focus went {trail:?}",
        client.current_url().await.unwrap()
    );
}

/// Presses and releases `key` wherever the focus is (as a person does:
/// sending keys to an element would focus it anew first).
async fn press(client: &Client, key: char) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    client.perform_actions(keys).await.unwrap();
}

/// Presses Enter on the focused element.
async fn enter(client: &Client) {
    press(client, Key::Enter.into()).await;
}

/// The page is no wider than the window: wide tables scroll inside their
/// frame, long values wrap, nothing pushes the page sideways.
async fn fits(client: &Client, width: u32) {
    let viewport = client
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap();
    assert_eq!(viewport, width, "the viewport is not the phone's");
    let page_width = client
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(
        page_width <= u64::from(width),
        "{} is {page_width} px wide in a {width} px window",
        client.current_url().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_finds_the_offending_row() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_server, explorer, token) = serve_demo(dir.path());
    let (_driver, client) = browser(&chromedriver, (1280, 900)).await;

    // The printed address asks to sign in; the printed token lets us in.
    client.goto(&explorer).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/signin")
    );
    shot(&client, "signin").await;
    client
        .find(Locator::Css("textarea[name=token]"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    click(&client, "form[action='/signin'] button[type=submit]").await;
    let board = text_of(&client, "main table").await;
    assert!(
        board.contains("failed"),
        "the board shows failures: {board}"
    );
    shot(&client, "fleet").await;

    // The last failure of a DAG, its run, the failed phase's errors.
    click(&client, "main table tbody td:last-child a").await;
    arrive(&client, "/runs/").await;
    shot(&client, "run").await;
    let failed = client
        .find_all(Locator::Css("main table tbody tr"))
        .await
        .unwrap();
    let mut phase_link = None;
    for row in failed {
        if row.text().await.unwrap().contains("failed") {
            phase_link = row
                .find(Locator::Css("td a"))
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap();
            break;
        }
    }
    let phase_link = phase_link.expect("the failed run has a failed attempt");
    client
        .goto(&format!("{explorer}{}", phase_link.trim_start_matches('/')))
        .await
        .unwrap();
    click(&client, "nav.tabs a:nth-child(2)").await;
    arrive(&client, "/errors").await;
    shot(&client, "errors").await;
    // An error about a data row shows it, and opens it in the Data tab.
    click(&client, "article details summary a").await;
    arrive(&client, "row=").await;
    let target = text_of(&client, "tr.target").await;
    assert!(!target.is_empty());
    shot(&client, "data-row").await;

    // Data: the next page, then a keyword deep in the rows, marked.
    click(&client, "nav.pager a[rel=next]").await;
    arrive(&client, "page=").await;
    assert!(text_of(&client, "nav.pager span").await.starts_with("Page"));
    let search = client
        .find(Locator::Css("input[name=keyword]"))
        .await
        .unwrap();
    search.send_keys("a").await.unwrap();
    click(&client, "form.filters button[type=submit]").await;
    arrive(&client, "keyword=a").await;
    assert!(!text_of(&client, "mark").await.is_empty());
    shot(&client, "data-search").await;

    // Logs: ERROR only, then the filtered NDJSON.
    click(&client, "nav.tabs a:nth-child(3)").await;
    arrive(&client, "/logs").await;
    click(&client, "input[name=level][value=ERROR]").await;
    click(&client, "form.filters button[type=submit]").await;
    arrive(&client, "level=ERROR").await;
    let logs = text_of(&client, "main table tbody").await;
    assert!(logs.contains("ERROR") && !logs.contains("INFO"), "{logs}");
    shot(&client, "logs").await;
    let download = client
        .find(Locator::Css("a[href*='logs.ndjson'][href*='level=ERROR']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    // (Fetched by the page itself: a download does not show in the DOM.)
    let ndjson = client
        .execute(
            "return fetch(arguments[0]).then(r => r.text())",
            vec![serde_json::json!(download)],
        )
        .await
        .unwrap();
    let ndjson = ndjson.as_str().unwrap_or_default();
    assert!(ndjson.lines().count() > 0, "{ndjson}");
    assert!(
        ndjson.lines().all(|l| l.contains(r#""level":"ERROR""#)),
        "{ndjson}"
    );

    // A DAG's runs, filtered by a keyword, in the URL.
    client.goto(&explorer).await.unwrap();
    click(&client, "main table tbody tr:first-child td:first-child a").await;
    shot(&client, "runs").await;
    client
        .find(Locator::Css("input[name=extract_keyword]"))
        .await
        .unwrap()
        .send_keys("a")
        .await
        .unwrap();
    click(&client, "form.filters button.primary").await;
    arrive(&client, "extract_keyword=a").await;
    assert!(
        !client
            .find_all(Locator::Css("main table tbody tr"))
            .await
            .unwrap()
            .is_empty()
    );
    // Back restores the unfiltered view.
    client.back().await.unwrap();
    let back = client.current_url().await.unwrap();
    assert!(
        !back.query().unwrap_or_default().contains("extract_keyword"),
        "{back}"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_fits_a_phone_and_works_from_the_keyboard() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    const WIDTH: u32 = 390;
    let dir = tempfile::tempdir().unwrap();
    let (_server, explorer, token) = serve_demo(dir.path());
    let (_driver, client) = browser(&chromedriver, (WIDTH, 844)).await;

    // Sign in: Tab to the token field, paste, Tab to the button, Enter.
    client.goto(&explorer).await.unwrap();
    arrive(&client, "/signin").await;
    fits(&client, WIDTH).await;
    tab_to(&client, "textarea[name=token]", 20).await;
    client
        .active_element()
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    tab_to(&client, "button[type=submit]", 5).await;
    enter(&client).await;
    element(&client, "main table").await;
    fits(&client, WIDTH).await;

    // The board's first DAG, by keyboard.
    tab_to(&client, "main table tbody a[href^='/dags/']", 60).await;
    enter(&client).await;
    arrive(&client, "/dags/").await;
    element(&client, "main table").await;
    fits(&client, WIDTH).await;

    // Past the calendar's day links in one step, a run of it, then its
    // extract phase and each tab.
    tab_to(&client, "a.skip", 10).await;
    enter(&client).await;
    tab_to(&client, "main table tbody a[href*='/runs/']", 60).await;
    enter(&client).await;
    arrive(&client, "/runs/").await;
    element(&client, "main table").await;
    fits(&client, WIDTH).await;
    tab_to(&client, "main table tbody a[href*='/phases/']", 60).await;
    enter(&client).await;
    arrive(&client, "/phases/").await;
    element(&client, "nav.tabs").await;
    fits(&client, WIDTH).await;
    for (tab, path) in [(2, "/errors"), (3, "/logs")] {
        tab_to(&client, &format!("nav.tabs a:nth-child({tab})"), 60).await;
        enter(&client).await;
        arrive(&client, path).await;
        element(&client, "nav.tabs").await;
        fits(&client, WIDTH).await;
    }
    // The logs' level filter is checkboxes: Space ticks one, Enter sends.
    tab_to(&client, "input[name=level][value=ERROR]", 60).await;
    press(&client, ' ').await;
    tab_to(&client, "form.filters button[type=submit]", 20).await;
    enter(&client).await;
    arrive(&client, "level=ERROR").await;
    fits(&client, WIDTH).await;
    shot(&client, "phone-logs").await;
    client.close().await.unwrap();
}

/// The views an engineer looks at first, in Spanish on a phone: the
/// board's run strips and sort by most recent failure, a DAG's owner and
/// its runs' chart, a run's timeline; none wider than the screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_views_in_spanish_on_a_phone() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    const WIDTH: u32 = 390;
    let dir = tempfile::tempdir().unwrap();
    let (_server, explorer, token) = serve_demo(dir.path());
    let (_driver, client) = browser(&chromedriver, (WIDTH, 844)).await;
    client.goto(&explorer).await.unwrap();
    arrive(&client, "/signin").await;
    client
        .find(Locator::Css("textarea[name=token]"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    click(&client, "form[action='/signin'] button[type=submit]").await;
    element(&client, "main table").await;
    // The language switch, as a reader uses it.
    click(&client, "a[href^='/lang?to=es']").await;
    element(&client, "main table").await;
    client
        .goto(&format!(
            "{}?sort=-last_failure",
            explorer.trim_end_matches('/')
        ))
        .await
        .unwrap();
    let board = text_of(&client, "main").await;
    assert!(
        board.contains("Ordenar por") && board.contains("fallo más reciente"),
        "{board}"
    );
    let squares = client.find_all(Locator::Css(".recent a.sq")).await.unwrap();
    assert!(squares.len() >= 10, "each DAG's strip of recent runs");
    fits(&client, WIDTH).await;
    shot(&client, "phone-es-board").await;

    click(&client, "main table tbody a[href^='/dags/']").await;
    arrive(&client, "/dags/").await;
    let runs = text_of(&client, "main").await;
    assert!(runs.contains("Responsable:"), "the DAG's owner: {runs}");
    assert!(
        runs.contains("ejecuciones") || runs.contains("ejecución"),
        "{runs}"
    );
    element(&client, "svg.gantt").await;
    fits(&client, WIDTH).await;
    shot(&client, "phone-es-runs").await;

    click(&client, "main table tbody td a[href*='/runs/']").await;
    arrive(&client, "/runs/").await;
    element(&client, "svg.gantt rect.bar").await;
    fits(&client, WIDTH).await;
    shot(&client, "phone-es-run").await;
}
