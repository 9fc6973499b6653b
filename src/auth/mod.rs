//! Authentication: bearer JWTs that name the company (contract 4.4).
//! [`verify`] checks tokens with the keys of `keys.rs` and `jwks.rs` and
//! reads their claims (`claims.rs`); [`token`] mints them for local use.

mod claims;
mod error;
mod jwks;
mod keys;
pub mod token;
pub mod verify;

pub use claims::{Principal, RUNS_WRITE, Scopes};
pub use error::{AuthError, ConfigError};
pub use verify::{JWKS_REFETCH_INTERVAL, KeySource, TokenVerifier, VerifierConfig};
