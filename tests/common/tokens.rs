//! Shared by the test binaries (included with `#[path]`): the signing
//! secret the tests' servers verify with, and tokens signed with it.

use std::time::Duration;

use dagtrail::model::Company;
use dagtrail::settings::Secret;

/// The HS256 secret of every server a test starts.
pub const SECRET: &str = "test-secret-with-enough-length-0123456789";

/// A bearer token for `company` (an hour long), as `dagtrail token` mints.
pub fn token(company: &str) -> String {
    dagtrail::auth::token::mint_hs256(
        &Secret::new(SECRET),
        "id_company",
        &Company::new(company).unwrap(),
        Duration::from_secs(3600),
    )
    .unwrap()
}

/// A bearer token for `company` granting `scopes` (the `scope` claim), as
/// `dagtrail token --scope` mints.
#[allow(dead_code)] // Not every test binary writes.
pub fn token_with_scopes(company: &str, scopes: &[&str]) -> String {
    let signer = dagtrail::auth::token::Signer::hs256(&Secret::new(SECRET)).unwrap();
    dagtrail::auth::token::mint(
        &signer,
        "id_company",
        &Company::new(company).unwrap(),
        Duration::from_secs(3600),
        &dagtrail::auth::token::ExtraClaims {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        },
    )
    .unwrap()
}
