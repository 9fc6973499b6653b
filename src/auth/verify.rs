//! Verifying bearer tokens (contract 4.4): HS256/384/512 with a secret,
//! RS*/PS*/ES*/EdDSA with a PEM public key, or keys from a JWKS URL. The
//! allowed algorithms are explicit (configured, or derived from the key
//! kind), so `none` and HS/RS confusion are rejected; `exp` is required,
//! `nbf` checked when present, `iss` and `aud` when configured.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::claims::{Principal, Scopes, duplicate_free};
pub use super::error::{AuthError, ConfigError};
use super::error::{invalid, token_error};
use super::jwks::Jwks;
use super::keys::{FixedKey, KeyKind, is_hmac, parse_algorithms, public_keys};
use crate::model::Company;
use crate::settings::Secret;

/// Longest token accepted, in bytes: far above any real token, far below
/// what would cost anything to reject.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Shortest interval between two JWKS refetches caused by unknown `kid`s,
/// unless configured.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

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

/// Every key a verifier holds.
struct Keys {
    /// Secrets and PEM keys, in the order configured.
    fixed: Vec<FixedKey>,
    /// A JWKS endpoint, when configured.
    jwks: Option<Jwks>,
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
