//! The tenant extractor: the only way a handler gets a [`Company`], so no
//! handler can reach storage without one.

use std::sync::{Arc, OnceLock};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::auth::AuthError;
use crate::model::Company;

/// The company of an authenticated request.
#[derive(Debug, Clone)]
pub struct Tenant(pub Company);

/// The bearer token of `Authorization` (RFC 6750 section 2.1).
///
/// # Errors
///
/// [`AuthError::Missing`] without the header or with another scheme;
/// [`AuthError::Invalid`] when it is not ASCII or the token is empty.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, AuthError> {
    let header = headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
    let header = header
        .to_str()
        .map_err(|_| AuthError::Invalid("authorization header is not ASCII".into()))?;
    // `Bearer` with nothing after it still presents a bearer credential,
    // an empty one: invalid_token, not the bare challenge.
    if header.trim().eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Invalid("empty bearer token".into()));
    }
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Invalid("empty bearer token".into()));
    }
    Ok(token)
}

/// Where the request log finds the company once the extractor ran.
#[derive(Debug, Clone, Default)]
pub struct TenantSlot(pub Arc<OnceLock<String>>);

/// The request's bearer token, verified; its company is handed to the
/// request log.
async fn verified(parts: &Parts, state: &AppState) -> Result<crate::auth::Principal, ApiError> {
    let token = bearer_token(&parts.headers)?;
    let principal = state.verifier.verify_principal(token).await?;
    if let Some(slot) = parts.extensions.get::<TenantSlot>() {
        let _ = slot.0.set(principal.company.to_string());
    }
    Ok(principal)
}

/// The tenant of a write: a token that verifies and grants
/// [`crate::auth::RUNS_WRITE`]. Its company is the only one it writes
/// under, as [`Tenant`]'s is the only one it reads.
#[derive(Debug, Clone)]
pub struct RunWriter(pub Company);

impl FromRequestParts<AppState> for RunWriter {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = verified(parts, state).await?;
        if !state.write_api {
            return Err(ApiError::WriteApiOff);
        }
        if !principal.scopes.contains(crate::auth::RUNS_WRITE) {
            return Err(ApiError::InsufficientScope(crate::auth::RUNS_WRITE));
        }
        Ok(RunWriter(principal.company))
    }
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Tenant(verified(parts, state).await?.company))
    }
}
