//! Minting tokens for local use and smoke tests (`dagtrail token`): HS256
//! with a secret, or RS*/PS*/ES*/EdDSA with a private key, so that a
//! server verifying public keys or a JWKS can be tried end to end.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Map, Value};

use super::keys::{KeyKind, pem_kind};
use crate::model::Company;
use crate::settings::Secret;

/// The default name of the claim that carries the company.
pub const DEFAULT_COMPANY_CLAIM: &str = "id_company";

/// A token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The secret is empty.
    #[error("the signing secret is empty: set DAGTRAIL_JWT_SECRET")]
    EmptySecret,
    /// The lifetime is zero or too long to represent.
    #[error("invalid token lifetime")]
    BadLifetime,
    /// Signing failed.
    #[error("cannot sign the token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// The private key file cannot be read or used.
    #[error("cannot sign with {path}: {reason}")]
    BadPrivateKey {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A key to sign tokens with, its algorithm and the `kid` put in their
/// header.
pub struct Signer {
    key: EncodingKey,
    algorithm: Algorithm,
    kid: Option<String>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// HS256 with `secret`.
    ///
    /// # Errors
    ///
    /// [`MintError::EmptySecret`] when the secret is empty.
    pub fn hs256(secret: &Secret) -> Result<Self, MintError> {
        if secret.expose().is_empty() {
            return Err(MintError::EmptySecret);
        }
        Ok(Self {
            key: EncodingKey::from_secret(secret.expose().as_bytes())?,
            algorithm: Algorithm::HS256,
            kid: None,
        })
    }

    /// The private key in the PEM file at `path` (PKCS#8 `PRIVATE KEY`,
    /// as `openssl genpkey` writes; for RSA also PKCS#1 `RSA PRIVATE
    /// KEY`), signing with `algorithm`, by default the key kind's first
    /// (RS256, ES256, ES384, EdDSA). Other blocks in the file (`EC
    /// PARAMETERS`) are passed over.
    ///
    /// # Errors
    ///
    /// [`MintError::BadPrivateKey`] when the file cannot be read, is not a
    /// private key of a supported kind, or `algorithm` does not fit it.
    pub fn from_private_pem(
        path: &std::path::Path,
        algorithm: Option<Algorithm>,
    ) -> Result<Self, MintError> {
        let bad = |reason: String| MintError::BadPrivateKey {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let blocks = pem::parse_many(&text).map_err(|e| bad(e.to_string()))?;
        let Some(block) = blocks.iter().find(|b| b.tag().contains("PRIVATE")) else {
            return Err(bad("the file holds no PEM private key".into()));
        };
        if block.tag() == "EC PRIVATE KEY" {
            return Err(bad(
                "SEC1 EC keys are not supported: convert with `openssl pkcs8 -topk8 -nocrypt`"
                    .into(),
            ));
        }
        // PKCS#1 "RSA PRIVATE KEY" names no algorithm; the others carry
        // their algorithm's identifier.
        let kind = if block.tag() == "RSA PRIVATE KEY" {
            Some(KeyKind::Rsa)
        } else {
            pem_kind(block.contents())
        }
        .ok_or_else(|| bad("not an RSA, P-256, P-384 or Ed25519 private key".into()))?;
        let fitting = kind.default_algorithms();
        let algorithm = match algorithm {
            Some(a) if fitting.contains(&a) => a,
            Some(a) => return Err(bad(format!("{a:?} does not fit a {kind:?} key"))),
            None => match fitting.first() {
                Some(a) => *a,
                None => return Err(bad(format!("no algorithm signs with a {kind:?} key"))),
            },
        };
        let one = pem::encode(block);
        let key = match kind {
            KeyKind::Rsa => EncodingKey::from_rsa_pem(one.as_bytes()),
            KeyKind::EcP256 | KeyKind::EcP384 => EncodingKey::from_ec_pem(one.as_bytes()),
            KeyKind::Ed25519 => EncodingKey::from_ed_pem(one.as_bytes()),
            KeyKind::Hmac => return Err(bad("not a private key".into())),
        }
        .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            key,
            algorithm,
            kid: None,
        })
    }

    /// Puts `kid` in the tokens' header (a JWKS finds the key by it).
    #[must_use]
    pub fn with_kid(mut self, kid: Option<String>) -> Self {
        self.kid = kid;
        self
    }
}

/// Claims of a minted token beyond the company, `iat` and `exp`.
#[derive(Debug, Clone, Default)]
pub struct ExtraClaims {
    /// `iss`.
    pub issuer: Option<String>,
    /// `aud`.
    pub audience: Option<String>,
    /// `scope`: OAuth 2 scopes, written space-separated (RFC 8693 section
    /// 4.2), e.g. [`crate::auth::RUNS_WRITE`]; no claim when empty.
    pub scopes: Vec<String>,
}

/// Signs a token for `company` that expires after `ttl`.
///
/// # Errors
///
/// [`MintError::BadLifetime`] when `ttl` is zero or the expiry cannot be
/// represented; [`MintError::Sign`] when the token cannot be encoded.
pub fn mint(
    signer: &Signer,
    company_claim: &str,
    company: &Company,
    ttl: Duration,
    extra: &ExtraClaims,
) -> Result<String, MintError> {
    let ttl = chrono::Duration::from_std(ttl).map_err(|_| MintError::BadLifetime)?;
    if ttl <= chrono::Duration::zero() {
        return Err(MintError::BadLifetime);
    }
    let now = Utc::now();
    let exp = now.checked_add_signed(ttl).ok_or(MintError::BadLifetime)?;
    let mut claims = Map::new();
    claims.insert(
        company_claim.to_owned(),
        Value::String(company.as_str().to_owned()),
    );
    claims.insert("iat".into(), Value::from(now.timestamp()));
    claims.insert("exp".into(), Value::from(exp.timestamp()));
    if let Some(iss) = &extra.issuer {
        claims.insert("iss".into(), Value::String(iss.clone()));
    }
    if let Some(aud) = &extra.audience {
        claims.insert("aud".into(), Value::String(aud.clone()));
    }
    if !extra.scopes.is_empty() {
        claims.insert("scope".into(), Value::String(extra.scopes.join(" ")));
    }
    let mut header = Header::new(signer.algorithm);
    header.kid.clone_from(&signer.kid);
    Ok(encode(&header, &claims, &signer.key)?)
}

/// Signs an HS256 token for `company` that expires after `ttl`.
///
/// # Errors
///
/// [`MintError::EmptySecret`] when the secret is empty;
/// [`MintError::BadLifetime`] when `ttl` is zero or the expiry cannot be
/// represented; [`MintError::Sign`] when the token cannot be encoded.
pub fn mint_hs256(
    secret: &Secret,
    company_claim: &str,
    company: &Company,
    ttl: Duration,
) -> Result<String, MintError> {
    mint(
        &Signer::hs256(secret)?,
        company_claim,
        company,
        ttl,
        &ExtraClaims::default(),
    )
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

    use super::*;

    #[test]
    fn minted_tokens_verify_and_carry_the_company() {
        let secret = Secret::new("s3cret");
        let company = Company::new("acme").unwrap();
        let token = mint_hs256(&secret, "id_company", &company, Duration::from_secs(60)).unwrap();
        let data = decode::<Map<String, Value>>(
            &token,
            &DecodingKey::from_secret(b"s3cret").unwrap(),
            &Validation::new(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(data.claims["id_company"], "acme");
        assert!(
            mint_hs256(
                &Secret::new(""),
                "id_company",
                &company,
                Duration::from_secs(1)
            )
            .is_err()
        );
    }
}
