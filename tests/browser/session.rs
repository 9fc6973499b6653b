//! Signing in and out, and where the explorer sends a browser (issue 23,
//! C): redirects never leave our origin, forms another site's page posts
//! are refused, a page of a session is not shown again from the browser's
//! cache after signing out, the icon is served, and a token that can
//! write runs does not become a session.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::Client;

use super::{Killed, arrive, browser, chromedriver, click, element, text_of};

/// The session cookie's name.
const SESSION: &str = "dagtrail_session";

/// An answer read off the wire: no redirect followed, headers as sent
/// (names lowercased).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One plain HTTP/1.1 request to the server at `explorer` (not a
/// browser: no `Origin`, no `Sec-Fetch-Site`), `target` sent as is.
fn exchange(
    explorer: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let url = url::Url::parse(explorer).unwrap();
    let authority = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let mut stream = TcpStream::connect(&authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {target}: no answer's head in {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: no status in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// The HMAC secret [`serve_empty`] verifies tokens with.
const SECRET: &str = "browser-test-secret-0123456789abcdef";

/// `dagtrail` in `dir` with the environment a test's own: no setting of
/// the runner's (stores, keys, claims) applies.
fn dagtrail(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dagtrail"));
    command.current_dir(dir).env("DAGTRAIL_JWT_SECRET", SECRET);
    for name in [
        "DAGTRAIL_JWT_SECRET_FILE",
        "DAGTRAIL_JWT_PUBLIC_KEY",
        "DAGTRAIL_JWKS_URL",
        "DAGTRAIL_JWT_ISSUER",
        "DAGTRAIL_JWT_AUDIENCE",
        "DAGTRAIL_JWT_COMPANY_CLAIM",
        "DAGTRAIL_DATA_DIR",
        "DAGTRAIL_DATABASE_URL",
        "DAGTRAIL_STORE_URL",
    ] {
        command.env_remove(name);
    }
    command
}

/// `dagtrail serve` in `dir`, with no data (nothing to write first: it
/// answers at once) and tokens signed with [`SECRET`]: the process and
/// the explorer's address.
fn serve_empty(dir: &Path) -> (Killed, String) {
    let mut child = dagtrail(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let explorer = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.trim().strip_prefix("dagtrail listening on ") {
            break format!("{}/", rest.split_whitespace().next().unwrap());
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, explorer)
}

/// A token for `company` with `scopes`, as `dagtrail token` makes one for
/// [`serve_empty`].
fn token_for(dir: &Path, company: &str, scopes: &[&str]) -> String {
    let mut command = dagtrail(dir);
    command.args(["token", "--company", company, "--ttl", "1h"]);
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "dagtrail token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An attacker's site: a server on another port of 127.0.0.1 (another
/// origin; as `localhost`, another site too) whose `/signin` and
/// `/signout` are pages that post a form to the explorer's, with
/// `token`, as soon as they load. Its port.
fn attacker(explorer: &str, token: &str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (explorer, token) = (explorer.to_owned(), token.to_owned());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (explorer, token) = (explorer.clone(), token.clone());
            // A connection of its own each: a browser opens some it never
            // sends on.
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or_default();
                let action = match path {
                    "/signin" => "signin",
                    "/signout" => "signout",
                    _ => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        return;
                    }
                };
                let page = format!(
                    "<!doctype html><title>You won!</title>\
                     <form method=\"post\" action=\"{explorer}{action}\">\
                     <input type=\"hidden\" name=\"token\" value=\"{token}\">\
                     <input type=\"hidden\" name=\"next\" value=\"/\">\
                     </form><script>document.forms[0].submit()</script>"
                );
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                        page.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

/// Marks the page on screen, to tell when another has replaced it (at
/// the same URL too: a form posted to its own page).
async fn mark(client: &Client) {
    client
        .execute("window.dagtrailTestLeft = false", vec![])
        .await
        .unwrap();
}

/// Waits until the page [`mark`]ed is gone and the one that replaced it
/// has loaded; its URL.
async fn left(client: &Client) -> url::Url {
    for _ in 0..200 {
        // (Between pages, or on the browser's error page, a script may
        // not run: not there yet.)
        let there = client
            .execute(
                "return window.dagtrailTestLeft === undefined && document.readyState === 'complete'",
                vec![],
            )
            .await
            .ok();
        if there == Some(serde_json::Value::Bool(true)) {
            return client.current_url().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // (A navigation the browser blocked, as a form's redirect to another
    // origin under `form-action 'self'`, leaves the page as it was.)
    panic!(
        "no other page replaced {} (a navigation blocked or never answered)",
        client.current_url().await.unwrap()
    );
}

/// Pastes `token` into the sign-in form on screen and sends it; the URL
/// of the page that answers.
async fn submit_token(client: &Client, token: &str) -> url::Url {
    element(client, "textarea[name=token]")
        .await
        .send_keys(token)
        .await
        .unwrap();
    mark(client).await;
    click(client, "form[action='/signin'] button[type=submit]").await;
    left(client).await
}

/// Signs in at `explorer` with `token`, to the fleet board.
async fn sign_in(client: &Client, explorer: &str, token: &str) {
    client.goto(&format!("{explorer}signin")).await.unwrap();
    let went = submit_token(client, token).await;
    assert_eq!(went.path(), "/", "signing in went to {went}");
    assert!(has_session(client).await);
}

/// Whether the browser holds a session cookie for the page it is at.
async fn has_session(client: &Client) -> bool {
    client
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .any(|c| c.name() == SESSION)
}

/// The explorer's origin, as the browser sees it.
fn ours(explorer: &str) -> (String, Option<u16>) {
    let url = url::Url::parse(explorer).unwrap();
    (url.host_str().unwrap().to_owned(), url.port())
}

fn assert_ours(explorer: &str, went: &url::Url, how: &str) {
    assert_eq!(
        (went.host_str().unwrap_or_default().to_owned(), went.port()),
        ours(explorer),
        "{how} went to {went}, another site"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_never_leave_our_origin() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_server, explorer) = serve_empty(dir.path());
    let token = token_for(dir.path(), "acme", &[]);
    let (_driver, client) = browser(&chromedriver, (1280, 900)).await;

    // The language switch's `back`: a tab or a line break in `//` (which
    // the URL parser drops: `//other.example/`; the tab went there, the
    // line break was a 500), `/\` (read as `//`), and the plainer kinds
    // of another host (refused before too).
    for back in [
        "/%09/other.example/",
        "%2F%5Cother.example",
        "/%0A/other.example/",
        "//other.example/",
        "https://other.example/",
    ] {
        let url = format!("{explorer}lang?to=es&back={back}");
        // (Another host does not resolve: the browser's error page.)
        let _ = client.goto(&url).await;
        let went = client.current_url().await.unwrap();
        assert_ours(&explorer, &went, &url);
        // (The switch did its part: the page is in Spanish.)
        let lang = client
            .execute("return document.documentElement.lang", vec![])
            .await
            .unwrap();
        assert_eq!(lang, "es", "{url} went to {went}");
        client.goto(&format!("{explorer}lang?to=en")).await.unwrap();
    }

    // The sign-in form's `next`, carried through the form: a path of
    // ours in the form (where a link resolves it), and after signing in.
    for next in ["/%09/other.example/", "%2F%5Cother.example"] {
        let url = format!("{explorer}signin?next={next}");
        client.goto(&url).await.unwrap();
        let kept = element(&client, "form[action='/signin'] input[name=next]")
            .await
            .attr("value")
            .await
            .unwrap()
            .unwrap_or_default();
        let resolved = url::Url::parse(&explorer).unwrap().join(&kept).unwrap();
        assert_ours(
            &explorer,
            &resolved,
            &format!("the form's next {kept:?} at {url}"),
        );
        let went = submit_token(&client, &token).await;
        assert_ours(&explorer, &went, &format!("signing in at {url}"));
        assert_eq!(went.path(), "/", "signing in at {url} went to {went}");
        assert!(has_session(&client).await);
        // Out again, for the next.
        click(&client, "header form[action='/signout'] button").await;
        arrive(&client, "/signin").await;
    }

    // A line break in a redirect's target: a 303 to a path of ours (was
    // a 500), and no header of the attacker's making.
    let answer = exchange(
        &explorer,
        "GET",
        "/lang?to=es&back=/a%0D%0ASet-Cookie:%20x=1",
        &[],
        "",
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.header("location").expect("a Location");
    assert!(!location.contains(['\r', '\n']), "{location:?}");
    let resolved = url::Url::parse(&explorer).unwrap().join(location).unwrap();
    assert_ours(&explorer, &resolved, "the language switch's Location");
    assert!(
        !answer
            .headers
            .iter()
            .any(|(n, v)| n == "set-cookie" && v.starts_with("x=")),
        "{:?}",
        answer.headers
    );
    // The same in a posted `next` (the form bypassed), with a tab too.
    for next in [
        "/a%0D%0ASet-Cookie:%20x=1%0D%0A%0D%0A",
        "/%09/other.example/",
        "%2F%5Cother.example",
    ] {
        let answer = exchange(
            &explorer,
            "POST",
            "/signin",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &format!("token={token}&next={next}"),
        );
        assert_eq!(answer.status, 303, "next={next}: {}", answer.body);
        let location = answer.header("location").expect("a Location");
        assert!(!location.contains(['\r', '\n']), "{location:?}");
        let resolved = url::Url::parse(&explorer).unwrap().join(location).unwrap();
        assert_ours(&explorer, &resolved, &format!("POST /signin next={next}"));
    }
    let answer = exchange(
        &explorer,
        "GET",
        "/signin?next=/a%0D%0ASet-Cookie:%20x=1",
        &[],
        "",
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sites_forms_neither_sign_in_nor_out() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_server, explorer) = serve_empty(dir.path());
    let token = token_for(dir.path(), "acme", &[]);
    // The attacker's own token, of another company.
    let theirs = token_for(dir.path(), "globex", &[]);
    let port = attacker(&explorer, &theirs);
    let (_driver, client) = browser(&chromedriver, (1280, 900)).await;

    // Another site (`localhost`) and another origin of the same site
    // (another port): a visit to their page signs nobody in (into the
    // attacker's company, whose runs the victim would then take for
    // theirs).
    for site in ["localhost", "127.0.0.1"] {
        client
            .goto(&format!("http://{site}:{port}/signin"))
            .await
            .unwrap();
        let went = arrive(&client, &explorer).await;
        assert!(
            !has_session(&client).await,
            "{site}'s post to /signin set a session (at {went})"
        );
        let heading = text_of(&client, "main h1").await;
        assert!(
            went.path() == "/signin" && heading.starts_with("403"),
            "{site}'s post to /signin: {heading} at {went}"
        );
        client.goto(&explorer).await.unwrap();
        let went = client.current_url().await.unwrap();
        assert_eq!(went.path(), "/signin", "signed in by {site}'s page");
    }

    // Nor out.
    sign_in(&client, &explorer, &token).await;
    for site in ["localhost", "127.0.0.1"] {
        client
            .goto(&format!("http://{site}:{port}/signout"))
            .await
            .unwrap();
        let went = arrive(&client, &explorer).await;
        assert!(
            has_session(&client).await,
            "signed out by {site}'s page (at {went})"
        );
        let heading = text_of(&client, "main h1").await;
        assert!(
            went.path() == "/signout" && heading.starts_with("403"),
            "{site}'s post to /signout: {heading} at {went}"
        );
        client.goto(&explorer).await.unwrap();
        let went = client.current_url().await.unwrap();
        assert_eq!(went.path(), "/", "signed out by {site}'s page: at {went}");
        element(&client, "main h1").await;
    }

    // Our own pages' forms still work: out, with the header's button.
    click(&client, "header form[action='/signout'] button").await;
    arrive(&client, "/signin").await;
    assert!(!has_session(&client).await);
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_after_signing_out_shows_no_tenants_page() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    // A DAG page of a store without runs is still a tenant's page (and
    // the server starts at once, where the demo takes 20 s to write).
    let dir = tempfile::tempdir().unwrap();
    let (_server, explorer) = serve_empty(dir.path());
    let token = token_for(dir.path(), "acme", &[]);
    let (_driver, client) = browser(&chromedriver, (1280, 900)).await;

    sign_in(&client, &explorer, &token).await;
    client
        .goto(&format!(
            "{explorer}dags/6a1f3f3e-3c1d-4f5e-9a7b-2c4d5e6f7a8b"
        ))
        .await
        .unwrap();
    let dag_page = arrive(&client, "/dags/").await;
    let heading = text_of(&client, "main h1").await;
    assert!(!heading.is_empty());
    // The page is not kept by the browser (assets are, for long).
    let answer = exchange(
        &explorer,
        "GET",
        dag_page.path(),
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let css = element(&client, "link[rel=stylesheet]")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let answer = exchange(&explorer, "GET", &css, &[], "");
    assert_eq!(answer.status, 200);
    let cache = answer.header("cache-control").unwrap_or_default();
    assert!(cache.contains("max-age"), "{css}: Cache-Control {cache}");

    // Out with the page's button; Back asks the server again, which
    // answers with the sign-in page.
    click(&client, "header form[action='/signout'] button").await;
    arrive(&client, "/signin").await;
    mark(&client).await;
    client.back().await.unwrap();
    let went = left(&client).await;
    let main = text_of(&client, "main").await;
    assert!(
        !main.contains(&heading),
        "Back after signing out showed {heading:?} at {went}"
    );
    assert_eq!(went.path(), "/signin", "Back after signing out: {went}");
    element(&client, "textarea[name=token]").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_token_does_not_sign_in_and_the_icon_is_there() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_server, explorer) = serve_empty(dir.path());
    let write_token = token_for(dir.path(), "acme", &["runs:read", "runs:write"]);
    let (_driver, client) = browser(&chromedriver, (1280, 900)).await;

    // The icon the browser asks for (a 404 in the console before).
    client.goto(&format!("{explorer}signin")).await.unwrap();
    let icon = client
        .execute(
            "return fetch('/favicon.ico').then(r => [r.status, r.headers.get('content-type')])",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(icon, serde_json::json!([200, "image/x-icon"]));

    // A pipeline's token is refused, saying why; no session.
    let went = submit_token(&client, &write_token).await;
    assert_eq!(went.path(), "/signin", "a write token signed in: {went}");
    let alert = text_of(&client, "[role=alert]").await;
    assert!(alert.contains("runs:write"), "{alert}");
    assert!(!has_session(&client).await);
    let answer = exchange(
        &explorer,
        "POST",
        "/signin",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={write_token}"),
    );
    assert_eq!(answer.status, 401);
    assert!(
        !answer.headers.iter().any(|(n, _)| n == "set-cookie"),
        "{:?}",
        answer.headers
    );
    client.close().await.unwrap();
}
