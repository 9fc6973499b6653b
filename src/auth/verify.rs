//! Verifying bearer tokens (contract 4.4): HS256/384/512 with a secret,
//! RS*/PS*/ES*/EdDSA with a PEM public key, or keys from a JWKS URL. The
//! allowed algorithms are explicit (configured, or derived from the key
//! kind), so `none` and HS/RS confusion are rejected; `exp` is required,
//! `nbf` checked when present, `iss` and `aud` when configured.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};

use crate::model::Company;
use crate::settings::Secret;

/// Longest token accepted, in bytes: far above any real token, far below
/// what would cost anything to reject.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Shortest interval between two JWKS refetches caused by unknown `kid`s,
/// unless configured.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No bearer token at all (no header, or another scheme).
    #[error("missing bearer token")]
    Missing,
    /// A token that is malformed, expired, badly signed, ...
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// The verifier could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No way to verify tokens is configured.
    #[error(
        "no way to verify tokens: set DAGTRAIL_JWT_SECRET, DAGTRAIL_JWT_PUBLIC_KEY or DAGTRAIL_JWKS_URL"
    )]
    NoKey,
    /// More than one JWKS URL is configured.
    #[error("set one DAGTRAIL_JWKS_URL at most")]
    SeveralJwks,
    /// The PEM file cannot be read or holds something else than supported
    /// public keys.
    #[error("cannot use DAGTRAIL_JWT_PUBLIC_KEY {path}: {reason}")]
    BadPublicKey {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An algorithm name is unknown, or does not fit the key.
    #[error("DAGTRAIL_JWT_ALGORITHMS: {0}")]
    BadAlgorithms(String),
    /// The JWKS URL is not http(s).
    #[error("DAGTRAIL_JWKS_URL must be an http:// or https:// URL")]
    BadJwksUrl,
}

/// Where verification keys come from; a verifier takes several, so that
/// keys can be rotated with an overlap (docs/DEPLOYMENT.md, "Key
/// rotation").
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A shared HMAC secret.
    Secret(Secret),
    /// A PEM file of one or more public keys (RSA, P-256, P-384, Ed25519).
    PublicKeyFile(std::path::PathBuf),
    /// A JWKS endpoint.
    JwksUrl(String),
}

/// Verifier settings.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The key sources: secrets and PEM keys are tried in the order given
    /// (those whose algorithms fit the token's), a JWKS by `kid`.
    pub sources: Vec<KeySource>,
    /// Allowed algorithms; `None` derives them from the key kind.
    pub algorithms: Option<Vec<String>>,
    /// Required issuer.
    pub issuer: Option<String>,
    /// Required audience.
    pub audience: Option<String>,
    /// Claim that names the company.
    pub company_claim: String,
    /// Shortest interval between two JWKS fetches caused by unknown `kid`s
    /// (bounds what tokens with made-up `kid`s cost the key server).
    pub jwks_refetch_interval: Duration,
}

/// The kinds of keys tokens are signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    Hmac,
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyKind {
    /// The algorithms a key of this kind signs with, the usual first.
    pub(super) fn default_algorithms(self) -> Vec<Algorithm> {
        use Algorithm::*;
        match self {
            KeyKind::Hmac => vec![HS256, HS384, HS512],
            KeyKind::Rsa => vec![RS256, RS384, RS512, PS256, PS384, PS512],
            KeyKind::EcP256 => vec![ES256],
            KeyKind::EcP384 => vec![ES384],
            KeyKind::Ed25519 => vec![EdDSA],
        }
    }
}

/// Reads the key kind from a PEM's algorithm identifier (the OIDs of
/// rsaEncryption, prime256v1, secp384r1 and Ed25519 in the DER).
pub(super) fn pem_kind(der: &[u8]) -> Option<KeyKind> {
    const RSA: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    let has = |oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
    [
        (RSA, KeyKind::Rsa),
        (P256, KeyKind::EcP256),
        (P384, KeyKind::EcP384),
        (ED25519, KeyKind::Ed25519),
    ]
    .into_iter()
    .find(|(oid, _)| has(oid))
    .map(|(_, kind)| kind)
}

fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, ConfigError> {
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            Algorithm::from_str(n)
                .map_err(|_| ConfigError::BadAlgorithms(format!("unknown algorithm {n:?}")))
        })
        .collect()
}

type JwksKeys = HashMap<String, (DecodingKey, Vec<Algorithm>)>;

/// How long fetched JWKS keys are used before they are fetched again, when
/// the key server's `Cache-Control` says nothing: the longest a key
/// removed from the set (revoked) keeps verifying tokens.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// The bounds put on a key server's `Cache-Control: max-age`.
const JWKS_MAX_AGE_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(3600));

/// The key server's `max-age` (bounded), or [`JWKS_MAX_AGE`].
fn jwks_max_age(cache_control: Option<&str>) -> Duration {
    let age = cache_control.and_then(|value| {
        value.split(',').find_map(|directive| {
            let (name, secs) = directive.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| secs.trim().parse::<u64>().ok())
                .flatten()
        })
    });
    let (lo, hi) = JWKS_MAX_AGE_BOUNDS;
    age.map_or(JWKS_MAX_AGE, |secs| Duration::from_secs(secs).clamp(lo, hi))
}

/// A secret or a PEM public key, and the algorithms it verifies.
struct FixedKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// Every key a verifier holds.
struct Keys {
    /// Secrets and PEM keys, in the order configured.
    fixed: Vec<FixedKey>,
    /// A JWKS endpoint, when configured.
    jwks: Option<Jwks>,
}

/// A JWKS endpoint and the keys last fetched from it.
struct Jwks {
    url: String,
    client: reqwest::Client,
    allowed: Option<Vec<Algorithm>>,
    /// The keys last fetched; read by every request, written after a
    /// fetch, never held across one.
    keys: RwLock<JwksKeys>,
    /// Until when the keys are fresh (then the next request refreshes
    /// them, so removed keys stop verifying).
    fresh_until: RwLock<Option<Instant>>,
    /// When the last fetch started; held while a fetch runs, so there is
    /// one fetch at a time and requests with known `kid`s never wait for
    /// it.
    fetched: Mutex<Option<Instant>>,
    refetch_interval: Duration,
}

/// Verifies bearer tokens and extracts the company.
#[derive(Clone)]
pub struct TokenVerifier {
    max_ttl: Option<Duration>,
    keys: Arc<Keys>,
    issuer: Option<String>,
    audience: Option<String>,
    company_claim: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("company_claim", &self.company_claim)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused, in words a client can act on (not the
/// decoder's internals: "Base64 error: Invalid symbol 46, offset 3").
fn token_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as Kind;
    invalid(match e.kind() {
        Kind::InvalidToken | Kind::Base64(_) | Kind::Json(_) | Kind::Utf8(_) => {
            "malformed token: expected a JWT (three base64url-encoded parts separated by dots)"
                .to_owned()
        }
        Kind::InvalidSignature => "the token's signature does not verify".to_owned(),
        Kind::ExpiredSignature => "the token has expired (exp)".to_owned(),
        Kind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
        Kind::InvalidIssuer => "the token's issuer (iss) is not the one configured".to_owned(),
        Kind::InvalidAudience => "the token's audience (aud) is not the one configured".to_owned(),
        Kind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        Kind::InvalidClaimFormat(claim) => format!("the token's {claim} claim is malformed"),
        Kind::InvalidAlgorithm
        | Kind::InvalidAlgorithmName
        | Kind::MissingAlgorithm
        | Kind::UnsupportedAlgorithm => "the token's algorithm is not allowed".to_owned(),
        _ => "the token cannot be verified with the configured key".to_owned(),
    })
}

fn invalid(reason: impl Into<String>) -> AuthError {
    AuthError::Invalid(reason.into())
}

impl TokenVerifier {
    /// Builds a verifier; a PEM key is read and checked now.
    ///
    /// # Errors
    ///
    /// [`ConfigError::BadAlgorithms`] when an algorithm name is unknown,
    /// none is given, or one does not fit the key (HMAC with a JWKS among
    /// them); [`ConfigError::BadPublicKey`] when the PEM file cannot be
    /// read or is not a supported public key; [`ConfigError::BadJwksUrl`]
    /// when the JWKS URL is not http(s) or its client cannot be built;
    /// [`ConfigError::NoKey`] when the secret cannot be used as a key.
    pub fn new(config: VerifierConfig) -> Result<Self, ConfigError> {
        let configured = config
            .algorithms
            .as_deref()
            .map(parse_algorithms)
            .transpose()?;
        if configured.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::BadAlgorithms("no algorithm given".into()));
        }
        let mut fixed = Vec::new();
        let mut jwks = None;
        for source in &config.sources {
            match source {
                KeySource::Secret(secret) => {
                    let key = DecodingKey::from_secret(secret.expose().as_bytes())
                        .map_err(|_| ConfigError::NoKey)?;
                    fixed.push(FixedKey {
                        key,
                        algorithms: Self::allowed(KeyKind::Hmac, configured.as_deref())?,
                    });
                }
                KeySource::PublicKeyFile(path) => {
                    for (key, kind) in public_keys(path)? {
                        fixed.push(FixedKey {
                            key,
                            algorithms: Self::allowed(kind, configured.as_deref())?,
                        });
                    }
                }
                KeySource::JwksUrl(url) => {
                    if jwks.is_some() {
                        return Err(ConfigError::SeveralJwks);
                    }
                    jwks = Some(Jwks::new(
                        url,
                        configured.clone(),
                        config.jwks_refetch_interval,
                    )?);
                }
            }
        }
        if fixed.is_empty() && jwks.is_none() {
            return Err(ConfigError::NoKey);
        }
        // Every algorithm configured must fit a key: one that fits none is
        // a typo that would refuse every token signed with it.
        if let Some(algs) = &configured
            && let Some(bad) = algs.iter().find(|a| {
                let fits_a_fixed_key = fixed.iter().any(|k| k.algorithms.contains(a));
                let fits_the_jwks = jwks.is_some() && !is_hmac(**a);
                !fits_a_fixed_key && !fits_the_jwks
            })
        {
            return Err(ConfigError::BadAlgorithms(
                if is_hmac(*bad) && jwks.is_some() {
                    "HMAC algorithms cannot be used with a JWKS".into()
                } else {
                    format!("{bad:?} does not fit the configured key")
                },
            ));
        }
        Ok(Self {
            max_ttl: None,
            keys: Arc::new(Keys { fixed, jwks }),
            issuer: config.issuer,
            audience: config.audience,
            company_claim: config.company_claim,
        })
    }

    /// The algorithms a key of `kind` verifies: those that fit the kind,
    /// less those `DAGTRAIL_JWT_ALGORITHMS` leaves out.
    fn allowed(
        kind: KeyKind,
        configured: Option<&[Algorithm]>,
    ) -> Result<Vec<Algorithm>, ConfigError> {
        let mut fitting = kind.default_algorithms();
        if let Some(algs) = configured {
            fitting.retain(|a| algs.contains(a));
            if fitting.is_empty() {
                return Err(ConfigError::BadAlgorithms(format!(
                    "none of {algs:?} fits a configured {kind:?} key"
                )));
            }
        }
        Ok(fitting)
    }

    /// Refuses tokens that live longer than `max` (`DAGTRAIL_JWT_MAX_TTL`):
    /// `exp` after `iat` by more than `max`, or, without `iat`, `exp` more
    /// than `max` from now. `None` (the default) accepts any lifetime.
    #[must_use]
    pub fn with_max_ttl(mut self, max: Option<Duration>) -> Self {
        self.max_ttl = max;
        self
    }

    /// What every token must pass, signed with `alg`: `exp` (and `iss`,
    /// `aud` when configured) present, times within 30 s of leeway.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        // A configured issuer or audience must also be present: the crate
        // checks `iss`/`aud` only when the token carries them, so without
        // this a token that leaves them out would pass the check.
        let mut required = vec!["exp"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation
    }

    /// Whether tokens can be verified now (`/readyz`): always with a
    /// secret or a PEM key (with a JWKS beside them or not); with a JWKS
    /// alone, when its keys are loaded, fetching them when none are and a
    /// fetch is due (at most once per refetch interval, as for unknown
    /// `kid`s).
    ///
    /// # Errors
    ///
    /// Why no key is loaded: the fetch failed, or the set holds no key
    /// dagtrail can use.
    pub async fn ready(&self) -> Result<(), String> {
        match &self.keys.jwks {
            None => Ok(()),
            // With secrets or PEM keys beside it (a migration to the JWKS),
            // their tokens verify whatever the key server does; every
            // server depends on that one key server alike, so taking them
            // all out of the balancer would help no one.
            Some(_) if !self.keys.fixed.is_empty() => Ok(()),
            Some(jwks) => jwks.ready().await,
        }
    }

    /// Verifies a token and returns the company it acts for.
    ///
    /// # Errors
    ///
    /// As [`TokenVerifier::verify_principal`].
    pub async fn verify(&self, token: &str) -> Result<Company, AuthError> {
        Ok(self.verify_principal(token).await?.company)
    }

    /// Verifies a token and returns the company it acts for and the
    /// scopes it grants.
    ///
    /// # Errors
    ///
    /// [`AuthError::Invalid`], with a reason a client can act on, when the
    /// token is over [`MAX_TOKEN_BYTES`], malformed, signed with an
    /// algorithm or key (JWKS `kid`) not allowed, badly signed, expired or
    /// not yet valid, lacks a required `exp`, `iss` or `aud`, its company
    /// claim is missing or not a valid company, or its `scope` claim is
    /// neither a string nor a list of strings.
    pub async fn verify_principal(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("token too large"));
        }
        let header = decode_header(token).map_err(|e| token_error(&e))?;
        let validation = self.validation(header.alg);
        // A JWKS key named by the token's kid first, then the fixed keys
        // whose algorithms fit, in the order configured: during a rotation
        // the new key verifies new tokens, the old one the tokens signed
        // before, until it is removed.
        let mut candidates: Vec<(DecodingKey, Vec<Algorithm>)> = Vec::new();
        let mut jwks_refusal = None;
        if let Some(jwks) = &self.keys.jwks
            && !is_hmac(header.alg)
        {
            match jwks.key(header.kid.as_deref(), header.alg).await {
                Ok(found) => candidates.push(found),
                Err(e) => jwks_refusal = Some(e),
            }
        }
        candidates.extend(
            self.keys
                .fixed
                .iter()
                .filter(|k| k.algorithms.contains(&header.alg))
                .map(|k| (k.key.clone(), k.algorithms.clone())),
        );
        if candidates.is_empty() {
            return Err(jwks_refusal
                .unwrap_or_else(|| invalid(format!("algorithm {:?} is not allowed", header.alg))));
        }
        let mut refused = None;
        let mut verified = None;
        for (key, algorithms) in candidates {
            let mut validation = validation.clone();
            validation.algorithms = algorithms;
            match decode::<Map<String, Value>>(token, &key, &validation) {
                Ok(data) => {
                    verified = Some(data);
                    break;
                }
                // Another key may have signed it.
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                    refused = Some(e);
                }
                // The signature was checked and held, or the token is
                // malformed: no other key changes that.
                Err(e) => return Err(token_error(&e)),
            }
        }
        let data = match (verified, refused) {
            (Some(data), _) => data,
            (None, Some(e)) => return Err(token_error(&e)),
            (None, None) => {
                return Err(invalid(
                    "the token cannot be verified with the configured key",
                ));
            }
        };
        duplicate_free(token)?;
        if let Some(max) = self.max_ttl {
            let exp = data
                .claims
                .get("exp")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MAX);
            let from = data
                .claims
                .get("iat")
                .and_then(Value::as_i64)
                .unwrap_or_else(|| chrono::Utc::now().timestamp());
            let max_secs = i64::try_from(max.as_secs()).unwrap_or(i64::MAX);
            if exp.saturating_sub(from) > max_secs {
                return Err(invalid(format!(
                    "the token lives longer than the {} s this server accepts (exp - iat)",
                    max.as_secs()
                )));
            }
        }
        let company = match data.claims.get(&self.company_claim) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            Some(_) => {
                return Err(invalid(format!(
                    "claim {} must be a string or an integer",
                    self.company_claim
                )));
            }
            None => {
                return Err(invalid(format!(
                    "token has no {} claim",
                    self.company_claim
                )));
            }
        };
        let company = Company::new(company).map_err(|e| invalid(e.to_string()))?;
        let scopes = Scopes::of_claims(&data.claims)?;
        Ok(Principal { company, scopes })
    }
}

/// Refuses a token whose claims name a key twice: JSON leaves the
/// meaning of `{"scope": "x", "scope": "runs:write"}` to the reader (the
/// decoder keeps the last; another verifier may keep the first), and a
/// token must mean one thing wherever it is read.
///
/// # Errors
///
/// [`AuthError::Invalid`] naming the key.
fn duplicate_free(token: &str) -> Result<(), AuthError> {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .ok_or_else(|| invalid("the token's claims cannot be read"))?;
    match crate::ingest::limits::check_json_shape(&payload, 64) {
        Err(crate::ingest::limits::JsonShapeFault::DuplicateKey(key)) => {
            Err(invalid(format!("the token's claims name {key:?} twice")))
        }
        Err(crate::ingest::limits::JsonShapeFault::TooDeep(_)) => {
            Err(invalid("the token's claims are nested too deep"))
        }
        _ => Ok(()),
    }
}

/// The scope that lets a token write runs (issue 15): open, upload to,
/// commit and abort attempts, record events and DAG catalog entries.
pub const RUNS_WRITE: &str = "runs:write";

/// Who a verified token acts for, and what it may do beyond reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant: every read and write is confined to it.
    pub company: Company,
    /// The OAuth 2 scopes the token grants.
    pub scopes: Scopes,
}

/// The OAuth 2 scopes a token grants (RFC 6749 section 3.3): its `scope`
/// claim, space-separated as RFC 8693 section 4.2 and RFC 9068 write it.
/// Reading needs no scope (tokens minted before scopes existed keep
/// reading); writing needs [`RUNS_WRITE`]. Identity providers that write
/// the scopes as a JSON list, or under `scp` (Okta, Microsoft Entra), are
/// read too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(std::collections::BTreeSet<String>);

impl Scopes {
    /// The scopes of a token's claims: `scope`, else `scp`; none without
    /// either.
    ///
    /// # Errors
    ///
    /// [`AuthError::Invalid`] when the claim is neither a string nor a list
    /// of strings.
    pub fn of_claims(claims: &Map<String, Value>) -> Result<Self, AuthError> {
        // A claim that is null is no claim (`"scope": null` beside `scp`
        // must not lock a token out).
        let Some((name, claim)) = ["scope", "scp"]
            .into_iter()
            .find_map(|name| claims.get(name).filter(|c| !c.is_null()).map(|c| (name, c)))
        else {
            return Ok(Self::default());
        };
        let words: Vec<&str> = match claim {
            // RFC 6749 section 3.3: scope tokens are separated by spaces
            // (%x20) alone; a tab or form feed is part of a token, so
            // `runs:read\truns:write` grants neither.
            Value::String(s) => s.split(' ').filter(|w| !w.is_empty()).collect(),
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| invalid(format!("claim {name} must hold strings")))
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(invalid(format!(
                    "claim {name} must be a space-separated string or a list of strings"
                )));
            }
        };
        Ok(Self(words.into_iter().map(str::to_owned).collect()))
    }

    /// Whether `scope` is granted.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }
}

/// Whether `alg` is an HMAC algorithm (verified with a shared secret).
fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The public keys of a PEM file (one or more blocks) and their kinds.
///
/// # Errors
///
/// [`ConfigError::BadPublicKey`] when the file cannot be read, holds no
/// key, a private key, or a key of an unsupported kind.
fn public_keys(path: &std::path::Path) -> Result<Vec<(DecodingKey, KeyKind)>, ConfigError> {
    let bad = |reason: String| ConfigError::BadPublicKey {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let blocks = pem::parse_many(&text).map_err(|e| bad(e.to_string()))?;
    if blocks.is_empty() {
        return Err(bad("no PEM block in it".into()));
    }
    let mut keys = Vec::new();
    for (n, block) in blocks.iter().enumerate() {
        let bad = |reason: &str| bad(format!("key {} of {}: {reason}", n + 1, blocks.len()));
        if block.tag().contains("PRIVATE") {
            return Err(bad(
                "this is a private key: give the public key (openssl pkey -in key.pem -pubout), and keep the private key off the server",
            ));
        }
        let kind = pem_kind(block.contents())
            .ok_or_else(|| bad("not an RSA, P-256, P-384 or Ed25519 public key"))?;
        let one = pem::encode(block);
        let key = match kind {
            KeyKind::Rsa => DecodingKey::from_rsa_pem(one.as_bytes()),
            KeyKind::EcP256 | KeyKind::EcP384 => DecodingKey::from_ec_pem(one.as_bytes()),
            KeyKind::Ed25519 => DecodingKey::from_ed_pem(one.as_bytes()),
            KeyKind::Hmac => return Err(bad("not a public key")),
        }
        .map_err(|e| bad(&e.to_string()))?;
        keys.push((key, kind));
    }
    Ok(keys)
}

impl Jwks {
    fn new(
        url: &str,
        allowed: Option<Vec<Algorithm>>,
        refetch_interval: Duration,
    ) -> Result<Self, ConfigError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::BadJwksUrl);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|_| ConfigError::BadJwksUrl)?;
        Ok(Self {
            url: url.to_owned(),
            client,
            allowed,
            keys: RwLock::new(HashMap::new()),
            fresh_until: RwLock::new(None),
            fetched: Mutex::new(None),
            refetch_interval,
        })
    }

    /// Whether keys are loaded, fetching them when none are and a fetch is
    /// due (at most once per refetch interval, as for unknown `kid`s).
    async fn ready(&self) -> Result<(), String> {
        if !self.keys.read().await.is_empty() {
            return Ok(());
        }
        let mut fetched = self.fetched.lock().await;
        if !self.keys.read().await.is_empty() {
            return Ok(());
        }
        if fetched.is_some_and(|t| t.elapsed() < self.refetch_interval) {
            return Err("no verification keys loaded from the JWKS yet".to_owned());
        }
        *fetched = Some(Instant::now());
        match self.refresh().await {
            Ok(0) => Err("the JWKS holds no key dagtrail can use".to_owned()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("cannot fetch the JWKS from {}: {e}", self.url)),
        }
    }

    /// The key for `kid` and the algorithms it may sign with.
    async fn key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(DecodingKey, Vec<Algorithm>), AuthError> {
        let kid = kid.ok_or_else(|| invalid("token has no kid"))?;
        let url = &self.url;
        // Keys past their age are fetched again by one request; the others
        // go on with the keys they have meanwhile (no one waits for a key
        // server here). A failed refresh keeps the keys and is retried
        // after the refetch interval.
        let stale = || async {
            self.fresh_until
                .read()
                .await
                .is_some_and(|until| Instant::now() >= until)
        };
        if stale().await
            && let Ok(mut fetched) = self.fetched.try_lock()
            && stale().await
        {
            *fetched = Some(Instant::now());
            if let Err(e) = self.refresh().await {
                tracing::warn!(url = %url, error = %e, "cannot refresh the JWKS; keeping the keys it gave before");
                *self.fresh_until.write().await = Some(Instant::now() + self.refetch_interval);
            }
        }
        let known = |keys: &JwksKeys| keys.get(kid).cloned();
        let mut found = known(&*self.keys.read().await);
        if found.is_none() {
            let mut fetched = self.fetched.lock().await;
            // Another request may have fetched while this one waited.
            found = known(&*self.keys.read().await);
            let due = fetched.is_none_or(|t| t.elapsed() >= self.refetch_interval);
            if found.is_none() && due {
                *fetched = Some(Instant::now());
                match self.refresh().await {
                    Ok(_) => found = known(&*self.keys.read().await),
                    Err(e) => tracing::warn!(url = %url, error = %e, "cannot fetch the JWKS"),
                }
            }
        }
        let (key, algs) = found.ok_or_else(|| invalid(format!("unknown kid {kid:?}")))?;
        if !algs.contains(&alg) {
            return Err(invalid(format!(
                "algorithm {alg:?} is not allowed for kid {kid:?}"
            )));
        }
        Ok((key, algs))
    }

    /// Fetches the key set into `keys`, fresh until its age passes;
    /// returns how many keys it holds.
    async fn refresh(&self) -> Result<usize, String> {
        let (fresh, max_age) = fetch_jwks(&self.client, &self.url, self.allowed.as_deref()).await?;
        let count = fresh.len();
        *self.keys.write().await = fresh;
        *self.fresh_until.write().await = Some(Instant::now() + max_age);
        Ok(count)
    }
}

/// The key set at `url` and how long to use it.
async fn fetch_jwks(
    client: &reqwest::Client,
    url: &str,
    allowed: Option<&[Algorithm]>,
) -> Result<(JwksKeys, Duration), String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let max_age = jwks_max_age(
        response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
    );
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    let set: JwkSet = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let kind = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => KeyKind::Rsa,
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                jsonwebtoken::jwk::EllipticCurve::P256 => KeyKind::EcP256,
                jsonwebtoken::jwk::EllipticCurve::P384 => KeyKind::EcP384,
                _ => continue,
            },
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => KeyKind::Ed25519,
            // Symmetric keys in a public JWKS would let anyone sign.
            _ => continue,
        };
        let mut algs = kind.default_algorithms();
        if let Some(declared) = jwk
            .common
            .key_algorithm
            .and_then(|a| Algorithm::from_str(&format!("{a:?}")).ok())
        {
            algs.retain(|a| *a == declared);
        }
        if let Some(allowed) = allowed {
            algs.retain(|a| allowed.contains(a));
        }
        if !algs.is_empty() {
            keys.insert(kid, (key, algs));
        }
    }
    Ok((keys, max_age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwks_age_follows_cache_control_within_bounds() {
        assert_eq!(jwks_max_age(None), JWKS_MAX_AGE);
        assert_eq!(
            jwks_max_age(Some("public, max-age=60")),
            Duration::from_secs(60)
        );
        assert_eq!(jwks_max_age(Some("max-age=0")), Duration::from_secs(1));
        assert_eq!(
            jwks_max_age(Some("max-age=999999")),
            Duration::from_secs(3600)
        );
        assert_eq!(jwks_max_age(Some("no-cache")), JWKS_MAX_AGE);
    }

    #[test]
    fn scopes_are_read_as_identity_providers_write_them() {
        let of = |claims: Value| Scopes::of_claims(claims.as_object().unwrap());
        let written = of(serde_json::json!({"scope": "runs:read  runs:write"})).unwrap();
        assert!(written.contains(RUNS_WRITE) && written.contains("runs:read"));
        assert!(!written.contains("runs"));
        assert!(
            of(serde_json::json!({"scp": ["runs:write"]}))
                .unwrap()
                .contains(RUNS_WRITE)
        );
        assert!(
            of(serde_json::json!({"scp": "a runs:write"}))
                .unwrap()
                .contains(RUNS_WRITE)
        );
        // `scope` wins over `scp`; none at all grants nothing.
        assert!(
            !of(serde_json::json!({"scope": "a", "scp": "runs:write"}))
                .unwrap()
                .contains(RUNS_WRITE)
        );
        assert_eq!(of(serde_json::json!({})).unwrap(), Scopes::default());
        // Spaces alone separate scopes (RFC 6749 section 3.3).
        for odd in [
            "runs:read\truns:write",
            "runs:read\u{c}runs:write",
            "x\nruns:write",
        ] {
            assert!(
                !of(serde_json::json!({ "scope": odd }))
                    .unwrap()
                    .contains(RUNS_WRITE),
                "{odd:?}"
            );
        }
        // A null claim is no claim.
        assert!(
            of(serde_json::json!({"scope": null, "scp": ["runs:write"]}))
                .unwrap()
                .contains(RUNS_WRITE)
        );
        assert_eq!(
            of(serde_json::json!({"scope": null})).unwrap(),
            Scopes::default()
        );
        for bad in [
            serde_json::json!({"scope": 1}),
            serde_json::json!({"scope": ["a", 2]}),
        ] {
            assert!(matches!(of(bad), Err(AuthError::Invalid(_))));
        }
    }
}
