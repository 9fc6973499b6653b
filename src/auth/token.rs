//! Minting HS256 tokens for local use (`dagtrail token`).

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Map, Value};

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
    if secret.expose().is_empty() {
        return Err(MintError::EmptySecret);
    }
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
    Ok(encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.expose().as_bytes())?,
    )?)
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
