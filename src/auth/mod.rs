//! Authentication: bearer JWTs that name the company (contract 4.4).
//! [`verify`] checks tokens; [`token`] mints them for local use.

pub mod token;
pub mod verify;

pub use verify::{
    AuthError, ConfigError, JWKS_REFETCH_INTERVAL, KeySource, Principal, RUNS_WRITE, Scopes,
    TokenVerifier, VerifierConfig,
};
