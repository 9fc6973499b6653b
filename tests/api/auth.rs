//! Contract 4.4: every way a token can be wrong is a 401 with the problem
//! body and the right challenge; the company claim is configurable and may
//! be a number; PEM keys and JWKS work; HS/RS confusion and `none` fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use chrono::Utc;
use dagtrail::auth::{KeySource, TokenVerifier, VerifierConfig};
use dagtrail::settings::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::{SECRET, TestApp, call, embedded, embedded_verified_by};

const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/keys/rsa_private.pem");
const RSA_PUBLIC: &str = "tests/fixtures/keys/rsa_public.pem";
/// An RSA key the service is never told of.
const RSA_OTHER_PRIVATE: &[u8] = include_bytes!("../fixtures/keys/rsa_other_private.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../fixtures/keys/ec_private.pem");
const EC_PUBLIC: &str = "tests/fixtures/keys/ec_public.pem";
const ED_PRIVATE: &[u8] = include_bytes!("../fixtures/keys/ed_private.pem");
const ED_PUBLIC: &str = "tests/fixtures/keys/ed_public.pem";

fn claims(company: Value) -> Value {
    json!({"id_company": company, "exp": Utc::now().timestamp() + 600})
}

fn hs(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn status_of(
    app: &TestApp,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, String, Value) {
    let uri = format!("/api/v1/dags/{}/runs/2026-11-27/x", app.dag);
    let reply = call(&app.router, &uri, token, headers).await;
    let challenge = reply.header("www-authenticate").to_owned();
    let body = if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    };
    (reply.status, challenge, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_401() {
    let app = embedded().await;
    let company = app.company.as_str().to_owned();
    let now = Utc::now().timestamp();
    let rsa = std::fs::read(RSA_PUBLIC).unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not-a-token".into()),
        ("garbage base64", "eyJ!!!.eyJ!!!.sig".into()),
        (
            "wrong secret",
            hs(&claims(json!(company)), b"another-secret"),
        ),
        (
            "expired",
            hs(
                &json!({"id_company": company, "exp": now - 3600}),
                SECRET.as_bytes(),
            ),
        ),
        (
            "no exp",
            hs(&json!({"id_company": company}), SECRET.as_bytes()),
        ),
        (
            "nbf in the future",
            hs(
                &json!({"id_company": company, "exp": now + 3600, "nbf": now + 1800}),
                SECRET.as_bytes(),
            ),
        ),
        (
            "no company",
            hs(&json!({"exp": now + 600}), SECRET.as_bytes()),
        ),
        (
            "company of the wrong type",
            hs(&claims(json!(true)), SECRET.as_bytes()),
        ),
        ("company empty", hs(&claims(json!("")), SECRET.as_bytes())),
        ("company '..'", hs(&claims(json!("..")), SECRET.as_bytes())),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims(json!(company)))
            ),
        ),
        (
            "HS256 signed with the RSA public key",
            hs(&claims(json!(company)), &rsa),
        ),
        (
            "RS256 token against an HMAC config",
            encode(
                &Header::new(Algorithm::RS256),
                &claims(json!(company)),
                &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
            )
            .unwrap(),
        ),
        (
            "oversized",
            hs(
                &json!({"id_company": company, "exp": now + 600, "pad": "x".repeat(10_000)}),
                SECRET.as_bytes(),
            ),
        ),
    ];
    for (what, token) in cases {
        let (status, challenge, body) = status_of(&app, Some(&token), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(challenge, "Bearer error=\"invalid_token\"", "{what}");
        assert_eq!(body["status"], 401, "{what}");
        assert_eq!(body["title"], "Unauthorized", "{what}");
    }
    // No token at all, or another scheme: a bare challenge.
    for headers in [vec![], vec![("authorization", "Basic dXNlcjpwYXNz")]] {
        let (status, challenge, body) = status_of(&app, None, &headers).await;
        assert_eq!(
            (status, challenge.as_str()),
            (StatusCode::UNAUTHORIZED, "Bearer")
        );
        assert_eq!(body["status"], 401);
    }
    // `Bearer` with nothing after it presents an (empty) bearer credential.
    for header in ["Bearer", "bearer ", "Bearer    "] {
        let (status, challenge, _) = status_of(&app, None, &[("authorization", header)]).await;
        assert_eq!(
            (status, challenge.as_str()),
            (StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\""),
            "{header:?}"
        );
    }
    // A malformed token says so, in words a client can act on.
    for token in ["not-a-token", "eyJ!!!.eyJ!!!.sig", "a.b.c"] {
        let (_, _, body) = status_of(&app, Some(token), &[]).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("malformed token: expected a JWT")
                && !detail.contains("Base64")
                && !detail.contains("offset"),
            "{detail}"
        );
    }
    // 401 comes before validation: a bad token with bad parameters is still 401.
    let reply = call(
        &app.router,
        "/api/v1/dags/not-a-uuid/runs?limit=0",
        Some("x"),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // A good token gets through to the handler.
    let (status, _, _) = status_of(&app, Some(&app.token()), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The same matrix through the router when tokens are verified with public
/// keys, with an issuer and an audience required: a PEM file, and a JWKS
/// (where the `kid` picks the key). A good token reads the run, so every
/// 401 below is the token's fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_401_with_public_keys_issuer_and_audience() {
    let jwks_url = serve_jwks().await.url;
    let pem = std::fs::read(RSA_PUBLIC).unwrap();
    for (config, source) in [
        ("PEM", KeySource::PublicKeyFile(RSA_PUBLIC.into())),
        ("JWKS", KeySource::JwksUrl(jwks_url)),
    ] {
        let app = embedded_verified_by(verifier(
            source,
            None,
            "id_company",
            Some("https://idp"),
            Some("dagtrail"),
        ))
        .await;
        let now = Utc::now().timestamp();
        let good = json!({
            "id_company": app.company.as_str(), "exp": now + 600,
            "iss": "https://idp", "aud": "dagtrail",
        });
        let with = |field: &str, value: Value| {
            let mut claims = good.clone();
            match value {
                Value::Null => claims.as_object_mut().unwrap().remove(field),
                value => claims.as_object_mut().unwrap().insert(field.into(), value),
            };
            claims
        };
        let sign = |alg: Algorithm, kid: Option<&str>, key: EncodingKey, claims: &Value| {
            let mut header = Header::new(alg);
            header.kid = kid.map(str::to_owned);
            encode(&header, claims, &key).unwrap()
        };
        let rsa = || EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
        let rs = |claims: &Value| sign(Algorithm::RS256, Some("k1"), rsa(), claims);
        let mut cases: Vec<(&str, String)> = vec![
            ("wrong issuer", rs(&with("iss", json!("https://evil")))),
            ("no issuer", rs(&with("iss", Value::Null))),
            ("wrong audience", rs(&with("aud", json!("other")))),
            ("no audience", rs(&with("aud", Value::Null))),
            ("expired", rs(&with("exp", json!(now - 3600)))),
            ("nbf in the future", rs(&with("nbf", json!(now + 1800)))),
            ("no company", rs(&with("id_company", Value::Null))),
            (
                "company of the wrong type",
                rs(&with("id_company", json!([app.company.as_str()]))),
            ),
            (
                "wrong key",
                sign(
                    Algorithm::RS256,
                    Some("k1"),
                    EncodingKey::from_rsa_pem(RSA_OTHER_PRIVATE).unwrap(),
                    &good,
                ),
            ),
            (
                "HS256 signed with the RSA public key",
                sign(
                    Algorithm::HS256,
                    Some("k1"),
                    EncodingKey::from_secret(&pem).unwrap(),
                    &good,
                ),
            ),
            (
                "ES256 with another kind of key",
                sign(
                    Algorithm::ES256,
                    Some("k1"),
                    EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
                    &good,
                ),
            ),
            (
                "alg none",
                format!(
                    "{}.{}.",
                    b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
                    b64(&good)
                ),
            ),
            ("signature of another token", {
                let other = rs(&with("id_company", json!(app.other.as_str())));
                let real = rs(&good);
                let (head, _) = real.rsplit_once('.').unwrap();
                let (_, signature) = other.rsplit_once('.').unwrap();
                format!("{head}.{signature}")
            }),
        ];
        if config == "JWKS" {
            cases.push(("kid the key set does not have", {
                sign(Algorithm::RS256, Some("k2"), rsa(), &good)
            }));
            cases.push(("no kid", sign(Algorithm::RS256, None, rsa(), &good)));
        }
        for (what, token) in cases {
            let reply = call(&app.router, &app.run_url(), Some(&token), &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{config}: {what}");
            assert_eq!(
                reply.header("www-authenticate"),
                "Bearer error=\"invalid_token\"",
                "{config}: {what}"
            );
            assert_eq!(
                reply.header("content-type"),
                "application/problem+json",
                "{config}: {what}"
            );
            let body = reply.json();
            assert_eq!(body["status"], 401, "{config}: {what}");
            assert_eq!(body["title"], "Unauthorized", "{config}: {what}");
        }
        let reply = call(&app.router, &app.run_url(), Some(&rs(&good)), &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{config}: the good token");
    }
}

fn config(
    source: KeySource,
    algorithms: Option<Vec<&str>>,
    claim: &str,
    iss: Option<&str>,
    aud: Option<&str>,
) -> VerifierConfig {
    VerifierConfig {
        sources: vec![source],
        algorithms: algorithms.map(|a| a.into_iter().map(str::to_owned).collect()),
        issuer: iss.map(str::to_owned),
        audience: aud.map(str::to_owned),
        company_claim: claim.to_owned(),
        jwks_refetch_interval: dagtrail::auth::JWKS_REFETCH_INTERVAL,
    }
}

fn verifier(
    source: KeySource,
    algorithms: Option<Vec<&str>>,
    claim: &str,
    iss: Option<&str>,
    aud: Option<&str>,
) -> TokenVerifier {
    TokenVerifier::new(config(source, algorithms, claim, iss, aud)).unwrap()
}

async fn verify(v: &TokenVerifier, token: &str) -> Result<String, String> {
    v.verify(token)
        .await
        .map(|c| c.to_string())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn public_keys_algorithms_issuer_audience_and_claim_name() {
    let now = Utc::now().timestamp();
    let rsa = verifier(
        KeySource::PublicKeyFile(RSA_PUBLIC.into()),
        None,
        "tenant",
        Some("https://idp"),
        Some("dagtrail"),
    );
    let good = json!({"tenant": 4711, "exp": now + 600, "iss": "https://idp", "aud": "dagtrail"});
    let rs = |alg: Algorithm, c: &Value| {
        encode(
            &Header::new(alg),
            c,
            &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        verify(&rsa, &rs(Algorithm::RS256, &good)).await.unwrap(),
        "4711"
    );
    assert_eq!(
        verify(&rsa, &rs(Algorithm::PS384, &good)).await.unwrap(),
        "4711"
    );
    let wrong_iss =
        json!({"tenant": "x", "exp": now + 600, "iss": "https://evil", "aud": "dagtrail"});
    assert!(
        verify(&rsa, &rs(Algorithm::RS256, &wrong_iss))
            .await
            .is_err()
    );
    let wrong_aud = json!({"tenant": "x", "exp": now + 600, "iss": "https://idp", "aud": "other"});
    assert!(
        verify(&rsa, &rs(Algorithm::RS256, &wrong_aud))
            .await
            .is_err()
    );
    let pem = std::fs::read(RSA_PUBLIC).unwrap();
    assert!(
        verify(&rsa, &hs(&good, &pem)).await.is_err(),
        "HS/RS confusion"
    );
    let only_rs512 = verifier(
        KeySource::PublicKeyFile(RSA_PUBLIC.into()),
        Some(vec!["RS512"]),
        "tenant",
        None,
        None,
    );
    assert!(
        verify(&only_rs512, &rs(Algorithm::RS256, &good))
            .await
            .is_err(),
        "algorithm not configured"
    );
    assert!(
        verify(&only_rs512, &rs(Algorithm::RS512, &good))
            .await
            .is_ok()
    );
    assert!(
        TokenVerifier::new(config(
            KeySource::PublicKeyFile(RSA_PUBLIC.into()),
            Some(vec!["HS256"]),
            "id_company",
            None,
            None,
        ))
        .is_err(),
        "HS256 does not fit an RSA key"
    );
    let ec = verifier(
        KeySource::PublicKeyFile(EC_PUBLIC.into()),
        None,
        "id_company",
        None,
        None,
    );
    let es = encode(
        &Header::new(Algorithm::ES256),
        &claims(json!("acme")),
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    )
    .unwrap();
    assert_eq!(verify(&ec, &es).await.unwrap(), "acme");
    let ed = verifier(
        KeySource::PublicKeyFile(ED_PUBLIC.into()),
        None,
        "id_company",
        None,
        None,
    );
    let eddsa = encode(
        &Header::new(Algorithm::EdDSA),
        &claims(json!("acme")),
        &EncodingKey::from_ed_pem(ED_PRIVATE).unwrap(),
    )
    .unwrap();
    assert_eq!(verify(&ed, &eddsa).await.unwrap(), "acme");
    assert!(verify(&ec, &eddsa).await.is_err());
    let hmac = verifier(
        KeySource::Secret(Secret::new("s")),
        None,
        "id_company",
        None,
        None,
    );
    assert!(verify(&hmac, &es).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_keys_are_fetched_cached_and_refetched_for_unknown_kids() {
    let JwksServer { url, fetches, .. } = serve_jwks().await;
    let v = verifier(KeySource::JwksUrl(url), None, "id_company", None, None);
    let sign = acme_rs256;
    assert_eq!(verify(&v, &sign("k1")).await.unwrap(), "acme");
    assert_eq!(verify(&v, &sign("k1")).await.unwrap(), "acme");
    assert_eq!(fetches.load(SeqCst), 1, "keys are cached");
    assert!(verify(&v, &sign("k2")).await.is_err());
    assert!(verify(&v, &sign("k3")).await.is_err());
    assert_eq!(
        fetches.load(SeqCst),
        1,
        "unknown kids refetch at most once per interval"
    );
    let mut no_kid = Header::new(Algorithm::RS256);
    no_kid.kid = None;
    let token = encode(
        &no_kid,
        &claims(json!("acme")),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap();
    assert!(verify(&v, &token).await.is_err());
}

/// A refetch of the key set (caused by an unknown `kid`) that hangs does
/// not hold up tokens whose `kid` is known; the unknown one waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_kids_do_not_wait_for_a_jwks_refetch() {
    let jwks = serve_jwks().await;
    let v = TokenVerifier::new(VerifierConfig {
        jwks_refetch_interval: Duration::ZERO,
        ..config(
            KeySource::JwksUrl(jwks.url.clone()),
            None,
            "id_company",
            None,
            None,
        )
    })
    .unwrap();
    let sign = acme_rs256;
    assert_eq!(verify(&v, &sign("k1")).await.unwrap(), "acme");
    jwks.hold.store(true, SeqCst);
    let unknown = tokio::spawn({
        let (v, token) = (v.clone(), sign("k9"));
        async move { verify(&v, &token).await }
    });
    while jwks.fetches.load(SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The refetch hangs until the gate opens; a known kid answers anyway.
    let known = tokio::time::timeout(Duration::from_secs(20), verify(&v, &sign("k1"))).await;
    assert_eq!(
        known.expect("a known kid waited for the refetch").unwrap(),
        "acme"
    );
    assert!(
        !unknown.is_finished(),
        "the refetch ended before its gate opened: the JWKS client gave up \
         (5 s) while the known kid waited for it"
    );
    jwks.gate.add_permits(1);
    assert!(unknown.await.unwrap().is_err(), "k9 is not in the set");
}

/// A token for company `acme`, signed with the test RSA key under `kid`.
fn acme_rs256(kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    encode(
        &header,
        &claims(json!("acme")),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap()
}

/// A JWKS with the test RSA key as `k1`, served on loopback.
struct JwksServer {
    url: String,
    /// How often it was asked for the keys.
    fetches: Arc<AtomicUsize>,
    /// While set, each answer waits for a permit of `gate`.
    hold: Arc<AtomicBool>,
    gate: Arc<Semaphore>,
}

async fn serve_jwks() -> JwksServer {
    let pem = std::fs::read_to_string(RSA_PUBLIC).unwrap();
    let der = pem::parse(pem.as_bytes()).unwrap();
    // n and e of the RSA public key, from its SubjectPublicKeyInfo.
    let (n, e) = rsa_components(der.contents());
    let server = JwksServer {
        url: String::new(),
        fetches: Arc::new(AtomicUsize::new(0)),
        hold: Arc::new(AtomicBool::new(false)),
        gate: Arc::new(Semaphore::new(0)),
    };
    let (fetches, hold, gate) = (
        Arc::clone(&server.fetches),
        Arc::clone(&server.hold),
        Arc::clone(&server.gate),
    );
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": n, "e": e}]});
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            fetches.fetch_add(1, SeqCst);
            let (body, hold, gate) = (jwks.clone(), hold.load(SeqCst), Arc::clone(&gate));
            async move {
                if hold {
                    gate.acquire().await.unwrap().forget();
                }
                axum::Json(body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    JwksServer {
        url: format!("http://{addr}/jwks"),
        ..server
    }
}

/// Reads the modulus and exponent out of an RSA SubjectPublicKeyInfo DER
/// (enough ASN.1 for a test), base64url-encoded as a JWK wants them.
fn rsa_components(spki: &[u8]) -> (String, String) {
    fn read_len(d: &[u8], i: &mut usize) -> usize {
        let first = d[*i] as usize;
        *i += 1;
        if first < 0x80 {
            return first;
        }
        let bytes = first & 0x7f;
        let mut len = 0;
        for _ in 0..bytes {
            len = (len << 8) | d[*i] as usize;
            *i += 1;
        }
        len
    }
    fn integer(d: &[u8], i: &mut usize) -> Vec<u8> {
        assert_eq!(d[*i], 0x02);
        *i += 1;
        let len = read_len(d, i);
        let mut v = d[*i..*i + len].to_vec();
        *i += len;
        while v.len() > 1 && v[0] == 0 {
            v.remove(0);
        }
        v
    }
    // SEQUENCE { SEQUENCE { OID, NULL }, BIT STRING { unused-bits byte, RSAPublicKey } }
    let mut i = 0;
    assert_eq!(spki[i], 0x30);
    i += 1;
    let _ = read_len(spki, &mut i);
    assert_eq!(spki[i], 0x30);
    i += 1;
    let algorithm = read_len(spki, &mut i);
    i += algorithm;
    assert_eq!(spki[i], 0x03);
    i += 1;
    let _ = read_len(spki, &mut i);
    i += 1;
    assert_eq!(spki[i], 0x30);
    i += 1;
    let _ = read_len(spki, &mut i);
    let n = integer(spki, &mut i);
    let e = integer(spki, &mut i);
    let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    (b(&n), b(&e))
}

/// `DAGTRAIL_JWT_MAX_TTL`: a token that lives longer than allowed is a 401
/// saying so; a shorter one reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_living_past_the_maximum_are_refused() {
    let app = embedded_verified_by(
        crate::support::verifier().with_max_ttl(Some(std::time::Duration::from_secs(3600))),
    )
    .await;
    let now = Utc::now().timestamp();
    let company = app.company.as_str();
    let run = app.run_url();
    for (claims, expected) in [
        (json!({"id_company": company, "exp": now + 1800}), 200),
        (
            json!({"id_company": company, "iat": now - 60, "exp": now + 3000}),
            200,
        ),
        (json!({"id_company": company, "exp": now + 7200}), 401),
        (
            json!({"id_company": company, "iat": now, "exp": now + 3601 + 60}),
            401,
        ),
    ] {
        let token = hs(&claims, SECRET.as_bytes());
        let reply = app.call(&run, Some(&token), &[]).await;
        assert_eq!(reply.status.as_u16(), expected, "{claims}");
        if expected == 401 {
            assert!(
                reply.json()["detail"]
                    .as_str()
                    .unwrap()
                    .contains("lives longer")
            );
        }
    }
}

/// A key removed from the JWKS stops verifying once the set's age is past
/// (the key server's `Cache-Control: max-age`, here 1 s): revocation
/// without a restart. A key added is picked up the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_removed_from_the_jwks_stop_verifying_within_its_max_age() {
    let pem = std::fs::read_to_string(RSA_PUBLIC).unwrap();
    let der = pem::parse(pem.as_bytes()).unwrap();
    let (n, e) = rsa_components(der.contents());
    let key =
        |kid: &str| json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": n, "e": e});
    let set = Arc::new(std::sync::Mutex::new(json!({"keys": [key("old")]})));
    let served = Arc::clone(&set);
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let body = served.lock().unwrap().clone();
            async move { ([("cache-control", "public, max-age=1")], axum::Json(body)) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let v = verifier(
        KeySource::JwksUrl(format!("http://{addr}/jwks")),
        None,
        "id_company",
        None,
        None,
    );
    assert_eq!(verify(&v, &acme_rs256("old")).await.unwrap(), "acme");
    // Rotated: "old" revoked, "new" in.
    *set.lock().unwrap() = json!({"keys": [key("new")]});
    assert_eq!(
        verify(&v, &acme_rs256("old")).await.unwrap(),
        "acme",
        "cached until its age passes"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused = verify(&v, &acme_rs256("old")).await.unwrap_err();
    assert!(refused.contains("unknown kid"), "{refused}");
    assert_eq!(verify(&v, &acme_rs256("new")).await.unwrap(), "acme");
}

/// A private key given as the public key is refused at start: it would
/// verify, and it has no business on the server.
#[test]
fn a_private_key_is_not_taken_for_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.pem");
    std::fs::write(&path, RSA_PRIVATE).unwrap();
    let error = TokenVerifier::new(VerifierConfig {
        sources: vec![KeySource::PublicKeyFile(path)],
        algorithms: None,
        issuer: None,
        audience: None,
        company_claim: "id_company".into(),
        jwks_refetch_interval: dagtrail::auth::JWKS_REFETCH_INTERVAL,
    })
    .unwrap_err();
    assert!(error.to_string().contains("private key"), "{error}");
}
