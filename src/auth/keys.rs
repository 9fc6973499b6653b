//! The keys tokens are verified with: their kinds and the algorithms each
//! signs with, PEM public keys read from a file, secrets.

use std::str::FromStr;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::error::ConfigError;

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

/// The algorithms named in `DAGTRAIL_JWT_ALGORITHMS`.
///
/// # Errors
///
/// [`ConfigError::BadAlgorithms`] naming one that is unknown.
pub(super) fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, ConfigError> {
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

/// Whether `alg` is an HMAC algorithm (verified with a shared secret).
pub(super) fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The public keys of a PEM file (one or more blocks) and their kinds.
///
/// # Errors
///
/// [`ConfigError::BadPublicKey`] when the file cannot be read, holds no
/// key, a private key, or a key of an unsupported kind.
pub(super) fn public_keys(
    path: &std::path::Path,
) -> Result<Vec<(DecodingKey, KeyKind)>, ConfigError> {
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

/// A secret or a PEM public key, and the algorithms it verifies.
pub(super) struct FixedKey {
    pub(super) key: DecodingKey,
    pub(super) algorithms: Vec<Algorithm>,
}
