//! TLS to PostgreSQL through real processes, against a cluster that
//! refuses plain connections (`scripts/services.sh`, `start_tls_postgres`):
//! `sslmode=verify-full` passes with the CA (`sslrootcert`) and fails
//! without it, `require` encrypts without verifying, a client certificate
//! authenticates its role, and a server serves over it.

use crate::support::{Server, Stores, TlsProxy, dagtrail, get, required, seed, serve_fixture_jwks};

fn migrate(url: &str) -> (bool, String) {
    let out = dagtrail(&["migrate"], &[("DAGTRAIL_DATABASE_URL", url)], None);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_verifies_the_server_and_presents_a_client_certificate() {
    let (Some(url), Some(dir)) = (
        required("DAGTRAIL_TEST_TLS_PG_URL"),
        required("DAGTRAIL_TEST_TLS_DIR"),
    ) else {
        return;
    };
    let ca = format!("{dir}/ca.pem");
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={ca}");

    // `certuser` is authenticated by its certificate alone.
    let as_certuser = verified.replacen("postgres@", "certuser@", 1);
    let with_cert = format!("{as_certuser}&sslcert={dir}/client.pem&sslkey={dir}/client.key");
    // First, so that certuser owns what the migration creates.
    let (ok, stderr) = migrate(&with_cert);
    assert!(ok, "client certificate: {stderr}");
    let (ok, _) = migrate(&as_certuser);
    assert!(!ok, "certuser without its certificate must be refused");

    let (ok, stderr) = migrate(&verified);
    assert!(ok, "verify-full with the CA: {stderr}");
    let (ok, stderr) = migrate(&format!("{url}?sslmode=verify-full"));
    assert!(!ok, "verify-full without the CA must fail");
    assert!(
        stderr.to_lowercase().contains("certificate"),
        "the error names the certificate: {stderr}"
    );
    let (ok, stderr) = migrate(&format!("{url}?sslmode=require"));
    assert!(ok, "require: {stderr}");
    // The default (`prefer`) takes TLS when offered: this cluster refuses
    // anything else, as `disable` shows.
    let (ok, stderr) = migrate(&url);
    assert!(ok, "prefer: {stderr}");
    let (ok, stderr) = migrate(&format!("{url}?sslmode=disable"));
    assert!(!ok && stderr.contains("no encryption"), "{stderr}");

    // A server reads the run index over verify-full (over a store that
    // `dagtrail migrate` marked, as /readyz wants).
    let store = tempfile::tempdir().unwrap();
    let store_url = store.path().display().to_string();
    let out = dagtrail(
        &["migrate"],
        &[
            ("DAGTRAIL_DATABASE_URL", &with_cert),
            ("DAGTRAIL_STORE_URL", &store_url),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(&[
        ("DAGTRAIL_DATABASE_URL", with_cert),
        ("DAGTRAIL_STORE_URL", store.path().display().to_string()),
    ]);
    let (status, body) = get(&reqwest::Client::new(), &server.url("/readyz"), "").await;
    assert_eq!(status, 200, "{body}");
}

/// The S3 store and the JWKS over HTTPS with a private CA: trusted through
/// `SSL_CERT_FILE` (the system's bundle otherwise), refused without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_jwks_over_https_trust_a_private_ca_through_ssl_cert_file() {
    let (Some(dir), Some(_)) = (
        required("DAGTRAIL_TEST_TLS_DIR"),
        required("DAGTRAIL_TEST_S3_URL"),
    ) else {
        return;
    };
    let certs = std::path::Path::new(&dir);
    // The JWKS, served plain on loopback behind the TLS proxy.
    let jwks_plain = serve_fixture_jwks().await;
    let jwks_tls = TlsProxy::start(jwks_plain, certs).await;
    // The shared s3s-fs behind the TLS proxy.
    let endpoint: url::Url = std::env::var("AWS_ENDPOINT_URL").unwrap().parse().unwrap();
    let s3_plain = (
        endpoint
            .host_str()
            .unwrap()
            .parse::<std::net::IpAddr>()
            .unwrap(),
        endpoint.port().unwrap(),
    )
        .into();
    let s3_tls = TlsProxy::start(s3_plain, certs).await;

    let work = tempfile::tempdir().unwrap();
    let prefix = format!("tls-{}", uuid::Uuid::new_v4().simple());
    let seeded = seed(
        &Stores {
            database_url: format!("sqlite://{}", work.path().join("runs.db").display()),
            store_url: format!("s3://dagtrail-test/{prefix}"),
        },
        20,
        10,
    )
    .await;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        &std::fs::read("tests/fixtures/keys/rsa_private.pem").unwrap(),
    )
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("k1".into());
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = serde_json::json!({"id_company": seeded.company.as_str(), "exp": exp});
    let rs256 = jsonwebtoken::encode(&header, &claims, &key).unwrap();

    let env = |trust: bool| {
        let mut env = vec![
            (
                "DAGTRAIL_DATABASE_URL",
                format!("sqlite://{}", work.path().join("runs.db").display()),
            ),
            ("DAGTRAIL_STORE_URL", format!("s3://dagtrail-test/{prefix}")),
            (
                "AWS_ENDPOINT_URL",
                format!("https://127.0.0.1:{}", s3_tls.addr.port()),
            ),
            (
                "DAGTRAIL_JWKS_URL",
                format!("https://127.0.0.1:{}/jwks", jwks_tls.addr.port()),
            ),
            ("DAGTRAIL_TIMEOUT_SECS", "5".to_owned()),
        ];
        if trust {
            env.push(("SSL_CERT_FILE", format!("{dir}/ca.pem")));
        }
        env
    };
    let client = reqwest::Client::new();
    let data = format!("{}/phases/extract/data?limit=5", seeded.run_path());

    let trusting = Server::start(&env(true));
    let (status, body) = get(&client, &trusting.url(&data), &rs256).await;
    assert_eq!(status, 200, "with the CA in SSL_CERT_FILE: {body}");
    assert_eq!(get(&client, &trusting.url("/readyz"), "").await.0, 200);
    drop(trusting);

    let distrusting = Server::start(&env(false));
    let (status, body) = get(&client, &distrusting.url(&data), &rs256).await;
    assert_eq!(status, 401, "the key set cannot be fetched: {body}");
    let (status, body) = get(&client, &distrusting.url("/readyz"), "").await;
    assert_eq!(
        status, 503,
        "the store's certificate is not trusted: {body}"
    );
}
