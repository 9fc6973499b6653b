//! Keys from a JWKS endpoint: fetched when first needed, kept as long as
//! the key server's `Cache-Control` says (bounded), fetched again for an
//! unknown `kid` at most once per refetch interval.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use super::error::{AuthError, ConfigError, invalid};
use super::keys::KeyKind;

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

/// A JWKS endpoint and the keys last fetched from it.
pub(super) struct Jwks {
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

impl Jwks {
    pub(super) fn new(
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
    pub(super) async fn ready(&self) -> Result<(), String> {
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
    pub(super) async fn key(
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
    pub(super) async fn refresh(&self) -> Result<usize, String> {
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
}
