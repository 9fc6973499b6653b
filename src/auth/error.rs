//! What authentication can fail with: a request's [`AuthError`] (401)
//! and a verifier's [`ConfigError`] (at start).

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

/// Why a token was refused, in words a client can act on (not the
/// decoder's internals: "Base64 error: Invalid symbol 46, offset 3").
pub(super) fn token_error(e: &jsonwebtoken::errors::Error) -> AuthError {
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

pub(super) fn invalid(reason: impl Into<String>) -> AuthError {
    AuthError::Invalid(reason.into())
}
