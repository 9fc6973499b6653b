//! Authentication: bearer JWTs that name the company (contract 4.4).
//! [`token`] mints tokens for local use.

pub mod token;
