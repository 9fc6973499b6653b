//! What a new user meets in the first hour with `dagtrail serve`: the demo
//! keeps its signing secret across restarts and says how to mint a token
//! for each demo company; the server's log is plain text in a file and
//! JSON on request, with latencies rounded.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `dagtrail serve` run in `dir` (stderr into `dir/stderr.log`), with the
/// lines it printed up to its address, and the address.
fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, SocketAddr, String) {
    let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_dagtrail"));
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .current_dir(dir)
        .env_remove("DAGTRAIL_JWT_SECRET")
        .env_remove("DAGTRAIL_DATA_DIR")
        .env_remove("DAGTRAIL_DATABASE_URL")
        .env_remove("DAGTRAIL_STORE_URL")
        .env_remove("DAGTRAIL_LOG")
        .stdout(Stdio::piped())
        .stderr(stderr);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve exited: {printed}"
        );
        printed.push_str(&line);
        if let Some(rest) = line.split("http://").nth(1)
            && (line.starts_with("dagtrail is serving") || line.starts_with("dagtrail listening"))
        {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // The demo prints more, up to a blank line after its curl lines.
    if printed.contains("is serving") {
        loop {
            let mut line = String::new();
            let ended = stdout.read_line(&mut line).unwrap() == 0;
            if ended || (line.trim().is_empty() && printed.contains("curl")) {
                break;
            }
            printed.push_str(&line);
        }
    }
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    (child, addr, printed)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

async fn status(addr: SocketAddr, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "http://{addr}/api/v1/dags/9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f/runs?date_from=2026-11-01&date_to=2026-11-30"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_keeps_its_secret_and_mints_tokens_for_every_company() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, printed) = serve(dir.path(), &["--demo"], &[]);
    let token = printed
        .split("export TOKEN=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no token in {printed}"))
        .to_owned();
    assert!(
        printed.contains("dagtrail token --company") && printed.contains("acme, globex"),
        "{printed}"
    );
    let secret_file = dir.path().join("dagtrail-data/demo-jwt-secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    }
    // `dagtrail token` finds the demo's secret for the second company.
    let out = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["token", "--company", "globex"])
        .current_dir(dir.path())
        .env_remove("DAGTRAIL_JWT_SECRET")
        .env_remove("DAGTRAIL_DATA_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let globex = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(status(addr, &globex).await, 200);
    assert_eq!(status(addr, &token).await, 200);
    // The printed fleet line shows the demo's DAGs by name.
    assert!(printed.contains("/api/v1/dags'"), "{printed}");
    let fleet = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/dags"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(fleet.contains("\"orders_daily\""), "{fleet}");
    stop(server);

    // After a restart, the token exported before still works.
    let (server, addr, _) = serve(dir.path(), &["--demo"], &[]);
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    assert_eq!(status(addr, &token).await, 200);
    assert_eq!(status(addr, &globex).await, 200);
    stop(server);
}

fn latencies(log: &str) -> Vec<String> {
    log.split("latency_ms")
        .skip(1)
        .map(|rest| {
            rest.trim_start_matches(['=', '"', ':'])
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect()
        })
        .collect()
}

fn significant_digits(number: &str) -> usize {
    number
        .replace('.', "")
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_plain_text_in_a_file_and_json_on_request() {
    let secret = "first-hour-secret-with-enough-length-0123";
    let token = dagtrail::auth::token::mint_hs256(
        &dagtrail::settings::Secret::new(secret),
        "id_company",
        &dagtrail::model::Company::new("acme").unwrap(),
        Duration::from_secs(600),
    )
    .unwrap();
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let (server, addr, _) = serve(
            dir.path(),
            &[],
            &[
                ("DAGTRAIL_JWT_SECRET", secret),
                ("DAGTRAIL_LOG_FORMAT", format),
            ],
        );
        for _ in 0..5 {
            assert_eq!(status(addr, &token).await, 200);
        }
        // A 401's line says why the client was refused.
        let forged = format!("{}x", &token[..token.len() - 1]);
        assert_eq!(status(addr, &forged).await, 401);
        stop(server);
        let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
        assert!(!log.contains('\u{1b}'), "no colour codes in a file: {log}");
        let requests: Vec<&str> = log.lines().filter(|l| l.contains("latency_ms")).collect();
        assert_eq!(requests.len(), 6, "{log}");
        // By its status field: "401" alone also turns up in timestamps
        // and request ids.
        let refused = requests
            .iter()
            .find(|l| l.contains("status=401") || l.contains("\"status\":401"))
            .unwrap_or_else(|| panic!("no 401 line in {log}"));
        assert!(refused.contains("invalid token: "), "{refused}");
        for latency in latencies(&log) {
            assert!(significant_digits(&latency) <= 3, "{latency} in {log}");
        }
        if format == "json" {
            for line in log.lines() {
                let event: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(event["level"].is_string(), "{line}");
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("DAGTRAIL_JWT_SECRET", secret)
        .env("DAGTRAIL_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DAGTRAIL_LOG_FORMAT"));
}
