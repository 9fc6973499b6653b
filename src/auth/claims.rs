//! What a verified token says beyond its signature: its scopes (RFC 8693
//! `scope`, or `scp`), the principal they make, and the rule that no
//! claim is given twice.

use serde_json::{Map, Value};

use super::error::{AuthError, invalid};
use crate::model::Company;

/// Refuses a token whose claims name a key twice: JSON leaves the
/// meaning of `{"scope": "x", "scope": "runs:write"}` to the reader (the
/// decoder keeps the last; another verifier may keep the first), and a
/// token must mean one thing wherever it is read.
///
/// # Errors
///
/// [`AuthError::Invalid`] naming the key.
pub(super) fn duplicate_free(token: &str) -> Result<(), AuthError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
