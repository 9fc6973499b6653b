//! Key rotation with an overlap, through real processes: several HMAC
//! secret files, several PEM public keys (one file holding
//! two, plus a second file), and a secret beside a JWKS while moving to
//! it. Tokens are made by `dagtrail token`, with the secret or with a
//! private key (RS256, PS256, ES256, EdDSA), as an operator's smoke test
//! would.

use std::path::Path;

use crate::support::{Server, Stores, dagtrail, get, serve_fixture_jwks};

const KEYS: &str = "tests/fixtures/keys";
const RUNS: &str = "/api/v1/dags/9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f/runs?date_from=2026-11-01&date_to=2026-11-30";

/// A token from `dagtrail token` with these arguments.
fn token(args: &[&str]) -> String {
    let mut all = vec!["token", "--company", "acme"];
    all.extend_from_slice(args);
    let out = dagtrail(&all, &[], None);
    assert!(
        out.status.success(),
        "dagtrail token {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn key(name: &str) -> String {
    Path::new(KEYS).join(name).display().to_string()
}

/// The status and problem detail of the run search with `token`.
async fn search(server: &Server, token: &str) -> (u16, String) {
    get(&reqwest::Client::new(), &server.url(RUNS), token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_secret_file_verifies_until_it_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (new_file, old_file) = (dir.path().join("jwt-new"), dir.path().join("jwt-old"));
    std::fs::write(&new_file, "the-new-secret\n").unwrap();
    // A secret wrapped over two lines (as `openssl rand -base64 64` writes
    // it) is one secret, as before.
    std::fs::write(&old_file, "the-old-\nsecret\n").unwrap();
    let files = format!("{},{}", new_file.display(), old_file.display());
    let mut env = Stores::embedded(&dir.path().join("data")).env();
    env.push(("DAGTRAIL_JWT_SECRET_FILE", files.clone()));
    let new = token(&["--secret", "the-new-secret"]);
    let old = token(&["--secret", "the-old-\nsecret"]);
    let forged = token(&["--secret", "a-guess"]);
    // `dagtrail token` signs with the first file's secret.
    let from_files = token(&["--secret-file", &files]);
    {
        let server = Server::start(&env);
        assert_eq!(search(&server, &new).await.0, 200);
        assert_eq!(search(&server, &old).await.0, 200);
        assert_eq!(search(&server, &from_files).await.0, 200);
        let (status, body) = search(&server, &forged).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("signature does not verify"), "{body}");
    }
    // The rotation ends: the old secret's file leaves the list.
    env.retain(|(k, _)| *k != "DAGTRAIL_JWT_SECRET_FILE");
    env.push(("DAGTRAIL_JWT_SECRET_FILE", new_file.display().to_string()));
    let server = Server::start(&env);
    assert_eq!(search(&server, &new).await.0, 200);
    assert_eq!(search(&server, &old).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_public_keys_verify_tokens_signed_by_each_private_key() {
    let dir = tempfile::tempdir().unwrap();
    // One file with two keys (RSA and P-256), a second with Ed25519.
    let bundle = dir.path().join("keys.pem");
    let rsa = std::fs::read_to_string(key("rsa_public.pem")).unwrap();
    let ec = std::fs::read_to_string(key("ec_public.pem")).unwrap();
    std::fs::write(&bundle, format!("{rsa}{ec}")).unwrap();
    let mut env = Stores::embedded(&dir.path().join("data")).env();
    env.push((
        "DAGTRAIL_JWT_PUBLIC_KEY",
        format!("{},{}", bundle.display(), key("ed_public.pem")),
    ));
    let server = Server::start(&env);
    for (what, args) in [
        ("RS256", vec!["--private-key", "rsa_private.pem"]),
        (
            "PS256",
            vec!["--private-key", "rsa_private.pem", "--algorithm", "PS256"],
        ),
        ("ES256", vec!["--private-key", "ec_private.pem"]),
        ("EdDSA", vec!["--private-key", "ed_private.pem"]),
    ] {
        let path = key(args[1]);
        let mut args = args.clone();
        args[1] = &path;
        let (status, body) = search(&server, &token(&args)).await;
        assert_eq!(status, 200, "{what}: {body}");
    }
    // A key the server was not given, and a secret, are refused.
    let other = token(&["--private-key", &key("rsa_other_private.pem")]);
    let (status, body) = search(&server, &other).await;
    assert_eq!(status, 401);
    assert!(body.contains("signature does not verify"), "{body}");
    let (status, body) = search(&server, &token(&["--secret", "s"])).await;
    assert_eq!(status, 401);
    assert!(body.contains("not allowed"), "{body}");
}

/// Moving from a shared secret to an identity provider's JWKS: both are
/// configured for the overlap, each verifies its own tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_and_a_jwks_verify_side_by_side() {
    let jwks_addr = serve_fixture_jwks().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = Stores::embedded(dir.path()).env();
    env.push(("DAGTRAIL_JWT_SECRET", "the-old-shared-secret".into()));
    env.push(("DAGTRAIL_JWKS_URL", format!("http://{jwks_addr}/jwks")));
    let server = Server::start(&env);
    let shared = token(&["--secret", "the-old-shared-secret"]);
    assert_eq!(search(&server, &shared).await.0, 200);
    let idp = token(&["--private-key", &key("rsa_private.pem"), "--kid", "k1"]);
    assert_eq!(search(&server, &idp).await.0, 200);
    let unknown = token(&["--private-key", &key("rsa_private.pem"), "--kid", "k9"]);
    let (status, body) = search(&server, &unknown).await;
    assert_eq!(status, 401);
    assert!(body.contains("unknown kid"), "{body}");
    let forged = token(&["--secret", "a-guess"]);
    assert_eq!(search(&server, &forged).await.0, 401);
}

#[test]
fn dagtrail_token_refuses_a_public_key_and_an_algorithm_that_does_not_fit() {
    let out = dagtrail(
        &[
            "token",
            "--company",
            "acme",
            "--private-key",
            &key("rsa_public.pem"),
        ],
        &[],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no PEM private key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = dagtrail(
        &[
            "token",
            "--company",
            "acme",
            "--private-key",
            &key("ec_private.pem"),
            "--algorithm",
            "RS256",
        ],
        &[],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not fit"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
